//! `certmail directory add|list|delete|test|lookup`: LDAP directories where certificates
//! are looked up (and the default one for host-less CRL distribution points). The bind
//! password is read from a file, sealed, and never printed.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certmail_app::App;
use certmail_app::admin::Actor;
use certmail_app::directory::{DirectoryView, NewDirectory};
use certmail_pki::time::format_rfc3339;
use clap::Subcommand;
use zeroize::Zeroizing;

use crate::cli::{Failure, io_failure};

/// `certmail directory ...`.
#[derive(Debug, Subcommand)]
pub enum DirectoryCommand {
    /// Add an LDAP directory to look certificates up in.
    Add {
        /// Name.
        name: String,
        /// ldap://host[:port] or ldaps://host[:port].
        #[arg(long)]
        url: String,
        /// Search base (default: the directory's first naming context).
        #[arg(long)]
        base: Option<String>,
        /// Bind DN (default: anonymous).
        #[arg(long, requires = "bind_password_file")]
        bind_dn: Option<String>,
        /// File whose first line is the bind password (stored encrypted).
        #[arg(long, requires = "bind_dn")]
        bind_password_file: Option<PathBuf>,
        /// Search filter; %s is the address (escaped per RFC 4515).
        #[arg(long)]
        filter: Option<String>,
        /// The default directory: host-less CRL distribution points (ldap:///CN=...) use it.
        #[arg(long)]
        default: bool,
        /// Milliseconds a look-up may take (connect, bind and search).
        #[arg(long, default_value_t = certmail_app::directory::DEFAULT_TIMEOUT_MS)]
        timeout_ms: i64,
        /// Seconds a look-up result (found or not) is kept before the directory is asked again.
        #[arg(long, default_value_t = certmail_app::directory::DEFAULT_CACHE_TTL)]
        cache_ttl: i64,
    },
    /// List the directories.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a directory (and its cached results).
    Delete {
        /// Name.
        name: String,
    },
    /// Connect, bind and search (with --email, for that address) without importing.
    Test {
        /// Name.
        name: String,
        /// Address to search for (default: a search that matches nothing).
        #[arg(long)]
        email: Option<String>,
    },
    /// Ask the directories for an address's certificates and import what they have.
    Lookup {
        /// The e-mail address.
        address: String,
        /// Ask even when a cached answer still stands.
        #[arg(long)]
        refresh: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn read_bind_password(f: &PathBuf) -> Result<Zeroizing<String>, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(f).map_err(|e| io_failure(&f.display().to_string(), e))?,
    );
    let line = Zeroizing::new(text.lines().next().unwrap_or_default().to_owned());
    if line.is_empty() {
        return Err(Failure {
            code: 2,
            message: format!("{}: empty bind password", f.display()),
        });
    }
    Ok(line)
}

fn print_directory(d: &DirectoryView) {
    println!(
        "{}{} {} base {} bind {} filter {} timeout {} ms cache {} s",
        d.name,
        if d.default { " (default)" } else { "" },
        d.url,
        if d.base.is_empty() {
            "(naming context)"
        } else {
            d.base.as_str()
        },
        match (&d.bind_dn, d.bind_password_set) {
            (Some(dn), true) => format!("{dn} (password set)"),
            (Some(dn), false) => dn.clone(),
            (None, _) => "anonymous".into(),
        },
        d.filter,
        d.timeout_ms,
        d.cache_ttl
    );
}

/// Runs a directory command.
pub async fn run(app: &App, c: &DirectoryCommand) -> Result<ExitCode, Failure> {
    app.set_directory_client(Arc::new(certmail_jobs::ldap::LdapClient::default()));
    let me = Actor::cli();
    match c {
        DirectoryCommand::Add {
            name,
            url,
            base,
            bind_dn,
            bind_password_file,
            filter,
            default,
            timeout_ms,
            cache_ttl,
        } => {
            let pw = bind_password_file
                .as_ref()
                .map(read_bind_password)
                .transpose()?;
            let spec = NewDirectory {
                name: name.clone(),
                url: url.clone(),
                base: base.clone(),
                bind_dn: bind_dn.clone(),
                filter: filter.clone(),
                default: *default,
                timeout_ms: Some(*timeout_ms),
                cache_ttl: Some(*cache_ttl),
            };
            let r = app.directory_add(&spec, pw).await;
            let d = app.audited(&me, "directory.add", name, url, r).await?;
            print!("added directory ");
            print_directory(&d);
        }
        DirectoryCommand::List { json } => {
            let rows = app.directories().await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            } else {
                for d in &rows {
                    print_directory(d);
                }
                println!("{} directory(ies)", rows.len());
            }
        }
        DirectoryCommand::Delete { name } => {
            let r = app.directory_delete(name).await;
            app.audited(&me, "directory.delete", name, "", r).await?;
            println!("deleted directory {name}");
        }
        DirectoryCommand::Test { name, email } => {
            // Without an address, a filter that matches nothing still proves connect,
            // bind and search rights.
            let probe = email
                .as_deref()
                .unwrap_or("certmail-directory-test.invalid");
            let started = std::time::Instant::now();
            match app.directory_probe(name, probe).await {
                Ok(found) => {
                    println!(
                        "ok {name}: connected, bound, searched under {:?} in {} ms: {} entry(ies), {} certificate value(s)",
                        found.base,
                        started.elapsed().as_millis(),
                        found.entries,
                        found.values.len()
                    );
                }
                Err(e) => {
                    return Err(Failure {
                        code: 1,
                        message: format!(
                            "directory {name}: {e} (after {} ms)",
                            started.elapsed().as_millis()
                        ),
                    });
                }
            }
        }
        DirectoryCommand::Lookup {
            address,
            refresh,
            json,
        } => {
            let report = app.directory_lookup(address, *refresh).await?;
            let failed = report.directories.iter().any(|a| a.status == "failed");
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            } else {
                for a in &report.directories {
                    println!(
                        "{} {}: {} certificate(s){} (until {})",
                        a.status,
                        a.directory,
                        a.found,
                        a.error
                            .as_ref()
                            .map(|e| format!(": {e}"))
                            .unwrap_or_default(),
                        format_rfc3339(a.expires_at)
                    );
                    for i in &a.imported {
                        println!(
                            "  {} {} {}",
                            match i.status {
                                certmail_app::ItemStatus::Imported => "imported",
                                certmail_app::ItemStatus::Present => "present",
                                certmail_app::ItemStatus::Failed => "failed",
                            },
                            i.id,
                            i.detail
                        );
                    }
                    for r in &a.rejected {
                        println!("  rejected: {r}");
                    }
                }
                if report.directories.is_empty() {
                    println!("no directory configured (certmail directory add)");
                }
            }
            if failed {
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
