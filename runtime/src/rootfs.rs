//! The container's mount namespace: overlay root, `/proc`, `/dev`, `/sys`, volumes, masked
//! and read-only paths, then `pivot_root`.
//!
//! Everything is mounted *before* `pivot_root`, while the host's `/proc` is still reachable,
//! and every target inside the container's root is opened with `openat2(RESOLVE_IN_ROOT)` and
//! mounted onto through `/proc/self/fd/N`. The image controls the tree we mount into, so a
//! path is never looked up twice by name: a symlink swapped in between could otherwise send a
//! mount outside the root (CVE-2021-30465).

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::dev::{self, fd_path};
use crate::error::{Context, Error, Result};
use crate::kernel::{FileKind, Kernel, OverlayMount, Resolve, ms};
use crate::spec::{ContainerSpec, Network, Rootfs};

/// runc's masked paths: directories get an empty read-only tmpfs, files `/dev/null`.
pub const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// runc's read-only paths.
pub const READ_ONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Facts about the caller that change how the root is set up.
#[derive(Clone, Debug, Default)]
pub struct Setup {
    /// Running in a user namespace as an unprivileged caller.
    pub rootless: bool,
    /// The generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` to mount.
    pub etc: Option<crate::etc::EtcFiles>,
}

/// Map the caller (host ids `uid`, `gid`) to root in the user namespace of the process whose
/// `/proc` directory is `proc_dir`. An unprivileged caller may map exactly its own ids, once
/// `setgroups` is denied.
pub fn map_caller(k: &dyn Kernel, proc_dir: &Path, uid: u32, gid: u32) -> Result<()> {
    for (file, data) in [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("0 {uid} 1\n")),
        ("gid_map", format!("0 {gid} 1\n")),
    ] {
        let path = proc_dir.join(file);
        k.write_file(&path, &data)
            .what(|| format!("cannot write `{}`", path.display()))?;
    }
    Ok(())
}

/// overlayfs stacks at most this many lower layers (the kernel's `OVL_MAX_STACK`).
pub const MAX_LAYERS: usize = 500;

/// The classic `mount(2)` takes one page of options; stay clear of the end of it.
const MAX_OPTIONS: usize = 4000;

/// Mount the overlay of `rootfs`'s layers (under `upper`, `work`) on `target`, `nodev`: a
/// device node shipped in a layer or made with `mknod` never opens from the root.
///
/// One `lowerdir=a:b:c` option string is limited to a page, about 40 layer snapshots at
/// ~96 bytes a path, while package-based images have one layer per package. So the layers go
/// to the kernel one by one (`fsconfig(lowerdir+)`, Linux 6.8), top first, and only a kernel
/// without that falls back to the single string, when it fits.
pub fn mount_overlay(
    k: &dyn Kernel,
    rootfs: &Rootfs,
    upper: &Path,
    work: &Path,
    rootless: bool,
    target: &Path,
) -> Result<()> {
    let lower = lower_top_first(&rootfs.lower);
    if lower.len() > MAX_LAYERS {
        return Err(Error::TooManyLayers(lower.len()));
    }
    let overlay = OverlayMount {
        lower: &lower,
        upper,
        work,
        userxattr: rootless,
    };
    match k.mount_overlay(&overlay, target) {
        Err(e) if e.kind() == io::ErrorKind::Unsupported => {
            let opts = overlay_options(rootfs, upper, work, rootless)?;
            k.mount(
                Some("overlay"),
                target,
                Some("overlay"),
                ms::NODEV,
                Some(&opts),
            )
        }
        other => other,
    }
    .what(|| "cannot mount the container's overlay".into())
}

/// The lower directories of `lower` (bottom first) as overlayfs takes them: top first, each
/// once.
///
/// A chain may hold the same layer more than once (two steps that change nothing give the
/// same empty layer; `RUN mkdir /app` then `WORKDIR /app` give two identical ones), and
/// overlayfs refuses a lower directory given twice (`ELOOP`). Keeping only the topmost copy
/// gives the same tree: every path the repeated layer holds (a file, a whiteout, an opaque or
/// a plain directory's attributes) is decided again by its upper copy, whatever the layers
/// between did, and what it does not hold passes through both copies alike.
pub fn lower_top_first(lower: &[PathBuf]) -> Vec<&Path> {
    let mut seen = std::collections::HashSet::new();
    lower
        .iter()
        .rev()
        .map(PathBuf::as_path)
        .filter(|p| seen.insert(*p))
        .collect()
}

