//! Creating, starting, stopping, renaming and deleting containers: every change to a
//! container's directory, its cgroup, its network lease and its image's gc root.
//!
//! The order of each change keeps `state.json` truthful for a reader in another process: a
//! container is recorded running before its command can print anything, and its exit is
//! recorded before its cgroup and network are released (until then a reader sees a running
//! container whose init is gone, which [`Dir::read_state`] reports as Docker's "unknown" 255).

use std::time::{Duration, Instant};

use duckc_store::{Digest, Store};

use super::{Config, Dir, Error, Result, State, Status, alive, check_free, list, monitor};
use crate::process::{Io, Stdio};

/// The gc root that keeps a container's image alive.
fn root_id(id: &str) -> String {
    format!("container-{id}")
}

/// Docker's exit code for a container that could not start: 125 when duckc failed, 126 when
/// the command is not executable, 127 when it is not found.
pub fn start_code(err: &crate::Error) -> u8 {
    match err {
        crate::Error::Start { code, .. } => *code,
        _ => 125,
    }
}

/// Record a new container made in `dir`: a gc root for its `image`, then `config.json` and a
/// `created` state. The caller holds a store lease from resolving the image until this
/// returns. `volatile` writes the root without fsync, for a container that cannot outlive
/// this process (a foreground `--rm` one): nothing on its start path waits for the disk.
pub fn create(
    store: &Store,
    dir: &Dir,
    config: &Config,
    image: &Digest,
    volatile: bool,
) -> Result<()> {
    let digests = std::slice::from_ref(image);
    if volatile {
        store.add_volatile_root(&root_id(&config.id), digests)
    } else {
        store.add_root(&root_id(&config.id), digests)
    }
    .map_err(Error::Root)?;
    dir.write_config(config).map_err(Error::Record)?;
    dir.write_state(&State::created()).map_err(Error::Record)
}

/// Run the container attached to the caller's streams (stdin only with `stdin`) and wait for
/// it; returns its exit code. Its output goes to the log too, so `logs` shows what a
/// foreground run printed (not for `--rm`, whose container is gone when it ends).
pub fn run_attached(store: &Store, dir: &Dir, config: &Config, stdin: bool) -> Result<i32> {
    let io = Io {
        stdin: if stdin { Stdio::Inherit } else { Stdio::Null },
        stdout: Stdio::Inherit,
        stderr: Stdio::Inherit,
    };
    // Signals that arrive while the container starts are passed on once it runs.
    crate::process::hold_signals();
    // A foreground `--rm` container's state goes with it: nothing of it needs the disk.
    let mut record = |pid| {
        let _ = if config.auto_remove {
            dir.write_state_unsynced(&State::running(pid))
        } else {
            dir.write_state(&State::running(pid))
        };
    };
    let mut child = match crate::process::spawn_with(&config.spec, io, &mut record) {
        Ok(c) => c,
        Err(e) => {
            dir.record_exit(i32::from(start_code(&e)));
            if config.auto_remove {
                remove(store, dir, config);
            } else {
                release(config);
            }
            return Err(Error::Start(e));
        }
    };
    poststart(config, child.pid);
    let log = if config.auto_remove {
        None
    } else {
        dir.open_log().ok()
    };
    let code = crate::process::attach_logging(
        &mut child,
        stdin,
        log.as_ref().map(std::os::fd::AsRawFd::as_raw_fd),
    );
    // Recorded before the clean-up, as the monitor does.
    if let (Ok(code), false) = (&code, config.auto_remove) {
        dir.record_exit(*code);
    }
    ended(config);
    let code = code.map_err(Error::Attach)?;
    if config.auto_remove {
        remove(store, dir, config);
    }
    Ok(code)
}

/// Start the container under a detached monitor that waits for it and records its exit;
/// returns once the command runs, or with why it could not start.
pub fn start_detached(store: &Store, dir: &Dir, config: &Config) -> Result<()> {
    match monitor::start(store.root(), dir, config)? {
        monitor::Report::Started => Ok(()),
        monitor::Report::Failed { code, message } => Err(Error::Detached { code, message }),
    }
}

/// The end of a container's run, in the process that waited for it (the caller of
/// [`run_attached`], or the monitor): its cgroup goes, its `poststop` hooks run, its network
/// lease goes.
pub(super) fn ended(config: &Config) {
    release_cgroup(config);
    poststop(config);
    release_network(&config.id);
}

/// What a container that no longer runs still holds on the host: its cgroup (with anything
/// left in it) and its addresses and ports. Also after a start that failed (the exit recorded
/// first): whatever the start had taken goes at once, as `--rm` removes it, rather than being
/// left to the next sweep.
pub(super) fn release(config: &Config) {
    release_cgroup(config);
    release_network(&config.id);
}

fn release_cgroup(config: &Config) {
    if !config.spec.resources.cgroup.is_empty() {
        let _ = crate::cgroup::remove_container(&config.spec.resources.cgroup);
    }
}

fn release_network(id: &str) {
    if crate::process::is_rootless() {
        crate::net::slirp::release(id);
    } else {
        let _ = crate::net::release(id);
    }
}

