//! The build context on disk, read without following a symlink: the descriptor helpers the
//! driver hashes context entries with and the executor copies them with.
//!
//! Nothing here ever follows a symlink, so a link pointing out of the context reads nothing
//! outside it (SECURITY 20, 36): entries are read relative to the context's descriptor with
//! `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, so a symlinked directory component fails
//! too. Listing the context (and hashing what a build copies, in the same pass) is the
//! driver's (`duckc_driver::context`); the executor never sets the compiler's inputs.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use duckc_ir::{Digest, EntryKind};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::Digest as _;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::os::unix::fs::symlink("/etc/passwd", d.join("escape")).unwrap();
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
