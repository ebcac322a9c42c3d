//! Address leases and the life cycle of a container's network: [`prepare`] (address, ports,
//! hosts file) before the clone, [`connect`] (veth, firewall, peers' hosts files) once the
//! container's namespaces exist, [`release`] when it ends, and [`sweep`] for what a killed
//! duckc left behind.
//!
//! A lease is `leases/<bridge>/<address>` in the state directory, made with `O_EXCL` under
//! the state lock, so concurrent `duckc run`s never get one address twice. It names the
//! container's init by pid and start time; a lease whose process is gone is stale.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{
    Inside, NetError, NetworkDef, Port, Request, Result, StateLock, firewall, io_err, link, lock,
    ports, write_in_place,
};

/// One container's place on one network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub network: NetworkDef,
    pub address: Ipv4Addr,
    pub container: String,
    pub name: String,
    pub hostname: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Published ports, with the host ports picked.
    #[serde(default)]
    pub ports: Vec<Port>,
    /// The host side of the veth pair.
    pub veth: String,
    /// Its interface index, 0 until it exists (the firewall's sets key on it; it must be
    /// known after the veth has gone with the container's namespace, to take them out).
    #[serde(default)]
    pub ifindex: u32,
    /// The container's init, 0 until it exists.
    pub pid: i32,
    pub pid_start: u64,
    /// Seconds since the epoch when the lease was made.
    pub created: u64,
    /// The container's `/etc/hosts` without its peers.
    pub hosts_base: String,
    /// The host file bound onto the container's `/etc/hosts`.
    pub hosts_file: PathBuf,
}

/// How long a lease may wait for its container's process before a sweep takes it back.
const PENDING_SECS: u64 = 120;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    if rest.starts_with('Z') {
        return None;
    }
    rest.split(' ').nth(19)?.parse().ok()
}

impl Lease {
    fn path(&self, dir: &Path) -> PathBuf {
        dir.join("leases")
            .join(&self.network.bridge)
            .join(format!("{}.json", self.address))
    }

    /// Whether the lease's container is gone (or never came and its starter gave up).
    pub fn stale(&self) -> bool {
        if self.pid == 0 {
            return now().saturating_sub(self.created) > PENDING_SECS;
        }
        start_time(self.pid) != Some(self.pid_start)
    }

    fn write(&self, dir: &Path, create: bool) -> Result<()> {
        use std::io::Write;
        let path = self.path(dir);
        let text = serde_json::to_vec_pretty(self).map_err(|e| NetError::Io {
            what: "cannot encode a lease".into(),
            source: std::io::Error::other(e),
        })?;
        if create {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(io_err(format!("cannot create `{}`", path.display())))?;
            f.write_all(&text)
                .map_err(io_err(format!("cannot write `{}`", path.display())))
        } else {
            // Exchanged, not renamed over: a lease lives as long as its container, often
            // milliseconds, and need not reach the disk (see `crate::replace`; after a crash
            // it is stale anyway).
            let tmp = path.with_extension("json.tmp");
            std::fs::write(&tmp, &text)
                .and_then(|()| crate::replace::replace_unsynced(&tmp, &path))
                .map_err(io_err(format!("cannot write `{}`", path.display())))
        }
    }
}

/// Every lease in the state directory.
pub fn all_in(dir: &Path) -> Vec<Lease> {
    scan(dir).0
}

/// Every lease in the state directory, and the lease files that do not parse: under the
/// state lock those are what a crash left (a lease is written whole under the lock, and is
/// not synced), never one being written.
fn scan(dir: &Path) -> (Vec<Lease>, Vec<PathBuf>) {
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for net in std::fs::read_dir(dir.join("leases"))
        .into_iter()
        .flatten()
        .flatten()
    {
        for entry in std::fs::read_dir(net.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if entry.path().extension().is_none_or(|x| x != "json") {
                continue; // a `.tmp` being written
            }
            match std::fs::read(entry.path()).map(|t| serde_json::from_slice::<Lease>(&t)) {
                Ok(Ok(lease)) => out.push(lease),
                Ok(Err(_)) => bad.push(entry.path()),
                Err(_) => {} // gone meanwhile
            }
        }
    }
    out.sort_by_key(|l| (l.network.bridge.clone(), u32::from(l.address)));
    (out, bad)
}

/// The live leases (no lock taken: for `port`, `ps` and `network` listings).
pub fn live() -> Vec<Lease> {
    all_in(&super::state_dir())
        .into_iter()
        .filter(|l| !l.stale())
        .collect()
}

/// What [`prepare`] reserved: hand it to [`connect`] once the container's process exists,
/// and to [`release`] (by container id) when it ends.
#[derive(Debug)]
pub struct Prepared {
    pub lease: Lease,
    pub inside: Inside,
}

