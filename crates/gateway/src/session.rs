//! One SMTP session: commands parsed by `smtp-proto` (pipelined input is answered in
//! order), limits, the per-recipient decision at `RCPT TO`, and the reply to the end of
//! data, which is `250` only after the next hop took every copy.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use certmail_app::AppError;
use certmail_app::mailflow::{Envelope, FlowSettings, FlowSnapshot, failure_notice};
use smtp_proto::request::receiver::{DataReceiver, RequestReceiver};
use smtp_proto::{MAIL_BODY_8BITMIME, MAIL_SMTPUTF8, Request};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::Shared;
use crate::address;
use crate::record::{emit, fwd_text};
use crate::relay::{Extensions, Fate};

/// Bad commands tolerated before the session is closed.
const MAX_ERRORS: u32 = 10;
/// Longest command line (RFC 5321 4.5.3.1.4 allows 512; extensions make lines longer).
const MAX_LINE: usize = 4096;
/// Longest reply text taken over from reasons.
const MAX_REASON: usize = 400;
/// `RCPT TO` commands answered `452` (over the recipient limit) before each further one
/// counts as an error, as Postfix's `smtpd_recipient_overshoot_limit`: a client that
/// pipelines 100,000 recipients is cut off after the limit, this many and [`MAX_ERRORS`].
const RCPT_OVERSHOOT: usize = 1000;

/// How a session ended.
pub enum End<S> {
    /// Closed (QUIT, timeout, error, shutdown).
    Closed,
    /// The client asked for STARTTLS and got `220`: the caller wraps the stream in TLS
    /// and starts a new session on it (RFC 3207: all state is forgotten).
    StartTls(S),
}

struct Transaction {
    snapshot: FlowSnapshot,
    sender: String,
    sender_settings: FlowSettings,
    rcpts: Vec<String>,
    rcpt_settings: Vec<FlowSettings>,
    ext: Extensions,
    /// What the MTA in front said of this transaction (XFORWARD).
    fwd: crate::xforward::Forwarded,
    /// `SIZE=` of `MAIL FROM` (0: not given): what the memory budget reserves up front.
    declared_size: u64,
}

/// An SMTP session over any byte stream (TCP, TLS, or an in-memory pipe in tests).
pub struct Session<S> {
    shared: Arc<Shared>,
    stream: S,
    peer: String,
    tls: bool,
    helo: Option<String>,
    /// XFORWARD attributes for the next transaction.
    fwd: crate::xforward::Forwarded,
    tx: Option<Transaction>,
    out: Vec<u8>,
    inbuf: Vec<u8>,
    errors: u32,
    discarding: bool,
    /// Recipients refused for being over the limit in this session.
    overshoot: usize,
}

fn clip(s: &str) -> String {
    let one: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if one.len() <= MAX_REASON {
        return one;
    }
    let mut end = MAX_REASON;
    while !one.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &one[..end])
}

enum Next {
    Continue,
    Data,
    Quit,
    StartTls,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A session on `stream` from `peer`; `tls` when the stream is already encrypted.
    pub fn new(shared: Arc<Shared>, stream: S, peer: String, tls: bool) -> Self {
        Session {
            shared,
            stream,
            peer,
            tls,
            helo: None,
            fwd: crate::xforward::Forwarded::default(),
            tx: None,
            out: Vec::with_capacity(1024),
            inbuf: Vec::with_capacity(16 * 1024),
            errors: 0,
            discarding: false,
            overshoot: 0,
        }
    }

    fn reply(&mut self, line: &str) {
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.out.is_empty() {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await?;
            self.out.clear();
        }
        Ok(())
    }

    /// Ends a connection the client is still writing to: closes our side, then reads and
    /// drops what still comes for a moment, so the last reply is not lost to the reset a
    /// close with unread data would send.
    async fn linger(&mut self, chunk: &mut [u8]) {
        let _ = self.stream.shutdown().await;
        let until = tokio::time::Instant::now() + Duration::from_secs(2);
        while let Ok(Ok(n)) = tokio::time::timeout_at(until, self.stream.read(chunk)).await {
            if n == 0 {
                break;
            }
        }
    }

    /// Writes the greeting (plain sessions start with it; STARTTLS sessions do not).
    pub async fn greet(&mut self) -> std::io::Result<()> {
        let line = format!("220 {} ESMTP certmail", self.shared.hostname);
        self.reply(&line);
        self.flush().await
    }

