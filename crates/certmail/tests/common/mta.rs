//! Real mail peers for the gateway tests: a private Postfix instance (`postfix -c DIR`, its
//! own queue and loopback ports) with certmail as its after-queue content filter, Postfix's
//! `smtp-sink` as the final destination, swaks as the sending client, and a
//! `certmail serve` process. Everything stops when dropped.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (bound and released; good enough for tests on one machine).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Waits until `port` accepts connections.
pub fn wait_port(port: u16, what: &str) {
    let end = Instant::now() + Duration::from_secs(20);
    while Instant::now() < end {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not listen on 127.0.0.1:{port} within 20 s");
}

/// Polls `f` until it is true or `secs` pass.
pub fn wait_for(secs: u64, what: &str, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out after {secs} s waiting for {what}");
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{what} failed: {text}");
    text
}

/// Whether Postfix, smtp-sink and swaks can run here (root is needed to start Postfix).
pub fn available() -> bool {
    for tool in ["/usr/sbin/postfix", "/usr/sbin/smtp-sink", "/usr/bin/swaks"] {
        if !Path::new(tool).exists() {
            return super::missing(tool);
        }
    }
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    if !uid.is_ok_and(|u| u == b"0\n") {
        return super::missing("root (to start a private Postfix instance)");
    }
    true
}

/// Postfix's smtp-sink writing every message to a file.
pub struct Sink {
    pub port: u16,
    pub dir: PathBuf,
    child: Child,
}

impl Sink {
    pub fn start(base: &Path) -> Sink {
        let dir = base.join("sink");
        std::fs::create_dir_all(&dir).expect("sink dir");
        chmod(&dir, 0o777);
        let port = free_port();
        let child = Command::new("smtp-sink")
            .args(["-u", "nobody", "-d"])
            .arg(format!("{}/%M.", dir.display()))
            .arg(format!("127.0.0.1:{port}"))
            .arg("100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("smtp-sink");
        wait_port(port, "smtp-sink");
        Sink { port, dir, child }
    }

    /// Every message received so far (smtp-sink's trace headers first).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(rd) = std::fs::read_dir(&self.dir) {
            for e in rd.flatten() {
                if let Ok(b) = std::fs::read(e.path()) {
                    out.push(String::from_utf8_lossy(&b).into_owned());
                }
            }
        }
        out
    }

    /// The messages whose envelope included `rcpt` (smtp-sink's X-Rcpt-Args header).
    pub fn to(&self, rcpt: &str) -> Vec<String> {
        let needle = format!("<{rcpt}>");
        self.messages()
            .into_iter()
            .filter(|m| {
                m.lines()
                    .take_while(|l| !l.is_empty())
                    .any(|l| l.starts_with("X-Rcpt-Args:") && l.contains(&needle))
            })
            .collect()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A private Postfix: `inbound` takes mail from swaks and hands it to certmail at
/// `filter`; `reinject` takes certmail's output and relays it to the sink.
pub struct Postfix {
    pub conf: PathBuf,
    pub inbound: u16,
    pub reinject: u16,
    pub filter: u16,
    log: PathBuf,
}

impl Postfix {
    pub fn start(base: &Path, sink_port: u16, filter: u16) -> Postfix {
        let root = base.join("postfix");
        let (conf, queue, data) = (root.join("conf"), root.join("queue"), root.join("data"));
        for d in [&conf, &queue, &data] {
            std::fs::create_dir_all(d).expect("postfix dirs");
        }
        chmod(base, 0o755);
        chmod(&root, 0o755);
        run(
            Command::new("chown").arg("postfix").arg(&data),
            "chown postfix data",
        );
        let (inbound, reinject) = (free_port(), free_port());
        let log = root.join("maillog");
        std::fs::write(
            conf.join("main.cf"),
            format!(
                "compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
maillog_file = {log}
maillog_file_prefixes = {root}
mail_owner = postfix
setgid_group = postdrop
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mx.example.com
mydomain = example.com
myorigin = example.com
mydestination =
mynetworks = 127.0.0.0/8
relay_domains = *
relayhost = [127.0.0.1]:{sink_port}
smtpd_recipient_restrictions = permit_mynetworks, reject
smtp_host_lookup = native
disable_dns_lookups = yes
minimal_backoff_time = 1s
maximal_backoff_time = 2s
queue_run_delay = 1s
smtp_connect_timeout = 5s
alias_maps =
alias_database =
local_recipient_maps =
shlib_directory = /usr/lib/postfix
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
",
                queue = queue.display(),
                data = data.display(),
                log = log.display(),
                root = root.display(),
            ),
        )
        .expect("main.cf");
        // certmail's own lines, as `certmail postfix-config` prints them for this set-up (README
        // shows the same output): the content filter goes on the inbound smtpd here, since
        // main.cf also serves the reinjected mail.
        let generated = Command::new(env!("CARGO_BIN_EXE_certmail"))
            .args(["postfix-config", "--smtp-listen"])
            .arg(format!("127.0.0.1:{filter}"))
            .arg("--next-hop")
            .arg(format!("127.0.0.1:{reinject}"))
            .output()
            .expect("certmail postfix-config");
        assert!(generated.status.success(), "postfix-config failed");
        let generated = String::from_utf8_lossy(&generated.stdout).into_owned();
        let content_filter = generated
            .lines()
            .find_map(|l| l.strip_prefix("content_filter = "))
            .expect("content_filter line")
            .to_owned();
        let certmail_services: String = generated
            .split("# --- master.cf ---\n")
            .nth(1)
            .expect("master.cf part")
            .to_owned();
        std::fs::write(
            conf.join("master.cf"),
            format!(
                "127.0.0.1:{inbound} inet n - n - - smtpd
  -o content_filter={content_filter}
{certmail_services}pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
flush unix n - n 1000? 0 flush
proxymap unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
smtp unix - - n - - smtp
relay unix - - n - - smtp
showq unix n - n - - showq
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
"
            ),
        )
        .expect("master.cf");
        let p = Postfix {
            conf,
            inbound,
            reinject,
            filter,
            log,
        };
        run(
            Command::new("postfix").arg("-c").arg(&p.conf).arg("start"),
            "postfix start",
        );
        wait_port(inbound, "postfix smtpd");
        wait_port(reinject, "postfix reinjection smtpd");
        p
    }

    /// Asks the queue manager to retry deferred mail now.
    pub fn flush(&self) {
        let _ = Command::new("postqueue")
            .arg("-c")
            .arg(&self.conf)
            .arg("-f")
            .output();
    }

    /// Whether the queue is empty.
    pub fn queue_empty(&self) -> bool {
        Command::new("postqueue")
            .arg("-c")
            .arg(&self.conf)
            .arg("-p")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("Mail queue is empty"))
            .unwrap_or(false)
    }

    /// Postfix's log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("abort")
            .output();
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.conf)
            .arg("stop")
            .output();
    }
}

