//! `build` and `explain`: compile a spec, build its envs into the store with the layer cache,
//! and say why each step was (or will be) rebuilt. The executor is `duckc-build`; this module
//! loads the spec and its context, picks the output style, and reports failures.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_build::execute::BuildOutcome;
use duckc_build::explain::Status;
use duckc_build::ignore::Ignore;
use duckc_build::progress::{Mode, Printer};
use duckc_build::{BuildOptions, EnvPlan};
use duckc_ir::Database;
use duckc_store::Store;
use miette::miette;

use super::spec::Compiled;
use crate::Global;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build every env of a spec (or `--target`) into tagged images, reusing cached layers.
    Build {
        /// The spec (default: env.kdl, then duck.kdl, in the current directory).
        file: Option<PathBuf>,
        /// The build context `copy` reads from (default: the spec's directory).
        #[arg(long, value_name = "DIR")]
        context: Option<PathBuf>,
        /// Build only this env (and what it needs); may be repeated.
        #[arg(long, value_name = "ENV")]
        target: Vec<String>,
        /// Also tag the last env built (the target) as NAME[:TAG]; may be repeated.
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
    },
    /// Show, per step, whether the next build takes it from the cache, and what changed.
    Explain {
        /// The spec (default: env.kdl, then duck.kdl, in the current directory).
        file: Option<PathBuf>,
        /// The env to explain (default: every env).
        env: Option<String>,
        /// The build context (default: the spec's directory).
        #[arg(long, value_name = "DIR")]
        context: Option<PathBuf>,
    },
}

/// `--progress` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Progress {
    /// Docker-style lines.
    Plain,
    /// The same lines plus a live status line.
    Tty,
    /// One JSON object per event.
    Json,
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        match self {
            Command::Build {
                file,
                context,
                target,
                tags,
                no_cache,
                check,
                outputs,
                progress,
            } => {
                let mode = match progress {
                    Some(Progress::Plain) => Mode::Plain,
                    Some(Progress::Tty) => Mode::Tty,
                    Some(Progress::Json) => Mode::Json,
                    None if std::io::stdout().is_terminal() => Mode::Tty,
                    None => Mode::Plain,
                };
                let outputs = outputs
                    .iter()
                    .map(|o| Output::parse(o))
                    .collect::<miette::Result<Vec<_>>>()?;
                let loaded = load(file.as_deref(), context.as_deref())?;
                let Some(plans) = loaded.plans(&target)? else {
                    return Ok(ExitCode::FAILURE);
                };
                let store = super::image::open_store(global)?;
                let opts = BuildOptions {
                    context: loaded.context.clone(),
                    no_cache,
                    write_cache: true,
                    extra_tags: tags,
                };
                let outcome = run_build(&store, &loaded, &plans, &opts, mode)?;
                if let Some(code) = failure(&loaded, outcome.error.as_ref()) {
                    return Ok(code);
                }
                for (name, a) in &outcome.images {
                    if let Some(plan) = plans.iter().find(|p| &p.env.name == name) {
                        duckc_build::record::write(
                            &store,
                            &loaded.spec,
                            duckc_ir::layer_graph(&loaded.compiled.db),
                            plan,
                            &outcome.nodes,
                            &a.image.manifest_digest,
                        )
                        .map_err(|e| miette!("cannot record the build of `{name}`: {e}"))?;
                    }
                }
                for out in &outputs {
                    out.write(&store, &outcome)?;
                }
                if check {
                    return check_reproducible(&store, &loaded, &plans, &opts, &outcome);
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Explain { file, env, context } => {
                let loaded = load(file.as_deref(), context.as_deref())?;
                let targets: Vec<String> = env.into_iter().collect();
                let Some(plans) = loaded.plans(&targets)? else {
                    return Ok(ExitCode::FAILURE);
                };
                let store = super::image::open_store(global)?;
                explain(&store, &loaded, &plans)
            }
        }
    }
}

/// A spec compiled for building.
struct Loaded {
    compiled: Compiled,
    /// The spec's absolute path (builds are recorded under it).
    spec: PathBuf,
    /// The build context directory.
    context: PathBuf,
}

impl Loaded {
    /// The plans of `targets` (all envs when empty); `None` after printing the spec's errors.
    fn plans(&self, targets: &[String]) -> miette::Result<Option<Vec<EnvPlan>>> {
        let (errors, _) = self.compiled.report()?;
        if errors > 0 {
            let s = if errors == 1 { "" } else { "s" };
            eprintln!(
                "error: `{}` has {errors} error{s}; fix them to build it",
                self.compiled.name
            );
            return Ok(None);
        }
        let graph = duckc_ir::layer_graph(&self.compiled.db);
        duckc_build::plan::select(graph, targets)
            .map(Some)
            .map_err(|unknown| {
                let names: Vec<String> =
                    graph.envs.iter().map(|e| format!("`{}`", e.name)).collect();
                miette!(
                    help = format!(
                        "the envs of `{}` are {}",
                        self.compiled.name,
                        names.join(", ")
                    ),
                    "no env `{unknown}` in `{}`",
                    self.compiled.name
                )
            })
    }
}

/// The spec to read: the one given, else `env.kdl`, else `duck.kdl` in the current directory.
fn find_spec(file: Option<&Path>) -> miette::Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f.to_owned());
    }
    ["env.kdl", "duck.kdl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            miette!(
                help = "pass the spec's path, e.g. `duckc build path/to/env.kdl`",
                "no spec given, and neither `env.kdl` nor `duck.kdl` is in the current directory"
            )
        })
}

