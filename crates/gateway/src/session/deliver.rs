//! The reply to the end of data, in four phases: the message is processed (signed,
//! encrypted, decrypted, verified, held), its copies relayed, the sender notified of what
//! was refused or held after acceptance, and the outcome counted and logged. The reply is
//! `250` only once the next hop took every copy and every notice.

use certmail_app::mailflow::Plan as GatewayPlan;

use super::*;

/// How a message ended, for its log line.
#[derive(Clone, Copy)]
struct Done<'a> {
    id: &'a str,
    size: usize,
    code: u16,
    line: &'a str,
    notice: &'a str,
    started: Instant,
}

/// What the next hop said to the copies.
struct Relayed {
    /// Recipients the next hop took.
    delivered: usize,
    /// Temporary refusals (`<rcpt>: why`): the MTA retries the whole message.
    temporary: Vec<String>,
    /// Permanent refusals, those of the processing first.
    permanent: Vec<(String, String)>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Processes and relays the message; the reply to the end of data.
    pub(super) async fn deliver(&mut self, tx: Transaction, msg: Vec<u8>) -> String {
        let started = Instant::now();
        let size = msg.len();
        // The header section, for a notification to the sender (the body is not needed).
        let original_headers = msg[..(header_len(&msg) + 4).min(size)].to_vec();
        let shared = self.shared.clone();
        let id = shared.ids.next();
        let now = certmail_app::now();
        let env = Envelope {
            id: &id,
            sender: &tx.sender,
            recipients: &tx.rcpts,
            now,
        };
        let processed = shared
            .app
            .gateway_process(
                &env,
                Some((&tx.snapshot, &tx.sender_settings, &tx.rcpt_settings)),
                std::sync::Arc::new(msg),
            )
            .await;
        let plan = match processed {
            Ok(p) => p,
            Err(e) => return processing_failed(&shared, &tx, &id, size, started, &e),
        };
        let relayed = relay(&shared, &tx, &plan).await;
        let mut notice = String::new();
        let (code, line) = if !relayed.temporary.is_empty() {
            shared.metrics.error("next-hop");
            (
                451,
                format!(
                    "451 4.4.1 {id} Not delivered, try again later: {}",
                    clip(&relayed.temporary.join("; "))
                ),
            )
        } else if relayed.delivered == 0 && plan.held.is_empty() {
            let why: Vec<String> = relayed.permanent.iter().map(|(_, w)| w.clone()).collect();
            (554, format!("554 5.7.1 {id} {}", clip(&why.join("; "))))
        } else {
            let n = Notify {
                shared: &shared,
                tx: &tx,
                id: &id,
                original_headers: &original_headers,
                now,
            };
            n.sender(&plan, &relayed.permanent, &mut notice).await
        };
        if code == 250 {
            request_notices(&shared, &plan, now, &mut notice).await;
        }
        count(&shared, code, &plan, relayed.permanent.len(), started);
        let done = Done {
            id: &id,
            size,
            code,
            line: &line,
            notice: &notice,
            started,
        };
        self.record(&shared, &tx, &plan, &done);
        line
    }

    /// The per-message log line (text or JSON).
    fn record(&self, shared: &Shared, tx: &Transaction, plan: &GatewayPlan, done: &Done<'_>) {
        let Done {
            id,
            size,
            code,
            line,
            notice,
            started,
        } = *done;
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
            shared,
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
    }
}

/// Processing failed (the database, a key): counted, logged, and `451` so the MTA retries.
fn processing_failed(
    shared: &Shared,
    tx: &Transaction,
    id: &str,
    size: usize,
    started: Instant,
    e: &AppError,
) -> String {
    let m = &shared.metrics;
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
        shared,
        &text,
        serde_json::json!({
            "event": "message", "id": id, "queue_id": tx.fwd.ident,
            "client": tx.fwd.client(), "from": tx.sender, "size": size,
            "ms": (ms * 100.0).round() / 100.0, "reply": 451, "outcome": "deferred",
            "reason": format!("processing failed: {why}"),
        }),
    );
    format!("451 4.3.0 {id} Temporary failure while processing, try again later: {why}")
}

/// Hands each copy to the next hop; stops at the first temporary refusal (the MTA retries
/// the whole message, so further copies would go twice).
async fn relay(shared: &Shared, tx: &Transaction, plan: &GatewayPlan) -> Relayed {
    let mut out = Relayed {
        delivered: 0,
        temporary: Vec::new(),
        permanent: plan.rejected.clone(),
    };
    for copy in &plan.copies {
        let (head, body) = copy.parts();
        let fates = shared
            .relay
            .send(&tx.sender, &copy.recipients, &[head, body], tx.ext)
            .await;
        for (r, f) in copy.recipients.iter().zip(fates) {
            match f {
                Fate::Accepted(_) => out.delivered += 1,
                Fate::Temporary(why) => out.temporary.push(format!("<{r}>: {why}")),
                Fate::Permanent(why) => out.permanent.push((r.clone(), why)),
            }
        }
        if !out.temporary.is_empty() {
            break;
        }
    }
    out
}

/// What a notice to the sender needs.
struct Notify<'a> {
    shared: &'a Shared,
    tx: &'a Transaction,
    id: &'a str,
    original_headers: &'a [u8],
    now: i64,
}

impl Notify<'_> {
    /// Recipients refused after the message was accepted, and held ones, are reported to
    /// the sender by notifications, which must themselves be accepted before the reply is
    /// `250` (a retry holds nothing twice). The reply, and what was sent in `notice`.
    async fn sender(
        &self,
        plan: &GatewayPlan,
        permanent: &[(String, String)],
        notice: &mut String,
    ) -> (u16, String) {
        let (shared, tx, id) = (self.shared, self.tx, self.id);
        let mut notices: Vec<(&str, Vec<u8>)> = Vec::new();
        if !tx.sender.is_empty() && !permanent.is_empty() {
            notices.push((
                "notice",
                failure_notice(
                    &shared.hostname,
                    id,
                    &tx.sender,
                    permanent,
                    self.original_headers,
                    self.now,
                ),
            ));
        }
        if !tx.sender.is_empty() && !plan.held.is_empty() {
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
                    self.original_headers,
                    false,
                    self.now,
                ),
            ));
        }
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
                    shared.metrics.error("next-hop");
                    let why = match other {
                        Some(Fate::Temporary(w)) => w.clone(),
                        _ => "no reply".into(),
                    };
                    return (
                        451,
                        format!(
                            "451 4.4.1 {id} Notification to the sender not accepted, try again later: {}",
                            clip(&why)
                        ),
                    );
                }
            }
        }
        (250, format!("250 2.0.0 Ok: queued as {id}"))
    }
}

/// Senders whose certificate was requested are told, best effort (the request is not
/// repeated, so neither is the notice).
async fn request_notices(shared: &Shared, plan: &GatewayPlan, now: i64, notice: &mut String) {
    for (who, rid) in &plan.requested {
        let mail = certmail_app::auto_request::request_notice(&shared.hostname, who, *rid, now);
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

/// The message's counters: accepted, deferred or refused, and per recipient outcome.
fn count(shared: &Shared, code: u16, plan: &GatewayPlan, permanent: usize, started: Instant) {
    let m = &shared.metrics;
    match code {
        250 => {
            m.accepted_total.fetch_add(1, Ordering::Relaxed);
            for o in &plan.outcomes {
                m.message(o.direction.as_str(), o.action);
            }
            for _ in plan.rejected.len()..permanent {
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
}
