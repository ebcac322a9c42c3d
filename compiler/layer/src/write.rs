//! Reproducible layer writing: a sorted walk of a directory into a tar with full metadata,
//! hashed (diff_id) and compressed in the same pass.
//!
//! The bytes depend only on the tree's content and metadata, never on the walk order of the
//! file system, the umask, the user names on the host or the time of the build: entries are
//! sorted by name bytes, owners are numeric, mtimes are clamped to `SOURCE_DATE_EPOCH`, and
//! access/change times and user/group names are never written. Long names, long link targets
//! and extended attributes go into PAX records.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};

use crate::compress::{Compression, Encoder};
use crate::digest::{Digest, HashingWriter};

/// The mtime used when `SOURCE_DATE_EPOCH` is unset: the Unix epoch.
pub const DEFAULT_SOURCE_DATE_EPOCH: u64 = 0;

/// `SOURCE_DATE_EPOCH` from the environment, or [`DEFAULT_SOURCE_DATE_EPOCH`].
pub fn source_date_epoch() -> u64 {
    std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(DEFAULT_SOURCE_DATE_EPOCH)
}

/// What kind of directory a layer is written from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourceKind {
    /// An ordinary directory: every entry is content.
    #[default]
    Plain,
    /// An overlayfs upper directory: a character device 0:0 is a whiteout (`.wh.NAME`), a
    /// directory with `trusted.overlay.opaque=y` (or `user.overlay.opaque=y`) is opaque
    /// (`.wh..wh..opq`), and overlay's own xattrs are dropped.
    OverlayUpper,
}

/// How to write a layer.
#[derive(Debug, Clone, Copy)]
pub struct WriteOptions {
    /// Every mtime later than this is clamped to it (seconds since the epoch).
    pub epoch: u64,
    /// How the blob is compressed.
    pub compression: Compression,
    /// How to read the source directory.
    pub source: SourceKind,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            epoch: source_date_epoch(),
            compression: Compression::Gzip,
            source: SourceKind::Plain,
        }
    }
}

/// What writing a layer produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Length of the uncompressed tar.
    pub diff_size: u64,
    /// sha256 of the blob (the compressed bytes).
    pub digest: Digest,
    /// Length of the blob.
    pub size: u64,
    /// How the blob is compressed.
    pub compression: Compression,
    /// Entries in the tar (PAX records not counted).
    pub entries: u64,
}

/// Errors while writing a layer.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Reading the source or writing the output failed.
    #[error("cannot write the layer entry for `{path}`: {source}")]
    Io {
        /// The source path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A file changed size while it was being read.
    #[error("`{0}` changed while it was being written into the layer")]
    Changed(PathBuf),
}

type Result<T> = std::result::Result<T, WriteError>;

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Write the tree under `source` as a layer blob into `out`; return `out` and what was written.
pub fn write_layer<W: Write>(source: &Path, opts: &WriteOptions, out: W) -> Result<(W, LayerInfo)> {
    let ctx = io_err(source);
    match opts.compression {
        // An uncompressed blob is the tar itself: hash it once.
        Compression::None => {
            let mut tar = TarWriter::new(HashingWriter::new(out), opts);
            tar.write_tree(source)?;
            let (hw, entries) = tar.finish().map_err(ctx)?;
            let (out, diff_id, diff_size) = hw.finish();
            Ok((
                out,
                LayerInfo {
                    diff_id,
                    diff_size,
                    digest: diff_id,
                    size: diff_size,
                    compression: Compression::None,
                    entries,
                },
            ))
        }
        compression => {
            let blob = HashingWriter::new(out);
            let enc = Encoder::new(blob, compression).map_err(io_err(source))?;
            let mut tar = TarWriter::new(HashingWriter::new(enc), opts);
            tar.write_tree(source)?;
            let (hw, entries) = tar.finish().map_err(io_err(source))?;
            let (enc, diff_id, diff_size) = hw.finish();
            let blob = enc.finish().map_err(io_err(source))?;
            let (out, digest, size) = blob.finish();
            Ok((
                out,
                LayerInfo {
                    diff_id,
                    diff_size,
                    digest,
                    size,
                    compression,
                    entries,
                },
            ))
        }
    }
}

