//! Container verbs: `run`, `ps`/`container ls`, `start`, `stop`, `kill`, `rm`, `logs`, `exec`,
//! `commit`. No daemon: a foreground `run` waits for its container itself, and a detached one
//! (`-d`, `start` without `-a`) leaves a small monitor process behind that records the exit.

mod attach;
mod cp;
mod devices;
mod diff;
mod inspect;
pub(crate) mod lifecycle;
mod limits;
mod mounts;
mod security_opt;
mod table;
mod top;
mod verbs;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use duckc_image::time::now;
use duckc_runtime::container::{self, Config, Dir, Status};
use duckc_runtime::{ContainerSpec, Io, Process, Stdio, Volume};
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};

use crate::Global;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// List containers.
    Ps(PsArgs),
    /// Start a stopped container again, over the files it kept.
    Start(StartArgs),
    /// Stop running containers (SIGTERM, then SIGKILL after a grace period).
    Stop(StopArgs),
    /// Send a signal to running containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Print the output of a container.
    Logs(LogsArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Show containers' CPU, memory and process counts.
    Stats(StatsArgs),
    /// Pause (freeze) all processes in running containers.
    Pause(PauseArgs),
    /// Unpause (thaw) paused containers.
    Unpause(PauseArgs),
    #[command(flatten)]
    More(verbs::Command),
    /// Manage containers.
    #[command(subcommand)]
    Container(ContainerCommand),
}

/// `duckc container …`: the same verbs under Docker's management command.
// Parsed once per invocation: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ContainerCommand {
    /// List containers.
    #[command(visible_aliases = ["ps", "list"])]
    Ls(PsArgs),
    /// Create and run a new container from an image.
    Run(RunArgs),
    /// Start a stopped container again.
    Start(StartArgs),
    /// Stop running containers.
    Stop(StopArgs),
    /// Send a signal to running containers.
    Kill(KillArgs),
    /// Remove containers.
    Rm(RmArgs),
    /// Print the output of a container.
    Logs(LogsArgs),
    /// Run a command in a running container.
    Exec(ExecArgs),
    /// Create a new image from a container's changes.
    Commit(CommitArgs),
    /// Show containers' CPU, memory and process counts.
    Stats(StatsArgs),
    /// Pause (freeze) all processes in running containers.
    Pause(PauseArgs),
    /// Unpause (thaw) paused containers.
    Unpause(PauseArgs),
    #[command(flatten)]
    More(verbs::ContainerOnly),
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Print one table and exit (default: refresh every second).
    #[arg(long)]
    no_stream: bool,
    /// Containers to show (default: every running one).
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PauseArgs {
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run in the background and print the container ID.
    #[arg(short, long)]
    detach: bool,
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Remove the container when it exits.
    #[arg(long)]
    rm: bool,
    /// Name the container (default: a random adjective_animal).
    #[arg(long)]
    name: Option<String>,
    /// Set an environment variable (`KEY=VALUE`, or `KEY` to pass the caller's value).
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// Bind-mount a host path: `HOST:CONTAINER[:ro]`.
    #[arg(short, long = "volume", value_name = "HOST:CONTAINER[:ro]")]
    volume: Vec<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// User to run as: `name|uid[:group|gid]`.
    #[arg(short, long)]
    user: Option<String>,
    /// Container hostname (default: the short container ID).
    #[arg(long)]
    hostname: Option<String>,
    /// Network: `bridge` (the default: NAT through duckc's bridge), a user network's name,
    /// `none` (loopback only), or `host`.
    // `default` is how the bridge is recorded (Docker's `NetworkMode` word); the help says
    // `bridge`, so clap does not show `[default: default]` beside it.
    #[arg(long, default_value = "default", hide_default_value = true)]
    network: String,
    #[command(flatten)]
    net: Box<super::network::NetArgs>,
    #[command(flatten)]
    dns: DnsArgs,
    /// Override the image's entrypoint (`""` clears it).
    #[arg(long)]
    entrypoint: Option<String>,
    /// Signal `stop` sends first (default: the image's `STOPSIGNAL`, else SIGTERM).
    #[arg(long, value_name = "SIGNAL")]
    stop_signal: Option<String>,
    /// Seconds `stop` waits before killing the container (default: 10; -1: no limit).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    stop_timeout: Option<i64>,
    /// Which platform of a multi-platform image to run (`linux/arm64`; default: this
    /// machine's).
    #[arg(long, value_name = "OS/ARCH")]
    platform: Option<String>,
    /// Security options: `seccomp=PROFILE.json`, `seccomp=unconfined`, `no-new-privileges`.
    #[arg(long = "security-opt", value_name = "OPTION")]
    security_opt: Vec<String>,
    #[command(flatten)]
    limits: Box<limits::LimitArgs>,
    #[command(flatten)]
    devices: Box<devices::DeviceArgs>,
    #[command(flatten)]
    mounts: Box<mounts::MountArgs>,
    /// The image (`name[:tag]`, an image ID or a digest), then the command and its arguments
    /// (default: the image's). Everything after the image is the command's, as in Docker:
    /// `duckc run IMAGE --help` passes `--help` to the command.
    // One positional, not two: clap stops reading options only once the trailing positional
    // has a value, so `IMAGE --rm` gave `--rm` to `run` while it was a separate `COMMAND`.
    #[arg(
        required = true,
        num_args = 1..,
        trailing_var_arg = true,
        value_names = ["IMAGE", "COMMAND"]
    )]
    image_and_command: Vec<String>,
}

impl RunArgs {
    /// The image to run.
    fn image(&self) -> &str {
        &self.image_and_command[0]
    }

