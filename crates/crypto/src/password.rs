//! Login passwords and bearer secrets: Argon2id password hashes in PHC form, random tokens,
//! and SHA-256 fingerprints for secrets that are looked up (API tokens, session ids).

use base64ct::{Base64Unpadded, Base64UrlUnpadded, Encoding};
use zeroize::Zeroizing;

use crate::CryptoError;

/// Argon2id parameters for login passwords (OWASP's 19 MiB, 2 passes, 1 lane).
const M_KIB: u32 = 19 * 1024;
const T: u32 = 2;
const P: u32 = 1;

fn argon(m: u32, t: u32, p: u32) -> Result<argon2::Argon2<'static>, CryptoError> {
    let params = argon2::Params::new(m, t, p, Some(32)).map_err(|_| CryptoError::Rng)?;
    Ok(argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        params,
    ))
}

/// Hashes a password: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (PHC string format).
pub fn hash_password(password: &[u8]) -> Result<String, CryptoError> {
    let mut salt = [0u8; 16];
    crate::random_bytes(&mut salt)?;
    let mut out = Zeroizing::new([0u8; 32]);
    argon(M_KIB, T, P)?
        .hash_password_into(password, &salt, out.as_mut())
        .map_err(|_| CryptoError::Rng)?;
    Ok(format!(
        "$argon2id$v=19$m={M_KIB},t={T},p={P}${}${}",
        Base64Unpadded::encode_string(&salt),
        Base64Unpadded::encode_string(out.as_ref())
    ))
}

/// Checks a password against a PHC string made by [`hash_password`] (in constant time
/// over the hash). A malformed string never matches.
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    let parts: Vec<&str> = phc.split('$').collect();
    let [_, "argon2id", "v=19", params, salt, hash] = parts.as_slice() else {
        return false;
    };
    let mut m = 0;
    let mut t = 0;
    let mut p = 0;
    for kv in params.split(',') {
        match kv.split_once('=') {
            Some(("m", v)) => m = v.parse().unwrap_or(0),
            Some(("t", v)) => t = v.parse().unwrap_or(0),
            Some(("p", v)) => p = v.parse().unwrap_or(0),
            _ => return false,
        }
    }
    // Refuse parameters that would let a stored string exhaust memory or time.
    if !(8..=1024 * 1024).contains(&m) || !(1..=16).contains(&t) || !(1..=16).contains(&p) {
        return false;
    }
    let (Ok(salt), Ok(expected)) = (
        Base64Unpadded::decode_vec(salt),
        Base64Unpadded::decode_vec(hash),
    ) else {
        return false;
    };
    if expected.len() != 32 {
        return false;
    }
    let Ok(a) = argon(m, t, p) else { return false };
    let mut out = Zeroizing::new([0u8; 32]);
    if a.hash_password_into(password, &salt, out.as_mut()).is_err() {
        return false;
    }
    aws_lc_rs::constant_time::verify_slices_are_equal(out.as_ref(), &expected).is_ok()
}

/// A random secret of 32 bytes, URL-safe base64 (43 characters), prefixed with `prefix`.
pub fn random_token(prefix: &str) -> Result<Zeroizing<String>, CryptoError> {
    let mut b = Zeroizing::new([0u8; 32]);
    crate::random_bytes(b.as_mut())?;
    Ok(Zeroizing::new(format!(
        "{prefix}{}",
        Base64UrlUnpadded::encode_string(b.as_ref())
    )))
}

/// SHA-256 of a secret, hex: what is stored and looked up instead of the secret.
pub fn fingerprint(secret: &str) -> String {
    hex_lower(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes()).as_ref())
}

fn hex_lower(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash_password(b"correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify_password(&h, b"correct horse"));
        assert!(!verify_password(&h, b"correct horsf"));
        assert!(!verify_password(&h, b""));
        // Two hashes of one password differ (random salt).
        assert_ne!(h, hash_password(b"correct horse").expect("hash"));
    }

    #[test]
    fn malformed_or_hostile_strings_never_match() {
        let h = hash_password(b"pw").expect("hash");
        for bad in [
            "",
            "$argon2i$v=19$m=19456,t=2,p=1$AAAA$AAAA",
            &h.replace("m=19456", "m=4294967295"),
            &h.replace("t=2", "t=1000"),
            &h[..h.len() - 2],
            "plain text",
        ] {
            assert!(!verify_password(bad, b"pw"), "{bad}");
        }
    }

    #[test]
    fn tokens_are_random_and_fingerprinted() {
        let a = random_token("cm_").expect("token");
        let b = random_token("cm_").expect("token");
        assert_ne!(*a, *b);
        assert_eq!(a.len(), 3 + 43);
        assert_eq!(fingerprint(&a).len(), 64);
        assert_ne!(fingerprint(&a), fingerprint(&b));
    }
}
