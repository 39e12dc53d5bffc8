//! The gateway's log: one line per event on standard error with a UTC time stamp, and the
//! per-message record in the configured format (`log-format`: text or JSON), with what the
//! MTA in front said through XFORWARD.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::Shared;

/// Per-message log lines a process keeps for the web admin's gateway page.
pub const RECENT_MESSAGES: usize = 1_000;

/// The gateway's recent per-message log lines (text form), newest last, at most
/// [`RECENT_MESSAGES`]: the gateway writes them, the web admin reads them. Per process: each
/// node shows its own.
#[derive(Debug, Default)]
pub struct MessageLog {
    lines: Mutex<VecDeque<(i64, String)>>,
}

impl MessageLog {
    /// Keeps a line (the per-message line, or a refused recipient); the oldest goes when
    /// [`RECENT_MESSAGES`] are held.
    pub fn record(&self, at: i64, line: &str) {
        let mut r = crate::lock(&self.lines);
        if r.len() >= RECENT_MESSAGES {
            r.pop_front();
        }
        r.push_back((at, line.to_owned()));
    }

    /// The kept lines, newest first, optionally only those containing `filter`.
    pub fn recent(&self, filter: Option<&str>, limit: usize) -> Vec<(i64, String)> {
        crate::lock(&self.lines)
            .iter()
            .rev()
            .filter(|(_, l)| filter.is_none_or(|f| l.contains(f)))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// ` queue_id=... client=...` for a text log line, from XFORWARD (empty when not given).
pub(crate) fn fwd_text(f: &crate::xforward::Forwarded) -> String {
    let mut out = String::new();
    if let Some(q) = &f.ident {
        out.push_str(&format!(" queue_id={q}"));
    }
    if let Some(c) = f.client() {
        out.push_str(&format!(" client={c}"));
    }
    out
}

/// Writes a message's log record in the configured format; the text form is also kept for
/// the dashboard's "recent messages".
pub(crate) fn emit(shared: &Shared, text: &str, mut json: serde_json::Value) {
    shared.log.record(certmail_app::now(), text);
    match shared.cfg.log_format {
        crate::config::LogFormat::Text => log_line(text),
        crate::config::LogFormat::Json => {
            use std::io::Write;
            if let Some(o) = json.as_object_mut() {
                o.insert("time".into(), certmail_pki_time(certmail_app::now()).into());
                o.insert("log".into(), "certmail-gateway".into());
            }
            let line = format!("{json}\n");
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }
}

/// One log line on standard error, with a UTC time stamp.
pub fn log_line(s: &str) {
    use std::io::Write;
    // One write per line: `eprintln!` writes each piece of its format on its own (stderr is
    // unbuffered), four system calls per message, and lines of other processes sharing the
    // descriptor could fall between them.
    let line = format!(
        "{} certmail-gateway: {s}\n",
        certmail_pki_time(certmail_app::now())
    );
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

fn certmail_pki_time(t: i64) -> String {
    certmail_app::format_time(t)
}
