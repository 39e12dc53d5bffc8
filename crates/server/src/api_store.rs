//! API changes to the stores: `POST /api/v1/import` (certificates, keys, PKCS#12, PKCS#7,
//! as multipart uploads) and `POST /api/v1/ca/issue` (an end-user certificate from the
//! built-in CA). Both are audited; neither echoes a password or a key.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Multipart, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use certmail_app::admin::Role;
use certmail_app::ca::IssueParams;
use certmail_app::{FileReport, ImportOptions, RootPolicy, report_rows};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use zeroize::Zeroizing;

use crate::Server;
use crate::api::{ApiJson, audited};
use crate::auth::Caller;
use crate::problem::Problem;

/// Largest upload: the import's per-file limit plus room for the form.
const MAX_UPLOAD: usize = (certmail_app::MAX_IMPORT_SIZE as usize) + (1 << 20);

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/api/v1/import",
            post(import).layer(DefaultBodyLimit::max(MAX_UPLOAD)),
        )
        .route("/api/v1/ca/issue", post(ca_issue))
        .route(
            "/api/v1/certificates/{sha256}/export",
            axum::routing::get(export_api),
        )
        .route("/api/v1/certificates/{sha256}/p12", post(p12_api))
        .route("/api/v1/keys", axum::routing::get(keys))
        .route("/api/v1/keys/{key_id}", axum::routing::delete(key_delete))
}

/// The private keys in the key store, as `certmail key list --json`: which key, which
/// certificates use it; never the key itself.
#[utoipa::path(get, path = "/api/v1/keys", tag = "certificates", params(crate::api_trust::Page),
    responses((status = 200, body = crate::api_trust::List<certmail_app::KeyView>), (status = 403, body = Problem)))]
pub async fn keys(
    axum::extract::State(s): axum::extract::State<Arc<Server>>,
    c: Caller,
    crate::api::ApiQuery(q): crate::api::ApiQuery<crate::api_trust::Page>,
) -> Result<Json<crate::api_trust::List<certmail_app::KeyView>>, Problem> {
    c.require(Role::Auditor)?;
    Ok(Json(crate::api_trust::List::page(s.app.keys().await?, &q)))
}

/// Whether to delete a key that certificates still use.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KeyDeleteQuery {
    /// Delete it even so (the certificates stay, without their key).
    #[serde(default)]
    pub force: bool,
}

/// Deletes a private key (by key id or a unique prefix of it). A key that certificates use
/// is refused with 409 unless `force=true`.
#[utoipa::path(delete, path = "/api/v1/keys/{key_id}", tag = "certificates",
    params(("key_id" = String, Path, description = "key id (SHA-256 of the public key) or a unique prefix"), KeyDeleteQuery),
    responses((status = 204, description = "deleted"), (status = 400, body = Problem), (status = 403, body = Problem),
        (status = 404, body = Problem), (status = 409, body = Problem)))]
