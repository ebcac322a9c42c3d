//! Container networks for root: a Linux bridge per network, a veth pair per container, an
//! address from a lease file, NAT and published ports in duckc's own nftables table, and
//! peers' names in each member's `/etc/hosts`.
//!
//! All state lives under [`state_dir`] (`/run/duckc/net`, gone at reboot with everything it
//! describes): one lease file per container address, one hosts file per container. Links and
//! addresses are made over rtnetlink ([`rtnl`]); a container's start or exit changes only its
//! own elements of the firewall's sets and maps, in one nftables transaction over netlink
//! ([`nftnl`]), and the whole table is rewritten from the live leases with `nft -f` only when
//! that fails ([`firewall`]), so a rule can only outlive its container until the next duckc
//! command. See `docs/architecture.md` ("Networks").

pub mod firewall;
pub mod inside;
mod keeper;
pub mod lease;
pub mod link;
pub mod netlink;
pub mod nftnl;
pub mod ports;
pub mod rtnl;
pub mod slirp;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use lease::{Lease, release, sweep};
pub use ports::{Port, Proto, parse_publish};

/// Why a network could not be set up.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum NetError {
    #[error("{what}: {source}")]
    #[diagnostic(code(network::io))]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{cmd}` failed: {stderr}")]
    #[diagnostic(code(network::command))]
    Command { cmd: String, stderr: String },
    #[error("`{0}` is not installed; duckc needs it to set up container networks")]
    #[diagnostic(code(network::missing))]
    Missing(&'static str),
    #[error("network `{network}` ({subnet}) has no free address left")]
    #[diagnostic(code(network::exhausted))]
    Exhausted { network: String, subnet: String },
    #[error(
        "the subnet {subnet} of network `{network}` overlaps the host's route to {route} on `{dev}`"
    )]
    #[diagnostic(code(network::clash))]
    Clash {
        network: String,
        subnet: String,
        route: String,
        dev: String,
    },
    #[error("the bridge `{bridge}` exists without the address {want} of network `{network}`")]
    #[diagnostic(code(network::bridge_address))]
    BridgeAddress {
        bridge: String,
        want: String,
        network: String,
    },
    #[error("{0}")]
    #[diagnostic(code(network::port))]
    Port(String),
    #[error("bad subnet `{0}`: {1}")]
    #[diagnostic(code(network::subnet))]
    Subnet(String, String),
}

/// `Result` with a [`NetError`].
pub type Result<T> = std::result::Result<T, NetError>;

pub(crate) fn io_err(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> NetError {
    let what = what.into();
    move |source| NetError::Io { what, source }
}

/// An IPv4 subnet: a network address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subnet {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Subnet {
    /// Parse `A.B.C.D/N` (host bits must be zero; /16 to /29).
    pub fn parse(text: &str) -> Result<Subnet> {
        let bad = |why: &str| NetError::Subnet(text.to_owned(), why.to_owned());
        let (addr, prefix) = text.split_once('/').ok_or_else(|| bad("write A.B.C.D/N"))?;
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address"))?;
        let prefix: u8 = prefix
            .parse()
            .map_err(|_| bad("the prefix is not a number"))?;
        if !(16..=29).contains(&prefix) {
            return Err(bad("the prefix must be between /16 and /29"));
        }
        let s = Subnet { addr, prefix };
        if s.network() != addr {
            return Err(bad(&format!(
                "host bits are set; did you mean {}?",
                Subnet {
                    addr: s.network(),
                    prefix
                }
            )));
        }
        Ok(s)
    }

    pub fn mask(&self) -> u32 {
        u32::MAX << (32 - u32::from(self.prefix))
    }

    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// The bridge's (the gateway's) address: the first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network()) + 1)
    }

    /// Container addresses: from the second host address to the last before broadcast.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> {
        let net = u32::from(self.network());
        let last = net | !self.mask();
        (net + 2..last).map(Ipv4Addr::from)
    }

    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.network())
    }

    pub fn overlaps(&self, other: &Subnet) -> bool {
        let m = self.mask() & other.mask();
        u32::from(self.addr) & m == u32::from(other.addr) & m
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network(), self.prefix)
    }
}

/// A network a container joins: the default `bridge` or a user network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkDef {
    /// What the user calls it (`bridge` for the default one).
    pub name: String,
    /// The Linux bridge's name (`duckc0` for the default network).
    pub bridge: String,
    pub subnet: Subnet,
}

/// The default network's bridge.
pub const DEFAULT_BRIDGE: &str = "duckc0";
/// The default network's subnet, unless `DUCKC_BRIDGE_SUBNET` names another.
pub const DEFAULT_SUBNET: &str = "10.199.0.0/24";
/// The variable that moves the default network.
pub const SUBNET_VAR: &str = "DUCKC_BRIDGE_SUBNET";

