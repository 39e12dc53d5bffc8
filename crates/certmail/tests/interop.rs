//! Interoperability tests: the real `certmail` binary against real peer tools.
//!
//! OpenSSL, NSS (`certutil`, `pk12util`), GnuPG (`gpgsm`) and Python's `cryptography` make the
//! inputs certmail imports and read the files certmail exports. Every test has a data directory of
//! its own and checks exit codes and the exact stored state (`cert list --json`, `key list --json`).
//!
//! A peer tool that is not installed skips a test on a developer machine (it prints
//! `skipping: X not installed`) and fails it when the environment variable `CI` is set.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tempfile::TempDir;

mod common;
use common::{have, missing, text};

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// stdout followed by stderr, for messages that may go to either.
fn all_output(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// Runs `cmd` (stdin closed unless the caller set it) and panics with its output unless it exits 0.
fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

/// Runs `cmd` with `input` on its stdin and returns its output, whatever its exit status.
fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
    // A child that exits without reading its input is reported by its status, not here.
    let _ = child.stdin.take().expect("piped stdin").write_all(input);
    child.wait_with_output().expect("wait for child")
}

/// Asserts the exit code of a finished command.
fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{what}: expected exit code {code}, got {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
}

/// A Python interpreter that has the `cryptography` package: the one first on PATH, else
/// Debian's (where python3-cryptography installs it).
fn python_with_cryptography() -> Option<&'static str> {
    for python in ["python3", "/usr/bin/python3"] {
        let ok = Command::new(python)
            .args([
                "-c",
                "import cryptography.hazmat.primitives.serialization.pkcs12",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if ok {
            return Some(python);
        }
    }
    missing("python3 with the cryptography package (python3-cryptography)");
    None
}

/// Runs `openssl ARGS` in `dir`; panics unless it succeeds.
fn openssl(dir: &Path, args: &[&str]) -> Output {
    run(Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null()))
}

// ---------------------------------------------------------------------------------------------
// certmail
// ---------------------------------------------------------------------------------------------

/// One data directory, in a temporary directory that also holds the test's fixture files.
/// certmail and the peer tools run with that temporary directory as working directory, so files
/// are named relative to it.
struct Env {
    tmp: TempDir,
    data: PathBuf,
}

impl Env {
    /// A fresh temporary directory with an initialised data directory `data/` inside.
    fn new() -> Env {
        let tmp = TempDir::new().expect("create temp dir");
        let data = tmp.path().join("data");
        let env = Env { tmp, data };
        let out = env.certmail(&["init"]);
        assert_code(&out, 0, "certmail init");
        assert!(
            env.data.join("master.key").is_file(),
            "init did not create {}/master.key",
            env.data.display()
        );
        env
    }

    fn dir(&self) -> &Path {
        self.tmp.path()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    /// `certmail --data-dir DATA ARGS` with the variables `vars` set; any exit status.
    fn certmail_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_certmail"));
        cmd.arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .current_dir(self.tmp.path())
            .stdin(Stdio::null())
            .env_remove("CERTMAIL_DATABASE_URL")
            .env_remove("CERTMAIL_PASSPHRASE");
        for (k, v) in vars {
            cmd.env(k, v);
        }
        cmd.output()
            .unwrap_or_else(|e| panic!("cannot start certmail {args:?}: {e}"))
    }

    /// `certmail --data-dir DATA ARGS`; any exit status.
    fn certmail(&self, args: &[&str]) -> Output {
        self.certmail_env(args, &[])
    }

    /// `certmail ARGS`, which must exit 0.
    fn ok(&self, args: &[&str]) -> Output {
        let out = self.certmail(args);
        assert_code(&out, 0, &format!("certmail {}", args.join(" ")));
        out
    }

    /// `certmail ARGS --json`, which must exit 0 and print a JSON array.
    fn json_list(&self, args: &[&str]) -> Vec<Value> {
        let mut args = args.to_vec();
        args.push("--json");
        parse_array(&self.ok(&args), &args)
    }

    /// The stored certificates (`cert list --json`).
    fn certs(&self) -> Vec<Value> {
        self.json_list(&["cert", "list"])
    }

    /// The stored keys (`key list --json`).
    fn keys(&self) -> Vec<Value> {
        self.json_list(&["key", "list"])
    }

    /// The raw bytes of `cert list --json` and `key list --json`.
    fn snapshot(&self) -> (String, String) {
        let certs = self.ok(&["cert", "list", "--json"]);
        let keys = self.ok(&["key", "list", "--json"]);
        (text(&certs.stdout), text(&keys.stdout))
    }

    /// An import command (`cert import ...`, `key import ...`) run with `--json` and `vars`:
    /// its exit code, its items, and its whole output for messages.
    fn import_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Imported {
        let mut args = args.to_vec();
        args.push("--json");
        let out = self.certmail_env(&args, vars);
        let items = parse_array(&out, &args);
        Imported {
            code: out.status.code(),
            items,
            output: all_output(&out),
        }
    }

    fn import(&self, args: &[&str]) -> Imported {
        self.import_env(args, &[])
    }

    /// Writes `contents` to the file `name` in the temporary directory.
    fn write(&self, name: &str, contents: impl AsRef<[u8]>) {
        fs::write(self.path(name), contents).expect("write fixture");
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }
}

fn parse_array(out: &Output, args: &[&str]) -> Vec<Value> {
    let value: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "certmail {args:?}: stdout is not JSON ({e}), exit {}\n--- stdout:\n{}\n--- stderr:\n{}",
            out.status,
            text(&out.stdout),
            text(&out.stderr)
        )
    });
    match value {
        Value::Array(items) => items,
        other => panic!("certmail {args:?}: expected a JSON array, got {other}"),
    }
}

/// The result of one import command.
struct Imported {
    code: Option<i32>,
    items: Vec<Value>,
    output: String,
}

impl Imported {
    fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "import: expected exit code {code}\n{}",
            self.output
        );
        self
    }

    /// Number of items per (kind, status); failed files count as ("file", "failed").
    fn tally(&self) -> BTreeMap<(String, String), usize> {
        let mut tally = BTreeMap::new();
        for item in &self.items {
            // A failed file has no kind of its own: it is counted as ("file", "failed").
            let status = s(item, "status");
            let kind = if status == "failed" {
                "file".to_owned()
            } else {
                s(item, "kind")
            };
            let key = (kind, status);
            *tally.entry(key).or_insert(0) += 1;
        }
        tally
    }

    /// The ids of the certificate items with `status`.
    fn cert_ids(&self, status: &str) -> BTreeSet<String> {
        self.items
            .iter()
            .filter(|i| i["kind"] == "certificate" && i["status"] == status)
            .map(|i| s(i, "id"))
            .collect()
    }

    /// Asserts the exact multiset of (kind, status) of the items.
    fn assert_tally(&self, expected: &[(&str, &str, usize)]) -> &Self {
        let expected: BTreeMap<(String, String), usize> = expected
            .iter()
            .filter(|(_, _, n)| *n > 0)
            .map(|(k, st, n)| ((k.to_string(), st.to_string()), *n))
            .collect();
        assert_eq!(self.tally(), expected, "import items\n{}", self.output);
        self
    }
}

/// A string field of a JSON object; panics if absent.
fn s(v: &Value, field: &str) -> String {
    match &v[field] {
        Value::String(x) => x.clone(),
        other => panic!("field {field:?} is not a string ({other}) in {v}"),
    }
}

