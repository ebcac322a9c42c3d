//! End-to-end tests of a container's session, terminal and keyring, the store's ownership and
//! modes, and bounds on ids and image indexes (SECURITY.md items 34, 35 and 39).
//!
//! They need root (CI runs as root; elsewhere they skip with a note). The store lives in a
//! directory every user may traverse, so that only the store's own modes keep another user
//! out; containers run the static probe `tests/probes/tiocsti.c`, bind-mounted at `/probes`.

mod common;

use std::ffi::CString;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::store::{busybox_layout, load_busybox};
use common::{duckc, output, require_root, require_tool};
use common::{must, run};

/// Flags for the containers of the keyring test. The default seccomp profile refuses `keyctl`
/// outright, so the test turns it off: the fresh session keyring alone must keep the caller's
/// key out of reach.
const KEYRING_RUN_FLAGS: &[&str] = &["--security-opt", "seccomp=unconfined"];

/// The shared store (busybox loaded) in a directory others may traverse, and the probe.
fn setup() -> Option<&'static (PathBuf, PathBuf)> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    let probe = common::probe::static_probe("tiocsti")?;
    static SETUP: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    Some(SETUP.get_or_init(|| {
        // One directory per build tree, replaced by each run (as `runtime-store` is): under
        // the system's temporary directory, whose ancestors every user may traverse.
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        env!("CARGO_TARGET_TMPDIR").hash(&mut h);
        let dir = std::env::temp_dir().join(format!("duckc-isolation-{:016x}", h.finish()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let store = dir.join("store");
        assert_eq!(load_busybox(&store), "busybox:latest");
        (store, probe)
    }))
}

/// `-v DIR:/probes:ro` and the probe's path inside the container.
fn probe_mount(probe: &Path) -> (String, String) {
    let dir = probe.parent().unwrap();
    let name = probe.file_name().unwrap().to_string_lossy();
    (
        format!("{}:/probes:ro", dir.display()),
        format!("/probes/{name}"),
    )
}

/// A pseudo-terminal pair; the slave side in raw mode (no echo, input readable at once).
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut master, mut slave) = (0, 0);
    // SAFETY: openpty fills the two descriptors; the other arguments may be NULL.
    let r = unsafe {
        libc::openpty(
            &mut master,
            &mut slave,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: fresh descriptors, ours; termios calls on a local value.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        libc::tcgetattr(slave, &mut t);
        libc::cfmakeraw(&mut t);
        libc::tcsetattr(slave, libc::TCSANOW, &t);
        (OwnedFd::from_raw_fd(master), OwnedFd::from_raw_fd(slave))
    }
}

/// Run `cmd` with the pty's slave side as stdin, stdout and stderr and as the controlling
/// terminal of a session of its own (as a login shell has it). Returns its exit code, what
/// the master side read, and how many input bytes wait on the slave side (pushed by
/// `TIOCSTI`: nothing else writes input to it).
fn on_a_terminal(cmd: &mut Command) -> (i32, String, i32) {
    let (master, slave) = openpty();
    cmd.stdin(Stdio::from(slave.try_clone().unwrap()))
        .stdout(Stdio::from(slave.try_clone().unwrap()))
        .stderr(Stdio::from(slave.try_clone().unwrap()));
    // SAFETY: only async-signal-safe calls between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() == -1 || libc::ioctl(0, libc::TIOCSCTTY, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let status = cmd.status().unwrap();
    // SAFETY: fcntl and read on our descriptors, ioctl into a local int.
    let (text, pending) = unsafe {
        let fd = master.as_raw_fd();
        libc::fcntl(
            fd,
            libc::F_SETFL,
            libc::fcntl(fd, libc::F_GETFL) | libc::O_NONBLOCK,
        );
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let n = libc::read(fd, buf.as_mut_ptr().cast(), buf.len());
            if n <= 0 {
                break;
            }
            out.extend_from_slice(&buf[..n as usize]);
        }
        let mut pending: libc::c_int = 0;
        libc::ioctl(slave.as_raw_fd(), libc::FIONREAD, &mut pending);
        (String::from_utf8_lossy(&out).into_owned(), pending)
    };
    (status.code().unwrap_or(-1), text, pending)
}

