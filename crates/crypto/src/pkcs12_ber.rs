//! BER PKCS#12 (as NSS `pk12util` writes it: indefinite lengths, chunked OCTET STRINGs) made
//! readable: the MAC is verified over the original bytes (RFC 7292 appendix B key
//! derivation), then the structure is re-encoded as DER without the MAC for the DER-only
//! PKCS#12 reader.

use aws_lc_rs::{digest, hmac};
use certmail_pki::ber::{self, Tlv};

use crate::error::CryptoError;

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];

fn bad(msg: &str) -> CryptoError {
    CryptoError::BadPkcs12(msg.to_owned())
}

fn oid_of(t: &Tlv) -> Option<Vec<u8>> {
    (t.tag_byte() == 0x06).then(|| t.flatten())
}

/// Returns a DER PFX equivalent to `data` once its MAC checks out under `password`.
pub(crate) fn normalise(data: &[u8], password: &str) -> Result<Vec<u8>, CryptoError> {
    let pfx = ber::parse(data).map_err(|e| bad(&e.to_string()))?;
    let [version, auth_safe, rest @ ..] = pfx.children() else {
        return Err(bad("PFX is not SEQUENCE { version, authSafe, macData }"));
    };
    let [ct, content] = auth_safe.children() else {
        return Err(bad("authSafe is not a ContentInfo"));
    };
    if oid_of(ct).as_deref() != Some(OID_DATA) {
        return Err(bad(
            "authSafe is not of type data (public-key integrity mode is not supported)",
        ));
    }
    let octets = content
        .children()
        .first()
        .ok_or_else(|| bad("authSafe has no content"))?
        .flatten();
    if let Some(mac) = rest.first() {
        verify_mac(mac, &octets, password)?;
    }
    let safes = ber::parse(&octets).map_err(|e| bad(&e.to_string()))?;
    let mut new_safes = Vec::new();
    for ci in safes.children() {
        let [ct, content] = ci.children() else {
            return Err(bad("AuthenticatedSafe entry is not a ContentInfo"));
        };
        let inner = content
            .children()
            .first()
            .ok_or_else(|| bad("empty ContentInfo"))?;
        let new_inner = match oid_of(ct).as_deref() {
            Some(OID_DATA) => {
                let safe_contents =
                    ber::to_der(&inner.flatten()).map_err(|e| bad(&e.to_string()))?;
                Tlv::primitive(0x04, safe_contents)
            }
            Some(OID_ENCRYPTED_DATA) => {
                // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE {
                //   contentType, contentEncryptionAlgorithm, [0] IMPLICIT OCTET STRING } }
                let [v, eci] = inner.children() else {
                    return Err(bad(
                        "EncryptedData is not SEQUENCE { version, encryptedContentInfo }",
                    ));
                };
                let mut eci_children = eci.children().to_vec();
                if let Some(enc) = eci_children.get_mut(2) {
                    *enc = enc.into_primitive(0x80);
                }
                Tlv::constructed(0x30, vec![v.clone(), Tlv::constructed(0x30, eci_children)])
            }
            _ => return Err(bad("unsupported ContentInfo type in AuthenticatedSafe")),
        };
        new_safes.push(Tlv::constructed(
            0x30,
            vec![ct.clone(), Tlv::constructed(0xa0, vec![new_inner])],
        ));
    }
    let new_auth = Tlv::constructed(0x30, new_safes).to_der();
    let out = Tlv::constructed(
        0x30,
        vec![
            version.clone(),
            Tlv::constructed(
                0x30,
                vec![
                    ct.clone(),
                    Tlv::constructed(0xa0, vec![Tlv::primitive(0x04, new_auth)]),
                ],
            ),
        ],
    );
    Ok(out.to_der())
}