fn i(v: &Value, field: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("field {field:?} is not an integer in {v}"))
}

fn b(v: &Value, field: &str) -> bool {
    v[field]
        .as_bool()
        .unwrap_or_else(|| panic!("field {field:?} is not a bool in {v}"))
}

/// The certificate with `sha256` in a `cert list --json` answer.
fn find<'a>(certs: &'a [Value], sha256: &str) -> &'a Value {
    certs
        .iter()
        .find(|c| s(c, "sha256") == sha256)
        .unwrap_or_else(|| panic!("certificate {sha256} not listed in {certs:?}"))
}

fn sha256_set(certs: &[Value]) -> BTreeSet<String> {
    certs.iter().map(|c| s(c, "sha256")).collect()
}

fn set<'a>(ids: impl IntoIterator<Item = &'a str>) -> BTreeSet<String> {
    ids.into_iter().map(str::to_owned).collect()
}

/// Whether the `key list --json` entry `key` names certificate `sha256` among its certificates
/// (an array of thumbprints, or of objects with a `sha256` field).
fn key_links(key: &Value, sha256: &str) -> bool {
    match &key["certificates"] {
        Value::Array(list) => list.iter().any(|c| match c {
            Value::String(x) => x == sha256,
            Value::Object(_) => c["sha256"].as_str() == Some(sha256),
            _ => false,
        }),
        other => panic!("key \"certificates\" is not an array: {other} in {key}"),
    }
}

fn certificate_count(key: &Value) -> usize {
    key["certificates"]
        .as_array()
        .unwrap_or_else(|| panic!("key \"certificates\" is not an array in {key}"))
        .len()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

// ---------------------------------------------------------------------------------------------
// Test PKI, made with the openssl command line
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
enum Alg {
    Rsa,
    Ec,
}

/// A certificate made by openssl: `NAME.pem`, `NAME.der` and its key `NAME.key` (PKCS#8 PEM) in
/// the fixture directory.
struct Cert {
    name: String,
    sha256: String,
}

impl Cert {
    fn pem(&self) -> String {
        format!("{}.pem", self.name)
    }
    fn der(&self) -> String {
        format!("{}.der", self.name)
    }
    fn key(&self) -> String {
        format!("{}.key", self.name)
    }
}

const ALICE_SUBJECT: &str = "/CN=Alice/emailAddress=Alice@Example.COM";
const ALICE_SAN: &str = "subjectAltName=email:alice2@example.com";
const ALICE_SERIAL: &str = "0x1A2B3C4D5E6F";
const LEAF_DAYS: i64 = 365;

fn gen_key(dir: &Path, name: &str, alg: Alg) {
    let file = format!("{name}.key");
    match alg {
        Alg::Rsa => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &file,
            ],
        ),
        Alg::Ec => openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                &file,
            ],
        ),
    };
}

/// The lowercase hex SHA-256 or SHA-512 fingerprint of the PEM certificate `pem`.
fn fingerprint(dir: &Path, pem: &str, digest: &str) -> String {
    let out = openssl(dir, &["x509", "-in", pem, "-noout", "-fingerprint", digest]);
    let line = text(&out.stdout);
    let (_, hex) = line
        .trim()
        .split_once('=')
        .unwrap_or_else(|| panic!("unexpected fingerprint output {line:?}"));
    hex.replace(':', "").to_lowercase()
}

/// Finishes a certificate whose `NAME.pem` exists: writes `NAME.der`, reads its thumbprint.
fn finish(dir: &Path, name: &str) -> Cert {
    let pem = format!("{name}.pem");
    let der = format!("{name}.der");
    openssl(dir, &["x509", "-in", &pem, "-outform", "DER", "-out", &der]);
    Cert {
        name: name.to_owned(),
        sha256: fingerprint(dir, &pem, "-sha256"),
    }
}

/// What a new certificate is: file name stem, key algorithm, subject DN, serial (`0x...`).
struct Spec<'a> {
    name: &'a str,
    alg: Alg,
    subject: &'a str,
    serial: &'a str,
}

/// A self-signed certificate; `exts` are `-addext` values.
fn self_signed(dir: &Path, spec: &Spec, exts: &[&str]) -> Cert {
    let Spec {
        name,
        alg,
        subject,
        serial,
    } = *spec;
    gen_key(dir, name, alg);
    let (key, pem) = (format!("{name}.key"), format!("{name}.pem"));
    let mut args = vec![
        "req",
        "-x509",
        "-new",
        "-key",
        &key,
        "-subj",
        subject,
        "-set_serial",
        serial,
        "-days",
        "3650",
        "-out",
        &pem,
    ];
    for ext in exts {
        args.extend(["-addext", ext]);
    }
    openssl(dir, &args);
    finish(dir, name)
}

/// A certificate for `subject` issued by `issuer`; `ext_lines` is the extension file's text.
fn issue(dir: &Path, spec: &Spec, days: i64, ext_lines: &str, issuer: &Cert) -> Cert {
    let Spec {
        name,
        alg,
        subject,
        serial,
    } = *spec;
    gen_key(dir, name, alg);
    let (key, csr, pem, ext) = (
        format!("{name}.key"),
        format!("{name}.csr"),
        format!("{name}.pem"),
        format!("{name}.ext"),
    );
    fs::write(dir.join(&ext), ext_lines).expect("write extension file");
    openssl(
        dir,
        &["req", "-new", "-key", &key, "-subj", subject, "-out", &csr],
    );
    let days = days.to_string();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &issuer.pem(),
            "-CAkey",
            &issuer.key(),
            "-set_serial",
            serial,
            "-days",
            &days,
            "-extfile",
            &ext,
            "-out",
            &pem,
        ],
    );
    finish(dir, name)
}

/// A root CA and an intermediate CA (EC P-256), and S/MIME leaf certificates under them.
struct Pki<'a> {
    dir: &'a Path,
    root: Cert,
    inter: Cert,
}

