//! certmail-pki: the pure core of certmail.
//!
//! X.509 certificate model, PEM/DER/PKCS#7 container parsing and (later) path validation,
//! CRLs and the certificate trust list. This crate does no I/O and reads no clock: time is
//! always an argument, and hashing reaches a crypto implementation through [`CryptoOps`].

pub mod ber;
pub mod cert;
pub mod crl;
pub mod error;
pub mod name;
pub mod oids;
pub mod ops;
pub mod pem;
pub mod pkcs7;
pub mod raw;
pub mod sig;
pub mod time;
pub mod verify;

pub use cert::{Certificate, KeyAlgorithm};
pub use error::PkiError;
pub use ops::CryptoOps;
pub use ops::{PublicKeyRef, SignatureError};

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
