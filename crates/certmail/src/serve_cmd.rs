//! `certmail serve` (name fixed): the SMTP gateway with `/healthz` and `/metrics`. Every
//! option is also a key of the TOML file given with `--config`; flags win over the file.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certmail_gateway::GatewayConfig;
use clap::Args;

use crate::cli::{Cli, Failure};

/// Options of `certmail serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// TOML file with any of the options below (keys are the flag names).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SMTP listener [default: 127.0.0.1:10025].
    #[arg(long, value_name = "ADDR")]
    pub smtp_listen: Option<SocketAddr>,
    /// Where processed mail goes, e.g. Postfix's reinjection smtpd [default: 127.0.0.1:10026].
    #[arg(long, value_name = "HOST:PORT")]
    pub next_hop: Option<String>,
    /// HTTP listener for the web admin, the API, /healthz and /metrics [default: 127.0.0.1:8080].
    #[arg(long, value_name = "ADDR")]
    pub http_listen: Option<SocketAddr>,
    /// Largest message accepted: bytes, or with K, M, G [default: 50M].
    #[arg(long, value_name = "SIZE")]
    pub max_message_size: Option<String>,
    /// Memory for message data in flight, all sessions together: bytes, or with K, M, G
    /// [default: 1G]. Over it, new message data waits, then gets 452 4.3.1.
    #[arg(long, value_name = "SIZE")]
    pub max_memory: Option<String>,
    /// Most concurrent SMTP sessions [default: 200].
    #[arg(long, value_name = "N")]
    pub max_sessions: Option<usize>,
    /// Most recipients per message [default: 1000].
    #[arg(long, value_name = "N")]
    pub max_recipients: Option<usize>,
    /// Clients allowed to connect, as address blocks [default: 127.0.0.0/8 ::1/128].
    #[arg(long, value_name = "CIDR", num_args = 1..)]
    pub allow_from: Option<Vec<String>>,
    /// STARTTLS certificate chain (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// STARTTLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// STARTTLS certificate and key from the stores (thumbprint or unambiguous prefix).
    #[arg(long, value_name = "THUMBPRINT", conflicts_with_all = ["tls_cert", "tls_key"])]
    pub tls_cert_from_store: Option<String>,
    /// TLS certificate chain of the web admin (PEM).
    #[arg(long, value_name = "FILE", requires = "http_tls_key")]
    pub http_tls_cert: Option<PathBuf>,
    /// TLS private key of the web admin (PEM).
    #[arg(long, value_name = "FILE", requires = "http_tls_cert")]
    pub http_tls_key: Option<PathBuf>,
    /// TLS certificate and key of the web admin from the stores (thumbprint or unambiguous prefix).
    #[arg(long, value_name = "THUMBPRINT", conflicts_with_all = ["http_tls_cert", "http_tls_key"])]
    pub http_tls_cert_from_store: Option<String>,
    /// Serve the web admin on a non-loopback --http-listen address without TLS (behind a TLS proxy).
    #[arg(long)]
    pub insecure_http: bool,
    /// The per-message log line on standard error: text (key=value) or json (one object
    /// per message) [default: text].
    #[arg(long, value_name = "FORMAT", value_parser = ["text", "json"])]
    pub log_format: Option<String>,
    /// Host name in the greeting, EHLO and notifications [default: this host's name].
    #[arg(long, value_name = "NAME")]
    pub hostname: Option<String>,
    /// Run no background jobs on this node (a pure gateway / admin node).
    #[arg(long)]
    pub no_jobs: bool,
    /// Seconds between downloads of a CRL distribution point [default: 21600].
    #[arg(long, value_name = "SECONDS")]
    pub crl_interval: Option<u64>,
    /// Seconds a CRL download may take [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub crl_timeout: Option<u64>,
    /// Largest CRL downloaded: bytes, or with K, M, G [default: 100M].
    #[arg(long, value_name = "SIZE")]
    pub crl_max_size: Option<String>,
    /// Administrator address for expiry warnings (30, 14, 7 and 1 days before); users get
    /// their own too. Sent through --next-hop [default: none, no warnings].
    #[arg(long, value_name = "ADDR")]
    pub notify_address: Option<String>,
    /// Sender address of certmail's own mail [default: certmail@host name].
    #[arg(long, value_name = "ADDR")]
    pub notify_from: Option<String>,
}

