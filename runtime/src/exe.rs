//! The runtime's own executable, sealed: container inits run from a copy the container can
//! never write to.
//!
//! A process inside the container can open `/proc/<pid>/exe` of any process in its pid
//! namespace, and a container command of `/proc/self/exe` runs whatever the init was running.
//! If that were the host's `duckc` binary, container root could overwrite it and get code run
//! on the host by the next `duckc` call (CVE-2019-5736). So the init is started from a memfd
//! copy of the binary with write, grow and shrink seals: `/proc/<pid>/exe` then names the
//! memfd, and every write to it fails with `EPERM`.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{MemfdFlags, SealFlags};

/// A sealed, executable memfd holding a copy of `/proc/self/exe`.
pub fn sealed_self() -> io::Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (6.3+) keeps the memfd executable when vm.memfd_noexec says otherwise; older
    // kernels reject the flag.
    let memfd = match rustix::fs::memfd_create("duckc-init", flags | MemfdFlags::EXEC) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::INVAL) => rustix::fs::memfd_create("duckc-init", flags)?,
        Err(e) => return Err(e.into()),
    };
    let mut src = File::open("/proc/self/exe")?;
    let mut dst = File::from(memfd);
    io::copy(&mut src, &mut dst)?;
    let memfd = OwnedFd::from(dst);
    rustix::fs::fcntl_add_seals(
        memfd.as_fd(),
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(memfd)
}
