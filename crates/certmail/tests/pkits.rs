//! NIST PKITS (2011, sections 4.1-4.16) in CI: every row of `conformance/pkits.json` (each
//! policy sub-case with its initial policy set and flags) through the stateless
//! `certmail verify --revocation require`, and every row with a signed message through
//! `certmail smime verify` with the same inputs. Fails when a wrong answer appears that
//! `conformance/pkits-exceptions.json` does not list with a reason, or when the right
//! answers drop below `conformance/pkits-floor.json`.
//!
//! The data (`conformance/pkits/{certs,crls,smime}`) is NIST's public PKITS set as the
//! `cryptography-vectors` package ships it; `scripts/fetch-pkits.sh` fetches it again.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[derive(Deserialize)]
struct Suite {
    at: String,
    tests: Vec<Row>,
}

#[derive(Deserialize, Clone)]
struct Row {
    id: String,
    name: String,
    ee: String,
    path: Vec<String>,
    extra_certs: Vec<String>,
    crls: Vec<String>,
    policy: Vec<String>,
    explicit_policy: bool,
    inhibit_mapping: bool,
    inhibit_any: bool,
    expect: String,
    smime: Option<String>,
}

#[derive(Deserialize)]
struct Floor {
    verify_right: usize,
    smime_right: usize,
}

/// The trust options of a row, as `verify` and `smime verify` both take them.
fn trust_args(row: &Row, data: &Path, at: &str) -> Vec<String> {
    let certs = data.join("certs");
    let file = |dir: &str, name: &str| data.join(dir).join(name).display().to_string();
    let mut a = vec![
        "--root".to_owned(),
        certs
            .join("TrustAnchorRootCertificate.crt")
            .display()
            .to_string(),
        "--at".to_owned(),
        at.to_owned(),
        "--revocation".to_owned(),
        "require".to_owned(),
        // PKITS's DSA certificates (4.1.4-4.1.6) are signed with dsa-with-sha1, which
        // certmail refuses unless asked; no other PKITS signature uses SHA-1.
        "--allow-sha1".to_owned(),
    ];
    for c in row.path.iter().chain(&row.extra_certs) {
        a.extend(["--intermediate".to_owned(), file("certs", c)]);
    }
    for c in &row.crls {
        a.extend(["--crl".to_owned(), file("crls", c)]);
    }
    for p in &row.policy {
        a.extend(["--policy".to_owned(), p.clone()]);
    }
    for (on, flag) in [
        (row.explicit_policy, "--require-explicit-policy"),
        (row.inhibit_mapping, "--inhibit-policy-mapping"),
        (row.inhibit_any, "--inhibit-any-policy"),
    ] {
        if on {
            a.push(flag.to_owned());
        }
    }
    a
}

/// (valid?, last line of output) for one command.
fn run(scratch: &Path, args: &[String]) -> (bool, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::certmail(scratch, &refs)
        .output()
        .expect("run certmail");
    let text = common::text(&out.stderr) + &common::text(&out.stdout);
    let last = text
        .lines()
        .rev()
        .find(|l| l.contains("error") || l.contains("invalid") || l.contains(':'))
        .unwrap_or_default()
        .to_owned();
    (out.status.success(), last)
}