/// Clamp every mtime under `root` (the root excluded, as the writer never records it) to
/// `epoch`, without following symlinks: the tree then has the times a layer written from it
/// records, so it can serve as that layer's unpacked snapshot.
pub fn clamp_mtimes(root: &Path, epoch: u64) -> io::Result<()> {
    let epoch_i = i64::try_from(epoch).unwrap_or(i64::MAX);
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let meta = fs::symlink_metadata(&path)?;
            if meta.is_dir() {
                dirs.push(path.clone());
            }
            if meta.mtime() > epoch_i || (meta.mtime() == epoch_i && meta.mtime_nsec() != 0) {
                let t = rustix::fs::Timestamps {
                    last_access: rustix::fs::Timespec {
                        tv_sec: epoch_i,
                        tv_nsec: 0,
                    },
                    last_modification: rustix::fs::Timespec {
                        tv_sec: epoch_i,
                        tv_nsec: 0,
                    },
                };
                rustix::fs::utimensat(
                    rustix::fs::CWD,
                    &path,
                    &t,
                    rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
                )?;
            }
        }
    }
    Ok(())
}

/// Write an uncompressed reproducible tar of `source` into `out`; return `out` and the entry count.
pub fn write_tar<W: Write>(source: &Path, opts: &WriteOptions, out: W) -> Result<(W, u64)> {
    let mut tar = TarWriter::new(out, opts);
    tar.write_tree(source)?;
    tar.finish().map_err(io_err(source))
}

/// One tar entry's metadata, already normalised.
#[derive(Debug, Clone)]
pub(crate) struct EntryHeader {
    pub path: Vec<u8>,
    pub kind: u8,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub mtime: u64,
    pub size: u64,
    pub link: Option<Vec<u8>>,
    pub dev: (u32, u32),
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl EntryHeader {
    pub(crate) fn new(path: Vec<u8>, kind: u8) -> Self {
        EntryHeader {
            path,
            kind,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            size: 0,
            link: None,
            dev: (0, 0),
            xattrs: Vec::new(),
        }
    }
}

/// A minimal, deterministic ustar+PAX writer.
pub(crate) struct TarWriter<W: Write> {
    out: W,
    epoch: u64,
    source_kind: SourceKind,
    links: HashMap<(u64, u64), Vec<u8>>,
    entries: u64,
    buf: Vec<u8>,
}

const BLOCK: usize = 512;

impl<W: Write> TarWriter<W> {
    pub(crate) fn new(out: W, opts: &WriteOptions) -> Self {
        TarWriter {
            out,
            epoch: opts.epoch,
            source_kind: opts.source,
            links: HashMap::new(),
            entries: 0,
            buf: vec![0; 1 << 20],
        }
    }

    /// Write the two zero blocks that end an archive.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        self.out.write_all(&[0; BLOCK * 2])?;
        self.out.flush()?;
        Ok((self.out, self.entries))
    }

