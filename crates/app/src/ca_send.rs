//! Certificates sent by mail (the reference's "send certificates"): the certificates and
//! keys go into one PKCS#12 under a given or generated password, attached to a message
//! from the CA's `ca-email` address to the recipient. The password never travels in that
//! message: it is printed to the administrator, mailed to the internal sender who asked,
//! or sent by SMS through the `sms-webhook-url` to the recipient's `phone`. The network
//! side (next hop, webhook) is the caller's; this file decides what is sent.

use zeroize::Zeroizing;

use certmail_crypto::pkcs12::{self, P12Entry, Pkcs12Form};
use certmail_smime::{b64, mime};

use crate::policy::normalise_email;
use crate::{App, AppError, Result};

/// Where the PKCS#12 password goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordTo {
    /// Printed once to the administrator who runs the command.
    Admin,
    /// Mailed to this internal sender (the one who asked for the certificate).
    Sender(String),
    /// Sent by SMS to the recipient's `phone` through the `sms-webhook-url`.
    Sms,
}

/// What to send.
#[derive(Debug, Clone)]
pub struct SendRequest {
    /// Certificates (thumbprints or unique prefixes); those with a key in the key store go
    /// in with their key and chain.
    pub thumbprints: Vec<String>,
    /// The recipient.
    pub to: String,
    /// The password (generated when `None`).
    pub password: Option<Zeroizing<String>>,
    /// Where the password goes.
    pub password_to: PasswordTo,
    /// Store the generated password in the recipient's `pfx-password` setting.
    pub store_password: bool,
    /// Send certificates whose addresses do not include `to`.
    pub allow_mismatch: bool,
    /// The legacy (3DES) PKCS#12 form, for old Windows, macOS, Android and gpgsm.
    pub legacy: bool,
}

/// How the password is delivered.
#[derive(Debug)]
pub enum PasswordDelivery {
    /// To be printed to the administrator.
    Print,
    /// A message to an internal sender.
    Mail {
        /// Recipient.
        to: String,
        /// The message.
        mail: Zeroizing<Vec<u8>>,
    },
    /// An SMS through the webhook.
    Sms {
        /// The webhook URL.
        url: String,
        /// The number.
        number: String,
        /// The JSON body (`{"to": number, "text": ...}`).
        body: Zeroizing<Vec<u8>>,
        /// The internal addresses the webhook may be at (`fetch-allow`).
        allow: crate::fetch_guard::AllowList,
    },
}

/// A prepared delivery.
#[derive(Debug)]
pub struct Prepared {
    /// The envelope sender (the CA's `ca-email`).
    pub from: String,
    /// The recipient.
    pub to: String,
    /// The message carrying the PKCS#12 (never encrypted by the gateway: it comes from the
    /// CA's address).
    pub mail: Vec<u8>,
    /// The password (for printing, when that is the way, or as the fallback when another
    /// way fails).
    pub password: Zeroizing<String>,
    /// How the password goes.
    pub delivery: PasswordDelivery,
    /// Thumbprints sent.
    pub sent: Vec<String>,
    /// How many of them went with their private key.
    pub with_keys: usize,
}

fn clean(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).collect()
}

