//! The container init: the first code that runs inside the new namespaces.
//!
//! It runs in one of two ways (see [`crate::exe`] for why both avoid the host's binary):
//!
//! - **in the clone** (`run_cloned`): a plain [`Create`](InitConfig::Create) runs in the
//!   cloned child itself, on the parent's already-mapped image and its configuration in
//!   memory, and ends by exec'ing `duckc-exec`, which execs the command. This saves loading
//!   and relocating the big binary a second time. It needs a single-threaded caller (the
//!   child of a raw `clone` of a threaded process could find a lock held forever) and is only
//!   taken where nothing of the container can run while the init still runs the host's
//!   binary: no `--init` (whose reaper stays pid 1) and no OCI hooks run by the init
//!   (`startContainer` runs a program of the image);
//! - **re-executed**: otherwise the child re-executes the sealed copy of the runtime's own
//!   binary as `duckc-init <config-fd> <error-fd>`. The binary's `main` calls
//!   [`main_if_init`] first, which recognises that name and runs `Create` (build the root and
//!   exec the command) or [`Join`](InitConfig::Join) (`setns` into a running container, fork,
//!   exec: `duckc exec`).
//!
//! Errors before the final `execve` are written to the error pipe, whose write end is
//! close-on-exec, as typed messages ([`crate::start`]): the parent reads it to the end, and an
//! empty read means the command started.

