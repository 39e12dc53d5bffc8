//! The JSON API under `/api/v1/`: the same use cases as the CLI, the same JSON fields as
//! its `--json` output, errors as problem+json. Every change is written to the audit log.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::policy::{
    Resolved, chain_for_domain, chain_for_user, normalise_domain, normalise_email,
};
use certmail_app::trust::Verdict;
use certmail_app::{App, AppError, CertView};
use certmail_pki::verify::Purpose;
use certmail_store::{AuditFilter, ExpiredFilter, KeyFilter, ListFilter, Party, SortBy, StoreKind};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::auth::Caller;
use crate::problem::Problem;

type ApiResult<T> = Result<Json<T>, Problem>;

/// Documents a JSON object whose fields are those of the CLI's `--json` output.
macro_rules! any_object {
    ($t:ty, $doc:expr) => {
        impl utoipa::PartialSchema for $t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .description(Some($doc))
                    .into()
            }
        }

        impl utoipa::ToSchema for $t {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($t))
            }
        }
    };
}
pub(crate) use any_object;

/// Query parameters whose errors are problem+json.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(v)| ApiQuery(v))
            .map_err(|e| Problem::bad_request(e.body_text()))
    }
}

/// A JSON body whose errors are problem+json.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| ApiJson(v))
            .map_err(|e| Problem::new(e.status(), e.body_text()))
    }
}

/// The API routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/me", get(me))
        .route("/api/v1/certificates", get(list_certificates))
        .route(
            "/api/v1/certificates/{sha256}",
            get(get_certificate).delete(crate::api_trust::delete_certificate),
        )
        .route("/api/v1/recipients/{email}", get(recipient))
        .route(
            "/api/v1/users/{email}/settings/{key}",
            get(user_get).put(user_put).delete(user_delete),
        )
        .route(
            "/api/v1/domains/{domain}/settings/{key}",
            get(domain_get).put(domain_put).delete(domain_delete),
        )
        .route(
            "/api/v1/global/settings/{key}",
            get(global_get).put(global_put).delete(global_delete),
        )
        .route("/api/v1/settings/definitions", get(setting_definitions))
        .route("/api/v1/audit", get(audit))
        .merge(crate::api_store::routes())
        .merge(crate::api_trust::routes())
        .merge(crate::api_select::routes())
        .merge(crate::api_jobs::routes())
        .merge(crate::api_jobs::directory_routes())
}

/// The caller's own account.
#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// Account name.
    pub name: String,
    /// `admin`, `operator` or `auditor`.
    pub role: String,
}

/// Who am I.
#[utoipa::path(get, path = "/api/v1/me", tag = "accounts",
    responses((status = 200, body = Me), (status = 401, body = Problem)))]
pub async fn me(c: Caller) -> Json<Me> {
    Json(Me {
        name: c.name,
        role: c.role.as_str().into(),
    })
}

/// Certificate list filters and paging.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CertQuery {
    /// Exact e-mail address (indexed).
    pub email: Option<String>,
    /// Substring of the subject or an e-mail address.
    pub search: Option<String>,
    /// `all` (default), `expired` or `unexpired` (also `true` / `false`).
    pub expired: Option<String>,
    /// `true`: only with a private key; `false`: only without.
    pub with_key: Option<bool>,
    /// `certificates` (default) or `roots`.
    pub store: Option<String>,
    /// Page size (default 50, at most 500).
    pub limit: Option<i64>,
    /// Rows to skip (a deep offset costs what it skips; prefer `cursor`).
    pub offset: Option<i64>,
    /// Keyset paging: the `next_cursor` of the page before (not with `offset`). Every page
    /// costs the same, however deep, and rows imported meanwhile neither repeat nor skip.
    pub cursor: Option<String>,
}

