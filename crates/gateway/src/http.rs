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

use axum::extract::ConnectInfo;
use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::server::TlsStream;

use crate::Shared;

/// The router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(shared)
}

async fn healthz(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let db = s
        .app
        .store()
        .trust_generation()
        .await
        .map(|_| ())
        .map_err(|e| e.to_string());
    let hop = s.relay.probe().await;
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

async fn metrics(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let mut body = s.metrics.render();
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

/// Serves until shutdown: plain HTTP, or HTTPS when `tls` is given.
pub async fn serve(
    shared: Arc<Shared>,
    listener: TcpListener,
    extra: Option<Router>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut shutdown = shared.shutdown.clone();
    let mut app = router(shared);
    if let Some(x) = extra {
        app = app.merge(x);
    }
    let stop = async move {
        let _ = shutdown.wait_for(|v| *v).await;
    };
    let r = match tls {
        None => {
            axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
        Some(acceptor) => {
            // The peer address reaches the handlers as `ConnectInfo<SocketAddr>`, as with
            // plain HTTP.
            let app = app.layer(axum::middleware::from_fn(
                |ConnectInfo(peer): ConnectInfo<TlsPeer>,
                 mut req: axum::extract::Request,
                 next: axum::middleware::Next| async move {
                    req.extensions_mut().insert(ConnectInfo(peer.0));
                    next.run(req).await
                },
            ));
            axum::serve(
                TlsListener::new(listener, acceptor),
                app.into_make_service_with_connect_info::<TlsPeer>(),
            )
            .with_graceful_shutdown(stop)
            .await
        }
    };
    if let Err(e) = r {
        crate::session::log_line(&format!("HTTP server stopped: {e}"));
    }
}

/// The peer of a TLS connection.
#[derive(Debug, Clone, Copy)]
pub struct TlsPeer(pub SocketAddr);

impl Connected<IncomingStream<'_, TlsListener>> for TlsPeer {
    fn connect_info(stream: IncomingStream<'_, TlsListener>) -> Self {
        TlsPeer(*stream.remote_addr())
    }
}

/// A listener that yields TLS streams. Handshakes run in their own tasks (at most 10 s
/// each), so a slow or silent client never holds up the others.
pub struct TlsListener {
    local: std::io::Result<SocketAddr>,
    ready: tokio::sync::mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
}

impl TlsListener {
    fn new(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor) -> TlsListener {
        let local = listener.local_addr();
        let (tx, ready) = tokio::sync::mpsc::channel(64);
        tokio::spawn(async move {
            loop {
                let Ok((tcp, peer)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                if tx.is_closed() {
                    return;
                }
                let acceptor = acceptor.clone();
                let tx = tx.clone();
                tokio::spawn(async move {
                    if let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    {
                        let _ = tx.send((tls, peer)).await;
                    }
                });
            }
        });
        TlsListener { local, ready }
    }
}

impl Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(c) => c,
            // The accepting task ended: wait for the shutdown that ends the server.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        match &self.local {
            Ok(a) => Ok(*a),
            Err(e) => Err(std::io::Error::new(e.kind(), e.to_string())),
        }
    }
}
