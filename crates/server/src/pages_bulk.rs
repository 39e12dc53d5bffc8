//! `/ca/bulk`: bulk issuance from CSV with a preview before anything is issued, then a job
//! that runs in the background with a progress page (refreshing itself, no script).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use askama::Template;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use certmail_app::admin::Role;
use certmail_app::ca::BulkOptions;
use serde::Deserialize;

use crate::Server;
use crate::auth::{Caller, CheckedForm, HasCsrf, stale_csrf};
use crate::pages::{Nav, PageResult, nav, render};
use crate::problem::{Problem, upload_error};

/// Largest CSV accepted (10,000 rows of up to 5 values of 256 characters fit easily).
const MAX_CSV: usize = 8 << 20;
/// Jobs kept for their progress pages.
const MAX_JOBS: usize = 100;

/// A bulk run's state, for its progress page.
#[derive(Debug, Default)]
pub struct BulkJob {
    done: usize,
    total: usize,
    finished: bool,
    report: Option<certmail_app::ca::BulkReport>,
    error: Option<String>,
}

/// The jobs of this process.
pub type Jobs = Mutex<HashMap<String, Arc<Mutex<BulkJob>>>>;

/// The routes.
pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route(
            "/ca/bulk",
            get(form)
                .post(preview)
                .layer(DefaultBodyLimit::max(MAX_CSV)),
        )
        .route(
            "/ca/bulk/issue",
            post(issue).layer(DefaultBodyLimit::max(MAX_CSV * 2)),
        )
        .route("/ca/bulk/job/{id}", get(job))
}

struct Preview {
    rows: Vec<(usize, String, String, String)>,
    errors: Vec<String>,
    csv: String,
    ca: String,
    key: String,
    days: u32,
}

#[derive(Template)]
#[template(path = "bulk.html")]
struct BulkPage {
    nav: Option<Nav>,
    csrf: String,
    cas: Vec<String>,
    keys: Vec<String>,
    preview: Option<Preview>,
}

async fn page(s: &Server, c: &Caller, preview: Option<Preview>) -> PageResult {
    let cas = s.app.ca_list().await?;
    let mut names: Vec<String> = cas
        .iter()
        .filter(|c| c.is_default)
        .map(|c| c.name.clone())
        .collect();
    names.extend(cas.iter().filter(|c| !c.is_default).map(|c| c.name.clone()));
    Ok(render(&BulkPage {
        nav: nav(c),
        csrf: c.csrf.clone().unwrap_or_default(),
        cas: names,
        keys: crate::pages_ca::KEYS
            .iter()
            .map(|k| (*k).to_owned())
            .collect(),
        preview,
    }))
}

async fn form(State(s): State<Arc<Server>>, c: Caller) -> PageResult {
    c.require(Role::Operator)?;
    page(&s, &c, None).await
}

fn parse_days(d: &str) -> Result<u32, Problem> {
    crate::pages_ca::days(d, "validity")?.ok_or_else(|| {
        Problem::bad_request(format!(
            "validity {d:?} is not a number of days (1 to 36500)"
        ))
    })
}

async fn preview(State(s): State<Arc<Server>>, c: Caller, mut f: Multipart) -> PageResult {
    c.require(Role::Operator)?;
    let (mut csrf_ok, mut csv, mut ca, mut key, mut days) = (
        false,
        Vec::new(),
        String::new(),
        String::new(),
        String::new(),
    );
    while let Some(field) = f.next_field().await.map_err(upload_error)? {
        match field.name().unwrap_or_default() {
            "csrf" => {
                let t = field.text().await.map_err(upload_error)?;
                csrf_ok = c.upload_csrf_matches(&t);
            }
            "file" => csv = field.bytes().await.map_err(upload_error)?.to_vec(),
            "ca" => ca = field.text().await.map_err(upload_error)?,
            "key" => key = field.text().await.map_err(upload_error)?,
            "days" => days = field.text().await.map_err(upload_error)?,
            _ => {}
        }
    }
    if !csrf_ok {
        return Err(stale_csrf().into());
    }
    certmail_ca::KeySpec::parse(&key).map_err(|e| Problem::bad_request(e.to_string()))?;
    let days = parse_days(&days)?;
    let text = String::from_utf8(csv)
        .map_err(|_| Problem::bad_request("the CSV file is not UTF-8 text"))?;
    let (rows, errors) = s
        .app
        .ca_bulk_rows(text.as_bytes(), certmail_ca::csv::Limits::default())?;
    let rows = rows
        .into_iter()
        .map(|r| (r.line, r.email, r.cn, r.org.unwrap_or_default()))
        .collect();
    page(
        &s,
        &c,
        Some(Preview {
            rows,
            errors,
            csv: text,
            ca,
            key,
            days,
        }),
    )
    .await
}