use std::ffi::{CString, OsString};
use std::io::{Read, Write};
use std::os::fd::{AsFd, FromRawFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::caps;
use crate::error::{Context, Error, Result};
use crate::hooks::{self, Stage};
use crate::kernel::{FileKind, Kernel, Linux, Namespace, Resolve};
use crate::rootfs::{self, Setup};
use crate::seccomp::Filter;
use crate::spec::{ContainerSpec, Process};
use crate::user::{self, Identity};

/// `argv[0]` of a container init.
pub const INIT_NAME: &str = "duckc-init";

/// What the init is asked to do, sent as JSON through a memfd.
// Made once per start and sent as JSON: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Serialize, Deserialize)]
pub enum InitConfig {
    /// Set up the container's root and run its process: `run`, `start`.
    Create {
        spec: ContainerSpec,
        /// Running in a new user namespace (the caller is root there, and its subordinate ids,
        /// if any, are the other ids: see `crate::userns`).
        rootless: bool,
        /// With `-t`: the socket to send the new terminal's master side to.
        console_socket: Option<RawFd>,
        /// The seccomp filter, compiled by the parent; `None` when unconfined.
        #[serde(default)]
        seccomp: Option<Filter>,
        /// The generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, rendered by
        /// the parent from the host's files.
        #[serde(default)]
        etc: crate::etc::EtcFiles,
        /// A socket to read one byte from once the runtime has put this process in its cgroup
        /// (on cgroup v2; on v1 the process moved itself in first thing) and made its veth
        /// pair: the root is set up meanwhile (moving a process between cgroups from outside
        /// waits for an RCU grace period, ~10 ms; a veth pair takes 1–2 ms, far more on a
        /// loaded host), and nothing of the image runs before the byte arrives.
        #[serde(default)]
        ready_wait: Option<RawFd>,
        /// The container's `eth0` to configure ([`crate::net::inside`]), once the runtime
        /// has made it: after the go pipe or the ready byte.
        #[serde(default)]
        net: Option<crate::net::Inside>,
    },
    /// Join the namespaces of the running container whose init is `pid`: `exec`.
    Join {
        pid: i32,
        process: Process,
        hostname: String,
        rootless: bool,
        /// With `-t`: the socket to send the new terminal's master side to.
        console_socket: Option<RawFd>,
        /// The container's seccomp filter; `None` when unconfined.
        #[serde(default)]
        seccomp: Option<Filter>,
    },
}

/// Run the container init when this process was started as one; `None` otherwise. The binary
/// that bundles the runtime calls this first thing in `main`.
pub fn main_if_init() -> Option<std::process::ExitCode> {
    let mut args = std::env::args_os();
    if args.next().as_deref() != Some(std::ffi::OsStr::new(INIT_NAME)) {
        return None;
    }
    let fds: Vec<RawFd> = args.filter_map(|a| a.to_str()?.parse().ok()).collect();
    let [config_fd, error_fd] = fds[..] else {
        eprintln!("duckc-init: expected <config-fd> <error-fd>");
        return Some(std::process::ExitCode::from(125));
    };
    // Only returns on failure: success ends in execve (or, for Join, in exit below).
    let code = match read_config(config_fd).and_then(|c| init(c, error_fd, Final::Direct)) {
        Ok(code) => code,
        Err(e) => report(e, error_fd),
    };
    Some(std::process::ExitCode::from(code))
}

/// Whether the init of `spec` may run in the cloned child itself ([`run_cloned`]) as far as
/// the container goes: no `--init` reaper and no hook run by the init. The caller must also
/// be single-threaded.
pub(crate) fn runs_in_clone(spec: &ContainerSpec) -> bool {
    !spec.launch.init
        && !spec.launch.hooks.iter().any(|h| {
            matches!(
                h.stage,
                Stage::CreateRuntime | Stage::CreateContainer | Stage::StartContainer
            )
        })
}

/// The init, run in the child of the runtime's `clone` without an `exec` (see the module's
/// documentation): `config` is the parent's, `stub` a sealed `duckc-exec`. Never returns.
pub(crate) fn run_cloned(config: InitConfig, error_fd: RawFd, stub: RawFd) -> ! {
    let run = std::panic::AssertUnwindSafe(|| {
        // This process runs the host's binary until it execs the stub: nothing without
        // CAP_SYS_PTRACE over the host's user namespace may open its `/proc/<pid>/exe` (a
        // `duckc exec` racing the start). The exec resets the flag.
        // SAFETY: prctl with integer arguments.
        unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        init(config, error_fd, Final::Stub { stub, error_fd })
    });
    let code = match std::panic::catch_unwind(run) {
        Ok(Ok(code)) => code,
        Ok(Err(e)) => report(e, error_fd),
        // The panic message went to the container's stderr.
        Err(_) => report(Error::Config("the init panicked".into()), error_fd),
    };
    // SAFETY: leaving the child without running anything of the parent's (destructors,
    // atexit handlers, buffered output).
    unsafe { libc::_exit(i32::from(code)) }
}

/// Write `e` to the error pipe as a typed message ([`crate::start`]) and give the exit code:
/// 127 not found, 126 not executable, 125 anything else (as `docker run`).
fn report(e: Error, error_fd: RawFd) -> u8 {
    let (message, code) = crate::start::encode(&e);
    // SAFETY: the parent gave us this descriptor; it is ours to write and close.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(error_fd) };
    let _ = pipe.write_all(&message);
    code
}

/// How the init execs the container's command.
#[derive(Clone, Copy, Debug)]
enum Final {
    /// `execve` itself: it runs from a sealed copy of the binary.
    Direct,
    /// Through `duckc-exec` (the descriptor `stub`), which marks `error_fd` close-on-exec and
    /// reports its own `execve` failure there.
    Stub { stub: RawFd, error_fd: RawFd },
}

fn read_config(config_fd: RawFd) -> Result<InitConfig> {
    // SAFETY: the parent passed this descriptor for us to read and close.
    let mut file = unsafe { std::fs::File::from_raw_fd(config_fd) };
    let mut text = String::new();
    file.read_to_string(&mut text)
        .what(|| "cannot read the init configuration".into())?;
    drop(file);
    serde_json::from_str(&text).map_err(|e| Error::Config(e.to_string()))
}

fn init(config: InitConfig, error_fd: RawFd, last: Final) -> Result<u8> {
    reset_signals();
    let stub = match last {
        Final::Stub { stub, .. } => Some(stub),
        Final::Direct => None,
    };
    let (socket, ready_wait) = match &config {
        InitConfig::Create {
            console_socket,
            ready_wait,
            ..
        } => (*console_socket, *ready_wait),
        InitConfig::Join { console_socket, .. } => (*console_socket, None),
    };
    close_other_fds(
        &[Some(error_fd), socket, ready_wait, stub]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>(),
    );
    let k = Linux;
    match config {
        InitConfig::Create {
            spec,
            rootless,
            console_socket,
            seccomp,
            etc,
            ready_wait,
            net,
        } => {
            let mut ready_wait = ready_wait;
            let hooks = &spec.launch.hooks;
            let bundle = spec.rootfs.mountpoint.join(BUNDLE);
            rootfs::setup_then(
                &k,
                &spec,
                &Setup {
                    rootless,
                    etc: Some(etc),
                },
                &mut |root| {
                    crate::ipc::setup(&k, root, &spec.launch.ipc)?;
                    if hooks
                        .iter()
                        .any(|h| matches!(h.stage, Stage::CreateRuntime | Stage::CreateContainer))
                    {
                        // Hooks run in the container's cgroup, like everything it starts.
                        if let Some(fd) = ready_wait.take() {
                            wait_until_ready(fd)?;
                        }
                        write_bundle(&bundle, root, &spec)?;
                        let state = hook_state(&spec, &bundle, "creating");
                        hooks::run(hooks, Stage::CreateRuntime, &state)?;
                        hooks::run(hooks, Stage::CreateContainer, &state)?;
                    }
                    Ok(())
                },
            )?;
            set_ulimits(&spec.resources.ulimits)?;
            if let Some(fd) = ready_wait {
                wait_until_ready(fd)?;
            }
            if let Some(net) = &net {
                crate::net::inside::configure(net).what(|| "cannot configure eth0".into())?;
            }
            hooks::run(
                hooks,
                Stage::StartContainer,
                &hook_state(&spec, &bundle, "created"),
            )?;
            if spec.launch.init {
                let keep_out: Vec<RawFd> = [Some(error_fd), console_socket]
                    .into_iter()
                    .flatten()
                    .collect();
                crate::reaper::fork_reaper(&k, seccomp.as_ref(), &keep_out)?;
            }
            let console = console_socket.map(|s| (s, true));
            let seccomp = seccomp.as_ref();
            start(
                &k,
                &spec.process,
                &spec.launch.group_add,
                &spec.hostname,
                rootless,
                console,
                seccomp,
                last,
            )
        }
        InitConfig::Join {
            pid,
            process,
            hostname,
            rootless,
            console_socket,
            seccomp,
        } => join(
            &k,
            pid,
            &process,
            &hostname,
            rootless,
            error_fd,
            console_socket,
            seccomp.as_ref(),
        ),
    }
}

/// The directory on the container's private tmpfs given to hooks as the OCI bundle: it
/// holds a `config.json` whose `root.path` is the container's root, which is what hooks
/// such as `nvidia-cdi-hook` read to find it.
const BUNDLE: &str = "bundle";

fn write_bundle(bundle: &Path, root: &Path, spec: &ContainerSpec) -> Result<()> {
    std::fs::create_dir_all(bundle).what(|| format!("cannot create `{}`", bundle.display()))?;
    let config = serde_json::json!({
        "ociVersion": hooks::OCI_VERSION,
        "root": { "path": root },
        "process": { "args": spec.process.args, "env": spec.process.env, "cwd": spec.process.cwd },
        "hostname": spec.hostname,
    });
    let path = bundle.join("config.json");
    std::fs::write(&path, config.to_string()).what(|| format!("cannot write `{}`", path.display()))
}

/// The OCI state for hooks the init runs: its own pid as the host sees it.
fn hook_state<'a>(
    spec: &'a ContainerSpec,
    bundle: &'a Path,
    status: &'static str,
) -> hooks::State<'a> {
    // Before `pivot_root` this is still the host's /proc, which gives the host's pid; after
    // it, the container's, which gives the pid inside (as for a hook runc runs there).
    let pid = std::fs::read_link("/proc/self")
        .ok()
        .and_then(|p| p.to_str()?.parse().ok())
        .unwrap_or(0);
    hooks::State {
        oci_version: hooks::OCI_VERSION,
        id: &spec.resources.cgroup,
        status,
        pid,
        bundle,
    }
}

