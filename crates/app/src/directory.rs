//! LDAP directories as sources of certificates (not of trust): configuration with the bind
//! password sealed under the KEK, the look-up of an address with its cached result, and the
//! default directory that host-less CRL distribution points (`ldap:///CN=...`) use.
//!
//! The network is not here: a [`DirectoryClient`] (the LDAP client of `certmail-jobs`) is
//! handed to the [`App`]; this module decides what to ask, what a result means (imported
//! through the normal import path, to the certificate store only), and for how long it
//! stands.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use certmail_store::{DirectoryLookupRow, DirectoryRow};
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::AppError;
use crate::{App, ImportOptions, ItemReport, Result, RootPolicy};

/// Default bound of one look-up.
pub const DEFAULT_TIMEOUT_MS: i64 = 2000;
/// Default time a look-up result is kept.
pub const DEFAULT_CACHE_TTL: i64 = 3600;
/// A failed look-up (directory down, timeout) is retried after at most this many seconds,
/// so a directory that is down costs the gateway one timeout per address per minute.
pub const ERROR_TTL: i64 = 60;
/// Default search filter.
pub const DEFAULT_FILTER: &str = "(mail=%s)";

/// What is needed to talk to a directory, with the bind password unsealed. Its `Debug`
/// never shows the password.
#[derive(Clone)]
pub struct DirectoryAccess {
    /// The directory's name.
    pub name: String,
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Search base (empty: the first naming context of the root DSE).
    pub base: String,
    /// Bind DN; none binds anonymously.
    pub bind_dn: Option<String>,
    /// Bind password.
    pub bind_password: Option<Zeroizing<String>>,
    /// Bound of one operation (connect, bind, search together).
    pub timeout: Duration,
    /// Internal addresses the directory may be at (the global `fetch-allow`).
    pub allow: crate::fetch_guard::AllowList,
}

impl std::fmt::Debug for DirectoryAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectoryAccess")
            .field("name", &self.name)
            .field("url", &self.url)
            .field("base", &self.base)
            .field("bind_dn", &self.bind_dn)
            .field(
                "bind_password",
                &self.bind_password.as_ref().map(|_| "(set)"),
            )
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Values a directory returned for a search.
#[derive(Debug, Clone, Default)]
pub struct DirectoryFound {
    /// The base searched (the configured one or the naming context found).
    pub base: String,
    /// Entries matched.
    pub entries: usize,
    /// Attribute values (DER certificates, PKCS#7 from `userSMIMECertificate`).
    pub values: Vec<Vec<u8>>,
}

/// A boxed future of a directory client.
pub type DirectoryFuture<'a, T> =
    Pin<Box<dyn Future<Output = std::result::Result<T, String>> + Send + 'a>>;

/// The network side of directories (implemented over LDAP in `certmail-jobs`). Errors are
/// readable texts that never contain the bind password.
pub trait DirectoryClient: Send + Sync + std::fmt::Debug {
    /// Searches `dir` with `filter` for `userCertificate;binary` and `userSMIMECertificate`,
    /// in at most `dir.timeout` (connect, bind and search together; then an error).
    fn find_certificates<'a>(
        &'a self,
        dir: &'a DirectoryAccess,
        filter: &'a str,
    ) -> DirectoryFuture<'a, DirectoryFound>;
}

/// A directory as listed (no password, only whether one is set): `directory list --json`
/// and `GET /api/v1/directories`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DirectoryView {
    /// Name.
    pub name: String,
    /// URL.
    pub url: String,
    /// Search base (empty: the first naming context).
    pub base: String,
    /// Bind DN (none: anonymous).
    pub bind_dn: Option<String>,
    /// Whether a bind password is stored (sealed).
    pub bind_password_set: bool,
    /// Filter.
    pub filter: String,
    /// Default directory for host-less CRL distribution points.
    pub default: bool,
    /// Look-up bound, milliseconds.
    pub timeout_ms: i64,
    /// Seconds results are kept.
    pub cache_ttl: i64,
}

impl From<&DirectoryRow> for DirectoryView {
    fn from(d: &DirectoryRow) -> Self {
        DirectoryView {
            name: d.name.clone(),
            url: d.url.clone(),
            base: d.base.clone(),
            bind_dn: d.bind_dn.clone(),
            bind_password_set: d.bind_password_sealed.is_some(),
            filter: d.filter.clone(),
            default: d.is_default,
            timeout_ms: d.timeout_ms,
            cache_ttl: d.cache_ttl,
        }
    }
}

