//! Sending certificates by mail from the CA page (`POST /ca/send`, as `certmail ca send`
//! and `POST /api/v1/ca/send`): one PKCS#12 to the recipient, the password by another
//! way. The outcome is a page of its own, since a password shown to the administrator must
//! not travel in a redirect's URL.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::State;
use axum::routing::post;
use serde::Deserialize;
use zeroize::Zeroizing;

use crate::Server;
use crate::api_hold::{SendBody, send_certificates};
use crate::auth::{CheckedForm, HasCsrf};
use crate::pages::{Nav, PageResult, nav, render};

/// The route.
pub fn routes() -> Router<Arc<Server>> {
    Router::new().route("/ca/send", post(send))
}

/// The send form.
#[derive(Deserialize)]
pub struct SendForm {
    csrf: String,
    thumbprints: String,
    to: String,
    password_to: String,
    sender: Option<String>,
    allow_mismatch: Option<String>,
    legacy: Option<String>,
    store_password: Option<String>,
}

impl HasCsrf for SendForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

#[derive(Template)]
#[template(path = "sent.html")]
struct SentPage {
    nav: Option<Nav>,
    to: String,
    sent: Vec<String>,
    password_way: String,
    password_problem: Option<String>,
    password: Option<Zeroizing<String>>,
}

async fn send(State(s): State<Arc<Server>>, f: CheckedForm<SendForm>) -> PageResult {
    let v = &f.form;
    let on = |x: &Option<String>| x.as_deref() == Some("true");
    let body = SendBody {
        thumbprints: v
            .thumbprints
            .split(|ch: char| ch.is_whitespace() || ch == ',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect(),
        to: v.to.trim().to_owned(),
        password_to: Some(v.password_to.clone()),
        sender: v.sender.as_deref().map(str::trim).map(str::to_owned),
        allow_mismatch: on(&v.allow_mismatch),
        legacy: on(&v.legacy),
        store_password: on(&v.store_password),
    };
    if body.thumbprints.is_empty() {
        return Err(crate::problem::Problem::bad_request(
            "name at least one certificate (its SHA-256 thumbprint or a unique prefix)",
        )
        .into());
    }
    let mut sent = send_certificates(&s, &f.caller, &body).await?;
    Ok(render(&SentPage {
        nav: nav(&f.caller),
        to: body.to.clone(),
        sent: std::mem::take(&mut sent.sent),
        password_way: std::mem::take(&mut sent.password_way),
        password_problem: sent.password_problem.take(),
        password: sent.password.take().map(Zeroizing::new),
    }))
}
