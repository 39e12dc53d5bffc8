//! CRL distribution points as download sources (the CRL download job's state): which URLs
//! there are, when each is due, and what a download brought. The network part lives in
//! `certmail-jobs`; what a download means for the CRL store is decided here.

use certmail_pki::Certificate;
use certmail_store::{CrlFetchRecord, CrlSourceRow};

use crate::trust::{CrlReport, parse_crl_file};
use crate::{App, AppError, Result};

/// How often sources are fetched, and how soon a failed one is tried again.
#[derive(Debug, Clone, Copy)]
pub struct CrlSchedule {
    /// Seconds between downloads of a source (the reference's 6 hours by default).
    pub interval: i64,
    /// Seconds before a failed download is tried again.
    pub retry: i64,
}

impl Default for CrlSchedule {
    fn default() -> Self {
        CrlSchedule {
            interval: 6 * 3600,
            retry: 1800,
        }
    }
}

/// What a download of a source brought.
#[derive(Debug)]
pub enum Download {
    /// The server said the CRL had not changed (HTTP 304).
    NotModified,
    /// A body (DER or PEM), with the HTTP validators.
    Body {
        /// The bytes.
        bytes: Vec<u8>,
        /// ETag.
        etag: Option<String>,
        /// Last-Modified.
        last_modified: Option<String>,
    },
    /// It failed; why.
    Failed(String),
    /// It was not tried (a host-less LDAP URL and no default directory); why. Shown as
    /// the source's last error, and tried again after the regular interval.
    Skipped(String),
}

/// The outcome of one source in a run, for `crl update` and the log.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SourceOutcome {
    /// The URL.
    pub url: String,
    /// `updated` (a new CRL is in use), `unchanged` (304, or the same CRL again), `stored`
    /// (kept but not in use: see `problem`), `failed`, or `skipped`.
    pub status: &'static str,
    /// The CRLs imported.
    pub crls: Vec<CrlReport>,
    /// Why it failed, was skipped or is not in use.
    pub problem: Option<String>,
    /// When it is due next.
    pub next_attempt: i64,
}

/// Meta key set once every stored certificate's distribution points were registered.
const BACKFILLED: &str = "crl_sources_backfilled";

impl App {
    /// Every CRL source with its state.
    pub async fn crl_sources(&self) -> Result<Vec<CrlSourceRow>> {
        Ok(self.store.crl_sources().await?)
    }

    /// The sources as shown (`crl sources --json` and `GET /api/v1/crls/sources`).
    pub async fn crl_source_views(&self) -> Result<Vec<CrlSourceView>> {
        Ok(self
            .crl_sources()
            .await?
            .into_iter()
            .map(CrlSourceView::from)
            .collect())
    }

    /// The sources due at `now` (after registering, once, the distribution points of
    /// certificates stored before sources were kept).
    pub async fn crl_sources_due(&self, now: i64) -> Result<Vec<CrlSourceRow>> {
        self.crl_sources_backfill(now).await?;
        Ok(self.store.due_crl_sources(now).await?)
    }

    /// Registers a URL as a source (e.g. `crl update --url`); known ones stay as they are.
    pub async fn add_crl_source(&self, url: &str, now: i64) -> Result<()> {
        self.store.add_crl_sources(&[url], now).await?;
        Ok(())
    }

    /// Registers the distribution points of every stored certificate, once: certificates
    /// imported since sources are kept register theirs on import.
    async fn crl_sources_backfill(&self, now: i64) -> Result<()> {
        if self.store.meta_get(BACKFILLED).await?.is_some() {
            return Ok(());
        }
        let mut after = 0;
        loop {
            let page = self.store.certificate_ders_after(after, 1000).await?;
            let Some((last, _)) = page.last() else { break };
            after = *last;
            let mut urls: Vec<String> = Vec::new();
            for (_, der) in &page {
                if let Ok(c) = Certificate::from_der(der, &certmail_crypto::AwsLcOps) {
                    urls.extend(certmail_store::crl_source_urls(&c).map(str::to_owned));
                }
            }
            urls.sort_unstable();
            urls.dedup();
            let refs: Vec<&str> = urls.iter().map(String::as_str).collect();
            self.store.add_crl_sources(&refs, now).await?;
        }
        self.store.meta_set(BACKFILLED, &now.to_string()).await?;
        Ok(())
    }

