//! Settings inheritance and certificate selection through the app API, on SQLite and on
//! PostgreSQL (when CERTMAIL_TEST_DATABASE_URL is set; under CI it must be).

use certmail_app::policy::Recipient;
use certmail_app::{App, Config, ImportOptions, RootPolicy};
use certmail_pki::crl::Crl;
use certmail_pki::verify::CtlStatus;
use certmail_store::{Party, SelectionKind, Store, StoreKind};
use certmail_testkit::{CrlEntry, CrlSpec, LeafSpec, TestPki, unix_date};

struct Env {
    app: App,
    _dir: tempfile::TempDir,
    drop_db: Option<(String, String)>,
}

async fn env(pg: bool, name: &str) -> Option<Env> {
    let dir = tempfile::tempdir().expect("tempdir");
    let (database_url, drop_db) = if pg {
        let Ok(admin) = std::env::var("CERTMAIL_TEST_DATABASE_URL") else {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI run without CERTMAIL_TEST_DATABASE_URL"
            );
            eprintln!("skipping PostgreSQL: CERTMAIL_TEST_DATABASE_URL not set");
            return None;
        };
        let db = format!("certmail_sel_{name}_{}", std::process::id());
        let a = Store::open_admin(&admin).await.expect("admin");
        a.execute_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
            .await
            .expect("drop");
        a.execute_admin(&format!("CREATE DATABASE {db}"))
            .await
            .expect("create");
        a.close().await;
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        (Some(format!("{base}/{db}")), Some((admin, db)))
    } else {
        (None, None)
    };
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url,
    };
    App::init(&cfg, None).await.expect("init");
    let app = App::open(&cfg, None).await.expect("open");
    Some(Env {
        app,
        _dir: dir,
        drop_db,
    })
}

impl Env {
    async fn done(self) {
        self.app.close().await;
        if let Some((admin, db)) = self.drop_db {
            let a = Store::open_admin(&admin).await.expect("admin");
            let _ = a
                .execute_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
                .await;
            a.close().await;
        }
    }

    async fn import(&self, pem: &str, roots: bool) {
        let opts = ImportOptions {
            password: None,
            roots: if roots {
                RootPolicy::AllToRoots
            } else {
                RootPolicy::CertificateStore
            },
        };
        self.app
            .import_bytes(pem.as_bytes(), &opts)
            .await
            .expect("import");
    }

    async fn recipient(&self, email: &str) -> Recipient {
        self.app
            .recipient(email, certmail_app::now())
            .await
            .expect("recipient")
    }
}

fn used(r: &Recipient) -> Vec<String> {
    let mut v: Vec<String> = r.encryption.iter().map(|u| u.sha256.clone()).collect();
    v.sort();
    v
}

fn sha(pem: &str) -> String {
    let b = certmail_pki::pem::parse_all(pem.as_bytes()).expect("pem");
    certmail_pki::Certificate::from_der(&b[0].der, &certmail_crypto::AwsLcOps)
        .expect("cert")
        .sha256
}

macro_rules! both {
    ($name:ident, $body:ident) => {
        mod $name {
            #[tokio::test]
            async fn sqlite() {
                if let Some(e) = super::env(false, stringify!($name)).await {
                    super::$body(&e).await;
                    e.done().await;
                }
            }
            #[tokio::test]
            async fn postgres() {
                if let Some(e) = super::env(true, stringify!($name)).await {
                    super::$body(&e).await;
                    e.done().await;
                }
            }
        }
    };
}

