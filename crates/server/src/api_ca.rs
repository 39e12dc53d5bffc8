//! The built-in CA's revocation over the API, as `certmail ca revoke` and `certmail ca crl`:
//! revoke a certificate (by thumbprint, or by serial with the CA), and create the CA's next
//! CRL, which goes into the CRL store at once. Both are an operator's work and audited.
//! Several `serve` nodes on one database may do this at the same time: the CRL number is
//! taken in one database transaction, so two CRLs never share one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use certmail_app::admin::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::Server;
use crate::api::{ApiJson, audited};
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/ca/revoke", post(revoke))
        .route("/api/v1/ca/crl", post(crl))
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
