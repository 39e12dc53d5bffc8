//! The built-in CA's use cases: create, issue (built-in handler), sign external CSRs,
//! revoke, create CRLs, deliver PKCS#12.

use certmail_ca::{CaError, CaSpec, EndUserRequest, KeySpec, Revocation, SigHash, Signer};
use certmail_crypto::pkcs12::Pkcs12Form;
use certmail_crypto::{AwsLcOps, PrivateKey};
use certmail_pki::Certificate;
use certmail_pki::crl::Crl;
use certmail_store::{CaRow, IssuedRow, StoreKind};
use zeroize::Zeroizing;

pub use crate::ca_info::{CaInfo, PendingInfo};
use crate::error::AppError;
use crate::trust::CrlReport;
use crate::{App, CertView, Result, keyring};

/// Parameters of `ca create`.
#[derive(Debug, Clone)]
pub struct CaCreate {
    /// Root common name.
    pub root_cn: String,
    /// Intermediate common name (must differ from the root's).
    pub intermediate_cn: String,
    /// Key type.
    pub key: KeySpec,
    /// Validity in days.
    pub days: u32,
    /// Signature hash.
    pub hash: SigHash,
    /// CA e-mail.
    pub email: Option<String>,
    /// Make it the default CA.
    pub make_default: bool,
}

/// What an end-user certificate is asked for with; unset fields take the CA configuration's values.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct IssueParams {
    /// E-mail address.
    pub email: String,
    /// Common name.
    pub cn: Option<String>,
    /// Organisation.
    pub org: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Validity in days.
    pub days: Option<u32>,
    /// Key: rsa2048, rsa3072, rsa4096, p256, p384.
    pub key: Option<String>,
    /// Signature hash: sha256, sha384, sha512.
    pub sig: Option<String>,
    /// CRL distribution point URL.
    pub crl_url: Option<String>,
}

/// The issued-certificate record of `cert`, issued by `ca`.
fn issued_row(
    ca: &CaRow,
    cert: &Certificate,
    requester: &str,
    handler: &str,
    now: i64,
) -> IssuedRow {
    IssuedRow {
        ca_id: ca.id,
        serial: cert.serial.clone(),
        sha256: cert.sha256.clone(),
        subject: cert.subject.clone(),
        email: cert.emails.first().cloned(),
        requester: requester.to_owned(),
        handler: handler.to_owned(),
        issued_at: now,
        revoked_at: None,
        reason: None,
    }
}

/// Unambiguous PKCS#12 password alphabet (no 0/O, 1/l/I).
const PASSWORD_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// A random password of `len` characters from the unambiguous alphabet (rejection sampling,
/// so every character is equally likely).
pub fn random_password(len: usize) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(len));
    let n = PASSWORD_ALPHABET.len() as u8;
    let limit = 256 - (256 % n as u16) as u8 as u16;
    while out.len() < len {
        let mut b = [0u8; 32];
        certmail_crypto::random_bytes(&mut b)?;
        for x in b {
            if (x as u16) < limit && out.len() < len {
                out.push(PASSWORD_ALPHABET[(x % n) as usize] as char);
            }
        }
    }
    Ok(out)
}

impl From<CaError> for AppError {
    fn from(e: CaError) -> Self {
        AppError::Invalid(e.to_string())
    }
}

fn hash_of(h: &str) -> SigHash {
    match h {
        "sha384" => SigHash::Sha384,
        "sha512" => SigHash::Sha512,
        _ => SigHash::Sha256,
    }
}

fn hash_name(h: SigHash) -> &'static str {
    match h {
        SigHash::Sha256 => "sha256",
        SigHash::Sha384 => "sha384",
        SigHash::Sha512 => "sha512",
    }
}

/// The CRL reason code (RFC 5280 5.3.1) of a reason name as `certmail ca revoke --reason`
/// and the API take it.
pub fn revocation_reason(name: &str) -> Result<u8> {
    Ok(match name {
        "unspecified" => 0,
        "keyCompromise" => 1,
        "cACompromise" => 2,
        "affiliationChanged" => 3,
        "superseded" => 4,
        "cessationOfOperation" => 5,
        "certificateHold" => 6,
        "privilegeWithdrawn" => 9,
        other => {
            return Err(AppError::Invalid(format!(
                "unknown revocation reason {other:?} (unspecified, keyCompromise, cACompromise, affiliationChanged, superseded, cessationOfOperation, certificateHold, privilegeWithdrawn)"
            )));
        }
    })
}

impl App {
    async fn store_cert_with_key(
        &self,
        kind: StoreKind,
        der: &[u8],
        key: Option<&PrivateKey>,
    ) -> Result<Certificate> {
        let cert = Certificate::from_der(der, &AwsLcOps)?;
        let keys = match key {
            Some(k) => {
                vec![keyring::seal(&self.kek, k).map_err(|e| AppError::Invalid(e.to_string()))?]
            }
            None => Vec::new(),
        };
        self.store
            .import(&[(kind, &cert)], &keys, crate::now())
            .await?;
        Ok(cert)
    }

