//! Downloads over HTTP and HTTPS for the jobs: bounded in time, size and redirects, with
//! conditional GET (ETag, Last-Modified). HTTP/1.1 through hyper's client connection;
//! HTTPS through rustls with the system's roots (`SSL_CERT_FILE` / `SSL_CERT_DIR` are
//! honoured, which is how a private PKI's web server is trusted).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use certmail_app::fetch_guard::AllowList;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::header::{
    ETAG, HOST, IF_MODIFIED_SINCE, IF_NONE_MATCH, LAST_MODIFIED, LOCATION, USER_AGENT,
};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// Bounds of one download.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Whole download, redirects included.
    pub timeout: Duration,
    /// Largest body accepted.
    pub max_bytes: u64,
    /// Redirects followed.
    pub max_redirects: u8,
    /// Internal addresses that may be reached (the global `fetch-allow`): every other
    /// internal address is refused, before connecting and after each redirect.
    pub allow: AllowList,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(30),
            max_bytes: 100 * 1024 * 1024,
            max_redirects: 3,
            allow: AllowList::default(),
        }
    }
}

/// What the server said.
#[derive(Debug)]
pub enum Fetched {
    /// 304: what we have is current.
    NotModified,
    /// A body, with the validators to send next time.
    Body {
        /// The bytes.
        bytes: Vec<u8>,
        /// ETag header.
        etag: Option<String>,
        /// Last-Modified header.
        last_modified: Option<String>,
    },
}

/// Why a download failed; the text is what `crl sources` shows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct FetchError(pub String);

fn fail(s: impl Into<String>) -> FetchError {
    FetchError(s.into())
}

/// GETs `url` (http or https), following at most `limits.max_redirects` redirects, with
/// `If-None-Match` / `If-Modified-Since` when validators are given.
pub async fn get(
    url: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    match tokio::time::timeout(limits.timeout, get_inner(url, etag, last_modified, limits)).await {
        Ok(r) => r,
        Err(_) => Err(fail(format!(
            "timed out after {} s",
            limits.timeout.as_secs_f64()
        ))),
    }
}

async fn get_inner(
    url: &str,
    etag: Option<&str>,
    last_modified: Option<&str>,
    limits: &Limits,
) -> Result<Fetched, FetchError> {
    let mut current = url.to_owned();
    for hop in 0..=limits.max_redirects {
        let target = Target::parse(&current)?;
        let resp = request(&target, etag, last_modified, limits).await?;
        match resp {
            Response::Redirect(location) => {
                if hop == limits.max_redirects {
                    return Err(fail(format!(
                        "more than {} redirects",
                        limits.max_redirects
                    )));
                }
                current = target.join(&location)?;
            }
            Response::Done(f) => return Ok(f),
        }
    }
    Err(fail("redirect loop"))
}

/// A parsed http(s) URL (WHATWG parsing by the `url` crate: `..` resolved, a
/// scheme-relative redirect `//host/x` taken as a host, not a path).
#[derive(Debug)]
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// Path and query, for the request line.
    path: String,
    url: url::Url,
}

impl Target {
    fn parse(text: &str) -> Result<Target, FetchError> {
        // WHATWG parsing would read `http:///x` as the host `x`: an empty authority is no URL.
        if text
            .split_once("://")
            .is_some_and(|(_, rest)| rest.starts_with('/'))
        {
            return Err(fail(format!("no host in {text}")));
        }
        let url = url::Url::parse(text).map_err(|e| fail(format!("not a URL: {text}: {e}")))?;
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            other => return Err(fail(format!("unsupported scheme {other}"))),
        };
        let host = match url.host() {
            Some(url::Host::Domain(d)) if !d.is_empty() => d.to_owned(),
            Some(url::Host::Ipv4(a)) => a.to_string(),
            Some(url::Host::Ipv6(a)) => a.to_string(),
            _ => return Err(fail(format!("no host in {text}"))),
        };
        let port = url
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let path = url[url::Position::BeforePath..url::Position::AfterQuery].to_owned();
        Ok(Target {
            tls,
            host,
            port,
            path: if path.is_empty() { "/".into() } else { path },
            url,
        })
    }

    /// Resolves a Location header against this URL (RFC 3986 5.2).
    fn join(&self, location: &str) -> Result<String, FetchError> {
        self.url
            .join(location)
            .map(String::from)
            .map_err(|e| fail(format!("bad redirect target {location:?}: {e}")))
    }
}

