//! `cert import` / `key import` of PKCS#12 and PKCS#7 files written by the real tools: OpenSSL 3,
//! Java `keytool`, NSS (`pk12util`, `cmsutil`), GnuTLS `certtool` and Python `cryptography`.
//! The files are committed in `tests/data/formats/`, made by `scripts/make-format-samples.sh`
//! (which says which tool and options made each one), so no tool is needed here.
//!
//! Their test PKI: "Formats Test Root" (self-signed), alice (EC, key + certificate), bob (RSA,
//! key + certificate), carol (a key without certificate), dave (a certificate without key,
//! revoked in `root.crl`). The password is `format-pw` unless the file has none.

mod common;

use std::path::PathBuf;
use std::process::Output;

use common::{certmail, text};
use serde_json::Value;

const PASSWORD: &str = "format-pw";

fn sample(name: &str) -> String {
    let p: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "data", "formats", name]
        .iter()
        .collect();
    p.to_str().expect("utf-8 path").to_owned()
}

/// A fresh, initialised data directory with a password file and an empty one.
struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let env = Env {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        std::fs::write(env.path("pw.txt"), format!("{PASSWORD}\n")).expect("pw");
        std::fs::write(env.path("wrong.txt"), "not-the-password\n").expect("pw");
        std::fs::write(env.path("empty.txt"), "").expect("pw");
        env.ok(&["init"]);
        env
    }

    fn path(&self, name: &str) -> String {
        self.dir
            .path()
            .join(name)
            .to_str()
            .expect("utf-8")
            .to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        certmail(&self.dir.path().join("data"), args)
            .output()
            .expect("run certmail")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "certmail {args:?} failed: {}\n{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn json(&self, args: &[&str]) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.ok(args)).expect("json output");
        v.as_array().expect("array").clone()
    }

    /// `cert import FILE --json` with the password file `pw` (none when `None`): the rows.
    fn import(&self, file: &str, pw: Option<&str>) -> Vec<Value> {
        let mut args = vec!["cert", "import", file, "--json"];
        let pw_path;
        if let Some(p) = pw {
            pw_path = self.path(p);
            args.extend(["--password-file", &pw_path]);
        }
        self.json(&args)
    }

    /// What the stores hold: certificate rows, root rows, keys, CRLs.
    fn state(&self) -> State {
        State {
            certs: self.json(&["cert", "list", "--json"]),
            roots: self.json(&["root", "list", "--json"]),
            keys: self.json(&["key", "list", "--json"]),
            crls: self.json(&["crl", "list", "--json"]),
        }
    }
}

#[derive(Debug, PartialEq)]
struct State {
    certs: Vec<Value>,
    roots: Vec<Value>,
    keys: Vec<Value>,
    crls: Vec<Value>,
}

impl State {
    /// The certificate row whose subject contains `cn` (`CN=alice`).
    fn cert(&self, cn: &str) -> &Value {
        let want = format!("CN={cn}");
        self.certs
            .iter()
            .find(|c| c["subject"].as_str().is_some_and(|s| s.contains(&want)))
            .unwrap_or_else(|| panic!("no certificate {want} in {:#?}", self.certs))
    }

    /// Subjects' CNs of the certificate store, sorted.
    fn cert_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .certs
            .iter()
            .map(|c| {
                let s = c["subject"].as_str().expect("subject");
                let cn = s.split("CN=").nth(1).expect("CN");
                cn.split([',', '/', '+']).next().expect("cn").to_owned()
            })
            .collect();
        names.sort();
        names
    }

    /// Asserts that each named certificate has its key, each key is linked to exactly the
    /// certificate of that name, and no other key is stored.
    fn keys_match(&self, with_key: &[&str]) {
        assert_eq!(self.keys.len(), with_key.len(), "keys: {:#?}", self.keys);
        for name in with_key {
            let c = self.cert(name);
            assert_eq!(c["has_key"], true, "{name} should have its key: {c:#}");
            let sha = c["sha256"].as_str().expect("sha256");
            let linked = self
                .keys
                .iter()
                .filter(|k| k["certificates"] == serde_json::json!([sha]))
                .count();
            assert_eq!(linked, 1, "one key linked to {name} only: {:#?}", self.keys);
        }
    }
}

fn count(rows: &[Value], kind: &str) -> usize {
    rows.iter().filter(|r| r["kind"] == kind).count()
}

/// Imports a file holding alice's key, her certificate and the root, and checks all three.
fn alice_with_key(file: &str, pw: Option<&str>) {
    let env = Env::new();
    let rows = env.import(&sample(file), pw);
    assert_eq!(count(&rows, "certificate"), 2, "{file}: {rows:#?}");
    assert_eq!(count(&rows, "key"), 1, "{file}: {rows:#?}");
    let s = env.state();
    assert_eq!(s.cert_names(), ["Formats Test Root", "alice"], "{file}");
    s.keys_match(&["alice"]);
    assert_eq!(s.cert("Formats Test Root")["has_key"], false);
}

