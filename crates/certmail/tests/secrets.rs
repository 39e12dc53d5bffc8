//! No secret leaves where it belongs (issue 15): private keys, PKCS#12 passwords, admin
//! passwords and directory bind passwords given to certmail never appear in what the commands
//! print (text or `--json`, success or error), nor in clear anywhere in the data directory
//! (the database, its WAL, temporary files): keys are sealed, passwords hashed or sealed.

mod common;

use std::path::Path;

use certmail_testkit::{LeafSpec, TestPki};
use common::cli;

const P12_PASSWORD: &str = "Pkcs12-Secret-7f3a9c";
const ADMIN_PASSWORD: &str = "Admin-Secret-b81d44e0";
const BIND_PASSWORD: &str = "Bind-Secret-0c5e11aa";
const PFX_SETTING: &str = "Pfx-Setting-Secret-93ab";

/// Every byte under `dir` (all files, recursively).
fn all_files(dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
    for e in std::fs::read_dir(dir).expect("read dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            all_files(&p, out);
        } else if let Ok(b) = std::fs::read(&p) {
            out.push((p.display().to_string(), b));
        }
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn keys_and_passwords_never_reach_output_or_the_disk_in_clear() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut printed = String::new();
    let mut run = |args: &[&str]| {
        let (_, out) = cli::run(&data, args);
        printed.push_str(&out);
    };
    run(&["init"]);
    let pki = TestPki::new("Secrets");
    let leaf = pki.leaf_rsa(&LeafSpec::email("sam@example.com", 3));
    let key_der = leaf.key_pkcs8.clone();
    // The key's base64 body, as a PEM file would carry it (a line of it is enough to tell).
    let key_b64_line: String = leaf
        .key_pem
        .lines()
        .nth(2)
        .expect("a base64 line of the key")
        .to_owned();
    let f = |name: &str, data: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, data).expect("write");
        p.display().to_string()
    };
    let cert = f("sam.pem", leaf.pem.as_bytes());
    let key = f("sam.key", leaf.key_pem.as_bytes());
    let pw = f("p12.txt", P12_PASSWORD.as_bytes());
    let admin_pw = f("admin.txt", ADMIN_PASSWORD.as_bytes());
    let bind_pw = f("bind.txt", BIND_PASSWORD.as_bytes());
    let root = f("root.pem", pki.root.pem.as_bytes());
    run(&["root", "import", &root]);
    run(&["cert", "import", &cert]);
    run(&["key", "import", &key, "--json"]);
    run(&["key", "list", "--json"]);
    run(&["cert", "list", "--json"]);
    // A PKCS#12 written with a password, then read back with a wrong one and the right one.
    let sha = cli::json_ok(
        &data,
        &["cert", "list", "--json", "--email", "sam@example.com"],
    )[0]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    let p12 = dir.path().join("sam.p12").display().to_string();
    run(&[
        "cert",
        "export",
        &sha,
        "--format",
        "p12",
        "--password-file",
        &pw,
        "-o",
        &p12,
    ]);
    let wrong = f("wrong.txt", b"not the password");
    let tiny = f("tiny.txt", b"tiny");
    run(&["key", "import", &p12, "--password-file", &wrong]);
    run(&["key", "import", &p12, "--password-file", &pw, "--json"]);
    // Accounts, tokens, directories, secret settings.
    run(&[
        "admin",
        "add",
        "boss",
        "--role",
        "admin",
        "--password-file",
        &admin_pw,
    ]);
    run(&[
        "admin",
        "add",
        "short",
        "--role",
        "admin",
        "--password-file",
        &tiny,
    ]);
    run(&["admin", "list", "--json"]);
    run(&[
        "directory",
        "add",
        "corp",
        "--url",
        "ldap://127.0.0.1:9",
        "--bind-dn",
        "cn=reader",
        "--bind-password-file",
        &bind_pw,
    ]);
    run(&["directory", "list", "--json"]);
    run(&["directory", "test", "corp"]);
    run(&[
        "user",
        "set",
        "sam@example.com",
        "pfx-password",
        PFX_SETTING,
    ]);
    run(&["user", "show", "sam@example.com"]);
    run(&["recipients", "sam@example.com", "--json"]);
    run(&["audit", "--json"]);

    for (what, secret) in [
        ("the PKCS#12 password", P12_PASSWORD),
        ("the admin password", ADMIN_PASSWORD),
        ("the bind password", BIND_PASSWORD),
        ("the pfx-password setting", PFX_SETTING),
        ("the private key", key_b64_line.as_str()),
    ] {
        assert!(!printed.contains(secret), "{what} was printed: {printed}");
    }
    // The commands did run (so the test can fail): the key, the account, the directory.
    assert!(
        printed.contains("(password set)") || printed.contains("password"),
        "{printed}"
    );
    let accounts = cli::json_ok(&data, &["admin", "list", "--json"]).to_string();
    assert!(
        accounts.contains("boss") && !accounts.contains("short"),
        "{accounts}"
    );

    // Nothing in clear on disk: no password, no key (DER or its PEM base64), in any file of
    // the data directory (database, WAL, shared memory, temporary files).
    let mut files = Vec::new();
    all_files(&data, &mut files);
    assert!(files.iter().any(|(p, _)| p.ends_with("certmail.db")));
    for (path, bytes) in &files {
        for secret in [
            P12_PASSWORD.as_bytes(),
            ADMIN_PASSWORD.as_bytes(),
            BIND_PASSWORD.as_bytes(),
            PFX_SETTING.as_bytes(),
            key_b64_line.as_bytes(),
            &key_der[key_der.len() - 64..],
        ] {
            assert!(
                !contains(bytes, secret),
                "{path} holds a secret in clear ({})",
                String::from_utf8_lossy(&secret[..secret.len().min(20)])
            );
        }
    }
}
