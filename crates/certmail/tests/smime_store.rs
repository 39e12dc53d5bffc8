//! `certmail smime` against the stores: signer and keys from the key store, recipients
//! through the selection rules, signer trust from the root store, partner certificates
//! collected from signed mail, exit codes, and the signing-time rule for expired signers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use certmail_crypto::{AwsLcOps, PrivateKey};
use certmail_pki::Certificate;
use certmail_smime::{KeyPair, SignOptions, message};
use certmail_testkit::{LeafSpec, TestPki, unix_date};

mod common;
use common::text;

struct Env {
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        let e = Env {
            dir: tempfile::tempdir().expect("tempdir"),
        };
        e.ok(&["init"], None);
        e
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write fixture");
        p
    }

    fn run(&self, args: &[&str], stdin: Option<&Path>) -> Output {
        let mut c = Command::new(env!("CARGO_BIN_EXE_certmail"));
        c.arg("--data-dir")
            .arg(self.dir.path().join("data"))
            .args(args)
            .env_remove("CERTMAIL_PASSPHRASE")
            .env_remove("CERTMAIL_DATA_DIR")
            .env_remove("CERTMAIL_DATABASE_URL");
        if let Some(p) = stdin {
            c.stdin(std::fs::File::open(p).expect("stdin file"));
        }
        c.output().expect("run certmail")
    }

    fn ok(&self, args: &[&str], stdin: Option<&Path>) -> Vec<u8> {
        let out = self.run(args, stdin);
        assert!(
            out.status.success(),
            "certmail {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

const MSG: &str = "From: Alice <alice@example.com>\r\nTo: bob@example.com, carol@example.com\r\nSubject: quarterly figures\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nThe figures are attached in spirit.\r\n";

#[test]
fn sign_encrypt_decrypt_verify_with_the_stores() {
    let env = Env::new();
    let pki = TestPki::new("SmimeStore");
    let alice = pki.leaf_rsa(&LeafSpec::email("alice@example.com", 1));
    let bob = pki.leaf(&LeafSpec::email("bob@example.com", 2));
    let carol = pki.leaf_rsa(&LeafSpec::email("carol@example.com", 3));
    let root = env.file("root.pem", &pki.root.pem);
    let inter = env.file("inter.pem", &pki.intermediate.pem);
    env.ok(&["root", "import", p(&root)], None);
    env.ok(&["cert", "import", p(&inter)], None);
    for (n, i) in [("alice", &alice), ("bob", &bob)] {
        let c = env.file(&format!("{n}.pem"), &i.pem);
        let k = env.file(&format!("{n}.key"), &i.key_pem);
        env.ok(&["cert", "import", p(&c)], None);
        env.ok(&["key", "import", p(&k)], None);
    }
    let alice_sha = text(&env.ok(
        &["cert", "list", "--email", "alice@example.com", "--json"],
        None,
    ));
    let list: serde_json::Value = serde_json::from_str(&alice_sha).expect("json");
    let alice_sha = list[0]["sha256"].as_str().expect("sha").to_owned();
    let msg = env.file("msg.eml", MSG);

    // Sign with the stored signer (by thumbprint prefix); the chain goes along.
    let signed = env.ok(
        &["smime", "sign", "--signer", &alice_sha[..12], p(&msg)],
        None,
    );
    let signed_f = env.file("signed.eml", &signed);
    let v = env.run(&["smime", "verify", p(&signed_f)], None);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    let out = text(&v.stdout);
    for h in [
        "X-Certmail-Signed-1: detached",
        "X-Certmail-Signer-Verified-0-1: True",
        "X-Certmail-Signer-Trusted-0-1: True",
        "X-Certmail-Signer-Email-0-1: alice@example.com",
        "X-Certmail-Signer-Email-Match-0-1: True",
    ] {
        assert!(out.contains(h), "missing {h}:\n{out}");
    }
    assert!(out.contains(&alice_sha), "thumbprint header");
    // The same from standard input, as JSON.
    let j = env.run(&["smime", "verify", "--json"], Some(&signed_f));
    let j: serde_json::Value = serde_json::from_slice(&j.stdout).expect("json report");
    assert_eq!(j["ok"], true);
    assert_eq!(j["layers"][0]["signers"][0]["trust"]["status"], "valid");

    // Encrypt by address (selection: auto-select) to Alice and Bob (RSA and EC), plus Carol
    // by file; decrypt with the key store.
    let carol_pem = env.file("carol.pem", &carol.pem);
    let enc = env.ok(
        &[
            "smime",
            "encrypt",
            "--to",
            "alice@example.com",
            "--to",
            "bob@example.com",
            "--cert",
            p(&carol_pem),
            p(&signed_f),
        ],
        None,
    );
    assert!(
        !text(&enc).contains("figures are attached"),
        "plaintext leaked"
    );
    let enc_f = env.file("enc.eml", &enc);
    let d = env.run(&["smime", "decrypt", p(&enc_f)], None);
    assert_eq!(d.status.code(), Some(0), "{}", text(&d.stderr));
    let out = text(&d.stdout);
    assert!(out.contains("X-Certmail-Encrypted-1: True"), "{out}");
    assert!(
        out.contains("X-Certmail-Signer-Trusted-0-2: True"),
        "inner signature judged: {out}"
    );
    assert!(out.contains("The figures are attached in spirit."), "{out}");
    assert!(
        out.contains("protocol=\"application/pkcs7-signature\""),
        "inner multipart/signed kept"
    );
    // verify sees through the encryption too (keys in the store).
    assert_eq!(
        env.run(&["smime", "verify", p(&enc_f)], None).status.code(),
        Some(0)
    );

    // Only Carol (no key here): exit 2 naming the recipient.
    let only_carol = env.ok(
        &["smime", "encrypt", "--cert", p(&carol_pem), p(&msg)],
        None,
    );
    let oc = env.file("carol-only.eml", &only_carol);
    let d = env.run(&["smime", "decrypt", p(&oc)], None);
    assert_eq!(d.status.code(), Some(2));
    assert!(
        text(&d.stderr).contains("no private key"),
        "{}",
        text(&d.stderr)
    );
    // An address without certificate: a clear error, nothing written.
    let e = env.run(
        &["smime", "encrypt", "--to", "nobody@example.com", p(&msg)],
        None,
    );
    assert_ne!(e.status.code(), Some(0));
    assert!(e.stdout.is_empty());
    assert!(
        text(&e.stderr).contains("nobody@example.com"),
        "{}",
        text(&e.stderr)
    );

    // A partner signs (certificate files, chain attached): verifying collects the partner's
    // certificate into the store, and it is trusted through the stored root.
    let ck = env.file("carol.key", &carol.key_pem);
    let carol_msg = env.file(
        "carol-msg.eml",
        MSG.replace("Alice <alice@", "Carol <carol@"),
    );
    let cs = env.ok(
        &[
            "smime",
            "sign",
            "--cert",
            p(&carol_pem),
            "--key",
            p(&ck),
            "--chain",
            p(&inter),
            "--opaque",
            p(&carol_msg),
        ],
        None,
    );
    let cs_f = env.file("carol-signed.eml", &cs);
    let before = text(&env.ok(
        &["cert", "list", "--email", "carol@example.com", "--json"],
        None,
    ));
    assert_eq!(before.trim(), "[]");
    let v = env.run(&["smime", "verify", p(&cs_f)], None);
    assert_eq!(v.status.code(), Some(0), "{}", text(&v.stderr));
    let after: serde_json::Value = serde_json::from_slice(&env.ok(
        &["cert", "list", "--email", "carol@example.com", "--json"],
        None,
    ))
    .expect("json");
    assert_eq!(
        after.as_array().map(Vec::len),
        Some(1),
        "partner certificate collected"
    );
    // Opaque layer unwrapped: the text is readable in the output.
    assert!(text(&v.stdout).contains("The figures are attached in spirit."));

    // Signed by Carol but From says Alice: verified and trusted, but exit 1 with the mismatch.
    let forged = text(&cs).replacen("From: Carol <carol@", "From: Alice <alice@", 1);
    let forged_f = env.file("forged.eml", forged);
    let v = env.run(&["smime", "verify", p(&forged_f)], None);
    assert_eq!(v.status.code(), Some(1));
    assert!(text(&v.stdout).contains("X-Certmail-Signer-Email-Match-0-1: False"));

    // Tampered: exit 1; garbage: exit 2; unsigned: exit 1.
    let tampered = env.file(
        "tampered.eml",
        text(&signed).replace("in spirit", "in secret"),
    );
    assert_eq!(
        env.run(&["smime", "verify", p(&tampered)], None)
            .status
            .code(),
        Some(1)
    );
    let junk = env.file("junk.eml", "Content-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n");
    let j = env.run(&["smime", "verify", p(&junk)], None);
    assert_eq!(j.status.code(), Some(2), "{}", text(&j.stderr));
    assert!(text(&j.stderr).contains("malformed"), "{}", text(&j.stderr));
    assert_eq!(
        env.run(&["smime", "verify", p(&msg)], None).status.code(),
        Some(1)
    );
}

#[test]
fn an_expired_signer_is_judged_at_the_signing_time() {
    let env = Env::new();
    let pki = TestPki::new("SmimeExpired");
    let mut spec = LeafSpec::email("old@example.com", 9);
    spec.not_before = unix_date(2024, 2, 1);
    spec.not_after = unix_date(2025, 1, 1);
    let old = pki.leaf(&spec);
    let cert = Certificate::from_der(&old.der, &AwsLcOps).expect("cert");
    let key = PrivateKey::from_pkcs8(&old.key_pkcs8).expect("key");
    let kp = KeyPair::new(cert, &key).expect("pair");
    let inter = Certificate::from_der(&pki.intermediate.der, &AwsLcOps).expect("inter");
    let msg = b"From: old@example.com\r\nSubject: 2024\r\n\r\nwritten in 2024\r\n";
    let root = env.file("root.pem", &pki.root.pem);
    for (name, when, trusted) in [
        ("in-validity.eml", unix_date(2024, 6, 1), true),
        ("after-expiry.eml", unix_date(2025, 6, 1), false),
        ("claims-future.eml", unix_date(2099, 1, 1), false),
    ] {
        let mut out = Vec::new();
        let opts = SignOptions {
            signing_time: when,
            ..SignOptions::default()
        };
        message::sign_message(
            msg,
            &kp,
            std::slice::from_ref(&inter),
            &opts,
            true,
            &mut out,
        )
        .expect("sign");
        let f = env.file(name, &out);
        let v = env.run(&["smime", "verify", "--root", p(&root), p(&f)], None);
        let o = text(&v.stdout);
        assert_eq!(
            v.status.code(),
            Some(if trusted { 0 } else { 1 }),
            "{name}: {o}{}",
            text(&v.stderr)
        );
        if trusted {
            assert!(o.contains("X-Certmail-Signer-Trusted-0-1: True"), "{o}");
        } else {
            assert!(
                o.contains("X-Certmail-Signer-Trusted-Info-0-1: expired"),
                "{name}: {o}"
            );
        }
    }
}