/// Block until the runtime says this process is in its cgroup and has its network (one byte
/// on `fd`).
fn wait_until_ready(fd: RawFd) -> Result<()> {
    // SAFETY: the parent passed this descriptor for us to read and close.
    let mut pipe = unsafe { std::fs::File::from_raw_fd(fd) };
    let mut byte = [0u8; 1];
    match pipe.read(&mut byte) {
        Ok(1) => Ok(()),
        _ => Err(Error::Config(
            "the runtime did not finish the container's cgroup and network".into(),
        )),
    }
}

/// Undo what the runtime's own process had: blocked signals (the parent blocks them to read
/// them from a signalfd) and ignored ones (Rust ignores `SIGPIPE`), both inherited over exec,
/// and, for the init in the clone, the parent's handlers. Dispositions first: a signal
/// pending since the clone must not run a handler of the parent's when it is unblocked.
fn reset_signals() {
    // SAFETY: plain signal-mask and disposition calls with valid arguments.
    unsafe {
        for sig in 1..32 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::signal(sig, libc::SIG_DFL);
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// Close every descriptor above stdio except the error pipe, which is made close-on-exec:
/// nothing the calling shell leaked reaches the container (CVE-2024-21626).
fn close_other_fds(keep: &[RawFd]) {
    let mut keep: Vec<RawFd> = keep.iter().copied().filter(|fd| *fd >= 3).collect();
    keep.sort_unstable();
    let mut from = 3;
    for fd in keep {
        // SAFETY: close_range and fcntl with integer arguments.
        unsafe {
            if fd > from {
                libc::syscall(libc::SYS_close_range, from as u32, (fd - 1) as u32, 0u32);
            }
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
        from = fd + 1;
    }
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_close_range, from as u32, u32::MAX, 0u32) };
}

/// Everything after the root is in place: terminal, user, working directory, capabilities,
/// environment, seccomp, then `execve`. Only returns on error.
// One argument per part of the process the init sets up.
#[allow(clippy::too_many_arguments)]
fn start(
    k: &dyn Kernel,
    process: &Process,
    group_add: &[String],
    hostname: &str,
    rootless: bool,
    console: Option<(RawFd, bool)>,
    seccomp: Option<&Filter>,
    last: Final,
) -> Result<u8> {
    // Always a new session (no controlling terminal but the container's own pty) and a fresh
    // session keyring, before anything from the image runs (and before a seccomp filter that
    // would refuse `keyctl`): see [`crate::session`].
    let mut terminal = None;
    if let Some((socket, bind_console)) = console {
        let (master, slave) = rootfs::open_console(k, bind_console)?;
        let (master, slave) = (master.into_raw_fd(), slave.into_raw_fd());
        crate::fdpass::send_fd(socket, master)
            .what(|| "cannot hand the terminal to duckc".into())?;
        // duckc sizes the terminal, then answers with one byte: the command never starts on
        // a 0x0 terminal. An end of file (duckc gone) goes on all the same.
        let mut ack = [0u8; 1];
        // SAFETY: reading one byte into a local buffer from a socket we own.
        unsafe { libc::read(socket, ack.as_mut_ptr().cast(), 1) };
        k.close(master);
        k.close(socket);
        // SAFETY: make the terminal our stdio; integer arguments only.
        unsafe {
            for target in 0..3 {
                libc::dup2(slave, target);
            }
            libc::close(slave);
        }
        terminal = Some(0);
    }
    crate::session::enter_new_session(terminal)?;
    crate::session::join_fresh_keyring()?;
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    let group = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let mut id = user::resolve(&process.user, &passwd, &group)?;
    // Rootless, the ids the namespace maps: only root without subordinate ids.
    if rootless && !(crate::userns::mapped(id.uid, true) && crate::userns::mapped(id.gid, false)) {
        return Err(Error::Rootless(process.user.clone()));
    }
    if !group_add.is_empty() {
        if rootless && !crate::userns::setgroups_allowed() {
            return Err(Error::Config(
                "`--group-add` needs root or subordinate group ids: without them the container cannot set supplementary groups".into(),
            ));
        }
        for gid in extra_groups(group_add, &group)? {
            if !id.groups.contains(&gid) {
                id.groups.push(gid);
            }
        }
    }
    enter_workdir(k, &process.cwd)?;
    let env = environment(process, &id, hostname);
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH)
        .to_owned();
    let program = process.args.first().ok_or(Error::NoCommand)?;
    let exe = find_program(program, &path)?;
    caps::become_user(k, &id, rootless && !crate::userns::setgroups_allowed())?;
    if let Final::Stub { error_fd, .. } = last {
        // The stub inherits the error pipe to report its own `execve` failure, and marks it
        // close-on-exec itself.
        // SAFETY: fcntl with integer arguments on a descriptor we hold.
        if unsafe { libc::fcntl(error_fd, libc::F_SETFD, 0) } == -1 {
            return Err(Error::Kernel {
                what: "cannot pass the error pipe to `duckc-exec`".into(),
                source: std::io::Error::last_os_error(),
            });
        }
    }
    // Last, after no_new_privs (which lets an unprivileged process install it) and with
    // nothing left to do but `execve` (which every profile must allow; through the stub, also
    // `execveat`, `fcntl` and, on failure, `write`): the runtime's own set-up never runs under
    // the container's filter.
    if let Some(filter) = seccomp {
        k.seccomp_filter(&filter.bpf, filter.flags)
            .what(|| "cannot install the seccomp filter".into())?;
    }
    match last {
        Final::Direct => exec(&exe, &process.args, &env),
        Final::Stub { stub, error_fd } => exec_stub(stub, error_fd, &exe, &process.args, &env),
    }
}

