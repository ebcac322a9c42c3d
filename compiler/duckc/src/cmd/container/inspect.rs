//! Containers as JSON in Docker's shapes: `inspect`'s document, the row `ps --format` sees,
//! and `ps --filter`.

use duckc_image::time::{format_rfc3339, human_duration};
use duckc_runtime::container::{Config, Dir, State, Status};
use duckc_store::Store;
use miette::miette;
use serde_json::{Value, json};

use super::limits;
use super::table;

/// Docker's state word: `created`, `running`, `paused`, `exited`.
pub fn status_word(config: &Config, state: &State) -> &'static str {
    match state.status {
        Status::Created => "created",
        Status::Running if limits::is_paused(config) => "paused",
        Status::Running => "running",
        Status::Exited => "exited",
    }
}

/// The fields of Docker's `inspect` that duckc has, in Docker's names.
pub fn document(store: &Store, dir: &Dir, config: &Config, state: &State) -> Value {
    let spec = &config.spec;
    let time = |t: Option<i64>| t.map_or("0001-01-01T00:00:00Z".to_owned(), format_rfc3339);
    let image_id = duckc_image::resolve(store, &config.image_digest)
        .map(|i| i.config_digest.to_string())
        .unwrap_or_else(|_| config.image_digest.clone());
    let mut mounts: Vec<Value> = spec
        .volumes
        .iter()
        .map(|v| {
            json!({
                "Type": "bind",
                "Source": v.source,
                "Destination": v.target,
                "Mode": if v.readonly { "ro" } else { "" },
                "RW": !v.readonly,
                "Propagation": "rprivate",
            })
        })
        .collect();
    mounts.extend(super::mounts::inspect_tmpfs(spec));
    let r = &spec.resources;
    let running = state.status == Status::Running;
    json!({
        "Id": config.id,
        "Created": format_rfc3339(config.created),
        "Path": spec.process.args.first(),
        "Args": spec.process.args.get(1..).unwrap_or_default(),
        "State": {
            "Status": status_word(config, state),
            "Running": running,
            "Paused": running && limits::is_paused(config),
            "Restarting": false,
            "OOMKilled": false,
            "Dead": false,
            "Pid": state.pid.unwrap_or(0),
            "ExitCode": state.exit_code.unwrap_or(0),
            "Error": "",
            "StartedAt": time(state.started_at),
            "FinishedAt": time(state.finished_at),
        },
        "Image": image_id,
        "LogPath": dir.log(),
        "Name": format!("/{}", config.name),
        "RestartCount": 0,
        "Driver": "overlay",
        "Platform": "linux",
        "HostConfig": {
            "Binds": spec.volumes.iter().map(|v| format!(
                "{}:{}{}", v.source.display(), v.target, if v.readonly { ":ro" } else { "" }
            )).collect::<Vec<_>>(),
            "NetworkMode": match spec.network {
                duckc_runtime::Network::Private => "default",
                duckc_runtime::Network::None => "none",
                duckc_runtime::Network::Host => "host",
            },
            "AutoRemove": config.auto_remove,
            "Dns": spec.dns.servers,
            "DnsSearch": spec.dns.search,
            "DnsOptions": spec.dns.options,
            "ExtraHosts": spec.dns.add_hosts,
            "Memory": r.memory.unwrap_or(0),
            "MemorySwap": r.memory_swap.unwrap_or(0),
            "NanoCpus": r.cpu_quota.map_or(0, |(q, p)| q * 1_000_000_000 / p.max(1)),
            "CpusetCpus": r.cpuset_cpus.clone().unwrap_or_default(),
            "PidsLimit": r.pids_limit,
            "Ulimits": r.ulimits.iter().map(|u| json!({"Name": u.name, "Soft": u.soft, "Hard": u.hard})).collect::<Vec<_>>(),
            "Devices": r.devices.iter().map(|d| json!({
                "PathOnHost": d.host, "PathInContainer": d.container, "CgroupPermissions": d.access
            })).collect::<Vec<_>>(),
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {
                "UpperDir": spec.rootfs.upper,
                "WorkDir": spec.rootfs.work,
                "MergedDir": spec.rootfs.mountpoint,
                "LowerDir": spec.rootfs.lower.iter().rev()
                    .map(|p| p.display().to_string()).collect::<Vec<_>>().join(":"),
            },
        },
        "Mounts": mounts,
        "Config": {
            "Hostname": spec.hostname,
            "User": spec.process.user,
            "Tty": spec.process.terminal,
            "OpenStdin": config.interactive,
            "Env": spec.process.env,
            "Cmd": spec.process.args,
            "Image": config.image,
            "WorkingDir": spec.process.cwd,
            "StopSignal": config.stop_signal,
            "StopTimeout": config.stop_timeout,
        },
    })
}

