//! The work a PKCS#12 file asks for, bounded before any of it is done: every key derivation
//! (the MAC's, each PBES1 or PBES2 encryption's) names an iteration count, and a file of a
//! thousand bags at a million iterations each would pin a core for minutes. The whole file
//! is walked first (DER or BER, into the OCTET STRINGs that carry the nested structures),
//! each count is held to [`MAX_ITERATIONS`] and their sum to [`MAX_FILE_ITERATIONS`], with
//! one message whichever reader would have read the file.
//!
//! Bags inside an encrypted content (`encryptedData`) are only visible once it is
//! decrypted; their counts are held to the per-step limit by the readers.

use certmail_pki::ber::{self, Tlv};

use crate::error::CryptoError;

/// Most iterations of one key derivation (the PKCS#12 reader's own limit; OpenSSL, NSS and
/// Windows write 2,048 to 600,000).
pub const MAX_ITERATIONS: u64 = 1_000_000;
/// Most iterations of all key derivations of one file together: a hundred keys at 100,000
/// (certmail's own default) pass, a thousand at a million do not.
pub const MAX_FILE_ITERATIONS: u64 = 10_000_000;
/// Most key derivations in one file.
pub const MAX_DERIVATIONS: usize = 1_000;

/// 1.2.840.113549.1.12.1.*: the PKCS#12 PBES1 schemes.
const OID_PKCS12_PBE: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x01];
/// 1.2.840.113549.1.5.13 PBES2 and 1.2.840.113549.1.5.12 PBKDF2.
const OID_PBES2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0d];
const OID_PBKDF2: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05, 0x0c];
/// 1.2.840.113549.1.5.3, .10, .11 (and the other PKCS#5 PBES1 schemes).
const OID_PKCS5_PBE1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x05];

struct Tally {
    total: u64,
    steps: usize,
}

impl Tally {
    fn add(&mut self, n: u64) -> Result<(), CryptoError> {
        if n > MAX_ITERATIONS {
            return Err(CryptoError::BadPkcs12(format!(
                "a key derivation with {n} iterations, over the limit of {MAX_ITERATIONS} per step"
            )));
        }
        self.total += n;
        self.steps += 1;
        if self.total > MAX_FILE_ITERATIONS || self.steps > MAX_DERIVATIONS {
            return Err(CryptoError::BadPkcs12(format!(
                "the file asks for more than {MAX_FILE_ITERATIONS} key-derivation iterations (or {MAX_DERIVATIONS} derivations) in all: refused before any was done"
            )));
        }
        Ok(())
    }
}

/// An INTEGER's value (up to 8 bytes); `None` for anything else.
fn integer(t: &Tlv) -> Option<u64> {
    if t.tag_byte() != 0x02 {
        return None;
    }
    let b = t.flatten();
    let b = b.strip_prefix(&[0]).unwrap_or(&b);
    (b.len() <= 8).then(|| b.iter().fold(0u64, |a, x| (a << 8) | u64::from(*x)))
}

fn oid(t: &Tlv) -> Option<Vec<u8>> {
    (t.tag_byte() == 0x06).then(|| t.flatten())
}

/// The iteration count of an AlgorithmIdentifier of a password-based scheme, if it is one.
fn iterations_of(alg: &Tlv) -> Option<u64> {
    let [id, params, ..] = alg.children() else {
        return None;
    };
    let id = oid(id)?;
    if id == OID_PBES2 {
        // PBES2-params { keyDerivationFunc { PBKDF2, { salt, iterationCount, ... } }, ... }
        let kdf = params.children().first()?;
        let [kdf_id, kdf_params, ..] = kdf.children() else {
            return None;
        };
        if oid(kdf_id)? != OID_PBKDF2 {
            return None;
        }
        return kdf_params.children().get(1).and_then(integer);
    }
    let pbe1 = id.starts_with(OID_PKCS12_PBE) && id.len() == OID_PKCS12_PBE.len() + 1;
    // pbeWithMD2AndDES-CBC .1, MD5-DES .3, MD2-RC2 .4, MD5-RC2 .6, SHA1-DES .10, SHA1-RC2 .11
    let pkcs5 = id.starts_with(OID_PKCS5_PBE1)
        && id.len() == OID_PKCS5_PBE1.len() + 1
        && matches!(id[id.len() - 1], 1 | 3 | 4 | 6 | 10 | 11);
    if pbe1 || pkcs5 {
        // pkcs-12PbeParams / PBEParameter { salt, iterations }
        return params.children().get(1).and_then(integer);
    }
    None
}

