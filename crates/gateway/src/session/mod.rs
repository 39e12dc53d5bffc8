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

mod command;
mod data;
mod deliver;

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

/// What waiting for the client brought.
enum Input {
    /// Bytes read (0: the client closed the connection).
    Read(usize),
    /// The command did not arrive in time (`421` sent).
    TimedOut,
    /// Shutdown began: look at the session again.
    ShuttingDown,
}

/// The reply to a command smtp-proto could not parse.
fn syntax_reply(e: smtp_proto::Error) -> String {
    match e {
        smtp_proto::Error::UnknownCommand => "500 5.5.2 Command not recognised".to_owned(),
        smtp_proto::Error::InvalidSenderAddress => "501 5.1.7 Bad sender address syntax".to_owned(),
        smtp_proto::Error::InvalidRecipientAddress => {
            "501 5.1.3 Bad recipient address syntax".to_owned()
        }
        smtp_proto::Error::SyntaxError { syntax } => format!("501 5.5.4 Syntax: {syntax}"),
        smtp_proto::Error::InvalidParameter { param } => {
            format!("501 5.5.4 Invalid parameter {param}")
        }
        smtp_proto::Error::UnsupportedParameter { param } => {
            format!("555 5.5.4 Unsupported parameter {}", clip(&param))
        }
        _ => "500 5.5.2 Syntax error".to_owned(),
    }
}

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
                    self.xforward(&args);
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
                        if self.error(&syntax_reply(e)) {
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
            match self.wait_for_input(&mut chunk, line_start).await? {
                Input::Read(0) | Input::TimedOut => return Ok(End::Closed),
                Input::Read(n) => self.inbuf.extend_from_slice(&chunk[..n]),
                Input::ShuttingDown => continue 'session,
            }
        }
    }

    /// Answers `XFORWARD` (Postfix's XFORWARD_README), which smtp-proto does not know.
    fn xforward(&mut self, args: &str) {
        let reply = if self.tx.is_some() {
            "503 5.5.1 Error: MAIL transaction in progress".to_owned()
        } else {
            match crate::xforward::apply(&mut self.fwd, args) {
                Ok(()) => "250 2.0.0 Ok".to_owned(),
                Err(why) => format!("501 5.5.4 {}", clip(&why)),
            }
        };
        self.reply(&reply);
    }

    /// Waits for more of the client's input until the command line's time is up (then
    /// answers `421`), or until shutdown begins while no transaction is open.
    async fn wait_for_input(
        &mut self,
        chunk: &mut [u8],
        line_start: tokio::time::Instant,
    ) -> std::io::Result<Input> {
        let mut shutdown = self.shared.shutdown.clone();
        loop {
            // The limit is looked at again every second: a session that started waiting
            // before a flood filled the slots gets the stress timeout too.
            let limit = line_start + self.command_timeout();
            let now = tokio::time::Instant::now();
            if now >= limit {
                self.reply("421 4.4.2 Timeout waiting for a command, closing the connection");
                self.flush().await?;
                return Ok(Input::TimedOut);
            }
            let wake = limit.min(now + Duration::from_secs(1));
            tokio::select! {
                r = tokio::time::timeout_at(wake, self.stream.read(chunk)) => match r {
                    Ok(r) => return Ok(Input::Read(r?)),
                    Err(_) => continue,
                },
                _ = shutdown.changed(), if self.tx.is_none() => return Ok(Input::ShuttingDown),
            }
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
