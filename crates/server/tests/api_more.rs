//! In-process tests of S/MIME over the API (sign, encrypt, decrypt, verify), the settings
//! of a user, domain or global at once, a stored certificate's verdict, a directory test,
//! and deleting users and domains through the API and the settings pages.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use certmail_app::admin::Role;
use common::*;

type Auth = Vec<(&'static str, String)>;

const MARKER: &str = "the-secret-body-text-7f3a";

fn mail(from: &str) -> String {
    format!(
        "From: {from}\r\nTo: bob@example.com\r\nSubject: API test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello, {MARKER}.\r\n"
    )
}

impl H {
    /// POSTs a raw message body.
    async fn post_message(&self, path: &str, auth: &[(&str, String)], body: &[u8]) -> Reply {
        let mut b = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(header::CONTENT_TYPE, "message/rfc822");
        for (k, v) in auth {
            b = b.header(*k, v.as_str());
        }
        self.send(b.body(Body::from(body.to_vec())).expect("request"))
            .await
    }

    async fn roles(&self) -> (Auth, Auth, Auth) {
        (
            self.token("boss", Role::Admin).await,
            self.token("ops", Role::Operator).await,
            self.token("eye", Role::Auditor).await,
        )
    }

    async fn audit_entries(&self, auth: &[(&str, String)], action: &str) -> Vec<serde_json::Value> {
        let j = self
            .call(
                Method::GET,
                &format!("/api/v1/audit?action={action}&limit=1000"),
                auth,
                None,
            )
            .await
            .json();
        j["items"].as_array().cloned().unwrap_or_default()
    }
}

fn is_problem(r: &Reply, status: StatusCode, words: &str) {
    assert_eq!(r.status, status, "{}", r.body);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json"),
        "{}",
        r.body
    );
    let detail = r.json()["detail"].as_str().unwrap_or_default().to_owned();
    assert!(
        detail.to_lowercase().contains(&words.to_lowercase()),
        "{words:?} not in {detail:?}"
    );
}

fn is_message(r: &Reply) {
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("message/rfc822")
    );
}

