//! The mail certmail sends itself, end to end behind a real Postfix (after-queue content
//! filter) with smtp-sink behind: `certmail ca send` hands the PKCS#12 to Postfix, which
//! passes it through `certmail serve` (the CA's sender is never encrypted, even under
//! `encrypt-mode force`) to the sink; the password goes to a local SMS webhook and opens
//! the file with `openssl pkcs12`; `--password-to sender` mails it to the internal sender
//! instead. And an internal sender without a certificate (`auto-request-certificate`) gets
//! one from the built-in CA on the fly: the message arrives signed by it (`openssl cms
//! -verify`).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use certmail_testkit::{LeafSpec, TestPki};
use common::mta::{self, Gateway, Postfix, Sink, swaks, wait_for};

struct Site {
    dir: tempfile::TempDir,
    data: PathBuf,
}

impl Site {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(env!("CARGO_BIN_EXE_certmail"))
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .env_remove("CERTMAIL_DATABASE_URL")
            .env_remove("CERTMAIL_PASSPHRASE")
            .output()
            .expect("certmail")
    }

    fn cli(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "certmail {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn file(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, contents).expect("write");
        p
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8")
}

/// A one-request-at-a-time HTTP server that keeps every POST body and answers 200.
fn webhook() -> (u16, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            let mut s = s;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then Content-Length bytes of body.
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).into_owned();
                if let Some(i) = text.find("\r\n\r\n") {
                    let len = text[..i]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= i + 4 + len {
                        g.lock()
                            .expect("lock")
                            .push(String::from_utf8_lossy(&buf[i + 4..i + 4 + len]).into_owned());
                        break;
                    }
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        }
    });
    (port, got)
}

/// The base64 attachment of a message, decoded with openssl.
fn attachment(site: &Site, mail: &str, name: &str) -> PathBuf {
    let start = mail
        .find("filename=\"certificate.p12\"")
        .expect("attachment");
    let body = &mail[start..];
    let body = &body[body
        .find("\r\n\r\n")
        .or_else(|| body.find("\n\n"))
        .expect("part body")..];
    let b64: String = body
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let b64f = site.file(&format!("{name}.b64"), b64);
    let out = site.dir.path().join(name);
    let st = Command::new("openssl")
        .args(["base64", "-d", "-in", path(&b64f), "-out", path(&out)])
        .status()
        .expect("openssl base64");
    assert!(st.success());
    out
}

fn pkcs12_opens(file: &Path, password: &str) -> bool {
    Command::new("openssl")
        .args(["pkcs12", "-in", path(file), "-nodes", "-passin"])
        .arg(format!("pass:{password}"))
        .output()
        .is_ok_and(|o| {
            o.status.success() && String::from_utf8_lossy(&o.stdout).contains("PRIVATE KEY")
        })
}

