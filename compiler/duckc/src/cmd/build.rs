//! `build` and `explain`: compile a spec, build its envs into the store with the layer cache,
//! and say why each step was (or will be) rebuilt. Loading is the driver's (`duckc_driver`),
//! executing `duckc-executor`'s; this module parses the arguments, picks the output style, and
//! reports failures.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_driver::{Bases, Frontend, Loaded, Look, Options};
use duckc_executor::execute::BuildOutcome;
use duckc_executor::explain::Status;
use duckc_executor::progress::{Mode, Printer};
use duckc_executor::{BuildOptions, EnvPlan};
use duckc_store::Store;
use miette::miette;

use crate::Global;

// Parsed once per process: the size of the big variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Build every env of a spec (or `--target`) into tagged images, reusing cached layers.
    Build {
        /// The spec or Dockerfile, or a directory: the build context, holding `env.kdl`,
        /// `duck.kdl` or a `Dockerfile` (default: the current directory).
        file: Option<PathBuf>,
        /// The spec or Dockerfile to build when the positional argument is the context.
        #[arg(short = 'f', long = "file", value_name = "FILE")]
        spec_file: Option<PathBuf>,
        /// The build context `copy` reads from (default: the spec's directory).
        #[arg(long, value_name = "DIR")]
        context: Option<PathBuf>,
        /// A Dockerfile `ARG` value; may be repeated.
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
        /// Build only this env (and what it needs); may be repeated.
        #[arg(long, value_name = "ENV")]
        target: Vec<String>,
        /// Also tag the last env built (the target) as `NAME[:TAG]`; may be repeated.
        #[arg(short = 't', long = "tag", value_name = "NAME:TAG")]
        tags: Vec<String>,
        /// Execute every step, ignoring the cache.
        #[arg(long)]
        no_cache: bool,
        /// After building, rebuild with the cache off and report whether the digests match.
        #[arg(long)]
        check: bool,
        /// Also write the images out: `oci:DIR` (an OCI layout) or `oci-archive:FILE`.
        #[arg(short = 'o', long = "output", value_name = "oci:DIR|oci-archive:FILE")]
        outputs: Vec<String>,
        /// Progress output (default: tty on a terminal, else plain).
        #[arg(long, value_enum)]
        progress: Option<Progress>,
        /// Print nothing but the image id (`sha256:…`) of each env built, as `docker build -q`
        /// does (errors still go to stderr).
        #[arg(short = 'q', long)]
        quiet: bool,
        /// Write the image id (`sha256:…`) of the last env built (the target) to FILE, as
        /// `docker build --iidfile` does.
        #[arg(long, value_name = "FILE")]
        iidfile: Option<PathBuf>,
        /// Never resolve packages: build exactly what `duck.lock` pins, and fail on the first
        /// thing it lacks.
        #[arg(long)]
        locked: bool,
        /// When to pull a base from its registry: `missing` (default), `always` (ask the
        /// registry what the tag names now) or `never`, as `--pull=POLICY`; a bare `--pull` is
        /// `always` (`duckc build --pull .`, as with Docker).
        #[arg(long, value_enum, value_name = "POLICY", num_args = 0..=1, require_equals = true,
              default_value_t = super::bases::Pull::Missing, default_missing_value = "always")]
        pull: super::bases::Pull,
        /// The apt repository for `packages`, as a `sources.list` line (overrides
        /// `DUCKC_APT_REPOSITORY`, the config file and the host's apt sources).
        #[arg(long, value_name = "LINE")]
        repository: Option<String>,
        /// Build the envs for these platforms instead of the ones they name (comma-separated,
        /// e.g. `linux/amd64,linux/arm64`; several give an OCI index).
        #[arg(long, value_name = "OS/ARCH", value_delimiter = ',')]
        platform: Vec<String>,
        /// Allow what a step asks for beyond the default sandbox (BuildKit's entitlements):
        /// `network.host` lets `network="host"` / `RUN --network=host` steps use the host's
        /// network. May be repeated or comma-separated.
        #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
        allow: Vec<String>,
        /// The network of Dockerfile `RUN` steps without `--network=`: `default` (duckc's NAT
        /// bridge, as BuildKit's), `none` (loopback only) or `host` (needs `--allow
        /// network.host`). KDL `run` steps name theirs.
        #[arg(long, value_enum, value_name = "MODE", default_value_t = BuildNetwork::Default)]
        network: BuildNetwork,
        /// `/etc/hosts` and `/etc/resolv.conf` of the steps (`run`'s flags, for every `RUN` and
        /// `run` step; not part of any cache key, as with Docker).
        #[command(flatten)]
        dns: super::container::DnsArgs,
        /// Take steps the store's cache lacks from a build cache in a registry
        /// (`HOST[:PORT]/REPO:TAG` or `type=registry,ref=…`); may be repeated.
        #[arg(long = "cache-from", value_name = "REF")]
        cache_from: Vec<String>,
        /// After the build, push the cache of every step it used to a registry
        /// (`HOST[:PORT]/REPO:TAG` or `type=registry,ref=…`); may be repeated.
        #[arg(long = "cache-to", value_name = "REF")]
        cache_to: Vec<String>,
        /// How to reach the registries of bases and of `--cache-from`/`--cache-to`, as for
        /// `pull`.
        #[command(flatten)]
        tls: super::registry::TlsArgs,
    },
    /// Write the KDL spec equivalent to a Dockerfile (its target and the stages it needs).
    Convert {
        /// The Dockerfile (default: `Dockerfile` in the current directory).
        file: Option<PathBuf>,
        /// The stage to convert (with the stages it needs; default: the last).
        #[arg(long, value_name = "STAGE")]
        target: Option<String>,
        /// A Dockerfile `ARG` value; may be repeated.
        #[arg(long = "build-arg", value_name = "NAME=VALUE")]
        build_args: Vec<String>,
    },
    /// Show, per step, whether the next build takes it from the cache, and what changed.
    Explain {
        /// The spec or Dockerfile (default: env.kdl, duck.kdl, then Dockerfile, in the current
        /// directory).
        file: Option<PathBuf>,
        /// The env (Dockerfile: the target stage) to explain (default: every env; the last
        /// stage).
        env: Option<String>,
        /// The build context (default: the spec's directory).
        #[arg(long, value_name = "DIR")]
        context: Option<PathBuf>,
    },
}

