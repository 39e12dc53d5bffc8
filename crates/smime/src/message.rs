//! S/MIME at the message level: wrapping a message's entity into multipart/signed,
//! opaque signed-data or enveloped-data (RFC 8551 3), and unwrapping any nesting of those
//! layers while recording what each layer said.

use std::io::Write;

use certmail_pki::Certificate;

use crate::envelope::{self, Decrypted, Der3, EncryptOptions};
use crate::keys::KeyPair;
use crate::mime::{self, Entity};
use crate::signed::{self, SignOptions, SignerCheck};
use crate::{SmimeError, asn1, b64};

/// Most S/MIME layers unwrapped in one message.
pub const MAX_LAYERS: usize = 8;

/// A message split for wrapping: the header fields that stay on the outside and the MIME
/// entity (content headers and body, CRLF) that is signed or encrypted.
struct Split {
    outer: Vec<u8>,
    entity: Vec<u8>,
}

/// The entity as two pieces without copying the body: content headers (with the blank
/// line) and the CRLF body (borrowed when the message already uses CRLF).
struct SplitParts<'a> {
    outer: Vec<u8>,
    content_headers: Vec<u8>,
    body: std::borrow::Cow<'a, [u8]>,
}

fn split_parts(msg: &[u8]) -> Result<SplitParts<'_>, SmimeError> {
    let e = mime::parse(msg)?;
    let mut outer = Vec::new();
    let mut content = Vec::new();
    for h in &e.headers {
        if h.is_content() {
            content.extend_from_slice(&mime::canonical(h.raw));
        } else if !h.is("MIME-Version") {
            outer.extend_from_slice(&mime::canonical(h.raw));
        }
    }
    if content.is_empty() {
        content.extend_from_slice(b"Content-Type: text/plain; charset=us-ascii\r\n");
    }
    content.extend_from_slice(b"\r\n");
    Ok(SplitParts {
        outer,
        content_headers: content,
        body: mime::canonical(e.body),
    })
}

fn split(msg: &[u8]) -> Result<Split, SmimeError> {
    let p = split_parts(msg)?;
    let mut entity = Vec::with_capacity(p.content_headers.len() + p.body.len() + 16);
    entity.extend_from_slice(&p.content_headers);
    entity.extend_from_slice(&p.body);
    Ok(Split {
        outer: p.outer,
        entity,
    })
}

fn write_der_base64<W: Write + ?Sized>(der: &Der3, w: &mut W) -> std::io::Result<()> {
    let mut enc = b64::LineEncoder::new(w);
    enc.write(&der.head)?;
    enc.write(&der.body)?;
    enc.write(&der.tail)?;
    enc.finish()
}

/// Signs a message. Detached gives multipart/signed (readable without S/MIME support);
/// otherwise application/pkcs7-mime; smime-type=signed-data.
pub fn sign_message<W: Write + ?Sized>(
    msg: &[u8],
    signer: &KeyPair,
    chain: &[Certificate],
    opts: &SignOptions,
    detached: bool,
    out: &mut W,
) -> Result<(), SmimeError> {
    let SplitParts {
        outer,
        content_headers,
        body,
    } = split_parts(msg)?;
    let parts: [&[u8]; 2] = [&content_headers, &body];
    let io = |e: std::io::Error| SmimeError::Io(e.to_string());
    if detached {
        let sig = signed::sign(&parts, false, signer, chain, opts)?;
        let hash = signed::effective_hash(signer, opts);
        let b = mime::boundary();
        out.write_all(&outer).map_err(io)?;
        write!(
            out,
            "MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\";\r\n micalg={}; boundary=\"{b}\"\r\n\r\nThis is a cryptographically signed message in MIME format.\r\n\r\n--{b}\r\n",
            signed::micalg(hash)
        )
        .map_err(io)?;
        out.write_all(&content_headers).map_err(io)?;
        out.write_all(&body).map_err(io)?;
        write!(
            out,
            "\r\n--{b}\r\nContent-Type: application/pkcs7-signature; name=\"smime.p7s\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7s\"\r\nContent-Description: S/MIME Cryptographic Signature\r\n\r\n"
        )
        .map_err(io)?;
        write_der_base64(&sig, out).map_err(io)?;
        write!(out, "\r\n--{b}--\r\n").map_err(io)?;
    } else {
        let der = signed::sign(&parts, true, signer, chain, opts)?;
        out.write_all(&outer).map_err(io)?;
        out.write_all(
            b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data;\r\n name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Description: S/MIME Signed Message\r\n\r\n",
        )
        .map_err(io)?;
        let mut enc = b64::LineEncoder::new(out);
        for p in [&der.head[..], &content_headers, &body, &der.tail] {
            enc.write(p).map_err(io)?;
        }
        enc.finish().map_err(io)?;
    }
    Ok(())
}

