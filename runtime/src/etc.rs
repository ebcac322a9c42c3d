//! The `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` every container and build step
//! gets, generated from the host's files and the `--add-host`/`--dns*` options.
//!
//! [`render`] is pure: the parent reads the host's files ([`HostFiles::read`]) and renders
//! them before the clone; the init writes the result onto a tmpfs private to the container's
//! mount namespace and bind-mounts it over the image's paths ([`crate::rootfs`]).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::spec::{Dns, Network};

/// The host's files the generated ones start from (`None`: unreadable or missing).
#[derive(Clone, Debug, Default)]
pub struct HostFiles {
    /// `/etc/resolv.conf`.
    pub resolv_conf: Option<String>,
    /// `/run/systemd/resolve/resolv.conf`: systemd-resolved's upstream servers.
    pub resolved_upstream: Option<String>,
    /// `/etc/hosts` (used as is with `--network host`).
    pub hosts: Option<String>,
}

impl HostFiles {
    /// Read the host's files.
    pub fn read() -> HostFiles {
        let read = |p: &str| std::fs::read_to_string(p).ok();
        HostFiles {
            resolv_conf: read("/etc/resolv.conf"),
            resolved_upstream: read("/run/systemd/resolve/resolv.conf"),
            hosts: read("/etc/hosts"),
        }
    }
}

/// The generated files' contents.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcFiles {
    pub hosts: String,
    pub resolv_conf: String,
    pub hostname: String,
    /// A host file to bind onto `/etc/hosts` instead of `hosts`: a container on a network,
    /// whose file duckc rewrites in place as its peers come and go ([`crate::net`]).
    #[serde(default)]
    pub hosts_file: Option<std::path::PathBuf>,
}

/// Why a container's `resolv.conf` came out without a nameserver, to tell the user once.
pub const NO_NAMESERVER: &str = "the host's only nameservers are on its loopback, which a \
container with its own network cannot reach: its /etc/resolv.conf has no nameserver; name \
one with `--dns IP`";

/// Render the three files for a container named `hostname` on `network`; the second value
/// is a warning to show the user ([`NO_NAMESERVER`]), if any.
pub fn render(
    hostname: &str,
    network: Network,
    dns: &Dns,
    host: &HostFiles,
) -> (EtcFiles, Option<&'static str>) {
    render_on(hostname, network, dns, host, None)
}

/// [`render`] for a container with its own `address` on a network: its hostname resolves
/// to that address instead of `127.0.1.1`.
pub fn render_on(
    hostname: &str,
    network: Network,
    dns: &Dns,
    host: &HostFiles,
    address: Option<IpAddr>,
) -> (EtcFiles, Option<&'static str>) {
    let (resolv_conf, warning) = resolv_conf(network, dns, host);
    let files = EtcFiles {
        hosts: hosts(hostname, network, dns, host, address),
        resolv_conf,
        hostname: format!("{hostname}\n"),
        hosts_file: None,
    };
    (files, warning)
}