/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
fn verify_mac(mac: &Tlv, content: &[u8], password: &str) -> Result<(), CryptoError> {
    let [digest_info, salt, iter @ ..] = mac.children() else {
        return Err(bad("malformed MacData"));
    };
    let [alg, expected] = digest_info.children() else {
        return Err(bad("malformed MAC DigestInfo"));
    };
    let oid = alg
        .children()
        .first()
        .and_then(oid_of)
        .ok_or_else(|| bad("malformed MAC algorithm"))?;
    let (dig, hmac_alg, v) = match oid.as_slice() {
        [0x2b, 0x0e, 0x03, 0x02, 0x1a] => (
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            64,
        ),
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01] => {
            (&digest::SHA256, hmac::HMAC_SHA256, 64)
        }
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02] => {
            (&digest::SHA384, hmac::HMAC_SHA384, 128)
        }
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03] => {
            (&digest::SHA512, hmac::HMAC_SHA512, 128)
        }
        _ => return Err(CryptoError::BadPkcs12("unsupported MAC digest".into())),
    };
    let iterations = match iter.first() {
        Some(i) => i
            .flatten()
            .iter()
            .fold(0u64, |a, b| (a << 8) | u64::from(*b)),
        None => 1,
    };
    // 10 million iterations is far above any tool's default (NSS: 600,000); more is an attack.
    if iterations == 0 || iterations > 10_000_000 {
        return Err(bad("MAC iteration count out of range"));
    }
    let expected = expected.flatten();
    let salt = salt.flatten();
    let mut candidates = vec![bmp(password, true)];
    if password.is_empty() {
        candidates.push(Vec::new());
    }
    for pw in candidates {
        let key = kdf(dig, v, &pw, &salt, 3, iterations, dig.output_len());
        let k = hmac::Key::new(hmac_alg, &key);
        if hmac::verify(&k, content, &expected).is_ok() {
            return Ok(());
        }
    }
    Err(CryptoError::WrongPassword("PKCS#12 file"))
}

/// The password as a BMPString with the two-byte terminator (RFC 7292 B.1).
fn bmp(password: &str, terminator: bool) -> Vec<u8> {
    let mut out: Vec<u8> = password.encode_utf16().flat_map(u16::to_be_bytes).collect();
    if terminator {
        out.extend_from_slice(&[0, 0]);
    }
    out
}

/// RFC 7292 appendix B.2 key derivation.
fn kdf(
    alg: &'static digest::Algorithm,
    v: usize,
    pw: &[u8],
    salt: &[u8],
    id: u8,
    iterations: u64,
    n: usize,
) -> Vec<u8> {
    let u = alg.output_len();
    let fill = |src: &[u8]| -> Vec<u8> {
        if src.is_empty() {
            return Vec::new();
        }
        let len = v * src.len().div_ceil(v);
        src.iter().cycle().take(len).copied().collect()
    };
    let d = vec![id; v];
    let mut i: Vec<u8> = fill(salt);
    i.extend(fill(pw));
    let mut out = Vec::with_capacity(n + u);
    while out.len() < n {
        let mut ctx = digest::Context::new(alg);
        ctx.update(&d);
        ctx.update(&i);
        let mut a = ctx.finish().as_ref().to_vec();
        for _ in 1..iterations {
            a = digest::digest(alg, &a).as_ref().to_vec();
        }
        out.extend_from_slice(&a);
        if out.len() >= n {
            break;
        }
        let b: Vec<u8> = a.iter().cycle().take(v).copied().collect();
        for block in i.chunks_mut(v) {
            let mut carry = 1u16;
            for (x, y) in block.iter_mut().rev().zip(b.iter().rev()) {
                let s = u16::from(*x) + u16::from(*y) + carry;
                *x = s as u8;
                carry = s >> 8;
            }
        }
    }
    out.truncate(n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7292 has no vectors; these come from OpenSSL's PKCS12_key_gen_uni
    /// (test/pkcs12_format_test / known values): SHA-1, ID 3, password "smeg", 1 iteration.
    #[test]
    fn kdf_matches_openssl() {
        let salt = [0x0a, 0x58, 0xcf, 0x64, 0x53, 0x0d, 0x82, 0x3f];
        let key = kdf(
            &digest::SHA1_FOR_LEGACY_USE_ONLY,
            64,
            &bmp("smeg", true),
            &salt,
            1,
            1,
            24,
        );
        assert_eq!(
            hex::encode(key),
            "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"
        );
    }
}
