//! Receiving the message after `354`: size and memory limits, timeouts, dot-unstuffing.

use super::*;

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Receives the message after `354`. Returns the bytes that followed the end of data
    /// (pipelined commands), or `None` when the connection ended.
    pub(super) async fn data(
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
        let line = if too_big || header_too_big {
            self.too_big_reply(header_too_big)
        } else if over_budget {
            self.over_budget_reply(&tx)
        } else {
            self.deliver(tx, msg).await
        };
        drop(held);
        self.reply(&line);
        Ok(Some(leftover))
    }

    /// The `552` for a message (or its header section) over its size limit.
    fn too_big_reply(&self, header: bool) -> String {
        let cfg = &self.shared.cfg;
        self.shared
            .metrics
            .refused_total
            .fetch_add(1, Ordering::Relaxed);
        if header {
            format!(
                "552 5.3.4 Header section exceeds the limit of {} bytes",
                cfg.max_header_size
            )
        } else {
            format!(
                "552 5.3.4 Message size exceeds the limit of {} bytes",
                cfg.max_message_size
            )
        }
    }

    /// The `452` (logged) when the memory budget could not hold the message: nothing was
    /// acknowledged, the MTA keeps the message and tries again.
    fn over_budget_reply(&self, tx: &Transaction) -> String {
        let budget = &self.shared.budget;
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
    }
}