/// The classic overlayfs options for `rootfs`: lower layers top first, as overlayfs wants
/// them. For kernels without `lowerdir+`; fails when they do not fit in one mount.
pub fn overlay_options(
    rootfs: &Rootfs,
    upper: &Path,
    work: &Path,
    rootless: bool,
) -> Result<String> {
    let check = |p: &Path| {
        let s = p.to_string_lossy();
        if s.contains([':', ',']) {
            Err(Error::LayerPath(s.into_owned()))
        } else {
            Ok(s.into_owned())
        }
    };
    let lower = lower_top_first(&rootfs.lower)
        .into_iter()
        .map(check)
        .collect::<Result<Vec<_>>>()?
        .join(":");
    let mut opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        check(upper)?,
        check(work)?
    );
    if rootless {
        opts.push_str(",userxattr");
    }
    if opts.len() >= MAX_OPTIONS {
        return Err(Error::KernelTooOld {
            layers: rootfs.lower.len(),
            bytes: opts.len(),
        });
    }
    Ok(opts)
}

/// Build the container's mount tree and `pivot_root` into it. On return the process's root and
/// working directory are the container's `/`; the hostname is set and loopback is up.
pub fn setup(k: &dyn Kernel, spec: &ContainerSpec, setup: &Setup) -> Result<()> {
    setup_then(k, spec, setup, &mut |_| Ok(()))
}