/// Encrypts a message to `recipients` (enveloped-data, or authEnveloped-data for GCM).
pub fn encrypt_message<W: Write + ?Sized, C: std::borrow::Borrow<Certificate>>(
    msg: &[u8],
    recipients: &[C],
    opts: &EncryptOptions,
    out: &mut W,
) -> Result<(), SmimeError> {
    let io = |e: std::io::Error| SmimeError::Io(e.to_string());
    if !opts.cipher.is_aead() {
        // CBC streams: the entity is encrypted chunk by chunk straight into the base64
        // output, so no copy of the message is made.
        let parts = split_parts(msg)?;
        out.write_all(&parts.outer).map_err(io)?;
        write!(
            out,
            "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Description: S/MIME Encrypted Message\r\n\r\n"
        )
        .map_err(io)?;
        return envelope::encrypt_cbc_stream(
            &[&parts.content_headers, &parts.body],
            recipients,
            opts,
            out,
        );
    }
    let Split { outer, entity } = split(msg)?;
    let der = envelope::encrypt(entity, recipients, opts)?;
    out.write_all(&outer).map_err(io)?;
    let smime_type = if opts.cipher.is_aead() {
        "authEnveloped-data"
    } else {
        "enveloped-data"
    };
    write!(
        out,
        "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={smime_type};\r\n name=\"smime.p7m\"\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=\"smime.p7m\"\r\nContent-Description: S/MIME Encrypted Message\r\n\r\n"
    )
    .map_err(io)?;
    write_der_base64(&der, out).map_err(io)
}

/// What an entity is, S/MIME-wise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// application/pkcs7-mime enveloped-data or authEnveloped-data.
    Enveloped,
    /// application/pkcs7-mime signed-data (opaque).
    SignedOpaque,
    /// multipart/signed with an S/MIME signature.
    MultipartSigned,
    /// application/pkcs7-mime compressed-data (RFC 3274).
    Compressed,
    /// Anything else.
    Plain,
}

fn is_pkcs7_mime(ct: &mime::ContentType, e: &Entity<'_>) -> bool {
    match ct.mime.as_str() {
        "application/pkcs7-mime" | "application/x-pkcs7-mime" => true,
        "application/octet-stream" => {
            let name = ct.param("name").map(str::to_owned).or_else(|| {
                e.header("Content-Disposition")
                    .map(|h| mime::ContentType::parse(&h.value()))
                    .and_then(|d| d.param("filename").map(str::to_owned))
            });
            name.is_some_and(|n| n.to_ascii_lowercase().ends_with(".p7m"))
        }
        _ => false,
    }
}

/// Classifies an entity by its Content-Type (and, without smime-type, by the CMS inside).
pub fn kind(e: &Entity<'_>) -> Kind {
    let ct = e.content_type();
    if ct.mime == "multipart/signed" {
        let proto = ct
            .param("protocol")
            .unwrap_or_default()
            .to_ascii_lowercase();
        if proto == "application/pkcs7-signature" || proto == "application/x-pkcs7-signature" {
            return Kind::MultipartSigned;
        }
        return Kind::Plain;
    }
    if !is_pkcs7_mime(&ct, e) {
        return Kind::Plain;
    }
    match ct
        .param("smime-type")
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("enveloped-data") | Some("authenveloped-data") => Kind::Enveloped,
        Some("signed-data") => Kind::SignedOpaque,
        Some("compressed-data") => Kind::Compressed,
        Some("certs-only") => Kind::Plain,
        _ => {
            // No smime-type (older clients): look at the CMS content type.
            match e.decoded_body().ok().and_then(|b| cms_type(&b)) {
                Some(t) if t == crate::oids::SIGNED_DATA => Kind::SignedOpaque,
                Some(t) if t == crate::oids::COMPRESSED_DATA => Kind::Compressed,
                Some(t)
                    if t == crate::oids::ENVELOPED_DATA
                        || t == crate::oids::AUTH_ENVELOPED_DATA =>
                {
                    Kind::Enveloped
                }
                _ => Kind::Plain,
            }
        }
    }
}

