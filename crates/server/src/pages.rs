//! The web admin's pages: server-rendered askama templates, plain forms with a CSRF token,
//! no script. A page asked for without a session sends the browser to `/login`.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use certmail_app::admin::Role;
use certmail_app::format_time;
use serde::Deserialize;

use crate::Server;
use crate::api::{self, AuditQuery, CertQuery};
use crate::auth::{self, Caller, CheckedForm, ClientAddr, HasCsrf, LOGIN_COOKIE, SESSION_COOKIE};
use crate::problem::Problem;

/// The page routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/login", get(login_form).post(login))
        .route("/logout", axum::routing::post(logout))
        .route("/setup/{token}", get(setup_form).post(setup))
        .route("/", get(dashboard))
        .route("/certificates", get(certificates))
        .route("/roots", get(roots))
        .route("/certificates/{sha256}", get(certificate))
        .route("/audit", get(audit))
        .merge(crate::pages_settings::routes())
        .merge(crate::pages_store::routes())
        .merge(crate::pages_ca::routes())
        .merge(crate::pages_trust::routes())
        .merge(crate::pages_gateway::routes())
        .merge(crate::pages_bulk::routes())
        .merge(crate::pages_send::routes())
        .merge(crate::pages_directories::routes())
        .merge(crate::pages_keys::routes())
}

/// The header of every logged-in page.
pub(crate) struct Nav {
    pub(crate) name: String,
    pub(crate) role: &'static str,
    pub(crate) csrf: String,
}

pub(crate) fn nav(c: &Caller) -> Option<Nav> {
    Some(Nav {
        name: c.name.clone(),
        role: c.role.as_str(),
        csrf: c.csrf.clone().unwrap_or_default(),
    })
}

pub(crate) fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot render the page: {e}"),
        )
            .into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    nav: Option<Nav>,
    status: u16,
    title: String,
    detail: String,
}

/// Marks a response as an error page, so [`error_nav`] can give it the header of a
/// logged-in caller.
#[derive(Clone)]
struct ErrorShown(Problem);

fn error_response(p: &Problem, nav: Option<Nav>) -> Response {
    let mut r = render(&ErrorPage {
        nav,
        status: p.status,
        title: p.title.clone(),
        detail: p.detail.clone(),
    });
    *r.status_mut() = p.status();
    r
}

/// A problem as an HTML page (same status, same reason).
pub fn error_page(p: Problem) -> Response {
    let mut r = error_response(&p, None);
    r.extensions_mut().insert(ErrorShown(p));
    r
}

/// Middleware: an error page shown to a logged-in caller gets the navigation header, so a
/// refusal or a bad form is not a dead end. The error is made where the caller is not at
/// hand (an extractor, `?` on a problem); the session is looked up again only then.
pub(crate) async fn error_nav(
    State(s): State<Arc<Server>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    // Only a page asked for with a session can get the header: nothing is kept for the
    // rest (the API, the login page, static files).
    if req.uri().path().starts_with("/api/")
        || auth::cookie(req.headers(), SESSION_COOKIE).is_none()
    {
        return next.run(req).await;
    }
    let cookies: Vec<HeaderValue> = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .cloned()
        .collect();
    let uri = req.uri().clone();
    let peer = req
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .cloned();
    let r = next.run(req).await;
    let Some(ErrorShown(p)) = r.extensions().get::<ErrorShown>().cloned() else {
        return r;
    };
    let mut again = axum::http::Request::new(());
    *again.uri_mut() = uri;
    for c in cookies {
        again.headers_mut().append(header::COOKIE, c);
    }
    if let Some(peer) = peer {
        again.extensions_mut().insert(peer);
    }
    let (mut parts, ()) = again.into_parts();
    match <Caller as axum::extract::FromRequestParts<Arc<Server>>>::from_request_parts(
        &mut parts, &s,
    )
    .await
    {
        Ok(c) => {
            let mut shown = error_response(&p, nav(&c));
            for (k, v) in r.headers() {
                if k != header::CONTENT_LENGTH && k != header::CONTENT_TYPE {
                    shown.headers_mut().insert(k.clone(), v.clone());
                }
            }
            shown
        }
        Err(_) => r,
    }
}

