//! Several certmail processes writing one SQLite database at once (issue 15): a bulk
//! issuance, imports of many certificates, CRL imports and settings changes run side by side;
//! each must finish without "database is locked" reaching the user, and what they wrote is
//! all there, once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use certmail_testkit::{LeafSpec, TestPki, unix_date};
use common::cli;

fn spawn(data: &Path, args: &[String]) -> Child {
    common::certmail(data, &args.iter().map(String::as_str).collect::<Vec<_>>())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn certmail")
}

fn finish(name: &str, c: Child) -> String {
    let out = c.wait_with_output().expect("wait");
    let text = common::text(&out.stdout) + &common::text(&out.stderr);
    assert!(out.status.success(), "{name} failed: {text}");
    let lower = text.to_lowercase();
    assert!(
        !lower.contains("database is locked")
            && !lower.contains("database is busy")
            && !lower.contains("sqlite_busy"),
        "{name}: the lock reached the user: {text}"
    );
    text
}

#[test]
fn three_writers_on_one_sqlite_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    cli::ok(&data, &["init"]);
    cli::ok(
        &data,
        &[
            "ca",
            "create",
            "--root-cn",
            "Busy Root",
            "--intermediate-cn",
            "Busy CA",
            "--key",
            "p256",
        ],
    );
    // 1. A bulk issuance of 300 P-256 certificates.
    let mut csv = String::from("EMAIL,COMMONNAME\n");
    for i in 0..300 {
        csv.push_str(&format!("bulk{i}@example.com,Bulk {i}\n"));
    }
    let csv_file = dir.path().join("bulk.csv");
    std::fs::write(&csv_file, csv).expect("csv");
    // 2. 150 partner certificates, imported one file per command in a loop (many short
    // write transactions), and 3. CRLs of a partner PKI, 4. settings changes.
    let pki = TestPki::new("Busy Partners");
    let root = dir.path().join("proot.pem");
    std::fs::write(&root, &pki.root.pem).expect("root");
    cli::ok(&data, &["root", "import", root.to_str().expect("utf-8")]);
    let mut files: Vec<PathBuf> = Vec::new();
    for i in 0..150u64 {
        let leaf = pki.leaf(&LeafSpec::email(&format!("p{i}@partner.example"), 1000 + i));
        let f = dir.path().join(format!("p{i}.pem"));
        std::fs::write(&f, &leaf.pem).expect("leaf");
        files.push(f);
    }
    let inter = dir.path().join("pinter.pem");
    std::fs::write(&inter, &pki.intermediate.pem).expect("inter");
    cli::ok(&data, &["cert", "import", inter.to_str().expect("utf-8")]);
    let mut crls = Vec::new();
    for n in 1..=10u64 {
        let der = pki.crl(
            [1000 + n],
            n,
            unix_date(2026, 1, 1) + n as i64,
            unix_date(2036, 1, 1),
        );
        let f = dir.path().join(format!("c{n}.crl"));
        std::fs::write(&f, der).expect("crl");
        crls.push(f);
    }

    let bulk = spawn(
        &data,
        &[
            "ca".into(),
            "bulk".into(),
            csv_file.display().to_string(),
            "--key".into(),
            "p256".into(),
            "--json".into(),
        ],
    );
    let data2 = data.clone();
    let importer = std::thread::spawn(move || {
        for f in &files {
            let args = vec!["cert".into(), "import".into(), f.display().to_string()];
            finish("cert import", spawn(&data2, &args));
        }
    });
    let data3 = data.clone();
    let other = std::thread::spawn(move || {
        for (i, f) in crls.iter().enumerate() {
            let args = vec!["crl".into(), "import".into(), f.display().to_string()];
            finish("crl import", spawn(&data3, &args));
            for j in 0..5 {
                let args = vec![
                    "user".into(),
                    "set".into(),
                    format!("u{i}x{j}@example.com"),
                    "encrypt-mode".into(),
                    "force".into(),
                ];
                finish("user set", spawn(&data3, &args));
            }
        }
    });
    let bulk_out = finish("ca bulk", bulk);
    importer.join().expect("importer");
    other.join().expect("settings and CRLs");

    let report: serde_json::Value =
        serde_json::from_str(&bulk_out[bulk_out.find('{').expect("bulk JSON")..])
            .unwrap_or_else(|e| panic!("bulk JSON: {e}: {bulk_out}"));
    assert_eq!(
        report["issued"].as_array().map(Vec::len),
        Some(300),
        "{}",
        report["failed"]
    );
    assert_eq!(
        report["failed"].as_array().map(Vec::len),
        Some(0),
        "{}",
        report["failed"]
    );

    // Everything is there, once.
    let list = cli::json_ok(&data, &["cert", "list", "--json", "--limit", "1000"]);
    let rows = list.as_array().expect("list");
    let mut shas: Vec<&str> = rows
        .iter()
        .map(|r| r["sha256"].as_str().expect("sha"))
        .collect();
    let n = shas.len();
    shas.sort_unstable();
    shas.dedup();
    assert_eq!(shas.len(), n, "no duplicates");
    let partners = rows
        .iter()
        .filter(|r| {
            r["emails"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.ends_with("@partner.example")))
            })
        })
        .count();
    assert_eq!(partners, 150);
    let bulk_certs = rows
        .iter()
        .filter(|r| {
            r["emails"].as_array().is_some_and(|e| {
                e.iter()
                    .any(|x| x.as_str().is_some_and(|s| s.starts_with("bulk")))
            })
        })
        .count();
    assert_eq!(bulk_certs, 300);
    let crl_list = cli::json_ok(&data, &["crl", "list", "--json"]);
    let crl_text = crl_list.to_string();
    assert!(crl_text.contains("\"number\""), "{crl_text}");
    let settings = cli::ok(&data, &["user", "show", "u9x4@example.com"]);
    assert!(settings.contains("force"), "{settings}");
    // A second bulk run skips every address that has a valid certificate: no duplicates.
    let again = cli::json_ok(
        &data,
        &["ca", "bulk", csv_file.to_str().expect("utf-8"), "--json"],
    );
    assert_eq!(
        again["issued"].as_array().map(Vec::len),
        Some(0),
        "{}",
        again["failed"]
    );
    assert_eq!(
        again["skipped"].as_array().map(Vec::len),
        Some(300),
        "{}",
        again["failed"]
    );
}
