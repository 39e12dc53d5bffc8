//! The gateway's use case: what happens to one message in the mail flow.
//!
//! Each envelope recipient is classified by locality (DESIGN.md, gateway rules):
//! an internal recipient gets incoming processing (decrypt, verify, report headers), an
//! external recipient of an internal sender gets outgoing processing (sign by the sender's
//! `sign`, encrypt by the recipient's `encrypt-mode` and certificates), and everything else
//! is relayed untouched. The recipients are then split into as few copies as the outcomes
//! need; a Bcc recipient never shares an encrypted copy. Nothing here knows SMTP: the
//! gateway maps [`Plan`] to replies and next-hop transactions.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use certmail_pki::Certificate;
use certmail_smime::message::{self, HeaderEdit, Kind, UnwrapOptions};
use certmail_smime::{EncryptOptions, KeyPair, SignOptions, SmimeError, mime};
use certmail_store::StoreKind;

use crate::hold::HeldItem;
use crate::policy::{Resolved, chain_for_user, header_trigger, normalise_email};
use crate::{App, AppError, Result};

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
    pub encrypt_mode: String,
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

fn value<'a>(settings: &'a [Resolved], key: &str) -> &'a str {
    settings
        .iter()
        .find(|r| r.key == key)
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

/// The addresses of address-list headers (To, Cc, ...), lower case. Groups
/// (`undisclosed-recipients:;`), display names with commas in quotes and comments are
/// handled; anything without `@` is ignored.
pub fn header_addresses(e: &mime::Entity<'_>, names: &[&str]) -> HashSet<String> {
    let mut out = HashSet::new();
    for h in e.headers.iter().filter(|h| names.iter().any(|n| h.is(n))) {
        let v = h.value();
        let mut items = Vec::new();
        let (mut quoted, mut angle, mut depth, mut start) = (false, false, 0usize, 0usize);
        let bytes = v.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' if quoted => i += 1,
                b'"' if depth == 0 => quoted = !quoted,
                b'(' if !quoted => depth += 1,
                b')' if !quoted && depth > 0 => depth -= 1,
                b'<' if !quoted && depth == 0 => angle = true,
                b'>' if !quoted && depth == 0 => angle = false,
                b',' | b';' | b':' if !quoted && !angle && depth == 0 => {
                    items.push(&v[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        items.push(&v[start.min(v.len())..]);
        for item in items {
            let addr = match (item.rfind('<'), item.rfind('>')) {
                (Some(a), Some(b)) if a < b => &item[a + 1..b],
                _ => item.split('(').next().unwrap_or(item),
            };
            let addr = addr.trim().trim_matches('"').to_ascii_lowercase();
            if addr.contains('@') && !addr.contains(' ') {
                out.insert(addr);
            }
        }
    }
    out
}

/// A delivery status notification (RFC 3464) to `sender` for recipients the gateway had to
/// refuse after accepting the message: sent with the null sender, carrying the original
/// header section only (the body was meant to be protected).
pub fn failure_notice(
    hostname: &str,
    id: &str,
    sender: &str,
    rejected: &[(String, String)],
    original: &[u8],
    now: i64,
) -> Vec<u8> {
    let headers = match mime::parse(original) {
        Ok(e) => e.headers.iter().flat_map(|h| h.raw.to_vec()).collect(),
        Err(_) => Vec::new(),
    };
    let headers = mime::canonical(&headers).into_owned();
    let b = mime::boundary();
    let date = certmail_pki::time::format_rfc3339(now);
    let mut text = String::new();
    for (r, why) in rejected {
        text.push_str(&format!("<{r}>: {why}\r\n"));
    }
    let mut status = String::new();
    for (r, why) in rejected {
        let clean: String = why.chars().filter(|c| !c.is_control()).collect();
        status.push_str(&format!(
            "Final-Recipient: rfc822; {r}\r\nAction: failed\r\nStatus: 5.7.1\r\nDiagnostic-Code: smtp; 550 5.7.1 {clean}\r\n\r\n"
        ));
    }
    let stamp = mail_stamp(hostname, now);
    let mut out = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         {stamp}\
         Subject: Undelivered mail: could not be protected as required\r\n\
         Auto-Submitted: auto-replied\r\n\
         X-Certmail-Id: {id}\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{b}\"\r\n\
         \r\n\
         --{b}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         \r\n\
         This is the certmail gateway at {hostname} ({date}).\r\n\
         \r\n\
         Your message (certmail id {id}) was not delivered to the recipients below, because\r\n\
         the mail policy requires protection that could not be applied. Nothing was sent to\r\n\
         them in clear. Other recipients of the message, if any, received it.\r\n\
         \r\n\
         {text}\r\n\
         --{b}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         X-Certmail-Id: {id}\r\n\
         \r\n\
         {status}\
         --{b}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    )
    .into_bytes();
    out.extend_from_slice(&headers);
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

/// The `Date:` and `Message-ID:` fields of a message certmail writes itself (RFC 5322
/// 3.6: both belong in every message; a next hop need not add them).
pub fn mail_stamp(hostname: &str, now: i64) -> String {
    let unique = crate::ca::random_password(20)
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|_| format!("{now:X}.{}", std::process::id()));
    format!(
        "Date: {}\r\nMessage-ID: <{unique}.{now:X}@{hostname}>\r\n",
        certmail_pki::time::format_rfc5322(now)
    )
}

fn id_header(id: &str) -> (String, String) {
    ("X-Certmail-Id".to_owned(), id.to_owned())
}

/// How long a cached look-up is used at most, seconds (certificates expire, CRLs go stale:
/// verdicts depend on the time as well as on the stored data).
const FLOW_TTL: i64 = 60;

/// The state of the stores a transaction is decided on: the trust and policy generations
/// read in one query. Caches are used only while the generations are unchanged, so a
/// change made on another node applies from the next snapshot (the next message) on.
#[derive(Debug, Clone)]
pub struct FlowSnapshot {
    key: String,
    now: i64,
}

impl FlowSnapshot {
    /// The processing time of this snapshot.
    pub fn now(&self) -> i64 {
        self.now
    }
}

/// Settings and recipient look-ups of the mail flow, valid for one snapshot key.
#[derive(Default)]
pub struct FlowCache {
    key: String,
    settings: std::collections::HashMap<String, (i64, FlowSettings)>,
    recipients: std::collections::HashMap<String, (i64, crate::policy::Recipient)>,
    certificates: std::collections::HashMap<String, Arc<Certificate>>,
}

impl std::fmt::Debug for FlowCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "FlowCache({} settings, {} recipients)",
            self.settings.len(),
            self.recipients.len()
        )
    }
}

