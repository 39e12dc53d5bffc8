//! RSA with keys of 1,024 to 2,047 bits, which aws-lc-rs refuses: years of archived mail and
//! partners' old certificates use them. Two jobs only:
//!
//! - **signature verification** (RFC 8017 8.2.2 and 9.2, 8.1.2 and 9.1.2), over public values,
//!   so plain big-integer arithmetic is fine. Whether such a key is *trusted* is policy
//!   (`min-rsa-bits`), decided by the trust engine, not here: here a signature verifies or not.
//! - **decryption with one's own stored key** (RFC 8017 7.2.2 and 7.1.2), so that mail
//!   encrypted to an old key can still be read. The private operation is blinded (a fresh
//!   random factor per call, so its timing says nothing about the ciphertext) and checked by
//!   re-encryption (no CRT fault leaks a factor). The PKCS#1 v1.5 caller turns any failure into
//!   a random key (RFC 3218 2.3.2), as it does for aws-lc-rs keys.
//!
//! Keys under 1,024 bits are refused everywhere: nothing signed or encrypted with them can be
//! told apart from a forgery.

use aws_lc_rs::digest;
use certmail_pki::ops::SignatureError;
use certmail_pki::sig::Hash;
use der::Decode;
use der::asn1::UintRef;
use num_bigint::BigUint;
use zeroize::Zeroizing;

use crate::error::CryptoError;

/// The smallest RSA modulus certmail reads at all.
pub const MIN_BITS: u32 = 1024;

/// PKCS#1 RSAPublicKey: the subjectPublicKey of an RSA certificate.
#[derive(der::Sequence)]
pub(crate) struct PublicKeyDer<'a> {
    pub(crate) n: UintRef<'a>,
    pub(crate) e: UintRef<'a>,
}

/// PKCS#1 RSAPrivateKey (RFC 8017 A.1.2, two primes).
#[derive(der::Sequence)]
pub(crate) struct PrivateKeyDer<'a> {
    pub(crate) version: u8,
    pub(crate) n: UintRef<'a>,
    pub(crate) e: UintRef<'a>,
    pub(crate) d: UintRef<'a>,
    pub(crate) p: UintRef<'a>,
    pub(crate) q: UintRef<'a>,
    pub(crate) dp: UintRef<'a>,
    pub(crate) dq: UintRef<'a>,
    pub(crate) qinv: UintRef<'a>,
}

fn big(u: &UintRef<'_>) -> BigUint {
    BigUint::from_bytes_be(u.as_bytes())
}

/// The modulus size in bits of an RSAPublicKey (the subjectPublicKey of an RSA key).
pub fn public_key_bits(rsa_public_key: &[u8]) -> Option<u32> {
    // From the minimal INTEGER's bytes: no big integer for a check made on every RSA
    // signature.
    let k = PublicKeyDer::from_der(rsa_public_key).ok()?;
    let n = k.n.as_bytes();
    let first = *n.first()?;
    Some(n.len() as u32 * 8 - first.leading_zeros())
}

fn algorithm(h: Hash) -> &'static digest::Algorithm {
    match h {
        Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        Hash::Sha224 => &digest::SHA224,
        Hash::Sha256 => &digest::SHA256,
        Hash::Sha384 => &digest::SHA384,
        Hash::Sha512 => &digest::SHA512,
    }
}

/// The DER DigestInfo prefix of RFC 8017 9.2 note 1 (with NULL parameters).
fn digest_info_prefix(h: Hash) -> &'static [u8] {
    match h {
        Hash::Sha1 => &[
            0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04,
            0x14,
        ],
        Hash::Sha224 => &[
            0x30, 0x2d, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x04, 0x05, 0x00, 0x04, 0x1c,
        ],
        Hash::Sha256 => &[
            0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x01, 0x05, 0x00, 0x04, 0x20,
        ],
        Hash::Sha384 => &[
            0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x02, 0x05, 0x00, 0x04, 0x30,
        ],
        Hash::Sha512 => &[
            0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
            0x03, 0x05, 0x00, 0x04, 0x40,
        ],
    }
}