    /// The command and its arguments given after the image (empty: the image's).
    fn command(&self) -> &[String] {
        &self.image_and_command[1..]
    }
}

// `--add-host`, `--dns`, `--dns-search`, `--dns-option`: what `run`'s containers and
// `build`'s steps get in their generated `/etc/hosts` and `/etc/resolv.conf`.
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args)]
pub struct DnsArgs {
    /// Add a line to the container's /etc/hosts: `NAME:IP`.
    #[arg(long = "add-host", value_name = "NAME:IP")]
    add_host: Vec<String>,
    /// Nameserver for the container's /etc/resolv.conf (replaces the host's).
    #[arg(long = "dns", value_name = "IP")]
    dns: Vec<String>,
    /// Search domain for the container's /etc/resolv.conf (replaces the host's).
    #[arg(long = "dns-search", value_name = "DOMAIN")]
    dns_search: Vec<String>,
    /// Resolver option for the container's /etc/resolv.conf (replaces the host's).
    #[arg(long = "dns-option", value_name = "OPTION")]
    dns_option: Vec<String>,
}

/// `--add-host`, `--dns`, `--dns-search`, `--dns-option`, checked.
pub(crate) fn dns_options(args: &DnsArgs) -> miette::Result<duckc_runtime::Dns> {
    use duckc_runtime::etc;
    for entry in &args.add_host {
        etc::parse_add_host(entry).map_err(|e| {
            miette!(
                help = "write `--add-host NAME:IP`, e.g. `--add-host db:10.0.0.5`",
                "bad --add-host: {e}"
            )
        })?;
    }
    for server in &args.dns {
        etc::check_server(server).map_err(|e| {
            miette!(
                help = "`--dns` takes a nameserver's IP address, e.g. `--dns 10.0.0.2`",
                "bad --dns: {e}"
            )
        })?;
    }
    for (flag, words) in [
        ("--dns-search", &args.dns_search),
        ("--dns-option", &args.dns_option),
    ] {
        for word in words {
            etc::check_word(word).map_err(|e| {
                miette!(
                    help = format!("give `{flag}` once per value"),
                    "bad {flag}: {e}"
                )
            })?;
        }
    }
    Ok(duckc_runtime::Dns {
        add_hosts: args.add_host.clone(),
        servers: args.dns.clone(),
        search: args.dns_search.clone(),
        options: args.dns_option.clone(),
    })
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default: only running ones).
    #[arg(short, long)]
    all: bool,
    /// Only print container IDs.
    #[arg(short, long)]
    quiet: bool,
    /// Only containers that match: `status=exited`, `name=N`, `ancestor=IMAGE`, `id=ID`,
    /// `exited=CODE`.
    #[arg(short, long, value_name = "KEY=VALUE")]
    filter: Vec<String>,
    /// Print each container through a Go-style template (`{{.ID}}`, `{{json .}}`, `table …`).
    #[arg(long)]
    format: Option<String>,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach to the container's output and wait for it.
    #[arg(short, long)]
    attach: bool,
    /// Attach stdin.
    #[arg(short, long)]
    interactive: bool,
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    #[command(flatten)]
    how: StopHow,
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    containers: Vec<String>,
}

// How `stop` and `restart` stop a container (Docker's `-s` and `-t`).
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args)]
pub struct StopHow {
    /// Signal to send first (default: the container's stop signal: `--stop-signal`, the
    /// image's `STOPSIGNAL`, else SIGTERM).
    #[arg(short, long, value_name = "SIGNAL")]
    signal: Option<String>,
    /// Seconds to wait before killing the container (default: its `--stop-timeout`, else 10;
    /// -1: no limit).
    #[arg(short, long, value_name = "SECONDS", allow_negative_numbers = true)]
    time: Option<i64>,
}

impl StopHow {
    /// A `--signal` that is no signal is refused before any container is looked at.
    fn check(&self) -> miette::Result<()> {
        match &self.signal {
            Some(s) => parse_signal(s, "`--signal`").map(drop),
            None => Ok(()),
        }
    }
}

/// A signal name or number as a diagnostic-ready number; `what` says where it came from.
fn parse_signal(text: &str, what: &str) -> miette::Result<i32> {
    duckc_runtime::process::signal_number(text).ok_or_else(|| {
        miette!(
            help = "use a name like `TERM`, `SIGINT`, `SIGRTMIN+3`, or a number from 1 to 64",
            "invalid signal `{text}` ({what})"
        )
    })
}

/// Stop `config`'s container as `how` says, falling back on what it was made with.
fn stop_as(
    dir: &Dir,
    config: &Config,
    state: &container::State,
    how: &StopHow,
) -> miette::Result<()> {
    let signal = match (&how.signal, &config.stop_signal) {
        (Some(s), _) => parse_signal(s, "`--signal`")?,
        (None, Some(s)) => parse_signal(s, "the container's stop signal")?,
        (None, None) => libc::SIGTERM,
    };
    let time = how.time.or(config.stop_timeout).unwrap_or(10);
    let grace = u64::try_from(time).ok().map(Duration::from_secs);
    container::stop(dir, config, state, signal, grace);
    Ok(())
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send.
    #[arg(short, long, default_value = "KILL")]
    signal: String,
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Kill and remove a running container.
    #[arg(short, long)]
    force: bool,
    /// Containers, by name, id or a unique prefix of an id.
    #[arg(required = true)]
    containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Keep printing output until the container exits.
    #[arg(short, long)]
    follow: bool,
    /// The container, by name, id or a unique prefix of an id.
    container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep stdin open.
    #[arg(short, long)]
    interactive: bool,
    /// Allocate a pseudo-terminal.
    #[arg(short, long)]
    tty: bool,
    /// Set an environment variable.
    #[arg(short, long = "env", value_name = "KEY=VALUE")]
    env: Vec<String>,
    /// User to run as.
    #[arg(short, long)]
    user: Option<String>,
    /// Working directory inside the container.
    #[arg(short, long)]
    workdir: Option<String>,
    /// The container (by name, id or a unique prefix of an id), then the command and its
    /// arguments. Everything after the container is the command's, as in Docker.
    // One positional, for the reason `RunArgs::image_and_command` gives.
    #[arg(
        required = true,
        num_args = 2..,
        trailing_var_arg = true,
        value_names = ["CONTAINER", "COMMAND"]
    )]
    container_and_command: Vec<String>,
}