/// What the probe's `tty` mode must show inside a container: a session of its own, no
/// terminal on its stdio, no `TIOCSTI` anywhere, no `/dev/tty`; and no input pushed.
fn assert_terminal_unreachable(code: i32, text: &str, pending: i32) {
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("new-session: yes"), "{text}");
    assert!(text.contains("isatty: 0 0 0"), "{text}");
    for attempt in [
        "tiocsti-fd0",
        "tiocsti-fd1",
        "tiocsti-fd2",
        "open-dev-tty",
        "tiocsti-dev-tty",
    ] {
        assert!(!text.contains(&format!("{attempt}: ok")), "{text}");
    }
    assert!(text.contains("open-dev-tty: ENXIO"), "{text}");
    assert!(!text.contains("PWNED"), "{text}");
    assert_eq!(
        pending, 0,
        "input was pushed into the caller's terminal\n{text}"
    );
}

#[test]
fn security_34_no_way_into_the_callers_terminal() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let (mount, inside) = probe_mount(probe);

    // The method works: the probe run on the host, on a pty it controls, pushes input.
    let (code, text, pending) = on_a_terminal(Command::new(probe).arg("tty"));
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("tiocsti-fd1: ok"), "{text}");
    assert!(pending > 0, "{text}");

    // `run` without `-t`: the container's stdio are pipes that duckc relays.
    let (code, text, pending) =
        on_a_terminal(duckc(store).args(["run", "--rm", "-v", &mount, "busybox", &inside, "tty"]));
    assert_terminal_unreachable(code, &text, pending);

    // `exec` the same.
    must(
        store,
        &[
            "run", "-d", "--name", "iso_tty", "-v", &mount, "busybox", "sleep", "1000",
        ],
    );
    let (code, text, pending) =
        on_a_terminal(duckc(store).args(["exec", "iso_tty", &inside, "tty"]));
    must(store, &["rm", "-f", "iso_tty"]);
    assert_terminal_unreachable(code, &text, pending);

    // With `-t` the container's own pty is its controlling terminal, never the caller's.
    let (code, text, pending) = on_a_terminal(
        duckc(store).args(["run", "--rm", "-t", "-v", &mount, "busybox", &inside, "tty"]),
    );
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("new-session: yes"), "{text}");
    assert!(text.contains("isatty: 1 1 1"), "{text}");
    assert_eq!(pending, 0, "input reached the caller's terminal\n{text}");
}

#[test]
fn security_34_kill_zero_stays_in_the_container() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let (mount, inside) = probe_mount(probe);
    // A process group like a shell pipeline's: `sleep` and duckc in it, in a session of its
    // own (so a failure here cannot signal the test).
    let script = format!(
        "sleep 60 & S=$!; {} run --rm -v {mount} busybox {inside} kill0; echo \"exit $?\"; \
         if kill -0 $S; then echo sleep-alive; kill $S; fi",
        common::duckc_bin().display()
    );
    let mut cmd = Command::new("sh");
    cmd.args(["-c", &script])
        .env("DUCKC_STORE", store)
        .stdin(Stdio::null());
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = output(&mut cmd);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("new-session: yes"), "{text}");
    assert!(text.contains("exit 0"), "{text}");
    assert!(text.contains("sleep-alive"), "{text}");
}

/// Give this thread a session keyring of its own holding a new `user` key; its serial.
fn session_key(description: &str) -> i64 {
    let name = CString::new("duckc-isolation-test").unwrap();
    let desc = CString::new(description).unwrap();
    let payload = b"secret";
    // SAFETY: keyctl and add_key with valid C strings and a payload buffer.
    unsafe {
        let r = libc::syscall(
            libc::SYS_keyctl,
            1, /* JOIN_SESSION_KEYRING */
            name.as_ptr(),
        );
        assert!(r >= 0, "keyctl: {}", std::io::Error::last_os_error());
        let serial = libc::syscall(
            libc::SYS_add_key,
            c"user".as_ptr(),
            desc.as_ptr(),
            payload.as_ptr(),
            payload.len(),
            -3i32, /* KEY_SPEC_SESSION_KEYRING */
        );
        assert!(serial > 0, "add_key: {}", std::io::Error::last_os_error());
        serial
    }
}

