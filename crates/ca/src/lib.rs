//! certmail-ca: the built-in certificate authority.
//!
//! Every certificate goes through one ordered pipeline (step-ca's order): request ->
//! profile -> validation -> sign -> (the app records and stores it). Certificates, CSRs and
//! CRLs are built with `rcgen` over aws-lc-rs keys; private keys leave this crate only as
//! [`certmail_crypto::PrivateKey`] values, which the app seals before storing.

pub mod csv;

use certmail_crypto::{CryptoError, PrivateKey};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, CrlDistributionPoint,
    DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair,
    KeyUsagePurpose, RevocationReason, RevokedCertParams, SanType, SerialNumber,
    SignatureAlgorithm,
};
use time::OffsetDateTime;

/// Key types for new keys. RSA-1024 is not offered: NIST SP 800-131A disallows it for
/// signatures since 2013.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeySpec {
    /// RSA 2048.
    Rsa2048,
    /// RSA 3072.
    Rsa3072,
    /// RSA 4096.
    Rsa4096,
    /// ECDSA P-256.
    P256,
    /// ECDSA P-384.
    P384,
}

/// Signature digests. SHA-1 is not offered (collisions demonstrated, SHAttered 2017).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SigHash {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

impl KeySpec {
    /// Parses a CLI name, refusing weak choices with the reason.
    pub fn parse(s: &str) -> Result<KeySpec, CaError> {
        Ok(match s {
            "rsa2048" => KeySpec::Rsa2048,
            "rsa3072" => KeySpec::Rsa3072,
            "rsa4096" => KeySpec::Rsa4096,
            "p256" => KeySpec::P256,
            "p384" => KeySpec::P384,
            "rsa1024" => return Err(CaError::Refused("RSA-1024 is refused for new certificates: NIST SP 800-131A disallows it for signatures since 2013 (it offers 80-bit security, below the 112-bit minimum); use rsa2048 or stronger".into())),
            other => return Err(CaError::Refused(format!("unknown key type {other:?}: use rsa2048, rsa3072, rsa4096, p256 or p384"))),
        })
    }

    fn is_rsa(self) -> bool {
        matches!(self, KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096)
    }
}

impl SigHash {
    /// Parses a CLI name, refusing SHA-1 with the reason.
    pub fn parse(s: &str) -> Result<SigHash, CaError> {
        Ok(match s {
            "sha256" => SigHash::Sha256,
            "sha384" => SigHash::Sha384,
            "sha512" => SigHash::Sha512,
            "sha1" => return Err(CaError::Refused("SHA-1 is refused for new certificates: chosen-prefix collisions are practical (SHAttered 2017, Shambles 2020); use sha256 or stronger".into())),
            other => return Err(CaError::Refused(format!("unknown signature hash {other:?}: use sha256, sha384 or sha512"))),
        })
    }
}

/// CA errors.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// A request the profile refuses.
    #[error("{0}")]
    Refused(String),
    /// The request is malformed.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// Building or signing failed.
    #[error("could not build the certificate: {0}")]
    Build(String),
    /// Key handling failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

fn build(e: rcgen::Error) -> CaError {
    CaError::Build(e.to_string())
}

/// The signature algorithm for a key and digest (EC keys use their curve's digest when the
/// requested one has no standard pairing in rcgen).
fn algorithm(key: KeySpec, hash: SigHash) -> &'static SignatureAlgorithm {
    match (key, hash) {
        (k, SigHash::Sha256) if k.is_rsa() => &rcgen::PKCS_RSA_SHA256,
        (k, SigHash::Sha384) if k.is_rsa() => &rcgen::PKCS_RSA_SHA384,
        (k, _) if k.is_rsa() => &rcgen::PKCS_RSA_SHA512,
        (KeySpec::P384, _) => &rcgen::PKCS_ECDSA_P384_SHA384,
        _ => &rcgen::PKCS_ECDSA_P256_SHA256,
    }
}