/// A directory to add.
#[derive(Debug, Clone)]
pub struct NewDirectory {
    /// Name.
    pub name: String,
    /// `ldap(s)://host[:port]`.
    pub url: String,
    /// Search base.
    pub base: Option<String>,
    /// Bind DN.
    pub bind_dn: Option<String>,
    /// Filter (default [`DEFAULT_FILTER`]).
    pub filter: Option<String>,
    /// Make it the default directory.
    pub default: bool,
    /// Look-up bound (default [`DEFAULT_TIMEOUT_MS`]).
    pub timeout_ms: Option<i64>,
    /// Result lifetime (default [`DEFAULT_CACHE_TTL`]).
    pub cache_ttl: Option<i64>,
}

/// What asking one directory for an address gave.
#[derive(Debug, Clone, Serialize)]
pub struct DirectoryAnswer {
    /// The directory.
    pub directory: String,
    /// `found`, `not-found`, `failed`, or `cached` (the stored answer still stands).
    pub status: &'static str,
    /// Certificates the directory returned (for `cached`: the last time it was asked).
    pub found: i64,
    /// Why asking failed.
    pub error: Option<String>,
    /// Until when the answer stands.
    pub expires_at: i64,
    /// What the import of the values did (certificate store only; trust judges them).
    pub imported: Vec<ItemReport>,
    /// Values that could not be imported, with the reason.
    pub rejected: Vec<String>,
}

/// The result of a look-up across the directories.
#[derive(Debug, Clone, Serialize)]
pub struct LookupReport {
    /// The address (lower case).
    pub email: String,
    /// One answer per directory.
    pub directories: Vec<DirectoryAnswer>,
}

/// Escapes a value for an LDAP filter (RFC 4515 section 3: `*`, `(`, `)`, `\` and NUL as
/// `\XX`; other bytes stay, UTF-8 included).
pub fn escape_filter_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '*' => out.push_str("\\2a"),
            '(' => out.push_str("\\28"),
            ')' => out.push_str("\\29"),
            '\\' => out.push_str("\\5c"),
            '\0' => out.push_str("\\00"),
            c => out.push(c),
        }
    }
    out
}

/// The filter for `email`: every `%s` replaced by the escaped address.
pub fn lookup_filter(template: &str, email: &str) -> String {
    template.replace("%s", &escape_filter_value(email))
}

/// Checks a directory URL: `ldap://host[:port]` or `ldaps://host[:port]`, nothing after.
pub fn check_directory_url(url: &str) -> Result<()> {
    let bad = |why: &str| AppError::Invalid(format!("--url {url:?}: {why}"));
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("ldap://")
        .or_else(|| lower.strip_prefix("ldaps://"))
        .ok_or_else(|| bad("must start with ldap:// or ldaps://"))?;
    let hostport = rest.strip_suffix('/').unwrap_or(rest);
    if hostport.is_empty() {
        return Err(bad("names no host"));
    }
    if hostport.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad("only scheme, host and port (the base goes in --base)"));
    }
    if let Some((_, port)) = hostport.rsplit_once(':')
        && !hostport.ends_with(']')
        && port.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad("bad port"));
    }
    Ok(())
}

fn aad(name: &str) -> Vec<u8> {
    format!("directory-bind-password:{name}").into_bytes()
}

impl App {
    /// Hands the network side of directories to the app (the CLI and `serve` do, with the
    /// LDAP client of `certmail-jobs`). Without it, look-ups fail with a clear reason.
    pub fn set_directory_client(&self, client: Arc<dyn DirectoryClient>) {
        let _ = self.directory_client.set(client);
    }

