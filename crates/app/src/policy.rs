//! Users, domains and global settings with inheritance, and the selection of encryption,
//! signing and additional certificates (the reference's "certificate selection").
//!
//! Resolution order for every setting: user -> domain (exact) -> wildcard parents
//! (`*.b.example.com`, `*.example.com`, ...) -> global -> factory default. Each resolved
//! value names where it came from.

use certmail_pki::verify::Purpose;
use certmail_store::{Party, SelectionKind};
use serde::Serialize;

use crate::error::AppError;
use crate::trust::Verdict;
use crate::{App, CertView, Result};

pub use crate::settings::{
    Check, Group, SETTINGS, Scope, SettingDef, header_trigger, min_rsa_bits,
};

/// Whether certmail signs with this certificate's key: RSA of 2,048 bits or more, EC and
/// Ed25519. DSA and older RSA keys are read (their mail verifies and decrypts) but never sign;
/// X25519 keys only agree on keys.
fn signs(v: &CertView) -> bool {
    match &v.cert.public_key {
        certmail_pki::KeyAlgorithm::Rsa { bits } => *bits >= 2048,
        certmail_pki::KeyAlgorithm::Ec { .. } | certmail_pki::KeyAlgorithm::Ed25519 => true,
        _ => false,
    }
}

fn unsigning_reason(v: &CertView) -> String {
    format!("certmail does not sign with a {} key", v.cert.public_key)
}

/// Settings whose value is a URL that may carry a credential (`https://user:pw@host`,
/// `?token=...`): shown to auditors and written to the audit log masked.
pub const URL_SETTINGS: &[&str] = &["sms-webhook-url"];

/// A URL with its credentials masked: the userinfo's password and every query value become
/// `***` (keys stay, so the reader sees what is there). Other text is returned as it is.
pub fn mask_credentials(v: &str) -> String {
    let Some((scheme, rest)) = v.split_once("://") else {
        return v.to_owned();
    };
    let (before_query, query) = match rest.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (rest, None),
    };
    let (authority, path) = match before_query.find('/') {
        Some(i) => (&before_query[..i], &before_query[i..]),
        None => (before_query, ""),
    };
    let authority = match authority.rsplit_once('@') {
        Some((user, host)) => {
            let user = user.split_once(':').map_or(user, |(u, _)| u);
            format!("{user}:***@{host}")
        }
        None => authority.to_owned(),
    };
    let mut out = format!("{scheme}://{authority}{path}");
    if let Some(q) = query {
        let (q, fragment) = q.split_once('#').map_or((q, None), |(a, f)| (a, Some(f)));
        let masked: Vec<String> = q
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) => format!("{k}=***"),
                None => kv.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&masked.join("&"));
        if let Some(f) = fragment {
            out.push('#');
            out.push_str(f);
        }
    }
    out
}

/// A setting's value as shown to someone who may not see credentials (`reveal` false).
pub fn shown_value(key: &str, value: &str, reveal: bool) -> String {
    if !reveal && URL_SETTINGS.contains(&key) {
        mask_credentials(value)
    } else {
        value.to_owned()
    }
}

fn def(key: &str) -> Result<&'static SettingDef> {
    SETTINGS.iter().find(|d| d.key == key).ok_or_else(|| {
        AppError::Invalid(format!(
            "unknown setting {key:?}; known: {}",
            SETTINGS
                .iter()
                .map(|d| d.key)
                .collect::<Vec<_>>()
                .join(", ")
        ))
    })
}

/// A resolved setting and where it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Resolved {
    /// Key.
    pub key: &'static str,
    /// Value (`(set)` for secrets).
    pub value: String,
    /// `user`, `domain example.com`, `domain *.example.com`, `global` or `default`.
    pub source: String,
}

/// What deleting a user or domain removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartyDeleted {
    /// The e-mail address or domain, normalised.
    pub name: String,
    /// Settings deleted.
    pub settings: u64,
    /// Certificate selections deleted (the certificates stay).
    pub selections: u64,
}

