//! `certmail doctor` (name fixed): checks a running set-up and says, for each finding, what
//! to do. Local and read-only: the data directory, the key store, the ports of `serve`, the
//! next hop, Postfix's settings (read with `postconf` when it is installed), and what
//! expires or is stale. Exit 1 when a check finds a problem (warnings alone: 0).

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::{Command, ExitCode};
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::cli::{Cli, Failure};

/// Options of `certmail doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// The options `serve` runs with (its addresses and limits).
    #[command(flatten)]
    pub serve: crate::serve_cmd::ServeArgs,
    /// Postfix's configuration directory, for `postconf -c` [default: Postfix's own].
    #[arg(long, value_name = "DIR")]
    pub postfix_config_dir: Option<std::path::PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
}

/// One finding.
#[derive(Debug, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: String,
    /// `ok`, `warning` or `problem`.
    pub status: &'static str,
    /// What was found.
    pub detail: String,
    /// What to do (empty when ok).
    pub fix: String,
}

fn ok(check: &str, detail: impl Into<String>) -> Finding {
    Finding {
        check: check.into(),
        status: "ok",
        detail: detail.into(),
        fix: String::new(),
    }
}

fn bad(
    check: &str,
    status: &'static str,
    detail: impl Into<String>,
    fix: impl Into<String>,
) -> Finding {
    Finding {
        check: check.into(),
        status,
        detail: detail.into(),
        fix: fix.into(),
    }
}

/// The first line an SMTP server sends, within 5 seconds.
fn smtp_greeting(addr: &str) -> Result<String, String> {
    let sa = addr
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut s =
        TcpStream::connect_timeout(&sa, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).map_err(|e| e.to_string())?;
    let _ = s.write_all(b"QUIT\r\n");
    Ok(String::from_utf8_lossy(&buf[..n]).trim().to_owned())
}

/// `GET path` on the admin port: the status line and the body.
fn http_get(addr: &std::net::SocketAddr, path: &str) -> Result<(String, String), String> {
    let mut s =
        TcpStream::connect_timeout(addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: doctor\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .map_err(|e| e.to_string())?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out.lines().next().unwrap_or_default().to_owned();
    let body = out.split("\r\n\r\n").nth(1).unwrap_or_default().to_owned();
    Ok((status, body))
}

/// `postconf ARGS` (with `-c DIR`), or `None` when Postfix is not installed.
fn postconf(dir: Option<&std::path::Path>, args: &[&str]) -> Option<String> {
    let mut c = Command::new("postconf");
    if let Some(d) = dir {
        c.arg("-c").arg(d);
    }
    let o = c.args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).into_owned())
}