/// One page of certificates.
#[derive(Debug, Serialize, ToSchema)]
pub struct CertificatePage {
    /// The certificates, with the fields of `certmail cert list --json` (status, status_reason) and `ctl`.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Page size used.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// The offset of the next page, when there is one (paging by offset).
    pub next_offset: Option<i64>,
    /// The cursor of the next page, when there is one (pass it as `cursor`).
    pub next_cursor: Option<String>,
}

/// One page of a store, as the page and the API list it.
pub struct Listing {
    /// The certificates.
    pub items: Vec<Listed>,
    /// Page size used.
    pub limit: i64,
    /// Rows skipped.
    pub offset: i64,
    /// The offset of the next page.
    pub next_offset: Option<i64>,
    /// The cursor of the next page.
    pub next_cursor: Option<String>,
}

/// A certificate with its verdict and trust-list status, for lists.
pub struct Listed {
    /// The certificate.
    pub view: CertView,
    /// Its verdict now.
    pub verdict: Verdict,
    /// `whitelisted`, `blacklisted` or nothing.
    pub ctl: Option<String>,
}

/// Reads one page of a store with verdicts (shared by the page and the API).
pub async fn certificate_page(app: &App, q: &CertQuery) -> Result<Listing, Problem> {
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let offset = q.offset.unwrap_or(0).max(0);
    let after_id = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => None,
        Some(_) if offset > 0 => {
            return Err(Problem::bad_request("give cursor or offset, not both"));
        }
        Some(c) => Some(
            c.strip_prefix('c')
                .and_then(|n| n.parse::<i64>().ok())
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "cursor {c:?} is not one this server gave (use next_cursor)"
                    ))
                })?,
        ),
    };
    let kind = match q.store.as_deref() {
        None | Some("") | Some("certificates") => StoreKind::Certificates,
        Some("roots") => StoreKind::Roots,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "store {other:?} is not a store: use certificates or roots"
            )));
        }
    };
    let expired = match q.expired.as_deref() {
        None | Some("") | Some("all") => ExpiredFilter::All,
        Some("expired") | Some("true") => ExpiredFilter::Expired,
        Some("unexpired") | Some("false") => ExpiredFilter::Unexpired,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "expired={other:?}: use all, expired or unexpired"
            )));
        }
    };
    let now = certmail_app::now();
    let filter = ListFilter {
        email: q
            .email
            .as_deref()
            .filter(|e| !e.is_empty())
            .map(|e| e.trim().to_lowercase()),
        search: q.search.clone().filter(|s| !s.is_empty()),
        expired,
        key: match q.with_key {
            Some(true) => KeyFilter::WithKey,
            Some(false) => KeyFilter::WithoutKey,
            None => KeyFilter::Any,
        },
        sort: SortBy::Imported,
        descending: true,
        limit: Some(limit + 1),
        offset,
        after_id,
        now,
    };
    let mut rows = app.list(kind, &filter).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_offset = (more && after_id.is_none()).then_some(offset + limit);
    let next_cursor = more
        .then(|| rows.last().map(|r| format!("c{}", r.row_id)))
        .flatten();
    let ctl: HashMap<String, String> = app
        .ctl()
        .await?
        .into_iter()
        .map(|e| (e.sha512, e.status))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for view in rows {
        let verdict = app.verify_stored(&view, now, Purpose::Any, None).await?;
        let ctl = ctl.get(&view.cert.sha512).cloned();
        out.push(Listed { view, verdict, ctl });
    }
    Ok(Listing {
        items: out,
        limit,
        offset,
        next_offset,
        next_cursor,
    })
}

fn listed_json(l: &Listed) -> serde_json::Value {
    let mut v = serde_json::to_value(&l.view).unwrap_or_default();
    v["status"] = serde_json::Value::from(l.verdict.status);
    v["status_reason"] = serde_json::Value::from(l.verdict.reason.clone());
    v["ctl"] = l.ctl.clone().map_or(serde_json::Value::Null, Into::into);
    v
}

