//! certmail-app: the use cases, as a plain Rust API over `store`, `crypto` and `pki`.
//!
//! The CLI, the HTTP API and web admin (`certmail-server`), the gateway and the jobs only
//! parse input, call [`App`] and render or send.

pub mod admin;
pub mod auto_request;
pub mod backup;
pub mod ca;
mod ca_files;
mod ca_info;
pub mod ca_send;
mod cpu;
pub mod crl_sources;
pub mod directory;
mod error;
pub mod expiry;
pub mod fetch_guard;
pub mod hold;
mod import;
mod keyring;
mod lease;
pub mod mail_sender;
pub mod mailflow;
pub mod policy;
pub mod renew;
pub mod settings;
pub mod smime;
pub mod trust;

use std::path::{Path, PathBuf};

use certmail_crypto::pkcs12;
use certmail_crypto::{AwsLcOps, Kek, PrivateKey};
use certmail_pki::{Certificate, pkcs7};
use certmail_store::{KeySummary, ListFilter, Store, StoreKind};
use serde::Serialize;
use zeroize::Zeroizing;

pub use certmail_crypto::pkcs12::Pkcs12Form;
pub use certmail_crypto::random_bytes;
pub use error::{AppError, ErrorKind, FileError};
pub use import::MAX_FILE_SIZE as MAX_IMPORT_SIZE;
pub use import::{
    FileReport, ImportOptions, ItemKind, ItemReport, ItemStatus, RootPolicy, report_rows,
};
pub use keyring::PASSPHRASE_ENV;

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, AppError>;

/// Where certmail keeps its data.
#[derive(Debug, Clone)]
pub struct Config {
    /// The data directory (master key, SQLite database).
    pub data_dir: PathBuf,
    /// A database URL overriding the embedded SQLite file.
    pub database_url: Option<String>,
}

impl Config {
    /// The database URL in use: the given one, or the SQLite file in the data directory.
    pub fn database_url(&self) -> Result<String> {
        if let Some(u) = &self.database_url {
            return Ok(u.clone());
        }
        let dir =
            std::path::absolute(&self.data_dir).map_err(|e| AppError::io(&self.data_dir, e))?;
        Ok(format!(
            "sqlite://{}?mode=rwc",
            dir.join("certmail.db").display()
        ))
    }
}

/// A certificate with its place in the stores.
#[derive(Debug, Clone, Serialize)]
pub struct CertView {
    /// The parsed certificate.
    #[serde(flatten)]
    pub cert: Certificate,
    /// Which store.
    pub store: &'static str,
    /// Whether its private key is in the key store.
    pub has_key: bool,
    /// Import time, Unix seconds.
    pub imported_at: i64,
    /// The store's row id: the keyset cursor of lists in import order (not shown).
    #[serde(skip)]
    pub row_id: i64,
}

/// A private key as shown (`key list --json` and `GET /api/v1/keys`): which key, which
/// certificates use it; never the key itself.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KeyView {
    /// SHA-256 of the public key bits, hex.
    pub key_id: String,
    /// Readable algorithm ("RSA 2048").
    pub algorithm: String,
    /// Import time, Unix seconds.
    pub imported_at: i64,
    /// SHA-256 thumbprints of the certificates holding this public key.
    pub certificates: Vec<String>,
}

impl From<KeySummary> for KeyView {
    fn from(k: KeySummary) -> KeyView {
        KeyView {
            key_id: k.key_id,
            algorithm: k.algorithm,
            imported_at: k.imported_at,
            certificates: k.certificates,
        }
    }
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// PEM certificate (with `chain`, followed by its issuers).
    Pem,
    /// DER certificate.
    Der,
    /// PKCS#7 certs-only bundle with the chain.
    P7b,
    /// PKCS#12 with key, certificate and chain.
    P12,
}

/// Options of an export.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Include the issuer chain in PEM output.
    pub chain: bool,
    /// PKCS#12 password.
    pub password: Option<Zeroizing<String>>,
    /// PKCS#12 form.
    pub form: Pkcs12Form,
}

/// What `init` did.
#[derive(Debug, Clone, Serialize)]
pub struct InitReport {
    /// The data directory.
    pub data_dir: PathBuf,
    /// How the key-encryption key is protected.
    pub kek_source: String,
    /// The database in use (without credentials).
    pub database: String,
}

/// Certificates, roots and private keys held.
type Counts = (i64, i64, i64);

