//! certmail-crypto: the only crate that touches a crypto library (aws-lc-rs, and the RustCrypto
//! PKCS#5/PKCS#12 code through `p12-keystore`).
//!
//! It parses and normalises private keys, reads and writes PKCS#12, and seals private keys at
//! rest under a key-encryption key. Decrypted key material lives only in [`zeroize::Zeroizing`]
//! buffers and never appears in `Debug` output or error messages.

mod dsa;
pub mod error;
pub mod kek;
pub mod key;
pub mod legacy_cipher;
pub mod ops;
pub mod password;
pub mod pkcs12;
mod pkcs12_ber;
pub mod pkcs12_work;
pub mod rsa_legacy;

pub use error::CryptoError;
pub use kek::{KdfParams, Kek};
pub use key::PrivateKey;
pub use ops::AwsLcOps;

/// Fills `buf` from the system CSPRNG.
pub fn random_bytes(buf: &mut [u8]) -> Result<(), CryptoError> {
    use aws_lc_rs::rand::SecureRandom;
    aws_lc_rs::rand::SystemRandom::new()
        .fill(buf)
        .map_err(|_| CryptoError::Rng)
}

/// SHA-256 over data that arrives in pieces (the check sum of a backup file).
pub struct Sha256(aws_lc_rs::digest::Context);

impl Sha256 {
    /// A new digest.
    pub fn new() -> Sha256 {
        Sha256(aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256))
    }

    /// Adds `data`.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest, lower-case hex.
    pub fn finish_hex(self) -> String {
        hex::encode(self.0.finish().as_ref())
    }
}

impl Default for Sha256 {
    fn default() -> Self {
        Sha256::new()
    }
}
