//! Who is calling: a browser session (cookie, with a CSRF token for every change) or an
//! API token (`Authorization: Bearer`), with the role that decides what they may do; and
//! the login rate limit.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{ConnectInfo, Form, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use certmail_app::admin::{Actor, Role};
use serde::de::DeserializeOwned;

use crate::Server;
use crate::problem::Problem;

/// The session cookie.
pub const SESSION_COOKIE: &str = "certmail_session";
/// The pre-login CSRF cookie (double submit on the login and setup forms).
pub const LOGIN_COOKIE: &str = "certmail_login";
/// Header carrying the CSRF token on API calls made with a session cookie.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// Account name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Client address.
    pub address: String,
    /// The session's CSRF token (`None` for API tokens, which browsers never send by themselves).
    pub csrf: Option<String>,
}

impl Caller {
    /// Refuses callers below `min`.
    pub fn require(&self, min: Role) -> Result<(), Problem> {
        if self.role >= min {
            Ok(())
        } else {
            Err(Problem::forbidden(format!(
                "the {} role may not do this (needs {})",
                self.role.as_str(),
                min.as_str()
            )))
        }
    }

    /// The audit identity.
    pub fn actor(&self) -> Actor {
        Actor {
            name: self.name.clone(),
            role: self.role,
            address: self.address.clone(),
        }
    }

    /// Checks a form's CSRF token against the session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), Problem> {
        match &self.csrf {
            None => Ok(()),
            Some(c) if same(c, token) => Ok(()),
            Some(_) => Err(stale_csrf()),
        }
    }

    /// Whether a token sent in an uploaded (multipart) form is this session's. Uploads
    /// come only from the pages, so a caller without a session never matches.
    pub fn upload_csrf_matches(&self, token: &str) -> bool {
        self.csrf.as_deref().is_some_and(|mine| same(mine, token))
    }
}

/// The refusal of a form whose CSRF token is not the session's.
pub fn stale_csrf() -> Problem {
    Problem::forbidden("the form's CSRF token is missing or stale: reload the page and try again")
}

/// Compares secrets without an early exit.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A cookie value from the request.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The client's address (the TCP peer).
pub fn client_address(parts: &Parts) -> String {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string())
}

/// The client's address as an extractor (never fails: `unknown` without connection info).
pub struct ClientAddr(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_address(parts)))
    }
}

fn unsafe_method(m: &Method) -> bool {
    !matches!(*m, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Why a request has no caller: the API answers 401, pages send the browser to `/login`.
pub struct Unauthenticated {
    api: bool,
    problem: Problem,
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        if self.api {
            let mut r = self.problem.into_response();
            if r.status() == StatusCode::UNAUTHORIZED {
                r.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    header::HeaderValue::from_static("Bearer"),
                );
            }
            r
        } else if self.problem.status() == StatusCode::UNAUTHORIZED {
            Redirect::to("/login").into_response()
        } else {
            crate::pages::error_page(self.problem)
        }
    }
}

impl FromRequestParts<Arc<Server>> for Caller {
    type Rejection = Unauthenticated;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<Server>,
    ) -> Result<Caller, Unauthenticated> {
        let api = parts.uri.path().starts_with("/api/");
        let fail = |status: StatusCode, detail: &str| Unauthenticated {
            api,
            problem: Problem::new(status, detail),
        };
        let address = client_address(parts);
        if let Some(v) = parts.headers.get(header::AUTHORIZATION) {
            let token = v
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| {
                    fail(
                        StatusCode::UNAUTHORIZED,
                        "the Authorization header must be `Bearer TOKEN`",
                    )
                })?;
            return match state.app.admin_bearer(token).await {
                Ok(Some(a)) => Ok(Caller {
                    name: a.name,
                    role: a.role,
                    address,
                    csrf: None,
                }),
                Ok(None) => Err(fail(
                    StatusCode::UNAUTHORIZED,
                    "the API token is unknown or expired",
                )),
                Err(e) => Err(Unauthenticated {
                    api,
                    problem: e.into(),
                }),
            };
        }
        let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
            return Err(fail(
                StatusCode::UNAUTHORIZED,
                "log in first (session cookie or Authorization: Bearer TOKEN)",
            ));
        };
        let session = match state.app.admin_session(id).await {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(fail(
                    StatusCode::UNAUTHORIZED,
                    "the session has ended: log in again",
                ));
            }
            Err(e) => {
                return Err(Unauthenticated {
                    api,
                    problem: e.into(),
                });
            }
        };
        if api && unsafe_method(&parts.method) {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !same(sent, &session.csrf) {
                return Err(fail(
                    StatusCode::FORBIDDEN,
                    "a change made with a session cookie needs the X-CSRF-Token header",
                ));
            }
        }
        Ok(Caller {
            name: session.actor_name,
            role: session.role,
            address,
            csrf: Some(session.csrf),
        })
    }
}

