//! One store suite, run against SQLite (always) and PostgreSQL (when
//! `CERTMAIL_TEST_DATABASE_URL` names a server; `.ci/run` starts one, and under CI=true its
//! absence is a failure, not a skip).

use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_store::{
    ExpiredFilter, KeyFilter, ListFilter, NewKey, Outcome, SortBy, Store, StoreError, StoreKind,
};
use certmail_testkit::{LeafSpec, TestPki, unix_date};

/// A database for one test, dropped with it.
struct TestDb {
    url: String,
    _dir: Option<tempfile::TempDir>,
    pg_admin: Option<(String, String)>,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.pg_admin.take() {
            // Dropped inside the test's runtime: clean up from a thread with its own.
            let cleanup = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("rt");
                rt.block_on(async {
                    if let Ok(s) = Store::open_admin(&admin).await {
                        let _ = s
                            .execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                            .await;
                    }
                });
            });
            let _ = cleanup.join();
        }
    }
}

fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("tempdir");
    TestDb {
        url: format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display()),
        _dir: Some(dir),
        pg_admin: None,
    }
}

async fn postgres_db(test: &str) -> Option<TestDb> {
    let Ok(admin) = std::env::var("CERTMAIL_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI run without CERTMAIL_TEST_DATABASE_URL: PostgreSQL suite cannot run"
        );
        eprintln!("skipping PostgreSQL for {test}: CERTMAIL_TEST_DATABASE_URL not set");
        return None;
    };
    let name = format!("certmail_t_{}_{}", test, std::process::id());
    let s = Store::open_admin(&admin).await.expect("admin connection");
    s.execute_admin(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await
        .expect("drop");
    s.execute_admin(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create");
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(TestDb {
        url: format!("{base}/{name}"),
        _dir: None,
        pg_admin: Some((admin.clone(), name)),
    })
}

/// Runs `body` on SQLite and on PostgreSQL.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn sqlite() {
                let db = sqlite_db();
                let store = Store::open(&db.url).await.expect("open sqlite");
                ($body)(store).await;
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(db) = postgres_db(stringify!($name)).await {
                    let store = Store::open(&db.url).await.expect("open postgres");
                    ($body)(store.clone()).await;
                    store.close().await;
                }
            }
        }
    };
}

fn parse(der: &[u8]) -> Certificate {
    Certificate::from_der(der, &AwsLcOps).expect("parse")
}

fn key(id: &str) -> NewKey {
    NewKey {
        key_id: id.to_owned(),
        algorithm: "EC P-256".into(),
        sealed: vec![1, 2, 3],
    }
}

both!(import_is_idempotent, |s: Store| async move {
    let pki = TestPki::new("Idem");
    let leaf = parse(&pki.leaf(&LeafSpec::email("a@example.com", 1)).der);
    let (c, _) = s
        .import(&[(StoreKind::Certificates, &leaf)], &[], 1)
        .await
        .expect("import");
    assert_eq!(c, vec![Outcome::Imported]);
    let (c, _) = s
        .import(&[(StoreKind::Certificates, &leaf)], &[], 2)
        .await
        .expect("again");
    assert_eq!(c, vec![Outcome::Present]);
    assert_eq!(s.count(StoreKind::Certificates).await.expect("count"), 1);
    // The same certificate may also be a root: the stores are separate.
    let (c, _) = s
        .import(&[(StoreKind::Roots, &leaf)], &[], 3)
        .await
        .expect("root");
    assert_eq!(c, vec![Outcome::Imported]);
    assert_eq!(s.count(StoreKind::Roots).await.expect("count"), 1);
    assert_eq!(s.count(StoreKind::Certificates).await.expect("count"), 1);
});