    /// Creates a root and an intermediate in one step; the root goes to the root store, the
    /// intermediate to the certificate store, both keys (sealed) to the key store.
    pub async fn ca_create(&self, c: &CaCreate) -> Result<CaRow> {
        if c.root_cn
            .trim()
            .eq_ignore_ascii_case(c.intermediate_cn.trim())
        {
            return Err(AppError::Invalid("the root and intermediate common names must differ (otherwise the two certificates cannot be told apart by name)".into()));
        }
        let now = crate::now();
        let root_spec = CaSpec {
            cn: c.root_cn.clone(),
            email: c.email.clone(),
            days: c.days,
            key: c.key,
            hash: c.hash,
            path_len: Some(1),
        };
        let (root, root_signer) = certmail_ca::create_root(&root_spec, now)?;
        let inter_spec = CaSpec {
            cn: c.intermediate_cn.clone(),
            path_len: Some(0),
            ..root_spec
        };
        let (inter, _) = certmail_ca::create_intermediate(&root_signer, &inter_spec, now)?;
        let root_cert = self
            .store_cert_with_key(StoreKind::Roots, &root.cert_der, Some(&root.key))
            .await?;
        let inter_cert = self
            .store_cert_with_key(StoreKind::Certificates, &inter.cert_der, Some(&inter.key))
            .await?;
        Ok(self
            .store
            .add_ca(
                c.intermediate_cn.trim(),
                &root_cert.sha256,
                &inter_cert.sha256,
                hash_name(c.hash),
                c.make_default,
                now,
            )
            .await?)
    }

    /// All CAs.
    pub async fn ca_list(&self) -> Result<Vec<CaRow>> {
        Ok(self.store.cas().await?)
    }

    /// The CAs as shown (`ca list --json` and `GET /api/v1/cas`).
    pub async fn cas(&self) -> Result<Vec<CaInfo>> {
        Ok(self.ca_list().await?.iter().map(CaInfo::from).collect())
    }

    /// Makes a CA the default.
    pub async fn ca_set_default(&self, id_or_name: &str) -> Result<CaRow> {
        let ca = self.store.ca(id_or_name).await?;
        self.store.set_default_ca(ca.id).await?;
        Ok(self.store.ca(id_or_name).await?)
    }

    async fn signer(&self, ca: &CaRow) -> Result<Signer> {
        // The signer is an intermediate (certificate store) or an imported root (root store).
        let view = self.get_any(&ca.signer_sha256).await?;
        let key = self.private_key(&view.cert).await?;
        Ok(Signer::from_stored(
            &view.cert.der,
            &key,
            hash_of(&ca.hash),
        )?)
    }

    async fn fresh_serial(&self, ca: &CaRow) -> Result<Vec<u8>> {
        loop {
            let s = certmail_ca::random_serial()?;
            if !self.store.serial_used(ca.id, &hex::encode(&s)).await? {
                return Ok(s);
            }
        }
    }

    /// Stores a certificate a CA just issued, its key (sealed) and its issued record in one
    /// transaction: a crash leaves all three or none (never a record without its
    /// certificate, nor a certificate of ours without its record).
    async fn store_issued(
        &self,
        ca: &CaRow,
        der: &[u8],
        key: Option<&PrivateKey>,
        requester: &str,
        handler: &str,
    ) -> Result<Certificate> {
        let cert = Certificate::from_der(der, &AwsLcOps)?;
        let keys = match key {
            Some(k) => {
                vec![keyring::seal(&self.kek, k).map_err(|e| AppError::Invalid(e.to_string()))?]
            }
            None => Vec::new(),
        };
        let record = issued_row(ca, &cert, requester, handler, crate::now());
        self.store
            .import_issued(
                &[(StoreKind::Certificates, &cert)],
                &keys,
                std::slice::from_ref(&record),
                crate::now(),
            )
            .await?;
        Ok(cert)
    }

    /// The request for an end-user certificate, with the CA configuration's defaults for
    /// what `p` leaves out (common name, validity, key, hash, CRL distribution point).
    pub async fn ca_end_user_request(&self, p: &IssueParams) -> Result<EndUserRequest> {
        let cfg = self.ca_config().await?;
        Ok(EndUserRequest {
            email: p.email.clone(),
            cn: p.cn.clone().unwrap_or_else(|| cfg.common_name.clone()),
            org: p.org.clone(),
            first_name: p.first_name.clone(),
            last_name: p.last_name.clone(),
            days: p.days.unwrap_or(cfg.validity_days),
            key: match &p.key {
                Some(k) => KeySpec::parse(k)?,
                None => cfg.key,
            },
            hash: match &p.sig {
                Some(h) => SigHash::parse(h)?,
                None => cfg.hash,
            },
            crl_url: p.crl_url.clone().or_else(|| {
                cfg.add_crl_distribution_point
                    .then(|| cfg.crl_distribution_point.clone())
                    .flatten()
            }),
        })
    }

    /// Issues an end-user certificate with the built-in handler (key and certificate at
    /// once): request -> profile -> validation -> sign -> record -> store.
    pub async fn ca_issue(
        &self,
        ca: &str,
        req: &EndUserRequest,
        requester: &str,
        add_user: bool,
    ) -> Result<CertView> {
        let ca = self.store.ca(ca).await?;
        let signer = self.signer(&ca).await?;
        let serial = self.fresh_serial(&ca).await?;
        let issued = self
            .cpu(|| certmail_ca::issue_end_user(&signer, req, crate::now(), serial))
            .await?;
        let cert = self
            .store_issued(
                &ca,
                &issued.cert_der,
                issued.key.as_ref(),
                requester,
                "built-in",
            )
            .await?;
        if add_user && let Some(e) = cert.emails.first() {
            self.store
                .ensure_party(&certmail_store::Party::User(e.clone()), crate::now())
                .await?;
        }
        self.get(StoreKind::Certificates, &cert.sha256).await
    }

