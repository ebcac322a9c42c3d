//! `run`'s flags for what a container gets beyond its image: CDI devices (`--device
//! vendor.com/class=name`) and GPUs (`--gpus`), extra groups, `/dev/shm` and the IPC
//! namespace, the caller's display (`--gui`), a reaper as pid 1 (`--init`), and the refusal
//! of `--privileged`.

use std::path::{Path, PathBuf};

use clap::Args;
use duckc_runtime::cdi::{self, Registry};
use duckc_runtime::container::{self, Config, Dir, Status};
use duckc_runtime::{ContainerSpec, Device, Ipc, Volume};
use miette::miette;

#[derive(Debug, Args, Default)]
pub struct DeviceArgs {
    /// GPUs through CDI: `all`, a count, or `device=ID[,ID]` (the `nvidia.com/gpu` devices
    /// that `nvidia-ctk cdi generate` describes).
    #[arg(long, value_name = "all|N|device=ID[,ID]")]
    pub gpus: Option<String>,
    /// Add a supplementary group: a gid, or a name from the image's /etc/group.
    #[arg(long = "group-add", value_name = "GROUP")]
    pub group_add: Vec<String>,
    /// Size of /dev/shm (`256m`, `1g`; default 64m).
    #[arg(long = "shm-size", value_name = "BYTES")]
    pub shm_size: Option<String>,
    /// IPC namespace: `private` (default), `shareable`, `host` or `container:NAME`.
    #[arg(long, value_name = "MODE")]
    pub ipc: Option<String>,
    /// Give the container your display: the X11 socket and a cookie, or the Wayland socket,
    /// and /dev/dri.
    #[arg(long)]
    pub gui: bool,
    /// Run a reaper as pid 1 that passes signals on and reaps orphaned processes.
    #[arg(long)]
    pub init: bool,
    /// Not supported: duckc says which flags to use instead.
    #[arg(long)]
    pub privileged: bool,
}

/// What `--gui` puts at the X authority file's place inside the container.
const XAUTHORITY_IN_CONTAINER: &str = "/tmp/.duckc-xauthority";
/// `XDG_RUNTIME_DIR` inside the container with `--gui` on Wayland.
const XDG_RUNTIME_IN_CONTAINER: &str = "/tmp/duckc-xdg-runtime";

/// Apply the flags to `spec`. `devices` are the `--device` values (CDI names among them),
/// `user_env` the `-e` flags (which win over what a device or `--gui` sets), `dir` the
/// container's own directory, `containers` every container (for `--ipc container:NAME`).
pub fn apply(
    args: &DeviceArgs,
    devices: &[String],
    user_env: &[String],
    spec: &mut ContainerSpec,
    dir: &Path,
    containers: &[(Dir, Config)],
) -> miette::Result<()> {
    if args.privileged {
        return Err(miette!(
            help = "give the container what it needs instead: `--device /dev/NODE` or `--device vendor.com/class=NAME` for devices, `--gpus all` for GPUs, `--security-opt seccomp=unconfined` to lift the system-call filter, `--ipc host` or `--network host` for the host's namespaces",
            "`--privileged` is not supported: duckc cannot yet give a container every capability, every device and a writable /sys and /proc honestly"
        ));
    }
    let launch = &mut spec.launch;
    launch.init = args.init;
    if let Some(size) = &args.shm_size {
        let bytes = duckc_runtime::cgroup::parse::size(size)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| {
                miette!(
                    help = "write a size like `256m` or `1g`",
                    "invalid `--shm-size {size}`"
                )
            })?;
        launch.shm_size = Some(bytes);
    }
    if let Some(mode) = &args.ipc {
        launch.ipc = ipc_mode(mode, containers)?;
    }
    for g in &args.group_add {
        check_group(g)?;
        launch.group_add.push(g.clone());
    }

    let mut names: Vec<String> = devices
        .iter()
        .filter(|d| cdi::is_qualified(d))
        .cloned()
        .collect();
    let mut env = Vec::new();
    if !names.is_empty() || args.gpus.is_some() {
        let registry = Registry::load(&cdi::spec_dirs()).map_err(cdi_report)?;
        if let Some(gpus) = &args.gpus {
            names.extend(gpu_devices(&registry, gpus)?);
        }
        let edits = registry.resolve(&names).map_err(cdi_report)?;
        for m in &edits.mounts {
            if !m.source.exists() {
                return Err(miette!(
                    help = "the device's vendor software may be missing or broken on this host; reinstall it or regenerate its CDI spec",
                    "a CDI device mounts `{}`, which does not exist",
                    m.source.display()
                ));
            }
        }
        spec.resources.devices.extend(edits.devices);
        spec.volumes.extend(edits.mounts);
        spec.launch.hooks.extend(edits.hooks);
        spec.launch
            .group_add
            .extend(edits.gids.iter().map(u32::to_string));
        env.extend(edits.env);
    }
    if args.gui {
        gui(spec, dir, &mut env)?;
    }
    if !env.is_empty() {
        super::merge_env(&mut spec.process.env, &env);
        super::merge_env(&mut spec.process.env, user_env);
    }
    Ok(())
}

