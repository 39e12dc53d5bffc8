//! Unit tests of profile.rs: the relying-party, Strict and web-PKI profiles, the name
//! syntax rules, the leaf checks and the S/MIME encryption key usage.

use super::*;
use crate::cert::{Basic, KeyAlgorithm};
use crate::verify::test_support::*;

const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
const SERVER_AUTH: &str = "1.3.6.1.5.5.7.3.1";

fn strict() -> Options {
    Options {
        profile: Profile::Strict,
        ..opts()
    }
}

fn web() -> Options {
    Options {
        web_pki: true,
        ..opts()
    }
}

/// The reason of a [`VerifyError::Malformed`], or what came instead.
fn malformed(r: Result<(), VerifyError>) -> String {
    match r {
        Err(VerifyError::Malformed { reason, .. }) => reason,
        other => panic!("expected Malformed, got {other:?}"),
    }
}

/// The testkit chain passes every profile: the tests below each break one rule.
#[test]
fn the_testkit_chain_passes_every_profile() {
    let c = chain("Profile");
    for o in [opts(), strict(), web()] {
        profile(&c.leaf, Role::Leaf, &o).expect("leaf");
        profile(&c.ca, Role::Intermediate, &o).expect("intermediate");
        profile(&c.root, Role::Anchor, &o).expect("root");
    }
}

/// 4.2 (an extension appears at most once), 4.1.1.2 (the two signature algorithm
/// fields match) and 4.1.2.9 (extensions only in v3): refused in every profile.
#[test]
fn ambiguous_encodings_are_refused_by_the_relying_party_profile() {
    let c = chain("Ambiguous");
    let mut dup = c.leaf.clone();
    dup.vd.duplicate_extensions = vec!["2.5.29.17".into()];
    assert!(malformed(profile(&dup, Role::Leaf, &opts())).contains("(4.2)"));
    let mut sig = c.leaf.clone();
    sig.vd.signature_algorithms_match = false;
    assert!(malformed(profile(&sig, Role::Leaf, &opts())).contains("4.1.1.2"));
    let mut v1 = c.leaf.clone();
    v1.vd.extensions_without_v3 = true;
    assert!(malformed(profile(&v1, Role::Leaf, &opts())).contains("4.1.2.9"));
}

/// 4.2.1.6: subjectAltName entries must be usable names: a mailbox, a DNS name (a
/// left-most wildcard allowed), an IPv4 or IPv6 address.
#[test]
fn subject_alt_names_must_be_well_formed() {
    let c = chain("SAN");
    let with = |n: GeneralName| {
        let mut l = c.leaf.clone();
        l.vd.san = Some(vec![n]);
        profile(&l, Role::Leaf, &opts())
    };
    assert!(with(GeneralName::Email("bob@example.com".into())).is_ok());
    assert!(with(GeneralName::Dns("*.example.com".into())).is_ok());
    assert!(with(GeneralName::Ip(vec![192, 0, 2, 1])).is_ok());
    assert!(with(GeneralName::Ip(vec![0x20; 16])).is_ok(), "IPv6");
    assert!(malformed(with(GeneralName::Email("bob".into()))).contains("4.2.1.6"));
    assert!(malformed(with(GeneralName::Dns("a b.example".into()))).contains("4.2.1.6"));
    assert!(malformed(with(GeneralName::Ip(vec![192, 0, 2, 1, 0]))).contains("4.2.1.6"));
}

/// 4.1.2.6: an end entity with an empty subject must carry subjectAltName (a CA's
/// empty subject is a Strict-profile matter, below).
#[test]
fn a_leaf_needs_a_subject_or_a_subject_alt_name() {
    let c = chain("Empty subject");
    let mut l = c.leaf.clone();
    l.vd.subject = DistinguishedName::default();
    profile(&l, Role::Leaf, &opts()).expect("subjectAltName present");
    l.vd.san = None;
    assert!(malformed(profile(&l, Role::Leaf, &opts())).contains("4.1.2.6"));
    profile(&l, Role::Intermediate, &opts()).expect("not a leaf rule");
}

/// 6.1.1 (d) as certmail reads it: a trust anchor must be a CA certificate.
#[test]
fn an_anchor_must_be_a_ca() {
    let c = chain("Anchor CA");
    assert!(matches!(
        profile(&c.leaf, Role::Anchor, &opts()),
        Err(VerifyError::NotCa { .. })
    ));
}

