//! rtnetlink requests for the host side of a network: a bridge with its gateway address, a
//! veth pair whose peer is born in the container's network namespace, and link removal. Each
//! is the message `ip` sends for the same change (see the golden bytes in the tests), sent
//! over a `NETLINK_ROUTE` socket from duckc itself instead of an `ip` process per start.

use std::io;
use std::net::Ipv4Addr;

use super::netlink::{F_ACK, F_CREATE, F_EXCL, Msg, Refused, Socket};

const RTM_NEWLINK: u16 = 16;
const RTM_DELLINK: u16 = 17;
const RTM_NEWADDR: u16 = 20;

const IFLA_ADDRESS: u16 = 1;
const IFLA_IFNAME: u16 = 3;
const IFLA_MASTER: u16 = 10;
const IFLA_LINKINFO: u16 = 18;
const IFLA_NET_NS_PID: u16 = 19;
const IFLA_NUM_TX_QUEUES: u16 = 31;
const IFLA_NUM_RX_QUEUES: u16 = 32;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_INFO_DATA: u16 = 2;
const VETH_INFO_PEER: u16 = 1;

const IFA_ADDRESS: u16 = 1;
const IFA_LOCAL: u16 = 2;

const IFF_UP: u32 = libc::IFF_UP as u32;

/// `struct ifinfomsg`: family, type, index, flags, change.
fn ifinfomsg(index: u32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

/// `RTM_NEWLINK` for a new bridge `name`, up.
pub fn bridge_msg(name: &str) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, F_ACK | F_EXCL | F_CREATE);
    m.fixed(&ifinfomsg(0, IFF_UP, IFF_UP))
        .str(IFLA_IFNAME, name)
        .nest(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, b"bridge")
        .end();
    m
}

/// `RTM_NEWADDR` of `addr/prefix` on interface `index` (local and peer address the same, no
/// broadcast: what `ip addr add A/N dev X` asks for).
pub fn address_msg(index: u32, addr: Ipv4Addr, prefix: u8) -> Msg {
    let mut m = Msg::new(RTM_NEWADDR, F_ACK | F_EXCL | F_CREATE);
    let mut ifa = [0u8; 8];
    ifa[0] = libc::AF_INET as u8;
    ifa[1] = prefix;
    ifa[4..8].copy_from_slice(&index.to_ne_bytes());
    m.fixed(&ifa)
        .attr(IFA_LOCAL, &addr.octets())
        .attr(IFA_ADDRESS, &addr.octets());
    m
}

/// `RTM_NEWLINK` for the veth pair `host` (enslaved to the bridge with index `master`, up) /
/// `peer` (with `mac`, made in the network namespace of process `pid`): `ip link add HOST
/// numtxqueues 1 numrxqueues 1 type veth peer name PEER address MAC numtxqueues 1
/// numrxqueues 1 netns PID` and `ip link set HOST master BRIDGE up` in one message.
///
/// One queue each way is what the kernel leaves a veth with anyway, but when the request
/// does not say so it first allocates one per possible CPU and then cuts them down to one,
/// and cutting a registered device's queues waits for an expedited RCU grace period, once
/// per end, under the RTNL lock (`veth_init_queues`, `netif_set_real_num_tx_queues`):
/// 1.2–7.5 ms a pair measured here, during which the container's init, bringing up its
/// loopback, waits for the same lock.
pub fn veth_msg(host: &str, master: u32, peer: &str, mac: [u8; 6], pid: i32) -> Msg {
    let mut m = Msg::new(RTM_NEWLINK, F_ACK | F_EXCL | F_CREATE);
    m.fixed(&ifinfomsg(0, IFF_UP, IFF_UP))
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .str(IFLA_IFNAME, host)
        .u32(IFLA_MASTER, master)
        .nest(IFLA_LINKINFO)
        .attr(IFLA_INFO_KIND, b"veth")
        .nest(IFLA_INFO_DATA)
        .nest(VETH_INFO_PEER)
        .raw(&ifinfomsg(0, 0, 0))
        .attr(IFLA_ADDRESS, &mac)
        .u32(IFLA_NUM_TX_QUEUES, 1)
        .u32(IFLA_NUM_RX_QUEUES, 1)
        .u32(IFLA_NET_NS_PID, pid as u32)
        .str(IFLA_IFNAME, peer)
        .end()
        .end()
        .end();
    m
}

/// `RTM_DELLINK` of the interface `name`.
pub fn delete_msg(name: &str) -> Msg {
    let mut m = Msg::new(RTM_DELLINK, F_ACK);
    m.fixed(&ifinfomsg(0, 0, 0)).str(IFLA_IFNAME, name);
    m
}

/// Send one request on a fresh `NETLINK_ROUTE` socket (of this thread's network namespace).
fn send(msgs: &[Msg]) -> Result<(), Refused> {
    let sock = Socket::open(libc::NETLINK_ROUTE).map_err(|source| Refused {
        index: 0,
        count: msgs.len(),
        source,
    })?;
    sock.request(msgs)
}

/// The index of interface `name`, when it exists.
pub fn index_of(name: &str) -> Option<u32> {
    let c = std::ffi::CString::new(name).ok()?;
    // SAFETY: `c` is a valid C string for the call.
    let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
    (i != 0).then_some(i)
}

