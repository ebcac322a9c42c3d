//! The Container Device Interface: vendor spec files that say what a named device
//! (`vendor.com/class=name`) needs in a container — device nodes, mounts, environment, hooks,
//! extra groups — read from `/etc/cdi` and `/var/run/cdi` as Podman and containerd read them.
//!
//! A spec file is trusted configuration, like `/etc`: its hooks run host programs as root.
//! So a file, its directory and every directory above must belong to root and be writable by
//! nobody else (a sticky, root-owned directory such as `/tmp` is fine above the spec
//! directory); otherwise it is refused, whoever asks for a device.
//!
//! Spec directories are read in order and a later one wins for a device both define (the
//! spec's "priority"); the same device twice in one directory is a conflict. Files are JSON
//! (`.json`) or YAML (`.yaml`, what `nvidia-ctk cdi generate` writes).

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::hooks::{Hook, Stage};
use crate::spec::{Device, Volume};

/// The spec directories used when `$DUCKC_CDI_SPEC_DIRS` is not set, lowest priority first.
pub const DEFAULT_DIRS: &[&str] = &["/etc/cdi", "/var/run/cdi"];

/// The newest CDI spec version this reader knows.
pub const NEWEST_VERSION: (u64, u64, u64) = (1, 1, 0);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("CDI spec `{path}` is not safe to use: {why}")]
    Insecure { path: PathBuf, why: String },
    #[error("malformed CDI spec `{path}` at line {line}, column {column}: {message}")]
    Malformed {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("invalid CDI spec `{path}`: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("cannot read CDI spec `{path}`: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is not a CDI device name")]
    NotQualified(String),
    #[error("unknown CDI device `{name}`")]
    UnknownDevice { name: String, known: Vec<String> },
    #[error("CDI device `{name}` is defined twice, in `{first}` and `{second}`")]
    Conflict {
        name: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("CDI device `{name}` needs {what}, which duckc does not support")]
    Unsupported { name: String, what: String },
    #[error("CDI device `{name}`: {message}")]
    BadNode { name: String, message: String },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The spec directories: `$DUCKC_CDI_SPEC_DIRS` (colon-separated) or [`DEFAULT_DIRS`].
pub fn spec_dirs() -> Vec<PathBuf> {
    match std::env::var_os("DUCKC_CDI_SPEC_DIRS") {
        Some(v) if !v.is_empty() => std::env::split_paths(&v).collect(),
        _ => DEFAULT_DIRS.iter().map(PathBuf::from).collect(),
    }
}

/// One spec file, as the CDI spec defines it (unknown fields are refused).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SpecFile {
    cdi_version: String,
    kind: String,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
    devices: Vec<DeviceSpec>,
    #[serde(default)]
    container_edits: ContainerEdits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceSpec {
    name: String,
    #[serde(default)]
    #[allow(dead_code)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    container_edits: ContainerEdits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ContainerEdits {
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    hooks: Vec<HookSpec>,
    #[serde(default)]
    mounts: Vec<MountSpec>,
    #[serde(default)]
    additional_gids: Vec<u32>,
    #[serde(default)]
    intel_rdt: Option<serde_json::Value>,
    #[serde(default)]
    net_devices: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct DeviceNode {
    path: String,
    #[serde(default)]
    host_path: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    major: Option<i64>,
    #[serde(default)]
    minor: Option<i64>,
    #[serde(default)]
    #[allow(dead_code)]
    file_mode: Option<u32>,
    #[serde(default)]
    permissions: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    uid: Option<u32>,
    #[serde(default)]
    #[allow(dead_code)]
    gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct HookSpec {
    hook_name: String,
    path: String,
    #[serde(default)]
    args: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    timeout: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MountSpec {
    host_path: String,
    container_path: String,
    #[serde(default)]
    options: Vec<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// What the requested devices add to a container, in duckc's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Edits {
    /// `KEY=VALUE`, appended to the container's environment.
    pub env: Vec<String>,
    /// Host nodes bound under `/dev` and allowed in the devices cgroup.
    pub devices: Vec<Device>,
    /// Bind mounts.
    pub mounts: Vec<Volume>,
    pub hooks: Vec<Hook>,
    /// Supplementary groups for the process (0 left out, as the spec says).
    pub gids: Vec<u32>,
}

/// Every readable spec file of the spec directories, and where each device is defined.
#[derive(Debug, Default)]
pub struct Registry {
    specs: Vec<(PathBuf, SpecFile)>,
    /// The index of each spec's directory: a later directory wins.
    priority: Vec<usize>,
    /// Qualified name → (spec index, device index).
    devices: BTreeMap<String, (usize, usize)>,
}

impl Registry {
    /// Read the spec files of `dirs` (missing directories are skipped). Any unsafe or
    /// malformed file is an error: a spec that is silently skipped would make its devices
    /// look unknown, and an unsafe one must never be half-trusted.
    pub fn load(dirs: &[PathBuf]) -> Result<Registry> {
        let mut reg = Registry::default();
        for (priority, dir) in dirs.iter().enumerate() {
            let meta = match std::fs::symlink_metadata(dir) {
                Ok(m) => m,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(source) => {
                    return Err(Error::Io {
                        path: dir.clone(),
                        source,
                    });
                }
            };
            let dir = if meta.file_type().is_symlink() {
                // `/var/run` is a link to `/run` on most systems: resolve, then check the
                // real directory and everything above it.
                std::fs::canonicalize(dir).map_err(|source| Error::Io {
                    path: dir.clone(),
                    source,
                })?
            } else {
                dir.clone()
            };
            check_trusted_dir(&dir)?;
            let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|source| Error::Io {
                    path: dir.clone(),
                    source,
                })?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    matches!(
                        p.extension().and_then(|e| e.to_str()),
                        Some("json" | "yaml")
                    )
                })
                .collect();
            names.sort();
            for path in names {
                let spec = read_spec(&path)?;
                let index = reg.specs.len();
                for (d, device) in spec.devices.iter().enumerate() {
                    let name = format!("{}={}", spec.kind, device.name);
                    if let Some(&(other, _)) = reg.devices.get(&name)
                        && reg.priority[other] == priority
                    {
                        return Err(Error::Conflict {
                            name,
                            first: reg.specs[other].0.clone(),
                            second: path,
                        });
                    }
                    reg.devices.insert(name, (index, d));
                }
                reg.specs.push((path, spec));
                reg.priority.push(priority);
            }
        }
        Ok(reg)
    }

    /// Every device name known, sorted.
    pub fn known(&self) -> Vec<String> {
        self.devices.keys().cloned().collect()
    }

    /// Whether `kind` (`vendor.com/class`) has any device.
    pub fn has_kind(&self, kind: &str) -> bool {
        self.devices
            .keys()
            .any(|n| n.split_once('=').is_some_and(|(k, _)| k == kind))
    }

    /// The device names of `kind`, in the order their spec lists them.
    pub fn names_of_kind(&self, kind: &str) -> Vec<String> {
        let mut found: Vec<(&(usize, usize), &String)> = self
            .devices
            .iter()
            .filter(|(n, _)| n.split_once('=').is_some_and(|(k, _)| k == kind))
            .map(|(n, at)| (at, n))
            .collect();
        found.sort();
        found.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// The edits for the qualified device names `names`. `KIND=all` is the spec's own `all`
    /// device when it has one (as `nvidia-ctk` writes), every device of the kind otherwise.
    pub fn resolve(&self, names: &[String]) -> Result<Edits> {
        let mut wanted: Vec<(usize, usize)> = Vec::new();
        for name in names {
            let (kind, device) = split_qualified(name)?;
            let found = match self.devices.get(name) {
                Some(at) => vec![*at],
                None if device == "all" && self.has_kind(kind) => self
                    .names_of_kind(kind)
                    .iter()
                    .map(|n| self.devices[n])
                    .collect(),
                None => {
                    return Err(Error::UnknownDevice {
                        name: name.clone(),
                        known: self.known(),
                    });
                }
            };
            for at in found {
                if !wanted.contains(&at) {
                    wanted.push(at);
                }
            }
        }
        let mut edits = Edits::default();
        let mut specs_done: Vec<usize> = Vec::new();
        for (s, d) in wanted {
            let (path, spec) = &self.specs[s];
            let name = format!("{}={}", spec.kind, spec.devices[d].name);
            if !specs_done.contains(&s) {
                specs_done.push(s);
                apply(&mut edits, &spec.container_edits, &name, path)?;
            }
            apply(&mut edits, &spec.devices[d].container_edits, &name, path)?;
        }
        Ok(edits)
    }
}

/// `vendor.com/class=name` → (`vendor.com/class`, `name`).
pub fn split_qualified(name: &str) -> Result<(&str, &str)> {
    let bad = || Error::NotQualified(name.to_owned());
    let (kind, device) = name.split_once('=').ok_or_else(bad)?;
    check_kind(kind).map_err(|_| bad())?;
    check_device_name(device).map_err(|_| bad())?;
    Ok((kind, device))
}

/// Whether `text` looks like a CDI device name rather than a device path.
pub fn is_qualified(text: &str) -> bool {
    !text.starts_with('/') && text.contains('=') && text.contains('/')
}

fn check_kind(kind: &str) -> std::result::Result<(), String> {
    let (vendor, class) = kind
        .split_once('/')
        .ok_or_else(|| format!("kind `{kind}` is not `vendor.com/class`"))?;
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let vendor_ok = !vendor.is_empty()
        && vendor.len() <= 253
        && vendor.split('.').all(|label| {
            !label.is_empty()
                && label.bytes().all(|c| alnum(c) || c == b'-')
                && alnum(label.as_bytes()[0])
                && alnum(label.as_bytes()[label.len() - 1])
        });
    let class_ok = !class.is_empty()
        && class.len() <= 63
        && class.bytes().all(|c| alnum(c) || b"-_.".contains(&c))
        && alnum(class.as_bytes()[0])
        && alnum(class.as_bytes()[class.len() - 1]);
    if vendor_ok && class_ok {
        Ok(())
    } else {
        Err(format!("kind `{kind}` is not `vendor.com/class`"))
    }
}

fn check_device_name(name: &str) -> std::result::Result<(), String> {
    let b = name.as_bytes();
    let alnum = |c: u8| c.is_ascii_alphanumeric();
    let ok = !b.is_empty()
        && alnum(b[0])
        && alnum(b[b.len() - 1])
        && b.iter().all(|&c| alnum(c) || b"_-.:".contains(&c));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid device name `{name}`"))
    }
}

/// Check that `dir` and every directory above it belongs to root and cannot be changed by
/// anyone else (a sticky directory may be world-writable: others cannot rename what is in
/// it).
fn check_trusted_dir(dir: &Path) -> Result<()> {
    let insecure = |path: &Path, why: String| Error::Insecure {
        path: path.to_owned(),
        why,
    };
    let mut first = true;
    for p in dir.ancestors() {
        let meta = std::fs::metadata(p).map_err(|source| Error::Io {
            path: p.to_owned(),
            source,
        })?;
        if !meta.is_dir() {
            return Err(insecure(p, "it is not a directory".into()));
        }
        if meta.uid() != 0 {
            return Err(insecure(
                p,
                format!("the directory belongs to uid {}, not root", meta.uid()),
            ));
        }
        let writable = meta.mode() & 0o022 != 0;
        let sticky = meta.mode() & 0o1000 != 0;
        if writable && (first || !sticky) {
            return Err(insecure(
                p,
                format!(
                    "the directory is writable by others than root (mode {:o})",
                    meta.mode() & 0o7777
                ),
            ));
        }
        first = false;
    }
    Ok(())
}

/// Open a spec file without following a symlink, check the opened file's owner and mode,
/// and parse it.
fn read_spec(path: &Path) -> Result<SpecFile> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(|e| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                Error::Insecure {
                    path: path.to_owned(),
                    why: "it is a symlink; put the spec file itself in the directory".into(),
                }
            } else {
                io(e)
            }
        })?;
    let meta = file.metadata().map_err(io)?;
    if !meta.is_file() {
        return Err(Error::Insecure {
            path: path.to_owned(),
            why: "it is not a regular file".into(),
        });
    }
    if meta.uid() != 0 {
        return Err(Error::Insecure {
            path: path.to_owned(),
            why: format!("the file belongs to uid {}, not root", meta.uid()),
        });
    }
    if meta.mode() & 0o022 != 0 {
        return Err(Error::Insecure {
            path: path.to_owned(),
            why: format!(
                "the file is writable by others than root (mode {:o})",
                meta.mode() & 0o7777
            ),
        });
    }
    let mut text = String::new();
    file.read_to_string(&mut text).map_err(io)?;
    let spec = parse(path, &text)?;
    validate(path, &spec)?;
    Ok(spec)
}

