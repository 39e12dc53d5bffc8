//! In-process tests of every route of the web admin and the API (tower's `oneshot`):
//! authentication, roles, CSRF, problem+json, paging, security headers, the setup link,
//! the login rate limit and the audit log.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use certmail_app::ImportOptions;
use certmail_app::admin::Role;
use certmail_testkit::{LeafSpec, TestPki};
use common::*;
use http_body_util::BodyExt;
use tower::ServiceExt;

const PAGES: &[&str] = &[
    "/",
    "/certificates",
    "/roots",
    "/certificates/00",
    "/audit",
    "/users",
    "/users/a@b.c",
    "/domains",
    "/domains/b.c",
    "/global",
];

#[tokio::test]
async fn pages_send_to_login_and_the_api_answers_401_without_credentials() {
    let h = H::new().await;
    for p in PAGES {
        let r = h.call(Method::GET, p, &[], None).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{p}");
        assert_eq!(r.location(), "/login", "{p}");
    }
    for p in [
        "/api/v1/certificates",
        "/api/v1/me",
        "/api/v1/global/settings/sign",
    ] {
        let r = h.call(Method::GET, p, &[], None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{p}");
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
        assert_eq!(r.headers[header::WWW_AUTHENTICATE], "Bearer");
        assert_eq!(r.json()["status"], 401);
    }
    // A made-up token and a malformed header are refused the same way.
    for v in ["Bearer cmt_nope", "Basic YWRtaW46YWRtaW4="] {
        let r = h
            .call(
                Method::GET,
                "/api/v1/me",
                &[("authorization", v.into())],
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{v}");
    }
    // A made-up session cookie is no session.
    let r = h
        .call(
            Method::GET,
            "/",
            &[("cookie", "certmail_session=forged".into())],
            None,
        )
        .await;
    assert_eq!(r.location(), "/login");
}

#[tokio::test]
async fn first_run_setup_link_works_once_and_logs_in() {
    let h = H::new().await;
    let login = h.call(Method::GET, "/login", &[], None).await;
    assert!(
        login.body.contains("No account exists yet"),
        "{}",
        login.body
    );
    let token = h
        .server
        .setup_token()
        .await
        .expect("db")
        .expect("a token while no account exists");
    let path = format!("/setup/{}", *token);
    assert_eq!(
        h.call(Method::GET, "/setup/wrong", &[], None).await.status,
        StatusCode::NOT_FOUND
    );
    let page = h.call(Method::GET, &path, &[], None).await;
    assert_eq!(page.status, StatusCode::OK);
    let pre = page.cookie("certmail_login").expect("cookie");
    let csrf = field(&page.body, "csrf");
    let cookies = format!("certmail_login={pre}");
    // A forged form (no matching cookie) is refused.
    let r = h
        .form(
            &path,
            "certmail_login=other",
            &[
                ("csrf", &csrf),
                ("name", "root"),
                ("password", "a long enough password"),
                ("password2", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            &path,
            &cookies,
            &[
                ("csrf", &csrf),
                ("name", "root"),
                ("password", "a long enough password"),
                ("password2", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("The two passwords differ"));
    let r = h
        .form(
            &path,
            &cookies,
            &[
                ("csrf", &csrf),
                ("name", "root"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at least 12 characters"), "{}", r.body);
    assert!(!h.app.admin_exists().await.expect("db"));
    let r = h
        .form(
            &path,
            &cookies,
            &[
                ("csrf", &csrf),
                ("name", "root"),
                ("password", "a long enough password"),
                ("password2", "a long enough password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let session = r.cookie("certmail_session").expect("logged in");
    let set = r.headers[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Strict"),
        "{set}"
    );
    let me = h
        .call(
            Method::GET,
            "/",
            &[("cookie", format!("certmail_session={session}"))],
            None,
        )
        .await;
    assert_eq!(me.status, StatusCode::OK);
    assert!(me.body.contains("root (admin)"));
    // Used: the link is gone, and no new one is made while an account exists.
    assert_eq!(
        h.call(Method::GET, &path, &[], None).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(h.server.setup_token().await.expect("db").is_none());
    let accounts = h.app.admin_list().await.expect("list");
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].role, Role::Admin);
}

#[tokio::test]
async fn login_logout_csrf_and_rate_limit() {
    let h = H::new().await;
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (session, csrf) = h.login("ops", "correct horse battery").await;
    let cookie = format!("certmail_session={session}");
    // Logout without the CSRF token is refused and the session lives on.
    let r = h.form("/logout", &cookie, &[("csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.call(Method::GET, "/", &[("cookie", cookie.clone())], None)
            .await
            .status,
        StatusCode::OK
    );
    let r = h.form("/logout", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login");
    assert_eq!(
        h.call(Method::GET, "/", &[("cookie", cookie)], None)
            .await
            .location(),
        "/login"
    );

    // Wrong passwords: 401 each, then 429 even for the right one.
    let page = h.call(Method::GET, "/login", &[], None).await;
    let pre = format!(
        "certmail_login={}",
        page.cookie("certmail_login").expect("cookie")
    );
    let csrf = field(&page.body, "csrf");
    for _ in 0..5 {
        let r = h
            .form(
                "/login",
                &pre,
                &[
                    ("csrf", &csrf),
                    ("name", "ops"),
                    ("password", "wrong password!"),
                ],
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
        assert!(r.body.contains("Wrong account name or password"));
    }
    let r = h
        .form(
            "/login",
            &pre,
            &[
                ("csrf", &csrf),
                ("name", "ops"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.headers.contains_key(header::RETRY_AFTER));
    assert!(r.cookie("certmail_session").is_none());
    // The audit log has the failures and the successful login, and never the password.
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "login" && e.outcome == "failed")
            .count(),
        5
    );
    assert_eq!(
        log.iter()
            .filter(|e| e.action == "login" && e.outcome == "ok")
            .count(),
        1
    );
    assert!(
        log.iter()
            .all(|e| !e.detail.contains("wrong password!") && !e.detail.contains("correct horse"))
    );
}

#[tokio::test]
async fn roles_decide_what_the_api_may_change() {
    let h = H::new().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let put = |v: &str| Some(serde_json::json!({ "value": v }));

    let me = h.call(Method::GET, "/api/v1/me", &aud, None).await;
    assert_eq!(me.json()["role"], "auditor");

    // Reading: everyone. Default value, not inherited from anything set.
    let r = h
        .call(
            Method::GET,
            "/api/v1/users/Alice@Example.com/settings/sign",
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["value"], "off");
    assert_eq!(r.json()["source"], "default");
    assert_eq!(r.json()["inherited"], true);

    // The auditor changes nothing.
    for (m, p) in [
        (Method::PUT, "/api/v1/users/alice@example.com/settings/sign"),
        (
            Method::DELETE,
            "/api/v1/users/alice@example.com/settings/sign",
        ),
        (Method::PUT, "/api/v1/domains/example.com/settings/sign"),
        (Method::PUT, "/api/v1/global/settings/sign"),
    ] {
        let r = h.call(m.clone(), p, &aud, put("on")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{m} {p}");
        assert!(
            r.json()["detail"]
                .as_str()
                .expect("detail")
                .contains("auditor role may not")
        );
    }
    // The operator sets domains and users, not global settings.
    let r = h
        .call(
            Method::PUT,
            "/api/v1/domains/example.com/settings/sign",
            &ops,
            put("on"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["inherited"], false);
    let r = h
        .call(
            Method::GET,
            "/api/v1/users/alice@example.com/settings/sign",
            &ops,
            None,
        )
        .await;
    assert_eq!(r.json()["value"], "on");
    assert_eq!(r.json()["source"], "domain example.com");
    assert_eq!(r.json()["inherited"], true);
    let r = h
        .call(Method::PUT, "/api/v1/global/settings/sign", &ops, put("on"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/global/settings/encrypt-mode",
            &admin,
            put("force"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        h.call(
            Method::GET,
            "/api/v1/global/settings/encrypt-mode",
            &aud,
            None
        )
        .await
        .json()["source"],
        "global"
    );
    let r = h
        .call(
            Method::DELETE,
            "/api/v1/global/settings/encrypt-mode",
            &admin,
            None,
        )
        .await;
    assert_eq!(r.json()["value"], "allow");
    assert_eq!(r.json()["source"], "default");

    // Bad values and names are problems with the CLI's reasons.
    let r = h
        .call(
            Method::PUT,
            "/api/v1/users/alice@example.com/settings/sign",
            &ops,
            put("maybe"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    assert_eq!(r.json()["detail"], "sign must be one of on, off");
    let r = h
        .call(
            Method::GET,
            "/api/v1/users/alice@example.com/settings/colour",
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("unknown setting \"colour\"")
    );
    let r = h
        .call(
            Method::GET,
            "/api/v1/users/not-an-address/settings/sign",
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/users/alice@example.com/settings/sign",
            &ops,
            Some(serde_json::json!({"nope": 1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    // Every change, refused by validation or done, is in the audit log with who did it.
    let r = h
        .call(Method::GET, "/api/v1/audit?action=setting", &aud, None)
        .await;
    let items = r.json()["items"].as_array().expect("items").clone();
    let summary: Vec<(String, String, String)> = items
        .iter()
        .map(|e| {
            (
                e["account"].as_str().unwrap_or_default().to_owned(),
                e["action"].as_str().unwrap_or_default().to_owned(),
                e["outcome"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(
        summary.contains(&("ops".into(), "setting.set".into(), "ok".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("ops".into(), "setting.set".into(), "failed".into())),
        "{summary:?}"
    );
    assert!(
        summary.contains(&("boss".into(), "setting.unset".into(), "ok".into())),
        "{summary:?}"
    );
    assert!(!summary.iter().any(|(a, _, _)| a == "eye"), "{summary:?}");
}

/// The settings table over the API: every setting with its type, values, default, scope,
/// label and group; a user's setting is refused on a domain, a global one on a user.
#[tokio::test]
async fn the_settings_table_is_served_and_its_scopes_hold() {
    let h = H::new().await;
    let admin = h.token("boss", Role::Admin).await;
    let aud = h.token("eye", Role::Auditor).await;
    let r = h
        .call(Method::GET, "/api/v1/settings/definitions", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let defs = r.json();
    let defs = defs.as_array().expect("list");
    assert_eq!(defs.len(), certmail_app::settings::SETTINGS.len());
    let find = |k: &str| {
        defs.iter()
            .find(|d| d["key"] == k)
            .unwrap_or_else(|| panic!("{k} missing"))
            .clone()
    };
    let em = find("encrypt-mode");
    assert_eq!(em["type"], "choice");
    assert_eq!(em["default"], "allow");
    assert_eq!(em["scope"], "all");
    assert_eq!(em["group"], "encryption");
    assert_eq!(
        em["values"],
        serde_json::json!(["no-encryption", "allow", "force"])
    );
    assert!(!em["label"].as_str().unwrap_or_default().is_empty());
    assert_eq!(find("fetch-allow")["scope"], "global");
    assert_eq!(find("phone")["scope"], "user");
    assert_eq!(find("pfx-password")["type"], "secret");
    assert_eq!(find("hold-expire-days")["type"], "text");
    let put = |v: &str| Some(serde_json::json!({ "value": v }));
    let r = h
        .call(
            Method::PUT,
            "/api/v1/domains/example.com/settings/phone",
            &admin,
            put("+41 44 000 00 00"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("user's setting"), "{}", r.body);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/users/a@example.com/settings/phone",
            &admin,
            put("+41 44 000 00 00"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/users/a@example.com/settings/fetch-allow",
            &admin,
            put("10.0.0.0/8"),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
}

#[tokio::test]
async fn a_session_changes_through_the_api_only_with_the_csrf_header() {
    let h = H::new().await;
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (session, csrf) = h.login("ops", "correct horse battery").await;
    let cookie = ("cookie", format!("certmail_session={session}"));
    let body = Some(serde_json::json!({ "value": "on" }));
    let path = "/api/v1/users/alice@example.com/settings/sign";
    let r = h
        .call(
            Method::PUT,
            path,
            std::slice::from_ref(&cookie),
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("X-CSRF-Token")
    );
    let r = h
        .call(
            Method::PUT,
            path,
            &[cookie.clone(), ("x-csrf-token", "forged".into())],
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .call(
            Method::PUT,
            path,
            &[cookie.clone(), ("x-csrf-token", csrf)],
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Reading needs no token.
    assert_eq!(
        h.call(Method::GET, path, &[cookie], None).await.json()["value"],
        "on"
    );
}

#[tokio::test]
async fn certificates_are_listed_paged_filtered_and_shown() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    let aud = h.token("eye", Role::Auditor).await;
    let page = |q: &str| format!("/api/v1/certificates{q}");
    let all = h.call(Method::GET, &page(""), &aud, None).await.json();
    // Intermediate + 3 leaves + the expired one; the root is in the root store.
    assert_eq!(all["items"].as_array().expect("items").len(), 5, "{all}");
    assert!(all["next_offset"].is_null());
    let p1 = h
        .call(Method::GET, &page("?limit=2"), &aud, None)
        .await
        .json();
    assert_eq!(p1["items"].as_array().expect("items").len(), 2);
    assert_eq!(p1["next_offset"], 2);
    let p3 = h
        .call(Method::GET, &page("?limit=2&offset=4"), &aud, None)
        .await
        .json();
    assert_eq!(p3["items"].as_array().expect("items").len(), 1);
    assert!(p3["next_offset"].is_null());
    let mut seen: Vec<String> = Vec::new();
    for off in [0, 2, 4] {
        let p = h
            .call(
                Method::GET,
                &page(&format!("?limit=2&offset={off}")),
                &aud,
                None,
            )
            .await
            .json();
        for i in p["items"].as_array().expect("items") {
            seen.push(i["sha256"].as_str().expect("sha").to_owned());
        }
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 5, "pages overlap or miss rows");

    let bob = h
        .call(Method::GET, &page("?email=BOB@example.com"), &aud, None)
        .await
        .json();
    let items = bob["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "valid", "{bob}");
    assert_eq!(items[0]["emails"][0], "bob@example.com");
    let with_key = h
        .call(Method::GET, &page("?with_key=true"), &aud, None)
        .await
        .json();
    assert_eq!(with_key["items"].as_array().expect("items").len(), 1);
    assert_eq!(with_key["items"][0]["emails"][0], "alice@example.com");
    let expired = h
        .call(Method::GET, &page("?expired=expired"), &aud, None)
        .await
        .json();
    assert_eq!(expired["items"].as_array().expect("items").len(), 1);
    assert_eq!(expired["items"][0]["status"], "expired");
    let search = h
        .call(Method::GET, &page("?search=caro"), &aud, None)
        .await
        .json();
    assert_eq!(search["items"].as_array().expect("items").len(), 1);
    let roots = h
        .call(Method::GET, &page("?store=roots"), &aud, None)
        .await
        .json();
    assert_eq!(roots["items"].as_array().expect("items").len(), 1);
    for bad in [
        "?expired=sometimes",
        "?store=trash",
        "?with_key=perhaps",
        "?limit=x",
    ] {
        let r = h.call(Method::GET, &page(bad), &aud, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
    }

    // Detail: the fields of `cert show --json`, with verdict and chain.
    let sha = items[0]["sha256"].as_str().expect("sha").to_owned();
    let d = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}"),
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(d["sha256"], sha.as_str());
    assert_eq!(d["status"], "valid");
    assert_eq!(d["chain"].as_array().expect("chain").len(), 3, "{d}");
    assert_eq!(d["store"], "certificates");
    let short = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{}", &sha[..12]),
            &aud,
            None,
        )
        .await;
    assert_eq!(short.status, StatusCode::OK);
    let r = h
        .call(Method::GET, "/api/v1/certificates/ffffffffffff", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    let r = h
        .call(Method::GET, "/api/v1/certificates/not-hex", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Recipients: what the gateway would use.
    let r = h
        .call(
            Method::GET,
            "/api/v1/recipients/bob@example.com",
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(r["email"], "bob@example.com");
    assert_eq!(
        r["encryption"].as_array().expect("encryption").len(),
        1,
        "{r}"
    );

    // The pages show the same, with status classes and the reason on hover.
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (session, _) = h.login("ops", "correct horse battery").await;
    let cookie = [("cookie", format!("certmail_session={session}"))];
    let list = h.call(Method::GET, "/certificates", &cookie, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(
        list.body.contains("st-valid") && list.body.contains("st-invalid"),
        "{}",
        list.body
    );
    assert!(
        list.body.contains("title=\"CN=old expired at 2021-01-01"),
        "{}",
        list.body
    );
    let filtered = h
        .call(
            Method::GET,
            "/certificates?email=carol%40example.com&expired=all&with_key=",
            &cookie,
            None,
        )
        .await;
    assert!(
        filtered.body.contains("carol@example.com") && !filtered.body.contains("bob@example.com")
    );
    let two = h
        .call(Method::GET, "/certificates?limit=2", &cookie, None)
        .await;
    assert!(two.body.contains("cursor=c"), "no next link: {}", two.body);
    let detail = h
        .call(Method::GET, &format!("/certificates/{sha}"), &cookie, None)
        .await;
    assert_eq!(detail.status, StatusCode::OK);
    assert!(
        detail.body.contains("Chain") && detail.body.contains(&pki_subject(&pki)),
        "{}",
        detail.body
    );
    let missing = h
        .call(Method::GET, "/certificates/ffffffffffff", &cookie, None)
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert!(missing.body.contains("no entry"), "{}", missing.body);
    let roots_page = h.call(Method::GET, "/roots", &cookie, None).await;
    assert!(
        roots_page.body.contains("Routes Root") || roots_page.body.contains("Root"),
        "{}",
        roots_page.body
    );
    let dash = h.call(Method::GET, "/", &cookie, None).await;
    assert!(
        dash.body.contains("<b>5</b> certificates")
            && dash.body.contains("<b>1</b> roots")
            && dash.body.contains("<b>1</b> private keys"),
        "{}",
        dash.body
    );
}

fn pki_subject(pki: &TestPki) -> String {
    let c = certmail_pki::Certificate::from_der(&pki.root.der, &certmail_crypto::AwsLcOps)
        .expect("root");
    c.subject
}

#[tokio::test]
async fn every_response_carries_the_security_headers() {
    let h = H::new().await;
    let aud = h.token("eye", Role::Auditor).await;
    for (path, auth) in [
        ("/login", vec![]),
        ("/api/v1/me", aud.clone()),
        ("/api/v1/nothing-here", aud),
        ("/", vec![]),
        ("/static/app.css", vec![]),
    ] {
        let r = h.call(Method::GET, path, &auth, None).await;
        let csp = r.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .expect("csp");
        assert!(
            csp.contains("default-src 'none'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-inline"),
            "{path}: {csp}"
        );
        assert_eq!(
            r.headers[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff",
            "{path}"
        );
        assert_eq!(r.headers[header::X_FRAME_OPTIONS], "DENY", "{path}");
    }
    // No inline script or style anywhere in a page.
    let login = h.call(Method::GET, "/login", &[], None).await;
    assert!(!login.body.contains("<script") && !login.body.contains("style="));
}

#[tokio::test]
async fn the_openapi_document_is_valid_and_every_endpoint_in_it_answers() {
    let h = H::new().await;
    h.load_pki().await;
    let admin = h.token("boss", Role::Admin).await;
    let doc = h
        .call(Method::GET, "/api/v1/openapi.json", &[], None)
        .await
        .json();
    assert!(
        doc["openapi"].as_str().expect("version").starts_with("3.1"),
        "{doc}"
    );
    assert!(doc["info"]["title"].is_string());
    let paths = doc["paths"].as_object().expect("paths");
    assert!(paths.len() >= 8, "{paths:?}");
    let mut calls = 0;
    for (path, ops) in paths {
        let concrete = path
            .replace("{sha256}", "ffff")
            .replace("{email}", "alice@example.com")
            .replace("{domain}", "example.com")
            .replace("{key}", "sign")
            .replace("{thumbprint}", "ffff")
            .replace("{kind}", "encryption")
            .replace("{id}", "999")
            .replace("{name}", "nobody")
            .replace("{ca}", "nosuchca");
        for (method, op) in ops.as_object().expect("operations") {
            assert!(
                op["responses"].is_object(),
                "{method} {path} documents no response"
            );
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let body = (m == Method::PUT || m == Method::POST)
                .then(|| serde_json::json!({ "value": "on" }));
            let r = h.call(m.clone(), &concrete, &admin, body).await;
            // Answers from the handler: JSON or problem+json, never the router's 404/405.
            let ct = r
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            assert!(
                ct.starts_with("application/json") || ct == "application/problem+json",
                "{m} {concrete}: {} {ct} {}",
                r.status,
                r.body
            );
            assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {concrete}");
            let documented: Vec<&String> = op["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .collect();
            assert!(
                documented.iter().any(|c| c.as_str() == r.status.as_str()),
                "{m} {concrete} answered {} which is not documented ({documented:?})",
                r.status
            );
            calls += 1;
        }
    }
    assert!(calls >= 14, "{calls}");
}

#[tokio::test]
async fn import_uploads_report_per_item_and_keep_nothing_of_a_bad_file() {
    let h = H::new().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let p12 = sample("alice.p12");
    let pw = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/alice-password.txt"),
    )
    .expect("pw");
    let pw = pw.trim();

    let r = h.upload(&aud, &[("files", Some("alice.p12"), &p12)]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Wrong password: the file fails with the reason, nothing stored.
    let r = h
        .upload(
            &ops,
            &[
                ("files", Some("alice.p12"), &p12),
                ("password", None, b"wrong"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["failed_files"], 1);
    assert_eq!(j["items"][0]["status"], "failed");
    assert!(
        j["items"][0]["detail"]
            .as_str()
            .expect("detail")
            .to_lowercase()
            .contains("password"),
        "{j}"
    );
    assert_eq!(h.app.counts().await.expect("counts"), (0, 0, 0));
    // Right password, plus a corrupt file beside it: the good one is stored, the bad one named.
    let r = h
        .upload(
            &ops,
            &[
                ("files", Some("alice.p12"), &p12),
                (
                    "files",
                    Some("junk.pem"),
                    b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
                ),
                ("password", None, pw.as_bytes()),
            ],
        )
        .await;
    let j = r.json();
    assert_eq!(j["failed_files"], 1, "{j}");
    let rows = j["items"].as_array().expect("items");
    assert!(
        rows.iter()
            .any(|i| i["file"] == "alice.p12" && i["kind"] == "key" && i["status"] == "imported"),
        "{j}"
    );
    assert!(
        rows.iter()
            .any(|i| i["file"] == "junk.pem" && i["status"] == "failed"),
        "{j}"
    );
    let (certs, _, keys) = h.app.counts().await.expect("counts");
    assert!(certs >= 1 && keys == 1, "{certs} {keys}");
    assert!(!r.body.contains(pw), "the password is echoed");
    // Importing again: present, not duplicated.
    let again = h
        .upload(
            &ops,
            &[
                ("files", Some("alice.p12"), &p12),
                ("password", None, pw.as_bytes()),
            ],
        )
        .await
        .json();
    assert!(
        again["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["status"] == "present"),
        "{again}"
    );
    // Trusting roots needs an admin; an empty form and unknown fields are refused by name.
    let r = h
        .upload(
            &ops,
            &[
                ("files", Some("alice.p12"), &p12),
                ("trust_roots", None, b"true"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h.upload(&ops, &[("password", None, b"x")]).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("no file uploaded")
    );
    let r = h.upload(&ops, &[("colour", None, b"x")]).await;
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("\"colour\"")
    );
    // The audit log names the files, never the password.
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("import".into()),
            limit: 50,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        log.iter()
            .any(|e| e.object == "junk.pem" && e.outcome == "failed")
    );
    assert!(log.iter().all(|e| !e.detail.contains(pw)));
}

#[tokio::test]
async fn the_ca_issues_through_the_api() {
    let h = H::new().await;
    h.p256_ca("API Root", "API Issuing").await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let body =
        serde_json::json!({ "email": "dee@example.com", "cn": "Dee", "key": "p256", "days": 365 });
    assert_eq!(
        h.call(Method::POST, "/api/v1/ca/issue", &aud, Some(body.clone()))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let r = h
        .call(Method::POST, "/api/v1/ca/issue", &ops, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let j = r.json();
    assert_eq!(j["emails"][0], "dee@example.com");
    assert_eq!(j["has_key"], true);
    let sha = j["sha256"].as_str().expect("sha");
    let d = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}"),
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(d["status"], "valid", "{d}");
    // Revocation and the CA's CRL: operators, not auditors; the verdict follows at once.
    let revoke = serde_json::json!({ "certificate": sha, "reason": "keyCompromise" });
    for path in ["/api/v1/ca/revoke", "/api/v1/ca/crl"] {
        let body = (path == "/api/v1/ca/revoke").then(|| revoke.clone());
        let r = h
            .call(
                Method::POST,
                path,
                &aud,
                body.or(Some(serde_json::json!({}))),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/revoke",
            &ops,
            Some(serde_json::json!({ "certificate": sha, "reason": "sleepy" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("sleepy"), "{}", r.body);
    let r = h
        .call(Method::POST, "/api/v1/ca/revoke", &ops, Some(revoke))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json()["serial"].is_string(), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/crl",
            &ops,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["status"], "current", "{}", r.body);
    let d = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}"),
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(d["status"], "revoked", "{d}");
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/issue",
            &ops,
            Some(serde_json::json!({ "email": "dee@example.com", "key": "rsa1000" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("rsa1000"),
        "{}",
        r.body
    );
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/issue",
            &ops,
            Some(serde_json::json!({ "email": "not an address" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("ca.issue".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(
        log.iter()
            .filter(|e| e.outcome == "ok" && e.detail == sha)
            .count(),
        1
    );
    assert_eq!(log.iter().filter(|e| e.outcome == "failed").count(), 2);
}

#[tokio::test]
async fn settings_pages_show_inheritance_and_obey_roles() {
    let h = H::new().await;
    h.load_pki().await;
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    h.app
        .admin_add("eye", Role::Auditor, Some("correct horse battery"))
        .await
        .expect("add");
    let (session, csrf) = h.login("ops", "correct horse battery").await;
    let cookie = format!("certmail_session={session}");

    assert_eq!(h.page("/domains", &cookie).await.status, StatusCode::OK);
    let r = h
        .form(
            "/domains",
            &cookie,
            &[("csrf", &csrf), ("name", "Example.COM")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/domains/example.com");
    assert!(
        h.page("/domains", &cookie)
            .await
            .body
            .contains("/domains/example.com")
    );
    let r = h
        .form(
            "/domains/example.com",
            &cookie,
            &[("csrf", &csrf), ("key", "sign"), ("value", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &cookie).await;
    assert!(page.body.contains("sign set to on."), "{}", page.body);
    // The user inherits it, and the page says from where; the certificates are listed.
    let alice = h.page("/users/alice@example.com", &cookie).await;
    assert_eq!(alice.status, StatusCode::OK);
    let row = alice.body.split("<b>sign</b>").nth(1).expect("sign row");
    assert!(
        row.contains("<td>on</td>") && row.contains("domain example.com"),
        "{row}"
    );
    assert!(
        alice
            .body
            .contains("Certificates used for alice@example.com")
            && alice.body.contains("/certificates/"),
        "{}",
        alice.body
    );
    // A bad value is refused with the reason, and nothing changes.
    let r = h
        .form(
            "/users/alice@example.com",
            &cookie,
            &[("csrf", &csrf), ("key", "sign"), ("value", "sometimes")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("sign must be one of on, off"), "{}", r.body);
    // Without the token: refused.
    let r = h
        .form(
            "/users/alice@example.com",
            &cookie,
            &[("csrf", "x"), ("key", "sign"), ("value", "off")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Setting the user, then back to inherit.
    let r = h
        .form(
            "/users/alice@example.com",
            &cookie,
            &[("csrf", &csrf), ("key", "sign"), ("value", "off")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(
        h.app
            .resolve_chain(&certmail_app::policy::chain_for_user("alice@example.com"))
            .await
            .expect("resolve")
            .iter()
            .find(|r| r.key == "sign")
            .expect("sign")
            .source,
        "user"
    );
    h.form(
        "/users/alice@example.com",
        &cookie,
        &[("csrf", &csrf), ("key", "sign"), ("value", "")],
    )
    .await;
    assert_eq!(
        h.app
            .resolve_chain(&certmail_app::policy::chain_for_user("alice@example.com"))
            .await
            .expect("resolve")
            .iter()
            .find(|r| r.key == "sign")
            .expect("sign")
            .source,
        "domain example.com"
    );
    // Users: add and list.
    let r = h
        .form(
            "/users",
            &cookie,
            &[("csrf", &csrf), ("name", "New.User@Example.com")],
        )
        .await;
    assert_eq!(r.location(), "/users/new.user@example.com");
    assert!(
        h.page("/users?search=new", &cookie)
            .await
            .body
            .contains("new.user@example.com")
    );
    // The operator may look at the global settings but not change them.
    let g = h.page("/global", &cookie).await;
    assert_eq!(g.status, StatusCode::OK);
    assert!(!g.body.contains("<select"), "operator sees global forms");
    let r = h
        .form(
            "/global",
            &cookie,
            &[("csrf", &csrf), ("key", "sign"), ("value", "on")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // The auditor sees no forms at all and cannot post.
    let (s2, c2) = h.login("eye", "correct horse battery").await;
    let ck2 = format!("certmail_session={s2}");
    let d = h
        .call(
            Method::GET,
            "/domains/example.com",
            &[("cookie", ck2.clone())],
            None,
        )
        .await;
    assert!(
        !d.body.contains("<select") && d.body.contains("domain example.com"),
        "{}",
        d.body
    );
    let r = h
        .form(
            "/domains/example.com",
            &ck2,
            &[("csrf", &c2), ("key", "sign"), ("value", "off")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Every change is audited with the object.
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        log.iter()
            .any(|e| e.action == "domain.add" && e.object == "example.com" && e.account == "ops")
    );
    assert!(log.iter().any(|e| e.action == "setting.set"
        && e.object == "alice@example.com"
        && e.outcome == "failed"));
    assert!(
        log.iter()
            .any(|e| e.action == "setting.unset" && e.object == "alice@example.com")
    );
}

impl H {
    async fn page_upload(&self, cookie: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Reply {
        let (ct, body) = multipart(parts);
        let req = Request::builder()
            .method(Method::POST)
            .uri("/import")
            .header(header::CONTENT_TYPE, ct)
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .expect("request");
        self.send(req).await
    }
}

#[tokio::test]
async fn import_page_trust_list_actions_and_accounts_page() {
    let h = H::new().await;
    h.load_pki().await;
    h.app
        .admin_add("boss", Role::Admin, Some("correct horse battery"))
        .await
        .expect("add");
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (session, csrf) = h.login("ops", "correct horse battery").await;
    let cookie = format!("certmail_session={session}");
    let p12 = sample("alice.p12");
    let pw = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../samples/alice-password.txt"),
    )
    .expect("pw");

    let form = h.page("/import", &cookie).await;
    assert!(
        form.body.contains("enctype=\"multipart/form-data\"") && !form.body.contains("trust_roots"),
        "{}",
        form.body
    );
    // Without the CSRF token: refused, nothing stored.
    let r = h
        .page_upload(
            &cookie,
            &[
                ("csrf", None, b"forged"),
                ("files", Some("alice.p12"), &p12),
                ("password", None, pw.trim().as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Wrong password, then the right one.
    let r = h
        .page_upload(
            &cookie,
            &[
                ("csrf", None, csrf.as_bytes()),
                ("files", Some("alice.p12"), &p12),
                ("password", None, b"wrong"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(
        r.body.contains("class=\"failed\"") && r.body.to_lowercase().contains("password"),
        "{}",
        r.body
    );
    let r = h
        .page_upload(
            &cookie,
            &[
                ("csrf", None, csrf.as_bytes()),
                ("files", Some("alice.p12"), &p12),
                ("password", None, pw.trim().as_bytes()),
            ],
        )
        .await;
    assert!(
        r.body.contains("class=\"imported\"") || r.body.contains("class=\"present\""),
        "{}",
        r.body
    );
    assert!(!r.body.contains(pw.trim()), "password echoed");

    // Blacklist a valid certificate from its page: it turns invalid with the mark; then remove.
    let bob = h
        .app
        .find_by_email("bob@example.com")
        .await
        .expect("bob")
        .remove(0);
    let sha = bob.cert.sha256.clone();
    let page = h.page(&format!("/certificates/{sha}"), &cookie).await;
    assert!(
        page.body.contains("badge valid") && page.body.contains("Blacklist"),
        "{}",
        page.body
    );
    let r = h
        .form(
            &format!("/certificates/{sha}/ctl"),
            &cookie,
            &[("csrf", &csrf), ("action", "blacklist")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(&format!("/certificates/{sha}"), &cookie).await;
    assert!(
        page.body.contains("badge invalid") && page.body.contains("icon black"),
        "{}",
        page.body
    );
    let list = h
        .page("/certificates?email=bob%40example.com", &cookie)
        .await;
    assert!(
        list.body.contains("st-invalid") && list.body.contains("icon black"),
        "{}",
        list.body
    );
    h.form(
        &format!("/certificates/{sha}/ctl"),
        &cookie,
        &[("csrf", &csrf), ("action", "remove")],
    )
    .await;
    assert!(
        h.page(&format!("/certificates/{sha}"), &cookie)
            .await
            .body
            .contains("badge valid")
    );
    let r = h
        .form(
            &format!("/certificates/{sha}/ctl"),
            &cookie,
            &[("csrf", &csrf), ("action", "bless")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // Delete.
    let r = h
        .form(
            &format!("/certificates/{sha}/delete"),
            &cookie,
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(
        h.page(&format!("/certificates/{sha}"), &cookie)
            .await
            .status,
        StatusCode::NOT_FOUND
    );

    // Accounts: the operator is refused; the admin adds and deletes.
    let r = h.page("/admin", &cookie).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("operator role may not"), "{}", r.body);
    let r = h
        .form(
            "/admin",
            &cookie,
            &[
                ("csrf", &csrf),
                ("name", "x"),
                ("role", "admin"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let (s2, c2) = h.login("boss", "correct horse battery").await;
    let ck2 = format!("certmail_session={s2}");
    assert!(h.page("/", &ck2).await.body.contains("href=\"/admin\""));
    assert!(!h.page("/", &cookie).await.body.contains("href=\"/admin\""));
    let r = h
        .form(
            "/admin",
            &ck2,
            &[
                ("csrf", &c2),
                ("name", "eye"),
                ("role", "auditor"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = h
        .form(
            "/admin",
            &ck2,
            &[
                ("csrf", &c2),
                ("name", "weak"),
                ("role", "auditor"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let admin = h.page("/admin", &ck2).await;
    assert!(
        admin.body.contains("<td>eye</td><td>auditor</td>")
            && !admin.body.contains("<td>weak</td>"),
        "{}",
        admin.body
    );
    let r = h
        .form("/admin/delete", &ck2, &[("csrf", &c2), ("name", "boss")])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .form("/admin/delete", &ck2, &[("csrf", &c2), ("name", "eye")])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(h.app.admin_list().await.expect("list").len(), 2);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    for (action, outcome) in [
        ("ctl.blacklist", "ok"),
        ("ctl.remove", "ok"),
        ("certificate.delete", "ok"),
        ("account.add", "failed"),
        ("account.delete", "ok"),
        ("import", "failed"),
    ] {
        assert!(
            log.iter()
                .any(|e| e.action == action && e.outcome == outcome),
            "{action} {outcome}"
        );
    }
}

#[tokio::test]
async fn the_ca_page_creates_issues_and_makes_crls_by_role() {
    let h = H::new().await;
    h.app
        .admin_add("boss", Role::Admin, Some("correct horse battery"))
        .await
        .expect("add");
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (sa, ca_csrf) = h.login("boss", "correct horse battery").await;
    let admin = format!("certmail_session={sa}");
    let (so, ops_csrf) = h.login("ops", "correct horse battery").await;
    let ops = format!("certmail_session={so}");

    let page = h.page("/ca", &ops).await;
    assert!(
        page.body.contains("No CA yet") && !page.body.contains("id=\"create\""),
        "{}",
        page.body
    );
    // Creating a CA is the admin's.
    let create = [
        ("root_cn", "Web Root"),
        ("intermediate_cn", "Web Issuing"),
        ("key", "p256"),
        ("days", "3650"),
        ("email", ""),
        ("make_default", "true"),
    ];
    let mut f: Vec<(&str, &str)> = vec![("csrf", &ops_csrf)];
    f.extend_from_slice(&create);
    assert_eq!(
        h.form("/ca/create", &ops, &f).await.status,
        StatusCode::FORBIDDEN
    );
    let mut f: Vec<(&str, &str)> = vec![("csrf", &ca_csrf)];
    f.extend_from_slice(&create);
    let r = h.form("/ca/create", &admin, &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &admin).await;
    assert!(
        page.body.contains("created CA Web Issuing") && page.body.contains("id=\"create\""),
        "{}",
        page.body
    );
    // Bad input is named.
    let mut f: Vec<(&str, &str)> = vec![
        ("csrf", &ca_csrf),
        ("root_cn", "R2"),
        ("intermediate_cn", "I2"),
        ("key", "p256"),
        ("days", "forever"),
    ];
    f.push(("email", ""));
    let r = h.form("/ca/create", &admin, &f).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("forever"), "{}", r.body);

    // The operator issues; the new certificate's page shows it valid.
    let r = h
        .form(
            "/ca/issue",
            &ops,
            &[
                ("csrf", &ops_csrf),
                ("email", "erin@example.com"),
                ("cn", "Erin"),
                ("days", "365"),
                ("key", "p256"),
                ("ca", "Web Issuing"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let cert = h.page(r.location(), &ops).await;
    assert!(
        cert.body.contains("badge valid") && cert.body.contains("erin@example.com"),
        "{}",
        cert.body
    );
    let r = h
        .form(
            "/ca/issue",
            &ops,
            &[
                ("csrf", &ops_csrf),
                ("email", "not an address"),
                ("ca", "Web Issuing"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // A CRL.
    let r = h
        .form(
            "/ca/crl",
            &ops,
            &[("csrf", &ops_csrf), ("ca", "Web Issuing")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(h.page(r.location(), &ops).await.body.contains("CRL number"));
    assert_eq!(h.app.crls().await.expect("crls").len(), 1);
    // Forged forms change nothing.
    let r = h
        .form(
            "/ca/crl",
            &ops,
            &[("csrf", "forged"), ("ca", "Web Issuing")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("ca.".into()),
            limit: 20,
            ..Default::default()
        })
        .await
        .expect("audit");
    for (a, o) in [
        ("ca.create", "ok"),
        ("ca.create", "failed"),
        ("ca.issue", "ok"),
        ("ca.issue", "failed"),
        ("ca.crl", "ok"),
    ] {
        assert!(
            log.iter().any(|e| e.action == a && e.outcome == o),
            "{a} {o}"
        );
    }
}

#[tokio::test]
async fn crl_and_trust_list_pages() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    h.app
        .admin_add("eye", Role::Auditor, Some("correct horse battery"))
        .await
        .expect("add");
    let (so, csrf) = h.login("ops", "correct horse battery").await;
    let ops = format!("certmail_session={so}");
    let now = certmail_app::now();
    let good = pki.crl([101u64], 1, now - 3600, now + 86_400);
    // A CRL whose issuer certmail does not hold: kept, not used, greyed with the reason.
    let stranger = TestPki::new("Stranger").crl([5u64], 1, now - 3600, now + 86_400);
    let (ct, body) = multipart(&[
        ("csrf", None, csrf.as_bytes()),
        ("files", Some("good.crl"), &good),
        ("files", Some("stranger.crl"), &stranger),
        ("files", Some("junk.crl"), b"not a crl"),
    ]);
    let req = Request::builder()
        .method(Method::POST)
        .uri("/crls")
        .header(header::CONTENT_TYPE, ct)
        .header(header::COOKIE, ops.as_str())
        .body(Body::from(body))
        .expect("request");
    let r = h.send(req).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &ops).await;
    assert!(page.body.contains("junk.crl:"), "{}", page.body);
    assert!(
        page.body.contains("class=\"crl-ok\"") && page.body.contains("class=\"crl-bad\""),
        "{}",
        page.body
    );
    // Bob (serial 101) is revoked now.
    let bob = h
        .app
        .find_by_email("bob@example.com")
        .await
        .expect("bob")
        .remove(0);
    assert!(
        h.page(&format!("/certificates/{}", bob.cert.sha256), &ops)
            .await
            .body
            .contains("badge revoked")
    );

    // The trust list: add by SHA-512, see it, remove it.
    let carol = h
        .app
        .find_by_email("carol@example.com")
        .await
        .expect("carol")
        .remove(0);
    let r = h
        .form(
            "/ctl",
            &ops,
            &[
                ("csrf", &csrf),
                ("thumbprint", &carol.cert.sha512),
                ("status", "blacklisted"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page("/ctl", &ops).await;
    assert!(
        page.body.contains(&carol.cert.sha512) && page.body.contains("icon black"),
        "{}",
        page.body
    );
    let r = h
        .form(
            "/ctl",
            &ops,
            &[
                ("csrf", &csrf),
                ("thumbprint", "abcd"),
                ("status", "whitelisted"),
            ],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.body);
    let r = h
        .form(
            "/ctl",
            &ops,
            &[
                ("csrf", &csrf),
                ("thumbprint", &carol.cert.sha512),
                ("status", "maybe"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    h.form(
        "/ctl/remove",
        &ops,
        &[("csrf", &csrf), ("sha512", &carol.cert.sha512)],
    )
    .await;
    assert!(!h.page("/ctl", &ops).await.body.contains(&carol.cert.sha512));

    // The auditor reads both pages without forms, and cannot post.
    let (se, ce) = h.login("eye", "correct horse battery").await;
    let eye = format!("certmail_session={se}");
    let c = h.page("/crls", &eye).await;
    assert!(c.status == StatusCode::OK && !c.body.contains("type=\"file\""));
    assert!(
        !h.page("/ctl", &eye)
            .await
            .body
            .contains("name=\"thumbprint\"")
    );
    let r = h
        .form(
            "/ctl",
            &eye,
            &[
                ("csrf", &ce),
                ("thumbprint", &carol.cert.sha512),
                ("status", "blacklisted"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .expect("audit");
    for (a, o) in [
        ("crl.import", "ok"),
        ("crl.import", "failed"),
        ("ctl.add", "ok"),
        ("ctl.add", "failed"),
        ("ctl.remove", "ok"),
    ] {
        assert!(
            log.iter().any(|e| e.action == a && e.outcome == o),
            "{a} {o}"
        );
    }
}

#[tokio::test]
async fn the_gateway_page_shows_recent_messages_newest_first() {
    let h = H::new().await;
    h.app
        .admin_add("eye", Role::Auditor, Some("correct horse battery"))
        .await
        .expect("add");
    let (s, _) = h.login("eye", "correct horse battery").await;
    let cookie = format!("certmail_session={s}");
    assert!(
        h.page("/gateway", &cookie)
            .await
            .body
            .contains("No message yet")
    );
    let now = certmail_app::now();
    h.server.message_log().record(now, "id=A1 from=<a@x.example> size=10 copies=1 ms=1.0 reply=250 to=<b@y.example> dir=outgoing action=encrypted \"encrypted to 1 certificate\"");
    h.server.message_log().record(now, "rcpt-refused from=<a@x.example> to=<c@y.example> reason=\"c@y.example: encryption is required\"");
    h.server.message_log().record(
        now,
        "id=A2 from=<a@x.example> size=10 ms=1.0 reply=451 reason=\"processing failed: database\"",
    );
    let page = h.page("/gateway", &cookie).await;
    let a2 = page.body.find("id=A2").expect("A2");
    let a1 = page.body.find("id=A1").expect("A1");
    assert!(a2 < a1, "newest first");
    assert!(
        page.body.contains("<td>451</td>")
            && page.body.contains("<td>550</td>")
            && page.body.contains("class=\"failed\""),
        "{}",
        page.body
    );
    let only = h.page("/gateway?q=rcpt-refused", &cookie).await;
    assert!(only.body.contains("c@y.example") && !only.body.contains("id=A1"));
    // The kept lines are bounded.
    for i in 0..(certmail_gateway::record::RECENT_MESSAGES + 10) {
        h.server
            .message_log()
            .record(now, &format!("id=X{i} reply=250"));
    }
    assert_eq!(
        h.server.message_log().recent(None, usize::MAX).len(),
        certmail_gateway::record::RECENT_MESSAGES
    );
}

#[tokio::test]
async fn exports_by_format_and_role_with_key_exports_audited() {
    let h = H::new().await;
    h.load_pki().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let alice = h
        .app
        .find_by_email("alice@example.com")
        .await
        .expect("alice")
        .remove(0);
    let sha = alice.cert.sha256.clone();
    let pem = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}/export"),
            &aud,
            None,
        )
        .await;
    assert_eq!(pem.status, StatusCode::OK);
    assert!(
        pem.body.starts_with("-----BEGIN CERTIFICATE-----")
            && pem.body.matches("BEGIN CERTIFICATE").count() == 1
    );
    assert!(
        pem.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("cd")
            .contains(".pem")
    );
    let chain = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}/export?format=pem-chain"),
            &aud,
            None,
        )
        .await;
    assert_eq!(
        chain.body.matches("BEGIN CERTIFICATE").count(),
        3,
        "{}",
        chain.body
    );
    let der = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}/export?format=der"),
            &aud,
            None,
        )
        .await;
    assert_eq!(der.headers[header::CONTENT_TYPE], "application/pkix-cert");
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}/export?format=p12"),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{sha}/export?format=jpeg"),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    // PKCS#12: never for the auditor; a password is required; the file opens with it.
    let body = Some(serde_json::json!({ "password": "export password" }));
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/certificates/{sha}/p12"),
            &aud,
            body.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/certificates/{sha}/p12"),
            &ops,
            Some(serde_json::json!({ "password": "short" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("/api/v1/certificates/{sha}/p12"))
        .header("authorization", ops[0].1.as_str())
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(
            serde_json::json!({ "password": "export password" }).to_string(),
        ))
        .expect("request");
    let r = h.router.clone().oneshot(req).await.expect("infallible");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "application/x-pkcs12");
    let p12 = r.into_body().collect().await.expect("body").to_bytes();
    let key = certmail_crypto::pkcs12::read(&p12, Some("export password"))
        .expect("the exported PKCS#12 opens");
    assert!(
        !key.keys.is_empty() && key.certs.len() == 3,
        "{} keys {} certs",
        key.keys.len(),
        key.certs.len()
    );
    assert!(certmail_crypto::pkcs12::read(&p12, Some("wrong password")).is_err());
    // A certificate without a key has no PKCS#12.
    let bob = h
        .app
        .find_by_email("bob@example.com")
        .await
        .expect("bob")
        .remove(0);
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/certificates/{}/p12", bob.cert.sha256),
            &ops,
            body,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("export".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(log.iter().filter(|e| e.outcome == "ok").count(), 1);
    assert!(log.iter().all(|e| !e.detail.contains("export password")));

    // The page offers key formats only to operators, for certificates with a key.
    h.app
        .admin_add("opsp", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (so, csrf) = h.login("opsp", "correct horse battery").await;
    let cookie = format!("certmail_session={so}");
    assert!(
        h.page(&format!("/certificates/{sha}"), &cookie)
            .await
            .body
            .contains("value=\"p12\"")
    );
    assert!(
        !h.page(&format!("/certificates/{}", bob.cert.sha256), &cookie)
            .await
            .body
            .contains("value=\"p12\"")
    );
    let r = h
        .form(
            &format!("/certificates/{sha}/export"),
            &cookie,
            &[("csrf", &csrf), ("format", "pem")],
        )
        .await;
    assert!(
        r.body.starts_with("-----BEGIN CERTIFICATE-----"),
        "{}",
        r.body
    );
    let r = h
        .form(
            &format!("/certificates/{sha}/export"),
            &cookie,
            &[("csrf", "forged"), ("format", "pem")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn trust_ca_and_party_endpoints() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let now = certmail_app::now();
    h.app
        .import_crl(
            certmail_pki::crl::Crl::from_der(&pki.crl([102u64], 1, now - 60, now + 3600))
                .expect("crl"),
        )
        .await
        .expect("import crl");
    let list = h.call(Method::GET, "/api/v1/crls", &aud, None).await.json();
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    let crl_sha = items[0]["sha256"].as_str().expect("sha").to_owned();
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/crls/{crl_sha}"),
            &aud,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/crls/{crl_sha}"),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/crls/{crl_sha}"),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    let carol = h
        .app
        .find_by_email("carol@example.com")
        .await
        .expect("carol")
        .remove(0);
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/ctl/{}", carol.cert.sha512),
            &ops,
            Some(serde_json::json!({ "status": "blacklisted" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "blacklisted");
    let d = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{}", carol.cert.sha256),
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(d["status"], "blacklisted", "{d}");
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/ctl/{}", carol.cert.sha512),
            &ops,
            Some(serde_json::json!({ "status": "grey" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        h.call(Method::GET, "/api/v1/ctl", &aud, None).await.json()["items"]
            .as_array()
            .expect("items")
            .len(),
        1
    );
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/ctl/{}", carol.cert.sha512),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/ctl/{}", carol.cert.sha512),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );

    // Users and domains: add, list with search and paging; bad names refused.
    for i in 0..5 {
        let r = h
            .call(
                Method::POST,
                "/api/v1/users",
                &ops,
                Some(serde_json::json!({ "name": format!("U{i}@Example.com") })),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    }
    assert_eq!(
        h.call(
            Method::POST,
            "/api/v1/users",
            &ops,
            Some(serde_json::json!({ "name": "nobody" }))
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        h.call(
            Method::POST,
            "/api/v1/users",
            &aud,
            Some(serde_json::json!({ "name": "x@example.com" }))
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let p = h
        .call(Method::GET, "/api/v1/users?search=u&limit=3", &aud, None)
        .await
        .json();
    assert_eq!(p["items"].as_array().expect("items").len(), 3);
    assert_eq!(p["next_offset"], 3);
    assert_eq!(p["items"][0], "u0@example.com");
    let r = h
        .call(
            Method::POST,
            "/api/v1/domains",
            &ops,
            Some(serde_json::json!({ "name": "*.Example.org" })),
        )
        .await;
    assert_eq!(r.json()["name"], "*.example.org");
    assert_eq!(
        h.call(Method::GET, "/api/v1/domains", &aud, None)
            .await
            .json()["items"][0],
        "*.example.org"
    );

    // CAs and pending requests are listed; a pending id that is not a number is named.
    assert_eq!(
        h.call(Method::GET, "/api/v1/cas", &aud, None).await.json()["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    assert_eq!(
        h.call(Method::GET, "/api/v1/ca/pending", &aud, None)
            .await
            .json()["items"]
            .as_array()
            .expect("items")
            .len(),
        0
    );
    let r = h
        .call(Method::DELETE, "/api/v1/ca/pending/abc", &ops, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Deleting a certificate: operator only; then it is gone.
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/certificates/{}", carol.cert.sha256),
            &aud,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        h.call(
            Method::DELETE,
            &format!("/api/v1/certificates/{}", carol.cert.sha256),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(
            Method::GET,
            &format!("/api/v1/certificates/{}", carol.cert.sha256),
            &aud,
            None
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn the_dashboard_lists_what_expires_within_30_days_and_counts_follow_changes() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    h.app
        .admin_add("eye", Role::Auditor, Some("correct horse battery"))
        .await
        .expect("add");
    let (s, _) = h.login("eye", "correct horse battery").await;
    let cookie = format!("certmail_session={s}");
    let now = certmail_app::now();
    let mut soon = LeafSpec::email("soon@example.com", 300);
    soon.not_before = now - 86_400;
    soon.not_after = now + 10 * 86_400;
    let mut later = LeafSpec::email("later@example.com", 301);
    later.not_before = now - 86_400;
    later.not_after = now + 60 * 86_400;
    let before = h.page("/", &cookie).await;
    assert!(
        before.body.contains("<b>5</b> certificates"),
        "{}",
        before.body
    );
    for spec in [&soon, &later] {
        h.app
            .import_bytes(pki.leaf(spec).pem.as_bytes(), &ImportOptions::default())
            .await
            .expect("import");
    }
    let dash = h.page("/", &cookie).await;
    // The counts follow the import (their cache is keyed by the store's generations).
    assert!(dash.body.contains("<b>7</b> certificates"), "{}", dash.body);
    let section = dash
        .body
        .split("Expiring within 30 days")
        .nth(1)
        .expect("section");
    let section = section.split("<h2>").next().unwrap_or_default();
    assert!(
        section.contains("soon") && !section.contains("later") && !section.contains("CN=old"),
        "{section}"
    );
}

#[tokio::test]
async fn bulk_csv_previews_then_issues_in_the_background_with_progress() {
    let h = H::new().await;
    h.p256_ca("Bulk Root", "Bulk Issuing").await;
    h.app
        .admin_add("ops", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    h.app
        .admin_add("eye", Role::Auditor, Some("correct horse battery"))
        .await
        .expect("add");
    let (so, csrf) = h.login("ops", "correct horse battery").await;
    let ops = format!("certmail_session={so}");
    let csv = "email,cn,org\nann@example.com,Ann,Acme\nnot-an-address,Bad,Acme\nben@example.com,Ben,\ncid@example.com,Cid,Acme\n";
    let (before, _, _) = h.app.counts().await.expect("counts");
    let send = |cookie: String, parts: Vec<(&'static str, Option<&'static str>, Vec<u8>)>| {
        let refs: Vec<(&str, Option<&str>, Vec<u8>)> = parts;
        let (ct, body) = multipart(
            &refs
                .iter()
                .map(|(a, b, c)| (*a, *b, c.as_slice()))
                .collect::<Vec<_>>(),
        );
        Request::builder()
            .method(Method::POST)
            .uri("/ca/bulk")
            .header(header::CONTENT_TYPE, ct)
            .header(header::COOKIE, cookie)
            .body(Body::from(body))
            .expect("request")
    };
    let r = h
        .send(send(
            ops.clone(),
            vec![
                ("csrf", None, csrf.clone().into_bytes()),
                ("file", Some("staff.csv"), csv.as_bytes().to_vec()),
                ("ca", None, b"Bulk Issuing".to_vec()),
                ("key", None, b"p256".to_vec()),
                ("days", None, b"365".to_vec()),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Preview: 3 certificate(s) to issue")
            && r.body.contains("line 3")
            && r.body.contains("ann@example.com"),
        "{}",
        r.body
    );
    assert_eq!(
        h.app.counts().await.expect("counts").0,
        before,
        "the preview issued something"
    );
    // A forged upload and a bad validity are refused.
    let r = h
        .send(send(
            ops.clone(),
            vec![
                ("csrf", None, b"forged".to_vec()),
                ("file", Some("s.csv"), csv.as_bytes().to_vec()),
                ("key", None, b"p256".to_vec()),
                ("days", None, b"365".to_vec()),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .send(send(
            ops.clone(),
            vec![
                ("csrf", None, csrf.clone().into_bytes()),
                ("file", Some("s.csv"), csv.as_bytes().to_vec()),
                ("key", None, b"p256".to_vec()),
                ("days", None, b"forever".to_vec()),
            ],
        ))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);

    // Confirm: the run goes to the background; its page refreshes until it is done.
    let done = bulk_run(&h, &ops, &csrf, csv).await;
    assert!(done.contains("3 issued, 0 skipped, 0 failed"), "{done}");
    assert_eq!(h.app.counts().await.expect("counts").0, before + 3);
    assert_eq!(
        h.app
            .find_by_email("ben@example.com")
            .await
            .expect("ben")
            .len(),
        1
    );
    // Again: everyone has a valid signing certificate now, so nothing is issued twice.
    let again = bulk_run(&h, &ops, &csrf, csv).await;
    assert!(again.contains("0 issued, 3 skipped"), "{again}");
    // The auditor may not run it; unknown jobs are named.
    let (se, ce) = h.login("eye", "correct horse battery").await;
    let eye = format!("certmail_session={se}");
    assert_eq!(h.page("/ca/bulk", &eye).await.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            "/ca/bulk/issue",
            &eye,
            &[
                ("csrf", &ce),
                ("ca", "Bulk Issuing"),
                ("key", "p256"),
                ("days", "365"),
                ("csv", csv),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.page("/ca/bulk/job/nothing", &ops).await.status,
        StatusCode::NOT_FOUND
    );
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("ca.bulk".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert_eq!(log.len(), 2);
    assert!(
        log.iter()
            .any(|e| e.detail == "3 issued, 0 skipped, 0 failed"),
        "{log:?}"
    );
}

/// Confirms a bulk run and follows its self-refreshing page until it is done.
async fn bulk_run(h: &H, ops: &str, csrf: &str, csv: &str) -> String {
    let r = h
        .form(
            "/ca/bulk/issue",
            ops,
            &[
                ("csrf", csrf),
                ("ca", "Bulk Issuing"),
                ("key", "p256"),
                ("days", "365"),
                ("csv", csv),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let url = r.location().to_owned();
    assert!(url.starts_with("/ca/bulk/job/"));
    for _ in 0..200 {
        let p = h.page(&url, ops).await;
        if !p.body.contains("http-equiv=\"refresh\"") {
            return p.body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the bulk run did not finish");
}

#[tokio::test]
async fn selections_over_the_api_and_the_pages() {
    let h = H::new().await;
    h.load_pki().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let bob = h
        .app
        .find_by_email("bob@example.com")
        .await
        .expect("bob")
        .remove(0)
        .cert
        .sha256;
    let alice = h
        .app
        .find_by_email("alice@example.com")
        .await
        .expect("alice")
        .remove(0)
        .cert
        .sha256;
    // Carol gets Bob's certificate as an additional (escrow) certificate.
    let path = format!("/api/v1/users/carol@example.com/selections/additional/{bob}");
    assert_eq!(
        h.call(Method::PUT, &path, &aud, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h.call(Method::PUT, &path, &ops, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["additional"][0], bob.as_str());
    let rcpt = h
        .call(
            Method::GET,
            "/api/v1/recipients/carol@example.com",
            &aud,
            None,
        )
        .await
        .json();
    assert!(
        rcpt["encryption"]
            .as_array()
            .expect("enc")
            .iter()
            .any(|u| u["sha256"] == bob.as_str()),
        "{rcpt}"
    );
    // Signing needs a key and a user; bad kinds are named.
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/carol@example.com/selections/signing/{bob}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("no private key")
    );
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/domains/example.com/selections/signing/{alice}"),
            &ops,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/carol@example.com/selections/favourite/{bob}"),
            &ops,
            None,
        )
        .await;
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("favourite")
    );
    // Global selections are the admin's.
    assert_eq!(
        h.call(
            Method::PUT,
            &format!("/api/v1/global/selections/additional/{bob}"),
            &ops,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // Remove; removing again is a 404.
    assert_eq!(
        h.call(Method::DELETE, &path, &ops, None).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.call(Method::DELETE, &path, &ops, None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.call(
            Method::GET,
            "/api/v1/users/carol@example.com/selections",
            &aud,
            None
        )
        .await
        .json()["additional"]
            .as_array()
            .expect("list")
            .len(),
        0
    );

    // The same from the user's page.
    h.app
        .admin_add("opsp", Role::Operator, Some("correct horse battery"))
        .await
        .expect("add");
    let (so, csrf) = h.login("opsp", "correct horse battery").await;
    let cookie = format!("certmail_session={so}");
    let r = h
        .form(
            "/domains/example.com/select",
            &cookie,
            &[
                ("csrf", &csrf),
                ("op", "add"),
                ("kind", "additional"),
                ("sha256", &bob[..16]),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &cookie).await;
    assert!(
        page.body.contains("selected for additional") && page.body.contains(&bob),
        "{}",
        page.body
    );
    // Carol (example.com) now encrypts to Bob's certificate too, inherited from the domain.
    let carol = h.page("/users/carol@example.com", &cookie).await;
    assert!(carol.body.contains(&bob), "{}", carol.body);
    let r = h
        .form(
            "/domains/example.com/select",
            &cookie,
            &[
                ("csrf", &csrf),
                ("op", "remove"),
                ("kind", "additional"),
                ("sha256", &bob),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    let r = h
        .form(
            "/domains/example.com/select",
            &cookie,
            &[
                ("csrf", "forged"),
                ("op", "add"),
                ("kind", "additional"),
                ("sha256", &bob),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let log = h
        .app
        .audit_log(&certmail_store::AuditFilter {
            action: Some("select".into()),
            limit: 20,
            ..Default::default()
        })
        .await
        .expect("audit");
    assert!(
        log.iter()
            .any(|e| e.action == "select.add" && e.object == "example.com" && e.outcome == "ok")
    );
    assert!(
        log.iter()
            .any(|e| e.action == "select.add" && e.outcome == "failed")
    );
}

#[tokio::test]
async fn crl_sources_download_now_and_expiry_over_the_api_and_the_crl_page() {
    let h = H::new().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    // Nothing listens on port 1: the download fails with the reason, recorded on the source.
    let dead = "http://127.0.0.1:1/none.crl";
    let body = serde_json::json!({ "url": dead });
    assert_eq!(
        h.call(
            Method::POST,
            "/api/v1/crls/update",
            &aud,
            Some(body.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    // A loopback URL is an internal address: refused until fetch-allow lists it
    // (ARCHITECTURE.md, trust boundaries).
    let r = h
        .call(
            Method::POST,
            "/api/v1/crls/update",
            &ops,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let items = r.json()["items"].clone();
    assert_eq!(items[0]["status"], "failed", "{items}");
    let problem = items[0]["problem"].as_str().unwrap_or_default().to_owned();
    assert!(
        problem.contains("internal address") && problem.contains("fetch-allow"),
        "{problem}"
    );
    h.app
        .set_setting(&certmail_store::Party::Global, "fetch-allow", "127.0.0.0/8")
        .await
        .expect("fetch-allow");
    let r = h
        .call(Method::POST, "/api/v1/crls/update", &ops, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let items = r.json()["items"].clone();
    assert_eq!(items[0]["status"], "failed", "{items}");
    let problem = items[0]["problem"].as_str().unwrap_or_default().to_owned();
    assert!(problem.contains("cannot connect"), "{problem}");
    let sources = h
        .call(Method::GET, "/api/v1/crls/sources", &aud, None)
        .await
        .json();
    assert_eq!(sources["items"][0]["url"], dead);
    assert_eq!(sources["items"][0]["last_error"], problem.as_str());
    // What will expire: a bad window is a 400 problem, a good one a list.
    let bad = h
        .call(Method::GET, "/api/v1/expiry?days=0", &aud, None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("days"), "{}", bad.body);
    let e = h
        .call(Method::GET, "/api/v1/expiry?days=30", &aud, None)
        .await;
    assert_eq!(e.status, StatusCode::OK);
    assert!(e.json()["items"].is_array());
    // The CRL page lists the source with its error; an operator downloads the due ones now.
    let (session, csrf) = h.login("ops", "a long enough password").await;
    let cookie = format!("certmail_session={session}");
    let page = h
        .call(Method::GET, "/crls", &[("cookie", cookie.clone())], None)
        .await;
    assert!(page.body.contains(dead), "{}", page.body);
    assert!(page.body.contains("cannot connect"), "{}", page.body);
    assert!(page.body.contains("action=\"/crls/update\""));
    let r = h.form("/crls/update", &cookie, &[("csrf", &csrf)]).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/crls?note="), "{}", r.location());
    let stale = h.form("/crls/update", &cookie, &[("csrf", "wrong")]).await;
    assert_ne!(
        stale.status,
        StatusCode::SEE_OTHER,
        "a wrong CSRF token is refused"
    );
    let audit = h
        .call(Method::GET, "/api/v1/audit?action=crl.update", &aud, None)
        .await
        .json();
    assert!(
        audit["items"].as_array().map_or(0, Vec::len) >= 2,
        "API and page downloads are audited: {audit}"
    );
}

#[tokio::test]
async fn directories_over_the_api_by_role_without_ever_showing_the_password() {
    let h = H::new().await;
    h.app
        .set_directory_client(Arc::new(certmail_jobs::ldap::LdapClient::default()));
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    // Nothing listens on port 1: look-ups fail fast, with the reason.
    let body = serde_json::json!({
        "name": "corp",
        "url": "ldap://127.0.0.1:1",
        "bind_dn": "cn=reader,dc=example,dc=com",
        "bind_password": "s3cret-bind-password",
        "timeout_ms": 500
    });
    assert_eq!(
        h.call(
            Method::POST,
            "/api/v1/directories",
            &ops,
            Some(body.clone())
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "operators do not add directories"
    );
    let r = h
        .call(Method::POST, "/api/v1/directories", &admin, Some(body))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(!r.body.contains("s3cret"), "{}", r.body);
    let bad = h
        .call(
            Method::POST,
            "/api/v1/directories",
            &admin,
            Some(serde_json::json!({"name": "x", "url": "http://not-ldap"})),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.body);
    let list = h.call(Method::GET, "/api/v1/directories", &aud, None).await;
    assert_eq!(list.status, StatusCode::OK);
    assert!(!list.body.contains("s3cret"), "{}", list.body);
    let items = list.json()["items"].clone();
    assert_eq!(items[0]["name"], "corp");
    assert_eq!(items[0]["bind_password_set"], true);
    assert_eq!(
        h.call(
            Method::GET,
            "/api/v1/directories/lookup/someone@example.com",
            &aud,
            None
        )
        .await
        .status,
        StatusCode::FORBIDDEN,
        "a look-up imports: not for auditors"
    );
    let r = h
        .call(
            Method::GET,
            "/api/v1/directories/lookup/someone@example.com",
            &ops,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let answer = &r.json()["directories"][0];
    assert_eq!(answer["status"], "failed", "{answer}");
    assert!(answer["error"].is_string(), "{answer}");
    assert_eq!(
        h.call(Method::DELETE, "/api/v1/directories/corp", &admin, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let list = h
        .call(Method::GET, "/api/v1/directories", &aud, None)
        .await
        .json();
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let audit = h.call(Method::GET, "/api/v1/audit", &aud, None).await;
    assert!(audit.body.contains("directory.add"), "{}", audit.body);
    assert!(!audit.body.contains("s3cret"), "{}", audit.body);
}

#[tokio::test]
async fn the_hold_queue_by_role_over_the_api_and_on_its_page() {
    use certmail_store::Party;
    let h = H::new().await;
    h.load_pki().await;
    let app = &h.app;
    app.set_setting(&Party::Domain("example.com".into()), "locality", "internal")
        .await
        .expect("internal");
    let partner = Party::Domain("partner.example".into());
    app.set_setting(&partner, "encrypt-mode", "force")
        .await
        .expect("force");
    app.set_setting(&partner, "on-missing-certificate", "hold")
        .await
        .expect("hold");
    let msg = b"From: alice@example.com\r\nTo: x@partner.example\r\nSubject: held one\r\n\r\nthe secret body\r\n".to_vec();
    let rcpts = vec!["x@partner.example".to_owned()];
    let plan = app
        .gateway_process(
            &certmail_app::mailflow::Envelope {
                id: "T1",
                sender: "alice@example.com",
                recipients: &rcpts,
                now: certmail_app::now(),
            },
            None,
            Arc::new(msg),
        )
        .await
        .expect("process");
    assert_eq!(plan.held.len(), 1);
    let id = plan.held[0].id;
    let auditor = h.token("watcher", Role::Auditor).await;
    let operator = h.token("op", Role::Operator).await;

    let list = h.call(Method::GET, "/api/v1/hold", &auditor, None).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.body);
    let j = list.json();
    assert_eq!(j["total"], 1);
    assert_eq!(j["items"][0]["recipient"], "x@partner.example");
    assert_eq!(j["items"][0]["subject"], "held one");
    let one = h
        .call(Method::GET, &format!("/api/v1/hold/{id}"), &auditor, None)
        .await
        .json();
    let headers = one["headers"].as_str().expect("headers");
    assert!(headers.contains("Subject: held one"));
    assert!(
        !one.to_string().contains("the secret body"),
        "the body is not shown"
    );
    let bad = h
        .call(Method::GET, "/api/v1/hold?limit=0", &auditor, None)
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);

    // An auditor may look, not act.
    for (m, p) in [
        (Method::POST, format!("/api/v1/hold/{id}/release")),
        (Method::DELETE, format!("/api/v1/hold/{id}")),
    ] {
        let r = h.call(m, &p, &auditor, Some(serde_json::json!({}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{p}");
    }
    // Without the gateway there is no next hop.
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/hold/{id}/release"),
            &operator,
            Some(serde_json::json!({"clear": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    // A next hop that is down: the release fails, the message stays held with the reason.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    h.server
        .set_relay(Arc::new(certmail_gateway::relay::Relay::new(
            &format!("127.0.0.1:{closed}"),
            "routes.test",
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(2),
        )));
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/hold/{id}/release"),
            &operator,
            Some(serde_json::json!({"clear": true})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["status"], "failed");
    let again = h
        .call(Method::GET, "/api/v1/hold", &auditor, None)
        .await
        .json();
    assert_eq!(again["total"], 1, "still held");
    assert!(again["items"][0]["last_error"].is_string(), "{again}");
    // Without clear and without a certificate: refused with the reason.
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/hold/{id}/release"),
            &operator,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("--clear")
    );

    // The page: the row for everyone, the buttons for operators; a form without its CSRF
    // token is refused.
    app.admin_add("ann", Role::Auditor, Some("a long enough password"))
        .await
        .expect("ann");
    let (s1, _) = h.login("ann", "a long enough password").await;
    let page = h
        .call(
            Method::GET,
            "/hold",
            &[("cookie", format!("certmail_session={s1}"))],
            None,
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("x@partner.example") && page.body.contains("held one"));
    assert!(
        !page.body.contains("Release encrypted"),
        "no buttons for an auditor"
    );
    app.admin_add("oscar", Role::Operator, Some("a long enough password"))
        .await
        .expect("oscar");
    let (s2, csrf) = h.login("oscar", "a long enough password").await;
    let cookie = format!("certmail_session={s2}");
    let page = h
        .call(Method::GET, "/hold", &[("cookie", cookie.clone())], None)
        .await;
    assert!(page.body.contains("Release encrypted"), "{}", page.body);
    let r = h
        .form(
            &format!("/hold/{id}"),
            &cookie,
            &[("csrf", "forged"), ("op", "delete")],
        )
        .await;
    assert_ne!(r.status, StatusCode::SEE_OTHER, "a forged form is refused");
    assert_eq!(app.hold_count().await.expect("count"), 1);
    let r = h
        .form(
            &format!("/hold/{id}"),
            &cookie,
            &[("csrf", &csrf), ("op", "delete")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(app.hold_count().await.expect("count"), 0);
    let audit = h
        .call(Method::GET, "/api/v1/audit", &operator, None)
        .await
        .body;
    assert!(
        audit.contains("hold.release") && audit.contains("hold.delete"),
        "{audit}"
    );
}

#[tokio::test]
async fn sending_certificates_over_the_api_needs_an_operator_and_a_ca_sender() {
    let h = H::new().await;
    h.load_pki().await;
    let auditor = h.token("watcher", Role::Auditor).await;
    let operator = h.token("op", Role::Operator).await;
    let body = serde_json::json!({"thumbprints": ["ff"], "to": "alice@example.com"});
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/send",
            &auditor,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    h.server
        .set_relay(Arc::new(certmail_gateway::relay::Relay::new(
            "127.0.0.1:9",
            "routes.test",
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(2),
        )));
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/send",
            &operator,
            Some(body.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.json()["detail"]
            .as_str()
            .expect("detail")
            .contains("ca-email")
    );
    h.app
        .ca_config_set("ca-email", "ca@example.com")
        .await
        .expect("ca-email");
    let bad = serde_json::json!({"thumbprints": ["ff"], "to": "alice@example.com", "password_to": "pigeon"});
    let r = h
        .call(Method::POST, "/api/v1/ca/send", &operator, Some(bad))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("pigeon"));
    let r = h
        .call(Method::POST, "/api/v1/ca/send", &operator, Some(body))
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "unknown certificate: {}",
        r.body
    );
    let audit = h
        .call(Method::GET, "/api/v1/audit", &operator, None)
        .await
        .body;
    assert!(
        audit.contains("ca.send"),
        "refusals are audited too: {audit}"
    );
    assert!(!audit.contains("password\":\""), "{audit}");
}

#[tokio::test]
async fn ca_creation_configuration_pending_requests_and_keys_over_the_api() {
    let h = H::new().await;
    h.load_pki().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("aud", Role::Auditor).await;
    let create = serde_json::json!({ "root_cn": "API Root", "intermediate_cn": "API CA", "key": "p256", "make_default": true });

    // Creating a CA is the admin's; the same names twice are told apart; bad input is named.
    let r = h
        .call(Method::POST, "/api/v1/cas", &ops, Some(create.clone()))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/cas",
            &admin,
            Some(serde_json::json!({ "root_cn": "Same", "intermediate_cn": "same" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("must differ"), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/cas",
            &admin,
            Some(serde_json::json!({ "root_cn": "R", "intermediate_cn": "I", "key": "rsa1000" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("rsa1000"), "{}", r.body);
    let r = h
        .call(Method::POST, "/api/v1/cas", &admin, Some(create))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ca = r.json();
    assert_eq!(ca["name"], "API CA", "{ca}");
    assert_eq!(ca["is_default"], true, "{ca}");
    let listed = h.call(Method::GET, "/api/v1/cas", &aud, None).await.json();
    assert_eq!(listed["items"][0]["signer_sha256"], ca["signer_sha256"]);

    // The configuration: read by anyone, changed by the admin, each value checked.
    let cfg = h
        .call(Method::GET, "/api/v1/ca/config", &aud, None)
        .await
        .json();
    assert_eq!(cfg["validity_days"], 730, "{cfg}");
    let days = serde_json::json!({ "value": "365" });
    let r = h
        .call(
            Method::PUT,
            "/api/v1/ca/config/validity-days",
            &ops,
            Some(days.clone()),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/ca/config/validity-days",
            &admin,
            Some(days),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["validity_days"], 365);
    let r = h
        .call(
            Method::PUT,
            "/api/v1/ca/config/validity-days",
            &admin,
            Some(serde_json::json!({ "value": "forever" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(
        h.call(Method::GET, "/api/v1/ca/config", &aud, None)
            .await
            .json()["validity_days"],
        365,
        "a refused value changes nothing"
    );

    // A pending request (the csr handler): its CSR, a reschedule, then the upload of the
    // certificate the external CA (here the CA above) issued for it completes it.
    use certmail_app::ca::RequestHandler;
    let req = h
        .app
        .ca_end_user_request(&certmail_app::ca::IssueParams {
            email: "dee@example.com".into(),
            cn: Some("Dee Example".into()),
            ..Default::default()
        })
        .await
        .expect("request");
    let certmail_app::ca::HandlerOutcome::Pending(id) = certmail_app::ca::CsrHandler
        .submit(&h.app, "", &req)
        .await
        .expect("submit")
    else {
        panic!("the csr handler queues");
    };
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/ca/pending/{id}/csr"),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.starts_with("-----BEGIN CERTIFICATE REQUEST-----"),
        "{}",
        r.body
    );
    let r = h
        .call(Method::GET, "/api/v1/ca/pending/4242/csr", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let later = serde_json::json!({ "delay_seconds": 7200 });
    let path = format!("/api/v1/ca/pending/{id}/reschedule");
    let r = h.call(Method::POST, &path, &aud, Some(later.clone())).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h.call(Method::POST, &path, &ops, Some(later)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let at = r.json()["next_attempt"].as_i64().expect("next_attempt");
    assert!(at >= certmail_app::now() + 7100, "{at}");
    let pending = h
        .call(Method::GET, "/api/v1/ca/pending", &aud, None)
        .await
        .json();
    assert_eq!(pending["items"][0]["next_attempt"], at, "{pending}");
    let r = h
        .call(
            Method::POST,
            &path,
            &ops,
            Some(serde_json::json!({ "delay_seconds": -5 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    let upload = |body: Vec<u8>, auth: Vec<(&'static str, String)>| {
        let req = Request::builder()
            .method(Method::POST)
            .uri("/api/v1/ca/pending/upload")
            .header(header::CONTENT_TYPE, "application/pkix-cert");
        let req = auth
            .iter()
            .fold(req, |b, (k, v)| b.header(*k, v.as_str()))
            .body(Body::from(body))
            .expect("request");
        h.send(req)
    };
    let r = upload(b"not a certificate".to_vec(), ops.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let stranger = TestPki::new("Stranger").leaf(&LeafSpec::email("eve@example.com", 900));
    let r = upload(stranger.pem.clone().into_bytes(), ops.clone()).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body.contains("matches the key of a pending request"),
        "{}",
        r.body
    );
    let csr = h.app.ca_pending_get(id).await.expect("pending").csr;
    let issued = h
        .app
        .ca_sign_csr("", &csr, None, 30, "test")
        .await
        .expect("signed");
    let pem = certmail_pki::pem::encode("CERTIFICATE", &issued.cert.der);
    let r = upload(pem.clone().into_bytes(), aud.clone()).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = upload(pem.into_bytes(), ops.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["request"], id);
    assert_eq!(r.json()["sha256"], issued.cert.sha256.as_str());
    let pending = h
        .call(Method::GET, "/api/v1/ca/pending", &aud, None)
        .await
        .json();
    assert_eq!(
        pending["items"].as_array().map(Vec::len),
        Some(0),
        "{pending}"
    );

    // Keys: listed without key material; a key in use is kept unless forced.
    let keys = h.call(Method::GET, "/api/v1/keys", &aud, None).await;
    assert_eq!(keys.status, StatusCode::OK);
    assert!(!keys.body.contains("PRIVATE"), "{}", keys.body);
    let k = keys.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|k| {
            k["certificates"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c == issued.cert.sha256.as_str()))
        })
        .cloned()
        .expect("the uploaded certificate's key");
    let kid = k["key_id"].as_str().expect("key_id").to_owned();
    // Lists come in pages (issue 25): one key a page, the next page named.
    let all = keys.json()["items"].as_array().map_or(0, Vec::len);
    assert!(all >= 2, "{}", keys.body);
    let first = h
        .call(Method::GET, "/api/v1/keys?limit=1", &aud, None)
        .await
        .json();
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["next_offset"], 1, "{first}");
    let last = h
        .call(
            Method::GET,
            &format!("/api/v1/keys?limit=100000&offset={}", all - 1),
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(last["items"].as_array().map(Vec::len), Some(1), "{last}");
    assert!(last.get("next_offset").is_none(), "{last}");
    let del = format!("/api/v1/keys/{kid}");
    assert_eq!(
        h.call(Method::DELETE, &del, &aud, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h.call(Method::DELETE, &del, &ops, None).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    let r = h
        .call(Method::DELETE, &format!("{del}?force=true"), &ops, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let keys = h.call(Method::GET, "/api/v1/keys", &aud, None).await;
    assert!(!keys.body.contains(&kid), "{}", keys.body);

    // Every change is in the audit log under its name.
    let audit = h
        .call(Method::GET, "/api/v1/audit?limit=100", &aud, None)
        .await
        .body;
    for action in [
        "ca.create",
        "ca.config",
        "ca.pending.reschedule",
        "ca.pending.upload",
        "key.delete",
    ] {
        assert!(audit.contains(action), "{action} not audited: {audit}");
    }
}

#[tokio::test]
async fn the_setup_link_makes_one_account_when_used_at_once() {
    // Issue 25: eight forms sent together made six administrators; the token is now
    // claimed before the account is made.
    let h = H::new().await;
    let token = h
        .server
        .setup_token()
        .await
        .expect("db")
        .expect("a token while no account exists");
    let path = format!("/setup/{}", *token);
    let page = h.call(Method::GET, &path, &[], None).await;
    let cookies = format!(
        "certmail_login={}",
        page.cookie("certmail_login").expect("cookie")
    );
    let csrf = field(&page.body, "csrf");
    let names: Vec<String> = (0..8).map(|i| format!("root{i}")).collect();
    let post = |name: String| {
        let (path, cookies, csrf) = (path.clone(), cookies.clone(), csrf.clone());
        let h = &h;
        async move {
            let fields = [
                ("csrf", csrf.as_str()),
                ("name", name.as_str()),
                ("password", "a long enough password"),
                ("password2", "a long enough password"),
            ];
            h.form(&path, &cookies, &fields).await.status
        }
    };
    let (a, b, c, d, e, f, g, i) = tokio::join!(
        post(names[0].clone()),
        post(names[1].clone()),
        post(names[2].clone()),
        post(names[3].clone()),
        post(names[4].clone()),
        post(names[5].clone()),
        post(names[6].clone()),
        post(names[7].clone())
    );
    let statuses = [a, b, c, d, e, f, g, i];
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::SEE_OTHER)
            .count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(h.app.admin_list().await.expect("accounts").len(), 1);
}

#[tokio::test]
async fn top_level_domains_are_admin_only_and_url_credentials_are_masked() {
    let h = H::new().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("eye", Role::Auditor).await;
    let force = Some(serde_json::json!({ "value": "force" }));
    // *.com and com reach as far as the global settings: administrators only.
    for d in ["*.com", "com"] {
        let path = format!("/api/v1/domains/{d}/settings/encrypt-mode");
        let r = h.call(Method::PUT, &path, &ops, force.clone()).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{d}: {}", r.body);
        assert!(r.body.contains("top-level domain"), "{}", r.body);
        let r = h.call(Method::PUT, &path, &admin, force.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{d}: {}", r.body);
    }
    let r = h
        .call(
            Method::PUT,
            "/api/v1/domains/example.com/settings/encrypt-mode",
            &ops,
            force,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // A credential in a URL setting: operators see it, auditors and the audit log do not.
    let url = "https://sms.example/send?token=s3cret-t0ken";
    let r = h
        .call(
            Method::PUT,
            "/api/v1/users/alice@example.com/settings/sms-webhook-url",
            &ops,
            Some(serde_json::json!({ "value": url })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let path = "/api/v1/users/alice@example.com/settings/sms-webhook-url";
    let seen = h.call(Method::GET, path, &ops, None).await.body;
    assert!(seen.contains("s3cret-t0ken"), "{seen}");
    let masked = h.call(Method::GET, path, &aud, None).await.body;
    assert!(!masked.contains("s3cret-t0ken"), "{masked}");
    assert!(masked.contains("token=***"), "{masked}");
    let all = h
        .call(
            Method::GET,
            "/api/v1/users/alice@example.com/settings",
            &aud,
            None,
        )
        .await
        .body;
    assert!(!all.contains("s3cret-t0ken"), "{all}");
    let audit = h
        .call(Method::GET, "/api/v1/audit?limit=100", &aud, None)
        .await
        .body;
    assert!(audit.contains("sms-webhook-url"), "{audit}");
    assert!(!audit.contains("s3cret-t0ken"), "{audit}");
}

/// The OpenAPI document passes `openapi-spec-validator` (PyPI), so client generators read it
/// as the handlers mean it (query parameters in the query, one operation id per operation).
#[test]
fn the_openapi_document_passes_the_spec_validator() {
    let python = std::env::var("CERTMAIL_PYTHON").unwrap_or_else(|_| "python3".into());
    let have = std::process::Command::new(&python)
        .args(["-c", "import openapi_spec_validator"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !have {
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "openapi-spec-validator is not installed; CI is set"
        );
        eprintln!("skipping: openapi-spec-validator not installed");
        return;
    }
    // Kept in target/ for a look (and for client generators).
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/openapi.json");
    std::fs::write(&file, certmail_server::openapi_json()).expect("write");
    // Every error, not only the first.
    let script = "import json,sys\nfrom openapi_spec_validator import OpenAPIV31SpecValidator as V\nerrs=list(V(json.load(open(sys.argv[1]))).iter_errors())\nfor e in errs: print(e.message)\nsys.exit(1 if errs else 0)\n";
    let out = std::process::Command::new(&python)
        .args(["-c", script])
        .arg(&file)
        .output()
        .expect("validator");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
