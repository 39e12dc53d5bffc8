//! Trust-engine tests: RFC 5280 path building and validation (`certmail_pki::verify`),
//! CRLs and the certificate trust list, over test PKIs generated at test time with rcgen.
//!
//! Every certificate has a fixed validity window and every validation runs at the fixed time
//! [`now`] (2030-01-01T00:00:00Z), so no test depends on the clock. Each rule is tested both
//! ways (a passing control and the failing case), so that every test can fail. The tests at
//! the end cross-check a few scenarios with `openssl verify` (skipped when OpenSSL is not
//! installed, except under CI).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_pki::crl::{Crl, Reason};
use certmail_pki::sig::{Hash, SignatureAlgorithm};
use certmail_pki::verify::{
    self, Ctl, CtlStatus, Options, PeerName, PolicyOptions, Purpose, RevocationPolicy, VerifyError,
};
use certmail_testkit::rcgen::{
    self, BasicConstraints, CertificateParams, CertificateRevocationListParams, CidrSubnet,
    CustomExtension, DistinguishedName, DnType, DnValue, ExtendedKeyUsagePurpose, GeneralSubtree,
    IsCa, Issuer, KeyPair, KeyUsagePurpose, NameConstraints, RevocationReason, RevokedCertParams,
    SanType, SerialNumber,
};
use certmail_testkit::unix_date;
use der::Encode;
use der::asn1::ObjectIdentifier;
use x509_cert::ext::pkix::certpolicy::PolicyInformation;
use x509_cert::ext::pkix::{
    CertificatePolicies, InhibitAnyPolicy, PolicyConstraints, PolicyMapping, PolicyMappings,
};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The validation time of every test: 2030-01-01T00:00:00Z.
fn now() -> i64 {
    unix_date(2030, 1, 1)
}

/// A calendar date (UTC midnight).
type Ymd = (i32, u8, u8);

/// Default validity of CAs and leaves: comfortably around [`now`].
const FROM: Ymd = (2020, 1, 1);
const UNTIL: Ymd = (2040, 1, 1);
/// A date before [`now`] (for expired certificates) and one after it (not yet valid).
const PAST: Ymd = (2029, 1, 1);
const FUTURE: Ymd = (2031, 1, 1);

/// Policy OIDs (a private arc).
const P1: &str = "1.3.6.1.4.1.55555.1.1";
const P2: &str = "1.3.6.1.4.1.55555.1.2";
const ANY_POLICY: &str = "2.5.29.32.0";
/// An extension nobody knows.
const UNKNOWN_EXT: &str = "1.3.6.1.4.1.55555.2.1";

/// Key algorithms the fixtures use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Alg {
    P256,
    Rsa2048,
    Ed25519,
}

impl Alg {
    fn rcgen(self) -> &'static rcgen::SignatureAlgorithm {
        match self {
            Alg::P256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            Alg::Rsa2048 => &rcgen::PKCS_RSA_SHA256,
            Alg::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

/// A generated certificate with what is needed to issue below it.
struct Made {
    der: Vec<u8>,
    pem: String,
    params: CertificateParams,
    key: KeyPair,
}

impl Made {
    /// rcgen's view of this certificate as an issuer.
    fn issuer(&self) -> Issuer<'_, &KeyPair> {
        Issuer::from_params(&self.params, &self.key)
    }

    /// certmail's parse of the certificate.
    fn cert(&self) -> Certificate {
        parse(&self.der)
    }

    /// The subject as certmail prints it (RFC 4514).
    fn subject(&self) -> String {
        self.cert().subject
    }

    /// The serial number's bytes.
    fn serial(&self) -> Vec<u8> {
        self.cert().serial_bytes()
    }
}

fn parse(der: &[u8]) -> Certificate {
    Certificate::from_der(der, &AwsLcOps).expect("certmail parses the fixture")
}

/// What to put into a certificate: a small builder over rcgen's `CertificateParams`.
#[derive(Clone)]
struct Spec {
    dn: Vec<(DnType, DnValue)>,
    ca: IsCa,
    not_before: Ymd,
    not_after: Ymd,
    /// `None`: the role's default (CA: keyCertSign + cRLSign; leaf: by key type).
    ku: Option<Vec<KeyUsagePurpose>>,
    eku: Vec<ExtendedKeyUsagePurpose>,
    san: Vec<SanType>,
    nc: Option<NameConstraints>,
    exts: Vec<CustomExtension>,
    alg: Alg,
}

impl Spec {
    /// A CA (cA true, no pathLenConstraint), P-256.
    fn ca(cn: &str) -> Self {
        Spec {
            dn: vec![
                (DnType::OrganizationName, "certmail trust tests".into()),
                (DnType::CommonName, cn.into()),
            ],
            ca: IsCa::Ca(BasicConstraints::Unconstrained),
            not_before: FROM,
            not_after: UNTIL,
            ku: None,
            eku: Vec::new(),
            san: Vec::new(),
            nc: None,
            exts: Vec::new(),
            alg: Alg::P256,
        }
    }

    /// An end-entity certificate (no basicConstraints, EKU emailProtection), P-256.
    fn leaf(cn: &str) -> Self {
        Spec {
            dn: vec![(DnType::CommonName, cn.into())],
            ca: IsCa::NoCa,
            eku: vec![ExtendedKeyUsagePurpose::EmailProtection],
            ..Spec::ca(cn)
        }
    }

    fn alg(mut self, alg: Alg) -> Self {
        self.alg = alg;
        self
    }

    fn valid(mut self, from: Ymd, until: Ymd) -> Self {
        self.not_before = from;
        self.not_after = until;
        self
    }

    fn path_len(mut self, n: u8) -> Self {
        self.ca = IsCa::Ca(BasicConstraints::Constrained(n));
        self
    }

    /// basicConstraints present with cA false.
    fn not_ca(mut self) -> Self {
        self.ca = IsCa::ExplicitNoCa;
        self
    }

    fn ku(mut self, ku: &[KeyUsagePurpose]) -> Self {
        self.ku = Some(ku.to_vec());
        self
    }

    fn eku(mut self, eku: &[ExtendedKeyUsagePurpose]) -> Self {
        self.eku = eku.to_vec();
        self
    }

    /// SAN rfc822Name.
    fn email(mut self, addr: &str) -> Self {
        self.san
            .push(SanType::Rfc822Name(addr.try_into().expect("IA5 address")));
        self
    }

    /// SAN dNSName.
    fn dns(mut self, name: &str) -> Self {
        self.san
            .push(SanType::DnsName(name.try_into().expect("IA5 name")));
        self
    }

    /// SAN iPAddress.
    fn ip(mut self, addr: &str) -> Self {
        self.san
            .push(SanType::IpAddress(addr.parse().expect("IP address")));
        self
    }

    /// The subject DN, replaced (root-most RDN first).
    fn subject(mut self, dn: &[(DnType, &str)]) -> Self {
        self.dn = dn.iter().map(|(t, v)| (t.clone(), (*v).into())).collect();
        self
    }

    /// A PKCS#9 emailAddress attribute appended to the subject (IA5String).
    fn email_attr(mut self, addr: &str) -> Self {
        self.dn.push((
            DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
            DnValue::Ia5String(addr.try_into().expect("IA5 address")),
        ));
        self
    }

    fn name_constraints(
        mut self,
        permitted: Vec<GeneralSubtree>,
        excluded: Vec<GeneralSubtree>,
    ) -> Self {
        self.nc = Some(NameConstraints {
            permitted_subtrees: permitted,
            excluded_subtrees: excluded,
        });
        self
    }

    fn ext(mut self, e: CustomExtension) -> Self {
        self.exts.push(e);
        self
    }

    fn params(&self) -> CertificateParams {
        let mut p = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        for (t, v) in &self.dn {
            dn.push(t.clone(), v.clone());
        }
        p.distinguished_name = dn;
        p.is_ca = self.ca;
        p.not_before =
            rcgen::date_time_ymd(self.not_before.0, self.not_before.1, self.not_before.2);
        p.not_after = rcgen::date_time_ymd(self.not_after.0, self.not_after.1, self.not_after.2);
        p.key_usages = match &self.ku {
            Some(ku) => ku.clone(),
            None if matches!(self.ca, IsCa::Ca(_)) => {
                vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]
            }
            None => match self.alg {
                Alg::P256 => vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyAgreement,
                ],
                Alg::Rsa2048 => vec![
                    KeyUsagePurpose::DigitalSignature,
                    KeyUsagePurpose::KeyEncipherment,
                ],
                Alg::Ed25519 => vec![KeyUsagePurpose::DigitalSignature],
            },
        };
        p.extended_key_usages = self.eku.clone();
        p.subject_alt_names = self.san.clone();
        p.name_constraints = self.nc.clone();
        p.custom_extensions = self.exts.clone();
        p.use_authority_key_identifier_extension = true;
        p
    }

    fn key(&self) -> KeyPair {
        KeyPair::generate_for(self.alg.rcgen()).expect("key generation")
    }

    /// A self-signed certificate (a root).
    fn self_signed(self) -> Made {
        let key = self.key();
        let params = self.params();
        let cert = params.self_signed(&key).expect("self-signed certificate");
        Made {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            params,
            key,
        }
    }

    /// A certificate issued by `issuer`.
    fn signed_by(self, issuer: &Made) -> Made {
        let key = self.key();
        let params = self.params();
        let cert = params
            .signed_by(&key, &issuer.issuer())
            .expect("issued certificate");
        Made {
            der: cert.der().to_vec(),
            pem: cert.pem(),
            params,
            key,
        }
    }
}

/// root -> intermediate -> leaf, all P-256 unless the specs say otherwise.
struct Chain {
    root: Made,
    int: Made,
    leaf: Made,
}

/// A root and an intermediate named after `name`.
fn cas(name: &str) -> (Made, Made) {
    let root = Spec::ca(&format!("{name} Root")).self_signed();
    let int = Spec::ca(&format!("{name} Intermediate")).signed_by(&root);
    (root, int)
}

/// A default root and intermediate, and `leaf` issued by the intermediate.
fn chain(name: &str, leaf: Spec) -> Chain {
    let (root, int) = cas(name);
    let leaf = leaf.signed_by(&int);
    Chain { root, int, leaf }
}

