//! The certificate model: every field an administrator (or a later trust decision) needs,
//! parsed once from DER and kept beside the original bytes.

use der::asn1::{
    Any, Ia5StringRef, OctetString, PrintableStringRef, TeletexStringRef, Utf8StringRef,
};
use der::{Decode, Encode, Tag, Tagged};
use serde::Serialize;
use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName as X509GeneralName};
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, CertificatePolicies, CrlDistributionPoints,
    ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::name::Name;

use crate::error::PkiError;

/// id-ce-freshestCRL.
const FRESHEST_CRL_OID: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.5.29.46");
use crate::name::{DistinguishedName, GeneralName};
use crate::oids::{self, ext};
use crate::ops::CryptoOps;
use crate::sig::SignatureAlgorithm;
use crate::time::format_rfc3339;

/// The public-key algorithm and its strength.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum KeyAlgorithm {
    /// RSA with its modulus size in bits.
    Rsa {
        /// Modulus length in bits.
        bits: u32,
    },
    /// RSA restricted to PSS (id-RSASSA-PSS key).
    RsaPss {
        /// Modulus length in bits.
        bits: u32,
    },
    /// Elliptic curve public key on a named curve.
    Ec {
        /// Curve name (`P-256`, `P-384`, `P-521`) or the curve OID.
        curve: String,
    },
    /// Ed25519.
    Ed25519,
    /// X25519 (key agreement, RFC 8410 / RFC 8418).
    X25519,
    /// Ed448.
    Ed448,
    /// DSA.
    Dsa,
    /// Anything else, by OID.
    Other {
        /// The algorithm OID.
        oid: String,
    },
}

impl std::fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyAlgorithm::Rsa { bits } => write!(f, "RSA {bits}"),
            KeyAlgorithm::RsaPss { bits } => write!(f, "RSA-PSS {bits}"),
            KeyAlgorithm::Ec { curve } => write!(f, "EC {curve}"),
            KeyAlgorithm::Ed25519 => f.write_str("Ed25519"),
            KeyAlgorithm::X25519 => f.write_str("X25519"),
            KeyAlgorithm::Ed448 => f.write_str("Ed448"),
            KeyAlgorithm::Dsa => f.write_str("DSA"),
            KeyAlgorithm::Other { oid } => write!(f, "unknown ({oid})"),
        }
    }
}

/// basicConstraints (RFC 5280 4.2.1.9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Basic {
    /// cA flag.
    pub ca: bool,
    /// pathLenConstraint.
    pub path_len: Option<u8>,
}

/// One extension as found in the certificate. Known ones are also decoded into fields of
/// [`Certificate`]; unknown ones are kept here with their raw value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ExtensionInfo {
    /// Dotted OID.
    pub oid: String,
    /// Readable name (or the OID again when unknown).
    pub name: String,
    /// Criticality flag.
    pub critical: bool,
    /// Whether certmail understands this extension.
    pub known: bool,
    /// Hex of extnValue, for unknown extensions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_hex: Option<String>,
}

