//! The hold queue and certificates sent by mail, over the API and on `/hold`: list, show
//! (envelope and header section; the body stays in the queue), release (encrypted, or
//! `clear` allowing clear text), delete; `POST /api/v1/ca/send` as `certmail ca send`.
//! Releases and deliveries go to the gateway's next hop; every change is audited (no
//! password in the audit entry).

use std::sync::Arc;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::ca_send::{PasswordTo, SendRequest};
use certmail_pki::time::format_rfc3339;
use certmail_store::HeldRow;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::api::{ApiJson, ApiQuery, audited};
use crate::auth::{Caller, CheckedForm, HasCsrf};
use crate::pages::{Nav, PageResult, nav, render};
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/hold", get(list))
        .route("/api/v1/hold/{id}", get(show).delete(delete))
        .route("/api/v1/hold/{id}/release", post(release))
        .route("/api/v1/ca/send", post(ca_send))
        .route("/hold", get(page))
        .route("/hold/{id}", post(page_action))
}

/// A held message.
#[derive(Debug, Serialize, ToSchema)]
pub struct Held {
    /// Id.
    pub id: i64,
    /// The gateway's message id of the transaction that held it.
    pub gateway_id: String,
    /// Envelope sender.
    pub sender: String,
    /// Envelope recipient.
    pub recipient: String,
    /// Subject.
    pub subject: String,
    /// Why it is held.
    pub reason: String,
    /// Size in bytes.
    pub size: i64,
    /// Held at (RFC 3339).
    pub held_at: String,
    /// Dropped with a notice to the sender after (RFC 3339).
    pub expires_at: String,
    /// The last failed release.
    pub last_error: Option<String>,
    /// The header section (only in `GET /api/v1/hold/{id}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<String>,
}

fn held(r: HeldRow, headers: Option<String>) -> Held {
    Held {
        id: r.id,
        gateway_id: r.gateway_id,
        sender: r.sender,
        recipient: r.recipient,
        subject: r.subject,
        reason: r.reason,
        size: r.size,
        held_at: format_rfc3339(r.created_at),
        expires_at: format_rfc3339(r.expires_at),
        last_error: r.last_error,
        headers,
    }
}

/// A page of held messages.
#[derive(Debug, Serialize, ToSchema)]
pub struct HeldPage {
    /// The messages, oldest first.
    pub items: Vec<Held>,
    /// How many are held in all.
    pub total: i64,
}

/// Filter and page of the hold queue.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HoldQuery {
    /// Sender or recipient contains this.
    pub search: Option<String>,
    /// Page size (default 100, at most 1,000).
    pub limit: Option<i64>,
    /// Rows to skip.
    pub offset: Option<i64>,
}

/// The hold queue (as `certmail hold list --json`).
#[utoipa::path(
    operation_id = "hold_list",get, path = "/api/v1/hold", tag = "gateway", params(HoldQuery),
    responses((status = 200, body = HeldPage), (status = 400, body = Problem)))]
pub async fn list(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<HoldQuery>,
) -> Result<Json<HeldPage>, Problem> {
    c.require(Role::Auditor)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) || q.offset.unwrap_or(0) < 0 {
        return Err(Problem::bad_request(
            "limit is 1 to 1000 and offset 0 or more",
        ));
    }
    let rows = s
        .app
        .hold_list(q.search.as_deref(), limit, q.offset.unwrap_or(0))
        .await?;
    Ok(Json(HeldPage {
        items: rows.into_iter().map(|r| held(r, None)).collect(),
        total: s.app.hold_count().await?,
    }))
}

/// One held message with its header section (the body is not shown).
#[utoipa::path(get, path = "/api/v1/hold/{id}", tag = "gateway", params(("id" = i64, Path)),
    responses((status = 200, body = Held), (status = 404, body = Problem)))]
pub async fn show(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Held>, Problem> {
    c.require(Role::Auditor)?;
    let (r, msg) = s.app.hold_show(id).await?;
    let headers = certmail_app::mailflow::header_section(&msg);
    Ok(Json(held(
        r,
        Some(String::from_utf8_lossy(&headers).into_owned()),
    )))
}

/// Deletes a held message (it is not sent).
#[utoipa::path(
    operation_id = "hold_delete",delete, path = "/api/v1/hold/{id}", tag = "gateway", params(("id" = i64, Path)),
    responses((status = 200, body = Held), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<i64>,
) -> Result<Json<Held>, Problem> {
    c.require(Role::Operator)?;
    let r = s.app.hold_delete(id).await;
    let r = audited(&s, &c, "hold.delete", &id.to_string(), "", r).await?;
    Ok(Json(held(r, None)))
}

/// How to release.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct ReleaseBody {
    /// Allow clear text when the recipient still has no usable certificate.
    #[serde(default)]
    pub clear: bool,
}

