//! The build context on disk: listing it (minus `.git` and what `.duckignore` excludes) and
//! hashing the entries `copy` steps read, as salsa inputs for the compiler.
//!
//! Symlinks are listed as symlinks and hashed by their target text; nothing here ever follows
//! one, so a link pointing out of the context reads nothing outside it (SECURITY 20, 36):
//! entries are read relative to the context's descriptor with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, so a symlinked directory component fails too.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use duckc_ir::database::{ContextFile, Database};
use duckc_ir::{Digest, EntryKind};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::Digest as _;

use crate::ignore::Ignore;

/// Errors reading the build context.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("cannot read the build context at `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Lists `dir`: every file, directory and symlink, sorted, without `.git` and the paths the
/// context's ignore file excludes. Digests are left `None` (see [`hash_copied`]).
pub fn list(dir: &Path, ignore: &Ignore) -> Result<Vec<ContextFile>, ContextError> {
    let err = |path: &Path, source: std::io::Error| ContextError::Io {
        path: path.to_owned(),
        source,
    };
    let negations = ignore.has_negations();
    let mut out = Vec::new();
    let walker = walkdir::WalkDir::new(dir)
        .follow_links(false)
        .sort_by_file_name()
        .min_depth(1)
        .into_iter()
        .filter_entry(|e| {
            if e.file_name() == ".git" {
                return false;
            }
            // An excluded directory is skipped whole unless a `!` pattern may re-include
            // something below it.
            match e.path().strip_prefix(dir).ok().and_then(Path::to_str) {
                Some(rel) if e.file_type().is_dir() && !negations => !ignore.excludes(rel),
                _ => true,
            }
        });
    for entry in walker {
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(dir).to_owned();
            err(&path, e.into())
        })?;
        let Ok(rel) = entry.path().strip_prefix(dir) else {
            continue;
        };
        let Some(rel) = rel.to_str() else { continue }; // not UTF-8: no spec can name it
        if ignore.excludes(rel) {
            continue;
        }
        let meta = entry.metadata().map_err(|e| err(entry.path(), e.into()))?;
        let ft = meta.file_type();
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else if ft.is_file() {
            EntryKind::File
        } else {
            continue; // sockets, fifos, devices are never copied
        };
        out.push(ContextFile {
            path: rel.to_owned(),
            kind,
            mode: meta.permissions().mode() & 0o7777,
            digest: None,
        });
    }
    Ok(out)
}

/// Opens the build context directory, for [`digest_entry`].
pub fn open_context(dir: &Path) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::open(
        dir,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// Opens `rel` in the context open as `ctx` with no symlink followed in any component and
/// nothing outside it reachable (`RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`): a path through a
/// symlinked directory (`dir -> /etc`, then `dir/passwd`) fails instead of reading the host.
pub fn open_beneath(ctx: &OwnedFd, rel: &str, flags: OFlags) -> std::io::Result<OwnedFd> {
    Ok(rustix::fs::openat2(
        ctx,
        rel,
        flags | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS,
    )?)
}

/// The directory `rel` of `context` (an `oci-layout:` base) as a path that names exactly the
/// directory found beneath the context with no symlink followed (`/proc/self/fd/N` of the
/// returned descriptor, which must be kept open while the path is used).
pub fn dir_beneath(context: &Path, rel: &str) -> std::io::Result<(OwnedFd, PathBuf)> {
    use std::os::fd::AsRawFd as _;
    let ctx = open_context(context)?;
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = open_beneath(&ctx, rel, OFlags::PATH | OFlags::DIRECTORY)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
    Ok((fd, path))
}

/// Reads the symlink `rel` of the context open as `ctx` (no link followed on the way).
pub fn read_link_beneath(ctx: &OwnedFd, rel: &str) -> std::io::Result<std::ffi::OsString> {
    use std::os::unix::ffi::OsStringExt;
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (
            Some(open_beneath(ctx, d, OFlags::PATH | OFlags::DIRECTORY)?),
            n,
        ),
        None => (None, rel),
    };
    let dir = dir.as_ref().unwrap_or(ctx);
    let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
    Ok(std::ffi::OsString::from_vec(target.into_bytes()))
}

