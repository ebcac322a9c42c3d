//! `attach`: a terminal (or stdin and output) of a detached container, through its monitor
//! ([`super::monitor`]): the monitor's server and the client's relay, which speak [`Message`]s.
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
//! A client sends [`Message`]s, each a frame: one byte of kind (`i` input, `w` window size),
//! a little-endian u32 length, the payload (for `w`: rows, columns, x and y pixels, each a
//! little-endian u16). The monitor never writes to a client.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::Duration;

use super::{Dir, Status};
use crate::process::Child;

const SOCKET: &str = "attach.sock";

/// The socket's address, through a descriptor of the container's directory (kept open by the
/// caller for as long as the address is used).
fn socket_path(dir: &Dir) -> std::io::Result<(File, PathBuf)> {
    let handle = File::open(&dir.0)?;
    let path = PathBuf::from(format!("/proc/self/fd/{}/{SOCKET}", handle.as_raw_fd()));
    Ok((handle, path))
}

/// The detach keys: ctrl-p ctrl-q.
pub const DETACH: [u8; 2] = [0x10, 0x11];

const INPUT: u8 = b'i';
const WINSIZE: u8 = b'w';
/// The largest payload a client may send; a bigger frame is not one of ours.
const MAX_PAYLOAD: usize = 1 << 20;

/// A terminal's size: rows, columns, and the pixels across and down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSize {
    pub rows: u16,
    pub cols: u16,
    pub x_pixels: u16,
    pub y_pixels: u16,
}

/// What an attach client sends the monitor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Bytes for the container's terminal or stdin.
    Input(Vec<u8>),
    /// The client's terminal changed size: the container's takes it.
    WindowSize(WindowSize),
}

/// Bytes from a client that are not a [`Message`]: the monitor drops that client.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an attach message")]
pub struct BadFrame;

impl Message {
    /// The message as a frame.
    pub fn encode(&self) -> Vec<u8> {
        let (kind, payload) = match self {
            Message::Input(data) => (INPUT, data.clone()),
            Message::WindowSize(ws) => {
                let mut out = Vec::with_capacity(8);
                for v in [ws.rows, ws.cols, ws.x_pixels, ws.y_pixels] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
                (WINSIZE, out)
            }
        };
        let mut out = Vec::with_capacity(payload.len() + 5);
        out.push(kind);
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&payload);
        out
    }

    /// Take the first complete message off the front of `pending` (bytes as they arrived);
    /// `None` while it holds less than one.
    pub fn take(pending: &mut Vec<u8>) -> Result<Option<Message>, BadFrame> {
        if pending.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_le_bytes([pending[1], pending[2], pending[3], pending[4]]) as usize;
        if len > MAX_PAYLOAD {
            return Err(BadFrame);
        }
        if pending.len() < 5 + len {
            return Ok(None);
        }
        let payload = &pending[5..5 + len];
        let message = match pending[0] {
            INPUT => Message::Input(payload.to_vec()),
            WINSIZE if len == 8 => {
                let v = |i: usize| u16::from_le_bytes([payload[i * 2], payload[i * 2 + 1]]);
                Message::WindowSize(WindowSize {
                    rows: v(0),
                    cols: v(1),
                    x_pixels: v(2),
                    y_pixels: v(3),
                })
            }
            _ => return Err(BadFrame),
        };
        pending.drain(..5 + len);
        Ok(Some(message))
    }
}

/// The caller's window size, when stdout is a terminal.
fn winsize() -> Option<WindowSize> {
    let ws = rustix::termios::tcgetwinsize(rustix::stdio::stdout()).ok()?;
    Some(WindowSize {
        rows: ws.ws_row,
        cols: ws.ws_col,
        x_pixels: ws.ws_xpixel,
        y_pixels: ws.ws_ypixel,
    })
}