/// A default root, the given intermediate under it and the given leaf under that.
fn chain_with(name: &str, int: Spec, leaf: Spec) -> Chain {
    let root = Spec::ca(&format!("{name} Root")).self_signed();
    let int = int.signed_by(&root);
    let leaf = leaf.signed_by(&int);
    Chain { root, int, leaf }
}

/// Options at [`now`], otherwise the defaults (revocation IfAvailable, purpose Any).
fn opts() -> Options {
    Options {
        time: now(),
        ..Options::default()
    }
}

/// Validates `leaf` and returns the path as DER, leaf first.
fn check(
    leaf: &Made,
    intermediates: &[&Made],
    anchors: &[&Made],
    opts: &Options,
) -> Result<Vec<Vec<u8>>, VerifyError> {
    let leaf = leaf.cert();
    let intermediates: Vec<Certificate> = intermediates.iter().map(|m| m.cert()).collect();
    let anchors: Vec<Certificate> = anchors.iter().map(|m| m.cert()).collect();
    verify::verify(&leaf, &intermediates, &anchors, opts, &AwsLcOps)
        .map(|p| p.certs.iter().map(|c| c.der.clone()).collect())
}

/// Validates the whole chain (intermediate supplied, root as the anchor).
fn check_chain(c: &Chain, opts: &Options) -> Result<Vec<Vec<u8>>, VerifyError> {
    check(&c.leaf, &[&c.int], &[&c.root], opts)
}

/// Unwraps a validation that must succeed, with the error in the message.
fn describe(r: &Result<Vec<Vec<u8>>, VerifyError>) -> String {
    match r {
        Ok(path) => {
            let names: Vec<String> = path.iter().map(|d| parse(d).subject).collect();
            format!("valid path [{}]", names.join(" <- "))
        }
        Err(e) => format!("{e:?}"),
    }
}

fn valid(r: Result<Vec<Vec<u8>>, VerifyError>, what: &str) -> Vec<Vec<u8>> {
    match r {
        Ok(p) => p,
        Err(e) => panic!("{what}: expected a valid path, got {e:?} ({e})"),
    }
}

/// Unwraps a validation that must fail.
fn invalid(r: Result<Vec<Vec<u8>>, VerifyError>, what: &str) -> VerifyError {
    match r {
        Err(e) => e,
        ok => panic!("{what}: expected a failure, got {}", describe(&ok)),
    }
}

// ---- extensions built by hand ---------------------------------------------------------------

fn oid(dotted: &str) -> ObjectIdentifier {
    ObjectIdentifier::new(dotted).expect("OID")
}

fn arcs(dotted: &str) -> Vec<u64> {
    dotted
        .split('.')
        .map(|a| a.parse().expect("OID arc"))
        .collect()
}

fn extension(dotted: &str, value: &impl Encode, critical: bool) -> CustomExtension {
    let mut e =
        CustomExtension::from_oid_content(&arcs(dotted), value.to_der().expect("DER extension"));
    e.set_criticality(critical);
    e
}

/// certificatePolicies (2.5.29.32), non-critical.
fn policies(oids: &[&str]) -> CustomExtension {
    let value = CertificatePolicies(
        oids.iter()
            .map(|o| PolicyInformation {
                policy_identifier: oid(o),
                policy_qualifiers: None,
            })
            .collect(),
    );
    extension("2.5.29.32", &value, false)
}

/// policyMappings (2.5.29.33), critical.
fn policy_mappings(pairs: &[(&str, &str)]) -> CustomExtension {
    let value = PolicyMappings(
        pairs
            .iter()
            .map(|(i, s)| PolicyMapping {
                issuer_domain_policy: oid(i),
                subject_domain_policy: oid(s),
            })
            .collect(),
    );
    extension("2.5.29.33", &value, true)
}

/// policyConstraints (2.5.29.36), critical.
fn policy_constraints(
    require_explicit: Option<u32>,
    inhibit_mapping: Option<u32>,
) -> CustomExtension {
    let value = PolicyConstraints {
        require_explicit_policy: require_explicit,
        inhibit_policy_mapping: inhibit_mapping,
    };
    extension("2.5.29.36", &value, true)
}

/// inhibitAnyPolicy (2.5.29.54), critical.
fn inhibit_any_policy(skip_certs: u32) -> CustomExtension {
    extension("2.5.29.54", &InhibitAnyPolicy(skip_certs), true)
}

/// An unknown extension holding a NULL.
fn unknown_extension(critical: bool) -> CustomExtension {
    let mut e = CustomExtension::from_oid_content(&arcs(UNKNOWN_EXT), vec![0x05, 0x00]);
    e.set_criticality(critical);
    e
}

// ---- CRLs and the CTL -----------------------------------------------------------------------

/// A CRL by `issuer` (cRLNumber 1), valid `this_update`..`next_update`, listing `revoked`
/// (serial, reason) as revoked on 2029-06-01.
fn crl_by(
    issuer: &Issuer<'_, &KeyPair>,
    key_id_method: &rcgen::KeyIdMethod,
    revoked: &[(Vec<u8>, Option<RevocationReason>)],
    this_update: Ymd,
    next_update: Ymd,
) -> Vec<u8> {
    let params = CertificateRevocationListParams {
        this_update: rcgen::date_time_ymd(this_update.0, this_update.1, this_update.2),
        next_update: rcgen::date_time_ymd(next_update.0, next_update.1, next_update.2),
        crl_number: SerialNumber::from_slice(&[1]),
        issuing_distribution_point: None,
        revoked_certs: revoked
            .iter()
            .map(|(serial, reason)| RevokedCertParams {
                serial_number: SerialNumber::from_slice(serial),
                revocation_time: rcgen::date_time_ymd(2029, 6, 1),
                reason_code: *reason,
                invalidity_date: None,
            })
            .collect(),
        key_identifier_method: key_id_method.clone(),
    };
    params.signed_by(issuer).expect("CRL").der().to_vec()
}

/// A current CRL (2029-12-01 .. 2030-02-01) by the CA `ca`.
fn crl(ca: &Made, revoked: &[(Vec<u8>, Option<RevocationReason>)]) -> Vec<u8> {
    crl_by(
        &ca.issuer(),
        &ca.params.key_identifier_method,
        revoked,
        (2029, 12, 1),
        (2030, 2, 1),
    )
}

fn with_crls(mut o: Options, crls: &[&[u8]]) -> Options {
    o.crls = crls
        .iter()
        .map(|der| Arc::new(Crl::from_der(der).expect("certmail parses the CRL")))
        .collect();
    o
}

fn with_ctl(mut o: Options, entries: &[(&Made, CtlStatus)]) -> Options {
    o.ctl = Arc::new(Ctl {
        entries: entries
            .iter()
            .map(|(m, s)| (m.cert().sha512, *s))
            .collect::<HashMap<_, _>>(),
    });
    o
}

// ---- OpenSSL --------------------------------------------------------------------------------

/// True when `openssl` runs. When it does not: panics under CI, else prints `skipping`.
fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl is required when CI is set"
        );
        eprintln!("skipping: openssl not installed");
    }
    ok
}

fn write(dir: &Path, name: &str, content: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).expect("write fixture file");
    p
}

/// `openssl verify -attime <now> -CAfile root [-untrusted ints] [-crl_check -CRLfile crl]
/// [-purpose p] leaf`: whether OpenSSL accepts, and its output.
fn openssl_verify(
    root: &Made,
    untrusted: &[&Made],
    leaf: &Made,
    crl: Option<&[u8]>,
    purpose: Option<&str>,
) -> (bool, String) {
    let mut args = Vec::new();
    if crl.is_some() {
        args.push("-crl_check");
    }
    if let Some(p) = purpose {
        args.extend(["-purpose", p]);
    }
    let crls: Vec<&[u8]> = crl.into_iter().collect();
    openssl_verify_args(root, untrusted, leaf, &crls, &args)
}

/// `openssl verify -attime <now> -CAfile root [-untrusted ints] [-CRLfile crls] args leaf`.
fn openssl_verify_args(
    root: &Made,
    untrusted: &[&Made],
    leaf: &Made,
    crls: &[&[u8]],
    args: &[&str],
) -> (bool, String) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new("openssl");
    cmd.arg("verify")
        .arg("-attime")
        .arg(now().to_string())
        .arg("-CAfile")
        .arg(write(dir.path(), "root.pem", &root.pem));
    if !untrusted.is_empty() {
        let pems: String = untrusted.iter().map(|m| m.pem.as_str()).collect();
        cmd.arg("-untrusted")
            .arg(write(dir.path(), "int.pem", &pems));
    }
    if !crls.is_empty() {
        let pems: String = crls
            .iter()
            .map(|der| Crl::from_der(der).expect("CRL").to_pem())
            .collect();
        cmd.arg("-CRLfile").arg(write(dir.path(), "crl.pem", &pems));
    }
    cmd.args(args);
    cmd.arg(write(dir.path(), "leaf.pem", &leaf.pem));
    let out = cmd.output().expect("run openssl verify");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// Asserts certmail and OpenSSL both reach `expect_valid`.
fn assert_agree(
    certmail: &Result<Vec<Vec<u8>>, VerifyError>,
    openssl: &(bool, String),
    expect_valid: bool,
    what: &str,
) {
    assert_eq!(
        certmail.is_ok(),
        expect_valid,
        "{what}: certmail says {}",
        describe(certmail)
    );
    assert_eq!(
        openssl.0, expect_valid,
        "{what}: openssl says {}",
        openssl.1
    );
}

// =============================================================================================
// 1. Happy paths
// =============================================================================================

#[test]
fn valid_p256_chain_is_returned_leaf_first() {
    let c = chain("P256", Spec::leaf("alice").email("alice@example.com"));
    let path = valid(check_chain(&c, &opts()), "P-256 chain");
    assert_eq!(
        path,
        vec![c.leaf.der.clone(), c.int.der.clone(), c.root.der.clone()]
    );
    // Control: without the anchor there is no path.
    invalid(check(&c.leaf, &[&c.int], &[], &opts()), "no anchor");
}

