//! CLI behaviour that needs no peer tool: back ends, KEK modes, exit codes, atomic imports.
//! Fixtures come from the deterministic test PKI.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certmail_testkit::{LeafSpec, TestPki};

struct Env {
    dir: tempfile::TempDir,
    database_url: Option<String>,
}

impl Env {
    fn sqlite() -> Env {
        Env {
            dir: tempfile::tempdir().expect("tempdir"),
            database_url: None,
        }
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write fixture");
        p
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_certmail"));
        c.arg("--data-dir").arg(self.data());
        if let Some(u) = &self.database_url {
            c.arg("--database-url").arg(u);
        }
        c.args(args)
            .env_remove("CERTMAIL_PASSPHRASE")
            .env_remove("CERTMAIL_DATA_DIR");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run certmail")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "certmail {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.ok(args)).expect("json output")
    }
}

/// An environment on a fresh PostgreSQL database (dropped with the second value), or
/// `None` (skip) when no server is configured outside CI.
fn pg_env(tag: &str) -> Option<(Env, common::pg::PgDb)> {
    let db = common::pg::PgDb::create(tag)?;
    let mut env = Env::sqlite();
    env.database_url = Some(db.url.clone());
    Some((env, db))
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exit code")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The state a failed operation must not change.
fn snapshot(env: &Env) -> (String, String, String) {
    (
        env.ok(&["cert", "list", "--json"]),
        env.ok(&["root", "list", "--json"]),
        env.ok(&["key", "list", "--json"]),
    )
}

fn import_and_list(env: &Env) {
    let pki = TestPki::new("Cli");
    let mut spec = LeafSpec::email("Dora@Example.COM", 42);
    spec.emails.push("dora2@example.com".into());
    let leaf = pki.leaf(&spec);
    let bundle = env.file(
        "bundle.pem",
        format!("{}{}{}", leaf.pem, pki.intermediate.pem, pki.root.pem),
    );
    let key = env.file("dora.key", &leaf.key_pem);
    env.ok(&["init"]);
    let out = env.ok(&["cert", "import", path(&bundle), "--trust-roots"]);
    assert_eq!(out.matches("imported certificate").count(), 3, "{out}");
    assert!(out.contains("(root store)"), "{out}");
    let out = env.ok(&["key", "import", path(&key)]);
    assert!(out.starts_with("imported key"), "{out}");
    let list = env.json(&["cert", "list", "--json"]);
    assert_eq!(list.as_array().expect("array").len(), 2);
    let dora = env.json(&["cert", "list", "--email", "DORA@example.com", "--json"]);
    assert_eq!(
        dora[0]["emails"],
        serde_json::json!(["dora@example.com", "dora2@example.com"])
    );
    assert_eq!(dora[0]["has_key"], true);
    assert_eq!(
        env.json(&["root", "list", "--json"])
            .as_array()
            .expect("roots")
            .len(),
        1
    );
    let sha = dora[0]["sha256"].as_str().expect("sha").to_owned();
    let pem = env.ok(&["cert", "export", &sha[..10], "--format", "pem", "--chain"]);
    assert_eq!(
        pem.matches("BEGIN CERTIFICATE").count(),
        3,
        "leaf + intermediate + root"
    );
    let shown = env.ok(&["cert", "show", &sha[..8]]);
    assert!(
        shown.contains("emailProtection") && shown.contains("EC P-256"),
        "{shown}"
    );
}

#[test]
fn sqlite_import_list_export() {
    import_and_list(&Env::sqlite());
}

#[test]
fn postgres_import_list_export() {
    let Some((env, _db)) = pg_env("cli") else {
        return;
    };
    import_and_list(&env);
    assert!(
        !env.data().join("certmail.db").exists(),
        "PostgreSQL run must not create the SQLite file"
    );
}

#[test]
fn a_bad_block_makes_the_whole_file_fail() {
    let env = Env::sqlite();
    let pki = TestPki::new("Atomic");
    env.ok(&["init"]);
    let before = snapshot(&env);
    let good = pki.leaf(&LeafSpec::email("good@example.com", 1));
    let broken = format!(
        "{}-----BEGIN CERTIFICATE-----\nMIIBroken=\n-----END CERTIFICATE-----\n",
        good.pem
    );
    let f = env.file("mixed.pem", broken);
    let out = env.run(&["cert", "import", path(&f)]);
    assert_eq!(code(&out), 1);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("failed") && text.contains("CERTIFICATE"),
        "{text}"
    );
    assert_eq!(snapshot(&env), before);
    // One good and one bad file: the good one lands, the bad one is reported, exit 1.
    let g = env.file("good.pem", &good.pem);
    let out = env.run(&["cert", "import", path(&g), path(&f), "--json"]);
    assert_eq!(code(&out), 1);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(rows[0]["status"], "imported");
    assert_eq!(rows[1]["status"], "failed");
    assert_eq!(
        env.json(&["cert", "list", "--json"])
            .as_array()
            .expect("list")
            .len(),
        1
    );
}