/// The digest the compiler keys the context entry `rel` by: of the content for files, of the
/// link target's bytes for symlinks. Read beneath `ctx` (see [`open_beneath`]).
pub fn digest_entry(ctx: &OwnedFd, rel: &str, kind: EntryKind) -> std::io::Result<Digest> {
    match kind {
        EntryKind::Symlink => {
            let target = read_link_beneath(ctx, rel)?;
            Ok(Digest::of(target.as_os_str().as_bytes()))
        }
        _ => {
            use std::io::Read as _;
            let mut f = std::fs::File::from(open_beneath(
                ctx,
                rel,
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY,
            )?);
            let mut h = sha2::Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let n = f.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                h.update(&buf[..n]);
            }
            Ok(Digest(h.finalize().into()))
        }
    }
}

/// Opens a regular file without following a symlink in its last component.
pub fn open_nofollow(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc_o_nofollow())
        .open(path)
}

fn libc_o_nofollow() -> i32 {
    rustix::fs::OFlags::NOFOLLOW.bits() as i32
}

/// Hashes the context entries that `copy` steps name (and everything under them) and sets
/// their digests in `db`.
pub fn hash_copied(db: &mut Database, dir: &Path) -> Result<(), ContextError> {
    let sources = duckc_ir::copy_sources(db).clone();
    let Some(context) = duckc_ir::Workspace::get(db).root(db).context(db) else {
        return Ok(());
    };
    let ctx = open_context(dir).map_err(|source| ContextError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let entries: Vec<(String, duckc_ir::ContextEntry)> = context
        .entries(db)
        .iter()
        .map(|(p, e)| (p.clone(), *e))
        .collect();
    for (path, entry) in entries {
        let wanted = sources
            .iter()
            .any(|s| s.is_empty() || path == *s || path.starts_with(&format!("{s}/")));
        let kind = entry.kind(db);
        if !wanted || kind == EntryKind::Dir {
            continue;
        }
        let digest = digest_entry(&ctx, &path, kind).map_err(|source| ContextError::Io {
            path: dir.join(&path),
            source,
        })?;
        let mode = entry.mode(db);
        db.set_context_file(&path, mode, Some(digest));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignored_paths_are_not_listed_and_links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::create_dir_all(d.join("src/gen")).unwrap();
        std::fs::create_dir_all(d.join(".git")).unwrap();
        std::fs::write(d.join("src/main.rs"), "fn main() {}").unwrap();
        std::fs::write(d.join("src/gen/out.o"), "x").unwrap();
        std::fs::write(d.join("notes.md"), "x").unwrap();
        std::fs::write(d.join("keep.md"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", d.join("escape")).unwrap();
        let ig = Ignore::parse("*.md\n!keep.md\nsrc/gen\n");
        let listed: Vec<String> = list(d, &ig).unwrap().into_iter().map(|f| f.path).collect();
        assert_eq!(listed, ["escape", "keep.md", "src", "src/main.rs"]);
        let ctx = open_context(d).unwrap();
        let link = digest_entry(&ctx, "escape", EntryKind::Symlink).unwrap();
        assert_eq!(link, Digest::of(b"/etc/passwd"));
        assert!(open_nofollow(&d.join("escape")).is_err());
        assert!(digest_entry(&ctx, "escape", EntryKind::File).is_err());
        // A symlinked directory component is not followed either.
        std::os::unix::fs::symlink("/etc", d.join("etcdir")).unwrap();
        assert!(digest_entry(&ctx, "etcdir/passwd", EntryKind::File).is_err());
        assert!(digest_entry(&ctx, "../etc/passwd", EntryKind::File).is_err());
    }
}
