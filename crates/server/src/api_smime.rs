//! S/MIME over the API, as `certmail smime sign|encrypt|decrypt|verify` with the stores: the
//! body is the message (`message/rfc822`, at most [`MAX_MESSAGE`] bytes), the parameters
//! are the CLI's flags in the query string, the answer is the resulting message or, for
//! verify, the report of `certmail smime verify --json`. Signing, encryption and decryption
//! use keys and are the operators'; auditors may verify. Sign, encrypt and decrypt are
//! audited with sizes, algorithms and certificates: never message content or keys.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use certmail_app::AppError;
use certmail_app::admin::Role;
use certmail_pki::sig::Hash;
use certmail_pki::verify::{Options, PolicyOptions, Profile, RevocationPolicy};
use certmail_smime::message::{self, Layer, UnwrapOptions};
use certmail_smime::{Cipher, EncryptOptions, SignOptions, SmimeError};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::Server;
use crate::api::{ApiQuery, any_object};
use crate::auth::Caller;
use crate::problem::Problem;

/// The largest message accepted (the gateway's default message size).
pub const MAX_MESSAGE: usize = 50 << 20;

/// The routes, with the body limit.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/api/v1/smime/sign", post(sign))
        .route("/api/v1/smime/encrypt", post(encrypt))
        .route("/api/v1/smime/decrypt", post(decrypt))
        .route("/api/v1/smime/verify", post(verify))
        .layer(DefaultBodyLimit::max(MAX_MESSAGE))
}

/// The request body: a whole message. Too large, unreadable or empty is problem+json.
pub struct MessageBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for MessageBody {
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        let b = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    e.status(),
                    format!("the message is larger than {} MiB", MAX_MESSAGE >> 20),
                )
            } else {
                Problem::new(e.status(), e.body_text())
            }
        })?;
        if b.is_empty() {
            return Err(Problem::bad_request(
                "the message is empty: send it as the request body (message/rfc822)",
            ));
        }
        Ok(MessageBody(b))
    }
}

/// The problem for a failed S/MIME operation: what is wrong with the message is 400, what
/// cannot be done with a well-formed one (no key, wrong key, unsupported algorithm) 422.
fn smime_problem(e: AppError) -> Problem {
    let status = match &e {
        AppError::Smime(se) => match se {
            SmimeError::NoKey { .. } | SmimeError::Decrypt | SmimeError::Unsupported(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            SmimeError::Key(_) | SmimeError::Crypto(_) | SmimeError::Io(_) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            SmimeError::Malformed(_)
            | SmimeError::Mime(_)
            | SmimeError::Limit(_)
            | SmimeError::Certificate(_)
            | SmimeError::Usage(_) => StatusCode::BAD_REQUEST,
        },
        _ => return Problem::from(e),
    };
    Problem::new(status, e.to_string())
}

/// Writes the audit entry of an S/MIME operation (outcome included) and returns its result.
async fn audited_smime<T>(
    s: &Server,
    c: &Caller,
    action: &str,
    object: &str,
    detail: &str,
    r: Result<T, AppError>,
) -> Result<T, Problem> {
    crate::api::audited_as(s, c, action, object, detail, r, smime_problem).await
}

fn message_response(out: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "message/rfc822")], out).into_response()
}

/// Runs CPU-bound work (signing, encrypting a large message) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, SmimeError> + Send + 'static,
) -> Result<T, AppError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(AppError::from),
        Err(e) => Err(AppError::Smime(SmimeError::Io(format!(
            "the operation did not finish: {e}"
        )))),
    }
}

