//! A fresh PostgreSQL database per test on the server CI starts
//! (`CERTMAIL_TEST_DATABASE_URL`), dropped afterwards.

/// The database; dropped with this value.
pub struct PgDb {
    admin: String,
    name: String,
    /// Its URL, for `--database-url`.
    pub url: String,
}

fn sql(admin: &str, q: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("rt");
    rt.block_on(async {
        let s = certmail_store::Store::open_admin(admin)
            .await
            .expect("admin");
        s.execute_admin(q).await.expect("admin sql");
        s.close().await;
    });
}

impl PgDb {
    /// A database named after `tag` and this process, or `None` when the tests have no
    /// server (which fails under `CI`).
    pub fn create(tag: &str) -> Option<PgDb> {
        let Ok(admin) = std::env::var("CERTMAIL_TEST_DATABASE_URL") else {
            assert!(!super::ci(), "CI run without CERTMAIL_TEST_DATABASE_URL");
            eprintln!("skipping PostgreSQL: CERTMAIL_TEST_DATABASE_URL not set");
            return None;
        };
        let name = format!("certmail_{tag}_{}", std::process::id());
        sql(
            &admin,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        sql(&admin, &format!("CREATE DATABASE {name}"));
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        let url = format!("{base}/{name}");
        Some(PgDb { admin, name, url })
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        sql(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        );
    }
}
