//! The CRL download job: `certmail crl update [--url U]` and the runner's periodic run.

use certmail_app::crl_sources::{CrlSchedule, Download, SourceOutcome};
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
    for s in &sources {
        let download = download(s, limits).await;
        out.push(
            app.crl_source_result(s, download, schedule, certmail_app::now())
                .await?,
        );
    }
    Ok(out)
}

async fn download(s: &CrlSourceRow, limits: &Limits) -> Download {
    let lower = s.url.to_ascii_lowercase();
    if lower.starts_with("ldap://") || lower.starts_with("ldaps://") {
        return Download::Failed("LDAP distribution points are not downloaded yet".into());
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
