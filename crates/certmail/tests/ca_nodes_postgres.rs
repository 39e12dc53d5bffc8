//! Two `certmail serve` nodes on one PostgreSQL database issue from the same built-in CA at
//! the same time, revoke, and create CRLs, all through the API (issue 15): serial numbers
//! and CRL numbers never collide, nothing is lost, and the last CRL lists every revocation
//! made on either node. Needs `CERTMAIL_TEST_DATABASE_URL` (CI starts the server).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use common::mta::{free_port, wait_port};
use common::pg::PgDb;

fn cli(url: &str, data: &Path, args: &[&str]) -> String {
    let mut all = vec!["--database-url", url];
    all.extend_from_slice(args);
    let out = common::certmail(data, &all).output().expect("certmail");
    assert!(
        out.status.success(),
        "certmail {args:?}: {}",
        common::text(&out.stderr)
    );
    common::text(&out.stdout)
}

fn serve(url: &str, data: &Path, http: u16) -> Child {
    let smtp = free_port();
    let child = common::certmail(
        data,
        &[
            "--database-url",
            url,
            "serve",
            "--smtp-listen",
            &format!("127.0.0.1:{smtp}"),
            "--next-hop",
            "127.0.0.1:9",
            "--http-listen",
            &format!("127.0.0.1:{http}"),
            "--no-jobs",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .expect("serve");
    wait_port(http, "certmail serve");
    child
}

/// `POST path` with a JSON body: (status, body).
fn post(port: u16, path: &str, token: &str, body: &serde_json::Value) -> (u16, serde_json::Value) {
    let (code, resp) = common::http(port, "POST", path, Some(token), Some(&body.to_string()));
    let json = resp
        .split_once("\r\n\r\n")
        .and_then(|(_, b)| serde_json::from_str(b).ok())
        .unwrap_or(serde_json::Value::Null);
    (code, json)
}

fn psql(url: &str, q: &str) -> String {
    let out = Command::new("psql")
        .args(["-X", "-q", "-t", "-A", url, "-c", q])
        .output()
        .expect("psql");
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    common::text(&out.stdout).trim().to_owned()
}

const THREADS_PER_NODE: usize = 2;
const ISSUES_PER_THREAD: usize = 25;
const CRLS_PER_NODE: usize = 10;

#[test]
fn two_serve_nodes_issue_revoke_and_publish_from_one_ca_without_collisions() {
    let Some(pg) = PgDb::create("canodes") else {
        return;
    };
    assert!(
        common::have("psql"),
        "psql is needed to look into the database"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (data_a, data_b) = (dir.path().join("a"), dir.path().join("b"));
    let url = pg.url.as_str();
    cli(url, &data_a, &["init"]);
    cli(
        url,
        &data_a,
        &[
            "ca",
            "create",
            "--root-cn",
            "Nodes Root",
            "--intermediate-cn",
            "Nodes CA",
            "--key",
            "p256",
        ],
    );
    cli(url, &data_a, &["admin", "add", "ops", "--role", "operator"]);
    let token = cli(url, &data_a, &["admin", "token", "ops"])
        .lines()
        .last()
        .expect("token")
        .trim()
        .to_owned();
    // The second node shares the key-encryption key, as a deployment copies master.key.
    std::fs::create_dir_all(&data_b).expect("mkdir");
    std::fs::copy(data_a.join("master.key"), data_b.join("master.key")).expect("copy key");
    let (http_a, http_b) = (free_port(), free_port());
    let mut nodes = [serve(url, &data_a, http_a), serve(url, &data_b, http_b)];

    // Issuers on both nodes (each revokes every fifth certificate it issued), and CRLs
    // created on both nodes at the same time.
    let mut workers = Vec::new();
    for (n, port) in [http_a, http_b].into_iter().enumerate() {
        for t in 0..THREADS_PER_NODE {
            let token = token.clone();
            workers.push(std::thread::spawn(move || {
                let mut serials = Vec::new();
                let mut revoked = Vec::new();
                for i in 0..ISSUES_PER_THREAD {
                    let email = format!("n{n}t{t}i{i}@example.com");
                    let (code, cert) = post(
                        port,
                        "/api/v1/ca/issue",
                        &token,
                        &serde_json::json!({ "email": email, "cn": email, "key": "p256" }),
                    );
                    assert_eq!(code, 201, "issue {email}: {cert}");
                    let serial = cert["serial"].as_str().expect("serial").to_owned();
                    if i % 5 == 0 {
                        let sha = cert["sha256"].as_str().expect("sha256");
                        let (code, r) = post(
                            port,
                            "/api/v1/ca/revoke",
                            &token,
                            &serde_json::json!({ "certificate": sha, "reason": "superseded" }),
                        );
                        assert_eq!(code, 200, "revoke: {r}");
                        assert_eq!(
                            r["serial"].as_str().map(str::to_ascii_lowercase),
                            Some(serial.to_ascii_lowercase().replace(':', "")),
                            "{r} {cert}"
                        );
                        revoked.push(serial.clone());
                    }
                    serials.push(serial);
                }
                (serials, revoked, Vec::new())
            }));
        }
        let token = token.clone();
        workers.push(std::thread::spawn(move || {
            let mut numbers = Vec::new();
            for _ in 0..CRLS_PER_NODE {
                let (code, r) = post(port, "/api/v1/ca/crl", &token, &serde_json::json!({}));
                assert_eq!(code, 201, "crl: {r}");
                numbers.push(r["number"].as_str().expect("number").to_owned());
            }
            (Vec::new(), Vec::new(), numbers)
        }));
    }
    let (mut serials, mut revoked, mut numbers) = (Vec::new(), 0, Vec::new());
    for w in workers {
        let (s, r, n) = w.join().expect("worker");
        serials.extend(s);
        revoked += r.len();
        numbers.extend(n);
    }
    let issued = 2 * THREADS_PER_NODE * ISSUES_PER_THREAD;
    let distinct: BTreeSet<&String> = serials.iter().collect();
    assert_eq!(serials.len(), issued);
    assert_eq!(distinct.len(), issued, "serial numbers collided");
    let distinct: BTreeSet<u64> = numbers
        .iter()
        .map(|n| u64::from_str_radix(n, 16).expect("hex CRL number"))
        .collect();
    assert_eq!(
        distinct.len(),
        2 * CRLS_PER_NODE,
        "CRL numbers collided: {numbers:?}"
    );

    // The database agrees: every end-user certificate once, every revocation kept.
    let rows = psql(
        url,
        "SELECT COUNT(*), COUNT(DISTINCT serial) FROM issued WHERE email LIKE 'n%t%i%@example.com'",
    );
    assert_eq!(rows, format!("{issued}|{issued}"));
    let rows = psql(
        url,
        "SELECT COUNT(*) FROM issued WHERE revoked_at IS NOT NULL",
    );
    assert_eq!(rows, revoked.to_string());

    // One more CRL, after everything: its number is above all others, and it lists every
    // revocation from both nodes (read back by openssl from the CRL store).
    let (code, last) = post(http_b, "/api/v1/ca/crl", &token, &serde_json::json!({}));
    assert_eq!(code, 201, "{last}");
    let n = u64::from_str_radix(last["number"].as_str().expect("number"), 16).expect("hex");
    assert!(distinct.iter().all(|d| *d < n), "{n} after {distinct:?}");
    let sha = last["sha256"].as_str().expect("sha256");
    let der = psql(
        url,
        &format!("SELECT encode(der, 'hex') FROM crls WHERE sha256 = '{sha}'"),
    );
    let der = hex::decode(der.trim()).expect("CRL bytes");
    let file = dir.path().join("last.crl");
    std::fs::write(&file, der).expect("write");
    let text = Command::new("openssl")
        .args(["crl", "-inform", "DER", "-noout", "-text", "-in"])
        .arg(&file)
        .output()
        .expect("openssl");
    let listed = common::text(&text.stdout).matches("Serial Number:").count();
    assert_eq!(listed, revoked, "{}", common::text(&text.stdout));
    for node in &mut nodes {
        let _ = node.kill();
        let _ = node.wait();
    }
}
