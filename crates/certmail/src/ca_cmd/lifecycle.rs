//! `certmail ca auto-renew|renew|refresh|revoke|crl`: what happens to certificates after
//! they are issued: renewal, refresh, revocation and the CA's CRLs.

use std::process::ExitCode;

use certmail_app::App;

use super::CrlArgs;
use crate::cli::{Failure, usage};
use crate::store_cmd::write_output;

fn reason_code(r: &str) -> Result<u8, Failure> {
    certmail_app::ca::revocation_reason(r).map_err(|e| usage(e.to_string()))
}

/// `ca auto-renew`: the auto-renew job once; exit 1 when a renewal failed.
pub(super) async fn auto_renew(
    app: &App,
    next_hop: &str,
    as_of: Option<&str>,
    json: bool,
) -> Result<ExitCode, Failure> {
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
    if json {
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
    Ok(ExitCode::SUCCESS)
}

/// `ca renew`.
pub(super) async fn renew(
    app: &App,
    thumbprint: &str,
    same_key: bool,
    days: u32,
) -> Result<ExitCode, Failure> {
    let v = app.ca_renew(thumbprint, same_key, days).await?;
    println!(
        "renewed: {} {} (not after {})",
        v.cert.sha256,
        v.cert.subject,
        v.cert.not_after_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ca refresh`.
pub(super) async fn refresh(app: &App, thumbprint: &str, days: u32) -> Result<ExitCode, Failure> {
    let v = app.ca_refresh(thumbprint, days).await?;
    println!(
        "refreshed: {} {} serial {} (not after {})",
        v.cert.sha256,
        v.cert.subject,
        v.cert.serial,
        v.cert.not_after_rfc3339()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ca revoke`.
pub(super) async fn revoke(
    app: &App,
    what: &str,
    reason: Option<&str>,
    ca: &str,
) -> Result<ExitCode, Failure> {
    let code = reason.map(reason_code).transpose()?;
    let (row, serial) = app.ca_revoke(ca, what, code).await?;
    println!(
        "revoked serial {serial} of CA {}; run `certmail ca crl --ca {}` to publish",
        row.name, row.id
    );
    Ok(ExitCode::SUCCESS)
}

/// `ca crl`: the next CRL into the CRL store, and with -o into a file.
pub(super) async fn crl(app: &App, a: &CrlArgs) -> Result<ExitCode, Failure> {
    let r = app
        .ca_crl(
            &a.ca,
            &a.revoke,
            a.next_update_days,
            !a.no_update_existing,
            a.drop_expired,
        )
        .await?;
    println!(
        "{} CRL {} number {}",
        r.status,
        r.sha256,
        r.number.as_deref().unwrap_or("-")
    );
    if let Some(o) = &a.output {
        let (_, crl) = app.crl(&r.sha256).await?;
        write_output(Some(o), crl.to_pem().as_bytes(), a.force)?;
    }
    Ok(ExitCode::SUCCESS)
}
