//! `copy … from=` (Dockerfile `COPY --from`): files come out of another node's filesystem
//! instead of the build context.
//!
//! The source chain is flattened into a private directory from the layers' snapshots (hard
//! links to their files, whiteouts and opaque directories applied; nothing decompressed). Each source path is then opened with
//! `openat2(RESOLVE_IN_ROOT)`, so symlinks on the way — even absolute ones, or `..` — resolve
//! inside that root as they would inside the image, never to the host. Below a copied directory
//! nothing is followed: symlinks are copied as symlinks. Owners and modes are kept from the
//! source (as Docker does) unless `chown=`/`chmod=` say otherwise. The destination resolves
//! in the copying image's own tree, as for a context `copy` (see [`crate::lower`]).

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use duckc_ir::{CopyFrom, CopyStep};
use duckc_store::{LayerRef, Store};
use rustix::fs::{Mode, OFlags, ResolveFlags};

use crate::lower::{self, LowerTree};
use crate::{Error, Result, io_err};

/// Extracts the image made of `layers` into `dest` (which must exist), bottom first.
pub(crate) fn flatten(store: &Store, layers: &[LayerRef], dest: &Path) -> Result<()> {
    Ok(duckc_image::unpack_layers(store, layers, dest)?)
}

/// Builds the image made of `layers` in `dest` (which must exist, on the store's file system)
/// from the layers' snapshots, bottom first, as overlayfs would show them: every file is a
/// hard link to its snapshot's inode (nothing is decompressed or copied), directories are
/// made with the topmost layer's metadata, whiteouts remove, opaque directories hide what is
/// below. The result must only be read: writing a file would write the snapshot.
pub(crate) fn flatten_linked(store: &Store, layers: &[LayerRef], dest: &Path) -> Result<()> {
    // Directory times are set last, as adding entries changes them: each directory's from
    // the topmost layer that has it, and none for a directory a later layer removed (a
    // whiteout, `rm -rf dir/*` in a later step).
    let mut times: std::collections::BTreeMap<PathBuf, fs::Metadata> = Default::default();
    for layer in layers {
        let snap = store.snapshot(&layer.diff_id)?;
        for entry in walkdir::WalkDir::new(&snap)
            .follow_links(false)
            .sort_by_file_name()
            .min_depth(1)
        {
            let entry = entry.map_err(|e| io_err(&snap)(e.into()))?;
            let rel = entry.path().strip_prefix(&snap).unwrap_or(entry.path());
            let out = dest.join(rel);
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(io_err(entry.path()))?;
            let existing = out.symlink_metadata().ok();
            let ft = meta.file_type();
            if duckc_layer::overlay::is_whiteout(&meta) {
                // A whiteout: the path is gone from here up.
                if existing.is_some() {
                    duckc_layer::remove_tree(&out).map_err(io_err(&out))?;
                    times.retain(|p, _| !p.starts_with(&out));
                }
                continue;
            }
            if ft.is_dir() {
                let opaque = duckc_layer::overlay::is_opaque(entry.path());
                match existing {
                    Some(m) if m.is_dir() && !opaque => {}
                    Some(_) => {
                        duckc_layer::remove_tree(&out).map_err(io_err(&out))?;
                        times.retain(|p, _| !p.starts_with(&out));
                        fs::create_dir(&out).map_err(io_err(&out))?;
                    }
                    None => fs::create_dir(&out).map_err(io_err(&out))?,
                }
                fs::set_permissions(&out, fs::Permissions::from_mode(meta.mode() & 0o7777))
                    .map_err(io_err(&out))?;
                std::os::unix::fs::lchown(&out, Some(meta.uid()), Some(meta.gid()))
                    .map_err(io_err(&out))?;
                times.insert(out, meta);
                continue;
            }
            if let Some(m) = existing {
                if m.is_dir() {
                    duckc_layer::remove_tree(&out).map_err(io_err(&out))?;
                    times.retain(|p, _| !p.starts_with(&out));
                } else {
                    fs::remove_file(&out).map_err(io_err(&out))?;
                }
            }
            fs::hard_link(entry.path(), &out).map_err(io_err(&out))?;
        }
    }
    for (dir, meta) in &times {
        let t = |s: i64, ns: i64| rustix::fs::Timespec {
            tv_sec: s,
            tv_nsec: ns as _,
        };
        let stamps = rustix::fs::Timestamps {
            last_access: t(meta.atime(), meta.atime_nsec()),
            last_modification: t(meta.mtime(), meta.mtime_nsec()),
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            dir,
            &stamps,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(dir)(e.into()))?;
    }
    Ok(())
}

