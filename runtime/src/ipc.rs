//! `--ipc` and `--shm-size`: which IPC namespace (System V IPC, POSIX message queues) the
//! container is in, and what its `/dev/shm` is.
//!
//! A private or shareable container gets its own namespace (`CLONE_NEWIPC`) and its own
//! `/dev/shm` tmpfs of `--shm-size` ([`crate::dev::mount_dev`]). With `host` the init stays
//! in the host's namespace and the host's `/dev/shm` is bound over the container's. With
//! `container:NAME` the init joins that container's namespace with `setns` and mounts a clone
//! of that container's `/dev/shm` mount, taken from inside its mount namespace
//! ([`Kernel::bind_from_namespace`]): the two containers then see the same files, as in
//! Docker, where the shared `/dev/shm` is a tmpfs kept on the host.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use crate::dev::fd_path;
use crate::error::{Context, Error, Result};
use crate::kernel::{FileKind, Kernel, Namespace, Resolve, ms};
use crate::spec::{DEFAULT_SHM_SIZE, Ipc};

/// The clone flag the container's init starts with for `ipc`.
pub fn clone_flag(ipc: &Ipc) -> i32 {
    match ipc {
        Ipc::Private | Ipc::Shareable => libc::CLONE_NEWIPC,
        Ipc::Host | Ipc::Container { .. } => 0,
    }
}

/// The tmpfs options of the container's own `/dev/shm`.
pub fn shm_options(size: Option<u64>) -> String {
    let bytes = size.unwrap_or(DEFAULT_SHM_SIZE);
    format!("mode=1777,size={}k", bytes.div_ceil(1024))
}

/// In the init, after `/dev` is mounted under `root` and before `pivot_root`: join the
/// IPC namespace `ipc` names and put its `/dev/shm` over the container's.
pub fn setup(k: &dyn Kernel, root: &Path, ipc: &Ipc) -> Result<()> {
    match ipc {
        Ipc::Private | Ipc::Shareable => Ok(()),
        Ipc::Host => {
            let src = k
                .open_in_root(Path::new("/"), Path::new("/dev/shm"), Resolve::default())
                .what(|| "cannot open the host's /dev/shm".into())?;
            let st = k
                .fstat(src.as_fd())
                .what(|| "cannot stat the host's /dev/shm".into())?;
            if st.kind != FileKind::Dir {
                return Err(Error::Config(
                    "the host's /dev/shm is not a directory".into(),
                ));
            }
            let dst = shm_target(k, root)?;
            k.mount(
                Some(&fd_path(&src).to_string_lossy()),
                &fd_path(&dst),
                None,
                ms::BIND,
                None,
            )
            .what(|| "cannot bind the host's /dev/shm".into())?;
            drop(dst);
            drop(src);
            Ok(())
        }
        Ipc::Container { id, pid } => {
            let gone = |e: std::io::Error| Error::Kernel {
                what: format!("cannot open the namespaces of container `{id}`: is it running?"),
                source: e,
            };
            // Namespace files are magic links: open them plainly.
            let ipc_ns = std::fs::File::open(format!("/proc/{pid}/ns/ipc")).map_err(gone)?;
            let mnt_ns = std::fs::File::open(format!("/proc/{pid}/ns/mnt")).map_err(gone)?;
            k.setns(ipc_ns.as_fd(), Namespace::Ipc)
                .what(|| format!("cannot join the IPC namespace of container `{id}`"))?;
            let dst = shm_target(k, root)?;
            k.bind_from_namespace(mnt_ns.as_fd(), Path::new("/dev/shm"), dst.as_fd())
                .what(|| format!("cannot mount the /dev/shm of container `{id}`"))?;
            drop(dst);
            Ok(())
        }
    }
}

fn shm_target(k: &dyn Kernel, root: &Path) -> Result<OwnedFd> {
    k.open_in_root(
        root,
        Path::new("/dev/shm"),
        Resolve {
            create: Some(FileKind::Dir),
            no_symlinks: true,
        },
    )
    .what(|| "cannot open /dev/shm in the container".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Recording;

    #[test]
    fn shm_size_is_given_to_the_tmpfs_in_kibibytes() {
        assert_eq!(shm_options(None), "mode=1777,size=65536k");
        assert_eq!(shm_options(Some(1 << 30)), "mode=1777,size=1048576k");
        assert_eq!(shm_options(Some(1000)), "mode=1777,size=1k");
    }

    #[test]
    fn host_ipc_binds_the_hosts_shm_and_private_does_nothing() {
        let k = Recording::default();
        setup(&k, Path::new("/c/rootfs/merged"), &Ipc::Private).unwrap();
        assert_eq!(k.calls(), "");
        setup(&k, Path::new("/c/rootfs/merged"), &Ipc::Host).unwrap();
        let calls = k.calls();
        assert!(
            calls.contains("/dev/shm")
                && calls.contains("/c/rootfs/merged/dev/shm")
                && calls.contains("BIND"),
            "{calls}"
        );
        assert_eq!(clone_flag(&Ipc::Host), 0);
    }

    #[test]
    fn joining_a_container_enters_its_ipc_namespace_and_mounts_its_shm() {
        let k = Recording::default();
        // Our own process stands in for the other container's init: its namespace files
        // exist; the recorder only records the joins.
        let ipc = Ipc::Container {
            id: "a".into(),
            pid: std::process::id() as i32,
        };
        setup(&k, Path::new("/c/rootfs/merged"), &ipc).unwrap();
        let calls = k.calls();
        let setns = calls.find("ipc").expect("an ipc setns");
        let bind = calls
            .find("bind_from_namespace")
            .expect("a bind from the other namespace");
        assert!(setns < bind, "{calls}");
        assert!(
            calls.contains("/dev/shm -> /c/rootfs/merged/dev/shm"),
            "{calls}"
        );
        assert_eq!(clone_flag(&ipc), 0);
        assert_eq!(clone_flag(&Ipc::Shareable), libc::CLONE_NEWIPC);
    }
}
