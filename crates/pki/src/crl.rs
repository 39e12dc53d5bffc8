//! Certificate revocation lists (RFC 5280 section 5): the parsed model and the checks of
//! section 6.3 that do not need a store. Revoked serial numbers are kept in a hash map, so
//! "is serial X revoked" is O(1) whatever the CRL's size.

use std::collections::HashMap;

use der::Decode;
use x509_cert::crl::CertificateList;
use x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint;

use crate::error::PkiError;
use crate::name::{DistinguishedName, GeneralName};
use crate::ops::{CryptoOps, PublicKeyRef, SignatureError};
use crate::sig::SignatureAlgorithm;

/// CRL extension and entry-extension OIDs (RFC 5280 5.2, 5.3).
mod oid {
    pub const AUTHORITY_KEY_ID: &str = "2.5.29.35";
    pub const ISSUER_ALT_NAME: &str = "2.5.29.18";
    pub const CRL_NUMBER: &str = "2.5.29.20";
    pub const DELTA_CRL_INDICATOR: &str = "2.5.29.27";
    pub const ISSUING_DISTRIBUTION_POINT: &str = "2.5.29.28";
    pub const FRESHEST_CRL: &str = "2.5.29.46";
    pub const AUTHORITY_INFO_ACCESS: &str = "1.3.6.1.5.5.7.1.1";
    pub const REASON_CODE: &str = "2.5.29.21";
    pub const INVALIDITY_DATE: &str = "2.5.29.24";
    pub const CERTIFICATE_ISSUER: &str = "2.5.29.29";
}

/// Compares two CRL numbers given in hex (as [`Crl::number`] holds them) numerically.
pub fn cmp_number(a: &str, b: &str) -> std::cmp::Ordering {
    let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Revocation reasons (RFC 5280 5.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Reason {
    /// unspecified (0).
    Unspecified,
    /// keyCompromise (1).
    KeyCompromise,
    /// cACompromise (2).
    CaCompromise,
    /// affiliationChanged (3).
    AffiliationChanged,
    /// superseded (4).
    Superseded,
    /// cessationOfOperation (5).
    CessationOfOperation,
    /// certificateHold (6).
    CertificateHold,
    /// removeFromCRL (8): only in delta CRLs.
    RemoveFromCrl,
    /// privilegeWithdrawn (9).
    PrivilegeWithdrawn,
    /// aACompromise (10).
    AaCompromise,
}

impl Reason {
    fn from_code(c: u8) -> Option<Reason> {
        Some(match c {
            0 => Reason::Unspecified,
            1 => Reason::KeyCompromise,
            2 => Reason::CaCompromise,
            3 => Reason::AffiliationChanged,
            4 => Reason::Superseded,
            5 => Reason::CessationOfOperation,
            6 => Reason::CertificateHold,
            8 => Reason::RemoveFromCrl,
            9 => Reason::PrivilegeWithdrawn,
            10 => Reason::AaCompromise,
            _ => return None,
        })
    }
}

/// One revoked certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// revocationDate, Unix seconds.
    pub date: i64,
    /// reasonCode, when present.
    pub reason: Option<Reason>,
    /// certificateIssuer (indirect CRLs): the issuer of this and following entries.
    pub issuer: Option<DistinguishedName>,
}

/// Every revocation reason of ReasonFlags (RFC 5280 4.2.1.13: bits 1 to 8).
pub const ALL_REASONS: u16 = 0x1fe;

/// A distribution point (RFC 5280 4.2.1.13 in certificates; the issuingDistributionPoint
/// of 5.2.5 in CRLs), with nameRelativeToCRLIssuer resolved to a full directoryName.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DistPoint {
    /// distributionPoint names; `None` when the field is absent.
    pub names: Option<Vec<GeneralName>>,
    /// reasons (onlySomeReasons in a CRL) as ReasonFlags bits; `None`: all reasons.
    pub reasons: Option<u16>,
    /// cRLIssuer names (certificates only); empty: the certificate's issuer issues the CRL.
    pub crl_issuer: Vec<GeneralName>,
}

/// Full names of a distribution point name; a relative name is appended to `crl_issuer`.
pub(crate) fn point_names(
    dpn: &x509_cert::ext::pkix::name::DistributionPointName,
    crl_issuer: &DistinguishedName,
) -> Vec<GeneralName> {
    use x509_cert::ext::pkix::name::DistributionPointName as N;
    match dpn {
        N::FullName(names) => names.iter().map(GeneralName::from_x509).collect(),
        N::NameRelativeToCRLIssuer(rdn) => vec![GeneralName::Directory(crl_issuer.with_rdn(rdn))],
    }
}

