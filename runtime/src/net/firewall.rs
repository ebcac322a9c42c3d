//! duckc's nftables tables (`table ip duckc`, `table netdev duckc`): NAT out of each network,
//! published ports, isolation between networks, and anti-spoofing on each container's port.
//!
//! The rules are static for a set of networks; what each container adds lives in sets and
//! maps (its published ports, its port's MAC and IPv4 address, its MAC for the veth-to-veth
//! `fwd`) and in one ingress chain on its veth that jumps to its network's chain. A start or
//! an exit changes only those, in one netlink transaction from duckc itself ([`add`],
//! [`remove`], through [`super::nftnl`]): no `nft` process, no cache fetch. The whole table is
//! rendered ([`render`]) and loaded with `nft -f` only when that cannot work: the first
//! container after boot, a network the loaded tables do not have yet (its map or chain is
//! missing, so the transaction fails), `network rm`, or any other refusal. So after every
//! change the tables are what [`render`] gives for the connected leases, give or take the
//! static rules of networks whose last container left since the last full load.
//!
//! Nothing outside these two tables is touched. Another tool's drop (Docker's `FORWARD`
//! policy, for one) still applies to forwarded packets; see `docs/containers.md`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::Ipv4Addr;

use super::nftnl::{Batch, Elem, IPV4, NETDEV, concat};
use super::{Lease, NetError, Proto, Result, command};

/// The name of both tables.
pub const TABLE: &str = "duckc";
/// The ingress chains' priority: before anything another tool hooks there.
const INGRESS_PRIORITY: i32 = -500;

fn proto_number(p: Proto) -> u8 {
    match p {
        Proto::Tcp => libc::IPPROTO_TCP as u8,
        Proto::Udp => libc::IPPROTO_UDP as u8,
    }
}

