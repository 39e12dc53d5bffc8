//! Pages that change the stores: `/import` (upload with a password, per-item report),
//! trust-list actions and deletion on a certificate's page, and `/admin` (accounts).

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Multipart, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::{ImportOptions, RootPolicy, format_time, report_rows};
use certmail_pki::verify::CtlStatus;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Server;
use crate::api::audited;
use crate::auth::{Caller, CheckedForm, HasCsrf, stale_csrf};
use crate::pages::{NameForm, Nav, Note, PageResult, enc, nav, render};
use crate::problem::{Problem, upload_error};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/import",
            get(import_form)
                .post(import)
                .layer(axum::extract::DefaultBodyLimit::max(
                    certmail_app::MAX_IMPORT_SIZE as usize + (1 << 20),
                )),
        )
        .route("/certificates/{sha256}/ctl", post(ctl))
        .route("/certificates/{sha256}/delete", post(delete))
        .route("/certificates/{sha256}/export", post(export))
        .route("/admin", get(admin).post(admin_add))
        .route("/admin/delete", post(admin_delete))
        .route("/admin/password", post(admin_password))
        .route("/admin/token", post(admin_token))
}

struct ReportRow {
    file: String,
    kind: String,
    status: String,
    detail: String,
    link: String,
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    nav: Option<Nav>,
    csrf: String,
    can_trust: bool,
    rows: Vec<ReportRow>,
}

fn import_page(c: &Caller, rows: Vec<ReportRow>) -> PageResult {
    Ok(render(&ImportPage {
        nav: nav(c),
        csrf: c.csrf.clone().unwrap_or_default(),
        can_trust: c.role >= Role::Admin,
        rows,
    }))
}

async fn import_form(c: Caller) -> PageResult {
    c.require(Role::Operator)?;
    import_page(&c, Vec::new())
}

