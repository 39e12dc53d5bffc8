//! EnvelopedData (RFC 5652 6) and AuthEnvelopedData (RFC 5083/5084): building for any number
//! of RSA (PKCS#1 v1.5 or OAEP key transport) and EC (RFC 5753 ephemeral-static ECDH)
//! recipients, and decrypting with whichever private key matches a RecipientInfo.
//!
//! The content is encrypted in place in the buffer it arrives in, and decrypted from its BER
//! chunks into one buffer, so a large message costs one copy of its content, whatever the
//! number of recipients. PKCS#1 v1.5 failures take the RFC 3218 path: a random key of the
//! right length is used instead, so the caller sees the same "cannot decrypt" whether the key
//! transport or the content was wrong.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::agreement::{self, UnparsedPublicKey};
use aws_lc_rs::cipher::{
    self, DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey,
    UnboundCipherKey,
};
use aws_lc_rs::digest;
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::key_wrap::{self, KeyEncryptionKey, KeyWrap};
use aws_lc_rs::rsa::{
    self, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, Pkcs1PrivateDecryptingKey,
    Pkcs1PublicEncryptingKey, PublicEncryptingKey,
};
use certmail_crypto::random_bytes;
use certmail_pki::Certificate;
use std::borrow::Borrow;
use zeroize::Zeroizing;

use crate::SmimeError;
use crate::asn1::{self, Element, tag};
use crate::keys::{CertId, KeyPair, Parsed, RsaDecrypt, cert_id};
use crate::oids;
use certmail_pki::sig::Hash;

/// Content-encryption algorithms certmail writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum Cipher {
    /// AES-128-CBC.
    Aes128Cbc,
    /// AES-192-CBC.
    Aes192Cbc,
    /// AES-256-CBC (the default: every S/MIME client reads it).
    #[default]
    Aes256Cbc,
    /// AES-128-GCM AuthEnvelopedData.
    Aes128Gcm,
    /// AES-256-GCM AuthEnvelopedData (RFC 5083/5084; Outlook cannot read it).
    Aes256Gcm,
    /// ChaCha20-Poly1305 AuthEnvelopedData (RFC 8103; S/MIME 4.0, few clients read it).
    ChaCha20Poly1305,
}

impl Cipher {
    fn oid(self) -> &'static str {
        match self {
            Cipher::Aes128Cbc => oids::AES128_CBC,
            Cipher::Aes192Cbc => oids::AES192_CBC,
            Cipher::Aes256Cbc => oids::AES256_CBC,
            Cipher::Aes128Gcm => oids::AES128_GCM,
            Cipher::Aes256Gcm => oids::AES256_GCM,
            Cipher::ChaCha20Poly1305 => oids::CHACHA20_POLY1305,
        }
    }

    fn key_len(self) -> usize {
        match self {
            Cipher::Aes128Cbc | Cipher::Aes128Gcm => 16,
            Cipher::Aes192Cbc => 24,
            Cipher::Aes256Cbc | Cipher::Aes256Gcm | Cipher::ChaCha20Poly1305 => 32,
        }
    }

    /// Whether this is an AuthEnvelopedData cipher.
    pub fn is_aead(self) -> bool {
        matches!(
            self,
            Cipher::Aes128Gcm | Cipher::Aes256Gcm | Cipher::ChaCha20Poly1305
        )
    }

    /// The AEAD of an AuthEnvelopedData cipher.
    fn aead(self) -> &'static aead::Algorithm {
        match self {
            Cipher::Aes128Gcm => &aead::AES_128_GCM,
            Cipher::ChaCha20Poly1305 => &aead::CHACHA20_POLY1305,
            _ => &aead::AES_256_GCM,
        }
    }
}

/// Options for building an envelope.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncryptOptions {
    /// Content cipher.
    pub cipher: Cipher,
    /// RSAES-OAEP (SHA-256, MGF1-SHA-256) instead of PKCS#1 v1.5 for RSA recipients.
    pub oaep: bool,
    /// Identify recipients by subject key identifier instead of issuer and serial number.
    pub by_key_id: bool,
}

/// A DER encoding in three pieces: the header, the (large) content and the trailer.
/// Written one after the other they are the complete structure.
#[derive(Debug, Default)]
pub struct Der3 {
    /// Everything before the content bytes.
    pub head: Vec<u8>,
    /// The content bytes.
    pub body: Vec<u8>,
    /// Everything after.
    pub tail: Vec<u8>,
}

impl Der3 {
    /// Joined (small structures, tests).
    pub fn concat(&self) -> Vec<u8> {
        [&self.head[..], &self.body, &self.tail].concat()
    }
}

fn crypto(what: &str) -> SmimeError {
    SmimeError::Crypto(what.to_owned())
}

/// The SubjectPublicKeyInfo DER of a certificate (for aws-lc-rs key parsing).
fn spki_der(cert: &Certificate) -> Result<Vec<u8>, SmimeError> {
    Ok(crate::keys::tbs_field(cert, 5)?.raw.to_vec())
}

fn oaep_params_sha256() -> Vec<u8> {
    let sha256 = asn1::alg(oids::SHA256, Some(&asn1::NULL));
    let mgf = asn1::alg(oids::MGF1, Some(&sha256));
    asn1::seq(&[&asn1::cons(0xa0, &[&sha256]), &asn1::cons(0xa1, &[&mgf])])
}

/// X9.63 KDF (RFC 5753 7.2, SEC 1 3.6.1).
fn x963_kdf(hash: &'static digest::Algorithm, z: &[u8], shared_info: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    let mut counter: u32 = 1;
    while out.len() < len {
        let mut ctx = digest::Context::new(hash);
        ctx.update(z);
        ctx.update(&counter.to_be_bytes());
        ctx.update(shared_info);
        out.extend_from_slice(ctx.finish().as_ref());
        counter += 1;
    }
    out.truncate(len);
    out
}