/// Paths that name nothing: a page for browsers, problem+json under `/api/`.
pub(crate) async fn not_found(uri: axum::http::Uri) -> Response {
    let p = Problem::new(
        StatusCode::NOT_FOUND,
        format!("there is no page {}", uri.path()),
    );
    if uri.path().starts_with("/api/") {
        p.into_response()
    } else {
        error_page(p)
    }
}

pub(crate) struct PageError(Problem);

impl From<Problem> for PageError {
    fn from(p: Problem) -> Self {
        PageError(p)
    }
}

impl From<certmail_app::AppError> for PageError {
    fn from(e: certmail_app::AppError) -> Self {
        PageError(e.into())
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        error_page(self.0)
    }
}

pub(crate) type PageResult = Result<Response, PageError>;

fn cookie_header(name: &str, value: &str, secure: bool, max_age: Option<i64>) -> HeaderValue {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if secure {
        c.push_str("; Secure");
    }
    if let Some(a) = max_age {
        c.push_str(&format!("; Max-Age={a}"));
    }
    HeaderValue::from_str(&c).unwrap_or_else(|_| HeaderValue::from_static("invalid=1"))
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Option<Nav>,
    csrf: String,
    name: String,
    error: Option<String>,
}

fn login_page(s: &Server, status: StatusCode, name: &str, error: Option<String>) -> PageResult {
    let csrf = certmail_app::admin::random_secret()?.to_string();
    let mut r = render(&LoginPage {
        nav: None,
        csrf: csrf.clone(),
        name: name.into(),
        error,
    });
    *r.status_mut() = status;
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, &csrf, s.secure_cookies, None),
    );
    Ok(r)
}

async fn login_form(State(s): State<Arc<Server>>, headers: HeaderMap) -> PageResult {
    if let Some(id) = auth::cookie(&headers, SESSION_COOKIE)
        && s.app.admin_session(id).await?.is_some()
    {
        return Ok(Redirect::to("/").into_response());
    }
    let note = if s.app.admin_exists().await? {
        None
    } else {
        Some("No account exists yet: open the one-time setup link that `certmail serve` printed, or run `certmail admin add NAME --role admin`.".to_owned())
    };
    login_page(&s, StatusCode::OK, "", note)
}

/// The login form.
#[derive(Deserialize)]
pub struct LoginForm {
    csrf: String,
    name: String,
    password: String,
}

impl Drop for LoginForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
    }
}

async fn login(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    ClientAddr(address): ClientAddr,
    Form(f): Form<LoginForm>,
) -> PageResult {
    login_inner(s, headers, address, f).await
}

async fn login_inner(
    s: Arc<Server>,
    headers: HeaderMap,
    address: String,
    f: LoginForm,
) -> PageResult {
    let sent = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if sent.is_empty() || !auth::same(sent, &f.csrf) {
        return login_page(
            &s,
            StatusCode::FORBIDDEN,
            &f.name,
            Some("The login form expired (or cookies are off): try again.".into()),
        );
    }
    let now = certmail_app::now();
    let keys = auth::login_keys(&f.name, &address);
    if let Some(wait) = s.limiter.blocked(&keys, now) {
        let mut r = login_page(
            &s,
            StatusCode::TOO_MANY_REQUESTS,
            &f.name,
            Some(format!(
                "Too many failed logins: try again in {} minutes.",
                (wait + 59) / 60
            )),
        )?;
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_str(&wait.to_string()).unwrap_or(HeaderValue::from_static("900")),
        );
        return Ok(r);
    }
    let actor = certmail_app::admin::Actor {
        name: f.name.clone(),
        role: Role::Auditor,
        address: address.clone(),
    };
    match s.app.admin_login(&f.name, &f.password, &address).await? {
        Some(session) => {
            let who = certmail_app::admin::Actor {
                role: session.role,
                ..actor
            };
            s.app.audit(&who, "login", &f.name, Ok(()), "").await?;
            let mut r = Redirect::to("/").into_response();
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(SESSION_COOKIE, &session.id, s.secure_cookies, None),
            );
            r.headers_mut().append(
                header::SET_COOKIE,
                cookie_header(LOGIN_COOKIE, "", s.secure_cookies, Some(0)),
            );
            Ok(r)
        }
        None => {
            s.limiter.fail(&keys, now);
            s.app
                .audit(&actor, "login", &f.name, Err("wrong name or password"), "")
                .await?;
            login_page(
                &s,
                StatusCode::UNAUTHORIZED,
                &f.name,
                Some("Wrong account name or password.".into()),
            )
        }
    }
}

