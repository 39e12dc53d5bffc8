//! SignedData (RFC 5652 5, RFC 8551 2.5): building with the signed attributes S/MIME clients
//! expect, and verifying every SignerInfo: the content digest, the signed attributes and the
//! signature value. Trust in the signer's certificate is the caller's step (the trust engine).

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, RsaEncoding};
use certmail_crypto::AwsLcOps;
use certmail_pki::sig::{Hash, SignatureAlgorithm};
use certmail_pki::{Certificate, CryptoOps};

use crate::SmimeError;
use crate::asn1::{self, Element, tag};
use crate::envelope::Der3;
use crate::keys::{CertId, KeyPair, Parsed, cert_id};
use crate::oids;

/// Options for signing.
#[derive(Debug, Clone)]
pub struct SignOptions {
    /// Digest (RSA keys; EC keys use the curve's digest).
    pub hash: Hash,
    /// RSASSA-PSS instead of PKCS#1 v1.5 for RSA keys.
    pub pss: bool,
    /// signingTime, Unix seconds.
    pub signing_time: i64,
    /// The certificate others should encrypt to (SMIMEEncryptionKeyPreference); the
    /// signing certificate when `None`.
    pub encryption_cert: Option<Certificate>,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            hash: Hash::Sha256,
            pss: false,
            signing_time: 0,
            encryption_cert: None,
        }
    }
}

/// The micalg parameter for a digest (RFC 8551 3.5.3.2).
pub fn micalg(h: Hash) -> &'static str {
    match h {
        Hash::Sha1 => "sha-1",
        Hash::Sha224 => "sha-224",
        Hash::Sha256 => "sha-256",
        Hash::Sha384 => "sha-384",
        Hash::Sha512 => "sha-512",
    }
}

fn hash_oid(h: Hash) -> &'static str {
    match h {
        Hash::Sha1 => oids::SHA1,
        Hash::Sha224 => oids::SHA224,
        Hash::Sha256 => oids::SHA256,
        Hash::Sha384 => oids::SHA384,
        Hash::Sha512 => oids::SHA512,
    }
}

fn hash_from_oid(o: &str) -> Option<Hash> {
    Some(match o {
        oids::SHA1 => Hash::Sha1,
        oids::SHA224 => Hash::Sha224,
        oids::SHA256 => Hash::Sha256,
        oids::SHA384 => Hash::Sha384,
        oids::SHA512 => Hash::Sha512,
        _ => return None,
    })
}

fn digest_alg(h: Hash) -> &'static digest::Algorithm {
    match h {
        Hash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        Hash::Sha224 => &digest::SHA224,
        Hash::Sha256 => &digest::SHA256,
        Hash::Sha384 => &digest::SHA384,
        Hash::Sha512 => &digest::SHA512,
    }
}

/// Digest over a sequence of chunks.
pub fn digest_chunks(h: Hash, chunks: &[&[u8]]) -> Vec<u8> {
    let mut ctx = digest::Context::new(digest_alg(h));
    for c in chunks {
        ctx.update(c);
    }
    ctx.finish().as_ref().to_vec()
}

/// UTCTime until 2049, GeneralizedTime after (RFC 5652 11.3).
fn time_der(t: i64) -> Vec<u8> {
    let s = certmail_pki::time::format_rfc3339(t); // YYYY-MM-DDTHH:MM:SSZ
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let year: i32 = digits[..4].parse().unwrap_or(1970);
    if (1950..2050).contains(&year) {
        asn1::tlv(tag::UTC_TIME, format!("{}Z", &digits[2..]).as_bytes())
    } else {
        asn1::tlv(tag::GENERALIZED_TIME, format!("{digits}Z").as_bytes())
    }
}

