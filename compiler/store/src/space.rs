//! Room on the store's file system. A pull or a load sums the blobs the store lacks and asks
//! [`Store::ensure_space`] before it writes a byte, so an image that cannot fit is refused up
//! front ([`Error::NoSpace`] with what it needs); a write that still meets `ENOSPC` (or
//! `EDQUOT`: a quota) becomes the same error ([`Store::no_space_as`]), once its partial file
//! or tree is gone, instead of an I/O error from somewhere mid-stream.
//!
//! The sizes are the blobs' (compressed) sizes: a layer is unpacked at its first use, which
//! needs room of its own that no manifest declares.

use std::io;

use crate::{Error, Result, Store, io_err};

/// At most this much of the file system is kept free beyond what a pull or load declares
/// (1% of it, capped here): the records, the directory entries and the refs written after
/// the blobs need a little room, and a file system filled to the last block serves nobody.
pub const RESERVE_MAX: u64 = 64 << 20;

/// What `statvfs` says of the store's file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    /// Bytes an unprivileged writer may still use (`f_bavail × f_frsize`).
    pub free: u64,
    /// The file system's size (`f_blocks × f_frsize`).
    pub total: u64,
    /// Its allocation unit (`f_frsize`): a file takes whole ones.
    pub block: u64,
}

impl Space {
    /// What is kept free beyond the blobs: 1% of the file system, at most [`RESERVE_MAX`].
    pub fn reserve(&self) -> u64 {
        (self.total / 100).min(RESERVE_MAX)
    }

    /// The room files of these sizes take: each rounded up to whole blocks.
    pub fn on_disk(&self, sizes: impl IntoIterator<Item = u64>) -> u64 {
        let block = self.block.max(1);
        sizes
            .into_iter()
            .map(|s| s.div_ceil(block).saturating_mul(block))
            .fold(0u64, u64::saturating_add)
    }
}

/// Whether `e` says the file system (or the user's quota on it) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(code) if code == rustix::io::Errno::NOSPC.raw_os_error()
            || code == rustix::io::Errno::DQUOT.raw_os_error()
    ) || matches!(
        e.kind(),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded
    )
}

/// A size for people: decimal units (as Docker and `duckc images` print them), three
/// significant digits.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    // Compared with what rounds up to the next unit, so 999,999 bytes is `1.00MB`.
    while v >= 999.5 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{bytes}B");
    }
    let decimals = if v >= 99.95 {
        0
    } else if v >= 9.995 {
        1
    } else {
        2
    };
    format!("{v:.decimals$}{}", UNITS[unit])
}

/// Whether an extraction stopped because the file system is full (a write of an entry's
/// bytes is reported as a read of the layer: both go through one copy).
pub fn extract_no_space(e: &duckc_layer::ExtractError) -> bool {
    match e {
        duckc_layer::ExtractError::Io { source, .. } | duckc_layer::ExtractError::Read(source) => {
            is_no_space(source)
        }
        _ => false,
    }
}

impl Error {
    /// Whether this error is the file system running out of room: [`Error::NoSpace`], or an
    /// I/O or extraction error whose cause is `ENOSPC`/`EDQUOT`.
    pub fn is_no_space(&self) -> bool {
        match self {
            Error::NoSpace { .. } => true,
            Error::Io { source, .. } => is_no_space(source),
            Error::Extract { source, .. } => extract_no_space(source),
            Error::Write(duckc_layer::WriteError::Io { source, .. }) => is_no_space(source),
            _ => false,
        }
    }
}

impl Store {
    /// The room on the store's file system now.
    pub fn space(&self) -> Result<Space> {
        let st = rustix::fs::statvfs(self.root()).map_err(|e| io_err(self.root())(e.into()))?;
        Ok(Space {
            free: st.f_bavail.saturating_mul(st.f_frsize),
            total: st.f_blocks.saturating_mul(st.f_frsize),
            block: st.f_frsize,
        })
    }

    /// Refuse, with [`Error::NoSpace`], to write blobs of `sizes` for `what` (an image, an
    /// archive) when they and the reserve do not fit in the room left. Nothing is written.
    pub fn ensure_space(&self, what: &str, sizes: impl IntoIterator<Item = u64>) -> Result<()> {
        let space = self.space()?;
        let needed = space.on_disk(sizes);
        let usable = space.free.saturating_sub(space.reserve());
        if needed > usable {
            return Err(Error::NoSpace {
                what: what.to_owned(),
                needed: Some(needed),
                free: usable,
                root: self.root().to_owned(),
            });
        }
        Ok(())
    }

