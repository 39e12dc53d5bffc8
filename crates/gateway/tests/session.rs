//! The SMTP protocol of the gateway in process: commands, pipelining, limits, timeouts,
//! and what the reply to the end of data says when the next hop accepts, refuses, hangs
//! or is down. A message is acknowledged only when the next hop took it.

mod common;

use std::time::Duration;

use common::{Behaviour, Harness, message};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn ehlo_announces_the_extensions_and_commands_answer_in_order() {
    let h = Harness::new(|_| {}).await;
    let mut c = h.client().await;
    c.cmd("MAIL FROM:<a@x.example>", "503 5.5.1").await;
    let ehlo = c.cmd("EHLO client.test", "250-gw.test").await;
    for ext in [
        "PIPELINING",
        "SIZE 52428800",
        "8BITMIME",
        "ENHANCEDSTATUSCODES",
    ] {
        assert!(ehlo.contains(ext), "{ext} missing from {ehlo}");
    }
    assert!(
        !ehlo.contains("STARTTLS"),
        "no certificate, no STARTTLS: {ehlo}"
    );
    c.cmd("STARTTLS", "502 5.5.1").await;
    c.cmd("DATA", "503 5.5.1").await;
    c.cmd("NOOP", "250 2.0.0").await;
    c.cmd("VRFY bob", "252").await;
    c.cmd("EXPN list", "502").await;
    c.cmd("AUTH PLAIN AGVtAGU=", "502").await;
    c.cmd("LHLO x", "500").await;
    c.cmd("FROB", "500 5.5.2").await;
    c.cmd("MAIL FROM:<a@x.example>", "250").await;
    c.cmd("MAIL FROM:<a@x.example>", "503 5.5.1").await;
    c.cmd("DATA", "554 5.5.1").await;
    c.cmd("RCPT TO:<not-an-address>", "501 5.1.3").await;
    c.cmd("RCPT TO:<user@localhost>", "553 5.1.3").await;
    c.cmd("RSET", "250").await;
    c.cmd("RCPT TO:<b@y.example>", "503").await;
    c.cmd("HELP", "214").await;
    c.cmd("QUIT", "221").await;
}

#[tokio::test]
async fn pipelined_transaction_is_answered_in_order_and_relayed_untouched() {
    let h = Harness::new(|_| {}).await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message(
        "x@outside.example",
        "y@elsewhere.example",
        "relay",
        "..dot line\r\n.\r\nend",
    );
    let mut stuffed = Vec::new();
    for line in msg.split_inclusive(|b| *b == b'\n') {
        if line.first() == Some(&b'.') {
            stuffed.push(b'.');
        }
        stuffed.extend_from_slice(line);
    }
    let mut all = b"MAIL FROM:<x@outside.example> BODY=8BITMIME\r\nRCPT TO:<y@elsewhere.example>\r\nRCPT TO:<z@elsewhere.example>\r\nDATA\r\n".to_vec();
    c.send(&all).await;
    for expect in ["250 2.1.0", "250 2.1.5", "250 2.1.5", "354"] {
        let r = c.read_reply().await;
        assert!(r.starts_with(expect), "expected {expect}, got {r}");
    }
    all = stuffed;
    all.extend_from_slice(b".\r\nNOOP\r\nQUIT\r\n");
    c.send(&all).await;
    let r = c.read_reply().await;
    assert!(r.starts_with("250 2.0.0 Ok: queued as "), "{r}");
    assert!(c.read_reply().await.starts_with("250 2.0.0"));
    assert!(c.read_reply().await.starts_with("221"));
    let got = h.sink.messages();
    assert_eq!(got.len(), 1, "one copy for both relayed recipients");
    assert_eq!(
        got[0].rcpts,
        vec!["y@elsewhere.example", "z@elsewhere.example"]
    );
    assert_eq!(
        got[0].data, msg,
        "mail with no internal party passes byte for byte"
    );
}