/// [`setup`], calling `before_pivot` with the container's root (a host path) once every
/// mount is made and before `pivot_root`, while the host's file system is still reachable:
/// where the init joins another IPC namespace and runs the `createRuntime` and
/// `createContainer` hooks.
pub fn setup_then(
    k: &dyn Kernel,
    spec: &ContainerSpec,
    setup: &Setup,
    before_pivot: &mut dyn FnMut(&Path) -> Result<()>,
) -> Result<()> {
    let mountpoint = spec.rootfs.mountpoint.as_path();
    k.mount(None, Path::new("/"), None, ms::REC | ms::PRIVATE, None)
        .what(|| "cannot make the mount tree private".into())?;
    if spec.rootfs.lower.is_empty() {
        return Err(Error::Config("no layers to mount".into()));
    }
    // A tmpfs that only this mount namespace sees holds the merged root, the generated /etc
    // files and the layer of their mount targets (and, for an ephemeral container, its
    // changes): nothing of it reaches the host's disk or the container's upper directory.
    k.mount(
        Some("tmpfs"),
        mountpoint,
        Some("tmpfs"),
        0,
        Some("mode=755"),
    )
    .what(|| "cannot mount a tmpfs for the container's root".into())?;
    let mut dirs = vec!["merged", ETC_LAYER, ETC_FILES];
    if spec.rootfs.ephemeral {
        dirs.extend(["upper", "work"]);
    }
    for dir in dirs {
        let fd = k
            .open_in_root(
                mountpoint,
                Path::new(dir),
                Resolve {
                    create: Some(FileKind::Dir),
                    no_symlinks: true,
                },
            )
            .what(|| format!("cannot create `{dir}` on the tmpfs"))?;
        drop(fd);
    }
    let (upper, work) = if spec.rootfs.ephemeral {
        (mountpoint.join("upper"), mountpoint.join("work"))
    } else {
        (spec.rootfs.upper.clone(), spec.rootfs.work.clone())
    };
    let root = mountpoint.join("merged");
    let root = root.as_path();
    let etc = match &setup.etc {
        Some(_) if spec.rootfs.lower.len() >= MAX_LAYERS => EtcPlan::Skip(Some(format!(
            "the image has {MAX_LAYERS} layers, overlayfs's most, and no room for the layer of the generated files"
        ))),
        Some(files) => prepare_etc(k, spec, mountpoint, &upper, files)?,
        None => EtcPlan::Skip(None),
    };
    let mut rootfs = spec.rootfs.clone();
    if let EtcPlan::Mount = etc {
        // On top of the image: mount targets that exist as plain files, whatever the image
        // holds at these paths.
        rootfs.lower.push(mountpoint.join(ETC_LAYER));
    }
    mount_overlay(k, &rootfs, &upper, &work, setup.rootless, root)?;

    let proc_fd = special_dir(k, root, "/proc")?;
    k.mount(
        Some("proc"),
        &fd_path(&proc_fd),
        Some("proc"),
        ms::NOSUID | ms::NODEV | ms::NOEXEC,
        None,
    )
    .what(|| "cannot mount /proc".into())?;
    drop(proc_fd);

    let dev_fd = special_dir(k, root, "/dev")?;
    drop(dev_fd);
    dev::mount_dev(k, root, setup.rootless, spec.launch.shm_size)?;
    dev::bind_devices(k, root, &spec.resources.devices)?;

    let sys_fd = special_dir(k, root, "/sys")?;
    let sys_flags = ms::NOSUID | ms::NODEV | ms::NOEXEC | ms::RDONLY;
    if setup.rootless && spec.network == Network::Host {
        // sysfs can only be mounted by the owner of the network namespace: without root and
        // with the host's network, bind the host's /sys read-only instead (as runc does).
        k.mount(
            Some("/sys"),
            &fd_path(&sys_fd),
            None,
            ms::BIND | ms::REC,
            None,
        )
        .what(|| "cannot bind /sys".into())?;
        let fd = reopen(k, root, "/sys")?;
        k.mount(
            None,
            &fd_path(&fd),
            None,
            ms::BIND | ms::REMOUNT | sys_flags,
            None,
        )
        .what(|| "cannot make /sys read-only".into())?;
        drop(fd);
    } else {
        k.mount(
            Some("sysfs"),
            &fd_path(&sys_fd),
            Some("sysfs"),
            sys_flags,
            None,
        )
        .what(|| "cannot mount /sys".into())?;
    }
    drop(sys_fd);

    if let EtcPlan::Mount = etc {
        for name in ETC_NAMES {
            let source = match setup.etc.as_ref().and_then(|f| f.hosts_file.as_ref()) {
                Some(file) if name == "hosts" => file.clone(),
                _ => mountpoint.join(ETC_FILES).join(name),
            };
            bind_etc(k, root, &source, name)?;
        }
    } else if let EtcPlan::Skip(Some(why)) = etc {
        eprintln!(
            "duckc: warning: {why}; the container gets no generated /etc/hosts, /etc/resolv.conf or /etc/hostname"
        );
    }

    for volume in &spec.volumes {
        bind_volume(k, root, &volume.source, &volume.target, volume.readonly)?;
    }
    for tmpfs in &spec.tmpfs {
        mount_tmpfs(k, root, tmpfs)?;
    }

    mask_paths(k, root)?;
    for path in READ_ONLY {
        read_only(k, root, path)?;
    }

    k.sethostname(&spec.hostname)
        .what(|| format!("cannot set hostname `{}`", spec.hostname))?;
    if spec.network != Network::Host {
        k.loopback_up().what(|| "cannot bring up loopback".into())?;
    }

    before_pivot(root)?;

    k.chdir(root)
        .what(|| "cannot enter the container's root".into())?;
    k.pivot_root(Path::new("."), Path::new("."))
        .what(|| "cannot pivot_root into the container".into())?;
    k.umount_detach(Path::new("."))
        .what(|| "cannot detach the host's root".into())?;
    k.chdir(Path::new("/")).what(|| "cannot chdir to /".into())
}

