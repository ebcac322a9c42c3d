//! The build context on disk, read in one pass: every file, directory and symlink (minus `.git`
//! and what `.duckignore` or `.dockerignore` excludes), with the entries a build copies hashed
//! on the way.
//!
//! Symlinks are listed as symlinks and hashed by their target text; nothing here follows one,
//! so a link pointing out of the context reads nothing outside it (SECURITY 20, 36): entries
//! are hashed relative to the context's descriptor with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)` (see `duckc_executor::context`), so a symlinked directory component
//! fails too.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use duckc_executor::context::{digest_entry, open_context};
use duckc_executor::ignore::Ignore;
use duckc_ir::EntryKind;
use duckc_ir::database::ContextFile;

use crate::Error;

/// Whether the context entry `path` is read by a step that copies `sources` (relative paths
/// as [`duckc_ir::copy_sources`] and [`duckc_ir::dockerfile::context_sources`] give them; an
/// empty one is the whole context).
pub fn wanted(sources: &[String], path: &str) -> bool {
    sources
        .iter()
        .any(|s| s.is_empty() || path == s || path.starts_with(&format!("{s}/")))
}

/// Lists `dir`, sorted, without `.git` and the paths its ignore file excludes; files and
/// symlinks for which `hash` is true get their digest, the others `None`.
pub fn read(dir: &Path, hash: &dyn Fn(&str) -> bool) -> Result<Vec<ContextFile>, Error> {
    let (ignore, _) = Ignore::read(dir).map_err(|error| Error::Ignore {
        dir: dir.to_owned(),
        error,
    })?;
    read_with(dir, &ignore, hash)
}

fn read_with(
    dir: &Path,
    ignore: &Ignore,
    hash: &dyn Fn(&str) -> bool,
) -> Result<Vec<ContextFile>, Error> {
    let err = |path: &Path, error: std::io::Error| Error::Context {
        path: path.to_owned(),
        error,
    };
    let ctx = open_context(dir).map_err(|e| err(dir, e))?;
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
        let digest = if kind != EntryKind::Dir && hash(rel) {
            Some(
                digest_entry(&ctx, rel, kind).map_err(|error| Error::ContextEntry {
                    path: dir.join(rel),
                    error,
                })?,
            )
        } else {
            None
        };
        out.push(ContextFile {
            path: rel.to_owned(),
            kind,
            mode: meta.permissions().mode() & 0o7777,
            digest,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use duckc_ir::Digest;

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
        let listed = read_with(d, &ig, &|p| wanted(&["escape".into(), "src".into()], p)).unwrap();
        let paths: Vec<&str> = listed.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["escape", "keep.md", "src", "src/main.rs"]);
        let digests: Vec<Option<Digest>> = listed.iter().map(|f| f.digest).collect();
        assert_eq!(
            digests,
            [
                // The link's target text, never what it points at.
                Some(Digest::of(b"/etc/passwd")),
                None,
                None,
                Some(Digest::of(b"fn main() {}")),
            ]
        );
    }

    #[test]
    fn entries_not_wanted_are_listed_unhashed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x").unwrap();
        let listed = read(dir.path(), &|_| false).unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].digest, None);
    }
}
