//! Versioned schema migrations, applied on open, each in its own transaction.

use sqlx::{AnyPool, Row};

use crate::{Backend, StoreError};

struct Migration {
    version: i64,
    name: &'static str,
    sqlite: &'static str,
    postgres: &'static str,
}

const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "init",
        sqlite: include_str!("../migrations/sqlite/0001_init.sql"),
        postgres: include_str!("../migrations/postgres/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "crl_ctl",
        sqlite: include_str!("../migrations/sqlite/0002_crl_ctl.sql"),
        postgres: include_str!("../migrations/postgres/0002_crl_ctl.sql"),
    },
    Migration {
        version: 3,
        name: "policy",
        sqlite: include_str!("../migrations/sqlite/0003_policy.sql"),
        postgres: include_str!("../migrations/postgres/0003_policy.sql"),
    },
    Migration {
        version: 4,
        name: "ca",
        sqlite: include_str!("../migrations/sqlite/0004_ca.sql"),
        postgres: include_str!("../migrations/postgres/0004_ca.sql"),
    },
    Migration {
        version: 5,
        name: "pending",
        sqlite: include_str!("../migrations/sqlite/0005_pending.sql"),
        postgres: include_str!("../migrations/postgres/0005_pending.sql"),
    },
    Migration {
        version: 6,
        name: "admin",
        sqlite: include_str!("../migrations/sqlite/0006_admin.sql"),
        postgres: include_str!("../migrations/postgres/0006_admin.sql"),
    },
    Migration {
        version: 7,
        name: "jobs",
        sqlite: include_str!("../migrations/sqlite/0007_jobs.sql"),
        postgres: include_str!("../migrations/postgres/0007_jobs.sql"),
    },
    Migration {
        version: 8,
        name: "directories",
        sqlite: include_str!("../migrations/sqlite/0008_directories.sql"),
        postgres: include_str!("../migrations/postgres/0008_directories.sql"),
    },
    Migration {
        version: 9,
        name: "expiry",
        sqlite: include_str!("../migrations/sqlite/0009_expiry.sql"),
        postgres: include_str!("../migrations/postgres/0009_expiry.sql"),
    },
    Migration {
        version: 10,
        name: "hold",
        sqlite: include_str!("../migrations/sqlite/0010_hold.sql"),
        postgres: include_str!("../migrations/postgres/0010_hold.sql"),
    },
    Migration {
        version: 11,
        name: "renewals",
        sqlite: include_str!("../migrations/sqlite/0011_renewals.sql"),
        postgres: include_str!("../migrations/postgres/0011_renewals.sql"),
    },
    Migration {
        version: 12,
        name: "root count",
        sqlite: include_str!("../migrations/sqlite/0012_root_count.sql"),
        postgres: include_str!("../migrations/postgres/0012_root_count.sql"),
    },
];

/// The newest schema version this program knows.
pub(crate) fn newest() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.version)
}

/// The schema version of the database (0 for a new one).
pub(crate) async fn current(pool: &AnyPool) -> Result<i64, StoreError> {
    sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)")
        .execute(pool)
        .await?;
    Ok(
        sqlx::query("SELECT CAST(COALESCE(MAX(version), 0) AS BIGINT) AS v FROM schema_migrations")
            .fetch_one(pool)
            .await?
            .try_get("v")?,
    )
}

/// Brings the schema up to `up_to` (a restore of an older backup stops at its version), or
/// to the newest version.
pub(crate) async fn run(
    pool: &AnyPool,
    backend: Backend,
    up_to: Option<i64>,
) -> Result<(), StoreError> {
    let current = current(pool).await?;
    let newest = newest();
    if current > newest {
        return Err(StoreError::SchemaTooNew {
            found: current,
            supported: newest,
        });
    }
    let up_to = up_to.unwrap_or(newest);
    for m in MIGRATIONS
        .iter()
        .filter(|m| m.version > current && m.version <= up_to)
    {
        let sql = match backend {
            Backend::Sqlite => m.sqlite,
            Backend::Postgres => m.postgres,
        };
        let fail = |e: sqlx::Error| StoreError::Migration {
            version: m.version,
            name: m.name,
            reason: e.to_string(),
        };
        let mut tx = pool.begin().await.map_err(fail)?;
        let code = strip_comments(sql);
        for stmt in code.split(';').map(str::trim).filter(|s| !s.is_empty()) {
            sqlx::query(sqlx::AssertSqlSafe(stmt.to_owned()))
                .execute(&mut *tx)
                .await
                .map_err(fail)?;
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        sqlx::query(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(fail)?;
        tx.commit().await.map_err(fail)?;
    }
    Ok(())
}

/// Drops `--` comments (the migration files keep no `--` inside string literals).
fn strip_comments(s: &str) -> String {
    s.lines()
        .map(|l| l.split_once("--").map_or(l, |(code, _)| code))
        .collect::<Vec<_>>()
        .join("\n")
}