/// A `--group-add` value: a gid in range, or a name to look up in the image.
fn check_group(g: &str) -> miette::Result<()> {
    let numeric = !g.is_empty() && g.bytes().all(|b| b.is_ascii_digit());
    let ok = if numeric {
        g.parse::<u64>()
            .ok()
            .is_some_and(|n| n <= u64::from(duckc_runtime::user::MAX_ID))
    } else {
        !g.is_empty() && !g.contains([':', '\n', ','])
    };
    if ok {
        Ok(())
    } else {
        Err(miette!(
            help = "give a group id between 0 and 2147483647, or a group name from the image's /etc/group",
            "invalid `--group-add {g}`"
        ))
    }
}

fn ipc_mode(mode: &str, containers: &[(Dir, Config)]) -> miette::Result<Ipc> {
    Ok(match mode {
        "" | "private" => Ipc::Private,
        "shareable" => Ipc::Shareable,
        "host" => Ipc::Host,
        other => {
            let Some(name) = other.strip_prefix("container:") else {
                return Err(miette!(
                    help = "use `--ipc private`, `shareable`, `host` or `container:NAME`",
                    "unknown IPC mode `{other}`"
                ));
            };
            let (id, pid) = shareable(name, containers)?;
            Ipc::Container { id, pid }
        }
    })
}

/// The container `name` whose IPC namespace another may join, and its init's pid.
fn shareable(name: &str, containers: &[(Dir, Config)]) -> miette::Result<(String, i32)> {
    if duckc_runtime::process::is_rootless() {
        return Err(miette!(
            help = "run duckc as root, or use `--ipc shareable` and one container",
            "`--ipc container:{name}` needs root: joining another container's namespaces is not possible from a user namespace of its own"
        ));
    }
    let found = containers
        .iter()
        .find(|(_, c)| c.name == name || c.id == name)
        .or_else(|| {
            let mut hits = containers.iter().filter(|(_, c)| c.id.starts_with(name));
            match (hits.next(), hits.next()) {
                (Some(hit), None) => Some(hit),
                _ => None,
            }
        });
    let Some((dir, config)) = found else {
        return Err(miette!(
            help = "list containers with `duckc ps`",
            "no container `{name}` to share IPC with"
        ));
    };
    // Named as the user knows it now: a start looks the peer up by the id it recorded.
    let name = &config.name;
    let state = dir.read_state().ok();
    // Running by its state file, and its init still the process with that pid (not a pid
    // the kernel gave to something else since).
    let pid = match state {
        Some(s) if s.status == Status::Running && container::alive(s.pid, s.pid_start) => s.pid,
        _ => None,
    };
    let Some(pid) = pid else {
        return Err(miette!(
            help = format!("start it first with `duckc start {name}`"),
            "container `{name}` is not running"
        ));
    };
    if !matches!(config.spec.launch.ipc, Ipc::Shareable | Ipc::Host) {
        return Err(miette!(
            help = format!("start `{name}` with `--ipc shareable`, as Docker requires"),
            "container `{name}` has a private IPC namespace, which other containers cannot join"
        ));
    }
    Ok((config.id.clone(), pid))
}

