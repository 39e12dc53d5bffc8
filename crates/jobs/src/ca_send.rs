//! Certificates sent by mail, the network side: the PKCS#12 message through the next hop,
//! then the password by its own way (a message to the internal sender, or an SMS through
//! the webhook). When the password's way fails after the PKCS#12 went out, the password
//! is handed back for the administrator, so it is never lost.

use std::time::Duration;

use certmail_app::ca_send::{PasswordDelivery, Prepared};
use certmail_app::mail_sender::{Extensions, Fate, MailSender};
use zeroize::Zeroizing;

/// What a delivery did.
#[derive(Debug)]
pub struct SendOutcome {
    /// The PKCS#12 message was accepted by the next hop (`Err`: why not; nothing went out).
    pub mail: Result<(), String>,
    /// The password's way: `printed`, `mailed to ADDR`, `sent by SMS to NUMBER`.
    pub password_way: String,
    /// Why the password's way failed.
    pub password_problem: Option<String>,
    /// The password, when the administrator must see it (the way is printing, or the way
    /// failed after the file went out).
    pub show_password: Option<Zeroizing<String>>,
}

fn problem(fates: &[Fate]) -> Option<String> {
    let bad: Vec<String> = fates
        .iter()
        .filter_map(|f| match f {
            Fate::Accepted(_) => None,
            Fate::Temporary(e) | Fate::Permanent(e) => Some(e.clone()),
        })
        .collect();
    (!bad.is_empty() || fates.is_empty()).then(|| {
        if bad.is_empty() {
            "no reply from the next hop".to_owned()
        } else {
            bad.join("; ")
        }
    })
}

/// Sends a prepared delivery.
pub async fn send(relay: &dyn MailSender, p: Prepared) -> SendOutcome {
    let ext = Extensions {
        eight_bit: true,
        smtputf8: false,
    };
    let fates = relay
        .send(&p.from, std::slice::from_ref(&p.to), &[&p.mail], ext)
        .await;
    if let Some(why) = problem(&fates) {
        return SendOutcome {
            mail: Err(why),
            password_way: "not sent".into(),
            password_problem: None,
            show_password: None,
        };
    }
    let (way, failure) = match &p.delivery {
        PasswordDelivery::Print => ("printed".to_owned(), None),
        PasswordDelivery::Mail { to, mail } => {
            let fates = relay
                .send(&p.from, std::slice::from_ref(to), &[mail.as_slice()], ext)
                .await;
            (format!("mailed to {to}"), problem(&fates))
        }
        PasswordDelivery::Sms {
            url,
            number,
            body,
            allow,
        } => {
            let r = crate::fetch::post_json(url, body, Duration::from_secs(15), allow).await;
            (
                format!("sent by SMS to {number}"),
                r.err().map(|e| format!("the SMS webhook: {e}")),
            )
        }
    };
    let show = matches!(p.delivery, PasswordDelivery::Print) || failure.is_some();
    SendOutcome {
        mail: Ok(()),
        password_way: way,
        password_problem: failure,
        show_password: show.then(|| p.password.clone()),
    }
}
