//! `certmail smime sign|encrypt|decrypt|verify`: each reads a message file (or standard
//! input) and writes the result to standard output. With no certificate options the stores
//! are used; with them, nothing is opened.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use certmail_app::trust::{Verdict, certificates_from_files};
use certmail_app::{App, AppError};
use certmail_crypto::AwsLcOps;
use certmail_pki::Certificate;
use certmail_pki::sig::Hash;
use certmail_pki::verify::{self, Options, Purpose};
use certmail_smime::message::{self, UnwrapOptions, Unwrapped};
use certmail_smime::{Cipher, EncryptOptions, KeyPair, SignOptions, SmimeError};
use clap::{Args, Subcommand, ValueEnum};

use crate::cli::{Cli, Failure, PasswordArgs, io_failure, read_key_file, read_password};

/// `certmail smime ...`.
#[derive(Debug, Subcommand)]
pub enum SmimeCommand {
    /// Sign a message (multipart/signed by default, --opaque for signed-data).
    Sign(SignArgs),
    /// Encrypt a message to recipients (selected certificates and/or files).
    Encrypt(EncryptArgs),
    /// Decrypt a message (every layer), verifying any signatures found inside.
    Decrypt(DecryptArgs),
    /// Verify the signatures of a message; exit 0 only when every one is valid and trusted.
    Verify(VerifyArgs),
}

/// Digest choice.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DigestArg {
    /// SHA-256.
    Sha256,
    /// SHA-384.
    Sha384,
    /// SHA-512.
    Sha512,
}

/// Cipher choice.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum CipherArg {
    /// AES-128-CBC.
    Aes128,
    /// AES-192-CBC.
    Aes192,
    /// AES-256-CBC (default).
    Aes256,
    /// AES-128-GCM (AuthEnvelopedData).
    #[value(name = "aes128-gcm")]
    Aes128Gcm,
    /// AES-256-GCM (AuthEnvelopedData; Outlook cannot read it).
    #[value(name = "aes256-gcm")]
    Aes256Gcm,
    /// ChaCha20-Poly1305 (AuthEnvelopedData, RFC 8103; few clients read it).
    #[value(name = "chacha20-poly1305")]
    ChaCha20Poly1305,
}

/// Arguments of `smime sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// Message file (standard input when absent).
    pub input: Option<PathBuf>,
    /// Signing certificate in the store (SHA-256 thumbprint or unique prefix).
    #[arg(long, conflicts_with_all = ["cert", "key"], required_unless_present = "cert")]
    pub signer: Option<String>,
    /// Signing certificate file (PEM/DER; further certificates in it are sent as the chain).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key file (PEM, DER or PKCS#12).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// More certificates to include (chain files).
    #[arg(long)]
    pub chain: Vec<PathBuf>,
    /// Digest (EC keys use their curve's digest).
    #[arg(long, value_enum, default_value = "sha256")]
    pub digest: DigestArg,
    /// RSASSA-PSS instead of PKCS#1 v1.5.
    #[arg(long)]
    pub pss: bool,
    /// application/pkcs7-mime signed-data instead of multipart/signed.
    #[arg(long)]
    pub opaque: bool,
}

/// Arguments of `smime encrypt`.
#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// Message file (standard input when absent).
    pub input: Option<PathBuf>,
    /// Recipient addresses: their selected encryption certificates from the stores.
    #[arg(long, required_unless_present = "cert")]
    pub to: Vec<String>,
    /// Recipient certificate files (added to those of --to).
    #[arg(long)]
    pub cert: Vec<PathBuf>,
    /// Content cipher.
    #[arg(long, value_enum, default_value = "aes256")]
    pub cipher: CipherArg,
    /// RSAES-OAEP (SHA-256) key transport instead of PKCS#1 v1.5.
    #[arg(long)]
    pub oaep: bool,
    /// Identify recipients by subject key identifier instead of issuer and serial.
    #[arg(long)]
    pub key_id: bool,
}

