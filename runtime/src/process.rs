//! Starting container processes from the host side: clone into new namespaces, hand the init
//! its configuration, wait, forward signals, relay a pseudo-terminal or the caller's streams.
//!
//! A container never gets the caller's own standard streams. Without `-t` they are pipes that
//! [`attach`] relays (as Docker always does): a terminal descriptor would let the container
//! push input into the caller's shell with `TIOCSTI` (its processes hold `CAP_SYS_ADMIN` with
//! root, which `TIOCSTI` accepts on any terminal) or change its settings, and a regular file
//! would let it `fchown`/`fchmod` a host file or reopen it read-write through
//! `/proc/self/fd`. Relaying only terminals would be cheaper but leaves the second class open;
//! the copy costs one pipe per stream and nothing on the start path.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

use crate::error::{Context, Error, Result};
use crate::init::{INIT_NAME, InitConfig};
use crate::seccomp::Seccomp;
use crate::spec::{ContainerSpec, Network, Process};

/// Where one of the container's standard streams goes (ignored with a terminal, where all
/// three are the pty).
#[derive(Debug, Default)]
pub enum Stdio {
    /// The caller's own stream, relayed through a pipe by [`attach`] (which a caller that
    /// asks for this must call): the container never holds the caller's descriptor.
    #[default]
    Inherit,
    /// `/dev/null`.
    Null,
    /// This descriptor (a log file, a pipe).
    Fd(OwnedFd),
}

/// The container's standard streams.
#[derive(Debug, Default)]
pub struct Io {
    pub stdin: Stdio,
    pub stdout: Stdio,
    pub stderr: Stdio,
}

/// A started container process (the init of `run`/`start`, or the helper of `exec`).
#[derive(Debug)]
pub struct Child {
    /// Its pid on the host.
    pub pid: i32,
    /// The pty's master side, when the process has a terminal.
    pub pty: Option<OwnedFd>,
    /// The cgroup it runs in (none without root, or on a host without cgroups).
    pub cgroup: Option<crate::cgroup::Cgroup>,
    /// Our ends of the pipes that stand for the caller's streams ([`Stdio::Inherit`]).
    pub relay: Relay,
}

/// The host side of the pipes [`attach`] relays: what it writes to the container's stdin,
/// and reads from its stdout and stderr.
#[derive(Debug, Default)]
pub struct Relay {
    pub stdin: Option<OwnedFd>,
    pub stdout: Option<OwnedFd>,
    pub stderr: Option<OwnedFd>,
}

/// Whether this process is not root of the host (a plain user, or root of a rootless duckc's
/// user namespace) and so gives each container a user namespace of its own.
pub fn is_rootless() -> bool {
    !crate::userns::host_root()
}

/// Start the container described by `spec`; returns once its command is running (or failed to
/// start, with the init's error).
pub fn spawn(spec: &ContainerSpec, io: Io) -> Result<Child> {
    spawn_with(spec, io, &mut |_| {})
}

