//! The `duckc` command line: parses arguments and hands each verb to its module in `cmd/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cmd;

/// duckc: a declarative environment compiler with a bundled container runtime.
#[derive(Debug, Parser)]
#[command(name = "duckc", version, about, propagate_version = true)]
struct Cli {
    /// Store directory (default: /var/lib/duckc for root, else $XDG_DATA_HOME/duckc).
    #[arg(long, global = true, env = "DUCKC_STORE", value_name = "DIR")]
    store: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    #[command(flatten)]
    Spec(cmd::spec::Command),
    #[command(flatten)]
    Image(cmd::image::Command),
    #[command(flatten)]
    System(cmd::system::Command),
    #[command(flatten)]
    Container(cmd::container::Command),
    #[command(flatten)]
    Build(cmd::build::Command),
    #[command(flatten)]
    Packages(cmd::packages::Command),
    #[command(flatten)]
    Registry(cmd::registry::Command),
    /// Run a command as root of duckc's rootless user namespace (your uid is 0, your
    /// subordinate ids the others), e.g. to inspect or remove files in a rootless store.
    Unshare(cmd::unshare::UnshareArgs),
    #[command(flatten)]
    Sbom(cmd::sbom::Command),
    #[command(flatten)]
    Network(cmd::network::Command),
}

/// What every command gets besides its own arguments.
#[derive(Debug, Clone)]
pub struct Global {
    /// The `--store` flag or `DUCKC_STORE`, if given.
    pub store: Option<PathBuf>,
}

fn main() -> ExitCode {
    // A container init is this binary re-executed inside the container's namespaces.
    if let Some(code) = duckc_runtime::init::main_if_init() {
        return code;
    }
    let cli = match cmd::help::grouped(Cli::command())
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m))
    {
        Ok(cli) => cli,
        Err(e) => match cmd::help::unknown_docker_verb(&e) {
            Some(report) => {
                eprintln!("{report:?}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    // `duckc images | head -1`: a closed pipe ends the process quietly, as for other Unix
    // tools, instead of a panic in `println!`. Container verbs keep ignoring SIGPIPE: a
    // foreground container must still be waited for and cleaned up when the reader goes.
    if !matches!(cli.command, Command::Container(_)) {
        // SAFETY: setting a signal's disposition to the default, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // Rootless, everything but the verbs that signal or join running containers works as root
    // of a user namespace with the caller's subordinate ids (see duckc_runtime::userns).
    let on_host = matches!(&cli.command, Command::Container(c) if c.stays_on_host());
    if !on_host && let Err(e) = duckc_runtime::userns::enter() {
        eprintln!(
            "{:?}",
            miette::miette!(
                help = "enable unprivileged user namespaces (user.max_user_namespaces), or run as root",
                "{e}"
            )
        );
        return ExitCode::FAILURE;
    }
    let global = Global { store: cli.store };
    let result = match cli.command {
        Command::Spec(c) => c.run(&global),
        Command::Container(c) => c.run(&global),
        Command::Image(c) => c.run(&global),
        Command::System(c) => c.run(&global),
        Command::Build(c) => c.run(&global),
        Command::Packages(c) => c.run(&global),
        Command::Registry(c) => c.run(&global),
        Command::Unshare(c) => c.run(),
        Command::Sbom(c) => c.run(&global),
        Command::Network(c) => c.run(&global),
    };
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}
