//! Web admin accounts, API tokens, sessions and the audit log.
//!
//! Nothing secret is stored in the clear: passwords are Argon2id hashes made by the caller,
//! API tokens and session ids are stored as their SHA-256 (the caller hashes them).

use sqlx::Row;

use crate::{Result, Store, StoreError};

/// An administrator account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Login name.
    pub name: String,
    /// `admin`, `operator` or `auditor`.
    pub role: String,
    /// Argon2id PHC string; `None` until a password is set.
    pub password_hash: Option<String>,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last changed, Unix seconds.
    pub updated_at: i64,
}

/// An API token (its hash only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// Row id.
    pub id: i64,
    /// Owner.
    pub account: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Expiry, Unix seconds, if any.
    pub expires_at: Option<i64>,
    /// Last use, Unix seconds.
    pub last_used: Option<i64>,
}

/// A browser session (by the hash of its id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// Owner.
    pub account: String,
    /// The session's CSRF token.
    pub csrf: String,
    /// Client address at login.
    pub address: String,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Last request, Unix seconds.
    pub last_seen: i64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRow {
    /// Row id (0 before it is written).
    pub id: i64,
    /// When, Unix seconds.
    pub at: i64,
    /// Who (account name; `-` for an anonymous request, `cli` for the command line).
    pub account: String,
    /// The account's role.
    pub role: String,
    /// Client address.
    pub address: String,
    /// What was done (`import`, `setting.set`, `login`, ...).
    pub action: String,
    /// On which object (a thumbprint, an address, an account).
    pub object: String,
    /// `ok` or `failed`.
    pub outcome: String,
    /// Details (never a key or a password).
    pub detail: String,
}

/// Audit log query.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Entries at or after this time.
    pub since: Option<i64>,
    /// Only this account.
    pub account: Option<String>,
    /// Only actions starting with this.
    pub action: Option<String>,
    /// Entries with an id below this (paging backwards).
    pub before_id: Option<i64>,
    /// Page size.
    pub limit: i64,
}