/// A parsed X.509 certificate (v1, v2 or v3) with the original DER.
#[derive(Debug, Clone, Serialize)]
pub struct Certificate {
    /// 1, 2 or 3.
    pub version: u8,
    /// Serial number, lower-case hex without sign padding.
    pub serial: String,
    /// Subject DN (RFC 4514).
    pub subject: String,
    /// Subject common name, when present (the last CN in the name).
    pub common_name: Option<String>,
    /// Issuer DN (RFC 4514).
    pub issuer: String,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Public key algorithm and size/curve.
    pub public_key: KeyAlgorithm,
    /// Signature algorithm name (or OID).
    pub signature_algorithm: String,
    /// All e-mail addresses (subject emailAddress + SAN rfc822Name), lower-cased, unique, in order.
    pub emails: Vec<String>,
    /// SAN dNSName entries.
    pub dns_names: Vec<String>,
    /// keyUsage bits by name, `None` when the extension is absent.
    pub key_usage: Option<Vec<String>>,
    /// extendedKeyUsage purposes by name, `None` when absent.
    pub extended_key_usage: Option<Vec<String>>,
    /// basicConstraints, `None` when absent.
    pub basic_constraints: Option<Basic>,
    /// subjectKeyIdentifier, hex.
    pub subject_key_id: Option<String>,
    /// authorityKeyIdentifier keyIdentifier, hex.
    pub authority_key_id: Option<String>,
    /// URIs of the CRL distribution points.
    pub crl_distribution_points: Vec<String>,
    /// URIs of the freshestCRL extension (where delta CRLs are published, RFC 5280
    /// 4.2.1.15). Collected for download only: the extension itself stays "unknown" to the
    /// path validation, as before.
    pub freshest_crl: Vec<String>,
    /// Policy OIDs of certificatePolicies.
    pub policies: Vec<String>,
    /// Every extension, in order.
    pub extensions: Vec<ExtensionInfo>,
    /// SHA-256 over the DER, lower-case hex (the thumbprint shown to people).
    pub sha256: String,
    /// SHA-512 over the DER, lower-case hex (the CTL key).
    pub sha512: String,
    /// SHA-256 over the subjectPublicKey bits: links the certificate to its private key.
    pub key_id: String,
    /// Original DER.
    #[serde(skip)]
    pub der: Vec<u8>,
    /// What path validation needs beyond the displayed fields.
    #[serde(skip)]
    pub vd: ValidationData,
}

/// A name constraint subtree base (minimum/maximum must be 0/absent, RFC 5280 4.2.1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtree {
    /// The base name.
    pub base: GeneralName,
    /// True when minimum != 0 or maximum is present (not allowed in this profile).
    pub bad_bounds: bool,
}

/// nameConstraints, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameConstraints {
    /// permittedSubtrees, `None` when absent.
    pub permitted: Option<Vec<Subtree>>,
    /// excludedSubtrees, `None` when absent.
    pub excluded: Option<Vec<Subtree>>,
}

/// The parts of a certificate path validation uses (RFC 5280 section 6.1).
#[derive(Debug, Clone, Default)]
pub struct ValidationData {
    /// tbsCertificate as received (what the signature covers).
    pub tbs: Vec<u8>,
    /// The serial number's INTEGER contents, minimal two's complement (CRL lookups).
    pub serial: Vec<u8>,
    /// The outer signatureAlgorithm.
    pub signature_algorithm: Option<SignatureAlgorithm>,
    /// tbsCertificate.signature equals the outer signatureAlgorithm (4.1.1.2).
    pub signature_algorithms_match: bool,
    /// The signature bits.
    pub signature: Vec<u8>,
    /// subjectPublicKey bits.
    pub public_key: Vec<u8>,
    /// Subject, comparable.
    pub subject: DistinguishedName,
    /// Issuer, comparable.
    pub issuer: DistinguishedName,
    /// subjectAltName entries, `None` when the extension is absent.
    pub san: Option<Vec<GeneralName>>,
    /// keyUsage bits (bit 0 = digitalSignature ... bit 8 = decipherOnly).
    pub key_usage_bits: Option<u16>,
    /// extendedKeyUsage OIDs (dotted), `None` when absent.
    pub eku: Option<Vec<String>>,
    /// nameConstraints.
    pub name_constraints: Option<NameConstraints>,
    /// certificatePolicies OIDs, `None` when absent.
    pub policies: Option<Vec<String>>,
    /// policyMappings (issuerDomainPolicy, subjectDomainPolicy).
    pub policy_mappings: Option<Vec<(String, String)>>,
    /// policyConstraints requireExplicitPolicy.
    pub require_explicit_policy: Option<u32>,
    /// policyConstraints inhibitPolicyMapping.
    pub inhibit_policy_mapping: Option<u32>,
    /// True when policyConstraints is present but empty (forbidden, 4.2.1.11).
    pub empty_policy_constraints: bool,
    /// inhibitAnyPolicy skipCerts.
    pub inhibit_any_policy: Option<u32>,
    /// Critical extensions certmail does not process.
    pub unknown_critical: Vec<String>,
    /// Extensions that appear more than once (4.2: MUST NOT).
    pub duplicate_extensions: Vec<String>,
    /// Extensions whose criticality violates the profile (name, reason).
    pub criticality_errors: Vec<String>,
    /// Serial number is zero or negative.
    pub bad_serial: bool,
    /// issuerUniqueID or subjectUniqueID present.
    pub unique_ids: bool,
    /// Extensions present in a certificate below version 3.
    pub extensions_without_v3: bool,
    /// Public-key algorithm OID (dotted) and EC curve (dotted), for signature checks.
    pub key_oid: String,
    /// Named curve of an EC key (dotted OID).
    pub key_curve: Option<String>,
    /// Criticality of basicConstraints, extendedKeyUsage and subjectAltName.
    pub basic_constraints_critical: bool,
    /// extendedKeyUsage is critical.
    pub eku_critical: bool,
    /// subjectAltName is critical.
    pub san_critical: bool,
    /// authorityKeyIdentifier present.
    pub has_aki: bool,
    /// authorityKeyIdentifier carries keyIdentifier.
    pub aki_key_id: bool,
    /// authorityKeyIdentifier carries authorityCertIssuer or authorityCertSerialNumber.
    pub aki_issuer_serial: bool,
    /// authorityInfoAccess present but not decodable.
    pub aia_malformed: bool,
    /// cRLIssuer names of the CRL distribution points (indirect CRLs, RFC 5280 4.2.1.13).
    pub crl_issuers: Vec<DistinguishedName>,
    /// The key algorithm's parameters (DER) when present and not NULL (DSA's p, q, g).
    pub key_parameters: Option<Vec<u8>>,
    /// The cRLDistributionPoints extension (empty when absent).
    pub crl_points: Vec<crate::crl::DistPoint>,
}

