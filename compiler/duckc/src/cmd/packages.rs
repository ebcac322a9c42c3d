//! `lock`: resolve every env's `packages` against the configured apt repository and pin them in
//! `duck.lock` next to the spec. [`prepare`] is the same pass for `build` (which extends the
//! lock, or with `--locked` only checks it) and returns what the executor needs. Reading and
//! writing the lock is the driver's (`Loaded::lock`, `Loaded::pinned`); this is printing.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use duckc_driver::Loaded;
use duckc_driver::lock::Mode;
use duckc_driver::packages::Overrides;
use duckc_packages::locking::PackagesContext;
use duckc_store::Store;

use crate::Global;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
        if let Ok(plans) = duckc_executor::plan::select(graph, &[]) {
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
                    mode: duckc_executor::progress::Mode::Plain,
                    registry: &duckc_registry::Options::default(),
                },
            )?;
        }
        let locked = loaded
            .lock(&downloads(&store), &mode, repository, &Overrides::default())
            .map_err(report)?;
        let (path, changed) = (locked.path, locked.changed);
        let what = if locked.steps == 0 {
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
    if loaded.packages_steps(overrides).is_empty() {
        return Ok(None);
    }
    let mode = if locked { Mode::Locked } else { Mode::Extend };
    let locked = loaded
        .lock(&downloads(store), &mode, repository, overrides)
        .map_err(report)?;
    if locked.changed {
        eprintln!("{}: updated", locked.path.display());
    }
    Ok(Some(locked.context))
}

/// What `explain` needs to key `packages` steps: the lock as it is, never resolved or written.
pub fn pinned(loaded: &Loaded, store: &Store) -> Option<PackagesContext> {
    loaded.pinned(&downloads(store))
}

/// Where downloaded packages are kept.
fn downloads(store: &Store) -> PathBuf {
    store.root().join("downloads")
}

/// A lock error as a report; a step's diagnostic (on its `packages` node) is printed first.
fn report(e: duckc_driver::lock::Error) -> miette::Report {
    if let duckc_driver::lock::Error::Step { diagnostics, .. } = &e {
        let shown = std::slice::from_ref(diagnostics.as_ref());
        if let Err(print) = super::spec::print(shown, false) {
            return print;
        }
    }
    miette::Report::new(e)
}
