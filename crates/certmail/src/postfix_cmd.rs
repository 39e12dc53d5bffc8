//! `certmail postfix-config` (name fixed): the `main.cf` and `master.cf` lines that wire
//! Postfix to `certmail serve` as an after-queue content filter, for the configuration
//! `serve` would run with (the same flags and `--config` file), so what README shows is
//! generated, sizes included.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::process::ExitCode;

use certmail_gateway::GatewayConfig;
use clap::Args;

use crate::cli::Failure;

/// Postfix's own default `message_size_limit`.
pub const POSTFIX_DEFAULT_LIMIT: u64 = 10_240_000;

/// Options of `certmail postfix-config`.
#[derive(Debug, Args)]
pub struct PostfixConfigArgs {
    /// The options `serve` runs with (its address, next hop, limits).
    #[command(flatten)]
    pub serve: crate::serve_cmd::ServeArgs,
    /// Postfix's `message_size_limit` in main.cf (bytes) [default: Postfix's 10240000].
    #[arg(long, value_name = "BYTES", default_value_t = POSTFIX_DEFAULT_LIMIT)]
    pub postfix_size_limit: u64,
}

/// The reinjection side's limit: encryption adds about 37 % (base64 of the encrypted
/// content, the signature); half again leaves room.
pub fn reinjection_limit(postfix_limit: u64) -> u64 {
    postfix_limit.saturating_mul(3).div_ceil(2)
}

/// The lines for `cfg`, with Postfix's limit `postfix_limit`: a `main.cf` part and a
/// `master.cf` part, each after its marker line, and warnings as comments.
pub fn postfix_lines(cfg: &GatewayConfig, postfix_limit: u64) -> String {
    // Postfix connects to certmail's SMTP listener; an unspecified address means loopback.
    let filter_ip = match cfg.smtp_listen.ip() {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        a => a,
    };
    let filter = match filter_ip {
        IpAddr::V4(a) => format!("[{a}]:{}", cfg.smtp_listen.port()),
        IpAddr::V6(a) => format!("[ipv6:{a}]:{}", cfg.smtp_listen.port()),
    };
    let concurrency = cfg.max_sessions.clamp(1, 10);
    let reinject = reinjection_limit(postfix_limit);
    let mut out = String::new();
    out.push_str(&format!(
        "# certmail postfix-config: Postfix hands mail to certmail at {filter}, certmail hands it\n\
         # back at {next}. Sizes: Postfix's message_size_limit {postfix_limit}; the reinjection\n\
         # side takes 1.5 times that ({reinject}), since encryption grows a message by about a third.\n",
        next = cfg.next_hop
    ));
    if cfg.max_message_size < postfix_limit {
        out.push_str(&format!(
            "# WARNING: certmail's max-message-size ({}) is below Postfix's limit ({postfix_limit}):\n\
             # mail between the two is refused by certmail and bounced; raise max-message-size.\n",
            cfg.max_message_size
        ));
    }
    out.push_str("# --- main.cf ---\n");
    out.push_str(&format!("content_filter = certmail:{filter}\n"));
    out.push_str("# --- master.cf ---\n");
    out.push_str(&format!(
        "certmail  unix  -  -  n  -  {concurrency}  smtp\n\
         \x20 -o smtp_send_xforward_command=yes\n\
         \x20 -o disable_mime_output_conversion=yes\n\
         \x20 -o smtp_data_done_timeout=600s\n\
         {next} inet  n  -  n  -  -  smtpd\n\
         \x20 -o content_filter=\n\
         \x20 -o message_size_limit={reinject}\n\
         \x20 -o cleanup_service_name=certmail-cleanup\n\
         \x20 -o receive_override_options=no_unknown_recipient_checks,no_header_body_checks,no_address_mappings\n\
         \x20 -o smtpd_recipient_restrictions=permit_mynetworks,reject\n\
         \x20 -o mynetworks=127.0.0.0/8\n\
         certmail-cleanup  unix  n  -  n  -  0  cleanup\n\
         \x20 -o message_size_limit={reinject}\n",
        next = cfg.next_hop
    ));
    out
}

/// Runs `certmail postfix-config`.
pub fn run(a: &PostfixConfigArgs) -> Result<ExitCode, Failure> {
    let cfg = a.serve.config()?;
    let text = postfix_lines(&cfg, a.postfix_size_limit);
    if cfg.max_message_size < a.postfix_size_limit {
        eprintln!(
            "warning: certmail's max-message-size ({}) is below Postfix's limit ({})",
            cfg.max_message_size, a.postfix_size_limit
        );
    }
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_the_configuration() {
        let mut cfg = GatewayConfig {
            smtp_listen: "0.0.0.0:2525".parse().expect("addr"),
            next_hop: "127.0.0.1:2526".into(),
            max_sessions: 4,
            ..GatewayConfig::default()
        };
        let t = postfix_lines(&cfg, POSTFIX_DEFAULT_LIMIT);
        assert!(
            t.contains("content_filter = certmail:[127.0.0.1]:2525\n"),
            "{t}"
        );
        assert!(t.contains("certmail  unix  -  -  n  -  4  smtp\n"), "{t}");
        assert!(
            t.contains("127.0.0.1:2526 inet  n  -  n  -  -  smtpd\n"),
            "{t}"
        );
        assert_eq!(
            t.matches("-o message_size_limit=15360000").count(),
            2,
            "{t}"
        );
        assert!(!t.contains("WARNING"));
        cfg.max_message_size = 5_000_000;
        assert!(postfix_lines(&cfg, POSTFIX_DEFAULT_LIMIT).contains("WARNING"));
        assert_eq!(reinjection_limit(20_000_000), 30_000_000);
    }
}