fn parse_time(e: &Element<'_>) -> Option<i64> {
    let s = std::str::from_utf8(e.body).ok()?;
    let s = s.strip_suffix('Z')?;
    let full = match e.tag {
        tag::UTC_TIME if s.len() == 12 => {
            let yy: i32 = s[..2].parse().ok()?;
            format!("{}{}", if yy < 50 { 2000 + yy } else { 1900 + yy }, &s[2..])
        }
        tag::GENERALIZED_TIME if s.len() == 14 => s.to_owned(),
        _ => return None,
    };
    let n = |r: std::ops::Range<usize>| full.get(r).and_then(|v| v.parse::<i64>().ok());
    let (y, mo, d, h, mi, se) = (
        n(0..4)?,
        n(4..6)?,
        n(6..8)?,
        n(8..10)?,
        n(10..12)?,
        n(12..14)?,
    );
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (mo + if mo > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

fn attribute(oid: &str, value: &[u8]) -> Vec<u8> {
    asn1::seq(&[&asn1::oid(oid), &asn1::cons(tag::SET, &[value])])
}

fn capabilities() -> &'static [u8] {
    static CAPS: std::sync::LazyLock<Vec<u8>> = std::sync::LazyLock::new(capabilities_der);
    &CAPS
}

/// The DER of [`capabilities`] (built once).
fn capabilities_der() -> Vec<u8> {
    let caps: Vec<Vec<u8>> = [
        oids::AES256_GCM,
        oids::AES128_GCM,
        oids::AES256_CBC,
        oids::AES192_CBC,
        oids::AES128_CBC,
    ]
    .iter()
    .map(|o| asn1::alg(o, None))
    .collect();
    let refs: Vec<&[u8]> = caps.iter().map(Vec::as_slice).collect();
    asn1::seq(&refs)
}

/// The digest a signature by `signer` uses with `opts` (EC keys: the curve's digest).
pub fn effective_hash(signer: &KeyPair, opts: &SignOptions) -> Hash {
    match &signer.key {
        Parsed::Ec { curve, .. } => match *curve {
            oids::P256 => Hash::Sha256,
            oids::P384 => Hash::Sha384,
            _ => Hash::Sha512,
        },
        Parsed::Rsa { .. } | Parsed::X25519(_) => opts.hash,
        // RFC 8419 3.1: SHA-512 for the message digest with Ed25519.
        Parsed::Ed25519(_) => Hash::Sha512,
    }
}

/// Signs the concatenation of `parts` (a canonical MIME entity) with the S/MIME signed
/// attributes. Detached (multipart/signed): the content is left out. Encapsulated (opaque
/// signed-data): the returned [`Der3`] has an empty body and the content bytes belong
/// between its head and tail — the caller writes `head`, the parts, `tail`, so the message
/// is never copied into the structure.
pub fn sign(
    parts: &[&[u8]],
    encapsulate: bool,
    signer: &KeyPair,
    chain: &[Certificate],
    opts: &SignOptions,
) -> Result<Der3, SmimeError> {
    let hash = effective_hash(signer, opts);
    // The signing key and the signature AlgorithmIdentifier that goes with it.
    let (key, sig_alg) = match &signer.key {
        Parsed::Rsa { sign: None, .. } => {
            return Err(SmimeError::Key(
                "RSA keys under 2048 bits cannot sign".into(),
            ));
        }
        Parsed::Rsa { .. } if hash == Hash::Sha1 || hash == Hash::Sha224 => {
            return Err(SmimeError::Usage(
                "sign with SHA-256, SHA-384 or SHA-512".into(),
            ));
        }
        Parsed::Rsa { sign: Some(k), .. } if opts.pss => {
            let h = asn1::alg(hash_oid(hash), Some(&asn1::NULL));
            let mgf = asn1::alg(oids::MGF1, Some(&h));
            let params = asn1::seq(&[
                &asn1::cons(0xa0, &[&h]),
                &asn1::cons(0xa1, &[&mgf]),
                &asn1::cons(0xa2, &[&asn1::uint(hash.len() as u64)]),
            ]);
            (SigningKey::Rsa(k), asn1::alg(oids::RSA_PSS, Some(&params)))
        }
        Parsed::Rsa { sign: Some(k), .. } => {
            (SigningKey::Rsa(k), asn1::alg(oids::RSA, Some(&asn1::NULL)))
        }
        Parsed::Ec { sign, .. } => {
            let oid = match hash {
                Hash::Sha256 => oids::ECDSA_SHA256,
                Hash::Sha384 => oids::ECDSA_SHA384,
                _ => oids::ECDSA_SHA512,
            };
            (SigningKey::Ec(sign), asn1::alg(oid, None))
        }
        // RFC 8419: id-Ed25519, parameters absent; pure Ed25519 over the signed attributes.
        Parsed::Ed25519(k) => (SigningKey::Ed25519(k), asn1::alg(oids::ED25519, None)),
        Parsed::X25519(_) => {
            return Err(SmimeError::Key(
                "an X25519 key agrees on keys; it cannot sign".into(),
            ));
        }
    };
    let md = digest_chunks(hash, parts);
    let content_len: usize = parts.iter().map(|p| p.len()).sum();
    let enc_cert = opts.encryption_cert.as_ref().unwrap_or(&signer.cert);
    // SMIMEEncryptionKeyPreference: issuerAndSerialNumber as [0] IMPLICIT.
    let mut pref_implicit = issuer_and_serial(enc_cert)?;
    pref_implicit[0] = 0xa0;
    let attrs = vec![
        attribute(oids::ATTR_CONTENT_TYPE, &asn1::oid(oids::DATA)),
        attribute(oids::ATTR_SIGNING_TIME, &time_der(opts.signing_time)),
        attribute(
            oids::ATTR_MESSAGE_DIGEST,
            &asn1::tlv(tag::OCTET_STRING, &md),
        ),
        attribute(oids::ATTR_SMIME_CAPABILITIES, capabilities()),
        attribute(oids::ATTR_ENCRYPTION_KEY_PREFERENCE, &pref_implicit),
    ];
    let signed_attrs = asn1::set_of(attrs);
    let rng = SystemRandom::new();
    let sig = match key {
        SigningKey::Rsa(k) => {
            let enc: &'static dyn RsaEncoding = match (opts.pss, hash) {
                (false, Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
                (false, Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
                (false, _) => &signature::RSA_PKCS1_SHA256,
                (true, Hash::Sha384) => &signature::RSA_PSS_SHA384,
                (true, Hash::Sha512) => &signature::RSA_PSS_SHA512,
                (true, _) => &signature::RSA_PSS_SHA256,
            };
            let mut s = vec![0u8; k.public_modulus_len()];
            k.sign(enc, &rng, &signed_attrs, &mut s)
                .map_err(|_| SmimeError::Crypto("RSA signing".into()))?;
            s
        }
        SigningKey::Ec(k) => k
            .sign(&rng, &signed_attrs)
            .map_err(|_| SmimeError::Crypto("ECDSA signing".into()))?
            .as_ref()
            .to_vec(),
        SigningKey::Ed25519(k) => k.sign(&signed_attrs).as_ref().to_vec(),
    };
    let mut attrs_implicit = signed_attrs;
    attrs_implicit[0] = 0xa0;
    let digest_alg_id = asn1::alg(hash_oid(hash), None);
    let signer_info = asn1::seq(&[
        &asn1::uint(1),
        &issuer_and_serial(&signer.cert)?,
        &digest_alg_id,
        &attrs_implicit,
        &sig_alg,
        &asn1::tlv(tag::OCTET_STRING, &sig),
    ]);
    let mut certs: Vec<&[u8]> = vec![&signer.cert.der];
    for c in chain {
        if c.sha256 != signer.cert.sha256 && !certs.contains(&c.der.as_slice()) {
            certs.push(&c.der);
        }
    }
    let certs = asn1::cons(0xa0, &certs);
    let tail_inner = [certs, asn1::cons(tag::SET, &[&signer_info])].concat();
    let version = asn1::uint(1);
    let digest_algs = asn1::cons(tag::SET, &[&digest_alg_id]);
    let ct_data = asn1::oid(oids::DATA);
    // encapContentInfo: SEQUENCE { data, [0] EXPLICIT OCTET STRING content }
    let (eci_head, body_len) = if encapsulate {
        let os_hdr = asn1::header(tag::OCTET_STRING, content_len);
        let explicit_len = os_hdr.len() + content_len;
        let explicit_hdr = asn1::header(0xa0, explicit_len);
        let eci_len = ct_data.len() + explicit_hdr.len() + explicit_len;
        let mut h = asn1::header(tag::SEQUENCE, eci_len);
        h.extend_from_slice(&ct_data);
        h.extend_from_slice(&explicit_hdr);
        h.extend_from_slice(&os_hdr);
        (h, content_len)
    } else {
        (asn1::seq(&[&ct_data]), 0)
    };
    let sd_len = version.len() + digest_algs.len() + eci_head.len() + body_len + tail_inner.len();
    let sd_hdr = asn1::header(tag::SEQUENCE, sd_len);
    let ex_len = sd_hdr.len() + sd_len;
    let ex_hdr = asn1::header(0xa0, ex_len);
    let ct = asn1::oid(oids::SIGNED_DATA);
    let mut head = asn1::header(tag::SEQUENCE, ct.len() + ex_hdr.len() + ex_len);
    for p in [&ct, &ex_hdr, &sd_hdr, &version, &digest_algs, &eci_head] {
        head.extend_from_slice(p);
    }
    Ok(Der3 {
        head,
        body: Vec::new(),
        tail: tail_inner,
    })
}

/// The private key a signature is made with.
enum SigningKey<'a> {
    Rsa(&'a signature::RsaKeyPair),
    Ec(&'a signature::EcdsaKeyPair),
    Ed25519(&'a signature::Ed25519KeyPair),
}

/// The DER IssuerAndSerialNumber of `cert`.
fn issuer_and_serial(cert: &Certificate) -> Result<Vec<u8>, SmimeError> {
    Ok(cert_id(cert, false)?
        .issuer_serial_der()
        .unwrap_or_default())
}

/// Most SignerInfos in one SignedData: each gives a verification and a handful of report
/// headers (20,000 gave 140,002 headers, more than any reader takes).
pub const MAX_SIGNER_INFOS: usize = 16;
/// Most certificates one SignedData may carry (each is parsed).
pub const MAX_CERTIFICATES: usize = 256;

/// A parsed SignedData.
#[derive(Debug)]
pub struct SignedData<'a> {
    /// eContentType.
    pub content_type: String,
    /// The encapsulated content chunks (None when detached).
    pub content: Option<Vec<&'a [u8]>>,
    /// Certificates carried in the message (those that parse).
    pub certificates: Vec<Certificate>,
    signer_infos: Vec<Element<'a>>,
}

/// The verification result for one signer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignerCheck {
    /// How the SignerInfo names its certificate.
    pub signer_id: String,
    /// The signer's certificate, when found in the message or among the extra certificates.
    #[serde(skip)]
    pub cert: Option<Certificate>,
    /// Digest algorithm.
    pub digest: String,
    /// Signature algorithm.
    pub algorithm: String,
    /// signingTime, Unix seconds.
    pub signing_time: Option<i64>,
    /// `Ok` when the digest, the attributes and the signature value all check.
    #[serde(skip)]
    pub result: Result<(), CheckFailure>,
}

/// Why a SignerInfo did not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckFailure {
    /// An algorithm or key certmail does not check (an RSA key under 1,024 bits, an unknown
    /// digest or signature algorithm): nothing is known about the content.
    Unsupported(String),
    /// The signature was checked and is wrong, or the SignerInfo is malformed.
    Failed(String),
}

impl std::fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckFailure::Unsupported(s) => write!(f, "unsupported: {s}"),
            CheckFailure::Failed(s) => f.write_str(s),
        }
    }
}

