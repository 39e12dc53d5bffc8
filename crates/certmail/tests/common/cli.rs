//! One-line certmail invocations for the job tests (CRL download, LDAP, expiry).

use std::path::Path;

use super::{certmail, text};

/// (succeeded, stdout + stderr).
pub fn run(data: &Path, args: &[&str]) -> (bool, String) {
    let out = certmail(data, args).output().expect("run certmail");
    (out.status.success(), text(&out.stdout) + &text(&out.stderr))
}

/// Stdout and stderr of a command that must succeed.
pub fn ok(data: &Path, args: &[&str]) -> String {
    let (success, output) = run(data, args);
    assert!(success, "certmail {args:?} failed: {output}");
    output
}

/// (succeeded, the JSON it printed); panics when it printed no JSON.
pub fn json(data: &Path, args: &[&str]) -> (bool, serde_json::Value) {
    let out = certmail(data, args).output().expect("run certmail");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "certmail {args:?}: not JSON ({e}): {}{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    (out.status.success(), v)
}

/// The JSON of a command that must succeed.
pub fn json_ok(data: &Path, args: &[&str]) -> serde_json::Value {
    let (success, v) = json(data, args);
    assert!(success, "certmail {args:?} failed: {v}");
    v
}

/// The one outcome of `crl update --url URL --json EXTRA...` (and whether it succeeded).
pub fn crl_update(data: &Path, url: &str, extra: &[&str]) -> (bool, serde_json::Value) {
    let mut args = vec!["crl", "update", "--url", url, "--json"];
    args.extend(extra);
    let (success, v) = json(data, &args);
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    (success, v[0].clone())
}

/// The status `cert verify --json` gives a stored certificate.
pub fn verdict(data: &Path, sha: &str) -> String {
    let (_, v) = json(data, &["cert", "verify", sha, "--json"]);
    v["status"].as_str().unwrap_or_default().to_owned()
}
