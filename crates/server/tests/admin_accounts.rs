//! In-process tests of accounts over the API (`/api/v1/admins`) and on `/admin` (set a
//! password, make an API token: shown once), the `/keys` page, and the `since` filter of
//! `/audit`: by role, with bad input named, CSRF refused, and no password or token in the
//! audit log.

mod common;

use axum::http::{Method, StatusCode};
use certmail_app::admin::{Actor, Role};
use certmail_testkit::LeafSpec;
use common::*;
use serde_json::json;

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {token}"))]
}

/// The secret a result page shows once.
fn secret_of(html: &str) -> String {
    let marker = "id=\"secret\">";
    let i = html
        .find(marker)
        .unwrap_or_else(|| panic!("no secret in {html}"))
        + marker.len();
    html[i..].split('<').next().unwrap_or_default().to_owned()
}

/// The whole audit log as JSON text (as the admin reads it over the API).
async fn audit_text(h: &H, auth: &[(&str, String)]) -> String {
    let r = h
        .call(Method::GET, "/api/v1/audit?limit=1000", auth, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.body
}

async fn names(h: &H, auth: &[(&str, String)]) -> Vec<String> {
    let r = h.call(Method::GET, "/api/v1/admins", auth, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    r.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|a| a["name"].as_str().expect("name").to_owned())
        .collect()
}

fn detail(r: &Reply) -> String {
    assert_eq!(
        r.headers["content-type"], "application/problem+json",
        "{}",
        r.body
    );
    r.json()["detail"].as_str().expect("detail").to_owned()
}

#[tokio::test]
async fn the_accounts_api_is_for_admins_and_answers_a_made_password_or_token_once() {
    let h = H::new().await;
    let boss = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("aud", Role::Auditor).await;

    // The list: administrators only, as `admin list --json`, never a hash.
    for who in [&ops, &aud] {
        let r = h.call(Method::GET, "/api/v1/admins", who, None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let r = h.call(Method::GET, "/api/v1/admins", &boss, None).await;
    assert_eq!(r.status, StatusCode::OK);
    let items = r.json()["items"].as_array().expect("items").clone();
    assert_eq!(items.len(), 3);
    let first = items
        .iter()
        .find(|a| a["name"] == "ops")
        .expect("ops listed");
    assert_eq!(first["role"], "operator");
    assert_eq!(first["has_password"], true);
    assert_eq!(first["tokens"], 1);
    assert!(first["created_at"].is_i64());
    assert!(
        !r.body.contains("argon") && !r.body.contains("hash"),
        "{}",
        r.body
    );

    // Add: refused below admin; without a password one is made and answered once.
    let body = json!({ "name": "newbie", "role": "operator" });
    for who in [&ops, &aud] {
        let r = h
            .call(Method::POST, "/api/v1/admins", who, Some(body.clone()))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    assert_eq!(names(&h, &boss).await.len(), 3);
    let r = h
        .call(Method::POST, "/api/v1/admins", &boss, Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let j = r.json();
    assert_eq!(j["name"], "newbie");
    assert_eq!(j["role"], "operator");
    let made = j["password"].as_str().expect("password made").to_owned();
    assert_eq!(made.len(), 20);
    let (cookie, _) = h.login("newbie", &made).await;
    let me = h
        .call(
            Method::GET,
            "/api/v1/me",
            &[("cookie", format!("certmail_session={cookie}"))],
            None,
        )
        .await;
    assert_eq!(me.json()["role"], "operator");
    // A given password is not echoed.
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(
                json!({ "name": "given", "role": "auditor", "password": "a fine given password" }),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.json().get("password").is_none(), "{}", r.body);
    assert!(!r.body.contains("a fine given password"));
    assert!(
        h.app
            .admin_login("given", "a fine given password", "test")
            .await
            .expect("login")
            .is_some()
    );

    // Bad input is named.
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(json!({ "name": "x1", "role": "wizard" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("wizard"), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(json!({ "name": "has space", "role": "auditor" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("has space"), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(json!({ "name": "weak", "role": "auditor", "password": "Short1" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("too short"), "{}", r.body);
    assert!(!r.body.contains("Short1"));
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(json!({ "name": "norole" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&r).contains("role"), "{}", r.body);
    let r = h
        .call(Method::POST, "/api/v1/admins", &boss, Some(body.clone()))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert!(detail(&r).contains("newbie"), "{}", r.body);
    let listed = names(&h, &boss).await;
    assert_eq!(listed.len(), 5, "{listed:?}");
    assert!(
        !listed
            .iter()
            .any(|n| n == "x1" || n == "weak" || n == "norole")
    );

    // Password: made when absent, answered once; the old one and the sessions end.
    let path = "/api/v1/admins/newbie/password";
    for who in [&ops, &aud] {
        let r = h.call(Method::PUT, path, who, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    assert!(
        h.app
            .admin_login("newbie", &made, "test")
            .await
            .expect("login")
            .is_some(),
        "a refused change changes nothing"
    );
    let r = h.call(Method::PUT, path, &boss, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["sessions_ended"], true);
    let made2 = j["password"].as_str().expect("password made").to_owned();
    assert_ne!(made2, made);
    let gone = h
        .call(
            Method::GET,
            "/api/v1/me",
            &[("cookie", format!("certmail_session={cookie}"))],
            None,
        )
        .await;
    assert_eq!(gone.status, StatusCode::UNAUTHORIZED, "{}", gone.body);
    assert!(
        h.app
            .admin_login("newbie", &made, "test")
            .await
            .expect("login")
            .is_none()
    );
    h.login("newbie", &made2).await;
    let r = h
        .call(
            Method::PUT,
            path,
            &boss,
            Some(json!({ "password": "aaaaaaaaaaaaaaaa" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("repeated"), "{}", r.body);
    let r = h
        .call(
            Method::PUT,
            path,
            &boss,
            Some(json!({ "password": "my own new password" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json().get("password").is_none(), "{}", r.body);
    h.login("newbie", "my own new password").await;
    let r = h
        .call(
            Method::PUT,
            "/api/v1/admins/ghost/password",
            &boss,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(detail(&r).contains("ghost"), "{}", r.body);

    // Tokens: answered once, they work, expiry checked.
    let path = "/api/v1/admins/newbie/tokens";
    for who in [&ops, &aud] {
        let r = h.call(Method::POST, path, who, Some(json!({}))).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    let r = h
        .call(
            Method::POST,
            path,
            &boss,
            Some(json!({ "expires_days": 0 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(detail(&r).contains("expires_days"), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            path,
            &boss,
            Some(json!({ "expires_days": "soon" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(detail(&r).contains("expires_days"), "{}", r.body);
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins/ghost/tokens",
            &boss,
            Some(json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = h
        .call(
            Method::POST,
            path,
            &boss,
            Some(json!({ "expires_days": 30 })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let j = r.json();
    assert_eq!(j["name"], "newbie");
    assert_eq!(j["expires_days"], 30);
    let token = j["token"].as_str().expect("token").to_owned();
    assert!(token.starts_with("cmt_"), "{token}");
    let me = h
        .call(Method::GET, "/api/v1/me", &bearer(&token), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["name"], "newbie");
    let r = h.call(Method::POST, path, &boss, Some(json!({}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert!(r.json()["expires_days"].is_null());
    let token2 = r.json()["token"].as_str().expect("token").to_owned();
    assert_ne!(token2, token);
    let listed = h.call(Method::GET, "/api/v1/admins", &boss, None).await;
    let newbie = listed.json()["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|a| a["name"] == "newbie")
        .cloned()
        .expect("newbie");
    assert_eq!(newbie["tokens"], 2);

    // Every change audited, with no password or token in it.
    let log = audit_text(&h, &boss).await;
    for action in ["\"account.add\"", "\"account.passwd\"", "\"account.token\""] {
        assert!(log.contains(action), "{action} not audited: {log}");
    }
    assert!(log.contains("unknown role"), "a refusal is audited: {log}");
    for secret in [
        made.as_str(),
        made2.as_str(),
        "a fine given password",
        "my own new password",
        "Short1",
        "aaaaaaaaaaaaaaaa",
        token.as_str(),
        token2.as_str(),
    ] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }
}

#[tokio::test]
async fn the_last_admin_cannot_be_deleted_and_deletion_is_for_admins() {
    let h = H::new().await;
    let boss = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("aud", Role::Auditor).await;

    for who in [&ops, &aud] {
        let r = h
            .call(Method::DELETE, "/api/v1/admins/aud", who, None)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    }
    // The last admin stays (the CLI's rule while other accounts exist).
    let r = h
        .call(Method::DELETE, "/api/v1/admins/boss", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(detail(&r).contains("last admin"), "{}", r.body);
    let r = h
        .call(Method::DELETE, "/api/v1/admins/nobody", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(detail(&r).contains("nobody"), "{}", r.body);

    // Deleting an account ends its tokens.
    let r = h
        .call(Method::DELETE, "/api/v1/admins/ops", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    let r = h.call(Method::GET, "/api/v1/me", &ops, None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = h
        .call(Method::DELETE, "/api/v1/admins/aud", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(names(&h, &boss).await, vec!["boss".to_owned()]);
    // Alone, the last admin stays too.
    let r = h
        .call(Method::DELETE, "/api/v1/admins/boss", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);

    // With a second admin, either may go.
    let r = h
        .call(
            Method::POST,
            "/api/v1/admins",
            &boss,
            Some(json!({ "name": "boss2", "role": "admin" })),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let r = h
        .call(Method::DELETE, "/api/v1/admins/boss2", &boss, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    assert_eq!(names(&h, &boss).await, vec!["boss".to_owned()]);

    let log = audit_text(&h, &boss).await;
    let deletes: Vec<serde_json::Value> = serde_json::from_str::<serde_json::Value>(&log)
        .expect("json")["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "account.delete")
        .cloned()
        .collect();
    // ops, aud, boss2 ok; boss twice and nobody failed.
    assert_eq!(
        deletes.iter().filter(|e| e["outcome"] == "ok").count(),
        3,
        "{deletes:?}"
    );
    assert_eq!(
        deletes.iter().filter(|e| e["outcome"] == "failed").count(),
        3,
        "{deletes:?}"
    );
}

#[tokio::test]
async fn the_admin_page_sets_passwords_and_makes_tokens_shown_once() {
    let h = H::new().await;
    let [(admin, a_csrf), (ops, o_csrf), (aud, _)] = sessions(&h).await;

    let page = h.page("/admin", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("action=\"/admin/password\"")
            && page.body.contains("action=\"/admin/token\"")
            && page.body.contains("name=\"password2\"")
            && page.body.contains("name=\"expires_days\""),
        "{}",
        page.body
    );
    let r = h.page("/admin", &ops).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);

    // Refused below admin, and with a stale CSRF token: nothing changes.
    let r = h
        .form(
            "/admin/password",
            &ops,
            &[
                ("csrf", &o_csrf),
                ("name", "aud"),
                ("password", ""),
                ("password2", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", "stale"),
                ("name", "aud"),
                ("password", ""),
                ("password2", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("CSRF"), "{}", r.body);
    let r = h
        .form(
            "/admin/token",
            &admin,
            &[("name", "aud"), ("expires_days", "")],
        )
        .await;
    assert!(r.status.is_client_error(), "{}", r.status);
    let r = h
        .form(
            "/admin/token",
            &admin,
            &[("csrf", "stale"), ("name", "aud"), ("expires_days", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            "/admin/token",
            &ops,
            &[("csrf", &o_csrf), ("name", "ops"), ("expires_days", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(h.app.admin_get("aud").await.expect("aud").tokens, 0);
    assert_eq!(h.app.admin_get("ops").await.expect("ops").tokens, 0);
    assert_eq!(
        h.page("/", &aud).await.status,
        StatusCode::OK,
        "aud still in"
    );

    // Bad input is named.
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", &a_csrf),
                ("name", "aud"),
                ("password", "one long password"),
                ("password2", "another long password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("differ"), "{}", r.body);
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", &a_csrf),
                ("name", "aud"),
                ("password", "tiny5pw"),
                ("password2", "tiny5pw"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("too short"), "{}", r.body);
    let r = h
        .form(
            "/admin/token",
            &admin,
            &[("csrf", &a_csrf), ("name", "aud"), ("expires_days", "lots")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("lots"), "{}", r.body);
    let r = h
        .form(
            "/admin/token",
            &admin,
            &[("csrf", &a_csrf), ("name", "ghost"), ("expires_days", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("ghost"), "{}", r.body);
    assert_eq!(
        h.page("/", &aud).await.status,
        StatusCode::OK,
        "aud still in"
    );

    // Both empty: a password is made and shown on the answer itself, not a redirect; the
    // account's sessions end and the made password logs in.
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", &a_csrf),
                ("name", "aud"),
                ("password", ""),
                ("password2", ""),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.location().is_empty());
    assert_eq!(r.headers["cache-control"], "no-store");
    let made = secret_of(&r.body);
    assert_eq!(made.len(), 20, "{made}");
    let r = h.page("/", &aud).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the session has ended");
    assert_eq!(r.location(), "/login");
    assert!(
        h.app
            .admin_login("aud", PW, "test")
            .await
            .expect("login")
            .is_none()
    );
    h.login("aud", &made).await;
    // The admin page never shows it again.
    let page = h.page("/admin", &admin).await;
    assert!(!page.body.contains(&made));

    // A given password (twice) is set and not shown.
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", &a_csrf),
                ("name", "ops"),
                ("password", "operators new password"),
                ("password2", "operators new password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("id=\"secret\""), "{}", r.body);
    assert!(!r.body.contains("operators new password"));
    h.login("ops", "operators new password").await;

    // A token, shown once, acts as the account.
    let r = h
        .form(
            "/admin/token",
            &admin,
            &[("csrf", &a_csrf), ("name", "aud"), ("expires_days", "7")],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.location().is_empty());
    assert!(r.body.contains("7 days"), "{}", r.body);
    let token = secret_of(&r.body);
    assert!(token.starts_with("cmt_"), "{token}");
    let me = h
        .call(Method::GET, "/api/v1/me", &bearer(&token), None)
        .await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.body);
    assert_eq!(me.json()["name"], "aud");
    assert_eq!(me.json()["role"], "auditor");
    assert_eq!(h.app.admin_get("aud").await.expect("aud").tokens, 1);

    // Neither the password nor the token is in the audit log.
    let log = audit_text(&h, &bearer(&token)).await;
    for action in ["\"account.passwd\"", "\"account.token\""] {
        assert!(log.contains(action), "{action} not audited: {log}");
    }
    for secret in [
        made.as_str(),
        token.as_str(),
        "operators new password",
        "tiny5pw",
        "one long password",
    ] {
        assert!(!log.contains(secret), "{secret} in the audit log");
    }

    // The admin's own password: set, and the admin's session ends.
    let r = h
        .form(
            "/admin/password",
            &admin,
            &[
                ("csrf", &a_csrf),
                ("name", "boss"),
                ("password", "the bosses new password"),
                ("password2", "the bosses new password"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(h.page("/admin", &admin).await.status, StatusCode::SEE_OTHER);
    h.login("boss", "the bosses new password").await;
}

#[tokio::test]
async fn the_keys_page_lists_keys_and_operators_delete_them() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    let [(admin, _), (ops, o_csrf), (aud, u_csrf)] = sessions(&h).await;
    // A key no certificate uses.
    let lone = pki.leaf(&LeafSpec::email("lone@example.com", 300));
    h.app
        .import_bytes(lone.key_pem.as_bytes(), &Default::default())
        .await
        .expect("key");
    let keys = h.app.keys().await.expect("keys");
    assert_eq!(keys.len(), 2);
    let used = keys
        .iter()
        .find(|k| !k.certificates.is_empty())
        .expect("alice's key")
        .clone();
    let unused = keys
        .iter()
        .find(|k| k.certificates.is_empty())
        .expect("lone key")
        .clone();

    // Anyone reads; the navigation links the page; no key material, no form for auditors.
    let page = h.page("/keys", &aud).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("href=\"/keys\""));
    assert!(page.body.contains(&used.key_id) && page.body.contains(&unused.key_id));
    assert!(page.body.contains(&used.algorithm), "{}", page.body);
    assert!(
        page.body
            .contains(&format!("href=\"/certificates/{}\"", used.certificates[0])),
        "{}",
        page.body
    );
    assert!(!page.body.contains("PRIVATE KEY"));
    assert!(!page.body.contains("action=\"/keys/delete\""));
    let page = h.page("/keys", &ops).await;
    assert!(page.body.contains("action=\"/keys/delete\""));
    assert!(page.body.contains("name=\"force\""));
    assert_eq!(h.page("/keys", &admin).await.status, StatusCode::OK);

    // The auditor may not delete; a stale CSRF token is refused.
    let r = h
        .form(
            "/keys/delete",
            &aud,
            &[("csrf", &u_csrf), ("key_id", &unused.key_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            "/keys/delete",
            &ops,
            &[("csrf", "stale"), ("key_id", &unused.key_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(h.app.keys().await.expect("keys").len(), 2);

    // A key in use is refused without "force", naming its certificate.
    let r = h
        .form(
            "/keys/delete",
            &ops,
            &[("csrf", &o_csrf), ("key_id", &used.key_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
    assert!(r.body.contains(&used.certificates[0][..16]), "{}", r.body);
    assert_eq!(h.app.keys().await.expect("keys").len(), 2);
    let r = h
        .form(
            "/keys/delete",
            &ops,
            &[("csrf", &o_csrf), ("key_id", "00ff00ff")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // The unused key goes without force; the used one with it.
    let r = h
        .form(
            "/keys/delete",
            &ops,
            &[("csrf", &o_csrf), ("key_id", &unused.key_id)],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/keys?note="), "{}", r.location());
    let r = h
        .form(
            "/keys/delete",
            &ops,
            &[
                ("csrf", &o_csrf),
                ("key_id", &used.key_id),
                ("force", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(h.app.keys().await.expect("keys").is_empty());
    let page = h.page("/keys", &ops).await;
    assert!(page.body.contains("No private key stored"), "{}", page.body);
    // The certificate stays, without its key.
    let cert = h
        .page(&format!("/certificates/{}", used.certificates[0]), &aud)
        .await;
    assert_eq!(cert.status, StatusCode::OK);

    let log = h
        .call(
            Method::GET,
            "/api/v1/audit?action=key.delete",
            &h.token("eye", Role::Auditor).await,
            None,
        )
        .await
        .json();
    let outcomes: Vec<&str> = log["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["outcome"].as_str().expect("outcome"))
        .collect();
    assert_eq!(outcomes, vec!["ok", "ok", "failed", "failed"], "{log}");
}

#[tokio::test]
async fn the_audit_page_filters_since_and_keeps_every_filter_in_the_older_link() {
    let h = H::new().await;
    let [_, _, (aud, _)] = sessions(&h).await;
    let who = Actor {
        name: "robot".into(),
        role: Role::Operator,
        address: "local".into(),
    };
    for i in 0..105 {
        h.app
            .audit(&who, "test.step", &format!("step-{i}"), Ok(()), "")
            .await
            .expect("audit");
    }

    let page = h.page("/audit", &aud).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("name=\"since\""), "{}", page.body);

    // The older link carries since, account and action.
    let page = h
        .page("/audit?since=7d&account=robot&action=test.", &aud)
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("value=\"7d\""), "{}", page.body);
    assert!(page.body.contains("step-104") && !page.body.contains("step-4<"));
    let i = page.body.find("/audit?since=").expect("older link");
    let link = page.body[i..]
        .split('"')
        .next()
        .expect("href")
        .replace("&#38;", "&");
    assert!(
        link.starts_with("/audit?since=7d&account=robot&action=test.&before="),
        "{link}"
    );
    let older = h.page(&link, &aud).await;
    assert_eq!(older.status, StatusCode::OK);
    assert!(older.body.contains("step-4<") && !older.body.contains("step-104"));
    assert!(older.body.contains("value=\"7d\""));
    assert!(!older.body.contains("/audit?since="), "the last page");

    // A date, and a time in the future: nothing since then.
    let page = h.page("/audit?since=2020-01-01&action=test.", &aud).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("step-104"));
    let page = h
        .page("/audit?since=2999-01-01T00:00:00Z&action=test.", &aud)
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains("step-"), "{}", page.body);

    // A bad value is named.
    let page = h.page("/audit?since=yesterday", &aud).await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    assert!(page.body.contains("yesterday"), "{}", page.body);
}
