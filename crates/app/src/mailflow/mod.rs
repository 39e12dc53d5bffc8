//! The gateway's use case: what happens to one message in the mail flow.
//!
//! Each envelope recipient is classified by locality (DESIGN.md, gateway rules):
//! an internal recipient gets incoming processing (decrypt, verify, report headers), an
//! external recipient of an internal sender gets outgoing processing (sign by the sender's
//! `sign`, encrypt by the recipient's `encrypt-mode` and certificates), and everything else
//! is relayed untouched. The recipients are then split into as few copies as the outcomes
//! need; a Bcc recipient never shares an encrypted copy. Nothing here knows SMTP: the
//! gateway maps [`Plan`] to replies and next-hop transactions.

use std::sync::Arc;

use certmail_smime::message::{self, HeaderEdit};
use certmail_smime::{SmimeError, mime};

use crate::hold::HeldItem;
use crate::policy::{Resolved, chain_for_user, header_trigger, normalise_email};
use crate::{App, Result, settings};

mod cache;
mod incoming;
mod notice;
mod outgoing;
mod triggers;

pub use cache::{FlowCache, FlowSnapshot, SignerCache};
use notice::id_header;
pub use notice::{failure_notice, header_addresses, header_section, mail_stamp};
use triggers::triggers;
pub use triggers::{remove_trigger, tag_subject};

/// Which way a recipient's copy goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// External recipient of an internal sender: sign and/or encrypt.
    Outgoing,
    /// Internal recipient: decrypt, verify, report.
    Incoming,
    /// No internal party: passed on untouched.
    Relay,
}

impl Direction {
    /// Lower-case name (logs, metrics).
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Outgoing => "outgoing",
            Direction::Incoming => "incoming",
            Direction::Relay => "relay",
        }
    }
}

/// The settings of one party that the mail flow needs, resolved through inheritance.
#[derive(Debug, Clone)]
pub struct FlowSettings {
    /// The address (lower case), if it is one.
    pub email: Option<String>,
    /// `locality` is internal.
    pub internal: bool,
    /// `smime` is on.
    pub smime: bool,
    /// `sign-mode` (or the older `sign`, whichever is set nearer).
    pub sign_mode: SignMode,
    /// `sign-calendar` is on.
    pub sign_calendar: bool,
    /// `encrypt-mode`.
    pub encrypt_mode: EncryptMode,
    /// `strict-decryption` is on.
    pub strict_decryption: bool,
    /// `on-error` is reject.
    pub reject_on_error: bool,
    /// `encrypt-trigger-subject` (empty: off).
    pub trigger_subject: String,
    /// `encrypt-trigger-header` as (name, value).
    pub trigger_header: Option<(String, String)>,
    /// `on-missing-certificate` is hold.
    pub hold_missing: bool,
    /// `hold-expire-days`.
    pub hold_days: i64,
    /// With `subject-tags` on: the tags for decrypted, validly signed and badly signed mail.
    pub subject_tags: Option<[String; 3]>,
    /// `remove-signature` is on.
    pub remove_signature: bool,
    /// `auto-request-certificate` is on.
    pub auto_request: bool,
    /// `auto-request-incoming` is on.
    pub auto_request_incoming: bool,
    /// The address is the sender of a CA's certificate mail (`ca-email`): its mail is never
    /// encrypted (the recipient could not open mail encrypted to the key it carries).
    pub ca_sender: bool,
    /// The global `collect-certificates`.
    pub collect: crate::smime::Collect,
    /// `min-rsa-bits`.
    pub min_rsa_bits: u32,
}

/// `encrypt-mode`: whether mail to a recipient is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EncryptMode {
    /// Never (`no-encryption`).
    NoEncryption,
    /// When a usable certificate is there (`allow`, the default).
    Allow,
    /// Always: refused or held rather than sent in clear (`force`).
    Force,
}

impl EncryptMode {
    /// From the setting's value. The setting's check admits only these three; anything
    /// else (a corrupt row) reads as `force`, the mode that never sends in clear.
    pub fn parse(v: &str) -> EncryptMode {
        match v {
            "no-encryption" => EncryptMode::NoEncryption,
            "allow" => EncryptMode::Allow,
            _ => EncryptMode::Force,
        }
    }
}

/// When outgoing mail of a sender is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignMode {
    /// Never.
    Off,
    /// Always.
    On,
    /// Only the copies that are encrypted.
    WhenEncrypted,
}

/// How a held message is processed again ([`App::hold_release_plan`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Encrypted, or refused (never held again, never in clear).
    Encrypt,
    /// Encrypted when a certificate is usable now, otherwise in clear (the administrator
    /// said so).
    AllowClear,
}

