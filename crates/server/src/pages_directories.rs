//! `/directories`: the LDAP directories certificates are looked up in (list: anyone; add
//! and delete: administrators; a look-up of an address: operators), as the
//! `certmail directory` commands and `/api/v1/directories`. A bind password is sealed under
//! the KEK when stored and never shown again.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::directory::{LookupReport, NewDirectory};
use certmail_app::format_time;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Server;
use crate::api::audited;
use crate::auth::{Caller, CheckedForm, HasCsrf};
use crate::pages::{NameForm, Nav, Note, PageResult, enc, nav, render};
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/directories", get(list).post(add))
        .route("/directories/delete", post(delete))
        .route("/directories/lookup", post(lookup))
}

struct Line {
    name: String,
    url: String,
    base: String,
    bind: String,
    filter: String,
    default: bool,
    timeout_ms: i64,
    cache_ttl: i64,
}

struct Answer {
    directory: String,
    status: &'static str,
    found: i64,
    error: String,
    until: String,
    imported: Vec<(String, String, String)>,
    rejected: Vec<String>,
}

#[derive(Template)]
#[template(path = "directories.html")]
struct DirectoriesPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<String>,
    rows: Vec<Line>,
    can_edit: bool,
    can_lookup: bool,
    email: String,
    answers: Option<Vec<Answer>>,
}

async fn page(
    s: &Server,
    c: &Caller,
    message: Option<String>,
    report: Option<LookupReport>,
) -> PageResult {
    let rows = s
        .app
        .directories()
        .await?
        .into_iter()
        .map(|d| Line {
            bind: match (&d.bind_dn, d.bind_password_set) {
                (None, _) => "anonymous".into(),
                (Some(dn), true) => format!("{dn} (password stored, sealed)"),
                (Some(dn), false) => format!("{dn} (no password)"),
            },
            name: d.name,
            url: d.url,
            base: if d.base.is_empty() {
                "(first naming context)".into()
            } else {
                d.base
            },
            filter: d.filter,
            default: d.default,
            timeout_ms: d.timeout_ms,
            cache_ttl: d.cache_ttl,
        })
        .collect();
    let email = report.as_ref().map(|r| r.email.clone()).unwrap_or_default();
    let answers = report.map(|r| {
        r.directories
            .into_iter()
            .map(|a| Answer {
                directory: a.directory,
                status: a.status,
                found: a.found,
                error: a.error.unwrap_or_default(),
                until: format_time(a.expires_at),
                imported: a
                    .imported
                    .iter()
                    .map(|i| {
                        let t = |v: serde_json::Value| v.as_str().unwrap_or_default().to_owned();
                        (
                            t(serde_json::to_value(i.status).unwrap_or_default()),
                            i.id.clone(),
                            i.detail.clone(),
                        )
                    })
                    .collect(),
                rejected: a.rejected,
            })
            .collect()
    });
    Ok(render(&DirectoriesPage {
        nav: nav(c),
        csrf: c.csrf.clone().unwrap_or_default(),
        message,
        rows,
        can_edit: c.role >= Role::Admin,
        can_lookup: c.role >= Role::Operator,
        email,
        answers,
    }))
}

async fn list(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<Note>) -> PageResult {
    c.require(Role::Auditor)?;
    page(&s, &c, n.note, None).await
}

fn noted(msg: &str) -> axum::response::Response {
    Redirect::to(&format!("/directories?note={}", enc(msg))).into_response()
}

fn optional(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}

fn number(
    v: &Option<String>,
    what: &str,
    range: std::ops::RangeInclusive<i64>,
) -> Result<Option<i64>, Problem> {
    match optional(v) {
        None => Ok(None),
        Some(t) => t
            .parse::<i64>()
            .ok()
            .filter(|n| range.contains(n))
            .map(Some)
            .ok_or_else(|| {
                Problem::bad_request(format!(
                    "{what} {t:?} is not a number from {} to {}",
                    range.start(),
                    range.end()
                ))
            }),
    }
}

/// A directory to add.
#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    name: String,
    url: String,
    base: Option<String>,
    bind_dn: Option<String>,
    bind_password: Option<String>,
    filter: Option<String>,
    default: Option<String>,
    timeout_ms: Option<String>,
    cache_ttl: Option<String>,
}

impl HasCsrf for AddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl Drop for AddForm {
    fn drop(&mut self) {
        if let Some(p) = &mut self.bind_password {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

async fn add(State(s): State<Arc<Server>>, mut f: CheckedForm<AddForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let v = &mut f.form;
    let d = NewDirectory {
        name: v.name.trim().to_owned(),
        url: v.url.trim().to_owned(),
        base: optional(&v.base),
        bind_dn: optional(&v.bind_dn),
        filter: optional(&v.filter),
        default: v.default.as_deref() == Some("true"),
        timeout_ms: number(&v.timeout_ms, "look-up bound (ms)", 100..=60_000)?,
        cache_ttl: number(&v.cache_ttl, "cache lifetime (s)", 0..=2_592_000)?,
    };
    let password = v
        .bind_password
        .take()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new);
    let r = s.app.directory_add(&d, password).await;
    audited(&s, &f.caller, "directory.add", &d.name, &d.url, r).await?;
    Ok(noted(&format!("added directory {}", d.name)))
}

async fn delete(State(s): State<Arc<Server>>, f: CheckedForm<NameForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let r = s.app.directory_delete(&f.form.name).await;
    audited(&s, &f.caller, "directory.delete", &f.form.name, "", r).await?;
    Ok(noted(&format!("deleted directory {}", f.form.name)))
}

/// An address to look up.
#[derive(Deserialize)]
pub struct LookupForm {
    csrf: String,
    email: String,
    refresh: Option<String>,
}

impl HasCsrf for LookupForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn lookup(State(s): State<Arc<Server>>, f: CheckedForm<LookupForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let email = f.form.email.trim();
    let r = s
        .app
        .directory_lookup(email, f.form.refresh.as_deref() == Some("true"))
        .await;
    let report = audited(&s, &f.caller, "directory.lookup", email, "", r).await?;
    page(&s, &f.caller, None, Some(report)).await
}
