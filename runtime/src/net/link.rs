//! Host-side links: a network's bridge, a container's veth pair, the route clash check and
//! IPv4 forwarding, through rtnetlink from duckc itself ([`super::rtnl`]: no `ip` process).

use std::net::Ipv4Addr;
use std::path::Path;

use super::{NetError, NetworkDef, Result, Subnet, io_err, rtnl};

/// Whether the host has a network interface `name`.
pub fn exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The host's IPv4 routes as (subnet, device), from `/proc/net/route` (default routes left
/// out: every subnet is inside them).
pub fn host_routes() -> Vec<(Subnet, String)> {
    let text = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    let hex = |s: &str| u32::from_str_radix(s, 16).ok().map(u32::from_be);
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (dest, mask) = (hex(f.get(1)?)?, hex(f.get(7)?)?);
            if mask == 0 {
                return None;
            }
            Some((
                Subnet {
                    addr: Ipv4Addr::from(dest),
                    prefix: mask.count_ones() as u8,
                },
                f[0].to_owned(),
            ))
        })
        .collect()
}

/// The first host route (not on `bridge` itself) that overlaps `subnet`.
pub fn clash(subnet: &Subnet, bridge: &str) -> Option<(Subnet, String)> {
    host_routes()
        .into_iter()
        .find(|(s, dev)| dev != bridge && s.overlaps(subnet))
}

/// Make `net`'s bridge with the gateway address, unless it exists already (then check that it
/// has that address). The bridge stays when its containers go, as `docker0` does; `network
/// rm` removes a user network's.
pub fn ensure_bridge(net: &NetworkDef) -> Result<()> {
    let cidr = format!("{}/{}", net.subnet.gateway(), net.subnet.prefix);
    if exists(&net.bridge) {
        if address_of(&net.bridge) != Some((net.subnet.gateway(), net.subnet.prefix)) {
            return Err(NetError::BridgeAddress {
                bridge: net.bridge.clone(),
                want: cidr,
                network: net.name.clone(),
            });
        }
        return Ok(());
    }
    if let Some((route, dev)) = clash(&net.subnet, &net.bridge) {
        return Err(NetError::Clash {
            network: net.name.clone(),
            subnet: net.subnet.to_string(),
            route: route.to_string(),
            dev,
        });
    }
    if let Err(e) = rtnl::add_bridge(&net.bridge, net.subnet.gateway(), net.subnet.prefix) {
        // Another duckc made it at the same moment (the lock is per state directory).
        if !exists(&net.bridge) {
            return Err(NetError::Io {
                what: format!("cannot make the bridge `{}` ({cidr})", net.bridge),
                source: e,
            });
        }
    }
    // Published ports on 127.0.0.1 are DNATed to the container: the kernel only routes
    // packets with a loopback source out of an interface with route_localnet (see
    // docs/security.md for the guard rule that goes with it).
    set_sysctl(
        &format!("/proc/sys/net/ipv4/conf/{}/route_localnet", net.bridge),
        "1",
    )
}

/// The IPv4 address and prefix length of interface `name` (the `SIOCGIFADDR` and
/// `SIOCGIFNETMASK` ioctls: no process on the start path).
fn address_of(name: &str) -> Option<(Ipv4Addr, u8)> {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    // SAFETY: a plain socket call; the descriptor is owned right below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: `fd` is a fresh descriptor we own.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    let get = |request: libc::c_ulong| -> Option<Ipv4Addr> {
        // SAFETY: ifreq is plain old data; all-zero is a valid value.
        let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
        if name.len() >= req.ifr_name.len() {
            return None;
        }
        for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: the ioctl fills `req`, which lives for the call.
        if unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut req) } < 0 {
            return None;
        }
        // SAFETY: both requests fill the address member with a sockaddr_in.
        let sin: libc::sockaddr_in = unsafe { std::mem::transmute_copy(&req.ifr_ifru.ifru_addr) };
        Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
    };
    let addr = get(libc::SIOCGIFADDR)?;
    let mask = get(libc::SIOCGIFNETMASK)?;
    Some((addr, u32::from(mask).count_ones() as u8))
}

/// Remove the link `name` when it exists.
pub fn delete(name: &str) -> Result<()> {
    if !exists(name) {
        return Ok(());
    }
    match rtnl::delete(name) {
        Err(_) if !exists(name) => Ok(()),
        r => r.map_err(io_err(format!("cannot remove the link `{name}`"))),
    }
}

/// The container's MAC address, from its IPv4 address (as Docker does): stable for the
/// anti-spoofing rules, unique on the network.
pub fn mac_of(ip: Ipv4Addr) -> String {
    let o = ip.octets();
    format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3])
}

/// Make the veth pair `veth` (host side, on `bridge`, up) / `eth0` (in the network namespace
/// of `pid`, with the MAC [`mac_of`] gives `ip`), in one rtnetlink request; returns the host
/// side's interface index (the firewall's sets name the veth by it).
pub fn add_veth(veth: &str, bridge: &str, pid: i32, ip: Ipv4Addr) -> Result<u32> {
    rtnl::add_veth(
        veth,
        bridge,
        super::inside::IFNAME,
        super::firewall::mac_bytes(ip),
        pid,
    )
    .map_err(io_err(format!(
        "cannot make the veth pair `{veth}` on `{bridge}`"
    )))
}

fn set_sysctl(path: &str, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(io_err(format!("cannot write `{path}`")))
}

const FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";
const FORWARD_MARK: &str = "ip_forward-set-by-duckc";

/// Turn on IPv4 forwarding (containers' traffic to other hosts is routed), recording in the
/// state directory that duckc did, so [`restore_forwarding`] can turn it off again.
pub fn enable_forwarding(state: &Path) -> Result<()> {
    let now = std::fs::read_to_string(FORWARD).unwrap_or_default();
    if now.trim() == "1" {
        return Ok(());
    }
    std::fs::write(state.join(FORWARD_MARK), "")
        .map_err(io_err("cannot record the ip_forward change"))?;
    set_sysctl(FORWARD, "1")
}

/// Turn IPv4 forwarding off again when duckc turned it on and no container needs it.
pub fn restore_forwarding(state: &Path) {
    let mark = state.join(FORWARD_MARK);
    if mark.exists() {
        let _ = set_sysctl(FORWARD, "0");
        let _ = std::fs::remove_file(mark);
    }
}