/// `build --network` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BuildNetwork {
    /// duckc's NAT bridge.
    Default,
    /// Loopback only.
    None,
    /// The host's network (with `--allow network.host`).
    Host,
}

impl BuildNetwork {
    fn dockerfile(self) -> duckc_dockerfile::ast::Network {
        use duckc_dockerfile::ast::Network;
        match self {
            BuildNetwork::Default => Network::Default,
            BuildNetwork::None => Network::None,
            BuildNetwork::Host => Network::Host,
        }
    }
}

/// `--progress` values (`build`'s and `pull`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// `tty` on a terminal, else `plain`.
    Auto,
    /// Docker-style lines.
    Plain,
    /// The same lines plus a live status line.
    Tty,
    /// One JSON object per event.
    Json,
}

impl Progress {
    /// The output mode, `auto` being `tty` when the output it draws on is a terminal.
    pub fn mode(self, terminal: bool) -> Mode {
        match self {
            Progress::Plain => Mode::Plain,
            Progress::Tty => Mode::Tty,
            Progress::Json => Mode::Json,
            Progress::Auto if terminal => Mode::Tty,
            Progress::Auto => Mode::Plain,
        }
    }
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        match self {
            Command::Build {
                file,
                spec_file,
                context,
                build_args,
                target,
                tags,
                no_cache,
                check,
                outputs,
                progress,
                quiet,
                iidfile,
                locked,
                pull,
                repository,
                platform,
                allow,
                network,
                dns,
                cache_from,
                cache_to,
                tls,
            } => {
                let dns = super::container::dns_options(&dns)?;
                let registry_opts = tls.options();
                let allow = Entitlements::parse(&allow)?;
                let cache_from = cache_from
                    .iter()
                    .map(|v| super::build_cache::parse(v, "--cache-from"))
                    .collect::<miette::Result<Vec<_>>>()?;
                let cache_to = cache_to
                    .iter()
                    .map(|v| super::build_cache::parse(v, "--cache-to"))
                    .collect::<miette::Result<Vec<_>>>()?;
                if let Some(bad) = platform.iter().find(|p| !duckc_syntax::valid_platform(p)) {
                    return Err(miette!(
                        help = "use `linux/ARCH[/VARIANT]` with ARCH one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, e.g. `--platform linux/amd64,linux/arm64`",
                        "unknown platform `{bad}`"
                    ));
                }
                let mode = match progress {
                    _ if quiet => Mode::Quiet,
                    p => p
                        .unwrap_or(Progress::Auto)
                        .mode(std::io::stdout().is_terminal()),
                };
                let outputs = outputs
                    .iter()
                    .map(|o| Output::parse(o))
                    .collect::<miette::Result<Vec<_>>>()?;
                let (file, context) = resolve_args(file, spec_file, context)?;
                let store = super::image::open_store(global)?;
                let no_bases = BTreeMap::new();
                let options = Options {
                    file: find_spec(file.as_deref())?,
                    context,
                    build_args: parse_build_args(&build_args)?,
                    targets: target.clone(),
                    tags: tags.clone(),
                    platforms: platform.clone(),
                    bases: Some(Bases {
                        store: &store,
                        resolved: &no_bases,
                    }),
                    network: Some(network.dockerfile()),
                };
                let Some(mut loaded) = load(&options, false)? else {
                    return Ok(ExitCode::FAILURE);
                };
                let mut plans = loaded.plans(&target)?;
                // Before anything runs (packages resolved, bases pulled, steps started).
                allow.check(&loaded, &plans)?;
                if !platform.is_empty() {
                    for plan in &mut plans {
                        plan.platforms = platform.clone();
                    }
                }
                let packages = match &loaded.frontend {
                    Frontend::Kdl(_) => {
                        let overrides = duckc_driver::packages::Overrides {
                            targets: &target,
                            platforms: &platform,
                        };
                        super::packages::prepare(&loaded, &store, locked, repository, &overrides)?
                            .map(std::sync::Arc::new)
                    }
                    Frontend::Dockerfile(_) => None,
                };
                let bases = super::bases::prepare(
                    &store,
                    loaded.graph(),
                    &plans,
                    &loaded.spec.with_file_name("duck.lock"),
                    &super::bases::Policy {
                        pull,
                        locked,
                        mode,
                        registry: &registry_opts,
                    },
                )?;
                // A base pulled just now (or resolved through the lock) may set ENV the
                // Dockerfile's substitutions use: load again with it.
                if let Frontend::Dockerfile(d) = &loaded.frontend
                    && d.base_env
                        != (Bases {
                            store: &store,
                            resolved: &bases,
                        })
                        .of(&d.ev)
                {
                    let options = Options {
                        bases: Some(Bases {
                            store: &store,
                            resolved: &bases,
                        }),
                        ..options.clone()
                    };
                    let Some(again) = load(&options, true)? else {
                        return Ok(ExitCode::FAILURE);
                    };
                    loaded = again;
                    plans = loaded.plans(&target)?;
                    if !platform.is_empty() {
                        for plan in &mut plans {
                            plan.platforms = platform.clone();
                        }
                    }
                }
                let opts = BuildOptions {
                    context: loaded.context.clone(),
                    no_cache,
                    write_cache: true,
                    extra_tags: tags,
                    packages,
                    bases,
                    remote_cache: super::build_cache::prepare(&cache_from, mode, &registry_opts),
                    dns,
                };
                let outcome = run_build(&store, &loaded, &plans, &opts, mode)?;
                if let Some(code) = failure(&loaded, outcome.error.as_ref()) {
                    return Ok(code);
                }
                for (name, a) in &outcome.images {
                    if let Some(plan) = plans.iter().find(|p| &p.env.name == name) {
                        duckc_executor::record::write(
                            &store,
                            &loaded.spec,
                            loaded.graph(),
                            plan,
                            &outcome.on(plan.platforms.first().map_or("", String::as_str)),
                            &a.image.manifest_digest,
                        )
                        .map_err(|e| miette!("cannot record the build of `{name}`: {e}"))?;
                    }
                }
                for out in &outputs {
                    out.write(&store, &outcome)?;
                }
                super::build_cache::export(&store, &cache_to, &outcome, mode, &registry_opts)?;
                // The image id, as `Successfully built` shortens it and `docker build -q` prints it.
                let ids: Vec<String> = plans
                    .iter()
                    .filter_map(|p| outcome.images.iter().find(|(n, _)| *n == p.env.name))
                    .map(|(_, a)| a.image.config_digest.to_string())
                    .collect();
                if let (Some(file), Some(id)) = (&iidfile, ids.last()) {
                    std::fs::write(file, id).map_err(|e| {
                        miette!(
                            help = "name a file in a directory that exists and that you can write",
                            "cannot write the image id to `{}`: {e}",
                            file.display()
                        )
                    })?;
                }
                if quiet {
                    for id in &ids {
                        println!("{id}");
                    }
                }
                if check {
                    return check_reproducible(&store, &loaded, &plans, &opts, &outcome);
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Convert {
                file,
                target,
                build_args,
            } => {
                let file = file.unwrap_or_else(|| PathBuf::from("Dockerfile"));
                super::convert::run(&file, target, parse_build_args(&build_args)?)
            }
            Command::Explain { file, env, context } => {
                let targets: Vec<String> = env.into_iter().collect();
                let store = super::image::open_store(global)?;
                let no_bases = BTreeMap::new();
                let Some(loaded) = load(
                    &Options {
                        file: find_spec(file.as_deref())?,
                        context,
                        targets: targets.clone(),
                        bases: Some(Bases {
                            store: &store,
                            resolved: &no_bases,
                        }),
                        ..Default::default()
                    },
                    false,
                )?
                else {
                    return Ok(ExitCode::FAILURE);
                };
                let plans = loaded.plans(&targets)?;
                explain(&store, &loaded, &plans)
            }
        }
    }
}

/// Loads the spec or Dockerfile and prints its diagnostics (`again`: a second loading of the
/// same file, whose warnings were printed by the first: only its errors). `None` after a
/// spec's errors, which were printed; a Dockerfile's errors stop it with an error.
fn load(opts: &Options<'_>, again: bool) -> miette::Result<Option<Loaded>> {
    let load = duckc_driver::load(opts);
    let (errors, _) = super::spec::print(&load.diagnostics, again)?;
    let loaded = load.result?;
    if errors > 0 && matches!(loaded.frontend, Frontend::Kdl(_)) {
        let (s, them) = if errors == 1 {
            ("", "it")
        } else {
            ("s", "them")
        };
        eprintln!(
            "error: `{}` has {errors} error{s}; fix {them} to build it",
            loaded.name
        );
        return Ok(None);
    }
    Ok(Some(loaded))
}

/// The positional argument, `-f` and `--context` as (spec file, context directory). A
/// directory as the positional argument is the context, as in `docker build .`.
pub(crate) fn resolve_args(
    file: Option<PathBuf>,
    spec_file: Option<PathBuf>,
    context: Option<PathBuf>,
) -> miette::Result<(Option<PathBuf>, Option<PathBuf>)> {
    match (file, spec_file) {
        (Some(dir), spec) if dir.is_dir() => {
            if context.is_some() {
                return Err(miette!(
                    help = "give the context once: `duckc build -f FILE DIR`",
                    "both `{}` and `--context` name a build context",
                    dir.display()
                ));
            }
            let spec = match spec {
                Some(s) => Some(s),
                None => {
                    let found = duckc_driver::find_in(&dir)?;
                    if let Some(note) = &found.note {
                        eprintln!("note: {note}");
                    }
                    Some(found.path)
                }
            };
            Ok((spec, Some(dir)))
        }
        (Some(f), None) => Ok((Some(f), context)),
        (None, spec) => Ok((spec, context)),
        (Some(f), Some(s)) => Err(miette!(
            help = "pass the spec once, with `-f`, and the context directory as the argument",
            "both `{}` and `-f {}` name a spec",
            f.display(),
            s.display()
        )),
    }
}

pub(crate) fn parse_build_args(args: &[String]) -> miette::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for a in args {
        match a.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                out.insert(k.to_owned(), v.to_owned());
            }
            // `--build-arg NAME` takes the value from the environment, as in Docker.
            None if !a.is_empty() => {
                if let Ok(v) = std::env::var(a) {
                    out.insert(a.clone(), v);
                }
            }
            _ => {
                return Err(miette!(
                    help = "write `--build-arg NAME=VALUE`",
                    "invalid `--build-arg {a}`"
                ));
            }
        }
    }
    Ok(out)
}