/// `--group-add` values: numeric ids as they are, names looked up in the image's
/// `/etc/group` (as Docker does, an unknown name is an error).
fn extra_groups(wanted: &[String], group_file: &str) -> Result<Vec<u32>> {
    wanted
        .iter()
        .map(|g| {
            if !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit()) {
                let id = g
                    .parse::<u64>()
                    .map_err(|_| Error::IdOutOfRange(g.clone()))?;
                return user::check_id(id);
            }
            group_file
                .lines()
                .find_map(|line| {
                    let f: Vec<&str> = line.split(':').collect();
                    (f.len() >= 3 && f[0] == g).then(|| f[2].parse::<u64>().ok())?
                })
                .ok_or_else(|| Error::UnknownGroup(g.clone()))
                .and_then(user::check_id)
        })
        .collect()
}

/// Docker's default `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The process environment: the configured one plus `PATH`, `HOSTNAME`, `HOME` and (with a
/// terminal) `TERM` where it does not set them, as Docker does.
pub fn environment(process: &Process, id: &Identity, hostname: &str) -> Vec<String> {
    let mut env = Vec::new();
    let has = |env: &[String], key: &str| {
        env.iter()
            .any(|e| e.split_once('=').is_some_and(|(k, _)| k == key))
    };
    if !has(&process.env, "PATH") {
        env.push(format!("PATH={DEFAULT_PATH}"));
    }
    if !has(&process.env, "HOSTNAME") {
        env.push(format!("HOSTNAME={hostname}"));
    }
    env.extend(process.env.iter().cloned());
    if process.terminal && !has(&env, "TERM") {
        env.push("TERM=xterm".to_owned());
    }
    if !has(&env, "HOME") {
        env.push(format!("HOME={}", id.home));
    }
    env
}