/// What a release did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Released {
    /// Id.
    pub id: i64,
    /// Recipient.
    pub recipient: String,
    /// What was done to the copy (`encrypted`, `signed-encrypted`, `plain`, ...).
    pub action: String,
    /// `released`, or `failed` (still held; see `problem`).
    pub status: String,
    /// Why the next hop did not take it.
    pub problem: Option<String>,
}

fn no_next_hop() -> Problem {
    Problem::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "no next hop: this server runs without the gateway",
    )
}

async fn release_audited(
    s: &Server,
    c: &Caller,
    id: i64,
    clear: bool,
) -> Result<Released, Problem> {
    let relay = s.relay().ok_or_else(no_next_hop)?;
    let r = certmail_jobs::hold::release(&s.app, relay.as_ref(), id, clear).await;
    let detail = match &r {
        Ok(o) => format!(
            "{} to {} ({}){}",
            o.status,
            o.recipient,
            o.action,
            if clear { ", clear allowed" } else { "" }
        ),
        Err(_) => String::new(),
    };
    let o = audited(s, c, "hold.release", &id.to_string(), &detail, r).await?;
    Ok(Released {
        id: o.id,
        recipient: o.recipient,
        action: o.action,
        status: o.status.into(),
        problem: o.problem,
    })
}

/// Releases a held message to the next hop: encrypted (400 while its recipient still has
/// no usable certificate), or with `clear` encrypted if possible and otherwise in clear.
#[utoipa::path(post, path = "/api/v1/hold/{id}/release", tag = "gateway", params(("id" = i64, Path)),
    request_body = ReleaseBody,
    responses((status = 200, body = Released), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 503, body = Problem)))]
pub async fn release(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(id): Path<i64>,
    ApiJson(b): ApiJson<ReleaseBody>,
) -> Result<Json<Released>, Problem> {
    c.require(Role::Operator)?;
    Ok(Json(release_audited(&s, &c, id, b.clear).await?))
}

/// Certificates to send by mail (as `certmail ca send`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SendBody {
    /// Certificates (thumbprints or unique prefixes).
    pub thumbprints: Vec<String>,
    /// The recipient.
    pub to: String,
    /// `admin` (the password is in the answer), `sender` (mailed to `sender`) or `sms`.
    #[serde(default)]
    pub password_to: Option<String>,
    /// The internal sender who asked (with `password_to` `sender`).
    #[serde(default)]
    pub sender: Option<String>,
    /// Send certificates that do not carry the recipient's address.
    #[serde(default)]
    pub allow_mismatch: bool,
    /// The legacy (3DES) PKCS#12 form.
    #[serde(default)]
    pub legacy: bool,
    /// Store the generated password in the recipient's pfx-password setting.
    #[serde(default)]
    pub store_password: bool,
}

/// What a delivery did.
#[derive(Debug, Serialize, ToSchema)]
pub struct Sent {
    /// Thumbprints sent.
    pub sent: Vec<String>,
    /// How the password went.
    pub password_way: String,
    /// Why the password's way failed (it is then in `password`).
    pub password_problem: Option<String>,
    /// The password, only when it goes to the administrator (or its way failed).
    pub password: Option<String>,
}

impl Drop for Sent {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

/// Sends certificates (with their keys) by mail as one PKCS#12 from the CA's ca-email
/// address; the password never in the same message.
#[utoipa::path(post, path = "/api/v1/ca/send", tag = "ca", request_body = SendBody,
    responses((status = 200, body = Sent), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 422, body = Problem), (status = 502, body = Problem),
        (status = 503, body = Problem)))]
pub async fn ca_send(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<SendBody>,
) -> Result<Json<Sent>, Problem> {
    Ok(Json(send_certificates(&s, &c, &b).await?))
}

