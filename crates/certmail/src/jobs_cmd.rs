//! The jobs as commands: `certmail crl update` (the CRL download job run once),
//! `certmail crl sources` (its per-source state) and `certmail expiry`.

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
/// The options of `certmail crl update`.
pub struct CrlUpdate<'a> {
    pub url: Option<&'a str>,
    pub timeout: u64,
    pub max_size: &'a str,
    pub interval: i64,
    /// `--allow-internal` (with `--url`).
    pub allow_internal: bool,
    pub json: bool,
}

pub async fn crl_update(app: &App, o: &CrlUpdate<'_>) -> Result<ExitCode, Failure> {
    let (url, timeout, max_size, interval, json) =
        (o.url, o.timeout, o.max_size, o.interval, o.json);
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
    let mut limits = Limits {
        timeout: Duration::from_secs(timeout),
        max_bytes,
        ..Limits::default()
    };
    limits.allow.everything = o.allow_internal && url.is_some();
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
    let rows = app.crl_source_views().await?;
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

/// `certmail expiry`: certificates with a private key, CA certificates and roots expiring
/// within `days`, soonest first.
pub async fn expiry(app: &App, days: i64, json: bool) -> Result<ExitCode, Failure> {
    if days <= 0 {
        return Err(Failure {
            code: 2,
            message: "--days must be above 0".into(),
        });
    }
    let rows = app.expiry_rows(days, 10_000).await?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        for r in &rows {
            println!(
                "{:<4}  {:>4} days  {}  {}  {}",
                r.kind,
                r.days_left,
                r.not_after,
                &r.sha256[..16],
                r.emails.first().unwrap_or(&r.subject)
            );
        }
        println!("{} certificate(s) expire within {days} days", rows.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// The host name for notices (`/proc/sys/kernel/hostname`, else `localhost`).
pub fn host_name() -> String {
    certmail_gateway::config::GatewayConfig::default().host_name()
}

/// `certmail expiry --notify ADMIN`: sends the warnings that are due through `next_hop`;
/// exit 1 when any was refused (it is tried again next time).
pub async fn expiry_notify(
    app: &App,
    admin: &str,
    next_hop: &str,
    from: Option<&str>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let host = host_name();
    let cfg = certmail_jobs::expiry::NotifyConfig {
        admin: admin.to_owned(),
        from: from.map_or_else(|| format!("certmail@{host}"), str::to_owned),
        hostname: host.clone(),
    };
    let relay = certmail_gateway::relay::Relay::new(
        next_hop,
        &host,
        Duration::from_secs(60),
        Duration::from_secs(120),
    );
    let out = certmail_jobs::expiry::notify(app, &relay, &cfg).await?;
    relay.close_idle().await;
    let failed = out.iter().any(|o| o.status == "failed");
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for o in &out {
            println!(
                "{} {} {} ({} days left, threshold {}) to {}{}",
                o.status,
                o.kind,
                &o.sha256[..16],
                o.days_left,
                o.threshold,
                o.to.join(", "),
                o.problem
                    .as_ref()
                    .map(|p| format!(": {p}"))
                    .unwrap_or_default()
            );
        }
        println!("{} warning(s) due", out.len());
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