impl App {
    /// Prepares a certificate delivery: checks, the PKCS#12, the message and the password's
    /// way. Nothing is sent and nothing is stored (but the generated password, when asked).
    pub async fn ca_send_prepare(&self, req: &SendRequest) -> Result<Prepared> {
        let cfg = self.ca_config().await?;
        let from = cfg.ca_email.clone().ok_or_else(|| {
            AppError::Invalid(
                "no sender address for certificate mail: set it with `certmail ca config ca-email ADDR`"
                    .into(),
            )
        })?;
        let to = normalise_email(&req.to)?;
        if req.thumbprints.is_empty() {
            return Err(AppError::Invalid("no certificate to send".into()));
        }
        let mut views = Vec::new();
        for t in &req.thumbprints {
            let v = self.get_any(t).await?;
            if !req.allow_mismatch && !v.cert.emails.contains(&to) {
                return Err(AppError::Invalid(format!(
                    "certificate {} is for {} but the recipient is {to}; pass --allow-mismatch to send it anyway",
                    &v.cert.sha256[..16],
                    if v.cert.emails.is_empty() {
                        "no address".to_owned()
                    } else {
                        v.cert.emails.join(", ")
                    }
                )));
            }
            if !views
                .iter()
                .any(|x: &crate::CertView| x.cert.sha256 == v.cert.sha256)
            {
                views.push(v);
            }
        }
        // The password's way is checked before anything is generated or stored.
        let (number, url) = match &req.password_to {
            PasswordTo::Sms => {
                let number = self.plain_setting(&to, &crate::settings::PHONE).await?;
                if number.is_empty() {
                    return Err(AppError::Invalid(format!(
                        "{to} has no phone setting: set it with `certmail user set {to} phone NUMBER`, or send the password another way"
                    )));
                }
                let url = self
                    .plain_setting(&to, &crate::settings::SMS_WEBHOOK_URL)
                    .await?;
                if url.is_empty() {
                    return Err(AppError::Invalid(
                        "no sms-webhook-url is set: set it with `certmail global set sms-webhook-url URL`"
                            .into(),
                    ));
                }
                (number, url)
            }
            PasswordTo::Sender(s) => {
                let s = normalise_email(s)?;
                if !self.is_internal(&s).await? {
                    return Err(AppError::Invalid(format!(
                        "{s} is not an internal address (locality internal): the password goes only to internal senders"
                    )));
                }
                if s == to {
                    return Err(AppError::Invalid(
                        "the password must not go to the recipient of the PKCS#12 by mail".into(),
                    ));
                }
                (String::new(), String::new())
            }
            PasswordTo::Admin => (String::new(), String::new()),
        };
        let generated = req.password.is_none();
        let password = match &req.password {
            Some(p) => p.clone(),
            None => crate::ca::random_password(cfg.password_length)?,
        };
        // Keys and chains, in one PKCS#12.
        let mut keys = Vec::new();
        let mut chains = Vec::new();
        for v in &views {
            let key = if v.has_key {
                Some(self.private_key(&v.cert).await?)
            } else {
                None
            };
            let mut ders = vec![v.cert.der.clone()];
            if key.is_some() {
                ders.extend(self.chain(&v.cert).await?.into_iter().map(|c| c.der));
            }
            keys.push(key);
            chains.push(ders);
        }
        let entries: Vec<P12Entry<'_>> = views
            .iter()
            .zip(keys.iter().zip(chains.iter()))
            .map(|(v, (k, c))| P12Entry {
                key: k.as_ref(),
                certs: c,
                friendly_name: v.cert.display_name(),
            })
            .collect();
        let form = if req.legacy {
            Pkcs12Form::Legacy
        } else {
            Pkcs12Form::Modern
        };
        let p12 = self
            .cpu(|| pkcs12::write_many(&entries, &password, form))
            .await?;
        let with_keys = keys.iter().filter(|k| k.is_some()).count();
        if generated && (req.store_password || cfg.store_password) {
            self.set_setting(
                &certmail_store::Party::User(to.clone()),
                crate::settings::PFX_PASSWORD.key,
                &password,
            )
            .await?;
        }
        let now = crate::now();
        let mail = certificate_mail(&from, &to, &views, &p12, &req.password_to, req.legacy, now);
        let delivery = match &req.password_to {
            PasswordTo::Admin => PasswordDelivery::Print,
            PasswordTo::Sender(s) => PasswordDelivery::Mail {
                to: normalise_email(s)?,
                mail: Zeroizing::new(password_mail(&from, s, &to, &password, now)),
            },
            PasswordTo::Sms => {
                let text = format!(
                    "The password of the certificate file sent to {to} by mail: {}",
                    password.as_str()
                );
                let body = serde_json::json!({ "to": number, "text": text });
                PasswordDelivery::Sms {
                    url,
                    number,
                    body: Zeroizing::new(body.to_string().into_bytes()),
                    allow: self.fetch_allow().await?,
                }
            }
        };
        Ok(Prepared {
            from,
            to,
            mail,
            password,
            delivery,
            sent: views.iter().map(|v| v.cert.sha256.clone()).collect(),
            with_keys,
        })
    }