/// The MAC address [`super::link::mac_of`] gives `ip`, as bytes.
pub fn mac_bytes(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// The name of network `bridge`'s chain in `table netdev duckc`.
fn net_chain(bridge: &str) -> String {
    format!("net_{bridge}")
}

/// The name of network `bridge`'s `fwd` map (MAC to veth) in `table netdev duckc`.
fn fwd_map(bridge: &str) -> String {
    format!("fwd_{bridge}")
}

/// The map of published ports `l` needs and the key of `p` in it: `ports_any` (`proto .
/// port`) for a port on all of the host's addresses, `ports_addr` (`address . proto . port`)
/// for one on a single address.
fn port_key(p: &super::Port) -> (&'static str, Vec<u8>) {
    let proto = [proto_number(p.proto)];
    let port = p.host_port.to_be_bytes();
    if p.host_ip.is_unspecified() {
        ("ports_any", concat(&[&proto, &port]))
    } else {
        ("ports_addr", concat(&[&p.host_ip.octets(), &proto, &port]))
    }
}

/// The nft script that replaces duckc's tables with the rules for `leases` (or removes them
/// when there are none).
pub fn render(leases: &[Lease]) -> String {
    let mut out = String::from(
        "table ip duckc\ndelete table ip duckc\ntable netdev duckc\ndelete table netdev duckc\n",
    );
    if leases.is_empty() {
        return out;
    }
    // One entry per network in use: bridge -> subnet.
    let networks: BTreeMap<&str, String> = leases
        .iter()
        .map(|l| (l.network.bridge.as_str(), l.network.subnet.to_string()))
        .collect();
    let bridges: Vec<String> = networks.keys().map(|b| format!("\"{b}\"")).collect();
    let bridge_set = format!("{{ {} }}", bridges.join(", "));
    let elements = |out: &mut String, elems: &[String]| {
        if !elems.is_empty() {
            let _ = writeln!(out, "\t\telements = {{ {} }}", elems.join(", "));
        }
    };

    out.push_str("table ip duckc {\n");
    // Published ports: `ports_any` for those on all of the host's addresses, `ports_addr`
    // for those on one.
    let (mut any, mut one) = (Vec::new(), Vec::new());
    for l in leases {
        for p in &l.ports {
            let to = format!("{} . {}", l.address, p.container_port);
            if p.host_ip.is_unspecified() {
                any.push(format!("{} . {} : {to}", p.proto, p.host_port));
            } else {
                one.push(format!(
                    "{} . {} . {} : {to}",
                    p.host_ip, p.proto, p.host_port
                ));
            }
        }
    }
    out.push_str(
        "\tmap ports_any {\n\t\ttype inet_proto . inet_service : ipv4_addr . inet_service\n",
    );
    elements(&mut out, &any);
    out.push_str("\t}\n");
    out.push_str(
        "\tmap ports_addr {\n\t\ttype ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service\n",
    );
    elements(&mut out, &one);
    out.push_str("\t}\n");
    // A container's packets never reach the host's loopback services (route_localnet is on
    // for the bridges: CVE-2020-8558).
    out.push_str("\tchain guard {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
    let _ = writeln!(out, "\t\tiifname {bridge_set} ip daddr 127.0.0.0/8 drop");
    out.push_str("\t}\n");
    out.push_str(
        "\tchain ports {\n\
         \t\tdnat ip to ip daddr . meta l4proto . th dport map @ports_addr\n\
         \t\tdnat ip to meta l4proto . th dport map @ports_any\n\t}\n",
    );
    out.push_str(
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\
         \t\tfib daddr type local jump ports\n\t}\n",
    );
    out.push_str(
        "\tchain output {\n\t\ttype nat hook output priority -100; policy accept;\n\
         \t\tfib daddr type local jump ports\n\t}\n",
    );
    out.push_str(
        "\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n",
    );
    for (bridge, subnet) in &networks {
        // The host's own connections to a port published on 127.0.0.1, and a container's to
        // a published port of its own network (hairpin), come back through the host.
        let _ = writeln!(
            out,
            "\t\toifname \"{bridge}\" ip saddr 127.0.0.0/8 masquerade"
        );
        let _ = writeln!(
            out,
            "\t\toifname \"{bridge}\" ct status dnat ip saddr {subnet} masquerade"
        );
        let _ = writeln!(
            out,
            "\t\tip saddr {subnet} oifname != \"{bridge}\" masquerade"
        );
    }
    out.push_str("\t}\n");
    out.push_str(
        "\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n",
    );
    // Published ports are reachable from everywhere, as through the host; otherwise one
    // network's containers cannot reach another's.
    out.push_str("\t\tct status dnat accept\n");
    if networks.len() > 1 {
        for bridge in networks.keys() {
            let _ = writeln!(
                out,
                "\t\tiifname \"{bridge}\" oifname {bridge_set} oifname != \"{bridge}\" drop"
            );
        }
    }
    out.push_str("\t}\n}\n");

    // netdev ingress on each container's host-side veth: one base chain per veth that jumps
    // to its network's chain. There, first, a container's frames must carry its own MAC and
    // IPv4 address, and its ARP claim only them (`macs` and `addrs` pair each veth with its
    // container's): no ARP or IP spoofing of the gateway or of a neighbour. Then IPv4 frames
    // to a neighbour on the same network go straight to the neighbour's veth (`fwd` by the
    // network's own map), without the bridge: with `br_netfilter` loaded, bridged packets
    // cross the host's `ip` forward hook, where another tool's drop policy (Docker's
    // `FORWARD`) would silently eat them.
    out.push_str("table netdev duckc {\n");
    let macs: Vec<String> = leases
        .iter()
        .map(|l| format!("\"{}\" . {}", l.veth, super::link::mac_of(l.address)))
        .collect();
    let addrs: Vec<String> = leases
        .iter()
        .map(|l| format!("\"{}\" . {}", l.veth, l.address))
        .collect();
    out.push_str("\tset macs {\n\t\ttype iface_index . ether_addr\n");
    elements(&mut out, &macs);
    out.push_str("\t}\n\tset addrs {\n\t\ttype iface_index . ipv4_addr\n");
    elements(&mut out, &addrs);
    out.push_str("\t}\n");
    for bridge in networks.keys() {
        let fwd: Vec<String> = leases
            .iter()
            .filter(|l| l.network.bridge == *bridge)
            .map(|l| format!("{} : \"{}\"", super::link::mac_of(l.address), l.veth))
            .collect();
        let _ = writeln!(
            out,
            "\tmap {} {{\n\t\ttype ether_addr : iface_index",
            fwd_map(bridge)
        );
        elements(&mut out, &fwd);
        out.push_str("\t}\n");
        let _ = writeln!(
            out,
            "\tchain {} {{\n\
             \t\tiif . ether saddr != @macs drop\n\
             \t\tether type ip iif . ip saddr != @addrs drop\n\
             \t\tether type arp iif . arp saddr ip != @addrs drop\n\
             \t\tether type arp iif . arp saddr ether != @macs drop\n\
             \t\tether type ip fwd to ether daddr map @{}\n\t}}",
            net_chain(bridge),
            fwd_map(bridge)
        );
    }
    for l in leases {
        let _ = writeln!(
            out,
            "\tchain {v} {{\n\t\ttype filter hook ingress device \"{v}\" priority {INGRESS_PRIORITY}; policy accept;\n\
             \t\tjump {}\n\t}}",
            net_chain(&l.network.bridge),
            v = l.veth
        );
    }
    out.push_str("}\n");
    out
}

/// Whether a program is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
}

