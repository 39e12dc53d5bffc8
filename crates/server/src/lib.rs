//! certmail-server: the web admin and the JSON API that `certmail serve` offers on its
//! `--http-listen` address. Routing, pages, API and authentication only: every use case is
//! a call into `certmail-app`, as the CLI makes it.
//!
//! Pages are rendered on the server from compile-time-checked askama templates, with plain
//! forms and one vendored style sheet: no script, no CDN, so the admin works air-gapped and
//! under a Content-Security-Policy that allows nothing inline.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use certmail_app::App;
use zeroize::Zeroizing;

pub mod api;
pub mod api_admin;
pub mod api_ca;
pub mod api_ca_more;
pub mod api_hold;
pub mod api_jobs;
pub mod api_more;
pub mod api_select;
pub mod api_smime;
pub mod api_store;
pub mod api_trust;
pub mod auth;
mod openapi;
pub mod pages;
mod pages_bulk;
mod pages_ca;
mod pages_chooser;
mod pages_directories;
mod pages_gateway;
mod pages_keys;
mod pages_send;
mod pages_settings;
mod pages_store;
mod pages_trust;
pub mod problem;

pub use openapi::openapi_json;

/// The server's state.
pub struct Server {
    pub(crate) app: Arc<App>,
    /// Cookies get `Secure` (the admin is served over TLS).
    pub(crate) secure_cookies: bool,
    /// The one-time first-run setup token while no account exists.
    pub(crate) setup: Mutex<Option<Zeroizing<String>>>,
    pub(crate) limiter: auth::Limiter,
    pub(crate) jobs: pages_bulk::Jobs,
    /// The gateway's next hop, for releases from the hold queue and certificate mail.
    relay: Mutex<Option<Arc<certmail_gateway::relay::Relay>>>,
    /// The gateway's recent per-message log lines (the gateway page).
    pub(crate) messages: Arc<certmail_gateway::record::MessageLog>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Server(secure_cookies={})", self.secure_cookies)
    }
}

impl Server {
    /// A server over an opened app.
    pub fn new(app: Arc<App>, secure_cookies: bool) -> Arc<Server> {
        Arc::new(Server {
            app,
            secure_cookies,
            setup: Mutex::new(None),
            limiter: auth::Limiter::default(),
            jobs: pages_bulk::Jobs::default(),
            relay: Mutex::new(None),
            messages: Arc::default(),
        })
    }

    /// The log the gateway of this process writes its per-message lines to (pass it to
    /// `certmail_gateway::run`), read by the gateway page.
    pub fn message_log(&self) -> Arc<certmail_gateway::record::MessageLog> {
        self.messages.clone()
    }

    /// Where releases from the hold queue and certificate mail go (the gateway's next hop).
    pub fn set_relay(&self, relay: Arc<certmail_gateway::relay::Relay>) {
        {
            let mut r = crate::lock(&self.relay);
            *r = Some(relay);
        }
    }

    pub(crate) fn relay(&self) -> Option<Arc<certmail_gateway::relay::Relay>> {
        crate::lock(&self.relay).clone()
    }

    /// When no account exists: a fresh one-time setup token (the path `/setup/TOKEN`), valid
    /// until used or until the process ends. `None` when accounts exist.
    pub async fn setup_token(&self) -> certmail_app::Result<Option<Zeroizing<String>>> {
        if self.app.admin_exists().await? {
            return Ok(None);
        }
        let t = certmail_app::admin::random_secret()?;
        {
            let mut s = crate::lock(&self.setup);
            *s = Some(t.clone());
        }
        Ok(Some(t))
    }
}

/// The style sheet (vendored, served by the binary).
const CSS: &str = include_str!("../static/app.css");

/// The router: pages, `/api/v1/...`, `/static/...`, all behind the security headers.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .merge(pages::routes())
        .merge(api::routes())
        .merge(api_hold::routes())
        .merge(api_ca::routes())
        .merge(api_ca_more::routes())
        .merge(api_admin::routes())
        .merge(api_more::routes())
        .merge(api_smime::routes())
        .route("/static/app.css", get(css))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .fallback(pages::not_found)
        .layer(middleware::from_fn_with_state(
            server.clone(),
            pages::error_nav,
        ))
        .with_state(server)
        .layer(middleware::from_fn(security_headers))
}

async fn css() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        CSS,
    )
}

/// The Content-Security-Policy of every response: nothing inline, nothing from elsewhere.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(req: Request, next: Next) -> Response {
    let mut r = next.run(req).await;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    r
}

/// Locks `m`. A lock poisoned by a panic in another thread is recovered, not skipped: its
/// holders never leave the data half-changed between statements (caches, counters, queues
/// replaced or inserted whole), and skipping would silently turn a cache off or, for a
/// limiter, fail open.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
