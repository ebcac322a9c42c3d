//! The default network without root: `slirp4netns`, as Podman uses it. It joins the
//! container's user and network namespaces, makes `tap0` there (`10.0.2.100/24`, gateway
//! `10.0.2.2`, DNS forwarder `10.0.2.3`) and carries its traffic through ordinary sockets of the
//! caller; published ports are its `add_hostfwd` API calls, so the host ports are bound by
//! slirp4netns itself, as the caller.
//!
//! It lives as long as the duckc process that started the container (its `--exit-fd` is a
//! pipe only that process holds): a foreground `run`, or a detached container's monitor.

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{NetError, Port, Result, io_err, ports};

/// The container's address on slirp4netns's network.
pub const ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 100);

/// What `port` and `ps` read about a rootless container: `<state>/slirp/<id>.json`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub container: String,
    pub pid: i32,
    pub ports: Vec<Port>,
}

fn records_dir() -> PathBuf {
    super::state_dir().join("slirp")
}

/// Whether slirp4netns can give this caller a network: it must be installed, and
/// `/dev/net/tun` must be open to the caller (udev makes it mode 0666; some machines keep it
/// 0600). The error says what is missing.
pub fn usable() -> std::result::Result<(), String> {
    let found = std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("slirp4netns").is_file()));
    if !found {
        return Err("slirp4netns is not installed (Debian package `slirp4netns`)".into());
    }
    if rustix::fs::access(
        "/dev/net/tun",
        rustix::fs::Access::READ_OK | rustix::fs::Access::WRITE_OK,
    )
    .is_err()
    {
        return Err(
            "/dev/net/tun is not open to this user (an administrator can `chmod 0666 /dev/net/tun`, as udev does by default)"
                .into(),
        );
    }
    Ok(())
}

/// The rootless containers' records whose slirp4netns still runs.
pub fn live() -> Vec<Record> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(records_dir())
        .into_iter()
        .flatten()
        .flatten()
    {
        let Ok(text) = std::fs::read(e.path()) else {
            continue;
        };
        let Ok(r) = serde_json::from_slice::<Record>(&text) else {
            continue;
        };
        if Path::new(&format!("/proc/{}", r.pid)).exists() {
            out.push(r);
        } else {
            let _ = std::fs::remove_file(e.path());
        }
    }
    out
}

/// Start slirp4netns for the container whose init is `pid` (mapped, waiting on its go pipe),
/// publish `ports`, and return once `tap0` is up.
pub fn start(container: &str, pid: i32, ports: &[Port]) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let dir = records_dir();
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(io_err(format!("cannot create `{}`", dir.display())))?;
    }
    super::check_owner(&super::state_dir())?;
    let pipe = || -> Result<(OwnedFd, OwnedFd)> {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(|e| NetError::Io {
            what: "cannot create a pipe".into(),
            source: e.into(),
        })
    };
    let (ready_read, ready_write) = pipe()?;
    let (exit_read, exit_write) = pipe()?;
    let api = dir.join(format!("{container}.sock"));
    let _ = std::fs::remove_file(&api);
    let (exit_fd, ready_fd) = (exit_read.as_raw_fd(), ready_write.as_raw_fd());
    let mut cmd = std::process::Command::new("slirp4netns");
    cmd.args([
        "--configure",
        "--mtu=65520",
        "--disable-host-loopback",
        "--enable-sandbox",
        "--enable-seccomp",
    ])
    .arg(format!("--exit-fd={exit_fd}"))
    .arg(format!("--ready-fd={ready_fd}"))
    .arg(format!("--api-socket={}", api.display()))
    .arg(pid.to_string())
    .arg("tap0")
    .stdin(std::process::Stdio::null())
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped());
    // SAFETY: only close_range and fcntl between fork and exec. Every other descriptor
    // (the container's error pipe and sockets, which are inheritable for its init) must not
    // reach slirp4netns, or the caller would wait for it to close them.
    unsafe {
        cmd.pre_exec(move || {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            );
            for fd in [exit_fd, ready_fd] {
                if libc::fcntl(fd, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::Missing("slirp4netns")
        } else {
            NetError::Io {
                what: "cannot start slirp4netns".into(),
                source: e,
            }
        }
    })?;
    drop(ready_write);
    drop(exit_read);
    let mut byte = [0u8; 1];
    let ready = std::fs::File::from(ready_read).read(&mut byte).unwrap_or(0) == 1;
    if !ready {
        let _ = child.kill();
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let _ = child.wait();
        return Err(NetError::Command {
            cmd: "slirp4netns".into(),
            stderr: err.trim().to_owned(),
        });
    }
    // slirp4netns ends when this process does (its exit pipe closes then), never before.
    std::mem::forget(exit_write);
    let mut published = Vec::new();
    for p in ports {
        let port = if p.host_port == 0 {
            ports::claim(p)?
        } else {
            *p
        };
        if let Err(e) = hostfwd(&api, &port) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
        published.push(port);
    }
    let record = Record {
        container: container.to_owned(),
        pid: child.id() as i32,
        ports: published,
    };
    let path = dir.join(format!("{container}.json"));
    std::fs::write(&path, serde_json::to_vec(&record).unwrap_or_default())
        .map_err(io_err(format!("cannot write `{}`", path.display())))?;
    // The child is reaped by nobody until this process ends; it is not a zombie for long.
    std::mem::forget(child);
    Ok(())
}

/// Publish one port through the slirp4netns API socket.
fn hostfwd(api: &Path, p: &Port) -> Result<()> {
    let request = serde_json::json!({
        "execute": "add_hostfwd",
        "arguments": {
            "proto": p.proto.to_string(),
            "host_addr": p.host_ip.to_string(),
            "host_port": p.host_port,
            "guest_addr": ADDRESS.to_string(),
            "guest_port": p.container_port,
        }
    });
    let mut sock = std::os::unix::net::UnixStream::connect(api)
        .map_err(io_err("cannot reach slirp4netns's API socket"))?;
    sock.write_all(request.to_string().as_bytes())
        .map_err(io_err("cannot talk to slirp4netns"))?;
    let _ = sock.shutdown(std::net::Shutdown::Write);
    let mut answer = String::new();
    let _ = sock.read_to_string(&mut answer);
    if answer.contains("\"error\"") || !answer.contains("\"return\"") {
        return Err(NetError::Port(format!(
            "cannot publish {}:{}/{}: slirp4netns says {}",
            p.host_ip,
            p.host_port,
            p.proto,
            answer.trim()
        )));
    }
    Ok(())
}

/// Forget the record of `container` (its slirp4netns ends with the duckc process).
pub fn release(container: &str) {
    let dir = records_dir();
    let _ = std::fs::remove_file(dir.join(format!("{container}.json")));
    let _ = std::fs::remove_file(dir.join(format!("{container}.sock")));
}