impl ExecArgs {
    /// The container to run the command in.
    fn container(&self) -> &str {
        &self.container_and_command[0]
    }

    /// The command and its arguments.
    fn command(&self) -> &[String] {
        &self.container_and_command[1..]
    }
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit message (kept in the image history).
    #[arg(short, long)]
    message: Option<String>,
    /// Author.
    #[arg(short, long)]
    author: Option<String>,
    /// Apply a Dockerfile instruction to the image config (`CMD`, `ENTRYPOINT`, `ENV`, …).
    #[arg(short, long = "change")]
    change: Vec<String>,
    /// Pause the container while committing (`--pause=false` to commit it running).
    #[arg(
        short,
        long,
        default_value_t = true,
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = "true",
        action = clap::ArgAction::Set
    )]
    pause: bool,
    /// The container, by name, id or a unique prefix of an id.
    container: String,
    /// `REPOSITORY[:TAG]` for the new image.
    repository: Option<String>,
}

impl Command {
    /// Verbs that run as the caller on the host even rootless: they signal or join running
    /// containers, which only the owner of duckc's user namespaces may do from a later
    /// process (another process's fresh namespace has no power over them), or only read.
    pub fn stays_on_host(&self) -> bool {
        use ContainerCommand as C;
        matches!(
            self,
            Command::Stop(_)
                | Command::Kill(_)
                | Command::Rm(_)
                | Command::Exec(_)
                | Command::Ps(_)
                | Command::Logs(_)
                | Command::Stats(_)
                | Command::Pause(_)
                | Command::Unpause(_)
                | Command::More(
                    verbs::Command::Top(_) | verbs::Command::Attach(_) | verbs::Command::Wait(_)
                )
                | Command::Container(
                    C::Stop(_)
                        | C::Kill(_)
                        | C::Rm(_)
                        | C::Exec(_)
                        | C::Ls(_)
                        | C::Logs(_)
                        | C::Stats(_)
                        | C::Pause(_)
                        | C::Unpause(_)
                        | C::More(verbs::ContainerOnly::Common(
                            verbs::Command::Top(_)
                                | verbs::Command::Attach(_)
                                | verbs::Command::Wait(_)
                        ))
                )
        )
    }

    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        let store = open_store(global)?;
        match self {
            Command::Run(a) | Command::Container(ContainerCommand::Run(a)) => run(&store, a),
            Command::Ps(a) | Command::Container(ContainerCommand::Ls(a)) => ps(&store, &a),
            Command::Start(a) | Command::Container(ContainerCommand::Start(a)) => start(&store, &a),
            Command::Stop(a) | Command::Container(ContainerCommand::Stop(a)) => stop(&store, &a),
            Command::Kill(a) | Command::Container(ContainerCommand::Kill(a)) => kill(&store, &a),
            Command::Rm(a) | Command::Container(ContainerCommand::Rm(a)) => rm(&store, &a),
            Command::Logs(a) | Command::Container(ContainerCommand::Logs(a)) => logs(&store, &a),
            Command::Exec(a) | Command::Container(ContainerCommand::Exec(a)) => exec(&store, a),
            Command::Commit(a) | Command::Container(ContainerCommand::Commit(a)) => {
                commit(&store, &a)
            }
            Command::Stats(a) | Command::Container(ContainerCommand::Stats(a)) => stats(&store, &a),
            Command::Pause(a) | Command::Container(ContainerCommand::Pause(a)) => {
                pause(&store, &a, true)
            }
            Command::Unpause(a) | Command::Container(ContainerCommand::Unpause(a)) => {
                pause(&store, &a, false)
            }
            Command::More(c) => c.run(&store),
            Command::Container(ContainerCommand::More(c)) => c.run(&store),
        }
    }
}

fn open_store(global: &Global) -> miette::Result<Store> {
    let root = global.store.clone().unwrap_or_else(Store::default_root);
    let store = Store::open(&root)
        .map_err(|e| miette!("cannot open the store at `{}`: {e}", root.display()))?;
    std::fs::create_dir_all(store.containers_dir()).into_diagnostic()?;
    Ok(store)
}

fn short(id: &str) -> &str {
    &id[..12.min(id.len())]
}

/// Every container in the store, newest first.
fn all(store: &Store) -> Vec<(Dir, Config)> {
    container::list(store)
}

/// The id and name of the container `query` names (`duckc port`).
pub(crate) fn id_and_name(store: &Store, query: &str) -> miette::Result<(String, String)> {
    find(store, query).map(|(_, c)| (c.id, c.name))
}