/// A certificate in use, with where its selection came from.
#[derive(Debug, Clone, Serialize)]
pub struct CertUse {
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// `automatic`, `user`, `domain example.com`, `additional (global)`, ...
    pub source: String,
}

/// A candidate that is not used, with the reason.
#[derive(Debug, Clone, Serialize)]
pub struct Excluded {
    /// SHA-256 thumbprint.
    pub sha256: String,
    /// Subject (empty when the certificate is gone).
    pub subject: String,
    /// Where it was selected.
    pub source: String,
    /// Why it is not used.
    pub reason: String,
}

/// Everything the gateway needs for one address.
#[derive(Debug, Clone, Serialize)]
pub struct Recipient {
    /// The address (lower case).
    pub email: String,
    /// Resolved settings.
    pub settings: Vec<Resolved>,
    /// Certificates to encrypt to (selected + inherited + additional).
    pub encryption: Vec<CertUse>,
    /// Candidates not used for encryption.
    pub encryption_excluded: Vec<Excluded>,
    /// The signing certificate.
    pub signing: Option<CertUse>,
    /// Candidates not used for signing.
    pub signing_excluded: Vec<Excluded>,
}

/// Normalises and checks an e-mail address.
pub fn normalise_email(e: &str) -> Result<String> {
    let e = e.trim().to_lowercase();
    match e.rsplit_once('@') {
        Some((l, d))
            if !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.') =>
        {
            Ok(e)
        }
        _ => Err(AppError::Invalid(format!("{e:?} is not an e-mail address"))),
    }
}

/// Normalises and checks a domain (`example.com` or `*.example.com`).
pub fn normalise_domain(d: &str) -> Result<String> {
    let d = d.trim().trim_end_matches('.').to_lowercase();
    let body = d.strip_prefix("*.").unwrap_or(&d);
    if body.is_empty()
        || body
            .split('.')
            .any(|l| l.is_empty() || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(AppError::Invalid(format!("{d:?} is not a domain")));
    }
    Ok(d)
}

/// The parties a user inherits from, most specific first.
pub fn chain_for_user(email: &str) -> Vec<Party> {
    let mut out = vec![Party::User(email.to_owned())];
    if let Some((_, domain)) = email.rsplit_once('@') {
        out.extend(chain_for_domain(domain));
    } else {
        out.push(Party::Global);
    }
    out
}

/// The parties a domain inherits from: itself, its wildcard parents nearest first
/// (`a.b.example.com` -> `*.b.example.com`, `*.example.com`, `*.com`), then global.
pub fn chain_for_domain(domain: &str) -> Vec<Party> {
    let mut out = vec![Party::Domain(domain.to_owned())];
    let mut rest = domain.strip_prefix("*.").unwrap_or(domain);
    while let Some((_, parent)) = rest.split_once('.') {
        out.push(Party::Domain(format!("*.{parent}")));
        rest = parent;
    }
    out.push(Party::Global);
    out
}

/// The `source` a [`Resolved`] value names for a party.
pub fn source_of(p: &Party) -> String {
    source(p)
}

fn source(p: &Party) -> String {
    match p {
        Party::Global => "global".into(),
        Party::Domain(d) => format!("domain {d}"),
        Party::User(_) => "user".into(),
    }
}

impl App {
    fn seal_setting(&self, party: &Party, key: &str, value: &str) -> Result<String> {
        let (scope, name) = party.key();
        let aad = format!("setting:{key}:{scope}:{name}");
        Ok(hex::encode(
            self.kek.seal(value.as_bytes(), aad.as_bytes())?,
        ))
    }

    /// Reads a secret setting (e.g. the last-used PKCS#12 password) for a user, resolved.
    pub async fn secret_setting(
        &self,
        email: &str,
        key: &str,
    ) -> Result<Option<zeroize::Zeroizing<String>>> {
        let email = normalise_email(email)?;
        let chain = chain_for_user(&email);
        let rows = self.store.settings_of(&chain).await?;
        for p in &chain {
            if let Some(r) = rows.iter().find(|r| &r.party == p && r.key == key) {
                let (scope, name) = p.key();
                let aad = format!("setting:{key}:{scope}:{name}");
                let sealed = hex::decode(&r.value).map_err(|e| AppError::Corrupt {
                    what: "secret setting",
                    reason: e.to_string(),
                })?;
                let plain = self.kek.open(&sealed, aad.as_bytes())?;
                return Ok(Some(zeroize::Zeroizing::new(
                    String::from_utf8_lossy(&plain).into_owned(),
                )));
            }
        }
        Ok(None)
    }

