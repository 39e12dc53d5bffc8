//! In-process tests of the admin pages added after the first round: the CA page's pending
//! requests (CSR download, reschedule, upload), configuration and send form; the
//! directories page; the certificate chooser of the settings pages; keyset (cursor) paging
//! of the certificate list; and error pages that keep the navigation.

mod common;

use std::sync::Arc;

use axum::http::{Method, StatusCode, header};
use certmail_app::admin::Role;
use certmail_app::ca::RequestHandler;
use common::*;

/// A pending request of the csr handler for `email`; its id.
async fn pending(h: &H, email: &str) -> i64 {
    let req = h
        .app
        .ca_end_user_request(&certmail_app::ca::IssueParams {
            email: email.into(),
            cn: Some("Pending Person".into()),
            ..Default::default()
        })
        .await
        .expect("request");
    match certmail_app::ca::CsrHandler
        .submit(&h.app, "", &req)
        .await
        .expect("submit")
    {
        certmail_app::ca::HandlerOutcome::Pending(id) => id,
        _ => panic!("the csr handler queues"),
    }
}

#[tokio::test]
async fn the_ca_page_handles_pending_requests_and_the_configuration_by_role() {
    let h = H::new().await;
    let [(admin, a_csrf), (ops, o_csrf), (aud, u_csrf)] = sessions(&h).await;
    let ca = h.p256_ca("Page Root", "Page CA").await;
    let id = pending(&h, "dee@example.com").await;

    // The pending request is listed with its CSR to download (for anyone) and, for
    // operators, reschedule and delete; the upload form is there for operators only.
    let page = h.page("/ca", &aud).await;
    assert_eq!(page.status, StatusCode::OK);
    let csr_link = format!("/api/v1/ca/pending/{id}/csr");
    assert!(page.body.contains(&csr_link), "{}", page.body);
    assert!(!page.body.contains("/ca/pending/reschedule") && !page.body.contains("id=\"upload\""));
    let csr = h.page(&csr_link, &aud).await;
    assert_eq!(csr.status, StatusCode::OK, "{}", csr.body);
    assert!(csr.body.starts_with("-----BEGIN CERTIFICATE REQUEST-----"));
    assert!(
        csr.headers[header::CONTENT_DISPOSITION]
            .to_str()
            .expect("ascii")
            .contains(&format!("request-{id}.csr"))
    );
    let page = h.page("/ca", &ops).await;
    assert!(page.body.contains("/ca/pending/reschedule") && page.body.contains("id=\"upload\""));

    // Reschedule: the auditor is refused, a bad number is named, minutes move the attempt.
    let ids = id.to_string();
    let r = h
        .form(
            "/ca/pending/reschedule",
            &aud,
            &[("csrf", &u_csrf), ("id", &ids), ("minutes", "5")],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .form(
            "/ca/pending/reschedule",
            &ops,
            &[("csrf", &o_csrf), ("id", &ids), ("minutes", "soon")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("soon"), "{}", r.body);
    let r = h
        .form(
            "/ca/pending/reschedule",
            &ops,
            &[("csrf", &o_csrf), ("id", &ids), ("minutes", "120")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let next = h
        .app
        .ca_pending_get(id)
        .await
        .expect("pending")
        .next_attempt;
    assert!(next >= certmail_app::now() + 7100, "{next}");
    assert!(
        h.page(r.location(), &ops)
            .await
            .body
            .contains("is tried next at")
    );
    let r = h
        .form(
            "/ca/pending/reschedule",
            &ops,
            &[("csrf", &o_csrf), ("id", "4242"), ("minutes", "")],
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // Upload: a stale token is refused, a file that is no certificate is named, a
    // certificate for another key is refused, the right one completes the request.
    let csr_der = h.app.ca_pending_get(id).await.expect("pending").csr;
    let issued = h
        .app
        .ca_sign_csr(&ca.name, &csr_der, None, 30, "test")
        .await
        .expect("signed");
    let pem = certmail_pki::pem::encode("CERTIFICATE", &issued.cert.der);
    let r = h
        .multipart_form(
            "/ca/pending/upload",
            &ops,
            &[
                ("csrf", None, b"stale"),
                ("certificate", Some("c.pem"), pem.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = h
        .multipart_form(
            "/ca/pending/upload",
            &ops,
            &[
                ("csrf", None, o_csrf.as_bytes()),
                ("certificate", Some("c.pem"), b"garbage"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = h
        .multipart_form(
            "/ca/pending/upload",
            &aud,
            &[
                ("csrf", None, u_csrf.as_bytes()),
                ("certificate", Some("c.pem"), pem.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        h.app.ca_pending_get(id).await.is_ok(),
        "a refused upload leaves the request"
    );
    let r = h
        .multipart_form(
            "/ca/pending/upload",
            &ops,
            &[
                ("csrf", None, o_csrf.as_bytes()),
                ("certificate", Some("c.pem"), pem.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &ops).await;
    assert!(
        page.body
            .contains(&format!("pending request {id} completed")),
        "{}",
        page.body
    );
    assert!(
        h.app.ca_pending_get(id).await.is_err(),
        "the request left the queue"
    );

    // Configuration: shown to all, changed by the admin only, a bad value named and
    // nothing changed.
    let page = h.page("/ca", &ops).await;
    assert!(page.body.contains("validity-days") && !page.body.contains("action=\"/ca/config\""));
    let set = async |cookie: &str, csrf: &str, value: &str| {
        h.form(
            "/ca/config",
            cookie,
            &[("csrf", csrf), ("key", "validity-days"), ("value", value)],
        )
        .await
    };
    assert_eq!(
        set(&ops, &o_csrf, "100").await.status,
        StatusCode::FORBIDDEN
    );
    let r = set(&admin, &a_csrf, "forever").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("validity-days is 1 to 3650"), "{}", r.body);
    assert_eq!(h.app.ca_config().await.expect("cfg").validity_days, 730);
    let r = set(&admin, &a_csrf, "100").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(h.app.ca_config().await.expect("cfg").validity_days, 100);
    let page = h.page("/ca", &admin).await;
    assert!(page.body.contains("action=\"/ca/config\"") && page.body.contains("value=\"100\""));

    let audit = h.page("/api/v1/audit?limit=100", &aud).await.body;
    for a in ["ca.pending.reschedule", "ca.pending.upload", "ca.config"] {
        assert!(audit.contains(a), "{a} not audited: {audit}");
    }
}

#[tokio::test]
async fn the_send_form_needs_an_operator_names_bad_input_and_reports_a_missing_next_hop() {
    let h = H::new().await;
    h.load_pki().await;
    let [_, (ops, o_csrf), (aud, u_csrf)] = sessions(&h).await;
    let sha = h.sha_of("alice@example.com").await;

    // The certificate's page offers "send by mail" where a key is stored, prefilled.
    let page = h.page(&format!("/certificates/{sha}"), &ops).await;
    assert!(
        page.body.contains(&format!("/ca?send={sha}#send")),
        "{}",
        page.body
    );
    let page = h.page(&format!("/ca?send={sha}"), &ops).await;
    assert!(
        page.body.contains(&format!(">{sha}</textarea>")),
        "{}",
        page.body
    );
    assert!(
        !h.page("/ca", &aud)
            .await
            .body
            .contains("action=\"/ca/send\"")
    );

    let form = async |cookie: &str, csrf: &str, thumbs: &str, way: &str| {
        h.form(
            "/ca/send",
            cookie,
            &[
                ("csrf", csrf),
                ("thumbprints", thumbs),
                ("to", "alice@example.com"),
                ("password_to", way),
                ("sender", ""),
            ],
        )
        .await
    };
    assert_eq!(
        form(&aud, &u_csrf, &sha, "admin").await.status,
        StatusCode::FORBIDDEN
    );
    let r = form(&ops, &o_csrf, "  ", "admin").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("at least one certificate"), "{}", r.body);
    let r = form(&ops, &o_csrf, &sha, "pigeon").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("pigeon"), "{}", r.body);
    let r = form(&ops, &o_csrf, &sha, "sender").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("needs sender"), "{}", r.body);
    // No gateway behind this server: said plainly, with the navigation kept.
    let r = form(&ops, &o_csrf, &sha, "admin").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(
        r.body.contains("no next hop") && r.body.contains("Log out"),
        "{}",
        r.body
    );
    // With a next hop that is down: the CA has no sender address yet, which is named.
    h.server
        .set_relay(Arc::new(certmail_gateway::relay::Relay::new(
            "127.0.0.1:9",
            "pages.test",
            std::time::Duration::from_secs(2),
            std::time::Duration::from_secs(2),
        )));
    let r = form(&ops, &o_csrf, &sha, "admin").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("ca-email"), "{}", r.body);
    h.app
        .ca_config_set("ca-email", "ca@example.com")
        .await
        .expect("ca-email");
    let r = form(&ops, &o_csrf, &sha, "admin").await;
    assert_eq!(r.status, StatusCode::BAD_GATEWAY, "{}", r.body);
    assert!(r.body.contains("Log out"), "{}", r.body);
    let audit = h.page("/api/v1/audit?limit=100", &aud).await.body;
    assert!(
        audit.contains("ca.send") && audit.contains("not sent"),
        "{audit}"
    );
}

#[tokio::test]
async fn the_directories_page_by_role_never_shows_the_password() {
    let h = H::new().await;
    let [(admin, a_csrf), (ops, o_csrf), (aud, _)] = sessions(&h).await;
    let page = h.page("/directories", &aud).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("No directory yet") && !page.body.contains("id=\"add\""));
    let add = [
        ("name", "corp"),
        ("url", "ldap://127.0.0.1:9"),
        ("base", "dc=example,dc=com"),
        ("bind_dn", "cn=reader,dc=example,dc=com"),
        ("bind_password", "s3cret-bind-pw"),
        ("filter", ""),
        ("timeout_ms", "500"),
        ("cache_ttl", ""),
    ];
    let mut f = vec![("csrf", o_csrf.as_str())];
    f.extend_from_slice(&add);
    assert_eq!(
        h.form("/directories", &ops, &f).await.status,
        StatusCode::FORBIDDEN
    );
    let mut f = vec![("csrf", a_csrf.as_str())];
    f.extend_from_slice(&add);
    f[1] = ("name", "bad name!");
    let r = h.form("/directories", &admin, &f).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    f[1] = ("name", "corp");
    f[7] = ("timeout_ms", "never");
    let r = h.form("/directories", &admin, &f).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("never"), "{}", r.body);
    f[7] = ("timeout_ms", "500");
    let r = h.form("/directories", &admin, &f).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h.page(r.location(), &admin).await;
    assert!(
        page.body.contains("added directory corp")
            && page.body.contains("ldap://127.0.0.1:9")
            && page.body.contains("password stored, sealed"),
        "{}",
        page.body
    );
    for who in [&admin, &ops, &aud] {
        assert!(
            !h.page("/directories", who)
                .await
                .body
                .contains("s3cret-bind-pw")
        );
    }
    assert!(
        !h.page("/api/v1/audit?limit=100", &aud)
            .await
            .body
            .contains("s3cret-bind-pw")
    );

    // A look-up (operators) against a directory that is down: the answer says so.
    h.app
        .set_directory_client(Arc::new(certmail_jobs::ldap::LdapClient::default()));
    let r = h
        .form(
            "/directories/lookup",
            &ops,
            &[
                ("csrf", &o_csrf),
                ("email", "zoe@example.com"),
                ("refresh", "true"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(
        r.body.contains("Answers for zoe@example.com") && r.body.contains("lookup-failed"),
        "{}",
        r.body
    );

    // Delete: the admin's.
    assert_eq!(
        h.form(
            "/directories/delete",
            &ops,
            &[("csrf", &o_csrf), ("name", "corp")]
        )
        .await
        .status,
        StatusCode::FORBIDDEN
    );
    let r = h
        .form(
            "/directories/delete",
            &admin,
            &[("csrf", &a_csrf), ("name", "corp")],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        h.page("/directories", &aud)
            .await
            .body
            .contains("No directory yet")
    );
}

#[tokio::test]
async fn the_chooser_filters_by_address_expiry_and_key_and_selects() {
    let h = H::new().await;
    h.load_pki().await;
    let [_, (ops, o_csrf), (aud, _)] = sessions(&h).await;
    let alice = h.sha_of("alice@example.com").await;
    let bob = h.sha_of("bob@example.com").await;

    // An auditor sees no chooser.
    assert!(
        !h.page("/users/alice@example.com", &aud)
            .await
            .body
            .contains("id=\"chooser\"")
    );
    // By default a user's own address is the filter: alice's certificate, not bob's.
    let page = h.page("/users/alice@example.com", &ops).await.body;
    assert!(
        page.contains("id=\"chooser\"") && page.contains("value=\"alice@example.com\""),
        "{page}"
    );
    let chooser = &page[page.find("id=\"chooser\"").expect("chooser")..];
    assert!(
        chooser.contains(&alice[..16]) && !chooser.contains(&bob[..16]),
        "{chooser}"
    );
    // No filter: everyone unexpired (old@ expired in 2021 is left out) ...
    let page = h
        .page("/users/alice@example.com?chooser=1&kind=encryption&filter_by=&expired=unexpired&missing_key=true", &ops)
        .await
        .body;
    let chooser = &page[page.find("id=\"chooser\"").expect("chooser")..];
    assert!(
        chooser.contains(&bob[..16]) && !chooser.contains("old@example.com"),
        "{chooser}"
    );
    // ... expired only ...
    let page = h
        .page("/users/alice@example.com?chooser=1&kind=encryption&filter_by=&expired=expired&missing_key=true", &ops)
        .await
        .body;
    let chooser = &page[page.find("id=\"chooser\"").expect("chooser")..];
    assert!(
        chooser.contains("old@example.com") && !chooser.contains(&bob[..16]),
        "{chooser}"
    );
    // ... and without "allow missing key" only alice's (the one with a key) is left.
    let page = h
        .page(
            "/users/alice@example.com?chooser=1&kind=signing&filter_by=example.com&expired=all",
            &ops,
        )
        .await
        .body;
    let chooser = &page[page.find("id=\"chooser\"").expect("chooser")..];
    assert!(
        chooser.contains(&alice[..16]) && !chooser.contains(&bob[..16]),
        "{chooser}"
    );
    let r = h
        .page("/users/alice@example.com?chooser=1&kind=stolen", &ops)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("stolen"), "{}", r.body);

    // Selecting from the chooser: bob's certificate as an additional one for the domain.
    let page = h
        .page("/domains/example.com?chooser=1&kind=additional&filter_by=bob%40example.com&expired=all&missing_key=true", &ops)
        .await
        .body;
    assert!(page.contains("Select for additional"), "{page}");
    let r = h
        .form(
            "/domains/example.com/select",
            &ops,
            &[
                ("csrf", &o_csrf),
                ("op", "add"),
                ("kind", "additional"),
                ("sha256", &bob),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    let page = h
        .page("/domains/example.com?chooser=1&kind=additional&filter_by=bob%40example.com&expired=all&missing_key=true", &ops)
        .await
        .body;
    let chooser = &page[page.find("id=\"chooser\"").expect("chooser")..];
    assert!(
        chooser.contains(">selected<") && !chooser.contains("Select for additional"),
        "{chooser}"
    );
}

#[tokio::test]
async fn cursor_paging_visits_every_certificate_once_and_refuses_bad_cursors() {
    let h = H::new().await;
    h.load_pki().await;
    let [_, (ops, _), _] = sessions(&h).await;
    let api = h.token("reader", Role::Auditor).await;
    let all = h
        .call(Method::GET, "/api/v1/certificates?limit=500", &api, None)
        .await
        .json();
    let total = all["items"].as_array().expect("items").len();
    assert!(total >= 5, "{all}");

    let mut seen = Vec::new();
    let mut path = "/api/v1/certificates?limit=2".to_owned();
    loop {
        let page = h.call(Method::GET, &path, &api, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let j = page.json();
        for i in j["items"].as_array().expect("items") {
            seen.push(i["sha256"].as_str().expect("sha256").to_owned());
        }
        match j["next_cursor"].as_str() {
            Some(c) => {
                assert!(
                    j["next_offset"].is_null() || !path.contains("cursor="),
                    "{j}"
                );
                path = format!("/api/v1/certificates?limit=2&cursor={c}");
            }
            None => break,
        }
        assert!(seen.len() <= total, "paging does not end: {seen:?}");
    }
    let expected: Vec<String> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["sha256"].as_str().expect("sha256").to_owned())
        .collect();
    assert_eq!(
        seen, expected,
        "the same rows in the same order as one big page"
    );

    for bad in ["cursor=xyz", "cursor=c-5", "cursor=c3&offset=2"] {
        let r = h
            .call(
                Method::GET,
                &format!("/api/v1/certificates?{bad}"),
                &api,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    }

    // The page's "next" goes by cursor and a cursor page leads back to the first page.
    let page = h.page("/certificates?limit=2", &ops).await.body;
    let i = page.find("cursor=c").expect("a cursor link");
    let link_start = page[..i].rfind("href=\"").expect("href") + 6;
    let link = page[link_start..]
        .split('"')
        .next()
        .expect("link")
        .replace("&amp;", "&")
        .replace("&#38;", "&");
    let next = h.page(&link, &ops).await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.body);
    assert!(next.body.contains("first page"), "{}", next.body);
}

#[tokio::test]
async fn error_pages_keep_the_navigation_for_a_logged_in_caller() {
    let h = H::new().await;
    let [_, (ops, _), _] = sessions(&h).await;
    // Refused: the page says why and still has the header to go on from.
    let r = h.page("/admin", &ops).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("operator role may not")
            && r.body.contains("href=\"/certificates\"")
            && r.body.contains("Log out"),
        "{}",
        r.body
    );
    assert!(r.headers.contains_key(header::CONTENT_SECURITY_POLICY));
    // A path that names nothing: a 404 page with the header, problem+json under /api/.
    let r = h.page("/no/such/page", &ops).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(
        r.body.contains("/no/such/page") && r.body.contains("Log out"),
        "{}",
        r.body
    );
    let r = h.page("/api/v1/no-such-thing", &ops).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    // Without a session the error page has no header (nothing to navigate to).
    let r = h.call(Method::GET, "/no/such/page", &[], None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(!r.body.contains("Log out"), "{}", r.body);
    // An unknown certificate: 404 with the header.
    let r = h.page("/certificates/00", &ops).await;
    assert!(r.status.is_client_error(), "{}", r.status);
    assert!(r.body.contains("Log out"), "{}", r.body);
}

#[tokio::test]
async fn the_audit_api_takes_since_as_unix_seconds_a_date_or_days_ago() {
    let h = H::new().await;
    let aud = h.token("aud", Role::Auditor).await;
    let admin = h.token("boss", Role::Admin).await;
    let r = h
        .call(
            Method::PUT,
            "/api/v1/global/settings/sign",
            &admin,
            Some(serde_json::json!({"value": "on"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let count = |r: &Reply| r.json()["items"].as_array().map_or(0, Vec::len);
    let all = h.call(Method::GET, "/api/v1/audit", &aud, None).await;
    assert!(count(&all) >= 1, "{}", all.body);
    let future = certmail_app::now() + 86_400;
    for (since, expect_all) in [
        ("7d".to_owned(), true),
        ("2020-01-01".to_owned(), true),
        ((certmail_app::now() - 3600).to_string(), true),
        (future.to_string(), false),
    ] {
        let r = h
            .call(
                Method::GET,
                &format!("/api/v1/audit?since={since}"),
                &aud,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{since}: {}", r.body);
        if expect_all {
            assert_eq!(count(&r), count(&all), "{since}");
        } else {
            assert_eq!(count(&r), 0, "{since}: {}", r.body);
        }
    }
    let r = h
        .call(Method::GET, "/api/v1/audit?since=yesterday", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("yesterday"), "{}", r.body);
}
