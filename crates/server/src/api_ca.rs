//! The built-in CA over the API, as the `certmail ca` commands: create a CA (admin), its
//! configuration (read: anyone; change: admin), the pending requests (the CSR to download,
//! the issued certificate to upload, reschedule), revoke a certificate (by thumbprint, or by
//! serial with the CA) and create the CA's next CRL, which goes into the CRL store at once.
//! Every change is audited. Several `serve` nodes on one database may revoke and create CRLs
//! at the same time: the CRL number is taken in one database transaction, so two CRLs never
//! share one.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use certmail_app::admin::Role;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::Server;
use crate::api::{ApiJson, SettingBody, audited};
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes (`POST /api/v1/cas` is routed beside its `GET` in `api_trust`).
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/ca/revoke", post(revoke))
        .route("/api/v1/ca/crl", post(crl))
        .route("/api/v1/ca/config", get(config_get))
        .route("/api/v1/ca/config/{key}", put(config_put))
        .route("/api/v1/ca/pending/{id}/csr", get(pending_csr))
        .route(
            "/api/v1/ca/pending/{id}/reschedule",
            post(pending_reschedule),
        )
        .route(
            "/api/v1/ca/pending/upload",
            post(pending_upload).layer(DefaultBodyLimit::max(1 << 20)),
        )
}

fn rsa2048() -> String {
    "rsa2048".into()
}

fn ten_years() -> u32 {
    3650
}

fn sha256() -> String {
    "sha256".into()
}

/// A CA to create: a root and an intermediate that signs, or (with `under`) only an
/// intermediate under an existing CA's root (as `certmail ca create [--under CA]`).
#[derive(Debug, Deserialize, ToSchema)]
pub struct CaCreateBody {
    /// The root's common name (not with `under`).
    #[serde(default)]
    pub root_cn: String,
    /// Create only an intermediate under this existing CA's root (CA id or name).
    pub under: Option<String>,
    /// The intermediate's common name (must differ from the root's); also the CA's name.
    pub intermediate_cn: String,
    /// Key type: rsa2048, rsa3072, rsa4096, p256 or p384 (rsa2048).
    #[serde(default = "rsa2048")]
    pub key: String,
    /// Validity of both certificates, days (3650).
    #[serde(default = "ten_years")]
    pub days: u32,
    /// Signature hash: sha256, sha384 or sha512 (sha256).
    #[serde(default = "sha256")]
    pub hash: String,
    /// The CA's e-mail address.
    pub email: Option<String>,
    /// Make it the default CA (false).
    #[serde(default)]
    pub make_default: bool,
}

/// Creates a CA: the root goes to the root store, the intermediate to the certificates,
/// both keys (sealed) to the key store.
#[utoipa::path(post, path = "/api/v1/cas", tag = "ca", request_body = CaCreateBody,
    responses((status = 201, body = certmail_app::ca::CaInfo, description = "the CA, as listed by GET /api/v1/cas"), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem), (status = 422, body = Problem)))]
pub async fn create(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<CaCreateBody>,
) -> Result<(StatusCode, Json<certmail_app::ca::CaInfo>), Problem> {
    c.require(Role::Admin)?;
    if !(1..=36_500).contains(&b.days) {
        return Err(Problem::bad_request("days is 1 to 36500"));
    }
    let under = b.under.as_deref().map(str::trim).filter(|u| !u.is_empty());
    match (under, b.root_cn.trim().is_empty()) {
        (Some(_), false) => {
            return Err(Problem::bad_request("give root_cn or under, not both"));
        }
        (None, true) => {
            return Err(Problem::bad_request(
                "give root_cn (a new root) or under (an existing CA's root)",
            ));
        }
        _ => {}
    }
    let spec = async {
        Ok::<_, certmail_app::AppError>(certmail_app::ca::CaCreate {
            root_cn: b.root_cn.trim().to_owned(),
            intermediate_cn: b.intermediate_cn.trim().to_owned(),
            key: certmail_ca::KeySpec::parse(&b.key)?,
            days: b.days,
            hash: certmail_ca::SigHash::parse(&b.hash)?,
            email: b.email.clone().filter(|e| !e.trim().is_empty()),
            make_default: b.make_default,
        })
    }
    .await;
    let r = match (spec, under) {
        (Ok(spec), Some(parent)) => {
            let cs = certmail_ca::CaSpec {
                cn: spec.intermediate_cn,
                email: spec.email,
                days: spec.days,
                key: spec.key,
                hash: spec.hash,
                path_len: Some(0),
            };
            s.app.ca_create_under(parent, cs, spec.make_default).await
        }
        (Ok(spec), None) => s.app.ca_create(&spec).await,
        (Err(e), _) => Err(e),
    };
    let row = audited(&s, &c, "ca.create", b.intermediate_cn.trim(), &b.key, r).await?;
    Ok((
        StatusCode::CREATED,
        Json(certmail_app::ca::CaInfo::from(&row)),
    ))
}

