//! The SMTP client to the next hop (Postfix's reinjection `smtpd`), over `mail-send`'s
//! client and `smtp-proto`'s reply parser, with a small pool of idle connections.
//!
//! Every copy is one transaction; the result is per recipient: accepted by the next hop,
//! refused temporarily, or refused permanently. The gateway acknowledges its own client
//! only from these results, so nothing is acknowledged that the next hop did not take.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_send::SmtpClient;
use smtp_proto::{EXT_8BIT_MIME, EXT_PIPELINING, EXT_SMTP_UTF8, Response};
use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;

/// How long an idle pooled connection is reused.
const IDLE_REUSE: Duration = Duration::from_secs(30);

// The result types live with the trait the jobs send through (`certmail-app`).
pub use certmail_app::mail_sender::{Extensions, Fate};

struct Conn {
    client: SmtpClient<TcpStream>,
    pipelining: bool,
    eight_bit: bool,
    smtputf8: bool,
    idle_since: Instant,
}

/// The next hop.
pub struct Relay {
    addr: String,
    hostname: String,
    timeout: Duration,
    data_timeout: Duration,
    max_idle: usize,
    pool: Mutex<Vec<Conn>>,
}

fn describe(r: &Response<String>) -> String {
    let msg = r.message.replace(['\r', '\n'], " ");
    if r.esc[0] > 0 {
        format!("{} {}.{}.{} {}", r.code, r.esc[0], r.esc[1], r.esc[2], msg)
    } else {
        format!("{} {}", r.code, msg)
    }
}

fn fate(r: &Response<String>, what: &str) -> Fate {
    let d = describe(r);
    match r.code {
        200..=299 => Fate::Accepted(d),
        500..=599 => Fate::Permanent(format!("next hop {what}: {d}")),
        _ => Fate::Temporary(format!("next hop {what}: {d}")),
    }
}

/// Writes `parts` (one message, in pieces) as SMTP DATA content: dot-stuffed, ending with
/// CRLF `.` CRLF. The message itself is never altered (a final CRLF is added only when the
/// message does not end with one).
async fn write_data(stream: &mut TcpStream, parts: &[&[u8]]) -> std::io::Result<()> {
    // No bigger than the message: a 64 KiB buffer per message is a large allocation
    // whose release makes glibc consolidate its free lists.
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let mut w = BufWriter::with_capacity((total + 64).min(64 * 1024), stream);
    let mut line_start = true;
    let mut last = b'\n';
    for part in parts.iter().filter(|p| !p.is_empty()) {
        if line_start && part[0] == b'.' {
            w.write_all(b".").await?;
        }
        let mut start = 0;
        for pos in memchr::memmem::find_iter(part, b"\n.") {
            w.write_all(&part[start..=pos]).await?;
            w.write_all(b".").await?;
            start = pos + 1;
        }
        w.write_all(&part[start..]).await?;
        last = part[part.len() - 1];
        line_start = last == b'\n';
    }
    if last != b'\n' {
        w.write_all(b"\r\n").await?;
    }
    w.write_all(b".\r\n").await?;
    w.flush().await
}

impl Relay {
    /// A client for `addr` (`HOST:PORT`).
    pub fn new(addr: &str, hostname: &str, timeout: Duration, data_timeout: Duration) -> Relay {
        Relay {
            addr: addr.to_owned(),
            hostname: hostname.to_owned(),
            timeout,
            data_timeout,
            max_idle: 64,
            pool: Mutex::new(Vec::new()),
        }
    }