    /// Signs an external CSR after verifying its self-signature.
    pub async fn ca_sign_csr(
        &self,
        ca: &str,
        csr: &[u8],
        email: Option<&str>,
        days: u32,
        requester: &str,
    ) -> Result<CertView> {
        let ca = self.store.ca(ca).await?;
        let signer = self.signer(&ca).await?;
        let serial = self.fresh_serial(&ca).await?;
        let issued = self
            .cpu(|| certmail_ca::sign_csr(&signer, csr, email, days, crate::now(), serial))
            .await?;
        let cert = self
            .store_issued(&ca, &issued.cert_der, None, requester, "csr")
            .await?;
        self.get(StoreKind::Certificates, &cert.sha256).await
    }

    /// Revokes a certificate issued by a CA (by thumbprint, or by serial with `ca`).
    pub async fn ca_revoke(
        &self,
        ca: &str,
        thumbprint_or_serial: &str,
        reason: Option<u8>,
    ) -> Result<(CaRow, String)> {
        let now = crate::now();
        if let Ok(v) = self
            .get(StoreKind::Certificates, thumbprint_or_serial)
            .await
            && let Some(rec) = self.store.issued_by_sha256(&v.cert.sha256).await?
        {
            let ca = self.store.ca_by_id(rec.ca_id).await?;
            self.store
                .revoke_serial(ca.id, &rec.serial, now, reason.map(i64::from))
                .await?;
            return Ok((ca, rec.serial));
        }
        let ca = self.store.ca(ca).await?;
        let serial = canonical_serial(thumbprint_or_serial).ok_or_else(|| {
            AppError::Invalid(format!(
                "{thumbprint_or_serial:?} is neither a certificate issued here nor a hex serial number"
            ))
        })?;
        if !self
            .store
            .revoke_serial(ca.id, &serial, now, reason.map(i64::from))
            .await?
        {
            // A serial this CA has no record of (issued elsewhere or before certmail): record it
            // as revoked so it stays on every later CRL.
            self.store
                .record_issued(&IssuedRow {
                    ca_id: ca.id,
                    serial: serial.clone(),
                    sha256: String::new(),
                    subject: "(no record)".into(),
                    email: None,
                    requester: "revocation".into(),
                    handler: "external".into(),
                    issued_at: now,
                    revoked_at: Some(now),
                    reason: reason.map(i64::from),
                })
                .await?;
        }
        Ok((ca, serial))
    }

    /// Creates the next CRL of a CA and puts it into the CRL store at once. With
    /// `update_existing` (the default) every serial revoked before stays listed; expired
    /// certificates are dropped only with `drop_expired`.
    pub async fn ca_crl(
        &self,
        ca: &str,
        revoke: &[String],
        next_update_days: u32,
        update_existing: bool,
        drop_expired: bool,
    ) -> Result<CrlReport> {
        let row = self.store.ca(ca).await?;
        let now = crate::now();
        for s in revoke {
            self.ca_revoke(&row.name, s, None).await?;
        }
        let wanted: Vec<String> = revoke
            .iter()
            .map(|s| s.to_ascii_lowercase().trim_start_matches("0x").to_owned())
            .collect();
        let mut entries = Vec::new();
        for r in self.store.issued(row.id).await? {
            let (Some(at), true) = (r.revoked_at, update_existing || wanted.contains(&r.serial))
            else {
                continue;
            };
            if drop_expired
                && !r.sha256.is_empty()
                && let Ok(v) = self.get(StoreKind::Certificates, &r.sha256).await
                && v.cert.not_after < now
            {
                continue;
            }
            entries.push(Revocation {
                serial: serial_bytes(&r.serial).ok_or_else(|| AppError::Corrupt {
                    what: "revoked serial number",
                    reason: format!("{:?} is not hexadecimal", r.serial),
                })?,
                date: at,
                reason: r.reason.and_then(|x| u8::try_from(x).ok()),
            });
        }
        let signer = self.signer(&row).await?;
        let number = self.store.next_crl_number(row.id).await?;
        let der = certmail_ca::create_crl(&signer, &entries, number as u64, now, next_update_days)?;
        self.import_crl(Crl::from_der(&der)?).await
    }

    /// A PKCS#12 of key + certificate + chain for delivery; the password is random
    /// (`password_len` characters) unless given.
    pub async fn ca_p12(
        &self,
        thumbprint: &str,
        password: Option<Zeroizing<String>>,
        password_len: usize,
        legacy: bool,
    ) -> Result<(Vec<u8>, Zeroizing<String>)> {
        let password = match password {
            Some(p) => p,
            None => random_password(password_len)?,
        };
        let opts = crate::ExportOptions {
            chain: true,
            password: Some(password.clone()),
            form: if legacy {
                Pkcs12Form::Legacy
            } else {
                Pkcs12Form::Modern
            },
        };
        let data = self
            .export(thumbprint, crate::ExportFormat::P12, &opts)
            .await?;
        Ok((data, password))
    }
}

/// The bytes of a hex serial number as typed or stored: an odd number of digits gets its
/// leading zero (`0` is `00`), and `0x` is allowed. `None` when it is not hex.
fn serial_bytes(hex_serial: &str) -> Option<Vec<u8>> {
    let t = hex_serial.trim().to_ascii_lowercase();
    let t = t.strip_prefix("0x").unwrap_or(&t);
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if t.len() % 2 == 1 {
        format!("0{t}")
    } else {
        t.to_owned()
    };
    hex::decode(padded).ok()
}