impl<'a> Pki<'a> {
    fn new(dir: &'a Path) -> Pki<'a> {
        let root = self_signed(
            dir,
            &Spec {
                name: "root",
                alg: Alg::Ec,
                subject: "/CN=Test Root CA/O=Certmail Test",
                serial: "0x01",
            },
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        let inter = issue(
            dir,
            &Spec {
                name: "inter",
                alg: Alg::Ec,
                subject: "/CN=Test Intermediate CA/O=Certmail Test",
                serial: "0x02",
            },
            3000,
            "basicConstraints=critical,CA:TRUE,pathlen:0\n\
             keyUsage=critical,keyCertSign,cRLSign\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n",
            &root,
        );
        Pki { dir, root, inter }
    }

    /// An S/MIME certificate issued by the intermediate; `san` is an extension line
    /// (`subjectAltName=...`) or empty.
    fn leaf(&self, name: &str, alg: Alg, subject: &str, san: &str, serial: &str) -> Cert {
        let ext = format!(
            "basicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=emailProtection\n\
             subjectKeyIdentifier=hash\n\
             authorityKeyIdentifier=keyid\n\
             {san}\n"
        );
        let spec = Spec {
            name,
            alg,
            subject,
            serial,
        };
        issue(self.dir, &spec, LEAF_DAYS, &ext, &self.inter)
    }

    /// Alice: RSA, two e-mail addresses in mixed case, a fixed serial.
    fn alice(&self) -> Cert {
        self.leaf("alice", Alg::Rsa, ALICE_SUBJECT, ALICE_SAN, ALICE_SERIAL)
    }

    /// `chain.pem`: intermediate then root.
    fn chain_pem(&self) -> String {
        let mut chain = fs::read(self.dir.join(self.inter.pem())).expect("read inter");
        chain.extend(fs::read(self.dir.join(self.root.pem())).expect("read root"));
        fs::write(self.dir.join("chain.pem"), chain).expect("write chain");
        "chain.pem".to_owned()
    }

    /// A PKCS#12 file `out` made by `openssl pkcs12 -export` with `leaf`, its key and the chain,
    /// friendly name = the leaf's name; `extra` are further options (`-legacy`, ...).
    fn openssl_p12(&self, leaf: &Cert, password: &str, out: &str, extra: &[&str]) {
        let chain = self.chain_pem();
        let passout = format!("pass:{password}");
        let (pem, key) = (leaf.pem(), leaf.key());
        let mut args = vec![
            "pkcs12",
            "-export",
            "-in",
            &pem,
            "-inkey",
            &key,
            "-certfile",
            &chain,
            "-name",
            &leaf.name,
            "-passout",
            &passout,
            "-out",
            out,
        ];
        args.extend(extra);
        openssl(self.dir, &args);
    }
}

/// Asserts that importing a PKCS#12 file holding `leaf`, its key and the chain stored the key,
/// linked it to `leaf`, and put the chain into the certificate store; then that importing it
/// again reports everything present and changes nothing.
fn check_p12_import(env: &Env, pki: &Pki, leaf: &Cert, args: &[&str], vars: &[(&str, &str)]) {
    let first = env.import_env(args, vars);
    first
        .assert_code(0)
        .assert_tally(&[("certificate", "imported", 3), ("key", "imported", 1)]);
    assert_eq!(
        first.cert_ids("imported"),
        set([
            leaf.sha256.as_str(),
            pki.inter.sha256.as_str(),
            pki.root.sha256.as_str()
        ]),
        "{}",
        first.output
    );

    let certs = env.certs();
    assert_eq!(
        sha256_set(&certs),
        set([
            leaf.sha256.as_str(),
            pki.inter.sha256.as_str(),
            pki.root.sha256.as_str()
        ])
    );
    assert!(b(find(&certs, &leaf.sha256), "has_key"), "{certs:?}");
    assert!(!b(find(&certs, &pki.inter.sha256), "has_key"), "{certs:?}");
    assert!(!b(find(&certs, &pki.root.sha256), "has_key"), "{certs:?}");
    // Without --trust-roots the root in the file is not trusted.
    assert!(env.json_list(&["root", "list"]).is_empty());

    let keys = env.keys();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(key_links(&keys[0], &leaf.sha256), "{keys:?}");
    assert_eq!(certificate_count(&keys[0]), 1, "{keys:?}");
    assert_eq!(
        s(find(&certs, &leaf.sha256), "key_id"),
        s(&keys[0], "key_id"),
        "the certificate's key_id is the key's"
    );

    let before = env.snapshot();
    let again = env.import_env(args, vars);
    again
        .assert_code(0)
        .assert_tally(&[("certificate", "present", 3), ("key", "present", 1)]);
    assert_eq!(env.snapshot(), before, "re-import changed the store");
}

// ---------------------------------------------------------------------------------------------
// 1. Certificates: PEM bundle, DER, PKCS#7 (DER and PEM)
// ---------------------------------------------------------------------------------------------

#[test]
fn import_certificate_formats() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    let alice = pki.alice();
    let bob = self_signed(
        d,
        &Spec {
            name: "bob",
            alg: Alg::Ec,
            subject: "/CN=Bob/emailAddress=Bob@Example.ORG",
            serial: "0x0B0B",
        },
        &["subjectAltName=email:Bob@Example.ORG"],
    );
    let carol = pki.leaf(
        "carol",
        Alg::Ec,
        "/CN=Carol",
        "subjectAltName=email:carol@example.net",
        "0x0C0C",
    );
    let dave = pki.leaf(
        "dave",
        Alg::Ec,
        "/CN=Dave/emailAddress=DAVE@EXAMPLE.NET",
        "",
        "0x0D0D",
    );

    // A PEM bundle as `openssl pkcs7 -print_certs` writes it: subject=/issuer= text lines
    // and blank lines around the PEM blocks.
    let p7 = openssl(
        d,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            &pki.root.pem(),
            "-certfile",
            &pki.inter.pem(),
            "-certfile",
            &alice.pem(),
        ],
    );
    env.write("bundle.p7.pem", &p7.stdout);
    openssl(
        d,
        &[
            "pkcs7",
            "-in",
            "bundle.p7.pem",
            "-print_certs",
            "-out",
            "bundle.pem",
        ],
    );
    assert_eq!(
        text(&env.read("bundle.pem"))
            .matches("-----BEGIN CERTIFICATE-----")
            .count(),
        3
    );
    // DER with a .cer name.
    fs::copy(d.join(bob.der()), d.join("bob.cer")).expect("copy");
    // PKCS#7 DER with the chain, PKCS#7 PEM with the leaf only.
    openssl(
        d,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            &carol.pem(),
            "-certfile",
            &pki.inter.pem(),
            "-certfile",
            &pki.root.pem(),
            "-outform",
            "DER",
            "-out",
            "carol.p7b",
        ],
    );
    openssl(
        d,
        &[
            "crl2pkcs7",
            "-nocrl",
            "-certfile",
            &dave.pem(),
            "-out",
            "dave-pem.p7b",
        ],
    );
    assert!(text(&env.read("dave-pem.p7b")).starts_with("-----BEGIN PKCS7-----"));

    let r = env.import(&["cert", "import", "bundle.pem"]);
    r.assert_code(0)
        .assert_tally(&[("certificate", "imported", 3)]);
    assert_eq!(
        r.cert_ids("imported"),
        set([&*pki.root.sha256, &*pki.inter.sha256, &*alice.sha256])
    );
    for item in &r.items {
        assert_eq!(s(item, "file"), "bundle.pem", "{item}");
    }

    // Plain output: one line `imported certificate <sha256> <subject>`.
    let out = env.ok(&["cert", "import", "bob.cer"]);
    let stdout = text(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("imported certificate {} ", bob.sha256)),
        "{stdout}"
    );
    assert!(lines[0].contains("Bob"), "{stdout}");

    let r = env.import(&["cert", "import", "carol.p7b"]);
    r.assert_code(0).assert_tally(&[
        ("certificate", "imported", 1),
        ("certificate", "present", 2),
    ]);
    assert_eq!(r.cert_ids("imported"), set([&*carol.sha256]));
    assert_eq!(
        r.cert_ids("present"),
        set([&*pki.root.sha256, &*pki.inter.sha256])
    );

    let r = env.import(&["cert", "import", "dave-pem.p7b"]);
    r.assert_code(0)
        .assert_tally(&[("certificate", "imported", 1)]);
    assert_eq!(r.cert_ids("imported"), set([&*dave.sha256]));

    // The stored state, field by field for Alice.
    let certs = env.certs();
    let all = [&pki.root, &pki.inter, &alice, &bob, &carol, &dave];
    assert_eq!(certs.len(), all.len(), "{certs:?}");
    assert_eq!(
        sha256_set(&certs),
        all.iter().map(|c| c.sha256.clone()).collect()
    );
    let a = find(&certs, &alice.sha256);
    assert_eq!(s(a, "sha512"), fingerprint(d, &alice.pem(), "-sha512"));
    assert_eq!(s(a, "serial"), "1a2b3c4d5e6f");
    assert_eq!(s(a, "common_name"), "Alice");
    assert!(s(a, "subject").contains("Alice"), "{a}");
    assert!(s(a, "issuer").contains("Test Intermediate CA"), "{a}");
    assert!(!b(a, "has_key"), "{a}");
    let (not_before, not_after) = (i(a, "not_before"), i(a, "not_after"));
    assert_eq!(not_after - not_before, LEAF_DAYS * 86_400, "{a}");
    assert!(
        (not_before - now()).abs() < 2 * 86_400,
        "not_before {not_before}"
    );
    assert_eq!(emails(a), ["alice2@example.com", "alice@example.com"]);
    assert_eq!(emails(find(&certs, &bob.sha256)), ["bob@example.org"]);
    assert_eq!(emails(find(&certs, &carol.sha256)), ["carol@example.net"]);
    assert_eq!(emails(find(&certs, &dave.sha256)), ["dave@example.net"]);
    for c in &certs {
        for field in ["sha256", "sha512", "serial"] {
            let v = s(c, field);
            assert!(
                v.chars().all(|ch| matches!(ch, '0'..='9' | 'a'..='f')),
                "{field} is not lowercase hex: {v}"
            );
        }
        assert!(!b(c, "has_key"), "{c}");
    }

    // Importing everything again: all present, nothing changes.
    let before = env.snapshot();
    let out = env.ok(&[
        "cert",
        "import",
        "bundle.pem",
        "bob.cer",
        "carol.p7b",
        "dave-pem.p7b",
    ]);
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 3 + 1 + 3 + 1, "{stdout}");
    for line in stdout.lines() {
        assert!(line.starts_with("present certificate "), "{stdout}");
    }
    assert_eq!(env.snapshot(), before);

    // Look-ups.
    let found = env.json_list(&["cert", "list", "--email", "ALICE2@example.com"]);
    assert_eq!(sha256_set(&found), set([&*alice.sha256]));
    let found = env.json_list(&["cert", "list", "--email", "alice@example.com"]);
    assert_eq!(sha256_set(&found), set([&*alice.sha256]));
    let out = env.ok(&["cert", "show", &alice.sha256[..16]]);
    assert!(text(&out.stdout).contains("Alice"), "{}", text(&out.stdout));
}

