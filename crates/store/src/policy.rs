//! Users, domains and global settings, and certificate selections.

use sqlx::Row;

use crate::{Result, Store};

/// Who a setting or selection belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Party {
    /// The global settings.
    Global,
    /// A domain (`example.com`) or wildcard parent (`*.example.com`).
    Domain(String),
    /// A user, by lower-case e-mail address.
    User(String),
}

impl Party {
    /// (scope, name) as stored.
    pub fn key(&self) -> (&'static str, &str) {
        match self {
            Party::Global => ("global", ""),
            Party::Domain(d) => ("domain", d),
            Party::User(u) => ("user", u),
        }
    }

    fn from_key(scope: &str, name: String) -> Party {
        match scope {
            "domain" => Party::Domain(name),
            "user" => Party::User(name),
            _ => Party::Global,
        }
    }
}

/// A certificate selection kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SelectionKind {
    /// Manually selected encryption certificates.
    Encryption,
    /// The manually selected signing certificate (at most one per user).
    Signing,
    /// Additional (escrow) certificates.
    Additional,
}

impl SelectionKind {
    fn as_str(self) -> &'static str {
        match self {
            SelectionKind::Encryption => "encryption",
            SelectionKind::Signing => "signing",
            SelectionKind::Additional => "additional",
        }
    }
}

/// One stored setting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingRow {
    /// Owner.
    pub party: Party,
    /// Setting key.
    pub key: String,
    /// Stored value.
    pub value: String,
}

