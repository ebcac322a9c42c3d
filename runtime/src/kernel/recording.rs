//! A [`Kernel`] that performs nothing and records every call, for snapshot tests of the set-up.

use std::cell::RefCell;
use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use super::{FileKind, Kernel, Namespace, OverlayMount, Resolve, Stat, ms};

/// Records calls as one line each. `lstat`/`fstat` answer from a table of known paths (see
/// [`Recording::with_stat`]); unknown paths are plain directories. A bind mount copies the
/// source's identity onto the target, as the kernel would, so identity checks after a mount
/// can be exercised too.
///
/// The descriptors it hands out are real, because an [`OwnedFd`] closes what it holds when
/// dropped: each is a duplicate of one memfd of this recorder's own, so
/// [`Recording::open_descriptors`] can count those still open. The calls name them by numbers
/// of its own, counted from 10, so what a test records does not depend on which descriptors
/// the test process has open.
#[derive(Debug, Default)]
pub struct Recording {
    calls: RefCell<Vec<String>>,
    stats: RefCell<HashMap<PathBuf, Stat>>,
    /// Each real descriptor handed out: its number in the calls, and the path it stands for.
    fds: RefCell<HashMap<RawFd, (i32, PathBuf)>>,
    /// The memfd every handed-out descriptor duplicates, and its name (unique in the process).
    memfd: RefCell<Option<(OwnedFd, String)>>,
    next_fd: RefCell<i32>,
    fail: RefCell<Vec<(String, i32)>>,
    misdirect: RefCell<bool>,
}

impl Recording {
    /// A recorder where the host's device nodes (`/dev/null`, …) are real character devices.
    pub fn with_host_devices() -> Self {
        let k = Recording::default();
        for (name, major, minor) in crate::dev::HOST_DEVICES {
            k.with_stat(
                &Path::new("/dev").join(name),
                Stat {
                    kind: FileKind::CharDevice,
                    dev: 5,
                    ino: 1000 + u64::from(*minor),
                    rdev: rustix::fs::makedev(*major, *minor),
                },
            );
        }
        k
    }

    /// Make `lstat(path)` (and `fstat` of a descriptor opened at it) return `stat`.
    pub fn with_stat(&self, path: &Path, stat: Stat) -> &Self {
        self.stats.borrow_mut().insert(path.to_owned(), stat);
        self
    }

    /// Make the first call whose recorded line contains `needle` fail with `errno`.
    pub fn fail_on(&self, needle: &str, errno: i32) -> &Self {
        self.fail.borrow_mut().push((needle.to_owned(), errno));
        self
    }

    /// Make bind mounts of files and directories not show up at their target (the table is
    /// left alone), to exercise the checks that catch a mount landing elsewhere.
    pub fn misdirect_binds(&self) -> &Self {
        *self.misdirect.borrow_mut() = true;
        self
    }

    /// The calls so far, one per line.
    pub fn calls(&self) -> String {
        self.calls.borrow().join("\n")
    }

    fn record(&self, line: String) -> io::Result<()> {
        let mut fail = self.fail.borrow_mut();
        let hit = fail
            .iter()
            .position(|(needle, _)| line.contains(needle.as_str()));
        self.calls.borrow_mut().push(line);
        match hit {
            Some(i) => Err(io::Error::from_raw_os_error(fail.remove(i).1)),
            None => Ok(()),
        }
    }

    fn stat_of(&self, path: &Path) -> Stat {
        self.stats.borrow().get(path).copied().unwrap_or(Stat {
            kind: FileKind::Dir,
            dev: 1,
            ino: 1,
            rdev: 0,
        })
    }

    /// The descriptor a `/proc/self/fd/N` path names, if this recorder handed it out.
    fn handed_out(&self, path: &Path) -> Option<(i32, PathBuf)> {
        let n = path
            .strip_prefix("/proc/self/fd")
            .ok()?
            .to_str()?
            .parse()
            .ok()?;
        self.fds.borrow().get(&n).cloned()
    }

    /// The path a `/proc/self/fd/N` target stands for.
    fn real_target(&self, target: &Path) -> PathBuf {
        self.handed_out(target)
            .map_or_else(|| target.to_owned(), |(_, path)| path)
    }

