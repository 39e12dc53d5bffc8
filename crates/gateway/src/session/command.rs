//! The commands of a session (EHLO, MAIL, RCPT, RSET, ...) and the per-recipient decision
//! at `RCPT TO`.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    pub(super) async fn command(&mut self, req: Request<String>) -> Next {
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
}
