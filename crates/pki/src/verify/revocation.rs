//! Revocation (RFC 5280 6.3): CRL selection and scope, delta CRLs, indirect CRLs and
//! their signers.

use super::*;

/// Certificates available to find the issuer of an indirect CRL.
pub(super) struct Pool<'a> {
    pub(super) intermediates: &'a [Certificate],
    pub(super) anchors: &'a [Certificate],
}

/// The certificate that signs an indirect CRL: named in the certificate's cRLIssuer, with
/// cRLSign, and itself with a valid path to a trust anchor (6.3.3 f).
pub(super) fn indirect_crl_signer<'a>(
    crl: &Crl,
    pool: &Pool<'a>,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<&'a Certificate, String> {
    let plain = Options {
        revocation: RevocationPolicy::Off,
        purpose: Purpose::Any,
        peer_name: None,
        required_eku: Vec::new(),
        required_ku: Vec::new(),
        ..opts.clone()
    };
    let mut last = format!("no certificate for CRL issuer {}", crl.issuer);
    for c in pool.intermediates.iter().chain(pool.anchors) {
        if c.vd.subject != crl.issuer_dn {
            continue;
        }
        if c.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
            last = format!("CRL issuer {} lacks cRLSign", c.subject);
            continue;
        }
        let anchored = pool.anchors.iter().any(|a| std::ptr::eq(a, c))
            || verify(c, pool.intermediates, pool.anchors, &plain, ops).is_ok();
        if anchored {
            return Ok(c);
        }
        last = format!(
            "CRL issuer {} has no valid path to a trust anchor",
            c.subject
        );
    }
    Err(last)
}

/// RFC 5280 6.3 for every certificate below the anchor in `path` (leaf first).
pub(super) fn check_revocation(
    path: &[&Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
    pool: &Pool<'_>,
) -> Result<(), VerifyError> {
    if opts.revocation == RevocationPolicy::Off {
        return Ok(());
    }
    for pair in path.windows(2) {
        let (cert, issuer) = (pair[0], pair[1]);
        let mut problems: Vec<String> = Vec::new();
        let mut usable: Vec<&Arc<Crl>> = Vec::new();
        let direct = |crl: &Crl| {
            crl.issuer_dn == cert.vd.issuer
                && match (&crl.authority_key_id, &issuer.subject_key_id) {
                    (Some(a), Some(s)) => a == s,
                    _ => true,
                }
        };
        // An indirect CRL: issued by the CRL issuer the certificate names, marked indirectCRL.
        let indirect = |crl: &Crl| {
            crl.scope.as_ref().is_some_and(|s| s.indirect)
                && cert.vd.crl_issuers.contains(&crl.issuer_dn)
        };
        for crl in opts.crls.iter().filter(|c| direct(c) || indirect(c)) {
            if crl.scope.as_ref().is_some_and(|scope| {
                (scope.only_user && cert.is_ca())
                    || (scope.only_ca && !cert.is_ca())
                    || scope.only_attribute
            }) {
                continue;
            }
            if let Some(d) = crl.defects.first() {
                problems.push(format!("CRL from {} is invalid: {d}", crl.issuer));
                continue;
            }
            let signer = if direct(crl) {
                issuer
            } else {
                match indirect_crl_signer(crl, pool, opts, ops) {
                    Ok(s) => s,
                    Err(why) => {
                        problems.push(format!("indirect CRL from {}: {why}", crl.issuer));
                        continue;
                    }
                }
            };
            if signer.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
                problems.push(format!(
                    "CRL issuer {} lacks cRLSign in its key usage (6.3.3 f)",
                    signer.subject
                ));
                continue;
            }
            let key = PublicKeyRef {
                algorithm: &signer.vd.key_oid,
                curve: signer.vd.key_curve.as_deref(),
                key: &signer.vd.public_key,
            };
            if let Err(e) = crl.verify_signature(key, ops) {
                problems.push(format!("CRL from {}: {e}", crl.issuer));
                continue;
            }
            if crl.this_update > opts.time {
                problems.push(format!("CRL from {} is not yet valid", crl.issuer));
                continue;
            }
            if crl.next_update.is_some_and(|n| n < opts.time) {
                problems.push(format!("CRL from {} is out of date", crl.issuer));
                continue;
            }
            usable.push(crl);
        }
        // Base CRLs first, then the newest delta that extends one of them (RFC 5280 5.2.4):
        // a delta entry revokes, or with removeFromCRL lifts a base entry (a released hold).
        let serial = cert.serial_bytes();
        // An entry belongs to its certificateIssuer (indirect CRLs, 5.3.3), else to the CRL issuer.
        let entry_for = |crl: &'_ Crl| {
            crl.entry(&serial)
                .filter(|e| *e.issuer.as_ref().unwrap_or(&crl.issuer_dn) == cert.vd.issuer)
                .cloned()
        };
        let bases: Vec<&Arc<Crl>> = usable
            .iter()
            .copied()
            .filter(|c| c.delta_base.is_none())
            .collect();
        let mut status = bases
            .iter()
            .find_map(|c| entry_for(c))
            .filter(|e| e.reason != Some(Reason::RemoveFromCrl));
        let newest_base = bases
            .iter()
            .filter_map(|c| c.number.clone())
            .max_by(|a, b| crate::crl::cmp_number(a, b));
        let delta = usable
            .iter()
            .copied()
            .filter(|c| {
                c.delta_base.as_ref().is_some_and(|db| {
                    newest_base
                        .as_ref()
                        .is_some_and(|nb| crate::crl::cmp_number(nb, db).is_ge())
                })
            })
            .max_by(|a, b| {
                crate::crl::cmp_number(
                    a.number.as_deref().unwrap_or(""),
                    b.number.as_deref().unwrap_or(""),
                )
            });
        if let Some(d) = delta
            && let Some(e) = entry_for(d)
        {
            status = (e.reason != Some(Reason::RemoveFromCrl)).then_some(e);
        }
        if let Some(entry) = status {
            return Err(VerifyError::Revoked {
                subject: cert.subject.clone(),
                date: crate::time::format_rfc3339(entry.date),
                reason: entry
                    .reason
                    .map_or("no reason given".into(), |r| format!("{r:?}")),
            });
        }
        let covered = bases
            .iter()
            .any(|c| !c.scope.as_ref().is_some_and(|s| s.only_some_reasons));
        if !covered && (!problems.is_empty() || opts.revocation == RevocationPolicy::Require) {
            return Err(VerifyError::RevocationUnknown {
                subject: cert.subject.clone(),
                reason: if problems.is_empty() {
                    "no CRL from its issuer".into()
                } else {
                    problems.join("; ")
                },
            });
        }
    }
    Ok(())
}