/// Certificates, filtered and paged on the server.
#[utoipa::path(get, path = "/api/v1/certificates", tag = "certificates", params(CertQuery),
    responses((status = 200, body = CertificatePage), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn list_certificates(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<CertQuery>,
) -> ApiResult<CertificatePage> {
    c.require(Role::Auditor)?;
    let l = certificate_page(&s.app, &q).await?;
    Ok(Json(CertificatePage {
        items: l.items.iter().map(listed_json).collect(),
        limit: l.limit,
        offset: l.offset,
        next_offset: l.next_offset,
        next_cursor: l.next_cursor,
    }))
}

/// A certificate as `certmail cert show --json`: every field, the verdict and the chain.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct CertificateDetail(pub serde_json::Value);

any_object!(
    CertificateDetail,
    "The fields of `certmail cert show --json`, with status, status_reason and chain (SHA-256 thumbprints, leaf first)."
);

/// The verdict and chain of a certificate (either store), by SHA-256 thumbprint or prefix.
pub async fn certificate_detail(app: &App, sha256: &str) -> Result<(CertView, Verdict), Problem> {
    let view = app.get_any(sha256).await?;
    let verdict = app
        .verify_stored(&view, certmail_app::now(), Purpose::Any, None)
        .await?;
    Ok((view, verdict))
}

/// One certificate.
#[utoipa::path(get, path = "/api/v1/certificates/{sha256}", tag = "certificates",
    params(("sha256" = String, Path, description = "SHA-256 thumbprint (or a unique prefix)")),
    responses((status = 200, body = CertificateDetail), (status = 404, body = Problem)))]
pub async fn get_certificate(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
) -> ApiResult<CertificateDetail> {
    c.require(Role::Auditor)?;
    let (view, vd) = certificate_detail(&s.app, &sha256).await?;
    let mut out = serde_json::to_value(&view).unwrap_or_default();
    out["status"] = serde_json::Value::from(vd.status);
    out["status_reason"] = serde_json::Value::from(vd.reason.clone());
    out["chain"] = serde_json::Value::from(vd.chain.clone());
    Ok(Json(CertificateDetail(out)))
}

/// What `certmail recipients --json` says of one address.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct RecipientJson(pub serde_json::Value);

any_object!(
    RecipientJson,
    "As `certmail recipients --json`: email, settings (key, value, source), encryption, encryption_excluded, signing, signing_excluded."
);

/// The resolved settings and certificates that would be used for an address.
#[utoipa::path(get, path = "/api/v1/recipients/{email}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address")),
    responses((status = 200, body = RecipientJson), (status = 400, body = Problem)))]
pub async fn recipient(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(email): Path<String>,
) -> ApiResult<RecipientJson> {
    c.require(Role::Auditor)?;
    let r = s.app.recipient(&email, certmail_app::now()).await?;
    Ok(Json(RecipientJson(
        serde_json::to_value(r).unwrap_or_default(),
    )))
}

/// A setting's effective value and where it comes from.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingValue {
    /// Key.
    pub key: String,
    /// Effective value (`(set)` for a secret).
    pub value: String,
    /// `user`, `domain example.com`, `global` or `default`.
    pub source: String,
    /// Whether the value is inherited (not set on this object).
    pub inherited: bool,
}

/// A new value.
#[derive(Debug, Deserialize, ToSchema)]
pub struct SettingBody {
    /// The value (one of the setting's values).
    pub value: String,
}

fn chain_of(p: &Party) -> Vec<Party> {
    match p {
        Party::Global => vec![Party::Global],
        Party::Domain(d) => chain_for_domain(d),
        Party::User(u) => chain_for_user(u),
    }
}

/// Every setting of a party resolved along its inheritance chain (one query), in the order
/// of `SETTINGS`: the effective value, where it comes from, whether it is inherited.
/// `reveal`: the caller may see credentials in URL settings (operators and admins);
/// auditors see them masked.
pub async fn resolved_settings(
    app: &App,
    p: &Party,
    reveal: bool,
) -> Result<Vec<SettingValue>, Problem> {
    let own = certmail_app::policy::source_of(p);
    Ok(app
        .resolve_chain(&chain_of(p))
        .await?
        .into_iter()
        .map(|r: Resolved| SettingValue {
            inherited: r.source != own,
            key: r.key.into(),
            value: certmail_app::policy::shown_value(r.key, &r.value, reveal),
            source: r.source,
        })
        .collect())
}

