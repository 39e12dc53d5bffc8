//! `certmail serve` options: defaults, the TOML file (`--config FILE`) and checks.
//! Flags win over the file; the CLI applies them on top of [`GatewayConfig::load`].

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("{path}: {reason}")]
    Read {
        /// The file.
        path: String,
        /// The OS message.
        reason: String,
    },
    /// The file is not valid TOML or has unknown keys.
    #[error("{path}: {reason}")]
    Toml {
        /// The file.
        path: String,
        /// What is wrong, with the line.
        reason: String,
    },
    /// A value is out of range or malformed.
    #[error("{0}")]
    Value(String),
}

/// An address block (`127.0.0.0/8`, `::1/128`, or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ADDR[/PREFIX]`.
    pub fn parse(s: &str) -> Result<Cidr, ConfigError> {
        let bad = || ConfigError::Value(format!("{s:?} is not an address block (e.g. 10.0.0.0/8)"));
        let (a, p) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = a.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match p {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Parses a size: bytes, or with a `K`, `M`, `G` suffix (binary: `50M` = 50 MiB).
pub fn parse_size(s: &str) -> Result<u64, ConfigError> {
    let bad = || {
        ConfigError::Value(format!(
            "{s:?} is not a size (bytes, or with K, M or G: 50M)"
        ))
    };
    let mut t = s.trim();
    t = t.strip_suffix(['B', 'b']).unwrap_or(t);
    t = t.strip_suffix(['i', 'I']).unwrap_or(t);
    let (num, mul) = match t.chars().last().map(|c| c.to_ascii_uppercase()) {
        Some('K') => (&t[..t.len() - 1], 1u64 << 10),
        Some('M') => (&t[..t.len() - 1], 1 << 20),
        Some('G') => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: u64 = num.trim().parse().map_err(|_| bad())?;
    n.checked_mul(mul)
        .ok_or_else(|| ConfigError::Value(format!("size {s:?} is too large")))
}

/// Everything `certmail serve` is told. Keys in the TOML file are the flag names
/// (`smtp-listen = "127.0.0.1:10025"`); durations are seconds.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct GatewayConfig {
    /// SMTP listener.
    pub smtp_listen: SocketAddr,
    /// Where processed mail goes (Postfix's reinjection smtpd).
    pub next_hop: String,
    /// HTTP listener (`/healthz`, `/metrics`).
    pub http_listen: SocketAddr,
    /// Largest message accepted (announced with SIZE), bytes or `50M`.
    #[serde(deserialize_with = "de_size")]
    pub max_message_size: u64,
    /// Most concurrent SMTP sessions; more get `421`.
    pub max_sessions: usize,
    /// Most recipients per message; more get `452`.
    pub max_recipients: usize,
    /// Largest header section, bytes.
    #[serde(deserialize_with = "de_size")]
    pub max_header_size: u64,
    /// Clients allowed to connect (address blocks); others get `554` at once.
    pub allow_from: Vec<String>,
    /// STARTTLS certificate chain (PEM).
    pub tls_cert: Option<PathBuf>,
    /// STARTTLS private key (PEM).
    pub tls_key: Option<PathBuf>,
    /// STARTTLS certificate and key from the stores, by thumbprint.
    pub tls_cert_from_store: Option<String>,
    /// Name in the greeting, EHLO and notifications (default: the host name).
    pub hostname: Option<String>,
    /// Seconds to wait for a client command (RFC 5321 4.5.3.2.7: 5 minutes).
    pub command_timeout: u64,
    /// Seconds to wait for each block of message data (RFC 5321 4.5.3.2.6: 3 minutes).
    pub data_timeout: u64,
    /// Slowest message data accepted after the first `data-timeout`, bytes a second
    /// (Postfix's `smtpd_min_data_rate`; 0: no minimum).
    pub min_data_rate: u64,
    /// Seconds to wait for a command while 80% of `max-sessions` are open (Postfix's
    /// stress mode: idle connections of a flood are closed quickly).
    pub stress_timeout: u64,
    /// Seconds to wait for each next-hop reply (RFC 5321 4.5.3.2: 5 minutes).
    pub next_hop_timeout: u64,
    /// Seconds to wait for the next hop's reply to the end of data (10 minutes).
    pub next_hop_data_timeout: u64,
    /// Seconds open transactions get to finish after SIGTERM.
    pub shutdown_grace: u64,
    /// Allow the web admin on a non-loopback address without TLS.
    pub insecure_http: bool,
    /// TLS certificate chain of the web admin (PEM).
    pub http_tls_cert: Option<PathBuf>,
    /// TLS private key of the web admin (PEM).
    pub http_tls_key: Option<PathBuf>,
    /// TLS certificate and key of the web admin from the stores, by thumbprint.
    pub http_tls_cert_from_store: Option<String>,
    /// Leave the background jobs (CRL download) to other nodes.
    pub no_jobs: bool,
    /// Seconds between downloads of a CRL distribution point (6 hours).
    pub crl_interval: u64,
    /// Seconds a CRL download may take, redirects included.
    pub crl_timeout: u64,
    /// Largest CRL downloaded (bytes; K/M/G in the file).
    #[serde(deserialize_with = "de_size")]
    pub crl_max_size: u64,
    /// The administrator's address for expiry warnings (none: no warnings are sent).
    pub notify_address: Option<String>,
    /// Sender address of certmail's own mail (default: certmail@host name).
    pub notify_from: Option<String>,
    /// Seconds a request's header section may take to arrive on the admin port.
    pub http_header_timeout: u64,
    /// Seconds an admin-port connection may stay without traffic (keep-alive included).
    pub http_idle_timeout: u64,
    /// Most admin-port connections open at once (more wait in the kernel's backlog).
    pub http_max_connections: usize,
    /// Memory for message data in flight, all sessions together (bytes; K/M/G in the file).
    #[serde(deserialize_with = "de_size")]
    pub max_memory: u64,
    /// The per-message log line: `text` (`key=value`) or `json` (one object per line).
    pub log_format: LogFormat,
}

/// The format of the per-message log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// `id=... from=<...> ... reply=250 to=<...> dir=... action=...`.
    #[default]
    Text,
    /// One JSON object per message.
    Json,
}

fn de_size<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Size {
        N(u64),
        S(String),
    }
    match Size::deserialize(d)? {
        Size::N(n) => Ok(n),
        Size::S(s) => parse_size(&s).map_err(serde::de::Error::custom),
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            smtp_listen: SocketAddr::from(([127, 0, 0, 1], 10025)),
            next_hop: "127.0.0.1:10026".into(),
            http_listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_message_size: 50 << 20,
            max_sessions: 200,
            max_recipients: 1000,
            max_header_size: 1 << 20,
            allow_from: vec!["127.0.0.0/8".into(), "::1/128".into()],
            tls_cert: None,
            tls_key: None,
            tls_cert_from_store: None,
            hostname: None,
            command_timeout: 300,
            data_timeout: 180,
            min_data_rate: 500,
            stress_timeout: 10,
            next_hop_timeout: 300,
            next_hop_data_timeout: 600,
            shutdown_grace: 60,
            insecure_http: false,
            http_tls_cert: None,
            http_tls_key: None,
            http_tls_cert_from_store: None,
            no_jobs: false,
            crl_interval: 6 * 3600,
            crl_timeout: 30,
            crl_max_size: 100 << 20,
            notify_address: None,
            notify_from: None,
            http_header_timeout: 30,
            http_idle_timeout: 60,
            http_max_connections: 256,
            max_memory: 1 << 30,
            log_format: LogFormat::Text,
        }
    }
}

