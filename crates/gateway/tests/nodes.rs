//! Two gateway nodes on one PostgreSQL database behave as one gateway: certificates
//! imported through one are used by the other, and a setting or trust change made on one
//! node is applied by the other on its next message. Needs `CERTMAIL_TEST_DATABASE_URL`
//! (`.ci/run` starts a server; under CI=true the test must not be skipped).

mod common;

use std::sync::Arc;

use certmail_store::{Party, Store};
use common::{Harness, Pki, load_pki, message, open_app};

async fn database() -> Option<String> {
    let Ok(admin) = std::env::var("CERTMAIL_TEST_DATABASE_URL") else {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "CI run without CERTMAIL_TEST_DATABASE_URL: the two-node test cannot run"
        );
        eprintln!("skipping: CERTMAIL_TEST_DATABASE_URL not set");
        return None;
    };
    let db = format!("certmail_nodes_{}", std::process::id());
    let a = Store::open_admin(&admin).await.expect("admin");
    a.execute_admin(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"))
        .await
        .expect("drop");
    a.execute_admin(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create");
    a.close().await;
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    Some(format!("{base}/{db}"))
}

#[tokio::test]
async fn two_nodes_on_one_database_act_as_one_gateway() {
    let Some(url) = database().await else { return };
    let dir_a = tempfile::tempdir().expect("dir");
    let dir_b = tempfile::tempdir().expect("dir");
    let app_a = Arc::new(open_app(&dir_a.path().join("data"), Some(url.clone())).await);
    // The second node shares the key-encryption key (as a deployment copies master.key).
    std::fs::create_dir_all(dir_b.path().join("data")).expect("mkdir");
    std::fs::copy(
        dir_a.path().join("data/master.key"),
        dir_b.path().join("data/master.key"),
    )
    .expect("copy key");
    let app_b = Arc::new(open_app(&dir_b.path().join("data"), Some(url)).await);
    let p = Pki::new();
    load_pki(&app_a, &p).await;
    app_a
        .set_setting(&Party::Global, "sign", "on")
        .await
        .expect("sign on");
    let a = Harness::with_app(dir_a, app_a.clone(), |_| {}).await;
    let b = Harness::with_app(dir_b, app_b.clone(), |_| {}).await;

    // Certificates and keys imported through node A sign and encrypt on node B.
    let msg = message(
        "alice@example.com",
        "bob@partner.example",
        "n1",
        "via node b",
    );
    let mut cb = b.client().await;
    cb.cmd("EHLO x", "250").await;
    cb.mail("alice@example.com", &["bob@partner.example"], &msg, "250")
        .await;
    let got = b.sink.messages();
    assert_eq!(got.len(), 1);
    assert!(got[0].text().contains("application/pkcs7-mime"));
    assert!(!got[0].text().contains("via node b"));

    // A setting changed on node A applies on node B's next transaction.
    let mut ca = a.client().await;
    ca.cmd("EHLO x", "250").await;
    ca.mail(
        "alice@example.com",
        &["nocert@partner.example"],
        &msg,
        "250",
    )
    .await;
    app_a
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    cb.cmd("MAIL FROM:<alice@example.com>", "250").await;
    cb.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1")
        .await;
    cb.cmd("RCPT TO:<bob@partner.example>", "250").await;
    cb.cmd("RSET", "250").await;

    // A trust change (bob's certificate blacklisted) on node A: node B no longer
    // encrypts to it, and with force refuses bob.
    let bob =
        certmail_pki::Certificate::from_der(&p.bob.der, &certmail_crypto::AwsLcOps).expect("cert");
    app_a
        .ctl_add(&bob.sha512, certmail_pki::verify::CtlStatus::Blacklisted)
        .await
        .expect("blacklist");
    cb.cmd("MAIL FROM:<alice@example.com>", "250").await;
    let r = cb.cmd("RCPT TO:<bob@partner.example>", "550 5.7.1").await;
    assert!(r.contains("blacklisted"), "{r}");
    cb.cmd("RSET", "250").await;

    // Both nodes carry mail at once, with distinct message ids.
    let mut tasks = Vec::new();
    for (i, h) in [&a, &b, &a, &b].into_iter().enumerate() {
        let mut c = h.client().await;
        tasks.push(tokio::spawn(async move {
            c.cmd("EHLO x", "250").await;
            let m = message(
                "alice@example.com",
                "carol@example.com",
                &format!("p{i}"),
                "internal",
            );
            c.mail("alice@example.com", &["carol@example.com"], &m, "250")
                .await
        }));
    }
    let mut ids = std::collections::HashSet::new();
    for t in tasks {
        let r = t.await.expect("task");
        ids.insert(r.split_whitespace().last().unwrap_or_default().to_owned());
    }
    assert_eq!(ids.len(), 4, "every message has its own id: {ids:?}");
}