/// I2OSP: `x` as exactly `len` bytes, or `None` when it does not fit.
fn i2osp(x: &BigUint, len: usize) -> Option<Vec<u8>> {
    let b = x.to_bytes_be();
    if b.len() > len {
        return None;
    }
    let mut out = vec![0u8; len - b.len()];
    out.extend_from_slice(&b);
    Some(out)
}

/// MGF1 (RFC 8017 B.2.1).
fn mgf1(h: Hash, seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + h.len());
    let mut counter: u32 = 0;
    while out.len() < len {
        let mut ctx = digest::Context::new(algorithm(h));
        ctx.update(seed);
        ctx.update(&counter.to_be_bytes());
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// The public operation on a signature: RSAVP1 and I2OSP, with the modulus size in bits.
fn open_signature(rsa_public_key: &[u8], sig: &[u8]) -> Result<(Vec<u8>, u64), SignatureError> {
    let k = PublicKeyDer::from_der(rsa_public_key)
        .map_err(|_| SignatureError::Unsupported("malformed RSA public key".into()))?;
    let (n, e) = (big(&k.n), big(&k.e));
    let bits = n.bits();
    if bits < u64::from(MIN_BITS) {
        return Err(SignatureError::Unsupported(format!(
            "RSA key of {bits} bits"
        )));
    }
    let len = bits.div_ceil(8) as usize;
    if sig.len() != len {
        return Err(SignatureError::Invalid);
    }
    let s = BigUint::from_bytes_be(sig);
    if s >= n {
        return Err(SignatureError::Invalid);
    }
    let m = s.modpow(&e, &n);
    Ok((i2osp(&m, len).ok_or(SignatureError::Invalid)?, bits))
}

/// RSASSA-PKCS1-v1_5 verification (RFC 8017 8.2.2), for keys aws-lc-rs does not take. The
/// DigestInfo is accepted with NULL parameters or without them (RFC 8017 9.2 note 2: old
/// signers leave them out).
pub fn verify_pkcs1(
    rsa_public_key: &[u8],
    hash: Hash,
    message: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let (em, _) = open_signature(rsa_public_key, sig)?;
    let h = digest::digest(algorithm(hash), message);
    let prefix = digest_info_prefix(hash);
    // The same DigestInfo without the NULL: two bytes shorter in both SEQUENCE lengths.
    let mut bare = prefix.to_vec();
    bare.drain(bare.len() - 4..bare.len() - 2);
    bare[1] -= 2;
    bare[3] -= 2;
    for p in [prefix, &bare[..]] {
        let t_len = p.len() + h.as_ref().len();
        if em.len() < t_len + 11 {
            continue;
        }
        let mut want = vec![0x00, 0x01];
        want.resize(em.len() - t_len - 1, 0xff);
        want.push(0x00);
        want.extend_from_slice(p);
        want.extend_from_slice(h.as_ref());
        if want == em {
            return Ok(());
        }
    }
    Err(SignatureError::Invalid)
}

/// RSASSA-PSS verification (RFC 8017 8.1.2, EMSA-PSS-VERIFY of 9.1.2) with MGF1 over
/// `mgf_hash` and a salt of `salt_len` bytes.
pub fn verify_pss(
    rsa_public_key: &[u8],
    hash: Hash,
    mgf_hash: Hash,
    salt_len: usize,
    message: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let (k_bytes, bits) = open_signature(rsa_public_key, sig)?;
    let em_bits = bits - 1;
    let em_len = em_bits.div_ceil(8) as usize;
    // When emBits is a multiple of 8 the representative has one leading zero byte more.
    let skip = k_bytes.len() - em_len;
    if k_bytes[..skip].iter().any(|b| *b != 0) {
        return Err(SignatureError::Invalid);
    }
    let em = &k_bytes[skip..];
    let h_len = hash.len();
    if em_len < h_len + salt_len + 2 || em[em_len - 1] != 0xbc {
        return Err(SignatureError::Invalid);
    }
    let (masked_db, rest) = em.split_at(em_len - h_len - 1);
    let h = &rest[..h_len];
    let top_bits = 8 * em_len as u64 - em_bits;
    let top_mask = 0xffu8.checked_shr(top_bits as u32).unwrap_or(0);
    if masked_db[0] & !top_mask != 0 {
        return Err(SignatureError::Invalid);
    }
    let mut db: Vec<u8> = masked_db
        .iter()
        .zip(mgf1(mgf_hash, h, masked_db.len()))
        .map(|(a, b)| a ^ b)
        .collect();
    db[0] &= top_mask;
    let ps_len = em_len - h_len - salt_len - 2;
    if db[..ps_len].iter().any(|b| *b != 0) || db[ps_len] != 0x01 {
        return Err(SignatureError::Invalid);
    }
    let salt = &db[db.len() - salt_len..];
    let m_hash = digest::digest(algorithm(hash), message);
    let mut ctx = digest::Context::new(algorithm(hash));
    ctx.update(&[0u8; 8]);
    ctx.update(m_hash.as_ref());
    ctx.update(salt);
    if ctx.finish().as_ref() == h {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

/// An RSA private key of 1,024 to 2,047 bits, for decrypting mail sent to it.
pub struct LegacyRsaKey {
    n: BigUint,
    e: BigUint,
    p: BigUint,
    q: BigUint,
    dp: BigUint,
    dq: BigUint,
    qinv: BigUint,
    bits: u32,
}

impl std::fmt::Debug for LegacyRsaKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LegacyRsaKey")
            .field("bits", &self.bits)
            .finish_non_exhaustive()
    }
}

fn bad(what: &str) -> CryptoError {
    CryptoError::BadKey(format!("RSA key: {what}"))
}

impl LegacyRsaKey {
    /// From a PKCS#1 RSAPrivateKey (the privateKey of an RSA PKCS#8). Checks that the
    /// numbers belong together (n = pq, the CRT values) before the key is used.
    pub fn from_pkcs1(der: &[u8]) -> Result<LegacyRsaKey, CryptoError> {
        let k = PrivateKeyDer::from_der(der).map_err(|_| bad("malformed RSAPrivateKey"))?;
        if k.version != 0 {
            return Err(CryptoError::UnsupportedKeyAlgorithm(
                "multi-prime RSA".into(),
            ));
        }
        let one = BigUint::from(1u8);
        let key = LegacyRsaKey {
            n: big(&k.n),
            e: big(&k.e),
            p: big(&k.p),
            q: big(&k.q),
            dp: big(&k.dp),
            dq: big(&k.dq),
            qinv: big(&k.qinv),
            bits: 0,
        };
        let d = big(&k.d);
        let bits = key.n.bits() as u32;
        if bits < MIN_BITS {
            return Err(CryptoError::UnsupportedKeyAlgorithm(format!(
                "RSA key of {bits} bits"
            )));
        }
        if key.p <= one || key.q <= one || &key.p * &key.q != key.n {
            return Err(bad("n is not p times q"));
        }
        let (p1, q1) = (&key.p - &one, &key.q - &one);
        if key.dp != &d % &p1 || key.dq != &d % &q1 || (&key.qinv * &key.q) % &key.p != one {
            return Err(bad("the CRT values do not match"));
        }
        if (&key.e * &key.dp) % &p1 != one || (&key.e * &key.dq) % &q1 != one {
            return Err(bad("d does not invert e"));
        }
        Ok(LegacyRsaKey { bits, ..key })
    }

    /// Modulus size in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Modulus size in bytes.
    fn len(&self) -> usize {
        self.bits.div_ceil(8) as usize
    }

    /// RSADP with blinding and a re-encryption check; `None` for a ciphertext out of range.
    fn private(&self, c: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if c.len() != self.len() {
            return None;
        }
        let c = BigUint::from_bytes_be(c);
        if c >= self.n {
            return None;
        }
        let (r, r_inv) = loop {
            let mut buf = vec![0u8; self.len()];
            crate::random_bytes(&mut buf).ok()?;
            let r = BigUint::from_bytes_be(&buf) % &self.n;
            if r.bits() > 1
                && let Some(inv) = r.modinv(&self.n)
            {
                break (r, inv);
            }
        };
        let blinded = (&c * r.modpow(&self.e, &self.n)) % &self.n;
        let m1 = blinded.modpow(&self.dp, &self.p);
        let m2 = blinded.modpow(&self.dq, &self.q);
        let diff = (&m1 + &self.p - (&m2 % &self.p)) % &self.p;
        let h = (&self.qinv * diff) % &self.p;
        let m_blinded = &m2 + h * &self.q;
        if m_blinded.modpow(&self.e, &self.n) != blinded {
            return None;
        }
        let m = (m_blinded * r_inv) % &self.n;
        i2osp(&m, self.len()).map(Zeroizing::new)
    }

    /// RSAES-PKCS1-v1_5 decryption (RFC 8017 7.2.2); `None` on any failure (the caller
    /// carries on with a random key, RFC 3218 2.3.2).
    pub fn decrypt_pkcs1(&self, c: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        let em = self.private(c)?;
        if em.len() < 11 || em[0] != 0 || em[1] != 2 {
            return None;
        }
        let zero = em[2..].iter().position(|b| *b == 0)? + 2;
        if zero < 10 {
            return None;
        }
        Some(Zeroizing::new(em[zero + 1..].to_vec()))
    }

    /// RSAES-OAEP decryption (RFC 8017 7.1.2) with `label`; one error for every failure
    /// (no oracle).
    pub fn decrypt_oaep(
        &self,
        hash: Hash,
        mgf_hash: Hash,
        label: &[u8],
        c: &[u8],
    ) -> Option<Zeroizing<Vec<u8>>> {
        let k = self.len();
        let h_len = hash.len();
        if k < 2 * h_len + 2 {
            return None;
        }
        let em = self.private(c)?;
        let l_hash = digest::digest(algorithm(hash), label);
        let (masked_seed, masked_db) = em[1..].split_at(h_len);
        let seed: Vec<u8> = masked_seed
            .iter()
            .zip(mgf1(mgf_hash, masked_db, h_len))
            .map(|(a, b)| a ^ b)
            .collect();
        let db: Zeroizing<Vec<u8>> = Zeroizing::new(
            masked_db
                .iter()
                .zip(mgf1(mgf_hash, &seed, masked_db.len()))
                .map(|(a, b)| a ^ b)
                .collect(),
        );
        let one = db[h_len..].iter().position(|b| *b != 0).map(|i| i + h_len);
        let ok = em[0] == 0 && db[..h_len] == *l_hash.as_ref() && one.is_some_and(|i| db[i] == 1);
        if !ok {
            return None;
        }
        let start = one? + 1;
        Some(Zeroizing::new(db[start..].to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openssl(args: &[&str], input: &[u8]) -> Option<Vec<u8>> {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .ok()?;
        child.stdin.take()?.write_all(input).ok()?;
        let out = child.wait_with_output().ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// A 1,024-bit key made by OpenSSL: its signatures verify, its ciphertexts decrypt.
    #[test]
    fn openssl_1024_bit_signatures_and_ciphertexts() {
        let dir = tempfile::tempdir().expect("tmp");
        let key = dir.path().join("k.pem");
        let k = key.to_str().expect("utf-8");
        if openssl(&["genrsa", "-out", k, "1024"], b"").is_none() {
            eprintln!("skipped: no openssl");
            return;
        }
        let pkcs1 =
            openssl(&["rsa", "-in", k, "-traditional", "-outform", "DER"], b"").expect("pkcs1");
        let public = openssl(
            &["rsa", "-in", k, "-RSAPublicKey_out", "-outform", "DER"],
            b"",
        )
        .expect("public");
        assert_eq!(public_key_bits(&public), Some(1024));
        let msg = b"old mail";
        for (h, name) in [
            (Hash::Sha1, "sha1"),
            (Hash::Sha256, "sha256"),
            (Hash::Sha384, "sha384"),
        ] {
            let sig = openssl(&["dgst", &format!("-{name}"), "-sign", k], msg).expect("sign");
            verify_pkcs1(&public, h, msg, &sig).expect("PKCS#1 v1.5 verifies");
            assert_eq!(
                verify_pkcs1(&public, h, b"old mall", &sig),
                Err(SignatureError::Invalid)
            );
            let pss = openssl(
                &[
                    "dgst",
                    &format!("-{name}"),
                    "-sign",
                    k,
                    "-sigopt",
                    "rsa_padding_mode:pss",
                    "-sigopt",
                    "rsa_pss_saltlen:digest",
                ],
                msg,
            )
            .expect("pss");
            verify_pss(&public, h, h, h.len(), msg, &pss).expect("PSS verifies");
            assert!(verify_pss(&public, h, h, h.len(), b"x", &pss).is_err());
        }
        let legacy = LegacyRsaKey::from_pkcs1(&pkcs1).expect("key");
        assert_eq!(legacy.bits(), 1024);
        let pubpem = dir.path().join("p.pem");
        openssl(
            &[
                "rsa",
                "-in",
                k,
                "-pubout",
                "-out",
                pubpem.to_str().expect("u"),
            ],
            b"",
        )
        .expect("pub pem");
        let p = pubpem.to_str().expect("utf-8");
        let c = openssl(
            &["pkeyutl", "-encrypt", "-pubin", "-inkey", p],
            b"sixteen byte key",
        )
        .expect("encrypt");
        assert_eq!(
            legacy.decrypt_pkcs1(&c).as_deref().map(|v| &v[..]),
            Some(&b"sixteen byte key"[..])
        );
        let mut tampered = c.clone();
        tampered[5] ^= 1;
        assert_ne!(
            legacy.decrypt_pkcs1(&tampered).as_deref().map(|v| &v[..]),
            Some(&b"sixteen byte key"[..])
        );
        let c = openssl(
            &[
                "pkeyutl",
                "-encrypt",
                "-pubin",
                "-inkey",
                p,
                "-pkeyopt",
                "rsa_padding_mode:oaep",
                "-pkeyopt",
                "rsa_oaep_md:sha256",
                "-pkeyopt",
                "rsa_mgf1_md:sha256",
                "-pkeyopt",
                "rsa_oaep_label:6c6162656c",
            ],
            b"a key",
        )
        .expect("oaep");
        assert_eq!(
            legacy
                .decrypt_oaep(Hash::Sha256, Hash::Sha256, b"label", &c)
                .as_deref()
                .map(|v| &v[..]),
            Some(&b"a key"[..])
        );
        assert!(
            legacy
                .decrypt_oaep(Hash::Sha256, Hash::Sha256, b"other", &c)
                .is_none(),
            "the label is checked"
        );
        // A key whose numbers do not belong together is refused before use.
        let mut broken = pkcs1.clone();
        let last = broken.len() - 1;
        broken[last] ^= 1;
        assert!(LegacyRsaKey::from_pkcs1(&broken).is_err());
    }

    #[test]
    fn keys_under_1024_bits_are_unsupported() {
        // n = 2^511 + 1 (any 512-bit modulus will do for the size check).
        let mut n = [0u8; 65];
        n[1] = 0x80;
        n[64] = 1;
        let der = der::Encode::to_der(&PublicKeyDer {
            n: UintRef::new(&n[1..]).expect("n"),
            e: UintRef::new(&[1, 0, 1]).expect("e"),
        })
        .expect("der");
        assert_eq!(public_key_bits(&der), Some(512));
        assert_eq!(
            verify_pkcs1(&der, Hash::Sha256, b"m", &[0u8; 64]),
            Err(SignatureError::Unsupported("RSA key of 512 bits".into()))
        );
    }
}