impl ServeArgs {
    /// The file's options with the flags on top.
    pub fn config(&self) -> Result<GatewayConfig, Failure> {
        let bad = |e: certmail_gateway::ConfigError| Failure {
            code: 2,
            message: e.to_string(),
        };
        let mut c = GatewayConfig::load(self.config.as_deref()).map_err(bad)?;
        if let Some(v) = self.smtp_listen {
            c.smtp_listen = v;
        }
        if let Some(v) = &self.next_hop {
            c.next_hop = v.clone();
        }
        if let Some(v) = self.http_listen {
            c.http_listen = v;
        }
        if let Some(v) = &self.max_message_size {
            c.max_message_size = certmail_gateway::config::parse_size(v).map_err(bad)?;
        }
        if let Some(v) = &self.max_memory {
            c.max_memory = certmail_gateway::config::parse_size(v).map_err(bad)?;
        }
        if let Some(v) = self.max_sessions {
            c.max_sessions = v;
        }
        if let Some(v) = &self.log_format {
            c.log_format = if v == "json" {
                certmail_gateway::config::LogFormat::Json
            } else {
                certmail_gateway::config::LogFormat::Text
            };
        }
        if let Some(v) = self.max_recipients {
            c.max_recipients = v;
        }
        if let Some(v) = &self.allow_from {
            c.allow_from = v.clone();
        }
        if self.tls_cert.is_some() {
            c.tls_cert = self.tls_cert.clone();
            c.tls_key = self.tls_key.clone();
            c.tls_cert_from_store = None;
        }
        if self.tls_cert_from_store.is_some() {
            c.tls_cert_from_store = self.tls_cert_from_store.clone();
            c.tls_cert = None;
            c.tls_key = None;
        }
        if self.http_tls_cert.is_some() {
            c.http_tls_cert = self.http_tls_cert.clone();
            c.http_tls_key = self.http_tls_key.clone();
            c.http_tls_cert_from_store = None;
        }
        if self.http_tls_cert_from_store.is_some() {
            c.http_tls_cert_from_store = self.http_tls_cert_from_store.clone();
            c.http_tls_cert = None;
            c.http_tls_key = None;
        }
        if self.insecure_http {
            c.insecure_http = true;
        }
        if let Some(v) = &self.hostname {
            c.hostname = Some(v.clone());
        }
        if self.no_jobs {
            c.no_jobs = true;
        }
        if let Some(v) = self.crl_interval {
            c.crl_interval = v;
        }
        if let Some(v) = self.crl_timeout {
            c.crl_timeout = v;
        }
        if let Some(v) = &self.crl_max_size {
            c.crl_max_size = certmail_gateway::config::parse_size(v).map_err(bad)?;
        }
        if let Some(v) = &self.notify_address {
            c.notify_address = Some(v.clone());
        }
        if let Some(v) = &self.notify_from {
            c.notify_from = Some(v.clone());
        }
        c.check().map_err(bad)?;
        Ok(c)
    }
}