/// Reserve an address on `req.network` and the published ports, make the bridge when
/// missing, and write the container's hosts file (`render_hosts` gives its base for the
/// address).
pub fn prepare(
    req: &Request,
    hostname: &str,
    render_hosts: impl FnOnce(Ipv4Addr) -> String,
) -> Result<Prepared> {
    let guard = lock()?;
    let dir = guard.dir.clone();
    let leases = sweep_locked(&guard).1;
    link::ensure_bridge(&req.network)?;
    // Ports: not taken by another container, and free on the host.
    let mut ports = Vec::new();
    for p in &req.ports {
        if let Some(other) = leases
            .iter()
            .find(|l| l.container != req.container && l.ports.iter().any(|q| ports::clash(p, q)))
        {
            return Err(NetError::Port(format!(
                "host port {}:{}/{} is already published by container `{}`",
                p.host_ip, p.host_port, p.proto, other.name
            )));
        }
        let claimed = ports::claim(p)?;
        if ports.iter().any(|q| ports::clash(&claimed, q)) {
            return Err(NetError::Port(format!(
                "host port {}:{}/{} is published twice",
                p.host_ip, claimed.host_port, p.proto
            )));
        }
        ports.push(claimed);
    }
    let net_dir = dir.join("leases").join(&req.network.bridge);
    std::fs::create_dir_all(&net_dir)
        .map_err(io_err(format!("cannot create `{}`", net_dir.display())))?;
    let hosts_dir = dir.join("hosts");
    std::fs::create_dir_all(&hosts_dir)
        .map_err(io_err(format!("cannot create `{}`", hosts_dir.display())))?;
    let taken: Vec<Ipv4Addr> = leases
        .iter()
        .filter(|l| l.network.bridge == req.network.bridge)
        .map(|l| l.address)
        .collect();
    let address = req
        .network
        .subnet
        .hosts()
        .find(|a| !taken.contains(a))
        .ok_or_else(|| NetError::Exhausted {
            network: req.network.name.clone(),
            subnet: req.network.subnet.to_string(),
        })?;
    let hosts_file = hosts_dir.join(&req.container);
    let lease = Lease {
        network: req.network.clone(),
        address,
        container: req.container.clone(),
        name: req.name.clone(),
        hostname: hostname.to_owned(),
        aliases: req.aliases.clone(),
        ports,
        veth: veth_name(&req.container),
        ifindex: 0,
        pid: 0,
        pid_start: 0,
        created: now(),
        hosts_base: render_hosts(address),
        hosts_file: hosts_file.clone(),
    };
    lease.write(&dir, true)?;
    let mut members = leases;
    members.push(lease.clone());
    if let Err(e) = write_in_place(&hosts_file, &hosts_text(&lease, &members)) {
        let _ = std::fs::remove_file(lease.path(&dir));
        return Err(e);
    }
    Ok(Prepared {
        inside: Inside {
            address,
            prefix: req.network.subnet.prefix,
            gateway: req.network.subnet.gateway(),
            hosts_file,
        },
        lease,
    })
}

/// The host side of a container's veth pair: `dk` and the start of its id (15 bytes at most).
pub fn veth_name(container: &str) -> String {
    let id: String = container
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("dk{id}")
}

/// Plug the container whose init is `pid` into its network: the veth pair, then the
/// firewall rules and every member's hosts file. On failure the lease is released.
pub fn connect(prepared: &Prepared, pid: i32) -> Result<()> {
    let result = (|| {
        let guard = lock()?;
        let mut lease = prepared.lease.clone();
        link::delete(&lease.veth)?; // left by a container of the same id killed before
        lease.ifindex = link::add_veth(&lease.veth, &lease.network.bridge, pid, lease.address)?;
        lease.pid = pid;
        lease.pid_start = start_time(pid).unwrap_or(0);
        lease.write(&guard.dir, false)?;
        link::enable_forwarding(&guard.dir)?;
        let connected = connected(&guard);
        firewall::add(&lease, &connected)?;
        update_hosts(&guard, &connected);
        Ok(())
    })();
    if result.is_err() {
        let _ = release(&prepared.lease.container);
    }
    result
}

