//! The crypto operations the pure core needs, behind a trait (implemented in `certmail-crypto`).

/// Hashing (and later signature verification) supplied by the crypto layer.
pub trait CryptoOps {
    /// SHA-256 of `data`.
    fn sha256(&self, data: &[u8]) -> [u8; 32];
    /// SHA-512 of `data`.
    fn sha512(&self, data: &[u8]) -> [u8; 64];
}
