//! `certmail serve` end to end behind a real Postfix (after-queue content filter, as
//! README documents), with swaks as the client and Postfix's smtp-sink as the destination:
//! outgoing mail signed and encrypted (checked by `openssl cms`), incoming mail decrypted
//! and verified, `force` without a certificate refused with nothing sent in clear,
//! `kill -9` with mail in flight, and a next hop that is down and comes back.

mod common;

use std::path::PathBuf;
use std::process::Command;

use certmail_testkit::LeafSpec;
use common::mta::{self, Gateway, Sink, swaks, wait_for};
use common::site::{Flow, Site, flow, openssl, site};

#[test]
fn postfix_content_filter_signs_encrypts_decrypts_and_refuses() {
    let Some(f) = flow() else { return };
    let s = &f.site;

    // 1. Internal to external: signed, then encrypted; openssl decrypts and verifies.
    let out_msg = s.file(
        "out.eml",
        "From: Alice <alice@example.com>\r\nTo: bob@partner.example\r\nSubject: outbound\r\n\r\nthe outbound secret\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "bob@partner.example",
        &out_msg,
    );
    wait_for(30, "the encrypted message at the sink", || {
        !f.sink.to("bob@partner.example").is_empty()
    });
    let got = f.sink.to("bob@partner.example").remove(0);
    assert!(
        !got.contains("the outbound secret"),
        "never in clear: {got}"
    );
    assert!(got.contains("application/pkcs7-mime"), "{got}");
    let enc = s.file("arrived.eml", &got);
    let dec = s.dir.path().join("decrypted.eml");
    openssl(
        &[
            "cms",
            "-decrypt",
            "-in",
            &s.path(&enc),
            "-recip",
            &s.path(&s.dir.path().join("bob.pem")),
            "-inkey",
            &s.path(&s.dir.path().join("bob.key")),
            "-out",
            &s.path(&dec),
        ],
        "decrypt",
    );
    let verified = openssl(
        &[
            "cms",
            "-verify",
            "-in",
            &s.path(&dec),
            "-CAfile",
            &s.path(&s.dir.path().join("root.pem")),
        ],
        "verify",
    );
    assert!(verified.contains("the outbound secret"), "{verified}");

    // 2. External to internal: bob signs and encrypts with openssl; alice gets it
    // decrypted with the report headers.
    let inner = s.file(
        "inner.txt",
        "Content-Type: text/plain; charset=us-ascii\r\n\r\nthe inbound secret\r\n",
    );
    let signed = s.dir.path().join("signed.eml");
    openssl(
        &[
            "cms",
            "-sign",
            "-in",
            &s.path(&inner),
            "-signer",
            &s.path(&s.dir.path().join("bob.pem")),
            "-inkey",
            &s.path(&s.dir.path().join("bob.key")),
            "-certfile",
            &s.path(&s.dir.path().join("inter.pem")),
            "-out",
            &s.path(&signed),
        ],
        "sign",
    );
    let inbound = s.dir.path().join("inbound.eml");
    openssl(
        &[
            "cms",
            "-encrypt",
            "-aes256",
            "-in",
            &s.path(&signed),
            "-from",
            "bob@partner.example",
            "-to",
            "alice@example.com",
            "-subject",
            "inbound",
            "-out",
            &s.path(&inbound),
            &s.path(&s.dir.path().join("alice.pem")),
        ],
        "encrypt",
    );
    swaks(
        f.postfix.inbound,
        "bob@partner.example",
        "alice@example.com",
        &inbound,
    );
    wait_for(30, "the decrypted message at the sink", || {
        !f.sink.to("alice@example.com").is_empty()
    });
    let got = f.sink.to("alice@example.com").remove(0);
    assert!(got.contains("the inbound secret"), "decrypted: {got}");
    assert!(got.contains("X-Certmail-Encrypted-1: True"), "{got}");
    assert!(
        got.contains("X-Certmail-Signer-Verified-0-2: True"),
        "{got}"
    );
    assert!(got.contains("X-Certmail-Signer-Trusted-0-2: True"), "{got}");

    // 3. Force without a certificate: certmail refuses at RCPT, Postfix bounces to the
    // sender, and nothing reaches the recipient.
    let forced = s.file(
        "forced.eml",
        "From: alice@example.com\r\nTo: carl@nocert.example\r\nSubject: forced\r\n\r\nmust not leak\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "carl@nocert.example",
        &forced,
    );
    wait_for(30, "the bounce to alice", || {
        f.sink
            .to("alice@example.com")
            .iter()
            .any(|m| m.contains("carl@nocert.example"))
    });
    let bounce = f
        .sink
        .to("alice@example.com")
        .into_iter()
        .find(|m| m.contains("carl@nocert.example"))
        .expect("bounce");
    assert!(bounce.contains("5.7.1"), "{bounce}");
    assert!(
        f.sink.to("carl@nocert.example").is_empty(),
        "nothing sent to carl"
    );
    assert!(
        f.sink
            .messages()
            .iter()
            .all(|m| !m.contains("must not leak") || m.contains("Undelivered")),
        "the text only comes back to the sender inside the bounce"
    );
    let log = f.gateway.log_text();
    assert!(log.contains("action=signed-encrypted"), "{log}");
    // XFORWARD: each line carries Postfix's queue id, which Postfix's own log has too.
    let line = log
        .lines()
        .find(|l| l.contains("action=signed-encrypted"))
        .expect("line");
    let qid = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("queue_id="))
        .unwrap_or_else(|| panic!("no queue id: {line}"));
    assert!(
        line.contains("client=") && line.contains("[127.0.0.1]"),
        "{line}"
    );
    let postfix_log = f.postfix.log();
    assert!(
        postfix_log.contains(&format!("{qid}: ")),
        "{qid} not in Postfix's log:\n{postfix_log}"
    );
    assert!(log.contains("action=decrypted-verified"), "{log}");
    assert!(log.contains("rcpt-refused"), "{log}");
}

