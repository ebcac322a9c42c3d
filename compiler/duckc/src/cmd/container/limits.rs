//! The cgroup side of the container verbs: `run`'s resource-limit and `--device` flags, the
//! `stats` table, `pause`/`unpause`, and pausing a container for `commit`.

use std::time::{Duration, Instant};

use clap::Args;
use duckc_runtime::Resources;
use duckc_runtime::cgroup::{self, Cgroup, parse};
use duckc_runtime::container::{self, Config, Dir, Status};
use miette::miette;

// `run`'s limits, spelled as Docker spells them.
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args, Default)]
pub struct LimitArgs {
    /// Memory limit (`512m`, `2g`; at least 6m).
    #[arg(short = 'm', long, value_name = "BYTES")]
    pub memory: Option<String>,
    /// Memory plus swap (`-1`: unlimited swap; default: twice `--memory`).
    #[arg(long, value_name = "BYTES", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs (`1.5`), as a CFS quota.
    #[arg(long, value_name = "NUMBER")]
    pub cpus: Option<String>,
    /// CPUs the container may run on (`0-2`, `0,1`).
    #[arg(long, value_name = "LIST")]
    pub cpuset_cpus: Option<String>,
    /// Most processes and threads at once (`-1`: unlimited).
    #[arg(long, value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<String>,
    /// A resource limit for the container's processes: `NAME=SOFT[:HARD]` (`nofile=1024:2048`).
    #[arg(long, value_name = "NAME=SOFT[:HARD]")]
    pub ulimit: Vec<String>,
    /// Give the container a host device, `HOST[:CONTAINER][:rwm]`, or a CDI device,
    /// `vendor.com/class=name`.
    #[arg(long, value_name = "HOST[:CONTAINER][:rwm]")]
    pub device: Vec<String>,
}

fn bad(flag: &str, help: &str) -> impl Fn(String) -> miette::Report {
    let (flag, help) = (flag.to_owned(), help.to_owned());
    move |e| miette!(help = help.clone(), "invalid `{flag}`: {e}")
}

/// The container's cgroup name and limits from the flags; every bad value is a diagnostic.
pub fn resources(id: &str, a: &LimitArgs) -> miette::Result<Resources> {
    let memory = a
        .memory
        .as_deref()
        .map(parse::memory)
        .transpose()
        .map_err(bad(
            "--memory",
            "write a size like `512m` or `2g` (at least 6m)",
        ))?;
    let memory_swap = a
        .memory_swap
        .as_deref()
        .map(parse::memory_swap)
        .transpose()
        .map_err(bad(
            "--memory-swap",
            "write a size like `1g`, or `-1` for unlimited swap",
        ))?;
    if let Some(swap) = memory_swap {
        let Some(m) = memory else {
            return Err(miette!(
                help = "give `--memory` too: `--memory-swap` is memory plus swap",
                "`--memory-swap` needs `--memory`"
            ));
        };
        if swap != -1 && (swap as u64) < m {
            return Err(miette!(
                help = "`--memory-swap` is memory plus swap: make it at least `--memory`, or `-1` for unlimited swap",
                "minimum memoryswap limit should be larger than memory limit"
            ));
        }
    }
    let cpu_quota = a
        .cpus
        .as_deref()
        .map(parse::cpus)
        .transpose()
        .map_err(bad("--cpus", "write a number of CPUs like `1.5` or `0.25`"))?;
    let cpuset_cpus = a
        .cpuset_cpus
        .as_deref()
        .map(parse::cpuset)
        .transpose()
        .map_err(bad(
            "--cpuset-cpus",
            "write CPU numbers and ranges like `0-2,4`",
        ))?;
    if let Some(set) = &cpuset_cpus {
        let online = std::thread::available_parallelism().map_or(1, |n| n.get());
        let too_high = set.split(',').any(|part| {
            part.rsplit('-')
                .next()
                .and_then(|n| n.parse::<usize>().ok())
                .is_some_and(|n| n >= online)
        });
        if too_high {
            return Err(miette!(
                help = format!("this machine has CPUs 0-{}", online - 1),
                "invalid `--cpuset-cpus {set}`: requested CPUs are not available"
            ));
        }
    }
    let pids_limit = match a.pids_limit.as_deref() {
        Some(p) => parse::pids_limit(p)
            .map_err(bad("--pids-limit", "write a number, or `-1` for no limit"))?,
        None => None,
    };
    let ulimits = a
        .ulimit
        .iter()
        .map(|u| parse::ulimit(u))
        .collect::<Result<Vec<_>, _>>()
        .map_err(bad(
            "--ulimit",
            "write `NAME=SOFT[:HARD]` with NAME one of core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack",
        ))?;
    let mut devices = Vec::new();
    // CDI devices (`vendor.com/class=name`) are resolved with the other device flags.
    for d in a
        .device
        .iter()
        .filter(|d| !duckc_runtime::cdi::is_qualified(d))
    {
        let host = d.split(':').next().unwrap_or_default();
        if host.starts_with('/') {
            cgroup::device_number(std::path::Path::new(host)).map_err(|e| {
                miette!(
                    help = "`--device` takes a character or block device node, e.g. `/dev/loop0`",
                    "{e}"
                )
            })?;
        }
        let dev = parse::device(d).map_err(bad(
            "--device",
            "write `--device /dev/HOST[:/dev/CONTAINER][:rwm]`",
        ))?;
        devices.push(dev);
    }
    Ok(Resources {
        cgroup: id.to_owned(),
        memory,
        memory_swap,
        cpu_quota,
        cpuset_cpus,
        pids_limit,
        ulimits,
        devices,
    })
}