#[tokio::test]
async fn limits_size_recipients_header_and_errors() {
    let h = Harness::new(|c| {
        c.max_message_size = 4096;
        c.max_recipients = 3;
        c.max_header_size = 1024;
    })
    .await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<a@x.example> SIZE=5000", "552 5.3.4")
        .await;
    c.cmd("MAIL FROM:<a@x.example> SIZE=100", "250").await;
    for i in 0..3 {
        c.cmd(&format!("RCPT TO:<r{i}@y.example>"), "250").await;
    }
    c.cmd("RCPT TO:<r9@y.example>", "452 4.5.3").await;
    let big = message("a@x.example", "r0@y.example", "big", &"x".repeat(6000));
    let r = c.data(&big, "552 5.3.4").await;
    assert!(r.contains("4096"), "{r}");
    assert!(
        h.sink.messages().is_empty(),
        "an oversized message is not relayed"
    );
    // After the refusal the session goes on.
    let long_header = format!(
        "From: a@x.example\r\nX-Long: {}\r\n\r\nbody\r\n",
        "h".repeat(2000)
    );
    c.mail(
        "a@x.example",
        &["r0@y.example"],
        long_header.as_bytes(),
        "552 5.3.4 Header",
    )
    .await;
    let too_long = format!("NOOP {}\r\n", "n".repeat(5000));
    c.send(too_long.as_bytes()).await;
    let r = c.read_reply().await;
    assert!(r.starts_with("500 5.5.2 Line too long"), "{r}");
    for _ in 0..8 {
        c.cmd("BOGUS", "500").await;
    }
    c.cmd("BOGUS", "500").await;
    let last = c.read_reply().await;
    assert!(
        last.starts_with("421 4.7.0"),
        "too many errors close the session: {last}"
    );
    assert!(c.read_reply().await.is_empty(), "connection closed");
}

#[tokio::test]
async fn idle_client_is_timed_out() {
    let h = Harness::new(|c| c.command_timeout = 1).await;
    let mut c = h.client().await;
    let r = c.read_reply().await;
    assert!(r.starts_with("421 4.4.2"), "{r}");
}

#[tokio::test]
async fn client_vanishing_in_data_acknowledges_nothing() {
    let h = Harness::new(|_| {}).await;
    let mut c = h.client().await;
    c.start_data().await;
    c.send(b"Subject: half\r\n\r\nhalf a mess").await;
    c.r.get_mut().shutdown().await.expect("shutdown");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(h.sink.messages().is_empty());
}

#[tokio::test]
async fn next_hop_down_tempfails_then_delivers_when_back() {
    let h = Harness::new(|_| {}).await;
    h.sink.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let msg = message("a@x.example", "b@y.example", "down", "body");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let r = c
        .mail("a@x.example", &["b@y.example"], &msg, "451 4.4.1")
        .await;
    assert!(r.contains("unreachable"), "{r}");
    // The next hop comes back (on a new port, as after a restart): the retry goes through.
    let h2 = Harness::with_app(tempfile::tempdir().expect("dir"), h.app.clone(), |_| {}).await;
    let mut c = h2.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail("a@x.example", &["b@y.example"], &msg, "250").await;
    assert_eq!(h2.sink.messages().len(), 1);
    let m = h.shared.metrics.render();
    assert!(
        m.contains("certmail_smtp_transactions_deferred_total 1"),
        "{m}"
    );
}

#[tokio::test]
async fn next_hop_refusals_and_silence_map_to_the_right_codes() {
    let h = Harness::new(|_| {}).await;
    let msg = message("a@x.example", "b@y.example", "codes", "body");
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;

    h.sink.set(Behaviour::TempFailData);
    c.mail("a@x.example", &["b@y.example"], &msg, "451 4.4.1")
        .await;

    h.sink.set(Behaviour::RejectData);
    let r = c.mail("a@x.example", &["b@y.example"], &msg, "554").await;
    assert!(
        r.contains("content refused"),
        "the next hop's reason is passed on: {r}"
    );

    h.sink.set(Behaviour::Hang);
    let r = c
        .mail("a@x.example", &["b@y.example"], &msg, "451 4.4.1")
        .await;
    assert!(
        r.contains("unreachable") || r.contains("timeout") || r.contains("time"),
        "{r}"
    );
    assert!(
        h.sink.messages().is_empty(),
        "nothing was accepted downstream"
    );

    h.sink.set(Behaviour::Accept);
    c.mail("a@x.example", &["b@y.example"], &msg, "250").await;
    assert_eq!(h.sink.messages().len(), 1);
}

#[tokio::test]
async fn one_recipient_refused_downstream_is_reported_to_the_sender() {
    let h = Harness::new(|_| {}).await;
    h.sink.set(Behaviour::RejectRcpt("gone@y.example".into()));
    let msg = message(
        "a@x.example",
        "b@y.example, gone@y.example",
        "partial",
        "body",
    );
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.mail(
        "a@x.example",
        &["b@y.example", "gone@y.example"],
        &msg,
        "250",
    )
    .await;
    let got = h.sink.messages();
    assert_eq!(got.len(), 2, "the copy and a notification: {got:?}");
    assert_eq!(got[0].rcpts, vec!["b@y.example"]);
    assert_eq!(got[1].from, "", "notifications use the null sender");
    assert_eq!(got[1].rcpts, vec!["a@x.example"]);
    let t = got[1].text();
    assert!(t.contains("Final-Recipient: rfc822; gone@y.example"), "{t}");
    assert!(t.contains("no such user"), "{t}");
}

