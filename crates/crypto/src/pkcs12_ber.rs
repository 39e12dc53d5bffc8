//! BER PKCS#12 (as NSS `pk12util` writes it: indefinite lengths, chunked OCTET STRINGs) and
//! password-less PKCS#12 made readable: the MAC is verified over the original bytes (RFC 7292
//! appendix B key derivation, the empty password in both encodings), then the structure is
//! re-encoded as DER without the MAC for the DER-only PKCS#12 reader.
//!
//! Bags encrypted with the PKCS#12 PBES1 schemes (RFC 7292 appendix C: 3-key and 2-key
//! triple DES, RC2-128 and RC2-40) are decrypted here with the password in the encoding the
//! MAC confirmed, because the PKCS#12 reader knows neither the zero-byte empty password
//! (GnuTLS `--null-password`) nor two-key 3DES or RC2-128. PBES2 is left to it: PBKDF2 takes
//! the password as octets, and the empty password is no octets in both conventions.

use aws_lc_rs::{digest, hmac};
use certmail_pki::ber::{self, Tlv};
use zeroize::Zeroizing;

use crate::error::CryptoError;

const OID_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
const OID_ENCRYPTED_DATA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x06];
/// 1.2.840.113549.1.12.10.1.1 keyBag, .2 pkcs8ShroudedKeyBag.
const OID_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x01,
];
const OID_SHROUDED_KEY_BAG: &[u8] = &[
    0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
];
/// 1.2.840.113549.1.12.1: the PKCS#12 PBES1 schemes; .3 is pbeWithSHAAnd3-KeyTripleDES-CBC.
const OID_PKCS12_PBE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];

fn bad(msg: &str) -> CryptoError {
    CryptoError::BadPkcs12(msg.to_owned())
}

fn oid_of(t: &Tlv) -> Option<Vec<u8>> {
    (t.tag_byte() == 0x06).then(|| t.flatten())
}