/// A serial number in the form certificates' serials are kept in (`Certificate::serial`:
/// the minimal big-endian bytes in hex, even digits), so `0BE4...`, `be4...` and
/// `0x000be4...` name the same certificate. `None` when it is not hex.
fn canonical_serial(hex_serial: &str) -> Option<String> {
    let bytes = serial_bytes(hex_serial)?;
    let first = bytes
        .iter()
        .position(|b| *b != 0)
        .unwrap_or(bytes.len() - 1);
    Some(hex::encode(&bytes[first..]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_random_and_unambiguous() {
        let a = super::random_password(16).expect("a");
        let b = super::random_password(16).expect("b");
        assert_eq!(a.len(), 16);
        assert_ne!(*a, *b);
        assert!(a.chars().all(|c| !"0O1lI".contains(c)));
    }

    /// Serials typed for `ca revoke` are kept as certificates' serials are, so an odd
    /// number of digits cannot break every later CRL, and one serial is never two rows.
    #[test]
    fn serials_are_kept_in_one_form() {
        for (typed, kept) in [
            ("0", "00"),
            ("00", "00"),
            ("000000", "00"),
            ("ABCD", "abcd"),
            ("0x12", "12"),
            ("0x0012", "12"),
            ("be4f5", "0be4f5"),
            ("0be4f5", "0be4f5"),
            ("008f", "8f"),
            ("8f", "8f"),
        ] {
            assert_eq!(
                super::canonical_serial(typed).as_deref(),
                Some(kept),
                "{typed}"
            );
        }
        for bad in ["", "0x", "xyz", "12 34", "-1"] {
            assert_eq!(super::canonical_serial(bad), None, "{bad:?}");
        }
        assert_eq!(super::serial_bytes("0"), Some(vec![0]));
        assert_eq!(super::serial_bytes("abc"), Some(vec![0x0a, 0xbc]));
    }
}

/// The outcome of a bulk run.
#[derive(Debug, Default, serde::Serialize)]
pub struct BulkReport {
    /// Rows that parsed (what a preview would issue).
    pub rows: usize,
    /// (line, e-mail, thumbprint) issued.
    pub issued: Vec<(usize, String, String)>,
    /// (line, e-mail, reason) skipped: the address already has a valid signing certificate.
    pub skipped: Vec<(usize, String, String)>,
    /// (line, e-mail, reason) that failed to issue.
    pub failed: Vec<(usize, String, String)>,
    /// Rows that did not parse or validate, naming line and column.
    pub row_errors: Vec<String>,
}

/// Requests issued per batch (one transaction each) in a bulk run.
const BULK_BATCH: usize = 500;

/// Options of a bulk run.
#[derive(Debug, Clone)]
pub struct BulkOptions {
    /// CA id or name ("" = default).
    pub ca: String,
    /// Key type.
    pub key: KeySpec,
    /// Digest.
    pub hash: SigHash,
    /// Validity in days.
    pub days: u32,
    /// Parse and validate only.
    pub preview: bool,
    /// CSV limits.
    pub limits: certmail_ca::csv::Limits,
}

impl App {
    /// Issues a batch with the built-in handler: the CA key is unsealed once, keys are made
    /// and certificates signed on every core, and the certificates, keys and issued records
    /// are written in a few transactions. Returns, per request, the thumbprint or the error.
    pub async fn ca_issue_batch(
        &self,
        ca: &str,
        reqs: &[EndUserRequest],
        requester: &str,
    ) -> Result<Vec<std::result::Result<String, String>>> {
        let ca = self.store.ca(ca).await?;
        let signer = self.signer(&ca).await?;
        let mut serials = Vec::with_capacity(reqs.len());
        for _ in reqs {
            serials.push(certmail_ca::random_serial()?);
        }
        let threads = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let now = crate::now();
        let results = certmail_ca::issue_many(&signer, reqs, now, serials, threads);
        let mut certs = Vec::new();
        let mut keys = Vec::new();
        let mut out = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(issued) => {
                    let cert = Certificate::from_der(&issued.cert_der, &AwsLcOps)?;
                    if let Some(k) = &issued.key {
                        keys.push(
                            keyring::seal(&self.kek, k)
                                .map_err(|e| AppError::Invalid(e.to_string()))?,
                        );
                    }
                    out.push(Ok(cert.sha256.clone()));
                    certs.push(cert);
                }
                Err(e) => out.push(Err(e.to_string())),
            }
        }
        let records: Vec<IssuedRow> = certs
            .iter()
            .map(|c| issued_row(&ca, c, requester, "built-in", now))
            .collect();
        let refs: Vec<(StoreKind, &Certificate)> =
            certs.iter().map(|c| (StoreKind::Certificates, c)).collect();
        // Records, certificates and keys of a batch in one transaction.
        self.store
            .import_issued(&refs, &keys, &records, now)
            .await?;
        let users: Vec<certmail_store::Party> = certs
            .iter()
            .filter_map(|c| {
                c.emails
                    .first()
                    .map(|e| certmail_store::Party::User(e.clone()))
            })
            .collect();
        self.store.ensure_parties(&users, now).await?;
        Ok(out)
    }

    /// Bulk requests from CSV: parse and validate everything first (a preview stops there),
    /// then issue row by row. Bad rows are reported and the rest issued; addresses that
    /// already have a valid signing certificate are skipped, so a run can be resumed
    /// The rows a bulk CSV would issue, and the rows left out with the reason (line and
    /// column): the preview, before anything is issued.
    pub fn ca_bulk_rows(
        &self,
        csv: &[u8],
        limits: certmail_ca::csv::Limits,
    ) -> Result<(Vec<certmail_ca::csv::Row>, Vec<String>)> {
        let (rows, problems) = certmail_ca::csv::parse(csv, limits)
            .map_err(|e| AppError::Invalid(format!("CSV: {e}")))?;
        Ok((rows, problems.iter().map(ToString::to_string).collect()))
    }

    /// without duplicates.
    pub async fn ca_bulk(
        &self,
        csv: &[u8],
        opts: &BulkOptions,
        progress: &mut (dyn FnMut(usize, usize) + Send),
    ) -> Result<BulkReport> {
        let (rows, problems) = certmail_ca::csv::parse(csv, opts.limits)
            .map_err(|e| AppError::Invalid(format!("CSV: {e}")))?;
        let mut report = BulkReport {
            rows: rows.len(),
            row_errors: problems.iter().map(ToString::to_string).collect(),
            ..BulkReport::default()
        };
        if opts.preview {
            return Ok(report);
        }
        self.store.ca(&opts.ca).await?;
        let total = rows.len();
        let mut todo = Vec::new();
        for row in rows {
            if let Some(s) = self.recipient(&row.email, crate::now()).await?.signing {
                report.skipped.push((
                    row.line,
                    row.email,
                    format!("already has a valid signing certificate {}", s.sha256),
                ));
            } else {
                todo.push(row);
            }
        }
        // Issued in batches so a long run survives partially, with progress per batch.
        let done_before = total - todo.len();
        for (b, batch) in todo.chunks(BULK_BATCH).enumerate() {
            progress(done_before + b * BULK_BATCH, total);
            let reqs: Vec<EndUserRequest> = batch
                .iter()
                .map(|row| EndUserRequest {
                    email: row.email.clone(),
                    cn: row.cn.clone(),
                    org: row.org.clone(),
                    first_name: row.first_name.clone(),
                    last_name: row.last_name.clone(),
                    days: opts.days,
                    key: opts.key,
                    hash: opts.hash,
                    crl_url: None,
                })
                .collect();
            let results = self.ca_issue_batch(&opts.ca, &reqs, "bulk").await?;
            for (row, r) in batch.iter().zip(results) {
                match r {
                    Ok(sha) => report.issued.push((row.line, row.email.clone(), sha)),
                    Err(e) => report.failed.push((row.line, row.email.clone(), e)),
                }
            }
        }
        progress(total, total);
        Ok(report)
    }
}

