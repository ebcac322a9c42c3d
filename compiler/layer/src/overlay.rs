//! overlayfs's on-disk conventions, as snapshots and upper directories use them: a whiteout is
//! a character device 0:0; an opaque directory carries `trusted.overlay.opaque=y` (as root) or
//! `user.overlay.opaque=y` (a user-namespace mount).

use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

/// The xattrs that mark an opaque directory, root's first.
pub const OPAQUE_XATTRS: [&str; 2] = ["trusted.overlay.opaque", "user.overlay.opaque"];

/// Whether `meta` (of an entry not followed through a symlink) is a whiteout.
pub fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

/// Whether the xattr `name`=`value` marks an opaque directory.
pub fn is_opaque_xattr(name: &[u8], value: &[u8]) -> bool {
    OPAQUE_XATTRS.iter().any(|x| x.as_bytes() == name) && value == b"y"
}

/// Whether the directory at `path` is opaque (hides what the layers below hold).
pub fn is_opaque(path: &Path) -> bool {
    OPAQUE_XATTRS.iter().any(|name| {
        let mut buf = [0u8; 4];
        rustix::fs::lgetxattr(path, *name, &mut buf)
            .is_ok_and(|n| is_opaque_xattr(name.as_bytes(), &buf[..n]))
    })
}
