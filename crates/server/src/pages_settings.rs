//! Settings pages: `/global`, `/domains`, `/domains/{domain}`, `/users`, `/users/{email}`.
//! Every setting shows its effective value and where it comes from, with an inherit switch;
//! a user's page also shows the certificates the gateway would use and why others are not.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;
use certmail_app::admin::Role;
use certmail_app::policy::{SETTINGS, normalise_domain, normalise_email};
use certmail_store::Party;
use serde::Deserialize;

use crate::Server;
use crate::api::{audited, resolved_settings};
use crate::auth::{Caller, CheckedForm, HasCsrf};
use crate::pages::{CsrfOnly, Nav, PageResult, enc, nav, render};
use crate::pages_chooser::ChooserQuery;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/global", get(global).post(global_set))
        .route("/domains", get(domains).post(domain_add))
        .route("/domains/{domain}", get(domain).post(domain_set))
        .route("/users", get(users).post(user_add))
        .route("/users/{email}", get(user).post(user_set))
        .route("/users/{email}/select", axum::routing::post(user_select))
        .route("/users/{email}/delete", axum::routing::post(user_delete))
        .route(
            "/domains/{domain}/delete",
            axum::routing::post(domain_delete),
        )
        .route(
            "/domains/{domain}/select",
            axum::routing::post(domain_select),
        )
        .route("/global/select", axum::routing::post(global_select))
}

struct Row {
    key: &'static str,
    help: &'static str,
    value: String,
    source: String,
    inherited: bool,
    options: Vec<String>,
    text: bool,
}

struct RecipientView {
    email: String,
    encryption: Vec<(String, String, String)>,
    signing: Option<(String, String, String)>,
    excluded: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Option<Nav>,
    heading: String,
    message: Option<String>,
    rows: Vec<Row>,
    can_edit: bool,
    action: String,
    csrf: String,
    recipient: Option<RecipientView>,
    selections: Vec<(String, String)>,
    chooser: Option<crate::pages_chooser::Chooser>,
    /// Where the Delete button posts (users and domains, for operators).
    delete_action: Option<String>,
}

async fn rows(s: &Server, p: &Party, reveal: bool) -> Result<Vec<Row>, Problem> {
    let mut out = Vec::new();
    for r in resolved_settings(&s.app, p, reveal).await? {
        let Some(d) = SETTINGS.iter().find(|d| d.key == r.key) else {
            continue;
        };
        out.push(Row {
            key: d.key,
            help: d.help,
            value: r.value,
            source: r.source,
            inherited: r.inherited,
            options: d.values.iter().map(|v| (*v).to_owned()).collect(),
            text: d.is_text(),
        });
    }
    Ok(out)
}

async fn settings_page(
    s: &Server,
    c: &Caller,
    p: Party,
    heading: String,
    action: String,
    edit_role: Role,
    q: ChooserQuery,
) -> PageResult {
    c.require(Role::Auditor)?;
    let recipient = match &p {
        Party::User(email) => {
            let r = s.app.recipient(email, certmail_app::now()).await?;
            let mut excluded: Vec<(String, String, String)> = r
                .encryption_excluded
                .iter()
                .chain(r.signing_excluded.iter())
                .map(|x| (x.sha256.clone(), x.subject.clone(), x.reason.clone()))
                .collect();
            excluded.dedup();
            Some(RecipientView {
                email: r.email.clone(),
                encryption: r
                    .encryption
                    .iter()
                    .map(|u| (u.sha256.clone(), u.subject.clone(), u.source.clone()))
                    .collect(),
                signing: r
                    .signing
                    .as_ref()
                    .map(|u| (u.sha256.clone(), u.subject.clone(), u.source.clone())),
                excluded,
            })
        }
        _ => None,
    };
    let own = crate::api_select::list(s, &p).await?;
    let mut selections = Vec::new();
    for (k, list) in [
        ("encryption", own.encryption),
        ("signing", own.signing),
        ("additional", own.additional),
    ] {
        selections.extend(list.into_iter().map(|x| (k.to_owned(), x)));
    }
    let own_email = match &p {
        Party::User(e) => Some(e.as_str()),
        _ => None,
    };
    let can_edit = c.role >= edit_role;
    let delete_action =
        (c.role >= Role::Operator && p != Party::Global).then(|| format!("{action}/delete"));
    let chooser = if can_edit {
        Some(crate::pages_chooser::chooser(s, &action, own_email, &q, &selections).await?)
    } else {
        None
    };
    Ok(render(&SettingsPage {
        nav: nav(c),
        selections,
        chooser,
        heading,
        message: q.saved,
        rows: rows(s, &p, c.role >= Role::Operator).await?,
        can_edit,
        action,
        csrf: c.csrf.clone().unwrap_or_default(),
        recipient,
        delete_action,
    }))
}

/// A setting change from a page: an empty value means inherit, unless `op` is `set` (a
/// text setting saved empty, which for most of them means off); `op=inherit` always
/// inherits.
#[derive(Deserialize)]
pub struct SetForm {
    csrf: String,
    key: String,
    value: String,
    #[serde(default)]
    op: Option<String>,
}