/// HKDF (RFC 5869) as RFC 8418 2.2 uses it: the ukm (if any) as salt, the shared secret as
/// input keying material, ECC-CMS-SharedInfo as info.
fn hkdf(
    alg: aws_lc_rs::hkdf::Algorithm,
    z: &[u8],
    salt: &[u8],
    info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, SmimeError> {
    struct Len(usize);
    impl aws_lc_rs::hkdf::KeyType for Len {
        fn len(&self) -> usize {
            self.0
        }
    }
    let prk = aws_lc_rs::hkdf::Salt::new(alg, salt).extract(z);
    let info = [info];
    let okm = prk.expand(&info, Len(len)).map_err(|_| crypto("HKDF"))?;
    let mut out = Zeroizing::new(vec![0u8; len]);
    okm.fill(&mut out).map_err(|_| crypto("HKDF"))?;
    Ok(out)
}

/// The key-encryption key of a key agreement: X9.63 KDF for the ECDH schemes of RFC 5753,
/// HKDF for those of RFC 8418.
fn agreed_kek(
    scheme: &str,
    z: &[u8],
    ukm: Option<&[u8]>,
    shared_info: &[u8],
    len: usize,
) -> Result<Zeroizing<Vec<u8>>, SmimeError> {
    let h = match scheme {
        oids::HKDF_SHA256_SCHEME => aws_lc_rs::hkdf::HKDF_SHA256,
        oids::HKDF_SHA384_SCHEME => aws_lc_rs::hkdf::HKDF_SHA384,
        oids::HKDF_SHA512_SCHEME => aws_lc_rs::hkdf::HKDF_SHA512,
        other => {
            let hash = kdf_hash(other).ok_or_else(|| {
                SmimeError::Unsupported(format!("key agreement {}", oids::name(other)))
            })?;
            return Ok(Zeroizing::new(x963_kdf(hash, z, shared_info, len)));
        }
    };
    hkdf(h, z, ukm.unwrap_or_default(), shared_info, len)
}

/// ECC-CMS-SharedInfo (RFC 5753 7.2).
fn ecc_shared_info(wrap_oid: &str, ukm: Option<&[u8]>, kek_len: usize) -> Vec<u8> {
    let key_info = asn1::alg(wrap_oid, None);
    let bits = ((kek_len * 8) as u32).to_be_bytes();
    let supp = asn1::cons(0xa2, &[&asn1::tlv(tag::OCTET_STRING, &bits)]);
    match ukm {
        Some(u) => {
            let e = asn1::cons(0xa0, &[&asn1::tlv(tag::OCTET_STRING, u)]);
            asn1::seq(&[&key_info, &e, &supp])
        }
        None => asn1::seq(&[&key_info, &supp]),
    }
}

fn wrap_for(key_len: usize) -> Result<(&'static str, usize), SmimeError> {
    Ok(match key_len {
        16 => (oids::AES128_WRAP, 16),
        24 | 32 => (oids::AES256_WRAP, 32),
        _ => {
            return Err(SmimeError::Unsupported(
                "key length for AES key wrap".into(),
            ));
        }
    })
}

fn aes_wrap(kek: &[u8], cek: &[u8]) -> Result<Vec<u8>, SmimeError> {
    let mut out = vec![0u8; cek.len() + 8];
    let n = match kek.len() {
        16 => KeyEncryptionKey::new(&key_wrap::AES_128, kek),
        32 => KeyEncryptionKey::new(&key_wrap::AES_256, kek),
        _ => return Err(SmimeError::Unsupported("AES-192 key wrap".into())),
    }
    .map_err(|_| crypto("key wrap"))?
    .wrap(cek, &mut out)
    .map_err(|_| crypto("key wrap"))?
    .len();
    out.truncate(n);
    Ok(out)
}

fn aes_unwrap(kek: &[u8], wrapped: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let n = match kek.len() {
        16 => KeyEncryptionKey::new(&key_wrap::AES_128, kek),
        32 => KeyEncryptionKey::new(&key_wrap::AES_256, kek),
        _ => return None,
    }
    .ok()?
    .unwrap(wrapped, &mut out)
    .ok()?
    .len();
    out.truncate(n);
    Some(out)
}

fn ecdh_alg(curve: &str) -> Option<&'static agreement::Algorithm> {
    match curve {
        oids::P256 => Some(&agreement::ECDH_P256),
        oids::P384 => Some(&agreement::ECDH_P384),
        oids::P521 => Some(&agreement::ECDH_P521),
        _ => None,
    }
}

/// The RSA public key of a SubjectPublicKeyInfo, parsed once per process: parsing and
/// checking it, and the Montgomery context aws-lc then builds on first use, cost about as much
/// as the PKCS#1 encryption of a content key itself, and a gateway encrypts to the same
/// partners all day. Public keys only; at most 1,024 are kept (the cache is emptied when full).
fn rsa_public_key(spki: &[u8]) -> Result<PublicEncryptingKey, aws_lc_rs::error::KeyRejected> {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static KEYS: LazyLock<Mutex<HashMap<Vec<u8>, PublicEncryptingKey>>> =
        LazyLock::new(|| Mutex::new(HashMap::new()));
    {
        let keys = crate::lock(&KEYS);
        if let Some(k) = keys.get(spki) {
            return Ok(k.clone());
        }
    }
    let k = PublicEncryptingKey::from_der(spki)?;
    {
        let mut keys = crate::lock(&KEYS);
        if keys.len() >= 1024 {
            keys.clear();
        }
        keys.insert(spki.to_vec(), k.clone());
    }
    Ok(k)
}

/// A KeyAgreeRecipientInfo (RFC 5652 6.2.2, version 3) for one recipient: the ephemeral
/// public key (`key_alg`, parameters absent) as originator, the key-encryption algorithm
/// `kea` (the KDF scheme with its key wrap) and the wrapped content-encryption key.
fn kari(rid: &CertId, key_alg: &str, eph_pub: &[u8], kea: &[u8], wrapped: &[u8]) -> Vec<u8> {
    let mut bits = vec![0u8];
    bits.extend_from_slice(eph_pub);
    let originator = asn1::cons(
        0xa0,
        &[&asn1::cons(
            0xa1,
            &[
                &asn1::alg(key_alg, None),
                &asn1::tlv(tag::BIT_STRING, &bits),
            ],
        )],
    );
    let rid = match rid {
        CertId::IssuerSerial { .. } => rid.issuer_serial_der().unwrap_or_default(),
        CertId::KeyId(k) => asn1::cons(0xa0, &[&asn1::tlv(tag::OCTET_STRING, k)]),
    };
    let rek = asn1::seq(&[&rid, &asn1::tlv(tag::OCTET_STRING, wrapped)]);
    asn1::cons(
        0xa1,
        &[&asn1::uint(3), &originator, kea, &asn1::seq(&[&rek])],
    )
}

