//! The container verbs added after the first set, as clap enums flattened into `container.rs`'s:
//! `cp`, `diff`, `top`, `rename`, `attach`, `wait`, `restart`, and under `container` also
//! `prune` and `inspect`.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use duckc_store::Store;

use super::{attach, cp, diff, lifecycle, top};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Copy files between a container and the host (`C:SRC DEST`, `SRC C:DEST`; `-` is a tar
    /// stream).
    Cp(CpArgs),
    /// Show the files a container added (A), changed (C) or deleted (D).
    Diff(OneContainer),
    /// Show the processes of a running container, with their host pids.
    Top(TopArgs),
    /// Rename a container.
    Rename(RenameArgs),
    /// Attach to a running container's terminal or standard streams (detach with ctrl-p
    /// ctrl-q).
    Attach(AttachArgs),
    /// Wait for containers to stop, then print their exit codes.
    Wait(ManyContainers),
    /// Restart containers (stop when running, then start detached).
    Restart(RestartArgs),
}

/// `duckc container …`: [`Command`] plus the verbs Docker has only there.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerOnly {
    #[command(flatten)]
    Common(Command),
    /// Remove every stopped container.
    Prune(PruneArgs),
    /// Show containers as JSON (Docker's shape for the fields duckc has).
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct CpArgs {
    /// `CONTAINER:PATH`, a host path, or `-` (a tar stream on stdin).
    pub src: String,
    /// `CONTAINER:PATH`, a host path, or `-` (a tar stream to stdout).
    pub dest: String,
}

#[derive(Debug, Args)]
pub struct OneContainer {
    /// The container, by name, id or a unique prefix of an id.
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ManyContainers {
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container, by name, id or a unique prefix of an id.
    pub container: String,
    /// `ps` options (Docker passes them to `ps`; duckc has one format and refuses them).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, hide = true)]
    pub ps_options: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container, by name, id or a unique prefix of an id.
    pub container: String,
    /// Its new name.
    pub new_name: String,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not send input to the container.
    #[arg(long)]
    pub no_stdin: bool,
    /// The container, by name, id or a unique prefix of an id.
    pub container: String,
}

#[derive(Debug, Args)]
pub struct RestartArgs {
    #[command(flatten)]
    pub how: super::StopHow,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Print each container through a Go-style template (`{{.State.Status}}`, `{{json .}}`).
    #[arg(short, long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

impl Command {
    pub fn run(self, store: &Store) -> miette::Result<ExitCode> {
        match self {
            Command::Cp(a) => cp::cp(store, &a.src, &a.dest),
            Command::Diff(a) => diff::diff(store, &a.container),
            Command::Top(a) => top::top(store, &a.container, &a.ps_options),
            Command::Rename(a) => lifecycle::rename(store, &a.container, &a.new_name),
            Command::Attach(a) => attach::attach(store, &a.container, !a.no_stdin),
            Command::Wait(a) => lifecycle::wait(store, &a.containers),
            Command::Restart(a) => lifecycle::restart(store, &a.containers, &a.how),
        }
    }
}

impl ContainerOnly {
    pub fn run(self, store: &Store) -> miette::Result<ExitCode> {
        match self {
            ContainerOnly::Common(c) => c.run(store),
            ContainerOnly::Prune(a) => lifecycle::prune(store, a.force),
            ContainerOnly::Inspect(a) => {
                lifecycle::inspect(store, &a.containers, a.format.as_deref())
            }
        }
    }
}
