//! Ciphers that are only ever *read*: RC2-CBC (RFC 2268) in old PKCS#12 files and S/MIME
//! mail, and triple DES with two or three keys. Nothing is written with them.

use rc2::Rc2;
use rc2::cipher::{BlockCipherDecrypt, KeyInit};

/// CBC decryption over an 8-byte block cipher, PKCS#7 padding removed.
fn cbc_decrypt<C: BlockCipherDecrypt<BlockSize = rc2::cipher::consts::U8>>(
    cipher: &C,
    iv: &[u8],
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    if iv.len() != 8 || ciphertext.is_empty() || !ciphertext.len().is_multiple_of(8) {
        return None;
    }
    let mut out = Vec::with_capacity(ciphertext.len());
    let mut prev = [0u8; 8];
    prev.copy_from_slice(iv);
    for block in ciphertext.chunks_exact(8) {
        let mut b = rc2::cipher::Block::<C>::try_from(block).ok()?;
        cipher.decrypt_block(&mut b);
        for (o, p) in b.iter().zip(prev) {
            out.push(o ^ p);
        }
        prev.copy_from_slice(block);
    }
    let pad = usize::from(*out.last()?);
    if pad == 0
        || pad > 8
        || out[out.len() - pad..]
            .iter()
            .any(|b| usize::from(*b) != pad)
    {
        return None;
    }
    out.truncate(out.len() - pad);
    Some(out)
}

/// RC2-CBC decryption with PKCS#7 padding removed; `None` when the key, IV or padding is
/// wrong. `effective_bits` is RC2's effective key length (40 for RC2-40).
pub fn rc2_cbc_decrypt(
    key: &[u8],
    effective_bits: usize,
    iv: &[u8],
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    if key.is_empty() || key.len() > 128 || !(1..=1024).contains(&effective_bits) {
        return None;
    }
    let cipher = if effective_bits == key.len() * 8 {
        Rc2::new_from_slice(key).ok()?
    } else {
        Rc2::new_with_eff_key_len(key, effective_bits)
    };
    cbc_decrypt(&cipher, iv, ciphertext)
}

/// The RC2 effective key bits of an RC2-CBC parameter version (RFC 2268 section 6): 160
/// is 40 bits, 120 is 64, 58 is 128; a value of 256 or more is the bit count itself.
pub fn rc2_effective_bits(version: u32) -> Option<usize> {
    match version {
        160 => Some(40),
        120 => Some(64),
        58 => Some(128),
        v if v >= 256 => Some(v as usize),
        _ => None,
    }
}

/// Triple-DES-CBC decryption (24-byte three-key or 16-byte two-key keys) with PKCS#7
/// padding removed; `None` on a wrong key or padding. (aws-lc-rs refuses two-key keys.)
pub fn des3_cbc_decrypt(key: &[u8], iv: &[u8], ciphertext: &[u8]) -> Option<Vec<u8>> {
    match key.len() {
        24 => cbc_decrypt(&des::TdesEde3::new_from_slice(key).ok()?, iv, ciphertext),
        16 => cbc_decrypt(&des::TdesEde2::new_from_slice(key).ok()?, iv, ciphertext),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against OpenSSL (its legacy provider):
    /// `openssl enc -rc2-40-cbc -K 0102030405 -iv 0001020304050607` of "legacy bytes\n".
    #[test]
    fn rc2_40_matches_openssl() {
        let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg("printf 'legacy bytes\\n' | openssl enc -provider legacy -provider default -rc2-40-cbc -K 0102030405 -iv 0001020304050607")
            .output()
        else {
            return;
        };
        if !out.status.success() {
            eprintln!("skipped: openssl has no RC2");
            return;
        }
        let plain = rc2_cbc_decrypt(&[1, 2, 3, 4, 5], 40, &[0, 1, 2, 3, 4, 5, 6, 7], &out.stdout);
        assert_eq!(plain.as_deref(), Some(&b"legacy bytes\n"[..]));
        assert!(
            rc2_cbc_decrypt(&[1, 2, 3, 4, 6], 40, &[0, 1, 2, 3, 4, 5, 6, 7], &out.stdout)
                .is_none_or(|p| p != b"legacy bytes\n")
        );
    }
}

#[cfg(test)]
mod des_tests {
    use super::*;

    /// Two-key 3DES against OpenSSL's `des-ede-cbc`.
    #[test]
    fn two_key_3des_matches_openssl() {
        let Ok(out) = std::process::Command::new("sh")
            .arg("-c")
            .arg("printf 'legacy bytes\\n' | openssl enc -des-ede-cbc -K 0123456789abcdeffedcba9876543210 -iv 0001020304050607")
            .output()
        else {
            return;
        };
        assert!(out.status.success());
        let key = hex::decode("0123456789abcdeffedcba9876543210").expect("hex");
        let plain = des3_cbc_decrypt(&key, &[0, 1, 2, 3, 4, 5, 6, 7], &out.stdout);
        assert_eq!(plain.as_deref(), Some(&b"legacy bytes\n"[..]));
    }
}