fn numbered(s: &Site, i: usize) -> PathBuf {
    s.file(
        &format!("m{i}.eml"),
        format!(
            "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: number {i}\r\n\r\nmessage {i}\r\n{}\r\n",
            "x".repeat(20_000)
        ),
    )
}

/// Distinct message numbers that arrived for bob (decrypting each with openssl).
fn arrived_numbers(f: &Flow) -> std::collections::BTreeSet<usize> {
    let mut out = std::collections::BTreeSet::new();
    for m in f.sink.to("bob@partner.example") {
        if let Some(line) = m.lines().find(|l| l.starts_with("Subject: number "))
            && let Ok(n) = line["Subject: number ".len()..].trim().parse()
        {
            out.insert(n);
        }
    }
    out
}

#[test]
fn postfix_kill_9_and_restart_loses_nothing() {
    let Some(mut f) = flow() else { return };
    const N: usize = 30;
    let files: Vec<PathBuf> = (0..N).map(|i| numbered(&f.site, i)).collect();
    for (i, file) in files.iter().enumerate() {
        swaks(
            f.postfix.inbound,
            "alice@example.com",
            "bob@partner.example",
            file,
        );
        if i == N / 3 {
            // Postfix is handing mail to certmail right now.
            f.gateway.kill9();
        }
    }
    std::thread::sleep(std::time::Duration::from_secs(1));
    let before = arrived_numbers(&f).len();
    assert!(before < N, "the gateway was down for part of the run");
    f.gateway = Gateway::start(
        &f.site.data,
        f.postfix.filter,
        f.postfix.reinject,
        &f.site.dir.path().join("gateway.log"),
    );
    wait_for(90, "every message after the restart", || {
        f.postfix.flush();
        arrived_numbers(&f).len() == N && f.postfix.queue_empty()
    });
    for m in f.sink.to("bob@partner.example") {
        assert!(!m.contains("message "), "all encrypted");
    }
    // A clean stop after a kill: SIGTERM exits 0.
    assert!(
        f.gateway.terminate(),
        "certmail serve stops cleanly on SIGTERM"
    );
}

