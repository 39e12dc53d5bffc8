//! Unit tests of revocation.rs: CRL issuer and scope matching, the validity window,
//! the signer's cRLSign and signature, reason coverage, delta and indirect CRLs.

use certmail_testkit::{CrlEntry, CrlSpec, LeafSpec, unix_date};

use super::*;
use crate::crl::Scope;
use crate::verify::test_support::*;

/// thisUpdate 2026-01-01, nextUpdate 2026-02-01: current at [`now`].
fn spec(number: u64, delta_base: Option<u64>, entries: Vec<CrlEntry>) -> CrlSpec {
    CrlSpec {
        entries,
        number,
        delta_base,
        indirect: false,
        this_update: unix_date(2026, 1, 1),
        next_update: unix_date(2026, 2, 1),
    }
}

fn entry(serial: u64, reason: Option<u8>) -> CrlEntry {
    CrlEntry {
        serial,
        reason,
        certificate_issuer: None,
    }
}

fn crl(der: &[u8]) -> Crl {
    Crl::from_der(der).expect("a testkit CRL parses")
}

/// The intermediate's CRL (rcgen-built, keyCompromise entries), current at [`now`].
fn ca_crl(c: &Chain, serials: &[u64]) -> Crl {
    crl(&c.pki.crl(
        serials.iter().copied(),
        1,
        unix_date(2026, 1, 1),
        unix_date(2026, 2, 1),
    ))
}

/// RFC 5280 6.3 for `leaf` under `c.ca`, the CA taken as the trust anchor (so the
/// CRL signer is on the path and no other certificate is needed).
fn status_with(
    c: &Chain,
    leaf: &Certificate,
    crls: Vec<Crl>,
    policy: RevocationPolicy,
    ops: &dyn CryptoOps,
) -> Result<(), VerifyError> {
    let anchors = [c.ca.clone()];
    let o = Options {
        crls: crls.into_iter().map(Arc::new).collect(),
        revocation: policy,
        ..opts()
    };
    let pool = Pool {
        intermediates: &[],
        anchors: &anchors,
    };
    check_revocation(&[leaf, &anchors[0]], &o, ops, &pool, 0)
}

fn status(c: &Chain, crls: Vec<Crl>, policy: RevocationPolicy) -> Result<(), VerifyError> {
    status_with(c, &c.leaf, crls, policy, &ACCEPT)
}

fn revoked_reason(r: Result<(), VerifyError>) -> String {
    match r {
        Err(VerifyError::Revoked { reason, .. }) => reason,
        other => panic!("expected Revoked, got {other:?}"),
    }
}

fn unknown_reason(r: Result<(), VerifyError>) -> String {
    match r {
        Err(VerifyError::RevocationUnknown { reason, .. }) => reason,
        other => panic!("expected RevocationUnknown, got {other:?}"),
    }
}

/// 6.3.3 (i): a current CRL of the certificate's issuer that lists its serial number
/// revokes it, with the entry's reasonCode (5.3.1); other serials do not.
#[test]
fn a_listed_serial_is_revoked() {
    let c = chain("Revoked");
    let reason = revoked_reason(status(
        &c,
        vec![ca_crl(&c, &[7, LEAF_SERIAL])],
        RevocationPolicy::IfAvailable,
    ));
    assert_eq!(reason, "KeyCompromise");
    status(
        &c,
        vec![ca_crl(&c, &[7, LEAF_SERIAL + 1])],
        RevocationPolicy::Require,
    )
    .expect("covered by a current CRL, not listed");
}

/// RevocationPolicy (6.3 as configured): Off consults nothing; IfAvailable passes a
/// certificate whose issuer has no CRL; Require does not.
#[test]
fn revocation_policies() {
    let c = chain("Policies");
    status(&c, vec![ca_crl(&c, &[LEAF_SERIAL])], RevocationPolicy::Off)
        .expect("Off checks nothing");
    status(&c, vec![], RevocationPolicy::IfAvailable).expect("no CRL, status unknown");
    let why = unknown_reason(status(&c, vec![], RevocationPolicy::Require));
    assert!(why.contains("no CRL from its issuer"), "{why}");
}

/// 6.3.3 (b)(1): only CRLs issued by the certificate's issuer (absent a cRLIssuer)
/// apply; another CA's CRL listing the same serial number revokes nothing.
#[test]
fn another_issuers_crl_does_not_apply() {
    let c = chain("Mine");
    let other = chain("Theirs");
    let foreign = ca_crl(&other, &[LEAF_SERIAL]);
    status(&c, vec![foreign], RevocationPolicy::IfAvailable).expect("not its issuer's CRL");
    let foreign = ca_crl(&other, &[LEAF_SERIAL]);
    let why = unknown_reason(status(&c, vec![foreign], RevocationPolicy::Require));
    assert!(why.contains("no CRL from its issuer"), "{why}");
}

