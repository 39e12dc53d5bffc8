//! Names for trust decisions: distinguished names in a comparable form (RFC 5280 section 7.1)
//! and general names (subjectAltName entries, name-constraint bases).

use x509_cert::ext::pkix::name::GeneralName as X509GeneralName;
use x509_cert::name::{Name, RelativeDistinguishedName};

/// One attribute of an RDN: type OID and value, normalised for comparison.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Attribute {
    /// Dotted OID of the attribute type.
    pub oid: String,
    /// The value: strings case-folded with inner whitespace collapsed (RFC 5280 7.1 /
    /// RFC 4518 in its common simplification), others as hex of their DER.
    pub value: String,
}

/// A distinguished name as a sequence of RDNs (root-most first), each RDN's attributes sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DistinguishedName(pub Vec<Vec<Attribute>>);

impl DistinguishedName {
    /// The comparable form of an X.509 name.
    pub fn from_x509(name: &Name) -> Self {
        DistinguishedName(name.iter_rdn().map(rdn_attributes).collect())
    }

    /// This name with one more RDN (nameRelativeToCRLIssuer, RFC 5280 4.2.1.13).
    pub fn with_rdn(&self, rdn: &RelativeDistinguishedName) -> Self {
        let mut out = self.clone();
        out.0.push(rdn_attributes(rdn));
        out
    }

    /// No RDNs.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when `prefix`'s RDNs are the first RDNs of `self` (directoryName subtrees).
    pub fn starts_with(&self, prefix: &DistinguishedName) -> bool {
        self.0.len() >= prefix.0.len() && self.0.iter().zip(&prefix.0).all(|(a, b)| a == b)
    }

    /// Values of one attribute type, in order.
    pub fn values_of<'a>(&'a self, oid: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .flatten()
            .filter(move |a| a.oid == oid)
            .map(|a| a.value.as_str())
    }
}

/// An RDN's attributes, normalised and sorted.
fn rdn_attributes(rdn: &RelativeDistinguishedName) -> Vec<Attribute> {
    let mut attrs: Vec<Attribute> = rdn
        .iter()
        .map(|atv| Attribute {
            oid: atv.oid.to_string(),
            value: match crate::cert::any_string(&atv.value) {
                Some(s) => normalise(&s),
                None => format!(
                    "#{}",
                    hex::encode(der::Encode::to_der(&atv.value).unwrap_or_default())
                ),
            },
        })
        .collect();
    attrs.sort();
    attrs
}

/// Case fold, trim and collapse whitespace.
fn normalise(s: &str) -> String {
    s.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// A general name, reduced to what path validation compares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GeneralName {
    /// rfc822Name: a mailbox, a host or a `.domain`.
    Email(String),
    /// dNSName.
    Dns(String),
    /// iPAddress: 4 or 16 bytes in a SAN; 8 or 32 (address + mask) in a constraint.
    Ip(Vec<u8>),
    /// directoryName.
    Directory(DistinguishedName),
    /// uniformResourceIdentifier.
    Uri(String),
    /// otherName, by type OID.
    Other(String),
    /// x400Address, ediPartyName or registeredID.
    Unsupported(&'static str),
}

impl GeneralName {
    /// Converts from the x509-cert form.
    pub fn from_x509(gn: &X509GeneralName) -> Self {
        match gn {
            X509GeneralName::Rfc822Name(s) => GeneralName::Email(s.as_str().to_owned()),
            X509GeneralName::DnsName(s) => GeneralName::Dns(s.as_str().to_owned()),
            X509GeneralName::IpAddress(o) => GeneralName::Ip(o.as_bytes().to_vec()),
            X509GeneralName::DirectoryName(n) => {
                GeneralName::Directory(DistinguishedName::from_x509(n))
            }
            X509GeneralName::UniformResourceIdentifier(s) => {
                GeneralName::Uri(s.as_str().to_owned())
            }
            X509GeneralName::OtherName(o) => GeneralName::Other(o.type_id.to_string()),
            X509GeneralName::EdiPartyName(_) => GeneralName::Unsupported("ediPartyName"),
            X509GeneralName::RegisteredId(_) => GeneralName::Unsupported("registeredID"),
        }
    }

    /// The name form, for messages and for matching constraint types.
    pub fn kind(&self) -> &'static str {
        match self {
            GeneralName::Email(_) => "rfc822Name",
            GeneralName::Dns(_) => "dNSName",
            GeneralName::Ip(_) => "iPAddress",
            GeneralName::Directory(_) => "directoryName",
            GeneralName::Uri(_) => "uniformResourceIdentifier",
            GeneralName::Other(_) => "otherName",
            GeneralName::Unsupported(k) => k,
        }
    }
}

impl std::fmt::Display for GeneralName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GeneralName::Email(s) | GeneralName::Dns(s) | GeneralName::Uri(s) => {
                write!(f, "{}:{s}", self.kind())
            }
            GeneralName::Ip(b) => match b.len() {
                4 => write!(f, "IP:{}", std::net::Ipv4Addr::new(b[0], b[1], b[2], b[3])),
                16 => {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(b);
                    write!(f, "IP:{}", std::net::Ipv6Addr::from(a))
                }
                _ => write!(f, "IP:{}", hex::encode(b)),
            },
            GeneralName::Directory(d) => write!(f, "DirName:{} RDNs", d.0.len()),
            GeneralName::Other(oid) => write!(f, "otherName:{oid}"),
            GeneralName::Unsupported(k) => f.write_str(k),
        }
    }
}
