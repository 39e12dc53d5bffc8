//! The gateway policies of issue 14 end to end behind a real Postfix (after-queue content
//! filter, as gateway_postfix.rs), with swaks as the client and smtp-sink as the
//! destination: the Subject trigger forces encryption for a `no-encryption` partner and is
//! removed, and `on-missing-certificate hold` keeps the message (no bounce, a headers-only
//! notice to the sender), survives `kill -9`, refuses to release while there is no
//! certificate and releases it encrypted through Postfix once there is one.

mod common;

use certmail_testkit::LeafSpec;
use common::mta::{Gateway, swaks, wait_for};
use common::site::{Site, flow, openssl};

/// The value of the first `name` header of the message's header section (after
/// smtp-sink's trace headers, which come first in the same section).
fn header(msg: &str, name: &str) -> Option<String> {
    let prefix = format!("{}:", name.to_ascii_lowercase());
    msg.lines()
        .take_while(|l| !l.is_empty())
        .find(|l| l.to_ascii_lowercase().starts_with(&prefix))
        .map(|l| l[prefix.len()..].trim().to_owned())
}

/// Decrypts `msg` with `who`'s key (`who.pem`/`who.key` in the site directory), verifies
/// the signed content against the root and returns the verified text.
fn decrypt_verify(s: &Site, msg: &str, who: &str) -> String {
    let enc = s.file(&format!("{who}-arrived.eml"), msg);
    let dec = s.dir.path().join(format!("{who}-decrypted.eml"));
    openssl(
        &[
            "cms",
            "-decrypt",
            "-in",
            &s.path(&enc),
            "-recip",
            &s.path(&s.dir.path().join(format!("{who}.pem"))),
            "-inkey",
            &s.path(&s.dir.path().join(format!("{who}.key"))),
            "-out",
            &s.path(&dec),
        ],
        "decrypt",
    );
    openssl(
        &[
            "cms",
            "-verify",
            "-in",
            &s.path(&dec),
            "-CAfile",
            &s.path(&s.dir.path().join("root.pem")),
        ],
        "verify",
    )
}

#[test]
fn postfix_subject_trigger_encrypts_for_a_no_encryption_partner() {
    let Some(f) = flow() else { return };
    let s = &f.site;
    s.cli(&[
        "domain",
        "set",
        "partner.example",
        "encrypt-mode",
        "no-encryption",
    ]);

    // 1. Without the trigger: no-encryption, so bob gets it in clear (signed).
    let plain = s.file(
        "plain.eml",
        "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: lunch\r\n\r\nthe public lunch plan\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "bob@partner.example",
        &plain,
    );
    wait_for(30, "the clear message at the sink", || {
        !f.sink.to("bob@partner.example").is_empty()
    });
    let got = f.sink.to("bob@partner.example").remove(0);
    assert!(got.contains("the public lunch plan"), "in clear: {got}");
    assert!(!got.contains("enveloped-data"), "not encrypted: {got}");
    assert!(
        got.contains("Content-Type: multipart/signed;"),
        "signed: {got}"
    );
    assert_eq!(header(&got, "Subject").as_deref(), Some("lunch"), "{got}");

    // 2. With the trigger (any case): encrypted anyway, the trigger removed.
    let secret = s.file(
        "secret.eml",
        "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: [Encrypt] budget\r\n\r\nthe secret budget\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "bob@partner.example",
        &secret,
    );
    wait_for(30, "the encrypted message at the sink", || {
        f.sink.to("bob@partner.example").len() == 2
    });
    let got = f
        .sink
        .to("bob@partner.example")
        .into_iter()
        .find(|m| !m.contains("the public lunch plan"))
        .expect("the second message");
    assert!(!got.contains("the secret budget"), "never in clear: {got}");
    assert!(!got.to_ascii_lowercase().contains("[encrypt]"), "{got}");
    assert!(got.contains("application/pkcs7-mime"), "{got}");
    assert_eq!(header(&got, "Subject").as_deref(), Some("budget"), "{got}");
    let verified = decrypt_verify(s, &got, "bob");
    assert!(verified.contains("the secret budget"), "{verified}");
    let log = f.gateway.log_text();
    assert!(log.contains("action=signed-encrypted"), "{log}");
}

