//! The crate graph is the one ARCHITECTURE.md draws: each crate depends (outside its tests)
//! only on the workspace crates listed for it here, read from `cargo metadata`. A new edge
//! (say `jobs` on `gateway` again) fails this test until the drawing and this list agree.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Allowed workspace dependencies (normal and build, not dev) per crate.
const ALLOWED: &[(&str, &[&str])] = &[
    ("certmail-pki", &[]),
    ("certmail-testkit", &[]),
    ("certmail-crypto", &["certmail-pki"]),
    ("certmail-store", &["certmail-pki"]),
    ("certmail-smime", &["certmail-pki", "certmail-crypto"]),
    ("certmail-ca", &["certmail-pki", "certmail-crypto"]),
    (
        "certmail-app",
        &[
            "certmail-pki",
            "certmail-crypto",
            "certmail-store",
            "certmail-smime",
            "certmail-ca",
        ],
    ),
    (
        "certmail-jobs",
        &[
            "certmail-app",
            "certmail-pki",
            "certmail-crypto",
            "certmail-store",
        ],
    ),
    (
        "certmail-gateway",
        &[
            "certmail-app",
            "certmail-store",
            "certmail-pki",
            "certmail-smime",
        ],
    ),
    (
        "certmail-server",
        &[
            "certmail-app",
            "certmail-gateway",
            "certmail-jobs",
            "certmail-pki",
            "certmail-smime",
            "certmail-store",
            "certmail-ca",
            "certmail-crypto",
        ],
    ),
];

#[test]
fn crate_edges_are_the_drawn_ones() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let m: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for p in m["packages"].as_array().expect("packages") {
        let name = p["name"].as_str().unwrap_or_default().to_owned();
        let deps = p["dependencies"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| d["name"].as_str())
            .filter(|n| n.starts_with("certmail"))
            .map(str::to_owned)
            .collect();
        edges.insert(name, deps);
    }
    let mut wrong = Vec::new();
    for (krate, allowed) in ALLOWED {
        let have = edges
            .get(*krate)
            .unwrap_or_else(|| panic!("{krate} is not in the workspace"));
        for d in have {
            if !allowed.contains(&d.as_str()) {
                wrong.push(format!("{krate} -> {d}"));
            }
        }
    }
    // Every library crate is listed (the binaries, certmail and certmail-bench, may use all).
    for name in edges.keys() {
        if !ALLOWED.iter().any(|(k, _)| k == name) {
            assert!(
                name == "certmail" || name == "certmail-bench",
                "{name} is missing from ALLOWED (and from ARCHITECTURE.md's drawing)"
            );
        }
    }
    assert!(
        wrong.is_empty(),
        "edges ARCHITECTURE.md does not draw: {wrong:?}"
    );
}