/// The CA configuration: the defaults of new certificates and of PKCS#12 delivery (as
/// `certmail ca config --json`).
#[utoipa::path(get, path = "/api/v1/ca/config", tag = "ca",
    responses((status = 200, description = "the configuration: common_name, validity_days, key, hash, ca_email, password_length, store_password, add_crl_distribution_point, crl_distribution_point, request_handler"),
        (status = 403, body = Problem)))]
pub async fn config_get(State(s): State<Arc<Server>>, c: Caller) -> Result<Json<Value>, Problem> {
    c.require(Role::Auditor)?;
    let cfg = s.app.ca_config().await?;
    Ok(Json(serde_json::to_value(cfg).unwrap_or_default()))
}

/// Changes one value of the CA configuration (names as `certmail ca config KEY VALUE`);
/// answers with the whole configuration.
#[utoipa::path(put, path = "/api/v1/ca/config/{key}", tag = "ca", request_body = SettingBody,
    params(("key" = String, Path, description = "common-name, validity-days, key, signature, ca-email, password-length, store-password, add-crl-distribution-point, crl-distribution-point, request-handler")),
    responses((status = 200, description = "the configuration after the change"), (status = 400, body = Problem),
        (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn config_put(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(key): Path<String>,
    ApiJson(b): ApiJson<SettingBody>,
) -> Result<Json<Value>, Problem> {
    c.require(Role::Admin)?;
    let r = s.app.ca_config_set(&key, &b.value).await;
    let cfg = audited(&s, &c, "ca.config", &key, &b.value, r).await?;
    Ok(Json(serde_json::to_value(cfg).unwrap_or_default()))
}

/// A pending request's id from its path segment.
pub(crate) fn request_id(id: &str) -> Result<i64, Problem> {
    id.parse()
        .map_err(|_| Problem::bad_request(format!("{id:?} is not a request id")))
}

/// The PKCS#10 request of a pending request (PEM), to hand to the external CA.
#[utoipa::path(get, path = "/api/v1/ca/pending/{id}/csr", tag = "ca",
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, description = "the request", content_type = "application/pkcs10"),
        (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn pending_csr(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, Problem> {
    c.require(Role::Auditor)?;
    let id = request_id(&id)?;
    let p = s.app.ca_pending_get(id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pkcs10".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"request-{id}.csr\""),
            ),
        ],
        certmail_pki::pem::encode("CERTIFICATE REQUEST", &p.csr),
    ))
}

/// When a pending request is tried next.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct RescheduleBody {
    /// Seconds from now (default: the backoff its attempts so far give).
    pub delay_seconds: Option<i64>,
}

/// A pending request's next attempt.
#[derive(Debug, Serialize, ToSchema)]
pub struct Rescheduled {
    /// Request id.
    pub id: i64,
    /// Next attempt, Unix seconds.
    pub next_attempt: i64,
}

/// Reschedules a pending request.
#[utoipa::path(post, path = "/api/v1/ca/pending/{id}/reschedule", tag = "ca", request_body = RescheduleBody,
    params(("id" = i64, Path, description = "request id")),
    responses((status = 200, body = Rescheduled), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn pending_reschedule(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<String>,
    ApiJson(b): ApiJson<RescheduleBody>,
) -> Result<Json<Rescheduled>, Problem> {
    c.require(Role::Operator)?;
    let id = request_id(&id)?;
    let r = s.app.ca_pending_reschedule(id, b.delay_seconds).await;
    let detail = b
        .delay_seconds
        .map_or_else(|| "backoff".to_owned(), |d| format!("in {d} s"));
    let next_attempt =
        audited(&s, &c, "ca.pending.reschedule", &id.to_string(), &detail, r).await?;
    Ok(Json(Rescheduled { id, next_attempt }))
}

/// A certificate that completed a pending request.
#[derive(Debug, Serialize, ToSchema)]
pub struct Uploaded {
    /// The request it completed (it has left the queue).
    pub request: i64,
    /// SHA-256 of the certificate.
    pub sha256: String,
    /// Its subject.
    pub subject: String,
}

/// Uploads the certificate an external CA issued for a pending request (PEM, DER or PKCS#7
/// as the body): matched to the request by its public key, stored with the waiting key.
#[utoipa::path(post, path = "/api/v1/ca/pending/upload", tag = "ca",
    request_body(content = String, content_type = "application/pkix-cert", description = "the certificate: PEM, DER or PKCS#7"),
    responses((status = 201, body = Uploaded), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 413, body = Problem)))]
