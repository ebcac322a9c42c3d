//! Bringing `duck.lock` up to date with a spec's `packages` steps, and building a step's layers
//! from the lock: what `duckc lock`, `duckc build` and `duckc build --locked` share.
//!
//! A step's entry is keyed by the env that declares it and the platform. A step built on
//! another env's packages resolves with those packages installed (fixed at their pinned
//! versions), so its entry holds only what it adds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duckc_store::{Digest, LayerRef, Store};
use sha2::Digest as _;

use crate::apt_sources::AptSources;
use crate::download::DownloadCache;
use crate::fetch::Fetcher;
use crate::layers::{self, PackagesRequest, Progress};
use crate::lock::{Lock, LockedPackage, NotLocked, PlatformLock};
use crate::repo::{self, RepositoryIndex};
use crate::resolve::{self, Installed, Request};
use crate::source::Repository;

/// One `packages` step of a spec, as the lock sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The env that declares the step (`app`, `std/debian:bookworm`).
    pub env: String,
    /// The packages as written.
    pub names: Vec<String>,
    /// OCI platforms to resolve for.
    pub platforms: Vec<String>,
    /// The nearest `packages` step below this one in the env's chain (an index into the list).
    pub parent: Option<usize>,
    /// `apt-sources=#true`: the image carries the repository's apt sources, so its entry
    /// records the repository's URI.
    pub apt_sources: bool,
}

/// How to treat the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Never resolve: every step must be in the lock as it is (`--locked`).
    Locked,
    /// Keep every entry that still matches its step; resolve the others (`duckc lock`, `build`).
    Extend,
    /// Resolve again the entries that pin any of these packages, or every entry when empty
    /// (`duckc lock --update [PKG…]`).
    Update(Vec<String>),
}

/// Why a step could not be locked; each cause keeps its code.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotLocked(#[from] NotLocked),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Repository(#[from] repo::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Resolve(#[from] resolve::Error),
    #[error("platform `{0}` has no Debian architecture: use e.g. `linux/amd64` or `linux/arm64`")]
    #[diagnostic(
        code(packages::platform),
        help("use `platform \"linux/amd64\"` or `platform \"linux/arm64\"`")
    )]
    Platform(String),
}

/// A step that could not be locked, and why.
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct StepError {
    /// Index of the step.
    pub step: usize,
    pub error: Box<Error>,
}

/// The platform a step with no `platform` builds for: the host's.
pub fn host_platform() -> String {
    duckc_platform::host_platform()
}

fn platforms(step: &Step) -> Vec<String> {
    if step.platforms.is_empty() {
        vec![host_platform()]
    } else {
        step.platforms.clone()
    }
}

/// Brings `lock` up to date with `steps` (parents before children); returns whether it
/// changed. Entries of envs no step declares are dropped.
pub fn lock_steps(
    steps: &[Step],
    lock: &mut Lock,
    mode: &Mode,
    repository: &Repository,
    downloads: &Path,
) -> Result<bool, StepError> {
    let before = lock.clone();
    let cache = DownloadCache::new(downloads);
    let fetcher = Fetcher::default();
    let mut indexes: BTreeMap<&'static str, RepositoryIndex> = BTreeMap::new();
    for (i, step) in steps.iter().enumerate() {
        let at = |error: Error| StepError {
            step: i,
            error: Box::new(error),
        };
        for platform in platforms(step) {
            let installed = installed(steps, lock, i, &platform);
            let current = lock.locked(&step.env, &platform, &step.names);
            let keep = match (mode, &current) {
                (Mode::Locked, Ok(_)) => true,
                (Mode::Locked, Err(e)) => return Err(at(Error::NotLocked(e.clone()))),
                (Mode::Extend, Ok(entry)) => {
                    entry.repository.suite == repository.suite && consistent(entry, &installed)
                }
                (Mode::Extend, Err(_)) => false,
                (Mode::Update(names), Ok(entry)) => {
                    !names.is_empty() && !entry.packages.iter().any(|p| names.contains(&p.name))
                }
                (Mode::Update(_), Err(_)) => false,
            };
            if keep {
                // The URI is part of the image's sources: a moved repository moves it (the
                // pins stay, the sha256s decide what any mirror may serve).
                let uri = crate::apt_sources::public_uri(&repository.uri);
                if step.apt_sources
                    && *mode != Mode::Locked
                    && let Some(entry) = lock
                        .envs
                        .get_mut(&step.env)
                        .and_then(|e| e.get_mut(&platform))
                    && entry.repository.uri.as_ref() != Some(&uri)
                {
                    entry.repository.uri = Some(uri);
                }
                continue;
            }
            let arch = crate::lock::debian_architecture(&platform)
                .ok_or_else(|| at(Error::Platform(platform.clone())))?;
            if !indexes.contains_key(arch) {
                let idx = repo::fetch_index(repository, arch, &fetcher, &cache)
                    .map_err(|e| at(e.into()))?;
                indexes.insert(arch, idx);
            }
            let idx = &indexes[arch];
            let packages = resolve::resolve(
                &idx.index,
                &Request {
                    packages: step.names.clone(),
                    installed,
                },
            )
            .map_err(|e| at(e.into()))?;
            let mut entry = PlatformLock::new(repository, &idx.release, &step.names, &packages);
            if step.apt_sources {
                entry.repository.uri = Some(crate::apt_sources::public_uri(&repository.uri));
            }
            lock.set(&step.env, &platform, entry);
        }
    }
    let platforms: Vec<Vec<String>> = steps.iter().map(platforms).collect();
    let keep: Vec<(&str, &str)> = steps
        .iter()
        .zip(&platforms)
        .flat_map(|(s, ps)| ps.iter().map(|p| (s.env.as_str(), p.as_str())))
        .collect();
    lock.retain(&keep);
    Ok(*lock != before)
}