#[test]
fn postfix_next_hop_down_then_up() {
    let Some(mut f) = flow() else { return };
    // Restart the gateway pointing at a next hop that is not there.
    f.gateway.kill9();
    let dead = mta::free_port();
    f.gateway = Gateway::start(
        &f.site.data,
        f.postfix.filter,
        dead,
        &f.site.dir.path().join("gateway-down.log"),
    );
    for i in 0..5 {
        swaks(
            f.postfix.inbound,
            "alice@example.com",
            "bob@partner.example",
            &numbered(&f.site, i),
        );
    }
    wait_for(30, "certmail to defer the messages", || {
        f.gateway.log_text().matches("reply=451").count() >= 5
    });
    assert!(
        arrived_numbers(&f).is_empty(),
        "nothing got through, nothing acknowledged"
    );
    assert!(!f.postfix.queue_empty(), "Postfix still holds the mail");
    assert!(f.postfix.log().contains("451 4.4.1"), "{}", f.postfix.log());
    // The next hop is back.
    f.gateway.kill9();
    f.gateway = Gateway::start(
        &f.site.data,
        f.postfix.filter,
        f.postfix.reinject,
        &f.site.dir.path().join("gateway.log"),
    );
    wait_for(60, "the deferred messages", || {
        f.postfix.flush();
        arrived_numbers(&f).len() == 5 && f.postfix.queue_empty()
    });
}

#[test]
fn starttls_from_pem_files_and_from_the_store() {
    if !mta::available() || !common::have("openssl") {
        return;
    }
    let s = site();
    let sink = Sink::start(s.dir.path());
    let server = s.pki.leaf_rsa(&LeafSpec::email("gateway@example.com", 31));
    let cert = s.file(
        "tls.pem",
        format!("{}{}", server.pem, s.pki.intermediate.pem),
    );
    let key = s.file("tls.key", &server.key_pem);
    let listen = mta::free_port();
    let _gw = Gateway::start_with(
        &s.data,
        listen,
        sink.port,
        &s.dir.path().join("tls.log"),
        &["--tls-cert", &s.path(&cert), "--tls-key", &s.path(&key)],
    );
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{listen}"), "--tls"])
        .args(["--from", "x@outside.example", "--to", "y@elsewhere.example"])
        .output()
        .expect("swaks");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "swaks --tls: {t}");
    assert!(t.contains("STARTTLS"), "EHLO announces STARTTLS: {t}");
    assert!(t.contains("TLS started"), "{t}");
    assert!(
        t.contains("<~  250 2.0.0 Ok: queued as"),
        "accepted over TLS: {t}"
    );
    wait_for(10, "the message over TLS", || {
        !sink.to("y@elsewhere.example").is_empty()
    });

    // The same with alice's certificate and key from the stores.
    let thumb = s
        .cli(&[
            "cert",
            "list",
            "--email",
            "alice@example.com",
            "--with-key",
            "--json",
        ])
        .split("\"sha256\"")
        .nth(1)
        .and_then(|r| r.split('"').nth(1))
        .expect("thumbprint")
        .to_owned();
    let listen2 = mta::free_port();
    let _gw2 = Gateway::start_with(
        &s.data,
        listen2,
        sink.port,
        &s.dir.path().join("tls2.log"),
        &["--tls-cert-from-store", &thumb[..16]],
    );
    let out = Command::new("swaks")
        .args(["--server", &format!("127.0.0.1:{listen2}"), "--tls"])
        .args(["--from", "x@outside.example", "--to", "z@elsewhere.example"])
        .output()
        .expect("swaks");
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("TLS started") && t.contains("<~  250 2.0.0 Ok"),
        "{t}"
    );
    // openssl sees alice's certificate on the wire.
    let mut s_client = Command::new("openssl")
        .args([
            "s_client",
            "-starttls",
            "smtp",
            "-connect",
            &format!("127.0.0.1:{listen2}"),
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("s_client");
    drop(s_client.stdin.take());
    let o = s_client.wait_with_output().expect("s_client output");
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("alice"), "{t}");
}