/// What to do about an image `run` does not find: the tag it is likely a typo of, and where
/// images come from (duckc's `run` pulls nothing by itself).
fn missing_image_help(store: &Store, query: &str) -> String {
    let where_from = "`duckc images` lists the store's images; `duckc pull HOST/NAME:TAG` fetches one from a registry, `duckc load -i FILE` reads an archive, `duckc build` makes one";
    // Tags are stored as `name:tag`; a query without a tag means `:latest`.
    let untagged = !query.rsplit('/').next().unwrap_or(query).contains(':');
    let wanted = if untagged {
        format!("{query}:latest")
    } else {
        query.to_owned()
    };
    let refs = store.refs().unwrap_or_default();
    let near =
        duckc_syntax::suggest::nearest(&wanted, refs.tags.keys().map(String::as_str)).map(|t| {
            if untagged {
                t.strip_suffix(":latest").unwrap_or(t)
            } else {
                t
            }
        });
    match near {
        Some(t) => format!("did you mean `{t}`? {where_from}"),
        None => where_from.to_owned(),
    }
}

/// Find a container by name, full ID or unique ID prefix.
fn find(store: &Store, query: &str) -> miette::Result<(Dir, Config)> {
    container::find(store, query).map_err(report)
}

/// A lifecycle error as a report: `container::Error` is a diagnostic with its code and the
/// `help:` that says what to do.
fn report(e: container::Error) -> miette::Report {
    e.into()
}

/// `-i` with `-t` relays the caller's terminal, so stdin must be one; refused otherwise, as
/// Docker's client refuses it ("the input device is not a TTY").
///
/// Relaying a pipe or `/dev/null` instead cannot end reliably: its end reaches the container
/// as the terminal's end-of-file character (^D), which a shell setting up its terminal may
/// discard; the shell then waits for input forever, and as the container's pid 1 it ignores
/// the SIGTERM `duckc` forwards. Without `-i` stdin is not read, and without `-t` it is a
/// pipe the container sees the end of: both work without a terminal.
fn check_terminal_input(interactive: bool, tty: bool) -> miette::Result<()> {
    if interactive && tty && !std::io::stdin().is_terminal() {
        return Err(miette!(
            code = "container::not_a_tty",
            help = "drop -t, or run it from a terminal",
            "the input device is not a TTY"
        ));
    }
    Ok(())
}