/// [`spawn`], calling `on_clone` with the init's host pid as soon as it exists, before its
/// command can run or print anything (so a caller can record the container as running first).
pub fn spawn_with(spec: &ContainerSpec, io: Io, on_clone: &mut dyn FnMut(i32)) -> Result<Child> {
    let rootless = is_rootless();
    let mut flags = libc::CLONE_NEWNS
        | libc::CLONE_NEWPID
        | libc::CLONE_NEWUTS
        | crate::ipc::clone_flag(&spec.launch.ipc);
    if spec.network != Network::Host {
        flags |= libc::CLONE_NEWNET;
    }
    if rootless {
        flags |= libc::CLONE_NEWUSER;
        check_userns()?;
    }
    // Compiled before anything is taken on the host (an address, a cgroup): a profile that
    // does not compile then leaves nothing behind.
    let seccomp = spec.seccomp.filter()?;
    let host_files = crate::etc::HostFiles::read();
    // A container on a network gets its address (and its hosts file) before the clone; its
    // veth pair is made once its namespace exists (`launch_in`).
    let net = match (&spec.net, spec.network) {
        (Some(req), Network::Private) if !rootless => {
            Some(crate::net::lease::prepare(req, &spec.hostname, |ip| {
                crate::etc::render_on(
                    &spec.hostname,
                    spec.network,
                    &spec.dns,
                    &host_files,
                    Some(ip.into()),
                )
                .0
                .hosts
            })?)
        }
        _ => None,
    };
    let release = |net: &Option<crate::net::lease::Prepared>| {
        if let Some(p) = net {
            let _ = crate::net::release(&p.lease.container);
        }
    };
    let cgroup = match container_cgroup(spec, rootless) {
        Ok(c) => c,
        Err(e) => {
            release(&net);
            return Err(e);
        }
    };
    // Without root: slirp4netns, started once the namespaces exist and are mapped.
    let slirp = match (&spec.net, spec.network) {
        (Some(req), Network::Private) if rootless => match crate::net::slirp::usable() {
            Ok(()) => Some(req),
            Err(why) if req.ports.is_empty() => {
                static WARNED: std::sync::Once = std::sync::Once::new();
                WARNED.call_once(|| eprintln!("warning: the container has loopback only: {why}"));
                None
            }
            Err(why) => {
                release(&net);
                if let Some(cg) = &cgroup {
                    let _ = cg.destroy();
                }
                return Err(
                    crate::net::NetError::Port(format!("cannot publish ports: {why}")).into(),
                );
            }
        },
        _ => None,
    };
    let address = match (&net, slirp) {
        (Some(p), _) => Some(p.inside.address.into()),
        (None, Some(_)) => Some(crate::net::slirp::ADDRESS.into()),
        _ => None,
    };
    let (mut etc, warning) = crate::etc::render_on(
        &spec.hostname,
        spec.network,
        &spec.dns,
        &host_files,
        address,
    );
    etc.hosts_file = net.as_ref().map(|p| p.inside.hosts_file.clone());
    if let Some(warning) = warning {
        static WARNED: std::sync::Once = std::sync::Once::new();
        WARNED.call_once(|| eprintln!("warning: {warning}"));
    }
    let config = InitConfig::Create {
        spec: spec.clone(),
        rootless,
        console_socket: None,
        seccomp,
        etc,
        ready_wait: None,
        net: net.as_ref().map(|p| p.inside.clone()),
    };
    let child = launch(
        config,
        flags,
        io,
        spec.process.terminal,
        on_clone,
        cgroup,
        true,
        net.as_ref()
            .map(crate::net::Attach::Bridge)
            .or(slirp.map(crate::net::Attach::Slirp)),
    );
    if child.is_err() {
        release(&net);
    }
    child
}

/// Make the container's cgroup with its limits (a build step's gets a unique name), or say
/// which limits cannot apply without root.
fn container_cgroup(spec: &ContainerSpec, rootless: bool) -> Result<Option<crate::cgroup::Cgroup>> {
    use crate::cgroup::{Cgroup, Layout, requested_limits, unique_name};
    let r = &spec.resources;
    let limits = requested_limits(r);
    if rootless {
        if limits.is_empty() {
            return Ok(None);
        }
        return Err(Error::RootlessLimits {
            limits,
            reason: "duckc makes no cgroup for a run without root (it does not use cgroup delegation yet)".into(),
        });
    }
    let layout = Layout::host();
    let name = if r.cgroup.is_empty() {
        crate::cgroup::sweep_stale_builds(&layout);
        unique_name("build")
    } else {
        r.cgroup.clone()
    };
    let Some(cgroup) = Cgroup::named(&layout, &name, r.cpuset_cpus.is_some())? else {
        if limits.is_empty() {
            return Ok(None);
        }
        return Err(Error::RootlessLimits {
            limits,
            reason: "this host has no cgroup file system mounted".into(),
        });
    };
    cgroup.create(r)?;
    Ok(Some(cgroup))
}

/// Run `process` inside the running container whose init has host pid `pid` (`duckc exec`),
/// under the container's seccomp profile.
pub fn exec_in(
    pid: i32,
    process: &Process,
    hostname: &str,
    seccomp: &Seccomp,
    io: Io,
) -> Result<Child> {
    let config = InitConfig::Join {
        pid,
        process: process.clone(),
        hostname: hostname.to_owned(),
        rootless: is_rootless(),
        console_socket: None,
        seccomp: seccomp.filter()?,
    };
    let cgroup = if is_rootless() {
        None
    } else {
        crate::cgroup::of_pid(pid)
    };
    launch(
        config,
        0,
        io,
        process.terminal,
        &mut |_| {},
        cgroup,
        false,
        None,
    )
}

fn check_userns() -> Result<()> {
    let read = |p: &str| std::fs::read_to_string(p).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(Error::NoUserNamespaces(
            "user.max_user_namespaces is 0; ask an administrator to raise it, or run as root"
                .into(),
        ));
    }
    if read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(Error::NoUserNamespaces(
            "kernel.unprivileged_userns_clone is 0; ask an administrator to set it to 1, or run as root".into(),
        ));
    }
    Ok(())
}