    /// Applies what a download of `source` brought at `now`: CRLs go through the CRL
    /// store's rules (the newest valid one per issuer is in use; a failed download or a bad
    /// CRL leaves the one in use alone), and the source's state and next attempt are kept.
    /// The next attempt is `schedule.interval` away, or sooner when the CRL in use for this
    /// source's issuer passes its nextUpdate before then; after a failure, `schedule.retry`.
    pub async fn crl_source_result(
        &self,
        source: &CrlSourceRow,
        download: Download,
        schedule: &CrlSchedule,
        now: i64,
    ) -> Result<SourceOutcome> {
        let mut out = SourceOutcome {
            url: source.url.clone(),
            status: "unchanged",
            crls: Vec::new(),
            problem: None,
            next_attempt: now + schedule.interval,
        };
        let mut rec = CrlFetchRecord::default();
        let mut issuer = source.issuer.clone();
        let mut skipped = false;
        match download {
            Download::Skipped(why) => {
                out.status = "skipped";
                out.problem = Some(why.clone());
                rec.error = Some(why);
                skipped = true;
            }
            Download::Failed(why) => {
                out.status = "failed";
                out.problem = Some(why.clone());
                rec.error = Some(why);
            }
            Download::NotModified => {}
            Download::Body {
                bytes,
                etag,
                last_modified,
            } => match parse_off_thread(bytes).await? {
                Err(e) => {
                    out.status = "failed";
                    let why = format!("not a CRL: {e}");
                    out.problem = Some(why.clone());
                    rec.error = Some(why);
                }
                Ok((crls, size)) => {
                    rec.etag = etag;
                    rec.last_modified = last_modified;
                    rec.size = Some(size);
                    for crl in crls {
                        rec.crl_number = crl.number.clone();
                        rec.issuer = Some(crl.issuer.clone());
                        issuer = Some(crl.issuer.clone());
                        let report = self.import_crl(crl).await?;
                        match report.status {
                            "current" => out.status = "updated",
                            "stored" if out.status != "updated" => {
                                out.status = "stored";
                                out.problem = report.problem.clone();
                            }
                            _ => {}
                        }
                        out.crls.push(report);
                    }
                }
            },
        }
        if skipped {
            // Nothing to retry soon: the configuration has to change first.
        } else if rec.error.is_some() {
            out.next_attempt = now + schedule.retry.min(schedule.interval);
        } else if let Some(i) = &issuer {
            // Earlier when the CRL in use runs out before the next regular download.
            let next_update = self
                .store
                .crls_of(i)
                .await?
                .iter()
                .filter(|s| s.current)
                .filter_map(|s| s.crl.next_update)
                .filter(|n| *n > now)
                .min();
            if let Some(n) = next_update {
                out.next_attempt = out.next_attempt.min(n);
            }
        }
        rec.next_attempt = out.next_attempt;
        self.store.record_crl_fetch(&source.url, &rec, now).await?;
        Ok(out)
    }
}

/// [`parse_crl_file`] (and the download's size) on a blocking thread: a CRL of a million entries takes a second or
/// two, which must not stall the gateway sessions sharing the async threads.
async fn parse_off_thread(
    bytes: Vec<u8>,
) -> Result<std::result::Result<(Vec<certmail_pki::crl::Crl>, i64), crate::error::FileError>> {
    tokio::task::spawn_blocking(move || parse_crl_file(&bytes).map(|c| (c, bytes.len() as i64)))
        .await
        .map_err(|e| AppError::Corrupt {
            what: "CRL parse",
            reason: e.to_string(),
        })
}

/// A CRL distribution point and how its last download went, as shown.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CrlSourceView {
    /// The URL (http, https or ldap).
    pub url: String,
    /// When a certificate naming it was first stored, Unix seconds.
    pub first_seen: i64,
    /// When it is due next.
    pub next_attempt: i64,
    /// Last try.
    pub last_attempt: Option<i64>,
    /// Last try that fetched a CRL (or learnt it had not changed).
    pub last_success: Option<i64>,
    /// Why the last try failed (cleared by a success).
    pub last_error: Option<String>,
    /// HTTP ETag of the last download.
    pub etag: Option<String>,
    /// HTTP Last-Modified of the last download.
    pub last_modified: Option<String>,
    /// Size in bytes of the last download.
    pub size: Option<i64>,
    /// cRLNumber (hex) of the last CRL fetched.
    pub crl_number: Option<String>,
    /// Issuer of the last CRL fetched.
    pub issuer: Option<String>,
}

impl From<CrlSourceRow> for CrlSourceView {
    fn from(r: CrlSourceRow) -> CrlSourceView {
        CrlSourceView {
            url: r.url,
            first_seen: r.first_seen,
            next_attempt: r.next_attempt,
            last_attempt: r.last_attempt,
            last_success: r.last_success,
            last_error: r.last_error,
            etag: r.etag,
            last_modified: r.last_modified,
            size: r.size,
            crl_number: r.crl_number,
            issuer: r.issuer,
        }
    }
}
