//! BER PKCS#12 (as NSS `pk12util` writes it: indefinite lengths, chunked OCTET STRINGs) and
//! password-less PKCS#12 made readable: the MAC is verified over the original bytes (RFC 7292
//! appendix B key derivation, the empty password in both encodings), then the structure is
//! re-encoded as DER without the MAC for the DER-only PKCS#12 reader.
//!
//! When the MAC shows the empty password as zero bytes (GnuTLS `--null-password`), bags
//! encrypted with pbeWithSHAAnd3-KeyTripleDES-CBC are decrypted here, because the PKCS#12
//! reader derives PBES1 keys from the terminator form only. PBES2 needs nothing: PBKDF2 takes
//! the password as octets, and the empty password is no octets in both conventions.

use aws_lc_rs::cipher::{DecryptionContext, PaddedBlockDecryptingKey, UnboundCipherKey};
use aws_lc_rs::iv::FixedLength;
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
const OID_PBE_SHA1_3DES: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01, 0x03];

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
    let null_password = match rest.first() {
        Some(mac) => verify_mac(mac, &octets, password)?,
        None => false,
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
            Some(OID_DATA) if null_password => (
                ct.clone(),
                Tlv::primitive(0x04, decrypt_key_bags(&inner.flatten())?),
            ),
            Some(OID_DATA) => {
                let safe_contents =
                    ber::to_der(&inner.flatten()).map_err(|e| bad(&e.to_string()))?;
                (ct.clone(), Tlv::primitive(0x04, safe_contents))
            }
            Some(OID_ENCRYPTED_DATA) if null_password && alg.is_some_and(is_pkcs12_pbe) => {
                // EncryptedData ::= SEQUENCE { version, EncryptedContentInfo ::= SEQUENCE {
                //   contentType, contentEncryptionAlgorithm, [0] IMPLICIT OCTET STRING } }
                let (Some(alg), Some(enc)) = (alg, eci.and_then(|e| e.children().get(2))) else {
                    return Err(bad("EncryptedData without content"));
                };
                let plain = pbe_3des_decrypt(alg, &enc.flatten())?;
                (
                    Tlv::primitive(0x06, OID_DATA.to_vec()),
                    Tlv::primitive(0x04, decrypt_key_bags(&plain)?),
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

/// SafeContents (BER) as DER, with each 3DES-shrouded key bag replaced by the plain keyBag
/// (password as zero bytes). SafeBag ::= SEQUENCE { bagId, [0] EXPLICIT bagValue, bagAttributes }
fn decrypt_key_bags(safe_contents: &[u8]) -> Result<Vec<u8>, CryptoError> {
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
                let plain = Zeroizing::new(pbe_3des_decrypt(alg, &enc.flatten())?);
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

/// pbeWithSHAAnd3-KeyTripleDES-CBC decryption with the empty password as zero bytes
/// (RFC 7292 B.2 key and IV derivation, params SEQUENCE { salt, iterations }).
/// 3DES is read (files already written), never written.
#[allow(deprecated)]
fn pbe_3des_decrypt(alg: &Tlv, ciphertext: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let [oid, params] = alg.children() else {
        return Err(bad("malformed PBE algorithm"));
    };
    if oid_of(oid).as_deref() != Some(OID_PBE_SHA1_3DES) {
        return Err(CryptoError::BadPkcs12(
            "a PKCS#12 file without password (empty as zero bytes) encrypted with RC2 or \
             2-key 3DES is not supported; re-export it with a password"
                .into(),
        ));
    }
    let [salt, iterations] = params.children() else {
        return Err(bad("malformed PBE parameters"));
    };
    let iterations = iteration_count(iterations)?;
    let sha1 = &digest::SHA1_FOR_LEGACY_USE_ONLY;
    let salt = salt.flatten();
    let key = Zeroizing::new(kdf(sha1, 64, &[], &salt, 1, iterations, 24));
    let iv = kdf(sha1, 64, &[], &salt, 2, iterations, 8);
    let wrong = |_| CryptoError::WrongPassword("PKCS#12 file");
    let iv = FixedLength::try_from(&iv[..]).map_err(wrong)?;
    let key = PaddedBlockDecryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(&aws_lc_rs::cipher::DES_EDE3_FOR_LEGACY_USE_ONLY, &key)
            .map_err(wrong)?,
    )
    .map_err(wrong)?;
    let mut buf = ciphertext.to_vec();
    let n = key
        .decrypt(&mut buf, DecryptionContext::Iv64(iv))
        .map_err(wrong)?
        .len();
    buf.truncate(n);
    Ok(buf)
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
/// Returns true when the MAC matched the empty password encoded as zero bytes.
fn verify_mac(mac: &Tlv, content: &[u8], password: &str) -> Result<bool, CryptoError> {
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
            return Ok(pw.is_empty());
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
