//! End-to-end tests of cgroups: each container and build step in its own cgroup, resource
//! limits, the devices allow list, and freezing for `commit`.
//!
//! They need root (CI runs as root; elsewhere they skip with a note). Device tests use a
//! read-only loop device over a file the test makes, never a real disk, and detach it at the
//! end.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::store::load_busybox;
use common::{duckc, ok, require_root, require_tool};
use common::{must, run};
use duckc_runtime::cgroup::{self, Cgroup, Layout};

/// The shared store (busybox loaded), or `None` when the tests cannot run here.
fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cgroups-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    }))
}

/// The container id `duckc run -d` printed.
fn detached(store: &Path, args: &[&str]) -> String {
    let mut all = vec!["run", "-d"];
    all.extend_from_slice(args);
    must(store, &all).trim().to_owned()
}

/// Wait for `cond`, failing the test after a generous bound (not a timing assertion: only a
/// guard against hanging).
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The container `id`'s cgroup, as duckc lays it out on this host.
fn cgroup_of(id: &str) -> Cgroup {
    Cgroup::named(&Layout::host(), id, false)
        .unwrap()
        .expect("this host has cgroups")
}

#[test]
fn a_container_has_its_own_cgroup_gone_after_exit_and_rm() {
    let Some(store) = store() else { return };
    // Foreground: the cgroup it reports is its own, and it is gone once the run returns.
    let out = must(
        store,
        &[
            "run",
            "--name",
            "cg-own",
            "busybox",
            "cat",
            "/proc/self/cgroup",
        ],
    );
    let lines: Vec<&str> = out.lines().filter(|l| l.contains("/duckc/")).collect();
    assert!(!lines.is_empty(), "no duckc cgroup in\n{out}");
    let id = lines[0].rsplit('/').next().unwrap().to_owned();
    assert!(
        lines.iter().all(|l| l.ends_with(&format!("/duckc/{id}"))),
        "{out}"
    );
    for ctrl in ["memory", "pids", "devices", "freezer"] {
        if Path::new("/sys/fs/cgroup").join(ctrl).is_dir() {
            assert!(
                out.lines().any(|l| l
                    .split(':')
                    .nth(1)
                    .is_some_and(|c| c.split(',').any(|x| x == ctrl))
                    && l.ends_with(&format!("/duckc/{id}"))),
                "{ctrl} missing in\n{out}"
            );
        }
    }
    assert!(
        !cgroup_of(&id).exists(),
        "cgroup of an exited container left behind"
    );
    must(store, &["rm", "cg-own"]);

    // Detached: there while it runs, `exec` joins it, `rm -f` removes it.
    let id = detached(store, &["--name", "cg-detached", "busybox", "sleep", "300"]);
    let cg = cgroup_of(&id);
    assert!(cg.exists());
    let pids = cg.pids();
    assert!(!pids.is_empty(), "the init is not in its cgroup");
    let exec = must(store, &["exec", "cg-detached", "cat", "/proc/self/cgroup"]);
    assert!(
        exec.lines().any(|l| l.ends_with(&format!("/duckc/{id}"))),
        "exec is not in the container's cgroup:\n{exec}"
    );
    must(store, &["rm", "-f", "cg-detached"]);
    assert!(!cg.exists(), "cgroup left after rm -f");

    // A stale cgroup (as left when duckc itself is killed) goes with the next `start`/`rm`.
    let id = detached(store, &["--name", "cg-stale", "busybox", "true"]);
    wait_for("the container to exit", || !cgroup_of(&id).exists());
    let stale = cgroup_of(&id);
    for dir in stale.dirs() {
        std::fs::create_dir_all(dir).unwrap();
    }
    must(store, &["start", "-a", "cg-stale"]);
    assert!(!stale.exists(), "start left the stale cgroup");
    for dir in stale.dirs() {
        std::fs::create_dir_all(dir).unwrap();
    }
    must(store, &["rm", "cg-stale"]);
    assert!(!stale.exists(), "rm left the stale cgroup");
}

