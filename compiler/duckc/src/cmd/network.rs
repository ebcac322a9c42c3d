//! Networks: `network create|ls|rm|inspect`, `port`, and what `run`/`start` need of them
//! (`--network`, `-p`, `-P`, `--network-alias` turned into the runtime's request; the
//! release of a container's network when it ends).
//!
//! User networks are kept in the store (`<store>/networks/NAME.json`); what runs on them
//! (leases, links, firewall rules) is the runtime's, under `/run/duckc/net`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use duckc_runtime::net::{self, NetworkDef, Port, Subnet};
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};
use serde::{Deserialize, Serialize};

use crate::Global;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Manage networks.
    #[command(subcommand)]
    Network(NetworkCommand),
    /// List a container's published ports.
    Port(PortArgs),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum NetworkCommand {
    /// Create a network whose containers reach each other by name.
    Create(CreateArgs),
    /// List networks.
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove networks (none of their containers may be running).
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Show a network's subnet, bridge and running containers as JSON.
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Subnet in CIDR form (default: the next free /24 of 10.199.0.0/16).
    #[arg(long)]
    subnet: Option<String>,
    /// Driver; only `bridge` exists.
    #[arg(short, long, default_value = "bridge")]
    driver: String,
    name: String,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only print network IDs.
    #[arg(short, long)]
    quiet: bool,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[arg(required = true)]
    networks: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container, by name, id or a unique prefix of an id.
    container: String,
    /// Only this port: `80` or `80/udp`.
    port: Option<String>,
}

// `run`'s port and alias flags.
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args)]
pub struct NetArgs {
    /// Publish a container port on the host: `[IP:][HOST_PORT:]CONTAINER_PORT[/udp]`.
    #[arg(short = 'p', long = "publish", value_name = "[IP:][HOST:]PORT[/PROTO]")]
    pub publish: Vec<String>,
    /// Publish every port the image exposes on a free host port.
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Another name the container has on its user network.
    #[arg(long = "network-alias", value_name = "NAME")]
    pub network_alias: Vec<String>,
}

/// A user network as kept in the store.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Stored {
    id: String,
    name: String,
    bridge: String,
    subnet: Subnet,
    created: i64,
}

impl Stored {
    fn def(&self) -> NetworkDef {
        NetworkDef {
            name: self.name.clone(),
            bridge: self.bridge.clone(),
            subnet: self.subnet,
        }
    }
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        let root = global.store.clone().unwrap_or_else(Store::default_root);
        let store = Store::open(&root)
            .map_err(|e| miette!("cannot open the store at `{}`: {e}", root.display()))?;
        let _ = net::sweep();
        match self {
            Command::Network(NetworkCommand::Create(a)) => create(&store, &a),
            Command::Network(NetworkCommand::Ls(a)) => ls(&store, &a),
            Command::Network(NetworkCommand::Rm(a)) => rm(&store, &a),
            Command::Network(NetworkCommand::Inspect(a)) => inspect(&store, &a),
            Command::Port(a) => port(&store, &a),
        }
    }
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("networks")
}

