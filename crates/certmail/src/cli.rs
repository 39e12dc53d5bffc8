//! Argument definitions and dispatch. Command and flag names are fixed: scripts depend on them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use certmail_app::{App, AppError, Config, ExportFormat, ExportOptions, ImportOptions, RootPolicy};
use certmail_crypto::pkcs12::Pkcs12Form;
use certmail_store::{ExpiredFilter, KeyFilter, ListFilter, SortBy, StoreKind};
use clap::{Args, Parser, Subcommand, ValueEnum};
use zeroize::Zeroizing;

use crate::render;

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

#[derive(Debug, Subcommand)]
pub enum CaCommand {
    /// Create a root and an intermediate CA in one step (or, with --under, an intermediate
    /// under the root of an existing CA).
    Create {
        /// Root common name.
        #[arg(long, required_unless_present = "under")]
        root_cn: Option<String>,
        /// Create only an intermediate under this existing CA's root.
        #[arg(long, conflicts_with = "root_cn")]
        under: Option<String>,
        /// Intermediate common name (must differ from the root's).
        #[arg(long)]
        intermediate_cn: String,
        /// Key: rsa2048, rsa3072, rsa4096, p256, p384.
        #[arg(long, default_value = "rsa2048")]
        key: String,
        /// Validity in days.
        #[arg(long, default_value_t = 3650)]
        days: u32,
        /// Signature hash: sha256, sha384, sha512.
        #[arg(long, default_value = "sha256")]
        sig: String,
        /// CA e-mail address.
        #[arg(long)]
        email: Option<String>,
        /// Make it the default CA.
        #[arg(long)]
        default: bool,
    },
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
    Issue {
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Common name (default: the configured one).
        #[arg(long)]
        cn: Option<String>,
        /// Organisation.
        #[arg(long)]
        org: Option<String>,
        /// First name.
        #[arg(long)]
        first_name: Option<String>,
        /// Last name.
        #[arg(long)]
        last_name: Option<String>,
        /// Validity in days (default: configured).
        #[arg(long)]
        days: Option<u32>,
        /// Key: rsa2048, rsa3072, rsa4096, p256, p384 (default: configured).
        #[arg(long)]
        key: Option<String>,
        /// Signature hash (default: configured).
        #[arg(long)]
        sig: Option<String>,
        /// CA id or name (default: the default CA).
        #[arg(long, default_value = "")]
        ca: String,
        /// CRL distribution point URL to put in the certificate.
        #[arg(long)]
        crl_url: Option<String>,
        /// Also create a user object for the address.
        #[arg(long)]
        add_user: bool,
        /// Send the new certificate and key to the address by mail (PKCS#12; see `ca send`).
        #[arg(long)]
        send: bool,
        #[command(flatten)]
        delivery: SendArgs,
    },
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
    Request {
        /// Handler: csr or built-in (default: configured).
        #[arg(long)]
        handler: Option<String>,
        /// E-mail address.
        #[arg(long)]
        email: String,
        /// Common name.
        #[arg(long)]
        cn: String,
        /// Organisation.
        #[arg(long)]
        org: Option<String>,
        /// Key type.
        #[arg(long, default_value = "rsa2048")]
        key: String,
        /// Signature hash.
        #[arg(long, default_value = "sha256")]
        sig: String,
        /// Validity in days (built-in handler).
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// CA id or name (built-in handler).
        #[arg(long, default_value = "")]
        ca: String,
    },
    /// The pending-requests queue.
    #[command(subcommand)]
    Pending(PendingCommand),
    /// Sign an external PKCS#10 CSR (its self-signature is verified first).
    SignCsr {
        /// CSR file (PEM or DER).
        csr: PathBuf,
        /// E-mail address (default: from the CSR).
        #[arg(long)]
        email: Option<String>,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// CA id or name.
        #[arg(long, default_value = "")]
        ca: String,
        /// Write the certificate (PEM) here.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// With -o: write through a symbolic link (refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// Bulk requests from a CSV file (first row names the columns: EMAIL, COMMONNAME,
    /// ORGANISATION, FIRSTNAME, LASTNAME or their aliases).
    Bulk {
        /// The CSV file.
        file: PathBuf,
        /// Parse and validate only; issue nothing.
        #[arg(long)]
        preview: bool,
        /// CA id or name.
        #[arg(long, default_value = "")]
        ca: String,
        /// Key type.
        #[arg(long, default_value = "rsa2048")]
        key: String,
        /// Signature hash.
        #[arg(long, default_value = "sha256")]
        sig: String,
        /// Validity in days.
        #[arg(long, default_value_t = 730)]
        days: u32,
        /// Maximum requests per file.
        #[arg(long, default_value_t = 10_000)]
        max_rows: usize,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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
    Crl {
        /// CA id or name.
        #[arg(long, default_value = "")]
        ca: String,
        /// Serial numbers (hex) to revoke first.
        #[arg(long)]
        revoke: Vec<String>,
        /// Days until nextUpdate.
        #[arg(long, default_value_t = 7)]
        next_update_days: u32,
        /// Only list the serials given now, not those revoked before.
        #[arg(long)]
        no_update_existing: bool,
        /// Leave expired certificates off the CRL.
        #[arg(long)]
        drop_expired: bool,
        /// Also write the CRL (PEM) here.
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// With -o: write through a symbolic link (refused otherwise).
        #[arg(long)]
        force: bool,
    },
    /// PKCS#12 delivery: key + certificate + chain with a random password printed once.
    P12 {
        /// Thumbprint.
        thumbprint: String,
        /// 3DES / SHA-1 MAC for old clients and gpgsm.
        #[arg(long)]
        legacy: bool,
        #[command(flatten)]
        password: PasswordArgs,
        /// The recipient (default: the certificate's first address).
        #[arg(long)]
        to: Option<String>,
        /// Deliver even when the certificate does not carry the recipient's address.
        #[arg(long)]
        allow_mismatch: bool,
        /// Store the generated password in the user's settings (pfx-password).
        #[arg(long)]
        store_password: bool,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
        /// With -o: write through a symbolic link (refused otherwise).
        #[arg(long)]
        force: bool,
    },
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
    Encryption {
        /// E-mail address or domain.
        target: String,
        /// Select a certificate manually.
        #[arg(long, conflicts_with = "remove")]
        add: Option<String>,
        /// Remove a manual selection.
        #[arg(long)]
        remove: Option<String>,
        /// Candidate filter text (default: the user's address; domains: none).
        #[arg(long)]
        filter: Option<String>,
        /// Show all candidates, unfiltered.
        #[arg(long)]
        no_filter: bool,
        /// Expiry filter for candidates.
        #[arg(long, value_enum, default_value_t = Expiry::All)]
        expired: Expiry,
        /// Only candidates with a private key ("allow missing key alias" off).
        #[arg(long)]
        with_key: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
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

#[derive(Debug, Subcommand)]
pub enum ConformanceCommand {
    /// Run the x509-limbo path-validation suite.
    Limbo {
        /// limbo.json.
        #[arg(long)]
        suite: PathBuf,
        /// index.json with each case's relevance class (default: beside the suite).
        #[arg(long)]
        index: Option<PathBuf>,
        /// Exceptions file: {"case id": "reason"}; listed cases are skipped.
        #[arg(long)]
        exceptions: Option<PathBuf>,
        /// Write results in limbo's harness format here.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Certificate profile. limbo's RFC 5280 cases include the issuer duties of
        /// section 4 (criticality, key identifiers, ...), which only `strict` holds.
        #[arg(long, value_enum, default_value_t = ProfileArg::Strict)]
        profile: ProfileArg,
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
    Export {
        /// Thumbprint (prefix).
        thumbprint: String,
        /// Output format.
        #[arg(long, value_enum)]
        format: Format,
        /// PKCS#12 with 3DES and a SHA-1 MAC, for gpgsm and old Windows, macOS and Android.
        #[arg(long)]
        legacy: bool,
        /// Append the issuer chain to PEM output.
        #[arg(long)]
        chain: bool,
        #[command(flatten)]
        password: PasswordArgs,
        /// Output file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// With -o: write through a symbolic link (refused otherwise).
        #[arg(long)]
        force: bool,
    },
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

pub(crate) async fn open(cli: &Cli) -> Result<App, Failure> {
    Ok(App::open(&config(cli), passphrase()).await?)
}

pub(crate) fn config(cli: &Cli) -> Config {
    Config {
        data_dir: cli.data_dir.clone(),
        database_url: cli.database_url.clone(),
    }
}

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

/// Runs one command.
pub async fn run(cli: Cli) -> Result<ExitCode, Failure> {
    match &cli.command {
        Command::Init => {
            let report = App::init(&config(&cli), passphrase()).await?;
            println!("initialised {}", report.data_dir.display());
            println!("  key-encryption key: {}", report.kek_source);
            println!("  database: {}", report.database);
        }
        Command::Cert(c) => match c {
            CertCommand::Import(a) => return import(&cli, &a.files, a.options()?, a.json).await,
            CertCommand::List(a) => {
                let app = open(&cli).await?;
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
                let app = open(&cli).await?;
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
            CertCommand::Show { what, json } => {
                let path = std::path::Path::new(what);
                if path.is_file() {
                    let certs = certmail_app::inspect_file(path).map_err(|e| Failure {
                        code: 1,
                        message: format!("{what}: {e}"),
                    })?;
                    render::cert_show_parsed(&certs, *json);
                } else {
                    let app = open(&cli).await?;
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
                    render::cert_show(&view, Some(&verdict), *json);
                }
            }
            CertCommand::Export {
                thumbprint,
                format,
                legacy,
                chain,
                password,
                output,
                force,
            } => {
                let format = match format {
                    Format::Pem => ExportFormat::Pem,
                    Format::Der => ExportFormat::Der,
                    Format::P7b => ExportFormat::P7b,
                    Format::P12 => ExportFormat::P12,
                };
                if *legacy && format != ExportFormat::P12 {
                    return Err(usage("--legacy applies to --format p12 only"));
                }
                let opts = ExportOptions {
                    chain: *chain,
                    password: read_password(password)?,
                    form: if *legacy {
                        Pkcs12Form::Legacy
                    } else {
                        Pkcs12Form::Modern
                    },
                };
                if format == ExportFormat::P12 && opts.password.is_none() {
                    return Err(AppError::PasswordRequired.into());
                }
                let app = open(&cli).await?;
                let data = app.export(thumbprint, format, &opts).await?;
                app.close().await;
                write_output(output.as_ref(), &data, *force)?;
            }
            CertCommand::Delete { thumbprint } => {
                let app = open(&cli).await?;
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
        },
        Command::Key(k) => match k {
            KeyCommand::Import(a) => return import(&cli, &a.files, a.options()?, a.json).await,
            KeyCommand::List { json } => {
                let app = open(&cli).await?;
                let keys = app.keys().await?;
                app.close().await;
                render::key_list(&keys, *json);
            }
            KeyCommand::Delete { key_id, force } => {
                let app = open(&cli).await?;
                let id = app.delete_key(key_id, *force).await?;
                app.close().await;
                println!("deleted key {id}");
            }
        },
        Command::Conformance(ConformanceCommand::Limbo {
            suite,
            index,
            exceptions,
            out,
            profile,
        }) => {
            let index = index.clone().or_else(|| {
                let p = suite.with_file_name("index.json");
                p.exists().then_some(p)
            });
            let (results, summary) = crate::limbo::run(
                suite,
                index.as_deref(),
                exceptions.as_deref(),
                (*profile).into(),
            )
            .map_err(|message| Failure { code: 2, message })?;
            crate::limbo::print(&results, &summary);
            if let Some(o) = out {
                let text = serde_json::to_string_pretty(&crate::limbo::harness_json(&results))
                    .unwrap_or_default();
                write_output(Some(o), text.as_bytes(), false)?;
            }
        }
        Command::Verify(v) => return crate::verify_cmd::stateless(v),
        Command::Smime(c) => return crate::smime_cmd::run(&cli, c).await,
        Command::Crl(c) => {
            let app = open(&cli).await?;
            let r = crate::verify_cmd::crl(&app, c).await;
            app.close().await;
            return r;
        }
        Command::Ctl(c) => {
            let app = open(&cli).await?;
            let r = crate::verify_cmd::ctl(&app, c).await;
            app.close().await;
            return r;
        }
        Command::User(_)
        | Command::Domain(_)
        | Command::Global(_)
        | Command::Select(_)
        | Command::Recipients { .. } => {
            let app = open(&cli).await?;
            let r = crate::policy_cmd::run(&app, &cli.command).await;
            app.close().await;
            return r;
        }
        Command::Serve(a) => return crate::serve_cmd::run(&cli, a).await,
        Command::PostfixConfig(a) => return crate::postfix_cmd::run(a),
        Command::Doctor(a) => return crate::doctor_cmd::run(&cli, a).await,
        Command::Backup(a) => return crate::backup_cmd::backup(&cli, a).await,
        Command::Restore(a) => return crate::backup_cmd::restore(&cli, a).await,
        Command::Manpages { dir } => return crate::manpages::write(dir),
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(*shell, &mut cmd, "certmail", &mut std::io::stdout());
        }
        Command::Expiry {
            days,
            notify,
            next_hop,
            from,
            json,
        } => {
            let app = open(&cli).await?;
            let r = match notify {
                Some(admin) => {
                    crate::jobs_cmd::expiry_notify(&app, admin, next_hop, from.as_deref(), *json)
                        .await
                }
                None => crate::jobs_cmd::expiry(&app, *days, *json).await,
            };
            app.close().await;
            return r;
        }
        Command::Directory(c) => {
            let app = open(&cli).await?;
            let r = crate::directory_cmd::run(&app, c).await;
            app.close().await;
            return r;
        }
        Command::Hold(c) => {
            let app = open(&cli).await?;
            let r = crate::hold_cmd::run(&app, c).await;
            app.close().await;
            return r;
        }
        Command::Admin(c) => {
            let app = open(&cli).await?;
            let r = crate::admin_cmd::run(&app, c).await;
            app.close().await;
            return r;
        }
        Command::Audit(a) => {
            let app = open(&cli).await?;
            let r = crate::admin_cmd::audit(&app, a).await;
            app.close().await;
            return r;
        }
        Command::Ca(c) => {
            let app = open(&cli).await?;
            let r = crate::ca_cmd::run(&app, c).await;
            app.close().await;
            return r;
        }
        Command::Root(r) => match r {
            RootCommand::Import { files, json } => {
                let opts = ImportOptions {
                    password: None,
                    roots: RootPolicy::AllToRoots,
                };
                return import(&cli, files, opts, *json).await;
            }
            RootCommand::List(a) => {
                let app = open(&cli).await?;
                let rows = app.list(StoreKind::Roots, &list_filter(a)).await?;
                app.close().await;
                render::cert_list(&rows, a.json);
            }
            RootCommand::Show { thumbprint, json } => {
                let app = open(&cli).await?;
                let view = app.get(StoreKind::Roots, thumbprint).await?;
                app.close().await;
                render::cert_show(&view, None, *json);
            }
            RootCommand::Delete { thumbprint } => {
                let app = open(&cli).await?;
                let v = app.delete(StoreKind::Roots, thumbprint).await?;
                app.close().await;
                println!("deleted root {} {}", v.cert.sha256, v.cert.subject);
            }
        },
    }
    Ok(ExitCode::SUCCESS)
}
