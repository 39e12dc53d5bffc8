//! The crypto operations the pure core needs, behind a trait (implemented in `certmail-crypto`).

use crate::sig::SignatureAlgorithm;

/// A public key as found in a SubjectPublicKeyInfo.
#[derive(Debug, Clone, Copy)]
pub struct PublicKeyRef<'a> {
    /// Algorithm OID, dotted (`1.2.840.113549.1.1.1`, `1.2.840.10045.2.1`, ...).
    pub algorithm: &'a str,
    /// Named curve OID for EC keys.
    pub curve: Option<&'a str>,
    /// subjectPublicKey bits.
    pub key: &'a [u8],
    /// The algorithm parameters' DER where the key needs them (DSA's p, q, g; for a DSA key
    /// without them, those inherited from the issuer, RFC 3279 2.3.2).
    pub parameters: Option<&'a [u8]>,
}

/// The [`SignatureError::Unsupported`] text of a DSA key that has no parameters of its own and
/// was given none inherited: a caller with more issuers at hand may try again with them.
pub const DSA_WITHOUT_PARAMETERS: &str =
    "DSA key without parameters, and none inherited from its issuer";

/// Why a signature did not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The signature does not match the data and key.
    #[error("the signature does not verify")]
    Invalid,
    /// The signature algorithm cannot be used with this key.
    #[error("signature algorithm {algorithm} does not fit a {key} key")]
    KeyMismatch {
        /// The signature algorithm.
        algorithm: String,
        /// The key type.
        key: String,
    },
    /// An algorithm or key certmail does not verify (the text names it: `signature
    /// algorithm ...`, `RSA key of 512 bits`).
    #[error("unsupported: {0}")]
    Unsupported(String),
}

/// Hashing and signature verification supplied by the crypto layer.
pub trait CryptoOps {
    /// SHA-256 of `data`.
    fn sha256(&self, data: &[u8]) -> [u8; 32];
    /// SHA-512 of `data`.
    fn sha512(&self, data: &[u8]) -> [u8; 64];
    /// Verifies `signature` over `message` with `key`.
    fn verify_signature(
        &self,
        algorithm: &SignatureAlgorithm,
        key: PublicKeyRef<'_>,
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), SignatureError>;
}
