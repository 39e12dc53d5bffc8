//! certmail-store: the persistent model behind one interface, on SQLite (embedded default)
//! or PostgreSQL (shared by several nodes).
//!
//! Both back ends run the same SQL through sqlx's `Any` driver: statements use `$1, $2, ...`
//! placeholders in ascending order of first use (PostgreSQL's syntax, which SQLite reads as
//! numbered parameters), and only the types both sides share (BIGINT, TEXT, BLOB/BYTEA).
//! The schema differs only where the dialects do, in `migrations/{sqlite,postgres}`.
//!
//! The store never sees a private key in the clear: it keeps sealed blobs made by the crypto
//! layer, and the certificate DER with the columns needed for indexed lookups.

mod admin;
mod backup;
mod ca;
mod commits;
mod directory;
mod error;
mod hold;
mod jobs;
mod migrate;
mod policy;
mod trust;

use certmail_pki::Certificate;
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Row};

pub use admin::{AccountRow, AuditFilter, AuditRow, SessionRow, TokenRow};
pub use backup::{Column, ColumnType, DumpSink, LEFT_OUT, Restore, TABLES, Value};
pub use ca::{CaRow, IssuedRow, PendingRow, RenewalRow};
pub use directory::{DirectoryLookupRow, DirectoryRow};
pub use error::StoreError;
pub use hold::{HeldRow, NewHeld};
pub use jobs::{CrlFetchRecord, CrlSourceRow, source_urls as crl_source_urls};
pub use policy::{Party, SelectionKind, SettingRow};
pub use trust::{CtlEntry, NewCrl, StoredCrl};

/// Result alias of this crate.
pub type Result<T> = std::result::Result<T, StoreError>;

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite file.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// The two certificate stores of the reference: end-user + intermediate, and trusted roots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreKind {
    /// End-user and intermediate certificates.
    Certificates,
    /// Trusted root certificates (trust anchors).
    Roots,
}

impl StoreKind {
    /// The value kept in the `store` column.
    pub fn as_str(self) -> &'static str {
        match self {
            StoreKind::Certificates => "certificates",
            StoreKind::Roots => "roots",
        }
    }

    fn parse(s: &str) -> StoreKind {
        if s == "roots" {
            StoreKind::Roots
        } else {
            StoreKind::Certificates
        }
    }
}

/// Whether an item was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Added by this call.
    Imported,
    /// Was already there (same thumbprint / key id): nothing changed.
    Present,
}

/// A sealed private key to store.
#[derive(Debug, Clone)]
pub struct NewKey {
    /// SHA-256 of the public key bits, hex.
    pub key_id: String,
    /// Readable algorithm ("RSA 2048").
    pub algorithm: String,
    /// The key sealed by the key-encryption key.
    pub sealed: Vec<u8>,
}

/// A certificate as stored.
#[derive(Debug, Clone)]
pub struct StoredCertificate {
    /// Row id.
    pub id: i64,
    /// Which store it is in.
    pub store: StoreKind,
    /// The DER.
    pub der: Vec<u8>,
    /// Whether a private key with the same public key is in the key store.
    pub has_key: bool,
    /// Import time, Unix seconds.
    pub imported_at: i64,
}

/// A sealed key as stored.
#[derive(Debug, Clone)]
pub struct StoredKey {
    /// SHA-256 of the public key bits, hex.
    pub key_id: String,
    /// Readable algorithm.
    pub algorithm: String,
    /// Sealed PKCS#8.
    pub sealed: Vec<u8>,
    /// Import time, Unix seconds.
    pub imported_at: i64,
}

/// A key with the certificates that use it.
#[derive(Debug, Clone)]
pub struct KeySummary {
    /// SHA-256 of the public key bits, hex.
    pub key_id: String,
    /// Readable algorithm.
    pub algorithm: String,
    /// Import time, Unix seconds.
    pub imported_at: i64,
    /// SHA-256 thumbprints of the certificates holding this public key.
    pub certificates: Vec<String>,
}

