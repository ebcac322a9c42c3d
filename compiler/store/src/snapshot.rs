//! Snapshots: each layer unpacked once into `snapshots/sha256/<diff_id>/`, with overlayfs
//! whiteouts, for the runtime to use as a read-only overlay lower directory.
//!
//! A snapshot is unpacked into `tmp/`, checked (blob digest, size and diff_id while
//! streaming), described (a tree digest for `verify`), renamed into place, and only then
//! recorded in `<diff_id>.json`. That check is the one a pulled layer gets
//! ([`Store::snapshot_layer`]): the pull checks its blob's digest and size only, and the
//! layer is recorded under its diff_id once this unpack found that it gives it. A directory without its record is an interrupted unpack and
//! is redone; a per-layer lock makes concurrent callers unpack it once.
//!
//! An uncompressed layer blob that the snapshot gives back byte for byte when written again
//! (checked here, once) is then deleted: the record's `rewrite` says how to write it, and the
//! snapshot stands for the blob from then on ([`crate::rewrite`]).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use duckc_layer::{Digest, Expected, ExtractOptions};
use serde::{Deserialize, Serialize};

use crate::{Error, Result, Rewrite, Store, fsync_dir, io_err, write_atomic};

/// The record written once a snapshot is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    /// The layer.
    pub diff_id: Digest,
    /// The blob it was unpacked from.
    pub blob: Digest,
    /// Canonical digest of the unpacked tree (`duckc_layer::tree::digest`).
    pub tree: Digest,
    /// Entries in the layer.
    pub entries: u64,
    /// Bytes of uncompressed tar.
    pub diff_size: u64,
    /// Set when the layer's tar is written again from this snapshot (the store then keeps no
    /// blob file for it): how. Absent in records of older stores.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<Rewrite>,
    /// Set when the unpack could not give the layer's owners (a rootless duckc without
    /// subordinate ids leaves every file to itself): the first file that lost its owner. Such
    /// a snapshot runs, but a layer made on it would record wrong owners, so builds and
    /// commits on it are refused, and it is unpacked again once owners can be given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_owner: Option<duckc_layer::DroppedOwner>,
}

impl Store {
    /// The directory of the snapshot of `diff_id` (whether or not it exists).
    pub fn snapshot_path(&self, diff_id: &Digest) -> PathBuf {
        self.root().join("snapshots/sha256").join(diff_id.hex())
    }

    fn snapshot_record_path(&self, diff_id: &Digest) -> PathBuf {
        self.root()
            .join("snapshots/sha256")
            .join(format!("{}.json", diff_id.hex()))
    }

    /// The record of a complete snapshot, if there is one.
    pub fn snapshot_record(&self, diff_id: &Digest) -> Result<Option<SnapshotRecord>> {
        crate::read_record(&self.snapshot_record_path(diff_id))
    }

    /// The first file of `layers` (in order) whose snapshot lost its owner
    /// ([`SnapshotRecord::dropped_owner`]); layers not unpacked yet count as keeping theirs.
    pub fn dropped_owner(
        &self,
        layers: &[crate::LayerRef],
    ) -> Result<Option<duckc_layer::DroppedOwner>> {
        for l in layers {
            if let Some(d) = self
                .snapshot_record(&l.diff_id)?
                .and_then(|r| r.dropped_owner)
            {
                return Ok(Some(d));
            }
        }
        Ok(None)
    }

    /// The unpacked layer `diff_id`, unpacking it first if needed (once, shared by every
    /// image and container). Use it read-only, e.g. as an overlay `lowerdir`.
    pub fn snapshot(&self, diff_id: &Digest) -> Result<PathBuf> {
        self.snapshot_with(diff_id, &ExtractOptions::default())
    }

    /// [`Store::snapshot`] with explicit extraction options (limits, owners).
    pub fn snapshot_with(&self, diff_id: &Digest, opts: &ExtractOptions) -> Result<PathBuf> {
        self.snapshot_from(diff_id, None, opts)
    }