/// RFC 1034 preferred name syntax (4.2.1.6 requires it for dNSName): labels of 1-63
/// letters, digits and inner hyphens, 253 characters at most; `*.` only in a SAN.
#[test]
fn dns_name_syntax() {
    let l63 = "a".repeat(63);
    assert!(valid_dns_name(&format!("{l63}.example"), false));
    assert!(!valid_dns_name(&format!("a{l63}.example"), false), "64");
    let n253 = format!("{l63}.{l63}.{l63}.{}", "b".repeat(61));
    assert_eq!(n253.len(), 253);
    assert!(valid_dns_name(&n253, false));
    assert!(!valid_dns_name(&format!("{n253}b"), false), "254");
    assert!(valid_dns_name("a-b.example", false));
    assert!(!valid_dns_name("-a.example", false));
    assert!(!valid_dns_name("a-.example", false));
    assert!(!valid_dns_name("a..example", false));
    assert!(!valid_dns_name("a_b.example", false));
    assert!(!valid_dns_name("", false));
    assert!(valid_dns_name("*.example", true));
    assert!(!valid_dns_name("*.example", false));
    assert!(!valid_dns_name("a.*.example", true), "only left-most");
}

/// 4.2.1.6 (RFC 5321 Mailbox, simplified): one `@`, a non-empty local part and a
/// host that is a valid DNS name.
#[test]
fn mailbox_syntax() {
    assert!(valid_mailbox("alice@example.com"));
    assert!(!valid_mailbox("alice"));
    assert!(!valid_mailbox("@example.com"));
    assert!(!valid_mailbox("a@b@example.com"));
    assert!(!valid_mailbox("alice@exa mple.com"));
}

/// 4.2.1.10: name-constraint bases: no minimum/maximum, iPAddress as address + a
/// contiguous mask, well-formed dNSName and rfc822Name (mailbox, host or `.domain`).
#[test]
fn name_constraint_bases_must_be_well_formed() {
    let st = |base: GeneralName| Subtree {
        base,
        bad_bounds: false,
    };
    assert!(malformed_constraint(&st(GeneralName::Dns(String::new()))).is_none());
    assert!(malformed_constraint(&st(GeneralName::Dns("example.com".into()))).is_none());
    assert!(malformed_constraint(&st(GeneralName::Dns("exa_mple.com".into()))).is_some());
    assert!(
        malformed_constraint(&Subtree {
            base: GeneralName::Dns("example.com".into()),
            bad_bounds: true,
        })
        .is_some()
    );
    let ip = |mask: [u8; 4]| st(GeneralName::Ip([&[192, 0, 2, 0][..], &mask].concat()));
    assert!(malformed_constraint(&ip([255, 255, 255, 0])).is_none());
    assert!(malformed_constraint(&ip([0, 0, 0, 0])).is_none());
    assert!(
        malformed_constraint(&ip([255, 0, 255, 0])).is_some(),
        "non-contiguous"
    );
    assert!(malformed_constraint(&st(GeneralName::Ip(vec![192, 0, 2, 0]))).is_some());
    let ip6 = st(GeneralName::Ip([[0x20; 16], [0xff; 16]].concat()));
    assert!(malformed_constraint(&ip6).is_none(), "IPv6 address + mask");
    for ok in ["alice@example.com", "example.com", ".example.com"] {
        assert!(malformed_constraint(&st(GeneralName::Email(ok.into()))).is_none());
    }
    for bad in ["a@@example.com", "exa mple.com", "@example.com"] {
        assert!(
            malformed_constraint(&st(GeneralName::Email(bad.into()))).is_some(),
            "{bad}"
        );
    }
    // And profile() refuses a certificate carrying one.
    let c = chain("NC syntax");
    let mut ca = c.ca.clone();
    ca.vd.name_constraints = Some(NameConstraints {
        permitted: None,
        excluded: Some(vec![ip([255, 0, 255, 0])]),
    });
    assert!(malformed(profile(&ca, Role::Intermediate, &opts())).contains("4.2.1.10"));
}

/// 4.1.2.2: a serial number must be positive: refused under Strict for issued
/// certificates, but not for a trust anchor (configured, not issued), nor by the
/// relying-party profile.
#[test]
fn non_positive_serials_are_a_strict_rule_except_for_anchors() {
    let c = chain("Serial");
    let mut leaf = c.leaf.clone();
    leaf.vd.bad_serial = true;
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("4.1.2.2"));
    profile(&leaf, Role::Leaf, &opts()).expect("relying-party profile");
    let mut root = c.root.clone();
    root.vd.bad_serial = true;
    profile(&root, Role::Anchor, &strict()).expect("anchors are exempt");
}

