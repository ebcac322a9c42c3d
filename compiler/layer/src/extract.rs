//! Safe extraction of a layer tar into a directory.
//!
//! Nothing outside the destination is ever read, written or created: every parent directory
//! is opened with `openat2(RESOLVE_IN_ROOT)` relative to the destination's file descriptor, so
//! symlinks (absolute ones included) resolve as if the destination were `/`, and every entry
//! is then created with `*at` calls on that parent's descriptor without following a final
//! symlink. Names with `..`, absolute names, hard links that leave the tree, out-of-range
//! device numbers and malformed whiteouts are refused. Sizes are bounded by [`Limits`].
//!
//! Whiteouts are either turned into overlayfs whiteouts (a snapshot used as an overlay lower
//! directory, [`WhiteoutMode::Overlay`]) or applied by deleting what they hide in the tree
//! below ([`WhiteoutMode::Apply`]), as the OCI image spec describes.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};
use rustix::io::Errno;

use crate::compress;
use crate::digest::{Digest, HashingReader};

/// Size bounds against compression bombs and absurd entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of uncompressed tar read from one layer.
    pub max_bytes: u64,
    /// Largest size one entry may declare.
    pub max_entry_size: u64,
    /// Most entries in one layer.
    pub max_entries: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: 64 << 30,
            max_entry_size: 32 << 30,
            max_entries: 10_000_000,
        }
    }
}

/// What to do with whiteout entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhiteoutMode {
    /// Write overlayfs whiteouts: `.wh.NAME` becomes a character device 0:0 named `NAME`,
    /// `.wh..wh..opq` sets `trusted.overlay.opaque=y` (`user.overlay.opaque` when not root).
    /// This is how a snapshot is stored for use as an overlay lower directory.
    #[default]
    Overlay,
    /// Apply them to the tree already in the destination (lower layers): delete the hidden
    /// path, or every child of an opaque directory that this layer did not itself add.
    Apply,
}

/// How to extract.
#[derive(Debug, Clone, Copy)]
pub struct ExtractOptions {
    /// Whiteout handling.
    pub whiteouts: WhiteoutMode,
    /// Size bounds.
    pub limits: Limits,
    /// Set numeric owners from the archive (needs root; otherwise files belong to the caller).
    pub owners: bool,
    /// Create device nodes (needs root; otherwise they are skipped).
    pub devices: bool,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        ExtractOptions {
            whiteouts: WhiteoutMode::Overlay,
            limits: Limits::default(),
            owners: crate::ids::can_chown(),
            devices: crate::ids::host_root(),
        }
    }
}

/// Errors while extracting.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// An absolute name, or a name with `..`.
    #[error("layer entry `{0}` has an unsafe name (absolute, or containing `..`)")]
    UnsafePath(String),
    /// A hard link whose target is absolute or has `..`.
    #[error("hard link `{path}` points outside the layer (`{target}`)")]
    UnsafeLink {
        /// The entry.
        path: String,
        /// Its target.
        target: String,
    },
    /// The root entry is not a directory.
    #[error("layer entry `{0}` for the root directory is not a directory")]
    RootNotDirectory(String),
    /// A malformed whiteout name.
    #[error("malformed whiteout `{0}`")]
    BadWhiteout(String),
    /// Device numbers out of range.
    #[error("device node `{path}` has out-of-range numbers {major}:{minor}")]
    BadDevice {
        /// The entry.
        path: String,
        /// Major number.
        major: u64,
        /// Minor number.
        minor: u64,
    },
    /// The layer has more uncompressed bytes than allowed.
    #[error("layer is larger than the limit of {0} bytes uncompressed")]
    TooLarge(u64),
    /// One entry declares more bytes than allowed.
    #[error("layer entry `{path}` declares {size} bytes, over the limit of {limit}")]
    EntryTooLarge {
        /// The entry.
        path: String,
        /// Its declared size.
        size: u64,
        /// The limit.
        limit: u64,
    },
    /// Too many entries.
    #[error("layer has more than {0} entries")]
    TooManyEntries(u64),
    /// An entry type duckc does not extract.
    #[error("layer entry `{path}` has unsupported type `{kind}`")]
    Unsupported {
        /// The entry.
        path: String,
        /// Its tar type flag.
        kind: char,
    },
    /// The blob or the tar did not hash to what was expected.
    #[error("{what} digest mismatch: expected {expected}, got {actual}")]
    DigestMismatch {
        /// `blob` or `uncompressed layer`.
        what: &'static str,
        /// The expected digest.
        expected: Digest,
        /// The digest of what was read.
        actual: Digest,
    },
    /// The blob had another length than expected.
    #[error("blob size mismatch: expected {expected} bytes, got {actual}")]
    SizeMismatch {
        /// The expected size.
        expected: u64,
        /// What was read.
        actual: u64,
    },
    /// An owner the process cannot give (a rootless duckc whose user namespace maps too few
    /// ids: `chown` answers EINVAL for an unmapped id).
    #[error(
        "cannot extract `{path}`: its owner {uid}:{gid} is not mapped in this rootless duckc's user namespace (too few subordinate ids in /etc/subuid and /etc/subgid; 65536 cover Debian's packages)"
    )]
    UnmappedOwner {
        /// The entry.
        path: String,
        /// Its owner.
        uid: u64,
        gid: u64,
    },
    /// A file system operation failed.
    #[error("cannot extract `{path}`: {source}")]
    Io {
        /// The entry.
        path: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The archive could not be read.
    #[error("cannot read the layer: {0}")]
    Read(io::Error),
}