/// The resolved value of the setting `def` (every setting is resolved, to its default at
/// least; `def` is one of the constants of [`crate::settings`], so a key that does not
/// exist does not compile).
fn value<'a>(resolved: &'a [Resolved], def: &settings::SettingDef) -> &'a str {
    resolved
        .iter()
        .find(|r| r.key == def.key)
        .map_or("", |r| r.value.as_str())
}

/// What the gateway says to one `RCPT TO`.
#[derive(Debug, Clone)]
pub struct RcptDecision {
    /// The recipient's direction.
    pub direction: Direction,
    /// Set when the recipient must be refused now (the reason, naming the address).
    pub refusal: Option<String>,
    /// The recipient's settings (handed back to [`App::gateway_process`]).
    pub settings: FlowSettings,
}

/// One copy of the message for a set of recipients: `head` (the rewritten header section)
/// followed by `data[body_start..]`, or `data` as it is when `head` is `None`. Copies
/// share message buffers instead of copying them.
#[derive(Debug, Clone)]
pub struct Copy {
    /// Envelope recipients, as given.
    pub recipients: Vec<String>,
    /// The header section to send instead of `data`'s own.
    pub head: Option<Vec<u8>>,
    /// The message (or the processed message).
    pub data: Arc<Vec<u8>>,
    /// Where `data`'s body starts (used with `head`).
    pub body_start: usize,
}

impl Copy {
    /// The two pieces to send, one after the other.
    pub fn parts(&self) -> (&[u8], &[u8]) {
        match &self.head {
            Some(h) => (h, &self.data[self.body_start..]),
            None => (&[], &self.data),
        }
    }

    /// The whole copy as one buffer (tests, small messages).
    pub fn to_vec(&self) -> Vec<u8> {
        let (a, b) = self.parts();
        [a, b].concat()
    }

    /// `data` with `headers` first, `edit` applied, and no `X-Certmail-*` field from
    /// outside.
    fn stamped(
        recipients: Vec<String>,
        data: Arc<Vec<u8>>,
        headers: &[(String, String)],
        edit: &HeaderEdit,
    ) -> std::result::Result<Copy, SmimeError> {
        let (head, body_start) = message::restamp_edit(&data, headers, edit)?;
        Ok(Copy {
            recipients,
            head: Some(head),
            data,
            body_start,
        })
    }
}

/// What was done for one recipient (one log item, one metrics sample).
#[derive(Debug, Clone)]
pub struct RcptOutcome {
    /// The recipient.
    pub recipient: String,
    /// Direction.
    pub direction: Direction,
    /// Action for metrics: `relayed`, `encrypted`, `signed`, `signed-encrypted`, `plain`,
    /// `decrypted`, `verified`, `decrypted-verified`, `checked`, `kept-encrypted`,
    /// `error-delivered`, `rejected`.
    pub action: &'static str,
    /// Human-readable detail for the log line.
    pub detail: String,
}

/// The result of processing one message.
#[derive(Debug, Default)]
pub struct Plan {
    /// Copies to hand to the next hop.
    pub copies: Vec<Copy>,
    /// Recipients refused permanently, with the reason.
    pub rejected: Vec<(String, String)>,
    /// Recipients whose copy went to the hold queue (already stored durably).
    pub held: Vec<HeldItem>,
    /// Senders whose signing certificate was requested now and waits in the pending
    /// queue (address, request id): they are told, best effort.
    pub requested: Vec<(String, i64)>,
    /// One outcome per recipient.
    pub outcomes: Vec<RcptOutcome>,
}

/// The envelope of a message.
#[derive(Debug, Clone)]
pub struct Envelope<'a> {
    /// The gateway's message id (logged and added as `X-Certmail-Id`).
    pub id: &'a str,
    /// `MAIL FROM` (empty for the null sender).
    pub sender: &'a str,
    /// `RCPT TO`s, as given.
    pub recipients: &'a [String],
    /// Processing time, Unix seconds.
    pub now: i64,
}

struct OutgoingRcpt {
    rcpt: String,
    encrypt_to: Vec<String>,
    bcc: bool,
}

