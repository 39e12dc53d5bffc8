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

/// Reads of the stores' generations, shared by the sessions that wait at the same time.
///
/// A read that began after a caller arrived serves that caller as well as its own did: it
/// sees every change committed before the caller arrived. So callers queue for one read at
/// a time, and whoever gets the turn first looks whether a read that began after its own
/// arrival has finished meanwhile; only if not does it read. Under load (many sessions at
/// `MAIL` at once) one query serves a whole wave of them instead of one each, and each
/// still sees what was committed before its command came.
#[derive(Debug, Default)]
pub struct SnapshotGate {
    /// Held while a read runs.
    turn: tokio::sync::Mutex<()>,
    /// Reads begun so far.
    begun: std::sync::atomic::AtomicU64,
    /// The last read: the number it had when it began, and what it read.
    last: std::sync::Mutex<Option<(u64, String)>>,
}

impl SnapshotGate {
    async fn read(&self, store: &certmail_store::Store) -> Result<String> {
        Ok(self.read_with(|| store.generations()).await?)
    }

    /// The gate around any read (the store's, or a test's).
    async fn read_with<F, Fut, E>(&self, read: F) -> std::result::Result<String, E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<String, E>>,
    {
        use std::sync::atomic::Ordering;
        let arrived = self.begun.load(Ordering::SeqCst);
        let _turn = self.turn.lock().await;
        if let Ok(l) = self.last.lock()
            && let Some((n, key)) = l.as_ref()
            && *n > arrived
        {
            return Ok(key.clone());
        }
        let n = self.begun.fetch_add(1, Ordering::SeqCst) + 1;
        let key = read().await?;
        if let Ok(mut l) = self.last.lock() {
            *l = Some((n, key.clone()));
        }
        Ok(key)
    }
}

#[cfg(test)]
mod gate_tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::SnapshotGate;

    /// A slow read of a version: what it returns is the version when it began.
    async fn slow_read(v: Arc<AtomicU64>) -> Result<String, ()> {
        let seen = v.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        Ok(seen.to_string())
    }

    #[tokio::test]
    async fn a_read_begun_before_the_ask_is_not_shared_but_one_begun_after_is() {
        let gate = Arc::new(SnapshotGate::default());
        let version = Arc::new(AtomicU64::new(0));
        // A's read begins at version 0 and is still running when the version changes and
        // B asks: B must not get A's answer, it reads again.
        let a = tokio::spawn({
            let (g, v) = (gate.clone(), version.clone());
            async move { g.read_with(|| slow_read(v)).await }
        });
        tokio::time::sleep(Duration::from_millis(15)).await;
        version.store(1, Ordering::SeqCst);
        let reads = Arc::new(AtomicU64::new(0));
        let counting = |g: Arc<SnapshotGate>, v: Arc<AtomicU64>, n: Arc<AtomicU64>| async move {
            g.read_with(|| {
                n.fetch_add(1, Ordering::SeqCst);
                slow_read(v)
            })
            .await
        };
        // B and C ask at once, after the change: one read (begun after both asked) serves
        // both.
        let b = tokio::spawn(counting(gate.clone(), version.clone(), reads.clone()));
        let c = tokio::spawn(counting(gate.clone(), version.clone(), reads.clone()));
        assert_eq!(a.await.expect("a"), Ok("0".to_owned()));
        assert_eq!(b.await.expect("b"), Ok("1".to_owned()));
        assert_eq!(c.await.expect("c"), Ok("1".to_owned()));
        assert_eq!(reads.load(Ordering::SeqCst), 1, "B and C shared one read");
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
impl App {
    /// A snapshot of the stores' generations (one query); caches older than it are dropped.
    pub async fn flow_snapshot(&self, now: i64) -> Result<FlowSnapshot> {
        let key = self.snapshot_gate.read(&self.store).await?;
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
    pub(super) async fn flow_certificate(
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

    pub(super) async fn cached_signer(
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
}
