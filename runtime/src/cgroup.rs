//! Per-container cgroups: find the host's layout (cgroup v2, hybrid, or v1), make one cgroup per
//! container (and per build step) under a subtree duckc owns, apply the resource limits and the
//! devices allow list, put the init in it before it runs anything of the image, read usage,
//! freeze and thaw, kill what is left, and remove it.
//!
//! The layout: `duckc/<name>` under the root of every v1 hierarchy duckc uses (memory, cpu,
//! cpuacct, pids, devices, freezer, and cpuset when `--cpuset-cpus` asks for it), or under the
//! cgroup2 root on a pure v2 host, as Docker's cgroupfs driver does with `docker/<id>`. On a
//! hybrid host (v1 controllers plus an empty cgroup2 at `/sys/fs/cgroup/unified`) the v1
//! controllers do the work: the cgroup2 tree there has no controllers to give.
//!
//! cgroup files are plain files in a pseudo file system that only root (or a delegated user)
//! writes; they are written with `std::fs`, not through [`crate::kernel::Kernel`], which is
//! about the container's mount namespace.

pub mod bpf;
pub mod parse;

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::spec::Resources;

/// The directory duckc's cgroups live in, in every hierarchy.
pub const SUBTREE: &str = "duckc";

/// A v1 controller duckc uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Controller {
    Memory,
    Cpu,
    Cpuacct,
    Cpuset,
    Pids,
    Devices,
    Freezer,
}

impl Controller {
    const ALL: [Controller; 7] = [
        Controller::Memory,
        Controller::Cpu,
        Controller::Cpuacct,
        Controller::Cpuset,
        Controller::Pids,
        Controller::Devices,
        Controller::Freezer,
    ];

    fn name(self) -> &'static str {
        match self {
            Controller::Memory => "memory",
            Controller::Cpu => "cpu",
            Controller::Cpuacct => "cpuacct",
            Controller::Cpuset => "cpuset",
            Controller::Pids => "pids",
            Controller::Devices => "devices",
            Controller::Freezer => "freezer",
        }
    }
}

/// How the host mounts its cgroups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup2, mounted here.
    V2(PathBuf),
    /// v1 controllers, each at a mount point (several may share one); `unified` is the cgroup2
    /// mount of a hybrid host.
    V1 {
        mounts: Vec<(Controller, PathBuf)>,
        unified: Option<PathBuf>,
    },
    /// No cgroup file system is mounted.
    None,
}

impl Layout {
    /// The layout of this host, from `/proc/self/mountinfo` (read once per process).
    pub fn host() -> Layout {
        static HOST: std::sync::OnceLock<Layout> = std::sync::OnceLock::new();
        HOST.get_or_init(|| {
            let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
            Layout::from_mountinfo(&text)
        })
        .clone()
    }

    /// The layout described by a `mountinfo` text.
    pub fn from_mountinfo(text: &str) -> Layout {
        let mut mounts = Vec::new();
        let mut unified = None;
        for line in text.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mountpoint = left.split(' ').nth(4).unwrap_or_default();
            let mut right = right.split(' ');
            let fstype = right.next().unwrap_or_default();
            let options = right.nth(1).unwrap_or_default();
            match fstype {
                "cgroup2" => {
                    unified.get_or_insert_with(|| PathBuf::from(mountpoint));
                }
                "cgroup" => {
                    for c in Controller::ALL {
                        if options.split(',').any(|o| o == c.name())
                            && !mounts.iter().any(|(m, _)| *m == c)
                        {
                            mounts.push((c, PathBuf::from(mountpoint)));
                        }
                    }
                }
                _ => {}
            }
        }
        match (mounts.is_empty(), unified) {
            (true, Some(u)) => Layout::V2(u),
            (true, None) => Layout::None,
            (false, unified) => Layout::V1 { mounts, unified },
        }
    }
}

