//! S/MIME over the stores: signers and their chains from the certificate and key stores,
//! recipients through the selection rules, decryption keys found by RecipientInfo, signer
//! trust from the trust engine, and partner certificates collected from signed mail.

use std::sync::Arc;

use certmail_crypto::PrivateKey;
use certmail_pki::Certificate;
use certmail_pki::verify::{Options, Purpose};
use certmail_smime::message::{self, Layer, Trust, UnwrapOptions, Unwrapped};
use certmail_smime::{CertId, KeyPair, SmimeError};
use certmail_store::StoreKind;

use crate::trust::Verdict;
use crate::{App, AppError, CertView, Result};

/// The signing time to judge a signer's certificate at again, given the status it got now.
pub fn judge_time(status: &str, signing_time: Option<i64>, now: i64) -> Option<i64> {
    // Re-check at the signing time only for a certificate that has expired since: a mail
    // signed while the certificate was valid stays valid to read later (as mail clients
    // do). The signing time is the signer's claim, so it is only believed when it lies in
    // the past; revocation is always taken from the CRLs held now.
    match signing_time {
        Some(t) if status == "expired" && t <= now => Some(t),
        _ => None,
    }
}

/// The verdict for a signer without a certificate.
pub fn unknown_signer() -> Trust {
    Trust {
        trusted: false,
        status: "unknown-signer".into(),
        reason: "the signer's certificate is not available".into(),
    }
}

/// The trust verdict for a signer: `now` is the trust engine's verdict at the judging time,
/// `then` its verdict at the signing time when [`judge_time`] asked for one. Shared by the
/// stores and the stateless CLI path.
pub fn signer_trust(now: Verdict, then: Option<(i64, Verdict)>) -> Trust {
    match then {
        Some((t, v)) if v.status == "valid" => Trust {
            trusted: true,
            status: v.status.to_owned(),
            reason: format!(
                "expired since signing; valid at the signing time {}",
                certmail_pki::time::format_rfc3339(t)
            ),
        },
        _ => Trust {
            trusted: now.status == "valid",
            status: now.status.to_owned(),
            reason: now.reason,
        },
    }
}

impl App {
    fn cached_key(&self, generation: &str, der: &[u8]) -> Option<Arc<KeyPair>> {
        crate::lock(&self.signers).key(generation, der)
    }

    /// A signer from the stores: the certificate (thumbprint or prefix, certificate store),
    /// its private key and its chain (for inclusion in the signature).
    pub async fn smime_signer(&self, thumbprint: &str) -> Result<(KeyPair, Vec<Certificate>)> {
        let view = self.get(StoreKind::Certificates, thumbprint).await?;
        let key = self.private_key(&view.cert).await?;
        let chain = self.chain(&view.cert).await?;
        Ok((KeyPair::new(view.cert, &key)?, chain))
    }