fn recipient_info(
    cert: &Certificate,
    cek: &[u8],
    opts: &EncryptOptions,
) -> Result<(Vec<u8>, bool), SmimeError> {
    let rid = cert_id(cert, opts.by_key_id)?;
    let key_oid = cert.vd.key_oid.as_str();
    if key_oid == oids::RSA {
        let pk = rsa_public_key(&spki_der(cert)?)
            .map_err(|e| SmimeError::Certificate(format!("{}: {e}", cert.subject)))?;
        let (alg, ek) = if opts.oaep {
            let k = OaepPublicEncryptingKey::new(pk).map_err(|_| crypto("OAEP key"))?;
            let mut out = vec![0u8; k.ciphertext_size()];
            let n = k
                .encrypt(&rsa::OAEP_SHA256_MGF1SHA256, cek, &mut out, None)
                .map_err(|_| crypto("OAEP encryption"))?
                .len();
            out.truncate(n);
            (asn1::alg(oids::RSA_OAEP, Some(&oaep_params_sha256())), out)
        } else {
            let k = Pkcs1PublicEncryptingKey::new(pk).map_err(|_| crypto("RSA key"))?;
            let mut out = vec![0u8; k.ciphertext_size()];
            let n = k
                .encrypt(cek, &mut out)
                .map_err(|_| crypto("RSA encryption"))?
                .len();
            out.truncate(n);
            (asn1::alg(oids::RSA, Some(&asn1::NULL)), out)
        };
        let (version, rid) = match &rid {
            CertId::IssuerSerial { .. } => (0, rid.issuer_serial_der().unwrap_or_default()),
            CertId::KeyId(k) => (2, asn1::tlv(0x80, k)),
        };
        let ktri = asn1::seq(&[
            &asn1::uint(version),
            &rid,
            &alg,
            &asn1::tlv(tag::OCTET_STRING, &ek),
        ]);
        Ok((ktri, version != 0))
    } else if key_oid == oids::EC_PUBLIC_KEY {
        let curve = cert.vd.key_curve.as_deref().unwrap_or_default();
        let alg = ecdh_alg(curve)
            .ok_or_else(|| SmimeError::Unsupported(format!("EC curve {curve} for ECDH")))?;
        let eph = agreement::PrivateKey::generate(alg).map_err(|_| crypto("ECDH key"))?;
        let eph_pub = eph.compute_public_key().map_err(|_| crypto("ECDH key"))?;
        let (wrap_oid, kek_len) = wrap_for(cek.len())?;
        let shared = ecc_shared_info(wrap_oid, None, kek_len);
        let kek = agreement::agree(
            &eph,
            UnparsedPublicKey::new(alg, cert.vd.public_key.as_slice()),
            SmimeError::Certificate(format!("{}: bad EC public key", cert.subject)),
            |z| {
                Ok(Zeroizing::new(x963_kdf(
                    &digest::SHA256,
                    z,
                    &shared,
                    kek_len,
                )))
            },
        )?;
        let wrapped = aes_wrap(&kek, cek)?;
        let kea = asn1::alg(oids::ECDH_SHA256KDF, Some(&asn1::alg(wrap_oid, None)));
        Ok((
            kari(&rid, oids::EC_PUBLIC_KEY, eph_pub.as_ref(), &kea, &wrapped),
            true,
        ))
    } else if key_oid == oids::X25519 {
        // RFC 8418: an ephemeral X25519 key, HKDF-SHA256, AES key wrap.
        let eph = agreement::PrivateKey::generate(&agreement::X25519)
            .map_err(|_| crypto("X25519 key"))?;
        let eph_pub = eph.compute_public_key().map_err(|_| crypto("X25519 key"))?;
        let (wrap_oid, kek_len) = wrap_for(cek.len())?;
        let shared = ecc_shared_info(wrap_oid, None, kek_len);
        let kek = agreement::agree(
            &eph,
            UnparsedPublicKey::new(&agreement::X25519, cert.vd.public_key.as_slice()),
            SmimeError::Certificate(format!("{}: bad X25519 public key", cert.subject)),
            |z| hkdf(aws_lc_rs::hkdf::HKDF_SHA256, z, &[], &shared, kek_len),
        )?;
        let wrapped = aes_wrap(&kek, cek)?;
        let kea = asn1::alg(oids::HKDF_SHA256_SCHEME, Some(&asn1::alg(wrap_oid, None)));
        Ok((
            kari(&rid, oids::X25519, eph_pub.as_ref(), &kea, &wrapped),
            true,
        ))
    } else {
        Err(SmimeError::Unsupported(format!(
            "{}: {} keys cannot receive encrypted mail",
            cert.subject, key_oid
        )))
    }
}

/// Encrypts the concatenation of `parts` with AES-CBC to every certificate in `recipients`,
/// writing the EnvelopedData as base64 lines to `out` as it goes: memory use is a few
/// buffers of 64 KiB whatever the message size.
pub fn encrypt_cbc_stream<W: std::io::Write + ?Sized, C: Borrow<Certificate>>(
    parts: &[&[u8]],
    recipients: &[C],
    opts: &EncryptOptions,
    out: &mut W,
) -> Result<(), SmimeError> {
    use aws_lc_rs::cipher::StreamingEncryptingKey;
    if opts.cipher.is_aead() {
        return Err(SmimeError::Usage("streaming is for CBC ciphers".into()));
    }
    let io = |e: std::io::Error| SmimeError::Io(e.to_string());
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let padded = (total / 16 + 1) * 16;
    let (head, ck) = envelope_head(padded, 0, recipients, opts)?;
    let iv: [u8; 16] = ck.iv[..].try_into().map_err(|_| crypto("IV"))?;
    let mut key = StreamingEncryptingKey::less_safe_cbc_pkcs7(
        UnboundCipherKey::new(cbc_alg(opts.cipher), &ck.cek).map_err(|_| crypto("AES key"))?,
        EncryptionContext::Iv128(FixedLength::from(iv)),
    )
    .map_err(|_| crypto("AES key"))?;
    let mut enc = crate::b64::LineEncoder::new(out);
    enc.write(&head).map_err(io)?;
    const CHUNK: usize = 57 * 1024;
    // No bigger than the largest piece needs (a 10 KB message zeroed 57 KiB before).
    let widest = parts.iter().map(|p| p.len().min(CHUNK)).max().unwrap_or(0);
    let mut buf = vec![0u8; widest + 16];
    for p in parts {
        for chunk in p.chunks(CHUNK) {
            let n = key
                .update(chunk, &mut buf)
                .map_err(|_| crypto("AES-CBC"))?
                .written()
                .len();
            enc.write(&buf[..n]).map_err(io)?;
        }
    }
    let (_, last) = key.finish(&mut buf).map_err(|_| crypto("AES-CBC"))?;
    let n = last.written().len();
    enc.write(&buf[..n]).map_err(io)?;
    enc.finish().map_err(io)
}

/// A fresh content-encryption key with its IV (CBC) or nonce (GCM).
struct ContentKey {
    cek: Zeroizing<Vec<u8>>,
    iv: Vec<u8>,
}

