//! State of the background jobs: CRL distribution points with their download state, and
//! leases that let one node of several run a job.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// A CRL distribution point and what happened the last time it was fetched.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CrlSourceRow {
    /// The URL (http, https or ldap).
    pub url: String,
    /// When a certificate naming it was first stored.
    pub first_seen: i64,
    /// When it is due next.
    pub next_attempt: i64,
    /// Last try.
    pub last_attempt: Option<i64>,
    /// Last try that fetched a CRL (or learnt it had not changed).
    pub last_success: Option<i64>,
    /// Why the last try failed (cleared by a success).
    pub last_error: Option<String>,
    /// HTTP ETag of the last download (conditional GET).
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

/// The outcome of one fetch, to record.
#[derive(Debug, Clone, Default)]
pub struct CrlFetchRecord {
    /// Error text, or `None` for a success.
    pub error: Option<String>,
    /// When to try next.
    pub next_attempt: i64,
    /// New ETag / Last-Modified (success only; `None` keeps the old ones).
    pub etag: Option<String>,
    /// See `etag`.
    pub last_modified: Option<String>,
    /// Size, number and issuer of the CRL fetched (success with a body).
    pub size: Option<i64>,
    /// cRLNumber, hex.
    pub crl_number: Option<String>,
    /// Issuer (display form).
    pub issuer: Option<String>,
}

const COLUMNS: &str = "url, first_seen, next_attempt, last_attempt, last_success, last_error, \
                       etag, last_modified, size, crl_number, issuer";

fn source_from_row(r: &AnyRow) -> Result<CrlSourceRow> {
    Ok(CrlSourceRow {
        url: r.try_get("url")?,
        first_seen: r.try_get("first_seen")?,
        next_attempt: r.try_get("next_attempt")?,
        last_attempt: r.try_get("last_attempt")?,
        last_success: r.try_get("last_success")?,
        last_error: r.try_get("last_error")?,
        etag: r.try_get("etag")?,
        last_modified: r.try_get("last_modified")?,
        size: r.try_get("size")?,
        crl_number: r.try_get("crl_number")?,
        issuer: r.try_get("issuer")?,
    })
}

/// The URLs worth registering among a certificate's CRL distribution points.
pub fn source_urls(c: &certmail_pki::Certificate) -> impl Iterator<Item = &str> {
    c.crl_distribution_points
        .iter()
        .chain(c.freshest_crl.iter())
        .map(String::as_str)
        .filter(|u| {
            let l = u.to_ascii_lowercase();
            l.starts_with("http://") || l.starts_with("https://") || l.starts_with("ldap://")
        })
}

impl Store {
    /// Registers CRL distribution points (known ones are left as they are); new ones are
    /// due at once.
    pub async fn add_crl_sources(&self, urls: &[&str], now: i64) -> Result<usize> {
        let mut added = 0;
        for url in urls {
            added += sqlx::query(
                "INSERT INTO crl_sources (url, first_seen, next_attempt) VALUES ($1, $2, $3) \
                 ON CONFLICT (url) DO NOTHING",
            )
            .bind(*url)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected() as usize;
        }
        Ok(added)
    }

    /// Every CRL source, by URL.
    pub async fn crl_sources(&self) -> Result<Vec<CrlSourceRow>> {
        let sql = format!("SELECT {COLUMNS} FROM crl_sources ORDER BY url");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(source_from_row)
            .collect()
    }

    /// The sources due at `now`, most overdue first.
    pub async fn due_crl_sources(&self, now: i64) -> Result<Vec<CrlSourceRow>> {
        let sql = format!(
            "SELECT {COLUMNS} FROM crl_sources WHERE next_attempt <= $1 ORDER BY next_attempt, url"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(source_from_row)
            .collect()
    }

    /// Records the outcome of a fetch of `url` at `now`.
    pub async fn record_crl_fetch(&self, url: &str, rec: &CrlFetchRecord, now: i64) -> Result<()> {
        match &rec.error {
            Some(e) => {
                sqlx::query(
                    "UPDATE crl_sources SET last_attempt = $1, last_error = $2, next_attempt = $3 \
                     WHERE url = $4",
                )
                .bind(now)
                .bind(e.as_str())
                .bind(rec.next_attempt)
                .bind(url)
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query(
                    "UPDATE crl_sources SET last_attempt = $1, last_success = $2, last_error = NULL, \
                     next_attempt = $3, etag = COALESCE($4, etag), \
                     last_modified = COALESCE($5, last_modified), size = COALESCE($6, size), \
                     crl_number = COALESCE($7, crl_number), issuer = COALESCE($8, issuer) \
                     WHERE url = $9",
                )
                .bind(now)
                .bind(now)
                .bind(rec.next_attempt)
                .bind(rec.etag.as_deref())
                .bind(rec.last_modified.as_deref())
                .bind(rec.size)
                .bind(rec.crl_number.as_deref())
                .bind(rec.issuer.as_deref())
                .bind(url)
                .execute(&self.pool)
                .await?;
            }
        }
        Ok(())
    }

    /// Takes (or renews) the lease on `job` for `holder` until `until`, if no other holder
    /// has an unexpired one. A node that dies keeps it only until it expires.
    pub async fn take_lease(&self, job: &str, holder: &str, now: i64, until: i64) -> Result<bool> {
        let row = sqlx::query(
            "INSERT INTO job_leases (job, holder, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (job) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
             WHERE job_leases.expires_at < $4 OR job_leases.holder = $5 RETURNING holder",
        )
        .bind(job)
        .bind(holder)
        .bind(until)
        .bind(now)
        .bind(holder)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.is_some())
    }

    /// Gives a lease up (only the holder's own).
    pub async fn release_lease(&self, job: &str, holder: &str) -> Result<()> {
        sqlx::query("DELETE FROM job_leases WHERE job = $1 AND holder = $2")
            .bind(job)
            .bind(holder)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

impl Store {
    /// The thresholds (days) already warned about for a certificate.
    pub async fn expiry_notices(&self, sha256: &str) -> Result<Vec<i64>> {
        sqlx::query("SELECT threshold FROM expiry_notices WHERE sha256 = $1 ORDER BY threshold")
            .bind(sha256)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("threshold")?))
            .collect()
    }

    /// Records warnings as sent (already recorded ones stay).
    pub async fn record_expiry_notices(
        &self,
        sha256: &str,
        thresholds: &[i64],
        now: i64,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for t in thresholds {
            sqlx::query(
                "INSERT INTO expiry_notices (sha256, threshold, sent_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (sha256, threshold) DO NOTHING",
            )
            .bind(sha256)
            .bind(*t)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}
