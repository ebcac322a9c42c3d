//! The real kernel: each [`Kernel`] method is one or two system calls through rustix or libc.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

use super::{FileKind, Kernel, Namespace, OverlayMount, Resolve, Stat};

/// The Linux implementation of [`Kernel`].
#[derive(Debug, Default, Clone, Copy)]
pub struct Linux;

fn cstr(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn kind_of(mode: u32) -> FileKind {
    use rustix::fs::FileType;
    match FileType::from_raw_mode(mode) {
        FileType::Directory => FileKind::Dir,
        FileType::RegularFile => FileKind::File,
        FileType::Symlink => FileKind::Symlink,
        FileType::CharacterDevice => FileKind::CharDevice,
        FileType::BlockDevice => FileKind::BlockDevice,
        _ => FileKind::Other,
    }
}

// `struct stat`'s fields are `unsigned long` on some targets and `u64` on others.
#[allow(clippy::unnecessary_cast)]
fn stat_of(st: &rustix::fs::Stat) -> Stat {
    Stat {
        kind: kind_of(st.st_mode as u32),
        dev: st.st_dev as u64,
        ino: st.st_ino as u64,
        rdev: st.st_rdev as u64,
    }
}

/// The resolve flags used for every lookup inside a container's root.
fn resolve_flags(how: Resolve) -> ResolveFlags {
    let mut flags = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    if how.no_symlinks {
        flags |= ResolveFlags::NO_SYMLINKS;
    }
    flags
}

fn open_path(root: &OwnedFd, rel: &Path, how: Resolve) -> io::Result<OwnedFd> {
    rustix::fs::openat2(
        root,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        resolve_flags(how),
    )
    .map_err(io::Error::from)
}

/// Open `rel` under `root`, creating it (and missing parents) when asked. Creation happens
/// relative to an already resolved parent descriptor with `O_NOFOLLOW`/`mkdirat`, so a symlink
/// planted in the image can never make the runtime create anything outside the root.
fn open_or_create(root: &OwnedFd, rel: &Path, how: Resolve) -> io::Result<OwnedFd> {
    match open_path(root, rel, how) {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        other => return other,
    }
    let Some(kind) = how.create else {
        return open_path(root, rel, how);
    };
    let (parent, name) = match (rel.parent(), rel.file_name()) {
        (Some(p), Some(n)) => (p, n),
        _ => return Err(io::Error::from_raw_os_error(libc::ENOENT)),
    };
    let parent_how = Resolve {
        create: Some(FileKind::Dir),
        no_symlinks: how.no_symlinks,
    };
    let parent_fd = if parent.as_os_str().is_empty() || parent == Path::new("/") {
        open_path(root, Path::new("/"), how)?
    } else {
        open_or_create(root, parent, parent_how)?
    };
    // O_PATH descriptors cannot be used with mkdirat/openat(O_CREAT); reopen the parent.
    let dir = rustix::fs::openat(
        &parent_fd,
        ".",
        OFlags::DIRECTORY | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let created = match kind {
        FileKind::Dir => rustix::fs::mkdirat(&dir, name, Mode::from_raw_mode(0o755)).map(|_| ()),
        _ => rustix::fs::openat(
            &dir,
            name,
            OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .map(drop),
    };
    match created {
        Ok(()) | Err(rustix::io::Errno::EXIST) => {}
        Err(e) => return Err(e.into()),
    }
    open_path(root, rel, how)
}

/// rustix's name for the namespace type `setns` checks the descriptor against.
fn link_type(ns: Namespace) -> rustix::thread::LinkNameSpaceType {
    use rustix::thread::LinkNameSpaceType as T;
    match ns {
        Namespace::User => T::User,
        Namespace::Mount => T::Mount,
        Namespace::Pid => T::ProcessID,
        Namespace::Uts => T::HostNameAndNISDomainName,
        Namespace::Ipc => T::InterProcessCommunication,
        Namespace::Net => T::Network,
    }
}

impl Kernel for Linux {
    fn mount(
        &self,
        source: Option<&str>,
        target: &Path,
        fstype: Option<&str>,
        flags: u64,
        data: Option<&str>,
    ) -> io::Result<()> {
        let to_c = |s: &str| {
            CString::new(s)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in mount argument"))
        };
        let source = source.map(to_c).transpose()?;
        let fstype = fstype.map(to_c).transpose()?;
        let data = data.map(to_c).transpose()?;
        let target = cstr(target)?;
        let ptr = |c: &Option<CString>| c.as_ref().map_or(std::ptr::null(), |c| c.as_ptr());
        // SAFETY: every pointer is a valid NUL-terminated string or null, as mount(2) allows.
        check(unsafe {
            libc::mount(
                ptr(&source),
                target.as_ptr(),
                ptr(&fstype),
                flags as libc::c_ulong,
                ptr(&data).cast(),
            )
        })
    }

    fn mount_overlay(&self, overlay: &OverlayMount<'_>, target: &Path) -> io::Result<()> {
        use rustix::io::Errno;
        use rustix::mount::{
            FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
            fsconfig_set_flag, fsconfig_set_string, fsmount, fsopen, move_mount,
        };
        let unsupported = |what: &str| io::Error::new(io::ErrorKind::Unsupported, what);
        let at = |e: Errno, what: &str, path: &Path| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("{what} `{}`: {e}", path.display()),
            )
        };
        let fs = match fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC) {
            Err(Errno::NOSYS) => {
                return Err(unsupported(
                    "the kernel has no `fsopen` (Linux 5.2 or later)",
                ));
            }
            other => other?,
        };
        for (i, layer) in overlay.lower.iter().enumerate() {
            match fsconfig_set_string(&fs, "lowerdir+", *layer) {
                // An overlayfs that does not know the key refuses the first layer already.
                Err(Errno::INVAL) if i == 0 => {
                    return Err(unsupported(
                        "overlayfs does not take `lowerdir+` (Linux 6.8 or later)",
                    ));
                }
                other => other.map_err(|e| at(e, "lower layer", layer))?,
            }
        }
        fsconfig_set_string(&fs, "upperdir", overlay.upper)
            .map_err(|e| at(e, "upper directory", overlay.upper))?;
        fsconfig_set_string(&fs, "workdir", overlay.work)
            .map_err(|e| at(e, "work directory", overlay.work))?;
        if overlay.userxattr {
            fsconfig_set_flag(&fs, "userxattr")?;
        }
        fsconfig_create(&fs)?;
        let mnt = fsmount(
            &fs,
            FsMountFlags::FSMOUNT_CLOEXEC,
            MountAttrFlags::MOUNT_ATTR_NODEV,
        )?;
        move_mount(
            &mnt,
            "",
            rustix::fs::CWD,
            target,
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
        )?;
        Ok(())
    }

    fn umount_detach(&self, target: &Path) -> io::Result<()> {
        rustix::mount::unmount(target, rustix::mount::UnmountFlags::DETACH).map_err(Into::into)
    }

    fn pivot_root(&self, new_root: &Path, put_old: &Path) -> io::Result<()> {
        rustix::process::pivot_root(new_root, put_old).map_err(Into::into)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        rustix::process::chdir(path).map_err(Into::into)
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        rustix::system::sethostname(name.as_bytes()).map_err(Into::into)
    }

    fn loopback_up(&self) -> io::Result<()> {
        // SAFETY: a plain socket call; the descriptor is owned right below.
        let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
        if sock < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `sock` is a fresh descriptor we own.
        let sock = unsafe { OwnedFd::from_raw_fd(sock) };
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
            *dst = *src as libc::c_char;
        }
        // SAFETY: SIOCGIFFLAGS reads into `req`, which lives for the call.
        check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) })?;
        // SAFETY: the flags member is the one SIOCGIFFLAGS filled in.
        unsafe {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        }
        // SAFETY: SIOCSIFFLAGS reads `req`.
        check(unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) })
    }

    fn write_file(&self, path: &Path, data: &str) -> io::Result<()> {
        std::fs::write(path, data)
    }

    fn copy_attrs(&self, from: &Path, to: &Path) -> io::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let m = std::fs::symlink_metadata(from)?;
        // Best effort for the owner: without root only the mapped ids can be given.
        let _ = std::os::unix::fs::lchown(to, Some(m.uid()), Some(m.gid()));
        std::fs::set_permissions(to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        let time = |sec: i64, nsec: i64| rustix::fs::Timespec {
            tv_sec: sec,
            tv_nsec: nsec as _,
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            to,
            &rustix::fs::Timestamps {
                last_access: time(m.atime(), m.atime_nsec()),
                last_modification: time(m.mtime(), m.mtime_nsec()),
            },
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )?;
        Ok(())
    }

    fn open_in_root(&self, root: &Path, path: &Path, how: Resolve) -> io::Result<OwnedFd> {
        let root_fd = rustix::fs::open(
            root,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let rel = path.strip_prefix("/").unwrap_or(path);
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        open_or_create(&root_fd, rel, how)
    }

    fn fstat(&self, fd: BorrowedFd<'_>) -> io::Result<Stat> {
        Ok(stat_of(&rustix::fs::fstat(fd)?))
    }

    fn lstat(&self, path: &Path) -> io::Result<Stat> {
        Ok(stat_of(&rustix::fs::lstat(path)?))
    }

    fn mount_flags(&self, path: &Path) -> io::Result<u64> {
        let st = rustix::fs::statvfs(path)?;
        let f = st.f_flag;
        let mut flags = 0;
        for (st_bit, ms_bit) in [
            (rustix::fs::StatVfsMountFlags::NOSUID, super::ms::NOSUID),
            (rustix::fs::StatVfsMountFlags::NODEV, super::ms::NODEV),
            (rustix::fs::StatVfsMountFlags::NOEXEC, super::ms::NOEXEC),
            (rustix::fs::StatVfsMountFlags::RDONLY, super::ms::RDONLY),
        ] {
            if f.contains(st_bit) {
                flags |= ms_bit;
            }
        }
        Ok(flags)
    }

    fn open_pty(&self, ptmx: BorrowedFd<'_>) -> io::Result<(OwnedFd, OwnedFd)> {
        let master = rustix::fs::open(
            format!("/proc/self/fd/{}", ptmx.as_raw_fd()),
            OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        rustix::pty::unlockpt(&master)?;
        use rustix::pty::OpenptFlags;
        let slave = rustix::pty::ioctl_tiocgptpeer(
            &master,
            OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC,
        )?;
        Ok((master, slave))
    }

    fn close(&self, fd: RawFd) {
        // SAFETY: the caller hands over a descriptor it owns.
        unsafe { libc::close(fd) };
    }

    fn symlink_in_root(&self, root: &Path, target: &str, link: &str) -> io::Result<()> {
        let dir = rustix::fs::open(root, OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())?;
        let link = link.trim_start_matches('/');
        match rustix::fs::symlinkat(target, &dir, link) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn setns(&self, fd: BorrowedFd<'_>, ns: Namespace) -> io::Result<()> {
        rustix::thread::move_into_link_name_space(fd, Some(link_type(ns))).map_err(Into::into)
    }

    fn bind_from_namespace(
        &self,
        mnt_ns: BorrowedFd<'_>,
        path: &Path,
        target: BorrowedFd<'_>,
    ) -> io::Result<()> {
        use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
        let own = rustix::fs::open(
            "/proc/self/ns/mnt",
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let cwd = rustix::fs::open(
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        self.setns(mnt_ns, Namespace::Mount)?;
        let cloned = self
            .open_in_root(
                Path::new("/"),
                path,
                Resolve {
                    create: None,
                    no_symlinks: true,
                },
            )
            .and_then(|fd| {
                open_tree(
                    &fd,
                    "",
                    OpenTreeFlags::OPEN_TREE_CLONE
                        | OpenTreeFlags::OPEN_TREE_CLOEXEC
                        | OpenTreeFlags::AT_EMPTY_PATH,
                )
                .map_err(io::Error::from)
            });
        // Back home before anything else, whatever happened there.
        self.setns(own.as_fd(), Namespace::Mount)?;
        rustix::process::fchdir(&cwd)?;
        let cloned = cloned?;
        // Onto the descriptor itself: `move_mount` does not follow a `/proc/self/fd/N` link.
        move_mount(
            &cloned,
            "",
            target,
            "",
            MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH | MoveMountFlags::MOVE_MOUNT_T_EMPTY_PATH,
        )?;
        Ok(())
    }

    fn drop_bounding(&self, keep: u64) -> io::Result<()> {
        for cap in 0..64u64 {
            if keep & (1 << cap) != 0 {
                continue;
            }
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r == -1 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINVAL) {
                    break; // past the kernel's last capability
                }
                return Err(e);
            }
        }
        Ok(())
    }

    fn capset(&self, effective: u64, permitted: u64, inheritable: u64) -> io::Result<()> {
        use rustix::thread::{CapabilitySet, CapabilitySets};
        // Every bit as given: a capability newer than rustix's names is still set or dropped.
        let sets = CapabilitySets {
            effective: CapabilitySet::from_bits_retain(effective),
            permitted: CapabilitySet::from_bits_retain(permitted),
            inheritable: CapabilitySet::from_bits_retain(inheritable),
        };
        rustix::thread::set_capabilities(None, sets).map_err(Into::into)
    }

    fn clear_ambient(&self) -> io::Result<()> {
        match rustix::thread::clear_ambient_capability_set() {
            // Kernels without ambient capabilities have nothing to clear.
            Ok(()) | Err(rustix::io::Errno::INVAL) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    fn set_no_new_privs(&self) -> io::Result<()> {
        rustix::thread::set_no_new_privs(true).map_err(Into::into)
    }

    fn setgroups(&self, groups: &[u32]) -> io::Result<()> {
        // The groups of this thread only (the raw system call), which is what a
        // single-threaded init wants: glibc's wrapper would try to signal other threads.
        let groups: Vec<rustix::process::Gid> = groups
            .iter()
            .map(|&g| rustix::process::Gid::from_raw(g))
            .collect();
        rustix::thread::set_thread_groups(&groups).map_err(Into::into)
    }

    fn setgid(&self, gid: u32) -> io::Result<()> {
        let gid = rustix::process::Gid::from_raw(gid);
        rustix::thread::set_thread_res_gid(gid, gid, gid).map_err(Into::into)
    }

    fn setuid(&self, uid: u32) -> io::Result<()> {
        let uid = rustix::process::Uid::from_raw(uid);
        rustix::thread::set_thread_res_uid(uid, uid, uid).map_err(Into::into)
    }

    fn seccomp_filter(&self, bpf: &[u8], flags: u32) -> io::Result<()> {
        if bpf.is_empty() || !bpf.len().is_multiple_of(8) || bpf.len() / 8 > usize::from(u16::MAX) {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let program: Vec<libc::sock_filter> = bpf
            .chunks_exact(8)
            .map(|c| libc::sock_filter {
                code: u16::from_ne_bytes([c[0], c[1]]),
                jt: c[2],
                jf: c[3],
                k: u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            })
            .collect();
        let prog = libc::sock_fprog {
            len: program.len() as u16,
            filter: program.as_ptr().cast_mut(),
        };
        // SAFETY: `prog` points at `len` valid instructions that outlive the call; the kernel
        // copies them.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                flags,
                &prog as *const libc::sock_fprog,
            )
        };
        if r == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(())
        }
    }
}