/// Digest choice.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Digest {
    /// SHA-256 (default).
    #[default]
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Parameters of a signature (as `certmail smime sign`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SignQuery {
    /// The signing certificate in the certificate store (SHA-256 thumbprint or a unique
    /// prefix); its private key must be in the key store. Its chain is included.
    pub signer: Option<String>,
    /// Digest (EC keys use their curve's digest): sha256 (default), sha384 or sha512.
    #[param(inline)]
    pub digest: Option<Digest>,
    /// RSASSA-PSS instead of PKCS#1 v1.5.
    #[serde(default)]
    pub pss: bool,
    /// application/pkcs7-mime signed-data instead of multipart/signed.
    #[serde(default)]
    pub opaque: bool,
}

/// Signs a message with a certificate and key of the stores (operators).
#[utoipa::path(post, path = "/api/v1/smime/sign", tag = "smime", params(SignQuery),
    request_body(content = String, content_type = "message/rfc822", description = "the message to sign"),
    responses((status = 200, description = "the signed message", content_type = "message/rfc822", body = String),
        (status = 400, body = Problem, description = "no signer given, or the message is not MIME"),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "no such certificate, or no private key for it"),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn sign(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<SignQuery>,
    MessageBody(msg): MessageBody,
) -> Result<Response, Problem> {
    c.require(Role::Operator)?;
    let signer = q
        .signer
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Problem::bad_request(
                "give signer=THUMBPRINT: a certificate of the store with its private key",
            )
        })?
        .to_owned();
    let digest = q.digest.unwrap_or_default();
    let opts = SignOptions {
        hash: match digest {
            Digest::Sha256 => Hash::Sha256,
            Digest::Sha384 => Hash::Sha384,
            Digest::Sha512 => Hash::Sha512,
        },
        pss: q.pss,
        signing_time: certmail_app::now(),
        encryption_cert: None,
    };
    let detached = !q.opaque;
    let size = msg.len();
    let signed = s.app.smime_signer(&signer).await;
    let object = signed
        .as_ref()
        .map_or_else(|_| signer.clone(), |(kp, _)| kp.cert.sha256.clone());
    let r = match signed {
        Ok((kp, chain)) => {
            blocking(move || {
                let mut out = Vec::with_capacity(msg.len() + msg.len() / 3 + 16 * 1024);
                message::sign_message(&msg, &kp, &chain, &opts, detached, &mut out)?;
                Ok(out)
            })
            .await
        }
        Err(e) => Err(e),
    };
    let detail = format!(
        "{size} bytes, {digest:?}{}, {}",
        if q.pss { " PSS" } else { "" },
        if detached { "detached" } else { "opaque" }
    )
    .to_lowercase();
    let out = audited_smime(&s, &c, "smime.sign", &object, &detail, r).await?;
    Ok(message_response(out))
}

/// Cipher choice.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
pub enum CipherChoice {
    /// AES-128-CBC.
    #[serde(rename = "aes128")]
    Aes128,
    /// AES-192-CBC.
    #[serde(rename = "aes192")]
    Aes192,
    /// AES-256-CBC (default).
    #[default]
    #[serde(rename = "aes256")]
    Aes256,
    /// AES-128-GCM (AuthEnvelopedData).
    #[serde(rename = "aes128-gcm")]
    Aes128Gcm,
    /// AES-256-GCM (AuthEnvelopedData; Outlook cannot read it).
    #[serde(rename = "aes256-gcm")]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (AuthEnvelopedData, RFC 8103).
    #[serde(rename = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

impl CipherChoice {
    /// The name in the query string.
    pub fn name(self) -> &'static str {
        match self {
            CipherChoice::Aes128 => "aes128",
            CipherChoice::Aes192 => "aes192",
            CipherChoice::Aes256 => "aes256",
            CipherChoice::Aes128Gcm => "aes128-gcm",
            CipherChoice::Aes256Gcm => "aes256-gcm",
            CipherChoice::ChaCha20Poly1305 => "chacha20-poly1305",
        }
    }
}

