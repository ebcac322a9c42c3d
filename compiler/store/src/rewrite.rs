//! Build layers kept only as snapshots: a layer's uncompressed tar is written again from its
//! snapshot when something needs its bytes (`save`, `push`, `export-layout`, `sbom`, …),
//! streamed and checked against the digest and size the layer was built with.
//!
//! The layer writer is deterministic (sorted walk, numeric owners, clamped times), so a
//! snapshot whose record says how it relates to the tar ([`Rewrite`]) gives back the very
//! bytes of the layer; the store then keeps no uncompressed blob for it, which halves the disk
//! a build takes. A snapshot changed since (a tampered or damaged store) gives other bytes:
//! the reader then fails at its end with [`RewriteMismatch`], before a caller commits or sends
//! what it read.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use duckc_layer::{Compression, Digest, SourceKind, WriteOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::{Result, SnapshotRecord, Store};

/// How a layer's tar is written again from its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rewrite {
    /// The snapshot is the directory the layer was written from (a `copy` step, a package):
    /// written as a plain tree.
    Plain,
    /// The snapshot was unpacked from the layer with overlay whiteouts (a `run` step's layer):
    /// written as an overlay upper directory, so whiteouts and opaque directories come back
    /// as `.wh.` entries. Only recorded after writing it once gave the layer's digest.
    Overlay,
}

impl Rewrite {
    fn source(self) -> SourceKind {
        match self {
            Rewrite::Plain => SourceKind::Plain,
            Rewrite::Overlay => SourceKind::OverlayUpper,
        }
    }
}

/// The options that write the tar of a snapshot again: uncompressed, and no clamping, as the
/// snapshot's times are already those of the layer.
pub(crate) fn rewrite_options(how: Rewrite) -> WriteOptions {
    WriteOptions {
        epoch: u64::MAX,
        compression: Compression::None,
        source: how.source(),
    }
}

/// A layer's tar written again from its snapshot did not give the layer's bytes.
#[derive(Debug, thiserror::Error)]
#[error(
    "layer `{layer}` written again from its snapshot is {actual_size} bytes with digest {actual}, not the {size} bytes with digest {layer} it was built with: the snapshot `{}` changed since; `duckc verify --repair` drops it, then build the image again",
    snapshot.display()
)]
pub struct RewriteMismatch {
    /// The layer (its diff_id, which is also its blob's digest).
    pub layer: Digest,
    /// Its recorded size.
    pub size: u64,
    /// What the snapshot gave.
    pub actual: Digest,
    /// How many bytes it gave.
    pub actual_size: u64,
    /// The snapshot's directory.
    pub snapshot: PathBuf,
}

/// A blob's bytes: the stored file, or a build layer's tar written again from its snapshot.
pub struct BlobReader {
    inner: Inner,
    len: u64,
}

impl std::fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobReader")
            .field("len", &self.len)
            .field("rewritten", &self.is_rewritten())
            .finish()
    }
}

enum Inner {
    File(File),
    Rewrite(Box<Rewriter>),
}

impl BlobReader {
    /// The blob's size in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the blob is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether the bytes are written again from a snapshot rather than read from a file.
    pub fn is_rewritten(&self) -> bool {
        matches!(self.inner, Inner::Rewrite(_))
    }
}

impl Read for BlobReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match &mut self.inner {
            Inner::File(f) => f.read(buf),
            Inner::Rewrite(r) => r.read(buf),
        }
    }
}

type Chunk = io::Result<Vec<u8>>;

/// The reading end: chunks from the writing thread, hashed and counted, checked at the end.
struct Rewriter {
    rx: Option<Receiver<Chunk>>,
    thread: Option<JoinHandle<()>>,
    chunk: Vec<u8>,
    pos: usize,
    hasher: Sha256,
    count: u64,
    layer: Digest,
    size: u64,
    snapshot: PathBuf,
    checked: bool,
}

