//! Every policy branch of the gateway in process: outgoing sign and encrypt, allow and
//! force, Bcc privacy, incoming decrypt and verify with report headers, outside
//! `X-Certmail-*` headers, S/MIME failures under `on-error`, strict decryption, and the
//! refusal of `force` recipients without certificates at RCPT and at DATA.

mod common;

use certmail_smime::message::{self, Layer, UnwrapOptions};
use certmail_smime::{EncryptOptions, SignOptions};
use certmail_store::Party;
use common::{cert, keypair, message, setup};

fn recipients_of(layers: &[Layer]) -> usize {
    layers
        .iter()
        .map(|l| match l {
            Layer::Encrypted(d) => d.recipients.len(),
            _ => 0,
        })
        .sum()
}

#[tokio::test]
async fn outgoing_is_signed_then_encrypted_and_bcc_gets_its_own_copy() {
    let (h, p) = setup().await;
    h.app
        .set_setting(&Party::Global, "sign", "on")
        .await
        .expect("sign on");
    let msg = message(
        "Alice <alice@example.com>",
        "bob@partner.example",
        "plans",
        "secret plans",
    );
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    // bob is in To; dave only in the envelope (Bcc).
    c.mail(
        "alice@example.com",
        &["bob@partner.example", "dave@partner.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(
        got.len(),
        2,
        "the listed recipient and the Bcc recipient get separate copies"
    );
    let bob_copy = got
        .iter()
        .find(|m| m.rcpts == ["bob@partner.example"])
        .expect("bob's copy");
    let dave_copy = got
        .iter()
        .find(|m| m.rcpts == ["dave@partner.example"])
        .expect("dave's copy");
    let t = bob_copy.text();
    assert!(!t.contains("secret plans"), "never in clear");
    assert!(t.contains("application/pkcs7-mime"), "{t}");
    assert!(t.contains("X-Certmail-Id: "), "{t}");

    let bob = keypair(&p.bob);
    let u =
        message::unwrap(&bob_copy.data, &[&bob], &UnwrapOptions::default()).expect("bob decrypts");
    assert_eq!(recipients_of(&u.layers), 1, "bob's copy names only bob");
    assert!(String::from_utf8_lossy(&u.message).contains("secret plans"));
    let signed = u.layers.iter().find_map(|l| match l {
        Layer::Signed { signers, .. } => Some(signers.clone()),
        _ => None,
    });
    let signers = signed.expect("signed inside the encryption");
    assert!(signers[0].verified, "signature verifies");
    assert_eq!(signers[0].emails, vec!["alice@example.com"]);
    // The signature is inside: the outer layer is the encryption.
    assert!(matches!(u.layers[0], Layer::Encrypted(_)));

    let dave = keypair(&p.dave);
    let u = message::unwrap(&dave_copy.data, &[&dave], &UnwrapOptions::default())
        .expect("dave decrypts");
    assert_eq!(
        recipients_of(&u.layers),
        1,
        "the Bcc copy reveals no one else"
    );
    assert!(message::unwrap(&dave_copy.data, &[&bob], &UnwrapOptions::default()).is_err());
    let m = h.shared.metrics.render();
    assert!(
        m.contains("certmail_messages_total{direction=\"outgoing\",action=\"signed-encrypted\"} 2"),
        "{m}"
    );
}

#[tokio::test]
async fn listed_recipients_share_one_copy_and_allow_without_certificate_goes_plain() {
    let (h, p) = setup().await;
    let msg = message(
        "alice@example.com",
        "bob@partner.example, dave@partner.example, nocert@partner.example",
        "shared",
        "for all",
    );
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail(
        "alice@example.com",
        &[
            "bob@partner.example",
            "dave@partner.example",
            "nocert@partner.example",
        ],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 2, "{got:?}");
    let enc = got
        .iter()
        .find(|m| m.rcpts.len() == 2)
        .expect("shared encrypted copy");
    assert_eq!(
        enc.rcpts,
        vec!["bob@partner.example", "dave@partner.example"]
    );
    let u =
        message::unwrap(&enc.data, &[&keypair(&p.bob)], &UnwrapOptions::default()).expect("bob");
    assert_eq!(recipients_of(&u.layers), 2);
    message::unwrap(&enc.data, &[&keypair(&p.dave)], &UnwrapOptions::default()).expect("dave");
    let plain = got
        .iter()
        .find(|m| m.rcpts == ["nocert@partner.example"])
        .expect("plain copy");
    assert!(
        plain.text().contains("for all"),
        "allow without certificate: sent as is"
    );
    assert!(!plain.text().contains("pkcs7"));
}

#[tokio::test]
async fn force_without_certificate_is_refused_at_rcpt_and_nothing_goes_in_clear() {
    let (h, _p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    let r = c.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1").await;
    assert!(
        r.contains("nocert@partner.example") && r.contains("force"),
        "{r}"
    );
    c.cmd("RCPT TO:<bob@partner.example>", "250").await;
    let msg = message(
        "alice@example.com",
        "bob@partner.example, nocert@partner.example",
        "f",
        "confidential",
    );
    c.data(&msg, "250").await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, vec!["bob@partner.example"]);
    assert!(!got[0].text().contains("confidential"));
    // An external sender's mail to the same address is not ours to encrypt: relayed.
    c.cmd("MAIL FROM:<x@outside.example>", "250").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "250").await;
}

