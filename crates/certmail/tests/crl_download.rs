//! The CRL download job end to end: one certmail is a CA that publishes its CRL through a
//! local HTTP server (in this test: ETag, a redirect, a redirect loop, a slow response, an
//! oversized body, a 404 and a garbage body); another certmail holds the CA's root and a
//! user's certificate naming that distribution point, and runs `certmail crl update`.

mod common;

use common::cli::{crl_update as update, json_ok as json, ok, verdict};

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the HTTP server publishes and what it was asked.
#[derive(Default)]
struct Published {
    crl: Vec<u8>,
    version: u32,
    /// (path, If-None-Match) of every request.
    log: Vec<(String, Option<String>)>,
    /// How long `/ca.crl` takes to answer.
    delay: Duration,
}

fn serve(listener: TcpListener, state: Arc<Mutex<Published>>) {
    for stream in listener.incoming().flatten() {
        let state = state.clone();
        std::thread::spawn(move || {
            let _ = answer(stream, &state);
        });
    }
}

fn answer(mut stream: TcpStream, state: &Mutex<Published>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let mut if_none_match = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':')
            && k.eq_ignore_ascii_case("if-none-match")
        {
            if_none_match = Some(v.trim().to_owned());
        }
    }
    let (crl, etag, delay) = {
        let mut s = state.lock().expect("state");
        s.log.push((path.clone(), if_none_match.clone()));
        (s.crl.clone(), format!("\"v{}\"", s.version), s.delay)
    };
    if path == "/ca.crl" {
        std::thread::sleep(delay);
    }
    let reply = |status: &str, headers: &str, body: &[u8]| -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        out.extend_from_slice(body);
        out
    };
    let response = match path.as_str() {
        "/ca.crl" if if_none_match.as_deref() == Some(etag.as_str()) => {
            reply("304 Not Modified", &format!("ETag: {etag}\r\n"), b"")
        }
        "/ca.crl" => reply("200 OK", &format!("ETag: {etag}\r\n"), &crl),
        "/moved" => reply("302 Found", "Location: /ca.crl\r\n", b""),
        "/loop" => reply("302 Found", "Location: /loop\r\n", b""),
        "/slow" => {
            std::thread::sleep(Duration::from_secs(4));
            reply("200 OK", "", &crl)
        }
        "/big" => reply("200 OK", "", &vec![b'x'; 5000]),
        "/garbage" => reply("200 OK", "", b"this is not a CRL"),
        _ => reply("404 Not Found", "", b"no such file"),
    };
    stream.write_all(&response)
}

