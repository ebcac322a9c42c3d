//! Where the detached closers of nfnetlink sockets ([`super::netlink::Socket::close_detached`])
//! leave their sockets while containers keep starting and ending: one of them stays as the
//! *keeper*, holds every socket the others pass it (`SCM_RIGHTS` over a Unix socket in root's
//! `/run/duckc/net/`), and closes them all once no socket came for [`IDLE_MS`].
//!
//! Why: the kernel's release of an nfnetlink socket waits, *holding the nftables commit lock*,
//! for the clean-up work of the latest nftables commit (`nft_rcv_nl_event` flushes it; the
//! work itself waits for an RCU grace period, 3–8 ms here). While containers start and end
//! back to back, the latest commit is never older than a grace period, so every release,
//! however late, made the next container's start wait: its veth's registration (nftables
//! looks for netdev chains naming it, under the RTNL lock, which the container's init then
//! waits for too), its firewall commit and its exit's commit. With the keeper nothing is
//! released until the burst is over. Measured (`run --rm` on the bridge, 60 runs back to back,
//! load 6): 20.6 ms with each closer releasing after one grace period, 11.8 ms with releases
//! held back.
//!
//! No daemon: the keeper is the closer that found none (it is a clone of a `duckc` process,
//! holding nothing else), it exits when idle, and a keeper killed with `kill -9` leaves a
//! socket file that the next one replaces (under `keeper.lock`, which only a live keeper
//! holds). Nothing depends on it: rules are final before a socket reaches it (every batch
//! on it is answered), and without it a closer releases its socket itself.
//!
//! Only raw system calls on stack buffers here: no allocation and no libc wrapper, since the
//! closer shares the memory of the process that made it, whose allocator's lock it must never
//! take and whose thread-local `errno` it must not write. rustix (no `errno`) where its
//! enabled features reach, and [`sys`] (a `syscall` instruction) for the socket calls; on
//! other architectures there is no keeper and each closer releases its own socket.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// The keeper's socket (root's: `/run/duckc/net` is 0700).
pub(crate) const SOCKET: &CStr = c"/run/duckc/net/keeper.sock";
/// Held (`flock`) by the live keeper, so one keeper serves at a time.
pub(crate) const LOCK: &CStr = c"/run/duckc/net/keeper.lock";
/// How long the keeper waits for another socket before it closes them all and exits.
pub(crate) const IDLE_MS: i32 = 500;
/// The most sockets one keeper holds; when full it closes them all and exits (the next
/// closer starts another).
const MAX_HELD: usize = 1000;

/// A system call with up to six arguments, without libc: the result, or `-errno`.
#[cfg(target_arch = "x86_64")]
unsafe fn sys(n: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for system call `n`.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") n as isize => ret,
            in("rdi") a[0], in("rsi") a[1], in("rdx") a[2],
            in("r10") a[3], in("r8") a[4], in("r9") a[5],
            lateout("rcx") _, lateout("r11") _,
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "aarch64")]
unsafe fn sys(n: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for system call `n`.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") n as usize,
            inlateout("x0") a[0] => ret,
            in("x1") a[1], in("x2") a[2], in("x3") a[3], in("x4") a[4], in("x5") a[5],
            options(nostack),
        );
    }
    ret
}

#[cfg(target_arch = "riscv64")]
unsafe fn sys(n: libc::c_long, a: [usize; 6]) -> isize {
    let ret: isize;
    // SAFETY: the caller passes arguments valid for system call `n`.
    unsafe {
        std::arch::asm!(
            "ecall",
            in("a7") n as usize,
            inlateout("a0") a[0] => ret,
            in("a1") a[1], in("a2") a[2], in("a3") a[3], in("a4") a[4], in("a5") a[5],
            options(nostack),
        );
    }
    ret
}

/// Whether this architecture has [`sys`] (otherwise there is no keeper).
const SUPPORTED: bool = cfg!(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
));

#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64"
)))]
unsafe fn sys(_: libc::c_long, _: [usize; 6]) -> isize {
    -(libc::ENOSYS as isize)
}

fn close(fd: RawFd) {
    // SAFETY: closing a descriptor of our own.
    unsafe { rustix::io::close(fd) };
}

fn address(path: &CStr) -> Option<(libc::sockaddr_un, usize)> {
    // SAFETY: an all-zero `sockaddr_un` is valid.
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.to_bytes_with_nul();
    if bytes.len() > addr.sun_path.len() {
        return None;
    }
    for (d, s) in addr.sun_path.iter_mut().zip(bytes) {
        *d = *s as libc::c_char;
    }
    Some((addr, std::mem::size_of::<libc::sa_family_t>() + bytes.len()))
}