impl From<String> for CheckFailure {
    fn from(s: String) -> Self {
        CheckFailure::Failed(s)
    }
}

impl From<&str> for CheckFailure {
    fn from(s: &str) -> Self {
        CheckFailure::Failed(s.to_owned())
    }
}

/// A signature check's error as a failure: unsupported algorithms and keys apart.
fn signature_failure(e: certmail_pki::SignatureError, changed: bool) -> CheckFailure {
    match e {
        certmail_pki::SignatureError::Unsupported(s) => CheckFailure::Unsupported(s),
        certmail_pki::SignatureError::Invalid if changed => {
            CheckFailure::Failed("the signature does not verify: the content was changed".into())
        }
        other => CheckFailure::Failed(format!("signature: {other}")),
    }
}

/// Parses a SignedData ContentInfo (DER or BER).
pub fn parse(der: &[u8]) -> Result<SignedData<'_>, SmimeError> {
    let (ct, sd) = asn1::content_info(der, "SignedData")?;
    if ct != oids::SIGNED_DATA {
        return Err(SmimeError::Malformed(format!(
            "not a signed-data object (content type {ct})"
        )));
    }
    let eci = sd
        .get(2)
        .ok_or_else(|| SmimeError::Malformed("encapContentInfo".into()))?
        .children()?;
    let content_type = eci
        .first()
        .ok_or_else(|| SmimeError::Malformed("eContentType".into()))?
        .oid()?;
    let content = match eci.get(1) {
        Some(e) if e.tag == 0xa0 => Some(
            e.children()?
                .first()
                .ok_or_else(|| SmimeError::Malformed("eContent".into()))?
                .octet_chunks()?,
        ),
        _ => None,
    };
    let mut certificates = Vec::new();
    let mut i = 3;
    if let Some(cs) = sd.get(i).filter(|e| e.tag == 0xa0) {
        let all = cs.children()?;
        if all.len() > MAX_CERTIFICATES {
            return Err(SmimeError::Limit(format!(
                "the signature carries {} certificates, more than {MAX_CERTIFICATES}",
                all.len()
            )));
        }
        for ce in all {
            if ce.tag == tag::SEQUENCE
                && let Ok(cert) = Certificate::from_der(&ce.to_der()?, &AwsLcOps)
            {
                certificates.push(cert);
            }
        }
        i += 1;
    }
    if sd.get(i).is_some_and(|e| e.tag == 0xa1) {
        i += 1; // crls: the trust engine gets CRLs from the CRL store
    }
    let signer_infos = sd
        .get(i)
        .filter(|e| e.tag == tag::SET)
        .ok_or_else(|| SmimeError::Malformed("signerInfos".into()))?
        .children()?;
    if signer_infos.len() > MAX_SIGNER_INFOS {
        return Err(SmimeError::Limit(format!(
            "the signature has {} signers, more than {MAX_SIGNER_INFOS}",
            signer_infos.len()
        )));
    }
    Ok(SignedData {
        content_type,
        content,
        certificates,
        signer_infos,
    })
}