#[tokio::test]
async fn clients_outside_allow_from_and_over_max_sessions_are_refused() {
    use tokio::io::AsyncReadExt;
    let h = Harness::new(|c| {
        c.allow_from = vec!["10.0.0.0/8".into()];
    })
    .await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let shared = h.shared.clone();
    tokio::spawn(async move {
        while let Ok((s, p)) = l.accept().await {
            tokio::spawn(certmail_gateway::connection(shared.clone(), s, p));
        }
    });
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    assert!(
        buf.starts_with("554 5.7.1 127.0.0.1 is not allowed"),
        "{buf}"
    );

    let h = Harness::new(|c| c.max_sessions = 1).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    let shared = h.shared.clone();
    tokio::spawn(async move {
        while let Ok((s, p)) = l.accept().await {
            tokio::spawn(certmail_gateway::connection(shared.clone(), s, p));
        }
    });
    let mut first = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut g = [0u8; 64];
    let n = first.read(&mut g).await.expect("greeting");
    assert!(g[..n].starts_with(b"220"));
    let mut second = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut buf = String::new();
    second.read_to_string(&mut buf).await.expect("read");
    assert!(buf.starts_with("421 4.3.2"), "{buf}");
}

#[tokio::test]
async fn shutdown_lets_the_open_transaction_finish_then_says_421() {
    let h = Harness::new(|_| {}).await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<a@x.example>", "250").await;
    c.cmd("RCPT TO:<b@y.example>", "250").await;
    h.shutdown.send(true).expect("signal");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let msg = message("a@x.example", "b@y.example", "late", "body");
    c.data(&msg, "250").await;
    assert_eq!(
        h.sink.messages().len(),
        1,
        "the open transaction was finished"
    );
    let r = c.read_reply().await;
    assert!(r.starts_with("421 4.3.2"), "then the session ends: {r}");
}

async fn http_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::AsyncReadExt;
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut out = String::new();
    s.read_to_string(&mut out).await.expect("read");
    out
}

#[tokio::test]
async fn healthz_and_metrics() {
    let h = Harness::new(|_| {}).await;
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(certmail_gateway::http::serve(
        h.shared.clone(),
        l,
        None,
        None,
    ));
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    let msg = message("a@x.example", "b@y.example", "m", "body");
    c.mail("a@x.example", &["b@y.example"], &msg, "250").await;

    let r = http_get(addr, "/healthz").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(
        r.contains("\"next_hop\":\"ok\"") && r.contains("\"database\":\"ok\""),
        "{r}"
    );
    let m = http_get(addr, "/metrics").await;
    assert!(
        m.contains("certmail_messages_total{direction=\"relay\",action=\"relayed\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("# TYPE certmail_smtp_sessions_open gauge"),
        "{m}"
    );
    assert!(m.contains("certmail_processing_seconds_count 1"), "{m}");
    assert!(m.contains("certmail_held_messages 0"), "{m}");
    assert!(m.contains("certmail_held_oldest_age_seconds 0"), "{m}");
    let r = http_get(addr, "/readyz").await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.contains("\"keys\":\"ok\""), "{r}");

    h.sink.stop();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let r = http_get(addr, "/healthz").await;
    assert!(r.starts_with("HTTP/1.1 503"), "{r}");
    assert!(r.contains("unreachable"), "{r}");
    let r = http_get(addr, "/readyz").await;
    assert!(
        r.starts_with("HTTP/1.1 503"),
        "not ready without a next hop: {r}"
    );
    let r = http_get(addr, "/nothing-here").await;
    assert!(r.starts_with("HTTP/1.1 404"), "{r}");
}

