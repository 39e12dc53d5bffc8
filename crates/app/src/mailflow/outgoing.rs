//! Outgoing processing: one signature per message (by `sign-mode`, never a calendar
//! invitation unless `sign-calendar`), then the encrypted copies (listed recipients together,
//! each Bcc recipient alone) and the unencrypted one.

use std::sync::Arc;

use certmail_pki::Certificate;
use certmail_smime::message::{self, HeaderEdit};
use certmail_smime::{EncryptOptions, SignOptions, mime};

use super::*;
use crate::{App, Result};

impl App {
    #[allow(clippy::too_many_arguments)]
    pub(super) async fn outgoing(
        &self,
        env: &Envelope<'_>,
        snap: &FlowSnapshot,
        sender: &FlowSettings,
        msg: Arc<Vec<u8>>,
        rcpts: Vec<OutgoingRcpt>,
        edit: &HeaderEdit,
        plan: &mut Plan,
    ) -> Result<()> {
        if let Err(e) = mime::parse(&msg) {
            for r in rcpts {
                self.reject(
                    plan,
                    &r.rcpt,
                    Direction::Outgoing,
                    format!("the message cannot be processed: {e}"),
                );
            }
            return Ok(());
        }
        let (enc, plain): (Vec<_>, Vec<_>) =
            rcpts.into_iter().partition(|r| !r.encrypt_to.is_empty());
        // Sign once for every copy that is signed (signature inside, encryption outside):
        // by sign-mode, never a calendar invitation unless sign-calendar is on.
        let calendar = sender.sign_mode != SignMode::Off
            && !sender.sign_calendar
            && message::has_calendar(&msg);
        let sign_plain = sender.sign_mode == SignMode::On && !calendar;
        let sign_enc = sender.sign_mode != SignMode::Off && !calendar;
        let mut sign_note = String::new();
        if calendar {
            sign_note = ", unsigned: a calendar invitation (sign-calendar off)".into();
        }
        let mut signed_by = None;
        let mut signed = None;
        if (sign_plain && !plain.is_empty()) || (sign_enc && !enc.is_empty()) {
            match self.sender_signature(snap, sender, &msg, plan).await? {
                Ok((sha, out)) => {
                    signed_by = Some(sha);
                    signed = Some(Arc::new(out));
                }
                Err(why) => sign_note = format!(", unsigned: {why}"),
            }
        }
        let plain_base = match (&signed, sign_plain) {
            (Some(s), true) => s.clone(),
            _ => msg.clone(),
        };
        let enc_base = match (&signed, sign_enc) {
            (Some(s), true) => s.clone(),
            _ => msg.clone(),
        };
        // Our hold on the original ends here (copies for other directions may keep it).
        drop(msg);
        drop(signed);
        let label = |is_signed: bool| match (&signed_by, is_signed) {
            (Some(s), true) => format!(", signed by {}", &s[..16.min(s.len())]),
            _ => String::new(),
        };
        let stamp = vec![id_header(env.id)];

        if !plain.is_empty() {
            let is_signed = signed_by.is_some() && sign_plain;
            let action = if is_signed { "signed" } else { "plain" };
            let signed_label = label(is_signed);
            let note = if sender.sign_mode == SignMode::WhenEncrypted && sign_note.is_empty() {
                ", unsigned: sign-mode when-encrypted"
            } else {
                sign_note.as_str()
            };
            let names: Vec<String> = plain.into_iter().map(|r| r.rcpt).collect();
            match Copy::stamped(names.clone(), plain_base, &stamp, edit) {
                Ok(c) => {
                    for r in &names {
                        plan.outcomes.push(RcptOutcome {
                            recipient: r.clone(),
                            direction: Direction::Outgoing,
                            action,
                            detail: format!("not encrypted{signed_label}{note}"),
                        });
                    }
                    plan.copies.push(c);
                }
                Err(e) => {
                    for r in names {
                        self.reject(
                            plan,
                            &r,
                            Direction::Outgoing,
                            format!("the message cannot be processed: {e}"),
                        );
                    }
                }
            }
        }
        // Listed recipients share one copy; each Bcc recipient gets its own.
        let (bcc, listed): (Vec<_>, Vec<_>) = enc.into_iter().partition(|r| r.bcc);
        let mut groups: Vec<Vec<OutgoingRcpt>> = bcc.into_iter().map(|r| vec![r]).collect();
        if !listed.is_empty() {
            groups.insert(0, listed);
        }
        for group in groups {
            let mut shas: Vec<String> = Vec::new();
            for r in &group {
                for s in &r.encrypt_to {
                    if !shas.contains(s) {
                        shas.push(s.clone());
                    }
                }
            }
            let mut certs: Vec<Arc<Certificate>> = Vec::with_capacity(shas.len());
            for s in &shas {
                certs.push(self.flow_certificate(snap, s).await?);
            }
            let mut out = Vec::with_capacity(enc_base.len() / 3 * 4 + enc_base.len() / 38 + 8192);
            let done = self
                .cpu_sized(enc_base.len(), || {
                    message::encrypt_message(
                        &enc_base,
                        &certs,
                        &EncryptOptions::default(),
                        &mut out,
                    )
                })
                .await;
            let encrypted = done.and_then(|()| {
                Copy::stamped(
                    group.iter().map(|r| r.rcpt.clone()).collect(),
                    Arc::new(out),
                    &stamp,
                    edit,
                )
            });
            let signed_label = label(sign_enc);
            match encrypted {
                Ok(c) => {
                    let action = if signed_by.is_some() && sign_enc {
                        "signed-encrypted"
                    } else {
                        "encrypted"
                    };
                    for r in &group {
                        plan.outcomes.push(RcptOutcome {
                            recipient: r.rcpt.clone(),
                            direction: Direction::Outgoing,
                            action,
                            detail: format!(
                                "encrypted to {} certificate{}{signed_label}{sign_note}",
                                certs.len(),
                                if certs.len() == 1 { "" } else { "s" }
                            ),
                        });
                    }
                    plan.copies.push(c);
                }
                Err(e) => {
                    for r in group {
                        self.reject(
                            plan,
                            &r.rcpt,
                            Direction::Outgoing,
                            format!("{}: the message cannot be encrypted: {e}", r.rcpt),
                        );
                    }
                }
            }
        }
        Ok(())
    }

