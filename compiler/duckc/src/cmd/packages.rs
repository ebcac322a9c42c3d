//! `lock`: resolve every env's `packages` against the configured apt repository and pin them in
//! `duck.lock` next to the spec. [`prepare`] is the same pass for `build` (which extends the
//! lock, or with `--locked` only checks it) and returns what the executor needs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use duckc_ir::items::{Ptr, StepDeclKind};
use duckc_ir::{Base, EnvItem, Step};
use duckc_packages::layers::DEFAULT_LAYER_BUDGET;
use duckc_packages::lock::Lock;
use duckc_packages::locking::{self, Mode, PackagesContext};
use duckc_packages::source::{self, Settings};
use duckc_store::Store;
use miette::{LabeledSpan, NamedSource, miette};

use super::spec::Compiled;
use crate::Global;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Resolve every env's `packages` and pin each package by sha256 in `duck.lock`.
    Lock {
        /// The spec (default: env.kdl, then duck.kdl, in the current directory).
        file: Option<PathBuf>,
        /// Move pins forward: of the entries that pin these packages, or of every entry when
        /// none is named.
        #[arg(long, num_args = 0.., value_name = "PKG")]
        update: Option<Vec<String>>,
        /// The apt repository, as a `sources.list` line (overrides `DUCKC_APT_REPOSITORY`,
        /// the config file and the host's apt sources).
        #[arg(long, value_name = "LINE")]
        repository: Option<String>,
    },
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        let Command::Lock {
            mut file,
            mut update,
            repository,
        } = self;
        // `duckc lock --update env.kdl`: clap gives the spec to `--update`; a package name
        // never has a `/` or ends in `.kdl`.
        if file.is_none()
            && let Some(names) = &mut update
            && let Some(i) = names
                .iter()
                .position(|n| n.ends_with(".kdl") || n.contains('/'))
        {
            file = Some(PathBuf::from(names.remove(i)));
        }
        let compiled = super::spec::compile(file.as_deref())?;
        let (errors, _) = compiled.report()?;
        if errors > 0 {
            eprintln!(
                "error: `{}` has errors; fix them to lock its packages",
                compiled.name
            );
            return Ok(ExitCode::FAILURE);
        }
        let store = super::image::open_store(global)?;
        let mode = match update {
            Some(names) => Mode::Update(names),
            None => Mode::Extend,
        };
        // Registry bases first: pulled when missing (`--update`: the tags asked again), their
        // digests pinned next to the packages.
        let graph = duckc_ir::layer_graph(&compiled.db);
        if let Ok(plans) = duckc_build::plan::select(graph, &[]) {
            let pull = match &mode {
                Mode::Update(_) => super::bases::Pull::Always,
                _ => super::bases::Pull::Missing,
            };
            super::bases::prepare(
                &store,
                graph,
                &plans,
                &lock_path(&compiled),
                &super::bases::Policy {
                    pull,
                    locked: false,
                    mode: duckc_build::progress::Mode::Plain,
                    registry: &duckc_registry::Options::default(),
                },
            )?;
        }
        let (path, changed, steps) = lock(&compiled, &store, &mode, repository)?;
        let what = if steps == 0 {
            "no `packages` steps"
        } else if changed {
            "updated"
        } else {
            "up to date"
        };
        eprintln!("{}: {what}", path.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// One `packages` step found in the spec, with where it is written.
struct Found {
    step: locking::Step,
    node: String,
    file: duckc_ir::SpecFile,
    ptr: Ptr,
}

/// `build --platform`: the platforms the target envs (all when none) are built for instead of
/// their own.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides<'a> {
    pub targets: &'a [String],
    pub platforms: &'a [String],
}