impl Certificate {
    /// Parses a DER certificate.
    pub fn from_der(der: &[u8], ops: &dyn CryptoOps) -> Result<Self, PkiError> {
        let bad = |e: der::Error| PkiError::BadCertificate(e.into());
        let cert = decode_x509(der).map_err(bad)?;
        let detail = |s: &str| PkiError::BadCertificate(crate::error::DerDetail(s.into()));
        let (not_before, not_after) = crate::raw::validity_times(der)
            .ok_or_else(|| detail("validity times do not decode (4.1.2.5)"))?;
        let raw_tbs =
            crate::raw::tbs(der).ok_or_else(|| detail("tbsCertificate does not decode"))?;
        let tbs = cert.tbs_certificate();
        let spki = tbs.subject_public_key_info();
        let key_bits = spki.subject_public_key.raw_bytes();

        let mut c = Certificate {
            version: tbs.version() as u8 + 1,
            serial: serial_hex(tbs.serial_number().as_bytes()),
            subject: format_name(tbs.subject()),
            common_name: common_name(tbs.subject()),
            issuer: format_name(tbs.issuer()),
            not_before,
            not_after,
            public_key: key_algorithm(
                &spki.algorithm.oid,
                spki.algorithm.parameters.as_ref(),
                key_bits,
            ),
            signature_algorithm: oids::name(&cert.signature_algorithm().oid),
            emails: Vec::new(),
            dns_names: Vec::new(),
            key_usage: None,
            extended_key_usage: None,
            basic_constraints: None,
            subject_key_id: None,
            authority_key_id: None,
            crl_distribution_points: Vec::new(),
            freshest_crl: Vec::new(),
            policies: Vec::new(),
            extensions: Vec::new(),
            sha256: hex::encode(ops.sha256(der)),
            sha512: hex::encode(ops.sha512(der)),
            key_id: hex::encode(ops.sha256(key_bits)),
            der: der.to_vec(),
            vd: ValidationData {
                // The signature covers the bytes as received, not a re-encoding.
                tbs: raw_tbs.to_vec(),
                serial: crate::raw::minimal_integer(tbs.serial_number().as_bytes()).to_vec(),
                signature_algorithm: Some(crate::sig::parse(cert.signature_algorithm())),
                signature_algorithms_match: tbs.signature() == cert.signature_algorithm(),
                signature: cert.signature().raw_bytes().to_vec(),
                public_key: key_bits.to_vec(),
                subject: DistinguishedName::from_x509(tbs.subject()),
                issuer: DistinguishedName::from_x509(tbs.issuer()),
                bad_serial: {
                    let b = tbs.serial_number().as_bytes();
                    b.iter().all(|x| *x == 0)
                },
                unique_ids: tbs.issuer_unique_id().is_some() || tbs.subject_unique_id().is_some(),
                extensions_without_v3: tbs.extensions().is_some()
                    && tbs.version() != x509_cert::certificate::Version::V3,
                key_oid: spki.algorithm.oid.to_string(),
                key_parameters: spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .filter(|p| p.tag() != der::Tag::Null)
                    .and_then(|p| der::Encode::to_der(p).ok()),
                key_curve: spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok())
                    .map(|o| o.to_string()),
                ..ValidationData::default()
            },
        };
        for atv in tbs.subject().iter() {
            if atv.oid == oids::EMAIL_ADDRESS
                && let Some(v) = any_string(&atv.value)
            {
                push_email(&mut c.emails, &v);
            }
        }
        let mut seen: Vec<&der::oid::ObjectIdentifier> = Vec::new();
        for e in tbs.extensions().map(Vec::as_slice).unwrap_or_default() {
            if seen.contains(&&e.extn_id) {
                c.vd.duplicate_extensions.push(oids::name(&e.extn_id));
            }
            seen.push(&e.extn_id);
            c.check_criticality(&e.extn_id, e.critical);
            match e.extn_id {
                ext::BASIC_CONSTRAINTS => c.vd.basic_constraints_critical = e.critical,
                ext::EXT_KEY_USAGE => c.vd.eku_critical = e.critical,
                ext::SUBJECT_ALT_NAME => c.vd.san_critical = e.critical,
                _ => {}
            }
            let value = e.extn_value.as_bytes();
            let known = c.decode_extension(&e.extn_id, value).map_err(bad)?;
            if e.extn_id == FRESHEST_CRL_OID
                && let Ok(f) = x509_cert::ext::pkix::FreshestCrl::from_der(value)
            {
                for dp in f.0 {
                    if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                        for n in names {
                            if let X509GeneralName::UniformResourceIdentifier(u) = n {
                                c.freshest_crl.push(u.as_str().to_owned());
                            }
                        }
                    }
                }
            }
            if e.critical && !known {
                c.vd.unknown_critical.push(e.extn_id.to_string());
            }
            c.extensions.push(ExtensionInfo {
                oid: e.extn_id.to_string(),
                name: oids::name(&e.extn_id),
                critical: e.critical,
                known,
                value_hex: (!known).then(|| hex::encode(value)),
            });
        }
        Ok(c)
    }

    /// Decodes a known extension into the model; returns false for unknown ones.
    fn decode_extension(
        &mut self,
        oid: &der::oid::ObjectIdentifier,
        v: &[u8],
    ) -> der::Result<bool> {
        match *oid {
            ext::KEY_USAGE => {
                let ku = KeyUsage::from_der(v)?;
                self.key_usage = Some(key_usage_names(&ku));
                self.vd.key_usage_bits = Some(ku.0.bits());
            }
            ext::EXT_KEY_USAGE => {
                let eku = ExtendedKeyUsage::from_der(v)?;
                self.extended_key_usage = Some(eku.0.iter().map(oids::name).collect());
                self.vd.eku = Some(eku.0.iter().map(|o| o.to_string()).collect());
            }
            ext::BASIC_CONSTRAINTS => {
                let bc = BasicConstraints::from_der(v)?;
                self.basic_constraints = Some(Basic {
                    ca: bc.ca,
                    path_len: bc.path_len_constraint,
                });
            }
            ext::SUBJECT_KEY_ID => {
                self.subject_key_id =
                    Some(hex::encode(SubjectKeyIdentifier::from_der(v)?.0.as_bytes()));
            }
            ext::AUTHORITY_KEY_ID => {
                let aki = AuthorityKeyIdentifier::from_der(v)?;
                self.vd.has_aki = true;
                self.vd.aki_key_id = aki.key_identifier.is_some();
                self.vd.aki_issuer_serial = aki.authority_cert_issuer.is_some()
                    || aki.authority_cert_serial_number.is_some();
                self.authority_key_id = aki
                    .key_identifier
                    .as_ref()
                    .map(|k: &OctetString| hex::encode(k.as_bytes()));
            }
            ext::SUBJECT_ALT_NAME => {
                let san = SubjectAltName::from_der(v)?.0;
                self.vd.san = Some(san.iter().map(GeneralName::from_x509).collect());
                for gn in san {
                    match gn {
                        X509GeneralName::Rfc822Name(m) => push_email(&mut self.emails, m.as_str()),
                        X509GeneralName::DnsName(d) => {
                            self.dns_names.push(d.as_str().to_ascii_lowercase())
                        }
                        _ => {}
                    }
                }
            }
            ext::CRL_DISTRIBUTION_POINTS => {
                for dp in CrlDistributionPoints::from_der(v)?.0 {
                    let mut crl_issuer_dn = None;
                    for n in dp.crl_issuer.iter().flatten() {
                        if let X509GeneralName::DirectoryName(d) = n {
                            let dn = DistinguishedName::from_x509(d);
                            crl_issuer_dn.get_or_insert_with(|| dn.clone());
                            self.vd.crl_issuers.push(dn);
                        }
                    }
                    let relative_to = crl_issuer_dn.unwrap_or_else(|| self.vd.issuer.clone());
                    self.vd.crl_points.push(crate::crl::DistPoint {
                        names: dp
                            .distribution_point
                            .as_ref()
                            .map(|p| crate::crl::point_names(p, &relative_to)),
                        reasons: dp.reasons.map(|r| r.bits()),
                        crl_issuer: dp
                            .crl_issuer
                            .iter()
                            .flatten()
                            .map(GeneralName::from_x509)
                            .collect(),
                    });
                    if let Some(DistributionPointName::FullName(names)) = dp.distribution_point {
                        for n in names {
                            if let X509GeneralName::UniformResourceIdentifier(u) = n {
                                self.crl_distribution_points.push(u.as_str().to_owned());
                            }
                        }
                    }
                }
            }
            ext::CERTIFICATE_POLICIES => {
                self.policies = CertificatePolicies::from_der(v)?
                    .0
                    .iter()
                    .map(|p| p.policy_identifier.to_string())
                    .collect();
                self.vd.policies = Some(self.policies.clone());
            }
            ext::NAME_CONSTRAINTS => {
                let nc = x509_cert::ext::pkix::NameConstraints::from_der(v)?;
                let conv =
                    |t: &Option<x509_cert::ext::pkix::constraints::name::GeneralSubtrees>| {
                        t.as_ref().map(|subtrees| {
                            subtrees
                                .iter()
                                .map(|st| Subtree {
                                    base: GeneralName::from_x509(&st.base),
                                    bad_bounds: st.minimum != 0 || st.maximum.is_some(),
                                })
                                .collect::<Vec<_>>()
                        })
                    };
                self.vd.name_constraints = Some(NameConstraints {
                    permitted: conv(&nc.permitted_subtrees),
                    excluded: conv(&nc.excluded_subtrees),
                });
            }
            ext::POLICY_MAPPINGS => {
                let pm = x509_cert::ext::pkix::PolicyMappings::from_der(v)?;
                self.vd.policy_mappings = Some(
                    pm.0.iter()
                        .map(|m| {
                            (
                                m.issuer_domain_policy.to_string(),
                                m.subject_domain_policy.to_string(),
                            )
                        })
                        .collect(),
                );
            }
            ext::POLICY_CONSTRAINTS => {
                let pc = x509_cert::ext::pkix::PolicyConstraints::from_der(v)?;
                self.vd.require_explicit_policy = pc.require_explicit_policy;
                self.vd.inhibit_policy_mapping = pc.inhibit_policy_mapping;
                self.vd.empty_policy_constraints =
                    pc.require_explicit_policy.is_none() && pc.inhibit_policy_mapping.is_none();
            }
            ext::INHIBIT_ANY_POLICY => {
                self.vd.inhibit_any_policy =
                    Some(x509_cert::ext::pkix::InhibitAnyPolicy::from_der(v)?.0);
            }
            ext::AUTHORITY_INFO_ACCESS => {
                self.vd.aia_malformed =
                    x509_cert::ext::pkix::AuthorityInfoAccessSyntax::from_der(v).is_err();
            }
            ext::ISSUER_ALT_NAME => {}
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Criticality rules of the RFC 5280 profile (section 4.2.1.x): conforming CAs mark
    /// these so; a certificate that does not is malformed.
    fn check_criticality(&mut self, oid: &der::oid::ObjectIdentifier, critical: bool) {
        let rule = match *oid {
            ext::AUTHORITY_KEY_ID if critical => {
                "authorityKeyIdentifier MUST be non-critical (4.2.1.1)"
            }
            ext::SUBJECT_KEY_ID if critical => {
                "subjectKeyIdentifier MUST be non-critical (4.2.1.2)"
            }
            ext::NAME_CONSTRAINTS if !critical => "nameConstraints MUST be critical (4.2.1.10)",
            ext::POLICY_CONSTRAINTS if !critical => "policyConstraints MUST be critical (4.2.1.11)",
            ext::INHIBIT_ANY_POLICY if !critical => "inhibitAnyPolicy MUST be critical (4.2.1.14)",
            ext::AUTHORITY_INFO_ACCESS if critical => {
                "authorityInfoAccess MUST be non-critical (4.2.2.1)"
            }
            _ => return,
        };
        self.vd.criticality_errors.push(rule.to_owned());
    }

    /// The subject public key, for signature checks of what this certificate's key signed.
    pub fn public_key_ref(&self) -> crate::ops::PublicKeyRef<'_> {
        crate::ops::PublicKeyRef {
            algorithm: &self.vd.key_oid,
            curve: self.vd.key_curve.as_deref(),
            key: &self.vd.public_key,
            parameters: self.vd.key_parameters.as_deref(),
        }
    }

    /// True when subject and issuer names are equal (a root or other self-issued certificate).
    pub fn is_self_issued(&self) -> bool {
        self.subject == self.issuer
    }

    /// The subject's attributes in order (dotted OID, string value), re-read from the DER.
    pub fn subject_attributes(&self) -> Vec<(String, String)> {
        let Ok(c) = decode_x509(&self.der) else {
            return Vec::new();
        };
        c.tbs_certificate()
            .subject()
            .iter()
            .filter_map(|atv| any_string(&atv.value).map(|v| (atv.oid.to_string(), v)))
            .collect()
    }

    /// The serial number's bytes (big-endian two's complement, as encoded).
    pub fn serial_bytes(&self) -> Vec<u8> {
        self.vd.serial.clone()
    }

    /// True when basicConstraints says cA.
    pub fn is_ca(&self) -> bool {
        self.basic_constraints.is_some_and(|b| b.ca)
    }

    /// True when `at` (Unix seconds) is after notAfter.
    pub fn is_expired_at(&self, at: i64) -> bool {
        at > self.not_after
    }

    /// The DER as PEM.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("CERTIFICATE", &self.der)
    }

    /// A short name for lists: the first e-mail, else the CN, else the subject.
    pub fn display_name(&self) -> &str {
        self.emails
            .first()
            .or(self.common_name.as_ref())
            .unwrap_or(&self.subject)
    }

    /// notBefore as RFC 3339.
    pub fn not_before_rfc3339(&self) -> String {
        format_rfc3339(self.not_before)
    }

    /// notAfter as RFC 3339.
    pub fn not_after_rfc3339(&self) -> String {
        format_rfc3339(self.not_after)
    }
}

