//! certmail-smime: the S/MIME engine.
//!
//! CMS (RFC 5652) signed, enveloped and auth-enveloped data are built and read by our own
//! code over aws-lc-rs; MIME wrapping follows RFC 8551. The layers:
//!
//! - [`asn1`]: a zero-copy BER reader (DER, indefinite lengths, chunked strings) and a DER
//!   writer;
//! - [`envelope`]: EnvelopedData / AuthEnvelopedData, RSA PKCS#1 v1.5 and OAEP key transport,
//!   ECDH key agreement, AES-CBC/GCM and 3DES content;
//! - [`signed`]: SignedData with S/MIME signed attributes, and verification of every signer;
//! - [`mime`] and [`b64`]: byte-exact MIME splitting and fast base64;
//! - [`message`]: sign, encrypt and unwrap whole messages, and the report headers.
//!
//! Trust in a signer's certificate is not decided here: [`message::unwrap`] returns each
//! signer's certificate and the caller asks the trust engine (`certmail-pki::verify`, or the
//! stores through `certmail-app`).

pub mod asn1;
pub mod b64;
pub mod compressed;
pub mod envelope;
pub mod keys;
pub mod message;
pub mod mime;
pub mod oids;
pub mod signed;

pub use envelope::{Cipher, EncryptOptions};
pub use keys::{CertId, KeyPair};
pub use message::{Layer, SignerReport, Trust, UnwrapOptions, Unwrapped};
pub use signed::SignOptions;

/// Why an S/MIME operation failed. Messages name the problem and never contain key material.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SmimeError {
    /// The CMS or ASN.1 structure is malformed or truncated.
    #[error("malformed CMS: {0}")]
    Malformed(String),
    /// The MIME structure is broken.
    #[error("malformed MIME: {0}")]
    Mime(String),
    /// A size, depth or count limit was hit (message bomb).
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// An algorithm or form certmail does not support.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// No private key for any of the message's recipients.
    #[error("no private key for any recipient of the message (encrypted to: {})", .names.join("; "))]
    NoKey {
        /// The recipients, described.
        names: Vec<String>,
        /// The recipients' identifiers (to look keys up and retry).
        ids: Vec<CertId>,
    },
    /// Decryption failed: wrong key, or corrupt or tampered content (deliberately vague:
    /// RFC 3218).
    #[error("decryption failed: wrong key, or the encrypted content is corrupt or was changed")]
    Decrypt,
    /// A key problem.
    #[error("key: {0}")]
    Key(String),
    /// A certificate problem.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A crypto primitive failed.
    #[error("crypto: {0}")]
    Crypto(String),
    /// Wrong use of the API or CLI.
    #[error("{0}")]
    Usage(String),
    /// Output could not be written.
    #[error("I/O: {0}")]
    Io(String),
}

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