/// Wait until the container's init is gone, for at most `limit` (`Duration::MAX`: no limit).
fn wait_gone(state: &State, limit: Duration) -> bool {
    let deadline = Instant::now().checked_add(limit);
    while alive(state.pid, state.pid_start) {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// After the init is gone, give its monitor a moment to record the exit; record it here when
/// nobody does (the monitor was killed too).
fn settle(dir: &Dir, code: i32) {
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        if dir.recorded_stopped() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    dir.record_exit(code);
}

/// Stop a running container: `signal` (its stop signal) to its init, SIGKILL after `grace`
/// (`None`: wait as long as it takes); its exit is recorded and what it held released. A
/// container that does not run is left as it is.
pub fn stop(dir: &Dir, config: &Config, state: &State, signal: i32, grace: Option<Duration>) {
    let (Status::Running, Some(pid)) = (state.status, state.pid) else {
        return;
    };
    let _ = crate::process::kill(pid, signal);
    let code = if wait_gone(state, grace.unwrap_or(Duration::MAX)) {
        128 + signal
    } else {
        let _ = crate::process::kill(pid, libc::SIGKILL);
        wait_gone(state, Duration::from_secs(10));
        137
    };
    settle(dir, code);
    // Anything still in the container's cgroup and on its network goes too.
    release(config);
}

/// Send `signal` to a running container's init. After SIGKILL the container is gone: its
/// exit is recorded and what it held released.
pub fn kill(dir: &Dir, config: &Config, state: &State, signal: i32) -> Result<()> {
    let Some(pid) = state.pid.filter(|_| state.status == Status::Running) else {
        return Err(Error::NotRunning);
    };
    crate::process::kill(pid, signal).map_err(Error::Signal)?;
    if signal == libc::SIGKILL {
        wait_gone(state, Duration::from_secs(10));
        settle(dir, 137);
        release(config);
    }
    Ok(())
}

/// Delete a container, killing it first when it runs (`rm -f`; the caller decides whether a
/// running container may be removed).
pub fn delete(store: &Store, dir: &Dir, config: &Config, state: &State) {
    if let (Status::Running, Some(pid)) = (state.status, state.pid) {
        let _ = crate::process::kill(pid, libc::SIGKILL);
        wait_gone(state, Duration::from_secs(10));
        settle(dir, 137);
    }
    remove(store, dir, config);
}

/// Delete a container's directory, its cgroup, its network lease and its gc root.
pub(super) fn remove(store: &Store, dir: &Dir, config: &Config) {
    release(config);
    if !dir.recycle() && std::fs::remove_dir_all(&dir.0).is_err() {
        // overlayfs leaves `work/work` with mode 000: make everything writable and retry.
        make_writable(&dir.0);
        // Rootless `rm` runs outside duckc's user namespace (to signal the container): files
        // that subordinate ids own there are removed from inside it.
        let _ = crate::userns::remove_tree(&dir.0);
    }
    let _ = store.remove_root(&root_id(&config.id));
}

fn make_writable(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return;
    };
    if meta.is_dir() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700));
        for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
            make_writable(&entry.path());
        }
    }
}

/// Remove every container that is not running; returns their ids and the bytes freed.
pub fn remove_stopped(store: &Store) -> (Vec<String>, u64) {
    let mut ids = Vec::new();
    let mut bytes = 0;
    for (dir, config) in list(store) {
        let Ok(state) = dir.read_state() else {
            continue;
        };
        if state.status == Status::Running {
            continue;
        }
        bytes += du(&dir.0);
        remove(store, &dir, &config);
        ids.push(config.id);
    }
    (ids, bytes)
}

/// Bytes in the files under `path` (not following links).
fn du(path: &std::path::Path) -> u64 {
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !meta.is_dir() {
        return meta.len();
    }
    std::fs::read_dir(path)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| du(&e.path()))
        .sum()
}

/// Give the container in `dir` the name `new_name` (a leading `/` dropped, as Docker does).
pub fn rename(store: &Store, dir: &Dir, config: &mut Config, new_name: &str) -> Result<()> {
    let new_name = new_name.trim_start_matches('/');
    if !super::valid_name(new_name) {
        return Err(Error::InvalidName(new_name.to_owned()));
    }
    if config.name == new_name {
        return Err(Error::SameName(new_name.to_owned()));
    }
    check_free(&list(store), new_name)?;
    config.name = new_name.to_owned();
    dir.write_config(config).map_err(Error::Record)
}

/// Block until the container does not run, then return its exit code (Docker's `wait`: a
/// container that never ran counts as stopped with code 0).
pub fn wait(dir: &Dir) -> std::io::Result<i32> {
    loop {
        let state = dir.read_state()?;
        if state.status != Status::Running {
            return Ok(state.exit_code.unwrap_or(0));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Run the container's `poststart` hooks (a failure is a warning, as the OCI spec says).
pub(super) fn poststart(config: &Config, pid: i32) {
    run_host_hooks(config, crate::hooks::Stage::Poststart, "running", pid);
}

/// Run the container's `poststop` hooks once it is gone.
fn poststop(config: &Config) {
    run_host_hooks(config, crate::hooks::Stage::Poststop, "stopped", 0);
}

fn run_host_hooks(config: &Config, stage: crate::hooks::Stage, status: &'static str, pid: i32) {
    let hooks = &config.spec.launch.hooks;
    if !hooks.iter().any(|h| h.stage == stage) {
        return;
    }
    let state = crate::hooks::State {
        oci_version: crate::hooks::OCI_VERSION,
        id: &config.id,
        status,
        pid,
        bundle: &config.spec.rootfs.mountpoint,
    };
    if let Err(e) = crate::hooks::run(hooks, stage, &state) {
        eprintln!("duckc: warning: {e}");
    }
}
