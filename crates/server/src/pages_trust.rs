//! Trust pages: `/crls` (the CRL store: invalid CRLs greyed with the reason, import, delete)
//! and `/ctl` (the trust list by SHA-512 thumbprint: add, remove).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::format_time;
use certmail_app::trust::parse_crl_file;
use certmail_pki::verify::CtlStatus;
use serde::Deserialize;

use crate::Server;
use crate::api::audited;
use crate::auth::{Caller, CheckedForm, HasCsrf, stale_csrf};
use crate::pages::{Nav, Note, PageResult, enc, nav, render};
use crate::problem::{Problem, upload_error};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/crls",
            get(crls)
                .post(crl_import)
                .layer(axum::extract::DefaultBodyLimit::max(
                    certmail_app::MAX_IMPORT_SIZE as usize + (1 << 20),
                )),
        )
        .route("/crls/delete", post(crl_delete))
        .route("/crls/update", post(crl_update))
        .route("/ctl", get(ctl).post(ctl_add))
        .route("/ctl/remove", post(ctl_remove))
}

struct CrlLine {
    sha256: String,
    issuer: String,
    number: String,
    this_update: String,
    next_update: String,
    entries: i64,
    current: bool,
    valid: bool,
    validity: String,
}

struct SourceLine {
    url: String,
    last_success: String,
    next_attempt: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "crls.html")]
struct CrlsPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<String>,
    can_edit: bool,
    crls: Vec<CrlLine>,
    sources: Vec<SourceLine>,
}

async fn crls(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<Note>) -> PageResult {
    c.require(Role::Auditor)?;
    let crls = s
        .app
        .crls()
        .await?
        .into_iter()
        .map(|v| CrlLine {
            valid: v.validity == "valid",
            sha256: v.sha256,
            issuer: v.issuer,
            number: v.number.unwrap_or_else(|| "-".into()),
            this_update: v.this_update,
            next_update: v.next_update.unwrap_or_else(|| "-".into()),
            entries: v.entries,
            current: v.current,
            validity: v.validity,
        })
        .collect();
    let when = certmail_pki::time::format_rfc3339;
    let sources = s
        .app
        .crl_sources()
        .await?
        .into_iter()
        .map(|r| SourceLine {
            last_success: r.last_success.map_or_else(|| "never".into(), when),
            next_attempt: when(r.next_attempt),
            error: r.last_error,
            url: r.url,
        })
        .collect();
    Ok(render(&CrlsPage {
        nav: nav(&c),
        csrf: c.csrf.clone().unwrap_or_default(),
        message: n.note,
        can_edit: c.role >= Role::Operator,
        crls,
        sources,
    }))
}

