//! Where certmail may connect on its own (CRL downloads over HTTP, HTTPS and LDAP,
//! directories, the SMS webhook): never to an internal address (loopback, private,
//! link-local, unique-local, shared, multicast, unspecified, documentation or reserved
//! ranges, cloud metadata) unless the host or its network is listed in the global setting
//! `fetch-allow`. URLs come from certificates, and certificates come from strangers' mail:
//! without this rule a signed message could make the gateway reach its own network.
//!
//! The check is on addresses, not names: the caller resolves the name once, checks every
//! address with [`AllowList::permits`] and connects to a checked address (no second look-up
//! a DNS server could answer differently), and checks again after every redirect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// One `fetch-allow` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    /// A host name (lower case), matched against the URL's host.
    Host(String),
    /// A network.
    Net(IpAddr, u8),
}

/// The parsed `fetch-allow` setting, plus URLs an administrator allowed for one run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    entries: Vec<Entry>,
    /// Allow every address (an administrator's explicit `--allow-internal` for one URL).
    pub everything: bool,
}

impl AllowList {
    /// Parses `fetch-allow`: host names, IP addresses and CIDRs separated by commas or
    /// white space.
    pub fn parse(v: &str) -> Result<AllowList, String> {
        let mut entries = Vec::new();
        for item in v
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
        {
            if let Some((a, bits)) = item.split_once('/') {
                let ip: IpAddr = a
                    .parse()
                    .map_err(|_| format!("{item:?} is not a network (address/bits)"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits
                    .parse()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{item:?}: the prefix length must be 0 to {max}"))?;
                entries.push(Entry::Net(ip, bits));
            } else if let Ok(ip) = item.trim_matches(['[', ']']).parse::<IpAddr>() {
                entries.push(Entry::Net(ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else {
                let h = item.trim_end_matches('.').to_ascii_lowercase();
                if h.is_empty()
                    || !h
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
                {
                    return Err(format!("{item:?} is not a host name, address or network"));
                }
                entries.push(Entry::Host(h));
            }
        }
        Ok(AllowList {
            entries,
            everything: false,
        })
    }

    /// Whether connecting to `ip` for the URL host `host` is allowed: a public address
    /// always; an internal one only when the host or a network holding it is listed.
    pub fn permits(&self, host: &str, ip: IpAddr) -> Result<(), String> {
        if self.everything || !is_internal(ip) {
            return Ok(());
        }
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let listed = self.entries.iter().any(|e| match e {
            Entry::Host(h) => *h == host,
            Entry::Net(net, bits) => in_net(ip, *net, *bits),
        });
        if listed {
            Ok(())
        } else {
            Err(format!(
                "{host} is {ip}, an internal address: not reached unless listed in the global setting fetch-allow"
            ))
        }
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (canonical(ip), canonical(net)) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - bits.min(32))
            };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - bits.min(128))
            };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// An IPv4-mapped or IPv4-compatible IPv6 address as the IPv4 address it stands for.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

fn v4_internal(a: Ipv4Addr) -> bool {
    let o = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local() // 169.254/16, cloud metadata (169.254.169.254) among them
        || a.is_multicast()
        || a.is_broadcast()
        || a.is_unspecified()
        || a.is_documentation()
        || o[0] == 0 // "this network"
        || (o[0] == 100 && (o[1] & 0xc0) == 64) // shared address space 100.64/10
        || (o[0] == 192 && o[1] == 0 && o[2] == 0) // IETF protocol assignments
        || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
        || o[0] >= 240 // reserved
}

fn v6_internal(a: Ipv6Addr) -> bool {
    let s = a.segments();
    a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7 (AWS metadata fd00:ec2::254)
        || (s[0] & 0xffc0) == 0xfe80 // link-local
        || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64 (reaches IPv4 space)
        || (s[0] == 0x2002) // 6to4 (embeds an IPv4 address)
        || (s[0] == 0x2001 && s[1] == 0) // Teredo
        || a.to_ipv4().is_some_and(v4_internal) // IPv4-compatible ::a.b.c.d
}

/// Whether `ip` is an address certmail does not reach unless told to.
pub fn is_internal(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(a) => v4_internal(a),
        IpAddr::V6(a) => v6_internal(a),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn internal_ranges_are_refused_and_public_ones_pass() {
        for a in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "224.0.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00:ec2::254",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::7f00:1",
            "ff02::1",
        ] {
            assert!(is_internal(ip(a)), "{a} must be internal");
            assert!(AllowList::default().permits("h", ip(a)).is_err(), "{a}");
        }
        for a in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(!is_internal(ip(a)), "{a} must be public");
            assert!(AllowList::default().permits("h", ip(a)).is_ok(), "{a}");
        }
    }

    #[test]
    fn the_allow_list_names_hosts_and_networks() {
        let l =
            AllowList::parse("crl.corp.example, 10.0.0.0/8 192.168.5.7 fd00::/8").expect("parse");
        assert!(l.permits("CRL.corp.example.", ip("127.0.0.1")).is_ok());
        assert!(l.permits("x", ip("10.9.9.9")).is_ok());
        assert!(l.permits("x", ip("::ffff:10.9.9.9")).is_ok());
        assert!(l.permits("x", ip("192.168.5.7")).is_ok());
        assert!(l.permits("x", ip("192.168.5.8")).is_err());
        assert!(l.permits("x", ip("fd12::1")).is_ok());
        assert!(l.permits("x", ip("127.0.0.1")).is_err());
        assert!(AllowList::parse("10.0.0.0/33").is_err());
        assert!(AllowList::parse("a_b").is_err());
        assert_eq!(AllowList::parse("").expect("empty"), AllowList::default());
    }
}
