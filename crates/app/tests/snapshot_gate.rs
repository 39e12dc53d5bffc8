//! The mail flow's snapshot reads are shared among sessions asking at the same time, and
//! still every read sees every change committed before it was asked for: many concurrent
//! readers, one writer counting a setting up; a reader that asked after commit k never
//! gets a value older than k.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use certmail_app::{App, Config};
use certmail_store::Party;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_snapshot_read_never_hides_a_change_committed_before_the_ask() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = Config {
        data_dir: dir.path().join("data"),
        database_url: None,
    };
    App::init(&cfg, None).await.expect("init");
    let app = Arc::new(App::open(&cfg, None).await.expect("open"));
    let who = Party::User("gate@example.com".into());
    let value = |k: usize| format!("[k{k}]");
    app.set_setting(&who, "encrypt-trigger-subject", &value(0))
        .await
        .expect("k0");
    // `committed` counts the changes committed so far: change k sets the value "[kK]".
    let committed = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    let checked = Arc::new(AtomicUsize::new(0));
    for _ in 0..16 {
        let (app, committed, checked) = (app.clone(), committed.clone(), checked.clone());
        readers.push(tokio::spawn(async move {
            for _ in 0..150 {
                let before = committed.load(Ordering::SeqCst);
                let snap = app
                    .flow_snapshot(certmail_app::now())
                    .await
                    .expect("snapshot");
                let s = app
                    .flow_settings(&snap, "gate@example.com")
                    .await
                    .expect("settings");
                let seen: usize = s
                    .trigger_subject
                    .trim_start_matches("[k")
                    .trim_end_matches(']')
                    .parse()
                    .expect("a counted value");
                assert!(
                    seen >= before,
                    "a read asked after change {before} saw change {seen}"
                );
                checked.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for k in 1..=40 {
        app.set_setting(&who, "encrypt-trigger-subject", &value(k))
            .await
            .expect("set");
        committed.store(k, Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for r in readers {
        r.await.expect("reader");
    }
    assert_eq!(checked.load(Ordering::SeqCst), 16 * 150);
}
