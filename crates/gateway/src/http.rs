//! The HTTP side of `certmail serve` for the gateway: `GET /healthz` (database and next
//! hop reachable) and `GET /metrics` (Prometheus text), merged with the web admin and API
//! router the caller passes (crate `certmail-server`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use std::net::SocketAddr;
use std::time::Duration;

use std::future::Future;

use axum::extract::ConnectInfo;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::Shared;

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

/// Whether the database and the next hop answer (what `/healthz` and `/readyz` share).
async fn database_and_next_hop(s: &Shared) -> (Result<(), String>, Result<(), String>) {
    let db = s
        .app
        .store()
        .trust_generation()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    (db, s.relay.probe().await)
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let (db, hop) = database_and_next_hop(&s).await;
    let ok = db.is_ok() && hop.is_ok();
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "failing" },
        "database": db.err().unwrap_or_else(|| "ok".into()),
        "next_hop": hop.err().unwrap_or_else(|| "ok".into()),
        "open_sessions": s.metrics.open_sessions.load(std::sync::atomic::Ordering::Relaxed),
        "shutting_down": *s.shutdown.borrow(),
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

/// Ready to take mail: the database answers, the next hop answers, and the key store opens
/// under this process's key-encryption key (so decryption and signing can work). 503 while
/// shutting down, so a load balancer stops sending first.
async fn readyz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let (db, hop) = database_and_next_hop(&s).await;
    let keys = s.app.key_store_ready().await.map_err(|e| e.to_string());
    let shutting_down = *s.shutdown.borrow();
    let ok = db.is_ok() && keys.is_ok() && hop.is_ok() && !shutting_down;
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not-ready" },
        "database": db.err().unwrap_or_else(|| "ok".into()),
        "keys": keys.err().unwrap_or_else(|| "ok".into()),
        "next_hop": hop.err().unwrap_or_else(|| "ok".into()),
        "shutting_down": shutting_down,
    });
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
}

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let mut body = s.metrics.render();
    // The hold queue: how many, and how long the oldest has waited (0 when empty).
    let now = certmail_app::now();
    if let (Ok(n), Ok(oldest)) = (s.app.hold_count().await, s.app.hold_oldest().await) {
        let age = oldest.map_or(0, |t| (now - t).max(0));
        body.push_str(&format!(
            "# HELP certmail_held_messages Messages in the hold queue.\n# TYPE certmail_held_messages gauge\ncertmail_held_messages {n}\n# HELP certmail_held_oldest_age_seconds How long the oldest held message has waited (0 when none is held).\n# TYPE certmail_held_oldest_age_seconds gauge\ncertmail_held_oldest_age_seconds {age}\n"
        ));
    }
    let (queries, unchanged) = s.app.store().generations_counts();
    body.push_str(&format!(
        "# HELP certmail_store_change_checks_total The checks for changes to settings and trust made per transaction, by how they were answered: a query, or the SQLite WAL-index header showing nothing committed since the last query.\n# TYPE certmail_store_change_checks_total counter\ncertmail_store_change_checks_total{{answer=\"query\"}} {queries}\ncertmail_store_change_checks_total{{answer=\"unchanged\"}} {unchanged}\n"
    ));
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
}

/// Serves until shutdown: plain HTTP, or HTTPS when `tls` is given. The admin port cannot
/// starve the mail (ARCHITECTURE.md, trust boundaries): at most `http-max-connections`
/// connections are taken at once (the rest wait in the kernel's backlog, holding no
/// descriptor of ours), a request's header section must arrive within
/// `http-header-timeout` seconds, a connection with no traffic for `http-idle-timeout`
/// seconds is closed, and a TLS handshake gets 10 seconds.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    extra: Option<Router>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let limits = Limits {
        header: Duration::from_secs(shared.cfg.http_header_timeout.max(1)),
        idle: Duration::from_secs(shared.cfg.http_idle_timeout.max(1)),
    };
    let cap = shared.cfg.http_max_connections.max(1);
    let mut shutdown = shared.shutdown.clone();
    let mut app = router(shared);
    if let Some(x) = extra {
        app = app.merge(x);
    }
    let slots = Arc::new(tokio::sync::Semaphore::new(cap));
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopping(&mut shutdown) => break,
        };
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or similar: wait rather than spin.
                    crate::record::log_line(&format!("HTTP accept failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = stopping(&mut shutdown) => break,
        };
        let app = app.clone();
        let tls = tls.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tls {
                None => serve_conn(tcp, peer, app, limits, stop).await,
                Some(acceptor) => {
                    if let Ok(Ok(s)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        serve_conn(s, peer, app, limits, stop).await;
                    }
                }
            }
        });
    }
    // Open requests finish (each connection is told to close after its current one),
    // for at most the idle timeout.
    let _ = tokio::time::timeout(limits.idle, slots.acquire_many(cap as u32)).await;
}

/// Resolves once shutdown was asked for (the watch's guard is not held across awaits).
async fn stopping(shutdown: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|v| *v).await;
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    header: Duration,
    idle: Duration,
}

/// One HTTP/1.1 connection: the peer's address reaches the handlers as
/// `ConnectInfo<SocketAddr>`.
async fn serve_conn<T>(
    io: T,
    peer: SocketAddr,
    app: Router,
    limits: Limits,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, req).await }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header)
        .keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(IdleIo::new(io, limits.idle)), svc);
    tokio::pin!(conn);
    let stopped = async move {
        let _ = shutdown.wait_for(|v| *v).await;
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// A stream that fails with `TimedOut` once nothing was read or written for `idle`: the
/// keep-alive idle timeout, and the bound on a request or response that stalls.
struct IdleIo<T> {
    inner: T,
    idle: Duration,
    deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<T> IdleIo<T> {
    fn new(inner: T, idle: Duration) -> IdleIo<T> {
        IdleIo {
            inner,
            idle,
            deadline: Box::pin(tokio::time::sleep(idle)),
        }
    }

    fn touch(&mut self) {
        let next = tokio::time::Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }

    fn expired(&mut self, cx: &mut std::task::Context<'_>) -> bool {
        self.deadline.as_mut().poll(cx).is_ready()
    }
}

fn timed_out() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::TimedOut, "idle HTTP connection closed")
}

impl<T: tokio::io::AsyncRead + Unpin> tokio::io::AsyncRead for IdleIo<T> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use std::task::Poll;
        let before = buf.filled().len();
        match std::pin::Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for IdleIo<T> {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        data: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        use std::task::Poll;
        match std::pin::Pin::new(&mut self.inner).poll_write(cx, data) {
            Poll::Ready(Ok(n)) => {
                self.touch();
                Poll::Ready(Ok(n))
            }
            Poll::Ready(e) => Poll::Ready(e),
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(timed_out())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
