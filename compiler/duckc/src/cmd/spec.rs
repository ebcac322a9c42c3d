//! Verbs that read specs: `check`, `graph`.

use std::process::ExitCode;

use clap::Subcommand;

use crate::Global;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec and print its diagnostics.
    Check {
        /// The spec (default: env.kdl, then duck.kdl).
        file: Option<std::path::PathBuf>,
    },
}

impl Command {
    pub fn run(self, _global: &Global) -> miette::Result<ExitCode> {
        match self {
            Command::Check { .. } => Ok(ExitCode::SUCCESS),
        }
    }
}
