//! The CRL download job: `certmail crl update [--url U]` and the runner's periodic run.

use certmail_app::crl_sources::{CrlSchedule, Download, SourceOutcome};
use certmail_app::directory::DirectoryAccess;
use certmail_app::{App, AppError};
use certmail_store::CrlSourceRow;

use crate::fetch::{self, Fetched, Limits};

/// Downloads the due sources (or only `url`, due or not, registering it when new) and
/// applies what they bring. One source's failure never stops the others.
pub async fn update(
    app: &App,
    url: Option<&str>,
    limits: &Limits,
    schedule: &CrlSchedule,
) -> Result<Vec<SourceOutcome>, AppError> {
    let now = certmail_app::now();
    // Internal addresses only as fetch-allow lists them (or, for one URL an administrator
    // names, with the explicit --allow-internal the caller put in `limits`).
    let mut limits = limits.clone();
    if !limits.allow.everything {
        limits.allow = app.fetch_allow().await?;
    }
    let limits = &limits;
    let sources: Vec<CrlSourceRow> = match url {
        Some(u) => {
            app.add_crl_source(u, now).await?;
            app.crl_sources()
                .await?
                .into_iter()
                .filter(|s| s.url == u)
                .collect()
        }
        None => app.crl_sources_due(now).await?,
    };
    let mut out = Vec::with_capacity(sources.len());
    let default_directory = if sources.iter().any(|s| is_ldap(&s.url)) {
        app.default_directory().await?
    } else {
        None
    };
    for s in &sources {
        let download = download(s, default_directory.as_ref(), limits).await;
        out.push(
            app.crl_source_result(s, download, schedule, certmail_app::now())
                .await?,
        );
    }
    Ok(out)
}

fn is_ldap(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    lower.starts_with("ldap://") || lower.starts_with("ldaps://")
}

async fn download(
    s: &CrlSourceRow,
    default_directory: Option<&DirectoryAccess>,
    limits: &Limits,
) -> Download {
    if is_ldap(&s.url) {
        return match crate::ldap::fetch_crl(&s.url, default_directory, limits).await {
            Ok(Some(bytes)) => Download::Body {
                bytes,
                etag: None,
                last_modified: None,
            },
            Ok(None) => Download::Skipped(
                "host-less LDAP URL and no default directory (certmail directory add NAME --url ldap://HOST --default)"
                    .into(),
            ),
            Err(e) => Download::Failed(e.0),
        };
    }
    match fetch::get(
        &s.url,
        s.etag.as_deref(),
        s.last_modified.as_deref(),
        limits,
    )
    .await
    {
        Ok(Fetched::NotModified) => Download::NotModified,
        Ok(Fetched::Body {
            bytes,
            etag,
            last_modified,
        }) => Download::Body {
            bytes,
            etag,
            last_modified,
        },
        Err(e) => Download::Failed(e.0),
    }
}
