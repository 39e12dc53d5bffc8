//! `certmail cert|key|root ...`: the certificate, key and root stores (import, list, show,
//! export, verify, delete), and the helpers they share with other commands (`list_filter`,
//! `write_output`).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::{AppError, ExportFormat, ExportOptions, ImportOptions, RootPolicy};
use certmail_crypto::pkcs12::Pkcs12Form;
use certmail_store::{ExpiredFilter, KeyFilter, ListFilter, SortBy, StoreKind};
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{Cli, Failure, PasswordArgs, io_failure, open, read_password, usage};
use crate::render;
use crate::verify_cmd::PurposeArg;

/// Arguments shared by `cert import` and `key import` (one importer takes every format).
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Files to import.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Put self-issued (root) certificates found in the files into the root store.
    #[arg(long)]
    pub trust_roots: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

impl ImportArgs {
    fn options(&self) -> Result<ImportOptions, Failure> {
        Ok(ImportOptions {
            password: read_password(&self.password)?,
            roots: if self.trust_roots {
                RootPolicy::TrustSelfIssued
            } else {
                RootPolicy::CertificateStore
            },
        })
    }
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only certificates with this e-mail address (exact, case-insensitive; uses the index).
    #[arg(long)]
    pub email: Option<String>,
    /// Only certificates whose subject or an e-mail address contains this text.
    #[arg(long, alias = "filter")]
    pub search: Option<String>,
    /// Expiry filter.
    #[arg(long, value_enum, default_value_t = Expiry::All)]
    pub expired: Expiry,
    /// Only certificates with a private key.
    #[arg(long, conflicts_with = "without_key")]
    pub with_key: bool,
    /// Only certificates without a private key.
    #[arg(long)]
    pub without_key: bool,
    /// Sort order.
    #[arg(long, value_enum, default_value_t = Sort::Imported)]
    pub sort: Sort,
    /// Reverse the order.
    #[arg(long)]
    pub desc: bool,
    /// Page size.
    #[arg(long)]
    pub limit: Option<i64>,
    /// Rows to skip.
    #[arg(long, default_value_t = 0)]
    pub offset: i64,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Expiry {
    All,
    Unexpired,
    Expired,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Sort {
    Imported,
    Subject,
    NotAfter,
    NotBefore,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    Pem,
    Der,
    P7b,
    P12,
}

#[derive(Debug, Subcommand)]
pub enum CertCommand {
    /// Import certificates (PEM, DER, PKCS#7) and keys (PKCS#12, PEM/DER private keys).
    Import(ImportArgs),
    /// List the certificate store.
    List(ListArgs),
    /// Show a stored certificate (thumbprint or unambiguous prefix) or a certificate file.
    Show {
        /// Thumbprint (prefix) or file.
        what: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Export a certificate (and for PKCS#12 its key and chain).
    Export(ExportArgs),
    /// Delete a certificate from the certificate store (its key stays).
    Delete {
        /// Thumbprint (prefix).
        thumbprint: String,
    },
    /// Validate a stored certificate against the root store, CRL store and trust list.
    Verify {
        /// Thumbprint (prefix).
        thumbprint: String,
        /// Validation time (RFC 3339); default now.
        #[arg(long)]
        at: Option<String>,
        /// Intended use.
        #[arg(long, value_enum, default_value_t = PurposeArg::Any)]
        purpose: PurposeArg,
        /// E-mail address the certificate must carry.
        #[arg(long)]
        email: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `cert export`: what to export and where.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Thumbprint (prefix).
    pub thumbprint: String,
    /// Output format.
    #[arg(long, value_enum)]
    pub format: Format,
    /// PKCS#12 with 3DES and a SHA-1 MAC, for gpgsm and old Windows, macOS and Android.
    #[arg(long)]
    pub legacy: bool,
    /// Append the issuer chain to PEM output.
    #[arg(long)]
    pub chain: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Output file (default: standard output).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// With -o: write through a symbolic link (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Import private keys (PKCS#12, PKCS#8, PKCS#1, SEC1) and any certificates with them.
    Import(ImportArgs),
    /// List private keys and the certificates using them.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a private key (refused while certificates use it, unless --force).
    Delete {
        /// Key id (prefix).
        key_id: String,
        /// Delete even if certificates use it.
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum RootCommand {
    /// Import trusted root certificates.
    Import {
        /// Files to import.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the root store.
    List(ListArgs),
    /// Show a root certificate.
    Show {
        /// Thumbprint (prefix).
        thumbprint: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a root certificate.
    Delete {
        /// Thumbprint (prefix).
        thumbprint: String,
    },
}

pub(crate) fn list_filter(a: &ListArgs) -> ListFilter {
    ListFilter {
        email: a.email.as_ref().map(|e| e.trim().to_lowercase()),
        search: a.search.clone(),
        expired: match a.expired {
            Expiry::All => ExpiredFilter::All,
            Expiry::Unexpired => ExpiredFilter::Unexpired,
            Expiry::Expired => ExpiredFilter::Expired,
        },
        key: if a.with_key {
            KeyFilter::WithKey
        } else if a.without_key {
            KeyFilter::WithoutKey
        } else {
            KeyFilter::Any
        },
        sort: match a.sort {
            Sort::Imported => SortBy::Imported,
            Sort::Subject => SortBy::Subject,
            Sort::NotAfter => SortBy::NotAfter,
            Sort::NotBefore => SortBy::NotBefore,
        },
        descending: a.desc,
        limit: a.limit,
        offset: a.offset,
        after_id: None,
        now: certmail_app::now(),
    }
}

/// Writes an export to `path` (`-o`), or to standard output without one or with `-o -`.
/// A regular file is written to a private temporary file beside it and renamed over it,
/// so a failed export never leaves half a file; a device or FIFO (`/dev/null`,
/// `/dev/stdout`, a named pipe) is written through and never replaced; a symbolic link is
/// refused (name its target), so an export never lands where a link points.
pub(crate) fn write_output(
    path: Option<&PathBuf>,
    data: &[u8],
    force: bool,
) -> Result<(), Failure> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let to_stdout = || {
        let mut out = std::io::stdout().lock();
        match out.write_all(data).and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(141),
            r => r.map_err(|e| io_failure("standard output", e)),
        }
    };
    let Some(p) = path.filter(|p| p.as_os_str() != "-") else {
        return to_stdout();
    };
    let name = p.display().to_string();
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.file_type().is_symlink() && !force => {
            return Err(Failure {
                code: 1,
                message: format!(
                    "{name} is a symbolic link: refused (name the file it points to, or pass --force)"
                ),
            });
        }
        Ok(m) if m.file_type().is_symlink() => {
            // --force: written through the link to whatever it points to.
            return std::fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(p)
                .and_then(|mut f| f.write_all(data))
                .map_err(|e| io_failure(&name, e));
        }
        Ok(m)
            if m.file_type().is_char_device()
                || m.file_type().is_fifo()
                || m.file_type().is_block_device()
                || m.file_type().is_socket() =>
        {
            // Written through, never replaced.
            return std::fs::OpenOptions::new()
                .write(true)
                .open(p)
                .and_then(|mut f| f.write_all(data))
                .map_err(|e| io_failure(&name, e));
        }
        Ok(m) if m.is_dir() => {
            return Err(Failure {
                code: 1,
                message: format!("{name} is a directory: name a file to write"),
            });
        }
        _ => {}
    }
    let file_name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = p.with_file_name(format!(".{file_name}.certmail-tmp-{}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(data).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, p));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(|e| io_failure(&name, e))
}

/// Imports files with one importer (every format) and prints a report per file.
async fn import(
    cli: &Cli,
    files: &[PathBuf],
    opts: ImportOptions,
    json: bool,
) -> Result<ExitCode, Failure> {
    let app = open(cli).await?;
    let reports = app.import_files(files, &opts).await;
    app.close().await;
    // A file, or an item of a bundle, that could not be read: exit 1 (the rest is imported).
    let failed = reports.iter().any(|r| match &r.result {
        Err(_) => true,
        Ok(items) => items
            .iter()
            .any(|i| i.status == certmail_app::ItemStatus::Failed),
    });
    render::import_reports(&reports, json);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `certmail cert ...`.
pub async fn run_cert(cli: &Cli, c: &CertCommand) -> Result<ExitCode, Failure> {
    match c {
        CertCommand::Import(a) => return import(cli, &a.files, a.options()?, a.json).await,
        CertCommand::List(a) => {
            let app = open(cli).await?;
            let rows = app.list(StoreKind::Certificates, &list_filter(a)).await?;
            let now = certmail_app::now();
            let mut statuses = Vec::with_capacity(rows.len());
            for r in &rows {
                statuses.push(
                    app.verify_stored(r, now, certmail_pki::verify::Purpose::Any, None)
                        .await?,
                );
            }
            app.close().await;
            render::cert_list_with_status(&rows, &statuses, a.json);
        }
        CertCommand::Verify {
            thumbprint,
            at,
            purpose,
            email,
            json,
        } => {
            let at = crate::verify_cmd::parse_at(at.as_deref())?;
            let app = open(cli).await?;
            let (view, verdict) = app
                .verify_thumbprint(
                    thumbprint,
                    at,
                    crate::verify_cmd::purpose(*purpose),
                    email.as_deref(),
                )
                .await?;
            app.close().await;
            crate::verify_cmd::print_verdict(&view.cert, &verdict, *json);
            return Ok(if verdict.status == "valid" {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        CertCommand::Show { what, json } => cert_show(cli, what, *json).await?,
        CertCommand::Export(a) => cert_export(cli, a).await?,
        CertCommand::Delete { thumbprint } => {
            let app = open(cli).await?;
            let v = app.delete(StoreKind::Certificates, thumbprint).await?;
            app.close().await;
            println!("deleted certificate {} {}", v.cert.sha256, v.cert.subject);
            if v.has_key {
                println!(
                    "  its private key stays in the key store (`certmail key delete {}`)",
                    &v.cert.key_id[..16]
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `cert show`: a certificate file is parsed, anything else is looked up in the stores.
async fn cert_show(cli: &Cli, what: &str, json: bool) -> Result<(), Failure> {
    let path = std::path::Path::new(what);
    if path.is_file() {
        let certs = certmail_app::inspect_file(path).map_err(|e| Failure {
            code: 1,
            message: format!("{what}: {e}"),
        })?;
        render::cert_show_parsed(&certs, json);
    } else {
        let app = open(cli).await?;
        let view = app.get_any(what).await?;
        let verdict = app
            .verify_stored(
                &view,
                certmail_app::now(),
                certmail_pki::verify::Purpose::Any,
                None,
            )
            .await?;
        app.close().await;
        render::cert_show(&view, Some(&verdict), json);
    }
    Ok(())
}

/// `cert export`.
async fn cert_export(cli: &Cli, a: &ExportArgs) -> Result<(), Failure> {
    let format = match a.format {
        Format::Pem => ExportFormat::Pem,
        Format::Der => ExportFormat::Der,
        Format::P7b => ExportFormat::P7b,
        Format::P12 => ExportFormat::P12,
    };
    if a.legacy && format != ExportFormat::P12 {
        return Err(usage("--legacy applies to --format p12 only"));
    }
    let opts = ExportOptions {
        chain: a.chain,
        password: read_password(&a.password)?,
        form: if a.legacy {
            Pkcs12Form::Legacy
        } else {
            Pkcs12Form::Modern
        },
    };
    if format == ExportFormat::P12 && opts.password.is_none() {
        return Err(AppError::PasswordRequired.into());
    }
    let app = open(cli).await?;
    let data = app.export(&a.thumbprint, format, &opts).await?;
    app.close().await;
    write_output(a.output.as_ref(), &data, a.force)
}

/// `certmail key ...`.
pub async fn run_key(cli: &Cli, k: &KeyCommand) -> Result<ExitCode, Failure> {
    match k {
        KeyCommand::Import(a) => return import(cli, &a.files, a.options()?, a.json).await,
        KeyCommand::List { json } => {
            let app = open(cli).await?;
            let keys = app.keys().await?;
            app.close().await;
            render::key_list(&keys, *json);
        }
        KeyCommand::Delete { key_id, force } => {
            let app = open(cli).await?;
            let id = app.delete_key(key_id, *force).await?;
            app.close().await;
            println!("deleted key {id}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `certmail root ...`.
pub async fn run_root(cli: &Cli, r: &RootCommand) -> Result<ExitCode, Failure> {
    match r {
        RootCommand::Import { files, json } => {
            let opts = ImportOptions {
                password: None,
                roots: RootPolicy::AllToRoots,
            };
            return import(cli, files, opts, *json).await;
        }
        RootCommand::List(a) => {
            let app = open(cli).await?;
            let rows = app.list(StoreKind::Roots, &list_filter(a)).await?;
            app.close().await;
            render::cert_list(&rows, a.json);
        }
        RootCommand::Show { thumbprint, json } => {
            let app = open(cli).await?;
            let view = app.get(StoreKind::Roots, thumbprint).await?;
            app.close().await;
            render::cert_show(&view, None, *json);
        }
        RootCommand::Delete { thumbprint } => {
            let app = open(cli).await?;
            let v = app.delete(StoreKind::Roots, thumbprint).await?;
            app.close().await;
            println!("deleted root {} {}", v.cert.sha256, v.cert.subject);
        }
    }
    Ok(ExitCode::SUCCESS)
}