impl HasCsrf for SetForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn apply(
    s: &Server,
    c: &Caller,
    p: &Party,
    object: &str,
    f: &SetForm,
) -> Result<String, Problem> {
    crate::api::require_for_party(c, p)?;
    let inherit = match f.op.as_deref() {
        Some("inherit") => true,
        Some("set") => false,
        _ => f.value.is_empty(),
    };
    if inherit {
        let r = s.app.unset_setting(p, &f.key).await.map(|_| ());
        audited(s, c, "setting.unset", object, &f.key, r).await?;
        Ok(format!("{} now inherits.", f.key))
    } else {
        let r = s.app.set_setting(p, &f.key, &f.value).await;
        let detail = crate::api::setting_detail(&f.key, &f.value);
        audited(s, c, "setting.set", object, &detail, r).await?;
        let secret = certmail_app::policy::SETTINGS
            .iter()
            .any(|d| d.key == f.key && d.secret);
        let shown = if secret { "(secret)" } else { f.value.as_str() };
        Ok(format!("{} set to {shown}.", f.key))
    }
}

fn saved_redirect(path: &str, msg: &str) -> axum::response::Response {
    Redirect::to(&format!("{path}?saved={}", enc(msg))).into_response()
}

async fn global(
    State(s): State<Arc<Server>>,
    c: Caller,
    Query(m): Query<ChooserQuery>,
) -> PageResult {
    settings_page(
        &s,
        &c,
        Party::Global,
        "Global settings".into(),
        "/global".into(),
        Role::Admin,
        m,
    )
    .await
}

async fn global_set(State(s): State<Arc<Server>>, f: CheckedForm<SetForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    let msg = apply(&s, &f.caller, &Party::Global, "global", &f.form).await?;
    Ok(saved_redirect("/global", &msg))
}

async fn domain(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(d): Path<String>,
    Query(m): Query<ChooserQuery>,
) -> PageResult {
    let d = normalise_domain(&d)?;
    settings_page(
        &s,
        &c,
        Party::Domain(d.clone()),
        format!("Domain {d}"),
        format!("/domains/{d}"),
        Role::Operator,
        m,
    )
    .await
}

async fn domain_set(
    State(s): State<Arc<Server>>,
    Path(d): Path<String>,
    f: CheckedForm<SetForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let d = normalise_domain(&d)?;
    let msg = apply(&s, &f.caller, &Party::Domain(d.clone()), &d, &f.form).await?;
    Ok(saved_redirect(&format!("/domains/{d}"), &msg))
}

async fn user(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(e): Path<String>,
    Query(m): Query<ChooserQuery>,
) -> PageResult {
    let e = normalise_email(&e)?;
    settings_page(
        &s,
        &c,
        Party::User(e.clone()),
        format!("User {e}"),
        format!("/users/{e}"),
        Role::Operator,
        m,
    )
    .await
}

async fn user_set(
    State(s): State<Arc<Server>>,
    Path(e): Path<String>,
    f: CheckedForm<SetForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let e = normalise_email(&e)?;
    let msg = apply(&s, &f.caller, &Party::User(e.clone()), &e, &f.form).await?;
    Ok(saved_redirect(&format!("/users/{e}"), &msg))
}

#[derive(Template)]
#[template(path = "parties.html")]
struct PartiesPage {
    nav: Option<Nav>,
    message: Option<String>,
    heading: &'static str,
    column: &'static str,
    add_label: &'static str,
    path: &'static str,
    search: String,
    can_edit: bool,
    csrf: String,
    names: Vec<String>,
    prev: Option<String>,
    next: Option<String>,
}

/// List query.
#[derive(Deserialize, Default)]
pub struct ListQuery {
    search: Option<String>,
    offset: Option<i64>,
    /// The note after a change (a deletion).
    note: Option<String>,
}

const PAGE: i64 = 100;

async fn parties_page(s: &Server, c: &Caller, q: ListQuery, users: bool) -> PageResult {
    c.require(Role::Auditor)?;
    let (scope, path) = if users {
        ("user", "/users")
    } else {
        ("domain", "/domains")
    };
    let offset = q.offset.unwrap_or(0).max(0);
    let search = q.search.unwrap_or_default();
    let mut names = s
        .app
        .parties(
            scope,
            Some(&search).filter(|x| !x.is_empty()).map(String::as_str),
            PAGE + 1,
            offset,
        )
        .await?;
    let more = names.len() as i64 > PAGE;
    names.truncate(PAGE as usize);
    let link = |o: i64| format!("{path}?search={}&offset={o}", enc(&search));
    Ok(render(&PartiesPage {
        nav: nav(c),
        message: q.note.filter(|n| !n.is_empty()),
        heading: if users { "Users" } else { "Domains" },
        column: if users { "E-mail address" } else { "Domain" },
        add_label: if users {
            "Add user (e-mail address)"
        } else {
            "Add domain (example.com or *.example.com)"
        },
        path,
        can_edit: c.role >= Role::Operator,
        csrf: c.csrf.clone().unwrap_or_default(),
        names,
        prev: (offset > 0).then(|| link((offset - PAGE).max(0))),
        next: more.then(|| link(offset + PAGE)),
        search,
    }))
}