#[test]
fn passphrase_protected_key_store() {
    let env = Env::sqlite();
    let pki = TestPki::new("Pass");
    let leaf = pki.leaf(&LeafSpec::email("p@example.com", 1));
    let key = env.file("p.key", &leaf.key_pem);
    let out = env
        .cmd(&["init"])
        .env("CERTMAIL_PASSPHRASE", "correct horse")
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!env.data().join("master.key").exists());
    assert!(env.data().join("kek.json").exists());
    let out = env
        .cmd(&["key", "import", path(&key)])
        .env("CERTMAIL_PASSPHRASE", "correct horse")
        .output()
        .expect("import");
    assert!(out.status.success(), "{}", stderr(&out));
    let out = env.run(&["key", "list"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("CERTMAIL_PASSPHRASE"),
        "{}",
        stderr(&out)
    );
    let out = env
        .cmd(&["key", "list"])
        .env("CERTMAIL_PASSPHRASE", "wrong")
        .output()
        .expect("list");
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("wrong passphrase"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn init_refuses_to_overwrite_and_commands_need_init() {
    let env = Env::sqlite();
    let out = env.run(&["cert", "list"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("certmail init"), "{}", stderr(&out));
    env.ok(&["init"]);
    let key = std::fs::read(env.data().join("master.key")).expect("key");
    let out = env.run(&["init"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("refusing to overwrite"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read(env.data().join("master.key")).expect("key"),
        key
    );
}

#[test]
fn usage_errors_exit_2() {
    let env = Env::sqlite();
    env.ok(&["init"]);
    assert_eq!(code(&env.run(&["cert", "frobnicate"])), 2);
    assert_eq!(
        code(&env.run(&["cert", "list", "--expired", "sometimes"])),
        2
    );
    assert_eq!(
        code(&env.run(&["cert", "export", "00", "--format", "p12"])),
        2,
        "p12 without password"
    );
    assert_eq!(
        code(&env.run(&["cert", "export", "00", "--format", "pem", "--legacy"])),
        2
    );
    let out = env.run(&["cert", "show", "00"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("no entry"), "{}", stderr(&out));
}

#[test]
fn key_delete_is_refused_while_in_use() {
    let env = Env::sqlite();
    let pki = TestPki::new("KeyDel");
    let leaf = pki.leaf(&LeafSpec::email("kd@example.com", 1));
    let both = env.file("kd.pem", format!("{}{}", leaf.pem, leaf.key_pem));
    env.ok(&["init"]);
    env.ok(&["key", "import", path(&both)]);
    let keys = env.json(&["key", "list", "--json"]);
    let id = keys[0]["key_id"].as_str().expect("id").to_owned();
    let out = env.run(&["key", "delete", &id[..12]]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));
    assert_eq!(env.json(&["key", "list", "--json"]), keys);
    env.ok(&["key", "delete", &id[..12], "--force"]);
    assert_eq!(env.json(&["cert", "list", "--json"])[0]["has_key"], false);
}

#[test]
fn crl_store_keeps_the_newest_valid_crl_per_issuer() {
    use certmail_testkit::{CrlEntry, CrlSpec};
    let env = Env::sqlite();
    let pki = TestPki::new("CrlStore");
    let ca = pki.intermediate_ca();
    let leaf = pki.leaf(&LeafSpec::email("crl@example.com", 42));
    let now = certmail_testkit::unix_date(2025, 6, 1);
    let spec = |number: u64, revoked: &[u64]| CrlSpec {
        entries: revoked
            .iter()
            .map(|s| CrlEntry {
                serial: *s,
                reason: Some(1),
                certificate_issuer: None,
            })
            .collect(),
        number,
        delta_base: None,
        indirect: false,
        this_update: now,
        next_update: certmail_testkit::unix_date(2040, 1, 1),
    };
    env.ok(&["init"]);
    env.ok(&["root", "import", path(&env.file("root.pem", &pki.root.pem))]);
    env.ok(&[
        "cert",
        "import",
        path(&env.file("chain.pem", format!("{}{}", leaf.pem, pki.intermediate.pem))),
    ]);
    let status = |env: &Env| -> String {
        let rows = env.json(&["cert", "list", "--email", "crl@example.com", "--json"]);
        rows[0]["status"].as_str().expect("status").to_owned()
    };
    assert_eq!(status(&env), "valid");

    let crl2 = env.file("2.crl", ca.crl(&spec(2, &[42])));
    let out = env.ok(&["crl", "import", path(&crl2)]);
    assert!(out.starts_with("current CRL"), "{out}");
    assert_eq!(status(&env), "revoked");

    // An older CRL never replaces a newer one, even though it would make the leaf valid.
    let crl1 = env.file("1.crl", ca.crl(&spec(1, &[])));
    let out = env.ok(&["crl", "import", path(&crl1)]);
    assert!(
        out.starts_with("stored CRL") && out.contains("older"),
        "{out}"
    );
    assert_eq!(status(&env), "revoked");

    // A newer one replaces it.
    let crl3 = env.file("3.crl", ca.crl(&spec(3, &[])));
    let out = env.ok(&["crl", "import", path(&crl3)]);
    assert!(out.starts_with("current CRL"), "{out}");
    assert_eq!(status(&env), "valid");
    let list = env.json(&["crl", "list", "--json"]);
    let current: Vec<&str> = list
        .as_array()
        .expect("crls")
        .iter()
        .filter(|c| c["current"] == true)
        .map(|c| c["number"].as_str().expect("number"))
        .collect();
    assert_eq!(current, ["03"]);

    // A CRL from an issuer the stores do not hold is kept, marked unusable with the reason.
    let stranger = TestPki::new("Stranger").intermediate_ca();
    let s = env.file("s.crl", stranger.crl(&spec(7, &[42])));
    let out = env.ok(&["crl", "import", path(&s)]);
    assert!(
        out.starts_with("stored CRL") && out.contains("not in the stores"),
        "{out}"
    );
    assert_eq!(status(&env), "valid");
    // Re-import is idempotent; garbage is refused and changes nothing.
    assert!(
        env.ok(&["crl", "import", path(&crl3)])
            .starts_with("present")
    );
    let before = env.ok(&["crl", "list", "--json"]);
    let junk = env.file("junk.crl", b"\x30\x03\x02\x01\x00");
    assert_eq!(code(&env.run(&["crl", "import", path(&junk)])), 1);
    assert_eq!(env.ok(&["crl", "list", "--json"]), before);
    let sha = list[0]["sha256"].as_str().expect("sha").to_owned();
    assert!(env.ok(&["crl", "show", &sha[..12]]).contains("Issuer:"));
    env.ok(&["crl", "delete", &sha[..12]]);
    assert_eq!(
        env.json(&["crl", "list", "--json"])
            .as_array()
            .expect("crls")
            .len(),
        3
    );
}

#[test]
fn stateless_verify_exit_codes() {
    let env = Env::sqlite();
    let pki = TestPki::new("Stateless");
    let leaf = env.file(
        "leaf.pem",
        pki.leaf(&LeafSpec::email("v@example.com", 3)).pem,
    );
    let root = env.file("root.pem", &pki.root.pem);
    let int = env.file("int.pem", &pki.intermediate.pem);
    let at = "2030-01-01T00:00:00Z";
    let ok = env.run(&[
        "verify",
        path(&leaf),
        "--root",
        path(&root),
        "--intermediate",
        path(&int),
        "--at",
        at,
        "--purpose",
        "smime-sign",
        "--email",
        "V@example.com",
    ]);
    assert_eq!(code(&ok), 0, "{}", stderr(&ok));
    let missing = env.run(&["verify", path(&leaf), "--root", path(&root), "--at", at]);
    assert_eq!(code(&missing), 1);
    assert!(
        stderr(&missing).contains("untrusted"),
        "{}",
        stderr(&missing)
    );
    let expired = env.run(&[
        "verify",
        path(&leaf),
        "--root",
        path(&root),
        "--intermediate",
        path(&int),
        "--at",
        "2040-01-01T00:00:00Z",
        "--json",
    ]);
    assert_eq!(code(&expired), 1);
    let v: serde_json::Value = serde_json::from_slice(&expired.stdout).expect("json");
    assert_eq!(v["status"], "expired");
    let wrong_mail = env.run(&[
        "verify",
        path(&leaf),
        "--root",
        path(&root),
        "--intermediate",
        path(&int),
        "--at",
        at,
        "--email",
        "x@example.com",
    ]);
    assert_eq!(code(&wrong_mail), 1);
    let garbage = env.file(
        "g.pem",
        "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
    );
    assert_eq!(
        code(&env.run(&["verify", path(&garbage), "--root", path(&root)])),
        2
    );
    assert_eq!(
        code(&env.run(&[
            "verify",
            path(&leaf),
            "--root",
            path(&root),
            "--at",
            "tomorrow"
        ])),
        2
    );
}

/// A SQLite data directory with a root, its intermediate and pat@example.com's
/// certificate (without its key) imported.
fn env_with_pat(pki_name: &str) -> Env {
    let env = Env::sqlite();
    let pki = TestPki::new(pki_name);
    let leaf = pki.leaf(&LeafSpec::email("pat@example.com", 5));
    env.ok(&["init"]);
    env.ok(&["root", "import", path(&env.file("root.pem", &pki.root.pem))]);
    env.ok(&[
        "cert",
        "import",
        path(&env.file("c.pem", format!("{}{}", leaf.pem, pki.intermediate.pem))),
    ]);
    env
}

#[test]
fn settings_and_selection_commands() {
    let env = env_with_pat("Policy");
    env.ok(&["global", "set", "sign", "on"]);
    env.ok(&["domain", "set", "*.example.com", "encrypt-mode", "force"]);
    env.ok(&["domain", "set", "example.com", "locality", "internal"]);
    let shown = env.json(&["user", "show", "pat@example.com", "--json"]);
    let get = |k: &str| {
        shown
            .as_array()
            .expect("settings")
            .iter()
            .find(|s| s["key"] == k)
            .cloned()
            .expect("key")
    };
    assert_eq!(get("sign")["source"], "global");
    assert_eq!(get("locality")["source"], "domain example.com");
    assert_eq!(
        get("encrypt-mode")["value"],
        "allow",
        "*.example.com does not cover example.com itself"
    );
    let r = env.json(&["recipients", "pat@example.com", "--json"]);
    assert_eq!(r[0]["encryption"][0]["source"], "automatic");
    assert!(r[0]["signing"].is_null(), "no key: nothing to sign with");
    let sha = r[0]["encryption"][0]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    let out = env.run(&["select", "signing", "pat@example.com", "--set", &sha]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("private key"), "{}", stderr(&out));
    let out = env.run(&["select", "encryption", "pat@example.com", "--remove", &sha]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("automatically"), "{}", stderr(&out));
    env.ok(&["select", "additional", "global", "--add", &sha]);
    let r = env.json(&["recipients", "someone@else.example", "--json"]);
    assert_eq!(r[0]["encryption"][0]["source"], "additional (global)");
    assert_eq!(
        code(&env.run(&["user", "set", "pat@example.com", "colour", "blue"])),
        1
    );
    assert_eq!(
        code(&env.run(&["user", "set", "not-an-address", "sign", "on"])),
        2
    );
    env.ok(&["user", "unset", "pat@example.com", "sign"]);
}

#[test]
fn user_and_domain_delete() {
    let env = env_with_pat("Delete");
    let sha = env.json(&["cert", "list", "--json", "--email", "pat@example.com"])[0]["sha256"]
        .as_str()
        .expect("sha")
        .to_owned();
    env.ok(&["domain", "set", "example.com", "sign", "on"]);
    env.ok(&["user", "set", "pat@example.com", "encrypt-mode", "force"]);
    env.ok(&["user", "set", "pat@example.com", "locality", "internal"]);
    env.ok(&["select", "additional", "pat@example.com", "--add", &sha]);
    env.ok(&["user", "set", "kim@example.com", "sign", "off"]);

    let out = env.ok(&["user", "delete", "Pat@Example.com"]);
    assert!(
        out.contains("deleted user pat@example.com")
            && out.contains("2 setting(s), 1 selection(s)"),
        "{out}"
    );
    // Back to what the domain and the defaults say; the certificate stays.
    let shown = env.json(&["user", "show", "pat@example.com", "--json"]);
    for s in shown.as_array().expect("settings") {
        assert_ne!(s["source"], "user", "{s}");
    }
    let r = env.json(&["recipients", "pat@example.com", "--json"]);
    assert_eq!(r[0]["encryption"][0]["source"], "automatic", "{r}");
    assert_eq!(r[0]["encryption"].as_array().map(Vec::len), Some(1), "{r}");
    env.ok(&["cert", "show", &sha]);
    // Another user keeps everything.
    let kim = env.json(&["user", "show", "kim@example.com", "--json"]);
    assert!(
        kim.as_array()
            .expect("settings")
            .iter()
            .any(|s| s["key"] == "sign" && s["source"] == "user"),
        "{kim}"
    );

    // An unknown one: exit 1, named; a wrong kind of name: usage (exit 2).
    let out = env.run(&["user", "delete", "nobody@example.com"]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("nobody@example.com"),
        "{}",
        stderr(&out)
    );
    assert_eq!(code(&env.run(&["user", "delete", "example.com"])), 2);
    assert_eq!(code(&env.run(&["domain", "delete", "pat@example.com"])), 2);
    assert_eq!(code(&env.run(&["domain", "delete"])), 2);

    let out = env.ok(&["domain", "delete", "example.com"]);
    assert!(out.contains("deleted domain example.com"), "{out}");
    let shown = env.json(&["domain", "show", "example.com", "--json"]);
    assert!(
        shown
            .as_array()
            .expect("settings")
            .iter()
            .any(|s| s["key"] == "sign" && s["source"] == "default"),
        "{shown}"
    );
    assert_eq!(code(&env.run(&["domain", "delete", "example.com"])), 1);

    // Both deletions (and the failed attempts) are in the audit log.
    let log = env.json(&["audit", "--json"]);
    let entries: Vec<(&str, &str, &str)> = log
        .as_array()
        .expect("log")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or(""),
                e["object"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    for want in [
        ("user.delete", "pat@example.com", "ok"),
        ("user.delete", "nobody@example.com", "failed"),
        ("domain.delete", "example.com", "ok"),
        ("domain.delete", "example.com", "failed"),
    ] {
        assert!(entries.contains(&want), "{want:?} not in {entries:?}");
    }
}

#[test]
fn built_in_ca_issues_revokes_and_delivers() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "openssl missing in CI");
        return;
    }
    let env = Env::sqlite();
    env.ok(&["init"]);
    let out = env.run(&[
        "ca",
        "create",
        "--root-cn",
        "Same",
        "--intermediate-cn",
        "same",
    ]);
    assert_eq!(code(&out), 1, "equal common names are refused");
    assert_eq!(
        code(&env.run(&[
            "ca",
            "create",
            "--root-cn",
            "R",
            "--intermediate-cn",
            "I",
            "--key",
            "rsa1024"
        ])),
        2
    );
    assert_eq!(
        code(&env.run(&[
            "ca",
            "create",
            "--root-cn",
            "R",
            "--intermediate-cn",
            "I",
            "--sig",
            "sha1"
        ])),
        2
    );
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Test Root CA",
        "--intermediate-cn",
        "Test S/MIME CA",
    ]);
    let out = env.ok(&[
        "ca",
        "issue",
        "--email",
        "Carol@Example.com",
        "--cn",
        "Carol",
        "--add-user",
    ]);
    let sha = out
        .split_whitespace()
        .nth(1)
        .expect("thumbprint")
        .to_owned();
    assert_eq!(
        code(&env.run(&["ca", "issue", "--email", "not-an-address", "--cn", "X"])),
        1
    );
    // A subject value with a line break or a text-direction override is refused (issue 25).
    for cn in [
        "Mallory\r\nBcc: all@example.com",
        "Mallory\u{202e}moc.elpmaxe",
    ] {
        let out = env.run(&["ca", "issue", "--email", "m@example.com", "--cn", cn]);
        assert_eq!(code(&out), 1, "{cn:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("control or text-direction"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let dir = env.dir.path();
    let roots = env.json(&["root", "list", "--json"]);
    let root_sha = roots[0]["sha256"].as_str().expect("root").to_owned();
    let cas = env.json(&["ca", "list", "--json"]);
    let int_sha = cas[0]["intermediate"].as_str().expect("int").to_owned();
    for (t, f) in [
        (&root_sha, "root.pem"),
        (&int_sha, "int.pem"),
        (&sha, "leaf.pem"),
    ] {
        env.ok(&[
            "cert",
            "export",
            t,
            "--format",
            "pem",
            "-o",
            path(&dir.join(f)),
        ]);
    }
    let openssl = |args: &[&str]| {
        Command::new("openssl")
            .current_dir(dir)
            .args(args)
            .output()
            .expect("openssl")
    };
    for purpose in ["smimesign", "smimeencrypt"] {
        let o = openssl(&[
            "verify",
            "-purpose",
            purpose,
            "-CAfile",
            "root.pem",
            "-untrusted",
            "int.pem",
            "leaf.pem",
        ]);
        assert!(
            o.status.success(),
            "{purpose}: {}",
            String::from_utf8_lossy(&o.stdout)
        );
    }
    // Revoke, publish a CRL, and OpenSSL agrees it is revoked.
    env.ok(&["ca", "revoke", &sha, "--reason", "keyCompromise"]);
    env.ok(&["ca", "crl", "-o", path(&dir.join("ca.crl"))]);
    let o = openssl(&[
        "crl", "-in", "ca.crl", "-CAfile", "int.pem", "-noout", "-verify",
    ]);
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("verify OK"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = openssl(&[
        "verify",
        "-crl_check",
        "-CRLfile",
        "ca.crl",
        "-CAfile",
        "root.pem",
        "-untrusted",
        "int.pem",
        "leaf.pem",
    ]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("revoked")
            || String::from_utf8_lossy(&o.stderr).contains("revoked")
    );
    let rows = env.json(&["cert", "list", "--email", "carol@example.com", "--json"]);
    assert_eq!(rows[0]["status"], "revoked");
    // The CRL number increases with every CRL.
    env.ok(&["ca", "crl"]);
    assert_eq!(env.json(&["ca", "list", "--json"])[0]["crl_number"], 2);
    // PKCS#12 delivery with a generated password, read back by OpenSSL.
    let out = env.ok(&["ca", "p12", &sha, "-o", path(&dir.join("carol.p12"))]);
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password printed")
        .to_owned();
    assert_eq!(pw.len(), 16);
    let o = openssl(&[
        "pkcs12",
        "-in",
        "carol.p12",
        "-passin",
        &format!("pass:{pw}"),
        "-noout",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn bulk_csv_preview_run_resume_and_renew() {
    let env = Env::sqlite();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Bulk Root",
        "--intermediate-cn",
        "Bulk CA",
        "--key",
        "p256",
    ]);
    let csv = env.file("b.csv", "EMAIL,cn,o\nu1@example.com,\"One, U\",Ex\nnot-mail,Two,\nu3@example.com,Three,\nu1@example.com,Dup,\n");
    let before = env.ok(&["cert", "list", "--json"]);
    let out = env.run(&["ca", "bulk", path(&csv), "--preview"]);
    assert_eq!(code(&out), 1, "row errors make the exit code 1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("line 3, column EMAIL")
            && text.contains("duplicate of line 2")
            && text.contains("2 request(s) valid"),
        "{text}"
    );
    assert_eq!(
        env.ok(&["cert", "list", "--json"]),
        before,
        "a preview issues nothing"
    );
    let r: serde_json::Value = serde_json::from_slice(
        &env.run(&["ca", "bulk", path(&csv), "--key", "p256", "--json"])
            .stdout,
    )
    .expect("json");
    assert_eq!(r["issued"].as_array().expect("issued").len(), 2);
    // Resumed / re-run: nothing twice.
    let r: serde_json::Value = serde_json::from_slice(
        &env.run(&["ca", "bulk", path(&csv), "--key", "p256", "--json"])
            .stdout,
    )
    .expect("json");
    assert_eq!(r["issued"].as_array().expect("issued").len(), 0);
    assert_eq!(r["skipped"].as_array().expect("skipped").len(), 2);
    let rows = env.json(&["cert", "list", "--email", "u1@example.com", "--json"]);
    assert_eq!(rows.as_array().expect("rows").len(), 1);
    assert_eq!(
        rows[0]["subject"],
        "emailAddress=u1@example.com,O=Ex,CN=One\\, U"
    );
    // Renew keeps subject and address; with --same-key the key id is unchanged.
    let sha = rows[0]["sha256"].as_str().expect("sha").to_owned();
    let key_id = rows[0]["key_id"].as_str().expect("key").to_owned();
    env.ok(&["ca", "renew", &sha, "--same-key", "--days", "30"]);
    env.ok(&["ca", "renew", &sha]);
    let rows = env.json(&["cert", "list", "--email", "u1@example.com", "--json"]);
    assert_eq!(rows.as_array().expect("rows").len(), 3);
    assert!(
        rows.as_array()
            .expect("rows")
            .iter()
            .all(|r| r["subject"] == "emailAddress=u1@example.com,O=Ex,CN=One\\, U")
    );
    assert_eq!(
        rows.as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["key_id"] == key_id.as_str())
            .count(),
        2
    );
}

#[test]
fn csr_handler_pending_queue_and_external_csrs() {
    if Command::new("openssl").arg("version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "openssl missing in CI");
        return;
    }
    let env = Env::sqlite();
    let dir = env.dir.path().to_owned();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Q Root",
        "--intermediate-cn",
        "Q CA",
        "--key",
        "p256",
    ]);
    let out = env.ok(&[
        "ca",
        "request",
        "--handler",
        "csr",
        "--email",
        "q@example.com",
        "--cn",
        "Q User",
        "--key",
        "p256",
    ]);
    assert!(out.starts_with("pending request 1"), "{out}");
    let pending = env.json(&["ca", "pending", "list", "--json"]);
    assert_eq!(pending[0]["email"], "q@example.com");
    // The key waits in the key store without a certificate.
    let keys = env.json(&["key", "list", "--json"]);
    assert!(
        keys.as_array()
            .expect("keys")
            .iter()
            .any(|k| k["key_id"] == pending[0]["key_id"]
                && k["certificates"].as_array().is_some_and(Vec::is_empty))
    );
    env.ok(&[
        "ca",
        "pending",
        "download",
        "1",
        "-o",
        path(&dir.join("q.csr")),
    ]);
    let o = Command::new("openssl")
        .current_dir(&dir)
        .args(["req", "-in", "q.csr", "-noout", "-verify"])
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("verify OK")
            || String::from_utf8_lossy(&o.stdout).contains("verify OK")
    );
    env.ok(&["ca", "pending", "reschedule", "1", "--delay", "3600"]);
    // An external CA signs it (here: our own sign-csr); the upload completes the request.
    env.ok(&[
        "ca",
        "sign-csr",
        path(&dir.join("q.csr")),
        "-o",
        path(&dir.join("q.pem")),
    ]);
    let out = env.ok(&["ca", "pending", "upload", path(&dir.join("q.pem"))]);
    assert!(out.contains("key linked: yes"), "{out}");
    assert!(
        env.json(&["ca", "pending", "list", "--json"])
            .as_array()
            .expect("rows")
            .is_empty()
    );
    // An OpenSSL-made CSR is signed; a tampered one is refused.
    let run = |args: &[&str]| {
        Command::new("openssl")
            .current_dir(&dir)
            .args(args)
            .output()
            .expect("openssl")
    };
    run(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "x.key",
        "-out",
        "x.csr",
        "-subj",
        "/CN=X User/emailAddress=x@example.com",
    ]);
    let out = env.ok(&["ca", "sign-csr", path(&dir.join("x.csr"))]);
    assert!(out.contains("x@example.com"), "{out}");
    let der = run(&["req", "-in", "x.csr", "-outform", "der"]).stdout;
    let mut bad = der.clone();
    let n = bad.len();
    bad[n - 10] ^= 0x55;
    let badfile = env.file("bad.csr", &bad);
    let out = env.run(&["ca", "sign-csr", path(&badfile)]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("CSR"), "{}", stderr(&out));
    // Deleting a pending request deletes its unused key.
    env.ok(&[
        "ca",
        "request",
        "--handler",
        "csr",
        "--email",
        "gone@example.com",
        "--cn",
        "Gone",
        "--key",
        "p256",
    ]);
    let before = env
        .json(&["key", "list", "--json"])
        .as_array()
        .expect("keys")
        .len();
    env.ok(&["ca", "pending", "delete", "2"]);
    assert_eq!(
        env.json(&["key", "list", "--json"])
            .as_array()
            .expect("keys")
            .len(),
        before - 1
    );
}