/// A Unix `SOCK_SEQPACKET` socket (`extra`: more `SOCK_` flags).
fn unix_socket(extra: libc::c_int) -> Option<RawFd> {
    // SAFETY: socket(2) on plain values.
    let s = unsafe {
        sys(
            libc::SYS_socket,
            [
                libc::AF_UNIX as usize,
                (libc::SOCK_SEQPACKET | libc::SOCK_CLOEXEC | extra) as usize,
                0,
                0,
                0,
                0,
            ],
        )
    };
    (s >= 0).then_some(s as RawFd)
}

/// Pass `fd` to the keeper listening on `path`; true when the keeper has it (the caller
/// then closes its own copy, which releases nothing).
pub(crate) fn hand_over(path: &CStr, fd: RawFd) -> bool {
    if !SUPPORTED {
        return false;
    }
    let Some((addr, len)) = address(path) else {
        return false;
    };
    let Some(s) = unix_socket(0) else {
        return false;
    };
    // SAFETY: connect(2) with an address on our stack.
    let connected = unsafe {
        sys(
            libc::SYS_connect,
            [s as usize, (&raw const addr) as usize, len, 0, 0, 0],
        )
    } == 0;
    let sent = connected && send_fd(s, fd);
    close(s);
    sent
}

/// Send one byte with `fd` attached.
fn send_fd(s: RawFd, fd: RawFd) -> bool {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // Room for one descriptor, aligned for `cmsghdr`.
    let mut control = [0u64; 4];
    // SAFETY: all-zero is a valid `msghdr`; the buffers outlive the call; the CMSG macros
    // only compute addresses inside `control`.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as _;
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
        sys(
            libc::SYS_sendmsg,
            [
                s as usize,
                (&raw const msg) as usize,
                libc::MSG_NOSIGNAL as usize,
                0,
                0,
                0,
            ],
        ) == 1
    }
}

/// The descriptor attached to the one message on connection `c`, if any.
fn receive_fd(c: RawFd) -> Option<RawFd> {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut control = [0u64; 4];
    // SAFETY: as in `send_fd`; the kernel fills at most `msg_controllen` bytes.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = &raw mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        let n = sys(
            libc::SYS_recvmsg,
            [
                c as usize,
                (&raw mut msg) as usize,
                libc::MSG_CMSG_CLOEXEC as usize,
                0,
                0,
                0,
            ],
        );
        if n < 0 {
            return None;
        }
        let cmsg = libc::CMSG_FIRSTHDR(&raw const msg);
        if cmsg.is_null()
            || (*cmsg).cmsg_level != libc::SOL_SOCKET
            || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            || ((*cmsg).cmsg_len as usize)
                < libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize
        {
            return None;
        }
        Some(std::ptr::read_unaligned(
            libc::CMSG_DATA(cmsg).cast::<RawFd>(),
        ))
    }
}

/// The next connection on the (non-blocking) listening socket `s`, itself non-blocking with
/// `nonblocking`.
fn accept(s: RawFd, nonblocking: bool) -> Option<RawFd> {
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: accept4(2) without an address.
    let c = unsafe { sys(libc::SYS_accept4, [s as usize, 0, 0, flags as usize, 0, 0]) };
    (c >= 0).then_some(c as RawFd)
}

/// Whether `s` became readable within `ms` milliseconds.
fn readable(s: RawFd, ms: i32) -> bool {
    let mut p = libc::pollfd {
        fd: s,
        events: libc::POLLIN,
        revents: 0,
    };
    let t = libc::timespec {
        tv_sec: libc::time_t::from(ms / 1000),
        tv_nsec: libc::c_long::from(ms % 1000) * 1_000_000,
    };
    // SAFETY: ppoll(2) on one entry and a timeout on our stack, no signal mask.
    unsafe {
        sys(
            libc::SYS_ppoll,
            [(&raw mut p) as usize, 1, (&raw const t) as usize, 0, 0, 0],
        ) > 0
    }
}

