//! The HTTP side of `certmail serve` for the gateway: `GET /healthz` (database and next
//! hop reachable) and `GET /metrics` (Prometheus text), merged with the web admin and API
//! router the caller passes (crate `certmail-server`).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

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
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        s.metrics.render(),
    )
}

/// Serves until shutdown.
pub async fn serve(shared: Arc<Shared>, listener: TcpListener, extra: Option<Router>) {
    let mut shutdown = shared.shutdown.clone();
    let mut app = router(shared);
    if let Some(x) = extra {
        app = app.merge(x);
    }
    let r = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = shutdown.wait_for(|v| *v).await;
    })
    .await;
    if let Err(e) = r {
        crate::session::log_line(&format!("HTTP server stopped: {e}"));
    }
}