/// 6.3.3 (a) and 5.1.2.4/5.1.2.5: a CRL is usable from thisUpdate to nextUpdate, both
/// inclusive; a defective one never.
#[test]
fn a_crl_is_usable_between_this_update_and_next_update() {
    let c = chain("Window");
    let l = ca_crl(&c, &[]);
    let next = l.next_update.expect("nextUpdate");
    assert!(usable_now(&l, l.this_update).is_ok());
    assert!(usable_now(&l, next).is_ok());
    let late = usable_now(&l, next + 1).expect_err("past nextUpdate");
    assert!(late.contains("out of date"), "{late}");
    let early = usable_now(&l, l.this_update - 1).expect_err("before thisUpdate");
    assert!(early.contains("not yet valid"), "{early}");
    let mut broken = ca_crl(&c, &[]);
    broken.defects.push("something (5.2)".into());
    assert!(usable_now(&broken, now()).is_err());
}

/// 6.3.3 (a)(2): a CRL past its nextUpdate decides nothing: the status is unknown
/// (even under IfAvailable, since a CRL of the issuer was there), not revoked.
#[test]
fn a_crl_past_next_update_leaves_the_status_unknown() {
    let c = chain("Stale");
    let stale = crl(&c.pki.crl(
        [LEAF_SERIAL],
        1,
        unix_date(2025, 11, 1),
        unix_date(2025, 12, 1),
    ));
    let why = unknown_reason(status(&c, vec![stale], RevocationPolicy::IfAvailable));
    assert!(why.contains("out of date"), "{why}");
}

/// 6.3.3 (f): the CRL issuer's key usage must assert cRLSign.
#[test]
fn the_crl_signer_needs_crl_sign() {
    let mut c = chain("cRLSign");
    c.ca.vd.key_usage_bits = Some(1 << 5); // keyCertSign only
    let why = unknown_reason(status(
        &c,
        vec![ca_crl(&c, &[LEAF_SERIAL])],
        RevocationPolicy::IfAvailable,
    ));
    assert!(why.contains("cRLSign"), "{why}");
}

/// 6.3.3 (g): a CRL whose signature does not verify is not used.
#[test]
fn a_crl_with_a_bad_signature_is_not_used() {
    let c = chain("Signature");
    let why = unknown_reason(status_with(
        &c,
        &c.leaf,
        vec![ca_crl(&c, &[LEAF_SERIAL])],
        RevocationPolicy::IfAvailable,
        &REJECT,
    ));
    assert!(why.contains("does not verify"), "{why}");
}

/// 6.3.3 (b) with 5.2.1: a CRL whose authorityKeyIdentifier names a key no certificate
/// at hand has belongs to another CA of the same name: skipped, not trusted.
#[test]
fn a_crl_naming_an_unknown_key_is_skipped() {
    let c = chain("AKI");
    let mut other_key = ca_crl(&c, &[LEAF_SERIAL]);
    other_key.authority_key_id = Some("00ff".into());
    status(&c, vec![other_key], RevocationPolicy::IfAvailable).expect("skipped");
    let mut own_key = ca_crl(&c, &[LEAF_SERIAL]);
    own_key.authority_key_id = c.ca.subject_key_id.clone();
    revoked_reason(status(&c, vec![own_key], RevocationPolicy::IfAvailable));
}

/// 6.3.3 (d)(e) with 5.2.5 onlySomeReasons: a CRL covering only some reasons leaves
/// the status undetermined under Require until other CRLs cover the rest.
#[test]
fn crls_must_together_cover_every_reason() {
    let c = chain("Reasons");
    let key_compromise = 1 << 1;
    let partial = |reasons: u16| {
        let mut l = ca_crl(&c, &[]);
        l.scope = Some(Scope {
            reasons: Some(reasons),
            only_some_reasons: true,
            ..Scope::default()
        });
        l
    };
    let why = unknown_reason(status(
        &c,
        vec![partial(key_compromise)],
        RevocationPolicy::Require,
    ));
    assert!(why.contains("every revocation reason"), "{why}");
    status(
        &c,
        vec![
            partial(key_compromise),
            partial(ALL_REASONS & !key_compromise),
        ],
        RevocationPolicy::Require,
    )
    .expect("two CRLs cover all reasons");
}