/// Entries kept at most (a flood of distinct addresses must not grow memory).
const FLOW_CACHE_MAX: usize = 100_000;

/// Signing keys unsealed and parsed once (RSA key parsing checks the key and costs more
/// than a signature), per thumbprint; dropped when the trust generation changes.
#[derive(Default)]
pub struct SignerCache {
    generation: String,
    signers: std::collections::HashMap<String, std::sync::Arc<(KeyPair, Vec<Certificate>)>>,
    keys: std::collections::HashMap<Vec<u8>, std::sync::Arc<KeyPair>>,
    known: HashSet<String>,
}

impl SignerCache {
    fn renew(&mut self, generation: &str) {
        if self.generation != generation {
            self.signers.clear();
            self.keys.clear();
            self.known.clear();
            self.generation = generation.to_owned();
        }
    }

    /// A decryption key pair by certificate (DER), if cached under `generation`.
    pub(crate) fn key(&self, generation: &str, der: &[u8]) -> Option<std::sync::Arc<KeyPair>> {
        (self.generation == generation)
            .then(|| self.keys.get(der).cloned())
            .flatten()
    }

    pub(crate) fn put_key(&mut self, generation: &str, k: std::sync::Arc<KeyPair>) {
        self.renew(generation);
        if self.keys.len() < FLOW_CACHE_MAX {
            self.keys.insert(k.cert.der.clone(), k);
        }
    }

