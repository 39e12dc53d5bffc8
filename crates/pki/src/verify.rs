//! Path building (RFC 4158) and path validation (RFC 5280 section 6.1).
//!
//! Pure: the time, the trust anchors, the candidate intermediates and the options are all
//! arguments, and signatures are checked through [`CryptoOps`].

use std::net::IpAddr;

use crate::cert::{Certificate, NameConstraints, Subtree};
use std::sync::Arc;

use crate::crl::{Crl, Reason};
use crate::name::{DistinguishedName, GeneralName};
use crate::ops::{CryptoOps, PublicKeyRef, SignatureError};
use crate::sig::{Hash, SignatureAlgorithm};

/// anyPolicy (RFC 5280 4.2.1.4).
pub const ANY_POLICY: &str = "2.5.29.32.0";
/// PKCS#9 emailAddress, dotted.
const EMAIL_ADDRESS_OID: &str = "1.2.840.113549.1.9.1";
/// anyExtendedKeyUsage.
pub const ANY_EKU: &str = "2.5.29.37.0";

/// Limits on path building. The numbers are webpki's (`verify_cert.rs`, `Budget::default`),
/// chosen there to bound work on hostile inputs while passing every real chain seen.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Signature verifications per validation (webpki: 100).
    pub signatures: usize,
    /// Candidate issuers examined per validation (webpki: 200,000 build-chain calls).
    pub build_steps: usize,
    /// Intermediates in a path, not counting self-issued ones (RFC 5280 sets no limit;
    /// certmail uses 8, which covers every S/MIME hierarchy seen in practice).
    pub max_intermediates: usize,
    /// Name-constraint comparisons per path (webpki: 250,000), against quadratic blow-up
    /// from many names times many constraints.
    pub name_constraint_checks: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            signatures: 100,
            build_steps: 200_000,
            max_intermediates: 8,
            name_constraint_checks: 250_000,
        }
    }
}

/// The name the end-entity certificate must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerName {
    /// A DNS name (RFC 6125 matching, wildcards in the left-most label).
    Dns(String),
    /// An IP address (SAN iPAddress).
    Ip(IpAddr),
    /// An e-mail address (SAN rfc822Name or subject emailAddress).
    Email(String),
}

/// RFC 5280 6.1.1 policy inputs.
#[derive(Debug, Clone, Default)]
pub struct PolicyOptions {
    /// user-initial-policy-set; empty means {anyPolicy}.
    pub initial_policy_set: Vec<String>,
    /// initial-explicit-policy.
    pub require_explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    pub inhibit_policy_mapping: bool,
    /// initial-any-policy-inhibit.
    pub inhibit_any_policy: bool,
}

/// Options of a validation.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Validation time, Unix seconds.
    pub time: i64,
    /// Accept SHA-1 signatures.
    pub allow_sha1: bool,
    /// Extended key usages the end entity must have (all of them), dotted OIDs. An end
    /// entity without the extension passes; anyExtendedKeyUsage satisfies any.
    pub required_eku: Vec<String>,
    /// Key usage bits the end entity must have when it has the extension.
    pub required_ku: Vec<u16>,
    /// The name to match.
    pub peer_name: Option<PeerName>,
    /// Policy inputs.
    pub policy: PolicyOptions,
    /// Budgets.
    pub budget: Budget,
    /// Also apply the web-PKI rules of the CA/Browser Forum Baseline Requirements that
    /// TLS server validation expects (EKU serverAuth required and not satisfied by
    /// anyExtendedKeyUsage, leaf not a CA, permitted key types, CN consistent with SAN).
    /// For TLS to the next hop; S/MIME validation leaves it off.
    pub web_pki: bool,
    /// CRLs to consult (any issuer; the right ones are picked per certificate).
    pub crls: Vec<std::sync::Arc<Crl>>,
    /// What to do when no usable CRL covers a certificate.
    pub revocation: RevocationPolicy,
    /// What the end-entity certificate is to be used for.
    pub purpose: Purpose,
    /// The certificate trust list.
    pub ctl: std::sync::Arc<Ctl>,
}

/// Intended use of the end-entity certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Purpose {
    /// No usage rule beyond `required_eku` / `required_ku`.
    #[default]
    Any,
    /// S/MIME signing: keyUsage (if present) digitalSignature or nonRepudiation; EKU (if
    /// present) emailProtection or anyExtendedKeyUsage.
    SmimeSign,
    /// S/MIME encryption: keyUsage (if present) keyEncipherment for RSA keys, keyAgreement
    /// for EC keys; EKU as for signing.
    SmimeEncrypt,
}

/// A certificate trust list entry (keyed by SHA-512 thumbprint).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CtlStatus {
    /// Trusted without a path to a root; with `allow_expired` also after expiry.
    Whitelisted {
        /// Valid even when expired.
        allow_expired: bool,
    },
    /// Never valid, nor anything issued below it.
    Blacklisted,
}

/// The certificate trust list: SHA-512 thumbprint (hex) to status.
#[derive(Debug, Clone, Default)]
pub struct Ctl {
    /// Entries.
    pub entries: std::collections::HashMap<String, CtlStatus>,
}

impl Ctl {
    /// The status of a certificate, if listed.
    pub fn status(&self, c: &Certificate) -> Option<CtlStatus> {
        self.entries.get(&c.sha512).copied()
    }
}

/// Revocation checking (RFC 5280 6.3) policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RevocationPolicy {
    /// No revocation checking.
    Off,
    /// Use the CRLs given: a certificate whose issuer has a CRL must be covered by a valid
    /// one and not listed; a certificate whose issuer has none passes (status unknown).
    #[default]
    IfAvailable,
    /// Every certificate below the anchor must be covered by a valid, current CRL.
    Require,
}