/// The spec to read: the one given, else what `duckc_driver::find_in` picks in the current
/// directory (its note printed).
pub(crate) fn find_spec(file: Option<&Path>) -> miette::Result<PathBuf> {
    let found = duckc_driver::find_spec(file, Look::Any)?;
    if let Some(note) = &found.note {
        eprintln!("note: {note}");
    }
    Ok(found.path)
}

fn run_build(
    store: &Store,
    loaded: &Loaded,
    plans: &[EnvPlan],
    opts: &BuildOptions,
    mode: Mode,
) -> miette::Result<BuildOutcome> {
    let graph = loaded.graph();
    let mut printer = Printer::new(mode, plans, Box::new(std::io::stdout()));
    let outcome = duckc_executor::build(store, graph, plans, opts, &mut |e| printer.event(e));
    printer.finish();
    Ok(outcome?)
}

/// Reports a failed build; returns the exit code (a failed `run` step's own code).
fn failure(
    loaded: &Loaded,
    error: Option<&(Option<duckc_ir::NodeKey>, duckc_executor::Error)>,
) -> Option<ExitCode> {
    let (node, error) = error?;
    let graph = loaded.graph();
    let envs = node
        .and_then(|k| graph.node(&k))
        .map(|n| {
            n.envs
                .iter()
                .map(|e| format!("`{e}`"))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .filter(|s| !s.is_empty());
    // A Dockerfile's steps are named as written there (`RUN make`, stage `build`), not in
    // the spec language it was lowered to (`run "make"`, env `build`).
    let dockerfile = match &loaded.frontend {
        Frontend::Dockerfile(d) => Some(d),
        Frontend::Kdl(_) => None,
    };
    let kind = if dockerfile.is_some() { "stage" } else { "env" };
    let whose = envs.map(|e| format!(" ({kind} {e})")).unwrap_or_default();
    match error {
        duckc_executor::Error::RunFailed { step, code, tail } => {
            let step = dockerfile
                .zip(*node)
                .and_then(|(d, key)| d.lowered.steps.iter().find(|s| s.node == Some(key)))
                .map_or(step.as_str(), |s| s.text.as_str());
            eprintln!("error: `{step}`{whose} failed with exit code {code}");
            if !tail.is_empty() {
                eprintln!("  its last output:");
                for line in tail.lines() {
                    eprintln!("  | {line}");
                }
            }
            match duckc_runtime::userns::missing_ids_help() {
                // Without subordinate ids, `chown` and friends fail with EINVAL inside.
                Some(help) => eprintln!(
                    "  help: duckc runs rootless with only your own uid mapped (as root), so a step that changes owners fails; {help}"
                ),
                None => eprintln!(
                    "  help: fix the command, then build again: the steps before it are cached"
                ),
            }
            Some(ExitCode::from((*code).clamp(1, 255) as u8))
        }
        duckc_executor::Error::NoSubordinateIds { .. } => {
            eprintln!("error: {error}{whose}");
            if let Some(help) = duckc_runtime::userns::missing_ids_help() {
                eprintln!("  help: {help}");
            }
            Some(ExitCode::FAILURE)
        }
        duckc_executor::Error::Network { source, .. } => {
            // The report `run` gives for the same failure: miette's, with its `help:`.
            let report = miette!(
                help = super::network::help_for(source, "build"),
                "{error}{whose}"
            );
            eprintln!("{report:?}");
            Some(ExitCode::FAILURE)
        }
        // A path another stage or an image does not have, which only the build can find:
        // pointed at where the Dockerfile names it, as a missing context source is.
        duckc_executor::Error::CopyFromMissing { path, .. }
            if let Some((d, at)) = dockerfile
                .zip(*node)
                .and_then(|(d, key)| Some((d, d.lowered.read_from.get(&(key, path.clone()))?))) =>
        {
            let span = at.span.start..at.span.end.max(at.span.start);
            let report = miette!(
                code = "build::copy_from_missing",
                labels = vec![miette::LabeledSpan::at(span, format!("not in `{}`", at.from))],
                help = format!(
                    "the path is looked up in what `{0}` holds, not in the build context: check it against `{0}`",
                    at.from
                ),
                // No `(stage …)`: the label shows the step, and names the stage read from.
                "`{path}` does not exist in `{}`",
                at.from
            )
            .with_source_code(miette::NamedSource::new(&loaded.name, d.text.clone()));
            eprintln!("{report:?}");
            Some(ExitCode::FAILURE)
        }
        // The error's own `help:` (`duckc_executor::Error` is a diagnostic), under the step's env.
        other => {
            eprintln!("error: {other}{whose}");
            if let Some(help) = miette::Diagnostic::help(other) {
                eprintln!("  help: {help}");
            }
            Some(ExitCode::FAILURE)
        }
    }
}

/// The entitlements of `--allow` (BuildKit's word): what build steps may use beyond the
/// default sandbox. They are not part of any cache key: they decide whether a step may run,
/// not what it produces (BuildKit does not key them either).
#[derive(Debug, Default)]
struct Entitlements {
    network_host: bool,
}

/// The entitlements `--allow` knows.
const ENTITLEMENTS: [&str; 1] = ["network.host"];

impl Entitlements {
    fn parse(values: &[String]) -> miette::Result<Entitlements> {
        let mut out = Entitlements::default();
        for v in values {
            match v.trim() {
                "network.host" => out.network_host = true,
                other => {
                    return Err(miette!(
                        help = format!("the entitlements duckc knows: {}", ENTITLEMENTS.join(", ")),
                        "unknown entitlement `{other}` in `--allow`"
                    ));
                }
            }
        }
        Ok(out)
    }

    /// Fails, naming the step and the flag, when a step the plans build needs an entitlement
    /// that was not given.
    fn check(&self, loaded: &Loaded, plans: &[EnvPlan]) -> miette::Result<()> {
        if self.network_host {
            return Ok(());
        }
        let graph = loaded.graph();
        let mut seen = std::collections::BTreeSet::new();
        let mut stack: Vec<duckc_ir::NodeKey> = plans
            .iter()
            .flat_map(|p| p.layers.iter().copied())
            .collect();
        let mut host = Vec::new();
        while let Some(key) = stack.pop() {
            if !seen.insert(key) {
                continue;
            }
            let Some(node) = graph.node(&key) else {
                continue;
            };
            stack.extend(node.parent);
            match &node.step {
                duckc_ir::Step::Copy(c) => stack.extend(c.from.as_ref().map(|f| f.node)),
                duckc_ir::Step::Run(run) => {
                    for m in &run.mounts {
                        if let duckc_ir::RunMount::BindFrom { node, .. } = m {
                            stack.push(*node);
                        }
                    }
                    if run.network == duckc_syntax::ast::Network::Host {
                        host.push(node);
                    }
                }
                _ => {}
            }
        }
        let Some(node) = host.into_iter().min_by_key(|n| n.key) else {
            return Ok(());
        };
        let duckc_ir::Step::Run(run) = &node.step else {
            return Ok(());
        };
        let (step, token) = match &loaded.frontend {
            Frontend::Dockerfile(d) => (
                d.lowered
                    .steps
                    .iter()
                    .find(|s| s.node == Some(node.key))
                    .map(|s| s.text.clone())
                    .unwrap_or_else(|| format!("RUN {}", run.command.argv().join(" "))),
                "--network=host",
            ),
            Frontend::Kdl(_) => (
                match &run.command {
                    duckc_ir::RunCommand::Shell(c) => format!("run {c:?} network=\"host\""),
                    duckc_ir::RunCommand::Exec(v) => format!(
                        "run {} network=\"host\"",
                        v.iter()
                            .map(|a| format!("{a:?}"))
                            .collect::<Vec<_>>()
                            .join(" ")
                    ),
                },
                "network=\"host\"",
            ),
        };
        let envs = if node.envs.is_empty() {
            String::new()
        } else {
            format!(" (env `{}`)", node.envs.join("`, `"))
        };
        let mut report = miette!(
            help = "a step on the host's network reaches every service listening on the host, loopback included; allow it with `duckc build --allow network.host`",
            "the step `{step}`{envs} uses the host's network, which this build does not allow"
        );
        // Point at the step in the spec when its text is found there.
        if let Ok(text) = std::fs::read_to_string(&loaded.spec)
            && let Some(at) = locate(&text, &step, token)
        {
            let name = loaded
                .spec
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            report = miette::Report::new(EntitlementNeeded {
                message: report.to_string(),
                span: (at..at + token.len()).into(),
            })
            .with_source_code(miette::NamedSource::new(name, text));
        }
        Err(report)
    }
}

/// Where `token` of the step `step` is in `text`: in the first line that holds the step's
/// first words and the token, else the first occurrence of the token.
fn locate(text: &str, step: &str, token: &str) -> Option<usize> {
    let head: String = step
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ");
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if let Some(i) = line.find(token)
            && (line.contains(&head) || head.is_empty())
        {
            return Some(offset + i);
        }
        offset += line.len();
    }
    text.find(token)
}

/// The `--allow` diagnostic with a span in the spec.
#[derive(Debug)]
struct EntitlementNeeded {
    message: String,
    span: miette::SourceSpan,
}

impl std::fmt::Display for EntitlementNeeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EntitlementNeeded {}

impl miette::Diagnostic for EntitlementNeeded {
    fn help<'a>(&'a self) -> Option<Box<dyn std::fmt::Display + 'a>> {
        Some(Box::new(
            "a step on the host's network reaches every service listening on the host, loopback included; allow it with `duckc build --allow network.host`",
        ))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        Some(Box::new(std::iter::once(miette::LabeledSpan::at(
            self.span,
            "needs `--allow network.host`",
        ))))
    }
}

