//! The top level of the command line: `Cli` and `Command`, the helpers every command group
//! shares (`Failure`, `usage`, `io_failure`, passwords, opening the stores) and `run`, which
//! hands each command to its group's module (`store_cmd`, `verify_cmd`, `policy_cmd`,
//! `ca_cmd`, ...). Command and flag names are fixed: scripts depend on them.

use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::{App, AppError, Config};
use clap::{Args, Parser, Subcommand};
use zeroize::Zeroizing;

use crate::ca_cmd::CaCommand;
use crate::limbo::ConformanceCommand;
use crate::policy_cmd::{GlobalCommand, PartyCommand, SelectCommand};
use crate::store_cmd::{CertCommand, KeyCommand, RootCommand};
use crate::verify_cmd::{CrlCommand, CtlCommand, VerifyArgs};

/// certmail: S/MIME certificate manager and e-mail encryption gateway.
#[derive(Debug, Parser)]
#[command(name = "certmail", version, about, max_term_width = 100)]
pub struct Cli {
    /// Data directory (master key, SQLite database).
    #[arg(
        long,
        global = true,
        env = "CERTMAIL_DATA_DIR",
        default_value = "./certmail-data"
    )]
    pub data_dir: PathBuf,
    /// Database URL instead of the embedded SQLite file, e.g. postgres://user@host/db.
    #[arg(long, global = true, env = "CERTMAIL_DATABASE_URL")]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory, the key-encryption key and the database.
    Init,
    /// The certificate store (end-user and intermediate certificates).
    #[command(subcommand)]
    Cert(CertCommand),
    /// The key store (private keys, encrypted at rest).
    #[command(subcommand)]
    Key(KeyCommand),
    /// The root store (trusted CA certificates).
    #[command(subcommand)]
    Root(RootCommand),
    /// Conformance suites.
    #[command(subcommand)]
    Conformance(ConformanceCommand),
    /// Validate a certificate file against given roots, intermediates and CRLs (no stores).
    Verify(VerifyArgs),
    /// The CRL store.
    #[command(subcommand)]
    Crl(CrlCommand),
    /// The certificate trust list (whitelist / blacklist by SHA-512 thumbprint).
    #[command(subcommand)]
    Ctl(CtlCommand),
    /// A user's settings (by e-mail address).
    #[command(subcommand)]
    User(PartyCommand),
    /// A domain's settings (`example.com` or `*.example.com`).
    #[command(subcommand)]
    Domain(PartyCommand),
    /// The global settings.
    #[command(subcommand)]
    Global(GlobalCommand),
    /// Select encryption, signing and additional certificates.
    #[command(subcommand)]
    Select(SelectCommand),
    /// The built-in certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Sign, encrypt, decrypt and verify S/MIME messages.
    #[command(subcommand)]
    Smime(crate::smime_cmd::SmimeCommand),
    /// Run the SMTP gateway (Postfix content filter or smarthost) with /healthz and /metrics.
    Serve(Box<crate::serve_cmd::ServeArgs>),
    /// Print the main.cf and master.cf lines that wire Postfix to `serve` (same options).
    PostfixConfig(Box<crate::postfix_cmd::PostfixConfigArgs>),
    /// Check a running set-up (data directory, key store, ports, next hop, Postfix's
    /// settings, expiry) and say what to fix; exit 1 on a problem.
    Doctor(Box<crate::doctor_cmd::DoctorArgs>),
    /// Write a backup of the whole installation to one file (while `serve` runs).
    Backup(crate::backup_cmd::BackupArgs),
    /// Make a new data directory (and database) from a backup file.
    Restore(crate::backup_cmd::RestoreArgs),
    /// Write a man page per command (certmail.1, certmail-serve.1, ...) into a directory.
    #[command(hide = true)]
    Manpages {
        /// The directory.
        dir: PathBuf,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Web admin and API accounts (no account exists by default).
    #[command(subcommand)]
    Admin(crate::admin_cmd::AdminCommand),
    /// LDAP directories: where certificates are looked up (a source of certificates, not of trust).
    #[command(subcommand)]
    Directory(crate::directory_cmd::DirectoryCommand),
    /// The audit log of changes made through the web admin, the API and `admin`.
    Audit(crate::admin_cmd::AuditArgs),
    /// The hold queue: mail kept because it must be encrypted and cannot be yet.
    #[command(subcommand)]
    Hold(crate::hold_cmd::HoldCommand),
    /// What will expire: certificates with a private key, CA certificates and roots.
    Expiry {
        /// Within this many days.
        #[arg(long, default_value_t = 30)]
        days: i64,
        /// Instead of listing, send the warnings that are due (30, 14, 7, 1 days; each
        /// once) to this administrator address (and users their own).
        #[arg(long, value_name = "ADDR")]
        notify: Option<String>,
        /// Where the warnings are handed over (SMTP).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10026")]
        next_hop: String,
        /// Sender address of the warnings [default: certmail@this host].
        #[arg(long, value_name = "ADDR")]
        from: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show, for each address, the resolved settings and the certificates that would be used.
    Recipients {
        /// Addresses.
        #[arg(required = true)]
        emails: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct PasswordArgs {
    /// Read the password from the first line of this file.
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    pub password_file: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub password_env: Option<String>,
}

/// A failure with its exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl From<AppError> for Failure {
    fn from(e: AppError) -> Self {
        Failure {
            code: e.kind().exit_code(),
            message: e.to_string(),
        }
    }
}

pub(crate) fn usage(message: impl Into<String>) -> Failure {
    Failure {
        code: 2,
        message: message.into(),
    }
}

pub(crate) fn io_failure(what: &str, e: std::io::Error) -> Failure {
    Failure {
        code: 1,
        message: format!("{what}: {e}"),
    }
}

/// Reads the first private key of a file (PEM, DER or PKCS#12); the error names the file.
pub(crate) fn read_key_file(
    path: &std::path::Path,
    password: Option<&str>,
) -> Result<certmail_crypto::PrivateKey, String> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    certmail_app::parse_key_file(&data, password).map_err(|e| format!("{}: {e}", path.display()))
}

pub(crate) fn read_password(p: &PasswordArgs) -> Result<Option<Zeroizing<String>>, Failure> {
    if let Some(f) = &p.password_file {
        let text = Zeroizing::new(
            std::fs::read_to_string(f).map_err(|e| io_failure(&f.display().to_string(), e))?,
        );
        let line = text.lines().next().unwrap_or_default();
        return Ok(Some(Zeroizing::new(line.to_owned())));
    }
    if let Some(var) = &p.password_env {
        return match std::env::var(var) {
            Ok(v) => Ok(Some(Zeroizing::new(v))),
            Err(_) => Err(usage(format!("environment variable {var} is not set"))),
        };
    }
    Ok(None)
}

fn passphrase() -> Option<Zeroizing<String>> {
    std::env::var(certmail_app::PASSPHRASE_ENV)
        .ok()
        .map(Zeroizing::new)
}

pub(crate) async fn open(cli: &Cli) -> Result<App, Failure> {
    Ok(App::open(&config(cli), passphrase()).await?)
}

pub(crate) fn config(cli: &Cli) -> Config {
    Config {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    }
}

/// Opens the stores, runs `f` with them and closes them, whatever `f` returned.
async fn with_app(
    cli: &Cli,
    f: impl AsyncFnOnce(&App) -> Result<ExitCode, Failure>,
) -> Result<ExitCode, Failure> {
    let app = open(cli).await?;
    let r = f(&app).await;
    app.close().await;
    r
}

/// Runs one command.
pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let cli = &cli;
    match &cli.command {
        Command::Init => {
            let report = App::init(&config(cli), passphrase()).await?;
            println!("initialised {}", report.data_dir.display());
            println!("  key-encryption key: {}", report.kek_source);
            println!("  database: {}", report.database);
            Ok(ExitCode::SUCCESS)
        }
        Command::Cert(c) => crate::store_cmd::run_cert(cli, c).await,
        Command::Key(c) => crate::store_cmd::run_key(cli, c).await,
        Command::Root(c) => crate::store_cmd::run_root(cli, c).await,
        Command::Conformance(c) => crate::limbo::conformance(c),
        Command::Verify(v) => crate::verify_cmd::stateless(v),
        Command::Crl(c) => with_app(cli, async |app| crate::verify_cmd::crl(app, c).await).await,
        Command::Ctl(c) => with_app(cli, async |app| crate::verify_cmd::ctl(app, c).await).await,
        Command::User(c) => {
            with_app(cli, async |app| {
                crate::policy_cmd::run_party(app, c, true).await
            })
            .await
        }
        Command::Domain(c) => {
            with_app(cli, async |app| {
                crate::policy_cmd::run_party(app, c, false).await
            })
            .await
        }
        Command::Global(c) => {
            with_app(cli, async |app| crate::policy_cmd::run_global(app, c).await).await
        }
        Command::Select(c) => {
            with_app(cli, async |app| crate::policy_cmd::run_select(app, c).await).await
        }
        Command::Recipients { emails, json } => {
            with_app(cli, async |app| {
                crate::policy_cmd::recipients(app, emails, *json).await
            })
            .await
        }
        Command::Ca(c) => with_app(cli, async |app| crate::ca_cmd::run(app, c).await).await,
        Command::Smime(c) => crate::smime_cmd::run(cli, c).await,
        Command::Serve(a) => crate::serve_cmd::run(cli, a).await,
        Command::PostfixConfig(a) => crate::postfix_cmd::run(a),
        Command::Doctor(a) => crate::doctor_cmd::run(cli, a).await,
        Command::Backup(a) => crate::backup_cmd::backup(cli, a).await,
        Command::Restore(a) => crate::backup_cmd::restore(cli, a).await,
        Command::Manpages { dir } => crate::manpages::write(dir),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "certmail", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Admin(c) => with_app(cli, async |app| crate::admin_cmd::run(app, c).await).await,
        Command::Directory(c) => {
            with_app(cli, async |app| crate::directory_cmd::run(app, c).await).await
        }
        Command::Audit(a) => with_app(cli, async |app| crate::admin_cmd::audit(app, a).await).await,
        Command::Hold(c) => with_app(cli, async |app| crate::hold_cmd::run(app, c).await).await,
        Command::Expiry {
            days,
            notify,
            next_hop,
            from,
            json,
        } => {
            with_app(cli, async |app| match notify {
                Some(admin) => {
                    crate::jobs_cmd::expiry_notify(app, admin, next_hop, from.as_deref(), *json)
                        .await
                }
                None => crate::jobs_cmd::expiry(app, *days, *json).await,
            })
            .await
        }
    }
}