/// Why a certificate or path is not valid. Every variant names the certificate (subject).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// No issuer for this certificate among the intermediates and anchors.
    #[error("no trusted path: no issuer found for {subject} (issuer {issuer})")]
    IssuerNotFound {
        /// Certificate whose issuer is missing.
        subject: String,
        /// The issuer name it names.
        issuer: String,
    },
    /// The path ends at a self-signed certificate that is not a trust anchor.
    #[error("no trusted path for {subject}: it chains to {root}, which is not in the root store")]
    UntrustedRoot {
        /// The certificate being validated.
        subject: String,
        /// The self-signed certificate at the top.
        root: String,
    },
    /// Signature check failed.
    #[error("bad signature on {subject}: {reason}")]
    BadSignature {
        /// Certificate.
        subject: String,
        /// Why.
        reason: SignatureError,
    },
    /// SHA-1 or another refused algorithm.
    #[error("{subject} is signed with {algorithm}, which is not accepted")]
    WeakSignature {
        /// Certificate.
        subject: String,
        /// Algorithm.
        algorithm: String,
    },
    /// After notAfter.
    #[error("{subject} expired at {not_after}")]
    Expired {
        /// Certificate.
        subject: String,
        /// notAfter, RFC 3339.
        not_after: String,
    },
    /// Before notBefore.
    #[error("{subject} is not valid before {not_before}")]
    NotYetValid {
        /// Certificate.
        subject: String,
        /// notBefore, RFC 3339.
        not_before: String,
    },
    /// An issuer that is not a CA (basicConstraints cA absent/false).
    #[error("{subject} issues certificates but is not a CA")]
    NotCa {
        /// Certificate.
        subject: String,
    },
    /// An issuer without keyCertSign.
    #[error("{subject} issues certificates but its key usage lacks keyCertSign")]
    NoKeyCertSign {
        /// Certificate.
        subject: String,
    },
    /// pathLenConstraint exceeded.
    #[error("path too long for the pathLenConstraint of {subject}")]
    PathLength {
        /// Certificate.
        subject: String,
    },
    /// Name constraints violated.
    #[error("{name} in {subject} violates a name constraint: {reason}")]
    NameConstraint {
        /// Certificate.
        subject: String,
        /// The name.
        name: String,
        /// Permitted or excluded.
        reason: String,
    },
    /// Policy processing left no acceptable policy.
    #[error("no acceptable certificate policy for the path ending in {subject}")]
    Policy {
        /// Leaf.
        subject: String,
    },
    /// A critical extension certmail does not process.
    #[error("{subject} has an unsupported critical extension {oid}")]
    UnknownCriticalExtension {
        /// Certificate.
        subject: String,
        /// OID.
        oid: String,
    },
    /// Violates the certificate profile (RFC 5280 section 4).
    #[error("{subject} is malformed: {reason}")]
    Malformed {
        /// Certificate.
        subject: String,
        /// Rule broken.
        reason: String,
    },
    /// The end entity lacks a required extended key usage.
    #[error("{subject} is not allowed for {required} (extended key usage)")]
    WrongEku {
        /// Certificate.
        subject: String,
        /// Missing purpose.
        required: String,
    },
    /// The end entity lacks a required key usage.
    #[error("{subject} key usage does not allow {required}")]
    WrongKeyUsage {
        /// Certificate.
        subject: String,
        /// Missing usage.
        required: String,
    },
    /// The end entity does not carry the expected name.
    #[error("{subject} is not valid for {name}")]
    NameMismatch {
        /// Certificate.
        subject: String,
        /// Expected name.
        name: String,
    },
    /// Revoked by a valid CRL.
    #[error("{subject} was revoked on {date} ({reason})")]
    Revoked {
        /// Certificate.
        subject: String,
        /// Revocation date, RFC 3339.
        date: String,
        /// Reason code.
        reason: String,
    },
    /// No valid CRL could decide the status.
    #[error("revocation status of {subject} is unknown: {reason}")]
    RevocationUnknown {
        /// Certificate.
        subject: String,
        /// Why (no CRL, or why each CRL was unusable).
        reason: String,
    },
    /// On the trust list as blacklisted (itself or a CA above it).
    #[error("{subject} is blacklisted{}", if subject == blacklisted { String::new() } else { format!(" (issued under blacklisted {blacklisted})") })]
    Blacklisted {
        /// The certificate being validated.
        subject: String,
        /// The blacklisted certificate on its path.
        blacklisted: String,
    },
    /// The end entity's usage does not allow the purpose.
    #[error("{subject} cannot be used for {purpose}: {reason}")]
    WrongUsage {
        /// Certificate.
        subject: String,
        /// The purpose.
        purpose: &'static str,
        /// What is missing.
        reason: String,
    },
    /// Ran out of budget.
    #[error("path building gave up: {0} budget exhausted")]
    Budget(&'static str),
    /// The path needs more intermediates than allowed.
    #[error("no path within {0} intermediates")]
    TooDeep(usize),
}

impl VerifyError {
    /// How specific the error is: after all candidate paths fail, the highest wins.
    fn rank(&self) -> u8 {
        match self {
            VerifyError::IssuerNotFound { .. } => 0,
            VerifyError::UntrustedRoot { .. } => 1,
            VerifyError::TooDeep(_) => 1,
            VerifyError::Budget(_) => 2,
            VerifyError::BadSignature { .. } => 3,
            _ => 5,
        }
    }
}

/// A validated path: end entity first, trust anchor last.
#[derive(Debug, Clone)]
pub struct ValidPath<'a> {
    /// The certificates, leaf to anchor.
    pub certs: Vec<&'a Certificate>,
}

struct Builder<'a, 'o> {
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    opts: &'o Options,
    ops: &'o dyn CryptoOps,
    signatures: usize,
    steps: usize,
    best: Option<VerifyError>,
}

/// Builds and validates a path from `leaf` to one of `anchors`.
pub fn verify<'a>(
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<ValidPath<'a>, VerifyError> {
    let mut b = Builder {
        intermediates,
        anchors,
        opts,
        ops,
        signatures: 0,
        steps: 0,
        best: None,
    };
    match opts.ctl.status(leaf) {
        Some(CtlStatus::Blacklisted) => {
            return Err(VerifyError::Blacklisted {
                subject: leaf.subject.clone(),
                blacklisted: leaf.subject.clone(),
            });
        }
        Some(CtlStatus::Whitelisted { allow_expired }) => {
            return whitelisted(leaf, allow_expired, intermediates, anchors, opts, ops);
        }
        None => {}
    }
    let mut path = vec![leaf];
    if let Some(found) = b.extend(&mut path)? {
        return Ok(ValidPath { certs: found });
    }
    Err(b.best.unwrap_or_else(|| VerifyError::IssuerNotFound {
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
    }))
}

/// A whitelisted end entity: valid without a path (and after expiry with allow-expired),
/// but still subject to its usage, name and a valid CRL of its issuer when one is at hand
/// (revocation wins over whitelisting: a CRL is the issuer saying the key is compromised,
/// which no local trust decision can undo).
fn whitelisted<'a>(
    leaf: &'a Certificate,
    allow_expired: bool,
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<ValidPath<'a>, VerifyError> {
    if opts.time < leaf.not_before || (opts.time > leaf.not_after && !allow_expired) {
        check_validity(leaf, opts.time)?;
    }
    check_leaf(leaf, opts)?;
    // Blacklisting wins over whitelisting, and is inherited: a whitelisted certificate under
    // a blacklisted CA is blacklisted.
    let pool: Vec<&Certificate> = intermediates.iter().chain(anchors).collect();
    let mut current = leaf;
    for _ in 0..opts.budget.max_intermediates + 1 {
        let Some(up) = pool
            .iter()
            .copied()
            .find(|i| !std::ptr::eq(*i, current) && is_issued_by(current, i, opts, ops))
        else {
            break;
        };
        if opts.ctl.status(up) == Some(CtlStatus::Blacklisted) {
            return Err(VerifyError::Blacklisted {
                subject: leaf.subject.clone(),
                blacklisted: up.subject.clone(),
            });
        }
        if up.vd.subject == up.vd.issuer {
            break;
        }
        current = up;
    }
    let issuer = intermediates
        .iter()
        .chain(anchors)
        .find(|i| i.vd.subject == leaf.vd.issuer && signature_ok(leaf, i, opts, ops).is_ok());
    if let Some(i) = issuer {
        let lenient = Options {
            revocation: match opts.revocation {
                RevocationPolicy::Require => RevocationPolicy::IfAvailable,
                other => other,
            },
            ..opts.clone()
        };
        check_revocation(
            &[leaf, i],
            &lenient,
            ops,
            &Pool {
                intermediates,
                anchors,
            },
        )?;
    }
    Ok(ValidPath { certs: vec![leaf] })
}