impl App {
    /// Renews a certificate issued by a certmail CA: same subject and e-mail, new validity,
    /// a new key unless `same_key`.
    pub async fn ca_renew(&self, thumbprint: &str, same_key: bool, days: u32) -> Result<CertView> {
        let old = self.get(StoreKind::Certificates, thumbprint).await?;
        let rec = self
            .store
            .issued_by_sha256(&old.cert.sha256)
            .await?
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "{} was not issued by a certmail CA",
                    old.cert.sha256
                ))
            })?;
        let ca = self.store.ca_by_id(rec.ca_id).await?;
        let attrs = old.cert.subject_attributes();
        let attr = |oid: &str| attrs.iter().find(|(o, _)| o == oid).map(|(_, v)| v.clone());
        let key_spec = match &old.cert.public_key {
            certmail_pki::KeyAlgorithm::Rsa { bits } if *bits >= 4096 => KeySpec::Rsa4096,
            certmail_pki::KeyAlgorithm::Rsa { bits } if *bits >= 3072 => KeySpec::Rsa3072,
            certmail_pki::KeyAlgorithm::Rsa { .. } => KeySpec::Rsa2048,
            certmail_pki::KeyAlgorithm::Ec { curve } if curve == "P-384" => KeySpec::P384,
            _ => KeySpec::P256,
        };
        let req =
            EndUserRequest {
                email: old.cert.emails.first().cloned().ok_or_else(|| {
                    AppError::Invalid("the certificate has no e-mail address".into())
                })?,
                cn: old.cert.common_name.clone().unwrap_or_default(),
                org: attr("2.5.4.10"),
                first_name: attr("2.5.4.42"),
                last_name: attr("2.5.4.4"),
                days,
                key: key_spec,
                hash: hash_of(&ca.hash),
                crl_url: old.cert.crl_distribution_points.first().cloned(),
            };
        let signer = self.signer(&ca).await?;
        let serial = self.fresh_serial(&ca).await?;
        let issued = if same_key {
            let key = self.private_key(&old.cert).await?;
            self.cpu(|| certmail_ca::issue_with_key(&signer, &req, &key, crate::now(), serial))
                .await?
        } else {
            self.cpu(|| certmail_ca::issue_end_user(&signer, &req, crate::now(), serial))
                .await?
        };
        let cert = self
            .store_issued(
                &ca,
                &issued.cert_der,
                issued.key.as_ref(),
                "renewal",
                "built-in",
            )
            .await?;
        self.get(StoreKind::Certificates, &cert.sha256).await
    }
}

/// What a request handler did with a request.
#[derive(Debug)]
pub enum HandlerOutcome {
    /// Issued at once.
    Issued(Box<CertView>),
    /// Queued: the certificate arrives later (upload, or the background job polls).
    Pending(i64),
}