#[test]
fn valid_rsa2048_chain() {
    let root = Spec::ca("RSA Root").alg(Alg::Rsa2048).self_signed();
    let int = Spec::ca("RSA Intermediate")
        .alg(Alg::Rsa2048)
        .signed_by(&root);
    let leaf = Spec::leaf("rsa-user").alg(Alg::Rsa2048).signed_by(&int);
    assert!(matches!(
        leaf.cert().public_key,
        certmail_pki::KeyAlgorithm::Rsa { bits: 2048 }
    ));
    let path = valid(check(&leaf, &[&int], &[&root], &opts()), "RSA chain");
    assert_eq!(
        path,
        vec![leaf.der.clone(), int.der.clone(), root.der.clone()]
    );
    // Control: an RSA leaf is not signed by an unrelated RSA root.
    let other = Spec::ca("RSA Root").alg(Alg::Rsa2048).self_signed();
    invalid(
        check(&leaf, &[&int], &[&other], &opts()),
        "foreign RSA root",
    );
}

#[test]
fn valid_ed25519_chain() {
    let root = Spec::ca("Ed25519 Root").alg(Alg::Ed25519).self_signed();
    let int = Spec::ca("Ed25519 Intermediate")
        .alg(Alg::Ed25519)
        .signed_by(&root);
    let leaf = Spec::leaf("ed-user").alg(Alg::Ed25519).signed_by(&int);
    assert_eq!(leaf.cert().public_key, certmail_pki::KeyAlgorithm::Ed25519);
    let path = valid(check(&leaf, &[&int], &[&root], &opts()), "Ed25519 chain");
    assert_eq!(
        path,
        vec![leaf.der.clone(), int.der.clone(), root.der.clone()]
    );
    let other = Spec::ca("Ed25519 Root").alg(Alg::Ed25519).self_signed();
    invalid(
        check(&leaf, &[&int], &[&other], &opts()),
        "foreign Ed25519 root",
    );
}

#[test]
fn path_is_built_from_shuffled_intermediates_among_noise() {
    let root = Spec::ca("Shuffle Root").self_signed();
    let upper = Spec::ca("Shuffle Upper").signed_by(&root);
    let lower = Spec::ca("Shuffle Lower").signed_by(&upper);
    let leaf = Spec::leaf("shuffled").signed_by(&lower);
    let (noise_root, noise_int) = cas("Noise");
    let noise_leaf = Spec::leaf("noise").signed_by(&noise_int);
    let pool = [&noise_int, &lower, &noise_root, &noise_leaf, &upper];
    let path = valid(
        check(&leaf, &pool, &[&noise_root, &root], &opts()),
        "shuffled intermediates",
    );
    assert_eq!(
        path,
        vec![
            leaf.der.clone(),
            lower.der.clone(),
            upper.der.clone(),
            root.der.clone()
        ]
    );
    // Control: without the upper intermediate the same pool has no path.
    let pool = [&noise_int, &lower, &noise_root, &noise_leaf];
    let e = invalid(
        check(&leaf, &pool, &[&noise_root, &root], &opts()),
        "upper missing",
    );
    assert!(
        matches!(&e, VerifyError::IssuerNotFound { subject, .. } if *subject == lower.subject()),
        "{e:?}"
    );
}

// =============================================================================================
// 2. Validity periods
// =============================================================================================

#[test]
fn expired_leaf_is_refused() {
    let c = chain("Expiry", Spec::leaf("expired-leaf").valid(FROM, PAST));
    let e = invalid(check_chain(&c, &opts()), "expired leaf");
    assert!(
        matches!(&e, VerifyError::Expired { subject, not_after } if *subject == c.leaf.subject() && not_after == "2029-01-01T00:00:00Z"),
        "{e:?}"
    );
    assert!(e.to_string().contains("CN=expired-leaf"), "{e}");
    // Control: at a time inside its window it is valid.
    let earlier = Options {
        time: unix_date(2028, 1, 1),
        ..opts()
    };
    valid(check_chain(&c, &earlier), "before expiry");
}