    /// User (`user`) or domain (`domain`) objects by name, paged.
    pub async fn parties(
        &self,
        scope: &str,
        search: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<Vec<String>> {
        Ok(self.store.parties(scope, search, limit, offset).await?)
    }

    /// Creates a user or domain object (no settings: everything inherited).
    pub async fn add_party(&self, party: &Party) -> Result<()> {
        Ok(self.store.ensure_party(party, crate::now()).await?)
    }

    /// Deletes a user or domain: its object, settings and selections, in one transaction
    /// (the CLI, the API and the pages all delete through this). An unknown one is
    /// [`certmail_store::StoreError::NotFound`]; the global settings cannot be deleted.
    pub async fn delete_party(&self, party: &Party) -> Result<PartyDeleted> {
        let (what, name) = match party {
            Party::User(e) => ("users", e),
            Party::Domain(d) => ("domains", d),
            Party::Global => {
                return Err(AppError::Invalid(
                    "the global settings cannot be deleted (unset them one by one)".into(),
                ));
            }
        };
        match self.store.delete_party(party).await? {
            Some((settings, selections)) => Ok(PartyDeleted {
                name: name.clone(),
                settings,
                selections,
            }),
            None => Err(certmail_store::StoreError::NotFound {
                what,
                id: name.clone(),
            }
            .into()),
        }
    }

    /// Sets a setting for a party (creating the user/domain object).
    pub async fn set_setting(&self, party: &Party, key: &str, value: &str) -> Result<()> {
        let d = def(key)?;
        if d.global_only() && *party != Party::Global {
            return Err(AppError::Invalid(format!(
                "{key} is a global setting: set it with `global set {key} VALUE`"
            )));
        }
        if d.scope == crate::settings::Scope::User && !matches!(party, Party::User(_)) {
            return Err(AppError::Invalid(format!(
                "{key} is a user's setting: set it with `user set ADDRESS {key} VALUE`"
            )));
        }
        let stored = if d.secret {
            self.seal_setting(party, key, value)?
        } else if let Some(check) = d.check {
            check(value).map_err(|why| AppError::Invalid(format!("{key} {why}")))?;
            value.to_owned()
        } else if d.values.contains(&value) {
            value.to_owned()
        } else {
            return Err(AppError::Invalid(format!(
                "{key} must be one of {}",
                d.values.join(", ")
            )));
        };
        self.store.ensure_party(party, crate::now()).await?;
        self.store.set_setting(party, key, &stored).await?;
        self.setting_changed(key).await
    }

    /// Resets a setting to "inherit".
    pub async fn unset_setting(&self, party: &Party, key: &str) -> Result<bool> {
        def(key)?;
        let removed = self.store.unset_setting(party, key).await?;
        self.setting_changed(key).await?;
        Ok(removed)
    }

    /// Settings that change verdicts renew the trust generation (verdict caches drop).
    async fn setting_changed(&self, key: &str) -> Result<()> {
        if key == crate::settings::MIN_RSA_BITS.key {
            self.store.bump_trust_generation().await?;
        }
        Ok(())
    }

    /// Resolves every setting along `chain` (most specific first).
    pub async fn resolve_chain(&self, chain: &[Party]) -> Result<Vec<Resolved>> {
        let rows = self.store.settings_of(chain).await?;
        Ok(SETTINGS
            .iter()
            .map(|d| {
                for p in chain {
                    if let Some(r) = rows.iter().find(|r| &r.party == p && r.key == d.key) {
                        return Resolved {
                            key: d.key,
                            value: if d.secret {
                                "(set)".into()
                            } else {
                                r.value.clone()
                            },
                            source: source(p),
                        };
                    }
                }
                Resolved {
                    key: d.key,
                    value: if d.secret {
                        "(unset)".into()
                    } else {
                        d.default.to_owned()
                    },
                    source: "default".into(),
                }
            })
            .collect())
    }

    async fn cert_by_sha(&self, sha256: &str) -> Option<CertView> {
        self.get_any(sha256)
            .await
            .ok()
            .filter(|v| v.cert.sha256 == sha256)
    }

    #[allow(clippy::too_many_arguments)]
    async fn judge(
        &self,
        sha: &str,
        src: String,
        purpose: Purpose,
        now: i64,
        (generation, min_rsa_bits): (&str, u32),
        use_: &mut Vec<CertUse>,
        excluded: &mut Vec<Excluded>,
    ) -> Result<()> {
        if use_.iter().any(|u| u.sha256 == sha) {
            return Ok(());
        }
        match self.cert_by_sha(sha).await {
            None => excluded.push(Excluded {
                sha256: sha.to_owned(),
                subject: String::new(),
                source: src,
                reason: "certificate no longer in the store".into(),
            }),
            Some(v) => {
                let verdict: Verdict = self
                    .verify_with_generation(
                        &v,
                        now,
                        purpose,
                        None,
                        generation.to_owned(),
                        min_rsa_bits,
                    )
                    .await?;
                if verdict.status == "valid" {
                    use_.push(CertUse {
                        sha256: sha.to_owned(),
                        subject: v.cert.subject.clone(),
                        source: src,
                    });
                } else {
                    excluded.push(Excluded {
                        sha256: sha.to_owned(),
                        subject: v.cert.subject.clone(),
                        source: src,
                        reason: verdict.reason,
                    });
                }
            }
        }
        Ok(())
    }

    /// Resolves one recipient: settings with their source, the certificates to encrypt to
    /// and to sign with, and why each excluded candidate is not used.
    pub async fn recipient(&self, email: &str, now: i64) -> Result<Recipient> {
        let email = normalise_email(email)?;
        self.store
            .ensure_party(&Party::User(email.clone()), now)
            .await?;
        self.recipient_lookup(&email, now).await
    }

    /// [`App::recipient`] without creating the user object: what the gateway asks for
    /// every address it sees (external addresses are not turned into users).
    pub async fn recipient_lookup(&self, email: &str, now: i64) -> Result<Recipient> {
        let email = normalise_email(email)?;
        let chain = chain_for_user(&email);
        let settings = self.resolve_chain(&chain).await?;
        let min_rsa = min_rsa_bits(&settings);
        let generation = self.store.trust_generation().await?;
        let selections = self.store.selections_all(&chain).await?;
        let selected = |kinds: &[SelectionKind], parties: &[Party]| -> Vec<(Party, String)> {
            selections
                .iter()
                .filter(|(p, k, _)| kinds.contains(k) && parties.contains(p))
                .map(|(p, _, s)| (p.clone(), s.clone()))
                .collect()
        };
        let auto = settings
            .iter()
            .any(|r| r.key == "auto-select" && r.value == "on");
        let mut encryption = Vec::new();
        let mut enc_excluded = Vec::new();
        let matching = self.find_by_email(&email).await?;
        if auto {
            for v in &matching {
                let verdict = self
                    .verify_with_generation(
                        v,
                        now,
                        Purpose::SmimeEncrypt,
                        Some(&email),
                        generation.clone(),
                        min_rsa,
                    )
                    .await?;
                if verdict.status == "valid" {
                    encryption.push(CertUse {
                        sha256: v.cert.sha256.clone(),
                        subject: v.cert.subject.clone(),
                        source: "automatic".into(),
                    });
                } else {
                    enc_excluded.push(Excluded {
                        sha256: v.cert.sha256.clone(),
                        subject: v.cert.subject.clone(),
                        source: "automatic".into(),
                        reason: verdict.reason,
                    });
                }
            }
        }
        // Manually selected encryption certificates: the user's, and those inherited from
        // the domain and its wildcard parents.
        let no_global: Vec<Party> = chain
            .iter()
            .filter(|p| **p != Party::Global)
            .cloned()
            .collect();
        for (p, sha) in selected(&[SelectionKind::Encryption], &no_global) {
            self.judge(
                &sha,
                source(&p),
                Purpose::SmimeEncrypt,
                now,
                (&generation, min_rsa),
                &mut encryption,
                &mut enc_excluded,
            )
            .await?;
        }
        for (p, sha) in selected(&[SelectionKind::Additional], &chain) {
            self.judge(
                &sha,
                format!("additional ({})", source(&p)),
                Purpose::SmimeEncrypt,
                now,
                (&generation, min_rsa),
                &mut encryption,
                &mut enc_excluded,
            )
            .await?;
        }
        enc_excluded.retain(|e| !encryption.iter().any(|u| u.sha256 == e.sha256));

        // Signing: the manual choice if usable, else automatic (valid, matching, with key;
        // the one valid longest, then the lowest thumbprint).
        let mut signing = None;
        let mut sign_excluded = Vec::new();
        let manual = selected(&[SelectionKind::Signing], &chain[..1]);
        for (_, sha) in manual {
            let mut used = Vec::new();
            self.judge(
                &sha,
                "user".into(),
                Purpose::SmimeSign,
                now,
                (&generation, min_rsa),
                &mut used,
                &mut sign_excluded,
            )
            .await?;
            match (used.pop(), self.cert_by_sha(&sha).await) {
                (Some(u), Some(v)) if v.has_key && signs(&v) => signing = Some(u),
                (Some(u), Some(v)) if v.has_key => sign_excluded.push(Excluded {
                    sha256: u.sha256,
                    subject: u.subject,
                    source: "user".into(),
                    reason: unsigning_reason(&v),
                }),
                (Some(u), _) => sign_excluded.push(Excluded {
                    sha256: u.sha256,
                    subject: u.subject,
                    source: "user".into(),
                    reason: "no private key".into(),
                }),
                _ => {}
            }
        }
        if signing.is_none() && auto {
            let mut best: Option<&CertView> = None;
            for v in &matching {
                if !v.has_key || !signs(v) {
                    sign_excluded.push(Excluded {
                        sha256: v.cert.sha256.clone(),
                        subject: v.cert.subject.clone(),
                        source: "automatic".into(),
                        reason: if v.has_key {
                            unsigning_reason(v)
                        } else {
                            "no private key".into()
                        },
                    });
                    continue;
                }
                let verdict = self
                    .verify_with_generation(
                        v,
                        now,
                        Purpose::SmimeSign,
                        Some(&email),
                        generation.clone(),
                        min_rsa,
                    )
                    .await?;
                if verdict.status != "valid" {
                    sign_excluded.push(Excluded {
                        sha256: v.cert.sha256.clone(),
                        subject: v.cert.subject.clone(),
                        source: "automatic".into(),
                        reason: verdict.reason,
                    });
                    continue;
                }
                let better = best.is_none_or(|b| {
                    (v.cert.not_after, std::cmp::Reverse(&v.cert.sha256))
                        > (b.cert.not_after, std::cmp::Reverse(&b.cert.sha256))
                });
                if better {
                    best = Some(v);
                }
            }
            signing = best.map(|v| CertUse {
                sha256: v.cert.sha256.clone(),
                subject: v.cert.subject.clone(),
                source: "automatic".into(),
            });
        }
        Ok(Recipient {
            email,
            settings,
            encryption,
            encryption_excluded: enc_excluded,
            signing,
            signing_excluded: sign_excluded,
        })
    }

    /// Manually selects a certificate. Signing selections need a private key.
    pub async fn select(
        &self,
        party: &Party,
        kind: SelectionKind,
        thumbprint: &str,
    ) -> Result<CertView> {
        let v = self
            .get(certmail_store::StoreKind::Certificates, thumbprint)
            .await?;
        if kind == SelectionKind::Signing && !v.has_key {
            return Err(AppError::Invalid(format!(
                "{} has no private key: only certificates with a key can sign",
                v.cert.sha256
            )));
        }
        if kind == SelectionKind::Signing && !matches!(party, Party::User(_)) {
            return Err(AppError::Invalid(
                "a signing certificate is selected per user".into(),
            ));
        }
        self.store.ensure_party(party, crate::now()).await?;
        self.store.select(party, kind, &v.cert.sha256).await?;
        Ok(v)
    }

    /// Removes a manual selection. Automatically selected certificates cannot be deselected.
    pub async fn deselect(
        &self,
        party: &Party,
        kind: SelectionKind,
        thumbprint: Option<&str>,
    ) -> Result<u64> {
        let sha = match thumbprint {
            Some(t) => Some(
                self.get(certmail_store::StoreKind::Certificates, t)
                    .await?
                    .cert
                    .sha256,
            ),
            None => None,
        };
        let n = self.store.deselect(party, kind, sha.as_deref()).await?;
        if n == 0
            && let (Some(s), Party::User(email), SelectionKind::Encryption) = (&sha, party, kind)
        {
            let r = self.recipient(email, crate::now()).await?;
            if r.encryption
                .iter()
                .any(|u| &u.sha256 == s && u.source == "automatic")
            {
                return Err(AppError::Invalid(format!(
                    "{s} is selected automatically (valid, with a matching address) and cannot be deselected; set auto-select off for {email} to use manual selection only"
                )));
            }
        }
        Ok(n)
    }

    /// Manual selections of a party (its own, not inherited).
    pub async fn selections(&self, party: &Party, kind: SelectionKind) -> Result<Vec<String>> {
        Ok(self
            .store
            .selections_of(std::slice::from_ref(party), kind)
            .await?
            .into_iter()
            .map(|(_, s)| s)
            .collect())
    }
}

impl App {
    /// The value of a global setting (its factory default when unset).
    pub async fn global_setting(&self, setting: &crate::settings::SettingDef) -> Result<String> {
        let key = setting.key;
        Ok(self
            .resolve_chain(&[Party::Global])
            .await?
            .into_iter()
            .find(|r| r.key == key)
            .map(|r| r.value)
            .unwrap_or_default())
    }

