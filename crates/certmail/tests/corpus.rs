//! S/MIME files written by other projects (RFC 4134's examples as Bouncy Castle ships them,
//! MimeKit's test data, Go pkcs7's fixtures, OpenSSL's regression files), each judged by
//! what its own project's tests assert, through the `certmail` CLI. The cases are
//! `conformance/corpus.json`; the files and their sources and licences are under
//! `conformance/corpus`.
//!
//! Fails when a case is wrong and `conformance/corpus-exceptions.json` does not list it with a
//! reason, when a listed case is right (the exception is stale), or when the right answers of
//! a source drop below `conformance/corpus-floor.json`. OpenSSL's answer to the same question
//! is the second column of the table this test renders; README.md carries that table
//! between the `corpus` markers (`CERTMAIL_UPDATE_CORPUS=1` rewrites it).

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

use common::{certmail, have, text};

#[derive(Deserialize)]
struct Suite {
    cases: Vec<Case>,
}

#[derive(Deserialize, Clone)]
struct Case {
    id: String,
    source: String,
    what: String,
    check: String,
    file: String,
    #[serde(default)]
    wrap: Option<String>,
    #[serde(default)]
    roots: Vec<String>,
    #[serde(default)]
    intermediates: Vec<String>,
    #[serde(default)]
    crls: Vec<String>,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    password: Option<String>,
    /// For a detached signature over a bare file: the signed file (`smime verify --content`).
    #[serde(default)]
    content: Option<String>,
    /// For `revoked`: the CRL to make (as MimeKit's tests make theirs at run time).
    #[serde(default)]
    crl_by: Option<CrlBy>,
    #[serde(default)]
    cert: Option<String>,
    #[serde(default)]
    key: Option<String>,
    expect: BTreeMap<String, Value>,
    asserts: String,
    #[serde(default)]
    openssl: Vec<String>,
    #[serde(default)]
    openssl_expects_failure: bool,
}

