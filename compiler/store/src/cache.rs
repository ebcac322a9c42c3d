//! The build cache index: a layer-graph node key (a digest of everything that can change the
//! node's output) → the layer it produced.

use std::fs;
use std::io;
use std::path::PathBuf;

use duckc_layer::Digest;

use crate::{Error, LayerRef, Result, Store, io_err, write_atomic};

impl Store {
    fn cache_path(&self, key: &Digest) -> PathBuf {
        self.root()
            .join("cache/sha256")
            .join(format!("{}.json", key.hex()))
    }

    /// The layer cached under `key`, if it and its blob are present.
    pub fn cache_get(&self, key: &Digest) -> Result<Option<LayerRef>> {
        let Some(layer) = crate::read_record::<LayerRef>(&self.cache_path(key))? else {
            return Ok(None);
        };
        Ok(self.has_blob(&layer.digest).then_some(layer))
    }

    /// Cache `layer` (whose blob must be stored) under `key`.
    pub fn cache_put(&self, key: &Digest, layer: &LayerRef) -> Result<()> {
        if !self.has_blob(&layer.digest) {
            return Err(Error::BlobMissing(layer.digest));
        }
        let bytes = serde_json::to_vec(layer).expect("layer ref serialises");
        write_atomic(self, &self.cache_path(key), &bytes)
    }

    fn cache_many_path(&self, key: &Digest) -> PathBuf {
        self.root()
            .join("cache/sha256")
            .join(format!("{}.layers.json", key.hex()))
    }

    /// The layers cached under `key` by [`Store::cache_put_many`], if every blob is present
    /// (a node that yields several layers, such as a `packages` step).
    pub fn cache_get_many(&self, key: &Digest) -> Result<Option<Vec<LayerRef>>> {
        let Some(layers) = crate::read_record::<Vec<LayerRef>>(&self.cache_many_path(key))? else {
            return Ok(None);
        };
        Ok(layers
            .iter()
            .all(|l| self.has_blob(&l.digest))
            .then_some(layers))
    }

    /// Cache several `layers` (bottom first; every blob must be stored) under `key`.
    pub fn cache_put_many(&self, key: &Digest, layers: &[LayerRef]) -> Result<()> {
        if let Some(l) = layers.iter().find(|l| !self.has_blob(&l.digest)) {
            return Err(Error::BlobMissing(l.digest));
        }
        let bytes = serde_json::to_vec(layers).expect("layer refs serialise");
        write_atomic(self, &self.cache_many_path(key), &bytes)
    }

    /// Every cache entry; an entry of several layers appears once per layer.
    pub fn cache_entries(&self) -> Result<Vec<(Digest, LayerRef)>> {
        let mut out = Vec::new();
        for key in crate::blobs::list_hex(&self.root().join("cache/sha256"), ".layers.json")? {
            if let Ok(b) = fs::read(self.cache_many_path(&key))
                && let Ok(layers) = serde_json::from_slice::<Vec<LayerRef>>(&b)
            {
                out.extend(layers.into_iter().map(|l| (key, l)));
            }
        }
        for key in crate::blobs::list_hex(&self.root().join("cache/sha256"), ".json")? {
            let p = self.cache_path(&key);
            if let Ok(b) = fs::read(&p)
                && let Ok(l) = serde_json::from_slice(&b)
            {
                out.push((key, l));
            }
        }
        Ok(out)
    }

    /// Drop a cache entry (of one layer or several).
    pub fn cache_remove(&self, key: &Digest) -> Result<()> {
        let many = self.cache_many_path(key);
        match fs::remove_file(&many) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&many)(e)),
        }
        let p = self.cache_path(key);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }
}