/// The effective value of one setting of a party (see [`resolved_settings`] for `reveal`).
pub async fn resolved_setting(
    app: &App,
    p: &Party,
    key: &str,
    reveal: bool,
) -> Result<SettingValue, Problem> {
    resolved_settings(app, p, reveal)
        .await?
        .into_iter()
        .find(|r| r.key == key)
        .ok_or_else(|| {
            Problem::not_found(format!(
                "unknown setting {key:?}; known: {}",
                certmail_app::policy::SETTINGS
                    .iter()
                    .map(|d| d.key)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })
}

fn user(email: &str) -> Result<Party, Problem> {
    Ok(Party::User(normalise_email(email)?))
}

fn domain(d: &str) -> Result<Party, Problem> {
    Ok(Party::Domain(normalise_domain(d)?))
}

/// Runs a change, writes its audit entry (outcome included) and returns its result.
pub async fn audited<T>(
    s: &Server,
    c: &Caller,
    action: &str,
    object: &str,
    detail: &str,
    r: Result<T, AppError>,
) -> Result<T, Problem> {
    audited_as(s, c, action, object, detail, r, Problem::from).await
}

/// [`audited`] with the caller's own mapping of the error to a problem (its status).
pub async fn audited_as<T>(
    s: &Server,
    c: &Caller,
    action: &str,
    object: &str,
    detail: &str,
    r: Result<T, AppError>,
    problem: impl FnOnce(AppError) -> Problem,
) -> Result<T, Problem> {
    s.app
        .audited(&c.actor(), action, object, detail, r)
        .await
        .map_err(problem)
}

/// The audit detail of a setting change: a secret as `(secret)`, credentials in URLs
/// masked (the audit log is read by auditors).
pub(crate) fn setting_detail(key: &str, value: &str) -> String {
    let secret = certmail_app::policy::SETTINGS
        .iter()
        .any(|d| d.key == key && d.secret);
    if secret {
        format!("{key} = (secret)")
    } else {
        format!(
            "{key} = {}",
            certmail_app::policy::shown_value(key, value, false)
        )
    }
}

/// Who may change a party's settings: operators for users and domains, administrators
/// for the global settings and for a top-level domain (`com`, `*.com`), which reaches as
/// far as the global settings do.
pub(crate) fn require_for_party(c: &Caller, p: &Party) -> Result<(), Problem> {
    match p {
        Party::Global => c.require(Role::Admin),
        Party::Domain(d) if !d.trim_start_matches("*.").contains('.') => {
            c.require(Role::Admin).map_err(|_| {
                Problem::forbidden(format!(
                    "{d} is a top-level domain: its settings reach as far as the global ones, so only an administrator changes them"
                ))
            })
        }
        _ => c.require(Role::Operator),
    }
}

async fn put_setting(
    s: &Server,
    c: &Caller,
    p: Party,
    key: &str,
    value: &str,
) -> ApiResult<SettingValue> {
    require_for_party(c, &p)?;
    let detail = setting_detail(key, value);
    let r = s.app.set_setting(&p, key, value).await;
    audited(s, c, "setting.set", &own_object(&p), &detail, r).await?;
    Ok(Json(
        resolved_setting(&s.app, &p, key, c.role >= Role::Operator).await?,
    ))
}

async fn delete_setting(s: &Server, c: &Caller, p: Party, key: &str) -> ApiResult<SettingValue> {
    require_for_party(c, &p)?;
    let r = s.app.unset_setting(&p, key).await;
    audited(s, c, "setting.unset", &own_object(&p), key, r).await?;
    Ok(Json(
        resolved_setting(&s.app, &p, key, c.role >= Role::Operator).await?,
    ))
}

fn own_object(p: &Party) -> String {
    match p {
        Party::Global => "global".into(),
        Party::Domain(d) => d.clone(),
        Party::User(u) => u.clone(),
    }
}

/// A user's setting.
#[utoipa::path(get, path = "/api/v1/users/{email}/settings/{key}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 404, body = Problem)))]
pub async fn user_get(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((email, key)): Path<(String, String)>,
) -> ApiResult<SettingValue> {
    c.require(Role::Auditor)?;
    Ok(Json(
        resolved_setting(&s.app, &user(&email)?, &key, c.role >= Role::Operator).await?,
    ))
}

/// Sets a user's setting.
#[utoipa::path(put, path = "/api/v1/users/{email}/settings/{key}", tag = "settings", request_body = SettingBody,
    params(("email" = String, Path, description = "e-mail address"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn user_put(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((email, key)): Path<(String, String)>,
    ApiJson(b): ApiJson<SettingBody>,
) -> ApiResult<SettingValue> {
    c.require(Role::Operator)?;
    put_setting(&s, &c, user(&email)?, &key, &b.value).await
}

/// Resets a user's setting to inherit.
#[utoipa::path(
    operation_id = "user_setting_delete",delete, path = "/api/v1/users/{email}/settings/{key}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 403, body = Problem)))]
pub async fn user_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((email, key)): Path<(String, String)>,
) -> ApiResult<SettingValue> {
    c.require(Role::Operator)?;
    delete_setting(&s, &c, user(&email)?, &key).await
}

/// A domain's setting.
#[utoipa::path(get, path = "/api/v1/domains/{domain}/settings/{key}", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 404, body = Problem)))]
pub async fn domain_get(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((d, key)): Path<(String, String)>,
) -> ApiResult<SettingValue> {
    c.require(Role::Auditor)?;
    Ok(Json(
        resolved_setting(&s.app, &domain(&d)?, &key, c.role >= Role::Operator).await?,
    ))
}

/// Sets a domain's setting.
#[utoipa::path(put, path = "/api/v1/domains/{domain}/settings/{key}", tag = "settings", request_body = SettingBody,
    params(("domain" = String, Path, description = "domain or *.domain"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn domain_put(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((d, key)): Path<(String, String)>,
    ApiJson(b): ApiJson<SettingBody>,
) -> ApiResult<SettingValue> {
    c.require(Role::Operator)?;
    put_setting(&s, &c, domain(&d)?, &key, &b.value).await
}

/// Resets a domain's setting to inherit.
#[utoipa::path(
    operation_id = "domain_setting_delete",delete, path = "/api/v1/domains/{domain}/settings/{key}", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain"), ("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 403, body = Problem)))]
pub async fn domain_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path((d, key)): Path<(String, String)>,
) -> ApiResult<SettingValue> {
    c.require(Role::Operator)?;
    delete_setting(&s, &c, domain(&d)?, &key).await
}

