//! LDAP for the jobs, over `ldap3` (pure Rust; `ldaps://` through rustls with aws-lc-rs and
//! the system's roots, as HTTPS in `fetch.rs`):
//! - CRLs from `ldap://host[:port]/dn?attribute` distribution points: anonymous bind,
//!   base-object search of `dn`, the attribute's first value (DER). Host-less URLs
//!   (`ldap:///CN=...`, as Active Directory Certificate Services writes them) go to the
//!   default directory with its bind DN and password.
//! - Certificates of an address from a configured directory ([`LdapClient`], the
//!   [`DirectoryClient`] of `certmail-app`).
//!
//! Every operation (connect, bind, search) runs under one timeout. The size limit is checked
//! on the values received: `ldap3` reads a whole response message before handing it over,
//! so during a download memory is bounded by the timeout, not by the limit.

use std::time::Duration;

use certmail_app::directory::{DirectoryAccess, DirectoryClient, DirectoryFound, DirectoryFuture};
use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Scope, SearchEntry, SearchOptions};

use crate::fetch::{FetchError, Limits};

fn fail(s: impl Into<String>) -> FetchError {
    FetchError(s.into())
}

/// The attribute read when the URL names none.
pub const DEFAULT_CRL_ATTRIBUTE: &str = "certificateRevocationList;binary";

/// The attributes asked for in certificate look-ups.
pub const CERT_ATTRIBUTES: [&str; 2] = ["userCertificate;binary", "userSMIMECertificate"];

/// Most entries one certificate look-up accepts.
const MAX_ENTRIES: i32 = 50;

/// A parsed LDAP CRL distribution point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrlUrl {
    /// `ldap://host:port` / `ldaps://host:port`, or `None` for a host-less URL.
    pub server: Option<String>,
    /// The entry's DN (percent-decoded).
    pub dn: String,
    /// The attribute to read.
    pub attribute: String,
}

/// Parses `ldap[s]://[host[:port]]/dn[?attribute[?scope[?filter]]]` (RFC 4516). Scope and
/// filter are ignored: the entry named by the DN is read (a base-object search).
pub fn parse_crl_url(url: &str) -> Result<CrlUrl, FetchError> {
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| fail(format!("not an LDAP URL: {url}")))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "ldap" && scheme != "ldaps" {
        return Err(fail(format!("not an LDAP URL: {url}")));
    }
    let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (dn, query) = path.split_once('?').unwrap_or((path, ""));
    let dn = percent_decode(dn).ok_or_else(|| fail(format!("bad %-escape in {url}")))?;
    if dn.is_empty() {
        return Err(fail(format!("{url} names no entry (DN)")));
    }
    let attr = query.split('?').next().unwrap_or("");
    let attr = percent_decode(attr).ok_or_else(|| fail(format!("bad %-escape in {url}")))?;
    let attribute = match attr.split(',').next().map(str::trim) {
        None | Some("") => DEFAULT_CRL_ATTRIBUTE.to_owned(),
        Some(a) => a.to_owned(),
    };
    if !attribute
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == ';' || c == '-' || c == '.')
    {
        return Err(fail(format!("bad attribute {attribute:?} in {url}")));
    }
    let server = if hostport.is_empty() {
        None
    } else {
        let default_port = if scheme == "ldaps" { 636 } else { 389 };
        let has_port = match hostport.rsplit_once(':') {
            Some((h, p)) => !h.is_empty() && !p.contains(']') && p.parse::<u16>().is_ok(),
            None => false,
        };
        Some(if has_port {
            format!("{scheme}://{hostport}")
        } else {
            format!("{scheme}://{hostport}:{default_port}")
        })
    };
    Ok(CrlUrl {
        server,
        dn,
        attribute,
    })
}