/// Expiry filter of the reference ("Show all", "Unexpired only", "Expired only").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiredFilter {
    /// Expired and unexpired.
    #[default]
    All,
    /// notAfter >= now.
    Unexpired,
    /// notAfter < now.
    Expired,
}

/// Private-key filter ("allow missing key alias").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeyFilter {
    /// With or without a key.
    #[default]
    Any,
    /// Only certificates whose key is in the key store.
    WithKey,
    /// Only certificates without a key.
    WithoutKey,
}

/// List order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortBy {
    /// Import order.
    #[default]
    Imported,
    /// Subject DN.
    Subject,
    /// Expiry.
    NotAfter,
    /// Start of validity.
    NotBefore,
}

/// Listing parameters.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Exact e-mail address (lower-cased by the caller's model), through the e-mail index.
    pub email: Option<String>,
    /// Case-insensitive substring of an e-mail address or the subject (scans).
    pub search: Option<String>,
    /// Expiry filter.
    pub expired: ExpiredFilter,
    /// Key filter.
    pub key: KeyFilter,
    /// Order.
    pub sort: SortBy,
    /// Reverse order.
    pub descending: bool,
    /// Page size.
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
    /// Keyset paging (import order only): only rows past this row id in the listing's
    /// direction (below it when descending). Unlike `offset`, a deep page costs no more than
    /// the first, since the id index seeks straight to it.
    pub after_id: Option<i64>,
    /// "Now" for the expiry filter, Unix seconds.
    pub now: i64,
}

/// Sets a `meta` value through any executor: the pool, or a transaction that changes what
/// the value (a generation token) stands for.
pub(crate) async fn meta_upsert<'e, E>(e: E, name: &str, value: &str) -> Result<()>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    sqlx::query("INSERT INTO meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
        .bind(name)
        .bind(value)
        .execute(e)
        .await?;
    Ok(())
}

/// The store facade.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    commits: std::sync::Arc<commits::CommitProbe>,
}

static NEXT_TOKEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn new_token() -> String {
    let n = NEXT_TOKEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{nanos:x}-{:x}-{n}", std::process::id())
}

/// Certificates per multi-row INSERT.
const CERT_CHUNK: usize = 200;
/// E-mail rows per multi-row INSERT.
const EMAIL_CHUNK: usize = 1000;

const CERT_COLUMNS: &str = "c.id, c.store, c.der, c.imported_at, \
     CAST(CASE WHEN EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id) THEN 1 ELSE 0 END AS BIGINT) AS has_key";

fn cert_from_row(row: &AnyRow) -> Result<StoredCertificate> {
    Ok(StoredCertificate {
        id: row.try_get("id")?,
        store: StoreKind::parse(&row.try_get::<String, _>("store")?),
        der: row.try_get("der")?,
        has_key: row.try_get::<i64, _>("has_key")? != 0,
        imported_at: row.try_get("imported_at")?,
    })
}

/// The range `[lower, upper)` of hex strings starting with `prefix` (lower-cased; every hex
/// string starting with it sorts below `prefix~`), or why `prefix` is not hex.
pub(crate) fn prefix_range(prefix: &str) -> Result<(String, String)> {
    let p = prefix.to_ascii_lowercase();
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::BadThumbprint(prefix.to_owned()));
    }
    let end = format!("{p}~");
    Ok((p, end))
}

/// The one row a prefix look-up (`LIMIT 2`) found: none is NotFound, two are ambiguous.
pub(crate) fn exactly_one<T>(
    rows: &[AnyRow],
    what: &'static str,
    prefix: &str,
    f: impl Fn(&AnyRow) -> Result<T>,
) -> Result<T> {
    match rows {
        [] => Err(StoreError::NotFound {
            what,
            id: prefix.to_owned(),
        }),
        [one] => f(one),
        _ => Err(StoreError::Ambiguous(prefix.to_owned())),
    }
}

