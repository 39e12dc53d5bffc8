//! More of the CLI over the API: every setting of a user, domain or global resolved at once
//! (as `certmail user|domain|global show --json`), a stored certificate's verdict with the
//! CLI's inputs (as `certmail cert verify --json`), a directory test (as `certmail directory
//! test`), and deleting a user or domain (as `certmail user|domain delete`).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::routing::{delete, get};
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::policy::{PartyDeleted, normalise_domain, normalise_email};
use certmail_app::{App, AppError};
use certmail_pki::verify::Purpose;
use certmail_store::{Party, StoreError};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::api::{ApiQuery, SettingValue, audited};
use crate::auth::Caller;
use crate::problem::Problem;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/users/{email}", delete(user_delete))
        .route("/api/v1/domains/{domain}", delete(domain_delete))
        .route("/api/v1/users/{email}/settings", get(user_settings))
        .route("/api/v1/domains/{domain}/settings", get(domain_settings))
        .route("/api/v1/global/settings", get(global_settings))
        .route(
            "/api/v1/certificates/{sha256}/verify",
            get(verify_certificate),
        )
        .route("/api/v1/directories/{name}/test", get(directory_test))
}

/// Every setting of a user, domain or global, resolved.
#[derive(Debug, Serialize, ToSchema)]
pub struct SettingList {
    /// Each setting with its effective value, where it comes from and whether it is
    /// inherited, in the order of `certmail user show`.
    pub items: Vec<SettingValue>,
}

/// Every setting of a party, resolved along its inheritance chain in one query.
pub async fn resolved_settings(app: &App, p: &Party, reveal: bool) -> Result<SettingList, Problem> {
    Ok(SettingList {
        items: crate::api::resolved_settings(app, p, reveal).await?,
    })
}

/// Every setting of a user, resolved (as `certmail user show --json`).
#[utoipa::path(get, path = "/api/v1/users/{email}/settings", tag = "settings",
    params(("email" = String, Path, description = "e-mail address")),
    responses((status = 200, body = SettingList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn user_settings(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(email): Path<String>,
) -> Result<Json<SettingList>, Problem> {
    c.require(Role::Auditor)?;
    let p = Party::User(normalise_email(&email)?);
    Ok(Json(
        resolved_settings(&s.app, &p, c.role >= Role::Operator).await?,
    ))
}

/// Every setting of a domain, resolved (as `certmail domain show --json`).
#[utoipa::path(get, path = "/api/v1/domains/{domain}/settings", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain")),
    responses((status = 200, body = SettingList), (status = 400, body = Problem), (status = 401, body = Problem)))]
pub async fn domain_settings(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(d): Path<String>,
) -> Result<Json<SettingList>, Problem> {
    c.require(Role::Auditor)?;
    let p = Party::Domain(normalise_domain(&d)?);
    Ok(Json(
        resolved_settings(&s.app, &p, c.role >= Role::Operator).await?,
    ))
}

/// Every global setting, resolved (as `certmail global show --json`).
#[utoipa::path(get, path = "/api/v1/global/settings", tag = "settings",
    responses((status = 200, body = SettingList), (status = 401, body = Problem)))]
pub async fn global_settings(
    State(s): State<Arc<Server>>,
    c: Caller,
) -> Result<Json<SettingList>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(
        resolved_settings(&s.app, &Party::Global, c.role >= Role::Operator).await?,
    ))
}

/// Deletes a user or domain through the one use case the CLI and the pages use, audited
/// as `user.delete` / `domain.delete`; an unknown one is 404.
pub(crate) async fn delete_party(
    s: &Server,
    c: &Caller,
    users: bool,
    raw: &str,
) -> Result<PartyDeleted, Problem> {
    let (kind, party) = if users {
        ("user", normalise_email(raw).map(Party::User))
    } else {
        ("domain", normalise_domain(raw).map(Party::Domain))
    };
    let object = match &party {
        Ok(Party::User(n) | Party::Domain(n)) => n.clone(),
        _ => raw.to_owned(),
    };
    let r = match party {
        Ok(p) => s.app.delete_party(&p).await,
        Err(e) => Err(e),
    };
    let detail = r.as_ref().map_or_else(
        |_| String::new(),
        |d| format!("{} setting(s), {} selection(s)", d.settings, d.selections),
    );
    let action = format!("{kind}.delete");
    match audited(s, c, &action, &object, &detail, r).await {
        Err(p) if p.status == 404 => Err(Problem::not_found(format!("no {kind} {object}"))),
        other => other,
    }
}

/// What was deleted.
#[derive(Debug, Serialize, ToSchema)]
pub struct Deleted {
    /// The e-mail address or domain, normalised.
    pub name: String,
    /// Settings deleted.
    pub settings: u64,
    /// Certificate selections deleted (the certificates stay).
    pub selections: u64,
}

impl From<PartyDeleted> for Deleted {
    fn from(d: PartyDeleted) -> Deleted {
        Deleted {
            name: d.name,
            settings: d.settings,
            selections: d.selections,
        }
    }
}

/// Deletes a user with its settings and certificate selections (operators; the
/// certificates stay). The address then inherits everything again.
#[utoipa::path(delete, path = "/api/v1/users/{email}", tag = "settings",
    params(("email" = String, Path, description = "e-mail address")),
    responses((status = 200, body = Deleted), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no such user")))]
pub async fn user_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(email): Path<String>,
) -> Result<Json<Deleted>, Problem> {
    c.require(Role::Operator)?;
    Ok(Json(delete_party(&s, &c, true, &email).await?.into()))
}