fn postfix_findings(
    cfg: &certmail_gateway::GatewayConfig,
    dir: Option<&std::path::Path>,
    out: &mut Vec<Finding>,
) {
    let Some(main_limit) = postconf(dir, &["-h", "message_size_limit"]) else {
        out.push(ok(
            "postfix",
            "postconf gave no answer (no Postfix here, or no main.cf): Postfix checks skipped",
        ));
        return;
    };
    let main_limit: u64 = main_limit.trim().parse().unwrap_or(0);
    // Where certmail is named as a content filter: main.cf or a service's -o override.
    let main_filter = postconf(dir, &["-h", "content_filter"]).unwrap_or_default();
    let overrides = postconf(dir, &["-P"]).unwrap_or_default();
    let port = cfg.smtp_listen.port();
    let names_certmail = |v: &str| v.contains(&format!(":{port}")) && v.contains(':');
    let filter_here = names_certmail(main_filter.trim())
        || overrides
            .lines()
            .any(|l| l.contains("/content_filter =") && names_certmail(l));
    out.push(if filter_here {
        ok(
            "postfix content_filter",
            format!("Postfix hands mail to port {port}"),
        )
    } else {
        bad(
            "postfix content_filter",
            "problem",
            format!("no content_filter names certmail's port {port}"),
            "add the content_filter line of `certmail postfix-config` to main.cf",
        )
    });
    // The certmail transport keeps 8-bit mail as it is.
    let mime_ok = overrides
        .lines()
        .any(|l| l.contains("/disable_mime_output_conversion = yes"));
    out.push(if mime_ok {
        ok("postfix 8-bit", "disable_mime_output_conversion = yes on the certmail transport")
    } else {
        bad(
            "postfix 8-bit",
            "problem",
            "Postfix may re-encode 8-bit mail on its way to certmail, which breaks signatures",
            "add `-o disable_mime_output_conversion=yes` to the certmail transport (see `certmail postfix-config`)",
        )
    });
    // The reinjection service must not hand mail to certmail again: without its
    // `-o content_filter=` a message goes round Postfix -> certmail -> Postfix until
    // hopcount_limit bounces it.
    let hop_port = cfg
        .next_hop
        .rsplit_once(':')
        .map_or("", |(_, p)| p)
        .to_owned();
    let reinjection: Vec<&str> = overrides
        .lines()
        .filter(|l| {
            l.split('/')
                .next()
                .is_some_and(|svc| svc.ends_with(&format!(":{hop_port}")) || svc == hop_port)
        })
        .collect();
    let clears_filter = reinjection
        .iter()
        .any(|l| l.contains("/content_filter =") && l.trim_end().ends_with('='));
    out.push(if reinjection.is_empty() {
        bad(
            "postfix loop",
            "problem",
            format!("no master.cf service listens on the next hop's port {hop_port}"),
            "add the reinjection smtpd of `certmail postfix-config` to master.cf",
        )
    } else if clears_filter {
        ok(
            "postfix loop",
            format!("the reinjection service on port {hop_port} clears content_filter"),
        )
    } else {
        bad(
            "postfix loop",
            "problem",
            format!(
                "the reinjection service on port {hop_port} does not clear content_filter: mail goes back to certmail until hopcount_limit bounces it"
            ),
            "add `-o content_filter=` to the reinjection smtpd (see `certmail postfix-config`)",
        )
    });
    // Each pass through certmail adds Received: lines (Postfix's smtpd, its reinjection
    // smtpd): a low hopcount_limit bounces mail that crossed a few relays before.
    let hops: u64 = postconf(dir, &["-h", "hopcount_limit"])
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(50);
    out.push(if hops >= 20 {
        ok("postfix hopcount", format!("hopcount_limit = {hops}"))
    } else {
        bad(
            "postfix hopcount",
            "warning",
            format!(
                "hopcount_limit = {hops}: the content filter adds two Received: lines per message, so mail that crossed {} relays before bounces",
                hops.saturating_sub(2)
            ),
            "keep Postfix's default hopcount_limit = 50",
        )
    });
    // The reinjection side takes the grown message.
    let need = crate::postfix_cmd::reinjection_limit(main_limit);
    let reinject_limits: Vec<u64> = overrides
        .lines()
        .filter(|l| l.contains("/message_size_limit = "))
        .filter_map(|l| l.rsplit(" = ").next()?.trim().parse().ok())
        .collect();
    out.push(if reinject_limits.len() >= 2 && reinject_limits.iter().all(|n| *n >= need) {
        ok(
            "postfix sizes",
            format!("the reinjection smtpd and its cleanup take {need} bytes or more"),
        )
    } else {
        bad(
            "postfix sizes",
            "problem",
            format!(
                "the reinjection side needs message_size_limit of at least {need} (1.5 x main.cf's {main_limit}) on its smtpd and its own cleanup; found {reinject_limits:?}"
            ),
            "use the master.cf lines of `certmail postfix-config`",
        )
    });
    if cfg.max_message_size < main_limit {
        out.push(bad(
            "sizes",
            "problem",
            format!(
                "certmail's max-message-size ({}) is below Postfix's message_size_limit ({main_limit})",
                cfg.max_message_size
            ),
            "raise max-message-size",
        ));
    }
}

/// The data directory's permissions.
fn data_dir_findings(cli: &Cli, out: &mut Vec<Finding>) {
    let data = cli.data_dir.clone();
    match std::fs::metadata(&data) {
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o777;
            out.push(if mode & 0o077 == 0 {
                ok(
                    "data directory",
                    format!("{} is private ({mode:o})", data.display()),
                )
            } else {
                bad(
                    "data directory",
                    "problem",
                    format!("{} is open to others ({mode:o})", data.display()),
                    format!("chmod 700 {}", data.display()),
                )
            });
        }
        Err(e) if cli.database_url.is_none() => out.push(bad(
            "data directory",
            "problem",
            format!("{}: {e}", data.display()),
            "run `certmail init`",
        )),
        Err(_) => {}
    }
}

