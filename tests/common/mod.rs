//! Helpers shared by the end-to-end tests: the binary, throwaway stores, root checks, fixtures.
#![allow(dead_code)]

pub mod apt;
pub mod debian;
pub mod probe;
pub mod pty;
pub mod registry;
pub mod store;
pub mod tools;
pub mod users;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `duckc` binary under test.
pub fn duckc_bin() -> PathBuf {
    // First use in a test binary: say at once everything the host lacks.
    tools::check();
    PathBuf::from(env!("CARGO_BIN_EXE_duckc"))
}

/// A `duckc` command that uses `store` as its store and a fixed `SOURCE_DATE_EPOCH`-free environment.
pub fn duckc(store: &Path) -> Command {
    let mut cmd = Command::new(duckc_bin());
    cmd.env("DUCKC_STORE", store)
        .env("NO_COLOR", "1")
        .env("CLICOLOR", "0")
        .env_remove("DUCKC_LOG");
    cmd
}

/// Run a command and return its output, panicking with both streams if it could not start.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

/// Run a command that must succeed; return its stdout as text.
pub fn ok(cmd: &mut Command) -> String {
    let out = output(cmd);
    assert!(
        out.status.success(),
        "{cmd:?} failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// True when the process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc_geteuid() == 0 }
}

unsafe extern "C" {
    #[link_name = "geteuid"]
    fn libc_geteuid() -> u32;
}

unsafe extern "C" {
    #[link_name = "atexit"]
    fn libc_atexit(f: extern "C" fn()) -> i32;
}

/// Remove the directory tree at `path` when this test process exits, however its tests ended
/// (libtest exits through `exit` after a failed test too): for a fixture that the tests of one
/// binary share through a static, which is never dropped. Only a killed process leaves it.
pub fn remove_at_exit(path: &Path) {
    use std::sync::Mutex;
    static PATHS: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());
    static REGISTER: std::sync::Once = std::sync::Once::new();
    extern "C" fn remove_all() {
        // A test thread still running at exit may hold the lock: then leave the paths.
        let paths = match PATHS.try_lock() {
            Ok(mut p) => std::mem::take(&mut *p),
            Err(std::sync::TryLockError::Poisoned(e)) => std::mem::take(&mut *e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => return,
        };
        for path in paths {
            let _ = std::fs::remove_dir_all(path);
        }
    }
    PATHS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push(path.to_owned());
    // SAFETY: registers a handler that only removes files; atexit has no other precondition.
    REGISTER.call_once(|| assert_eq!(unsafe { libc_atexit(remove_all) }, 0));
}

/// The network leases (files under `/run/duckc/net/leases/NETWORK/`) that name container
/// `id`: none once its network is released.
pub fn leases_of(id: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for net in std::fs::read_dir("/run/duckc/net/leases")
        .into_iter()
        .flatten()
        .flatten()
    {
        for lease in std::fs::read_dir(net.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if std::fs::read_to_string(lease.path()).is_ok_and(|t| t.contains(id)) {
                out.push(lease.path());
            }
        }
    }
    out
}

/// The `--dns`, `--dns-search`, `--dns-option` and `--add-host` flags the tests give `run` and
/// `build`, with the lines they make: `nameserver 10.0.0.2`, `search lan.example`,
/// `options ndots:2`, and `10.0.0.5` for `db.example`.
pub const DNS_FLAGS: [&str; 8] = [
    "--dns",
    "10.0.0.2",
    "--dns-search",
    "lan.example",
    "--dns-option",
    "ndots:2",
    "--add-host",
    "db.example:10.0.0.5",
];

/// Whether this is CI (`CI=true`), where a skipped test is a failure.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| v == "true" || v == "1")
}

/// Whether a test that needs root can run. CI runs as root: there a missing root is a failure,
/// never a silent skip. Elsewhere the test prints why it is skipped and returns false.
pub fn require_root() -> bool {
    if is_root() {
        return true;
    }
    if in_ci() {
        panic!("this test needs root, and CI must run it as root");
    }
    eprintln!("skipped: this test needs root");
    false
}