#[test]
fn ca_configuration_and_delivery_rules() {
    let env = Env::sqlite();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Cfg Root",
        "--intermediate-cn",
        "Cfg CA",
        "--key",
        "p256",
    ]);
    let cfg = env.json(&["ca", "config", "--json"]);
    assert_eq!(cfg["password_length"], 16);
    assert_eq!(cfg["request_handler"], "built-in");
    env.ok(&["ca", "config", "key", "p256"]);
    env.ok(&["ca", "config", "validity-days", "90"]);
    env.ok(&["ca", "config", "password-length", "24"]);
    env.ok(&["ca", "config", "store-password", "on"]);
    env.ok(&[
        "ca",
        "config",
        "crl-distribution-point",
        "http://crl.example.com/ca.crl",
    ]);
    env.ok(&["ca", "config", "add-crl-distribution-point", "on"]);
    assert_eq!(code(&env.run(&["ca", "config", "key", "rsa1024"])), 1);
    assert_eq!(code(&env.run(&["ca", "config", "colour", "blue"])), 1);
    assert_eq!(code(&env.run(&["ca", "config", "password-length", "4"])), 1);
    // Issuance takes the configured defaults.
    let out = env.ok(&["ca", "issue", "--email", "dee@example.com", "--cn", "Dee"]);
    let sha = out.split_whitespace().nth(1).expect("sha").to_owned();
    let c = env.json(&["cert", "show", &sha, "--json"]);
    assert_eq!(c["public_key"]["curve"], "P-256");
    assert_eq!(
        c["crl_distribution_points"][0],
        "http://crl.example.com/ca.crl"
    );
    let days =
        (c["not_after"].as_i64().expect("na") - c["not_before"].as_i64().expect("nb")) / 86_400;
    assert_eq!(days, 90);
    // Delivery: a mismatching recipient needs --allow-mismatch; the password is stored.
    let p12 = env.dir.path().join("dee.p12");
    let out = env.run(&[
        "ca",
        "p12",
        &sha,
        "--to",
        "someone@example.com",
        "-o",
        path(&p12),
    ]);
    assert_eq!(code(&out), 1);
    assert!(
        stderr(&out).contains("--allow-mismatch"),
        "{}",
        stderr(&out)
    );
    assert!(!p12.exists());
    let out = env.ok(&["ca", "p12", &sha, "-o", path(&p12)]);
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password");
    assert_eq!(pw.len(), 24);
    let shown = env.json(&["user", "show", "dee@example.com", "--json"]);
    assert!(
        shown
            .as_array()
            .expect("s")
            .iter()
            .any(|s| s["key"] == "pfx-password" && s["value"] == "(set)")
    );
    env.ok(&[
        "ca",
        "p12",
        &sha,
        "--to",
        "someone@example.com",
        "--allow-mismatch",
        "-o",
        path(&p12),
    ]);
}