    /// Whether a certificate is known to be stored (collected earlier) under `generation`.
    pub(crate) fn known(&self, generation: &str, sha256: &str) -> bool {
        self.generation == generation && self.known.contains(sha256)
    }

    pub(crate) fn put_known(&mut self, generation: &str, sha256: &str) {
        self.renew(generation);
        if self.known.len() < FLOW_CACHE_MAX {
            self.known.insert(sha256.to_owned());
        }
    }
}

impl std::fmt::Debug for SignerCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SignerCache({} signers)", self.signers.len())
    }
}

struct OutgoingRcpt {
    rcpt: String,
    encrypt_to: Vec<String>,
    bcc: bool,
}

/// Per-message log lines this process keeps for the web admin's gateway page.
pub const RECENT_MESSAGES: usize = 1_000;

impl App {
    /// Keeps a gateway log line (the per-message line, or a refused recipient) for the web
    /// admin; the oldest goes when [`RECENT_MESSAGES`] are held. Per process: each node
    /// shows its own.
    pub fn record_message(&self, at: i64, line: &str) {
        if let Ok(mut r) = self.recent.lock() {
            if r.len() >= RECENT_MESSAGES {
                r.pop_front();
            }
            r.push_back((at, line.to_owned()));
        }
    }

    /// The kept gateway log lines, newest first, optionally only those containing `filter`.
    pub fn recent_messages(&self, filter: Option<&str>, limit: usize) -> Vec<(i64, String)> {
        self.recent
            .lock()
            .map(|r| {
                r.iter()
                    .rev()
                    .filter(|(_, l)| filter.is_none_or(|f| l.contains(f)))
                    .take(limit)
                    .cloned()
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A snapshot of the stores' generations (one query); caches older than it are dropped.
    pub async fn flow_snapshot(&self, now: i64) -> Result<FlowSnapshot> {
        let key = self.store.generations().await?;
        if let Ok(mut c) = self.flow_cache.lock()
            && c.key != key
        {
            c.settings.clear();
            c.recipients.clear();
            c.certificates.clear();
            c.key = key.clone();
        }
        Ok(FlowSnapshot { key, now })
    }

    /// [`App::recipient_lookup`] through the flow cache.
    pub async fn flow_recipient(
        &self,
        snap: &FlowSnapshot,
        email: &str,
    ) -> Result<crate::policy::Recipient> {
        if let Ok(c) = self.flow_cache.lock()
            && c.key == snap.key
            && let Some((t, r)) = c.recipients.get(email)
            && snap.now - t < FLOW_TTL
            && snap.now >= *t
        {
            return Ok(r.clone());
        }
        let r = self.recipient_lookup(email, snap.now).await?;
        if let Ok(mut c) = self.flow_cache.lock()
            && c.key == snap.key
        {
            if c.recipients.len() >= FLOW_CACHE_MAX {
                c.recipients.clear();
            }
            c.recipients.insert(email.to_owned(), (snap.now, r.clone()));
        }
        Ok(r)
    }

    /// A stored certificate by thumbprint, parsed once per snapshot key.
    async fn flow_certificate(
        &self,
        snap: &FlowSnapshot,
        sha256: &str,
    ) -> Result<Arc<Certificate>> {
        if let Ok(c) = self.flow_cache.lock()
            && c.key == snap.key
            && let Some(cert) = c.certificates.get(sha256)
        {
            return Ok(cert.clone());
        }
        let cert = Arc::new(self.get_any(sha256).await?.cert);
        if let Ok(mut c) = self.flow_cache.lock()
            && c.key == snap.key
        {
            if c.certificates.len() >= FLOW_CACHE_MAX {
                c.certificates.clear();
            }
            c.certificates.insert(sha256.to_owned(), cert.clone());
        }
        Ok(cert)
    }

    /// The mail-flow settings of an address (global ones for the null sender or an
    /// address that is not one), through the flow cache.
    pub async fn flow_settings(&self, snap: &FlowSnapshot, address: &str) -> Result<FlowSettings> {
        if let Ok(c) = self.flow_cache.lock()
            && c.key == snap.key
            && let Some((t, s)) = c.settings.get(address)
            && snap.now - t < FLOW_TTL
            && snap.now >= *t
        {
            return Ok(s.clone());
        }
        let s = self.flow_settings_uncached(address).await?;
        if let Ok(mut c) = self.flow_cache.lock()
            && c.key == snap.key
        {
            if c.settings.len() >= FLOW_CACHE_MAX {
                c.settings.clear();
            }
            c.settings.insert(address.to_owned(), (snap.now, s.clone()));
        }
        Ok(s)
    }

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
            match value(&s, "sign-mode") {
                "on" => SignMode::On,
                "when-encrypted" => SignMode::WhenEncrypted,
                _ => SignMode::Off,
            }
        } else if value(&s, "sign") == "on" {
            SignMode::On
        } else {
            SignMode::Off
        };
        let ca_sender = match &email {
            Some(e) => self.ca_config().await?.ca_email.as_deref() == Some(e.as_str()),
            None => false,
        };
        Ok(FlowSettings {
            internal: email.is_some() && value(&s, "locality") == "internal",
            smime: value(&s, "smime") == "on",
            sign_mode,
            sign_calendar: value(&s, "sign-calendar") == "on",
            encrypt_mode: value(&s, "encrypt-mode").to_owned(),
            strict_decryption: value(&s, "strict-decryption") == "on",
            reject_on_error: value(&s, "on-error") == "reject",
            trigger_subject: value(&s, "encrypt-trigger-subject").to_owned(),
            trigger_header: header_trigger(value(&s, "encrypt-trigger-header")),
            hold_missing: value(&s, "on-missing-certificate") == "hold",
            hold_days: value(&s, "hold-expire-days").parse().unwrap_or(7),
            subject_tags: (value(&s, "subject-tags") == "on").then(|| {
                [
                    value(&s, "subject-tag-decrypted").to_owned(),
                    value(&s, "subject-tag-signed").to_owned(),
                    value(&s, "subject-tag-invalid").to_owned(),
                ]
            }),
            remove_signature: value(&s, "remove-signature") == "on",
            auto_request: value(&s, "auto-request-certificate") == "on",
            auto_request_incoming: value(&s, "auto-request-incoming") == "on",
            ca_sender,
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
        let known = self.directories_known.lock().ok().and_then(|k| {
            k.as_ref()
                .filter(|(g, _)| *g == snap.key)
                .map(|(_, any)| *any)
        });
        let any = match known {
            Some(any) => any,
            None => {
                let any = !self.store.directories().await?.is_empty();
                if let Ok(mut k) = self.directories_known.lock() {
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
        if rcpt.encrypt_mode != "force" && why_forced.is_none() {
            return Ok(None);
        }
        let mut r = self.flow_recipient(snap, email).await?;
        if !r.encryption.is_empty() {
            return Ok(None);
        }
        if self.directory_rescue(snap, email).await? {
            r = self.recipient_lookup(email, snap.now).await?;
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
    /// not an e-mail address is an [`AppError::Setting`].
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
        let top = mime::parse(&msg).ok();
        let listed = top
            .as_ref()
            .map(|e| header_addresses(e, &["To", "Cc", "Resent-To", "Resent-Cc"]))
            .unwrap_or_default();
        let (forced, edit) = triggers(&sender, top.as_ref());
        drop(top);
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
                            encrypt_mode: "allow".into(),
                            ..r
                        }
                    } else {
                        r
                    };
                    let never =
                        sender.ca_sender || (r.encrypt_mode == "no-encryption" && forced.is_none());
                    let mut encrypt_to: Vec<String> = match never {
                        true => Vec::new(),
                        false => self
                            .flow_recipient(&snap, &email)
                            .await?
                            .encryption
                            .into_iter()
                            .map(|u| u.sha256)
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

    fn reject(&self, plan: &mut Plan, rcpt: &str, direction: Direction, why: String) {
        plan.outcomes.push(RcptOutcome {
            recipient: rcpt.to_owned(),
            direction,
            action: "rejected",
            detail: format!("rejected: {why}"),
        });
        plan.rejected.push((rcpt.to_owned(), why));
    }

    #[allow(clippy::too_many_arguments)]
    async fn outgoing(
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
            let mut certs: Vec<Certificate> = Vec::with_capacity(shas.len());
            for s in &shas {
                certs.push(self.flow_certificate(snap, s).await?.as_ref().clone());
            }
            let mut out = Vec::with_capacity(enc_base.len() / 3 * 4 + enc_base.len() / 38 + 8192);
            let encrypted =
                message::encrypt_message(&enc_base, &certs, &EncryptOptions::default(), &mut out)
                    .and_then(|()| {
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
                AutoRequest::Issued(_) => r = self.recipient_lookup(email, now).await?,
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
        let Some(signing) = r.signing else {
            return Ok(Err(format!("no valid signing certificate for {email}")));
        };
        let signer = self.cached_signer(snap, &signing.sha256).await?;
        let (kp, chain) = (&signer.0, &signer.1);
        let opts = SignOptions {
            signing_time: now,
            ..SignOptions::default()
        };
        let mut out = Vec::with_capacity(clean.len() + 8192);
        Ok(
            match message::sign_message(clean, kp, chain, &opts, true, &mut out) {
                Ok(()) => Ok((signing.sha256, out)),
                Err(e) => Err(format!("the message cannot be signed: {e}")),
            },
        )
    }

    async fn cached_signer(
        &self,
        snap: &FlowSnapshot,
        sha256: &str,
    ) -> Result<std::sync::Arc<(KeyPair, Vec<Certificate>)>> {
        let generation = snap.key.clone();
        if let Ok(c) = self.signers.lock()
            && c.generation == generation
            && let Some(s) = c.signers.get(sha256)
        {
            return Ok(s.clone());
        }
        let s = std::sync::Arc::new(self.smime_signer(sha256).await?);
        if let Ok(mut c) = self.signers.lock() {
            c.renew(&generation);
            c.signers.insert(sha256.to_owned(), s.clone());
        }
        Ok(s)
    }

    /// Key pairs a strict-decryption recipient may be decrypted with: the keys of its
    /// valid encryption certificates (its own, its domains' selections, additional).
    async fn strict_keys(&self, snap: &FlowSnapshot, email: &str) -> Result<Vec<KeyPair>> {
        let r = self.flow_recipient(snap, email).await?;
        let mut out = Vec::new();
        for u in r.encryption {
            let v = self.get(StoreKind::Certificates, &u.sha256).await?;
            if v.has_key {
                let key = self.private_key(&v.cert).await?;
                out.push(KeyPair::new(v.cert, &key)?);
            }
        }
        Ok(out)
    }

    async fn incoming(
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
        // tags, signature removal); strict ones each their own (their keys differ). Within
        // a group the on-error choice may differ: split it.
        let mut groups: Vec<(Vec<(String, FlowSettings)>, bool)> = Vec::new();
        let (strict, shared): (Vec<_>, Vec<_>) =
            rcpts.into_iter().partition(|(_, s)| s.strict_decryption);
        for r in shared {
            let key = |s: &FlowSettings| (s.subject_tags.clone(), s.remove_signature);
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
            match self.incoming_copy(env, msg, keys).await? {
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
                self.smime_unwrap_keys(msg, keys, false, &opts, env.now)
                    .await
            }
            None => self.smime_unwrap(msg, Vec::new(), &opts, env.now).await,
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

/// The encryption triggers of an internal sender's message: why encryption is forced (if
/// it is) and the header edit every processed copy gets (the trigger header removed, in
/// both directions; the Subject without the trigger when it fired).
fn triggers(
    sender: &FlowSettings,
    top: Option<&mime::Entity<'_>>,
) -> (Option<&'static str>, HeaderEdit) {
    let mut edit = HeaderEdit::default();
    let mut forced = None;
    if let Some((name, value)) = &sender.trigger_header {
        edit.remove.push(name.clone());
        if sender.internal
            && top.is_some_and(|e| {
                e.headers
                    .iter()
                    .any(|h| h.is(name) && h.value().eq_ignore_ascii_case(value))
            })
        {
            forced = Some("the message carries the encrypt-trigger-header");
        }
    }
    let trigger = sender.trigger_subject.trim();
    if sender.internal
        && !trigger.is_empty()
        && let Some(subject) = top.and_then(|e| e.header("Subject")).map(|h| h.value())
        && let Some(clean) = remove_trigger(&subject, trigger)
    {
        forced = Some("the Subject carries the encrypt-trigger-subject");
        edit.subject = Some(clean);
    }
    (forced, edit)
}

/// `subject` without every occurrence of `trigger` (any case), white space tidied; `None`
/// when it does not occur.
pub fn remove_trigger(subject: &str, trigger: &str) -> Option<String> {
    let t = trigger.to_lowercase();
    let n = trigger.chars().count();
    if n == 0 {
        return None;
    }
    let mut out = String::with_capacity(subject.len());
    let mut found = false;
    let mut rest = subject;
    while let Some(c) = rest.chars().next() {
        let head: String = rest.chars().take(n).collect();
        if head.to_lowercase() == t {
            found = true;
            out.push(' ');
            rest = &rest[head.len()..];
        } else {
            out.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    found.then(|| out.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// `subject` with `tags` in front, each once (a tag already there is not added again).
pub fn tag_subject(subject: &str, tags: &[&str]) -> String {
    let mut out = String::new();
    for t in tags.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
        if !subject.contains(t) && !out.contains(t) {
            out.push_str(t);
            out.push(' ');
        }
    }
    out.push_str(subject);
    out.trim_end().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_from_list_headers() {
        let m = b"To: \"Doe, John\" <John@Example.com>, jane@example.org (Jane)\r\nCc: undisclosed-recipients:;\r\nCc: team: a@x.example, b@x.example;\r\nFrom: c@x.example\r\n\r\nbody\r\n";
        let e = mime::parse(m).expect("parse");
        let got = header_addresses(&e, &["To", "Cc"]);
        let mut v: Vec<_> = got.into_iter().collect();
        v.sort();
        assert_eq!(
            v,
            vec![
                "a@x.example",
                "b@x.example",
                "jane@example.org",
                "john@example.com"
            ]
        );
    }

    #[test]
    fn triggers_are_removed_in_any_case_and_tags_added_once() {
        assert_eq!(
            remove_trigger("[ENCRYPT] plans for [encrypt] Q3", "[encrypt]").as_deref(),
            Some("plans for Q3")
        );
        assert_eq!(
            remove_trigger("Grüße [Encrypt]", "[encrypt]").as_deref(),
            Some("Grüße")
        );
        assert_eq!(remove_trigger("encrypted", "[encrypt]"), None);
        assert_eq!(remove_trigger("x", ""), None);
        assert_eq!(
            tag_subject("hello", &["[decrypted]", "[signed]"]),
            "[decrypted] [signed] hello"
        );
        assert_eq!(
            tag_subject("[signed] hello", &["[signed]"]),
            "[signed] hello"
        );
        assert_eq!(tag_subject("", &["[signed]"]), "[signed]");
    }

    #[test]
    fn notice_names_recipients_and_keeps_headers_only() {
        let orig =
            b"Subject: secret plans\r\nTo: x@y.example\r\n\r\nthe body must not be echoed\r\n";
        let n = failure_notice(
            "gw.example",
            "ID1",
            "alice@example.com",
            &[("x@y.example".into(), "no certificate".into())],
            orig,
            0,
        );
        let t = String::from_utf8_lossy(&n);
        assert!(t.contains("Final-Recipient: rfc822; x@y.example"));
        assert!(t.contains("<x@y.example>: no certificate"));
        assert!(t.contains("Subject: secret plans"));
        assert!(!t.contains("the body must not be echoed"));
        assert!(mime::parse(&n).is_ok());
    }
}
