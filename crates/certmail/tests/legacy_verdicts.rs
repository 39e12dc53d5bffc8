//! Right verdicts on old mail (issue 26): RSA keys under 2,048 bits verify and are reported
//! `weak-key` (never "content was changed"), `min-rsa-bits` / `--min-rsa-bits` accept them,
//! keys under 1,024 bits are `unsupported` with exit 2, one's own old key still decrypts
//! (the report says it is weak), and RSA-OAEP with a label decrypts. Every message and
//! certificate is made by OpenSSL.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;
use common::{certmail, have, text};

struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    fn p(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn s(&self, name: &str) -> String {
        self.p(name).to_str().expect("utf-8 path").to_owned()
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl");
    assert!(
        out.status.success(),
        "openssl {}: {}",
        args.join(" "),
        text(&out.stderr)
    );
}

/// A 2,048-bit root; under it leaves of 1,024, 512 and 2,048 bits and a CA of 1,024 bits
/// with a 2,048-bit leaf below it.
fn pki() -> Option<Pki> {
    if !have("openssl") {
        return None;
    }
    let pki = Pki {
        dir: tempfile::tempdir().expect("tmp"),
    };
    let d = pki.dir.path();
    let ca_ext = "basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign,cRLSign\n";
    std::fs::write(d.join("ca.ext"), ca_ext).expect("ext");
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "root.key",
            "-out",
            "root.pem",
            "-subj",
            "/CN=Legacy Root",
            "-days",
            "3650",
            "-addext",
            "basicConstraints=critical,CA:true",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    let leaf = |name: &str, bits: &str, ca: &str, ext: Option<&str>| {
        let email = format!("{name}@example.com");
        std::fs::write(
            d.join(format!("{name}.ext")),
            ext.map(str::to_owned).unwrap_or(format!(
                "subjectAltName=email:{email}\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=emailProtection\n"
            )),
        )
        .expect("ext");
        openssl(
            d,
            &[
                "req",
                "-newkey",
                &format!("rsa:{bits}"),
                "-nodes",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.csr"),
                "-subj",
                &format!("/CN={name}"),
            ],
        );
        openssl(
            d,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                &format!("{ca}.pem"),
                "-CAkey",
                &format!("{ca}.key"),
                "-CAcreateserial",
                "-out",
                &format!("{name}.pem"),
                "-days",
                "365",
                "-extfile",
                &format!("{name}.ext"),
            ],
        );
    };
    leaf("old", "1024", "root", None);
    leaf("tiny", "512", "root", None);
    leaf("bob", "2048", "root", None);
    leaf("oldca", "1024", "root", Some(ca_ext));
    leaf("under", "2048", "oldca", None);
    std::fs::write(
        d.join("m.txt"),
        "Content-Type: text/plain\r\n\r\nthe old content\r\n",
    )
    .expect("msg");
    for (signer, chain) in [("old", None), ("tiny", None), ("under", Some("oldca.pem"))] {
        let mut args = vec!["cms", "-sign", "-in", "m.txt", "-md", "sha256", "-out"];
        let out = format!("{signer}-signed.eml");
        let cert = format!("{signer}.pem");
        let key = format!("{signer}.key");
        args.extend([out.as_str(), "-signer", &cert, "-inkey", &key]);
        if let Some(c) = chain {
            args.extend(["-certfile", c]);
        }
        openssl(d, &args);
    }
    Some(pki)
}

fn run(data: &Path, args: &[&str]) -> Output {
    certmail(data, args).output().expect("certmail")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("JSON: {e}: {}{}", text(&o.stdout), text(&o.stderr)))
}

fn first_signer(v: &serde_json::Value) -> &serde_json::Value {
    &v["layers"][0]["signers"][0]
}

