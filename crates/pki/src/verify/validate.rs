//! RFC 5280 6.1 validation of one candidate path, and validity periods.

use super::*;

/// RFC 5280 6.1 over `anchor` + the path (given leaf first). The anchor supplies name and
/// key only (6.1.1 d); its own extensions are not processed.
pub(super) fn validate(
    path: &[&Certificate],
    anchor: &Certificate,
    opts: &Options,
) -> Result<(), VerifyError> {
    let n = path.len();
    let certs: Vec<&Certificate> = path.iter().rev().copied().collect(); // certs[0] is issued by the anchor
    let mut explicit_policy = if opts.policy.require_explicit_policy {
        0
    } else {
        n + 1
    };
    let mut inhibit_any = if opts.policy.inhibit_any_policy {
        0
    } else {
        n + 1
    };
    let mut policy_mapping = if opts.policy.inhibit_policy_mapping {
        0
    } else {
        n + 1
    };
    let mut tree = Some(PolicyTree::new());
    let mut max_path_length = n;
    let mut constraints: Vec<NameConstraints> = Vec::new();
    let mut working_issuer = &anchor.vd.subject;
    let mut nc_budget = opts.budget.name_constraint_checks;
    // The anchor is held to the same profile and its constraints apply (as pyca and
    // OpenSSL do): an expired, non-CA or malformed root is no anchor.
    for c in path.iter().copied().chain(std::iter::once(anchor)) {
        if opts.ctl.status(c) == Some(CtlStatus::Blacklisted) {
            return Err(VerifyError::Blacklisted {
                subject: path[0].subject.clone(),
                blacklisted: c.subject.clone(),
            });
        }
    }
    profile(anchor, Role::Anchor, opts)?;
    check_validity(anchor, opts.time)?;
    check_key_size(anchor, opts)?;
    if anchor.vd.key_usage_bits.is_some_and(|b| b & (1 << 5) == 0) {
        return Err(VerifyError::NoKeyCertSign {
            subject: anchor.subject.clone(),
        });
    }
    if let Some(oid) = anchor.vd.unknown_critical.first() {
        return Err(VerifyError::UnknownCriticalExtension {
            subject: anchor.subject.clone(),
            oid: oid.clone(),
        });
    }
    if let Some(nc) = &anchor.vd.name_constraints {
        constraints.push(nc.clone());
    }
    if let Some(p) = anchor.basic_constraints.and_then(|b| b.path_len) {
        max_path_length = max_path_length.min(usize::from(p));
    }

    for (idx, c) in certs.iter().enumerate() {
        let i = idx + 1;
        let is_leaf = i == n;
        let self_issued = c.vd.subject == c.vd.issuer;
        profile(
            c,
            if is_leaf {
                Role::Leaf
            } else {
                Role::Intermediate
            },
            opts,
        )?;
        // (a)(2) validity
        check_validity(c, opts.time)?;
        check_key_size(c, opts)?;
        // (a)(4) name chaining
        if &c.vd.issuer != working_issuer {
            return Err(VerifyError::IssuerNotFound {
                subject: c.subject.clone(),
                issuer: c.issuer.clone(),
            });
        }
        // (b)(c) name constraints, for the leaf and every non-self-issued certificate
        if is_leaf || !self_issued {
            for nc in &constraints {
                check_names(c, nc, &mut nc_budget)?;
            }
        }
        // (d)-(f) policies
        if let Some(t) = tree.as_mut() {
            match &c.vd.policies {
                Some(policies) => {
                    let parents = t.at(i - 1);
                    for p in policies.iter().filter(|p| *p != ANY_POLICY) {
                        let mut matched = false;
                        for &par in &parents {
                            if t.nodes[par].expected.iter().any(|e| e == p) {
                                t.add(par, p, vec![p.clone()]);
                                matched = true;
                            }
                        }
                        if !matched {
                            for &par in &parents {
                                if t.nodes[par].valid_policy == ANY_POLICY {
                                    t.add(par, p, vec![p.clone()]);
                                }
                            }
                        }
                    }
                    if policies.iter().any(|p| p == ANY_POLICY)
                        && (inhibit_any > 0 || (!is_leaf && self_issued))
                    {
                        for &par in &parents {
                            let expected = t.nodes[par].expected.clone();
                            for e in expected {
                                let exists = t.nodes.iter().any(|x| {
                                    x.alive && x.parent == Some(par) && x.valid_policy == e
                                });
                                if !exists {
                                    t.add(par, &e, vec![e.clone()]);
                                }
                            }
                        }
                    }
                    if !t.prune(i) || t.at(i).is_empty() {
                        tree = None;
                    }
                }
                None => tree = None,
            }
        }
        if explicit_policy == 0 && tree.is_none() {
            return Err(VerifyError::Policy {
                subject: c.subject.clone(),
            });
        }
        if is_leaf {
            // 6.1.5 wrap-up
            if explicit_policy != 0 {
                dec(&mut explicit_policy);
            }
            if c.vd.require_explicit_policy == Some(0) {
                explicit_policy = 0;
            }
            if let Some(oid) = c.vd.unknown_critical.first() {
                return Err(VerifyError::UnknownCriticalExtension {
                    subject: c.subject.clone(),
                    oid: oid.clone(),
                });
            }
            if let Some(t) = tree.as_mut() {
                intersect_policies(t, &opts.policy.initial_policy_set, n);
                if !t.nodes[0].alive || t.at(n).is_empty() {
                    tree = None;
                }
            }
            if explicit_policy == 0 && tree.is_none() {
                return Err(VerifyError::Policy {
                    subject: c.subject.clone(),
                });
            }
            break;
        }
        // 6.1.4 preparation for certificate i+1
        if let Some(maps) = &c.vd.policy_mappings {
            if maps.iter().any(|(a, b)| a == ANY_POLICY || b == ANY_POLICY) {
                return Err(VerifyError::Malformed {
                    subject: c.subject.clone(),
                    reason: "policyMappings maps anyPolicy (6.1.4 a)".into(),
                });
            }
            if let Some(t) = tree.as_mut() {
                let mut issuer_policies: Vec<&String> = maps.iter().map(|(a, _)| a).collect();
                issuer_policies.dedup();
                for idp in issuer_policies {
                    let mapped: Vec<String> = maps
                        .iter()
                        .filter(|(a, _)| a == idp)
                        .map(|(_, b)| b.clone())
                        .collect();
                    let nodes: Vec<usize> = t
                        .at(i)
                        .into_iter()
                        .filter(|x| &t.nodes[*x].valid_policy == idp)
                        .collect();
                    if policy_mapping > 0 {
                        if !nodes.is_empty() {
                            for x in nodes {
                                t.nodes[x].expected = mapped.clone();
                            }
                        } else if let Some(any) = t
                            .at(i)
                            .into_iter()
                            .find(|x| t.nodes[*x].valid_policy == ANY_POLICY)
                        {
                            let parent = t.nodes[any].parent.unwrap_or(0);
                            t.add(parent, idp, mapped.clone());
                        }
                    } else {
                        for x in nodes {
                            t.kill(x);
                        }
                    }
                }
                if !t.prune(i) {
                    tree = None;
                }
            }
        }
        working_issuer = &c.vd.subject;
        if let Some(nc) = &c.vd.name_constraints {
            constraints.push(nc.clone());
        }
        if !self_issued {
            dec(&mut explicit_policy);
            dec(&mut policy_mapping);
            dec(&mut inhibit_any);
        }
        if let Some(r) = c.vd.require_explicit_policy {
            explicit_policy = explicit_policy.min(r as usize);
        }
        if let Some(m) = c.vd.inhibit_policy_mapping {
            policy_mapping = policy_mapping.min(m as usize);
        }
        if let Some(s) = c.vd.inhibit_any_policy {
            inhibit_any = inhibit_any.min(s as usize);
        }
        // (k) basic constraints: v3 certificates must say cA; v1/v2 intermediates are refused too.
        if !c.is_ca() {
            return Err(VerifyError::NotCa {
                subject: c.subject.clone(),
            });
        }
        // (l)(m) path length
        if !self_issued {
            if max_path_length == 0 {
                return Err(VerifyError::PathLength {
                    subject: c.subject.clone(),
                });
            }
            max_path_length -= 1;
        }
        if let Some(p) = c.basic_constraints.and_then(|b| b.path_len) {
            max_path_length = max_path_length.min(usize::from(p));
        }
        // (n) key usage
        if c.vd.key_usage_bits.is_some_and(|b| b & (1 << 5) == 0) {
            return Err(VerifyError::NoKeyCertSign {
                subject: c.subject.clone(),
            });
        }
        // (o) other critical extensions
        if let Some(oid) = c.vd.unknown_critical.first() {
            return Err(VerifyError::UnknownCriticalExtension {
                subject: c.subject.clone(),
                oid: oid.clone(),
            });
        }
        // The pathLen check for the *next* certificate happens at its turn via max_path_length.
        let _ = max_path_length;
    }
    let leaf = path[0];
    check_leaf(leaf, opts)
}

