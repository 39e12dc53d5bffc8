//! Certificate authorities and issued-certificate records.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// A CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaRow {
    /// Id.
    pub id: i64,
    /// Name (the intermediate's common name).
    pub name: String,
    /// Root certificate.
    pub root_sha256: String,
    /// The certificate that signs end-user certificates (the intermediate).
    pub signer_sha256: String,
    /// Signature hash (`sha256`, `sha384`, `sha512`).
    pub hash: String,
    /// The default CA.
    pub is_default: bool,
    /// Last CRL number issued.
    pub crl_number: i64,
    /// Created.
    pub created_at: i64,
}

/// An issued-certificate record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedRow {
    /// CA.
    pub ca_id: i64,
    /// Serial, hex.
    pub serial: String,
    /// Certificate thumbprint (empty for serials revoked without a record).
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// E-mail.
    pub email: Option<String>,
    /// Who asked.
    pub requester: String,
    /// Which request handler.
    pub handler: String,
    /// When.
    pub issued_at: i64,
    /// Revocation time.
    pub revoked_at: Option<i64>,
    /// Revocation reason code.
    pub reason: Option<i64>,
}

fn ca_from(r: &AnyRow) -> Result<CaRow> {
    Ok(CaRow {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        root_sha256: r.try_get("root_sha256")?,
        signer_sha256: r.try_get("signer_sha256")?,
        hash: r.try_get("hash")?,
        is_default: r.try_get::<i64, _>("is_default")? != 0,
        crl_number: r.try_get("crl_number")?,
        created_at: r.try_get("created_at")?,
    })
}

fn issued_from(r: &AnyRow) -> Result<IssuedRow> {
    Ok(IssuedRow {
        ca_id: r.try_get("ca_id")?,
        serial: r.try_get("serial")?,
        sha256: r.try_get("sha256")?,
        subject: r.try_get("subject")?,
        email: r.try_get("email")?,
        requester: r.try_get("requester")?,
        handler: r.try_get("handler")?,
        issued_at: r.try_get("issued_at")?,
        revoked_at: r.try_get("revoked_at")?,
        reason: r.try_get("reason")?,
    })
}

const CA_COLS: &str =
    "id, name, root_sha256, signer_sha256, hash, is_default, crl_number, created_at";
const ISSUED_COLS: &str =
    "ca_id, serial, sha256, subject, email, requester, handler, issued_at, revoked_at, reason";