/// Every `packages` step of the envs the user files reach (stdlib bases included), parents
/// before children, each tied to its graph node.
fn steps(db: &duckc_ir::Database, overrides: &Overrides<'_>) -> Vec<Found> {
    let mut found = Vec::new();
    // env → index of its last `packages` step (or of its base's).
    let mut last: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for file in duckc_ir::user_files(db) {
        for &env in &duckc_ir::parse(db, file).envs {
            visit(db, env, &mut found, &mut last);
        }
    }
    // A step is locked for every platform the build runs it for: `platform` flows down into
    // bases and into the envs `copy … from=` reads (see `duckc_build::execute::units`).
    // With `build --platform`, also for those (the spec's own stay locked: no churn).
    let graph = duckc_ir::layer_graph(db);
    let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(plans) = duckc_build::plan::select(graph, &[]) {
        let mut overridden = plans.clone();
        overridden
            .retain(|p| overrides.targets.is_empty() || overrides.targets.contains(&p.env.name));
        for p in &mut overridden {
            p.platforms = overrides.platforms.to_vec();
        }
        let sets = if overrides.platforms.is_empty() {
            vec![plans]
        } else {
            vec![plans, overridden]
        };
        for plans in sets {
            let Ok((units, _)) = duckc_build::execute::units(graph, &plans) else {
                continue;
            };
            for (key, platform) in units {
                let list = platforms.entry(key.to_string()).or_default();
                if !list.contains(&platform) {
                    list.push(platform);
                }
            }
        }
    }
    for f in &mut found {
        if let Some(p) = platforms.get(&f.node) {
            f.step.platforms = p.clone();
        }
    }
    found
}

fn visit<'db>(
    db: &'db duckc_ir::Database,
    env: EnvItem<'db>,
    found: &mut Vec<Found>,
    last: &mut BTreeMap<String, Option<usize>>,
) -> Option<usize> {
    let label = duckc_ir::env_label(db, env);
    if let Some(done) = last.get(&label) {
        return *done;
    }
    // Guards against a cycle (reported elsewhere): the env counts as having no steps.
    last.insert(label.clone(), None);
    let mut parent = match duckc_ir::env_base(db, env) {
        Base::Env(base) => visit(db, *base, found, last),
        _ => None,
    };
    let decls: Vec<(u32, Vec<String>, bool)> = env
        .steps(db)
        .iter()
        .filter_map(|s| match &s.kind {
            StepDeclKind::Packages(names, apt_sources) => {
                Some((s.step, names.clone(), *apt_sources))
            }
            _ => None,
        })
        .collect();
    if let Some(lowered) = duckc_ir::lower_env(db, env).as_ref() {
        let nodes = lowered
            .nodes
            .iter()
            .filter(|n| matches!(n.step, Step::Packages { .. }));
        for (n, (node, (step, names, apt_sources))) in nodes.zip(decls).enumerate() {
            let name = if n == 0 {
                label.clone()
            } else {
                format!("{label} ({})", n + 1)
            };
            found.push(Found {
                step: locking::Step {
                    env: name,
                    names,
                    // Filled in by `steps` from the envs built on it.
                    platforms: Vec::new(),
                    parent,
                    apt_sources,
                },
                node: node.key.to_string(),
                file: env.file(db),
                ptr: Ptr::Value {
                    item: env.item(db),
                    step,
                    value: 0,
                },
            });
            parent = Some(found.len() - 1);
        }
    }
    last.insert(label, parent);
    parent
}

/// `duck.lock` next to the spec.
fn lock_path(compiled: &Compiled) -> PathBuf {
    match Path::new(&compiled.name).parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("duck.lock"),
        _ => PathBuf::from("duck.lock"),
    }
}

/// Brings the lock up to date (or checks it, for [`Mode::Locked`]); writes it when it changed.
/// Returns the lock's path, whether it changed, and how many steps there are.
fn lock(
    compiled: &Compiled,
    store: &Store,
    mode: &Mode,
    repository: Option<String>,
) -> miette::Result<(PathBuf, bool, usize)> {
    let found = steps(&compiled.db, &Overrides::default());
    let ctx = context(compiled, store, mode, repository, &found)?;
    Ok((ctx.0, ctx.1, ctx.2.envs.len()))
}

/// The lock pass of `build`: `None` when the spec has no `packages` steps; otherwise the lock
/// is extended (written if it changed) or, with `locked`, only checked, and the executor's
/// context comes back.
pub fn prepare(
    compiled: &Compiled,
    store: &Store,
    locked: bool,
    repository: Option<String>,
    overrides: &Overrides<'_>,
) -> miette::Result<Option<PackagesContext>> {
    let found = steps(&compiled.db, overrides);
    if found.is_empty() {
        return Ok(None);
    }
    let mode = if locked { Mode::Locked } else { Mode::Extend };
    let (path, changed, ctx) = context(compiled, store, &mode, repository, &found)?;
    if changed {
        eprintln!("{}: updated", path.display());
    }
    Ok(Some(ctx))
}