pub(super) fn check_validity(c: &Certificate, time: i64) -> Result<(), VerifyError> {
    if time < c.not_before {
        return Err(VerifyError::NotYetValid {
            subject: c.subject.clone(),
            not_before: c.not_before_rfc3339(),
        });
    }
    if time > c.not_after {
        return Err(VerifyError::Expired {
            subject: c.subject.clone(),
            not_after: c.not_after_rfc3339(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::Basic;
    use crate::verify::test_support::*;

    const P1: &str = "1.3.6.1.4.1.99999.1";
    const P2: &str = "1.3.6.1.4.1.99999.2";

    /// Validates `leaf` under the intermediates `cas` (top-most first) and `c.root`.
    fn check(
        c: &Chain,
        cas: &[&Certificate],
        leaf: &Certificate,
        opts: &Options,
    ) -> Result<(), VerifyError> {
        let mut path = vec![leaf];
        path.extend(cas.iter().rev().copied());
        validate(&path, &c.root, opts)
    }

    fn ca(path_len: Option<u8>) -> Option<Basic> {
        Some(Basic { ca: true, path_len })
    }

    /// A second intermediate `CN=Sub CA` under `c.ca`, and `c.leaf` reissued under it;
    /// the root's pathLen lifted so that only the rule under test decides.
    fn with_sub_ca(c: &mut Chain) -> (Certificate, Certificate) {
        c.root.basic_constraints = ca(None);
        let sub = issued_by(named(c.ca.clone(), "Sub CA"), &c.ca);
        let leaf = issued_by(c.leaf.clone(), &sub);
        (sub, leaf)
    }

    fn with_policies(mut c: Certificate, policies: &[&str]) -> Certificate {
        c.vd.policies = Some(policies.iter().map(|p| (*p).to_owned()).collect());
        c
    }

    /// Options requiring an explicit policy (initial-explicit-policy) from `initial`.
    fn explicit(initial: &[&str]) -> Options {
        Options {
            policy: PolicyOptions {
                initial_policy_set: initial.iter().map(|p| (*p).to_owned()).collect(),
                require_explicit_policy: true,
                ..PolicyOptions::default()
            },
            ..opts()
        }
    }

    fn is_policy_error(r: &Result<(), VerifyError>) -> bool {
        matches!(r, Err(VerifyError::Policy { .. }))
    }

    /// 6.1: the testkit's root, intermediate and leaf form a valid path (the baseline every
    /// negative test below departs from by one field).
    #[test]
    fn the_testkit_chain_validates() {
        let c = chain("Validate");
        check(&c, &[&c.ca], &c.leaf, &opts()).expect("valid path");
    }

    /// 6.1.3 (a)(2) and 4.1.2.5: the validity period includes notBefore and notAfter.
    #[test]
    fn validity_period_is_inclusive_at_both_ends() {
        let c = chain("Validity");
        let leaf = &c.leaf;
        assert!(check_validity(leaf, leaf.not_before).is_ok());
        assert!(check_validity(leaf, leaf.not_after).is_ok());
        assert!(matches!(
            check_validity(leaf, leaf.not_before - 1),
            Err(VerifyError::NotYetValid { .. })
        ));
        assert!(matches!(
            check_validity(leaf, leaf.not_after + 1),
            Err(VerifyError::Expired { .. })
        ));
    }

    /// 6.1.3 (a)(2): every certificate of the path is in its validity period, not only the
    /// leaf; and certmail holds the anchor to its own validity too.
    #[test]
    fn an_expired_intermediate_or_anchor_fails_the_path() {
        let mut c = chain("Expired");
        c.ca.not_after = now() - 1;
        match check(&c, &[&c.ca], &c.leaf, &opts()) {
            Err(VerifyError::Expired { subject, .. }) => assert_eq!(subject, c.ca.subject),
            other => panic!("expected the intermediate expired, got {other:?}"),
        }
        let mut c = chain("Expired root");
        c.root.not_before = now() + 1;
        match check(&c, &[&c.ca], &c.leaf, &opts()) {
            Err(VerifyError::NotYetValid { subject, .. }) => assert_eq!(subject, c.root.subject),
            other => panic!("expected the root not yet valid, got {other:?}"),
        }
    }

    /// 6.1.3 (a)(4): each certificate's issuer is the subject of the one above it.
    #[test]
    fn names_must_chain() {
        let c = chain("Chaining");
        let mut leaf = c.leaf.clone();
        leaf.vd.issuer = dn("Somebody Else");
        assert!(matches!(
            check(&c, &[&c.ca], &leaf, &opts()),
            Err(VerifyError::IssuerNotFound { .. })
        ));
    }

    /// 6.1.4 (l)(m): pathLenConstraint 0 in an intermediate allows no further
    /// non-self-issued intermediate below it; 1 allows one.
    #[test]
    fn path_len_zero_forbids_another_intermediate() {
        let mut c = chain("PathLen");
        let (sub, leaf) = with_sub_ca(&mut c);
        c.ca.basic_constraints = ca(Some(0));
        match check(&c, &[&c.ca, &sub], &leaf, &opts()) {
            Err(VerifyError::PathLength { subject }) => assert_eq!(subject, "CN=Sub CA"),
            other => panic!("expected PathLength at the sub CA, got {other:?}"),
        }
        c.ca.basic_constraints = ca(Some(1));
        check(&c, &[&c.ca, &sub], &leaf, &opts()).expect("pathLen 1 allows one more CA");
        c.ca.basic_constraints = ca(None);
        check(&c, &[&c.ca, &sub], &leaf, &opts()).expect("no pathLen, no limit");
    }

    /// 6.1.4 (m), applied to the anchor as certmail does: the root's pathLenConstraint
    /// counts the intermediates below it (0: none allowed).
    #[test]
    fn the_anchor_path_len_counts_too() {
        let mut c = chain("Anchor pathLen");
        c.root.basic_constraints = ca(Some(0));
        match check(&c, &[&c.ca], &c.leaf, &opts()) {
            Err(VerifyError::PathLength { subject }) => assert_eq!(subject, c.ca.subject),
            other => panic!("expected PathLength at the intermediate, got {other:?}"),
        }
    }

    /// 6.1.4 (l): a self-issued intermediate (a key rollover certificate) does not count
    /// against pathLenConstraint.
    #[test]
    fn self_issued_intermediates_do_not_count_against_path_len() {
        let c = chain("Rollover");
        // Same subject as its issuer, the pathLen-0 intermediate.
        let rollover = issued_by(c.ca.clone(), &c.ca);
        assert_eq!(rollover.vd.subject, rollover.vd.issuer);
        check(&c, &[&c.ca, &rollover], &c.leaf, &opts())
            .expect("a self-issued CA under pathLen 0 is allowed");
    }

    /// 6.1.4 (k): an intermediate must carry basicConstraints with cA set; cA false and an
    /// absent extension (v1-like) are both refused.
    #[test]
    fn an_intermediate_must_be_a_ca() {
        for bc in [
            Some(Basic {
                ca: false,
                path_len: None,
            }),
            None,
        ] {
            let mut c = chain("Not a CA");
            c.ca.basic_constraints = bc;
            match check(&c, &[&c.ca], &c.leaf, &opts()) {
                Err(VerifyError::NotCa { subject }) => assert_eq!(subject, c.ca.subject),
                other => panic!("expected NotCa for {bc:?}, got {other:?}"),
            }
        }
    }

    /// 6.1.4 (n): an intermediate with keyUsage must assert keyCertSign; one without the
    /// extension may sign certificates.
    #[test]
    fn an_issuer_with_key_usage_needs_key_cert_sign() {
        let mut c = chain("KeyCertSign");
        c.ca.vd.key_usage_bits = Some(1 << 6); // cRLSign only
        match check(&c, &[&c.ca], &c.leaf, &opts()) {
            Err(VerifyError::NoKeyCertSign { subject }) => assert_eq!(subject, c.ca.subject),
            other => panic!("expected NoKeyCertSign, got {other:?}"),
        }
        c.ca.vd.key_usage_bits = None;
        check(&c, &[&c.ca], &c.leaf, &opts()).expect("no keyUsage: any use");
    }

    /// 6.1.4 (n) held against the anchor as well (certmail, like OpenSSL): a root whose
    /// keyUsage lacks keyCertSign anchors nothing.
    #[test]
    fn an_anchor_with_key_usage_needs_key_cert_sign() {
        let mut c = chain("Anchor keyCertSign");
        c.root.vd.key_usage_bits = Some((1 << 6) | 1); // cRLSign, digitalSignature
        match check(&c, &[&c.ca], &c.leaf, &opts()) {
            Err(VerifyError::NoKeyCertSign { subject }) => assert_eq!(subject, c.root.subject),
            other => panic!("expected NoKeyCertSign at the root, got {other:?}"),
        }
    }

    /// 6.1.4 (o) and 6.1.5 (f): an unrecognised critical extension fails the path, in an
    /// intermediate and in the leaf.
    #[test]
    fn unknown_critical_extensions_fail() {
        let mut c = chain("Critical");
        c.ca.vd.unknown_critical = vec!["1.3.6.1.4.1.99999.9".into()];
        assert!(matches!(
            check(&c, &[&c.ca], &c.leaf, &opts()),
            Err(VerifyError::UnknownCriticalExtension { ref subject, .. }) if *subject == c.ca.subject
        ));
        let c = chain("Critical leaf");
        let mut leaf = c.leaf.clone();
        leaf.vd.unknown_critical = vec!["1.3.6.1.4.1.99999.9".into()];
        assert!(matches!(
            check(&c, &[&c.ca], &leaf, &opts()),
            Err(VerifyError::UnknownCriticalExtension { ref subject, .. }) if *subject == leaf.subject
        ));
    }

    /// 6.1.4 (g) then 6.1.3 (b)(c): an intermediate's nameConstraints bind the certificates
    /// below it (the leaf's rfc822Name alice@example.com is outside example.org).
    #[test]
    fn intermediate_name_constraints_bind_the_leaf() {
        let mut c = chain("Constrained");
        c.ca.vd.name_constraints = Some(NameConstraints {
            permitted: Some(vec![Subtree {
                base: GeneralName::Email("example.org".into()),
                bad_bounds: false,
            }]),
            excluded: None,
        });
        assert!(matches!(
            check(&c, &[&c.ca], &c.leaf, &opts()),
            Err(VerifyError::NameConstraint { .. })
        ));
        c.ca.vd.name_constraints = Some(NameConstraints {
            permitted: Some(vec![Subtree {
                base: GeneralName::Email("example.com".into()),
                bad_bounds: false,
            }]),
            excluded: None,
        });
        check(&c, &[&c.ca], &c.leaf, &opts()).expect("inside the permitted subtree");
    }

    /// 6.1.1 (initial-explicit-policy) and 6.1.3 (e): with an explicit policy required, a
    /// certificate without certificatePolicies (a NULL tree) fails the path.
    #[test]
    fn explicit_policy_needs_policies_on_every_certificate() {
        let c = chain("Explicit");
        let ca = with_policies(c.ca.clone(), &[P1]);
        let leaf = with_policies(c.leaf.clone(), &[P1]);
        check(&c, &[&ca], &leaf, &explicit(&[])).expect("P1 throughout");
        let r = check(&c, &[&ca], &c.leaf, &explicit(&[]));
        assert!(is_policy_error(&r), "leaf without policies: {r:?}");
        check(&c, &[&ca], &c.leaf, &opts()).expect("no explicit policy required");
    }

    /// 6.1.3 (d)(2): anyPolicy in an intermediate matches whatever the leaf asserts; a
    /// different specific policy does not.
    #[test]
    fn any_policy_in_an_intermediate_stands_for_every_policy() {
        let c = chain("Any");
        let leaf = with_policies(c.leaf.clone(), &[P1]);
        let any = with_policies(c.ca.clone(), &[ANY_POLICY]);
        check(&c, &[&any], &leaf, &explicit(&[P1])).expect("anyPolicy covers P1");
        let other = with_policies(c.ca.clone(), &[P2]);
        let r = check(&c, &[&other], &leaf, &explicit(&[P1]));
        assert!(is_policy_error(&r), "P2 does not cover P1: {r:?}");
    }

    /// 6.1.1 (initial-any-policy-inhibit) and 6.1.3 (d)(2): with anyPolicy inhibited from
    /// the start, anyPolicy in a (non-self-issued) intermediate matches nothing.
    #[test]
    fn initial_any_policy_inhibit_disables_any_policy() {
        let c = chain("Inhibit any");
        let leaf = with_policies(c.leaf.clone(), &[P1]);
        let any = with_policies(c.ca.clone(), &[ANY_POLICY]);
        let mut o = explicit(&[]);
        o.policy.inhibit_any_policy = true;
        let r = check(&c, &[&any], &leaf, &o);
        assert!(is_policy_error(&r), "{r:?}");
    }

    /// 6.1.4 (j) with 6.1.3 (d)(2): inhibitAnyPolicy skipCerts 0 in an intermediate stops
    /// anyPolicy in the next certificate; skipCerts 1 lets it through.
    #[test]
    fn inhibit_any_policy_extension_counts_certificates() {
        let c = chain("SkipCerts");
        let leaf = with_policies(c.leaf.clone(), &[ANY_POLICY]);
        let mut ca = with_policies(c.ca.clone(), &[ANY_POLICY]);
        ca.vd.inhibit_any_policy = Some(0);
        let r = check(&c, &[&ca], &leaf, &explicit(&[]));
        assert!(is_policy_error(&r), "skipCerts 0: {r:?}");
        ca.vd.inhibit_any_policy = Some(1);
        check(&c, &[&ca], &leaf, &explicit(&[])).expect("skipCerts 1");
    }

    /// 6.1.3 (d)(2): a self-issued intermediate's anyPolicy is honoured even when
    /// inhibit_anyPolicy has reached 0.
    #[test]
    fn a_self_issued_intermediate_keeps_any_policy() {
        let c = chain("Self-issued any");
        let ca = with_policies(c.ca.clone(), &[P1]);
        let rollover = with_policies(issued_by(c.ca.clone(), &c.ca), &[ANY_POLICY]);
        let leaf = with_policies(c.leaf.clone(), &[P1]);
        let mut o = explicit(&[]);
        o.policy.inhibit_any_policy = true;
        check(&c, &[&ca, &rollover], &leaf, &o).expect("self-issued anyPolicy passes P1 on");
    }

    /// 6.1.4 (i) and 6.1.5 (a): requireExplicitPolicy skipCerts counts down by the leaf
    /// too: 1 in the intermediate makes the leaf need a policy, 2 does not.
    #[test]
    fn require_explicit_policy_extension_counts_down() {
        let c = chain("RequireExplicit");
        let mut ca = with_policies(c.ca.clone(), &[P1]);
        for (skip, leaf_needs_policy) in [(0, true), (1, true), (2, false)] {
            ca.vd.require_explicit_policy = Some(skip);
            let r = check(&c, &[&ca], &c.leaf, &opts());
            assert_eq!(
                is_policy_error(&r),
                leaf_needs_policy,
                "requireExplicitPolicy {skip}: {r:?}"
            );
        }
    }

    /// 6.1.5 (b): requireExplicitPolicy 0 in the leaf itself requires a policy.
    #[test]
    fn the_leaf_can_require_explicit_policy() {
        let c = chain("Leaf requires");
        let ca = with_policies(c.ca.clone(), &[P1]);
        let mut leaf = c.leaf.clone();
        leaf.vd.require_explicit_policy = Some(0);
        let r = check(&c, &[&ca], &leaf, &opts());
        assert!(is_policy_error(&r), "{r:?}");
    }

    /// 6.1.4 (b)(1): policyMappings in an intermediate make the issuer-domain policy
    /// expect the subject-domain policy in the next certificate.
    #[test]
    fn policy_mapping_carries_a_policy_into_the_subject_domain() {
        let c = chain("Mapping");
        let mut ca = with_policies(c.ca.clone(), &[P1]);
        let leaf = with_policies(c.leaf.clone(), &[P2]);
        let r = check(&c, &[&ca], &leaf, &explicit(&[P1]));
        assert!(is_policy_error(&r), "unmapped, P2 is not P1: {r:?}");
        ca.vd.policy_mappings = Some(vec![(P1.into(), P2.into())]);
        check(&c, &[&ca], &leaf, &explicit(&[P1])).expect("P1 maps to P2");
    }

    /// 6.1.4 (b)(2): with policy mapping inhibited (initial-policy-mapping-inhibit), the
    /// mapped issuer-domain policy is deleted instead.
    #[test]
    fn inhibited_policy_mapping_deletes_the_mapped_policy() {
        let c = chain("No mapping");
        let mut ca = with_policies(c.ca.clone(), &[P1]);
        ca.vd.policy_mappings = Some(vec![(P1.into(), P2.into())]);
        let leaf = with_policies(c.leaf.clone(), &[P2]);
        let mut o = explicit(&[P1]);
        o.policy.inhibit_policy_mapping = true;
        let r = check(&c, &[&ca], &leaf, &o);
        assert!(is_policy_error(&r), "{r:?}");
    }

    /// 6.1.4 (i)(2): inhibitPolicyMapping skipCerts in a policyConstraints counts the
    /// certificates after it: 0 forbids the next CA's mapping, 1 allows it.
    #[test]
    fn inhibit_policy_mapping_extension_counts_certificates() {
        let mut c = chain("InhibitMapping");
        let (sub, leaf) = with_sub_ca(&mut c);
        c.ca.basic_constraints = ca(None);
        let mut top = with_policies(c.ca.clone(), &[P1]);
        let mut sub = with_policies(sub, &[P1]);
        sub.vd.policy_mappings = Some(vec![(P1.into(), P2.into())]);
        let leaf = with_policies(leaf, &[P2]);
        top.vd.inhibit_policy_mapping = Some(0);
        let r = check(&c, &[&top, &sub], &leaf, &explicit(&[]));
        assert!(is_policy_error(&r), "skipCerts 0: {r:?}");
        top.vd.inhibit_policy_mapping = Some(1);
        check(&c, &[&top, &sub], &leaf, &explicit(&[])).expect("skipCerts 1");
    }

    /// 6.1.4 (a): a policy mapping to or from anyPolicy makes the certificate invalid.
    #[test]
    fn mapping_any_policy_is_refused() {
        let c = chain("Map any");
        for map in [(ANY_POLICY, P1), (P1, ANY_POLICY)] {
            let mut ca = with_policies(c.ca.clone(), &[P1]);
            ca.vd.policy_mappings = Some(vec![(map.0.into(), map.1.into())]);
            assert!(matches!(
                check(&c, &[&ca], &c.leaf, &opts()),
                Err(VerifyError::Malformed { .. })
            ));
        }
    }

    /// 6.1.5 (g): the tree is intersected with the user-initial-policy-set; a path valid
    /// only for P1 fails for {P2}.
    #[test]
    fn the_user_initial_policy_set_is_intersected() {
        let c = chain("Initial set");
        let ca = with_policies(c.ca.clone(), &[P1]);
        let leaf = with_policies(c.leaf.clone(), &[P1]);
        let r = check(&c, &[&ca], &leaf, &explicit(&[P2]));
        assert!(is_policy_error(&r), "{r:?}");
        check(&c, &[&ca], &leaf, &explicit(&[P1, P2])).expect("P1 is in {{P1, P2}}");
    }
}
