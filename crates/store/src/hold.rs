//! The hold queue: messages kept because their policy required protection that could not
//! be applied (`on-missing-certificate hold`), until released, deleted or expired.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store};

/// A held message (one recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldRow {
    /// Id.
    pub id: i64,
    /// The gateway's message id (`X-Certmail-Id`) of the transaction that held it.
    pub gateway_id: String,
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipient.
    pub recipient: String,
    /// Why it is held.
    pub reason: String,
    /// The Subject, for lists.
    pub subject: String,
    /// Message size, bytes.
    pub size: i64,
    /// Held at (Unix seconds).
    pub created_at: i64,
    /// Dropped after (Unix seconds).
    pub expires_at: i64,
    /// The last failed release attempt.
    pub last_error: Option<String>,
}

/// A new held message.
#[derive(Debug, Clone)]
pub struct NewHeld<'a> {
    /// Identity of the held copy (same message, sender and recipient: held once).
    pub dedupe: &'a str,
    /// The gateway's message id.
    pub gateway_id: &'a str,
    /// Envelope sender.
    pub sender: &'a str,
    /// Envelope recipient.
    pub recipient: &'a str,
    /// Why.
    pub reason: &'a str,
    /// Subject.
    pub subject: &'a str,
    /// The message (as received, or sealed by the caller).
    pub message: &'a [u8],
    /// The size shown (of the message as received).
    pub size: i64,
    /// Now.
    pub now: i64,
    /// Expiry.
    pub expires_at: i64,
}

const COLS: &str =
    "id, gateway_id, sender, recipient, reason, subject, size, created_at, expires_at, last_error";

fn held_from(r: &AnyRow) -> Result<HeldRow> {
    Ok(HeldRow {
        id: r.try_get("id")?,
        gateway_id: r.try_get("gateway_id")?,
        sender: r.try_get("sender")?,
        recipient: r.try_get("recipient")?,
        reason: r.try_get("reason")?,
        subject: r.try_get("subject")?,
        size: r.try_get("size")?,
        created_at: r.try_get("created_at")?,
        expires_at: r.try_get("expires_at")?,
        last_error: r.try_get("last_error")?,
    })
}

impl Store {
    /// Holds a message for one recipient (committed before this returns), or finds the
    /// row of an earlier attempt of the same transaction; the row and whether it is new.
    pub async fn hold_put(&self, h: &NewHeld<'_>) -> Result<(HeldRow, bool)> {
        let done = sqlx::query("INSERT INTO held_messages (dedupe, gateway_id, sender, recipient, reason, subject, size, message, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (dedupe) DO NOTHING")
            .bind(h.dedupe)
            .bind(h.gateway_id)
            .bind(h.sender)
            .bind(h.recipient)
            .bind(h.reason)
            .bind(h.subject)
            .bind(h.size)
            .bind(h.message)
            .bind(h.now)
            .bind(h.expires_at)
            .execute(&self.pool)
            .await?;
        let sql = format!("SELECT {COLS} FROM held_messages WHERE dedupe = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(h.dedupe)
            .fetch_one(&self.pool)
            .await?;
        Ok((held_from(&row)?, done.rows_affected() > 0))
    }

    /// Held messages, oldest first, optionally only those whose sender or recipient
    /// contains `search`.
    pub async fn held(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<HeldRow>> {
        let sql = format!(
            "SELECT {COLS} FROM held_messages WHERE ($1 = '' OR sender LIKE $2 ESCAPE '\\' OR recipient LIKE $2 ESCAPE '\\') ORDER BY id LIMIT $3 OFFSET $4"
        );
        let s = search.unwrap_or("").to_lowercase();
        let like = crate::like_contains(&s);
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&s)
            .bind(&like)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(held_from)
            .collect()
    }

    /// Number of held messages.
    pub async fn held_count(&self) -> Result<i64> {
        Ok(
            sqlx::query("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM held_messages")
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// `created_at` of the oldest held message (Unix seconds), if any.
    pub async fn held_oldest(&self) -> Result<Option<i64>> {
        Ok(
            sqlx::query("SELECT MIN(created_at) AS t FROM held_messages")
                .fetch_one(&self.pool)
                .await?
                .try_get::<Option<i64>, _>("t")?,
        )
    }

    /// One held message, without its bytes.
    pub async fn held_row(&self, id: i64) -> Result<Option<HeldRow>> {
        let sql = format!("SELECT {COLS} FROM held_messages WHERE id = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(held_from)
            .transpose()
    }

    /// One held message and its bytes.
    pub async fn held_get(&self, id: i64) -> Result<Option<(HeldRow, Vec<u8>)>> {
        let sql = format!("SELECT {COLS}, message FROM held_messages WHERE id = $1");
        let Some(r) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        else {
            return Ok(None);
        };
        Ok(Some((held_from(&r)?, r.try_get("message")?)))
    }

    /// Held messages past their expiry at `now`.
    pub async fn held_expired(&self, now: i64, limit: i64) -> Result<Vec<HeldRow>> {
        let sql = format!(
            "SELECT {COLS} FROM held_messages WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(held_from)
            .collect()
    }

    /// Records why a release failed.
    pub async fn held_failed(&self, id: i64, error: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE held_messages SET last_error = $1 WHERE id = $2")
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a held message (released, deleted or expired).
    pub async fn held_delete(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM held_messages WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
