//! Revocation (RFC 5280 6.3): for each certificate, each distribution point in turn, the
//! complete CRLs whose issuer and scope cover it (issuingDistributionPoint names, user / CA
//! / attribute flags, reasons), each signed by a CRL issuer found and validated through its
//! own path to the same trust anchor (a rolled-over key or a separate CRL-signing key of
//! the same CA, or an indirect CRL's issuer), the newest delta CRL on top, until the CRLs
//! used cover every reason.

use crate::crl::{ALL_REASONS, DistPoint, Entry};

use super::*;

/// How deep CRL-signer validations may nest (a CRL signed by a certificate whose own
/// status is on a CRL signed by yet another certificate ...).
const MAX_SIGNER_DEPTH: u8 = 2;

/// Certificates available to find CRL signers and their paths.
pub(super) struct Pool<'a> {
    pub(super) intermediates: &'a [Certificate],
    pub(super) anchors: &'a [Certificate],
}

/// RFC 5280 6.3 for every certificate below the anchor in `path` (leaf first, anchor last).
/// `depth` counts the CRL-signer validations this one is nested in.
pub(super) fn check_revocation(
    path: &[&Certificate],
    opts: &Options,
    ops: &dyn CryptoOps,
    pool: &Pool<'_>,
    depth: u8,
) -> Result<(), VerifyError> {
    if opts.revocation == RevocationPolicy::Off {
        return Ok(());
    }
    let ctx = Context {
        path,
        opts,
        ops,
        pool,
        depth,
    };
    for pair in path.windows(2) {
        ctx.status(pair[0], pair[1])?;
    }
    Ok(())
}

struct Context<'p, 'a> {
    path: &'p [&'a Certificate],
    opts: &'p Options,
    ops: &'p dyn CryptoOps,
    pool: &'p Pool<'a>,
    depth: u8,
}

