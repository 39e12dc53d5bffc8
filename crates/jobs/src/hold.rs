//! The hold queue's network side: a release hands the re-processed copies to the next hop
//! and removes the message from the queue only once every copy was accepted; the expiry
//! job drops messages past `hold-expire-days` after their sender's notice was accepted.
//! Used by `certmail hold release`, the API and `serve`'s runner alike.

use certmail_app::hold::hold_notice;
use certmail_app::mail_sender::{Extensions, Fate, MailSender};
use certmail_app::{App, AppError};

/// What a release did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseOutcome {
    /// The hold-queue id.
    pub id: i64,
    /// The recipient.
    pub recipient: String,
    /// What was done to the copy: `encrypted`, `signed-encrypted`, `plain`, `signed`, ...
    pub action: String,
    /// `released` (the next hop has it; gone from the queue) or `failed` (still held).
    pub status: &'static str,
    /// Why it failed.
    pub problem: Option<String>,
}

fn refused(fates: &[Fate]) -> Vec<String> {
    fates
        .iter()
        .filter_map(|f| match f {
            Fate::Accepted(_) => None,
            Fate::Temporary(e) | Fate::Permanent(e) => Some(e.clone()),
        })
        .collect()
}

/// Releases held message `id`: encrypted (an error while its recipient still has no usable
/// certificate), or with `clear`, encrypted if possible and otherwise in clear.
pub async fn release(
    app: &App,
    relay: &dyn MailSender,
    id: i64,
    clear: bool,
) -> Result<ReleaseOutcome, AppError> {
    let gateway_id = format!("HOLD{id}.{:X}", certmail_app::now());
    let r = app.hold_release_plan(id, clear, &gateway_id).await?;
    let action = r
        .plan
        .outcomes
        .iter()
        .map(|o| o.action)
        .collect::<Vec<_>>()
        .join(",");
    let mut problems = Vec::new();
    for copy in &r.plan.copies {
        let (head, body) = copy.parts();
        let fates = relay
            .send(
                &r.held.sender,
                &copy.recipients,
                &[head, body],
                Extensions {
                    eight_bit: true,
                    smtputf8: false,
                },
            )
            .await;
        problems.extend(refused(&fates));
    }
    if r.plan.copies.is_empty() {
        problems.push("nothing to send".into());
    }
    if problems.is_empty() {
        app.hold_released(id).await?;
    } else {
        app.hold_release_failed(id, &problems.join("; ")).await?;
    }
    Ok(ReleaseOutcome {
        id,
        recipient: r.held.recipient,
        action,
        status: if problems.is_empty() {
            "released"
        } else {
            "failed"
        },
        problem: (!problems.is_empty()).then(|| problems.join("; ")),
    })
}

/// Drops the held messages past their expiry at `now`, each once its sender was told (a
/// null sender gets no notice; a sender whose address the next hop refuses for good is
/// not waited for). Returns the ids dropped.
pub async fn expire(
    app: &App,
    relay: &dyn MailSender,
    hostname: &str,
    now: i64,
) -> Result<Vec<i64>, AppError> {
    let mut out = Vec::new();
    for (row, msg) in app.hold_expired(now).await? {
        if !row.sender.is_empty() {
            let items = [(row.recipient.clone(), row.reason.clone(), row.id)];
            let notice = hold_notice(hostname, &row.sender, &items, &msg, true, now);
            let fates = relay
                .send(
                    "",
                    std::slice::from_ref(&row.sender),
                    &[&notice],
                    Extensions::default(),
                )
                .await;
            // A permanent refusal (the sender's address is gone) does not keep the message.
            if matches!(fates.first(), Some(Fate::Temporary(_)) | None) {
                continue;
            }
        }
        app.hold_delete(row.id).await?;
        out.push(row.id);
    }
    Ok(out)
}
