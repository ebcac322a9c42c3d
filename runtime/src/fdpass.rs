//! Passing one descriptor over a Unix socket (`SCM_RIGHTS`): the init sends the container's
//! terminal to the host side, which receives it.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Calls `f` with a `msghdr` over one byte of data and a control buffer with room for one
/// descriptor; the buffers live until `f` returns.
fn with_fd_msghdr<T>(f: impl FnOnce(&mut libc::msghdr) -> T) -> T {
    let mut byte = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: byte.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE is a pure size computation.
    let space = unsafe { libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: msghdr is plain data; all-zero is a valid empty header.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    f(&mut msg)
}

/// Send descriptor `fd` over the Unix socket `socket`.
pub(crate) fn send_fd(socket: RawFd, fd: RawFd) -> std::io::Result<()> {
    with_fd_msghdr(|msg| {
        // SAFETY: the control buffer is CMSG_SPACE bytes for one descriptor, so its first
        // header and data are in bounds; every pointer in `msg` outlives the sendmsg call.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as _;
            std::ptr::write_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>(), fd);
            if libc::sendmsg(socket, msg, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(())
    })
}

/// Receive one descriptor; `None` when the peer closed without sending.
pub(crate) fn recv_fd(socket: &OwnedFd) -> Option<OwnedFd> {
    with_fd_msghdr(|msg| {
        // SAFETY: every pointer in `msg` outlives the recvmsg call; the descriptor is read
        // from a control message the kernel filled in, checked to be SCM_RIGHTS.
        unsafe {
            if libc::recvmsg(socket.as_raw_fd(), msg, libc::MSG_CMSG_CLOEXEC) <= 0 {
                return None;
            }
            let cmsg = libc::CMSG_FIRSTHDR(msg);
            if cmsg.is_null()
                || (*cmsg).cmsg_level != libc::SOL_SOCKET
                || (*cmsg).cmsg_type != libc::SCM_RIGHTS
            {
                return None;
            }
            let fd = std::ptr::read_unaligned(libc::CMSG_DATA(cmsg).cast::<RawFd>());
            Some(OwnedFd::from_raw_fd(fd))
        }
    })
}