/// issuingDistributionPoint, decoded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// distributionPoint names (the CRL covers only certificates naming one of them).
    pub point: Option<Vec<GeneralName>>,
    /// onlySomeReasons as ReasonFlags bits.
    pub reasons: Option<u16>,
    /// onlyContainsUserCerts.
    pub only_user: bool,
    /// onlyContainsCACerts.
    pub only_ca: bool,
    /// onlyContainsAttributeCerts.
    pub only_attribute: bool,
    /// onlySomeReasons present.
    pub only_some_reasons: bool,
    /// indirectCRL.
    pub indirect: bool,
}

/// (issuer public key, signature result).
type SignatureMemo = (Vec<u8>, Result<(), SignatureError>);

/// A parsed CRL.
#[derive(Debug)]
pub struct Crl {
    /// Original DER.
    pub der: Vec<u8>,
    /// Issuer, display form.
    pub issuer: String,
    /// Issuer, comparable.
    pub issuer_dn: DistinguishedName,
    /// thisUpdate, Unix seconds.
    pub this_update: i64,
    /// nextUpdate, Unix seconds.
    pub next_update: Option<i64>,
    /// cRLNumber, hex, when present.
    pub number: Option<String>,
    /// deltaCRLIndicator (base CRL number, hex) for delta CRLs.
    pub delta_base: Option<String>,
    /// authorityKeyIdentifier keyIdentifier, hex.
    pub authority_key_id: Option<String>,
    /// issuingDistributionPoint.
    pub scope: Option<Scope>,
    /// Problems that make the CRL unusable (profile of RFC 5280 5.2), in order found.
    pub defects: Vec<String>,
    /// Revoked serial numbers (INTEGER contents, minimal two's complement) to entries.
    pub entries: HashMap<Vec<u8>, Entry>,
    tbs: Vec<u8>,
    signature_algorithm: SignatureAlgorithm,
    signature: Vec<u8>,
    /// Signature results by issuer public key: a large CRL is hashed once, not per lookup.
    verified: std::sync::Mutex<Vec<SignatureMemo>>,
}

impl Clone for Crl {
    fn clone(&self) -> Self {
        Crl {
            der: self.der.clone(),
            issuer: self.issuer.clone(),
            issuer_dn: self.issuer_dn.clone(),
            this_update: self.this_update,
            next_update: self.next_update,
            number: self.number.clone(),
            delta_base: self.delta_base.clone(),
            authority_key_id: self.authority_key_id.clone(),
            scope: self.scope.clone(),
            defects: self.defects.clone(),
            entries: self.entries.clone(),
            tbs: self.tbs.clone(),
            signature_algorithm: self.signature_algorithm.clone(),
            signature: self.signature.clone(),
            verified: std::sync::Mutex::new(Vec::new()),
        }
    }
}

/// A cRLNumber (non-negative, 5.2.3) as hex without leading zero bytes.
fn number_hex(bytes: &[u8]) -> String {
    let mut b = bytes;
    while b.len() > 1 && b[0] == 0 {
        b = &b[1..];
    }
    hex::encode(b)
}

/// Serial numbers are compared as INTEGERs: minimal two's complement, sign kept.
fn serial_key(bytes: &[u8]) -> Vec<u8> {
    crate::raw::minimal_integer(bytes).to_vec()
}

