//! The CA and CRL commands that came to the API last (`crl import`, `crl show`, `ca import`,
//! `ca default`, `ca request`, `ca sign-csr`, `ca bulk`, `ca renew`, `ca refresh`): roles,
//! bad input named, and real outcomes.

mod common;

use axum::http::{Method, StatusCode};
use certmail_app::ImportOptions;
use certmail_app::admin::Role;
use common::*;

#[tokio::test]
async fn crls_are_imported_and_shown_with_their_entries() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("aud", Role::Auditor).await;
    let now = certmail_app::now();
    let crl = pki.crl([100, 7], 3, now - 60, now + 86_400);
    let pem = certmail_pki::pem::encode("X509 CRL", &crl);

    let r = h
        .raw("/api/v1/crls", &aud, "application/pkix-crl", crl.clone())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .raw(
            "/api/v1/crls",
            &ops,
            "application/pkix-crl",
            b"not a CRL".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("the upload"), "{}", r.body);
    assert_eq!(
        h.call(Method::GET, "/api/v1/crls", &aud, None).await.json()["items"],
        serde_json::json!([])
    );
    let r = h
        .raw(
            "/api/v1/crls",
            &ops,
            "application/pkix-crl",
            pem.into_bytes(),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let item = &r.json()["items"][0];
    assert_eq!(item["status"], "current", "{item}");
    assert_eq!(item["number"], "03", "{item}");
    let sha = item["sha256"].as_str().expect("sha256").to_owned();

    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/crls/{}", &sha[..12]),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(v["revoked_total"], 2, "{v}");
    let serials: Vec<&str> = v["revoked"]
        .as_array()
        .expect("revoked")
        .iter()
        .map(|e| e["serial"].as_str().expect("serial"))
        .collect();
    assert!(
        serials[0].ends_with("07") && serials[1].ends_with("64"),
        "{serials:?}"
    );
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/crls/{sha}?limit=1"),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.json()["revoked"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.json()["revoked_total"], 2);
    assert_eq!(r.json()["next_offset"], 1);
    // The next page, and the cap: a huge limit gives at most 10,000 (issue 25: 100,000,000
    // on a 2,000,000-entry CRL returned 64 MB).
    let r = h
        .call(
            Method::GET,
            &format!("/api/v1/crls/{sha}?limit=100000000&offset=1"),
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let page: Vec<String> = r.json()["revoked"]
        .as_array()
        .expect("revoked")
        .iter()
        .map(|e| e["serial"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(page.len(), 1);
    assert!(page[0].ends_with("64"), "{page:?}");
    assert!(r.json()["next_offset"].is_null());
    let r = h
        .call(Method::GET, "/api/v1/crls/ffffffff", &aud, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let audit = h
        .call(Method::GET, "/api/v1/audit?limit=50", &aud, None)
        .await
        .body;
    assert!(audit.contains("crl.import"), "{audit}");
}

#[tokio::test]
async fn a_ca_is_imported_made_the_default_and_issues_through_the_handlers() {
    let h = H::new().await;
    let pki = h.load_pki().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let cert = pki.intermediate.pem.as_bytes();
    let key = pki.intermediate.key_pem.as_bytes();

    // Import: the admin's; a key of another certificate and a bad hash are named.
    let r = h
        .parts(
            "/api/v1/cas/import",
            &ops,
            &[("cert", Some("ca.pem"), cert), ("key", Some("ca.key"), key)],
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let other = pki.leaf(&certmail_testkit::LeafSpec::email("x@example.com", 77));
    let r = h
        .parts(
            "/api/v1/cas/import",
            &admin,
            &[
                ("cert", Some("ca.pem"), cert),
                ("key", Some("x.key"), other.key_pem.as_bytes()),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(
        r.body
            .contains("no certificate in the file matches the key"),
        "{}",
        r.body
    );
    let r = h
        .parts(
            "/api/v1/cas/import",
            &admin,
            &[
                ("cert", Some("ca.pem"), cert),
                ("key", Some("ca.key"), key),
                ("sig", None, b"md5"),
            ],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("md5"), "{}", r.body);
    assert_eq!(
        h.call(Method::GET, "/api/v1/cas", &admin, None)
            .await
            .json()["items"],
        serde_json::json!([])
    );
    let r = h
        .parts(
            "/api/v1/cas/import",
            &admin,
            &[("cert", Some("ca.pem"), cert), ("key", Some("ca.key"), key)],
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let ca = r.json();
    let name = ca["name"].as_str().expect("name").to_owned();
    assert_eq!(ca["is_default"], true, "the first CA is the default: {ca}");

    // The default CA: the admin's; an unknown CA is a 404; one default at a time.
    let r = h
        .call(
            Method::POST,
            "/api/v1/cas",
            &admin,
            Some(serde_json::json!({"root_cn": "Other Root", "intermediate_cn": "Other CA", "key": "p256"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    assert_eq!(r.json()["is_default"], false);
    let other_path = format!("/api/v1/cas/{}/default", r.json()["id"]);
    assert_eq!(
        h.call(Method::PUT, &other_path, &ops, None).await.status,
        StatusCode::FORBIDDEN
    );
    let r = h.call(Method::PUT, &other_path, &admin, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["is_default"], true);
    assert_eq!(r.json()["name"], "Other CA");
    let cas = h
        .call(Method::GET, "/api/v1/cas", &admin, None)
        .await
        .json();
    let defaults: Vec<_> = cas["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|c| c["is_default"] == true)
        .collect();
    assert_eq!(defaults.len(), 1, "{cas}");
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/cas/{}/default", ca["id"]),
            &admin,
            None,
        )
        .await;
    assert_eq!(r.json()["name"], name.as_str());
    let r = h
        .call(Method::PUT, "/api/v1/cas/nosuchca/default", &admin, None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);

    // A request through the built-in handler is issued by the default CA (201), through the
    // csr handler it waits in the queue (202); a bad handler is named.
    let body = |handler: &str, email: &str| serde_json::json!({"handler": handler, "email": email, "cn": "Req Person", "key": "p256"});
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/request",
            &ops,
            Some(body("built-in", "req@example.com")),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let issued = r.json()["sha256"].as_str().expect("sha256").to_owned();
    let detail = h
        .call(
            Method::GET,
            &format!("/api/v1/certificates/{issued}"),
            &ops,
            None,
        )
        .await
        .json();
    assert_eq!(detail["status"], "valid", "{detail}");
    assert!(
        detail["issuer"]
            .as_str()
            .unwrap_or_default()
            .contains(&name),
        "{detail}"
    );
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/request",
            &ops,
            Some(body("csr", "queue@example.com")),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{}", r.body);
    let id = r.json()["pending"].as_i64().expect("pending id");
    let r = h
        .call(
            Method::POST,
            "/api/v1/ca/request",
            &ops,
            Some(body("fax", "x@example.com")),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("fax"), "{}", r.body);

    // The queued request's CSR, signed through sign-csr; garbage is named.
    let csr = h.app.ca_pending_get(id).await.expect("pending").csr;
    let r = h
        .raw(
            "/api/v1/ca/sign-csr?days=30",
            &ops,
            "application/pkcs10",
            b"no csr".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = h
        .raw(
            "/api/v1/ca/sign-csr?days=30",
            &ops,
            "application/pkcs10",
            csr,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let signed = r.json();
    assert!(
        signed["pem"]
            .as_str()
            .expect("pem")
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(
        signed["subject"]
            .as_str()
            .expect("subject")
            .contains("queue@example.com"),
        "{signed}"
    );

    // Renew the issued certificate: a new one for the same address; a certificate no
    // certmail CA issued is refused with the reason.
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/ca/renew/{issued}"),
            &ops,
            Some(serde_json::json!({"days": 90})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let renewed = r.json();
    assert_ne!(renewed["sha256"], issued.as_str());
    assert!(
        renewed["subject"]
            .as_str()
            .expect("subject")
            .contains("req@example.com")
    );
    let alice = h
        .call(
            Method::GET,
            "/api/v1/certificates?email=alice@example.com",
            &ops,
            None,
        )
        .await
        .json()["items"][0]["sha256"]
        .as_str()
        .expect("alice")
        .to_owned();
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/ca/renew/{alice}"),
            &ops,
            Some(serde_json::json!({})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("not issued by a certmail CA"), "{}", r.body);

    let aud = h.token("aud", Role::Auditor).await;
    let audit = h
        .call(Method::GET, "/api/v1/audit?limit=100", &aud, None)
        .await
        .body;
    for a in [
        "ca.import",
        "ca.default",
        "ca.request",
        "ca.sign-csr",
        "ca.renew",
    ] {
        assert!(audit.contains(a), "{a} not audited: {audit}");
    }
}

#[tokio::test]
async fn bulk_csv_previews_issues_and_skips_over_the_api() {
    let h = H::new().await;
    h.load_pki().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let aud = h.token("aud", Role::Auditor).await;
    let r = h
        .call(Method::POST, "/api/v1/cas", &admin, Some(serde_json::json!({"root_cn": "Bulk Root", "intermediate_cn": "Bulk CA", "key": "p256", "make_default": true})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let csv = b"EMAIL,COMMONNAME\nbulk1@example.com,Bulk One\nnot-an-address,Nobody\n".to_vec();
    let r = h
        .raw(
            "/api/v1/ca/bulk?preview=true&key=p256",
            &aud,
            "text/csv",
            csv.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = h
        .raw(
            "/api/v1/ca/bulk?preview=true&key=p256",
            &ops,
            "text/csv",
            csv.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let p = r.json();
    assert_eq!(p["rows"], 1, "{p}");
    assert_eq!(
        p["issued"],
        serde_json::json!([]),
        "a preview issues nothing: {p}"
    );
    assert!(
        p["row_errors"][0]
            .as_str()
            .expect("row error")
            .contains("line 3"),
        "{p}"
    );
    let r = h
        .raw(
            "/api/v1/ca/bulk?key=p256&days=30",
            &ops,
            "text/csv",
            csv.clone(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json()["issued"].as_array().map(Vec::len),
        Some(1),
        "{}",
        r.body
    );
    let r = h
        .raw("/api/v1/ca/bulk?key=p256&days=30", &ops, "text/csv", csv)
        .await;
    assert_eq!(
        r.json()["skipped"].as_array().map(Vec::len),
        Some(1),
        "a second run skips: {}",
        r.body
    );
    let r = h
        .raw(
            "/api/v1/ca/bulk?key=rsa1000",
            &ops,
            "text/csv",
            b"EMAIL\na@example.com\n".to_vec(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("rsa1000"), "{}", r.body);
}

#[tokio::test]
async fn a_self_signed_domain_certificate_is_refreshed_with_its_serial_and_key() {
    let h = H::new().await;
    let ops = h.token("ops", Role::Operator).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ok = std::process::Command::new("openssl")
        .current_dir(dir.path())
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            "d.key",
            "-out",
            "d.pem",
            "-days",
            "1",
            "-subj",
            "/CN=mail.example.com/O=Example",
        ])
        .args([
            "-addext",
            "subjectAltName=DNS:mail.example.com",
            "-addext",
            "basicConstraints=critical,CA:false",
        ])
        .status()
        .expect("openssl");
    assert!(ok.success());
    for f in ["d.pem", "d.key"] {
        let data = std::fs::read(dir.path().join(f)).expect("read");
        h.app
            .import_bytes(&data, &ImportOptions::default())
            .await
            .expect("import");
    }
    let items = h
        .call(Method::GET, "/api/v1/certificates", &ops, None)
        .await
        .json();
    let old = items["items"][0].clone();
    let sha = old["sha256"].as_str().expect("sha256").to_owned();
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/ca/refresh/{sha}"),
            &ops,
            Some(serde_json::json!({"days": 400})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let v = r.json();
    assert_eq!(v["serial"], old["serial"], "{v}");
    assert_ne!(v["sha256"], sha.as_str());
    assert!(
        v["not_after"].as_str().expect("not_after") > old["not_after"].as_str().unwrap_or_default(),
        "{v} {old}"
    );
    let r = h
        .call(
            Method::POST,
            &format!("/api/v1/ca/refresh/{sha}"),
            &ops,
            Some(serde_json::json!({"days": 0})),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn all_to_roots_puts_every_certificate_into_the_root_store_for_admins_only() {
    let h = H::new().await;
    let admin = h.token("boss", Role::Admin).await;
    let ops = h.token("ops", Role::Operator).await;
    let pki = certmail_testkit::TestPki::new("Roots");
    let chain = format!("{}{}", pki.root.pem, pki.intermediate.pem);
    let parts: [(&str, Option<&str>, &[u8]); 2] = [
        ("files", Some("chain.pem"), chain.as_bytes()),
        ("all_to_roots", None, b"true"),
    ];
    let r = h.parts("/api/v1/import", &ops, &parts).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = h.parts("/api/v1/import", &admin, &parts).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let roots = h
        .call(
            Method::GET,
            "/api/v1/certificates?store=roots",
            &admin,
            None,
        )
        .await
        .json();
    assert_eq!(
        roots["items"].as_array().map(Vec::len),
        Some(2),
        "the intermediate too, as `root import`: {roots}"
    );
    let certs = h
        .call(Method::GET, "/api/v1/certificates", &admin, None)
        .await
        .json();
    assert_eq!(certs["items"], serde_json::json!([]));
}

#[tokio::test]
async fn an_intermediate_is_created_under_an_existing_ca() {
    let h = H::new().await;
    let admin = h.token("boss", Role::Admin).await;
    let create = |b: serde_json::Value| h.call(Method::POST, "/api/v1/cas", &admin, Some(b));
    let r = create(
        serde_json::json!({"root_cn": "Top Root", "intermediate_cn": "First CA", "key": "p256"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let first = r.json();
    let r = create(serde_json::json!({"intermediate_cn": "Nowhere CA"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body.contains("give root_cn"), "{}", r.body);
    let r =
        create(serde_json::json!({"root_cn": "X", "under": "First CA", "intermediate_cn": "Y"}))
            .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = create(
        serde_json::json!({"under": "No Such CA", "intermediate_cn": "Lost CA", "key": "p256"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = create(
        serde_json::json!({"under": "First CA", "intermediate_cn": "Second CA", "key": "p256"}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let second = r.json();
    assert_eq!(
        second["root_sha256"], first["root_sha256"],
        "the same root: {second}"
    );
    assert_ne!(second["signer_sha256"], first["signer_sha256"]);
    let detail = h
        .call(
            Method::GET,
            &format!(
                "/api/v1/certificates/{}",
                second["signer_sha256"].as_str().expect("sha")
            ),
            &admin,
            None,
        )
        .await
        .json();
    assert_eq!(detail["status"], "valid", "{detail}");
}
