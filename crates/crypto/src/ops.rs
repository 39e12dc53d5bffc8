//! [`certmail_pki::CryptoOps`] over aws-lc-rs.

use aws_lc_rs::digest;

/// The production implementation of the pki crypto operations.
#[derive(Debug, Default, Clone, Copy)]
pub struct AwsLcOps;

impl certmail_pki::CryptoOps for AwsLcOps {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
        out
    }

    fn sha512(&self, data: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out.copy_from_slice(digest::digest(&digest::SHA512, data).as_ref());
        out
    }
}
