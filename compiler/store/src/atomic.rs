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
        fsync_dir(dest.parent().unwrap_or(Path::new("/")))
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