    /// `path` as the calls show it: `/proc/self/fd/` followed by the recorder's own number.
    fn shown(&self, path: &Path) -> String {
        match self.handed_out(path) {
            Some((n, _)) => format!("/proc/self/fd/{n}"),
            None => path.display().to_string(),
        }
    }

    /// The recorder's number of a descriptor (the real one for a descriptor it did not open).
    fn number(&self, fd: BorrowedFd<'_>) -> i32 {
        self.fds
            .borrow()
            .get(&fd.as_raw_fd())
            .map_or(fd.as_raw_fd(), |(n, _)| *n)
    }

    /// How many of the descriptors this recorder handed out are still open (dropped ones are
    /// closed): what a test checks to hold that no error path leaks one.
    pub fn open_descriptors(&self) -> usize {
        let memfd = self.memfd.borrow();
        let Some((_, name)) = memfd.as_ref() else {
            return 0;
        };
        let link = format!("/memfd:{name} (deleted)");
        let open = std::fs::read_dir("/proc/self/fd")
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l == Path::new(&link)))
            .count();
        // Not counting the memfd itself.
        open.saturating_sub(1)
    }

    /// A new real descriptor standing for `path`, and its number in the calls.
    fn hand_out(&self, path: PathBuf) -> io::Result<(OwnedFd, i32)> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static RECORDERS: AtomicUsize = AtomicUsize::new(0);
        let mut memfd = self.memfd.borrow_mut();
        if memfd.is_none() {
            let name = format!(
                "duckc-recording-{}",
                RECORDERS.fetch_add(1, Ordering::Relaxed)
            );
            let fd = rustix::fs::memfd_create(&name, rustix::fs::MemfdFlags::CLOEXEC)?;
            *memfd = Some((fd, name));
        }
        let (original, _) = memfd.as_ref().expect("made above");
        let fd = rustix::io::fcntl_dupfd_cloexec(original, 0)?;
        let n = {
            let mut next = self.next_fd.borrow_mut();
            if *next == 0 {
                *next = 10;
            }
            *next += 1;
            *next - 1
        };
        // A number the kernel gives again replaces the entry of the descriptor it closed.
        self.fds.borrow_mut().insert(fd.as_raw_fd(), (n, path));
        Ok((fd, n))
    }
}

fn opt(s: Option<&str>) -> &str {
    s.unwrap_or("none")
}

impl Kernel for Recording {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()> {
        let real = self.real_target(target);
        let shown = if real != target {
            format!("{} ({})", self.shown(target), real.display())
        } else {
            target.display().to_string()
        };
        let source_shown = source.map(|s| self.shown(Path::new(s)));
        self.record(format!(
            "mount {} -> {shown} type={} flags={} data={}",
            opt(source_shown.as_deref()),
            opt(fstype),
            ms::names(flags),
            opt(data)
        ))?;
        if flags & ms::BIND != 0
            && flags & ms::REMOUNT == 0
            && !*self.misdirect.borrow()
            && let Some(src) = source
        {
            let src = self.real_target(Path::new(src));
            let st = self.stat_of(&src);
            self.stats.borrow_mut().insert(real, st);
        }
        Ok(())
    }

    fn mount_overlay(&self, overlay: &OverlayMount<'_>, target: &Path) -> io::Result<()> {
        let lower: Vec<String> = overlay
            .lower
            .iter()
            .map(|p| p.display().to_string())
            .collect();
        self.record(format!(
            "mount_overlay -> {} lower+={} upper={} work={}{} nodev",
            target.display(),
            lower.join(" lower+="),
            overlay.upper.display(),
            overlay.work.display(),
            if overlay.userxattr { " userxattr" } else { "" }
        ))
    }

    fn umount_detach(&self, target: &Path) -> io::Result<()> {
        self.record(format!("umount2 {} MNT_DETACH", target.display()))
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        self.record(format!(
            "pivot_root {} {}",
            new_root.display(),
            put_old.display()
        ))
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.record(format!("chdir {}", self.shown(path)))
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.record(format!("sethostname {name}"))
    }

    fn loopback_up(&self) -> io::Result<()> {
        self.record("ifup lo".to_owned())
    }

    fn write_file(&self, path: &Path, data: &str) -> io::Result<()> {
        self.record(format!("write {} {:?}", path.display(), data))
    }

