//! The background jobs over the API: the CRL sources and their state, a CRL download now
//! (as `certmail crl update`), and what will expire (as `certmail expiry`).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::crl_sources::CrlSchedule;
use certmail_jobs::fetch::Limits;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::api::{ApiJson, ApiQuery, audited};
use crate::api_trust::Items;
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/crls/sources", get(crl_sources))
        .route("/api/v1/crls/update", post(crl_update))
        .route("/api/v1/expiry", get(expiry))
}

/// The CRL distribution points known and their download state (as `certmail crl sources --json`).
#[utoipa::path(get, path = "/api/v1/crls/sources", tag = "trust", responses((status = 200, body = Items)))]
pub async fn crl_sources(State(s): State<Arc<Server>>, c: Caller) -> Result<Json<Items>, Problem> {
    c.require(Role::Auditor)?;
    let items = s
        .app
        .crl_sources()
        .await?
        .into_iter()
        .map(|r| serde_json::to_value(r).unwrap_or_default())
        .collect();
    Ok(Json(Items { items }))
}

/// What to download.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateBody {
    /// Only this URL (due or not; registered as a source when new). Absent: every due source.
    pub url: Option<String>,
}

/// Downloads the due CRL sources (or one URL) now, with the default limits (30 s, 100 MiB,
/// 3 redirects), as `certmail crl update --json`. Failures are in the items, with reasons.
#[utoipa::path(post, path = "/api/v1/crls/update", tag = "trust", request_body = UpdateBody,
    responses((status = 200, body = Items), (status = 403, body = Problem)))]
pub async fn crl_update(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<Items>, Problem> {
    c.require(Role::Operator)?;
    let r = certmail_jobs::crl::update(
        &s.app,
        body.url.as_deref(),
        &Limits::default(),
        &CrlSchedule::default(),
    )
    .await;
    let detail = match &r {
        Ok(o) => format!(
            "{} source(s), {} failed",
            o.len(),
            o.iter().filter(|x| x.status == "failed").count()
        ),
        Err(_) => String::new(),
    };
    let outcomes = audited(
        &s,
        &c,
        "crl.update",
        body.url.as_deref().unwrap_or("due sources"),
        &detail,
        r,
    )
    .await?;
    let items = outcomes
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .collect();
    Ok(Json(Items { items }))
}

/// Query of `/api/v1/expiry`.
#[derive(Debug, Deserialize, IntoParams)]
pub struct ExpiryQuery {
    /// Within this many days (default 30).
    pub days: Option<i64>,
}

/// Certificates with a private key, CA certificates and roots expiring within `days`,
/// soonest first (as `certmail expiry --json`).
#[utoipa::path(get, path = "/api/v1/expiry", tag = "certificates", params(ExpiryQuery),
    responses((status = 200, body = Items), (status = 400, body = Problem)))]
pub async fn expiry(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<ExpiryQuery>,
) -> Result<Json<Items>, Problem> {
    c.require(Role::Auditor)?;
    let days = q.days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(Problem::bad_request("days must be between 1 and 3650"));
    }
    let now = certmail_app::now();
    let items = s
        .app
        .expiry(days, 10_000)
        .await?
        .into_iter()
        .map(|v| {
            serde_json::json!({
                "sha256": v.cert.sha256,
                "kind": if v.store == "roots" { "root" } else if v.cert.is_ca() { "ca" } else { "user" },
                "subject": v.cert.subject,
                "emails": v.cert.emails,
                "not_after": certmail_pki::time::format_rfc3339(v.cert.not_after),
                "days_left": (v.cert.not_after - now) / 86_400,
                "has_key": v.has_key,
            })
        })
        .collect();
    Ok(Json(Items { items }))
}
