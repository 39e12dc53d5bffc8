//! Certificate profile checks (RFC 5280 section 4 as a relying party sees it, and the
//! web-PKI table), the leaf checks and the S/MIME usage rules.

use super::*;

/// Where a certificate sits in the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Role {
    Leaf,
    Intermediate,
    Anchor,
}

/// The rules every certificate on a path must meet. The relying-party profile (the
/// default, [`Profile::Rfc5280`]) holds only what section 6 and a safe reading of the
/// certificate need; [`Profile::Strict`] adds the issuer duties of section 4 (criticality,
/// key identifiers, positive serial numbers, ...), and `web_pki` the CA/Browser Forum
/// rules. Each rule cites its section.
pub(super) fn profile(c: &Certificate, role: Role, opts: &Options) -> Result<(), VerifyError> {
    let bad = |reason: &str| {
        Err(VerifyError::Malformed {
            subject: c.subject.clone(),
            reason: reason.to_owned(),
        })
    };
    let vd = &c.vd;
    // Ambiguous or contradictory encodings: no reading of them is safe.
    if let Some(d) = vd.duplicate_extensions.first() {
        return bad(&format!("extension {d} appears more than once (4.2)"));
    }
    if !vd.signature_algorithms_match {
        return bad("signature algorithm differs inside and outside tbsCertificate (4.1.1.2)");
    }
    if vd.extensions_without_v3 {
        return bad("extensions in a certificate below version 3 (4.1.2.9)");
    }
    // Names that matching and name constraints would have to guess at.
    for n in vd.san.iter().flatten() {
        let ok = match n {
            GeneralName::Dns(d) => valid_dns_name(d, true),
            GeneralName::Email(e) => valid_mailbox(e),
            GeneralName::Ip(b) => b.len() == 4 || b.len() == 16,
            _ => true,
        };
        if !ok {
            return bad(&format!("malformed subjectAltName entry {n} (4.2.1.6)"));
        }
    }
    if vd.san.is_none() && vd.subject.is_empty() && role == Role::Leaf {
        return bad("empty subject without subjectAltName (4.1.2.6)");
    }
    if let Some(nc) = &vd.name_constraints {
        for st in nc.permitted.iter().chain(nc.excluded.iter()).flatten() {
            if let Some(why) = malformed_constraint(st) {
                return bad(why);
            }
        }
    }
    if role == Role::Anchor && !c.is_ca() {
        return Err(VerifyError::NotCa {
            subject: c.subject.clone(),
        });
    }
    if opts.profile == Profile::Strict {
        issuer_duties(c, role, opts)?;
    }
    if opts.web_pki {
        web_pki_profile(c, role)?;
    }
    Ok(())
}

/// What RFC 5280 section 4 asks of the issuing CA and section 6 does not check: refused
/// only with [`Profile::Strict`] (x509-limbo's RFC 5280 cases, linting a new CA).
fn issuer_duties(c: &Certificate, role: Role, opts: &Options) -> Result<(), VerifyError> {
    let bad = |reason: &str| {
        Err(VerifyError::Malformed {
            subject: c.subject.clone(),
            reason: reason.to_owned(),
        })
    };
    let vd = &c.vd;
    // The CA/B Forum lets name constraints be non-critical (BR 7.1.2.5.2); RFC 5280 does not.
    if let Some(r) = vd
        .criticality_errors
        .iter()
        .find(|r| !(opts.web_pki && r.starts_with("nameConstraints")))
    {
        return bad(r);
    }
    // Trust anchors are trusted by configuration: the issuing-CA duties below (serial
    // number, AKI) bind whoever issued them, which the relying party cannot fix (real
    // roots with serial 0 exist, e.g. Starfield G2).
    if vd.bad_serial && role != Role::Anchor {
        return bad("serial number is not positive (4.1.2.2)");
    }
    if vd.empty_policy_constraints {
        return bad("policyConstraints with neither field (4.2.1.11)");
    }
    if vd.eku.as_ref().is_some_and(Vec::is_empty) {
        return bad("empty extendedKeyUsage (4.2.1.12)");
    }
    if vd.aia_malformed {
        return bad("authorityInfoAccess does not decode (4.2.2.1)");
    }
    match &vd.san {
        Some(san) if san.is_empty() => return bad("empty subjectAltName (4.2.1.6)"),
        Some(_) if vd.subject.is_empty() && !vd.san_critical => {
            return bad("subjectAltName must be critical when the subject is empty (4.2.1.6)");
        }
        None if vd.subject.is_empty() => {
            return bad("empty subject without subjectAltName (4.1.2.6)");
        }
        _ => {}
    }
    if vd.key_usage_bits == Some(0) {
        return bad("keyUsage with no bit set (4.2.1.3)");
    }
    let ku_cert_sign = vd.key_usage_bits.is_some_and(|b| b & (1 << 5) != 0);
    if ku_cert_sign && !c.is_ca() {
        return bad("keyCertSign without basicConstraints cA (4.2.1.3)");
    }
    if c.basic_constraints
        .is_some_and(|b| !b.ca && b.path_len.is_some())
    {
        return bad("pathLenConstraint without cA (4.2.1.9)");
    }
    let self_issued = vd.subject == vd.issuer;
    if !vd.has_aki && !self_issued && role != Role::Anchor {
        return bad("authorityKeyIdentifier missing (4.2.1.1)");
    }
    if c.is_ca() {
        if vd.subject.is_empty() {
            return bad("CA certificate with an empty subject (4.1.2.6)");
        }
        if c.subject_key_id.is_none() {
            return bad("CA certificate without subjectKeyIdentifier (4.2.1.2)");
        }
        if !vd.basic_constraints_critical {
            return bad("basicConstraints must be critical in a CA certificate (4.2.1.9)");
        }
    }
    if let Some(nc) = &vd.name_constraints {
        if !c.is_ca() {
            return bad("nameConstraints in a certificate that is not a CA (4.2.1.10)");
        }
        let empty = |t: &Option<Vec<Subtree>>| t.as_ref().is_none_or(Vec::is_empty);
        if empty(&nc.permitted) && empty(&nc.excluded) {
            return bad("nameConstraints with no subtree (4.2.1.10)");
        }
        if nc.permitted.as_ref().is_some_and(Vec::is_empty)
            || nc.excluded.as_ref().is_some_and(Vec::is_empty)
        {
            return bad("nameConstraints with an empty subtree list (4.2.1.10)");
        }
    }
    Ok(())
}