/// The running container's cgroup, or why there is none.
fn running_cgroup(dir: &Dir, config: &Config, query: &str) -> miette::Result<Cgroup> {
    let running = dir
        .read_state()
        .is_ok_and(|s| s.status == Status::Running && container::alive(s.pid, s.pid_start));
    if !running {
        return Err(miette!(
            help = format!("start it with `duckc start {query}`"),
            "container `{query}` is not running"
        ));
    }
    let name = &config.spec.resources.cgroup;
    cgroup::of_container(if name.is_empty() { &config.id } else { name })
        .filter(Cgroup::exists)
        .ok_or_else(|| {
            miette!(
                help = "containers started without root, or by an older duckc, have no cgroup",
                "container `{query}` has no cgroup"
            )
        })
}

/// `duckc pause` / `unpause`.
pub fn set_paused(dir: &Dir, config: &Config, query: &str, paused: bool) -> miette::Result<()> {
    let cg = running_cgroup(dir, config, query)?;
    Ok(if paused { cg.freeze() } else { cg.thaw() }?)
}

/// Whether the container's cgroup is frozen (`ps` shows `(Paused)`).
pub fn is_paused(config: &Config) -> bool {
    let name = &config.spec.resources.cgroup;
    !name.is_empty() && cgroup::of_container(name).is_some_and(|c| c.exists() && c.is_frozen())
}

/// Run `f` with the container frozen when it runs and `pause` is set (`commit`), thawing it
/// afterwards whatever `f` returns. A running container without a cgroup is committed with a
/// warning.
pub fn while_paused<T>(
    dir: &Dir,
    config: &Config,
    query: &str,
    pause: bool,
    f: impl FnOnce() -> miette::Result<T>,
) -> miette::Result<T> {
    let running = dir
        .read_state()
        .is_ok_and(|s| s.status == Status::Running && container::alive(s.pid, s.pid_start));
    if !pause || !running {
        return f();
    }
    let cg = match running_cgroup(dir, config, query) {
        Ok(cg) => cg,
        Err(_) => {
            eprintln!(
                "warning: container `{query}` has no cgroup to pause; committing it while it runs"
            );
            return f();
        }
    };
    if cg.is_frozen() {
        // Paused by the user: leave it paused.
        return f();
    }
    cg.freeze().map_err(|e| {
        miette!(
            help = "commit it with `--pause=false`",
            "cannot pause `{query}`: {e}"
        )
    })?;
    let result = f();
    let thawed = cg.thaw();
    let out = result?;
    thawed.map_err(|e| {
        miette!(
            help = format!("thaw it with `duckc unpause {query}`"),
            "cannot unpause `{query}` after the commit: {e}"
        )
    })?;
    Ok(out)
}

