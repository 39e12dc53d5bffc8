//! Runs the jobs on their schedules inside `certmail serve`, once per cluster.

use std::sync::Arc;
use std::time::Duration;

use certmail_app::App;
use certmail_app::crl_sources::CrlSchedule;
use tokio::sync::watch;

use crate::fetch::Limits;

/// What the runner does and how often.
#[derive(Clone)]
pub struct JobsConfig {
    /// CRL download schedule.
    pub crl: CrlSchedule,
    /// Bounds of each download.
    pub limits: Limits,
    /// How often the runner looks for due work.
    pub tick: Duration,
    /// Who this node is (lease holder), e.g. host name and process id.
    pub holder: String,
    /// Expiry warnings: where they go and the next hop that takes them (`None`: off).
    pub expiry: Option<(
        crate::expiry::NotifyConfig,
        Arc<dyn certmail_app::mail_sender::MailSender>,
    )>,
    /// The next hop for the mail the jobs send (hold-queue expiry notices, renewed
    /// certificates) and the host name in it (`None`: those jobs are off).
    pub hold: Option<(Arc<dyn certmail_app::mail_sender::MailSender>, String)>,
}

/// The CRL download job's lease name.
pub const CRL_JOB: &str = "crl-download";
/// The pending-requests job's lease name.
pub const PENDING_JOB: &str = "pending-requests";
/// The expiry job's lease name.
pub const EXPIRY_JOB: &str = "expiry-warnings";
/// The hold queue's expiry job's lease name.
pub const HOLD_JOB: &str = "hold-expiry";
/// The auto-renew job's lease name.
pub const RENEW_JOB: &str = "auto-renew";

/// Runs until `shutdown` turns true. Each tick, the node that gets a job's lease does the
/// job's due work; the others skip it. Work is recorded per item (a CRL source's next
/// attempt, a request's next poll), so a node that dies mid-run leaves the rest due for
/// whoever runs next.
pub async fn run(app: Arc<App>, cfg: JobsConfig, mut shutdown: watch::Receiver<bool>) {
    // A lease outlives the longest run it covers.
    let ttl = (cfg.limits.timeout.as_secs() as i64 + 60) * 4;
    loop {
        leased(&app, CRL_JOB, &cfg.holder, ttl, async {
            match crate::crl::update(&app, None, &cfg.limits, &cfg.crl).await {
                Ok(outcomes) => {
                    for o in outcomes {
                        eprintln!(
                            "{CRL_JOB} {} {}{}",
                            o.url,
                            o.status,
                            o.problem.map(|p| format!(": {p}")).unwrap_or_default()
                        );
                    }
                }
                Err(e) => eprintln!("{CRL_JOB} failed: {e}"),
            }
        })
        .await;
        leased(&app, PENDING_JOB, &cfg.holder, ttl, async {
            let now = certmail_app::now();
            match app
                .ca_process_pending(&certmail_app::ca::CsrHandler, now)
                .await
            {
                Ok(r) if r.completed + r.failed > 0 => eprintln!(
                    "{PENDING_JOB} completed={} waiting={} failed={}",
                    r.completed, r.waiting, r.failed
                ),
                Ok(_) => {}
                Err(e) => eprintln!("{PENDING_JOB} failed: {e}"),
            }
        })
        .await;
        if let Some((notify, relay)) = &cfg.expiry {
            leased(&app, EXPIRY_JOB, &cfg.holder, ttl, async {
                match crate::expiry::notify(&app, relay.as_ref(), notify).await {
                    Ok(outcomes) => {
                        for o in outcomes {
                            eprintln!(
                                "{EXPIRY_JOB} {} {} {} days left to {}{}",
                                o.sha256,
                                o.status,
                                o.days_left,
                                o.to.join(","),
                                o.problem.map(|p| format!(": {p}")).unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => eprintln!("{EXPIRY_JOB} failed: {e}"),
                }
            })
            .await;
        }
        if let Some((relay, hostname)) = &cfg.hold {
            leased(&app, HOLD_JOB, &cfg.holder, ttl, async {
                match crate::hold::expire(&app, relay.as_ref(), hostname, certmail_app::now()).await
                {
                    Ok(ids) => {
                        for id in ids {
                            eprintln!("{HOLD_JOB} held message {id} expired; sender told");
                        }
                    }
                    Err(e) => eprintln!("{HOLD_JOB} failed: {e}"),
                }
            })
            .await;
            leased(&app, RENEW_JOB, &cfg.holder, ttl, async {
                match crate::renew::run(&app, relay.as_ref(), certmail_app::now()).await {
                    Ok(outcomes) => {
                        for o in outcomes {
                            eprintln!(
                                "{RENEW_JOB} {} {} -> {} for {}{}",
                                o.status,
                                o.old,
                                o.new.as_deref().unwrap_or("-"),
                                o.email,
                                o.problem.map(|p| format!(": {p}")).unwrap_or_default()
                            );
                        }
                    }
                    Err(e) => eprintln!("{RENEW_JOB} failed: {e}"),
                }
            })
            .await;
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

/// Runs `work` if this node gets `job`'s lease, then gives the lease up.
async fn leased(app: &App, job: &str, holder: &str, ttl: i64, work: impl Future<Output = ()>) {
    match app.take_lease(job, holder, ttl).await {
        Ok(true) => {
            work.await;
            if let Err(e) = app.release_lease(job, holder).await {
                eprintln!("{job}: cannot release the lease: {e}");
            }
        }
        Ok(false) => {}
        Err(e) => eprintln!("jobs: cannot take the {job} lease: {e}"),
    }
}
