//! Automatic renewal (`auto-renew`): certificates of internal users issued by a certmail CA
//! are renewed `auto-renew-days` before they expire, with a new key, once each (a claim row
//! per certificate in `renewals`, so restarts and other nodes do not renew twice). The new
//! key and certificate go into the stores at once (the gateway signs and decrypts with them
//! from the next message); handing the PKCS#12 to the user is the send-certificates path,
//! done by the caller (`certmail-jobs`).

use certmail_store::RenewalRow;

use crate::policy::chain_for_user;
use crate::{App, CertView, Result};

/// A certificate due for renewal.
#[derive(Debug, Clone)]
pub struct RenewalDue {
    /// The certificate.
    pub cert: CertView,
    /// Its owner (first address).
    pub email: String,
    /// Whole days left at the time asked about.
    pub days_left: i64,
}

impl App {
    /// Users' certificates with a key, issued by a certmail CA, whose owner has
    /// `auto-renew on` and that expire within `auto-renew-days` of `now`, not yet renewed.
    pub async fn auto_renew_due(&self, now: i64) -> Result<Vec<RenewalDue>> {
        let mut out = Vec::new();
        for s in self
            .store
            .expiring_watched(now, now + 365 * 86_400, 10_000)
            .await?
        {
            let v = self.view(s)?;
            if v.store == "roots" || v.cert.is_ca() || !v.has_key {
                continue;
            }
            let Some(email) = v.cert.emails.first().cloned() else {
                continue;
            };
            let settings = self.resolve_chain(&chain_for_user(&email)).await?;
            let get = |d: &crate::settings::SettingDef| {
                settings
                    .iter()
                    .find(|r| r.key == d.key)
                    .map(|r| r.value.clone())
                    .unwrap_or_default()
            };
            if get(&crate::settings::AUTO_RENEW) != "on" {
                continue;
            }
            let days: i64 = get(&crate::settings::AUTO_RENEW_DAYS).parse().unwrap_or(14);
            let days_left = (v.cert.not_after - now).div_euclid(86_400);
            if days_left >= days {
                continue;
            }
            if self.store.renewal_known(&v.cert.sha256).await?
                || self.store.issued_by_sha256(&v.cert.sha256).await?.is_none()
            {
                continue;
            }
            out.push(RenewalDue {
                cert: v,
                email,
                days_left,
            });
        }
        Ok(out)
    }

    /// Renews one due certificate (new key, the CA configuration's validity), unless
    /// another run has claimed it: `Ok(None)` then.
    pub async fn auto_renew_one(&self, due: &RenewalDue, now: i64) -> Result<Option<CertView>> {
        if !self
            .store
            .renewal_claim(&due.cert.cert.sha256, &due.email, now)
            .await?
        {
            return Ok(None);
        }
        let days = self.ca_config().await?.validity_days;
        match self.ca_renew(&due.cert.cert.sha256, false, days).await {
            Ok(v) => {
                self.store
                    .renewal_done(
                        &due.cert.cert.sha256,
                        Some(&v.cert.sha256),
                        now,
                        false,
                        None,
                    )
                    .await?;
                Ok(Some(v))
            }
            Err(e) => {
                self.store
                    .renewal_done(
                        &due.cert.cert.sha256,
                        None,
                        now,
                        false,
                        Some(&e.to_string()),
                    )
                    .await?;
                Err(e)
            }
        }
    }

    /// Records whether the renewed certificate was sent, or why not.
    pub async fn auto_renew_sent(&self, old: &str, now: i64, problem: Option<&str>) -> Result<()> {
        Ok(self
            .store
            .renewal_done(old, None, now, problem.is_none(), problem)
            .await?)
    }

    /// The renewals done, newest first.
    pub async fn renewals(&self, limit: i64) -> Result<Vec<RenewalRow>> {
        Ok(self.store.renewals(limit).await?)
    }
}
