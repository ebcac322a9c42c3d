//! `duck.lock`, read and written one way for every caller: `lock` brings it up to date, `build`
//! extends it (or with `--locked` only checks it) and pins its registry bases in it
//! ([`read_bases`], [`pin_bases`]), `explain`, `sbom` and a language server read it as it is
//! ([`read_as_is`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duckc_diagnostic::{Code, Diagnostic};
use duckc_packages::layers::DEFAULT_LAYER_BUDGET;
use duckc_packages::lock::Lock;
pub use duckc_packages::locking::Mode;
use duckc_packages::locking::{self, PackagesContext};
use duckc_packages::source::{self, Settings};

use crate::packages::{Overrides, PackagesStep, declaring_envs};
use crate::{Diagnostics, Frontend, Kind, Loaded};

/// What one lock pass did.
#[derive(Debug)]
pub struct Locked {
    /// `duck.lock`, next to the spec.
    pub path: PathBuf,
    /// Whether the lock changed (and was written, unless [`Mode::Locked`]).
    pub changed: bool,
    /// How many `packages` steps the spec has.
    pub steps: usize,
    /// What the executor needs to build the steps.
    pub context: PackagesContext,
}

/// Why the lock could not be read, brought up to date or written. The packages crate's errors
/// keep their `packages::…` code and help.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("cannot read the lock: {0}")]
    #[diagnostic(forward(0))]
    Read(duckc_packages::lock::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(source::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Write(duckc_packages::lock::Error),
    /// A step that cannot be locked: its diagnostic points at its `packages` node.
    #[error("the packages of `{name}` cannot be locked; fix the error above")]
    Step {
        name: String,
        diagnostics: Box<Diagnostics>,
    },
    /// A step that cannot be locked for a reason outside the spec (the repository).
    #[error(transparent)]
    #[diagnostic(transparent)]
    Unlocated(Box<locking::Error>),
}

impl Loaded {
    /// Brings `duck.lock` up to date for the `packages` steps (or, with [`Mode::Locked`], only
    /// checks it) and writes it when it changed. `downloads` is where packages are cached;
    /// `repository` overrides the configured apt repository.
    pub fn lock(
        &self,
        downloads: &Path,
        mode: &Mode,
        repository: Option<String>,
        overrides: &Overrides<'_>,
    ) -> Result<Locked, Error> {
        let found = self.packages_steps(overrides);
        let path = self.lock_path();
        let mut lock = Lock::read(&path).map_err(Error::Read)?;
        let configured =
            source::configured(&Settings::from_env(repository)).map_err(Error::Repository)?;
        let list: Vec<locking::Step> = found.iter().map(|f| f.step.clone()).collect();
        let changed = if list.is_empty() {
            false
        } else {
            locking::lock_steps(&list, &mut lock, mode, &configured.repository, downloads)
                .map_err(|e| self.step_error(&found[e.step], *e.error, &path))?
        };
        if changed && *mode != Mode::Locked {
            lock.write(&path).map_err(Error::Write)?;
        }
        Ok(Locked {
            path,
            changed,
            steps: found.len(),
            context: PackagesContext {
                lock,
                envs: declaring_envs(&found),
                repository: configured.repository,
                downloads: downloads.to_owned(),
                budget: DEFAULT_LAYER_BUDGET,
            },
        })
    }

    /// The lock as it is, never resolved or written (`explain`, hover): `None` when the spec has
    /// no `packages` steps; an unreadable lock counts as empty.
    pub fn pinned(&self, downloads: &Path) -> Option<PackagesContext> {
        let found = self.packages_steps(&Overrides::default());
        if found.is_empty() {
            return None;
        }
        let lock = read_as_is(&self.lock_path());
        // The repository is only read to download, which explaining never does.
        let repository = source::configured(&Settings::from_env(None))
            .map(|c| c.repository)
            .unwrap_or_default();
        Some(PackagesContext {
            lock,
            envs: declaring_envs(&found),
            repository,
            downloads: downloads.to_owned(),
            budget: DEFAULT_LAYER_BUDGET,
        })
    }

    /// A failed step as a diagnostic on its `packages` node.
    fn step_error(&self, found: &PackagesStep, error: locking::Error, lock: &Path) -> Error {
        // The packages crate's help, where it has one: it knows what went wrong.
        let help = miette::Diagnostic::help(&error).map(|h| h.to_string());
        let (code, label, help) = match &error {
            locking::Error::NotLocked(_) => (
                Code::NotLocked,
                "not in the lock",
                format!(
                    "run `duckc lock` (or `duckc build` without `--locked`) to update `{}`, then commit it",
                    lock.display()
                ),
            ),
            locking::Error::Resolve(_) => (
                Code::UnresolvedPackages,
                "cannot be resolved",
                help.unwrap_or_else(|| "check the names (`apt-cache policy NAME` on a Debian host) and version constraints".to_owned()),
            ),
            locking::Error::Platform(_) => (
                Code::PackagesPlatform,
                "for this platform",
                "use `platform \"linux/amd64\"` or `platform \"linux/arm64\"`".to_owned(),
            ),
            locking::Error::Repository(_) => return Error::Unlocated(Box::new(error)),
        };
        // Only specs have `packages` steps.
        let Frontend::Kdl(db) = &self.frontend else {
            return Error::Unlocated(Box::new(error));
        };
        let file = found.file;
        let name = if file == duckc_ir::Workspace::get(db).root(db) {
            self.name.clone()
        } else {
            file.path(db).clone()
        };
        let mut diagnostic = Diagnostic::error(code, error.to_string()).with_help(help);
        // An unknown or unpinned package: point at its name; offer the index's nearest name.
        let (ptr, suggestion) = match &error {
            locking::Error::Resolve(duckc_packages::resolve::Error::Unknown {
                name,
                suggestion,
            }) => {
                let (ptr, exact) = value_of(found, name);
                (ptr, suggestion.as_deref().filter(|_| exact))
            }
            locking::Error::NotLocked(duckc_packages::lock::NotLocked::Package {
                package, ..
            }) => (value_of(found, package).0, None),
            _ => (found.ptr, None),
        };
        if let Some(span) = ptr.span(duckc_ir::source_map(db, file)) {
            diagnostic = diagnostic.with_label(span, label);
            if let Some(s) = suggestion {
                diagnostic = diagnostic.with_suggestion(span, format!("\"{s}\""));
            }
        }
        let mut diagnostics = Diagnostics::new(Kind::Spec, name, file.text(db).clone());
        diagnostics.items.push(diagnostic);
        Error::Step {
            name: self.name.clone(),
            diagnostics: Box::new(diagnostics),
        }
    }
}

/// The step's argument that names package `name` (`name`, `name=1.0`, `name:amd64`), else its
/// first; and whether it is the name alone (so a suggestion may replace it whole).
fn value_of(found: &PackagesStep, name: &str) -> (duckc_ir::items::Ptr, bool) {
    let written = |n: &str| {
        let n = n.split_once('=').map_or(n, |(n, _)| n).trim();
        n.split_once(':').map_or(n, |(n, _)| n) == name
    };
    match (found.ptr, found.step.names.iter().position(|n| written(n))) {
        (duckc_ir::items::Ptr::Value { item, step, .. }, Some(i)) => (
            duckc_ir::items::Ptr::Value {
                item,
                step,
                value: i as u32,
            },
            found.step.names[i] == name,
        ),
        (ptr, _) => (ptr, false),
    }
}

/// `duck.lock` beside the spec `spec` (as the user named it, or as a build record holds it).
pub fn beside(spec: &Path) -> PathBuf {
    match spec.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.join("duck.lock"),
        _ => PathBuf::from("duck.lock"),
    }
}

