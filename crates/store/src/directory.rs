//! LDAP directories (where certificates are looked up, and the default one for host-less
//! CRL distribution points) and the cached results of looking addresses up in them.
//!
//! The bind password arrives sealed (the app layer seals it under the KEK); the store never
//! sees it in clear.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// A configured directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryRow {
    /// Name (key).
    pub name: String,
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    pub url: String,
    /// Search base for look-ups (empty: the directory's first naming context).
    pub base: String,
    /// Bind DN (none: anonymous).
    pub bind_dn: Option<String>,
    /// The bind password sealed under the KEK.
    pub bind_password_sealed: Option<Vec<u8>>,
    /// Search filter with `%s` for the address.
    pub filter: String,
    /// Used for host-less `ldap:///` CRL distribution points.
    pub is_default: bool,
    /// Bound of one look-up, milliseconds.
    pub timeout_ms: i64,
    /// Seconds a look-up result is kept.
    pub cache_ttl: i64,
    /// When it was added.
    pub created_at: i64,
}

/// The cached result of asking one directory for one address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DirectoryLookupRow {
    /// The directory.
    pub directory: String,
    /// The address (lower case).
    pub email: String,
    /// When it was asked.
    pub checked_at: i64,
    /// Until when the answer stands.
    pub expires_at: i64,
    /// How many certificates it returned (0: a negative answer).
    pub found: i64,
    /// Why asking failed (then `found` is 0 and the entry expires sooner).
    pub error: Option<String>,
}

const COLUMNS: &str = "name, url, base, bind_dn, bind_password_sealed, filter, is_default, \
                       timeout_ms, cache_ttl, created_at";

fn directory_from_row(r: &AnyRow) -> Result<DirectoryRow> {
    Ok(DirectoryRow {
        name: r.try_get("name")?,
        url: r.try_get("url")?,
        base: r.try_get("base")?,
        bind_dn: r.try_get("bind_dn")?,
        bind_password_sealed: r.try_get("bind_password_sealed")?,
        filter: r.try_get("filter")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        timeout_ms: r.try_get("timeout_ms")?,
        cache_ttl: r.try_get("cache_ttl")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Adds a directory; a name in use is a conflict. With `is_default`, it becomes the one
    /// default directory (in the same transaction).
    pub async fn add_directory(&self, d: &DirectoryRow) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        let exists = sqlx::query("SELECT name FROM directories WHERE name = $1")
            .bind(d.name.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if exists.is_some() {
            return Err(StoreError::Conflict(format!(
                "directory {:?} exists; delete it first",
                d.name
            )));
        }
        if d.is_default {
            sqlx::query("UPDATE directories SET is_default = 0 WHERE is_default <> 0")
                .execute(&mut *tx)
                .await?;
        }
        let sql = format!(
            "INSERT INTO directories ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(d.name.as_str())
            .bind(d.url.as_str())
            .bind(d.base.as_str())
            .bind(d.bind_dn.as_deref())
            .bind(d.bind_password_sealed.clone())
            .bind(d.filter.as_str())
            .bind(i64::from(d.is_default))
            .bind(d.timeout_ms)
            .bind(d.cache_ttl)
            .bind(d.created_at)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        // The gateway's decisions depend on which directories exist.
        self.bump_policy_generation().await
    }

    /// Every directory, by name.
    pub async fn directories(&self) -> Result<Vec<DirectoryRow>> {
        let sql = format!("SELECT {COLUMNS} FROM directories ORDER BY name");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(directory_from_row)
            .collect()
    }

    /// Deletes a directory (and its cached look-ups); false when there was none.
    pub async fn delete_directory(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM directory_lookups WHERE directory = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM directories WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if n > 0 {
            self.bump_policy_generation().await?;
        }
        Ok(n > 0)
    }

    /// The cached look-ups of `email` (lower case), expired ones included.
    pub async fn directory_lookups(&self, email: &str) -> Result<Vec<DirectoryLookupRow>> {
        sqlx::query(
            "SELECT directory, email, checked_at, expires_at, found, error \
             FROM directory_lookups WHERE email = $1 ORDER BY directory",
        )
        .bind(email)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(DirectoryLookupRow {
                directory: r.try_get("directory")?,
                email: r.try_get("email")?,
                checked_at: r.try_get("checked_at")?,
                expires_at: r.try_get("expires_at")?,
                found: r.try_get("found")?,
                error: r.try_get("error")?,
            })
        })
        .collect()
    }

    /// Records (or replaces) the result of asking a directory for an address.
    pub async fn record_directory_lookup(&self, row: &DirectoryLookupRow) -> Result<()> {
        sqlx::query(
            "INSERT INTO directory_lookups (directory, email, checked_at, expires_at, found, error) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (directory, email) DO UPDATE SET \
             checked_at = excluded.checked_at, expires_at = excluded.expires_at, \
             found = excluded.found, error = excluded.error",
        )
        .bind(row.directory.as_str())
        .bind(row.email.as_str())
        .bind(row.checked_at)
        .bind(row.expires_at)
        .bind(row.found)
        .bind(row.error.as_deref())
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