/// A message just under Postfix's default `message_size_limit` (10,240,000 bytes) grows by
/// about a third when certmail encrypts it; the reinjection `smtpd` of README's master.cf
/// must take the larger result, or Postfix accepts the message and then bounces it.
#[test]
fn postfix_mid_size_message_survives_encryption() {
    let Some(f) = flow() else { return };
    let s = &f.site;
    // 6.3 MB of attachment, 8.6 MB as base64: under the 10,240,000-byte default.
    let mut seed: u32 = 0x2545_f491;
    let raw: Vec<u8> = (0..6_300_000)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as u8
        })
        .collect();
    let b64 = {
        use std::fmt::Write;
        const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::with_capacity(raw.len() / 3 * 4 + raw.len() / 57 * 2 + 8);
        for line in raw.chunks(57) {
            for c in line.chunks(3) {
                let n = (u32::from(c[0]) << 16)
                    | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
                    | u32::from(*c.get(2).unwrap_or(&0));
                for i in 0..4 {
                    if i <= c.len() {
                        out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
                    } else {
                        out.push('=');
                    }
                }
            }
            let _ = write!(out, "\r\n");
        }
        out
    };
    let msg = format!(
        "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: large\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\n\
         the large secret\r\n--b1\r\nContent-Type: application/octet-stream\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{b64}--b1--\r\n"
    );
    assert!(
        (8_500_000..10_240_000).contains(&msg.len()),
        "{} bytes",
        msg.len()
    );
    let path = s.file("large.eml", &msg);
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "bob@partner.example",
        &path,
    );
    // Postfix's queue empties only once the sink has answered the whole message (the sink
    // writes its file as the data arrives).
    wait_for(120, "the large message at the sink, or a bounce", || {
        f.postfix.queue_empty()
            && (!f.sink.to("bob@partner.example").is_empty()
                || !f.sink.to("alice@example.com").is_empty())
    });
    let bounces = f.sink.to("alice@example.com");
    assert!(
        bounces.is_empty(),
        "bounced: {}",
        bounces[0].chars().take(3000).collect::<String>()
    );
    let got = f.sink.to("bob@partner.example").remove(0);
    assert!(got.contains("application/pkcs7-mime"), "encrypted");
    assert!(!got.contains("the large secret"), "never in clear");
    assert!(
        got.len() > 10_240_000,
        "grew past the input limit: {} bytes",
        got.len()
    );
}

/// `--log-format json`: one object per message, with Postfix's queue id (XFORWARD) that
/// Postfix's own log carries, and the message's recipients, size, outcome and time.
#[test]
fn json_log_lines_join_postfixs_log() {
    let Some(mut f) = flow() else { return };
    assert!(f.gateway.terminate(), "stopped");
    let log = f.site.dir.path().join("gateway-json.log");
    f.gateway = mta::Gateway::start_with(
        &f.site.data,
        f.postfix.filter,
        f.postfix.reinject,
        &log,
        &["--log-format", "json"],
    );
    let msg = f.site.file(
        "json.eml",
        "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: json\r\n\r\nlogged as json\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "bob@partner.example",
        &msg,
    );
    wait_for(30, "the message at the sink", || {
        f.postfix.queue_empty() && !f.sink.to("bob@partner.example").is_empty()
    });
    let text = std::fs::read_to_string(&log).expect("log");
    let record: serde_json::Value = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["event"] == "message" && v["outcome"] == "accepted")
        .unwrap_or_else(|| panic!("no JSON message record: {text}"));
    assert_eq!(record["from"], "alice@example.com", "{record}");
    assert_eq!(record["to"][0]["to"], "bob@partner.example", "{record}");
    assert_eq!(record["to"][0]["action"], "signed-encrypted", "{record}");
    assert_eq!(record["to"][0]["direction"], "outgoing", "{record}");
    assert_eq!(record["reply"], 250);
    assert!(record["size"].as_u64().unwrap_or(0) > 0 && record["ms"].is_number());
    assert!(record["id"].is_string() && record["time"].is_string());
    let qid = record["queue_id"].as_str().expect("queue id");
    assert!(
        f.postfix.log().contains(&format!("{qid}: ")),
        "{qid} not in Postfix's log"
    );
}

