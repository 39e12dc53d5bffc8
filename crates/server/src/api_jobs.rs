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
use crate::api_trust::List;
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
#[utoipa::path(get, path = "/api/v1/crls/sources", tag = "trust", params(crate::api_trust::Page), responses((status = 200, body = List<certmail_app::crl_sources::CrlSourceView>)))]
pub async fn crl_sources(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<crate::api_trust::Page>,
) -> Result<Json<List<certmail_app::crl_sources::CrlSourceView>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::page(s.app.crl_source_views().await?, &q)))
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
    responses((status = 200, body = List<certmail_app::crl_sources::SourceOutcome>), (status = 403, body = Problem)))]
pub async fn crl_update(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(body): ApiJson<UpdateBody>,
) -> Result<Json<List<certmail_app::crl_sources::SourceOutcome>>, Problem> {
    c.require(Role::Operator)?;
    let (outcomes, _) = crl_update_audited(&s, &c, body.url.as_deref()).await?;
    Ok(Json(List::all(outcomes)))
}

/// Downloads the due CRL sources (or only `url`) now with the default limits, audited as
/// `crl.update`: the outcomes and a one-line summary (the API and the `/crls` page).
pub(crate) async fn crl_update_audited(
    s: &Server,
    c: &Caller,
    url: Option<&str>,
) -> Result<(Vec<certmail_app::crl_sources::SourceOutcome>, String), Problem> {
    let r =
        certmail_jobs::crl::update(&s.app, url, &Limits::default(), &CrlSchedule::default()).await;
    let summary = match &r {
        Ok(o) => format!(
            "{} source(s) fetched, {} failed",
            o.len(),
            o.iter().filter(|x| x.status == "failed").count()
        ),
        Err(_) => String::new(),
    };
    let outcomes = audited(
        s,
        c,
        "crl.update",
        url.unwrap_or("due sources"),
        &summary,
        r,
    )
    .await?;
    Ok((outcomes, summary))
}

/// Query of `/api/v1/expiry`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExpiryQuery {
    /// Within this many days (default 30).
    pub days: Option<i64>,
}

/// Certificates with a private key, CA certificates and roots expiring within `days`,
/// soonest first (as `certmail expiry --json`).
#[utoipa::path(get, path = "/api/v1/expiry", tag = "certificates", params(ExpiryQuery),
    responses((status = 200, body = List<certmail_app::expiry::ExpiryRow>), (status = 400, body = Problem)))]
pub async fn expiry(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<ExpiryQuery>,
) -> Result<Json<List<certmail_app::expiry::ExpiryRow>>, Problem> {
    c.require(Role::Auditor)?;
    let days = q.days.unwrap_or(30);
    if !(1..=3650).contains(&days) {
        return Err(Problem::bad_request("days must be between 1 and 3650"));
    }
    Ok(Json(List::all(s.app.expiry_rows(days, 10_000).await?)))
}

/// The directory routes (LDAP directories certificates are looked up in).
pub fn directory_routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/directories", get(directories).post(directory_add))
        .route(
            "/api/v1/directories/{name}",
            axum::routing::delete(directory_delete),
        )
        .route("/api/v1/directories/lookup/{email}", get(directory_lookup))
}

/// The LDAP directories (as `certmail directory list --json`; never a password).
#[utoipa::path(get, path = "/api/v1/directories", tag = "directories", responses((status = 200, body = List<certmail_app::directory::DirectoryView>)))]
pub async fn directories(
    State(s): State<Arc<Server>>,
    c: Caller,
) -> Result<Json<List<certmail_app::directory::DirectoryView>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::all(s.app.directories().await?)))
}

/// A directory to add (as `certmail directory add`).
#[derive(Deserialize, ToSchema)]
pub struct DirectoryBody {
    /// Name (letters, digits, '-', '_', '.').
    pub name: String,
    /// `ldap://host[:port]` or `ldaps://...`.
    pub url: String,
    /// Search base (default: the directory's first naming context).
    pub base: Option<String>,
    /// Bind DN (default: anonymous).
    pub bind_dn: Option<String>,
    /// Bind password (stored sealed; never shown again).
    pub bind_password: Option<String>,
    /// Filter with %s for the address (default `(mail=%s)`).
    pub filter: Option<String>,
    /// The default directory for host-less CRL distribution points.
    #[serde(default)]
    pub default: bool,
    /// Look-up bound in milliseconds (default 2000).
    pub timeout_ms: Option<i64>,
    /// Seconds answers are kept (default 3600).
    pub cache_ttl: Option<i64>,
}

/// Adds a directory (administrators; the password is sealed under the KEK).
#[utoipa::path(post, path = "/api/v1/directories", tag = "directories", request_body = DirectoryBody,
    responses((status = 201, body = Object), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 422, body = Problem, description = "the body lacks a field or has a wrong type")))]
pub async fn directory_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<DirectoryBody>,
) -> Result<(axum::http::StatusCode, Json<serde_json::Value>), Problem> {
    c.require(Role::Admin)?;
    let d = certmail_app::directory::NewDirectory {
        name: b.name.clone(),
        url: b.url.clone(),
        base: b.base,
        bind_dn: b.bind_dn,
        filter: b.filter,
        default: b.default,
        timeout_ms: b.timeout_ms,
        cache_ttl: b.cache_ttl,
    };
    // Moved, not copied, into a buffer wiped on drop.
    let password = b.bind_password.map(zeroize::Zeroizing::new);
    let r = s.app.directory_add(&d, password).await;
    let view = audited(&s, &c, "directory.add", &b.name, &b.url, r).await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(serde_json::to_value(view).unwrap_or_default()),
    ))
}

/// Deletes a directory and its cached answers (administrators).
#[utoipa::path(delete, path = "/api/v1/directories/{name}", tag = "directories",
    params(("name" = String, Path, description = "directory name")),
    responses((status = 204, description = "deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn directory_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    axum::extract::Path(name): axum::extract::Path<String>,
) -> Result<axum::http::StatusCode, Problem> {
    c.require(Role::Admin)?;
    let r = s.app.directory_delete(&name).await;
    audited(&s, &c, "directory.delete", &name, "", r).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}

/// Query of a look-up.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LookupQuery {
    /// Ask again even where a cached answer stands.
    #[serde(default)]
    pub refresh: bool,
}

/// Asks the directories for an address's certificates and imports what they return into
/// the certificate store (as `certmail directory lookup --json`; operators).
#[utoipa::path(get, path = "/api/v1/directories/lookup/{email}", tag = "directories",
    params(("email" = String, Path, description = "e-mail address"), LookupQuery),
    responses((status = 200, body = Object), (status = 403, body = Problem)))]
pub async fn directory_lookup(
    State(s): State<Arc<Server>>,
    c: Caller,
    axum::extract::Path(email): axum::extract::Path<String>,
    ApiQuery(q): ApiQuery<LookupQuery>,
) -> Result<Json<serde_json::Value>, Problem> {
    c.require(Role::Operator)?;
    let r = s.app.directory_lookup(&email, q.refresh).await;
    let report = audited(&s, &c, "directory.lookup", &email, "", r).await?;
    Ok(Json(serde_json::to_value(report).unwrap_or_default()))
}
