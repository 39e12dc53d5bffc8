//! The hold queue (`on-missing-certificate hold`): a copy that must be encrypted and cannot
//! be is kept in the database instead of being refused, the sender is told, and an
//! administrator releases it (encrypted once certificates exist, or explicitly allowing
//! clear text) or deletes it; after `hold-expire-days` it is dropped with a notice to the
//! sender. The held copy is the message as received, so a release applies the policy of
//! the moment of release.

use std::sync::Arc;

use certmail_pki::CryptoOps;
use certmail_smime::mime;
use certmail_store::{HeldRow, NewHeld};

use crate::mailflow::{Envelope, Plan, Release};
use crate::{App, AppError, Result};

/// A copy the gateway held, for the reply and the notice to the sender.
#[derive(Debug, Clone)]
pub struct HeldItem {
    /// The hold-queue id.
    pub id: i64,
    /// The recipient.
    pub recipient: String,
    /// Why it is held.
    pub reason: String,
    /// Dropped after (Unix seconds).
    pub expires_at: i64,
}

/// The Subject of a message (unfolded), empty when there is none.
pub fn subject_of(msg: &[u8]) -> String {
    mime::parse(msg)
        .ok()
        .and_then(|e| e.header("Subject").map(|h| h.value()))
        .unwrap_or_default()
}

/// A notice to the sender about held mail (`held`) or held mail dropped (`expired`): from
/// the gateway's mailer-daemon with the null sender, carrying the original header section
/// only (never the body: it was meant to be protected).
pub fn hold_notice(
    hostname: &str,
    sender: &str,
    items: &[(String, String, i64)],
    original: &[u8],
    expired: bool,
    now: i64,
) -> Vec<u8> {
    let b = mime::boundary();
    let date = certmail_pki::time::format_rfc3339(now);
    let mut text = String::new();
    for (rcpt, why, id) in items {
        let why: String = why.chars().filter(|c| !c.is_control()).collect();
        text.push_str(&format!("<{rcpt}>: {why} (hold id {id})\r\n"));
    }
    let (subject, body) = if expired {
        (
            "Undelivered mail: held message expired",
            "Your message was kept in the hold queue because the mail policy requires\r\n\
             encryption and no usable certificate of the recipients below was available. It\r\n\
             was not released in time and has now been deleted. Nothing was sent to them.",
        )
    } else {
        (
            "Delayed mail: held until it can be encrypted",
            "Your message was not sent to the recipients below yet, because the mail policy\r\n\
             requires encryption and no usable certificate of theirs is available. It is kept\r\n\
             in the hold queue: an administrator can release it once a certificate is there.\r\n\
             Nothing was sent to them in clear. Other recipients, if any, received it.",
        )
    };
    let stamp = crate::mailflow::mail_stamp(hostname, now);
    let mut out = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{sender}>\r\n\
         {stamp}\
         Subject: {subject}\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\
         \r\n\
         --{b}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         This is the certmail gateway at {hostname} ({date}).\r\n\
         \r\n\
         {body}\r\n\
         \r\n\
         {text}\r\n\
         --{b}\r\n\
         Content-Type: text/rfc822-headers\r\n\
         \r\n"
    )
    .into_bytes();
    out.extend_from_slice(&certmail_smime::mime::seven_bit_lines(
        &crate::mailflow::header_section(original),
    ));
    out.extend_from_slice(format!("\r\n--{b}--\r\n").as_bytes());
    out
}

/// What a held message's seal is bound to: the transaction and recipient it was held for
/// (a sealed message moved to another row does not open).
fn held_aad(gateway_id: &str, recipient: &str) -> Vec<u8> {
    format!("certmail held message {gateway_id} {recipient}").into_bytes()
}

fn not_held(id: i64) -> AppError {
    AppError::Store(certmail_store::StoreError::NotFound {
        what: "hold queue",
        id: id.to_string(),
    })
}

/// What a release did.
#[derive(Debug)]
pub struct ReleasePlan {
    /// The held row.
    pub held: HeldRow,
    /// The copies to hand to the next hop (the caller deletes the row once accepted).
    pub plan: Plan,
}