#[test]
fn crls_are_downloaded_from_their_distribution_points() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (ca, relying) = (dir.path().join("ca"), dir.path().join("relying"));
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Mutex::new(Published::default()));
    {
        let state = state.clone();
        std::thread::spawn(move || serve(listener, state));
    }
    let publish = |crl_file: &Path| {
        let mut s = state.lock().expect("state");
        s.crl = std::fs::read(crl_file).expect("crl");
        s.version += 1;
    };

    // The CA side: a CA, a user certificate naming the distribution point, the first CRL.
    ok(&ca, &["init"]);
    ok(
        &ca,
        &[
            "ca",
            "create",
            "--root-cn",
            "Dl Root",
            "--intermediate-cn",
            "Dl CA",
        ],
    );
    let crl_url = format!("{base}/ca.crl");
    let out = ok(
        &ca,
        &[
            "ca",
            "issue",
            "--email",
            "dee@example.com",
            "--cn",
            "Dee",
            "--crl-url",
            &crl_url,
        ],
    );
    let sha = out
        .split_whitespace()
        .nth(1)
        .expect("thumbprint")
        .to_owned();
    let root = json(&ca, &["root", "list", "--json"])[0]["sha256"]
        .as_str()
        .expect("root")
        .to_owned();
    let int = json(&ca, &["ca", "list", "--json"])[0]["intermediate"]
        .as_str()
        .expect("intermediate")
        .to_owned();
    let file = |name: &str| dir.path().join(name).display().to_string();
    for (t, f) in [(&root, "root.pem"), (&int, "int.pem"), (&sha, "dee.pem")] {
        ok(
            &ca,
            &["cert", "export", t, "--format", "pem", "-o", &file(f)],
        );
    }
    ok(&ca, &["ca", "crl", "-o", &file("crl1.pem")]);
    publish(&dir.path().join("crl1.pem"));

    // The relying side: importing the certificate registers its distribution point.
    ok(&relying, &["init"]);
    // The CRL server of this test is on loopback: listed on purpose (trust boundaries).
    ok(
        &relying,
        &["global", "set", "fetch-allow", "127.0.0.1, ::1"],
    );
    ok(&relying, &["root", "import", &file("root.pem")]);
    ok(
        &relying,
        &["cert", "import", &file("int.pem"), &file("dee.pem")],
    );
    let sources = json(&relying, &["crl", "sources", "--json"]);
    let urls: Vec<&str> = sources
        .as_array()
        .expect("sources")
        .iter()
        .filter_map(|s| s["url"].as_str())
        .collect();
    assert!(urls.contains(&crl_url.as_str()), "{sources}");

    // A run over the due sources fetches it, and the CRL is in use.
    let out = json(&relying, &["crl", "update", "--json"]);
    let row = out
        .as_array()
        .expect("outcomes")
        .iter()
        .find(|o| o["url"] == crl_url.as_str())
        .expect("the source ran")
        .clone();
    assert_eq!(row["status"], "updated", "{row}");
    assert_eq!(verdict(&relying, &sha), "valid");
    // Nothing is due any more: a second run fetches nothing.
    let again = json(&relying, &["crl", "update", "--json"]);
    assert!(again.as_array().expect("outcomes").is_empty(), "{again}");

    // Fetched again, unchanged: the server's ETag is sent and 304 comes back.
    let (success, row) = update(&relying, &crl_url, &[]);
    assert!(success && row["status"] == "unchanged", "{row}");
    {
        let s = state.lock().expect("state");
        let last = s.log.last().expect("requests");
        assert_eq!(
            last.1.as_deref(),
            Some("\"v1\""),
            "conditional GET: {:?}",
            s.log
        );
    }

    // Revoked at the CA and published: revoked after the next download.
    ok(&ca, &["ca", "revoke", &sha, "--reason", "keyCompromise"]);
    ok(&ca, &["ca", "crl", "-o", &file("crl2.pem")]);
    publish(&dir.path().join("crl2.pem"));
    assert_eq!(verdict(&relying, &sha), "valid", "not fetched yet");
    let (success, row) = update(&relying, &format!("{base}/moved"), &[]);
    assert!(success, "{row}");
    assert_eq!(row["status"], "updated", "one redirect is followed: {row}");
    assert_eq!(verdict(&relying, &sha), "revoked");

    // Failures are recorded with their reason, and the CRL in use stays in use.
    let cases: [(&str, &[&str], &str); 5] = [
        ("/slow", &["--timeout", "1"], "timed out"),
        ("/big", &["--max-size", "1K"], "over the limit"),
        ("/missing", &[], "404"),
        ("/garbage", &[], "not a CRL"),
        ("/loop", &[], "redirects"),
    ];
    for (path, extra, why) in cases {
        let url = format!("{base}{path}");
        let (success, row) = update(&relying, &url, extra);
        assert!(!success, "{path} must fail: {row}");
        assert_eq!(row["status"], "failed", "{path}: {row}");
        let problem = row["problem"].as_str().unwrap_or_default();
        assert!(problem.contains(why), "{path}: {problem}");
    }
    assert_eq!(
        verdict(&relying, &sha),
        "revoked",
        "a failed download lost the CRL"
    );
    let in_use = json(&relying, &["crl", "list", "--json"])
        .as_array()
        .expect("crls")
        .iter()
        .filter(|c| c["current"] == true)
        .count();
    assert_eq!(in_use, 1);
    let sources = json(&relying, &["crl", "sources", "--json"]);
    for s in sources.as_array().expect("sources") {
        let url = s["url"].as_str().unwrap_or_default();
        if url.ends_with("/ca.crl") || url.ends_with("/moved") {
            assert!(s["last_error"].is_null(), "{s}");
            assert!(s["last_success"].is_i64(), "{s}");
        } else {
            assert!(s["last_error"].is_string(), "{s}");
            assert!(s["last_success"].is_null(), "{s}");
        }
    }
}