    /// Adds a directory; the bind password is sealed under the KEK before it is stored.
    pub async fn directory_add(
        &self,
        d: &NewDirectory,
        bind_password: Option<Zeroizing<String>>,
    ) -> Result<DirectoryView> {
        let name = d.name.trim();
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(AppError::Invalid(format!(
                "directory name {name:?}: 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        check_directory_url(&d.url)?;
        let filter = d.filter.clone().unwrap_or_else(|| DEFAULT_FILTER.into());
        if !filter.contains("%s") || !filter.starts_with('(') || !filter.ends_with(')') {
            return Err(AppError::Invalid(format!(
                "--filter {filter:?}: a parenthesised LDAP filter with %s for the address, e.g. (mail=%s)"
            )));
        }
        if bind_password.is_some() && d.bind_dn.is_none() {
            return Err(AppError::Invalid("a bind password needs --bind-dn".into()));
        }
        let timeout_ms = d.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
        let cache_ttl = d.cache_ttl.unwrap_or(DEFAULT_CACHE_TTL);
        if !(1..=600_000).contains(&timeout_ms) || cache_ttl < 0 {
            return Err(AppError::Invalid(
                "--timeout must be between 1 ms and 600 s, --cache-ttl 0 or more".into(),
            ));
        }
        let sealed = match &bind_password {
            Some(p) => Some(self.kek.seal(p.as_bytes(), &aad(name))?),
            None => None,
        };
        let row = DirectoryRow {
            name: name.to_owned(),
            url: d.url.trim_end_matches('/').to_owned(),
            base: d.base.clone().unwrap_or_default(),
            bind_dn: d.bind_dn.clone(),
            bind_password_sealed: sealed,
            filter,
            is_default: d.default,
            timeout_ms,
            cache_ttl,
            created_at: crate::now(),
        };
        self.store.add_directory(&row).await?;
        Ok(DirectoryView::from(&row))
    }

    /// Every directory (no password, only whether one is set).
    pub async fn directories(&self) -> Result<Vec<DirectoryView>> {
        Ok(self
            .store
            .directories()
            .await?
            .iter()
            .map(DirectoryView::from)
            .collect())
    }

    /// Deletes a directory and its cached look-ups.
    pub async fn directory_delete(&self, name: &str) -> Result<()> {
        if self.store.delete_directory(name).await? {
            Ok(())
        } else {
            Err(AppError::NotFound {
                what: "directory named",
                id: format!("{name:?}"),
            })
        }
    }

    fn access(
        &self,
        d: &DirectoryRow,
        allow: &crate::fetch_guard::AllowList,
    ) -> Result<DirectoryAccess> {
        let bind_password = match &d.bind_password_sealed {
            Some(s) => {
                let clear = self.kek.open(s, &aad(&d.name))?;
                let text = String::from_utf8(clear.to_vec()).map_err(|_| AppError::Corrupt {
                    what: "directory bind password",
                    reason: "not UTF-8".into(),
                })?;
                Some(Zeroizing::new(text))
            }
            None => None,
        };
        Ok(DirectoryAccess {
            name: d.name.clone(),
            url: d.url.clone(),
            base: d.base.clone(),
            bind_dn: d.bind_dn.clone(),
            bind_password,
            timeout: Duration::from_millis(d.timeout_ms.max(1) as u64),
            allow: allow.clone(),
        })
    }

    /// A directory with its bind password unsealed (for the network side).
    pub async fn directory_access(&self, name: &str) -> Result<DirectoryAccess> {
        let rows = self.store.directories().await?;
        let d = rows
            .iter()
            .find(|d| d.name == name)
            .ok_or_else(|| AppError::NotFound {
                what: "directory named",
                id: format!("{name:?}"),
            })?;
        self.access(d, &self.fetch_allow().await?)
    }

    /// The default directory (for host-less CRL distribution points), if one is set.
    pub async fn default_directory(&self) -> Result<Option<DirectoryAccess>> {
        let rows = self.store.directories().await?;
        let allow = self.fetch_allow().await?;
        rows.iter()
            .find(|d| d.is_default)
            .map(|d| self.access(d, &allow))
            .transpose()
    }

    /// Asks one directory for `email` without caching or importing (`directory test`).
    pub async fn directory_probe(&self, name: &str, email: &str) -> Result<DirectoryFound> {
        let access = self.directory_access(name).await?;
        let rows = self.store.directories().await?;
        let filter = rows
            .iter()
            .find(|d| d.name == name)
            .map(|d| lookup_filter(&d.filter, &email.trim().to_lowercase()))
            .unwrap_or_default();
        let client = self.client()?;
        client
            .find_certificates(&access, &filter)
            .await
            .map_err(AppError::Invalid)
    }

    fn client(&self) -> Result<&Arc<dyn DirectoryClient>> {
        self.directory_client
            .get()
            .ok_or_else(|| AppError::Unavailable("no directory client in this process".into()))
    }

    /// Looks `email` up in every directory whose cached answer has expired (all of them
    /// with `refresh`), concurrently, each bounded by its timeout; imports what is found
    /// into the certificate store (never the root store: a directory is a source of
    /// certificates, not of trust) and keeps each answer for the directory's cache time (a
    /// failure for at most [`ERROR_TTL`]).
    pub async fn directory_lookup(&self, email: &str, refresh: bool) -> Result<LookupReport> {
        let email = email.trim().to_lowercase();
        let now = crate::now();
        let dirs = self.store.directories().await?;
        if dirs.is_empty() {
            return Ok(LookupReport {
                email,
                directories: Vec::new(),
            });
        }
        let cached = self.store.directory_lookups(&email).await?;
        let mut answers = Vec::new();
        let mut asks = Vec::new();
        let (mut allow, no_allow) = (None, crate::fetch_guard::AllowList::default());
        for d in &dirs {
            let hit = cached
                .iter()
                .find(|c| c.directory == d.name && c.expires_at > now);
            match hit {
                Some(c) if !refresh => answers.push(DirectoryAnswer {
                    directory: d.name.clone(),
                    status: "cached",
                    found: c.found,
                    error: c.error.clone(),
                    expires_at: c.expires_at,
                    imported: Vec::new(),
                    rejected: Vec::new(),
                }),
                _ => {
                    if allow.is_none() {
                        allow = Some(self.fetch_allow().await?);
                    }
                    let allow = allow.as_ref().unwrap_or(&no_allow);
                    asks.push((d, self.access(d, allow)?, lookup_filter(&d.filter, &email)))
                }
            }
        }
        if !asks.is_empty() {
            let client = self.client()?;
            let results = join_all(
                asks.iter()
                    .map(|(_, a, f)| client.find_certificates(a, f))
                    .collect(),
            )
            .await;
            for ((d, _, _), res) in asks.iter().zip(results) {
                answers.push(self.directory_answer(d, &email, res, now).await?);
            }
        }
        answers.sort_by(|a, b| a.directory.cmp(&b.directory));
        Ok(LookupReport {
            email,
            directories: answers,
        })
    }

    async fn directory_answer(
        &self,
        d: &DirectoryRow,
        email: &str,
        res: std::result::Result<DirectoryFound, String>,
        now: i64,
    ) -> Result<DirectoryAnswer> {
        let mut a = DirectoryAnswer {
            directory: d.name.clone(),
            status: "not-found",
            found: 0,
            error: None,
            expires_at: now + d.cache_ttl,
            imported: Vec::new(),
            rejected: Vec::new(),
        };
        match res {
            Err(e) => {
                a.status = "failed";
                a.expires_at = now + d.cache_ttl.min(ERROR_TTL);
                a.error = Some(e);
            }
            Ok(found) => {
                let opts = ImportOptions {
                    password: None,
                    roots: RootPolicy::CertificateStore,
                };
                for v in &found.values {
                    match self.import_bytes(v, &opts).await {
                        Ok(items) => a.imported.extend(items),
                        Err(e) => a.rejected.push(e.to_string()),
                    }
                }
                a.found = a.imported.len() as i64;
                if a.found > 0 {
                    a.status = "found";
                }
            }
        }
        self.store
            .record_directory_lookup(&DirectoryLookupRow {
                directory: d.name.clone(),
                email: email.to_owned(),
                checked_at: now,
                expires_at: a.expires_at,
                found: a.found,
                error: a.error.clone(),
            })
            .await?;
        Ok(a)
    }
}

/// Runs futures concurrently on the current task and returns their outputs in order.
async fn join_all<T>(futs: Vec<Pin<Box<dyn Future<Output = T> + Send + '_>>>) -> Vec<T> {
    let mut slots: Vec<Option<T>> = futs.iter().map(|_| None).collect();
    let mut futs: Vec<Option<Pin<Box<dyn Future<Output = T> + Send + '_>>>> =
        futs.into_iter().map(Some).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, f) in slots.iter_mut().zip(futs.iter_mut()) {
            if let Some(fut) = f {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => {
                        *slot = Some(v);
                        *f = None;
                    }
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    slots.into_iter().flatten().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc4515_escapes() {
        assert_eq!(
            escape_filter_value("a*b(c)d\\e\0"),
            "a\\2ab\\28c\\29d\\5ce\\00"
        );
        assert_eq!(
            lookup_filter("(|(mail=%s)(otherMailbox=%s))", "x)(uid=*"),
            "(|(mail=x\\29\\28uid=\\2a)(otherMailbox=x\\29\\28uid=\\2a))"
        );
        assert_eq!(
            escape_filter_value("jürgen@example.com"),
            "jürgen@example.com"
        );
    }

    #[test]
    fn directory_urls() {
        assert!(check_directory_url("ldap://dir.example.com").is_ok());
        assert!(check_directory_url("ldaps://127.0.0.1:636/").is_ok());
        assert!(check_directory_url("ldap://[::1]:389").is_ok());
        assert!(check_directory_url("http://x").is_err());
        assert!(check_directory_url("ldap:///").is_err());
        assert!(check_directory_url("ldap://h/dc=x").is_err());
        assert!(check_directory_url("ldap://h:0").is_err());
    }
}
