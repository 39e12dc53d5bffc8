//! The gateway policies of issue 14 in process: encryption triggers (Subject and header),
//! `sign-mode` and `sign-calendar`, incoming subject tags and signature removal, the hold
//! queue (`on-missing-certificate hold`: held, told, retried once, released encrypted or in
//! clear), and the CA sender that is never encrypted.

mod common;

use certmail_pki::Certificate;
use certmail_smime::message::{self, Layer, UnwrapOptions};
use certmail_smime::{EncryptOptions, KeyPair, SignOptions};
use certmail_store::Party;
use certmail_testkit::{Issued, LeafSpec, TestPki};
use common::{Harness, cert, keypair, message, setup};

async fn set(h: &Harness, p: Party, key: &str, value: &str) {
    h.app
        .set_setting(&p, key, value)
        .await
        .unwrap_or_else(|e| panic!("{key} = {value}: {e}"));
}

fn header<'a>(t: &'a str, name: &str) -> Option<&'a str> {
    let head = t.split("\r\n\r\n").next().unwrap_or("");
    head.lines().find_map(|l| {
        l.split_once(':')
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    })
}

fn is_signed(data: &[u8], keys: &[&KeyPair]) -> bool {
    let u = message::unwrap(data, keys, &UnwrapOptions::default()).expect("unwrap");
    u.layers.iter().any(|l| matches!(l, Layer::Signed { .. }))
}

fn is_encrypted(data: &[u8]) -> bool {
    String::from_utf8_lossy(data).contains("smime-type=enveloped-data")
}