/// `chdir` into the working directory, resolved inside the root with no magic links, so
/// `/proc/self/fd/N` or a symlink out of the root cannot put the process's cwd on the host
/// (CVE-2024-21626); then check the kernel agrees the cwd is inside the root.
fn enter_workdir(k: &dyn Kernel, cwd: &str) -> Result<()> {
    let cwd = if cwd.is_empty() { "/" } else { cwd };
    if !cwd.starts_with('/') {
        return Err(Error::Workdir(
            cwd.to_owned(),
            "it must be an absolute path".into(),
        ));
    }
    let fd = k
        .open_in_root(
            Path::new("/"),
            Path::new(cwd),
            Resolve {
                create: Some(FileKind::Dir),
                no_symlinks: false,
            },
        )
        .map_err(|e| Error::Workdir(cwd.to_owned(), e.to_string()))?;
    let st = k
        .fstat(fd.as_fd())
        .map_err(|e| Error::Workdir(cwd.to_owned(), e.to_string()))?;
    if st.kind != FileKind::Dir {
        return Err(Error::Workdir(cwd.to_owned(), "not a directory".into()));
    }
    k.chdir(&crate::dev::fd_path(&fd))
        .map_err(|e| Error::Workdir(cwd.to_owned(), e.to_string()))?;
    drop(fd);
    match std::env::current_dir() {
        Ok(p) if p.is_absolute() => Ok(()),
        _ => Err(Error::Workdir(
            cwd.to_owned(),
            "it is outside the container's root".into(),
        )),
    }
}

