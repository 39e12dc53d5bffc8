//! Fixtures shared by the unit tests of the verify modules: a stand-in [`CryptoOps`], a
//! small real PKI from `certmail-testkit`, and helpers that rename certificates so a test
//! can build the exact path a rule needs (validation compares the parsed names in
//! `vd`, so a renamed clone chains like an issued certificate would).

use certmail_testkit::{LeafSpec, TestPki, unix_date};

use super::*;
use crate::name::Attribute;

/// Signatures are the crypto layer's job: this stand-in accepts every signature (or, with
/// `accept: false`, none). Hashes are FNV-1a, enough to tell inputs apart.
pub(super) struct FakeOps {
    pub(super) accept: bool,
}

/// Every signature verifies.
pub(super) const ACCEPT: FakeOps = FakeOps { accept: true };
/// No signature verifies.
pub(super) const REJECT: FakeOps = FakeOps { accept: false };

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

impl CryptoOps for FakeOps {
    fn sha256(&self, data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&fnv1a(data).to_be_bytes());
        out
    }
    fn sha512(&self, data: &[u8]) -> [u8; 64] {
        let mut out = [0u8; 64];
        out[..8].copy_from_slice(&fnv1a(data).to_be_bytes());
        out
    }
    fn verify_signature(
        &self,
        _: &SignatureAlgorithm,
        _: PublicKeyRef<'_>,
        _: &[u8],
        _: &[u8],
    ) -> Result<(), SignatureError> {
        if self.accept {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

/// A certificate parsed with [`ACCEPT`].
pub(super) fn parse(der: &[u8]) -> Certificate {
    Certificate::from_der(der, &ACCEPT).expect("a testkit certificate parses")
}

/// A one-RDN distinguished name `CN=<cn>` in comparable form.
pub(super) fn dn(cn: &str) -> DistinguishedName {
    DistinguishedName(vec![vec![Attribute {
        oid: "2.5.4.3".into(),
        value: cn.to_lowercase(),
    }]])
}

/// `c` with subject `CN=<cn>` (both the comparable and the display form).
pub(super) fn named(mut c: Certificate, cn: &str) -> Certificate {
    c.vd.subject = dn(cn);
    c.subject = format!("CN={cn}");
    c
}

/// `c` with its issuer name set to `issuer`'s subject.
pub(super) fn issued_by(mut c: Certificate, issuer: &Certificate) -> Certificate {
    c.vd.issuer = issuer.vd.subject.clone();
    c.issuer = issuer.subject.clone();
    c
}

/// The serial number of [`Chain::leaf`].
pub(super) const LEAF_SERIAL: u64 = 0x4242;

/// A root (pathLen 1), an intermediate CA under it (pathLen 0, keyCertSign + cRLSign) and
/// an S/MIME leaf (P-256, digitalSignature + keyAgreement, emailProtection) under that,
/// valid 2025-01-01 to 2035-01-01.
pub(super) struct Chain {
    pub(super) pki: TestPki,
    pub(super) root: Certificate,
    pub(super) ca: Certificate,
    pub(super) leaf: Certificate,
}

pub(super) fn chain(name: &str) -> Chain {
    let pki = TestPki::new(name);
    let root = parse(&pki.root.der);
    let ca = parse(&pki.intermediate.der);
    let leaf = parse(
        &pki.leaf(&LeafSpec::email("alice@example.com", LEAF_SERIAL))
            .der,
    );
    Chain {
        pki,
        root,
        ca,
        leaf,
    }
}

/// 2026-01-15: inside every validity period of [`chain`].
pub(super) fn now() -> i64 {
    unix_date(2026, 1, 15)
}

/// Default options at [`now`].
pub(super) fn opts() -> Options {
    Options {
        time: now(),
        ..Options::default()
    }
}
