//! `version` and `info`: what duckc is and what the machine gives its runtime (kernel, cgroup
//! layout, seccomp, overlayfs, user namespaces), plus the store's counts for `info`.

use std::path::Path;
use std::process::ExitCode;

use duckc_runtime::cgroup::Layout;
use duckc_store::Store;
use miette::IntoDiagnostic;
use serde_json::{Value, json};

use crate::cmd::format::Template;

fn read(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The cgroup version and how the host mounts it.
fn cgroups() -> (&'static str, &'static str) {
    match Layout::host() {
        Layout::V2(_) => ("2", "unified (cgroup2 only)"),
        Layout::V1 {
            unified: Some(_), ..
        } => ("1", "hybrid (v1 controllers, cgroup2 without controllers)"),
        Layout::V1 { .. } => ("1", "legacy (v1 only)"),
        Layout::None => ("none", "no cgroup file system mounted"),
    }
}

/// Runtime facts shared by `version` and `info`.
fn runtime() -> Value {
    let (version, mode) = cgroups();
    let seccomp = Path::new("/proc/sys/kernel/seccomp/actions_avail").exists();
    let overlay = read("/proc/filesystems")
        .lines()
        .any(|l| l.split_whitespace().last() == Some("overlay"));
    let userns = read("/proc/sys/user/max_user_namespaces")
        .parse::<u64>()
        .is_ok_and(|n| n > 0);
    json!({
        "Name": "duckc (bundled, no daemon)",
        "KernelVersion": read("/proc/sys/kernel/osrelease"),
        "OperatingSystem": "linux",
        "Architecture": duckc_runtime::emulation::host_arch(),
        "CgroupVersion": version,
        "CgroupMode": mode,
        "CgroupDriver": if version == "none" { "none" } else { "cgroupfs" },
        "Seccomp": if seccomp { "supported (default profile: Docker's)" } else { "not supported by this kernel" },
        "Overlay": overlay,
        "UserNamespaces": userns,
        "Rootless": duckc_runtime::process::is_rootless(),
    })
}

fn print(
    value: &Value,
    format: Option<&str>,
    text: impl FnOnce(&Value) -> String,
) -> miette::Result<ExitCode> {
    match format {
        Some(f) => println!("{}", Template::parse(f)?.render(value)?),
        None => print!("{}", text(value)),
    }
    Ok(ExitCode::SUCCESS)
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `duckc version`.
pub fn version(store_root: &Path, format: Option<&str>) -> miette::Result<ExitCode> {
    let value = json!({
        "Client": {
            "Version": env!("CARGO_PKG_VERSION"),
            "OsArch": duckc_runtime::emulation::host_platform(),
        },
        "Runtime": runtime(),
        "Store": store_root,
    });
    print(&value, format, |v| {
        let r = &v["Runtime"];
        format!(
            "Client: duckc\n Version:         {}\n OS/Arch:         {}\n\nRuntime: {}\n Kernel Version:  {}\n Cgroup Version:  {} ({})\n Cgroup Driver:   {}\n Seccomp:         {}\n Rootless:        {}\n Store:           {}\n",
            s(&v["Client"]["Version"]),
            s(&v["Client"]["OsArch"]),
            s(&r["Name"]),
            s(&r["KernelVersion"]),
            s(&r["CgroupVersion"]),
            s(&r["CgroupMode"]),
            s(&r["CgroupDriver"]),
            s(&r["Seccomp"]),
            s(&r["Rootless"]),
            s(&v["Store"]),
        )
    })
}

/// `duckc info`.
pub fn info(store: &Store, format: Option<&str>) -> miette::Result<ExitCode> {
    let (total, running, paused, stopped) = crate::cmd::container::lifecycle::counts(store);
    let images = store.refs().into_diagnostic()?.images.len();
    let mut value = runtime();
    let extra = json!({
        "Containers": total,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "StoreRoot": store.root(),
        "Driver": "overlay",
        "ServerVersion": env!("CARGO_PKG_VERSION"),
    });
    if let (Some(v), Some(e)) = (value.as_object_mut(), extra.as_object()) {
        v.extend(e.clone());
    }
    print(&value, format, |v| {
        format!(
            "Containers: {}\n Running: {}\n Paused: {}\n Stopped: {}\nImages: {}\nServer Version: {}\nStorage Driver: overlay\nStore Root: {}\nCgroup Driver: {}\nCgroup Version: {} ({})\nSecurity Options:\n seccomp: {}\n user namespaces: {}\n rootless: {}\nKernel Version: {}\nOperating System: linux\nArchitecture: {}\nOverlay: {}\n",
            s(&v["Containers"]),
            s(&v["ContainersRunning"]),
            s(&v["ContainersPaused"]),
            s(&v["ContainersStopped"]),
            s(&v["Images"]),
            s(&v["ServerVersion"]),
            s(&v["StoreRoot"]),
            s(&v["CgroupDriver"]),
            s(&v["CgroupVersion"]),
            s(&v["CgroupMode"]),
            s(&v["Seccomp"]),
            if v["UserNamespaces"] == json!(true) {
                "enabled"
            } else {
                "disabled"
            },
            s(&v["Rootless"]),
            s(&v["KernelVersion"]),
            s(&v["Architecture"]),
            if v["Overlay"] == json!(true) {
                "supported"
            } else {
                "missing"
            },
        )
    })
}