fn account_from(r: &sqlx::any::AnyRow) -> Result<AccountRow> {
    Ok(AccountRow {
        name: r.try_get("name")?,
        role: r.try_get("role")?,
        password_hash: r.try_get("password_hash")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

impl Store {
    /// Creates an account; an existing name is an error naming it.
    pub async fn add_account(&self, a: &AccountRow) -> Result<()> {
        if self.account(&a.name).await?.is_some() {
            return Err(StoreError::Conflict(format!(
                "an account named {:?} exists already",
                a.name
            )));
        }
        sqlx::query("INSERT INTO admin_accounts (name, role, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&a.name)
            .bind(&a.role)
            .bind(a.password_hash.as_deref())
            .bind(a.created_at)
            .bind(a.updated_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// One account by name.
    pub async fn account(&self, name: &str) -> Result<Option<AccountRow>> {
        let row = sqlx::query("SELECT name, role, password_hash, created_at, updated_at FROM admin_accounts WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from).transpose()
    }

    /// All accounts by name.
    pub async fn accounts(&self) -> Result<Vec<AccountRow>> {
        sqlx::query("SELECT name, role, password_hash, created_at, updated_at FROM admin_accounts ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(account_from)
            .collect()
    }

    /// Sets an account's password hash and ends its sessions.
    pub async fn set_password(&self, name: &str, hash: &str, now: i64) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE admin_accounts SET password_hash = $1, updated_at = $2 WHERE name = $3",
        )
        .bind(hash)
        .bind(now)
        .bind(name)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM admin_sessions WHERE account = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes an account with its tokens and sessions.
    pub async fn delete_account(&self, name: &str) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for sql in [
            "DELETE FROM admin_sessions WHERE account = $1",
            "DELETE FROM admin_tokens WHERE account = $1",
        ] {
            sqlx::query(sql).bind(name).execute(&mut *tx).await?;
        }
        let done = sqlx::query("DELETE FROM admin_accounts WHERE name = $1")
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Stores an API token's hash.
    pub async fn add_token(
        &self,
        account: &str,
        token_hash: &str,
        now: i64,
        expires_at: Option<i64>,
    ) -> Result<()> {
        sqlx::query("INSERT INTO admin_tokens (account, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4)")
            .bind(account)
            .bind(token_hash)
            .bind(now)
            .bind(expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The account of an unexpired token, marking it used.
    pub async fn use_token(&self, token_hash: &str, now: i64) -> Result<Option<AccountRow>> {
        let row = sqlx::query(
            "SELECT a.name, a.role, a.password_hash, a.created_at, a.updated_at FROM admin_tokens t JOIN admin_accounts a ON a.name = t.account WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        // Marked at most once a minute: a busy script must not turn every read into a write.
        sqlx::query("UPDATE admin_tokens SET last_used = $1 WHERE token_hash = $2 AND (last_used IS NULL OR last_used < $1 - 60)")
            .bind(now)
            .bind(token_hash)
            .execute(&self.pool)
            .await?;
        Ok(Some(account_from(&row)?))
    }

    /// An account's tokens.
    pub async fn tokens(&self, account: &str) -> Result<Vec<TokenRow>> {
        let rows = sqlx::query("SELECT id, account, created_at, expires_at, last_used FROM admin_tokens WHERE account = $1 ORDER BY id")
            .bind(account)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(TokenRow {
                    id: r.try_get("id")?,
                    account: r.try_get("account")?,
                    created_at: r.try_get("created_at")?,
                    expires_at: r.try_get("expires_at")?,
                    last_used: r.try_get("last_used")?,
                })
            })
            .collect()
    }

    /// Stores a new session.
    pub async fn add_session(&self, id_hash: &str, s: &SessionRow) -> Result<()> {
        sqlx::query("INSERT INTO admin_sessions (id_hash, account, csrf, address, created_at, last_seen) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id_hash)
            .bind(&s.account)
            .bind(&s.csrf)
            .bind(&s.address)
            .bind(s.created_at)
            .bind(s.last_seen)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// A session by the hash of its id.
    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query("SELECT account, csrf, address, created_at, last_seen FROM admin_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            Ok(SessionRow {
                account: r.try_get("account")?,
                csrf: r.try_get("csrf")?,
                address: r.try_get("address")?,
                created_at: r.try_get("created_at")?,
                last_seen: r.try_get("last_seen")?,
            })
        })
        .transpose()
    }

    /// Marks a session used.
    pub async fn touch_session(&self, id_hash: &str, now: i64) -> Result<()> {
        sqlx::query("UPDATE admin_sessions SET last_seen = $1 WHERE id_hash = $2")
            .bind(now)
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a session.
    pub async fn delete_session(&self, id_hash: &str) -> Result<()> {
        sqlx::query("DELETE FROM admin_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Removes sessions idle since `idle_before` or created before `created_before`.
    pub async fn expire_sessions(&self, idle_before: i64, created_before: i64) -> Result<u64> {
        let done =
            sqlx::query("DELETE FROM admin_sessions WHERE last_seen < $1 OR created_at < $2")
                .bind(idle_before)
                .bind(created_before)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected())
    }

    /// Appends an audit entry.
    pub async fn audit(&self, e: &AuditRow) -> Result<()> {
        sqlx::query("INSERT INTO audit_log (at, account, role, address, action, object, outcome, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(e.at)
            .bind(&e.account)
            .bind(&e.role)
            .bind(&e.address)
            .bind(&e.action)
            .bind(&e.object)
            .bind(&e.outcome)
            .bind(&e.detail)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Audit entries, newest first.
    pub async fn audit_log(&self, f: &AuditFilter) -> Result<Vec<AuditRow>> {
        let mut sql = String::from(
            "SELECT id, at, account, role, address, action, object, outcome, detail FROM audit_log WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if f.since.is_some() {
            sql += &format!(" AND at >= {}", next());
        }
        if f.before_id.is_some() {
            sql += &format!(" AND id < {}", next());
        }
        if f.account.is_some() {
            sql += &format!(" AND account = {}", next());
        }
        if f.action.is_some() {
            sql += &format!(" AND action LIKE {} ESCAPE '\\'", next());
        }
        sql += &format!(" ORDER BY id DESC LIMIT {}", next());
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(s) = f.since {
            q = q.bind(s);
        }
        if let Some(b) = f.before_id {
            q = q.bind(b);
        }
        if let Some(a) = &f.account {
            q = q.bind(a.clone());
        }
        if let Some(a) = &f.action {
            let mut p = crate::like_contains(a);
            p.remove(0);
            q = q.bind(p);
        }
        q = q.bind(f.limit.max(1));
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(AuditRow {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    account: r.try_get("account")?,
                    role: r.try_get("role")?,
                    address: r.try_get("address")?,
                    action: r.try_get("action")?,
                    object: r.try_get("object")?,
                    outcome: r.try_get("outcome")?,
                    detail: r.try_get("detail")?,
                })
            })
            .collect()
    }
}