/// Decodes with `x509_cert`. `der` cannot hold UTCTimes before 1970 (RFC 5280 allows 1950):
/// such a certificate is decoded from a copy with a stand-in time, and callers take the
/// validity from the original bytes (raw.rs).
pub(crate) fn decode_x509(der: &[u8]) -> Result<x509_cert::Certificate, der::Error> {
    match x509_cert::Certificate::from_der(der) {
        Ok(c) => Ok(c),
        Err(e) => match crate::raw::with_decodable_times(der) {
            Some(copy) => x509_cert::Certificate::from_der(&copy),
            None => Err(e),
        },
    }
}

fn serial_hex(bytes: &[u8]) -> String {
    let trimmed = match bytes {
        [0, rest @ ..] if !rest.is_empty() => rest,
        _ => bytes,
    };
    hex::encode(trimmed)
}

fn push_email(list: &mut Vec<String>, raw: &str) {
    let e = raw.trim().to_lowercase();
    if !e.is_empty() && !list.contains(&e) {
        list.push(e);
    }
}

/// RFC 4514 short names for the attribute types found in practice (section 3, plus the
/// usual extensions); others are written as dotted OIDs, as section 2.3 says.
const ATTRIBUTE_NAMES: [(der::oid::ObjectIdentifier, &str); 20] = {
    use der::oid::ObjectIdentifier as O;
    [
        (O::new_unwrap("2.5.4.3"), "CN"),
        (O::new_unwrap("2.5.4.4"), "SN"),
        (O::new_unwrap("2.5.4.5"), "serialNumber"),
        (O::new_unwrap("2.5.4.6"), "C"),
        (O::new_unwrap("2.5.4.7"), "L"),
        (O::new_unwrap("2.5.4.8"), "ST"),
        (O::new_unwrap("2.5.4.9"), "STREET"),
        (O::new_unwrap("2.5.4.10"), "O"),
        (O::new_unwrap("2.5.4.11"), "OU"),
        (O::new_unwrap("2.5.4.12"), "title"),
        (O::new_unwrap("2.5.4.17"), "postalCode"),
        (O::new_unwrap("2.5.4.42"), "GN"),
        (O::new_unwrap("2.5.4.43"), "initials"),
        (O::new_unwrap("2.5.4.44"), "generationQualifier"),
        (O::new_unwrap("2.5.4.46"), "dnQualifier"),
        (O::new_unwrap("2.5.4.65"), "pseudonym"),
        (O::new_unwrap("2.5.4.97"), "organizationIdentifier"),
        (O::new_unwrap("0.9.2342.19200300.100.1.25"), "DC"),
        (O::new_unwrap("0.9.2342.19200300.100.1.1"), "UID"),
        (O::new_unwrap("1.2.840.113549.1.9.1"), "emailAddress"),
    ]
};