/// The note a page shows after a change (`?note=`).
#[derive(Deserialize, Default)]
pub struct Note {
    pub(crate) note: Option<String>,
}

/// A form with only its CSRF token.
#[derive(Deserialize)]
pub struct CsrfOnly {
    pub(crate) csrf: String,
}

impl HasCsrf for CsrfOnly {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

/// A form naming one object (an account, a directory) with its CSRF token.
#[derive(Deserialize)]
pub struct NameForm {
    pub(crate) csrf: String,
    pub(crate) name: String,
}

impl HasCsrf for NameForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn logout(
    State(s): State<Arc<Server>>,
    headers: HeaderMap,
    f: CheckedForm<CsrfOnly>,
) -> PageResult {
    if let Some(id) = auth::cookie(&headers, SESSION_COOKIE) {
        s.app.admin_logout(id).await?;
    }
    s.app
        .audit(&f.caller.actor(), "logout", &f.caller.name, Ok(()), "")
        .await?;
    let mut r = Redirect::to("/login").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, "", s.secure_cookies, Some(0)),
    );
    Ok(r)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    nav: Option<Nav>,
    csrf: String,
    token: String,
    name: String,
    error: Option<String>,
}

fn setup_valid(s: &Server, token: &str) -> bool {
    crate::lock(&s.setup)
        .as_ref()
        .is_some_and(|t| auth::same(t, token))
}

fn setup_page(
    s: &Server,
    status: StatusCode,
    token: &str,
    name: &str,
    error: Option<String>,
) -> PageResult {
    let csrf = certmail_app::admin::random_secret()?.to_string();
    let mut r = render(&SetupPage {
        nav: None,
        csrf: csrf.clone(),
        token: token.into(),
        name: name.into(),
        error,
    });
    *r.status_mut() = status;
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(LOGIN_COOKIE, &csrf, s.secure_cookies, None),
    );
    Ok(r)
}

fn setup_gone() -> PageError {
    PageError(Problem::not_found(
        "this setup link is not valid (it works once, and only while no account exists)",
    ))
}

async fn setup_form(State(s): State<Arc<Server>>, Path(token): Path<String>) -> PageResult {
    if !setup_valid(&s, &token) || s.app.admin_exists().await? {
        return Err(setup_gone());
    }
    setup_page(&s, StatusCode::OK, &token, "admin", None)
}

/// The first-run form.
#[derive(Deserialize)]
pub struct SetupForm {
    csrf: String,
    name: String,
    password: String,
    password2: String,
}

impl Drop for SetupForm {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.password);
        zeroize::Zeroize::zeroize(&mut self.password2);
    }
}

async fn setup(
    State(s): State<Arc<Server>>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ClientAddr(address): ClientAddr,
    Form(f): Form<SetupForm>,
) -> PageResult {
    setup_inner(s, token, headers, address, f).await
}