/// 6.3.3 (d): the distribution point's reasons limit what a CRL found through it
/// covers: a certificate whose only distribution point is for keyCompromise is not
/// fully covered by its issuer's complete CRL.
#[test]
fn distribution_point_reasons_limit_coverage() {
    let c = chain("DP reasons");
    let mut leaf = c.leaf.clone();
    leaf.vd.crl_points = vec![DistPoint {
        reasons: Some(1 << 1),
        ..DistPoint::default()
    }];
    let why = unknown_reason(status_with(
        &c,
        &leaf,
        vec![ca_crl(&c, &[])],
        RevocationPolicy::Require,
        &ACCEPT,
    ));
    assert!(why.contains("every revocation reason"), "{why}");
    status(&c, vec![ca_crl(&c, &[])], RevocationPolicy::Require).expect("no DP: all reasons");
}

/// 6.3.3 (b)(2): the issuingDistributionPoint flags: onlyContainsUserCerts excludes CA
/// certificates, onlyContainsCACerts end entities, onlyContainsAttributeCerts all.
#[test]
fn scope_flags_select_the_kind_of_certificate() {
    let c = chain("Scope");
    let dp = DistPoint::default();
    let with = |scope: Scope| {
        let mut l = ca_crl(&c, &[]);
        l.scope = Some(scope);
        l
    };
    let user = with(Scope {
        only_user: true,
        ..Scope::default()
    });
    assert!(in_scope(&user, &c.leaf, &dp));
    assert!(!in_scope(&user, &c.ca, &dp));
    let cas = with(Scope {
        only_ca: true,
        ..Scope::default()
    });
    assert!(!in_scope(&cas, &c.leaf, &dp));
    assert!(in_scope(&cas, &c.ca, &dp));
    let attribute = with(Scope {
        only_attribute: true,
        ..Scope::default()
    });
    assert!(!in_scope(&attribute, &c.leaf, &dp));
    assert!(
        in_scope(&ca_crl(&c, &[]), &c.ca, &dp),
        "no IDP: every certificate"
    );
}

/// 6.3.3 (b)(2)(i): an issuingDistributionPoint name must match one of the
/// certificate's distribution point names (or, without those, its cRLIssuer).
#[test]
fn scope_point_must_match_the_distribution_point() {
    let c = chain("Points");
    let uri = |u: &str| GeneralName::Uri(u.into());
    let mut l = ca_crl(&c, &[]);
    l.scope = Some(Scope {
        point: Some(vec![uri("http://crl.example/a.crl")]),
        ..Scope::default()
    });
    let dp = |names: Option<Vec<GeneralName>>, crl_issuer: Vec<GeneralName>| DistPoint {
        names,
        reasons: None,
        crl_issuer,
    };
    assert!(in_scope(
        &l,
        &c.leaf,
        &dp(Some(vec![uri("http://crl.example/a.crl")]), vec![])
    ));
    assert!(!in_scope(
        &l,
        &c.leaf,
        &dp(Some(vec![uri("http://crl.example/b.crl")]), vec![])
    ));
    let by_issuer = GeneralName::Directory(dn("CRL Issuer"));
    l.scope = Some(Scope {
        point: Some(vec![by_issuer.clone()]),
        ..Scope::default()
    });
    assert!(in_scope(&l, &c.leaf, &dp(None, vec![by_issuer])));
}

/// 6.3.3 (b)(1): without cRLIssuer the CRL must come from the certificate's issuer;
/// with one, only an indirect CRL (5.2.5 indirectCRL) of that issuer applies.
#[test]
fn issuer_matching_with_and_without_crl_issuer() {
    let c = chain("Issuer");
    let own = ca_crl(&c, &[]);
    assert!(issuer_matches(&own, &c.leaf, &DistPoint::default()));
    assert!(!issuer_matches(&own, &c.ca, &DistPoint::default()));
    let dp = DistPoint {
        crl_issuer: vec![GeneralName::Directory(c.ca.vd.subject.clone())],
        ..DistPoint::default()
    };
    assert!(!issuer_matches(&own, &c.leaf, &dp), "not indirect");
    let mut indirect = ca_crl(&c, &[]);
    indirect.scope = Some(Scope {
        indirect: true,
        ..Scope::default()
    });
    assert!(issuer_matches(&indirect, &c.leaf, &dp));
    let elsewhere = DistPoint {
        crl_issuer: vec![GeneralName::Directory(dn("Someone Else"))],
        ..DistPoint::default()
    };
    assert!(!issuer_matches(&indirect, &c.leaf, &elsewhere));
}