/// The default network (`--network bridge`, what `run` uses as root).
pub fn default_network() -> Result<NetworkDef> {
    let text = std::env::var(SUBNET_VAR).unwrap_or_else(|_| DEFAULT_SUBNET.to_owned());
    Ok(NetworkDef {
        name: "bridge".into(),
        bridge: DEFAULT_BRIDGE.into(),
        subnet: Subnet::parse(&text)?,
    })
}

/// What a container asks of its network: kept in its spec, so `start` asks again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub network: NetworkDef,
    /// The container's id and name (its name, hostname and aliases resolve on the network).
    pub container: String,
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `-p`/`-P`; a host port of 0 is picked when the container starts.
    #[serde(default)]
    pub ports: Vec<Port>,
}

/// What the container's init needs to configure `eth0` (sent in its config).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inside {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The host file the container's `/etc/hosts` is bound to (rewritten in place as peers
    /// come and go).
    pub hosts_file: PathBuf,
}

/// Where duckc keeps network state: `/run/duckc/net` for root; without root
/// `$XDG_RUNTIME_DIR/duckc/net`, else `/tmp/duckc-<uid>/net`.
pub fn state_dir() -> PathBuf {
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/run/duckc/net");
    }
    match std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("duckc/net"),
        None => std::env::temp_dir()
            .join(format!("duckc-{}", rustix::process::geteuid().as_raw()))
            .join("net"),
    }
}

/// How a container joins its network, for the runtime's start path.
#[derive(Clone, Copy, Debug)]
pub enum Attach<'a> {
    /// As root: a veth pair on a bridge, with the address [`lease::prepare`] reserved.
    Bridge(&'a lease::Prepared),
    /// Without root: slirp4netns, publishing the request's ports.
    Slirp(&'a Request),
}

/// An exclusive lock on the network state, held while leases, links, the firewall table or
/// hosts files change.
pub struct StateLock {
    _file: std::fs::File,
    pub dir: PathBuf,
}

/// Take [`StateLock`], creating the state directory (mode 0700) when missing.
pub fn lock() -> Result<StateLock> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = state_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err(format!("cannot create `{}`", dir.display())))?;
    check_owner(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(dir.join("lock"))
        .map_err(io_err("cannot open the network lock"))?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
        NetError::Io {
            what: "cannot lock the network state".into(),
            source: e.into(),
        }
    })?;
    Ok(StateLock { _file: file, dir })
}

/// Refuse a state directory another user owns (one planted in `/tmp`).
pub(crate) fn check_owner(dir: &Path) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::symlink_metadata(dir)
        .map_err(io_err(format!("cannot stat `{}`", dir.display())))?;
    if !meta.is_dir() || meta.uid() != rustix::process::geteuid().as_raw() {
        return Err(NetError::Io {
            what: format!("`{}` is not a directory of this user", dir.display()),
            source: std::io::Error::from(std::io::ErrorKind::PermissionDenied),
        });
    }
    Ok(())
}

/// Run `program` with `args` (and `stdin`), failing with its standard error.
pub(crate) fn command(program: &'static str, args: &[&str], stdin: Option<&str>) -> Result<String> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut cmd = Command::new(program);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            NetError::Missing(program)
        } else {
            NetError::Io {
                what: format!("cannot run `{program}`"),
                source: e,
            }
        }
    })?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(io_err(format!("cannot wait for `{program}`")))?;
    if !out.status.success() {
        return Err(NetError::Command {
            cmd: format!("{program} {}", args.join(" ")),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Write `text` into the existing file `path` in place (same inode, so a bind mount of it
/// sees the change), or create it. The new text overwrites the old from the start and the file
/// is cut to its length after, so a reader never finds it empty.
pub(crate) fn write_in_place(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let err = || io_err(format!("cannot write `{}`", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o644)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .map_err(err())?;
    f.write_all(text.as_bytes()).map_err(err())?;
    f.set_len(text.len() as u64).map_err(err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let s = Subnet::parse("10.199.0.0/24").unwrap();
        assert_eq!(s.gateway(), Ipv4Addr::new(10, 199, 0, 1));
        assert_eq!(s.hosts().next(), Some(Ipv4Addr::new(10, 199, 0, 2)));
        assert_eq!(s.hosts().last(), Some(Ipv4Addr::new(10, 199, 0, 254)));
        assert!(s.contains(Ipv4Addr::new(10, 199, 0, 77)));
        assert!(!s.contains(Ipv4Addr::new(10, 199, 1, 77)));
        assert!(s.overlaps(&Subnet::parse("10.0.0.0/8").unwrap_or(Subnet {
            addr: Ipv4Addr::new(10, 0, 0, 0),
            prefix: 8
        })));
        assert!(!s.overlaps(&Subnet::parse("10.199.1.0/24").unwrap()));
        assert!(Subnet::parse("10.199.0.1/24").is_err());
        assert!(Subnet::parse("10.199.0.0").is_err());
        assert!(Subnet::parse("10.0.0.0/8").is_err());
        assert_eq!(s.to_string(), "10.199.0.0/24");
    }
}