/// Result of this module.
pub type Result<T> = std::result::Result<T, ExtractError>;

/// The first entry of a layer whose owner an extraction could not give (a rootless duckc with
/// only the caller mapped leaves every file to itself): the file is owner 0:0 in the tree.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DroppedOwner {
    /// The entry, as an absolute path in the image (`/etc/shadow`).
    pub path: String,
    /// Its owner in the layer.
    pub uid: u64,
    /// Its group in the layer.
    pub gid: u64,
}

/// What an extraction saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractStats {
    /// Entries extracted (including whiteouts).
    pub entries: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Length of the uncompressed tar.
    pub diff_size: u64,
    /// sha256 of the blob as read.
    pub digest: Digest,
    /// Length of the blob as read.
    pub size: u64,
    /// The first entry whose owner was not given (only when `ExtractOptions::owners` is off).
    pub dropped_owner: Option<DroppedOwner>,
}

/// What a blob is expected to be; each `Some` is checked after reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expected {
    /// Digest of the blob.
    pub digest: Option<Digest>,
    /// Length of the blob.
    pub size: Option<u64>,
    /// Digest of the uncompressed tar.
    pub diff_id: Option<Digest>,
}

/// Extract a layer blob (plain, gzip or zstd, recognised by magic bytes) into `dest`, which
/// must exist; check digests as the bytes stream. On error `dest` holds a partial tree: the
/// caller extracts into a private directory and removes it.
pub fn unpack_layer(
    blob: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
    expected: &Expected,
) -> Result<ExtractStats> {
    let mut compressed = HashingReader::new(blob);
    let flag = Arc::new(AtomicBool::new(false));
    let (entries, dropped_owner, diff_id, diff_size) = {
        let decoder = compress::decoder(&mut compressed).map_err(ExtractError::Read)?;
        let limited = LimitReader {
            inner: decoder,
            left: opts.limits.max_bytes,
            hit: flag.clone(),
        };
        let mut tar_stream = HashingReader::new(limited);
        let (entries, dropped_owner) = extract_tar(&mut tar_stream, dest, opts, &mut |_, _| {})
            .map_err(|e| limit_err(e, &flag, opts))?;
        let (diff_id, diff_size) = tar_stream
            .finish()
            .map_err(|e| limit_err(ExtractError::Read(e), &flag, opts))?;
        (entries, dropped_owner, diff_id, diff_size)
    };
    let (digest, size) = compressed.finish().map_err(ExtractError::Read)?;
    if let Some(expected) = expected.size.filter(|&s| s != size) {
        return Err(ExtractError::SizeMismatch {
            expected,
            actual: size,
        });
    }
    if let Some(expected) = expected.digest.filter(|&d| d != digest) {
        return Err(ExtractError::DigestMismatch {
            what: "blob",
            expected,
            actual: digest,
        });
    }
    if let Some(expected) = expected.diff_id.filter(|&d| d != diff_id) {
        return Err(ExtractError::DigestMismatch {
            what: "uncompressed layer",
            expected,
            actual: diff_id,
        });
    }
    Ok(ExtractStats {
        entries,
        diff_id,
        diff_size,
        digest,
        size,
        dropped_owner,
    })
}

