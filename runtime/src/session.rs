//! The container process's session and session keyring: always new ones, so it holds neither
//! the caller's controlling terminal nor the caller's keys.
//!
//! Without a new session, a container process started from a shell is in the shell's session
//! and process group: it can push input into the caller's terminal (`TIOCSTI`), take part in
//! its job control, and `kill(0, …)` reaches the caller's process group. Without a new session
//! keyring it can search and read every key the caller's login session holds (the kernel
//! scopes session keyrings by process, not by namespace). runc does both in its init
//! (`setsid`, `KEYCTL_JOIN_SESSION_KEYRING`); so does this module, for `run`, `start` and
//! every `exec`'d process, before anything from the image runs.

use std::io;
use std::os::fd::RawFd;

use crate::error::{Context, Result};

/// `keyctl(2)` operation: replace the session keyring with a new (here anonymous) one.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Make this process the leader of a new session and process group. With `terminal` (the
/// slave side of the container's own pty, already on fds 0 to 2), take it as the session's
/// controlling terminal; without, the session has none, so `/dev/tty` cannot be opened and no
/// job-control or `TIOCSTI` request reaches the caller's terminal.
pub fn enter_new_session(terminal: Option<RawFd>) -> Result<()> {
    rustix::process::setsid()
        .map_err(io::Error::from)
        .what(|| "cannot start a new session".into())?;
    if let Some(fd) = terminal {
        // SAFETY: ioctl with an integer argument on a descriptor we hold.
        if unsafe { libc::ioctl(fd, libc::TIOCSCTTY, 0) } == -1 {
            return Err(io::Error::last_os_error())
                .what(|| "cannot make the container's terminal its controlling terminal".into());
        }
    }
    Ok(())
}

/// Join a new anonymous session keyring, dropping the caller's.
///
/// `ENOSYS` (a kernel without keys) leaves nothing to protect. `EPERM` comes from a seccomp
/// filter this process already runs under (duckc itself in a container): that filter is
/// inherited by everything the container runs, so it cannot use `keyctl` either and the old
/// keyring stays out of reach. Every other error stops the start (failing closed).
pub fn join_fresh_keyring() -> Result<()> {
    // SAFETY: keyctl with a NULL name: the kernel creates an anonymous keyring.
    let r = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_JOIN_SESSION_KEYRING,
            std::ptr::null::<libc::c_char>(),
        )
    };
    if r == -1 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOSYS | libc::EPERM) => Ok(()),
            _ => Err(e).what(|| "cannot give the container a session keyring of its own".into()),
        };
    }
    Ok(())
}