both!(indexed_lookups, |s: Store| async move {
    let pki = TestPki::new("Lookup");
    let mut spec = LeafSpec::email("Bob@Example.COM", 77);
    spec.emails.push("bob.other@example.org".into());
    let bob = parse(&pki.leaf(&spec).der);
    let carol = parse(&pki.leaf(&LeafSpec::email("carol@example.com", 78)).der);
    let inter = parse(&pki.intermediate.der);
    s.import(
        &[
            (StoreKind::Certificates, &bob),
            (StoreKind::Certificates, &carol),
            (StoreKind::Certificates, &inter),
        ],
        &[],
        1,
    )
    .await
    .expect("import");
    let hits = s.find_by_email("bob@example.com").await.expect("email");
    assert_eq!(hits.len(), 1);
    assert_eq!(parse(&hits[0].der).sha256, bob.sha256);
    assert_eq!(
        s.find_by_email("bob.other@example.org")
            .await
            .expect("2nd")
            .len(),
        1
    );
    assert!(
        s.find_by_email("nobody@example.com")
            .await
            .expect("none")
            .is_empty()
    );
    let by_is = s
        .find_by_issuer_serial(&bob.issuer, &bob.serial)
        .await
        .expect("issuer+serial");
    assert_eq!(by_is.len(), 1);
    let ski = inter.subject_key_id.clone().expect("ski");
    assert_eq!(
        parse(&s.find_by_ski(&ski).await.expect("ski")[0].der).sha256,
        inter.sha256
    );
    assert_eq!(
        s.find_by_subject(&inter.subject)
            .await
            .expect("subject")
            .len(),
        1
    );
    assert_eq!(
        s.find_by_sha512(&carol.sha512).await.expect("sha512").len(),
        1
    );
    assert_eq!(
        s.find_by_key_id(&carol.key_id).await.expect("key id").len(),
        1
    );
});

both!(prefixes, |s: Store| async move {
    let pki = TestPki::new("Prefix");
    let certs: Vec<Certificate> = (0..20)
        .map(|i| parse(&pki.leaf(&LeafSpec::email("p@example.com", 100 + i)).der))
        .collect();
    let refs: Vec<(StoreKind, &Certificate)> =
        certs.iter().map(|c| (StoreKind::Certificates, c)).collect();
    s.import(&refs, &[], 1).await.expect("import");
    let one = &certs[5];
    let found = s
        .find_by_prefix(StoreKind::Certificates, &one.sha256[..12].to_uppercase())
        .await
        .expect("prefix");
    assert_eq!(parse(&found.der).sha256, one.sha256);
    assert!(matches!(
        s.find_by_prefix(StoreKind::Certificates, "").await,
        Err(StoreError::BadThumbprint(_))
    ));
    assert!(matches!(
        s.find_by_prefix(StoreKind::Certificates, "xyz").await,
        Err(StoreError::BadThumbprint(_))
    ));
    assert!(matches!(
        s.find_by_prefix(StoreKind::Roots, &one.sha256).await,
        Err(StoreError::NotFound { .. })
    ));
    // With 20 certificates, some one-character prefix is shared by at least two.
    let mut counts = std::collections::HashMap::new();
    for c in &certs {
        *counts.entry(c.sha256[..1].to_owned()).or_insert(0) += 1;
    }
    let shared = counts
        .iter()
        .find(|(_, n)| **n > 1)
        .map(|(p, _)| p.clone())
        .expect("pigeonhole");
    assert!(matches!(
        s.find_by_prefix(StoreKind::Certificates, &shared).await,
        Err(StoreError::Ambiguous(_))
    ));
});