/// Parse spec text: YAML for a `.yaml` file, JSON otherwise.
fn parse(path: &Path, text: &str) -> Result<SpecFile> {
    let malformed = |line, column, message| Error::Malformed {
        path: path.to_owned(),
        line,
        column,
        message,
    };
    if path.extension().is_some_and(|e| e == "yaml") {
        serde_yaml_ng::from_str(text).map_err(|e| {
            let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
            // The message repeats the position; keep the part before it.
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            malformed(line, column, msg)
        })
    } else {
        serde_json::from_str(text).map_err(|e| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or(&msg).to_owned();
            malformed(e.line(), e.column(), msg)
        })
    }
}

fn validate(path: &Path, spec: &SpecFile) -> Result<()> {
    let invalid = |message: String| Error::Invalid {
        path: path.to_owned(),
        message,
    };
    let version = parse_version(&spec.cdi_version).ok_or_else(|| {
        invalid(format!(
            "`cdiVersion` `{}` is not a version like `0.6.0`",
            spec.cdi_version
        ))
    })?;
    if version > NEWEST_VERSION {
        let (a, b, c) = NEWEST_VERSION;
        return Err(invalid(format!(
            "`cdiVersion` {} is newer than duckc reads ({a}.{b}.{c})",
            spec.cdi_version
        )));
    }
    check_kind(&spec.kind).map_err(invalid)?;
    if spec.devices.is_empty() {
        return Err(invalid("it defines no devices".into()));
    }
    for d in &spec.devices {
        check_device_name(&d.name).map_err(invalid)?;
    }
    for edits in std::iter::once(&spec.container_edits)
        .chain(spec.devices.iter().map(|d| &d.container_edits))
    {
        for e in &edits.env {
            if !e.contains('=') {
                return Err(invalid(format!("env entry `{e}` is not `NAME=VALUE`")));
            }
        }
        for h in &edits.hooks {
            if Stage::from_name(&h.hook_name).is_none() {
                return Err(invalid(format!(
                    "unknown hook name `{}` (duckc runs createRuntime, createContainer, startContainer, poststart and poststop)",
                    h.hook_name
                )));
            }
            if !h.path.starts_with('/') {
                return Err(invalid(format!("hook path `{}` is not absolute", h.path)));
            }
            if h.timeout.is_some_and(|t| t <= 0) {
                return Err(invalid(format!(
                    "hook `{}` has a timeout that is not positive",
                    h.path
                )));
            }
        }
        for n in &edits.device_nodes {
            if !n.path.starts_with('/') {
                return Err(invalid(format!(
                    "device node path `{}` is not absolute",
                    n.path
                )));
            }
        }
        for m in &edits.mounts {
            if !m.host_path.starts_with('/') || !m.container_path.starts_with('/') {
                return Err(invalid(format!(
                    "mount `{}` → `{}` needs absolute paths",
                    m.host_path, m.container_path
                )));
            }
        }
    }
    Ok(())
}