#[tokio::test]
async fn subject_trigger_forces_encryption_and_is_removed() {
    let (h, _p) = setup().await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    // bob has a certificate, nocert has none; the default encrypt-mode is allow.
    let msg = message(
        "alice@example.com",
        "bob@partner.example, nocert@partner.example",
        "[Encrypt] quarterly figures",
        "the figures",
    );
    c.mail(
        "alice@example.com",
        &["bob@partner.example", "nocert@partner.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    let bob = got
        .iter()
        .find(|m| m.rcpts == ["bob@partner.example"])
        .expect("bob's copy");
    let t = bob.text();
    assert!(is_encrypted(&bob.data), "{t}");
    assert_eq!(header(&t, "Subject"), Some("quarterly figures"), "{t}");
    assert!(
        !got.iter()
            .any(|m| m.rcpts.contains(&"nocert@partner.example".to_string())),
        "nothing to the recipient without a certificate"
    );
    let notice = got.iter().find(|m| m.from.is_empty()).expect("notice");
    let n = notice.text();
    assert!(
        n.contains("nocert@partner.example") && n.contains("encrypt-trigger-subject"),
        "{n}"
    );
    assert!(!n.contains("the figures"), "headers only: {n}");

    // Without the trigger the same message to nocert goes out in clear (allow).
    h.sink.clear();
    let plain = message(
        "alice@example.com",
        "nocert@partner.example",
        "quarterly figures",
        "public",
    );
    c.mail(
        "alice@example.com",
        &["nocert@partner.example"],
        &plain,
        "250",
    )
    .await;
    assert!(!is_encrypted(&h.sink.messages()[0].data));

    // The trigger is a setting: another word, and empty turns it off.
    set(&h, Party::Global, "encrypt-trigger-subject", "(secure)").await;
    h.sink.clear();
    let msg = message(
        "alice@example.com",
        "bob@partner.example",
        "[encrypt] now plain",
        "x",
    );
    c.mail("alice@example.com", &["bob@partner.example"], &msg, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert_eq!(header(&t, "Subject"), Some("[encrypt] now plain"));
    // (bob has a certificate, so allow encrypts anyway; the Subject is left alone.)
    assert!(
        h.app
            .set_setting(&Party::Global, "encrypt-trigger-subject", "a\r\nb")
            .await
            .is_err()
    );

    // An external sender cannot trigger anything (and the Subject stays as sent).
    h.sink.clear();
    let msg = message(
        "bob@partner.example",
        "carol@example.com",
        "(SECURE) hi",
        "x",
    );
    c.mail("bob@partner.example", &["carol@example.com"], &msg, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert_eq!(header(&t, "Subject"), Some("(SECURE) hi"), "{t}");
}

#[tokio::test]
async fn header_trigger_forces_encryption_and_never_leaves() {
    let (h, _p) = setup().await;
    set(
        &h,
        Party::Global,
        "encrypt-trigger-header",
        "Sensitivity: Company-Confidential",
    )
    .await;
    set(&h, Party::Global, "encrypt-mode", "no-encryption").await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let mut msg = b"Sensitivity: company-confidential\r\n".to_vec();
    msg.extend(message(
        "alice@example.com",
        "bob@partner.example",
        "plan",
        "confidential plan",
    ));
    c.mail("alice@example.com", &["bob@partner.example"], &msg, "250")
        .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    let t = got[0].text();
    assert!(
        is_encrypted(&got[0].data),
        "the trigger wins over no-encryption: {t}"
    );
    assert!(header(&t, "Sensitivity").is_none(), "{t}");

    // Another value of the header does not trigger, and the header still does not leave.
    h.sink.clear();
    let mut msg = b"Sensitivity: Personal\r\n".to_vec();
    msg.extend(message(
        "alice@example.com",
        "bob@partner.example",
        "plan",
        "x",
    ));
    c.mail("alice@example.com", &["bob@partner.example"], &msg, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert!(!is_encrypted(&h.sink.messages()[0].data), "{t}");
    assert!(header(&t, "Sensitivity").is_none(), "{t}");

    // From outside: ignored and removed.
    h.sink.clear();
    let mut msg = b"Sensitivity: Company-Confidential\r\n".to_vec();
    msg.extend(message(
        "bob@partner.example",
        "carol@example.com",
        "in",
        "x",
    ));
    c.mail("bob@partner.example", &["carol@example.com"], &msg, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert!(header(&t, "Sensitivity").is_none(), "{t}");
    assert!(
        h.app
            .set_setting(&Party::Global, "encrypt-trigger-header", "no colon")
            .await
            .is_err()
    );
}

#[tokio::test]
async fn sign_mode_when_encrypted_and_calendar_invitations() {
    let (h, p) = setup().await;
    set(&h, Party::Global, "sign-mode", "when-encrypted").await;
    let alice = keypair(&p.alice);
    let bob = keypair(&p.bob);
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message(
        "alice@example.com",
        "bob@partner.example, nocert@partner.example",
        "both",
        "body",
    );
    c.mail(
        "alice@example.com",
        &["bob@partner.example", "nocert@partner.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    let enc = got
        .iter()
        .find(|m| m.rcpts == ["bob@partner.example"])
        .expect("bob");
    let plain = got
        .iter()
        .find(|m| m.rcpts == ["nocert@partner.example"])
        .expect("nocert");
    assert!(is_signed(&enc.data, &[&bob]), "encrypted copy is signed");
    assert!(
        !plain.text().contains("application/pkcs7-signature"),
        "plain copy is not signed: {}",
        plain.text()
    );

    // The older switch set nearer wins: alice's own sign off beats global sign-mode.
    set(&h, Party::User("alice@example.com".into()), "sign", "off").await;
    h.sink.clear();
    c.mail("alice@example.com", &["bob@partner.example"], &msg, "250")
        .await;
    assert!(!is_signed(&h.sink.messages()[0].data, &[&bob]));
    h.app
        .unset_setting(&Party::User("alice@example.com".into()), "sign")
        .await
        .expect("unset");

    // A calendar invitation is not signed unless sign-calendar is on.
    set(&h, Party::Global, "sign-mode", "on").await;
    let invite = b"From: alice@example.com\r\nTo: nocert@partner.example\r\nSubject: meeting\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nMeeting\r\n--b1\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\nBEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n--b1--\r\n";
    h.sink.clear();
    c.mail(
        "alice@example.com",
        &["nocert@partner.example"],
        invite,
        "250",
    )
    .await;
    assert!(
        !h.sink.messages()[0]
            .text()
            .contains("application/pkcs7-signature")
    );
    set(&h, Party::Global, "sign-calendar", "on").await;
    h.sink.clear();
    c.mail(
        "alice@example.com",
        &["nocert@partner.example"],
        invite,
        "250",
    )
    .await;
    assert!(is_signed(&h.sink.messages()[0].data, &[&alice]));
}

fn signed_and_encrypted(
    signer: &Issued,
    chain: &Certificate,
    to: &Certificate,
    subject: &str,
) -> Vec<u8> {
    let original = message(
        &signer_email(signer),
        "alice@example.com",
        subject,
        "inbound secret",
    );
    let mut signed = Vec::new();
    message::sign_message(
        &original,
        &keypair(signer),
        std::slice::from_ref(chain),
        &SignOptions {
            signing_time: certmail_app::now(),
            ..SignOptions::default()
        },
        true,
        &mut signed,
    )
    .expect("sign");
    let mut enc = Vec::new();
    message::encrypt_message(
        &signed,
        std::slice::from_ref(to),
        &EncryptOptions::default(),
        &mut enc,
    )
    .expect("encrypt");
    enc
}

fn signer_email(i: &Issued) -> String {
    cert(i).emails.first().cloned().unwrap_or_default()
}

#[tokio::test]
async fn incoming_subject_tags_and_signature_removal() {
    let (h, p) = setup().await;
    set(
        &h,
        Party::Domain("example.com".into()),
        "subject-tags",
        "on",
    )
    .await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let good = signed_and_encrypted(&p.bob, &cert(&p.pki.intermediate), &cert(&p.alice), "hello");
    c.mail("bob@partner.example", &["alice@example.com"], &good, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert_eq!(
        header(&t, "Subject"),
        Some("[decrypted] [signed] hello"),
        "{t}"
    );
    assert!(t.contains("multipart/signed"), "signature kept by default");

    // A signer from a PKI certmail does not trust: the invalid tag.
    let other = TestPki::new("Stranger");
    let eve = other.leaf_rsa(&LeafSpec::email("eve@partner.example", 31));
    let bad = signed_and_encrypted(
        &eve,
        &Certificate::from_der(&other.intermediate.der, &certmail_crypto::AwsLcOps).expect("c"),
        &cert(&p.alice),
        "hi",
    );
    h.sink.clear();
    c.mail("eve@partner.example", &["alice@example.com"], &bad, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert_eq!(
        header(&t, "Subject"),
        Some("[decrypted] [signature invalid] hi"),
        "{t}"
    );

    // remove-signature strips a valid, trusted signature; the report headers stay. An
    // invalid one is kept (the reader may want to look at it).
    set(
        &h,
        Party::User("alice@example.com".into()),
        "remove-signature",
        "on",
    )
    .await;
    set(
        &h,
        Party::Domain("example.com".into()),
        "subject-tag-signed",
        "[verified]",
    )
    .await;
    h.sink.clear();
    c.mail(
        "bob@partner.example",
        &["alice@example.com", "carol@example.com"],
        &good,
        "250",
    )
    .await;
    let got = h.sink.messages();
    // alice's copy differs from carol's (signature removed for alice only): two copies.
    assert_eq!(got.len(), 2, "{got:?}");
    let a = got
        .iter()
        .find(|m| m.rcpts == ["alice@example.com"])
        .expect("alice");
    let t = a.text();
    assert!(
        !t.contains("multipart/signed") && !t.contains("pkcs7-signature"),
        "{t}"
    );
    assert!(t.contains("inbound secret"), "{t}");
    assert!(t.contains("X-Certmail-Signer-Verified-0-2: True"), "{t}");
    assert_eq!(
        header(&t, "Subject"),
        Some("[decrypted] [verified] hello"),
        "{t}"
    );
    h.sink.clear();
    c.mail("eve@partner.example", &["alice@example.com"], &bad, "250")
        .await;
    assert!(h.sink.messages()[0].text().contains("multipart/signed"));
}

#[tokio::test]
async fn hold_queue_holds_tells_the_sender_and_releases() {
    let (h, p) = setup().await;
    let partner = Party::Domain("partner.example".into());
    set(&h, partner.clone(), "encrypt-mode", "force").await;
    set(&h, partner.clone(), "on-missing-certificate", "hold").await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message(
        "alice@example.com",
        "nocert@partner.example, bob@partner.example",
        "contract",
        "the contract text",
    );
    // Accepted at RCPT (it will be held, not refused).
    c.mail(
        "alice@example.com",
        &["nocert@partner.example", "bob@partner.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert!(
        got.iter()
            .all(|m| !m.rcpts.contains(&"nocert@partner.example".to_string())),
        "nothing to the held recipient"
    );
    assert!(
        got.iter()
            .any(|m| m.rcpts == ["bob@partner.example"] && is_encrypted(&m.data))
    );
    let notice = got.iter().find(|m| m.from.is_empty()).expect("hold notice");
    assert_eq!(notice.rcpts, ["alice@example.com"]);
    let n = notice.text();
    assert!(
        n.contains("nocert@partner.example") && n.contains("hold"),
        "{n}"
    );
    assert!(!n.contains("the contract text"), "{n}");
    let held = h.app.hold_list(None, 100, 0).await.expect("list");
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].recipient, "nocert@partner.example");
    assert_eq!(held[0].subject, "contract");
    // Sealed at rest (issue 25): the row holds nothing readable of the message.
    let (row, stored) = h
        .app
        .store()
        .held_get(held[0].id)
        .await
        .expect("db")
        .expect("row");
    assert!(!String::from_utf8_lossy(&stored).contains("the contract text"));
    assert_eq!(
        row.size,
        msg.len() as i64,
        "the size of the message as received"
    );
    let (_, clear) = h.app.hold_show(held[0].id).await.expect("show");
    assert!(String::from_utf8_lossy(&clear).contains("the contract text"));

    // The MTA retrying the same transaction (e.g. after a 451) holds nothing twice.
    c.mail(
        "alice@example.com",
        &["nocert@partner.example"],
        &msg,
        "250",
    )
    .await;
    assert_eq!(h.app.hold_count().await.expect("count"), 1);

    // Only held: still 250 (it is safe in the database), with the notice.
    h.sink.clear();
    let other = message("alice@example.com", "nobody@partner.example", "second", "x");
    c.mail(
        "alice@example.com",
        &["nobody@partner.example"],
        &other,
        "250",
    )
    .await;
    assert_eq!(h.app.hold_count().await.expect("count"), 2);
    assert!(h.sink.messages().iter().all(|m| m.from.is_empty()));

    // Release without a certificate: refused, still held, the reason recorded.
    let id = held[0].id;
    let e = h
        .app
        .hold_release_plan(id, false, "REL1")
        .await
        .expect_err("no cert yet");
    assert!(e.to_string().contains("--clear"), "{e}");
    assert_eq!(h.app.hold_count().await.expect("count"), 2);

    // A certificate arrives: the release is encrypted to it.
    let nocert = p
        .pki
        .leaf_rsa(&LeafSpec::email("nocert@partner.example", 41));
    h.app
        .import_bytes(
            nocert.pem.as_bytes(),
            &certmail_app::ImportOptions::default(),
        )
        .await
        .expect("import");
    let r = h
        .app
        .hold_release_plan(id, false, "REL1")
        .await
        .expect("release");
    assert_eq!(r.plan.copies.len(), 1);
    let copy = r.plan.copies[0].to_vec();
    assert!(is_encrypted(&copy));
    let u = message::unwrap(&copy, &[&keypair(&nocert)], &UnwrapOptions::default()).expect("opens");
    assert!(String::from_utf8_lossy(&u.message).contains("the contract text"));
    h.app.hold_released(id).await.expect("released");
    assert_eq!(h.app.hold_count().await.expect("count"), 1);

    // --clear allows clear text for a recipient that still has no certificate.
    let rest = h.app.hold_list(None, 10, 0).await.expect("list");
    assert_eq!(rest[0].recipient, "nobody@partner.example");
    let r = h
        .app
        .hold_release_plan(rest[0].id, true, "REL2")
        .await
        .expect("clear");
    assert_eq!(r.plan.copies.len(), 1);
    let copy = r.plan.copies[0].to_vec();
    assert!(!is_encrypted(&copy));
    assert!(String::from_utf8_lossy(&copy).contains("X-Certmail-Id: REL2"));
    h.app.hold_delete(rest[0].id).await.expect("delete");
    assert!(h.app.hold_delete(rest[0].id).await.is_err(), "gone");
}

#[tokio::test]
async fn the_ca_sender_is_never_encrypted() {
    let (h, _p) = setup().await;
    set(&h, Party::Global, "encrypt-mode", "force").await;
    h.app
        .ca_config_set("ca-email", "ca@example.com")
        .await
        .expect("ca-email");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    // bob has a certificate; force would encrypt to it. The CA's mail is never encrypted,
    // and nocert (no certificate, force) is not refused for it either.
    let msg = message(
        "ca@example.com",
        "bob@partner.example, nocert@partner.example",
        "your certificate",
        "your key file",
    );
    c.mail(
        "ca@example.com",
        &["bob@partner.example", "nocert@partner.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(!is_encrypted(&got[0].data), "{}", got[0].text());
    assert!(got[0].text().contains("your key file"));
    // Anyone else under force: refused at RCPT.
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1").await;
}

async fn make_ca(h: &Harness) {
    h.app
        .ca_create(&certmail_app::ca::CaCreate {
            root_cn: "Gateway Auto Root".into(),
            intermediate_cn: "Gateway Auto CA".into(),
            key: certmail_ca::KeySpec::P256,
            days: 3650,
            hash: certmail_ca::SigHash::Sha256,
            email: None,
            make_default: true,
        })
        .await
        .expect("CA");
}

#[tokio::test]
async fn auto_request_issues_once_and_signs_with_the_new_certificate() {
    let (h, _p) = setup().await;
    make_ca(&h).await;
    set(&h, Party::Global, "sign-mode", "on").await;
    set(
        &h,
        Party::Domain("example.com".into()),
        "auto-request-certificate",
        "on",
    )
    .await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message(
        "erin@example.com",
        "nocert@partner.example",
        "first",
        "hello",
    );
    c.mail("erin@example.com", &["nocert@partner.example"], &msg, "250")
        .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1, "{got:?}");
    let u = message::unwrap(&got[0].data, &[], &UnwrapOptions::default()).expect("unwrap");
    let signer = u
        .signers()
        .next()
        .expect("signed with the certificate just issued");
    assert!(signer.verified);
    assert_eq!(signer.emails, vec!["erin@example.com"]);
    let issued = h
        .app
        .list(
            certmail_store::StoreKind::Certificates,
            &certmail_store::ListFilter {
                email: Some("erin@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(issued.len(), 1);
    // The next message uses it: nothing new is requested.
    h.sink.clear();
    c.mail("erin@example.com", &["nocert@partner.example"], &msg, "250")
        .await;
    let again = h
        .app
        .list(
            certmail_store::StoreKind::Certificates,
            &certmail_store::ListFilter {
                email: Some("erin@example.com".into()),
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(again.len(), 1, "one certificate per address");

    // An asynchronous handler: the request waits, the sender is told once, mail goes on
    // unsigned.
    h.app
        .ca_config_set("request-handler", "csr")
        .await
        .expect("csr handler");
    h.sink.clear();
    let msg = message("fred@example.com", "nocert@partner.example", "x", "y");
    for _ in 0..2 {
        c.mail("fred@example.com", &["nocert@partner.example"], &msg, "250")
            .await;
    }
    let got = h.sink.messages();
    let notices: Vec<_> = got.iter().filter(|m| m.from.is_empty()).collect();
    assert_eq!(notices.len(), 1, "told once: {got:?}");
    assert!(notices[0].text().contains("pending request"));
    assert_eq!(notices[0].rcpts, ["fred@example.com"]);
    let plain: Vec<_> = got.iter().filter(|m| !m.from.is_empty()).collect();
    assert_eq!(plain.len(), 2);
    assert!(plain.iter().all(|m| !m.text().contains("pkcs7-signature")));
    let pending = h.app.ca_pending().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .filter(|p| p.email == "fred@example.com")
            .count(),
        1,
        "one request per address"
    );
}

#[tokio::test]
async fn auto_request_for_incoming_mail_gives_a_recipient_a_certificate_once() {
    let (h, _p) = setup().await;
    make_ca(&h).await;
    set(
        &h,
        Party::Domain("example.com".into()),
        "auto-request-incoming",
        "on",
    )
    .await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message("bob@partner.example", "gina@example.com", "hello", "hi");
    for _ in 0..3 {
        c.mail("bob@partner.example", &["gina@example.com"], &msg, "250")
            .await;
    }
    let list = |e: &str| certmail_store::ListFilter {
        email: Some(e.into()),
        ..Default::default()
    };
    let gina = h
        .app
        .list(
            certmail_store::StoreKind::Certificates,
            &list("gina@example.com"),
        )
        .await
        .expect("list");
    assert_eq!(
        gina.len(),
        1,
        "one certificate, issued at the first message"
    );
    assert!(gina[0].has_key);
    // The recipient can now be encrypted to: the gateway's own look-up finds it.
    let r = h
        .app
        .recipient("gina@example.com", certmail_app::now())
        .await
        .expect("r");
    assert_eq!(r.encryption.len(), 1);
    // Not for recipients whose domain does not ask, nor for alice (she has one).
    let alice = h
        .app
        .list(
            certmail_store::StoreKind::Certificates,
            &list("alice@example.com"),
        )
        .await
        .expect("list");
    assert_eq!(alice.len(), 1);
    // With an asynchronous handler: one pending request however many messages arrive.
    h.app
        .ca_config_set("request-handler", "csr")
        .await
        .expect("csr");
    h.sink.clear();
    let msg = message("bob@partner.example", "hal@example.com", "x", "y");
    for _ in 0..3 {
        c.mail("bob@partner.example", &["hal@example.com"], &msg, "250")
            .await;
    }
    let pending = h.app.ca_pending().await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .filter(|p| p.email == "hal@example.com")
            .count(),
        1
    );
    let notices: Vec<_> = h
        .sink
        .messages()
        .into_iter()
        .filter(|m| m.from.is_empty())
        .collect();
    assert_eq!(notices.len(), 1, "told once");
    assert_eq!(notices[0].rcpts, ["hal@example.com"]);
}