/// The certmail application over one data directory and database.
#[derive(Debug)]
pub struct App {
    pub(crate) store: Store,
    pub(crate) kek: Kek,
    pub(crate) cache: std::sync::Mutex<trust::TrustCache>,
    pub(crate) parsed_crls: trust::ParsedCrls,
    pub(crate) signers: std::sync::Mutex<mailflow::SignerCache>,
    pub(crate) flow_cache: std::sync::Mutex<mailflow::FlowCache>,
    pub(crate) counts: std::sync::Mutex<Option<(String, Counts)>>,
    /// Whether any directory is configured, as of a policy generation (the gateway asks
    /// for every recipient without a certificate; this spares the query when none is).
    pub(crate) directories_known: std::sync::Mutex<Option<(String, bool)>>,
    pub(crate) directory_client:
        std::sync::OnceLock<std::sync::Arc<dyn directory::DirectoryClient>>,
    /// Addresses whose automatic certificate request waits or failed, and when.
    pub(crate) auto_requested: std::sync::Mutex<auto_request::Recent>,
    /// The bound of CPU-heavy work ([`App::cpu`]).
    pub(crate) cpu: cpu::CpuPool,
}

/// Current time, Unix seconds (the app layer may read the clock; pki may not).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// RFC 3339 form of Unix seconds (for logs of the layers above).
pub fn format_time(t: i64) -> String {
    certmail_pki::time::format_rfc3339(t)
}

impl App {
    /// Creates the data directory, the key-encryption key (random master key file, or
    /// Argon2id from `passphrase`) and the database schema. Refuses to overwrite a key.
    pub async fn init(cfg: &Config, passphrase: Option<Zeroizing<String>>) -> Result<InitReport> {
        let kek_source = keyring::create(&cfg.data_dir, passphrase.as_ref().map(|p| p.as_bytes()))?;
        let kek = keyring::load(&cfg.data_dir, passphrase.as_ref().map(|p| p.as_bytes()))?;
        let url = cfg.database_url()?;
        let store = Store::open(&url).await?;
        keyring::check_or_set(&store, &kek).await?;
        store.close().await;
        Ok(InitReport {
            data_dir: cfg.data_dir.clone(),
            kek_source,
            database: redact_url(&url),
        })
    }

    /// Opens an initialised installation.
    pub async fn open(cfg: &Config, passphrase: Option<Zeroizing<String>>) -> Result<App> {
        let kek = keyring::load(&cfg.data_dir, passphrase.as_ref().map(|p| p.as_bytes()))?;
        let store = Store::open(&cfg.database_url()?).await?;
        keyring::check_or_set(&store, &kek).await?;
        Ok(App {
            store,
            kek,
            cache: std::sync::Mutex::new(trust::TrustCache::default()),
            parsed_crls: trust::ParsedCrls::default(),
            signers: std::sync::Mutex::new(mailflow::SignerCache::default()),
            flow_cache: std::sync::Mutex::new(mailflow::FlowCache::default()),
            counts: std::sync::Mutex::new(None),
            directories_known: std::sync::Mutex::new(None),
            directory_client: std::sync::OnceLock::new(),
            auto_requested: std::sync::Mutex::new(std::collections::HashMap::new()),
            cpu: cpu::CpuPool::default(),
        })
    }

    /// The underlying store (for benchmarks and tests).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Closes the database cleanly.
    pub async fn close(self) {
        self.store.close().await;
    }

    /// Imports files; each file is all-or-nothing, and one bad file does not stop the others.
    pub async fn import_files(&self, files: &[PathBuf], opts: &ImportOptions) -> Vec<FileReport> {
        let mut out = Vec::with_capacity(files.len());
        for f in files {
            let result = match import::read_file(f) {
                Ok(data) => self.import_bytes(&data, opts).await,
                Err(e) => Err(e),
            };
            out.push(FileReport {
                file: f.display().to_string(),
                result,
            });
        }
        out
    }

