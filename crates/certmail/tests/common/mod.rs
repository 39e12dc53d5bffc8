//! Helpers shared by the CLI integration tests (each test file includes this module and
//! uses part of it).

#![allow(dead_code)]

pub mod cdp;
pub mod cli;
pub mod mta;
pub mod pg;
pub mod site;

use std::process::{Command, Stdio};

/// The first line a process wrote (byte by byte, so nothing after it is consumed).
pub fn first_line(r: &mut impl std::io::Read) -> String {
    let mut line = String::new();
    let mut byte = [0u8; 1];
    while !line.ends_with('\n') && r.read(&mut byte).expect("read") == 1 {
        line.push(byte[0] as char);
    }
    line
}

/// `certmail --data-dir DATA ARGS...` with no database URL or passphrase from the
/// environment (the embedded SQLite store of DATA).
pub fn certmail(data: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certmail"));
    c.arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("CERTMAIL_DATABASE_URL")
        .env_remove("CERTMAIL_PASSPHRASE");
    c
}

/// Bytes as text, lossily.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Whether the tests run in CI (`CI` set and not empty), where no peer may be skipped.
pub fn ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// True when `tool` can be started. When it cannot: panics if `CI` is set, else prints
/// `skipping: ...` and returns false, and the test returns early.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    found || missing(tool)
}

/// Reports a missing peer: panics under `CI`, else prints `skipping: ...` and returns false.
pub fn missing(what: &str) -> bool {
    if ci() {
        panic!("{what} is not installed; CI is set, so this interop test must not be skipped");
    }
    eprintln!("skipping: {what} not installed");
    false
}

/// One plain HTTP/1.1 request to 127.0.0.1:`port` (`Connection: close`), with an optional
/// bearer token and JSON body: the status and the whole response, headers included.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    json: Option<&str>,
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut extra = auth.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    if let Some(b) = json {
        extra.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n{}",
        json.unwrap_or_default()
    )
    .expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    let code = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (code, resp)
}
