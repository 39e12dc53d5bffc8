//! Test PKIs for certmail's tests and benchmarks: a root, an intermediate and end-user
//! certificates with chosen e-mail addresses, validity and keys. Built with `rcgen` (a test
//! dependency only; the product's own issuing code lives in `certmail-ca`).

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};

pub use rcgen;

/// Seconds since the Unix epoch for a calendar date (UTC midnight).
pub fn unix_date(year: i32, month: u8, day: u8) -> i64 {
    rcgen::date_time_ymd(year, month, day).unix_timestamp()
}

/// A generated certificate with its key.
#[derive(Debug, Clone)]
pub struct Issued {
    /// DER certificate.
    pub der: Vec<u8>,
    /// PEM certificate.
    pub pem: String,
    /// PKCS#8 DER private key.
    pub key_pkcs8: Vec<u8>,
    /// PKCS#8 PEM private key.
    pub key_pem: String,
}

/// Options of an end-user certificate.
#[derive(Debug, Clone)]
pub struct LeafSpec {
    /// Subject common name.
    pub cn: String,
    /// E-mail addresses: the first also goes into the subject emailAddress, all into SAN.
    pub emails: Vec<String>,
    /// notBefore (Unix seconds).
    pub not_before: i64,
    /// notAfter (Unix seconds).
    pub not_after: i64,
    /// Serial number bytes (positive).
    pub serial: Vec<u8>,
}

impl LeafSpec {
    /// A leaf valid 2025-01-01 .. 2035-01-01 for one address.
    pub fn email(email: &str, serial: u64) -> Self {
        LeafSpec {
            cn: email.split('@').next().unwrap_or(email).to_owned(),
            emails: vec![email.to_owned()],
            not_before: unix_date(2025, 1, 1),
            not_after: unix_date(2035, 1, 1),
            serial: serial.to_be_bytes().to_vec(),
        }
    }
}

/// A root and an intermediate CA (P-256), ready to issue end-user certificates.
pub struct TestPki {
    /// Root certificate.
    pub root: Issued,
    /// Intermediate certificate.
    pub intermediate: Issued,
    inter_params: CertificateParams,
    inter_key: KeyPair,
    leaf_key: KeyPair,
    root_params: CertificateParams,
    root_key: KeyPair,
}

fn ca_params(cn: &str, path_len: u8) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "certmail test");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(path_len));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2044, 1, 1);
    p.use_authority_key_identifier_extension = true;
    p
}

fn issued(cert: &rcgen::Certificate, key: &KeyPair) -> Issued {
    Issued {
        der: cert.der().to_vec(),
        pem: cert.pem(),
        key_pkcs8: key.serialize_der(),
        key_pem: key.serialize_pem(),
    }
}

/// Panics with context: test fixtures either build or the test is wrong.
fn must<T, E: std::fmt::Debug>(r: Result<T, E>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => panic!("test PKI: {what}: {e:?}"),
    }
}

/// Key type of the test CAs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaKey {
    /// ECDSA P-256 with SHA-256.
    P256,
    /// RSA-2048 with PKCS#1 v1.5 SHA-256.
    Rsa2048,
}

fn ca_key(k: CaKey) -> KeyPair {
    match k {
        CaKey::P256 => must(KeyPair::generate(), "P-256 key"),
        CaKey::Rsa2048 => must(
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
            "RSA key",
        ),
    }
}

impl TestPki {
    /// A new root + intermediate with the given name prefix (so several PKIs can coexist).
    pub fn new(name: &str) -> Self {
        Self::with_key(name, CaKey::P256)
    }

    /// A second CA under the root (e.g. a dedicated CRL issuer), P-256.
    pub fn sibling_ca(&self, cn: &str) -> Ca {
        let key = must(KeyPair::generate(), "sibling key");
        let params = ca_params(cn, 0);
        let issuer = Issuer::new(self.root_params.clone(), &self.root_key);
        let cert = must(params.signed_by(&key, &issuer), "sibling");
        Ca {
            cert: issued(&cert, &key),
            params,
            key,
        }
    }

