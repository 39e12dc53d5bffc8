//! A change made by another process (here the CLI) to the embedded SQLite store applies to
//! `certmail serve`'s very next transaction, with no pause between: the gateway's check for
//! changes reads SQLite's WAL-index header and queries again whenever anything was committed
//! (crates/store/src/commits.rs), and `/metrics` shows how often the header spared a query.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::cli::ok;
use common::mta::{Gateway, free_port};
use common::{certmail, http};

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .expect("timeout");
        let mut c = Client {
            r: BufReader::new(s.try_clone().expect("clone")),
            w: s,
        };
        assert!(c.reply().starts_with("220"));
        c
    }

    /// The last line of the next reply.
    fn reply(&mut self) -> String {
        loop {
            let mut line = String::new();
            self.r.read_line(&mut line).expect("read reply");
            assert!(!line.is_empty(), "connection closed");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line.trim_end().to_owned();
            }
        }
    }

    fn cmd(&mut self, line: &str) -> String {
        self.w
            .write_all(format!("{line}\r\n").as_bytes())
            .expect("write");
        self.reply()
    }
}

/// The value of one `certmail_store_change_checks_total` series.
fn checks(port: u16, answer: &str) -> u64 {
    let (code, body) = http(port, "GET", "/metrics", None, None);
    assert_eq!(code, 200, "{body}");
    let prefix = format!("certmail_store_change_checks_total{{answer=\"{answer}\"}} ");
    body.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {body}"))
}

#[test]
fn a_cli_change_applies_to_the_gateways_next_transaction() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(certmail(&data, &["init"]).status().expect("init").success());
    ok(
        &data,
        &["domain", "set", "example.com", "locality", "internal"],
    );
    let port = free_port();
    let gw = Gateway::start(&data, port, free_port(), &dir.path().join("gw.log"));
    let mut c = Client::connect(port);
    assert!(c.cmd("EHLO client.example").starts_with("250"));

    for round in 0..8 {
        // force: no certificate for the partner, so the recipient is refused at RCPT;
        // allow: the same recipient is accepted by the next transaction.
        for (mode, want) in [("force", "550 5.7.1"), ("allow", "250")] {
            ok(
                &data,
                &["domain", "set", "partner.example", "encrypt-mode", mode],
            );
            assert!(c.cmd("MAIL FROM:<alice@example.com>").starts_with("250"));
            let r = c.cmd("RCPT TO:<bob@partner.example>");
            assert!(r.starts_with(want), "round {round}, {mode}: {r}");
            assert!(c.cmd("RSET").starts_with("250"));
        }
    }

    // With nothing changed, transactions are checked without a query.
    let before = checks(gw.http, "unchanged");
    for _ in 0..5 {
        assert!(c.cmd("MAIL FROM:<alice@example.com>").starts_with("250"));
        assert!(c.cmd("RSET").starts_with("250"));
    }
    assert!(
        checks(gw.http, "unchanged") >= before + 4,
        "the WAL-index header spared no query"
    );
    assert!(checks(gw.http, "query") >= 16, "every change was read");
    assert!(c.cmd("QUIT").starts_with("221"));
}