    /// Imports one file's bytes in one transaction.
    pub async fn import_bytes(
        &self,
        data: &[u8],
        opts: &ImportOptions,
    ) -> std::result::Result<Vec<ItemReport>, FileError> {
        let parsed = self
            .cpu(|| import::parse(data, opts.password.as_ref().map(|p| p.as_str())))
            .await?;
        if parsed.certs.is_empty() && parsed.keys.is_empty() && parsed.crls.is_empty() {
            return match parsed.failed.first() {
                Some(f) => Err(FileError::Unreadable(f.detail.clone())),
                None => Err(FileError::Empty),
            };
        }
        let certs: Vec<(StoreKind, &Certificate)> = parsed
            .certs
            .iter()
            .map(|c| (opts.roots.store_for(c), c))
            .collect();
        let keys = parsed
            .keys
            .iter()
            .map(|k| keyring::seal(&self.kek, k))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let (cert_outcomes, key_outcomes) = self
            .store
            .import(&certs, &keys, now())
            .await
            .map_err(FileError::Store)?;
        let mut items = Vec::new();
        for ((kind, c), o) in certs.iter().zip(cert_outcomes) {
            items.push(ItemReport::certificate(c, *kind, o));
        }
        for (k, o) in parsed.keys.iter().zip(key_outcomes) {
            items.push(ItemReport::key(k, o));
        }
        // CRLs after the certificates, so that an issuer in the same bundle checks them; each
        // goes through the `crl import` rules (newest valid per issuer) in its own transaction.
        // If the database fails between, importing the file again completes it (idempotent).
        for crl in parsed.crls {
            let report = self.import_crl(crl).await.map_err(|e| match e {
                AppError::Store(s) => FileError::Store(s),
                AppError::Pki(p) => FileError::Pki(p),
                other => FileError::Store(certmail_store::StoreError::Connect(other.to_string())),
            })?;
            items.push(ItemReport::crl(&report));
        }
        items.extend(parsed.failed);
        Ok(items)
    }

    fn view(&self, s: certmail_store::StoredCertificate) -> Result<CertView> {
        let cert = Certificate::from_der(&s.der, &AwsLcOps).map_err(AppError::Pki)?;
        Ok(CertView {
            cert,
            store: s.store.as_str(),
            has_key: s.has_key,
            imported_at: s.imported_at,
            row_id: s.id,
        })
    }