impl Store {
    /// Creates the user or domain object if it does not exist yet.
    pub async fn ensure_party(&self, party: &Party, now: i64) -> Result<()> {
        let (scope, name) = party.key();
        sqlx::query("INSERT INTO parties (scope, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (scope, name) DO NOTHING")
            .bind(scope)
            .bind(name)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Creates many user or domain objects in one transaction (bulk provisioning).
    pub async fn ensure_parties(&self, parties: &[Party], now: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for p in parties {
            let (scope, name) = p.key();
            sqlx::query("INSERT INTO parties (scope, name, created_at) VALUES ($1, $2, $3) ON CONFLICT (scope, name) DO NOTHING")
                .bind(scope)
                .bind(name)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Names of the users (`user`) or domains (`domain`) objects, sorted, optionally only
    /// those containing `search`; `limit` + `offset` paging.
    pub async fn parties(
        &self,
        scope: &str,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<String>> {
        let pattern = crate::like_contains(&search.unwrap_or_default().to_lowercase());
        let rows = sqlx::query("SELECT name FROM parties WHERE scope = $1 AND name LIKE $2 ESCAPE '\\' ORDER BY name LIMIT $3 OFFSET $4")
            .bind(scope)
            .bind(pattern)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok(r.try_get::<String, _>("name")?))
            .collect()
    }

    /// Whether a user or domain object exists.
    pub async fn party_exists(&self, party: &Party) -> Result<bool> {
        let (scope, name) = party.key();
        Ok(
            sqlx::query("SELECT 1 AS one FROM parties WHERE scope = $1 AND name = $2")
                .bind(scope)
                .bind(name)
                .fetch_optional(&self.pool)
                .await?
                .is_some(),
        )
    }

    /// Sets a setting.
    pub async fn set_setting(&self, party: &Party, key: &str, value: &str) -> Result<()> {
        let (scope, name) = party.key();
        sqlx::query("INSERT INTO settings (scope, name, key, value) VALUES ($1, $2, $3, $4) ON CONFLICT (scope, name, key) DO UPDATE SET value = excluded.value")
            .bind(scope)
            .bind(name)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        self.bump_policy_generation().await
    }

    /// Removes a setting (back to "inherit"); false when it was not set.
    pub async fn unset_setting(&self, party: &Party, key: &str) -> Result<bool> {
        let (scope, name) = party.key();
        let done = sqlx::query("DELETE FROM settings WHERE scope = $1 AND name = $2 AND key = $3")
            .bind(scope)
            .bind(name)
            .bind(key)
            .execute(&self.pool)
            .await?;
        self.bump_policy_generation().await?;
        Ok(done.rows_affected() > 0)
    }

    /// Deletes a user or domain: its object, its settings and its selections, in one
    /// transaction (all of it or nothing). `None` when none of them existed; otherwise how
    /// many (settings, selections) went. The global settings cannot be deleted.
    pub async fn delete_party(&self, party: &Party) -> Result<Option<(u64, u64)>> {
        if *party == Party::Global {
            return Err(crate::StoreError::Invalid(
                "the global settings cannot be deleted (unset them one by one)".into(),
            ));
        }
        let (scope, name) = party.key();
        let mut tx = self.pool.begin().await?;
        let settings = sqlx::query("DELETE FROM settings WHERE scope = $1 AND name = $2")
            .bind(scope)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let selections = sqlx::query("DELETE FROM selections WHERE scope = $1 AND name = $2")
            .bind(scope)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let object = sqlx::query("DELETE FROM parties WHERE scope = $1 AND name = $2")
            .bind(scope)
            .bind(name)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if settings == 0 && selections == 0 && object == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        // The policy generation is renewed in the same transaction: caches never see the
        // deletion without the new generation.
        crate::meta_upsert(&mut *tx, "policy_generation", &crate::new_token()).await?;
        tx.commit().await?;
        Ok(Some((settings, selections)))
    }

    fn party_filter(
        parties: &[Party],
        first_param: usize,
    ) -> (String, Vec<(&'static str, String)>) {
        let mut clauses = Vec::new();
        let mut binds = Vec::new();
        for (i, p) in parties.iter().enumerate() {
            let (scope, name) = p.key();
            clauses.push(format!(
                "(scope = ${} AND name = ${})",
                first_param + 2 * i,
                first_param + 2 * i + 1
            ));
            binds.push((scope, name.to_owned()));
        }
        (
            if clauses.is_empty() {
                "1 = 0".into()
            } else {
                clauses.join(" OR ")
            },
            binds,
        )
    }

    /// The settings of several parties in one query.
    pub async fn settings_of(&self, parties: &[Party]) -> Result<Vec<SettingRow>> {
        let (filter, binds) = Self::party_filter(parties, 1);
        let sql = format!("SELECT scope, name, key, value FROM settings WHERE {filter}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (scope, name) in &binds {
            q = q.bind(*scope).bind(name.as_str());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                Ok(SettingRow {
                    party: Party::from_key(&r.try_get::<String, _>("scope")?, r.try_get("name")?),
                    key: r.try_get("key")?,
                    value: r.try_get("value")?,
                })
            })
            .collect()
    }

    /// Adds a selection; for signing, replaces the previous one.
    pub async fn select(&self, party: &Party, kind: SelectionKind, sha256: &str) -> Result<()> {
        let (scope, name) = party.key();
        let mut tx = self.pool.begin().await?;
        if kind == SelectionKind::Signing {
            sqlx::query("DELETE FROM selections WHERE scope = $1 AND name = $2 AND kind = $3")
                .bind(scope)
                .bind(name)
                .bind(kind.as_str())
                .execute(&mut *tx)
                .await?;
        }
        sqlx::query("INSERT INTO selections (scope, name, kind, sha256) VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING")
            .bind(scope)
            .bind(name)
            .bind(kind.as_str())
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.bump_policy_generation().await
    }

    /// Removes a selection (all of the kind when `sha256` is `None`); returns how many.
    pub async fn deselect(
        &self,
        party: &Party,
        kind: SelectionKind,
        sha256: Option<&str>,
    ) -> Result<u64> {
        let (scope, name) = party.key();
        let done = match sha256 {
            Some(s) => sqlx::query("DELETE FROM selections WHERE scope = $1 AND name = $2 AND kind = $3 AND sha256 = $4")
                .bind(scope)
                .bind(name)
                .bind(kind.as_str())
                .bind(s)
                .execute(&self.pool)
                .await?,
            None => sqlx::query("DELETE FROM selections WHERE scope = $1 AND name = $2 AND kind = $3")
                .bind(scope)
                .bind(name)
                .bind(kind.as_str())
                .execute(&self.pool)
                .await?,
        };
        self.bump_policy_generation().await?;
        Ok(done.rows_affected())
    }

    /// All selections of several parties in one query: (party, kind, sha256).
    pub async fn selections_all(
        &self,
        parties: &[Party],
    ) -> Result<Vec<(Party, SelectionKind, String)>> {
        let (filter, binds) = Self::party_filter(parties, 1);
        let sql = format!(
            "SELECT scope, name, kind, sha256 FROM selections WHERE {filter} ORDER BY sha256"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for (scope, name) in &binds {
            q = q.bind(*scope).bind(name.as_str());
        }
        q.fetch_all(&self.pool)
            .await?
            .iter()
            .map(|r| {
                let kind = match r.try_get::<String, _>("kind")?.as_str() {
                    "signing" => SelectionKind::Signing,
                    "additional" => SelectionKind::Additional,
                    _ => SelectionKind::Encryption,
                };
                Ok((
                    Party::from_key(&r.try_get::<String, _>("scope")?, r.try_get("name")?),
                    kind,
                    r.try_get("sha256")?,
                ))
            })
            .collect()
    }

    /// Selections of a kind for several parties: (party, sha256).
    pub async fn selections_of(
        &self,
        parties: &[Party],
        kind: SelectionKind,
    ) -> Result<Vec<(Party, String)>> {
        Ok(self
            .selections_all(parties)
            .await?
            .into_iter()
            .filter(|(_, k, _)| *k == kind)
            .map(|(p, _, s)| (p, s))
            .collect())
    }
}