async fn crl_import(State(s): State<Arc<Server>>, c: Caller, mut form: Multipart) -> PageResult {
    c.require(Role::Operator)?;
    let mut csrf_ok = false;
    let mut files = Vec::new();
    while let Some(field) = form.next_field().await.map_err(upload_error)? {
        match field.name().unwrap_or_default() {
            "csrf" => {
                let t = field.text().await.map_err(upload_error)?;
                csrf_ok = c.upload_csrf_matches(&t);
            }
            "files" => {
                let name = field.file_name().unwrap_or("upload").to_owned();
                let data = field.bytes().await.map_err(upload_error)?;
                files.push((name, data));
            }
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(stale_csrf().into());
    }
    let mut lines = Vec::new();
    for (name, data) in files {
        match parse_crl_file(&data) {
            Err(e) => {
                let why = e.to_string();
                s.app
                    .audit(&c.actor(), "crl.import", &name, Err(&why), "")
                    .await?;
                lines.push(format!("{name}: {why}"));
            }
            Ok(list) => {
                for crl in list {
                    let r = s.app.import_crl(crl).await;
                    let line = match &r {
                        Ok(rep) => format!(
                            "{name}: {} ({}){}",
                            rep.issuer,
                            rep.status,
                            rep.problem
                                .as_deref()
                                .map(|p| format!(": {p}"))
                                .unwrap_or_default()
                        ),
                        Err(e) => format!("{name}: {e}"),
                    };
                    let detail = r.as_ref().map(|x| x.sha256.clone()).unwrap_or_default();
                    // The import's own error goes into the note (`line`); a failure to
                    // write the audit entry stops the page, as for every other change.
                    let why = r.as_ref().err().map(ToString::to_string);
                    s.app
                        .audit(
                            &c.actor(),
                            "crl.import",
                            &name,
                            why.as_deref().map_or(Ok(()), Err),
                            &detail,
                        )
                        .await?;
                    lines.push(line);
                }
            }
        }
    }
    Ok(Redirect::to(&format!("/crls?note={}", enc(&lines.join("; ")))).into_response())
}

/// A CRL to delete.
#[derive(Deserialize)]
pub struct CrlForm {
    csrf: String,
    sha256: String,
}

impl HasCsrf for CrlForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn crl_delete(State(s): State<Arc<Server>>, f: CheckedForm<CrlForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let r = s.app.delete_crl(&f.form.sha256).await;
    audited(&s, &f.caller, "crl.delete", &f.form.sha256, "", r).await?;
    Ok(Redirect::to(&format!("/crls?note={}", enc("CRL deleted"))).into_response())
}

#[derive(Deserialize)]
struct CsrfOnly {
    csrf: String,
}

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// "Download now": the due CRL sources, with the default limits.
async fn crl_update(State(s): State<Arc<Server>>, f: CheckedForm<CsrfOnly>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let (_, note) = crate::api_jobs::crl_update_audited(&s, &f.caller, None).await?;
    Ok(Redirect::to(&format!("/crls?note={}", enc(&note))).into_response())
}

struct CtlLine {
    sha512: String,
    status: String,
    allow_expired: bool,
    created: String,
}

#[derive(Template)]
#[template(path = "ctl.html")]
struct CtlPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<String>,
    can_edit: bool,
    entries: Vec<CtlLine>,
}

async fn ctl(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<Note>) -> PageResult {
    c.require(Role::Auditor)?;
    let entries = s
        .app
        .ctl()
        .await?
        .into_iter()
        .map(|e| CtlLine {
            sha512: e.sha512,
            status: e.status,
            allow_expired: e.allow_expired,
            created: format_time(e.created_at),
        })
        .collect();
    Ok(render(&CtlPage {
        nav: nav(&c),
        csrf: c.csrf.clone().unwrap_or_default(),
        message: n.note,
        can_edit: c.role >= Role::Operator,
        entries,
    }))
}

/// A trust-list entry to add.
#[derive(Deserialize)]
pub struct CtlForm {
    csrf: String,
    thumbprint: String,
    status: String,
    allow_expired: Option<String>,
}

impl HasCsrf for CtlForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn ctl_add(State(s): State<Arc<Server>>, f: CheckedForm<CtlForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let v = &f.form;
    let status = match v.status.as_str() {
        "whitelisted" => CtlStatus::Whitelisted {
            allow_expired: v.allow_expired.as_deref() == Some("true"),
        },
        "blacklisted" => CtlStatus::Blacklisted,
        other => {
            return Err(Problem::bad_request(format!(
                "status {other:?}: whitelisted or blacklisted"
            ))
            .into());
        }
    };
    let t = v.thumbprint.trim();
    let r = s.app.ctl_add(t, status).await;
    let e = audited(&s, &f.caller, "ctl.add", t, &v.status, r).await?;
    Ok(Redirect::to(&format!(
        "/ctl?note={}",
        enc(&format!("{} {}", e.status, &e.sha512[..16]))
    ))
    .into_response())
}

/// A trust-list entry to remove.
#[derive(Deserialize)]
pub struct RemoveForm {
    csrf: String,
    sha512: String,
}

impl HasCsrf for RemoveForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn ctl_remove(State(s): State<Arc<Server>>, f: CheckedForm<RemoveForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let r = s.app.ctl_remove(&f.form.sha512).await;
    let removed = audited(&s, &f.caller, "ctl.remove", &f.form.sha512, "", r).await?;
    let note = if removed {
        "entry removed"
    } else {
        "there was no such entry"
    };
    Ok(Redirect::to(&format!("/ctl?note={}", enc(note))).into_response())
}
