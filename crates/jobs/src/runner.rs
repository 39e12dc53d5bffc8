//! Runs the jobs on their schedules inside `certmail serve`, once per cluster.

use std::sync::Arc;
use std::time::Duration;

use certmail_app::App;
use certmail_app::crl_sources::CrlSchedule;
use tokio::sync::watch;

use crate::fetch::Limits;

/// What the runner does and how often.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// CRL download schedule.
    pub crl: CrlSchedule,
    /// Bounds of each download.
    pub limits: Limits,
    /// How often the runner looks for due work.
    pub tick: Duration,
    /// Who this node is (lease holder), e.g. host name and process id.
    pub holder: String,
}

/// The CRL download job's lease name.
pub const CRL_JOB: &str = "crl-download";

/// Runs until `shutdown` turns true. Each tick, the node that gets a job's lease does the
/// job's due work; the others skip it. Work is recorded per item (a CRL source's next
/// attempt), so a node that dies mid-run leaves the rest due for whoever runs next.
pub async fn run(app: Arc<App>, cfg: JobsConfig, mut shutdown: watch::Receiver<bool>) {
    // A lease outlives the longest run it covers: every due source's download bound.
    let ttl = (cfg.limits.timeout.as_secs() as i64 + 60) * 4;
    loop {
        match app.take_lease(CRL_JOB, &cfg.holder, ttl).await {
            Ok(true) => {
                match crate::crl::update(&app, None, &cfg.limits, &cfg.crl).await {
                    Ok(outcomes) => {
                        for o in outcomes {
                            eprintln!(
                                "crl-download {} {}{}",
                                o.url,
                                o.status,
                                o.problem.map(|p| format!(": {p}")).unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => eprintln!("crl-download failed: {e}"),
                }
                if let Err(e) = app.release_lease(CRL_JOB, &cfg.holder).await {
                    eprintln!("crl-download: cannot release the lease: {e}");
                }
            }
            Ok(false) => {}
            Err(e) => eprintln!("jobs: cannot take the {CRL_JOB} lease: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(cfg.tick) => {}
            _ = shutdown.changed() => break,
        }
        if *shutdown.borrow() {
            break;
        }
    }
}
