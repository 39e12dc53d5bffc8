//! `certmail expiry`: what the expiry job watches (certificates with a private key, CA
//! certificates, roots), soonest first; partners' certificates are not its business.

mod common;

use common::cli::{json_ok as json, ok};

use std::path::Path;

#[test]
fn expiry_lists_internal_certificates_cas_and_roots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    ok(
        &data,
        &[
            "ca",
            "create",
            "--root-cn",
            "Exp Root",
            "--intermediate-cn",
            "Exp CA",
            "--days",
            "20",
        ],
    );
    ok(
        &data,
        &[
            "ca",
            "issue",
            "--email",
            "soon@example.com",
            "--cn",
            "Soon",
            "--days",
            "10",
        ],
    );
    ok(
        &data,
        &[
            "ca",
            "issue",
            "--email",
            "later@example.com",
            "--cn",
            "Later",
            "--days",
            "90",
        ],
    );
    // A partner's certificate (no key) expiring soon is not listed.
    let pki = certmail_testkit::TestPki::new("Partner");
    let mut spec = certmail_testkit::LeafSpec::email("partner@example.org", 3);
    spec.not_after = certmail_app::now() + 5 * 86_400;
    let partner = dir.path().join("partner.der");
    std::fs::write(&partner, pki.leaf(&spec).der).expect("write");
    ok(&data, &["cert", "import", partner.to_str().expect("utf-8")]);

    let rows = json(&data, &["expiry", "--days", "30", "--json"]);
    let rows = rows.as_array().expect("rows");
    let kinds: Vec<(&str, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["kind"].as_str().unwrap_or_default(),
                r["days_left"].as_i64().unwrap_or(-1),
            )
        })
        .collect();
    // The user certificate (10 days) first, then the CA and root (20 days).
    assert_eq!(kinds.len(), 3, "{rows:?}");
    assert_eq!(kinds[0].0, "user");
    assert!((9..=10).contains(&kinds[0].1), "{kinds:?}");
    assert_eq!(rows[0]["emails"][0], "soon@example.com");
    let mut rest: Vec<&str> = kinds[1..].iter().map(|k| k.0).collect();
    rest.sort_unstable();
    assert_eq!(rest, ["ca", "root"]);
    assert!(
        rows.iter().all(|r| r["emails"][0] != "partner@example.org"),
        "a partner's certificate is not watched"
    );
    assert_eq!(
        json(&data, &["expiry", "--days", "5", "--json"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
}

/// Messages a sink accepted: (recipients, message).
type Received = std::sync::Arc<std::sync::Mutex<Vec<(Vec<String>, String)>>>;

/// A minimal SMTP server (this test's next hop) keeping every message it accepts; it
/// refuses everything while `refuse` is set.
fn smtp_sink(refuse: std::sync::Arc<std::sync::atomic::AtomicBool>) -> (u16, Received) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let kept = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let (got, refuse) = (kept.clone(), refuse.clone());
            std::thread::spawn(move || {
                let mut w = stream.try_clone().expect("clone");
                let mut r = BufReader::new(stream);
                let _ = w.write_all(b"220 sink ESMTP\r\n");
                let (mut rcpts, mut line) = (Vec::new(), String::new());
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let cmd = line.to_ascii_uppercase();
                    let reply: &[u8] = if cmd.starts_with("EHLO") {
                        b"250-sink\r\n250 8BITMIME\r\n"
                    } else if cmd.starts_with("MAIL") {
                        rcpts.clear();
                        b"250 ok\r\n"
                    } else if cmd.starts_with("RCPT") {
                        if refuse.load(std::sync::atomic::Ordering::SeqCst) {
                            b"451 4.3.0 try later\r\n"
                        } else {
                            rcpts.push(line.trim()[8..].trim_matches(['<', '>']).to_owned());
                            b"250 ok\r\n"
                        }
                    } else if cmd.starts_with("DATA") {
                        let _ = w.write_all(b"354 go\r\n");
                        let mut body = String::new();
                        loop {
                            let mut l = String::new();
                            if r.read_line(&mut l).unwrap_or(0) == 0 || l == ".\r\n" {
                                break;
                            }
                            body.push_str(&l);
                        }
                        got.lock().expect("got").push((rcpts.clone(), body));
                        b"250 queued\r\n"
                    } else if cmd.starts_with("QUIT") {
                        let _ = w.write_all(b"221 bye\r\n");
                        return;
                    } else {
                        b"250 ok\r\n"
                    };
                    let _ = w.write_all(reply);
                }
            });
        }
    });
    (port, got)
}

#[test]
fn expiry_warnings_go_out_once_per_threshold_and_wait_for_the_next_hop() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    ok(&data, &["init"]);
    ok(
        &data,
        &[
            "ca",
            "create",
            "--root-cn",
            "Warn Root",
            "--intermediate-cn",
            "Warn CA",
        ],
    );
    ok(
        &data,
        &[
            "ca",
            "issue",
            "--email",
            "eve@example.com",
            "--cn",
            "Eve",
            "--days",
            "10",
        ],
    );
    let refuse = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (port, got) = smtp_sink(refuse.clone());
    let hop = format!("127.0.0.1:{port}");
    let notify = |data: &Path| {
        common::certmail(
            data,
            &[
                "expiry",
                "--notify",
                "admin@example.com",
                "--next-hop",
                &hop,
                "--json",
            ],
        )
        .output()
        .expect("run certmail")
    };
    // The next hop refuses: nothing is recorded, the command says so.
    let out = notify(&data);
    assert_eq!(out.status.code(), Some(1), "{}", common::text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["status"], "failed", "{rows}");
    assert!(got.lock().expect("got").is_empty());
    // It takes mail: one warning, to the administrator and the user, at the 14-day mark.
    refuse.store(false, std::sync::atomic::Ordering::SeqCst);
    let out = notify(&data);
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["threshold"], 14);
    let mails = got.lock().expect("got").clone();
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].0, ["admin@example.com", "eve@example.com"]);
    assert!(
        mails[0]
            .1
            .contains("Subject: S/MIME certificate expires in"),
        "{}",
        mails[0].1
    );
    assert!(mails[0].1.contains("eve@example.com"));
    // Never twice.
    let out = notify(&data);
    assert!(out.status.success());
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows.as_array().map(Vec::len), Some(0), "{rows}");
    assert_eq!(got.lock().expect("got").len(), 1);
}