#[test]
fn trust_roots_puts_self_issued_certificates_in_the_root_store() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let pki = Pki::new(env.dir());
    let alice = pki.alice();
    let chain = pki.chain_pem();
    let r = env.import(&["cert", "import", &alice.pem(), &chain, "--trust-roots"]);
    r.assert_code(0)
        .assert_tally(&[("certificate", "imported", 3)]);
    let roots = env.json_list(&["root", "list"]);
    assert_eq!(sha256_set(&roots), set([&*pki.root.sha256]), "{roots:?}");
    assert_eq!(
        sha256_set(&env.certs()),
        set([&*alice.sha256, &*pki.inter.sha256])
    );

    // `root import` trusts what it is given; the root is already there.
    let r = env.import(&["root", "import", &pki.root.pem()]);
    r.assert_code(0)
        .assert_tally(&[("certificate", "present", 1)]);
    assert_eq!(env.json_list(&["root", "list"]).len(), 1);
}

/// The `emails` of a listed certificate, sorted.
fn emails(cert: &Value) -> Vec<String> {
    let mut list: Vec<String> = cert["emails"]
        .as_array()
        .unwrap_or_else(|| panic!("emails is not an array in {cert}"))
        .iter()
        .map(|e| {
            e.as_str()
                .unwrap_or_else(|| panic!("email is not a string in {cert}"))
                .to_owned()
        })
        .collect();
    list.sort();
    list
}

// ---------------------------------------------------------------------------------------------
// 2. PKCS#12 from OpenSSL, NSS and Python
// ---------------------------------------------------------------------------------------------

#[test]
fn import_pkcs12_openssl_modern() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let pki = Pki::new(env.dir());
    let alice = pki.alice();
    pki.openssl_p12(&alice, "s3cret pass", "modern.p12", &[]);
    let info = openssl(
        env.dir(),
        &[
            "pkcs12",
            "-in",
            "modern.p12",
            "-info",
            "-noout",
            "-passin",
            "pass:s3cret pass",
        ],
    );
    assert!(
        all_output(&info).contains("AES-256-CBC"),
        "{}",
        all_output(&info)
    );
    env.write("pw.txt", "s3cret pass");
    check_p12_import(
        &env,
        &pki,
        &alice,
        &["cert", "import", "modern.p12", "--password-file", "pw.txt"],
        &[],
    );
}

#[test]
fn import_pkcs12_openssl_legacy() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let pki = Pki::new(env.dir());
    let alice = pki.alice();
    pki.openssl_p12(&alice, "legacy-pw", "legacy.p12", &["-legacy"]);
    let info = openssl(
        env.dir(),
        &[
            "pkcs12",
            "-in",
            "legacy.p12",
            "-info",
            "-noout",
            "-legacy",
            "-passin",
            "pass:legacy-pw",
        ],
    );
    let info = all_output(&info);
    assert!(info.contains("pbeWithSHA1And40BitRC2-CBC"), "{info}");
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{info}");
    check_p12_import(
        &env,
        &pki,
        &alice,
        &[
            "key",
            "import",
            "legacy.p12",
            "--password-env",
            "CERTMAIL_TEST_P12_PASSWORD",
        ],
        &[("CERTMAIL_TEST_P12_PASSWORD", "legacy-pw")],
    );
}

#[test]
fn import_pkcs12_openssl_empty_password() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let pki = Pki::new(env.dir());
    let alice = pki.alice();
    pki.openssl_p12(&alice, "", "nopw.p12", &[]);
    check_p12_import(&env, &pki, &alice, &["cert", "import", "nopw.p12"], &[]);
}

#[test]
fn import_pkcs12_nss_pk12util() {
    if !have("openssl") || !have("certutil") || !have("pk12util") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    let alice = pki.alice();
    pki.openssl_p12(&alice, "transfer", "transfer.p12", &[]);
    // Into a fresh NSS database, out again with NSS's own PKCS#12 writer.
    fs::create_dir(d.join("nssdb")).expect("mkdir nssdb");
    run(Command::new("certutil").current_dir(d).args([
        "-N",
        "--empty-password",
        "-d",
        "sql:nssdb",
    ]));
    run(Command::new("pk12util").current_dir(d).args([
        "-i",
        "transfer.p12",
        "-d",
        "sql:nssdb",
        "-W",
        "transfer",
    ]));
    run(Command::new("pk12util").current_dir(d).args([
        "-o",
        "nss.p12",
        "-n",
        "alice",
        "-d",
        "sql:nssdb",
        "-W",
        "nss-pw",
    ]));
    env.write("pw.txt", "nss-pw");
    check_p12_import(
        &env,
        &pki,
        &alice,
        &["cert", "import", "nss.p12", "--password-file", "pw.txt"],
        &[],
    );
}