/// Candidate issuers of `child` in `pool`, those whose SKI matches the child's AKI first
/// (pyca's order: name collisions then cannot exhaust the budget).
fn candidates<'a>(child: &Certificate, pool: &'a [Certificate]) -> Vec<&'a Certificate> {
    let mut out: Vec<&Certificate> = pool
        .iter()
        .filter(|c| c.vd.subject == child.vd.issuer)
        .collect();
    out.sort_by_key(|c| match (&child.authority_key_id, &c.subject_key_id) {
        (Some(a), Some(s)) if a == s => 0,
        (Some(_), Some(_)) => 2,
        _ => 1,
    });
    out
}

impl<'a> Builder<'a, '_> {
    fn note(&mut self, e: VerifyError) {
        if self.best.as_ref().is_none_or(|b| e.rank() >= b.rank()) {
            self.best = Some(e);
        }
    }

    fn check_signature(
        &mut self,
        child: &Certificate,
        issuer: &Certificate,
    ) -> Result<Result<(), VerifyError>, VerifyError> {
        self.signatures += 1;
        if self.signatures > self.opts.budget.signatures {
            return Err(VerifyError::Budget("signature"));
        }
        Ok(signature_ok(child, issuer, self.opts, self.ops))
    }

    /// Depth-first search; `Ok(None)` means no path below this point (reason in `best`).
    fn extend(
        &mut self,
        path: &mut Vec<&'a Certificate>,
    ) -> Result<Option<Vec<&'a Certificate>>, VerifyError> {
        let current = *path
            .last()
            .unwrap_or_else(|| unreachable!("path starts with the leaf"));
        // Trust anchors first: the shortest path wins.
        for anchor in candidates(current, self.anchors) {
            self.steps += 1;
            if self.steps > self.opts.budget.build_steps {
                return Err(VerifyError::Budget("path-building"));
            }
            if let Err(e) = self.check_signature(current, anchor)? {
                self.note(e);
                continue;
            }
            match validate(path, anchor, self.opts).and_then(|()| {
                let mut full = path.clone();
                full.push(anchor);
                check_revocation(
                    &full,
                    self.opts,
                    self.ops,
                    &Pool {
                        intermediates: self.intermediates,
                        anchors: self.anchors,
                    },
                )
            }) {
                Ok(()) => {
                    let mut found = path.clone();
                    found.push(anchor);
                    return Ok(Some(found));
                }
                Err(e) => self.note(e),
            }
        }
        let logical = path[1..]
            .iter()
            .filter(|c| c.vd.subject != c.vd.issuer)
            .count();
        if logical >= self.opts.budget.max_intermediates {
            self.note(VerifyError::TooDeep(self.opts.budget.max_intermediates));
            return Ok(None);
        }
        for issuer in candidates(current, self.intermediates) {
            self.steps += 1;
            if self.steps > self.opts.budget.build_steps {
                return Err(VerifyError::Budget("path-building"));
            }
            // RFC 4158 5.2: a certificate (same subject and key) appears once in a path.
            if path.iter().any(|c| {
                c.vd.subject == issuer.vd.subject && c.vd.public_key == issuer.vd.public_key
            }) {
                continue;
            }
            if let Err(e) = self.check_signature(current, issuer)? {
                self.note(e);
                continue;
            }
            path.push(issuer);
            let r = self.extend(path)?;
            path.pop();
            if r.is_some() {
                return Ok(r);
            }
        }
        if candidates(current, self.anchors).is_empty()
            && candidates(current, self.intermediates).is_empty()
        {
            self.note(VerifyError::IssuerNotFound {
                subject: current.subject.clone(),
                issuer: current.issuer.clone(),
            });
        }
        Ok(None)
    }
}

fn signature_ok(
    child: &Certificate,
    issuer: &Certificate,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<(), VerifyError> {
    let alg = child
        .vd
        .signature_algorithm
        .clone()
        .unwrap_or(SignatureAlgorithm::Unsupported("absent".into()));
    if !opts.allow_sha1 && alg.hash() == Some(Hash::Sha1) {
        return Err(VerifyError::WeakSignature {
            subject: child.subject.clone(),
            algorithm: child.signature_algorithm.clone(),
        });
    }
    let key = PublicKeyRef {
        algorithm: &issuer.vd.key_oid,
        curve: issuer.vd.key_curve.as_deref(),
        key: &issuer.vd.public_key,
    };
    ops.verify_signature(&alg, key, &child.vd.tbs, &child.vd.signature)
        .map_err(|reason| VerifyError::BadSignature {
            subject: child.subject.clone(),
            reason,
        })
}

/// Where a certificate sits in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Leaf,
    Intermediate,
    Anchor,
}

