//! The kernel calls the runtime makes, behind one trait: [`Linux`] for real, [`Recording`] for tests.
//!
//! Every mount, namespace, capability and identity change the runtime makes goes through
//! [`Kernel`], so the order and arguments of the set-up can be checked without root by
//! recording them (youki's `syscall/` does the same). Plain file reads (the image's
//! `/etc/passwd`, the config) are not kernel calls in this sense and use `std`.

mod linux;
mod recording;

use std::io;
use std::os::fd::{BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

pub use linux::Linux;
pub use recording::Recording;

/// What a path names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    Dir,
    File,
    Symlink,
    CharDevice,
    BlockDevice,
    Other,
}

/// The parts of `stat` the runtime checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    pub kind: FileKind,
    pub dev: u64,
    pub ino: u64,
    /// Device number of a device node (`st_rdev`).
    pub rdev: u64,
}

/// How [`Kernel::open_in_root`] resolves a path inside a root directory.
#[derive(Clone, Copy, Debug, Default)]
pub struct Resolve {
    /// Create the last component (and missing parents, as directories) when it does not exist.
    pub create: Option<FileKind>,
    /// Refuse any symlink on the way (for `/proc`, `/sys`, `/dev`); otherwise symlinks are
    /// followed but can never leave the root.
    pub no_symlinks: bool,
}

/// An overlayfs mount for [`Kernel::mount_overlay`].
#[derive(Clone, Copy, Debug)]
pub struct OverlayMount<'a> {
    /// The read-only layers, top first, as overlayfs stacks them.
    pub lower: &'a [&'a Path],
    /// The writable directory that receives the changes.
    pub upper: &'a Path,
    /// overlayfs's scratch directory, on the same file system as `upper`.
    pub work: &'a Path,
    /// Keep overlay's own attributes in `user.overlay.*` (needed without root).
    pub userxattr: bool,
}

/// Mount flags, as the kernel spells them.
pub mod ms {
    pub const RDONLY: u64 = libc::MS_RDONLY;
    pub const NOSUID: u64 = libc::MS_NOSUID;
    pub const NODEV: u64 = libc::MS_NODEV;
    pub const NOEXEC: u64 = libc::MS_NOEXEC;
    pub const REMOUNT: u64 = libc::MS_REMOUNT;
    pub const BIND: u64 = libc::MS_BIND;
    pub const REC: u64 = libc::MS_REC;
    pub const PRIVATE: u64 = libc::MS_PRIVATE;
    pub const SLAVE: u64 = libc::MS_SLAVE;
    pub const STRICTATIME: u64 = libc::MS_STRICTATIME;
    pub const RELATIME: u64 = libc::MS_RELATIME;

    /// `MS_A|MS_B` for snapshots and error messages.
    pub fn names(flags: u64) -> String {
        const ALL: &[(u64, &str)] = &[
            (RDONLY, "RDONLY"),
            (NOSUID, "NOSUID"),
            (NODEV, "NODEV"),
            (NOEXEC, "NOEXEC"),
            (REMOUNT, "REMOUNT"),
            (BIND, "BIND"),
            (REC, "REC"),
            (PRIVATE, "PRIVATE"),
            (SLAVE, "SLAVE"),
            (STRICTATIME, "STRICTATIME"),
            (RELATIME, "RELATIME"),
        ];
        let names: Vec<&str> = ALL
            .iter()
            .filter(|(bit, _)| flags & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        if names.is_empty() {
            "0".to_owned()
        } else {
            names.join("|")
        }
    }
}

/// Namespace kinds for [`Kernel::setns`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Namespace {
    User,
    Mount,
    Pid,
    Uts,
    Ipc,
    Net,
}

impl Namespace {
    /// The name under `/proc/<pid>/ns/`.
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mount => "mnt",
            Namespace::Pid => "pid",
            Namespace::Uts => "uts",
            Namespace::Ipc => "ipc",
            Namespace::Net => "net",
        }
    }
}

