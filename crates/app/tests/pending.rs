//! The pending-requests job: an asynchronous request handler (here an external CA played by
//! a second certmail CA that answers on the third poll) is retried with backoff until the
//! certificate arrives, which then links to the waiting key.

use std::sync::atomic::{AtomicUsize, Ordering};

use certmail_app::ca::{CaCreate, CsrHandler, HandlerOutcome, PendingRun, RequestHandler, backoff};
use certmail_app::{App, Config};
use certmail_ca::{EndUserRequest, KeySpec, SigHash};
use certmail_store::PendingRow;

/// An "external CA" that fails once, then is still busy once, then signs the CSR.
struct SlowCa<'a> {
    signer: &'a App,
    polls: AtomicUsize,
}

impl RequestHandler for SlowCa<'_> {
    fn name(&self) -> &'static str {
        "csr"
    }

    async fn submit(
        &self,
        app: &App,
        ca: &str,
        req: &EndUserRequest,
    ) -> certmail_app::Result<HandlerOutcome> {
        CsrHandler.submit(app, ca, req).await
    }

    async fn poll(&self, _app: &App, p: &PendingRow) -> certmail_app::Result<Option<Vec<u8>>> {
        match self.polls.fetch_add(1, Ordering::SeqCst) {
            0 => Err(certmail_app::AppError::Invalid(
                "external CA unreachable".into(),
            )),
            1 => Ok(None),
            _ => {
                let v = self
                    .signer
                    .ca_sign_csr("", &p.csr, None, 30, "external")
                    .await?;
                Ok(Some(v.cert.der.clone()))
            }
        }
    }
}

async fn app(dir: &std::path::Path, name: &str) -> App {
    let cfg = Config {
        data_dir: dir.join(name),
        database_url: None,
    };
    App::init(&cfg, None).await.expect("init");
    App::open(&cfg, None).await.expect("open")
}

#[tokio::test]
async fn asynchronous_handler_is_retried_with_backoff_until_issued() {
    let dir = tempfile::tempdir().expect("tmp");
    let local = app(dir.path(), "local").await;
    let external = app(dir.path(), "external").await;
    external
        .ca_create(&CaCreate {
            root_cn: "External Root".into(),
            intermediate_cn: "External CA".into(),
            key: KeySpec::P256,
            days: 365,
            hash: SigHash::Sha256,
            email: None,
            make_default: true,
        })
        .await
        .expect("external CA");
    let handler = SlowCa {
        signer: &external,
        polls: AtomicUsize::new(0),
    };
    let req = EndUserRequest {
        email: "async@example.com".into(),
        cn: "Async".into(),
        org: None,
        first_name: None,
        last_name: None,
        days: 30,
        key: KeySpec::P256,
        hash: SigHash::Sha256,
        crl_url: None,
    };
    let HandlerOutcome::Pending(id) = handler.submit(&local, "", &req).await.expect("submit")
    else {
        panic!("the CSR handler queues");
    };
    let t0 = 1_900_000_000;
    // 1st run: the CA fails -> rescheduled with the first backoff, error kept.
    assert_eq!(
        local.ca_process_pending(&handler, t0).await.expect("run"),
        PendingRun {
            completed: 0,
            waiting: 0,
            failed: 1
        }
    );
    let p = &local.ca_pending().await.expect("pending")[0];
    assert_eq!((p.id, p.attempts, p.next_attempt), (id, 1, t0 + backoff(0)));
    assert_eq!(p.last_error.as_deref(), Some("external CA unreachable"));
    // Not due yet: nothing happens.
    assert_eq!(
        local
            .ca_process_pending(&handler, t0 + 1)
            .await
            .expect("run"),
        PendingRun::default()
    );
    // 2nd run: still waiting -> the backoff doubles.
    let t1 = t0 + backoff(0);
    assert_eq!(
        local
            .ca_process_pending(&handler, t1)
            .await
            .expect("run")
            .waiting,
        1
    );
    let p = &local.ca_pending().await.expect("pending")[0];
    assert_eq!(p.next_attempt, t1 + backoff(1));
    assert_eq!(backoff(1), 2 * backoff(0));
    assert_eq!(backoff(40), 86_400, "capped at a day");
    // 3rd run: issued -> stored, linked to the waiting key, queue empty.
    assert_eq!(
        local
            .ca_process_pending(&handler, t1 + backoff(1))
            .await
            .expect("run")
            .completed,
        1
    );
    assert!(local.ca_pending().await.expect("pending").is_empty());
    let certs = local
        .find_by_email("async@example.com")
        .await
        .expect("find");
    assert_eq!(certs.len(), 1);
    assert!(certs[0].has_key, "the certificate found its key");
}