fn percent_decode(s: &str) -> Option<String> {
    // A `%` not followed by two hex digits is malformed here (the crate would keep it).
    let b = s.as_bytes();
    let malformed = b.iter().enumerate().any(|(i, c)| {
        *c == b'%'
            && !b
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if malformed {
        return None;
    }
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .ok()
        .map(|c| c.into_owned())
}

/// Downloads a CRL from an LDAP distribution point. A host-less URL uses `default` (the
/// default directory, with its bind DN and password); a URL naming a host binds
/// anonymously. `Ok(None)` means the URL is host-less and no default directory is set.
pub async fn fetch_crl(
    url: &str,
    default: Option<&DirectoryAccess>,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, FetchError> {
    let parsed = parse_crl_url(url)?;
    let (server, bind) = match (&parsed.server, default) {
        (Some(s), _) => (s.clone(), None),
        (None, Some(d)) => (d.url.clone(), Some(d)),
        (None, None) => return Ok(None),
    };
    let work = async {
        let mut ldap = connect(&server, bind, limits.timeout, &limits.allow).await?;
        let res = read_attribute(&mut ldap, &parsed, limits).await;
        let _ = ldap.unbind().await;
        res
    };
    match tokio::time::timeout(limits.timeout, work).await {
        Ok(r) => r.map(Some),
        Err(_) => Err(fail(format!(
            "{server}: timed out after {} s",
            limits.timeout.as_secs_f64()
        ))),
    }
}

async fn read_attribute(
    ldap: &mut Ldap,
    u: &CrlUrl,
    limits: &Limits,
) -> Result<Vec<u8>, FetchError> {
    let (entries, _) = ldap
        .search(
            &u.dn,
            Scope::Base,
            "(objectClass=*)",
            vec![u.attribute.as_str()],
        )
        .await
        .and_then(|r| r.success())
        .map_err(|e| fail(format!("search of {:?}: {}", u.dn, ldap_error(&e))))?;
    let entry = entries
        .into_iter()
        .next()
        .map(entry)
        .ok_or_else(|| fail(format!("no entry {:?}", u.dn)))??;
    let want = base_name(&u.attribute);
    let value = values(&entry, want)
        .into_iter()
        .next()
        .ok_or_else(|| fail(format!("entry {:?} has no {} value", u.dn, u.attribute)))?;
    if value.len() as u64 > limits.max_bytes {
        return Err(fail(format!(
            "value of {} bytes is larger than the {}-byte limit",
            value.len(),
            limits.max_bytes
        )));
    }
    Ok(value)
}

/// An entry of a search result. `ldap3` `expect`s a well-formed SearchResultEntry; a server
/// sending well-formed BER of another shape must not take the caller (a gateway session)
/// down with it, so a panic there becomes an error.
fn entry(e: ldap3::ResultEntry) -> Result<SearchEntry, FetchError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| SearchEntry::construct(e)))
        .map_err(|_| fail("malformed search result entry"))
}

/// The attribute type without options (`userCertificate;binary` -> `userCertificate`).
fn base_name(attr: &str) -> &str {
    attr.split(';').next().unwrap_or(attr)
}

/// Every value of the attribute `want` (any options, any case) in an entry.
fn values(entry: &SearchEntry, want: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for (name, vals) in &entry.bin_attrs {
        if base_name(name).eq_ignore_ascii_case(want) {
            out.extend(vals.iter().cloned());
        }
    }
    for (name, vals) in &entry.attrs {
        if base_name(name).eq_ignore_ascii_case(want) {
            out.extend(vals.iter().map(|v| v.as_bytes().to_vec()));
        }
    }
    out
}