/// One `stats` row's numbers.
struct Sample {
    at: Instant,
    usage: cgroup::Usage,
}

fn sample(config: &Config) -> Option<Sample> {
    let name = &config.spec.resources.cgroup;
    let cg = cgroup::of_container(if name.is_empty() { &config.id } else { name })?;
    cg.exists().then(|| Sample {
        at: Instant::now(),
        usage: cg.usage(),
    })
}

/// A byte count as `docker stats` prints it: binary units, four significant digits.
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    let decimals = if v >= 1000.0 {
        0
    } else if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[unit])
}

fn host_memory() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// The `stats` table for `containers`, from two samples `interval` apart.
pub fn stats_table(containers: &[(Dir, Config)], interval: Duration) -> String {
    let first: Vec<Option<Sample>> = containers.iter().map(|(_, c)| sample(c)).collect();
    std::thread::sleep(interval);
    let total = host_memory();
    let mut rows = vec![
        [
            "CONTAINER ID",
            "NAME",
            "CPU %",
            "MEM USAGE / LIMIT",
            "MEM %",
            "PIDS",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for ((_, config), before) in containers.iter().zip(first) {
        let id = config.id[..12.min(config.id.len())].to_owned();
        let (Some(before), Some(now)) = (before, sample(config)) else {
            rows.push(vec![
                id,
                config.name.clone(),
                "--".into(),
                "-- / --".into(),
                "--".into(),
                "--".into(),
            ]);
            continue;
        };
        let wall = now.at.duration_since(before.at).as_nanos().max(1) as f64;
        let cpu = now.usage.cpu_ns.saturating_sub(before.usage.cpu_ns) as f64 / wall * 100.0;
        let limit = now.usage.memory_limit.unwrap_or(total).min(total.max(1));
        let mem_pct = now.usage.memory as f64 / limit.max(1) as f64 * 100.0;
        rows.push(vec![
            id,
            config.name.clone(),
            format!("{cpu:.2}%"),
            format!("{} / {}", human_bytes(now.usage.memory), human_bytes(limit)),
            format!("{mem_pct:.2}%"),
            now.usage.pids.to_string(),
        ]);
    }
    super::table::render(&rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_like_docker() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(512 * 1024), "512KiB");
        assert_eq!(human_bytes(3_649_536), "3.48MiB");
        assert_eq!(human_bytes(32 << 20), "32MiB");
        assert_eq!(human_bytes(8_233_902_080), "7.668GiB");
    }

    #[test]
    fn bad_limits_are_diagnostics() {
        let ok = resources(
            "x",
            &LimitArgs {
                memory: Some("32m".into()),
                memory_swap: Some("32m".into()),
                pids_limit: Some("20".into()),
                cpus: Some("0.5".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(ok.memory, Some(32 << 20));
        assert_eq!(ok.cpu_quota, Some((50_000, 100_000)));
        for args in [
            LimitArgs {
                memory: Some("lots".into()),
                ..Default::default()
            },
            LimitArgs {
                memory_swap: Some("1g".into()),
                ..Default::default()
            },
            LimitArgs {
                memory: Some("64m".into()),
                memory_swap: Some("32m".into()),
                ..Default::default()
            },
            LimitArgs {
                cpus: Some("-1".into()),
                ..Default::default()
            },
            LimitArgs {
                cpuset_cpus: Some("9999".into()),
                ..Default::default()
            },
            LimitArgs {
                ulimit: vec!["nofile".into()],
                ..Default::default()
            },
            LimitArgs {
                device: vec!["/etc/passwd".into()],
                ..Default::default()
            },
        ] {
            let e = resources("x", &args).unwrap_err();
            let shown = format!("{e:?}");
            assert!(shown.contains("help"), "{shown}");
        }
    }
}