/// A certificate request handler. `built-in` issues synchronously; `csr` creates the key and
/// a PKCS#10 request and waits in the pending queue. An external CA (EJBCA, an ACME server,
/// another certmail) is another implementation: `submit` sends the CSR and returns
/// `Pending`, and the background job calls `poll` for due requests, rescheduling with
/// exponential backoff ([`backoff`]) until the certificate comes back and is stored with
/// [`App::ca_upload`].
pub trait RequestHandler {
    /// Name stored with the request and the issued-certificate record.
    fn name(&self) -> &'static str;
    /// Handles one request.
    fn submit(
        &self,
        app: &App,
        ca: &str,
        req: &EndUserRequest,
    ) -> impl std::future::Future<Output = Result<HandlerOutcome>>;

    /// Asks an asynchronous CA for the certificate of a pending request: `Ok(Some(cert))`
    /// when issued (PEM or DER), `Ok(None)` while still waiting, `Err` on failure. The
    /// default is for handlers without a remote CA (`csr`: an administrator uploads).
    fn poll(
        &self,
        _app: &App,
        _pending: &certmail_store::PendingRow,
    ) -> impl std::future::Future<Output = Result<Option<Vec<u8>>>> {
        async { Ok(None) }
    }
}

/// What one run of the pending-requests job did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PendingRun {
    /// Requests completed (certificate stored, key linked).
    pub completed: usize,
    /// Requests still waiting (rescheduled with backoff).
    pub waiting: usize,
    /// Requests whose handler failed (rescheduled with backoff, error kept).
    pub failed: usize,
}

/// The built-in handler: key and certificate at once.
pub struct BuiltIn;

/// The CSR handler: key + PKCS#10 request, queued until the signed certificate is uploaded.
pub struct CsrHandler;

impl RequestHandler for BuiltIn {
    fn name(&self) -> &'static str {
        "built-in"
    }

    async fn submit(&self, app: &App, ca: &str, req: &EndUserRequest) -> Result<HandlerOutcome> {
        Ok(HandlerOutcome::Issued(Box::new(
            app.ca_issue(ca, req, "request", false).await?,
        )))
    }
}

impl RequestHandler for CsrHandler {
    fn name(&self) -> &'static str {
        "csr"
    }

    async fn submit(&self, app: &App, _ca: &str, req: &EndUserRequest) -> Result<HandlerOutcome> {
        let (csr, key) = app.cpu(|| certmail_ca::create_csr(req)).await?;
        // The key waits in the key store; the certificate links to it by public key on upload.
        let sealed = keyring::seal(&app.kek, &key).map_err(|e| AppError::Invalid(e.to_string()))?;
        app.store.import(&[], &[sealed], crate::now()).await?;
        let subject = format!("CN={},emailAddress={}", req.cn, req.email.to_lowercase());
        let id = app
            .store
            .add_pending(
                self.name(),
                &req.email.to_lowercase(),
                &subject,
                key.key_id(),
                &csr,
                crate::now(),
            )
            .await?;
        Ok(HandlerOutcome::Pending(id))
    }
}

/// Retry delay after `attempts` failures: 1 min doubling up to 1 day.
pub fn backoff(attempts: i64) -> i64 {
    (60i64 << attempts.clamp(0, 11)).min(86_400)
}

impl App {
    /// The pending requests.
    pub async fn ca_pending(&self) -> Result<Vec<certmail_store::PendingRow>> {
        Ok(self.store.pending().await?)
    }

    /// The pending requests as shown (`ca pending list --json` and `GET /api/v1/ca/pending`).
    pub async fn pending_requests(&self) -> Result<Vec<PendingInfo>> {
        Ok(self
            .ca_pending()
            .await?
            .iter()
            .map(PendingInfo::from)
            .collect())
    }

    /// Uploads a certificate issued for a pending request: matched to the pending key by
    /// public key, stored (the key links at once), and the request leaves the queue.
    pub async fn ca_upload(&self, data: &[u8]) -> Result<(CertView, i64)> {
        let certs = crate::import::parse_certificates_only(data)
            .map_err(|e| AppError::Invalid(e.to_string()))?;
        let pending = self.store.pending().await?;
        for c in certs {
            if let Some(p) = pending.iter().find(|p| p.key_id == c.key_id) {
                self.store
                    .import(&[(StoreKind::Certificates, &c)], &[], crate::now())
                    .await?;
                self.store.delete_pending(p.id).await?;
                return Ok((self.get(StoreKind::Certificates, &c.sha256).await?, p.id));
            }
        }
        Err(AppError::Invalid(
            "no certificate in the file matches the key of a pending request".into(),
        ))
    }

    /// One run of the pending-requests job for `handler`: every due request is polled; an
    /// issued certificate is stored and completes the request, anything else is rescheduled
    /// with exponential backoff ([`backoff`]) and the error kept. `certmail serve` runs this
    /// periodically; `certmail ca pending run` runs it once.
    pub async fn ca_process_pending<H: RequestHandler>(
        &self,
        handler: &H,
        now: i64,
    ) -> Result<PendingRun> {
        let mut run = PendingRun::default();
        for p in self.store.pending().await? {
            if p.handler != handler.name() || p.next_attempt > now {
                continue;
            }
            match handler.poll(self, &p).await {
                Ok(Some(cert)) => {
                    self.ca_upload(&cert).await?;
                    run.completed += 1;
                }
                Ok(None) => {
                    self.store
                        .reschedule_pending(p.id, now + backoff(p.attempts), None)
                        .await?;
                    run.waiting += 1;
                }
                Err(e) => {
                    self.store
                        .reschedule_pending(p.id, now + backoff(p.attempts), Some(&e.to_string()))
                        .await?;
                    run.failed += 1;
                }
            }
        }
        Ok(run)
    }