/// A DN as an RFC 4514 string: most specific RDN first, `+` inside multi-valued RDNs,
/// special characters escaped, values of unknown string types as `#` + hex of the DER.
pub fn format_name(name: &Name) -> String {
    let mut out = String::new();
    for (i, rdn) in name
        .iter_rdn()
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            match ATTRIBUTE_NAMES.iter().find(|(oid, _)| *oid == atv.oid) {
                Some((_, short)) => out.push_str(short),
                None => out.push_str(&atv.oid.to_string()),
            }
            out.push('=');
            match any_string(&atv.value) {
                Some(v) => escape_rfc4514(&v, &mut out),
                None => {
                    out.push('#');
                    out.push_str(&hex::encode(atv.value.to_der().unwrap_or_default()));
                }
            }
        }
    }
    out
}

fn escape_rfc4514(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\x00'..='\x1f' | '\x7f' => out.push_str(&format!("\\{:02x}", c as u32)),
            _ => out.push(c),
        }
    }
}

/// The last common name in a DN (the most specific one).
fn common_name(name: &Name) -> Option<String> {
    name.iter()
        .filter(|atv| atv.oid == oids::COMMON_NAME)
        .filter_map(|atv| any_string(&atv.value))
        .last()
}

/// Reads a directory string of any of the usual string types.
pub(crate) fn any_string(v: &Any) -> Option<String> {
    let s = match v.tag() {
        Tag::Utf8String => v.decode_as::<Utf8StringRef<'_>>().ok()?.as_str().to_owned(),
        Tag::PrintableString => v
            .decode_as::<PrintableStringRef<'_>>()
            .ok()?
            .as_str()
            .to_owned(),
        Tag::Ia5String => v.decode_as::<Ia5StringRef<'_>>().ok()?.as_str().to_owned(),
        Tag::TeletexString => v
            .decode_as::<TeletexStringRef<'_>>()
            .ok()?
            .as_str()
            .to_owned(),
        Tag::BmpString => {
            let units: Vec<u16> = v
                .value()
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()?
        }
        _ => return None,
    };
    Some(s)
}