/// Become the keeper on `path` (with `lock`), holding `first` and every socket passed to it,
/// until none came for `idle_ms` (or [`MAX_HELD`] are held); then close them all and return
/// true. False, with `first` untouched, when another keeper holds `lock` or the socket cannot
/// be made.
pub(crate) fn serve(path: &CStr, lock: &CStr, first: RawFd, idle_ms: i32) -> bool {
    use rustix::fs::{AtFlags, CWD, FlockOperation, Mode, OFlags};
    use std::os::fd::IntoRawFd;
    if !SUPPORTED {
        return false;
    }
    let Some((addr, len)) = address(path) else {
        return false;
    };
    let Ok(l) = rustix::fs::open(
        lock,
        OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
        Mode::from_raw_mode(0o600),
    ) else {
        return false;
    };
    if rustix::fs::flock(&l, FlockOperation::NonBlockingLockExclusive).is_err() {
        close(l.into_raw_fd());
        return false;
    }
    // A socket file left by a keeper that was killed: nobody listens on it.
    let _ = rustix::fs::unlinkat(CWD, path, AtFlags::empty());
    // Non-blocking: `accept` never waits (`readable` does), so a connection that went away
    // in between, or none left when draining, is no hang.
    let Some(s) = unix_socket(libc::SOCK_NONBLOCK) else {
        close(l.into_raw_fd());
        return false;
    };
    let old = rustix::process::umask(Mode::from_raw_mode(0o077));
    // SAFETY: bind(2) and listen(2) with an address on our stack.
    let listening = unsafe {
        sys(
            libc::SYS_bind,
            [s as usize, (&raw const addr) as usize, len, 0, 0, 0],
        ) == 0
            && sys(libc::SYS_listen, [s as usize, 128, 0, 0, 0, 0]) == 0
    };
    rustix::process::umask(old);
    if !listening {
        close(s);
        close(l.into_raw_fd());
        return false;
    }
    let mut held = [-1 as RawFd; MAX_HELD];
    held[0] = first;
    let mut count = 1;
    let take = |c: RawFd, held: &mut [RawFd; MAX_HELD], count: &mut usize| {
        if let Some(fd) = receive_fd(c) {
            if *count < MAX_HELD {
                held[*count] = fd;
                *count += 1;
            } else {
                close(fd);
            }
        }
        close(c);
    };
    // `misses` bounds a listening socket that keeps polling readable with nothing to accept.
    let mut misses = 0;
    while count < MAX_HELD && misses < 1000 && readable(s, idle_ms) {
        match accept(s, false) {
            Some(c) => take(c, &mut held, &mut count),
            None => misses += 1,
        }
    }
    // Closing: new closers find no socket (and then the lock taken, so they release their
    // own), and those already queued are taken in before the listening socket goes. A
    // sender between its `connect` and its `sendmsg` finds its connection gone and releases
    // its socket itself.
    let _ = rustix::fs::unlinkat(CWD, path, AtFlags::empty());
    while let Some(c) = accept(s, true) {
        take(c, &mut held, &mut count);
    }
    close(s);
    // One grace period first, so that the releases find the last commit's clean-up done
    // (see `netlink::closer`).
    let _ = rustix::thread::membarrier(rustix::thread::MembarrierCommand::Global);
    for fd in &held[..count] {
        close(*fd);
    }
    close(l.into_raw_fd());
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, IntoRawFd};

    /// A keeper takes what closers hand over and closes it all once idle; with no keeper a
    /// hand-over fails, and a second keeper does not start while one serves.
    #[test]
    fn keeps_sockets_until_idle() {
        let dir = tempfile::tempdir().unwrap();
        let path = std::ffi::CString::new(
            dir.path()
                .join("k.sock")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        let lock = std::ffi::CString::new(
            dir.path()
                .join("k.lock")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .unwrap();
        // Stand-ins for nfnetlink sockets: the write ends of pipes, whose read ends see end
        // of file once the last copy is closed.
        let (r1, w1) = rustix::pipe::pipe().unwrap();
        let (r2, w2) = rustix::pipe::pipe().unwrap();
        assert!(!hand_over(&path, w2.as_raw_fd()), "no keeper yet");
        let first = w1.into_raw_fd();
        let keeper = {
            let (path, lock) = (path.clone(), lock.clone());
            std::thread::spawn(move || serve(&path, &lock, first, 300))
        };
        while !dir.path().join("k.sock").exists() {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(!serve(&path, &lock, -1, 10), "one keeper at a time");
        assert!(hand_over(&path, w2.as_raw_fd()));
        drop(w2);
        // Held: no end of file yet on either pipe.
        let mut p = [
            libc::pollfd {
                fd: r1.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: r2.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: poll on our own descriptors.
        assert_eq!(unsafe { libc::poll(p.as_mut_ptr(), 2, 50) }, 0);
        assert!(keeper.join().unwrap());
        assert!(
            !dir.path().join("k.sock").exists(),
            "the socket goes with the keeper"
        );
        let mut buf = [0u8; 1];
        assert_eq!(rustix::io::read(&r1, &mut buf).unwrap(), 0);
        assert_eq!(rustix::io::read(&r2, &mut buf).unwrap(), 0);
    }
}