pub async fn key_delete(
    axum::extract::State(s): axum::extract::State<Arc<Server>>,
    c: Caller,
    axum::extract::Path(key_id): axum::extract::Path<String>,
    crate::api::ApiQuery(q): crate::api::ApiQuery<KeyDeleteQuery>,
) -> Result<StatusCode, Problem> {
    c.require(Role::Operator)?;
    let r = s.app.delete_key(&key_id, q.force).await;
    let detail = if q.force { "force" } else { "" };
    audited(&s, &c, "key.delete", &key_id, detail, r).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A certificate (or certificate + key) as a file download. `format`: `pem`, `pem-chain`,
/// `der`, `p7b` (with the chain), `p12` or `p12-legacy` (key, certificate and chain under
/// `password`; operator or admin: the auditor exports no private key). Key exports are
/// audited.
pub async fn export_file(
    s: &Server,
    c: &Caller,
    sha256: &str,
    format: &str,
    password: Option<Zeroizing<String>>,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    use certmail_app::{ExportFormat, ExportOptions, Pkcs12Form};
    let (f, form, chain, ext, mime) = match format {
        "pem" => (
            ExportFormat::Pem,
            Pkcs12Form::Modern,
            false,
            "pem",
            "application/x-pem-file",
        ),
        "pem-chain" => (
            ExportFormat::Pem,
            Pkcs12Form::Modern,
            true,
            "pem",
            "application/x-pem-file",
        ),
        "der" => (
            ExportFormat::Der,
            Pkcs12Form::Modern,
            false,
            "cer",
            "application/pkix-cert",
        ),
        "p7b" => (
            ExportFormat::P7b,
            Pkcs12Form::Modern,
            true,
            "p7b",
            "application/pkcs7-mime",
        ),
        "p12" => (
            ExportFormat::P12,
            Pkcs12Form::Modern,
            true,
            "p12",
            "application/x-pkcs12",
        ),
        "p12-legacy" => (
            ExportFormat::P12,
            Pkcs12Form::Legacy,
            true,
            "p12",
            "application/x-pkcs12",
        ),
        other => {
            return Err(Problem::bad_request(format!(
                "format {other:?}: use pem, pem-chain, der, p7b, p12 or p12-legacy"
            )));
        }
    };
    let with_key = f == ExportFormat::P12;
    if with_key {
        c.require(Role::Operator)?;
        if password.as_ref().is_none_or(|p| p.chars().count() < 8) {
            return Err(Problem::bad_request(
                "a PKCS#12 export needs a password of at least 8 characters",
            ));
        }
    }
    let opts = ExportOptions {
        chain,
        password,
        form,
    };
    let r = s.app.export(sha256, f, &opts).await;
    let bytes = if with_key {
        audited(s, c, "export.p12", sha256, format, r).await?
    } else {
        r?
    };
    let short: String = sha256.chars().take(16).collect();
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, mime.to_owned()),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{short}.{ext}\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Export format.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// `pem` (default), `pem-chain`, `der` or `p7b`.
    pub format: Option<String>,
}

/// A certificate as a file: PEM (optionally with its chain), DER or PKCS#7 with the chain.
#[utoipa::path(get, path = "/api/v1/certificates/{sha256}/export", tag = "certificates",
    params(("sha256" = String, Path, description = "SHA-256 thumbprint (or a unique prefix)"), ExportQuery),
    responses((status = 200, description = "the file", content_type = "application/octet-stream"), (status = 400, body = Problem), (status = 404, body = Problem)))]
pub async fn export_api(
    State(s): State<Arc<Server>>,
    c: Caller,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    crate::api::ApiQuery(q): crate::api::ApiQuery<ExportQuery>,
) -> Result<axum::response::Response, Problem> {
    c.require(Role::Auditor)?;
    let format = q.format.unwrap_or_else(|| "pem".into());
    if format.starts_with("p12") {
        return Err(Problem::bad_request(
            "PKCS#12 (with the private key) is exported with POST /api/v1/certificates/{sha256}/p12",
        ));
    }
    export_file(&s, &c, &sha256, &format, None).await
}

/// A PKCS#12 export.
#[derive(Deserialize, ToSchema)]
pub struct P12Request {
    /// Password of the file (at least 8 characters).
    pub password: String,
    /// 3DES/SHA-1 for old clients (default: AES-256 with PBKDF2-SHA256).
    #[serde(default)]
    pub legacy: bool,
}

