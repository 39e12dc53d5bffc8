//! The web admin in a real browser: Debian's headless chromium drives `certmail serve`
//! through the first-run setup link, login, a PKCS#12 import with a wrong then the right
//! password, blacklisting a certificate, a domain setting a user inherits, and an operator
//! refused the accounts page. Screenshots of each page go to
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
            "127.0.0.1:9",
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