#[tokio::test]
async fn a_command_in_pieces_is_put_together() {
    let h = Harness::new(|_| {}).await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    for piece in ["MAIL FR", "OM:<a@x.", "example>"] {
        c.send(piece.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.cmd("", "250 2.1.0").await;
    c.send(b"RCPT TO:<b@y.example>\r\nNO").await;
    assert!(c.read_reply().await.starts_with("250 2.1.5"));
    c.cmd("OP", "250 2.0.0").await;
}

#[tokio::test]
async fn one_byte_a_second_is_cut_off_like_an_idle_client() {
    let h = Harness::new(|c| c.command_timeout = 2).await;
    let mut c = h.client().await;
    // Each byte comes well within the timeout, the line never ends: a per-read timer would
    // keep this session forever; the per-line deadline closes it.
    let started = std::time::Instant::now();
    let mut closed = None;
    for b in "NOOP and more and more and more".bytes() {
        if c.r.get_mut().write_all(&[b]).await.is_err() {
            break;
        }
        let mut line = String::new();
        if let Ok(Ok(n)) = tokio::time::timeout(
            Duration::from_millis(400),
            tokio::io::AsyncBufReadExt::read_line(&mut c.r, &mut line),
        )
        .await
        {
            closed = Some((line, n));
            break;
        }
    }
    let (line, _) = closed.expect("the server spoke before the line ended");
    assert!(line.starts_with("421 4.4.2 Timeout"), "{line}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cut at the deadline"
    );
}

#[tokio::test]
async fn message_data_under_the_minimum_rate_is_cut_off() {
    let h = Harness::new(|c| {
        c.data_timeout = 1;
        c.min_data_rate = 500;
    })
    .await;
    let mut c = h.client().await;
    c.start_data().await;
    let mut reply = None;
    for _ in 0..40 {
        if c.r.get_mut().write_all(b"x").await.is_err() {
            break;
        }
        let mut line = String::new();
        if let Ok(Ok(_)) = tokio::time::timeout(
            Duration::from_millis(200),
            tokio::io::AsyncBufReadExt::read_line(&mut c.r, &mut line),
        )
        .await
        {
            reply = Some(line);
            break;
        }
    }
    let line = reply.expect("cut off before 40 bytes at 5 a second were sent");
    assert!(
        line.starts_with("421 4.4.2 Message data arriving too slowly"),
        "{line}"
    );
    assert!(h.sink.messages().is_empty(), "nothing relayed");
}

#[tokio::test]
async fn a_never_ending_header_is_not_held_and_is_refused() {
    let h = Harness::new(|c| c.max_header_size = 4096).await;
    let mut c = h.client().await;
    c.start_data().await;
    let line = format!("X-Filler: {}\r\n", "f".repeat(70));
    for _ in 0..200 {
        c.send(line.repeat(100).as_bytes()).await;
    }
    c.send(b"\r\nbody\r\n.\r\n").await;
    let r = c.read_reply().await;
    assert!(r.starts_with("552 5.3.4 Header section exceeds"), "{r}");
    assert!(h.sink.messages().is_empty());
    c.cmd("NOOP", "250").await;
}

#[tokio::test]
async fn data_that_never_ends_is_cut_off_after_twice_the_size_limit() {
    for (header, expect) in [(true, "Header section"), (false, "Message size")] {
        let h = Harness::new(|c| {
            c.max_message_size = 64 * 1024;
            c.max_header_size = 4096;
        })
        .await;
        let mut c = h.client().await;
        c.start_data().await;
        if !header {
            c.send(b"Subject: long\r\n\r\n").await;
        }
        let filler = if header {
            "X-Filler: f\r\n"
        } else {
            "body body\r\n"
        }
        .repeat(1000);
        let mut sent = 0;
        while sent < 10 * 64 * 1024 {
            if c.r.get_mut().write_all(filler.as_bytes()).await.is_err() {
                break;
            }
            sent += filler.len();
        }
        let r = c.read_reply().await;
        assert!(r.starts_with(&format!("552 5.3.4 {expect} exceeds")), "{r}");
        assert!(r.contains("closing the connection"), "{r}");
        assert!(c.read_reply().await.is_empty(), "the connection is closed");
        assert!(h.sink.messages().is_empty());
    }
}

#[tokio::test]
async fn a_hundred_thousand_recipients_end_the_session() {
    let h = Harness::new(|c| c.max_recipients = 5).await;
    let mut c = h.client().await;
    c.cmd("EHLO x", "250").await;
    c.cmd("MAIL FROM:<a@x.example>", "250").await;
    let (mut ok, mut over, mut last) = (0, 0, String::new());
    let mut batches = 0;
    'outer: for b in 0..100 {
        batches = b + 1;
        let batch: String = (0..1000)
            .map(|i| format!("RCPT TO:<r{b}x{i}@y.example>\r\n"))
            .collect();
        if c.r.get_mut().write_all(batch.as_bytes()).await.is_err() {
            break;
        }
        for _ in 0..1000 {
            let r = c.read_reply().await;
            if r.is_empty() {
                break 'outer;
            }
            if r.starts_with("250") {
                ok += 1;
            } else if r.starts_with("452 4.5.3") {
                over += 1;
            }
            last = r;
        }
    }
    assert_eq!(ok, 5, "the limit's worth accepted");
    assert_eq!(
        over, 1010,
        "1,000 over the limit, then 10 counted as errors"
    );
    assert!(
        last.contains("421 4.7.0"),
        "closed for too many errors: {last}"
    );
    assert!(batches <= 3, "cut off after {batches} thousand, not 100");
}
