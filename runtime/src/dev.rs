//! The container's minimal `/dev`: a fresh tmpfs holding bind mounts of a few host device
//! nodes, its own `devpts` and `shm`, and the usual symlinks.
//!
//! Device nodes are bound rather than created with `mknod` so that the same code works in a
//! user namespace, where `mknod` is not allowed. Each host node is opened and checked to be
//! the character device it should be before it is used: an image (or a host) whose
//! `/dev/null` is a symlink or a regular file is refused (CVE-2025-31133).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use crate::error::{Context, Error, Result};
use crate::kernel::{FileKind, Kernel, Resolve, ms};

/// The host device nodes bound into every container: name, major, minor.
pub const HOST_DEVICES: &[(&str, u32, u32)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: &[(&str, &str)] = &[
    ("/proc/self/fd", "fd"),
    ("/proc/self/fd/0", "stdin"),
    ("/proc/self/fd/1", "stdout"),
    ("/proc/self/fd/2", "stderr"),
    ("pts/ptmx", "ptmx"),
    ("/proc/kcore", "core"),
];

/// `/proc/self/fd/N`, the path through which the runtime mounts onto or from a descriptor.
pub(crate) fn fd_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Open the host device `/dev/<name>` and check it is the character device `major:minor`.
/// Returns an `O_PATH` descriptor to bind from.
pub(crate) fn open_host_device(
    k: &dyn Kernel,
    name: &str,
    major: u32,
    minor: u32,
) -> Result<OwnedFd> {
    let path = Path::new("/dev").join(name);
    let fd = k
        .open_in_root(
            Path::new("/"),
            &path,
            Resolve {
                create: None,
                no_symlinks: true,
            },
        )
        .what(|| format!("cannot open host `{}`", path.display()))?;
    let st = k
        .fstat(fd.as_fd())
        .what(|| format!("cannot stat host `{}`", path.display()))?;
    if st.kind != FileKind::CharDevice || st.rdev != rustix::fs::makedev(major, minor) {
        return Err(Error::BadDevice(path.display().to_string()));
    }
    Ok(fd)
}

/// Mount the container's `/dev` under `root`, with a `/dev/shm` of `shm_size` bytes
/// (Docker's 64 MiB when `None`).
pub fn mount_dev(k: &dyn Kernel, root: &Path, rootless: bool, shm_size: Option<u64>) -> Result<()> {
    let dev = open_dir(k, root, "/dev")?;
    k.mount(
        Some("tmpfs"),
        &fd_path(&dev),
        Some("tmpfs"),
        ms::NOSUID | ms::STRICTATIME,
        Some("mode=755,size=65536k"),
    )
    .what(|| "cannot mount tmpfs on /dev".into())?;
    drop(dev);
    for (name, major, minor) in HOST_DEVICES {
        let src = open_host_device(k, name, *major, *minor)?;
        bind_file(k, root, &fd_path(&src), &format!("/dev/{name}"))?;
        drop(src);
    }
    let pts = open_dir(k, root, "/dev/pts")?;
    // Without root the tty group (5) is usually not mapped; leave the owner group alone then.
    let pts_opts = if rootless {
        "newinstance,ptmxmode=0666,mode=0620"
    } else {
        "newinstance,ptmxmode=0666,mode=0620,gid=5"
    };
    k.mount(
        Some("devpts"),
        &fd_path(&pts),
        Some("devpts"),
        ms::NOSUID | ms::NOEXEC,
        Some(pts_opts),
    )
    .what(|| "cannot mount devpts on /dev/pts".into())?;
    drop(pts);
    let shm = open_dir(k, root, "/dev/shm")?;
    k.mount(
        Some("shm"),
        &fd_path(&shm),
        Some("tmpfs"),
        ms::NOSUID | ms::NODEV | ms::NOEXEC,
        Some(&crate::ipc::shm_options(shm_size)),
    )
    .what(|| "cannot mount /dev/shm".into())?;
    drop(shm);
    let dev_root = root.join("dev");
    for (target, link) in LINKS {
        k.symlink_in_root(&dev_root, target, link)
            .what(|| format!("cannot create /dev/{link}"))?;
    }
    Ok(())
}

/// Bind each `--device` host node onto its path under the container's `/dev` (a tmpfs without
/// `nodev`, so the node opens there, and only there). The host path is resolved on the host,
/// following links as Docker does, and must be a character or block device; the container
/// path is created under `/dev` with no symlink followed. The devices cgroup allows exactly
/// these nodes besides the default set.
pub fn bind_devices(k: &dyn Kernel, root: &Path, devices: &[crate::spec::Device]) -> Result<()> {
    for d in devices {
        if !d.container.starts_with("/dev/") || d.container.split('/').any(|c| c == "..") {
            return Err(Error::Config(format!(
                "device path `{}` is not under /dev",
                d.container
            )));
        }
        let src = k
            .open_in_root(Path::new("/"), &d.host, Resolve::default())
            .what(|| format!("cannot open host device `{}`", d.host.display()))?;
        let st = k
            .fstat(src.as_fd())
            .what(|| format!("cannot stat host device `{}`", d.host.display()))?;
        if !matches!(st.kind, FileKind::CharDevice | FileKind::BlockDevice) {
            return Err(Error::NotADevice(d.host.display().to_string()));
        }
        bind_file(k, root, &fd_path(&src), &d.container)?;
        drop(src);
    }
    Ok(())
}

fn open_dir(k: &dyn Kernel, root: &Path, path: &str) -> Result<OwnedFd> {
    k.open_in_root(
        root,
        Path::new(path),
        Resolve {
            create: Some(FileKind::Dir),
            no_symlinks: true,
        },
    )
    .what(|| format!("cannot open `{path}` in the container"))
}

fn bind_file(k: &dyn Kernel, root: &Path, source: &Path, target: &str) -> Result<()> {
    let fd = k
        .open_in_root(
            root,
            Path::new(target),
            Resolve {
                create: Some(FileKind::File),
                no_symlinks: true,
            },
        )
        .what(|| format!("cannot create `{target}` in the container"))?;
    let src = source.to_string_lossy();
    k.mount(Some(&src), &fd_path(&fd), None, ms::BIND, None)
        .what(|| format!("cannot bind `{src}` to `{target}`"))?;
    drop(fd);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::{Recording, Stat};
    use crate::spec::Device;

    fn device(host: &str, container: &str) -> Device {
        Device {
            host: PathBuf::from(host),
            container: container.to_owned(),
            access: "r".to_owned(),
        }
    }

    #[test]
    fn devices_are_checked_then_bound_under_dev() {
        let k = Recording::default();
        k.with_stat(
            Path::new("/dev/loop3"),
            Stat {
                kind: FileKind::BlockDevice,
                dev: 5,
                ino: 77,
                rdev: rustix::fs::makedev(7, 3),
            },
        );
        bind_devices(
            &k,
            Path::new("/c/rootfs"),
            &[device("/dev/loop3", "/dev/xda")],
        )
        .unwrap();
        let calls = k.calls();
        assert!(
            calls.contains("/c/rootfs/dev/xda") && calls.contains("BIND"),
            "{calls}"
        );

        // A regular file (the recorder's default is a directory) is refused before any mount.
        let k = Recording::default();
        k.with_stat(
            Path::new("/etc/passwd"),
            Stat {
                kind: FileKind::File,
                dev: 5,
                ino: 78,
                rdev: 0,
            },
        );
        let err = bind_devices(
            &k,
            Path::new("/c/rootfs"),
            &[device("/etc/passwd", "/dev/p")],
        )
        .unwrap_err();
        assert!(matches!(err, Error::NotADevice(_)), "{err}");
        assert!(!k.calls().contains("mount"), "{}", k.calls());
        // The refused device's descriptor is closed with the error.
        assert_eq!(k.open_descriptors(), 0);

        // The container path stays under /dev.
        for bad in ["/etc/x", "/dev/../etc/x"] {
            let k = Recording::default();
            assert!(
                bind_devices(&k, Path::new("/c/rootfs"), &[device("/dev/loop3", bad)]).is_err()
            );
        }
    }
}