#[test]
fn weak_rsa_keys_verify_and_are_reported_weak_key() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    let root = k.s("root.pem");
    // A valid signature by a 1,024-bit key: verified, not trusted, weak-key.
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--json",
            &k.s("old-signed.eml"),
        ],
    );
    assert_eq!(code(&o), 1, "{}", text(&o.stderr));
    let v = json(&o);
    let s = first_signer(&v);
    assert_eq!(s["verified"], true, "{s}");
    assert_eq!(s["trust"]["status"], "weak-key", "{s}");
    let reason = s["trust"]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("1024 bits"), "{reason}");
    assert!(!reason.contains("changed"), "{reason}");
    // The content really changed: that is still said, and differently.
    let tampered = std::fs::read_to_string(k.p("old-signed.eml"))
        .expect("read")
        .replace("the old content", "the new content");
    std::fs::write(k.p("tampered.eml"), tampered).expect("write");
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--json",
            &k.s("tampered.eml"),
        ],
    );
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(first_signer(&v)["verified"], false);
    assert!(
        first_signer(&v)["failure"]
            .as_str()
            .unwrap_or_default()
            .contains("changed"),
        "{v}"
    );
    // --min-rsa-bits 1024 accepts it.
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--min-rsa-bits",
            "1024",
            &k.s("old-signed.eml"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // A 2,048-bit signer under a 1,024-bit CA: the CA's key is weak.
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--json",
            &k.s("under-signed.eml"),
        ],
    );
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(first_signer(&v)["trust"]["status"], "weak-key", "{v}");
    assert!(
        first_signer(&v)["trust"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("oldca"),
        "{v}"
    );
    // Certificates alike: `verify` says weak-key, and accepts with --min-rsa-bits.
    let o = run(
        &data,
        &["verify", &k.s("old.pem"), "--root", &root, "--json"],
    );
    assert_eq!(code(&o), 1);
    assert_eq!(json(&o)["status"], "weak-key");
    let o = run(
        &data,
        &[
            "verify",
            &k.s("under.pem"),
            "--root",
            &root,
            "--intermediate",
            &k.s("oldca.pem"),
            "--min-rsa-bits",
            "1024",
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    // Out of range is a usage error.
    let o = run(
        &data,
        &[
            "verify",
            &k.s("old.pem"),
            "--root",
            &root,
            "--min-rsa-bits",
            "512",
        ],
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn keys_under_1024_bits_are_unsupported_with_exit_2() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    let root = k.s("root.pem");
    let o = run(
        &data,
        &["smime", "verify", "--root", &root, &k.s("tiny-signed.eml")],
    );
    assert_eq!(code(&o), 2, "{}", text(&o.stderr));
    assert!(
        text(&o.stderr).contains("unsupported: RSA key of 512 bits"),
        "{}",
        text(&o.stderr)
    );
    assert!(!text(&o.stderr).contains("changed"), "{}", text(&o.stderr));
    let o = run(&data, &["verify", &k.s("tiny.pem"), "--root", &root]);
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).starts_with("unsupported: RSA key of 512 bits"),
        "{}",
        text(&o.stderr)
    );
    // Decrypting with one's own 512-bit key: unsupported, exit 2.
    openssl(
        k.dir.path(),
        &[
            "cms",
            "-encrypt",
            "-aes256",
            "-in",
            "m.txt",
            "-out",
            "tiny-enc.eml",
            "tiny.pem",
        ],
    );
    let o = run(
        &data,
        &[
            "smime",
            "decrypt",
            "--cert",
            &k.s("tiny.pem"),
            "--key",
            &k.s("tiny.key"),
            &k.s("tiny-enc.eml"),
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(
        text(&o.stderr).contains("unsupported: RSA key of 512 bits"),
        "{}",
        text(&o.stderr)
    );
}

#[test]
fn old_keys_decrypt_and_oaep_labels_are_read() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    let d = k.dir.path();
    // PKCS#1 v1.5 to a 1,024-bit key, and OAEP (SHA-256, with and without a label) to
    // 1,024- and 2,048-bit keys.
    let cases: [(&str, &str, &[&str]); 5] = [
        ("old", "old-v15.eml", &[]),
        (
            "old",
            "old-oaep-label.eml",
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_oaep_label:6c6162656c",
            ],
        ),
        (
            "bob",
            "bob-oaep-label.eml",
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha256",
                "-keyopt",
                "rsa_oaep_label:0102030405",
            ],
        ),
        (
            "bob",
            "bob-oaep-sha512-label.eml",
            &[
                "-keyopt",
                "rsa_padding_mode:oaep",
                "-keyopt",
                "rsa_oaep_md:sha512",
                "-keyopt",
                "rsa_mgf1_md:sha512",
                "-keyopt",
                "rsa_oaep_label:6c",
            ],
        ),
        (
            "bob",
            "bob-oaep-sha1.eml",
            &["-keyopt", "rsa_padding_mode:oaep"],
        ),
    ];
    for (who, out, opts) in cases {
        let cert = format!("{who}.pem");
        let mut args = vec![
            "cms", "-encrypt", "-aes256", "-in", "m.txt", "-out", out, "-recip", &cert,
        ];
        args.extend_from_slice(opts);
        openssl(d, &args);
        let o = run(
            &data,
            &[
                "smime",
                "decrypt",
                "--cert",
                &k.s(&cert),
                "--key",
                &k.s(&format!("{who}.key")),
                &k.s(out),
            ],
        );
        assert_eq!(code(&o), 0, "{out}: {}", text(&o.stderr));
        let got = text(&o.stdout);
        assert!(got.contains("the old content"), "{out}: {got}");
        let weak = got.contains("X-Certmail-Decryption-Key-Weak-1: RSA key of 1024 bits");
        assert_eq!(
            weak,
            who == "old",
            "{out}: the report names a weak key: {got}"
        );
    }
}