/// A new pseudo-terminal from the container's own devpts, after `pivot_root`: returns
/// (master, slave). With `console`, the slave is also bind-mounted on `/dev/console`. Creating
/// it inside the container (rather than on the host) makes it `/dev/pts/0` there, as in Docker.
pub fn open_console(k: &dyn Kernel, console: bool) -> Result<(OwnedFd, OwnedFd)> {
    let ptmx = k
        .open_in_root(
            Path::new("/"),
            Path::new("/dev/pts/ptmx"),
            Resolve {
                create: None,
                no_symlinks: true,
            },
        )
        .what(|| "cannot open /dev/pts/ptmx".into())?;
    let (master, slave) = k
        .open_pty(ptmx.as_fd())
        .what(|| "cannot open a pseudo-terminal".into())?;
    drop(ptmx);
    if console {
        let target = k
            .open_in_root(
                Path::new("/"),
                Path::new("/dev/console"),
                Resolve {
                    create: Some(FileKind::File),
                    no_symlinks: true,
                },
            )
            .what(|| "cannot create /dev/console".into())?;
        k.mount(
            Some(&fd_path(&slave).to_string_lossy()),
            &fd_path(&target),
            None,
            ms::BIND,
            None,
        )
        .what(|| "cannot bind the terminal to /dev/console".into())?;
        drop(target);
    }
    Ok((master, slave))
}

/// Where on the container's private tmpfs the generated files are written.
const ETC_FILES: &str = "etc-files";
/// A directory on the tmpfs stacked over the image as its top layer: `etc/` (with the
/// image's `/etc`'s owner, mode and times) holding empty `hosts`, `resolv.conf` and
/// `hostname`, so the mount targets are regular files whatever the image has there (a
/// symlink to a host path, a directory, nothing) and none is ever created in `upper`.
const ETC_LAYER: &str = "etc-layer";
/// The generated files, under `/etc`.
const ETC_NAMES: [&str; 3] = ["hosts", "resolv.conf", "hostname"];

/// Whether the generated /etc files are mounted.
enum EtcPlan {
    Mount,
    /// Not mounted; why, when the user should know.
    Skip(Option<String>),
}

/// Write the generated files to the tmpfs and build the layer of their mount targets. The
/// image's `/etc` is found as overlayfs finds it: the first of upper and the layers (top
/// first) that has an entry `etc`.
fn prepare_etc(
    k: &dyn Kernel,
    spec: &ContainerSpec,
    tmpfs: &Path,
    upper: &Path,
    files: &crate::etc::EtcFiles,
) -> Result<EtcPlan> {
    let mut image_etc = None;
    for layer in std::iter::once(upper).chain(spec.rootfs.lower.iter().rev().map(PathBuf::as_path))
    {
        let path = layer.join("etc");
        match k.lstat(&path) {
            Ok(st) if st.kind == FileKind::Dir => {
                image_etc = Some(path);
                break;
            }
            // A whiteout: the image removed /etc.
            Ok(st) if st.kind == FileKind::CharDevice && st.rdev == 0 => break,
            Ok(_) => {
                return Ok(EtcPlan::Skip(Some(
                    "/etc in the image is not a directory".into(),
                )));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Kernel {
                    what: format!("cannot stat `{}`", path.display()),
                    source: e,
                });
            }
        }
    }
    let layer = tmpfs.join(ETC_LAYER);
    let data = tmpfs.join(ETC_FILES);
    for (name, text) in [
        ("hosts", &files.hosts),
        ("resolv.conf", &files.resolv_conf),
        ("hostname", &files.hostname),
    ] {
        let placeholder = Path::new("etc").join(name);
        let fd = k
            .open_in_root(
                &layer,
                &placeholder,
                Resolve {
                    create: Some(FileKind::File),
                    no_symlinks: true,
                },
            )
            .what(|| format!("cannot create the mount target for /etc/{name}"))?;
        drop(fd);
        let path = data.join(name);
        k.write_file(&path, text)
            .what(|| format!("cannot write `{}`", path.display()))?;
    }
    if let Some(from) = image_etc {
        let to = layer.join("etc");
        k.copy_attrs(&from, &to)
            .what(|| format!("cannot give `{}` the image's attributes", to.display()))?;
    }
    Ok(EtcPlan::Mount)
}