    /// [`Store::snapshot`] of `layer`, a layer of the image the caller calls `image` (for
    /// errors): when the store has no checked record of its diff_id (a pulled layer, never
    /// unpacked), the image's own blob is unpacked and the tar hashed in the same pass; only
    /// when it gives the diff_id is the layer recorded and the snapshot installed. Otherwise
    /// the partial tree is removed, nothing claims the diff_id, and the error is
    /// [`Error::DiffIdMismatch`]. When the diff_id is held, checked, from another blob, the
    /// image's own blob is still checked (one read, [`Store::check_layer`]): that image is
    /// not used (run, built upon, committed) on the word of the other one.
    pub fn snapshot_layer(&self, layer: &crate::LayerRef, image: &str) -> Result<PathBuf> {
        let dir = self.snapshot_from(
            &layer.diff_id,
            Some((layer, image)),
            &ExtractOptions::default(),
        )?;
        self.check_layer(layer, image)?;
        Ok(dir)
    }

    fn snapshot_from(
        &self,
        diff_id: &Digest,
        claimed: Option<(&crate::LayerRef, &str)>,
        opts: &ExtractOptions,
    ) -> Result<PathBuf> {
        let dir = self.snapshot_path(diff_id);
        // A snapshot unpacked without its owners (rootless, before subordinate ids were added)
        // is unpacked again once they can be given: `install_snapshot` replaces it.
        let complete = |rec: Option<SnapshotRecord>| {
            rec.is_some_and(|r| r.dropped_owner.is_none() || !opts.owners) && dir.is_dir()
        };
        if complete(self.snapshot_record(diff_id)?) {
            return Ok(dir);
        }
        let _lease = self.lease()?;
        let _lock = self.named_lock(&format!("snapshot-{}", diff_id.hex()))?;
        if complete(self.snapshot_record(diff_id)?) {
            return Ok(dir);
        }
        // A checked record names the blob to unpack; without one, the claimed layer's blob is
        // unpacked and checked (`image` is then set).
        let (layer, image) = match (self.layer(diff_id)?, claimed) {
            (Some(rec), _) if self.has_blob(&rec.layer.digest) => (rec, None),
            (_, Some((l, image))) => (
                crate::LayerRecord {
                    layer: l.clone(),
                    diff_size: None,
                    also: Vec::new(),
                },
                Some(image),
            ),
            (Some(rec), None) => (rec, None),
            (None, None) => return Err(Error::LayerMissing(*diff_id)),
        };
        let tmp = self.tmp_path("snapshot");
        fs::create_dir(&tmp).map_err(io_err(&tmp))?;
        let result = (|| {
            let blob = self.open_blob(&layer.layer.digest)?;
            let expected = Expected {
                digest: Some(layer.layer.digest),
                size: Some(layer.layer.size),
                diff_id: Some(*diff_id),
            };
            let stats = duckc_layer::unpack_layer(
                io::BufReader::with_capacity(1 << 20, blob),
                &tmp,
                opts,
                &expected,
            )
            .map_err(|source| match (image, source) {
                // A full disk is no fault of the layer's (the copy of an entry's bytes
                // reports its write as a read).
                (_, source) if crate::space::extract_no_space(&source) => Error::Extract {
                    diff_id: *diff_id,
                    source,
                },
                (
                    Some(image),
                    duckc_layer::ExtractError::DigestMismatch {
                        what: "uncompressed layer",
                        actual,
                        ..
                    },
                ) => Error::DiffIdMismatch {
                    image: image.to_owned(),
                    digest: layer.layer.digest,
                    diff_id: *diff_id,
                    reason: format!("it unpacks to `{actual}`"),
                },
                (Some(image), duckc_layer::ExtractError::Read(e)) => Error::DiffIdMismatch {
                    image: image.to_owned(),
                    digest: layer.layer.digest,
                    diff_id: *diff_id,
                    reason: format!("it does not unpack: {e}"),
                },
                (_, source) => Error::Extract {
                    diff_id: *diff_id,
                    source,
                },
            })?;
            let tree = duckc_layer::tree::digest(&tmp).map_err(io_err(&tmp))?;
            let rewrite = self.rewrites_to(&tmp, &layer.layer);
            Ok(SnapshotRecord {
                diff_id: *diff_id,
                blob: layer.layer.digest,
                tree,
                entries: stats.entries,
                diff_size: stats.diff_size,
                rewrite,
                dropped_owner: stats.dropped_owner,
            })
        })();
        let what = match image {
            Some(image) => format!("the unpacked layer `{diff_id}` of `{image}`"),
            None => format!("the unpacked layer `{diff_id}`"),
        };
        let record = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = duckc_layer::remove_tree(&tmp);
                return Err(self.no_space_as(e, &what));
            }
        };
        let installed = (|| {
            if image.is_some() {
                // Checked just now: the layer's record first (a crash before the snapshot is
                // installed leaves a record whose snapshot is made again when used).
                self.register_layer(&layer.layer, Some(record.diff_size))?;
            }
            self.install_snapshot(&tmp, &record)
        })();
        if let Err(e) = installed {
            let _ = duckc_layer::remove_tree(&tmp);
            return Err(self.no_space_as(e, &what));
        }
        if image.is_none() && layer.diff_size.is_none() {
            self.register_layer(&layer.layer, Some(record.diff_size))?;
        }
        if record.rewrite.is_some() {
            // The snapshot, recorded first, stands for the blob from now on.
            crate::crash_point("snapshot-before-blob-removal");
            self.remove_blob(&layer.layer.digest)?;
        }
        Ok(dir)
    }

    /// Whether the tree `dir`, just unpacked from the uncompressed blob `layer`, gives that
    /// blob back when written as an overlay upper directory: then the blob need not be kept.
    /// Compressed blobs (pulled layers) are kept as they are: compressing again would need the
    /// very encoder that made them. An unpack that loses something (no owners or devices for a
    /// user without privileges, an xattr the file system refuses) gives other bytes and keeps
    /// the blob, and so does a tree that cannot be read back (the snapshot is still good).
    fn rewrites_to(&self, dir: &Path, layer: &crate::LayerRef) -> Option<Rewrite> {
        if layer.digest != layer.diff_id
            || duckc_layer::Compression::from_media_type(&layer.media_type)
                != Some(duckc_layer::Compression::None)
        {
            return None;
        }
        let opts = crate::rewrite::rewrite_options(Rewrite::Overlay);
        let out = duckc_layer::HashingWriter::new(io::sink());
        let (out, _) = duckc_layer::write_tar(dir, &opts, out).ok()?;
        let (_, digest, size) = out.finish();
        (digest == layer.digest && size == layer.size).then_some(Rewrite::Overlay)
    }

    /// Moves the complete tree `tmp` into place as the snapshot `record` describes, then
    /// writes the record (the caller holds the snapshot's lock).
    pub(crate) fn install_snapshot(&self, tmp: &Path, record: &SnapshotRecord) -> Result<()> {
        let dir = self.snapshot_path(&record.diff_id);
        if fs::symlink_metadata(&dir).is_ok() {
            duckc_layer::remove_tree(&dir).map_err(io_err(&dir))?;
        }
        crate::crash_point("snapshot-before-rename");
        fs::rename(tmp, &dir).map_err(io_err(&dir))?;
        crate::crash_point("snapshot-before-record");
        fsync_dir(dir.parent().expect("snapshot has a parent"))?;
        let bytes = serde_json::to_vec(record).expect("snapshot record serialises");
        write_atomic(self, &self.snapshot_record_path(&record.diff_id), &bytes)
    }

    /// Every snapshot directory or record present (complete or not).
    pub fn snapshots(&self) -> Result<Vec<Digest>> {
        let dir = self.root().join("snapshots/sha256");
        let mut all = crate::blobs::list_hex(&dir, "")?;
        all.extend(crate::blobs::list_hex(&dir, ".json")?);
        all.sort();
        all.dedup();
        Ok(all)
    }

    /// Remove a snapshot: its record first (so it is never half-present but recorded), then
    /// its tree, moved to `tmp/` before deletion.
    pub fn remove_snapshot(&self, diff_id: &Digest) -> Result<()> {
        let rec = self.snapshot_record_path(diff_id);
        if let Err(e) = fs::remove_file(&rec)
            && e.kind() != io::ErrorKind::NotFound
        {
            return Err(io_err(&rec)(e));
        }
        let dir = self.snapshot_path(diff_id);
        if fs::symlink_metadata(&dir).is_ok() {
            let trash = self.tmp_path("trash");
            fs::rename(&dir, &trash).map_err(io_err(&dir))?;
            duckc_layer::remove_tree(&trash).map_err(io_err(&trash))?;
        }
        Ok(())
    }
}
