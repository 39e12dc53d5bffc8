//! `certmail ca create|import|list|config|default`: making CAs, listing them, their
//! configuration and the default CA.

use std::path::Path;
use std::process::ExitCode;

use certmail_app::App;
use certmail_app::ca::CaCreate;
use certmail_ca::{KeySpec, SigHash};

use super::CreateArgs;
use crate::cli::{Failure, PasswordArgs, read_password, usage};

/// `ca create`: a root and an intermediate, or with --under an intermediate only.
pub(super) async fn create(app: &App, a: &CreateArgs) -> Result<ExitCode, Failure> {
    let key = KeySpec::parse(&a.key).map_err(|e| usage(e.to_string()))?;
    let hash = SigHash::parse(&a.sig).map_err(|e| usage(e.to_string()))?;
    let ca = match (&a.root_cn, &a.under) {
        (_, Some(parent)) => {
            let spec = certmail_ca::CaSpec {
                cn: a.intermediate_cn.clone(),
                email: a.email.clone(),
                days: a.days,
                key,
                hash,
                path_len: Some(0),
            };
            app.ca_create_under(parent, spec, a.default).await?
        }
        (Some(root_cn), None) => {
            let create = CaCreate {
                root_cn: root_cn.clone(),
                intermediate_cn: a.intermediate_cn.clone(),
                key,
                days: a.days,
                hash,
                email: a.email.clone(),
                make_default: a.default,
            };
            app.ca_create(&create).await?
        }
        (None, None) => return Err(usage("give --root-cn or --under")),
    };
    println!(
        "created CA {} (id {}){}",
        ca.name,
        ca.id,
        if ca.is_default {
            ", the default CA"
        } else {
            ""
        }
    );
    println!("  root {} (root store)", ca.root_sha256);
    println!("  intermediate {} (certificate store)", ca.signer_sha256);
    Ok(ExitCode::SUCCESS)
}

/// `ca import`: an existing CA from its certificate and key files.
pub(super) async fn import(
    app: &App,
    cert: &Path,
    key: &Path,
    password: &PasswordArgs,
    sig: &str,
    default: bool,
) -> Result<ExitCode, Failure> {
    let pw = read_password(password)?;
    let hash = SigHash::parse(sig).map_err(|e| usage(e.to_string()))?;
    let read = |p: &Path| {
        std::fs::read(p).map_err(|e| Failure {
            code: 1,
            message: format!("{}: {e}", p.display()),
        })
    };
    let (cert_file, key_file) = (read(cert)?, read(key)?);
    let row = app
        .ca_import_files(
            &cert_file,
            &key_file,
            pw.as_ref().map(|p| p.as_str()),
            hash,
            default,
        )
        .await?;
    println!(
        "imported CA {} (id {}){}",
        row.name,
        row.id,
        if row.is_default {
            ", the default CA"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

/// `ca list`.
pub(super) async fn list(app: &App, json: bool) -> Result<ExitCode, Failure> {
    let cas = app.cas().await?;
    if json {
        // The API's object (`GET /api/v1/cas`), with the names this command printed before
        // (`root`, `intermediate`, `default`) as aliases for one release (README).
        let rows: Vec<_> = cas
            .iter()
            .map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("root".into(), c.root_sha256.clone().into());
                    o.insert("intermediate".into(), c.signer_sha256.clone().into());
                    o.insert("default".into(), c.is_default.into());
                }
                v
            })
            .collect();
        crate::render::json(&rows);
    } else {
        for c in &cas {
            println!(
                "{:>3}  {}  {}{}",
                c.id,
                &c.signer_sha256[..16],
                c.name,
                if c.is_default { "  (default)" } else { "" }
            );
        }
        println!("{} CA(s)", cas.len());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca config`: shows the configuration, or sets one setting.
pub(super) async fn config(
    app: &App,
    key: Option<&str>,
    value: Option<&str>,
    json: bool,
) -> Result<ExitCode, Failure> {
    let cfg = match (key, value) {
        (Some(k), Some(v)) => app.ca_config_set(k, v).await?,
        (Some(k), None) => return Err(usage(format!("give a value for {k}"))),
        _ => app.ca_config().await?,
    };
    if json || key.is_none() {
        println!("{}", serde_json::to_string_pretty(&cfg).unwrap_or_default());
    } else {
        println!("{} set", key.unwrap_or_default());
    }
    Ok(ExitCode::SUCCESS)
}

/// `ca default`.
pub(super) async fn set_default(app: &App, ca: &str) -> Result<ExitCode, Failure> {
    let row = app.ca_set_default(ca).await?;
    println!("default CA: {} (id {})", row.name, row.id);
    Ok(ExitCode::SUCCESS)
}