#[tokio::test]
async fn sign_then_verify_through_the_api_by_role() {
    let h = H::new().await;
    h.load_pki().await;
    let (_, ops, aud) = h.roles().await;
    let alice = h.sha_of("alice@example.com").await;
    let bob = h.sha_of("bob@example.com").await;
    let msg = mail("alice@example.com");
    let sign = format!("/api/v1/smime/sign?signer={alice}");

    // Signing uses a key: operators only; no token at all is 401.
    is_problem(
        &h.post_message(&sign, &aud, msg.as_bytes()).await,
        StatusCode::FORBIDDEN,
        "",
    );
    assert_eq!(
        h.post_message(&sign, &[], msg.as_bytes()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let signed = h.post_message(&sign, &ops, msg.as_bytes()).await;
    is_message(&signed);
    assert!(signed.body.contains("multipart/signed"), "{}", signed.body);
    assert!(
        signed.body.contains(MARKER),
        "detached: the text stays readable"
    );

    // Verify (auditors may): the report of `smime verify --json`.
    let r = h
        .post_message("/api/v1/smime/verify", &aud, signed.body.as_bytes())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["ok"], true, "{j}");
    let layer = &j["layers"][0];
    assert_eq!(layer["layer"], "signed", "{j}");
    assert_eq!(layer["opaque"], false, "{j}");
    let signer = &layer["signers"][0];
    assert_eq!(signer["verified"], true, "{j}");
    assert_eq!(signer["thumbprint"], alice.as_str(), "{j}");
    assert_eq!(signer["from_match"], true, "{j}");
    assert_eq!(signer["trust"]["trusted"], true, "{j}");
    assert_eq!(signer["trust"]["status"], "valid", "{j}");
    assert!(signer["signing_time"].is_i64(), "{j}");

    // Opaque, SHA-512: verifies too.
    let opaque = h
        .post_message(
            &format!(
                "/api/v1/smime/sign?signer={}&digest=sha512&opaque=true",
                &alice[..16]
            ),
            &ops,
            msg.as_bytes(),
        )
        .await;
    is_message(&opaque);
    assert!(
        opaque.body.contains("application/pkcs7-mime") && !opaque.body.contains(MARKER),
        "{}",
        opaque.body
    );
    let j = h
        .post_message("/api/v1/smime/verify", &aud, opaque.body.as_bytes())
        .await
        .json();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["layers"][0]["opaque"], true, "{j}");
    // (The test PKI's keys are P-256: the curve's digest is used whatever was asked.)
    assert!(j["layers"][0]["signers"][0]["digest"].is_string(), "{j}");

    // A changed body: the signature does not verify, and the report says so (200, ok false).
    let tampered = signed.body.replacen(MARKER, "changed-body-text-0000000", 1);
    let j = h
        .post_message("/api/v1/smime/verify", &aud, tampered.as_bytes())
        .await
        .json();
    assert_eq!(j["ok"], false, "{j}");
    assert_eq!(j["layers"][0]["signers"][0]["verified"], false, "{j}");
    // Signed by alice but sent as someone else: the From does not match.
    let other = h
        .post_message(&sign, &ops, mail("mallory@example.com").as_bytes())
        .await;
    let j = h
        .post_message("/api/v1/smime/verify", &aud, other.body.as_bytes())
        .await
        .json();
    assert_eq!(j["ok"], false, "{j}");
    assert_eq!(j["layers"][0]["signers"][0]["from_match"], false, "{j}");
    // At a time after the certificate expired (and no signing time before it): not trusted.
    let j = h
        .post_message(
            "/api/v1/smime/verify?at=2040-01-01T00:00:00Z",
            &aud,
            signed.body.as_bytes(),
        )
        .await
        .json();
    assert_eq!(j["ok"], true, "signed while valid stays valid: {j}");
    assert!(
        j["layers"][0]["signers"][0]["trust"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("signing time"),
        "{j}"
    );

    // Bad input, named.
    is_problem(
        &h.post_message("/api/v1/smime/sign", &ops, msg.as_bytes())
            .await,
        StatusCode::BAD_REQUEST,
        "signer",
    );
    is_problem(
        &h.post_message(&format!("{sign}&digest=md5"), &ops, msg.as_bytes())
            .await,
        StatusCode::BAD_REQUEST,
        "md5",
    );
    is_problem(
        &h.post_message(&sign, &ops, b"").await,
        StatusCode::BAD_REQUEST,
        "empty",
    );
    is_problem(
        &h.post_message(
            &format!("/api/v1/smime/sign?signer={bob}"),
            &ops,
            msg.as_bytes(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "private key",
    );
    is_problem(
        &h.post_message(
            &format!("/api/v1/smime/sign?signer={}", "ab".repeat(32)),
            &ops,
            msg.as_bytes(),
        )
        .await,
        StatusCode::NOT_FOUND,
        "",
    );
    is_problem(
        &h.post_message("/api/v1/smime/verify", &aud, msg.as_bytes())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not signed",
    );
    is_problem(
        &h.post_message(
            "/api/v1/smime/verify?at=yesterday",
            &aud,
            signed.body.as_bytes(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "RFC 3339",
    );
    is_problem(
        &h.post_message(
            "/api/v1/smime/verify?revocation=sometimes",
            &aud,
            signed.body.as_bytes(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "sometimes",
    );
    // A signature part that is not CMS: named as such.
    let boundary = signed
        .body
        .split("boundary=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("boundary")
        .to_owned();
    let broken = format!(
        "From: alice@example.com\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol=\"application/pkcs7-signature\"; micalg=sha-256; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\nhello\r\n--{boundary}\r\nContent-Type: application/pkcs7-signature; name=smime.p7s\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAAAAAAAAAA\r\n--{boundary}--\r\n"
    );
    is_problem(
        &h.post_message("/api/v1/smime/verify", &aud, broken.as_bytes())
            .await,
        StatusCode::BAD_REQUEST,
        "malformed",
    );

    // Audited without the content.
    let entries = h.audit_entries(&aud, "smime.sign").await;
    assert!(
        entries.iter().any(|e| e["outcome"] == "ok"
            && e["object"] == alice.as_str()
            && e["account"] == "ops"),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e["outcome"] == "failed" && e["object"] == bob.as_str()),
        "{entries:?}"
    );
    let log = h
        .call(Method::GET, "/api/v1/audit?limit=1000", &aud, None)
        .await;
    assert!(!log.body.contains(MARKER), "{}", log.body);
    assert!(!log.body.contains("PRIVATE KEY"), "{}", log.body);
}

#[tokio::test]
async fn encrypt_to_a_certificate_with_a_key_then_decrypt() {
    let h = H::new().await;
    h.load_pki().await;
    let (_, ops, aud) = h.roles().await;
    let alice = h.sha_of("alice@example.com").await;
    let carol = h.sha_of("carol@example.com").await;
    let msg = mail("bob@example.com");

    is_problem(
        &h.post_message(
            "/api/v1/smime/encrypt?to=alice@example.com",
            &aud,
            msg.as_bytes(),
        )
        .await,
        StatusCode::FORBIDDEN,
        "",
    );
    let enc = h
        .post_message(
            "/api/v1/smime/encrypt?to=alice@example.com",
            &ops,
            msg.as_bytes(),
        )
        .await;
    is_message(&enc);
    assert!(
        enc.body.contains("application/pkcs7-mime") && !enc.body.contains(MARKER),
        "{}",
        enc.body
    );
    // Decrypting uses a key: operators only.
    is_problem(
        &h.post_message("/api/v1/smime/decrypt", &aud, enc.body.as_bytes())
            .await,
        StatusCode::FORBIDDEN,
        "",
    );
    let dec = h
        .post_message("/api/v1/smime/decrypt", &ops, enc.body.as_bytes())
        .await;
    is_message(&dec);
    assert!(dec.body.contains(MARKER), "{}", dec.body);
    assert!(
        dec.body.contains("X-Certmail-Encrypted-1: True"),
        "{}",
        dec.body
    );
    assert!(
        dec.body.contains("X-Certmail-Decrypted-With-1:") && dec.body.contains(&alice),
        "{}",
        dec.body
    );
    assert!(dec.body.contains("Subject: API test"), "{}", dec.body);

    // AES-256-GCM, recipients by key id, to alice by thumbprint and carol by address: alice decrypts.
    let enc = h
        .post_message(
            &format!(
                "/api/v1/smime/encrypt?certificates={}&to=carol@example.com&cipher=aes256-gcm&key_id=true",
                &alice[..20]
            ),
            &ops,
            msg.as_bytes(),
        )
        .await;
    is_message(&enc);
    assert!(enc.body.contains("authEnveloped"), "{}", enc.body);
    let dec = h
        .post_message("/api/v1/smime/decrypt", &ops, enc.body.as_bytes())
        .await;
    is_message(&dec);
    assert!(dec.body.contains(MARKER));

    // Sign, then encrypt the signed message: decrypt takes both layers and says so.
    let signed = h
        .post_message(
            &format!("/api/v1/smime/sign?signer={alice}"),
            &ops,
            mail("alice@example.com").as_bytes(),
        )
        .await;
    let both = h
        .post_message(
            "/api/v1/smime/encrypt?to=alice@example.com",
            &ops,
            signed.body.as_bytes(),
        )
        .await;
    let dec = h
        .post_message("/api/v1/smime/decrypt", &ops, both.body.as_bytes())
        .await;
    is_message(&dec);
    assert!(dec.body.contains("X-Certmail-Signed-2"), "{}", dec.body);
    let j = h
        .post_message("/api/v1/smime/verify", &aud, both.body.as_bytes())
        .await
        .json();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(j["layers"][0]["layer"], "encrypted", "{j}");
    assert_eq!(j["layers"][1]["layer"], "signed", "{j}");

    // Only to carol, whose key is not here: decrypt names the problem.
    let to_carol = h
        .post_message(
            &format!("/api/v1/smime/encrypt?certificates={carol}"),
            &ops,
            msg.as_bytes(),
        )
        .await;
    is_message(&to_carol);
    is_problem(
        &h.post_message("/api/v1/smime/decrypt", &ops, to_carol.body.as_bytes())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no private key",
    );
    // Corrupt CMS.
    let cut = {
        let (head, body) = to_carol.body.split_once("\r\n\r\n").expect("body");
        format!("{head}\r\n\r\n{}\r\n", &body[..body.len() / 3])
    };
    let r = h
        .post_message("/api/v1/smime/decrypt", &ops, cut.as_bytes())
        .await;
    assert!(
        r.status == StatusCode::BAD_REQUEST || r.status == StatusCode::UNPROCESSABLE_ENTITY,
        "{}: {}",
        r.status,
        r.body
    );
    assert_eq!(
        r.headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );

    // Bad input, named.
    is_problem(
        &h.post_message("/api/v1/smime/encrypt", &ops, msg.as_bytes())
            .await,
        StatusCode::BAD_REQUEST,
        "to=",
    );
    is_problem(
        &h.post_message(
            "/api/v1/smime/encrypt?to=nobody@nowhere.example",
            &ops,
            msg.as_bytes(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "nobody@nowhere.example",
    );
    is_problem(
        &h.post_message(
            "/api/v1/smime/encrypt?to=alice@example.com&cipher=des",
            &ops,
            msg.as_bytes(),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "des",
    );
    is_problem(
        &h.post_message("/api/v1/smime/decrypt", &ops, msg.as_bytes())
            .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "not encrypted",
    );

    // Audited: who, which certificates, the cipher; never the content.
    let e = h.audit_entries(&aud, "smime.encrypt").await;
    assert!(
        e.iter().any(|x| x["outcome"] == "ok"
            && x["object"] == "alice@example.com"
            && x["detail"].as_str().unwrap_or_default().contains(&alice)),
        "{e:?}"
    );
    let d = h.audit_entries(&aud, "smime.decrypt").await;
    assert!(
        d.iter()
            .any(|x| x["outcome"] == "ok" && x["object"] == alice.as_str()),
        "{d:?}"
    );
    assert!(d.iter().any(|x| x["outcome"] == "failed"), "{d:?}");
    let log = h
        .call(Method::GET, "/api/v1/audit?limit=1000", &aud, None)
        .await;
    assert!(!log.body.contains(MARKER), "{}", log.body);
}

#[tokio::test]
async fn smime_bodies_are_bounded() {
    let h = H::new().await;
    let ops = h.token("ops", Role::Operator).await;
    let mut big = mail("alice@example.com").into_bytes();
    big.resize(50 * 1024 * 1024 + 1, b'a');
    let r = h
        .post_message("/api/v1/smime/encrypt?to=alice@example.com", &ops, &big)
        .await;
    is_problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "50 MiB");
}

#[tokio::test]
async fn every_setting_at_once_for_users_domains_and_global() {
    let h = H::new().await;
    let (admin, ops, aud) = h.roles().await;
    let put = |path: &'static str, auth: Auth, v: &'static str| {
        let h = &h;
        async move {
            let r = h
                .call(
                    Method::PUT,
                    path,
                    &auth,
                    Some(serde_json::json!({ "value": v })),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        }
    };
    put("/api/v1/global/settings/sign", admin.clone(), "on").await;
    put(
        "/api/v1/domains/example.com/settings/locality",
        ops.clone(),
        "internal",
    )
    .await;
    put(
        "/api/v1/users/pat@example.com/settings/encrypt-mode",
        ops.clone(),
        "force",
    )
    .await;

    let get = |j: &serde_json::Value, k: &str| -> serde_json::Value {
        j["items"]
            .as_array()
            .expect("items")
            .iter()
            .find(|s| s["key"] == k)
            .cloned()
            .unwrap_or_else(|| panic!("no {k} in {j}"))
    };
    let r = h
        .call(
            Method::GET,
            "/api/v1/users/Pat@Example.com/settings",
            &aud,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let u = r.json();
    assert_eq!(
        u["items"].as_array().map(Vec::len),
        Some(certmail_app::policy::SETTINGS.len()),
        "{u}"
    );
    let s = get(&u, "encrypt-mode");
    assert_eq!(
        (
            s["value"].as_str(),
            s["source"].as_str(),
            s["inherited"].as_bool()
        ),
        (Some("force"), Some("user"), Some(false))
    );
    let s = get(&u, "locality");
    assert_eq!(
        (
            s["value"].as_str(),
            s["source"].as_str(),
            s["inherited"].as_bool()
        ),
        (Some("internal"), Some("domain example.com"), Some(true))
    );
    let s = get(&u, "sign");
    assert_eq!(
        (s["value"].as_str(), s["source"].as_str()),
        (Some("on"), Some("global"))
    );
    let s = get(&u, "auto-select");
    assert_eq!(s["source"], "default");
    // The same values the one-setting endpoint gives.
    let one = h
        .call(
            Method::GET,
            "/api/v1/users/pat@example.com/settings/locality",
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(one, get(&u, "locality"));

    let d = h
        .call(
            Method::GET,
            "/api/v1/domains/example.com/settings",
            &aud,
            None,
        )
        .await
        .json();
    let s = get(&d, "locality");
    assert_eq!(
        (s["source"].as_str(), s["inherited"].as_bool()),
        (Some("domain example.com"), Some(false))
    );
    assert_eq!(get(&d, "encrypt-mode")["source"], "default");
    let w = h
        .call(
            Method::GET,
            "/api/v1/domains/*.example.com/settings",
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(get(&w, "locality")["source"], "default", "{w}");
    let g = h
        .call(Method::GET, "/api/v1/global/settings", &aud, None)
        .await
        .json();
    let s = get(&g, "sign");
    assert_eq!(
        (s["source"].as_str(), s["inherited"].as_bool()),
        (Some("global"), Some(false))
    );
    assert_eq!(get(&g, "locality")["inherited"], true);

    // Bad names, no authentication.
    is_problem(
        &h.call(
            Method::GET,
            "/api/v1/users/not-an-address/settings",
            &aud,
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "not an e-mail address",
    );
    is_problem(
        &h.call(
            Method::GET,
            "/api/v1/domains/bad_domain!/settings",
            &aud,
            None,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "not a domain",
    );
    assert_eq!(
        h.call(Method::GET, "/api/v1/global/settings", &[], None)
            .await
            .status,
        StatusCode::UNAUTHORIZED
    );
    // Reading creates nothing.
    let users = h
        .call(Method::GET, "/api/v1/users", &aud, None)
        .await
        .json();
    assert_eq!(
        users["items"],
        serde_json::json!(["pat@example.com"]),
        "{users}"
    );
}

#[tokio::test]
async fn a_stored_certificates_verdict_with_the_cli_inputs() {
    let h = H::new().await;
    h.load_pki().await;
    let aud = h.token("eye", Role::Auditor).await;
    let alice = h.sha_of("alice@example.com").await;
    let old = h.sha_of("old@example.com").await;
    let v = |q: String| {
        let h = &h;
        let aud = aud.clone();
        async move { h.call(Method::GET, &q, &aud, None).await }
    };

    let r = v(format!("/api/v1/certificates/{alice}/verify")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["certificate"], alice.as_str());
    assert_eq!(j["status"], "valid", "{j}");
    assert_eq!(j["reason"], "");
    assert_eq!(j["chain"].as_array().map(Vec::len), Some(3), "{j}");
    assert_eq!(j["chain"][0], alice.as_str());
    assert_eq!(j["chain_subjects"].as_array().map(Vec::len), Some(3));
    assert_eq!(j["whitelisted"], false);
    assert!(
        j["subject"].as_str().unwrap_or_default().contains("alice"),
        "{j}"
    );

    let j = v(format!(
        "/api/v1/certificates/{}/verify?purpose=smime-sign&email=ALICE@example.com&at=2030-01-01T00:00:00Z",
        &alice[..12]
    ))
    .await
    .json();
    assert_eq!(j["status"], "valid", "{j}");
    let j = v(format!(
        "/api/v1/certificates/{alice}/verify?email=bob@example.com"
    ))
    .await
    .json();
    assert_ne!(j["status"], "valid", "{j}");
    assert!(
        j["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("bob@example.com"),
        "{j}"
    );
    let j = v(format!(
        "/api/v1/certificates/{alice}/verify?at=2040-01-01T00:00:00Z"
    ))
    .await
    .json();
    assert_eq!(j["status"], "expired", "{j}");
    assert!(j["chain"].as_array().is_some_and(Vec::is_empty), "{j}");
    let j = v(format!("/api/v1/certificates/{old}/verify")).await.json();
    assert_eq!(j["status"], "expired", "{j}");

    is_problem(
        &v(format!("/api/v1/certificates/{alice}/verify?at=tomorrow")).await,
        StatusCode::BAD_REQUEST,
        "RFC 3339",
    );
    is_problem(
        &v(format!("/api/v1/certificates/{alice}/verify?purpose=tls")).await,
        StatusCode::BAD_REQUEST,
        "smime-sign",
    );
    is_problem(
        &v(format!("/api/v1/certificates/{}/verify", "ab".repeat(32))).await,
        StatusCode::NOT_FOUND,
        "",
    );
    is_problem(
        &v("/api/v1/certificates/xyz/verify".into()).await,
        StatusCode::BAD_REQUEST,
        "xyz",
    );
}

#[tokio::test]
async fn directory_test_by_role_names_what_failed() {
    let h = H::new().await;
    h.app
        .set_directory_client(Arc::new(certmail_jobs::ldap::LdapClient::default()));
    let (admin, ops, aud) = h.roles().await;
    let r = h
        .call(
            Method::POST,
            "/api/v1/directories",
            &admin,
            Some(
                serde_json::json!({"name": "corp", "url": "ldap://127.0.0.1:1", "timeout_ms": 500}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);

    is_problem(
        &h.call(Method::GET, "/api/v1/directories/corp/test", &aud, None)
            .await,
        StatusCode::FORBIDDEN,
        "",
    );
    // Nothing listens on port 1: a 200 that says why.
    let r = h
        .call(
            Method::GET,
            "/api/v1/directories/corp/test?email=zoe@example.com",
            &ops,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let j = r.json();
    assert_eq!(j["directory"], "corp");
    assert_eq!(j["ok"], false, "{j}");
    assert_eq!(j["email"], "zoe@example.com");
    assert!(!j["error"].as_str().unwrap_or_default().is_empty(), "{j}");
    assert!(j["entries"].is_null());
    let j = h
        .call(Method::GET, "/api/v1/directories/corp/test", &admin, None)
        .await
        .json();
    assert_eq!(j["email"], "certmail-directory-test.invalid", "{j}");
    is_problem(
        &h.call(Method::GET, "/api/v1/directories/nosuch/test", &ops, None)
            .await,
        StatusCode::NOT_FOUND,
        "nosuch",
    );
    // A test imports nothing and changes nothing: not in the audit log.
    assert!(h.audit_entries(&aud, "directory.lookup").await.is_empty());
}

#[tokio::test]
async fn deleting_users_and_domains_over_the_api() {
    let h = H::new().await;
    h.load_pki().await;
    let (admin, ops, aud) = h.roles().await;
    let carol = h.sha_of("carol@example.com").await;
    for (path, v) in [
        ("/api/v1/users/pat@example.com/settings/sign", "on"),
        (
            "/api/v1/users/pat@example.com/settings/locality",
            "internal",
        ),
        ("/api/v1/domains/example.com/settings/encrypt-mode", "force"),
        ("/api/v1/users/kim@example.com/settings/sign", "on"),
    ] {
        let r = h
            .call(
                Method::PUT,
                path,
                &ops,
                Some(serde_json::json!({ "value": v })),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let r = h
        .call(
            Method::PUT,
            &format!("/api/v1/users/pat@example.com/selections/additional/{carol}"),
            &ops,
            None,
        )
        .await;
    assert!(r.status.is_success(), "{}", r.body);

    is_problem(
        &h.call(Method::DELETE, "/api/v1/users/pat@example.com", &aud, None)
            .await,
        StatusCode::FORBIDDEN,
        "",
    );
    let r = h
        .call(Method::DELETE, "/api/v1/users/Pat@Example.com", &ops, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(
        r.json(),
        serde_json::json!({"name": "pat@example.com", "settings": 2, "selections": 1})
    );
    let s = h
        .call(
            Method::GET,
            "/api/v1/users/pat@example.com/settings",
            &aud,
            None,
        )
        .await
        .json();
    assert!(
        s["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|x| x["source"] != "user"),
        "{s}"
    );
    let sel = h
        .call(
            Method::GET,
            "/api/v1/users/pat@example.com/selections",
            &aud,
            None,
        )
        .await
        .json();
    assert!(!sel.to_string().contains(&carol), "{sel}");
    let users = h
        .call(Method::GET, "/api/v1/users", &aud, None)
        .await
        .json();
    assert_eq!(
        users["items"],
        serde_json::json!(["kim@example.com"]),
        "{users}"
    );
    // The certificate stays.
    assert_eq!(
        h.call(
            Method::GET,
            &format!("/api/v1/certificates/{carol}"),
            &aud,
            None
        )
        .await
        .status,
        StatusCode::OK
    );
    is_problem(
        &h.call(Method::DELETE, "/api/v1/users/pat@example.com", &ops, None)
            .await,
        StatusCode::NOT_FOUND,
        "no user pat@example.com",
    );
    is_problem(
        &h.call(Method::DELETE, "/api/v1/users/not-an-address", &ops, None)
            .await,
        StatusCode::BAD_REQUEST,
        "not an e-mail address",
    );

    // Domains: the exact name.
    is_problem(
        &h.call(
            Method::DELETE,
            "/api/v1/domains/*.example.com",
            &admin,
            None,
        )
        .await,
        StatusCode::NOT_FOUND,
        "no domain *.example.com",
    );
    let r = h
        .call(Method::DELETE, "/api/v1/domains/example.com", &admin, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["settings"], 1);
    let d = h
        .call(
            Method::GET,
            "/api/v1/domains/example.com/settings/encrypt-mode",
            &aud,
            None,
        )
        .await
        .json();
    assert_eq!(d["source"], "default", "{d}");
    is_problem(
        &h.call(Method::DELETE, "/api/v1/domains/bad_domain!", &ops, None)
            .await,
        StatusCode::BAD_REQUEST,
        "not a domain",
    );

    // Audited, failures included.
    let e = h.audit_entries(&aud, "user.delete").await;
    assert!(
        e.iter().any(|x| x["outcome"] == "ok"
            && x["object"] == "pat@example.com"
            && x["account"] == "ops"
            && x["detail"] == "2 setting(s), 1 selection(s)"),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x["outcome"] == "failed" && x["object"] == "pat@example.com"),
        "{e:?}"
    );
    let e = h.audit_entries(&aud, "domain.delete").await;
    assert!(
        e.iter()
            .any(|x| x["outcome"] == "ok" && x["object"] == "example.com"),
        "{e:?}"
    );
}

#[tokio::test]
async fn the_delete_button_of_the_settings_pages() {
    let h = H::new().await;
    const PW: &str = "a long enough password";
    h.token("ops", Role::Operator).await;
    h.token("eye", Role::Auditor).await;
    let (o, o_csrf) = h.login("ops", PW).await;
    let (a, a_csrf) = h.login("eye", PW).await;
    let ops = format!("certmail_session={o}");
    let aud = format!("certmail_session={a}");
    h.app
        .set_setting(
            &certmail_store::Party::User("pat@example.com".into()),
            "sign",
            "on",
        )
        .await
        .expect("set");
    h.app
        .set_setting(
            &certmail_store::Party::Domain("example.org".into()),
            "sign",
            "on",
        )
        .await
        .expect("set");

    // The button: operators see it on user and domain pages, not on global; auditors never.
    let page = h.page("/users/pat@example.com", &ops).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body
            .contains("action=\"/users/pat@example.com/delete\""),
        "{}",
        page.body
    );
    assert!(
        h.page("/domains/example.org", &ops)
            .await
            .body
            .contains("action=\"/domains/example.org/delete\"")
    );
    assert!(!h.page("/global", &ops).await.body.contains("/delete\""));
    assert!(
        !h.page("/users/pat@example.com", &aud)
            .await
            .body
            .contains("/delete\"")
    );

    // Auditors may not; a wrong CSRF token is refused; nothing went.
    let r = h
        .form("/users/pat@example.com/delete", &aud, &[("csrf", &a_csrf)])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = h
        .form("/users/pat@example.com/delete", &ops, &[("csrf", "wrong")])
        .await;
    assert_ne!(r.status, StatusCode::SEE_OTHER);
    assert!(
        h.app
            .parties("user", None, 10, 0)
            .await
            .expect("users")
            .contains(&"pat@example.com".to_owned())
    );

    let r = h
        .form("/users/pat@example.com/delete", &ops, &[("csrf", &o_csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(r.location().starts_with("/users?note="), "{}", r.location());
    let list = h.page(r.location(), &ops).await;
    assert!(
        list.body
            .contains("class=\"note\">Deleted user pat@example.com"),
        "{}",
        list.body
    );
    assert!(
        !list.body.contains("href=\"/users/pat@example.com\""),
        "{}",
        list.body
    );
    // Deleted already: the error names it.
    let r = h
        .form("/users/pat@example.com/delete", &ops, &[("csrf", &o_csrf)])
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    assert!(r.body.contains("no user pat@example.com"), "{}", r.body);

    let r = h
        .form("/domains/example.org/delete", &ops, &[("csrf", &o_csrf)])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(
        r.location().starts_with("/domains?note="),
        "{}",
        r.location()
    );
    assert!(
        h.page(r.location(), &ops)
            .await
            .body
            .contains("Deleted domain example.org")
    );
    assert!(
        h.app
            .parties("domain", None, 10, 0)
            .await
            .expect("domains")
            .is_empty()
    );
    let e = h
        .call(
            Method::GET,
            "/api/v1/audit?action=domain.delete",
            &[("cookie", aud.clone())],
            None,
        )
        .await
        .json();
    assert_eq!(e["items"][0]["account"], "ops", "{e}");
}