/// Resolves `path` (absolute, in the image) inside `root` as the image would see it, following
/// symlinks only within `root`. Returns the real host path of what it names, inside `root`.
pub(crate) fn resolve_in_root(root: &Path, path: &str) -> Result<Option<PathBuf>> {
    let dir = rustix::fs::open(
        root,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(root)(e.into()))?;
    let rel = path.trim_start_matches('/');
    let rel = if rel.is_empty() { "." } else { rel };
    let fd = match rustix::fs::openat2(
        &dir,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::NOENT) | Err(rustix::io::Errno::NOTDIR) => return Ok(None),
        Err(e) => return Err(io_err(Path::new(path))(e.into())),
    };
    let real = fs::read_link(format!(
        "/proc/self/fd/{}",
        rustix::fd::AsRawFd::as_raw_fd(&fd)
    ))
    .map_err(io_err(Path::new(path)))?;
    // RESOLVE_IN_ROOT guarantees this; checked again because everything below trusts it.
    let root_real = fs::canonicalize(root).map_err(io_err(root))?;
    if !real.starts_with(&root_real) {
        return Ok(None);
    }
    Ok(Some(real))
}

/// The source paths `pattern` names in `root`: itself, or for a last component with `*`/`?`,
/// every matching entry of its directory (sorted).
fn expand(root: &Path, pattern: &str) -> Result<Vec<(String, PathBuf)>> {
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    if !last.contains(['*', '?', '[']) {
        return Ok(resolve_in_root(root, pattern)?
            .map(|p| vec![(last.to_owned(), p)])
            .unwrap_or_default());
    }
    let Some(real_dir) = resolve_in_root(root, if dir.is_empty() { "/" } else { dir })? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let entries = fs::read_dir(&real_dir).map_err(io_err(&real_dir))?;
    for e in entries {
        let e = e.map_err(io_err(&real_dir))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if duckc_ir::path::glob(last, &name)
            && let Some(p) = resolve_in_root(root, &format!("{dir}/{name}"))?
        {
            out.push((name, p));
        }
    }
    out.sort();
    Ok(out)
}

/// Writes the layer of a `copy … from=` node: `source` is the source node's chain, `chain`
/// the copying env's (for `chown=` by name, and the tree the destination resolves in).
pub(crate) fn copy_from_layer(
    store: &Store,
    step: &CopyStep,
    from: &CopyFrom,
    source: &[LayerRef],
    chain: &[LayerRef],
) -> Result<LayerRef> {
    let owner = match step.chown.as_deref() {
        Some(_) => Some(crate::copy::mapped_owner(
            store,
            chain,
            step.chown.as_deref(),
        )?),
        None => None,
    };
    let tree = LowerTree::open(store, chain)?;
    let work = store.tmp_path("copy-from");
    let result = (|| {
        let root = work.join("root");
        let stage = work.join("stage");
        fs::create_dir_all(&root).map_err(io_err(&root))?;
        fs::create_dir(&stage).map_err(io_err(&stage))?;
        flatten_linked(store, source, &root)?;
        let wild = from.paths.iter().any(|p| p.contains(['*', '?', '[']));
        let into_dir = step.destination.ends_with('/') || from.paths.len() > 1 || wild;
        // Where the destination really is in the copying image (its symlinks followed there).
        let dest = tree.resolve(step.destination.trim_end_matches('/'))?;
        let dest_is_dir = tree.dir(&dest)?.is_some();
        for pattern in &from.paths {
            let found = expand(&root, pattern)?;
            if found.is_empty() {
                return Err(Error::CopyFromMissing {
                    path: pattern.clone(),
                    image: from.name.clone(),
                });
            }
            for (name, real) in found {
                let meta = fs::metadata(&real).map_err(io_err(&real))?;
                if meta.is_dir() {
                    copy_tree(&real, &stage, &tree, &dest, from, owner)?;
                } else {
                    let mut target = dest.clone();
                    if into_dir || dest_is_dir {
                        target.push(name.into());
                    }
                    if let Some((_, parent)) = target.split_last() {
                        lower::make_dirs(&stage, &tree, parent, owner.unwrap_or((0, 0)))?;
                        copy_entry(&real, &lower::staged(&stage, &target), from.chmod, owner)?;
                    }
                }
            }
        }
        crate::copy::write_staged_layer(store, &stage)
    })();
    let _ = duckc_layer::remove_tree(&work);
    result
}