impl GatewayConfig {
    /// The defaults, overlaid with `file` when given.
    pub fn load(file: Option<&Path>) -> Result<GatewayConfig, ConfigError> {
        let Some(path) = file else {
            return Ok(GatewayConfig::default());
        };
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Toml {
            path: path.display().to_string(),
            reason: e.to_string().trim().replace('\n', " "),
        })
    }

    /// Whether the web admin is served over TLS.
    pub fn http_tls(&self) -> bool {
        self.http_tls_cert.is_some() || self.http_tls_cert_from_store.is_some()
    }

    /// Checks values that cannot work together; returns the parsed client blocks.
    pub fn check(&self) -> Result<Vec<Cidr>, ConfigError> {
        if self.http_tls_cert.is_some() != self.http_tls_key.is_some() {
            return Err(ConfigError::Value(
                "http-tls-cert and http-tls-key go together".into(),
            ));
        }
        if self.http_tls_cert.is_some() && self.http_tls_cert_from_store.is_some() {
            return Err(ConfigError::Value(
                "give http-tls-cert/http-tls-key or http-tls-cert-from-store, not both".into(),
            ));
        }
        if !self.http_listen.ip().is_loopback() && !self.insecure_http && !self.http_tls() {
            return Err(ConfigError::Value(format!(
                "http-listen {} is not a loopback address: the web admin would send passwords in clear; give --http-tls-cert/--http-tls-key (or --http-tls-cert-from-store), or put a TLS proxy in front and pass --insecure-http, or listen on 127.0.0.1",
                self.http_listen
            )));
        }
        if self.crl_interval == 0 || self.crl_timeout == 0 || self.crl_max_size == 0 {
            return Err(ConfigError::Value(
                "crl-interval, crl-timeout and crl-max-size must be above 0".into(),
            ));
        }
        let needed = self
            .max_message_size
            .saturating_mul(1 + crate::budget::PROCESSING_FACTOR as u64);
        if self.max_memory < needed {
            return Err(ConfigError::Value(format!(
                "max-memory ({} bytes) must hold one message of max-message-size while it is processed: at least {needed} bytes",
                self.max_memory
            )));
        }
        if self.max_sessions == 0 || self.max_recipients == 0 || self.max_message_size == 0 {
            return Err(ConfigError::Value(
                "max-sessions, max-recipients and max-message-size must be above 0".into(),
            ));
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(ConfigError::Value(
                "--tls-cert and --tls-key go together".into(),
            ));
        }
        if self.tls_cert.is_some() && self.tls_cert_from_store.is_some() {
            return Err(ConfigError::Value(
                "give either --tls-cert/--tls-key or --tls-cert-from-store, not both".into(),
            ));
        }
        if !self.next_hop.contains(':') {
            return Err(ConfigError::Value(format!(
                "--next-hop {:?} must be HOST:PORT",
                self.next_hop
            )));
        }
        self.allow_from.iter().map(|c| Cidr::parse(c)).collect()
    }

    /// A duration option.
    pub fn secs(s: u64) -> Duration {
        Duration::from_secs(s.max(1))
    }

    /// The host name used in replies.
    pub fn host_name(&self) -> String {
        self.hostname.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_owned())
                .ok()
                .filter(|s| !s.is_empty())
                .unwrap_or_else(|| "localhost".into())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_and_sizes() {
        let c = Cidr::parse("10.1.0.0/16").expect("cidr");
        assert!(c.contains("10.1.200.3".parse().expect("ip")));
        assert!(!c.contains("10.2.0.1".parse().expect("ip")));
        assert!(c.contains("::ffff:10.1.0.9".parse().expect("ip")));
        let any = Cidr::parse("0.0.0.0/0").expect("cidr");
        assert!(any.contains("192.0.2.1".parse().expect("ip")));
        assert!(
            Cidr::parse("::1")
                .expect("cidr")
                .contains("::1".parse().expect("ip"))
        );
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nonsense").is_err());
        assert_eq!(parse_size("50M").expect("size"), 50 << 20);
        assert_eq!(parse_size("10KiB").expect("size"), 10 << 10);
        assert_eq!(parse_size("1234").expect("size"), 1234);
        assert!(parse_size("12X").is_err());
    }

    #[test]
    fn toml_file_overlays_defaults_and_names_unknown_keys() {
        let dir = tempfile::tempdir().expect("tempdir");
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "smtp-listen = \"127.0.0.1:2525\"\nmax-message-size = \"10M\"\n",
        )
        .expect("write");
        let c = GatewayConfig::load(Some(&f)).expect("load");
        assert_eq!(c.smtp_listen.port(), 2525);
        assert_eq!(c.max_message_size, 10 << 20);
        assert_eq!(c.max_sessions, 200);
        std::fs::write(&f, "smtp-lisen = \"x\"\n").expect("write");
        let e = GatewayConfig::load(Some(&f)).expect_err("unknown key");
        assert!(e.to_string().contains("smtp-lisen"), "{e}");
    }

    /// The package's commented configuration (packaging/certmail.toml) tells the truth:
    /// every `# key = value` line under a defaults heading is a real key with its real
    /// default, and every key of the configuration is in the file.
    #[test]
    fn packaged_config_file_shows_every_key_with_its_default() {
        let text = include_str!("../../../packaging/certmail.toml");
        // Lines that show an example rather than the default.
        let examples = [
            "hostname",
            "tls-cert",
            "tls-key",
            "tls-cert-from-store",
            "http-tls-cert",
            "http-tls-key",
            "http-tls-cert-from-store",
            "notify-address",
            "notify-from",
        ];
        let mut defaults = String::new();
        let mut shown = Vec::new();
        for line in text.lines() {
            let Some(kv) = line.strip_prefix("# ") else {
                continue;
            };
            let Some((key, _)) = kv.split_once(" = ") else {
                continue;
            };
            if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') {
                continue;
            }
            shown.push(key.to_owned());
            if !examples.contains(&key) {
                defaults.push_str(kv);
                defaults.push('\n');
            }
        }
        let c: GatewayConfig = toml::from_str(&defaults).expect("the shown defaults parse");
        assert_eq!(
            format!("{c:?}"),
            format!("{:?}", GatewayConfig::default()),
            "a value shown as the default is not the default"
        );
        // Every field of the configuration is shown (its Debug output names them all).
        let debug = format!("{:?}", GatewayConfig::default());
        let fields: Vec<String> = debug
            .split([',', '{'])
            .filter_map(|p| {
                p.trim()
                    .split_once(':')
                    .map(|(k, _)| k.trim().replace('_', "-"))
            })
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
            .collect();
        for f in &fields {
            assert!(
                shown.contains(f),
                "packaging/certmail.toml does not show {f}"
            );
        }
        assert!(fields.len() >= 30, "{fields:?}");
    }
}