fn limit_err(e: ExtractError, flag: &AtomicBool, opts: &ExtractOptions) -> ExtractError {
    if flag.load(Ordering::Relaxed) {
        ExtractError::TooLarge(opts.limits.max_bytes)
    } else {
        e
    }
}

struct LimitReader<R> {
    inner: R,
    left: u64,
    hit: Arc<AtomicBool>,
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Only an error if there is more to read.
            let mut one = [0u8; 1];
            return match self.inner.read(&mut one)? {
                0 => Ok(0),
                _ => {
                    self.hit.store(true, Ordering::Relaxed);
                    Err(io::Error::other("layer size limit reached"))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// Extract an uncompressed tar stream into `dest` (which must exist); return the entry count.
pub fn extract_into(tar_stream: impl Read, dest: &Path, opts: &ExtractOptions) -> Result<u64> {
    extract_into_observed(tar_stream, dest, opts, &mut |_, _| {})
}

/// [`extract_into`], calling `observe` with each entry's raw name and whether it is a regular
/// file, in archive order, before the entry is extracted (a package's file list is read in the
/// same pass as its files).
pub fn extract_into_observed(
    tar_stream: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
    observe: &mut dyn FnMut(&[u8], bool),
) -> Result<u64> {
    extract_tar(tar_stream, dest, opts, observe).map(|(entries, _)| entries)
}

/// [`extract_into_observed`], also returning the first entry whose owner was not given.
fn extract_tar(
    tar_stream: impl Read,
    dest: &Path,
    opts: &ExtractOptions,
    observe: &mut dyn FnMut(&[u8], bool),
) -> Result<(u64, Option<DroppedOwner>)> {
    let root: OwnedFd = rustix::fs::open(
        dest,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_at(&dest.display().to_string(), e))?;
    let mut x = Extractor {
        root,
        opts: *opts,
        seen: HashSet::new(),
        dirs: Vec::new(),
        entries: 0,
        dropped_owner: None,
    };
    let mut archive = tar::Archive::new(tar_stream);
    for entry in archive.entries().map_err(ExtractError::Read)? {
        let mut entry = entry.map_err(ExtractError::Read)?;
        x.entries += 1;
        if x.entries > opts.limits.max_entries {
            return Err(ExtractError::TooManyEntries(opts.limits.max_entries));
        }
        observe(&entry.path_bytes(), entry.header().entry_type().is_file());
        x.entry(&mut entry)?;
    }
    x.finish_dirs();
    Ok((x.entries, x.dropped_owner))
}

/// The error of giving `path` the owner `uid:gid`.
fn chown_err(path: &str, uid: u64, gid: u64, e: Errno) -> ExtractError {
    if e == Errno::INVAL {
        return ExtractError::UnmappedOwner {
            path: path.to_owned(),
            uid,
            gid,
        };
    }
    io_at(path, e)
}

fn io_at(path: &str, e: impl Into<io::Error>) -> ExtractError {
    ExtractError::Io {
        path: path.to_owned(),
        source: e.into(),
    }
}

/// Split a tar name into safe components: no absolute names, no `..`; `.` and empty dropped.
pub fn safe_components(raw: &[u8]) -> Option<Vec<&[u8]>> {
    if raw.starts_with(b"/") || raw.contains(&0) {
        return None;
    }
    let mut out = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn os(b: &[u8]) -> &OsStr {
    OsStr::from_bytes(b)
}

struct Extractor {
    root: OwnedFd,
    opts: ExtractOptions,
    /// Paths this layer wrote (only tracked when applying whiteouts).
    seen: HashSet<Vec<u8>>,
    /// Directories whose mtime is set at the end (children change it).
    dirs: Vec<(Vec<u8>, u64)>,
    entries: u64,
    /// The first entry whose owner was not given.
    dropped_owner: Option<DroppedOwner>,
}

impl Extractor {
    fn entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<()> {
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_pax_global_extensions() {
            return Ok(());
        }
        let comps = safe_components(&raw).ok_or_else(|| ExtractError::UnsafePath(shown.clone()))?;
        let size = entry.size();
        if size > self.opts.limits.max_entry_size {
            return Err(ExtractError::EntryTooLarge {
                path: shown,
                size,
                limit: self.opts.limits.max_entry_size,
            });
        }
        let header = entry.header();
        let mode = header.mode().map_err(|e| io_at(&shown, e))? & 0o7777;
        // Empty numeric fields read as 0, as Go's archive/tar reads them; PAX records win.
        let mut uid = header.uid().unwrap_or(0);
        let mut gid = header.gid().unwrap_or(0);
        let mtime = header.mtime().unwrap_or(0);

        let Some((&base, parent)) = comps.split_last() else {
            // The root itself: only a directory may describe it.
            if !kind.is_dir() {
                return Err(ExtractError::RootNotDirectory(shown));
            }
            let fd = rustix::fs::openat(
                &self.root,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| io_at(&shown, e))?;
            self.set_meta_fd(&fd, &Meta { mode, uid, gid }, &shown)?;
            self.dirs.push((Vec::new(), mtime));
            return Ok(());
        };

        if let Some(hidden) = base.strip_prefix(b".wh.") {
            return self.whiteout(parent, hidden, &shown);
        }

        let pfd = self.open_parent(parent, &shown)?;
        let path = join(&comps);
        let (xattrs, pax_ids) = pax_records(entry).map_err(|e| io_at(&shown, e))?;
        if let Some(u) = pax_ids.0 {
            uid = u;
        }
        if let Some(g) = pax_ids.1 {
            gid = g;
        }
        let meta = Meta { mode, uid, gid };
        if !self.opts.owners && (uid, gid) != (0, 0) && self.dropped_owner.is_none() {
            self.dropped_owner = Some(DroppedOwner {
                path: format!("/{}", String::from_utf8_lossy(&path)),
                uid,
                gid,
            });
        }
        let is_dir = kind.is_dir();
        let kept_dir = self.clear(&pfd, base, is_dir, &shown)?;
        if self.opts.whiteouts == WhiteoutMode::Apply {
            self.seen.insert(path.clone());
        }
        let b = os(base);
        match kind.as_byte() {
            b'5' => {
                if !kept_dir {
                    rustix::fs::mkdirat(&pfd, b, Mode::from_raw_mode(0o700))
                        .map_err(|e| io_at(&shown, e))?;
                }
                let fd = rustix::fs::openat(
                    &pfd,
                    b,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_at(&shown, e))?;
                self.set_meta_fd(&fd, &meta, &shown)?;
                set_xattrs(&fd, &xattrs, &shown)?;
                self.dirs.push((path, mtime));
            }
            b'0' | b'\0' | b'7' => {
                let fd = rustix::fs::openat(
                    &pfd,
                    b,
                    OFlags::WRONLY
                        | OFlags::CREATE
                        | OFlags::EXCL
                        | OFlags::NOFOLLOW
                        | OFlags::CLOEXEC,
                    Mode::from_raw_mode(0o600),
                )
                .map_err(|e| io_at(&shown, e))?;
                let mut file = File::from(fd);
                let copied =
                    io::copy(&mut entry.take(size), &mut file).map_err(ExtractError::Read)?;
                if copied != size {
                    return Err(ExtractError::Read(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("`{shown}` is truncated"),
                    )));
                }
                self.set_meta_fd(file.as_fd(), &meta, &shown)?;
                set_xattrs(&file, &xattrs, &shown)?;
                rustix::fs::futimens(&file, &times(mtime)).map_err(|e| io_at(&shown, e))?;
            }
            b'2' => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                rustix::fs::symlinkat(os(&target), &pfd, b).map_err(|e| io_at(&shown, e))?;
                if self.opts.owners {
                    rustix::fs::chownat(
                        &pfd,
                        b,
                        Some(uid_of(uid)),
                        Some(gid_of(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| chown_err(&shown, uid, gid, e))?;
                }
                rustix::fs::utimensat(&pfd, b, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_at(&shown, e))?;
            }
            b'1' => {
                let target = entry
                    .link_name_bytes()
                    .map(|c| c.into_owned())
                    .unwrap_or_default();
                let unsafe_link = || ExtractError::UnsafeLink {
                    path: shown.clone(),
                    target: String::from_utf8_lossy(&target).into_owned(),
                };
                let tcomps = safe_components(&target).ok_or_else(unsafe_link)?;
                let Some((&tbase, tparent)) = tcomps.split_last() else {
                    return Err(unsafe_link());
                };
                let tfd = self.open_dir(tparent, false, &shown)?;
                rustix::fs::linkat(&tfd, os(tbase), &pfd, b, AtFlags::empty())
                    .map_err(|e| io_at(&shown, e))?;
            }
            b'3' | b'4' | b'6' => {
                let (ft, dev) = if kind.as_byte() == b'6' {
                    (FileType::Fifo, 0)
                } else {
                    let h = entry.header();
                    let major = h.device_major().ok().flatten().unwrap_or(u32::MAX);
                    let minor = h.device_minor().ok().flatten().unwrap_or(u32::MAX);
                    if major > 0xfff || minor > 0xf_ffff {
                        return Err(ExtractError::BadDevice {
                            path: shown,
                            major: major.into(),
                            minor: minor.into(),
                        });
                    }
                    if !self.opts.devices {
                        return Ok(());
                    }
                    let ft = if kind.as_byte() == b'3' {
                        FileType::CharacterDevice
                    } else {
                        FileType::BlockDevice
                    };
                    (ft, rustix::fs::makedev(major, minor))
                };
                rustix::fs::mknodat(&pfd, b, ft, Mode::from_raw_mode(0o600), dev)
                    .map_err(|e| io_at(&shown, e))?;
                if self.opts.owners {
                    rustix::fs::chownat(
                        &pfd,
                        b,
                        Some(uid_of(uid)),
                        Some(gid_of(gid)),
                        AtFlags::SYMLINK_NOFOLLOW,
                    )
                    .map_err(|e| chown_err(&shown, uid, gid, e))?;
                }
                // The node was just created by us in a private tree: it is not a symlink.
                rustix::fs::chmodat(&pfd, b, Mode::from_raw_mode(mode), AtFlags::empty())
                    .map_err(|e| io_at(&shown, e))?;
                rustix::fs::utimensat(&pfd, b, &times(mtime), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| io_at(&shown, e))?;
            }
            other => {
                return Err(ExtractError::Unsupported {
                    path: shown,
                    kind: other as char,
                });
            }
        }
        Ok(())
    }

    fn whiteout(&mut self, parent: &[&[u8]], hidden: &[u8], shown: &str) -> Result<()> {
        if hidden == b".wh..opq" {
            let pfd = self.open_parent(parent, shown)?;
            return match self.opts.whiteouts {
                WhiteoutMode::Overlay => {
                    let [root, user] = crate::overlay::OPAQUE_XATTRS;
                    let name = if crate::ids::host_root() { root } else { user };
                    rustix::fs::fsetxattr(&pfd, name, b"y", rustix::fs::XattrFlags::empty())
                        .map_err(|e| io_at(shown, e))
                }
                WhiteoutMode::Apply => {
                    let dir = join(parent);
                    self.prune(&pfd, &dir, shown)
                }
            };
        }
        if hidden.starts_with(b".wh.") {
            // aufs metadata (`.wh..wh.plnk` and friends): not content.
            return Ok(());
        }
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(ExtractError::BadWhiteout(shown.to_owned()));
        }
        let pfd = self.open_parent(parent, shown)?;
        let mut path = join(parent);
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(hidden);
        match self.opts.whiteouts {
            WhiteoutMode::Overlay => {
                self.clear(&pfd, hidden, false, shown)?;
                rustix::fs::mknodat(
                    &pfd,
                    os(hidden),
                    FileType::CharacterDevice,
                    Mode::empty(),
                    rustix::fs::makedev(0, 0),
                )
                .map_err(|e| io_at(shown, e))
            }
            WhiteoutMode::Apply => {
                // A whiteout hides lower layers only, never what this layer wrote.
                if !self.seen.contains(&path) {
                    self.clear(&pfd, hidden, false, shown)?;
                }
                Ok(())
            }
        }
    }

    /// Remove every child of `dir` (recursively) that this layer did not write.
    fn prune(&self, fd: &OwnedFd, dir: &[u8], shown: &str) -> Result<()> {
        for name in list_dir(fd.as_fd()).map_err(|e| io_at(shown, e))? {
            let mut path = dir.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            path.extend_from_slice(&name);
            let st = rustix::fs::statat(fd, os(&name), AtFlags::SYMLINK_NOFOLLOW)
                .map_err(|e| io_at(shown, e))?;
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            if !self.seen.contains(&path) {
                remove_entry(fd, &name, is_dir).map_err(|e| io_at(shown, e))?;
            } else if is_dir {
                let child = rustix::fs::openat(
                    fd,
                    os(&name),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_at(shown, e))?;
                self.prune(&child, &path, shown)?;
            }
        }
        Ok(())
    }

    /// Make room for a new entry `name` in `pfd`; an existing directory is kept when the new
    /// entry is a directory too (returns true), anything else there is removed first, so a
    /// later chmod or write never goes through an old symlink.
    fn clear(&self, pfd: &OwnedFd, name: &[u8], new_is_dir: bool, shown: &str) -> Result<bool> {
        match rustix::fs::statat(pfd, os(name), AtFlags::SYMLINK_NOFOLLOW) {
            Err(Errno::NOENT) => Ok(false),
            Err(e) => Err(io_at(shown, e)),
            Ok(st) => {
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir && new_is_dir {
                    return Ok(true);
                }
                remove_entry(pfd, name, is_dir).map_err(|e| io_at(shown, e))?;
                Ok(false)
            }
        }
    }

    fn open_parent(&self, parent: &[&[u8]], shown: &str) -> Result<OwnedFd> {
        self.open_dir(parent, true, shown)
    }

    /// Open the directory at `comps` under the root, resolving symlinks inside the root only;
    /// create missing directories when `create`.
    fn open_dir(&self, comps: &[&[u8]], create: bool, shown: &str) -> Result<OwnedFd> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let resolve = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        if comps.is_empty() {
            return rustix::fs::openat(&self.root, ".", flags, Mode::empty())
                .map_err(|e| io_at(shown, e));
        }
        match rustix::fs::openat2(&self.root, os(&join(comps)), flags, Mode::empty(), resolve) {
            Ok(fd) => return Ok(fd),
            Err(Errno::NOENT) if create => {}
            Err(e) => return Err(io_at(shown, e)),
        }
        let mut cur = rustix::fs::openat(&self.root, ".", flags, Mode::empty())
            .map_err(|e| io_at(shown, e))?;
        for i in 0..comps.len() {
            match rustix::fs::openat2(
                &self.root,
                os(&join(&comps[..=i])),
                flags,
                Mode::empty(),
                resolve,
            ) {
                Ok(fd) => cur = fd,
                Err(Errno::NOENT) => {
                    let name = os(comps[i]);
                    rustix::fs::mkdirat(&cur, name, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_at(shown, e))?;
                    let fd =
                        rustix::fs::openat(&cur, name, flags | OFlags::NOFOLLOW, Mode::empty())
                            .map_err(|e| io_at(shown, e))?;
                    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o755))
                        .map_err(|e| io_at(shown, e))?;
                    cur = fd;
                }
                Err(e) => return Err(io_at(shown, e)),
            }
        }
        Ok(cur)
    }