fn parse_version(v: &str) -> Option<(u64, u64, u64)> {
    let v = v.strip_prefix('v').unwrap_or(v);
    let mut parts = v.split('.');
    let a = parts.next()?.parse().ok()?;
    let b = parts.next()?.parse().ok()?;
    let c = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((a, b, c))
}

/// Add `from` (the edits of device or spec `name`, from the file `path`) to `edits`.
fn apply(edits: &mut Edits, from: &ContainerEdits, name: &str, path: &Path) -> Result<()> {
    let unsupported = |what: &str| Error::Unsupported {
        name: name.to_owned(),
        what: what.to_owned(),
    };
    if from.intel_rdt.is_some() {
        return Err(unsupported("`intelRdt` (resctrl)"));
    }
    if !from.net_devices.is_empty() {
        return Err(unsupported("`netDevices` (moving host interfaces)"));
    }
    edits.env.extend(from.env.iter().cloned());
    for n in &from.device_nodes {
        edits.devices.push(device_node(n, name)?);
    }
    for m in &from.mounts {
        let bind = m.options.iter().any(|o| o == "bind" || o == "rbind");
        let kind = m.kind.as_deref().unwrap_or("");
        if !bind && !matches!(kind, "" | "bind" | "none") {
            return Err(unsupported(&format!(
                "a `{kind}` mount on `{}` (duckc makes bind mounts only)",
                m.container_path
            )));
        }
        edits.mounts.push(Volume {
            source: PathBuf::from(&m.host_path),
            target: m.container_path.clone(),
            readonly: m.options.iter().any(|o| o == "ro"),
        });
    }
    for h in &from.hooks {
        let stage = Stage::from_name(&h.hook_name).ok_or_else(|| Error::Invalid {
            path: path.to_owned(),
            message: format!("unknown hook name `{}`", h.hook_name),
        })?;
        edits.hooks.push(Hook {
            stage,
            path: PathBuf::from(&h.path),
            args: h.args.clone(),
            env: h.env.clone(),
            timeout: h.timeout.map(|t| t as u64),
        });
    }
    for gid in &from.additional_gids {
        if *gid != 0 && !edits.gids.contains(gid) {
            edits.gids.push(*gid);
        }
    }
    Ok(())
}