impl App {
    /// Holds `msg` for `recipient` (durably: committed when this returns). A transaction
    /// the MTA retries holds the same copy again under the same id.
    pub(crate) async fn hold_copy(
        &self,
        env: &Envelope<'_>,
        msg: &[u8],
        recipient: &str,
        reason: &str,
        days: i64,
    ) -> Result<HeldItem> {
        let mut key = Vec::with_capacity(msg.len() + 256);
        key.extend_from_slice(env.sender.as_bytes());
        key.push(0);
        key.extend_from_slice(recipient.to_lowercase().as_bytes());
        key.push(0);
        key.extend_from_slice(msg);
        let dedupe = hex::encode(certmail_crypto::AwsLcOps.sha256(&key));
        let subject: String = subject_of(msg).chars().take(200).collect();
        // The message waits sealed under the key-encryption key, as private keys do
        // (ARCHITECTURE.md, trust boundaries): the database holds nothing readable of it but
        // the envelope and the Subject shown in the list.
        let sealed = self
            .cpu(|| self.kek.seal(msg, &held_aad(env.id, recipient)))
            .await
            .map_err(|e| AppError::Internal(format!("sealing the held message: {e}")))?;
        let (row, _) = self
            .store
            .hold_put(&NewHeld {
                dedupe: &dedupe,
                gateway_id: env.id,
                sender: env.sender,
                recipient,
                reason,
                subject: &subject,
                message: &sealed,
                size: msg.len() as i64,
                now: env.now,
                expires_at: env.now + days.max(1) * 86_400,
            })
            .await?;
        Ok(HeldItem {
            id: row.id,
            recipient: row.recipient,
            reason: row.reason,
            expires_at: row.expires_at,
        })
    }

    /// The hold queue, oldest first.
    pub async fn hold_list(
        &self,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<HeldRow>> {
        Ok(self.store.held(search, limit, offset).await?)
    }

    /// Number of held messages.
    pub async fn hold_oldest(&self) -> Result<Option<i64>> {
        Ok(self.store.held_oldest().await?)
    }

    /// Number of held messages.
    pub async fn hold_count(&self) -> Result<i64> {
        Ok(self.store.held_count().await?)
    }

    /// One held message with its bytes.
    pub async fn hold_show(&self, id: i64) -> Result<(HeldRow, Vec<u8>)> {
        let (row, stored) = self.store.held_get(id).await?.ok_or_else(|| not_held(id))?;
        let msg = self.unseal_held(&row, stored).await?;
        Ok((row, msg))
    }

    /// The bytes of a held row: opened with the key-encryption key; a row held before
    /// messages were sealed is still in clear.
    async fn unseal_held(&self, row: &HeldRow, stored: Vec<u8>) -> Result<Vec<u8>> {
        let aad = held_aad(&row.gateway_id, &row.recipient);
        match self.cpu(|| self.kek.open(&stored, &aad)).await {
            Ok(clear) => Ok(clear.to_vec()),
            Err(_) if stored.first() != Some(&1) => Ok(stored),
            Err(e) => Err(AppError::Corrupt {
                what: "held message",
                reason: format!("{} cannot be opened: {e}", row.id),
            }),
        }
    }

    /// Deletes a held message.
    pub async fn hold_delete(&self, id: i64) -> Result<HeldRow> {
        let row = self.store.held_row(id).await?.ok_or_else(|| not_held(id))?;
        self.store.held_delete(id).await?;
        Ok(row)
    }

    /// Processes a held message again for its recipient, now: encrypted (an error when
    /// there is still no usable certificate), or with `clear`, encrypted if it can be and
    /// otherwise in clear. The caller hands the copies to the next hop and then calls
    /// [`App::hold_released`]; until then the message stays held.
    pub async fn hold_release_plan(
        &self,
        id: i64,
        clear: bool,
        gateway_id: &str,
    ) -> Result<ReleasePlan> {
        let (held, msg) = self.hold_show(id).await?;
        let now = crate::now();
        let recipients = [held.recipient.clone()];
        let env = Envelope {
            id: gateway_id,
            sender: &held.sender,
            recipients: &recipients,
            now,
        };
        let release = if clear {
            Release::AllowClear
        } else {
            Release::Encrypt
        };
        let plan = self
            .process_message(&env, None, Arc::new(msg), Some(release))
            .await?;
        if let Some((_, why)) = plan.rejected.first() {
            let why = why.clone();
            self.store.held_failed(id, &why).await?;
            return Err(AppError::Invalid(format!(
                "held message {id} cannot be released yet: {why}; add a certificate for {}, or release it with --clear to allow clear text",
                held.recipient
            )));
        }
        Ok(ReleasePlan { held, plan })
    }

    /// The release was accepted by the next hop: the message leaves the hold queue.
    pub async fn hold_released(&self, id: i64) -> Result<()> {
        self.store.held_delete(id).await?;
        Ok(())
    }

    /// A release the next hop did not take: kept, with the reason.
    pub async fn hold_release_failed(&self, id: i64, why: &str) -> Result<()> {
        self.store.held_failed(id, why).await?;
        Ok(())
    }

    /// Held messages past their expiry, with their bytes (for the notice).
    pub async fn hold_expired(&self, now: i64) -> Result<Vec<(HeldRow, Vec<u8>)>> {
        let mut out = Vec::new();
        for row in self.store.held_expired(now, 100).await? {
            if let Some((row, stored)) = self.store.held_get(row.id).await? {
                let msg = self.unseal_held(&row, stored).await?;
                out.push((row, msg));
            }
        }
        Ok(out)
    }
}
