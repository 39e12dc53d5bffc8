//! Slow and rude SMTP clients against `certmail serve` (issue 15), while real mail flows
//! through a real Postfix in front and smtp-sink behind: one byte a second in a command and
//! in the message data, a header section that never ends, 100,000 `RCPT TO` commands and a
//! connection flood. Each is cut off by its limit, and the mail of the others goes through
//! meanwhile, encrypted, with nothing lost.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::mta::{self, Gateway, Postfix, Sink, swaks, wait_for};
use common::site::{Site, site};

/// Limits made short enough for a test; everything else is the default.
const CONFIG: &str = "command-timeout = 20\ndata-timeout = 20\nmin-data-rate = 500\n\
stress-timeout = 3\nmax-sessions = 30\nmax-header-size = 65536\n";

fn connect(port: u16) -> TcpStream {
    let c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    c
}

/// One reply line (without CRLF); empty when the connection closed.
fn line(c: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut b = [0u8; 1];
    while let Ok(1) = c.read(&mut b) {
        if b[0] == b'\n' {
            break;
        }
        out.push(b[0]);
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

/// One whole reply (multi-line replies read to their last line).
fn reply(c: &mut TcpStream) -> String {
    loop {
        let l = line(c);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return l;
        }
    }
}

fn cmd(c: &mut TcpStream, text: &str, expect: &str) {
    c.write_all(format!("{text}\r\n").as_bytes())
        .expect("write");
    let r = reply(c);
    assert!(r.starts_with(expect), "{text}: expected {expect}, got {r}");
}

/// Sends `bytes` one a second until the server says something or closes; returns what it
/// said and how long it took.
fn trickle(c: &mut TcpStream, bytes: &[u8]) -> (String, Duration) {
    let started = Instant::now();
    c.set_read_timeout(Some(Duration::from_secs(1)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    for b in bytes.iter().cycle() {
        if c.write_all(&[*b]).is_err() {
            break;
        }
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                return (
                    String::from_utf8_lossy(&buf[..n]).trim_end().to_owned(),
                    started.elapsed(),
                );
            }
            Err(_) => {}
        }
        if started.elapsed() > Duration::from_secs(120) {
            break;
        }
    }
    (String::new(), started.elapsed())
}

fn slow_command(port: u16) -> JoinHandle<(String, Duration)> {
    std::thread::spawn(move || {
        let mut c = connect(port);
        assert!(line(&mut c).starts_with("220"));
        trickle(&mut c, format!("EHLO {}", "s".repeat(200)).as_bytes())
    })
}

fn envelope(c: &mut TcpStream) {
    assert!(line(c).starts_with("220"));
    cmd(c, "EHLO rude.example", "250");
    cmd(c, "MAIL FROM:<alice@example.com>", "250");
    cmd(c, "RCPT TO:<bob@partner.example>", "250");
}

fn slow_data(port: u16) -> JoinHandle<(String, Duration)> {
    std::thread::spawn(move || {
        let mut c = connect(port);
        envelope(&mut c);
        cmd(&mut c, "DATA", "354");
        trickle(&mut c, b"Subject: slow\r\n\r\nslow body\r\n")
    })
}

/// 40 MB of header lines, then the end of data: the reply.
fn endless_header(port: u16) -> JoinHandle<String> {
    std::thread::spawn(move || {
        let mut c = connect(port);
        envelope(&mut c);
        cmd(&mut c, "DATA", "354");
        let block = format!("X-Filler: {}\r\n", "f".repeat(68)).repeat(1000);
        for _ in 0..(40_000_000 / block.len()) {
            c.write_all(block.as_bytes()).expect("header block");
        }
        c.write_all(b"\r\nbody\r\n.\r\n").expect("end");
        reply(&mut c)
    })
}

/// 100,000 pipelined recipients: (accepted, refused over the limit, last reply, replies).
fn recipient_flood(port: u16) -> JoinHandle<(usize, usize, String, usize)> {
    std::thread::spawn(move || {
        let mut c = connect(port);
        assert!(line(&mut c).starts_with("220"));
        cmd(&mut c, "EHLO rude.example", "250");
        cmd(&mut c, "MAIL FROM:<alice@example.com>", "250");
        let mut w = c.try_clone().expect("clone");
        let writer = std::thread::spawn(move || {
            let all: String = (0..100_000)
                .map(|i| format!("RCPT TO:<r{i}@partner.example>\r\n"))
                .collect();
            let _ = w.write_all(all.as_bytes());
        });
        let (mut ok, mut over, mut last, mut n) = (0, 0, String::new(), 0);
        loop {
            let r = line(&mut c);
            if r.is_empty() {
                break;
            }
            n += 1;
            if r.starts_with("250") {
                ok += 1;
            } else if r.starts_with("452 4.5.3") {
                over += 1;
            }
            last = r;
        }
        let _ = c.shutdown(std::net::Shutdown::Both);
        let _ = writer.join();
        (ok, over, last, n)
    })
}

fn hwm_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmHWM")
}