const PYTHON_P12: &str = r#"
import sys
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
key_file, cert_file, password, out, *ca_files = sys.argv[1:]
key = serialization.load_pem_private_key(open(key_file, "rb").read(), password=None)
cert = x509.load_pem_x509_certificate(open(cert_file, "rb").read())
cas = [x509.load_pem_x509_certificate(open(f, "rb").read()) for f in ca_files]
data = pkcs12.serialize_key_and_certificates(
    b"python", key, cert, cas or None,
    serialization.BestAvailableEncryption(password.encode()))
open(out, "wb").write(data)
"#;

#[test]
fn import_pkcs12_python_cryptography() {
    if !have("openssl") {
        return;
    }
    let Some(python) = python_with_cryptography() else {
        return;
    };
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    // An EC key this time.
    let pat = pki.leaf(
        "pat",
        Alg::Ec,
        "/CN=Pat/emailAddress=pat@example.com",
        "subjectAltName=email:pat@example.com",
        "0x0E0E",
    );
    run(Command::new(python).current_dir(d).args([
        "-c",
        PYTHON_P12,
        &pat.key(),
        &pat.pem(),
        "py-pw",
        "python.p12",
        &pki.inter.pem(),
        &pki.root.pem(),
    ]));
    check_p12_import(
        &env,
        &pki,
        &pat,
        &["cert", "import", "python.p12", "--password-env", "PY_PW"],
        &[("PY_PW", "py-pw")],
    );
    let keys = env.keys();
    let alg = s(&keys[0], "algorithm").to_lowercase();
    assert!(
        alg.contains("ec") || alg.contains("p-256") || alg.contains("p256"),
        "algorithm {alg:?} for a P-256 key"
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Private key files, imported before their certificates
// ---------------------------------------------------------------------------------------------

#[test]
fn import_private_key_formats() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    let alice = pki.alice();
    let leaf = |name: &str, alg, serial| {
        pki.leaf(
            name,
            alg,
            &format!("/CN={name}"),
            &format!("subjectAltName=email:{name}@example.com"),
            serial,
        )
    };
    let bob = leaf("bob", Alg::Ec, "0x0B");
    let carol = leaf("carol", Alg::Rsa, "0x0C");
    let dave = leaf("dave", Alg::Ec, "0x0D");
    let erin = leaf("erin", Alg::Ec, "0x0E");

    // Alice: encrypted PKCS#8 (PBES2, AES-256-CBC), PEM.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-v2",
            "aes-256-cbc",
            "-in",
            "alice.key",
            "-passout",
            "pass:key-pw",
            "-out",
            "alice.enc.p8",
        ],
    );
    assert!(text(&env.read("alice.enc.p8")).starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
    // Bob: plain PKCS#8, DER.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            "bob.key",
            "-outform",
            "DER",
            "-out",
            "bob.p8.der",
        ],
    );
    // Carol: PKCS#1 RSAPrivateKey, PEM.
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "carol.key",
            "-traditional",
            "-out",
            "carol.rsa.pem",
        ],
    );
    assert!(text(&env.read("carol.rsa.pem")).starts_with("-----BEGIN RSA PRIVATE KEY-----"));
    // Dave: SEC1 ECPrivateKey, PEM; Erin: SEC1, DER.
    openssl(d, &["ec", "-in", "dave.key", "-out", "dave.ec.pem"]);
    assert!(text(&env.read("dave.ec.pem")).starts_with("-----BEGIN EC PRIVATE KEY-----"));
    openssl(
        d,
        &[
            "ec",
            "-in",
            "erin.key",
            "-outform",
            "DER",
            "-out",
            "erin.ec.der",
        ],
    );
    env.write("key-pw.txt", "key-pw");
    let r = env.import(&[
        "key",
        "import",
        "alice.enc.p8",
        "--password-file",
        "key-pw.txt",
    ]);
    r.assert_code(0).assert_tally(&[("key", "imported", 1)]);
    let r = env.import(&[
        "key",
        "import",
        "bob.p8.der",
        "carol.rsa.pem",
        "dave.ec.pem",
        "erin.ec.der",
    ]);
    r.assert_code(0).assert_tally(&[("key", "imported", 4)]);

    // Keys without certificates.
    let keys = env.keys();
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in &keys {
        assert_eq!(certificate_count(key), 0, "{key}");
    }
    let algs: Vec<String> = keys
        .iter()
        .map(|k| s(k, "algorithm").to_lowercase())
        .collect();
    assert_eq!(
        algs.iter().filter(|a| a.contains("rsa")).count(),
        2,
        "{algs:?}"
    );
    assert!(env.certs().is_empty());

    // A certificate without a key, then the certificates of the stored keys.
    env.ok(&["cert", "import", &pki.root.pem()]);
    let certs = env.certs();
    assert!(!b(find(&certs, &pki.root.sha256), "has_key"));
    let leaves = [&alice, &bob, &carol, &dave, &erin];
    let files: Vec<String> = leaves.iter().map(|c| c.pem()).collect();
    let mut args = vec!["cert", "import"];
    args.extend(files.iter().map(String::as_str));
    env.import(&args)
        .assert_code(0)
        .assert_tally(&[("certificate", "imported", 5)]);

    let certs = env.certs();
    assert_eq!(certs.len(), 6);
    assert!(!b(find(&certs, &pki.root.sha256), "has_key"));
    let keys = env.keys();
    for leaf in leaves {
        let c = find(&certs, &leaf.sha256);
        assert!(b(c, "has_key"), "{} has no key: {c}", leaf.name);
        let key = keys
            .iter()
            .find(|k| s(k, "key_id") == s(c, "key_id"))
            .unwrap_or_else(|| panic!("no key with key_id of {c}"));
        assert!(key_links(key, &leaf.sha256), "{key}");
    }
    for key in &keys {
        assert_eq!(certificate_count(key), 1, "{key}");
    }

    // Importing a key again: present.
    env.import(&["key", "import", "dave.ec.pem", "carol.key"])
        .assert_code(0)
        .assert_tally(&[("key", "present", 2)]);

    // Legacy OpenSSL-encrypted PEM (Proc-Type/DEK-Info) is refused, with the way out.
    openssl(
        d,
        &[
            "rsa",
            "-in",
            "carol.key",
            "-traditional",
            "-aes128",
            "-passout",
            "pass:key-pw",
            "-out",
            "carol.legacy.pem",
        ],
    );
    assert!(text(&env.read("carol.legacy.pem")).contains("DEK-Info:"));
    let before = env.snapshot();
    let out = env.certmail(&[
        "key",
        "import",
        "carol.legacy.pem",
        "--password-file",
        "key-pw.txt",
    ]);
    assert_code(&out, 1, "legacy encrypted PEM key");
    let msg = all_output(&out);
    assert!(msg.contains("openssl pkcs8 -topk8"), "{msg}");
    assert!(msg.contains("carol.legacy.pem"), "{msg}");
    assert_eq!(env.snapshot(), before);
}