impl SignedData<'_> {
    /// Verifies every SignerInfo over `detached` (multipart/signed) or the encapsulated
    /// content. `alt` is a second rendering of the detached content to try (the bytes as
    /// received when `detached` is the CRLF-canonical form). `extra` are candidate signer
    /// certificates from outside the message.
    pub fn verify(
        &self,
        detached: Option<&[u8]>,
        alt: Option<&[u8]>,
        extra: &[Certificate],
        allow_sha1: bool,
    ) -> Vec<SignerCheck> {
        let mut out = Vec::new();
        for si in &self.signer_infos {
            out.push(self.verify_one(si, detached, alt, extra, allow_sha1));
        }
        out
    }

    fn verify_one(
        &self,
        si: &Element<'_>,
        detached: Option<&[u8]>,
        alt: Option<&[u8]>,
        extra: &[Certificate],
        allow_sha1: bool,
    ) -> SignerCheck {
        let mut check = SignerCheck {
            signer_id: String::new(),
            cert: None,
            digest: String::new(),
            algorithm: String::new(),
            signing_time: None,
            result: Err("unparsed".into()),
        };
        check.result = (|| -> Result<(), CheckFailure> {
            let f = si.children().map_err(|e| e.to_string())?;
            if f.len() < 5 {
                return Err("malformed SignerInfo".into());
            }
            let sid = match f[1].tag {
                tag::SEQUENCE => CertId::from_issuer_serial(&f[1]).map_err(|e| e.to_string())?,
                0x80 | 0xa0 => CertId::KeyId(f[1].octets().map_err(|e| e.to_string())?),
                _ => return Err("malformed SignerIdentifier".into()),
            };
            check.signer_id = sid.describe();
            let cert = self
                .certificates
                .iter()
                .chain(extra)
                .find(|c| sid.matches(c))
                .cloned();
            // Named in the report even when the signature is refused below.
            check.cert = cert.clone();
            let digest_oid = f[2]
                .children()
                .ok()
                .and_then(|a| a.first().and_then(|o| o.oid().ok()))
                .ok_or("malformed digestAlgorithm")?;
            check.digest = oids::name(&digest_oid).to_owned();
            let hash = hash_from_oid(&digest_oid).ok_or_else(|| {
                CheckFailure::Unsupported(format!("digest algorithm {digest_oid}"))
            })?;
            if hash == Hash::Sha1 && !allow_sha1 {
                return Err("SHA-1 signatures are not accepted".into());
            }
            let mut k = 3;
            let attrs = f.get(k).filter(|e| e.tag == 0xa0).copied();
            if attrs.is_some() {
                k += 1;
            }
            let sig_alg_el = f.get(k).ok_or("malformed SignerInfo")?;
            let sig = f
                .get(k + 1)
                .filter(|e| e.tag & 0xdf == tag::OCTET_STRING)
                .ok_or("malformed signature")?
                .octets()
                .map_err(|e| e.to_string())?;
            let alg = signature_algorithm(sig_alg_el, hash)?;
            check.algorithm = format!("{alg:?}");
            let cert = cert.ok_or("the signer's certificate is not in the message or the store")?;
            check.cert = Some(cert.clone());
            let mut key = cert.public_key_ref();
            if key.algorithm == DSA && key.parameters.is_none() {
                key.parameters = inherited_dsa_parameters(&cert, &self.certificates, extra);
            }
            let content_variants: Vec<Vec<&[u8]>> = match (detached, &self.content) {
                (Some(d), _) => std::iter::once(vec![d])
                    .chain(alt.map(|a| vec![a]))
                    .collect(),
                (None, Some(c)) => vec![c.clone()],
                (None, None) => return Err("detached signature without content".into()),
            };
            match attrs {
                Some(a) => {
                    let mut der = a.to_der().map_err(|e| e.to_string())?;
                    der[0] = tag::SET;
                    let mut md = None;
                    let mut ct = None;
                    for attr in a.children().map_err(|e| e.to_string())? {
                        let p = attr.children().map_err(|e| e.to_string())?;
                        let (Some(o), Some(vals)) = (p.first(), p.get(1)) else {
                            return Err("malformed attribute".into());
                        };
                        let vals = vals.children().map_err(|e| e.to_string())?;
                        let oid = o.oid().map_err(|e| e.to_string())?;
                        let single = || {
                            if vals.len() == 1 {
                                Ok(vals[0])
                            } else {
                                Err(format!("attribute {oid} must have one value"))
                            }
                        };
                        match oid.as_str() {
                            oids::ATTR_MESSAGE_DIGEST => {
                                if md.is_some() {
                                    return Err("two messageDigest attributes".into());
                                }
                                md = Some(single()?.octets().map_err(|e| e.to_string())?);
                            }
                            oids::ATTR_CONTENT_TYPE => {
                                ct = Some(single()?.oid().map_err(|e| e.to_string())?);
                            }
                            oids::ATTR_SIGNING_TIME => check.signing_time = parse_time(&single()?),
                            _ => {}
                        }
                    }
                    let md = md.ok_or("signed attributes without messageDigest")?;
                    if ct.as_deref() != Some(self.content_type.as_str()) {
                        return Err("the contentType attribute does not match the content".into());
                    }
                    if !content_variants
                        .iter()
                        .any(|c| digest_chunks(hash, c) == md)
                    {
                        return Err(
                            "the message digest does not match: the content was changed".into()
                        );
                    }
                    AwsLcOps
                        .verify_signature(&alg, key, &der, &sig)
                        .map_err(|e| signature_failure(e, false))
                }
                None => {
                    // Any variant that verifies wins; otherwise the first one's failure
                    // (an unsupported key fails the same way for all of them).
                    let mut first = None;
                    for c in &content_variants {
                        match AwsLcOps.verify_signature(&alg, key, &c.concat(), &sig) {
                            Ok(()) => return Ok(()),
                            Err(e) => {
                                first.get_or_insert(e);
                            }
                        }
                    }
                    Err(signature_failure(
                        first.unwrap_or(certmail_pki::SignatureError::Invalid),
                        true,
                    ))
                }
            }
        })();
        check
    }
}