#[test]
fn certificates_by_mail_and_certificates_on_the_fly() {
    if !mta::available() || !common::have("openssl") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let site = Site {
        data: dir.path().join("data"),
        dir,
    };
    site.cli(&["init"]);
    // The SMS webhook of this test is on loopback: listed on purpose (trust boundaries).
    site.cli(&["global", "set", "fetch-allow", "127.0.0.1, ::1"]);
    site.cli(&[
        "ca",
        "create",
        "--root-cn",
        "Mail Root",
        "--intermediate-cn",
        "Mail CA",
        "--key",
        "p256",
    ]);
    site.cli(&["ca", "config", "ca-email", "ca@example.com"]);
    site.cli(&["domain", "set", "example.com", "locality", "internal"]);
    // Everything outgoing must be encrypted; the partner has a certificate, so the gateway
    // would encrypt the CA's mail to it if the CA sender rule did not hold.
    site.cli(&["global", "set", "encrypt-mode", "force"]);
    let pki = TestPki::new("Partner");
    let partner = pki.leaf_rsa(&LeafSpec::email("pat@partner.example", 51));
    let pc = site.file("partner.pem", &partner.pem);
    site.cli(&["cert", "import", path(&pc)]);
    let (hook, posts) = webhook();
    site.cli(&[
        "global",
        "set",
        "sms-webhook-url",
        &format!("http://127.0.0.1:{hook}/sms"),
    ]);
    site.cli(&[
        "user",
        "set",
        "pat@partner.example",
        "phone",
        "+49 170 1234567",
    ]);

    let sink = Sink::start(site.dir.path());
    let filter = mta::free_port();
    let postfix = Postfix::start(site.dir.path(), sink.port, filter);
    let _gateway = Gateway::start(
        &site.data,
        filter,
        postfix.reinject,
        &site.dir.path().join("gateway.log"),
    );
    let inbound = format!("127.0.0.1:{}", postfix.inbound);

    // 1. Issue a certificate for the partner from the built-in CA and send it, the
    // password by SMS.
    let issued = site.cli(&[
        "ca",
        "issue",
        "--email",
        "pat@partner.example",
        "--cn",
        "Pat",
    ]);
    let sha = issued
        .split_whitespace()
        .nth(1)
        .expect("thumbprint")
        .to_owned();
    let sent = site.cli(&[
        "ca",
        "send",
        &sha,
        "--to",
        "pat@partner.example",
        "--password-to",
        "sms",
        "--next-hop",
        &inbound,
    ]);
    assert!(sent.contains("sent by SMS"), "{sent}");
    assert!(
        !sent.contains("password:"),
        "the password is not printed: {sent}"
    );
    wait_for(30, "the certificate mail at the sink", || {
        !sink.to("pat@partner.example").is_empty()
    });
    let mail = sink.to("pat@partner.example").remove(0);
    assert!(
        mail.contains("\nDate: ") && mail.contains("\nMessage-ID: <"),
        "{mail}"
    );
    assert!(
        !mail.contains("application/pkcs7-mime"),
        "the CA's mail is never encrypted: {mail}"
    );
    assert!(
        mail.contains("X-Certmail-Id:"),
        "it went through the gateway: {mail}"
    );
    let first_posts = posts.lock().expect("lock").clone();
    assert_eq!(first_posts.len(), 1, "one SMS");
    let sms: serde_json::Value = serde_json::from_str(&first_posts[0]).expect("JSON");
    assert_eq!(sms["to"], "+49 170 1234567");
    let text = sms["text"].as_str().expect("text");
    let password = text.rsplit(' ').next().expect("password");
    assert!(!mail.contains(password), "the password is not in the mail");
    let p12 = attachment(&site, &mail, "pat.p12");
    assert!(pkcs12_opens(&p12, password), "opens with the SMS password");
    assert!(!pkcs12_opens(&p12, "wrong password"));
    // Pat's key and certificate from the file, for reading pat's mail below.
    let pat_pem = site.dir.path().join("pat-key.pem");
    let st = Command::new("openssl")
        .args([
            "pkcs12",
            "-in",
            path(&p12),
            "-nodes",
            "-out",
            path(&pat_pem),
            "-passin",
        ])
        .arg(format!("pass:{password}"))
        .status()
        .expect("openssl pkcs12");
    assert!(st.success());

    // 2. The password to the internal sender who asked, by mail.
    let sent = site.cli(&[
        "ca",
        "send",
        &sha,
        "--to",
        "pat@partner.example",
        "--password-to",
        "sender",
        "--sender",
        "boss@example.com",
        "--legacy",
        "--next-hop",
        &inbound,
    ]);
    assert!(sent.contains("mailed to boss@example.com"), "{sent}");
    wait_for(30, "the password mail", || {
        !sink.to("boss@example.com").is_empty()
    });
    let pw_mail = sink.to("boss@example.com").remove(0);
    let password = pw_mail
        .lines()
        .skip_while(|l| !l.contains("Its password is:"))
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.contains("Its password is:"))
        .expect("password line")
        .to_owned();
    wait_for(30, "the second certificate mail", || {
        sink.to("pat@partner.example").len() >= 2
    });
    let second = sink
        .to("pat@partner.example")
        .into_iter()
        .find(|m| m.contains("legacy form"))
        .expect("legacy mail");
    let p12 = attachment(&site, &second, "pat-legacy.p12");
    assert!(pkcs12_opens(&p12, &password));
    // `ca issue --send`: issued and sent in one step, the password printed once here.
    let out = site.cli(&[
        "ca",
        "issue",
        "--email",
        "quinn@partner.example",
        "--cn",
        "Quinn",
        "--send",
        "--next-hop",
        &inbound,
    ]);
    let printed = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .expect("the password is printed")
        .to_owned();
    wait_for(30, "quinn's certificate mail", || {
        !sink.to("quinn@partner.example").is_empty()
    });
    let q = sink.to("quinn@partner.example").remove(0);
    assert!(!q.contains(&printed), "the password is not in the mail");
    assert!(pkcs12_opens(&attachment(&site, &q, "quinn.p12"), &printed));
    // A mismatch and a missing phone are refused before anything is sent.
    let out = site.run(&[
        "ca",
        "send",
        &sha,
        "--to",
        "other@partner.example",
        "--next-hop",
        &inbound,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-mismatch"));

    // 3. An internal sender without a certificate gets one on the fly and the message
    // arrives signed by it (encrypted to the partner under force).
    site.cli(&["global", "set", "sign-mode", "on"]);
    site.cli(&[
        "domain",
        "set",
        "example.com",
        "auto-request-certificate",
        "on",
    ]);
    let msg = site.file(
        "auto.eml",
        "From: newbie@example.com\r\nTo: pat@partner.example\r\nSubject: first mail\r\n\r\nsigned on the fly\r\n",
    );
    swaks(
        postfix.inbound,
        "newbie@example.com",
        "pat@partner.example",
        &msg,
    );
    wait_for(30, "the signed and encrypted message", || {
        sink.to("pat@partner.example")
            .iter()
            .any(|m| m.contains("smime-type=enveloped-data"))
    });
    let enc = sink
        .to("pat@partner.example")
        .into_iter()
        .find(|m| m.contains("smime-type=enveloped-data"))
        .expect("encrypted");
    let encf = site.file("auto-enc.eml", enc);
    // Encrypted to pat's valid certificate: the one the built-in CA issued (the partner
    // PKI's is not trusted here).
    let dec = site.dir.path().join("auto-dec.eml");
    let st = Command::new("openssl")
        .args(["cms", "-decrypt", "-in", path(&encf)])
        .args(["-recip", path(&pat_pem), "-inkey", path(&pat_pem)])
        .args(["-out", path(&dec)])
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "decrypts: {}",
        String::from_utf8_lossy(&st.stderr)
    );
    let root = site.dir.path().join("ca-root.pem");
    let roots = site.cli(&["root", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&roots).expect("json");
    let sha_root = v[0]["sha256"].as_str().expect("root sha").to_owned();
    site.cli(&[
        "cert",
        "export",
        &sha_root,
        "--format",
        "pem",
        "-o",
        path(&root),
    ]);
    let out = Command::new("openssl")
        .args([
            "cms",
            "-verify",
            "-in",
            path(&dec),
            "-CAfile",
            path(&root),
            "-signer",
        ])
        .arg(site.dir.path().join("signer.pem"))
        .output()
        .expect("openssl verify");
    assert!(
        out.status.success(),
        "signed by a certificate of the built-in CA: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed on the fly"));
    let signer = std::fs::read_to_string(site.dir.path().join("signer.pem")).expect("signer");
    let subj = Command::new("openssl")
        .args(["x509", "-noout", "-email"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin
                .take()
                .expect("stdin")
                .write_all(signer.as_bytes())?;
            c.wait_with_output()
        })
        .expect("x509");
    assert_eq!(
        String::from_utf8_lossy(&subj.stdout).trim(),
        "newbie@example.com"
    );

    // 4. auto-renew: pat's certificate of the built-in CA is renewed (new key) when it is
    // within auto-renew-days of expiry, and the new PKCS#12 is sent, its password by SMS.
    site.cli(&["user", "set", "pat@partner.example", "auto-renew", "on"]);
    let nothing = site.cli(&["ca", "auto-renew", "--next-hop", &inbound]);
    assert!(nothing.contains("0 renewed"), "not due yet: {nothing}");
    let later = certmail_pki::time::format_rfc3339(certmail_app::now() + 725 * 86_400);
    let out = site.cli(&[
        "ca",
        "auto-renew",
        "--next-hop",
        &inbound,
        "--as-of",
        &later,
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    let items = v.as_array().expect("array");
    assert_eq!(items.len(), 1, "only pat has auto-renew on: {out}");
    assert_eq!(items[0]["status"], "sent", "{out}");
    assert_eq!(items[0]["old"], sha.as_str());
    let new_sha = items[0]["new"].as_str().expect("new").to_owned();
    assert_ne!(new_sha, sha);
    wait_for(30, "the renewed certificate's mail", || {
        sink.to("pat@partner.example")
            .iter()
            .filter(|m| m.contains("certificate.p12"))
            .count()
            >= 3
    });
    let posts = posts.lock().expect("lock").clone();
    assert_eq!(posts.len(), 2, "a second SMS for the renewed certificate");
    let sms: serde_json::Value = serde_json::from_str(&posts[1]).expect("JSON");
    let pw2 = sms["text"]
        .as_str()
        .expect("text")
        .rsplit(' ')
        .next()
        .expect("password")
        .to_owned();
    let opens: Vec<bool> = sink
        .to("pat@partner.example")
        .iter()
        .filter(|m| m.contains("certificate.p12"))
        .enumerate()
        .map(|(i, m)| pkcs12_opens(&attachment(&site, m, &format!("pat-{i}.p12")), &pw2))
        .collect();
    assert_eq!(
        opens.iter().filter(|o| **o).count(),
        1,
        "exactly the renewed file opens with the new SMS password: {opens:?}"
    );
    // Once renewed, never again (the claim row); a second run as of the same time renews
    // only what is due then (nothing of pat's old certificate).
    let again = site.cli(&["ca", "auto-renew", "--next-hop", &inbound, "--json"]);
    assert_eq!(again.trim(), "[]", "{again}");
}