/// Parameters of an encryption (as `certmail smime encrypt`).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EncryptQuery {
    /// Recipient addresses, comma-separated: their encryption certificates through the
    /// selection rules (as `--to`).
    pub to: Option<String>,
    /// Recipient certificates of the certificate store by SHA-256 thumbprint (or unique
    /// prefix), comma-separated: added to those of `to` (the API's `--cert`).
    pub certificates: Option<String>,
    /// Content cipher: aes128, aes192, aes256 (default), aes128-gcm or aes256-gcm.
    #[param(inline)]
    pub cipher: Option<CipherChoice>,
    /// RSAES-OAEP (SHA-256) key transport instead of PKCS#1 v1.5.
    #[serde(default)]
    pub oaep: bool,
    /// Identify recipients by subject key identifier instead of issuer and serial.
    #[serde(default)]
    pub key_id: bool,
}

fn list(v: Option<&str>) -> Vec<String> {
    v.unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Encrypts a message to recipients: addresses through the selection rules and/or
/// certificates of the store (operators).
#[utoipa::path(post, path = "/api/v1/smime/encrypt", tag = "smime", params(EncryptQuery),
    request_body(content = String, content_type = "message/rfc822", description = "the message to encrypt"),
    responses((status = 200, description = "the encrypted message", content_type = "message/rfc822", body = String),
        (status = 400, body = Problem, description = "no recipient given, an address without a usable certificate, or the message is not MIME"),
        (status = 403, body = Problem), (status = 404, body = Problem, description = "no such certificate"),
        (status = 413, body = Problem), (status = 422, body = Problem)))]
pub async fn encrypt(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<EncryptQuery>,
    MessageBody(msg): MessageBody,
) -> Result<Response, Problem> {
    c.require(Role::Operator)?;
    let to = list(q.to.as_deref());
    let thumbprints = list(q.certificates.as_deref());
    if to.is_empty() && thumbprints.is_empty() {
        return Err(Problem::bad_request(
            "give to=ADDRESS[,ADDRESS...] and/or certificates=THUMBPRINT[,...]",
        ));
    }
    let cipher = q.cipher.unwrap_or_default();
    let opts = EncryptOptions {
        cipher: match cipher {
            CipherChoice::Aes128 => Cipher::Aes128Cbc,
            CipherChoice::Aes192 => Cipher::Aes192Cbc,
            CipherChoice::Aes256 => Cipher::Aes256Cbc,
            CipherChoice::Aes128Gcm => Cipher::Aes128Gcm,
            CipherChoice::Aes256Gcm => Cipher::Aes256Gcm,
            CipherChoice::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305,
        },
        oaep: q.oaep,
        by_key_id: q.key_id,
    };
    let size = msg.len();
    let recipients = async {
        let mut out = Vec::new();
        for t in &thumbprints {
            let v = s
                .app
                .get(certmail_store::StoreKind::Certificates, t)
                .await?;
            out.push(v.cert);
        }
        if !to.is_empty() {
            for c in s.app.smime_recipients(&to, certmail_app::now()).await? {
                if !out
                    .iter()
                    .any(|x: &certmail_pki::Certificate| x.sha256 == c.sha256)
                {
                    out.push(c);
                }
            }
        }
        Ok::<_, AppError>(out)
    }
    .await;
    let used: Vec<String> = recipients
        .as_ref()
        .map(|r| r.iter().map(|c| c.sha256.clone()).collect())
        .unwrap_or_default();
    let r = match recipients {
        Ok(certs) => {
            blocking(move || {
                let mut out = Vec::with_capacity(msg.len() + msg.len() / 2 + 16 * 1024);
                message::encrypt_message(&msg, &certs, &opts, &mut out)?;
                Ok(out)
            })
            .await
        }
        Err(e) => Err(e),
    };
    let object = to
        .iter()
        .chain(thumbprints.iter())
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let detail = format!(
        "{size} bytes, {}{}{}, to certificate(s) {}",
        cipher.name(),
        if q.oaep { ", OAEP" } else { "" },
        if q.key_id { ", by key id" } else { "" },
        if used.is_empty() {
            "-".to_owned()
        } else {
            used.join(", ")
        }
    );
    let out = audited_smime(&s, &c, "smime.encrypt", &object, &detail, r).await?;
    Ok(message_response(out))
}

