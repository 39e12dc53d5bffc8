//! The rest of the CA and CRL commands over the API: CRL import and one CRL with its
//! entries (`crl import`, `crl show`), importing an existing CA and choosing the default CA
//! (`ca import`, `ca default`), requests through a request handler, signing an external CSR
//! and bulk CSV issuance (`ca request`, `ca sign-csr`, `ca bulk`), renewing a certificate
//! and refreshing a self-signed domain certificate (`ca renew`, `ca refresh`). Every change
//! is audited.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use axum::routing::{post, put};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::ca::{BuiltIn, CsrHandler, HandlerOutcome, RequestHandler};
use certmail_ca::{EndUserRequest, KeySpec, SigHash};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use zeroize::Zeroizing;

use crate::Server;
use crate::api::{ApiJson, ApiQuery, audited};
use certmail_app::ca::CaInfo;

use crate::api_trust::List;
use crate::auth::Caller;
use crate::problem::{Problem, upload_error};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    // `POST /api/v1/crls` and `GET /api/v1/crls/{sha256}` are routed beside their
    // neighbours in `api_trust`.
    Router::new()
        .route(
            "/api/v1/cas/import",
            post(ca_import).layer(DefaultBodyLimit::max(1 << 20)),
        )
        .route("/api/v1/cas/{ca}/default", put(ca_default))
        .route("/api/v1/ca/request", post(request))
        .route(
            "/api/v1/ca/sign-csr",
            post(sign_csr).layer(DefaultBodyLimit::max(64 << 10)),
        )
        .route(
            "/api/v1/ca/bulk",
            post(bulk).layer(DefaultBodyLimit::max(16 << 20)),
        )
        .route("/api/v1/ca/renew/{sha256}", post(renew))
        .route("/api/v1/ca/refresh/{sha256}", post(refresh))
}

fn bad(e: impl std::fmt::Display) -> Problem {
    Problem::bad_request(e.to_string())
}

/// Imports CRLs (PEM, one or several, or DER, as the body), as `certmail crl import --json`:
/// each is checked and kept; the newest valid one per issuer is in use.
#[utoipa::path(post, path = "/api/v1/crls", tag = "trust",
    request_body(content = String, content_type = "application/pkix-crl", description = "one DER CRL or PEM CRLs"),
    responses((status = 201, body = List<certmail_app::trust::CrlReport>, description = "per CRL: status, sha256, issuer, number, problem"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem)))]
pub async fn crl_import(
    State(s): State<Arc<Server>>,
    c: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<List<certmail_app::trust::CrlReport>>), Problem> {
    c.require(Role::Operator)?;
    let parsed = certmail_app::trust::parse_crl_file(&body)
        .map_err(|e| certmail_app::AppError::Invalid(format!("the upload: {e}")));
    let crls = audited(&s, &c, "crl.import", "upload", "", parsed).await?;
    let mut items = Vec::new();
    for crl in crls {
        let r = s.app.import_crl(crl).await;
        let detail = r.as_ref().map(|x| x.sha256.clone()).unwrap_or_default();
        let i = audited(&s, &c, "crl.import", "upload", &detail, r).await?;
        items.push(i);
    }
    Ok((StatusCode::CREATED, Json(List::all(items))))
}

/// How many entries of a CRL to list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CrlQuery {
    /// Entries to list, by serial (default 1,000; at most 10,000).
    pub limit: Option<usize>,
    /// Entries to skip (by serial order); the answer's `next_offset` continues.
    pub offset: Option<usize>,
}

/// Most CRL entries in one answer: a CRL of millions of entries is read page by page.
pub const MAX_CRL_ENTRIES: usize = 10_000;

/// One CRL (by SHA-256 or a unique prefix) as `certmail crl show --json`: the fields of the
/// list, `revoked` (serial, date, reason; sorted by serial, a page of at most `limit` from
/// `offset`), `revoked_total` and `next_offset` (null on the last page).
#[utoipa::path(get, path = "/api/v1/crls/{sha256}", tag = "trust",
    params(("sha256" = String, Path, description = "SHA-256 of the CRL (or a unique prefix)"), CrlQuery),
    responses((status = 200, body = Object), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn crl_show(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
    ApiQuery(q): ApiQuery<CrlQuery>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Auditor)?;
    let limit = q.limit.unwrap_or(1_000).clamp(1, MAX_CRL_ENTRIES);
    let offset = q.offset.unwrap_or(0);
    let (view, crl) = s.app.crl(&sha256).await?;
    let mut entries: Vec<_> = crl.entries.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let revoked: Vec<Value> = entries
        .iter()
        .skip(offset)
        .take(limit)
        .map(|(serial, e)| json!({"serial": hex_of(serial), "date": certmail_pki::time::format_rfc3339(e.date), "reason": e.reason}))
        .collect();
    let mut v = serde_json::to_value(&view).unwrap_or_default();
    v["revoked"] = Value::from(revoked);
    v["revoked_total"] = Value::from(entries.len());
    v["next_offset"] = if offset.saturating_add(limit) < entries.len() {
        Value::from(offset + limit)
    } else {
        Value::Null
    };
    Ok(Json(v))
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Imports an existing CA (admin), as `certmail ca import`: multipart with `cert` (its
/// certificate, PEM, DER or PKCS#12), `key` (its key; may be left out when `cert` is a
/// PKCS#12 holding both), `password`, `sig` (sha256, sha384, sha512) and `default`
/// (`true`). The key is sealed in the key store.
#[utoipa::path(post, path = "/api/v1/cas/import", tag = "ca",
    request_body(content = String, content_type = "multipart/form-data", description = "parts cert, key, password, sig, default"),
    responses((status = 201, body = CaInfo, description = "the CA, as listed by GET /api/v1/cas"), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 413, body = Problem)))]