/// Whether this host's rules are duckc's iptables chains (no `nft`), and the marker that says
/// the iptables chains were last written (a later run with `nft` must remove them, which only
/// the full load does).
fn iptables_backend() -> bool {
    !on_path("nft") && on_path("iptables-restore")
}

fn iptables_marker() -> std::path::PathBuf {
    super::state_dir().join("iptables-in-use")
}

/// The transaction that adds connected lease `l`'s container: its ports, its veth's MAC and
/// address, its `fwd` entry, its ingress chain. It fails (and changes nothing) when the loaded
/// tables lack `l`'s network.
fn add_batch(l: &Lease) -> Batch {
    let mut b = Batch::new();
    let mac = mac_bytes(l.address);
    let index = l.ifindex.to_ne_bytes();
    for p in &l.ports {
        let (map, key) = port_key(p);
        let to = concat(&[&l.address.octets(), &p.container_port.to_be_bytes()]);
        b.add_elements(
            IPV4,
            TABLE,
            map,
            &[Elem {
                key,
                data: Some(to),
            }],
        );
    }
    b.add_elements(
        NETDEV,
        TABLE,
        "macs",
        &[Elem {
            key: concat(&[&index, &mac]),
            data: None,
        }],
    );
    b.add_elements(
        NETDEV,
        TABLE,
        "addrs",
        &[Elem {
            key: concat(&[&index, &l.address.octets()]),
            data: None,
        }],
    );
    b.add_elements(
        NETDEV,
        TABLE,
        &fwd_map(&l.network.bridge),
        &[Elem {
            key: mac.to_vec(),
            data: Some(index.to_vec()),
        }],
    );
    b.add_ingress_chain(TABLE, &l.veth, &l.veth, INGRESS_PRIORITY);
    b.add_jump(NETDEV, TABLE, &l.veth, &net_chain(&l.network.bridge));
    b
}

/// The transaction that takes the elements of the containers of `gone` out (their chains go
/// in batches of their own, see [`remove`]).
fn remove_batch(gone: &[Lease]) -> Batch {
    let mut b = Batch::new();
    for l in gone {
        let mac = mac_bytes(l.address);
        let index = l.ifindex.to_ne_bytes();
        for p in &l.ports {
            let (map, key) = port_key(p);
            b.delete_elements(IPV4, TABLE, map, &[key]);
        }
        b.delete_elements(NETDEV, TABLE, "macs", &[concat(&[&index, &mac])]);
        b.delete_elements(
            NETDEV,
            TABLE,
            "addrs",
            &[concat(&[&index, &l.address.octets()])],
        );
        b.delete_elements(NETDEV, TABLE, &fwd_map(&l.network.bridge), &[mac.to_vec()]);
    }
    b
}

/// Add connected lease `lease` to the rules; `connected` are all connected leases, `lease`
/// among them, for the full load when the transaction cannot do it.
pub fn add(lease: &Lease, connected: &[Lease]) -> Result<()> {
    if iptables_backend() || iptables_marker().exists() || lease.ifindex == 0 {
        return apply(connected);
    }
    match add_batch(lease).commit() {
        Ok(()) => Ok(()),
        Err(_) => apply(connected),
    }
}

