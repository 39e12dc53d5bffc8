//! `kill -9` at random moments of the commands that write a lot (issue 15): a bulk issuance,
//! the import of a large bundle, a CRL import and a key import, 48 times in turn on one
//! SQLite database. After every kill the database opens and passes SQLite's integrity check,
//! and holds no half-written object: no issued record without its certificate, no
//! certificate of the CA without its key, no e-mail row without its certificate. Running each
//! command again then completes the work, without duplicates.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use certmail_testkit::{LeafSpec, TestPki, unix_date};
use common::cli;

/// Counts that must all be zero in a database with nothing half-written.
const CHECKS: &str = r#"
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
q = lambda s: db.execute(s).fetchone()[0]
print("integrity", q("PRAGMA integrity_check"))
print("issued_without_certificate", q("SELECT COUNT(*) FROM issued i WHERE i.sha256 <> '' AND NOT EXISTS (SELECT 1 FROM certificates c WHERE c.sha256 = i.sha256)"))
print("ca_certificate_without_key", q("SELECT COUNT(*) FROM certificates c JOIN issued i ON i.sha256 = c.sha256 WHERE NOT EXISTS (SELECT 1 FROM private_keys k WHERE k.key_id = c.key_id)"))
print("email_without_certificate", q("SELECT COUNT(*) FROM certificate_emails e WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.id = e.certificate_id)"))
print("bulk_addresses_twice", q("SELECT COUNT(*) FROM (SELECT email FROM issued WHERE email LIKE 'bulk%' GROUP BY email HAVING COUNT(*) > 1)"))
print("bulk_issued", q("SELECT COUNT(*) FROM issued WHERE email LIKE 'bulk%'"))
print("partners", q("SELECT COUNT(DISTINCT certificate_id) FROM certificate_emails WHERE email LIKE '%@partner.example'"))
print("current_crls", q("SELECT COUNT(*) FROM crls WHERE current = 1"))
print("keys", q("SELECT COUNT(*) FROM private_keys"))
"#;

fn checks(data: &Path) -> std::collections::HashMap<String, String> {
    let out = Command::new("python3")
        .args(["-c", CHECKS])
        .arg(data.join("certmail.db"))
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn assert_whole(data: &Path, when: &str) -> std::collections::HashMap<String, String> {
    let c = checks(data);
    assert_eq!(c["integrity"], "ok", "{when}: {c:?}");
    for k in [
        "issued_without_certificate",
        "ca_certificate_without_key",
        "email_without_certificate",
        "bulk_addresses_twice",
    ] {
        assert_eq!(c[k], "0", "{when}: {k}: {c:?}");
    }
    // The database opens for the next command.
    cli::ok(data, &["cert", "list", "--limit", "1"]);
    c
}

#[test]
fn kill_9_at_random_moments_leaves_nothing_half_written() {
    if !common::have("python3") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    cli::ok(&data, &["init"]);
    cli::ok(
        &data,
        &[
            "ca",
            "create",
            "--root-cn",
            "Crash Root",
            "--intermediate-cn",
            "Crash CA",
            "--key",
            "p256",
        ],
    );
    let mut csv = String::from("EMAIL,COMMONNAME\n");
    for i in 0..400 {
        csv.push_str(&format!("bulk{i}@example.com,Bulk {i}\n"));
    }
    let csv_file = dir.path().join("bulk.csv");
    std::fs::write(&csv_file, csv).expect("csv");
    let pki = TestPki::new("Crash partner");
    let root = dir.path().join("root.pem");
    std::fs::write(&root, &pki.root.pem).expect("root");
    cli::ok(&data, &["root", "import", root.to_str().expect("utf-8")]);
    let mut bundle = pki.intermediate.pem.clone();
    for i in 0..600u64 {
        bundle.push_str(
            &pki.leaf(&LeafSpec::email(&format!("p{i}@partner.example"), 5000 + i))
                .pem,
        );
    }
    let bundle_file = dir.path().join("bundle.pem");
    std::fs::write(&bundle_file, bundle).expect("bundle");
    let crl_file = dir.path().join("big.crl");
    std::fs::write(
        &crl_file,
        pki.crl(1..=20_000, 1, unix_date(2026, 1, 1), unix_date(2036, 1, 1)),
    )
    .expect("crl");
    let mut keys = String::new();
    for i in 0..40u64 {
        keys.push_str(
            &pki.leaf(&LeafSpec::email(&format!("k{i}@example.com"), 9000 + i))
                .key_pem,
        );
    }
    let keys_file = dir.path().join("keys.pem");
    std::fs::write(&keys_file, keys).expect("keys");

    let path = |p: &Path| p.to_str().expect("utf-8").to_owned();
    let ops: [Vec<String>; 4] = [
        vec![
            "ca".into(),
            "bulk".into(),
            path(&csv_file),
            "--key".into(),
            "p256".into(),
        ],
        vec!["cert".into(), "import".into(), path(&bundle_file)],
        vec!["crl".into(), "import".into(), path(&crl_file)],
        vec!["key".into(), "import".into(), path(&keys_file)],
    ];
    // A fixed pseudo-random sequence of delays (the test is repeatable), 5 to 300 ms.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut killed = 0;
    for round in 0..48 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let delay = 5 + x % 300;
        let op = &ops[round % ops.len()];
        let mut child = common::certmail(&data, &op.iter().map(String::as_str).collect::<Vec<_>>())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn");
        std::thread::sleep(Duration::from_millis(delay));
        if child.try_wait().expect("wait").is_none() {
            killed += 1;
        }
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
        assert_whole(
            &data,
            &format!("after round {round} ({} killed at {delay} ms)", op[0]),
        );
    }
    assert!(
        killed >= 20,
        "the kills must land mid-command: only {killed} did"
    );

    // Each command once more, to the end: everything there, once.
    for op in &ops {
        cli::ok(&data, &op.iter().map(String::as_str).collect::<Vec<_>>());
    }
    let c = assert_whole(&data, "after the reruns");
    assert_eq!(c["bulk_issued"], "400", "{c:?}");
    assert_eq!(c["current_crls"], "1", "{c:?}");
    assert_eq!(c["partners"], "600", "{c:?}");
    // CA keys (root, intermediate), 400 bulk keys, 40 imported keys.
    assert_eq!(c["keys"], "442", "{c:?}");
    let again = cli::json_ok(&data, &["ca", "bulk", &path(&csv_file), "--json"]);
    assert_eq!(again["issued"].as_array().map(Vec::len), Some(0));
}