/// One setting as the settings table defines it (`crates/app/src/settings.rs`).
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingDefinition {
    /// The key, as `PUT .../settings/{key}` takes it.
    pub key: String,
    /// `choice` (one of `values`), `text` (checked free text) or `secret` (stored
    /// encrypted, never shown).
    #[serde(rename = "type")]
    pub kind: String,
    /// The allowed values of a choice.
    pub values: Vec<String>,
    /// The factory default.
    pub default: String,
    /// Where it may be set: `all` (users, domains, global), `global` or `user`.
    pub scope: String,
    /// A short label for people.
    pub label: String,
    /// What it does.
    pub help: String,
    /// What it is about: general, encryption, signing, incoming, certificates, delivery,
    /// network.
    pub group: String,
}

/// Every setting: its type, values, default, scope, label, help and group.
#[utoipa::path(get, path = "/api/v1/settings/definitions", tag = "settings",
    responses((status = 200, body = [SettingDefinition])))]
pub async fn setting_definitions(c: Caller) -> ApiResult<Vec<SettingDefinition>> {
    c.require(Role::Auditor)?;
    let name = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
    Ok(Json(
        certmail_app::settings::SETTINGS
            .iter()
            .map(|d| SettingDefinition {
                key: d.key.into(),
                kind: d.kind().into(),
                values: d.values.iter().map(|v| (*v).to_owned()).collect(),
                default: d.default.into(),
                scope: name(serde_json::json!(d.scope)),
                label: d.label.into(),
                help: d.help.into(),
                group: name(serde_json::json!(d.group)),
            })
            .collect(),
    ))
}