/// What `explain` needs to key `packages` steps: the lock as it is, never resolved or written.
/// `None` when the spec has no `packages` steps; an unreadable lock counts as empty.
pub fn pinned(compiled: &Compiled, store: &Store) -> Option<PackagesContext> {
    let found = steps(&compiled.db, &Overrides::default());
    if found.is_empty() {
        return None;
    }
    let lock = Lock::read(&lock_path(compiled)).unwrap_or_default();
    // The repository is only read to download, which explaining never does.
    let repository = source::configured(&Settings::from_env(None))
        .map(|c| c.repository)
        .unwrap_or_default();
    Some(PackagesContext {
        lock,
        envs: declaring_envs(&found),
        repository,
        downloads: store.root().join("downloads"),
        budget: DEFAULT_LAYER_BUDGET,
    })
}

/// Graph node key → the env that declares the step (the lock's key for it).
fn declaring_envs(found: &[Found]) -> BTreeMap<String, String> {
    found
        .iter()
        .map(|f| (f.node.clone(), f.step.env.clone()))
        .collect()
}

fn context(
    compiled: &Compiled,
    store: &Store,
    mode: &Mode,
    repository: Option<String>,
    found: &[Found],
) -> miette::Result<(PathBuf, bool, PackagesContext)> {
    let path = lock_path(compiled);
    let mut lock = Lock::read(&path).map_err(|e| {
        miette!(
            help = "run `duckc lock` to write it again",
            "cannot read the lock: {e}"
        )
    })?;
    let configured =
        source::configured(&Settings::from_env(repository)).map_err(|e| miette!("{e}"))?;
    let downloads = store.root().join("downloads");
    let list: Vec<locking::Step> = found.iter().map(|f| f.step.clone()).collect();
    let changed = if list.is_empty() {
        false
    } else {
        locking::lock_steps(&list, &mut lock, mode, &configured.repository, &downloads)
            .map_err(|e| step_error(compiled, &found[e.step], &e.error, &path))?
    };
    if changed && *mode != Mode::Locked {
        lock.write(&path).map_err(|e| miette!("{e}"))?;
    }
    Ok((
        path,
        changed,
        PackagesContext {
            lock,
            envs: declaring_envs(found),
            repository: configured.repository,
            downloads,
            budget: DEFAULT_LAYER_BUDGET,
        },
    ))
}

/// A failed step as a diagnostic on its `packages` node.
fn step_error(
    compiled: &Compiled,
    found: &Found,
    error: &locking::Error,
    lock: &Path,
) -> miette::Report {
    let db = &compiled.db;
    let (label, help) = match error {
        locking::Error::NotLocked(_) => (
            "not in the lock".to_owned(),
            format!(
                "run `duckc lock` (or `duckc build` without `--locked`) to update `{}`, then commit it",
                lock.display()
            ),
        ),
        locking::Error::Resolve(_) => (
            "cannot be resolved".to_owned(),
            "check the names (`apt-cache policy NAME` on a Debian host) and version constraints; the explanation above says which packages conflict".to_owned(),
        ),
        locking::Error::Platform(_) => (
            "for this platform".to_owned(),
            "use `platform \"linux/amd64\"` or `platform \"linux/arm64\"`".to_owned(),
        ),
        locking::Error::Repository(_) => {
            return miette!(
                help = "check the repository setting: `--repository`, `DUCKC_APT_REPOSITORY`, or the host's apt sources",
                "{error}"
            );
        }
    };
    let file = found.file;
    let text = file.text(db).clone();
    let tree = duckc_ir::source_map(db, file);
    let name = if file == duckc_ir::Workspace::get(db).root(db) {
        compiled.name.clone()
    } else {
        file.path(db).clone()
    };
    let mut report = miette!(help = help, "{error}");
    if let Some(span) = found.ptr.span(tree) {
        report = miette!(
            labels = vec![LabeledSpan::at(span.start..span.end, label)],
            help = help_text(error, lock),
            "{error}"
        );
        report = report.with_source_code(NamedSource::new(name, text));
    }
    report
}

fn help_text(error: &locking::Error, lock: &Path) -> String {
    match error {
        locking::Error::NotLocked(_) => format!(
            "run `duckc lock` (or `duckc build` without `--locked`) to update `{}`, then commit it",
            lock.display()
        ),
        locking::Error::Resolve(_) => "check the names (`apt-cache policy NAME` on a Debian host) and version constraints; the explanation above says which packages conflict".to_owned(),
        _ => "use `platform \"linux/amd64\"` or `platform \"linux/arm64\"`".to_owned(),
    }
}
