//! `/gateway`: the recent per-message log lines of this node (what the gateway did with
//! each message and recipient), filtered by text.

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::routing::get;
use certmail_app::admin::Role;
use serde::Deserialize;

use crate::Server;
use crate::auth::Caller;
use crate::pages::{Nav, PageResult, nav, render};

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new().route("/gateway", get(gateway))
}

struct Line {
    at: String,
    reply: String,
    ok: bool,
    text: String,
}

#[derive(Template)]
#[template(path = "gateway.html")]
struct GatewayPage {
    nav: Option<Nav>,
    kept: usize,
    q: String,
    lines: Vec<Line>,
}

/// Filter.
#[derive(Deserialize, Default)]
pub struct Filter {
    q: Option<String>,
}

async fn gateway(State(s): State<Arc<Server>>, c: Caller, Query(f): Query<Filter>) -> PageResult {
    c.require(Role::Auditor)?;
    let q = f.q.unwrap_or_default();
    let lines = s
        .messages
        .recent(Some(q.as_str()).filter(|x| !x.is_empty()), 500)
        .into_iter()
        .map(|(at, text)| {
            let reply = if text.starts_with("rcpt-refused") {
                "550".to_owned()
            } else {
                text.split_once(" reply=")
                    .map(|(_, r)| r.chars().take(3).collect())
                    .unwrap_or_default()
            };
            Line {
                at: certmail_app::format_time(at),
                ok: reply == "250",
                reply,
                text,
            }
        })
        .collect();
    Ok(render(&GatewayPage {
        nav: nav(&c),
        kept: certmail_gateway::record::RECENT_MESSAGES,
        q,
        lines,
    }))
}