#[test]
fn signing_time_far_from_date_is_reported_and_changes_no_verdict() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    let root = k.s("root.pem");
    openssl(
        k.dir.path(),
        &[
            "cms",
            "-sign",
            "-in",
            "m.txt",
            "-out",
            "bob-signed.eml",
            "-signer",
            "bob.pem",
            "-inkey",
            "bob.key",
        ],
    );
    let signed = std::fs::read_to_string(k.p("bob-signed.eml")).expect("read");
    let now = certmail_pki::time::format_rfc5322(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("time")
            .as_secs() as i64,
    );
    for (name, date, differs) in [
        (
            "old-date.eml",
            "Mon, 03 Feb 2020 10:00:00 +0000".to_owned(),
            true,
        ),
        ("now-date.eml", now, false),
    ] {
        std::fs::write(k.p(name), format!("Date: {date}\r\n{signed}")).expect("write");
        let o = run(&data, &["smime", "verify", "--root", &root, &k.s(name)]);
        assert_eq!(
            code(&o),
            0,
            "{name}: the verdict stays valid: {}",
            text(&o.stderr)
        );
        let out = text(&o.stdout);
        assert_eq!(
            out.contains("X-Certmail-Signer-Time-Differs-0-1: signed at"),
            differs,
            "{name}: {out}"
        );
        let o = run(
            &data,
            &["smime", "verify", "--root", &root, "--json", &k.s(name)],
        );
        let v = json(&o);
        assert_eq!(first_signer(&v)["date_difference"].is_i64(), differs, "{v}");
        if differs {
            assert!(first_signer(&v)["date_difference"].as_i64().unwrap_or(0) > 3600);
        }
    }
}

fn der(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let n = body.len();
    if n < 0x80 {
        out.push(n as u8);
    } else {
        let b = n.to_be_bytes();
        let skip = b.iter().take_while(|x| **x == 0).count();
        out.push(0x80 | (b.len() - skip) as u8);
        out.extend_from_slice(&b[skip..]);
    }
    out.extend_from_slice(body);
    out
}