/// Whether an external tool is on PATH. Under CI a missing tool is a failure.
pub fn require_tool(name: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    if !found {
        if in_ci() {
            panic!("`{name}` is missing; .ci/run must install it");
        }
        eprintln!("skipped: `{name}` is not installed");
    }
    found
}

/// Fill `root` with a minimal busybox root filesystem made from the host's static busybox
/// (Debian `busybox-static`): `/bin/busybox`, one symlink per applet, and the usual directories.
pub fn busybox_rootfs(root: &Path) {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.is_file(),
        "/bin/busybox is missing: install Debian's busybox-static"
    );
    for dir in [
        "bin", "etc", "tmp", "root", "proc", "sys", "dev", "usr/bin", "var",
    ] {
        std::fs::create_dir_all(root.join(dir)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    let list = ok(Command::new(busybox).arg("--list"));
    for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        let link = root.join("bin").join(applet);
        if !link.exists() {
            std::os::unix::fs::symlink("busybox", &link).unwrap();
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("tmp"), std::fs::Permissions::from_mode(0o1777)).unwrap();
}

/// Run `duckc ARGS` against `store` with stdin on `/dev/null`: (exit code, stdout, stderr).
pub fn run(store: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output(duckc(store).args(args).stdin(std::process::Stdio::null()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The image in the OCI layout `layout` (its first manifest; of an index, its first image):
/// its config and the paths of its layer blobs, base first.
pub fn oci_image(layout: &Path) -> (serde_json::Value, Vec<PathBuf>) {
    let blob = |digest: &str| {
        layout
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"))
    };
    let read = |digest: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(blob(digest)).unwrap()).unwrap()
    };
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut manifest = read(index["manifests"][0]["digest"].as_str().unwrap());
    if let Some(m) = manifest.get("manifests") {
        manifest = read(m[0]["digest"].as_str().unwrap());
    }
    let config = read(manifest["config"]["digest"].as_str().unwrap());
    let layers = manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| blob(l["digest"].as_str().unwrap()))
        .collect();
    (config, layers)
}

/// [`run`], requiring success; stdout.
pub fn must(store: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(store, args);
    assert_eq!(
        code, 0,
        "duckc {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

/// Fill `root` with a merged-/usr busybox root filesystem (`/bin` → `usr/bin`, as Debian's
/// since bookworm) with a `/tmp` 1777, a home directory `/home/duck` owned by 1000:1000 (0750,
/// as `useradd` leaves it), a root-only `/private` (0700), and two links that leave the root
/// if followed on the host: `/escape` → `../../../../CANARY` and `/abs` → `/CANARY-abs`.
pub fn merged_usr_rootfs(root: &Path, canary: &str) {
    use std::os::unix::fs::{PermissionsExt, symlink};
    for d in [
        "usr/bin",
        "etc",
        "tmp",
        "root",
        "home/duck",
        "private",
        "proc",
        "sys",
        "dev",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("usr/bin/busybox")).unwrap();
    let list = ok(Command::new("/bin/busybox").arg("--list"));
    for applet in list.lines().filter(|a| !a.is_empty() && *a != "busybox") {
        symlink("busybox", root.join("usr/bin").join(applet)).unwrap();
    }
    symlink("usr/bin", root.join("bin")).unwrap();
    symlink(format!("../../../../{canary}"), root.join("escape")).unwrap();
    symlink(format!("/{canary}-abs"), root.join("abs")).unwrap();
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nduck:x:1000:1000::/home/duck:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\nduck:x:1000:\n").unwrap();
    for (p, m) in [("tmp", 0o1777), ("home/duck", 0o750), ("private", 0o700)] {
        std::fs::set_permissions(root.join(p), std::fs::Permissions::from_mode(m)).unwrap();
    }
    std::os::unix::fs::chown(root.join("home/duck"), Some(1000), Some(1000)).unwrap();
}