/// `openssl ecparam -genkey` writes an `EC PARAMETERS` block before the `EC PRIVATE KEY`.
#[test]
fn import_ec_key_from_ecparam_genkey() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    openssl(
        d,
        &[
            "ecparam",
            "-genkey",
            "-name",
            "prime256v1",
            "-out",
            "frank.ecparam.pem",
        ],
    );
    let pem = text(&env.read("frank.ecparam.pem"));
    assert!(pem.starts_with("-----BEGIN EC PARAMETERS-----"), "{pem}");
    assert!(pem.contains("-----BEGIN EC PRIVATE KEY-----"), "{pem}");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "frank.ecparam.pem",
            "-subj",
            "/CN=Frank",
            "-addext",
            "subjectAltName=email:frank@example.com",
            "-days",
            "30",
            "-out",
            "frank.pem",
        ],
    );
    let frank = finish(d, "frank");

    env.import(&["key", "import", "frank.ecparam.pem"])
        .assert_code(0)
        .assert_tally(&[("key", "imported", 1)]);
    env.import(&["cert", "import", &frank.pem()])
        .assert_code(0)
        .assert_tally(&[("certificate", "imported", 1)]);
    assert!(b(find(&env.certs(), &frank.sha256), "has_key"));
}

// ---------------------------------------------------------------------------------------------
// 4. Exports read by OpenSSL, NSS and gpgsm
// ---------------------------------------------------------------------------------------------

/// An environment with Alice's certificate and key and her chain imported.
fn env_with_alice() -> (Env, Cert) {
    let env = Env::new();
    let (alice, inter, root) = {
        let pki = Pki::new(env.dir());
        let alice = pki.alice();
        pki.openssl_p12(&alice, "in-pw", "alice.p12", &[]);
        (alice, pki.inter.sha256.clone(), pki.root.sha256.clone())
    };
    env.write("in-pw.txt", "in-pw");
    env.import(&[
        "cert",
        "import",
        "alice.p12",
        "--password-file",
        "in-pw.txt",
    ])
    .assert_code(0);
    let certs = env.certs();
    assert_eq!(sha256_set(&certs), set([&*alice.sha256, &*inter, &*root]));
    assert!(b(find(&certs, &alice.sha256), "has_key"));
    (env, alice)
}

/// The public key of a private or public key file, as PEM, by `openssl pkey`.
fn public_key(dir: &Path, file: &str, extra: &[&str]) -> String {
    let mut args = vec!["pkey", "-in", file, "-pubout"];
    args.extend(extra);
    text(&openssl(dir, &args).stdout)
}

#[test]
fn export_pem_der_p7b() {
    if !have("openssl") {
        return;
    }
    let (env, alice) = env_with_alice();
    let d = env.dir();

    env.ok(&[
        "cert",
        "export",
        &alice.sha256,
        "--format",
        "pem",
        "-o",
        "out.pem",
    ]);
    assert_eq!(env.read("out.pem"), env.read(&alice.pem()), "PEM export");
    let out = env.ok(&["cert", "export", &alice.sha256, "--format", "pem"]);
    assert_eq!(out.stdout, env.read(&alice.pem()), "PEM export to stdout");
    env.ok(&[
        "cert",
        "export",
        &alice.sha256,
        "--format",
        "der",
        "-o",
        "out.der",
    ]);
    assert_eq!(env.read("out.der"), env.read(&alice.der()), "DER export");

    env.ok(&[
        "cert",
        "export",
        &alice.sha256,
        "--format",
        "p7b",
        "-o",
        "out.p7b",
    ]);
    let p7b = env.read("out.p7b");
    let inform = if p7b.first() == Some(&0x30) {
        "DER"
    } else {
        "PEM"
    };
    let out = openssl(
        d,
        &[
            "pkcs7",
            "-inform",
            inform,
            "-in",
            "out.p7b",
            "-print_certs",
            "-noout",
        ],
    );
    let printed = text(&out.stdout);
    for cn in [
        "CN = Alice",
        "CN = Test Intermediate CA",
        "CN = Test Root CA",
    ] {
        assert!(
            printed.contains(&format!("subject={cn}")),
            "{cn} missing:\n{printed}"
        );
    }
    // The PKCS#7 holds exactly the leaf and its chain, byte for byte.
    let out = openssl(
        d,
        &["pkcs7", "-inform", inform, "-in", "out.p7b", "-print_certs"],
    );
    let pems = text(&out.stdout);
    assert_eq!(
        pems.matches("-----BEGIN CERTIFICATE-----").count(),
        3,
        "{pems}"
    );
    let leaf_pem = text(&env.read(&alice.pem()));
    assert!(pems.contains(leaf_pem.trim()), "{pems}");

    // Unknown thumbprint: an error, not an empty file.
    let out = env.certmail(&["cert", "export", &"0".repeat(64), "--format", "pem"]);
    assert!(
        !out.status.success(),
        "export of an unknown certificate succeeded"
    );
}

#[test]
fn export_p12_read_by_openssl_and_nss() {
    if !have("openssl") || !have("certutil") || !have("pk12util") {
        return;
    }
    let (env, alice) = env_with_alice();
    let d = env.dir();

    // Without a password: bad usage.
    let out = env.certmail(&[
        "cert",
        "export",
        &alice.sha256,
        "--format",
        "p12",
        "-o",
        "x.p12",
    ]);
    assert_code(&out, 2, "p12 export without a password option");

    env.write("out-pw.txt", "export pw");
    env.ok(&[
        "cert",
        "export",
        &alice.sha256,
        "--format",
        "p12",
        "--password-file",
        "out-pw.txt",
        "-o",
        "out.p12",
    ]);
    let info = openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "out.p12",
            "-info",
            "-noout",
            "-passin",
            "pass:export pw",
        ],
    );
    let info = all_output(&info);
    assert!(info.contains("PBES2"), "{info}");
    assert!(info.contains("AES-256-CBC"), "{info}");
    assert!(info.contains("Shrouded Keybag"), "{info}");
    let certs = openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "out.p12",
            "-info",
            "-nokeys",
            "-passin",
            "pass:export pw",
        ],
    );
    let certs = text(&certs.stdout);
    assert!(
        certs.contains(text(&env.read(&alice.pem())).trim()),
        "{certs}"
    );
    // The key in the file is Alice's.
    openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "out.p12",
            "-nocerts",
            "-nodes",
            "-passin",
            "pass:export pw",
            "-out",
            "out.key.pem",
        ],
    );
    assert_eq!(
        public_key(d, "out.key.pem", &[]),
        public_key(d, &alice.key(), &[])
    );
    // A wrong password is refused by openssl (the MAC is real).
    let wrong = Command::new("openssl")
        .current_dir(d)
        .args([
            "pkcs12",
            "-in",
            "out.p12",
            "-info",
            "-noout",
            "-passin",
            "pass:wrong",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(!wrong.status.success(), "openssl accepted a wrong password");

    // NSS: pk12util into a fresh database; certutil lists the certificate with its key.
    fs::create_dir(d.join("nssdb")).expect("mkdir nssdb");
    run(Command::new("certutil").current_dir(d).args([
        "-N",
        "--empty-password",
        "-d",
        "sql:nssdb",
    ]));
    run(Command::new("pk12util").current_dir(d).args([
        "-i",
        "out.p12",
        "-d",
        "sql:nssdb",
        "-W",
        "export pw",
    ]));
    let listed = text(
        &run(Command::new("certutil")
            .current_dir(d)
            .args(["-L", "-d", "sql:nssdb"]))
        .stdout,
    );
    let user_line = listed
        .lines()
        .find(|l| l.trim_end().ends_with("u,u,u"))
        .unwrap_or_else(|| panic!("no certificate with a key in the NSS db:\n{listed}"));
    let nickname = user_line.trim_end().trim_end_matches("u,u,u").trim();
    let der = run(Command::new("certutil").current_dir(d).args([
        "-L",
        "-d",
        "sql:nssdb",
        "-n",
        nickname,
        "-r",
    ]))
    .stdout;
    assert_eq!(der, env.read(&alice.der()), "NSS holds Alice's certificate");
    let keys = text(
        &run(Command::new("certutil")
            .current_dir(d)
            .args(["-K", "-d", "sql:nssdb"]))
        .stdout,
    );
    assert_eq!(
        keys.lines().filter(|l| l.contains(" rsa ")).count(),
        1,
        "{keys}"
    );
}

/// A GnuPG home for one test; its gpg-agent is killed when this is dropped.
struct GnupgHome(PathBuf);

impl GnupgHome {
    fn new(path: PathBuf) -> GnupgHome {
        fs::create_dir(&path).expect("mkdir GNUPGHOME");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).expect("chmod GNUPGHOME");
        fs::write(path.join("gpg-agent.conf"), "allow-loopback-pinentry\n")
            .expect("write gpg-agent.conf");
        // Start the agent up front: gpgsm's own autostart can time out on a busy machine.
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &path)
            .args(["--launch", "gpg-agent"])
            .stdin(Stdio::null())
            .output();
        GnupgHome(path)
    }

    /// Kills and relaunches the agent (after a failed attempt on a loaded machine).
    fn restart_agent(&self) {
        for args in [["--kill", "gpg-agent"], ["--launch", "gpg-agent"]] {
            let _ = Command::new("gpgconf")
                .env("GNUPGHOME", &self.0)
                .args(args)
                .stdin(Stdio::null())
                .output();
        }
    }

    fn gpgsm(&self) -> Command {
        let mut cmd = Command::new("gpgsm");
        cmd.env("GNUPGHOME", &self.0)
            .args(["--batch", "--disable-dirmngr"]);
        cmd
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", &self.0)
            .args(["--kill", "all"])
            .stdin(Stdio::null())
            .output();
    }
}