/// Find `program` the way `execvp` would, in the container's `PATH`.
fn find_program(program: &str, path: &str) -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    if program.contains('/') {
        return Ok(PathBuf::from(program));
    }
    path.split(':')
        .filter(|d| !d.is_empty())
        .map(|d| Path::new(d).join(program))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .ok_or_else(|| Error::NotFound(program.to_owned()))
}

fn c_string(s: OsString) -> Result<CString> {
    CString::new(s.into_vec()).map_err(|_| Error::Config("NUL byte in argv or env".into()))
}

/// `strings` as C strings and the NULL-terminated array of pointers to them, which borrows
/// the first.
fn c_array(
    strings: impl Iterator<Item = OsString>,
) -> Result<(Vec<CString>, Vec<*const libc::c_char>)> {
    let owned: Vec<CString> = strings.map(c_string).collect::<Result<_>>()?;
    let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|a| a.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    Ok((owned, ptrs))
}

fn exec(exe: &Path, args: &[String], env: &[String]) -> Result<u8> {
    let exe_c = c_string(exe.as_os_str().to_owned())?;
    let (_argv, argv_p) = c_array(args.iter().map(OsString::from))?;
    let (_envp, envp_p) = c_array(env.iter().map(OsString::from))?;
    // SAFETY: argv and envp are NUL-terminated arrays of valid C strings that outlive the call.
    unsafe { libc::execve(exe_c.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::ENOENT) => Err(Error::NotFound(exe.display().to_string())),
        _ => Err(Error::Exec(exe.display().to_string(), e.to_string())),
    }
}

/// Exec `exe` through `duckc-exec` (`stub`): `duckc-exec ERROR-FD EXE ARGV...`.
fn exec_stub(
    stub: RawFd,
    error_fd: RawFd,
    exe: &Path,
    args: &[String],
    env: &[String],
) -> Result<u8> {
    let head = [
        OsString::from("duckc-exec"),
        OsString::from(error_fd.to_string()),
        exe.as_os_str().to_owned(),
    ];
    let (_argv, argv_p) = c_array(head.into_iter().chain(args.iter().map(OsString::from)))?;
    let (_envp, envp_p) = c_array(env.iter().map(OsString::from))?;
    // SAFETY: argv and envp are NUL-terminated arrays of valid C strings that outlive the
    // call; `stub` is a descriptor we hold.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            stub,
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    // A seccomp profile may allow `execve` but not `execveat`: the same file by its path in
    // the container's own /proc.
    let path = c_string(crate::dev::fd_path(&stub).into_os_string())?;
    // SAFETY: as above.
    unsafe { libc::execve(path.as_ptr(), argv_p.as_ptr(), envp_p.as_ptr()) };
    Err(Error::Kernel {
        what: "cannot execute the runtime's `duckc-exec`".into(),
        source: std::io::Error::last_os_error(),
    })
}