/// Bind the generated file `source` onto `/etc/NAME` in the container. The target is opened
/// without following any symlink (the layer of mount targets makes it a regular file; only
/// a container's own upper directory can still hold something else there, which is then
/// left alone with a warning), and must be the source's inode after the mount.
fn bind_etc(k: &dyn Kernel, root: &Path, source: &Path, name: &str) -> Result<()> {
    let target = format!("/etc/{name}");
    let src = k
        .open_in_root(Path::new("/"), source, Resolve::default())
        .what(|| format!("cannot open `{}`", source.display()))?;
    let src_stat = k
        .fstat(src.as_fd())
        .what(|| format!("cannot stat `{}`", source.display()))?;
    let dst = match k.open_in_root(
        root,
        Path::new(&target),
        Resolve {
            create: None,
            no_symlinks: true,
        },
    ) {
        Ok(fd) => fd,
        Err(e) => {
            drop(src);
            eprintln!(
                "duckc: warning: `{target}` in the container's own changes is a symlink or lies behind one ({e}); the generated file is not mounted there"
            );
            return Ok(());
        }
    };
    let st = k
        .fstat(dst.as_fd())
        .what(|| format!("cannot stat `{target}`"))?;
    if st.kind != FileKind::File {
        drop(dst);
        drop(src);
        eprintln!(
            "duckc: warning: `{target}` in the container's own changes is not a regular file; the generated file is not mounted there"
        );
        return Ok(());
    }
    k.mount(
        Some(&fd_path(&src).to_string_lossy()),
        &fd_path(&dst),
        None,
        ms::BIND,
        None,
    )
    .what(|| format!("cannot bind the generated `{target}`"))?;
    drop(dst);
    let mounted = reopen(k, root, &target)?;
    let now = k
        .fstat(mounted.as_fd())
        .what(|| format!("cannot stat `{target}`"))?;
    drop(mounted);
    drop(src);
    if (now.dev, now.ino) != (src_stat.dev, src_stat.ino) {
        return Err(Error::MountEscaped(target));
    }
    Ok(())
}

/// Open `/proc`, `/sys` or `/dev` of the image, refusing a symlink anywhere on the way
/// (CVE-2019-19921, CVE-2023-27561) and creating the directory when the image lacks it.
fn special_dir(k: &dyn Kernel, root: &Path, path: &str) -> Result<OwnedFd> {
    let fd = k
        .open_in_root(
            root,
            Path::new(path),
            Resolve {
                create: Some(FileKind::Dir),
                no_symlinks: true,
            },
        )
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::SymlinkMountpoint(path.to_owned())
            } else {
                Error::Kernel {
                    what: format!("cannot open `{path}` in the image"),
                    source: e,
                }
            }
        })?;
    let st = k
        .fstat(fd.as_fd())
        .what(|| format!("cannot stat `{path}` in the image"))?;
    if st.kind != FileKind::Dir {
        return Err(Error::Config(format!(
            "`{path}` in the image is not a directory"
        )));
    }
    Ok(fd)
}

/// Open `path` inside `root` again, after something was mounted on it, so the descriptor
/// names the new mount.
fn reopen(k: &dyn Kernel, root: &Path, path: &str) -> Result<OwnedFd> {
    k.open_in_root(root, Path::new(path), Resolve::default())
        .what(|| format!("cannot open `{path}` in the container"))
}

/// Mount a tmpfs on `tmpfs.target` inside the root (created as a directory when missing;
/// symlinks on the way resolve inside the root).
fn mount_tmpfs(k: &dyn Kernel, root: &Path, tmpfs: &crate::spec::Tmpfs) -> Result<()> {
    let dst = k
        .open_in_root(
            root,
            Path::new(&tmpfs.target),
            Resolve {
                create: Some(FileKind::Dir),
                no_symlinks: false,
            },
        )
        .what(|| format!("cannot create tmpfs target `{}`", tmpfs.target))?;
    let mut opts = format!("mode={:o}", tmpfs.mode.unwrap_or(0o1777));
    if let Some(size) = tmpfs.size {
        opts.push_str(&format!(",size={size}"));
    }
    k.mount(
        Some("tmpfs"),
        &fd_path(&dst),
        Some("tmpfs"),
        ms::NOSUID | ms::NODEV | ms::NOEXEC,
        Some(&opts),
    )
    .what(|| format!("cannot mount a tmpfs on `{}`", tmpfs.target))?;
    drop(dst);
    Ok(())
}