/// 4.2.1.3: keyUsage must assert a bit, and keyCertSign only in a CA certificate.
#[test]
fn strict_key_usage_rules() {
    let c = chain("KU");
    let mut none = c.leaf.clone();
    none.vd.key_usage_bits = Some(0);
    assert!(malformed(profile(&none, Role::Leaf, &strict())).contains("no bit"));
    let mut cert_sign = c.leaf.clone();
    cert_sign.vd.key_usage_bits = Some(1 << 5);
    assert!(malformed(profile(&cert_sign, Role::Leaf, &strict())).contains("keyCertSign"));
    profile(&cert_sign, Role::Leaf, &opts()).expect("only under Strict");
}

/// 4.2.1.9: pathLenConstraint only with cA, and basicConstraints critical in a CA.
#[test]
fn strict_basic_constraints_rules() {
    let c = chain("BC");
    let mut leaf = c.leaf.clone();
    leaf.basic_constraints = Some(Basic {
        ca: false,
        path_len: Some(0),
    });
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("pathLenConstraint"));
    let mut ca = c.ca.clone();
    ca.vd.basic_constraints_critical = false;
    assert!(malformed(profile(&ca, Role::Intermediate, &strict())).contains("must be critical"));
    profile(&ca, Role::Intermediate, &opts()).expect("only under Strict");
}

/// 4.2.1.1 and 4.2.1.2: authorityKeyIdentifier in every certificate but a self-issued
/// one, subjectKeyIdentifier in every CA certificate.
#[test]
fn strict_key_identifier_rules() {
    let c = chain("KeyIds");
    let mut leaf = c.leaf.clone();
    leaf.vd.has_aki = false;
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("4.2.1.1"));
    let mut root = c.root.clone();
    root.vd.has_aki = false;
    profile(&root, Role::Anchor, &strict()).expect("self-issued: no AKI needed");
    let mut ca = c.ca.clone();
    ca.subject_key_id = None;
    assert!(malformed(profile(&ca, Role::Intermediate, &strict())).contains("4.2.1.2"));
    let mut leaf = c.leaf.clone();
    leaf.subject_key_id = None;
    profile(&leaf, Role::Leaf, &strict()).expect("subjectKeyIdentifier is a CA duty only");
}

/// 4.2.1.12 (at least one purpose) and 4.2.1.10 (nameConstraints only in a CA, with at
/// least one subtree and no empty subtree list).
#[test]
fn strict_eku_and_name_constraint_placement() {
    let c = chain("EKU NC");
    let mut leaf = c.leaf.clone();
    leaf.vd.eku = Some(Vec::new());
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("4.2.1.12"));
    let mut leaf = c.leaf.clone();
    leaf.vd.name_constraints = Some(NameConstraints {
        permitted: Some(vec![Subtree {
            base: GeneralName::Dns("example.com".into()),
            bad_bounds: false,
        }]),
        excluded: None,
    });
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("not a CA"));
    let mut ca = c.ca.clone();
    ca.vd.name_constraints = Some(NameConstraints {
        permitted: Some(Vec::new()),
        excluded: None,
    });
    assert!(malformed(profile(&ca, Role::Intermediate, &strict())).contains("no subtree"));
    ca.vd.name_constraints = Some(NameConstraints {
        permitted: Some(Vec::new()),
        excluded: Some(vec![Subtree {
            base: GeneralName::Dns("example.com".into()),
            bad_bounds: false,
        }]),
    });
    assert!(malformed(profile(&ca, Role::Intermediate, &strict())).contains("empty subtree list"));
}

/// 4.2.1.6: with an empty subject, subjectAltName must be critical.
#[test]
fn strict_san_must_be_critical_with_an_empty_subject() {
    let c = chain("SAN critical");
    let mut leaf = c.leaf.clone();
    leaf.vd.subject = DistinguishedName::default();
    leaf.vd.san_critical = false;
    assert!(malformed(profile(&leaf, Role::Leaf, &strict())).contains("critical"));
    leaf.vd.san_critical = true;
    profile(&leaf, Role::Leaf, &strict()).expect("critical SAN");
}