/// An error writing an `-o` output, as a diagnostic.
pub(crate) fn output_error(e: duckc_image::Error, path: &Path) -> miette::Report {
    match e {
        e @ duckc_image::Error::UnsafeOutput { .. } => e.into(),
        e => miette!("cannot write `{}`: {e}", path.display()),
    }
}

/// `-o` destinations.
enum Output {
    Layout(PathBuf),
    Archive(PathBuf),
}

impl Output {
    fn parse(s: &str) -> miette::Result<Output> {
        match s.split_once(':') {
            Some(("oci", dir)) if !dir.is_empty() => Ok(Output::Layout(dir.into())),
            Some(("oci-archive", file)) if !file.is_empty() => Ok(Output::Archive(file.into())),
            _ => Err(miette!(
                help = "use `-o oci:DIR` for an OCI layout or `-o oci-archive:FILE` for a tar",
                "unknown output `{s}`"
            )),
        }
    }

    fn write(&self, store: &Store, outcome: &BuildOutcome) -> miette::Result<()> {
        let named: Vec<(Option<String>, duckc_image::Image)> = outcome
            .images
            .iter()
            .map(|(env, a)| {
                (
                    Some(a.tags.first().cloned().unwrap_or_else(|| env.clone())),
                    a.image.clone(),
                )
            })
            .collect();
        match self {
            Output::Layout(dir) => {
                for (name, image) in &named {
                    duckc_image::export_layout(store, image, name.as_deref(), dir)
                        .map_err(|e| output_error(e, dir))?;
                }
            }
            Output::Archive(file) => {
                // Written beside its name and renamed over it, as `save -o` is: a symlink
                // planted at `FILE` is replaced, never written through.
                super::image::write_file_atomically(file, |w| {
                    duckc_image::save(store, &named, w, duckc_image::ArchiveFormat::Oci)
                        .map_err(|e| output_error(e, file))
                })?;
            }
        }
        Ok(())
    }
}

