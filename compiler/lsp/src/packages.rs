//! Package names for completion inside `packages "…"`: read from the apt index that `duckc lock`
//! or `duckc build` left in the download cache, never from the network (an editor must not
//! start downloads), and kept by index digest so that the index is read once. Opening a spec
//! with `packages` steps starts reading it on a thread ([`PackageNames::prefetch`]), so the
//! first completion seldom waits for it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use duckc_packages::cached;
use duckc_packages::download::DownloadCache;
use duckc_packages::source::{Repository, Settings};

/// The most names one completion answers; the list is marked incomplete past it, so the
/// editor asks again as more is typed.
pub(crate) const LIMIT: usize = 200;

/// Package names and their versions, sorted by name.
type Names = Arc<Vec<(String, String)>>;

/// A thread reading an index's names.
type Reading = JoinHandle<Option<Vec<(String, String)>>>;

/// The download cache and the names read from it so far.
#[derive(Default)]
pub(crate) struct PackageNames {
    /// The store's `downloads/` directory; `None`: no package names.
    downloads: Option<PathBuf>,
    /// By record digest: an index read once is not read again while it stays the latest.
    loaded: HashMap<String, Names>,
    /// By record digest: indexes being read on a thread.
    pending: HashMap<String, Reading>,
}

impl PackageNames {
    pub fn new(downloads: Option<PathBuf>) -> PackageNames {
        PackageNames {
            downloads,
            loaded: HashMap::new(),
            pending: HashMap::new(),
        }
    }

    /// Starts reading the cached index for `architecture` on a thread, unless it is read or
    /// being read already.
    pub fn prefetch(&mut self, architecture: &str) {
        let Some((cache, record)) = self.record(architecture) else {
            return;
        };
        let digest = record.digest();
        if self.loaded.contains_key(&digest) || self.pending.contains_key(&digest) {
            return;
        }
        let architecture = architecture.to_owned();
        let thread = std::thread::Builder::new()
            .name("duckc-lsp-packages".into())
            .spawn(move || cached::names(&cache, &record, &architecture));
        if let Ok(thread) = thread {
            self.pending.insert(digest, thread);
        }
    }

    /// The names (and versions) of the cached index of the configured repository for
    /// `architecture` that start with `prefix`, at most [`LIMIT`]; and whether there were more.
    /// Nothing cached, no repository configured, or an unreadable index: no names.
    pub fn complete(&mut self, architecture: &str, prefix: &str) -> (Vec<(String, String)>, bool) {
        match self.names(architecture) {
            Some(names) => starting_with(&names, prefix),
            None => (Vec::new(), false),
        }
    }

    /// The download cache and its record of the configured repository's index for
    /// `architecture`. Read each time (a few small files): `duckc lock` may have fetched a
    /// newer index, or the configuration changed, since the last completion.
    fn record(&self, architecture: &str) -> Option<(DownloadCache, cached::Record)> {
        let cache = DownloadCache::new(self.downloads.as_ref()?);
        let record = cached::read(&cache, &repository()?, architecture)?;
        Some((cache, record))
    }

    fn names(&mut self, architecture: &str) -> Option<Names> {
        let (cache, record) = self.record(architecture)?;
        let digest = record.digest();
        if let Some(names) = self.loaded.get(&digest) {
            return Some(names.clone());
        }
        let read = match self.pending.remove(&digest) {
            Some(thread) => thread.join().ok().flatten(),
            None => cached::names(&cache, &record, architecture),
        };
        let names = Arc::new(read?);
        // Only the latest index of each repository is worth keeping.
        if self.loaded.len() >= 8 {
            self.loaded.clear();
        }
        self.loaded.insert(digest, names.clone());
        Some(names)
    }
}

/// The first [`LIMIT`] of the sorted `names` that start with `prefix`, and whether there are
/// more.
fn starting_with(names: &[(String, String)], prefix: &str) -> (Vec<(String, String)>, bool) {
    let start = names.partition_point(|(n, _)| n.as_str() < prefix);
    let mut matching = names[start..]
        .iter()
        .take_while(|(n, _)| n.starts_with(prefix));
    let out: Vec<(String, String)> = matching.by_ref().take(LIMIT).cloned().collect();
    let more = matching.next().is_some();
    (out, more)
}

/// The repository `duckc lock` would use here (the flag aside): from `DUCKC_APT_REPOSITORY`,
/// the config files or the host's apt sources, all read from disk.
fn repository() -> Option<Repository> {
    duckc_packages::source::configured(&Settings::from_env(None))
        .ok()
        .map(|c| c.repository)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_found_by_prefix_and_capped() {
        let mut names: Vec<(String, String)> = (0..300)
            .map(|i| (format!("lib{i:03}"), "1".to_owned()))
            .chain([
                ("libz".into(), "2".into()),
                ("python3".into(), "3.11".into()),
            ])
            .collect();
        names.sort();
        let (found, more) = starting_with(&names, "lib");
        assert_eq!((found.len(), more), (LIMIT, true));
        assert_eq!(found[0].0, "lib000");
        let (found, more) = starting_with(&names, "lib29");
        assert_eq!((found.len(), more), (10, false));
        let (found, more) = starting_with(&names, "py");
        assert_eq!(
            (found, more),
            (vec![("python3".into(), "3.11".into())], false)
        );
        assert_eq!(starting_with(&names, "zz"), (Vec::new(), false));
        assert_eq!(starting_with(&names, "").0.len(), LIMIT);
    }

    #[test]
    fn no_cache_no_names() {
        let dir = tempfile::tempdir().unwrap();
        let mut names = PackageNames::new(Some(dir.path().join("downloads")));
        assert_eq!(names.complete("amd64", "py"), (Vec::new(), false));
        assert_eq!(
            PackageNames::new(None).complete("amd64", ""),
            (Vec::new(), false)
        );
        assert!(!dir.path().join("downloads").exists());
    }
}