    fn set_meta_fd(&self, fd: impl AsFd, meta: &Meta, shown: &str) -> Result<()> {
        if self.opts.owners {
            rustix::fs::fchown(&fd, Some(uid_of(meta.uid)), Some(gid_of(meta.gid)))
                .map_err(|e| chown_err(shown, meta.uid, meta.gid, e))?;
        }
        // After chown, which clears setuid/setgid.
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(meta.mode)).map_err(|e| io_at(shown, e))
    }

    fn finish_dirs(&mut self) {
        // Deepest first is not needed: setting a directory's mtime does not touch its parent.
        for (path, mtime) in std::mem::take(&mut self.dirs) {
            let fd = if path.is_empty() {
                rustix::fs::openat(
                    &self.root,
                    ".",
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )
            } else {
                rustix::fs::openat2(
                    &self.root,
                    os(&path),
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                    ResolveFlags::IN_ROOT | ResolveFlags::NO_SYMLINKS,
                )
            };
            if let Ok(fd) = fd {
                let _ = rustix::fs::futimens(&fd, &times(mtime));
            }
        }
    }
}

struct Meta {
    mode: u32,
    uid: u64,
    gid: u64,
}

/// Access and modification time both `secs`, as every extracted entry gets.
fn times(secs: u64) -> Timestamps {
    let t = Timespec {
        tv_sec: i64::try_from(secs).unwrap_or(i64::MAX),
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

fn uid_of(id: u64) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(u32::try_from(id).unwrap_or(u32::MAX - 1))
}

fn gid_of(id: u64) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(u32::try_from(id).unwrap_or(u32::MAX - 1))
}