    /// The encryption certificates for `emails` through the selection rules. An address
    /// without any usable certificate is an error naming it and why its candidates failed.
    pub async fn smime_recipients(&self, emails: &[String], now: i64) -> Result<Vec<Certificate>> {
        let mut out: Vec<Certificate> = Vec::new();
        for e in emails {
            let r = self.recipient(e, now).await?;
            if r.encryption.is_empty() {
                let why: Vec<String> = r
                    .encryption_excluded
                    .iter()
                    .map(|x| format!("{} ({})", x.subject, x.reason))
                    .collect();
                return Err(AppError::Invalid(format!(
                    "no valid encryption certificate for {}{}",
                    r.email,
                    if why.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", why.join("; "))
                    }
                )));
            }
            for u in r.encryption {
                if !out.iter().any(|c| c.sha256 == u.sha256) {
                    out.push(self.get_any(&u.sha256).await?.cert);
                }
            }
        }
        Ok(out)
    }

    /// Key pairs from the key store for these recipient identifiers. Unsealed and parsed
    /// keys are kept per certificate while the store's generations are unchanged (parsing
    /// an RSA key checks it and costs more than the decryption).
    pub async fn smime_keys_for(&self, ids: &[CertId]) -> Result<Vec<Arc<KeyPair>>> {
        let generation = self.store.generations().await?;
        let mut out: Vec<Arc<KeyPair>> = Vec::new();
        for id in ids {
            let found = match id.store_lookup() {
                (Some((issuer, serial)), _) => {
                    self.store.find_by_issuer_serial(&issuer, &serial).await?
                }
                (_, Some(ski)) => self.store.find_by_ski(&ski).await?,
                _ => Vec::new(),
            };
            for s in found.into_iter().filter(|s| s.has_key) {
                if let Some(k) = self.cached_key(&generation, &s.der) {
                    if id.matches(&k.cert) && !out.iter().any(|o| o.cert.sha256 == k.cert.sha256) {
                        out.push(k);
                    }
                    continue;
                }
                let cert = Certificate::from_der(&s.der, &certmail_crypto::AwsLcOps)?;
                if !id.matches(&cert) || out.iter().any(|k| k.cert.sha256 == cert.sha256) {
                    continue;
                }
                let key: PrivateKey = self.private_key(&cert).await?;
                let k = Arc::new(KeyPair::new(cert, &key)?);
                {
                    let mut c = crate::lock(&self.signers);
                    c.put_key(&generation, k.clone());
                }
                out.push(k);
            }
        }
        Ok(out)
    }

    /// Unwraps every layer of `msg` with `given` keys plus any key in the key store that a
    /// RecipientInfo names, then judges every signer with the trust engine at `at` and
    /// collects the certificates of validly signed layers into the certificate store.
    pub async fn smime_unwrap<'m>(
        &self,
        msg: &'m [u8],
        given: Vec<KeyPair>,
        opts: &UnwrapOptions,
        at: i64,
    ) -> Result<Unwrapped<'m>> {
        self.smime_unwrap_keys(msg, given, true, opts, at).await
    }

    /// [`App::smime_unwrap`] with the caller's RFC 5280 inputs (policy set and flags,
    /// revocation, profile) instead of the defaults: signers are judged as
    /// `certmail verify` would judge them with the same options.
    pub async fn smime_unwrap_with_trust<'m>(
        &self,
        msg: &'m [u8],
        given: Vec<KeyPair>,
        opts: &UnwrapOptions,
        at: i64,
        trust: &Options,
    ) -> Result<Unwrapped<'m>> {
        let mut u = self.smime_unwrap_only(msg, given, true, opts).await?;
        self.smime_judge_with(&mut u, at, Some(trust)).await?;
        let collect = self.collect_mode().await?;
        self.smime_collect(&u, collect).await?;
        Ok(u)
    }

    /// [`App::smime_unwrap`], looking keys up in the key store only when `lookup` is set
    /// (strict decryption gives exactly the keys that may be used).
    pub async fn smime_unwrap_keys<'m>(
        &self,
        msg: &'m [u8],
        given: Vec<KeyPair>,
        lookup: bool,
        opts: &UnwrapOptions,
        at: i64,
    ) -> Result<Unwrapped<'m>> {
        let collect = self.collect_mode().await?;
        let policy = Judging {
            collect,
            min_rsa_bits: None,
        };
        self.smime_unwrap_collect(msg, given, lookup, opts, at, policy)
            .await
    }

    /// [`App::smime_unwrap_keys`] with the `collect-certificates` mode and the recipients'
    /// `min-rsa-bits` already known (the gateway has them from its cached settings).
    pub async fn smime_unwrap_collect<'m>(
        &self,
        msg: &'m [u8],
        given: Vec<KeyPair>,
        lookup: bool,
        opts: &UnwrapOptions,
        at: i64,
        policy: Judging,
    ) -> Result<Unwrapped<'m>> {
        let mut unwrapped = self.smime_unwrap_only(msg, given, lookup, opts).await?;
        self.smime_judge_inner(&mut unwrapped, at, None, policy.min_rsa_bits)
            .await?;
        self.smime_collect(&unwrapped, policy.collect).await?;
        Ok(unwrapped)
    }

    /// The global `collect-certificates` setting.
    pub async fn collect_mode(&self) -> Result<Collect> {
        Ok(Collect::parse(
            &self
                .global_setting(&crate::settings::COLLECT_CERTIFICATES)
                .await?,
        ))
    }

    /// Unwraps without collecting or judging.
    async fn smime_unwrap_only<'m>(
        &self,
        msg: &'m [u8],
        given: Vec<KeyPair>,
        lookup: bool,
        opts: &UnwrapOptions,
    ) -> Result<Unwrapped<'m>> {
        let keys: Vec<Arc<KeyPair>> = given.into_iter().map(Arc::new).collect();
        let (unwrapped, keys) = self.unwrap_looking_up(msg, keys, lookup, opts).await?;
        // A DSA signer whose key has no parameters takes them from the nearest DSA issuer,
        // which may be a root the message does not carry: only then are the roots asked for
        // (rare old mail; nothing is added to every other message's path).
        let inherits = unwrapped.signers().any(|s| {
            s.unsupported
                && s.failure
                    .as_deref()
                    .is_some_and(|f| f.ends_with(certmail_pki::ops::DSA_WITHOUT_PARAMETERS))
        });
        if !inherits {
            return Ok(unwrapped);
        }
        let dsa_roots = self.dsa_roots().await?;
        if dsa_roots.is_empty() {
            return Ok(unwrapped);
        }
        let mut with_roots = opts.clone();
        with_roots.extra_certs.extend(dsa_roots);
        Ok(self
            .unwrap_looking_up(msg, keys, false, &with_roots)
            .await?
            .0)
    }

    /// Unwraps `msg` with `keys`, adding keys from the key store for the RecipientInfos of
    /// each encrypted layer when `lookup` is set; the keys used come back for a second pass.
    async fn unwrap_looking_up<'m>(
        &self,
        msg: &'m [u8],
        mut keys: Vec<Arc<KeyPair>>,
        lookup: bool,
        opts: &UnwrapOptions,
    ) -> Result<(Unwrapped<'m>, Vec<Arc<KeyPair>>)> {
        loop {
            let refs: Vec<&KeyPair> = keys.iter().map(|k| k.as_ref()).collect();
            let r = self
                .cpu_sized(msg.len(), || message::unwrap(msg, &refs, opts))
                .await;
            match r {
                Err(SmimeError::NoKey { names, ids }) => {
                    let more = if lookup {
                        self.smime_keys_for(&ids).await?
                    } else {
                        Vec::new()
                    };
                    if more.is_empty() {
                        return Err(SmimeError::NoKey { names, ids }.into());
                    }
                    keys.extend(more);
                }
                other => return Ok((other?, keys)),
            }
        }
    }

    /// Adds the certificates of signers to the certificate store by `collect` (the usual
    /// way a partner's certificate arrives): for each signer whose signature verifies (and,
    /// with [`Collect::Trusted`], whose certificate chains to a trusted root), its
    /// certificate and the issuers above it that the message carried, at most
    /// [`MAX_COLLECTED`] a message. Decoys in a message go nowhere. Roots are not trusted by
    /// this. The CRL distribution points of a collected certificate become download
    /// sources only when its signer is trusted (ARCHITECTURE.md, trust boundaries). A
    /// certificate already seen under the current store generations costs nothing: no
    /// import, no source registration. Returns how many were new or already present.
    pub async fn smime_collect(&self, u: &Unwrapped<'_>, collect: Collect) -> Result<usize> {
        if collect == Collect::Off {
            return Ok(0);
        }
        let mut n = 0;
        // (certificate, its signer is trusted)
        let mut taken: Vec<(&Certificate, bool)> = Vec::new();
        for l in &u.layers {
            let Layer::Signed {
                signers,
                certificates,
                ..
            } = l
            else {
                continue;
            };
            for s in signers {
                let trusted = s.trust.as_ref().is_some_and(|t| t.trusted);
                if !s.verified || (collect == Collect::Trusted && !trusted) {
                    continue;
                }
                let Some(sha) = &s.thumbprint else { continue };
                for c in signer_chain(sha, certificates) {
                    if taken.len() >= MAX_COLLECTED {
                        break;
                    }
                    match taken.iter_mut().find(|(t, _)| t.sha256 == c.sha256) {
                        Some((_, t)) => *t |= trusted,
                        None => taken.push((c, trusted)),
                    }
                }
            }
        }
        if taken.is_empty() {
            return Ok(0);
        }
        let generation = self.store.generations().await?;
        let mut new: Vec<(&Certificate, bool)> = Vec::new();
        for (c, trusted) in taken {
            if crate::lock(&self.signers).known(&generation, &c.sha256) {
                n += 1;
            } else {
                new.push((c, trusted));
            }
        }
        if !new.is_empty() {
            let rows: Vec<(StoreKind, &Certificate)> = new
                .iter()
                .map(|(c, _)| (StoreKind::Certificates, *c))
                .collect();
            if let Ok((outcomes, _)) = self.store.import_without_sources(&rows, crate::now()).await
            {
                n += outcomes.len();
                if let Ok(g) = self.store.generations().await {
                    let mut k = crate::lock(&self.signers);
                    for (c, _) in &new {
                        k.put_known(&g, &c.sha256);
                    }
                }
            }
        }
        let mut urls: Vec<&str> = new
            .iter()
            .filter(|(_, trusted)| *trusted)
            .flat_map(|(c, _)| certmail_store::crl_source_urls(c))
            .collect();
        if !urls.is_empty() {
            urls.sort_unstable();
            urls.dedup();
            self.store.add_crl_sources(&urls, crate::now()).await?;
        }
        Ok(n)
    }

    /// Fills in the trust verdict of every signer (see [`judge_time`] for the time used).
    pub async fn smime_judge(&self, u: &mut Unwrapped<'_>, at: i64) -> Result<()> {
        self.smime_judge_inner(u, at, None, None).await
    }

    /// [`App::smime_judge`] with the caller's validation inputs (`None`: the defaults).
    /// A signer is judged with the certificates its layer carried as candidate
    /// intermediates, whether or not they are in the store; a signature that did not
    /// verify gets no verdict of its certificate.
    pub async fn smime_judge_with(
        &self,
        u: &mut Unwrapped<'_>,
        at: i64,
        trust: Option<&Options>,
    ) -> Result<()> {
        self.smime_judge_inner(u, at, trust, None).await
    }

    /// [`App::smime_judge_with`] with the `min-rsa-bits` of the recipients (`None`: the
    /// global one; ignored when `trust` is given, which carries its own).
    async fn smime_judge_inner(
        &self,
        u: &mut Unwrapped<'_>,
        at: i64,
        trust: Option<&Options>,
        min_rsa_bits: Option<u32>,
    ) -> Result<()> {
        for l in u.layers.iter_mut() {
            let Layer::Signed {
                signers,
                certificates,
                ..
            } = l
            else {
                continue;
            };
            for s in signers.iter_mut() {
                let Some(sha) = s.thumbprint.clone() else {
                    s.trust = Some(unknown_signer());
                    continue;
                };
                let view: CertView = match self.get_any(&sha).await {
                    Ok(v) => v,
                    Err(_) => match certificates.iter().find(|c| c.sha256 == sha) {
                        Some(c) if s.verified => CertView {
                            cert: c.clone(),
                            store: "message",
                            has_key: false,
                            imported_at: 0,
                            row_id: 0,
                        },
                        _ => {
                            s.trust = Some(Trust {
                                trusted: false,
                                status: "not-verified".into(),
                                reason: "the signature did not verify".into(),
                            });
                            continue;
                        }
                    },
                };
                let chain = signer_chain(&sha, certificates);
                let chain = chain.get(1..).unwrap_or_default();
                let now = self
                    .verify_with_extra(&view, at, Purpose::SmimeSign, (trust, min_rsa_bits), chain)
                    .await?;
                let then = match judge_time(now.status, s.check.signing_time, at) {
                    Some(t) => Some((
                        t,
                        self.verify_with_extra(
                            &view,
                            t,
                            Purpose::SmimeSign,
                            (trust, min_rsa_bits),
                            chain,
                        )
                        .await?,
                    )),
                    None => None,
                };
                s.trust = Some(signer_trust(now, then));
            }
        }
        Ok(())
    }
}