both!(list_filters_paging_sorting, |s: Store| async move {
    let pki = TestPki::new("List");
    let now = unix_date(2030, 1, 1);
    let mut expired = LeafSpec::email("old@example.com", 1);
    expired.not_after = unix_date(2026, 1, 1);
    let mut later = LeafSpec::email("zed@example.com", 2);
    later.cn = "Zed".into();
    later.not_after = unix_date(2040, 1, 1);
    let mut alice = LeafSpec::email("alice@example.com", 3);
    alice.cn = "Alice".into();
    let old = parse(&pki.leaf(&expired).der);
    let zed = parse(&pki.leaf(&later).der);
    let ali = parse(&pki.leaf(&alice).der);
    s.import(
        &[
            (StoreKind::Certificates, &old),
            (StoreKind::Certificates, &zed),
            (StoreKind::Certificates, &ali),
        ],
        &[key(&ali.key_id)],
        1,
    )
    .await
    .expect("import");
    let list = |f: ListFilter| {
        let s = s.clone();
        async move {
            s.list(StoreKind::Certificates, &f)
                .await
                .expect("list")
                .iter()
                .map(|r| parse(&r.der).emails[0].clone())
                .collect::<Vec<_>>()
        }
    };
    let base = ListFilter {
        now,
        ..ListFilter::default()
    };
    assert_eq!(
        list(base.clone()).await,
        ["old@example.com", "zed@example.com", "alice@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            expired: ExpiredFilter::Expired,
            ..base.clone()
        })
        .await,
        ["old@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            expired: ExpiredFilter::Unexpired,
            ..base.clone()
        })
        .await,
        ["zed@example.com", "alice@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            key: KeyFilter::WithKey,
            ..base.clone()
        })
        .await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            key: KeyFilter::WithoutKey,
            ..base.clone()
        })
        .await
        .len(),
        2
    );
    assert_eq!(
        list(ListFilter {
            email: Some("zed@example.com".into()),
            ..base.clone()
        })
        .await,
        ["zed@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            search: Some("ALI".into()),
            ..base.clone()
        })
        .await,
        ["alice@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            sort: SortBy::NotAfter,
            descending: true,
            ..base.clone()
        })
        .await,
        ["zed@example.com", "alice@example.com", "old@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            sort: SortBy::Subject,
            limit: Some(1),
            offset: 1,
            ..base.clone()
        })
        .await,
        ["old@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            offset: 2,
            ..base.clone()
        })
        .await,
        ["alice@example.com"]
    );
    // Keyset paging in import order: past a row id, either way, with the other filters;
    // other orders refuse a cursor rather than ignore it.
    let ids: Vec<i64> = s
        .list(StoreKind::Certificates, &base)
        .await
        .expect("ids")
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(
        list(ListFilter {
            after_id: Some(ids[0]),
            ..base.clone()
        })
        .await,
        ["zed@example.com", "alice@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            after_id: Some(ids[2]),
            descending: true,
            limit: Some(1),
            ..base.clone()
        })
        .await,
        ["zed@example.com"]
    );
    assert_eq!(
        list(ListFilter {
            after_id: Some(ids[0]),
            key: KeyFilter::WithoutKey,
            ..base.clone()
        })
        .await,
        ["zed@example.com"]
    );
    let refused = s
        .list(
            StoreKind::Certificates,
            &ListFilter {
                after_id: Some(ids[0]),
                sort: SortBy::Subject,
                ..base.clone()
            },
        )
        .await;
    assert!(refused.is_err(), "a cursor on another order is refused");
    // The counts (the roots through their partial index) follow the stores.
    assert_eq!(s.count_by_store().await.expect("counts"), (3, 0));
    let root = parse(&pki.root.der);
    s.import(&[(StoreKind::Roots, &root)], &[], 1)
        .await
        .expect("root");
    assert_eq!(s.count_by_store().await.expect("counts"), (3, 1));
    let rows = s
        .list(
            StoreKind::Certificates,
            &ListFilter {
                key: KeyFilter::WithKey,
                ..base
            },
        )
        .await
        .expect("rows");
    assert!(rows[0].has_key);
});

both!(keys_link_and_delete, |s: Store| async move {
    let pki = TestPki::new("Keys");
    let leaf = parse(&pki.leaf(&LeafSpec::email("k@example.com", 9)).der);
    // The key arrives first: kept, linked when the certificate comes.
    let (_, k) = s.import(&[], &[key(&leaf.key_id)], 1).await.expect("key");
    assert_eq!(k, vec![Outcome::Imported]);
    let (_, k) = s
        .import(&[], &[key(&leaf.key_id)], 1)
        .await
        .expect("key again");
    assert_eq!(k, vec![Outcome::Present]);
    assert!(
        s.list_keys().await.expect("keys")[0]
            .certificates
            .is_empty()
    );
    s.import(&[(StoreKind::Certificates, &leaf)], &[], 2)
        .await
        .expect("cert");
    let keys = s.list_keys().await.expect("keys");
    assert_eq!(keys[0].certificates, vec![leaf.sha256.clone()]);
    assert!(
        s.find_by_prefix(StoreKind::Certificates, &leaf.sha256)
            .await
            .expect("get")
            .has_key
    );
    let stored = s
        .get_key(&leaf.key_id)
        .await
        .expect("get key")
        .expect("present");
    assert_eq!(stored.sealed, vec![1, 2, 3]);
    // A key in use is not deleted without force, and nothing changes.
    match s.delete_key(&leaf.key_id, false).await {
        Err(StoreError::KeyInUse { certificates, .. }) => {
            assert_eq!(certificates, vec![leaf.sha256.clone()])
        }
        other => panic!("expected KeyInUse, got {other:?}"),
    }
    assert!(s.get_key(&leaf.key_id).await.expect("still").is_some());
    assert_eq!(
        s.resolve_key_prefix(&leaf.key_id[..10])
            .await
            .expect("prefix"),
        leaf.key_id
    );
    s.delete_key(&leaf.key_id, true).await.expect("force");
    assert!(s.get_key(&leaf.key_id).await.expect("gone").is_none());
    assert!(
        !s.find_by_prefix(StoreKind::Certificates, &leaf.sha256)
            .await
            .expect("get")
            .has_key
    );
});