impl Crl {
    /// Parses a DER CRL. Structural errors fail; profile violations are recorded in `defects`.
    pub fn from_der(der: &[u8]) -> Result<Crl, PkiError> {
        let bad = |e: der::Error| PkiError::BadCrl(e.into());
        let v1 = crate::raw::with_crl_version(der);
        let list: CertificateList =
            CertificateList::from_der(v1.as_deref().unwrap_or(der)).map_err(bad)?;
        let tbs = &list.tbs_cert_list;
        let mut crl = Crl {
            der: der.to_vec(),
            issuer: crate::cert::format_name(&tbs.issuer),
            issuer_dn: DistinguishedName::from_x509(&tbs.issuer),
            this_update: tbs.this_update.to_unix_duration().as_secs() as i64,
            next_update: tbs
                .next_update
                .map(|t| t.to_unix_duration().as_secs() as i64),
            number: None,
            delta_base: None,
            authority_key_id: None,
            scope: None,
            defects: Vec::new(),
            entries: HashMap::with_capacity(tbs.revoked_certificates.as_ref().map_or(0, Vec::len)),
            // The signature covers the bytes as received, not a re-encoding.
            tbs: crate::raw::tbs(der)
                .ok_or_else(|| {
                    PkiError::BadCrl(crate::error::DerDetail(
                        "tbsCertList does not decode".into(),
                    ))
                })?
                .to_vec(),
            signature_algorithm: crate::sig::parse(&list.signature_algorithm),
            signature: list.signature.raw_bytes().to_vec(),
            verified: std::sync::Mutex::new(Vec::new()),
        };
        if tbs.signature != list.signature_algorithm {
            crl.defects.push(
                "signature algorithm differs inside and outside tbsCertList (5.1.1.2)".into(),
            );
        }
        for e in tbs.crl_extensions.iter().flatten() {
            let id = e.extn_id.to_string();
            let v = e.extn_value.as_bytes();
            match id.as_str() {
                oid::CRL_NUMBER => {
                    if e.critical {
                        crl.defects
                            .push("cRLNumber must be non-critical (5.2.3)".into());
                    }
                    let n = x509_cert::ext::pkix::CrlNumber::from_der(v).map_err(bad)?;
                    crl.number = Some(number_hex(n.0.as_bytes()));
                }
                oid::DELTA_CRL_INDICATOR => {
                    let n = x509_cert::ext::pkix::BaseCrlNumber::from_der(v).map_err(bad)?;
                    crl.delta_base = Some(number_hex(n.0.as_bytes()));
                }
                oid::AUTHORITY_KEY_ID => {
                    let aki =
                        x509_cert::ext::pkix::AuthorityKeyIdentifier::from_der(v).map_err(bad)?;
                    crl.authority_key_id = aki.key_identifier.map(|k| hex::encode(k.as_bytes()));
                }
                oid::ISSUING_DISTRIBUTION_POINT => {
                    let idp = IssuingDistributionPoint::from_der(v).map_err(bad)?;
                    crl.scope = Some(Scope {
                        point: idp
                            .distribution_point
                            .as_ref()
                            .map(|p| point_names(p, &crl.issuer_dn)),
                        reasons: idp.only_some_reasons.map(|r| r.bits()),
                        only_user: idp.only_contains_user_certs,
                        only_ca: idp.only_contains_ca_certs,
                        only_attribute: idp.only_contains_attribute_certs,
                        only_some_reasons: idp.only_some_reasons.is_some(),
                        indirect: idp.indirect_crl,
                    });
                }
                oid::ISSUER_ALT_NAME | oid::FRESHEST_CRL | oid::AUTHORITY_INFO_ACCESS => {}
                _ if e.critical => crl
                    .defects
                    .push(format!("unsupported critical CRL extension {id} (5.2)")),
                _ => {}
            }
        }
        // A version 1 CRL has no extensions, so no cRLNumber (RFC 5280 5.1.2.1 allows it).
        if crl.number.is_none() && v1.is_none() {
            crl.defects
                .push("cRLNumber missing (5.2.3: conforming CRL issuers MUST include it)".into());
        }
        let mut current_issuer: Option<DistinguishedName> = None;
        for rc in tbs.revoked_certificates.iter().flatten() {
            let mut entry = Entry {
                date: rc.revocation_date.to_unix_duration().as_secs() as i64,
                reason: None,
                issuer: None,
            };
            for e in rc.crl_entry_extensions.iter().flatten() {
                let id = e.extn_id.to_string();
                let v = e.extn_value.as_bytes();
                match id.as_str() {
                    oid::REASON_CODE => {
                        let code = der::asn1::Any::from_der(v).map_err(bad)?;
                        entry.reason = code.value().first().and_then(|c| Reason::from_code(*c));
                    }
                    oid::CERTIFICATE_ISSUER => {
                        let names =
                            x509_cert::ext::pkix::name::GeneralNames::from_der(v).map_err(bad)?;
                        current_issuer =
                            names.iter().find_map(|n| match GeneralName::from_x509(n) {
                                GeneralName::Directory(d) => Some(d),
                                _ => None,
                            });
                    }
                    oid::INVALIDITY_DATE => {}
                    _ if e.critical => crl.defects.push(format!(
                        "unsupported critical CRL entry extension {id} (5.3)"
                    )),
                    _ => {}
                }
            }
            entry.issuer = current_issuer.clone();
            crl.entries
                .insert(serial_key(rc.serial_number.as_bytes()), entry);
        }
        Ok(crl)
    }

    /// Looks a serial number up (bytes as in the certificate).
    pub fn entry(&self, serial: &[u8]) -> Option<&Entry> {
        self.entries.get(crate::raw::minimal_integer(serial))
    }

    /// Verifies the CRL's signature with the issuer's public key. The result is remembered
    /// per key, so a CRL of a million entries is hashed once however often it is consulted.
    pub fn verify_signature(
        &self,
        key: PublicKeyRef<'_>,
        ops: &dyn CryptoOps,
    ) -> Result<(), SignatureError> {
        {
            let cache = crate::lock(&self.verified);
            if let Some((_, r)) = cache.iter().find(|(k, _)| k.as_slice() == key.key) {
                return r.clone();
            }
        }
        let r = ops.verify_signature(&self.signature_algorithm, key, &self.tbs, &self.signature);
        {
            let mut cache = crate::lock(&self.verified);
            cache.push((key.key.to_vec(), r.clone()));
        }
        r
    }

    /// The PEM form.
    pub fn to_pem(&self) -> String {
        crate::pem::encode("X509 CRL", &self.der)
    }
}
