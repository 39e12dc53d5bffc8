//! The auto-renew job: renews what `App::auto_renew_due` says is due, then hands each new
//! certificate and key to the send-certificates path, the password by SMS (the user's
//! `phone` through `sms-webhook-url`). Without a phone or a webhook the renewal stands
//! (the gateway uses the new key at once) and the reason it was not sent is recorded and
//! shown; `certmail ca send` can send it later.

use certmail_app::ca_send::{PasswordTo, SendRequest};
use certmail_app::mail_sender::MailSender;
use certmail_app::{App, AppError};

/// What the job did with one certificate.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RenewOutcome {
    /// The certificate renewed.
    pub old: String,
    /// Its successor.
    pub new: Option<String>,
    /// The owner.
    pub email: String,
    /// `sent` (the PKCS#12 went out, its password by SMS), `renewed` (not sent: see
    /// `problem`), `failed` (not renewed: see `problem`) or `skipped` (another run has it).
    pub status: &'static str,
    /// Why.
    pub problem: Option<String>,
}

/// Runs the job once as of `now`.
pub async fn run(
    app: &App,
    relay: &dyn MailSender,
    now: i64,
) -> Result<Vec<RenewOutcome>, AppError> {
    let mut out = Vec::new();
    for due in app.auto_renew_due(now).await? {
        let old = due.cert.cert.sha256.clone();
        let new = match app.auto_renew_one(&due, now).await {
            Ok(Some(v)) => v,
            Ok(None) => {
                out.push(RenewOutcome {
                    old,
                    new: None,
                    email: due.email,
                    status: "skipped",
                    problem: None,
                });
                continue;
            }
            Err(AppError::Store(e)) => return Err(AppError::Store(e)),
            Err(e) => {
                out.push(RenewOutcome {
                    old,
                    new: None,
                    email: due.email,
                    status: "failed",
                    problem: Some(e.to_string()),
                });
                continue;
            }
        };
        let req = SendRequest {
            thumbprints: vec![new.cert.sha256.clone()],
            to: due.email.clone(),
            password: None,
            password_to: PasswordTo::Sms,
            store_password: false,
            allow_mismatch: false,
            legacy: false,
        };
        let problem = match app.ca_send_prepare(&req).await {
            Ok(p) => {
                let o = crate::ca_send::send(relay, p).await;
                match (o.mail, o.password_problem) {
                    (Err(e), _) => Some(format!("the PKCS#12 mail was not accepted: {e}")),
                    (Ok(()), Some(p)) => Some(format!(
                        "the PKCS#12 went out but its password did not: {p}"
                    )),
                    (Ok(()), None) => None,
                }
            }
            Err(AppError::Store(e)) => return Err(AppError::Store(e)),
            Err(e) => Some(format!("not sent: {e}")),
        };
        app.auto_renew_sent(&old, now, problem.as_deref()).await?;
        out.push(RenewOutcome {
            old,
            new: Some(new.cert.sha256),
            email: due.email,
            status: if problem.is_none() { "sent" } else { "renewed" },
            problem,
        });
    }
    Ok(out)
}