/// Before each start: the pid of the container whose IPC namespace this one joins, which
/// must be running and shareable now.
pub fn refresh_ipc(
    spec: &mut ContainerSpec,
    containers: impl FnOnce() -> Vec<(Dir, Config)>,
) -> miette::Result<()> {
    // The containers are listed only for a container that joins another's IPC namespace:
    // `start` of any other pays nothing.
    if let Ipc::Container { id, pid } = &mut spec.launch.ipc {
        let (_, now) = shareable(id, &containers())?;
        *pid = now;
    }
    Ok(())
}

/// The CDI devices `--gpus` names, as Docker with the NVIDIA Container Toolkit in CDI mode
/// maps them: `all` → `nvidia.com/gpu=all`, `N` → the first N GPUs by index,
/// `device=ID[,ID]` → `nvidia.com/gpu=ID` each (an index or a `GPU-…` UUID).
fn gpu_devices(registry: &Registry, text: &str) -> miette::Result<Vec<String>> {
    const KIND: &str = "nvidia.com/gpu";
    let bad = |why: &str| {
        miette!(
            help = "write `--gpus all`, `--gpus 2` or `--gpus '\"device=0,1\"'`",
            "invalid `--gpus {text}`: {why}"
        )
    };
    let mut count: Option<Option<usize>> = None; // Some(None) = all
    let mut ids: Vec<String> = Vec::new();
    for field in csv_fields(text) {
        let field = field.trim();
        match field.split_once('=') {
            None if field == "all" => count = Some(None),
            None if !field.is_empty() && field.bytes().all(|b| b.is_ascii_digit()) => {
                count = Some(Some(
                    field.parse().map_err(|_| bad("the count is too large"))?,
                ));
            }
            Some(("count", "all")) => count = Some(None),
            Some(("count", n)) => {
                count = Some(Some(n.parse().map_err(|_| bad("`count` is not a number"))?));
            }
            Some(("device", list)) => ids.extend(
                list.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned),
            ),
            Some(("driver", "nvidia")) => {}
            Some(("driver", other)) => {
                return Err(bad(&format!(
                    "driver `{other}` is not supported (only `nvidia`)"
                )));
            }
            // The CDI spec decides what a GPU brings; capabilities select nothing there.
            Some(("capabilities", _)) => {}
            Some((key, _)) => return Err(bad(&format!("unknown key `{key}`"))),
            None => return Err(bad(&format!("unknown value `{field}`"))),
        }
    }
    if count.is_some() && !ids.is_empty() {
        return Err(bad("give a count or devices, not both"));
    }
    if count.is_none() && ids.is_empty() {
        return Err(bad("it names no GPU"));
    }
    if !registry.has_kind(KIND) {
        return Err(miette!(
            help = "generate the NVIDIA CDI spec with `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml` (NVIDIA Container Toolkit), then run again",
            "no CDI spec describes `{KIND}` devices, which `--gpus` uses"
        ));
    }
    let names = match count {
        Some(None) => vec![format!("{KIND}=all")],
        Some(Some(n)) => {
            let mut indexed: Vec<(u64, String)> = registry
                .names_of_kind(KIND)
                .into_iter()
                .filter_map(|name| {
                    let (_, dev) = name.split_once('=')?;
                    Some((dev.parse().ok()?, name.clone()))
                })
                .collect();
            indexed.sort();
            if indexed.len() < n {
                return Err(miette!(
                    help = format!(
                        "ask for at most {} (`--gpus {}`), or `--gpus all`",
                        indexed.len(),
                        indexed.len()
                    ),
                    "`--gpus {text}` asks for {n} GPUs; the CDI spec describes {}",
                    indexed.len()
                ));
            }
            indexed.into_iter().take(n).map(|(_, name)| name).collect()
        }
        None => ids.iter().map(|id| format!("{KIND}={id}")).collect(),
    };
    Ok(names)
}

/// Fields of Docker's `--gpus` value: comma-separated, a double-quoted field may hold
/// commas (`"device=0,1",capabilities=utility`).
fn csv_fields(text: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => fields.push(String::new()),
            c => fields.last_mut().expect("one field").push(c),
        }
    }
    fields
}