async fn domains(
    State(s): State<Arc<Server>>,
    c: Caller,
    Query(q): Query<ListQuery>,
) -> PageResult {
    parties_page(&s, &c, q, false).await
}

async fn users(State(s): State<Arc<Server>>, c: Caller, Query(q): Query<ListQuery>) -> PageResult {
    parties_page(&s, &c, q, true).await
}

/// Adding a user or domain.
#[derive(Deserialize)]
pub struct AddForm {
    csrf: String,
    name: String,
}

impl HasCsrf for AddForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn domain_add(State(s): State<Arc<Server>>, f: CheckedForm<AddForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let d = normalise_domain(&f.form.name);
    let name = d
        .as_ref()
        .map_or_else(|_| f.form.name.clone(), Clone::clone);
    let r = match d {
        Ok(d) => s.app.add_party(&Party::Domain(d)).await,
        Err(e) => Err(e),
    };
    audited(&s, &f.caller, "domain.add", &name, "", r).await?;
    Ok(Redirect::to(&format!("/domains/{name}")).into_response())
}

async fn user_add(State(s): State<Arc<Server>>, f: CheckedForm<AddForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let e = normalise_email(&f.form.name);
    let name = e
        .as_ref()
        .map_or_else(|_| f.form.name.clone(), Clone::clone);
    let r = match e {
        Ok(e) => s.app.add_party(&Party::User(e)).await,
        Err(e) => Err(e),
    };
    audited(&s, &f.caller, "user.add", &name, "", r).await?;
    Ok(Redirect::to(&format!("/users/{}", enc(&name))).into_response())
}

/// Deletes a user or domain from its page (operators) and goes back to the list.
async fn delete_from_page(
    s: &Server,
    f: &CheckedForm<CsrfOnly>,
    users: bool,
    raw: &str,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let d = crate::api_more::delete_party(s, &f.caller, users, raw).await?;
    let (kind, back) = if users {
        ("user", "/users")
    } else {
        ("domain", "/domains")
    };
    let note = format!(
        "Deleted {kind} {} with {} setting(s) and {} certificate selection(s).",
        d.name, d.settings, d.selections
    );
    Ok(Redirect::to(&format!("{back}?note={}", enc(&note))).into_response())
}

async fn user_delete(
    State(s): State<Arc<Server>>,
    Path(e): Path<String>,
    f: CheckedForm<CsrfOnly>,
) -> PageResult {
    delete_from_page(&s, &f, true, &e).await
}

async fn domain_delete(
    State(s): State<Arc<Server>>,
    Path(d): Path<String>,
    f: CheckedForm<CsrfOnly>,
) -> PageResult {
    delete_from_page(&s, &f, false, &d).await
}

/// Adding or removing a selection from a settings page.
#[derive(Deserialize)]
pub struct SelectForm {
    csrf: String,
    op: String,
    kind: String,
    sha256: String,
}

impl HasCsrf for SelectForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn select(
    s: &Server,
    f: &CheckedForm<SelectForm>,
    p: &Party,
    object: &str,
    back: &str,
) -> PageResult {
    let v = &f.form;
    let sha = v.sha256.trim();
    let msg = match v.op.as_str() {
        "add" => {
            crate::api_select::add(s, &f.caller, p, object, &v.kind, sha).await?;
            format!("{sha} selected for {}", v.kind)
        }
        "remove" => {
            crate::api_select::remove(s, &f.caller, p, object, &v.kind, sha).await?;
            format!("{sha} no longer selected for {}", v.kind)
        }
        other => {
            return Err(Problem::bad_request(format!(
                "unknown operation {other:?}: add or remove"
            ))
            .into());
        }
    };
    Ok(saved_redirect(back, &msg))
}

async fn user_select(
    State(s): State<Arc<Server>>,
    Path(e): Path<String>,
    f: CheckedForm<SelectForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let e = normalise_email(&e)?;
    select(&s, &f, &Party::User(e.clone()), &e, &format!("/users/{e}")).await
}

async fn domain_select(
    State(s): State<Arc<Server>>,
    Path(d): Path<String>,
    f: CheckedForm<SelectForm>,
) -> PageResult {
    f.caller.require(Role::Operator)?;
    let d = normalise_domain(&d)?;
    select(
        &s,
        &f,
        &Party::Domain(d.clone()),
        &d,
        &format!("/domains/{d}"),
    )
    .await
}

async fn global_select(State(s): State<Arc<Server>>, f: CheckedForm<SelectForm>) -> PageResult {
    f.caller.require(Role::Admin)?;
    select(&s, &f, &Party::Global, "global", "/global").await
}