/// id-dsa (as a CMS signatureAlgorithm, RFC 3370 3.1, and as a key algorithm).
const DSA: &str = crate::oids::checked("1.2.840.10040.4.1");

/// The DSA parameters a signer's key without them inherits (RFC 3279 2.3.2): those of the
/// nearest issuer above it, by name, among the certificates at hand. The trust engine
/// checks that chain afterwards; wrong parameters only make the signature fail.
fn inherited_dsa_parameters<'c>(
    cert: &Certificate,
    sent: &'c [Certificate],
    extra: &'c [Certificate],
) -> Option<&'c [u8]> {
    let mut issuer = &cert.vd.issuer;
    for _ in 0..4 {
        let up = sent
            .iter()
            .chain(extra)
            .find(|c| c.vd.subject == *issuer && c.vd.key_oid == DSA)?;
        if let Some(p) = up.vd.key_parameters.as_deref() {
            return Some(p);
        }
        issuer = &up.vd.issuer;
    }
    None
}

fn signature_algorithm(e: &Element<'_>, hash: Hash) -> Result<SignatureAlgorithm, CheckFailure> {
    let c = e.children().map_err(|e| e.to_string())?;
    let oid = c
        .first()
        .and_then(|o| o.oid().ok())
        .ok_or("malformed signatureAlgorithm")?;
    let alg = match oid.as_str() {
        oids::RSA => SignatureAlgorithm::RsaPkcs1(hash),
        oids::EC_PUBLIC_KEY => SignatureAlgorithm::Ecdsa(hash),
        DSA => SignatureAlgorithm::Dsa(hash),
        _ => {
            use der::Decode;
            let a =
                spki::AlgorithmIdentifierOwned::from_der(&e.to_der().map_err(|e| e.to_string())?)
                    .map_err(|e| e.to_string())?;
            certmail_pki::sig::parse(&a)
        }
    };
    if let SignatureAlgorithm::Unsupported(s) = &alg {
        return Err(CheckFailure::Unsupported(format!(
            "signature algorithm {s}"
        )));
    }
    if alg.hash().is_some_and(|h| h != hash) && !matches!(alg, SignatureAlgorithm::RsaPss { .. }) {
        return Err("the signature algorithm's digest differs from the digestAlgorithm".into());
    }
    Ok(alg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        let t = 1_763_000_000;
        let d = time_der(t);
        let e = Element::parse(&d).expect("time");
        assert_eq!(e.tag, tag::UTC_TIME);
        assert_eq!(parse_time(&e), Some(t));
        let far = 2_600_000_000 + 86_400 * 365 * 10;
        let d = time_der(far);
        let e = Element::parse(&d).expect("time");
        assert_eq!(e.tag, tag::GENERALIZED_TIME);
        assert_eq!(parse_time(&e), Some(far));
    }
}
