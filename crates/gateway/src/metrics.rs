//! Gateway metrics in the Prometheus text format (no metrics crate: a few counters, a
//! gauge and one histogram).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Upper bounds of the processing-time histogram, seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

/// Counters of one gateway process.
#[derive(Debug, Default)]
pub struct Metrics {
    /// Recipients by (direction, action).
    messages: Mutex<BTreeMap<(String, String), u64>>,
    /// Errors by kind.
    errors: Mutex<BTreeMap<String, u64>>,
    /// Histogram buckets (cumulative on output), sum in microseconds, count.
    hist: Mutex<([u64; BUCKETS.len()], u64, u64)>,
    /// Open SMTP sessions.
    pub open_sessions: AtomicI64,
    /// SMTP sessions since start.
    pub sessions_total: AtomicU64,
    /// Messages accepted (250 after the next hop took every copy).
    pub accepted_total: AtomicU64,
    /// Messages answered with a temporary failure.
    pub deferred_total: AtomicU64,
    /// Messages refused permanently.
    pub refused_total: AtomicU64,
}

impl Metrics {
    /// Counts one recipient's outcome.
    pub fn message(&self, direction: &str, action: &str) {
        {
            let mut m = crate::lock(&self.messages);
            *m.entry((direction.to_owned(), action.to_owned()))
                .or_default() += 1;
        }
    }

    /// Counts an error of `kind`.
    pub fn error(&self, kind: &str) {
        {
            let mut m = crate::lock(&self.errors);
            *m.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// Records a message's processing time.
    pub fn observe(&self, secs: f64) {
        {
            let mut h = crate::lock(&self.hist);
            for (i, b) in BUCKETS.iter().enumerate() {
                if secs <= *b {
                    h.0[i] += 1;
                    break;
                }
            }
            h.1 += (secs * 1e6) as u64;
            h.2 += 1;
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut s = String::with_capacity(4096);
        s.push_str("# HELP certmail_messages_total Recipients handled, by direction and action.\n# TYPE certmail_messages_total counter\n");
        {
            let m = crate::lock(&self.messages);
            for ((d, a), n) in m.iter() {
                let _ = writeln!(
                    s,
                    "certmail_messages_total{{direction=\"{d}\",action=\"{a}\"}} {n}"
                );
            }
        }
        s.push_str(
            "# HELP certmail_errors_total Errors, by kind.\n# TYPE certmail_errors_total counter\n",
        );
        {
            let m = crate::lock(&self.errors);
            for (k, n) in m.iter() {
                let _ = writeln!(s, "certmail_errors_total{{kind=\"{k}\"}} {n}");
            }
        }
        for (name, help, v) in [
            (
                "certmail_smtp_transactions_accepted_total",
                "Messages acknowledged with 250.",
                &self.accepted_total,
            ),
            (
                "certmail_smtp_transactions_deferred_total",
                "Messages answered with a temporary failure (the MTA retries).",
                &self.deferred_total,
            ),
            (
                "certmail_smtp_transactions_refused_total",
                "Messages refused permanently.",
                &self.refused_total,
            ),
            (
                "certmail_smtp_sessions_total",
                "SMTP sessions since start.",
                &self.sessions_total,
            ),
        ] {
            let _ = writeln!(
                s,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                v.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            s,
            "# HELP certmail_smtp_sessions_open Open SMTP sessions.\n# TYPE certmail_smtp_sessions_open gauge\ncertmail_smtp_sessions_open {}",
            self.open_sessions.load(Ordering::Relaxed)
        );
        s.push_str("# HELP certmail_processing_seconds Time from end of data to the reply, per message.\n# TYPE certmail_processing_seconds histogram\n");
        {
            let h = crate::lock(&self.hist);
            let mut cum = 0;
            for (i, b) in BUCKETS.iter().enumerate() {
                cum += h.0[i];
                let _ = writeln!(s, "certmail_processing_seconds_bucket{{le=\"{b}\"}} {cum}");
            }
            let _ = writeln!(
                s,
                "certmail_processing_seconds_bucket{{le=\"+Inf\"}} {}\ncertmail_processing_seconds_sum {}\ncertmail_processing_seconds_count {}",
                h.2,
                h.1 as f64 / 1e6,
                h.2
            );
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_a_cumulative_histogram() {
        let m = Metrics::default();
        m.message("outgoing", "encrypted");
        m.message("outgoing", "encrypted");
        m.error("next-hop");
        m.observe(0.003);
        m.observe(0.2);
        let t = m.render();
        assert!(
            t.contains("certmail_messages_total{direction=\"outgoing\",action=\"encrypted\"} 2")
        );
        assert!(t.contains("certmail_errors_total{kind=\"next-hop\"} 1"));
        assert!(t.contains("certmail_processing_seconds_bucket{le=\"0.005\"} 1"));
        assert!(t.contains("certmail_processing_seconds_bucket{le=\"0.25\"} 2"));
        assert!(t.contains("certmail_processing_seconds_count 2"));
    }
}
