//! `certmail`: the command-line interface. It parses arguments, calls `certmail-app` and
//! renders the result. Exit codes: 0 success, 1 the operation failed, 2 bad usage.

mod admin_cmd;
mod backup_cmd;
mod ca_cmd;
mod cli;
mod directory_cmd;
mod doctor_cmd;
mod hold_cmd;
mod jobs_cmd;
mod limbo;
mod manpages;
mod policy_cmd;
mod postfix_cmd;
mod render;
mod serve_cmd;
mod smime_cmd;
mod store_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Everything certmail writes (database, WAL, spool, exports) is private to its user.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    quiet_on_closed_pipe();
    let args = cli::Cli::parse();
    // The gateway serves many sessions on every core; every other command is one job.
    let mut builder = if matches!(args.command, cli::Command::Serve(_)) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(cli::run(args)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

/// A reader that stops early (`certmail cert list | head`) closes the pipe: the CLI then
/// ends at once and quietly with the status a shell gives a process ended by SIGPIPE
/// (141), instead of printing a panic message.
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if text.contains("Broken pipe") || text.contains("os error 32") {
            std::process::exit(141);
        }
        default(info);
    }));
}
