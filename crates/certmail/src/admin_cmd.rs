//! `certmail admin add|list|delete|passwd|token` (web admin and API accounts) and
//! `certmail audit` (the audit log). Secrets made here are printed once, alone on the last
//! line of standard output, and stored only hashed.

use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::App;
use certmail_app::admin::{Actor, Role};
use certmail_store::AuditFilter;
use clap::{Args, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use crate::cli::{Failure, io_failure, usage};

/// A role.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Everything.
    Admin,
    /// Daily work: certificates, keys, CRLs, trust list, users and domains, CA issuance.
    Operator,
    /// Read only, no private key export.
    Auditor,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::Operator => Role::Operator,
            RoleArg::Auditor => Role::Auditor,
        }
    }
}

/// `certmail admin ...`.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (without --password-file a random password is made and printed once).
    Add {
        /// Login name.
        name: String,
        /// Role.
        #[arg(long, value_enum)]
        role: RoleArg,
        /// File whose first line is the password (at least 12 characters).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// List the accounts.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete an account with its tokens and sessions.
    Delete {
        /// Login name.
        name: String,
    },
    /// Set an account's password (ends its sessions); without --password-file a random one is printed.
    Passwd {
        /// Login name.
        name: String,
        /// File whose first line is the password.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Create an API token (`Authorization: Bearer TOKEN`), printed once on the last line.
    Token {
        /// Login name.
        name: String,
        /// Days until the token expires (default: never).
        #[arg(long)]
        expires_days: Option<u32>,
    },
}

/// `certmail audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only entries since this time (RFC 3339, YYYY-MM-DD, or a number of days like `7d`).
    #[arg(long)]
    since: Option<String>,
    /// Only this account.
    #[arg(long)]
    account: Option<String>,
    /// Only actions starting with this (e.g. `setting`).
    #[arg(long)]
    action: Option<String>,
    /// At most this many entries (newest first).
    #[arg(long, default_value_t = 100)]
    limit: i64,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

fn password_from(file: &Option<PathBuf>) -> Result<(Zeroizing<String>, bool), Failure> {
    match file {
        Some(f) => {
            let text = Zeroizing::new(
                std::fs::read_to_string(f).map_err(|e| io_failure(&f.display().to_string(), e))?,
            );
            let line = Zeroizing::new(text.lines().next().unwrap_or_default().to_owned());
            Ok((line, false))
        }
        None => Ok((certmail_app::ca::random_password(20)?, true)),
    }
}

/// Runs an admin command.
pub async fn run(app: &App, c: &AdminCommand) -> Result<ExitCode, Failure> {
    let me = Actor::cli();
    match c {
        AdminCommand::Add {
            name,
            role,
            password_file,
        } => {
            let (pw, generated) = password_from(password_file)?;
            let r = app.admin_add(name, (*role).into(), Some(&pw)).await;
            let a = app
                .audited(&me, "account.add", name, Role::from(*role).as_str(), r)
                .await?;
            println!("added account {} ({})", a.name, a.role.as_str());
            if generated {
                println!("password (shown once):");
                println!("{}", *pw);
            }
        }
        AdminCommand::List { json } => {
            let list = app.admin_list().await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&list).unwrap_or_default()
                );
            } else if list.is_empty() {
                println!("no accounts: `certmail serve` prints a one-time setup link");
            } else {
                for a in list {
                    println!(
                        "{:<24} {:<9} password={} tokens={} created={}",
                        a.name,
                        a.role.as_str(),
                        if a.has_password { "set" } else { "none" },
                        a.tokens,
                        certmail_app::format_time(a.created_at)
                    );
                }
            }
        }
        AdminCommand::Delete { name } => {
            let r = app.admin_delete(name).await;
            app.audited(&me, "account.delete", name, "", r).await?;
            println!("deleted account {name}");
        }
        AdminCommand::Passwd {
            name,
            password_file,
        } => {
            let (pw, generated) = password_from(password_file)?;
            let r = app.admin_passwd(name, &pw).await;
            app.audited(&me, "account.passwd", name, "", r).await?;
            println!("password of {name} changed; its sessions are ended");
            if generated {
                println!("password (shown once):");
                println!("{}", *pw);
            }
        }
        AdminCommand::Token { name, expires_days } => {
            let r = app.admin_token(name, *expires_days).await;
            let detail = expires_days.map_or("no expiry".to_owned(), |d| format!("{d} days"));
            let token = app.audited(&me, "account.token", name, &detail, r).await?;
            println!("API token for {name} ({detail}), shown once:");
            println!("{}", *token);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `certmail audit`.
pub async fn audit(app: &App, a: &AuditArgs) -> Result<ExitCode, Failure> {
    let since = match &a.since {
        Some(s) => Some(
            certmail_app::admin::parse_since(s, certmail_app::now())
                .map_err(|e| usage(format!("--{e}")))?,
        ),
        None => None,
    };
    let rows = app
        .audit_entries(&AuditFilter {
            since,
            account: a.account.clone(),
            action: a.action.clone(),
            before_id: None,
            limit: a.limit,
        })
        .await?;
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    } else {
        for r in rows {
            println!(
                "{} {} ({}) from {} {} {} {}{}",
                certmail_app::format_time(r.at),
                r.account,
                r.role,
                r.address,
                r.action,
                r.object,
                r.outcome,
                if r.detail.is_empty() {
                    String::new()
                } else {
                    format!(": {}", r.detail)
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}
