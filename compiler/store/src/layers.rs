//! The layer index: which blob holds the layer with a given diff_id (and its uncompressed
//! size), so a snapshot can be made from a diff_id alone; and writing a directory as a layer.
//!
//! A record is written only once the blob is known to unpack to the diff_id (the writer hashed
//! the tar, or a reader checked it): every reader trusts it. A pulled layer has no record
//! until its first unpack ([`Store::snapshot_layer`]) or full read ([`Store::check_layer`]),
//! so a registry's blob that does not unpack to the diff_id its config claims never stands
//! for that diff_id.

use std::fs;
use std::io;
use std::path::Path;

use duckc_layer::{Digest, WriteOptions};
use serde::{Deserialize, Serialize};

use crate::{Durability, Error, Result, Store, io_err, write_atomic_with};

/// A layer of an image: its blob and its uncompressed digest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Digest of the blob.
    pub digest: Digest,
    /// Digest of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the blob.
    pub size: u64,
    /// OCI media type of the blob.
    pub media_type: String,
}

/// What the store knows about a layer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRecord {
    /// The layer.
    #[serde(flatten)]
    pub layer: LayerRef,
    /// Size of the uncompressed tar, when known.
    #[serde(default)]
    pub diff_size: Option<u64>,
    /// Other blobs found to unpack to this diff_id (another image may name another
    /// compression of the same layer): each checked once, by [`Store::check_layer`]. A
    /// digest names its bytes for ever, so an entry stays true after gc removes its blob.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub also: Vec<Digest>,
}

impl Store {
    fn layer_record_path(&self, diff_id: &Digest) -> std::path::PathBuf {
        self.root()
            .join("layers/sha256")
            .join(format!("{}.json", diff_id.hex()))
    }

    /// Record that `layer.digest` holds the layer `layer.diff_id` (the blob must be stored).
    pub fn register_layer(&self, layer: &LayerRef, diff_size: Option<u64>) -> Result<()> {
        self.register_layer_with(layer, diff_size, Durability::Now)
    }

    /// [`Store::register_layer`]; with [`Durability::Batched`] the record's directory is not
    /// fsynced: call [`Store::sync_layers`] before anything relies on the record surviving a
    /// crash. The blob's name must be durable first ([`Store::sync_blobs`]), so that a record
    /// never outlives its blob.
    pub fn register_layer_with(
        &self,
        layer: &LayerRef,
        diff_size: Option<u64>,
        durability: Durability,
    ) -> Result<()> {
        if !self.has_blob(&layer.digest) {
            return Err(Error::BlobMissing(layer.digest));
        }
        if let Some(old) = self.layer(&layer.diff_id)?
            && self.has_blob(&old.layer.digest)
            && (old.diff_size.is_some() || diff_size.is_none())
        {
            return Ok(());
        }
        let rec = LayerRecord {
            layer: layer.clone(),
            diff_size,
            also: Vec::new(),
        };
        let bytes = serde_json::to_vec(&rec).expect("layer record serialises");
        write_atomic_with(
            self,
            &self.layer_record_path(&layer.diff_id),
            &bytes,
            durability,
        )
    }

    /// Make the layer records written with [`Durability::Batched`] durable (one fsync of the
    /// record directory).
    pub fn sync_layers(&self) -> Result<()> {
        crate::fsync_dir(&self.root().join("layers/sha256"))
    }

    /// The record for the layer `diff_id`, if any.
    pub fn layer(&self, diff_id: &Digest) -> Result<Option<LayerRecord>> {
        crate::read_record(&self.layer_record_path(diff_id))
    }