/// A global setting.
#[utoipa::path(get, path = "/api/v1/global/settings/{key}", tag = "settings",
    params(("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 404, body = Problem)))]
pub async fn global_get(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(key): Path<String>,
) -> ApiResult<SettingValue> {
    c.require(Role::Auditor)?;
    Ok(Json(
        resolved_setting(&s.app, &Party::Global, &key, c.role >= Role::Operator).await?,
    ))
}

/// Sets a global setting (admin only).
#[utoipa::path(put, path = "/api/v1/global/settings/{key}", tag = "settings", request_body = SettingBody,
    params(("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 400, body = Problem), (status = 403, body = Problem)))]
pub async fn global_put(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(key): Path<String>,
    ApiJson(b): ApiJson<SettingBody>,
) -> ApiResult<SettingValue> {
    c.require(Role::Admin)?;
    put_setting(&s, &c, Party::Global, &key, &b.value).await
}

/// Resets a global setting to the factory default (admin only).
#[utoipa::path(delete, path = "/api/v1/global/settings/{key}", tag = "settings",
    params(("key" = String, Path, description = "setting")),
    responses((status = 200, body = SettingValue), (status = 403, body = Problem)))]
pub async fn global_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(key): Path<String>,
) -> ApiResult<SettingValue> {
    c.require(Role::Admin)?;
    delete_setting(&s, &c, Party::Global, &key).await
}

/// Audit log query.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Entries at or after this time: Unix seconds, RFC 3339, a date (`2026-11-01`) or
    /// days ago (`7d`), as `certmail audit --since`.
    pub since: Option<String>,
    /// Only this account.
    pub account: Option<String>,
    /// Only actions starting with this.
    pub action: Option<String>,
    /// Entries older than this id (the `next_before` of the previous page).
    pub before: Option<i64>,
    /// Page size (default 100, at most 1000).
    pub limit: Option<i64>,
}

/// One page of the audit log, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// Entries: id, at, account, role, address, action, object, outcome, detail.
    pub items: Vec<certmail_app::admin::AuditEntry>,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

/// Reads a page of the audit log (shared with the page).
pub async fn audit_page(
    app: &App,
    q: &AuditQuery,
) -> Result<(Vec<certmail_app::admin::AuditEntry>, Option<i64>), Problem> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let since = match q.since.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => None,
        Some(t) => Some(match t.parse::<i64>() {
            Ok(unix) => unix,
            Err(_) => certmail_app::admin::parse_since(t, certmail_app::now())
                .map_err(Problem::bad_request)?,
        }),
    };
    let mut rows = app
        .audit_entries(&AuditFilter {
            since,
            account: q.account.clone().filter(|a| !a.is_empty()),
            action: q.action.clone().filter(|a| !a.is_empty()),
            before_id: q.before,
            limit: limit + 1,
        })
        .await?;
    let next = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].id);
    rows.truncate(limit as usize);
    Ok((rows, next))
}

/// The audit log.
#[utoipa::path(get, path = "/api/v1/audit", tag = "accounts", params(AuditQuery),
    responses((status = 200, body = AuditPage), (status = 401, body = Problem)))]
pub async fn audit(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<AuditPage> {
    c.require(Role::Auditor)?;
    let (rows, next_before) = audit_page(&s.app, &q).await?;
    Ok(Json(AuditPage {
        items: rows,
        next_before,
    }))
}
