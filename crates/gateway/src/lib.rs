//! certmail-gateway: `certmail serve`, the SMTP gateway in the mail flow.
//!
//! An MTA (Postfix's after-queue content filter, or any MTA using certmail as its
//! smarthost) hands every message to the SMTP listener; [`certmail_app`] decides per
//! recipient what to do (sign, encrypt, decrypt, verify, relay) and the copies go to the
//! next hop. The one rule everything here serves: **the reply to the end of data is 250
//! only after the next hop accepted every copy**; any failure is a 4xx, so the MTA keeps
//! the message and retries. Nothing is queued here, so a crash loses nothing that was
//! acknowledged.
//!
//! - [`config`]: options and the TOML file;
//! - [`session`]: the SMTP server session (smtp-proto);
//! - [`relay`]: the next-hop client (mail-send) with a connection pool;
//! - [`metrics`] and [`http`]: `/metrics` and `/healthz`;
//! - [`tls`]: STARTTLS with rustls over aws-lc-rs.

pub mod address;
pub mod budget;
pub mod config;
pub mod http;
pub mod metrics;
pub mod record;
pub mod relay;
pub mod session;
pub mod tls;
pub mod xforward;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use certmail_app::App;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use config::{ConfigError, GatewayConfig};
pub use metrics::Metrics;

use crate::config::Cidr;
use crate::record::log_line;
use crate::relay::Relay;
use crate::session::{End, Session};

/// Why the gateway cannot start.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// Bad options.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A listener cannot be opened.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: String,
        /// The OS message.
        reason: String,
    },
    /// The STARTTLS certificate or key cannot be used.
    #[error("STARTTLS: {0}")]
    Tls(String),
    /// The stores failed.
    #[error(transparent)]
    App(#[from] certmail_app::AppError),
}

/// Message ids: time, a per-process counter and a random 24-bit node part. Two processes
/// give the same id only when their node parts are equal (1 in 16.7 million for a pair) and
/// their counters meet in the same millisecond; within one process ids never repeat.
pub struct IdGen {
    node: String,
    seq: AtomicU64,
}

impl IdGen {
    fn new() -> IdGen {
        let mut b = [0u8; 3];
        if certmail_app::random_bytes(&mut b).is_err() {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            b = [(t >> 16) as u8, (t >> 8) as u8, std::process::id() as u8];
        }
        IdGen {
            node: format!("{:02X}{:02X}{:02X}", b[0], b[1], b[2]),
            seq: AtomicU64::new(0),
        }
    }

    /// The next id, e.g. `19A8F3C2B1E.0001A.4F2C9D`.
    pub fn next(&self) -> String {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let n = self.seq.fetch_add(1, Ordering::Relaxed);
        format!("{ms:X}.{n:05X}.{}", self.node)
    }
}

/// What every session shares.
pub struct Shared {
    /// The application.
    pub app: Arc<App>,
    /// Options.
    pub cfg: GatewayConfig,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The next hop.
    pub relay: Relay,
    /// STARTTLS, when configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Name in replies.
    pub hostname: String,
    /// Clients allowed.
    pub allow: Vec<Cidr>,
    /// Becomes true at SIGTERM.
    pub shutdown: watch::Receiver<bool>,
    /// Message ids.
    pub ids: IdGen,
    /// Until when (Unix seconds) sessions wait for commands only the stress timeout: set
    /// whenever 80% of the slots are seen taken, so every idle session of a flood gets the
    /// short timeout, not only those that look before the first ones have closed.
    pub stress_until: std::sync::atomic::AtomicI64,
    /// The memory budget for message data in flight (`max-memory`).
    pub budget: budget::Budget,
    /// Recent per-message log lines, for the web admin.
    pub log: Arc<record::MessageLog>,
}

