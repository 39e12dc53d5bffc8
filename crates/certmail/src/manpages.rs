//! `certmail manpages DIR`: a man page per command, generated from the CLI definition
//! (`certmail.1`, `certmail-serve.1`, `certmail-ca-issue.1`, ...), for the package.

use std::path::Path;
use std::process::ExitCode;

use clap::CommandFactory;

use crate::cli::{Cli, Failure, io_failure};

/// Writes the pages into `dir` (made if missing).
pub fn write(dir: &Path) -> Result<ExitCode, Failure> {
    std::fs::create_dir_all(dir).map_err(|e| io_failure(&dir.display().to_string(), e))?;
    let mut cmd = Cli::command();
    cmd.build();
    let mut n = 0usize;
    page(dir, &cmd, &mut n)?;
    println!("{n} man pages written to {}", dir.display());
    Ok(ExitCode::SUCCESS)
}

fn page(dir: &Path, cmd: &clap::Command, n: &mut usize) -> Result<(), Failure> {
    if cmd.is_hide_set() {
        return Ok(());
    }
    let name = cmd.get_display_name().unwrap_or(cmd.get_name());
    // After `build`, a subcommand's display name is the full command name
    // (`certmail-ca-issue`): the page's title, as `man certmail-ca-issue` finds it.
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut buf)
        .map_err(|e| io_failure(name, e))?;
    let path = dir.join(format!("{name}.1"));
    std::fs::write(&path, buf).map_err(|e| io_failure(&path.display().to_string(), e))?;
    *n += 1;
    for sub in cmd.get_subcommands() {
        if sub.get_name() == "help" {
            continue;
        }
        page(dir, sub, n)?;
    }
    Ok(())
}