fn cdi_report(e: cdi::Error) -> miette::Report {
    let help = match &e {
        cdi::Error::UnknownDevice { known, .. } if known.is_empty() => {
            "no CDI spec defines any device; a device's vendor installs its spec in /etc/cdi or /var/run/cdi (`$DUCKC_CDI_SPEC_DIRS` overrides the list)".to_owned()
        }
        cdi::Error::UnknownDevice { known, .. } => {
            format!("known CDI devices: {}", known.join(", "))
        }
        cdi::Error::NotQualified(_) => {
            "a CDI device is named `vendor.com/class=name`; a host device node is an absolute path like `/dev/loop0`".into()
        }
        cdi::Error::Insecure { path, .. } => format!(
            "CDI specs can run programs as root: make `{}` root's and writable only by root (`chown root:root` and `chmod go-w`)",
            path.display()
        ),
        cdi::Error::Malformed { .. } | cdi::Error::Invalid { .. } => {
            "fix the spec file, or regenerate it with the vendor's tool".into()
        }
        cdi::Error::Conflict { .. } => {
            "remove one of the two spec files, or move one to a later spec directory".into()
        }
        cdi::Error::Unsupported { .. } => "leave this device out: duckc cannot apply it".into(),
        cdi::Error::BadNode { .. } => {
            "the device or its driver is missing on this host; check it with `ls -l /dev`, or regenerate the CDI spec".into()
        }
        cdi::Error::Io { .. } => "check that the spec directory can be read".into(),
    };
    miette!(help = help, "{e}")
}

/// `--gui`: the caller's X11 display (its socket, `DISPLAY`, a cookie that is valid inside)
/// and Wayland compositor (its socket, `WAYLAND_DISPLAY`, `XDG_RUNTIME_DIR`), whichever are
/// set, and the nodes of `/dev/dri` for direct rendering.
fn gui(spec: &mut ContainerSpec, dir: &Path, env: &mut Vec<String>) -> miette::Result<()> {
    let display = std::env::var("DISPLAY").ok().filter(|d| !d.is_empty());
    let wayland = std::env::var("WAYLAND_DISPLAY")
        .ok()
        .filter(|d| !d.is_empty());
    if display.is_none() && wayland.is_none() {
        return Err(miette!(
            help = "run duckc from a desktop session, or set `DISPLAY` (X11, e.g. `:0`) or `WAYLAND_DISPLAY`",
            "`--gui` needs a display, and neither `DISPLAY` nor `WAYLAND_DISPLAY` is set"
        ));
    }
    if let Some(display) = display {
        x11(spec, dir, env, &display)?;
    }
    if let Some(wayland) = wayland {
        let socket = if wayland.starts_with('/') {
            PathBuf::from(&wayland)
        } else {
            let runtime = std::env::var("XDG_RUNTIME_DIR").map_err(|_| {
                miette!(
                    help = "set `XDG_RUNTIME_DIR` to the directory that holds the Wayland socket",
                    "`WAYLAND_DISPLAY={wayland}` is relative and `XDG_RUNTIME_DIR` is not set"
                )
            })?;
            Path::new(&runtime).join(&wayland)
        };
        check_socket(&socket, "Wayland compositor")?;
        let name = socket
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "wayland-0".into());
        let target = format!("{XDG_RUNTIME_IN_CONTAINER}/{name}");
        spec.volumes.push(Volume {
            source: socket,
            target,
            readonly: false,
        });
        env.push(format!("WAYLAND_DISPLAY={name}"));
        env.push(format!("XDG_RUNTIME_DIR={XDG_RUNTIME_IN_CONTAINER}"));
    }
    if let Ok(entries) = std::fs::read_dir("/dev/dri") {
        use std::os::unix::fs::FileTypeExt;
        let mut nodes: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_char_device()))
            .map(|e| e.path())
            .collect();
        nodes.sort();
        for node in nodes {
            let path = node.display().to_string();
            spec.resources.devices.push(Device {
                host: node,
                container: path,
                access: "rwm".into(),
            });
        }
    }
    Ok(())
}

