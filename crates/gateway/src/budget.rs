//! The memory budget for message data in flight (`max-memory`): every byte a session holds
//! for a message (the receive buffer, and the copies processing makes: [`PROCESSING_FACTOR`]
//! times the buffer) is reserved first, in 64 KiB units, from one pool shared by all
//! sessions. At `DATA` a session reserves what the `SIZE=` of its `MAIL FROM` announces
//! (waiting up to [`WAIT`] while it holds nothing); beyond that it grows only with what is
//! free at once. A session that cannot get its reservation reads the rest of its message
//! without keeping it and answers `452 4.3.1` (the MTA keeps the message and tries again),
//! so 200 sessions of 40 MB never hold 8 GB: memory stays near the budget whatever
//! strangers send, and nothing acknowledged is lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Reservation unit.
pub const UNIT: usize = 64 * 1024;
/// How long a session waits for its reservation before it gives up with `452`.
pub const WAIT: Duration = Duration::from_secs(30);
/// Memory a message takes while processed, as a multiple of its size (the signed copy and
/// the encrypted one beside the original), reserved before processing.
pub const PROCESSING_FACTOR: usize = 3;

/// The pool.
#[derive(Debug)]
pub struct Budget {
    units: Arc<Semaphore>,
    total: usize,
}

/// What one session holds of the pool (given back when dropped).
#[derive(Debug, Default)]
pub struct Held {
    permit: Option<OwnedSemaphorePermit>,
}

impl Held {
    fn units(&self) -> usize {
        self.permit.as_ref().map_or(0, |p| p.num_permits())
    }

    fn add(&mut self, p: OwnedSemaphorePermit) {
        match self.permit.as_mut() {
            Some(h) => h.merge(p),
            None => self.permit = Some(p),
        }
    }
}

impl Budget {
    /// A pool of `bytes` (at least one unit).
    pub fn new(bytes: u64) -> Budget {
        let total =
            (usize::try_from(bytes).unwrap_or(usize::MAX) / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Budget {
            units: Arc::new(Semaphore::new(total)),
            total,
        }
    }

    /// Bytes in the pool.
    pub fn total_bytes(&self) -> usize {
        self.total * UNIT
    }

    /// The units `held` lacks for `bytes` (0 when it has them); `None` when the whole
    /// pool is less than `bytes`.
    fn missing(&self, held: &Held, bytes: usize) -> Option<u32> {
        let want = bytes.div_ceil(UNIT);
        if want > self.total {
            return None;
        }
        u32::try_from(want.saturating_sub(held.units())).ok()
    }

    /// Grows `held` to at least `bytes` with what is free now, without waiting.
    pub fn try_reserve(&self, held: &mut Held, bytes: usize) -> bool {
        match self.missing(held, bytes) {
            None => false,
            Some(0) => true,
            Some(n) => match self.units.clone().try_acquire_many_owned(n) {
                Ok(p) => {
                    held.add(p);
                    true
                }
                Err(_) => false,
            },
        }
    }

    /// Grows `held` to at least `bytes`, waiting at most `wait`; false when the pool could
    /// not give it (or `bytes` is more than the whole pool). Waiting while holding part of
    /// the pool could leave sessions waiting on each other: callers wait only while they
    /// hold nothing, and grow with [`Budget::try_reserve`].
    pub async fn reserve(&self, held: &mut Held, bytes: usize, wait: Duration) -> bool {
        if self.try_reserve(held, bytes) {
            return true;
        }
        let Some(n) = self.missing(held, bytes) else {
            return false;
        };
        match tokio::time::timeout(wait, self.units.clone().acquire_many_owned(n)).await {
            Ok(Ok(p)) => {
                held.add(p);
                true
            }
            _ => false,
        }
    }
}
