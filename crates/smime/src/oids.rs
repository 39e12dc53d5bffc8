//! Object identifiers used by CMS and S/MIME (dotted form).

#![allow(missing_docs)]

/// `dotted` when it is an OBJECT IDENTIFIER that [`crate::asn1::oid`] encodes (digits and
/// dots, two arcs at least, the first 0-2, the second under 40 below arc 2, every arc below
/// 2^56, at most 125 bytes encoded). Every constant here goes through it, and constants are
/// evaluated while compiling: a malformed one does not compile.
pub const fn checked(dotted: &'static str) -> &'static str {
    let b = dotted.as_bytes();
    let mut i = 0;
    let mut arcs = 0usize;
    let mut first = 0u64;
    let mut value = 0u64;
    let mut digits = 0;
    let mut encoded = 0usize;
    while i <= b.len() {
        if i == b.len() || b[i] == b'.' {
            assert!(digits > 0, "an OID arc is empty");
            match arcs {
                0 => {
                    assert!(value <= 2, "the first OID arc is 0, 1 or 2");
                    first = value;
                }
                1 => {
                    assert!(first == 2 || value < 40, "the second OID arc is under 40");
                    encoded += arc_len(first * 40 + value);
                }
                _ => encoded += arc_len(value),
            }
            arcs += 1;
            value = 0;
            digits = 0;
        } else {
            assert!(b[i].is_ascii_digit(), "an OID is digits and dots");
            assert!(value < (1 << 56) / 10, "an OID arc is too large");
            value = value * 10 + (b[i] - b'0') as u64;
            digits += 1;
        }
        i += 1;
    }
    assert!(arcs >= 2, "an OID has two arcs at least");
    assert!(encoded < 0x80, "an OID encodes in at most 127 bytes");
    dotted
}

/// Bytes of one arc in base 128.
const fn arc_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub const DATA: &str = checked("1.2.840.113549.1.7.1");
pub const SIGNED_DATA: &str = checked("1.2.840.113549.1.7.2");
pub const ENVELOPED_DATA: &str = checked("1.2.840.113549.1.7.3");
pub const AUTH_ENVELOPED_DATA: &str = checked("1.2.840.113549.1.9.16.1.23");
/// id-X25519 (RFC 8410).
pub const X25519: &str = checked("1.3.101.110");
/// id-Ed25519 (RFC 8410).
pub const ED25519: &str = checked("1.3.101.112");
/// dhSinglePass-stdDH-hkdf-sha256-scheme (RFC 8418).
pub const HKDF_SHA256_SCHEME: &str = checked("1.2.840.113549.1.9.16.3.19");
/// dhSinglePass-stdDH-hkdf-sha384-scheme (RFC 8418).
pub const HKDF_SHA384_SCHEME: &str = checked("1.2.840.113549.1.9.16.3.20");
/// dhSinglePass-stdDH-hkdf-sha512-scheme (RFC 8418).
pub const HKDF_SHA512_SCHEME: &str = checked("1.2.840.113549.1.9.16.3.21");
/// id-ct-compressedData (RFC 3274).
pub const COMPRESSED_DATA: &str = checked("1.2.840.113549.1.9.16.1.9");

pub const ATTR_CONTENT_TYPE: &str = checked("1.2.840.113549.1.9.3");
pub const ATTR_MESSAGE_DIGEST: &str = checked("1.2.840.113549.1.9.4");
pub const ATTR_SIGNING_TIME: &str = checked("1.2.840.113549.1.9.5");
pub const ATTR_SMIME_CAPABILITIES: &str = checked("1.2.840.113549.1.9.15");
pub const ATTR_ENCRYPTION_KEY_PREFERENCE: &str = checked("1.2.840.113549.1.9.16.2.11");

pub const SHA1: &str = checked("1.3.14.3.2.26");
pub const SHA224: &str = checked("2.16.840.1.101.3.4.2.4");
pub const SHA256: &str = checked("2.16.840.1.101.3.4.2.1");
pub const SHA384: &str = checked("2.16.840.1.101.3.4.2.2");
pub const SHA512: &str = checked("2.16.840.1.101.3.4.2.3");

pub const RSA: &str = checked("1.2.840.113549.1.1.1");
pub const RSA_OAEP: &str = checked("1.2.840.113549.1.1.7");
pub const MGF1: &str = checked("1.2.840.113549.1.1.8");
pub const RSA_PSS: &str = checked("1.2.840.113549.1.1.10");
pub const EC_PUBLIC_KEY: &str = checked("1.2.840.10045.2.1");
pub const ECDSA_SHA256: &str = checked("1.2.840.10045.4.3.2");
pub const ECDSA_SHA384: &str = checked("1.2.840.10045.4.3.3");
pub const ECDSA_SHA512: &str = checked("1.2.840.10045.4.3.4");

pub const AES128_CBC: &str = checked("2.16.840.1.101.3.4.1.2");
pub const AES192_CBC: &str = checked("2.16.840.1.101.3.4.1.22");
pub const AES256_CBC: &str = checked("2.16.840.1.101.3.4.1.42");
pub const AES128_GCM: &str = checked("2.16.840.1.101.3.4.1.6");
pub const AES192_GCM: &str = checked("2.16.840.1.101.3.4.1.26");
pub const AES256_GCM: &str = checked("2.16.840.1.101.3.4.1.46");
/// id-alg-AEADChaCha20Poly1305 (RFC 8103).
pub const CHACHA20_POLY1305: &str = checked("1.2.840.113549.1.9.16.3.18");
pub const AES128_WRAP: &str = checked("2.16.840.1.101.3.4.1.5");
pub const AES192_WRAP: &str = checked("2.16.840.1.101.3.4.1.25");
pub const AES256_WRAP: &str = checked("2.16.840.1.101.3.4.1.45");
pub const DES_EDE3_CBC: &str = checked("1.2.840.113549.3.7");
pub const RC2_CBC: &str = checked("1.2.840.113549.3.2");

/// dhSinglePass-stdDH-sha1kdf-scheme (RFC 3278, OpenSSL's default).
pub const ECDH_SHA1KDF: &str = checked("1.3.133.16.840.63.0.2");
/// dhSinglePass-stdDH-sha224kdf-scheme (RFC 5753).
pub const ECDH_SHA224KDF: &str = checked("1.3.132.1.11.0");
/// dhSinglePass-stdDH-sha256kdf-scheme.
pub const ECDH_SHA256KDF: &str = checked("1.3.132.1.11.1");
/// dhSinglePass-stdDH-sha384kdf-scheme.
pub const ECDH_SHA384KDF: &str = checked("1.3.132.1.11.2");
/// dhSinglePass-stdDH-sha512kdf-scheme.
pub const ECDH_SHA512KDF: &str = checked("1.3.132.1.11.3");

pub const P256: &str = checked("1.2.840.10045.3.1.7");
pub const P384: &str = checked("1.3.132.0.34");
pub const P521: &str = checked("1.3.132.0.35");

/// A short name for an algorithm OID (for reports).
pub fn name(oid: &str) -> &str {
    match oid {
        AES128_CBC => "AES-128-CBC",
        AES192_CBC => "AES-192-CBC",
        AES256_CBC => "AES-256-CBC",
        AES128_GCM => "AES-128-GCM",
        AES192_GCM => "AES-192-GCM",
        AES256_GCM => "AES-256-GCM",
        CHACHA20_POLY1305 => "ChaCha20-Poly1305",
        DES_EDE3_CBC => "3DES-CBC",
        RC2_CBC => "RC2-CBC",
        RSA => "RSA PKCS#1 v1.5",
        RSA_OAEP => "RSAES-OAEP",
        ECDH_SHA1KDF => "ECDH (SHA-1 KDF)",
        ECDH_SHA224KDF => "ECDH (SHA-224 KDF)",
        ECDH_SHA256KDF => "ECDH (SHA-256 KDF)",
        ECDH_SHA384KDF => "ECDH (SHA-384 KDF)",
        ECDH_SHA512KDF => "ECDH (SHA-512 KDF)",
        SHA1 => "SHA-1",
        SHA224 => "SHA-224",
        SHA256 => "SHA-256",
        SHA384 => "SHA-384",
        SHA512 => "SHA-512",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    /// Every constant encodes and reads back as itself.
    #[test]
    fn every_constant_round_trips_through_der() {
        let src = include_str!("oids.rs");
        let mut n = 0;
        for line in src.lines() {
            let Some(rest) = line.split("checked(\"").nth(1) else {
                continue;
            };
            let dotted = rest.split('"').next().unwrap_or_default();
            let der = crate::asn1::oid(dotted);
            let e = crate::asn1::Element::parse(&der).expect("parse");
            assert_eq!(e.oid().expect("oid"), dotted);
            n += 1;
        }
        assert!(n >= 45, "{n}");
    }
}