/// `duckc exec`: enter the namespaces of the container whose init is `pid`, fork (a new pid
/// namespace only applies to children), and run `process` in the child while this process
/// waits and passes signals on.
// The arguments are the fields of `InitConfig::Join`, one by one.
#[allow(clippy::too_many_arguments)]
fn join(
    k: &dyn Kernel,
    pid: i32,
    process: &Process,
    hostname: &str,
    rootless: bool,
    error_fd: RawFd,
    console_socket: Option<RawFd>,
    seccomp: Option<&Filter>,
) -> Result<u8> {
    let mut order = vec![];
    if rootless {
        order.push(Namespace::User);
    }
    order.extend([
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Mount,
    ]);
    let mut fds = vec![];
    for ns in &order {
        let path = format!("/proc/{pid}/ns/{}", ns.proc_name());
        let mine = format!("/proc/self/ns/{}", ns.proc_name());
        // Joining a namespace we are already in is an error for user namespaces and a no-op
        // otherwise (`--network host`): skip it.
        if k.lstat(Path::new(&path)).is_ok() && same_file(&path, &mine) {
            continue;
        }
        // Namespace files are magic links: open them plainly, not through `open_in_root`.
        let fd = std::fs::File::open(&path)
            .what(|| format!("cannot open `{path}`: is the container running?"))?;
        fds.push((fd, *ns));
    }
    for (fd, ns) in fds {
        k.setns(fd.as_fd(), ns)
            .what(|| format!("cannot join the container's {} namespace", ns.proc_name()))?;
        drop(fd);
    }
    // SAFETY: this process is single-threaded; the child only runs this function's code.
    let child = unsafe { libc::fork() };
    if child < 0 {
        return Err(Error::Kernel {
            what: "cannot fork".into(),
            source: std::io::Error::last_os_error(),
        });
    }
    if child == 0 {
        return start(
            k,
            process,
            &[],
            hostname,
            rootless,
            console_socket.map(|s| (s, false)),
            seccomp,
            Final::Direct,
        );
    }
    // The child holds the error pipe and the console socket until its execve; our copies must
    // not keep them open.
    k.close(error_fd);
    if let Some(s) = console_socket {
        k.close(s);
    }
    crate::process::forward_signals_to(child);
    let code = crate::process::wait_code(child).what(|| "cannot wait for the process".into())?;
    Ok(code as u8)
}

fn same_file(a: &str, b: &str) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// `--ulimit`: `setrlimit` each one in the init, so the command and everything it starts
/// inherit them. Raising a hard limit needs `CAP_SYS_RESOURCE`; without it the start fails
/// saying so, rather than running with a limit other than the one asked for.
fn set_ulimits(ulimits: &[crate::spec::Ulimit]) -> Result<()> {
    for u in ulimits {
        let Some((_, resource)) = crate::cgroup::parse::ULIMITS
            .iter()
            .find(|(n, _)| *n == u.name)
        else {
            return Err(Error::Config(format!("unknown ulimit `{}`", u.name)));
        };
        let value = |v: u64| {
            if v == u64::MAX {
                libc::RLIM_INFINITY
            } else {
                v
            }
        };
        let limit = libc::rlimit {
            rlim_cur: value(u.soft),
            rlim_max: value(u.hard),
        };
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(*resource as _, &limit) } != 0 {
            let e = std::io::Error::last_os_error();
            let show = |v: u64| {
                if v == u64::MAX {
                    "unlimited".to_owned()
                } else {
                    v.to_string()
                }
            };
            let mut current: libc::rlimit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills the struct.
            unsafe { libc::getrlimit(*resource as _, &mut current) };
            let reason = if e.raw_os_error() == Some(libc::EPERM) {
                format!(
                    "the hard limit is {} here and raising it needs CAP_SYS_RESOURCE, which duckc does not have; ask for at most {}",
                    show(current.rlim_max),
                    show(current.rlim_max)
                )
            } else {
                e.to_string()
            };
            return Err(Error::Ulimit {
                name: u.name.clone(),
                soft: show(u.soft),
                hard: show(u.hard),
                reason,
            });
        }
    }
    Ok(())
}