/// A connected pair of Unix stream sockets, close-on-exec.
fn socket_pair() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: socketpair fills the two-element array.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r == -1 {
        return Err(Error::Kernel {
            what: "cannot create a socket pair".into(),
            source: io::Error::last_os_error(),
        });
    }
    // SAFETY: both descriptors are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn null_fd() -> Result<OwnedFd> {
    // An O_PATH descriptor of the checked device, reopened for reading and writing.
    let path = crate::dev::open_host_device(&crate::kernel::Linux, "null", 1, 3)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", path.as_raw_fd()))
        .what(|| "cannot open /dev/null".into())?;
    Ok(file.into())
}

/// Clone a child with `flags`, make its stdio, and re-execute the sealed runtime binary in it
/// as the init, with `config`. The child waits on a pipe until it is in `cgroup` (and, with a
/// user namespace, mapped), so nothing of the image runs outside its cgroup; `owned` says the
/// cgroup is this container's own, removed again when the start fails. With `net`, the
/// container's veth pair is made before its init may go on.
#[allow(clippy::too_many_arguments)]
fn launch(
    config: InitConfig,
    flags: i32,
    io: Io,
    terminal: bool,
    on_clone: &mut dyn FnMut(i32),
    cgroup: Option<crate::cgroup::Cgroup>,
    owned: bool,
    net: Option<crate::net::Attach<'_>>,
) -> Result<Child> {
    let drop_cgroup = |cgroup: &Option<crate::cgroup::Cgroup>| {
        if let (Some(cg), true) = (cgroup, owned) {
            let _ = cg.destroy();
        }
    };
    let child = launch_in(config, flags, io, terminal, on_clone, &cgroup, net);
    match child {
        Ok(mut c) => {
            c.cgroup = cgroup;
            Ok(c)
        }
        Err(e) => {
            drop_cgroup(&cgroup);
            Err(e)
        }
    }
}