/// `--check`: rebuild with the cache off (writing nothing to it) and compare the digests.
fn check_reproducible(
    store: &Store,
    loaded: &Loaded,
    plans: &[EnvPlan],
    opts: &BuildOptions,
    first: &BuildOutcome,
) -> miette::Result<ExitCode> {
    println!("checking: rebuilding with the cache off");
    let opts = BuildOptions {
        no_cache: true,
        write_cache: false,
        extra_tags: opts.extra_tags.clone(),
        ..opts.clone()
    };
    let graph = loaded.graph();
    let second = duckc_executor::build(store, graph, plans, &opts, &mut |_| {})?;
    if let Some(code) = failure(loaded, second.error.as_ref()) {
        return Ok(code);
    }
    let mut all = true;
    for (env, a) in &first.images {
        let again = second
            .images
            .iter()
            .find(|(e, _)| e == env)
            .map(|(_, b)| b.image.digest);
        if again == Some(a.image.digest) {
            println!("`{env}`: reproducible ({})", a.image.digest);
        } else {
            all = false;
            let again = again
                .map(|d| d.to_string())
                .unwrap_or_else(|| "nothing".to_owned());
            println!("`{env}`: NOT reproducible: {} then {again}", a.image.digest);
        }
        // Two builds in a row agree on what a server answered twice; another day it may
        // answer something else, which no cache key sees.
        if let Some(plan) = plans.iter().find(|p| &p.env.name == env) {
            for step in network_steps(loaded, plan) {
                println!(
                    "`{env}`: not reproducible from its inputs: `{step}` had the network, and its layer holds what servers answered"
                );
            }
        }
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The steps of `plan` that ran with the network, as written: their layers depend on what
/// servers answered, which no cache key captures.
fn network_steps(loaded: &Loaded, plan: &EnvPlan) -> Vec<String> {
    let graph = loaded.graph();
    plan.layers
        .iter()
        .filter_map(|key| {
            let node = graph.node(key)?;
            let duckc_ir::Step::Run(run) = &node.step else {
                return None;
            };
            if !run.network.reaches_out() {
                return None;
            }
            let written = match &loaded.frontend {
                Frontend::Dockerfile(d) => d
                    .lowered
                    .steps
                    .iter()
                    .find(|s| s.node == Some(*key))
                    .map(|s| s.text.clone()),
                Frontend::Kdl(_) => None,
            };
            Some(written.unwrap_or_else(|| duckc_ir::format::summary(node)))
        })
        .collect()
}

fn explain(store: &Store, loaded: &Loaded, plans: &[EnvPlan]) -> miette::Result<ExitCode> {
    let graph = loaded.graph();
    let packages = super::packages::pinned(loaded, store);
    for plan in plans {
        let record = duckc_executor::record::read(store, &loaded.spec, &plan.env.name);
        let steps = duckc_executor::explain::explain(
            store,
            graph,
            plan,
            record.as_ref(),
            &loaded.context,
            packages.as_ref(),
        )?;
        let misses = steps
            .iter()
            .filter(|s| matches!(s.status, Status::Miss(_)))
            .count();
        println!(
            "env `{}`: {misses} of {} steps to rebuild{}",
            plan.env.name,
            steps.len(),
            if record.is_none() {
                " (never built from this spec)"
            } else {
                ""
            }
        );
        let total = steps.len();
        for (i, s) in steps.iter().enumerate() {
            let what = match &s.status {
                Status::Base(d) => format!("base {d}"),
                Status::Config => "config".to_owned(),
                Status::Hit => "cached".to_owned(),
                Status::Miss(_) => "REBUILD".to_owned(),
            };
            println!("Step {}/{total} : {}  [{what}]", i + 1, s.text);
            if let Status::Miss(reasons) = &s.status {
                for r in reasons {
                    println!("    {r}");
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