#[test]
fn export_p12_legacy_read_by_gpgsm() {
    if !have("openssl") || !have("gpgsm") || !have("gpg-agent") || !have("gpgconf") {
        return;
    }
    let (env, alice) = env_with_alice();
    let d = env.dir();
    let out = env.certmail_env(
        &[
            "cert",
            "export",
            &alice.sha256,
            "--format",
            "p12",
            "--legacy",
            "--password-env",
            "OUT_PW",
            "-o",
            "legacy.p12",
        ],
        &[("OUT_PW", "gpg pw")],
    );
    assert_code(&out, 0, "legacy p12 export");
    let info = openssl(
        d,
        &[
            "pkcs12",
            "-in",
            "legacy.p12",
            "-info",
            "-noout",
            "-passin",
            "pass:gpg pw",
        ],
    );
    let info = all_output(&info);
    assert!(info.contains("MAC: sha1"), "{info}");
    assert!(info.contains("pbeWithSHA1And3-KeyTripleDES-CBC"), "{info}");
    assert!(!info.contains("PBES2"), "{info}");

    let home = GnupgHome::new(d.join("gnupg"));
    // gpg-agent is a separate daemon: on a loaded machine its answers can come late or not
    // at all (seen once in CI as gpgsm failing to decrypt with the loopback passphrase), so
    // the import is tried up to four times, the agent restarted and the wait doubled between
    // tries (a wrong file or password fails every time).
    let mut out = None;
    for attempt in 0..4u32 {
        if attempt > 0 {
            home.restart_agent();
            std::thread::sleep(std::time::Duration::from_millis(500 << attempt));
        }
        let o = run_with_stdin(
            home.gpgsm().current_dir(d).args([
                "--pinentry-mode",
                "loopback",
                "--passphrase-fd",
                "0",
                "--import",
                "legacy.p12",
            ]),
            b"gpg pw\n",
        );
        let ok = o.status.success();
        out = Some(o);
        if ok {
            break;
        }
    }
    let out = out.expect("one attempt");
    let log = all_output(&out);
    assert!(
        out.status.success(),
        "gpgsm --import failed ({}):\n{log}",
        out.status
    );
    assert!(log.contains("secret keys imported: 1"), "{log}");
    let listed = run(home
        .gpgsm()
        .args(["--with-colons", "--list-secret-keys"])
        .stdin(Stdio::null()));
    let listed = text(&listed.stdout);
    let fp2 = format!("fp2:::::::::{}:", alice.sha256.to_uppercase());
    assert!(listed.contains(&fp2), "Alice's key not in gpgsm:\n{listed}");
}

// ---------------------------------------------------------------------------------------------
// 5. Bad and odd input
// ---------------------------------------------------------------------------------------------

/// Asserts that `certmail ARGS` fails with exit code 1, names `file` and mentions `needle`
/// (case-insensitive), and leaves the store as it was.
fn assert_refused(env: &Env, args: &[&str], file: &str, needle: &str) {
    let before = env.snapshot();
    let out = env.certmail(args);
    assert_code(&out, 1, &format!("certmail {}", args.join(" ")));
    let msg = all_output(&out);
    assert!(
        msg.contains(file),
        "the message does not name {file}:\n{msg}"
    );
    assert!(
        msg.to_lowercase().contains(&needle.to_lowercase()),
        "the message does not mention {needle:?}:\n{msg}"
    );
    assert_eq!(env.snapshot(), before, "a failed import changed the store");
}

#[test]
fn bad_input_is_refused_and_changes_nothing() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    let alice = pki.alice();
    env.ok(&["cert", "import", &pki.root.pem(), &pki.inter.pem()]);

    // Truncated DER certificate.
    let der = env.read(&alice.der());
    env.write("truncated.der", &der[..der.len() - 20]);
    assert_refused(
        &env,
        &["cert", "import", "truncated.der"],
        "truncated.der",
        "failed",
    );

    // Garbage between PEM markers: not base64, and base64 of something that is not a certificate.
    env.write(
        "garbage.pem",
        "-----BEGIN CERTIFICATE-----\nThis is not base64 at all!\n-----END CERTIFICATE-----\n",
    );
    assert_refused(
        &env,
        &["cert", "import", "garbage.pem"],
        "garbage.pem",
        "failed",
    );
    env.write(
        "notcert.pem",
        "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQsIHRoaXMgaXMgbm90IGEgY2VydGlmaWNhdGUK\n-----END CERTIFICATE-----\n",
    );
    assert_refused(
        &env,
        &["cert", "import", "notcert.pem"],
        "notcert.pem",
        "failed",
    );

    // An empty file holds nothing to import.
    env.write("empty.pem", "");
    assert_refused(
        &env,
        &["cert", "import", "empty.pem"],
        "empty.pem",
        "failed",
    );

    // A good file and a bad one: the good one is imported, the exit code is 1.
    let r = env.import(&["cert", "import", &alice.pem(), "truncated.der"]);
    r.assert_code(1)
        .assert_tally(&[("certificate", "imported", 1), ("file", "failed", 1)]);
    assert_eq!(r.cert_ids("imported"), set([&*alice.sha256]));
    let failed: Vec<&Value> = r
        .items
        .iter()
        .filter(|i| s(i, "status") == "failed")
        .collect();
    assert_eq!(s(failed[0], "file"), "truncated.der");
    assert!(!s(failed[0], "detail").is_empty(), "{:?}", failed[0]);
    assert_eq!(env.certs().len(), 3);

    // Wrong PKCS#12 password: the message says so; nothing of the file is stored.
    let bob = pki.leaf(
        "bob",
        Alg::Ec,
        "/CN=Bob",
        "subjectAltName=email:bob@example.com",
        "0x0B",
    );
    pki.openssl_p12(&bob, "right", "bob.p12", &[]);
    env.write("wrong.txt", "wrong");
    assert_refused(
        &env,
        &["cert", "import", "bob.p12", "--password-file", "wrong.txt"],
        "bob.p12",
        "password",
    );
    // ... and so does a missing one.
    assert_refused(&env, &["cert", "import", "bob.p12"], "bob.p12", "password");

    // Duplicate import: present, nothing changes.
    let before = env.snapshot();
    env.import(&["cert", "import", &alice.der(), &pki.root.pem()])
        .assert_code(0)
        .assert_tally(&[("certificate", "present", 2)]);
    assert_eq!(env.snapshot(), before);
}