fn check_socket(path: &Path, what: &str) -> miette::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Ok(m) if m.file_type().is_socket() => Ok(()),
        _ => Err(miette!(
            help = format!("start the {what}, or check the variable that names it"),
            "no {what} socket at `{}`",
            path.display()
        )),
    }
}

/// `DISPLAY` → (number, screen suffix) for a local display (`:0`, `:1.0`, `unix:0`).
fn parse_display(display: &str) -> Option<(u32, &str)> {
    let (host, rest) = display.rsplit_once(':')?;
    if !(host.is_empty() || host == "unix") {
        return None;
    }
    let (number, screen) = match rest.find('.') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    Some((number.parse().ok()?, screen))
}

fn x11(
    spec: &mut ContainerSpec,
    dir: &Path,
    env: &mut Vec<String>,
    display: &str,
) -> miette::Result<()> {
    let (number, screen) = parse_display(display).ok_or_else(|| {
        miette!(
            help = "`--gui` gives a container a local X server's socket; for a display over TCP, pass `-e DISPLAY` with `--network host` yourself",
            "`DISPLAY={display}` is not a local display like `:0`"
        )
    })?;
    let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
    check_socket(&socket, "X server")?;
    spec.volumes.push(Volume {
        source: socket.clone(),
        target: socket.display().to_string(),
        readonly: false,
    });
    env.push(format!("DISPLAY=:{number}{screen}"));
    // The caller's cookie for this display, with its address family made the wildcard
    // (`ffff`): the container has another hostname, so a cookie bound to ours would not
    // match there. The file is the container's own, in its directory.
    let listed = std::process::Command::new("xauth")
        .args(["nlist", &format!(":{number}")])
        .stderr(std::process::Stdio::null())
        .output()
        .map_err(|e| {
            miette!(
                help = "install xauth (Debian: `apt-get install xauth`)",
                "`--gui` cannot run `xauth` to copy the X11 cookie: {e}"
            )
        })?;
    let cookies: String = String::from_utf8_lossy(&listed.stdout)
        .lines()
        .filter(|l| l.len() > 4)
        .map(|l| format!("ffff{}\n", &l[4..]))
        .collect();
    if cookies.is_empty() {
        eprintln!(
            "duckc: note: your X authority file has no cookie for display :{number}; the container connects without one"
        );
        return Ok(());
    }
    let file = dir.join("Xauthority");
    let mut merge = std::process::Command::new("xauth")
        .arg("-f")
        .arg(&file)
        .args(["nmerge", "-"])
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| miette!("cannot run `xauth`: {e}"))?;
    if let Some(mut stdin) = merge.stdin.take() {
        use std::io::Write;
        let _ = stdin.write_all(cookies.as_bytes());
    }
    let status = merge
        .wait()
        .map_err(|e| miette!("cannot run `xauth`: {e}"))?;
    if !status.success() || !file.exists() {
        return Err(miette!(
            help = "check that `xauth nlist :{number}` works in your session",
            "`xauth` could not write the container's X11 cookie"
        ));
    }
    // Readable by whichever user the container runs as; the container's directory above it
    // is private to root.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644))
        .map_err(|e| miette!("cannot set the mode of `{}`: {e}", file.display()))?;
    spec.volumes.push(Volume {
        source: file,
        target: XAUTHORITY_IN_CONTAINER.into(),
        readonly: true,
    });
    env.push(format!("XAUTHORITY={XAUTHORITY_IN_CONTAINER}"));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays() {
        assert_eq!(parse_display(":0"), Some((0, "")));
        assert_eq!(parse_display(":12.1"), Some((12, ".1")));
        assert_eq!(parse_display("unix:3"), Some((3, "")));
        assert_eq!(parse_display("remote:0"), None);
        assert_eq!(parse_display("localhost:10.0"), None);
        assert_eq!(parse_display("0"), None);
    }

    #[test]
    fn gpus_fields_keep_quoted_commas() {
        assert_eq!(
            csv_fields("\"device=0,1\",capabilities=utility"),
            ["device=0,1", "capabilities=utility"]
        );
        assert_eq!(csv_fields("all"), ["all"]);
    }
}