/// Generates a key pair of the given type.
pub fn generate_key(key: KeySpec, hash: SigHash) -> Result<KeyPair, CaError> {
    let alg = algorithm(key, hash);
    match key {
        KeySpec::Rsa2048 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_2048),
        KeySpec::Rsa3072 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_3072),
        KeySpec::Rsa4096 => KeyPair::generate_rsa_for(alg, rcgen::RsaKeySize::_4096),
        KeySpec::P256 | KeySpec::P384 => KeyPair::generate_for(alg),
    }
    .map_err(build)
}

/// An rcgen key pair for a stored key, signing with `hash` (the key type decides RSA or the
/// ECDSA curve). Returns whether it is RSA (the end-user profile's key usage depends on it).
fn key_pair(key: &PrivateKey, hash: SigHash) -> Result<(KeyPair, bool), CaError> {
    let spec = match key.algorithm() {
        certmail_pki::KeyAlgorithm::Rsa { .. } => KeySpec::Rsa2048,
        certmail_pki::KeyAlgorithm::Ec { curve } if curve == "P-384" => KeySpec::P384,
        certmail_pki::KeyAlgorithm::Ec { curve } if curve == "P-256" => KeySpec::P256,
        other => {
            return Err(CaError::Refused(format!(
                "a key of type {other} cannot sign here"
            )));
        }
    };
    let pem = zeroize::Zeroizing::new(certmail_pki::pem::encode("PRIVATE KEY", key.pkcs8_der()));
    let kp = KeyPair::from_pem_and_sign_algo(&pem, algorithm(spec, hash)).map_err(build)?;
    Ok((kp, spec.is_rsa()))
}

/// A random positive serial number of 128 bits (RFC 5280 4.1.2.2 allows 20 octets; CA/B
/// BR 7.1 wants at least 64 bits from a CSPRNG).
pub fn random_serial() -> Result<Vec<u8>, CaError> {
    let mut s = vec![0u8; 16];
    certmail_crypto::random_bytes(&mut s)?;
    s[0] &= 0x7f;
    s[0] |= 0x01;
    Ok(s)
}

fn at(unix: i64) -> Result<OffsetDateTime, CaError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|e| CaError::Invalid(e.to_string()))
}

/// A CA able to sign: its certificate (as issuer) and key.
pub struct Signer {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate, DER.
    pub cert_der: Vec<u8>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer(..)")
    }
}

impl Signer {
    /// A signer from a stored CA certificate and its PKCS#8 key, signing with `hash`.
    pub fn from_stored(
        cert_der: &[u8],
        key: &PrivateKey,
        hash: SigHash,
    ) -> Result<Signer, CaError> {
        let (key, _) = key_pair(key, hash)?;
        let pem = certmail_pki::pem::encode("CERTIFICATE", cert_der);
        let issuer = Issuer::from_ca_cert_pem(&pem, key).map_err(build)?;
        Ok(Signer {
            issuer,
            cert_der: cert_der.to_vec(),
        })
    }

    fn issuer(&self) -> &Issuer<'static, KeyPair> {
        &self.issuer
    }
}

/// A new CA certificate with its key.
pub struct NewCa {
    /// Certificate, DER.
    pub cert_der: Vec<u8>,
    /// Key.
    pub key: PrivateKey,
}

/// What a CA is made of.
#[derive(Debug, Clone)]
pub struct CaSpec {
    /// Common name.
    pub cn: String,
    /// Optional e-mail (subject emailAddress).
    pub email: Option<String>,
    /// Validity in days.
    pub days: u32,
    /// Key.
    pub key: KeySpec,
    /// Digest.
    pub hash: SigHash,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
}

fn to_private(k: &KeyPair) -> Result<PrivateKey, CaError> {
    let der = zeroize::Zeroizing::new(k.serialize_der());
    Ok(PrivateKey::from_pkcs8(&der)?)
}

fn ca_params(spec: &CaSpec, now: i64) -> Result<CertificateParams, CaError> {
    if spec.cn.trim().is_empty() {
        return Err(CaError::Invalid("a CA needs a common name".into()));
    }
    if spec.days == 0 {
        return Err(CaError::Invalid("validity must be at least one day".into()));
    }
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, spec.cn.trim());
    if let Some(e) = &spec.email {
        dn.push(
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            rcgen::DnValue::Ia5String(e.as_str().try_into().map_err(build)?),
        );
    }
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(match spec.path_len {
        Some(n) => BasicConstraints::Constrained(n),
        None => BasicConstraints::Unconstrained,
    });
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = at(now - 300)?;
    p.not_after = at(now + i64::from(spec.days) * 86_400)?;
    p.serial_number = Some(SerialNumber::from_slice(&random_serial()?));
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    Ok(p)
}