#[tokio::test]
async fn force_decided_at_data_rejects_the_copy_and_notifies_the_sender() {
    let (h, p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<bob@partner.example>", "250").await;
    c.cmd("RCPT TO:<carol@example.com>", "250").await;
    // Between RCPT and the end of data, bob's certificate is blacklisted.
    h.app
        .ctl_add(
            &cert(&p.bob).sha512,
            certmail_pki::verify::CtlStatus::Blacklisted,
        )
        .await
        .expect("blacklist");
    let msg = message(
        "alice@example.com",
        "bob@partner.example, carol@example.com",
        "late",
        "do not leak",
    );
    c.data(&msg, "250").await;
    let got = h.sink.messages();
    assert!(
        got.iter()
            .all(|m| !m.rcpts.contains(&"bob@partner.example".to_string())),
        "nothing to bob"
    );
    let notice = got
        .iter()
        .find(|m| m.from.is_empty())
        .expect("notification");
    assert_eq!(notice.rcpts, vec!["alice@example.com"]);
    let t = notice.text();
    assert!(
        t.contains("bob@partner.example") && t.contains("blacklisted"),
        "{t}"
    );
    assert!(
        !t.contains("do not leak"),
        "the notice carries headers only"
    );
    assert!(
        got.iter().any(|m| m.rcpts == ["carol@example.com"]),
        "carol still gets it"
    );

    // Alone, the refusal is the reply itself (the MTA bounces).
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<dave@partner.example>", "250").await;
    h.app
        .ctl_add(
            &cert(&p.dave).sha512,
            certmail_pki::verify::CtlStatus::Blacklisted,
        )
        .await
        .expect("blacklist");
    let r = c.data(&msg, "554 5.7.1").await;
    assert!(r.contains("dave@partner.example"), "{r}");
}

#[tokio::test]
async fn incoming_is_decrypted_and_verified_with_report_headers() {
    let (h, p) = setup().await;
    // A partner (bob) signs and encrypts to alice.
    let original = message(
        "bob@partner.example",
        "alice@example.com",
        "hello",
        "inbound secret",
    );
    let mut signed = Vec::new();
    message::sign_message(
        &original,
        &keypair(&p.bob),
        &[cert(&p.pki.intermediate)],
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
        &[cert(&p.alice)],
        &EncryptOptions::default(),
        &mut enc,
    )
    .expect("encrypt");
    // An outsider's forged report header must not survive.
    let mut forged = b"X-Certmail-Signer-Trusted-0-1: True\r\n".to_vec();
    forged.extend_from_slice(&enc);
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail(
        "bob@partner.example",
        &["alice@example.com"],
        &forged,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    let t = got[0].text();
    assert!(t.contains("inbound secret"), "decrypted: {t}");
    assert!(t.contains("X-Certmail-Encrypted-1: True"), "{t}");
    assert!(t.contains("X-Certmail-Signer-Verified-0-2: True"), "{t}");
    assert!(t.contains("X-Certmail-Signer-Trusted-0-2: True"), "{t}");
    assert!(
        !t.contains("X-Certmail-Signer-Trusted-0-1"),
        "forged header stripped: {t}"
    );
    assert!(t.contains("X-Certmail-Id: "));
    let m = h.shared.metrics.render();
    assert!(
        m.contains(
            "certmail_messages_total{direction=\"incoming\",action=\"decrypted-verified\"} 1"
        ),
        "{m}"
    );
}

#[tokio::test]
async fn broken_smime_is_delivered_with_the_error_or_rejected_by_on_error() {
    let (h, _p) = setup().await;
    let broken = b"From: x@outside.example\r\nTo: carol@example.com\r\nSubject: broken\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBbroken!!\r\n";
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail("x@outside.example", &["carol@example.com"], broken, "250")
        .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    let t = got[0].text();
    assert!(t.contains("X-Certmail-Error: "), "{t}");
    assert!(t.contains("MIIBbroken!!"), "the original is passed on: {t}");

    h.app
        .set_setting(
            &Party::User("carol@example.com".into()),
            "on-error",
            "reject",
        )
        .await
        .expect("on-error");
    let r = c
        .mail(
            "x@outside.example",
            &["carol@example.com"],
            broken,
            "554 5.7.1",
        )
        .await;
    assert!(r.contains("carol@example.com"), "{r}");
    assert_eq!(h.sink.messages().len(), 1, "nothing more delivered");
}

#[tokio::test]
async fn strict_decryption_keeps_mail_encrypted_to_someone_elses_key() {
    let (h, p) = setup().await;
    // Mail to carol encrypted to alice's certificate (e.g. a shared-key mistake).
    let original = message(
        "bob@partner.example",
        "carol@example.com",
        "x",
        "for alice's key",
    );
    let mut enc = Vec::new();
    message::encrypt_message(
        &original,
        &[cert(&p.alice)],
        &EncryptOptions::default(),
        &mut enc,
    )
    .expect("encrypt");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail("bob@partner.example", &["carol@example.com"], &enc, "250")
        .await;
    assert!(
        h.sink.messages()[0].text().contains("for alice's key"),
        "without strict: any stored key"
    );
    h.sink.clear();
    h.app
        .set_setting(
            &Party::User("carol@example.com".into()),
            "strict-decryption",
            "on",
        )
        .await
        .expect("strict");
    c.mail("bob@partner.example", &["carol@example.com"], &enc, "250")
        .await;
    let t = h.sink.messages()[0].text();
    assert!(!t.contains("for alice's key"), "kept encrypted");
    assert!(t.contains("X-Certmail-Info: not decrypted"), "{t}");
}

#[tokio::test]
async fn internal_to_internal_and_no_encryption() {
    let (h, p) = setup().await;
    h.app
        .set_setting(
            &Party::User("bob@partner.example".into()),
            "encrypt-mode",
            "no-encryption",
        )
        .await
        .expect("no-encryption");
    let msg = message(
        "alice@example.com",
        "bob@partner.example, carol@example.com",
        "x",
        "hello both",
    );
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail(
        "alice@example.com",
        &["bob@partner.example", "carol@example.com"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 2, "{got:?}");
    for m in &got {
        assert!(m.text().contains("hello both"));
    }
    let _ = p;
}

#[tokio::test]
async fn rewritten_headers_and_dot_lines_survive_the_next_hop() {
    let (h, _p) = setup().await;
    // The body starts with a dot, right after the rewritten header section.
    let msg = b"From: x@outside.example\r\nTo: carol@example.com\r\nX-Certmail-Id: forged\r\nSubject: dots\r\n\r\n.first line starts with a dot\r\n..two dots\r\n.\r\nlast\r\n";
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail("x@outside.example", &["carol@example.com"], msg, "250")
        .await;
    let got = h.sink.messages();
    let t = got[0].text();
    let body = t.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default();
    assert_eq!(
        body, ".first line starts with a dot\r\n..two dots\r\n.\r\nlast\r\n",
        "{t}"
    );
    assert!(!t.contains("forged"), "{t}");
    assert_eq!(t.matches("X-Certmail-Id: ").count(), 1, "{t}");
}

#[tokio::test]
async fn a_refusal_at_rcpt_is_decided_on_what_the_database_says_now() {
    let (h, p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1").await;
    c.cmd("RSET", "250").await;
    // A certificate arrives a moment later: the next transaction's RCPT sees it (no cache
    // outlives a change of the store's generations).
    let leaf = p.pki.leaf(&certmail_testkit::LeafSpec::email(
        "nocert@partner.example",
        77,
    ));
    h.app
        .import_bytes(leaf.pem.as_bytes(), &certmail_app::ImportOptions::default())
        .await
        .expect("import");
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "250").await;
    let msg = message(
        "alice@example.com",
        "nocert@partner.example",
        "now",
        "secret",
    );
    c.data(&msg, "250").await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    assert!(!got[0].text().contains("secret"), "sent in clear");
}

#[tokio::test]
async fn each_message_and_refusal_is_kept_for_the_gateway_page() {
    let (h, _p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "550").await;
    c.cmd("RCPT TO:<bob@partner.example>", "250").await;
    let msg = message("alice@example.com", "bob@partner.example", "s", "body");
    c.data(&msg, "250").await;
    let lines = h.shared.log.recent(None, 10);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(
        lines[0].1.contains("reply=250")
            && lines[0]
                .1
                .contains("to=<bob@partner.example> dir=outgoing action=encrypted"),
        "{lines:?}"
    );
    assert!(
        lines[1].1.starts_with("rcpt-refused") && lines[1].1.contains("nocert@partner.example"),
        "{lines:?}"
    );
    assert_eq!(h.shared.log.recent(Some("nocert"), 10).len(), 1);
}

/// A directory client that knows one partner's certificate and counts the questions.
#[derive(Debug)]
struct FakeDirectory {
    erin: Vec<u8>,
    asked: std::sync::Mutex<Vec<String>>,
}

impl certmail_app::directory::DirectoryClient for FakeDirectory {
    fn find_certificates<'a>(
        &'a self,
        _dir: &'a certmail_app::directory::DirectoryAccess,
        filter: &'a str,
    ) -> certmail_app::directory::DirectoryFuture<'a, certmail_app::directory::DirectoryFound> {
        Box::pin(async move {
            self.asked.lock().expect("asked").push(filter.to_owned());
            let mut found = certmail_app::directory::DirectoryFound::default();
            if filter == "(mail=erin@partner.example)" {
                found.entries = 1;
                found.values.push(self.erin.clone());
            }
            Ok(found)
        })
    }
}

#[tokio::test]
async fn a_recipient_without_certificate_is_looked_up_in_the_directories_first() {
    let (h, p) = setup().await;
    let erin = p.pki.leaf_rsa(&certmail_testkit::LeafSpec::email(
        "erin@partner.example",
        21,
    ));
    let fake = std::sync::Arc::new(FakeDirectory {
        erin: erin.der.clone(),
        asked: std::sync::Mutex::new(Vec::new()),
    });
    h.app.set_directory_client(fake.clone());
    h.app
        .directory_add(
            &certmail_app::directory::NewDirectory {
                name: "partners".into(),
                url: "ldap://directory.invalid".into(),
                base: None,
                bind_dn: None,
                filter: None,
                default: false,
                timeout_ms: None,
                cache_ttl: None,
            },
            None,
        )
        .await
        .expect("directory");
    h.app
        .set_setting(
            &Party::Domain("partner.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    // Found in the directory at RCPT: accepted, and encrypted to at DATA.
    c.cmd("RCPT TO:<erin@partner.example>", "250").await;
    // Not in the directory: refused as before; the negative answer is kept.
    c.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1").await;
    c.cmd("RCPT TO:<nocert@partner.example>", "550 5.7.1").await;
    let msg = message(
        "alice@example.com",
        "erin@partner.example",
        "d",
        "from the directory",
    );
    c.data(&msg, "250").await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].rcpts, vec!["erin@partner.example"]);
    assert!(!got[0].text().contains("from the directory"));
    message::unwrap(&got[0].data, &[&keypair(&erin)], &UnwrapOptions::default())
        .expect("erin decrypts");
    let asked = fake.asked.lock().expect("asked").clone();
    assert_eq!(
        asked,
        vec![
            "(mail=erin@partner.example)".to_owned(),
            "(mail=nocert@partner.example)".to_owned()
        ],
        "each address asked once"
    );
}