    /// The intermediate as a [`Ca`] (to sign hand-built CRLs).
    pub fn intermediate_ca(&self) -> Ca {
        Ca {
            cert: Issued {
                der: self.intermediate.der.clone(),
                pem: self.intermediate.pem.clone(),
                key_pkcs8: self.intermediate.key_pkcs8.clone(),
                key_pem: self.intermediate.key_pem.clone(),
            },
            params: self.inter_params.clone(),
            key: must(
                KeyPair::try_from(self.intermediate.key_pkcs8.as_slice()),
                "intermediate key",
            ),
        }
    }

    /// An end-user certificate under the intermediate whose CRL distribution point names
    /// `crl_issuer` (the subject of that certificate) as cRLIssuer: for indirect CRLs.
    pub fn leaf_with_crl_issuer(&self, spec: &LeafSpec, crl_issuer_cert: &[u8]) -> Issued {
        use der::{Decode, Encode};
        use x509_cert::ext::pkix::crl::dp::DistributionPoint;
        use x509_cert::ext::pkix::name::GeneralName;
        let c = must(
            x509_cert::Certificate::from_der(crl_issuer_cert),
            "CRL issuer certificate",
        );
        let dps = x509_cert::ext::pkix::CrlDistributionPoints(vec![DistributionPoint {
            distribution_point: None,
            reasons: None,
            crl_issuer: Some(vec![GeneralName::DirectoryName(
                c.tbs_certificate().subject().clone(),
            )]),
        }]);
        let ext =
            rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 31], must(dps.to_der(), "CDP"));
        let key = must(KeyPair::generate(), "leaf key");
        self.leaf_inner(spec, &key, vec![ext])
    }

    /// An end-user certificate under the intermediate with one more extension (`oid` as
    /// arcs, `content` the DER of its value), non-critical.
    pub fn leaf_with_extension(&self, spec: &LeafSpec, oid: &[u64], content: Vec<u8>) -> Issued {
        let ext = rcgen::CustomExtension::from_oid_content(oid, content);
        let key = must(KeyPair::generate(), "leaf key");
        self.leaf_inner(spec, &key, vec![ext])
    }

    /// A CRL issued by the intermediate revoking `serials` (keyCompromise).
    pub fn crl(
        &self,
        serials: impl IntoIterator<Item = u64>,
        number: u64,
        this_update: i64,
        next_update: i64,
    ) -> Vec<u8> {
        let revoked = serials
            .into_iter()
            .map(|s| rcgen::RevokedCertParams {
                serial_number: SerialNumber::from_slice(&s.to_be_bytes()),
                revocation_time: must(
                    time::OffsetDateTime::from_unix_timestamp(this_update),
                    "revocation time",
                ),
                reason_code: Some(rcgen::RevocationReason::KeyCompromise),
                invalidity_date: None,
            })
            .collect();
        let params = rcgen::CertificateRevocationListParams {
            this_update: must(
                time::OffsetDateTime::from_unix_timestamp(this_update),
                "this update",
            ),
            next_update: must(
                time::OffsetDateTime::from_unix_timestamp(next_update),
                "next update",
            ),
            crl_number: SerialNumber::from_slice(&number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs: revoked,
            key_identifier_method: rcgen::KeyIdMethod::Sha256,
        };
        let issuer = Issuer::new(self.inter_params.clone(), &self.inter_key);
        must(params.signed_by(&issuer), "CRL").der().to_vec()
    }

    /// A root + intermediate with keys of the given type.
    pub fn with_key(name: &str, key: CaKey) -> Self {
        let root_key = ca_key(key);
        let root_params = ca_params(&format!("{name} Root"), 1);
        let root_cert = must(root_params.clone().self_signed(&root_key), "root");
        let inter_key = ca_key(key);
        let inter_params = ca_params(&format!("{name} Intermediate"), 0);
        let root_issuer = Issuer::new(root_params.clone(), &root_key);
        let inter_cert = must(
            inter_params.signed_by(&inter_key, &root_issuer),
            "intermediate",
        );
        let leaf_key = must(KeyPair::generate(), "leaf key");
        TestPki {
            root: issued(&root_cert, &root_key),
            intermediate: issued(&inter_cert, &inter_key),
            inter_params,
            inter_key,
            leaf_key,
            root_params,
            root_key,
        }
    }

    /// An S/MIME end-user certificate under the intermediate, with a fresh P-256 key.
    pub fn leaf(&self, spec: &LeafSpec) -> Issued {
        let key = must(KeyPair::generate(), "leaf key");
        self.leaf_with_key(spec, &key)
    }

    /// An S/MIME end-user certificate with a fresh RSA-2048 key (keyUsage digitalSignature
    /// and keyEncipherment).
    pub fn leaf_rsa(&self, spec: &LeafSpec) -> Issued {
        let key = must(
            KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048),
            "RSA leaf key",
        );
        self.leaf_inner(spec, &key, Vec::new())
    }

    /// Like [`TestPki::leaf`] but reusing one shared key (fast, for bulk benchmarks).
    pub fn leaf_shared_key(&self, spec: &LeafSpec) -> Vec<u8> {
        let key = &self.leaf_key;
        self.leaf_with_key(spec, key).der
    }

    fn leaf_with_key(&self, spec: &LeafSpec, key: &KeyPair) -> Issued {
        self.leaf_inner(spec, key, Vec::new())
    }

    fn leaf_inner(
        &self,
        spec: &LeafSpec,
        key: &KeyPair,
        extra: Vec<rcgen::CustomExtension>,
    ) -> Issued {
        let mut p = CertificateParams::default();
        p.custom_extensions = extra;
        // basicConstraints cA:false, which also makes rcgen write a subjectKeyIdentifier.
        p.is_ca = IsCa::ExplicitNoCa;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, spec.cn.as_str());
        p.distinguished_name = dn;
        p.subject_alt_names = spec
            .emails
            .iter()
            .map(|e| SanType::Rfc822Name(must(e.as_str().try_into(), "email")))
            .collect();
        p.key_usages = if key.algorithm() == &rcgen::PKCS_RSA_SHA256 {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyEncipherment,
            ]
        } else {
            vec![
                KeyUsagePurpose::DigitalSignature,
                KeyUsagePurpose::KeyAgreement,
            ]
        };
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::EmailProtection];
        p.not_before = must(
            time::OffsetDateTime::from_unix_timestamp(spec.not_before),
            "not before",
        );
        p.not_after = must(
            time::OffsetDateTime::from_unix_timestamp(spec.not_after),
            "not after",
        );
        p.serial_number = Some(SerialNumber::from_slice(&spec.serial));
        p.use_authority_key_identifier_extension = true;
        let issuer = Issuer::new(self.inter_params.clone(), &self.inter_key);
        let cert = must(p.signed_by(key, &issuer), "leaf");
        issued(&cert, key)
    }
}