impl App {
    async fn flow_settings_uncached(&self, address: &str) -> Result<FlowSettings> {
        let email = normalise_email(address).ok();
        let chain = match &email {
            Some(e) => chain_for_user(e),
            None => vec![certmail_store::Party::Global],
        };
        let s = self.resolve_chain(&chain).await?;
        // sign-mode and the older sign: the one set nearer wins, sign-mode on a tie; when
        // sign-mode is set nowhere, sign decides.
        let rank = |key: &str| {
            let src = s.iter().find(|r| r.key == key).map(|r| r.source.as_str());
            chain
                .iter()
                .position(|p| Some(crate::policy::source_of(p).as_str()) == src)
                .unwrap_or(chain.len())
        };
        let sign_mode = if rank("sign-mode") <= rank("sign") && rank("sign-mode") < chain.len() {
            match value(&s, &settings::SIGN_MODE) {
                "on" => SignMode::On,
                "when-encrypted" => SignMode::WhenEncrypted,
                _ => SignMode::Off,
            }
        } else if value(&s, &settings::SIGN) == "on" {
            SignMode::On
        } else {
            SignMode::Off
        };
        let ca_sender = match &email {
            Some(e) => self.ca_config().await?.ca_email.as_deref() == Some(e.as_str()),
            None => false,
        };
        // The null sender (bounces, delivery reports) is mail of the system in front of
        // certmail: internal, so a recipient's encrypt-mode applies to it as to any
        // internal sender's mail, and never signed (it has no address to sign for).
        let null_sender = address.is_empty();
        Ok(FlowSettings {
            internal: null_sender
                || (email.is_some() && value(&s, &settings::LOCALITY) == "internal"),
            smime: value(&s, &settings::SMIME) == "on",
            sign_mode: if null_sender {
                SignMode::Off
            } else {
                sign_mode
            },
            sign_calendar: value(&s, &settings::SIGN_CALENDAR) == "on",
            encrypt_mode: EncryptMode::parse(value(&s, &settings::ENCRYPT_MODE)),
            strict_decryption: value(&s, &settings::STRICT_DECRYPTION) == "on",
            reject_on_error: value(&s, &settings::ON_ERROR) == "reject",
            trigger_subject: value(&s, &settings::ENCRYPT_TRIGGER_SUBJECT).to_owned(),
            trigger_header: header_trigger(value(&s, &settings::ENCRYPT_TRIGGER_HEADER)),
            hold_missing: value(&s, &settings::ON_MISSING_CERTIFICATE) == "hold",
            hold_days: value(&s, &settings::HOLD_EXPIRE_DAYS).parse().unwrap_or(7),
            subject_tags: (value(&s, &settings::SUBJECT_TAGS) == "on").then(|| {
                [
                    value(&s, &settings::SUBJECT_TAG_DECRYPTED).to_owned(),
                    value(&s, &settings::SUBJECT_TAG_SIGNED).to_owned(),
                    value(&s, &settings::SUBJECT_TAG_INVALID).to_owned(),
                ]
            }),
            remove_signature: value(&s, &settings::REMOVE_SIGNATURE) == "on",
            auto_request: value(&s, &settings::AUTO_REQUEST_CERTIFICATE) == "on",
            auto_request_incoming: value(&s, &settings::AUTO_REQUEST_INCOMING) == "on",
            ca_sender,
            collect: crate::smime::Collect::parse(value(&s, &settings::COLLECT_CERTIFICATES)),
            min_rsa_bits: value(&s, &settings::MIN_RSA_BITS)
                .parse()
                .unwrap_or(certmail_pki::verify::DEFAULT_MIN_RSA_BITS),
            email,
        })
    }

    fn direction(sender: &FlowSettings, rcpt: &FlowSettings) -> Direction {
        if rcpt.internal && rcpt.smime {
            Direction::Incoming
        } else if sender.internal && rcpt.smime && !rcpt.internal {
            Direction::Outgoing
        } else {
            Direction::Relay
        }
    }

    /// For the gateway: an outgoing recipient has no usable certificate. Asks the
    /// directories (answers still cached are not asked again; each directory is bounded by
    /// its timeout) and says whether a certificate new to the store arrived, so the caller
    /// decides again. Without a directory client or directories it asks nothing. A
    /// directory failing is no error here (it is cached and shown by `directory lookup`);
    /// a database failure is.
    pub(crate) async fn directory_rescue(&self, snap: &FlowSnapshot, email: &str) -> Result<bool> {
        if self.directory_client.get().is_none() {
            return Ok(false);
        }
        // Adding or deleting a directory renews the policy generation: while it is the
        // same, "no directory" is known without a query.
        let known = crate::lock(&self.directories_known)
            .as_ref()
            .filter(|(g, _)| *g == snap.key)
            .map(|(_, any)| *any);
        let any = match known {
            Some(any) => any,
            None => {
                let any = !self.store.directories().await?.is_empty();
                {
                    let mut k = crate::lock(&self.directories_known);
                    *k = Some((snap.key.clone(), any));
                }
                any
            }
        };
        if !any {
            return Ok(false);
        }
        let report = self.directory_lookup(email, false).await?;
        Ok(report.directories.iter().any(|a| {
            a.imported
                .iter()
                .any(|i| i.status == crate::ItemStatus::Imported)
        }))
    }