/// The packages below step `i` on `platform`: every pinned package of its parent steps.
fn installed(steps: &[Step], lock: &Lock, i: usize, platform: &str) -> Vec<Installed> {
    let mut out = Vec::new();
    let mut at = steps[i].parent;
    while let Some(p) = at {
        if let Some(entry) = lock.envs.get(&steps[p].env).and_then(|e| e.get(platform)) {
            out.extend(entry.packages.iter().map(|p| Installed {
                name: p.name.clone(),
                version: p.version.clone(),
                architecture: p.architecture.clone(),
            }));
        }
        at = steps[p].parent;
    }
    out.sort();
    out
}

/// An entry pins nothing its parents already install (else the parent moved under it).
fn consistent(entry: &PlatformLock, installed: &[Installed]) -> bool {
    !entry
        .packages
        .iter()
        .any(|p| installed.iter().any(|i| i.name == p.name))
}

/// What the executor needs to build `packages` nodes: the lock, which env declares each node,
/// and where packages come from.
#[derive(Debug, Clone)]
pub struct PackagesContext {
    pub lock: Lock,
    /// Graph node key (as displayed) → the env that declares the step.
    pub envs: BTreeMap<String, String>,
    pub repository: Repository,
    /// The store's download cache directory.
    pub downloads: PathBuf,
    /// The most layers an image may have.
    pub budget: usize,
}

impl PackagesContext {
    /// The pinned entry of a node on `platform`; the error names what the lock lacks.
    pub fn entry(
        &self,
        node: &str,
        names: &[String],
        platform: &str,
    ) -> Result<&PlatformLock, NotLocked> {
        let env = self.envs.get(node).map(String::as_str).unwrap_or(node);
        self.lock.locked(env, platform, names)
    }

    /// A digest of what the node installs (every pin, and with `apt_sources` everything the
    /// sources layer is made of): part of the node's cache key, so a moved pin or repository
    /// is never taken from the cache.
    pub fn pins(
        &self,
        node: &str,
        names: &[String],
        platform: &str,
        apt_sources: bool,
    ) -> Result<Digest, BuildError> {
        let entry = self.entry(node, names, platform)?;
        let mut h = sha2::Sha256::new();
        // Bump when what a step's layers are made of changes (grouping, database, configure):
        // cached results of the old way must not be taken.
        h.update(b"duckc-packages-pins-v2\0");
        h.update(self.budget.to_le_bytes());
        h.update(platform.as_bytes());
        for p in &entry.packages {
            h.update([0]);
            h.update(p.sha256.as_bytes());
        }
        if apt_sources {
            h.update(b"\0apt-sources\0");
            h.update(self.apt_sources(node, names, platform)?.digest());
        }
        Ok(Digest::from_hasher(h))
    }

    /// The apt sources of the node's image: the URI its lock entry records (the configured
    /// repository's for a lock written before it recorded one), the configured keyrings.
    pub fn apt_sources(
        &self,
        node: &str,
        names: &[String],
        platform: &str,
    ) -> Result<AptSources, BuildError> {
        let entry = self.entry(node, names, platform)?;
        let uri = entry
            .repository
            .uri
            .clone()
            .unwrap_or_else(|| self.repository.uri.clone());
        Ok(AptSources::new(&self.repository, &uri)?)
    }

    /// Builds the node's layers on `parent` (see [`layers::build_packages`]).
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        &self,
        store: &Store,
        node: &str,
        names: &[String],
        platform: &str,
        parent: &[LayerRef],
        apt_sources: bool,
        progress: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<Vec<LayerRef>, BuildError> {
        let entry = self.entry(node, names, platform)?;
        let packages: Vec<LockedPackage> = entry.packages.clone();
        // Read before anything is built: a missing keyring fails the step at once.
        let sources = if apt_sources {
            Some(self.apt_sources(node, names, platform)?)
        } else {
            None
        };
        let mut layers = layers::build_packages(
            store,
            &PackagesRequest {
                packages: &packages,
                repository: &self.repository,
                downloads: &self.downloads,
                platform,
                parent,
                budget: self.budget,
                requested: names,
            },
            progress,
        )?;
        if let Some(sources) = sources {
            layers.push(sources.write_layer(store)?);
        }
        Ok(layers)
    }
}

/// Why a node's layers could not be built; each cause keeps its code.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum BuildError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotLocked(#[from] NotLocked),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Layers(#[from] layers::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Sources(#[from] crate::apt_sources::Error),
}