enum Response {
    Redirect(String),
    Done(Fetched),
}

async fn request(
    t: &Target,
    etag: Option<&str>,
    last_modified: Option<&str>,
    limits: &Limits,
) -> Result<Response, FetchError> {
    let tcp = connect_checked(&t.host, t.port, &limits.allow).await?;
    let host_header = if (t.tls && t.port == 443) || (!t.tls && t.port == 80) {
        t.host.clone()
    } else {
        format!("{}:{}", t.host, t.port)
    };
    let mut req = Request::get(t.path.as_str())
        .header(HOST, host_header)
        .header(USER_AGENT, concat!("certmail/", env!("CARGO_PKG_VERSION")));
    if let Some(e) = etag {
        req = req.header(IF_NONE_MATCH, e);
    }
    if let Some(m) = last_modified {
        req = req.header(IF_MODIFIED_SINCE, m);
    }
    let req = req
        .body(Empty::<Bytes>::new())
        .map_err(|e| fail(format!("bad request: {e}")))?;
    let resp = exchange(t, tcp, req).await?;
    let status = resp.status();
    let header = |name| {
        resp.headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_owned)
    };
    if status.is_redirection() && status != StatusCode::NOT_MODIFIED {
        return match header(LOCATION) {
            Some(l) => Ok(Response::Redirect(l)),
            None => Err(fail(format!("HTTP {status} without Location"))),
        };
    }
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Response::Done(Fetched::NotModified));
    }
    if !status.is_success() {
        return Err(fail(format!("HTTP {status}")));
    }
    let (etag, last_modified) = (header(ETAG), header(LAST_MODIFIED));
    if let Some(len) = resp
        .headers()
        .get(hyper::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
        && len > limits.max_bytes
    {
        return Err(fail(format!(
            "the response is {len} bytes, over the limit of {}",
            limits.max_bytes
        )));
    }
    let mut body = resp.into_body();
    let mut bytes: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| fail(format!("reading the body: {e}")))?;
        if let Some(data) = frame.data_ref() {
            if (bytes.len() + data.len()) as u64 > limits.max_bytes {
                return Err(fail(format!(
                    "the response is over the limit of {} bytes",
                    limits.max_bytes
                )));
            }
            bytes.extend_from_slice(data);
        }
    }
    Ok(Response::Done(Fetched::Body {
        bytes,
        etag,
        last_modified,
    }))
}

/// Sends `req` over `tcp` (in TLS for https, the host's name checked) and returns the
/// response.
async fn exchange<B>(
    t: &Target,
    tcp: TcpStream,
    req: Request<B>,
) -> Result<hyper::Response<hyper::body::Incoming>, FetchError>
where
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    if t.tls {
        let stream = tls_connector()?
            .connect(rustls_pki_types_name(&t.host)?, tcp)
            .await
            .map_err(|e| fail(format!("TLS with {}: {e}", t.host)))?;
        send(TokioIo::new(stream), req).await
    } else {
        send(TokioIo::new(tcp), req).await
    }
}

async fn send<T, B>(
    io: TokioIo<T>,
    req: Request<B>,
) -> Result<hyper::Response<hyper::body::Incoming>, FetchError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| fail(format!("HTTP: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| fail(format!("HTTP: {e}")))
}

/// POSTs a JSON `body` to `url` (http or https, no redirects) within `timeout`; the
/// status when it is 2xx, otherwise why not. For webhooks (the SMS gateway): the body
/// may hold a secret, so no error carries it.
pub async fn post_json(
    url: &str,
    body: &[u8],
    timeout: Duration,
    allow: &AllowList,
) -> Result<u16, FetchError> {
    let t = Target::parse(url)?;
    let body = Bytes::copy_from_slice(body);
    let work = async {
        let tcp = connect_checked(&t.host, t.port, allow).await?;
        let req = Request::post(t.path.as_str())
            .header(HOST, format!("{}:{}", t.host, t.port))
            .header(USER_AGENT, concat!("certmail/", env!("CARGO_PKG_VERSION")))
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(http_body_util::Full::new(body))
            .map_err(|e| fail(format!("bad request: {e}")))?;
        let status = exchange(&t, tcp, req).await?.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            Err(fail(format!("HTTP {status}")))
        }
    };
    match tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(fail(format!("timed out after {} s", timeout.as_secs_f64()))),
    }
}

