//! The CA page: the CAs with their CRLs, issuing an end-user certificate, the pending
//! requests (CSR download, certificate upload, reschedule, delete), the CA configuration
//! and (admin) creating a CA.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::ca::{CaCreate, IssueParams};
use certmail_app::format_time;
use serde::Deserialize;

use crate::Server;
use crate::api::audited;
use crate::auth::{Caller, CheckedForm, HasCsrf, stale_csrf};
use crate::pages::{Nav, PageResult, enc, nav, render};
use crate::problem::{Problem, upload_error};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/ca", get(ca))
        .route("/ca/create", post(create))
        .route("/ca/issue", post(issue))
        .route("/ca/crl", post(crl))
        .route("/ca/pending/delete", post(pending_delete))
        .route("/ca/pending/reschedule", post(pending_reschedule))
        .route(
            "/ca/pending/upload",
            post(pending_upload).layer(axum::extract::DefaultBodyLimit::max(1 << 20)),
        )
        .route("/ca/config", post(config_set))
}

/// The CA configuration's settings, as `certmail ca config` names them, with the field of
/// `CaConfig`'s JSON form that holds each and what it means.
const CONFIG: &[(&str, &str, &str)] = &[
    (
        "common-name",
        "common_name",
        "default common name of new certificates",
    ),
    (
        "validity-days",
        "validity_days",
        "validity of new end-user certificates, days (1 to 3650)",
    ),
    (
        "key",
        "key",
        "key type: rsa2048, rsa3072, rsa4096, p256, p384",
    ),
    (
        "signature",
        "hash",
        "signature hash: sha256, sha384, sha512",
    ),
    ("ca-email", "ca_email", "sender address of certificate mail"),
    (
        "password-length",
        "password_length",
        "length of generated PKCS#12 passwords (8 to 64)",
    ),
    (
        "store-password",
        "store_password",
        "keep the generated password in the user's pfx-password (on/off)",
    ),
    (
        "add-crl-distribution-point",
        "add_crl_distribution_point",
        "put the CRL distribution point into new certificates (on/off)",
    ),
    (
        "crl-distribution-point",
        "crl_distribution_point",
        "CRL distribution point URL (http, https or ldap)",
    ),
    (
        "request-handler",
        "request_handler",
        "built-in (sign here) or csr (an external CA signs)",
    ),
];

struct ConfigLine {
    key: &'static str,
    value: String,
    help: &'static str,
}

fn config_lines(cfg: &certmail_app::ca::CaConfig) -> Vec<ConfigLine> {
    let j = serde_json::to_value(cfg).unwrap_or_default();
    CONFIG
        .iter()
        .map(|(key, field, help)| ConfigLine {
            key,
            value: match &j[*field] {
                serde_json::Value::Null => String::new(),
                serde_json::Value::Bool(true) => "on".into(),
                serde_json::Value::Bool(false) => "off".into(),
                serde_json::Value::String(t) => t.clone(),
                v => v.to_string(),
            },
            help,
        })
        .collect()
}

pub(crate) const KEYS: &[&str] = &["rsa2048", "rsa3072", "rsa4096", "p256", "p384"];

struct CaLine {
    name: String,
    is_default: bool,
    root: String,
    root_short: String,
    signer: String,
    signer_short: String,
    hash: String,
    crl_number: i64,
    created: String,
}

struct PendingLine {
    id: i64,
    handler: String,
    email: String,
    subject: String,
    created: String,
    next: String,
    attempts: i64,
    error: String,
}

#[derive(Template)]
#[template(path = "ca.html")]
struct CaPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<String>,
    cas: Vec<CaLine>,
    pending: Vec<PendingLine>,
    can_issue: bool,
    can_create: bool,
    config: Vec<ConfigLine>,
    send: String,
    keys: Vec<String>,
    default_cn: String,
    default_days: u32,
    default_key: String,
}

/// The CA page's query: a note to show, and certificates to fill the send form with.
#[derive(Deserialize, Default)]
pub struct CaQuery {
    note: Option<String>,
    send: Option<String>,
}