/// 4.2 criticality rules under Strict, with the one web-PKI exception: CA/B BR
/// 7.1.2.5.2 lets nameConstraints be non-critical; nothing else is excused.
#[test]
fn criticality_errors_and_the_web_pki_name_constraints_exception() {
    let c = chain("Criticality");
    let mut ca = c.ca.clone();
    ca.vd.criticality_errors = vec!["nameConstraints must be critical (4.2.1.10)".into()];
    assert!(malformed(profile(&ca, Role::Intermediate, &strict())).contains("4.2.1.10"));
    let strict_web = Options {
        web_pki: true,
        ..strict()
    };
    profile(&ca, Role::Intermediate, &strict_web).expect("BR 7.1.2.5.2");
    ca.vd.criticality_errors = vec!["keyUsage should be critical (4.2.1.3)".into()];
    assert!(malformed(profile(&ca, Role::Intermediate, &strict_web)).contains("4.2.1.3"));
}

/// CA/B BR 6.1.5: RSA keys of at least 2048 bits in whole bytes; EC on P-256, P-384
/// or P-521; no DSA.
#[test]
fn web_pki_key_types() {
    let c = chain("BR keys");
    let with = |k: KeyAlgorithm| {
        let mut l = c.leaf.clone();
        l.public_key = k;
        web_pki_profile(&l, Role::Leaf)
    };
    assert!(with(KeyAlgorithm::Rsa { bits: 2048 }).is_ok());
    assert!(with(KeyAlgorithm::Rsa { bits: 3072 }).is_ok());
    assert!(malformed(with(KeyAlgorithm::Rsa { bits: 2040 })).contains("6.1.5"));
    assert!(malformed(with(KeyAlgorithm::Rsa { bits: 2049 })).contains("6.1.5"));
    assert!(
        with(KeyAlgorithm::Ec {
            curve: "P-384".into()
        })
        .is_ok()
    );
    assert!(
        malformed(with(KeyAlgorithm::Ec {
            curve: "P-224".into()
        }))
        .contains("6.1.5")
    );
    assert!(malformed(with(KeyAlgorithm::Dsa)).contains("6.1.5"));
}

/// CA/B BR 7.1.2.7.8 and 7.1.2.7.10: a web-PKI end entity is not a CA and has an
/// extendedKeyUsage, non-critical, without anyExtendedKeyUsage.
#[test]
fn web_pki_leaf_rules() {
    let c = chain("BR leaf");
    let mut ca_leaf = c.leaf.clone();
    ca_leaf.basic_constraints = Some(Basic {
        ca: true,
        path_len: None,
    });
    assert!(malformed(web_pki_profile(&ca_leaf, Role::Leaf)).contains("7.1.2.7.8"));
    let mut no_eku = c.leaf.clone();
    no_eku.vd.eku = None;
    assert!(malformed(web_pki_profile(&no_eku, Role::Leaf)).contains("without"));
    web_pki_profile(&no_eku, Role::Intermediate).expect("leaf rule only");
    let mut any = c.leaf.clone();
    any.vd.eku = Some(vec![EMAIL_PROTECTION.into(), ANY_EKU.into()]);
    assert!(malformed(web_pki_profile(&any, Role::Leaf)).contains("anyExtendedKeyUsage"));
    let mut critical = c.leaf.clone();
    critical.vd.eku_critical = true;
    assert!(malformed(web_pki_profile(&critical, Role::Leaf)).contains("critical"));
}

/// CA/B BR 7.1.2.7.12: subjectAltName is critical only when the subject is empty.
#[test]
fn web_pki_san_criticality() {
    let c = chain("BR SAN");
    let mut leaf = c.leaf.clone();
    leaf.vd.san_critical = true;
    assert!(malformed(web_pki_profile(&leaf, Role::Leaf)).contains("7.1.2.7.12"));
    leaf.vd.subject = DistinguishedName::default();
    web_pki_profile(&leaf, Role::Leaf).expect("empty subject: critical SAN is right");
}

