//! A small netlink client: messages with (nested) attributes and a socket that sends a set of
//! them in one datagram and checks the kernel's answer to each. Just what [`super::rtnl`]
//! (links and addresses) and [`super::nftnl`] (nftables set elements and chains) need, so a
//! container start runs no `ip` or `nft` process.
//!
//! The kernel handles a netlink request in the sending thread, inside `sendmsg`: when it
//! returns, every answer is already queued on the socket. So answers are read without waiting,
//! and a request the kernel did not answer is an error instead of a hang.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `NLM_F_REQUEST`.
pub const F_REQUEST: u16 = 0x1;
/// `NLM_F_ACK`: answer with an `NLMSG_ERROR` carrying 0 on success.
pub const F_ACK: u16 = 0x4;
/// `NLM_F_EXCL`: fail when the object exists.
pub const F_EXCL: u16 = 0x200;
/// `NLM_F_CREATE`: make the object when missing.
pub const F_CREATE: u16 = 0x400;
/// `NLM_F_APPEND`: add at the end of a list (nftables rules).
pub const F_APPEND: u16 = 0x800;
/// `NLA_F_NESTED`: nfnetlink refuses nested attributes without this bit.
pub const NLA_F_NESTED: u16 = 0x8000;

const NLMSG_ERROR: u16 = 2;
const HEADER: usize = 16;

fn align(n: usize) -> usize {
    (n + 3) & !3
}

/// One netlink message being built: header, a fixed family header, attributes.
#[derive(Clone, Debug)]
pub struct Msg {
    buf: Vec<u8>,
    /// Start offsets of the attributes still open for nesting.
    open: Vec<usize>,
    /// Whether nested attributes carry [`NLA_F_NESTED`].
    flag_nested: bool,
}

impl Msg {
    /// A message of `kind` with `flags` ([`F_REQUEST`] is added); sequence number and port
    /// are set when it is sent.
    pub fn new(kind: u16, flags: u16) -> Msg {
        let mut buf = vec![0u8; HEADER];
        buf[4..6].copy_from_slice(&kind.to_ne_bytes());
        buf[6..8].copy_from_slice(&(flags | F_REQUEST).to_ne_bytes());
        Msg {
            buf,
            open: Vec::new(),
            flag_nested: false,
        }
    }

    /// Mark nested attributes with [`NLA_F_NESTED`] (nfnetlink's rule; rtnetlink, like
    /// iproute2, goes without).
    pub fn flag_nested(mut self) -> Msg {
        self.flag_nested = true;
        self
    }

