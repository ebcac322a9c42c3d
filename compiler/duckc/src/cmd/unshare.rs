//! `duckc unshare`: run a command in duckc's rootless user namespace (as `podman unshare`
//! does), where the store's files that subordinate ids own belong to mapped ids.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use clap::Args;
use miette::miette;

// Run a command as root of duckc's rootless user namespace (default: your shell).
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args)]
pub struct UnshareArgs {
    /// The command and its arguments.
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "COMMAND"
    )]
    command: Vec<String>,
}

impl UnshareArgs {
    /// `main` has entered the namespace already (every command but a few container verbs do).
    pub fn run(self) -> miette::Result<ExitCode> {
        let mut argv = self.command;
        if argv.is_empty() {
            argv.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()));
        }
        let err = std::process::Command::new(&argv[0]).args(&argv[1..]).exec();
        Err(miette!(
            help = "name a program on your PATH, e.g. `duckc unshare ls -ln ~/.local/share/duckc`",
            "cannot run `{}`: {err}",
            argv[0]
        ))
    }
}