/// CA/B BR 7.1.2.1.2 and 7.1.2.1.3: a root has no extendedKeyUsage, and its
/// authorityKeyIdentifier (if any) is its own keyIdentifier only.
#[test]
fn web_pki_root_rules() {
    let c = chain("BR root");
    let mut root = c.root.clone();
    root.vd.eku = Some(vec![EMAIL_PROTECTION.into()]);
    assert!(malformed(web_pki_profile(&root, Role::Anchor)).contains("7.1.2.1.2"));
    let mut ca = c.ca.clone();
    ca.vd.eku = Some(vec![EMAIL_PROTECTION.into()]);
    web_pki_profile(&ca, Role::Intermediate).expect("intermediates may have EKU");
    let mut root = c.root.clone();
    root.vd.has_aki = true;
    root.vd.aki_key_id = true;
    root.vd.aki_issuer_serial = false;
    root.authority_key_id = root.subject_key_id.clone();
    web_pki_profile(&root, Role::Anchor).expect("AKI = SKI");
    root.authority_key_id = Some("00".into());
    assert!(malformed(web_pki_profile(&root, Role::Anchor)).contains("differs"));
    root.authority_key_id = root.subject_key_id.clone();
    root.vd.aki_issuer_serial = true;
    assert!(malformed(web_pki_profile(&root, Role::Anchor)).contains("only keyIdentifier"));
}

/// Options `required_eku` (RFC 5280 4.2.1.12): an end entity with extendedKeyUsage
/// must list each required purpose or anyExtendedKeyUsage; one without passes.
#[test]
fn required_extended_key_usage() {
    let c = chain("Required EKU");
    let o = Options {
        required_eku: vec![SERVER_AUTH.into()],
        ..opts()
    };
    assert!(matches!(
        check_leaf(&c.leaf, &o),
        Err(VerifyError::WrongEku { .. })
    ));
    let mut any = c.leaf.clone();
    any.vd.eku = Some(vec![ANY_EKU.into()]);
    check_leaf(&any, &o).expect("anyExtendedKeyUsage");
    let mut none = c.leaf.clone();
    none.vd.eku = None;
    check_leaf(&none, &o).expect("no extension: unrestricted");
    let email = Options {
        required_eku: vec![EMAIL_PROTECTION.into()],
        ..opts()
    };
    check_leaf(&c.leaf, &email).expect("emailProtection listed");
}

/// Options `required_ku` (RFC 5280 4.2.1.3): an end entity with keyUsage must assert
/// each required bit; one without the extension passes.
#[test]
fn required_key_usage() {
    let c = chain("Required KU");
    // The leaf has digitalSignature (0) and keyAgreement (4).
    let need = |bit: u16| Options {
        required_ku: vec![bit],
        ..opts()
    };
    check_leaf(&c.leaf, &need(0)).expect("digitalSignature");
    check_leaf(&c.leaf, &need(4)).expect("keyAgreement");
    assert!(matches!(
        check_leaf(&c.leaf, &need(2)),
        Err(VerifyError::WrongKeyUsage { .. })
    ));
    let mut none = c.leaf.clone();
    none.vd.key_usage_bits = None;
    check_leaf(&none, &need(2)).expect("no extension: unrestricted");
}

/// RFC 8550 3 / RFC 5280 4.2.1.6: the end entity must carry the peer's address.
#[test]
fn the_leaf_must_carry_the_peer_name() {
    let c = chain("Peer");
    let o = |e: &str| Options {
        peer_name: Some(PeerName::Email(e.into())),
        ..opts()
    };
    check_leaf(&c.leaf, &o("alice@example.com")).expect("its address");
    match check_leaf(&c.leaf, &o("bob@example.com")) {
        Err(VerifyError::NameMismatch { name, .. }) => assert_eq!(name, "bob@example.com"),
        other => panic!("expected NameMismatch, got {other:?}"),
    }
}

/// RFC 8550 4.4.2: encrypting to an RSA key needs keyEncipherment, to an X25519 key
/// keyAgreement (the EC cases are in tests/usage.rs).
#[test]
fn smime_encryption_key_usage_follows_the_key_type() {
    let c = chain("Encrypt");
    let with = |k: KeyAlgorithm, bits: u16| {
        let mut l = c.leaf.clone();
        l.public_key = k;
        l.vd.key_usage_bits = Some(bits);
        smime_usage(&l, Purpose::SmimeEncrypt)
    };
    let rsa = || KeyAlgorithm::Rsa { bits: 2048 };
    assert!(with(rsa(), 1 << 2).is_ok());
    assert!(
        with(rsa(), (1 << 0) | (1 << 4)).is_err(),
        "keyAgreement is not enough"
    );
    assert!(with(KeyAlgorithm::X25519, 1 << 4).is_ok());
    assert!(with(KeyAlgorithm::X25519, 1 << 2).is_err());
}
