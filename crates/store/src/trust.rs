//! The CRL store and the certificate trust list.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Result, Store, StoreError};

/// A CRL row to store.
#[derive(Debug, Clone)]
pub struct NewCrl {
    /// SHA-256 of the DER, hex.
    pub sha256: String,
    /// Issuer DN (display form).
    pub issuer: String,
    /// authorityKeyIdentifier, hex.
    pub authority_key_id: Option<String>,
    /// cRLNumber, hex.
    pub number: Option<String>,
    /// deltaCRLIndicator base number, hex.
    pub delta_base: Option<String>,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: Option<i64>,
    /// Number of revoked entries.
    pub entries: i64,
    /// The DER.
    pub der: Vec<u8>,
}

/// A stored CRL.
#[derive(Debug, Clone)]
pub struct StoredCrl {
    /// Row id.
    pub id: i64,
    /// The data.
    pub crl: NewCrl,
    /// True for the CRL in use for its issuer (the newest valid one).
    pub current: bool,
    /// Why it is not in use, when it is not.
    pub problem: Option<String>,
    /// Import time.
    pub imported_at: i64,
}

/// A trust-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtlEntry {
    /// SHA-512 thumbprint, hex.
    pub sha512: String,
    /// `whitelisted` or `blacklisted`.
    pub status: String,
    /// Whitelisted even when expired.
    pub allow_expired: bool,
    /// When it was set.
    pub created_at: i64,
}

const CRL_COLUMNS: &str = "id, sha256, issuer, authority_key_id, number, delta_base, this_update, next_update, entries, current, problem, der, imported_at";

fn crl_from_row(r: &AnyRow) -> Result<StoredCrl> {
    Ok(StoredCrl {
        id: r.try_get("id")?,
        crl: NewCrl {
            sha256: r.try_get("sha256")?,
            issuer: r.try_get("issuer")?,
            authority_key_id: r.try_get("authority_key_id")?,
            number: r.try_get("number")?,
            delta_base: r.try_get("delta_base")?,
            this_update: r.try_get("this_update")?,
            next_update: r.try_get("next_update")?,
            entries: r.try_get("entries")?,
            der: r.try_get("der")?,
        },
        current: r.try_get::<i64, _>("current")? != 0,
        problem: r.try_get("problem")?,
        imported_at: r.try_get("imported_at")?,
    })
}

impl Store {
    /// CRLs of an issuer (display DN), newest import first.
    pub async fn crls_of(&self, issuer: &str) -> Result<Vec<StoredCrl>> {
        let sql = format!("SELECT {CRL_COLUMNS} FROM crls WHERE issuer = $1 ORDER BY id DESC");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(issuer)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crl_from_row)
            .collect()
    }

    /// The SHA-256 of the CRLs in use for an issuer (display DN).
    pub async fn current_crl_shas(&self, issuer: &str) -> Result<Vec<String>> {
        sqlx::query("SELECT sha256 FROM crls WHERE issuer = $1 AND current = 1 ORDER BY id DESC")
            .bind(issuer)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("sha256")?))
            .collect()
    }

    /// The DER of a CRL by its full SHA-256.
    pub async fn crl_der(&self, sha256: &str) -> Result<Vec<u8>> {
        let row = sqlx::query("SELECT der FROM crls WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound {
                what: "CRL",
                id: sha256.to_owned(),
            })?;
        Ok(row.try_get("der")?)
    }

    /// All CRLs (without filters), in import order.
    pub async fn list_crls(&self) -> Result<Vec<StoredCrl>> {
        let sql = format!("SELECT {CRL_COLUMNS} FROM crls ORDER BY id");
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(crl_from_row)
            .collect()
    }

    /// One CRL by SHA-256 prefix.
    pub async fn find_crl(&self, prefix: &str) -> Result<StoredCrl> {
        let (lower, upper) = crate::prefix_range(prefix)?;
        let sql = format!(
            "SELECT {CRL_COLUMNS} FROM crls WHERE sha256 >= $1 AND sha256 < $2 ORDER BY sha256 LIMIT 2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&lower)
            .bind(&upper)
            .fetch_all(&self.pool)
            .await?;
        crate::exactly_one(&rows, "CRL", prefix, crl_from_row)
    }

    /// Stores a CRL. When `current`, it becomes the one in use for its issuer (and kind:
    /// base or delta) and `replaces` rows lose that role in the same transaction. Returns
    /// false when the same CRL (SHA-256) is already stored.
    pub async fn put_crl(
        &self,
        crl: &NewCrl,
        current: bool,
        problem: Option<&str>,
        replaces: &[i64],
        now: i64,
    ) -> Result<bool> {
        let mut tx = self.pool.begin().await?;
        for id in replaces {
            sqlx::query("UPDATE crls SET current = 0, problem = $1 WHERE id = $2")
                .bind("superseded by a newer CRL")
                .bind(*id)
                .execute(&mut *tx)
                .await?;
        }
        let done = sqlx::query(
            "INSERT INTO crls (sha256, issuer, authority_key_id, number, delta_base, this_update, next_update, entries, current, problem, der, imported_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(&crl.sha256)
        .bind(&crl.issuer)
        .bind(crl.authority_key_id.as_deref())
        .bind(crl.number.as_deref())
        .bind(crl.delta_base.as_deref())
        .bind(crl.this_update)
        .bind(crl.next_update)
        .bind(crl.entries)
        .bind(i64::from(current))
        .bind(problem)
        .bind(crl.der.as_slice())
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        tx.commit().await?;
        self.bump_trust_generation().await?;
        Ok(true)
    }

    /// Deletes a CRL.
    pub async fn delete_crl(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM crls WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await?;
        self.bump_trust_generation().await?;
        Ok(())
    }

    /// Sets (or replaces) a trust-list entry.
    pub async fn ctl_set(&self, e: &CtlEntry) -> Result<()> {
        sqlx::query(
            "INSERT INTO ctl (sha512, status, allow_expired, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (sha512) DO UPDATE SET status = excluded.status, allow_expired = excluded.allow_expired, created_at = excluded.created_at",
        )
        .bind(&e.sha512)
        .bind(&e.status)
        .bind(i64::from(e.allow_expired))
        .bind(e.created_at)
        .execute(&self.pool)
        .await?;
        self.bump_trust_generation().await?;
        Ok(())
    }

    /// Every trust-list entry.
    pub async fn ctl_list(&self) -> Result<Vec<CtlEntry>> {
        sqlx::query(
            "SELECT sha512, status, allow_expired, created_at FROM ctl ORDER BY created_at, sha512",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(CtlEntry {
                sha512: r.try_get("sha512")?,
                status: r.try_get("status")?,
                allow_expired: r.try_get::<i64, _>("allow_expired")? != 0,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
    }

    /// Removes a trust-list entry; false when there was none.
    pub async fn ctl_remove(&self, sha512: &str) -> Result<bool> {
        let done = sqlx::query("DELETE FROM ctl WHERE sha512 = $1")
            .bind(sha512)
            .execute(&self.pool)
            .await?;
        self.bump_trust_generation().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Every root certificate's DER (the trust anchors; the root store is small).
    pub async fn all_roots(&self) -> Result<Vec<Vec<u8>>> {
        sqlx::query("SELECT der FROM certificates WHERE store = 'roots' ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| Ok(r.try_get("der")?))
            .collect()
    }
}