async fn setup_inner(
    s: Arc<Server>,
    token: String,
    headers: HeaderMap,
    address: String,
    f: SetupForm,
) -> PageResult {
    if !setup_valid(&s, &token) || s.app.admin_exists().await? {
        return Err(setup_gone());
    }
    let sent = auth::cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if sent.is_empty() || !auth::same(sent, &f.csrf) {
        return setup_page(
            &s,
            StatusCode::FORBIDDEN,
            &token,
            &f.name,
            Some("The form expired: try again.".into()),
        );
    }
    if f.password != f.password2 {
        return setup_page(
            &s,
            StatusCode::BAD_REQUEST,
            &token,
            &f.name,
            Some("The two passwords differ.".into()),
        );
    }
    // The token is claimed before the account is made: of requests sent at once, one
    // gets it and the others find it gone. It is given back only when no account was made.
    let claimed = {
        let mut g = crate::lock(&s.setup);
        match g.as_ref() {
            Some(t) if auth::same(t, &token) => g.take(),
            _ => None,
        }
    };
    let Some(claimed) = claimed else {
        return Err(setup_gone());
    };
    if s.app.admin_exists().await? {
        return Err(setup_gone());
    }
    if let Err(e) = s
        .app
        .admin_add(&f.name, Role::Admin, Some(&f.password))
        .await
    {
        if !s.app.admin_exists().await? {
            let mut g = crate::lock(&s.setup);
            g.get_or_insert(claimed);
        }
        return setup_page(
            &s,
            StatusCode::BAD_REQUEST,
            &token,
            &f.name,
            Some(e.to_string()),
        );
    }
    let who = certmail_app::admin::Actor {
        name: f.name.clone(),
        role: Role::Admin,
        address: address.clone(),
    };
    s.app
        .audit(
            &who,
            "account.setup",
            &f.name,
            Ok(()),
            "first administrator",
        )
        .await?;
    let session = s.app.admin_new_session(&f.name, &address).await?;
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().append(
        header::SET_COOKIE,
        cookie_header(SESSION_COOKIE, &session.id, s.secure_cookies, None),
    );
    Ok(r)
}

struct Expiring {
    sha256: String,
    subject: String,
    store: &'static str,
    not_after: String,
}

struct AuditLine {
    at: String,
    account: String,
    role: String,
    address: String,
    action: String,
    object: String,
    outcome: String,
    detail: String,
}