pub async fn pending_upload(
    State(s): State<Arc<Server>>,
    c: Caller,
    body: Bytes,
) -> Result<(StatusCode, Json<Uploaded>), Problem> {
    c.require(Role::Operator)?;
    let r = s.app.ca_upload(&body).await;
    let detail = r
        .as_ref()
        .map(|(v, _)| v.cert.sha256.clone())
        .unwrap_or_default();
    let (v, request) = audited(&s, &c, "ca.pending.upload", "certificate", &detail, r).await?;
    Ok((
        StatusCode::CREATED,
        Json(Uploaded {
            request,
            sha256: v.cert.sha256,
            subject: v.cert.subject,
        }),
    ))
}

/// A revocation.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RevokeBody {
    /// Thumbprint (SHA-256) of a certificate issued here, or a serial number (hex) with `ca`.
    pub certificate: String,
    /// unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
    /// cessationOfOperation, certificateHold or privilegeWithdrawn.
    pub reason: Option<String>,
    /// CA id or name (for serials; default: the default CA).
    #[serde(default)]
    pub ca: String,
}

/// What was revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// The CA's name.
    pub ca: String,
    /// The serial number (hex).
    pub serial: String,
}

/// Revokes a certificate of a built-in CA (listed from the CA's next CRL on).
#[utoipa::path(post, path = "/api/v1/ca/revoke", tag = "ca", request_body = RevokeBody,
    responses((status = 200, body = Revoked), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn revoke(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<RevokeBody>,
) -> Result<Json<Revoked>, Problem> {
    c.require(Role::Operator)?;
    let reason = b
        .reason
        .as_deref()
        .map(certmail_app::ca::revocation_reason)
        .transpose()
        .map_err(Problem::from)?;
    let r = s.app.ca_revoke(&b.ca, &b.certificate, reason).await;
    let detail = r
        .as_ref()
        .map(|(_, serial)| serial.clone())
        .unwrap_or_default();
    let (row, serial) = audited(&s, &c, "ca.revoke", &b.certificate, &detail, r).await?;
    Ok(Json(Revoked {
        ca: row.name,
        serial,
    }))
}

fn yes() -> bool {
    true
}

fn week() -> u32 {
    7
}

/// A CRL to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CrlBody {
    /// CA id or name (default: the default CA).
    #[serde(default)]
    pub ca: String,
    /// Serial numbers (hex) to revoke first.
    #[serde(default)]
    pub revoke: Vec<String>,
    /// Days until nextUpdate (7).
    #[serde(default = "week")]
    pub next_update_days: u32,
    /// List the serials revoked before as well (true).
    #[serde(default = "yes")]
    pub update_existing: bool,
    /// Leave expired certificates off the CRL (false).
    #[serde(default)]
    pub drop_expired: bool,
}

/// The CRL created, as it went into the CRL store.
#[derive(Debug, Serialize, ToSchema)]
pub struct CrlCreated {
    /// SHA-256 of the CRL.
    pub sha256: String,
    /// Issuer.
    pub issuer: String,
    /// cRLNumber (hex).
    pub number: Option<String>,
    /// `current` (in use), `stored` or `present`.
    pub status: String,
    /// Why it is not in use.
    pub problem: Option<String>,
}

/// Creates the next CRL of a built-in CA and puts it into the CRL store.
#[utoipa::path(post, path = "/api/v1/ca/crl", tag = "ca", request_body = CrlBody,
    responses((status = 201, body = CrlCreated), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn crl(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<CrlBody>,
) -> Result<(StatusCode, Json<CrlCreated>), Problem> {
    c.require(Role::Operator)?;
    if !(1..=3650).contains(&b.next_update_days) {
        return Err(Problem::bad_request("next_update_days is 1 to 3650"));
    }
    let r = s
        .app
        .ca_crl(
            &b.ca,
            &b.revoke,
            b.next_update_days,
            b.update_existing,
            b.drop_expired,
        )
        .await;
    let detail = r
        .as_ref()
        .map(|r| format!("number {}", r.number.as_deref().unwrap_or("-")))
        .unwrap_or_default();
    let object = if b.ca.is_empty() { "default" } else { &b.ca };
    let r = audited(&s, &c, "ca.crl", object, &detail, r).await?;
    Ok((
        StatusCode::CREATED,
        Json(CrlCreated {
            sha256: r.sha256,
            issuer: r.issuer,
            number: r.number,
            status: r.status.to_owned(),
            problem: r.problem,
        }),
    ))
}