#[test]
fn pids_limit_holds_against_a_fork_loop() {
    let Some(store) = store() else { return };
    let Some(probe) = common::probe::static_probe("cg_fork") else {
        return;
    };
    let volume = format!("{}:/cg_fork:ro", probe.display());
    let limited = must(
        store,
        &[
            "run",
            "--rm",
            "--pids-limit",
            "20",
            "-v",
            &volume,
            "busybox",
            "/cg_fork",
            "50",
        ],
    );
    let numbers: Vec<u32> = limited
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [started, failed] = numbers[..] else {
        panic!("unexpected probe output: {limited}");
    };
    assert!(started < 20, "{limited}");
    assert_eq!(started + failed, 50, "{limited}");
    assert!(
        limited.contains("Resource temporarily unavailable"),
        "{limited}"
    );
    let free = must(
        store,
        &["run", "--rm", "-v", &volume, "busybox", "/cg_fork", "50"],
    );
    assert!(free.starts_with("started 50 failed 0"), "{free}");
}

#[test]
fn memory_limit_ends_in_the_oom_kill() {
    let Some(store) = store() else { return };
    let (code, out, err) = run(
        store,
        &[
            "run",
            "--rm",
            "-m",
            "32m",
            "--memory-swap",
            "32m",
            "busybox",
            "sh",
            "-c",
            "head -c 200m /dev/zero | tail",
        ],
    );
    assert_eq!(code, 137, "stdout:\n{out}\nstderr:\n{err}");
}

#[test]
fn limits_are_applied_and_bad_values_are_diagnostics() {
    let Some(store) = store() else { return };
    // The limits land in the container's cgroup files.
    let id2 = detached(
        store,
        &[
            "--name",
            "cg-limits",
            "-m",
            "64m",
            "--memory-swap",
            "-1",
            "--cpus",
            "0.5",
            "--pids-limit",
            "33",
            "busybox",
            "sleep",
            "300",
        ],
    );
    match cgroup_of(&id2) {
        Cgroup::V1(dirs) => {
            let file = |f: &str| {
                dirs.iter()
                    .map(|(_, d)| d.join(f))
                    .find(|p| p.exists())
                    .map(|p| std::fs::read_to_string(p).unwrap().trim().to_owned())
            };
            assert_eq!(file("memory.limit_in_bytes").as_deref(), Some("67108864"));
            assert_eq!(file("pids.max").as_deref(), Some("33"));
            assert_eq!(file("cpu.cfs_quota_us").as_deref(), Some("50000"));
            assert_eq!(file("cpu.cfs_period_us").as_deref(), Some("100000"));
        }
        Cgroup::V2(dir) => {
            let file = |f: &str| {
                std::fs::read_to_string(dir.join(f))
                    .unwrap()
                    .trim()
                    .to_owned()
            };
            assert_eq!(file("memory.max"), "67108864");
            assert_eq!(file("pids.max"), "33");
            assert_eq!(file("cpu.max"), "50000 100000");
        }
    }
    // `stats` reports the container with its limit and its one process.
    let stats = must(store, &["stats", "--no-stream", "cg-limits"]);
    assert!(stats.starts_with("CONTAINER ID"), "{stats}");
    let row = stats.lines().nth(1).unwrap();
    assert!(
        row.contains("cg-limits") && row.contains("/ 64MiB"),
        "{stats}"
    );
    assert!(row.trim_end().ends_with(" 1"), "{stats}");
    must(store, &["rm", "-f", "cg-limits"]);

    // --ulimit is set in the init.
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--ulimit",
            "nofile=100:200",
            "busybox",
            "sh",
            "-c",
            "ulimit -n; ulimit -Hn",
        ],
    );
    assert_eq!(out, "100\n200\n");
    // Above the hard limit without CAP_SYS_RESOURCE: a clear failure, not a silent cap.
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let cap_eff = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    if cap_eff & (1 << 24) == 0 {
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
        let hard: u64 = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
            .unwrap();
        let ask = format!("nofile={}:{}", hard + 1, hard + 1);
        let (code, _, err) = run(store, &["run", "--rm", "--ulimit", &ask, "busybox", "true"]);
        assert_eq!(code, 125, "{err}");
        assert!(err.contains("CAP_SYS_RESOURCE"), "{err}");
    }

    for (args, says) in [
        (&["-m", "lots"][..], "invalid `--memory`"),
        (&["-m", "1m"][..], "minimum memory limit"),
        (&["--memory-swap", "1g"][..], "needs `--memory`"),
        (&["-m", "64m", "--memory-swap", "32m"][..], "memoryswap"),
        (&["--cpus", "many"][..], "invalid `--cpus`"),
        (&["--cpuset-cpus", "4096"][..], "not available"),
        (&["--pids-limit", "x"][..], "invalid `--pids-limit`"),
        (&["--ulimit", "bogus=1"][..], "unknown ulimit"),
        (&["--device", "/etc/passwd"][..], "not a device node"),
        (&["--device", "/dev/null:/etc/null"][..], "under /dev"),
    ] {
        let mut all = vec!["run", "--rm"];
        all.extend_from_slice(args);
        all.extend(["busybox", "true"]);
        let (code, _, err) = run(store, &all);
        assert_ne!(code, 0, "{args:?} was accepted");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(err.contains("help:"), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// A read-only loop device over a file holding [`CANARY`], detached on drop.
struct Loop {
    dev: String,
    major: u32,
    minor: u32,
    _dir: tempfile::TempDir,
}

const CANARY: &str = "duckc-loop-canary";

impl Loop {
    fn new() -> Loop {
        use std::os::unix::fs::MetadataExt;
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
        let rdev = std::fs::metadata(&dev).unwrap().rdev();
        let (major, minor) = (dev_major(rdev), dev_minor(rdev));
        Loop {
            dev,
            major,
            minor,
            _dir: dir,
        }
    }
}

fn dev_major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0x0000_0fff)) as u32
}

