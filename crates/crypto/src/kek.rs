//! The key-encryption key (KEK) that seals private keys at rest with AES-256-GCM.
//!
//! Sealed format: `version (1 byte = 1) || nonce (12 bytes) || ciphertext || tag (16 bytes)`.
//! The caller binds a sealed value to its place with associated data (the key id), so a
//! ciphertext copied to another row does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::error::CryptoError;

const VERSION: u8 = 1;

/// Argon2id parameters for deriving the KEK from a passphrase (stored beside the data, not secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KdfParams {
    /// Random salt (16 bytes).
    pub salt: Vec<u8>,
    /// Memory cost in KiB.
    pub m_kib: u32,
    /// Iterations.
    pub t: u32,
    /// Parallelism.
    pub p: u32,
}

impl KdfParams {
    /// RFC 9106 section 4, second recommended option (64 MiB, 3 passes), one lane.
    pub fn recommended() -> Result<Self, CryptoError> {
        let mut salt = vec![0u8; 16];
        crate::random_bytes(&mut salt)?;
        Ok(KdfParams {
            salt,
            m_kib: 64 * 1024,
            t: 3,
            p: 1,
        })
    }
}

/// An AES-256-GCM key-encryption key.
pub struct Kek {
    key: LessSafeKey,
}

impl std::fmt::Debug for Kek {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kek(..)")
    }
}

impl Kek {
    /// A KEK from 32 raw bytes (the master key file).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, CryptoError> {
        let key = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| CryptoError::BadKey("the master key must be 32 bytes".into()))?;
        Ok(Kek {
            key: LessSafeKey::new(key),
        })
    }

    /// Generates 32 fresh random bytes for a master key file.
    pub fn generate_master_key() -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let mut k = Zeroizing::new(vec![0u8; 32]);
        crate::random_bytes(&mut k)?;
        Ok(k)
    }

    /// Derives a KEK from a passphrase with Argon2id.
    pub fn from_passphrase(passphrase: &[u8], params: &KdfParams) -> Result<Self, CryptoError> {
        let p = argon2::Params::new(params.m_kib, params.t, params.p, Some(32))
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into(passphrase, &params.salt, out.as_mut())
            .map_err(|e| CryptoError::Kdf(e.to_string()))?;
        Self::from_bytes(out.as_ref())
    }

    /// Encrypts `plaintext`, bound to `aad`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        crate::random_bytes(&mut nonce)?;
        let mut buf = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + 16);
        buf.push(VERSION);
        buf.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| CryptoError::KekMismatch)?;
        buf.extend_from_slice(&body);
        body.fill(0);
        Ok(buf)
    }

    /// Decrypts a value made by [`Kek::seal`] with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::KekMismatch);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&sealed[1..=NONCE_LEN]);
        let mut body = Zeroizing::new(sealed[1 + NONCE_LEN..].to_vec());
        let n = self
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut body,
            )
            .map_err(|_| CryptoError::KekMismatch)?
            .len();
        body.truncate(n);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_binding() {
        let kek = Kek::from_bytes(&[7u8; 32]).expect("kek");
        let sealed = kek.seal(b"secret key", b"id-1").expect("seal");
        assert!(!sealed.windows(10).any(|w| w == b"secret key"));
        assert_eq!(
            kek.open(&sealed, b"id-1").expect("open").as_slice(),
            b"secret key"
        );
        assert_eq!(kek.open(&sealed, b"id-2"), Err(CryptoError::KekMismatch));
        let other = Kek::from_bytes(&[8u8; 32]).expect("kek");
        assert_eq!(other.open(&sealed, b"id-1"), Err(CryptoError::KekMismatch));
    }

    #[test]
    fn passphrase_is_deterministic_per_salt() {
        let params = KdfParams {
            salt: vec![1; 16],
            m_kib: 256,
            t: 1,
            p: 1,
        };
        let a = Kek::from_passphrase(b"pw", &params).expect("a");
        let b = Kek::from_passphrase(b"pw", &params).expect("b");
        let c = Kek::from_passphrase(b"other", &params).expect("c");
        let sealed = a.seal(b"x", b"").expect("seal");
        assert!(b.open(&sealed, b"").is_ok());
        assert!(c.open(&sealed, b"").is_err());
    }
}