pub async fn ca_import(
    State(s): State<Arc<Server>>,
    c: Caller,
    crate::api_store::ApiMultipart(mut form): crate::api_store::ApiMultipart,
) -> Result<(StatusCode, Json<CaInfo>), Problem> {
    c.require(Role::Admin)?;
    let (mut cert, mut key) = (Vec::new(), Vec::new());
    let mut password: Option<Zeroizing<String>> = None;
    let (mut sig, mut default) = ("sha256".to_owned(), false);
    while let Some(field) = form.next_field().await.map_err(upload_error)? {
        match field.name().unwrap_or_default() {
            "cert" => cert = field.bytes().await.map_err(upload_error)?.to_vec(),
            "key" => key = field.bytes().await.map_err(upload_error)?.to_vec(),
            "password" => {
                let t = Zeroizing::new(field.text().await.map_err(upload_error)?);
                password = (!t.is_empty()).then_some(t);
            }
            "sig" => sig = field.text().await.map_err(upload_error)?,
            "default" => default = field.text().await.map_err(upload_error)? == "true",
            other => {
                return Err(bad(format!(
                    "unknown form field {other:?}: use cert, key, password, sig and default"
                )));
            }
        }
    }
    if cert.is_empty() {
        return Err(bad("no `cert` part: send the CA's certificate"));
    }
    let hash = SigHash::parse(&sig).map_err(bad)?;
    let key_file = if key.is_empty() { &cert } else { &key };
    let r = s
        .app
        .ca_import_files(
            &cert,
            key_file,
            password.as_ref().map(|p| p.as_str()),
            hash,
            default,
        )
        .await;
    let detail = r.as_ref().map(|x| x.name.clone()).unwrap_or_default();
    let row = audited(&s, &c, "ca.import", "upload", &detail, r).await?;
    Ok((StatusCode::CREATED, Json(CaInfo::from(&row))))
}

/// Makes a CA the default (admin), as `certmail ca default`.
#[utoipa::path(put, path = "/api/v1/cas/{ca}/default", tag = "ca",
    params(("ca" = String, Path, description = "CA id or name")),
    responses((status = 200, body = CaInfo, description = "the CA"), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn ca_default(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(ca): Path<String>,
) -> Result<Json<CaInfo>, Problem> {
    c.require(Role::Admin)?;
    let r = s.app.ca_set_default(&ca).await;
    let row = audited(&s, &c, "ca.default", &ca, "", r).await?;
    Ok(Json(CaInfo::from(&row)))
}

fn rsa2048() -> String {
    "rsa2048".into()
}

fn sha256() -> String {
    "sha256".into()
}

fn two_years() -> u32 {
    730
}

/// A request through a request handler (as `certmail ca request`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RequestBody {
    /// `csr` (key and PKCS#10 request into the pending queue) or `built-in` (issued at
    /// once); default: the CA configuration's request-handler.
    pub handler: Option<String>,
    /// E-mail address.
    pub email: String,
    /// Common name.
    pub cn: String,
    /// Organisation.
    pub org: Option<String>,
    /// Key type (rsa2048).
    #[serde(default = "rsa2048")]
    pub key: String,
    /// Signature hash (sha256).
    #[serde(default = "sha256")]
    pub sig: String,
    /// Validity in days for the built-in handler (730).
    #[serde(default = "two_years")]
    pub days: u32,
    /// CA id or name for the built-in handler (default CA).
    #[serde(default)]
    pub ca: String,
}

/// What a request handler did.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequestOutcome {
    /// `issued` or `pending`.
    pub status: &'static str,
    /// The certificate issued (SHA-256).
    pub sha256: Option<String>,
    /// The pending request's id (its CSR at `GET /api/v1/ca/pending/{id}/csr`).
    pub pending: Option<i64>,
}