    /// Why an outgoing recipient with `encrypt-mode force` cannot be encrypted to, if so.
    async fn force_refusal(
        &self,
        snap: &FlowSnapshot,
        rcpt: &FlowSettings,
        why_forced: Option<&str>,
    ) -> Result<Option<String>> {
        let Some(email) = &rcpt.email else {
            return Ok(None);
        };
        if rcpt.encrypt_mode != EncryptMode::Force && why_forced.is_none() {
            return Ok(None);
        }
        let mut r = self.flow_recipient(snap, email).await?;
        if !r.encryption.is_empty() {
            return Ok(None);
        }
        if self.directory_rescue(snap, email).await? {
            r = Arc::new(self.recipient_lookup(email, snap.now).await?);
            if !r.encryption.is_empty() {
                return Ok(None);
            }
        }
        let why: Vec<String> = r
            .encryption_excluded
            .iter()
            .map(|x| format!("{} ({})", x.subject, x.reason))
            .collect();
        Ok(Some(format!(
            "{email}: encryption is required ({}) but there is no valid encryption certificate{}",
            why_forced.unwrap_or("encrypt-mode force"),
            if why.is_empty() {
                String::new()
            } else {
                format!(": {}", why.join("; "))
            }
        )))
    }

    /// The decision for one `RCPT TO` of a transaction from `sender`. An address that is
    /// not an e-mail address is an [`AppError::Invalid`].
    pub async fn gateway_rcpt(
        &self,
        snap: &FlowSnapshot,
        sender: &FlowSettings,
        rcpt: &str,
    ) -> Result<RcptDecision> {
        normalise_email(rcpt)?;
        let r = self.flow_settings(snap, rcpt).await?;
        let direction = Self::direction(sender, &r);
        // With on-missing-certificate hold, the copy is held at the end of data instead.
        let refusal = if direction == Direction::Outgoing && !r.hold_missing && !sender.ca_sender {
            self.force_refusal(snap, &r, None).await?
        } else {
            None
        };
        Ok(RcptDecision {
            direction,
            refusal,
            settings: r,
        })
    }

    /// Processes one message for all its recipients. An error is temporary (the database
    /// or the key store failed): the caller must not acknowledge the message.
    ///
    /// `known` holds the snapshot and the settings [`App::flow_settings`] and
    /// [`App::gateway_rcpt`] gave during the transaction (one per envelope recipient, in
    /// order); they are used when nothing changed since (a fresh snapshot is taken now: a
    /// certificate blacklisted or revoked during the transaction is not encrypted to).
    /// The message is taken by value: copies share it, and outgoing processing lets go of
    /// it once signed, so a large message is not held three times.
    pub async fn gateway_process(
        &self,
        env: &Envelope<'_>,
        known: Option<(&FlowSnapshot, &FlowSettings, &[FlowSettings])>,
        msg: Arc<Vec<u8>>,
    ) -> Result<Plan> {
        self.process_message(env, known, msg, None).await
    }