/// A CA that can sign hand-built CRLs.
pub struct Ca {
    /// Its certificate.
    pub cert: Issued,
    params: CertificateParams,
    key: KeyPair,
}

/// One entry of a hand-built CRL.
#[derive(Debug, Clone)]
pub struct CrlEntry {
    /// Serial number.
    pub serial: u64,
    /// reasonCode (RFC 5280 5.3.1), e.g. 1 keyCompromise, 6 certificateHold, 8 removeFromCRL.
    pub reason: Option<u8>,
    /// certificateIssuer: DER certificate whose subject becomes the entry's issuer.
    pub certificate_issuer: Option<Vec<u8>>,
}

/// What rcgen cannot make: delta CRLs, indirect CRLs, certificateIssuer entries.
#[derive(Debug, Clone)]
pub struct CrlSpec {
    /// Entries.
    pub entries: Vec<CrlEntry>,
    /// cRLNumber.
    pub number: u64,
    /// deltaCRLIndicator (base CRL number) for a delta CRL.
    pub delta_base: Option<u64>,
    /// issuingDistributionPoint with indirectCRL.
    pub indirect: bool,
    /// thisUpdate.
    pub this_update: i64,
    /// nextUpdate.
    pub next_update: i64,
}

impl Ca {
    /// Signs a hand-built CRL (ECDSA P-256 with SHA-256).
    pub fn crl(&self, spec: &CrlSpec) -> Vec<u8> {
        use der::asn1::{BitString, OctetString};
        use der::{Decode, Encode};
        use rcgen::SigningKey;
        use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
        use x509_cert::ext::Extension;
        use x509_cert::ext::pkix::name::GeneralName;
        use x509_cert::serial_number::SerialNumber as X509Serial;
        use x509_cert::time::Time;

        let _ = &self.params;
        let time = |t: i64| {
            must(
                der::asn1::UtcTime::from_unix_duration(std::time::Duration::from_secs(t as u64)),
                "time",
            )
        };
        let ext = |oid: &str, critical: bool, value: Vec<u8>| Extension {
            extn_id: must(der::oid::ObjectIdentifier::new(oid), "oid"),
            critical,
            extn_value: must(OctetString::new(value), "octets"),
        };
        let int = |n: u64| {
            must(der::asn1::Uint::new(&n.to_be_bytes()), "int")
                .to_der()
                .unwrap_or_default()
        };
        let me = must(
            x509_cert::Certificate::from_der(&self.cert.der),
            "CA certificate",
        );
        let alg = spki::AlgorithmIdentifierOwned {
            oid: must(
                der::oid::ObjectIdentifier::new("1.2.840.10045.4.3.2"),
                "oid",
            ),
            parameters: None,
        };
        let mut crl_ext = vec![ext("2.5.29.20", false, int(spec.number))];
        if let Some(b) = spec.delta_base {
            crl_ext.push(ext("2.5.29.27", true, int(b)));
        }
        if spec.indirect {
            let idp = x509_cert::ext::pkix::crl::dp::IssuingDistributionPoint {
                distribution_point: None,
                only_contains_user_certs: false,
                only_contains_ca_certs: false,
                only_some_reasons: None,
                indirect_crl: true,
                only_contains_attribute_certs: false,
            };
            crl_ext.push(ext("2.5.29.28", true, must(idp.to_der(), "IDP")));
        }
        let revoked = spec
            .entries
            .iter()
            .map(|e| {
                let mut exts = Vec::new();
                if let Some(r) = e.reason {
                    exts.push(ext("2.5.29.21", false, vec![0x0a, 0x01, r]));
                }
                if let Some(der) = &e.certificate_issuer {
                    let c = must(x509_cert::Certificate::from_der(der), "certificate issuer");
                    let names = vec![GeneralName::DirectoryName(
                        c.tbs_certificate().subject().clone(),
                    )];
                    exts.push(ext("2.5.29.29", true, must(names.to_der(), "names")));
                }
                RevokedCert {
                    serial_number: must(
                        X509Serial::<x509_cert::certificate::Rfc5280>::new(&e.serial.to_be_bytes()),
                        "serial",
                    ),
                    revocation_date: Time::UtcTime(time(spec.this_update)),
                    crl_entry_extensions: (!exts.is_empty()).then_some(exts),
                }
            })
            .collect::<Vec<_>>();
        let tbs = TbsCertList {
            version: x509_cert::Version::V2,
            signature: alg.clone(),
            issuer: me.tbs_certificate().subject().clone(),
            this_update: Time::UtcTime(time(spec.this_update)),
            next_update: Some(Time::UtcTime(time(spec.next_update))),
            revoked_certificates: (!revoked.is_empty()).then_some(revoked),
            crl_extensions: Some(crl_ext),
        };
        let tbs_der = must(tbs.to_der(), "TBS");
        let sig = must(self.key.sign(&tbs_der), "sign");
        let list = CertificateList {
            tbs_cert_list: tbs,
            signature_algorithm: alg,
            signature: must(BitString::from_bytes(&sig), "bits"),
        };
        must(list.to_der(), "CRL")
    }
}
