//! `--init`: the container's init stays behind as pid 1 while the command runs as its child,
//! as Docker's `tini` does. It passes signals on to the command (a pid 1 with no handler
//! ignores `SIGTERM` and `SIGINT`, so `sleep` would not stop on Ctrl-C or `duckc stop`),
//! reaps every orphan the kernel gives it, and exits with the command's status.
//!
//! The reaper keeps nothing the command lacks: it drops every capability, sets
//! `no_new_privs` and installs the container's seccomp filter before it waits, so a process
//! of the container that could trace it gains nothing.

use std::os::fd::RawFd;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{Context, Error, Result};
use crate::kernel::Kernel;
use crate::seccomp::Filter;

static CHILD: AtomicI32 = AtomicI32::new(0);

/// Signals the kernel raises for the reaper's own faults, or for terminal access: not
/// passed on (tini makes the same choice).
const NOT_FORWARDED: &[i32] = &[
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGCHLD,
    libc::SIGFPE,
    libc::SIGILL,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGABRT,
    libc::SIGTRAP,
    libc::SIGSYS,
    libc::SIGTTIN,
    libc::SIGTTOU,
];

extern "C" fn forward(sig: libc::c_int) {
    let pid = CHILD.load(Ordering::Relaxed);
    // kill(2) straight from rustix: async-signal-safe, as a signal handler needs.
    if let (Some(pid), Some(sig)) = (
        rustix::process::Pid::from_raw(pid),
        rustix::process::Signal::from_named_raw(sig),
    ) {
        let _ = rustix::process::kill_process(pid, sig);
    }
}

fn forwarded() -> impl Iterator<Item = i32> {
    (1..32).filter(|s| !NOT_FORWARDED.contains(s))
}

/// Fork the command's process off and, in this process, become the reaper (never returns
/// there). Returns in the child, which goes on to start the command. `keep_out` are the
/// descriptors only the command's process may hold (the error pipe, the console socket): the
/// reaper closes its copies so duckc sees them close at the command's `execve`.
pub fn fork_reaper(k: &dyn Kernel, seccomp: Option<&Filter>, keep_out: &[RawFd]) -> Result<()> {
    // Signals sent between the fork and the handlers stay pending instead of being dropped
    // (the kernel drops a signal with no handler sent to a pid 1, unless it is blocked).
    // SAFETY: sigset manipulation on a local value; sigprocmask on this single thread.
    let old = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in forwarded() {
            libc::sigaddset(&mut set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, &mut old);
        old
    };
    // SAFETY: the init is single-threaded.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::Kernel {
            what: "cannot fork the command under the init".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    if child == 0 {
        // SAFETY: restoring the mask saved above.
        unsafe { libc::sigprocmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
        return Ok(());
    }
    for fd in keep_out {
        k.close(*fd);
    }
    CHILD.store(child, Ordering::Relaxed);
    let code = match reap(k, seccomp, child, &old) {
        Ok(code) => code,
        Err(e) => {
            // Without its reaper the command cannot stay: the kernel kills the namespace.
            eprintln!("duckc-init: {e}");
            125
        }
    };
    // SAFETY: leaving the reaper; nothing of this process is left to clean up.
    unsafe { libc::_exit(code) }
}

fn reap(k: &dyn Kernel, seccomp: Option<&Filter>, child: i32, old: &libc::sigset_t) -> Result<i32> {
    k.drop_bounding(0)
        .what(|| "cannot drop the reaper's bounding set".into())?;
    k.capset(0, 0, 0)
        .what(|| "cannot drop the reaper's capabilities".into())?;
    k.clear_ambient()
        .what(|| "cannot clear the reaper's ambient capabilities".into())?;
    k.set_no_new_privs()
        .what(|| "cannot set no_new_privs for the reaper".into())?;
    if let Some(filter) = seccomp {
        k.seccomp_filter(&filter.bpf, filter.flags)
            .what(|| "cannot install the seccomp filter on the reaper".into())?;
    }
    // SAFETY: `forward` only calls kill; restoring the saved mask then lets pending signals in.
    unsafe {
        for sig in forwarded() {
            libc::signal(sig, forward as *const () as libc::sighandler_t);
        }
        libc::sigprocmask(libc::SIG_SETMASK, old, std::ptr::null_mut());
    }
    loop {
        match rustix::process::wait(rustix::process::WaitOptions::empty()) {
            Ok(Some((pid, status))) if pid.as_raw_pid() == child => {
                return Ok(match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(sig)) => 128 + sig,
                    (None, None) => 1,
                });
            }
            Err(rustix::io::Errno::CHILD) => return Ok(1),
            // Another orphan reaped, or EINTR from a forwarded signal: wait on.
            _ => {}
        }
    }
}
