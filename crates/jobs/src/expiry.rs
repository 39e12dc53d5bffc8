//! The expiry job: a warning mail per certificate and threshold (30, 14, 7, 1 days) to the
//! administrator and, for a user's own certificate, to the user; sent through the next
//! hop, recorded once the next hop accepted it (a refused one is tried again next run).

use certmail_app::App;
use certmail_app::expiry::{Warning, warning_mail};
use certmail_app::mail_sender::{Extensions, Fate, MailSender};

/// Where warnings go.
#[derive(Debug, Clone)]
pub struct NotifyConfig {
    /// The administrator's address.
    pub admin: String,
    /// The sender address of the warnings.
    pub from: String,
    /// Host name in the mails.
    pub hostname: String,
}

/// What happened to one warning.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WarningOutcome {
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// `user`, `ca` or `root`.
    pub kind: &'static str,
    /// The threshold crossed.
    pub threshold: i64,
    /// Days left.
    pub days_left: i64,
    /// Recipients.
    pub to: Vec<String>,
    /// `sent`, or `failed` with the next hop's answer in `problem`.
    pub status: &'static str,
    /// Why it failed.
    pub problem: Option<String>,
}

/// Sends the warnings that are due.
pub async fn notify(
    app: &App,
    relay: &dyn MailSender,
    cfg: &NotifyConfig,
) -> Result<Vec<WarningOutcome>, certmail_app::AppError> {
    let now = certmail_app::now();
    let mut out = Vec::new();
    for w in app.expiry_warnings_due(now).await? {
        let to = recipients(&w, &cfg.admin);
        let mail = warning_mail(&cfg.hostname, &cfg.from, &to, &w, now);
        let fates = relay
            .send(
                &cfg.from,
                &to,
                &[&mail],
                Extensions {
                    eight_bit: true,
                    smtputf8: false,
                },
            )
            .await;
        let refused: Vec<String> = fates
            .iter()
            .filter_map(|f| match f {
                Fate::Accepted(_) => None,
                Fate::Temporary(e) | Fate::Permanent(e) => Some(e.clone()),
            })
            .collect();
        let sent = refused.is_empty();
        if sent {
            app.expiry_warning_sent(&w, now).await?;
        }
        out.push(WarningOutcome {
            sha256: w.cert.cert.sha256.clone(),
            kind: w.kind,
            threshold: w.threshold,
            days_left: w.days_left,
            to,
            status: if sent { "sent" } else { "failed" },
            problem: (!sent).then(|| refused.join("; ")),
        });
    }
    Ok(out)
}

/// The administrator, and the user for a user's own certificate.
fn recipients(w: &Warning, admin: &str) -> Vec<String> {
    let mut to = vec![admin.to_owned()];
    if w.kind == "user"
        && let Some(e) = w.cert.cert.emails.first()
        && !e.eq_ignore_ascii_case(admin)
    {
        to.push(e.clone());
    }
    to
}
