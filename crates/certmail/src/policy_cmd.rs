//! `certmail user|domain|global|select|recipients`.

use std::process::ExitCode;

use certmail_app::App;
use certmail_app::policy::{
    Recipient, Resolved, chain_for_domain, chain_for_user, normalise_domain, normalise_email,
};
use certmail_store::{ExpiredFilter, KeyFilter, ListFilter, Party, SelectionKind, StoreKind};

use crate::cli::{Command, Expiry, Failure, GlobalCommand, PartyCommand, SelectCommand};

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

/// Runs the policy commands.
pub async fn run(app: &App, cmd: &Command) -> Result<ExitCode, Failure> {
    let now = certmail_app::now();
    match cmd {
        Command::User(c) | Command::Domain(c) => {
            let is_user = matches!(cmd, Command::User(_));
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
                PartyCommand::Delete { .. } => {
                    let (kind, action) = if is_user {
                        ("user", "user.delete")
                    } else {
                        ("domain", "domain.delete")
                    };
                    let object = match &p {
                        Party::User(n) | Party::Domain(n) => n.as_str(),
                        Party::Global => "global",
                    };
                    let r = app.delete_party(&p).await;
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
                            certmail_app::AppError::Store(
                                certmail_store::StoreError::NotFound { .. },
                            ) => Failure {
                                code: 1,
                                message: format!("no {kind} {object}"),
                            },
                            other => other.into(),
                        })?;
                    println!("deleted {kind} {} ({detail})", d.name);
                }
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
        }
        Command::Global(c) => match c {
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
        },
        Command::Select(s) => match s {
            SelectCommand::Encryption {
                target,
                add,
                remove,
                filter,
                no_filter,
                expired,
                with_key,
                json,
            } => {
                let p = party(target)?;
                if p == Party::Global {
                    return Err(Failure { code: 2, message: "encryption certificates are selected for a user or a domain (use `select additional global`)".into() });
                }
                if let Some(t) = add {
                    let v = app.select(&p, SelectionKind::Encryption, t).await?;
                    println!("selected {} {} for {target}", v.cert.sha256, v.cert.subject);
                } else if let Some(t) = remove {
                    let n = app.deselect(&p, SelectionKind::Encryption, Some(t)).await?;
                    println!("{} selection(s) removed", n);
                } else {
                    let default_filter = match &p {
                        Party::User(e) => Some(e.clone()),
                        _ => None,
                    };
                    let f = ListFilter {
                        search: if *no_filter {
                            None
                        } else {
                            filter.clone().or(default_filter)
                        },
                        expired: match expired {
                            Expiry::All => ExpiredFilter::All,
                            Expiry::Unexpired => ExpiredFilter::Unexpired,
                            Expiry::Expired => ExpiredFilter::Expired,
                        },
                        key: if *with_key {
                            KeyFilter::WithKey
                        } else {
                            KeyFilter::Any
                        },
                        now,
                        limit: Some(200),
                        ..ListFilter::default()
                    };
                    let candidates = app.list(StoreKind::Certificates, &f).await?;
                    let selected = app.selections(&p, SelectionKind::Encryption).await?;
                    let recipient = match &p {
                        Party::User(e) => Some(app.recipient(e, now).await?),
                        _ => None,
                    };
                    if *json {
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
                    } else {
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
                            } else if recipient.as_ref().is_some_and(|r| {
                                r.encryption.iter().any(|u| u.sha256 == c.cert.sha256)
                            }) {
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
                    }
                }
            }
            SelectCommand::Signing {
                email,
                set,
                auto,
                json,
            } => {
                let p = party(email)?;
                let Party::User(e) = &p else {
                    return Err(Failure {
                        code: 2,
                        message: "a signing certificate is selected per user (e-mail address)"
                            .into(),
                    });
                };
                if let Some(t) = set {
                    let v = app.select(&p, SelectionKind::Signing, t).await?;
                    println!(
                        "signing certificate for {e}: {} {}",
                        v.cert.sha256, v.cert.subject
                    );
                } else if *auto {
                    app.deselect(&p, SelectionKind::Signing, None).await?;
                    println!("signing certificate for {e}: automatic");
                }
                let r = app.recipient(e, now).await?;
                if *json {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"email": e, "signing": r.signing, "excluded": r.signing_excluded})).unwrap_or_default());
                } else if set.is_none() && !*auto {
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
            }
            SelectCommand::Additional {
                target,
                add,
                remove,
                json,
            } => {
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
                    if *json {
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
            }
        },
        Command::Recipients { emails, json } => {
            let mut out = Vec::new();
            for e in emails {
                out.push(app.recipient(e, now).await?);
            }
            if *json {
                println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            } else {
                for r in &out {
                    print_recipient(r);
                }
            }
        }
        _ => {}
    }
    Ok(ExitCode::SUCCESS)
}
