//! The container's side of a network: the init gives `eth0` (made by the host side in this
//! network namespace) its address, brings it up and adds the default route, with the same
//! interface ioctls `ifconfig` and `route` use (no netlink, no helper process).

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::Inside;

/// The interface the host side puts into the container.
pub const IFNAME: &str = "eth0";

/// `struct rtentry` of `<net/route.h>` (libc has it only for musl).
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_pad4: *mut libc::c_void,
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr have the same size; the bytes are a valid sockaddr.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn ifreq(name: &str) -> libc::ifreq {
    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req
}

fn check(what: &str, r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{what}: {e}")))
    } else {
        Ok(())
    }
}

/// Configure `eth0` as `net` says: address, netmask, up, default route via the gateway.
pub fn configure(net: &Inside) -> io::Result<()> {
    // SAFETY: a plain socket call; the descriptor is owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    check("socket", fd)?;
    // SAFETY: `fd` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let s = sock.as_raw_fd();

    let mut req = ifreq(IFNAME);
    req.ifr_ifru.ifru_addr = sockaddr(net.address);
    // SAFETY: the ioctls read `req`, which lives for each call.
    check("cannot set eth0's address", unsafe {
        libc::ioctl(s, libc::SIOCSIFADDR, &req)
    })?;
    let mask = Ipv4Addr::from(u32::MAX << (32 - u32::from(net.prefix)));
    let mut req = ifreq(IFNAME);
    req.ifr_ifru.ifru_netmask = sockaddr(mask);
    // SAFETY: as above.
    check("cannot set eth0's netmask", unsafe {
        libc::ioctl(s, libc::SIOCSIFNETMASK, &req)
    })?;
    let mut req = ifreq(IFNAME);
    // SAFETY: SIOCGIFFLAGS fills `req`.
    check("cannot read eth0's flags", unsafe {
        libc::ioctl(s, libc::SIOCGIFFLAGS, &mut req)
    })?;
    // SAFETY: the flags member is the one SIOCGIFFLAGS filled in.
    unsafe {
        req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    }
    // SAFETY: SIOCSIFFLAGS reads `req`.
    check("cannot bring eth0 up", unsafe {
        libc::ioctl(s, libc::SIOCSIFFLAGS, &req)
    })?;
    let mut route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr(Ipv4Addr::UNSPECIFIED),
        rt_gateway: sockaddr(net.gateway),
        rt_genmask: sockaddr(Ipv4Addr::UNSPECIFIED),
        rt_flags: libc::RTF_UP | libc::RTF_GATEWAY,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_pad4: std::ptr::null_mut(),
        rt_metric: 0,
        rt_dev: std::ptr::null_mut(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    // SAFETY: SIOCADDRT reads the rtentry, which lives for the call.
    check("cannot add the default route", unsafe {
        libc::ioctl(s, libc::SIOCADDRT, &mut route)
    })
}