/// Deletes a domain (exactly this name: `*.example.com` is another) with its settings and
/// certificate selections (operators).
#[utoipa::path(delete, path = "/api/v1/domains/{domain}", tag = "settings",
    params(("domain" = String, Path, description = "domain or *.domain")),
    responses((status = 200, body = Deleted), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem, description = "no such domain")))]
pub async fn domain_delete(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(d): Path<String>,
) -> Result<Json<Deleted>, Problem> {
    c.require(Role::Operator)?;
    Ok(Json(delete_party(&s, &c, false, &d).await?.into()))
}

/// Query of a certificate verification.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// Validation time (RFC 3339); default now.
    pub at: Option<String>,
    /// Intended use: any (default), smime-sign or smime-encrypt.
    pub purpose: Option<String>,
    /// E-mail address the certificate must carry.
    pub email: Option<String>,
}

/// A verdict as `certmail cert verify --json` prints it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictJson {
    /// SHA-256 of the certificate.
    pub certificate: String,
    /// Its subject.
    pub subject: String,
    /// `valid`, `expired`, `not-yet-valid`, `revoked`, `untrusted`, `blacklisted`,
    /// `wrong-usage`, `bad-signature`, `constraint-violated`, `revocation-unknown` or `invalid`.
    pub status: String,
    /// Why (empty when valid).
    pub reason: String,
    /// The chain used, SHA-256 thumbprints, leaf first (when valid).
    pub chain: Vec<String>,
    /// Subjects of the chain.
    pub chain_subjects: Vec<String>,
    /// Whether the trust list decided (whitelisted).
    pub whitelisted: bool,
}

/// Validates a stored certificate (either store) against the root store, the CRL store and
/// the trust list at a time, for a purpose and an address (as `certmail cert verify
/// --json`). An invalid certificate is still a 200: the status says why.
#[utoipa::path(get, path = "/api/v1/certificates/{sha256}/verify", tag = "certificates",
    params(("sha256" = String, Path, description = "SHA-256 thumbprint (or a unique prefix)"), VerifyQuery),
    responses((status = 200, body = VerdictJson), (status = 400, body = Problem, description = "a bad time, purpose or thumbprint"),
        (status = 404, body = Problem)))]
pub async fn verify_certificate(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
    ApiQuery(q): ApiQuery<VerifyQuery>,
) -> Result<Json<VerdictJson>, Problem> {
    c.require(Role::Auditor)?;
    let at = crate::api_smime::parse_at(q.at.as_deref())?;
    let purpose = match q.purpose.as_deref().map(str::trim) {
        None | Some("") | Some("any") => Purpose::Any,
        Some("smime-sign") => Purpose::SmimeSign,
        Some("smime-encrypt") => Purpose::SmimeEncrypt,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "purpose={other:?}: use any, smime-sign or smime-encrypt"
            )));
        }
    };
    let email = q.email.as_deref().map(str::trim).filter(|e| !e.is_empty());
    let (view, v) = s.app.verify_thumbprint(&sha256, at, purpose, email).await?;
    Ok(Json(VerdictJson {
        certificate: view.cert.sha256.clone(),
        subject: view.cert.subject.clone(),
        status: v.status.to_owned(),
        reason: v.reason,
        chain: v.chain,
        chain_subjects: v.chain_subjects,
        whitelisted: v.whitelisted,
    }))
}

/// Query of a directory test.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TestQuery {
    /// Address to search for (default: a search that matches nothing, which still proves
    /// connect, bind and search rights).
    pub email: Option<String>,
}

/// What a directory test found.
#[derive(Debug, Serialize, ToSchema)]
pub struct DirectoryTest {
    /// The directory.
    pub directory: String,
    /// Whether it connected, bound and searched.
    pub ok: bool,
    /// The address searched for (the probe's when none was given).
    pub email: String,
    /// The base searched (when ok).
    pub base: Option<String>,
    /// Entries matched (when ok).
    pub entries: Option<usize>,
    /// Certificate values found (when ok; nothing is imported).
    pub certificates: Option<usize>,
    /// Why not (when not ok).
    pub error: Option<String>,
    /// How long it took, milliseconds.
    pub elapsed_ms: u64,
}

/// Connects to a directory, binds and searches (for `email` when given) without importing
/// anything (as `certmail directory test`; operators). A directory that cannot be reached
/// is a 200 with `ok: false` and the reason.
#[utoipa::path(get, path = "/api/v1/directories/{name}/test", tag = "directories",
    params(("name" = String, Path, description = "directory name"), TestQuery),
    responses((status = 200, body = DirectoryTest), (status = 403, body = Problem), (status = 404, body = Problem)))]
pub async fn directory_test(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<TestQuery>,
) -> Result<Json<DirectoryTest>, Problem> {
    c.require(Role::Operator)?;
    if !s.app.directories().await?.iter().any(|d| d.name == name) {
        return Err(Problem::not_found(format!("no directory {name:?}")));
    }
    let email = q
        .email
        .as_deref()
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .unwrap_or("certmail-directory-test.invalid")
        .to_owned();
    let started = std::time::Instant::now();
    let r = s.app.directory_probe(&name, &email).await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    Ok(Json(match r {
        Ok(found) => DirectoryTest {
            directory: name,
            ok: true,
            email,
            base: Some(found.base),
            entries: Some(found.entries),
            certificates: Some(found.values.len()),
            error: None,
            elapsed_ms,
        },
        Err(AppError::Store(e @ StoreError::NotFound { .. })) => {
            return Err(Problem::not_found(e.to_string()));
        }
        Err(e) => DirectoryTest {
            directory: name,
            ok: false,
            email,
            base: None,
            entries: None,
            certificates: None,
            error: Some(e.to_string()),
            elapsed_ms,
        },
    }))
}