/// Inserts one issued-certificate record inside a transaction.
pub(crate) async fn insert_issued(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    r: &IssuedRow,
) -> Result<()> {
    sqlx::query("INSERT INTO issued (ca_id, serial, sha256, subject, email, requester, handler, issued_at, revoked_at, reason) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)")
        .bind(r.ca_id)
        .bind(&r.serial)
        .bind(&r.sha256)
        .bind(&r.subject)
        .bind(r.email.as_deref())
        .bind(&r.requester)
        .bind(&r.handler)
        .bind(r.issued_at)
        .bind(r.revoked_at)
        .bind(r.reason)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Records a new CA; the first one, or one asked to, becomes the default.
    pub async fn add_ca(
        &self,
        name: &str,
        root: &str,
        signer: &str,
        hash: &str,
        make_default: bool,
        now: i64,
    ) -> Result<CaRow> {
        let mut tx = self.pool.begin().await?;
        let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM cas")
            .fetch_one(&mut *tx)
            .await?
            .try_get("n")?;
        let is_default = make_default || count == 0;
        if is_default {
            sqlx::query("UPDATE cas SET is_default = 0")
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO cas (name, root_sha256, signer_sha256, hash, is_default, crl_number, created_at) VALUES ($1, $2, $3, $4, $5, 0, $6)")
            .bind(name)
            .bind(root)
            .bind(signer)
            .bind(hash)
            .bind(i64::from(is_default))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.ca(name).await
    }

    /// All CAs.
    pub async fn cas(&self) -> Result<Vec<CaRow>> {
        let sql = format!("SELECT {CA_COLS} FROM cas ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(ca_from)
            .collect()
    }

    /// A CA by id or name; `None`/empty means the default.
    pub async fn ca(&self, id_or_name: &str) -> Result<CaRow> {
        let cas = self.cas().await?;
        let found = if id_or_name.is_empty() {
            cas.into_iter().find(|c| c.is_default)
        } else {
            cas.into_iter()
                .find(|c| c.name == id_or_name || c.id.to_string() == id_or_name)
        };
        found.ok_or_else(|| StoreError::NotFound {
            what: "CA",
            id: if id_or_name.is_empty() {
                "(default)".into()
            } else {
                id_or_name.to_owned()
            },
        })
    }

    /// A CA by its id.
    pub async fn ca_by_id(&self, id: i64) -> Result<CaRow> {
        let sql = format!("SELECT {CA_COLS} FROM cas WHERE id = $1");
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
        {
            Some(r) => ca_from(&r),
            None => Err(StoreError::NotFound {
                what: "CA",
                id: id.to_string(),
            }),
        }
    }

    /// Makes a CA the default (exactly one is).
    pub async fn set_default_ca(&self, id: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE cas SET is_default = 0")
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE cas SET is_default = 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Records an issued serial. Fails with [`StoreError::Database`] on a reused serial: the
    /// primary key (ca_id, serial) is what guarantees a serial is never used twice per CA.
    pub async fn record_issued(&self, r: &IssuedRow) -> Result<()> {
        self.record_issued_many(std::slice::from_ref(r)).await
    }

    /// Records many issued serials in one transaction (all or none).
    pub async fn record_issued_many(&self, rows: &[IssuedRow]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for r in rows {
            insert_issued(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Whether a serial is already recorded for a CA.
    pub async fn serial_used(&self, ca_id: i64, serial: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 AS one FROM issued WHERE ca_id = $1 AND serial = $2")
                .bind(ca_id)
                .bind(serial)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Issued records of a CA.
    pub async fn issued(&self, ca_id: i64) -> Result<Vec<IssuedRow>> {
        let sql =
            format!("SELECT {ISSUED_COLS} FROM issued WHERE ca_id = $1 ORDER BY issued_at, serial");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(ca_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(issued_from)
            .collect()
    }

    /// The record of an issued certificate by thumbprint.
    pub async fn issued_by_sha256(&self, sha256: &str) -> Result<Option<IssuedRow>> {
        let sql = format!("SELECT {ISSUED_COLS} FROM issued WHERE sha256 = $1");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| issued_from(&r))
            .transpose()
    }

    /// Marks a serial revoked (keeps the first revocation time).
    pub async fn revoke_serial(
        &self,
        ca_id: i64,
        serial: &str,
        at: i64,
        reason: Option<i64>,
    ) -> Result<bool> {
        let done = sqlx::query("UPDATE issued SET revoked_at = COALESCE(revoked_at, $1), reason = $2 WHERE ca_id = $3 AND serial = $4")
            .bind(at)
            .bind(reason)
            .bind(ca_id)
            .bind(serial)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Increments and returns the CA's CRL number (monotonic).
    pub async fn next_crl_number(&self, ca_id: i64) -> Result<i64> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("UPDATE cas SET crl_number = crl_number + 1 WHERE id = $1")
            .bind(ca_id)
            .execute(&mut *tx)
            .await?;
        let n: i64 = sqlx::query("SELECT crl_number FROM cas WHERE id = $1")
            .bind(ca_id)
            .fetch_one(&mut *tx)
            .await?
            .try_get("crl_number")?;
        tx.commit().await?;
        Ok(n)
    }
}

/// A pending certificate request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingRow {
    /// Id.
    pub id: i64,
    /// Handler (`csr`, or an external CA's name).
    pub handler: String,
    /// E-mail address.
    pub email: String,
    /// Requested subject (display form).
    pub subject: String,
    /// Key id of the pending key (the key waits in the key store).
    pub key_id: String,
    /// The PKCS#10 request, DER.
    pub csr: Vec<u8>,
    /// Created.
    pub created_at: i64,
    /// When the handler should try again.
    pub next_attempt: i64,
    /// Attempts so far.
    pub attempts: i64,
    /// The last handler error.
    pub last_error: Option<String>,
}

fn pending_from(r: &AnyRow) -> Result<PendingRow> {
    Ok(PendingRow {
        id: r.try_get("id")?,
        handler: r.try_get("handler")?,
        email: r.try_get("email")?,
        subject: r.try_get("subject")?,
        key_id: r.try_get("key_id")?,
        csr: r.try_get("csr")?,
        created_at: r.try_get("created_at")?,
        next_attempt: r.try_get("next_attempt")?,
        attempts: r.try_get("attempts")?,
        last_error: r.try_get("last_error")?,
    })
}

const PENDING_COLS: &str =
    "id, handler, email, subject, key_id, csr, created_at, next_attempt, attempts, last_error";

impl Store {
    /// Queues a pending request.
    pub async fn add_pending(
        &self,
        handler: &str,
        email: &str,
        subject: &str,
        key_id: &str,
        csr: &[u8],
        now: i64,
    ) -> Result<i64> {
        sqlx::query("INSERT INTO pending_requests (handler, email, subject, key_id, csr, created_at, next_attempt, attempts) VALUES ($1, $2, $3, $4, $5, $6, $6, 0)")
            .bind(handler)
            .bind(email)
            .bind(subject)
            .bind(key_id)
            .bind(csr)
            .bind(now)
            .execute(&self.pool)
            .await?;
        let row = sqlx::query("SELECT id FROM pending_requests WHERE key_id = $1")
            .bind(key_id)
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get("id")?)
    }

    /// The pending requests.
    pub async fn pending(&self) -> Result<Vec<PendingRow>> {
        let sql = format!("SELECT {PENDING_COLS} FROM pending_requests ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(pending_from)
            .collect()
    }

    /// Sets when a pending request is tried next.
    pub async fn reschedule_pending(&self, id: i64, at: i64, error: Option<&str>) -> Result<bool> {
        let done = sqlx::query("UPDATE pending_requests SET next_attempt = $1, last_error = $2, attempts = attempts + 1 WHERE id = $3")
            .bind(at)
            .bind(error)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Removes a pending request.
    pub async fn delete_pending(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM pending_requests WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// An automatic renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenewalRow {
    /// The certificate renewed.
    pub old_sha256: String,
    /// Its successor (empty while the renewal runs).
    pub new_sha256: Option<String>,
    /// The address.
    pub email: String,
    /// When renewed.
    pub renewed_at: Option<i64>,
    /// When the new PKCS#12 was sent.
    pub sent_at: Option<i64>,
    /// Why it was not sent, or why the renewal failed.
    pub problem: Option<String>,
}

impl Store {
    /// Claims the renewal of `old` (false when it is renewed, or another run is renewing
    /// it and started less than an hour ago).
    pub async fn renewal_claim(&self, old: &str, email: &str, now: i64) -> Result<bool> {
        let inserted = sqlx::query("INSERT INTO renewals (old_sha256, email, claimed_at) VALUES ($1, $2, $3) ON CONFLICT (old_sha256) DO NOTHING")
            .bind(old)
            .bind(email)
            .bind(now)
            .execute(&self.pool)
            .await?
            .rows_affected();
        if inserted > 0 {
            return Ok(true);
        }
        let retaken = sqlx::query("UPDATE renewals SET claimed_at = $1 WHERE old_sha256 = $2 AND new_sha256 IS NULL AND claimed_at < $3")
            .bind(now)
            .bind(old)
            .bind(now - 3600)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(retaken > 0)
    }

    /// Whether `old` was renewed (or is being renewed).
    pub async fn renewal_known(&self, old: &str) -> Result<bool> {
        Ok(
            sqlx::query("SELECT 1 AS x FROM renewals WHERE old_sha256 = $1")
                .bind(old)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Records the outcome of a renewal.
    pub async fn renewal_done(
        &self,
        old: &str,
        new: Option<&str>,
        now: i64,
        sent: bool,
        problem: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE renewals SET new_sha256 = COALESCE($1, new_sha256), renewed_at = COALESCE(renewed_at, $2), sent_at = $3, problem = $4 WHERE old_sha256 = $5")
            .bind(new)
            .bind(new.map(|_| now))
            .bind(sent.then_some(now))
            .bind(problem)
            .bind(old)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The renewals, newest first.
    pub async fn renewals(&self, limit: i64) -> Result<Vec<RenewalRow>> {
        sqlx::query("SELECT old_sha256, new_sha256, email, renewed_at, sent_at, problem FROM renewals ORDER BY claimed_at DESC LIMIT $1")
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(RenewalRow {
                    old_sha256: r.try_get("old_sha256")?,
                    new_sha256: r.try_get("new_sha256")?,
                    email: r.try_get("email")?,
                    renewed_at: r.try_get("renewed_at")?,
                    sent_at: r.try_get("sent_at")?,
                    problem: r.try_get("problem")?,
                })
            })
            .collect()
    }
}
