//! The `duckc` command line: parses arguments and hands each verb to its module in `cmd/`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

mod cmd;
mod remote;

/// duckc: a declarative environment compiler with a bundled container runtime.
#[derive(Debug, Parser)]
#[command(name = "duckc", version, about, propagate_version = true)]
struct Cli {
    /// Store directory (default: `DUCKC_STORE`, else /var/lib/duckc for root, else
    /// $XDG_DATA_HOME/duckc).
    // `DUCKC_STORE` is read in `main`, not with clap's `env`: clap counts a global argument
    // its variable set as given, and a missing argument's usage line then showed
    // `duckc run --store <DIR> <IMAGE>` as if `--store` were required.
    #[arg(long, global = true, value_name = "DIR")]
    store: Option<PathBuf>,

    /// Run the command on another machine over ssh: `ssh://[USER@]HOST[:PORT]` or a name
    /// from `duckc host add` (see docs/remote.md).
    #[arg(short = 'H', long, env = "DUCKC_HOST", value_name = "HOST")]
    host: Option<String>,

    #[command(subcommand)]
    command: Command,
}

/// The verbs. Each verb's arguments are built only when that verb is parsed
/// (`#[command(defer = true)]` on every subcommand enum): building the whole tree of ~90
/// commands took 0.4 ms and 130 page faults of every start, `duckc run` included. The argument
/// structs that a verb takes or flattens therefore carry no doc comment (`///`) of their own:
/// clap would make it the verb's about, since it runs after the variant's.
/// `every_verb_keeps_its_own_about` checks it.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
    #[command(flatten)]
    Host(cmd::host::Command),
    /// Serve the Language Server Protocol on stdin/stdout: diagnostics, hover, definition,
    /// completion, quick fixes and formatting for KDL specs and Dockerfiles (docs/editors.md).
    Lsp,
    /// Format KDL specs in place (comments kept; what the language server's formatting does).
    Fmt(cmd::lsp::FmtArgs),
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
    // Every error that ends a verb renders as the frontends' diagnostics do (unicode, causes
    // said once), whichever `miette::Report` carries it: wrapped at spaces to a terminal's
    // width, not wrapped at all off one.
    duckc_diagnostic::install_hook(cmd::spec::style(), cmd::spec::error_width());
    let mut matches = None;
    let cli = match cmd::help::grouped(Cli::command())
        .try_get_matches()
        .and_then(|m| {
            let cli = Cli::from_arg_matches(&m);
            matches = Some(m);
            cli
        }) {
        Ok(cli) => cli,
        Err(e) => match cmd::help::unknown_docker_verb(
            &e,
            &std::env::args().skip(1).collect::<Vec<_>>(),
            &Cli::command(),
        ) {
            Some(report) => {
                eprintln!("{report:?}");
                return ExitCode::from(2);
            }
            None => e.exit(),
        },
    };
    let args = remote::strip_host_flag(std::env::args_os());
    if let Some(host) = cli.host.as_deref().filter(|h| !h.is_empty())
        // The editor's tools read the editor's files: they stay on this host.
        && !matches!(cli.command, Command::Host(_) | Command::Lsp | Command::Fmt(_))
        // `push`/`pull ssh://…` reach their host themselves.
        && !(matches!(cli.command, Command::Registry(_))
            && args.iter().any(|a| remote::is_ssh_address(a)))
    {
        let matches = matches.expect("parsed");
        let result = match cli.command {
            Command::Build(b @ cmd::build::Command::Build { .. }) => remote::build::run(
                host,
                b,
                matches.subcommand_matches("build").expect("build"),
                &{
                    // Its arguments are built on demand (`defer`): build them to read them.
                    let mut cli = Cli::command();
                    cli.build();
                    cli.find_subcommand("build").expect("build").clone()
                },
            ),
            _ => remote::forward(host, &args, remote::wants_terminal(&matches)),
        };
        return result.unwrap_or_else(|report| {
            eprintln!("{report:?}");
            ExitCode::from(125)
        });
    }
    let store = cli.store.or_else(|| {
        std::env::var_os("DUCKC_STORE")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
    });
    // The editor's tools run as the editor's user, on this host, and need no store.
    let command = match cli.command {
        Command::Lsp => return finish(cmd::lsp::lsp(store)),
        Command::Fmt(args) => return finish(cmd::lsp::fmt(args)),
        other => other,
    };
    // `duckc images | head -1`: a closed pipe ends the process quietly, as for other Unix
    // tools, instead of a panic in `println!`. Container verbs keep ignoring SIGPIPE: a
    // foreground container must still be waited for and cleaned up when the reader goes.
    if !matches!(command, Command::Container(_)) {
        // SAFETY: setting a signal's disposition to the default, before any thread starts.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    // Rootless, everything but the verbs that signal or join running containers works as root
    // of a user namespace with the caller's subordinate ids (see duckc_runtime::userns).
    let on_host = matches!(&command, Command::Container(c) if c.stays_on_host());
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
    let global = Global { store };
    let result = match command {
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
        Command::Host(c) => c.run(&global),
        Command::Lsp | Command::Fmt(_) => unreachable!("handled above"),
    };
    finish(result)
}

fn finish(result: miette::Result<ExitCode>) -> ExitCode {
    match result {
        Ok(code) => code,
        Err(report) => {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every verb's about, as its parent lists it (from the variant, before the verb's
    /// arguments are built), is still its about once they are: no argument struct it takes or
    /// flattens brought a doc comment that replaced it.
    #[test]
    fn every_verb_keeps_its_own_about() {
        fn abouts(cmd: &clap::Command, path: &str, out: &mut Vec<(String, String)>) {
            for sub in cmd.get_subcommands() {
                let path = format!("{path} {}", sub.get_name());
                let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
                out.push((path.clone(), about));
                abouts(sub, &path, out);
            }
        }
        let mut before = Vec::new();
        abouts(&Cli::command(), "duckc", &mut before);
        let mut built = Cli::command();
        built.build();
        let mut after = Vec::new();
        abouts(&built, "duckc", &mut after);
        let after: std::collections::BTreeMap<_, _> = after.into_iter().collect();
        let mut checked = 0;
        for (path, about) in &before {
            if let Some(now) = after.get(path) {
                assert_eq!(
                    now, about,
                    "`{path}`: its arguments' doc comment replaced its about"
                );
                checked += 1;
            }
        }
        assert!(checked > 60, "only {checked} verbs");
    }
}