impl<'a> Context<'_, 'a> {
    /// 6.3.3 for one certificate and its issuer on the path.
    fn status(&self, cert: &Certificate, issuer: &'a Certificate) -> Result<(), VerifyError> {
        let default_point = [DistPoint::default()];
        let points: &[DistPoint] = if cert.vd.crl_points.is_empty() {
            &default_point
        } else {
            &cert.vd.crl_points
        };
        let mut mask = 0u16;
        let mut problems: Vec<String> = Vec::new();
        let mut consulted = false;
        for dp in points {
            for crl in self.opts.crls.iter().filter(|c| c.delta_base.is_none()) {
                if mask == ALL_REASONS {
                    break;
                }
                // (b) issuer and scope; a CRL whose authorityKeyIdentifier names a key of
                // which no certificate is at hand belongs to another CA of the same name.
                if !issuer_matches(crl, cert, dp)
                    || !in_scope(crl, cert, dp)
                    || !self.signer_at_hand(crl, issuer)
                {
                    continue;
                }
                // (d)(e) the reasons this CRL can add
                let interim = crl
                    .scope
                    .as_ref()
                    .and_then(|s| s.reasons)
                    .unwrap_or(ALL_REASONS)
                    & dp.reasons.unwrap_or(ALL_REASONS)
                    & ALL_REASONS;
                if interim & !mask == 0 {
                    continue;
                }
                consulted = true;
                match self.decide(crl, cert, issuer) {
                    Ok(Some(entry)) => {
                        return Err(VerifyError::Revoked {
                            subject: cert.subject.clone(),
                            date: crate::time::format_rfc3339(entry.date),
                            reason: entry
                                .reason
                                .map_or("no reason given".into(), |r| format!("{r:?}")),
                        });
                    }
                    Ok(None) => mask |= interim,
                    Err(why) if crl.scope.as_ref().is_some_and(|s| s.indirect) => {
                        problems.push(format!("indirect CRL: {why}"));
                    }
                    Err(why) => problems.push(why),
                }
            }
        }
        if mask == ALL_REASONS {
            return Ok(());
        }
        if problems.is_empty() && self.opts.revocation == RevocationPolicy::IfAvailable {
            return Ok(());
        }
        Err(VerifyError::RevocationUnknown {
            subject: cert.subject.clone(),
            reason: if !problems.is_empty() {
                problems.join("; ")
            } else if consulted {
                "the CRLs at hand do not cover every revocation reason".into()
            } else {
                "no CRL from its issuer".into()
            },
        })
    }

    /// (f)-(k) for one complete CRL in scope: `Ok(Some(entry))` when it (or its newest
    /// delta) lists the certificate, `Ok(None)` when not, `Err` when it cannot be used.
    fn decide(
        &self,
        crl: &Crl,
        cert: &Certificate,
        issuer: &'a Certificate,
    ) -> Result<Option<Entry>, String> {
        usable_now(crl, self.opts.time)?;
        let signer = self.signer(crl, issuer)?;
        let deltas: Vec<&Arc<Crl>> = self
            .opts
            .crls
            .iter()
            .filter(|d| {
                d.issuer_dn == crl.issuer_dn
                    && d.scope == crl.scope
                    && d.delta_base.as_ref().is_some_and(|base| {
                        crl.number
                            .as_ref()
                            .is_some_and(|n| crate::crl::cmp_number(n, base).is_ge())
                    })
            })
            .collect();
        let newest = deltas.into_iter().max_by(|a, b| {
            crate::crl::cmp_number(
                a.number.as_deref().unwrap_or(""),
                b.number.as_deref().unwrap_or(""),
            )
        });
        let serial = cert.serial_bytes();
        // An entry belongs to its certificateIssuer (indirect CRLs, 5.3.3), else to the
        // CRL issuer.
        let entry_for = |c: &Crl| {
            c.entry(&serial)
                .filter(|e| *e.issuer.as_ref().unwrap_or(&c.issuer_dn) == cert.vd.issuer)
                .cloned()
        };
        if let Some(delta) = newest {
            usable_now(delta, self.opts.time)?;
            let key = issuer_key(
                signer,
                &[self.pool.intermediates, self.pool.anchors],
                self.ops,
                0,
            );
            delta
                .verify_signature(key, self.ops)
                .map_err(|e| format!("delta CRL from {}: {e}", delta.issuer))?;
            // (i) the delta first; (k) removeFromCRL lifts a hold of the base.
            if let Some(e) = entry_for(delta) {
                return Ok((e.reason != Some(Reason::RemoveFromCrl)).then_some(e));
            }
        }
        Ok(entry_for(crl).filter(|e| e.reason != Some(Reason::RemoveFromCrl)))
    }

    /// Certificates named like the CRL's issuer: the path's issuer, the path, the pool.
    fn named_like(&self, crl: &Crl, issuer: &'a Certificate) -> Vec<&'a Certificate> {
        let mut out: Vec<&'a Certificate> = Vec::new();
        for c in std::iter::once(issuer)
            .chain(self.path.iter().copied())
            .chain(self.pool.intermediates)
            .chain(self.pool.anchors)
        {
            if c.vd.subject == crl.issuer_dn && !out.iter().any(|x| std::ptr::eq(*x, c)) {
                out.push(c);
            }
        }
        out
    }

    /// False when the CRL names its signing key and no certificate at hand has that key.
    fn signer_at_hand(&self, crl: &Crl, issuer: &'a Certificate) -> bool {
        crl.authority_key_id.is_none()
            || self
                .named_like(crl, issuer)
                .iter()
                .any(|c| c.subject_key_id.is_none() || c.subject_key_id == crl.authority_key_id)
    }

    /// (f)(g): the certificate whose key signed `crl`, with cRLSign, validated to the same
    /// trust anchor as the path. The path's own certificates are validated by this very
    /// walk; any other candidate through a path of its own.
    fn signer(&self, crl: &Crl, issuer: &'a Certificate) -> Result<&'a Certificate, String> {
        let anchor = *self
            .path
            .last()
            .unwrap_or_else(|| unreachable!("a path ends at its anchor"));
        let mut candidates = self.named_like(crl, issuer);
        // The path's issuer, then keys the CRL's authorityKeyIdentifier names.
        candidates.sort_by_key(|c| {
            if std::ptr::eq(*c, issuer) {
                0
            } else if crl.authority_key_id.is_some() && crl.authority_key_id == c.subject_key_id {
                1
            } else {
                2
            }
        });
        let mut last = format!("no certificate of CRL issuer {}", crl.issuer);
        for c in candidates {
            if c.vd.key_usage_bits.is_some_and(|b| b & (1 << 6) == 0) {
                last = format!(
                    "CRL issuer {} lacks cRLSign in its key usage (6.3.3 f)",
                    c.subject
                );
                continue;
            }
            let key = issuer_key(
                c,
                &[self.pool.intermediates, self.pool.anchors],
                self.ops,
                0,
            );
            if let Err(e) = crl.verify_signature(key, self.ops) {
                last = format!("CRL from {}: {e}", crl.issuer);
                continue;
            }
            let on_path = self.path.iter().any(|p| std::ptr::eq(*p, c));
            let same_anchor = |a: &Certificate| a.der == anchor.der;
            if on_path || (self.pool.anchors.iter().any(|a| std::ptr::eq(a, c)) && same_anchor(c)) {
                return Ok(c);
            }
            if self.depth >= MAX_SIGNER_DEPTH {
                last = format!(
                    "CRL issuer {}: its path is nested too deeply to validate",
                    c.subject
                );
                continue;
            }
            let plain = Options {
                purpose: Purpose::Any,
                peer_name: None,
                required_eku: Vec::new(),
                required_ku: Vec::new(),
                policy: PolicyOptions::default(),
                ..self.opts.clone()
            };
            match verify_at_depth(
                c,
                self.pool.intermediates,
                self.pool.anchors,
                &plain,
                self.ops,
                self.depth + 1,
            ) {
                Ok(p) if p.certs.last().is_some_and(|a| same_anchor(a)) => return Ok(c),
                Ok(_) => {
                    last = format!(
                        "CRL issuer {} chains to another trust anchor (6.3.3 f)",
                        c.subject
                    );
                }
                Err(e) => last = format!("CRL issuer {} is not valid: {e}", c.subject),
            }
        }
        Err(last)
    }
}

/// Defects, thisUpdate and nextUpdate.
fn usable_now(crl: &Crl, time: i64) -> Result<(), String> {
    if let Some(d) = crl.defects.first() {
        return Err(format!("CRL from {} is invalid: {d}", crl.issuer));
    }
    if crl.this_update > time {
        return Err(format!("CRL from {} is not yet valid", crl.issuer));
    }
    if crl.next_update.is_some_and(|n| n < time) {
        return Err(format!("CRL from {} is out of date", crl.issuer));
    }
    Ok(())
}

/// 6.3.3 (b)(1): a distribution point naming a cRLIssuer takes only that issuer's indirect
/// CRLs; otherwise the CRL must come from the certificate's issuer.
fn issuer_matches(crl: &Crl, cert: &Certificate, dp: &DistPoint) -> bool {
    if dp.crl_issuer.is_empty() {
        crl.issuer_dn == cert.vd.issuer
    } else {
        crl.scope.as_ref().is_some_and(|s| s.indirect)
            && dp
                .crl_issuer
                .iter()
                .any(|n| matches!(n, GeneralName::Directory(d) if *d == crl.issuer_dn))
    }
}

/// 6.3.3 (b)(2): the issuingDistributionPoint's name and certificate-kind flags.
fn in_scope(crl: &Crl, cert: &Certificate, dp: &DistPoint) -> bool {
    let Some(scope) = &crl.scope else {
        return true;
    };
    if let Some(points) = &scope.point {
        let theirs: &[GeneralName] = match &dp.names {
            Some(names) => names,
            None => &dp.crl_issuer,
        };
        if !points.iter().any(|p| theirs.contains(p)) {
            return false;
        }
    }
    !(scope.only_user && cert.is_ca() || scope.only_ca && !cert.is_ca() || scope.only_attribute)
}

#[cfg(test)]
mod tests;