/// CA/Browser Forum Baseline Requirements rules (section numbers of the BRs).
pub(super) fn web_pki_profile(c: &Certificate, role: Role) -> Result<(), VerifyError> {
    let bad = |reason: &str| {
        Err(VerifyError::Malformed {
            subject: c.subject.clone(),
            reason: reason.to_owned(),
        })
    };
    let vd = &c.vd;
    match &c.public_key {
        crate::cert::KeyAlgorithm::Rsa { bits } if *bits < 2048 || bits % 8 != 0 => {
            return bad("RSA key under 2048 bits or not a multiple of 8 (BR 6.1.5)");
        }
        crate::cert::KeyAlgorithm::Ec { curve }
            if !matches!(curve.as_str(), "P-256" | "P-384" | "P-521") =>
        {
            return bad("EC key on a curve other than P-256/P-384/P-521 (BR 6.1.5)");
        }
        crate::cert::KeyAlgorithm::Dsa => return bad("DSA key (BR 6.1.5)"),
        _ => {}
    }
    if vd.has_aki && vd.subject == vd.issuer && role == Role::Anchor {
        if !vd.aki_key_id || vd.aki_issuer_serial {
            return bad("root authorityKeyIdentifier must hold only keyIdentifier (BR 7.1.2.1.3)");
        }
        if c.authority_key_id != c.subject_key_id {
            return bad(
                "root authorityKeyIdentifier differs from its subjectKeyIdentifier (BR 7.1.2.1.3)",
            );
        }
    }
    match role {
        Role::Anchor if vd.eku.is_some() => {
            bad("root certificate with extendedKeyUsage (BR 7.1.2.1.2)")
        }
        Role::Leaf => {
            if c.is_ca() {
                return bad("end-entity certificate with basicConstraints cA (BR 7.1.2.7.8)");
            }
            match &vd.eku {
                None => {
                    return bad("end-entity certificate without extendedKeyUsage (BR 7.1.2.7.10)");
                }
                Some(e) if e.iter().any(|x| x == ANY_EKU) => {
                    return bad("end-entity certificate with anyExtendedKeyUsage (BR 7.1.2.7.10)");
                }
                Some(_) if vd.eku_critical => {
                    return bad("critical extendedKeyUsage (BR 7.1.2.7.10)");
                }
                _ => {}
            }
            if vd.san_critical && !vd.subject.is_empty() {
                return bad("critical subjectAltName with a non-empty subject (BR 7.1.2.7.12)");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// RFC 1034 preferred name syntax (letters, digits, hyphens; labels of 1-63 characters),
/// with a whole left-most `*` label allowed for SAN wildcards (RFC 6125 6.4.3).
pub(super) fn valid_dns_name(name: &str, allow_wildcard: bool) -> bool {
    let body = match name.strip_prefix("*.") {
        Some(rest) if allow_wildcard => rest,
        _ => name,
    };
    !body.is_empty()
        && body.len() <= 253
        && body.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(super) fn valid_mailbox(m: &str) -> bool {
    match m.rsplit_once('@') {
        Some((local, host)) => {
            !local.is_empty() && !local.contains('@') && valid_dns_name(host, false)
        }
        None => false,
    }
}

/// Syntax of a name-constraint base (4.2.1.10).
pub(super) fn malformed_constraint(st: &Subtree) -> Option<&'static str> {
    if st.bad_bounds {
        return Some("subtree minimum/maximum are not allowed (4.2.1.10)");
    }
    match &st.base {
        GeneralName::Dns(d) if !d.is_empty() && !valid_dns_name(d, false) => {
            Some("malformed dNSName constraint (4.2.1.10)")
        }
        GeneralName::Ip(b) if b.len() != 8 && b.len() != 32 => {
            Some("iPAddress constraint must be address + mask (4.2.1.10)")
        }
        GeneralName::Ip(b) => {
            let mask = &b[b.len() / 2..];
            let bits: Vec<bool> = mask
                .iter()
                .flat_map(|x| (0..8).rev().map(move |i| x >> i & 1 == 1))
                .collect();
            bits.windows(2)
                .any(|w| !w[0] && w[1])
                .then_some("non-contiguous iPAddress constraint mask (4.2.1.10)")
        }
        GeneralName::Email(e) => {
            let ok = match e.rsplit_once('@') {
                Some(_) => valid_mailbox(e),
                None => valid_dns_name(e.strip_prefix('.').unwrap_or(e), false),
            };
            (!ok).then_some("malformed rfc822Name constraint (4.2.1.10)")
        }
        _ => None,
    }
}

pub(super) fn check_leaf(leaf: &Certificate, opts: &Options) -> Result<(), VerifyError> {
    smime_usage(leaf, opts.purpose)?;
    if let Some(eku) = &leaf.vd.eku {
        for req in &opts.required_eku {
            if !eku.iter().any(|e| e == req || e == ANY_EKU) {
                return Err(VerifyError::WrongEku {
                    subject: leaf.subject.clone(),
                    required: crate::oids::name(&req.parse().unwrap_or(crate::oids::DATA)),
                });
            }
        }
    }
    if let Some(bits) = leaf.vd.key_usage_bits {
        for req in &opts.required_ku {
            if bits & (1 << req) == 0 {
                return Err(VerifyError::WrongKeyUsage {
                    subject: leaf.subject.clone(),
                    required: format!("bit {req}"),
                });
            }
        }
    }
    if let Some(name) = &opts.peer_name
        && !name_matches(leaf, name)
    {
        return Err(VerifyError::NameMismatch {
            subject: leaf.subject.clone(),
            name: match name {
                PeerName::Dns(d) => d.clone(),
                PeerName::Ip(ip) => ip.to_string(),
                PeerName::Email(e) => e.clone(),
            },
        });
    }
    Ok(())
}

/// The S/MIME usage rules (RFC 8550 4.4, and the reference's rules for selection).
pub fn smime_usage(c: &Certificate, purpose: Purpose) -> Result<(), VerifyError> {
    const EMAIL_PROTECTION: &str = "1.3.6.1.5.5.7.3.4";
    let name = match purpose {
        Purpose::Any => return Ok(()),
        Purpose::SmimeSign => "S/MIME signing",
        Purpose::SmimeEncrypt => "S/MIME encryption",
    };
    let wrong = |reason: String| {
        Err(VerifyError::WrongUsage {
            subject: c.subject.clone(),
            purpose: name,
            reason,
        })
    };
    if let Some(eku) = &c.vd.eku
        && !eku.iter().any(|e| e == EMAIL_PROTECTION || e == ANY_EKU)
    {
        return wrong(
            "extended key usage has neither emailProtection nor anyExtendedKeyUsage".into(),
        );
    }
    if let Some(bits) = c.vd.key_usage_bits {
        let has = |bit: u16| bits & (1 << bit) != 0;
        match purpose {
            Purpose::SmimeSign if !(has(0) || has(1)) => {
                return wrong("key usage has neither digitalSignature nor nonRepudiation".into());
            }
            Purpose::SmimeEncrypt => {
                let is_ec = matches!(
                    c.public_key,
                    crate::cert::KeyAlgorithm::Ec { .. } | crate::cert::KeyAlgorithm::X25519
                );
                if is_ec && !has(4) {
                    return wrong(format!(
                        "key usage lacks keyAgreement ({} key)",
                        c.public_key
                    ));
                }
                if !is_ec && !has(2) {
                    return wrong("key usage lacks keyEncipherment".into());
                }
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
