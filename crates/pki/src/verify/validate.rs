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
