//! Name constraints (RFC 5280 4.2.1.10: DN, e-mail, DNS, IP and URI forms) and peer-name
//! matching (RFC 6125).

use super::*;

/// The names of `c` that name constraints apply to.
pub(super) fn names_of(c: &Certificate) -> Vec<GeneralName> {
    let mut names = Vec::new();
    if !c.vd.subject.is_empty() {
        names.push(GeneralName::Directory(c.vd.subject.clone()));
    }
    // 4.2.1.10: emailAddress attributes in the subject are checked as rfc822Name.
    for v in c.vd.subject.values_of(EMAIL_ADDRESS_OID) {
        names.push(GeneralName::Email(v.to_owned()));
    }
    if let Some(san) = &c.vd.san {
        names.extend(san.iter().cloned());
    }
    names
}

pub(super) fn check_names(
    c: &Certificate,
    nc: &NameConstraints,
    budget: &mut usize,
) -> Result<(), VerifyError> {
    let fail = |name: &GeneralName, reason: &str| {
        Err(VerifyError::NameConstraint {
            subject: c.subject.clone(),
            name: name.to_string(),
            reason: reason.to_owned(),
        })
    };
    let names = names_of(c);
    let work = names.len()
        * (nc.excluded.as_ref().map_or(0, Vec::len) + nc.permitted.as_ref().map_or(0, Vec::len));
    if work > *budget {
        return Err(VerifyError::Budget("name-constraint"));
    }
    *budget -= work;
    for name in names {
        if let Some(excluded) = &nc.excluded {
            for st in excluded {
                // A wildcard SAN covers every name one label deeper (CVE-2025-61727): it is
                // excluded when any name it could stand for is.
                if let (GeneralName::Dns(n), GeneralName::Dns(ex)) = (&name, &st.base)
                    && let Some(rest) = n.strip_prefix("*.")
                    && ex
                        .to_ascii_lowercase()
                        .split_once('.')
                        .is_some_and(|(_, tail)| tail == rest.to_ascii_lowercase())
                {
                    return fail(&name, "a wildcard covering an excluded subtree");
                }
                match matches(&name, st) {
                    Match::Yes => return fail(&name, "it is in an excluded subtree"),
                    Match::Malformed(why) => return fail(&name, why),
                    _ => {}
                }
            }
        }
        if let Some(permitted) = &nc.permitted {
            let mut same_type = false;
            let mut ok = false;
            for st in permitted {
                match matches(&name, st) {
                    Match::Yes => {
                        same_type = true;
                        ok = true;
                    }
                    Match::No => same_type = true,
                    Match::OtherType => {}
                    Match::Malformed(why) => return fail(&name, why),
                }
            }
            if same_type && !ok {
                return fail(&name, "it is outside the permitted subtrees");
            }
        }
    }
    Ok(())
}