/// Connects and binds: with `bind`'s DN and password when it has them, else anonymously.
async fn connect(
    server: &str,
    bind: Option<&DirectoryAccess>,
    timeout: Duration,
    allow: &certmail_app::fetch_guard::AllowList,
) -> Result<Ldap, FetchError> {
    let mut settings = LdapConnSettings::new().set_conn_timeout(timeout);
    let tls = server.to_ascii_lowercase().starts_with("ldaps://");
    if tls {
        settings = settings.set_config(crate::fetch::tls_config("LDAPS")?);
    }
    // The host is resolved once and checked against fetch-allow; plain LDAP then connects
    // to the checked address itself. LDAPS connects by name (its certificate is checked
    // against the name), after the same check.
    let (host, port) = ldap_host_port(server, tls)?;
    let addrs = crate::fetch::checked_addrs(&host, port, allow).await?;
    let target = match (tls, addrs.first()) {
        (false, Some(a)) => format!("ldap://{a}"),
        _ => server.to_owned(),
    };
    let (conn, mut ldap) = LdapConnAsync::with_settings(settings, &target)
        .await
        .map_err(|e| fail(format!("{server}: cannot connect: {}", ldap_error(&e))))?;
    ldap3::drive!(conn);
    ldap.with_timeout(timeout);
    let (dn, pw) = match bind {
        Some(DirectoryAccess {
            bind_dn: Some(dn),
            bind_password,
            ..
        }) => (
            dn.as_str(),
            bind_password.as_ref().map_or("", |p| p.as_str()),
        ),
        _ => ("", ""),
    };
    if !dn.is_empty() {
        ldap.simple_bind(dn, pw)
            .await
            .and_then(|r| r.success())
            .map_err(|e| {
                fail(format!(
                    "{server}: bind as {dn:?} refused: {}",
                    ldap_error(&e)
                ))
            })?;
    }
    Ok(ldap)
}

/// The host and port of an `ldap://` or `ldaps://` server URL.
fn ldap_host_port(server: &str, tls: bool) -> Result<(String, u16), FetchError> {
    let authority = server
        .split_once("://")
        .map_or(server, |(_, r)| r)
        .split(['/', '?'])
        .next()
        .unwrap_or("");
    crate::fetch::host_port(authority, if tls { 636 } else { 389 }, server)
}

/// A readable text for an `ldap3` error (never containing the bind password, which
/// `ldap3` does not echo).
fn ldap_error(e: &ldap3::LdapError) -> String {
    match e {
        ldap3::LdapError::LdapResult { result } => {
            let name = match result.rc {
                32 => "no such object",
                34 => "invalid DN syntax",
                48 => "inappropriate authentication",
                49 => "invalid credentials",
                50 => "insufficient access rights",
                52 => "unavailable",
                53 => "unwilling to perform",
                _ => "",
            };
            let mut s = if name.is_empty() {
                format!("LDAP result {}", result.rc)
            } else {
                format!("{name} (LDAP result {})", result.rc)
            };
            if !result.text.is_empty() {
                s.push_str(&format!(": {}", result.text));
            }
            s
        }
        other => other.to_string(),
    }
}

/// Searches a directory for certificates: `filter` under its base (or, without one, under
/// the first naming context of its root DSE), subtree, at most 50 entries, values of
/// [`CERT_ATTRIBUTES`] no larger than `max_bytes` each; all within `dir.timeout`.
pub async fn find_certificates(
    dir: &DirectoryAccess,
    filter: &str,
    max_bytes: u64,
) -> Result<DirectoryFound, String> {
    let work = async {
        let mut ldap = connect(&dir.url, Some(dir), dir.timeout, &dir.allow).await?;
        let res = search_certificates(&mut ldap, dir, filter, max_bytes).await;
        let _ = ldap.unbind().await;
        res
    };
    match tokio::time::timeout(dir.timeout, work).await {
        Ok(r) => r.map_err(|e| e.0),
        Err(_) => Err(format!(
            "{}: no answer within {} ms",
            dir.url,
            dir.timeout.as_millis()
        )),
    }
}