fn run(store: &Store, mut args: RunArgs) -> miette::Result<ExitCode> {
    if !args.detach {
        check_terminal_input(args.interactive, args.tty)?;
    }
    args.env = mounts::env_flags(&args.mounts, &args.env)?;
    // What a killed duckc left on the networks goes first (its addresses and ports).
    let _ = duckc_runtime::net::sweep();
    // A lease (a shared lock that `gc` waits for) keeps the image alive from its resolution
    // until the container's gc root is written; the root keeps it alive after that. A
    // foreground `--rm` container lives no longer than this process, so its root is written
    // without fsync (nothing on its start path waits for the disk).
    let lease = store
        .lease()
        .map_err(|e| miette!("cannot lock the store: {e}"))?;
    let image = duckc_image::resolve(store, args.image()).map_err(|e| match &e {
        duckc_image::Error::NotFound(_) => {
            super::with_help(&e, Some(missing_image_help(store, args.image())))
        }
        _ => e.into(),
    })?;
    let image = match &args.platform {
        None => image,
        Some(p) => {
            let arch = duckc_runtime::emulation::platform_arch(p);
            let picked = duckc_image::Image::read_for(store, &image.digest, arch)
                .ok()
                .filter(|i| i.config.architecture().to_string() == arch);
            picked.ok_or_else(|| {
                miette!(
                    help = "`duckc inspect` shows the image's platform; build it for this one with `duckc build --platform`",
                    "`{}` has no `{p}` image",
                    args.image()
                )
            })?
        }
    };
    let platform = format!("{}/{}", image.config.os(), image.config.architecture());
    if let duckc_runtime::emulation::Support::Missing(reason) =
        duckc_runtime::emulation::support(&platform)
    {
        return Err(miette!(
            help = reason,
            "`{}` is a `{platform}` image; this machine is `{}`",
            args.image(),
            duckc_runtime::emulation::host_platform()
        ));
    }
    let mut lower = Vec::new();
    for layer in &image.layers {
        // A pulled layer is checked against its diff_id here, at its first unpack (a full
        // disk has its own code and help, naming the layer).
        lower.push(
            store
                .snapshot_layer(layer, args.image())
                .map_err(|e| match e {
                    e @ (duckc_store::Error::DiffIdMismatch { .. }
                    | duckc_store::Error::NoSpace { .. }) => miette::Report::new(e),
                    duckc_store::Error::Extract {
                        source:
                            source @ duckc_layer::ExtractError::UnmappedOwner { uid, gid, .. },
                        ..
                    } => {
                        let name = duckc_runtime::userns::Caller::current().name;
                        miette!(
                            help = format!(
                                "give `{name}` subordinate ids up to {} at least in /etc/subuid and /etc/subgid (as root: `usermod --add-subuids START-END --add-subgids START-END {name}` with a free range; ranges add up), then run again",
                                uid.max(gid)
                            ),
                            "cannot unpack layer `{}` of `{}`: {source}",
                            layer.diff_id,
                            args.image()
                        )
                    }
                    e => miette!(
                        help = "check the store with `duckc verify`; remove the image with `duckc rmi` and pull or build it again",
                        "{e}"
                    ),
                })?,
        );
    }
    if let Some(help) = duckc_runtime::userns::missing_ids_help()
        && let Some(d) = store.dropped_owner(&image.layers).into_diagnostic()?
    {
        // As Podman with `ignore_chown_errors`: it runs, but not as the image says.
        eprintln!(
            "warning: the files of `{}` that other ids own are yours (0:0) in this container (`{}` is {}:{} in the image): this rootless duckc has no subordinate ids\n  help: {help}",
            args.image(),
            d.path,
            d.uid,
            d.gid
        );
    }
    let process = process_for(&image, &args)?;
    // Checked now, not when `stop` needs it (Docker refuses it at `create` too).
    let stop_signal = match &args.stop_signal {
        Some(s) => parse_signal(s, "`--stop-signal`").map(|_| Some(s.clone()))?,
        None => match image
            .config
            .config()
            .as_ref()
            .and_then(|c| c.stop_signal().clone())
        {
            Some(s) => {
                parse_signal(&s, "the image's `STOPSIGNAL`").map_err(|e| {
                    miette!(
                        help = "give the container a signal it knows with `--stop-signal SIGNAL`",
                        "{e}"
                    )
                })?;
                Some(s)
            }
            None => None,
        },
    };
    let dns = dns_options(&args.dns)?;
    let volumes = args
        .volume
        .iter()
        .map(|v| parse_volume(v))
        .collect::<miette::Result<Vec<_>>>()?;
    let seccomp = security_opt::seccomp_of(&args.security_opt)?;
    let containers = all(store);
    let name = container::name_for(&containers, args.name.as_deref()).map_err(report)?;
    let id = container::new_id();
    let (network, net) = super::network::request(
        store,
        &super::network::RunNet {
            network: &args.network,
            publish: &args.net.publish,
            publish_all: args.net.publish_all,
            aliases: &args.net.network_alias,
            exposed: image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.exposed_ports().clone())
                .unwrap_or_default(),
        },
        &id,
        &name,
    )?;
    let resources = limits::resources(&id, &args.limits)?;
    let dir = Dir::create(store, &id).into_diagnostic()?;
    // A container removed on exit keeps its changes on a tmpfs: nothing to write to disk.
    let rootfs = dir.rootfs(lower, args.rm)?;
    let mut spec = ContainerSpec {
        rootfs,
        process,
        hostname: args
            .hostname
            .clone()
            .unwrap_or_else(|| short(&id).to_owned()),
        network,
        volumes,
        seccomp,
        resources,
        dns,
        launch: Default::default(),
        tmpfs: vec![],
        net,
    };
    if let Err(e) = devices::apply(
        &args.devices,
        &args.limits.device,
        &args.env,
        &mut spec,
        &dir.0,
        &containers,
    ) {
        dir.discard();
        return Err(e);
    }
    if let Err(e) = mounts::apply(&args.mounts, &mut spec) {
        dir.discard();
        return Err(e);
    }
    let mut config = Config::new(
        id.clone(),
        name,
        args.image().to_owned(),
        // The manifest that runs (of a multi-platform index, this platform's): `commit`
        // builds on it.
        image.manifest_digest.to_string(),
        spec,
    );
    config.interactive = args.interactive;
    config.auto_remove = args.rm;
    config.stop_signal = stop_signal;
    config.stop_timeout = args.stop_timeout;
    // A foreground `--rm` container's gc root is written without fsync (see `create`).
    container::create(store, &dir, &config, &image.digest, args.rm && !args.detach)
        .map_err(report)?;
    drop(lease);
    if args.detach {
        if let Some(code) = detach(store, &dir, &config)? {
            return Ok(code);
        }
        println!("{id}");
        Ok(ExitCode::SUCCESS)
    } else {
        foreground(store, &dir, &config, args.interactive)
    }
}

/// The process from the image config and the `run` flags, the way Docker combines them.
fn process_for(image: &duckc_image::Image, args: &RunArgs) -> miette::Result<Process> {
    let cfg = image.config.config().clone().unwrap_or_default();
    let entrypoint: Vec<String> = match &args.entrypoint {
        Some(e) if e.is_empty() => vec![],
        Some(e) => vec![e.clone()],
        None => cfg.entrypoint().clone().unwrap_or_default(),
    };
    let cmd: Vec<String> = if !args.command().is_empty() {
        args.command().to_vec()
    } else if args.entrypoint.is_some() {
        vec![]
    } else {
        cfg.cmd().clone().unwrap_or_default()
    };
    let argv: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        return Err(miette!(
            help = "give a command after the image, e.g. `duckc run IMAGE sh`",
            "no command specified: the image has no entrypoint or cmd"
        ));
    }
    let mut env = cfg.env().clone().unwrap_or_default();
    merge_env(&mut env, &args.env);
    let user = args
        .user
        .clone()
        .or_else(|| cfg.user().clone())
        .unwrap_or_default();
    check_user(&user)?;
    Ok(Process {
        args: argv,
        env,
        cwd: args
            .workdir
            .clone()
            .or_else(|| cfg.working_dir().clone().filter(|w| !w.is_empty()))
            .unwrap_or_else(|| "/".to_owned()),
        user,
        terminal: args.tty,
    })
}

/// Refuse a user or group id that is out of range before anything starts (`-u`, the image's
/// `USER`); names are resolved against the image's files when the container starts.
fn check_user(user: &str) -> miette::Result<()> {
    duckc_runtime::user::check_spec(user).map_err(|e| {
        miette!(
            help = "give an id between 0 and 2147483647, or a user name from the image",
            "{e}"
        )
    })
}

/// Apply `-e` flags: `K=V` sets, `K` copies the caller's value when it has one.
fn merge_env(env: &mut Vec<String>, flags: &[String]) {
    for flag in flags {
        let entry = match flag.split_once('=') {
            Some(_) => flag.clone(),
            None => match std::env::var(flag) {
                Ok(v) => format!("{flag}={v}"),
                Err(_) => continue,
            },
        };
        let key = entry.split('=').next().unwrap_or_default().to_owned();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(entry);
    }
}