/// The DER up to the encrypted content of an EnvelopedData (CBC) or AuthEnvelopedData
/// (GCM) whose content is `content_len` bytes and is followed by `tail_len` bytes (the GCM
/// mac), with a fresh key.
fn envelope_head<C: Borrow<Certificate>>(
    content_len: usize,
    tail_len: usize,
    recipients: &[C],
    opts: &EncryptOptions,
) -> Result<(Vec<u8>, ContentKey), SmimeError> {
    if recipients.is_empty() {
        return Err(SmimeError::Usage("no recipients to encrypt to".into()));
    }
    let aead = opts.cipher.is_aead();
    let mut cek = Zeroizing::new(vec![0u8; opts.cipher.key_len()]);
    random_bytes(&mut cek).map_err(|_| crypto("RNG"))?;
    let mut ris = Vec::with_capacity(recipients.len());
    let mut v2 = false;
    for r in recipients {
        let (ri, not_v0) = recipient_info(r.borrow(), &cek, opts)?;
        v2 |= not_v0;
        ris.push(ri);
    }
    let ris = asn1::set_of(ris);
    let mut iv = vec![0u8; if aead { 12 } else { 16 }];
    random_bytes(&mut iv).map_err(|_| crypto("RNG"))?;
    let params = if opts.cipher == Cipher::ChaCha20Poly1305 {
        // AEADChaCha20Poly1305Nonce ::= OCTET STRING (SIZE(12)) (RFC 8103 3).
        asn1::tlv(tag::OCTET_STRING, &iv)
    } else if aead {
        asn1::seq(&[&asn1::tlv(tag::OCTET_STRING, &iv), &asn1::uint(16)])
    } else {
        asn1::tlv(tag::OCTET_STRING, &iv)
    };
    let alg = asn1::alg(opts.cipher.oid(), Some(&params));
    let mut eci_prefix = asn1::oid(oids::DATA);
    eci_prefix.extend_from_slice(&alg);
    asn1::push_header(&mut eci_prefix, 0x80, content_len);
    let eci_len = eci_prefix.len() + content_len;
    let eci_hdr = asn1::header(tag::SEQUENCE, eci_len);
    // RFC 5652 6.1 / RFC 5083 2.1: AuthEnvelopedData is always version 0.
    let version = asn1::uint(if v2 && !aead { 2 } else { 0 });
    let inner_len = version.len() + ris.len() + eci_hdr.len() + eci_len + tail_len;
    let inner_hdr = asn1::header(tag::SEQUENCE, inner_len);
    let explicit_len = inner_hdr.len() + inner_len;
    let explicit_hdr = asn1::header(0xa0, explicit_len);
    let ct_oid = asn1::oid(if aead {
        oids::AUTH_ENVELOPED_DATA
    } else {
        oids::ENVELOPED_DATA
    });
    let outer_len = ct_oid.len() + explicit_hdr.len() + explicit_len;
    let mut head = asn1::header(tag::SEQUENCE, outer_len);
    for p in [
        &ct_oid,
        &explicit_hdr,
        &inner_hdr,
        &version,
        &ris,
        &eci_hdr,
        &eci_prefix,
    ] {
        head.extend_from_slice(p);
    }
    Ok((head, ContentKey { cek, iv }))
}

fn cbc_alg(c: Cipher) -> &'static cipher::Algorithm {
    match c {
        Cipher::Aes128Cbc => &cipher::AES_128,
        Cipher::Aes192Cbc => &cipher::AES_192,
        _ => &cipher::AES_256,
    }
}

/// Encrypts `content` (a MIME entity, CRLF) to every certificate in `recipients`. The
/// buffer is encrypted in place and becomes the envelope's body.
pub fn encrypt<C: Borrow<Certificate>>(
    mut content: Vec<u8>,
    recipients: &[C],
    opts: &EncryptOptions,
) -> Result<Der3, SmimeError> {
    if opts.cipher.is_aead() {
        // The mac OCTET STRING (16 bytes) follows the content.
        let (head, key) = envelope_head(content.len(), 18, recipients, opts)?;
        let k = LessSafeKey::new(
            UnboundKey::new(opts.cipher.aead(), &key.cek).map_err(|_| crypto("AEAD key"))?,
        );
        let nonce = Nonce::try_assume_unique_for_key(&key.iv).map_err(|_| crypto("nonce"))?;
        let mac = k
            .seal_in_place_separate_tag(nonce, Aad::empty(), &mut content)
            .map_err(|_| crypto("AEAD"))?;
        return Ok(Der3 {
            head,
            body: content,
            tail: asn1::tlv(tag::OCTET_STRING, mac.as_ref()),
        });
    }
    let padded = (content.len() / 16 + 1) * 16;
    let (head, key) = envelope_head(padded, 0, recipients, opts)?;
    let iv: [u8; 16] = key.iv[..].try_into().map_err(|_| crypto("IV"))?;
    let k = PaddedBlockEncryptingKey::cbc_pkcs7(
        UnboundCipherKey::new(cbc_alg(opts.cipher), &key.cek).map_err(|_| crypto("AES key"))?,
    )
    .map_err(|_| crypto("AES key"))?;
    content.reserve_exact(16);
    k.less_safe_encrypt(
        &mut content,
        EncryptionContext::Iv128(FixedLength::from(iv)),
    )
    .map_err(|_| crypto("AES-CBC"))?;
    Ok(Der3 {
        head,
        body: content,
        tail: Vec::new(),
    })
}

/// One RecipientInfo as read.
#[derive(Debug)]
pub enum RecipientInfo<'a> {
    /// Key transport (RSA).
    KeyTrans {
        /// Recipient.
        rid: CertId,
        /// Key-encryption algorithm OID.
        alg: String,
        /// Its parameters, if any.
        params: Option<Element<'a>>,
        /// The encrypted content-encryption key.
        encrypted_key: &'a [u8],
    },
    /// Key agreement (ECDH).
    KeyAgree {
        /// Originator's ephemeral public point.
        originator: Vec<u8>,
        /// User keying material.
        ukm: Option<Vec<u8>>,
        /// Key agreement algorithm OID.
        alg: String,
        /// Key wrap algorithm OID.
        wrap: String,
        /// Recipients and their wrapped keys.
        keys: Vec<(CertId, &'a [u8])>,
    },
    /// Anything else (KEK, password, other): listed, never used.
    Other(u8),
}

impl RecipientInfo<'_> {
    /// The recipients this entry addresses.
    pub fn ids(&self) -> Vec<&CertId> {
        match self {
            RecipientInfo::KeyTrans { rid, .. } => vec![rid],
            RecipientInfo::KeyAgree { keys, .. } => keys.iter().map(|(r, _)| r).collect(),
            RecipientInfo::Other(_) => vec![],
        }
    }
}

