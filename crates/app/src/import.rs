//! Import: recognise a file's format, parse everything in it, and only then store it.

use std::io::Read;
use std::path::Path;

use certmail_crypto::{AwsLcOps, CryptoError, PrivateKey, pkcs12};
use certmail_pki::crl::Crl;
use certmail_pki::{Certificate, pem, pkcs7};
use certmail_store::{Outcome, StoreKind};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::FileError;

/// Files larger than this are refused before parsing: a certificate bundle or PKCS#12 file
/// of 64 MiB would already hold hundreds of thousands of certificates.
pub const MAX_FILE_SIZE: u64 = 64 * 1024 * 1024;

/// Where self-issued (root) certificates found in a file go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RootPolicy {
    /// Every certificate goes to the certificate store; roots are not trusted by import.
    #[default]
    CertificateStore,
    /// Self-issued certificates go to the root store (`--trust-roots`).
    TrustSelfIssued,
    /// Every certificate goes to the root store (`certmail root import`).
    AllToRoots,
}

impl RootPolicy {
    pub(crate) fn store_for(self, c: &Certificate) -> StoreKind {
        match self {
            RootPolicy::CertificateStore => StoreKind::Certificates,
            RootPolicy::TrustSelfIssued if c.is_self_issued() => StoreKind::Roots,
            RootPolicy::TrustSelfIssued => StoreKind::Certificates,
            RootPolicy::AllToRoots => StoreKind::Roots,
        }
    }
}

/// Options of an import.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Password for PKCS#12 and encrypted keys.
    pub password: Option<Zeroizing<String>>,
    /// Where roots go.
    pub roots: RootPolicy,
}

/// Certificate or key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    /// A certificate.
    Certificate,
    /// A private key.
    Key,
    /// A CRL (from a PKCS#7 bundle), stored in the CRL store.
    Crl,
}

/// Imported or already there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStatus {
    /// New.
    Imported,
    /// Already present; unchanged.
    Present,
    /// An item of a bundle that could not be read (the others were imported).
    Failed,
}

/// One item of a file.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// Certificate or key.
    pub kind: ItemKind,
    /// Imported or present.
    pub status: ItemStatus,
    /// SHA-256 thumbprint (certificates, CRLs) or key id (keys).
    pub id: String,
    /// Subject (certificates), algorithm (keys), or issuer and use (CRLs).
    pub detail: String,
    /// Store the certificate went to (`crls` for a CRL).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<&'static str>,
}

impl ItemReport {
    pub(crate) fn certificate(c: &Certificate, kind: StoreKind, o: Outcome) -> Self {
        ItemReport {
            kind: ItemKind::Certificate,
            status: status(o),
            id: c.sha256.clone(),
            detail: c.subject.clone(),
            store: Some(kind.as_str()),
        }
    }

    pub(crate) fn key(k: &PrivateKey, o: Outcome) -> Self {
        ItemReport {
            kind: ItemKind::Key,
            status: status(o),
            id: k.key_id().to_owned(),
            detail: k.algorithm().to_string(),
            store: None,
        }
    }

    pub(crate) fn crl(r: &crate::trust::CrlReport) -> Self {
        let detail = match (&r.problem, r.status) {
            (_, "present") => r.issuer.clone(),
            (Some(p), _) => format!("{} (not in use: {p})", r.issuer),
            (None, status) => format!("{} ({status})", r.issuer),
        };
        ItemReport {
            kind: ItemKind::Crl,
            status: if r.status == "present" {
                ItemStatus::Present
            } else {
                ItemStatus::Imported
            },
            id: r.sha256.clone(),
            detail,
            store: Some("crls"),
        }
    }
}

fn status(o: Outcome) -> ItemStatus {
    match o {
        Outcome::Imported => ItemStatus::Imported,
        Outcome::Present => ItemStatus::Present,
    }
}

/// The result for one file.
#[derive(Debug)]
pub struct FileReport {
    /// The file name as given.
    pub file: String,
    /// Its items, or why nothing of it was stored.
    pub result: Result<Vec<ItemReport>, FileError>,
}

/// The per-item report rows of `cert import --json` (and of the API's import): file, kind,
/// status, id, detail, store; a file that failed is one row with status `failed`.
pub fn report_rows(reports: &[FileReport]) -> Vec<serde_json::Value> {
    let mut rows = Vec::new();
    for r in reports {
        match &r.result {
            Ok(items) => {
                for i in items {
                    rows.push(serde_json::json!({
                        "file": r.file, "kind": i.kind, "status": i.status,
                        "id": i.id, "detail": i.detail, "store": i.store,
                    }));
                }
            }
            Err(e) => rows.push(serde_json::json!({
                "file": r.file, "kind": null, "status": "failed", "id": null, "detail": e.to_string(),
            })),
        }
    }
    rows
}

/// Everything found in one file.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub certs: Vec<Certificate>,
    pub keys: Vec<PrivateKey>,
    /// CRLs carried in a PKCS#7 bundle (they go to the CRL store).
    pub crls: Vec<Crl>,
    /// Items of a bundle that could not be read, reported beside the others.
    pub failed: Vec<ItemReport>,
}

impl Parsed {
    fn add_cert_der(&mut self, der: &[u8]) -> Result<(), FileError> {
        let c = Certificate::from_der(der, &AwsLcOps)?;
        if !self.certs.iter().any(|x| x.sha256 == c.sha256) {
            self.certs.push(c);
        }
        Ok(())
    }

