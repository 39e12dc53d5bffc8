//! [`certmail_pki::CryptoOps`] over aws-lc-rs.

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self, RsaPssSaltLength, VerificationAlgorithm};
use certmail_pki::ops::{PublicKeyRef, SignatureError};
use certmail_pki::sig::{Hash, SignatureAlgorithm};

/// Whether an RSA key is under 2,048 bits (or unreadable), which aws-lc-rs does not verify:
/// [`crate::rsa_legacy`] does (and refuses keys under 1,024 bits as unsupported).
fn legacy_size(rsa_public_key: &[u8]) -> bool {
    crate::rsa_legacy::public_key_bits(rsa_public_key).is_none_or(|b| b < 2048)
}

/// The production implementation of the pki crypto operations.
#[derive(Debug, Default, Clone, Copy)]
pub struct AwsLcOps;

const RSA: &str = "1.2.840.113549.1.1.1";
const RSA_PSS: &str = "1.2.840.113549.1.1.10";
const EC: &str = "1.2.840.10045.2.1";
const ED25519: &str = "1.3.101.112";
const DSA: &str = "1.2.840.10040.4.1";
const P256: &str = "1.2.840.10045.3.1.7";
const P384: &str = "1.3.132.0.34";
const P521: &str = "1.3.132.0.35";

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

    fn verify_signature(
        &self,
        algorithm: &SignatureAlgorithm,
        key: PublicKeyRef<'_>,
        message: &[u8],
        sig: &[u8],
    ) -> Result<(), SignatureError> {
        let mismatch = || SignatureError::KeyMismatch {
            algorithm: format!("{algorithm:?}"),
            key: key.algorithm.to_owned(),
        };
        let unsupported =
            || SignatureError::Unsupported(format!("signature algorithm {algorithm:?}"));
        let verify = |alg: &dyn VerificationAlgorithm| {
            alg.verify_sig(key.key, message, sig)
                .map_err(|_| SignatureError::Invalid)
        };
        match algorithm {
            SignatureAlgorithm::RsaPkcs1(h) => {
                if key.algorithm != RSA {
                    return Err(mismatch());
                }
                if legacy_size(key.key) {
                    return crate::rsa_legacy::verify_pkcs1(key.key, *h, message, sig);
                }
                match h {
                    Hash::Sha1 => verify(&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY),
                    Hash::Sha256 => verify(&signature::RSA_PKCS1_2048_8192_SHA256),
                    Hash::Sha384 => verify(&signature::RSA_PKCS1_2048_8192_SHA384),
                    Hash::Sha512 => verify(&signature::RSA_PKCS1_2048_8192_SHA512),
                    Hash::Sha224 => crate::rsa_legacy::verify_pkcs1(key.key, *h, message, sig),
                }
            }
            SignatureAlgorithm::RsaPss {
                hash,
                mgf_hash,
                salt_len,
            } => {
                if key.algorithm != RSA && key.algorithm != RSA_PSS {
                    return Err(mismatch());
                }
                // aws-lc-rs takes 2,048 bits and more with one hash for both; the rest (old
                // keys, SHA-1 or SHA-224, a different MGF1 hash) the big-integer code checks.
                let native = matches!(hash, Hash::Sha256 | Hash::Sha384 | Hash::Sha512);
                if legacy_size(key.key) || hash != mgf_hash || !native {
                    return crate::rsa_legacy::verify_pss(
                        key.key,
                        *hash,
                        *mgf_hash,
                        usize::from(*salt_len),
                        message,
                        sig,
                    );
                }
                let base = match hash {
                    Hash::Sha256 => signature::RSA_PSS_2048_8192_SHA256,
                    Hash::Sha384 => signature::RSA_PSS_2048_8192_SHA384,
                    Hash::Sha512 => signature::RSA_PSS_2048_8192_SHA512,
                    _ => return Err(unsupported()),
                };
                // The salt length the parameters give, whatever it is (OpenSSL signs with the maximum).
                verify(&base.with_pss_salt_length(RsaPssSaltLength::Custom(*salt_len)))
            }
            SignatureAlgorithm::Ecdsa(h) => {
                if key.algorithm != EC {
                    return Err(mismatch());
                }
                let alg = match (key.curve, h) {
                    (Some(P256), Hash::Sha1) => &signature::ECDSA_P256_SHA1_ASN1,
                    (Some(P256), Hash::Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
                    (Some(P256), Hash::Sha384) => &signature::ECDSA_P256_SHA384_ASN1,
                    (Some(P256), Hash::Sha512) => &signature::ECDSA_P256_SHA512_ASN1,
                    (Some(P384), Hash::Sha256) => &signature::ECDSA_P384_SHA256_ASN1,
                    (Some(P384), Hash::Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
                    (Some(P384), Hash::Sha512) => &signature::ECDSA_P384_SHA512_ASN1,
                    (Some(P521), Hash::Sha1) => &signature::ECDSA_P521_SHA1_ASN1,
                    (Some(P521), Hash::Sha224) => &signature::ECDSA_P521_SHA224_ASN1,
                    (Some(P521), Hash::Sha256) => &signature::ECDSA_P521_SHA256_ASN1,
                    (Some(P521), Hash::Sha384) => &signature::ECDSA_P521_SHA384_ASN1,
                    (Some(P521), Hash::Sha512) => &signature::ECDSA_P521_SHA512_ASN1,
                    _ => return Err(unsupported()),
                };
                verify(alg)
            }
            SignatureAlgorithm::Dsa(h) => {
                if key.algorithm != DSA {
                    return Err(mismatch());
                }
                let params = key.parameters.ok_or_else(|| {
                    SignatureError::Unsupported(certmail_pki::ops::DSA_WITHOUT_PARAMETERS.into())
                })?;
                let alg = match h {
                    Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
                    Hash::Sha224 => &digest::SHA224,
                    Hash::Sha256 => &digest::SHA256,
                    _ => return Err(unsupported()),
                };
                crate::dsa::verify(params, key.key, digest::digest(alg, message).as_ref(), sig)
            }
            SignatureAlgorithm::Ed25519 => {
                if key.algorithm != ED25519 {
                    return Err(mismatch());
                }
                verify(&signature::ED25519)
            }
            SignatureAlgorithm::Unsupported(name) => Err(SignatureError::Unsupported(format!(
                "signature algorithm {name}"
            ))),
        }
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
