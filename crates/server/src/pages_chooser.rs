//! The certificate chooser of the user, domain and global pages: the candidates to select
//! for encryption, signing or as additional certificates, with the reference admin's
//! filters: "filter by" (a user's own address by default; an address matches exactly,
//! other text a part of the subject or an address; empty shows all), "expired" (unexpired
//! only by default, all, or expired only) and "allow missing key" (off for signing, where
//! a certificate without a private key cannot sign; on otherwise).

use serde::Deserialize;

use crate::Server;
use crate::api::{self, CertQuery};
use crate::pages::{CertRow, enc};
use crate::problem::Problem;

/// How many candidates one chooser page shows.
const PAGE: i64 = 25;

/// The chooser's part of a settings page's query. `chooser` is set once its form was
/// sent, so an unticked "allow missing key" box can be told from a first visit.
#[derive(Debug, Default, Deserialize)]
pub struct ChooserQuery {
    pub(crate) saved: Option<String>,
    kind: Option<String>,
    filter_by: Option<String>,
    expired: Option<String>,
    missing_key: Option<String>,
    chooser: Option<String>,
    offset: Option<i64>,
}

/// A candidate: the certificate as the lists show it, and whether it is selected already.
pub(crate) struct Candidate {
    pub(crate) row: CertRow,
    pub(crate) selected: bool,
}

/// The chooser as the template shows it.
pub(crate) struct Chooser {
    pub(crate) kind: String,
    pub(crate) filter_by: String,
    pub(crate) expired: String,
    pub(crate) missing_key: bool,
    pub(crate) rows: Vec<Candidate>,
    pub(crate) next: Option<String>,
    pub(crate) prev: Option<String>,
}

/// The candidates for `q` on the page at `action`; `own_email` is the user's address (the
/// default filter) and `selected` the thumbprints already selected for each kind.
pub(crate) async fn chooser(
    s: &Server,
    action: &str,
    own_email: Option<&str>,
    q: &ChooserQuery,
    selected: &[(String, String)],
) -> Result<Chooser, Problem> {
    let kind = match q.kind.as_deref() {
        None | Some("") => "encryption",
        Some(k @ ("encryption" | "signing" | "additional")) => k,
        Some(other) => {
            return Err(Problem::bad_request(format!(
                "kind {other:?}: use encryption, signing or additional"
            )));
        }
    }
    .to_owned();
    let sent = q.chooser.is_some();
    let filter_by = match &q.filter_by {
        Some(f) if sent || !f.is_empty() => f.trim().to_owned(),
        _ => own_email.unwrap_or_default().to_owned(),
    };
    let expired = q
        .expired
        .clone()
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| "unexpired".into());
    let missing_key = if sent {
        q.missing_key.as_deref() == Some("true")
    } else {
        kind != "signing"
    };
    let is_address = filter_by.contains('@') && !filter_by.contains(char::is_whitespace);
    let offset = q.offset.unwrap_or(0).max(0);
    let aq = CertQuery {
        email: is_address.then(|| filter_by.clone()),
        search: (!is_address && !filter_by.is_empty()).then(|| filter_by.clone()),
        expired: Some(expired.clone()),
        with_key: (!missing_key).then_some(true),
        store: None,
        limit: Some(PAGE),
        offset: Some(offset),
        cursor: None,
    };
    let l = api::certificate_page(&s.app, &aq).await?;
    let (limit, offset, next) = (l.limit, l.offset, l.next_offset);
    let link = |off: i64| {
        format!(
            "{action}?chooser=1&kind={}&filter_by={}&expired={}&missing_key={}&offset={off}#chooser",
            enc(&kind),
            enc(&filter_by),
            enc(&expired),
            if missing_key { "true" } else { "" },
        )
    };
    let rows = l
        .items
        .into_iter()
        .map(|l| Candidate {
            selected: selected
                .iter()
                .any(|(k, t)| *k == kind && *t == l.view.cert.sha256),
            row: CertRow::from(l),
        })
        .collect();
    Ok(Chooser {
        prev: (offset > 0).then(|| link((offset - limit).max(0))),
        next: next.map(link),
        kind,
        filter_by,
        expired,
        missing_key,
        rows,
    })
}
