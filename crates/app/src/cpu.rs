//! CPU-heavy work off the async workers: key generation, certificate issuance, PKCS#12,
//! Argon2, and S/MIME signing, encryption, decryption and verification of messages over
//! [`INLINE_MAX`] run through [`App::cpu`], at most one job per core at a time. The
//! gateway's sessions, `/healthz` and the API stay on the async workers and keep answering
//! while every core signs (ARCHITECTURE.md, trust boundaries).

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::App;

/// S/MIME work on a message up to this size runs in place: one private-key operation and
/// a few hashes over a small message take about a millisecond, less than handing the worker
/// over costs in throughput (measured: BENCHMARKS.md "Responsiveness under load"), and the
/// admin port's p99 stays near 10 ms at full load either way. Larger messages, and key
/// generation, PKCS#12 and Argon2 (tens of milliseconds to seconds), go through the pool.
pub(crate) const INLINE_MAX: usize = 256 * 1024;

/// The bound of the CPU pool.
#[derive(Debug)]
pub(crate) struct CpuPool {
    slots: tokio::sync::Semaphore,
}

impl Default for CpuPool {
    fn default() -> Self {
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        CpuPool {
            slots: tokio::sync::Semaphore::new(n),
        }
    }
}

impl App {
    /// [`App::cpu`] for S/MIME work on `len` bytes: in place up to [`INLINE_MAX`].
    pub async fn cpu_sized<R>(&self, len: usize, f: impl FnOnce() -> R) -> R {
        if len > INLINE_MAX {
            self.cpu(f).await
        } else {
            f()
        }
    }

    /// Runs `f`, a CPU-bound job, once one of the pool's slots is free. On the
    /// multi-threaded runtime (`serve`) the job runs with the worker thread handed over to
    /// the blocking pool (`block_in_place`: tokio moves the worker's other tasks to a fresh
    /// thread, so nothing waits behind the job); elsewhere (the one-job CLI) in place.
    pub async fn cpu<R>(&self, f: impl FnOnce() -> R) -> R {
        let _slot = self.cpu.slots.acquire().await;
        let multi =
            Handle::try_current().is_ok_and(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(f)
        } else {
            f()
        }
    }
}