    /// Lists a store with filters.
    pub async fn list(&self, kind: StoreKind, filter: &ListFilter) -> Result<Vec<CertView>> {
        self.store
            .list(kind, filter)
            .await?
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    /// Certificates carrying an e-mail address (indexed lookup).
    pub async fn find_by_email(&self, email: &str) -> Result<Vec<CertView>> {
        self.store
            .find_by_email(&email.trim().to_lowercase())
            .await?
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    /// One certificate by thumbprint (prefix) in a store.
    pub async fn get(&self, kind: StoreKind, thumbprint: &str) -> Result<CertView> {
        let s = self.store.find_by_prefix(kind, thumbprint).await?;
        self.view(s)
    }

    /// One certificate by thumbprint, looked up in the certificate store, then the root store.
    pub async fn get_any(&self, thumbprint: &str) -> Result<CertView> {
        match self.get(StoreKind::Certificates, thumbprint).await {
            Err(AppError::Store(certmail_store::StoreError::NotFound { .. })) => {
                self.get(StoreKind::Roots, thumbprint).await
            }
            other => other,
        }
    }

    /// The issuers of `cert` found in the stores, nearest first, up to a self-issued one.
    /// Candidates are matched by AKI -> SKI first, then by name. This is for bundling
    /// (export), not a trust decision.
    pub async fn chain(&self, cert: &Certificate) -> Result<Vec<Certificate>> {
        const MAX_DEPTH: usize = 10;
        let mut chain: Vec<Certificate> = Vec::new();
        let mut current = cert.clone();
        while !current.is_self_issued() && chain.len() < MAX_DEPTH {
            let mut candidates = match &current.authority_key_id {
                Some(aki) => self.store.find_by_ski(aki).await?,
                None => Vec::new(),
            };
            candidates.extend(self.store.find_by_subject(&current.issuer).await?);
            let next = candidates
                .into_iter()
                .filter_map(|s| Certificate::from_der(&s.der, &AwsLcOps).ok())
                .find(|c| {
                    c.subject == current.issuer
                        && c.sha256 != cert.sha256
                        && !chain.iter().any(|x| x.sha256 == c.sha256)
                });
            match next {
                Some(n) => {
                    chain.push(n.clone());
                    current = n;
                }
                None => break,
            }
        }
        Ok(chain)
    }

    /// Exports a certificate (from either store) in the given format.
    pub async fn export(
        &self,
        thumbprint: &str,
        format: ExportFormat,
        opts: &ExportOptions,
    ) -> Result<Vec<u8>> {
        let view = self.get_any(thumbprint).await?;
        let cert = view.cert;
        match format {
            ExportFormat::Der => Ok(cert.der.clone()),
            ExportFormat::Pem => {
                let mut out = cert.to_pem();
                if opts.chain {
                    for c in self.chain(&cert).await? {
                        out.push_str(&c.to_pem());
                    }
                }
                Ok(out.into_bytes())
            }
            ExportFormat::P7b => {
                let mut ders = vec![cert.der.clone()];
                ders.extend(self.chain(&cert).await?.into_iter().map(|c| c.der));
                Ok(pkcs7::encode_certs_only(&ders)?)
            }
            ExportFormat::P12 => {
                let password = opts.password.as_ref().ok_or(AppError::PasswordRequired)?;
                let key = self.private_key(&cert).await?;
                let mut ders = vec![cert.der.clone()];
                ders.extend(self.chain(&cert).await?.into_iter().map(|c| c.der));
                let name = cert.display_name().to_owned();
                Ok(self
                    .cpu(|| pkcs12::write(&key, &ders, &name, password, opts.form))
                    .await?)
            }
        }
    }

    /// The private key of a certificate, unsealed (stays inside the process).
    pub async fn private_key(&self, cert: &Certificate) -> Result<PrivateKey> {
        let stored = self
            .store
            .get_key(&cert.key_id)
            .await?
            .ok_or_else(|| AppError::NoPrivateKey(cert.sha256.clone()))?;
        keyring::unseal(&self.kek, &stored)
    }

    /// Deletes a certificate from a store; returns what was deleted.
    pub async fn delete(&self, kind: StoreKind, thumbprint: &str) -> Result<CertView> {
        let view = self.get(kind, thumbprint).await?;
        self.store
            .delete_certificate(kind, &view.cert.sha256)
            .await?;
        Ok(view)
    }

    /// Certificates and roots expiring within `days`, soonest first.
    pub async fn expiring(&self, days: i64, limit: i64) -> Result<Vec<CertView>> {
        let t = now();
        self.store
            .expiring(t, t + days * 86_400, limit)
            .await?
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    /// What will expire within `days`: certificates with a private key (internal users),
    /// CA certificates and roots, soonest first (`certmail expiry`, the expiry job).
    pub async fn expiry(&self, days: i64, limit: i64) -> Result<Vec<CertView>> {
        let t = now();
        self.store
            .expiring_watched(t, t + days * 86_400, limit)
            .await?
            .into_iter()
            .map(|s| self.view(s))
            .collect()
    }

    /// Certificates, roots and private keys held (for the dashboard). Counting a million
    /// rows takes a while, so the answer is kept until the store's generations change
    /// (every import and deletion changes them).
    pub async fn counts(&self) -> Result<(i64, i64, i64)> {
        let key = self.store.generations().await?;
        {
            let c = crate::lock(&self.counts);
            if let Some((k, v)) = c.as_ref()
                && *k == key
            {
                return Ok(*v);
            }
        }
        let (certificates, roots) = self.store.count_by_store().await?;
        let v = (certificates, roots, self.store.count_keys().await?);
        {
            let mut c = crate::lock(&self.counts);
            *c = Some((key, v));
        }
        Ok(v)
    }

    /// Every private key with the certificates using it.
    pub async fn keys(&self) -> Result<Vec<KeyView>> {
        Ok(self
            .store
            .list_keys()
            .await?
            .into_iter()
            .map(KeyView::from)
            .collect())
    }

    /// Deletes a private key (by id prefix); refuses when certificates use it unless `force`.
    pub async fn delete_key(&self, key_id: &str, force: bool) -> Result<String> {
        let id = self.store.resolve_key_prefix(key_id).await?;
        self.store.delete_key(&id, force).await?;
        Ok(id)
    }
}

/// Reads the first private key of a file (PEM, DER or PKCS#12) without storing it.
pub fn parse_key_file(
    data: &[u8],
    password: Option<&str>,
) -> std::result::Result<PrivateKey, FileError> {
    import::parse(data, password)?
        .keys
        .into_iter()
        .next()
        .ok_or(FileError::Empty)
}

/// Parses a file without storing anything (for `cert show FILE`).
pub fn inspect_file(path: &Path) -> std::result::Result<Vec<Certificate>, FileError> {
    let data = import::read_file(path)?;
    import::parse_certificates_only(&data)
}

fn redact_url(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://***{}", &url[..s], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod lock_tests {
    /// A panic while a cache is held poisons its mutex; the next user gets the data back
    /// instead of skipping the cache (or failing open).
    #[test]
    fn a_poisoned_lock_is_recovered_not_skipped() {
        let m = std::sync::Arc::new(std::sync::Mutex::new(vec![1, 2]));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let mut g = m2.lock().expect("first lock");
            g.push(3);
            panic!("a panic while the lock is held");
        })
        .join();
        assert!(m.is_poisoned());
        let mut g = super::lock(&m);
        assert_eq!(*g, vec![1, 2, 3]);
        g.push(4);
        drop(g);
        assert_eq!(super::lock(&m).len(), 4);
    }
}