/// The kernel interface of the runtime. Paths are host paths unless a method says otherwise.
pub trait Kernel {
    /// `mount(2)`.
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// Mount overlayfs on `target` with the new mount API (`fsopen`, one
    /// `fsconfig(lowerdir+)` per layer, `fsmount`, `move_mount`), so the number of layers is not
    /// bounded by one page of mount options. Fails with [`io::ErrorKind::Unsupported`] when the
    /// kernel lacks that API or overlayfs's `lowerdir+` (before Linux 6.8): the caller may then
    /// fall back to [`Kernel::mount`] with a `lowerdir=` string.
    fn mount_overlay(&self, overlay: &OverlayMount<'_>, target: &Path) -> io::Result<()>;
    /// `umount2(target, MNT_DETACH)`.
    fn umount_detach(&self, target: &Path) -> io::Result<()>;
    /// `pivot_root(new_root, put_old)`.
    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()>;
    /// `chdir(2)`.
    fn chdir(&self, path: &Path) -> io::Result<()>;
    /// `sethostname(2)`.
    fn sethostname(&self, name: &str) -> io::Result<()>;
    /// Bring the loopback interface of the current network namespace up.
    fn loopback_up(&self) -> io::Result<()>;
    /// Write a whole file (`/proc/self/uid_map` and friends).
    fn write_file(&self, path: &Path, data: &str) -> io::Result<()>;
    /// Give `to` the owner (where it can be given), mode and times of `from` (host paths,
    /// not following a final symlink).
    fn copy_attrs(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Open `path` inside `root` (`openat2` with `RESOLVE_IN_ROOT`, no magic links) as an
    /// `O_PATH` descriptor; mount onto it through `/proc/self/fd/N`. The descriptor closes
    /// when dropped, so an early return cannot leak it.
    fn open_in_root(&self, root: &Path, path: &Path, how: Resolve) -> io::Result<OwnedFd>;
    /// `fstat(2)`.
    fn fstat(&self, fd: BorrowedFd<'_>) -> io::Result<Stat>;
    /// `lstat(2)` of a host path.
    fn lstat(&self, path: &Path) -> io::Result<Stat>;
    /// The `MS_NOSUID`/`MS_NODEV`/`MS_NOEXEC`/`MS_RDONLY` flags of the mount holding `path`
    /// (`statvfs`), which a read-only remount must repeat when they are locked.
    fn mount_flags(&self, path: &Path) -> io::Result<u64>;
    /// Open the pseudo-terminal multiplexer at `ptmx` (an `O_PATH` descriptor) and return a new
    /// terminal's (master, slave), the slave opened from the master (`TIOCGPTPEER`), never by
    /// name.
    fn open_pty(&self, ptmx: BorrowedFd<'_>) -> io::Result<(OwnedFd, OwnedFd)>;
    /// `close(2)` of a descriptor the caller holds as a number (a pipe or socket handed to the
    /// init); what this trait hands out is an [`OwnedFd`] and closes when dropped.
    fn close(&self, fd: RawFd);
    /// `symlinkat(2)`: create `link` inside `root` pointing to `target`.
    fn symlink_in_root(&self, root: &Path, target: &str, link: &str) -> io::Result<()>;
    /// `setns(2)` into the namespace open at `fd`.
    fn setns(&self, fd: BorrowedFd<'_>, ns: Namespace) -> io::Result<()>;
    /// Drop every capability not in `keep` from the bounding set.
    fn drop_bounding(&self, keep: u64) -> io::Result<()>;
    /// `capset(2)` for this thread.
    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()>;
    /// Clear the ambient capability set.
    fn clear_ambient(&self) -> io::Result<()>;
    /// `prctl(PR_SET_NO_NEW_PRIVS, 1)`.
    fn set_no_new_privs(&self) -> io::Result<()>;
    /// `setgroups(2)`.
    fn setgroups(&self, groups: &[u32]) -> io::Result<()>;
    /// `setresgid(gid, gid, gid)`.
    fn setgid(&self, gid: u32) -> io::Result<()>;
    /// `setresuid(uid, uid, uid)`.
    fn setuid(&self, uid: u32) -> io::Result<()>;
    /// `seccomp(SECCOMP_SET_MODE_FILTER, flags, prog)` with a compiled BPF program
    /// ([`crate::seccomp::Filter`]); needs `no_new_privs` (or `CAP_SYS_ADMIN`).
    fn seccomp_filter(&self, bpf: &[u8], flags: u32) -> io::Result<()>;
    /// Bind `path` of the mount namespace open at `mnt_ns` (resolved from that namespace's
    /// root, no symlinks followed) onto the directory open at `target` in ours: enter it,
    /// clone the mount there (`open_tree(OPEN_TREE_CLONE)`), come back, `move_mount` the
    /// clone onto the descriptor. Needs a single-threaded caller; the working directory is
    /// restored, the root is our namespace's root afterwards.
    fn bind_from_namespace(
        &self,
        mnt_ns: BorrowedFd<'_>,
        path: &Path,
        target: BorrowedFd<'_>,
    ) -> io::Result<()>;
}
