//! Incoming processing: decryption (strict or not), verification, report headers, subject
//! tags and signature removal, and S/MIME failures under `on-error`.

use std::borrow::Cow;
use std::sync::Arc;

use certmail_smime::message::{self, HeaderEdit, Kind, UnwrapOptions};
use certmail_smime::{KeyPair, SmimeError, mime};
use certmail_store::StoreKind;

use super::*;
use crate::{App, AppError, Result};

/// An incoming copy before stamping.
struct IncomingCopy {
    data: Arc<Vec<u8>>,
    headers: Vec<(String, String)>,
    action: &'static str,
    detail: String,
    decrypted: bool,
    /// `Some(true)` when every signature is valid and trusted, `Some(false)` when one is
    /// not, `None` without signatures.
    signature: Option<bool>,
}

impl App {
    /// Key pairs a strict-decryption recipient may be decrypted with: the keys of its
    /// valid encryption certificates (its own, its domains' selections, additional).
    async fn strict_keys(&self, snap: &FlowSnapshot, email: &str) -> Result<Vec<KeyPair>> {
        let r = self.flow_recipient(snap, email).await?;
        let mut out = Vec::new();
        for u in &r.encryption {
            let v = self.get(StoreKind::Certificates, &u.sha256).await?;
            if v.has_key {
                let key = self.private_key(&v.cert).await?;
                out.push(KeyPair::new(v.cert, &key)?);
            }
        }
        Ok(out)
    }

    pub(super) async fn incoming(
        &self,
        env: &Envelope<'_>,
        snap: &FlowSnapshot,
        msg: &Arc<Vec<u8>>,
        rcpts: Vec<(String, FlowSettings)>,
        edit: &HeaderEdit,
        plan: &mut Plan,
    ) -> Result<()> {
        // Internal recipients without a certificate of their own get one requested (once).
        for (_, s) in &rcpts {
            if let Some(email) = s.email.as_deref().filter(|_| s.auto_request_incoming)
                && self.flow_recipient(snap, email).await?.signing.is_none()
                && let crate::auto_request::AutoRequest::Pending { id, new: true } =
                    self.auto_request_certificate(email).await?
            {
                plan.requested.push((email.to_owned(), id));
            }
        }
        // Recipients without strict decryption share one copy per presentation (subject
        // tags, signature removal) and verdict (min-rsa-bits); strict ones each their own (their keys differ). Within
        // a group the on-error choice may differ: split it.
        let mut groups: Vec<(Vec<(String, FlowSettings)>, bool)> = Vec::new();
        let (strict, shared): (Vec<_>, Vec<_>) =
            rcpts.into_iter().partition(|(_, s)| s.strict_decryption);
        for r in shared {
            let key =
                |s: &FlowSettings| (s.subject_tags.clone(), s.remove_signature, s.min_rsa_bits);
            match groups.iter_mut().find(|(g, _)| key(&g[0].1) == key(&r.1)) {
                Some((g, _)) => g.push(r),
                None => groups.push((vec![r], false)),
            }
        }
        for r in strict {
            groups.push((vec![r], true));
        }
        for (group, strict) in groups {
            let keys = if strict {
                let email = group[0].1.email.clone().unwrap_or_default();
                Some(self.strict_keys(snap, &email).await?)
            } else {
                None
            };
            let names: Vec<String> = group.iter().map(|(r, _)| r.clone()).collect();
            let s = &group[0].1;
            let judging = crate::smime::Judging {
                collect: s.collect,
                min_rsa_bits: Some(s.min_rsa_bits),
            };
            match self.incoming_copy(env, msg, keys, judging).await? {
                Ok(mut ic) => {
                    let mut edit = edit.clone();
                    if s.remove_signature && ic.signature == Some(true) {
                        match message::strip_signature(&ic.data) {
                            Ok(Some(v)) => {
                                ic.data = Arc::new(v);
                                ic.detail.push_str(", signature removed");
                            }
                            Ok(None) => {}
                            Err(e) => {
                                self.incoming_error(env, msg, group, e, plan);
                                continue;
                            }
                        }
                    }
                    if let Some(tags) = &s.subject_tags {
                        let subject = edit
                            .subject
                            .clone()
                            .unwrap_or_else(|| crate::hold::subject_of(&ic.data));
                        let mut add: Vec<&str> = Vec::new();
                        if ic.decrypted {
                            add.push(&tags[0]);
                        }
                        match ic.signature {
                            Some(true) => add.push(&tags[1]),
                            Some(false) => add.push(&tags[2]),
                            None => {}
                        }
                        let tagged = tag_subject(&subject, &add);
                        if tagged != subject {
                            edit.subject = Some(tagged);
                        }
                    }
                    match Copy::stamped(names.clone(), ic.data, &ic.headers, &edit) {
                        Ok(c) => {
                            for r in &names {
                                plan.outcomes.push(RcptOutcome {
                                    recipient: r.clone(),
                                    direction: Direction::Incoming,
                                    action: ic.action,
                                    detail: ic.detail.clone(),
                                });
                            }
                            plan.copies.push(c);
                        }
                        Err(e) => self.incoming_error(env, msg, group, e, plan),
                    }
                }
                Err(e) => self.incoming_error(env, msg, group, e, plan),
            }
        }
        Ok(())
    }