/// Bind `source` (a host path) onto `target` inside the root. Symlinks in `target` resolve
/// inside the root; after mounting, the target is opened again by name and must be the
/// source's inode (device and inode number), or the start fails.
fn bind_volume(
    k: &dyn Kernel,
    root: &Path,
    source: &Path,
    target: &str,
    readonly: bool,
) -> Result<()> {
    let src = k
        .open_in_root(Path::new("/"), source, Resolve::default())
        .what(|| format!("cannot open volume source `{}`", source.display()))?;
    let src_stat = k
        .fstat(src.as_fd())
        .what(|| format!("cannot stat `{}`", source.display()))?;
    let kind = if src_stat.kind == FileKind::Dir {
        FileKind::Dir
    } else {
        FileKind::File
    };
    let dst = k
        .open_in_root(
            root,
            Path::new(target),
            Resolve {
                create: Some(kind),
                no_symlinks: false,
            },
        )
        .what(|| format!("cannot create volume target `{target}`"))?;
    k.mount(
        Some(&fd_path(&src).to_string_lossy()),
        &fd_path(&dst),
        None,
        ms::BIND | ms::REC,
        None,
    )
    .what(|| format!("cannot bind `{}` to `{target}`", source.display()))?;
    drop(dst);
    let mounted = reopen(k, root, target)?;
    let now = k
        .fstat(mounted.as_fd())
        .what(|| format!("cannot stat `{target}`"))?;
    if (now.dev, now.ino) != (src_stat.dev, src_stat.ino) {
        return Err(Error::MountEscaped(target.to_owned()));
    }
    if readonly {
        let locked = k
            .mount_flags(&fd_path(&src))
            .what(|| format!("cannot read the mount flags of `{}`", source.display()))?;
        k.mount(
            None,
            &fd_path(&mounted),
            None,
            ms::BIND | ms::REMOUNT | ms::RDONLY | ms::NODEV | (locked & (ms::NOSUID | ms::NOEXEC)),
            None,
        )
        .what(|| format!("cannot make `{target}` read-only"))?;
    }
    drop(mounted);
    drop(src);
    Ok(())
}

fn open_existing(k: &dyn Kernel, root: &Path, path: &str) -> Result<Option<OwnedFd>> {
    match k.open_in_root(
        root,
        Path::new(path),
        Resolve {
            create: None,
            no_symlinks: true,
        },
    ) {
        Ok(fd) => Ok(Some(fd)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(Error::Kernel {
            what: format!("cannot open `{path}`"),
            source: e,
        }),
    }
}

fn mask_paths(k: &dyn Kernel, root: &Path) -> Result<()> {
    let null = dev::open_host_device(k, "null", 1, 3)?;
    for path in MASKED {
        let Some(fd) = open_existing(k, root, path)? else {
            continue;
        };
        let st = k
            .fstat(fd.as_fd())
            .what(|| format!("cannot stat `{path}`"))?;
        if st.kind == FileKind::Dir {
            k.mount(
                Some("tmpfs"),
                &fd_path(&fd),
                Some("tmpfs"),
                ms::RDONLY,
                None,
            )
        } else {
            k.mount(
                Some(&fd_path(&null).to_string_lossy()),
                &fd_path(&fd),
                None,
                ms::BIND,
                None,
            )
        }
        .what(|| format!("cannot mask `{path}`"))?;
        drop(fd);
    }
    drop(null);
    Ok(())
}

fn read_only(k: &dyn Kernel, root: &Path, path: &str) -> Result<()> {
    let Some(fd) = open_existing(k, root, path)? else {
        return Ok(());
    };
    let p = fd_path(&fd);
    k.mount(
        Some(&p.to_string_lossy()),
        &p,
        None,
        ms::BIND | ms::REC,
        None,
    )
    .what(|| format!("cannot bind `{path}` to itself"))?;
    drop(fd);
    let fd = reopen(k, root, path)?;
    k.mount(
        None,
        &fd_path(&fd),
        None,
        ms::BIND | ms::REMOUNT | ms::RDONLY | ms::NOSUID | ms::NODEV | ms::NOEXEC,
        None,
    )
    .what(|| format!("cannot make `{path}` read-only"))?;
    drop(fd);
    Ok(())
}

#[cfg(test)]
mod tests;