/// Make the bridge `name`, up, with `addr/prefix`.
pub fn add_bridge(name: &str, addr: Ipv4Addr, prefix: u8) -> io::Result<()> {
    send(&[bridge_msg(name)]).map_err(|e| e.source)?;
    let index = index_of(name).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))?;
    send(&[address_msg(index, addr, prefix)]).map_err(|e| e.source)
}

/// Make the veth pair `host` (on bridge `bridge`, up) / `peer` (in the network namespace of
/// `pid`, with `mac`); returns the host side's index.
pub fn add_veth(host: &str, bridge: &str, peer: &str, mac: [u8; 6], pid: i32) -> io::Result<u32> {
    let master = index_of(bridge)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no bridge `{bridge}`")))?;
    send(&[veth_msg(host, master, peer, mac, pid)]).map_err(|e| e.source)?;
    index_of(host).ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
}

/// Remove the interface `name` (`ENODEV` when there is none).
pub fn delete(name: &str) -> io::Result<()> {
    send(&[delete_msg(name)]).map_err(|e| e.source)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::netlink::attrs;

    use crate::net::netlink::strace_hex as hex;

    fn body(m: &Msg) -> Vec<u8> {
        m.bytes(0)[16..].to_vec()
    }

    #[test]
    fn bridge_and_address_are_what_ip_sends() {
        // `ip link add name br0 type bridge` (plus up, which `ip link set br0 up` sends
        // separately), from `strace -xx` of iproute2 6.1.
        let mut want = ifinfomsg(0, 1, 1).to_vec();
        want.extend(hex("\\x08\\x00\\x03\\x00\\x62\\x72\\x30\\x00"));
        want.extend(hex(
            "\\x10\\x00\\x12\\x00\\x0a\\x00\\x01\\x00\\x62\\x72\\x69\\x64\\x67\\x65\\x00\\x00",
        ));
        assert_eq!(body(&bridge_msg("br0")), want);

        // `ip addr add 10.199.0.1/24 dev br0` with br0 at index 7.
        let mut want = vec![2, 24, 0, 0, 7, 0, 0, 0];
        want.extend(hex("\\x08\\x00\\x02\\x00\\x0a\\xc7\\x00\\x01"));
        want.extend(hex("\\x08\\x00\\x01\\x00\\x0a\\xc7\\x00\\x01"));
        let m = address_msg(7, Ipv4Addr::new(10, 199, 0, 1), 24);
        assert_eq!(body(&m), want);
        let flags = u16::from_ne_bytes([m.bytes(0)[6], m.bytes(0)[7]]);
        assert_eq!(flags, 0x1 | F_ACK | F_EXCL | F_CREATE);
    }

    #[test]
    fn veth_is_what_ip_sends_plus_master_and_up() {
        // `ip link add dkabc numtxqueues 1 numrxqueues 1 type veth peer name eth0 address
        // 02:42:0a:c7:00:02 numtxqueues 1 numrxqueues 1 netns 355`, from `strace -xx` of
        // iproute2 6.1: IFLA_INFO_DATA holds VETH_INFO_PEER, which is an ifinfomsg followed by
        // the peer's attributes.
        let peer_data = hex(
            "\\x44\\x00\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\
             \\x00\\x00\\x00\\x00\\x0a\\x00\\x01\\x00\\x02\\x42\\x0a\\xc7\\x00\\x02\\x00\\x00\
             \\x08\\x00\\x1f\\x00\\x01\\x00\\x00\\x00\\x08\\x00\\x20\\x00\\x01\\x00\\x00\\x00\
             \\x08\\x00\\x13\\x00\\x63\\x01\\x00\\x00\\x09\\x00\\x03\\x00\\x65\\x74\\x68\\x30\
             \\x00\\x00\\x00\\x00",
        );
        let m = veth_msg("dkabc", 2, "eth0", [2, 0x42, 10, 199, 0, 2], 355);
        let b = body(&m);
        assert_eq!(&b[..16], &ifinfomsg(0, 1, 1));
        let top = attrs(&b[16..]);
        let kinds: Vec<u16> = top.iter().map(|a| a.0).collect();
        assert_eq!(
            kinds,
            [
                IFLA_NUM_TX_QUEUES,
                IFLA_NUM_RX_QUEUES,
                IFLA_IFNAME,
                IFLA_MASTER,
                IFLA_LINKINFO
            ]
        );
        assert_eq!(top[0].1, 1u32.to_ne_bytes());
        assert_eq!(top[1].1, 1u32.to_ne_bytes());
        assert_eq!(top[2].1, b"dkabc\0");
        assert_eq!(top[3].1, 2u32.to_ne_bytes());
        let info = attrs(top[4].1);
        assert_eq!(info[0], (IFLA_INFO_KIND, &b"veth"[..]));
        assert_eq!(info[1].0, IFLA_INFO_DATA);
        assert_eq!(info[1].1, &peer_data[..]);
    }

    #[test]
    fn delete_names_the_link() {
        let b = body(&delete_msg("dkabc"));
        assert_eq!(&b[..16], &[0; 16]);
        assert_eq!(attrs(&b[16..]), vec![(IFLA_IFNAME, &b"dkabc\0"[..])]);
    }
}
