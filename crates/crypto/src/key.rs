//! Private keys: parsed from PKCS#8 (plain or encrypted), PKCS#1 RSA and SEC1 EC, normalised
//! to PKCS#8, and identified by the SHA-256 of their public key bits (the same value
//! [`certmail_pki::Certificate::key_id`] holds, which links a key to its certificate).

use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair};
use certmail_pki::pem::PemBlock;
use certmail_pki::{CryptoOps, KeyAlgorithm, oids};
use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Decode, Encode};
use pkcs8::PrivateKeyInfoRef;
use spki::AlgorithmIdentifierRef;
use zeroize::Zeroizing;

use crate::error::CryptoError;
use crate::ops::AwsLcOps;

/// A private key in PKCS#8 form. Its bytes are wiped on drop and never printed.
#[derive(Clone)]
pub struct PrivateKey {
    pkcs8: Zeroizing<Vec<u8>>,
    algorithm: KeyAlgorithm,
    key_id: String,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("algorithm", &self.algorithm)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// CurvePrivateKey ::= OCTET STRING (RFC 8410 7): the raw key inside PKCS#8's privateKey.
pub fn curve_private_key(private_key: &[u8]) -> Result<&[u8], String> {
    match private_key {
        [0x04, 0x20, rest @ ..] if rest.len() == 32 => Ok(rest),
        _ => Err("a CurvePrivateKey is an OCTET STRING of 32 bytes".into()),
    }
}

fn bad_unspecified(_: aws_lc_rs::error::Unspecified) -> CryptoError {
    CryptoError::BadKey("the public key cannot be computed".into())
}

fn bad(e: impl std::fmt::Display) -> CryptoError {
    CryptoError::BadKey(e.to_string())
}

// PKCS#1 RSAPrivateKey and RSAPublicKey (RFC 8017 A.1), read as the RSA code reads them.
use crate::rsa_legacy::{PrivateKeyDer as RsaPrivateKeyHead, PublicKeyDer as RsaPublicKey};

/// The DSA public key y = g^x mod p (as the DER INTEGER a certificate's subjectPublicKey
/// holds) of a PKCS#8 DSA key: x is the privateKey INTEGER, p, q and g the parameters.
fn dsa_public(info: &PrivateKeyInfoRef<'_>) -> Result<Vec<u8>, String> {
    use crate::dsa::DssParms;
    let params = info
        .algorithm
        .parameters
        .ok_or("DSA key without parameters")?;
    let params_der = params.to_der().map_err(|e| e.to_string())?;
    let parms = DssParms::from_der(&params_der).map_err(|e| format!("DSA parameters: {e}"))?;
    let x = UintRef::from_der(info.private_key.as_bytes())
        .map_err(|e| format!("DSA private key: {e}"))?;
    let big = |u: &UintRef<'_>| num_bigint::BigUint::from_bytes_be(u.as_bytes());
    let (p, q, g, x) = (big(&parms.p), big(&parms.q), big(&parms.g), big(&x));
    let one = num_bigint::BigUint::from(1u8);
    if p.bits() < 512 || q.bits() < 160 || x <= one || x >= q || g <= one || g >= p {
        return Err("DSA key out of range".into());
    }
    let y = g.modpow(&x, &p).to_bytes_be();
    UintRef::new(&y)
        .and_then(|u| u.to_der())
        .map_err(|e| e.to_string())
}

impl PrivateKey {
    /// Parses an unencrypted PKCS#8 PrivateKeyInfo.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let info = PrivateKeyInfoRef::from_der(der).map_err(bad)?;
        let oid = info.algorithm.oid;
        let inner = info.private_key.as_bytes();
        let (algorithm, public) = match oid {
            oids::RSA_ENCRYPTION | oids::RSASSA_PSS => {
                let k = RsaPrivateKeyHead::from_der(inner).map_err(bad)?;
                if k.version != 0 {
                    return Err(CryptoError::UnsupportedKeyAlgorithm(
                        "multi-prime RSA".into(),
                    ));
                }
                let n = k.n.as_bytes();
                let bits = n.len() as u32 * 8 - n.first().map_or(0, |b| b.leading_zeros());
                // aws-lc-rs checks consistency (p*q = n and so on) for the sizes it uses.
                if bits >= 2048 && oid == oids::RSA_ENCRYPTION {
                    signature::RsaKeyPair::from_pkcs8(der)
                        .map_err(|e| bad(format!("RSA key rejected: {e}")))?;
                }
                let public = RsaPublicKey { n: k.n, e: k.e }.to_der().map_err(bad)?;
                let algorithm = if oid == oids::RSA_ENCRYPTION {
                    KeyAlgorithm::Rsa { bits }
                } else {
                    KeyAlgorithm::RsaPss { bits }
                };
                (algorithm, public)
            }
            oids::EC_PUBLIC_KEY => {
                let curve = info
                    .algorithm
                    .parameters
                    .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok())
                    .ok_or_else(|| bad("EC key without a named curve"))?;
                let (alg, name) = ec_alg(&curve)?;
                let kp = EcdsaKeyPair::from_private_key_der(alg, der)
                    .map_err(|e| bad(format!("EC key rejected: {e}")))?;
                (
                    KeyAlgorithm::Ec { curve: name.into() },
                    kp.public_key().as_ref().to_vec(),
                )
            }
            oids::DSA => {
                // Read so that a PKCS#12 or PEM file with a DSA key imports whole (its
                // certificates and the key); certmail verifies DSA but never signs with it.
                let y = dsa_public(&info).map_err(bad)?;
                (KeyAlgorithm::Dsa, y)
            }
            oids::X25519 => {
                let k = aws_lc_rs::agreement::PrivateKey::from_private_key(
                    &aws_lc_rs::agreement::X25519,
                    curve_private_key(inner).map_err(bad)?,
                )
                .map_err(|e| bad(format!("X25519 key rejected: {e}")))?;
                let public = k.compute_public_key().map_err(bad_unspecified)?;
                (KeyAlgorithm::X25519, public.as_ref().to_vec())
            }
            oids::ED25519 => {
                let kp = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| bad(format!("Ed25519 key rejected: {e}")))?;
                (KeyAlgorithm::Ed25519, kp.public_key().as_ref().to_vec())
            }
            other => return Err(CryptoError::UnsupportedKeyAlgorithm(oids::name(&other))),
        };
        Ok(PrivateKey {
            pkcs8: Zeroizing::new(der.to_vec()),
            algorithm,
            key_id: hex::encode(certmail_pki::CryptoOps::sha256(&AwsLcOps, &public)),
        })
    }

    /// Decrypts and parses a PKCS#8 EncryptedPrivateKeyInfo (PBES2 or PBES1).
    pub fn from_encrypted_pkcs8(der: &[u8], password: Option<&[u8]>) -> Result<Self, CryptoError> {
        let info = pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).map_err(bad)?;
        let password = password.ok_or(CryptoError::PasswordRequired("encrypted private key"))?;
        let doc = info
            .decrypt(password)
            .map_err(|_| CryptoError::WrongPassword("encrypted private key"))?;
        Self::from_pkcs8(doc.as_bytes())
    }

    /// Parses a PKCS#1 RSAPrivateKey and wraps it as PKCS#8.
    pub fn from_pkcs1(der: &[u8]) -> Result<Self, CryptoError> {
        RsaPrivateKeyHead::from_der(der).map_err(bad)?;
        let info = PrivateKeyInfoRef::new(
            AlgorithmIdentifierRef {
                oid: oids::RSA_ENCRYPTION,
                parameters: Some(AnyRef::NULL),
            },
            OctetStringRef::new(der).map_err(bad)?,
        );
        let pkcs8 = Zeroizing::new(info.to_der().map_err(bad)?);
        Self::from_pkcs8(&pkcs8)
    }

    /// Parses a SEC1 ECPrivateKey (RFC 5915) and converts it to PKCS#8.
    pub fn from_sec1(der: &[u8]) -> Result<Self, CryptoError> {
        let k = sec1::EcPrivateKey::from_der(der).map_err(bad)?;
        let curve = match k.parameters {
            Some(sec1::EcParameters::NamedCurve(oid)) => oid,
            _ => {
                return Err(bad(
                    "EC key without a named curve; re-export it with `openssl ec -param_enc named_curve`",
                ));
            }
        };
        let (alg, _) = ec_alg(&curve)?;
        let kp = EcdsaKeyPair::from_private_key_der(alg, der)
            .map_err(|e| bad(format!("EC key rejected: {e}")))?;
        let doc = kp
            .to_pkcs8v1()
            .map_err(|_| bad("EC key could not be re-encoded"))?;
        Self::from_pkcs8(doc.as_ref())
    }

    /// Parses a private key in any DER form: PKCS#8, encrypted PKCS#8, PKCS#1 or SEC1.
    pub fn from_der_any(der: &[u8], password: Option<&[u8]>) -> Result<Self, CryptoError> {
        if PrivateKeyInfoRef::from_der(der).is_ok() {
            return Self::from_pkcs8(der);
        }
        if pkcs8::EncryptedPrivateKeyInfoRef::try_from(der).is_ok() {
            return Self::from_encrypted_pkcs8(der, password);
        }
        if RsaPrivateKeyHead::from_der(der).is_ok() {
            return Self::from_pkcs1(der);
        }
        if sec1::EcPrivateKey::from_der(der).is_ok() {
            return Self::from_sec1(der);
        }
        Err(bad("not a PKCS#8, PKCS#1 or SEC1 private key"))
    }

    /// Parses a PEM block if it is a private key; `Ok(None)` for other labels.
    pub fn from_pem_block(
        block: &PemBlock,
        password: Option<&[u8]>,
    ) -> Result<Option<Self>, CryptoError> {
        let is_key = matches!(
            block.label.as_str(),
            "PRIVATE KEY" | "ENCRYPTED PRIVATE KEY" | "RSA PRIVATE KEY" | "EC PRIVATE KEY"
        );
        if !is_key {
            return Ok(None);
        }
        if block.is_legacy_encrypted() {
            return Err(CryptoError::LegacyEncryptedPem {
                dek_info: block.header("DEK-Info").unwrap_or("no DEK-Info").to_owned(),
            });
        }
        let key = match block.label.as_str() {
            // Some tools (Go's tests, old scripts) label a PKCS#1 or SEC1 key "PRIVATE KEY";
            // OpenSSL reads those too.
            "PRIVATE KEY" => match Self::from_pkcs8(&block.der) {
                Ok(k) => k,
                Err(e) => Self::from_pkcs1(&block.der)
                    .or_else(|_| Self::from_sec1(&block.der))
                    .map_err(|_| e)?,
            },
            "ENCRYPTED PRIVATE KEY" => Self::from_encrypted_pkcs8(&block.der, password)?,
            "RSA PRIVATE KEY" => Self::from_pkcs1(&block.der)?,
            _ => Self::from_sec1(&block.der)?,
        };
        Ok(Some(key))
    }

    /// An RSA key of 1,024 to 2,047 bits for decryption ([`crate::rsa_legacy`]); the numbers
    /// are checked to belong together.
    pub fn legacy_rsa(&self) -> Result<crate::rsa_legacy::LegacyRsaKey, CryptoError> {
        let info = PrivateKeyInfoRef::from_der(&self.pkcs8).map_err(bad)?;
        crate::rsa_legacy::LegacyRsaKey::from_pkcs1(info.private_key.as_bytes())
    }

    /// The 32 key bytes of an X25519 key (RFC 8410 7). Handle with care: this is the secret.
    pub fn x25519_raw(&self) -> Result<&[u8], CryptoError> {
        let info = PrivateKeyInfoRef::from_der(&self.pkcs8).map_err(bad)?;
        if info.algorithm.oid != oids::X25519 {
            return Err(CryptoError::BadKey("not an X25519 key".into()));
        }
        curve_private_key(info.private_key.as_bytes()).map_err(bad)
    }

    /// The PKCS#8 DER. Handle with care: this is the secret.
    pub fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Algorithm and size.
    pub fn algorithm(&self) -> &KeyAlgorithm {
        &self.algorithm
    }

    /// SHA-256 of the public key bits, hex: equal to the matching certificate's `key_id`.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }
}