async fn search_certificates(
    ldap: &mut Ldap,
    dir: &DirectoryAccess,
    filter: &str,
    max_bytes: u64,
) -> Result<DirectoryFound, FetchError> {
    let base = if dir.base.is_empty() {
        naming_context(ldap).await?
    } else {
        dir.base.clone()
    };
    let (entries, _) = ldap
        .with_search_options(SearchOptions::new().sizelimit(MAX_ENTRIES))
        .search(&base, Scope::Subtree, filter, CERT_ATTRIBUTES.to_vec())
        .await
        .and_then(|r| {
            // A size limit reached still returns the entries up to it.
            if r.1.rc == 4 {
                Ok((r.0, r.1))
            } else {
                r.success()
            }
        })
        .map_err(|e| fail(format!("search under {base:?}: {}", ldap_error(&e))))?;
    let mut found = DirectoryFound {
        base,
        entries: entries.len(),
        values: Vec::new(),
    };
    for e in entries.into_iter().map(entry) {
        let e = e?;
        for attr in CERT_ATTRIBUTES {
            for v in values(&e, base_name(attr)) {
                if v.len() as u64 <= max_bytes && !found.values.contains(&v) {
                    found.values.push(v);
                }
            }
        }
    }
    Ok(found)
}

async fn naming_context(ldap: &mut Ldap) -> Result<String, FetchError> {
    let (entries, _) = ldap
        .search("", Scope::Base, "(objectClass=*)", vec!["namingContexts"])
        .await
        .and_then(|r| r.success())
        .map_err(|e| fail(format!("root DSE: {}", ldap_error(&e))))?;
    entries
        .into_iter()
        .map(entry)
        .collect::<Result<Vec<_>, _>>()?
        .iter()
        .flat_map(|e| values(e, "namingContexts"))
        .find_map(|v| String::from_utf8(v).ok().filter(|s| !s.is_empty()))
        .ok_or_else(|| fail("no --base, and the root DSE names no naming context"))
}

/// The LDAP client `certmail-app` uses for directory look-ups.
#[derive(Debug, Clone)]
pub struct LdapClient {
    /// Largest certificate value accepted.
    pub max_bytes: u64,
}

impl Default for LdapClient {
    fn default() -> Self {
        LdapClient {
            max_bytes: 1024 * 1024,
        }
    }
}

impl DirectoryClient for LdapClient {
    fn find_certificates<'a>(
        &'a self,
        dir: &'a DirectoryAccess,
        filter: &'a str,
    ) -> DirectoryFuture<'a, DirectoryFound> {
        Box::pin(find_certificates(dir, filter, self.max_bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crl_urls() {
        let u = parse_crl_url(
            "ldap://ldap.example.com/cn=CA%201,o=Example?certificateRevocationList;binary",
        )
        .expect("parses");
        assert_eq!(u.server.as_deref(), Some("ldap://ldap.example.com:389"));
        assert_eq!(u.dn, "cn=CA 1,o=Example");
        assert_eq!(u.attribute, "certificateRevocationList;binary");

        let u = parse_crl_url("ldap://127.0.0.1:3890/cn=x?authorityRevocationList;binary?base")
            .expect("parses");
        assert_eq!(u.server.as_deref(), Some("ldap://127.0.0.1:3890"));
        assert_eq!(u.attribute, "authorityRevocationList;binary");

        let u = parse_crl_url(
            "ldap:///CN=Issuing%20CA,CN=srv,CN=CDP,CN=Public%20Key%20Services,CN=Services,CN=Configuration,DC=corp,DC=example?certificateRevocationList?base?objectClass=cRLDistributionPoint",
        )
        .expect("parses");
        assert_eq!(u.server, None);
        assert!(u.dn.starts_with("CN=Issuing CA,CN=srv"));
        assert_eq!(u.attribute, "certificateRevocationList");

        let u = parse_crl_url("LDAPS://h/cn=x").expect("parses");
        assert_eq!(u.server.as_deref(), Some("ldaps://h:636"));
        assert_eq!(u.attribute, DEFAULT_CRL_ATTRIBUTE);

        assert!(parse_crl_url("ldap://h/").is_err());
        assert!(parse_crl_url("http://h/x").is_err());
        assert!(parse_crl_url("ldap://h/cn=%zz").is_err());
    }
}