/// Returns a DER PFX equivalent to `data` once its MAC checks out under `password`.
pub(crate) fn normalise(data: &[u8], password: &str) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
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
    // The password encodings to decrypt with: the one the MAC confirmed, or without a MAC
    // both forms of the password (the first that decrypts wins).
    let encodings: Vec<Vec<u8>> = match rest.first() {
        Some(mac) => vec![verify_mac(mac, &octets, password)?],
        None if password.is_empty() => vec![bmp("", true), Vec::new()],
        None => vec![bmp(password, true)],
    };
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
        let eci = inner.children().get(1);
        let alg = eci.and_then(|e| e.children().get(1));
        let (ct, new_inner) = match oid_of(ct).as_deref() {
            Some(OID_DATA) => (
                ct.clone(),
                Tlv::primitive(0x04, decrypt_key_bags(&inner.flatten(), &encodings)?),
            ),
            Some(OID_ENCRYPTED_DATA) if alg.is_some_and(is_pkcs12_pbe) => {
                // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE {
                //   contentType, contentEncryptionAlgorithm, [0] IMPLICIT OCTET STRING } }
                let (Some(alg), Some(enc)) = (alg, eci.and_then(|e| e.children().get(2))) else {
                    return Err(bad("EncryptedData without content"));
                };
                let plain = pbe_decrypt(alg, &enc.flatten(), &encodings)?;
                (
                    Tlv::primitive(0x06, OID_DATA.to_vec()),
                    Tlv::primitive(0x04, decrypt_key_bags(&plain, &encodings)?),
                )
            }
            Some(OID_ENCRYPTED_DATA) => {
                let [v, eci] = inner.children() else {
                    return Err(bad(
                        "EncryptedData is not SEQUENCE { version, encryptedContentInfo }",
                    ));
                };
                let mut eci_children = eci.children().to_vec();
                if let Some(enc) = eci_children.get_mut(2) {
                    *enc = enc.into_primitive(0x80);
                }
                (
                    ct.clone(),
                    Tlv::constructed(0x30, vec![v.clone(), Tlv::constructed(0x30, eci_children)]),
                )
            }
            _ => return Err(bad("unsupported ContentInfo type in AuthenticatedSafe")),
        };
        new_safes.push(Tlv::constructed(
            0x30,
            vec![ct, Tlv::constructed(0xa0, vec![new_inner])],
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
    Ok(Zeroizing::new(out.to_der()))
}

fn is_pkcs12_pbe(alg: &Tlv) -> bool {
    alg.children()
        .first()
        .and_then(oid_of)
        .is_some_and(|o| o.starts_with(OID_PKCS12_PBE) && o.len() == OID_PKCS12_PBE.len() + 1)
}

/// SafeContents (BER) as DER, with each key bag shrouded by a PKCS#12 PBES1 scheme replaced
/// by the plain keyBag. SafeBag ::= SEQUENCE { bagId, [0] EXPLICIT bagValue, bagAttributes }
fn decrypt_key_bags(safe_contents: &[u8], encodings: &[Vec<u8>]) -> Result<Vec<u8>, CryptoError> {
    let sc = ber::parse(safe_contents).map_err(|e| bad(&e.to_string()))?;
    let mut bags = Vec::new();
    for bag in sc.children() {
        let [id, value, attrs @ ..] = bag.children() else {
            return Err(bad("malformed SafeBag"));
        };
        // EncryptedPrivateKeyInfo ::= SEQUENCE { encryptionAlgorithm, encryptedData }
        let epki = value.children().first().map(Tlv::children);
        match (oid_of(id).as_deref(), epki) {
            (Some(OID_SHROUDED_KEY_BAG), Some([alg, enc])) if is_pkcs12_pbe(alg) => {
                let plain = Zeroizing::new(pbe_decrypt(alg, &enc.flatten(), encodings)?);
                let key =
                    ber::parse(&plain).map_err(|_| CryptoError::WrongPassword("PKCS#12 file"))?;
                let mut fields = vec![
                    Tlv::primitive(0x06, OID_KEY_BAG.to_vec()),
                    Tlv::constructed(0xa0, vec![key]),
                ];
                fields.extend(attrs.iter().cloned());
                bags.push(Tlv::constructed(0x30, fields));
            }
            _ => bags.push(bag.clone()),
        }
    }
    Ok(Tlv::constructed(0x30, bags).to_der())
}

/// PKCS#12 PBES1 decryption (RFC 7292 appendix B.2 key and IV derivation with SHA-1, params
/// SEQUENCE { salt, iterations }): pbeWithSHAAnd3-KeyTripleDES-CBC, -2-KeyTripleDES-CBC,
/// -128BitRC2-CBC and -40BitRC2-CBC, with the first of `encodings` whose result has a valid
/// padding and decodes. Read only: certmail writes none of these.
fn pbe_decrypt(
    alg: &Tlv,
    ciphertext: &[u8],
    encodings: &[Vec<u8>],
) -> Result<Vec<u8>, CryptoError> {
    let [oid, params] = alg.children() else {
        return Err(bad("malformed PBE algorithm"));
    };
    let scheme = oid_of(oid)
        .and_then(|o| o.strip_prefix(OID_PKCS12_PBE).map(<[u8]>::to_vec))
        .unwrap_or_default();
    // (key length, RC2 effective bits or 0 for 3DES)
    let (key_len, rc2_bits) = match scheme.as_slice() {
        [3] => (24, 0),
        [4] => (16, 0),
        [5] => (16, 128),
        [6] => (5, 40),
        _ => {
            return Err(CryptoError::BadPkcs12(
                "unsupported PKCS#12 encryption scheme (RC4 is not read)".into(),
            ));
        }
    };
    let [salt, iterations] = params.children() else {
        return Err(bad("malformed PBE parameters"));
    };
    let iterations = iteration_count(iterations)?;
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let salt = salt.flatten();
    for pw in encodings {
        let key = Zeroizing::new(kdf(sha1, 64, pw, &salt, 1, iterations, key_len));
        let iv = kdf(sha1, 64, pw, &salt, 2, iterations, 8);
        let plain = if rc2_bits == 0 {
            crate::legacy_cipher::des3_cbc_decrypt(&key, &iv, ciphertext)
        } else {
            crate::legacy_cipher::rc2_cbc_decrypt(&key, rc2_bits, &iv, ciphertext)
        };
        if let Some(p) = plain.filter(|p| ber::parse(p).is_ok()) {
            return Ok(p);
        }
    }
    Err(CryptoError::WrongPassword("PKCS#12 file"))
}

/// An INTEGER iteration count, bounded as the DER reader bounds it
/// ([`crate::pkcs12_work::MAX_ITERATIONS`]; NSS and GnuTLS write 600,000); more is an
/// attack on our CPU.
fn iteration_count(i: &Tlv) -> Result<u64, CryptoError> {
    let bytes = i.flatten();
    if bytes.len() > 4 {
        return Err(bad("iteration count out of range"));
    }
    let n = bytes.iter().fold(0u64, |a, b| (a << 8) | u64::from(*b));
    if n == 0 || n > crate::pkcs12_work::MAX_ITERATIONS {
        return Err(bad(&format!(
            "a key derivation with {n} iterations, over the limit of {} per step",
            crate::pkcs12_work::MAX_ITERATIONS
        )));
    }
    Ok(n)
}

/// MacData ::= SEQUENCE { mac DigestInfo, macSalt OCTET STRING, iterations INTEGER DEFAULT 1 }
///
/// Returns the password encoding the MAC matched (the BMPString with its terminator, or for
/// the empty password possibly no bytes at all).
fn verify_mac(mac: &Tlv, content: &[u8], password: &str) -> Result<Vec<u8>, CryptoError> {
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
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x04] => {
            (&digest::SHA224, hmac::HMAC_SHA224, 64)
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
        Some(i) => iteration_count(i)?,
        None => 1,
    };
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
            return Ok(pw);
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
