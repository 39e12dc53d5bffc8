//! certmail-jobs: the background jobs of `certmail serve`, each also a CLI command.
//!
//! - CRL download (`crl.rs`): every CRL distribution point of the stored certificates,
//!   over HTTP/HTTPS (`fetch.rs`) and LDAP (`ldap.rs`), fed through the CRL store's rules.
//! - Directory look-ups (`ldap.rs`): the LDAP client `certmail-app` asks for the
//!   certificates of an address.
//! - Expiry warnings (`expiry.rs`): a mail per certificate and threshold through the next
//!   hop.
//! - The hold queue (`hold.rs`): releases handed to the next hop, expired messages dropped
//!   with a notice to the sender.
//! - The runner (`runner.rs`): each job on its schedule, once per cluster (a lease row in
//!   the database, so nodes sharing PostgreSQL take turns and a dead node's lease expires).
//!
//! Thin over `certmail-app`: what a download means for the CRL store and the per-source
//! state are decided there; this crate does the network and the clock.

pub mod ca_send;
pub mod crl;
pub mod expiry;
pub mod fetch;
pub mod hold;
pub mod ldap;
pub mod renew;
pub mod runner;