/// Requests a certificate through a request handler: `201` when issued, `202` when it
/// waits in the pending queue for an external CA.
#[utoipa::path(post, path = "/api/v1/ca/request", tag = "ca", request_body = RequestBody,
    responses((status = 201, body = RequestOutcome), (status = 202, body = RequestOutcome), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn request(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<RequestBody>,
) -> Result<(StatusCode, Json<RequestOutcome>), Problem> {
    c.require(Role::Operator)?;
    if !(1..=3650).contains(&b.days) {
        return Err(bad("days is 1 to 3650"));
    }
    let req = EndUserRequest {
        email: b.email.trim().to_owned(),
        cn: b.cn.trim().to_owned(),
        org: b.org.clone().filter(|o| !o.trim().is_empty()),
        first_name: None,
        last_name: None,
        days: b.days,
        key: KeySpec::parse(&b.key).map_err(bad)?,
        hash: SigHash::parse(&b.sig).map_err(bad)?,
        crl_url: None,
    };
    let handler = match &b.handler {
        Some(h) => h.clone(),
        None => s.app.ca_config().await?.request_handler,
    };
    let r = match handler.as_str() {
        "csr" => CsrHandler.submit(&s.app, &b.ca, &req).await,
        "built-in" => BuiltIn.submit(&s.app, &b.ca, &req).await,
        other => {
            return Err(bad(format!(
                "unknown request handler {other:?}: use csr or built-in"
            )));
        }
    };
    let detail = match &r {
        Ok(HandlerOutcome::Issued(v)) => v.cert.sha256.clone(),
        Ok(HandlerOutcome::Pending(id)) => format!("pending {id}"),
        Err(_) => String::new(),
    };
    let out = audited(&s, &c, "ca.request", &req.email, &detail, r).await?;
    Ok(match out {
        HandlerOutcome::Issued(v) => (
            StatusCode::CREATED,
            Json(RequestOutcome {
                status: "issued",
                sha256: Some(v.cert.sha256),
                pending: None,
            }),
        ),
        HandlerOutcome::Pending(id) => (
            StatusCode::ACCEPTED,
            Json(RequestOutcome {
                status: "pending",
                sha256: None,
                pending: Some(id),
            }),
        ),
    })
}

/// Parameters of `POST /api/v1/ca/sign-csr`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignCsrQuery {
    /// E-mail address (default: from the CSR).
    pub email: Option<String>,
    /// Validity in days (730).
    pub days: Option<u32>,
    /// CA id or name (default CA).
    pub ca: Option<String>,
}

/// A certificate issued from a CSR.
#[derive(Debug, Serialize, ToSchema)]
pub struct Signed {
    /// SHA-256.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// The certificate, PEM.
    pub pem: String,
}

/// Signs an external PKCS#10 request (PEM or DER as the body; its self-signature is
/// verified first), as `certmail ca sign-csr`.
#[utoipa::path(post, path = "/api/v1/ca/sign-csr", tag = "ca", params(SignCsrQuery),
    request_body(content = String, content_type = "application/pkcs10", description = "the CSR, PEM or DER"),
    responses((status = 201, body = Signed), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 413, body = Problem)))]
pub async fn sign_csr(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<SignCsrQuery>,
    body: Bytes,
) -> Result<(StatusCode, Json<Signed>), Problem> {
    c.require(Role::Operator)?;
    let days = q.days.unwrap_or(730);
    if !(1..=3650).contains(&days) {
        return Err(bad("days is 1 to 3650"));
    }
    let r = s
        .app
        .ca_sign_csr(
            q.ca.as_deref().unwrap_or_default(),
            &body,
            q.email.as_deref(),
            days,
            &c.name,
        )
        .await;
    let detail = r
        .as_ref()
        .map(|v| v.cert.sha256.clone())
        .unwrap_or_default();
    let v = audited(&s, &c, "ca.sign-csr", "csr", &detail, r).await?;
    Ok((
        StatusCode::CREATED,
        Json(Signed {
            pem: v.cert.to_pem(),
            sha256: v.cert.sha256,
            subject: v.cert.subject,
        }),
    ))
}

/// Parameters of `POST /api/v1/ca/bulk`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BulkQuery {
    /// Parse and validate only; issue nothing.
    #[serde(default)]
    pub preview: bool,
    /// CA id or name (default CA).
    pub ca: Option<String>,
    /// Key type (rsa2048).
    pub key: Option<String>,
    /// Signature hash (sha256).
    pub sig: Option<String>,
    /// Validity in days (730).
    pub days: Option<u32>,
    /// Maximum rows (10,000).
    pub max_rows: Option<usize>,
}

