//! Published ports: parsing `-p [IP:][HOST:]CONTAINER[/PROTO]` and picking host ports.
//!
//! A published port is a DNAT rule in duckc's table ([`super::firewall`]), not a process
//! holding a socket: before a rule is made, duckc binds the host address and port once to
//! see that nothing on the host uses it (and lets the kernel pick one for `-p CONTAINER`).

use std::net::{Ipv4Addr, SocketAddrV4};

use serde::{Deserialize, Serialize};

use super::{NetError, Result};

/// TCP or UDP.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// One published port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Port {
    /// The host address it is reachable on; `0.0.0.0` for all of the host's addresses.
    pub host_ip: Ipv4Addr,
    /// 0 until the container starts, for `-p CONTAINER` and `-P`.
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl Port {
    /// Docker's `port` notation: `80/tcp -> 127.0.0.1:8080`.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} -> {}:{}",
            self.container_port, self.proto, self.host_ip, self.host_port
        )
    }

    /// Docker's `ps` notation: `127.0.0.1:8080->80/tcp`.
    pub fn short(&self) -> String {
        format!(
            "{}:{}->{}/{}",
            self.host_ip, self.host_port, self.container_port, self.proto
        )
    }
}

const HELP: &str = "write `-p [IP:][HOST_PORT:]CONTAINER_PORT[/tcp|/udp]`, e.g. `-p 8080:80` or `-p 127.0.0.1:8080:80/tcp`";

/// Parse one `-p` value; the error says what is wrong (the caller adds [`publish_help`]).
pub fn parse_publish(text: &str) -> Result<Port> {
    let bad = |why: String| NetError::Port(format!("bad -p `{text}`: {why}"));
    let (rest, proto) = match text.rsplit_once('/') {
        Some((r, "tcp")) => (r, Proto::Tcp),
        Some((r, "udp")) => (r, Proto::Udp),
        Some((_, p)) => return Err(bad(format!("unknown protocol `{p}` (tcp or udp)"))),
        None => (text, Proto::Tcp),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let (ip, host, container) = match parts[..] {
        [c] => ("", "", c),
        [h, c] => ("", h, c),
        [ip, h, c] => (ip, h, c),
        _ => {
            return Err(bad(
                "too many `:` (IPv6 host addresses are not supported)".into()
            ));
        }
    };
    let port = |p: &str, what: &str| -> Result<u16> {
        if p.contains('-') {
            return Err(bad(format!("port ranges (`{p}`) are not supported")));
        }
        match p.parse::<u16>() {
            Ok(0) | Err(_) => Err(bad(format!("`{p}` is not a {what} port (1-65535)"))),
            Ok(n) => Ok(n),
        }
    };
    let container_port = port(container, "container")?;
    let host_port = if host.is_empty() {
        0
    } else {
        port(host, "host")?
    };
    let host_ip = if ip.is_empty() {
        Ipv4Addr::UNSPECIFIED
    } else {
        ip.parse()
            .map_err(|_| bad(format!("`{ip}` is not an IPv4 address")))?
    };
    Ok(Port {
        host_ip,
        host_port,
        container_port,
        proto,
    })
}

/// The `help:` for a bad `-p`.
pub fn publish_help() -> &'static str {
    HELP
}

/// Parse an image's `ExposedPorts` key (`80/tcp`, `53/udp`, `8080`) into a port to publish on
/// a host port picked at start (`-P`).
pub fn parse_exposed(key: &str) -> Option<Port> {
    let (port, proto) = match key.split_once('/') {
        Some((p, "udp")) => (p, Proto::Udp),
        Some((p, "tcp")) => (p, Proto::Tcp),
        Some(_) => return None,
        None => (key, Proto::Tcp),
    };
    Some(Port {
        host_ip: Ipv4Addr::UNSPECIFIED,
        host_port: 0,
        container_port: port.parse().ok().filter(|p| *p != 0)?,
        proto,
    })
}

/// Check that `port` is free on the host by binding it once; with host port 0, let the
/// kernel pick a free one and return it.
pub fn claim(port: &Port) -> Result<Port> {
    let addr = SocketAddrV4::new(port.host_ip, port.host_port);
    let taken = |e: std::io::Error| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            NetError::Port(format!(
                "host port {}:{}/{} is already in use by another program",
                port.host_ip, port.host_port, port.proto
            ))
        } else if e.kind() == std::io::ErrorKind::AddrNotAvailable {
            NetError::Port(format!(
                "{} is not an address of this host; cannot publish port {} on it",
                port.host_ip, port.container_port
            ))
        } else {
            NetError::Io {
                what: format!("cannot check host port {addr}"),
                source: e,
            }
        }
    };
    let bound = match port.proto {
        Proto::Tcp => std::net::TcpListener::bind(addr)
            .and_then(|l| l.local_addr())
            .map_err(taken)?,
        Proto::Udp => std::net::UdpSocket::bind(addr)
            .and_then(|s| s.local_addr())
            .map_err(taken)?,
    };
    Ok(Port {
        host_port: bound.port(),
        ..*port
    })
}

/// Whether two published ports would catch the same packets.
pub fn clash(a: &Port, b: &Port) -> bool {
    a.proto == b.proto
        && a.host_port == b.host_port
        && (a.host_ip == b.host_ip || a.host_ip.is_unspecified() || b.host_ip.is_unspecified())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publish_specs() {
        let p = parse_publish("127.0.0.1:8080:80/udp").unwrap();
        assert_eq!(
            p,
            Port {
                host_ip: Ipv4Addr::LOCALHOST,
                host_port: 8080,
                container_port: 80,
                proto: Proto::Udp
            }
        );
        assert_eq!(p.describe(), "80/udp -> 127.0.0.1:8080");
        assert_eq!(p.short(), "127.0.0.1:8080->80/udp");
        let p = parse_publish("80").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 80));
        assert!(p.host_ip.is_unspecified());
        let p = parse_publish("127.0.0.1::53").unwrap();
        assert_eq!((p.host_port, p.container_port), (0, 53));
        assert_eq!(parse_publish("8080:80").unwrap().host_port, 8080);
        for bad in [
            "",
            "x",
            "80/sctp",
            "0",
            "70000",
            "a:b:c:d",
            "1-5:1-5",
            "nope:80:80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_exposed("53/udp").unwrap().proto, Proto::Udp);
        assert_eq!(parse_exposed("8080").unwrap().container_port, 8080);
        assert!(parse_exposed("x/tcp").is_none());
    }

    #[test]
    fn clashes() {
        let a = parse_publish("8080:80").unwrap();
        let b = parse_publish("127.0.0.1:8080:81").unwrap();
        let c = parse_publish("127.0.0.1:8080:81/udp").unwrap();
        assert!(clash(&a, &b));
        assert!(!clash(&b, &c));
    }
}