impl Drop for P12Request {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

/// The private key, certificate and chain as PKCS#12 (operator or admin; audited).
#[utoipa::path(post, path = "/api/v1/certificates/{sha256}/p12", tag = "certificates", request_body = P12Request,
    params(("sha256" = String, Path, description = "SHA-256 thumbprint (or a unique prefix)")),
    responses((status = 200, description = "the PKCS#12 file", content_type = "application/x-pkcs12"), (status = 400, body = Problem), (status = 403, body = Problem), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn p12_api(
    State(s): State<Arc<Server>>,
    c: Caller,
    axum::extract::Path(sha256): axum::extract::Path<String>,
    ApiJson(r): ApiJson<P12Request>,
) -> Result<axum::response::Response, Problem> {
    let format = if r.legacy { "p12-legacy" } else { "p12" };
    let password = Some(Zeroizing::new(r.password.clone()));
    export_file(&s, &c, &sha256, format, password).await
}

/// The import's form (documentation of the multipart body).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// One or more files: PEM or DER certificates, PKCS#7 bundles, PKCS#12, private keys.
    #[schema(value_type = Vec<String>, format = Binary)]
    files: Vec<Vec<u8>>,
    /// Password of PKCS#12 files and encrypted keys.
    password: Option<String>,
    /// `true`: self-issued certificates go to the root store (trusted).
    trust_roots: Option<bool>,
    /// `true`: every certificate goes to the root store, as `certmail root import` (admin).
    all_to_roots: Option<bool>,
}

/// What happened to each item of each file.
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    /// Rows as `certmail cert import --json`: file, kind, status (`imported`, `present`,
    /// `failed`), id, detail, store.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<serde_json::Value>,
    /// Files of which nothing was stored.
    pub failed_files: usize,
}

fn bad_form(e: axum::extract::multipart::MultipartError) -> Problem {
    Problem::new(
        e.status(),
        format!(
            "the upload is not a readable multipart form: {}",
            e.body_text()
        ),
    )
}

/// A multipart body whose errors are problem+json.
pub struct ApiMultipart(pub(crate) Multipart);

impl<S: Send + Sync> axum::extract::FromRequest<S> for ApiMultipart {
    type Rejection = Problem;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, Problem> {
        Multipart::from_request(req, state)
            .await
            .map(ApiMultipart)
            .map_err(|e| {
                Problem::new(
                    e.status(),
                    format!("send the files as multipart/form-data: {}", e.body_text()),
                )
            })
    }
}

/// Imports uploaded files; each file is all-or-nothing, one bad file does not stop the others.
#[utoipa::path(post, path = "/api/v1/import", tag = "certificates",
    request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 200, body = ImportReport), (status = 400, body = Problem), (status = 403, body = Problem), (status = 413, body = Problem)))]
pub async fn import(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiMultipart(mut form): ApiMultipart,
) -> Result<Json<ImportReport>, Problem> {
    c.require(Role::Operator)?;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut password: Option<Zeroizing<String>> = None;
    let mut trust_roots = false;
    let mut all_to_roots = false;
    while let Some(field) = form.next_field().await.map_err(bad_form)? {
        match field.name().unwrap_or_default() {
            "files" | "file" => {
                let name = field
                    .file_name()
                    .map_or_else(|| format!("upload-{}", files.len() + 1), ToOwned::to_owned);
                let data = field.bytes().await.map_err(bad_form)?;
                files.push((name, data.to_vec()));
            }
            "password" => {
                let v = Zeroizing::new(field.bytes().await.map_err(bad_form)?.to_vec());
                let text = std::str::from_utf8(&v)
                    .map_err(|_| Problem::bad_request("the password is not UTF-8"))?;
                password = Some(Zeroizing::new(
                    text.trim_end_matches(['\r', '\n']).to_owned(),
                ));
            }
            "trust_roots" => {
                trust_roots = matches!(
                    field.text().await.map_err(bad_form)?.as_str(),
                    "true" | "on" | "1"
                );
            }
            "all_to_roots" => {
                all_to_roots = matches!(
                    field.text().await.map_err(bad_form)?.as_str(),
                    "true" | "on" | "1"
                );
            }
            other => {
                return Err(Problem::bad_request(format!(
                    "unknown form field {other:?}: use files, password, trust_roots and all_to_roots"
                )));
            }
        }
    }
    if files.is_empty() {
        return Err(Problem::bad_request(
            "no file uploaded: send one or more `files` parts",
        ));
    }
    if trust_roots || all_to_roots {
        c.require(Role::Admin)?;
    }
    let opts = ImportOptions {
        password,
        roots: if all_to_roots {
            RootPolicy::AllToRoots
        } else if trust_roots {
            RootPolicy::TrustSelfIssued
        } else {
            RootPolicy::CertificateStore
        },
    };
    let reports = import_files(&s, &c, files, &opts).await?;
    let failed_files = reports.iter().filter(|r| r.result.is_err()).count();
    let items = report_rows(&reports);
    Ok(Json(ImportReport {
        items,
        failed_files,
    }))
}

