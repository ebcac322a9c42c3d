//! The store belongs to its owner: who may reach what under the root.
//!
//! A store holds other people's image files (setuid binaries among them), containers' configs
//! (with their `-e` secrets), their writable layers and logs, and the locks that every duckc
//! process waits on. Another user who could reach any of it could run a setuid-root program
//! from a snapshot (CVE-2021-41091 in Docker), read secrets, or hold a lock to block root's
//! duckc. So the root and every directory duckc makes under it are 0700, and every file that
//! holds something private (configs, states, logs, locks) is 0600: the root's mode alone
//! keeps everything below out of reach, and the inner modes keep it so when the root is
//! moved or bind-mounted elsewhere. No path needs to be traversed by another user (0710):
//! overlayfs checks its lower and upper directories with the credentials of the process that
//! mounted them (the container's init, before it drops root), and bind sources are opened by
//! that init too.
//!
//! A store made by an older duckc has a 0755 root: [`Store::open`] notices that with one
//! `stat` and fixes every mode once. `verify` opens the store without fixing it
//! ([`Store::open_as_is`]) and reports each wrong mode as a problem.

use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::{Error, Problem, Result, Store, io_err};

/// The mode of every directory duckc makes in a store.
pub const DIR_MODE: u32 = 0o700;
/// The mode of every private file (configs, states, logs, locks).
pub const FILE_MODE: u32 = 0o600;

/// Files in a container's directory that hold private data.
const CONTAINER_FILES: &[&str] = &["config.json", "state.json", "log"];

/// Make `dir` and its missing parents up to (not above) an existing one, each 0700.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
}

/// Whether `mode` gives anything to other users: any bit for others, read or write for the
/// group (0710, a group that may only traverse, is allowed).
fn too_open(mode: u32) -> bool {
    mode & 0o067 != 0
}

/// A mode that is wrong for `path`, if it is: `(found, wanted)`.
fn wrong_mode(path: &Path, wanted: u32) -> Option<(u32, u32)> {
    let meta = fs::symlink_metadata(path).ok()?;
    if meta.file_type().is_symlink() {
        return None;
    }
    let mode = meta.mode() & 0o7777;
    too_open(mode).then_some((mode, wanted))
}

impl Store {
    /// Every path whose mode the store's invariant covers, with the mode it must have: the
    /// root, each directory in it, each container's directory and private files, each lock.
    /// The root comes last, so a fix-up that stops half way is seen again by the next open.
    fn private_paths(&self) -> Vec<(PathBuf, u32)> {
        let mut out = Vec::new();
        let entries = |dir: &Path| -> Vec<PathBuf> {
            fs::read_dir(dir)
                .into_iter()
                .flatten()
                .flatten()
                .map(|e| e.path())
                .collect()
        };
        for top in entries(self.root()) {
            if fs::symlink_metadata(&top).is_ok_and(|m| m.is_dir()) {
                out.push((top, DIR_MODE));
            }
        }
        for dir in [
            "blobs/sha256",
            "layers/sha256",
            "snapshots/sha256",
            "cache/sha256",
        ] {
            out.push((self.root().join(dir), DIR_MODE));
        }
        for container in entries(&self.containers_dir()) {
            if !fs::symlink_metadata(&container).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            for f in CONTAINER_FILES {
                out.push((container.join(f), FILE_MODE));
            }
            out.push((container, DIR_MODE));
        }
        for lock in entries(&self.locks_dir()) {
            out.push((lock, FILE_MODE));
        }
        out.push((self.root().to_owned(), DIR_MODE));
        out
    }

    /// Refuse a root that another user owns (they could change anything in it under us).
    pub(crate) fn check_owner(root: &Path) -> Result<()> {
        let meta = fs::metadata(root).map_err(io_err(root))?;
        Store::check_owner_of(root, &meta)
    }

    /// [`Store::check_owner`] with the root's metadata already at hand.
    pub(crate) fn check_owner_of(root: &Path, meta: &fs::Metadata) -> Result<()> {
        let me = rustix::process::geteuid().as_raw();
        if meta.uid() != me {
            return Err(Error::NotOwner {
                path: root.to_owned(),
                owner: meta.uid(),
                me,
            });
        }
        Ok(())
    }

    /// Bring the modes of a store made by an older duckc (a root others can reach) to the
    /// invariant, given the mode its root had when it was opened; a store that has it costs
    /// nothing more.
    pub(crate) fn secure_modes(&self, root_mode: u32) -> Result<()> {
        if !too_open(root_mode & 0o7777) {
            return Ok(());
        }
        for (path, wanted) in self.private_paths() {
            if wrong_mode(&path, wanted).is_some() {
                fs::set_permissions(&path, fs::Permissions::from_mode(wanted))
                    .map_err(io_err(&path))?;
            }
        }
        Ok(())
    }

    /// Every path that other users can reach against the invariant, and a root owned by
    /// someone else: `verify`'s findings about the store itself.
    pub fn check_modes(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if let Err(e) = Store::check_owner(self.root()) {
            problems.push(Problem {
                what: format!("store {}", self.root().display()),
                reason: e.to_string(),
            });
        }
        for (path, wanted) in self.private_paths() {
            if let Some((found, wanted)) = wrong_mode(&path, wanted) {
                problems.push(Problem {
                    what: format!("mode of {}", path.display()),
                    reason: format!(
                        "{found:04o} lets other users reach it; the store keeps it {wanted:04o}"
                    ),
                });
            }
        }
        problems
    }
}