    /// Every layer record.
    pub fn layers(&self) -> Result<Vec<LayerRecord>> {
        let mut out = Vec::new();
        for d in crate::blobs::list_hex(&self.root().join("layers/sha256"), ".json")? {
            if let Some(r) = self.layer(&d)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Whether the store holds checked bytes for the layer `diff_id`: a record whose blob is
    /// present. A pulled layer has none until it is first unpacked or read in full
    /// ([`Store::check_layer`], [`Store::snapshot_layer`]): its blob's digest and size were
    /// checked, but not that it unpacks to the diff_id its image's config claims.
    pub fn is_checked(&self, diff_id: &Digest) -> Result<bool> {
        Ok(self
            .layer(diff_id)?
            .is_some_and(|r| self.has_blob(&r.layer.digest)))
    }

    /// Whether `layer`'s own blob is known to unpack to its diff_id: the diff_id is checked
    /// ([`Store::is_checked`]) and its record names that blob, or lists it as found to unpack
    /// to it too. A checked diff_id says nothing of another blob an image claims for it.
    pub fn is_checked_blob(&self, layer: &LayerRef) -> Result<bool> {
        Ok(self.layer(&layer.diff_id)?.is_some_and(|r| {
            self.has_blob(&r.layer.digest)
                && (r.layer.digest == layer.digest || r.also.contains(&layer.digest))
        }))
    }

    /// Check that the blob of `layer`, a layer of the image the caller calls `image`, unpacks
    /// to its diff_id (one decompressing read, nothing written) and record it; nothing to do
    /// when that blob is checked already ([`Store::is_checked_blob`]). A diff_id the store
    /// holds from another blob does not vouch for this one: it is read too (an image that
    /// names it would be saved, pushed and built upon with its own bytes). On a mismatch
    /// nothing is recorded and the error is [`Error::DiffIdMismatch`].
    pub fn check_layer(&self, layer: &LayerRef, image: &str) -> Result<()> {
        if self.is_checked_blob(layer)? {
            return Ok(());
        }
        let _lease = self.lease()?;
        let n = self.check_layer_blob(layer, image)?;
        self.record_checked(layer, n)
    }

    /// Record `layer`, whose blob was just found to unpack to its diff_id (`diff_size` bytes
    /// of tar): its record when the diff_id has no checked one, else one more blob on it.
    pub fn record_checked(&self, layer: &LayerRef, diff_size: u64) -> Result<()> {
        match self.layer(&layer.diff_id)? {
            Some(mut r) if self.has_blob(&r.layer.digest) => {
                if r.layer.digest == layer.digest {
                    // Its own record: completed with the size when it lacked one.
                    return self.register_layer(layer, Some(diff_size));
                }
                if r.also.contains(&layer.digest) {
                    return Ok(());
                }
                // Two writers at once may lose one entry: that blob is read again when next
                // claimed, nothing unchecked is ever listed.
                r.also.push(layer.digest);
                let bytes = serde_json::to_vec(&r).expect("layer record serialises");
                write_atomic_with(
                    self,
                    &self.layer_record_path(&layer.diff_id),
                    &bytes,
                    Durability::Now,
                )
            }
            _ => self.register_layer(layer, Some(diff_size)),
        }
    }

    /// Whether the blob of `layer` unpacks to its diff_id (one decompressing read), whatever
    /// the store has recorded for that diff_id: the tar's size, or [`Error::DiffIdMismatch`].
    pub fn check_layer_blob(&self, layer: &LayerRef, image: &str) -> Result<u64> {
        let blob = self.open_blob(&layer.digest)?;
        let tar = duckc_layer::compress::decoder(io::BufReader::with_capacity(1 << 20, blob))
            .and_then(duckc_layer::digest::digest_reader);
        let mismatch = |reason: String| Error::DiffIdMismatch {
            image: image.to_owned(),
            digest: layer.digest,
            diff_id: layer.diff_id,
            reason,
        };
        match tar {
            Ok((actual, n)) if actual == layer.diff_id => Ok(n),
            Ok((actual, _)) => Err(mismatch(format!("it unpacks to `{actual}`"))),
            Err(e) => Err(mismatch(format!("it does not unpack: {e}"))),
        }
    }

    /// Remove a layer record (used by gc).
    pub fn remove_layer_record(&self, diff_id: &Digest) -> Result<()> {
        let p = self.layer_record_path(diff_id);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Write the tree under `dir` as a reproducible layer blob (hashed and compressed in one
    /// pass), store it and index it. `opts.source` says whether `dir` is an overlay upper dir.
    pub fn write_layer(&self, dir: &Path, opts: &WriteOptions) -> Result<LayerRef> {
        Ok(self.write_layer_info(dir, opts)?.0)
    }

    fn write_layer_info(
        &self,
        dir: &Path,
        opts: &WriteOptions,
    ) -> Result<(LayerRef, duckc_layer::LayerInfo)> {
        let _lease = self.lease()?;
        // A full disk says so (the half-written blob is removed when its writer drops).
        let written = (|| {
            let w = self.blob_writer()?;
            let (w, info) = duckc_layer::write_layer(dir, opts, w)?;
            let (digest, size) = w.commit(Some((&info.digest, info.size)))?;
            Ok((info, digest, size))
        })();
        let (info, digest, size) =
            written.map_err(|e| self.no_space_as(e, &format!("a layer of `{}`", dir.display())))?;
        let layer = LayerRef {
            digest,
            diff_id: info.diff_id,
            size,
            media_type: info.compression.media_type().to_owned(),
        };
        self.register_layer(&layer, Some(info.diff_size))?;
        Ok((layer, info))
    }

    /// [`Store::write_layer`], then keep `dir` as the layer's snapshot instead of unpacking the
    /// blob again later: its mtimes are clamped as the writer clamps them (so it is the tree
    /// unpacking the blob gives, times included), it is described and renamed into
    /// `snapshots/`. `dir` must be under [`Store::tmp_dir`] and is gone afterwards (removed if
    /// the snapshot already exists). Only for plain directories: an overlay upper directory's
    /// whiteouts and overlay xattrs are not what the layer holds.
    ///
    /// An uncompressed layer (what builds write) gets no blob file at all: the tar is only
    /// hashed, and the snapshot, recorded as [`crate::Rewrite::Plain`], stands for the blob
    /// (writing the same directory again gives the same bytes).
    pub fn write_layer_snapshot(&self, dir: &Path, opts: &WriteOptions) -> Result<LayerRef> {
        let _lease = self.lease()?;
        if opts.source != duckc_layer::SourceKind::Plain {
            let (layer, _) = self.write_layer_info(dir, opts)?;
            duckc_layer::remove_tree(dir).map_err(io_err(dir))?;
            return Ok(layer);
        }
        if opts.compression != duckc_layer::Compression::None {
            let (layer, info) = self.write_layer_info(dir, opts)?;
            self.adopt_snapshot(&layer, &info, dir, opts.epoch, None)?;
            return Ok(layer);
        }
        let (_, info) = duckc_layer::write_layer(dir, opts, io::sink())?;
        let layer = LayerRef {
            digest: info.digest,
            diff_id: info.diff_id,
            size: info.size,
            media_type: info.compression.media_type().to_owned(),
        };
        self.adopt_snapshot(&layer, &info, dir, opts.epoch, Some(opts))?;
        self.register_layer(&layer, Some(info.diff_size))?;
        Ok(layer)
    }

    /// Install `dir` as the snapshot of `layer` (unless a snapshot is there already). With
    /// `rewrite_from` (the options the layer was written with), the snapshot stands for the
    /// layer's blob, which no file need hold.
    fn adopt_snapshot(
        &self,
        layer: &LayerRef,
        info: &duckc_layer::LayerInfo,
        dir: &Path,
        epoch: u64,
        rewrite_from: Option<&WriteOptions>,
    ) -> Result<()> {
        let rewrite = rewrite_from.map(|_| crate::Rewrite::Plain);
        let diff_id = &layer.diff_id;
        let target = self.snapshot_path(diff_id);
        let _lock = self.named_lock(&format!("snapshot-{}", diff_id.hex()))?;
        if self.snapshot_record(diff_id)?.is_some() && target.is_dir() {
            // The snapshot there serves (it may be in use as a lower directory, so it stays).
            // When it cannot stand for this layer's blob (an older store's, or one unpacked
            // from a compressed blob of the same layer), the blob is written as a file.
            if let Some(opts) = rewrite_from
                && !self.has_blob(&layer.digest)
            {
                let w = self.blob_writer()?;
                let (w, _) = duckc_layer::write_layer(dir, opts, w)?;
                w.commit(Some((&layer.digest, layer.size)))?;
            }
            return duckc_layer::remove_tree(dir).map_err(io_err(dir));
        }
        duckc_layer::clamp_mtimes(dir, epoch).map_err(io_err(dir))?;
        let tree = duckc_layer::tree::digest(dir).map_err(io_err(dir))?;
        let record = crate::SnapshotRecord {
            diff_id: *diff_id,
            blob: layer.digest,
            tree,
            entries: info.entries,
            diff_size: info.diff_size,
            rewrite,
            dropped_owner: None,
        };
        self.install_snapshot(dir, &record)?;
        if rewrite.is_some() {
            // A blob file of the same layer (built before, by an older duckc) is redundant now.
            self.remove_blob(&layer.digest)?;
        }
        Ok(())
    }
}
