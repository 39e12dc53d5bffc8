//! Expiry warnings: which certificates are due a warning (one per threshold, never a
//! flood), and the warning mail itself.

use crate::{App, CertView, Result};

/// The thresholds in days, largest first (the reference's 30, 14, 7 and 1).
pub const THRESHOLDS: [i64; 4] = [30, 14, 7, 1];

/// How the expiry job watches a certificate: `root`, `ca`, or `user` (one with its
/// private key).
pub fn watch_kind(v: &CertView) -> &'static str {
    if v.store == "roots" {
        "root"
    } else if v.cert.is_ca() {
        "ca"
    } else {
        "user"
    }
}

/// One line of `certmail expiry --json` and `GET /api/v1/expiry`.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExpiryRow {
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// See [`watch_kind`].
    pub kind: &'static str,
    /// Subject.
    pub subject: String,
    /// E-mail addresses.
    pub emails: Vec<String>,
    /// notAfter, RFC 3339.
    pub not_after: String,
    /// Whole days left.
    pub days_left: i64,
    /// Whether its private key is held.
    pub has_key: bool,
}

/// A warning due for one certificate.
#[derive(Debug, Clone)]
pub struct Warning {
    /// The certificate.
    pub cert: CertView,
    /// The threshold crossed (the smallest one its remaining days are within).
    pub threshold: i64,
    /// Whole days left.
    pub days_left: i64,
    /// `user` (with a private key), `ca` or `root`.
    pub kind: &'static str,
}

impl App {
    /// What will expire within `days` (see [`App::expiry`]) as listed to people and scripts.
    pub async fn expiry_rows(&self, days: i64, limit: i64) -> Result<Vec<ExpiryRow>> {
        let now = crate::now();
        Ok(self
            .expiry(days, limit)
            .await?
            .into_iter()
            .map(|v| ExpiryRow {
                kind: watch_kind(&v),
                sha256: v.cert.sha256.clone(),
                subject: v.cert.subject.clone(),
                emails: v.cert.emails.clone(),
                not_after: certmail_pki::time::format_rfc3339(v.cert.not_after),
                days_left: (v.cert.not_after - now) / 86_400,
                has_key: v.has_key,
            })
            .collect())
    }

    /// Certificates watched by the expiry job that crossed a threshold not yet warned
    /// about. A certificate first seen at 5 days left gets the 7-day warning only: the
    /// larger thresholds are recorded with it when it is sent, so nothing is sent twice.
    pub async fn expiry_warnings_due(&self, now: i64) -> Result<Vec<Warning>> {
        let mut out = Vec::new();
        for v in self.expiry(THRESHOLDS[0], 10_000).await? {
            let days_left = (v.cert.not_after - now).div_euclid(86_400);
            let Some(threshold) = THRESHOLDS.iter().copied().filter(|t| days_left < *t).min()
            else {
                continue;
            };
            if self
                .store
                .expiry_notices(&v.cert.sha256)
                .await?
                .iter()
                .any(|t| *t <= threshold)
            {
                continue;
            }
            out.push(Warning {
                kind: watch_kind(&v),
                cert: v,
                threshold,
                days_left,
            });
        }
        Ok(out)
    }

    /// Records a warning as sent, with every larger threshold.
    pub async fn expiry_warning_sent(&self, w: &Warning, now: i64) -> Result<()> {
        let ts: Vec<i64> = THRESHOLDS
            .iter()
            .copied()
            .filter(|t| *t >= w.threshold)
            .collect();
        Ok(self
            .store
            .record_expiry_notices(&w.cert.cert.sha256, &ts, now)
            .await?)
    }
}

/// The warning mail (plain text, one message to all `to`).
pub fn warning_mail(hostname: &str, from: &str, to: &[String], w: &Warning, now: i64) -> Vec<u8> {
    let c = &w.cert.cert;
    let what = match w.kind {
        "root" => "trusted root certificate",
        "ca" => "CA certificate",
        _ => "S/MIME certificate",
    };
    let who = c
        .emails
        .first()
        .cloned()
        .unwrap_or_else(|| c.subject.clone());
    let when = certmail_pki::time::format_rfc3339(c.not_after);
    let date = certmail_pki::time::format_rfc3339(now);
    let stamp = crate::mailflow::mail_stamp(hostname, now);
    // The subject names the certificate, whose text is anyone's: encoded and folded.
    let subject = certmail_smime::mime::encode_header(
        "Subject",
        &format!("{what} expires in {} day(s): {who}", w.days_left),
    );
    // Body lines quote certificate fields: each kept well under 998 characters.
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|ch| !ch.is_control() && !certmail_smime::mime::is_bidi_control(*ch))
            .take(900)
            .collect()
    };
    format!(
        "From: certmail <{from}>\r\n\
         To: {}\r\n\
         {stamp}\
         {subject}\
         Auto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         This is certmail at {hostname} ({date}).\r\n\
         \r\n\
         The {what} below expires on {when}, in {} day(s).\r\n\
         \r\n\
         Subject:    {}\r\n\
         Issuer:     {}\r\n\
         E-mail:     {}\r\n\
         Thumbprint: {}\r\n\
         \r\n\
         Renew it before then: mail to or from this address cannot be signed or encrypted\r\n\
         with an expired certificate.\r\n",
        to.iter()
            .map(|t| format!("<{}>", clean(t)))
            .collect::<Vec<_>>()
            .join(", "),
        w.days_left,
        clean(&c.subject),
        clean(&c.issuer),
        clean(&c.emails.join(", ")),
        c.sha256,
    )
    .into_bytes()
}