/// Arguments of `smime decrypt`.
#[derive(Debug, Args)]
pub struct DecryptArgs {
    /// Message file (standard input when absent).
    pub input: Option<PathBuf>,
    /// Recipient certificate file (with --key; the stores are not used then).
    #[arg(long, requires = "key")]
    pub cert: Option<PathBuf>,
    /// Private key file (PEM, DER or PKCS#12).
    #[arg(long, requires = "cert")]
    pub key: Option<PathBuf>,
    #[command(flatten)]
    pub password: PasswordArgs,
    /// Print the layer report as JSON on standard error.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `smime verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Message file (standard input when absent).
    pub input: Option<PathBuf>,
    /// Trusted root certificate files (the stores are not used when any certificate option
    /// is given).
    #[arg(long)]
    pub root: Vec<PathBuf>,
    /// Intermediate certificate files.
    #[arg(long)]
    pub intermediate: Vec<PathBuf>,
    /// CRL files.
    #[arg(long)]
    pub crl: Vec<PathBuf>,
    /// Validation time (RFC 3339) instead of now.
    #[arg(long)]
    pub at: Option<String>,
    /// Print the report as JSON (instead of the message with report headers).
    #[arg(long)]
    pub json: bool,
    /// Accept SHA-1 signatures (old mail).
    #[arg(long)]
    pub allow_sha1: bool,
    /// The signed file, for a detached signature outside MIME: MSG is then the signature
    /// (a `.p7s`: DER, PEM or base64) and this file the content it signs, byte for byte.
    #[arg(long)]
    pub content: Option<PathBuf>,
    /// Policy, revocation and profile inputs, as for `certmail verify`.
    #[command(flatten)]
    pub trust: crate::verify_cmd::TrustArgs,
}

/// Explicit trust inputs: roots, intermediates, CRLs (the stores are not used).
type Explicit<'a> = (
    &'a [Certificate],
    &'a [Certificate],
    &'a [Arc<certmail_pki::crl::Crl>],
);

fn bad_input(e: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: e.to_string(),
    }
}

fn smime_failure(e: SmimeError) -> Failure {
    let code = match e {
        SmimeError::Io(_) => 1,
        _ => 2,
    };
    Failure {
        code,
        message: e.to_string(),
    }
}

fn app_failure(e: AppError) -> Failure {
    match e {
        AppError::Smime(s) => smime_failure(s),
        other => other.into(),
    }
}

fn read_input(p: Option<&PathBuf>) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    match p {
        Some(p) if p.as_os_str() != "-" => {
            data = std::fs::read(p).map_err(|e| bad_input(format!("{}: {e}", p.display())))?;
        }
        _ => {
            std::io::stdin()
                .read_to_end(&mut data)
                .map_err(|e| bad_input(format!("standard input: {e}")))?;
        }
    }
    if data.is_empty() {
        return Err(bad_input("the message is empty"));
    }
    Ok(data)
}

fn cert_files(files: &[PathBuf]) -> Result<Vec<Certificate>, Failure> {
    certificates_from_files(files).map_err(|(f, e)| bad_input(format!("{f}: {e}")))
}

fn key_pair(
    cert: &PathBuf,
    key: &std::path::Path,
    password: &PasswordArgs,
) -> Result<(KeyPair, Vec<Certificate>), Failure> {
    let mut certs = cert_files(std::slice::from_ref(cert))?;
    if certs.is_empty() {
        return Err(bad_input(format!("{}: no certificate", cert.display())));
    }
    let leaf = certs.remove(0);
    let pw = read_password(password)?;
    let k = read_key_file(key, pw.as_ref().map(|p| p.as_str())).map_err(bad_input)?;
    Ok((KeyPair::new(leaf, &k).map_err(smime_failure)?, certs))
}

/// A CMS signature file as DER: DER as it is, a PEM `PKCS7`/`CMS` block, or bare base64.
fn signature_der(data: &[u8]) -> Result<Vec<u8>, Failure> {
    if certmail_pki::pem::looks_like_pem(data) {
        let blocks = certmail_pki::pem::parse_all(data).map_err(bad_input)?;
        return blocks
            .into_iter()
            .find(|b| matches!(b.label.as_str(), "PKCS7" | "CMS" | "PKCS #7 SIGNED DATA"))
            .map(|b| b.der)
            .ok_or_else(|| bad_input("no PKCS7 or CMS block in the signature file"));
    }
    if data.first() == Some(&0x30) {
        return Ok(data.to_vec());
    }
    certmail_smime::b64::decode(data).map_err(|e| bad_input(format!("signature file: {e}")))
}

