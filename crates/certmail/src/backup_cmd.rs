//! `certmail backup` and `certmail restore` (names fixed): one file holds a whole
//! installation; see `certmail_app::backup` for what it holds and how.

use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::backup::RestoreKey;
use clap::Args;
use zeroize::Zeroizing;

use crate::cli::{Cli, Failure, io_failure};

/// Options of `certmail backup`.
#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The backup file to write (replaced only once the new one is complete; mode 0600).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Put the master key in the file, sealed under the passphrase on the first line of
    /// this file (Argon2id + AES-256-GCM), so the file alone restores the machine.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// Options of `certmail restore`.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The passphrase the backup's master key was sealed under (first line of FILE).
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// The installation's master.key, for a backup made without --passphrase-file.
    #[arg(long, value_name = "FILE", conflicts_with = "passphrase_file")]
    pub master_key: Option<PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

fn first_line(path: &std::path::Path) -> Result<Zeroizing<String>, Failure> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path).map_err(|e| io_failure(&path.display().to_string(), e))?,
    );
    let line = text.lines().next().unwrap_or_default();
    if line.is_empty() {
        return Err(Failure {
            code: 2,
            message: format!("{}: the passphrase is empty", path.display()),
        });
    }
    Ok(Zeroizing::new(line.to_owned()))
}

/// Runs `certmail backup`.
pub async fn backup(cli: &Cli, a: &BackupArgs) -> Result<ExitCode, Failure> {
    let passphrase = a.passphrase_file.as_deref().map(first_line).transpose()?;
    let app = crate::cli::open(cli).await?;
    let r = app
        .backup(&crate::cli::config(cli), &a.output, passphrase)
        .await;
    app.close().await;
    let r = r?;
    if a.json {
        crate::render::json(&r);
    } else {
        println!(
            "backup written to {}: {} rows in {} tables, {} bytes (schema {})",
            r.path.display(),
            r.rows,
            r.tables,
            r.bytes,
            r.schema_version
        );
        println!("  key: {}", r.key);
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `certmail restore`.
pub async fn restore(cli: &Cli, a: &RestoreArgs) -> Result<ExitCode, Failure> {
    let key = RestoreKey {
        passphrase: a.passphrase_file.as_deref().map(first_line).transpose()?,
        master_key: a.master_key.clone(),
        kek_passphrase: std::env::var(certmail_app::PASSPHRASE_ENV)
            .ok()
            .map(Zeroizing::new),
    };
    let r = certmail_app::backup::restore(&crate::cli::config(cli), &a.file, key).await?;
    if a.json {
        crate::render::json(&r);
    } else {
        println!(
            "restored {} rows in {} tables into {} ({})",
            r.rows,
            r.tables,
            r.data_dir.display(),
            r.database
        );
        println!(
            "  backup made {} at schema {}",
            certmail_app::format_time(r.created_at),
            r.schema_version
        );
        println!("  key: {}", r.key);
    }
    Ok(ExitCode::SUCCESS)
}