    /// The signed message and the signer's thumbprint, or why it cannot be signed (no
    /// usable signing certificate, or a message the engine cannot sign).
    async fn sender_signature(
        &self,
        snap: &FlowSnapshot,
        sender: &FlowSettings,
        clean: &[u8],
        plan: &mut Plan,
    ) -> Result<std::result::Result<(String, Vec<u8>), String>> {
        use crate::auto_request::AutoRequest;
        let now = snap.now;
        let Some(email) = &sender.email else {
            return Ok(Err("no sender address".into()));
        };
        let mut r = self.flow_recipient(snap, email).await?;
        if r.signing.is_none() && sender.auto_request {
            match self.auto_request_certificate(email).await? {
                AutoRequest::Issued(_) => r = Arc::new(self.recipient_lookup(email, now).await?),
                AutoRequest::Pending { id, new } => {
                    if new {
                        plan.requested.push((email.clone(), id));
                    }
                    return Ok(Err(format!(
                        "no valid signing certificate for {email} yet (requested: pending request {id})"
                    )));
                }
                AutoRequest::Busy => {
                    return Ok(Err(format!(
                        "no valid signing certificate for {email} yet (being requested)"
                    )));
                }
                AutoRequest::Failed(why) => {
                    return Ok(Err(format!(
                        "no valid signing certificate for {email}; requesting one failed: {why}"
                    )));
                }
            }
        }
        let Some(signing) = r.signing.clone() else {
            return Ok(Err(format!("no valid signing certificate for {email}")));
        };
        let signer = self.cached_signer(snap, &signing.sha256).await?;
        let (kp, chain) = (&signer.0, &signer.1);
        let opts = SignOptions {
            signing_time: now,
            ..SignOptions::default()
        };
        let mut out = Vec::with_capacity(clean.len() + 8192);
        let signed = self
            .cpu_sized(clean.len(), || {
                message::sign_message(clean, kp, chain, &opts, true, &mut out)
            })
            .await;
        Ok(match signed {
            Ok(()) => Ok((signing.sha256, out)),
            Err(e) => Err(format!("the message cannot be signed: {e}")),
        })
    }
}
