//! `/keys`: the private key store as `GET /api/v1/keys` lists it (key id, algorithm, when
//! imported, the certificates using the key; never key material), and deleting a key
//! (operators; refused while certificates use it unless forced, as
//! `DELETE /api/v1/keys/{key_id}`). Auditors read only.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::format_time;
use serde::Deserialize;

use crate::Server;
use crate::api::audited;
use crate::auth::{Caller, CheckedForm, HasCsrf};
use crate::pages::{Nav, Note, PageResult, enc, nav, render};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/keys", get(list))
        .route("/keys/delete", post(delete))
}

struct Line {
    key_id: String,
    algorithm: String,
    imported: String,
    certificates: Vec<String>,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    nav: Option<Nav>,
    csrf: String,
    message: Option<String>,
    rows: Vec<Line>,
    can_delete: bool,
}

async fn list(State(s): State<Arc<Server>>, c: Caller, Query(n): Query<Note>) -> PageResult {
    c.require(Role::Auditor)?;
    let rows = s
        .app
        .keys()
        .await?
        .into_iter()
        .map(|k| Line {
            key_id: k.key_id,
            algorithm: k.algorithm,
            imported: format_time(k.imported_at),
            certificates: k.certificates,
        })
        .collect();
    Ok(render(&KeysPage {
        nav: nav(&c),
        csrf: c.csrf.clone().unwrap_or_default(),
        message: n.note,
        rows,
        can_delete: c.role >= Role::Operator,
    }))
}

/// A key to delete.
#[derive(Deserialize)]
pub struct DeleteForm {
    csrf: String,
    key_id: String,
    force: Option<String>,
}

impl HasCsrf for DeleteForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn delete(State(s): State<Arc<Server>>, f: CheckedForm<DeleteForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let key_id = f.form.key_id.trim();
    let force = f.form.force.as_deref() == Some("true");
    let r = s.app.delete_key(key_id, force).await;
    let detail = if force { "force" } else { "" };
    let id = audited(&s, &f.caller, "key.delete", key_id, detail, r)
        .await
        .map_err(|mut p| {
            p.detail = p.detail.replace("pass --force", "tick \"force\"");
            p
        })?;
    Ok(Redirect::to(&format!("/keys?note={}", enc(&format!("deleted key {id}")))).into_response())
}
