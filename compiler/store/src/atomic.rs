//! Atomic file replacement: write a temporary file, fsync it, rename it over the target,
//! fsync the directory. A crash leaves either the old file or the new one, never a mix.

use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use crate::{Result, Store, io_err};

/// Replace `dest` with `bytes` atomically. The temporary file lives beside `dest` (named
/// `.NAME.tmp-…`, which no listing mistakes for a record), so `gc` emptying `tmp/` never
/// races with it.
pub fn write_atomic(store: &Store, dest: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(store, dest, bytes, Durability::Now)
}

/// When a new name in a directory (a blob or record renamed into place) is made durable.
///
/// The file's bytes are always fsynced before the rename, so whatever survives a crash under
/// its name is complete. With `Batched` the directory is not fsynced after each rename: a
/// crash may lose the name (the file is then simply absent), and the caller fsyncs the
/// directory once ([`Store::sync_blobs`], [`Store::sync_layers`]) before it writes anything
/// that refers to those names. A pull of 130 layers did 260 directory fsyncs otherwise, each a
/// journal commit that waits on every other writer of the file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync the directory after the rename.
    #[default]
    Now,
    /// Leave the directory's fsync to the caller.
    Batched,
}

/// [`write_atomic`], with the directory's fsync left to the caller when `durability` is
/// [`Durability::Batched`].
pub fn write_atomic_with(
    store: &Store,
    dest: &Path,
    bytes: &[u8],
    durability: Durability,
) -> Result<()> {
    let unique = store.tmp_path("w");
    let unique = unique.file_name().unwrap_or_default().to_string_lossy();
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dest.with_file_name(format!(".{name}.tmp-{unique}"));
    let result = (|| {
        let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
        f.write_all(bytes).map_err(io_err(&tmp))?;
        f.sync_all().map_err(io_err(&tmp))?;
        drop(f);
        crate::crash_point("write-before-rename");
        fs::rename(&tmp, dest).map_err(io_err(dest))?;
        match durability {
            Durability::Now => fsync_dir(dest.parent().unwrap_or(Path::new("/"))),
            Durability::Batched => Ok(()),
        }
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// fsync a directory, so a rename or unlink in it is durable.
pub fn fsync_dir(dir: &Path) -> Result<()> {
    let f = File::open(dir).map_err(io_err(dir))?;
    f.sync_all().map_err(io_err(dir))
}