#[test]
fn a_bundle_item_that_cannot_be_read_is_reported_and_the_rest_imported() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    openssl(
        k.dir.path(),
        &[
            "x509", "-in", "bob.pem", "-outform", "DER", "-out", "bob.der",
        ],
    );
    let cert = std::fs::read(k.p("bob.der")).expect("der");
    // SignedData { 1, {}, { id-data }, [0] { bob }, [1] { a CRL that is no CRL }, {} }
    let id_data = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01,
    ];
    let id_signed = [
        0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02,
    ];
    let sd = der(
        0x30,
        &[
            &[0x02, 0x01, 0x01][..],
            &der(0x31, &[]),
            &der(0x30, &id_data),
            &der(0xa0, &cert),
            &der(0xa1, &der(0x30, &[0x02, 0x01, 0x07])),
            &der(0x31, &[]),
        ]
        .concat(),
    );
    let bundle = der(0x30, &[&id_signed[..], &der(0xa0, &sd)].concat());
    std::fs::write(k.p("mixed.p7b"), bundle).expect("write");
    assert!(run(&data, &["init"]).status.success());
    let o = run(&data, &["cert", "import", "--json", &k.s("mixed.p7b")]);
    assert_eq!(code(&o), 1, "an item failed: {}", text(&o.stdout));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("rows");
    assert!(
        rows.iter()
            .any(|r| r["kind"] == "certificate" && r["status"] == "imported"),
        "{rows:?}"
    );
    let failed: Vec<_> = rows.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{rows:?}");
    assert_eq!(failed[0]["kind"], "crl");
    assert!(
        failed[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("item 1 of the bundle"),
        "{rows:?}"
    );
    let list = run(&data, &["cert", "list"]);
    assert!(
        text(&list.stdout).contains("CN=bob"),
        "{}",
        text(&list.stdout)
    );
}

#[test]
fn a_detached_signature_over_a_file_is_checked_with_content() {
    let Some(k) = pki() else { return };
    let data = k.p("data");
    let d = k.dir.path();
    std::fs::write(d.join("file.bin"), b"a bare file\nwith LF only\n").expect("file");
    openssl(
        d,
        &[
            "cms", "-sign", "-binary", "-in", "file.bin", "-signer", "bob.pem", "-inkey",
            "bob.key", "-outform", "DER", "-out", "file.p7s",
        ],
    );
    let root = k.s("root.pem");
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--content",
            &k.s("file.bin"),
            &k.s("file.p7s"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    assert_eq!(
        o.stdout, b"a bare file\nwith LF only\n",
        "the content, byte for byte"
    );
    std::fs::write(d.join("other.bin"), b"a bare file\nwith LF only!\n").expect("file");
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--root",
            &root,
            "--json",
            "--content",
            &k.s("other.bin"),
            &k.s("file.p7s"),
        ],
    );
    assert_eq!(code(&o), 1);
    let v = json(&o);
    assert_eq!(first_signer(&v)["verified"], false, "{v}");
}

/// RFC 4134 4.6 with the stores: Diane's DSA key has no parameters and the message does not
/// carry her issuer, so they come from the DSA root in the root store.
#[test]
fn dsa_parameters_are_inherited_from_a_stored_root() {
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let corpus =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../conformance/corpus/rfc4134");
    assert!(run(&data, &["init"]).status.success());
    let root = corpus.join("CarlDSSSelf.cer");
    let o = run(&data, &["root", "import", root.to_str().expect("utf-8")]);
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let der = std::fs::read(corpus.join("4.6.bin")).expect("4.6");
    let mut msg = b"MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type=signed-data\r\nContent-Transfer-Encoding: base64\r\n\r\n".to_vec();
    msg.extend_from_slice(&certmail_smime::b64::encode_to_vec(&der));
    let file = dir.path().join("4.6.eml");
    std::fs::write(&file, msg).expect("write");
    let o = run(
        &data,
        &[
            "smime",
            "verify",
            "--allow-sha1",
            "--json",
            file.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(code(&o), 0, "{}", text(&o.stderr));
    let v = json(&o);
    let signers = v["layers"][0]["signers"].as_array().expect("signers");
    assert_eq!(signers.len(), 2);
    assert!(signers.iter().all(|s| s["verified"] == true), "{v}");
}
