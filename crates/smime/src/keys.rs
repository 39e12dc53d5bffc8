//! Certificates and private keys as the CMS code uses them: issuer-and-serial and subject
//! key identifiers, and private keys parsed once for signing, decrypting and key agreement.

use aws_lc_rs::agreement;
use aws_lc_rs::rsa::PrivateDecryptingKey;
use aws_lc_rs::signature::{self, EcdsaKeyPair, RsaKeyPair};
use certmail_crypto::PrivateKey;
use certmail_pki::{Certificate, KeyAlgorithm};

use crate::SmimeError;
use crate::asn1::{self, Element, tag};

/// How a recipient or signer is identified (RFC 5652 SignerIdentifier / RecipientIdentifier).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertId {
    /// issuerAndSerialNumber: the DER of the issuer Name and of the serial INTEGER.
    IssuerSerial {
        /// Issuer Name, DER.
        issuer: Vec<u8>,
        /// Serial number INTEGER, DER (tag and length included).
        serial: Vec<u8>,
    },
    /// subjectKeyIdentifier.
    KeyId(Vec<u8>),
}

impl CertId {
    /// Parses an IssuerAndSerialNumber SEQUENCE.
    pub fn from_issuer_serial(e: &Element<'_>) -> Result<CertId, SmimeError> {
        let c = e.children()?;
        if c.len() != 2 || c[0].tag != tag::SEQUENCE || c[1].tag != tag::INTEGER {
            return Err(SmimeError::Malformed("bad IssuerAndSerialNumber".into()));
        }
        Ok(CertId::IssuerSerial {
            issuer: c[0].to_der()?,
            serial: c[1].raw.to_vec(),
        })
    }

    /// The DER IssuerAndSerialNumber (only for that form).
    pub fn issuer_serial_der(&self) -> Option<Vec<u8>> {
        match self {
            CertId::IssuerSerial { issuer, serial } => Some(asn1::seq(&[issuer, serial])),
            CertId::KeyId(_) => None,
        }
    }

    /// Whether `cert` is the certificate identified.
    pub fn matches(&self, cert: &Certificate) -> bool {
        match (self, ids_of(cert)) {
            (CertId::IssuerSerial { issuer, serial }, Ok(ids)) => {
                // Compare serial values, tolerating a non-minimal encoding on either side.
                let strip = |s: &[u8]| -> Vec<u8> {
                    let v = Element::parse(s)
                        .map(|e| e.body.to_vec())
                        .unwrap_or_default();
                    let z = v.iter().take_while(|b| **b == 0).count();
                    v[z.min(v.len().saturating_sub(1))..].to_vec()
                };
                *issuer == ids.issuer && strip(serial) == strip(&ids.serial)
            }
            (CertId::KeyId(k), _) => cert
                .subject_key_id
                .as_deref()
                .and_then(|h| hex::decode(h.replace(':', "")).ok())
                .is_some_and(|s| s == *k),
            _ => false,
        }
    }

    /// The store's look-up keys: (issuer DN as the store writes it, serial hex) or SKI hex.
    pub fn store_lookup(&self) -> (Option<(String, String)>, Option<String>) {
        match self {
            CertId::IssuerSerial { issuer, serial } => {
                use der::Decode;
                let name = x509_cert::name::Name::from_der(issuer)
                    .map(|n| certmail_pki::cert::format_name(&n))
                    .ok();
                let body = Element::parse(serial).map(|e| e.body).unwrap_or_default();
                let trimmed = match body {
                    [0, rest @ ..] if !rest.is_empty() => rest,
                    b => b,
                };
                (name.map(|n| (n, hex::encode(trimmed))), None)
            }
            CertId::KeyId(k) => (None, Some(hex::encode(k))),
        }
    }

    /// Human-readable form for reports: `issuer DN / serial hex` or `ski:HEX`.
    pub fn describe(&self) -> String {
        match self {
            CertId::IssuerSerial { issuer, serial } => {
                use der::Decode;
                let name = x509_cert::name::Name::from_der(issuer)
                    .map(|n| certmail_pki::cert::format_name(&n))
                    .unwrap_or_else(|_| "?".into());
                let s = Element::parse(serial)
                    .map(|e| hex::encode(e.body))
                    .unwrap_or_default();
                format!("{name} / serial {s}")
            }
            CertId::KeyId(k) => format!("ski:{}", hex::encode(k)),
        }
    }
}

/// A certificate's identifiers.
#[derive(Debug, Clone)]
pub struct Ids {
    /// Issuer Name, DER.
    pub issuer: Vec<u8>,
    /// Serial INTEGER, DER.
    pub serial: Vec<u8>,
    /// subjectKeyIdentifier, if any.
    pub ski: Option<Vec<u8>>,
}

/// Field `n` of the TBSCertificate after the optional version (0 serial, 1 signature,
/// 2 issuer, 3 validity, 4 subject, 5 subjectPublicKeyInfo), borrowed from the DER.
pub fn tbs_field(cert: &Certificate, n: usize) -> Result<Element<'_>, SmimeError> {
    let tbs = Element::parse(&cert.der)?
        .child(0)?
        .ok_or_else(|| SmimeError::Malformed("empty certificate".into()))?;
    let skip = usize::from(tbs.child(0)?.is_some_and(|e| e.tag == 0xa0));
    let want = if n == 0 { tag::INTEGER } else { tag::SEQUENCE };
    tbs.child(skip + n)?
        .filter(|e| e.tag == want)
        .ok_or_else(|| SmimeError::Malformed(format!("certificate without TBS field {n}")))
}