impl From<certmail_app::admin::AuditEntry> for AuditLine {
    fn from(r: certmail_app::admin::AuditEntry) -> Self {
        AuditLine {
            at: format_time(r.at),
            account: r.account,
            role: r.role,
            address: r.address,
            action: r.action,
            object: r.object,
            outcome: r.outcome,
            detail: r.detail,
        }
    }
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct Dashboard {
    nav: Option<Nav>,
    certificates: i64,
    roots: i64,
    keys: i64,
    crls: usize,
    invalid_crls: usize,
    invalid: Vec<String>,
    expiring: Vec<Expiring>,
    recent: Vec<AuditLine>,
}

async fn dashboard(State(s): State<Arc<Server>>, c: Caller) -> PageResult {
    c.require(Role::Auditor)?;
    let (certificates, roots, keys) = s.app.counts().await?;
    let crls = s.app.crls().await?;
    let invalid: Vec<String> = crls
        .iter()
        .filter(|c| c.validity != "valid")
        .map(|c| format!("{}: {}", c.issuer, c.validity))
        .collect();
    let expiring = s
        .app
        .expiring(30, 20)
        .await?
        .into_iter()
        .map(|r| Expiring {
            not_after: format_time(r.cert.not_after),
            store: r.store,
            sha256: r.cert.sha256,
            subject: r.cert.subject,
        })
        .collect();
    let (recent, _) = api::audit_page(
        &s.app,
        &AuditQuery {
            limit: Some(10),
            ..AuditQuery::default()
        },
    )
    .await?;
    Ok(render(&Dashboard {
        nav: nav(&c),
        certificates,
        roots,
        keys,
        crls: crls.len(),
        invalid_crls: invalid.len(),
        invalid,
        expiring,
        recent: recent.into_iter().map(Into::into).collect(),
    }))
}

/// A certificate as the lists show it (the certificate pages, the chooser).
pub(crate) struct CertRow {
    pub(crate) sha256: String,
    pub(crate) short: String,
    pub(crate) subject: String,
    pub(crate) email: String,
    pub(crate) not_after: String,
    pub(crate) has_key: bool,
    pub(crate) status: &'static str,
    pub(crate) class: &'static str,
    pub(crate) reason: String,
    pub(crate) ctl: String,
}

impl From<api::Listed> for CertRow {
    fn from(l: api::Listed) -> CertRow {
        CertRow {
            short: l.view.cert.sha256[..16].to_owned(),
            email: l.view.cert.emails.join(", "),
            not_after: format_time(l.view.cert.not_after),
            has_key: l.view.has_key,
            status: l.verdict.status,
            class: class_of(l.verdict.status),
            reason: l.verdict.reason,
            ctl: l.ctl.unwrap_or_default(),
            sha256: l.view.cert.sha256,
            subject: l.view.cert.subject,
        }
    }
}

#[derive(Template)]
#[template(path = "certificates.html")]
struct CertificatesPage {
    nav: Option<Nav>,
    heading: &'static str,
    path: &'static str,
    q_email: String,
    q_search: String,
    q_expired: String,
    q_key: String,
    rows: Vec<CertRow>,
    first_page: bool,
    prev: Option<String>,
    next: Option<String>,
}

/// Page query: the API's filters, `with_key` as text so the form's "any" can be empty.
#[derive(Debug, Default, Deserialize)]
pub struct PageQuery {
    email: Option<String>,
    search: Option<String>,
    expired: Option<String>,
    with_key: Option<String>,
    limit: Option<i64>,
    offset: Option<i64>,
    cursor: Option<String>,
}

fn class_of(status: &str) -> &'static str {
    match status {
        "valid" => "valid",
        "revoked" => "revoked",
        _ => "invalid",
    }
}

pub(crate) fn enc(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

async fn list_page(s: &Server, c: &Caller, q: PageQuery, roots: bool) -> PageResult {
    c.require(Role::Auditor)?;
    let with_key = match q.with_key.as_deref() {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    };
    let aq = CertQuery {
        email: q.email.clone(),
        search: q.search.clone(),
        expired: q.expired.clone(),
        with_key,
        store: Some(if roots { "roots" } else { "certificates" }.into()),
        limit: q.limit,
        offset: q.offset,
        cursor: q.cursor.clone(),
    };
    let l = api::certificate_page(&s.app, &aq).await?;
    let (limit, offset) = (l.limit, l.offset);
    let on_cursor = q.cursor.as_deref().is_some_and(|c| !c.is_empty());
    let path = if roots { "/roots" } else { "/certificates" };
    let q_email = q.email.unwrap_or_default();
    let q_search = q.search.unwrap_or_default();
    let q_expired = q.expired.unwrap_or_else(|| "all".into());
    let q_key = q.with_key.unwrap_or_default();
    // Next pages go by cursor (as cheap at row 900,000 as at row 0); "previous" goes back
    // by offset from an offset page, and to the first page from a cursor page.
    let link = |page: &str| {
        format!(
            "{path}?email={}&search={}&expired={}&with_key={}&limit={limit}&{page}",
            enc(&q_email),
            enc(&q_search),
            enc(&q_expired),
            enc(&q_key),
        )
    };
    let prev = if on_cursor {
        Some(link("offset=0"))
    } else {
        (offset > 0).then(|| link(&format!("offset={}", (offset - limit).max(0))))
    };
    let next = l
        .next_cursor
        .as_deref()
        .map(|c| link(&format!("cursor={c}")));
    let rows = l.items.into_iter().map(CertRow::from).collect();
    Ok(render(&CertificatesPage {
        nav: nav(c),
        heading: if roots { "Roots" } else { "Certificates" },
        path,
        first_page: on_cursor,
        prev,
        next,
        q_email,
        q_search,
        q_expired,
        q_key,
        rows,
    }))
}

async fn certificates(
    State(s): State<Arc<Server>>,
    c: Caller,
    Query(q): Query<PageQuery>,
) -> PageResult {
    list_page(&s, &c, q, false).await
}

async fn roots(State(s): State<Arc<Server>>, c: Caller, Query(q): Query<PageQuery>) -> PageResult {
    list_page(&s, &c, q, true).await
}

#[derive(Template)]
#[template(path = "certificate.html")]
struct CertificatePage {
    nav: Option<Nav>,
    sha256: String,
    csrf: String,
    can_edit: bool,
    has_key: bool,
    subject: String,
    status: &'static str,
    class: &'static str,
    reason: String,
    ctl: Option<String>,
    fields: Vec<(String, String)>,
    chain: Vec<(String, String)>,
}

fn field_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Array(a) if a.iter().all(serde_json::Value::is_string) => a
            .iter()
            .filter_map(serde_json::Value::as_str)
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    }
}