fn dev_minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0x0000_00ff)) as u32
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

/// A busybox layout whose layer ships `/node` and `/dev-node`, block devices `major:minor`.
fn layout_with_node(dir: &Path, major: u32, minor: u32) -> PathBuf {
    let layout = common::store::busybox_layout(dir);
    let image = format!("{}:busybox:latest", layout.display());
    let bundle = dir.join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    for name in ["node", "dev-node"] {
        ok(Command::new("mknod")
            .arg(bundle.join("rootfs").join(name))
            .args(["b", &major.to_string(), &minor.to_string()]));
    }
    ok(Command::new("umoci")
        .args(["repack", "--image", &image])
        .arg(&bundle));
    layout
}

#[test]
fn device_nodes_open_only_when_given_with_device() {
    let Some(store) = store() else { return };
    if !require_tool("losetup") {
        return;
    }
    let lo = Loop::new();
    let (maj, min) = (lo.major.to_string(), lo.minor.to_string());
    let read = |node: &str| format!("head -c 17 {node} 2>&1; echo");

    // (b) mknod in `run`: on the root (nodev) and on /dev (the devices cgroup).
    let script = format!(
        "mknod /x b {maj} {min} && {}; mknod /dev/x b {maj} {min} && {}",
        read("/x"),
        read("/dev/x")
    );
    let out = must(store, &["run", "--rm", "busybox", "sh", "-c", &script]);
    assert!(!out.contains(CANARY), "a mknod'd node opened:\n{out}");
    assert!(
        out.contains("Permission denied"),
        "the root is not nodev:\n{out}"
    );
    assert!(
        out.contains("Operation not permitted"),
        "the devices cgroup let /dev/x open:\n{out}"
    );
    // The default set still opens.
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "head -c 4 /dev/urandom | wc -c; echo > /dev/null && echo null-ok",
        ],
    );
    assert_eq!(out, "4\nnull-ok\n");

    // (c) `--device` is the way in, read-only when asked.
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--device",
            &lo.dev,
            "busybox",
            "sh",
            "-c",
            &read(&lo.dev),
        ],
    );
    assert!(out.contains(CANARY), "{out}");
    let given = format!("{}:/dev/xda:r", lo.dev);
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--device",
            &given,
            "busybox",
            "sh",
            "-c",
            &read("/dev/xda"),
        ],
    );
    assert!(out.contains(CANARY), "{out}");

    // (a) a node shipped in an image layer…
    let tmp = tempfile::tempdir().unwrap();
    let layout = layout_with_node(tmp.path(), lo.major, lo.minor);
    let other = tmp.path().join("store");
    ok(duckc(&other).arg("load").arg("-i").arg(&layout));
    let script = format!(
        "{}; cp -a /dev-node /dev/y && {}",
        read("/node"),
        read("/dev/y")
    );
    let out = must(
        &other,
        &["run", "--rm", "busybox:latest", "sh", "-c", &script],
    );
    assert!(!out.contains(CANARY), "a node from a layer opened:\n{out}");

    // …and one made by a build step (which cannot open it either).
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    let step = format!(
        "mknod /node b {maj} {min}; mknod /dev/n b {maj} {min}; \
         if head -c 17 /node | grep -q canary || head -c 17 /dev/n | grep -q canary; then exit 9; fi"
    );
    std::fs::write(
        ctx.join("env.kdl"),
        format!(
            "env \"base\" {{\n    from \"std/scratch:base\"\n    copy \"busybox\" \"/bin/busybox\" chmod=\"0755\"\n    run \"/bin/busybox\" \"--install\" \"-s\" \"/bin\"\n}}\nenv \"devnode\" {{\n    from \"base\"\n    run {step:?}\n    tag \"cgtest/devnode:latest\"\n}}\n"
        ),
    )
    .unwrap();
    // A step's cgroup left by a duckc killed mid-build (its pid is gone) is swept by the next
    // build.
    let stale = Cgroup::named(&Layout::host(), "build-4194303-0-0", false)
        .unwrap()
        .filter(|_| !Path::new("/proc/4194303").exists());
    if let Some(stale) = &stale {
        for dir in stale.dirs() {
            std::fs::create_dir_all(dir).unwrap();
        }
    }
    ok(duckc(&other)
        .arg("build")
        .arg(ctx.join("env.kdl"))
        .args(["--target", "devnode"]));
    if let Some(stale) = &stale {
        assert!(!stale.exists(), "a stale build-step cgroup was not swept");
    }
    // Each step ran in its own cgroup, removed after the step.
    if let Some(Cgroup::V1(dirs)) = Cgroup::named(&Layout::host(), "x", false).unwrap() {
        let subtree = dirs[0].1.parent().unwrap().to_owned();
        let left: Vec<_> = std::fs::read_dir(&subtree)
            .unwrap()
            .flatten()
            .filter(|e| {
                // Steps of builds still running (other tests) keep theirs; a finished duckc's
                // must be gone.
                let name = e.file_name().to_string_lossy().into_owned();
                name.strip_prefix("build-")
                    .and_then(|rest| rest.split('-').next())
                    .is_some_and(|pid| !Path::new(&format!("/proc/{pid}")).exists())
            })
            .collect();
        assert!(left.is_empty(), "build step cgroups left: {left:?}");
    }
    let out = must(
        &other,
        &[
            "run",
            "--rm",
            "cgtest/devnode:latest",
            "sh",
            "-c",
            &format!("ls -l /node; {}", read("/node")),
        ],
    );
    assert!(
        !out.contains(CANARY),
        "a node from a build step opened:\n{out}"
    );

    // The cgroup v2 device program (on this hybrid host, on the empty cgroup2 mount): the
    // same allow list, checked by the kernel.
    let unified = match Layout::host() {
        Layout::V2(root) => Some(root),
        Layout::V1 { unified, .. } => unified,
        Layout::None => None,
    };
    if let Some(root) = unified {
        let test_cg = root.join(format!("duckc-bpf-test-{}", std::process::id()));
        std::fs::create_dir(&test_cg).unwrap();
        let try_read = |resources: &duckc_runtime::Resources| -> String {
            let rules = cgroup::device_rules(resources).unwrap();
            // A fresh cgroup per program: each starts with none attached.
            let cg = test_cg.join(format!("p{}", resources.devices.len()));
            std::fs::create_dir(&cg).unwrap();
            cgroup::bpf::attach(&cg, &cgroup::bpf::program(&rules)).unwrap();
            let procs = cg.join("cgroup.procs");
            let script = format!(
                "echo $$ > {}; head -c 17 {} 2>&1; echo; head -c 1 /dev/null && echo null-ok",
                procs.display(),
                lo.dev
            );
            let out = ok(Command::new("/bin/busybox").args(["sh", "-c", &script]));
            std::fs::remove_dir(&cg).unwrap();
            out
        };
        let denied = try_read(&duckc_runtime::Resources::default());
        let allowed = try_read(&duckc_runtime::Resources {
            devices: vec![duckc_runtime::Device {
                host: PathBuf::from(&lo.dev),
                container: lo.dev.clone(),
                access: "r".into(),
            }],
            ..Default::default()
        });
        std::fs::remove_dir(&test_cg).unwrap();
        assert!(
            denied.contains("Operation not permitted") && !denied.contains(CANARY),
            "{denied}"
        );
        assert!(denied.contains("null-ok"), "{denied}");
        assert!(allowed.contains(CANARY), "{allowed}");
    }
}