fn launch_in(
    mut config: InitConfig,
    flags: i32,
    io: Io,
    terminal: bool,
    on_clone: &mut dyn FnMut(i32),
    cgroup: &Option<crate::cgroup::Cgroup>,
    net: Option<crate::net::Attach<'_>>,
) -> Result<Child> {
    // A plain start runs its init in the cloned child itself and execs the command through
    // the stub; the rest re-executes the runtime's binary (see `crate::init`).
    let in_clone = matches!(&config, InitConfig::Create { spec, .. } if crate::init::runs_in_clone(spec))
        && single_threaded();
    let exe = if in_clone {
        crate::exe::sealed_stub()
            .what(|| "cannot make a sealed copy of the runtime's `duckc-exec`".into())?
    } else {
        crate::exe::sealed_self().what(|| "cannot make a sealed copy of the runtime".into())?
    };
    // With a terminal, the init makes it inside the container (so it is the container's
    // /dev/pts/0) and sends us the master side over this socket.
    let console = if terminal {
        let (ours, theirs) = socket_pair()?;
        rustix::io::fcntl_setfd(&theirs, rustix::io::FdFlags::empty()).what(|| "fcntl".into())?;
        match &mut config {
            InitConfig::Create { console_socket, .. } | InitConfig::Join { console_socket, .. } => {
                *console_socket = Some(theirs.as_raw_fd());
            }
        }
        Some((ours, theirs))
    } else {
        None
    };
    // On cgroup v1 the child moves itself into its cgroup as the first thing it does, through
    // `tasks` files opened here (see `Cgroup::open_tasks`: no RCU wait for anyone). Otherwise
    // a container's own cgroup is joined, and its veth pair made, while its init sets up the
    // root, which then waits for this socket before anything of the image runs (see
    // `InitConfig::Create`); `exec`'s helper forks, so it waits before it starts instead (the
    // go pipe below).
    let tasks = match cgroup {
        Some(cg) => cg.open_tasks()?,
        None => None,
    };
    let tasks_raw: Vec<RawFd> = tasks.iter().flatten().map(|f| f.as_raw_fd()).collect();
    let bridge = matches!(net, Some(crate::net::Attach::Bridge(_)));
    let placed = match (&mut config, cgroup.is_some() && tasks.is_none(), bridge) {
        (InitConfig::Create { ready_wait, .. }, true, _)
        | (InitConfig::Create { ready_wait, .. }, _, true) => {
            // A socket, not a pipe: the byte goes with MSG_NOSIGNAL, so an init that already
            // failed (and closed its end) cannot raise SIGPIPE in the caller.
            let (write, read) = socket_pair()?;
            rustix::io::fcntl_setfd(&read, rustix::io::FdFlags::empty()).what(|| "fcntl".into())?;
            *ready_wait = Some(read.as_raw_fd());
            Some((read, write))
        }
        _ => None,
    };
    // The init in the clone has the configuration in its copy of our memory; a re-executed
    // one reads it as JSON from a memfd.
    let (mut cloned_config, config_file) = if in_clone {
        (Some(config), None)
    } else {
        (None, Some(config_memfd(&config)?))
    };
    let (err_read, err_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .what(|| "cannot create a pipe".into())?;
    // The write end must survive the exec into the init (which sets close-on-exec itself).
    rustix::io::fcntl_setfd(&err_write, rustix::io::FdFlags::empty()).what(|| "fcntl".into())?;

    // Every stream is set: the container's fds 0 to 2 are never the caller's. With a terminal
    // the init replaces them with the pty before the command runs; until then they are
    // /dev/null rather than the caller's terminal.
    let mut relay = Relay::default();
    let mut stdio: [Option<OwnedFd>; 3] = [None, None, None];
    for (i, s) in [io.stdin, io.stdout, io.stderr].into_iter().enumerate() {
        stdio[i] = Some(match s {
            Stdio::Inherit if terminal => null_fd()?,
            Stdio::Inherit => {
                let (read, write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
                    .what(|| "cannot create a pipe for the container's stdio".into())?;
                let (theirs, ours) = if i == 0 { (read, write) } else { (write, read) };
                match i {
                    0 => relay.stdin = Some(ours),
                    1 => relay.stdout = Some(ours),
                    _ => relay.stderr = Some(ours),
                }
                theirs
            }
            Stdio::Null => null_fd()?,
            Stdio::Fd(fd) => fd,
        });
    }
    let stdio_raw: [RawFd; 3] =
        std::array::from_fn(|i| stdio[i].as_ref().map_or(-1, |f| f.as_raw_fd()));

    let argv_c = [
        CString::new(INIT_NAME).expect("no NUL"),
        CString::new(
            config_file
                .as_ref()
                .map_or(-1, |f| f.as_raw_fd())
                .to_string(),
        )
        .expect("digits"),
        CString::new(err_write.as_raw_fd().to_string()).expect("digits"),
    ];
    let argv: [*const libc::c_char; 4] = [
        argv_c[0].as_ptr(),
        argv_c[1].as_ptr(),
        argv_c[2].as_ptr(),
        std::ptr::null(),
    ];
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let empty = c"";
    let exe_fd = exe.as_raw_fd();
    let err_fd = err_write.as_raw_fd();
    // The child waits until it is in its cgroup and, with a new user namespace, until we have
    // written its id maps: the init binary must be exec'd by a mapped root, or the kernel
    // makes it undumpable and its own /proc files unwritable.
    let (go_read, go_write) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .what(|| "cannot create a pipe".into())?;
    let go_fd = go_read.as_raw_fd();
    let userns = flags & libc::CLONE_NEWUSER != 0;
    // The init configures `eth0` after the go byte or, when it waits for its cgroup, after
    // that byte: either comes after the veth pair exists.
    let wait_go = userns || (placed.is_none() && ((cgroup.is_some() && tasks.is_none()) || bridge));
    // What the child writes when it cannot join its cgroup: a typed message whose errno it
    // fills in (it cannot allocate).
    const JOIN: &[u8] = b"cannot move the container into its cgroup";
    let mut joined_msg = [0u8; crate::start::HEADER + JOIN.len()];
    joined_msg[crate::start::HEADER..].copy_from_slice(JOIN);

    // SAFETY: a raw clone behaves like fork (no new stack). Before it re-executes the runtime,
    // the child only calls async-signal-safe functions (dup2, fcntl, execveat, write, _exit) on
    // data prepared above; the init in the clone runs ordinary code, which is sound because
    // this process has no other thread (no lock can be held by a thread the child lacks).
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        let e = io::Error::last_os_error();
        if flags & libc::CLONE_NEWUSER != 0
            && matches!(e.raw_os_error(), Some(libc::EPERM | libc::ENOSPC))
        {
            return Err(Error::NoUserNamespaces(format!(
                "cannot create a user namespace ({e}); running without root needs them"
            )));
        }
        return Err(Error::Kernel {
            what: "cannot create the container's namespaces".into(),
            source: e,
        });
    }
    if pid == 0 {
        // SAFETY: see above; this is the child and never returns.
        unsafe {
            if let Err(errno) = crate::cgroup::join_self(&tasks_raw) {
                joined_msg[..crate::start::HEADER].copy_from_slice(&crate::start::header(
                    crate::start::Kind::Cgroup,
                    125,
                    errno,
                ));
                libc::write(err_fd, joined_msg.as_ptr().cast(), joined_msg.len());
                libc::_exit(125);
            }
            let mut byte = 0u8;
            if wait_go && libc::read(go_fd, (&raw mut byte).cast(), 1) != 1 {
                libc::_exit(125);
            }
            for (target, fd) in stdio_raw.iter().enumerate() {
                if *fd >= 0 {
                    libc::dup2(*fd, target as i32);
                }
            }
            if let Some(config) = cloned_config.take() {
                crate::init::run_cloned(config, err_fd, exe_fd);
            }
            libc::syscall(
                libc::SYS_execveat,
                exe_fd,
                empty.as_ptr(),
                argv.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            );
            let errno = *libc::__errno_location();
            let mut msg = *b".......cannot execute the runtime's init";
            msg[..crate::start::HEADER].copy_from_slice(&crate::start::header(
                crate::start::Kind::Kernel,
                125,
                errno,
            ));
            libc::write(err_fd, msg.as_ptr().cast(), msg.len());
            libc::_exit(125);
        }
    }
    let pid = pid as i32;
    on_clone(pid);
    drop(go_read);
    if placed.is_none()
        && tasks.is_none()
        && let Some(cg) = cgroup
        && let Err(e) = cg.add(pid)
    {
        let _ = kill(pid, libc::SIGKILL);
        let _ = wait_code(pid);
        return Err(e);
    }
    if userns {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        if let Err(e) = crate::userns::map_child(&crate::kernel::Linux, &proc_dir) {
            let _ = kill(pid, libc::SIGKILL);
            let _ = wait_code(pid);
            return Err(e);
        }
    }
    let attached = match net {
        Some(crate::net::Attach::Bridge(p)) => crate::net::lease::connect(p, pid),
        Some(crate::net::Attach::Slirp(req)) => {
            crate::net::slirp::start(&req.container, pid, &req.ports)
        }
        None => Ok(()),
    };
    if let Err(e) = attached {
        // The init may have failed first (its namespace then went with it): its error is the
        // one to report.
        let _ = kill(pid, libc::SIGKILL);
        let _ = wait_code(pid);
        drop(err_write);
        let mut err = Vec::new();
        let _ = std::fs::File::from(err_read).read_to_end(&mut err);
        return Err(crate::start::decode(&err).unwrap_or_else(|| e.into()));
    }
    // Only a waiting child still holds the read end: a write to a pipe nobody reads would
    // raise SIGPIPE here.
    if wait_go {
        let _ = rustix::io::write(&go_write, &[1]);
    }
    drop(go_write);
    if let Some((read, write)) = placed {
        drop(read);
        let added = match (cgroup, &tasks) {
            (Some(cg), None) => cg.add(pid),
            _ => Ok(()),
        };
        match added {
            Ok(()) => {
                // SAFETY: sending one byte from a local buffer on a socket we own.
                unsafe {
                    libc::send(
                        write.as_raw_fd(),
                        [1u8].as_ptr().cast(),
                        1,
                        libc::MSG_NOSIGNAL,
                    )
                };
            }
            // The init may have failed already (its error, on the error pipe below, is the
            // one to report); otherwise it must not go on outside its cgroup.
            Err(e) => {
                let _ = kill(pid, libc::SIGKILL);
                drop(write);
                drop(err_write);
                let mut err = Vec::new();
                let _ = std::fs::File::from(err_read).read_to_end(&mut err);
                let _ = wait_code(pid);
                return Err(crate::start::decode(&err).unwrap_or(e));
            }
        }
    }
    drop(err_write);
    drop(stdio);
    drop(config_file);
    drop(tasks);
    let master = console.and_then(|(ours, theirs)| {
        drop(theirs);
        let master = crate::fdpass::recv_fd(&ours)?;
        // Sized before the command starts (the init waits for this byte): a fast command
        // would otherwise see a 0x0 terminal.
        if let Ok(ws) = rustix::termios::tcgetwinsize(rustix::stdio::stdin()) {
            let _ = rustix::termios::tcsetwinsize(&master, ws);
        }
        // SAFETY: sending one byte from a local buffer on a socket we own.
        unsafe {
            libc::send(
                ours.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_NOSIGNAL,
            )
        };
        Some(master)
    });
    let mut err = Vec::new();
    let mut read_end = std::fs::File::from(err_read);
    let _ = read_end.read_to_end(&mut err);
    if let Some(e) = crate::start::decode(&err) {
        let _ = wait_code(pid);
        return Err(e);
    }
    if terminal && master.is_none() {
        let _ = kill(pid, libc::SIGKILL);
        let _ = wait_code(pid);
        return Err(Error::Start {
            kind: crate::start::Kind::Other,
            code: 125,
            errno: None,
            message: "the container did not send its terminal".into(),
        });
    }
    Ok(Child {
        pid,
        pty: master,
        relay,
        cgroup: None,
    })
}

/// The init configuration as JSON in a memfd, for an init that re-executes the runtime.
fn config_memfd(config: &InitConfig) -> Result<std::fs::File> {
    let json = serde_json::to_vec(config).map_err(|e| Error::Config(e.to_string()))?;
    let config_fd = rustix::fs::memfd_create("duckc-config", rustix::fs::MemfdFlags::empty())
        .what(|| "cannot create the config memfd".into())?;
    let mut config_file = std::fs::File::from(config_fd);
    config_file
        .write_all(&json)
        .what(|| "cannot write the config memfd".into())?;
    rustix::fs::seek(&config_file, rustix::fs::SeekFrom::Start(0))
        .what(|| "cannot rewind the config".into())?;
    Ok(config_file)
}

/// Whether this process has one thread: the child of a raw `clone` may then run ordinary
/// code (allocate, take locks) without exec'ing first.
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1)
}