    fn write_tree(&mut self, root: &Path) -> Result<()> {
        let meta = fs::symlink_metadata(root).map_err(io_err(root))?;
        if !meta.is_dir() {
            return Err(WriteError::Io {
                path: root.to_owned(),
                source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
            });
        }
        let dir = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(root)(e.into()))?;
        self.write_children(&dir, root, &mut Vec::new())
    }

    /// Writes the entries of the directory open as `dir` (shown as `path` in errors). Every
    /// entry is opened relative to `dir` without following a link (`O_PATH|O_NOFOLLOW`) and
    /// described through that descriptor, so a tree that changes while it is walked (a running
    /// container swapping a directory for a symlink to `/`) is read as what each entry is when
    /// opened, and never through a link (SECURITY 37).
    fn write_children(&mut self, dir: &OwnedFd, path: &Path, prefix: &mut Vec<u8>) -> Result<()> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir).map_err(|e| io_err(path)(e.into()))? {
            let entry = entry.map_err(|e| io_err(path)(e.into()))?;
            let name = entry.file_name().to_bytes();
            if name != b"." && name != b".." {
                names.push(name.to_vec());
            }
        }
        names.sort();
        for name in names {
            let child = path.join(OsStr::from_bytes(&name));
            let len = prefix.len();
            prefix.extend_from_slice(&name);
            let fd = match rustix::fs::openat(
                dir,
                &name[..],
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                // Removed since the directory was read: it is not in the tree any more.
                Err(rustix::io::Errno::NOENT) => {
                    prefix.truncate(len);
                    continue;
                }
                Err(e) => return Err(io_err(&child)(e.into())),
            };
            self.write_entry(fd, &child, prefix)?;
            prefix.truncate(len);
        }
        Ok(())
    }

    /// Writes one entry, open as `O_PATH|O_NOFOLLOW` in `fd` (the entry itself, a symlink
    /// included).
    fn write_entry(&mut self, fd: OwnedFd, path: &Path, rel: &mut Vec<u8>) -> Result<()> {
        let fd = fs::File::from(fd);
        let meta = fd.metadata().map_err(io_err(path))?;
        let ft = meta.file_type();
        let mut h = EntryHeader::new(rel.clone(), b'0');
        h.mode = meta.mode() & 0o7777;
        h.uid = u64::from(meta.uid());
        h.gid = u64::from(meta.gid());
        h.mtime = u64::try_from(meta.mtime()).unwrap_or(0).min(self.epoch);
        let overlay = self.source_kind == SourceKind::OverlayUpper;
        if overlay && crate::overlay::is_whiteout(&meta) {
            // An overlay whiteout: the name is deleted in this layer.
            let (parent, base) = split_last(rel);
            let mut wh = parent.to_vec();
            wh.extend_from_slice(b".wh.");
            wh.extend_from_slice(base);
            let mut h = EntryHeader::new(wh, b'0');
            h.mode = 0o600;
            h.mtime = h.mtime.min(self.epoch);
            return self.append(&h, &mut io::empty()).map_err(io_err(path));
        }
        // `/proc/self/fd/N` of an `O_PATH` descriptor names exactly the inode it holds (the
        // symlink itself for a link), whatever happens to the name meanwhile.
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        h.xattrs = read_xattrs(&by_fd).map_err(io_err(path))?;
        let opaque = overlay
            && h.xattrs
                .iter()
                .any(|(k, v)| crate::overlay::is_opaque_xattr(k, v));
        h.xattrs.retain(|(k, _)| {
            !(k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay."))
        });
        if ft.is_dir() {
            h.kind = b'5';
            rel.push(b'/');
            h.path = rel.clone();
            self.append(&h, &mut io::empty()).map_err(io_err(path))?;
            if opaque {
                let mut opq = rel.clone();
                opq.extend_from_slice(b".wh..wh..opq");
                let mut o = EntryHeader::new(opq, b'0');
                o.mode = 0o600;
                o.mtime = h.mtime;
                self.append(&o, &mut io::empty()).map_err(io_err(path))?;
            }
            let dir = rustix::fs::openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_err(path)(e.into()))?;
            return self.write_children(&dir, path, rel);
        }
        if !ft.is_dir() && meta.nlink() > 1 {
            let key = (meta.dev(), meta.ino());
            if let Some(first) = self.links.get(&key) {
                h.kind = b'1';
                h.link = Some(first.clone());
                h.xattrs.clear();
                return self.append(&h, &mut io::empty()).map_err(io_err(path));
            }
            self.links.insert(key, rel.clone());
        }
        if ft.is_file() {
            h.size = meta.len();
            // Reopened through the descriptor: the same inode, known to be a regular file.
            let file = fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NOCTTY)
                .open(&by_fd)
                .map_err(io_err(path))?;
            let mut limited = file.take(h.size);
            self.append(&h, &mut limited).map_err(|e| {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    WriteError::Changed(path.to_owned())
                } else {
                    WriteError::Io {
                        path: path.to_owned(),
                        source: e,
                    }
                }
            })?;
            return Ok(());
        }
        if ft.is_symlink() {
            h.kind = b'2';
            h.link = Some(
                rustix::fs::readlinkat(&fd, "", Vec::new())
                    .map_err(|e| io_err(path)(e.into()))?
                    .into_bytes(),
            );
        } else if ft.is_char_device() || ft.is_block_device() {
            h.kind = if ft.is_char_device() { b'3' } else { b'4' };
            let rdev = meta.rdev();
            h.dev = (rustix::fs::major(rdev), rustix::fs::minor(rdev));
        } else if ft.is_fifo() {
            h.kind = b'6';
        } else {
            // Sockets and anything else cannot be carried in a layer; docker skips them too.
            return Ok(());
        }
        self.append(&h, &mut io::empty()).map_err(io_err(path))
    }

    /// Append one entry: a PAX header when needed, the ustar header, the data and its padding.
    pub(crate) fn append(&mut self, h: &EntryHeader, data: &mut dyn Read) -> io::Result<()> {
        let mut pax: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
        let mut header = tar::Header::new_ustar();
        let (name, prefix) = match split_ustar(&h.path) {
            Some(parts) => parts,
            None => {
                pax.push((b"path".to_vec(), h.path.clone()));
                (truncate(&h.path, 100), &[][..])
            }
        };
        {
            let ustar = header.as_ustar_mut().expect("ustar header");
            ustar.name[..name.len()].copy_from_slice(name);
            ustar.prefix[..prefix.len()].copy_from_slice(prefix);
        }
        if let Some(link) = &h.link {
            if link.len() > 100 {
                pax.push((b"linkpath".to_vec(), link.clone()));
            }
            let l = truncate(link, 100);
            header.as_old_mut().linkname[..l.len()].copy_from_slice(l);
        }
        for (k, v) in &h.xattrs {
            let mut key = b"SCHILY.xattr.".to_vec();
            key.extend_from_slice(k);
            pax.push((key, v.clone()));
        }
        const MAX_OCTAL: u64 = 0o7777777;
        if h.uid > MAX_OCTAL {
            pax.push((b"uid".to_vec(), h.uid.to_string().into_bytes()));
        }
        if h.gid > MAX_OCTAL {
            pax.push((b"gid".to_vec(), h.gid.to_string().into_bytes()));
        }
        if h.size > 0o77777777777 {
            pax.push((b"size".to_vec(), h.size.to_string().into_bytes()));
        }
        header.set_mode(h.mode);
        header.set_uid(h.uid.min(MAX_OCTAL));
        header.set_gid(h.gid.min(MAX_OCTAL));
        header.set_mtime(h.mtime);
        header.set_size(if h.size > 0o77777777777 { 0 } else { h.size });
        header.set_entry_type(tar::EntryType::new(h.kind));
        if h.kind == b'3' || h.kind == b'4' {
            header.set_device_major(h.dev.0)?;
            header.set_device_minor(h.dev.1)?;
        }
        header.set_cksum();
        if !pax.is_empty() {
            self.write_pax(&h.path, &pax)?;
        }
        self.out.write_all(header.as_bytes())?;
        let mut written = 0u64;
        loop {
            let n = match data.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            self.out.write_all(&self.buf[..n])?;
            written += n as u64;
        }
        if written != h.size {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file changed size",
            ));
        }
        let pad = (BLOCK - (written % BLOCK as u64) as usize) % BLOCK;
        self.out.write_all(&[0; BLOCK][..pad])?;
        self.entries += 1;
        Ok(())
    }

    fn write_pax(&mut self, path: &[u8], records: &[(Vec<u8>, Vec<u8>)]) -> io::Result<()> {
        let mut body = Vec::new();
        for (k, v) in records {
            // "%d %s=%s\n", where the length counts itself.
            let rest = 1 + k.len() + 1 + v.len() + 1;
            let mut len = rest + 1;
            while len != rest + len.to_string().len() {
                len = rest + len.to_string().len();
            }
            body.extend_from_slice(len.to_string().as_bytes());
            body.push(b' ');
            body.extend_from_slice(k);
            body.push(b'=');
            body.extend_from_slice(v);
            body.push(b'\n');
        }
        let (parent, base) = split_last(path.strip_suffix(b"/").unwrap_or(path));
        let mut name = parent.to_vec();
        name.extend_from_slice(b"PaxHeaders.0/");
        name.extend_from_slice(base);
        let mut header = tar::Header::new_ustar();
        let n = truncate(&name, 100);
        header.as_ustar_mut().expect("ustar header").name[..n.len()].copy_from_slice(n);
        header.set_mode(0o644);
        header.set_size(body.len() as u64);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_cksum();
        self.out.write_all(header.as_bytes())?;
        self.out.write_all(&body)?;
        let pad = (BLOCK - body.len() % BLOCK) % BLOCK;
        self.out.write_all(&[0; BLOCK][..pad])
    }
}