/// The host (IPv6 without brackets) and port of a URL's authority (`host`, `host:port`,
/// `[v6]:port`), `default` when no port is given; `url` names the URL in errors.
pub(crate) fn host_port(
    authority: &str,
    default: u16,
    url: &str,
) -> Result<(String, u16), FetchError> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| fail(format!("bad host in {url}")))?;
        (h.to_owned(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| fail(format!("bad port in {url}")))?,
        None => default,
    };
    if host.is_empty() {
        return Err(fail(format!("no host in {url}")));
    }
    Ok((host, port))
}

/// Resolves `host` once and connects to the first of its addresses that `allow` permits
/// (ARCHITECTURE.md, trust boundaries): the address checked is the address connected to,
/// so a name that resolves differently a second time changes nothing.
pub async fn connect_checked(
    host: &str,
    port: u16,
    allow: &AllowList,
) -> Result<TcpStream, FetchError> {
    let addrs = checked_addrs(host, port, allow).await?;
    let mut last = None;
    for a in addrs {
        match TcpStream::connect(a).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(fail(format!(
        "cannot connect to {host}:{port}: {}",
        last.map_or_else(|| "no address".to_owned(), |e| e.to_string())
    )))
}

/// The addresses of `host` that `allow` permits; an error naming the first refused one
/// when none is.
pub async fn checked_addrs(
    host: &str,
    port: u16,
    allow: &AllowList,
) -> Result<Vec<SocketAddr>, FetchError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let resolved: Vec<SocketAddr> = tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| fail(format!("cannot resolve {host}: {e}")))?
        .collect();
    let mut refused = None;
    let mut ok = Vec::new();
    for a in resolved {
        match allow.permits(bare, a.ip()) {
            Ok(()) => ok.push(a),
            Err(why) => refused = refused.or(Some(why)),
        }
    }
    if ok.is_empty() {
        return Err(fail(
            refused.unwrap_or_else(|| format!("{host} has no address")),
        ));
    }
    Ok(ok)
}

fn rustls_pki_types_name(
    host: &str,
) -> Result<tokio_rustls::rustls::pki_types::ServerName<'static>, FetchError> {
    tokio_rustls::rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| fail(format!("{host} is not a valid TLS server name")))
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, FetchError> {
    Ok(tokio_rustls::TlsConnector::from(tls_config("HTTPS")?))
}

/// A TLS client configuration trusting the system's roots (with `SSL_CERT_FILE` /
/// `SSL_CERT_DIR`), over aws-lc-rs; `what` names the protocol in errors.
pub(crate) fn tls_config(
    what: &str,
) -> Result<Arc<tokio_rustls::rustls::ClientConfig>, FetchError> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(c);
    }
    if roots.is_empty() {
        return Err(fail(format!(
            "no trusted roots for {what} (system store empty)"
        )));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("TLS setup: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_and_redirect_targets() {
        let t = Target::parse("http://crl.example.com:8080/a/b.crl?x=1#frag").expect("url");
        assert_eq!(
            (t.tls, t.host.as_str(), t.port, t.path.as_str()),
            (false, "crl.example.com", 8080, "/a/b.crl?x=1")
        );
        let join = |l: &str| t.join(l).expect("join");
        assert_eq!(join("/c.crl"), "http://crl.example.com:8080/c.crl");
        assert_eq!(join("c.crl"), "http://crl.example.com:8080/a/c.crl");
        assert_eq!(join("https://x/y"), "https://x/y");
        // What the hand-written joiner got wrong: a scheme-relative target names a host, and
        // dot segments are resolved.
        assert_eq!(join("//other.example/d.crl"), "http://other.example/d.crl");
        assert_eq!(join("../up.crl"), "http://crl.example.com:8080/up.crl");
        assert_eq!(
            join("./same.crl?y=2"),
            "http://crl.example.com:8080/a/same.crl?y=2"
        );
        let t = Target::parse("https://[::1]/x").expect("v6");
        assert_eq!((t.host.as_str(), t.port), ("::1", 443));
        assert!(Target::parse("ftp://x/y").is_err());
        assert!(Target::parse("http:///path").is_err());
    }
}
