//! Accounts over the API, as `certmail admin add|list|delete|passwd|token` (administrators
//! only): list them (never a hash), add one, delete one (never the last administrator), set
//! a password (ending the account's sessions) and create an API token. A password the
//! server makes and every token are in the answer once, and nowhere else: not in the audit
//! log, not in any log, stored only hashed.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use certmail_app::AppError;
use certmail_app::admin::Role;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::Server;
use crate::api::{ApiJson, audited};
use crate::api_trust::List;
use crate::auth::Caller;
use crate::problem::Problem;

/// Length of a password the server makes (as the CLI's).
const GENERATED_LEN: usize = 20;

/// Longest token lifetime, days.
pub(crate) const MAX_TOKEN_DAYS: u32 = 3650;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/admins", get(list).post(add))
        .route("/api/v1/admins/{name}", axum::routing::delete(delete))
        .route("/api/v1/admins/{name}/password", put(password))
        .route("/api/v1/admins/{name}/tokens", post(token))
}

/// The accounts (as `certmail admin list --json`: name, role, has_password, created_at,
/// tokens; never a hash).
#[utoipa::path(get, path = "/api/v1/admins", tag = "accounts",
    responses((status = 200, body = List<certmail_app::admin::Account>), (status = 401, body = Problem), (status = 403, body = Problem)))]
pub async fn list(
    State(s): State<Arc<Server>>,
    c: Caller,
) -> Result<Json<List<certmail_app::admin::Account>>, Problem> {
    c.require(Role::Admin)?;
    Ok(Json(List::all(s.app.admin_list().await?)))
}

/// An account to add.
#[derive(Deserialize, ToSchema)]
pub struct AdminAddBody {
    /// Login name: 1 to 64 letters, digits, '.', '_', '@' and '-'.
    pub name: String,
    /// `admin`, `operator` or `auditor`.
    pub role: String,
    /// Password (at least 12 characters). Absent: one is made and answered once.
    pub password: Option<String>,
}

impl Drop for AdminAddBody {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

/// An account added.
#[derive(Serialize, ToSchema)]
pub struct AdminAdded {
    /// Login name.
    pub name: String,
    /// Role.
    pub role: String,
    /// Whether a password is set.
    pub has_password: bool,
    /// Created, Unix seconds.
    pub created_at: i64,
    /// Number of API tokens.
    pub tokens: usize,
    /// The password the server made, shown only in this answer (absent when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// A password given, or a new one made (`true`: made here, to show once).
fn given_or_made(given: Option<&str>) -> Result<(Zeroizing<String>, bool), AppError> {
    match given {
        Some(p) => Ok((Zeroizing::new(p.to_owned()), false)),
        None => Ok((certmail_app::ca::random_password(GENERATED_LEN)?, true)),
    }
}

/// Adds an account; without a password one is made and answered once.
#[utoipa::path(post, path = "/api/v1/admins", tag = "accounts", request_body = AdminAddBody,
    responses((status = 201, body = AdminAdded), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 409, body = Problem, description = "the name is taken"),
        (status = 422, body = Problem, description = "the body lacks a field or has a wrong type")))]
pub async fn add(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(b): ApiJson<AdminAddBody>,
) -> Result<(StatusCode, Json<AdminAdded>), Problem> {
    c.require(Role::Admin)?;
    let name = b.name.trim();
    let r = match (
        Role::parse(b.role.trim()),
        given_or_made(b.password.as_deref()),
    ) {
        (Ok(role), Ok((pw, made))) => s
            .app
            .admin_add(name, role, Some(&pw))
            .await
            .map(|a| (a, made.then_some(pw))),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    let (a, made) = audited(&s, &c, "account.add", name, b.role.trim(), r).await?;
    Ok((
        StatusCode::CREATED,
        Json(AdminAdded {
            name: a.name,
            role: a.role.as_str().to_owned(),
            has_password: a.has_password,
            created_at: a.created_at,
            tokens: a.tokens,
            password: made.map(|p| p.to_string()),
        }),
    ))
}

/// Deletes an account after the CLI's rules, and never the last administrator (not even
/// when it is the only account: 409), audited as `account.delete`.
pub(crate) async fn delete_account(s: &Server, c: &Caller, name: &str) -> Result<(), Problem> {
    let last_admin = match s.app.admin_list().await {
        Ok(all) => {
            let admins = all.iter().filter(|a| a.role == Role::Admin).count();
            all.iter()
                .any(|a| a.name == name && a.role == Role::Admin && admins == 1)
        }
        Err(_) => false,
    };
    let r = if last_admin {
        Err(AppError::Invalid(format!(
            "{name:?} is the last admin account: add another admin first"
        )))
    } else {
        s.app.admin_delete(name).await
    };
    audited(s, c, "account.delete", name, "", r)
        .await
        .map_err(|p| {
            if last_admin {
                Problem::new(StatusCode::CONFLICT, p.detail)
            } else {
                p
            }
        })
}

/// Deletes an account with its tokens and sessions. The last administrator is kept (409).
#[utoipa::path(delete, path = "/api/v1/admins/{name}", tag = "accounts",
    params(("name" = String, Path, description = "login name")),
    responses((status = 204, description = "deleted"), (status = 401, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem, description = "the last admin account")))]