/// Creates a self-signed root.
pub fn create_root(spec: &CaSpec, now: i64) -> Result<(NewCa, Signer), CaError> {
    let key = generate_key(spec.key, spec.hash)?;
    let params = ca_params(spec, now)?;
    let cert = params.self_signed(&key).map_err(build)?;
    let private = to_private(&key)?;
    let signer = Signer::from_stored(cert.der(), &private, spec.hash)?;
    Ok((
        NewCa {
            cert_der: cert.der().to_vec(),
            key: private,
        },
        signer,
    ))
}

/// Creates an intermediate under `parent`.
pub fn create_intermediate(
    parent: &Signer,
    spec: &CaSpec,
    now: i64,
) -> Result<(NewCa, Signer), CaError> {
    let key = generate_key(spec.key, spec.hash)?;
    let params = ca_params(spec, now)?;
    let cert = params.signed_by(&key, parent.issuer()).map_err(build)?;
    let private = to_private(&key)?;
    let signer = Signer::from_stored(cert.der(), &private, spec.hash)?;
    Ok((
        NewCa {
            cert_der: cert.der().to_vec(),
            key: private,
        },
        signer,
    ))
}

/// An end-user certificate request.
#[derive(Debug, Clone)]
pub struct EndUserRequest {
    /// E-mail address (SAN rfc822Name and subject emailAddress).
    pub email: String,
    /// Common name.
    pub cn: String,
    /// Organisation.
    pub org: Option<String>,
    /// Given name.
    pub first_name: Option<String>,
    /// Surname.
    pub last_name: Option<String>,
    /// Validity in days.
    pub days: u32,
    /// Key.
    pub key: KeySpec,
    /// Digest.
    pub hash: SigHash,
    /// CRL distribution point URL.
    pub crl_url: Option<String>,
}

/// Maximum length of a name field (RFC 5280 upper bounds: ub-common-name 64, e-mail 255).
const MAX_CN: usize = 64;
const MAX_EMAIL: usize = 255;

/// E-mail syntax for certificates: an ASCII local part without spaces, a dotted LDH domain,
/// at most 255 characters (SAN rfc822Name is an IA5String).
pub fn valid_email(e: &str) -> bool {
    e.len() <= MAX_EMAIL
        && e.rsplit_once('@').is_some_and(|(l, d)| {
            !l.is_empty()
                && l.is_ascii()
                && !l.contains(char::is_whitespace)
                && d.contains('.')
                && d.split('.').all(|x| {
                    !x.is_empty() && x.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                })
        })
}

/// Validation step: e-mail syntax, CN present, lengths.
pub fn validate(req: &EndUserRequest) -> Result<(), CaError> {
    let e = req.email.trim();
    let ok = valid_email(e);
    if !ok {
        return Err(CaError::Invalid(format!(
            "{e:?} is not a valid e-mail address"
        )));
    }
    if req.cn.trim().is_empty() {
        return Err(CaError::Invalid("the common name is required".into()));
    }
    if req.cn.chars().count() > MAX_CN {
        return Err(CaError::Invalid(format!(
            "the common name is longer than {MAX_CN} characters (RFC 5280 ub-common-name)"
        )));
    }
    for (name, v) in [
        ("organisation", &req.org),
        ("first name", &req.first_name),
        ("last name", &req.last_name),
    ] {
        if v.as_ref().is_some_and(|v| v.chars().count() > MAX_CN) {
            return Err(CaError::Invalid(format!(
                "the {name} is longer than {MAX_CN} characters"
            )));
        }
    }
    // Subject values end up in mail headers, logs and pages: no line breaks, no control or
    // bidirectional formatting characters (a CN with CR LF was issued before).
    let odd = |c: char| {
        c.is_control()
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
    };
    for (name, v) in [
        ("common name", Some(&req.cn)),
        ("organisation", req.org.as_ref()),
        ("first name", req.first_name.as_ref()),
        ("last name", req.last_name.as_ref()),
    ] {
        if let Some(c) = v.and_then(|v| v.chars().find(|c| odd(*c))) {
            return Err(CaError::Invalid(format!(
                "the {name} holds a control or text-direction character (U+{:04X})",
                c as u32
            )));
        }
    }
    if req.days == 0 || req.days > 3650 {
        return Err(CaError::Invalid("validity must be 1 to 3650 days".into()));
    }
    Ok(())
}