impl Rewriter {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.checked {
            return Ok(0);
        }
        while self.pos == self.chunk.len() {
            match self.rx.as_ref().and_then(|rx| rx.recv().ok()) {
                Some(Ok(chunk)) => {
                    self.chunk = chunk;
                    self.pos = 0;
                }
                Some(Err(e)) => return Err(e),
                // The writer ended before the recorded size: never the layer.
                None => return self.finish().map(|()| 0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.pos);
        buf[..n].copy_from_slice(&self.chunk[self.pos..self.pos + n]);
        self.pos += n;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        // Checked with the last recorded byte, not at a later end of stream: a reader that
        // takes exactly the recorded size (a sized copy) still gets the error.
        if self.count >= self.size {
            self.finish()?;
        }
        Ok(n)
    }

    /// Hash whatever the writer still produces, then compare with the layer.
    fn finish(&mut self) -> io::Result<()> {
        self.checked = true;
        self.hasher.update(&self.chunk[self.pos..]);
        self.count += (self.chunk.len() - self.pos) as u64;
        self.pos = self.chunk.len();
        if let Some(rx) = self.rx.take() {
            for chunk in rx.iter() {
                let chunk = chunk?;
                self.hasher.update(&chunk);
                self.count += chunk.len() as u64;
            }
        }
        let actual = Digest::from_hasher(std::mem::take(&mut self.hasher));
        if actual == self.layer && self.count == self.size {
            return Ok(());
        }
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            RewriteMismatch {
                layer: self.layer,
                size: self.size,
                actual,
                actual_size: self.count,
                snapshot: self.snapshot.clone(),
            },
        ))
    }
}

impl Drop for Rewriter {
    fn drop(&mut self) {
        // Closing the channel makes a writer still running fail its next send and stop.
        self.rx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

const CHUNK: usize = 1 << 20;

/// The writing end: the tar writer's output cut into chunks for the reader.
struct ChannelWriter {
    tx: SyncSender<Chunk>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
        self.tx
            .send(Ok(chunk))
            .map_err(|_| io::Error::from(io::ErrorKind::BrokenPipe))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == CHUNK {
            self.send()?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}

impl Store {
    /// The snapshot record of the layer whose uncompressed blob is `digest`, when the store
    /// keeps that layer as its snapshot only (no blob file) or can: the snapshot is complete
    /// and says how to write the tar again.
    pub fn rewritable(&self, digest: &Digest) -> Result<Option<SnapshotRecord>> {
        let Some(rec) = self.snapshot_record(digest)? else {
            return Ok(None);
        };
        let ok = rec.rewrite.is_some()
            && rec.blob == *digest
            && rec.diff_id == *digest
            && self.snapshot_path(digest).is_dir();
        Ok(ok.then_some(rec))
    }

    /// Write the layer `rec` describes again from its snapshot, streamed from a thread.
    pub(crate) fn rewrite_reader(&self, rec: &SnapshotRecord) -> BlobReader {
        let how = rec.rewrite.unwrap_or(Rewrite::Plain);
        let dir = self.snapshot_path(&rec.diff_id);
        let (tx, rx) = sync_channel::<Chunk>(4);
        let src = dir.clone();
        let thread = std::thread::spawn(move || {
            let mut w = ChannelWriter {
                tx: tx.clone(),
                buf: Vec::with_capacity(CHUNK),
            };
            // `write_tar` flushes at its end, which sends the last chunk.
            let result = duckc_layer::write_tar(&src, &rewrite_options(how), &mut w)
                .map(|_| ())
                .map_err(|e| match e {
                    duckc_layer::WriteError::Io { source, .. }
                        if source.kind() == io::ErrorKind::BrokenPipe =>
                    {
                        source
                    }
                    e => io::Error::other(e.to_string()),
                });
            if let Err(e) = result
                && e.kind() != io::ErrorKind::BrokenPipe
            {
                let _ = tx.send(Err(e));
            }
        });
        BlobReader {
            len: rec.diff_size,
            inner: Inner::Rewrite(Box::new(Rewriter {
                rx: Some(rx),
                thread: Some(thread),
                chunk: Vec::new(),
                pos: 0,
                hasher: Sha256::new(),
                count: 0,
                layer: rec.diff_id,
                size: rec.diff_size,
                snapshot: dir,
                checked: false,
            })),
        }
    }

    /// Write the layer `rec` describes again and check it, without keeping the bytes: what
    /// `verify` does for a layer kept as its snapshot only.
    pub fn check_rewrite(&self, rec: &SnapshotRecord) -> Result<()> {
        let mut r = self.rewrite_reader(rec);
        io::copy(&mut r, &mut io::sink())
            .map(|_| ())
            .map_err(crate::io_err(&self.snapshot_path(&rec.diff_id)))
    }

    pub(crate) fn file_reader(file: File, len: u64) -> BlobReader {
        BlobReader {
            inner: Inner::File(file),
            len,
        }
    }
}