/// Copies the contents of directory `src` to `dest` (resolved in `tree`) under `stage`. An
/// existing `dest` keeps its owner and mode (BuildKit keeps the top directory's); one the
/// step creates takes the source directory's.
fn copy_tree(
    src: &Path,
    stage: &Path,
    tree: &LowerTree,
    dest: &[std::ffi::OsString],
    from: &CopyFrom,
    owner: Option<(u32, u32)>,
) -> Result<()> {
    let top = lower::staged(stage, dest);
    let top_exists = tree.dir(dest)?.is_some();
    // The root (no parent) is there already, and keeps what it has.
    if let Some((_, parent)) = dest.split_last() {
        lower::make_dirs(stage, tree, parent, owner.unwrap_or((0, 0)))?;
    }
    if top_exists {
        lower::make_dirs(stage, tree, dest, owner.unwrap_or((0, 0)))?;
    }
    for entry in walkdir::WalkDir::new(src)
        .follow_links(false)
        .sort_by_file_name()
    {
        let entry = entry.map_err(|e| io_err(src)(e.into()))?;
        let rel = entry.path().strip_prefix(src).unwrap_or(Path::new(""));
        let rel_str = rel.to_string_lossy();
        if rel_str.is_empty() {
            if !top_exists && !dest.is_empty() {
                copy_entry(entry.path(), &top, from.chmod, owner)?;
            }
            continue;
        }
        if duckc_ir::path::excluded(&from.exclude, &rel_str) {
            continue;
        }
        copy_entry(entry.path(), &top.join(rel), from.chmod, owner)?;
    }
    Ok(())
}

/// Copies one entry (not following a symlink at `src`), keeping its owner and mode unless
/// overridden. Devices, sockets and fifos are not copied.
fn copy_entry(src: &Path, out: &Path, chmod: Option<u32>, owner: Option<(u32, u32)>) -> Result<()> {
    let meta = fs::symlink_metadata(src).map_err(io_err(src))?;
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(src).map_err(io_err(src))?;
        let _ = fs::remove_file(out);
        std::os::unix::fs::symlink(&target, out).map_err(io_err(out))?;
    } else if ft.is_dir() {
        match fs::symlink_metadata(out) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                // A link or file staged by an earlier source: replaced, never chmod'ed through.
                fs::remove_file(out).map_err(io_err(out))?;
                fs::create_dir(out).map_err(io_err(out))?;
            }
            Err(_) => fs::create_dir(out).map_err(io_err(out))?,
        }
    } else if ft.is_file() {
        // A link staged by an earlier source is replaced, never written through.
        if fs::symlink_metadata(out).is_ok_and(|m| !m.is_dir()) {
            fs::remove_file(out).map_err(io_err(out))?;
        }
        let mut from = crate::context::open_nofollow(src).map_err(io_err(src))?;
        let mut to = fs::File::create(out).map_err(io_err(out))?;
        std::io::copy(&mut from, &mut to).map_err(io_err(out))?;
    } else {
        return Ok(());
    }
    if !ft.is_symlink() {
        let mode = chmod.unwrap_or(meta.mode() & 0o7777);
        fs::set_permissions(out, fs::Permissions::from_mode(mode)).map_err(io_err(out))?;
    }
    let (uid, gid) = owner.unwrap_or((meta.uid(), meta.gid()));
    std::os::unix::fs::lchown(out, Some(uid), Some(gid)).map_err(io_err(out))?;
    Ok(())
}
