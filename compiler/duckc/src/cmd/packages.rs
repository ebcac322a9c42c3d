//! `lock`: resolve every env's `packages` against the configured apt repository and pin them in
//! `duck.lock` next to the spec. [`prepare`] is the same pass for `build` (which extends the
//! lock, or with `--locked` only checks it) and returns what the executor needs. The steps come
//! from the driver (`duckc_driver::packages`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use duckc_driver::packages::{Overrides, PackagesStep, declaring_envs};
use duckc_driver::{Frontend, Loaded};
use duckc_packages::layers::DEFAULT_LAYER_BUDGET;
use duckc_packages::lock::Lock;
use duckc_packages::locking::{self, Mode, PackagesContext};
use duckc_packages::source::{self, Settings};
use duckc_store::Store;
use miette::{LabeledSpan, NamedSource, miette};

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
        let (loaded, errors, _) = super::spec::load(file.as_deref())?;
        if errors > 0 {
            eprintln!(
                "error: `{}` has errors; fix them to lock its packages",
                loaded.name
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
        let graph = loaded.graph();
        if let Ok(plans) = duckc_build::plan::select(graph, &[]) {
            let pull = match &mode {
                Mode::Update(_) => super::bases::Pull::Always,
                _ => super::bases::Pull::Missing,
            };
            super::bases::prepare(
                &store,
                graph,
                &plans,
                &loaded.lock_path(),
                &super::bases::Policy {
                    pull,
                    locked: false,
                    mode: duckc_build::progress::Mode::Plain,
                    registry: &duckc_registry::Options::default(),
                },
            )?;
        }
        let (path, changed, steps) = lock(&loaded, &store, &mode, repository)?;
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

/// Brings the lock up to date (or checks it, for [`Mode::Locked`]); writes it when it changed.
/// Returns the lock's path, whether it changed, and how many steps there are.
fn lock(
    loaded: &Loaded,
    store: &Store,
    mode: &Mode,
    repository: Option<String>,
) -> miette::Result<(PathBuf, bool, usize)> {
    let found = loaded.packages_steps(&Overrides::default());
    let ctx = context(loaded, store, mode, repository, &found)?;
    Ok((ctx.0, ctx.1, ctx.2.envs.len()))
}

/// The lock pass of `build`: `None` when the spec has no `packages` steps; otherwise the lock
/// is extended (written if it changed) or, with `locked`, only checked, and the executor's
/// context comes back.
pub fn prepare(
    loaded: &Loaded,
    store: &Store,
    locked: bool,
    repository: Option<String>,
    overrides: &Overrides<'_>,
) -> miette::Result<Option<PackagesContext>> {
    let found = loaded.packages_steps(overrides);
    if found.is_empty() {
        return Ok(None);
    }
    let mode = if locked { Mode::Locked } else { Mode::Extend };
    let (path, changed, ctx) = context(loaded, store, &mode, repository, &found)?;
    if changed {
        eprintln!("{}: updated", path.display());
    }
    Ok(Some(ctx))
}

/// What `explain` needs to key `packages` steps: the lock as it is, never resolved or written.
/// `None` when the spec has no `packages` steps; an unreadable lock counts as empty.
pub fn pinned(loaded: &Loaded, store: &Store) -> Option<PackagesContext> {
    let found = loaded.packages_steps(&Overrides::default());
    if found.is_empty() {
        return None;
    }
    let lock = Lock::read(&loaded.lock_path()).unwrap_or_default();
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

fn context(
    loaded: &Loaded,
    store: &Store,
    mode: &Mode,
    repository: Option<String>,
    found: &[PackagesStep],
) -> miette::Result<(PathBuf, bool, PackagesContext)> {
    let path = loaded.lock_path();
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
            .map_err(|e| step_error(loaded, &found[e.step], &e.error, &path))?
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
    loaded: &Loaded,
    found: &PackagesStep,
    error: &locking::Error,
    lock: &Path,
) -> miette::Report {
    let Frontend::Kdl(db) = &loaded.frontend else {
        // Only specs have `packages` steps.
        return miette!("{error}");
    };
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
        loaded.name.clone()
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