async fn inheritance(e: &Env) {
    let app = &e.app;
    app.set_setting(&Party::Global, "sign", "on")
        .await
        .expect("global");
    app.set_setting(
        &Party::Domain("*.example.com".into()),
        "encrypt-mode",
        "force",
    )
    .await
    .expect("wildcard");
    let r = e.recipient("Ann@Sales.Example.com").await;
    let get = |r: &Recipient, k: &str| {
        let s = r.settings.iter().find(|s| s.key == k).expect("setting");
        (s.value.clone(), s.source.clone())
    };
    assert_eq!(r.email, "ann@sales.example.com");
    assert_eq!(
        get(&r, "encrypt-mode"),
        ("force".into(), "domain *.example.com".into())
    );
    assert_eq!(get(&r, "sign"), ("on".into(), "global".into()));
    assert_eq!(get(&r, "locality"), ("external".into(), "default".into()));
    // The exact domain wins over the wildcard, the user over both; unset goes back.
    app.set_setting(
        &Party::Domain("sales.example.com".into()),
        "encrypt-mode",
        "allow",
    )
    .await
    .expect("exact");
    assert_eq!(
        get(&e.recipient("ann@sales.example.com").await, "encrypt-mode"),
        ("allow".into(), "domain sales.example.com".into())
    );
    let ann = Party::User("ann@sales.example.com".into());
    app.set_setting(&ann, "encrypt-mode", "no-encryption")
        .await
        .expect("user");
    assert_eq!(
        get(&e.recipient("ann@sales.example.com").await, "encrypt-mode"),
        ("no-encryption".into(), "user".into())
    );
    assert!(
        app.unset_setting(&ann, "encrypt-mode")
            .await
            .expect("unset")
    );
    assert_eq!(
        get(&e.recipient("ann@sales.example.com").await, "encrypt-mode").1,
        "domain sales.example.com"
    );
    // Bad keys and values are refused.
    assert!(app.set_setting(&ann, "colour", "blue").await.is_err());
    assert!(app.set_setting(&ann, "sign", "maybe").await.is_err());
    // Secrets are stored sealed and shown as (set).
    app.set_setting(&ann, "pfx-password", "Tr0ub4dor")
        .await
        .expect("secret");
    assert_eq!(
        get(&e.recipient("ann@sales.example.com").await, "pfx-password").0,
        "(set)"
    );
    assert_eq!(
        app.secret_setting("ann@sales.example.com", "pfx-password")
            .await
            .expect("read")
            .as_deref()
            .map(String::as_str),
        Some("Tr0ub4dor")
    );
    // The user object was created on first use.
    assert!(app.store().party_exists(&ann).await.expect("exists"));
}
both!(settings_inherit_user_domain_wildcard_global, inheritance);

async fn auto_selection_follows_validity(e: &Env) {
    let app = &e.app;
    let pki = TestPki::new("Sel");
    let a1 = pki.leaf(&LeafSpec::email("bob@example.com", 1));
    let a2 = pki.leaf(&LeafSpec::email("bob@example.com", 2));
    let mut old = LeafSpec::email("bob@example.com", 3);
    old.not_after = unix_date(2026, 1, 1);
    let expired = pki.leaf(&old);
    e.import(&pki.root.pem, true).await;
    e.import(
        &format!(
            "{}{}{}{}",
            a1.pem, a2.pem, expired.pem, pki.intermediate.pem
        ),
        false,
    )
    .await;
    let (s1, s2, s3) = (sha(&a1.pem), sha(&a2.pem), sha(&expired.pem));
    let mut both = vec![s1.clone(), s2.clone()];
    both.sort();
    // Several valid certificates: all used; the expired one is excluded with its reason.
    let r = e.recipient("bob@example.com").await;
    assert_eq!(used(&r), both);
    let ex = r
        .encryption_excluded
        .iter()
        .find(|x| x.sha256 == s3)
        .expect("expired excluded");
    assert!(ex.reason.contains("expired"), "{}", ex.reason);
    // Revoked by a CRL: drops out at once, comes back with a newer CRL that lifts it.
    let ca = pki.intermediate_ca();
    let crl = |n: u64, serials: &[u64]| {
        Crl::from_der(
            &ca.crl(&CrlSpec {
                entries: serials
                    .iter()
                    .map(|s| CrlEntry {
                        serial: *s,
                        reason: Some(1),
                        certificate_issuer: None,
                    })
                    .collect(),
                number: n,
                delta_base: None,
                indirect: false,
                this_update: unix_date(2025, 1, 1),
                next_update: unix_date(2040, 1, 1),
            }),
        )
        .expect("crl")
    };
    app.import_crl(crl(1, &[1])).await.expect("crl 1");
    let r = e.recipient("bob@example.com").await;
    assert_eq!(used(&r), vec![s2.clone()]);
    assert!(
        r.encryption_excluded
            .iter()
            .any(|x| x.sha256 == s1 && x.reason.contains("revoked"))
    );
    app.import_crl(crl(2, &[])).await.expect("crl 2");
    assert_eq!(used(&e.recipient("bob@example.com").await), both);
    // Blacklisted: out; removed from the CTL: back.
    app.ctl_add(&s2, CtlStatus::Blacklisted)
        .await
        .expect("blacklist");
    assert_eq!(
        used(&e.recipient("bob@example.com").await),
        vec![s1.clone()]
    );
    app.ctl_remove(&s2).await.expect("unlist");
    assert_eq!(used(&e.recipient("bob@example.com").await), both);
    // Root removed: nothing is valid; root back: all back.
    let root_sha = sha(&pki.root.pem);
    app.delete(StoreKind::Roots, &root_sha)
        .await
        .expect("delete root");
    let r = e.recipient("bob@example.com").await;
    assert!(r.encryption.is_empty());
    assert!(
        r.encryption_excluded
            .iter()
            .any(|x| x.reason.contains("untrusted") || x.reason.contains("no trusted path")),
        "{:?}",
        r.encryption_excluded
    );
    e.import(&pki.root.pem, true).await;
    assert_eq!(used(&e.recipient("bob@example.com").await), both);
    // Auto-select off: manual only.
    let bob = Party::User("bob@example.com".into());
    app.set_setting(&bob, "auto-select", "off")
        .await
        .expect("auto off");
    assert!(e.recipient("bob@example.com").await.encryption.is_empty());
    app.select(&bob, SelectionKind::Encryption, &s1)
        .await
        .expect("manual");
    assert_eq!(
        used(&e.recipient("bob@example.com").await),
        vec![s1.clone()]
    );
    // A manually selected but invalid certificate is never used.
    app.select(&bob, SelectionKind::Encryption, &s3)
        .await
        .expect("manual expired");
    let r = e.recipient("bob@example.com").await;
    assert_eq!(used(&r), vec![s1.clone()]);
    assert!(r.encryption_excluded.iter().any(|x| x.sha256 == s3));
    // A selection never names a deleted certificate.
    app.delete(StoreKind::Certificates, &s1)
        .await
        .expect("delete");
    let r = e.recipient("bob@example.com").await;
    assert!(r.encryption.is_empty());
    assert!(
        app.selections(&bob, SelectionKind::Encryption)
            .await
            .expect("sel")
            .iter()
            .all(|s| *s != s1)
    );
    // Automatically selected certificates cannot be deselected.
    app.set_setting(&bob, "auto-select", "on")
        .await
        .expect("auto on");
    assert!(
        app.deselect(&bob, SelectionKind::Encryption, Some(&s2))
            .await
            .is_err()
    );
}
both!(
    automatic_selection_follows_validity,
    auto_selection_follows_validity
);