pub async fn delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Admin)?;
    delete_account(&s, &c, &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A new password.
#[derive(Default, Deserialize, ToSchema)]
pub struct PasswordBody {
    /// The password (at least 12 characters). Absent: one is made and answered once.
    pub password: Option<String>,
}

impl Drop for PasswordBody {
    fn drop(&mut self) {
        if let Some(p) = &mut self.password {
            zeroize::Zeroize::zeroize(p);
        }
    }
}

/// A password set.
#[derive(Serialize, ToSchema)]
pub struct PasswordSet {
    /// Login name.
    pub name: String,
    /// Always true: the account's browser sessions are ended.
    pub sessions_ended: bool,
    /// The password the server made, shown only in this answer (absent when one was given).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// Sets an account's password (or makes one), ending its sessions, audited as
/// `account.passwd` without the password: the password made, if one was.
pub(crate) async fn set_password(
    s: &Server,
    c: &Caller,
    name: &str,
    given: Option<&str>,
) -> Result<Option<Zeroizing<String>>, Problem> {
    let r = match given_or_made(given) {
        Ok((pw, made)) => s
            .app
            .admin_passwd(name, &pw)
            .await
            .map(|()| made.then_some(pw)),
        Err(e) => Err(e),
    };
    let detail = if given.is_none() { "generated" } else { "" };
    audited(s, c, "account.passwd", name, detail, r).await
}

/// Sets an account's password and ends its sessions; without a password one is made and
/// answered once.
#[utoipa::path(put, path = "/api/v1/admins/{name}/password", tag = "accounts", request_body = PasswordBody,
    params(("name" = String, Path, description = "login name")),
    responses((status = 200, body = PasswordSet), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn password(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<PasswordBody>,
) -> Result<Json<PasswordSet>, Problem> {
    c.require(Role::Admin)?;
    let made = set_password(&s, &c, &name, b.password.as_deref()).await?;
    Ok(Json(PasswordSet {
        name,
        sessions_ended: true,
        password: made.map(|p| p.to_string()),
    }))
}

/// A token to create.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct TokenBody {
    /// Days until the token expires, 1 to 3650 (absent: never).
    pub expires_days: Option<u32>,
}

/// A token created.
#[derive(Serialize, ToSchema)]
pub struct TokenCreated {
    /// The account it acts as.
    pub name: String,
    /// The token (`Authorization: Bearer TOKEN`), shown only in this answer.
    pub token: String,
    /// Days until it expires (absent: never).
    pub expires_days: Option<u32>,
}

/// Creates an API token for an account, audited as `account.token` with its expiry only.
pub(crate) async fn new_token(
    s: &Server,
    c: &Caller,
    name: &str,
    days: Option<u32>,
) -> Result<Zeroizing<String>, Problem> {
    if let Some(d) = days
        && !(1..=MAX_TOKEN_DAYS).contains(&d)
    {
        return Err(Problem::bad_request(format!(
            "expires_days {d} is not 1 to {MAX_TOKEN_DAYS}"
        )));
    }
    let r = s.app.admin_token(name, days).await;
    let detail = days.map_or("no expiry".to_owned(), |d| format!("{d} days"));
    audited(s, c, "account.token", name, &detail, r).await
}

/// Creates an API token for an account; the token is answered once and stored hashed.
#[utoipa::path(post, path = "/api/v1/admins/{name}/tokens", tag = "accounts", request_body = TokenBody,
    params(("name" = String, Path, description = "login name")),
    responses((status = 201, body = TokenCreated), (status = 400, body = Problem), (status = 401, body = Problem),
        (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn token(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(name): Path<String>,
    ApiJson(b): ApiJson<TokenBody>,
) -> Result<(StatusCode, Json<TokenCreated>), Problem> {
    c.require(Role::Admin)?;
    let token = new_token(&s, &c, &name, b.expires_days).await?;
    Ok((
        StatusCode::CREATED,
        Json(TokenCreated {
            name,
            token: token.to_string(),
            expires_days: b.expires_days,
        }),
    ))
}
