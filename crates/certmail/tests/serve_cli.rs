//! `certmail serve` options: the TOML file, flags over it, and clear refusals of bad
//! options (exit code 2) before anything listens.

mod common;

use std::process::Command;

use common::certmail;
use common::mta::{free_port, wait_port};

#[test]
fn config_file_flags_and_bad_options() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    assert!(certmail(&data, &["init"]).status().expect("init").success());

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "smtp-listen = \"127.0.0.1:2525\"\nmax-sesions = 5\n").expect("write");
    let out = certmail(&data, &["serve", "--config", bad.to_str().expect("utf-8")])
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("max-sesions") && err.contains("bad.toml"),
        "{err}"
    );

    let out = certmail(&data, &["serve", "--allow-from", "10.0.0.0/33"])
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("10.0.0.0/33"), "{err}");

    let out = certmail(&data, &["serve", "--tls-cert", "x.pem"])
        .output()
        .expect("serve");
    assert_eq!(out.status.code(), Some(2), "--tls-cert needs --tls-key");

    let out = certmail(&data, &["serve", "--max-message-size", "lots"])
        .output()
        .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("lots"), "{err}");

    // A missing certificate file is named, and nothing is left listening.
    let out = certmail(
        &data,
        &[
            "serve",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
            "--smtp-listen",
            "127.0.0.1:1",
        ],
    )
    .output()
    .expect("serve");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("/nonexistent.pem"), "{err}");

    // The file sets the ports; a flag overrides one of them.
    let (smtp, http, flag_smtp) = (free_port(), free_port(), free_port());
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        format!(
            "smtp-listen = \"127.0.0.1:{smtp}\"\nhttp-listen = \"127.0.0.1:{http}\"\nnext-hop = \"127.0.0.1:9\"\nmax-message-size = \"1M\"\n"
        ),
    )
    .expect("write");
    let child = certmail(&data, &["serve", "--config", good.to_str().expect("utf-8")])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("serve");
    wait_port(smtp, "serve from the file");
    wait_port(http, "serve http from the file");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = child.wait_with_output().expect("wait");
    assert!(out.status.success(), "SIGTERM: clean exit");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("max-message-size=1048576"), "{log}");
    assert!(log.contains("stopped"), "{log}");

    let mut child = certmail(
        &data,
        &[
            "serve",
            "--config",
            good.to_str().expect("utf-8"),
            "--smtp-listen",
            &format!("127.0.0.1:{flag_smtp}"),
        ],
    )
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("serve");
    wait_port(flag_smtp, "serve with the flag's address");
    let _ = child.kill();
    let _ = child.wait();
}
