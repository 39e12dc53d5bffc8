//! Path building (RFC 4158): issuer candidates (AKI/SKI first), loop prevention, the
//! signature and step budgets, and signature checks through [`CryptoOps`].

use super::*;

pub(super) struct Builder<'a, 'o> {
    pub(super) intermediates: &'a [Certificate],
    pub(super) anchors: &'a [Certificate],
    pub(super) opts: &'o Options,
    pub(super) ops: &'o dyn CryptoOps,
    pub(super) signatures: usize,
    pub(super) steps: usize,
    pub(super) best: Option<VerifyError>,
    /// CRL-signer validations this one is nested in (revocation.rs).
    pub(super) depth: u8,
}

/// Candidate issuers of `child` in `pool`, those whose SKI matches the child's AKI first
/// (pyca's order: name collisions then cannot exhaust the budget).
pub(super) fn candidates<'a>(child: &Certificate, pool: &'a [Certificate]) -> Vec<&'a Certificate> {
    let mut out: Vec<&Certificate> = pool
        .iter()
        .filter(|c| c.vd.subject == child.vd.issuer)
        .collect();
    out.sort_by_key(|c| match (&child.authority_key_id, &c.subject_key_id) {
        (Some(a), Some(s)) if a == s => 0,
        (Some(_), Some(_)) => 2,
        _ => 1,
    });
    out
}

impl<'a> Builder<'a, '_> {
    pub(super) fn note(&mut self, e: VerifyError) {
        if self.best.as_ref().is_none_or(|b| e.rank() >= b.rank()) {
            self.best = Some(e);
        }
    }

    pub(super) fn check_signature(
        &mut self,
        child: &Certificate,
        issuer: &Certificate,
    ) -> Result<Result<(), VerifyError>, VerifyError> {
        self.signatures += 1;
        if self.signatures > self.opts.budget.signatures {
            return Err(VerifyError::Budget("signature"));
        }
        let key = issuer_key(issuer, &[self.intermediates, self.anchors], self.ops, 0);
        Ok(signature_with(child, key, self.opts, self.ops))
    }

    /// Depth-first search; `Ok(None)` means no path below this point (reason in `best`).
    pub(super) fn extend(
        &mut self,
        path: &mut Vec<&'a Certificate>,
    ) -> Result<Option<Vec<&'a Certificate>>, VerifyError> {
        let current = *path
            .last()
            .unwrap_or_else(|| unreachable!("path starts with the leaf"));
        // Trust anchors first: the shortest path wins.
        for anchor in candidates(current, self.anchors) {
            self.steps += 1;
            if self.steps > self.opts.budget.build_steps {
                return Err(VerifyError::Budget("path-building"));
            }
            if let Err(e) = self.check_signature(current, anchor)? {
                self.note(e);
                continue;
            }
            match validate(path, anchor, self.opts).and_then(|()| {
                let mut full = path.clone();
                full.push(anchor);
                check_revocation(
                    &full,
                    self.opts,
                    self.ops,
                    &Pool {
                        intermediates: self.intermediates,
                        anchors: self.anchors,
                    },
                    self.depth,
                )
            }) {
                Ok(()) => {
                    let mut found = path.clone();
                    found.push(anchor);
                    return Ok(Some(found));
                }
                Err(e) => self.note(e),
            }
        }
        let logical = path[1..]
            .iter()
            .filter(|c| c.vd.subject != c.vd.issuer)
            .count();
        if logical >= self.opts.budget.max_intermediates {
            self.note(VerifyError::TooDeep(self.opts.budget.max_intermediates));
            return Ok(None);
        }
        for issuer in candidates(current, self.intermediates) {
            self.steps += 1;
            if self.steps > self.opts.budget.build_steps {
                return Err(VerifyError::Budget("path-building"));
            }
            // RFC 4158 5.2: a certificate (same subject and key) appears once in a path.
            if path.iter().any(|c| {
                c.vd.subject == issuer.vd.subject && c.vd.public_key == issuer.vd.public_key
            }) {
                continue;
            }
            if let Err(e) = self.check_signature(current, issuer)? {
                self.note(e);
                continue;
            }
            path.push(issuer);
            let r = self.extend(path)?;
            path.pop();
            if r.is_some() {
                return Ok(r);
            }
        }
        if candidates(current, self.anchors).is_empty()
            && candidates(current, self.intermediates).is_empty()
        {
            self.note(VerifyError::IssuerNotFound {
                subject: current.subject.clone(),
                issuer: current.issuer.clone(),
            });
        }
        Ok(None)
    }
}

/// id-dsa.
const DSA: &str = "1.2.840.10040.4.1";

/// The key of `issuer` as it checks what it signed. A DSA key without parameters takes
/// them from its own issuer (RFC 3279 2.3.2, the working_public_key_parameters of RFC 5280
/// 6.1), found among `pool` by name and checked by signature.
pub(super) fn issuer_key<'a>(
    issuer: &'a Certificate,
    pool: &[&'a [Certificate]],
    ops: &dyn CryptoOps,
    depth: u8,
) -> PublicKeyRef<'a> {
    let mut key = issuer.public_key_ref();
    if key.algorithm != DSA || key.parameters.is_some() || depth >= 4 {
        return key;
    }
    let lenient = Options {
        allow_sha1: true,
        ..Options::default()
    };
    for up in pool.iter().flat_map(|p| p.iter()) {
        if std::ptr::eq(up, issuer) || up.vd.subject != issuer.vd.issuer || up.vd.key_oid != DSA {
            continue;
        }
        let up_key = issuer_key(up, pool, ops, depth + 1);
        if up_key.parameters.is_some() && signature_with(issuer, up_key, &lenient, ops).is_ok() {
            key.parameters = up_key.parameters;
            break;
        }
    }
    key
}

pub(super) fn signature_ok(
    child: &Certificate,
    issuer: &Certificate,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<(), VerifyError> {
    signature_with(child, issuer.public_key_ref(), opts, ops)
}

/// Checks `child`'s signature with `key`.
pub(super) fn signature_with(
    child: &Certificate,
    key: PublicKeyRef<'_>,
    opts: &Options,
    ops: &dyn CryptoOps,
) -> Result<(), VerifyError> {
    let alg = child
        .vd
        .signature_algorithm
        .clone()
        .unwrap_or(SignatureAlgorithm::Unsupported("absent".into()));
    if !opts.allow_sha1 && alg.hash() == Some(Hash::Sha1) {
        return Err(VerifyError::WeakSignature {
            subject: child.subject.clone(),
            algorithm: child.signature_algorithm.clone(),
        });
    }
    ops.verify_signature(&alg, key, &child.vd.tbs, &child.vd.signature)
        .map_err(|reason| match reason {
            SignatureError::Unsupported(what) => VerifyError::Unsupported {
                subject: child.subject.clone(),
                what,
            },
            reason => VerifyError::BadSignature {
                subject: child.subject.clone(),
                reason,
            },
        })
}