/// Forms that carry a CSRF token.
pub trait HasCsrf {
    /// The token sent with the form.
    fn csrf(&self) -> &str;
}

/// A form posted by a logged-in caller, its CSRF token checked.
pub struct CheckedForm<T> {
    /// Who.
    pub caller: Caller,
    /// The form.
    pub form: T,
}

impl<T> FromRequest<Arc<Server>> for CheckedForm<T>
where
    T: DeserializeOwned + HasCsrf + Send,
{
    type Rejection = Response;

    async fn from_request(req: Request, state: &Arc<Server>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        let caller = Caller::from_request_parts(&mut parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let req = Request::from_parts(parts, body);
        let Form(form) = Form::<T>::from_request(req, state)
            .await
            .map_err(|e| crate::pages::error_page(Problem::bad_request(e.body_text())))?;
        caller
            .check_csrf(form.csrf())
            .map_err(crate::pages::error_page)?;
        Ok(CheckedForm { caller, form })
    }
}

/// Failed logins allowed for one account from one client address within the window.
pub const MAX_PER_ACCOUNT_AND_ADDRESS: usize = 5;
/// Failed logins allowed from one client address, whatever the accounts, within the window.
pub const MAX_PER_ADDRESS: usize = 20;
const WINDOW_SECS: i64 = 15 * 60;

/// The limiter keys of a login attempt: failures count per account and address together
/// (so a stranger's wrong passwords never lock an administrator out from another address)
/// and per address (so one address cannot try many accounts).
pub fn login_keys(account: &str, address: &str) -> [(String, usize); 2] {
    [
        (format!("addr:{address}"), MAX_PER_ADDRESS),
        (
            format!("acct:{}|{address}", account.to_lowercase()),
            MAX_PER_ACCOUNT_AND_ADDRESS,
        ),
    ]
}

/// Login failures by key, in memory (a restart forgets them).
#[derive(Debug, Default)]
pub struct Limiter {
    failures: Mutex<HashMap<String, Vec<i64>>>,
}

impl Limiter {
    /// Seconds to wait when a key is at its limit (key, most failures).
    pub fn blocked(&self, keys: &[(String, usize)], now: i64) -> Option<i64> {
        // A poisoned lock is still the limiter's data: never fail open.
        let mut map = crate::lock(&self.failures);
        let mut wait = None;
        for (k, max) in keys {
            if let Some(v) = map.get_mut(k) {
                v.retain(|t| now - t < WINDOW_SECS);
                if v.len() >= *max {
                    let until = v.iter().min().copied().unwrap_or(now) + WINDOW_SECS - now;
                    wait = Some(wait.map_or(until, |w: i64| w.max(until)));
                }
            }
        }
        wait
    }

    /// Records a failure for every key.
    pub fn fail(&self, keys: &[(String, usize)], now: i64) {
        let mut map = crate::lock(&self.failures);
        if map.len() > 100_000 {
            map.retain(|_, v| v.iter().any(|t| now - t < WINDOW_SECS));
        }
        for (k, max) in keys {
            let v = map.entry(k.clone()).or_default();
            v.push(now);
            // Only the newest `max` count.
            if v.len() > *max {
                let extra = v.len() - max;
                v.drain(..extra);
            }
        }
    }
}

#[cfg(test)]
mod limiter_tests {
    use super::*;

    #[test]
    fn a_strangers_failures_never_lock_an_account_out_from_another_address() {
        let l = Limiter::default();
        let now = 1_000_000;
        let stranger = login_keys("admin", "203.0.113.9");
        for _ in 0..MAX_PER_ACCOUNT_AND_ADDRESS {
            assert_eq!(l.blocked(&stranger, now), None);
            l.fail(&stranger, now);
        }
        assert!(l.blocked(&stranger, now).is_some(), "the stranger waits");
        assert_eq!(
            l.blocked(&login_keys("Admin", "192.0.2.1"), now),
            None,
            "the administrator from her own address does not"
        );
        // One address trying many accounts is stopped by the per-address limit.
        let l = Limiter::default();
        for i in 0..MAX_PER_ADDRESS {
            let k = login_keys(&format!("user{i}"), "198.51.100.7");
            assert_eq!(l.blocked(&k, now), None, "attempt {i}");
            l.fail(&k, now);
        }
        assert!(
            l.blocked(&login_keys("anyone", "198.51.100.7"), now)
                .is_some()
        );
        assert_eq!(l.blocked(&login_keys("anyone", "198.51.100.8"), now), None);
        // The window passes.
        assert_eq!(
            l.blocked(&login_keys("anyone", "198.51.100.7"), now + WINDOW_SECS),
            None
        );
    }
}