fn truncate(b: &[u8], n: usize) -> &[u8] {
    &b[..b.len().min(n)]
}

/// Split `a/b/c` into (`a/b/`, `c`).
fn split_last(path: &[u8]) -> (&[u8], &[u8]) {
    match path.iter().rposition(|&b| b == b'/') {
        Some(i) => (&path[..=i], &path[i + 1..]),
        None => (&[], path),
    }
}

/// Fit a path into ustar's name (100) and prefix (155) fields, splitting at a `/`.
fn split_ustar(path: &[u8]) -> Option<(&[u8], &[u8])> {
    if path.len() <= 100 {
        return Some((path, &[]));
    }
    // The prefix may not hold the final slash of a directory name.
    let body = path.strip_suffix(b"/").unwrap_or(path);
    for (i, &b) in body.iter().enumerate() {
        if b == b'/' && i <= 155 && path.len() - i - 1 <= 100 && i > 0 {
            return Some((&path[i + 1..], &path[..i]));
        }
    }
    None
}

/// The extended attributes of the inode `path` (`/proc/self/fd/N` of an `O_PATH` descriptor)
/// names, sorted by name.
fn read_xattrs(path: &Path) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let size = match rustix::fs::listxattr_query(path) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    if size == 0 {
        return Ok(Vec::new());
    }
    let mut list = vec![0u8; size];
    let n = rustix::fs::listxattr(path, &mut list[..])?;
    list.truncate(n);
    let mut out = Vec::new();
    for name in list.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let name_os = OsStr::from_bytes(name);
        let len = match rustix::fs::getxattr_query(path, name_os) {
            Ok(n) => n,
            Err(rustix::io::Errno::NODATA) => continue,
            Err(e) => return Err(e.into()),
        };
        let mut value = vec![0u8; len];
        let n = rustix::fs::getxattr(path, name_os, &mut value[..])?;
        value.truncate(n);
        out.push((name.to_vec(), value));
    }
    out.sort();
    Ok(out)
}