async fn ca(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<CaQuery>) -> PageResult {
    c.require(Role::Auditor)?;
    let cfg = s.app.ca_config().await?;
    let cas = s
        .app
        .ca_list()
        .await?
        .into_iter()
        .map(|r| CaLine {
            root_short: r.root_sha256[..16].to_owned(),
            signer_short: r.signer_sha256[..16].to_owned(),
            created: format_time(r.created_at),
            name: r.name,
            is_default: r.is_default,
            root: r.root_sha256,
            signer: r.signer_sha256,
            hash: r.hash,
            crl_number: r.crl_number,
        })
        .collect();
    let pending = s
        .app
        .ca_pending()
        .await?
        .into_iter()
        .map(|p| PendingLine {
            id: p.id,
            handler: p.handler,
            email: p.email,
            subject: p.subject,
            created: format_time(p.created_at),
            next: format_time(p.next_attempt),
            attempts: p.attempts,
            error: p.last_error.unwrap_or_default(),
        })
        .collect();
    Ok(render(&CaPage {
        nav: nav(&c),
        csrf: c.csrf.clone().unwrap_or_default(),
        message: n.note,
        cas,
        pending,
        can_issue: c.role >= Role::Operator,
        can_create: c.role >= Role::Admin,
        config: config_lines(&cfg),
        send: n.send.unwrap_or_default(),
        keys: KEYS.iter().map(|k| (*k).to_owned()).collect(),
        default_cn: cfg.common_name.clone(),
        default_days: cfg.validity_days,
        default_key: serde_json::to_value(&cfg)
            .ok()
            .and_then(|v| v["key"].as_str().map(str::to_owned))
            .unwrap_or_default(),
    }))
}

fn noted(msg: &str) -> axum::response::Response {
    Redirect::to(&format!("/ca?note={}", enc(msg))).into_response()
}

/// A number of days from a form field (1 to 36500); an empty field is `None`.
pub(crate) fn days(text: &str, what: &str) -> Result<Option<u32>, Problem> {
    let t = text.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u32>()
        .ok()
        .filter(|d| (1..=36_500).contains(d))
        .map(Some)
        .ok_or_else(|| {
            Problem::bad_request(format!("{what} {t:?} is not a number of days (1 to 36500)"))
        })
}

/// Creating a CA.
#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    root_cn: String,
    intermediate_cn: String,
    key: String,
    days: String,
    email: Option<String>,
    make_default: Option<String>,
}

impl HasCsrf for CreateForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn create(State(s): State<Arc<Server>>, f: CheckedForm<CreateForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let v = &f.form;
    let r = async {
        let spec = CaCreate {
            root_cn: v.root_cn.trim().to_owned(),
            intermediate_cn: v.intermediate_cn.trim().to_owned(),
            key: certmail_ca::KeySpec::parse(&v.key).map_err(certmail_app::AppError::from)?,
            days: days(&v.days, "validity")
                .map_err(|p| certmail_app::AppError::Invalid(p.detail))?
                .unwrap_or(3650),
            hash: certmail_ca::SigHash::parse("sha256").map_err(certmail_app::AppError::from)?,
            email: v.email.clone().filter(|e| !e.trim().is_empty()),
            make_default: v.make_default.as_deref() == Some("true"),
        };
        s.app.ca_create(&spec).await
    }
    .await;
    let row = audited(
        &s,
        &f.caller,
        "ca.create",
        &v.intermediate_cn,
        &v.root_cn,
        r,
    )
    .await?;
    Ok(noted(&format!("created CA {}", row.name)))
}

/// Issuing an end-user certificate.
#[derive(Deserialize)]
pub struct IssueForm {
    csrf: String,
    email: String,
    cn: Option<String>,
    days: Option<String>,
    key: Option<String>,
    ca: Option<String>,
}

impl HasCsrf for IssueForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn issue(State(s): State<Arc<Server>>, f: CheckedForm<IssueForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let v = &f.form;
    let params = IssueParams {
        email: v.email.trim().to_owned(),
        cn: v.cn.clone().filter(|x| !x.trim().is_empty()),
        days: days(v.days.as_deref().unwrap_or_default(), "validity")?,
        key: v.key.clone().filter(|x| !x.is_empty()),
        ..IssueParams::default()
    };
    let r = match s.app.ca_end_user_request(&params).await {
        Ok(req) => {
            s.app
                .ca_issue(
                    v.ca.as_deref().unwrap_or_default(),
                    &req,
                    &f.caller.name,
                    true,
                )
                .await
        }
        Err(e) => Err(e),
    };
    let detail = r
        .as_ref()
        .map(|x| x.cert.sha256.clone())
        .unwrap_or_default();
    let view = audited(&s, &f.caller, "ca.issue", &params.email, &detail, r).await?;
    Ok(Redirect::to(&format!("/certificates/{}", view.cert.sha256)).into_response())
}