fn cms_type(der: &[u8]) -> Option<String> {
    let (ci, _) = crate::asn1::read(der).ok()?;
    let (oid, _) = crate::asn1::read(ci.body).ok()?;
    oid.oid().ok()
}

/// The verdict of the trust engine on one signer, filled in by the caller.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trust {
    /// Whether the signer's certificate is trusted for S/MIME signing.
    pub trusted: bool,
    /// Status word from the trust engine (`valid`, `expired`, `untrusted`, ...).
    pub status: String,
    /// Reason in words (empty when trusted).
    pub reason: String,
}

/// One signer of one layer.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SignerReport {
    /// The cryptographic check.
    #[serde(flatten)]
    pub check: SignerCheck,
    /// Whether the digest, attributes and signature verified.
    pub verified: bool,
    /// Why not, when not.
    pub failure: Option<String>,
    /// The failure is an algorithm or key certmail does not check (`unsupported: ...`),
    /// not a verdict on the content.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unsupported: bool,
    /// The signer's e-mail addresses (from the certificate).
    pub emails: Vec<String>,
    /// SHA-256 thumbprint of the signer's certificate.
    pub thumbprint: Option<String>,
    /// Subject of the signer's certificate.
    pub subject: Option<String>,
    /// Whether an address of the certificate is a From address (None: no From header).
    pub from_match: Option<bool>,
    /// The trust engine's verdict (filled in by the caller).
    pub trust: Option<Trust>,
    /// signingTime minus the message's Date header, in seconds, when they are more than
    /// an hour apart (a report only: it does not change the verdict).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_difference: Option<i64>,
}

impl SignerReport {
    /// Valid, trusted and (when there is a From address) matching it.
    pub fn ok(&self) -> bool {
        self.verified
            && self.trust.as_ref().is_some_and(|t| t.trusted)
            && self.from_match != Some(false)
    }
}

/// One layer, outermost first.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "layer", rename_all = "kebab-case")]
pub enum Layer {
    /// A signature layer.
    Signed {
        /// Opaque signed-data rather than multipart/signed.
        opaque: bool,
        /// Each signer.
        signers: Vec<SignerReport>,
        /// Certificates the message carried.
        #[serde(skip)]
        certificates: Vec<Certificate>,
    },
    /// An encryption layer.
    Encrypted(Decrypted),
    /// A compression layer (RFC 3274, zlib).
    Compressed {
        /// Bytes compressed.
        compressed: usize,
        /// Bytes once inflated.
        size: usize,
    },
}

/// The result of unwrapping.
#[derive(Debug)]
pub struct Unwrapped<'m> {
    /// The message after unwrapping (without report headers); the input itself when no
    /// layer had to be taken off.
    pub message: std::borrow::Cow<'m, [u8]>,
    /// The layers, outermost first.
    pub layers: Vec<Layer>,
}

impl Unwrapped<'_> {
    /// Every signer of every layer.
    pub fn signers(&self) -> impl Iterator<Item = &SignerReport> {
        self.layers.iter().flat_map(|l| match l {
            Layer::Signed { signers, .. } => signers.as_slice(),
            Layer::Encrypted(_) | Layer::Compressed { .. } => &[],
        })
    }

    /// Every signer, mutable (to fill in trust).
    pub fn signers_mut(&mut self) -> impl Iterator<Item = &mut SignerReport> {
        self.layers.iter_mut().flat_map(|l| match l {
            Layer::Signed { signers, .. } => signers.as_mut_slice(),
            Layer::Encrypted(_) | Layer::Compressed { .. } => &mut [],
        })
    }

    /// Whether there was at least one signer and every signer is [`SignerReport::ok`].
    pub fn all_signatures_ok(&self) -> bool {
        let mut any = false;
        for s in self.signers() {
            any = true;
            if !s.ok() {
                return false;
            }
        }
        any
    }
}