/// A CRL made with OpenSSL from a CA's key and certificate, revoking one certificate (each
/// taken from a PKCS#12 file of the corpus by its first certificate).
#[derive(Deserialize, Clone)]
struct CrlBy {
    key: String,
    cert: String,
    revoke: String,
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn corpus() -> PathBuf {
    repo().join("conformance/corpus")
}

fn p(rel: &str) -> String {
    corpus().join(rel).display().to_string()
}

/// The DER file as an application/pkcs7-mime entity (the CMS bytes unchanged).
fn wrapped(case: &Case, dir: &Path) -> String {
    let Some(kind) = &case.wrap else {
        return p(&case.file);
    };
    let der = std::fs::read(corpus().join(&case.file)).expect("corpus file");
    let b64 = certmail_smime::b64::encode_to_vec(&der);
    let mut msg = format!(
        "MIME-Version: 1.0\r\nContent-Type: application/pkcs7-mime; smime-type={kind}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    )
    .into_bytes();
    msg.extend_from_slice(&b64);
    let out = dir.join(format!(
        "{}.eml",
        case.id.replace(['/', ' ', '(', ')'], "_")
    ));
    std::fs::write(&out, msg).expect("wrapped");
    out.display().to_string()
}

fn run(data: &Path, args: &[String]) -> Output {
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    certmail(data, &a).output().expect("certmail")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

/// certmail's answer: Ok(summary) when it matches the expectation, Err(what it said) when not.
fn certmail_verdict(case: &Case, tmp: &Path) -> Result<String, String> {
    let data = tmp.join(format!(
        "data-{}",
        case.id.replace(['/', ' ', '(', ')'], "_")
    ));
    let file = wrapped(case, tmp);
    let expect = |k: &str| case.expect.get(k);
    let pw_file = case.password.as_ref().map(|pw| {
        let f = tmp.join("password.txt");
        std::fs::write(&f, pw).expect("password file");
        f.display().to_string()
    });
    match case.check.as_str() {
        "verify" => {
            let mut args: Vec<String> = vec!["smime".into(), "verify".into(), "--json".into()];
            for r in &case.roots {
                args.extend(["--root".into(), p(r)]);
            }
            for i in &case.intermediates {
                args.extend(["--intermediate".into(), p(i)]);
            }
            args.extend(case.args.iter().cloned());
            if let Some(content) = &case.content {
                args.extend(["--content".into(), p(content)]);
            }
            args.push(file.clone());
            let o = run(&data, &args);
            let c = code(&o);
            if !(0..=2).contains(&c) {
                return Err(format!("exit {c} (crash?): {}", text(&o.stderr)));
            }
            let said = || {
                let e = text(&o.stderr);
                let line = e.lines().last().unwrap_or_default().to_owned();
                format!("exit {c}: {line}")
            };
            if expect("rejected").is_some() {
                return if c == 0 {
                    Err("accepted".into())
                } else {
                    Ok(said())
                };
            }
            let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            let signers: Vec<&Value> = v["layers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|l| l["signers"].as_array().into_iter().flatten())
                .collect();
            let describe = || {
                signers
                    .iter()
                    .map(|s| {
                        format!(
                            "verified {} ({}), trust {}: {}",
                            s["verified"],
                            s["failure"].as_str().unwrap_or("-"),
                            s["trust"]["status"].as_str().unwrap_or("-"),
                            s["trust"]["reason"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            if let Some(n) = expect("exit").and_then(Value::as_i64)
                && i64::from(c) != n
            {
                return Err(format!("{}; {}", said(), describe()));
            }
            if let Some(n) = expect("signers").and_then(Value::as_u64)
                && signers.len() as u64 != n
            {
                return Err(format!("{} signers", signers.len()));
            }
            if signers.is_empty() {
                return Err(format!("no signer: {}", said()));
            }
            if let Some(b) = expect("verified").and_then(Value::as_bool)
                && signers.iter().any(|s| s["verified"].as_bool() != Some(b))
            {
                return Err(describe());
            }
            if let Some(b) = expect("trusted").and_then(Value::as_bool)
                && signers
                    .iter()
                    .any(|s| s["trust"]["trusted"].as_bool() != Some(b))
            {
                return Err(describe());
            }
            if let Some(st) = expect("trust_status").and_then(Value::as_str)
                && signers
                    .iter()
                    .any(|s| s["trust"]["status"].as_str() != Some(st))
            {
                return Err(describe());
            }
            if let Some(t) = expect("contains").and_then(Value::as_str) {
                let plain: Vec<String> = args.into_iter().filter(|a| a != "--json").collect();
                let o = run(&data, &plain);
                if !text(&o.stdout).contains(t) {
                    return Err(format!("the content lacks {t:?}"));
                }
            }
            Ok(if c == 0 { "valid".into() } else { describe() })
        }
        "decrypt" => {
            let mut args: Vec<String> = vec!["smime".into(), "decrypt".into()];
            if let (Some(c), Some(k)) = (&case.cert, &case.key) {
                args.extend(["--cert".into(), p(c), "--key".into(), p(k)]);
            } else {
                // The key store (empty): what certmail says about a message it has no key for.
                let init = run(&data, &["init".to_owned()]);
                assert!(init.status.success(), "init: {}", text(&init.stderr));
            }
            args.push(file);
            let o = run(&data, &args);
            let want = expect("contains")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if code(&o) == 0 && text(&o.stdout).contains(want) {
                Ok("decrypted".into())
            } else {
                Err(format!(
                    "exit {}: {}",
                    code(&o),
                    text(&o.stderr).lines().last().unwrap_or_default()
                ))
            }
        }
        "import" => {
            let init = run(&data, &["init".to_owned()]);
            assert!(init.status.success(), "init: {}", text(&init.stderr));
            let mut args: Vec<String> = vec!["cert".into(), "import".into(), "--json".into()];
            if let Some(f) = &pw_file {
                args.extend(["--password-file".into(), f.clone()]);
            }
            args.push(file);
            let o = run(&data, &args);
            let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_default();
            let count = |kind: &str| {
                rows.iter()
                    .filter(|r| r["kind"] == kind && r["status"] != "failed")
                    .count() as u64
            };
            let failed = rows.iter().filter(|r| r["status"] == "failed").count() as u64;
            let got = format!(
                "{} certificates, {} keys, {} CRLs, {} failed",
                count("certificate"),
                count("key"),
                count("crl"),
                failed
            );
            let ok = [
                ("certificates", count("certificate")),
                ("keys", count("key")),
                ("crls", count("crl")),
                ("failed", failed),
            ]
            .iter()
            .all(|(k, n)| {
                expect(k)
                    .and_then(Value::as_u64)
                    .is_none_or(|want| want == *n)
            });
            if ok && !rows.is_empty() {
                Ok(got)
            } else {
                let detail = rows
                    .iter()
                    .filter(|r| r["status"] == "failed")
                    .map(|r| r["detail"].as_str().unwrap_or_default().to_owned())
                    .collect::<Vec<_>>()
                    .join("; ");
                Err(format!("{got} {detail}"))
            }
        }
        "verify-cert" => {
            let mut args: Vec<String> = vec!["verify".into(), file, "--json".into()];
            for r in &case.roots {
                args.extend(["--root".into(), p(r)]);
            }
            for c in &case.crls {
                args.extend(["--crl".into(), p(c)]);
            }
            args.extend(case.args.iter().cloned());
            let o = run(&data, &args);
            let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
            let status = v["status"].as_str().unwrap_or("none").to_owned();
            let want = expect("status").and_then(Value::as_str).unwrap_or_default();
            if status == want {
                Ok(status)
            } else {
                Err(format!(
                    "{status}: {}{}",
                    v["reason"].as_str().unwrap_or_default(),
                    text(&o.stderr).lines().next().unwrap_or_default()
                ))
            }
        }
        "roundtrip" => roundtrip(case, &data, tmp, pw_file.as_deref().unwrap_or_default()),
        "revoked" => revoked(case, &data, tmp, pw_file.as_deref().unwrap_or_default()),
        other => panic!("unknown check {other}"),
    }
}

/// Imports a PKCS#12 (and the roots named) into a store, signs and verifies, encrypts to
/// its certificate and decrypts.
fn roundtrip(case: &Case, data: &Path, tmp: &Path, pw: &str) -> Result<String, String> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let ok = |o: &Output, what: &str| {
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("{what}: {}", text(&o.stderr)))
        }
    };
    ok(&run(data, &s(&["init"])), "init")?;
    for r in &case.roots {
        let o = run(
            data,
            &s(&[
                "cert",
                "import",
                "--trust-roots",
                "--password-file",
                pw,
                &p(r),
            ]),
        );
        ok(&o, "import root")?;
    }
    let o = run(
        data,
        &s(&[
            "cert",
            "import",
            "--json",
            "--password-file",
            pw,
            &p(&case.file),
        ]),
    );
    ok(&o, "import")?;
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let leaf = rows
        .iter()
        .find(|r| {
            r["kind"] == "certificate"
                && r["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains('@') && !d.contains("Root"))
        })
        .and_then(|r| r["id"].as_str())
        .ok_or("no leaf certificate imported")?
        .to_owned();
    let msg = tmp.join("roundtrip.eml");
    std::fs::write(
        &msg,
        "From: rsa@mimekit.net\r\nTo: rsa@mimekit.net\r\nSubject: round trip\r\n\r\nround trip content\r\n",
    )
    .expect("msg");
    let signed = run(
        data,
        &s(&[
            "smime",
            "sign",
            "--signer",
            &leaf,
            &msg.display().to_string(),
        ]),
    );
    ok(&signed, "sign")?;
    let signed_file = tmp.join("roundtrip-signed.eml");
    std::fs::write(&signed_file, &signed.stdout).expect("signed");
    let v = run(
        data,
        &s(&["smime", "verify", &signed_file.display().to_string()]),
    );
    ok(&v, "verify")?;
    let enc = run(
        data,
        &s(&[
            "smime",
            "encrypt",
            "--to",
            "rsa@mimekit.net",
            &msg.display().to_string(),
        ]),
    );
    ok(&enc, "encrypt")?;
    let enc_file = tmp.join("roundtrip-enc.eml");
    std::fs::write(&enc_file, &enc.stdout).expect("enc");
    let d = run(
        data,
        &s(&["smime", "decrypt", &enc_file.display().to_string()]),
    );
    ok(&d, "decrypt")?;
    if text(&d.stdout).contains("round trip content") {
        Ok("signed, verified, encrypted, decrypted".into())
    } else {
        Err("decrypted content differs".into())
    }
}

/// The certificate of a PKCS#12 file (the one with the key), as PEM in `tmp`.
fn leaf_of(pfx: &str, pw: &str, tmp: &Path) -> Result<PathBuf, String> {
    let out = tmp.join(format!("{}.pem", pfx.replace(['/', '.'], "_")));
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-legacy",
            "-nokeys",
            "-clcerts",
            "-in",
            &p(pfx),
            "-passin",
        ])
        .arg(format!("file:{pw}"))
        .arg("-out")
        .arg(&out)
        .output()
        .map_err(|e| e.to_string())?;
    if o.status.success() {
        Ok(out)
    } else {
        Err(format!("openssl pkcs12: {}", text(&o.stderr)))
    }
}

/// The CA certificate of common name `cn` in a PKCS#12 file, as PEM in `tmp`.
fn ca_cert_named(pfx: &str, cn: &str, pw: &str, tmp: &Path) -> Result<PathBuf, String> {
    let o = Command::new("openssl")
        .args([
            "pkcs12",
            "-legacy",
            "-nokeys",
            "-cacerts",
            "-in",
            &p(pfx),
            "-passin",
        ])
        .arg(format!("file:{pw}"))
        .output()
        .map_err(|e| e.to_string())?;
    let all = text(&o.stdout);
    for (i, block) in all.split("-----END CERTIFICATE-----").enumerate() {
        let Some(start) = block.find("-----BEGIN CERTIFICATE-----") else {
            continue;
        };
        let pem = format!("{}-----END CERTIFICATE-----\n", &block[start..]);
        let out = tmp.join(format!("ca-cert-{i}.pem"));
        std::fs::write(&out, &pem).map_err(|e| e.to_string())?;
        let subject = Command::new("openssl")
            .args(["x509", "-noout", "-subject", "-in"])
            .arg(&out)
            .output()
            .map(|o| text(&o.stdout))
            .map_err(|e| e.to_string())?;
        if subject.contains(cn) {
            return Ok(out);
        }
    }
    Err(format!("no certificate named {cn} in {pfx}"))
}

/// MimeKit's revocation tests: the chain in a store, a CRL from the issuing CA (made here
/// with OpenSSL, as MimeKit makes its CRLs at run time) revoking the leaf or a CA above it,
/// then a message signed by the leaf must not be trusted (`revoked`).
fn revoked(case: &Case, data: &Path, tmp: &Path, pw: &str) -> Result<String, String> {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<String>>();
    let ok = |o: &Output, what: &str| {
        if o.status.success() {
            Ok(())
        } else {
            Err(format!("{what}: {}{}", text(&o.stdout), text(&o.stderr)))
        }
    };
    let by = case.crl_by.as_ref().ok_or("no crl_by")?;
    ok(&run(data, &s(&["init"])), "init")?;
    for r in &case.roots {
        ok(
            &run(
                data,
                &s(&[
                    "cert",
                    "import",
                    "--trust-roots",
                    "--password-file",
                    pw,
                    &p(r),
                ]),
            ),
            "import root",
        )?;
    }
    for i in &case.intermediates {
        ok(
            &run(data, &s(&["cert", "import", "--password-file", pw, &p(i)])),
            "import intermediate",
        )?;
    }
    let o = run(
        data,
        &s(&[
            "cert",
            "import",
            "--json",
            "--password-file",
            pw,
            &p(&case.file),
        ]),
    );
    ok(&o, "import")?;
    let rows: Vec<Value> = serde_json::from_slice(&o.stdout).unwrap_or_default();
    let leaf = rows
        .iter()
        .find(|r| {
            r["kind"] == "certificate"
                && r["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("emailAddress=") && !d.contains("root@"))
        })
        .and_then(|r| r["id"].as_str())
        .ok_or("no leaf certificate imported")?
        .to_owned();
    // The CRL: openssl ca over an index that lists the revoked certificate.
    let ca_dir = tmp.join(format!("ca-{}", case.id.replace(['/', ' ', '.'], "_")));
    std::fs::create_dir_all(&ca_dir).map_err(|e| e.to_string())?;
    let issuer = leaf_of(&by.cert, pw, tmp)?;
    // `file.pfx#Name`: the certificate of that common name among the file's CA certificates.
    let victim = match by.revoke.split_once('#') {
        Some((pfx, cn)) => ca_cert_named(pfx, cn, pw, tmp)?,
        None => leaf_of(&by.revoke, pw, tmp)?,
    };
    let x509 = |what: &str| {
        Command::new("openssl")
            .args(["x509", "-noout", what, "-nameopt", "compat", "-in"])
            .arg(&victim)
            .output()
            .map(|o| text(&o.stdout).trim().to_owned())
            .map_err(|e| e.to_string())
    };
    let serial = x509("-serial")?.trim_start_matches("serial=").to_owned();
    let subject = x509("-subject")?.trim_start_matches("subject=").to_owned();
    std::fs::write(
        ca_dir.join("index.txt"),
        format!("R\t341216000000Z\t260101000000Z\t{serial}\tunknown\t{subject}\n"),
    )
    .map_err(|e| e.to_string())?;
    std::fs::write(ca_dir.join("crlnumber"), "01\n").map_err(|e| e.to_string())?;
    std::fs::write(
        ca_dir.join("ca.cnf"),
        "[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\ncrlnumber = crlnumber\ndefault_md = sha256\n",
    )
    .map_err(|e| e.to_string())?;
    let crl = ca_dir.join("issuer.crl");
    let o = Command::new("openssl")
        .current_dir(&ca_dir)
        .args([
            "ca", "-gencrl", "-config", "ca.cnf", "-crldays", "30", "-keyfile",
        ])
        .arg(p(&by.key))
        .arg("-cert")
        .arg(&issuer)
        .arg("-out")
        .arg(&crl)
        .output()
        .map_err(|e| e.to_string())?;
    ok(&o, "openssl ca -gencrl")?;
    ok(
        &run(data, &s(&["crl", "import", &crl.display().to_string()])),
        "crl import",
    )?;
    let msg = tmp.join("revoked.eml");
    std::fs::write(
        &msg,
        "Subject: revoked\r\n\r\nsigned by a revoked certificate\r\n",
    )
    .map_err(|e| e.to_string())?;
    let signed = run(
        data,
        &s(&[
            "smime",
            "sign",
            "--signer",
            &leaf,
            &msg.display().to_string(),
        ]),
    );
    ok(&signed, "sign")?;
    let signed_file = tmp.join("revoked-signed.eml");
    std::fs::write(&signed_file, &signed.stdout).map_err(|e| e.to_string())?;
    let v = run(
        data,
        &s(&[
            "smime",
            "verify",
            "--json",
            &signed_file.display().to_string(),
        ]),
    );
    let v: Value = serde_json::from_slice(&v.stdout).unwrap_or(Value::Null);
    let signer = &v["layers"][0]["signers"][0];
    let status = signer["trust"]["status"]
        .as_str()
        .unwrap_or("none")
        .to_owned();
    let want = case
        .expect
        .get("trust_status")
        .and_then(Value::as_str)
        .unwrap_or("revoked");
    if signer["verified"] == true && status == want {
        Ok(format!("verified, {status}"))
    } else {
        Err(format!(
            "verified {}, {status}: {}",
            signer["verified"],
            signer["trust"]["reason"].as_str().unwrap_or_default()
        ))
    }
}

/// OpenSSL's answer to the same question: right, wrong (with its message) or not asked.
fn openssl_verdict(case: &Case, tmp: &Path) -> String {
    if case.openssl.is_empty() {
        return "—".into();
    }
    let file = p(&case.file);
    let wrapped = wrapped(case, tmp);
    let args: Vec<String> = case
        .openssl
        .iter()
        .map(|a| {
            let a = a.replace("{file}", &file).replace("{wrapped}", &wrapped);
            pem_for_openssl(&a, tmp).unwrap_or(a)
        })
        .collect();
    let o = Command::new("openssl")
        .current_dir(corpus())
        .args(&args)
        .output()
        .expect("openssl");
    let mut right = o.status.success();
    if let Some(t) = case.expect.get("contains").and_then(Value::as_str)
        && case.check == "decrypt"
    {
        right &= text(&o.stdout).contains(t);
    }
    if case.openssl_expects_failure {
        right = !o.status.success();
    }
    if right {
        "right".into()
    } else {
        let err = text(&o.stderr);
        // OpenSSL 3's error lines: `PID:error:CODE:library:function:reason:file:line:`.
        let reason = err
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.get(1) == Some(&"error"))
                    .then(|| f.get(5).copied())
                    .flatten()
            })
            .or_else(|| {
                err.lines()
                    .find(|l| l.contains("error"))
                    .and_then(|l| l.rsplit(':').find(|p| !p.trim().is_empty()))
            })
            .or_else(|| (!case.openssl_expects_failure).then_some("no error, wrong output"))
            .unwrap_or("accepted it");
        format!(
            "wrong ({})",
            reason.trim().chars().take(60).collect::<String>()
        )
    }
}

/// OpenSSL's -CAfile, -CRLfile and `verify` take PEM: a DER certificate or CRL of the
/// corpus is handed over as a PEM copy.
fn pem_for_openssl(arg: &str, tmp: &Path) -> Option<String> {
    let kind = if arg.ends_with(".cer") {
        "x509"
    } else if arg.ends_with(".crl") {
        "crl"
    } else {
        return None;
    };
    let path = corpus().join(arg);
    let path = if path.exists() {
        path
    } else {
        PathBuf::from(arg)
    };
    let bytes = std::fs::read(&path).ok()?;
    if bytes.starts_with(b"-----") {
        return None;
    }
    let out = tmp.join(format!(
        "{}.pem",
        path.file_name()?.to_string_lossy().replace('.', "_")
    ));
    let ok = Command::new("openssl")
        .args([kind, "-inform", "DER", "-in"])
        .arg(&path)
        .arg("-out")
        .arg(&out)
        .status()
        .ok()?
        .success();
    ok.then(|| out.display().to_string())
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

#[test]
fn corpus_of_other_projects() {
    if !have("openssl") {
        return;
    }
    let suite: Suite = serde_json::from_str(
        &std::fs::read_to_string(repo().join("conformance/corpus.json")).expect("corpus.json"),
    )
    .expect("corpus.json parses");
    let exceptions: BTreeMap<String, String> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("conformance/corpus-exceptions.json"))
            .expect("exceptions"),
    )
    .expect("exceptions parse");
    let floor: BTreeMap<String, usize> = serde_json::from_str(
        &std::fs::read_to_string(repo().join("conformance/corpus-floor.json")).expect("floor"),
    )
    .expect("floor parses");
    for id in exceptions.keys() {
        assert!(
            suite.cases.iter().any(|c| &c.id == id),
            "exception for an unknown case {id}"
        );
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let mut problems = Vec::new();
    let mut right: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut table = String::from(
        "| case | what | its project asserts | certmail | OpenSSL 3.0 |\n|---|---|---|---|---|\n",
    );
    for case in &suite.cases {
        let got = certmail_verdict(case, tmp.path());
        let ossl = openssl_verdict(case, tmp.path());
        let e = right.entry(case.source.clone()).or_default();
        e.1 += 1;
        if ossl == "right" {
            e.2 += 1;
        }
        let shown = match (&got, exceptions.get(&case.id)) {
            (Ok(_), Some(_)) => {
                problems.push(format!("{}: right now; remove its exception", case.id));
                "right".to_owned()
            }
            (Ok(_), None) => {
                e.0 += 1;
                "right".to_owned()
            }
            (Err(why), Some(reason)) => {
                eprintln!("{}: excepted ({reason}): {why}", case.id);
                format!("not read: {reason}")
            }
            (Err(why), None) => {
                problems.push(format!("{}: {why}", case.id));
                format!("**WRONG**: {why}")
            }
        };
        table.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            cell(&case.id),
            cell(&case.what),
            cell(&case.asserts),
            cell(&shown),
            cell(&ossl)
        ));
    }
    table.push('\n');
    for (source, (r, n, o)) in &right {
        table.push_str(&format!(
            "- {source}: certmail {r} of {n} right, OpenSSL {o} of {n}\n"
        ));
        let min = floor.get(source).copied().unwrap_or(0);
        if *r < min {
            problems.push(format!("{source}: {r} right, below the floor of {min}"));
        }
    }
    eprintln!("{table}");
    let readme_path = repo().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).expect("README");
    let (begin, end) = ("<!-- corpus:begin -->\n", "<!-- corpus:end -->");
    let (Some(b), Some(e)) = (readme.find(begin), readme.find(end)) else {
        panic!("README.md lacks the corpus markers");
    };
    let current = &readme[b + begin.len()..e];
    if current != table {
        if std::env::var_os("CERTMAIL_UPDATE_CORPUS").is_some() {
            let new = format!("{}{table}{}", &readme[..b + begin.len()], &readme[e..]);
            std::fs::write(&readme_path, new).expect("write README");
        } else {
            problems.push(
                "README.md's corpus table differs from this run (CERTMAIL_UPDATE_CORPUS=1 rewrites it)"
                    .into(),
            );
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