#[test]
fn ca_certificates_pass_nss_and_gpgsm() {
    let have = |tool: &str| Command::new(tool).arg("--help").output().is_ok();
    if !have("certutil") || !have("gpgsm") {
        assert!(
            std::env::var_os("CI").is_none(),
            "certutil/gpgsm missing in CI"
        );
        eprintln!("skipping: certutil or gpgsm not installed");
        return;
    }
    let env = Env::sqlite();
    let dir = env.dir.path().to_owned();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Nss Root",
        "--intermediate-cn",
        "Nss CA",
    ]);
    let rsa = env.ok(&[
        "ca",
        "issue",
        "--email",
        "rsa@example.com",
        "--cn",
        "Rsa User",
        "--key",
        "rsa2048",
    ]);
    let ec = env.ok(&[
        "ca",
        "issue",
        "--email",
        "ec@example.com",
        "--cn",
        "Ec User",
        "--key",
        "p256",
    ]);
    let root = env.json(&["root", "list", "--json"])[0]["sha256"]
        .as_str()
        .expect("root")
        .to_owned();
    let int = env.json(&["ca", "list", "--json"])[0]["intermediate"]
        .as_str()
        .expect("int")
        .to_owned();
    let rsa_sha = rsa.split_whitespace().nth(1).expect("sha").to_owned();
    let ec_sha = ec.split_whitespace().nth(1).expect("sha").to_owned();
    for (t, f) in [
        (&root, "root.pem"),
        (&int, "int.pem"),
        (&rsa_sha, "rsa.pem"),
        (&ec_sha, "ec.pem"),
    ] {
        env.ok(&[
            "cert",
            "export",
            t,
            "--format",
            "pem",
            "-o",
            path(&dir.join(f)),
        ]);
    }
    let db = format!("sql:{}", dir.join("nss").display());
    std::fs::create_dir(dir.join("nss")).expect("nss dir");
    let certutil = |args: &[&str]| {
        Command::new("certutil")
            .args(args)
            .output()
            .expect("certutil")
    };
    assert!(
        certutil(&["-N", "--empty-password", "-d", &db])
            .status
            .success()
    );
    for (nick, file, trust) in [
        ("root", "root.pem", "C,C,C"),
        ("int", "int.pem", ",,"),
        ("rsa", "rsa.pem", ",,"),
        ("ec", "ec.pem", ",,"),
    ] {
        let o = certutil(&[
            "-A",
            "-d",
            &db,
            "-n",
            nick,
            "-t",
            trust,
            "-i",
            path(&dir.join(file)),
        ]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for nick in ["rsa", "ec"] {
        for usage in ["S", "R"] {
            let o = certutil(&["-V", "-d", &db, "-n", nick, "-u", usage]);
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            assert!(
                text.contains("certificate is valid"),
                "{nick} -u {usage}: {text}"
            );
        }
    }
    // The modern PKCS#12 is read by NSS pk12util.
    let modern = dir.join("ec.p12");
    let out = env.ok(&["ca", "p12", &ec_sha, "-o", path(&modern)]);
    let mpw = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password")
        .to_owned();
    let o = Command::new("pk12util")
        .args(["-i", path(&modern), "-d", &db, "-W", &mpw])
        .output()
        .expect("pk12util");
    assert!(
        o.status.success(),
        "pk12util: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let keys = certutil(&["-K", "-d", &db]);
    assert!(
        String::from_utf8_lossy(&keys.stdout)
            .to_lowercase()
            .contains("ec"),
        "{}",
        String::from_utf8_lossy(&keys.stdout)
    );
    // The legacy PKCS#12 is imported by gpgsm (which cannot read the modern form).
    let p12 = dir.join("rsa.p12");
    let out = env.ok(&["ca", "p12", &rsa_sha, "--legacy", "-o", path(&p12)]);
    let pw = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("password")
        .to_owned();
    let home = dir.join("gnupg");
    std::fs::create_dir(&home).expect("home");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    std::fs::write(home.join("gpg-agent.conf"), "allow-loopback-pinentry\n").expect("agent conf");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--launch", "gpg-agent"])
        .output();
    let mut child = Command::new("gpgsm")
        .env("GNUPGHOME", &home)
        .args([
            "--batch",
            "--disable-dirmngr",
            "--pinentry-mode",
            "loopback",
            "--passphrase-fd",
            "0",
            "--import",
            path(&p12),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("gpgsm");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin");
        writeln!(stdin, "{pw}").expect("write");
    }
    let o = child.wait_with_output().expect("gpgsm");
    let listed = Command::new("gpgsm")
        .env("GNUPGHOME", &home)
        .args([
            "--batch",
            "--disable-dirmngr",
            "--with-colons",
            "--list-secret-keys",
        ])
        .output()
        .expect("list");
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &home)
        .args(["--kill", "all"])
        .output();
    assert!(
        o.status.success(),
        "gpgsm import: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        String::from_utf8_lossy(&listed.stdout)
            .to_uppercase()
            .contains(&rsa_sha.to_uppercase()),
        "{}",
        String::from_utf8_lossy(&listed.stdout)
    );
}

#[test]
fn ca_intermediate_under_existing_root_and_ca_import() {
    let env = Env::sqlite();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Top Root",
        "--intermediate-cn",
        "First CA",
        "--key",
        "p256",
    ]);
    let out = env.ok(&[
        "ca",
        "create",
        "--under",
        "First CA",
        "--intermediate-cn",
        "Second CA",
        "--key",
        "p256",
        "--default",
    ]);
    assert!(
        out.contains("Second CA") && out.contains("default"),
        "{out}"
    );
    let cas = env.json(&["ca", "list", "--json"]);
    assert_eq!(cas.as_array().expect("cas").len(), 2);
    assert_eq!(cas[0]["root"], cas[1]["root"], "same root");
    assert_eq!(
        cas.as_array()
            .expect("cas")
            .iter()
            .filter(|c| c["default"] == true)
            .count(),
        1
    );
    let out = env.ok(&["ca", "issue", "--email", "s@example.com", "--cn", "S"]);
    let sha = out.split_whitespace().nth(1).expect("sha").to_owned();
    let v = env.json(&["cert", "verify", &sha, "--json"]);
    assert_eq!(v["status"], "valid");
    assert_eq!(v["chain_subjects"][1], "CN=Second CA");
    env.ok(&["ca", "default", "First CA"]);
    assert_eq!(env.json(&["ca", "list", "--json"])[0]["default"], true);

    // Importing an existing CA (certificate + key) from another installation.
    let other = Env::sqlite();
    other.ok(&["init"]);
    let pki = TestPki::new("Imported");
    let root = other.file("root.pem", &pki.root.pem);
    let key_file = other.file("root.key", &pki.root.key_pem);
    other.ok(&[
        "ca",
        "import",
        "--cert",
        path(&root),
        "--key",
        path(&key_file),
    ]);
    let out = other.ok(&[
        "ca",
        "issue",
        "--email",
        "i@example.com",
        "--cn",
        "I",
        "--key",
        "p256",
    ]);
    let sha = out.split_whitespace().nth(1).expect("sha").to_owned();
    assert_eq!(
        other.json(&["cert", "verify", &sha, "--json"])["status"],
        "valid"
    );
    // A key that does not belong to the certificate is refused.
    let wrong = other.file("wrong.key", &pki.intermediate.key_pem);
    assert_eq!(
        code(&other.run(&["ca", "import", "--cert", path(&root), "--key", path(&wrong)])),
        1
    );
}