    /// [`App::gateway_process`], or a release of a held message (`release`).
    pub(crate) async fn process_message(
        &self,
        env: &Envelope<'_>,
        known: Option<(&FlowSnapshot, &FlowSettings, &[FlowSettings])>,
        msg: Arc<Vec<u8>>,
        release: Option<Release>,
    ) -> Result<Plan> {
        let snap = self.flow_snapshot(env.now).await?;
        let known = known
            .filter(|(k, _, r)| k.key == snap.key && r.len() == env.recipients.len())
            .map(|(_, s, r)| (s, r));
        let sender = match known {
            Some((s, _)) => s.clone(),
            None => self.flow_settings(&snap, env.sender).await?,
        };
        let mut plan = Plan::default();
        // The header section is read once the way Postfix's cleanup reads it, and the
        // message goes on with no X-Certmail-* field from outside and no line that a later
        // reader could take for a field (ARCHITECTURE.md, trust boundaries).
        let (listed, forced, edit, clean) = match mime::parse_lenient(&msg) {
            Ok(top) => {
                let listed = header_addresses(&top.entity, &["To", "Cc", "Resent-To", "Resent-Cc"]);
                let (forced, edit) = triggers(&sender, Some(&top.entity));
                (listed, forced, edit, message::sanitized(&msg, &top))
            }
            Err(e) => {
                for rcpt in env.recipients {
                    self.reject(
                        &mut plan,
                        rcpt,
                        Direction::Relay,
                        format!("the message's header section cannot be read: {e}"),
                    );
                }
                return Ok(plan);
            }
        };
        let msg = clean.map_or(msg, Arc::new);
        let forced = match release {
            Some(Release::Encrypt) => Some(forced.unwrap_or("held until it could be encrypted")),
            Some(Release::AllowClear) => None,
            None => forced,
        };
        let mut relay = Vec::new();
        let mut incoming = Vec::new();
        let mut outgoing = Vec::new();
        for (i, rcpt) in env.recipients.iter().enumerate() {
            let r = match known.and_then(|(_, r)| r.get(i)) {
                Some(r) => r.clone(),
                None => self.flow_settings(&snap, rcpt).await?,
            };
            match Self::direction(&sender, &r) {
                Direction::Relay => relay.push(rcpt.clone()),
                Direction::Incoming => incoming.push((rcpt.clone(), r)),
                Direction::Outgoing => {
                    let email = r.email.clone().unwrap_or_default();
                    let r = if release == Some(Release::AllowClear) {
                        FlowSettings {
                            encrypt_mode: EncryptMode::Allow,
                            ..r
                        }
                    } else {
                        r
                    };
                    let never = sender.ca_sender
                        || (r.encrypt_mode == EncryptMode::NoEncryption && forced.is_none());
                    let mut encrypt_to: Vec<String> = match never {
                        true => Vec::new(),
                        false => self
                            .flow_recipient(&snap, &email)
                            .await?
                            .encryption
                            .iter()
                            .map(|u| u.sha256.clone())
                            .collect(),
                    };
                    if encrypt_to.is_empty()
                        && !never
                        && self.directory_rescue(&snap, &email).await?
                    {
                        encrypt_to = self
                            .recipient_lookup(&email, snap.now)
                            .await?
                            .encryption
                            .into_iter()
                            .map(|u| u.sha256)
                            .collect();
                    }
                    if encrypt_to.is_empty()
                        && !sender.ca_sender
                        && let Some(why) = self.force_refusal(&snap, &r, forced).await?
                    {
                        if r.hold_missing && release.is_none() {
                            let item = self.hold_copy(env, &msg, rcpt, &why, r.hold_days).await?;
                            plan.outcomes.push(RcptOutcome {
                                recipient: rcpt.clone(),
                                direction: Direction::Outgoing,
                                action: "held",
                                detail: format!("held as {}: {why}", item.id),
                            });
                            plan.held.push(item);
                        } else {
                            self.reject(&mut plan, rcpt, Direction::Outgoing, why);
                        }
                        continue;
                    }
                    outgoing.push(OutgoingRcpt {
                        rcpt: rcpt.clone(),
                        bcc: !listed.contains(&email),
                        encrypt_to,
                    });
                }
            }
        }
        if !relay.is_empty() {
            for r in &relay {
                plan.outcomes.push(RcptOutcome {
                    recipient: r.clone(),
                    direction: Direction::Relay,
                    action: "relayed",
                    detail: "relayed untouched".into(),
                });
            }
            plan.copies.push(Copy {
                recipients: relay,
                head: None,
                data: msg.clone(),
                body_start: 0,
            });
        }
        if !incoming.is_empty() {
            self.incoming(env, &snap, &msg, incoming, &edit, &mut plan)
                .await?;
        }
        if !outgoing.is_empty() {
            self.outgoing(env, &snap, &sender, msg, outgoing, &edit, &mut plan)
                .await?;
        }
        Ok(plan)
    }

    pub(super) fn reject(&self, plan: &mut Plan, rcpt: &str, direction: Direction, why: String) {
        plan.outcomes.push(RcptOutcome {
            recipient: rcpt.to_owned(),
            direction,
            action: "rejected",
            detail: format!("rejected: {why}"),
        });
        plan.rejected.push((rcpt.to_owned(), why));
    }
}

#[cfg(test)]
mod encrypt_mode {
    #[test]
    fn a_value_that_is_not_one_of_the_three_reads_as_force() {
        assert_eq!(
            super::EncryptMode::parse("no-encryption"),
            super::EncryptMode::NoEncryption
        );
        assert_eq!(
            super::EncryptMode::parse("allow"),
            super::EncryptMode::Allow
        );
        assert_eq!(
            super::EncryptMode::parse("garbled"),
            super::EncryptMode::Force,
            "a value that is not one of the three never sends in clear"
        );
    }
}
