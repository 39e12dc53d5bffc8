//! The caches of the mail flow: per snapshot of the stores' generations (settings, recipient
//! look-ups, parsed certificates) and per trust generation (unsealed signing and decryption keys).

use std::collections::HashSet;
use std::sync::Arc;

use certmail_pki::Certificate;
use certmail_smime::KeyPair;

use super::*;
use crate::{App, Result};

/// How long a cached look-up is used at most, seconds (certificates expire, CRLs go stale:
/// verdicts depend on the time as well as on the stored data).
const FLOW_TTL: i64 = 60;

/// The state of the stores a transaction is decided on: the trust and policy generations
/// read in one query. Caches are used only while the generations are unchanged, so a
/// change made on another node applies from the next snapshot (the next message) on.
#[derive(Debug, Clone)]
pub struct FlowSnapshot {
    pub(super) key: String,
    pub(super) now: i64,
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
    recipients: std::collections::HashMap<String, (i64, Arc<crate::policy::Recipient>)>,
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
impl App {
    /// A snapshot of the stores' generations (one query); caches older than it are dropped.
    pub async fn flow_snapshot(&self, now: i64) -> Result<FlowSnapshot> {
        let key = self.store.generations().await?;
        {
            let mut c = crate::lock(&self.flow_cache);
            if c.key != key {
                c.settings.clear();
                c.recipients.clear();
                c.certificates.clear();
                c.key = key.clone();
            }
        }
        Ok(FlowSnapshot { key, now })
    }

    /// [`App::recipient_lookup`] through the flow cache.
    pub async fn flow_recipient(
        &self,
        snap: &FlowSnapshot,
        email: &str,
    ) -> Result<Arc<crate::policy::Recipient>> {
        {
            let c = crate::lock(&self.flow_cache);
            if c.key == snap.key
                && let Some((t, r)) = c.recipients.get(email)
                && snap.now - t < FLOW_TTL
                && snap.now >= *t
            {
                return Ok(r.clone());
            }
        }
        let r = Arc::new(self.recipient_lookup(email, snap.now).await?);
        {
            let mut c = crate::lock(&self.flow_cache);
            if c.key == snap.key {
                if c.recipients.len() >= FLOW_CACHE_MAX {
                    c.recipients.clear();
                }
                c.recipients.insert(email.to_owned(), (snap.now, r.clone()));
            }
        }
        Ok(r)
    }

    /// A stored certificate by thumbprint, parsed once per snapshot key.
    pub(super) async fn flow_certificate(
        &self,
        snap: &FlowSnapshot,
        sha256: &str,
    ) -> Result<Arc<Certificate>> {
        {
            let c = crate::lock(&self.flow_cache);
            if c.key == snap.key
                && let Some(cert) = c.certificates.get(sha256)
            {
                return Ok(cert.clone());
            }
        }
        let cert = Arc::new(self.get_any(sha256).await?.cert);
        {
            let mut c = crate::lock(&self.flow_cache);
            if c.key == snap.key {
                if c.certificates.len() >= FLOW_CACHE_MAX {
                    c.certificates.clear();
                }
                c.certificates.insert(sha256.to_owned(), cert.clone());
            }
        }
        Ok(cert)
    }

    /// The mail-flow settings of an address (global ones for the null sender or an
    /// address that is not one), through the flow cache.
    pub async fn flow_settings(&self, snap: &FlowSnapshot, address: &str) -> Result<FlowSettings> {
        {
            let c = crate::lock(&self.flow_cache);
            if c.key == snap.key
                && let Some((t, s)) = c.settings.get(address)
                && snap.now - t < FLOW_TTL
                && snap.now >= *t
            {
                return Ok(s.clone());
            }
        }
        let s = self.flow_settings_uncached(address).await?;
        {
            let mut c = crate::lock(&self.flow_cache);
            if c.key == snap.key {
                if c.settings.len() >= FLOW_CACHE_MAX {
                    c.settings.clear();
                }
                c.settings.insert(address.to_owned(), (snap.now, s.clone()));
            }
        }
        Ok(s)
    }

    pub(super) async fn cached_signer(
        &self,
        snap: &FlowSnapshot,
        sha256: &str,
    ) -> Result<std::sync::Arc<(KeyPair, Vec<Certificate>)>> {
        let generation = snap.key.clone();
        {
            let c = crate::lock(&self.signers);
            if c.generation == generation
                && let Some(s) = c.signers.get(sha256)
            {
                return Ok(s.clone());
            }
        }
        let s = std::sync::Arc::new(self.smime_signer(sha256).await?);
        {
            let mut c = crate::lock(&self.signers);
            c.renew(&generation);
            c.signers.insert(sha256.to_owned(), s.clone());
        }
        Ok(s)
    }
}