    /// A free-text (not secret) setting of a user, resolved.
    async fn plain_setting(
        &self,
        email: &str,
        setting: &crate::settings::SettingDef,
    ) -> Result<String> {
        let key = setting.key;
        let chain = crate::policy::chain_for_user(email);
        Ok(self
            .resolve_chain(&chain)
            .await?
            .into_iter()
            .find(|r| r.key == key)
            .map(|r| r.value)
            .unwrap_or_default())
    }

    async fn is_internal(&self, email: &str) -> Result<bool> {
        Ok(self
            .plain_setting(email, &crate::settings::LOCALITY)
            .await?
            == "internal")
    }
}

/// The message carrying the PKCS#12: a short text and the file.
fn certificate_mail(
    from: &str,
    to: &str,
    views: &[crate::CertView],
    p12: &[u8],
    password_to: &PasswordTo,
    legacy: bool,
    now: i64,
) -> Vec<u8> {
    let b = mime::boundary();
    let host = from.rsplit_once('@').map_or("localhost", |(_, h)| h);
    let stamp = crate::mailflow::mail_stamp(host, now);
    let how = match password_to {
        PasswordTo::Admin => "You receive the password separately from your administrator.",
        PasswordTo::Sender(_) => {
            "The colleague who asked for this certificate receives the password and passes it on."
        }
        PasswordTo::Sms => "You receive the password by text message (SMS).",
    };
    let mut list = String::new();
    for v in views {
        list.push_str(&format!(
            "  {} (valid until {}){}\r\n",
            clean(&v.cert.subject),
            certmail_pki::time::format_rfc3339(v.cert.not_after),
            if v.has_key {
                ", with its private key"
            } else {
                ""
            }
        ));
    }
    let form = if legacy {
        "legacy form (3DES), for older Windows, macOS and Android"
    } else {
        "modern form (AES-256)"
    };
    let mut out = format!(
        "From: Certificate Authority <{from}>\r\n\
         To: <{to}>\r\n\
         Subject: Your S/MIME certificate\r\n\
         {stamp}\
         Auto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"{b}\"\r\n\
         \r\n\
         --{b}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         Attached is a PKCS#12 file ({form}) with:\r\n\
         \r\n\
         {list}\r\n\
         Open it with your mail program or operating system to install it. It is\r\n\
         protected by a password. {how}\r\n\
         \r\n\
         --{b}\r\n\
         Content-Type: application/x-pkcs12; name=\"certificate.p12\"\r\n\
         Content-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"certificate.p12\"\r\n\
         \r\n"
    )
    .into_bytes();
    out.extend_from_slice(&b64::encode_to_vec(p12));
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{b}--\r\n").as_bytes());
    out
}

/// The message carrying the password to the internal sender who asked.
fn password_mail(from: &str, sender: &str, to: &str, password: &str, now: i64) -> Vec<u8> {
    let host = from.rsplit_once('@').map_or("localhost", |(_, h)| h);
    let stamp = crate::mailflow::mail_stamp(host, now);
    let subject = certmail_smime::mime::encode_header(
        "Subject",
        &format!("Password of the certificate file sent to {to}"),
    );
    format!(
        "From: Certificate Authority <{from}>\r\n\
         To: <{}>\r\n\
         {subject}\
         {stamp}\
         Auto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         A PKCS#12 certificate file was sent to {to} by mail. Its password is:\r\n\
         \r\n\
         {password}\r\n\
         \r\n\
         Pass it on by another way than mail (telephone, in person).\r\n",
        clean(sender)
    )
    .into_bytes()
}