/// A parsed EnvelopedData or AuthEnvelopedData.
#[derive(Debug)]
pub struct Enveloped<'a> {
    /// AuthEnvelopedData (GCM).
    pub authenticated: bool,
    /// Recipient entries.
    pub recipients: Vec<RecipientInfo<'a>>,
    /// Content-encryption algorithm OID.
    pub cipher: String,
    params: Option<Element<'a>>,
    content: Vec<&'a [u8]>,
    auth_attrs: Option<Vec<u8>>,
    mac: Vec<u8>,
}

/// What decryption found, for the report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Decrypted {
    /// Content cipher name.
    pub cipher: String,
    /// Key transport / agreement name.
    pub key_algorithm: String,
    /// Every recipient the message was encrypted to.
    pub recipients: Vec<String>,
    /// The certificate whose key decrypted it (SHA-256 thumbprint).
    pub decrypted_with: String,
    /// The decrypting key when it is weak (`RSA key of 1024 bits`: under 2,048 bits).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weak_key: Option<String>,
}

fn parse_ri(e: Element<'_>) -> Result<RecipientInfo<'_>, SmimeError> {
    match e.tag {
        tag::SEQUENCE => {
            let c = e.children()?;
            if c.len() != 4 {
                return Err(SmimeError::Malformed("KeyTransRecipientInfo".into()));
            }
            let rid = match c[1].tag {
                tag::SEQUENCE => CertId::from_issuer_serial(&c[1])?,
                0x80 | 0xa0 => CertId::KeyId(c[1].octets()?),
                _ => return Err(SmimeError::Malformed("RecipientIdentifier".into())),
            };
            let alg = c[2].children()?;
            Ok(RecipientInfo::KeyTrans {
                rid,
                alg: alg
                    .first()
                    .ok_or_else(|| SmimeError::Malformed("AlgorithmIdentifier".into()))?
                    .oid()?,
                params: alg.get(1).copied(),
                encrypted_key: c[3].body,
            })
        }
        0xa1 => {
            let c = e.children()?;
            // version, originator [0], ukm [1]?, keyEncryptionAlgorithm, recipientEncryptedKeys
            let mut i = 1;
            let orig = c
                .get(i)
                .filter(|x| x.tag == 0xa0)
                .ok_or_else(|| SmimeError::Malformed("KeyAgreeRecipientInfo originator".into()))?
                .children()?;
            let okey = orig
                .first()
                .filter(|x| x.tag == 0xa1)
                .ok_or_else(|| {
                    SmimeError::Unsupported("key agreement without an originator key".into())
                })?
                .children()?;
            let bits = okey
                .get(1)
                .filter(|x| x.tag == tag::BIT_STRING && !x.body.is_empty())
                .ok_or_else(|| SmimeError::Malformed("originator public key".into()))?;
            i += 1;
            let mut ukm = None;
            if let Some(u) = c.get(i).filter(|x| x.tag == 0xa1) {
                ukm = Some(
                    u.children()?
                        .first()
                        .ok_or_else(|| SmimeError::Malformed("ukm".into()))?
                        .octets()?,
                );
                i += 1;
            }
            let kea = c
                .get(i)
                .ok_or_else(|| SmimeError::Malformed("keyEncryptionAlgorithm".into()))?
                .children()?;
            let alg = kea
                .first()
                .ok_or_else(|| SmimeError::Malformed("keyEncryptionAlgorithm".into()))?
                .oid()?;
            let wrap = kea
                .get(1)
                .ok_or_else(|| SmimeError::Malformed("key wrap algorithm".into()))?
                .children()?
                .first()
                .ok_or_else(|| SmimeError::Malformed("key wrap algorithm".into()))?
                .oid()?;
            let mut keys = Vec::new();
            for rek in c
                .get(i + 1)
                .ok_or_else(|| SmimeError::Malformed("recipientEncryptedKeys".into()))?
                .children()?
            {
                let r = rek.children()?;
                if r.len() != 2 {
                    return Err(SmimeError::Malformed("RecipientEncryptedKey".into()));
                }
                let rid = match r[0].tag {
                    tag::SEQUENCE => CertId::from_issuer_serial(&r[0])?,
                    0xa0 => CertId::KeyId(
                        r[0].children()?
                            .first()
                            .ok_or_else(|| SmimeError::Malformed("rKeyId".into()))?
                            .octets()?,
                    ),
                    _ => return Err(SmimeError::Malformed("KeyAgreeRecipientIdentifier".into())),
                };
                keys.push((rid, r[1].body));
            }
            Ok(RecipientInfo::KeyAgree {
                originator: bits.body[1..].to_vec(),
                ukm,
                alg,
                wrap,
                keys,
            })
        }
        t => Ok(RecipientInfo::Other(t)),
    }
}

/// Parses an EnvelopedData or AuthEnvelopedData ContentInfo (DER or BER).
pub fn parse(der: &[u8]) -> Result<Enveloped<'_>, SmimeError> {
    let (ct, ed) = asn1::content_info(der, "EnvelopedData")?;
    let authenticated = match ct.as_str() {
        oids::ENVELOPED_DATA => false,
        oids::AUTH_ENVELOPED_DATA => true,
        other => {
            return Err(SmimeError::Malformed(format!(
                "not an enveloped-data object (content type {other})"
            )));
        }
    };
    let mut i = 1;
    if ed.get(i).is_some_and(|e| e.tag == 0xa0) {
        i += 1; // originatorInfo
    }
    let ris = ed
        .get(i)
        .filter(|e| e.tag == tag::SET)
        .ok_or_else(|| SmimeError::Malformed("recipientInfos".into()))?
        .children()?
        .into_iter()
        .map(parse_ri)
        .collect::<Result<Vec<_>, _>>()?;
    let eci = ed
        .get(i + 1)
        .ok_or_else(|| SmimeError::Malformed("encryptedContentInfo".into()))?
        .children()?;
    let alg = eci
        .get(1)
        .ok_or_else(|| SmimeError::Malformed("contentEncryptionAlgorithm".into()))?
        .children()?;
    let content = match eci.get(2) {
        Some(e) if e.tag & 0xdf == 0x80 => e.octet_chunks()?,
        _ => return Err(SmimeError::Malformed("no encrypted content".into())),
    };
    let (mut auth_attrs, mut mac) = (None, Vec::new());
    if authenticated {
        let mut j = i + 2;
        if let Some(a) = ed.get(j).filter(|e| e.tag == 0xa1) {
            let mut d = a.to_der()?;
            d[0] = tag::SET;
            auth_attrs = Some(d);
            j += 1;
        }
        mac = ed
            .get(j)
            .filter(|e| e.tag & 0xdf == tag::OCTET_STRING)
            .ok_or_else(|| SmimeError::Malformed("AuthEnvelopedData without mac".into()))?
            .octets()?;
    }
    Ok(Enveloped {
        authenticated,
        recipients: ris,
        cipher: alg
            .first()
            .ok_or_else(|| SmimeError::Malformed("contentEncryptionAlgorithm".into()))?
            .oid()?,
        params: alg.get(1).copied(),
        content,
        auth_attrs,
        mac,
    })
}