/// The confirmed run.
#[derive(Deserialize)]
pub struct IssueForm {
    csrf: String,
    ca: String,
    key: String,
    days: String,
    csv: String,
}

impl HasCsrf for IssueForm {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

async fn issue(State(s): State<Arc<Server>>, f: CheckedForm<IssueForm>) -> PageResult {
    f.caller.require(Role::Operator)?;
    let v = &f.form;
    let opts = BulkOptions {
        ca: v.ca.clone(),
        key: certmail_ca::KeySpec::parse(&v.key)
            .map_err(|e| Problem::bad_request(e.to_string()))?,
        hash: certmail_ca::SigHash::parse("sha256")
            .map_err(|e| Problem::bad_request(e.to_string()))?,
        days: parse_days(&v.days)?,
        preview: false,
        limits: certmail_ca::csv::Limits::default(),
    };
    let id = certmail_app::admin::random_secret()?.to_string();
    let state = Arc::new(Mutex::new(BulkJob::default()));
    {
        let mut jobs = crate::lock(&s.jobs);
        if jobs.len() >= MAX_JOBS {
            let finished: Vec<String> = jobs
                .iter()
                .filter(|(_, j)| crate::lock(j).finished)
                .map(|(k, _)| k.clone())
                .collect();
            for k in finished {
                jobs.remove(&k);
            }
        }
        jobs.insert(id.clone(), state.clone());
    }
    let app = s.app.clone();
    let csv = v.csv.clone().into_bytes();
    let actor = f.caller.actor();
    let ca = v.ca.clone();
    tokio::spawn(async move {
        let progress_state = state.clone();
        let mut progress = move |done: usize, total: usize| {
            let mut j = crate::lock(&progress_state);
            j.done = done;
            j.total = total;
        };
        let r = app.ca_bulk(&csv, &opts, &mut progress).await;
        let (outcome, detail) = match &r {
            Ok(rep) => (
                Ok(()),
                format!(
                    "{} issued, {} skipped, {} failed",
                    rep.issued.len(),
                    rep.skipped.len(),
                    rep.failed.len()
                ),
            ),
            Err(e) => (Err(e.to_string()), String::new()),
        };
        let _ = app
            .audit(
                &actor,
                "ca.bulk",
                &ca,
                outcome.as_ref().map(|_| ()).map_err(String::as_str),
                &detail,
            )
            .await;
        {
            let mut j = crate::lock(&state);
            match r {
                Ok(rep) => {
                    j.done = rep.rows;
                    j.total = rep.rows;
                    j.report = Some(rep);
                }
                Err(e) => j.error = Some(e.to_string()),
            }
            j.finished = true;
        }
    });
    Ok(Redirect::to(&format!("/ca/bulk/job/{id}")).into_response())
}

#[derive(Template)]
#[template(path = "bulk_job.html")]
struct JobPage {
    finished: bool,
    done: usize,
    total: usize,
    error: Option<String>,
    issued: Vec<(usize, String, String)>,
    skipped: Vec<(usize, String, String)>,
    failed: Vec<(usize, String, String)>,
}

async fn job(State(s): State<Arc<Server>>, c: Caller, Path(id): Path<String>) -> PageResult {
    c.require(Role::Operator)?;
    let state = crate::lock(&s.jobs).get(&id).cloned().ok_or_else(|| {
        Problem::not_found("no such bulk run (runs are kept while this process lives)")
    })?;
    let page = {
        let j = crate::lock(&state);
        let rep = j.report.as_ref();
        JobPage {
            finished: j.finished,
            done: j.done,
            total: j.total.max(j.done),
            error: j.error.clone(),
            issued: rep.map(|r| r.issued.clone()).unwrap_or_default(),
            skipped: rep.map(|r| r.skipped.clone()).unwrap_or_default(),
            failed: rep.map(|r| r.failed.clone()).unwrap_or_default(),
        }
    };
    Ok(render(&page))
}