/// RFC 5280 section 4 rules every certificate on a path must meet (the "profile"), and
/// with `web_pki` the CA/Browser Forum rules. Each rule cites its section.
fn profile(c: &Certificate, role: Role, opts: &Options) -> Result<(), VerifyError> {
    let bad = |reason: &str| {
        Err(VerifyError::Malformed {
            subject: c.subject.clone(),
            reason: reason.to_owned(),
        })
    };
    let vd = &c.vd;
    if let Some(d) = vd.duplicate_extensions.first() {
        return bad(&format!("extension {d} appears more than once (4.2)"));
    }
    // The CA/B Forum lets name constraints be non-critical (BR 7.1.2.5.2); RFC 5280 does not.
    if let Some(r) = vd
        .criticality_errors
        .iter()
        .find(|r| !(opts.web_pki && r.starts_with("nameConstraints")))
    {
        return bad(r);
    }
    if !vd.signature_algorithms_match {
        return bad("signature algorithm differs inside and outside tbsCertificate (4.1.1.2)");
    }
    // Trust anchors are trusted by configuration: the issuing-CA duties below (serial
    // number, AKI) bind whoever issued them, which the relying party cannot fix (real
    // roots with serial 0 exist, e.g. Starfield G2).
    if vd.bad_serial && role != Role::Anchor {
        return bad("serial number is not positive (4.1.2.2)");
    }
    if vd.extensions_without_v3 {
        return bad("extensions in a certificate below version 3 (4.1.2.9)");
    }
    if vd.empty_policy_constraints {
        return bad("policyConstraints with neither field (4.2.1.11)");
    }
    if vd.eku.as_ref().is_some_and(Vec::is_empty) {
        return bad("empty extendedKeyUsage (4.2.1.12)");
    }
    if vd.aia_malformed {
        return bad("authorityInfoAccess does not decode (4.2.2.1)");
    }
    match &vd.san {
        Some(san) if san.is_empty() => return bad("empty subjectAltName (4.2.1.6)"),
        Some(san) => {
            for n in san {
                let ok = match n {
                    GeneralName::Dns(d) => valid_dns_name(d, true),
                    GeneralName::Email(e) => valid_mailbox(e),
                    GeneralName::Ip(b) => b.len() == 4 || b.len() == 16,
                    _ => true,
                };
                if !ok {
                    return bad(&format!("malformed subjectAltName entry {n} (4.2.1.6)"));
                }
            }
            if vd.subject.is_empty() && !vd.san_critical {
                return bad("subjectAltName must be critical when the subject is empty (4.2.1.6)");
            }
        }
        None if vd.subject.is_empty() => {
            return bad("empty subject without subjectAltName (4.1.2.6)");
        }
        None => {}
    }
    if vd.key_usage_bits == Some(0) {
        return bad("keyUsage with no bit set (4.2.1.3)");
    }
    let ku_cert_sign = vd.key_usage_bits.is_some_and(|b| b & (1 << 5) != 0);
    if ku_cert_sign && !c.is_ca() {
        return bad("keyCertSign without basicConstraints cA (4.2.1.3)");
    }
    if c.basic_constraints
        .is_some_and(|b| !b.ca && b.path_len.is_some())
    {
        return bad("pathLenConstraint without cA (4.2.1.9)");
    }
    let self_issued = vd.subject == vd.issuer;
    if !vd.has_aki && !self_issued && role != Role::Anchor {
        return bad("authorityKeyIdentifier missing (4.2.1.1)");
    }
    if c.is_ca() {
        if vd.subject.is_empty() {
            return bad("CA certificate with an empty subject (4.1.2.6)");
        }
        if c.subject_key_id.is_none() {
            return bad("CA certificate without subjectKeyIdentifier (4.2.1.2)");
        }
        if !vd.basic_constraints_critical {
            return bad("basicConstraints must be critical in a CA certificate (4.2.1.9)");
        }
    }
    if let Some(nc) = &vd.name_constraints {
        if !c.is_ca() {
            return bad("nameConstraints in a certificate that is not a CA (4.2.1.10)");
        }
        let empty = |t: &Option<Vec<Subtree>>| t.as_ref().is_none_or(Vec::is_empty);
        if empty(&nc.permitted) && empty(&nc.excluded) {
            return bad("nameConstraints with no subtree (4.2.1.10)");
        }
        if nc.permitted.as_ref().is_some_and(Vec::is_empty)
            || nc.excluded.as_ref().is_some_and(Vec::is_empty)
        {
            return bad("nameConstraints with an empty subtree list (4.2.1.10)");
        }
        for st in nc.permitted.iter().chain(nc.excluded.iter()).flatten() {
            if let Some(why) = malformed_constraint(st) {
                return bad(why);
            }
        }
    }
    if role == Role::Anchor && !c.is_ca() {
        return Err(VerifyError::NotCa {
            subject: c.subject.clone(),
        });
    }
    if opts.web_pki {
        web_pki_profile(c, role)?;
    }
    Ok(())
}

