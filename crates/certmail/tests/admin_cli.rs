//! `certmail admin` and `certmail audit`, and the web admin's way in through `certmail serve`:
//! no default account, a one-time setup link, secrets printed once and stored only hashed,
//! and no admin page on a non-loopback address without TLS unless asked for.

mod common;

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};

use common::certmail;
use common::mta::{free_port, wait_port};

fn run(data: &std::path::Path, args: &[&str]) -> Output {
    certmail(data, args).output().expect("run certmail")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn last_line(o: &Output) -> String {
    text(&o.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .to_owned()
}

/// Every file under `dir`, concatenated (the database with its WAL).
fn all_bytes(dir: &std::path::Path) -> Vec<u8> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("dir").flatten() {
        if e.path().is_file() {
            out.extend(std::fs::read(e.path()).expect("read"));
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

fn http_get(port: u16, path: &str, auth: Option<&str>) -> (u16, String) {
    common::http(port, "GET", path, auth, None)
}

#[test]
fn accounts_tokens_and_audit_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let out = run(&data, &["admin", "list"]);
    assert!(
        text(&out.stdout).contains("no accounts"),
        "{}",
        text(&out.stdout)
    );

    // A generated password, printed once on the last line.
    let out = run(&data, &["admin", "add", "boss", "--role", "admin"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let generated = last_line(&out);
    assert_eq!(generated.len(), 20, "{}", text(&out.stdout));

    // A password from a file; too short or duplicate names are refused with the reason.
    let pw = dir.path().join("pw");
    std::fs::write(&pw, "short\n").expect("write");
    let out = run(
        &data,
        &[
            "admin",
            "add",
            "ops",
            "--role",
            "operator",
            "--password-file",
            pw.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("at least 12 characters"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(&pw, "operator password 1\n").expect("write");
    let out = run(
        &data,
        &[
            "admin",
            "add",
            "ops",
            "--role",
            "operator",
            "--password-file",
            pw.to_str().expect("utf-8"),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains("operator password 1"));
    let out = run(&data, &["admin", "add", "ops", "--role", "auditor"]);
    assert!(
        text(&out.stderr).contains("exists already"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&data, &["admin", "add", "bad name", "--role", "auditor"]);
    assert!(
        text(&out.stderr).contains("not acceptable"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&data, &["admin", "token", "ops", "--expires-days", "30"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let token = last_line(&out);
    assert!(token.starts_with("cmt_") && token.len() == 47, "{token}");

    let out = run(&data, &["admin", "list", "--json"]);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list.as_array().expect("array").len(), 2);
    assert_eq!(list[1]["name"], "ops");
    assert_eq!(list[1]["role"], "operator");
    assert_eq!(list[1]["tokens"], 1);
    assert!(list[0].get("password_hash").is_none());

    // The last admin stays while others exist.
    let out = run(&data, &["admin", "delete", "boss"]);
    assert!(
        text(&out.stderr).contains("last admin"),
        "{}",
        text(&out.stderr)
    );
    let out = run(&data, &["admin", "passwd", "ops"]);
    assert!(out.status.success());
    let new_pw = last_line(&out);

    // Nothing secret in the database files: no password, no token.
    let db = all_bytes(&data);
    for secret in [
        generated.as_str(),
        "operator password 1",
        token.as_str(),
        new_pw.as_str(),
    ] {
        assert!(!contains(&db, secret), "{secret:?} stored in the clear");
    }

    let out = run(&data, &["audit", "--json"]);
    let log: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .expect("array")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for want in [
        ("account.add", "ok"),
        ("account.add", "failed"),
        ("account.token", "ok"),
        ("account.delete", "failed"),
        ("account.passwd", "ok"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    assert!(log[0]["account"] == "cli" && log[0]["address"] == "local");
    let out = run(&data, &["audit", "--since", "yesterday"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--since"),
        "{}",
        text(&out.stderr)
    );
    let out = run(
        &data,
        &["audit", "--since", "1d", "--action", "account.token"],
    );
    assert_eq!(
        text(&out.stdout).lines().count(),
        1,
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn serve_prints_a_one_time_setup_link_and_guards_the_admin_address() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(run(&data, &["init"]).status.success());

    // Not on a public address without TLS unless asked for.
    let out = run(
        &data,
        &[
            "serve",
            "--http-listen",
            "0.0.0.0:0",
            "--smtp-listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--insecure-http"),
        "{}",
        text(&out.stderr)
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
    wait_port(http, "admin");
    let mut stdout = child.stdout.take().expect("stdout");
    let first = common::first_line(&mut stdout);
    let path = first
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("http://127.0.0.1:{http}")))
        .unwrap_or_else(|| panic!("no setup link in {first:?}"))
        .to_owned();
    assert!(path.starts_with("/setup/") && path.len() > 40, "{path}");
    let (code, page) = http_get(http, &path, None);
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("Create the first administrator"));
    assert!(
        page.contains("content-security-policy: default-src 'none'"),
        "{page}"
    );
    assert_eq!(http_get(http, "/setup/guessed", None).0, 404);
    assert_eq!(http_get(http, "/", None).0, 303);
    assert_eq!(http_get(http, "/api/v1/me", None).0, 401);
    assert_eq!(
        http_get(http, "/healthz", None).0,
        503,
        "next hop 127.0.0.1:9 is down"
    );

    // A token made while serve runs works at once (no restart), and the API answers.
    let out = run(&data, &["admin", "add", "ops", "--role", "operator"]);
    assert!(out.status.success());
    let token = last_line(&run(&data, &["admin", "token", "ops"]));
    let (code, me) = http_get(http, "/api/v1/me", Some(&token));
    assert_eq!(code, 200, "{me}");
    assert!(me.contains("\"role\":\"operator\""), "{me}");
    // An account exists now: the setup link is dead.
    assert_eq!(http_get(http, &path, None).0, 404);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn the_admin_over_tls_with_secure_cookies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(run(&data, &["init"]).status.success());
    let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=localhost",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    // Only one of the pair: refused before anything listens.
    let out = run(
        &data,
        &["serve", "--http-tls-cert", cert.to_str().expect("utf-8")],
    );
    assert_eq!(out.status.code(), Some(2));

    let (smtp, http) = (free_port(), free_port());
    // With TLS a non-loopback address is allowed (no --insecure-http).
    let mut child = certmail(
        &data,
        &[
            "serve",
            "--smtp-listen",
            &format!("127.0.0.1:{smtp}"),
            "--http-listen",
            &format!("0.0.0.0:{http}"),
            "--next-hop",
            "127.0.0.1:9",
            "--http-tls-cert",
            cert.to_str().expect("utf-8"),
            "--http-tls-key",
            key.to_str().expect("utf-8"),
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .expect("serve");
    wait_port(http, "admin over TLS");
    let mut stdout = child.stdout.take().expect("stdout");
    let first = common::first_line(&mut stdout);
    assert!(
        first.contains(&format!("https://0.0.0.0:{http}/setup/")),
        "{first}"
    );
    let curl = Command::new("curl")
        .args([
            "-sk",
            "-D",
            "-",
            "-o",
            "/dev/null",
            &format!("https://127.0.0.1:{http}/login"),
        ])
        .output()
        .expect("curl");
    let head = text(&curl.stdout);
    assert!(
        head.starts_with("HTTP/1.1 200"),
        "{head} {}",
        text(&curl.stderr)
    );
    let cookie = head
        .lines()
        .find(|l| l.to_lowercase().starts_with("set-cookie:"))
        .unwrap_or_default()
        .to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    // The certificate is the one given.
    let s_client = Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &format!("127.0.0.1:{http}"),
            "-servername",
            "localhost",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("s_client");
    assert!(
        text(&s_client.stdout).contains("subject=CN = localhost"),
        "{}",
        text(&s_client.stdout)
    );
    // Plain HTTP on the TLS port gets no page (the server may close before the request is
    // even written: errors are fine, a 200 is not).
    let mut plain = std::net::TcpStream::connect(("127.0.0.1", http)).expect("connect");
    let _ = plain.write_all(b"GET /login HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer);
    assert!(!answer.starts_with(b"HTTP/1.1 200"), "{}", text(&answer));
    let _ = child.kill();
    let _ = child.wait();
}