/// One container's (or build step's) cgroup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cgroup {
    /// Its directory in the cgroup2 tree.
    V2(PathBuf),
    /// Its directory in each v1 hierarchy used (one per mount point, listing the controllers
    /// that mount carries).
    V1(Vec<(Vec<Controller>, PathBuf)>),
}

/// What a container uses, read from its cgroup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used, nanoseconds.
    pub cpu_ns: u64,
    /// Memory in use (without the inactive file cache, as `docker stats` counts), bytes.
    pub memory: u64,
    /// The memory limit, or `None` when unlimited.
    pub memory_limit: Option<u64>,
    /// Number of tasks.
    pub pids: u64,
}

fn kernel(what: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
    let what = what.into();
    move |source| Error::Kernel { what, source }
}

fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let path = dir.join(file);
    std::fs::write(&path, value).map_err(kernel(format!(
        "cannot write `{value}` to `{}`",
        path.display()
    )))
}

fn read(dir: &Path, file: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .map(|s| s.trim().to_owned())
}

fn read_u64(dir: &Path, file: &str) -> Option<u64> {
    read(dir, file)?.parse().ok()
}

/// The limits in `resources` that ask for a cgroup, by their flag names.
pub fn requested_limits(resources: &Resources) -> Vec<&'static str> {
    let mut out = Vec::new();
    if resources.memory.is_some() {
        out.push("--memory");
    }
    if resources.memory_swap.is_some() {
        out.push("--memory-swap");
    }
    if resources.cpu_quota.is_some() {
        out.push("--cpus");
    }
    if resources.cpuset_cpus.is_some() {
        out.push("--cpuset-cpus");
    }
    if resources.pids_limit.is_some() {
        out.push("--pids-limit");
    }
    if !resources.devices.is_empty() {
        out.push("--device");
    }
    out
}