/// Imports uploaded files one by one (each all-or-nothing) and writes an audit entry per
/// file; shared by the API and the import page.
pub async fn import_files(
    s: &Server,
    c: &Caller,
    files: Vec<(String, Vec<u8>)>,
    opts: &ImportOptions,
) -> Result<Vec<FileReport>, Problem> {
    let mut reports = Vec::with_capacity(files.len());
    for (file, data) in files {
        let result = s.app.import_bytes(&data, opts).await;
        let why = result.as_ref().err().map(ToString::to_string);
        let detail = result
            .as_ref()
            .map(|i| format!("{} item(s)", i.len()))
            .unwrap_or_default();
        s.app
            .audit(
                &c.actor(),
                "import",
                &file,
                why.as_deref().map_or(Ok(()), Err),
                &detail,
            )
            .await?;
        reports.push(FileReport { file, result });
    }
    Ok(reports)
}

/// An issuance request.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IssueRequest {
    /// E-mail address.
    pub email: String,
    /// Common name (default: the CA configuration's).
    pub cn: Option<String>,
    /// Organisation.
    pub org: Option<String>,
    /// First name.
    pub first_name: Option<String>,
    /// Last name.
    pub last_name: Option<String>,
    /// Validity in days (default: configured).
    pub days: Option<u32>,
    /// rsa2048, rsa3072, rsa4096, p256 or p384 (default: configured).
    pub key: Option<String>,
    /// sha256, sha384 or sha512 (default: configured).
    pub sig: Option<String>,
    /// CRL distribution point URL.
    pub crl_url: Option<String>,
    /// CA id or name (default: the default CA).
    #[serde(default)]
    pub ca: String,
    /// Also create a user object for the address.
    #[serde(default)]
    pub add_user: bool,
}

/// The issued certificate (fields as `certmail cert show --json`).
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Issued(pub serde_json::Value);

crate::api::any_object!(
    Issued,
    "The issued certificate, with the fields of `certmail cert show --json` (the key is in the key store)."
);

/// Issues an end-user certificate and key from the built-in CA.
#[utoipa::path(post, path = "/api/v1/ca/issue", tag = "ca", request_body = IssueRequest,
    responses((status = 201, body = Issued), (status = 400, body = Problem), (status = 403, body = Problem), (status = 422, body = Problem)))]
pub async fn ca_issue(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiJson(r): ApiJson<IssueRequest>,
) -> Result<(StatusCode, Json<Issued>), Problem> {
    c.require(Role::Operator)?;
    let params = IssueParams {
        email: r.email.clone(),
        cn: r.cn,
        org: r.org,
        first_name: r.first_name,
        last_name: r.last_name,
        days: r.days,
        key: r.key,
        sig: r.sig,
        crl_url: r.crl_url,
    };
    let result = match s.app.ca_end_user_request(&params).await {
        Ok(req) => s.app.ca_issue(&r.ca, &req, &c.name, r.add_user).await,
        Err(e) => Err(e),
    };
    let detail = result
        .as_ref()
        .map(|v| v.cert.sha256.clone())
        .unwrap_or_default();
    let view = audited(&s, &c, "ca.issue", &r.email, &detail, result).await?;
    Ok((
        StatusCode::CREATED,
        Json(Issued(serde_json::to_value(&view).unwrap_or_default())),
    ))
}