/// Options for unwrapping.
#[derive(Debug, Clone, Default)]
pub struct UnwrapOptions {
    /// Accept SHA-1 signatures.
    pub allow_sha1: bool,
    /// Signer certificates from outside the message (the store).
    pub extra_certs: Vec<Certificate>,
}

/// The body of an S/MIME entity decoded into a buffer of its own with `headroom` spare bytes.
fn decoded_owned(e: &Entity<'_>, headroom: usize) -> Result<Vec<u8>, SmimeError> {
    match e.transfer_encoding().as_str() {
        "base64" => b64::decode_with_headroom(e.body, headroom),
        _ => Ok(e.decoded_body()?.into_owned()),
    }
}

/// The header fields of `outer` that stay outside (all but Content-* and MIME-Version),
/// CRLF, with MIME-Version: 1.0 added.
fn outer_headers(outer: &Entity<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(2048);
    for h in &outer.headers {
        if !h.is_content() && !h.is("MIME-Version") {
            out.extend_from_slice(&mime::canonical(h.raw));
        }
    }
    out.extend_from_slice(b"MIME-Version: 1.0\r\n");
    out
}

/// [`rewrap`] for a decrypted buffer: the outer headers are spliced in front of it in place
/// (the buffer was allocated with room for them), so no second copy of the content is made.
fn rewrap_owned(outer: Vec<u8>, mut inner: Vec<u8>) -> Vec<u8> {
    if mime::has_bare_lf(&inner) {
        inner = mime::canonical(&inner).into_owned();
    }
    let has_headers = mime::parse(&inner).is_ok_and(|e| !e.headers.is_empty());
    let mut prefix = outer;
    if !has_headers {
        // Content without a header section: it is text/plain (RFC 2045 5.2).
        prefix.extend_from_slice(b"\r\n");
    }
    inner.splice(0..0, prefix);
    inner
}

/// Replaces the entity of `outer` (its content headers and body) with `inner`, keeping the
/// other header fields of `outer`.
fn rewrap(outer: &Entity<'_>, inner: &[u8]) -> Vec<u8> {
    rewrap_owned(outer_headers(outer), mime::canonical(inner).into_owned())
}

/// The addresses in the From header.
pub fn from_addresses(e: &Entity<'_>) -> Vec<String> {
    let Some(h) = e.header("From") else {
        return Vec::new();
    };
    let v = h.value();
    let mut out = Vec::new();
    for part in v.split(',') {
        let addr = match (part.rfind('<'), part.rfind('>')) {
            (Some(a), Some(b)) if a < b => &part[a + 1..b],
            _ => part.trim(),
        };
        let addr = addr.trim().to_ascii_lowercase();
        if addr.contains('@') {
            out.push(addr);
        }
    }
    out
}

/// How far apart signingTime and the Date header may be before the report says so.
pub const DATE_TOLERANCE: i64 = 3600;

/// The message's Date header, Unix seconds.
fn date_of(e: &Entity<'_>) -> Option<i64> {
    certmail_pki::time::parse_rfc5322(&e.header("Date")?.value())
}

fn report(check: SignerCheck, from: &[String], date: Option<i64>) -> SignerReport {
    let date_difference = match (check.signing_time, date) {
        (Some(s), Some(d)) if (s - d).abs() > DATE_TOLERANCE => Some(s - d),
        _ => None,
    };
    let (emails, thumbprint, subject) = match &check.cert {
        Some(c) => (
            c.emails
                .iter()
                .map(|e| e.to_ascii_lowercase())
                .collect::<Vec<_>>(),
            Some(c.sha256.clone()),
            Some(c.subject.clone()),
        ),
        None => (Vec::new(), None, None),
    };
    let from_match = if from.is_empty() {
        None
    } else {
        Some(emails.iter().any(|e| from.contains(e)))
    };
    SignerReport {
        verified: check.result.is_ok(),
        failure: check.result.as_ref().err().map(|e| e.to_string()),
        unsupported: matches!(check.result, Err(signed::CheckFailure::Unsupported(_))),
        emails,
        thumbprint,
        subject,
        from_match,
        trust: None,
        date_difference,
        check,
    }
}