fn stored(store: &Store) -> Vec<Stored> {
    let mut out: Vec<Stored> = std::fs::read_dir(dir(store))
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
        .filter_map(|e| serde_json::from_slice(&std::fs::read(e.path()).ok()?).ok())
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn find(store: &Store, name: &str) -> Option<Stored> {
    stored(store)
        .into_iter()
        .find(|n| n.name == name || (name.len() >= 3 && n.id.starts_with(name)))
}

const RESERVED: [&str; 5] = ["bridge", "default", "host", "none", "private"];

fn random_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 32];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut bytes);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn create(store: &Store, args: &CreateArgs) -> miette::Result<ExitCode> {
    if args.driver != "bridge" {
        return Err(miette!(
            help = "leave `--driver` out, or give `--driver bridge`",
            "unknown network driver `{}`: duckc only has `bridge`",
            args.driver
        ));
    }
    let name = args.name.as_str();
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !valid {
        return Err(miette!(
            help = "network names are letters, digits, `_`, `.` and `-`, starting with a letter or digit",
            "invalid network name `{name}`"
        ));
    }
    if RESERVED.contains(&name) {
        return Err(miette!(
            help = "choose another name",
            "`{name}` is a built-in network"
        ));
    }
    // The runtime's lock: no other duckc picks the same subnet or bridge meanwhile.
    let _lock = net::lock()?;
    let existing = stored(store);
    if existing.iter().any(|n| n.name == name) {
        return Err(miette!(
            help = format!("remove it with `duckc network rm {name}`, or choose another name"),
            "network `{name}` already exists"
        ));
    }
    let default = net::default_network()?;
    let in_use =
        |s: &Subnet| s.overlaps(&default.subnet) || existing.iter().any(|n| n.subnet.overlaps(s));
    let subnet = match &args.subnet {
        Some(text) => {
            let s = Subnet::parse(text).map_err(|e| {
                miette!(
                    help = "give an IPv4 subnet between /16 and /29, e.g. `--subnet 10.200.0.0/24`",
                    "{e}"
                )
            })?;
            if in_use(&s) {
                return Err(miette!(
                    help = "`duckc network ls` shows the subnets in use; pick another",
                    "subnet {s} overlaps another duckc network"
                ));
            }
            if let Some((route, dev)) = net::link::clash(&s, "") {
                return Err(miette!(
                    help = "pick a subnet that no host interface uses (see `ip route`)",
                    "subnet {s} overlaps the host's route to {route} on `{dev}`"
                ));
            }
            s
        }
        None => (1..=255u8)
            .map(|n| Subnet {
                addr: std::net::Ipv4Addr::new(10, 199, n, 0),
                prefix: 24,
            })
            .find(|s| !in_use(s) && net::link::clash(s, "").is_none())
            .ok_or_else(|| {
                miette!(
                    help = "give one with `--subnet CIDR`, or remove unused networks",
                    "no free /24 left in 10.199.0.0/16"
                )
            })?,
    };
    let id = random_id();
    let network = Stored {
        bridge: format!("duckc-{}", &id[..8]),
        id,
        name: name.to_owned(),
        subnet,
        created: duckc_image::time::now(),
    };
    // The bridge now, as Docker does: its route keeps other networks (of other stores too)
    // off the subnet.
    net::link::ensure_bridge(&network.def())?;
    std::fs::create_dir_all(dir(store)).into_diagnostic()?;
    let path = dir(store).join(format!("{name}.json"));
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(&network).into_diagnostic()?)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))?;
    println!("{}", network.id);
    Ok(ExitCode::SUCCESS)
}

fn ls(store: &Store, args: &LsArgs) -> miette::Result<ExitCode> {
    let default = net::default_network()?;
    let mut rows = vec![vec![
        "NETWORK ID".to_owned(),
        "NAME".into(),
        "DRIVER".into(),
        "SUBNET".into(),
    ]];
    rows.push(vec![
        "bridge".into(),
        "bridge".into(),
        "bridge".into(),
        default.subnet.to_string(),
    ]);
    rows.push(vec![
        "host".into(),
        "host".into(),
        "host".into(),
        String::new(),
    ]);
    rows.push(vec![
        "none".into(),
        "none".into(),
        "null".into(),
        String::new(),
    ]);
    for n in stored(store) {
        rows.push(vec![
            n.id[..12].to_owned(),
            n.name.clone(),
            "bridge".into(),
            n.subnet.to_string(),
        ]);
    }
    if args.quiet {
        for r in &rows[1..] {
            println!("{}", r[0]);
        }
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", table(&rows));
    Ok(ExitCode::SUCCESS)
}

/// Columns padded to the widest cell plus three spaces, as Docker's tables.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.first().map_or(0, Vec::len);
    let widths: Vec<usize> = (0..cols)
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (c, cell) in r.iter().enumerate() {
            if c + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}", w = widths[c] + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn rm(store: &Store, args: &RmArgs) -> miette::Result<ExitCode> {
    for query in &args.networks {
        if RESERVED.contains(&query.as_str()) {
            return Err(miette!(
                help = "only networks made with `duckc network create` can be removed",
                "`{query}` is a built-in network"
            ));
        }
        let Some(network) = find(store, query) else {
            return Err(unknown(query));
        };
        let lock = net::lock()?;
        let users: Vec<String> = net::lease::all_in(&net::state_dir())
            .into_iter()
            .filter(|l| l.network.bridge == network.bridge && !l.stale())
            .map(|l| l.name)
            .collect();
        if !users.is_empty() {
            return Err(miette!(
                help = format!(
                    "stop them first (`duckc stop {}`), then remove the network",
                    users.join(" ")
                ),
                "network `{}` is in use by running container(s): {}",
                network.name,
                users.join(", ")
            ));
        }
        net::link::delete(&network.bridge)?;
        let _ = std::fs::remove_dir_all(net::state_dir().join("leases").join(&network.bridge));
        // Starts and exits leave a network's own rules loaded; this load drops them.
        let _ = net::lease::reload_firewall(&lock);
        std::fs::remove_file(dir(store).join(format!("{}.json", network.name)))
            .map_err(|e| miette!("cannot remove network `{}`: {e}", network.name))?;
        println!("{query}");
    }
    Ok(ExitCode::SUCCESS)
}

