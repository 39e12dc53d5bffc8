//! Login passwords and bearer secrets: Argon2id password hashes in PHC form, random tokens,
//! and SHA-256 fingerprints for secrets that are looked up (API tokens, session ids).

use base64ct::{Base64UrlUnpadded, Encoding};
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

/// Hashes a password: `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>` (PHC string format,
/// written by the `argon2` crate's `password-hash` support).
pub fn hash_password(password: &[u8]) -> Result<String, CryptoError> {
    use argon2::PasswordHasher;
    let mut salt = [0u8; 16];
    crate::random_bytes(&mut salt)?;
    let hash = argon(M_KIB, T, P)?
        .hash_password_with_salt(password, &salt)
        .map_err(|_| CryptoError::Rng)?;
    Ok(hash.to_string())
}

/// Checks a password against a PHC string made by [`hash_password`] (parsed by the
/// `password-hash` crate; the hash compared in constant time). A malformed string, another
/// algorithm, or parameters that would let a stored string exhaust memory or time never
/// match.
pub fn verify_password(phc: &str, password: &[u8]) -> bool {
    use argon2::PasswordVerifier;
    let Ok(hash) = argon2::PasswordHash::new(phc) else {
        return false;
    };
    if hash.algorithm != argon2::ARGON2ID_IDENT
        || hash.version != Some(0x13)
        || hash.hash.as_ref().map(|h| h.len()) != Some(32)
    {
        return false;
    }
    let Ok(params) = argon2::Params::try_from(&hash) else {
        return false;
    };
    let (m, t, p) = (params.m_cost(), params.t_cost(), params.p_cost());
    if !(8..=1024 * 1024).contains(&m) || !(1..=16).contains(&t) || !(1..=16).contains(&p) {
        return false;
    }
    let Ok(a) = argon(m, t, p) else { return false };
    a.verify_password(password, &hash).is_ok()
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

    /// Hashes stored before the `password-hash` crate wrote them (the same PHC form, made
    /// by hand from `hash_password_into`) still verify.
    #[test]
    fn hashes_in_the_earlier_hand_made_form_verify() {
        use base64ct::Base64Unpadded;
        let salt = [7u8; 16];
        let mut out = [0u8; 32];
        argon(M_KIB, T, P)
            .expect("argon")
            .hash_password_into(b"old password", &salt, &mut out)
            .expect("hash");
        let old = format!(
            "$argon2id$v=19$m={M_KIB},t={T},p={P}${}${}",
            Base64Unpadded::encode_string(&salt),
            Base64Unpadded::encode_string(&out)
        );
        assert!(verify_password(&old, b"old password"));
        assert!(!verify_password(&old, b"old passwore"));
        use argon2::PasswordHasher;
        let new = argon(M_KIB, T, P)
            .expect("argon")
            .hash_password_with_salt(b"old password", &salt)
            .expect("hash")
            .to_string();
        assert_eq!(new, old, "the crate writes the form certmail wrote");
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