#[test]
fn security_34_the_callers_session_keyring_is_out_of_reach() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let (mount, inside) = probe_mount(probe);
    let desc = format!("duckc-isolation-{}", std::process::id());
    let serial = session_key(&desc).to_string();

    // The method works: on the host, the probe finds and reads the key.
    let text = common::ok(Command::new(probe).args(["keys", &desc, &serial]));
    assert!(
        text.contains("key-search: ok") && text.contains("key-read: ok"),
        "{text}"
    );

    // Spawned from this thread, duckc and everything it starts hold that keyring; the
    // container must not.
    let mut args = vec!["run", "--rm", "-v", &mount];
    args.extend(KEYRING_RUN_FLAGS.iter().copied());
    args.extend(["busybox", inside.as_str(), "keys", &desc, &serial]);
    let text = must(store, &args);
    assert!(text.contains("key-search: "), "{text}");
    assert!(!text.contains("key-search: ok"), "{text}");
    assert!(!text.contains("key-read: ok"), "{text}");
}

#[test]
fn relayed_stdio_keeps_pipes_and_exit_codes() {
    let Some((store, _)) = setup() else { return };
    let mut child = duckc(store)
        .args([
            "run",
            "--rm",
            "-i",
            "busybox",
            "sh",
            "-c",
            "cat; echo err >&2; exit 7",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
    assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
    // A reader that stops early ends the container's writes (EPIPE), not duckc.
    let out = output(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "{} run --rm busybox yes | head -n 3",
                common::duckc_bin().display()
            ))
            .env("DUCKC_STORE", store),
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "y\ny\ny\n");
}

/// A user made for one test and removed after it.
struct TempUser {
    name: String,
    uid: u32,
    gid: u32,
}

impl TempUser {
    fn new() -> TempUser {
        let name = format!("duckiso{}", std::process::id());
        let _ = Command::new("userdel").arg(&name).output();
        common::ok(Command::new("useradd").args([
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            &name,
        ]));
        let id = |flag: &str| -> u32 {
            common::ok(Command::new("id").args([flag, &name]))
                .trim()
                .parse()
                .unwrap()
        };
        TempUser {
            uid: id("-u"),
            gid: id("-g"),
            name,
        }
    }

    /// `program ARGS` as this user: Ok(output) or the error of starting it.
    fn run(&self, program: &Path, args: &[&str]) -> std::io::Result<std::process::Output> {
        Command::new(program)
            .args(args)
            .uid(self.uid)
            .gid(self.gid)
            .stdin(Stdio::null())
            .output()
    }
}

impl Drop for TempUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// Files under `dir` (not following links) named `name`.
fn find_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        let Ok(m) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            find_named(&p, name, out);
        } else if e.file_name() == name {
            out.push(p);
        }
    }
}

#[test]
fn security_35_the_store_is_its_owners_alone() {
    let Some((store, probe)) = setup() else {
        return;
    };
    if !require_tool("useradd") || !require_tool("flock") {
        return;
    }
    let (mount, inside) = probe_mount(probe);
    let user = TempUser::new();
    // Only the store's own modes stand in the way: its parent is open to everyone.
    let parent = std::fs::metadata(store.parent().unwrap()).unwrap();
    assert_eq!(parent.mode() & 0o777, 0o755);

    // A setuid-root file in a container's upper directory and, once committed and run, in a
    // snapshot; a container config with a secret in it.
    let script = format!("cp {inside} /suid && chmod 4755 /suid");
    must(
        store,
        &[
            "run",
            "--name",
            "iso_suid",
            "-e",
            "TOKEN=hunter2",
            "-v",
            &mount,
            "busybox",
            "sh",
            "-c",
            &script,
        ],
    );
    must(store, &["commit", "iso_suid", "iso-suid:latest"]);
    must(store, &["run", "--rm", "iso-suid:latest", "true"]);
    let mut setuid = Vec::new();
    find_named(&store.join("containers"), "suid", &mut setuid);
    find_named(&store.join("snapshots"), "suid", &mut setuid);
    assert!(setuid.len() >= 2, "{setuid:?}");
    let mut configs = Vec::new();
    find_named(&store.join("containers"), "config.json", &mut configs);
    assert!(!configs.is_empty());

    // The invariant on disk.
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(store), 0o700);
    // The store is shared by this file's tests: other containers come and go beside these,
    // so a config may vanish between the walk and here, and only this test's carries the secret.
    let mut secrets = 0;
    for c in &configs {
        let Ok(meta) = std::fs::symlink_metadata(c) else {
            continue;
        };
        assert_eq!(meta.mode() & 0o7777, 0o600, "{}", c.display());
        secrets += std::fs::read_to_string(c).is_ok_and(|t| t.contains("hunter2")) as usize;
    }
    assert!(
        secrets >= 1,
        "no container config holds the secret: {configs:?}"
    );
    let lock = store.join("locks/gc.lock");
    assert_eq!(mode(&lock), 0o600);

    // The other user gets nowhere.
    for path in &setuid {
        assert_eq!(mode(path) & 0o4000, 0o4000, "{}", path.display());
        match user.run(path, &["tty"]) {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied, "{e}"),
            Ok(out) => panic!("{} ran as another user: {out:?}", path.display()),
        }
    }
    for c in &configs {
        let out = user.run(Path::new("cat"), &[c.to_str().unwrap()]).unwrap();
        assert!(!out.status.success(), "{out:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("Permission denied"));
    }
    let out = user
        .run(Path::new("flock"), &["-n", lock.to_str().unwrap(), "true"])
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    must(store, &["rm", "-f", "iso_suid"]);

    // A store root that another user owns is refused.
    let theirs = store.parent().unwrap().join("theirs");
    std::fs::create_dir(&theirs).unwrap();
    std::os::unix::fs::chown(&theirs, Some(user.uid), Some(user.gid)).unwrap();
    let (code, _, err) = run(&theirs, &["images"]);
    assert_ne!(code, 0);
    assert!(
        err.contains(&format!("belongs to uid {}", user.uid)),
        "{err}"
    );
}

