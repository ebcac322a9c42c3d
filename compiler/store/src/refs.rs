//! Image refs: the set of images in the store (by manifest or index digest) and the tags
//! (`name:tag` → digest), in one JSON file replaced atomically under a lock; and extra gc
//! roots such as containers.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::PathBuf;

use duckc_layer::Digest;
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Store, io_err, write_atomic};

/// One image known to the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ImageEntry {
    /// When it entered the store (seconds since the epoch).
    pub added: u64,
}

/// All images and tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Refs {
    /// Images by manifest (or index) digest.
    pub images: BTreeMap<Digest, ImageEntry>,
    /// `name:tag` → manifest (or index) digest.
    pub tags: BTreeMap<String, Digest>,
}

impl Refs {
    /// The tags that point at `digest`, sorted.
    pub fn tags_of(&self, digest: &Digest) -> Vec<&str> {
        self.tags
            .iter()
            .filter(|(_, d)| *d == digest)
            .map(|(t, _)| t.as_str())
            .collect()
    }
}

impl Store {
    fn refs_path(&self) -> PathBuf {
        self.root().join("refs.json")
    }

    /// The current images and tags.
    pub fn refs(&self) -> Result<Refs> {
        let p = self.refs_path();
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| Error::Corrupt {
                path: p,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Refs::default()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Change the refs under an exclusive lock; the new file replaces the old atomically.
    pub fn update_refs<T>(&self, f: impl FnOnce(&mut Refs) -> Result<T>) -> Result<T> {
        let _lock = self.named_lock("refs")?;
        let mut refs = self.refs()?;
        let out = f(&mut refs)?;
        let bytes = serde_json::to_vec_pretty(&refs).expect("refs serialise");
        write_atomic(self, &self.refs_path(), &bytes)?;
        Ok(out)
    }

    fn root_path(&self, id: &str) -> PathBuf {
        let safe: String = id
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.root().join("roots").join(safe)
    }

    /// Keep the images `digests` (manifest or index digests) alive for `id` (e.g. a container
    /// id) until [`Store::remove_root`]: gc never deletes them or their layers and snapshots.
    pub fn add_root(&self, id: &str, digests: &[Digest]) -> Result<()> {
        let text: String = digests.iter().map(|d| format!("{d}\n")).collect();
        write_atomic(self, &self.root_path(id), text.as_bytes())
    }

    /// Like [`Store::add_root`] but without fsync, for roots that need not survive a crash (a
    /// foreground `--rm` container is gone after one anyway). Still atomic: a temporary file
    /// renamed into place, so gc never reads half a root.
    pub fn add_volatile_root(&self, id: &str, digests: &[Digest]) -> Result<()> {
        let text: String = digests.iter().map(|d| format!("{d}\n")).collect();
        let path = self.root_path(id);
        let tmp = self.tmp_path("root");
        fs::write(&tmp, text).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))
    }

    /// Forget the gc root `id`.
    pub fn remove_root(&self, id: &str) -> Result<()> {
        let p = self.root_path(id);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Every gc root: (id, digests).
    pub fn roots(&self) -> Result<Vec<(String, Vec<Digest>)>> {
        let dir = self.root().join("roots");
        let mut out = Vec::new();
        for e in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let e = e.map_err(io_err(&dir))?;
            if e.file_name().to_string_lossy().starts_with('.') {
                continue;
            }
            let text = fs::read_to_string(e.path()).map_err(io_err(&e.path()))?;
            let digests = text.lines().filter_map(|l| l.trim().parse().ok()).collect();
            out.push((e.file_name().to_string_lossy().into_owned(), digests));
        }
        out.sort();
        Ok(out)
    }
}