fn ec_alg(
    curve: &der::oid::ObjectIdentifier,
) -> Result<(&'static signature::EcdsaSigningAlgorithm, &'static str), CryptoError> {
    match *curve {
        oids::SECP256R1 => Ok((&signature::ECDSA_P256_SHA256_ASN1_SIGNING, "P-256")),
        oids::SECP384R1 => Ok((&signature::ECDSA_P384_SHA384_ASN1_SIGNING, "P-384")),
        oids::SECP521R1 => Ok((&signature::ECDSA_P521_SHA512_ASN1_SIGNING, "P-521")),
        other => Err(CryptoError::UnsupportedKeyAlgorithm(format!(
            "EC curve {other}"
        ))),
    }
}

/// Unused-import guard for the trait used by `key_id`.
#[allow(dead_code)]
fn _ops(o: &dyn CryptoOps) -> [u8; 32] {
    o.sha256(b"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_round_trip_in_every_form() {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng)
            .expect("gen");
        let k = PrivateKey::from_pkcs8(doc.as_ref()).expect("p8");
        assert_eq!(
            k.algorithm(),
            &KeyAlgorithm::Ec {
                curve: "P-256".into()
            }
        );
        let again = PrivateKey::from_der_any(k.pkcs8_der(), None).expect("any");
        assert_eq!(again.key_id(), k.key_id());
        assert!(!format!("{k:?}").contains(&hex::encode(k.pkcs8_der())));

        let rsa = signature::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
        let p8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&rsa)
            .expect("der");
        let k = PrivateKey::from_pkcs8(p8.as_ref()).expect("rsa p8");
        assert_eq!(k.algorithm(), &KeyAlgorithm::Rsa { bits: 2048 });
        // PKCS#1 inside the PKCS#8 gives the same key id.
        let info = PrivateKeyInfoRef::from_der(p8.as_ref()).expect("info");
        let k1 = PrivateKey::from_pkcs1(info.private_key.as_bytes()).expect("pkcs1");
        assert_eq!(k1.key_id(), k.key_id());
    }

    #[test]
    fn garbage_is_refused() {
        assert!(matches!(
            PrivateKey::from_der_any(b"\x30\x03\x02\x01\x00", None),
            Err(CryptoError::BadKey(_))
        ));
        let block = PemBlock {
            label: "RSA PRIVATE KEY".into(),
            headers: vec![
                ("Proc-Type".into(), "4,ENCRYPTED".into()),
                ("DEK-Info".into(), "AES-128-CBC,00".into()),
            ],
            der: vec![0; 8],
        };
        let err = PrivateKey::from_pem_block(&block, Some(b"pw")).expect_err("legacy");
        assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
    }
}