/// Runs the gateway until SIGTERM/SIGINT.
pub async fn run(cli: &Cli, args: &ServeArgs) -> Result<ExitCode, Failure> {
    let cfg = args.config()?;
    raise_descriptor_limit(&cfg);
    warn_if_data_dir_open(&cli.data_dir);
    let app = Arc::new(crate::cli::open(cli).await?);
    // Outgoing recipients without a usable certificate are looked up in the directories.
    app.set_directory_client(Arc::new(certmail_jobs::ldap::LdapClient::default()));
    let server = certmail_server::Server::new(app.clone(), cfg.http_tls());
    server.set_relay(Arc::new(certmail_gateway::relay::Relay::new(
        &cfg.next_hop,
        &cfg.host_name(),
        std::time::Duration::from_secs(cfg.next_hop_timeout),
        std::time::Duration::from_secs(cfg.next_hop_data_timeout),
    )));
    if let Some(token) = server.setup_token().await? {
        // The one way in while no account exists; printed, never logged elsewhere.
        println!(
            "no administrator account yet: open {}://{}/setup/{} to create one (the link works once)",
            if cfg.http_tls() { "https" } else { "http" },
            cfg.http_listen,
            *token
        );
    }
    let messages = server.message_log();
    let web = certmail_server::router(server);
    // The jobs stop with the gateway: a download cut short is recorded by nobody and stays
    // due; a CRL import is one transaction.
    let (stop_jobs, jobs_stopped) = tokio::sync::watch::channel(false);
    let jobs = (!cfg.no_jobs).then(|| {
        let jc = certmail_jobs::runner::JobsConfig {
            crl: certmail_app::crl_sources::CrlSchedule {
                interval: cfg.crl_interval as i64,
                ..Default::default()
            },
            limits: certmail_jobs::fetch::Limits {
                timeout: std::time::Duration::from_secs(cfg.crl_timeout),
                max_bytes: cfg.crl_max_size,
                ..Default::default()
            },
            tick: std::time::Duration::from_secs(60),
            holder: format!("{}:{}", cfg.host_name(), std::process::id()),
            expiry: cfg.notify_address.as_ref().map(|admin| {
                let host = cfg.host_name();
                (
                    certmail_jobs::expiry::NotifyConfig {
                        admin: admin.clone(),
                        from: cfg
                            .notify_from
                            .clone()
                            .unwrap_or_else(|| format!("certmail@{host}")),
                        hostname: host.clone(),
                    },
                    Arc::new(certmail_gateway::relay::Relay::new(
                        &cfg.next_hop,
                        &host,
                        std::time::Duration::from_secs(cfg.next_hop_timeout),
                        std::time::Duration::from_secs(cfg.next_hop_data_timeout),
                    )) as Arc<dyn certmail_app::mail_sender::MailSender>,
                )
            }),
            hold: Some((
                Arc::new(certmail_gateway::relay::Relay::new(
                    &cfg.next_hop,
                    &cfg.host_name(),
                    std::time::Duration::from_secs(cfg.next_hop_timeout),
                    std::time::Duration::from_secs(cfg.next_hop_data_timeout),
                )) as Arc<dyn certmail_app::mail_sender::MailSender>,
                cfg.host_name(),
            )),
        };
        tokio::spawn(certmail_jobs::runner::run(app.clone(), jc, jobs_stopped))
    });
    let r = certmail_gateway::run(app, cfg, Some(web), messages).await;
    let _ = stop_jobs.send(true);
    if let Some(j) = jobs {
        j.abort();
    }
    r.map_err(|e| Failure {
        code: 1,
        message: e.to_string(),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Raises the soft descriptor limit to the hard one and says when it still leaves too
/// little for the SMTP side: every session may hold its client and a next-hop connection,
/// the admin port its connection cap, and a reserve stays for the database and the jobs.
fn raise_descriptor_limit(cfg: &GatewayConfig) {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut l = getrlimit(Resource::Nofile);
    if l.current != l.maximum {
        l.current = l.maximum;
        if let Err(e) = setrlimit(Resource::Nofile, l) {
            eprintln!("warning: cannot raise the descriptor limit: {e}");
        }
    }
    let have = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    let need = (cfg.max_sessions * 2 + cfg.http_max_connections + 128) as u64;
    if have < need {
        eprintln!(
            "warning: the descriptor limit is {have}, below the {need} that max-sessions ({}) and http-max-connections ({}) need with a reserve of 128: lower them or raise the limit (LimitNOFILE=)",
            cfg.max_sessions, cfg.http_max_connections
        );
    }
}

/// The data directory holds keys, held mail and password hashes: warn when others may
/// read it.
fn warn_if_data_dir_open(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(dir)
        && m.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "warning: the data directory {} is open to other users (mode {:o}): chmod 700 it",
            dir.display(),
            m.permissions().mode() & 0o777
        );
    }
}
