//! The certificate model against certificates built with rcgen (fields known in advance).

use certmail_pki::cert::format_name;
use certmail_pki::{Certificate, KeyAlgorithm, PkiError, pem, pkcs7};
use certmail_testkit::rcgen::{
    self, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use certmail_testkit::{LeafSpec, TestPki, unix_date};

mod common;
use common::{NullOps, fnv1a, parse};

#[test]
fn every_field_of_an_smime_certificate() {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::default();
    p.distinguished_name
        .push(DnType::CommonName, "Müller, Anna");
    p.distinguished_name
        .push(DnType::OrganizationName, "Example+Co");
    p.distinguished_name.push(
        DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
        "Anna.Mueller@Example.COM",
    );
    p.subject_alt_names = vec![
        SanType::Rfc822Name("ANNA@example.com".try_into().expect("ia5")),
        SanType::Rfc822Name("anna.mueller@example.com".try_into().expect("ia5")),
        SanType::DnsName("Mail.Example.com".try_into().expect("ia5")),
    ];
    p.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    p.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::EmailProtection,
        ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.is_ca = IsCa::ExplicitNoCa;
    p.not_before = rcgen::date_time_ymd(2026, 1, 2);
    p.not_after = rcgen::date_time_ymd(2027, 3, 4);
    p.serial_number = Some(rcgen::SerialNumber::from_slice(&[0x00, 0x8f, 0x01]));
    p.crl_distribution_points = vec![rcgen::CrlDistributionPoint {
        uris: vec!["http://crl.example.com/ca.crl".into()],
    }];
    p.custom_extensions = vec![CustomExtension::from_oid_content(
        &[1, 3, 6, 1, 4, 1, 99999, 1],
        vec![0x05, 0x00],
    )];
    let der = p.self_signed(&key).expect("self-signed").der().to_vec();
    let c = parse(&der);

    assert_eq!(c.version, 3);
    assert_eq!(
        c.subject,
        "emailAddress=Anna.Mueller@Example.COM,O=Example\\+Co,CN=Müller\\, Anna"
    );
    assert_eq!(c.common_name.as_deref(), Some("Müller, Anna"));
    assert_eq!(c.issuer, c.subject);
    assert!(c.is_self_issued());
    assert_eq!(
        c.emails,
        ["anna.mueller@example.com", "anna@example.com"],
        "subject first, lower-cased, unique"
    );
    assert_eq!(c.dns_names, ["mail.example.com"]);
    assert_eq!(c.serial, "8f01");
    assert_eq!(c.not_before, unix_date(2026, 1, 2));
    assert_eq!(c.not_after, unix_date(2027, 3, 4));
    assert_eq!(c.not_after_rfc3339(), "2027-03-04T00:00:00Z");
    assert_eq!(
        c.public_key,
        KeyAlgorithm::Ec {
            curve: "P-256".into()
        }
    );
    assert_eq!(c.signature_algorithm, "ecdsaWithSHA256");
    assert_eq!(
        c.key_usage,
        Some(vec![
            "digitalSignature".to_owned(),
            "keyEncipherment".to_owned()
        ])
    );
    assert_eq!(
        c.extended_key_usage,
        Some(vec!["emailProtection".to_owned(), "clientAuth".to_owned()])
    );
    assert_eq!(c.basic_constraints.map(|b| b.ca), Some(false));
    assert!(!c.is_ca());
    assert_eq!(c.crl_distribution_points, ["http://crl.example.com/ca.crl"]);
    assert!(c.subject_key_id.is_some());
    let unknown: Vec<_> = c.extensions.iter().filter(|e| !e.known).collect();
    assert_eq!(unknown.len(), 1);
    assert_eq!(unknown[0].oid, "1.3.6.1.4.1.99999.1");
    assert_eq!(unknown[0].value_hex.as_deref(), Some("0500"));
    assert_eq!(c.sha512, "ab".repeat(64));
    assert_eq!(&c.sha256[..16], &format!("{:016x}", fnv1a(&der)));
    assert_eq!(c.display_name(), "anna.mueller@example.com");
    assert!(c.is_expired_at(unix_date(2027, 3, 5)));
    assert!(!c.is_expired_at(unix_date(2027, 3, 3)));
}

#[test]
fn ca_chain_fields_and_key_link() {
    let pki = TestPki::new("Model");
    let root = parse(&pki.root.der);
    let inter = parse(&pki.intermediate.der);
    let leaf = parse(&pki.leaf(&LeafSpec::email("x@example.com", 0x1234)).der);
    assert!(root.is_ca() && inter.is_ca() && !leaf.is_ca());
    assert_eq!(inter.basic_constraints.and_then(|b| b.path_len), Some(0));
    assert_eq!(
        root.key_usage,
        Some(vec!["keyCertSign".to_owned(), "cRLSign".to_owned()])
    );
    assert_eq!(inter.issuer, root.subject);
    assert_eq!(leaf.issuer, inter.subject);
    assert_eq!(leaf.authority_key_id, inter.subject_key_id);
    assert_eq!(leaf.serial, "1234");
    assert_eq!(format_name(&x509_name(&pki.root.der)), root.subject);
    // Two certificates for the same key share the key id; different keys differ.
    let a = parse(&pki.leaf_shared_key(&LeafSpec::email("a@example.com", 1)));
    let b = parse(&pki.leaf_shared_key(&LeafSpec::email("b@example.com", 2)));
    assert_eq!(a.key_id, b.key_id);
    assert_ne!(a.key_id, leaf.key_id);
}

fn x509_name(der: &[u8]) -> x509_cert::name::Name {
    use der::Decode;
    x509_cert::Certificate::from_der(der)
        .expect("x509")
        .tbs_certificate()
        .subject()
        .clone()
}

#[test]
fn pem_bundles_and_pkcs7_round_trip() {
    let pki = TestPki::new("Bundle");
    let leaf = pki.leaf(&LeafSpec::email("b@example.com", 7));
    let text = format!("# comment\n{}\n{}", leaf.pem, pki.intermediate.pem);
    let blocks = pem::parse_all(text.as_bytes()).expect("pem");
    assert_eq!(blocks.len(), 2);
    assert_eq!(blocks[0].der, leaf.der);
    let p7 =
        pkcs7::encode_certs_only(&[leaf.der.clone(), pki.intermediate.der.clone()]).expect("p7");
    let mut back = pkcs7::certificates(&p7).expect("read p7");
    back.sort();
    let mut want = vec![leaf.der.clone(), pki.intermediate.der.clone()];
    want.sort();
    assert_eq!(back, want);
}

#[test]
fn corrupt_input_is_a_typed_error() {
    let pki = TestPki::new("Corrupt");
    let der = pki.leaf(&LeafSpec::email("c@example.com", 1)).der;
    for cut in [0, 1, 10, der.len() / 2, der.len() - 1] {
        assert!(
            matches!(
                Certificate::from_der(&der[..cut], &NullOps),
                Err(PkiError::BadCertificate(_))
            ),
            "cut {cut}"
        );
    }
    let mut trailing = der.clone();
    trailing.push(0);
    assert!(
        Certificate::from_der(&trailing, &NullOps).is_err(),
        "trailing byte"
    );
    assert!(matches!(
        pkcs7::certificates(&der),
        Err(PkiError::BadPkcs7(_)) | Err(PkiError::UnsupportedPkcs7Content(_))
    ));
    // Flipping any single byte either still parses (a value changed) or fails cleanly: never panics.
    for i in 0..der.len() {
        let mut d = der.clone();
        d[i] ^= 0xff;
        let _ = Certificate::from_der(&d, &NullOps);
    }
}

#[test]
fn freshest_crl_points_are_collected_for_download() {
    use der::Encode;
    use x509_cert::ext::pkix::crl::dp::DistributionPoint;
    use x509_cert::ext::pkix::name::{DistributionPointName, GeneralName};
    let pki = TestPki::new("Delta");
    let uri = |u: &str| {
        GeneralName::UniformResourceIdentifier(der::asn1::Ia5String::new(u).expect("ia5"))
    };
    let fresh = x509_cert::ext::pkix::FreshestCrl(vec![DistributionPoint {
        distribution_point: Some(DistributionPointName::FullName(vec![
            uri("http://crl.example.com/delta.crl"),
            uri("ldap://ldap.example.com/cn=CA?deltaRevocationList;binary"),
        ])),
        reasons: None,
        crl_issuer: None,
    }]);
    let leaf = pki.leaf_with_extension(
        &LeafSpec::email("d@example.com", 7),
        &[2, 5, 29, 46],
        fresh.to_der().expect("der"),
    );
    let c = Certificate::from_der(&leaf.der, &NullOps).expect("parse");
    assert_eq!(
        c.freshest_crl,
        vec![
            "http://crl.example.com/delta.crl",
            "ldap://ldap.example.com/cn=CA?deltaRevocationList;binary"
        ]
    );
    assert!(c.crl_distribution_points.is_empty());
    // Still listed as an extension the validator does not interpret.
    let e = c
        .extensions
        .iter()
        .find(|e| e.oid == "2.5.29.46")
        .expect("listed");
    assert!(!e.known && !e.critical);
}