    /// An S/MIME failure on incoming mail, by each recipient's `on-error`.
    fn incoming_error(
        &self,
        env: &Envelope<'_>,
        msg: &Arc<Vec<u8>>,
        group: Vec<(String, FlowSettings)>,
        e: SmimeError,
        plan: &mut Plan,
    ) {
        let (reject, deliver): (Vec<_>, Vec<_>) =
            group.into_iter().partition(|(_, s)| s.reject_on_error);
        for (r, _) in reject {
            self.reject(
                plan,
                &r,
                Direction::Incoming,
                format!("{r}: the message's S/MIME cannot be processed: {e}"),
            );
        }
        if deliver.is_empty() {
            return;
        }
        let names: Vec<String> = deliver.into_iter().map(|(r, _)| r).collect();
        let h = vec![
            id_header(env.id),
            ("X-Certmail-Error".to_owned(), e.to_string()),
        ];
        let copy = Copy::stamped(names.clone(), msg.clone(), &h, &HeaderEdit::default())
            .unwrap_or_else(|_| Copy {
                recipients: names.clone(),
                head: None,
                data: Arc::new(message::with_error_header(msg, &e)),
                body_start: 0,
            });
        for r in &names {
            plan.outcomes.push(RcptOutcome {
                recipient: r.clone(),
                direction: Direction::Incoming,
                action: "error-delivered",
                detail: format!("delivered with X-Certmail-Error: {e}"),
            });
        }
        plan.copies.push(copy);
    }

    /// One incoming copy: `Ok(Ok(..))` processed (the message, the headers to put on it,
    /// the action and the detail), `Ok(Err(..))` an S/MIME failure for the `on-error`
    /// policy, `Err` a temporary failure.
    async fn incoming_copy(
        &self,
        env: &Envelope<'_>,
        msg: &Arc<Vec<u8>>,
        strict_keys: Option<Vec<KeyPair>>,
        judging: crate::smime::Judging,
    ) -> Result<std::result::Result<IncomingCopy, SmimeError>> {
        let top = match mime::parse(msg) {
            Ok(e) => e,
            Err(e) => return Ok(Err(e)),
        };
        if message::kind(&top) == Kind::Plain {
            return Ok(Ok(IncomingCopy {
                data: msg.clone(),
                headers: vec![id_header(env.id)],
                action: "checked",
                detail: "no S/MIME".into(),
                decrypted: false,
                signature: None,
            }));
        }
        let strict = strict_keys.is_some();
        let opts = UnwrapOptions::default();
        let unwrapped = match strict_keys {
            Some(keys) => {
                self.smime_unwrap_collect(msg, keys, false, &opts, env.now, judging)
                    .await
            }
            None => {
                self.smime_unwrap_collect(msg, Vec::new(), true, &opts, env.now, judging)
                    .await
            }
        };
        let u = match unwrapped {
            Ok(u) => u,
            Err(AppError::Smime(SmimeError::NoKey { .. })) if strict => {
                let h = vec![
                    id_header(env.id),
                    (
                        "X-Certmail-Info".to_owned(),
                        "not decrypted: strict-decryption is on and no valid key of the recipient fits".to_owned(),
                    ),
                ];
                return Ok(Ok(IncomingCopy {
                    data: msg.clone(),
                    headers: h,
                    action: "kept-encrypted",
                    detail: "kept encrypted (strict decryption, no valid key)".into(),
                    decrypted: false,
                    signature: None,
                }));
            }
            Err(AppError::Smime(e)) => return Ok(Err(e)),
            Err(e) => return Err(e),
        };
        let decrypted = u
            .layers
            .iter()
            .any(|l| matches!(l, message::Layer::Encrypted(_)));
        let signers: Vec<_> = u.signers().collect();
        let signature = (!signers.is_empty()).then(|| u.all_signatures_ok());
        let verified = if signers.is_empty() {
            None
        } else if u.all_signatures_ok() {
            Some("signature valid and trusted".to_owned())
        } else {
            let why: Vec<String> = signers
                .iter()
                .filter(|s| !s.ok())
                .map(|s| match (&s.failure, &s.trust) {
                    (Some(f), _) => format!("invalid: {f}"),
                    (None, Some(t)) if !t.trusted => format!("untrusted: {}", t.status),
                    _ => "signer address does not match From".to_owned(),
                })
                .collect();
            Some(format!("signature {}", why.join("; ")))
        };
        let action = match (decrypted, verified.is_some()) {
            (true, true) => "decrypted-verified",
            (true, false) => "decrypted",
            (false, true) => "verified",
            (false, false) => "checked",
        };
        let detail = match (decrypted, &verified) {
            (true, Some(v)) => format!("decrypted, {v}"),
            (true, None) => "decrypted".into(),
            (false, Some(v)) => v.clone(),
            (false, None) => "no S/MIME".into(),
        };
        let mut headers = vec![id_header(env.id)];
        headers.extend(message::report_headers(&u.layers));
        let data = match u.message {
            Cow::Borrowed(_) => msg.clone(),
            Cow::Owned(v) => Arc::new(v),
        };
        Ok(Ok(IncomingCopy {
            data,
            headers,
            action,
            detail,
            decrypted,
            signature,
        }))
    }
}
