//! A canonical description of a directory tree (paths, types, modes, owners, contents, link
//! targets, device numbers, xattrs; not times), to record snapshots and compare unpacked trees.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use crate::digest::{Digest, digest_reader};

/// One line per entry, sorted by path, e.g. `bin/sh l 0777 0:0 -> busybox`.
/// Overlay whiteouts show as `c 0:0` devices; overlay xattrs are listed too, so two
/// snapshots compare equal only when they overlay the same way.
pub fn describe(root: &Path) -> io::Result<String> {
    let mut out = String::new();
    walk(root, root, &mut out)?;
    Ok(out)
}

/// The sha256 of [`describe`]'s text.
pub fn digest(root: &Path) -> io::Result<Digest> {
    Ok(Digest::of(describe(root)?.as_bytes()))
}

fn walk(root: &Path, dir: &Path, out: &mut String) -> io::Result<()> {
    let mut names: Vec<_> = fs::read_dir(dir)?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<io::Result<_>>()?;
    names.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    for name in names {
        let path = dir.join(&name);
        let rel = path.strip_prefix(root).unwrap_or(&path);
        let meta = fs::symlink_metadata(&path)?;
        let ft = meta.file_type();
        let kind = if ft.is_dir() {
            'd'
        } else if ft.is_file() {
            'f'
        } else if ft.is_symlink() {
            'l'
        } else if ft.is_char_device() {
            'c'
        } else if ft.is_block_device() {
            'b'
        } else if ft.is_fifo() {
            'p'
        } else {
            's'
        };
        let _ = write!(
            out,
            "{} {kind} {:04o} {}:{}",
            rel.display(),
            meta.mode() & 0o7777,
            meta.uid(),
            meta.gid()
        );
        match kind {
            'f' => {
                let (d, n) = digest_reader(fs::File::open(&path)?)?;
                let _ = write!(out, " {n} {}", d.hex());
            }
            'l' => {
                let _ = write!(out, " -> {}", fs::read_link(&path)?.display());
            }
            'c' | 'b' => {
                let _ = write!(
                    out,
                    " {}:{}",
                    rustix::fs::major(meta.rdev()),
                    rustix::fs::minor(meta.rdev())
                );
            }
            _ => {}
        }
        if kind != 'l' {
            for (k, v) in xattrs(&path)? {
                let _ = write!(out, " {}={}", String::from_utf8_lossy(&k), hex::encode(v));
            }
        }
        out.push('\n');
        if kind == 'd' {
            walk(root, &path, out)?;
        }
    }
    Ok(())
}

fn xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let size = match rustix::fs::llistxattr_query(path) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let mut list = vec![0u8; size];
    let n = rustix::fs::llistxattr(path, &mut list[..])?;
    list.truncate(n);
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let os = std::ffi::OsStr::from_bytes(name);
        let mut value = vec![0u8; rustix::fs::lgetxattr_query(path, os)?];
        let n = rustix::fs::lgetxattr(path, os, &mut value[..])?;
        value.truncate(n);
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}
