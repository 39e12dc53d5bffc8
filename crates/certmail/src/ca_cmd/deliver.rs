//! `certmail ca send|p12`: delivering certificates with their keys as PKCS#12, by mail
//! (the password another way) or into a file.

use std::process::ExitCode;

use certmail_app::App;

use super::{P12Args, SendArgs};
use crate::cli::{Failure, read_password, usage};
use crate::store_cmd::write_output;

/// `ca send` and `ca issue --send`: exit 0 when the PKCS#12 and the password went their
/// ways, 1 when the mail was not accepted (nothing was sent) or the password's way failed
/// (the password is then printed here, once).
pub(super) async fn send_certificates(
    app: &App,
    thumbprints: &[String],
    to: &str,
    allow_mismatch: bool,
    d: &SendArgs,
) -> Result<ExitCode, Failure> {
    use certmail_app::ca_send::{PasswordTo, SendRequest};
    let password_to = match d.password_to {
        super::PasswordTo::Admin => PasswordTo::Admin,
        super::PasswordTo::Sms => PasswordTo::Sms,
        super::PasswordTo::Sender => PasswordTo::Sender(
            d.sender
                .clone()
                .ok_or_else(|| usage("--password-to sender needs --sender ADDR"))?,
        ),
    };
    let req = SendRequest {
        thumbprints: thumbprints.to_vec(),
        to: to.to_owned(),
        password: read_password(&d.password)?,
        password_to,
        store_password: d.store_password,
        allow_mismatch,
        legacy: d.legacy,
    };
    let prepared = app.ca_send_prepare(&req).await?;
    let (n, keys, from, rcpt) = (
        prepared.sent.len(),
        prepared.with_keys,
        prepared.from.clone(),
        prepared.to.clone(),
    );
    let relay = certmail_gateway::relay::Relay::new(
        &d.next_hop,
        &crate::jobs_cmd::host_name(),
        std::time::Duration::from_secs(60),
        std::time::Duration::from_secs(120),
    );
    let o = certmail_jobs::ca_send::send(&relay, prepared).await;
    relay.close_idle().await;
    if let Err(why) = &o.mail {
        return Err(Failure {
            code: 1,
            message: format!(
                "the certificate mail to {rcpt} was not accepted, nothing was sent: {why}"
            ),
        });
    }
    println!(
        "sent {n} certificate(s) ({keys} with key) from {from} to {rcpt}; password {}",
        o.password_way
    );
    if let Some(p) = &o.password_problem {
        eprintln!(
            "error: the password could not be delivered: {p}; give it to the recipient another way"
        );
    }
    if let Some(pw) = &o.show_password {
        println!("password: {}", pw.as_str());
    }
    Ok(if o.password_problem.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `ca p12`: the PKCS#12 into a file; a generated password is printed once.
pub(super) async fn p12(app: &App, a: &P12Args) -> Result<ExitCode, Failure> {
    let given = read_password(&a.password)?;
    let generated = given.is_none();
    let (data, pw, to) = app
        .ca_deliver(
            &a.thumbprint,
            a.to.as_deref(),
            a.allow_mismatch,
            given,
            a.legacy,
            a.store_password,
        )
        .await?;
    write_output(Some(&a.output), &data, a.force)?;
    println!(
        "wrote {} for {} ({} form)",
        a.output.display(),
        to.as_deref().unwrap_or("-"),
        if a.legacy {
            "legacy 3DES"
        } else {
            "modern AES-256"
        }
    );
    if generated {
        println!("password: {}", pw.as_str());
    }
    Ok(ExitCode::SUCCESS)
}