/// Bulk requests from CSV (the body; the first row names the columns), as `certmail ca bulk
/// --json`: `rows`, `issued`, `skipped` (the address already has a valid signing
/// certificate), `failed` and `row_errors` (naming line and column). With `preview=true`
/// nothing is issued. The answer comes when every row is done (the web page runs the same
/// in the background with a progress view).
#[utoipa::path(post, path = "/api/v1/ca/bulk", tag = "ca", params(BulkQuery),
    request_body(content = String, content_type = "text/csv", description = "the CSV"),
    responses((status = 200, body = Object, description = "the report"), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 413, body = Problem)))]
pub async fn bulk(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<BulkQuery>,
    body: Bytes,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Operator)?;
    let days = q.days.unwrap_or(730);
    if !(1..=3650).contains(&days) {
        return Err(bad("days is 1 to 3650"));
    }
    let opts = certmail_app::ca::BulkOptions {
        ca: q.ca.clone().unwrap_or_default(),
        key: KeySpec::parse(q.key.as_deref().unwrap_or("rsa2048")).map_err(bad)?,
        hash: SigHash::parse(q.sig.as_deref().unwrap_or("sha256")).map_err(bad)?,
        days,
        preview: q.preview,
        limits: certmail_ca::csv::Limits {
            max_rows: q.max_rows.unwrap_or(10_000).clamp(1, 100_000),
            max_entry: 256,
        },
    };
    let r = s.app.ca_bulk(&body, &opts, &mut |_, _| {}).await;
    let detail = r
        .as_ref()
        .map(|r| {
            format!(
                "{} rows, {} issued, {} skipped, {} failed{}",
                r.rows,
                r.issued.len(),
                r.skipped.len(),
                r.failed.len(),
                if q.preview { " (preview)" } else { "" }
            )
        })
        .unwrap_or_default();
    let report = audited(&s, &c, "ca.bulk", "csv", &detail, r).await?;
    Ok(Json(serde_json::to_value(&report).unwrap_or_default()))
}

fn renew_days() -> u32 {
    730
}

fn refresh_days() -> u32 {
    365
}

/// A renewal (as `certmail ca renew`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RenewBody {
    /// Keep the key (default: a new key).
    #[serde(default)]
    pub same_key: bool,
    /// Validity in days (730).
    #[serde(default = "renew_days")]
    pub days: u32,
}

/// A refresh (as `certmail ca refresh`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshBody {
    /// Validity in days (365).
    #[serde(default = "refresh_days")]
    pub days: u32,
}

/// The certificate a renewal or refresh made.
#[derive(Debug, Serialize, ToSchema)]
pub struct Renewed {
    /// SHA-256.
    pub sha256: String,
    /// Subject.
    pub subject: String,
    /// Serial (hex).
    pub serial: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
}

fn renewed(v: certmail_app::CertView) -> Renewed {
    Renewed {
        not_after: v.cert.not_after_rfc3339(),
        sha256: v.cert.sha256,
        subject: v.cert.subject,
        serial: v.cert.serial,
    }
}

/// Renews a certificate a certmail CA issued: same subject and e-mail, new validity (and
/// a new key unless `same_key`).
#[utoipa::path(post, path = "/api/v1/ca/renew/{sha256}", tag = "ca", request_body = RenewBody,
    params(("sha256" = String, Path, description = "the certificate (SHA-256 or a unique prefix)")),
    responses((status = 201, body = Renewed), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn renew(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
    ApiJson(b): ApiJson<RenewBody>,
) -> Result<(StatusCode, Json<Renewed>), Problem> {
    c.require(Role::Operator)?;
    if !(1..=3650).contains(&b.days) {
        return Err(bad("days is 1 to 3650"));
    }
    let r = s.app.ca_renew(&sha256, b.same_key, b.days).await;
    let detail = r
        .as_ref()
        .map(|v| v.cert.sha256.clone())
        .unwrap_or_default();
    let v = audited(&s, &c, "ca.renew", &sha256, &detail, r).await?;
    Ok((StatusCode::CREATED, Json(renewed(v))))
}

/// Refreshes a self-signed domain certificate: same serial and key, new validity.
#[utoipa::path(post, path = "/api/v1/ca/refresh/{sha256}", tag = "ca", request_body = RefreshBody,
    params(("sha256" = String, Path, description = "the certificate (SHA-256 or a unique prefix)")),
    responses((status = 200, body = Renewed), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn refresh(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
    ApiJson(b): ApiJson<RefreshBody>,
) -> Result<Json<Renewed>, Problem> {
    c.require(Role::Operator)?;
    if !(1..=3650).contains(&b.days) {
        return Err(bad("days is 1 to 3650"));
    }
    let r = s.app.ca_refresh(&sha256, b.days).await;
    let detail = r
        .as_ref()
        .map(|v| v.cert.sha256.clone())
        .unwrap_or_default();
    let v = audited(&s, &c, "ca.refresh", &sha256, &detail, r).await?;
    Ok(Json(renewed(v)))
}
