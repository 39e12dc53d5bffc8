//! Trust use cases: the CRL store, the trust list, and verdicts for stored certificates.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use certmail_crypto::AwsLcOps;
use certmail_pki::crl::Crl;
use certmail_pki::verify::{
    self, Ctl, CtlStatus, Options, PeerName, Purpose, RevocationPolicy, VerifyError,
};
use certmail_pki::{Certificate, CryptoOps, pem};
use certmail_store::{CtlEntry, NewCrl, StoreKind, StoredCrl};
use serde::Serialize;

use crate::error::{AppError, FileError};
use crate::{App, CertView, Result};

/// Trust material and verdicts cached per trust generation.
#[derive(Debug, Default)]
pub(crate) struct TrustCache {
    generation: Option<String>,
    anchors: Option<Arc<Vec<Certificate>>>,
    ctl: Option<Arc<Ctl>>,
    /// Parsed current CRLs per issuer DN: a big CRL is parsed once per trust generation
    /// (every CRL change renews it), not on every verdict.
    crls: std::collections::HashMap<String, Vec<Arc<Crl>>>,
    /// The global `min-rsa-bits` (setting it renews the trust generation).
    min_rsa_bits: Option<u32>,
    /// (thumbprint, purpose, e-mail, min-rsa-bits) -> (verdict, computed at, valid until).
    verdicts: std::collections::HashMap<VerdictKey, (Verdict, i64, i64)>,
}

/// Parsed CRLs by SHA-256 of their DER: content-addressed, so they stay valid across trust
/// generations (a CRL imported or fetched does not make the others parse again), and filled
/// once per CRL however many verdicts ask at the same moment (the first parses, on a
/// blocking thread; the others wait for it). A CRL this node imported is put here as it
/// was parsed for the import.
#[derive(Debug, Default)]
pub(crate) struct ParsedCrls {
    cells:
        std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::OnceCell<Arc<Crl>>>>>,
}

/// Parsed CRLs kept at most; when full, all but those being parsed at the moment are dropped
/// (the verdict cache keeps the ones its generation uses; others are parsed again when asked).
const PARSED_CRLS_MAX: usize = 256;

impl ParsedCrls {
    fn cell(&self, sha256: &str) -> Arc<tokio::sync::OnceCell<Arc<Crl>>> {
        let mut m = crate::lock(&self.cells);
        if m.len() >= PARSED_CRLS_MAX && !m.contains_key(sha256) {
            m.retain(|_, c| Arc::strong_count(c) > 1);
        }
        m.entry(sha256.to_owned()).or_default().clone()
    }

    fn put(&self, sha256: &str, crl: Arc<Crl>) {
        let _ = self.cell(sha256).set(crl);
    }
}

/// id-dsa.
const DSA_KEY: &str = "1.2.840.10040.4.1";

/// Cache key of a verdict: thumbprint, purpose, e-mail address, min-rsa-bits.
type VerdictKey = (String, u8, Option<String>, u32);

/// How many candidate issuer certificates a stored verification loads at most.
const MAX_CANDIDATES: usize = 64;

/// The outcome of importing one CRL.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrlReport {
    /// SHA-256 of the CRL.
    pub sha256: String,
    /// Issuer.
    pub issuer: String,
    /// cRLNumber (hex).
    pub number: Option<String>,
    /// `current` (in use), `stored` (kept, not in use: see `problem`) or `present`.
    pub status: &'static str,
    /// Why it is not in use.
    pub problem: Option<String>,
}

/// A CRL for display (`crl list --json` and `GET /api/v1/crls`).
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrlView {
    /// SHA-256.
    pub sha256: String,
    /// Issuer.
    pub issuer: String,
    /// cRLNumber (hex).
    pub number: Option<String>,
    /// Base CRL number for a delta CRL.
    pub delta_base: Option<String>,
    /// thisUpdate (RFC 3339).
    pub this_update: String,
    /// nextUpdate (RFC 3339).
    pub next_update: Option<String>,
    /// Revoked entries.
    pub entries: i64,
    /// In use for its issuer.
    pub current: bool,
    /// `valid`, or why not.
    pub validity: String,
}