    /// Runs the session to its end.
    pub async fn run(mut self) -> std::io::Result<End<S>> {
        let mut receiver = RequestReceiver::default();
        let mut chunk = vec![0u8; 16 * 1024];
        let mut off = 0usize;
        let mut line_start = tokio::time::Instant::now();
        'session: loop {
            // Whether a whole line was taken in this pass.
            let mut progressed = false;
            // Answer every complete command already received (pipelining).
            while off < self.inbuf.len() {
                // Only whole lines go to the parser, so line length is checked here.
                let rest = &self.inbuf[off..];
                let nl = memchr::memchr(b'\n', rest);
                if self.discarding {
                    match nl {
                        Some(p) => {
                            off += p + 1;
                            self.discarding = false;
                            progressed = true;
                            continue;
                        }
                        None => {
                            off = self.inbuf.len();
                            break;
                        }
                    }
                }
                let line_len = match nl {
                    Some(p) => p + 1,
                    None if rest.len() > MAX_LINE => {
                        self.discarding = true;
                        off = self.inbuf.len();
                        MAX_LINE + 1
                    }
                    None => break,
                };
                if line_len > MAX_LINE {
                    if !self.discarding {
                        off += line_len;
                    }
                    if self.error("500 5.5.2 Line too long (at most 4096 bytes)") {
                        self.flush().await?;
                        self.linger(&mut chunk).await;
                        return Ok(End::Closed);
                    }
                    continue;
                }
                // XFORWARD (Postfix's XFORWARD_README), which smtp-proto does not know.
                let raw = &self.inbuf[off..off + line_len];
                if raw.len() > 9 && raw[..9].eq_ignore_ascii_case(b"XFORWARD ") {
                    let args = String::from_utf8_lossy(&raw[9..]).trim().to_owned();
                    off += line_len;
                    progressed = true;
                    let reply = if self.tx.is_some() {
                        "503 5.5.1 Error: MAIL transaction in progress".to_owned()
                    } else {
                        match crate::xforward::apply(&mut self.fwd, &args) {
                            Ok(()) => "250 2.0.0 Ok".to_owned(),
                            Err(why) => format!("501 5.5.4 {}", clip(&why)),
                        }
                    };
                    self.reply(&reply);
                    continue;
                }
                // MAIL FROM and RCPT TO: the path is read here (exactly, quotes kept),
                // smtp-proto reads the rest of the line (address.rs says why).
                let utf8_tx = self.tx.as_ref().is_some_and(|t| t.ext.smtputf8);
                let split = address::split_command(raw, utf8_tx);
                let (parsed, path) = match split {
                    None => {
                        let mut it = raw.iter();
                        (receiver.ingest(&mut it).map(|r| r.into_owned()), None)
                    }
                    Some(Ok((line, path))) => {
                        let mut it = line.iter();
                        (receiver.ingest(&mut it).map(|r| r.into_owned()), Some(path))
                    }
                    Some(Err(e)) => {
                        let sender = raw[..4].eq_ignore_ascii_case(b"MAIL");
                        off += line_len;
                        progressed = true;
                        let code = match e.code {
                            "501 5.1.3" if sender => "501 5.1.7",
                            "553 5.1.3" if sender => "553 5.1.7",
                            c => c,
                        };
                        if self.error(&format!("{code} {}", e.why)) {
                            self.flush().await?;
                            self.linger(&mut chunk).await;
                            return Ok(End::Closed);
                        }
                        continue;
                    }
                };
                let parsed = match (parsed, path) {
                    (Ok(Request::Mail { mut from }), Some(p)) => {
                        from.address = p.address;
                        Ok(Request::Mail { from })
                    }
                    (Ok(Request::Rcpt { mut to }), Some(p)) => {
                        to.address = p.address;
                        Ok(Request::Rcpt { to })
                    }
                    (other, _) => other,
                };
                off += line_len;
                progressed = true;
                match parsed {
                    Ok(req) => match self.command(req).await {
                        Next::Continue => {}
                        Next::Quit => {
                            self.flush().await?;
                            self.linger(&mut chunk).await;
                            return Ok(End::Closed);
                        }
                        Next::StartTls => {
                            // Anything pipelined after STARTTLS is discarded (it was
                            // sent in clear: CVE-2011-0411).
                            self.flush().await?;
                            return Ok(End::StartTls(self.stream));
                        }
                        Next::Data => {
                            self.flush().await?;
                            let rest = self.inbuf.split_off(off);
                            self.inbuf.clear();
                            off = 0;
                            let leftover = match self.data(rest, &mut chunk).await? {
                                Some(l) => l,
                                None => return Ok(End::Closed),
                            };
                            self.inbuf = leftover;
                        }
                    },
                    Err(smtp_proto::Error::NeedsMoreData { .. }) => break,
                    Err(e) => {
                        let line = match e {
                            smtp_proto::Error::UnknownCommand => {
                                "500 5.5.2 Command not recognised".to_owned()
                            }
                            smtp_proto::Error::InvalidSenderAddress => {
                                "501 5.1.7 Bad sender address syntax".to_owned()
                            }
                            smtp_proto::Error::InvalidRecipientAddress => {
                                "501 5.1.3 Bad recipient address syntax".to_owned()
                            }
                            smtp_proto::Error::SyntaxError { syntax } => {
                                format!("501 5.5.4 Syntax: {syntax}")
                            }
                            smtp_proto::Error::InvalidParameter { param } => {
                                format!("501 5.5.4 Invalid parameter {param}")
                            }
                            smtp_proto::Error::UnsupportedParameter { param } => {
                                format!("555 5.5.4 Unsupported parameter {}", clip(&param))
                            }
                            _ => "500 5.5.2 Syntax error".to_owned(),
                        };
                        if self.error(&line) {
                            self.flush().await?;
                            self.linger(&mut chunk).await;
                            return Ok(End::Closed);
                        }
                    }
                }
            }
            // A command that arrived in pieces waits here for the rest of its line.
            self.inbuf.drain(..off.min(self.inbuf.len()));
            off = 0;
            self.flush().await?;
            if self.tx.is_none() && *self.shared.shutdown.borrow() {
                self.reply("421 4.3.2 Service shutting down, try again later");
                self.flush().await?;
                return Ok(End::Closed);
            }
            // The whole command line must arrive in time, not each piece of it: a client
            // sending one byte a second is cut off like an idle one.
            if progressed || (self.inbuf.is_empty() && !self.discarding) {
                line_start = tokio::time::Instant::now();
            }
            let mut shutdown = self.shared.shutdown.clone();
            let n = loop {
                // The limit is looked at again every second: a session that started
                // waiting before a flood filled the slots gets the stress timeout too.
                let limit = line_start + self.command_timeout();
                let now = tokio::time::Instant::now();
                if now >= limit {
                    self.reply("421 4.4.2 Timeout waiting for a command, closing the connection");
                    self.flush().await?;
                    return Ok(End::Closed);
                }
                let wake = limit.min(now + Duration::from_secs(1));
                tokio::select! {
                    r = tokio::time::timeout_at(wake, self.stream.read(&mut chunk)) => match r {
                        Ok(r) => break r?,
                        Err(_) => continue,
                    },
                    _ = shutdown.changed(), if self.tx.is_none() => continue 'session,
                }
            };
            if n == 0 {
                return Ok(End::Closed);
            }
            self.inbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// How long a command may take to arrive: the configured timeout, or the shorter
    /// stress timeout while most session slots are taken (Postfix's stress mode), so
    /// that idle connections of a flood make room quickly.
    fn command_timeout(&self) -> Duration {
        let cfg = &self.shared.cfg;
        let open = self.shared.metrics.open_sessions.load(Ordering::Relaxed) as usize;
        let now = certmail_app::now();
        let until = &self.shared.stress_until;
        if open * 5 >= cfg.max_sessions * 4 {
            until.fetch_max(now + cfg.stress_timeout as i64 * 2, Ordering::Relaxed);
        }
        let secs = if now < until.load(Ordering::Relaxed) {
            cfg.stress_timeout.min(cfg.command_timeout)
        } else {
            cfg.command_timeout
        };
        Duration::from_secs(secs.max(1))
    }

    /// Answers a bad command; true when the session must now end.
    fn error(&mut self, line: &str) -> bool {
        self.errors += 1;
        self.reply(line);
        if self.errors >= MAX_ERRORS {
            self.reply("421 4.7.0 Too many errors, closing the connection");
            return true;
        }
        false
    }

    async fn command(&mut self, req: Request<String>) -> Next {
        let cfg = &self.shared.cfg;
        match req {
            Request::Ehlo { host } => {
                self.helo = Some(host.clone());
                self.tx = None;
                self.fwd = crate::xforward::Forwarded::default();
                let mut lines = vec![
                    format!("{} greets {}", self.shared.hostname, clip(&host)),
                    "PIPELINING".into(),
                    format!("SIZE {}", cfg.max_message_size),
                    "8BITMIME".into(),
                    "ENHANCEDSTATUSCODES".into(),
                    "SMTPUTF8".into(),
                    format!("XFORWARD {}", crate::xforward::ATTRIBUTES),
                ];
                if self.shared.tls.is_some() && !self.tls {
                    lines.push("STARTTLS".into());
                }
                let n = lines.len();
                for (i, l) in lines.into_iter().enumerate() {
                    let sep = if i + 1 == n { ' ' } else { '-' };
                    self.reply(&format!("250{sep}{l}"));
                }
            }
            Request::Helo { host } => {
                self.helo = Some(host);
                self.tx = None;
                let line = format!("250 {}", self.shared.hostname);
                self.reply(&line);
            }
            Request::Lhlo { .. } => self.reply("500 5.5.1 This is an SMTP server, not LMTP"),
            Request::Mail { from } => {
                if self.helo.is_none() {
                    self.reply("503 5.5.1 Send EHLO or HELO first");
                } else if self.tx.is_some() {
                    self.reply("503 5.5.1 Sender already given (use RSET)");
                } else if from.size as u64 > cfg.max_message_size {
                    let line = format!(
                        "552 5.3.4 Message size exceeds the limit of {} bytes",
                        cfg.max_message_size
                    );
                    self.reply(&line);
                } else {
                    let app = &self.shared.app;
                    let looked_up = match app.flow_snapshot(certmail_app::now()).await {
                        Ok(snap) => app
                            .flow_settings(&snap, &from.address)
                            .await
                            .map(|s| (snap, s)),
                        Err(e) => Err(e),
                    };
                    match looked_up {
                        Ok((snapshot, s)) => {
                            self.tx = Some(Transaction {
                                snapshot,
                                sender: from.address,
                                sender_settings: s,
                                rcpts: Vec::new(),
                                rcpt_settings: Vec::new(),
                                ext: Extensions {
                                    eight_bit: from.flags & MAIL_BODY_8BITMIME != 0,
                                    smtputf8: from.flags & MAIL_SMTPUTF8 != 0,
                                },
                                declared_size: from.size as u64,
                                fwd: std::mem::take(&mut self.fwd),
                            });
                            self.reply("250 2.1.0 Sender OK");
                        }
                        Err(e) => {
                            self.shared.metrics.error("database");
                            let line = format!("451 4.3.0 Temporary failure: {}", clip(&e.to_string()));
                            self.reply(&line);
                        }
                    }
                }
            }
            Request::Rcpt { to } => {
                if self.rcpt(to.address).await {
                    return Next::Quit;
                }
            }
            Request::Data => {
                match &self.tx {
                    None => self.reply("503 5.5.1 MAIL first"),
                    Some(t) if t.rcpts.is_empty() => self.reply("554 5.5.1 No valid recipients"),
                    Some(_) => {
                        self.reply("354 End data with <CR><LF>.<CR><LF>");
                        return Next::Data;
                    }
                }
            }
            Request::Rset => {
                self.tx = None;
                self.fwd = crate::xforward::Forwarded::default();
                self.reply("250 2.0.0 Reset");
            }
            Request::Noop { .. } => self.reply("250 2.0.0 OK"),
            Request::Quit => {
                let line = format!("221 2.0.0 {} closing connection", self.shared.hostname);
                self.reply(&line);
                return Next::Quit;
            }
            Request::Vrfy { .. } => self.reply("252 2.5.0 Cannot verify the address; send mail and see"),
            Request::Expn { .. } => self.reply("502 5.5.1 EXPN is not available"),
            Request::Help { .. } => {
                self.reply("214 2.0.0 certmail S/MIME gateway: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS")
            }
            Request::StartTls => {
                if self.tls {
                    self.reply("503 5.5.1 TLS is already active");
                } else if self.shared.tls.is_none() {
                    self.reply("502 5.5.1 STARTTLS is not available (no certificate configured)");
                } else {
                    self.reply("220 2.0.0 Ready to start TLS");
                    return Next::StartTls;
                }
            }
            Request::Bdat { .. } => {
                // CHUNKING is not announced; the chunk that follows cannot be skipped
                // reliably, so the session ends.
                self.reply("503 5.5.1 BDAT without CHUNKING; closing the connection");
                return Next::Quit;
            }
            Request::Auth { .. } => self.reply("502 5.5.1 AUTH is not available: access is by client address"),
            Request::Etrn { .. } | Request::Atrn { .. } | Request::Burl { .. } => {
                self.reply("502 5.5.1 Command not implemented")
            }
        }
        Next::Continue
    }

    /// Answers `RCPT TO`; true when the session must now end (too many over the limit).
    async fn rcpt(&mut self, address: String) -> bool {
        let max = self.shared.cfg.max_recipients;
        let Some(tx) = &self.tx else {
            self.reply("503 5.5.1 MAIL first");
            return false;
        };
        if tx.rcpts.len() >= max {
            let line = format!("452 4.5.3 Too many recipients (at most {max} per message)");
            self.overshoot += 1;
            if self.overshoot > RCPT_OVERSHOOT {
                return self.error(&line);
            }
            self.reply(&line);
            return false;
        }
        let decision = self
            .shared
            .app
            .gateway_rcpt(&tx.snapshot, &tx.sender_settings, &address)
            .await;
        let line = match decision {
            Ok(d) => match d.refusal {
                Some(why) => {
                    self.shared
                        .metrics
                        .message(d.direction.as_str(), "rejected");
                    let text = format!(
                        "rcpt-refused from=<{}> to=<{address}>{} reason=\"{}\"",
                        tx.sender,
                        fwd_text(&tx.fwd),
                        clip(&why)
                    );
                    emit(
                        &self.shared,
                        &text,
                        serde_json::json!({
                            "event": "rcpt-refused", "from": tx.sender, "to": address,
                            "queue_id": tx.fwd.ident, "client": tx.fwd.client(),
                            "reply": 550, "outcome": "refused", "reason": why,
                        }),
                    );
                    format!("550 5.7.1 {}", clip(&why))
                }
                None => {
                    if let Some(t) = &mut self.tx {
                        t.rcpts.push(address);
                        t.rcpt_settings.push(d.settings);
                    }
                    "250 2.1.5 Recipient OK".to_owned()
                }
            },
            Err(AppError::Invalid(why)) => format!("553 5.1.3 {}", clip(&why)),
            Err(e) => {
                self.shared.metrics.error("database");
                format!("451 4.3.0 Temporary failure: {}", clip(&e.to_string()))
            }
        };
        self.reply(&line);
        false
    }

    /// Receives the message after `354`. Returns the bytes that followed the end of data
    /// (pipelined commands), or `None` when the connection ended.
    async fn data(
        &mut self,
        initial: Vec<u8>,
        chunk: &mut [u8],
    ) -> std::io::Result<Option<Vec<u8>>> {
        let max = self.shared.cfg.max_message_size as usize;
        let mut receiver = DataReceiver::new();
        // 32 KiB to start (most mail fits, and a buffer under 64 KiB is freed without
        // glibc consolidating its free lists), or the size MAIL FROM declared. Every byte
        // kept, and the copies processing makes, is reserved from the memory budget first
        // (budget.rs): up front while this session holds nothing, beyond that only from
        // what is free at once; over it, the rest is read and dropped and the reply is 452.
        let budget = &self.shared.budget;
        let factor = 1 + crate::budget::PROCESSING_FACTOR;
        let mut held = crate::budget::Held::default();
        let declared = self.tx.as_ref().map_or(0, |t| t.declared_size) as usize;
        let first = initial
            .len()
            .max(32 * 1024)
            .max(declared.saturating_add(declared / 8))
            .min(max + 1);
        let mut over_budget = !budget
            .reserve(&mut held, first * factor, crate::budget::WAIT)
            .await;
        let mut msg: Vec<u8> = Vec::with_capacity(if over_budget { 0 } else { first });
        let mut too_big = false;
        let max_header = self.shared.cfg.max_header_size as usize;
        let (mut header_checked, mut header_too_big) = (false, false);
        let mut pending = initial;
        let timeout = Duration::from_secs(self.shared.cfg.data_timeout.max(1));
        // Each read gets the data timeout, and the whole message must keep up a minimum
        // rate on top of one timeout (Postfix's smtpd_min_data_rate): one byte a second
        // does not hold a session for the size limit's worth of days.
        let min_rate = self.shared.cfg.min_data_rate;
        let started = tokio::time::Instant::now();
        let mut received = pending.len() as u64;
        let leftover = loop {
            if !over_budget && !too_big && !header_too_big {
                let need = msg.len() + pending.len();
                if need > msg.capacity() {
                    let grown = (msg.capacity() * 2).max(need).min(max + 2 + pending.len());
                    if budget.try_reserve(&mut held, grown * factor) {
                        msg.reserve_exact(grown - msg.len());
                    } else {
                        over_budget = true;
                        msg = Vec::new();
                    }
                }
            }
            let mut it = pending.iter();
            let done = receiver.ingest(&mut it, &mut msg);
            let rest = it.as_slice().to_vec();
            // A header section over the limit is known once that many bytes came without
            // an empty line: the rest is read and dropped, not held.
            if !header_checked && !too_big && msg.len() > max_header {
                header_checked = true;
                header_too_big = header_len(&msg) > max_header;
            }
            if header_too_big || over_budget {
                msg.clear();
            } else if msg.len() > max {
                too_big = true;
                msg.clear();
            }
            if done {
                break rest;
            }
            // Data over a limit is thrown away to the end, so the client hears the reason
            // at the end of its message; but not forever: once the limit's worth has been
            // thrown away too, the session ends (a never-ending message or header).
            if (too_big || header_too_big || over_budget) && received > 2 * max as u64 {
                self.tx = None;
                self.shared.metrics.error("data-over-limit");
                self.reply(&format!(
                    "552 5.3.4 {} exceeds the limit of {} bytes and does not end, closing the connection",
                    if header_too_big { "Header section" } else { "Message size" },
                    if header_too_big { max_header } else { max },
                ));
                self.flush().await?;
                self.linger(chunk).await;
                return Ok(None);
            }
            let per_read = tokio::time::Instant::now() + timeout;
            let deadline = match min_rate {
                0 => per_read,
                r => per_read.min(started + timeout + Duration::from_secs(received / r)),
            };
            let n = match tokio::time::timeout_at(deadline, self.stream.read(chunk)).await {
                Ok(r) => r?,
                Err(_) => {
                    self.tx = None;
                    self.shared.metrics.error("data-timeout");
                    let line = if deadline < per_read {
                        format!(
                            "421 4.4.2 Message data arriving too slowly (under {min_rate} bytes a second), closing the connection"
                        )
                    } else {
                        "421 4.4.2 Timeout waiting for message data, closing the connection"
                            .to_owned()
                    };
                    self.reply(&line);
                    self.flush().await?;
                    return Ok(None);
                }
            };
            received += n as u64;
            if n == 0 {
                // The client went away in the middle: nothing was acknowledged.
                self.tx = None;
                return Ok(None);
            }
            pending = chunk[..n].to_vec();
        };
        let Some(tx) = self.tx.take() else {
            return Ok(Some(leftover));
        };
        let cfg = &self.shared.cfg;
        let line = if too_big {
            self.shared
                .metrics
                .refused_total
                .fetch_add(1, Ordering::Relaxed);
            format!(
                "552 5.3.4 Message size exceeds the limit of {} bytes",
                cfg.max_message_size
            )
        } else if header_too_big {
            self.shared
                .metrics
                .refused_total
                .fetch_add(1, Ordering::Relaxed);
            format!(
                "552 5.3.4 Header section exceeds the limit of {} bytes",
                cfg.max_header_size
            )
        } else if over_budget {
            // Nothing was acknowledged: the MTA keeps the message and tries again.
            self.shared.metrics.error("memory-budget");
            self.shared
                .metrics
                .deferred_total
                .fetch_add(1, Ordering::Relaxed);
            let reason = format!(
                "the memory budget for messages in flight ({} MiB) is taken",
                budget.total_bytes() >> 20
            );
            let text = format!(
                "from=<{}> peer={}{} reply=452 reason=\"{reason}\"",
                tx.sender,
                self.peer,
                fwd_text(&tx.fwd)
            );
            emit(
                &self.shared,
                &text,
                serde_json::json!({
                    "event": "message", "from": tx.sender, "peer": self.peer,
                    "queue_id": tx.fwd.ident, "client": tx.fwd.client(),
                    "reply": 452, "outcome": "deferred", "reason": reason,
                }),
            );
            format!(
                "452 4.3.1 The gateway's memory for messages in flight ({} MiB) is taken: try again later",
                budget.total_bytes() >> 20
            )
        } else {
            self.deliver(tx, msg).await
        };
        drop(held);
        self.reply(&line);
        Ok(Some(leftover))
    }

    /// Processes and relays the message; the reply to the end of data.
    async fn deliver(&mut self, tx: Transaction, msg: Vec<u8>) -> String {
        let started = Instant::now();
        let size = msg.len();
        // The header section, for a notification to the sender (the body is not needed).
        let original_headers = msg[..(header_len(&msg) + 4).min(size)].to_vec();
        let msg = std::sync::Arc::new(msg);
        let shared = self.shared.clone();
        let m = &shared.metrics;
        let id = shared.ids.next();
        let now = certmail_app::now();
        let env = Envelope {
            id: &id,
            sender: &tx.sender,
            recipients: &tx.rcpts,
            now,
        };
        let plan = match shared
            .app
            .gateway_process(
                &env,
                Some((&tx.snapshot, &tx.sender_settings, &tx.rcpt_settings)),
                msg,
            )
            .await
        {
            Ok(p) => p,
            Err(e) => {
                m.error("processing");
                m.deferred_total.fetch_add(1, Ordering::Relaxed);
                m.observe(started.elapsed().as_secs_f64());
                let why = clip(&e.to_string());
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let text = format!(
                    "id={id}{} from=<{}> size={} ms={ms:.2} reply=451 reason=\"processing failed: {why}\"",
                    fwd_text(&tx.fwd),
                    tx.sender,
                    size,
                );
                emit(
                    &shared,
                    &text,
                    serde_json::json!({
                        "event": "message", "id": id, "queue_id": tx.fwd.ident,
                        "client": tx.fwd.client(), "from": tx.sender, "size": size,
                        "ms": (ms * 100.0).round() / 100.0, "reply": 451, "outcome": "deferred",
                        "reason": format!("processing failed: {why}"),
                    }),
                );
                return format!(
                    "451 4.3.0 {id} Temporary failure while processing, try again later: {why}"
                );
            }
        };
        let mut temporary: Vec<String> = Vec::new();
        let mut permanent: Vec<(String, String)> = plan.rejected.clone();
        let mut delivered = 0usize;
        for copy in &plan.copies {
            let (head, body) = copy.parts();
            let fates = shared
                .relay
                .send(&tx.sender, &copy.recipients, &[head, body], tx.ext)
                .await;
            for (r, f) in copy.recipients.iter().zip(fates) {
                match f {
                    Fate::Accepted(_) => delivered += 1,
                    Fate::Temporary(why) => temporary.push(format!("<{r}>: {why}")),
                    Fate::Permanent(why) => permanent.push((r.clone(), why)),
                }
            }
            if !temporary.is_empty() {
                // The MTA retries the whole message: stop handing on further copies.
                break;
            }
        }
        let mut notice = String::new();
        let held = plan.held.len();
        let (code, line) = if !temporary.is_empty() {
            m.error("next-hop");
            (
                451,
                format!(
                    "451 4.4.1 {id} Not delivered, try again later: {}",
                    clip(&temporary.join("; "))
                ),
            )
        } else if delivered == 0 && held == 0 {
            let why: Vec<String> = permanent.iter().map(|(_, w)| w.clone()).collect();
            (554, format!("554 5.7.1 {id} {}", clip(&why.join("; "))))
        } else {
            // Recipients refused after the message was accepted, and held ones, are
            // reported to the sender by notifications, which must themselves be accepted
            // before we say 250 (a retry holds nothing twice).
            let mut notices: Vec<(&str, Vec<u8>)> = Vec::new();
            if !tx.sender.is_empty() && !permanent.is_empty() {
                notices.push((
                    "notice",
                    failure_notice(
                        &shared.hostname,
                        &id,
                        &tx.sender,
                        &permanent,
                        &original_headers,
                        now,
                    ),
                ));
            }
            if !tx.sender.is_empty() && held > 0 {
                let items: Vec<(String, String, i64)> = plan
                    .held
                    .iter()
                    .map(|h| (h.recipient.clone(), h.reason.clone(), h.id))
                    .collect();
                notices.push((
                    "hold-notice",
                    certmail_app::hold::hold_notice(
                        &shared.hostname,
                        &tx.sender,
                        &items,
                        &original_headers,
                        false,
                        now,
                    ),
                ));
            }
            let mut result = (250, format!("250 2.0.0 Ok: queued as {id}"));
            for (what, mail) in notices {
                let fates = shared
                    .relay
                    .send(
                        "",
                        std::slice::from_ref(&tx.sender),
                        &[&mail],
                        Extensions::default(),
                    )
                    .await;
                match fates.first() {
                    Some(Fate::Accepted(_)) => notice.push_str(&format!(" {what}=sent")),
                    Some(Fate::Permanent(why)) => {
                        notice.push_str(&format!(" {what}=\"refused: {}\"", clip(why)))
                    }
                    other => {
                        m.error("next-hop");
                        let why = match other {
                            Some(Fate::Temporary(w)) => w.clone(),
                            _ => "no reply".into(),
                        };
                        result = (
                            451,
                            format!(
                                "451 4.4.1 {id} Notification to the sender not accepted, try again later: {}",
                                clip(&why)
                            ),
                        );
                        break;
                    }
                }
            }
            result
        };
        if code == 250 {
            // Senders whose certificate was requested are told, best effort (the request
            // is not repeated, so neither is the notice).
            for (who, rid) in &plan.requested {
                let mail =
                    certmail_app::auto_request::request_notice(&shared.hostname, who, *rid, now);
                let fates = shared
                    .relay
                    .send(
                        "",
                        std::slice::from_ref(who),
                        &[&mail],
                        Extensions::default(),
                    )
                    .await;
                if !matches!(fates.first(), Some(Fate::Accepted(_))) {
                    notice.push_str(" request-notice=failed");
                }
            }
        }
        match code {
            250 => {
                m.accepted_total.fetch_add(1, Ordering::Relaxed);
                for o in &plan.outcomes {
                    m.message(o.direction.as_str(), o.action);
                }
                for _ in plan.rejected.len()..permanent.len() {
                    m.message("next-hop", "rejected");
                }
            }
            451 => {
                m.deferred_total.fetch_add(1, Ordering::Relaxed);
            }
            _ => {
                m.refused_total.fetch_add(1, Ordering::Relaxed);
                for o in &plan.outcomes {
                    m.message(o.direction.as_str(), o.action);
                }
            }
        }
        m.observe(started.elapsed().as_secs_f64());
        let mut items = String::new();
        for o in &plan.outcomes {
            items.push_str(&format!(
                " to=<{}> dir={} action={} \"{}\"",
                o.recipient,
                o.direction.as_str(),
                o.action,
                clip(&o.detail)
            ));
        }
        let ms = started.elapsed().as_secs_f64() * 1e3;
        let reason = (code != 250).then(|| clip(&line[4..]));
        let text = format!(
            "id={id}{} from=<{}> peer={} size={} copies={} ms={ms:.2} reply={code}{notice}{items}{}",
            fwd_text(&tx.fwd),
            tx.sender,
            self.peer,
            size,
            plan.copies.len(),
            reason
                .as_ref()
                .map(|r| format!(" reason=\"{r}\""))
                .unwrap_or_default()
        );
        let recipients: Vec<serde_json::Value> = plan
            .outcomes
            .iter()
            .map(|o| {
                serde_json::json!({
                    "to": o.recipient, "direction": o.direction.as_str(),
                    "action": o.action, "detail": o.detail,
                })
            })
            .collect();
        emit(
            &shared,
            &text,
            serde_json::json!({
                "event": "message", "id": id, "queue_id": tx.fwd.ident,
                "client": tx.fwd.client(), "from": tx.sender, "peer": self.peer,
                "size": size, "copies": plan.copies.len(),
                "ms": (ms * 100.0).round() / 100.0, "reply": code,
                "outcome": match code { 250 => "accepted", 451 | 452 => "deferred", _ => "refused" },
                "notice": notice.trim(), "to": recipients, "reason": reason,
            }),
        );
        line
    }
}

/// Length of the header section (up to the blank line), or of the whole message when
/// there is none.
fn header_len(msg: &[u8]) -> usize {
    let crlf = memchr::memmem::find(msg, b"\r\n\r\n");
    let lf = memchr::memmem::find(msg, b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => msg.len(),
    }
}