/// The database, the key store, what expires soon and CRLs past their nextUpdate.
async fn store_findings(cli: &Cli, out: &mut Vec<Finding>) {
    let app = match crate::cli::open(cli).await {
        Ok(app) => app,
        Err(e) => {
            out.push(bad(
                "database",
                "problem",
                e.message,
                "run `certmail init`, or fix --database-url",
            ));
            return;
        }
    };
    out.push(match app.key_store_ready().await {
        Ok(()) => ok(
            "key store",
            "the database opens and the key store opens under this key",
        ),
        Err(e) => bad(
            "key store",
            "problem",
            e.to_string(),
            "check the passphrase or master.key",
        ),
    });
    let now = certmail_app::now();
    if let Ok(rows) = app.expiry_rows(30, 100).await {
        for r in rows {
            let status = if r.days_left < 7 {
                "problem"
            } else {
                "warning"
            };
            out.push(bad(
                "expiry",
                status,
                format!(
                    "{} {} expires in {} days ({})",
                    r.kind, r.subject, r.days_left, r.not_after
                ),
                "renew it (`certmail ca renew`, or a new certificate from its CA)",
            ));
        }
    }
    if let Ok(crls) = app.crls().await {
        for c in crls.iter().filter(|c| c.current) {
            let stale = c
                .next_update
                .as_deref()
                .and_then(certmail_pki::time::parse_rfc3339)
                .is_some_and(|t| t < now);
            if stale {
                out.push(bad(
                    "CRL",
                    "warning",
                    format!("the CRL of {} is past its nextUpdate", c.issuer),
                    "check its download (`certmail crl sources`), or import a newer one",
                ));
            }
        }
    }
    app.close().await;
}

/// The running gateway (its SMTP port and `/readyz`) and its next hop.
fn gateway_findings(cfg: &certmail_gateway::GatewayConfig, out: &mut Vec<Finding>) {
    let listen = cfg.smtp_listen.to_string();
    out.push(match smtp_greeting(&listen) {
        Ok(g) if g.starts_with("220") => ok("smtp", format!("{listen} answers: {g}")),
        Ok(g) => bad(
            "smtp",
            "problem",
            format!("{listen} answers {g:?}"),
            "is this certmail serve?",
        ),
        Err(e) => bad(
            "smtp",
            "problem",
            format!("nothing answers on {listen}: {e}"),
            "start `certmail serve`",
        ),
    });
    out.push(match http_get(&cfg.http_listen, "/readyz") {
        Ok((status, _)) if status.contains(" 200") => {
            ok("ready", format!("{} /readyz: ready", cfg.http_listen))
        }
        Ok((status, body)) => bad(
            "ready",
            "problem",
            format!("/readyz: {status} {body}"),
            "see the failing part above",
        ),
        Err(e) => bad(
            "ready",
            "warning",
            format!("{}: {e}", cfg.http_listen),
            "start `certmail serve`, or pass its --http-listen",
        ),
    });
    out.push(match smtp_greeting(&cfg.next_hop) {
        Ok(g) if g.starts_with("220") => ok("next hop", format!("{} answers", cfg.next_hop)),
        Ok(g) => bad(
            "next hop",
            "problem",
            format!("{} answers {g:?}", cfg.next_hop),
            "check --next-hop",
        ),
        Err(e) => bad(
            "next hop",
            "problem",
            format!("nothing answers on {}: {e}", cfg.next_hop),
            "start the reinjection smtpd (see `certmail postfix-config`) or fix --next-hop",
        ),
    });
}

/// Runs `certmail doctor`.
pub async fn run(cli: &Cli, a: &DoctorArgs) -> Result<ExitCode, Failure> {
    let cfg = a.serve.config()?;
    let mut out = Vec::new();
    data_dir_findings(cli, &mut out);
    store_findings(cli, &mut out).await;
    gateway_findings(&cfg, &mut out);
    postfix_findings(&cfg, a.postfix_config_dir.as_deref(), &mut out);
    let problems = out.iter().filter(|f| f.status == "problem").count();
    if a.json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for f in &out {
            println!("{:<8} {:<24} {}", f.status, f.check, f.detail);
            if !f.fix.is_empty() {
                println!("{:<8} {:<24} fix: {}", "", "", f.fix);
            }
        }
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