/// 6.3.3 (c)(i) and 5.2.4: the newest delta CRL for the base at hand is consulted on
/// top of it; a delta for a newer base than the one at hand does not apply.
#[test]
fn a_delta_crl_revokes_on_top_of_its_base() {
    let c = chain("Delta");
    let ca = c.pki.intermediate_ca();
    let base = || crl(&ca.crl(&spec(3, None, vec![entry(99, Some(1))])));
    let delta = |number, base_number| {
        crl(&ca.crl(&spec(
            number,
            Some(base_number),
            vec![entry(LEAF_SERIAL, Some(1))],
        )))
    };
    status(&c, vec![base()], RevocationPolicy::Require).expect("the base does not list it");
    let reason = revoked_reason(status(
        &c,
        vec![base(), delta(4, 2)],
        RevocationPolicy::Require,
    ));
    assert_eq!(reason, "KeyCompromise");
    status(&c, vec![base(), delta(6, 5)], RevocationPolicy::Require)
        .expect("delta of base 5 does not apply to base 3");
}

/// 5.2.4: a delta CRL is not a complete CRL; alone it leaves the status unknown.
#[test]
fn a_delta_crl_alone_is_not_complete() {
    let c = chain("Delta alone");
    let ca = c.pki.intermediate_ca();
    let delta = crl(&ca.crl(&spec(4, Some(3), vec![entry(LEAF_SERIAL, Some(1))])));
    let why = unknown_reason(status(&c, vec![delta], RevocationPolicy::Require));
    assert!(why.contains("no CRL"), "{why}");
}

/// 6.3.3 (k) with 5.3.1: certificateHold in the base is lifted by removeFromCRL in the
/// delta; without the delta the hold revokes.
#[test]
fn remove_from_crl_in_a_delta_lifts_a_hold() {
    let c = chain("Hold");
    let ca = c.pki.intermediate_ca();
    let base = || crl(&ca.crl(&spec(3, None, vec![entry(LEAF_SERIAL, Some(6))])));
    let reason = revoked_reason(status(&c, vec![base()], RevocationPolicy::Require));
    assert_eq!(reason, "CertificateHold");
    let release = crl(&ca.crl(&spec(4, Some(3), vec![entry(LEAF_SERIAL, Some(8))])));
    status(&c, vec![base(), release], RevocationPolicy::Require).expect("hold released");
}

/// 6.3.3 (a) for delta CRLs: a stale delta makes the status unknown rather than being
/// silently skipped.
#[test]
fn a_stale_delta_crl_leaves_the_status_unknown() {
    let c = chain("Stale delta");
    let ca = c.pki.intermediate_ca();
    let base = crl(&ca.crl(&spec(3, None, vec![])));
    let mut stale = spec(4, Some(3), vec![entry(LEAF_SERIAL, Some(1))]);
    stale.this_update = unix_date(2025, 11, 1);
    stale.next_update = unix_date(2025, 12, 1);
    let why = unknown_reason(status(
        &c,
        vec![base, crl(&ca.crl(&stale))],
        RevocationPolicy::IfAvailable,
    ));
    assert!(why.contains("out of date"), "{why}");
}

/// 5.2.5, 5.3.3 and 6.3.3 (b)(1): a certificate whose distribution point names a
/// cRLIssuer is revoked by that issuer's indirect CRL through an entry whose
/// certificateIssuer is the certificate's issuer; an entry without certificateIssuer
/// belongs to the CRL issuer itself, and a CRL not marked indirect does not apply.
#[test]
fn indirect_crls_revoke_through_certificate_issuer() {
    let c = chain("Indirect");
    let signer = c.pki.sibling_ca("Indirect CRL Signer");
    let leaf = parse(
        &c.pki
            .leaf_with_crl_issuer(
                &LeafSpec::email("bob@example.com", LEAF_SERIAL),
                &signer.cert.der,
            )
            .der,
    );
    let intermediates = [c.ca.clone(), parse(&signer.cert.der)];
    let anchors = [c.root.clone()];
    let run = |indirect: bool, certificate_issuer: Option<Vec<u8>>| {
        let mut s = spec(
            1,
            None,
            vec![CrlEntry {
                serial: LEAF_SERIAL,
                reason: Some(1),
                certificate_issuer,
            }],
        );
        s.indirect = indirect;
        let o = Options {
            crls: vec![Arc::new(crl(&signer.crl(&s)))],
            ..opts()
        };
        let pool = Pool {
            intermediates: &intermediates,
            anchors: &anchors,
        };
        check_revocation(
            &[&leaf, &intermediates[0], &anchors[0]],
            &o,
            &ACCEPT,
            &pool,
            0,
        )
    };
    let issuer = Some(c.pki.intermediate.der.clone());
    let reason = revoked_reason(run(true, issuer.clone()));
    assert_eq!(reason, "KeyCompromise");
    run(true, None).expect("the entry is the CRL signer's own certificate");
    run(false, issuer).expect("not an indirect CRL");
}
