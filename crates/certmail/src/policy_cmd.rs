//! `certmail user|domain|global|select|recipients`: the clap types of the policy commands
//! and what they run.

use std::process::ExitCode;

use certmail_app::App;
use certmail_app::policy::{
    Recipient, Resolved, chain_for_domain, chain_for_user, normalise_domain, normalise_email,
};
use certmail_store::{ExpiredFilter, KeyFilter, ListFilter, Party, SelectionKind, StoreKind};
use clap::{Args, Subcommand};

use crate::cli::Failure;
use crate::store_cmd::Expiry;

#[derive(Debug, Subcommand)]
pub enum PartyCommand {
    /// Resolved settings with their source.
    Show {
        /// E-mail address or domain.
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a setting.
    Set {
        /// E-mail address or domain.
        name: String,
        /// Setting key.
        key: String,
        /// Value.
        value: String,
    },
    /// Reset a setting to inherit.
    Unset {
        /// E-mail address or domain.
        name: String,
        /// Setting key.
        key: String,
    },
    /// Delete the user or domain with its settings and certificate selections (the
    /// certificates stay).
    Delete {
        /// E-mail address or domain.
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum GlobalCommand {
    /// Resolved global settings.
    Show {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Set a global setting.
    Set {
        /// Setting key.
        key: String,
        /// Value.
        value: String,
    },
    /// Reset a global setting to the factory default.
    Unset {
        /// Setting key.
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SelectCommand {
    /// Encryption certificates of a user or domain; without --add/--remove, show them and the
    /// candidates (filtered by e-mail: the user's address by default, none for domains).
    Encryption(EncryptionArgs),
    /// The signing certificate of a user.
    Signing {
        /// E-mail address.
        email: String,
        /// Select manually (needs a private key).
        #[arg(long, conflicts_with = "auto")]
        set: Option<String>,
        /// Back to automatic selection.
        #[arg(long)]
        auto: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Additional (escrow) certificates: `global`, a domain or a user.
    Additional {
        /// `global`, a domain or an e-mail address.
        target: String,
        /// Add.
        #[arg(long, conflicts_with = "remove")]
        add: Option<String>,
        /// Remove.
        #[arg(long)]
        remove: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `select encryption`: the target and what to do with its selections.
#[derive(Debug, Args)]
pub struct EncryptionArgs {
    /// E-mail address or domain.
    pub target: String,
    /// Select a certificate manually.
    #[arg(long, conflicts_with = "remove")]
    pub add: Option<String>,
    /// Remove a manual selection.
    #[arg(long)]
    pub remove: Option<String>,
    /// Candidate filter text (default: the user's address; domains: none).
    #[arg(long)]
    pub filter: Option<String>,
    /// Show all candidates, unfiltered.
    #[arg(long)]
    pub no_filter: bool,
    /// Expiry filter for candidates.
    #[arg(long, value_enum, default_value_t = Expiry::All)]
    pub expired: Expiry,
    /// Only candidates with a private key ("allow missing key alias" off).
    #[arg(long)]
    pub with_key: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn party(name: &str) -> Result<Party, Failure> {
    let f = |e: certmail_app::AppError| Failure {
        code: 2,
        message: e.to_string(),
    };
    if name.eq_ignore_ascii_case("global") {
        return Ok(Party::Global);
    }
    if name.contains('@') {
        Ok(Party::User(normalise_email(name).map_err(f)?))
    } else {
        Ok(Party::Domain(normalise_domain(name).map_err(f)?))
    }
}

fn print_settings(title: &str, s: &[Resolved], json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(s).unwrap_or_default());
        return;
    }
    println!("{title}");
    for r in s {
        println!(
            "  {:<18} {:<14} ({})",
            r.key,
            r.value,
            if r.source == "default" {
                "factory default".into()
            } else if r.source == "user" {
                "set here".into()
            } else {
                format!("inherited from {}", r.source)
            }
        );
    }
}

fn print_recipient(r: &Recipient) {
    println!("{}", r.email);
    for s in &r.settings {
        println!("  {:<18} {:<14} ({})", s.key, s.value, s.source);
    }
    if r.encryption.is_empty() {
        println!("  encrypt to:        (no usable certificate)");
    }
    for u in &r.encryption {
        println!(
            "  encrypt to:        {} {} [{}]",
            &u.sha256[..16],
            u.subject,
            u.source
        );
    }
    for e in &r.encryption_excluded {
        println!(
            "  not for encryption: {} {} [{}]: {}",
            &e.sha256[..16],
            e.subject,
            e.source,
            e.reason
        );
    }
    match &r.signing {
        Some(u) => println!(
            "  sign with:         {} {} [{}]",
            &u.sha256[..16],
            u.subject,
            u.source
        ),
        None => println!("  sign with:         (no usable signing certificate)"),
    }
    for e in &r.signing_excluded {
        println!(
            "  not for signing:   {} {} [{}]: {}",
            &e.sha256[..16],
            e.subject,
            e.source,
            e.reason
        );
    }
}

/// `certmail user ...` (`is_user`) and `certmail domain ...`.
pub async fn run_party(app: &App, c: &PartyCommand, is_user: bool) -> Result<ExitCode, Failure> {
    let name = match c {
        PartyCommand::Show { name, .. }
        | PartyCommand::Set { name, .. }
        | PartyCommand::Unset { name, .. }
        | PartyCommand::Delete { name } => name,
    };
    let p = party(name)?;
    if is_user != matches!(p, Party::User(_)) {
        return Err(Failure {
            code: 2,
            message: format!(
                "{name:?} is not {}",
                if is_user {
                    "an e-mail address"
                } else {
                    "a domain"
                }
            ),
        });
    }
    match c {
        PartyCommand::Show { json, .. } => {
            let chain = match &p {
                Party::User(e) => chain_for_user(e),
                Party::Domain(d) => chain_for_domain(d),
                Party::Global => vec![Party::Global],
            };
            let resolved = app.resolve_chain(&chain).await?;
            print_settings(&format!("settings of {name}"), &resolved, *json);
        }
        PartyCommand::Set { key, value, .. } => {
            app.set_setting(&p, key, value).await?;
            println!("{key} set for {name}");
        }
        PartyCommand::Delete { .. } => delete_party(app, &p, is_user).await?,
        PartyCommand::Unset { key, .. } => {
            let had = app.unset_setting(&p, key).await?;
            println!(
                "{key} for {name}: {}",
                if had {
                    "now inherited"
                } else {
                    "was not set (already inherited)"
                }
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `user delete` and `domain delete`, audited.
async fn delete_party(app: &App, p: &Party, is_user: bool) -> Result<(), Failure> {
    let (kind, action) = if is_user {
        ("user", "user.delete")
    } else {
        ("domain", "domain.delete")
    };
    let object = match p {
        Party::User(n) | Party::Domain(n) => n.as_str(),
        Party::Global => "global",
    };
    let r = app.delete_party(p).await;
    let detail = r.as_ref().map_or_else(
        |_| String::new(),
        |d| format!("{} setting(s), {} selection(s)", d.settings, d.selections),
    );
    let d = app
        .audited(
            &certmail_app::admin::Actor::cli(),
            action,
            object,
            &detail,
            r,
        )
        .await
        .map_err(|e| match e {
            certmail_app::AppError::Store(certmail_store::StoreError::NotFound { .. }) => Failure {
                code: 1,
                message: format!("no {kind} {object}"),
            },
            other => other.into(),
        })?;
    println!("deleted {kind} {} ({detail})", d.name);
    Ok(())
}

/// `certmail global ...`.
pub async fn run_global(app: &App, c: &GlobalCommand) -> Result<ExitCode, Failure> {
    match c {
        GlobalCommand::Show { json } => print_settings(
            "global settings",
            &app.resolve_chain(&[Party::Global]).await?,
            *json,
        ),
        GlobalCommand::Set { key, value } => {
            app.set_setting(&Party::Global, key, value).await?;
            println!("{key} set globally");
        }
        GlobalCommand::Unset { key } => {
            app.unset_setting(&Party::Global, key).await?;
            println!("{key}: factory default");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `certmail select ...`.
pub async fn run_select(app: &App, s: &SelectCommand) -> Result<ExitCode, Failure> {
    match s {
        SelectCommand::Encryption(a) => select_encryption(app, a).await?,
        SelectCommand::Signing {
            email,
            set,
            auto,
            json,
        } => select_signing(app, email, set.as_deref(), *auto, *json).await?,
        SelectCommand::Additional {
            target,
            add,
            remove,
            json,
        } => select_additional(app, target, add.as_deref(), remove.as_deref(), *json).await?,
    }
    Ok(ExitCode::SUCCESS)
}

/// `select encryption`: add or remove a manual selection, or show them and the candidates.
async fn select_encryption(app: &App, a: &EncryptionArgs) -> Result<(), Failure> {
    let target = &a.target;
    let p = party(target)?;
    if p == Party::Global {
        return Err(Failure { code: 2, message: "encryption certificates are selected for a user or a domain (use `select additional global`)".into() });
    }
    if let Some(t) = &a.add {
        let v = app.select(&p, SelectionKind::Encryption, t).await?;
        println!("selected {} {} for {target}", v.cert.sha256, v.cert.subject);
    } else if let Some(t) = &a.remove {
        let n = app.deselect(&p, SelectionKind::Encryption, Some(t)).await?;
        println!("{} selection(s) removed", n);
    } else {
        encryption_candidates(app, a, &p).await?;
    }
    Ok(())
}

/// `select encryption` without --add/--remove: the selections, the recipient's resolved
/// certificates (users) and the candidates.
async fn encryption_candidates(app: &App, a: &EncryptionArgs, p: &Party) -> Result<(), Failure> {
    let now = certmail_app::now();
    let target = &a.target;
    let default_filter = match p {
        Party::User(e) => Some(e.clone()),
        _ => None,
    };
    let f = ListFilter {
        search: if a.no_filter {
            None
        } else {
            a.filter.clone().or(default_filter)
        },
        expired: match a.expired {
            Expiry::All => ExpiredFilter::All,
            Expiry::Unexpired => ExpiredFilter::Unexpired,
            Expiry::Expired => ExpiredFilter::Expired,
        },
        key: if a.with_key {
            KeyFilter::WithKey
        } else {
            KeyFilter::Any
        },
        now,
        limit: Some(200),
        ..ListFilter::default()
    };
    let candidates = app.list(StoreKind::Certificates, &f).await?;
    let selected = app.selections(p, SelectionKind::Encryption).await?;
    let recipient = match p {
        Party::User(e) => Some(app.recipient(e, now).await?),
        _ => None,
    };
    if a.json {
        let rows: Vec<_> = candidates
            .iter()
            .map(|c| serde_json::json!({
                "sha256": c.cert.sha256, "subject": c.cert.subject, "emails": c.cert.emails,
                "not_after": c.cert.not_after, "has_key": c.has_key,
                "selected": selected.contains(&c.cert.sha256),
                "in_use": recipient.as_ref().is_some_and(|r| r.encryption.iter().any(|u| u.sha256 == c.cert.sha256)),
            }))
            .collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"target": target, "selected": selected, "candidates": rows, "recipient": recipient})).unwrap_or_default());
        return Ok(());
    }
    if let Some(r) = &recipient {
        print_recipient(r);
    } else {
        println!(
            "manually selected for {target}: {}",
            if selected.is_empty() {
                "(none)".into()
            } else {
                selected.join(", ")
            }
        );
    }
    println!("candidates:");
    for c in &candidates {
        let mark = if selected.contains(&c.cert.sha256) {
            "manual"
        } else if recipient
            .as_ref()
            .is_some_and(|r| r.encryption.iter().any(|u| u.sha256 == c.cert.sha256))
        {
            "auto"
        } else {
            "-"
        };
        println!(
            "  {:<6} {} {} {}",
            mark,
            &c.cert.sha256[..16],
            c.cert.emails.first().map_or("-", String::as_str),
            c.cert.subject
        );
    }
    Ok(())
}

/// `select signing`: set it or go back to automatic, then show it.
async fn select_signing(
    app: &App,
    email: &str,
    set: Option<&str>,
    auto: bool,
    json: bool,
) -> Result<(), Failure> {
    let p = party(email)?;
    let Party::User(e) = &p else {
        return Err(Failure {
            code: 2,
            message: "a signing certificate is selected per user (e-mail address)".into(),
        });
    };
    if let Some(t) = set {
        let v = app.select(&p, SelectionKind::Signing, t).await?;
        println!(
            "signing certificate for {e}: {} {}",
            v.cert.sha256, v.cert.subject
        );
    } else if auto {
        app.deselect(&p, SelectionKind::Signing, None).await?;
        println!("signing certificate for {e}: automatic");
    }
    let r = app.recipient(e, certmail_app::now()).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"email": e, "signing": r.signing, "excluded": r.signing_excluded})).unwrap_or_default());
    } else if set.is_none() && !auto {
        match &r.signing {
            Some(u) => println!("{e}: {} {} [{}]", u.sha256, u.subject, u.source),
            None => println!("{e}: no usable signing certificate"),
        }
        for x in &r.signing_excluded {
            println!(
                "  not used: {} {}: {}",
                &x.sha256[..16],
                x.subject,
                x.reason
            );
        }
    }
    Ok(())
}

/// `select additional`: add, remove or show the additional (escrow) certificates.
async fn select_additional(
    app: &App,
    target: &str,
    add: Option<&str>,
    remove: Option<&str>,
    json: bool,
) -> Result<(), Failure> {
    let p = party(target)?;
    if let Some(t) = add {
        let v = app.select(&p, SelectionKind::Additional, t).await?;
        println!(
            "additional certificate for {target}: {} {}",
            v.cert.sha256, v.cert.subject
        );
    } else if let Some(t) = remove {
        let n = app.deselect(&p, SelectionKind::Additional, Some(t)).await?;
        println!("{n} selection(s) removed");
    } else {
        let own = app.selections(&p, SelectionKind::Additional).await?;
        if json {
            println!("{}", serde_json::to_string_pretty(&own).unwrap_or_default());
        } else {
            println!(
                "additional certificates selected for {target}: {}",
                if own.is_empty() {
                    "(none)".into()
                } else {
                    own.join(", ")
                }
            );
        }
    }
    Ok(())
}

/// `certmail recipients`.
pub async fn recipients(app: &App, emails: &[String], json: bool) -> Result<ExitCode, Failure> {
    let now = certmail_app::now();
    let mut out = Vec::new();
    for e in emails {
        out.push(app.recipient(e, now).await?);
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for r in &out {
            print_recipient(r);
        }
    }
    Ok(ExitCode::SUCCESS)
}
