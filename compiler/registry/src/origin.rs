//! Where a stored image came from and where it went: the registry, repository and manifest
//! digest of each pull and push, kept as `registry/origins/<image digest hex>.json` in the
//! store, for `duckc inspect` (`RepoDigests`, `Origin`) and `duckc images --digests`.

use std::path::PathBuf;

use duckc_store::{Digest, Store};
use serde::{Deserialize, Serialize};

/// At most this many records per image (the newest kept).
const MAX_RECORDS: usize = 32;

/// One transfer of an image.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// `pull` or `push`.
    pub action: String,
    /// `host[:port]`.
    pub registry: String,
    /// The repository in the registry.
    pub repository: String,
    /// The tag, when it was pulled or pushed by tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// The digest the registry has for it (an index's for a multi-platform pull).
    pub digest: Digest,
    /// The local repository name it was stored under or pushed from (`your/duck` for a short
    /// name pulled through a search registry; `host/your/duck` otherwise).
    #[serde(default)]
    pub local: Option<String>,
}

/// The repository part of a local image name: `host:5000/a/b:tag` → `host:5000/a/b`.
pub fn local_repository(name: &str) -> &str {
    let name = name.split_once('@').map_or(name, |(n, _)| n);
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

impl Origin {
    /// `host/repository`, as Docker names a repository.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// `host/repository@sha256:…`, Docker's repo digest.
    pub fn repo_digest(&self) -> String {
        format!("{}@{}", self.repository_name(), self.digest)
    }
}

fn path(store: &Store, image: &Digest) -> PathBuf {
    store
        .root()
        .join("registry/origins")
        .join(format!("{}.json", image.hex()))
}

/// Every record for the stored image `image` (its manifest or index digest), oldest first.
pub fn read(store: &Store, image: &Digest) -> Vec<Origin> {
    std::fs::read(path(store, image))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Add `origin` to the records of `image` (best effort: a failure loses only the record).
pub fn remember(store: &Store, image: &Digest, origin: Origin) {
    let mut all = read(store, image);
    if all.last() == Some(&origin) {
        return;
    }
    all.retain(|o| o != &origin);
    all.push(origin);
    if all.len() > MAX_RECORDS {
        all.drain(..all.len() - MAX_RECORDS);
    }
    let p = path(store, image);
    if let Some(dir) = p.parent()
        && duckc_store::modes::create_private_dir(dir).is_ok()
    {
        let bytes = serde_json::to_vec_pretty(&all).expect("origins serialise");
        let _ = duckc_store::write_atomic(store, &p, &bytes);
    }
}

/// Where `image` was pulled from last, if it was pulled.
pub fn pulled_from(store: &Store, image: &Digest) -> Option<Origin> {
    read(store, image)
        .into_iter()
        .rev()
        .find(|o| o.action == "pull")
}

/// The digest the registry has for `image` under the local repository name `local` (as
/// `images` shows it: `host/repository`, or the short name a pull through a search registry
/// stored it under), by the newest record.
pub fn repo_digest(store: &Store, image: &Digest, local: &str) -> Option<Digest> {
    read(store, image)
        .into_iter()
        .rev()
        .find(|o| o.repository_name() == local || o.local.as_deref() == Some(local))
        .map(|o| o.digest)
}

#[cfg(test)]
mod tests {
    use super::local_repository;

    #[test]
    fn local_repository_drops_the_tag_or_digest() {
        assert_eq!(local_repository("host:5000/a/b:v2"), "host:5000/a/b");
        assert_eq!(local_repository("host:5000/a/b"), "host:5000/a/b");
        assert_eq!(local_repository("debian:bookworm"), "debian");
        assert_eq!(local_repository("host:5000/a@sha256:00"), "host:5000/a");
    }
}
