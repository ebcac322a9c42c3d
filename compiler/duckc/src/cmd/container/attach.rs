//! `attach`: a terminal (or stdin and output) of a detached container, through its monitor.
//!
//! A detached container's monitor owns the container's pty master (`-t`) or the write end of
//! its stdin pipe (`-i`). It listens on `attach.sock` in the container's directory (mode 0700:
//! only the store's owner can connect) and writes what clients send to the container's input.
//! Output reaches clients through the container's log, which the client follows from its end
//! at the time it attached (output before that is `logs`' job, as in Docker). The detach keys
//! are ctrl-p ctrl-q, as Docker's: the client leaves, the container keeps running.
//!
//! The socket is bound and reached as `/proc/self/fd/N/attach.sock`, N a descriptor of the
//! container's directory: a store path can be longer than the 108 bytes of a socket address.
//! A client sends frames: one byte of kind (`i` input, `w` window size), a little-endian u32
//! length, the payload (for `w`: rows, columns, x and y pixels, each a little-endian u16).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use duckc_runtime::Child;
use duckc_store::Store;
use miette::miette;

use super::find;
use duckc_runtime::container::{Dir, Status};

const SOCKET: &str = "attach.sock";

/// The socket's address, through a descriptor of the container's directory (kept open by the
/// caller for as long as the address is used).
fn socket_path(dir: &Dir) -> std::io::Result<(File, PathBuf)> {
    let handle = File::open(&dir.0)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", handle.as_raw_fd()));
    Ok((handle, path))
}

/// Ctrl-p ctrl-q.
const DETACH: [u8; 2] = [0x10, 0x11];

const INPUT: u8 = b'i';
const WINSIZE: u8 = b'w';

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 5);
    out.push(kind);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// The caller's window size as a `w` payload, when stdout is a terminal.
fn winsize() -> Option<[u8; 8]> {
    let ws = rustix::termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    let mut out = [0u8; 8];
    for (i, v) in [ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel]
        .into_iter()
        .enumerate()
    {
        out[i * 2..i * 2 + 2].copy_from_slice(&v.to_le_bytes());
    }
    Some(out)
}