#[test]
fn security_35_verify_reports_modes_and_opening_fixes_them() {
    if !require_root() || !require_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    load_busybox(&store);
    must(
        &store,
        &[
            "run",
            "--name",
            "iso_modes",
            "-e",
            "TOKEN=x",
            "busybox",
            "true",
        ],
    );
    let mut configs = Vec::new();
    find_named(&store.join("containers"), "config.json", &mut configs);
    let config = configs.pop().unwrap();
    // An older duckc's modes.
    let set =
        |p: &Path, m: u32| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    set(&store, 0o755);
    set(&store.join("snapshots"), 0o755);
    set(&config, 0o644);
    set(&store.join("locks/gc.lock"), 0o666);

    let (code, out, err) = run(&store, &["verify"]);
    assert_eq!(code, 1, "{out}\n{err}");
    for p in [
        store.clone(),
        store.join("snapshots"),
        config.clone(),
        store.join("locks/gc.lock"),
    ] {
        assert!(
            out.contains(&format!("mode of {}:", p.display())),
            "{}\n{out}",
            p.display()
        );
    }
    assert!(out.contains("0755 lets other users reach it"), "{out}");
    assert!(err.contains("restores the store's modes"), "{err}");

    // Any command that opens the store brings it back to the invariant.
    must(&store, &["images"]);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&store), 0o700);
    assert_eq!(mode(&store.join("snapshots")), 0o700);
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&store.join("locks/gc.lock")), 0o600);
    let out = must(&store, &["verify"]);
    assert!(out.starts_with("ok:"), "{out}");
}

