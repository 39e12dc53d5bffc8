//! Tricky envelope addresses (issue 25, item 3), each sent to Postfix's own smtpd and to
//! `certmail serve`, both relaying to smtp-sink: where both accept, both relay the same
//! address (Postfix's canonical form); where they differ, certmail is the stricter one and
//! the table says why. No address ever reaches the next hop changed in meaning.

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use common::mta::{self, Gateway, Postfix, Sink, free_port, reply, wait_for};

/// What is expected of one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// Both accept and relay the same address, or both refuse.
    Same,
    /// Postfix accepts it (its smtpd is lenient by default), certmail refuses it with a 5xx:
    /// the reason.
    CertmailRefuses(&'static str),
}

use Expect::{CertmailRefuses, Same};

/// (MAIL FROM parameters, RCPT TO argument, expectation).
const TABLE: &[(&str, &str, Expect)] = &[
    ("", "<bob@partner.example>", Same),
    ("", "<\"bob\"@partner.example>", Same),
    ("", "<\"bob@partner.example\"@evil.example>", Same),
    ("", "<\"a b\"@y.example>", Same),
    ("", "<\"a\\\"b\"@y.example>", Same),
    ("", "<\"a\\\\b\"@y.example>", Same),
    ("", "<\"a\\b\"@y.example>", Same),
    ("", "<\"a..b\"@y.example>", Same),
    ("", "<\".ab\"@y.example>", Same),
    ("", "<\"ab.\"@y.example>", Same),
    ("", "<\"a,b\"@y.example>", Same),
    ("", "<\"a(b)\"@y.example>", Same),
    ("", "<\"a:b\"@y.example>", Same),
    ("", "<a.b@y.example>", Same),
    ("", "<a+tag@y.example>", Same),
    ("", "<A.B@Y.EXAMPLE>", Same),
    ("", "<a!b%c@y.example>", Same),
    ("", "<{x}|~'#$&*=?^`@y.example>", Same),
    ("", "<a@[192.0.2.1]>", Same),
    ("", "<@relay.example:a@y.example>", Same),
    ("", "<@r1.example,@r2.example:a@y.example>", Same),
    (
        "",
        "<postmaster>",
        CertmailRefuses(
            "a mailbox without a domain: Postfix appends its own; certmail has none to give it",
        ),
    ),
    (
        "",
        "<a..b@y.example>",
        CertmailRefuses(
            "not a dot-string (RFC 5321 4.1.2); Postfix takes it unless strict_rfc821_envelopes",
        ),
    ),
    (
        "",
        "<.a@y.example>",
        CertmailRefuses("not a dot-string (a leading dot)"),
    ),
    (
        "",
        "<a.@y.example>",
        CertmailRefuses("not a dot-string (a trailing dot)"),
    ),
    (
        "",
        "<a@b@y.example>",
        CertmailRefuses("two unquoted @: which domain is meant is a guess"),
    ),
    (
        "",
        "bare@y.example",
        CertmailRefuses(
            "no angle brackets (RFC 5321 requires them; Postfix allows them off by default)",
        ),
    ),
    // Refused by both.
    ("", "<a@y.example", Same),
    ("", "<a@-y.example>", Same),
    ("", "<a@y..example>", Same),
    ("", "<a b@y.example>", Same),
    // Taken by both, relayed by neither: smtp-sink does not offer SMTPUTF8.
    ("SMTPUTF8", "<j\u{f6}rg@b\u{fc}cher.example>", Same),
    (
        "",
        "<a\\\"b@y.example>",
        CertmailRefuses("a backslash outside a quoted string"),
    ),
];

fn say(c: &mut TcpStream, line: &str) -> String {
    c.write_all(format!("{line}\r\n").as_bytes())
        .expect("write");
    reply(c)
}

/// Sends case `n` to `port`; the RCPT reply and whether the end of data got 250.
fn send(port: u16, n: usize, params: &str, rcpt: &str) -> (String, bool) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    reply(&mut c);
    say(&mut c, "EHLO client.example");
    let from = if params.is_empty() {
        "MAIL FROM:<sender@x.example>".to_owned()
    } else {
        format!("MAIL FROM:<sender@x.example> {params}")
    };
    let r = say(&mut c, &from);
    assert!(r.starts_with("250"), "{from}: {r}");
    let r = say(&mut c, &format!("RCPT TO:{rcpt}"));
    let mut queued = false;
    if r.starts_with("250") {
        let d = say(&mut c, "DATA");
        assert!(d.starts_with("354"), "{d}");
        // The end of data may still refuse (a non-ASCII address and a next hop without
        // SMTPUTF8): what counts is what the sink gets.
        let end = say(
            &mut c,
            &format!("Subject: case-{n}-end\r\nFrom: sender@x.example\r\n\r\ncase {n}\r\n."),
        );
        queued = end.starts_with("250");
    }
    let _ = say(&mut c, "QUIT");
    (r, queued)
}