async fn import(State(s): State<Arc<Server>>, c: Caller, mut form: Multipart) -> PageResult {
    c.require(Role::Operator)?;
    let mut csrf_ok = false;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut password: Option<Zeroizing<String>> = None;
    let mut trust_roots = false;
    while let Some(field) = form.next_field().await.map_err(upload_error)? {
        match field.name().unwrap_or_default() {
            "csrf" => {
                let t = field.text().await.map_err(upload_error)?;
                csrf_ok = c.upload_csrf_matches(&t);
            }
            "files" => {
                let name = field.file_name().unwrap_or("upload").to_owned();
                let data = field.bytes().await.map_err(upload_error)?;
                if !data.is_empty() {
                    files.push((name, data.to_vec()));
                }
            }
            "password" => {
                let t = Zeroizing::new(field.text().await.map_err(upload_error)?);
                if !t.is_empty() {
                    password = Some(t);
                }
            }
            "trust_roots" => trust_roots = field.text().await.map_err(upload_error)? == "true",
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(stale_csrf().into());
    }
    if trust_roots {
        c.require(Role::Admin)?;
    }
    if files.is_empty() {
        return Err(Problem::bad_request("choose at least one file").into());
    }
    let opts = ImportOptions {
        password,
        roots: if trust_roots {
            RootPolicy::TrustSelfIssued
        } else {
            RootPolicy::CertificateStore
        },
    };
    let reports = crate::api_store::import_files(&s, &c, files, &opts).await?;
    let rows = report_rows(&reports)
        .into_iter()
        .map(|r| {
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            ReportRow {
                link: if text("kind") == "certificate" {
                    text("id")
                } else {
                    String::new()
                },
                file: text("file"),
                kind: text("kind"),
                status: text("status"),
                detail: text("detail"),
            }
        })
        .collect();
    import_page(&c, rows)
}

/// A trust-list action.
#[derive(Deserialize)]
pub struct CtlForm {
    csrf: String,
    action: String,
}

impl HasCsrf for CtlForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn ctl(
    State(s): State<Arc<Server>>,
    Path(sha256): Path<String>,
    f: CheckedForm<CtlForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let r = match f.form.action.as_str() {
        "whitelist" => s
            .app
            .ctl_add(
                &sha256,
                CtlStatus::Whitelisted {
                    allow_expired: false,
                },
            )
            .await
            .map(|_| ()),
        "blacklist" => s
            .app
            .ctl_add(&sha256, CtlStatus::Blacklisted)
            .await
            .map(|_| ()),
        "remove" => s.app.ctl_remove(&sha256).await.map(|_| ()),
        other => {
            return Err(Problem::bad_request(format!(
                "unknown trust-list action {other:?}: whitelist, blacklist or remove"
            ))
            .into());
        }
    };
    let action = format!("ctl.{}", f.form.action);
    audited(&s, &f.caller, &action, &sha256, "", r).await?;
    Ok(Redirect::to(&format!("/certificates/{sha256}")).into_response())
}

async fn delete(
    State(s): State<Arc<Server>>,
    Path(sha256): Path<String>,
    f: CheckedForm<crate::pages::CsrfOnly>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let kind = s.app.store_of(&sha256).await;
    let r = match kind {
        Ok(k) => s.app.delete(k, &sha256).await.map(|v| v.cert.subject),
        Err(e) => Err(e),
    };
    let subject = audited(&s, &f.caller, "certificate.delete", &sha256, "", r).await?;
    Ok(Redirect::to(&format!("/certificates?deleted={}", enc(&subject))).into_response())
}

/// An export request from the certificate's page.
#[derive(Deserialize)]
pub struct ExportForm {
    csrf: String,
    format: String,
    password: Option<String>,
}

impl Drop for ExportForm {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

impl HasCsrf for ExportForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn export(
    State(s): State<Arc<Server>>,
    Path(sha256): Path<String>,
    f: CheckedForm<ExportForm>,
) -> PageResult {
    f.caller.require(Role::Auditor)?;
    let password = f
        .form
        .password
        .clone()
        .filter(|p| !p.is_empty())
        .map(Zeroizing::new);
    Ok(crate::api_store::export_file(&s, &f.caller, &sha256, &f.form.format, password).await?)
}

struct AccountLine {
    name: String,
    role: &'static str,
    has_password: bool,
    tokens: usize,
    created: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    nav: Option<Nav>,
    csrf: String,
    me: String,
    message: Option<String>,
    accounts: Vec<AccountLine>,
}

async fn admin(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<Note>) -> PageResult {
    c.require(Role::Admin)?;
    let accounts = s
        .app
        .admin_list()
        .await?
        .into_iter()
        .map(|a| AccountLine {
            role: a.role.as_str(),
            has_password: a.has_password,
            tokens: a.tokens,
            created: format_time(a.created_at),
            name: a.name,
        })
        .collect();
    Ok(render(&AdminPage {
        nav: nav(&c),
        csrf: c.csrf.clone().unwrap_or_default(),
        me: c.name.clone(),
        message: n.note,
        accounts,
    }))
}

/// A new account.
#[derive(Deserialize)]
pub struct AccountForm {
    csrf: String,
    name: String,
    role: String,
    password: String,
}

impl Drop for AccountForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

impl HasCsrf for AccountForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn admin_add(State(s): State<Arc<Server>>, f: CheckedForm<AccountForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let r = match Role::parse(&f.form.role) {
        Ok(role) => s
            .app
            .admin_add(&f.form.name, role, Some(&f.form.password))
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    audited(&s, &f.caller, "account.add", &f.form.name, &f.form.role, r).await?;
    Ok(Redirect::to(&format!(
        "/admin?note={}",
        enc(&format!("added {}", f.form.name))
    ))
    .into_response())
}

async fn admin_delete(State(s): State<Arc<Server>>, f: CheckedForm<NameForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    if f.form.name == f.caller.name {
        return Err(
            Problem::bad_request("you cannot delete the account you are logged in with").into(),
        );
    }
    let r = s.app.admin_delete(&f.form.name).await;
    audited(&s, &f.caller, "account.delete", &f.form.name, "", r).await?;
    Ok(Redirect::to(&format!(
        "/admin?note={}",
        enc(&format!("deleted {}", f.form.name))
    ))
    .into_response())
}

/// The page that shows a password or token made for an account, once: the answer of the
/// form's POST itself, never a redirect whose URL would carry it.
#[derive(Template)]
#[template(path = "admin_secret.html")]
struct SecretPage {
    nav: Option<Nav>,
    account: String,
    what: &'static str,
    detail: String,
    secret: Option<Zeroizing<String>>,
}

/// A new password for an account: twice, or both empty to have one made.
#[derive(Deserialize)]
pub struct PasswordForm {
    csrf: String,
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password2: String,
}

impl Drop for PasswordForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
        zeroize::Zeroize::zeroize(&mut self.password2);
    }
}

impl HasCsrf for PasswordForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn admin_password(State(s): State<Arc<Server>>, f: CheckedForm<PasswordForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let v = &f.form;
    if !crate::auth::same(&v.password, &v.password2) {
        return Err(Problem::bad_request(
            "the two passwords differ: type the new password twice, or leave both empty to have one made",
        )
        .into());
    }
    let given = (!v.password.is_empty()).then_some(v.password.as_str());
    let made = crate::api_admin::set_password(&s, &f.caller, &v.name, given).await?;
    let mine = v.name == f.caller.name;
    Ok(render(&SecretPage {
        nav: if mine { None } else { nav(&f.caller) },
        account: v.name.clone(),
        what: "password",
        detail: if mine {
            "Your password is set and your sessions are ended: log in again with it.".into()
        } else {
            format!(
                "The password of {} is set and its sessions are ended.",
                v.name
            )
        },
        secret: made,
    }))
}

/// A new API token for an account (expiry in days; empty: never).
#[derive(Deserialize)]
pub struct TokenForm {
    csrf: String,
    name: String,
    #[serde(default)]
    expires_days: String,
}

impl HasCsrf for TokenForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn admin_token(State(s): State<Arc<Server>>, f: CheckedForm<TokenForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let max = crate::api_admin::MAX_TOKEN_DAYS;
    let days = match f.form.expires_days.trim() {
        "" => None,
        t => Some(
            t.parse::<u32>()
                .ok()
                .filter(|d| (1..=max).contains(d))
                .ok_or_else(|| {
                    Problem::bad_request(format!(
                        "expiry days {t:?} is not a number from 1 to {max} (empty: never)"
                    ))
                })?,
        ),
    };
    let token = crate::api_admin::new_token(&s, &f.caller, &f.form.name, days).await?;
    Ok(render(&SecretPage {
        nav: nav(&f.caller),
        account: f.form.name.clone(),
        what: "API token",
        detail: format!(
            "A new API token acts as {}; it {}.",
            f.form.name,
            days.map_or("never expires".to_owned(), |d| format!(
                "expires in {d} days"
            ))
        ),
        secret: Some(token),
    }))
}