/// A trust-list entry as shown.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CtlView {
    /// SHA-512 thumbprint, hex.
    pub sha512: String,
    /// `whitelisted` or `blacklisted`.
    pub status: String,
    /// Whitelisted even when expired.
    pub allow_expired: bool,
    /// When it was set, Unix seconds.
    pub created_at: i64,
}

impl From<&CtlEntry> for CtlView {
    fn from(e: &CtlEntry) -> CtlView {
        CtlView {
            sha512: e.sha512.clone(),
            status: e.status.clone(),
            allow_expired: e.allow_expired,
            created_at: e.created_at,
        }
    }
}

/// A readable verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// `valid`, `expired`, `not-yet-valid`, `revoked`, `untrusted`, `blacklisted`,
    /// `wrong-usage`, `bad-signature`, `weak-key` (an RSA key under `min-rsa-bits`),
    /// `unsupported` (an algorithm or key certmail does not check), `constraint-violated`,
    /// `revocation-unknown` or `invalid`.
    pub status: &'static str,
    /// The reason in words (empty when valid).
    pub reason: String,
    /// The chain used (SHA-256 thumbprints, leaf first) when valid.
    pub chain: Vec<String>,
    /// Subjects of the chain.
    pub chain_subjects: Vec<String>,
    /// Whether the trust list decided (whitelisted leaf).
    pub whitelisted: bool,
}

impl Verdict {
    /// Classifies a validation result.
    pub fn from_result(
        r: &std::result::Result<verify::ValidPath<'_>, VerifyError>,
        whitelisted: bool,
    ) -> Verdict {
        match r {
            Ok(p) => Verdict {
                status: "valid",
                reason: String::new(),
                chain: p.certs.iter().map(|c| c.sha256.clone()).collect(),
                chain_subjects: p.certs.iter().map(|c| c.subject.clone()).collect(),
                whitelisted,
            },
            Err(e) => Verdict {
                status: match e {
                    VerifyError::Expired { .. } => "expired",
                    VerifyError::NotYetValid { .. } => "not-yet-valid",
                    VerifyError::Revoked { .. } => "revoked",
                    VerifyError::RevocationUnknown { .. } => "revocation-unknown",
                    VerifyError::IssuerNotFound { .. }
                    | VerifyError::UntrustedRoot { .. }
                    | VerifyError::TooDeep(_) => "untrusted",
                    VerifyError::Blacklisted { .. } => "blacklisted",
                    VerifyError::WrongUsage { .. }
                    | VerifyError::WrongEku { .. }
                    | VerifyError::WrongKeyUsage { .. } => "wrong-usage",
                    VerifyError::Unsupported { .. } => "unsupported",
                    VerifyError::BadSignature { .. } | VerifyError::WeakSignature { .. } => {
                        "bad-signature"
                    }
                    VerifyError::WeakKey { .. } => "weak-key",
                    VerifyError::NameConstraint { .. }
                    | VerifyError::PathLength { .. }
                    | VerifyError::Policy { .. }
                    | VerifyError::NotCa { .. }
                    | VerifyError::NoKeyCertSign { .. } => "constraint-violated",
                    VerifyError::NameMismatch { .. } => "wrong-identity",
                    _ => "invalid",
                },
                reason: e.to_string(),
                chain: Vec::new(),
                chain_subjects: Vec::new(),
                whitelisted,
            },
        }
    }
}

/// Parses every CRL in a file (PEM blocks or one DER CRL).
pub fn parse_crl_file(data: &[u8]) -> std::result::Result<Vec<Crl>, FileError> {
    if pem::looks_like_pem(data) {
        let mut out = Vec::new();
        for b in pem::parse_all(data)? {
            if b.label == "X509 CRL" {
                out.push(Crl::from_der(&b.der)?);
            } else {
                return Err(FileError::UnsupportedBlock {
                    label: b.label,
                    hint: " (CRL files hold X509 CRL blocks)",
                });
            }
        }
        if out.is_empty() {
            return Err(FileError::Empty);
        }
        return Ok(out);
    }
    Ok(vec![Crl::from_der(data)?])
}

