//! The tree a step's parents built, read from their layer snapshots without mounting them:
//! where a destination really is (symlinks followed inside the image) and what already exists
//! there (a directory's owner and mode), so a step writes onto that tree as Docker does.
//!
//! The snapshots are overlay lower directories (whiteouts are character devices 0:0, opaque
//! directories carry an xattr), so a path is looked up the way overlayfs would: from the top
//! layer down, stopping at a whiteout, at a non-directory on the way, or below an opaque
//! directory. Only the few components a step writes are looked up, a handful of `lstat`s per
//! layer, where a merged view would cost a mount or a copy of the whole tree.
//!
//! Symlinks resolve as `openat2(RESOLVE_IN_ROOT)` would inside the image: an absolute target
//! starts again at the image's root, `..` stops at that root, so no link in an image ever
//! names a host path. Nothing here opens a host path built from a link target: targets only
//! ever become components looked up inside the snapshots.

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use duckc_store::{LayerRef, Store};

use crate::{Error, Result, io_err};

/// How many symlinks one resolution follows before it is a loop (Linux's limit).
const MAX_LINKS: usize = 40;

/// A path inside the image, as components from its root.
pub(crate) type ImagePath = Vec<OsString>;

/// The parents' tree: their snapshots, top first.
#[derive(Debug, Default)]
pub(crate) struct LowerTree {
    layers: Vec<PathBuf>,
}

/// What the parents' tree holds at a path.
#[derive(Debug)]
pub(crate) struct Existing {
    /// Where it is, in the topmost snapshot that holds it.
    pub path: PathBuf,
    pub meta: fs::Metadata,
}

impl LowerTree {
    /// The tree of `chain` (bottom first, as images list their layers).
    pub fn open(store: &Store, chain: &[LayerRef]) -> Result<LowerTree> {
        let mut layers = Vec::with_capacity(chain.len());
        for layer in chain.iter().rev() {
            layers.push(store.snapshot(&layer.diff_id)?);
        }
        Ok(LowerTree::from_snapshots(layers))
    }

    /// The tree of these snapshot directories, top first.
    pub fn from_snapshots(layers: Vec<PathBuf>) -> LowerTree {
        LowerTree { layers }
    }

    /// What the tree holds at `path` (no symlink followed), if anything.
    pub fn entry(&self, path: &[OsString]) -> Result<Option<Existing>> {
        if path.is_empty() {
            return Ok(None);
        }
        'layers: for layer in &self.layers {
            let mut here = layer.clone();
            let mut opaque = false;
            for (i, name) in path.iter().enumerate() {
                here.push(name);
                let meta = match fs::symlink_metadata(&here) {
                    Ok(m) => m,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        // Not in this layer; below an opaque directory nothing lower shows.
                        if opaque {
                            return Ok(None);
                        }
                        continue 'layers;
                    }
                    // A file where a directory would be: ENOTDIR hides what is below.
                    Err(e)
                        if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) =>
                    {
                        return Ok(None);
                    }
                    Err(e) => return Err(io_err(&here)(e)),
                };
                if duckc_layer::overlay::is_whiteout(&meta) {
                    return Ok(None);
                }
                if i + 1 == path.len() {
                    return Ok(Some(Existing { path: here, meta }));
                }
                if !meta.is_dir() {
                    // A file or link above the path hides the path in every lower layer.
                    return Ok(None);
                }
                opaque |= duckc_layer::overlay::is_opaque(&here);
            }
        }
        Ok(None)
    }

    /// Where `path` (absolute in the image) really is: every symlink on the way, the last
    /// component's included, followed inside the image. Fails when a component on the way is
    /// not a directory, or on a symlink loop.
    pub fn resolve(&self, path: &str) -> Result<ImagePath> {
        let mut todo: VecDeque<OsString> = components(path.as_bytes()).collect();
        let mut out: ImagePath = Vec::new();
        let mut links = 0;
        while let Some(name) = todo.pop_front() {
            if name == ".." {
                out.pop();
                continue;
            }
            out.push(name);
            match self.entry(&out)? {
                Some(e) if e.meta.is_symlink() => {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Error::SymlinkLoop {
                            path: path.to_owned(),
                        });
                    }
                    let target = fs::read_link(&e.path).map_err(io_err(&e.path))?;
                    out.pop();
                    let target = target.as_os_str().as_bytes();
                    if target.starts_with(b"/") {
                        out.clear();
                    }
                    for c in components(target).collect::<Vec<_>>().into_iter().rev() {
                        todo.push_front(c);
                    }
                }
                Some(e) if !e.meta.is_dir() && !todo.is_empty() => {
                    return Err(Error::NotADirectory {
                        path: path.to_owned(),
                        file: display(&out),
                    });
                }
                _ => {}
            }
        }
        Ok(out)
    }

    /// The directory at `path`, if the tree has one there.
    pub fn dir(&self, path: &[OsString]) -> Result<Option<fs::Metadata>> {
        Ok(self.entry(path)?.map(|e| e.meta).filter(|m| m.is_dir()))
    }
}

/// The components of an image path, without empty ones and `.`.
fn components(path: &[u8]) -> impl Iterator<Item = OsString> + '_ {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_owned())
}

