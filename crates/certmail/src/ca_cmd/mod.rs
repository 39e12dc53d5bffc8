//! `certmail ca ...`: the clap types of the CA commands and the dispatch to their bodies,
//! which are split by concern: `create` (create, import, list, config, default), `issue`
//! (issue, request, pending, sign-csr, bulk), `lifecycle` (auto-renew, renew, refresh,
//! revoke, crl) and `deliver` (send, p12).

mod create;
mod deliver;
mod issue;
mod lifecycle;

use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::App;
use clap::{Args, Subcommand};

use crate::cli::{Failure, PasswordArgs};

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root and an intermediate CA in one step (or, with --under, an intermediate
    /// under the root of an existing CA).
    Create(CreateArgs),
    /// List the CAs.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Import an existing CA: its certificate and key (PEM/DER/PKCS#12 files).
    Import {
        /// Certificate file.
        #[arg(long)]
        cert: PathBuf,
        /// Key file (may be the same PKCS#12 file).
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
        /// Signature hash for what it signs.
        #[arg(long, default_value = "sha256")]
        sig: String,
        /// Make it the default CA.
        #[arg(long)]
        default: bool,
    },
    /// Show or set the CA configuration (defaults of certificate requests).
    Config {
        /// Setting to change (common-name, validity-days, key, signature, ca-email,
        /// password-length, store-password, add-crl-distribution-point,
        /// crl-distribution-point, request-handler).
        key: Option<String>,
        /// New value.
        value: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Make a CA the default ("make this the default CA").
    Default {
        /// CA id or name.
        ca: String,
    },
    /// Issue an end-user S/MIME certificate and key (built-in request handler).
    Issue(IssueArgs),
    /// Send certificates (with their keys, where the key store has them) by mail as one
    /// PKCS#12 from the CA's ca-email address; the password goes another way.
    Send {
        /// Certificates (thumbprints or unique prefixes).
        #[arg(required = true)]
        thumbprints: Vec<String>,
        /// The recipient.
        #[arg(long)]
        to: String,
        /// Send certificates that do not carry the recipient's address.
        #[arg(long)]
        allow_mismatch: bool,
        #[command(flatten)]
        delivery: SendArgs,
    },
    /// Request a certificate through a request handler (`csr`: key + PKCS#10 request into
    /// the pending queue; `built-in`: issued at once).
    Request(RequestArgs),
    /// The pending-requests queue.
    #[command(subcommand)]
    Pending(PendingCommand),
    /// Sign an external PKCS#10 CSR (its self-signature is verified first).
    SignCsr(SignCsrArgs),
    /// Bulk requests from a CSV file (first row names the columns: EMAIL, COMMONNAME,
    /// ORGANISATION, FIRSTNAME, LASTNAME or their aliases).
    Bulk(BulkArgs),
    /// Run the auto-renew job once (what serve does every minute): renew the certificates
    /// whose owner has auto-renew on and that expire within auto-renew-days, and send each
    /// new PKCS#12 (password by SMS).
    AutoRenew {
        /// Where the certificate mail is handed over (SMTP).
        #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10026")]
        next_hop: String,
        /// Judge what is due as of this time (RFC 3339) instead of now.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Renew a certificate issued by a certmail CA (same subject and e-mail, new validity).
    Renew {
        /// Thumbprint.
        thumbprint: String,
        /// Keep the key (default: a new key).
        #[arg(long)]
        same_key: bool,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
    },
    /// Refresh a self-signed domain certificate: same serial and key, new validity.
    Refresh {
        /// Thumbprint.
        thumbprint: String,
        /// Validity in days.
        #[arg(long, default_value_t = 365)]
        days: u32,
    },
    /// Revoke a certificate (thumbprint) or serial number (hex).
    Revoke {
        /// Thumbprint or serial.
        what: String,
        /// Reason: unspecified, keyCompromise, cACompromise, affiliationChanged, superseded,
        /// cessationOfOperation, certificateHold, privilegeWithdrawn.
        #[arg(long)]
        reason: Option<String>,
        /// CA (for serials).
        #[arg(long, default_value = "")]
        ca: String,
    },
    /// Create the next CRL of a CA and put it into the CRL store.
    Crl(CrlArgs),
    /// PKCS#12 delivery: key + certificate + chain with a random password printed once.
    P12(P12Args),
}

/// `ca create`: the new CA.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Root common name.
    #[arg(long, required_unless_present = "under")]
    pub root_cn: Option<String>,
    /// Create only an intermediate under this existing CA's root.
    #[arg(long, conflicts_with = "root_cn")]
    pub under: Option<String>,
    /// Intermediate common name (must differ from the root's).
    #[arg(long)]
    pub intermediate_cn: String,
    /// Key: rsa2048, rsa3072, rsa4096, p256, p384.
    #[arg(long, default_value = "rsa2048")]
    pub key: String,
    /// Validity in days.
    #[arg(long, default_value_t = 3650)]
    pub days: u32,
    /// Signature hash: sha256, sha384, sha512.
    #[arg(long, default_value = "sha256")]
    pub sig: String,
    /// CA e-mail address.
    #[arg(long)]
    pub email: Option<String>,
    /// Make it the default CA.
    #[arg(long)]
    pub default: bool,
}

/// `ca issue`: the certificate to issue and whether to send it.
#[derive(Debug, Args)]
pub struct IssueArgs {
    /// E-mail address.
    #[arg(long)]
    pub email: String,
    /// Common name (default: the configured one).
    #[arg(long)]
    pub cn: Option<String>,
    /// Organisation.
    #[arg(long)]
    pub org: Option<String>,
    /// First name.
    #[arg(long)]
    pub first_name: Option<String>,
    /// Last name.
    #[arg(long)]
    pub last_name: Option<String>,
    /// Validity in days (default: configured).
    #[arg(long)]
    pub days: Option<u32>,
    /// Key: rsa2048, rsa3072, rsa4096, p256, p384 (default: configured).
    #[arg(long)]
    pub key: Option<String>,
    /// Signature hash (default: configured).
    #[arg(long)]
    pub sig: Option<String>,
    /// CA id or name (default: the default CA).
    #[arg(long, default_value = "")]
    pub ca: String,
    /// CRL distribution point URL to put in the certificate.
    #[arg(long)]
    pub crl_url: Option<String>,
    /// Also create a user object for the address.
    #[arg(long)]
    pub add_user: bool,
    /// Send the new certificate and key to the address by mail (PKCS#12; see `ca send`).
    #[arg(long)]
    pub send: bool,
    #[command(flatten)]
    pub delivery: SendArgs,
}

/// `ca request`: the request and its handler.
#[derive(Debug, Args)]
pub struct RequestArgs {
    /// Handler: csr or built-in (default: configured).
    #[arg(long)]
    pub handler: Option<String>,
    /// E-mail address.
    #[arg(long)]
    pub email: String,
    /// Common name.
    #[arg(long)]
    pub cn: String,
    /// Organisation.
    #[arg(long)]
    pub org: Option<String>,
    /// Key type.
    #[arg(long, default_value = "rsa2048")]
    pub key: String,
    /// Signature hash.
    #[arg(long, default_value = "sha256")]
    pub sig: String,
    /// Validity in days (built-in handler).
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// CA id or name (built-in handler).
    #[arg(long, default_value = "")]
    pub ca: String,
}

/// `ca sign-csr`: the CSR and what to issue from it.
#[derive(Debug, Args)]
pub struct SignCsrArgs {
    /// CSR file (PEM or DER).
    pub csr: PathBuf,
    /// E-mail address (default: from the CSR).
    #[arg(long)]
    pub email: Option<String>,
    /// Validity in days.
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// CA id or name.
    #[arg(long, default_value = "")]
    pub ca: String,
    /// Write the certificate (PEM) here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// With -o: write through a symbolic link (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

/// `ca bulk`: the CSV file and what to issue from it.
#[derive(Debug, Args)]
pub struct BulkArgs {
    /// The CSV file.
    pub file: PathBuf,
    /// Parse and validate only; issue nothing.
    #[arg(long)]
    pub preview: bool,
    /// CA id or name.
    #[arg(long, default_value = "")]
    pub ca: String,
    /// Key type.
    #[arg(long, default_value = "rsa2048")]
    pub key: String,
    /// Signature hash.
    #[arg(long, default_value = "sha256")]
    pub sig: String,
    /// Validity in days.
    #[arg(long, default_value_t = 730)]
    pub days: u32,
    /// Maximum requests per file.
    #[arg(long, default_value_t = 10_000)]
    pub max_rows: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `ca crl`: what goes on the next CRL and where it is written.
#[derive(Debug, Args)]
pub struct CrlArgs {
    /// CA id or name.
    #[arg(long, default_value = "")]
    pub ca: String,
    /// Serial numbers (hex) to revoke first.
    #[arg(long)]
    pub revoke: Vec<String>,
    /// Days until nextUpdate.
    #[arg(long, default_value_t = 7)]
    pub next_update_days: u32,
    /// Only list the serials given now, not those revoked before.
    #[arg(long)]
    pub no_update_existing: bool,
    /// Leave expired certificates off the CRL.
    #[arg(long)]
    pub drop_expired: bool,
    /// Also write the CRL (PEM) here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// With -o: write through a symbolic link (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

/// `ca p12`: the certificate, the password and the output file.
#[derive(Debug, Args)]
pub struct P12Args {
    /// Thumbprint.
    pub thumbprint: String,
    /// 3DES / SHA-1 MAC for old clients and gpgsm.
    #[arg(long)]
    pub legacy: bool,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// The recipient (default: the certificate's first address).
    #[arg(long)]
    pub to: Option<String>,
    /// Deliver even when the certificate does not carry the recipient's address.
    #[arg(long)]
    pub allow_mismatch: bool,
    /// Store the generated password in the user's settings (pfx-password).
    #[arg(long)]
    pub store_password: bool,
    /// Output file.
    #[arg(short, long)]
    pub output: PathBuf,
    /// With -o: write through a symbolic link (refused otherwise).
    #[arg(long)]
    pub force: bool,
}

/// How certificates are sent by mail (`ca send`, `ca issue --send`).
#[derive(Debug, clap::Args)]
pub struct SendArgs {
    /// The PKCS#12 password (default: generated).
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Where the password goes: admin (printed here), sender (mailed to --sender), sms
    /// (to the recipient's phone setting through sms-webhook-url).
    #[arg(long, value_enum, default_value_t = PasswordTo::Admin)]
    pub password_to: PasswordTo,
    /// The internal sender who asked (with --password-to sender).
    #[arg(long, value_name = "ADDR")]
    pub sender: Option<String>,
    /// Store the generated password in the recipient's settings (pfx-password).
    #[arg(long)]
    pub store_password: bool,
    /// 3DES / SHA-1 MAC for old clients and gpgsm.
    #[arg(long)]
    pub legacy: bool,
    /// Where the mail is handed over (SMTP).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:10026")]
    pub next_hop: String,
}

/// Where a PKCS#12 password goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PasswordTo {
    /// Printed once to the administrator.
    Admin,
    /// Mailed to the internal sender who asked (--sender).
    Sender,
    /// By SMS through the sms-webhook-url.
    Sms,
}

#[derive(Debug, Subcommand)]
pub enum PendingCommand {
    /// List pending requests.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Write a pending request's CSR (PEM).
    Download {
        /// Request id.
        id: i64,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// With -o: write through a symbolic link (refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Upload the issued certificate: matched to its pending key and stored.
    Upload {
        /// Certificate file.
        file: PathBuf,
    },
    /// Try a request again later.
    Reschedule {
        /// Request id.
        id: i64,
        /// Seconds from now (default: the handler's backoff).
        #[arg(long)]
        delay: Option<i64>,
    },
    /// Delete a pending request and its key.
    Delete {
        /// Request id.
        id: i64,
    },
}

/// Runs a CA command.
pub async fn run(app: &App, c: &CaCommand) -> Result<ExitCode, Failure> {
    match c {
        CaCommand::Create(a) => create::create(app, a).await,
        CaCommand::Import {
            cert,
            key,
            password,
            sig,
            default,
        } => create::import(app, cert, key, password, sig, *default).await,
        CaCommand::List { json } => create::list(app, *json).await,
        CaCommand::Config { key, value, json } => {
            create::config(app, key.as_deref(), value.as_deref(), *json).await
        }
        CaCommand::Default { ca } => create::set_default(app, ca).await,
        CaCommand::Issue(a) => issue::issue(app, a).await,
        CaCommand::Send {
            thumbprints,
            to,
            allow_mismatch,
            delivery,
        } => deliver::send_certificates(app, thumbprints, to, *allow_mismatch, delivery).await,
        CaCommand::SignCsr(a) => issue::sign_csr(app, a).await,
        CaCommand::Bulk(a) => issue::bulk(app, a).await,
        CaCommand::Request(a) => issue::request(app, a).await,
        CaCommand::Pending(p) => issue::pending(app, p).await,
        CaCommand::AutoRenew {
            next_hop,
            as_of,
            json,
        } => lifecycle::auto_renew(app, next_hop, as_of.as_deref(), *json).await,
        CaCommand::Renew {
            thumbprint,
            same_key,
            days,
        } => lifecycle::renew(app, thumbprint, *same_key, *days).await,
        CaCommand::Refresh { thumbprint, days } => lifecycle::refresh(app, thumbprint, *days).await,
        CaCommand::Revoke { what, reason, ca } => {
            lifecycle::revoke(app, what, reason.as_deref(), ca).await
        }
        CaCommand::Crl(a) => lifecycle::crl(app, a).await,
        CaCommand::P12(a) => deliver::p12(app, a).await,
    }
}