    /// `e` as [`Error::NoSpace`] for `what` when the file system ran out of room (see
    /// [`Error::is_no_space`]; a `NoSpace` already keeps its sizes); any other error as it is. The caller has removed what it
    /// half wrote.
    pub fn no_space_as(&self, e: Error, what: &str) -> Error {
        if let Error::NoSpace {
            needed, free, root, ..
        } = e
        {
            // Refused up front, or met by a deeper writer: only the name changes.
            return Error::NoSpace {
                what: what.to_owned(),
                needed,
                free,
                root,
            };
        }
        if !e.is_no_space() {
            return e;
        }
        Error::NoSpace {
            what: what.to_owned(),
            needed: None,
            free: self.space().map_or(0, |s| s.free),
            root: self.root().to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    #[test]
    fn sizes_for_people() {
        let shown: Vec<String> = [
            0,
            999,
            1000,
            1234,
            99_999,
            999_999,
            11_600_000,
            8_300_000_000,
        ]
        .into_iter()
        .map(human)
        .collect();
        assert_eq!(
            shown,
            [
                "0B", "999B", "1.00kB", "1.23kB", "100kB", "1.00MB", "11.6MB", "8.30GB"
            ]
        );
    }

    #[test]
    fn files_take_whole_blocks_and_the_reserve_is_capped() {
        let space = Space {
            free: 1 << 20,
            total: 8 << 20,
            block: 4096,
        };
        assert_eq!(space.on_disk([0, 1, 4096, 4097]), 4096 * 4);
        assert_eq!(space.reserve(), (8 << 20) / 100);
        let big = Space {
            total: 1 << 40,
            ..space
        };
        assert_eq!(big.reserve(), RESERVE_MAX);
    }

    #[test]
    fn more_than_the_file_system_holds_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.ensure_space("`small`", [1000]).unwrap();
        let free = store.space().unwrap().free;
        let e = store.ensure_space("`huge:1`", [free, 1 << 20]).unwrap_err();
        assert!(e.is_no_space());
        let Error::NoSpace {
            what, needed, root, ..
        } = &e
        else {
            panic!("{e:?}");
        };
        assert_eq!(what, "`huge:1`");
        assert!(needed.is_some_and(|n| n > free));
        assert_eq!(root, store.root());
        assert!(
            e.to_string()
                .starts_with("not enough space to store `huge:1`: it needs ")
        );
        assert!(store.list_blobs().unwrap().is_empty());
    }

    /// A tmpfs of 1 MiB, unmounted when dropped.
    struct Tmpfs(tempfile::TempDir);

    impl Drop for Tmpfs {
        fn drop(&mut self) {
            let _ = rustix::mount::unmount(self.0.path(), rustix::mount::UnmountFlags::DETACH);
        }
    }

    /// A real `ENOSPC` while a blob streams in: [`Error::NoSpace`] naming the blob, no temporary
    /// file left, no blob published, and the store takes blobs again once there is room.
    #[test]
    fn a_blob_write_that_meets_a_full_disk_is_no_space_and_leaves_nothing() {
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v != "true"),
                "CI runs as root: mounting a tmpfs needs it"
            );
            eprintln!("skipped: mounting a tmpfs needs root");
            return;
        }
        let fs = Tmpfs(tempfile::tempdir().unwrap());
        rustix::mount::mount(
            "tmpfs",
            fs.0.path(),
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            c"size=1m,mode=0700",
        )
        .unwrap();
        let store = Store::open(&fs.0.path().join("store")).unwrap();
        let e = store
            .put_blob_from(&mut std::io::repeat(7).take(2 << 20), None)
            .unwrap_err();
        assert!(matches!(e, Error::NoSpace { needed: None, .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("ran out of space while storing a blob"),
            "{e}"
        );
        assert_eq!(std::fs::read_dir(store.tmp_dir()).unwrap().count(), 0);
        assert!(store.list_blobs().unwrap().is_empty());
        let d = store.put_blob(b"fits").unwrap();
        assert_eq!(store.read_blob(&d, 16).unwrap(), b"fits");
    }
}
