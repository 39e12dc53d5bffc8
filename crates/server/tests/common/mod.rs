//! What the server's route tests share: an app in a temporary directory with its router,
//! requests through `oneshot`, logins through the form, a loaded PKI and multipart bodies.
#![allow(dead_code)]

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use certmail_app::admin::Role;
use certmail_app::{App, Config, ImportOptions, RootPolicy};
use certmail_server::Server;
use certmail_testkit::{LeafSpec, TestPki, unix_date};
use http_body_util::BodyExt;
use tower::ServiceExt;

pub struct H {
    pub _dir: tempfile::TempDir,
    pub app: Arc<App>,
    pub server: Arc<Server>,
    pub router: Router,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all(header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_owned())
    }

    pub fn location(&self) -> &str {
        self.headers
            .get(header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

/// A hidden form field's value in a page.
pub fn field(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let i = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name} in {html}"))
        + marker.len();
    html[i..].split('"').next().unwrap_or_default().to_owned()
}

impl H {
    pub async fn new() -> H {
        let dir = tempfile::tempdir().expect("tempdir");
        let cfg = Config {
            data_dir: dir.path().join("data"),
            database_url: None,
        };
        App::init(&cfg, None).await.expect("init");
        let app = Arc::new(App::open(&cfg, None).await.expect("open"));
        let server = Server::new(app.clone(), false);
        let router = certmail_server::router(server.clone());
        H {
            _dir: dir,
            app,
            server,
            router,
        }
    }

    pub async fn send(&self, req: Request<Body>) -> Reply {
        let r = self.router.clone().oneshot(req).await.expect("infallible");
        let status = r.status();
        let headers = r.headers().clone();
        let bytes = r.into_body().collect().await.expect("body").to_bytes();
        Reply {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &[(&str, String)],
        body: Option<serde_json::Value>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        for (k, v) in auth {
            b = b.header(*k, v.as_str());
        }
        let req = match body {
            Some(j) => b
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(j.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        self.send(req).await
    }

    pub async fn form(&self, path: &str, cookies: &str, fields: &[(&str, &str)]) -> Reply {
        let body: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect();
        let req = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::COOKIE, cookies)
            .body(Body::from(body.join("&")))
            .expect("request");
        self.send(req).await
    }

    pub async fn token(&self, name: &str, role: Role) -> Vec<(&'static str, String)> {
        self.app
            .admin_add(name, role, Some("a long enough password"))
            .await
            .expect("add");
        let t = self.app.admin_token(name, None).await.expect("token");
        vec![("authorization", format!("Bearer {}", *t))]
    }

    /// Logs in through the form; returns the session cookie and the page's CSRF token.
    pub async fn login(&self, name: &str, pw: &str) -> (String, String) {
        let page = self.call(Method::GET, "/login", &[], None).await;
        assert_eq!(page.status, StatusCode::OK);
        let pre = page.cookie("certmail_login").expect("login cookie");
        let csrf = field(&page.body, "csrf");
        let r = self
            .form(
                "/login",
                &format!("certmail_login={pre}"),
                &[("csrf", &csrf), ("name", name), ("password", pw)],
            )
            .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
        let session = r.cookie("certmail_session").expect("session cookie");
        let dash = self
            .call(
                Method::GET,
                "/",
                &[("cookie", format!("certmail_session={session}"))],
                None,
            )
            .await;
        assert_eq!(dash.status, StatusCode::OK, "{}", dash.body);
        (session, field(&dash.body, "csrf"))
    }

    pub async fn load_pki(&self) -> TestPki {
        let pki = TestPki::new("Routes");
        let roots = ImportOptions {
            password: None,
            roots: RootPolicy::AllToRoots,
        };
        self.app
            .import_bytes(pki.root.pem.as_bytes(), &roots)
            .await
            .expect("root");
        let o = ImportOptions::default();
        self.app
            .import_bytes(pki.intermediate.pem.as_bytes(), &o)
            .await
            .expect("ica");
        for (i, e) in ["alice@example.com", "bob@example.com", "carol@example.com"]
            .iter()
            .enumerate()
        {
            let leaf = pki.leaf(&LeafSpec::email(e, 100 + i as u64));
            self.app
                .import_bytes(leaf.pem.as_bytes(), &o)
                .await
                .expect("leaf");
            if i == 0 {
                self.app
                    .import_bytes(leaf.key_pem.as_bytes(), &o)
                    .await
                    .expect("key");
            }
        }
        let mut old = LeafSpec::email("old@example.com", 200);
        old.not_before = unix_date(2020, 1, 1);
        old.not_after = unix_date(2021, 1, 1);
        self.app
            .import_bytes(pki.leaf(&old).pem.as_bytes(), &o)
            .await
            .expect("expired leaf");
        pki
    }
}

pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "certmailtestboundary7d3a";
    let mut body = Vec::new();
    for (name, file, data) in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match file {
            Some(f) => body.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => body.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl H {
    pub async fn page(&self, path: &str, cookie: &str) -> Reply {
        self.call(Method::GET, path, &[("cookie", cookie.to_owned())], None)
            .await
    }

    pub async fn upload(
        &self,
        auth: &[(&str, String)],
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        let (ct, body) = multipart(parts);
        let mut b = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/import")
            .header(header::CONTENT_TYPE, ct);
        for (k, v) in auth {
            b = b.header(*k, v.as_str());
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }
}

pub fn sample(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../samples")
            .join(name),
    )
    .expect("sample")
}

/// The password of the accounts [`sessions`] makes.
pub const PW: &str = "correct horse battery";

/// Accounts of each role, logged in: (cookie, csrf) for admin, operator, auditor.
pub async fn sessions(h: &H) -> [(String, String); 3] {
    let mut out = Vec::new();
    for (name, role) in [
        ("boss", Role::Admin),
        ("ops", Role::Operator),
        ("aud", Role::Auditor),
    ] {
        h.app.admin_add(name, role, Some(PW)).await.expect("add");
        let (s, csrf) = h.login(name, PW).await;
        out.push((format!("certmail_session={s}"), csrf));
    }
    [out[0].clone(), out[1].clone(), out[2].clone()]
}

impl H {
    /// POSTs a body of content type `ct`, with these headers (auth or cookie).
    pub async fn raw(&self, path: &str, auth: &[(&str, String)], ct: &str, body: Vec<u8>) -> Reply {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, ct);
        for (k, v) in auth {
            b = b.header(*k, v.as_str());
        }
        self.send(b.body(Body::from(body)).expect("request")).await
    }

    /// POSTs a multipart form, with these headers (auth or cookie).
    pub async fn parts(
        &self,
        path: &str,
        auth: &[(&str, String)],
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        let (ct, body) = multipart(parts);
        self.raw(path, auth, &ct, body).await
    }

    /// POSTs a multipart form with a session cookie.
    pub async fn multipart_form(
        &self,
        path: &str,
        cookie: &str,
        parts: &[(&str, Option<&str>, &[u8])],
    ) -> Reply {
        self.parts(path, &[("cookie", cookie.to_owned())], parts)
            .await
    }

    /// A CA (P-256 root and issuing intermediate, ten years) made the default.
    pub async fn p256_ca(&self, root_cn: &str, intermediate_cn: &str) -> certmail_store::CaRow {
        self.app
            .ca_create(&certmail_app::ca::CaCreate {
                root_cn: root_cn.into(),
                intermediate_cn: intermediate_cn.into(),
                key: certmail_ca::KeySpec::parse("p256").expect("key"),
                days: 3650,
                hash: certmail_ca::SigHash::parse("sha256").expect("hash"),
                email: None,
                make_default: true,
            })
            .await
            .expect("ca")
    }

    /// The SHA-256 of the one certificate carrying `email`.
    pub async fn sha_of(&self, email: &str) -> String {
        let rows = self
            .app
            .list(
                certmail_store::StoreKind::Certificates,
                &certmail_store::ListFilter {
                    email: Some(email.into()),
                    ..Default::default()
                },
            )
            .await
            .expect("list");
        assert_eq!(rows.len(), 1, "{email}");
        rows[0].cert.sha256.clone()
    }
}
