//! A whole SMTP session from a client that sends anything: the gateway's session (smtp-proto's
//! parser, pipelining, limits, DATA, the policy decisions over a real SQLite store, a next hop
//! that is down) answers every byte with replies and ends when the client does. A panic in a
//! session task is a finding.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use certmail_gateway::{GatewayConfig, Shared};
use libfuzzer_sys::fuzz_target;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct World {
    rt: tokio::runtime::Runtime,
    shared: Arc<Shared>,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| {
        let (rt, app) = certmail_fuzz::runtime_and_app();
        let shared = rt.block_on(async {
            app.set_setting(
                &certmail_store::Party::Domain("example.com".into()),
                "locality",
                "internal",
            )
            .await
            .expect("locality");
            let gw = GatewayConfig {
                next_hop: "127.0.0.1:9".into(),
                hostname: Some("fuzz.test".into()),
                next_hop_timeout: 1,
                next_hop_data_timeout: 1,
                max_message_size: 1 << 20,
                ..GatewayConfig::default()
            };
            let (tx, rx) = tokio::sync::watch::channel(false);
            Box::leak(Box::new(tx));
            Arc::new(Shared::new(app, gw, rx).await.expect("shared"))
        });
        World { rt, shared }
    })
}

fuzz_target!(|data: &[u8]| {
    let w = world();
    w.rt.block_on(async {
        let (mut client, server) = tokio::io::duplex(1 << 16);
        let shared = w.shared.clone();
        let task = tokio::spawn(async move {
            let mut s =
                certmail_gateway::session::Session::new(shared, server, "fuzz".into(), false);
            if s.greet().await.is_ok() {
                let _ = s.run().await;
            }
        });
        let input = data.to_vec();
        let writer = async {
            let _ = client.write_all(&input).await;
            let _ = client.shutdown().await;
            let mut out = Vec::new();
            let _ = client.read_to_end(&mut out).await;
            out
        };
        let out = tokio::time::timeout(Duration::from_secs(20), writer)
            .await
            .expect("the session ends when the client does");
        assert!(out.starts_with(b"220 "), "greeting first");
        if let Err(e) = task.await {
            assert!(!e.is_panic(), "the session panicked");
        }
    });
});