/// Take the containers of `gone` (released leases) out of the rules; `connected` are the
/// connected leases left, for the full load when the transaction cannot do it.
///
/// Returns the nfnetlink socket the removal used, if any: every batch on it is answered (the
/// rules are final), but its release waits in the kernel for the commits' clean-up, so the
/// caller closes it with [`super::netlink::Socket::close_detached`], after it has released
/// the state lock (the detached closer starts with a copy of this process's descriptors,
/// the lock's among them, until it closes them).
pub fn remove(gone: &[Lease], connected: &[Lease]) -> Result<Option<super::netlink::Socket>> {
    let gone: Vec<Lease> = gone.iter().filter(|l| l.pid != 0).cloned().collect();
    if gone.is_empty() {
        return Ok(None);
    }
    if iptables_backend() || iptables_marker().exists() || gone.iter().any(|l| l.ifindex == 0) {
        return apply(connected).map(|()| None);
    }
    // One socket for every batch below (the one the start kept, when this process started
    // the container): each close of one is a wait in the kernel.
    let Ok(sock) = super::nftnl::kept() else {
        return apply(connected).map(|()| None);
    };
    let removed = (|| {
        // From Linux 6.16 a netdev chain outlives its device: the chains go in the elements'
        // batch, one commit (and one clean-up in the kernel) per exit instead of two. When
        // that batch is refused (a chain is gone after all), the two batches below.
        if crate::seccomp::Target::host().kernel >= (6, 16) {
            let mut b = remove_batch(&gone);
            for l in &gone {
                b.delete_chain(NETDEV, TABLE, &l.veth);
            }
            if b.commit_on(&sock).is_ok() {
                return Some(());
            }
        }
        remove_batch(&gone).commit_on(&sock).ok()?;
        for l in &gone {
            // Before Linux 6.16 the kernel deletes a netdev chain with its only device, which
            // goes with the container's network namespace: then there is nothing to delete
            // (ENOENT), hence a batch of its own whose refusal changes nothing else.
            let mut b = Batch::new();
            b.delete_chain(NETDEV, TABLE, &l.veth);
            if let Err(e) = b.commit_on(&sock)
                && e.errno() != Some(libc::ENOENT)
            {
                return None;
            }
        }
        Some(())
    })();
    // Every batch is answered: the rules are as they must be once this returns. Only the
    // socket's release, which waits for the commits' clean-up in the kernel, is left, and
    // it is left to the caller (see above).
    match removed {
        Some(()) => Ok(Some(sock)),
        None => {
            sock.close_detached();
            apply(connected).map(|()| None)
        }
    }
}

/// Replace duckc's tables with the rules for `leases` (those whose veth exists: a netdev
/// chain cannot name a missing device). A container that ends meanwhile makes the load fail
/// once; the second try leaves it out. Without `nft`, duckc's iptables chains instead.
pub fn apply(leases: &[Lease]) -> Result<()> {
    let load = || {
        let present: Vec<Lease> = leases
            .iter()
            .filter(|l| super::link::exists(&l.veth))
            .cloned()
            .collect();
        // Which backend last wrote rules: a later run with the other one removes them.
        let marker = iptables_marker();
        if iptables_backend() {
            iptables::apply(&present)?;
            if present.is_empty() {
                let _ = std::fs::remove_file(&marker);
            } else {
                let _ = std::fs::write(&marker, "");
            }
            return Ok(());
        }
        command("nft", &["-f", "-"], Some(&render(&present)))?;
        if marker.exists() && on_path("iptables") {
            iptables::apply(&[])?;
            let _ = std::fs::remove_file(&marker);
        }
        Ok::<(), NetError>(())
    };
    load().or_else(|_| load())
}

/// The fallback for hosts without `nft`: duckc's own chains (`DUCKC-*`) in the `raw`, `nat`
/// and `filter` tables, filled by one `iptables-restore --noflush` (which empties a chain it
/// declares), and one jump to each from the built-in chain it serves. There is no `netdev`
/// family here: no anti-spoofing, and traffic between containers crosses the `FORWARD` chain,
/// where duckc's jump comes first.
pub mod iptables {
    use std::collections::BTreeMap;
    use std::fmt::Write;

    use super::super::{Lease, Result, command};