fn kdf_hash(alg: &str) -> Option<&'static digest::Algorithm> {
    Some(match alg {
        oids::ECDH_SHA1KDF => &digest::SHA1_FOR_LEGACY_USE_ONLY,
        oids::ECDH_SHA224KDF => &digest::SHA224,
        oids::ECDH_SHA256KDF => &digest::SHA256,
        oids::ECDH_SHA384KDF => &digest::SHA384,
        oids::ECDH_SHA512KDF => &digest::SHA512,
        _ => return None,
    })
}

impl Enveloped<'_> {
    /// Every recipient, described.
    pub fn recipient_names(&self) -> Vec<String> {
        self.recipients
            .iter()
            .flat_map(|r| match r {
                RecipientInfo::Other(t) => vec![format!("unsupported RecipientInfo {t:#04x}")],
                _ => r.ids().into_iter().map(CertId::describe).collect(),
            })
            .collect()
    }

    /// Every recipient identifier.
    pub fn recipient_ids(&self) -> Vec<CertId> {
        self.recipients
            .iter()
            .flat_map(|r| r.ids().into_iter().cloned())
            .collect()
    }

    fn key_len(&self) -> Result<usize, SmimeError> {
        Ok(match self.cipher.as_str() {
            oids::AES128_CBC | oids::AES128_GCM => 16,
            oids::AES192_CBC | oids::AES192_GCM | oids::DES_EDE3_CBC => 24,
            oids::AES256_CBC | oids::AES256_GCM | oids::CHACHA20_POLY1305 => 32,
            // RC2 (RFC 3370 4.3.2): the key is as long as the effective key bits say.
            RC2_CBC => self.rc2_params()?.0 / 8,
            other => {
                return Err(SmimeError::Unsupported(format!(
                    "content encryption algorithm {}",
                    oids::name(other)
                )));
            }
        })
    }

    /// RC2CBCParameter ::= SEQUENCE { rc2ParameterVersion INTEGER, iv OCTET STRING }: the
    /// effective key bits and the IV. Read only (old mail); certmail never writes RC2.
    fn rc2_params(&self) -> Result<(usize, Vec<u8>), SmimeError> {
        let bad = || SmimeError::Malformed("RC2-CBC parameters".into());
        let p = self
            .params
            .filter(|p| p.tag == tag::SEQUENCE)
            .ok_or_else(bad)?;
        let c = p.children()?;
        let (version, iv) = match c.as_slice() {
            [v, iv] => (v.small_uint()?, iv),
            // Without a version the key is 32 bits (RFC 2268 6).
            [iv] => (256 + 32, iv),
            _ => return Err(bad()),
        };
        let bits = certmail_crypto::legacy_cipher::rc2_effective_bits(version as u32)
            .filter(|b| b % 8 == 0 && (40..=128).contains(b))
            .ok_or_else(|| SmimeError::Unsupported(format!("RC2 parameter version {version}")))?;
        Ok((bits, iv.octets()?.to_vec()))
    }

    /// Recovers the content-encryption key with `kp`, if one of the RecipientInfos names it.
    /// `Ok(None)`: no RecipientInfo for this key.
    fn cek_for(&self, kp: &KeyPair, key_len: usize) -> Result<Option<RecoveredKey>, SmimeError> {
        for ri in &self.recipients {
            match (ri, &kp.key) {
                (
                    RecipientInfo::KeyTrans {
                        rid,
                        alg,
                        params,
                        encrypted_key,
                    },
                    Parsed::Rsa { decrypt, .. },
                ) if rid.matches(&kp.cert) => {
                    let mut out = Zeroizing::new(vec![0u8; decrypt.len()]);
                    let got = match (alg.as_str(), decrypt) {
                        (oids::RSA, RsaDecrypt::Native(k)) => {
                            let k = Pkcs1PrivateDecryptingKey::new(k.clone())
                                .map_err(|_| crypto("RSA key"))?;
                            k.decrypt(encrypted_key, &mut out).ok().map(|p| p.len())
                        }
                        (oids::RSA, RsaDecrypt::Legacy(k)) => {
                            k.decrypt_pkcs1(encrypted_key).map(|p| {
                                let n = p.len().min(out.len());
                                out[..n].copy_from_slice(&p[..n]);
                                p.len()
                            })
                        }
                        (oids::RSA_OAEP, _) => {
                            let oaep = oaep_params(*params)?;
                            // OAEP failures are not an oracle (RFC 8017 7.1.2 note).
                            let plain = match decrypt {
                                RsaDecrypt::Native(k) => {
                                    let k = OaepPrivateDecryptingKey::new(k.clone())
                                        .map_err(|_| crypto("RSA key"))?;
                                    let label =
                                        Some(oaep.label.as_slice()).filter(|l| !l.is_empty());
                                    k.decrypt(oaep.native()?, encrypted_key, &mut out, label)
                                        .map_err(|_| SmimeError::Decrypt)?
                                        .len()
                                }
                                RsaDecrypt::Legacy(k) => {
                                    let p = k
                                        .decrypt_oaep(
                                            oaep.hash,
                                            oaep.mgf,
                                            &oaep.label,
                                            encrypted_key,
                                        )
                                        .ok_or(SmimeError::Decrypt)?;
                                    if p.len() > out.len() {
                                        return Err(SmimeError::Decrypt);
                                    }
                                    out[..p.len()].copy_from_slice(&p);
                                    p.len()
                                }
                            };
                            Some(plain)
                        }
                        (other, _) => {
                            return Err(SmimeError::Unsupported(format!(
                                "key transport {}",
                                oids::name(other)
                            )));
                        }
                    };
                    // RFC 3218 2.3.2: on any PKCS#1 v1.5 failure carry on with a random
                    // key, so that the failure shows only as a content decryption error.
                    let cek = match got {
                        Some(n) if n == key_len => {
                            out.truncate(n);
                            out
                        }
                        _ => {
                            let mut r = Zeroizing::new(vec![0u8; key_len]);
                            random_bytes(&mut r).map_err(|_| crypto("RNG"))?;
                            r
                        }
                    };
                    return Ok(Some((cek, oids::name(alg).to_owned())));
                }
                (
                    RecipientInfo::KeyAgree {
                        originator,
                        ukm,
                        alg,
                        wrap,
                        keys,
                    },
                    key @ (Parsed::Ec { .. } | Parsed::X25519(_)),
                ) => {
                    let Some((_, wrapped)) = keys.iter().find(|(r, _)| r.matches(&kp.cert)) else {
                        continue;
                    };
                    let (ecdh, agree) = match key {
                        Parsed::Ec { curve, agree, .. } => {
                            (ecdh_alg(curve).ok_or_else(|| crypto("curve"))?, agree)
                        }
                        Parsed::X25519(agree) => (&agreement::X25519, agree),
                        _ => continue,
                    };
                    let kek_len = match wrap.as_str() {
                        oids::AES128_WRAP => 16,
                        oids::AES256_WRAP => 32,
                        other => {
                            return Err(SmimeError::Unsupported(format!("key wrap {other}")));
                        }
                    };
                    let shared = ecc_shared_info(wrap, ukm.as_deref(), kek_len);
                    let kek = agreement::agree(
                        agree,
                        UnparsedPublicKey::new(ecdh, originator.as_slice()),
                        SmimeError::Decrypt,
                        |z| agreed_kek(alg, z, ukm.as_deref(), &shared, kek_len),
                    )?;
                    let cek = aes_unwrap(&kek, wrapped).ok_or(SmimeError::Decrypt)?;
                    if cek.len() != key_len {
                        return Err(SmimeError::Decrypt);
                    }
                    return Ok(Some((cek, oids::name(alg).to_owned())));
                }
                _ => {}
            }
        }
        Ok(None)
    }

    /// Finds the key, recovers the content-encryption key and copies out the parameters.
    fn prepare(&self, keys: &[&KeyPair]) -> Result<Prepared, SmimeError> {
        let key_len = self.key_len()?;
        let mut found = None;
        for kp in keys {
            if let Some((cek, alg)) = self.cek_for(kp, key_len)? {
                found = Some((cek, alg, *kp));
                break;
            }
        }
        let Some((cek, key_algorithm, kp)) = found else {
            return Err(SmimeError::NoKey {
                names: self.recipient_names(),
                ids: self.recipient_ids(),
            });
        };
        let (iv, icv) = match self.cipher.as_str() {
            oids::AES128_GCM | oids::AES256_GCM => {
                let p = self
                    .params
                    .ok_or_else(|| SmimeError::Malformed("GCM without parameters".into()))?
                    .children()?;
                let nonce = p
                    .first()
                    .ok_or_else(|| SmimeError::Malformed("GCM nonce".into()))?
                    .octets()?;
                let icv = p.get(1).map(|e| e.small_uint()).transpose()?.unwrap_or(12);
                (nonce, icv)
            }
            RC2_CBC => (self.rc2_params()?.1, 0),
            oids::CHACHA20_POLY1305 => (
                self.params
                    .filter(|p| p.tag == tag::OCTET_STRING)
                    .ok_or_else(|| SmimeError::Malformed("ChaCha20-Poly1305 nonce".into()))?
                    .octets()?,
                16,
            ),
            _ => (
                self.params
                    .filter(|p| p.tag & 0xdf == tag::OCTET_STRING)
                    .ok_or_else(|| SmimeError::Malformed("cipher without IV".into()))?
                    .octets()?,
                0,
            ),
        };
        Ok(Prepared {
            cek,
            cipher: self.cipher.clone(),
            key_len,
            iv,
            icv,
            mac: self.mac.clone(),
            aad: self.auth_attrs.clone().unwrap_or_default(),
            info: Decrypted {
                cipher: oids::name(&self.cipher).to_owned(),
                key_algorithm,
                recipients: self.recipient_names(),
                decrypted_with: kp.cert.sha256.clone(),
                weak_key: match &kp.key {
                    Parsed::Rsa { decrypt, .. } => decrypt.weak(),
                    _ => None,
                },
            },
        })
    }

    /// Decrypts with the first key in `keys` that a RecipientInfo names (into a new buffer).
    pub fn decrypt(&self, keys: &[&KeyPair]) -> Result<(Vec<u8>, Decrypted), SmimeError> {
        let p = self.prepare(keys)?;
        let total: usize = self.content.iter().map(|c| c.len()).sum();
        let mut buf = Vec::with_capacity(total + 16);
        for c in &self.content {
            buf.extend_from_slice(c);
        }
        p.run(&mut buf)?;
        Ok((buf, p.info))
    }
}

