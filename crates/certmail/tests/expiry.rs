//! `certmail expiry`: what the expiry job watches (certificates with a private key, CA
//! certificates, roots), soonest first; partners' certificates are not its business.

mod common;

use std::path::Path;

fn json(data: &Path, args: &[&str]) -> serde_json::Value {
    let out = common::certmail(data, args).output().expect("run certmail");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        common::text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

fn ok(data: &Path, args: &[&str]) -> String {
    let out = common::certmail(data, args).output().expect("run certmail");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        common::text(&out.stderr)
    );
    common::text(&out.stdout)
}

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