type PaxIds = (Option<u64>, Option<u64>);
type Xattrs = Vec<(Vec<u8>, Vec<u8>)>;

/// The xattrs and numeric owners an entry's PAX records carry.
fn pax_records<R: Read>(entry: &mut tar::Entry<'_, R>) -> io::Result<(Xattrs, PaxIds)> {
    let mut out = Vec::new();
    let mut ids = (None, None);
    if let Some(exts) = entry.pax_extensions()? {
        for ext in exts {
            let ext = ext?;
            let num = || {
                std::str::from_utf8(ext.value_bytes())
                    .ok()
                    .and_then(|v| v.parse().ok())
            };
            match ext.key_bytes() {
                b"uid" => ids.0 = num(),
                b"gid" => ids.1 = num(),
                k => {
                    if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                        out.push((name.to_vec(), ext.value_bytes().to_vec()));
                    }
                }
            }
        }
    }
    Ok((out, ids))
}

fn set_xattrs(fd: impl AsFd, xattrs: &[(Vec<u8>, Vec<u8>)], shown: &str) -> Result<()> {
    for (k, v) in xattrs {
        // Overlay's own attributes never come from a layer.
        if k.starts_with(b"trusted.overlay.") || k.starts_with(b"user.overlay.") {
            continue;
        }
        match rustix::fs::fsetxattr(&fd, os(k), v, rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            // Unprivileged, or a file system without xattrs: the content is still right.
            Err(Errno::PERM | Errno::NOTSUP | Errno::ACCESS) => {}
            Err(e) => return Err(io_at(shown, e)),
        }
    }
    Ok(())
}

