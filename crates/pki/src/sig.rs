//! Signature algorithms (RFC 4055, RFC 5758, RFC 8410) as parsed from an AlgorithmIdentifier.

use der::asn1::{Any, ObjectIdentifier as Oid};
use der::{Decode, Sequence, Tagged};
use spki::AlgorithmIdentifierOwned;

/// Digest algorithms used in signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Hash {
    /// SHA-1 (only where the caller allows it).
    Sha1,
    /// SHA-224.
    Sha224,
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl Hash {
    fn from_oid(oid: &Oid) -> Option<Hash> {
        Some(match oid.to_string().as_str() {
            "1.3.14.3.2.26" => Hash::Sha1,
            "2.16.840.1.101.3.4.2.4" => Hash::Sha224,
            "2.16.840.1.101.3.4.2.1" => Hash::Sha256,
            "2.16.840.1.101.3.4.2.2" => Hash::Sha384,
            "2.16.840.1.101.3.4.2.3" => Hash::Sha512,
            _ => return None,
        })
    }

    /// Output length in bytes.
    pub fn len(self) -> usize {
        match self {
            Hash::Sha1 => 20,
            Hash::Sha224 => 28,
            Hash::Sha256 => 32,
            Hash::Sha384 => 48,
            Hash::Sha512 => 64,
        }
    }

    /// Never empty; present for clippy's `len_without_is_empty`.
    pub fn is_empty(self) -> bool {
        false
    }
}

/// A signature algorithm with its parameters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub enum SignatureAlgorithm {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with MGF1 over `mgf_hash` and the given salt length.
    RsaPss {
        /// Message digest.
        hash: Hash,
        /// MGF1 digest.
        mgf_hash: Hash,
        /// Salt length in bytes.
        salt_len: u16,
    },
    /// ECDSA.
    Ecdsa(Hash),
    /// DSA (FIPS 186; verification only, for old CAs and archived mail).
    Dsa(Hash),
    /// Ed25519 (pure).
    Ed25519,
    /// Anything else, or bad parameters: never verifies.
    Unsupported(String),
}

impl SignatureAlgorithm {
    /// The digest, if any.
    pub fn hash(&self) -> Option<Hash> {
        match self {
            SignatureAlgorithm::RsaPkcs1(h)
            | SignatureAlgorithm::Ecdsa(h)
            | SignatureAlgorithm::Dsa(h) => Some(*h),
            SignatureAlgorithm::RsaPss { hash, .. } => Some(*hash),
            _ => None,
        }
    }
}

/// RSASSA-PSS-params (RFC 4055 section 3.1).
#[derive(Sequence)]
struct PssParams {
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    hash: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "1", tag_mode = "EXPLICIT", optional = "true")]
    mgf: Option<AlgorithmIdentifierOwned>,
    #[asn1(context_specific = "2", tag_mode = "EXPLICIT", optional = "true")]
    salt: Option<u16>,
    #[asn1(context_specific = "3", tag_mode = "EXPLICIT", optional = "true")]
    trailer: Option<u8>,
}

fn params_absent_or_null(p: Option<&Any>) -> bool {
    p.is_none_or(|a| a.tag() == der::Tag::Null && a.value().is_empty())
}

/// Parses a signature AlgorithmIdentifier.
pub fn parse(alg: &AlgorithmIdentifierOwned) -> SignatureAlgorithm {
    use SignatureAlgorithm as S;
    let oid = alg.oid.to_string();
    let p = alg.parameters.as_ref();
    let unsupported =
        |why: &str| S::Unsupported(format!("{} ({why})", crate::oids::name(&alg.oid)));
    let rsa = |h| {
        if params_absent_or_null(p) {
            S::RsaPkcs1(h)
        } else {
            unsupported("parameters must be NULL")
        }
    };
    let ecdsa = |h| {
        if p.is_none() {
            S::Ecdsa(h)
        } else {
            unsupported("parameters must be absent")
        }
    };
    match oid.as_str() {
        "1.2.840.113549.1.1.5" => rsa(Hash::Sha1),
        "1.2.840.113549.1.1.14" => rsa(Hash::Sha224),
        "1.2.840.113549.1.1.11" => rsa(Hash::Sha256),
        "1.2.840.113549.1.1.12" => rsa(Hash::Sha384),
        "1.2.840.113549.1.1.13" => rsa(Hash::Sha512),
        "1.2.840.10045.4.1" => ecdsa(Hash::Sha1),
        "1.2.840.10045.4.3.1" => ecdsa(Hash::Sha224),
        "1.2.840.10045.4.3.2" => ecdsa(Hash::Sha256),
        "1.2.840.10045.4.3.3" => ecdsa(Hash::Sha384),
        "1.2.840.10045.4.3.4" => ecdsa(Hash::Sha512),
        "1.2.840.10040.4.3" if p.is_none() => S::Dsa(Hash::Sha1),
        "2.16.840.1.101.3.4.3.1" if p.is_none() => S::Dsa(Hash::Sha224),
        "2.16.840.1.101.3.4.3.2" if p.is_none() => S::Dsa(Hash::Sha256),
        "1.3.101.112" if p.is_none() => S::Ed25519,
        "1.2.840.113549.1.1.10" => {
            let Some(params) =
                p.and_then(|a| PssParams::from_der(&der::Encode::to_der(a).ok()?).ok())
            else {
                return unsupported("missing or malformed RSASSA-PSS parameters");
            };
            let hash = match &params.hash {
                None => Hash::Sha1,
                Some(h) => match Hash::from_oid(&h.oid) {
                    Some(h) => h,
                    None => return unsupported("unknown PSS hash"),
                },
            };
            let mgf_hash = match &params.mgf {
                None => Hash::Sha1,
                Some(m) if m.oid.to_string() == "1.2.840.113549.1.1.8" => {
                    match m
                        .parameters
                        .as_ref()
                        .and_then(|a| a.decode_as::<AlgorithmIdentifierOwned>().ok())
                        .and_then(|h| Hash::from_oid(&h.oid))
                    {
                        Some(h) => h,
                        None => return unsupported("bad MGF1 parameters"),
                    }
                }
                Some(_) => return unsupported("mask generation function is not MGF1"),
            };
            if params.trailer.is_some_and(|t| t != 1) {
                return unsupported("trailer field must be 1");
            }
            S::RsaPss {
                hash,
                mgf_hash,
                salt_len: params.salt.unwrap_or(20),
            }
        }
        _ => unsupported("unknown signature algorithm"),
    }
}