    /// The global `fetch-allow` list (ARCHITECTURE.md, trust boundaries).
    pub async fn fetch_allow(&self) -> Result<crate::fetch_guard::AllowList> {
        let v = self.global_setting(&crate::settings::FETCH_ALLOW).await?;
        crate::fetch_guard::AllowList::parse(&v)
            .map_err(|why| AppError::Invalid(format!("fetch-allow {why}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_urls_are_masked() {
        assert_eq!(
            mask_credentials("https://sms.example/send?token=s3cret&to=x#f"),
            "https://sms.example/send?token=***&to=***#f"
        );
        assert_eq!(
            mask_credentials("https://bot:pa55@sms.example:8443/hook"),
            "https://bot:***@sms.example:8443/hook"
        );
        assert_eq!(
            mask_credentials("https://sms.example/hook"),
            "https://sms.example/hook"
        );
        assert_eq!(mask_credentials(""), "");
        assert_eq!(
            shown_value("sms-webhook-url", "http://a/?k=v", false),
            "http://a/?k=***"
        );
        assert_eq!(
            shown_value("sms-webhook-url", "http://a/?k=v", true),
            "http://a/?k=v"
        );
        assert_eq!(shown_value("phone", "+49 1", false), "+49 1");
    }

    #[test]
    fn inheritance_chains() {
        let d = |s: &str| Party::Domain(s.into());
        assert_eq!(
            chain_for_user("x@a.b.example.com"),
            vec![
                Party::User("x@a.b.example.com".into()),
                d("a.b.example.com"),
                d("*.b.example.com"),
                d("*.example.com"),
                d("*.com"),
                Party::Global
            ]
        );
        assert_eq!(
            chain_for_domain("*.example.com"),
            vec![d("*.example.com"), d("*.com"), Party::Global]
        );
        assert!(normalise_email("Bob@Example.COM").is_ok_and(|e| e == "bob@example.com"));
        assert!(normalise_email("nobody").is_err());
        assert!(normalise_domain("*.Example.com.").is_ok_and(|d| d == "*.example.com"));
        assert!(normalise_domain("exa mple.com").is_err());
    }
}
