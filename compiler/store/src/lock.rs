//! Advisory file locks (flock) between duckc processes, and the gc lease.
//!
//! Every operation that writes blobs not yet reachable from an image (load, commit, pull,
//! build, snapshot) holds a [`Lease`]: a shared lock on `locks/gc.lock`. `gc` takes the same
//! lock exclusively, so it waits for in-flight operations and they wait for it; a killed
//! process drops its lock with its file descriptors.

use std::fs::{File, OpenOptions};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::FlockOperation;

use crate::{Result, Store, io_err};

/// A held flock; released on drop.
#[derive(Debug)]
pub struct LockFile {
    _file: File,
}

impl LockFile {
    /// Lock `path` (created when missing), shared or exclusive, waiting for it.
    pub fn lock(path: &Path, exclusive: bool) -> Result<LockFile> {
        let file = OpenOptions::new()
            .create(true)
            .mode(crate::modes::FILE_MODE)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        let op = if exclusive {
            FlockOperation::LockExclusive
        } else {
            FlockOperation::LockShared
        };
        loop {
            match rustix::fs::flock(&file, op) {
                Ok(()) => break,
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(io_err(path)(e.into())),
            }
        }
        Ok(LockFile { _file: file })
    }

    /// Try to lock `path` exclusively without waiting; `None` when someone holds it.
    pub fn try_exclusive(path: &Path) -> Result<Option<LockFile>> {
        let file = OpenOptions::new()
            .create(true)
            .mode(crate::modes::FILE_MODE)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path)
            .map_err(io_err(path))?;
        match rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(Some(LockFile { _file: file })),
            Err(rustix::io::Errno::WOULDBLOCK) => Ok(None),
            Err(e) => Err(io_err(path)(e.into())),
        }
    }
}

/// Protection from `gc` for the duration of an operation (a shared lock on `locks/gc.lock`).
#[derive(Debug)]
pub struct Lease {
    _lock: LockFile,
}

impl Store {
    /// Take a lease: until it drops, `gc` deletes nothing.
    pub fn lease(&self) -> Result<Lease> {
        Ok(Lease {
            _lock: LockFile::lock(&self.locks_dir().join("gc.lock"), false)?,
        })
    }

    /// The exclusive gc lock: no lease is held while it is.
    pub fn gc_lock(&self) -> Result<LockFile> {
        LockFile::lock(&self.locks_dir().join("gc.lock"), true)
    }

    /// An exclusive lock named `name` under `locks/`.
    pub fn named_lock(&self, name: &str) -> Result<LockFile> {
        LockFile::lock(&self.locks_dir().join(format!("{name}.lock")), true)
    }
}
