//! Certificates requested automatically (`auto-request-certificate`): an internal sender
//! who must sign and has no valid signing certificate gets one through the CA's default
//! request handler. With `built-in` it is issued at once (and the message is signed);
//! with an asynchronous handler the request joins the pending queue and the sender is
//! told. One request per address: a lease row per address keeps concurrent messages (and
//! other nodes) from requesting twice, and a pending request for the address is reused.

use certmail_store::StoreError;

use crate::ca::{BuiltIn, CsrHandler, HandlerOutcome, IssueParams, RequestHandler};
use crate::{App, AppError, CertView, Result};

/// Addresses whose request waits (the pending id) or failed (why), and when that was seen.
pub(crate) type Recent = std::collections::HashMap<String, (i64, std::result::Result<i64, String>)>;

/// Seconds an address whose request waits or failed is not asked about again.
const RECENT_REQUEST: i64 = 600;

/// What an automatic request gave.
#[derive(Debug)]
pub enum AutoRequest {
    /// Issued now.
    Issued(Box<CertView>),
    /// Waiting in the pending queue (new or earlier).
    Pending {
        /// The pending request's id.
        id: i64,
        /// Whether it was made now (the sender is told once).
        new: bool,
    },
    /// Another message (or node) is requesting one for the address right now.
    Busy,
    /// It cannot be requested (no CA, a refused request): why.
    Failed(String),
}

impl App {
    /// Requests a signing certificate for `email` by the default request handler, once.
    /// Only database failures are errors (temporary for the gateway); anything else is
    /// [`AutoRequest::Failed`], so mail still flows.
    pub async fn auto_request_certificate(&self, email: &str) -> Result<AutoRequest> {
        // An address whose request waits (or failed) is not asked about again for a while:
        // a flood of mail from or to it costs no database writes.
        let now = crate::now();
        {
            let m = crate::lock(&self.auto_requested);
            if let Some((at, id)) = m.get(email)
                && now - at < RECENT_REQUEST
            {
                return Ok(match id {
                    Ok(id) => AutoRequest::Pending {
                        id: *id,
                        new: false,
                    },
                    Err(why) => AutoRequest::Failed(why.clone()),
                });
            }
        }
        let r = self.auto_request_leased(email).await?;
        let memo = match &r {
            AutoRequest::Pending { id, .. } => Some(Ok(*id)),
            AutoRequest::Failed(why) => Some(Err(why.clone())),
            _ => None,
        };
        if let Some(id) = memo {
            let mut m = crate::lock(&self.auto_requested);
            if m.len() > 10_000 {
                m.clear();
            }
            m.insert(email.to_owned(), (now, id));
        }
        Ok(r)
    }

    async fn auto_request_leased(&self, email: &str) -> Result<AutoRequest> {
        let lease = format!("auto-request:{email}");
        let holder = format!(
            "{}:{}",
            std::process::id(),
            hex::encode(crate::ca::random_password(12)?.as_bytes())
        );
        if !self.take_lease(&lease, &holder, 300).await? {
            return Ok(AutoRequest::Busy);
        }
        let r = self.auto_request_locked(email).await;
        let released = self.release_lease(&lease, &holder).await;
        let r = r?;
        released?;
        Ok(r)
    }

    async fn auto_request_locked(&self, email: &str) -> Result<AutoRequest> {
        if let Some(p) = self
            .ca_pending()
            .await?
            .into_iter()
            .find(|p| p.email.eq_ignore_ascii_case(email))
        {
            return Ok(AutoRequest::Pending {
                id: p.id,
                new: false,
            });
        }
        let now = crate::now();
        // Someone may have issued one while we waited for the lease.
        if let Some(s) = self.recipient_lookup(email, now).await?.signing {
            return Ok(AutoRequest::Issued(Box::new(
                self.get_any(&s.sha256).await?,
            )));
        }
        let cfg = self.ca_config().await?;
        let cn = if cfg.common_name.is_empty() {
            Some(email.to_owned())
        } else {
            None
        };
        let req = match self
            .ca_end_user_request(&IssueParams {
                email: email.to_owned(),
                cn,
                ..IssueParams::default()
            })
            .await
        {
            Ok(r) => r,
            Err(e) => return not_fatal(e),
        };
        let outcome = match cfg.request_handler.as_str() {
            "csr" => CsrHandler.submit(self, "", &req).await,
            _ => BuiltIn.submit(self, "", &req).await,
        };
        match outcome {
            Ok(HandlerOutcome::Issued(v)) => Ok(AutoRequest::Issued(v)),
            Ok(HandlerOutcome::Pending(id)) => Ok(AutoRequest::Pending { id, new: true }),
            Err(e) => not_fatal(e),
        }
    }
}

fn not_fatal(e: AppError) -> Result<AutoRequest> {
    match e {
        AppError::Store(StoreError::NotFound { .. }) => Ok(AutoRequest::Failed(e.to_string())),
        AppError::Store(_) => Err(e),
        e => Ok(AutoRequest::Failed(e.to_string())),
    }
}

/// The notice to a sender whose certificate was requested (asynchronous handler).
pub fn request_notice(hostname: &str, sender: &str, id: i64, now: i64) -> Vec<u8> {
    let stamp = crate::mailflow::mail_stamp(hostname, now);
    let clean: String = sender.chars().filter(|c| !c.is_control()).collect();
    format!(
        "From: certmail <MAILER-DAEMON@{hostname}>\r\n\
         To: <{clean}>\r\n\
         Subject: A certificate was requested for you\r\n\
         {stamp}\
         Auto-Submitted: auto-generated\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\
         \r\n\
         This is the certmail gateway at {hostname}.\r\n\
         \r\n\
         You have no valid certificate of your own yet, so your mail cannot be signed and\r\n\
         partners cannot encrypt mail to you. One was requested for {clean}\r\n\
         (pending request {id}). Until it is issued, your mail goes out unsigned.\r\n"
    )
    .into_bytes()
}