/// CA/Browser Forum Baseline Requirements rules (section numbers of the BRs).
fn web_pki_profile(c: &Certificate, role: Role) -> Result<(), VerifyError> {
    let bad = |reason: &str| {
        Err(VerifyError::Malformed {
            subject: c.subject.clone(),
            reason: reason.to_owned(),
        })
    };
    let vd = &c.vd;
    match &c.public_key {
        crate::cert::KeyAlgorithm::Rsa { bits } if *bits < 2048 || bits % 8 != 0 => {
            return bad("RSA key under 2048 bits or not a multiple of 8 (BR 6.1.5)");
        }
        crate::cert::KeyAlgorithm::Ec { curve }
            if !matches!(curve.as_str(), "P-256" | "P-384" | "P-521") =>
        {
            return bad("EC key on a curve other than P-256/P-384/P-521 (BR 6.1.5)");
        }
        crate::cert::KeyAlgorithm::Dsa => return bad("DSA key (BR 6.1.5)"),
        _ => {}
    }
    if vd.has_aki && vd.subject == vd.issuer && role == Role::Anchor {
        if !vd.aki_key_id || vd.aki_issuer_serial {
            return bad("root authorityKeyIdentifier must hold only keyIdentifier (BR 7.1.2.1.3)");
        }
        if c.authority_key_id != c.subject_key_id {
            return bad(
                "root authorityKeyIdentifier differs from its subjectKeyIdentifier (BR 7.1.2.1.3)",
            );
        }
    }
    match role {
        Role::Anchor if vd.eku.is_some() => {
            bad("root certificate with extendedKeyUsage (BR 7.1.2.1.2)")
        }
        Role::Leaf => {
            if c.is_ca() {
                return bad("end-entity certificate with basicConstraints cA (BR 7.1.2.7.8)");
            }
            match &vd.eku {
                None => {
                    return bad("end-entity certificate without extendedKeyUsage (BR 7.1.2.7.10)");
                }
                Some(e) if e.iter().any(|x| x == ANY_EKU) => {
                    return bad("end-entity certificate with anyExtendedKeyUsage (BR 7.1.2.7.10)");
                }
                Some(_) if vd.eku_critical => {
                    return bad("critical extendedKeyUsage (BR 7.1.2.7.10)");
                }
                _ => {}
            }
            if vd.san_critical && !vd.subject.is_empty() {
                return bad("critical subjectAltName with a non-empty subject (BR 7.1.2.7.12)");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// RFC 1034 preferred name syntax (letters, digits, hyphens; labels of 1-63 characters),
/// with a whole left-most `*` label allowed for SAN wildcards (RFC 6125 6.4.3).
fn valid_dns_name(name: &str, allow_wildcard: bool) -> bool {
    let body = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => name,
    };
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

fn valid_mailbox(m: &str) -> bool {
    match m.rsplit_once('@') {
        Some((local, host)) => {
            !local.is_empty() && !local.contains('@') && valid_dns_name(host, false)
        }
        None => false,
    }
}

/// Syntax of a name-constraint base (4.2.1.10).
fn malformed_constraint(st: &Subtree) -> Option<&'static str> {
    if st.bad_bounds {
        return Some("subtree minimum/maximum are not allowed (4.2.1.10)");
    }
    match &st.base {
        GeneralName::Dns(d) if !d.is_empty() && !valid_dns_name(d, false) => {
            Some("malformed dNSName constraint (4.2.1.10)")
        }
        GeneralName::Ip(b) if b.len() != 8 && b.len() != 32 => {
            Some("iPAddress constraint must be address + mask (4.2.1.10)")
        }
        GeneralName::Ip(b) => {
            let mask = &b[b.len() / 2..];
            let bits: Vec<bool> = mask
                .iter()
                .flat_map(|x| (0..8).rev().map(move |i| x >> i & 1 == 1))
                .collect();
            bits.windows(2)
                .any(|w| !w[0] && w[1])
                .then_some("non-contiguous iPAddress constraint mask (4.2.1.10)")
        }
        GeneralName::Email(e) => {
            let ok = match e.rsplit_once('@') {
                Some(_) => valid_mailbox(e),
                None => valid_dns_name(e.strip_prefix('.').unwrap_or(e), false),
            };
            (!ok).then_some("malformed rfc822Name constraint (4.2.1.10)")
        }
        _ => None,
    }
}

struct PolicyNode {
    valid_policy: String,
    expected: Vec<String>,
    parent: Option<usize>,
    depth: usize,
    alive: bool,
}

struct PolicyTree {
    nodes: Vec<PolicyNode>,
}

impl PolicyTree {
    fn new() -> Self {
        PolicyTree {
            nodes: vec![PolicyNode {
                valid_policy: ANY_POLICY.into(),
                expected: vec![ANY_POLICY.into()],
                parent: None,
                depth: 0,
                alive: true,
            }],
        }
    }

    fn at(&self, depth: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].alive && self.nodes[*i].depth == depth)
            .collect()
    }

    fn add(&mut self, parent: usize, policy: &str, expected: Vec<String>) {
        let depth = self.nodes[parent].depth + 1;
        self.nodes.push(PolicyNode {
            valid_policy: policy.to_owned(),
            expected,
            parent: Some(parent),
            depth,
            alive: true,
        });
    }

    fn has_children(&self, i: usize) -> bool {
        self.nodes.iter().any(|n| n.alive && n.parent == Some(i))
    }

    fn kill(&mut self, i: usize) {
        self.nodes[i].alive = false;
        for j in 0..self.nodes.len() {
            if self.nodes[j].alive && self.nodes[j].parent == Some(i) {
                self.kill(j);
            }
        }
    }

    /// Removes childless nodes above `depth`, bottom-up. Returns false when the root died.
    fn prune(&mut self, depth: usize) -> bool {
        for d in (0..depth).rev() {
            for i in self.at(d) {
                if !self.has_children(i) {
                    self.nodes[i].alive = false;
                }
            }
        }
        self.nodes[0].alive
    }
}

fn dec(v: &mut usize) {
    *v = v.saturating_sub(1);
}

/// RFC 5280 6.1 over `anchor` + the path (given leaf first). The anchor supplies name and
/// key only (6.1.1 d); its own extensions are not processed.
fn validate(
    path: &[&Certificate],
    anchor: &Certificate,
    opts: &Options,
) -> Result<(), VerifyError> {
    let n = path.len();
    let certs: Vec<&Certificate> = path.iter().rev().copied().collect(); // certs[0] is issued by the anchor
    let mut explicit_policy = if opts.policy.require_explicit_policy {
        0
    } else {
        n + 1
    };
    let mut inhibit_any = if opts.policy.inhibit_any_policy {
        0
    } else {
        n + 1
    };
    let mut policy_mapping = if opts.policy.inhibit_policy_mapping {
        0
    } else {
        n + 1
    };
    let mut tree = Some(PolicyTree::new());
    let mut max_path_length = n;
    let mut constraints: Vec<NameConstraints> = Vec::new();
    let mut working_issuer = &anchor.vd.subject;
    let mut nc_budget = opts.budget.name_constraint_checks;
    // The anchor is held to the same profile and its constraints apply (as pyca and
    // OpenSSL do): an expired, non-CA or malformed root is no anchor.
    for c in path.iter().copied().chain(std::iter::once(anchor)) {
        if opts.ctl.status(c) == Some(CtlStatus::Blacklisted) {
            return Err(VerifyError::Blacklisted {
                subject: path[0].subject.clone(),
                blacklisted: c.subject.clone(),
            });
        }
    }
    profile(anchor, Role::Anchor, opts)?;
    check_validity(anchor, opts.time)?;
    if anchor.vd.key_usage_bits.is_some_and(|b| b & (1 << 5) == 0) {
        return Err(VerifyError::NoKeyCertSign {
            subject: anchor.subject.clone(),
        });
    }
    if let Some(oid) = anchor.vd.unknown_critical.first() {
        return Err(VerifyError::UnknownCriticalExtension {
            subject: anchor.subject.clone(),
            oid: oid.clone(),
        });
    }
    if let Some(nc) = &anchor.vd.name_constraints {
        constraints.push(nc.clone());
    }
    if let Some(p) = anchor.basic_constraints.and_then(|b| b.path_len) {
        max_path_length = max_path_length.min(usize::from(p));
    }

    for (idx, c) in certs.iter().enumerate() {
        let i = idx + 1;
        let is_leaf = i == n;
        let self_issued = c.vd.subject == c.vd.issuer;
        profile(
            c,
            if is_leaf {
                Role::Leaf
            } else {
                Role::Intermediate
            },
            opts,
        )?;
        // (a)(2) validity
        check_validity(c, opts.time)?;
        // (a)(4) name chaining
        if &c.vd.issuer != working_issuer {
            return Err(VerifyError::IssuerNotFound {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
            });
        }
        // (b)(c) name constraints, for the leaf and every non-self-issued certificate
        if is_leaf || !self_issued {
            for nc in &constraints {
                check_names(c, nc, &mut nc_budget)?;
            }
        }
        // (d)-(f) policies
        if let Some(t) = tree.as_mut() {
            match &c.vd.policies {
                Some(policies) => {
                    let parents = t.at(i - 1);
                    for p in policies.iter().filter(|p| *p != ANY_POLICY) {
                        let mut matched = false;
                        for &par in &parents {
                            if t.nodes[par].expected.iter().any(|e| e == p) {
                                t.add(par, p, vec![p.clone()]);
                                matched = true;
                            }
                        }
                        if !matched {
                            for &par in &parents {
                                if t.nodes[par].valid_policy == ANY_POLICY {
                                    t.add(par, p, vec![p.clone()]);
                                }
                            }
                        }
                    }
                    if policies.iter().any(|p| p == ANY_POLICY)
                        && (inhibit_any > 0 || (!is_leaf && self_issued))
                    {
                        for &par in &parents {
                            let expected = t.nodes[par].expected.clone();
                            for e in expected {
                                let exists = t.nodes.iter().any(|x| {
                                    x.alive && x.parent == Some(par) && x.valid_policy == e
                                });
                                if !exists {
                                    t.add(par, &e, vec![e.clone()]);
                                }
                            }
                        }
                    }
                    if !t.prune(i) || t.at(i).is_empty() {
                        tree = None;
                    }
                }
                None => tree = None,
            }
        }
        if explicit_policy == 0 && tree.is_none() {
            return Err(VerifyError::Policy {
                subject: c.subject.clone(),
            });
        }
        if is_leaf {
            // 6.1.5 wrap-up
            if explicit_policy != 0 {
                dec(&mut explicit_policy);
            }
            if c.vd.require_explicit_policy == Some(0) {
                explicit_policy = 0;
            }
            if let Some(oid) = c.vd.unknown_critical.first() {
                return Err(VerifyError::UnknownCriticalExtension {
                    subject: c.subject.clone(),
                    oid: oid.clone(),
                });
            }
            if let Some(t) = tree.as_mut() {
                intersect_policies(t, &opts.policy.initial_policy_set, n);
                if !t.nodes[0].alive || t.at(n).is_empty() {
                    tree = None;
                }
            }
            if explicit_policy == 0 && tree.is_none() {
                return Err(VerifyError::Policy {
                    subject: c.subject.clone(),
                });
            }
            break;
        }
        // 6.1.4 preparation for certificate i+1
        if let Some(maps) = &c.vd.policy_mappings {
            if maps.iter().any(|(a, b)| a == ANY_POLICY || b == ANY_POLICY) {
                return Err(VerifyError::Malformed {
                    subject: c.subject.clone(),
                    reason: "policyMappings maps anyPolicy (6.1.4 a)".into(),
                });
            }
            if let Some(t) = tree.as_mut() {
                let mut issuer_policies: Vec<&String> = maps.iter().map(|(a, _)| a).collect();
                issuer_policies.dedup();
                for idp in issuer_policies {
                    let mapped: Vec<String> = maps
                        .iter()
                        .filter(|(a, _)| a == idp)
                        .map(|(_, b)| b.clone())
                        .collect();
                    let nodes: Vec<usize> = t
                        .at(i)
                        .into_iter()
                        .filter(|x| &t.nodes[*x].valid_policy == idp)
                        .collect();
                    if policy_mapping > 0 {
                        if !nodes.is_empty() {
                            for x in nodes {
                                t.nodes[x].expected = mapped.clone();
                            }
                        } else if let Some(any) = t
                            .at(i)
                            .into_iter()
                            .find(|x| t.nodes[*x].valid_policy == ANY_POLICY)
                        {
                            let parent = t.nodes[any].parent.unwrap_or(0);
                            t.add(parent, idp, mapped.clone());
                        }
                    } else {
                        for x in nodes {
                            t.kill(x);
                        }
                    }
                }
                if !t.prune(i) {
                    tree = None;
                }
            }
        }
        working_issuer = &c.vd.subject;
        if let Some(nc) = &c.vd.name_constraints {
            constraints.push(nc.clone());
        }
        if !self_issued {
            dec(&mut explicit_policy);
            dec(&mut policy_mapping);
            dec(&mut inhibit_any);
        }
        if let Some(r) = c.vd.require_explicit_policy {
            explicit_policy = explicit_policy.min(r as usize);
        }
        if let Some(m) = c.vd.inhibit_policy_mapping {
            policy_mapping = policy_mapping.min(m as usize);
        }
        if let Some(s) = c.vd.inhibit_any_policy {
            inhibit_any = inhibit_any.min(s as usize);
        }
        // (k) basic constraints: v3 certificates must say cA; v1/v2 intermediates are refused too.
        if !c.is_ca() {
            return Err(VerifyError::NotCa {
                subject: c.subject.clone(),
            });
        }
        // (l)(m) path length
        if !self_issued {
            if max_path_length == 0 {
                return Err(VerifyError::PathLength {
                    subject: c.subject.clone(),
                });
            }
            max_path_length -= 1;
        }
        if let Some(p) = c.basic_constraints.and_then(|b| b.path_len) {
            max_path_length = max_path_length.min(usize::from(p));
        }
        // (n) key usage
        if c.vd.key_usage_bits.is_some_and(|b| b & (1 << 5) == 0) {
            return Err(VerifyError::NoKeyCertSign {
                subject: c.subject.clone(),
            });
        }
        // (o) other critical extensions
        if let Some(oid) = c.vd.unknown_critical.first() {
            return Err(VerifyError::UnknownCriticalExtension {
                subject: c.subject.clone(),
                oid: oid.clone(),
            });
        }
        // The pathLen check for the *next* certificate happens at its turn via max_path_length.
        let _ = max_path_length;
    }
    let leaf = path[0];
    check_leaf(leaf, opts)
}

fn check_validity(c: &Certificate, time: i64) -> Result<(), VerifyError> {
    if time < c.not_before {
        return Err(VerifyError::NotYetValid {
            subject: c.subject.clone(),
            not_before: c.not_before_rfc3339(),
        });
    }
    if time > c.not_after {
        return Err(VerifyError::Expired {
            subject: c.subject.clone(),
            not_after: c.not_after_rfc3339(),
        });
    }
    Ok(())
}

/// 6.1.5 (g): intersect the tree with the user-initial-policy-set.
fn intersect_policies(t: &mut PolicyTree, initial: &[String], n: usize) {
    if initial.is_empty() || initial.iter().any(|p| p == ANY_POLICY) {
        return;
    }
    // valid_policy_node_set: nodes whose parent's valid_policy is anyPolicy.
    let set: Vec<usize> = (0..t.nodes.len())
        .filter(|i| {
            t.nodes[*i].alive
                && t.nodes[*i]
                    .parent
                    .is_some_and(|p| t.nodes[p].valid_policy == ANY_POLICY)
        })
        .collect();
    for &i in &set {
        let vp = &t.nodes[i].valid_policy;
        if vp != ANY_POLICY && !initial.contains(vp) {
            t.kill(i);
        }
    }
    let any_leaves: Vec<usize> = t
        .at(n)
        .into_iter()
        .filter(|i| t.nodes[*i].valid_policy == ANY_POLICY)
        .collect();
    for any in any_leaves {
        let parent = t.nodes[any].parent.unwrap_or(0);
        for p in initial {
            let present = set
                .iter()
                .any(|i| t.nodes[*i].alive && &t.nodes[*i].valid_policy == p);
            if !present {
                t.add(parent, p, vec![p.clone()]);
            }
        }
        t.kill(any);
    }
    t.prune(n);
}

/// The names of `c` that name constraints apply to.
fn names_of(c: &Certificate) -> Vec<GeneralName> {
    let mut names = Vec::new();
    if !c.vd.subject.is_empty() {
        names.push(GeneralName::Directory(c.vd.subject.clone()));
    }
    // 4.2.1.10: emailAddress attributes in the subject are checked as rfc822Name.
    for v in c.vd.subject.values_of(EMAIL_ADDRESS_OID) {
        names.push(GeneralName::Email(v.to_owned()));
    }
    if let Some(san) = &c.vd.san {
        names.extend(san.iter().cloned());
    }
    names
}

fn check_names(
    c: &Certificate,
    nc: &NameConstraints,
    budget: &mut usize,
) -> Result<(), VerifyError> {
    let fail = |name: &GeneralName, reason: &str| {
        Err(VerifyError::NameConstraint {
            subject: c.subject.clone(),
            name: name.to_string(),
            reason: reason.to_owned(),
        })
    };
    let names = names_of(c);
    let work = names.len()
        * (nc.excluded.as_ref().map_or(0, Vec::len) + nc.permitted.as_ref().map_or(0, Vec::len));
    if work > *budget {
        return Err(VerifyError::Budget("name-constraint"));
    }
    *budget -= work;
    for name in names {
        if let Some(excluded) = &nc.excluded {
            for st in excluded {
                // A wildcard SAN covers every name one label deeper (CVE-2025-61727): it is
                // excluded when any name it could stand for is.
                if let (GeneralName::Dns(n), GeneralName::Dns(ex)) = (&name, &st.base)
                    && let Some(rest) = n.strip_prefix("*.")
                    && ex
                        .to_ascii_lowercase()
                        .split_once('.')
                        .is_some_and(|(_, tail)| tail == rest.to_ascii_lowercase())
                {
                    return fail(&name, "a wildcard covering an excluded subtree");
                }
                match matches(&name, st) {
                    Match::Yes => return fail(&name, "it is in an excluded subtree"),
                    Match::Malformed(why) => return fail(&name, why),
                    _ => {}
                }
            }
        }
        if let Some(permitted) = &nc.permitted {
            let mut same_type = false;
            let mut ok = false;
            for st in permitted {
                match matches(&name, st) {
                    Match::Yes => {
                        same_type = true;
                        ok = true;
                    }
                    Match::No => same_type = true,
                    Match::OtherType => {}
                    Match::Malformed(why) => return fail(&name, why),
                }
            }
            if same_type && !ok {
                return fail(&name, "it is outside the permitted subtrees");
            }
        }
    }
    Ok(())
}

enum Match {
    Yes,
    No,
    OtherType,
    Malformed(&'static str),
}

fn bool_match(b: bool) -> Match {
    if b { Match::Yes } else { Match::No }
}

fn matches(name: &GeneralName, st: &Subtree) -> Match {
    if st.bad_bounds {
        return Match::Malformed("subtree minimum/maximum are not allowed (4.2.1.10)");
    }
    match (name, &st.base) {
        (GeneralName::Dns(n), GeneralName::Dns(c)) => dns_in_subtree(n, c),
        (GeneralName::Email(n), GeneralName::Email(c)) => email_in_subtree(n, c),
        (GeneralName::Ip(n), GeneralName::Ip(c)) => ip_in_subtree(n, c),
        (GeneralName::Directory(n), GeneralName::Directory(c)) => bool_match(n.starts_with(c)),
        (GeneralName::Uri(n), GeneralName::Uri(c)) => match uri_host(n) {
            Some(h) => dns_in_subtree(&h, c),
            None => {
                Match::Malformed("URI without a host name cannot be checked against constraints")
            }
        },
        (GeneralName::Other(n), GeneralName::Other(c)) if n == c => {
            Match::Malformed("otherName constraints are not supported")
        }
        _ => Match::OtherType,
    }
}

fn uri_host(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

fn valid_dns_constraint(c: &str) -> bool {
    let c = c.strip_prefix('.').unwrap_or(c);
    c.is_empty()
        || c.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn dns_in_subtree(name: &str, constraint: &str) -> Match {
    if !valid_dns_constraint(constraint) {
        return Match::Malformed("malformed dNSName constraint");
    }
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix('.').unwrap_or(&n);
    let c = constraint.to_ascii_lowercase();
    if c.is_empty() {
        return Match::Yes;
    }
    if let Some(suffix) = c.strip_prefix('.') {
        return bool_match(n.ends_with(&format!(".{suffix}")));
    }
    bool_match(n == c || n.ends_with(&format!(".{c}")))
}

fn email_in_subtree(name: &str, constraint: &str) -> Match {
    let Some((local, host)) = name.rsplit_once('@') else {
        return Match::Malformed("rfc822Name without @");
    };
    let host = host.to_ascii_lowercase();
    let c = constraint.to_ascii_lowercase();
    if let Some((cl, ch)) = constraint.rsplit_once('@') {
        // A mailbox: local part exact, host case-insensitive.
        return bool_match(local == cl && host == ch.to_ascii_lowercase());
    }
    if let Some(suffix) = c.strip_prefix('.') {
        return bool_match(host.ends_with(&format!(".{suffix}")));
    }
    bool_match(host == c)
}

fn ip_in_subtree(name: &[u8], constraint: &[u8]) -> Match {
    if constraint.len() != 8 && constraint.len() != 32 {
        return Match::Malformed("iPAddress constraint must be address + mask (8 or 32 bytes)");
    }
    let (addr, mask) = constraint.split_at(constraint.len() / 2);
    // The mask must be contiguous ones followed by zeros.
    let bits: Vec<bool> = mask
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect();
    if bits.windows(2).any(|w| !w[0] && w[1]) {
        return Match::Malformed("non-contiguous iPAddress constraint mask");
    }
    // IPv4 and IPv6 are one name form (iPAddress): an IPv6 address is outside an IPv4-only
    // permitted set, not unconstrained by it.
    if name.len() != addr.len() {
        return Match::No;
    }
    bool_match(
        name.iter()
            .zip(addr)
            .zip(mask)
            .all(|((n, a), m)| n & m == a & m),
    )
}

fn check_leaf(leaf: &Certificate, opts: &Options) -> Result<(), VerifyError> {
    smime_usage(leaf, opts.purpose)?;
    if let Some(eku) = &leaf.vd.eku {
        for req in &opts.required_eku {
            if !eku.iter().any(|e| e == req || e == ANY_EKU) {
                return Err(VerifyError::WrongEku {
                    subject: leaf.subject.clone(),
                    required: crate::oids::name(&req.parse().unwrap_or(crate::oids::DATA)),
                });
            }
        }
    }
    if let Some(bits) = leaf.vd.key_usage_bits {
        for req in &opts.required_ku {
            if bits & (1 << req) == 0 {
                return Err(VerifyError::WrongKeyUsage {
                    subject: leaf.subject.clone(),
                    required: format!("bit {req}"),
                });
            }
        }
    }
    if let Some(name) = &opts.peer_name
        && !name_matches(leaf, name)
    {
        return Err(VerifyError::NameMismatch {
            subject: leaf.subject.clone(),
            name: match name {
                PeerName::Dns(d) => d.clone(),
                PeerName::Ip(ip) => ip.to_string(),
                PeerName::Email(e) => e.clone(),
            },
        });
    }
    Ok(())
}

/// The S/MIME usage rules (RFC 8550 4.4, and the reference's rules for selection).
pub fn smime_usage(c: &Certificate, purpose: Purpose) -> Result<(), VerifyError> {
    const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    let name = match purpose {
        Purpose::Any => return Ok(()),
        Purpose::SmimeSign => "S/MIME signing",
        Purpose::SmimeEncrypt => "S/MIME encryption",
    };
    let wrong = |reason: String| {
        Err(VerifyError::WrongUsage {
            subject: c.subject.clone(),
            purpose: name,
            reason,
        })
    };
    if let Some(eku) = &c.vd.eku
        && !eku.iter().any(|e| e == EMAIL_PROTECTION || e == ANY_EKU)
    {
        return wrong(
            "extended key usage has neither emailProtection nor anyExtendedKeyUsage".into(),
        );
    }
    if let Some(bits) = c.vd.key_usage_bits {
        let has = |bit: u16| bits & (1 << bit) != 0;
        match purpose {
            Purpose::SmimeSign if !(has(0) || has(1)) => {
                return wrong("key usage has neither digitalSignature nor nonRepudiation".into());
            }
            Purpose::SmimeEncrypt => {
                let is_ec = matches!(c.public_key, crate::cert::KeyAlgorithm::Ec { .. });
                if is_ec && !has(4) {
                    return wrong("key usage lacks keyAgreement (EC key)".into());
                }
                if !is_ec && !has(2) {
                    return wrong("key usage lacks keyEncipherment".into());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// RFC 6125 DNS-ID / IP matching, and e-mail identity for S/MIME.
pub fn name_matches(c: &Certificate, name: &PeerName) -> bool {
    let san = c.vd.san.as_deref().unwrap_or_default();
    match name {
        PeerName::Dns(d) => san
            .iter()
            .any(|g| matches!(g, GeneralName::Dns(p) if dns_pattern_matches(p, d))),
        PeerName::Ip(ip) => {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            san.iter()
                .any(|g| matches!(g, GeneralName::Ip(b) if *b == bytes))
        }
        PeerName::Email(e) => {
            let want = e.trim().to_lowercase();
            c.emails.contains(&want)
        }
    }
}

/// RFC 6125 6.4.3: case-insensitive; a wildcard only as the whole left-most label, matching
/// exactly one label, never in a public-suffix-like two-label name.
fn dns_pattern_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix('.').unwrap_or(&n);
    if let Some(rest) = p.strip_prefix("*.") {
        if rest.contains('*') || !rest.contains('.') {
            return false;
        }
        return match n.split_once('.') {
            Some((label, tail)) => !label.is_empty() && tail == rest,
            None => false,
        };
    }
    !p.contains('*') && p == n
}

/// Checks a name-chained issuer relation without building: is `child` signed by `issuer`?
pub fn is_issued_by(
    child: &Certificate,
    issuer: &Certificate,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> bool {
    child.vd.issuer == issuer.vd.subject && signature_ok(child, issuer, opts, ops).is_ok()
}

/// Re-export for callers that compare names.
pub type Name = DistinguishedName;

/// Certificates available to find the issuer of an indirect CRL.
struct Pool<'a> {
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
}

/// The certificate that signs an indirect CRL: named in the certificate's cRLIssuer, with
/// cRLSign, and itself with a valid path to a trust anchor (6.3.3 f).
fn indirect_crl_signer<'a>(
    crl: &Crl,
    pool: &Pool<'a>,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<&'a Certificate, String> {
    let plain = Options {
        revocation: RevocationPolicy::Off,
        purpose: Purpose::Any,
        peer_name: None,
        required_eku: Vec::new(),
        required_ku: Vec::new(),
        ..opts.clone()
    };
    let mut last = format!("no certificate for CRL issuer {}", crl.issuer);
    for c in pool.intermediates.iter().chain(pool.anchors) {
        if c.vd.subject != crl.issuer_dn {
            continue;
        }
        if c.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
            last = format!("CRL issuer {} lacks cRLSign", c.subject);
            continue;
        }
        let anchored = pool.anchors.iter().any(|a| std::ptr::eq(a, c))
            || verify(c, pool.intermediates, pool.anchors, &plain, ops).is_ok();
        if anchored {
            return Ok(c);
        }
        last = format!(
            "CRL issuer {} has no valid path to a trust anchor",
            c.subject
        );
    }
    Err(last)
}

/// RFC 5280 6.3 for every certificate below the anchor in `path` (leaf first).
fn check_revocation(
    path: &[&Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
    pool: &Pool<'_>,
) -> Result<(), VerifyError> {
    if opts.revocation == RevocationPolicy::Off {
        return Ok(());
    }
    for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        let mut problems: Vec<String> = Vec::new();
        let mut usable: Vec<&Arc<Crl>> = Vec::new();
        let direct = |crl: &Crl| {
            crl.issuer_dn == cert.vd.issuer
                && match (&crl.authority_key_id, &issuer.subject_key_id) {
                    (Some(a), Some(s)) => a == s,
                    _ => true,
                }
        };
        // An indirect CRL: issued by the CRL issuer the certificate names, marked indirectCRL.
        let indirect = |crl: &Crl| {
            crl.scope.as_ref().is_some_and(|s| s.indirect)
                && cert.vd.crl_issuers.contains(&crl.issuer_dn)
        };
        for crl in opts.crls.iter().filter(|c| direct(c) || indirect(c)) {
            if crl.scope.as_ref().is_some_and(|scope| {
                (scope.only_user && cert.is_ca())
                    || (scope.only_ca && !cert.is_ca())
                    || scope.only_attribute
            }) {
                continue;
            }
            if let Some(d) = crl.defects.first() {
                problems.push(format!("CRL from {} is invalid: {d}", crl.issuer));
                continue;
            }
            let signer = if direct(crl) {
                issuer
            } else {
                match indirect_crl_signer(crl, pool, opts, ops) {
                    Ok(s) => s,
                    Err(why) => {
                        problems.push(format!("indirect CRL from {}: {why}", crl.issuer));
                        continue;
                    }
                }
            };
            if signer.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
                problems.push(format!(
                    "CRL issuer {} lacks cRLSign in its key usage (6.3.3 f)",
                    signer.subject
                ));
                continue;
            }
            let key = PublicKeyRef {
                algorithm: &signer.vd.key_oid,
                curve: signer.vd.key_curve.as_deref(),
                key: &signer.vd.public_key,
            };
            if let Err(e) = crl.verify_signature(key, ops) {
                problems.push(format!("CRL from {}: {e}", crl.issuer));
                continue;
            }
            if crl.this_update > opts.time {
                problems.push(format!("CRL from {} is not yet valid", crl.issuer));
                continue;
            }
            if crl.next_update.is_some_and(|n| n < opts.time) {
                problems.push(format!("CRL from {} is out of date", crl.issuer));
                continue;
            }
            usable.push(crl);
        }
        // Base CRLs first, then the newest delta that extends one of them (RFC 5280 5.2.4):
        // a delta entry revokes, or with removeFromCRL lifts a base entry (a released hold).
        let serial = cert.serial_bytes();
        // An entry belongs to its certificateIssuer (indirect CRLs, 5.3.3), else to the CRL issuer.
        let entry_for = |crl: &'_ Crl| {
            crl.entry(&serial)
                .filter(|e| *e.issuer.as_ref().unwrap_or(&crl.issuer_dn) == cert.vd.issuer)
                .cloned()
        };
        let bases: Vec<&Arc<Crl>> = usable
            .iter()
            .copied()
            .filter(|c| c.delta_base.is_none())
            .collect();
        let mut status = bases
            .iter()
            .find_map(|c| entry_for(c))
            .filter(|e| e.reason != Some(Reason::RemoveFromCrl));
        let newest_base = bases
            .iter()
            .filter_map(|c| c.number.clone())
            .max_by(|a, b| crate::crl::cmp_number(a, b));
        let delta = usable
            .iter()
            .copied()
            .filter(|c| {
                c.delta_base.as_ref().is_some_and(|db| {
                    newest_base
                        .as_ref()
                        .is_some_and(|nb| crate::crl::cmp_number(nb, db).is_ge())
                })
            })
            .max_by(|a, b| {
                crate::crl::cmp_number(
                    a.number.as_deref().unwrap_or(""),
                    b.number.as_deref().unwrap_or(""),
                )
            });
        if let Some(d) = delta
            && let Some(e) = entry_for(d)
        {
            status = (e.reason != Some(Reason::RemoveFromCrl)).then_some(e);
        }
        if let Some(entry) = status {
            return Err(VerifyError::Revoked {
                subject: cert.subject.clone(),
                date: crate::time::format_rfc3339(entry.date),
                reason: entry
                    .reason
                    .map_or("no reason given".into(), |r| format!("{r:?}")),
            });
        }
        let covered = bases
            .iter()
            .any(|c| !c.scope.as_ref().is_some_and(|s| s.only_some_reasons));
        if !covered && (!problems.is_empty() || opts.revocation == RevocationPolicy::Require) {
            return Err(VerifyError::RevocationUnknown {
                subject: cert.subject.clone(),
                reason: if problems.is_empty() {
                    "no CRL from its issuer".into()
                } else {
                    problems.join("; ")
                },
            });
        }
    }
    Ok(())
}