    /// (table, built-in chain, duckc's chain, the jump's match, insert first).
    const JUMPS: [(&str, &str, &str, &str, bool); 5] = [
        ("raw", "PREROUTING", "DUCKC-GUARD", "", true),
        (
            "nat",
            "PREROUTING",
            "DUCKC-PORTS",
            "-m addrtype --dst-type LOCAL",
            false,
        ),
        (
            "nat",
            "OUTPUT",
            "DUCKC-PORTS",
            "-m addrtype --dst-type LOCAL",
            false,
        ),
        ("nat", "POSTROUTING", "DUCKC-POST", "", false),
        ("filter", "FORWARD", "DUCKC-FWD", "", true),
    ];

    /// The `iptables-restore --noflush` input for `leases`.
    pub fn render(leases: &[Lease]) -> String {
        let networks: BTreeMap<&str, String> = leases
            .iter()
            .map(|l| (l.network.bridge.as_str(), l.network.subnet.to_string()))
            .collect();
        let mut out = String::from("*raw\n:DUCKC-GUARD - [0:0]\n");
        for b in networks.keys() {
            let _ = writeln!(out, "-A DUCKC-GUARD -i {b} -d 127.0.0.0/8 -j DROP");
        }
        out.push_str("COMMIT\n*nat\n:DUCKC-PORTS - [0:0]\n:DUCKC-POST - [0:0]\n");
        for l in leases {
            for p in &l.ports {
                let daddr = if p.host_ip.is_unspecified() {
                    String::new()
                } else {
                    format!("-d {}/32 ", p.host_ip)
                };
                let _ = writeln!(
                    out,
                    "-A DUCKC-PORTS {daddr}-p {proto} -m {proto} --dport {hp} -j DNAT --to-destination {ip}:{cp}",
                    proto = p.proto,
                    hp = p.host_port,
                    ip = l.address,
                    cp = p.container_port
                );
            }
        }
        for (b, subnet) in &networks {
            let _ = writeln!(out, "-A DUCKC-POST -o {b} -s 127.0.0.0/8 -j MASQUERADE");
            let _ = writeln!(
                out,
                "-A DUCKC-POST -o {b} -s {subnet} -m conntrack --ctstate DNAT -j MASQUERADE"
            );
            let _ = writeln!(out, "-A DUCKC-POST -s {subnet} ! -o {b} -j MASQUERADE");
        }
        out.push_str("COMMIT\n*filter\n:DUCKC-FWD - [0:0]\n");
        out.push_str("-A DUCKC-FWD -m conntrack --ctstate DNAT -j ACCEPT\n");
        for b in networks.keys() {
            for other in networks.keys().filter(|o| *o != b) {
                let _ = writeln!(out, "-A DUCKC-FWD -i {b} -o {other} -j DROP");
            }
            let _ = writeln!(out, "-A DUCKC-FWD -i {b} -j ACCEPT");
            let _ = writeln!(
                out,
                "-A DUCKC-FWD -o {b} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
            );
        }
        out.push_str("COMMIT\n");
        out
    }