/// The recipients' settings that judging incoming mail depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Judging {
    /// `collect-certificates` (global).
    pub collect: Collect,
    /// `min-rsa-bits` of the recipients (`None`: the global value).
    pub min_rsa_bits: Option<u32>,
}

/// Which signers' certificates incoming mail adds to the store (`collect-certificates`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collect {
    /// None.
    Off,
    /// Signers whose signature verifies.
    #[default]
    Verified,
    /// Signers whose signature verifies and whose certificate chains to a trusted root.
    Trusted,
}

impl Collect {
    /// From the setting's value (unknown values: the default).
    pub fn parse(v: &str) -> Collect {
        match v {
            "off" => Collect::Off,
            "trusted" => Collect::Trusted,
            _ => Collect::Verified,
        }
    }
}

/// Most certificates one message adds to the store.
pub const MAX_COLLECTED: usize = 10;

/// The signer's certificate (by thumbprint) followed by its issuers among `certs`, found
/// by name upward, at most [`MAX_COLLECTED`] in all; empty when the signer's certificate
/// is not among them.
pub fn signer_chain<'c>(sha: &str, certs: &'c [Certificate]) -> Vec<&'c Certificate> {
    let Some(leaf) = certs.iter().find(|c| c.sha256 == sha) else {
        return Vec::new();
    };
    let mut out = vec![leaf];
    while out.len() < MAX_COLLECTED {
        let last = out[out.len() - 1];
        if last.issuer == last.subject {
            break;
        }
        let next = certs.iter().find(|c| {
            c.subject == last.issuer && c.is_ca() && !out.iter().any(|o| o.sha256 == c.sha256)
        });
        match next {
            Some(c) => out.push(c),
            None => break,
        }
    }
    out
}
