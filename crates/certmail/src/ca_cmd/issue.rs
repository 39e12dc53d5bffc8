//! `certmail ca issue|request|pending|sign-csr|bulk`: issuing end-user certificates, one at
//! a time, through a request handler and its pending queue, from a CSR or from a CSV file.

use std::process::ExitCode;

use certmail_app::App;
use certmail_app::ca::{BuiltIn, CsrHandler, HandlerOutcome, IssueParams, RequestHandler};
use certmail_ca::{EndUserRequest, KeySpec, SigHash};

use super::{BulkArgs, IssueArgs, PendingCommand, RequestArgs, SignCsrArgs};
use crate::cli::{Failure, usage};
use crate::store_cmd::write_output;

/// `ca issue`, and with --send the mail of the new certificate and key (`ca send`).
pub(super) async fn issue(app: &App, a: &IssueArgs) -> Result<ExitCode, Failure> {
    if let Some(k) = &a.key {
        KeySpec::parse(k).map_err(|e| usage(e.to_string()))?;
    }
    if let Some(h) = &a.sig {
        SigHash::parse(h).map_err(|e| usage(e.to_string()))?;
    }
    let req = app
        .ca_end_user_request(&IssueParams {
            email: a.email.clone(),
            cn: a.cn.clone(),
            org: a.org.clone(),
            first_name: a.first_name.clone(),
            last_name: a.last_name.clone(),
            days: a.days,
            key: a.key.clone(),
            sig: a.sig.clone(),
            crl_url: a.crl_url.clone(),
        })
        .await?;
    let v = app.ca_issue(&a.ca, &req, "cli", a.add_user).await?;
    println!("issued {} {}", v.cert.sha256, v.cert.subject);
    if a.send {
        return super::deliver::send_certificates(
            app,
            std::slice::from_ref(&v.cert.sha256),
            &a.email,
            false,
            &a.delivery,
        )
        .await;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca sign-csr`.
pub(super) async fn sign_csr(app: &App, a: &SignCsrArgs) -> Result<ExitCode, Failure> {
    let data = std::fs::read(&a.csr).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", a.csr.display()),
    })?;
    let v = app
        .ca_sign_csr(&a.ca, &data, a.email.as_deref(), a.days, "cli")
        .await?;
    println!("issued {} {}", v.cert.sha256, v.cert.subject);
    if let Some(o) = &a.output {
        write_output(Some(o), v.cert.to_pem().as_bytes(), a.force)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca bulk`: exit 1 when a row could not be read or a request failed.
pub(super) async fn bulk(app: &App, a: &BulkArgs) -> Result<ExitCode, Failure> {
    let data = std::fs::read(&a.file).map_err(|e| Failure {
        code: 1,
        message: format!("{}: {e}", a.file.display()),
    })?;
    let opts = certmail_app::ca::BulkOptions {
        ca: a.ca.clone(),
        key: KeySpec::parse(&a.key).map_err(|e| usage(e.to_string()))?,
        hash: SigHash::parse(&a.sig).map_err(|e| usage(e.to_string()))?,
        days: a.days,
        preview: a.preview,
        limits: certmail_ca::csv::Limits {
            max_rows: a.max_rows,
            max_entry: 256,
        },
    };
    let show_progress = !a.json && !a.preview;
    let mut progress = |done: usize, total: usize| {
        if show_progress && total > 0 {
            let width = 30;
            let filled = done * width / total;
            eprint!(
                "\r[{}{}] {done}/{total}",
                "#".repeat(filled),
                " ".repeat(width - filled)
            );
            if done == total {
                eprintln!();
            }
        }
    };
    let r = app.ca_bulk(&data, &opts, &mut progress).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
    } else {
        print_bulk(&r, a.preview);
    }
    Ok(if r.failed.is_empty() && r.row_errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The text report of `ca bulk`.
fn print_bulk(r: &certmail_app::ca::BulkReport, preview: bool) {
    for e in &r.row_errors {
        println!("row error: {e}");
    }
    if preview {
        println!(
            "preview: {} request(s) valid, {} row error(s); nothing issued",
            r.rows,
            r.row_errors.len()
        );
        return;
    }
    for (line, email, sha) in &r.issued {
        println!("issued line {line} {email} {sha}");
    }
    for (line, email, why) in &r.skipped {
        println!("skipped line {line} {email}: {why}");
    }
    for (line, email, why) in &r.failed {
        println!("failed line {line} {email}: {why}");
    }
    println!(
        "{} issued, {} skipped, {} failed, {} row error(s)",
        r.issued.len(),
        r.skipped.len(),
        r.failed.len(),
        r.row_errors.len()
    );
}

/// `ca request`: through the csr handler (into the pending queue) or the built-in one.
pub(super) async fn request(app: &App, a: &RequestArgs) -> Result<ExitCode, Failure> {
    let req = EndUserRequest {
        email: a.email.clone(),
        cn: a.cn.clone(),
        org: a.org.clone(),
        first_name: None,
        last_name: None,
        days: a.days,
        key: KeySpec::parse(&a.key).map_err(|e| usage(e.to_string()))?,
        hash: SigHash::parse(&a.sig).map_err(|e| usage(e.to_string()))?,
        crl_url: None,
    };
    let handler = match &a.handler {
        Some(h) => h.clone(),
        None => app.ca_config().await?.request_handler,
    };
    let outcome = match handler.as_str() {
        "csr" => CsrHandler.submit(app, &a.ca, &req).await?,
        "built-in" => BuiltIn.submit(app, &a.ca, &req).await?,
        other => {
            return Err(usage(format!(
                "unknown request handler {other:?}: use csr or built-in"
            )));
        }
    };
    match outcome {
        HandlerOutcome::Issued(v) => {
            println!("issued {} {}", v.cert.sha256, v.cert.subject)
        }
        HandlerOutcome::Pending(id) => println!(
            "pending request {id}: `certmail ca pending download {id}` for the CSR, then `certmail ca pending upload CERT`"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca pending ...`.
pub(super) async fn pending(app: &App, p: &PendingCommand) -> Result<ExitCode, Failure> {
    match p {
        PendingCommand::List { json } => {
            let rows = app.pending_requests().await?;
            if *json {
                crate::render::json(&rows);
            } else {
                for r in &rows {
                    println!(
                        "{:>4}  {:<8}  {:<32}  next {}",
                        r.id,
                        r.handler,
                        r.email,
                        certmail_pki::time::format_rfc3339(r.next_attempt)
                    );
                }
                println!("{} pending request(s)", rows.len());
            }
        }
        PendingCommand::Download { id, output, force } => {
            let r = app.ca_pending_get(*id).await?;
            write_output(
                output.as_ref(),
                certmail_pki::pem::encode("CERTIFICATE REQUEST", &r.csr).as_bytes(),
                *force,
            )?;
        }
        PendingCommand::Upload { file } => {
            let data = std::fs::read(file).map_err(|e| Failure {
                code: 1,
                message: format!("{}: {e}", file.display()),
            })?;
            let (v, id) = app.ca_upload(&data).await?;
            println!(
                "pending request {id} completed: {} {} (key linked: {})",
                v.cert.sha256,
                v.cert.subject,
                if v.has_key { "yes" } else { "no" }
            );
        }
        PendingCommand::Reschedule { id, delay } => {
            let at = app.ca_pending_reschedule(*id, *delay).await?;
            println!(
                "pending request {id} next attempt {}",
                certmail_pki::time::format_rfc3339(at)
            );
        }
        PendingCommand::Delete { id } => {
            app.ca_pending_delete(*id).await?;
            println!("deleted pending request {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