    /// A bundle's certificates and CRLs; one that cannot be read is reported in `failed`
    /// and the others are kept.
    fn add_pkcs7(&mut self, data: &[u8]) -> Result<(), FileError> {
        let bundle = pkcs7::bundle(data)?;
        let failed = |kind, n: usize, e: &dyn std::fmt::Display| ItemReport {
            kind,
            status: ItemStatus::Failed,
            id: String::new(),
            detail: format!("item {n} of the bundle: {e}"),
            store: None,
        };
        for (i, der) in bundle.certificates.iter().enumerate() {
            if let Err(e) = self.add_cert_der(der) {
                self.failed.push(failed(ItemKind::Certificate, i + 1, &e));
            }
        }
        for (i, der) in bundle.crls.iter().enumerate() {
            match Crl::from_der(der) {
                Ok(crl) => {
                    if !self.crls.iter().any(|x| x.der == crl.der) {
                        self.crls.push(crl);
                    }
                }
                Err(e) => self.failed.push(failed(ItemKind::Crl, i + 1, &e)),
            }
        }
        Ok(())
    }

    fn add_key(&mut self, k: PrivateKey) {
        if !self.keys.iter().any(|x| x.key_id() == k.key_id()) {
            self.keys.push(k);
        }
    }
}

/// Reads a file with the size limit checked first.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>, FileError> {
    let f = std::fs::File::open(path).map_err(|e| FileError::Read(e.to_string()))?;
    let size = f
        .metadata()
        .map_err(|e| FileError::Read(e.to_string()))?
        .len();
    if size > MAX_FILE_SIZE {
        return Err(FileError::TooLarge {
            size,
            limit: MAX_FILE_SIZE,
        });
    }
    let mut data = Vec::with_capacity(size as usize);
    f.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut data)
        .map_err(|e| FileError::Read(e.to_string()))?;
    Ok(data)
}

/// Parses a whole file: PEM (any mix of blocks) or one DER object.
pub(crate) fn parse(data: &[u8], password: Option<&str>) -> Result<Parsed, FileError> {
    let mut p = Parsed::default();
    if pem::looks_like_pem(data) {
        let blocks = pem::parse_all(data)?;
        for b in &blocks {
            match b.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => p.add_cert_der(&b.der)?,
                "PKCS7" | "CMS" => p.add_pkcs7(&b.der)?,
                // `openssl ecparam -genkey` writes the curve before the key; the key names it too.
                "EC PARAMETERS" => {}
                _ => match PrivateKey::from_pem_block(b, password.map(str::as_bytes))? {
                    Some(k) => p.add_key(k),
                    None => {
                        return Err(FileError::UnsupportedBlock {
                            label: b.label.clone(),
                            hint: block_hint(&b.label),
                        });
                    }
                },
            }
        }
        return Ok(p);
    }
    let cert_error = match Certificate::from_der(data, &AwsLcOps) {
        Ok(c) => {
            p.certs.push(c);
            return Ok(p);
        }
        Err(e) => e.to_string(),
    };
    if pkcs12::looks_like_pfx(data) {
        let contents = pkcs12::read(data, password)?;
        for der in &contents.certs {
            p.add_cert_der(der)?;
        }
        for k in contents.keys {
            p.add_key(k);
        }
        return Ok(p);
    }
    if pkcs7::looks_like_pkcs7(data) {
        p.add_pkcs7(data)?;
        return Ok(p);
    }
    match PrivateKey::from_der_any(data, password.map(str::as_bytes)) {
        Ok(k) => {
            p.add_key(k);
            Ok(p)
        }
        Err(
            e @ (CryptoError::PasswordRequired(_)
            | CryptoError::WrongPassword(_)
            | CryptoError::UnsupportedKeyAlgorithm(_)),
        ) => Err(e.into()),
        Err(_) => Err(FileError::Unrecognised { cert_error }),
    }
}

/// Parses only the certificates of a file (no password, keys ignored).
pub(crate) fn parse_certificates_only(data: &[u8]) -> Result<Vec<Certificate>, FileError> {
    if pem::looks_like_pem(data) {
        let mut p = Parsed::default();
        for b in pem::parse_all(data)? {
            match b.label.as_str() {
                "CERTIFICATE" | "X509 CERTIFICATE" => p.add_cert_der(&b.der)?,
                "PKCS7" | "CMS" => {
                    for der in pkcs7::certificates(&b.der)? {
                        // A certificate of a bundle no reader takes is left out here.
                        let _ = p.add_cert_der(&der);
                    }
                }
                _ => {}
            }
        }
        if p.certs.is_empty() {
            return Err(FileError::Empty);
        }
        return Ok(p.certs);
    }
    Ok(parse(data, None)?.certs)
}

fn block_hint(label: &str) -> &'static str {
    match label {
        "X509 CRL" => " (it is a CRL)",
        "CERTIFICATE REQUEST" | "NEW CERTIFICATE REQUEST" => " (it is a certificate request)",
        "TRUSTED CERTIFICATE" => {
            " (OpenSSL's trusted-certificate format: convert with `openssl x509 -in F -out F.pem`)"
        }
        "PUBLIC KEY" | "RSA PUBLIC KEY" => " (a bare public key: import its certificate instead)",
        _ => "",
    }
}
