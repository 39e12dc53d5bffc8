//! Helpers shared by the pki integration tests.

#![allow(dead_code)]

use certmail_pki::{Certificate, CryptoOps};

/// Hashing is the crypto layer's job; here a stand-in that is cheap and recognisable.
pub struct NullOps;

impl CryptoOps for NullOps {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&fnv1a(data).to_be_bytes());
        out
    }
    fn sha512(&self, _: &[u8]) -> [u8; 64] {
        [0xab; 64]
    }
    fn verify_signature(
        &self,
        _: &certmail_pki::sig::SignatureAlgorithm,
        _: certmail_pki::PublicKeyRef<'_>,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), certmail_pki::SignatureError> {
        Err(certmail_pki::SignatureError::Invalid)
    }
}

/// FNV-1a: content-dependent, not cryptographic; enough to tell test inputs apart.
pub fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A certificate parsed with [`NullOps`].
pub fn parse(der: &[u8]) -> Certificate {
    Certificate::from_der(der, &NullOps).expect("parse")
}