both!(
    delete_certificate_removes_index_rows,
    |s: Store| async move {
        let pki = TestPki::new("Delete");
        let leaf = parse(&pki.leaf(&LeafSpec::email("d@example.com", 5)).der);
        s.import(&[(StoreKind::Certificates, &leaf)], &[], 1)
            .await
            .expect("import");
        s.delete_certificate(StoreKind::Certificates, &leaf.sha256)
            .await
            .expect("delete");
        assert!(
            s.find_by_email("d@example.com")
                .await
                .expect("email")
                .is_empty()
        );
        assert_eq!(s.count(StoreKind::Certificates).await.expect("count"), 0);
        assert!(matches!(
            s.delete_certificate(StoreKind::Certificates, &leaf.sha256)
                .await,
            Err(StoreError::NotFound { .. })
        ));
        // Re-import after delete works (no stale e-mail rows block it).
        let (c, _) = s
            .import(&[(StoreKind::Certificates, &leaf)], &[], 2)
            .await
            .expect("again");
        assert_eq!(c, vec![Outcome::Imported]);
        assert_eq!(
            s.find_by_email("d@example.com").await.expect("email").len(),
            1
        );
    }
);

both!(meta_values, |s: Store| async move {
    assert_eq!(s.meta_get("x").await.expect("get"), None);
    s.meta_set("x", "1").await.expect("set");
    s.meta_set("x", "2").await.expect("overwrite");
    assert_eq!(s.meta_get("x").await.expect("get").as_deref(), Some("2"));
});

#[tokio::test]
async fn reopening_keeps_data_and_schema() {
    let db = sqlite_db();
    let pki = TestPki::new("Reopen");
    let leaf = parse(&pki.leaf(&LeafSpec::email("r@example.com", 5)).der);
    {
        let s = Store::open(&db.url).await.expect("open");
        s.import(&[(StoreKind::Certificates, &leaf)], &[], 1)
            .await
            .expect("import");
        s.close().await;
    }
    let s = Store::open(&db.url).await.expect("reopen");
    assert_eq!(s.count(StoreKind::Certificates).await.expect("count"), 1);
}

#[tokio::test]
async fn unsupported_url_is_named() {
    let err = Store::open("mysql://x").await.expect_err("mysql");
    assert!(err.to_string().contains("mysql"), "{err}");
}

both!(
    job_leases_are_held_by_one_node_until_they_expire,
    |s: Store| async move {
        assert!(s.take_lease("crl", "a", 100, 200).await.expect("a takes"));
        assert!(!s.take_lease("crl", "b", 150, 250).await.expect("b waits"));
        assert!(s.take_lease("crl", "a", 150, 300).await.expect("a renews"));
        assert!(!s.take_lease("crl", "b", 299, 400).await.expect("still a's"));
        // a died: once its lease expires, b takes over.
        assert!(
            s.take_lease("crl", "b", 301, 400)
                .await
                .expect("b after expiry")
        );
        assert!(!s.take_lease("crl", "a", 302, 500).await.expect("a lost it"));
        // Leases are per job; a release frees only the holder's own.
        assert!(
            s.take_lease("pending", "a", 302, 500)
                .await
                .expect("other job")
        );
        s.release_lease("crl", "a").await.expect("no-op");
        assert!(!s.take_lease("crl", "a", 303, 500).await.expect("b's still"));
        s.release_lease("crl", "b").await.expect("release");
        assert!(
            s.take_lease("crl", "a", 304, 500)
                .await
                .expect("free again")
        );
    }
);