#[test]
fn refresh_self_signed_domain_certificate() {
    let env = Env::sqlite();
    let dir = env.dir.path().to_owned();
    env.ok(&["init"]);
    let o = Command::new("openssl")
        .current_dir(&dir)
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "d.key",
            "-out",
            "d.pem",
            "-days",
            "1",
            "-subj",
            "/CN=mail.example.com/O=Example",
        ])
        .args([
            "-addext",
            "subjectAltName=DNS:mail.example.com",
            "-addext",
            "basicConstraints=critical,CA:false",
            "-addext",
            "extendedKeyUsage=serverAuth",
        ])
        .output();
    let Ok(o) = o else {
        assert!(std::env::var_os("CI").is_none(), "openssl missing in CI");
        return;
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let both = env.file(
        "d.both",
        format!(
            "{}{}",
            std::fs::read_to_string(dir.join("d.pem")).expect("pem"),
            std::fs::read_to_string(dir.join("d.key")).expect("key")
        ),
    );
    env.ok(&["key", "import", path(&both)]);
    let old = env.json(&["cert", "list", "--json"])[0].clone();
    let out = env.ok(&[
        "ca",
        "refresh",
        old["sha256"].as_str().expect("sha"),
        "--days",
        "400",
    ]);
    assert!(out.starts_with("refreshed"), "{out}");
    let all = env.json(&["cert", "list", "--sort", "not-after", "--json"]);
    let new = all.as_array().expect("rows").last().expect("new").clone();
    assert_ne!(new["sha256"], old["sha256"]);
    assert_eq!(new["serial"], old["serial"], "same serial");
    assert_eq!(new["key_id"], old["key_id"], "same key");
    assert_eq!(new["subject"], old["subject"]);
    assert_eq!(new["dns_names"], old["dns_names"]);
    assert!(
        new["not_after"].as_i64().expect("na")
            > old["not_after"].as_i64().expect("na") + 300 * 86_400
    );
    // A CA is not refreshed this way.
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "R",
        "--intermediate-cn",
        "I",
        "--key",
        "p256",
    ]);
    let root = env.json(&["root", "list", "--json"])[0]["sha256"]
        .as_str()
        .expect("root")
        .to_owned();
    assert_eq!(code(&env.run(&["ca", "refresh", &root])), 1);
}

