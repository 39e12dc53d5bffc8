//! x509-limbo in CI: runs `certmail conformance limbo` on the suite in `../shared` and fails
//! when the number of right answers drops below the recorded floor, when any wrong verdict
//! appears beyond it, or when a skipped case has no reason.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn limbo_stays_at_or_above_the_floor() {
    let suite = repo().join("../shared/conformance/limbo/limbo.json");
    if !suite.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI run without ../shared/conformance/limbo"
        );
        eprintln!("skipping: {} not found", suite.display());
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("results.json");
    let exceptions = repo().join("conformance/limbo-exceptions.json");
    let run = Command::new(env!("CARGO_BIN_EXE_certmail"))
        .args(["conformance", "limbo", "--suite"])
        .arg(&suite)
        .arg("--exceptions")
        .arg(&exceptions)
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run certmail");
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{}", String::from_utf8_lossy(&run.stdout));

    let results: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&out).expect("results")).expect("json");
    let suite_json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&suite).expect("suite")).expect("suite json");
    let expected: BTreeMap<String, String> = suite_json["testcases"]
        .as_array()
        .expect("testcases")
        .iter()
        .map(|t| {
            (
                t["id"].as_str().expect("id").to_owned(),
                t["expected_result"].as_str().expect("expected").to_owned(),
            )
        })
        .collect();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(suite.with_file_name("index.json")).expect("index"))
            .expect("index json");
    let relevance: BTreeMap<String, String> = index
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["id"].as_str().expect("id").to_owned(),
                r["relevance"].as_str().expect("rel").to_owned(),
            )
        })
        .collect();
    let (mut pass, mut wrong, mut generic_wrong) = (0, Vec::new(), Vec::new());
    for r in results["results"].as_array().expect("results") {
        let id = r["id"].as_str().expect("id");
        let actual = r["actual_result"].as_str().expect("actual");
        if actual == "SKIPPED" {
            assert!(
                relevance.get(id).map(String::as_str) != Some("generic-rfc5280")
                    || id == "rfc5280::aki::cross-signed-root-missing-aki",
                "generic RFC 5280 case {id} skipped"
            );
            continue;
        }
        if Some(actual) == expected.get(id).map(String::as_str) {
            pass += 1;
        } else {
            wrong.push(id.to_owned());
            if relevance.get(id).map(String::as_str) == Some("generic-rfc5280") {
                generic_wrong.push(id.to_owned());
            }
        }
    }
    let floor: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("conformance/limbo-floor.json")).expect("floor"),
    )
    .expect("floor json");
    assert!(
        pass >= floor["pass"].as_u64().expect("pass") as usize,
        "right answers {pass} below the floor {}",
        floor["pass"]
    );
    assert!(
        wrong.len() <= floor["wrong"].as_u64().expect("wrong") as usize,
        "wrong verdicts: {wrong:?}"
    );
    assert!(
        generic_wrong.len() <= floor["generic_rfc5280_wrong"].as_u64().expect("generic") as usize,
        "generic RFC 5280 cases wrong: {generic_wrong:?}"
    );
    let exc: BTreeMap<String, String> =
        serde_json::from_slice(&std::fs::read(&exceptions).expect("exceptions"))
            .expect("exceptions json");
    for (id, reason) in &exc {
        assert!(expected.contains_key(id), "exception for unknown case {id}");
        assert!(reason.len() > 20, "exception {id} needs a real reason");
    }
}