pub(super) enum Match {
    Yes,
    No,
    OtherType,
    Malformed(&'static str),
}

pub(super) fn bool_match(b: bool) -> Match {
    if b { Match::Yes } else { Match::No }
}

pub(super) fn matches(name: &GeneralName, st: &Subtree) -> Match {
    if st.bad_bounds {
        return Match::Malformed("subtree minimum/maximum are not allowed (4.2.1.10)");
    }
    match (name, &st.base) {
        (GeneralName::Dns(n), GeneralName::Dns(c)) => dns_in_subtree(n, c),
        (GeneralName::Email(n), GeneralName::Email(c)) => email_in_subtree(n, c),
        (GeneralName::Ip(n), GeneralName::Ip(c)) => ip_in_subtree(n, c),
        (GeneralName::Directory(n), GeneralName::Directory(c)) => bool_match(n.starts_with(c)),
        (GeneralName::Uri(n), GeneralName::Uri(c)) => match uri_host(n) {
            Some(h) => uri_host_in_subtree(&h, c),
            None => {
                Match::Malformed("URI without a host name cannot be checked against constraints")
            }
        },
        (GeneralName::Other(n), GeneralName::Other(c)) if n == c => {
            Match::Malformed("otherName constraints are not supported")
        }
        _ => Match::OtherType,
    }
}

pub(super) fn uri_host(uri: &str) -> Option<String> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// RFC 5280 4.2.1.10 for URIs: the constraint applies to the host; `.example.com` is any
/// host below example.com (not example.com itself), `example.com` that host only (unlike
/// a dNSName constraint, which takes subdomains too).
pub(super) fn uri_host_in_subtree(host: &str, constraint: &str) -> Match {
    if constraint.is_empty() || !valid_dns_constraint(constraint) {
        return Match::Malformed("malformed uniformResourceIdentifier constraint");
    }
    let h = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
    let c = constraint.to_ascii_lowercase();
    bool_match(match c.strip_prefix('.') {
        Some(_) => h.len() > c.len() && h.ends_with(&c),
        None => h == c,
    })
}

pub(super) fn valid_dns_constraint(c: &str) -> bool {
    let c = c.strip_prefix('.').unwrap_or(c);
    c.is_empty()
        || c.split('.')
            .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

pub(super) fn dns_in_subtree(name: &str, constraint: &str) -> Match {
    if !valid_dns_constraint(constraint) {
        return Match::Malformed("malformed dNSName constraint");
    }
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix('.').unwrap_or(&n);
    let c = constraint.to_ascii_lowercase();
    if c.is_empty() {
        return Match::Yes;
    }
    if let Some(suffix) = c.strip_prefix('.') {
        return bool_match(n.ends_with(&format!(".{suffix}")));
    }
    bool_match(n == c || n.ends_with(&format!(".{c}")))
}

pub(super) fn email_in_subtree(name: &str, constraint: &str) -> Match {
    let Some((local, host)) = name.rsplit_once('@') else {
        return Match::Malformed("rfc822Name without @");
    };
    let host = host.to_ascii_lowercase();
    let c = constraint.to_ascii_lowercase();
    if let Some((cl, ch)) = constraint.rsplit_once('@') {
        // A mailbox: local part exact, host case-insensitive.
        return bool_match(local == cl && host == ch.to_ascii_lowercase());
    }
    if let Some(suffix) = c.strip_prefix('.') {
        return bool_match(host.ends_with(&format!(".{suffix}")));
    }
    bool_match(host == c)
}

pub(super) fn ip_in_subtree(name: &[u8], constraint: &[u8]) -> Match {
    if constraint.len() != 8 && constraint.len() != 32 {
        return Match::Malformed("iPAddress constraint must be address + mask (8 or 32 bytes)");
    }
    let (addr, mask) = constraint.split_at(constraint.len() / 2);
    // The mask must be contiguous ones followed by zeros.
    let bits: Vec<bool> = mask
        .iter()
        .flat_map(|b| (0..8).rev().map(move |i| b >> i & 1 == 1))
        .collect();
    if bits.windows(2).any(|w| !w[0] && w[1]) {
        return Match::Malformed("non-contiguous iPAddress constraint mask");
    }
    // IPv4 and IPv6 are one name form (iPAddress): an IPv6 address is outside an IPv4-only
    // permitted set, not unconstrained by it.
    if name.len() != addr.len() {
        return Match::No;
    }
    bool_match(
        name.iter()
            .zip(addr)
            .zip(mask)
            .all(|((n, a), m)| n & m == a & m),
    )
}

/// RFC 6125 DNS-ID / IP matching, and e-mail identity for S/MIME.
pub fn name_matches(c: &Certificate, name: &PeerName) -> bool {
    let san = c.vd.san.as_deref().unwrap_or_default();
    match name {
        PeerName::Dns(d) => san
            .iter()
            .any(|g| matches!(g, GeneralName::Dns(p) if dns_pattern_matches(p, d))),
        PeerName::Ip(ip) => {
            let bytes = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => v6.octets().to_vec(),
            };
            san.iter()
                .any(|g| matches!(g, GeneralName::Ip(b) if *b == bytes))
        }
        PeerName::Email(e) => {
            let want = e.trim().to_lowercase();
            c.emails.contains(&want)
        }
    }
}

/// RFC 6125 6.4.3: case-insensitive; a wildcard only as the whole left-most label, matching
/// exactly one label, never in a public-suffix-like two-label name.
pub(super) fn dns_pattern_matches(pattern: &str, name: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let n = name.to_ascii_lowercase();
    let n = n.strip_suffix('.').unwrap_or(&n);
    if let Some(rest) = p.strip_prefix("*.") {
        if rest.contains('*') || !rest.contains('.') {
            return false;
        }
        return match n.split_once('.') {
            Some((label, tail)) => !label.is_empty() && tail == rest,
            None => false,
        };
    }
    !p.contains('*') && p == n
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yes(m: Match) -> bool {
        matches!(m, Match::Yes)
    }

    #[test]
    fn dns_constraints_follow_rfc5280() {
        // A host constraint takes the host and its subdomains; a leading dot only subdomains.
        assert!(yes(dns_in_subtree("example.com", "example.com")));
        assert!(yes(dns_in_subtree("a.example.com", "example.com")));
        assert!(!yes(dns_in_subtree("badexample.com", "example.com")));
        assert!(yes(dns_in_subtree("a.example.com", ".example.com")));
        assert!(!yes(dns_in_subtree("example.com", ".example.com")));
        assert!(
            yes(dns_in_subtree("A.Example.COM.", "example.com")),
            "case, root dot"
        );
        assert!(
            yes(dns_in_subtree("anything.test", "")),
            "empty: every name"
        );
        assert!(matches!(
            dns_in_subtree("a.example.com", "exa mple.com"),
            Match::Malformed(_)
        ));
    }

    #[test]
    fn email_constraints_mailbox_host_and_domain() {
        assert!(yes(email_in_subtree(
            "alice@example.com",
            "alice@EXAMPLE.com"
        )));
        assert!(
            !yes(email_in_subtree("Alice@example.com", "alice@example.com")),
            "local part exact"
        );
        assert!(yes(email_in_subtree("bob@Example.com", "example.com")));
        assert!(
            !yes(email_in_subtree("bob@mail.example.com", "example.com")),
            "host exact"
        );
        assert!(yes(email_in_subtree(
            "bob@mail.example.com",
            ".example.com"
        )));
        assert!(!yes(email_in_subtree("bob@example.com", ".example.com")));
        assert!(matches!(
            email_in_subtree("no-at-sign", "example.com"),
            Match::Malformed(_)
        ));
    }

    #[test]
    fn ip_constraints_mask_and_family() {
        let net = [192, 168, 0, 0, 255, 255, 0, 0];
        assert!(yes(ip_in_subtree(&[192, 168, 4, 2], &net)));
        assert!(!yes(ip_in_subtree(&[192, 169, 4, 2], &net)));
        assert!(
            !yes(ip_in_subtree(&[0u8; 16], &net)),
            "IPv6 outside an IPv4 set"
        );
        assert!(matches!(
            ip_in_subtree(&[192, 168, 4, 2], &[192, 168, 0, 0, 255, 0, 255, 0]),
            Match::Malformed(_)
        ));
        assert!(matches!(
            ip_in_subtree(&[1, 2, 3, 4], &[1, 2, 3]),
            Match::Malformed(_)
        ));
    }

    #[test]
    fn uri_constraints_apply_to_the_host() {
        assert_eq!(
            uri_host("https://user@Host.Example:8443/x?y").as_deref(),
            Some("host.example")
        );
        assert_eq!(uri_host("urn:isbn:1234"), None);
        assert!(yes(uri_host_in_subtree("host.example", "host.example")));
        assert!(
            !yes(uri_host_in_subtree("a.host.example", "host.example")),
            "host only"
        );
        assert!(yes(uri_host_in_subtree("a.host.example", ".host.example")));
        assert!(!yes(uri_host_in_subtree("host.example", ".host.example")));
    }

    #[test]
    fn wildcards_match_one_left_most_label() {
        assert!(dns_pattern_matches("*.example.com", "www.example.com"));
        assert!(!dns_pattern_matches("*.example.com", "a.b.example.com"));
        assert!(!dns_pattern_matches("*.example.com", "example.com"));
        assert!(
            !dns_pattern_matches("*.com", "example.com"),
            "not a public-suffix wildcard"
        );
        assert!(!dns_pattern_matches("w*.example.com", "www.example.com"));
        assert!(dns_pattern_matches("WWW.example.com", "www.EXAMPLE.com."));
    }
}