fn hosts(
    hostname: &str,
    network: Network,
    dns: &Dns,
    host: &HostFiles,
    address: Option<IpAddr>,
) -> String {
    let mut out = match (network, &host.hosts) {
        (Network::Host, Some(h)) => {
            let mut h = h.clone();
            if !h.is_empty() && !h.ends_with('\n') {
                h.push('\n');
            }
            h
        }
        _ => "127.0.0.1\tlocalhost\n\
              ::1\tlocalhost ip6-localhost ip6-loopback\n\
              fe00::0\tip6-localnet\n\
              ff00::0\tip6-mcastprefix\n\
              ff02::1\tip6-allnodes\n\
              ff02::2\tip6-allrouters\n"
            .to_owned(),
    };
    for entry in &dns.add_hosts {
        if let Ok((name, ip)) = parse_add_host(entry) {
            out.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    let listed = out
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .any(|l| l.split_whitespace().skip(1).any(|n| n == hostname));
    if !hostname.is_empty() && !listed {
        let ip = address.map_or_else(|| "127.0.1.1".to_owned(), |a| a.to_string());
        out.push_str(&format!("{ip}\t{hostname}\n"));
    }
    out
}

/// The parts of a `resolv.conf`.
#[derive(Default)]
struct Resolv {
    nameservers: Vec<String>,
    search: Vec<String>,
    options: Vec<String>,
}

fn parse_resolv(text: &str) -> Resolv {
    let mut r = Resolv::default();
    for line in text.lines() {
        let line = line.split(['#', ';']).next().unwrap_or("");
        let mut words = line.split_whitespace();
        match words.next() {
            Some("nameserver") => r.nameservers.extend(words.next().map(str::to_owned)),
            // The last of `search`/`domain` wins, as in glibc.
            Some("search" | "domain") => r.search = words.map(str::to_owned).collect(),
            Some("options") => r.options.extend(words.map(str::to_owned)),
            _ => {}
        }
    }
    r
}

fn is_loopback(server: &str) -> bool {
    // A scoped IPv6 address (`fe80::1%eth0`) is a link address, not loopback.
    server
        .split('%')
        .next()
        .and_then(|s| s.parse::<IpAddr>().ok())
        .is_some_and(|ip| ip.is_loopback())
}

fn resolv_conf(network: Network, dns: &Dns, host: &HostFiles) -> (String, Option<&'static str>) {
    let own = host.resolv_conf.as_deref().unwrap_or("");
    let overridden = !dns.servers.is_empty() || !dns.search.is_empty() || !dns.options.is_empty();
    if network == Network::Host && !overridden {
        // The host's network reaches the host's resolver: its file as is.
        return (own.to_owned(), None);
    }
    let base = parse_resolv(own);
    let mut warning = None;
    let nameservers = if !dns.servers.is_empty() {
        dns.servers.clone()
    } else if network == Network::Host {
        base.nameservers
    } else {
        // Docker's rule: a loopback resolver (systemd-resolved's 127.0.0.53, dnsmasq on
        // 127.0.0.1) is not reachable from the container's own network namespace.
        let mut left: Vec<String> = base
            .nameservers
            .into_iter()
            .filter(|s| !is_loopback(s))
            .collect();
        if left.is_empty()
            && let Some(up) = &host.resolved_upstream
        {
            left = parse_resolv(up)
                .nameservers
                .into_iter()
                .filter(|s| !is_loopback(s))
                .collect();
        }
        if left.is_empty() && network == Network::Private {
            warning = Some(NO_NAMESERVER);
        }
        left
    };
    let search = if dns.search.is_empty() {
        base.search
    } else {
        dns.search.clone()
    };
    let options = if dns.options.is_empty() {
        base.options
    } else {
        dns.options.clone()
    };
    let mut out = String::new();
    for s in &nameservers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    if !options.is_empty() {
        out.push_str(&format!("options {}\n", options.join(" ")));
    }
    (out, warning)
}

/// Parse `--add-host NAME:IP` (Docker also takes `NAME=IP`; an IPv6 address keeps its
/// colons: the name ends at the first separator).
pub fn parse_add_host(entry: &str) -> Result<(String, IpAddr), String> {
    let Some((name, ip)) = entry.split_once(['=', ':']) else {
        return Err(format!("`{entry}` is not NAME:IP"));
    };
    let ip = ip.trim_start_matches('[').trim_end_matches(']');
    if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '#') {
        return Err(format!("`{name}` is not a host name"));
    }
    let ip: IpAddr = ip
        .parse()
        .map_err(|_| format!("`{ip}` is not an IP address"))?;
    Ok((name.to_owned(), ip))
}

/// Check a `--dns` server: an IP address.
pub fn check_server(server: &str) -> Result<(), String> {
    server
        .parse::<IpAddr>()
        .map(|_| ())
        .map_err(|_| format!("`{server}` is not an IP address"))
}

/// Check a `--dns-search` domain or `--dns-option`: one word, no comment characters.
pub fn check_word(word: &str) -> Result<(), String> {
    if word.is_empty() || word.contains(|c: char| c.is_whitespace() || c == '#' || c == ';') {
        Err(format!(
            "`{word}` must be one word without spaces, `#` or `;`"
        ))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(resolv: &str, upstream: Option<&str>) -> HostFiles {
        HostFiles {
            resolv_conf: Some(resolv.into()),
            resolved_upstream: upstream.map(str::to_owned),
            hosts: Some("127.0.0.1 localhost\n10.1.1.1 hostbox\n".into()),
        }
    }

    #[test]
    fn hosts_has_localhost_the_hostname_and_added_hosts() {
        let dns = Dns {
            add_hosts: vec!["db:10.9.8.7".into(), "six:fd00::1".into()],
            ..Dns::default()
        };
        let (f, _) = render("box1", Network::Private, &dns, &host("", None));
        assert!(
            f.hosts
                .starts_with("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost")
        );
        assert!(f.hosts.contains("10.9.8.7\tdb\n"));
        assert!(f.hosts.contains("fd00::1\tsix\n"));
        assert!(f.hosts.ends_with("127.0.1.1\tbox1\n"));
        assert_eq!(f.hostname, "box1\n");
    }

    #[test]
    fn a_container_with_an_address_resolves_its_hostname_to_it() {
        let ip: IpAddr = "10.199.0.5".parse().unwrap();
        let (f, _) = render_on(
            "box1",
            Network::Private,
            &Dns::default(),
            &host("", None),
            Some(ip),
        );
        assert!(f.hosts.ends_with("10.199.0.5\tbox1\n"), "{}", f.hosts);
    }

    #[test]
    fn host_network_keeps_the_hosts_files() {
        let h = host("nameserver 127.0.0.53\nsearch lan\n", None);
        let (f, w) = render("box1", Network::Host, &Dns::default(), &h);
        assert_eq!(f.resolv_conf, "nameserver 127.0.0.53\nsearch lan\n");
        assert!(
            f.hosts
                .starts_with("127.0.0.1 localhost\n10.1.1.1 hostbox\n")
        );
        assert!(f.hosts.ends_with("127.0.1.1\tbox1\n"));
        assert_eq!(w, None);
    }

    #[test]
    fn loopback_resolvers_are_dropped() {
        let h = host(
            "nameserver 127.0.0.53\nnameserver ::1\nnameserver 10.0.0.2\noptions edns0\n",
            None,
        );
        let (f, w) = render("b", Network::Private, &Dns::default(), &h);
        assert_eq!(f.resolv_conf, "nameserver 10.0.0.2\noptions edns0\n");
        assert_eq!(w, None);
    }

    #[test]
    fn resolved_upstream_replaces_its_stub() {
        let h = host(
            "nameserver 127.0.0.53\nsearch corp\n",
            Some("nameserver 10.0.0.9\n"),
        );
        let (f, w) = render("b", Network::Private, &Dns::default(), &h);
        assert_eq!(f.resolv_conf, "nameserver 10.0.0.9\nsearch corp\n");
        assert_eq!(w, None);
    }

    #[test]
    fn nothing_left_warns_and_writes_no_server() {
        let h = host("nameserver 127.0.0.1\n", None);
        let (f, w) = render("b", Network::Private, &Dns::default(), &h);
        assert_eq!(f.resolv_conf, "");
        assert_eq!(w, Some(NO_NAMESERVER));
        let (_, w) = render("b", Network::None, &Dns::default(), &h);
        assert_eq!(w, None);
    }

    #[test]
    fn dns_flags_override() {
        let dns = Dns {
            servers: vec!["127.0.0.1".into()],
            search: vec!["example.test".into()],
            options: vec!["ndots:2".into()],
            ..Dns::default()
        };
        let h = host("nameserver 10.0.0.2\nsearch lan\noptions edns0\n", None);
        let (f, w) = render("b", Network::Private, &dns, &h);
        assert_eq!(
            f.resolv_conf,
            "nameserver 127.0.0.1\nsearch example.test\noptions ndots:2\n"
        );
        assert_eq!(w, None);
    }

    #[test]
    fn add_host_parsing() {
        assert_eq!(
            parse_add_host("db:10.9.8.7").unwrap(),
            ("db".into(), "10.9.8.7".parse().unwrap())
        );
        assert_eq!(
            parse_add_host("v6:::1").unwrap(),
            ("v6".into(), "::1".parse().unwrap())
        );
        assert!(parse_add_host("db").is_err());
        assert!(parse_add_host("db:nope").is_err());
        assert!(parse_add_host(":1.2.3.4").is_err());
        assert!(check_server("1.2.3.4").is_ok());
        assert!(check_server("x").is_err());
        assert!(check_word("a b").is_err());
    }
}