/// The lock at `path` as it is, for readers that never resolve (`explain`, `sbom`, hover): a
/// missing or unreadable lock reads as empty.
pub fn read_as_is(path: &Path) -> Lock {
    Lock::read(path).unwrap_or_default()
}

/// The registry bases the lock at `path` pins (reference → manifest digest); a missing lock
/// pins none.
pub fn read_bases(path: &Path) -> Result<BTreeMap<String, String>, Error> {
    Ok(Lock::read(path).map_err(Error::Read)?.bases)
}

/// Pins `bases` in the lock at `path`, beside what it already holds (the lock is read again,
/// so packages locked since [`read_bases`] stay); writes it only when that changes it. Returns
/// whether it did.
pub fn pin_bases(path: &Path, bases: &BTreeMap<String, String>) -> Result<bool, Error> {
    let mut lock = Lock::read(path).map_err(Error::Read)?;
    let before = lock.bases.clone();
    lock.bases
        .extend(bases.iter().map(|(k, v)| (k.clone(), v.clone())));
    if lock.bases == before {
        return Ok(false);
    }
    lock.write(path).map_err(Error::Write)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_are_pinned_beside_what_the_lock_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = beside(&dir.path().join("env.kdl"));
        assert_eq!(path, dir.path().join("duck.lock"));
        assert_eq!(beside(Path::new("env.kdl")), PathBuf::from("duck.lock"));
        // A missing lock pins nothing and reads as empty.
        assert!(read_bases(&path).unwrap().is_empty());
        assert_eq!(read_as_is(&path), Lock::default());
        // What the lock holds stays when a base is pinned.
        let mut lock = Lock::default();
        lock.bases
            .insert("a:1".into(), format!("sha256:{}", "a".repeat(64)));
        lock.write(&path).unwrap();
        let pins = BTreeMap::from([("b:2".to_owned(), format!("sha256:{}", "b".repeat(64)))]);
        assert!(pin_bases(&path, &pins).unwrap());
        assert!(!pin_bases(&path, &pins).unwrap(), "no change, no write");
        let read = read_as_is(&path);
        assert_eq!(read.bases.len(), 2);
        assert_eq!(read_bases(&path).unwrap(), read.bases);
        // A lock that does not parse is an error with a `help:` for the builder, empty for readers.
        std::fs::write(&path, "bases {").unwrap();
        let err = read_bases(&path).unwrap_err();
        assert!(miette::Diagnostic::help(&err).is_some());
        assert_eq!(read_as_is(&path), Lock::default());
    }
}