    /// The family's fixed header (`ifinfomsg`, `ifaddrmsg`, `nfgenmsg`), padded.
    pub fn fixed(&mut self, bytes: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// An attribute with `data`, padded to four bytes.
    pub fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Msg {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// A NUL-terminated string attribute.
    pub fn str(&mut self, kind: u16, s: &str) -> &mut Msg {
        let mut data = s.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    /// A `u32` in host byte order (rtnetlink).
    pub fn u32(&mut self, kind: u16, v: u32) -> &mut Msg {
        self.attr(kind, &v.to_ne_bytes())
    }

    /// A `u32` in network byte order (nfnetlink).
    pub fn be32(&mut self, kind: u16, v: u32) -> &mut Msg {
        self.attr(kind, &v.to_be_bytes())
    }

    /// Open a nested attribute; close it with [`Msg::end`].
    pub fn nest(&mut self, kind: u16) -> &mut Msg {
        self.open.push(self.buf.len());
        let kind = if self.flag_nested {
            kind | NLA_F_NESTED
        } else {
            kind
        };
        self.attr(kind, &[])
    }

    /// Close the innermost open nested attribute.
    pub fn end(&mut self) -> &mut Msg {
        let start = self.open.pop().expect("`end` without `nest`");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    /// Append raw bytes inside the current attribute (the peer's `ifinfomsg` of a veth).
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Msg {
        self.buf.extend_from_slice(bytes);
        self.buf.resize(align(self.buf.len()), 0);
        self
    }

    /// Whether the kernel will answer this message (it asks for an ACK).
    fn acked(&self) -> bool {
        u16::from_ne_bytes([self.buf[6], self.buf[7]]) & F_ACK != 0
    }

    /// The finished bytes with sequence number `seq` (port 0: the kernel fills it in).
    pub fn bytes(&self, seq: u32) -> Vec<u8> {
        assert!(self.open.is_empty(), "a nested attribute is still open");
        let mut out = self.buf.clone();
        let len = out.len() as u32;
        out[0..4].copy_from_slice(&len.to_ne_bytes());
        out[8..12].copy_from_slice(&seq.to_ne_bytes());
        out
    }
}

/// The kernel's refusal of one message of a request.
#[derive(Debug, thiserror::Error)]
#[error("message {index} of {count}: {source}")]
pub struct Refused {
    /// The message's position in what was sent (0-based).
    pub index: usize,
    pub count: usize,
    #[source]
    pub source: io::Error,
}

impl Refused {
    /// The `errno` the kernel answered with.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }
}

/// A netlink socket of one protocol (`NETLINK_ROUTE`, `NETLINK_NETFILTER`), in the network
/// namespace of the thread that opened it.
pub struct Socket {
    fd: OwnedFd,
}

impl Socket {
    pub fn open(protocol: i32) -> io::Result<Socket> {
        // SAFETY: a plain socket call; the descriptor is owned right below.
        let fd = unsafe {
            libc::socket(
                libc::AF_NETLINK,
                libc::SOCK_RAW | libc::SOCK_CLOEXEC,
                protocol,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` is a fresh descriptor we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // Extended ACKs would only add text to each answer; errors are reported by errno.
        Ok(Socket { fd })
    }

    /// Send `msgs` in one datagram (numbered from 1) and check every answer: each message
    /// that asked for an ACK must get a zero one. The first refusal is returned.
    pub fn request(&self, msgs: &[Msg]) -> Result<(), Refused> {
        let count = msgs.len();
        let refused = |index: usize, source: io::Error| Refused {
            index,
            count,
            source,
        };
        let mut out = Vec::new();
        for (i, m) in msgs.iter().enumerate() {
            out.extend_from_slice(&m.bytes(i as u32 + 1));
        }
        // SAFETY: a zeroed sockaddr_nl is the kernel's address (pid 0, no groups).
        let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
        kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
        // SAFETY: `out` and `kernel` live for the call; the lengths are theirs.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                out.as_ptr().cast(),
                out.len(),
                0,
                (&raw const kernel).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if sent < 0 {
            return Err(refused(0, io::Error::last_os_error()));
        }
        let mut waiting: Vec<bool> = msgs.iter().map(Msg::acked).collect();
        let mut first_error: Option<Refused> = None;
        let mut buf = vec![0u8; 32 * 1024];
        loop {
            // SAFETY: `buf` is writable for its length.
            let n = unsafe {
                libc::recv(
                    self.fd.as_raw_fd(),
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    break;
                }
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(refused(0, e));
            }
            for (seq, errno) in acks(&buf[..n as usize]) {
                let Some(index) = (seq as usize).checked_sub(1).filter(|i| *i < count) else {
                    continue;
                };
                waiting[index] = false;
                if errno != 0 && first_error.is_none() {
                    first_error = Some(refused(index, io::Error::from_raw_os_error(-errno)));
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        if let Some(index) = waiting.iter().position(|w| *w) {
            return Err(refused(
                index,
                io::Error::other("the kernel did not answer"),
            ));
        }
        Ok(())
    }

    /// Close the socket in a detached process instead of in this one, for a caller whose
    /// `close` is on someone's wait: the kernel releases an nfnetlink socket only after the
    /// clean-up work of the last nftables commit, which waits for an RCU grace period (5–24 ms
    /// measured on a container's exit). Every request sent on it has been answered by then, so
    /// nothing the caller relies on is left to that process: it holds this descriptor only
    /// (no stdio: a caller reading duckc's output to its end does not wait for it), closes it
    /// once this process has dropped its copy, and exits. Nobody waits for it: it is cloned
    /// without an exit signal, and reaped by a later call or, once this process is gone, by
    /// init. If it cannot be made, the socket is closed here.
    ///
    /// The closer shares this process's memory (`CLONE_VM`) and runs on a stack of its own,
    /// so making it copies no page tables (a plain fork of the ~100 MB binary did, and this
    /// process then paid copy-on-write faults for what it wrote after); it touches nothing
    /// but its stack, which is freed once it has been reaped. It starts with every signal
    /// blocked, so none of this process's handlers can run in it, on this process's memory.
    pub fn close_detached(self) {
        struct Closer {
            pid: i32,
            _stack: Vec<u8>,
        }
        static CLOSERS: std::sync::Mutex<Vec<Closer>> = std::sync::Mutex::new(Vec::new());
        const STACK: usize = 64 * 1024;
        let mut closers = CLOSERS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        closers.retain(|c| {
            // SAFETY: reaping our own child if it is done; `__WALL` because it has no exit
            // signal.
            unsafe { libc::waitpid(c.pid, std::ptr::null_mut(), libc::WNOHANG | libc::__WALL) == 0 }
        });
        let Ok((gone_read, gone_write)) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        else {
            return;
        };
        // Both descriptors travel in the argument's bits: the closer reads no memory that
        // this process may change or free.
        let (sock, gone) = (self.fd.as_raw_fd(), gone_read.as_raw_fd());
        let arg = ((sock as u32 as usize) << 32) | gone as u32 as usize;
        let mut stack = vec![0u8; STACK];
        // SAFETY: the stack grows down from the end of `stack`, which outlives the child: it
        // is kept in `CLOSERS` until the child is reaped, and this process's memory stays the
        // child's (CLONE_VM takes a reference) after this process exits. The child runs
        // `closer`, which only makes system calls on values passed in `arg`, with every signal
        // blocked (the mask is inherited; this thread's is restored right after).
        let child = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            let top = stack.as_mut_ptr().add(STACK);
            let pid = libc::clone(closer, top.cast(), libc::CLONE_VM, arg as *mut libc::c_void);
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            pid
        };
        drop(self);
        drop(gone_read);
        drop(gone_write);
        if child > 0 {
            closers.push(Closer {
                pid: child,
                _stack: stack,
            });
        }
    }
}

/// The detached closer of [`Socket::close_detached`]: keep only the socket and the pipe (the
/// descriptors in `arg`), wait for end of file on the pipe (the runtime dropped its copy of
/// the socket, so this close is the last one), wait for an RCU grace period, close the
/// socket, exit.
///
/// Why the grace period: the kernel's release of an nfnetlink socket, when the clean-up
/// work of the last commit is still queued, waits for that work (itself an RCU grace period)
/// *holding the nftables commit lock*, and the next container's start needs that lock while
/// it holds the RTNL lock (registering its veth, nftables looks for netdev chains that name
/// it), which its init in turn needs to bring up its loopback: measured at load 8, 6.7 ms of
/// the next start. The work is queued before this closer exists, so after a grace period of
/// our own (`membarrier(MEMBARRIER_CMD_GLOBAL)`, which holds no lock) it has long been
/// taken off the queue, and the release finds nothing to wait for. That holds for one exit;
/// when containers start and end back to back, another commit is always younger than a grace
/// period, so the closer hands its socket to the keeper (`keeper.rs`) or becomes it, and the
/// releases wait until the starts stop.
///
/// Only raw system calls here (rustix and `syscall` on values that cannot fail), none of
/// which writes `errno`: the closer shares the parent's memory, thread-local `errno`
/// included.
extern "C" fn closer(arg: *mut libc::c_void) -> libc::c_int {
    let arg = arg as usize;
    let keep = [(arg >> 32) as u32, arg as u32];
    let (low, high) = (keep[0].min(keep[1]), keep[0].max(keep[1]));
    // SAFETY: system calls on plain values; nothing of the parent's memory is read. The two
    // descriptors are this process's own (its copy of the parent's table).
    unsafe {
        if low > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, low - 1, 0u32);
        }
        if high > low + 1 {
            libc::syscall(libc::SYS_close_range, low + 1, high - 1, 0u32);
        }
        if high < u32::MAX {
            libc::syscall(libc::SYS_close_range, high + 1, u32::MAX, 0u32);
        }
        // No signal is delivered here (all are blocked), so no EINTR either.
        let gone = std::os::fd::BorrowedFd::borrow_raw(keep[1] as i32);
        let mut byte = [0u8; 1];
        let _ = rustix::io::read(gone, &mut byte);
        // Left with the keeper while containers start and end back to back (or kept until
        // they stop, as the keeper), released here only when neither works.
        let sock = keep[0] as i32;
        if super::keeper::hand_over(super::keeper::SOCKET, sock) {
            rustix::io::close(sock);
            return 0;
        }
        if super::keeper::serve(
            super::keeper::SOCKET,
            super::keeper::LOCK,
            sock,
            super::keeper::IDLE_MS,
        ) {
            return 0;
        }
        let _ = rustix::thread::membarrier(rustix::thread::MembarrierCommand::Global);
        rustix::io::close(sock);
    }
    0
}

/// The (sequence number, error) of each `NLMSG_ERROR` answer in `buf` (error 0: an ACK).
pub fn acks(mut buf: &[u8]) -> Vec<(u32, i32)> {
    let mut out = Vec::new();
    while buf.len() >= HEADER {
        let len = u32::from_ne_bytes(buf[0..4].try_into().unwrap_or_default()) as usize;
        if len < HEADER || len > buf.len() {
            break;
        }
        let kind = u16::from_ne_bytes([buf[4], buf[5]]);
        if kind == NLMSG_ERROR && len >= HEADER + 4 + HEADER {
            let errno = i32::from_ne_bytes(buf[16..20].try_into().unwrap_or_default());
            // The answer quotes the header of the message it answers.
            let seq = u32::from_ne_bytes(buf[28..32].try_into().unwrap_or_default());
            out.push((seq, errno));
        }
        buf = &buf[align(len).min(buf.len())..];
    }
    out
}

/// The attributes of one level of `data` as (type without flags, payload).
pub fn attrs(mut data: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = u16::from_ne_bytes([data[0], data[1]]) as usize;
        let kind = u16::from_ne_bytes([data[2], data[3]]) & !NLA_F_NESTED & !0x4000;
        if len < 4 || len > data.len() {
            break;
        }
        out.push((kind, &data[4..len]));
        data = &data[align(len).min(data.len())..];
    }
    out
}

/// Bytes written as strace writes them (`\x34\x00...`), for the request-encoding tests of
/// the netlink families.
#[cfg(test)]
pub(crate) fn strace_hex(s: &str) -> Vec<u8> {
    s.split("\\x")
        .filter(|h| !h.is_empty())
        .map(|h| u8::from_str_radix(h, 16).unwrap())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_padded_and_nests_measured() {
        let mut m = Msg::new(16, F_ACK).flag_nested();
        m.fixed(&[1, 2, 3]).str(3, "ab").nest(18).u32(1, 7).end();
        let b = m.bytes(9);
        assert_eq!(b.len(), 16 + 4 + 8 + 4 + 8);
        assert_eq!(
            u32::from_ne_bytes(b[0..4].try_into().unwrap()),
            b.len() as u32
        );
        assert_eq!(u16::from_ne_bytes([b[6], b[7]]), F_REQUEST | F_ACK);
        assert_eq!(u32::from_ne_bytes(b[8..12].try_into().unwrap()), 9);
        let top = attrs(&b[20..]);
        assert_eq!(top.len(), 2);
        assert_eq!(top[0], (3, &b"ab\0"[..]));
        assert_eq!(top[1].0, 18);
        assert_eq!(u16::from_ne_bytes([b[30], b[31]]), 18 | NLA_F_NESTED);
        assert_eq!(attrs(top[1].1), vec![(1, &7u32.to_ne_bytes()[..])]);
    }

    #[test]
    fn answers_are_read_by_sequence_number() {
        // Two NLMSG_ERROR answers: an ACK for message 1, EEXIST for message 2.
        let answer = |seq: u32, errno: i32| {
            let mut m = Msg::new(NLMSG_ERROR, 0);
            let mut quoted = Msg::new(16, F_ACK).bytes(seq);
            quoted.truncate(HEADER);
            m.fixed(&errno.to_ne_bytes()).fixed(&quoted);
            m.bytes(seq)
        };
        let mut buf = answer(1, 0);
        buf.extend(answer(2, -libc::EEXIST));
        assert_eq!(acks(&buf), vec![(1, 0), (2, -libc::EEXIST)]);
    }
}