/// A wrong password fails the file with a readable reason and stores nothing.
fn wrong_password_refused(file: &str) {
    let env = Env::new();
    let before = env.state();
    let out = env.run(&[
        "cert",
        "import",
        &sample(file),
        "--password-file",
        &env.path("wrong.txt"),
    ]);
    assert_eq!(out.status.code(), Some(1), "{file}");
    let msg = text(&out.stdout);
    assert!(msg.contains("wrong password"), "{file}: {msg}");
    assert_eq!(env.state(), before, "{file}: nothing may be stored");
}

#[test]
fn pkcs12_openssl_pbes2_every_aes_size_and_mac_digest() {
    // OpenSSL 3: -keypbe/-certpbe aes-{128,192,256}-cbc, -macalg sha1/sha256/sha384/sha512.
    for f in [
        "openssl-aes128-sha1.p12",
        "openssl-aes192-sha256.p12",
        "openssl-aes256-sha384.p12",
        "openssl-aes256-sha512.p12",
    ] {
        alice_with_key(f, Some("pw.txt"));
    }
    wrong_password_refused("openssl-aes256-sha512.p12");
}

#[test]
fn pkcs12_java_keytool_every_pbkdf2_prf() {
    // keytool: PBEWithHmacSHA{1,224,256,384,512}AndAES_{128,256}, MAC HmacPBESHA{1,...,512}.
    for f in [
        "java-prf-sha1.p12",
        "java-prf-sha224.p12",
        "java-prf-sha256.p12",
        "java-prf-sha384.p12",
        "java-prf-sha512.p12",
    ] {
        alice_with_key(f, Some("pw.txt"));
    }
    wrong_password_refused("java-prf-sha1.p12");
}

#[test]
fn pkcs12_nss_ber_python_legacy_and_no_mac() {
    // NSS pk12util writes BER (indefinite lengths), 600,000 PBKDF2 iterations.
    alice_with_key("nss-default.p12", Some("pw.txt"));
    alice_with_key("nss-aes192-sha384.p12", Some("pw.txt"));
    wrong_password_refused("nss-default.p12");
    // OpenSSL -legacy (RC2-40 certificates, 3DES key, SHA-1 MAC) and -nomac.
    alice_with_key("openssl-legacy.p12", Some("pw.txt"));
    alice_with_key("openssl-nomac.p12", Some("pw.txt"));
    // Python cryptography: PBES2 AES-256, HMAC-SHA384 MAC; bob's RSA key.
    let env = Env::new();
    let rows = env.import(&sample("python-aes256-sha384.p12"), Some("pw.txt"));
    assert_eq!((count(&rows, "certificate"), count(&rows, "key")), (2, 1));
    let s = env.state();
    assert_eq!(s.cert_names(), ["Formats Test Root", "bob"]);
    s.keys_match(&["bob"]);
}