async fn certificate(
    State(s): State<Arc<Server>>,
    c: Caller,
    Path(sha256): Path<String>,
) -> PageResult {
    c.require(Role::Auditor)?;
    let (view, vd) = api::certificate_detail(&s.app, &sha256).await?;
    let ctl = s
        .app
        .ctl()
        .await?
        .into_iter()
        .find(|e| e.sha512 == view.cert.sha512)
        .map(|e| e.status);
    let mut fields = Vec::new();
    if let serde_json::Value::Object(m) = serde_json::to_value(&view).unwrap_or_default() {
        for (k, v) in m {
            let text = match k.as_str() {
                "not_before" | "not_after" | "imported_at" => {
                    v.as_i64().map_or_else(|| field_text(&v), format_time)
                }
                _ => field_text(&v),
            };
            fields.push((k.replace('_', " "), text));
        }
    }
    let chain = vd
        .chain
        .iter()
        .cloned()
        .zip(vd.chain_subjects.iter().cloned())
        .collect();
    Ok(render(&CertificatePage {
        nav: nav(&c),
        sha256: view.cert.sha256.clone(),
        csrf: c.csrf.clone().unwrap_or_default(),
        can_edit: c.role >= Role::Operator,
        has_key: view.has_key,
        subject: view.cert.subject.clone(),
        status: vd.status,
        class: class_of(vd.status),
        reason: vd.reason,
        ctl,
        fields,
        chain,
    }))
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPageT {
    nav: Option<Nav>,
    q_since: String,
    q_account: String,
    q_action: String,
    rows: Vec<AuditLine>,
    next: Option<String>,
}

/// The audit page's filters: `since` as `certmail audit --since` takes it.
#[derive(Debug, Default, Deserialize)]
pub struct AuditPageQuery {
    since: Option<String>,
    account: Option<String>,
    action: Option<String>,
    before: Option<i64>,
}

async fn audit(
    State(s): State<Arc<Server>>,
    c: Caller,
    Query(q): Query<AuditPageQuery>,
) -> PageResult {
    c.require(Role::Auditor)?;
    let since_text = q
        .since
        .as_deref()
        .map(str::trim)
        .unwrap_or_default()
        .to_owned();
    let account = q.account.clone().unwrap_or_default();
    let action = q.action.clone().unwrap_or_default();
    let query = AuditQuery {
        since: Some(since_text.clone()),
        account: Some(account.clone()),
        action: Some(action.clone()),
        before: q.before,
        limit: None,
    };
    let (rows, next) = api::audit_page(&s.app, &query).await?;
    Ok(render(&AuditPageT {
        nav: nav(&c),
        next: next.map(|b| {
            format!(
                "/audit?since={}&account={}&action={}&before={b}",
                enc(&since_text),
                enc(&account),
                enc(&action)
            )
        }),
        q_since: since_text,
        q_account: account,
        q_action: action,
        rows: rows.into_iter().map(Into::into).collect(),
    }))
}
