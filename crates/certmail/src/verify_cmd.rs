//! `certmail verify`, `certmail cert verify`, `certmail crl ...` and `certmail ctl ...`:
//! their arguments (and the trust inputs `smime verify` shares) and what they run.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certmail_app::App;
use certmail_app::trust::{Verdict, certificates_from_files, crls_from_files};
use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_pki::verify::{
    self, CtlStatus, Options, PeerName, PolicyOptions, Profile, Purpose, RevocationPolicy,
};
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::Failure;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PurposeArg {
    Any,
    SmimeSign,
    SmimeEncrypt,
}

/// The RFC 5280 section 6 inputs a caller chooses, shared by `verify` and `smime verify`
/// so a script gets the same decision about a signer as about a certificate.
#[derive(Debug, Clone, Args)]
pub struct TrustArgs {
    /// user-initial-policy-set (repeatable; default anyPolicy).
    #[arg(long)]
    pub policy: Vec<String>,
    /// initial-explicit-policy.
    #[arg(long)]
    pub require_explicit_policy: bool,
    /// initial-policy-mapping-inhibit.
    #[arg(long)]
    pub inhibit_policy_mapping: bool,
    /// initial-any-policy-inhibit.
    #[arg(long)]
    pub inhibit_any_policy: bool,
    /// Revocation checking.
    #[arg(long, value_enum, default_value_t = RevocationArg::IfAvailable)]
    pub revocation: RevocationArg,
    /// Certificate profile: rfc5280 (relying party, RFC 5280 section 6) or strict (also the
    /// issuer duties of section 4: extension criticality, key identifiers, ...).
    #[arg(long, value_enum, default_value_t = ProfileArg::Rfc5280)]
    pub profile: ProfileArg,
    /// The smallest RSA key trusted (1024-16384; default 2048, or the global min-rsa-bits
    /// setting when the stores are used). Smaller keys verify but are reported weak-key.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1024..=16384))]
    pub min_rsa_bits: Option<u32>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ProfileArg {
    Rfc5280,
    Strict,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RevocationArg {
    Require,
    IfAvailable,
    Off,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The certificate to validate (the first one in the file).
    pub cert: PathBuf,
    /// Trusted roots (files may hold several PEM/DER certificates).
    #[arg(long, required = true)]
    pub root: Vec<PathBuf>,
    /// Untrusted intermediates.
    #[arg(long)]
    pub intermediate: Vec<PathBuf>,
    /// CRLs (PEM or DER).
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// Validation time (RFC 3339); default now.
    #[arg(long)]
    pub at: Option<String>,
    /// Intended use.
    #[arg(long, value_enum, default_value_t = PurposeArg::Any)]
    pub purpose: PurposeArg,
    /// E-mail address the certificate must carry.
    #[arg(long)]
    pub email: Option<String>,
    /// Accept SHA-1 signatures.
    #[arg(long)]
    pub allow_sha1: bool,
    /// Policy, revocation and profile inputs.
    #[command(flatten)]
    pub trust: TrustArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum CrlCommand {
    /// Import CRLs (PEM or DER).
    Import {
        /// Files.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List stored CRLs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show a CRL (SHA-256 prefix).
    Show {
        /// SHA-256 (prefix).
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a CRL.
    Delete {
        /// SHA-256 (prefix).
        id: String,
    },
    /// Download the CRLs of the distribution points that are due (or of one URL) now.
    Update {
        /// Only this URL (due or not; registered as a source when new).
        #[arg(long)]
        url: Option<String>,
        /// Seconds a download may take, redirects included.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
        /// Largest CRL accepted (bytes, or with K/M/G).
        #[arg(long, default_value = "100M")]
        max_size: String,
        /// Seconds until a source is fetched again after a download.
        #[arg(long, default_value_t = 21_600)]
        interval: i64,
        /// With --url: reach it even at an internal address (loopback, private,
        /// link-local) not listed in the global setting fetch-allow.
        #[arg(long, requires = "url")]
        allow_internal: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The CRL distribution points known and their download state.
    Sources {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CtlStatusArg {
    Whitelisted,
    Blacklisted,
}

#[derive(Debug, Subcommand)]
pub enum CtlCommand {
    /// Whitelist or blacklist a certificate: its SHA-512 thumbprint (it need not be stored)
    /// or the SHA-256 thumbprint (prefix) of a stored certificate.
    Add {
        /// Thumbprint.
        thumbprint: String,
        /// Status.
        #[arg(long, value_enum)]
        status: CtlStatusArg,
        /// Valid even after expiry (whitelist only).
        #[arg(long)]
        allow_expired: bool,
    },
    /// List the trust list.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove an entry.
    Remove {
        /// Thumbprint.
        thumbprint: String,
    },
}

fn usage(message: String) -> Failure {
    Failure { code: 2, message }
}

/// The validation time from `--at`, or now.
pub fn parse_at(at: Option<&str>) -> Result<i64, Failure> {
    match at {
        Some(t) => certmail_pki::time::parse_rfc3339(t).ok_or_else(|| {
            usage(format!(
                "--at {t:?} is not an RFC 3339 time (e.g. 2026-11-22T12:00:00Z)"
            ))
        }),
        None => Ok(certmail_app::now()),
    }
}

/// Maps the CLI purpose.
pub fn purpose(p: PurposeArg) -> Purpose {
    match p {
        PurposeArg::Any => Purpose::Any,
        PurposeArg::SmimeSign => Purpose::SmimeSign,
        PurposeArg::SmimeEncrypt => Purpose::SmimeEncrypt,
    }
}

/// Prints a verdict.
pub fn print_verdict(cert: &Certificate, v: &Verdict, json: bool) {
    if json {
        let out = serde_json::json!({
            "certificate": cert.sha256, "subject": cert.subject,
            "status": v.status, "reason": v.reason, "chain": v.chain,
            "chain_subjects": v.chain_subjects, "whitelisted": v.whitelisted,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
        return;
    }
    if v.status == "valid" {
        println!("valid: {}", cert.subject);
        if v.whitelisted {
            println!("  whitelisted on the trust list");
        }
        for (i, s) in v.chain_subjects.iter().enumerate() {
            println!("  {i}: {s}");
        }
    } else {
        eprintln!("{}: {}", v.status, v.reason);
    }
}

/// Explicit trust inputs read from files (`--root`, `--intermediate`, `--crl`, `--at`).
pub struct TrustInputs {
    /// Trust anchors.
    pub roots: Vec<Certificate>,
    /// Untrusted intermediates.
    pub intermediates: Vec<Certificate>,
    /// CRLs.
    pub crls: Vec<certmail_pki::crl::Crl>,
    /// Validation time.
    pub at: i64,
}

/// Reads the explicit trust inputs; a bad file is a usage error (exit 2) naming it.
pub fn trust_inputs(
    root: &[std::path::PathBuf],
    intermediate: &[std::path::PathBuf],
    crl: &[std::path::PathBuf],
    at: Option<&str>,
) -> Result<TrustInputs, Failure> {
    let bad_file = |(f, e): (String, certmail_app::FileError)| usage(format!("{f}: {e}"));
    Ok(TrustInputs {
        roots: certificates_from_files(root).map_err(bad_file)?,
        intermediates: certificates_from_files(intermediate).map_err(bad_file)?,
        crls: crls_from_files(crl).map_err(bad_file)?,
        at: parse_at(at)?,
    })
}

/// The stateless verifier.
pub fn stateless(a: &VerifyArgs) -> Result<ExitCode, Failure> {
    let bad_file = |(f, e): (String, certmail_app::FileError)| usage(format!("{f}: {e}"));
    let leaf = certificates_from_files(std::slice::from_ref(&a.cert))
        .map_err(bad_file)?
        .into_iter()
        .next()
        .ok_or_else(|| usage(format!("{}: no certificate", a.cert.display())))?;
    let TrustInputs {
        roots: anchors,
        intermediates,
        crls,
        at,
    } = trust_inputs(&a.root, &a.intermediate, &a.crl, a.at.as_deref())?;
    let opts = Options {
        time: at,
        allow_sha1: a.allow_sha1,
        purpose: purpose(a.purpose),
        peer_name: a.email.as_ref().map(|e| PeerName::Email(e.clone())),
        crls: crls.into_iter().map(Arc::new).collect(),
        ..a.trust.options()
    };
    let r = verify::verify(&leaf, &intermediates, &anchors, &opts, &AwsLcOps);
    let v = Verdict::from_result(&r, false);
    print_verdict(&leaf, &v, a.json);
    Ok(match v.status {
        "valid" => ExitCode::SUCCESS,
        // Nothing is known: an algorithm or key certmail does not check.
        "unsupported" => ExitCode::from(2),
        _ => ExitCode::from(1),
    })
}

impl From<ProfileArg> for Profile {
    fn from(p: ProfileArg) -> Profile {
        match p {
            ProfileArg::Rfc5280 => Profile::Rfc5280,
            ProfileArg::Strict => Profile::Strict,
        }
    }
}

impl TrustArgs {
    /// Options with these inputs set and everything else at its default.
    pub fn options(&self) -> Options {
        Options {
            policy: PolicyOptions {
                initial_policy_set: self.policy.clone(),
                require_explicit_policy: self.require_explicit_policy,
                inhibit_policy_mapping: self.inhibit_policy_mapping,
                inhibit_any_policy: self.inhibit_any_policy,
            },
            revocation: match self.revocation {
                RevocationArg::Require => RevocationPolicy::Require,
                RevocationArg::IfAvailable => RevocationPolicy::IfAvailable,
                RevocationArg::Off => RevocationPolicy::Off,
            },
            profile: self.profile.into(),
            min_rsa_bits: self
                .min_rsa_bits
                .unwrap_or(certmail_pki::verify::DEFAULT_MIN_RSA_BITS),
            ..Options::default()
        }
    }
}

/// `certmail crl ...`.
pub async fn crl(app: &App, c: &CrlCommand) -> Result<ExitCode, Failure> {
    match c {
        CrlCommand::Import { files, json } => {
            let reports = app.import_crl_files(files).await;
            let mut failed = false;
            let mut rows = Vec::new();
            for (file, r) in &reports {
                match r {
                    Ok(items) => {
                        for i in items {
                            if *json {
                                rows.push(serde_json::json!({"file": file, "status": i.status, "sha256": i.sha256, "issuer": i.issuer, "number": i.number, "problem": i.problem}));
                            } else {
                                let extra = i
                                    .problem
                                    .as_ref()
                                    .map(|p| format!(" (not in use: {p})"))
                                    .unwrap_or_default();
                                println!(
                                    "{} CRL {} {} number {}{extra}",
                                    i.status,
                                    i.sha256,
                                    i.issuer,
                                    i.number.as_deref().unwrap_or("-")
                                );
                            }
                        }
                    }
                    Err(e) => {
                        failed = true;
                        if *json {
                            rows.push(serde_json::json!({"file": file, "status": "failed", "problem": e.to_string()}));
                        } else {
                            println!("failed {file}: {e}");
                        }
                    }
                }
            }
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&rows).unwrap_or_default()
                );
            }
            Ok(if failed {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        CrlCommand::List { json } => {
            let crls = app.crls().await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&crls).unwrap_or_default()
                );
            } else {
                println!(
                    "{:<16}  {:<8}  {:<20}  {:<20}  {:>8}  {:<5}  ISSUER / VALIDITY",
                    "SHA-256", "NUMBER", "THIS UPDATE", "NEXT UPDATE", "ENTRIES", "USED"
                );
                for c in &crls {
                    println!(
                        "{:<16}  {:<8}  {:<20}  {:<20}  {:>8}  {:<5}  {} / {}",
                        &c.sha256[..16],
                        c.number.as_deref().unwrap_or("-"),
                        c.this_update,
                        c.next_update.as_deref().unwrap_or("-"),
                        c.entries,
                        if c.current { "yes" } else { "no" },
                        c.issuer,
                        c.validity
                    );
                }
                println!("{} CRL(s)", crls.len());
            }
            Ok(ExitCode::SUCCESS)
        }
        CrlCommand::Show { id, json } => {
            let (view, crl) = app.crl(id).await?;
            if *json {
                let mut v = serde_json::to_value(&view).unwrap_or_default();
                let mut revoked: Vec<serde_json::Value> = crl
                    .entries
                    .iter()
                    .map(|(serial, e)| serde_json::json!({"serial": hex::encode(serial), "date": certmail_pki::time::format_rfc3339(e.date), "reason": e.reason}))
                    .collect();
                revoked.sort_by(|a, b| a["serial"].as_str().cmp(&b["serial"].as_str()));
                v["revoked"] = serde_json::Value::from(revoked);
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!("Issuer:       {}", view.issuer);
                println!("Number:       {}", view.number.as_deref().unwrap_or("-"));
                if let Some(b) = &view.delta_base {
                    println!("Delta of:     {b}");
                }
                println!("This update:  {}", view.this_update);
                println!(
                    "Next update:  {}",
                    view.next_update.as_deref().unwrap_or("-")
                );
                println!("Entries:      {}", view.entries);
                println!("In use:       {}", if view.current { "yes" } else { "no" });
                println!("Validity:     {}", view.validity);
                println!("SHA-256:      {}", view.sha256);
                let mut entries: Vec<_> = crl.entries.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                for (serial, e) in entries.iter().take(50) {
                    let reason = e.reason.map(|r| format!(" {r:?}")).unwrap_or_default();
                    println!(
                        "  {} {}{reason}",
                        hex::encode(serial),
                        certmail_pki::time::format_rfc3339(e.date)
                    );
                }
                if entries.len() > 50 {
                    println!("  ... {} more (use --json)", entries.len() - 50);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        CrlCommand::Delete { id } => {
            let sha = app.delete_crl(id).await?;
            println!("deleted CRL {sha}");
            Ok(ExitCode::SUCCESS)
        }
        CrlCommand::Update {
            url,
            timeout,
            max_size,
            interval,
            allow_internal,
            json,
        } => {
            let opts = crate::jobs_cmd::CrlUpdate {
                url: url.as_deref(),
                timeout: *timeout,
                max_size,
                interval: *interval,
                allow_internal: *allow_internal,
                json: *json,
            };
            crate::jobs_cmd::crl_update(app, &opts).await
        }
        CrlCommand::Sources { json } => crate::jobs_cmd::crl_sources(app, *json).await,
    }
}

/// `certmail ctl ...`.
pub async fn ctl(app: &App, c: &CtlCommand) -> Result<ExitCode, Failure> {
    match c {
        CtlCommand::Add {
            thumbprint,
            status,
            allow_expired,
        } => {
            let st = match status {
                CtlStatusArg::Whitelisted => CtlStatus::Whitelisted {
                    allow_expired: *allow_expired,
                },
                CtlStatusArg::Blacklisted if *allow_expired => {
                    return Err(usage(
                        "--allow-expired applies to whitelisted entries only".into(),
                    ));
                }
                CtlStatusArg::Blacklisted => CtlStatus::Blacklisted,
            };
            let e = app.ctl_add(thumbprint, st).await?;
            println!(
                "{} {}{}",
                e.status,
                e.sha512,
                if e.allow_expired {
                    " (allow expired)"
                } else {
                    ""
                }
            );
            Ok(ExitCode::SUCCESS)
        }
        CtlCommand::List { json } => {
            let entries = app.ctl_views().await?;
            if *json {
                crate::render::json(&entries);
            } else {
                for e in &entries {
                    println!(
                        "{:<11}  {}{}",
                        e.status,
                        e.sha512,
                        if e.allow_expired {
                            "  allow-expired"
                        } else {
                            ""
                        }
                    );
                }
                println!(
                    "{} entr{}",
                    entries.len(),
                    if entries.len() == 1 { "y" } else { "ies" }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        CtlCommand::Remove { thumbprint } => {
            if app.ctl_remove(thumbprint).await? {
                println!("removed");
                Ok(ExitCode::SUCCESS)
            } else {
                Err(Failure {
                    code: 1,
                    message: format!("{thumbprint} is not on the trust list"),
                })
            }
        }
    }
}