/// The database file of a SQLite URL, made absolute; `None` for an in-memory database.
fn sqlite_file(url: &str) -> Option<std::path::PathBuf> {
    use std::str::FromStr;
    let opts = sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
    let name = opts.get_filename();
    let s = name.to_string_lossy();
    if s.is_empty() || s == ":memory:" || s.starts_with("file:") {
        return None;
    }
    std::fs::canonicalize(name).ok()
}

impl Store {
    /// The n-th parameter of a long generated statement. SQLite gets anonymous `?`
    /// (bound in order): looking up `$N` names is linear per parameter there, which makes
    /// a 3,000-parameter statement quadratic.
    fn placeholder(&self, n: usize) -> String {
        match self.backend {
            Backend::Sqlite => "?".to_owned(),
            Backend::Postgres => format!("${n}"),
        }
    }

    /// Opens (and migrates) the store at `url`: `sqlite:///path/file.db` or `postgres://...`.
    pub async fn open(url: &str) -> Result<Store> {
        let store = Store::connect(url).await?;
        migrate::run(&store.pool, store.backend, None).await?;
        Ok(store)
    }

    /// Connects to the store at `url` without touching its schema.
    async fn connect(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(
                url.split(':').next().unwrap_or_default().to_owned(),
            ));
        };
        let mut opts =
            AnyPoolOptions::new().max_connections(if backend == Backend::Sqlite { 4 } else { 8 });
        if backend == Backend::Sqlite {
            // A SQLite connection is a file handle that does not go stale, so it is not
            // pinged on every checkout (sqlx's default): the ping is one more hand-off to the
            // connection's worker thread, with its context switches, per query. PostgreSQL
            // keeps the test, since its server may have restarted since.
            opts = opts.test_before_acquire(false);
            opts = opts.after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = opts
            .connect(url)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
        }
        let commits = match backend {
            Backend::Sqlite => sqlite_file(url)
                .map_or_else(commits::CommitProbe::none, commits::CommitProbe::sqlite),
            Backend::Postgres => commits::CommitProbe::none(),
        };
        Ok(Store {
            pool,
            backend,
            commits: std::sync::Arc::new(commits),
        })
    }

    /// The back end in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes all connections (checkpointing SQLite's WAL).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Reads a value of the `meta` table.
    pub async fn meta_get(&self, name: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM meta WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match row {
            Some(r) => Some(r.try_get("value")?),
            None => None,
        })
    }

    /// Sets a value of the `meta` table.
    pub async fn meta_set(&self, name: &str, value: &str) -> Result<()> {
        meta_upsert(&self.pool, name, value).await
    }

    /// The trust generation: a token renewed by every change that can change a verdict
    /// (roots, CA certificates, deletions, CRLs, trust list). Caches compare it.
    pub async fn trust_generation(&self) -> Result<String> {
        Ok(self.meta_get("trust_generation").await?.unwrap_or_default())
    }

    /// Renews the trust generation (and with it the policy generation).
    pub async fn bump_trust_generation(&self) -> Result<()> {
        self.meta_set("trust_generation", &new_token()).await?;
        self.bump_policy_generation().await
    }

    /// Renews the policy generation: a token renewed by every change that can change what
    /// the gateway does with a message (settings, selections, any certificate or key
    /// imported or deleted, and every trust change). Several nodes sharing a database
    /// compare it once per message to know whether their caches still hold.
    pub async fn bump_policy_generation(&self) -> Result<()> {
        self.meta_set("policy_generation", &new_token()).await
    }

    /// The trust and policy generations in one query, joined (`trust/policy`).
    ///
    /// On SQLite, when nothing has been committed to the database since the last query
    /// (by any process: the WAL-index header says so, see `commits.rs`), the last answer is
    /// returned without a query.
    pub async fn generations(&self) -> Result<String> {
        let mark = match self.commits.check() {
            Ok(value) => return Ok(value),
            Err(mark) => mark,
        };
        let out = self.generations_query().await?;
        self.commits.remember(mark, &out);
        Ok(out)
    }

    /// How [`Store::generations`] was answered so far: (queries, answers reused).
    pub fn generations_counts(&self) -> (u64, u64) {
        self.commits.counts()
    }

    async fn generations_query(&self) -> Result<String> {
        let rows = sqlx::query(
            "SELECT name, value FROM meta WHERE name IN ('trust_generation', 'policy_generation') ORDER BY name",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out = String::new();
        for r in rows {
            let name: String = r.try_get("name")?;
            let value: String = r.try_get("value")?;
            out.push_str(&name[..1]);
            out.push('=');
            out.push_str(&value);
            out.push(';');
        }
        Ok(out)
    }

    /// Certificate DERs with row ids above `after`, in id order, at most `limit` (for jobs
    /// that must look at every stored certificate once, e.g. the CRL sources backfill).
    pub async fn certificate_ders_after(
        &self,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, Vec<u8>)>> {
        let rows =
            sqlx::query("SELECT id, der FROM certificates WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("id")?, r.try_get("der")?)))
            .collect()
    }

    /// Stores certificates and sealed keys in one transaction: either all of them are
    /// written or none. Items already present (same store + SHA-256, same key id) are left
    /// as they are and reported [`Outcome::Present`].
    pub async fn import(
        &self,
        certs: &[(StoreKind, &Certificate)],
        keys: &[NewKey],
        now: i64,
    ) -> Result<(Vec<Outcome>, Vec<Outcome>)> {
        self.import_issued(certs, keys, &[], now).await
    }

    /// [`Store::import`] with the issued-certificate records of a CA in the same
    /// transaction: a crash leaves either the certificates, keys and records, or none.
    pub async fn import_issued(
        &self,
        certs: &[(StoreKind, &Certificate)],
        keys: &[NewKey],
        issued: &[IssuedRow],
        now: i64,
    ) -> Result<(Vec<Outcome>, Vec<Outcome>)> {
        self.import_inner(certs, keys, issued, now, true).await
    }

    /// [`Store::import`] of certificates whose CRL distribution points must not become
    /// download sources (certificates collected from strangers' mail: the caller registers
    /// the sources of those that chain to a trusted root).
    pub async fn import_without_sources(
        &self,
        certs: &[(StoreKind, &Certificate)],
        now: i64,
    ) -> Result<(Vec<Outcome>, Vec<Outcome>)> {
        self.import_inner(certs, &[], &[], now, false).await
    }

    async fn import_inner(
        &self,
        certs: &[(StoreKind, &Certificate)],
        keys: &[NewKey],
        issued: &[IssuedRow],
        now: i64,
        register_sources: bool,
    ) -> Result<(Vec<Outcome>, Vec<Outcome>)> {
        let mut tx = self.pool.begin().await?;
        for r in issued {
            ca::insert_issued(&mut tx, r).await?;
        }
        let mut cert_outcomes = vec![Outcome::Present; certs.len()];
        let mut email_rows: Vec<(i64, &str)> = Vec::new();
        // Multi-row statements: one round trip per CERT_CHUNK certificates instead of one each
        // (15 parameters per row; SQLite allows 32,766 and PostgreSQL 65,535 per statement).
        for (chunk_no, chunk) in certs.chunks(CERT_CHUNK).enumerate() {
            let mut sql = String::from(
                "INSERT INTO certificates (store, sha256, sha512, subject, common_name, issuer, serial, \
                 not_before, not_after, ski, aki, key_id, is_ca, der, imported_at) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 15;
                sql += if i == 0 { "(" } else { ", (" };
                sql += &(1..=15)
                    .map(|k| self.placeholder(b + k))
                    .collect::<Vec<_>>()
                    .join(", ");
                sql += ")";
            }
            sql += " ON CONFLICT (sha256, store) DO NOTHING RETURNING id, sha256, store";
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (kind, c) in chunk {
                q = q
                    .bind(kind.as_str())
                    .bind(&c.sha256)
                    .bind(&c.sha512)
                    .bind(&c.subject)
                    .bind(c.common_name.as_deref())
                    .bind(&c.issuer)
                    .bind(&c.serial)
                    .bind(c.not_before)
                    .bind(c.not_after)
                    .bind(c.subject_key_id.as_deref())
                    .bind(c.authority_key_id.as_deref())
                    .bind(&c.key_id)
                    .bind(i64::from(c.is_ca()))
                    .bind(c.der.as_slice())
                    .bind(now);
            }
            // RETURNING lists only inserted rows, in no promised order: match them by identity.
            for row in q.fetch_all(&mut *tx).await? {
                let id: i64 = row.try_get("id")?;
                let sha: String = row.try_get("sha256")?;
                let store: String = row.try_get("store")?;
                let pos = chunk
                    .iter()
                    .position(|(k, c)| c.sha256 == sha && k.as_str() == store)
                    .ok_or(StoreError::Inconsistent(
                        "RETURNING named a row that was not inserted",
                    ))?;
                cert_outcomes[chunk_no * CERT_CHUNK + pos] = Outcome::Imported;
                email_rows.extend(chunk[pos].1.emails.iter().map(|e| (id, e.as_str())));
            }
        }
        for chunk in email_rows.chunks(EMAIL_CHUNK) {
            let mut sql =
                String::from("INSERT INTO certificate_emails (certificate_id, email) VALUES ");
            for i in 0..chunk.len() {
                let (a, b) = (self.placeholder(2 * i + 1), self.placeholder(2 * i + 2));
                sql += &format!("{}({a}, {b})", if i == 0 { "" } else { ", " });
            }
            sql += " ON CONFLICT DO NOTHING";
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for (id, email) in chunk {
                q = q.bind(*id).bind(*email);
            }
            q.execute(&mut *tx).await?;
        }
        // The CRL distribution points of new certificates become download sources.
        let mut urls: Vec<&str> = certs
            .iter()
            .zip(&cert_outcomes)
            .filter(|(_, o)| register_sources && **o == Outcome::Imported)
            .flat_map(|((_, c), _)| jobs::source_urls(c))
            .collect();
        urls.sort_unstable();
        urls.dedup();
        for url in urls {
            sqlx::query(
                "INSERT INTO crl_sources (url, first_seen, next_attempt) VALUES ($1, $2, $3) \
                 ON CONFLICT (url) DO NOTHING",
            )
            .bind(url)
            .bind(now)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let mut key_outcomes = Vec::with_capacity(keys.len());
        for k in keys {
            let row = sqlx::query(
                "INSERT INTO private_keys (key_id, algorithm, sealed, imported_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key_id) DO NOTHING RETURNING id",
            )
            .bind(&k.key_id)
            .bind(&k.algorithm)
            .bind(k.sealed.as_slice())
            .bind(now)
            .fetch_optional(&mut *tx)
            .await?;
            key_outcomes.push(if row.is_some() {
                Outcome::Imported
            } else {
                Outcome::Present
            });
        }
        tx.commit().await?;
        let affects_trust = certs.iter().zip(&cert_outcomes).any(|((kind, c), o)| {
            *o == Outcome::Imported && (*kind == StoreKind::Roots || c.is_ca())
        });
        if affects_trust {
            self.bump_trust_generation().await?;
        } else if cert_outcomes
            .iter()
            .chain(&key_outcomes)
            .any(|o| *o == Outcome::Imported)
        {
            self.bump_policy_generation().await?;
        }
        Ok((cert_outcomes, key_outcomes))
    }

    async fn certs_where(&self, clause: &str, binds: &[&str]) -> Result<Vec<StoredCertificate>> {
        let sql = format!("SELECT {CERT_COLUMNS} FROM certificates c WHERE {clause} ORDER BY c.id");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = q.bind(*b);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// Finds one certificate by a thumbprint (SHA-256 hex) or an unambiguous prefix of it.
    pub async fn find_by_prefix(&self, kind: StoreKind, prefix: &str) -> Result<StoredCertificate> {
        let (lower, upper) = prefix_range(prefix)?;
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates c WHERE c.store = $1 AND c.sha256 >= $2 AND c.sha256 < $3 ORDER BY c.sha256 LIMIT 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(kind.as_str())
            .bind(&lower)
            .bind(&upper)
            .fetch_all(&self.pool)
            .await?;
        exactly_one(&rows, kind.as_str(), prefix, cert_from_row)
    }

    /// Certificates (certificate store) carrying `email` (lower-case), via the e-mail index.
    pub async fn find_by_email(&self, email: &str) -> Result<Vec<StoredCertificate>> {
        self.certs_where(
            "c.store = 'certificates' AND c.id IN (SELECT e.certificate_id FROM certificate_emails e WHERE e.email = $1)",
            &[email],
        )
        .await
    }

    /// Certificates in either store with this issuer DN and serial (hex).
    pub async fn find_by_issuer_serial(
        &self,
        issuer: &str,
        serial: &str,
    ) -> Result<Vec<StoredCertificate>> {
        self.certs_where("c.issuer = $1 AND c.serial = $2", &[issuer, serial])
            .await
    }

    /// Certificates in either store with this subject key identifier (hex).
    pub async fn find_by_ski(&self, ski: &str) -> Result<Vec<StoredCertificate>> {
        self.certs_where("c.ski = $1", &[ski]).await
    }

    /// Certificates in either store with this subject DN (issuer candidates for chains).
    pub async fn find_by_subject(&self, subject: &str) -> Result<Vec<StoredCertificate>> {
        self.certs_where("c.subject = $1", &[subject]).await
    }

    /// Certificates in either store whose public key has this key id.
    pub async fn find_by_key_id(&self, key_id: &str) -> Result<Vec<StoredCertificate>> {
        self.certs_where("c.key_id = $1", &[key_id]).await
    }

    /// Certificates in either store with this SHA-512 thumbprint (the CTL key).
    pub async fn find_by_sha512(&self, sha512: &str) -> Result<Vec<StoredCertificate>> {
        self.certs_where("c.sha512 = $1", &[sha512]).await
    }

    /// Lists one store with the reference's filters, paging and sorting.
    pub async fn list(&self, kind: StoreKind, f: &ListFilter) -> Result<Vec<StoredCertificate>> {
        let mut sql = format!("SELECT {CERT_COLUMNS} FROM certificates c WHERE c.store = $1");
        let mut n = 1;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut text_binds: Vec<String> = Vec::new();
        if let Some(e) = &f.email {
            sql += &format!(
                " AND c.id IN (SELECT e.certificate_id FROM certificate_emails e WHERE e.email = {})",
                next()
            );
            text_binds.push(e.to_lowercase());
        }
        if let Some(s) = &f.search {
            let pattern = like_contains(&s.to_lowercase());
            let (a, b) = (next(), next());
            sql += &format!(
                " AND (lower(c.subject) LIKE {a} ESCAPE '\\' OR c.id IN (SELECT e.certificate_id FROM certificate_emails e WHERE e.email LIKE {b} ESCAPE '\\'))"
            );
            text_binds.push(pattern.clone());
            text_binds.push(pattern);
        }
        let now_param = match f.expired {
            ExpiredFilter::All => None,
            ExpiredFilter::Unexpired => Some(format!(" AND c.not_after >= {}", next())),
            ExpiredFilter::Expired => Some(format!(" AND c.not_after < {}", next())),
        };
        if let Some(cond) = &now_param {
            sql += cond;
        }
        match f.key {
            KeyFilter::Any => {}
            KeyFilter::WithKey => {
                sql += " AND EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id)"
            }
            KeyFilter::WithoutKey => {
                sql += " AND NOT EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id)"
            }
        }
        let after_param = match (f.after_id, f.sort) {
            (None, _) => None,
            (Some(_), SortBy::Imported) => Some(next()),
            (Some(_), _) => {
                return Err(StoreError::Invalid(
                    "a cursor pages only the import order".into(),
                ));
            }
        };
        if let Some(p) = &after_param {
            sql += &format!(" AND c.id {} {p}", if f.descending { "<" } else { ">" });
        }
        let column = match f.sort {
            SortBy::Imported => "c.id",
            SortBy::Subject => "lower(c.subject)",
            SortBy::NotAfter => "c.not_after",
            SortBy::NotBefore => "c.not_before",
        };
        let dir = if f.descending { "DESC" } else { "ASC" };
        sql += &format!(" ORDER BY {column} {dir}, c.id {dir}");
        let limit_param = f.limit.map(|_| next());
        if let Some(p) = &limit_param {
            sql += &format!(" LIMIT {p}");
        }
        let offset_param = (f.offset > 0).then(&mut next);
        if let Some(p) = &offset_param {
            if limit_param.is_none() && self.backend == Backend::Sqlite {
                // SQLite needs a LIMIT before OFFSET; -1 means none. PostgreSQL needs neither.
                sql += " LIMIT -1";
            }
            sql += &format!(" OFFSET {p}");
        }
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(kind.as_str());
        for t in &text_binds {
            q = q.bind(t.as_str());
        }
        if now_param.is_some() {
            q = q.bind(f.now);
        }
        if let Some(a) = f.after_id.filter(|_| after_param.is_some()) {
            q = q.bind(a);
        }
        if let Some(l) = f.limit {
            q = q.bind(l);
        }
        if offset_param.is_some() {
            q = q.bind(f.offset);
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// Certificates (either store) expiring in `[from, until)`, soonest first.
    pub async fn expiring(
        &self,
        from: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<StoredCertificate>> {
        self.expiring_where(from, until, limit, "").await
    }

    /// What the expiry job watches, expiring in `[from, until)`: certificates with a
    /// private key (internal users), CA certificates and roots; soonest first.
    pub async fn expiring_watched(
        &self,
        from: i64,
        until: i64,
        limit: i64,
    ) -> Result<Vec<StoredCertificate>> {
        self.expiring_where(
            from,
            until,
            limit,
            " AND (c.store = 'roots' OR c.is_ca = 1 \
             OR EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id))",
        )
        .await
    }

    /// The not_after index range, with a fixed extra condition (no user input in it).
    async fn expiring_where(
        &self,
        from: i64,
        until: i64,
        limit: i64,
        and: &'static str,
    ) -> Result<Vec<StoredCertificate>> {
        let sql = format!(
            "SELECT {CERT_COLUMNS} FROM certificates c WHERE c.not_after >= $1 AND c.not_after < $2\
             {and} ORDER BY c.not_after LIMIT $3"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(from)
            .bind(until)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(cert_from_row)
            .collect()
    }

    /// Certificates per store in one pass: (certificate store, root store).
    pub async fn count_by_store(&self) -> Result<(i64, i64)> {
        // The whole table is counted through its smallest index and the roots through their
        // partial index (schema v12): a `GROUP BY store` read every row's store column
        // (0.33 s at 1,000,000 certificates on SQLite; this takes about 7 ms).
        let row = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM certificates) AS total, \
             (SELECT COUNT(*) FROM certificates WHERE store = 'roots') AS roots",
        )
        .fetch_one(&self.pool)
        .await?;
        let total: i64 = row.try_get("total")?;
        let roots: i64 = row.try_get("roots")?;
        Ok((total - roots, roots))
    }

    /// Number of private keys.
    pub async fn count_keys(&self) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM private_keys")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Number of certificates in a store.
    pub async fn count(&self, kind: StoreKind) -> Result<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM certificates WHERE store = $1")
            .bind(kind.as_str())
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("n")?)
    }

    /// Deletes a certificate (and its e-mail index rows). Its private key, if any, stays.
    pub async fn delete_certificate(&self, kind: StoreKind, sha256: &str) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM certificate_emails WHERE certificate_id IN (SELECT id FROM certificates WHERE store = $1 AND sha256 = $2)")
            .bind(kind.as_str())
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        // A selection never names a deleted certificate (unless it is still in the other store).
        sqlx::query("DELETE FROM selections WHERE sha256 = $1 AND NOT EXISTS (SELECT 1 FROM certificates WHERE sha256 = $1 AND store <> $2)")
            .bind(sha256)
            .bind(kind.as_str())
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query("DELETE FROM certificates WHERE store = $1 AND sha256 = $2")
            .bind(kind.as_str())
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: kind.as_str(),
                id: sha256.to_owned(),
            });
        }
        tx.commit().await?;
        self.bump_trust_generation().await?;
        Ok(())
    }

    /// A sealed key by exact key id.
    pub async fn get_key(&self, key_id: &str) -> Result<Option<StoredKey>> {
        let row = sqlx::query(
            "SELECT key_id, algorithm, sealed, imported_at FROM private_keys WHERE key_id = $1",
        )
        .bind(key_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            Ok(StoredKey {
                key_id: r.try_get("key_id")?,
                algorithm: r.try_get("algorithm")?,
                sealed: r.try_get("sealed")?,
                imported_at: r.try_get("imported_at")?,
            })
        })
        .transpose()
    }

    /// Every key with the thumbprints of the certificates that use it.
    pub async fn list_keys(&self) -> Result<Vec<KeySummary>> {
        let rows = sqlx::query(
            "SELECT k.key_id, k.algorithm, k.imported_at, c.sha256 FROM private_keys k \
             LEFT JOIN certificates c ON c.key_id = k.key_id ORDER BY k.id, c.id",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut out: Vec<KeySummary> = Vec::new();
        for r in rows {
            let key_id: String = r.try_get("key_id")?;
            let sha: Option<String> = r.try_get("sha256")?;
            if out.last().is_none_or(|k| k.key_id != key_id) {
                out.push(KeySummary {
                    key_id,
                    algorithm: r.try_get("algorithm")?,
                    imported_at: r.try_get("imported_at")?,
                    certificates: Vec::new(),
                });
            }
            if let (Some(s), Some(last)) = (sha, out.last_mut()) {
                last.certificates.push(s);
            }
        }
        Ok(out)
    }

    /// Resolves a key id prefix to one key id.
    pub async fn resolve_key_prefix(&self, prefix: &str) -> Result<String> {
        let (lower, upper) = prefix_range(prefix)?;
        let rows = sqlx::query("SELECT key_id FROM private_keys WHERE key_id >= $1 AND key_id < $2 ORDER BY key_id LIMIT 2")
            .bind(&lower)
            .bind(&upper)
            .fetch_all(&self.pool)
            .await?;
        exactly_one(&rows, "keys", prefix, |r| Ok(r.try_get("key_id")?))
    }

    /// Deletes a key. If certificates use it, refuses unless `force`, naming them.
    pub async fn delete_key(&self, key_id: &str, force: bool) -> Result<()> {
        let users: Vec<String> =
            sqlx::query("SELECT sha256 FROM certificates WHERE key_id = $1 ORDER BY id")
                .bind(key_id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|r| r.try_get("sha256"))
                .collect::<std::result::Result<_, _>>()?;
        if !users.is_empty() && !force {
            return Err(StoreError::KeyInUse {
                key_id: key_id.to_owned(),
                certificates: users,
            });
        }
        let done = sqlx::query("DELETE FROM private_keys WHERE key_id = $1")
            .bind(key_id)
            .execute(&self.pool)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound {
                what: "keys",
                id: key_id.to_owned(),
            });
        }
        self.bump_policy_generation().await?;
        Ok(())
    }
}

impl Store {
    /// A bare connection for administration (tests and benchmarks: creating and dropping
    /// databases). Runs no migrations.
    pub async fn open_admin(url: &str) -> Result<Store> {
        sqlx::any::install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(1)
            .connect(url)
            .await
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            Backend::Postgres
        };
        Ok(Store {
            pool,
            backend,
            commits: std::sync::Arc::new(commits::CommitProbe::none()),
        })
    }

    /// Executes one administrative statement (no parameters).
    pub async fn execute_admin(&self, sql: &str) -> Result<()> {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()))
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// A `LIKE` pattern (with `ESCAPE '\'`) matching values that contain `s` literally: `%`,
/// `_` and `\` in a search string are characters, not wildcards.
pub(crate) fn like_contains(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
