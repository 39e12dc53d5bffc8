//! `verify::smime_usage` (profile.rs): which key usages and extended key usages allow S/MIME
//! signing and encryption, each rule with the certificate a one-line change would misjudge.

use certmail_pki::Certificate;
use certmail_pki::verify::{Purpose, smime_usage};
use certmail_testkit::rcgen::{
    CertificateParams, ExtendedKeyUsagePurpose, KeyPair, KeyUsagePurpose,
};

mod common;
use common::parse;

/// An EC (P-256) certificate with these usages.
fn ec_cert(ku: &[KeyUsagePurpose], eku: &[ExtendedKeyUsagePurpose]) -> Certificate {
    let key = KeyPair::generate().expect("key");
    let mut p = CertificateParams::default();
    p.key_usages = ku.to_vec();
    p.extended_key_usages = eku.to_vec();
    let c = p.self_signed(&key).expect("cert");
    parse(c.der())
}

#[test]
fn signing_needs_digital_signature_or_non_repudiation() {
    use KeyUsagePurpose as K;
    let email = [ExtendedKeyUsagePurpose::EmailProtection];
    assert!(smime_usage(&ec_cert(&[K::DigitalSignature], &email), Purpose::SmimeSign).is_ok());
    assert!(
        smime_usage(
            &ec_cert(&[K::ContentCommitment], &email),
            Purpose::SmimeSign
        )
        .is_ok()
    );
    assert!(smime_usage(&ec_cert(&[K::KeyAgreement], &email), Purpose::SmimeSign).is_err());
    // No key usage extension at all: any use.
    assert!(smime_usage(&ec_cert(&[], &email), Purpose::SmimeSign).is_ok());
}

#[test]
fn encryption_to_an_ec_key_needs_key_agreement() {
    use KeyUsagePurpose as K;
    let email = [ExtendedKeyUsagePurpose::EmailProtection];
    assert!(smime_usage(&ec_cert(&[K::KeyAgreement], &email), Purpose::SmimeEncrypt).is_ok());
    let e = smime_usage(
        &ec_cert(&[K::DigitalSignature, K::KeyEncipherment], &email),
        Purpose::SmimeEncrypt,
    )
    .expect_err("keyEncipherment does not do for an EC key");
    assert!(e.to_string().contains("keyAgreement"), "{e}");
}

#[test]
fn extended_key_usage_must_allow_email() {
    use KeyUsagePurpose as K;
    let ku = [K::DigitalSignature];
    assert!(
        smime_usage(
            &ec_cert(&ku, &[ExtendedKeyUsagePurpose::ServerAuth]),
            Purpose::SmimeSign
        )
        .is_err()
    );
    assert!(
        smime_usage(
            &ec_cert(&ku, &[ExtendedKeyUsagePurpose::Any]),
            Purpose::SmimeSign
        )
        .is_ok()
    );
    assert!(
        smime_usage(&ec_cert(&ku, &[]), Purpose::SmimeSign).is_ok(),
        "no EKU: any"
    );
    assert!(
        smime_usage(
            &ec_cert(&ku, &[ExtendedKeyUsagePurpose::ServerAuth]),
            Purpose::Any
        )
        .is_ok(),
        "Purpose::Any checks nothing"
    );
}
