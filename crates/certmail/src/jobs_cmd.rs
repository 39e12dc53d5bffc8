//! `certmail crl update` and `certmail crl sources`: the CRL download job run once, and
//! its per-source state.

use std::process::ExitCode;
use std::time::Duration;

use certmail_app::App;
use certmail_app::crl_sources::CrlSchedule;
use certmail_jobs::fetch::Limits;
use certmail_pki::time::format_rfc3339;

use crate::cli::Failure;

fn when(t: Option<i64>) -> String {
    t.map_or_else(|| "-".to_owned(), format_rfc3339)
}

/// `certmail crl update`: exit 0 when every source was fetched (or had not changed), 1 when
/// any failed (what is in use stays in use).
pub async fn crl_update(
    app: &App,
    url: Option<&str>,
    timeout: u64,
    max_size: &str,
    interval: i64,
    json: bool,
) -> Result<ExitCode, Failure> {
    let max_bytes = certmail_gateway::config::parse_size(max_size).map_err(|e| Failure {
        code: 2,
        message: format!("--max-size: {e}"),
    })?;
    if timeout == 0 || interval <= 0 {
        return Err(Failure {
            code: 2,
            message: "--timeout and --interval must be above 0".into(),
        });
    }
    let limits = Limits {
        timeout: Duration::from_secs(timeout),
        max_bytes,
        ..Limits::default()
    };
    let schedule = CrlSchedule {
        interval,
        ..CrlSchedule::default()
    };
    let outcomes = certmail_jobs::crl::update(app, url, &limits, &schedule).await?;
    let failed = outcomes.iter().any(|o| o.status == "failed");
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&outcomes).unwrap_or_default()
        );
    } else {
        for o in &outcomes {
            let crl = o
                .crls
                .first()
                .map(|c| {
                    format!(
                        " {} number {}",
                        c.issuer,
                        c.number.as_deref().unwrap_or("-")
                    )
                })
                .unwrap_or_default();
            let why = o
                .problem
                .as_ref()
                .map(|p| format!(": {p}"))
                .unwrap_or_default();
            println!(
                "{} {}{crl}{why} (next {})",
                o.status,
                o.url,
                format_rfc3339(o.next_attempt)
            );
        }
        println!("{} source(s) due", outcomes.len());
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `certmail crl sources`.
pub async fn crl_sources(app: &App, json: bool) -> Result<ExitCode, Failure> {
    let rows = app.crl_sources().await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    }
    for r in &rows {
        println!("{}", r.url);
        println!(
            "  last success {}  last try {}  next {}",
            when(r.last_success),
            when(r.last_attempt),
            format_rfc3339(r.next_attempt)
        );
        if let Some(e) = &r.last_error {
            println!("  last error: {e}");
        }
        if r.size.is_some() || r.crl_number.is_some() {
            println!(
                "  {} bytes, CRL number {} from {}",
                r.size.map_or_else(|| "-".to_owned(), |s| s.to_string()),
                r.crl_number.as_deref().unwrap_or("-"),
                r.issuer.as_deref().unwrap_or("-")
            );
        }
    }
    println!("{} source(s)", rows.len());
    Ok(ExitCode::SUCCESS)
}
