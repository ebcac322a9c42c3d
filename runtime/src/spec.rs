//! What to run, as plain data: the root filesystem layers, the process, the namespaces.
//!
//! A [`ContainerSpec`] is what the CLI keeps in a container's `config.json` and what a build's
//! `run` step hands to the runtime; it is serialised to the container init unchanged.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The container's root filesystem: an overlay of read-only layer snapshots under a writable
/// upper directory that outlives the container (so a stopped container keeps its changes).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rootfs {
    /// Layer directories, bottom first (the image's layer order).
    pub lower: Vec<PathBuf>,
    /// Where the container's changes go (whiteouts included).
    pub upper: PathBuf,
    /// overlayfs's scratch directory, on the same file system as `upper`.
    pub work: PathBuf,
    /// An empty directory to mount the overlay on (inside the container's own mount namespace).
    pub mountpoint: PathBuf,
    /// Keep the changes on a tmpfs inside the container's mount namespace instead of in
    /// `upper`/`work` (which are then unused): they vanish with the container, and starting
    /// one writes nothing to disk (`run --rm`).
    #[serde(default)]
    pub ephemeral: bool,
}

/// Which network namespace the container gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Network {
    /// A new network namespace with loopback up, joined to the network in
    /// [`ContainerSpec::net`] when there is one (the default).
    #[default]
    Private,
    /// A new network namespace with only loopback (`--network none`).
    None,
    /// The host's network namespace.
    Host,
}

/// Name resolution options (`--add-host`, `--dns`, `--dns-search`, `--dns-option`), from
/// which the container's `/etc/hosts` and `/etc/resolv.conf` are generated ([`crate::etc`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dns {
    /// `NAME:IP` entries for `/etc/hosts`.
    #[serde(default)]
    pub add_hosts: Vec<String>,
    /// Nameservers that replace the host's.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Search domains that replace the host's.
    #[serde(default)]
    pub search: Vec<String>,
    /// `options` that replace the host's.
    #[serde(default)]
    pub options: Vec<String>,
}

/// A host path bind-mounted into the container (`-v HOST:CTR[:ro]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Volume {
    pub source: PathBuf,
    pub target: String,
    #[serde(default)]
    pub readonly: bool,
}

/// The process to start inside the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Process {
    /// argv; `args[0]` is looked up in the container's `PATH` when it has no `/`.
    pub args: Vec<String>,
    /// `KEY=VALUE` pairs.
    pub env: Vec<String>,
    /// Working directory inside the container; created when missing (as Docker does).
    pub cwd: String,
    /// `user`, `uid`, `user:group` or `uid:gid`; empty means root.
    pub user: String,
    /// Give the process a pseudo-terminal (`-t`).
    #[serde(default)]
    pub terminal: bool,
}

/// Everything needed to start a container.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub rootfs: Rootfs,
    pub process: Process,
    pub hostname: String,
    #[serde(default)]
    pub network: Network,
    #[serde(default)]
    pub volumes: Vec<Volume>,
    /// The seccomp profile (`--security-opt seccomp=…`): Docker's default unless asked
    /// otherwise, also for configs written before duckc had seccomp.
    #[serde(default)]
    pub seccomp: crate::seccomp::Seccomp,
    #[serde(default)]
    pub resources: Resources,
    /// Name resolution options for the generated `/etc/hosts` and `/etc/resolv.conf`.
    #[serde(default)]
    pub dns: Dns,
    /// IPC namespace and `/dev/shm`, extra groups, OCI hooks and `--init`.
    #[serde(default)]
    pub launch: Launch,
    /// tmpfs file systems mounted into the container (`--mount type=tmpfs`).
    #[serde(default)]
    pub tmpfs: Vec<Tmpfs>,
    /// With [`Network::Private`]: the network to join (bridge, user network) and the ports to
    /// publish; `None` keeps the namespace loopback-only (build steps).
    #[serde(default)]
    pub net: Option<crate::net::Request>,
}

