//! `certmail ca ...`.

use std::process::ExitCode;

use certmail_app::App;
use certmail_app::ca::{CaCreate, IssueParams};
use certmail_ca::{EndUserRequest, KeySpec, SigHash};

use certmail_app::ca::{BuiltIn, CsrHandler, HandlerOutcome, RequestHandler};

use crate::cli::{CaCommand, Failure, PendingCommand, read_password, write_output};

fn usage(message: String) -> Failure {
    Failure { code: 2, message }
}

fn reason_code(r: &str) -> Result<u8, Failure> {
    certmail_app::ca::revocation_reason(r).map_err(|e| usage(e.to_string()))
}

/// Runs a CA command.
pub async fn run(app: &App, c: &CaCommand) -> Result<ExitCode, Failure> {
    match c {
        CaCommand::Create {
            root_cn,
            under,
            intermediate_cn,
            key,
            days,
            sig,
            email,
            default,
        } => {
            let key = KeySpec::parse(key).map_err(|e| usage(e.to_string()))?;
            let hash = SigHash::parse(sig).map_err(|e| usage(e.to_string()))?;
            let ca = match (root_cn, under) {
                (_, Some(parent)) => {
                    let spec = certmail_ca::CaSpec {
                        cn: intermediate_cn.clone(),
                        email: email.clone(),
                        days: *days,
                        key,
                        hash,
                        path_len: Some(0),
                    };
                    app.ca_create_under(parent, spec, *default).await?
                }
                (Some(root_cn), None) => {
                    let create = CaCreate {
                        root_cn: root_cn.clone(),
                        intermediate_cn: intermediate_cn.clone(),
                        key,
                        days: *days,
                        hash,
                        email: email.clone(),
                        make_default: *default,
                    };
                    app.ca_create(&create).await?
                }
                (None, None) => return Err(usage("give --root-cn or --under".into())),
            };
            println!(
                "created CA {} (id {}){}",
                ca.name,
                ca.id,
                if ca.is_default {
                    ", the default CA"
                } else {
                    ""
                }
            );
            println!("  root {} (root store)", ca.root_sha256);
            println!("  intermediate {} (certificate store)", ca.signer_sha256);
        }
        CaCommand::Import {
            cert,
            key,
            password,
            sig,
            default,
        } => {
            let pw = read_password(password)?;
            let hash = SigHash::parse(sig).map_err(|e| usage(e.to_string()))?;
            let read = |p: &std::path::PathBuf| {
                std::fs::read(p).map_err(|e| Failure {
                    code: 1,
                    message: format!("{}: {e}", p.display()),
                })
            };
            let (cert_file, key_file) = (read(cert)?, read(key)?);
            let row = app
                .ca_import_files(
                    &cert_file,
                    &key_file,
                    pw.as_ref().map(|p| p.as_str()),
                    hash,
                    *default,
                )
                .await?;
            println!(
                "imported CA {} (id {}){}",
                row.name,
                row.id,
                if row.is_default {
                    ", the default CA"
                } else {
                    ""
                }
            );
        }
        CaCommand::List { json } => {
            let cas = app.ca_list().await?;
            if *json {
                let rows: Vec<_> = cas
                    .iter()
                    .map(|c| serde_json::json!({"id": c.id, "name": c.name, "root": c.root_sha256, "intermediate": c.signer_sha256, "hash": c.hash, "default": c.is_default, "crl_number": c.crl_number}))
                    .collect();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            } else {
                for c in &cas {
                    println!(
                        "{:>3}  {}  {}{}",
                        c.id,
                        &c.signer_sha256[..16],
                        c.name,
                        if c.is_default { "  (default)" } else { "" }
                    );
                }
                println!("{} CA(s)", cas.len());
            }
        }
        CaCommand::Config { key, value, json } => {
            let cfg = match (key, value) {
                (Some(k), Some(v)) => app.ca_config_set(k, v).await?,
                (Some(k), None) => return Err(usage(format!("give a value for {k}"))),
                _ => app.ca_config().await?,
            };
            if *json || key.is_none() {
                println!("{}", serde_json::to_string_pretty(&cfg).unwrap_or_default());
            } else {
                println!("{} set", key.as_deref().unwrap_or_default());
            }
        }
        CaCommand::Default { ca } => {
            let row = app.ca_set_default(ca).await?;
            println!("default CA: {} (id {})", row.name, row.id);
        }
        CaCommand::Issue {
            email,
            cn,
            org,
            first_name,
            last_name,
            days,
            key,
            sig,
            ca,
            crl_url,
            add_user,
            send,
            delivery,
        } => {
            if let Some(k) = key {
                KeySpec::parse(k).map_err(|e| usage(e.to_string()))?;
            }
            if let Some(h) = sig {
                SigHash::parse(h).map_err(|e| usage(e.to_string()))?;
            }
            let req = app
                .ca_end_user_request(&IssueParams {
                    email: email.clone(),
                    cn: cn.clone(),
                    org: org.clone(),
                    first_name: first_name.clone(),
                    last_name: last_name.clone(),
                    days: *days,
                    key: key.clone(),
                    sig: sig.clone(),
                    crl_url: crl_url.clone(),
                })
                .await?;
            let v = app.ca_issue(ca, &req, "cli", *add_user).await?;
            println!("issued {} {}", v.cert.sha256, v.cert.subject);
            if *send {
                return send_certificates(
                    app,
                    std::slice::from_ref(&v.cert.sha256),
                    email,
                    false,
                    delivery,
                )
                .await;
            }
        }
        CaCommand::Send {
            thumbprints,
            to,
            allow_mismatch,
            delivery,
        } => return send_certificates(app, thumbprints, to, *allow_mismatch, delivery).await,
        CaCommand::SignCsr {
            csr,
            email,
            days,
            ca,
            output,
            force,
        } => {
            let data = std::fs::read(csr).map_err(|e| Failure {
                code: 1,
                message: format!("{}: {e}", csr.display()),
            })?;
            let v = app
                .ca_sign_csr(ca, &data, email.as_deref(), *days, "cli")
                .await?;
            println!("issued {} {}", v.cert.sha256, v.cert.subject);
            if let Some(o) = output {
                write_output(Some(o), v.cert.to_pem().as_bytes(), *force)?;
            }
        }
        CaCommand::Bulk {
            file,
            preview,
            ca,
            key,
            sig,
            days,
            max_rows,
            json,
        } => {
            let data = std::fs::read(file).map_err(|e| Failure {
                code: 1,
                message: format!("{}: {e}", file.display()),
            })?;
            let opts = certmail_app::ca::BulkOptions {
                ca: ca.clone(),
                key: KeySpec::parse(key).map_err(|e| usage(e.to_string()))?,
                hash: SigHash::parse(sig).map_err(|e| usage(e.to_string()))?,
                days: *days,
                preview: *preview,
                limits: certmail_ca::csv::Limits {
                    max_rows: *max_rows,
                    max_entry: 256,
                },
            };
            let show_progress = !*json && !*preview;
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
            if *json {
                println!("{}", serde_json::to_string_pretty(&r).unwrap_or_default());
            } else {
                for e in &r.row_errors {
                    println!("row error: {e}");
                }
                if *preview {
                    println!(
                        "preview: {} request(s) valid, {} row error(s); nothing issued",
                        r.rows,
                        r.row_errors.len()
                    );
                } else {
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
            }
            return Ok(if r.failed.is_empty() && r.row_errors.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        CaCommand::Request {
            handler,
            email,
            cn,
            org,
            key,
            sig,
            days,
            ca,
        } => {
            let req = EndUserRequest {
                email: email.clone(),
                cn: cn.clone(),
                org: org.clone(),
                first_name: None,
                last_name: None,
                days: *days,
                key: KeySpec::parse(key).map_err(|e| usage(e.to_string()))?,
                hash: SigHash::parse(sig).map_err(|e| usage(e.to_string()))?,
                crl_url: None,
            };
            let handler = match handler {
                Some(h) => h.clone(),
                None => app.ca_config().await?.request_handler,
            };
            let outcome = match handler.as_str() {
                "csr" => CsrHandler.submit(app, ca, &req).await?,
                "built-in" => BuiltIn.submit(app, ca, &req).await?,
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
        }
        CaCommand::Pending(p) => match p {
            PendingCommand::List { json } => {
                let rows = app.ca_pending().await?;
                if *json {
                    let out: Vec<_> = rows
                        .iter()
                        .map(|r| serde_json::json!({"id": r.id, "handler": r.handler, "email": r.email, "subject": r.subject, "key_id": r.key_id, "created_at": r.created_at, "next_attempt": r.next_attempt, "attempts": r.attempts, "last_error": r.last_error}))
                        .collect();
                    println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
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
        },
        CaCommand::AutoRenew {
            next_hop,
            as_of,
            json,
        } => {
            let now = match as_of {
                Some(t) => certmail_pki::time::parse_rfc3339(t)
                    .ok_or_else(|| usage(format!("--as-of {t:?} is not an RFC 3339 time")))?,
                None => certmail_app::now(),
            };
            let relay = certmail_gateway::relay::Relay::new(
                next_hop,
                &crate::jobs_cmd::host_name(),
                std::time::Duration::from_secs(60),
                std::time::Duration::from_secs(120),
            );
            let out = certmail_jobs::renew::run(app, &relay, now).await;
            relay.close_idle().await;
            let out = out?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                for o in &out {
                    println!(
                        "{} {} -> {} for {}{}",
                        o.status,
                        o.old,
                        o.new.as_deref().unwrap_or("-"),
                        o.email,
                        o.problem
                            .as_ref()
                            .map(|p| format!(": {p}"))
                            .unwrap_or_default()
                    );
                }
                println!("{} renewed", out.iter().filter(|o| o.new.is_some()).count());
            }
            if out.iter().any(|o| o.status == "failed") {
                return Ok(ExitCode::from(1));
            }
        }
        CaCommand::Renew {
            thumbprint,
            same_key,
            days,
        } => {
            let v = app.ca_renew(thumbprint, *same_key, *days).await?;
            println!(
                "renewed: {} {} (not after {})",
                v.cert.sha256,
                v.cert.subject,
                v.cert.not_after_rfc3339()
            );
        }
        CaCommand::Refresh { thumbprint, days } => {
            let v = app.ca_refresh(thumbprint, *days).await?;
            println!(
                "refreshed: {} {} serial {} (not after {})",
                v.cert.sha256,
                v.cert.subject,
                v.cert.serial,
                v.cert.not_after_rfc3339()
            );
        }
        CaCommand::Revoke { what, reason, ca } => {
            let code = reason.as_deref().map(reason_code).transpose()?;
            let (row, serial) = app.ca_revoke(ca, what, code).await?;
            println!(
                "revoked serial {serial} of CA {}; run `certmail ca crl --ca {}` to publish",
                row.name, row.id
            );
        }
        CaCommand::Crl {
            ca,
            revoke,
            next_update_days,
            no_update_existing,
            drop_expired,
            output,
            force,
        } => {
            let r = app
                .ca_crl(
                    ca,
                    revoke,
                    *next_update_days,
                    !*no_update_existing,
                    *drop_expired,
                )
                .await?;
            println!(
                "{} CRL {} number {}",
                r.status,
                r.sha256,
                r.number.as_deref().unwrap_or("-")
            );
            if let Some(o) = output {
                let (_, crl) = app.crl(&r.sha256).await?;
                write_output(Some(o), crl.to_pem().as_bytes(), *force)?;
            }
        }
        CaCommand::P12 {
            thumbprint,
            legacy,
            password,
            to,
            allow_mismatch,
            store_password,
            output,
            force,
        } => {
            let given = read_password(password)?;
            let generated = given.is_none();
            let (data, pw, to) = app
                .ca_deliver(
                    thumbprint,
                    to.as_deref(),
                    *allow_mismatch,
                    given,
                    *legacy,
                    *store_password,
                )
                .await?;
            write_output(Some(output), &data, *force)?;
            println!(
                "wrote {} for {} ({} form)",
                output.display(),
                to.as_deref().unwrap_or("-"),
                if *legacy {
                    "legacy 3DES"
                } else {
                    "modern AES-256"
                }
            );
            if generated {
                println!("password: {}", pw.as_str());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca send` and `ca issue --send`: exit 0 when the PKCS#12 and the password went their
/// ways, 1 when the mail was not accepted (nothing was sent) or the password's way failed
/// (the password is then printed here, once).
async fn send_certificates(
    app: &App,
    thumbprints: &[String],
    to: &str,
    allow_mismatch: bool,
    d: &crate::cli::SendArgs,
) -> Result<ExitCode, Failure> {
    use certmail_app::ca_send::{PasswordTo, SendRequest};
    let password_to = match d.password_to {
        crate::cli::PasswordTo::Admin => PasswordTo::Admin,
        crate::cli::PasswordTo::Sms => PasswordTo::Sms,
        crate::cli::PasswordTo::Sender => PasswordTo::Sender(
            d.sender
                .clone()
                .ok_or_else(|| crate::cli::usage("--password-to sender needs --sender ADDR"))?,
        ),
    };
    let req = SendRequest {
        thumbprints: thumbprints.to_vec(),
        to: to.to_owned(),
        password: read_password(&d.password)?,
        password_to,
        store_password: d.store_password,
        allow_mismatch,
        legacy: d.legacy,
    };
    let prepared = app.ca_send_prepare(&req).await?;
    let (n, keys, from, rcpt) = (
        prepared.sent.len(),
        prepared.with_keys,
        prepared.from.clone(),
        prepared.to.clone(),
    );
    let relay = certmail_gateway::relay::Relay::new(
        &d.next_hop,
        &crate::jobs_cmd::host_name(),
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(120),
    );
    let o = certmail_jobs::ca_send::send(&relay, prepared).await;
    relay.close_idle().await;
    if let Err(why) = &o.mail {
        return Err(Failure {
            code: 1,
            message: format!(
                "the certificate mail to {rcpt} was not accepted, nothing was sent: {why}"
            ),
        });
    }
    println!(
        "sent {n} certificate(s) ({keys} with key) from {from} to {rcpt}; password {}",
        o.password_way
    );
    if let Some(p) = &o.password_problem {
        eprintln!(
            "error: the password could not be delivered: {p}; give it to the recipient another way"
        );
    }
    if let Some(pw) = &o.show_password {
        println!("password: {}", pw.as_str());
    }
    Ok(if o.password_problem.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