both!(crl_sources_keep_their_state, |s: Store| async move {
    // (Registration on import is tested end to end in crates/certmail/tests/crl_download.rs.)
    s.add_crl_sources(&["http://crl.example.com/a.crl"], 10)
        .await
        .expect("add");
    let due = s.due_crl_sources(10).await.expect("due");
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].url, "http://crl.example.com/a.crl");
    let rec = certmail_store::CrlFetchRecord {
        next_attempt: 1000,
        etag: Some("\"e1\"".into()),
        size: Some(42),
        ..Default::default()
    };
    s.record_crl_fetch(&due[0].url, &rec, 20)
        .await
        .expect("record");
    assert!(s.due_crl_sources(999).await.expect("due").is_empty());
    let failed = certmail_store::CrlFetchRecord {
        error: Some("HTTP 404".into()),
        next_attempt: 2000,
        ..Default::default()
    };
    s.record_crl_fetch(&due[0].url, &failed, 1000)
        .await
        .expect("record");
    let row = &s.crl_sources().await.expect("sources")[0];
    assert_eq!(row.last_error.as_deref(), Some("HTTP 404"));
    assert_eq!(
        row.last_success,
        Some(20),
        "a failure keeps the last success"
    );
    assert_eq!(row.etag.as_deref(), Some("\"e1\""), "and the validators");
    assert_eq!(row.next_attempt, 2000);
    // Known URLs are not registered twice.
    assert_eq!(
        s.add_crl_sources(&["http://crl.example.com/a.crl", "http://b/x.crl"], 30)
            .await
            .expect("add"),
        1
    );
});

both!(hold_queue_and_renewal_claims, |s: Store| async move {
    use certmail_store::NewHeld;
    let h = NewHeld {
        dedupe: "k1",
        gateway_id: "G1",
        sender: "a@example.com",
        recipient: "b@partner.example",
        reason: "no certificate",
        subject: "s",
        message: b"Subject: s\r\n\r\nbody\r\n",
        size: 20,
        now: 100,
        expires_at: 200,
    };
    let (row, new) = s.hold_put(&h).await.expect("hold");
    assert!(new);
    let (again, new) = s.hold_put(&h).await.expect("hold again");
    assert!(!new, "the same copy is held once");
    assert_eq!(again.id, row.id);
    assert_eq!(s.held_count().await.expect("count"), 1);
    let (r, msg) = s.held_get(row.id).await.expect("get").expect("there");
    assert_eq!(r.size, msg.len() as i64);
    assert_eq!(msg, b"Subject: s\r\n\r\nbody\r\n");
    assert_eq!(
        s.held(Some("partner"), 10, 0).await.expect("search").len(),
        1
    );
    assert!(
        s.held(Some("nobody"), 10, 0)
            .await
            .expect("search")
            .is_empty()
    );
    assert!(s.held_expired(199, 10).await.expect("expired").is_empty());
    assert_eq!(s.held_expired(200, 10).await.expect("expired").len(), 1);
    assert!(
        s.held_failed(row.id, "next hop down")
            .await
            .expect("failed")
    );
    assert_eq!(
        s.held_get(row.id)
            .await
            .expect("get")
            .expect("there")
            .0
            .last_error
            .as_deref(),
        Some("next hop down")
    );
    assert!(s.held_delete(row.id).await.expect("delete"));
    assert!(s.held_get(row.id).await.expect("get").is_none());

    // Renewals: claimed once; a stale claim (no successor after an hour) is taken again.
    assert!(
        s.renewal_claim("old1", "b@example.com", 1_000)
            .await
            .expect("claim")
    );
    assert!(
        !s.renewal_claim("old1", "b@example.com", 1_001)
            .await
            .expect("claim")
    );
    assert!(s.renewal_known("old1").await.expect("known"));
    assert!(
        s.renewal_claim("old1", "b@example.com", 5_000)
            .await
            .expect("stale")
    );
    s.renewal_done("old1", Some("new1"), 5_001, false, None)
        .await
        .expect("done");
    assert!(
        !s.renewal_claim("old1", "b@example.com", 99_999)
            .await
            .expect("renewed")
    );
    s.renewal_done("old1", None, 5_002, true, None)
        .await
        .expect("sent");
    let rows = s.renewals(10).await.expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].new_sha256.as_deref(), Some("new1"));
    assert_eq!(rows[0].renewed_at, Some(5_001));
    assert_eq!(rows[0].sent_at, Some(5_002));
});

