//! Remote host verbs: `host add/ls/rm` for named hosts, and the hidden verbs a remote duckc
//! answers over ssh (`remote-hello`, `blob-receive`, `blob-send`).

use std::io::{BufReader, Write};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use miette::miette;

use crate::Global;
use crate::cmd::image::open_store;
use crate::remote::{self, hosts};

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Manage named remote hosts for `-H NAME` (kept in `$XDG_CONFIG_HOME/duckc/hosts.json`).
    #[command(subcommand)]
    Host(HostCommand),
    /// Print this duckc's version and remote protocol (the handshake of `-H`).
    #[command(hide = true)]
    RemoteHello,
    /// Take an image offered on standard input (the remote side of `push ssh://`).
    #[command(hide = true)]
    BlobReceive { name: String },
    /// Offer an image on standard output (the remote side of `pull ssh://`).
    #[command(hide = true)]
    BlobSend { name: String },
    /// Take a build context on standard input, then build it (the remote side of `-H … build`).
    #[command(hide = true)]
    ContextBuild {
        /// The flags for `build`.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        flags: Vec<std::ffi::OsString>,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum HostCommand {
    /// Name a host: `duckc host add robot ssh://duck@robot.local[:PORT]`.
    Add(AddArgs),
    /// List the named hosts.
    #[command(visible_alias = "list")]
    Ls,
    /// Forget a named host.
    #[command(visible_alias = "remove")]
    Rm {
        /// The host's name.
        name: String,
    },
}

#[derive(Debug, Args)]
pub struct AddArgs {
    /// The name to use with `-H`.
    name: String,
    /// `ssh://[USER@]HOST[:PORT]`.
    url: String,
    /// The duckc binary on the remote host (default: `duckc` on its PATH).
    #[arg(long, value_name = "PATH")]
    duckc: Option<String>,
    /// The store on the remote host, passed to it as `--store` (default: the remote user's).
    #[arg(long, value_name = "DIR")]
    remote_store: Option<String>,
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        match self {
            Command::Host(HostCommand::Add(a)) => {
                hosts::add(
                    &a.name,
                    hosts::Entry {
                        url: a.url,
                        duckc: a.duckc,
                        store: a.remote_store,
                    },
                )?;
                println!("{}", a.name);
                Ok(ExitCode::SUCCESS)
            }
            Command::Host(HostCommand::Ls) => {
                let list = hosts::list()?;
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{:<16} {:<40} {:<24} STORE", "NAME", "URL", "DUCKC");
                for (name, e) in list {
                    let _ = writeln!(
                        out,
                        "{name:<16} {:<40} {:<24} {}",
                        e.url,
                        e.duckc.as_deref().unwrap_or("duckc"),
                        e.store.as_deref().unwrap_or("(default)")
                    );
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Host(HostCommand::Rm { name }) => {
                if hosts::remove(&name)? {
                    println!("{name}");
                    Ok(ExitCode::SUCCESS)
                } else {
                    Err(miette!(
                        help = "list the named hosts with `duckc host ls`",
                        "no host named `{name}`"
                    ))
                }
            }
            Command::RemoteHello => {
                println!("{}", remote::hello_line());
                Ok(ExitCode::SUCCESS)
            }
            Command::BlobReceive { name } => {
                let store = open_store(global)?;
                let stdin = std::io::stdin();
                let mut r = stdin.lock();
                let mut w = std::io::stdout().lock();
                remote::transfer::receive(&store, Some(&name), &mut r, &mut w)?;
                Ok(ExitCode::SUCCESS)
            }
            Command::ContextBuild { flags } => remote::build::serve(global, &flags),
            Command::BlobSend { name } => {
                let store = open_store(global)?;
                let image = duckc_image::resolve(&store, &name).map_err(|e| {
                    miette!(
                        help = "list the remote's images with `duckc -H HOST images`",
                        "no image `{name}` on this host: {e}"
                    )
                })?;
                let mut r = BufReader::new(std::io::stdin().lock());
                let mut w = std::io::stdout().lock();
                remote::transfer::send(&store, &image, &name, &mut r, &mut w)?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