    /// One pending request by id.
    pub async fn ca_pending_get(&self, id: i64) -> Result<certmail_store::PendingRow> {
        self.store
            .pending()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| AppError::NotFound {
                what: "pending request",
                id: id.to_string(),
            })
    }

    /// Sets when a pending request is tried next: in `delay` seconds, or after the backoff
    /// its attempts so far give. Returns the time of the next attempt.
    pub async fn ca_pending_reschedule(&self, id: i64, delay: Option<i64>) -> Result<i64> {
        let p = self.ca_pending_get(id).await?;
        if let Some(d) = delay
            && !(0..=366 * 86_400).contains(&d)
        {
            return Err(AppError::Invalid(format!(
                "a delay of {d} s is not 0 to 366 days"
            )));
        }
        let at = crate::now() + delay.unwrap_or_else(|| backoff(p.attempts));
        self.store.reschedule_pending(id, at, None).await?;
        Ok(at)
    }

    /// Deletes a pending request and its key (no certificate uses it).
    pub async fn ca_pending_delete(&self, id: i64) -> Result<()> {
        let p = self.ca_pending_get(id).await?;
        self.store.delete_pending(id).await?;
        let _ = self.store.delete_key(&p.key_id, false).await;
        Ok(())
    }
}

/// CA configuration: the defaults of certificate requests (the reference's "CA configuration").
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CaConfig {
    /// Default common name for new certificates (empty: must be given).
    pub common_name: String,
    /// Validity of new end-user certificates, days.
    pub validity_days: u32,
    /// Key type of new keys.
    pub key: KeySpec,
    /// Signature hash.
    pub hash: SigHash,
    /// Sender address for certificate mail.
    pub ca_email: Option<String>,
    /// Length of generated PKCS#12 passwords.
    pub password_length: usize,
    /// Store the generated PKCS#12 password in the user's settings (`pfx-password`).
    pub store_password: bool,
    /// Put `crl_distribution_point` into new certificates (built-in handler).
    pub add_crl_distribution_point: bool,
    /// The CRL distribution point URL.
    pub crl_distribution_point: Option<String>,
    /// Default request handler (`built-in` or `csr`).
    pub request_handler: String,
}

impl Default for CaConfig {
    fn default() -> Self {
        CaConfig {
            common_name: String::new(),
            validity_days: 730,
            key: KeySpec::Rsa2048,
            hash: SigHash::Sha256,
            ca_email: None,
            password_length: 16,
            store_password: false,
            add_crl_distribution_point: false,
            crl_distribution_point: None,
            request_handler: "built-in".into(),
        }
    }
}

const CONFIG_KEY: &str = "ca_config";

impl App {
    /// The CA configuration (defaults when never set).
    pub async fn ca_config(&self) -> Result<CaConfig> {
        match self.store.meta_get(CONFIG_KEY).await? {
            Some(j) => serde_json::from_str(&j).map_err(|e| AppError::Corrupt {
                what: "CA configuration",
                reason: e.to_string(),
            }),
            None => Ok(CaConfig::default()),
        }
    }

    /// Sets one CA configuration value, checked.
    pub async fn ca_config_set(&self, key: &str, value: &str) -> Result<CaConfig> {
        let mut c = self.ca_config().await?;
        let bad = |why: String| AppError::Invalid(why);
        let flag = |v: &str| match v {
            "on" | "true" | "yes" => Ok(true),
            "off" | "false" | "no" => Ok(false),
            _ => Err(bad(format!("{key} is on or off"))),
        };
        match key {
            "common-name" => c.common_name = value.to_owned(),
            "validity-days" => {
                c.validity_days = value
                    .parse()
                    .ok()
                    .filter(|d| (1..=3650).contains(d))
                    .ok_or_else(|| bad("validity-days is 1 to 3650".into()))?
            }
            "key" => c.key = KeySpec::parse(value)?,
            "signature" => c.hash = SigHash::parse(value)?,
            "ca-email" => {
                if !certmail_ca::valid_email(value) {
                    return Err(bad(format!("{value:?} is not an e-mail address")));
                }
                c.ca_email = Some(value.to_lowercase());
            }
            "password-length" => {
                c.password_length = value
                    .parse()
                    .ok()
                    .filter(|n| (8..=64).contains(n))
                    .ok_or_else(|| bad("password-length is 8 to 64".into()))?
            }
            "store-password" => c.store_password = flag(value)?,
            "add-crl-distribution-point" => c.add_crl_distribution_point = flag(value)?,
            "crl-distribution-point" => {
                if !(value.starts_with("http://")
                    || value.starts_with("https://")
                    || value.starts_with("ldap://"))
                {
                    return Err(bad(
                        "crl-distribution-point must be an http, https or ldap URL".into(),
                    ));
                }
                c.crl_distribution_point = Some(value.to_owned());
            }
            "request-handler" => {
                if value != "built-in" && value != "csr" {
                    return Err(bad("request-handler is built-in or csr".into()));
                }
                c.request_handler = value.to_owned();
            }
            _ => {
                return Err(bad(format!(
                    "unknown CA setting {key:?}; known: common-name, validity-days, key, signature, ca-email, password-length, store-password, add-crl-distribution-point, crl-distribution-point, request-handler"
                )));
            }
        }
        let j = serde_json::to_string(&c).map_err(|e| AppError::Corrupt {
            what: "CA configuration",
            reason: e.to_string(),
        })?;
        self.store.meta_set(CONFIG_KEY, &j).await?;
        // The gateway caches who the CA sender is (its mail is never encrypted).
        self.store.bump_policy_generation().await?;
        Ok(c)
    }

