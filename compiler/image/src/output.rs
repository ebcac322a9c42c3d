//! Writing outputs (`save -o`, `build -o oci:DIR`, `-o oci-archive:FILE`, `export-layout`)
//! without ever writing through a link someone else planted (SECURITY 38).
//!
//! The path the user names is taken as named up to its last component (its parents are the
//! user's choice, as for any tool). From there everything is relative to directory
//! descriptors: the output directory and the directories duckc creates in it are opened with
//! `O_NOFOLLOW` (a symlink there is refused), and every file is written to a fresh temporary
//! file (`O_CREAT|O_EXCL|O_NOFOLLOW`, so a planted name fails instead of being followed) and
//! renamed over its final name, which replaces a symlink found there instead of following it.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, CWD, Mode, OFlags};
use rustix::io::Errno;

use crate::{Error, Result};

fn unsafe_output(path: &Path, reason: &str) -> Error {
    Error::UnsafeOutput {
        path: path.display().to_string(),
        reason: reason.to_owned(),
    }
}

fn io(path: &Path, e: Errno) -> Error {
    Error::Io {
        path: path.display().to_string(),
        source: e.into(),
    }
}

/// Opens (creating it if missing, with its parents) the output directory `path`; its last
/// component is never followed: a symlink there is refused.
pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    let (parent, name) = split(path);
    let Some(name) = name else {
        // `/`, `.`, `..`: nothing to create, nothing planted at a name of ours.
        return rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io(path, e));
    };
    if !parent.as_os_str().is_empty() {
        std::fs::create_dir_all(&parent).map_err(|e| Error::Io {
            path: parent.display().to_string(),
            source: e,
        })?;
    }
    let parent_fd = open_parent(&parent)?;
    subdir(&parent_fd, path, name)
}

/// Opens the directory `name` in `dir` (shown as `shown` in errors), creating it (0755)
/// when missing; a symlink or anything else that is not a directory is refused.
pub fn subdir(dir: &OwnedFd, shown: &Path, name: &OsStr) -> Result<OwnedFd> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(io(shown, e)),
    }
    rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| match e {
        // `O_DIRECTORY` makes a symlink `ENOTDIR` rather than `ELOOP`: look at what it is.
        Errno::LOOP | Errno::NOTDIR
            if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
                rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Symlink
            }) =>
        {
            unsafe_output(shown, "it is a symlink")
        }
        Errno::NOTDIR => unsafe_output(shown, "it exists and is not a directory"),
        e => io(shown, e),
    })
}

/// Whether `name` in `dir` is a regular file (not followed through a link) of `size` bytes.
pub fn is_file_of_size(dir: &OwnedFd, name: &OsStr, size: u64) -> bool {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).is_ok_and(|st| {
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::RegularFile
            && st.st_size as u64 == size
    })
}

/// Reads the regular file `name` of `dir` (at most `limit` bytes); `None` when there is none.
/// A symlink there is refused (it could name any file of the host).
pub fn read_file(dir: &OwnedFd, shown: &Path, name: &str, limit: u64) -> Result<Option<Vec<u8>>> {
    use std::io::Read as _;
    let fd = match rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => {
            return Err(unsafe_output(shown, "it is a symlink"));
        }
        Err(e) => return Err(io(shown, e)),
    };
    let f = File::from(fd);
    if !f.metadata().map(|m| m.is_file()).unwrap_or(false) {
        return Err(unsafe_output(shown, "it is not a regular file"));
    }
    let mut out = Vec::new();
    f.take(limit + 1)
        .read_to_end(&mut out)
        .map_err(|e| Error::Io {
            path: shown.display().to_string(),
            source: e,
        })?;
    if out.len() as u64 > limit {
        return Err(unsafe_output(shown, "it is too large"));
    }
    Ok(Some(out))
}

/// A file being written: a temporary file beside its final name, renamed over that name by
/// [`AtomicFile::commit`] and removed if dropped before.
pub struct AtomicFile {
    dir: OwnedFd,
    tmp: OsString,
    name: OsString,
    path: PathBuf,
    file: File,
    done: bool,
}

impl AtomicFile {
    /// Starts writing the file `path`: its directory is the one the user named (links in it
    /// are the user's), its last component is replaced on commit, never followed.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let (parent, name) = split(path);
        let Some(name) = name else {
            return Err(unsafe_output(path, "it names a directory, not a file"));
        };
        let dir = open_parent(&parent)?;
        AtomicFile::create_in(dir, path, name)
    }

    /// Starts writing `name` in the directory `dir` (`shown` is the full path, for errors).
    pub fn create_in(dir: OwnedFd, shown: &Path, name: &OsStr) -> Result<AtomicFile> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut tries = 0;
        loop {
            let mut tmp = OsString::from(".");
            tmp.push(name);
            tmp.push(format!(
                ".tmp-{}-{}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or(0)
            ));
            match rustix::fs::openat(
                &dir,
                tmp.as_os_str(),
                OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::from_raw_mode(0o666),
            ) {
                Ok(fd) => {
                    return Ok(AtomicFile {
                        dir,
                        tmp,
                        name: name.to_owned(),
                        path: shown.to_owned(),
                        file: File::from(fd),
                        done: false,
                    });
                }
                Err(Errno::EXIST) if tries < 16 => tries += 1,
                Err(e) => return Err(io(shown, e)),
            }
        }
    }

    /// The file to write into.
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Flushes the file to disk and renames it over its final name.
    pub fn commit(mut self) -> Result<()> {
        self.file.sync_all().map_err(|e| Error::Io {
            path: self.path.display().to_string(),
            source: e,
        })?;
        rustix::fs::renameat(
            &self.dir,
            self.tmp.as_os_str(),
            &self.dir,
            self.name.as_os_str(),
        )
        .map_err(|e| io(&self.path, e))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.done {
            let _ = rustix::fs::unlinkat(&self.dir, self.tmp.as_os_str(), AtFlags::empty());
        }
    }
}

/// `path` as its parent (empty for a bare name) and its last normal component.
fn split(path: &Path) -> (PathBuf, Option<&OsStr>) {
    match path.file_name() {
        Some(name) if !name.as_bytes().is_empty() => (
            path.parent().map(Path::to_owned).unwrap_or_default(),
            Some(name),
        ),
        _ => (path.to_owned(), None),
    }
}

fn open_parent(parent: &Path) -> Result<OwnedFd> {
    let p: &Path = if parent.as_os_str().is_empty() {
        Path::new(".")
    } else {
        parent
    };
    rustix::fs::openat(
        CWD,
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io(p, e))
}
