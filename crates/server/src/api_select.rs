//! Certificate selections over the API: the encryption, signing and additional
//! certificates chosen by hand for a user, a domain or everyone (the automatic ones follow
//! from the `auto-select` setting and are shown by `GET /api/v1/recipients/{email}`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::policy::{normalise_domain, normalise_email};
use certmail_store::{Party, SelectionKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::Server;
use crate::api::audited;
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/users/{email}/selections", get(user_list))
        .route(
            "/api/v1/users/{email}/selections/{kind}/{sha256}",
            put(user_add).delete(user_remove),
        )
        .route("/api/v1/domains/{domain}/selections", get(domain_list))
        .route(
            "/api/v1/domains/{domain}/selections/{kind}/{sha256}",
            put(domain_add).delete(domain_remove),
        )
        .route("/api/v1/global/selections", get(global_list))
        .route(
            "/api/v1/global/selections/{kind}/{sha256}",
            put(global_add).delete(global_remove),
        )
}

/// A party's own selections (SHA-256 thumbprints).
#[derive(Debug, Serialize, ToSchema)]
pub struct Selections {
    /// Encryption certificates chosen by hand.
    pub encryption: Vec<String>,
    /// The signing certificate chosen by hand (users only).
    pub signing: Vec<String>,
    /// Additional (escrow) certificates every message to this party is also encrypted to.
    pub additional: Vec<String>,
}

/// Parses a selection kind.
pub fn kind(k: &str) -> Result<SelectionKind, Problem> {
    match k {
        "encryption" => Ok(SelectionKind::Encryption),
        "signing" => Ok(SelectionKind::Signing),
        "additional" => Ok(SelectionKind::Additional),
        other => Err(Problem::bad_request(format!(
            "selection kind {other:?}: encryption, signing or additional"
        ))),
    }
}

/// A party's own selections.
pub async fn list(s: &Server, p: &Party) -> Result<Selections, Problem> {
    Ok(Selections {
        encryption: s.app.selections(p, SelectionKind::Encryption).await?,
        signing: s.app.selections(p, SelectionKind::Signing).await?,
        additional: s.app.selections(p, SelectionKind::Additional).await?,
    })
}

/// Adds a selection (audited).
pub async fn add(
    s: &Server,
    c: &Caller,
    p: &Party,
    object: &str,
    k: &str,
    sha256: &str,
) -> Result<Selections, Problem> {
    let kind = kind(k)?;
    let r = s.app.select(p, kind, sha256).await.map(|_| ());
    audited(s, c, "select.add", object, &format!("{k} {sha256}"), r).await?;
    list(s, p).await
}

/// Removes a selection (audited); nothing removed is a 404.
pub async fn remove(
    s: &Server,
    c: &Caller,
    p: &Party,
    object: &str,
    k: &str,
    sha256: &str,
) -> Result<(), Problem> {
    let kind = kind(k)?;
    let r = s.app.deselect(p, kind, Some(sha256)).await;
    let n = audited(s, c, "select.remove", object, &format!("{k} {sha256}"), r).await?;
    if n == 0 {
        return Err(Problem::not_found(format!(
            "{sha256} is not a {k} selection of {object}"
        )));
    }
    Ok(())
}

fn user(e: &str) -> Result<Party, Problem> {
    Ok(Party::User(normalise_email(e)?))
}

fn domain(d: &str) -> Result<Party, Problem> {
    Ok(Party::Domain(normalise_domain(d)?))
}

/// A user's own selections.
#[utoipa::path(get, path = "/api/v1/users/{email}/selections", tag = "settings",
    params(("email" = String, Path, description = "e-mail address")),
    responses((status = 200, body = Selections), (status = 400, body = Problem)))]
pub async fn user_list(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(e): Path<String>,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(list(&s, &user(&e)?).await?))
}

/// Selects a certificate for a user (`encryption`, `signing` or `additional`).
#[utoipa::path(
    operation_id = "user_selection_add",put, path = "/api/v1/users/{email}/selections/{kind}/{sha256}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address"), ("kind" = String, Path, description = "encryption, signing or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 200, body = Selections), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn user_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((e, k, sha)): Path<(String, String, String)>,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Operator)?;
    let p = user(&e)?;
    Ok(Json(add(&s, &c, &p, &e.to_lowercase(), &k, &sha).await?))
}

/// Removes a user's selection.
#[utoipa::path(delete, path = "/api/v1/users/{email}/selections/{kind}/{sha256}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address"), ("kind" = String, Path, description = "encryption, signing or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 204, description = "removed"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn user_remove(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((e, k, sha)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let p = user(&e)?;
    remove(&s, &c, &p, &e.to_lowercase(), &k, &sha).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A domain's own selections.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/selections", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain")),
    responses((status = 200, body = Selections), (status = 400, body = Problem)))]
pub async fn domain_list(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(d): Path<String>,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(list(&s, &domain(&d)?).await?))
}

/// Selects a certificate for a domain (`encryption` or `additional`).
#[utoipa::path(
    operation_id = "domain_selection_add",put, path = "/api/v1/domains/{domain}/selections/{kind}/{sha256}", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain"), ("kind" = String, Path, description = "encryption or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 200, body = Selections), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn domain_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((d, k, sha)): Path<(String, String, String)>,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Operator)?;
    let p = domain(&d)?;
    Ok(Json(add(&s, &c, &p, &d.to_lowercase(), &k, &sha).await?))
}

/// Removes a domain's selection.
#[utoipa::path(delete, path = "/api/v1/domains/{domain}/selections/{kind}/{sha256}", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain"), ("kind" = String, Path, description = "encryption or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 204, description = "removed"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn domain_remove(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((d, k, sha)): Path<(String, String, String)>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let p = domain(&d)?;
    remove(&s, &c, &p, &d.to_lowercase(), &k, &sha).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The global selections (additional certificates for everyone).
#[utoipa::path(get, path = "/api/v1/global/selections", tag = "settings", responses((status = 200, body = Selections)))]
pub async fn global_list(
    State(s): State<Arc<Server>>,
    c: Caller,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(list(&s, &Party::Global).await?))
}

/// Adds a global selection (admin only).
#[utoipa::path(put, path = "/api/v1/global/selections/{kind}/{sha256}", tag = "settings",
    params(("kind" = String, Path, description = "encryption or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 200, body = Selections), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn global_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((k, sha)): Path<(String, String)>,
) -> Result<Json<Selections>, Problem> {
    c.require(Role::Admin)?;
    Ok(Json(add(&s, &c, &Party::Global, "global", &k, &sha).await?))
}

/// Removes a global selection (admin only).
#[utoipa::path(delete, path = "/api/v1/global/selections/{kind}/{sha256}", tag = "settings",
    params(("kind" = String, Path, description = "encryption or additional"), ("sha256" = String, Path, description = "certificate")),
    responses((status = 204, description = "removed"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn global_remove(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((k, sha)): Path<(String, String)>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Admin)?;
    remove(&s, &c, &Party::Global, "global", &k, &sha).await?;
    Ok(StatusCode::NO_CONTENT)
}