/// `certmail doctor` against the running set-up: every check passes; with the gateway
/// stopped it names the problem and its fix, and exits 1.
#[test]
fn doctor_checks_the_running_setup() {
    let Some(mut f) = flow() else { return };
    let run = |f: &common::site::Flow| {
        let o = Command::new(env!("CARGO_BIN_EXE_certmail"))
            .arg("--data-dir")
            .arg(&f.site.data)
            .arg("doctor")
            .args(["--smtp-listen", &format!("127.0.0.1:{}", f.postfix.filter)])
            .args(["--next-hop", &format!("127.0.0.1:{}", f.postfix.reinject)])
            .args(["--http-listen", &format!("127.0.0.1:{}", f.gateway.http)])
            .arg("--postfix-config-dir")
            .arg(&f.postfix.conf)
            .arg("--json")
            .env_remove("CERTMAIL_DATABASE_URL")
            .output()
            .expect("doctor");
        let findings: Vec<serde_json::Value> =
            serde_json::from_slice(&o.stdout).expect("doctor JSON");
        (o.status.code(), findings)
    };
    let (code, findings) = run(&f);
    let status = |fs: &[serde_json::Value], check: &str| {
        fs.iter()
            .find(|x| x["check"] == check)
            .map(|x| x["status"].as_str().unwrap_or_default().to_owned())
            .unwrap_or_default()
    };
    for check in [
        "data directory",
        "key store",
        "smtp",
        "ready",
        "next hop",
        "postfix content_filter",
        "postfix 8-bit",
        "postfix sizes",
        "postfix loop",
        "postfix hopcount",
    ] {
        assert_eq!(status(&findings, check), "ok", "{check}: {findings:#?}");
    }
    assert_eq!(code, Some(0), "{findings:#?}");
    // A reinjection service that would hand mail back to certmail (a loop) and a low
    // hopcount_limit are found, each with its fix.
    let postconf = |arg: &str| {
        let o = Command::new("postconf")
            .arg("-c")
            .arg(&f.postfix.conf)
            .args(arg.split(' '))
            .output()
            .expect("postconf");
        assert!(o.status.success(), "postconf {arg}");
    };
    let service = format!("127.0.0.1:{}/inet/content_filter", f.postfix.reinject);
    postconf(&format!(
        "-P {service}=certmail:[127.0.0.1]:{}",
        f.postfix.filter
    ));
    postconf("-e hopcount_limit=8");
    let (code, findings) = run(&f);
    assert_eq!(code, Some(1), "{findings:#?}");
    assert_eq!(
        status(&findings, "postfix loop"),
        "problem",
        "{findings:#?}"
    );
    assert_eq!(
        status(&findings, "postfix hopcount"),
        "warning",
        "{findings:#?}"
    );
    postconf(&format!("-P {service}="));
    postconf("-e hopcount_limit=50");
    let (_, findings) = run(&f);
    assert_eq!(status(&findings, "postfix loop"), "ok", "{findings:#?}");
    // The gateway stopped: its port is the problem, with the fix.
    assert!(f.gateway.terminate());
    let (code, findings) = run(&f);
    assert_eq!(code, Some(1));
    let smtp = findings
        .iter()
        .find(|x| x["check"] == "smtp")
        .expect("smtp finding");
    assert_eq!(smtp["status"], "problem", "{smtp}");
    assert!(
        smtp["fix"]
            .as_str()
            .unwrap_or_default()
            .contains("certmail serve"),
        "{smtp}"
    );
    f.gateway = Gateway::start(
        &f.site.data,
        f.postfix.filter,
        f.postfix.reinject,
        &f.site.dir.path().join("gateway.log"),
    );
}