/// Parses and decrypts `der` in its own buffer: the content chunks are moved together and
/// decrypted in place, so a large message needs no second buffer.
pub fn decrypt_owned(
    mut der: Vec<u8>,
    keys: &[&KeyPair],
) -> Result<(Vec<u8>, Decrypted), SmimeError> {
    let (prepared, ranges) = {
        let env = parse(&der)?;
        let p = env.prepare(keys)?;
        (p, asn1::ranges_in(&der, &env.content))
    };
    asn1::join_in_place(&mut der, &ranges);
    prepared.run(&mut der)?;
    Ok((der, prepared.info))
}

/// A recovered content-encryption key and the name of the key algorithm that carried it.
type RecoveredKey = (Zeroizing<Vec<u8>>, String);

/// Everything needed to decrypt, owned (so the content buffer can be mutated).
struct Prepared {
    cek: Zeroizing<Vec<u8>>,
    cipher: String,
    key_len: usize,
    iv: Vec<u8>,
    icv: u64,
    mac: Vec<u8>,
    aad: Vec<u8>,
    info: Decrypted,
}

impl Prepared {
    /// Decrypts `buf` in place and truncates it to the plaintext.
    fn run(&self, buf: &mut Vec<u8>) -> Result<(), SmimeError> {
        let (cek, iv, key_len) = (&self.cek, &self.iv, self.key_len);
        // 3DES is read (old mail), never written.
        #[allow(deprecated)]
        let n = match self.cipher.as_str() {
            oids::AES128_CBC | oids::AES192_CBC | oids::AES256_CBC | oids::DES_EDE3_CBC => {
                let (alg, ctx) = match (self.cipher.as_str(), iv.len()) {
                    (oids::DES_EDE3_CBC, 8) => (
                        &cipher::DES_EDE3_FOR_LEGACY_USE_ONLY,
                        DecryptionContext::Iv64(
                            FixedLength::try_from(&iv[..]).map_err(|_| crypto("IV"))?,
                        ),
                    ),
                    (oids::DES_EDE3_CBC, _) => return Err(SmimeError::Malformed("3DES IV".into())),
                    (_, 16) => (
                        match key_len {
                            16 => &cipher::AES_128,
                            24 => &cipher::AES_192,
                            _ => &cipher::AES_256,
                        },
                        DecryptionContext::Iv128(
                            FixedLength::try_from(&iv[..]).map_err(|_| crypto("IV"))?,
                        ),
                    ),
                    _ => return Err(SmimeError::Malformed("AES-CBC IV is not 16 bytes".into())),
                };
                if buf.is_empty() || !buf.len().is_multiple_of(alg.block_len()) {
                    return Err(SmimeError::Decrypt);
                }
                let key = PaddedBlockDecryptingKey::cbc_pkcs7(
                    UnboundCipherKey::new(alg, cek).map_err(|_| SmimeError::Decrypt)?,
                )
                .map_err(|_| SmimeError::Decrypt)?;
                key.decrypt(buf, ctx)
                    .map_err(|_| SmimeError::Decrypt)?
                    .len()
            }
            oids::AES128_GCM | oids::AES256_GCM | oids::CHACHA20_POLY1305 => {
                if self.icv != 16 || self.mac.len() != 16 {
                    return Err(SmimeError::Unsupported(format!(
                        "AES-GCM with a {}-byte tag (certmail reads 16-byte tags)",
                        self.icv
                    )));
                }
                let nonce = Nonce::try_assume_unique_for_key(iv)
                    .map_err(|_| SmimeError::Unsupported("AEAD nonce not 12 bytes".into()))?;
                let a = match (self.cipher.as_str(), key_len) {
                    (oids::CHACHA20_POLY1305, _) => &aead::CHACHA20_POLY1305,
                    (_, 16) => &aead::AES_128_GCM,
                    _ => &aead::AES_256_GCM,
                };
                let key =
                    LessSafeKey::new(UnboundKey::new(a, cek).map_err(|_| SmimeError::Decrypt)?);
                buf.extend_from_slice(&self.mac);
                key.open_in_place(nonce, Aad::from(&self.aad[..]), buf)
                    .map_err(|_| SmimeError::Decrypt)?
                    .len()
            }
            oids::AES192_GCM => return Err(SmimeError::Unsupported("AES-192-GCM".into())),
            RC2_CBC => {
                let plain =
                    certmail_crypto::legacy_cipher::rc2_cbc_decrypt(cek, key_len * 8, iv, buf)
                        .ok_or(SmimeError::Decrypt)?;
                let n = plain.len();
                buf[..n].copy_from_slice(&plain);
                n
            }
            other => {
                return Err(SmimeError::Unsupported(format!(
                    "content encryption algorithm {}",
                    oids::name(other)
                )));
            }
        };
        buf.truncate(n);
        Ok(())
    }
}