/// Unwraps every S/MIME layer of `msg`: decrypts with `keys`, verifies signatures (trust is
/// left to the caller), unwraps opaque signed-data, and keeps the innermost multipart/signed
/// as it is (so a mail client can still check it).
pub fn unwrap<'m>(
    msg: &'m [u8],
    keys: &[&KeyPair],
    opts: &UnwrapOptions,
) -> Result<Unwrapped<'m>, SmimeError> {
    let top = mime::parse(msg)?;
    let (from, date) = (from_addresses(&top), date_of(&top));
    let mut layers = Vec::new();
    let mut current: Option<Vec<u8>> = None;
    loop {
        let cur: &[u8] = current.as_deref().unwrap_or(msg);
        let e = mime::parse(cur)?;
        let k = kind(&e);
        if k == Kind::Plain {
            break;
        }
        if layers.len() >= MAX_LAYERS {
            return Err(SmimeError::Limit(format!(
                "more than {MAX_LAYERS} nested S/MIME layers"
            )));
        }
        match k {
            Kind::Enveloped => {
                let outer = outer_headers(&e);
                let der = decoded_owned(&e, outer.len() + 64)?;
                let (plain, info) = envelope::decrypt_owned(der, keys)?;
                layers.push(Layer::Encrypted(info));
                current = Some(rewrap_owned(outer, plain));
            }
            Kind::SignedOpaque => {
                // Verified in the decoded buffer, whose content chunks are then joined in
                // place to become the next message (no copy of a large content).
                let outer = outer_headers(&e);
                let mut der = decoded_owned(&e, outer.len() + 64)?;
                let (checks, certificates, ranges) = {
                    let sd = signed::parse(&der)?;
                    let checks = sd.verify(None, None, &opts.extra_certs, opts.allow_sha1);
                    let content = sd.content.as_ref().ok_or_else(|| {
                        SmimeError::Malformed(
                            "signed-data without content and no detached part".into(),
                        )
                    })?;
                    let ranges = asn1::ranges_in(&der, content);
                    (checks, sd.certificates, ranges)
                };
                asn1::join_in_place(&mut der, &ranges);
                layers.push(Layer::Signed {
                    opaque: true,
                    signers: checks.into_iter().map(|c| report(c, &from, date)).collect(),
                    certificates,
                });
                current = Some(rewrap_owned(outer, der));
            }
            Kind::MultipartSigned => {
                let ct = e.content_type();
                let boundary = ct.param("boundary").unwrap_or_default();
                let parts = mime::multipart_parts(e.body, boundary)?;
                if parts.len() != 2 {
                    return Err(SmimeError::Mime(format!(
                        "multipart/signed with {} parts (expected 2)",
                        parts.len()
                    )));
                }
                let sig_entity = mime::parse(parts[1])?;
                let der = sig_entity.decoded_body()?;
                let sd = signed::parse(&der)?;
                let canon = mime::canonical(parts[0]);
                let alt = match &canon {
                    std::borrow::Cow::Owned(_) => Some(parts[0]),
                    std::borrow::Cow::Borrowed(_) => None,
                };
                let checks = sd.verify(Some(&canon), alt, &opts.extra_certs, opts.allow_sha1);
                layers.push(Layer::Signed {
                    opaque: false,
                    signers: checks.into_iter().map(|c| report(c, &from, date)).collect(),
                    certificates: sd.certificates.clone(),
                });
                // Go on into the signed part only if it is itself S/MIME.
                let inner = mime::parse(parts[0])?;
                if kind(&inner) == Kind::Plain {
                    break;
                }
                let next = rewrap(&e, parts[0]);
                current = Some(next);
            }
            Kind::Compressed => {
                let outer = outer_headers(&e);
                let der = decoded_owned(&e, 0)?;
                let plain = crate::compressed::decompress(&der)?;
                layers.push(Layer::Compressed {
                    compressed: der.len(),
                    size: plain.len(),
                });
                current = Some(rewrap_owned(outer, plain));
            }
            Kind::Plain => break,
        }
    }
    Ok(Unwrapped {
        message: match current {
            Some(m) => std::borrow::Cow::Owned(m),
            None => std::borrow::Cow::Borrowed(msg),
        },
        layers,
    })
}