    fn copy_attrs(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.record(format!("copy-attrs {} {}", from.display(), to.display()))
    }

    fn open_in_root(&self, root: &Path, path: &Path, how: Resolve) -> io::Result<OwnedFd> {
        let rel = path.strip_prefix("/").unwrap_or(path);
        let full = root.join(rel);
        if how.no_symlinks && self.stat_of(&full).kind == FileKind::Symlink {
            self.record(format!(
                "open_in_root {} {} -> ELOOP",
                root.display(),
                path.display()
            ))?;
            return Err(io::Error::from_raw_os_error(libc::ELOOP));
        }
        let (fd, n) = self.hand_out(full)?;
        let create = match how.create {
            Some(k) => format!(" create={k:?}"),
            None => String::new(),
        };
        let nosym = if how.no_symlinks { " no_symlinks" } else { "" };
        self.record(format!(
            "open_in_root {} {}{create}{nosym} = {n}",
            root.display(),
            path.display()
        ))?;
        Ok(fd)
    }

    fn fstat(&self, fd: BorrowedFd<'_>) -> io::Result<Stat> {
        let path = self.fds.borrow().get(&fd.as_raw_fd()).cloned();
        match path {
            Some((_, p)) => Ok(self.stat_of(&p)),
            None => Err(io::Error::from_raw_os_error(libc::EBADF)),
        }
    }

    fn lstat(&self, path: &Path) -> io::Result<Stat> {
        Ok(self.stat_of(path))
    }

    fn mount_flags(&self, _path: &Path) -> io::Result<u64> {
        Ok(0)
    }

    fn open_pty(&self, ptmx: BorrowedFd<'_>) -> io::Result<(OwnedFd, OwnedFd)> {
        let pts = PathBuf::from("/dev/pts/0");
        let (master, m) = self.hand_out(PathBuf::from("/dev/ptmx"))?;
        let (slave, s) = self.hand_out(pts.clone())?;
        self.record(format!("open_pty {} = ({m}, {s})", self.number(ptmx)))?;
        self.stats.borrow_mut().insert(
            pts,
            Stat {
                kind: FileKind::CharDevice,
                dev: 7,
                ino: 3,
                rdev: rustix::fs::makedev(136, 0),
            },
        );
        Ok((master, slave))
    }

    fn close(&self, fd: RawFd) {
        self.fds.borrow_mut().remove(&fd);
    }

    fn symlink_in_root(&self, root: &Path, target: &str, link: &str) -> io::Result<()> {
        self.record(format!("symlink {} -> {target}", root.join(link).display()))
    }

    fn setns(&self, fd: BorrowedFd<'_>, ns: Namespace) -> io::Result<()> {
        self.record(format!("setns {} {}", self.number(fd), ns.proc_name()))
    }

    fn bind_from_namespace(
        &self,
        mnt_ns: BorrowedFd<'_>,
        path: &Path,
        target: BorrowedFd<'_>,
    ) -> io::Result<()> {
        let real = self.real_target(&crate::dev::fd_path(&target));
        self.record(format!(
            "bind_from_namespace {} {} -> {}",
            self.number(mnt_ns),
            path.display(),
            real.display()
        ))
    }

    fn drop_bounding(&self, keep: u64) -> io::Result<()> {
        self.record(format!("capbset keep={keep:#x}"))
    }

    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
        self.record(format!(
            "capset eff={effective:#x} perm={permitted:#x} inh={inheritable:#x}"
        ))
    }

    fn clear_ambient(&self) -> io::Result<()> {
        self.record("ambient clear".to_owned())
    }

    fn set_no_new_privs(&self) -> io::Result<()> {
        self.record("no_new_privs".to_owned())
    }

    fn setgroups(&self, groups: &[u32]) -> io::Result<()> {
        self.record(format!("setgroups {groups:?}"))
    }

    fn setgid(&self, gid: u32) -> io::Result<()> {
        self.record(format!("setgid {gid}"))
    }

    fn setuid(&self, uid: u32) -> io::Result<()> {
        self.record(format!("setuid {uid}"))
    }

    fn seccomp_filter(&self, bpf: &[u8], flags: u32) -> io::Result<()> {
        self.record(format!(
            "seccomp {} instructions flags {flags:#x}",
            bpf.len() / 8
        ))
    }
}