#[test]
fn not_yet_valid_leaf_is_refused() {
    let c = chain("Future", Spec::leaf("future-leaf").valid(FUTURE, UNTIL));
    let e = invalid(check_chain(&c, &opts()), "future leaf");
    assert!(
        matches!(&e, VerifyError::NotYetValid { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );
    assert!(e.to_string().contains("CN=future-leaf"), "{e}");
    let later = Options {
        time: unix_date(2032, 1, 1),
        ..opts()
    };
    valid(check_chain(&c, &later), "after notBefore");
}

#[test]
fn expired_intermediate_is_refused() {
    let c = chain_with(
        "ExpiredInt",
        Spec::ca("ExpiredInt Intermediate").valid(FROM, PAST),
        Spec::leaf("below-expired-int"),
    );
    let e = invalid(check_chain(&c, &opts()), "expired intermediate");
    assert!(
        matches!(&e, VerifyError::Expired { subject, .. } if *subject == c.int.subject()),
        "{e:?}"
    );
    assert!(e.to_string().contains("CN=ExpiredInt Intermediate"), "{e}");
    let earlier = Options {
        time: unix_date(2028, 6, 1),
        ..opts()
    };
    valid(check_chain(&c, &earlier), "before the intermediate expires");
}

#[test]
fn expired_root_is_refused() {
    let root = Spec::ca("ExpiredRoot Root").valid(FROM, PAST).self_signed();
    let int = Spec::ca("ExpiredRoot Intermediate").signed_by(&root);
    let leaf = Spec::leaf("below-expired-root").signed_by(&int);
    let e = invalid(check(&leaf, &[&int], &[&root], &opts()), "expired root");
    assert!(
        matches!(&e, VerifyError::Expired { subject, .. } if *subject == root.subject()),
        "{e:?}"
    );
    let earlier = Options {
        time: unix_date(2028, 6, 1),
        ..opts()
    };
    valid(
        check(&leaf, &[&int], &[&root], &earlier),
        "before the root expires",
    );
}

#[test]
fn validity_bounds_are_inclusive() {
    let c = chain(
        "Bounds",
        Spec::leaf("bounds").valid((2029, 1, 1), (2031, 1, 1)),
    );
    let at = |t: i64| Options { time: t, ..opts() };
    let (nb, na) = (unix_date(2029, 1, 1), unix_date(2031, 1, 1));
    valid(check_chain(&c, &at(nb)), "at notBefore");
    valid(check_chain(&c, &at(na)), "at notAfter");
    let e = invalid(check_chain(&c, &at(nb - 1)), "a second before notBefore");
    assert!(matches!(e, VerifyError::NotYetValid { .. }), "{e:?}");
    let e = invalid(check_chain(&c, &at(na + 1)), "a second after notAfter");
    assert!(matches!(e, VerifyError::Expired { .. }), "{e:?}");
}

// =============================================================================================
// 3. Name chaining, missing issuers, signatures
// =============================================================================================

#[test]
fn missing_intermediate_names_the_missing_issuer() {
    let c = chain("Missing", Spec::leaf("orphan"));
    let e = invalid(check(&c.leaf, &[], &[&c.root], &opts()), "no intermediate");
    match &e {
        VerifyError::IssuerNotFound { subject, issuer } => {
            assert_eq!(*subject, c.leaf.subject());
            assert_eq!(*issuer, c.int.subject());
        }
        other => panic!("expected IssuerNotFound, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("CN=orphan") && msg.contains("CN=Missing Intermediate"),
        "{msg}"
    );
    valid(check_chain(&c, &opts()), "with the intermediate");
}

#[test]
fn same_name_wrong_key_intermediate_fails_and_right_one_is_found() {
    let c = chain("Twin", Spec::leaf("twin-leaf"));
    // Same subject as the real intermediate, signed by the same root, but another key.
    let impostor = Spec::ca("Twin Intermediate").signed_by(&c.root);
    assert_eq!(impostor.subject(), c.int.subject());

    let e = invalid(
        check(&c.leaf, &[&impostor], &[&c.root], &opts()),
        "impostor only",
    );
    assert!(
        matches!(&e, VerifyError::BadSignature { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );

    // With both, in either order, the real one is found.
    for pool in [[&impostor, &c.int], [&c.int, &impostor]] {
        let path = valid(check(&c.leaf, &pool, &[&c.root], &opts()), "both supplied");
        assert_eq!(path[1], c.int.der);
    }

    // AKI matching first: with the impostor listed first, two signature checks
    // (leaf <- intermediate, intermediate <- root) are enough.
    let tight = Options {
        budget: verify::Budget {
            signatures: 2,
            ..verify::Budget::default()
        },
        ..opts()
    };
    valid(
        check(&c.leaf, &[&impostor, &c.int], &[&c.root], &tight),
        "AKI-matching candidate first",
    );
    // Control: the budget is real - one signature is not enough.
    let tighter = Options {
        budget: verify::Budget {
            signatures: 1,
            ..verify::Budget::default()
        },
        ..opts()
    };
    let e = invalid(check_chain(&c, &tighter), "one signature");
    assert!(matches!(e, VerifyError::Budget(_)), "{e:?}");
}

// =============================================================================================
// 4. Basic constraints and key usage of CAs
// =============================================================================================

#[test]
fn intermediate_without_ca_flag_is_not_a_ca() {
    // No keyCertSign either: that with cA false would be a profile error (Malformed).
    let c = chain_with(
        "NotCa",
        Spec::ca("NotCa Intermediate")
            .not_ca()
            .ku(&[KeyUsagePurpose::DigitalSignature]),
        Spec::leaf("below-non-ca"),
    );
    let e = invalid(check_chain(&c, &opts()), "cA false");
    assert!(
        matches!(&e, VerifyError::NotCa { subject } if *subject == c.int.subject()),
        "{e:?}"
    );
    assert!(e.to_string().contains("CN=NotCa Intermediate"), "{e}");
    let ok = chain("IsCa", Spec::leaf("below-ca"));
    valid(check_chain(&ok, &opts()), "cA true");
}

#[test]
fn path_len_zero_forbids_a_further_intermediate() {
    let build = |len: u8| {
        let root = Spec::ca("PathLen Root").self_signed();
        let upper = Spec::ca("PathLen Upper").path_len(len).signed_by(&root);
        let lower = Spec::ca("PathLen Lower").signed_by(&upper);
        let leaf = Spec::leaf("deep-leaf").signed_by(&lower);
        (root, upper, lower, leaf)
    };
    let (root, upper, lower, leaf) = build(0);
    let e = invalid(
        check(&leaf, &[&lower, &upper], &[&root], &opts()),
        "pathLen 0",
    );
    assert!(
        matches!(&e, VerifyError::PathLength { subject } if *subject == lower.subject()),
        "{e:?}"
    );
    let (root, upper, lower, leaf) = build(1);
    valid(
        check(&leaf, &[&lower, &upper], &[&root], &opts()),
        "pathLen 1",
    );
}

#[test]
fn path_len_of_the_anchor_applies() {
    let root = Spec::ca("AnchorLen Root").path_len(0).self_signed();
    let int = Spec::ca("AnchorLen Intermediate").signed_by(&root);
    let leaf = Spec::leaf("anchor-len").signed_by(&int);
    let e = invalid(check(&leaf, &[&int], &[&root], &opts()), "root pathLen 0");
    assert!(matches!(e, VerifyError::PathLength { .. }), "{e:?}");
    // Control: the root may issue the leaf directly.
    let direct = Spec::leaf("direct").signed_by(&root);
    valid(
        check(&direct, &[], &[&root], &opts()),
        "leaf under a pathLen-0 root",
    );
}

#[test]
fn intermediate_key_usage_without_key_cert_sign_is_refused() {
    let c = chain_with(
        "NoCertSign",
        Spec::ca("NoCertSign Intermediate")
            .ku(&[KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign]),
        Spec::leaf("below-no-certsign"),
    );
    let e = invalid(check_chain(&c, &opts()), "no keyCertSign");
    assert!(
        matches!(&e, VerifyError::NoKeyCertSign { subject } if *subject == c.int.subject()),
        "{e:?}"
    );
    let ok = chain_with(
        "CertSign",
        Spec::ca("CertSign Intermediate")
            .ku(&[KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign]),
        Spec::leaf("below-certsign"),
    );
    valid(check_chain(&ok, &opts()), "keyCertSign");
}

#[test]
fn anchor_key_usage_without_key_cert_sign_is_refused() {
    let root = Spec::ca("AnchorKu Root")
        .ku(&[KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::CrlSign])
        .self_signed();
    let int = Spec::ca("AnchorKu Intermediate").signed_by(&root);
    let leaf = Spec::leaf("anchor-ku").signed_by(&int);
    let e = invalid(
        check(&leaf, &[&int], &[&root], &opts()),
        "root without keyCertSign",
    );
    assert!(
        matches!(&e, VerifyError::NoKeyCertSign { subject } if *subject == root.subject()),
        "{e:?}"
    );
    let c = chain("AnchorKuOk", Spec::leaf("anchor-ku-ok"));
    valid(check_chain(&c, &opts()), "root with keyCertSign");
}

// =============================================================================================
// 5. Critical extensions
// =============================================================================================

#[test]
fn unknown_critical_extension_on_the_leaf_is_refused() {
    let c = chain(
        "Critical",
        Spec::leaf("critical-ext").ext(unknown_extension(true)),
    );
    let e = invalid(check_chain(&c, &opts()), "unknown critical extension");
    assert!(
        matches!(&e, VerifyError::UnknownCriticalExtension { subject, oid } if *subject == c.leaf.subject() && oid == UNKNOWN_EXT),
        "{e:?}"
    );
    let ok = chain(
        "NonCritical",
        Spec::leaf("noncritical-ext").ext(unknown_extension(false)),
    );
    valid(check_chain(&ok, &opts()), "the same extension non-critical");
}

#[test]
fn unknown_critical_extension_on_an_intermediate_is_refused() {
    let c = chain_with(
        "CriticalInt",
        Spec::ca("CriticalInt Intermediate").ext(unknown_extension(true)),
        Spec::leaf("below-critical"),
    );
    let e = invalid(
        check_chain(&c, &opts()),
        "unknown critical extension on the CA",
    );
    assert!(
        matches!(&e, VerifyError::UnknownCriticalExtension { subject, .. } if *subject == c.int.subject()),
        "{e:?}"
    );
    let ok = chain_with(
        "NonCriticalInt",
        Spec::ca("NonCriticalInt Intermediate").ext(unknown_extension(false)),
        Spec::leaf("below-noncritical"),
    );
    valid(check_chain(&ok, &opts()), "non-critical on the CA");
}

// =============================================================================================
// 6. Name constraints
// =============================================================================================

/// An intermediate with the given constraints and one leaf per spec under it; returns the
/// result for each leaf.
fn under_constraints(
    name: &str,
    permitted: Vec<GeneralSubtree>,
    excluded: Vec<GeneralSubtree>,
    leaves: Vec<Spec>,
) -> Vec<Result<Vec<Vec<u8>>, VerifyError>> {
    let root = Spec::ca(&format!("{name} Root")).self_signed();
    let int = Spec::ca(&format!("{name} Intermediate"))
        .name_constraints(permitted, excluded)
        .signed_by(&root);
    leaves
        .into_iter()
        .map(|l| check(&l.signed_by(&int), &[&int], &[&root], &opts()))
        .collect()
}

fn assert_nc_violation(r: &Result<Vec<Vec<u8>>, VerifyError>, name_part: &str) {
    match r {
        Err(VerifyError::NameConstraint { name, .. }) if name.contains(name_part) => {}
        other => panic!(
            "expected a name-constraint violation for {name_part}, got {}",
            describe(other)
        ),
    }
}

#[test]
fn permitted_dns_subtree() {
    let r = under_constraints(
        "NcDns",
        vec![GeneralSubtree::DnsName("example.com".into())],
        vec![],
        vec![
            Spec::leaf("inside").dns("foo.example.com"),
            Spec::leaf("outside").dns("foo.example.org"),
        ],
    );
    valid(r[0].clone(), "foo.example.com under example.com");
    assert_nc_violation(&r[1], "foo.example.org");
    let msg = r[1].clone().expect_err("violation").to_string();
    assert!(msg.contains("CN=outside"), "{msg}");
}

#[test]
fn excluded_rfc822_domain_subtree() {
    let r = under_constraints(
        "NcExcl",
        vec![],
        vec![GeneralSubtree::Rfc822Name(".bad.example".into())],
        vec![
            Spec::leaf("sub").email("user@x.bad.example"),
            // A leading dot means "below": the domain itself is not excluded.
            Spec::leaf("apex").email("user@bad.example"),
            Spec::leaf("elsewhere").email("user@good.example"),
        ],
    );
    assert_nc_violation(&r[0], "user@x.bad.example");
    valid(r[1].clone(), "bad.example itself");
    valid(r[2].clone(), "good.example");
}

#[test]
fn permitted_rfc822_mailbox_and_host() {
    let r = under_constraints(
        "NcMailbox",
        vec![GeneralSubtree::Rfc822Name("alice@example.com".into())],
        vec![],
        vec![
            Spec::leaf("alice").email("alice@example.com"),
            Spec::leaf("bob").email("bob@example.com"),
        ],
    );
    valid(r[0].clone(), "the permitted mailbox");
    assert_nc_violation(&r[1], "bob@example.com");

    let r = under_constraints(
        "NcHost",
        vec![GeneralSubtree::Rfc822Name("example.com".into())],
        vec![],
        vec![
            Spec::leaf("carol").email("carol@example.com"),
            Spec::leaf("dave").email("dave@sub.example.com"),
        ],
    );
    valid(r[0].clone(), "a mailbox on the permitted host");
    assert_nc_violation(&r[1], "dave@sub.example.com");
}

#[test]
fn permitted_ip_subnet() {
    let ten: IpAddr = "10.0.0.0".parse().expect("IP");
    let r = under_constraints(
        "NcIp",
        vec![GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
            ten, 8,
        ))],
        vec![],
        vec![
            Spec::leaf("ten").ip("10.1.2.3"),
            Spec::leaf("lan").ip("192.168.1.1"),
        ],
    );
    valid(r[0].clone(), "10.1.2.3 in 10.0.0.0/8");
    assert_nc_violation(&r[1], "192.168.1.1");
}

#[test]
fn permitted_directory_name_subtree() {
    let mut good = DistinguishedName::new();
    good.push(DnType::OrganizationName, "Good Org");
    let r = under_constraints(
        "NcDir",
        vec![GeneralSubtree::DirectoryName(good)],
        vec![],
        vec![
            Spec::leaf("x").subject(&[
                (DnType::OrganizationName, "Good Org"),
                (DnType::CommonName, "good-user"),
            ]),
            Spec::leaf("x").subject(&[
                (DnType::OrganizationName, "Evil Org"),
                (DnType::CommonName, "evil-user"),
            ]),
        ],
    );
    valid(r[0].clone(), "subject under O=Good Org");
    match &r[1] {
        Err(VerifyError::NameConstraint { subject, .. }) => {
            assert!(subject.contains("CN=evil-user"), "{subject}");
        }
        other => panic!("expected a name-constraint violation, got {other:?}"),
    }
}

#[test]
fn rfc822_constraint_applies_to_subject_email_address() {
    let r = under_constraints(
        "NcAttr",
        vec![GeneralSubtree::Rfc822Name("example.com".into())],
        vec![],
        vec![
            Spec::leaf("erin").email_attr("erin@example.com"),
            Spec::leaf("frank").email_attr("frank@example.org"),
        ],
    );
    valid(r[0].clone(), "emailAddress on the permitted host");
    assert_nc_violation(&r[1], "frank@example.org");
}

#[test]
fn name_constraints_of_the_anchor_apply() {
    let root = Spec::ca("NcRoot Root")
        .name_constraints(vec![GeneralSubtree::DnsName("example.com".into())], vec![])
        .self_signed();
    let int = Spec::ca("NcRoot Intermediate").signed_by(&root);
    let inside = Spec::leaf("root-nc-in")
        .dns("mail.example.com")
        .signed_by(&int);
    let outside = Spec::leaf("root-nc-out")
        .dns("mail.example.net")
        .signed_by(&int);
    valid(
        check(&inside, &[&int], &[&root], &opts()),
        "inside the root's subtree",
    );
    assert_nc_violation(
        &check(&outside, &[&int], &[&root], &opts()),
        "mail.example.net",
    );
}

#[test]
fn ipv4_only_permitted_subtree_refuses_an_ipv6_address() {
    // RFC 5280 4.2.1.10: iPAddress is one name form for IPv4 and IPv6 alike, and a name of a
    // form that has permitted subtrees must be inside one of them. OpenSSL, Go and webpki
    // all refuse 2001:db8::1 under a CA permitted only 10.0.0.0/8; certmail accepts it.
    let ten: IpAddr = "10.0.0.0".parse().expect("IP");
    let root = Spec::ca("NcIp6 Root").self_signed();
    let int = Spec::ca("NcIp6 Intermediate")
        .name_constraints(
            vec![GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                ten, 8,
            ))],
            vec![],
        )
        .signed_by(&root);
    let v4 = Spec::leaf("v4").ip("10.9.9.9").signed_by(&int);
    let v6 = Spec::leaf("v6").ip("2001:db8::1").signed_by(&int);
    valid(check(&v4, &[&int], &[&root], &opts()), "10.9.9.9");
    let certmail = check(&v6, &[&int], &[&root], &opts());
    if have_openssl() {
        let openssl = openssl_verify(&root, &[&int], &v6, None, None);
        assert!(!openssl.0, "openssl accepts the IPv6 leaf: {}", openssl.1);
    }
    assert_nc_violation(&certmail, "2001:db8::1");
}

// =============================================================================================
// 7. Certificate policies
// =============================================================================================

fn policy_opts(initial: &[&str], require_explicit: bool) -> Options {
    Options {
        policy: PolicyOptions {
            initial_policy_set: initial.iter().map(|s| (*s).to_owned()).collect(),
            require_explicit_policy: require_explicit,
            ..PolicyOptions::default()
        },
        ..opts()
    }
}

/// root -> intermediate (with `int_exts`) -> leaf (with `leaf_exts`).
fn policy_chain(
    name: &str,
    int_exts: Vec<CustomExtension>,
    leaf_exts: Vec<CustomExtension>,
) -> Chain {
    let mut int = Spec::ca(&format!("{name} Intermediate"));
    int.exts = int_exts;
    let mut leaf = Spec::leaf(&format!("{name}-leaf"));
    leaf.exts = leaf_exts;
    chain_with(name, int, leaf)
}

fn assert_policy_error(r: Result<Vec<Vec<u8>>, VerifyError>, what: &str) {
    let e = invalid(r, what);
    assert!(matches!(e, VerifyError::Policy { .. }), "{what}: {e:?}");
}

#[test]
fn explicit_policy_in_the_initial_set_passes() {
    let c = policy_chain("PolP1", vec![policies(&[P1])], vec![policies(&[P1])]);
    valid(
        check_chain(&c, &policy_opts(&[P1], true)),
        "P1 everywhere, initial {P1}",
    );
    // Control: the same chain does not satisfy an initial set of {P2}.
    assert_policy_error(check_chain(&c, &policy_opts(&[P2], true)), "initial {P2}");
}

#[test]
fn policy_outside_the_initial_set_fails_only_when_explicit_policy_is_required() {
    let c = policy_chain("PolP2", vec![policies(&[P2])], vec![policies(&[P2])]);
    assert_policy_error(check_chain(&c, &policy_opts(&[P1], true)), "P2, explicit");
    valid(
        check_chain(&c, &policy_opts(&[P1], false)),
        "P2, not explicit",
    );
}

#[test]
fn policy_mapping_and_inhibit_policy_mapping() {
    let c = policy_chain(
        "PolMap",
        vec![policies(&[P1]), policy_mappings(&[(P1, P2)])],
        vec![policies(&[P2])],
    );
    valid(
        check_chain(&c, &policy_opts(&[P1], true)),
        "P1 mapped to P2",
    );
    let inhibited = Options {
        policy: PolicyOptions {
            inhibit_policy_mapping: true,
            ..policy_opts(&[P1], true).policy
        },
        ..opts()
    };
    assert_policy_error(check_chain(&c, &inhibited), "mapping inhibited");
    // Control: without the mapping, P2 at the leaf does not satisfy {P1}.
    let unmapped = policy_chain("PolNoMap", vec![policies(&[P1])], vec![policies(&[P2])]);
    assert_policy_error(
        check_chain(&unmapped, &policy_opts(&[P1], true)),
        "no mapping",
    );
}

#[test]
fn any_policy_at_the_intermediate_and_inhibit_any_policy() {
    let c = policy_chain(
        "PolAny",
        vec![policies(&[ANY_POLICY])],
        vec![policies(&[P1])],
    );
    valid(
        check_chain(&c, &policy_opts(&[P1], true)),
        "anyPolicy at the CA",
    );
    let inhibited = Options {
        policy: PolicyOptions {
            inhibit_any_policy: true,
            ..policy_opts(&[P1], true).policy
        },
        ..opts()
    };
    assert_policy_error(check_chain(&c, &inhibited), "initial-any-policy-inhibit");
}

#[test]
fn inhibit_any_policy_extension_in_an_intermediate() {
    // Leaf asserts only anyPolicy; inhibitAnyPolicy skipCerts 0 in the CA above makes it
    // count for nothing.
    let c = policy_chain(
        "PolInhibitExt",
        vec![policies(&[P1]), inhibit_any_policy(0)],
        vec![policies(&[ANY_POLICY])],
    );
    assert_policy_error(
        check_chain(&c, &policy_opts(&[], true)),
        "inhibitAnyPolicy 0",
    );
    let ok = policy_chain(
        "PolNoInhibitExt",
        vec![policies(&[P1])],
        vec![policies(&[ANY_POLICY])],
    );
    valid(
        check_chain(&ok, &policy_opts(&[], true)),
        "anyPolicy at the leaf allowed",
    );
}

#[test]
fn require_explicit_policy_zero_in_an_intermediate() {
    let c = policy_chain(
        "PolReq",
        vec![policies(&[P1]), policy_constraints(Some(0), None)],
        vec![],
    );
    assert_policy_error(check_chain(&c, &opts()), "leaf without policies");
    let ok = policy_chain(
        "PolReqOk",
        vec![policies(&[P1]), policy_constraints(Some(0), None)],
        vec![policies(&[P1])],
    );
    valid(check_chain(&ok, &opts()), "leaf asserting P1");
    // Control: without the constraint a leaf without policies passes.
    let free = policy_chain("PolFree", vec![policies(&[P1])], vec![]);
    valid(check_chain(&free, &opts()), "no policyConstraints");
}

// =============================================================================================
// 8. CRLs
// =============================================================================================

#[test]
fn leaf_revoked_by_its_issuers_crl() {
    let c = chain("Crl", Spec::leaf("revoked-leaf"));
    let crl = crl(
        &c.int,
        &[(c.leaf.serial(), Some(RevocationReason::KeyCompromise))],
    );
    let e = invalid(check_chain(&c, &with_crls(opts(), &[&crl])), "revoked leaf");
    match &e {
        VerifyError::Revoked {
            subject,
            date,
            reason,
        } => {
            assert_eq!(*subject, c.leaf.subject());
            assert_eq!(date, "2029-06-01T00:00:00Z");
            assert_eq!(reason, "KeyCompromise");
        }
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert!(e.to_string().contains("CN=revoked-leaf"), "{e}");
}

#[test]
fn leaf_not_on_the_crl_is_valid() {
    let c = chain("CrlOk", Spec::leaf("good-leaf"));
    let other = Spec::leaf("other-leaf").signed_by(&c.int);
    let crl = crl(
        &c.int,
        &[(other.serial(), Some(RevocationReason::Superseded))],
    );
    valid(
        check_chain(&c, &with_crls(opts(), &[&crl])),
        "leaf not listed",
    );
    let e = invalid(
        check(&other, &[&c.int], &[&c.root], &with_crls(opts(), &[&crl])),
        "listed",
    );
    assert!(matches!(e, VerifyError::Revoked { .. }), "{e:?}");
}

#[test]
fn crl_of_another_ca_listing_the_same_serial_is_ignored() {
    let c = chain("CrlMine", Spec::leaf("mine"));
    let listed = [(c.leaf.serial(), Some(RevocationReason::KeyCompromise))];
    // A CA with another name, and one with the same name but another key.
    let (_, stranger) = cas("CrlStranger");
    let twin = Spec::ca("CrlMine Intermediate").signed_by(&c.root);
    for (who, other) in [("other name", &stranger), ("same name, other key", &twin)] {
        let foreign = crl(other, &listed);
        valid(
            check_chain(&c, &with_crls(opts(), &[&foreign])),
            &format!("CRL of a CA with {who}"),
        );
        // It does not count as coverage either.
        let require = Options {
            revocation: RevocationPolicy::Require,
            ..with_crls(opts(), &[&foreign])
        };
        let e = invalid(check_chain(&c, &require), who);
        assert!(
            matches!(&e, VerifyError::RevocationUnknown { subject, .. } if *subject == c.leaf.subject()),
            "{who}: {e:?}"
        );
    }
    // Control: the issuer's own CRL with the same entry revokes.
    let own = crl(&c.int, &listed);
    let e = invalid(check_chain(&c, &with_crls(opts(), &[&own])), "own CRL");
    assert!(matches!(e, VerifyError::Revoked { .. }), "{e:?}");
}

#[test]
fn out_of_date_crl_makes_status_unknown_under_if_available() {
    // check_revocation: a CRL from the right issuer whose nextUpdate is before the validation
    // time is unusable ("out of date"); under IfAvailable an issuer that has CRLs must be
    // covered by a valid one, so the unusable CRL makes the status unknown rather than being
    // skipped as if there were none.
    let c = chain("CrlStale", Spec::leaf("stale"));
    let stale = crl_by(
        &c.int.issuer(),
        &c.int.params.key_identifier_method,
        &[],
        (2029, 1, 1),
        (2029, 6, 1),
    );
    let e = invalid(check_chain(&c, &with_crls(opts(), &[&stale])), "stale CRL");
    match &e {
        VerifyError::RevocationUnknown { subject, reason } => {
            assert_eq!(*subject, c.leaf.subject());
            assert!(reason.contains("out of date"), "{reason}");
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    // Control: a current CRL with the same content.
    let fresh = crl(&c.int, &[]);
    valid(
        check_chain(&c, &with_crls(opts(), &[&fresh])),
        "current CRL",
    );
}

#[test]
fn require_without_crl_is_unknown() {
    let c = chain("CrlRequire", Spec::leaf("required"));
    let require = |crls: &[&[u8]]| Options {
        revocation: RevocationPolicy::Require,
        ..with_crls(opts(), crls)
    };
    let e = invalid(check_chain(&c, &require(&[])), "Require, no CRL");
    assert!(
        matches!(&e, VerifyError::RevocationUnknown { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );
    // Every certificate below the anchor needs one: the intermediate too.
    let int_crl = crl(&c.int, &[]);
    let e = invalid(
        check_chain(&c, &require(&[&int_crl])),
        "Require, leaf covered only",
    );
    assert!(
        matches!(&e, VerifyError::RevocationUnknown { subject, .. } if *subject == c.int.subject()),
        "{e:?}"
    );
    let root_crl = crl(&c.root, &[]);
    valid(
        check_chain(&c, &require(&[&int_crl, &root_crl])),
        "Require, all covered",
    );
    // IfAvailable without any CRL: status unknown is accepted.
    valid(check_chain(&c, &opts()), "IfAvailable, no CRL");
}

#[test]
fn revocation_off_ignores_crls() {
    let c = chain("CrlOff", Spec::leaf("revoked-but-off"));
    let crl = crl(
        &c.int,
        &[(c.leaf.serial(), Some(RevocationReason::KeyCompromise))],
    );
    let off = Options {
        revocation: RevocationPolicy::Off,
        ..with_crls(opts(), &[&crl])
    };
    valid(check_chain(&c, &off), "Off");
    invalid(check_chain(&c, &with_crls(opts(), &[&crl])), "IfAvailable");
}

#[test]
fn crl_issuer_without_crl_sign_is_not_trusted() {
    let c = chain_with(
        "CrlNoSign",
        Spec::ca("CrlNoSign Intermediate").ku(&[KeyUsagePurpose::KeyCertSign]),
        Spec::leaf("crl-nosign"),
    );
    // rcgen refuses to sign a CRL for an issuer whose key usages lack cRLSign, so sign it
    // through an issuer view without key usages (the certificate still lacks cRLSign).
    let mut params = c.int.params.clone();
    params.key_usages.clear();
    let issuer = Issuer::new(params, &c.int.key);
    let crl = crl_by(
        &issuer,
        &c.int.params.key_identifier_method,
        &[],
        (2029, 12, 1),
        (2030, 2, 1),
    );
    let e = invalid(check_chain(&c, &with_crls(opts(), &[&crl])), "no cRLSign");
    match &e {
        VerifyError::RevocationUnknown { subject, reason } => {
            assert_eq!(*subject, c.leaf.subject());
            assert!(reason.contains("cRLSign"), "{reason}");
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    // Control: the chain itself is fine without the CRL.
    valid(check_chain(&c, &opts()), "no CRL");
}

#[test]
fn crl_with_corrupted_signature_is_unusable() {
    let c = chain("CrlCorrupt", Spec::leaf("corrupt"));
    let good = crl(&c.int, &[]);
    let mut bad = good.clone();
    let last = bad.len() - 1;
    bad[last] ^= 0x01;
    let parsed = Crl::from_der(&bad).expect("still parses");
    assert!(parsed.defects.is_empty(), "{:?}", parsed.defects);
    let e = invalid(
        check_chain(&c, &with_crls(opts(), &[&bad])),
        "corrupted CRL",
    );
    assert!(
        matches!(&e, VerifyError::RevocationUnknown { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );
    valid(check_chain(&c, &with_crls(opts(), &[&good])), "intact CRL");
}

#[test]
fn large_crl_lookup() {
    const N: u64 = 100_000;
    let (_, int) = cas("BigCrl");
    let revoked: Vec<(Vec<u8>, Option<RevocationReason>)> = (1..=N)
        .map(|s| {
            let reason = (s % 2 == 0).then_some(RevocationReason::KeyCompromise);
            (s.to_be_bytes().to_vec(), reason)
        })
        .collect();
    let der = crl(&int, &revoked);
    let crl = Crl::from_der(&der).expect("big CRL parses");
    assert!(crl.defects.is_empty(), "{:?}", crl.defects);
    assert_eq!(crl.entries.len(), N as usize);
    let hit = crl.entry(&4242u64.to_be_bytes()).expect("4242 is listed");
    assert_eq!(hit.reason, Some(Reason::KeyCompromise));
    assert_eq!(hit.date, unix_date(2029, 6, 1));
    assert!(crl.entry(&[0x01]).is_some(), "serial 1, minimal encoding");
    assert!(
        crl.entry(&(N + 1).to_be_bytes()).is_none(),
        "N+1 is not listed"
    );
    assert!(crl.entry(&0u64.to_be_bytes()).is_none(), "0 is not listed");
}

#[test]
fn intermediate_revoked_by_the_root_crl() {
    let c = chain("CrlCa", Spec::leaf("below-revoked-ca"));
    let root_crl = crl(
        &c.root,
        &[(c.int.serial(), Some(RevocationReason::CaCompromise))],
    );
    let int_crl = crl(&c.int, &[]);
    let e = invalid(
        check_chain(&c, &with_crls(opts(), &[&int_crl, &root_crl])),
        "revoked intermediate",
    );
    match &e {
        VerifyError::Revoked {
            subject, reason, ..
        } => {
            assert_eq!(*subject, c.int.subject());
            assert_eq!(reason, "CaCompromise");
        }
        other => panic!("expected Revoked, got {other:?}"),
    }
    let clean_root_crl = crl(&c.root, &[]);
    valid(
        check_chain(&c, &with_crls(opts(), &[&int_crl, &clean_root_crl])),
        "nothing revoked",
    );
}

// =============================================================================================
// 9. Certificate trust list
// =============================================================================================

#[test]
fn whitelisted_leaf_needs_no_root() {
    let c = chain("CtlWhite", Spec::leaf("white"));
    let ctl = with_ctl(
        opts(),
        &[(
            &c.leaf,
            CtlStatus::Whitelisted {
                allow_expired: false,
            },
        )],
    );
    let path = valid(check(&c.leaf, &[], &[], &ctl), "whitelisted");
    assert_eq!(path, vec![c.leaf.der.clone()]);
    let e = invalid(check(&c.leaf, &[], &[], &opts()), "not whitelisted");
    assert!(matches!(e, VerifyError::IssuerNotFound { .. }), "{e:?}");
}

#[test]
fn whitelisted_expired_leaf_needs_allow_expired() {
    let c = chain("CtlExpired", Spec::leaf("white-expired").valid(FROM, PAST));
    let strict = with_ctl(
        opts(),
        &[(
            &c.leaf,
            CtlStatus::Whitelisted {
                allow_expired: false,
            },
        )],
    );
    let e = invalid(
        check(&c.leaf, &[], &[], &strict),
        "expired, allow_expired false",
    );
    assert!(
        matches!(&e, VerifyError::Expired { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );
    let lenient = with_ctl(
        opts(),
        &[(
            &c.leaf,
            CtlStatus::Whitelisted {
                allow_expired: true,
            },
        )],
    );
    valid(
        check(&c.leaf, &[], &[], &lenient),
        "expired, allow_expired true",
    );
}

#[test]
fn blacklisted_leaf_is_refused() {
    let c = chain("CtlBlack", Spec::leaf("black"));
    let ctl = with_ctl(opts(), &[(&c.leaf, CtlStatus::Blacklisted)]);
    let e = invalid(check_chain(&c, &ctl), "blacklisted");
    match &e {
        VerifyError::Blacklisted {
            subject,
            blacklisted,
        } => {
            assert_eq!(*subject, c.leaf.subject());
            assert_eq!(blacklisted, subject);
        }
        other => panic!("expected Blacklisted, got {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        format!("{} is blacklisted", c.leaf.subject())
    );
    valid(check_chain(&c, &opts()), "not listed");
}

#[test]
fn blacklisted_intermediate_blacklists_the_leaf_below() {
    let c = chain("CtlBlackInt", Spec::leaf("under-black"));
    let ctl = with_ctl(opts(), &[(&c.int, CtlStatus::Blacklisted)]);
    let e = invalid(check_chain(&c, &ctl), "blacklisted intermediate");
    match &e {
        VerifyError::Blacklisted {
            subject,
            blacklisted,
        } => {
            assert_eq!(*subject, c.leaf.subject());
            assert_eq!(*blacklisted, c.int.subject());
        }
        other => panic!("expected Blacklisted, got {other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("CN=under-black") && msg.contains("CN=CtlBlackInt Intermediate"),
        "{msg}"
    );
    // A blacklisted root does the same.
    let ctl = with_ctl(opts(), &[(&c.root, CtlStatus::Blacklisted)]);
    let e = invalid(check_chain(&c, &ctl), "blacklisted root");
    assert!(matches!(e, VerifyError::Blacklisted { .. }), "{e:?}");
}

#[test]
fn blacklisting_wins_over_whitelisting() {
    let c = chain("CtlBlackWins", Spec::leaf("white-under-black"));
    let white = CtlStatus::Whitelisted {
        allow_expired: false,
    };
    // Control: whitelisted alone is valid, even without the root.
    let ctl = with_ctl(opts(), &[(&c.leaf, white)]);
    valid(check(&c.leaf, &[&c.int], &[], &ctl), "whitelisted leaf");
    // The same whitelisted leaf under a blacklisted intermediate is blacklisted.
    let ctl = with_ctl(
        opts(),
        &[(&c.leaf, white), (&c.int, CtlStatus::Blacklisted)],
    );
    let e = invalid(
        check(&c.leaf, &[&c.int], &[], &ctl),
        "whitelisted under blacklisted",
    );
    match e {
        VerifyError::Blacklisted { blacklisted, .. } => assert_eq!(blacklisted, c.int.subject()),
        other => panic!("expected Blacklisted, got {other:?}"),
    }
}

#[test]
fn whitelisted_intermediate_is_not_inherited() {
    let c = chain("CtlWhiteInt", Spec::leaf("under-white"));
    let ctl = with_ctl(
        opts(),
        &[(
            &c.int,
            CtlStatus::Whitelisted {
                allow_expired: false,
            },
        )],
    );
    let e = invalid(
        check(&c.leaf, &[&c.int], &[], &ctl),
        "whitelisted intermediate, no root",
    );
    assert!(matches!(e, VerifyError::IssuerNotFound { .. }), "{e:?}");
    // Control: the intermediate itself is valid on its own.
    valid(
        check(&c.int, &[], &[], &ctl),
        "the whitelisted intermediate itself",
    );
}

#[test]
fn whitelisted_leaf_revoked_by_its_issuer_is_revoked() {
    let c = chain("CtlRevoked", Spec::leaf("white-revoked"));
    let crl = crl(
        &c.int,
        &[(c.leaf.serial(), Some(RevocationReason::KeyCompromise))],
    );
    let white = with_ctl(
        with_crls(opts(), &[&crl]),
        &[(
            &c.leaf,
            CtlStatus::Whitelisted {
                allow_expired: false,
            },
        )],
    );
    let e = invalid(
        check(&c.leaf, &[&c.int], &[], &white),
        "whitelisted, revoked",
    );
    assert!(
        matches!(&e, VerifyError::Revoked { subject, .. } if *subject == c.leaf.subject()),
        "{e:?}"
    );
    // Control: without the CRL, or without the issuer at hand, it is valid.
    let no_crl = with_ctl(
        opts(),
        &[(
            &c.leaf,
            CtlStatus::Whitelisted {
                allow_expired: false,
            },
        )],
    );
    valid(
        check(&c.leaf, &[&c.int], &[], &no_crl),
        "whitelisted, no CRL",
    );
    valid(
        check(&c.leaf, &[], &[], &white),
        "whitelisted, issuer unknown",
    );
}

// =============================================================================================
// 10. S/MIME usage and names
// =============================================================================================

fn purpose(p: Purpose) -> Options {
    Options {
        purpose: p,
        ..opts()
    }
}

fn assert_wrong_usage(r: Result<Vec<Vec<u8>>, VerifyError>, what: &str) {
    let e = invalid(r, what);
    assert!(matches!(e, VerifyError::WrongUsage { .. }), "{what}: {e:?}");
}

#[test]
fn signature_only_key_usage_signs_but_does_not_encrypt() {
    let c = chain(
        "UsageSign",
        Spec::leaf("signer").ku(&[KeyUsagePurpose::DigitalSignature]),
    );
    valid(check_chain(&c, &purpose(Purpose::SmimeSign)), "sign");
    assert_wrong_usage(check_chain(&c, &purpose(Purpose::SmimeEncrypt)), "encrypt");
}

#[test]
fn rsa_encryption_needs_key_encipherment() {
    let ok = chain(
        "UsageRsa",
        Spec::leaf("rsa-enc")
            .alg(Alg::Rsa2048)
            .ku(&[KeyUsagePurpose::KeyEncipherment]),
    );
    valid(
        check_chain(&ok, &purpose(Purpose::SmimeEncrypt)),
        "RSA keyEncipherment",
    );
    assert_wrong_usage(
        check_chain(&ok, &purpose(Purpose::SmimeSign)),
        "RSA, no signature bit",
    );
    let bad = chain(
        "UsageRsaAgree",
        Spec::leaf("rsa-agree").alg(Alg::Rsa2048).ku(&[
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyAgreement,
        ]),
    );
    assert_wrong_usage(
        check_chain(&bad, &purpose(Purpose::SmimeEncrypt)),
        "RSA keyAgreement",
    );
}

#[test]
fn ec_encryption_needs_key_agreement() {
    let ok = chain(
        "UsageEc",
        Spec::leaf("ec-agree").ku(&[KeyUsagePurpose::KeyAgreement]),
    );
    valid(
        check_chain(&ok, &purpose(Purpose::SmimeEncrypt)),
        "EC keyAgreement",
    );
    let bad = chain(
        "UsageEcEnc",
        Spec::leaf("ec-encipher").ku(&[
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ]),
    );
    assert_wrong_usage(
        check_chain(&bad, &purpose(Purpose::SmimeEncrypt)),
        "EC keyEncipherment",
    );
}

#[test]
fn server_auth_only_eku_is_wrong_for_smime() {
    let c = chain(
        "UsageTls",
        Spec::leaf("tls-only").eku(&[ExtendedKeyUsagePurpose::ServerAuth]),
    );
    assert_wrong_usage(check_chain(&c, &purpose(Purpose::SmimeSign)), "sign");
    assert_wrong_usage(check_chain(&c, &purpose(Purpose::SmimeEncrypt)), "encrypt");
    let e = invalid(check_chain(&c, &purpose(Purpose::SmimeSign)), "message");
    assert!(e.to_string().contains("CN=tls-only"), "{e}");
    valid(check_chain(&c, &purpose(Purpose::Any)), "no purpose");
}

#[test]
fn absent_or_any_eku_is_fine_for_smime() {
    for (name, eku) in [
        ("UsageNoEku", vec![]),
        ("UsageAnyEku", vec![ExtendedKeyUsagePurpose::Any]),
        (
            "UsageMixedEku",
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::EmailProtection,
            ],
        ),
    ] {
        let c = chain(name, Spec::leaf("flexible").eku(&eku));
        valid(
            check_chain(&c, &purpose(Purpose::SmimeSign)),
            &format!("{name} sign"),
        );
        valid(
            check_chain(&c, &purpose(Purpose::SmimeEncrypt)),
            &format!("{name} encrypt"),
        );
    }
}

#[test]
fn peer_email_matches_san_case_insensitively() {
    let c = chain("PeerName", Spec::leaf("alice").email("alice@example.com"));
    let peer = |e: &str| Options {
        peer_name: Some(PeerName::Email(e.to_owned())),
        ..opts()
    };
    valid(check_chain(&c, &peer("Alice@Example.com")), "mixed case");
    let e = invalid(check_chain(&c, &peer("bob@example.com")), "other address");
    match &e {
        VerifyError::NameMismatch { subject, name } => {
            assert_eq!(*subject, c.leaf.subject());
            assert_eq!(name, "bob@example.com");
        }
        other => panic!("expected NameMismatch, got {other:?}"),
    }
}

// =============================================================================================
// 11. SHA-1
// =============================================================================================

/// A leaf `CN=<cn>` (P-256, 2020..2040, keyUsage digitalSignature, EKU emailProtection, AKI)
/// signed by `issuer` with ecdsa-with-SHA1. rcgen cannot sign with SHA-1, so OpenSSL re-signs
/// an rcgen self-signed precursor with fixed dates (`-preserve_dates`). OpenSSL 3.0 checks
/// that precursor as a self-signed CA, so it carries no extensions: OpenSSL adds them.
fn sha1_leaf(issuer: &Made, cn: &str) -> Vec<u8> {
    let mut params = Spec::leaf(cn).ku(&[]).eku(&[]).params();
    params.use_authority_key_identifier_extension = false;
    let key = KeyPair::generate().expect("key");
    let precursor = params.self_signed(&key).expect("precursor");
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("leaf-sha1.der");
    let ext = "[v3]\nkeyUsage = digitalSignature\nextendedKeyUsage = emailProtection\n\
               authorityKeyIdentifier = keyid:always\n";
    let run = Command::new("openssl")
        .arg("x509")
        .arg("-in")
        .arg(write(dir.path(), "precursor.pem", &precursor.pem()))
        .arg("-CA")
        .arg(write(dir.path(), "int.pem", &issuer.pem))
        .arg("-CAkey")
        .arg(write(dir.path(), "int.key", &issuer.key.serialize_pem()))
        .arg("-extfile")
        .arg(write(dir.path(), "ext.cnf", ext))
        .args([
            "-extensions",
            "v3",
            "-sha1",
            "-preserve_dates",
            "-set_serial",
            "4660",
        ])
        .args(["-outform", "DER", "-out"])
        .arg(&out)
        .output()
        .expect("run openssl x509");
    assert!(
        run.status.success(),
        "openssl x509: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    std::fs::read(&out).expect("read SHA-1 leaf")
}

#[test]
fn sha1_signed_leaf_is_weak_unless_allowed() {
    if !have_openssl() {
        return;
    }
    let (root, int) = cas("Sha1");
    let leaf = parse(&sha1_leaf(&int, "sha1-leaf"));
    assert_eq!(
        leaf.vd.signature_algorithm,
        Some(SignatureAlgorithm::Ecdsa(Hash::Sha1))
    );
    assert_eq!(
        leaf.not_before,
        unix_date(FROM.0, FROM.1, FROM.2),
        "dates preserved"
    );
    assert_eq!(
        leaf.not_after,
        unix_date(UNTIL.0, UNTIL.1, UNTIL.2),
        "dates preserved"
    );
    let (ints, anchors) = ([int.cert()], [root.cert()]);

    let e = verify::verify(&leaf, &ints, &anchors, &opts(), &AwsLcOps)
        .expect_err("SHA-1 refused by default");
    assert!(
        matches!(&e, VerifyError::WeakSignature { subject, .. } if *subject == leaf.subject),
        "{e:?}"
    );
    assert!(e.to_string().contains("CN=sha1-leaf"), "{e}");
    let allow = Options {
        allow_sha1: true,
        ..opts()
    };
    let path = verify::verify(&leaf, &ints, &anchors, &allow, &AwsLcOps);
    assert!(path.is_ok(), "SHA-1 allowed: {path:?}");
}

// =============================================================================================
// 12. Cross-checks with OpenSSL
// =============================================================================================

#[test]
fn openssl_agrees_on_a_valid_chain() {
    if !have_openssl() {
        return;
    }
    let c = chain(
        "OsslValid",
        Spec::leaf("ossl-valid").email("valid@example.com"),
    );
    let crl = crl(&c.int, &[]);
    assert_agree(
        &check_chain(&c, &with_crls(opts(), &[&crl])),
        &openssl_verify(&c.root, &[&c.int], &c.leaf, Some(&crl), None),
        true,
        "valid chain with CRL",
    );
    assert_agree(
        &check_chain(&c, &purpose(Purpose::SmimeSign)),
        &openssl_verify(&c.root, &[&c.int], &c.leaf, None, Some("smimesign")),
        true,
        "valid chain, smimesign",
    );
}

#[test]
fn openssl_agrees_on_an_expired_leaf() {
    if !have_openssl() {
        return;
    }
    let c = chain("OsslExpired", Spec::leaf("ossl-expired").valid(FROM, PAST));
    assert_agree(
        &check_chain(&c, &opts()),
        &openssl_verify(&c.root, &[&c.int], &c.leaf, None, None),
        false,
        "expired leaf",
    );
}

#[test]
fn openssl_agrees_on_a_revoked_leaf() {
    if !have_openssl() {
        return;
    }
    let c = chain("OsslRevoked", Spec::leaf("ossl-revoked"));
    let crl = crl(
        &c.int,
        &[(c.leaf.serial(), Some(RevocationReason::KeyCompromise))],
    );
    assert_agree(
        &check_chain(&c, &with_crls(opts(), &[&crl])),
        &openssl_verify(&c.root, &[&c.int], &c.leaf, Some(&crl), None),
        false,
        "revoked leaf",
    );
}

#[test]
fn openssl_agrees_on_a_missing_intermediate() {
    if !have_openssl() {
        return;
    }
    let c = chain("OsslMissing", Spec::leaf("ossl-orphan"));
    assert_agree(
        &check(&c.leaf, &[], &[&c.root], &opts()),
        &openssl_verify(&c.root, &[], &c.leaf, None, None),
        false,
        "missing intermediate",
    );
}

#[test]
fn openssl_agrees_on_path_length() {
    if !have_openssl() {
        return;
    }
    let root = Spec::ca("OsslLen Root").self_signed();
    let upper = Spec::ca("OsslLen Upper").path_len(0).signed_by(&root);
    let lower = Spec::ca("OsslLen Lower").signed_by(&upper);
    let leaf = Spec::leaf("ossl-deep").signed_by(&lower);
    assert_agree(
        &check(&leaf, &[&upper, &lower], &[&root], &opts()),
        &openssl_verify(&root, &[&upper, &lower], &leaf, None, None),
        false,
        "pathLen 0 exceeded",
    );
}

#[test]
fn openssl_agrees_on_name_constraints() {
    if !have_openssl() {
        return;
    }
    let root = Spec::ca("OsslNc Root").self_signed();
    let int = Spec::ca("OsslNc Intermediate")
        .name_constraints(
            vec![
                GeneralSubtree::DnsName("example.com".into()),
                GeneralSubtree::Rfc822Name("example.com".into()),
            ],
            vec![],
        )
        .signed_by(&root);
    for (leaf, ok) in [
        (Spec::leaf("ossl-nc-in").dns("foo.example.com"), true),
        (Spec::leaf("ossl-nc-out").dns("foo.example.org"), false),
        (Spec::leaf("ossl-nc-mail-in").email("a@example.com"), true),
        (Spec::leaf("ossl-nc-mail-out").email("a@example.net"), false),
    ] {
        let leaf = leaf.signed_by(&int);
        let what = leaf.subject();
        assert_agree(
            &check(&leaf, &[&int], &[&root], &opts()),
            &openssl_verify(&root, &[&int], &leaf, None, None),
            ok,
            &what,
        );
    }
}

#[test]
fn openssl_agrees_on_smime_purpose() {
    if !have_openssl() {
        return;
    }
    let c = chain(
        "OsslPurpose",
        Spec::leaf("ossl-tls").eku(&[ExtendedKeyUsagePurpose::ServerAuth]),
    );
    assert_agree(
        &check_chain(&c, &purpose(Purpose::SmimeSign)),
        &openssl_verify(&c.root, &[&c.int], &c.leaf, None, Some("smimesign")),
        false,
        "serverAuth leaf for smimesign",
    );
    let signer = chain(
        "OsslPurposeKu",
        Spec::leaf("ossl-signer").ku(&[KeyUsagePurpose::DigitalSignature]),
    );
    assert_agree(
        &check_chain(&signer, &purpose(Purpose::SmimeSign)),
        &openssl_verify(
            &signer.root,
            &[&signer.int],
            &signer.leaf,
            None,
            Some("smimesign"),
        ),
        true,
        "digitalSignature leaf for smimesign",
    );
}

#[test]
fn openssl_agrees_on_a_wrong_key_intermediate() {
    if !have_openssl() {
        return;
    }
    let c = chain("OsslTwin", Spec::leaf("ossl-twin"));
    let impostor = Spec::ca("OsslTwin Intermediate").signed_by(&c.root);
    assert_agree(
        &check(&c.leaf, &[&impostor], &[&c.root], &opts()),
        &openssl_verify(&c.root, &[&impostor], &c.leaf, None, None),
        false,
        "impostor intermediate",
    );
}

#[test]
fn openssl_agrees_on_a_revoked_intermediate() {
    if !have_openssl() {
        return;
    }
    let c = chain("OsslCaRevoked", Spec::leaf("ossl-below-revoked"));
    let int_crl = crl(&c.int, &[]);
    for (listed, ok) in [(true, false), (false, true)] {
        let entries = if listed {
            vec![(c.int.serial(), Some(RevocationReason::CaCompromise))]
        } else {
            vec![]
        };
        let root_crl = crl(&c.root, &entries);
        let crls: [&[u8]; 2] = [&int_crl, &root_crl];
        assert_agree(
            &check_chain(&c, &with_crls(opts(), &crls)),
            &openssl_verify_args(&c.root, &[&c.int], &c.leaf, &crls, &["-crl_check_all"]),
            ok,
            &format!("intermediate listed: {listed}"),
        );
    }
}

#[test]
fn openssl_agrees_on_ip_constraints() {
    if !have_openssl() {
        return;
    }
    let ten: IpAddr = "10.0.0.0".parse().expect("IP");
    let root = Spec::ca("OsslIp Root").self_signed();
    let int = Spec::ca("OsslIp Intermediate")
        .name_constraints(
            vec![GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                ten, 8,
            ))],
            vec![],
        )
        .signed_by(&root);
    // The IPv6 case, where they disagree, is ipv4_only_permitted_subtree_refuses_an_ipv6_address.
    for (leaf, ok) in [
        (Spec::leaf("ossl-v4").ip("10.1.1.1"), true),
        (Spec::leaf("ossl-v4-out").ip("11.1.1.1"), false),
    ] {
        let leaf = leaf.signed_by(&int);
        let what = leaf.subject();
        assert_agree(
            &check(&leaf, &[&int], &[&root], &opts()),
            &openssl_verify(&root, &[&int], &leaf, None, None),
            ok,
            &what,
        );
    }
}

/// One policy scenario: the chain, certmail's options, OpenSSL's flags, the expected result.
struct PolicyCase {
    what: &'static str,
    int_exts: Vec<CustomExtension>,
    leaf_exts: Vec<CustomExtension>,
    initial: Vec<&'static str>,
    explicit: bool,
    inhibit_mapping: bool,
    inhibit_any: bool,
    valid: bool,
}

#[test]
fn openssl_agrees_on_certificate_policies() {
    if !have_openssl() {
        return;
    }
    let case = |what, int_exts, leaf_exts, initial: &[&'static str], explicit, valid| PolicyCase {
        what,
        int_exts,
        leaf_exts,
        initial: initial.to_vec(),
        explicit,
        inhibit_mapping: false,
        inhibit_any: false,
        valid,
    };
    let cases = vec![
        case(
            "P1 everywhere",
            vec![policies(&[P1])],
            vec![policies(&[P1])],
            &[P1],
            true,
            true,
        ),
        case(
            "P2 for {P1}, explicit",
            vec![policies(&[P2])],
            vec![policies(&[P2])],
            &[P1],
            true,
            false,
        ),
        case(
            "P2 for {P1}, not explicit",
            vec![policies(&[P2])],
            vec![policies(&[P2])],
            &[P1],
            false,
            true,
        ),
        case(
            "mapping P1->P2",
            vec![policies(&[P1]), policy_mappings(&[(P1, P2)])],
            vec![policies(&[P2])],
            &[P1],
            true,
            true,
        ),
        PolicyCase {
            inhibit_mapping: true,
            valid: false,
            ..case(
                "mapping P1->P2, inhibited",
                vec![policies(&[P1]), policy_mappings(&[(P1, P2)])],
                vec![policies(&[P2])],
                &[P1],
                true,
                false,
            )
        },
        case(
            "anyPolicy at the CA",
            vec![policies(&[ANY_POLICY])],
            vec![policies(&[P1])],
            &[P1],
            true,
            true,
        ),
        PolicyCase {
            inhibit_any: true,
            ..case(
                "anyPolicy at the CA, inhibited",
                vec![policies(&[ANY_POLICY])],
                vec![policies(&[P1])],
                &[P1],
                true,
                false,
            )
        },
        case(
            "requireExplicitPolicy 0, leaf without policies",
            vec![policies(&[P1]), policy_constraints(Some(0), None)],
            vec![],
            &[],
            false,
            false,
        ),
        case(
            "requireExplicitPolicy 0, leaf with P1",
            vec![policies(&[P1]), policy_constraints(Some(0), None)],
            vec![policies(&[P1])],
            &[],
            false,
            true,
        ),
        case(
            "requireExplicitPolicy 1, leaf without policies",
            vec![policies(&[P1]), policy_constraints(Some(1), None)],
            vec![],
            &[],
            false,
            false,
        ),
        case(
            "inhibitAnyPolicy 0, leaf anyPolicy",
            vec![policies(&[P1]), inhibit_any_policy(0)],
            vec![policies(&[ANY_POLICY])],
            &[],
            true,
            false,
        ),
        case(
            "leaf anyPolicy",
            vec![policies(&[P1])],
            vec![policies(&[ANY_POLICY])],
            &[],
            true,
            true,
        ),
    ];
    for (i, p) in cases.into_iter().enumerate() {
        let c = policy_chain(&format!("OsslPol{i}"), p.int_exts, p.leaf_exts);
        let o = Options {
            policy: PolicyOptions {
                initial_policy_set: p.initial.iter().map(|s| (*s).to_owned()).collect(),
                require_explicit_policy: p.explicit,
                inhibit_policy_mapping: p.inhibit_mapping,
                inhibit_any_policy: p.inhibit_any,
            },
            ..opts()
        };
        let mut args = vec!["-policy_check"];
        // certmail reads an empty initial set as {anyPolicy} (RFC 5280 6.1.1 c); OpenSSL
        // reads it as the empty set, so say anyPolicy explicitly.
        let initial = if p.initial.is_empty() {
            vec![ANY_POLICY]
        } else {
            p.initial.clone()
        };
        for pol in &initial {
            args.extend(["-policy", pol]);
        }
        if p.explicit {
            args.push("-explicit_policy");
        }
        if p.inhibit_mapping {
            args.push("-inhibit_map");
        }
        if p.inhibit_any {
            args.push("-inhibit_any");
        }
        assert_agree(
            &check_chain(&c, &o),
            &openssl_verify_args(&c.root, &[&c.int], &c.leaf, &[], &args),
            p.valid,
            p.what,
        );
    }
}