/// Checks a detached signature (a CMS SignedData without content, as a `.p7s` file holds)
/// over `content` taken byte for byte, outside MIME: one signed layer whose message is the
/// content. Trust is left to the caller, as with [`unwrap`].
pub fn verify_detached<'c>(
    signature: &[u8],
    content: &'c [u8],
    opts: &UnwrapOptions,
) -> Result<Unwrapped<'c>, SmimeError> {
    let sd = signed::parse(signature)?;
    if sd.content.is_some() {
        return Err(SmimeError::Usage(
            "the signature carries its own content; verify it without --content".into(),
        ));
    }
    let checks = sd.verify(Some(content), None, &opts.extra_certs, opts.allow_sha1);
    Ok(Unwrapped {
        message: std::borrow::Cow::Borrowed(content),
        layers: vec![Layer::Signed {
            opaque: false,
            signers: checks.into_iter().map(|c| report(c, &[], None)).collect(),
            certificates: sd.certificates.clone(),
        }],
    })
}

/// Header name prefix of the report headers.
pub const HEADER_PREFIX: &str = "X-Certmail-";

fn yes(b: bool) -> &'static str {
    if b { "True" } else { "False" }
}

/// The report headers for `layers`: per layer (1 = outermost) and per signer (1-based).
pub fn report_headers(layers: &[Layer]) -> Vec<(String, String)> {
    let mut h = Vec::new();
    for (li, l) in layers.iter().enumerate() {
        let l_no = li + 1;
        match l {
            Layer::Encrypted(d) => {
                h.push((format!("X-Certmail-Encrypted-{l_no}"), "True".into()));
                h.push((
                    format!("X-Certmail-Encryption-Algorithm-{l_no}"),
                    format!("{}, {}", d.cipher, d.key_algorithm),
                ));
                h.push((
                    format!("X-Certmail-Encryption-Recipients-{l_no}"),
                    d.recipients.join("; "),
                ));
                h.push((
                    format!("X-Certmail-Decrypted-With-{l_no}"),
                    d.decrypted_with.clone(),
                ));
                if let Some(w) = &d.weak_key {
                    h.push((
                        format!("X-Certmail-Decryption-Key-Weak-{l_no}"),
                        format!("{w}, below 2048"),
                    ));
                }
            }
            Layer::Compressed { compressed, size } => {
                h.push((
                    format!("X-Certmail-Compressed-{l_no}"),
                    format!("zlib, {compressed} to {size} bytes"),
                ));
            }
            Layer::Signed {
                opaque, signers, ..
            } => {
                h.push((
                    format!("X-Certmail-Signed-{l_no}"),
                    if *opaque { "opaque" } else { "detached" }.into(),
                ));
                for (si, s) in signers.iter().enumerate() {
                    let id = format!("{}-{l_no}", si);
                    h.push((
                        format!("X-Certmail-Signer-Verified-{id}"),
                        yes(s.verified).into(),
                    ));
                    if let Some(f) = &s.failure {
                        h.push((format!("X-Certmail-Signer-Verified-Info-{id}"), f.clone()));
                    }
                    let trusted = s.trust.as_ref().is_some_and(|t| t.trusted);
                    h.push((
                        format!("X-Certmail-Signer-Trusted-{id}"),
                        yes(trusted).into(),
                    ));
                    if let Some(t) = &s.trust
                        && !t.reason.is_empty()
                    {
                        h.push((
                            format!("X-Certmail-Signer-Trusted-Info-{id}"),
                            format!("{}: {}", t.status, t.reason),
                        ));
                    }
                    if !s.emails.is_empty() {
                        h.push((format!("X-Certmail-Signer-Email-{id}"), s.emails.join(", ")));
                    }
                    if let Some(m) = s.from_match {
                        h.push((format!("X-Certmail-Signer-Email-Match-{id}"), yes(m).into()));
                    }
                    if let Some(t) = &s.thumbprint {
                        h.push((format!("X-Certmail-Signer-Thumbprint-{id}"), t.clone()));
                    }
                    h.push((
                        format!("X-Certmail-Signer-Algorithm-{id}"),
                        format!("{} {}", s.check.digest, s.check.algorithm),
                    ));
                    if let (Some(d), Some(t)) = (s.date_difference, s.check.signing_time) {
                        h.push((
                            format!("X-Certmail-Signer-Time-Differs-{id}"),
                            format!(
                                "signed at {}, {} min {} the Date header",
                                certmail_pki::time::format_rfc3339(t),
                                d.abs() / 60,
                                if d > 0 { "after" } else { "before" }
                            ),
                        ));
                    }
                }
            }
        }
    }
    h
}