    /// The next hop's address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    async fn connect(&self) -> Result<Conn, String> {
        let unreachable =
            |e: &dyn std::fmt::Display| format!("next hop {} unreachable: {e}", self.addr);
        let mut addrs = tokio::time::timeout(self.timeout, tokio::net::lookup_host(&self.addr))
            .await
            .map_err(|_| unreachable(&"name look-up timed out"))?
            .map_err(|e| unreachable(&e))?;
        let sa = addrs.next().ok_or_else(|| unreachable(&"no address"))?;
        let mut client = SmtpClient::connect(sa, self.timeout)
            .await
            .map_err(|e| unreachable(&e))?;
        let greeting = tokio::time::timeout(self.timeout, client.read())
            .await
            .map_err(|_| unreachable(&"no greeting (timeout)"))?
            .map_err(|e| unreachable(&e))?;
        if greeting.code != 220 {
            return Err(format!(
                "next hop {} refused the connection: {}",
                self.addr,
                describe(&greeting)
            ));
        }
        let ehlo = client
            .ehlo(&self.hostname)
            .await
            .map_err(|e| format!("next hop {} EHLO failed: {e}", self.addr))?;
        let _ = client.stream.set_nodelay(true);
        Ok(Conn {
            pipelining: ehlo.has_capability(EXT_PIPELINING),
            eight_bit: ehlo.has_capability(EXT_8BIT_MIME),
            smtputf8: ehlo.has_capability(EXT_SMTP_UTF8),
            client,
            idle_since: Instant::now(),
        })
    }

    fn pooled(&self) -> Option<Conn> {
        let mut pool = crate::lock(&self.pool);
        while let Some(c) = pool.pop() {
            if c.idle_since.elapsed() < IDLE_REUSE {
                return Some(c);
            }
        }
        None
    }

    fn give_back(&self, mut c: Conn) {
        c.idle_since = Instant::now();
        {
            let mut pool = crate::lock(&self.pool);
            if pool.len() < self.max_idle {
                pool.push(c);
            }
        }
    }

    /// Closes pooled connections (at shutdown).
    pub async fn close_idle(&self) {
        let conns: Vec<Conn> = crate::lock(&self.pool).drain(..).collect();
        for c in conns {
            let _ = tokio::time::timeout(Duration::from_secs(2), c.client.quit()).await;
        }
    }

    /// Whether the next hop answers with a greeting now (for `/healthz`).
    pub async fn probe(&self) -> Result<(), String> {
        let c = self.connect().await?;
        let _ = tokio::time::timeout(Duration::from_secs(2), c.client.quit()).await;
        Ok(())
    }

    /// Sends one copy (the message in `parts`, one after the other) to `rcpts`; one fate
    /// per recipient, in order.
    pub async fn send(
        &self,
        sender: &str,
        rcpts: &[String],
        parts: &[&[u8]],
        ext: Extensions,
    ) -> Vec<Fate> {
        // A pooled connection may have been closed by the next hop while idle: a failure
        // before any recipient was accepted is retried once on a fresh connection.
        if let Some(c) = self.pooled() {
            match self.transaction(c, sender, rcpts, parts, ext).await {
                Ok(f) => return f,
                Err(_stale) => {}
            }
        }
        match self.connect().await {
            Ok(c) => match self.transaction(c, sender, rcpts, parts, ext).await {
                Ok(f) | Err(f) => f,
            },
            Err(e) => vec![Fate::Temporary(e); rcpts.len()],
        }
    }

    /// One transaction. `Err` means the connection failed before the next hop took any
    /// responsibility (safe to retry elsewhere).
    async fn transaction(
        &self,
        mut c: Conn,
        sender: &str,
        rcpts: &[String],
        parts: &[&[u8]],
        ext: Extensions,
    ) -> Result<Vec<Fate>, Vec<Fate>> {
        let lost = |e: &dyn std::fmt::Display| format!("connection to next hop lost: {e}");
        let all = |f: Fate| vec![f; rcpts.len()];
        // A non-ASCII address is never handed to a next hop that did not offer SMTPUTF8
        // (RFC 6531 section 3.4): refused, as Postfix's smtp client does.
        if ext.smtputf8
            && !c.smtputf8
            && (!sender.is_ascii() || rcpts.iter().any(|r| !r.is_ascii()))
        {
            self.give_back(c);
            return Ok(all(Fate::Permanent(
                "554 5.6.7 the next hop does not offer SMTPUTF8, which a non-ASCII address needs"
                    .into(),
            )));
        }
        let mut mail = format!("MAIL FROM:<{sender}>");
        if ext.eight_bit && c.eight_bit {
            mail.push_str(" BODY=8BITMIME");
        }
        if ext.smtputf8 && c.smtputf8 {
            mail.push_str(" SMTPUTF8");
        }
        mail.push_str("\r\n");
        let mut cmds = vec![mail];
        cmds.extend(rcpts.iter().map(|r| format!("RCPT TO:<{r}>\r\n")));
        // With PIPELINING, DATA goes in the same group (RFC 2920 section 3.1: it may end
        // one): one round trip to the next hop fewer per copy. Its reply decides whether the
        // content is sent, as when it is sent alone.
        if c.pipelining {
            cmds.push("DATA\r\n".to_owned());
        }
        let replies = if c.pipelining {
            // The whole group in one write (one segment, one wake-up of the next hop).
            let group = cmds.concat();
            let client = &mut c.client;
            let r = tokio::time::timeout(self.timeout, async {
                client
                    .stream
                    .write_all(group.as_bytes())
                    .await
                    .map_err(|e| e.to_string())?;
                client
                    .read_many(cmds.len())
                    .await
                    .map_err(|e| e.to_string())
            })
            .await
            .unwrap_or_else(|_| Err("no reply in time".into()));
            r.map_err(|e| all(Fate::Temporary(lost(&e))))?
        } else {
            let mut out = Vec::with_capacity(cmds.len());
            for cmd in &cmds {
                let r = c
                    .client
                    .cmd(cmd)
                    .await
                    .map_err(|e| all(Fate::Temporary(lost(&e))))?;
                let stop = out.is_empty() && r.code >= 400;
                out.push(r);
                if stop {
                    break;
                }
            }
            out
        };
        // The reply to a pipelined DATA. A 354 there when the copy is not to be sent
        // (sender or every recipient refused) would make a message of whatever came next:
        // the connection is dropped instead, and the next hop discards the transaction.
        let pipelined_data = c.pipelining.then(|| replies.get(rcpts.len() + 1).cloned());
        let data_open = matches!(&pipelined_data, Some(Some(r)) if r.code == 354);
        let mail_fate = fate(&replies[0], "refused the sender");
        if !matches!(mail_fate, Fate::Accepted(_)) {
            return Ok(all(mail_fate));
        }
        let mut fates: Vec<Fate> = rcpts
            .iter()
            .enumerate()
            .map(|(i, _)| match replies.get(i + 1) {
                Some(r) => fate(r, "refused the recipient"),
                None => Fate::Temporary("next hop gave no reply to RCPT".into()),
            })
            .collect();
        if !fates.iter().any(|f| matches!(f, Fate::Accepted(_))) {
            if !data_open {
                let _ = c.client.rset().await;
                self.give_back(c);
            }
            return Ok(fates);
        }
        // From here on a lost connection is a temporary failure of this copy, never a
        // silent success.
        let data_reply = match pipelined_data {
            Some(Some(r)) => r,
            Some(None) => {
                return Ok(accepted_to(
                    &mut fates,
                    Fate::Temporary("next hop gave no reply to DATA".into()),
                ));
            }
            None => match c.client.cmd(b"DATA\r\n").await {
                Ok(r) => r,
                Err(e) => return Ok(accepted_to(&mut fates, Fate::Temporary(lost(&e)))),
            },
        };
        if data_reply.code != 354 {
            let f = fate(&data_reply, "refused DATA");
            let f = if matches!(f, Fate::Accepted(_)) {
                Fate::Temporary(format!(
                    "next hop answered DATA with {}",
                    describe(&data_reply)
                ))
            } else {
                f
            };
            return Ok(accepted_to(&mut fates, f));
        }
        let sent = tokio::time::timeout(self.data_timeout, async {
            write_data(&mut c.client.stream, parts)
                .await
                .map_err(|e| lost(&e))?;
            c.client.read().await.map_err(|e| lost(&e))
        })
        .await
        .unwrap_or_else(|_| Err("next hop did not answer the end of data in time".into()));
        match sent {
            Ok(r) => {
                let f = fate(&r, "refused the message");
                let ok = matches!(f, Fate::Accepted(_));
                accepted_to(&mut fates, f);
                if ok {
                    self.give_back(c);
                }
                Ok(fates)
            }
            Err(e) => Ok(accepted_to(&mut fates, Fate::Temporary(e))),
        }
    }
}

/// Replaces every `Accepted` fate (recipients the next hop took at RCPT) with `f`.
fn accepted_to(fates: &mut [Fate], f: Fate) -> Vec<Fate> {
    for x in fates.iter_mut() {
        if matches!(x, Fate::Accepted(_)) {
            *x = f.clone();
        }
    }
    fates.to_vec()
}

impl certmail_app::mail_sender::MailSender for Relay {
    fn send<'a>(
        &'a self,
        sender: &'a str,
        rcpts: &'a [String],
        parts: &'a [&'a [u8]],
        ext: Extensions,
    ) -> certmail_app::mail_sender::SendFuture<'a> {
        Box::pin(Relay::send(self, sender, rcpts, parts, ext))
    }
}
