//! `certmail`: the command-line interface. It parses arguments, calls `certmail-app` and
//! renders the result. Exit codes: 0 success, 1 the operation failed, 2 bad usage.

mod admin_cmd;
mod ca_cmd;
mod cli;
mod directory_cmd;
mod hold_cmd;
mod jobs_cmd;
mod limbo;
mod policy_cmd;
mod render;
mod serve_cmd;
mod smime_cmd;
mod verify_cmd;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
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