/// Whether `name` is one of certmail's report headers (`X-Certmail-*`, any case).
pub fn is_report_header(name: &str) -> bool {
    name.len() >= HEADER_PREFIX.len()
        && name.as_bytes()[..HEADER_PREFIX.len()].eq_ignore_ascii_case(HEADER_PREFIX.as_bytes())
}

/// The message as the gateway takes it in from a stranger: its header section read the
/// way Postfix's cleanup reads it ([`mime::parse_lenient`]), every `X-Certmail-*` field
/// removed (any case, white space before the colon, folded), an obsolete `Name : value`
/// written `Name: value`, and an empty line put before the first line that is not a field
/// when such a line ended the section (so every reader after certmail sees the same header
/// section certmail saw, and a forged field below such a line stays body text). `None`
/// when the message is already in that form (no copy). Fails only for a header section
/// over the size limits.
pub fn sanitize(msg: &[u8]) -> Result<Option<Vec<u8>>, SmimeError> {
    Ok(sanitized(msg, &mime::parse_lenient(msg)?))
}

/// [`sanitize`] with the header section already read ([`mime::parse_lenient`] of `msg`).
pub fn sanitized(msg: &[u8], l: &mime::Lenient<'_>) -> Option<Vec<u8>> {
    let forged = l.entity.headers.iter().any(|h| is_report_header(h.name));
    if !forged && !l.ended_by_non_header && !l.obsolete_names {
        return None;
    }
    let mut out = Vec::with_capacity(msg.len() + 2);
    for h in &l.entity.headers {
        if is_report_header(h.name) {
            continue;
        }
        let colon = h
            .raw
            .iter()
            .position(|b| *b == b':')
            .unwrap_or(h.name.len());
        out.extend_from_slice(h.name.as_bytes());
        out.extend_from_slice(&h.raw[colon..]);
    }
    if l.ended_by_non_header {
        out.extend_from_slice(if l.entity.lf_only { b"\n" } else { b"\r\n" });
        out.extend_from_slice(&msg[l.body_start..]);
    } else {
        // The empty line (if any) and the body, as they were.
        let end = l.entity.headers.last().map_or(0, |h| {
            h.raw.as_ptr() as usize - msg.as_ptr() as usize + h.raw.len()
        });
        out.extend_from_slice(&msg[end..]);
    }
    Some(out)
}

/// `msg` with incoming `X-Certmail-*` headers removed (they could be forged) and `headers`
/// added at the top.
pub fn add_headers(msg: &[u8], headers: &[(String, String)]) -> Result<Vec<u8>, SmimeError> {
    let mut out = Vec::with_capacity(msg.len() + headers.len() * 80);
    write_with_headers(msg, headers, &mut out)?;
    Ok(out)
}

/// [`add_headers`] written straight to `out` (no second copy of a large message).
pub fn write_with_headers<W: Write + ?Sized>(
    msg: &[u8],
    headers: &[(String, String)],
    w: &mut W,
) -> Result<(), SmimeError> {
    let (head, body_start) = restamp(msg, headers)?;
    let io = |e: std::io::Error| SmimeError::Io(e.to_string());
    w.write_all(&head).map_err(io)?;
    w.write_all(&msg[body_start..]).map_err(io)
}

/// The new header section for `msg` (`headers` first, then the message's own fields
/// without any `X-Certmail-*`, then the blank line) and where the body starts: the message
/// with the headers is `head` followed by `msg[body_start..]`, so a caller can send it
/// without copying the body.
pub fn restamp(msg: &[u8], headers: &[(String, String)]) -> Result<(Vec<u8>, usize), SmimeError> {
    restamp_edit(msg, headers, &HeaderEdit::default())
}

