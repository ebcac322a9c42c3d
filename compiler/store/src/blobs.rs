//! Blobs by sha256: written to `tmp/`, checked, then renamed to `blobs/sha256/<hex>`, so a
//! blob is only ever visible under its name with exactly the bytes that hash to it.
//!
//! A build layer's uncompressed blob may have no file: its snapshot stands for it
//! ([`crate::rewrite`]). [`Store::has_blob`], [`Store::blob_size`] and [`Store::open_blob`]
//! treat such a blob as present, so readers need not know; [`Store::list_blobs`] and
//! [`Store::remove_blob`] deal in files.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use duckc_layer::{Digest, HashingWriter};

use crate::{BlobReader, Durability, Error, Result, Store, fsync_dir, io_err};

/// A blob being written. Call [`BlobWriter::commit`]; dropping it discards the bytes.
#[derive(Debug)]
pub struct BlobWriter {
    tmp: PathBuf,
    final_dir: PathBuf,
    out: Option<HashingWriter<BufWriter<File>>>,
}

impl BlobWriter {
    /// Check the bytes against `expected` (when given), make them durable and publish them.
    pub fn commit(self, expected: Option<(&Digest, u64)>) -> Result<(Digest, u64)> {
        self.commit_with(expected, Durability::Now)
    }

    /// [`BlobWriter::commit`]; with [`Durability::Batched`] the blob directory is not fsynced
    /// after the rename: call [`Store::sync_blobs`] before anything refers to the blob.
    pub fn commit_with(
        mut self,
        expected: Option<(&Digest, u64)>,
        durability: Durability,
    ) -> Result<(Digest, u64)> {
        let out = self.out.take().expect("blob writer used after commit");
        let result = self.publish(out, expected, durability);
        if result.is_err() {
            let _ = fs::remove_file(&self.tmp);
        }
        result
    }