/// Sends certificates by mail for the API and the CA page: checked, prepared (audited),
/// handed to the next hop, and the outcome audited.
pub(crate) async fn send_certificates(
    s: &Arc<Server>,
    c: &Caller,
    b: &SendBody,
) -> Result<Sent, Problem> {
    c.require(Role::Operator)?;
    let password_to = match b.password_to.as_deref().unwrap_or("admin") {
        "admin" => PasswordTo::Admin,
        "sms" => PasswordTo::Sms,
        "sender" => PasswordTo::Sender(
            b.sender
                .clone()
                .filter(|x| !x.trim().is_empty())
                .ok_or_else(|| Problem::bad_request("password_to sender needs sender"))?,
        ),
        other => {
            return Err(Problem::bad_request(format!(
                "password_to is admin, sender or sms, not {other:?}"
            )));
        }
    };
    let relay = s.relay().ok_or_else(no_next_hop)?;
    let req = SendRequest {
        thumbprints: b.thumbprints.clone(),
        to: b.to.clone(),
        password: None,
        password_to,
        store_password: b.store_password,
        allow_mismatch: b.allow_mismatch,
        legacy: b.legacy,
    };
    let prepared = s.app.ca_send_prepare(&req).await;
    let prepared = audited(s, c, "ca.send", &b.to, "prepared", prepared).await?;
    let sent = prepared.sent.clone();
    let o = certmail_jobs::ca_send::send(relay.as_ref(), prepared).await;
    let detail = match (&o.mail, &o.password_problem) {
        (Err(e), _) => format!("not sent: {e}"),
        (Ok(()), None) => format!("{} certificate(s), password {}", sent.len(), o.password_way),
        (Ok(()), Some(p)) => format!("{} certificate(s), password not delivered: {p}", sent.len()),
    };
    let r: Result<(), certmail_app::AppError> = match &o.mail {
        Ok(()) => Ok(()),
        Err(e) => Err(certmail_app::AppError::Invalid(e.clone())),
    };
    if let Err(p) = audited(s, c, "ca.send", &b.to, &detail, r).await {
        return Err(Problem::new(axum::http::StatusCode::BAD_GATEWAY, p.detail));
    }
    Ok(Sent {
        sent,
        password_way: o.password_way,
        password_problem: o.password_problem,
        password: o.show_password.map(|p| p.as_str().to_owned()),
    })
}

struct Row {
    id: i64,
    at: String,
    sender: String,
    recipient: String,
    subject: String,
    reason: String,
    last_error: String,
}

#[derive(Template)]
#[template(path = "hold.html")]
struct HoldPage {
    nav: Option<Nav>,
    rows: Vec<Row>,
    total: i64,
    q: String,
    can_edit: bool,
    csrf: String,
    message: Option<String>,
}

/// Filter and message of `/hold`.
#[derive(Deserialize, Default)]
pub struct PageQuery {
    q: Option<String>,
    saved: Option<String>,
}

async fn page(State(s): State<Arc<Server>>, c: Caller, Query(f): Query<PageQuery>) -> PageResult {
    c.require(Role::Auditor)?;
    let q = f.q.unwrap_or_default();
    let rows = s
        .app
        .hold_list(Some(q.as_str()).filter(|x| !x.is_empty()), 500, 0)
        .await?
        .into_iter()
        .map(|r| Row {
            id: r.id,
            at: format_rfc3339(r.created_at),
            sender: r.sender,
            recipient: r.recipient,
            subject: r.subject,
            reason: r.reason,
            last_error: r.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(render(&HoldPage {
        nav: nav(&c),
        rows,
        total: s.app.hold_count().await?,
        q,
        can_edit: c.role >= Role::Operator,
        csrf: c.csrf.clone().unwrap_or_default(),
        message: f.saved,
    }))
}

/// A button on `/hold`.
#[derive(Deserialize)]
pub struct ActionForm {
    csrf: String,
    op: String,
}

impl HasCsrf for ActionForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn page_action(
    State(s): State<Arc<Server>>,
    Path(id): Path<i64>,
    f: CheckedForm<ActionForm>,
) -> PageResult {
    let c = &f.caller;
    c.require(Role::Operator)?;
    let msg = match f.form.op.as_str() {
        "release" | "release-clear" => {
            match release_audited(&s, c, id, f.form.op == "release-clear").await {
                Ok(o) if o.status == "released" => {
                    format!("Released {id} to {} ({}).", o.recipient, o.action)
                }
                Ok(o) => format!(
                    "Not released: {}; still held.",
                    o.problem.unwrap_or_default()
                ),
                Err(p) => format!("Not released: {}", p.detail),
            }
        }
        "delete" => {
            let r = s.app.hold_delete(id).await;
            audited(&s, c, "hold.delete", &id.to_string(), "", r).await?;
            format!("Deleted {id}.")
        }
        other => return Err(Problem::bad_request(format!("unknown action {other:?}")).into()),
    };
    Ok(Redirect::to(&format!("/hold?saved={}", crate::pages::enc(&msg))).into_response())
}
