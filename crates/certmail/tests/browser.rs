//! The web admin in a real browser: Debian's headless chromium drives `certmail serve`
//! through the first-run setup link, login, a PKCS#12 import with a wrong then the right
//! password, blacklisting a certificate, a domain setting a user inherits, an operator
//! refused the accounts page, creating a CA and issuing a certificate, the CA's
//! configuration, sending the certificate by mail (to Postfix's smtp-sink), bulk CSV
//! preview then issuance, a CRL, the hold queue, a directory, the chooser and a 404. Screenshots of each page go to
//! `target/browser-screenshots/` (look at them).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use common::cdp::{Browser, CHROMIUM};
use common::certmail;
use common::mta::{free_port, wait_port};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_administrator_works_in_the_browser() {
    if !Path::new(CHROMIUM).exists() {
        common::missing("chromium");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(certmail(&data, &["init"]).status().expect("init").success());
    let root = repo().join("samples/root.pem");
    assert!(
        certmail(&data, &["root", "import", root.to_str().expect("utf-8")])
            .status()
            .expect("root")
            .success()
    );

    // Postfix's smtp-sink is the next hop, so certificates sent from the CA page arrive.
    let sink = common::have("smtp-sink").then(|| {
        // smtp-sink runs as nobody: it must reach its directory inside ours.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        common::mta::Sink::start(dir.path())
    });
    let next_hop = sink.as_ref().map_or_else(
        || "127.0.0.1:9".to_owned(),
        |s| format!("127.0.0.1:{}", s.port),
    );
    let (smtp, http) = (free_port(), free_port());
    let mut child = certmail(
        &data,
        &[
            "serve",
            "--smtp-listen",
            &format!("127.0.0.1:{smtp}"),
            "--http-listen",
            &format!("127.0.0.1:{http}"),
            "--next-hop",
            &next_hop,
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("serve");
    let mut stdout = child.stdout.take().expect("stdout");
    let serve = Serve(child);
    wait_port(http, "the web admin");
    let first = common::first_line(&mut stdout);
    let link = first
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no setup link in {first:?}"))
        .to_owned();
    let base = format!("http://127.0.0.1:{http}");
    let shots = repo().join("target/browser-screenshots");
    let mut b = Browser::start(&shots).await;

    // A page without a session goes to the login page, which says how to get in.
    b.goto(&format!("{base}/certificates")).await;
    assert!(b.url().await.ends_with("/login"));
    assert!(b.text().await.contains("No account exists yet"));
    b.screenshot("01-login-no-account").await;

    // First run: the setup link, a password, and we are in.
    b.goto(&link).await;
    b.screenshot("02-setup").await;
    b.fill("input[name=name]", "root").await;
    b.fill("input[name=password]", "a long admin password")
        .await;
    b.fill("input[name=password2]", "a long admin password")
        .await;
    b.click("button[type=submit]").await;
    assert_eq!(b.url().await, format!("{base}/"));
    let t = b.text().await;
    assert!(
        t.contains("Dashboard") && t.contains("root (admin)") && t.contains("1\nroots"),
        "{t}"
    );
    b.screenshot("03-dashboard").await;

    // Log out, a wrong password, then the right one.
    b.click("header form button").await;
    assert!(b.url().await.ends_with("/login"));
    b.fill("input[name=name]", "root").await;
    b.fill("input[name=password]", "not the password").await;
    b.click("button[type=submit]").await;
    assert!(b.text().await.contains("Wrong account name or password"));
    b.screenshot("04-login-wrong").await;
    b.fill("input[name=name]", "root").await;
    b.fill("input[name=password]", "a long admin password")
        .await;
    b.click("button[type=submit]").await;
    assert!(b.text().await.contains("Dashboard"));

    // Import Alice's PKCS#12: wrong password first, then the right one.
    let p12 = repo().join("samples/alice.p12");
    let pw = std::fs::read_to_string(repo().join("samples/alice-password.txt")).expect("pw");
    b.goto(&format!("{base}/import")).await;
    b.set_file("input[type=file]", &p12).await;
    b.fill("input[name=password]", "wrong").await;
    b.click("form.stack button").await;
    let t = b.text().await;
    assert!(
        t.contains("failed") && t.to_lowercase().contains("password"),
        "{t}"
    );
    b.screenshot("05-import-wrong-password").await;
    b.set_file("input[type=file]", &p12).await;
    b.fill("input[name=password]", pw.trim()).await;
    b.click("form.stack button").await;
    let t = b.text().await;
    assert!(t.contains("imported"), "{t}");
    b.screenshot("06-import-done").await;

    // Alice is listed valid; her page shows the chain; blacklisting turns her invalid.
    b.goto(&format!("{base}/certificates?email=alice%40example.com"))
        .await;
    assert!(b.has("tr.st-valid").await, "{}", b.text().await);
    b.screenshot("07-certificates").await;
    b.click("tr.st-valid td a").await;
    assert!(b.text().await.contains("Chain"));
    b.screenshot("08-certificate").await;
    b.click("form[action$='/ctl'] input[value=blacklist] ~ button")
        .await;
    assert!(
        b.has(".badge.invalid").await && b.has(".icon.black").await,
        "{}",
        b.text().await
    );
    b.screenshot("09-blacklisted").await;
    b.goto(&format!("{base}/certificates?email=alice%40example.com"))
        .await;
    assert!(b.has("tr.st-invalid .icon.black").await);
    let reason = b
        .eval("document.querySelector('tr.st-invalid td').title")
        .await;
    assert!(
        reason.as_str().unwrap_or_default().contains("blacklist"),
        "{reason}"
    );
    b.screenshot("10-certificates-blacklisted").await;

    // A domain setting that a user inherits, with its source shown.
    b.goto(&format!("{base}/domains")).await;
    b.fill("main form[method=post] input[name=name]", "example.com")
        .await;
    b.click("main form[method=post] button").await;
    assert!(b.url().await.ends_with("/domains/example.com"));
    b.eval("(() => { const s = document.querySelector('select[name=value][aria-label=sign]'); s.value = 'on'; return true; })()").await;
    b.click("select[aria-label=sign] ~ button").await;
    assert!(b.text().await.contains("sign set to on."));
    b.screenshot("11-domain").await;
    b.goto(&format!("{base}/users/alice@example.com")).await;
    let row = b.eval("[...document.querySelectorAll('tr')].find(r => r.innerText.startsWith('sign')).innerText").await;
    let row = row.as_str().unwrap_or_default().to_owned();
    assert!(
        row.contains("on") && row.contains("domain example.com"),
        "{row}"
    );
    b.screenshot("12-user-inherits").await;

    // An operator, made on the accounts page, is refused that page.
    b.goto(&format!("{base}/admin")).await;
    b.fill("form.stack input[name=name]", "ops").await;
    b.eval("document.querySelector('form.stack select[name=role]').value = 'operator'")
        .await;
    b.fill("form.stack input[name=password]", "an operator password")
        .await;
    b.click("form.stack button").await;
    assert!(b.text().await.contains("added ops"));
    b.screenshot("13-accounts").await;
    b.click("header form button").await;
    b.fill("input[name=name]", "ops").await;
    b.fill("input[name=password]", "an operator password").await;
    b.click("button[type=submit]").await;
    assert!(b.text().await.contains("ops (operator)"));
    assert!(!b.has("a[href='/admin']").await);
    b.goto(&format!("{base}/admin")).await;
    let t = b.text().await;
    assert!(
        t.contains("403") && t.contains("operator role may not"),
        "{t}"
    );
    b.screenshot("14-operator-refused").await;

    // Back as the administrator: create a CA and issue a certificate.
    b.click("header form button").await;
    b.fill("input[name=name]", "root").await;
    b.fill("input[name=password]", "a long admin password")
        .await;
    b.click("button[type=submit]").await;
    b.goto(&format!("{base}/ca")).await;
    assert!(b.text().await.contains("No CA yet"));
    b.fill("#create input[name=root_cn]", "Browser Root").await;
    b.fill("#create input[name=intermediate_cn]", "Browser CA")
        .await;
    b.eval("document.querySelector('#create select[name=key]').value = 'p256'")
        .await;
    b.click("#create button").await;
    let t = b.text().await;
    assert!(t.contains("created CA Browser CA"), "{t}");
    b.screenshot("15-ca-created").await;
    b.fill("#issue input[name=email]", "dave@example.com").await;
    b.fill("#issue input[name=cn]", "Dave Example").await;
    b.eval("document.querySelector('#issue select[name=key]').value = 'p256'")
        .await;
    b.click("#issue button").await;
    assert!(b.url().await.contains("/certificates/"));
    assert!(b.has(".badge.valid").await, "{}", b.text().await);
    assert!(b.text().await.contains("dave@example.com"));
    b.screenshot("16-ca-issued").await;

    // The CA's sender address on its configuration, then the certificate goes by mail with
    // the password shown here once (and only here).
    let sha = b
        .url()
        .await
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    b.click("a[href^='/ca?send=']").await;
    assert!(
        b.eval("document.querySelector('#send-form textarea').value")
            .await
            .as_str()
            .is_some_and(|v| v == sha),
        "the send form is filled with the certificate"
    );
    b.fill("input[aria-label='ca-email']", "ca@example.com")
        .await;
    b.click("input[aria-label='ca-email'] ~ button").await;
    assert!(
        b.text().await.contains("ca-email set to ca@example.com"),
        "{}",
        b.text().await
    );
    b.eval("document.getElementById('config').scrollIntoView()")
        .await;
    b.screenshot("17-ca-config").await;
    if sink.is_some() {
        b.goto(&format!("{base}/ca?send={sha}#send")).await;
        b.fill("#send-form input[name=to]", "dave@example.com")
            .await;
        b.click("#send-form button").await;
        let t = b.text().await;
        assert!(
            t.contains("Certificates sent") && t.contains("dave@example.com"),
            "{t}"
        );
        let password = b
            .eval("document.querySelector('#password').innerText")
            .await;
        let password = password.as_str().unwrap_or_default().to_owned();
        assert!(password.len() >= 8, "{password:?}");
        b.screenshot("18-certificates-sent").await;
        let got = sink
            .as_ref()
            .map(|s| s.to("dave@example.com"))
            .unwrap_or_default();
        assert_eq!(got.len(), 1, "one mail to dave");
        assert!(
            got[0].contains("application/pkcs12") || got[0].contains(".p12"),
            "{}",
            got[0]
        );
        assert!(
            !got[0].contains(&password),
            "the password never travels with the PKCS#12"
        );
    }

    // Bulk CSV: a preview that names the bad row, then issuance with a progress page.
    let csv = dir.path().join("people.csv");
    std::fs::write(
        &csv,
        "email,cn\nerin@example.com,Erin Example\nnot-an-address,Nobody\nfrank@example.com,Frank Example\n",
    )
    .expect("csv");
    b.goto(&format!("{base}/ca/bulk")).await;
    b.set_file("#upload input[type=file]", &csv).await;
    b.eval("document.querySelector('#upload select[name=key]').value = 'p256'")
        .await;
    b.click("#upload button").await;
    let t = b.text().await;
    assert!(
        t.contains("Preview: 2 certificate(s) to issue") && t.contains("not-an-address"),
        "{t}"
    );
    b.screenshot("19-bulk-preview").await;
    b.click("#issue button").await;
    let mut t = b.text().await;
    for _ in 0..60 {
        if t.contains("finished") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let here = b.url().await;
        b.goto(&here).await;
        t = b.text().await;
    }
    assert!(t.contains("2 issued, 0 skipped, 0 failed"), "{t}");
    b.screenshot("20-bulk-done").await;

    // A CRL made on the CA page is listed on /crls.
    b.goto(&format!("{base}/ca")).await;
    b.click("form[action='/ca/crl'] button").await;
    assert!(b.text().await.contains("CRL number"), "{}", b.text().await);
    b.goto(&format!("{base}/crls")).await;
    assert!(b.text().await.contains("Browser CA"), "{}", b.text().await);
    b.screenshot("21-crls").await;
    b.goto(&format!("{base}/hold")).await;
    assert!(b.text().await.contains("Nothing is held"));
    b.screenshot("22-hold").await;

    // A directory with a bind password that is never shown again.
    b.goto(&format!("{base}/directories")).await;
    b.fill("#add input[name=name]", "corp").await;
    b.fill("#add input[name=url]", "ldap://127.0.0.1:9").await;
    b.fill("#add input[name=bind_dn]", "cn=reader,dc=example,dc=com")
        .await;
    b.fill("#add input[name=bind_password]", "bind-secret-42")
        .await;
    b.click("#add button").await;
    let html = b.eval("document.documentElement.outerHTML").await;
    let html = html.as_str().unwrap_or_default().to_owned();
    assert!(html.contains("added directory corp") && html.contains("password stored, sealed"));
    assert!(!html.contains("bind-secret-42"));
    b.screenshot("23-directories").await;

    // The chooser on a user's page: dave's own certificate by default.
    b.goto(&format!("{base}/users/dave@example.com")).await;
    b.eval("document.getElementById('chooser').scrollIntoView()")
        .await;
    assert!(
        b.has("table.chooser tr.st-valid").await,
        "{}",
        b.text().await
    );
    b.screenshot("24-chooser").await;

    // The key store: alice's, dave's and the bulk keys, each with its certificates.
    b.goto(&format!("{base}/keys")).await;
    let keys = b
        .eval("document.querySelectorAll('table.keys tbody tr').length")
        .await;
    assert!(
        keys.as_u64().unwrap_or_default() >= 4,
        "{keys} {}",
        b.text().await
    );
    assert!(!b.text().await.contains("PRIVATE KEY"));
    b.screenshot("26-keys").await;

    // An unknown page keeps the navigation.
    b.goto(&format!("{base}/no/such/page")).await;
    assert!(b.text().await.contains("404") && b.has("header.top nav").await);
    b.screenshot("25-not-found").await;

    // Every screenshot is a real picture of a page.
    for e in std::fs::read_dir(&shots).expect("shots").flatten() {
        assert!(
            std::fs::metadata(e.path()).expect("meta").len() > 5_000,
            "{} is nearly empty",
            e.path().display()
        );
    }
    drop(b);
    drop(serve);
}