/// Changes to the outer header section made while restamping (the fields outside any
/// signature or encryption, so the S/MIME layers are untouched).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderEdit {
    /// Fields removed, by name (any case).
    pub remove: Vec<String>,
    /// A new Subject value (replacing the field, or added when there is none).
    pub subject: Option<String>,
}

impl HeaderEdit {
    /// Whether the edit changes nothing.
    pub fn is_empty(&self) -> bool {
        self.remove.is_empty() && self.subject.is_none()
    }
}

fn clean_value(v: &str) -> String {
    v.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// [`restamp`] with `edit` applied to the message's own fields.
pub fn restamp_edit(
    msg: &[u8],
    headers: &[(String, String)],
    edit: &HeaderEdit,
) -> Result<(Vec<u8>, usize), SmimeError> {
    let e = mime::parse(msg)?;
    let mut subject_written = false;
    let mut out = Vec::with_capacity(8192);
    for (n, v) in headers {
        let clean: String = v
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        out.extend_from_slice(mime::fold(n, &clean).as_bytes());
    }
    for h in &e.headers {
        if is_report_header(h.name) {
            continue;
        }
        if edit.remove.iter().any(|n| h.is(n)) {
            continue;
        }
        if let Some(subject) = &edit.subject
            && h.is("Subject")
        {
            if !subject_written {
                out.extend_from_slice(mime::fold("Subject", &clean_value(subject)).as_bytes());
                subject_written = true;
            }
            continue;
        }
        out.extend_from_slice(&mime::canonical(h.raw));
    }
    if let Some(subject) = &edit.subject
        && !subject_written
    {
        out.extend_from_slice(mime::fold("Subject", &clean_value(subject)).as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    Ok((out, msg.len() - e.body.len()))
}

/// The message without its multipart/signed wrapper: the outer fields, then the signed
/// entity (its content headers and body) as it was signed. `None` when the message is not
/// multipart/signed.
pub fn strip_signature(msg: &[u8]) -> Result<Option<Vec<u8>>, SmimeError> {
    let e = mime::parse(msg)?;
    if kind(&e) != Kind::MultipartSigned {
        return Ok(None);
    }
    let ct = e.content_type();
    let boundary = ct.param("boundary").unwrap_or_default().to_owned();
    let parts = mime::multipart_parts(e.body, &boundary)?;
    let Some(first) = parts.first() else {
        return Ok(None);
    };
    Ok(Some(rewrap(&e, first)))
}

/// Whether any part of the message is a calendar object (`text/calendar`,
/// `application/ics`), looking into nested multiparts (not into attached messages or
/// S/MIME layers).
pub fn has_calendar(msg: &[u8]) -> bool {
    fn walk(data: &[u8], depth: usize) -> bool {
        let Ok(e) = mime::parse(data) else {
            return false;
        };
        let ct = e.content_type();
        match ct.mime.as_str() {
            "text/calendar" | "application/ics" => true,
            m if m.starts_with("multipart/") && depth < 16 => {
                let boundary = ct.param("boundary").unwrap_or_default().to_owned();
                mime::multipart_parts(e.body, &boundary)
                    .map(|parts| parts.iter().any(|p| walk(p, depth + 1)))
                    .unwrap_or(false)
            }
            _ => false,
        }
    }
    walk(msg, 0)
}

/// The original message with an `X-Certmail-Error` header naming why S/MIME processing
/// failed (incoming `X-Certmail-*` headers removed): what the gateway passes on when its
/// policy says to deliver rather than reject, so the message itself is never lost. A message
/// whose header section cannot be parsed gets the header prepended to the raw bytes.
pub fn with_error_header(msg: &[u8], err: &SmimeError) -> Vec<u8> {
    let h = vec![("X-Certmail-Error".to_owned(), err.to_string())];
    let clean = match sanitize(msg) {
        Ok(Some(v)) => std::borrow::Cow::Owned(v),
        _ => std::borrow::Cow::Borrowed(msg),
    };
    add_headers(&clean, &h).unwrap_or_else(|_| {
        // Over the header limits: the section is not read at all, so nothing in it can be
        // taken for certmail's own; the report header goes first and a blank line makes
        // every line of the original body text.
        let mut out = mime::fold("X-Certmail-Error", &err.to_string()).into_bytes();
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(msg);
        out
    })
}