/// Whether a cgroup name is one path component duckc could have made.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A name for a build step's cgroup that no other step uses.
pub fn unique_name(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{prefix}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

impl Cgroup {
    /// The cgroup called `name` under duckc's subtree in `layout` (it may not exist); `None`
    /// when the host has no usable cgroup file system. `cpuset` adds the cpuset hierarchy on
    /// v1 (it needs two files copied before anything can join, so it is only used when asked).
    pub fn named(layout: &Layout, name: &str, cpuset: bool) -> Result<Option<Cgroup>> {
        if !valid_name(name) {
            return Err(Error::Config(format!("invalid cgroup name `{name}`")));
        }
        Ok(match layout {
            Layout::None => None,
            Layout::V2(root) => Some(Cgroup::V2(root.join(SUBTREE).join(name))),
            Layout::V1 { mounts, .. } => {
                let mut dirs: Vec<(Vec<Controller>, PathBuf)> = Vec::new();
                for (c, mount) in mounts {
                    if *c == Controller::Cpuset && !cpuset {
                        continue;
                    }
                    let dir = mount.join(SUBTREE).join(name);
                    match dirs.iter_mut().find(|(_, d)| *d == dir) {
                        Some((cs, _)) => cs.push(*c),
                        None => dirs.push((vec![*c], dir)),
                    }
                }
                Some(Cgroup::V1(dirs))
            }
        })
    }

    /// Every directory of this cgroup.
    pub fn dirs(&self) -> Vec<&Path> {
        match self {
            Cgroup::V2(d) => vec![d.as_path()],
            Cgroup::V1(dirs) => dirs.iter().map(|(_, d)| d.as_path()).collect(),
        }
    }

    fn v1(&self, c: Controller) -> Option<&Path> {
        match self {
            Cgroup::V1(dirs) => dirs
                .iter()
                .find(|(cs, _)| cs.contains(&c))
                .map(|(_, d)| d.as_path()),
            Cgroup::V2(_) => None,
        }
    }

    /// Whether any of its directories exists.
    pub fn exists(&self) -> bool {
        self.dirs().iter().any(|d| d.is_dir())
    }

    /// Make the cgroup (a stale one of the same name is removed first) and apply `resources`.
    pub fn create(&self, resources: &Resources) -> Result<()> {
        if self.exists() {
            self.kill_all();
            self.remove()?;
        }
        match self {
            Cgroup::V2(dir) => self.create_v2(dir, resources),
            Cgroup::V1(_) => self.create_v1(resources),
        }
        .inspect_err(|_| {
            let _ = self.remove();
        })
    }

    fn create_v1(&self, r: &Resources) -> Result<()> {
        for dir in self.dirs() {
            let parent = dir.parent().unwrap_or(dir);
            if !parent.is_dir() {
                std::fs::create_dir(parent)
                    .or_else(|e| match e.kind() {
                        io::ErrorKind::AlreadyExists => Ok(()),
                        _ => Err(e),
                    })
                    .map_err(kernel(format!("cannot create `{}`", parent.display())))?;
            }
            std::fs::create_dir(dir).map_err(kernel(format!(
                "cannot create the cgroup `{}`",
                dir.display()
            )))?;
        }
        if let Some(dir) = self.v1(Controller::Cpuset) {
            // A v1 cpuset cgroup takes no task until it has cpus and mems: inherit them.
            for file in ["cpuset.cpus", "cpuset.mems"] {
                let parent = dir.parent().unwrap_or(dir);
                if read(parent, file).unwrap_or_default().is_empty() {
                    let root = parent.parent().unwrap_or(parent);
                    write(parent, file, &read(root, file).unwrap_or_default())?;
                }
                write(dir, file, &read(parent, file).unwrap_or_default())?;
            }
            if let Some(cpus) = &r.cpuset_cpus {
                write(dir, "cpuset.cpus", cpus)?;
            }
        }
        if let (Some(dir), Some(m)) = (self.v1(Controller::Memory), r.memory) {
            write(dir, "memory.limit_in_bytes", &m.to_string())?;
            if let Some(sw) = swap_total(r)
                && dir.join("memory.memsw.limit_in_bytes").exists()
            {
                write(dir, "memory.memsw.limit_in_bytes", &sw.to_string())?;
            }
        }
        if let (Some(dir), Some((quota, period))) = (self.v1(Controller::Cpu), r.cpu_quota) {
            write(dir, "cpu.cfs_period_us", &period.to_string())?;
            write(dir, "cpu.cfs_quota_us", &quota.to_string())?;
        }
        if let (Some(dir), Some(max)) = (self.v1(Controller::Pids), r.pids_limit) {
            write(dir, "pids.max", &max.to_string())?;
        }
        if let Some(dir) = self.v1(Controller::Devices) {
            write(dir, "devices.deny", "a")?;
            for rule in device_rules(r)? {
                write(dir, "devices.allow", &rule.to_string())?;
            }
        }
        Ok(())
    }

    fn create_v2(&self, dir: &Path, r: &Resources) -> Result<()> {
        let subtree = dir.parent().unwrap_or(dir);
        let root = subtree.parent().unwrap_or(subtree);
        if !subtree.is_dir() {
            std::fs::create_dir(subtree)
                .or_else(|e| match e.kind() {
                    io::ErrorKind::AlreadyExists => Ok(()),
                    _ => Err(e),
                })
                .map_err(kernel(format!("cannot create `{}`", subtree.display())))?;
        }
        // Hand the controllers down: root → duckc → the container.
        let available = read(root, "cgroup.controllers").unwrap_or_default();
        let wanted: Vec<&str> = ["cpu", "cpuset", "memory", "pids"]
            .into_iter()
            .filter(|c| available.split(' ').any(|a| a == *c))
            .collect();
        for parent in [root, subtree] {
            let on = read(parent, "cgroup.subtree_control").unwrap_or_default();
            for c in wanted.iter().filter(|c| !on.split(' ').any(|o| o == **c)) {
                // One at a time: a controller the host will not hand down only matters when
                // a limit needs it, and writing that limit's file then says so.
                let _ = write(parent, "cgroup.subtree_control", &format!("+{c}"));
            }
        }
        std::fs::create_dir(dir).map_err(kernel(format!(
            "cannot create the cgroup `{}`",
            dir.display()
        )))?;
        if let Some(m) = r.memory {
            write(dir, "memory.max", &m.to_string())?;
            if dir.join("memory.swap.max").exists() {
                let swap = match swap_total(r) {
                    Some(total) => total.saturating_sub(m).to_string(),
                    None => "max".to_owned(),
                };
                write(dir, "memory.swap.max", &swap)?;
            }
        }
        if let Some((quota, period)) = r.cpu_quota {
            write(dir, "cpu.max", &format!("{quota} {period}"))?;
        }
        if let Some(cpus) = &r.cpuset_cpus {
            write(dir, "cpuset.cpus", cpus)?;
        }
        if let Some(max) = r.pids_limit {
            write(dir, "pids.max", &max.to_string())?;
        }
        let program = bpf::program(&device_rules(r)?);
        bpf::attach(dir, &program)
    }

    /// On v1, the `tasks` file of each directory, open for writing, for a new single-threaded
    /// process to move itself in by writing `0` (`join_self`); `None` on v2.
    ///
    /// Why: writing a pid to `cgroup.procs` (what [`Cgroup::add`] does, and what runc and crun
    /// do) takes the kernel's global `cgroup_threadgroup_rwsem` for writing, which waits for
    /// an RCU grace period: 6–14 ms per start on this project's 2-vCPU VM. A thread that moves
    /// itself through `tasks` (`pid` 0, one thread) needs no such lock (the kernel's
    /// `cgroup_procs_write_start`: "If the thread is `current`, it won't exit(2) under our
    /// hands"), and a process cloned from a single thread is that one thread. The files are
    /// opened by the runtime before the clone, so the permission the kernel checks is the
    /// opener's.
    pub fn open_tasks(&self) -> Result<Option<Vec<std::os::fd::OwnedFd>>> {
        let Cgroup::V1(dirs) = self else {
            return Ok(None);
        };
        dirs.iter()
            .map(|(_, dir)| {
                let path = dir.join("tasks");
                std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map(std::os::fd::OwnedFd::from)
                    .map_err(kernel(format!("cannot open `{}`", path.display())))
            })
            .collect::<Result<Vec<_>>>()
            .map(Some)
    }

    /// Move `pid` (and its threads) into the cgroup.
    pub fn add(&self, pid: i32) -> Result<()> {
        for dir in self.dirs() {
            write(dir, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    /// The pids in the cgroup.
    pub fn pids(&self) -> Vec<i32> {
        let mut out: Vec<i32> = self
            .dirs()
            .iter()
            .filter_map(|d| read(d, "cgroup.procs"))
            .flat_map(|t| {
                t.lines()
                    .filter_map(|l| l.trim().parse().ok())
                    .collect::<Vec<i32>>()
            })
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// SIGKILL every process in the cgroup (`cgroup.kill` on v2; on v1, freeze, signal every
    /// listed pid, thaw, so nothing forks past the signal).
    pub fn kill_all(&self) {
        if let Cgroup::V2(dir) = self
            && write(dir, "cgroup.kill", "1").is_ok()
        {
            return;
        }
        let frozen = self.freeze().is_ok();
        for _ in 0..10 {
            let pids = self.pids();
            if pids.is_empty() {
                break;
            }
            for pid in pids {
                let _ = crate::process::kill(pid, libc::SIGKILL);
            }
            if !frozen {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        if frozen {
            let _ = self.thaw();
        }
    }

    /// Remove the cgroup's directories (the processes in it must be gone; zombies that have
    /// not been reaped yet get a moment to go).
    pub fn remove(&self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(2);
        for dir in self.dirs() {
            loop {
                match std::fs::remove_dir(dir) {
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => break,
                    Err(e)
                        if e.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
                    {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(e) => {
                        return Err(kernel(format!(
                            "cannot remove the cgroup `{}`",
                            dir.display()
                        ))(e));
                    }
                }
            }
        }
        Ok(())
    }

    /// Kill whatever is left in the cgroup and remove it; usually empty by then, so one
    /// `rmdir` per directory, and only a busy one has processes to kill.
    pub fn destroy(&self) -> Result<()> {
        if self.try_remove() {
            return Ok(());
        }
        self.kill_all();
        self.remove()
    }

    /// The directories of the cgroup called `name` that exist (every hierarchy it may be in).
    fn existing(layout: &Layout, name: &str) -> Option<Cgroup> {
        Some(match Cgroup::named(layout, name, true).ok().flatten()? {
            Cgroup::V1(dirs) => Cgroup::V1(dirs.into_iter().filter(|(_, d)| d.is_dir()).collect()),
            v2 => v2,
        })
    }

    /// Remove every directory that is empty; false when one still has processes (or cannot
    /// be removed for another reason).
    fn try_remove(&self) -> bool {
        self.dirs().iter().all(|d| match std::fs::remove_dir(d) {
            Ok(()) => true,
            Err(e) => e.kind() == io::ErrorKind::NotFound,
        })
    }

    /// Freeze every process in the cgroup; returns once the kernel says they are frozen.
    pub fn freeze(&self) -> Result<()> {
        self.set_frozen(true)
    }

    /// Thaw a frozen cgroup.
    pub fn thaw(&self) -> Result<()> {
        self.set_frozen(false)
    }

    /// Whether the cgroup is frozen now.
    pub fn is_frozen(&self) -> bool {
        match self {
            Cgroup::V2(dir) => {
                parse::events_frozen(&read(dir, "cgroup.events").unwrap_or_default())
            }
            Cgroup::V1(_) => self
                .v1(Controller::Freezer)
                .and_then(|d| read(d, "freezer.state"))
                .is_some_and(|s| s == "FROZEN"),
        }
    }

    fn set_frozen(&self, frozen: bool) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        let timeout = || Error::Kernel {
            what: "the container did not freeze in 10 seconds".into(),
            source: io::Error::from(io::ErrorKind::TimedOut),
        };
        match self {
            Cgroup::V2(dir) => {
                write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
                while parse::events_frozen(&read(dir, "cgroup.events").unwrap_or_default())
                    != frozen
                {
                    if Instant::now() > deadline {
                        return Err(timeout());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            Cgroup::V1(_) => {
                let Some(dir) = self.v1(Controller::Freezer) else {
                    return Err(Error::Config(
                        "the host has no freezer cgroup to pause the container with".into(),
                    ));
                };
                let want = if frozen { "FROZEN" } else { "THAWED" };
                loop {
                    write(dir, "freezer.state", want)?;
                    // FREEZING means some task has not stopped yet: ask again until it settles.
                    if read(dir, "freezer.state").as_deref() == Some(want) {
                        break;
                    }
                    if Instant::now() > deadline {
                        let _ = write(dir, "freezer.state", "THAWED");
                        return Err(timeout());
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        Ok(())
    }

    /// What the cgroup's processes use now.
    pub fn usage(&self) -> Usage {
        match self {
            Cgroup::V2(dir) => {
                let stat = read(dir, "memory.stat").unwrap_or_default();
                let current = read_u64(dir, "memory.current").unwrap_or(0);
                Usage {
                    cpu_ns: parse::keyed(&read(dir, "cpu.stat").unwrap_or_default(), "usage_usec")
                        .unwrap_or(0)
                        * 1000,
                    memory: current
                        .saturating_sub(parse::keyed(&stat, "inactive_file").unwrap_or(0)),
                    memory_limit: read_u64(dir, "memory.max"),
                    pids: read_u64(dir, "pids.current").unwrap_or(0),
                }
            }
            Cgroup::V1(_) => {
                let mem = self.v1(Controller::Memory);
                let stat = mem.and_then(|d| read(d, "memory.stat")).unwrap_or_default();
                let current = mem
                    .and_then(|d| read_u64(d, "memory.usage_in_bytes"))
                    .unwrap_or(0);
                // v1 reports "no limit" as the largest page-aligned i64.
                let limit = mem
                    .and_then(|d| read_u64(d, "memory.limit_in_bytes"))
                    .filter(|l| *l < (1 << 62));
                Usage {
                    cpu_ns: self
                        .v1(Controller::Cpuacct)
                        .and_then(|d| read_u64(d, "cpuacct.usage"))
                        .unwrap_or(0),
                    memory: current
                        .saturating_sub(parse::keyed(&stat, "total_inactive_file").unwrap_or(0)),
                    memory_limit: limit,
                    pids: self
                        .v1(Controller::Pids)
                        .and_then(|d| read_u64(d, "pids.current"))
                        .unwrap_or(0),
                }
            }
        }
    }
}

/// memory + swap, bytes, as Docker computes it: `--memory-swap` when given (`-1`: unlimited),
/// otherwise twice `--memory`.
fn swap_total(r: &Resources) -> Option<u64> {
    match (r.memory, r.memory_swap) {
        (_, Some(-1)) => None,
        (_, Some(s)) => u64::try_from(s).ok(),
        (Some(m), None) => m.checked_mul(2),
        (None, None) => None,
    }
}

/// The devices cgroup's allow list for `r`: Docker's default set plus every `--device`, whose
/// node is checked to be a device now.
pub fn device_rules(r: &Resources) -> Result<Vec<bpf::Rule>> {
    let mut rules = bpf::default_rules();
    for d in &r.devices {
        let (kind, major, minor) = device_number(&d.host)?;
        rules.push(bpf::Rule {
            kind,
            major: Some(major),
            minor: Some(minor),
            access: bpf::Access::parse(&d.access)
                .ok_or_else(|| Error::Config(format!("invalid device access `{}`", d.access)))?,
        });
    }
    Ok(rules)
}

/// The type and number of the device node at `path` (following links, as Docker does for
/// `/dev/disk/by-id/…` names).
pub fn device_number(path: &Path) -> Result<(bpf::Kind, u32, u32)> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let meta = std::fs::metadata(path)
        .map_err(kernel(format!("cannot stat device `{}`", path.display())))?;
    let kind = if meta.file_type().is_char_device() {
        bpf::Kind::Char
    } else if meta.file_type().is_block_device() {
        bpf::Kind::Block
    } else {
        return Err(Error::NotADevice(path.display().to_string()));
    };
    let rdev = meta.rdev();
    Ok((kind, rustix::fs::major(rdev), rustix::fs::minor(rdev)))
}

/// Move the calling thread into the cgroup whose `tasks` files are `tasks` (from
/// [`Cgroup::open_tasks`]); returns the `errno` of the first write that fails. Only system
/// calls, no allocation: the child of a raw `clone` calls it before anything else.
pub(crate) fn join_self(tasks: &[std::os::fd::RawFd]) -> std::result::Result<(), i32> {
    for fd in tasks {
        // SAFETY: writing one byte from a static buffer to a descriptor the caller holds.
        if unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) } != 1 {
            return Err(io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO));
        }
    }
    Ok(())
}

/// The cgroup of the container called `name`, if the host has cgroups; for commands that find
/// an existing one (`rm`, `stats`, `commit`), with every hierarchy it may be in.
pub fn of_container(name: &str) -> Option<Cgroup> {
    Cgroup::existing(&Layout::host(), name)
}

/// Kill what is left in the container called `name`'s cgroup and remove it: after its init
/// exited, or a stale one after duckc itself was killed. Quiet when there is none.
pub fn remove_container(name: &str) -> Result<()> {
    of_container(name).map_or(Ok(()), |cg| cg.destroy())
}

/// The cgroup directory of `pid` in each hierarchy, for `exec`: the helper joins whatever
/// duckc cgroup the container's init is in.
pub fn of_pid(pid: i32) -> Option<Cgroup> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let layout = Layout::host();
    let marker = format!("/{SUBTREE}/");
    match &layout {
        Layout::V2(root) => text
            .lines()
            .find_map(|l| l.strip_prefix("0::"))
            .filter(|p| p.contains(&marker))
            .map(|p| Cgroup::V2(root.join(p.trim_start_matches('/')))),
        Layout::V1 { mounts, .. } => {
            let mut dirs: Vec<(Vec<Controller>, PathBuf)> = Vec::new();
            for line in text.lines() {
                let mut parts = line.splitn(3, ':');
                let (_, ctrls, path) = (parts.next(), parts.next()?, parts.next()?);
                if !path.contains(&marker) {
                    continue;
                }
                for (c, mount) in mounts {
                    if ctrls.split(',').any(|x| x == c.name()) {
                        let dir = mount.join(path.trim_start_matches('/'));
                        match dirs.iter_mut().find(|(_, d)| *d == dir) {
                            Some((cs, _)) => cs.push(*c),
                            None => dirs.push((vec![*c], dir)),
                        }
                    }
                }
            }
            (!dirs.is_empty()).then_some(Cgroup::V1(dirs))
        }
        Layout::None => None,
    }
}

/// Remove the build-step cgroups (`build-<pid>-…`, see [`unique_name`]) whose duckc process is
/// gone, killing what is left in them: a build killed mid-step (`kill -9`, a lost terminal)
/// leaves its step's cgroup, and perhaps the step, behind, and nothing else would ever remove
/// it. Called before each build step makes its own; one directory read when there is nothing
/// to do. A pid that was reused keeps its cgroups until that process is gone too.
pub fn sweep_stale_builds(layout: &Layout) {
    let Ok(Some(probe)) = Cgroup::named(layout, "build-0-0-0", false) else {
        return;
    };
    let Some(subtree) = probe.dirs().first().and_then(|d| d.parent()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(subtree) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(pid) = name
            .strip_prefix("build-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Some(stale) = Cgroup::existing(layout, name) {
            let _ = stale.destroy();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    #[test]
    fn hybrid_layout_uses_the_v1_controllers() {
        let layout = Layout::from_mountinfo(HYBRID);
        let Layout::V1 { mounts, unified } = &layout else {
            panic!("{layout:?}");
        };
        assert_eq!(
            unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
        assert_eq!(mounts.len(), 4);
        let cg = Cgroup::named(&layout, "abc", false).unwrap().unwrap();
        assert_eq!(
            cg,
            Cgroup::V1(vec![
                (
                    vec![Controller::Cpu, Controller::Cpuacct],
                    PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/duckc/abc")
                ),
                (
                    vec![Controller::Memory],
                    PathBuf::from("/sys/fs/cgroup/memory/duckc/abc")
                ),
                (
                    vec![Controller::Devices],
                    PathBuf::from("/sys/fs/cgroup/devices/duckc/abc")
                ),
            ])
        );
    }

    #[test]
    fn pure_v2_and_none() {
        let v2 = "30 23 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let layout = Layout::from_mountinfo(v2);
        assert_eq!(layout, Layout::V2(PathBuf::from("/sys/fs/cgroup")));
        assert_eq!(
            Cgroup::named(&layout, "x", true).unwrap(),
            Some(Cgroup::V2(PathBuf::from("/sys/fs/cgroup/duckc/x")))
        );
        assert_eq!(Layout::from_mountinfo(""), Layout::None);
    }

    #[test]
    fn names_are_one_component() {
        let layout = Layout::from_mountinfo(HYBRID);
        for bad in ["", ".", "..", "a/b", "../../x", "a b"] {
            assert!(Cgroup::named(&layout, bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn swap_follows_docker() {
        let r = |memory, memory_swap| Resources {
            memory,
            memory_swap,
            ..Default::default()
        };
        assert_eq!(swap_total(&r(Some(100), None)), Some(200));
        assert_eq!(swap_total(&r(Some(100), Some(-1))), None);
        assert_eq!(swap_total(&r(Some(100), Some(100))), Some(100));
        assert_eq!(swap_total(&r(None, None)), None);
    }
}