/// Decrypts a message (every layer) with the keys of the key store, verifying any
/// signature found inside: the message with the `X-Certmail-*` report headers, as
/// `certmail smime decrypt` writes it (operators).
#[utoipa::path(post, path = "/api/v1/smime/decrypt", tag = "smime",
    request_body(content = String, content_type = "message/rfc822", description = "the encrypted message"),
    responses((status = 200, description = "the decrypted message with X-Certmail-* report headers", content_type = "message/rfc822", body = String),
        (status = 400, body = Problem, description = "broken MIME or CMS"), (status = 403, body = Problem),
        (status = 413, body = Problem),
        (status = 422, body = Problem, description = "not encrypted, no private key for any recipient, or the content does not decrypt")))]
pub async fn decrypt(
    State(s): State<Arc<Server>>,
    c: Caller,
    MessageBody(msg): MessageBody,
) -> Result<Response, Problem> {
    c.require(Role::Operator)?;
    let size = msg.len();
    let r = s
        .app
        .smime_unwrap_with_trust(
            &msg,
            Vec::new(),
            &UnwrapOptions::default(),
            certmail_app::now(),
            &Options::default(),
        )
        .await;
    let encrypted: Vec<(String, String)> = match &r {
        Ok(u) => u
            .layers
            .iter()
            .filter_map(|l| match l {
                Layer::Encrypted(d) => Some((d.decrypted_with.clone(), d.cipher.clone())),
                Layer::Signed { .. } | Layer::Compressed { .. } => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    let r = match r {
        Ok(_) if encrypted.is_empty() => Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the message is not encrypted",
        )),
        Ok(u) => {
            let headers = message::report_headers(&u.layers);
            let mut out = Vec::with_capacity(u.message.len() + 4096);
            message::write_with_headers(&u.message, &headers, &mut out)
                .map(|()| out)
                .map_err(|e| smime_problem(e.into()))
        }
        Err(e) => Err(smime_problem(e)),
    };
    let object = encrypted
        .iter()
        .map(|(with, _)| with.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let detail = format!(
        "{size} bytes{}",
        encrypted
            .iter()
            .map(|(_, cipher)| format!(", {cipher}"))
            .collect::<String>()
    );
    let why = r.as_ref().err().map(|p| p.detail.clone());
    s.app
        .audit(
            &c.actor(),
            "smime.decrypt",
            if object.is_empty() {
                "message"
            } else {
                &object
            },
            why.as_deref().map_or(Ok(()), Err),
            &detail,
        )
        .await?;
    Ok(message_response(r?))
}

/// Revocation checking.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Revocation {
    /// A certificate whose status is unknown is refused.
    Require,
    /// Unknown status is accepted (default).
    #[default]
    IfAvailable,
    /// No revocation checking.
    Off,
}

/// Certificate profile.
#[derive(Debug, Clone, Copy, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProfileChoice {
    /// Relying party, RFC 5280 section 6 (default).
    #[default]
    Rfc5280,
    /// Also the issuer duties of RFC 5280 section 4.
    Strict,
}

/// Parameters of a verification (as `certmail smime verify` with the stores).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VerifyQuery {
    /// Validation time (RFC 3339) instead of now.
    pub at: Option<String>,
    /// Accept SHA-1 signatures (old mail).
    #[serde(default)]
    pub allow_sha1: bool,
    /// user-initial-policy-set: policy OIDs, comma-separated (default anyPolicy).
    pub policy: Option<String>,
    /// initial-explicit-policy.
    #[serde(default)]
    pub require_explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    #[serde(default)]
    pub inhibit_policy_mapping: bool,
    /// initial-any-policy-inhibit.
    #[serde(default)]
    pub inhibit_any_policy: bool,
    /// Revocation checking: require, if-available (default) or off.
    #[param(inline)]
    pub revocation: Option<Revocation>,
    /// Certificate profile: rfc5280 (default) or strict.
    #[param(inline)]
    pub profile: Option<ProfileChoice>,
}