    fn jump_args<'a>(
        op: &'a str,
        (table, chain, target, matches, _): &'a (&str, &str, &str, &str, bool),
    ) -> Vec<&'a str> {
        let mut args = vec!["-w", "-t", table, op, chain];
        args.extend(matches.split_whitespace());
        args.extend(["-j", target]);
        args
    }

    /// Load the chains for `leases` and make sure each jump is there once; with no leases,
    /// remove the jumps and the chains.
    pub fn apply(leases: &[Lease]) -> Result<()> {
        if leases.is_empty() {
            for j in &JUMPS {
                while command("iptables", &jump_args("-D", j), None).is_ok() {}
            }
            for (table, chain) in [
                ("raw", "DUCKC-GUARD"),
                ("nat", "DUCKC-PORTS"),
                ("nat", "DUCKC-POST"),
                ("filter", "DUCKC-FWD"),
            ] {
                let _ = command("iptables", &["-w", "-t", table, "-F", chain], None);
                let _ = command("iptables", &["-w", "-t", table, "-X", chain], None);
            }
            return Ok(());
        }
        command(
            "iptables-restore",
            &["-w", "--noflush"],
            Some(&render(leases)),
        )?;
        for j in &JUMPS {
            if command("iptables", &jump_args("-C", j), None).is_err() {
                let op = if j.4 { "-I" } else { "-A" };
                command("iptables", &jump_args(op, j), None)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::{NetworkDef, Port, Proto, Subnet};
    use std::net::Ipv4Addr;

    fn lease(bridge: &str, subnet: &str, ip: [u8; 4], ports: Vec<Port>) -> Lease {
        Lease {
            network: NetworkDef {
                name: bridge.into(),
                bridge: bridge.into(),
                subnet: Subnet::parse(subnet).unwrap(),
            },
            address: Ipv4Addr::from(ip),
            container: "c".into(),
            name: "n".into(),
            hostname: "h".into(),
            aliases: vec![],
            ports,
            veth: format!("dk{}x{}", ip[2], ip[3]),
            ifindex: 3,
            pid: 1,
            pid_start: 0,
            created: 0,
            hosts_base: String::new(),
            hosts_file: "/x".into(),
        }
    }

    #[test]
    fn iptables_fallback_rules() {
        let p = Port {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Udp,
        };
        let text = iptables::render(&[
            lease("duckc0", "10.199.0.0/24", [10, 199, 0, 2], vec![p]),
            lease("duckc-ab", "10.199.1.0/24", [10, 199, 1, 2], vec![]),
        ]);
        insta::assert_snapshot!(text);
    }

    #[test]
    fn no_leases_no_tables() {
        assert_eq!(
            render(&[]),
            "table ip duckc\ndelete table ip duckc\ntable netdev duckc\ndelete table netdev duckc\n"
        );
    }

    #[test]
    fn rules_for_two_networks() {
        let p = Port {
            host_ip: Ipv4Addr::LOCALHOST,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        };
        let text = render(&[
            lease("duckc0", "10.199.0.0/24", [10, 199, 0, 2], vec![p]),
            lease("duckc-ab", "10.199.1.0/24", [10, 199, 1, 2], vec![]),
        ]);
        insta::assert_snapshot!(text);
    }

    /// `nft list table FAMILY duckc` with whitespace collapsed and the elements of each set
    /// sorted (a set's listing order is its hash table's, which differs between two loads).
    fn listing(family: &str) -> String {
        let out = std::process::Command::new("nft")
            .args(["list", "table", family, TABLE])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let flat = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        let mut norm = String::new();
        let mut rest = flat.as_str();
        while let Some(i) = rest.find("elements = { ") {
            norm.push_str(&rest[..i + 13]);
            rest = &rest[i + 13..];
            let j = rest.find(" }").unwrap();
            let mut elems: Vec<&str> = rest[..j].split(", ").collect();
            elems.sort_unstable();
            norm.push_str(&elems.join(", "));
            rest = &rest[j..];
        }
        norm.push_str(rest);
        norm
    }

    fn tables() -> String {
        format!("{}\n{}", listing("ip"), listing("netdev"))
    }

    fn load(leases: &[Lease]) {
        command("nft", &["-f", "-"], Some(&render(leases))).unwrap();
    }

    /// Root only, in a network namespace of this test thread's own: links made over
    /// rtnetlink are what `ip` shows, and after each netlink transaction (a container added,
    /// one removed) duckc's tables list exactly as a full `nft -f` load of the same leases.
    #[test]
    fn transactions_leave_what_a_full_load_gives() {
        if !rustix::process::geteuid().is_root() || !on_path("nft") || !on_path("ip") {
            let ci = std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "under CI this test must run: it needs root, `nft` and `ip`"
            );
            eprintln!("skipped: needs root, `nft` and `ip`");
            return;
        }
        use crate::net::rtnl;
        // SAFETY: unshare of the network namespace affects this thread only.
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0);
        let ip_json = |args: &[&str]| -> serde_json::Value {
            let out = std::process::Command::new("ip")
                .args(args)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            serde_json::from_slice(&out.stdout).unwrap()
        };

        // Two networks' bridges, with their gateways, up.
        rtnl::add_bridge("duckc0", Ipv4Addr::new(10, 199, 0, 1), 24).unwrap();
        rtnl::add_bridge("duckc-x", Ipv4Addr::new(10, 199, 1, 1), 24).unwrap();
        let addr = ip_json(&["-j", "addr", "show", "dev", "duckc0"]);
        let info = &addr[0]["addr_info"][0];
        assert_eq!(info["local"], "10.199.0.1", "{addr}");
        assert_eq!(info["prefixlen"], 24, "{addr}");
        assert_eq!(info["family"], "inet", "{addr}");
        assert!(
            info.get("broadcast").is_none(),
            "`ip addr add` sets none: {addr}"
        );
        let flags = addr[0]["flags"].as_array().unwrap();
        assert!(flags.iter().any(|f| f == "UP"), "{addr}");

        // "Containers": one process in a network namespace of its own takes every peer.
        let mut child = std::process::Command::new("unshare")
            .args(["--net", "sleep", "60"])
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let own = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
        while std::fs::read_link(format!("/proc/{pid}/ns/net"))
            .ok()
            .as_ref()
            == Some(&own)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let port = |ip: Ipv4Addr, hp: u16, cp: u16, proto: Proto| Port {
            host_ip: ip,
            host_port: hp,
            container_port: cp,
            proto,
        };
        let plug = |bridge: &str, subnet: &str, ip: [u8; 4], peer: &str, ports: Vec<Port>| {
            let mut l = lease(bridge, subnet, ip, ports);
            l.ifindex =
                rtnl::add_veth(&l.veth, bridge, peer, mac_bytes(Ipv4Addr::from(ip)), pid).unwrap();
            l
        };
        let a = plug(
            "duckc0",
            "10.199.0.0/24",
            [10, 199, 0, 2],
            "eth0",
            vec![port(Ipv4Addr::LOCALHOST, 8080, 80, Proto::Tcp)],
        );
        let b = plug(
            "duckc0",
            "10.199.0.0/24",
            [10, 199, 0, 3],
            "eth1",
            vec![port(Ipv4Addr::UNSPECIFIED, 5353, 53, Proto::Udp)],
        );
        let c = plug("duckc-x", "10.199.1.0/24", [10, 199, 1, 2], "eth2", vec![]);
        let link = ip_json(&["-j", "link", "show", "dev", &b.veth]);
        assert_eq!(link[0]["master"], "duckc0", "{link}");
        assert!(
            link[0]["flags"]
                .as_array()
                .unwrap()
                .iter()
                .any(|f| f == "UP"),
            "{link}"
        );
        let peer = std::process::Command::new("nsenter")
            .args([
                "-t",
                &pid.to_string(),
                "-n",
                "ip",
                "-j",
                "link",
                "show",
                "eth1",
            ])
            .output()
            .unwrap();
        let peer: serde_json::Value = serde_json::from_slice(&peer.stdout).unwrap();
        assert_eq!(peer[0]["address"], "02:42:0a:c7:00:03", "{peer}");

        load(std::slice::from_ref(&a));
        add_batch(&b).commit().unwrap();
        let incremental = tables();
        load(&[a.clone(), b.clone()]);
        assert_eq!(incremental, tables());
        assert!(
            incremental.contains("udp . 5353 : 10.199.0.3 . 53"),
            "{incremental}"
        );

        // A network the loaded tables lack: refused whole, nothing changed.
        let before = tables();
        let refused = add_batch(&c).commit().unwrap_err();
        assert_eq!(refused.errno(), Some(libc::ENOENT), "{refused}");
        assert_eq!(before, tables());

        remove_batch(std::slice::from_ref(&b)).commit().unwrap();
        let mut chain = Batch::new();
        chain.delete_chain(NETDEV, TABLE, &b.veth);
        chain.commit().unwrap();
        let incremental = tables();
        load(std::slice::from_ref(&a));
        assert_eq!(incremental, tables());
        assert!(!incremental.contains("10.199.0.3"), "{incremental}");
        assert!(!incremental.contains(&b.veth), "{incremental}");

        // Removing what is not there is refused (the caller then loads the whole table).
        assert!(remove_batch(std::slice::from_ref(&b)).commit().is_err());
        rtnl::delete(&c.veth).unwrap();
        assert_eq!(
            rtnl::delete(&c.veth).unwrap_err().raw_os_error(),
            Some(libc::ENODEV)
        );
        let _ = child.kill();
        let _ = child.wait();
    }
}
