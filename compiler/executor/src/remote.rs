//! A second tier of the build cache kept somewhere else (a registry, for CI runners that share
//! one): asked for a node's cache key when the store's own cache has no entry, it brings the
//! entry's layers into the store and records them in the store's cache index, so the step is
//! then taken from the cache exactly as if it had been built here (`Using cache`).

use duckc_store::{Digest, Store};

/// A cache of build results outside the store.
pub trait RemoteCache: std::fmt::Debug + Send + Sync {
    /// Bring the entry for cache key `key` into `store`: its layers' blobs and the store's
    /// cache index entry. `Ok(false)` when the remote cache has no such entry. An error is
    /// reported by the build as a warning, and the step is then built.
    fn import(&self, store: &Store, key: &Digest) -> Result<bool, String>;
}