/// `certmail serve` runs the CRL download job by itself, and nodes sharing a database
/// download each due source once between them (the job's lease), not once each.
#[test]
fn serve_downloads_each_source_once_per_cluster() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let pg = common::pg::PgDb::create("jobs");
    let db: Vec<String> = match &pg {
        Some(p) => vec!["--database-url".into(), p.url.clone()],
        None => Vec::new(),
    };
    let with_db = |args: &[&str]| -> Vec<String> {
        db.iter()
            .cloned()
            .chain(args.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let run_ok = |args: &[&str]| {
        let a = with_db(args);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        ok(&data, &refs)
    };
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let state = Arc::new(Mutex::new(Published::default()));
    {
        let state = state.clone();
        std::thread::spawn(move || serve(listener, state));
    }
    run_ok(&["init"]);
    run_ok(&["global", "set", "fetch-allow", "127.0.0.1, ::1"]);
    run_ok(&[
        "ca",
        "create",
        "--root-cn",
        "Job Root",
        "--intermediate-cn",
        "Job CA",
    ]);
    let crl_url = format!("{base}/ca.crl");
    run_ok(&[
        "ca",
        "issue",
        "--email",
        "job@example.com",
        "--cn",
        "Job",
        "--crl-url",
        &crl_url,
    ]);
    let crl_file = dir.path().join("ca.crl");
    run_ok(&["ca", "crl", "-o", crl_file.to_str().expect("utf-8")]);
    {
        let mut s = state.lock().expect("state");
        s.crl = std::fs::read(&crl_file).expect("crl");
        s.version = 1;
        // Slow enough that the nodes' first runs overlap: without the lease both would
        // fetch it.
        s.delay = Duration::from_secs(3);
    }
    let nodes = if pg.is_some() { 2 } else { 1 };
    let mut children = Vec::new();
    for _ in 0..nodes {
        let (smtp, http) = (common::mta::free_port(), common::mta::free_port());
        let smtp_addr = format!("127.0.0.1:{smtp}");
        let http_addr = format!("127.0.0.1:{http}");
        let a = with_db(&[
            "serve",
            "--smtp-listen",
            &smtp_addr,
            "--http-listen",
            &http_addr,
            "--next-hop",
            "127.0.0.1:9",
        ]);
        let refs: Vec<&str> = a.iter().map(String::as_str).collect();
        let child = common::certmail(&data, &refs)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("serve");
        children.push(child);
        common::mta::wait_port(smtp, "serve");
    }
    let sources_args = with_db(&["crl", "sources", "--json"]);
    let sources_refs: Vec<&str> = sources_args.iter().map(String::as_str).collect();
    common::mta::wait_for(30, "the job's download", || {
        json(&data, &sources_refs)
            .as_array()
            .into_iter()
            .flatten()
            .any(|s| s["url"] == crl_url.as_str() && s["last_success"].is_i64())
    });
    // Both nodes' runners have ticked at start; give a late one time to (wrongly) fetch.
    std::thread::sleep(Duration::from_secs(2));
    let gets = state
        .lock()
        .expect("state")
        .log
        .iter()
        .filter(|(p, _)| p == "/ca.crl")
        .count();
    let mut logs = String::new();
    for mut c in children {
        let _ = std::process::Command::new("kill")
            .arg(c.id().to_string())
            .status();
        let mut err = String::new();
        if let Some(mut e) = c.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        let _ = c.wait();
        logs += &err;
    }
    assert_eq!(
        gets, 1,
        "{nodes} node(s) fetched the source {gets} times; logs:\n{logs}"
    );
    assert!(
        logs.contains("crl-download"),
        "the job logs its work:\n{logs}"
    );
}
