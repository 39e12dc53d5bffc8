//! More of the CLI over the API: CRLs, the trust list, CAs and pending requests, users and
//! domains, deleting certificates. Changes are audited; errors are problem+json.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::ca::{CaInfo, PendingInfo};
use certmail_app::policy::{normalise_domain, normalise_email};
use certmail_app::trust::{CrlView, CtlView};
use certmail_pki::verify::CtlStatus;
use certmail_store::Party;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::api::{ApiJson, ApiQuery, audited};
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/api/v1/crls",
            get(crls)
                .post(crate::api_ca_more::crl_import)
                .layer(axum::extract::DefaultBodyLimit::max(64 << 20)),
        )
        .route(
            "/api/v1/crls/{sha256}",
            delete(delete_crl).get(crate::api_ca_more::crl_show),
        )
        .route("/api/v1/ctl", get(ctl))
        .route(
            "/api/v1/ctl/{thumbprint}",
            axum::routing::put(ctl_put).delete(ctl_delete),
        )
        .route("/api/v1/cas", get(cas).post(crate::api_ca::create))
        .route("/api/v1/ca/pending", get(pending))
        .route("/api/v1/ca/pending/{id}", delete(pending_delete))
        .route("/api/v1/users", get(users).post(user_add))
        .route("/api/v1/domains", get(domains).post(domain_add))
}

/// A list of one kind of object, described item by item in the OpenAPI document.
#[derive(Debug, Serialize, ToSchema)]
pub struct List<T: ToSchema> {
    /// The objects.
    pub items: Vec<T>,
    /// Where the next page starts (`offset`), when there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<usize>,
}

impl<T: ToSchema> List<T> {
    /// The whole (small, bounded by what administrators made) list.
    pub fn all(items: Vec<T>) -> List<T> {
        List {
            items,
            next_offset: None,
        }
    }

    /// The page `q` asks for of `all`.
    pub fn page(all: impl IntoIterator<Item = T>, q: &Page) -> List<T> {
        let limit = q.limit.unwrap_or(1_000).clamp(1, MAX_PAGE);
        let offset = q.offset.unwrap_or(0);
        let mut items: Vec<T> = all.into_iter().skip(offset).take(limit + 1).collect();
        let more = items.len() > limit;
        items.truncate(limit);
        List {
            items,
            next_offset: more.then_some(offset + limit),
        }
    }
}

/// Most objects in one list answer: every list is read page by page.
pub const MAX_PAGE: usize = 10_000;

/// A page of a list (`limit` default 1,000, at most 10,000).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Page {
    /// Objects to list (default 1,000; at most 10,000).
    pub limit: Option<usize>,
    /// Objects to skip; an answer with more names `next_offset`.
    pub offset: Option<usize>,
}

/// Deletes a certificate (either store) by SHA-256 thumbprint.
#[utoipa::path(delete, path = "/api/v1/certificates/{sha256}", tag = "certificates",
    params(("sha256" = String, Path, description = "SHA-256 thumbprint (or a unique prefix)")),
    responses((status = 204, description = "deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_certificate(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let r = match s.app.store_of(&sha256).await {
        Ok(k) => s.app.delete(k, &sha256).await.map(|_| ()),
        Err(e) => Err(e),
    };
    audited(&s, &c, "certificate.delete", &sha256, "", r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The CRL store (as `certmail crl list --json`).
#[utoipa::path(get, path = "/api/v1/crls", tag = "trust", params(Page), responses((status = 200, body = List<CrlView>)))]
pub async fn crls(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<List<CrlView>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::page(s.app.crls().await?, &q)))
}