/// Reads the spec, its imports and the build context (minus what `.duckignore` or
/// `.dockerignore` excludes) into a database.
fn load(file: Option<&Path>, context: Option<&Path>) -> miette::Result<Loaded> {
    let path = find_spec(file)?;
    let name = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| miette!("cannot read `{name}`: {e}"))?;
    let spec = std::fs::canonicalize(&path).map_err(|e| miette!("cannot read `{name}`: {e}"))?;
    let spec_dir = spec
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let context = match context {
        Some(c) => std::fs::canonicalize(c)
            .map_err(|e| miette!("cannot read the build context `{}`: {e}", c.display()))?,
        None => spec_dir.clone(),
    };
    let (ignore, _) = Ignore::read(&context).map_err(|e| {
        miette!(
            "cannot read the ignore file of `{}`: {e}",
            context.display()
        )
    })?;
    let listing = duckc_build::context::list(&context, &ignore).map_err(|e| miette!("{e}"))?;
    let logical = spec
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "env.kdl".to_owned());
    let mut db = Database::default();
    db.load(&logical, text, listing);
    db.load_imports(|import| std::fs::read_to_string(spec_dir.join(import)).ok());
    duckc_build::context::hash_copied(&mut db, &context).map_err(|e| miette!("{e}"))?;
    Ok(Loaded {
        compiled: Compiled { db, name },
        spec,
        context,
    })
}

fn run_build(
    store: &Store,
    loaded: &Loaded,
    plans: &[EnvPlan],
    opts: &BuildOptions,
    mode: Mode,
) -> miette::Result<BuildOutcome> {
    let graph = duckc_ir::layer_graph(&loaded.compiled.db);
    let mut printer = Printer::new(mode, plans, Box::new(std::io::stdout()));
    let outcome = duckc_build::build(store, graph, plans, opts, &mut |e| printer.event(e));
    printer.finish();
    outcome.map_err(|e| miette!("{e}"))
}

/// Reports a failed build; returns the exit code (a failed `run` step's own code).
fn failure(
    loaded: &Loaded,
    error: Option<&(Option<duckc_ir::NodeKey>, duckc_build::Error)>,
) -> Option<ExitCode> {
    let (node, error) = error?;
    let graph = duckc_ir::layer_graph(&loaded.compiled.db);
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
    let whose = envs.map(|e| format!(" (env {e})")).unwrap_or_default();
    match error {
        duckc_build::Error::RunFailed { step, code, tail } => {
            eprintln!("error: `{step}`{whose} failed with exit code {code}");
            if !tail.is_empty() {
                eprintln!("  its last output:");
                for line in tail.lines() {
                    eprintln!("  | {line}");
                }
            }
            eprintln!("  help: fix the command, then build again: the steps before it are cached");
            Some(ExitCode::from((*code).clamp(1, 255) as u8))
        }
        duckc_build::Error::PackagesUnsupported { .. } => {
            eprintln!("error: {error}{whose}");
            eprintln!("  help: install software with `copy` and `run` steps for now");
            Some(ExitCode::FAILURE)
        }
        duckc_build::Error::BaseMissing { reference } => {
            eprintln!("error: {error}{whose}");
            eprintln!(
                "  help: load it with `duckc load -i FILE` or pull it with `duckc pull {reference}`"
            );
            Some(ExitCode::FAILURE)
        }
        other => {
            eprintln!("error: {other}{whose}");
            Some(ExitCode::FAILURE)
        }
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
                        .map_err(|e| miette!("cannot write `{}`: {e}", dir.display()))?;
                }
            }
            Output::Archive(file) => {
                let f = std::fs::File::create(file)
                    .map_err(|e| miette!("cannot write `{}`: {e}", file.display()))?;
                duckc_image::save(
                    store,
                    &named,
                    std::io::BufWriter::new(f),
                    duckc_image::ArchiveFormat::Oci,
                )
                .map_err(|e| miette!("cannot write `{}`: {e}", file.display()))?;
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
    let graph = duckc_ir::layer_graph(&loaded.compiled.db);
    let second =
        duckc_build::build(store, graph, plans, &opts, &mut |_| {}).map_err(|e| miette!("{e}"))?;
    if let Some(code) = failure(loaded, second.error.as_ref()) {
        return Ok(code);
    }
    let mut all = true;
    for (env, a) in &first.images {
        let again = second
            .images
            .iter()
            .find(|(e, _)| e == env)
            .map(|(_, b)| b.image.manifest_digest);
        if again == Some(a.image.manifest_digest) {
            println!("`{env}`: reproducible ({})", a.image.manifest_digest);
        } else {
            all = false;
            let again = again
                .map(|d| d.to_string())
                .unwrap_or_else(|| "nothing".to_owned());
            println!(
                "`{env}`: NOT reproducible: {} then {again}",
                a.image.manifest_digest
            );
        }
    }
    Ok(if all {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn explain(store: &Store, loaded: &Loaded, plans: &[EnvPlan]) -> miette::Result<ExitCode> {
    let graph = duckc_ir::layer_graph(&loaded.compiled.db);
    for plan in plans {
        let record = duckc_build::record::read(store, &loaded.spec, &plan.env.name);
        let steps =
            duckc_build::explain::explain(store, graph, plan, record.as_ref(), &loaded.context)
                .map_err(|e| miette!("{e}"))?;
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