/// `path` as the image shows it: `/usr/bin`.
pub(crate) fn display(path: &[OsString]) -> String {
    let mut s = String::new();
    for c in path {
        s.push('/');
        s.push_str(&c.to_string_lossy());
    }
    if s.is_empty() {
        s.push('/');
    }
    s
}

/// `rel` (relative, as the compiler writes paths under a copy's destination) as components.
pub(crate) fn join(base: &[OsString], rel: &str) -> ImagePath {
    let mut out = base.to_vec();
    out.extend(components(rel.as_bytes()));
    out
}

/// Makes the directories of `path` that `stage` does not have yet, down to `path` itself:
/// those the parents' tree has get its owner and mode (the layer records them as they are, as
/// Docker's diff does), the others are the step's own: 0755, owned by `owner`. Fails if a
/// directory the stage already holds on the way is not a real directory, so nothing staged is
/// ever written through a link.
pub(crate) fn make_dirs(
    stage: &Path,
    lower: &LowerTree,
    path: &[OsString],
    owner: (u32, u32),
) -> Result<()> {
    let mut here = stage.to_path_buf();
    for (i, name) in path.iter().enumerate() {
        here.push(name);
        match fs::symlink_metadata(&here) {
            Ok(m) if m.is_dir() => continue,
            Ok(_) => {
                return Err(Error::NotADirectory {
                    path: display(path),
                    file: display(&path[..=i]),
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&here)(e)),
        }
        let (mode, uid, gid) = match lower.dir(&path[..=i])? {
            Some(m) => (m.mode() & 0o7777, m.uid(), m.gid()),
            None => (0o755, owner.0, owner.1),
        };
        fs::create_dir(&here).map_err(io_err(&here))?;
        fs::set_permissions(&here, fs::Permissions::from_mode(mode)).map_err(io_err(&here))?;
        std::os::unix::fs::lchown(&here, Some(uid), Some(gid)).map_err(io_err(&here))?;
    }
    Ok(())
}

/// The host path of `path` under `stage`.
pub(crate) fn staged(stage: &Path, path: &[OsString]) -> PathBuf {
    let mut p = stage.to_path_buf();
    p.extend(path);
    p
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn tree(layers: &[&Path]) -> LowerTree {
        LowerTree::from_snapshots(layers.iter().rev().map(|p| p.to_path_buf()).collect())
    }

    fn resolved(t: &LowerTree, path: &str) -> String {
        match t.resolve(path) {
            Ok(p) => display(&p),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn symlinks_resolve_inside_the_image() {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().join("base");
        fs::create_dir_all(base.join("usr/bin")).unwrap();
        fs::create_dir_all(base.join("etc")).unwrap();
        fs::write(base.join("etc/passwd"), "").unwrap();
        symlink("usr/bin", base.join("bin")).unwrap();
        symlink("../../../../host-canary", base.join("escape")).unwrap();
        symlink("/etc", base.join("usr/localetc")).unwrap();
        symlink("loop2", base.join("loop1")).unwrap();
        symlink("loop1", base.join("loop2")).unwrap();
        let t = tree(&[&base]);
        assert_eq!(resolved(&t, "/bin/"), "/usr/bin");
        assert_eq!(resolved(&t, "/bin/server"), "/usr/bin/server");
        assert_eq!(resolved(&t, "/escape/x"), "/host-canary/x");
        assert_eq!(resolved(&t, "/usr/localetc/x"), "/etc/x");
        // `..` stops at the root; after a link it is the link target's parent, as in Linux.
        assert_eq!(resolved(&t, "/../../etc/./x"), "/etc/x");
        assert_eq!(resolved(&t, "/bin/../etc"), "/usr/etc");
        assert_eq!(resolved(&t, "/"), "/");
        assert_eq!(
            resolved(&t, "/etc/passwd/x"),
            "error: cannot write `/etc/passwd/x`: `/etc/passwd` is not a directory in the image"
        );
        assert!(resolved(&t, "/loop1/x").contains("too many levels of symbolic links"));
    }

    #[test]
    fn lookups_see_what_overlayfs_shows() {
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        fs::create_dir_all(a.join("gone/x")).unwrap();
        fs::create_dir_all(a.join("kept/y")).unwrap();
        fs::create_dir_all(a.join("file/z")).unwrap();
        fs::create_dir_all(b.join("kept")).unwrap();
        fs::set_permissions(b.join("kept"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(b.join("file"), "").unwrap();
        // A whiteout of `gone` (a 0:0 character device) needs root; skip that part without.
        let whiteout = rustix::fs::mknodat(
            rustix::fs::CWD,
            b.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0),
            0,
        )
        .is_ok();
        let t = tree(&[&a, &b]);
        let p = |s: &str| components(s.as_bytes()).collect::<Vec<_>>();
        assert_eq!(t.dir(&p("kept")).unwrap().unwrap().mode() & 0o777, 0o700);
        assert!(t.dir(&p("kept/y")).unwrap().is_some());
        assert!(t.entry(&p("file/z")).unwrap().is_none());
        assert!(t.entry(&p("file")).unwrap().unwrap().meta.is_file());
        if whiteout {
            assert!(t.entry(&p("gone/x")).unwrap().is_none());
            assert!(t.entry(&p("gone")).unwrap().is_none());
        }
        assert!(t.entry(&p("missing")).unwrap().is_none());
    }
}