fn stdout_buffered() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock())
}

fn flush(mut w: impl Write) -> Result<(), Failure> {
    w.flush().map_err(|e| io_failure("standard output", e))
}

/// Runs `certmail smime ...`.
pub async fn run(cli: &Cli, c: &SmimeCommand) -> Result<ExitCode, Failure> {
    match c {
        SmimeCommand::Sign(a) => sign(cli, a).await,
        SmimeCommand::Encrypt(a) => encrypt(cli, a).await,
        SmimeCommand::Decrypt(a) => decrypt(cli, a).await,
        SmimeCommand::Verify(a) => verify(cli, a).await,
    }
}

async fn sign(cli: &Cli, a: &SignArgs) -> Result<ExitCode, Failure> {
    let msg = read_input(a.input.as_ref())?;
    let (kp, mut chain) = match (&a.signer, &a.cert, &a.key) {
        (Some(t), _, _) => {
            let app = crate::cli::open(cli).await?;
            let r = app.smime_signer(t).await;
            app.close().await;
            r.map_err(app_failure)?
        }
        (None, Some(c), Some(k)) => key_pair(c, k, &a.password)?,
        _ => return Err(bad_input("give --signer or --cert and --key")),
    };
    chain.extend(cert_files(&a.chain)?);
    let opts = SignOptions {
        hash: match a.digest {
            DigestArg::Sha256 => Hash::Sha256,
            DigestArg::Sha384 => Hash::Sha384,
            DigestArg::Sha512 => Hash::Sha512,
        },
        pss: a.pss,
        signing_time: certmail_app::now(),
        encryption_cert: None,
    };
    let mut out = stdout_buffered();
    message::sign_message(&msg, &kp, &chain, &opts, !a.opaque, &mut out).map_err(smime_failure)?;
    flush(out)?;
    Ok(ExitCode::SUCCESS)
}

async fn encrypt(cli: &Cli, a: &EncryptArgs) -> Result<ExitCode, Failure> {
    let msg = read_input(a.input.as_ref())?;
    let mut recipients = cert_files(&a.cert)?;
    if !a.to.is_empty() {
        let app = crate::cli::open(cli).await?;
        let r = app.smime_recipients(&a.to, certmail_app::now()).await;
        app.close().await;
        for c in r.map_err(app_failure)? {
            if !recipients.iter().any(|x| x.sha256 == c.sha256) {
                recipients.push(c);
            }
        }
    }
    let opts = EncryptOptions {
        cipher: match a.cipher {
            CipherArg::Aes128 => Cipher::Aes128Cbc,
            CipherArg::Aes192 => Cipher::Aes192Cbc,
            CipherArg::Aes256 => Cipher::Aes256Cbc,
            CipherArg::Aes128Gcm => Cipher::Aes128Gcm,
            CipherArg::Aes256Gcm => Cipher::Aes256Gcm,
            CipherArg::ChaCha20Poly1305 => Cipher::ChaCha20Poly1305,
        },
        oaep: a.oaep,
        by_key_id: a.key_id,
    };
    let mut out = stdout_buffered();
    message::encrypt_message(&msg, &recipients, &opts, &mut out).map_err(smime_failure)?;
    flush(out)?;
    Ok(ExitCode::SUCCESS)
}

/// Stateless trust: the given roots, intermediates (plus the certificates in the message)
/// and CRLs, at `at` — re-checked at the signing time for a certificate expired since.
fn judge_stateless(
    u: &mut Unwrapped<'_>,
    roots: &[Certificate],
    intermediates: &[Certificate],
    crls: &[Arc<certmail_pki::crl::Crl>],
    at: i64,
    trust: &Options,
) {
    let mut pool: Vec<Certificate> = intermediates.to_vec();
    for l in &u.layers {
        if let message::Layer::Signed { certificates, .. } = l {
            pool.extend(certificates.iter().cloned());
        }
    }
    for s in u.signers_mut() {
        let Some(cert) = s.check.cert.clone() else {
            s.trust = Some(certmail_app::smime::unknown_signer());
            continue;
        };
        let judge = |t: i64| {
            let opts = Options {
                time: t,
                purpose: Purpose::SmimeSign,
                crls: crls.to_vec(),
                ..trust.clone()
            };
            Verdict::from_result(
                &verify::verify(&cert, &pool, roots, &opts, &AwsLcOps),
                false,
            )
        };
        let now = judge(at);
        let then = certmail_app::smime::judge_time(now.status, s.check.signing_time, at)
            .map(|t| (t, judge(t)));
        s.trust = Some(certmail_app::smime::signer_trust(now, then));
    }
}