#[test]
fn pkcs12_without_password_both_conventions() {
    // OpenSSL and NSS write the empty password as the BMPString terminator (two zero bytes),
    // GnuTLS `--null-password` as no bytes at all: with PBES2 bags and with PBES1 (3DES) bags.
    for f in [
        "openssl-nopass.p12",
        "nss-nopass.p12",
        "gnutls-null-password.p12",
        "gnutls-null-password-3des.p12",
        // RC2-40 and two-key 3DES bags (scripts/make-legacy-p12.py), in both conventions.
        "legacy-rc2-40-empty-password.p12",
        "legacy-rc2-40-absent-password.p12",
        "legacy-2des-empty-password.p12",
        "legacy-2des-absent-password.p12",
    ] {
        alice_with_key(f, None);
        alice_with_key(f, Some("empty.txt"));
    }
    // A file that has a password still says so when none is given.
    let env = Env::new();
    let out = env.run(&["cert", "import", &sample("openssl-aes128-sha1.p12")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("password"),
        "{}",
        text(&out.stdout)
    );
    assert!(env.state().certs.is_empty());
}

#[test]
fn pkcs12_several_keys_friendly_names_and_java_trusted_certificate_bags() {
    // keytool: key entries "alice" and "bob" (each with the root in its chain) and the
    // trusted-certificate entries "formats root" and "dave" (attribute 2.16.840.1.113894.746875.1.1).
    let env = Env::new();
    let rows = env.import(&sample("java-multi.p12"), Some("pw.txt"));
    assert_eq!(count(&rows, "certificate"), 4, "{rows:#?}");
    assert_eq!(count(&rows, "key"), 2, "{rows:#?}");
    let s = env.state();
    assert_eq!(
        s.cert_names(),
        ["Formats Test Root", "alice", "bob", "dave"]
    );
    s.keys_match(&["alice", "bob"]);
    assert_eq!(s.cert("dave")["has_key"], false);
    assert!(s.roots.is_empty(), "trusted bags are not trusted by import");
    // With --trust-roots the self-signed root goes to the root store.
    let env = Env::new();
    env.ok(&[
        "cert",
        "import",
        &sample("java-multi.p12"),
        "--trust-roots",
        "--password-file",
        &env.path("pw.txt"),
    ]);
    let s = env.state();
    assert_eq!(s.roots.len(), 1);
    assert_eq!(s.cert_names(), ["alice", "bob", "dave"]);

    // A Java trust store: trusted-certificate bags only.
    let env = Env::new();
    let rows = env.import(&sample("java-truststore.p12"), Some("pw.txt"));
    assert_eq!((count(&rows, "certificate"), count(&rows, "key")), (2, 0));
    assert_eq!(env.state().cert_names(), ["Formats Test Root", "dave"]);
}

#[test]
fn pkcs12_key_without_certificate_and_certificates_without_key() {
    let env = Env::new();
    // `key import` takes the same files.
    let out = env.ok(&[
        "key",
        "import",
        &sample("openssl-key-only.p12"),
        "--password-file",
        &env.path("pw.txt"),
    ]);
    assert!(out.starts_with("imported key"), "{out}");
    let s = env.state();
    assert!(s.certs.is_empty());
    assert_eq!(s.keys.len(), 1);
    assert_eq!(s.keys[0]["certificates"], serde_json::json!([]));

    let rows = env.import(&sample("openssl-certs-only.p12"), Some("pw.txt"));
    assert_eq!((count(&rows, "certificate"), count(&rows, "key")), (2, 0));
    let s = env.state();
    assert_eq!(s.cert_names(), ["Formats Test Root", "dave"]);
    assert_eq!(s.cert("dave")["has_key"], false);
    assert_eq!(
        s.keys[0]["certificates"],
        serde_json::json!([]),
        "carol's key"
    );
    wrong_password_refused("openssl-certs-only.p12");
}

#[test]
fn pkcs7_bundles_der_ber_pem() {
    for (file, names) in [
        // Java CertPath.getEncoded("PKCS7"): DER.
        ("java-certpath.p7b", &["Formats Test Root", "alice"][..]),
        // NSS cmsutil -O: certs-only, BER with indefinite lengths.
        (
            "nss-certs-only.p7b",
            &["Formats Test Root", "alice", "dave"],
        ),
        // OpenSSL cms -sign -stream: BER signed messages, PEM ("CMS") and binary.
        ("openssl-signed-ber.pem", &["Formats Test Root", "alice"]),
        ("openssl-signed-ber.p7m", &["Formats Test Root", "bob"]),
    ] {
        let env = Env::new();
        let rows = env.import(&sample(file), None);
        assert_eq!(
            count(&rows, "certificate"),
            names.len(),
            "{file}: {rows:#?}"
        );
        let s = env.state();
        assert_eq!(s.cert_names(), names, "{file}");
        assert!(s.keys.is_empty() && s.crls.is_empty(), "{file}");
    }
}

#[test]
fn pkcs7_crls_go_to_the_crl_store() {
    // OpenSSL crl2pkcs7: dave, the root and the root's CRL revoking dave; DER and PEM.
    for file in ["openssl-certs-crl.p7b", "openssl-certs-crl.p7c"] {
        let env = Env::new();
        let out = env.run(&["cert", "import", &sample(file), "--trust-roots", "--json"]);
        assert!(out.status.success(), "{file}: {}", text(&out.stdout));
        let rows: Vec<Value> = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(count(&rows, "certificate"), 2, "{file}: {rows:#?}");
        assert_eq!(count(&rows, "crl"), 1, "{file}: {rows:#?}");
        let s = env.state();
        assert_eq!(s.roots.len(), 1, "{file}");
        assert_eq!(s.crls.len(), 1, "{file}: {:#?}", s.crls);
        assert_eq!(s.crls[0]["current"], true, "{file}: {:#?}", s.crls);
        assert_eq!(s.crls[0]["issuer"], "CN=Formats Test Root");
        assert_eq!(s.crls[0]["entries"], 1);
        // The CRL is in use: dave shows as revoked.
        assert_eq!(
            s.cert("dave")["status"],
            "revoked",
            "{file}: {:#?}",
            s.certs
        );
        // A second import finds everything present.
        let rows = env.json(&["cert", "import", &sample(file), "--trust-roots", "--json"]);
        assert!(rows.iter().all(|r| r["status"] == "present"), "{rows:#?}");
        assert_eq!(env.state().crls.len(), 1);
    }
}