fn inspect(store: &Store, args: &InspectArgs) -> miette::Result<ExitCode> {
    let mut out = Vec::new();
    for query in &args.networks {
        let (id, def, created) = if query == "bridge" {
            let d = net::default_network()?;
            ("bridge".to_owned(), d, None)
        } else {
            let n = find(store, query).ok_or_else(|| unknown(query))?;
            (n.id.clone(), n.def(), Some(n.created))
        };
        let containers: Vec<serde_json::Value> = net::lease::members(&def.bridge)
            .into_iter()
            .map(|l| {
                serde_json::json!({
                    "Id": l.container,
                    "Name": l.name,
                    "IPv4Address": format!("{}/{}", l.address, def.subnet.prefix),
                    "MacAddress": net::link::mac_of(l.address),
                    "Aliases": l.aliases,
                })
            })
            .collect();
        out.push(serde_json::json!({
            "Name": def.name,
            "Id": id,
            "Created": created,
            "Driver": "bridge",
            "Bridge": def.bridge,
            "Subnet": def.subnet.to_string(),
            "Gateway": def.subnet.gateway().to_string(),
            "Containers": containers,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&out).into_diagnostic()?);
    Ok(ExitCode::SUCCESS)
}

fn unknown(name: &str) -> miette::Report {
    miette!(
        help = format!(
            "list networks with `duckc network ls`, or make it with `duckc network create {name}`"
        ),
        "network `{name}` not found"
    )
}

/// The published ports of the running container `id`, host ports as picked at its start.
pub fn ports_of(id: &str) -> Vec<Port> {
    let slirp = net::slirp::live()
        .into_iter()
        .filter(|r| r.container == id)
        .flat_map(|r| r.ports);
    net::lease::live()
        .into_iter()
        .filter(|l| l.container == id)
        .flat_map(|l| l.ports)
        .chain(slirp)
        .collect()
}

fn port(store: &Store, args: &PortArgs) -> miette::Result<ExitCode> {
    let (id, name) = crate::cmd::container::id_and_name(store, &args.container)?;
    let mut ports = ports_of(&id);
    if let Some(want) = &args.port {
        let (p, proto) = match want.split_once('/') {
            Some((p, proto)) => (p, proto),
            None => (want.as_str(), "tcp"),
        };
        ports.retain(|q| q.container_port.to_string() == p && q.proto.to_string() == proto);
        if ports.is_empty() {
            return Err(miette!(
                help = format!("`duckc port {name}` lists what it publishes"),
                "no public port `{want}` published for `{name}`"
            ));
        }
    }
    for p in ports {
        println!("{}", p.describe());
    }
    Ok(ExitCode::SUCCESS)
}

/// What `run` asks for, from its flags.
pub struct RunNet<'a> {
    pub network: &'a str,
    pub publish: &'a [String],
    pub publish_all: bool,
    pub aliases: &'a [String],
    /// The image's `ExposedPorts`, for `-P`.
    pub exposed: Vec<String>,
}

/// The runtime's network mode and request for `run`'s flags. Without root, the default
/// network stays loopback-only (no bridge can be made) and `-p` is refused.
pub fn request(
    store: &Store,
    flags: &RunNet<'_>,
    id: &str,
    name: &str,
) -> miette::Result<(duckc_runtime::Network, Option<net::Request>)> {
    use duckc_runtime::Network;
    let mut ports = Vec::new();
    for p in flags.publish {
        ports.push(
            net::parse_publish(p).map_err(|e| miette!(help = net::ports::publish_help(), "{e}"))?,
        );
    }
    if flags.publish_all {
        ports.extend(
            flags
                .exposed
                .iter()
                .filter_map(|k| net::ports::parse_exposed(k)),
        );
    }
    let def = match flags.network {
        "none" | "host" => {
            if !ports.is_empty() {
                return Err(miette!(
                    help = "leave `-p` out, or use the default network or a user network",
                    "`-p` cannot publish ports with `--network {}`",
                    flags.network
                ));
            }
            if !flags.aliases.is_empty() {
                return Err(miette!(
                    help = "`--network-alias` is for user networks: `--network NAME`",
                    "`--network-alias` needs a user network"
                ));
            }
            let mode = if flags.network == "none" {
                Network::None
            } else {
                Network::Host
            };
            return Ok((mode, None));
        }
        "default" | "bridge" | "private" => {
            if !flags.aliases.is_empty() {
                return Err(miette!(
                    help =
                        "make one with `duckc network create NAME` and run with `--network NAME`",
                    "`--network-alias` needs a user network (the default network resolves no names)"
                ));
            }
            net::default_network().map_err(|e| miette!(help = help_for(&e, "run"), "{e}"))?
        }
        other => find(store, other).ok_or_else(|| unknown(other))?.def(),
    };
    if duckc_runtime::process::is_rootless() {
        if def.name != "bridge" {
            return Err(miette!(
                help = "run duckc as root for user networks, or use the default network",
                "without root duckc cannot make bridges: user networks need root"
            ));
        }
        if !ports.is_empty()
            && let Err(why) = net::slirp::usable()
        {
            return Err(miette!(
                help = "publish ports as root, or make slirp4netns usable as the message says",
                "cannot publish ports without root: {why}"
            ));
        }
        // slirp4netns's network: one container per network namespace, always 10.0.2.100.
        return Ok((
            Network::Private,
            Some(net::Request {
                network: NetworkDef {
                    name: "bridge".into(),
                    bridge: "slirp4netns".into(),
                    subnet: Subnet {
                        addr: std::net::Ipv4Addr::new(10, 0, 2, 0),
                        prefix: 24,
                    },
                },
                container: id.to_owned(),
                name: name.to_owned(),
                aliases: Vec::new(),
                ports,
            }),
        ));
    }
    for a in flags.aliases {
        if a.is_empty() || a.contains(|c: char| c.is_whitespace() || c == '#') {
            return Err(miette!(
                help = "an alias is one host name, e.g. `--network-alias db`",
                "bad --network-alias `{a}`"
            ));
        }
    }
    Ok((
        Network::Private,
        Some(net::Request {
            network: def,
            container: id.to_owned(),
            name: name.to_owned(),
            aliases: flags.aliases.to_vec(),
            ports,
        }),
    ))
}

/// Before a stopped container starts again: its user network must still exist (it may have
/// been removed and made again with another bridge).
pub fn refresh(store: &Store, req: &mut net::Request) -> miette::Result<()> {
    if req.network.bridge == "slirp4netns" {
        return Ok(());
    }
    if req.network.name == "bridge" {
        req.network = net::default_network()?;
        return Ok(());
    }
    let n = find(store, &req.network.name).ok_or_else(|| unknown(&req.network.name))?;
    req.network = n.def();
    // Ports picked at the last start are picked again.
    Ok(())
}

/// What to do about a network failure of `duckc VERB` (`run`, or `build` for its steps):
/// the `help:` of its report.
pub fn help_for(err: &net::NetError, verb: &str) -> String {
    match err {
        net::NetError::Subnet(..) => format!(
            "set `{}` to an IPv4 subnet, e.g. 10.200.0.0/24",
            net::SUBNET_VAR
        ),
        net::NetError::Clash { network, .. } if network == "bridge" => format!(
            "set `{}` to a free private subnet (e.g. `{}=10.200.0.0/24`), or use `--network none`",
            net::SUBNET_VAR,
            net::SUBNET_VAR
        ),
        net::NetError::Clash { network, .. } => format!(
            "remove the network (`duckc network rm {network}`) and make it again with a free `--subnet`"
        ),
        net::NetError::BridgeAddress { bridge, .. } => format!(
            "the subnet changed (`{}`?) while the bridge stayed: when no container uses it, remove it with `ip link del {bridge}`",
            net::SUBNET_VAR
        ),
        net::NetError::Port(_) => {
            "choose another host port, or leave it out (`-p CONTAINER_PORT`) to get a free one"
                .into()
        }
        net::NetError::Missing(tool) => format!(
            "install it (`apt-get install {}`), or run with `--network none`",
            match *tool {
                "ip" => "iproute2",
                "slirp4netns" => "slirp4netns",
                _ => "nftables",
            }
        ),
        _ => format!("{verb} with `--network none` to start without a network"),
    }
}
