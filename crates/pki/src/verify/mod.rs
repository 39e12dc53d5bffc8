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

mod build;
mod names;
mod policy;
mod profile;
mod revocation;
mod validate;

#[cfg(test)]
mod test_support;

use build::*;
use names::*;
use policy::*;
use profile::*;
use revocation::*;
use validate::*;

pub use names::name_matches;
pub use profile::smime_usage;

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

/// Which certificate profile a path is held to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Profile {
    /// RFC 5280 section 6 as a relying party: the checks path validation defines, plus
    /// refusing encodings no reading of which is safe. The default.
    #[default]
    Rfc5280,
    /// Also the issuer duties of RFC 5280 section 4 (extension criticality, key
    /// identifiers, positive serial numbers, non-empty extensions).
    Strict,
}

/// The default of [`Options::min_rsa_bits`] (and of the `min-rsa-bits` setting).
pub const DEFAULT_MIN_RSA_BITS: u32 = 2048;

/// Options of a validation.
#[derive(Debug, Clone)]
pub struct Options {
    /// The certificate profile.
    pub profile: Profile,
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
    /// The smallest RSA key (modulus bits) trusted anywhere in a path, anchor included:
    /// smaller ones, down to 1,024 bits, still verify but make the path [`VerifyError::WeakKey`]
    /// (default [`DEFAULT_MIN_RSA_BITS`]).
    pub min_rsa_bits: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            profile: Profile::default(),
            time: 0,
            allow_sha1: false,
            required_eku: Vec::new(),
            required_ku: Vec::new(),
            peer_name: None,
            policy: PolicyOptions::default(),
            budget: Budget::default(),
            web_pki: false,
            crls: Vec::new(),
            revocation: RevocationPolicy::default(),
            purpose: Purpose::default(),
            ctl: std::sync::Arc::default(),
            min_rsa_bits: DEFAULT_MIN_RSA_BITS,
        }
    }
}

/// Refuses an RSA key under `opts.min_rsa_bits` ([`VerifyError::WeakKey`]), and one under
/// 1,024 bits as [`VerifyError::Unsupported`] whatever the minimum.
pub(super) fn check_key_size(c: &Certificate, opts: &Options) -> Result<(), VerifyError> {
    match c.public_key {
        crate::cert::KeyAlgorithm::Rsa { bits } | crate::cert::KeyAlgorithm::RsaPss { bits }
            if bits < 1024 =>
        {
            Err(VerifyError::Unsupported {
                subject: c.subject.clone(),
                what: format!("RSA key of {bits} bits"),
            })
        }
        crate::cert::KeyAlgorithm::Rsa { bits } | crate::cert::KeyAlgorithm::RsaPss { bits }
            if bits < opts.min_rsa_bits =>
        {
            Err(VerifyError::WeakKey {
                subject: c.subject.clone(),
                bits,
                min: opts.min_rsa_bits,
            })
        }
        _ => Ok(()),
    }
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
    /// for EC and X25519 keys; EKU as for signing.
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
    /// An RSA key smaller than the minimum (`min-rsa-bits`): its signatures verify, but it
    /// is not trusted.
    #[error("{subject} has an RSA key of {bits} bits, below the minimum of {min} (min-rsa-bits)")]
    WeakKey {
        /// Certificate.
        subject: String,
        /// Modulus size.
        bits: u32,
        /// The minimum in force.
        min: u32,
    },
    /// An algorithm or key on the path that certmail does not check (an RSA key under
    /// 1,024 bits, an unknown signature algorithm): nothing is known about the path.
    #[error("{what} ({subject})")]
    Unsupported {
        /// The certificate whose signature could not be checked.
        subject: String,
        /// What is not supported.
        what: String,
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
            VerifyError::BadSignature { .. } | VerifyError::Unsupported { .. } => 3,
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

/// Builds and validates a path from `leaf` to one of `anchors`.
pub fn verify<'a>(
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<ValidPath<'a>, VerifyError> {
    verify_at_depth(leaf, intermediates, anchors, opts, ops, 0)
}

/// [`verify`] nested in `depth` CRL-signer validations (revocation.rs bounds the nesting).
fn verify_at_depth<'a>(
    leaf: &'a Certificate,
    intermediates: &'a [Certificate],
    anchors: &'a [Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
    depth: u8,
) -> Result<ValidPath<'a>, VerifyError> {
    let mut b = Builder {
        intermediates,
        anchors,
        opts,
        ops,
        signatures: 0,
        steps: 0,
        best: None,
        depth,
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
    check_key_size(leaf, opts)?;
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
            0,
        )?;
    }
    Ok(ValidPath { certs: vec![leaf] })
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