fn write_result(u: &Unwrapped<'_>) -> Result<(), Failure> {
    let headers = message::report_headers(&u.layers);
    let mut out = stdout_buffered();
    message::write_with_headers(&u.message, &headers, &mut out).map_err(smime_failure)?;
    flush(out)
}

fn summary(u: &Unwrapped<'_>) {
    for (i, l) in u.layers.iter().enumerate() {
        match l {
            message::Layer::Encrypted(d) => eprintln!(
                "layer {}: encrypted ({}, {}) to {} recipient(s); decrypted with {}",
                i + 1,
                d.cipher,
                d.key_algorithm,
                d.recipients.len(),
                d.decrypted_with
            ),
            message::Layer::Compressed { compressed, size } => eprintln!(
                "layer {}: compressed (zlib), {compressed} bytes to {size}",
                i + 1
            ),
            message::Layer::Signed {
                opaque, signers, ..
            } => {
                for s in signers {
                    let t = s.trust.as_ref();
                    eprintln!(
                        "layer {}: {} signature by {}: {}{}; {}{}",
                        i + 1,
                        if *opaque { "opaque" } else { "detached" },
                        s.subject.as_deref().unwrap_or(&s.check.signer_id),
                        if s.verified {
                            "verified"
                        } else {
                            "NOT verified"
                        },
                        s.failure
                            .as_ref()
                            .map(|f| format!(" ({f})"))
                            .unwrap_or_default(),
                        t.map_or("not judged".into(), |t| if t.trusted {
                            "trusted".to_owned()
                        } else {
                            format!("NOT trusted ({}: {})", t.status, t.reason)
                        }),
                        match s.from_match {
                            Some(false) => "; signer does not match From",
                            _ => "",
                        }
                    );
                }
            }
        }
    }
}

/// Unwraps and judges `msg`: with the explicit inputs when given, else with the stores
/// (and, unless `--min-rsa-bits` was given, the global `min-rsa-bits`).
#[allow(clippy::too_many_arguments)]
async fn unwrap_with<'m>(
    cli: &Cli,
    msg: &'m [u8],
    given: Vec<KeyPair>,
    stateless: Option<Explicit<'_>>,
    opts: &UnwrapOptions,
    at: i64,
    trust: &Options,
    min_rsa_given: bool,
) -> Result<Unwrapped<'m>, Failure> {
    match stateless {
        Some((roots, inter, crls)) => {
            let refs: Vec<&KeyPair> = given.iter().collect();
            let mut u = message::unwrap(msg, &refs, opts).map_err(smime_failure)?;
            judge_stateless(&mut u, roots, inter, crls, at, trust);
            Ok(u)
        }
        None => {
            let app: App = crate::cli::open(cli).await?;
            let mut trust = trust.clone();
            if !min_rsa_given {
                trust.min_rsa_bits = app.global_min_rsa_bits().await.map_err(app_failure)?;
            }
            let r = app
                .smime_unwrap_with_trust(msg, given, opts, at, &trust)
                .await;
            app.close().await;
            r.map_err(app_failure)
        }
    }
}