/// The validation time from `at`, or now.
pub(crate) fn parse_at(at: Option<&str>) -> Result<i64, Problem> {
    match at.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => certmail_pki::time::parse_rfc3339(t).ok_or_else(|| {
            Problem::bad_request(format!(
                "at={t:?} is not an RFC 3339 time (e.g. 2026-11-22T12:00:00Z)"
            ))
        }),
        None => Ok(certmail_app::now()),
    }
}

/// The report of `certmail smime verify --json`.
#[derive(Debug, serde::Serialize)]
#[serde(transparent)]
pub struct VerifyReport(pub serde_json::Value);

any_object!(
    VerifyReport,
    "As `certmail smime verify --json`: ok (every signature verified and its signer trusted) and layers, outermost first: {layer: \"signed\", opaque, signers: [{signer_id, digest, algorithm, signing_time, verified, failure, emails, thumbprint, subject, from_match, trust: {trusted, status, reason}}]} or {layer: \"encrypted\", cipher, key_algorithm, recipients, decrypted_with}."
);

/// Verifies the signatures of a message against the stores (decrypting layers with the
/// key store's keys on the way, as the CLI does); the certificates of validly signed
/// layers are collected into the certificate store.
#[utoipa::path(post, path = "/api/v1/smime/verify", tag = "smime", params(VerifyQuery),
    request_body(content = String, content_type = "message/rfc822", description = "the signed message"),
    responses((status = 200, body = VerifyReport, description = "the report; ok is false when a signature does not verify or its signer is not trusted"),
        (status = 400, body = Problem, description = "a bad parameter, broken MIME or CMS"), (status = 403, body = Problem),
        (status = 413, body = Problem), (status = 422, body = Problem, description = "the message is not signed, or an encrypted layer cannot be decrypted")))]
pub async fn verify(
    State(s): State<Arc<Server>>,
    c: Caller,
    ApiQuery(q): ApiQuery<VerifyQuery>,
    MessageBody(msg): MessageBody,
) -> Result<Json<VerifyReport>, Problem> {
    c.require(Role::Auditor)?;
    let at = parse_at(q.at.as_deref())?;
    let trust = Options {
        allow_sha1: q.allow_sha1,
        policy: PolicyOptions {
            initial_policy_set: list(q.policy.as_deref()),
            require_explicit_policy: q.require_explicit_policy,
            inhibit_policy_mapping: q.inhibit_policy_mapping,
            inhibit_any_policy: q.inhibit_any_policy,
        },
        revocation: match q.revocation.unwrap_or_default() {
            Revocation::Require => RevocationPolicy::Require,
            Revocation::IfAvailable => RevocationPolicy::IfAvailable,
            Revocation::Off => RevocationPolicy::Off,
        },
        profile: match q.profile.unwrap_or_default() {
            ProfileChoice::Rfc5280 => Profile::Rfc5280,
            ProfileChoice::Strict => Profile::Strict,
        },
        ..Options::default()
    };
    let opts = UnwrapOptions {
        allow_sha1: q.allow_sha1,
        extra_certs: Vec::new(),
    };
    let u = s
        .app
        .smime_unwrap_with_trust(&msg, Vec::new(), &opts, at, &trust)
        .await
        .map_err(smime_problem)?;
    if u.signers().next().is_none() {
        return Err(Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "the message is not signed",
        ));
    }
    Ok(Json(VerifyReport(serde_json::json!({
        "ok": u.all_signatures_ok(),
        "layers": u.layers,
    }))))
}