fn parse_volume(spec: &str) -> miette::Result<Volume> {
    let bad = || {
        miette!(
            help = "write `-v /host/path:/container/path[:ro]`",
            "invalid volume `{spec}`"
        )
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let (host, target, readonly) = match parts[..] {
        [h, t] => (h, t, false),
        [h, t, "ro"] => (h, t, true),
        [h, t, "rw"] => (h, t, false),
        _ => return Err(bad()),
    };
    if !host.starts_with('/') || !target.starts_with('/') {
        return Err(miette!(
            help = "named volumes are not supported; give absolute paths: `-v /host/path:/container/path`",
            "invalid volume `{spec}`: both paths must be absolute"
        ));
    }
    if !Path::new(host).exists() {
        std::fs::create_dir_all(host).map_err(|e| miette!("cannot create `{host}`: {e}"))?;
    }
    let source =
        std::fs::canonicalize(host).map_err(|e| miette!("cannot resolve `{host}`: {e}"))?;
    Ok(Volume {
        source,
        target: target.to_owned(),
        readonly,
    })
}

/// Print a start failure the way the rest of the CLI prints errors and return Docker's code
/// for it (125: duckc failed, 126: not executable, 127: not found).
fn start_failed(err: &duckc_runtime::Error) -> ExitCode {
    use duckc_runtime::start::Kind as StartKind;
    let code = container::start_code(err);
    let help: Option<String> = match err {
        duckc_runtime::Error::NoUserNamespaces(_) | duckc_runtime::Error::Rootless(_) => {
            Some("run duckc as root, or enable unprivileged user namespaces".into())
        }
        duckc_runtime::Error::Start {
            kind: StartKind::Rootless,
            ..
        } => Some(duckc_runtime::userns::missing_ids_help().unwrap_or_default()),
        duckc_runtime::Error::Net(e) => Some(super::network::help_for(e, "run")),
        duckc_runtime::Error::RootlessLimits { .. } => Some("run duckc as root to apply them, or leave those flags out".into()),
        duckc_runtime::Error::Start {
            kind: StartKind::Ulimit,
            ..
        } => Some("ask for a `--ulimit` within the hard limit duckc runs under".into()),
        // OCI hooks come only from CDI specs (`cmd/container/devices.rs`).
        duckc_runtime::Error::Start {
            kind: StartKind::Hook,
            ..
        } => Some("the hook comes from the CDI spec of a `--device`/`--gpus` device: fix the vendor's software, or leave the device out".into()),
        duckc_runtime::Error::Start {
            kind: StartKind::NotFound,
            ..
        }
        | duckc_runtime::Error::NotFound(_) => Some("check the command's name, and that the image has it (in its `PATH`, or give the full path)".into()),
        duckc_runtime::Error::Start {
            kind: StartKind::Exec,
            ..
        }
        | duckc_runtime::Error::Exec(..) => Some("the command must be executable and built for this machine (or a script with a `#!` line)".into()),
        // What the image's config (or `run`'s options) asked for and the image cannot give:
        // a user or group it lacks, a working directory that is not a usable absolute path.
        duckc_runtime::Error::Start {
            kind: StartKind::Other,
            ..
        }
        | duckc_runtime::Error::UnknownUser(_)
        | duckc_runtime::Error::UnknownGroup(_)
        | duckc_runtime::Error::Workdir(..)
        | duckc_runtime::Error::IdOutOfRange(_) => Some("the image's config (`duckc inspect IMAGE`: `User`, `WorkingDir`) or the options of `run` ask for this: give another with `--user` or `--workdir`".into()),
        duckc_runtime::Error::Start {
            kind: StartKind::Kernel | StartKind::Cgroup,
            ..
        } => Some("the kernel refused a step of the container's set-up: check that this machine supports what the options of `run` ask for, or leave them out".into()),
        _ => None,
    };
    eprintln!("{:?}", super::with_help(err, help));
    ExitCode::from(code)
}

/// Run the container attached to this terminal and wait for it.
fn foreground(
    store: &Store,
    dir: &Dir,
    config: &Config,
    interactive: bool,
) -> miette::Result<ExitCode> {
    match container::run_attached(store, dir, config, interactive) {
        Ok(code) => Ok(ExitCode::from(code.clamp(0, 255) as u8)),
        Err(container::Error::Start(e)) => Ok(start_failed(&e)),
        Err(e) => Err(e.into()),
    }
}

/// Start the container under a detached monitor; returns once it runs, or the exit code after
/// printing why it could not start.
fn detach(store: &Store, dir: &Dir, config: &Config) -> miette::Result<Option<ExitCode>> {
    match container::start_detached(store, dir, config) {
        Ok(()) => Ok(None),
        Err(container::Error::Detached { code, message }) => {
            eprintln!("{:?}", miette!("{message}"));
            Ok(Some(ExitCode::from(code)))
        }
        Err(e) => Err(e.into()),
    }
}

fn ps(store: &Store, args: &PsArgs) -> miette::Result<ExitCode> {
    let _ = duckc_runtime::net::sweep();
    let now = now();
    let filters = inspect::Filters::parse(&args.filter)?;
    let template = args
        .format
        .as_deref()
        .map(crate::cmd::format::Template::parse)
        .transpose()?;
    let mut values = Vec::new();
    let mut rows = vec![
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for (dir, config) in all(store) {
        let Ok(state) = dir.read_state() else {
            continue;
        };
        if !args.all && !filters.implies_all() && state.status != Status::Running {
            continue;
        }
        if !filters.matches(store, &config, &state) {
            continue;
        }
        if template.is_some() && !args.quiet {
            values.push(inspect::ps_row(&config, &state, now));
            continue;
        }
        if args.quiet {
            println!("{}", short(&config.id));
            continue;
        }
        rows.push(vec![
            short(&config.id).to_owned(),
            config.image.clone(),
            table::command(&config),
            format!(
                "{} ago",
                duckc_image::time::human_duration(now - config.created)
            ),
            if state.status == Status::Running && limits::is_paused(&config) {
                format!("{} (Paused)", table::status(&state, now))
            } else {
                table::status(&state, now)
            },
            if state.status == Status::Running {
                super::network::ports_of(&config.id)
                    .iter()
                    .map(|p| p.short())
                    .collect::<Vec<_>>()
                    .join(", ")
            } else {
                String::new()
            },
            config.name.clone(),
        ]);
    }
    if let (Some(t), false) = (&template, args.quiet) {
        t.print(&values, &crate::cmd::format::docker_header("container"))?;
    } else if !args.quiet {
        print!("{}", table::render(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

fn start(store: &Store, args: &StartArgs) -> miette::Result<ExitCode> {
    if args.attach && args.containers.len() > 1 {
        return Err(miette!(
            help = "attach to one container at a time",
            "you cannot start and attach multiple containers at once"
        ));
    }
    Ok(each_container(&args.containers, |query| {
        let (dir, mut config) = find(store, query)?;
        let state = dir.read_state().into_diagnostic()?;
        if state.status == Status::Running {
            if !args.attach {
                println!("{query}");
            }
            return Ok(ExitCode::SUCCESS);
        }
        prepare_start(store, &mut config)?;
        if args.attach {
            // A container made with `-it` gets its terminal back with its input, as
            // `docker start -ai` gives it (without input its shell would sit there unusable).
            // Only a terminal is relayed to a terminal: see `check_terminal_input`.
            let terminal = config.spec.process.terminal;
            check_terminal_input(args.interactive, terminal)?;
            let stdin = args.interactive
                || (config.interactive && terminal && std::io::stdin().is_terminal());
            return foreground(store, &dir, &config, stdin);
        }
        if let Some(code) = detach(store, &dir, &config)? {
            return Ok(code);
        }
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}

/// Do `one` for each container `queries` names, in order, going on past a failure as Docker
/// does (`docker stop A B C` with no `B` still stops `C`): each failure is printed as it
/// happens, and the exit code is the first failure's (1 for an error; a start failure's own
/// 125, 126 or 127), or success when none failed.
fn each_container(
    queries: &[String],
    mut one: impl FnMut(&str) -> miette::Result<ExitCode>,
) -> ExitCode {
    let mut first_failure = None;
    for query in queries {
        let code = one(query).unwrap_or_else(|report| {
            eprintln!("{report:?}");
            ExitCode::FAILURE
        });
        if code != ExitCode::SUCCESS && first_failure.is_none() {
            first_failure = Some(code);
        }
    }
    first_failure.unwrap_or(ExitCode::SUCCESS)
}

/// Before a stopped container starts again (`start`, `restart`): its own cgroup, its
/// network request as the network is now, and the current pid of the container whose IPC
/// namespace it joins (which must run now).
fn prepare_start(store: &Store, config: &mut Config) -> miette::Result<()> {
    config.own_cgroup();
    if let Some(req) = &mut config.spec.net {
        super::network::refresh(store, req)?;
    }
    devices::refresh_ipc(&mut config.spec, || all(store))
}

fn stop(store: &Store, args: &StopArgs) -> miette::Result<ExitCode> {
    args.how.check()?;
    Ok(each_container(&args.containers, |query| {
        let (dir, config) = find(store, query)?;
        let state = dir.read_state().into_diagnostic()?;
        stop_as(&dir, &config, &state, &args.how)?;
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}

fn kill(store: &Store, args: &KillArgs) -> miette::Result<ExitCode> {
    let sig = duckc_runtime::process::signal_number(&args.signal).ok_or_else(|| {
        miette!(
            help = "use a name like `KILL`, `TERM`, `SIGINT`, or a number",
            "invalid signal `{}`",
            args.signal
        )
    })?;
    Ok(each_container(&args.containers, |query| {
        let (dir, config) = find(store, query)?;
        let state = dir.read_state().into_diagnostic()?;
        match container::kill(&dir, &config, &state, sig) {
            Ok(()) => {}
            Err(container::Error::NotRunning) => {
                return Err(miette!(
                    help = format!("start it with `duckc start {query}`"),
                    "container `{query}` is not running"
                ));
            }
            Err(container::Error::Signal(e)) => {
                return Err(miette!(
                    help = "check that it still runs with `duckc ps`",
                    "cannot signal `{query}`: {e}"
                ));
            }
            Err(e) => return Err(report(e)),
        }
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}

fn rm(store: &Store, args: &RmArgs) -> miette::Result<ExitCode> {
    Ok(each_container(&args.containers, |query| {
        let (dir, config) = find(store, query)?;
        let state = dir.read_state().into_diagnostic()?;
        if state.status == Status::Running && !args.force {
            return Err(miette!(
                code = "container::running",
                help = format!(
                    "stop it first with `duckc stop {query}`, or stop and remove it at once with `duckc rm -f {query}`"
                ),
                "cannot remove container `{query}`: container is running"
            ));
        }
        container::delete(store, &dir, &config, &state);
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}

fn logs(store: &Store, args: &LogsArgs) -> miette::Result<ExitCode> {
    let (dir, _) = find(store, &args.container)?;
    let mut file = match std::fs::File::open(dir.log()) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(ExitCode::SUCCESS),
        Err(e) => return Err(miette!("cannot read the log of `{}`: {e}", args.container)),
    };
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 65536];
    loop {
        let n = file.read(&mut buf).into_diagnostic()?;
        if n > 0 {
            out.write_all(&buf[..n]).into_diagnostic()?;
            continue;
        }
        out.flush().into_diagnostic()?;
        if !args.follow {
            break;
        }
        let running = dir.read_state().is_ok_and(|s| s.status == Status::Running);
        if !running {
            // One last read for what was written just before the exit.
            let mut rest = Vec::new();
            file.read_to_end(&mut rest).into_diagnostic()?;
            out.write_all(&rest).into_diagnostic()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(ExitCode::SUCCESS)
}

fn exec(store: &Store, args: ExecArgs) -> miette::Result<ExitCode> {
    check_terminal_input(args.interactive, args.tty)?;
    let (dir, config) = find(store, args.container())?;
    let state = dir.read_state().into_diagnostic()?;
    let Some(pid) = state.pid.filter(|_| state.status == Status::Running) else {
        return Err(miette!(
            help = format!("start it with `duckc start {}`", args.container()),
            "container `{}` is not running",
            args.container()
        ));
    };
    let mut process = config.spec.process.clone();
    process.args = args.command().to_vec();
    process.terminal = args.tty;
    merge_env(&mut process.env, &args.env);
    if let Some(u) = &args.user {
        check_user(u)?;
        process.user = u.clone();
    }
    if let Some(w) = &args.workdir {
        process.cwd = w.clone();
    }
    let io = Io {
        stdin: if args.interactive {
            Stdio::Inherit
        } else {
            Stdio::Null
        },
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
    };
    duckc_runtime::process::hold_signals();
    let mut child = match duckc_runtime::exec_in(
        pid,
        &process,
        &config.spec.hostname,
        &config.spec.seccomp,
        io,
    ) {
        Ok(c) => c,
        Err(e) => return Ok(start_failed(&e)),
    };
    let code = duckc_runtime::attach(&mut child, args.interactive)?;
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

fn commit(store: &Store, args: &CommitArgs) -> miette::Result<ExitCode> {
    let (dir, config) = find(store, &args.container)?;
    if config.spec.rootfs.ephemeral {
        return Err(miette!(
            help = "run it without `--rm` to keep its changes",
            "container `{}` was started with `--rm`: its changes are not kept",
            args.container
        ));
    }
    let base = duckc_image::resolve(store, &config.image_digest)
        .map_err(|e| miette!("cannot find the image of `{}`: {e}", args.container))?;
    // Its image's files of other owners are root's in it (rootless without subordinate ids):
    // the committed layer would give every one the container touched to root.
    if let Some(help) = duckc_runtime::userns::missing_ids_help()
        && let Some(d) = store.dropped_owner(&base.layers).into_diagnostic()?
    {
        return Err(miette!(
            help = help,
            "cannot commit `{}`: its image's files of other owners are root's in it (`{}` is {}:{} in the image), since this rootless duckc has no subordinate ids",
            args.container,
            d.path,
            d.uid,
            d.gid
        ));
    }
    let opts = duckc_image::CommitOptions {
        message: args.message.clone(),
        author: args.author.clone(),
        changes: args.change.clone(),
        // What Docker's history says made a committed layer: the container's command.
        created_by: Some(config.spec.process.args.join(" ")),
        ..Default::default()
    };
    let upper: PathBuf = dir.upper();
    // Frozen for the walk (as `docker commit` pauses by default): nothing in the container can
    // change the upper directory while it is read.
    let image = limits::while_paused(&dir, &config, &args.container, args.pause, || {
        Ok(duckc_image::commit(store, &base, &upper, &opts)?)
    })?;
    if let Some(repo) = &args.repository {
        duckc_image::tag(store, &image, repo).map_err(|e| {
            miette!(
                help = "write `REPOSITORY[:TAG]`, e.g. `your/duck:v2`",
                "{e}"
            )
        })?;
    }
    println!("{}", image.config_digest);
    Ok(ExitCode::SUCCESS)
}

fn stats(store: &Store, args: &StatsArgs) -> miette::Result<ExitCode> {
    let pick = || -> miette::Result<Vec<(Dir, Config)>> {
        if args.containers.is_empty() {
            Ok(all(store)
                .into_iter()
                .filter(|(d, _)| {
                    d.read_state().is_ok_and(|s| {
                        s.status == Status::Running && container::alive(s.pid, s.pid_start)
                    })
                })
                .collect())
        } else {
            args.containers.iter().map(|q| find(store, q)).collect()
        }
    };
    if args.no_stream {
        print!(
            "{}",
            limits::stats_table(&pick()?, Duration::from_millis(500))
        );
        return Ok(ExitCode::SUCCESS);
    }
    loop {
        let table = limits::stats_table(&pick()?, Duration::from_secs(1));
        // Clear the screen and home the cursor, as `docker stats` redraws.
        print!("\x1b[2J\x1b[H{table}");
        std::io::stdout().flush().into_diagnostic()?;
    }
}

fn pause(store: &Store, args: &PauseArgs, paused: bool) -> miette::Result<ExitCode> {
    Ok(each_container(&args.containers, |query| {
        let (dir, config) = find(store, query)?;
        limits::set_paused(&dir, &config, query, paused)?;
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}