/// RSAES-OAEP-params (RFC 8017 A.2.1) as read from a KeyTransRecipientInfo.
struct OaepParams {
    hash: Hash,
    mgf: Hash,
    label: Vec<u8>,
}

impl OaepParams {
    /// aws-lc-rs's algorithm for these hashes (it takes the same hash for both).
    fn native(&self) -> Result<&'static rsa::OaepAlgorithm, SmimeError> {
        match (self.hash, self.mgf) {
            (Hash::Sha1, Hash::Sha1) => Ok(&rsa::OAEP_SHA1_MGF1SHA1),
            (Hash::Sha256, Hash::Sha256) => Ok(&rsa::OAEP_SHA256_MGF1SHA256),
            (Hash::Sha384, Hash::Sha384) => Ok(&rsa::OAEP_SHA384_MGF1SHA384),
            (Hash::Sha512, Hash::Sha512) => Ok(&rsa::OAEP_SHA512_MGF1SHA512),
            (h, m) => Err(SmimeError::Unsupported(format!(
                "RSAES-OAEP with {h:?} and MGF1-{m:?}"
            ))),
        }
    }
}

fn oaep_hash(oid: &str) -> Result<Hash, SmimeError> {
    match oid {
        oids::SHA1 => Ok(Hash::Sha1),
        oids::SHA256 => Ok(Hash::Sha256),
        oids::SHA384 => Ok(Hash::Sha384),
        oids::SHA512 => Ok(Hash::Sha512),
        other => Err(SmimeError::Unsupported(format!(
            "RSAES-OAEP with {}",
            oids::name(other)
        ))),
    }
}

/// id-pSpecified (RFC 8017 A.2.1): the label of RSAES-OAEP.
const P_SPECIFIED: &str = crate::oids::checked("1.2.840.113549.1.1.9");

/// rc2-cbc (RFC 3370 4.3.2).
const RC2_CBC: &str = crate::oids::checked("1.2.840.113549.3.2");

fn oaep_params(params: Option<Element<'_>>) -> Result<OaepParams, SmimeError> {
    // RSAES-OAEP-params: hashFunc [0], maskGenFunc [1], pSourceFunc [2]; defaults SHA-1,
    // MGF1 with SHA-1, an empty label.
    let mut hash = oids::SHA1.to_owned();
    let mut mgf_hash = oids::SHA1.to_owned();
    let mut label = Vec::new();
    if let Some(p) = params.filter(|p| p.tag == tag::SEQUENCE) {
        for f in p.children()? {
            let inner = f.children()?;
            let alg = inner
                .first()
                .ok_or_else(|| SmimeError::Malformed("OAEP parameters".into()))?
                .children()?;
            match f.tag {
                0xa0 => {
                    hash = alg
                        .first()
                        .ok_or_else(|| SmimeError::Malformed("OAEP hash".into()))?
                        .oid()?
                }
                0xa1 => {
                    mgf_hash = alg
                        .get(1)
                        .ok_or_else(|| SmimeError::Malformed("OAEP MGF".into()))?
                        .children()?
                        .first()
                        .ok_or_else(|| SmimeError::Malformed("OAEP MGF hash".into()))?
                        .oid()?
                }
                0xa2 => {
                    let source = alg
                        .first()
                        .ok_or_else(|| SmimeError::Malformed("OAEP label".into()))?
                        .oid()?;
                    if source != P_SPECIFIED {
                        return Err(SmimeError::Unsupported(format!(
                            "RSAES-OAEP label source {source}"
                        )));
                    }
                    label = alg
                        .get(1)
                        .ok_or_else(|| SmimeError::Malformed("OAEP label".into()))?
                        .octets()?
                        .to_vec();
                }
                _ => {}
            }
        }
    }
    Ok(OaepParams {
        hash: oaep_hash(&hash)?,
        mgf: oaep_hash(&mgf_hash)?,
        label,
    })
}
