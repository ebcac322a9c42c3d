//! The build context on disk: listing it (minus `.git` and what `.duckignore` excludes) and
//! hashing the entries `copy` steps read, as salsa inputs for the compiler.
//!
//! Symlinks are listed as symlinks and hashed by their target text; nothing here ever follows
//! one, so a link pointing out of the context reads nothing outside it (SECURITY 20).

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use duckc_ir::database::{ContextFile, Database};
use duckc_ir::{Digest, EntryKind};
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

/// The digest the compiler keys a context entry by: of the content for files, of the link
/// target's bytes for symlinks.
pub fn digest_entry(full: &Path, kind: EntryKind) -> std::io::Result<Digest> {
    match kind {
        EntryKind::Symlink => {
            let target = std::fs::read_link(full)?;
            Ok(Digest::of(target.as_os_str().as_bytes()))
        }
        _ => {
            use std::io::Read as _;
            let mut f = open_nofollow(full)?;
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
        let full = dir.join(&path);
        let digest = digest_entry(&full, kind).map_err(|source| ContextError::Io {
            path: full.clone(),
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
        let link = digest_entry(&d.join("escape"), EntryKind::Symlink).unwrap();
        assert_eq!(link, Digest::of(b"/etc/passwd"));
        assert!(open_nofollow(&d.join("escape")).is_err());
    }
}