/// Take back everything container `container` holds on its networks: leases, veth, hosts
/// file, firewall rules, its entries in peers' hosts files.
pub fn release(container: &str) -> Result<()> {
    // A container without a lease (on no network, or released already: a `--rm` container's
    // removal comes after its end) takes no lock. Only the container's own start makes its
    // leases, so none can appear meanwhile.
    if !all_in(&super::state_dir())
        .iter()
        .any(|l| l.container == container)
    {
        return Ok(());
    }
    let guard = lock()?;
    let (mine, others): (Vec<Lease>, Vec<Lease>) = all_in(&guard.dir)
        .into_iter()
        .partition(|l| l.container == container);
    if mine.is_empty() {
        return Ok(());
    }
    for l in &mine {
        drop_lease(&guard, l);
    }
    let connected = connected_of(&others);
    let closing = firewall::remove(&mine, &connected)?;
    after_release(&guard, &others);
    drop(guard);
    if let Some(sock) = closing {
        sock.close_detached();
    }
    Ok(())
}

fn drop_lease(guard: &StateLock, l: &Lease) {
    // The kernel removes the veth pair with the container's network namespace; only a pair
    // whose container still runs (a failed start, a `network rm` race) is deleted here.
    if l.pid == 0 || start_time(l.pid) == Some(l.pid_start) {
        let _ = link::delete(&l.veth);
    }
    let _ = std::fs::remove_file(&l.hosts_file);
    let _ = std::fs::remove_file(l.path(&guard.dir));
}

/// Release every stale lease (its container's process is gone: duckc or its monitor was
/// killed); returns how many.
pub fn sweep() -> Result<usize> {
    let dir = super::state_dir();
    if !all_in(&dir).iter().any(Lease::stale) {
        return Ok(0);
    }
    let guard = lock()?;
    Ok(sweep_locked(&guard).0)
}

/// Release the stale leases; returns how many, and the leases left.
fn sweep_locked(guard: &StateLock) -> (usize, Vec<Lease>) {
    let (leases, torn) = scan(&guard.dir);
    for path in torn {
        let _ = std::fs::remove_file(path);
    }
    let (stale, left): (Vec<Lease>, Vec<Lease>) = leases.into_iter().partition(Lease::stale);
    for l in &stale {
        drop_lease(guard, l);
    }
    if !stale.is_empty() {
        // A sweep runs under the caller's lock, so the closer may hold a copy of it for a
        // moment: sweeps are rare (a killed duckc), starts and exits are not.
        if let Ok(Some(sock)) = firewall::remove(&stale, &connected_of(&left)) {
            sock.close_detached();
        }
        after_release(guard, &left);
    }
    (stale.len(), left)
}

/// The leases whose container is plugged in (its veth made).
fn connected(guard: &StateLock) -> Vec<Lease> {
    connected_of(&all_in(&guard.dir))
}

fn connected_of(leases: &[Lease]) -> Vec<Lease> {
    leases.iter().filter(|l| l.pid != 0).cloned().collect()
}

/// After leases went (`left` are the leases left): turn forwarding off again when there are
/// none, and update the hosts files of the containers still connected.
fn after_release(guard: &StateLock, left: &[Lease]) {
    if left.is_empty() {
        link::restore_forwarding(&guard.dir);
    }
    update_hosts(guard, &connected_of(left));
}

/// Make every connected member's hosts file name its peers.
fn update_hosts(_guard: &StateLock, connected: &[Lease]) {
    for l in connected {
        let _ = write_in_place(&l.hosts_file, &hosts_text(l, connected));
    }
}

/// Load duckc's firewall tables whole from the connected leases (`nft -f`): after `network
/// rm`, so the removed network's static rules go too. The caller holds the state lock.
pub fn reload_firewall(guard: &StateLock) -> Result<()> {
    firewall::apply(&connected(guard))
}

/// A member's `/etc/hosts`: its base, then its own name and aliases, then every other
/// connected container on the same network by name, hostname and aliases.
pub fn hosts_text(me: &Lease, members: &[Lease]) -> String {
    let mut out = me.hosts_base.clone();
    let names = |l: &Lease| {
        let mut n: Vec<&str> = vec![l.name.as_str()];
        if !n.contains(&l.hostname.as_str()) {
            n.push(&l.hostname);
        }
        for a in &l.aliases {
            if !n.contains(&a.as_str()) {
                n.push(a);
            }
        }
        n.retain(|s| !s.is_empty());
        n.join(" ")
    };
    out.push_str(&format!(
        "# network `{}`, kept up to date by duckc\n{}\t{}\n",
        me.network.name,
        me.address,
        names(me)
    ));
    for l in members {
        if l.container != me.container && l.network.bridge == me.network.bridge && l.pid != 0 {
            out.push_str(&format!("{}\t{}\n", l.address, names(l)));
        }
    }
    out
}

/// The live leases on the network with bridge `bridge`.
pub fn members(bridge: &str) -> Vec<Lease> {
    live()
        .into_iter()
        .filter(|l| l.network.bridge == bridge)
        .collect()
}
