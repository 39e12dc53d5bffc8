//! Sending mail to the next hop, behind a trait: the jobs (hold release, expiry warnings,
//! certificates by mail, renewals) send through it, and the gateway's SMTP client implements
//! it, so `certmail-jobs` does not depend on `certmail-gateway` (as `DirectoryClient` keeps
//! `app` free of LDAP).

use std::future::Future;
use std::pin::Pin;

/// What the next hop did with a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fate {
    /// Accepted (the next hop's reply).
    Accepted(String),
    /// Refused for now (4xx, connection lost, timeout): the MTA must retry.
    Temporary(String),
    /// Refused for good (5xx).
    Permanent(String),
}

/// ESMTP parameters of a transaction.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extensions {
    /// `BODY=8BITMIME`.
    pub eight_bit: bool,
    /// `SMTPUTF8`.
    pub smtputf8: bool,
}

/// The future of a send.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = Vec<Fate>> + Send + 'a>>;

/// A client of the next hop.
pub trait MailSender: Send + Sync {
    /// Sends one message (in pieces, written one after the other) from `sender` to
    /// `rcpts`: one fate per recipient, in order.
    fn send<'a>(
        &'a self,
        sender: &'a str,
        rcpts: &'a [String],
        parts: &'a [&'a [u8]],
        ext: Extensions,
    ) -> SendFuture<'a>;
}