/// The S/MIME end-user profile: SAN rfc822Name, key usage by key type, EKU emailProtection,
/// SKI/AKI, optional CDP, basicConstraints cA false.
fn profile(
    req: &EndUserRequest,
    is_rsa: bool,
    now: i64,
    serial: &[u8],
) -> Result<CertificateParams, CaError> {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, req.cn.trim());
    if let Some(o) = &req.org {
        dn.push(DnType::OrganizationName, o.as_str());
    }
    if let Some(g) = &req.first_name {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 42]), g.as_str());
    }
    if let Some(s) = &req.last_name {
        dn.push(DnType::CustomDnType(vec![2, 5, 4, 4]), s.as_str());
    }
    let email = req.email.trim().to_lowercase();
    dn.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        rcgen::DnValue::Ia5String(email.as_str().try_into().map_err(build)?),
    );
    p.distinguished_name = dn;
    p.subject_alt_names = vec![SanType::Rfc822Name(
        email.as_str().try_into().map_err(build)?,
    )];
    p.key_usages = if is_rsa {
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ]
    } else {
        vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
        ]
    };
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = at(now - 300)?;
    p.not_after = at(now + i64::from(req.days) * 86_400)?;
    p.serial_number = Some(SerialNumber::from_slice(serial));
    p.use_authority_key_identifier_extension = true;
    p.key_identifier_method = KeyIdMethod::Sha256;
    if let Some(u) = &req.crl_url {
        p.crl_distribution_points = vec![CrlDistributionPoint {
            uris: vec![u.clone()],
        }];
    }
    Ok(p)
}

/// An issued certificate.
pub struct IssuedCert {
    /// DER.
    pub cert_der: Vec<u8>,
    /// Its key, when the CA generated it.
    pub key: Option<PrivateKey>,
    /// The serial number bytes.
    pub serial: Vec<u8>,
}

/// The built-in handler: key and certificate at once.
pub fn issue_end_user(
    ca: &Signer,
    req: &EndUserRequest,
    now: i64,
    serial: Vec<u8>,
) -> Result<IssuedCert, CaError> {
    validate(req)?;
    let key = generate_key(req.key, req.hash)?;
    let params = profile(req, req.key.is_rsa(), now, &serial)?;
    let cert = params.signed_by(&key, ca.issuer()).map_err(build)?;
    Ok(IssuedCert {
        cert_der: cert.der().to_vec(),
        key: Some(to_private(&key)?),
        serial,
    })
}

