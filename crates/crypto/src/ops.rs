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

#[cfg(test)]
mod tests {
    use certmail_pki::CryptoOps;

    use super::AwsLcOps;

    /// FIPS 180-2 appendix B/C: "abc".
    #[test]
    fn digests_match_the_standard() {
        assert_eq!(
            hex::encode(AwsLcOps.sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex::encode(AwsLcOps.sha512(b"abc")),
            "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"
        );
    }
}