/// Wait for `pid` and return its exit code the shell way: the status, or 128+N for signal N.
pub fn wait_code(pid: i32) -> io::Result<i32> {
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status into `status`.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == -1 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        return Ok(decode(status));
    }
}

fn decode(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        1
    }
}

/// The signals passed on to the container, as `docker run`'s signal proxy does.
pub const FORWARDED: &[i32] = &[
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGWINCH,
];

static FORWARD_TO: AtomicI32 = AtomicI32::new(0);

extern "C" fn forward(sig: libc::c_int) {
    let pid = FORWARD_TO.load(Ordering::Relaxed);
    if pid > 0 {
        // SAFETY: kill is async-signal-safe.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Block [`FORWARDED`] signals and `SIGCHLD` in this thread, so that none arriving between a
/// container's start and [`attach`] is lost or kills the caller: `attach` then reads them from
/// a signalfd. (The container's init unblocks everything before running the command.)
pub fn hold_signals() {
    // SAFETY: sigset manipulation on a local value; sigprocmask on this thread.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED.iter().chain([&libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Install handlers that pass [`FORWARDED`] signals on to `pid` (used by the `exec` helper,
/// which has nothing else to do while it waits).
pub fn forward_signals_to(pid: i32) {
    FORWARD_TO.store(pid, Ordering::Relaxed);
    for sig in FORWARDED {
        // SAFETY: `forward` only calls kill.
        unsafe { libc::signal(*sig, forward as *const () as libc::sighandler_t) };
    }
}

/// Stay attached to a started container until it exits: forward signals, relay the terminal
/// or the stdio pipes (copying the caller's stdin to the container when `stdin` is true) and
/// return the exit code.
pub fn attach(child: &mut Child, stdin: bool) -> Result<i32> {
    attach_logging(child, stdin, None)
}

/// [`attach`], also copying everything the container writes to `log` (so `logs` shows the
/// output of a foreground container too).
pub fn attach_logging(child: &mut Child, stdin: bool, log: Option<RawFd>) -> Result<i32> {
    let tee = |data: &[u8]| {
        if let Some(fd) = log {
            write_all(fd, data);
        }
    };
    let err = |what: &str| {
        let what = what.to_owned();
        move |e: io::Error| Error::Kernel { what, source: e }
    };
    // SAFETY: sigset manipulation on a local value; sigprocmask on this single thread.
    let sigfd = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for sig in FORWARDED.iter().chain([&libc::SIGCHLD]) {
            libc::sigaddset(&mut set, *sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        let fd = libc::signalfd(-1, &set, libc::SFD_CLOEXEC);
        if fd < 0 {
            return Err(err("cannot create a signalfd")(io::Error::last_os_error()));
        }
        OwnedFd::from_raw_fd(fd)
    };
    // The caller's stdin goes to the container's pipe from a thread of its own: a blocking
    // write there (a container that does not read) must not stop the output relay below.
    // The thread inherits the blocked signals; it ends with its input or with the process.
    if let Some(pipe) = child.relay.stdin.take()
        && stdin
    {
        std::thread::spawn(move || copy_stdin(pipe));
    }
    let mut outputs: Vec<(OwnedFd, RawFd)> = [
        (child.relay.stdout.take(), 1),
        (child.relay.stderr.take(), 2),
    ]
    .into_iter()
    .filter_map(|(fd, to)| Some((fd?, to)))
    .collect();
    let raw = child.pty.as_ref().and_then(|_| TerminalGuard::enter(stdin));
    let mut stdin_open = stdin && child.pty.is_some();
    let mut buf = vec![0u8; 16384];
    let code = loop {
        if let Some(code) = try_wait(child.pid).map_err(err("cannot wait for the container"))? {
            break code;
        }
        let mut fds = vec![libc::pollfd {
            fd: sigfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for (fd, _) in &outputs {
            fds.push(libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let pty_at = fds.len();
        if let Some(m) = &child.pty {
            fds.push(libc::pollfd {
                fd: m.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            if stdin_open {
                fds.push(libc::pollfd {
                    fd: 0,
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
        }
        // SAFETY: `fds` is a valid array of pollfd for the call.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
        if n < 0 {
            continue; // EINTR
        }
        if fds[0].revents & libc::POLLIN != 0 {
            // SAFETY: signalfd_siginfo is plain data; read fills it.
            let mut info: libc::signalfd_siginfo = unsafe { std::mem::zeroed() };
            // SAFETY: reading one record into `info`.
            unsafe {
                libc::read(
                    sigfd.as_raw_fd(),
                    (&raw mut info).cast(),
                    std::mem::size_of_val(&info),
                )
            };
            let sig = info.ssi_signo as i32;
            if sig == libc::SIGWINCH
                && let (Some(m), Ok(ws)) = (
                    &child.pty,
                    rustix::termios::tcgetwinsize(rustix::stdio::stdin()),
                )
            {
                let _ = rustix::termios::tcsetwinsize(m, ws);
            }
            if sig != libc::SIGCHLD {
                // SAFETY: kill with a pid and a signal number.
                unsafe { libc::kill(child.pid, sig) };
            }
        }
        // Relay what the container wrote; forget a pipe at its end, or when our own output
        // is gone (closing it gives the container EPIPE, as a shell pipeline would).
        let mut i = 0;
        outputs.retain(|(fd, to)| {
            i += 1;
            if fds[i].revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) == 0 {
                return true;
            }
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                tee(&buf[..n as usize]);
            }
            n > 0 && write_all(*to, &buf[..n as usize])
        });
        if let Some(m) = &child.pty {
            if fds[pty_at].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
                // SAFETY: reading into our buffer.
                let n = unsafe { libc::read(m.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    tee(&buf[..n as usize]);
                    let _ = io::stdout().write_all(&buf[..n as usize]);
                    let _ = io::stdout().flush();
                } else if fds[pty_at].revents & libc::POLLHUP != 0 {
                    // Nobody holds the slave any more; wait for the exit without spinning.
                    let code =
                        wait_code(child.pid).map_err(err("cannot wait for the container"))?;
                    drop(raw);
                    return Ok(code);
                }
            }
            if stdin_open
                && fds.len() > pty_at + 1
                && fds[pty_at + 1].revents & (libc::POLLIN | libc::POLLHUP) != 0
            {
                // SAFETY: reading into our buffer.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n > 0 {
                    write_all(m.as_raw_fd(), &buf[..n as usize]);
                } else {
                    // End of input: send the terminal's end-of-file character.
                    write_all(m.as_raw_fd(), &[4]);
                    stdin_open = false;
                }
            }
        }
    };
    // What the container wrote before it exited is still in the pipes. Processes it left
    // behind (an `exec`'d command's background jobs) may hold them open: read what is there
    // now, without waiting for an end.
    for (fd, to) in &outputs {
        drain(fd.as_raw_fd(), *to, log, &mut buf);
    }
    if let Some(m) = &child.pty {
        let _ = io::stdout().flush();
        drain(m.as_raw_fd(), 1, log, &mut buf);
    }
    drop(raw);
    Ok(code)
}

/// Copy the caller's stdin into the container's stdin pipe until either ends, then close it
/// (the container sees end-of-file, as with `echo hi | docker run -i`).
fn copy_stdin(pipe: OwnedFd) {
    let mut buf = vec![0u8; 16384];
    loop {
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 || !write_all(pipe.as_raw_fd(), &buf[..n as usize]) {
            return;
        }
    }
}

fn try_wait(pid: i32) -> io::Result<Option<i32>> {
    let mut status = 0;
    // SAFETY: waitpid writes the status into `status`.
    let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
    match r {
        -1 => Err(io::Error::last_os_error()),
        0 => Ok(None),
        _ => Ok(Some(decode(status))),
    }
}

/// Write all of `data` to `fd`; false when it cannot take more (a closed pipe).
fn write_all(fd: RawFd, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return false;
        }
        data = &data[n as usize..];
    }
    true
}

/// Copy what is left in the pty or an output pipe to our `to` (and `log`) after the process
/// exited.
fn drain(fd: RawFd, to: RawFd, log: Option<RawFd>, buf: &mut [u8]) {
    // SAFETY: fcntl on a descriptor we hold.
    unsafe {
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        )
    };
    loop {
        // SAFETY: reading into `buf`.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        if let Some(log) = log {
            write_all(log, &buf[..n as usize]);
        }
        if !write_all(to, &buf[..n as usize]) {
            break;
        }
    }
}

/// The caller's terminal while a container with a terminal of its own is attached to it (only
/// when stdin is a tty): in raw mode when the caller's input goes to the container (`-it`, as
/// Docker does; with `-t` alone it stays as it was, so ctrl-c still interrupts duckc, which
/// passes SIGINT on).
///
/// When dropped it discards the input nobody read, then restores the settings: replies the
/// terminal sent to the container's queries (a shell's cursor-position request is answered
/// with `ESC[row;colR`) must not reach the caller's shell as typed text once duckc is gone.
/// Input typed meanwhile could not reach the container either (with `-it` it was read and sent
/// on). `TCSAFLUSH` also waits for duckc's output to be written first.
pub struct TerminalGuard {
    saved: rustix::termios::Termios,
    raw: bool,
}

impl TerminalGuard {
    /// Take the caller's terminal (raw with `raw`); `None` when stdin is not a terminal.
    pub fn enter(raw: bool) -> Option<TerminalGuard> {
        let stdin = rustix::stdio::stdin();
        let saved = rustix::termios::tcgetattr(stdin).ok()?;
        if raw {
            let mut r = saved.clone();
            r.make_raw();
            rustix::termios::tcsetattr(stdin, rustix::termios::OptionalActions::Now, &r).ok()?;
        }
        Some(TerminalGuard { saved, raw })
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        let stdin = rustix::stdio::stdin();
        let _ = rustix::termios::tcflush(stdin, rustix::termios::QueueSelector::IFlush);
        if self.raw {
            let _ = rustix::termios::tcsetattr(
                stdin,
                rustix::termios::OptionalActions::Flush,
                &self.saved,
            );
        }
    }
}

/// Send signal `sig` to `pid`.
pub fn kill(pid: i32, sig: i32) -> io::Result<()> {
    // SAFETY: kill with integer arguments.
    if unsafe { libc::kill(pid, sig) } == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The first and last real-time signals as Docker numbers them (glibc keeps the kernel's
/// first two, 32 and 33, for itself): `SIGRTMIN+3` is 37 in any image.
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

/// A signal by name (`KILL`, `SIGKILL`, `SIGRTMIN+3`, `RTMAX-1`) or number (`9`), as
/// Docker's `STOPSIGNAL`, `stop -s` and `kill -s` take it.
pub fn signal_number(name: &str) -> Option<i32> {
    if let Ok(n) = name.parse::<i32>() {
        return (1..65).contains(&n).then_some(n);
    }
    let name = name.to_ascii_uppercase();
    let name = name.strip_prefix("SIG").unwrap_or(&name);
    // `RTMIN`, `RTMIN+N`, `RTMAX`, `RTMAX-N`: N in digits only, within the real-time range.
    let offset = |rest: &str, sign: char| -> Option<i32> {
        if rest.is_empty() {
            return Some(0);
        }
        let n = rest.strip_prefix(sign)?;
        if n.is_empty() || n.len() > 2 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().filter(|n| *n <= RTMAX - RTMIN)
    };
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return Some(RTMIN + offset(rest, '+')?);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return Some(RTMAX - offset(rest, '-')?);
    }
    Some(match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "CHLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return None,
    })
}

#[cfg(test)]
mod signal_tests {
    use super::signal_number;

    #[test]
    fn signal_names_as_docker_takes_them() {
        for (name, want) in [
            ("TERM", Some(libc::SIGTERM)),
            ("sigint", Some(libc::SIGINT)),
            ("2", Some(2)),
            ("SIGRTMIN", Some(34)),
            ("SIGRTMIN+3", Some(37)),
            ("RTMIN+30", Some(64)),
            ("SIGRTMAX", Some(64)),
            ("SIGRTMAX-2", Some(62)),
            ("SIGRTMIN+31", None),
            ("SIGRTMIN-1", None),
            ("SIGRTMAX+1", None),
            ("SIGRTMIN+", None),
            ("SIGRTMIN*3", None),
            ("SIGRTMIN+ 3", None),
            ("0", None),
            ("65", None),
            ("NOPE", None),
        ] {
            assert_eq!(signal_number(name), want, "{name}");
        }
    }
}