#[test]
fn commit_pauses_a_running_container() {
    let Some(store) = store() else { return };
    let id = detached(
        store,
        &[
            "--name",
            "cg-commit",
            "busybox",
            "sh",
            "-c",
            "dd if=/dev/urandom of=/big bs=1M count=48 2>/dev/null; \
             i=0; while :; do i=$((i+1)); echo $i > /tmp/c; done",
        ],
    );
    let counter = store.join("containers").join(&id).join("upper/tmp/c");
    wait_for("the counter to start", || counter.exists());
    let cg = cgroup_of(&id);

    // Watch the freezer from another thread while `commit` runs.
    let watch = |args: &[&str]| -> bool {
        let seen = AtomicBool::new(false);
        let done = AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                while !done.load(Ordering::Relaxed) {
                    if cg.is_frozen() {
                        seen.store(true, Ordering::Relaxed);
                    }
                }
            });
            let mut all = vec!["commit"];
            all.extend_from_slice(args);
            must(store, &all);
            done.store(true, Ordering::Relaxed);
        });
        seen.load(Ordering::Relaxed)
    };
    assert!(
        watch(&["cg-commit", "cgtest/paused"]),
        "commit did not freeze the container"
    );
    assert!(!cg.is_frozen(), "commit left the container frozen");
    assert!(
        !watch(&["--pause=false", "cg-commit", "cgtest/unpaused"]),
        "--pause=false froze the container"
    );

    // `pause` stops the counter until `unpause`.
    must(store, &["pause", "cg-commit"]);
    assert!(cg.is_frozen());
    let before = std::fs::read_to_string(&counter).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(std::fs::read_to_string(&counter).unwrap(), before);
    let ps = must(store, &["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.contains("cg-commit") && l.contains("(Paused)")),
        "{ps}"
    );
    must(store, &["unpause", "cg-commit"]);
    assert!(!cg.is_frozen());
    must(store, &["rm", "-f", "cg-commit"]);
    assert!(!cg.exists());
}