fn message(s: &Site, tag: &str, i: usize) -> PathBuf {
    s.file(
        &format!("{tag}{i}.eml"),
        format!(
            "From: alice@example.com\r\nTo: bob@partner.example\r\nSubject: {tag} {i}\r\n\r\nsecret {tag} {i}\r\n"
        ),
    )
}

fn arrived(sink: &Sink, tag: &str) -> usize {
    let subject = format!("Subject: {tag} ");
    sink.to("bob@partner.example")
        .iter()
        .filter(|m| {
            assert!(!m.contains("secret "), "sent in clear: {m}");
            m.contains(&subject)
        })
        .count()
}

#[test]
fn rude_clients_are_cut_off_while_mail_flows() {
    if !mta::available() {
        return;
    }
    let s = site();
    let sink = Sink::start(s.dir.path());
    let filter = mta::free_port();
    let postfix = Postfix::start(s.dir.path(), sink.port, filter);
    let config = s.file("serve.toml", CONFIG);
    let gw = Gateway::start_with(
        &s.data,
        filter,
        postfix.reinject,
        &s.dir.path().join("gateway.log"),
        &["--config", &s.path(&config)],
    );
    let pid = gw.pid().expect("pid");
    let hwm_before = hwm_kib(pid);

    // 1. The rude ones, all at once.
    let started = Instant::now();
    let slow: Vec<_> = (0..5).map(|_| slow_command(filter)).collect();
    let slow_d: Vec<_> = (0..2).map(|_| slow_data(filter)).collect();
    let header = endless_header(filter);
    let rcpts = recipient_flood(filter);

    // 2. Meanwhile, ten messages through Postfix arrive encrypted.
    for i in 0..10 {
        swaks(
            postfix.inbound,
            "alice@example.com",
            "bob@partner.example",
            &message(&s, "during", i),
        );
    }
    wait_for(60, "the ten messages sent during the attack", || {
        postfix.flush();
        arrived(&sink, "during") == 10
    });
    let flowed = started.elapsed();
    assert!(
        slow.iter().all(|h| !h.is_finished()),
        "the mail went through while the slow clients still held their sessions ({flowed:?})"
    );

    // 3. Each rude client was cut off by its limit.
    for h in slow {
        let (said, after) = h.join().expect("slow command client");
        assert!(said.starts_with("421 4.4.2 Timeout"), "{said}");
        assert!(
            after >= Duration::from_secs(15) && after < Duration::from_secs(40),
            "cut at the 20 s command deadline, not per byte: {after:?}"
        );
    }
    for h in slow_d {
        let (said, after) = h.join().expect("slow data client");
        assert!(
            said.starts_with("421 4.4.2 Message data arriving too slowly"),
            "{said}"
        );
        assert!(after < Duration::from_secs(40), "{after:?}");
    }
    let said = header.join().expect("header client");
    assert!(
        said.starts_with("552 5.3.4 Header section exceeds"),
        "{said}"
    );
    let grown = hwm_kib(pid).saturating_sub(hwm_before);
    assert!(
        grown < 24 * 1024,
        "40 MB of header were read and dropped, not held: peak grew by {grown} KiB"
    );
    let (ok, over, last, n) = rcpts.join().expect("recipient client");
    assert_eq!(ok, 1000, "the limit's worth accepted");
    assert_eq!(over, 1010, "then 1,000 refused, then 10 counted as errors");
    assert!(last.starts_with("421 4.7.0"), "{last}");
    assert!(n < 3000, "cut off after {n} replies, not 100,000");

    // 4. A connection flood: 100 connections against 30 session slots.
    let mut flood: Vec<TcpStream> = (0..100).map(|_| connect(filter)).collect();
    let greetings: Vec<String> = flood.iter_mut().map(line).collect();
    let let_in = greetings.iter().filter(|g| g.starts_with("220")).count();
    let refused = greetings
        .iter()
        .filter(|g| g.starts_with("421 4.3.2 Too many sessions"))
        .count();
    assert_eq!(let_in + refused, 100, "{greetings:?}");
    assert!((20..=30).contains(&let_in), "{let_in} let in");
    for i in 0..3 {
        swaks(
            postfix.inbound,
            "alice@example.com",
            "bob@partner.example",
            &message(&s, "flood", i),
        );
    }
    // The idle ones are closed by the stress timeout (3 s), not the command timeout (20 s).
    let flood_started = Instant::now();
    for (c, g) in flood.iter_mut().zip(&greetings) {
        if g.starts_with("220") {
            let said = line(c);
            assert!(said.starts_with("421 4.4.2"), "{said}");
        }
    }
    assert!(
        flood_started.elapsed() < Duration::from_secs(12),
        "stress timeout: {:?}",
        flood_started.elapsed()
    );
    wait_for(90, "the three messages sent during the flood", || {
        postfix.flush();
        arrived(&sink, "flood") == 3
    });
    assert_eq!(arrived(&sink, "during"), 10, "nothing lost, nothing twice");
    let log = gw.log_text();
    assert!(log.contains("action=signed-encrypted"), "{log}");
}
