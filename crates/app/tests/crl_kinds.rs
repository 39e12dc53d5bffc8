//! Delta and indirect CRLs (RFC 5280 5.2.4, 5.2.5, 5.3.3), with hand-built CRLs.

use std::sync::Arc;

use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_pki::crl::Crl;
use certmail_pki::verify::{self, Options, RevocationPolicy, VerifyError};
use certmail_testkit::{CrlEntry, CrlSpec, LeafSpec, TestPki, unix_date};

fn cert(der: &[u8]) -> Certificate {
    Certificate::from_der(der, &AwsLcOps).expect("certificate")
}

fn spec(number: u64, delta_base: Option<u64>, indirect: bool, entries: Vec<CrlEntry>) -> CrlSpec {
    CrlSpec {
        entries,
        number,
        delta_base,
        indirect,
        this_update: unix_date(2029, 12, 1),
        next_update: unix_date(2030, 2, 1),
    }
}

fn entry(serial: u64, reason: Option<u8>, certificate_issuer: Option<Vec<u8>>) -> CrlEntry {
    CrlEntry {
        serial,
        reason,
        certificate_issuer,
    }
}

fn check(
    pki: &TestPki,
    leaf: &Certificate,
    extra: &[Certificate],
    crls: &[Vec<u8>],
) -> Result<(), VerifyError> {
    let mut intermediates = vec![cert(&pki.intermediate.der)];
    intermediates.extend(extra.iter().cloned());
    let anchors = vec![cert(&pki.root.der)];
    let opts = Options {
        time: unix_date(2030, 1, 1),
        crls: crls
            .iter()
            .map(|d| Arc::new(Crl::from_der(d).expect("crl")))
            .collect(),
        revocation: RevocationPolicy::IfAvailable,
        ..Options::default()
    };
    verify::verify(leaf, &intermediates, &anchors, &opts, &AwsLcOps).map(|_| ())
}

#[test]
fn a_delta_crl_revokes_on_top_of_its_base() {
    let pki = TestPki::new("Delta");
    let ca = pki.intermediate_ca();
    let leaf = cert(&pki.leaf(&LeafSpec::email("d@example.com", 7)).der);
    let base = ca.crl(&spec(5, None, false, vec![entry(99, Some(1), None)]));
    let delta = ca.crl(&spec(6, Some(5), false, vec![entry(7, Some(1), None)]));
    assert!(
        check(&pki, &leaf, &[], std::slice::from_ref(&base)).is_ok(),
        "base alone does not list it"
    );
    match check(&pki, &leaf, &[], &[base.clone(), delta]) {
        Err(VerifyError::Revoked { reason, .. }) => {
            assert!(reason.contains("KeyCompromise"), "{reason}")
        }
        other => panic!("expected Revoked by the delta, got {other:?}"),
    }
    // A delta for a newer base than the one at hand does not apply (5.2.4).
    let foreign = ca.crl(&spec(9, Some(8), false, vec![entry(7, Some(1), None)]));
    assert!(check(&pki, &leaf, &[], &[base, foreign]).is_ok());
}

#[test]
fn remove_from_crl_in_a_delta_releases_a_hold() {
    let pki = TestPki::new("Hold");
    let ca = pki.intermediate_ca();
    let leaf = cert(&pki.leaf(&LeafSpec::email("h@example.com", 8)).der);
    let base = ca.crl(&spec(1, None, false, vec![entry(8, Some(6), None)]));
    match check(&pki, &leaf, &[], std::slice::from_ref(&base)) {
        Err(VerifyError::Revoked { reason, .. }) => {
            assert!(reason.contains("CertificateHold"), "{reason}")
        }
        other => panic!("expected on hold, got {other:?}"),
    }
    let delta = ca.crl(&spec(2, Some(1), false, vec![entry(8, Some(8), None)]));
    assert!(
        check(&pki, &leaf, &[], &[base, delta]).is_ok(),
        "removeFromCRL lifts the hold"
    );
}

#[test]
fn an_indirect_crl_revokes_through_certificate_issuer_entries() {
    let pki = TestPki::new("Indirect");
    let signer = pki.sibling_ca("Indirect CRL Signer");
    let signer_cert = cert(&signer.cert.der);
    let leaf = cert(
        &pki.leaf_with_crl_issuer(&LeafSpec::email("i@example.com", 11), &signer.cert.der)
            .der,
    );
    assert_eq!(
        leaf.vd.crl_issuers.len(),
        1,
        "cRLIssuer parsed from the CDP"
    );
    // Entry for serial 11 *of the intermediate* (certificateIssuer): revoked.
    let crl = signer.crl(&spec(
        1,
        None,
        true,
        vec![entry(11, Some(1), Some(pki.intermediate.der.clone()))],
    ));
    match check(&pki, &leaf, std::slice::from_ref(&signer_cert), &[crl]) {
        Err(VerifyError::Revoked { .. }) => {}
        other => panic!("expected Revoked by the indirect CRL, got {other:?}"),
    }
    // Without certificateIssuer the entry is the CRL issuer's own serial 11: not this one.
    let crl = signer.crl(&spec(2, None, true, vec![entry(11, Some(1), None)]));
    assert!(
        check(
            &pki,
            &leaf,
            std::slice::from_ref(&signer_cert),
            std::slice::from_ref(&crl)
        )
        .is_ok()
    );
    // The CRL issuer's certificate must be at hand (with a path to the root).
    match check(&pki, &leaf, &[], &[crl]) {
        Err(VerifyError::RevocationUnknown { reason, .. }) => {
            assert!(reason.contains("indirect"), "{reason}")
        }
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
    // A certificate that does not name the CRL issuer ignores its indirect CRL.
    let plain = cert(&pki.leaf(&LeafSpec::email("p@example.com", 11)).der);
    let crl = signer.crl(&spec(
        3,
        None,
        true,
        vec![entry(11, Some(1), Some(pki.intermediate.der.clone()))],
    ));
    assert!(check(&pki, &plain, &[signer_cert], &[crl]).is_ok());
}
