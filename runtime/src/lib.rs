//! duckc's bundled container runtime: runs a command in new Linux namespaces over an overlay of
//! image layers, with no daemon.
//!
//! The shape follows youki's libcontainer: every kernel call goes through [`kernel::Kernel`]
//! (a real [`kernel::Linux`] and a [`kernel::Recording`] for tests); [`rootfs`] builds the
//! mount namespace; [`caps`] and [`user`] decide who the process runs as; [`init`] is the code
//! that runs inside the namespaces (in the cloned child itself, ending in the `duckc-exec`
//! stub, or re-executed from a sealed copy of the binary: [`exe`]);
//! [`process`] starts, waits for and talks to containers from the host side; [`container`]
//! owns the store's `containers/`: the containers' records and their life cycle.
//!
//! The binary that bundles the runtime must call [`init::main_if_init`] first thing in `main`.

pub mod caps;
pub mod cdi;
pub mod cgroup;
pub mod container;
pub mod dev;
pub mod emulation;
mod error;
pub mod etc;
pub mod exe;
mod fdpass;
pub mod hooks;
pub mod init;
pub mod ipc;
pub mod kernel;
pub mod net;
pub mod process;
pub mod reaper;
mod replace;
pub mod rootfs;
pub mod seccomp;
pub mod session;
pub mod spec;
pub mod start;
pub mod user;
pub mod userns;

use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

pub use error::{Error, Result};
pub use process::{Child, Io, Stdio, attach, exec_in, spawn};
pub use spec::{
    ContainerSpec, Device, Dns, Ipc, Launch, Network, Process, Resources, Rootfs, Tmpfs, Ulimit,
    Volume,
};

impl Rootfs {
    /// A root filesystem over `lower` (bottom layer first) whose upper, work and mount
    /// directories live in `dir` (`dir/upper`, `dir/work`, `dir/rootfs`), created if missing.
    pub fn in_dir(lower: Vec<std::path::PathBuf>, dir: &Path) -> Result<Rootfs> {
        let rootfs = Rootfs {
            lower,
            upper: dir.join("upper"),
            work: dir.join("work"),
            mountpoint: dir.join("rootfs"),
            ephemeral: false,
        };
        for d in [&rootfs.upper, &rootfs.work, &rootfs.mountpoint] {
            std::fs::create_dir_all(d).map_err(|source| Error::Kernel {
                what: format!("cannot create `{}`", d.display()),
                source,
            })?;
        }
        Ok(rootfs)
    }
}

/// What a container run to completion printed, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Captured {
    /// Exit status; 128+N when killed by signal N.
    pub code: i32,
    /// stdout and stderr, interleaved as written.
    pub output: Vec<u8>,
}

/// Run a container to completion with stdin at `/dev/null` and its output captured: what a
/// build's `run` step does. The changes it makes land in `spec.rootfs.upper`.
pub fn run_captured(spec: &ContainerSpec) -> Result<Captured> {
    run_streamed(spec, &mut |_| {})
}

/// [`run_captured`], also handing each chunk of output to `on_output` as the container writes
/// it (a build's live output), before the container has exited.
pub fn run_streamed(spec: &ContainerSpec, on_output: &mut dyn FnMut(&[u8])) -> Result<Captured> {
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| Error::Kernel {
            what: "cannot create a pipe".into(),
            source: e.into(),
        })?;
    let write2: OwnedFd = write.try_clone().map_err(|source| Error::Kernel {
        what: "cannot duplicate a pipe".into(),
        source,
    })?;
    let mut spec = spec.clone();
    spec.process.terminal = false;
    let child = spawn(
        &spec,
        Io {
            stdin: Stdio::Null,
            stdout: Stdio::Fd(write),
            stderr: Stdio::Fd(write2),
        },
    )?;
    let mut output = Vec::new();
    let mut pipe = std::fs::File::from(read);
    let mut chunk = [0u8; 8192];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                on_output(&chunk[..n]);
                output.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let code = process::wait_code(child.pid);
    // The step's cgroup goes with the step, and anything the step left behind with it.
    if let Some(cg) = &child.cgroup {
        let _ = cg.destroy();
    }
    let code = code.map_err(|source| Error::Kernel {
        what: "cannot wait for the container".into(),
        source,
    })?;
    Ok(Captured { code, output })
}
