//! The monitor of a detached container (`run -d`, `start` without `-a`): a process left
//! behind, detached from the caller (new session, stdio on `/dev/null`), that starts the
//! container with its output going to the log, tells the caller whether it started, serves
//! `duckc attach` clients ([`super::attach`]) while it waits, and records the exit.
//!
//! The caller and its monitor are the same binary, forked: the monitor runs this module's
//! code, not the caller's. It sends one [`Report`] as JSON through a close-on-exec pipe and
//! closes it; an end of the pipe with no report means the monitor died before the container
//! started.

use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Config, Dir, Error, Result, State, attach, lifecycle};
use crate::error::Context;
use crate::process::{Io, Stdio};

/// What the monitor tells the process that started it, once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", tag = "report")]
pub enum Report {
    /// The container's command runs.
    Started,
    /// It could not start: Docker's exit code for that (125, 126, 127) and the runtime's
    /// message.
    Failed { code: u8, message: String },
}

/// Start the container under a new monitor; returns what the monitor reported. The caller
/// must be single-threaded (the monitor is forked and goes on running Rust code).
pub(super) fn start(store_root: &Path, dir: &Dir, config: &Config) -> Result<Report> {
    let text = spawn(|report| run(store_root, dir, config, report))?;
    serde_json::from_slice(&text).map_err(|_| Error::MonitorGone)
}

/// Run `monitor` in a new session, detached from the caller (double fork, stdio on
/// `/dev/null`), and return what it writes to the `File` it is given before closing it.
fn spawn(monitor: impl FnOnce(std::fs::File) -> i32) -> Result<Vec<u8>> {
    let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .what(|| "cannot create a pipe".into())?;
    // SAFETY: the caller is single-threaded; the children go on running ordinary Rust code.
    let first = unsafe { libc::fork() };
    if first < 0 {
        return Err(crate::Error::Kernel {
            what: "cannot fork".into(),
            source: std::io::Error::last_os_error(),
        }
        .into());
    }
    if first == 0 {
        // SAFETY: as above; setsid detaches from the caller's terminal and process group.
        unsafe {
            libc::setsid();
            if libc::fork() != 0 {
                libc::_exit(0);
            }
        }
        drop(read);
        if let Ok(null) = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
        {
            for fd in 0..3 {
                // SAFETY: dup2 onto the standard descriptors.
                unsafe { libc::dup2(null.as_raw_fd(), fd) };
            }
        }
        let code = monitor(std::fs::File::from(write));
        // SAFETY: leave without running the caller's destructors or atexit handlers twice.
        unsafe { libc::_exit(code) };
    }
    drop(write);
    let _ = crate::process::wait_code(first);
    let mut out = Vec::new();
    let _ = std::fs::File::from(read).read_to_end(&mut out);
    Ok(out)
}

fn send(report: &mut std::fs::File, r: &Report) {
    if let Ok(text) = serde_json::to_vec(r) {
        let _ = report.write_all(&text);
    }
}

/// The monitor's body: start the container with its output going to the log, report, wait,
/// record the exit, clean up. Returns the monitor's own exit code.
fn run(store_root: &Path, dir: &Dir, config: &Config, mut report: std::fs::File) -> i32 {
    let mut log = match dir.open_log() {
        Ok(l) => l,
        Err(e) => {
            let failed = Report::Failed {
                code: 125,
                message: format!("cannot open the container log: {e}"),
            };
            remove_if_auto(store_root, dir, config);
            send(&mut report, &failed);
            return 1;
        }
    };
    let out = |l: &std::fs::File| {
        l.try_clone()
            .map(|f| Stdio::Fd(f.into()))
            .unwrap_or(Stdio::Null)
    };
    // `-i` without a terminal: a pipe nobody writes to keeps stdin open, as Docker's `-di` does.
    let mut keep_stdin = None;
    let stdin = if config.interactive && !config.spec.process.terminal {
        match std::io::pipe() {
            Ok((r, w)) => {
                keep_stdin = Some(w);
                Stdio::Fd(r.into())
            }
            Err(_) => Stdio::Null,
        }
    } else {
        Stdio::Null
    };
    let io = Io {
        stdin,
        stdout: out(&log),
        stderr: out(&log),
    };
    let mut record = |pid| {
        let _ = dir.write_state(&State::running(pid));
    };
    let child = match crate::process::spawn_with(&config.spec, io, &mut record) {
        Ok(c) => c,
        Err(e) => {
            let code = lifecycle::start_code(&e);
            dir.record_exit(i32::from(code));
            // What the start had taken (its cgroup, its network lease) goes before the caller
            // hears why. `--rm`: a container that never started goes too (Docker removes it
            // as well); the caller finds nothing left once `run` returns.
            if config.auto_remove {
                remove_if_auto(store_root, dir, config);
            } else {
                lifecycle::release(config);
            }
            let failed = Report::Failed {
                code,
                message: e.to_string(),
            };
            send(&mut report, &failed);
            return 1;
        }
    };
    send(&mut report, &Report::Started);
    drop(report);
    lifecycle::poststart(config, child.pid);
    // Serves `duckc attach` clients while it waits (and copies a terminal's output to the log).
    let code = attach::serve(dir, &child, &mut log, keep_stdin.take());
    // The exit is recorded first: until it is, a reader of the state sees a running container
    // whose init is gone, which it reports as Docker's "unknown" 255 (`wait` would print that
    // while the network is still being torn down).
    dir.record_exit(code);
    lifecycle::ended(config);
    remove_if_auto(store_root, dir, config);
    0
}

/// Delete a `--rm` container (its directory, cgroup, network lease and gc root).
fn remove_if_auto(store_root: &Path, dir: &Dir, config: &Config) {
    if config.auto_remove
        && let Ok(store) = duckc_store::Store::open(store_root)
    {
        lifecycle::remove(&store, dir, config);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_are_json() {
        let failed = Report::Failed {
            code: 127,
            message: "`nope`: executable file not found in $PATH".into(),
        };
        let text = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            text,
            r#"{"report":"failed","code":127,"message":"`nope`: executable file not found in $PATH"}"#
        );
        assert_eq!(serde_json::from_str::<Report>(&text).unwrap(), failed);
        assert_eq!(
            serde_json::to_string(&Report::Started).unwrap(),
            r#"{"report":"started"}"#
        );
        // A monitor that died before reporting leaves an empty pipe: not a report.
        assert!(serde_json::from_slice::<Report>(b"").is_err());
    }
}