/// How the container starts beyond its root and its process: its IPC namespace and
/// `/dev/shm` (`--ipc`, `--shm-size`), extra groups (`--group-add`, CDI `additionalGids`),
/// the OCI hooks of CDI devices, and a reaper as pid 1 (`--init`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launch {
    #[serde(default)]
    pub ipc: Ipc,
    /// The size of the container's `/dev/shm` tmpfs in bytes; `None` is Docker's 64 MiB.
    #[serde(default)]
    pub shm_size: Option<u64>,
    /// Supplementary groups for the process: ids, or names looked up in the image's
    /// `/etc/group` when the container starts.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// OCI hooks (from CDI specs), run at their stages ([`crate::hooks`]).
    #[serde(default)]
    pub hooks: Vec<crate::hooks::Hook>,
    /// Keep the runtime's init as pid 1: it forwards signals to the command and reaps
    /// orphaned processes ([`crate::reaper`]).
    #[serde(default)]
    pub init: bool,
}

/// Docker's `/dev/shm` size when `--shm-size` is not given.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// The container's IPC namespace (System V IPC, POSIX message queues) and `/dev/shm`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ipc {
    /// Its own namespace and `/dev/shm`, which no other container may join.
    #[default]
    Private,
    /// Its own, which other containers may join (`--ipc container:NAME`).
    Shareable,
    /// The host's namespace and the host's `/dev/shm`.
    Host,
    /// Another container's: its namespace is joined and its `/dev/shm` mounted.
    Container {
        /// The other container's ID.
        id: String,
        /// Host pid of its init, set each time this container starts.
        pid: i32,
    },
}

/// A tmpfs mounted into the container (`--mount type=tmpfs,target=…`), `nosuid,nodev,noexec`
/// as Docker mounts it; its contents live and die with the mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tmpfs {
    /// Where, inside the container (created when missing).
    pub target: String,
    /// Size limit in bytes (`tmpfs-size`); the kernel's default (half the memory) when unset.
    #[serde(default)]
    pub size: Option<u64>,
    /// Permission bits of its root (`tmpfs-mode`; default 1777).
    #[serde(default)]
    pub mode: Option<u32>,
}

/// A host device node given to the container (`--device HOST[:CONTAINER][:rwm]`): bound into
/// its `/dev` and allowed in its devices cgroup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The node on the host (checked to be a character or block device when the container
    /// starts).
    pub host: PathBuf,
    /// Where it appears inside the container (under `/dev`).
    pub container: String,
    /// Any of `r`, `w`, `m`.
    pub access: String,
}

/// One `--ulimit NAME=SOFT[:HARD]`: set with `setrlimit` in the init before the command runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ulimit {
    /// Docker's name: `nofile`, `nproc`, `core`, …
    pub name: String,
    pub soft: u64,
    pub hard: u64,
}

/// The container's cgroup and what is limited in it; everything unset means "no limit".
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// The cgroup's name under duckc's subtree (`duckc/<cgroup>` in every hierarchy); empty
    /// for a build step, which gets a unique one removed after the step.
    #[serde(default)]
    pub cgroup: String,
    /// `--memory`, bytes.
    #[serde(default)]
    pub memory: Option<u64>,
    /// `--memory-swap`, bytes of memory plus swap; `-1` for unlimited swap.
    #[serde(default)]
    pub memory_swap: Option<i64>,
    /// `--cpus` as a CFS quota per period, microseconds.
    #[serde(default)]
    pub cpu_quota: Option<(u64, u64)>,
    /// `--cpuset-cpus`, in the kernel's list syntax (`0-2,4`).
    #[serde(default)]
    pub cpuset_cpus: Option<String>,
    /// `--pids-limit`.
    #[serde(default)]
    pub pids_limit: Option<u64>,
    /// `--ulimit`.
    #[serde(default)]
    pub ulimits: Vec<Ulimit>,
    /// `--device`.
    #[serde(default)]
    pub devices: Vec<Device>,
}
