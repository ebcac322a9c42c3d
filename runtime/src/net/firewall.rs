//! duckc's nftables tables (`table ip duckc`, `table netdev duckc`), rendered from the live
//! leases and replaced whole in one `nft -f` transaction: NAT out of each network, published
//! ports, isolation between networks, and anti-spoofing on each container's port.
//!
//! Nothing outside these two tables is touched. Another tool's drop (Docker's `FORWARD`
//! policy, for one) still applies to forwarded packets; see `docs/containers.md`.

use std::collections::BTreeMap;
use std::fmt::Write;

use super::{Lease, Result, command};

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

    out.push_str("table ip duckc {\n");
    // A container's packets never reach the host's loopback services (route_localnet is on
    // for the bridges: CVE-2020-8558).
    out.push_str("\tchain guard {\n\t\ttype filter hook prerouting priority raw; policy accept;\n");
    let _ = writeln!(out, "\t\tiifname {bridge_set} ip daddr 127.0.0.0/8 drop");
    out.push_str("\t}\n");
    out.push_str("\tchain ports {\n");
    for l in leases {
        for p in &l.ports {
            let daddr = if p.host_ip.is_unspecified() {
                String::new()
            } else {
                format!("ip daddr {} ", p.host_ip)
            };
            let _ = writeln!(
                out,
                "\t\t{daddr}{proto} dport {hp} dnat to {ip}:{cp}",
                proto = p.proto,
                hp = p.host_port,
                ip = l.address,
                cp = p.container_port
            );
        }
    }
    out.push_str("\t}\n");
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

    // netdev ingress on each container's host-side veth, one chain per network. First, a
    // container's frames must carry its own MAC and IPv4 address, and its ARP claim only
    // them: no ARP or IP spoofing of the gateway or of a neighbour. Then IPv4 frames to a
    // neighbour on the same network go straight to the neighbour's veth (`fwd`), without
    // the bridge: with `br_netfilter` loaded, bridged packets cross the host's `ip` forward
    // hook, where another tool's drop policy (Docker's `FORWARD`) would silently eat them.
    out.push_str("table netdev duckc {\n");
    for bridge in networks.keys() {
        let members: Vec<&Lease> = leases
            .iter()
            .filter(|l| l.network.bridge == *bridge)
            .collect();
        let devices: Vec<String> = members.iter().map(|l| format!("\"{}\"", l.veth)).collect();
        let _ = writeln!(
            out,
            "\tchain {bridge} {{\n\t\ttype filter hook ingress devices = {{ {} }} priority -500; policy accept;",
            devices.join(", ")
        );
        let mut map = Vec::new();
        for l in &members {
            let mac = super::link::mac_of(l.address);
            let v = &l.veth;
            let a = l.address;
            let _ = writeln!(out, "\t\tiifname \"{v}\" ether saddr != {mac} drop");
            let _ = writeln!(
                out,
                "\t\tiifname \"{v}\" ether type ip ip saddr != {a} drop"
            );
            let _ = writeln!(
                out,
                "\t\tiifname \"{v}\" ether type arp arp saddr ip != {a} drop"
            );
            let _ = writeln!(
                out,
                "\t\tiifname \"{v}\" ether type arp arp saddr ether != {mac} drop"
            );
            map.push(format!("{mac} : \"{v}\""));
        }
        if members.len() > 1 {
            let _ = writeln!(
                out,
                "\t\tether type ip fwd to ether daddr map {{ {} }}",
                map.join(", ")
            );
        }
        out.push_str("\t}\n");
    }
    out.push_str("}\n");
    out
}

/// Whether a program is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
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
        let marker = super::state_dir().join("iptables-in-use");
        if !on_path("nft") && on_path("iptables-restore") {
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
        Ok(())
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
            veth: format!("dk{}", ip[3]),
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
}