/// Reads the identifiers from the certificate's DER.
pub fn ids_of(cert: &Certificate) -> Result<Ids, SmimeError> {
    let serial = tbs_field(cert, 0)?;
    let issuer = tbs_field(cert, 2)?;
    Ok(Ids {
        issuer: issuer.raw.to_vec(),
        serial: serial.raw.to_vec(),
        ski: subject_key_id(cert),
    })
}

/// The subject key identifier's bytes, when the certificate has one.
fn subject_key_id(cert: &Certificate) -> Option<Vec<u8>> {
    cert.subject_key_id
        .as_deref()
        .and_then(|h| hex::decode(h.replace(':', "")).ok())
}

/// The identifier of `cert` in the requested form.
pub fn cert_id(cert: &Certificate, by_key_id: bool) -> Result<CertId, SmimeError> {
    if by_key_id {
        return subject_key_id(cert).map(CertId::KeyId).ok_or_else(|| {
            SmimeError::Certificate(format!("{} has no subject key identifier", cert.subject))
        });
    }
    let ids = ids_of(cert)?;
    Ok(CertId::IssuerSerial {
        issuer: ids.issuer,
        serial: ids.serial,
    })
}

pub(crate) enum Parsed {
    Rsa {
        sign: Option<RsaKeyPair>,
        decrypt: RsaDecrypt,
    },
    Ec {
        curve: &'static str,
        sign: EcdsaKeyPair,
        agree: agreement::PrivateKey,
    },
    /// Ed25519 (RFC 8419): signing only.
    Ed25519(signature::Ed25519KeyPair),
    /// X25519 (RFC 8418): key agreement only.
    X25519(agreement::PrivateKey),
}

/// An RSA key for decryption: aws-lc-rs from 2,048 bits, the big-integer code below (old
/// keys, decryption only).
pub(crate) enum RsaDecrypt {
    Native(PrivateDecryptingKey),
    Legacy(certmail_crypto::rsa_legacy::LegacyRsaKey),
}

impl RsaDecrypt {
    /// The modulus size in bytes.
    pub(crate) fn len(&self) -> usize {
        match self {
            RsaDecrypt::Native(k) => k.key_size_bytes(),
            RsaDecrypt::Legacy(k) => k.bits().div_ceil(8) as usize,
        }
    }

    /// `Some("RSA key of N bits")` for a key under 2,048 bits.
    pub(crate) fn weak(&self) -> Option<String> {
        match self {
            RsaDecrypt::Native(_) => None,
            RsaDecrypt::Legacy(k) => Some(format!("RSA key of {} bits", k.bits())),
        }
    }
}

/// A certificate with its private key, parsed once for repeated use.
pub struct KeyPair {
    /// The certificate.
    pub cert: Certificate,
    pub(crate) key: Parsed,
}

impl std::fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyPair")
            .field("cert", &self.cert.subject)
            .finish_non_exhaustive()
    }
}

impl KeyPair {
    /// Pairs `cert` with `key`; refuses a key that does not belong to the certificate.
    pub fn new(cert: Certificate, key: &PrivateKey) -> Result<KeyPair, SmimeError> {
        if cert.key_id != key.key_id() {
            return Err(SmimeError::Key(format!(
                "the private key does not belong to {}",
                cert.subject
            )));
        }
        let der = key.pkcs8_der();
        let rejected = |e: &dyn std::fmt::Display| SmimeError::Key(format!("key rejected: {e}"));
        let parsed = match key.algorithm() {
            KeyAlgorithm::Rsa { bits } if *bits < certmail_crypto::rsa_legacy::MIN_BITS => {
                return Err(SmimeError::Unsupported(format!("RSA key of {bits} bits")));
            }
            KeyAlgorithm::Rsa { bits } if *bits < 2048 => Parsed::Rsa {
                sign: None,
                decrypt: RsaDecrypt::Legacy(key.legacy_rsa().map_err(|e| rejected(&e))?),
            },
            KeyAlgorithm::Rsa { .. } => Parsed::Rsa {
                sign: RsaKeyPair::from_pkcs8(der).ok(),
                decrypt: RsaDecrypt::Native(
                    PrivateDecryptingKey::from_pkcs8(der).map_err(|e| rejected(&e))?,
                ),
            },
            KeyAlgorithm::Ec { curve } => {
                let (curve, s, a) = match curve.as_str() {
                    "P-256" => (
                        crate::oids::P256,
                        &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
                        &agreement::ECDH_P256,
                    ),
                    "P-384" => (
                        crate::oids::P384,
                        &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
                        &agreement::ECDH_P384,
                    ),
                    "P-521" => (
                        crate::oids::P521,
                        &signature::ECDSA_P521_SHA512_ASN1_SIGNING,
                        &agreement::ECDH_P521,
                    ),
                    other => {
                        return Err(SmimeError::Unsupported(format!("EC curve {other}")));
                    }
                };
                Parsed::Ec {
                    curve,
                    sign: EcdsaKeyPair::from_pkcs8(s, der).map_err(|e| rejected(&e))?,
                    agree: agreement::PrivateKey::from_private_key_der(a, der)
                        .map_err(|e| rejected(&e))?,
                }
            }
            KeyAlgorithm::Ed25519 => Parsed::Ed25519(
                signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| rejected(&e))?,
            ),
            KeyAlgorithm::X25519 => Parsed::X25519(
                agreement::PrivateKey::from_private_key(
                    &agreement::X25519,
                    key.x25519_raw().map_err(|e| rejected(&e))?,
                )
                .map_err(|e| rejected(&e))?,
            ),
            other => {
                return Err(SmimeError::Unsupported(format!(
                    "{other:?} keys for S/MIME"
                )));
            }
        };
        Ok(KeyPair { cert, key: parsed })
    }
}