async fn decrypt(cli: &Cli, a: &DecryptArgs) -> Result<ExitCode, Failure> {
    let msg = read_input(a.input.as_ref())?;
    let (given, stateless) = match (&a.cert, &a.key) {
        (Some(c), Some(k)) => (vec![key_pair(c, k, &a.password)?.0], true),
        _ => (Vec::new(), false),
    };
    let empty: Explicit<'_> = (&[], &[], &[]);
    let u = unwrap_with(
        cli,
        &msg,
        given,
        stateless.then_some(empty),
        &UnwrapOptions::default(),
        certmail_app::now(),
        &Options::default(),
        false,
    )
    .await?;
    if !u
        .layers
        .iter()
        .any(|l| matches!(l, message::Layer::Encrypted(_)))
    {
        return Err(bad_input("the message is not encrypted"));
    }
    if a.json {
        eprintln!(
            "{}",
            serde_json::to_string_pretty(&u.layers).unwrap_or_default()
        );
    } else {
        summary(&u);
    }
    write_result(&u)?;
    Ok(ExitCode::SUCCESS)
}

async fn verify(cli: &Cli, a: &VerifyArgs) -> Result<ExitCode, Failure> {
    let msg = read_input(a.input.as_ref())?;
    let stateless = !a.root.is_empty() || !a.intermediate.is_empty() || !a.crl.is_empty();
    let t = crate::verify_cmd::trust_inputs(&a.root, &a.intermediate, &a.crl, a.at.as_deref())?;
    let (roots, inter, at) = (t.roots, t.intermediates, t.at);
    let crls: Vec<Arc<certmail_pki::crl::Crl>> = t.crls.into_iter().map(Arc::new).collect();
    // The roots too: a DSA signer may inherit its parameters from one (RFC 3279 2.3.2).
    let opts = UnwrapOptions {
        allow_sha1: a.allow_sha1,
        extra_certs: inter.iter().chain(&roots).cloned().collect(),
    };
    let trust = Options {
        allow_sha1: a.allow_sha1,
        ..a.trust.options()
    };
    let content = match &a.content {
        Some(p) => Some(std::fs::read(p).map_err(|e| bad_input(format!("{}: {e}", p.display())))?),
        None => None,
    };
    let u = match &content {
        // A detached signature over a file, outside MIME (a .p7s and what it signs).
        Some(content) => {
            let sig = signature_der(&msg)?;
            let mut u = message::verify_detached(&sig, content, &opts).map_err(smime_failure)?;
            if stateless {
                judge_stateless(&mut u, &roots, &inter, &crls, at, &trust);
            } else {
                let app: App = crate::cli::open(cli).await?;
                let mut trust = trust.clone();
                if a.trust.min_rsa_bits.is_none() {
                    trust.min_rsa_bits = app.global_min_rsa_bits().await.map_err(app_failure)?;
                }
                let r = app.smime_judge_with(&mut u, at, Some(&trust)).await;
                app.close().await;
                r.map_err(app_failure)?;
            }
            // The result is the content itself, owned (the signature's buffer goes away).
            Unwrapped {
                message: std::borrow::Cow::Owned(u.message.into_owned()),
                layers: u.layers,
            }
        }
        None => {
            unwrap_with(
                cli,
                &msg,
                Vec::new(),
                stateless.then_some((&roots[..], &inter[..], &crls[..])),
                &opts,
                at,
                &trust,
                a.trust.min_rsa_bits.is_some(),
            )
            .await?
        }
    };
    if u.signers().next().is_none() {
        eprintln!("the message is not signed");
        return Ok(ExitCode::from(1));
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "ok": u.all_signatures_ok(),
                "layers": u.layers,
            }))
            .unwrap_or_default()
        );
    } else if content.is_some() {
        // Not a message: the content as it is, the report on standard error.
        summary(&u);
        let mut out = stdout_buffered();
        out.write_all(&u.message)
            .map_err(|e| io_failure("standard output", e))?;
        flush(out)?;
    } else {
        summary(&u);
        write_result(&u)?;
    }
    // A signature or path certmail cannot check says nothing about the content: exit 2,
    // as for any other algorithm it does not support.
    let unsupported = u.signers().find_map(|s| {
        if s.unsupported {
            s.failure.clone()
        } else {
            s.trust
                .as_ref()
                .filter(|t| t.status == "unsupported")
                .map(|t| format!("unsupported: {}", t.reason))
        }
    });
    if let Some(why) = unsupported {
        eprintln!("{why}");
        return Ok(ExitCode::from(2));
    }
    Ok(if u.all_signatures_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