/// Connect to the monitor of the running container in `dir`; an error when it has none (it
/// runs in the foreground of another duckc).
pub fn connect(dir: &Dir) -> std::io::Result<UnixStream> {
    let (_handle, path) = socket_path(dir)?;
    UnixStream::connect(&path)
}

/// The client's side: copy stdin to the monitor (with `send_input`) and the log's new output
/// to stdout until the container stops or, with `keys`, the detach keys are typed; true for a
/// detach. `log` is the container's log, read from where the client attached.
pub fn relay(dir: &Dir, log: &mut File, socket: &UnixStream, send_input: bool, keys: bool) -> bool {
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
                    let _ = socket_w.write_all(&Message::WindowSize(ws).encode());
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
            if socket_w.write_all(&Message::Input(input).encode()).is_err() {
                stdin_open = false;
            }
        }
    }
}

/// The monitor's side: wait for the container while serving attach clients. Output of a
/// terminal goes to `log`; what clients send goes to the terminal, or to `stdin` (the write
/// end of the container's stdin pipe, `-i` without `-t`). Returns the exit code.
pub(super) fn serve(
    dir: &Dir,
    child: &Child,
    log: &mut File,
    stdin: Option<std::io::PipeWriter>,
) -> i32 {
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
            None => !super::alive(Some(child.pid), None),
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
    crate::process::wait_code(child.pid).unwrap_or(255)
}

/// Act on the complete messages at the start of `pending` and keep the rest; false for a
/// client that sent something that is not a message (it is dropped).
fn deliver(pending: &mut Vec<u8>, input: Option<RawFd>, pty: Option<&OwnedFd>) -> bool {
    loop {
        match Message::take(pending) {
            Ok(None) => return true,
            Err(BadFrame) => return false,
            Ok(Some(Message::Input(data))) => {
                if let Some(fd) = input {
                    write_all(fd, &data);
                }
            }
            Ok(Some(Message::WindowSize(ws))) => {
                if let Some(m) = pty {
                    let ws = rustix::termios::Winsize {
                        ws_row: ws.rows,
                        ws_col: ws.cols,
                        ws_xpixel: ws.x_pixels,
                        ws_ypixel: ws.y_pixels,
                    };
                    let _ = rustix::termios::tcsetwinsize(m, ws);
                }
            }
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_as_the_protocol_writes_them() {
        let ws = Message::WindowSize(WindowSize {
            rows: 24,
            cols: 80,
            x_pixels: 0,
            y_pixels: 1,
        });
        assert_eq!(ws.encode(), [b'w', 8, 0, 0, 0, 24, 0, 80, 0, 0, 0, 1, 0]);
        assert_eq!(
            Message::Input(b"ls\n".to_vec()).encode(),
            [b'i', 3, 0, 0, 0, b'l', b's', b'\n']
        );
    }

    #[test]
    fn messages_are_taken_whole_as_they_arrive() {
        let input = Message::Input(b"echo hi\n".to_vec());
        let ws = Message::WindowSize(WindowSize {
            rows: 50,
            cols: 132,
            x_pixels: 0,
            y_pixels: 0,
        });
        let mut bytes = input.encode();
        bytes.extend(ws.encode());
        // Byte by byte: nothing until a message is complete, then exactly it.
        let mut pending = Vec::new();
        let mut got = Vec::new();
        for b in bytes {
            pending.push(b);
            while let Some(m) = Message::take(&mut pending).unwrap() {
                got.push(m);
            }
        }
        assert_eq!(got, [input, ws]);
        assert!(pending.is_empty());
    }

    #[test]
    fn what_is_not_a_message_is_refused() {
        // An unknown kind, a window size of the wrong length, a length past the bound.
        for bytes in [
            vec![b'x', 0, 0, 0, 0],
            vec![b'w', 2, 0, 0, 0, 1, 2],
            vec![b'i', 0, 0, 0x20, 0],
        ] {
            let mut pending = bytes;
            assert_eq!(Message::take(&mut pending), Err(BadFrame));
        }
    }
}
