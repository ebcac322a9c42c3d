//! `diff`: the container's upper directory read against its image's layers. `A` a path the
//! image does not have, `C` one it has (a directory overlayfs copied up because something
//! under it changed, or a replaced file), `D` an overlay whiteout (a character device 0:0).
//! An opaque directory (`trusted.overlay.opaque`, or `user.overlay.opaque` without root)
//! replaced the image's: its entries are all `A`, and what the image had there is `D`.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use duckc_store::Store;
use miette::miette;

use super::find;

pub fn diff(store: &Store, query: &str) -> miette::Result<ExitCode> {
    let (dir, config) = find(store, query)?;
    if config.spec.rootfs.ephemeral {
        return Err(miette!(
            help = "run it without `--rm` to keep its changes where `diff` can read them",
            "container `{query}` was started with `--rm`: its changes live on a tmpfs inside it"
        ));
    }
    let mut changes = Vec::new();
    walk(
        &dir.upper(),
        Path::new("/"),
        &config.spec.rootfs.lower,
        false,
        &mut changes,
    );
    changes.sort_by(|a, b| a.1.cmp(&b.1));
    for (kind, path) in changes {
        println!("{kind} {}", path.display());
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether `path` (absolute, inside the container) exists in the image: in the topmost layer
/// that has it, it is not a whiteout.
fn in_image(lower: &[PathBuf], path: &Path) -> bool {
    let rel = path.strip_prefix("/").unwrap_or(path);
    for layer in lower.iter().rev() {
        if let Ok(meta) = std::fs::symlink_metadata(layer.join(rel)) {
            return !is_whiteout(&meta);
        }
    }
    false
}

fn is_whiteout(meta: &std::fs::Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| xattr_is_y(path, name))
}

fn xattr_is_y(path: &Path, name: &str) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let (Ok(p), Ok(n)) = (
        std::ffi::CString::new(path.as_os_str().as_bytes()),
        std::ffi::CString::new(name),
    ) else {
        return false;
    };
    let mut buf = [0u8; 4];
    // SAFETY: valid C strings and a buffer of the given length.
    let len =
        unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    len == 1 && buf[0] == b'y'
}

/// The entries the image has under directory `path` (for an opaque directory).
fn image_entries(lower: &[PathBuf], path: &Path) -> Vec<std::ffi::OsString> {
    let rel = path.strip_prefix("/").unwrap_or(path);
    let mut names = std::collections::BTreeSet::new();
    for layer in lower {
        for e in std::fs::read_dir(layer.join(rel))
            .into_iter()
            .flatten()
            .flatten()
        {
            names.insert(e.file_name());
        }
    }
    names
        .into_iter()
        .filter(|n| in_image(lower, &path.join(n)))
        .collect()
}

/// Record the changes under `upper` (the upper directory of `path`); `added` when an opaque
/// directory above already made everything new.
fn walk(upper: &Path, path: &Path, lower: &[PathBuf], added: bool, out: &mut Vec<(char, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(upper) else {
        return;
    };
    for entry in entries.flatten() {
        let here = path.join(entry.file_name());
        let Ok(meta) = entry.metadata() else { continue };
        if is_whiteout(&meta) {
            if !added {
                out.push(('D', here));
            }
            continue;
        }
        let existed = !added && in_image(lower, &here);
        out.push((if existed { 'C' } else { 'A' }, here.clone()));
        if meta.is_dir() {
            let opaque = is_opaque(&entry.path());
            if opaque && existed {
                let kept: std::collections::BTreeSet<_> = std::fs::read_dir(entry.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.file_name())
                    .collect();
                for name in image_entries(lower, &here) {
                    if !kept.contains(&name) {
                        out.push(('D', here.join(name)));
                    }
                }
            }
            walk(
                &entry.path(),
                &here,
                lower,
                added || opaque || !existed,
                out,
            );
        }
    }
}
