//! `certmail hold list|show|release [--clear]|delete ID` (names fixed): the hold queue.

use std::process::ExitCode;
use std::time::Duration;

use certmail_app::App;
use certmail_pki::time::format_rfc3339;
use clap::Subcommand;

use crate::cli::Failure;

/// The hold queue: mail kept because its policy requires encryption and no usable
/// certificate was there (`on-missing-certificate hold`).
#[derive(Debug, Subcommand)]
pub enum HoldCommand {
    /// List held messages, oldest first.
    List {
        /// Only messages whose sender or recipient contains this.
        #[arg(long)]
        search: Option<String>,
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: i64,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one held message: envelope, reason, and its header section (--full: the whole
    /// message).
    Show {
        /// The id from `hold list`.
        id: i64,
        /// Print the whole message, not only its header section.
        #[arg(long)]
        full: bool,
    },
    /// Release a held message: processed again now and handed to the next hop, encrypted
    /// (refused while its recipient still has no usable certificate), or with --clear
    /// encrypted if possible and otherwise in clear.
    Release {
        /// The id from `hold list`.
        id: i64,
        /// Allow clear text when the recipient still has no usable certificate.
        #[arg(long)]
        clear: bool,
        /// Where the message is handed over (SMTP).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10026")]
        next_hop: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Drop the held messages past their expiry (hold-expire-days) now, each with a notice
    /// to its sender: what `serve` does every minute, for cron users.
    Expire {
        /// Where the notices are handed over (SMTP).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10026")]
        next_hop: String,
        /// Judge expiry as of this time (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
    },
    /// Delete a held message (it is not sent).
    Delete {
        /// The id from `hold list`.
        id: i64,
    },
}

pub async fn run(app: &App, c: &HoldCommand) -> Result<ExitCode, Failure> {
    match c {
        HoldCommand::List {
            search,
            limit,
            json,
        } => {
            let rows = app.hold_list(search.as_deref(), *limit, 0).await?;
            if *json {
                let v: Vec<serde_json::Value> = rows
                    .iter()
                    .map(|r| {
                        serde_json::json!({
                            "id": r.id,
                            "gateway_id": r.gateway_id,
                            "sender": r.sender,
                            "recipient": r.recipient,
                            "subject": r.subject,
                            "reason": r.reason,
                            "size": r.size,
                            "held_at": format_rfc3339(r.created_at),
                            "expires_at": format_rfc3339(r.expires_at),
                            "last_error": r.last_error,
                        })
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                for r in &rows {
                    println!(
                        "{}\t{}\t<{}> -> <{}>\t{}\t{}",
                        r.id,
                        format_rfc3339(r.created_at),
                        r.sender,
                        r.recipient,
                        r.subject,
                        r.reason
                    );
                }
                println!("{} held", rows.len());
            }
        }
        HoldCommand::Show { id, full } => {
            let (r, msg) = app.hold_show(*id).await?;
            println!("id: {}", r.id);
            println!("gateway id: {}", r.gateway_id);
            println!("sender: <{}>", r.sender);
            println!("recipient: <{}>", r.recipient);
            println!("reason: {}", r.reason);
            println!("held at: {}", format_rfc3339(r.created_at));
            println!("expires at: {}", format_rfc3339(r.expires_at));
            println!("size: {} bytes", r.size);
            if let Some(e) = &r.last_error {
                println!("last release attempt: {e}");
            }
            println!();
            if *full {
                print!("{}", String::from_utf8_lossy(&msg));
            } else {
                let head = certmail_app::mailflow::header_section(&msg);
                print!("{}", String::from_utf8_lossy(&head));
            }
        }
        HoldCommand::Release {
            id,
            clear,
            next_hop,
            json,
        } => {
            let host = crate::jobs_cmd::host_name();
            let relay = certmail_gateway::relay::Relay::new(
                next_hop,
                &host,
                Duration::from_secs(60),
                Duration::from_secs(600),
            );
            let o = certmail_jobs::hold::release(app, &relay, *id, *clear).await;
            relay.close_idle().await;
            let o = o?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&o).unwrap_or_default());
            } else {
                println!(
                    "{} {} to <{}> ({}){}",
                    o.status,
                    o.id,
                    o.recipient,
                    o.action,
                    o.problem
                        .as_ref()
                        .map(|p| format!(": {p}; still held"))
                        .unwrap_or_default()
                );
            }
            if o.status != "released" {
                return Ok(ExitCode::from(1));
            }
        }
        HoldCommand::Expire { next_hop, as_of } => {
            let now = match as_of {
                Some(t) => certmail_pki::time::parse_rfc3339(t).ok_or_else(|| {
                    crate::cli::usage(format!("--as-of {t:?} is not an RFC 3339 time"))
                })?,
                None => certmail_app::now(),
            };
            let host = crate::jobs_cmd::host_name();
            let relay = certmail_gateway::relay::Relay::new(
                next_hop,
                &host,
                Duration::from_secs(60),
                Duration::from_secs(120),
            );
            let ids = certmail_jobs::hold::expire(app, &relay, &host, now).await;
            relay.close_idle().await;
            let ids = ids?;
            for id in &ids {
                println!("expired {id}; sender told");
            }
            println!("{} expired", ids.len());
        }
        HoldCommand::Delete { id } => {
            let r = app.hold_delete(*id).await?;
            println!("deleted {} (<{}> -> <{}>)", r.id, r.sender, r.recipient);
        }
    }
    Ok(ExitCode::SUCCESS)
}