#[test]
fn pkcs12_without_key_and_key_without_certificate() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let pki = Pki::new(d);
    let alice = pki.alice();
    let chain = pki.chain_pem();

    // A PKCS#12 with certificates only: they are imported, no key.
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            &alice.pem(),
            "-certfile",
            &chain,
            "-passout",
            "pass:pw",
            "-out",
            "nokeys.p12",
        ],
    );
    env.write("pw.txt", "pw");
    let r = env.import(&["cert", "import", "nokeys.p12", "--password-file", "pw.txt"]);
    r.assert_code(0)
        .assert_tally(&[("certificate", "imported", 3)]);
    assert!(env.keys().is_empty());
    assert!(env.certs().iter().all(|c| !b(c, "has_key")));

    // A key without its certificate: stored, linked to nothing.
    let bob = pki.leaf(
        "bob",
        Alg::Ec,
        "/CN=Bob",
        "subjectAltName=email:bob@example.com",
        "0x0B",
    );
    env.import(&["key", "import", &bob.key()])
        .assert_code(0)
        .assert_tally(&[("key", "imported", 1)]);
    let keys = env.keys();
    assert_eq!(keys.len(), 1);
    assert_eq!(certificate_count(&keys[0]), 0, "{keys:?}");
    assert_eq!(env.certs().len(), 3);
    assert!(env.certs().iter().all(|c| !b(c, "has_key")));
}

/// `len` pseudo-random bytes (xorshift64*, fixed seed).
fn junk(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

#[test]
fn junk_50mb_fails_fast() {
    let env = Env::new();
    const LEN: usize = 50 * 1024 * 1024;
    env.write("junk.bin", junk(LEN, 0x9E37_79B9_7F4A_7C15));
    // The same junk behind a DER SEQUENCE header whose length covers the whole file.
    let mut seq = vec![0x30, 0x84];
    seq.extend_from_slice(&((LEN - 6) as u32).to_be_bytes());
    seq.extend(junk(LEN - 6, 42));
    env.write("junk.p12", seq);

    let before = env.snapshot();
    for file in ["junk.bin", "junk.p12"] {
        let start = Instant::now();
        let out = env.certmail(&["cert", "import", file]);
        let took = start.elapsed();
        assert_code(&out, 1, &format!("import of 50 MB of junk ({file})"));
        assert!(all_output(&out).contains(file), "{}", all_output(&out));
        assert!(took < Duration::from_secs(20), "{file}: took {took:?}");
    }
    assert_eq!(env.snapshot(), before);
}

// ---------------------------------------------------------------------------------------------
// 6. Secrets at rest
// ---------------------------------------------------------------------------------------------

/// All regular files under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).expect("read data dir") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn master_key_mode_and_no_plaintext_private_key() {
    if !have("openssl") {
        return;
    }
    let env = Env::new();
    let d = env.dir();
    let master = env.data.join("master.key");
    let mode = fs::metadata(&master)
        .expect("stat master.key")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "master.key has mode {:o}",
        mode & 0o777
    );

    let pki = Pki::new(d);
    let alice = pki.alice();
    env.import(&["key", "import", &alice.key()])
        .assert_code(0)
        .assert_tally(&[("key", "imported", 1)]);
    env.import(&["cert", "import", &alice.pem()]).assert_code(0);
    assert!(b(find(&env.certs(), &alice.sha256), "has_key"));
    // Still 0600 after use.
    let mode = fs::metadata(&master)
        .expect("stat master.key")
        .permissions()
        .mode();
    assert_eq!(
        mode & 0o777,
        0o600,
        "master.key has mode {:o}",
        mode & 0o777
    );

    // The private key in the forms it could be stored in: PKCS#8 and PKCS#1 DER, a window from
    // the middle of the private part, as hex, and the base64 lines of its PEM forms.
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-nocrypt",
            "-in",
            &alice.key(),
            "-outform",
            "DER",
            "-out",
            "k.p8.der",
        ],
    );
    openssl(
        d,
        &[
            "rsa",
            "-in",
            &alice.key(),
            "-traditional",
            "-outform",
            "DER",
            "-out",
            "k.p1.der",
        ],
    );
    openssl(
        d,
        &[
            "rsa",
            "-in",
            &alice.key(),
            "-traditional",
            "-out",
            "k.p1.pem",
        ],
    );
    let p8 = env.read("k.p8.der");
    let p1 = env.read("k.p1.der");
    let mid = p1.len() / 2;
    let window = p1[mid..mid + 48].to_vec();
    let mut needles: Vec<(String, Vec<u8>)> = vec![
        ("PKCS#8 DER".into(), p8),
        ("PKCS#1 DER".into(), p1.clone()),
        ("48 private-key bytes".into(), window.clone()),
        ("hex".into(), hex(&window).into_bytes()),
        ("HEX".into(), hex(&window).to_uppercase().into_bytes()),
    ];
    for pem in [alice.key(), "k.p1.pem".to_owned()] {
        for line in text(&env.read(&pem)).lines() {
            if line.len() == 64 && !line.starts_with("-----") {
                needles.push((format!("base64 line of {pem}"), line.as_bytes().to_vec()));
            }
        }
    }

    let files = files_under(&env.data);
    let db_files: Vec<&PathBuf> = files
        .iter()
        .filter(|f| fs::read(f).is_ok_and(|bytes| bytes.starts_with(b"SQLite format 3\0")))
        .collect();
    assert!(!db_files.is_empty(), "no SQLite database in {files:?}");
    let cert_der = env.read(&alice.der());
    let mut cert_seen = false;
    for file in &files {
        let bytes = fs::read(file).expect("read data file");
        cert_seen |= contains(&bytes, &cert_der);
        for (what, needle) in &needles {
            assert!(
                !contains(&bytes, needle),
                "{} holds the private key in the clear ({what})",
                file.display()
            );
        }
    }
    // The scan did read the store: the (public) certificate is in it.
    assert!(
        cert_seen,
        "the certificate's DER was not found in {files:?}"
    );
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