/// A CDI device node as a `--device`: bound from the host (duckc never makes nodes with
/// `mknod`), so the host node must exist and match the type and numbers the spec gives.
fn device_node(n: &DeviceNode, name: &str) -> Result<Device> {
    use std::os::unix::fs::FileTypeExt;
    let bad = |message: String| Error::BadNode {
        name: name.to_owned(),
        message,
    };
    if !n.path.starts_with("/dev/") || n.path.split('/').any(|c| c == "..") {
        return Err(bad(format!(
            "device node path `{}` is not under /dev",
            n.path
        )));
    }
    let host = n.host_path.clone().unwrap_or_else(|| n.path.clone());
    let meta = std::fs::metadata(&host).map_err(|e| {
        bad(format!(
            "host device node `{host}` cannot be used ({e}); duckc binds nodes from the host and does not create them"
        ))
    })?;
    let kind = if meta.file_type().is_char_device() {
        "c"
    } else if meta.file_type().is_block_device() {
        "b"
    } else {
        return Err(bad(format!("host path `{host}` is not a device node")));
    };
    if let Some(want) = n.kind.as_deref().filter(|k| !k.is_empty()) {
        let want = match want {
            "u" => "c",
            w => w,
        };
        if want != kind {
            return Err(bad(format!(
                "host device node `{host}` is of type `{kind}`, the spec says `{want}`"
            )));
        }
    }
    // Go's zero values stand for "not given": a spec without numbers is not checked.
    let (major, minor) = (
        rustix::fs::major(meta.rdev()),
        rustix::fs::minor(meta.rdev()),
    );
    if let Some(want) = n.major.filter(|m| *m != 0) {
        let want_minor = n.minor.unwrap_or(0);
        if (want, want_minor) != (i64::from(major), i64::from(minor)) {
            return Err(bad(format!(
                "host device node `{host}` is {major}:{minor}, the spec says {want}:{want_minor}"
            )));
        }
    }
    let access = match n.permissions.as_deref() {
        None | Some("") => "rwm".to_owned(),
        Some(p) if !p.is_empty() && p.bytes().all(|b| b"rwm".contains(&b)) => p.to_owned(),
        Some(p) => {
            return Err(bad(format!(
                "device permissions `{p}` are not some of `rwm`"
            )));
        }
    };
    Ok(Device {
        host: PathBuf::from(host),
        container: n.path.clone(),
        access,
    })
}

#[cfg(test)]
mod tests;