/// Newer by CRL number, then thisUpdate (the replacement order).
fn is_newer(new: &Crl, old: &NewCrl) -> bool {
    match (&new.number, &old.number) {
        (Some(n), Some(o)) => match certmail_pki::crl::cmp_number(n, o) {
            std::cmp::Ordering::Equal => new.this_update > old.this_update,
            ord => ord == std::cmp::Ordering::Greater,
        },
        _ => new.this_update > old.this_update,
    }
}

impl App {
    async fn issuer_candidates(&self, subject_dn: &str) -> Result<Vec<Certificate>> {
        Ok(self
            .store
            .find_by_subject(subject_dn)
            .await?
            .into_iter()
            .filter_map(|s| Certificate::from_der(&s.der, &AwsLcOps).ok())
            .collect())
    }

    /// Checks a CRL against the stored certificates of its issuer: signature, cRLSign, profile.
    async fn crl_problem(&self, crl: &Crl) -> Result<Option<String>> {
        if let Some(d) = crl.defects.first() {
            return Ok(Some(d.clone()));
        }
        let issuers = self.issuer_candidates(&crl.issuer).await?;
        if issuers.is_empty() {
            return Ok(Some(format!(
                "issuer certificate {} not in the stores",
                crl.issuer
            )));
        }
        let mut last = String::new();
        for i in &issuers {
            if crl.authority_key_id.is_some()
                && i.subject_key_id.is_some()
                && crl.authority_key_id != i.subject_key_id
            {
                last = "no stored issuer certificate has the CRL's authority key identifier".into();
                continue;
            }
            if i.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
                last = format!("issuer {} lacks cRLSign", i.subject);
                continue;
            }
            let key = i.public_key_ref();
            match crl.verify_signature(key, &AwsLcOps) {
                Ok(()) => return Ok(None),
                Err(e) => last = format!("signature: {e}"),
            }
        }
        Ok(Some(last))
    }

    /// Imports CRL files: the newest valid CRL per issuer (by number, then thisUpdate) is in
    /// use; an older or invalid one is kept with the reason and never replaces a newer one.
    pub async fn import_crl_files(
        &self,
        files: &[std::path::PathBuf],
    ) -> Vec<(String, std::result::Result<Vec<CrlReport>, FileError>)> {
        let mut out = Vec::new();
        for f in files {
            let r = match crate::import::read_file(f) {
                Ok(data) => match parse_crl_file(&data) {
                    Ok(crls) => {
                        let mut reports = Vec::new();
                        let mut err = None;
                        for crl in crls {
                            match self.import_crl(crl).await {
                                Ok(r) => reports.push(r),
                                Err(e) => {
                                    err = Some(FileError::Store(match e {
                                        AppError::Store(s) => s,
                                        other => {
                                            certmail_store::StoreError::Connect(other.to_string())
                                        }
                                    }));
                                    break;
                                }
                            }
                        }
                        match err {
                            Some(e) => Err(e),
                            None => Ok(reports),
                        }
                    }
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            out.push((f.display().to_string(), r));
        }
        out
    }

    /// A current CRL by SHA-256, parsed once (see [`ParsedCrls`]).
    async fn parsed_crl(&self, sha256: &str) -> Result<Arc<Crl>> {
        let cell = self.parsed_crls.cell(sha256);
        let crl = cell
            .get_or_try_init(|| async {
                let der = self.store.crl_der(sha256).await?;
                // A CRL of a million entries takes a second or two: off the async threads,
                // so sessions that do not need it go on meanwhile.
                let parsed = tokio::task::spawn_blocking(move || Crl::from_der(&der))
                    .await
                    .map_err(|e| AppError::Corrupt {
                        what: "CRL parse",
                        reason: e.to_string(),
                    })??;
                Ok::<_, AppError>(Arc::new(parsed))
            })
            .await?;
        Ok(crl.clone())
    }

    /// Imports one parsed CRL.
    pub async fn import_crl(&self, crl: Crl) -> Result<CrlReport> {
        let sha256 = hex::encode(AwsLcOps.sha256(&crl.der));
        let problem = self.crl_problem(&crl).await?;
        let existing = self.store.crls_of(&crl.issuer).await?;
        let same_kind: Vec<&StoredCrl> = existing
            .iter()
            .filter(|s| {
                s.current
                    && s.crl.delta_base.is_some() == crl.delta_base.is_some()
                    && s.crl.authority_key_id == crl.authority_key_id
            })
            .collect();
        let (current, problem, replaces) = match problem {
            Some(p) => (false, Some(p), Vec::new()),
            None => match same_kind.iter().find(|s| !is_newer(&crl, &s.crl)) {
                Some(newer) => (
                    false,
                    Some(format!(
                        "older than the CRL in use (number {})",
                        newer.crl.number.as_deref().unwrap_or("none")
                    )),
                    Vec::new(),
                ),
                None => (true, None, same_kind.iter().map(|s| s.id).collect()),
            },
        };
        let row = NewCrl {
            sha256: sha256.clone(),
            issuer: crl.issuer.clone(),
            authority_key_id: crl.authority_key_id.clone(),
            number: crl.number.clone(),
            delta_base: crl.delta_base.clone(),
            this_update: crl.this_update,
            next_update: crl.next_update,
            entries: crl.entries.len() as i64,
            der: crl.der.clone(),
        };
        let inserted = self
            .store
            .put_crl(&row, current, problem.as_deref(), &replaces, crate::now())
            .await?;
        drop(row);
        let (issuer, number) = (crl.issuer.clone(), crl.number.clone());
        if current {
            // The next verdicts on this node use it as parsed here, without reading it back.
            self.parsed_crls.put(&sha256, Arc::new(crl));
        }
        Ok(CrlReport {
            sha256,
            issuer,
            number,
            status: if !inserted {
                "present"
            } else if current {
                "current"
            } else {
                "stored"
            },
            problem,
        })
    }

    /// Every stored CRL.
    pub async fn crls(&self) -> Result<Vec<CrlView>> {
        let now = crate::now();
        Ok(self
            .store
            .list_crls()
            .await?
            .into_iter()
            .map(|s| {
                let validity = match (&s.problem, s.crl.next_update) {
                    (Some(p), _) => p.clone(),
                    (None, Some(n)) if n < now => "out of date (nextUpdate passed)".into(),
                    _ => "valid".into(),
                };
                CrlView {
                    sha256: s.crl.sha256,
                    issuer: s.crl.issuer,
                    number: s.crl.number,
                    delta_base: s.crl.delta_base,
                    this_update: certmail_pki::time::format_rfc3339(s.crl.this_update),
                    next_update: s.crl.next_update.map(certmail_pki::time::format_rfc3339),
                    entries: s.crl.entries,
                    current: s.current,
                    validity,
                }
            })
            .collect())
    }

    /// One CRL (parsed) by SHA-256 prefix.
    pub async fn crl(&self, prefix: &str) -> Result<(CrlView, Crl)> {
        let s = self.store.find_crl(prefix).await?;
        let crl = Crl::from_der(&s.crl.der)?;
        let view = self
            .crls()
            .await?
            .into_iter()
            .find(|v| v.sha256 == s.crl.sha256)
            .ok_or_else(|| {
                AppError::Store(certmail_store::StoreError::Inconsistent("CRL vanished"))
            })?;
        Ok((view, crl))
    }

    /// Deletes a CRL by SHA-256 prefix.
    pub async fn delete_crl(&self, prefix: &str) -> Result<String> {
        let s = self.store.find_crl(prefix).await?;
        self.store.delete_crl(s.id).await?;
        Ok(s.crl.sha256)
    }

    /// Resolves a CTL key: a full SHA-512 (the certificate need not be stored) or a SHA-256
    /// thumbprint (prefix) of a stored certificate.
    async fn ctl_key(&self, thumbprint: &str) -> Result<String> {
        let t = thumbprint.to_ascii_lowercase();
        if t.len() == 128 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(t);
        }
        Ok(self.get_any(thumbprint).await?.cert.sha512)
    }

    /// Whitelists or blacklists a certificate.
    pub async fn ctl_add(&self, thumbprint: &str, status: CtlStatus) -> Result<CtlEntry> {
        let sha512 = self.ctl_key(thumbprint).await?;
        let e = CtlEntry {
            sha512,
            status: match status {
                CtlStatus::Whitelisted { .. } => "whitelisted".into(),
                CtlStatus::Blacklisted => "blacklisted".into(),
            },
            allow_expired: matches!(
                status,
                CtlStatus::Whitelisted {
                    allow_expired: true
                }
            ),
            created_at: crate::now(),
        };
        self.store.ctl_set(&e).await?;
        Ok(e)
    }

    /// The trust list.
    pub async fn ctl(&self) -> Result<Vec<CtlEntry>> {
        Ok(self.store.ctl_list().await?)
    }

    /// The trust list as shown (`ctl list --json` and `GET /api/v1/ctl`).
    pub async fn ctl_views(&self) -> Result<Vec<CtlView>> {
        Ok(self.ctl().await?.iter().map(CtlView::from).collect())
    }

    /// Removes a trust-list entry.
    pub async fn ctl_remove(&self, thumbprint: &str) -> Result<bool> {
        let sha512 = self.ctl_key(thumbprint).await?;
        Ok(self.store.ctl_remove(&sha512).await?)
    }

    async fn load_ctl(&self) -> Result<Ctl> {
        let mut ctl = Ctl::default();
        for e in self.store.ctl_list().await? {
            let status = if e.status == "blacklisted" {
                CtlStatus::Blacklisted
            } else {
                CtlStatus::Whitelisted {
                    allow_expired: e.allow_expired,
                }
            };
            ctl.entries.insert(e.sha512, status);
        }
        Ok(ctl)
    }

    /// Validates a stored certificate against the stores at time `at`.
    pub async fn verify_stored(
        &self,
        view: &CertView,
        at: i64,
        purpose: Purpose,
        email: Option<&str>,
    ) -> Result<Verdict> {
        // The cache is keyed by the trust generation, which every change of roots, CA
        // certificates, CRLs or the trust list renews: one cheap read decides whether
        // anything cached may still be used.
        self.verify_stored_with(view, at, purpose, email, None)
            .await
    }

    /// [`App::verify_stored`] with the caller's RFC 5280 inputs (policy set and flags,
    /// revocation, profile; `None`: the defaults). Verdicts with caller inputs are not cached.
    pub async fn verify_stored_with(
        &self,
        view: &CertView,
        at: i64,
        purpose: Purpose,
        email: Option<&str>,
        inputs: Option<&Options>,
    ) -> Result<Verdict> {
        let generation = self.store.trust_generation().await?;
        self.verify_inner(view, at, purpose, email, generation, inputs, &[], None)
            .await
    }

    /// [`App::verify_stored_with`] with `extra` certificates (those a signed message
    /// carried) as candidate intermediates beside the stored ones: a signer is judged the
    /// same whether or not its certificates were collected into the store.
    pub async fn verify_with_extra(
        &self,
        view: &CertView,
        at: i64,
        purpose: Purpose,
        (inputs, min_rsa_bits): (Option<&Options>, Option<u32>),
        extra: &[&Certificate],
    ) -> Result<Verdict> {
        let generation = self.store.trust_generation().await?;
        self.verify_inner(
            view,
            at,
            purpose,
            None,
            generation,
            inputs,
            extra,
            min_rsa_bits,
        )
        .await
    }

    /// [`App::verify_stored`] with the trust generation already read (one read per request)
    /// and the `min-rsa-bits` of the party the verdict is for.
    pub(crate) async fn verify_with_generation(
        &self,
        view: &CertView,
        at: i64,
        purpose: Purpose,
        email: Option<&str>,
        generation: String,
        min_rsa_bits: u32,
    ) -> Result<Verdict> {
        self.verify_inner(
            view,
            at,
            purpose,
            email,
            generation,
            None,
            &[],
            Some(min_rsa_bits),
        )
        .await
    }

    /// The root store, parsed (cached per trust generation).
    async fn load_anchors(&self) -> Result<Arc<Vec<Certificate>>> {
        let a: Arc<Vec<Certificate>> = Arc::new(
            self.store
                .all_roots()
                .await?
                .iter()
                .filter_map(|d| Certificate::from_der(d, &AwsLcOps).ok())
                .collect(),
        );
        {
            let mut c = crate::lock(&self.cache);
            c.anchors = Some(a.clone());
        }
        Ok(a)
    }

    /// The roots with DSA keys that carry parameters: a DSA signer whose key has none
    /// inherits them from the nearest DSA issuer (RFC 3279 2.3.2), which may be a root that
    /// the message does not carry.
    pub async fn dsa_roots(&self) -> Result<Vec<Certificate>> {
        let generation = self.store.trust_generation().await?;
        let cached = {
            let c = crate::lock(&self.cache);
            (c.generation.as_deref() == Some(generation.as_str()))
                .then(|| c.anchors.clone())
                .flatten()
        };
        let anchors = match cached {
            Some(a) => a,
            None => self.load_anchors().await?,
        };
        Ok(anchors
            .iter()
            .filter(|c| c.vd.key_oid == DSA_KEY && c.vd.key_parameters.is_some())
            .cloned()
            .collect())
    }

    /// The global `min-rsa-bits`, read once per trust generation.
    pub async fn global_min_rsa_bits(&self) -> Result<u32> {
        let generation = self.store.trust_generation().await?;
        self.global_min_rsa_bits_at(&generation).await
    }

    /// [`App::global_min_rsa_bits`] with the trust generation already read.
    async fn global_min_rsa_bits_at(&self, generation: &str) -> Result<u32> {
        {
            let c = crate::lock(&self.cache);
            if c.generation.as_deref() == Some(generation)
                && let Some(b) = c.min_rsa_bits
            {
                return Ok(b);
            }
        }
        let b = self
            .global_setting(&crate::settings::MIN_RSA_BITS)
            .await?
            .parse()
            .unwrap_or(certmail_pki::verify::DEFAULT_MIN_RSA_BITS);
        {
            let mut c = crate::lock(&self.cache);
            if c.generation.as_deref() == Some(generation) {
                c.min_rsa_bits = Some(b);
            }
        }
        Ok(b)
    }

    #[allow(clippy::too_many_arguments)]
    async fn verify_inner(
        &self,
        view: &CertView,
        at: i64,
        purpose: Purpose,
        email: Option<&str>,
        generation: String,
        inputs: Option<&Options>,
        extra: &[&Certificate],
        min_rsa_bits: Option<u32>,
    ) -> Result<Verdict> {
        // Caller inputs carry their own minimum; otherwise the party's, or the global one.
        let min_rsa_bits = match (inputs, min_rsa_bits) {
            (Some(i), _) => i.min_rsa_bits,
            (None, Some(b)) => b,
            // The generation this verdict is read under (no second read of it).
            (None, None) => self.global_min_rsa_bits_at(&generation).await?,
        };
        // A verdict reached with a message's certificates is kept apart from one reached
        // with the stores alone: the key names them.
        let mut id = view.cert.sha256.clone();
        for c in extra {
            id.push('+');
            id.push_str(&c.sha256[..16.min(c.sha256.len())]);
        }
        let key = (
            id,
            purpose as u8,
            email.map(str::to_lowercase),
            min_rsa_bits,
        );
        let (anchors, ctl) = {
            let mut cache = crate::lock(&self.cache);
            if cache.generation.as_deref() != Some(generation.as_str()) {
                *cache = TrustCache {
                    generation: Some(generation.clone()),
                    ..TrustCache::default()
                };
            }
            if let Some((v, from, until)) = cache.verdicts.get(&key)
                && inputs.is_none()
                && at >= *from
                && at <= *until
            {
                return Ok(v.clone());
            }
            (cache.anchors.clone(), cache.ctl.clone())
        };
        let anchors = match anchors {
            Some(a) => a,
            None => self.load_anchors().await?,
        };
        let ctl = match ctl {
            Some(c) => c,
            None => {
                let c = Arc::new(self.load_ctl().await?);
                {
                    let mut cache = crate::lock(&self.cache);
                    cache.ctl = Some(c.clone());
                }
                c
            }
        };
        // Candidate intermediates: walk issuer names upward from the certificate.
        let mut intermediates: Vec<Certificate> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        let mut names = vec![view.cert.issuer.clone()];
        while let Some(n) = names.pop() {
            if !seen.insert(n.clone()) || intermediates.len() >= MAX_CANDIDATES {
                continue;
            }
            for c in self.issuer_candidates(&n).await? {
                if c.sha256 != view.cert.sha256
                    && !intermediates.iter().any(|x| x.sha256 == c.sha256)
                {
                    names.push(c.issuer.clone());
                    intermediates.push(c);
                }
            }
        }
        for c in extra {
            if c.sha256 != view.cert.sha256 && !intermediates.iter().any(|x| x.sha256 == c.sha256) {
                intermediates.push((*c).clone());
            }
        }
        let mut crls = Vec::new();
        let mut issuers: Vec<&str> = vec![view.cert.issuer.as_str()];
        issuers.extend(intermediates.iter().map(|c| c.issuer.as_str()));
        issuers.sort_unstable();
        issuers.dedup();
        for i in issuers {
            let cached = crate::lock(&self.cache).crls.get(i).cloned();
            let of_issuer = match cached {
                Some(v) => v,
                None => {
                    let mut v = Vec::new();
                    for sha in self.store.current_crl_shas(i).await? {
                        v.push(self.parsed_crl(&sha).await?);
                    }
                    {
                        let mut c = crate::lock(&self.cache);
                        if c.generation.as_deref() == Some(generation.as_str()) {
                            c.crls.insert(i.to_owned(), v.clone());
                        }
                    }
                    v
                }
            };
            crls.extend(of_issuer);
        }
        let crl_until = crls
            .iter()
            .filter_map(|c| c.next_update)
            .min()
            .unwrap_or(i64::MAX);
        let whitelisted = matches!(ctl.status(&view.cert), Some(CtlStatus::Whitelisted { .. }));
        let opts = Options {
            time: at,
            purpose,
            peer_name: email.map(|e| PeerName::Email(e.to_owned())),
            crls,
            ctl,
            min_rsa_bits,
            ..inputs.cloned().unwrap_or(Options {
                revocation: RevocationPolicy::IfAvailable,
                ..Options::default()
            })
        };
        let r = verify::verify(&view.cert, &intermediates, &anchors, &opts, &AwsLcOps);
        // Until when this verdict holds without any change to the trust material: the
        // earliest notAfter on the path (or the leaf's notBefore while not yet valid) and the
        // earliest CRL nextUpdate.
        let until = match &r {
            Ok(p) => p
                .certs
                .iter()
                .map(|c| c.not_after)
                .min()
                .unwrap_or(i64::MAX),
            Err(VerifyError::NotYetValid { .. }) => view.cert.not_before - 1,
            Err(_) => i64::MAX,
        }
        .min(crl_until);
        let v = Verdict::from_result(&r, whitelisted);
        {
            let mut cache = crate::lock(&self.cache);
            if inputs.is_none() && cache.generation.as_deref() == Some(generation.as_str()) {
                cache.verdicts.insert(key, (v.clone(), at, until));
            }
        }
        Ok(v)
    }

    /// Validates a certificate of either store by thumbprint.
    pub async fn verify_thumbprint(
        &self,
        thumbprint: &str,
        at: i64,
        purpose: Purpose,
        email: Option<&str>,
    ) -> Result<(CertView, Verdict)> {
        let view = self.get_any(thumbprint).await?;
        let v = self.verify_stored(&view, at, purpose, email).await?;
        Ok((view, v))
    }

    /// The store a thumbprint is in (for messages).
    pub async fn store_of(&self, thumbprint: &str) -> Result<StoreKind> {
        Ok(
            if self.get(StoreKind::Certificates, thumbprint).await.is_ok() {
                StoreKind::Certificates
            } else {
                StoreKind::Roots
            },
        )
    }
}

/// Reads certificates from files for the stateless verifier (PEM, DER or PKCS#7, many per file).
pub fn certificates_from_files(
    files: &[std::path::PathBuf],
) -> std::result::Result<Vec<Certificate>, (String, FileError)> {
    let mut out = Vec::new();
    for f in files {
        out.extend(crate::inspect_file(f).map_err(|e| (f.display().to_string(), e))?);
    }
    Ok(out)
}

/// Reads CRLs from files for the stateless verifier.
pub fn crls_from_files(
    files: &[std::path::PathBuf],
) -> std::result::Result<Vec<Crl>, (String, FileError)> {
    let mut out = Vec::new();
    for f in files {
        let data =
            crate::import::read_file(Path::new(f)).map_err(|e| (f.display().to_string(), e))?;
        out.extend(parse_crl_file(&data).map_err(|e| (f.display().to_string(), e))?);
    }
    Ok(out)
}