async fn signing_and_additional(e: &Env) {
    let app = &e.app;
    let pki = TestPki::new("Sign");
    let short = {
        let mut s = LeafSpec::email("carol@example.com", 10);
        s.not_after = unix_date(2031, 1, 1);
        pki.leaf(&s)
    };
    let long = pki.leaf(&LeafSpec::email("carol@example.com", 11));
    let nokey = pki.leaf(&LeafSpec::email("carol@example.com", 12));
    let escrow = pki.leaf(&LeafSpec::email("escrow@corp.example", 13));
    e.import(&pki.root.pem, true).await;
    e.import(
        &format!(
            "{}{}{}{}{}{}{}",
            short.pem,
            short.key_pem,
            long.pem,
            long.key_pem,
            nokey.pem,
            escrow.pem,
            pki.intermediate.pem
        ),
        false,
    )
    .await;
    let carol = Party::User("carol@example.com".into());
    // Automatic: the one valid longest, with a key.
    let r = e.recipient("carol@example.com").await;
    assert_eq!(
        r.signing.as_ref().map(|u| u.sha256.clone()),
        Some(sha(&long.pem))
    );
    assert!(
        r.signing_excluded
            .iter()
            .any(|x| x.sha256 == sha(&nokey.pem) && x.reason.contains("private key"))
    );
    // Manual override, refused without a key, and back to automatic.
    assert!(
        app.select(&carol, SelectionKind::Signing, &sha(&nokey.pem))
            .await
            .is_err()
    );
    app.select(&carol, SelectionKind::Signing, &sha(&short.pem))
        .await
        .expect("manual signing");
    assert_eq!(
        e.recipient("carol@example.com")
            .await
            .signing
            .map(|u| u.source),
        Some("user".into())
    );
    app.deselect(&carol, SelectionKind::Signing, None)
        .await
        .expect("auto");
    assert_eq!(
        e.recipient("carol@example.com")
            .await
            .signing
            .map(|u| u.sha256),
        Some(sha(&long.pem))
    );
    // Additional certificate from global reaches every user, also one with no certificates.
    app.select(&Party::Global, SelectionKind::Additional, &sha(&escrow.pem))
        .await
        .expect("additional");
    let r = e.recipient("dave@elsewhere.example").await;
    assert_eq!(r.encryption.len(), 1);
    assert_eq!(r.encryption[0].source, "additional (global)");
    assert!(used(&e.recipient("carol@example.com").await).contains(&sha(&escrow.pem)));
    // A domain's manual encryption certificate is inherited by its users.
    app.select(
        &Party::Domain("example.com".into()),
        SelectionKind::Encryption,
        &sha(&nokey.pem),
    )
    .await
    .expect("domain");
    let r = e.recipient("erin@example.com").await;
    assert!(
        r.encryption
            .iter()
            .any(|u| u.sha256 == sha(&nokey.pem) && u.source == "domain example.com")
    );
}
both!(signing_and_additional_certificates, signing_and_additional);
