//! The trust boundary in process (issue 25): forged `X-Certmail-*` report headers in
//! malformed header sections never reach a recipient, whatever the outcome; the null
//! sender does not get past `encrypt-mode force`; quoted local parts keep their meaning and
//! policy is decided on the real domain. `crates/certmail/tests/trust_boundary.rs` replays
//! the same attacks against a running `certmail serve` over real sockets.

mod common;

use certmail_smime::EncryptOptions;
use certmail_smime::message;
use certmail_store::Party;
use common::{cert, message, setup};

/// Header sections a stranger may send: each holds a forged report header somewhere
/// (value FORGED), most of them also a line a strict reader refuses.
fn malformed() -> Vec<(&'static str, Vec<u8>)> {
    let f = |s: &str| s.as_bytes().to_vec();
    let long = format!(
        "X-Long: {}\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n",
        "a".repeat(5000)
    );
    vec![
        ("plain", f("X-Certmail-Signer-Trusted-0-1: FORGED\r\n")),
        ("lower case", f("x-certmail-signer-trusted-0-1: FORGED\r\n")),
        ("upper case", f("X-CERTMAIL-SIGNER-TRUSTED-0-1: FORGED\r\n")),
        (
            "space before colon",
            f("X-Certmail-Signer-Trusted-0-1 : FORGED\r\n"),
        ),
        (
            "tab before colon",
            f("X-Certmail-Signer-Trusted-0-1\t: FORGED\r\n"),
        ),
        (
            "folded value",
            f("X-Certmail-Signer-Trusted-0-1:\r\n FORGED\r\n"),
        ),
        (
            "line without colon first",
            f("this line has no colon\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "obsolete Subject : x",
            f("Subject : x\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "8-bit header name",
            f("Subj\u{e9}ct: x\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "bare LF line ends",
            f("X-A: b\nX-Certmail-Signer-Trusted-0-1: FORGED\n"),
        ),
        (
            "mixed line ends",
            f("X-A: b\r\nX-Certmail-Signer-Trusted-0-1: FORGED\nX-C: d\r\n"),
        ),
        (
            "continuation line first",
            f(" folded start\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "NUL in a name",
            f("X\0Y: z\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "empty field name",
            f(": value\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "white space only line",
            f("X-A: b\r\n   \r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        ("long field before", long.into_bytes()),
        (
            "twice, one folded with a tab",
            f("X-Certmail-Signer-Trusted-0-1: FORGED\r\nX-Certmail-Signed-1:\r\n\tFORGED\r\n"),
        ),
        ("the id header", f("X-Certmail-Id: FORGED\r\n")),
        ("the error header", f("X-Certmail-Error: FORGED\r\n")),
        (
            "mbox From_ line first",
            f(
                "From someone@outside.example Sat Jan  3 01:05:34 1996\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n",
            ),
        ),
        (
            "control character in a name",
            f("X-Cert\x01: y\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n"),
        ),
        (
            "non-ASCII hyphen look-alike after a bad line",
            f(
                "bad\r\nX-Certmail\u{2010}Signer: FORGED\r\nX-Certmail-Signer-Trusted-0-1: FORGED\r\n",
            ),
        ),
        (
            "space before colon, folded, lower case",
            f("x-certmail-signer-verified-0-1 \t:\r\n  FORGED\r\n"),
        ),
    ]
}

/// The header section a reader after certmail sees: up to the first empty line.
fn header_section(msg: &[u8]) -> String {
    let text = String::from_utf8_lossy(msg).replace("\r\n", "\n");
    if text.starts_with('\n') {
        // The message starts with the empty line: it has no header fields.
        return String::new();
    }
    text.split("\n\n").next().unwrap_or("").to_owned()
}

fn assert_clean(what: &str, outcome: &str, copy: &[u8]) {
    let head = header_section(copy);
    assert!(
        !head.to_ascii_lowercase().contains("forged"),
        "{what} ({outcome}): a forged field reached the recipient's header section:\n{head}"
    );
}

#[tokio::test]
async fn forged_report_headers_never_survive_any_outcome() {
    let (h, p) = setup().await;
    // carol: incoming; b@y.example: relayed; an encrypted message to carol decrypts, one to
    // dave (no key here) stays encrypted with X-Certmail-Error, a broken one gets the error.
    let plain = message("x@outside.example", "carol@example.com", "hi", "body");
    let mut to_carol = Vec::new();
    message::encrypt_message(
        &plain,
        &[cert(&p.carol)],
        &EncryptOptions::default(),
        &mut to_carol,
    )
    .expect("encrypt");
    let mut to_dave = Vec::new();
    message::encrypt_message(
        &plain,
        &[cert(&p.dave)],
        &EncryptOptions::default(),
        &mut to_dave,
    )
    .expect("encrypt");
    let broken = b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIBbroken!!\r\n".to_vec();
    let kinds: [(&str, &[u8], &str); 4] = [
        (
            "plain to an internal recipient",
            &plain,
            "carol@example.com",
        ),
        ("relayed", &plain, "b@y.example"),
        ("decrypted", &to_carol, "carol@example.com"),
        ("still encrypted", &to_dave, "carol@example.com"),
    ];
    let table = malformed();
    assert!(table.len() >= 20, "at least 20 malformed header sections");
    let mut delivered = 0;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    for (what, head) in &table {
        for (kind, body, rcpt) in kinds.iter().chain(std::iter::once(&(
            "broken S/MIME",
            broken.as_slice(),
            "carol@example.com",
        ))) {
            h.sink.clear();
            let mut msg = head.clone();
            msg.extend_from_slice(body);
            c.mail("x@outside.example", &[rcpt], &msg, "250").await;
            let got = h.sink.messages();
            assert_eq!(got.len(), 1, "{what} ({kind}): one copy delivered");
            assert_clean(what, kind, &got[0].data);
            delivered += 1;
        }
    }
    assert_eq!(delivered, table.len() * 5);
}

#[tokio::test]
async fn a_malformed_section_is_read_as_postfix_reads_it() {
    // The first line that is not a field starts the body: certmail puts the empty line
    // there, so every later reader agrees, and nothing of the original is lost.
    let msg = b"From: a@x.example\r\nSubject : hello\r\nnot a field\r\nX-Certmail-Signed-1: FORGED\r\n\r\ntext\r\n";
    let out = message::sanitize(msg).expect("read").expect("changed");
    assert_eq!(
        String::from_utf8_lossy(&out),
        "From: a@x.example\r\nSubject: hello\r\n\r\nnot a field\r\nX-Certmail-Signed-1: FORGED\r\n\r\ntext\r\n"
    );
    let clean = b"From: a@x.example\r\nSubject: hi\r\n\r\nX-Certmail-Signed-1: in the body\r\n";
    assert!(message::sanitize(clean).expect("read").is_none(), "no copy");
}

#[tokio::test]
async fn the_null_sender_does_not_get_past_forced_encryption() {
    let (h, p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("nocert.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
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
    c.cmd("MAIL FROM:<>", "250").await;
    let r = c.cmd("RCPT TO:<x@nocert.example>", "550").await;
    assert!(r.contains("encryption is required"), "{r}");
    c.cmd("RSET", "250").await;
    let bounce = message(
        "MAILER-DAEMON@example.com",
        "bob@partner.example",
        "bounce",
        "returned mail: the secret",
    );
    c.mail("", &["bob@partner.example"], &bounce, "250").await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    let t = got[0].text();
    assert!(!t.contains("the secret"), "never in clear: {t}");
    assert!(t.contains("application/pkcs7-mime"), "{t}");
    assert_eq!(got[0].from, "", "still the null sender");
    let bob = common::keypair(&p.bob);
    let u = message::unwrap(&got[0].data, &[&bob], &message::UnwrapOptions::default())
        .expect("bob decrypts");
    assert!(String::from_utf8_lossy(&u.message).contains("the secret"));
}

#[tokio::test]
async fn quoted_local_parts_keep_their_meaning_and_their_domain() {
    let (h, _p) = setup().await;
    h.app
        .set_setting(
            &Party::Domain("evil.example".into()),
            "encrypt-mode",
            "force",
        )
        .await
        .expect("force");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<alice@example.com>", "250").await;
    // Decided for evil.example (force, no certificate), not for partner.example where bob
    // has a certificate.
    let r = c
        .cmd("RCPT TO:<\"bob@partner.example\"@evil.example>", "550")
        .await;
    assert!(r.contains("evil.example"), "{r}");
    c.cmd("RSET", "250").await;
    // Relayed as received (quotes kept), to a domain without policy.
    let msg = message("x@outside.example", "someone", "q", "quoted");
    c.mail(
        "x@outside.example",
        &["\"bob@partner.example\"@other.example", "\"a b\"@y.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 1);
    let mut rcpts = got[0].rcpts.clone();
    rcpts.sort();
    assert_eq!(
        rcpts,
        ["\"a b\"@y.example", "\"bob@partner.example\"@other.example"]
    );
    // Forms certmail does not take.
    c.cmd("MAIL FROM:<x@outside.example>", "250").await;
    c.cmd("RCPT TO:<postmaster>", "553").await;
    c.cmd("RCPT TO:<a..b@y.example>", "501").await;
    c.cmd("RCPT TO:bare@y.example", "501").await;
    c.cmd("RCPT TO:<j\u{f6}rg@y.example>", "553 5.6.7").await;
}