fn key_usage_names(ku: &KeyUsage) -> Vec<String> {
    const NAMES: [(KeyUsages, &str); 9] = [
        (KeyUsages::DigitalSignature, "digitalSignature"),
        (KeyUsages::NonRepudiation, "nonRepudiation"),
        (KeyUsages::KeyEncipherment, "keyEncipherment"),
        (KeyUsages::DataEncipherment, "dataEncipherment"),
        (KeyUsages::KeyAgreement, "keyAgreement"),
        (KeyUsages::KeyCertSign, "keyCertSign"),
        (KeyUsages::CRLSign, "cRLSign"),
        (KeyUsages::EncipherOnly, "encipherOnly"),
        (KeyUsages::DecipherOnly, "decipherOnly"),
    ];
    NAMES
        .iter()
        .filter(|(flag, _)| ku.0.contains(*flag))
        .map(|(_, n)| (*n).to_owned())
        .collect()
}

fn key_algorithm(
    oid: &der::oid::ObjectIdentifier,
    params: Option<&Any>,
    key_bits: &[u8],
) -> KeyAlgorithm {
    match *oid {
        oids::RSA_ENCRYPTION => KeyAlgorithm::Rsa {
            bits: rsa_bits(key_bits),
        },
        oids::RSASSA_PSS => KeyAlgorithm::RsaPss {
            bits: rsa_bits(key_bits),
        },
        oids::EC_PUBLIC_KEY => {
            let curve = params
                .and_then(|p| p.decode_as::<der::oid::ObjectIdentifier>().ok())
                .map(|c| match c {
                    oids::SECP256R1 => "P-256".to_owned(),
                    oids::SECP384R1 => "P-384".to_owned(),
                    oids::SECP521R1 => "P-521".to_owned(),
                    other => other.to_string(),
                })
                .unwrap_or_else(|| "explicit parameters".to_owned());
            KeyAlgorithm::Ec { curve }
        }
        oids::ED25519 => KeyAlgorithm::Ed25519,
        oids::X25519 => KeyAlgorithm::X25519,
        oids::ED448 => KeyAlgorithm::Ed448,
        oids::DSA => KeyAlgorithm::Dsa,
        _ => KeyAlgorithm::Other {
            oid: oid.to_string(),
        },
    }
}

/// Modulus size of a PKCS#1 RSAPublicKey, 0 when it does not decode.
fn rsa_bits(key: &[u8]) -> u32 {
    #[derive(der::Sequence)]
    struct RsaPub<'a> {
        n: der::asn1::UintRef<'a>,
        _e: der::asn1::UintRef<'a>,
    }
    let Ok(k) = RsaPub::from_der(key) else {
        return 0;
    };
    let n = k.n.as_bytes();
    match n.first() {
        Some(first) => (n.len() as u32) * 8 - first.leading_zeros(),
        None => 0,
    }
}

/// Re-encodes to check a DER value round-trips (used by tests of the model).
pub fn reencode(cert: &Certificate) -> Option<Vec<u8>> {
    decode_x509(&cert.der).ok()?.to_der().ok()
}