/// One row of `ps` as `--format` sees it (Docker's field names).
pub fn ps_row(config: &Config, state: &State, now: i64) -> Value {
    let status = if state.status == Status::Running && limits::is_paused(config) {
        format!("{} (Paused)", table::status(state, now))
    } else {
        table::status(state, now)
    };
    json!({
        "ID": super::short(&config.id),
        "Image": config.image,
        "Command": table::command(config),
        "CreatedAt": format_rfc3339(config.created),
        "RunningFor": format!("{} ago", human_duration(now - config.created)),
        "Ports": "",
        "State": status_word(config, state),
        "Status": status,
        "Names": config.name,
        "Labels": "",
        "Mounts": config.spec.volumes.iter().map(|v| v.target.clone()).collect::<Vec<_>>().join(","),
        "Networks": "",
    })
}

/// `ps --filter KEY=VALUE`: values of one key are alternatives, different keys must all hold.
#[derive(Debug, Default)]
pub struct Filters {
    status: Vec<String>,
    name: Vec<String>,
    ancestor: Vec<String>,
    id: Vec<String>,
    exited: Vec<i32>,
}

impl Filters {
    pub fn parse(args: &[String]) -> miette::Result<Filters> {
        let mut f = Filters::default();
        for arg in args {
            let bad = |why: &str| {
                miette!(
                    help = "filters are `status=created|running|paused|exited`, `name=NAME`, `ancestor=IMAGE`, `id=ID` and `exited=CODE`",
                    "bad filter `{arg}`: {why}"
                )
            };
            let (key, value) = arg
                .split_once('=')
                .ok_or_else(|| bad("write `KEY=VALUE`"))?;
            let value = value.to_owned();
            match key {
                "status" => {
                    if !["created", "running", "paused", "exited"].contains(&value.as_str()) {
                        return Err(bad(&format!("no status `{value}`")));
                    }
                    f.status.push(value);
                }
                "name" => f.name.push(value),
                "ancestor" => f.ancestor.push(value),
                "id" => f.id.push(value),
                "exited" => f.exited.push(
                    value
                        .parse()
                        .map_err(|_| bad("`exited` takes an exit code"))?,
                ),
                _ => return Err(bad(&format!("duckc has no `{key}` filter"))),
            }
        }
        Ok(f)
    }

    /// A status filter lists stopped containers without `-a`, as in Docker.
    pub fn implies_all(&self) -> bool {
        !self.status.is_empty() || !self.exited.is_empty()
    }

    pub fn matches(&self, store: &Store, config: &Config, state: &State) -> bool {
        let any = |list: &[String], f: &dyn Fn(&str) -> bool| {
            list.is_empty() || list.iter().any(|v| f(v))
        };
        any(&self.status, &|s| s == status_word(config, state))
            // Docker matches names as a regular expression; duckc as a substring.
            && any(&self.name, &|n| config.name.contains(n.trim_start_matches('/')))
            && any(&self.id, &|i| config.id.starts_with(i))
            && any(&self.ancestor, &|a| ancestor_matches(store, config, a))
            && (self.exited.is_empty()
                || (state.status == Status::Exited
                    && self.exited.contains(&state.exit_code.unwrap_or(0))))
    }
}

/// Whether the container runs `image` (as written, or as the image that name resolves to).
fn ancestor_matches(store: &Store, config: &Config, image: &str) -> bool {
    if config.image == image {
        return true;
    }
    let Ok(want) = duckc_image::resolve(store, image) else {
        return false;
    };
    duckc_image::resolve(store, &config.image_digest).is_ok_and(|have| {
        have.digest == want.digest || have.manifest_digest == want.manifest_digest
    })
}