    fn publish(
        &self,
        out: HashingWriter<BufWriter<File>>,
        expected: Option<(&Digest, u64)>,
        durability: Durability,
    ) -> Result<(Digest, u64)> {
        let (buf, digest, size) = out.finish();
        let file = buf
            .into_inner()
            .map_err(|e| io_err(&self.tmp)(e.into_error()))?;
        if let Some((want, want_size)) = expected {
            if size != want_size {
                return Err(Error::SizeMismatch {
                    what: want.to_string(),
                    expected: want_size,
                    actual: size,
                });
            }
            if digest != *want {
                return Err(Error::DigestMismatch {
                    what: want.to_string(),
                    expected: *want,
                    actual: digest,
                });
            }
        }
        file.sync_all().map_err(io_err(&self.tmp))?;
        drop(file);
        let dest = self.final_dir.join(digest.hex());
        crate::crash_point("blob-before-rename");
        fs::rename(&self.tmp, &dest).map_err(io_err(&dest))?;
        crate::crash_point("blob-after-rename");
        if durability == Durability::Now {
            fsync_dir(&self.final_dir)?;
        }
        Ok((digest, size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out
            .as_mut()
            .expect("blob writer used after commit")
            .write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out
            .as_mut()
            .expect("blob writer used after commit")
            .flush()
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        if self.out.is_some() {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

impl Store {
    /// Where the blob `digest` lives (whether or not it exists).
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.root().join("blobs/sha256").join(digest.hex())
    }

    /// Whether the blob is present: as a file, or as the snapshot of a layer kept only as
    /// its snapshot.
    pub fn has_blob(&self, digest: &Digest) -> bool {
        self.has_blob_file(digest) || matches!(self.rewritable(digest), Ok(Some(_)))
    }

    /// Whether the blob is present as a file in `blobs/`.
    pub fn has_blob_file(&self, digest: &Digest) -> bool {
        self.blob_path(digest).is_file()
    }

    /// The blob's size (of its file, or recorded for a layer kept as its snapshot).
    pub fn blob_size(&self, digest: &Digest) -> Result<u64> {
        let p = self.blob_path(digest);
        match fs::metadata(&p) {
            Ok(m) => Ok(m.len()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.rewritable(digest)? {
                Some(rec) => Ok(rec.diff_size),
                None => Err(Error::BlobMissing(*digest)),
            },
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Make the names of blobs committed with [`Durability::Batched`] durable (one fsync of
    /// the blob directory).
    pub fn sync_blobs(&self) -> Result<()> {
        fsync_dir(&self.root().join("blobs/sha256"))
    }

    /// Start writing a blob.
    pub fn blob_writer(&self) -> Result<BlobWriter> {
        let tmp = self.tmp_path("blob");
        let file = File::create(&tmp).map_err(io_err(&tmp))?;
        Ok(BlobWriter {
            tmp,
            final_dir: self.root().join("blobs/sha256"),
            out: Some(HashingWriter::new(BufWriter::with_capacity(1 << 20, file))),
        })
    }

    /// Store `bytes` as a blob; return its digest.
    pub fn put_blob(&self, bytes: &[u8]) -> Result<Digest> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            return Ok(digest);
        }
        let stored = (|| {
            let mut w = self.blob_writer()?;
            w.write_all(bytes).map_err(io_err(&w.tmp.clone()))?;
            w.commit(Some((&digest, bytes.len() as u64)))
        })();
        stored.map_err(|e| self.no_space_as(e, &format!("blob `{digest}`")))?;
        Ok(digest)
    }

    /// Store what `reader` yields as a blob, checked against `expected` when given.
    pub fn put_blob_from(
        &self,
        reader: &mut dyn Read,
        expected: Option<(&Digest, u64)>,
    ) -> Result<(Digest, u64)> {
        let stored = (|| {
            let mut w = self.blob_writer()?;
            let tmp = w.tmp.clone();
            io::copy(reader, &mut w).map_err(io_err(&tmp))?;
            w.commit(expected)
        })();
        stored.map_err(|e| {
            let what = match expected {
                Some((d, _)) => format!("blob `{d}`"),
                None => "a blob".to_owned(),
            };
            self.no_space_as(e, &what)
        })
    }

    /// Open a blob for reading. A file is read unverified (see [`Store::read_blob`] and
    /// `duckc verify`); a layer kept as its snapshot is written again and checked against
    /// its digest and size, the reader failing at the end when they differ.
    pub fn open_blob(&self, digest: &Digest) -> Result<BlobReader> {
        let p = self.blob_path(digest);
        match File::open(&p) {
            Ok(f) => {
                let len = f.metadata().map_err(io_err(&p))?.len();
                Ok(Store::file_reader(f, len))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.rewritable(digest)? {
                Some(rec) => Ok(self.rewrite_reader(&rec)),
                None => Err(Error::BlobMissing(*digest)),
            },
            Err(e) => Err(io_err(&p)(e)),
        }
    }

    /// Read a small blob (at most `max` bytes) and check its digest.
    pub fn read_blob(&self, digest: &Digest, max: u64) -> Result<Vec<u8>> {
        let f = self.open_blob(digest)?;
        let mut bytes = Vec::new();
        f.take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(io_err(&self.blob_path(digest)))?;
        if bytes.len() as u64 > max {
            return Err(Error::TooLarge(*digest, max));
        }
        let actual = Digest::of(&bytes);
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: digest.to_string(),
                expected: *digest,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Re-hash a blob; an error says what is wrong with it.
    pub fn check_blob(&self, digest: &Digest) -> Result<u64> {
        let f = self.open_blob(digest)?;
        let (actual, size) =
            duckc_layer::digest::digest_reader(f).map_err(io_err(&self.blob_path(digest)))?;
        if actual != *digest {
            return Err(Error::DigestMismatch {
                what: digest.to_string(),
                expected: *digest,
                actual,
            });
        }
        Ok(size)
    }

    /// Every blob digest in the store (names that are not digests are skipped).
    pub fn list_blobs(&self) -> Result<Vec<Digest>> {
        list_hex(&self.root().join("blobs/sha256"), "")
    }

    /// Remove a blob (used by gc).
    pub fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let p = self.blob_path(digest);
        match fs::remove_file(&p) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(&p)(e)),
        }
    }
}

/// Digests named by the files in `dir` that end with `suffix`.
pub(crate) fn list_hex(dir: &Path, suffix: &str) -> Result<Vec<Digest>> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(hex) = name.strip_suffix(suffix) else {
            continue;
        };
        if let Ok(d) = Digest::from_hex(hex) {
            out.push(d);
        }
    }
    out.sort();
    Ok(out)
}
