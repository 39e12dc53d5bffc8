//! DSA signature verification (FIPS 186-4 section 4.7), for old CAs and archived mail:
//! verification only, over public values (no secret is involved, so plain big-integer
//! arithmetic is fine). aws-lc-rs offers no DSA.

use der::Decode;
use der::asn1::UintRef;
use num_bigint::BigUint;

use certmail_pki::ops::SignatureError;

/// Dss-Parms (RFC 3279 2.3.2).
#[derive(der::Sequence)]
pub(crate) struct DssParms<'a> {
    pub(crate) p: UintRef<'a>,
    pub(crate) q: UintRef<'a>,
    pub(crate) g: UintRef<'a>,
}

/// Dss-Sig-Value (RFC 3279 2.2.2).
#[derive(der::Sequence)]
struct DssSig<'a> {
    r: UintRef<'a>,
    s: UintRef<'a>,
}

fn big(u: &UintRef<'_>) -> BigUint {
    BigUint::from_bytes_be(u.as_bytes())
}

/// Verifies `sig` (DER Dss-Sig-Value) over a message whose digest is `digest`, with the
/// public key `y` (DER INTEGER, the subjectPublicKey) and `params` (DER Dss-Parms).
pub(crate) fn verify(
    params: &[u8],
    y: &[u8],
    digest: &[u8],
    sig: &[u8],
) -> Result<(), SignatureError> {
    let malformed = |what: &str| SignatureError::Unsupported(format!("DSA: malformed {what}"));
    let parms = DssParms::from_der(params).map_err(|_| malformed("parameters"))?;
    let (p, q, g) = (big(&parms.p), big(&parms.q), big(&parms.g));
    // FIPS 186-4 sizes (L up to 3072, N of 160, 224 or 256), and a bound on the work a
    // hostile key can ask for.
    if p.bits() > 4096 || !matches!(q.bits(), 160 | 224 | 256) || g <= BigUint::from(1u8) {
        return Err(malformed("domain parameters (sizes)"));
    }
    let y = big(&UintRef::from_der(y).map_err(|_| malformed("public key"))?);
    let s = DssSig::from_der(sig).map_err(|_| SignatureError::Invalid)?;
    let (r, s) = (big(&s.r), big(&s.s));
    let zero = BigUint::ZERO;
    if r == zero || s == zero || r >= q || s >= q {
        return Err(SignatureError::Invalid);
    }
    // z: the leftmost min(N, outlen) bits of the digest.
    let n = q.bits() as usize;
    let mut z = BigUint::from_bytes_be(digest);
    if digest.len() * 8 > n {
        z >>= digest.len() * 8 - n;
    }
    // q is prime: s^-1 = s^(q-2) mod q.
    let w = s.modpow(&(&q - 2u8), &q);
    let u1 = (&z * &w) % &q;
    let u2 = (&r * &w) % &q;
    let v = ((g.modpow(&u1, &p) * y.modpow(&u2, &p)) % &p) % &q;
    if v == r {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}
