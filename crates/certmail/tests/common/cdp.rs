//! A small Chrome DevTools Protocol client for the browser tests: starts Debian's headless
//! `chromium` (never downloads one), opens a page over its WebSocket, navigates, fills and
//! submits forms, reads text, and writes screenshots. Only what the tests need.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64ct::{Base64, Encoding};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The browser binary.
pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless browser with one page.
pub struct Browser {
    child: Child,
    ws: Ws,
    next: u64,
    shots: PathBuf,
    _profile: tempfile::TempDir,
}

fn http_get(port: u16, path: &str) -> String {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("devtools http");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    // DevTools may keep the connection open: read the head, then Content-Length bytes.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).expect("devtools answer");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len = head.lines().find_map(|l| {
                l.to_ascii_lowercase()
                    .strip_prefix("content-length:")
                    .map(|v| v.trim().parse::<usize>().unwrap_or(0))
            });
            if n == 0 || len.is_some_and(|l| body.len() >= l) {
                return body.to_owned();
            }
        }
        assert!(n > 0, "devtools closed the connection early");
    }
}

impl Browser {
    /// Starts chromium; screenshots go to `shots`.
    pub async fn start(shots: &Path) -> Browser {
        std::fs::create_dir_all(shots).expect("screenshot dir");
        let profile = tempfile::tempdir().expect("profile");
        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--window-size=1280,900",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("chromium did not print its DevTools address within 30 s");
        let port: u16 = url
            .trim_start_matches("ws://127.0.0.1:")
            .split('/')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("unexpected DevTools address {url}"));
        let targets: Value = serde_json::from_str(&http_get(port, "/json/list")).expect("targets");
        let page = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page target")
            .replace("ws://localhost:", "ws://127.0.0.1:");
        let (ws, _) = tokio_tungstenite::connect_async(page.as_str())
            .await
            .unwrap_or_else(|e| panic!("connect to the page {page}: {e}"));
        let mut b = Browser {
            child,
            ws,
            next: 0,
            shots: shots.to_path_buf(),
            _profile: profile,
        };
        b.call("Page.enable", json!({})).await;
        b
    }

    /// One CDP command; its result (events in between are skipped).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next += 1;
        let id = self.next;
        let msg = json!({ "id": id, "method": method, "params": params }).to_string();
        self.ws
            .send(Message::text(msg))
            .await
            .expect("send to chromium");
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .unwrap_or_else(|_| panic!("{method}: no answer within 30 s"))
                .expect("chromium closed the connection")
                .expect("websocket");
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(t.as_str()).expect("CDP JSON");
            if v["id"] == id {
                if let Some(e) = v.get("error") {
                    panic!("{method} failed: {e}");
                }
                return v["result"].clone();
            }
        }
    }

    /// Evaluates JavaScript in the page (DevTools evaluation, not page script: the CSP
    /// that forbids inline script does not apply to it) and returns its value.
    pub async fn eval(&mut self, js: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({ "expression": js, "returnByValue": true, "awaitPromise": true }),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{js}: {e}");
        }
        r["result"]["value"].clone()
    }

    async fn wait_loaded(&mut self, marker: bool) {
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let js = if marker {
                "window.__certmail_old === undefined && document.readyState === 'complete'"
            } else {
                "document.readyState === 'complete'"
            };
            if self.eval(js).await == json!(true) {
                return;
            }
            assert!(Instant::now() < end, "page did not load within 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Opens a URL and waits for the page.
    pub async fn goto(&mut self, url: &str) {
        self.eval("window.__certmail_old = true").await;
        self.call("Page.navigate", json!({ "url": url })).await;
        self.wait_loaded(true).await;
    }

    /// Sets an input's value.
    pub async fn fill(&mut self, selector: &str, value: &str) {
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) throw new Error('no ' + {0}); e.value = {}; return true; }})()",
            json!(selector),
            json!(value)
        );
        self.eval(&js).await;
    }

    /// Clicks a button (or anything) and waits for the page it leads to.
    pub async fn click(&mut self, selector: &str) {
        self.eval("window.__certmail_old = true").await;
        let js = format!(
            "(() => {{ const e = document.querySelector({}); if (!e) throw new Error('no ' + {0}); e.click(); return true; }})()",
            json!(selector)
        );
        self.eval(&js).await;
        self.wait_loaded(true).await;
    }

    /// Puts a file into a file input.
    pub async fn set_file(&mut self, selector: &str, path: &Path) {
        // Chromium refuses paths with `..` in them (ERR_ACCESS_DENIED on submit).
        let path = path.canonicalize().expect("file to upload");
        let doc = self.call("DOM.getDocument", json!({})).await;
        let root = doc["root"]["nodeId"].clone();
        let node = self
            .call(
                "DOM.querySelector",
                json!({ "nodeId": root, "selector": selector }),
            )
            .await;
        self.call(
            "DOM.setFileInputFiles",
            json!({ "nodeId": node["nodeId"], "files": [path.display().to_string()] }),
        )
        .await;
    }

    /// The page's visible text.
    pub async fn text(&mut self) -> String {
        self.eval("document.body.innerText")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The page's address.
    pub async fn url(&mut self) -> String {
        self.eval("location.href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Whether `selector` matches anything.
    pub async fn has(&mut self, selector: &str) -> bool {
        self.eval(&format!(
            "document.querySelector({}) !== null",
            json!(selector)
        ))
        .await
            == json!(true)
    }

    /// Writes a PNG screenshot of the page; returns its path.
    pub async fn screenshot(&mut self, name: &str) -> PathBuf {
        let r = self
            .call("Page.captureScreenshot", json!({ "format": "png" }))
            .await;
        let png = Base64::decode_vec(r["data"].as_str().expect("data")).expect("base64");
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let path = self.shots.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