/// Deletes a CRL by SHA-256 (prefix).
#[utoipa::path(delete, path = "/api/v1/crls/{sha256}", tag = "trust",
    params(("sha256" = String, Path, description = "SHA-256 of the CRL (or a unique prefix)")),
    responses((status = 204, description = "deleted"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete_crl(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let r = s.app.delete_crl(&sha256).await;
    audited(&s, &c, "crl.delete", &sha256, "", r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The trust list.
#[utoipa::path(get, path = "/api/v1/ctl", tag = "trust", params(Page), responses((status = 200, body = List<CtlView>)))]
pub async fn ctl(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<List<CtlView>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::page(s.app.ctl_views().await?, &q)))
}

/// A trust-list status.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CtlBody {
    /// `whitelisted` or `blacklisted`.
    pub status: String,
    /// Whitelisted even when expired.
    #[serde(default)]
    pub allow_expired: bool,
}

/// Whitelists or blacklists by SHA-512 thumbprint (or the SHA-256 of a stored certificate).
#[utoipa::path(put, path = "/api/v1/ctl/{thumbprint}", tag = "trust", request_body = CtlBody,
    params(("thumbprint" = String, Path, description = "SHA-512, or the SHA-256 of a stored certificate")),
    responses((status = 200, body = CtlView), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn ctl_put(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(t): Path<String>,
    ApiJson(b): ApiJson<CtlBody>,
) -> Result<Json<CtlView>, Problem> {
    c.require(Role::Operator)?;
    let status = match b.status.as_str() {
        "whitelisted" => CtlStatus::Whitelisted {
            allow_expired: b.allow_expired,
        },
        "blacklisted" => CtlStatus::Blacklisted,
        other => {
            return Err(Problem::bad_request(format!(
                "status {other:?}: whitelisted or blacklisted"
            )));
        }
    };
    let r = s.app.ctl_add(&t, status).await;
    let e = audited(&s, &c, "ctl.add", &t, &b.status, r).await?;
    Ok(Json(CtlView::from(&e)))
}

/// Removes a trust-list entry.
#[utoipa::path(delete, path = "/api/v1/ctl/{thumbprint}", tag = "trust",
    params(("thumbprint" = String, Path, description = "SHA-512, or the SHA-256 of a stored certificate")),
    responses((status = 204, description = "removed"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ctl_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(t): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let r = s.app.ctl_remove(&t).await;
    let removed = audited(&s, &c, "ctl.remove", &t, "", r).await?;
    if removed {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!("{t} is not on the trust list")))
    }
}

/// The CAs.
#[utoipa::path(get, path = "/api/v1/cas", tag = "ca", responses((status = 200, body = List<CaInfo>)))]
pub async fn cas(State(s): State<Arc<Server>>, c: Caller) -> Result<Json<List<CaInfo>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::all(s.app.cas().await?)))
}

/// The pending certificate requests.
#[utoipa::path(get, path = "/api/v1/ca/pending", tag = "ca", params(Page), responses((status = 200, body = List<PendingInfo>)))]
pub async fn pending(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<Page>,
) -> Result<Json<List<PendingInfo>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(List::page(s.app.pending_requests().await?, &q)))
}

/// Deletes a pending request.
#[utoipa::path(delete, path = "/api/v1/ca/pending/{id}", tag = "ca",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 204, description = "deleted"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn pending_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let id = crate::api_ca::request_id(&id)?;
    let r = s.app.ca_pending_delete(id).await;
    audited(&s, &c, "ca.pending.delete", &id.to_string(), "", r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Name search and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NameQuery {
    /// Names containing this.
    pub search: Option<String>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// Names, paged.
#[derive(Debug, Serialize, ToSchema)]
pub struct Names {
    /// The names.
    pub items: Vec<String>,
    /// The offset of the next page, when there is one.
    pub next_offset: Option<i64>,
}

async fn names(s: &Server, scope: &str, q: &NameQuery) -> Result<Names, Problem> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let offset = q.offset.unwrap_or(0).max(0);
    let mut items = s
        .app
        .parties(
            scope,
            q.search.as_deref().filter(|x| !x.is_empty()),
            limit + 1,
            offset,
        )
        .await?;
    let next_offset = (items.len() as i64 > limit).then_some(offset + limit);
    items.truncate(limit as usize);
    Ok(Names { items, next_offset })
}

/// The user objects.
#[utoipa::path(get, path = "/api/v1/users", tag = "settings", params(NameQuery), responses((status = 200, body = Names), (status = 400, body = Problem)))]
pub async fn users(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<NameQuery>,
) -> Result<Json<Names>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(names(&s, "user", &q).await?))
}

/// The domain objects.
#[utoipa::path(get, path = "/api/v1/domains", tag = "settings", params(NameQuery), responses((status = 200, body = Names), (status = 400, body = Problem)))]
pub async fn domains(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<NameQuery>,
) -> Result<Json<Names>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(names(&s, "domain", &q).await?))
}

/// A new user or domain.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NameBody {
    /// The e-mail address or domain (`example.com`, `*.example.com`).
    pub name: String,
}

/// Creates a user object.
#[utoipa::path(post, path = "/api/v1/users", tag = "settings", request_body = NameBody,
    responses((status = 201, body = NameBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn user_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Operator)?;
    let r = match normalise_email(&b.name) {
        Ok(e) => s.app.add_party(&Party::User(e.clone())).await.map(|_| e),
        Err(e) => Err(e),
    };
    let name = audited(&s, &c, "user.add", &b.name, "", r).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": name }))))
}

/// Creates a domain object.
#[utoipa::path(post, path = "/api/v1/domains", tag = "settings", request_body = NameBody,
    responses((status = 201, body = NameBody), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn domain_add(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<NameBody>,
) -> Result<(StatusCode, Json<Value>), Problem> {
    c.require(Role::Operator)?;
    let r = match normalise_domain(&b.name) {
        Ok(d) => s.app.add_party(&Party::Domain(d.clone())).await.map(|_| d),
        Err(e) => Err(e),
    };
    let name = audited(&s, &c, "domain.add", &b.name, "", r).await?;
    Ok((StatusCode::CREATED, Json(json!({ "name": name }))))
}