fn walk(t: &Tlv, depth: usize, tally: &mut Tally) -> Result<(), CryptoError> {
    if depth > ber::MAX_DEPTH {
        return Ok(());
    }
    if t.tag_byte() == 0x30
        && let Some(n) = iterations_of(t)
    {
        tally.add(n)?;
    }
    for c in t.children() {
        walk(c, depth + 1, tally)?;
    }
    // Nested structures travel in OCTET STRINGs (authSafe, data content infos, bag values).
    if t.tag_byte() & 0x1f == 0x04 {
        let inner = t.flatten();
        if inner.first() == Some(&0x30)
            && let Ok(parsed) = ber::parse(&inner)
        {
            walk(&parsed, depth + 1, tally)?;
        }
    }
    Ok(())
}

/// Refuses a PKCS#12 file whose key derivations would cost more than the limits.
pub(crate) fn check(data: &[u8]) -> Result<(), CryptoError> {
    let pfx = ber::parse(data).map_err(|e| CryptoError::BadPkcs12(e.to_string()))?;
    let mut tally = Tally { total: 0, steps: 0 };
    // MacData { mac, macSalt, iterations DEFAULT 1 }
    if let Some(mac) = pfx.children().get(2)
        && let Some(n) = mac.children().get(2).and_then(integer)
    {
        tally.add(n)?;
    }
    walk(&pfx, 0, &mut tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(c: Vec<Tlv>) -> Tlv {
        Tlv::constructed(0x30, c)
    }
    fn octets(b: Vec<u8>) -> Tlv {
        Tlv::primitive(0x04, b)
    }
    fn int(n: u64) -> Tlv {
        let mut b: Vec<u8> = n
            .to_be_bytes()
            .iter()
            .copied()
            .skip_while(|x| *x == 0)
            .collect();
        if b.first().is_none_or(|x| *x & 0x80 != 0) {
            b.insert(0, 0);
        }
        Tlv::primitive(0x02, b)
    }
    fn oid_tlv(b: &[u8]) -> Tlv {
        Tlv::primitive(0x06, b.to_vec())
    }

    /// A PFX with `bags` PBES2 shrouded key bags at `iter` iterations (nothing decrypts:
    /// the check comes first).
    fn pfx(bags: usize, iter: u64) -> Vec<u8> {
        let shrouded = [
            0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x0c, 0x0a, 0x01, 0x02,
        ];
        let data = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01];
        let aes = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a];
        let bag = || {
            let alg = seq(vec![
                oid_tlv(OID_PBES2),
                seq(vec![
                    seq(vec![
                        oid_tlv(OID_PBKDF2),
                        seq(vec![octets(vec![1; 8]), int(iter)]),
                    ]),
                    seq(vec![oid_tlv(&aes), octets(vec![0; 16])]),
                ]),
            ]);
            seq(vec![
                oid_tlv(&shrouded),
                Tlv::constructed(0xa0, vec![seq(vec![alg, octets(vec![0; 32])])]),
            ])
        };
        let safe_contents = seq((0..bags).map(|_| bag()).collect()).to_der();
        let auth_safe = seq(vec![seq(vec![
            oid_tlv(&data),
            Tlv::constructed(0xa0, vec![octets(safe_contents)]),
        ])])
        .to_der();
        seq(vec![
            int(3),
            seq(vec![
                oid_tlv(&data),
                Tlv::constructed(0xa0, vec![octets(auth_safe)]),
            ]),
        ])
        .to_der()
    }

    #[test]
    fn the_whole_files_iterations_are_bounded_before_any_is_done() {
        assert!(check(&pfx(3, 600_000)).is_ok());
        let e = check(&pfx(1_000, 1_000_000)).expect_err("1,000 bags at a million");
        assert!(e.to_string().contains("in all"), "{e}");
        let e = check(&pfx(1, 8_388_608)).expect_err("one step over the limit");
        assert!(e.to_string().contains("per step"), "{e}");
        // The public reader says the same, before deriving anything.
        let e = crate::pkcs12::read(&pfx(1_000, 1_000_000), Some("pw")).expect_err("refused");
        assert!(e.to_string().contains("in all"), "{e}");
    }
}