pub fn attach(store: &Store, query: &str, stdin: bool) -> miette::Result<ExitCode> {
    let (dir, config) = find(store, query)?;
    let state = dir.read_state().map_err(|e| miette!("{e}"))?;
    if state.status != Status::Running {
        return Err(miette!(
            help = format!(
                "start it with `duckc start -a{} {query}`",
                if config.interactive { "i" } else { "" }
            ),
            "container `{query}` is not running"
        ));
    }
    let (_handle, path) = socket_path(&dir).map_err(|e| miette!("{e}"))?;
    let socket = UnixStream::connect(&path).map_err(|_| {
        miette!(
            help = "only containers started with `-d` (or `start` without `-a`) can be attached to",
            "container `{query}` runs in the foreground of another duckc"
        )
    })?;
    let mut log = File::open(dir.log()).map_err(|e| miette!("cannot read the log: {e}"))?;
    log.seek(SeekFrom::End(0)).map_err(|e| miette!("{e}"))?;
    let tty = config.spec.process.terminal;
    let send_input = stdin && (tty || config.interactive);
    let guard = if tty {
        duckc_runtime::process::TerminalGuard::enter(send_input)
    } else {
        None
    };
    let keys = send_input && guard.is_some();
    let detached = relay(&dir, &mut log, &socket, send_input, keys);
    drop(guard);
    if detached {
        return Ok(ExitCode::SUCCESS);
    }
    let code = dir.read_state().ok().and_then(|s| s.exit_code).unwrap_or(0);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Copy stdin to the monitor and the log's new output to stdout until the container stops or
/// the detach keys are typed; true for a detach.
fn relay(dir: &Dir, log: &mut File, socket: &UnixStream, send_input: bool, keys: bool) -> bool {
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 16384];
    let mut stdin_open = send_input;
    let mut held = false; // a ctrl-p waiting to see whether ctrl-q follows
    let mut socket_w = socket;
    // The container's terminal takes our size, now and whenever it changes (looked at every
    // round; a round is at most 50 ms).
    let mut size = None;
    loop {
        if keys {
            let now = winsize();
            if now.is_some() && now != size {
                size = now;
                if let Some(ws) = now {
                    let _ = socket_w.write_all(&frame(WINSIZE, &ws));
                }
            }
        }
        // New output first, so nothing written before an exit is lost.
        while let Ok(n) = log.read(&mut buf) {
            if n == 0 {
                break;
            }
            let _ = out.write_all(&buf[..n]);
        }
        let _ = out.flush();
        let running = dir.read_state().is_ok_and(|s| s.status == Status::Running);
        if !running {
            let _ = std::io::copy(log, &mut out);
            let _ = out.flush();
            return false;
        }
        let mut fds = vec![libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if stdin_open {
            fds.push(libc::pollfd {
                fd: 0,
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // SAFETY: `fds` is a valid array of pollfd. The timeout paces the log reads.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 50) };
        if n <= 0 {
            continue;
        }
        if fds[0].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // The monitor never writes: readable means it closed (the container stopped).
            std::thread::sleep(Duration::from_millis(50));
            continue;
        }
        if stdin_open && fds[1].revents & (libc::POLLIN | libc::POLLHUP) != 0 {
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                stdin_open = false;
                continue;
            }
            let mut input = Vec::with_capacity(n as usize + 1);
            for &b in &buf[..n as usize] {
                if keys && held {
                    held = false;
                    if b == DETACH[1] {
                        return true;
                    }
                    input.push(DETACH[0]);
                }
                if keys && b == DETACH[0] {
                    held = true;
                    continue;
                }
                input.push(b);
            }
            if socket_w.write_all(&frame(INPUT, &input)).is_err() {
                stdin_open = false;
            }
        }
    }
}

/// The monitor's side: wait for the container while serving attach clients. Output of a
/// terminal goes to `log`; what clients send goes to the terminal, or to `stdin` (the write
/// end of the container's stdin pipe, `-i` without `-t`). Returns the exit code.
pub fn serve(dir: &Dir, child: &Child, log: &mut File, stdin: Option<std::io::PipeWriter>) -> i32 {
    let listener = socket_path(dir).ok().and_then(|(handle, path)| {
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).ok()?;
        l.set_nonblocking(true).ok()?;
        drop(handle);
        Some(l)
    });
    // SAFETY: pidfd_open with a pid we started; the kernel returns a new descriptor.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, child.pid, 0) };
    let pidfd = (pidfd >= 0).then(|| {
        // SAFETY: a new descriptor that we own from now on.
        unsafe { OwnedFd::from_raw_fd(pidfd as RawFd) }
    });
    let input: Option<RawFd> = match (&child.pty, &stdin) {
        (Some(m), _) => Some(m.as_raw_fd()),
        (None, Some(w)) => Some(w.as_raw_fd()),
        (None, None) => None,
    };
    // Each client with the bytes of a frame not complete yet.
    let mut clients: Vec<(UnixStream, Vec<u8>)> = Vec::new();
    let mut pty_open = child.pty.is_some();
    let mut buf = vec![0u8; 16384];
    loop {
        let mut fds = Vec::new();
        let mut push = |fd: RawFd| {
            fds.push(libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            });
            fds.len() - 1
        };
        let at_pid = pidfd.as_ref().map(|p| push(p.as_raw_fd()));
        let at_pty = child
            .pty
            .as_ref()
            .filter(|_| pty_open)
            .map(|m| push(m.as_raw_fd()));
        let at_listener = listener.as_ref().map(|l| push(l.as_raw_fd()));
        let first_client = fds.len();
        for (c, _) in &clients {
            fds.push(libc::pollfd {
                fd: c.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // Without a pidfd (older kernels), look at the child every half second.
        let timeout = if pidfd.is_some() { -1 } else { 500 };
        // SAFETY: `fds` is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            continue; // EINTR
        }
        let ready = |i: Option<usize>| i.is_some_and(|i| fds[i].revents != 0);
        if ready(at_pty) {
            // SAFETY: reading into our buffer from the pty master we hold.
            let n = unsafe {
                libc::read(
                    child.pty.as_ref().map_or(-1, |m| m.as_raw_fd()),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                )
            };
            if n > 0 {
                let _ = log.write_all(&buf[..n as usize]);
            } else {
                pty_open = false; // EIO: every holder of the terminal's other side is gone
            }
        }
        let mut gone = Vec::new();
        // Only the clients that were polled: new ones are accepted below.
        for (i, (c, pending)) in clients
            .iter_mut()
            .enumerate()
            .take(fds.len() - first_client)
        {
            if fds[first_client + i].revents == 0 {
                continue;
            }
            match c.read(&mut buf) {
                Ok(n) if n > 0 => {
                    pending.extend_from_slice(&buf[..n]);
                    if !deliver(pending, input, child.pty.as_ref()) {
                        gone.push(i);
                    }
                }
                _ => gone.push(i),
            }
        }
        for i in gone.into_iter().rev() {
            clients.remove(i);
        }
        if ready(at_listener)
            && let Some(l) = &listener
        {
            while let Ok((c, _)) = l.accept() {
                clients.push((c, Vec::new()));
            }
        }
        let exited = match &pidfd {
            Some(_) => ready(at_pid),
            None => !duckc_runtime::container::alive(Some(child.pid), None),
        };
        if exited && !(pty_open && ready(at_pty)) {
            break;
        }
    }
    if let Some(m) = &child.pty {
        // What the terminal still holds.
        // SAFETY: fcntl on a descriptor we hold.
        unsafe {
            let fl = libc::fcntl(m.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(m.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
        loop {
            // SAFETY: reading into our buffer.
            let n = unsafe { libc::read(m.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                break;
            }
            let _ = log.write_all(&buf[..n as usize]);
        }
    }
    drop(listener);
    if let Ok((_h, path)) = socket_path(dir) {
        let _ = std::fs::remove_file(path);
    }
    duckc_runtime::process::wait_code(child.pid).unwrap_or(255)
}

/// Act on the complete frames at the start of `pending` and keep the rest; false for a client
/// that sent something that is not a frame (it is dropped).
fn deliver(pending: &mut Vec<u8>, input: Option<RawFd>, pty: Option<&OwnedFd>) -> bool {
    while pending.len() >= 5 {
        let len = u32::from_le_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
        if len > 1 << 20 {
            return false;
        }
        if pending.len() < 5 + len {
            break;
        }
        let payload = &pending[5..5 + len];
        match pending[0] {
            INPUT => {
                if let Some(fd) = input {
                    write_all(fd, payload);
                }
            }
            WINSIZE if len == 8 => {
                let v = |i: usize| u16::from_le_bytes([payload[i * 2], payload[i * 2 + 1]]);
                if let Some(m) = pty {
                    let ws = rustix::termios::Winsize {
                        ws_row: v(0),
                        ws_col: v(1),
                        ws_xpixel: v(2),
                        ws_ypixel: v(3),
                    };
                    let _ = rustix::termios::tcsetwinsize(m, ws);
                }
            }
            _ => return false,
        }
        pending.drain(..5 + len);
    }
    true
}

fn write_all(fd: RawFd, mut data: &[u8]) {
    while !data.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            return;
        }
        data = &data[n as usize..];
    }
}