#[test]
fn security_39_ids_above_2_31_are_refused() {
    let Some((store, _)) = setup() else { return };
    for user in [
        "4294967295",
        "0:4294967295",
        "2147483648",
        "99999999999999999999",
    ] {
        let (code, out, err) = run(store, &["run", "--rm", "-u", user, "busybox", "id"]);
        assert_ne!(code, 0, "-u {user}: {out}\n{err}");
        assert!(err.contains("out of range"), "{err}");
        assert!(err.contains("help:"), "{err}");
        assert!(!out.contains("uid=0"), "{out}");
    }
    // The largest accepted id still works.
    let out = must(
        store,
        &["run", "--rm", "-u", "2147483647", "busybox", "id", "-u"],
    );
    assert_eq!(out.trim(), "2147483647");

    // An image whose config says `USER 4294967295`.
    must(store, &["run", "--name", "iso_user", "busybox", "true"]);
    must(
        store,
        &[
            "commit",
            "--change",
            "USER 4294967295",
            "iso_user",
            "iso-user:latest",
        ],
    );
    must(store, &["rm", "iso_user"]);
    let (code, _, err) = run(store, &["run", "--rm", "iso-user:latest", "id"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("out of range"), "{err}");

    // A Dockerfile's `USER` for a `RUN`, and `COPY --chown`.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("duck.txt"), "quack\n").unwrap();
    for dockerfile in [
        "FROM busybox\nUSER 4294967295\nRUN id\n",
        "FROM busybox\nCOPY --chown=4294967295:0 duck.txt /duck.txt\n",
    ] {
        std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
        let out = output(duckc(store).current_dir(ctx.path()).args([
            "build",
            "--progress",
            "plain",
            "-t",
            "iso-build:latest",
            ".",
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{dockerfile}: {err}");
        assert!(err.contains("out of range"), "{dockerfile}: {err}");
    }
}

/// Store `bytes` as a blob of the layout `layout`; its descriptor as JSON.
fn put_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> serde_json::Value {
    use sha2::Digest as _;
    let hex = hex_of(&sha2::Sha256::digest(bytes));
    std::fs::write(layout.join("blobs/sha256").join(&hex), bytes).unwrap();
    serde_json::json!({"mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len()})
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The busybox layout with its index replaced by `levels` nested indexes, each holding
/// `fan_out` entries for the one below (a chain when 1, a diamond otherwise).
fn nested_layout(dir: &Path, levels: usize, fan_out: usize) -> PathBuf {
    const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    let layout = busybox_layout(dir);
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut below = index["manifests"][0].clone();
    let annotations = below.get("annotations").cloned();
    if let Some(o) = below.as_object_mut() {
        o.remove("annotations");
    }
    for _ in 0..levels {
        let manifests = vec![below.clone(); fan_out];
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2, "mediaType": INDEX, "manifests": manifests
        }))
        .unwrap();
        below = put_blob(&layout, INDEX, &bytes);
    }
    if let Some(a) = annotations {
        below["annotations"] = a;
    }
    let top = serde_json::json!({"schemaVersion": 2, "mediaType": INDEX, "manifests": [below]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    layout
}

#[test]
fn security_39_nested_indexes_are_bounded() {
    if !require_root() || !require_tool("umoci") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    // A 100-deep chain and a 40-deep diamond (2^40 paths) are refused at once.
    for (levels, fan_out) in [(100, 1), (40, 2)] {
        let sub = dir.path().join(format!("l{levels}-{fan_out}"));
        std::fs::create_dir(&sub).unwrap();
        let layout = nested_layout(&sub, levels, fan_out);
        let (code, out, err) = run(&store, &["load", "-i", layout.to_str().unwrap()]);
        assert_ne!(code, 0, "{out}");
        assert!(
            err.contains("nests indexes more than 8 levels deep"),
            "{err}"
        );
    }
    // A diamond within the bound loads, each index read once (50^6 paths otherwise), and
    // runs and inspects.
    let sub = dir.path().join("wide");
    std::fs::create_dir(&sub).unwrap();
    let layout = nested_layout(&sub, 6, 50);
    must(&store, &["load", "-i", layout.to_str().unwrap()]);
    let out = must(&store, &["run", "--rm", "busybox", "echo", "quack"]);
    assert_eq!(out, "quack\n");
    must(&store, &["inspect", "busybox"]);
}

/// Issue 11's "done when", in one container started with the default settings: Docker's
/// seccomp filter is on, the container has its own cgroup in every hierarchy that confines it,
/// and its init leads its own session (the keyring is checked above, with seccomp off, since
/// the filter alone already refuses `keyctl`).
#[test]
fn a_default_container_is_filtered_confined_and_leads_its_own_session() {
    let Some((store, _)) = setup() else { return };
    let script = "grep '^Seccomp:' /proc/self/status; \
                  read pid comm state ppid pgrp sid rest < /proc/self/stat; \
                  echo \"pid=$pid pgrp=$pgrp sid=$sid\"; cat /proc/self/cgroup";
    let out = must(store, &["run", "--rm", "busybox", "sh", "-c", script]);
    assert!(out.contains("Seccomp:\t2"), "no seccomp filter:\n{out}");
    assert!(
        out.contains("pid=1 pgrp=1 sid=1"),
        "the init does not lead a session of its own:\n{out}"
    );
    let cgroups: Vec<&str> = out.lines().filter(|l| l.contains(':')).collect();
    let v1 = Path::new("/sys/fs/cgroup/devices/cgroup.procs").exists();
    let wanted: &[&str] = if v1 {
        &["memory", "pids", "devices", "freezer"]
    } else {
        &[""]
    };
    for controller in wanted {
        let line = cgroups
            .iter()
            .find(|l| {
                l.split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|c| c == *controller))
            })
            .unwrap_or_else(|| panic!("no `{controller}` line in\n{out}"));
        assert!(
            line.contains("/duckc/"),
            "`{controller}` is not a cgroup of duckc's own: {line}\n{out}"
        );
    }
}