    /// PKCS#12 delivery to a recipient: the certificate must carry the recipient's address
    /// unless `allow_mismatch`; the generated password is stored in the user's settings when
    /// the configuration or `store_password` asks for it.
    pub async fn ca_deliver(
        &self,
        thumbprint: &str,
        to: Option<&str>,
        allow_mismatch: bool,
        password: Option<Zeroizing<String>>,
        legacy: bool,
        store_password: bool,
    ) -> Result<(Vec<u8>, Zeroizing<String>, Option<String>)> {
        let cfg = self.ca_config().await?;
        let view = self.get_any(thumbprint).await?;
        let to = match to {
            Some(t) => Some(crate::policy::normalise_email(t)?),
            None => view.cert.emails.first().cloned(),
        };
        if let Some(t) = &to
            && !view.cert.emails.contains(t)
            && !allow_mismatch
        {
            return Err(AppError::Invalid(format!(
                "the certificate is for {} but the recipient is {t}; pass --allow-mismatch to deliver it anyway",
                view.cert.emails.join(", ")
            )));
        }
        let generated = password.is_none();
        let (data, pw) = self
            .ca_p12(thumbprint, password, cfg.password_length, legacy)
            .await?;
        if generated
            && (store_password || cfg.store_password)
            && let Some(t) = &to
        {
            self.set_setting(
                &certmail_store::Party::User(t.clone()),
                crate::settings::PFX_PASSWORD.key,
                &pw,
            )
            .await?;
        }
        Ok((data, pw, to))
    }
}

impl App {
    /// A new intermediate CA under the root of an existing CA.
    pub async fn ca_create_under(
        &self,
        parent: &str,
        spec: CaSpec,
        make_default: bool,
    ) -> Result<CaRow> {
        let parent = self.store.ca(parent).await?;
        let root = self.get(StoreKind::Roots, &parent.root_sha256).await?;
        let intermediate_cn = spec.cn.clone();
        let hash = spec.hash;
        if root
            .cert
            .common_name
            .as_deref()
            .is_some_and(|cn| cn.eq_ignore_ascii_case(intermediate_cn.trim()))
        {
            return Err(AppError::Invalid(
                "the intermediate's common name must differ from the root's".into(),
            ));
        }
        let root_key = self.private_key(&root.cert).await?;
        let root_signer = Signer::from_stored(&root.cert.der, &root_key, hash)?;
        let spec = CaSpec {
            path_len: Some(0),
            ..spec
        };
        let (inter, _) = certmail_ca::create_intermediate(&root_signer, &spec, crate::now())?;
        let cert = self
            .store_cert_with_key(StoreKind::Certificates, &inter.cert_der, Some(&inter.key))
            .await?;
        Ok(self
            .store
            .add_ca(
                intermediate_cn.trim(),
                &root.cert.sha256,
                &cert.sha256,
                hash_name(hash),
                make_default,
                crate::now(),
            )
            .await?)
    }

    /// Imports an existing CA (its certificate and key, e.g. from a PKCS#12 or PEM files).
    /// A self-signed CA certificate goes to the root store and signs itself; otherwise the
    /// root is looked up among the stored roots by the chain.
    pub async fn ca_import(
        &self,
        cert_der: &[u8],
        key: &PrivateKey,
        hash: SigHash,
        make_default: bool,
    ) -> Result<CaRow> {
        let cert = Certificate::from_der(cert_der, &AwsLcOps)?;
        if !cert.is_ca() {
            return Err(AppError::Invalid(format!(
                "{} is not a CA certificate (basicConstraints cA)",
                cert.subject
            )));
        }
        if cert.key_id != key.key_id() {
            return Err(AppError::Invalid(
                "the key does not belong to the certificate".into(),
            ));
        }
        Signer::from_stored(cert_der, key, hash)?;
        let root_sha = if cert.is_self_issued() {
            self.store_cert_with_key(StoreKind::Roots, cert_der, Some(key))
                .await?;
            cert.sha256.clone()
        } else {
            self.store_cert_with_key(StoreKind::Certificates, cert_der, Some(key))
                .await?;
            let chain = self.chain(&cert).await?;
            chain
                .last()
                .filter(|r| r.is_self_issued())
                .map(|r| r.sha256.clone())
                .ok_or_else(|| {
                    AppError::Invalid(format!(
                        "no root for {} in the stores: import its root first",
                        cert.subject
                    ))
                })?
        };
        let name = cert
            .common_name
            .clone()
            .unwrap_or_else(|| cert.subject.clone());
        Ok(self
            .store
            .add_ca(
                &name,
                &root_sha,
                &cert.sha256,
                hash_name(hash),
                make_default,
                crate::now(),
            )
            .await?)
    }
}

impl App {
    /// Refreshes a self-signed domain certificate: same serial and key, new validity.
    pub async fn ca_refresh(&self, thumbprint: &str, days: u32) -> Result<CertView> {
        let old = self.get_any(thumbprint).await?;
        let key = self.private_key(&old.cert).await?;
        let der = certmail_ca::refresh_self_signed(&old.cert, &key, days, crate::now())?;
        let cert = self
            .store_cert_with_key(StoreKind::Certificates, &der, None)
            .await?;
        self.get(StoreKind::Certificates, &cert.sha256).await
    }
}