/// The CA functions on the PostgreSQL back end (the other CA tests run on SQLite).
#[test]
fn ca_on_postgres() {
    let Some((env, _db)) = pg_env("ca") else {
        return;
    };
    let dir = env.dir.path().to_owned();
    env.ok(&["init"]);
    env.ok(&[
        "ca",
        "create",
        "--root-cn",
        "Pg Root",
        "--intermediate-cn",
        "Pg CA",
        "--key",
        "p256",
    ]);
    env.ok(&[
        "ca",
        "create",
        "--under",
        "Pg CA",
        "--intermediate-cn",
        "Pg CA 2",
        "--key",
        "p256",
    ]);
    env.ok(&["ca", "config", "key", "p256"]);
    let out = env.ok(&["ca", "issue", "--email", "pg@example.com", "--cn", "Pg"]);
    let sha = out.split_whitespace().nth(1).expect("sha").to_owned();
    let csv = env.file("b.csv", "email,cn\nb1@example.com,B1\nb2@example.com,B2\n");
    env.ok(&["ca", "bulk", path(&csv)]);
    env.ok(&["ca", "renew", &sha, "--same-key"]);
    env.ok(&["ca", "revoke", &sha, "--reason", "superseded"]);
    env.ok(&["ca", "crl", "--next-update-days", "3"]);
    assert_eq!(
        env.json(&["cert", "list", "--email", "pg@example.com", "--json"])
            .as_array()
            .expect("rows")
            .iter()
            .filter(|r| r["status"] == "revoked")
            .count(),
        1
    );
    env.ok(&[
        "ca",
        "request",
        "--handler",
        "csr",
        "--email",
        "q@example.com",
        "--cn",
        "Q",
        "--key",
        "p256",
    ]);
    env.ok(&[
        "ca",
        "pending",
        "download",
        "1",
        "-o",
        path(&dir.join("q.csr")),
    ]);
    env.ok(&[
        "ca",
        "sign-csr",
        path(&dir.join("q.csr")),
        "-o",
        path(&dir.join("q.pem")),
    ]);
    assert!(
        env.ok(&["ca", "pending", "upload", path(&dir.join("q.pem"))])
            .contains("key linked: yes")
    );
    env.ok(&[
        "ca",
        "p12",
        &sha,
        "--legacy",
        "-o",
        path(&dir.join("pg.p12")),
    ]);
    assert_eq!(
        env.json(&["ca", "list", "--json"])
            .as_array()
            .expect("cas")
            .len(),
        2
    );
    assert!(!env.data().join("certmail.db").exists());
}

/// README's Postfix block is `certmail postfix-config`'s output for the defaults.
#[test]
fn readme_shows_what_postfix_config_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_certmail"))
        .arg("postfix-config")
        .env_remove("CERTMAIL_DATA_DIR")
        .output()
        .expect("postfix-config");
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .expect("README");
    let (b, e) = (
        "<!-- postfix-config:begin -->\n```\n",
        "```\n<!-- postfix-config:end -->",
    );
    let start = readme.find(b).expect("begin marker") + b.len();
    let end = readme.find(e).expect("end marker");
    assert_eq!(&readme[start..end], printed);
    // A Postfix limit above certmail's own is warned about.
    let out = Command::new(env!("CARGO_BIN_EXE_certmail"))
        .args(["postfix-config", "--postfix-size-limit", "60000000"])
        .output()
        .expect("postfix-config");
    assert!(
        stderr(&out).contains("below Postfix's limit"),
        "{}",
        stderr(&out)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("message_size_limit=90000000"));
}