impl Shared {
    /// Everything a gateway needs, from options (the STARTTLS key may come from the store).
    pub async fn new(
        app: Arc<App>,
        cfg: GatewayConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Shared, GatewayError> {
        let allow = cfg.check()?;
        let hostname = cfg.host_name();
        let tls = tls::acceptor(&app, &cfg).await?;
        let relay = Relay::new(
            &cfg.next_hop,
            &hostname,
            GatewayConfig::secs(cfg.next_hop_timeout),
            GatewayConfig::secs(cfg.next_hop_data_timeout),
        );
        Ok(Shared {
            app,
            metrics: Arc::new(Metrics::default()),
            stress_until: std::sync::atomic::AtomicI64::new(0),
            relay,
            tls,
            hostname,
            allow,
            shutdown,
            ids: IdGen::new(),
            budget: budget::Budget::new(cfg.max_memory),
            log: Arc::default(),
            cfg,
        })
    }
}

/// Serves one accepted connection to its end.
pub async fn connection(shared: Arc<Shared>, mut stream: TcpStream, peer: SocketAddr) {
    let m = shared.metrics.clone();
    m.sessions_total.fetch_add(1, Ordering::Relaxed);
    let _ = stream.set_nodelay(true);
    // A slot is taken only when one is free, so a burst of connections over the limit
    // neither lets fewer than max-sessions in nor counts as open sessions.
    let max = shared.cfg.max_sessions as i64;
    let admitted = m
        .open_sessions
        .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        })
        .is_ok();
    let result = async {
        if !shared.allow.iter().any(|c| c.contains(peer.ip())) {
            m.error("client-not-allowed");
            log_line(&format!(
                "refused connection from {peer}: not in allow-from"
            ));
            let line = format!(
                "554 5.7.1 {} is not allowed to send through this gateway\r\n",
                peer.ip()
            );
            stream.write_all(line.as_bytes()).await?;
            return Ok(());
        }
        if !admitted {
            m.error("too-many-sessions");
            stream
                .write_all(b"421 4.3.2 Too many sessions, try again later\r\n")
                .await?;
            return Ok(());
        }
        let mut s = Session::new(shared.clone(), stream, peer.to_string(), false);
        s.greet().await?;
        match s.run().await? {
            End::Closed => Ok(()),
            End::StartTls(plain) => {
                let Some(acceptor) = shared.tls.clone() else {
                    return Ok(());
                };
                let tls = tokio::time::timeout(Duration::from_secs(60), acceptor.accept(plain))
                    .await
                    .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
                Session::new(shared.clone(), tls, peer.to_string(), true)
                    .run()
                    .await
                    .map(|_| ())
            }
        }
    }
    .await;
    if let Err(e) = result {
        use std::io::ErrorKind::{BrokenPipe, ConnectionReset, UnexpectedEof};
        if matches!(e.kind(), BrokenPipe | ConnectionReset | UnexpectedEof) {
            m.error("client-disconnected");
        } else {
            m.error("connection");
            log_line(&format!("session with {peer} ended: {e}"));
        }
    }
    if admitted {
        m.open_sessions.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the SMTP listener until `shutdown` turns true, then waits (at most the grace
/// period) for open sessions to finish their transactions.
pub async fn serve_smtp(shared: Arc<Shared>, listener: TcpListener) {
    let mut shutdown = shared.shutdown.clone();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            r = listener.accept() => match r {
                Ok((stream, peer)) => {
                    tasks.spawn(connection(shared.clone(), stream, peer));
                }
                Err(e) => {
                    shared.metrics.error("accept");
                    log_line(&format!("accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
            _ = shutdown.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    let grace = Duration::from_secs(shared.cfg.shutdown_grace);
    let open = tasks.len();
    if open > 0 {
        log_line(&format!(
            "shutting down: waiting up to {}s for {open} session(s)",
            grace.as_secs()
        ));
    }
    let drained =
        tokio::time::timeout(grace, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        log_line(
            "shutdown grace period over: closing remaining sessions (nothing they sent was acknowledged)",
        );
        tasks.abort_all();
    }
    shared.relay.close_idle().await;
}

/// `certmail serve`: binds the SMTP and HTTP listeners and runs until SIGTERM or SIGINT.
/// `web` (the admin and API) is served beside `/healthz` and `/metrics`; the gateway keeps
/// its recent log lines in `log` (which the web admin reads).
pub async fn run(
    app: Arc<App>,
    cfg: GatewayConfig,
    web_routes: Option<axum::Router>,
    log: Arc<record::MessageLog>,
) -> Result<(), GatewayError> {
    let (tx, rx) = watch::channel(false);
    let mut shared = Shared::new(app, cfg, rx).await?;
    shared.log = log;
    let shared = Arc::new(shared);
    let bind = |addr: SocketAddr, e: std::io::Error| GatewayError::Listen {
        addr: addr.to_string(),
        reason: if e.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 {
            format!(
                "{e}: a port below 1024 needs the capability CAP_NET_BIND_SERVICE (under systemd: /usr/share/doc/certmail/examples/port25.conf)"
            )
        } else {
            e.to_string()
        },
    };
    let smtp = TcpListener::bind(shared.cfg.smtp_listen)
        .await
        .map_err(|e| bind(shared.cfg.smtp_listen, e))?;
    let http_tls = tls::http_acceptor(&shared.app, &shared.cfg).await?;
    let web = TcpListener::bind(shared.cfg.http_listen)
        .await
        .map_err(|e| bind(shared.cfg.http_listen, e))?;
    log_line(&format!(
        "listening: smtp={} {}={} next-hop={} starttls={} max-message-size={} max-sessions={}",
        smtp.local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string()),
        if http_tls.is_some() { "https" } else { "http" },
        web.local_addr()
            .map_or_else(|_| "?".into(), |a| a.to_string()),
        shared.cfg.next_hop,
        if shared.tls.is_some() { "on" } else { "off" },
        shared.cfg.max_message_size,
        shared.cfg.max_sessions
    ));
    let http_task = tokio::spawn(http::serve(shared.clone(), web, web_routes, http_tls));
    let signals = tokio::spawn(async move {
        wait_for_signal().await;
        log_line("signal received: accepting no new sessions, finishing open transactions");
        let _ = tx.send(true);
    });
    serve_smtp(shared.clone(), smtp).await;
    signals.abort();
    let _ = http_task.await;
    log_line("stopped");
    Ok(())
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
