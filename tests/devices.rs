//! End-to-end tests of what a container gets beyond its image: CDI devices and `--gpus`
//! through a fake CDI spec, `--shm-size`, `--ipc`, `--group-add`, `--gui` against a real
//! Xvfb, and `--init`.
//!
//! They need root (CI runs as root; elsewhere they skip with a note). Device nodes are a
//! read-only loop device over a file the test makes, never a real disk or GPU.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::store::load_busybox;
use common::{duckc, must, ok, output, require_root, require_tool, run};

/// The shared store (busybox loaded), or `None` when the tests cannot run here.
fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("devices-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    }))
}

/// `duckc ARGS` with extra environment: (exit code, stdout, stderr).
fn run_env(store: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    let mut cmd = duckc(store);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = output(cmd.args(args).stdin(Stdio::null()));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Wait for `cond`, failing after a generous bound (a guard against hanging, not a timing
/// assertion).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const CANARY: &str = "duckc-loop-canary";

/// A read-only loop device over a file holding [`CANARY`], detached on drop.
struct Loop {
    dev: String,
    _dir: tempfile::TempDir,
}

impl Loop {
    fn new() -> Loop {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("disk.img");
        let mut data = CANARY.as_bytes().to_vec();
        data.resize(1 << 20, 0);
        std::fs::write(&file, &data).unwrap();
        let dev = ok(Command::new("losetup")
            .args(["-r", "-f", "--show"])
            .arg(&file))
        .trim()
        .to_owned();
        Loop { dev, _dir: dir }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// A CDI spec directory (root's, mode 0755, in a fresh temporary directory) holding `files`.
fn spec_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    dir
}

fn cdi_env(dir: &Path) -> (&'static str, String) {
    ("DUCKC_CDI_SPEC_DIRS", dir.display().to_string())
}

#[test]
fn a_cdi_device_brings_its_node_env_mount_and_hooks() {
    let Some(store) = store() else { return };
    if !require_tool("losetup") {
        return;
    }
    let lo = Loop::new();
    let outside = tempfile::tempdir().unwrap();
    let data = outside.path().join("vendor-data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("firmware"), "vendor-firmware\n").unwrap();
    let created = outside.path().join("created-marker");
    let stopped = outside.path().join("stopped-marker");
    let spec = format!(
        r#"{{
  "cdiVersion": "0.7.0",
  "kind": "vendor.example/dev",
  "containerEdits": {{ "env": ["VENDOR_SPEC=wide"] }},
  "devices": [
    {{ "name": "one", "containerEdits": {{
      "env": ["VENDOR_DEV=one"],
      "deviceNodes": [{{ "path": "/dev/xdisk", "hostPath": "{dev}", "type": "b", "permissions": "r" }}],
      "mounts": [{{ "hostPath": "{data}", "containerPath": "/opt/vendor", "options": ["ro", "nosuid", "nodev", "bind"] }}],
      "hooks": [
        {{ "hookName": "createContainer", "path": "/bin/sh", "args": ["sh", "-c", "read state; echo \"$HOOK_SAYS $state\" > {created}"], "env": ["HOOK_SAYS=created"] }},
        {{ "hookName": "poststop", "path": "/bin/sh", "args": ["sh", "-c", "echo stopped > {stopped}"] }}
      ]
    }} }},
    {{ "name": "two", "containerEdits": {{ "env": ["VENDOR_DEV=two"] }} }}
  ]
}}"#,
        dev = lo.dev,
        data = data.display(),
        created = created.display(),
        stopped = stopped.display(),
    );
    let dir = spec_dir(&[("vendor.json", &spec)]);
    let (k, v) = cdi_env(dir.path());
    let script = "head -c 17 /dev/xdisk; echo; echo $VENDOR_DEV $VENDOR_SPEC; cat /opt/vendor/firmware; touch /opt/vendor/x 2>/dev/null || echo ro-mount";
    let (code, out, err) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=one",
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(
        out,
        format!("{CANARY}\none wide\nvendor-firmware\nro-mount\n"),
        "{err}"
    );
    let said = std::fs::read_to_string(&created).expect("the createContainer hook ran");
    assert!(said.starts_with("created {"), "{said}");
    assert!(said.contains("\"ociVersion\""), "{said}");
    assert_eq!(
        std::fs::read_to_string(&stopped).expect("the poststop hook ran"),
        "stopped\n"
    );

    // The devices cgroup allows the node read-only, as the spec's permissions say.
    let (code, out, _) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=one",
            "busybox",
            "sh",
            "-c",
            "echo x 2>&1 > /dev/xdisk",
        ],
    );
    // The open fails (EPERM from the devices cgroup); the read-only loop device alone would
    // open and fail the write instead.
    assert_ne!(code, 0);
    assert!(
        out.contains("can't create /dev/xdisk: Operation not permitted"),
        "{out}"
    );

    // A hook that fails stops the start, saying which and why.
    let failing = spec_dir(&[(
        "failing.json",
        r#"{"cdiVersion":"0.6.0","kind":"vendor.example/broken","devices":[{"name":"x","containerEdits":{"hooks":[{"hookName":"createContainer","path":"/bin/sh","args":["sh","-c","echo hook says no >&2; exit 4"]}]}}]}"#,
    )]);
    let (fk, fv) = cdi_env(failing.path());
    let (code, _, err) = run_env(
        store,
        &[(fk, &fv)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/broken=x",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("the createContainer hook `/bin/sh` failed with exit code 4: hook says no")
            && err.contains("help:"),
        "{err}"
    );

    // An unknown device names the known ones.
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=three",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unknown CDI device `vendor.example/dev=three`")
            && err.contains("vendor.example/dev=one, vendor.example/dev=two"),
        "{err}"
    );

    // A spec file someone other than root may change is refused, and so is a directory
    // that is not root's.
    std::fs::set_permissions(
        dir.path().join("vendor.json"),
        std::fs::Permissions::from_mode(0o666),
    )
    .unwrap();
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=one",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("is not safe to use") && err.contains("help:"),
        "{err}"
    );
    std::fs::set_permissions(
        dir.path().join("vendor.json"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::os::unix::fs::chown(dir.path(), Some(65534), None).unwrap();
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=one",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("belongs to uid 65534, not root"), "{err}");
    std::os::unix::fs::chown(dir.path(), Some(0), None).unwrap();

    // A malformed spec says where.
    let bad = spec_dir(&[(
        "bad.json",
        "{\n  \"cdiVersion\": \"0.7.0\",\n  \"kind\": [\n}",
    )]);
    let (k, v) = cdi_env(bad.path());
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &[
            "run",
            "--rm",
            "--device",
            "vendor.example/dev=one",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bad.json` at line 3"), "{err}");
}

/// A fake `nvidia.com/gpu` spec in YAML, as `nvidia-ctk cdi generate` lays it out: GPU 0 is
/// the loop device, `nvidia-smi` a script that prints who it is.
#[test]
fn gpus_map_to_nvidia_cdi_devices() {
    let Some(store) = store() else { return };
    if !require_tool("losetup") {
        return;
    }
    let lo = Loop::new();
    let outside = tempfile::tempdir().unwrap();
    let smi = outside.path().join("nvidia-smi");
    std::fs::write(&smi, "#!/bin/sh\necho fake nvidia-smi\n").unwrap();
    std::fs::set_permissions(&smi, std::fs::Permissions::from_mode(0o755)).unwrap();
    let yaml = format!(
        "---\ncdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: \"0\"\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n      hostPath: {dev}\n- name: all\n  containerEdits:\n    deviceNodes:\n    - path: /dev/nvidia0\n      hostPath: {dev}\ncontainerEdits:\n  env:\n  - NVIDIA_VISIBLE_DEVICES=void\n  mounts:\n  - hostPath: {smi}\n    containerPath: /usr/bin/nvidia-smi\n    options:\n    - ro\n    - nosuid\n    - nodev\n    - bind\n",
        dev = lo.dev,
        smi = smi.display()
    );
    let dir = spec_dir(&[("nvidia.yaml", &yaml)]);
    let (k, v) = cdi_env(dir.path());
    let script = "nvidia-smi; head -c 17 /dev/nvidia0; echo; echo $NVIDIA_VISIBLE_DEVICES";
    for gpus in ["all", "1", "\"device=0\""] {
        let (code, out, err) = run_env(
            store,
            &[(k, &v)],
            &["run", "--rm", "--gpus", gpus, "busybox", "sh", "-c", script],
        );
        assert_eq!(code, 0, "--gpus {gpus}: {err}");
        assert_eq!(
            out,
            format!("fake nvidia-smi\n{CANARY}\nvoid\n"),
            "--gpus {gpus}"
        );
    }
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &["run", "--rm", "--gpus", "2", "busybox", "true"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("asks for 2 GPUs; the CDI spec describes 1"),
        "{err}"
    );

    // No NVIDIA spec at all: say how to make one.
    let empty = spec_dir(&[]);
    let (k, v) = cdi_env(empty.path());
    let (code, _, err) = run_env(
        store,
        &[(k, &v)],
        &["run", "--rm", "--gpus", "all", "busybox", "true"],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("no CDI spec describes `nvidia.com/gpu` devices")
            && err.contains("nvidia-ctk cdi generate")
            && err.contains("nvidia.yaml"),
        "{err}"
    );
}

#[test]
fn shm_size_and_ipc_modes() {
    let Some(store) = store() else { return };
    let df = |args: &[&str]| {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend(["busybox", "df", "-k", "/dev/shm"]);
        must(store, &all)
    };
    assert!(
        df(&["--shm-size", "1g"]).contains(" 1048576 "),
        "{}",
        df(&["--shm-size", "1g"])
    );
    assert!(df(&[]).contains(" 65536 "), "{}", df(&[]));

    // `--ipc host`: the host's namespace and its /dev/shm.
    let host_file = format!("/dev/shm/duckc-ipc-test-{}", std::process::id());
    std::fs::write(&host_file, "from-the-host\n").unwrap();
    /// Removes the host's /dev/shm file however the test ends.
    struct Remove<'a>(&'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(self.0);
        }
    }
    let _remove = Remove(&host_file);
    let host_ns = std::fs::read_link("/proc/self/ns/ipc").unwrap();
    let script = format!("readlink /proc/self/ns/ipc; cat {host_file} 2>&1");
    let out = must(
        store,
        &[
            "run", "--rm", "--ipc", "host", "busybox", "sh", "-c", &script,
        ],
    );
    assert_eq!(
        out,
        format!("{}\nfrom-the-host\n", host_ns.display()),
        "--ipc host"
    );
    let (_, out, _) = run(store, &["run", "--rm", "busybox", "sh", "-c", &script]);
    assert!(!out.contains("from-the-host"), "{out}");
    assert!(!out.starts_with(&host_ns.display().to_string()), "{out}");

    // `--ipc container:A`: A's namespace and A's /dev/shm.
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "ipc-a",
            "--ipc",
            "shareable",
            "--shm-size",
            "8m",
            "busybox",
            "sh",
            "-c",
            "echo from-a > /dev/shm/marker; exec sleep 1000",
        ],
    );
    wait_for("ipc-a's marker", || {
        run(store, &["exec", "ipc-a", "cat", "/dev/shm/marker"]).1 == "from-a\n"
    });
    let a_ns = must(store, &["exec", "ipc-a", "readlink", "/proc/self/ns/ipc"]);
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--ipc",
            "container:ipc-a",
            "busybox",
            "sh",
            "-c",
            "readlink /proc/self/ns/ipc; cat /dev/shm/marker; echo from-b > /dev/shm/back; df -k /dev/shm | tail -n 1",
        ],
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(a_ns.trim()), "{out}");
    assert_eq!(lines.next(), Some("from-a"), "{out}");
    assert!(lines.next().is_some_and(|l| l.contains(" 8192 ")), "{out}");
    assert_eq!(
        must(store, &["exec", "ipc-a", "cat", "/dev/shm/back"]),
        "from-b\n"
    );

    // A private container cannot be joined.
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "ipc-private",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--rm",
            "--ipc",
            "container:ipc-private",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("--ipc shareable"), "{err}");
    must(store, &["rm", "-f", "ipc-a", "ipc-private"]);
}

/// `restart` of a container that joins another's IPC namespace joins the one the peer has
/// now (the peer was restarted since), and refuses, leaving the joiner running, while the peer
/// is stopped.
#[test]
fn restart_joins_the_ipc_peer_as_it_is_now() {
    let Some(store) = store() else { return };
    let ns = |name: &str| must(store, &["exec", name, "readlink", "/proc/self/ns/ipc"]);
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "ipc-peer",
            "--ipc",
            "shareable",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "ipc-joiner",
            "--ipc",
            "container:ipc-peer",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    assert_eq!(ns("ipc-joiner"), ns("ipc-peer"));
    let first = ns("ipc-peer");
    must(store, &["restart", "-t", "0", "ipc-peer"]);
    assert_ne!(
        ns("ipc-peer"),
        first,
        "a restarted peer gets a new namespace"
    );
    must(store, &["restart", "-t", "0", "ipc-joiner"]);
    assert_eq!(ns("ipc-joiner"), ns("ipc-peer"));
    // A stopped peer: `restart` and `start` say so, and the joiner is left as it was.
    must(store, &["stop", "-t", "0", "ipc-peer"]);
    let before = ns("ipc-joiner");
    let (code, _, err) = run(store, &["restart", "-t", "0", "ipc-joiner"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`ipc-peer` is not running"), "{err}");
    assert!(err.contains("duckc start ipc-peer"), "{err}");
    assert_eq!(ns("ipc-joiner"), before);
    must(store, &["stop", "-t", "0", "ipc-joiner"]);
    let (code, _, err) = run(store, &["start", "ipc-joiner"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("`ipc-peer` is not running"), "{err}");
    must(store, &["rm", "-f", "ipc-peer", "ipc-joiner"]);
}

#[test]
fn group_add_by_id_and_by_name() {
    let Some(store) = store() else { return };
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--group-add",
            "1234",
            "--group-add",
            "nogroup",
            "-u",
            "nobody",
            "busybox",
            "id",
            "-G",
        ],
    );
    let groups: Vec<&str> = out.split_whitespace().collect();
    assert!(
        groups.contains(&"1234") && groups.contains(&"65534"),
        "{out}"
    );
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--rm",
            "--group-add",
            "no-such-group",
            "busybox",
            "true",
        ],
    );
    assert_ne!(code, 0);
    assert!(err.contains("no-such-group"), "{err}");
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--rm",
            "--group-add",
            "99999999999",
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("help:"), "{err}");
}

/// An Xvfb on a free display, with a cookie in its own authority file; killed on drop.
struct Xvfb {
    child: std::process::Child,
    display: String,
    auth: PathBuf,
    _dir: tempfile::TempDir,
}

impl Xvfb {
    fn start() -> Xvfb {
        let dir = tempfile::tempdir().unwrap();
        let auth = dir.path().join("Xauthority");
        let number = (90..190)
            .find(|n| {
                !Path::new(&format!("/tmp/.X11-unix/X{n}")).exists()
                    && !Path::new(&format!("/tmp/.X{n}-lock")).exists()
            })
            .expect("a free X display number");
        let display = format!(":{number}");
        let cookie: String = std::fs::read("/proc/sys/kernel/random/uuid")
            .map(|u| String::from_utf8_lossy(&u).replace(['-', '\n'], ""))
            .unwrap();
        ok(Command::new("xauth")
            .arg("-f")
            .arg(&auth)
            .args(["add", &display, ".", &cookie]));
        let child = Command::new("Xvfb")
            .args([&display, "-nolisten", "tcp", "-auth"])
            .arg(&auth)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let socket = format!("/tmp/.X11-unix/X{number}");
        wait_for("Xvfb's socket", || Path::new(&socket).exists());
        Xvfb {
            child,
            display,
            auth,
            _dir: dir,
        }
    }
}

impl Drop for Xvfb {
    /// SIGTERM, so Xvfb removes its socket and lock file itself (SIGKILL would leave them in
    /// /tmp); SIGKILL only if it does not go.
    fn drop(&mut self) {
        // SAFETY: kill with a pid we started and a signal number.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn gui_gives_the_display_and_a_cookie_that_works_inside() {
    let Some(store) = store() else { return };
    if !require_tool("Xvfb") || !require_tool("xauth") {
        return;
    }
    let Some(probe) = common::probe::static_probe("x11") else {
        return;
    };
    let x = Xvfb::start();
    let mount = format!("{}:/x11", probe.display());
    let auth = x.auth.display().to_string();
    let gui = |extra: &[&str]| {
        let mut args = vec!["run", "--rm", "--gui", "-v", &mount];
        args.extend_from_slice(extra);
        args.extend(["busybox", "/x11"]);
        let mut cmd = duckc(store);
        cmd.env("DISPLAY", &x.display)
            .env("XAUTHORITY", &auth)
            .env_remove("WAYLAND_DISPLAY");
        let out = output(cmd.args(&args).stdin(Stdio::null()));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = gui(&[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert!(out.contains("connected to display"), "{out}");
    // The same client without the cookie is turned away: the cookie is what lets it in.
    let (code, out, err) = gui(&["-e", "XAUTHORITY=/nonexistent"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(out.contains("refused"), "{out}");
    // Without --gui there is no display socket in the container at all.
    let (code, _, _) = run_env(
        store,
        &[("DISPLAY", &x.display), ("XAUTHORITY", &auth)],
        &[
            "run", "--rm", "-e", "DISPLAY", "-v", &mount, "busybox", "/x11",
        ],
    );
    assert_eq!(code, 2);

    // Wayland: the socket named by WAYLAND_DISPLAY in XDG_RUNTIME_DIR.
    let runtime = tempfile::tempdir().unwrap();
    let _listener =
        std::os::unix::net::UnixListener::bind(runtime.path().join("wayland-duckc")).unwrap();
    let mut cmd = duckc(store);
    cmd.env_remove("DISPLAY")
        .env("WAYLAND_DISPLAY", "wayland-duckc")
        .env("XDG_RUNTIME_DIR", runtime.path());
    let out = ok(cmd.args([
        "run",
        "--rm",
        "--gui",
        "busybox",
        "sh",
        "-c",
        "test -S \"$XDG_RUNTIME_DIR/$WAYLAND_DISPLAY\" && echo wayland-socket",
    ]));
    assert_eq!(out, "wayland-socket\n");

    // No display at all: say so.
    let mut cmd = duckc(store);
    cmd.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    let out = output(cmd.args(["run", "--rm", "--gui", "busybox", "true"]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("neither `DISPLAY` nor `WAYLAND_DISPLAY` is set") && err.contains("help:"),
        "{err}"
    );
}

/// The container's `sleep` processes: (all of them, the zombies among them).
fn sleeps(store: &Path, name: &str) -> (usize, usize) {
    let (_, out, _) = run(
        store,
        &[
            "exec",
            name,
            "sh",
            "-c",
            "cat /proc/[0-9]*/stat 2>/dev/null",
        ],
    );
    let all: Vec<&str> = out.lines().filter(|l| l.contains(" (sleep) ")).collect();
    let zombies = all.iter().filter(|l| l.contains(" (sleep) Z ")).count();
    (all.len(), zombies)
}

#[test]
fn init_forwards_signals_and_reaps_orphans() {
    let Some(store) = store() else { return };
    // Ctrl-C reaches `sleep` through the reaper (a bare `sleep` as pid 1 would ignore it).
    let mut child = duckc(store)
        .args([
            "run", "--rm", "--name", "init-int", "--init", "busybox", "sleep", "1000",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("init-int to run", || {
        run(store, &["ps", "-q", "--all"]).1.lines().count() > 0
            && run(store, &["exec", "init-int", "true"]).0 == 0
    });
    // SAFETY: kill with a pid we started and a signal number.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "SIGINT did not stop the container"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));

    // Orphans: the reaper reaps them; a bare command as pid 1 leaves a zombie. The orphan
    // outlives its shell and ends after the command took over pid 1 (or pid 2).
    let orphan = "sh -c 'sleep 2 &'; exec sleep 1000";
    must(
        store,
        &[
            "run", "-d", "--name", "no-init", "busybox", "sh", "-c", orphan,
        ],
    );
    wait_for("the zombie of no-init", || {
        sleeps(store, "no-init") == (2, 1)
    });
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "with-init",
            "--init",
            "busybox",
            "sh",
            "-c",
            orphan,
        ],
    );
    wait_for("with-init to run", || {
        run(store, &["exec", "with-init", "true"]).0 == 0
    });
    wait_for("with-init's orphan to be reaped", || {
        sleeps(store, "with-init") == (1, 0)
    });
    let pid1 = must(store, &["exec", "with-init", "cat", "/proc/1/cmdline"]);
    assert!(pid1.starts_with("duckc-init"), "{pid1}");
    // `stop` sends SIGTERM, which the reaper passes on: the container ends with it (143)
    // rather than being killed after the grace period (137).
    must(store, &["stop", "-t", "60", "with-init"]);
    let ps = must(store, &["ps", "-a"]);
    let line = ps.lines().find(|l| l.contains("with-init")).unwrap();
    assert!(line.contains("Exited (143)"), "{ps}");
    must(store, &["rm", "-f", "no-init", "with-init"]);
}

#[test]
fn privileged_is_refused_with_what_to_use_instead() {
    let Some(store) = store() else { return };
    let (code, _, err) = run(store, &["run", "--rm", "--privileged", "busybox", "true"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("--privileged")
            && err.contains("--device")
            && err.contains("seccomp=unconfined"),
        "{err}"
    );
    for (args, says) in [
        (&["--shm-size", "lots"][..], "--shm-size"),
        (&["--ipc", "sideways"][..], "unknown IPC mode"),
        (
            &["--ipc", "container:nobody-here"][..],
            "no container `nobody-here`",
        ),
        (&["--gpus", "colour=blue"][..], "unknown key"),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend(["busybox", "true"]);
        let (code, _, err) = run(store, &all);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(
            err.contains(says) && err.contains("help:"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
    }
}