/// For `smime verify --json`: (every signature verified and its signer trusted, why not).
/// The PKITS certificates carry no e-mail address, so the From match (part of the exit
/// code) is not what is tested here.
fn signer_trusted(scratch: &Path, args: &[String]) -> (bool, String) {
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = common::certmail(scratch, &refs)
        .output()
        .expect("run certmail");
    let Ok(report) = serde_json::from_slice::<serde_json::Value>(&out.stdout) else {
        return (false, common::text(&out.stderr));
    };
    let signers: Vec<&serde_json::Value> = report["layers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|l| l["signers"].as_array().into_iter().flatten())
        .collect();
    let ok = !signers.is_empty()
        && signers
            .iter()
            .all(|s| s["verified"] == true && s["trust"]["trusted"] == true);
    let why = signers
        .iter()
        .map(|s| format!("{} {}", s["trust"]["status"], s["trust"]["reason"]))
        .collect::<Vec<_>>()
        .join("; ");
    (ok, why)
}

#[test]
fn pkits_stays_at_or_above_the_floor() {
    let data = repo().join("conformance/pkits");
    let suite: Suite = serde_json::from_slice(
        &std::fs::read(repo().join("conformance/pkits.json")).expect("pkits.json"),
    )
    .expect("pkits.json parses");
    let exceptions: BTreeMap<String, String> = serde_json::from_slice(
        &std::fs::read(repo().join("conformance/pkits-exceptions.json"))
            .expect("pkits-exceptions.json"),
    )
    .expect("exceptions parse");
    for (id, why) in &exceptions {
        assert!(!why.trim().is_empty(), "exception {id} has no reason");
        assert!(
            suite
                .tests
                .iter()
                .any(|t| t.id == *id || format!("smime:{}", t.id) == *id),
            "exception {id} names no row"
        );
    }
    let floor: Floor = serde_json::from_slice(
        &std::fs::read(repo().join("conformance/pkits-floor.json")).expect("pkits-floor.json"),
    )
    .expect("floor parses");
    assert!(suite.tests.len() >= 247, "PKITS table is incomplete");

    // Two workers: each row is two short processes.
    let scratch = tempfile::tempdir().expect("tempdir");
    let rows = suite.tests.clone();
    let results: Vec<(String, String, bool, String)> = std::thread::scope(|s| {
        let chunks: Vec<&[Row]> = rows.chunks(rows.len().div_ceil(2)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let (data, at, scratch) = (&data, &suite.at, scratch.path());
                s.spawn(move || {
                    let mut out = Vec::new();
                    for row in chunk {
                        let expect_valid = row.expect == "valid";
                        let trust = trust_args(row, data, at);
                        let mut args = vec![
                            "verify".to_owned(),
                            data.join("certs").join(&row.ee).display().to_string(),
                        ];
                        args.extend(trust.iter().cloned());
                        let (valid, why) = run(scratch, &args);
                        out.push((row.id.clone(), row.name.clone(), valid == expect_valid, why));
                        if let Some(msg) = &row.smime {
                            let mut args = vec![
                                "smime".to_owned(),
                                "verify".to_owned(),
                                data.join("smime").join(msg).display().to_string(),
                                "--json".to_owned(),
                            ];
                            args.extend(trust);
                            let (valid, why) = signer_trusted(scratch, &args);
                            out.push((
                                format!("smime:{}", row.id),
                                row.name.clone(),
                                valid == expect_valid,
                                why,
                            ));
                        }
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("worker"))
            .collect()
    });

    let (mut verify_right, mut smime_right) = (0, 0);
    let mut wrong: Vec<String> = Vec::new();
    for (id, name, right, why) in &results {
        let smime = id.starts_with("smime:");
        if *right {
            if smime {
                smime_right += 1;
            } else {
                verify_right += 1;
            }
        } else if !exceptions.contains_key(id) {
            wrong.push(format!("{id} {name}: {why}"));
        }
    }
    let verify_total = results
        .iter()
        .filter(|r| !r.0.starts_with("smime:"))
        .count();
    let smime_total = results.len() - verify_total;
    println!(
        "PKITS: verify {verify_right} of {verify_total} right, smime verify {smime_right} of \
         {smime_total} right, {} excepted",
        exceptions.len()
    );
    assert!(
        wrong.is_empty(),
        "{} wrong PKITS answers:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
    assert!(
        verify_right >= floor.verify_right && smime_right >= floor.smime_right,
        "below the floor: verify {verify_right} (floor {}), smime {smime_right} (floor {})",
        floor.verify_right,
        floor.smime_right
    );
}

/// `--profile strict` refuses what the relying-party default accepts (PKITS 4.6.4: an
/// intermediate whose basicConstraints is not critical), through `verify`.
#[test]
fn strict_profile_adds_the_issuer_duties() {
    let data = repo().join("conformance/pkits");
    let scratch = tempfile::tempdir().expect("tempdir");
    let f = |dir: &str, name: &str| data.join(dir).join(name).display().to_string();
    let mut args: Vec<String> = vec![
        "verify".into(),
        f("certs", "ValidbasicConstraintsNotCriticalTest4EE.crt"),
        "--root".into(),
        f("certs", "TrustAnchorRootCertificate.crt"),
        "--intermediate".into(),
        f("certs", "basicConstraintsNotCriticalCACert.crt"),
        "--crl".into(),
        f("crls", "TrustAnchorRootCRL.crl"),
        "--crl".into(),
        f("crls", "basicConstraintsNotCriticalCACRL.crl"),
        "--at".into(),
        "2011-04-15T12:00:00Z".into(),
        "--revocation".into(),
        "require".into(),
    ];
    let (valid, why) = run(scratch.path(), &args);
    assert!(valid, "default profile: {why}");
    args.extend(["--profile".into(), "strict".into()]);
    let (valid, why) = run(scratch.path(), &args);
    assert!(!valid, "strict profile accepted it");
    assert!(why.contains("basicConstraints must be critical"), "{why}");
}

/// With the stores (no `--root`), `smime verify` applies the policy options too: the signer
/// of PKITS 4.8.1's message is trusted for {NIST-test-policy-1} and not, with explicit
/// policy required, for {NIST-test-policy-2}.
#[test]
fn smime_verify_with_the_stores_takes_the_policy_options() {
    let data = repo().join("conformance/pkits");
    let dir = tempfile::tempdir().expect("tempdir");
    let ta = data.join("certs/TrustAnchorRootCertificate.crt");
    let init = common::certmail(dir.path(), &["init"])
        .output()
        .expect("init");
    assert!(init.status.success(), "{}", common::text(&init.stderr));
    let out = common::certmail(dir.path(), &["root", "import", &ta.display().to_string()])
        .output()
        .expect("root import");
    assert!(out.status.success(), "{}", common::text(&out.stderr));
    let msg = data
        .join("smime/SignedAllCertificatesSamePolicyTest1.eml")
        .display()
        .to_string();
    let base = |policy: &str| -> Vec<String> {
        [
            "smime",
            "verify",
            &msg,
            "--json",
            "--at",
            "2011-04-15T12:00:00Z",
            "--require-explicit-policy",
            "--policy",
            policy,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    };
    let (trusted, why) = signer_trusted(dir.path(), &base("2.16.840.1.101.3.2.1.48.1"));
    assert!(trusted, "policy 1: {why}");
    let (trusted, why) = signer_trusted(dir.path(), &base("2.16.840.1.101.3.2.1.48.2"));
    assert!(!trusted, "policy 2 was accepted");
    assert!(why.contains("policy"), "{why}");
}
