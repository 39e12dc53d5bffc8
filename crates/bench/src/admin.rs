//! `certmail-bench admin`: the web admin and API over a store of N certificates (default
//! 1,000,000), timed in process (server side: routing, authentication, the app, rendering):
//! the certificate list page, the list filtered by e-mail, `GET /api/v1/certificates?email=`,
//! deep pages by offset and by cursor, and the dashboard cold and warm.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use certmail_app::admin::Role;
use certmail_app::{App, Config, ImportOptions, RootPolicy};
use certmail_testkit::TestPki;
use http_body_util::BodyExt;
use tower::ServiceExt;

use crate::{email, generate_with, lcg, percentile};

async fn time(
    router: &axum::Router,
    token: &str,
    paths: &[String],
) -> Result<Vec<Duration>, String> {
    let mut out = Vec::with_capacity(paths.len());
    for p in paths {
        let req = Request::builder()
            .uri(p.as_str())
            .header("authorization", format!("Bearer {token}"))
            .body(Body::empty())
            .map_err(|e| e.to_string())?;
        let t = Instant::now();
        let r = router
            .clone()
            .oneshot(req)
            .await
            .map_err(|e| e.to_string())?;
        let status = r.status();
        let body = r
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        out.push(t.elapsed());
        if status != StatusCode::OK {
            return Err(format!("{p}: {status} {}", String::from_utf8_lossy(&body)));
        }
    }
    out.sort();
    Ok(out)
}

fn report(what: &str, t: &[Duration]) {
    println!(
        "{what}: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms ({} requests)",
        percentile(t, 0.50).as_secs_f64() * 1e3,
        percentile(t, 0.99).as_secs_f64() * 1e3,
        t.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        t.len()
    );
}

/// The row id behind the first page's `next_cursor` (`c{id}`): the newest certificate's.
async fn first_cursor(router: &axum::Router, token: &str) -> Result<i64, String> {
    let req = Request::builder()
        .uri("/api/v1/certificates?limit=1")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let r = router
        .clone()
        .oneshot(req)
        .await
        .map_err(|e| e.to_string())?;
    let body = r
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    let text = String::from_utf8_lossy(&body);
    text.split("\"next_cursor\":\"c")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| format!("no next_cursor in {text}"))
}

/// Runs the benchmark.
pub async fn admin_bench(count: usize, requests: usize) -> Result<(), String> {
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    App::init(&cfg, None).await.map_err(|e| e.to_string())?;
    let app = App::open(&cfg, None).await.map_err(|e| e.to_string())?;
    let pki = TestPki::new("Bench");
    let roots = ImportOptions {
        password: None,
        roots: RootPolicy::AllToRoots,
    };
    app.import_bytes(pki.root.pem.as_bytes(), &roots)
        .await
        .map_err(|e| e.to_string())?;
    app.import_bytes(pki.intermediate.pem.as_bytes(), &ImportOptions::default())
        .await
        .map_err(|e| e.to_string())?;
    let t = Instant::now();
    let pems = generate_with(&pki, count);
    for chunk in pems.chunks(1000) {
        app.import_bytes(chunk.concat().as_bytes(), &ImportOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(pems);
    println!(
        "SQLite: {count} certificates generated and imported in {:.0} s (not part of the figures)",
        t.elapsed().as_secs_f64()
    );
    app.admin_add("bench", Role::Auditor, Some("a long bench password"))
        .await
        .map_err(|e| e.to_string())?;
    let token = app
        .admin_token("bench", None)
        .await
        .map_err(|e| e.to_string())?;
    let server = certmail_server::Server::new(Arc::new(app), false);
    let router = certmail_server::router(server);

    let mut seed = 7u64;
    let mut pick = |n: usize, f: &dyn Fn(String) -> String| -> Vec<String> {
        (0..n)
            .map(|_| f(email(lcg(&mut seed) as usize % count)))
            .collect()
    };
    let api = pick(requests, &|e| format!("/api/v1/certificates?email={e}"));
    let page_email = pick(requests, &|e| format!("/certificates?email={e}"));
    let first: Vec<String> = (0..requests / 5)
        .map(|_| "/certificates".to_owned())
        .collect();
    let deep: Vec<String> = (0..requests / 5)
        .map(|i| format!("/certificates?offset={}", (i * 997) % 10_000 * 50))
        .collect();
    let dash: Vec<String> = (0..requests / 20).map(|_| "/".to_owned()).collect();
    // The cold dashboard first: the counts are computed once after the import.
    report(
        &format!("GET / (dashboard, cold: the first after the import) among {count}"),
        &time(&router, &token, &dash[..1]).await?,
    );
    // The same depths by cursor (keyset): the newest row's id comes from the first page's
    // cursor, and the row at depth k is k rows below it.
    let top = first_cursor(&router, &token).await?;
    let by_cursor: Vec<String> = (0..requests / 5)
        .map(|i| {
            let depth = ((i * 997) % 10_000 * 50) as i64;
            format!("/certificates?cursor=c{}", top - depth + 1)
        })
        .collect();
    time(&router, &token, &api[..requests.min(50)]).await?;
    report(
        &format!("GET /api/v1/certificates?email= among {count}"),
        &time(&router, &token, &api).await?,
    );
    report(
        &format!("GET /certificates?email= (page) among {count}"),
        &time(&router, &token, &page_email).await?,
    );
    report(
        &format!("GET /certificates (first page of 50) among {count}"),
        &time(&router, &token, &first).await?,
    );
    report(
        &format!("GET /certificates?offset= up to 500,000 among {count}"),
        &time(&router, &token, &deep).await?,
    );
    report(
        &format!("GET /certificates?cursor= at the same depths among {count}"),
        &time(&router, &token, &by_cursor).await?,
    );
    report(
        &format!("GET / (dashboard, warm) among {count}"),
        &time(&router, &token, &dash).await?,
    );
    Ok(())
}