/// Issues many end-user certificates at once, key generation and signing spread over
/// `threads` threads (RSA key generation dominates bulk runs). Results keep the input order.
pub fn issue_many(
    ca: &Signer,
    reqs: &[EndUserRequest],
    now: i64,
    serials: Vec<Vec<u8>>,
    threads: usize,
) -> Vec<Result<IssuedCert, CaError>> {
    let threads = threads.max(1);
    let chunk = reqs.len().div_ceil(threads).max(1);
    let mut serials = serials.into_iter();
    let work: Vec<Vec<(&EndUserRequest, Vec<u8>)>> = reqs
        .chunks(chunk)
        .map(|c| {
            c.iter()
                .map(|r| (r, serials.next().unwrap_or_default()))
                .collect()
        })
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = work
            .into_iter()
            .map(|part| {
                s.spawn(move || {
                    part.into_iter()
                        .map(|(r, serial)| issue_end_user(ca, r, now, serial))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| {
                h.join().unwrap_or_else(|_| {
                    vec![Err(CaError::Build("a signing thread panicked".into()))]
                })
            })
            .collect()
    })
}

/// Refreshes a self-signed domain (server) certificate, CommuniGate's "Refresh Self-Signed":
/// the same serial number, subject, names, usages and key, with a new validity period.
pub fn refresh_self_signed(
    cert: &certmail_pki::Certificate,
    key: &PrivateKey,
    days: u32,
    now: i64,
) -> Result<Vec<u8>, CaError> {
    if !cert.is_self_issued() || cert.is_ca() {
        return Err(CaError::Refused(
            "only self-signed domain certificates (not CAs) are refreshed".into(),
        ));
    }
    if days == 0 {
        return Err(CaError::Invalid("validity must be at least one day".into()));
    }
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    for (oid, v) in cert.subject_attributes() {
        let ty = match oid.as_str() {
            "2.5.4.3" => DnType::CommonName,
            "2.5.4.10" => DnType::OrganizationName,
            "2.5.4.11" => DnType::OrganizationalUnitName,
            "2.5.4.6" => DnType::CountryName,
            "2.5.4.7" => DnType::LocalityName,
            "2.5.4.8" => DnType::StateOrProvinceName,
            other => {
                DnType::CustomDnType(other.split('.').filter_map(|x| x.parse().ok()).collect())
            }
        };
        dn.push(ty, v.as_str());
    }
    p.distinguished_name = dn;
    for d in &cert.dns_names {
        p.subject_alt_names
            .push(SanType::DnsName(d.as_str().try_into().map_err(build)?));
    }
    for e in &cert.emails {
        p.subject_alt_names
            .push(SanType::Rfc822Name(e.as_str().try_into().map_err(build)?));
    }
    p.key_usages = cert
        .key_usage
        .iter()
        .flatten()
        .filter_map(|k| {
            Some(match k.as_str() {
                "digitalSignature" => KeyUsagePurpose::DigitalSignature,
                "nonRepudiation" => KeyUsagePurpose::ContentCommitment,
                "keyEncipherment" => KeyUsagePurpose::KeyEncipherment,
                "dataEncipherment" => KeyUsagePurpose::DataEncipherment,
                "keyAgreement" => KeyUsagePurpose::KeyAgreement,
                _ => return None,
            })
        })
        .collect();
    p.extended_key_usages = cert
        .extended_key_usage
        .iter()
        .flatten()
        .filter_map(|e| {
            Some(match e.as_str() {
                "serverAuth" => ExtendedKeyUsagePurpose::ServerAuth,
                "clientAuth" => ExtendedKeyUsagePurpose::ClientAuth,
                "emailProtection" => ExtendedKeyUsagePurpose::EmailProtection,
                _ => return None,
            })
        })
        .collect();
    p.serial_number = Some(SerialNumber::from_slice(&cert.serial_bytes()));
    p.not_before = at(now - 300)?;
    p.not_after = at(now + i64::from(days) * 86_400)?;
    let (kp, _) = key_pair(key, SigHash::Sha256)?;
    Ok(p.self_signed(&kp).map_err(build)?.der().to_vec())
}

/// Creates a key and a PKCS#10 request for it (the CSR request handler): the subject and
/// e-mail of the profile, for an external CA to sign.
pub fn create_csr(req: &EndUserRequest) -> Result<(Vec<u8>, PrivateKey), CaError> {
    validate(req)?;
    let key = generate_key(req.key, req.hash)?;
    let full = profile(req, req.key.is_rsa(), 0, &[1])?;
    // A CSR carries the subject and the requested extensions only (rcgen refuses the rest).
    let mut params = CertificateParams::default();
    params.distinguished_name = full.distinguished_name;
    params.subject_alt_names = full.subject_alt_names;
    params.key_usages = full.key_usages;
    params.extended_key_usages = full.extended_key_usages;
    let csr = params.serialize_request(&key).map_err(build)?;
    Ok((csr.der().to_vec(), to_private(&key)?))
}

/// Issues under the profile for an existing key (renewal with the same key, or a pending
/// request's key).
pub fn issue_with_key(
    ca: &Signer,
    req: &EndUserRequest,
    key: &PrivateKey,
    now: i64,
    serial: Vec<u8>,
) -> Result<IssuedCert, CaError> {
    validate(req)?;
    let (kp, is_rsa) = key_pair(key, req.hash)?;
    let params = profile(req, is_rsa, now, &serial)?;
    let cert = params.signed_by(&kp, ca.issuer()).map_err(build)?;
    Ok(IssuedCert {
        cert_der: cert.der().to_vec(),
        key: None,
        serial,
    })
}

/// Signs an external CSR (its self-signature is verified first) under the S/MIME profile.
/// The e-mail address comes from the CSR's subject emailAddress or SAN, or from `email`.
pub fn sign_csr(
    ca: &Signer,
    csr_pem_or_der: &[u8],
    email: Option<&str>,
    days: u32,
    now: i64,
    serial: Vec<u8>,
) -> Result<IssuedCert, CaError> {
    let pem = match std::str::from_utf8(csr_pem_or_der) {
        Ok(text) if text.contains("-----BEGIN") => text.to_owned(),
        _ => certmail_pki::pem::encode("CERTIFICATE REQUEST", csr_pem_or_der),
    };
    let csr = rcgen::CertificateSigningRequestParams::from_pem(&pem)
        .map_err(|e| CaError::Invalid(format!("CSR: {e}")))?;
    let cn = csr
        .params
        .distinguished_name
        .get(&DnType::CommonName)
        .and_then(|v| match v {
            rcgen::DnValue::Utf8String(s) => Some(s.clone()),
            rcgen::DnValue::PrintableString(s) => Some(s.as_str().to_owned()),
            _ => None,
        })
        .unwrap_or_default();
    let san_email = csr.params.subject_alt_names.iter().find_map(|s| match s {
        SanType::Rfc822Name(e) => Some(e.as_str().to_owned()),
        _ => None,
    });
    let dn_email = csr
        .params
        .distinguished_name
        .get(&DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]))
        .and_then(|v| match v {
            rcgen::DnValue::Ia5String(s) => Some(s.as_str().to_owned()),
            rcgen::DnValue::Utf8String(s) => Some(s.clone()),
            rcgen::DnValue::PrintableString(s) => Some(s.as_str().to_owned()),
            _ => None,
        });
    let email = email
        .map(str::to_owned)
        .or(san_email)
        .or(dn_email)
        .ok_or_else(|| {
            CaError::Invalid("the CSR carries no e-mail address: pass --email".into())
        })?;
    let req = EndUserRequest {
        email,
        cn,
        org: None,
        first_name: None,
        last_name: None,
        days,
        key: KeySpec::P256,
        hash: SigHash::Sha256,
        crl_url: None,
    };
    validate(&req)?;
    let is_rsa = csr.public_key.algorithm() == &rcgen::PKCS_RSA_SHA256
        || format!("{:?}", csr.public_key.algorithm()).contains("RSA");
    let params = profile(&req, is_rsa, now, &serial)?;
    let cert = params
        .signed_by(&csr.public_key, ca.issuer())
        .map_err(build)?;
    Ok(IssuedCert {
        cert_der: cert.der().to_vec(),
        key: None,
        serial,
    })
}

/// A revoked serial for a CRL.
#[derive(Debug, Clone)]
pub struct Revocation {
    /// Serial bytes.
    pub serial: Vec<u8>,
    /// When.
    pub date: i64,
    /// Reason code (RFC 5280 5.3.1).
    pub reason: Option<u8>,
}

fn reason(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

/// Builds a CRL signed by `ca`.
pub fn create_crl(
    ca: &Signer,
    revoked: &[Revocation],
    number: u64,
    now: i64,
    next_update_days: u32,
) -> Result<Vec<u8>, CaError> {
    if next_update_days == 0 {
        return Err(CaError::Invalid(
            "next update must be at least one day ahead".into(),
        ));
    }
    let params = CertificateRevocationListParams {
        this_update: at(now)?,
        next_update: at(now + i64::from(next_update_days) * 86_400)?,
        crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|r| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(&r.serial),
                    revocation_time: at(r.date)?,
                    reason_code: r.reason.and_then(reason),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, CaError>>()?,
        key_identifier_method: KeyIdMethod::Sha256,
    };
    Ok(params.signed_by(ca.issuer()).map_err(build)?.der().to_vec())
}