/// The envelope recipient smtp-sink recorded for case `n`.
fn relayed(sink: &Sink, n: usize) -> Option<String> {
    // The case's own message (a bounce quotes its Subject in its body, not its header).
    let marker = format!("Subject: case-{n}-end");
    sink.messages().into_iter().find_map(|m| {
        let head = m.replace("\r\n", "\n");
        if !head.split("\n\n").next().unwrap_or("").contains(&marker) {
            return None;
        }
        m.lines().find(|l| l.starts_with("X-Rcpt-Args:")).map(|l| {
            // Postfix adds the original recipient as a DSN parameter.
            let a = l.trim_start_matches("X-Rcpt-Args:").trim();
            a.split(" ORCPT=").next().unwrap_or(a).to_owned()
        })
    })
}

#[test]
fn tricky_addresses_as_postfix_takes_and_relays_them() {
    if !mta::available() {
        return;
    }
    assert!(TABLE.len() >= 30, "at least 30 addresses");
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let out = common::certmail(&data, &["init"]).output().expect("init");
    assert!(out.status.success());
    // Postfix's reinjection smtpd (no content filter) relays to one sink; certmail to another.
    let postfix_sink = Sink::start(&dir.path().join("p"));
    let postfix = Postfix::start(dir.path(), postfix_sink.port, free_port());
    let certmail_sink = Sink::start(&dir.path().join("c"));
    let smtp = free_port();
    let _gateway = Gateway::start(
        &data,
        smtp,
        certmail_sink.port,
        &dir.path().join("gateway.log"),
    );
    let mut replies = Vec::new();
    let (mut want_p, mut want_c) = (0, 0);
    for (n, (params, rcpt, _)) in TABLE.iter().enumerate() {
        let (p, pq) = send(postfix.reinject, n, params, rcpt);
        let (c, cq) = send(smtp, n, params, rcpt);
        want_p += usize::from(pq);
        want_c += usize::from(cq);
        replies.push((p, c));
    }
    let accepted = |r: &str| r.starts_with('2');
    // Postfix queues the SMTPUTF8 cases too but cannot relay them (smtp-sink does not
    // offer SMTPUTF8): wait for the others.
    let utf8_cases = TABLE.iter().filter(|(p, _, _)| !p.is_empty()).count();
    let end = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < end
        && postfix_sink.messages().len() < want_p.saturating_sub(utf8_cases)
    {
        postfix.flush();
        std::thread::sleep(Duration::from_millis(500));
    }
    wait_for(30, "certmail to relay every case it queued", || {
        certmail_sink.messages().len() >= want_c
    });
    let mut report = String::new();
    let mut wrong = Vec::new();
    for (n, ((params, rcpt, expect), (p, c))) in TABLE.iter().zip(&replies).enumerate() {
        let (pa, ca) = (accepted(p), accepted(c));
        let pr = pa.then(|| relayed(&postfix_sink, n)).flatten();
        let cr = ca.then(|| relayed(&certmail_sink, n)).flatten();
        report.push_str(&format!(
            "{n:2} {params:8} {rcpt:45} postfix {:3} {:45} certmail {:3} {}\n",
            &p[..3.min(p.len())],
            pr.as_deref().unwrap_or("-"),
            &c[..3.min(c.len())],
            cr.as_deref().unwrap_or("-"),
        ));
        let ok = match expect {
            Same => pa == ca && pr == cr,
            CertmailRefuses(_) => pa && c.starts_with('5'),
        };
        if !ok {
            wrong.push(n);
        }
        // Whatever certmail relays is never another address than Postfix would relay.
        if let (Some(pr), Some(cr)) = (&pr, &cr)
            && pr != cr
        {
            wrong.push(n);
        }
    }
    assert!(
        wrong.is_empty(),
        "cases {wrong:?} not as expected:\n{report}\nPostfix's log:\n{}",
        postfix.log()
    );
}