#[test]
fn postfix_hold_queue_survives_kill_9_and_releases_encrypted() {
    let Some(mut f) = flow() else { return };
    f.site.cli(&[
        "domain",
        "set",
        "nocert.example",
        "on-missing-certificate",
        "hold",
    ]);
    let held_msg = f.site.file(
        "held.eml",
        "From: alice@example.com\r\nTo: carl@nocert.example\r\nSubject: contract\r\n\r\nthe held contract text\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "carl@nocert.example",
        &held_msg,
    );

    // 1. Held, not bounced: a notice (null sender, headers only) goes to alice.
    wait_for(30, "the hold notice to alice", || {
        !f.sink.to("alice@example.com").is_empty()
    });
    wait_for(30, "Postfix to finish with the message", || {
        f.postfix.queue_empty()
    });
    let notices = f.sink.to("alice@example.com");
    assert_eq!(notices.len(), 1, "one notice, no bounce: {notices:?}");
    let notice = &notices[0];
    assert!(notice.contains("carl@nocert.example"), "{notice}");
    assert!(notice.contains("hold"), "{notice}");
    assert!(!notice.contains("Undelivered"), "not a bounce: {notice}");
    assert!(!notice.contains("the held contract text"), "{notice}");
    assert!(
        header(notice, "X-Mail-Args").is_some_and(|a| a.starts_with("<>")),
        "from the null sender: {notice}"
    );
    assert!(
        f.sink.to("carl@nocert.example").is_empty(),
        "nothing to carl"
    );
    assert!(
        !f.postfix.log().contains("status=bounced"),
        "{}",
        f.postfix.log()
    );
    let held = f.site.held();
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["recipient"], "carl@nocert.example", "{held:?}");
    assert_eq!(held[0]["sender"], "alice@example.com", "{held:?}");
    assert_eq!(held[0]["subject"], "contract", "{held:?}");
    let id = held[0]["id"].as_i64().expect("id");

    // 2. kill -9 and a new gateway on the same data: still held.
    f.gateway.kill9();
    f.gateway = Gateway::start(
        &f.site.data,
        f.postfix.filter,
        f.postfix.reinject,
        &f.site.dir.path().join("gateway2.log"),
    );
    let after = f.site.held();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["id"].as_i64(), Some(id), "{after:?}");
    let id = id.to_string();

    // 3. No certificate yet: release refuses and points at --clear; still held.
    let hop = format!("127.0.0.1:{}", f.postfix.reinject);
    let (code, out, err) = f
        .site
        .try_cli(&["hold", "release", &id, "--next-hop", &hop]);
    assert_eq!(code, Some(1), "release without a certificate: {out}{err}");
    assert!(format!("{out}{err}").contains("--clear"), "{out}{err}");
    assert_eq!(f.site.held().len(), 1, "still held");
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert!(
        f.sink.to("carl@nocert.example").is_empty(),
        "nothing to carl"
    );

    // 4. carl gets a certificate: released, encrypted, through Postfix to the sink.
    let carl = f
        .site
        .pki
        .leaf_rsa(&LeafSpec::email("carl@nocert.example", 23));
    let carl_c = f.site.file("carl.pem", &carl.pem);
    f.site.file("carl.key", &carl.key_pem);
    f.site.cli(&["cert", "import", &f.site.path(&carl_c)]);
    let out = f.site.cli(&["hold", "release", &id, "--next-hop", &hop]);
    assert!(out.contains("released"), "{out}");
    wait_for(30, "the released message for carl", || {
        !f.sink.to("carl@nocert.example").is_empty()
    });
    let got = f.sink.to("carl@nocert.example");
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!got[0].contains("the held contract text"), "{}", got[0]);
    assert!(got[0].contains("application/pkcs7-mime"), "{}", got[0]);
    let verified = decrypt_verify(&f.site, &got[0], "carl");
    assert!(verified.contains("the held contract text"), "{verified}");
    assert!(f.site.held().is_empty(), "nothing left in the hold queue");
    assert_eq!(f.site.cli(&["hold", "list", "--json"]).trim(), "[]");

    // 5. Held mail expires after hold-expire-days (default 7) with a notice to the sender.
    let late = f.site.file(
        "late.eml",
        "From: alice@example.com\r\nTo: dan@nocert.example\r\nSubject: never released\r\n\r\nthe late text\r\n",
    );
    swaks(
        f.postfix.inbound,
        "alice@example.com",
        "dan@nocert.example",
        &late,
    );
    wait_for(30, "the second message held", || f.site.held().len() == 1);
    let out = f.site.cli(&["hold", "expire", "--next-hop", &hop]);
    assert!(out.contains("0 expired"), "nothing is due yet: {out}");
    let later = certmail_pki::time::format_rfc3339(certmail_app::now() + 8 * 86_400);
    let out = f
        .site
        .cli(&["hold", "expire", "--next-hop", &hop, "--as-of", &later]);
    assert!(out.contains("1 expired"), "{out}");
    assert!(f.site.held().is_empty(), "dropped");
    wait_for(30, "the expiry notice to alice", || {
        f.sink
            .to("alice@example.com")
            .iter()
            .any(|m| m.contains("expired") && m.contains("dan@nocert.example"))
    });
    assert!(
        f.sink
            .messages()
            .iter()
            .all(|m| !m.contains("the late text")),
        "the held text never left"
    );
}