/// Creating a CRL.
#[derive(Deserialize)]
pub struct CrlForm {
    csrf: String,
    ca: String,
}

impl HasCsrf for CrlForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn crl(State(s): State<Arc<Server>>, f: CheckedForm<CrlForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let r = s.app.ca_crl(&f.form.ca, &[], 7, true, false).await;
    let detail = r.as_ref().map(|x| x.sha256.clone()).unwrap_or_default();
    let rep = audited(&s, &f.caller, "ca.crl", &f.form.ca, &detail, r).await?;
    Ok(noted(&format!(
        "CRL number {} for {} ({})",
        rep.number.as_deref().unwrap_or("-"),
        f.form.ca,
        rep.status
    )))
}

/// Deleting a pending request.
#[derive(Deserialize)]
pub struct PendingForm {
    csrf: String,
    id: i64,
}

impl HasCsrf for PendingForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn pending_delete(State(s): State<Arc<Server>>, f: CheckedForm<PendingForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let r = s.app.ca_pending_delete(f.form.id).await;
    audited(
        &s,
        &f.caller,
        "ca.pending.delete",
        &f.form.id.to_string(),
        "",
        r,
    )
    .await?;
    Ok(noted(&format!("deleted pending request {}", f.form.id)))
}

/// Rescheduling a pending request: minutes from now, or empty for the backoff its
/// attempts so far give.
#[derive(Deserialize)]
pub struct RescheduleForm {
    csrf: String,
    id: i64,
    minutes: Option<String>,
}

impl HasCsrf for RescheduleForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn pending_reschedule(
    State(s): State<Arc<Server>>,
    f: CheckedForm<RescheduleForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let v = &f.form;
    let minutes = v.minutes.as_deref().map(str::trim).unwrap_or_default();
    let delay = if minutes.is_empty() {
        None
    } else {
        let m = minutes
            .parse::<i64>()
            .ok()
            .filter(|m| (0..=527_040).contains(m))
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "{minutes:?} is not a number of minutes (0 to 527040)"
                ))
            })?;
        Some(m * 60)
    };
    let r = s.app.ca_pending_reschedule(v.id, delay).await;
    let detail = delay.map_or_else(|| "backoff".to_owned(), |d| format!("in {d} s"));
    let next = audited(
        &s,
        &f.caller,
        "ca.pending.reschedule",
        &v.id.to_string(),
        &detail,
        r,
    )
    .await?;
    Ok(noted(&format!(
        "pending request {} is tried next at {}",
        v.id,
        format_time(next)
    )))
}

/// Uploading the certificate an external CA issued for a pending request (PEM, DER or
/// PKCS#7), matched to its request by the public key.
async fn pending_upload(
    State(s): State<Arc<Server>>,
    c: Caller,
    mut form: Multipart,
) -> PageResult {
    c.require(Role::Operator)?;
    let mut csrf_ok = false;
    let mut file: Vec<u8> = Vec::new();
    while let Some(field) = form.next_field().await.map_err(upload_error)? {
        match field.name().unwrap_or_default() {
            "csrf" => csrf_ok = c.upload_csrf_matches(&field.text().await.map_err(upload_error)?),
            "certificate" => file = field.bytes().await.map_err(upload_error)?.to_vec(),
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(stale_csrf().into());
    }
    if file.is_empty() {
        return Err(Problem::bad_request("choose the certificate file to upload").into());
    }
    let r = s.app.ca_upload(&file).await;
    let detail = r
        .as_ref()
        .map(|(v, _)| v.cert.sha256.clone())
        .unwrap_or_default();
    let (v, request) = audited(&s, &c, "ca.pending.upload", "certificate", &detail, r).await?;
    Ok(noted(&format!(
        "pending request {request} completed: {} ({})",
        v.cert.subject,
        &v.cert.sha256[..16]
    )))
}

/// Changing one value of the CA configuration.
#[derive(Deserialize)]
pub struct ConfigForm {
    csrf: String,
    key: String,
    value: String,
}

impl HasCsrf for ConfigForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn config_set(State(s): State<Arc<Server>>, f: CheckedForm<ConfigForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let v = &f.form;
    let value = v.value.trim();
    let r = s.app.ca_config_set(&v.key, value).await;
    audited(&s, &f.caller, "ca.config", &v.key, value, r).await?;
    Ok(noted(&format!(
        "CA configuration: {} set to {value}",
        v.key
    )))
}
