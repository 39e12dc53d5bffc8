//! Hostile JSON bodies at the API's changing endpoints (settings, CRL update, directories,
//! hold-queue release, certificate sending, trust list, CA issuance), through the real
//! router with an admin token: every answer is JSON or problem+json, never a panic.
#![no_main]

use std::sync::OnceLock;

use axum::body::Body;
use axum::http::{Method, Request, header};
use certmail_app::admin::Role;
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

struct World {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    token: String,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (rt, app) = certmail_fuzz::runtime_and_app();
        let (router, token) = rt.block_on(async {
            app.admin_add("fuzz", Role::Admin, Some("a long enough password"))
                .await
                .expect("admin");
            let t = app.admin_token("fuzz", None).await.expect("token");
            let server = certmail_server::Server::new(app, false);
            (certmail_server::router(server), format!("Bearer {}", *t))
        });
        World { rt, router, token }
    })
}

const ENDPOINTS: &[(&str, &str)] = &[
    ("PUT", "/api/v1/global/settings/encrypt-trigger-subject"),
    (
        "PUT",
        "/api/v1/users/a@example.com/settings/encrypt-trigger-header",
    ),
    (
        "PUT",
        "/api/v1/domains/example.com/settings/hold-expire-days",
    ),
    ("POST", "/api/v1/crls/update"),
    ("POST", "/api/v1/hold/1/release"),
    ("POST", "/api/v1/ca/send"),
    ("PUT", "/api/v1/ctl/00"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/directories"),
];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let (method, path) = ENDPOINTS[pick as usize % ENDPOINTS.len()];
    // No downloads from fuzz input: the CRL update endpoint only with bodies without a URL
    // (a directory added here is stored, never contacted: no look-up runs).
    if path == "/api/v1/crls/update" && body.windows(4).any(|w| w == b"http" || w == b"ldap") {
        return;
    }
    let w = world();
    let req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).expect("method"))
        .uri(path)
        .header(header::AUTHORIZATION, &w.token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_vec()))
        .expect("request");
    let r =
        w.rt.block_on(w.router.clone().oneshot(req))
            .expect("infallible");
    let ct = r
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/json") || ct == "application/problem+json",
        "{} {path}: {} {ct}",
        method,
        r.status()
    );
});