/// The names in a directory, without `.` and `..`.
pub(crate) fn list_dir(fd: BorrowedFd<'_>) -> io::Result<Vec<Vec<u8>>> {
    let dup = rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut dir = rustix::fs::Dir::new(dup)?;
    let mut out = Vec::new();
    while let Some(e) = dir.read() {
        let e = e?;
        let name = e.file_name().to_bytes();
        if name != b"." && name != b".." {
            out.push(name.to_vec());
        }
    }
    Ok(out)
}

/// Remove `name` from the directory `pfd` without following symlinks; directories recursively.
pub(crate) fn remove_entry(pfd: impl AsFd, name: &[u8], is_dir: bool) -> io::Result<()> {
    let pfd = pfd.as_fd();
    if is_dir {
        let fd = rustix::fs::openat(
            pfd,
            os(name),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for child in list_dir(fd.as_fd())? {
            let st = rustix::fs::statat(&fd, os(&child), AtFlags::SYMLINK_NOFOLLOW)?;
            remove_entry(
                &fd,
                &child,
                FileType::from_raw_mode(st.st_mode) == FileType::Directory,
            )?;
        }
        rustix::fs::unlinkat(pfd, os(name), AtFlags::REMOVEDIR)?;
    } else {
        rustix::fs::unlinkat(pfd, os(name), AtFlags::empty())?;
    }
    Ok(())
}

/// Remove a directory tree without following symlinks (also when the tree has read-only dirs).
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "cannot remove this path",
        ));
    };
    let pfd = rustix::fs::open(
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    match rustix::fs::statat(&pfd, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
        Ok(st) => remove_entry(
            &pfd,
            name.as_bytes(),
            FileType::from_raw_mode(st.st_mode) == FileType::Directory,
        ),
    }
}