both!(
    deleting_a_party_takes_its_settings_and_selections_with_it,
    |s: Store| async move {
        use certmail_store::{Party, SelectionKind};
        let pat = Party::User("pat@example.com".into());
        let kim = Party::User("kim@example.com".into());
        let dom = Party::Domain("example.com".into());
        let wild = Party::Domain("*.example.com".into());
        for p in [&pat, &kim, &dom, &wild] {
            s.ensure_party(p, 1).await.expect("party");
            s.set_setting(p, "sign", "on").await.expect("set");
            s.select(p, SelectionKind::Additional, "aa")
                .await
                .expect("select");
        }
        s.set_setting(&pat, "encrypt-mode", "force")
            .await
            .expect("set");
        s.select(&pat, SelectionKind::Encryption, "bb")
            .await
            .expect("select");
        s.select(&pat, SelectionKind::Signing, "cc")
            .await
            .expect("select");
        let before = s.generations().await.expect("generations");

        assert_eq!(s.delete_party(&pat).await.expect("delete"), Some((2, 3)));
        assert!(!s.party_exists(&pat).await.expect("exists"));
        assert!(
            s.settings_of(std::slice::from_ref(&pat))
                .await
                .expect("settings")
                .is_empty()
        );
        assert!(
            s.selections_all(std::slice::from_ref(&pat))
                .await
                .expect("selections")
                .is_empty()
        );
        assert_ne!(
            s.generations().await.expect("generations"),
            before,
            "caches see the deletion"
        );
        // Nothing of anyone else went: not another user, not the user's domain.
        for p in [&kim, &dom, &wild] {
            assert!(s.party_exists(p).await.expect("exists"), "{p:?}");
            assert_eq!(
                s.settings_of(std::slice::from_ref(p))
                    .await
                    .expect("settings")
                    .len(),
                1
            );
            assert_eq!(
                s.selections_all(std::slice::from_ref(p))
                    .await
                    .expect("sel")
                    .len(),
                1
            );
        }
        assert_eq!(
            s.parties("user", None, 10, 0).await.expect("users"),
            vec!["kim@example.com".to_owned()]
        );
        // Again: nothing there any more, nothing changed.
        let before = s.generations().await.expect("generations");
        assert_eq!(s.delete_party(&pat).await.expect("again"), None);
        assert_eq!(s.generations().await.expect("generations"), before);

        // A domain: the exact one only, its wildcard parent stays.
        assert_eq!(s.delete_party(&dom).await.expect("domain"), Some((1, 1)));
        assert!(!s.party_exists(&dom).await.expect("exists"));
        assert!(s.party_exists(&wild).await.expect("exists"));
        assert_eq!(
            s.parties("domain", None, 10, 0).await.expect("domains"),
            vec!["*.example.com".to_owned()]
        );
        // An object without settings or selections is deleted too.
        let bare = Party::User("bare@example.com".into());
        s.ensure_party(&bare, 1).await.expect("party");
        assert_eq!(s.delete_party(&bare).await.expect("bare"), Some((0, 0)));
        assert!(!s.party_exists(&bare).await.expect("exists"));
        // The global settings are not a party to delete.
        s.set_setting(&Party::Global, "sign", "on")
            .await
            .expect("set");
        assert!(matches!(
            s.delete_party(&Party::Global).await,
            Err(StoreError::Invalid(_))
        ));
        assert_eq!(
            s.settings_of(&[Party::Global]).await.expect("global").len(),
            1
        );
    }
);

/// The generations are read again after every commit, by this store or any other connection
/// (another process, the CLI, another pool), and not read again when nothing was committed.
#[tokio::test]
async fn sqlite_generations_follow_every_commit_of_any_connection() {
    let db = sqlite_db();
    let a = Store::open(&db.url).await.expect("open a");
    let b = Store::open(&db.url).await.expect("open b");
    for i in 0..200 {
        let before = a.generations().await.expect("generations");
        if i % 2 == 0 {
            b.bump_policy_generation().await.expect("bump policy");
        } else {
            b.bump_trust_generation().await.expect("bump trust");
        }
        let after = a.generations().await.expect("generations");
        assert_ne!(before, after, "change {i} by another connection not seen");
        assert_eq!(after, b.generations().await.expect("b"), "change {i}");
        // A commit that changes nothing the generations hold is still a commit.
        a.meta_set("other", &i.to_string()).await.expect("set");
        assert_eq!(a.generations().await.expect("generations"), after);
    }
    // With nothing committed, the answer is reused rather than queried again.
    let (queries, reused) = a.generations_counts();
    for _ in 0..100 {
        a.generations().await.expect("generations");
    }
    let (queries_after, reused_after) = a.generations_counts();
    assert!(queries_after - queries <= 1, "{queries} -> {queries_after}");
    assert!(reused_after - reused >= 99, "{reused} -> {reused_after}");
}