/// A `certmail serve` process.
pub struct Gateway {
    child: Option<Child>,
    pub log: PathBuf,
    pub http: u16,
}

impl Gateway {
    pub fn start(data: &Path, listen: u16, next_hop: u16, log: &Path) -> Gateway {
        Self::start_with(data, listen, next_hop, log, &[])
    }

    /// [`Gateway::start`] with more `certmail serve` options.
    pub fn start_with(
        data: &Path,
        listen: u16,
        next_hop: u16,
        log: &Path,
        extra: &[&str],
    ) -> Gateway {
        let http = free_port();
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("gateway log");
        let child = Command::new(env!("CARGO_BIN_EXE_certmail"))
            .arg("--data-dir")
            .arg(data)
            .arg("serve")
            .args(["--smtp-listen", &format!("127.0.0.1:{listen}")])
            .args(["--next-hop", &format!("127.0.0.1:{next_hop}")])
            .args(["--http-listen", &format!("127.0.0.1:{http}")])
            .args(["--hostname", "gw.example.com"])
            .args(extra)
            .env_remove("CERTMAIL_DATABASE_URL")
            .env_remove("CERTMAIL_PASSPHRASE")
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .expect("certmail serve");
        wait_port(listen, "certmail serve");
        Gateway {
            child: Some(child),
            log: log.to_path_buf(),
            http,
        }
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// `kill -9`.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status success.
    pub fn terminate(&mut self) -> bool {
        let Some(mut c) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill").arg(c.id().to_string()).status();
        c.wait().map(|s| s.success()).unwrap_or(false)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Sends one message with swaks; returns swaks' transcript (panics on failure).
pub fn swaks(port: u16, from: &str, to: &str, data: &Path) -> String {
    run(
        Command::new("swaks")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .args(["--from", from, "--to", to])
            .arg("--data")
            .arg(data)
            .arg("--silent"),
        "swaks",
    )
}

/// One SMTP reply from a raw connection (multi-line replies read to their last line);
/// what came before the connection closed, or empty.
pub fn reply(c: &mut TcpStream) -> String {
    let mut all = String::new();
    loop {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while let Ok(1) = c.read(&mut b) {
            line.push(b[0]);
            if b[0] == b'\n' {
                break;
            }
        }
        let l = String::from_utf8_lossy(&line).into_owned();
        all.push_str(&l);
        if l.len() < 4 || l.as_bytes()[3] != b'-' {
            return all;
        }
    }
}
