//! End-to-end tests of the bundled runtime and the container verbs, on the real kernel: the
//! seed walkthrough, terminals, detached containers, SECURITY.md items 1–9, rootless runs.
//!
//! They need root (CI runs as root; elsewhere they skip with a note) and share one store with
//! the busybox image loaded once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use common::store::{busybox_layout, load_busybox};
use common::{duckc, ok, output, require_root, require_tool};
use common::{must, run};

/// The shared store (busybox loaded), or `None` when the tests cannot run here.
fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    }))
}

/// Run `duckc ARGS` with `input` on stdin.
fn with_stdin(store: &Path, args: &[&str], input: &str) -> (i32, String) {
    let mut child = duckc(store)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The `ps -a` row of the container called `name`, split into columns (at runs of 3+ spaces).
fn ps_row(store: &Path, name: &str) -> Vec<String> {
    let table = must(store, &["container", "ls", "-a"]);
    let line = table
        .lines()
        .find(|l| l.trim_end().ends_with(&format!("   {name}")))
        .unwrap_or_else(|| panic!("no container `{name}` in\n{table}"));
    line.split("   ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

fn sha256(path: &Path) -> String {
    ok(Command::new("sha256sum").arg(path))
        .split(' ')
        .next()
        .unwrap()
        .to_owned()
}

/// The container's upper directory (its kept changes), found by name.
fn upper_of(store: &Path, name: &str) -> PathBuf {
    let id_prefix = ps_row(store, name)[0].clone();
    let dir = std::fs::read_dir(store.join("containers"))
        .unwrap()
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(&id_prefix))
        .unwrap();
    dir.path().join("upper")
}

#[test]
fn pid_one_hostname_is_the_short_id_and_exit_status_passes_through() {
    let Some(store) = store() else { return };
    let (code, out, err) = run(
        store,
        &[
            "run",
            "--name",
            "seven",
            "busybox",
            "sh",
            "-c",
            "echo $$; hostname; exit 7",
        ],
    );
    assert_eq!(code, 7, "{err}");
    let short = &ps_row(store, "seven")[0];
    assert_eq!(short.len(), 12);
    assert_eq!(out, format!("1\n{short}\n"));
    let row = ps_row(store, "seven");
    assert!(row[4].starts_with("Exited (7) "), "{row:?}");

    // A signal ends it with 128+N, as a shell reports it; signals sent to duckc are passed on
    // to the container's init.
    let mut fg = duckc(store)
        .args(["run", "--rm", "--name", "sigs", "busybox", "sh", "-c"])
        .arg("trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 0.1; done")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(fg.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready, "ready\n");
    ok(Command::new("kill").args(["-INT", &fg.id().to_string()]));
    let out = fg.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(42));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "got-int\n");
    let mut fg = duckc(store)
        .args([
            "run",
            "--name",
            "killed",
            "busybox",
            "sh",
            "-c",
            "echo ready; exec sleep 1000",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(fg.stdout.as_mut().unwrap()),
        &mut ready,
    )
    .unwrap();
    must(store, &["kill", "-s", "KILL", "killed"]);
    assert_eq!(fg.wait().unwrap().code(), Some(137));
    assert!(ps_row(store, "killed")[4].starts_with("Exited (137) "));
    // --hostname, -e, -w, -u and --entrypoint override the image.
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--hostname",
            "pond",
            "-e",
            "DUCK=mallard",
            "-w",
            "/tmp/work",
            "-u",
            "nobody",
            "--entrypoint",
            "sh",
            "busybox",
            "-c",
            "hostname; echo $DUCK; pwd; id -u; echo $HOME",
        ],
    );
    assert_eq!(out, "pond\nmallard\n/tmp/work\n65534\n/\n");
    // A command that does not exist: Docker's 127.
    let (code, _, err) = run(store, &["run", "--rm", "busybox", "no-such-command"]);
    assert_eq!(code, 127);
    assert!(err.contains("no-such-command"), "{err}");
    // A path the final `execve` fails on (which `duckc-exec` reports): 127 and 126, worded as
    // for a command looked up in `PATH`.
    let (code, _, err) = run(store, &["run", "--rm", "busybox", "/no/such"]);
    assert_eq!(code, 127, "{err}");
    assert!(
        err.contains("`/no/such`: executable file not found in $PATH"),
        "{err}"
    );
    let (code, _, err) = run(store, &["run", "--rm", "busybox", "/etc/hostname"]);
    assert_eq!(code, 126, "{err}");
    assert!(
        err.contains("cannot start `/etc/hostname`: Permission denied (os error 13)"),
        "{err}"
    );
}

#[test]
fn seed_walkthrough() {
    let Some(store) = store() else { return };
    let first = "seed_first";
    let (code, _) = with_stdin(
        store,
        &["run", "-i", "--name", first, "busybox", "sh"],
        "touch new_file\nexit 130\n",
    );
    assert_eq!(code, 130);
    let (code, out) = with_stdin(
        store,
        &["run", "-i", "--name", "seed_second", "busybox", "sh"],
        "ls new_file\nexit\n",
    );
    assert_eq!(code, 1, "{out}");
    assert!(!out.contains("new_file"));

    let rows = [ps_row(store, first), ps_row(store, "seed_second")];
    assert_ne!(rows[0][0], rows[1][0], "two containers, two ids");
    assert!(rows[0][4].starts_with("Exited (130) "), "{rows:?}");
    assert!(rows[1][4].starts_with("Exited (1) "), "{rows:?}");
    assert_eq!(rows[0][1], "busybox");
    assert_eq!(rows[0][2], "\"sh\"");
    let header = must(store, &["ps", "-a"])
        .lines()
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(
        header
            .split("   ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect::<Vec<_>>(),
        [
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    assert!(
        !must(store, &["ps"]).contains(first),
        "`ps` lists only running containers"
    );

    // `start -a` runs the same command again over the kept files.
    let (code, out) = with_stdin(store, &["start", "-a", "-i", first], "ls\nexit\n");
    assert_eq!(code, 0);
    assert!(out.lines().any(|l| l == "new_file"), "{out}");

    let id = must(store, &["commit", "-m", "fork", first, "your/duck:v2"]);
    assert!(id.starts_with("sha256:"), "{id}");
    let out = must(store, &["run", "--rm", "your/duck:v2", "ls", "-l"]);
    assert!(out.contains("new_file"), "{out}");
}

#[test]
fn interactive_shell_through_a_pty() {
    let Some(store) = store() else { return };
    if !require_tool("script") {
        return;
    }
    // `script` gives duckc a real terminal; what we type goes through duckc's pty relay.
    let cmd = format!(
        "{} --store {} run -it --rm busybox sh",
        common::duckc_bin().display(),
        store.display()
    );
    let mut child = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"tty; echo $((6*7)); test -t 0 && echo stdin-is-a-tty; exit 3\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("/dev/pts/0"), "{text}");
    assert!(text.contains("42"), "{text}");
    assert!(text.contains("stdin-is-a-tty"), "{text}");
    assert_eq!(out.status.code(), Some(3), "{text}");

    // `exec -t` gets a terminal of the container's own too.
    must(
        store,
        &[
            "run", "-d", "--name", "tty_host", "busybox", "sleep", "1000",
        ],
    );
    let cmd = format!(
        "{} --store {} exec -t tty_host sh -c 'tty; test -t 1 && echo out-is-a-tty'",
        common::duckc_bin().display(),
        store.display()
    );
    let out = ok(Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null()));
    assert!(
        out.contains("/dev/pts/0") && out.contains("out-is-a-tty"),
        "{out}"
    );
    must(store, &["rm", "-f", "tty_host"]);
}

#[test]
fn detached_logs_exec_stop_kill_rm() {
    let Some(store) = store() else { return };
    let id = must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "napper",
            "busybox",
            "sh",
            "-c",
            "echo quack; exec sleep 1000",
        ],
    );
    let id = id.trim();
    assert_eq!(id.len(), 64);
    let row = ps_row(store, "napper");
    assert_eq!(row[0], id[..12]);
    assert!(row[4].starts_with("Up "), "{row:?}");
    assert!(must(store, &["ps", "-q"]).lines().any(|l| l == &id[..12]));
    // Output of a detached container is kept.
    let mut logs = String::new();
    for _ in 0..500 {
        logs = must(store, &["logs", "napper"]);
        if !logs.is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(logs, "quack\n");
    // exec joins its namespaces: same hostname, its pid namespace (sleep is pid 1).
    let out = must(
        store,
        &[
            "exec",
            "napper",
            "sh",
            "-c",
            "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo",
        ],
    );
    assert_eq!(out, format!("{}\nsleep 1000 \n", &id[..12]));
    let (code, _, _) = run(store, &["exec", "napper", "sh", "-c", "exit 5"]);
    assert_eq!(code, 5);
    // A running container is not removed without -f.
    let (code, _, err) = run(store, &["rm", "napper"]);
    assert_ne!(code, 0);
    assert!(err.contains("container is running"), "{err}");
    assert!(err.contains("container::running"), "{err}");
    assert!(err.contains("`duckc rm -f napper`"), "{err}");
    // stop: sleep ignores SIGTERM as pid 1, so it is killed after the grace period.
    must(store, &["stop", "-t", "1", "napper"]);
    assert!(ps_row(store, "napper")[4].starts_with("Exited (137) "));
    let (code, _, err) = run(store, &["exec", "napper", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not running"), "{err}");
    // start again in the background, kill with a signal it handles by dying.
    must(store, &["start", "napper"]);
    assert!(ps_row(store, "napper")[4].starts_with("Up "));
    for _ in 0..500 {
        if must(store, &["logs", "napper"]) == "quack\nquack\n" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    must(store, &["kill", "napper"]);
    assert!(ps_row(store, "napper")[4].starts_with("Exited (137) "));
    assert_eq!(must(store, &["logs", "napper"]), "quack\nquack\n");
    must(store, &["rm", "napper"]);
    let (code, _, err) = run(store, &["logs", "napper"]);
    assert_ne!(code, 0);
    assert!(err.contains("no such container"), "{err}");
}

#[test]
fn network_modes_and_volumes() {
    let Some(store) = store() else { return };
    let out = must(store, &["run", "--rm", "busybox", "cat", "/proc/net/dev"]);
    let ifaces: Vec<&str> = out
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(
        ifaces,
        ["lo", "eth0"],
        "a new network namespace on duckc's bridge"
    );
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "ip link show lo",
        ],
    );
    assert!(out.contains("UP"), "{out}");
    let host = std::fs::read_to_string("/proc/net/dev").unwrap();
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "cat",
            "/proc/net/dev",
        ],
    );
    // By name, without duckc's veths (`dk…`): containers of tests running beside this one
    // add and remove them between the two reads.
    let names = |text: &str| {
        let mut n: Vec<String> = text
            .lines()
            .skip(2)
            .filter_map(|l| Some(l.split(':').next()?.trim().to_owned()))
            .filter(|n| !n.starts_with("dk"))
            .collect();
        n.sort();
        n
    };
    assert_eq!(names(&out), names(&host), "the host's interfaces");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("egg"), "speckled\n").unwrap();
    let rw = format!("{}:/data", tmp.path().display());
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "-v",
            &rw,
            "busybox",
            "sh",
            "-c",
            "cat /data/egg; echo new > /data/hatched",
        ],
    );
    assert_eq!(out, "speckled\n");
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("hatched")).unwrap(),
        "new\n"
    );
    let ro = format!("{}:/data:ro", tmp.path().display());
    let (code, _, _) = run(
        store,
        &["run", "--rm", "-v", &ro, "busybox", "touch", "/data/x"],
    );
    assert_eq!(code, 1);
    assert!(!tmp.path().join("x").exists());
}

/// SECURITY 8: the default process: 14 capabilities, nothing inheritable or ambient,
/// no_new_privs.
#[test]
fn security_8_default_capabilities_and_no_new_privs() {
    let Some(store) = store() else { return };
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "busybox",
            "grep",
            "-E",
            "^(Cap|NoNewPrivs)",
            "/proc/self/status",
        ],
    );
    insta::assert_snapshot!(out, @r"
    CapInh:	0000000000000000
    CapPrm:	00000000a80425fb
    CapEff:	00000000a80425fb
    CapBnd:	00000000a80425fb
    CapAmb:	0000000000000000
    NoNewPrivs:	1
    ");
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "-u",
            "65534",
            "busybox",
            "grep",
            "-E",
            "^Cap(Eff|Prm|Bnd)",
            "/proc/self/status",
        ],
    );
    assert_eq!(
        out,
        "CapPrm:\t0000000000000000\nCapEff:\t0000000000000000\nCapBnd:\t00000000a80425fb\n"
    );
}

/// SECURITY 7: masked paths read empty; read-only paths refuse writes.
#[test]
fn security_7_masked_and_read_only_paths() {
    let Some(store) = store() else { return };
    let script = r#"
for f in /proc/kcore /proc/keys /proc/timer_list /proc/sched_debug; do
  [ -e $f ] && echo "$f $(cat $f | wc -c)"
done
echo "/sys/firmware: $(ls /sys/firmware | wc -l)"
echo "/proc/acpi: $(ls /proc/acpi | wc -l)"
for f in /proc/sysrq-trigger /proc/sys/kernel/hostname /proc/sys/vm/drop_caches; do
  if [ -e $f ]; then (echo 1 > $f) 2>/dev/null && echo "$f writable" || echo "$f refused"; fi
done
grep -E ' /proc/(sys|bus|fs|irq|sysrq-trigger) ' /proc/self/mounts | cut -d' ' -f2,4 | cut -d, -f1
"#;
    let out = must(store, &["run", "--rm", "busybox", "sh", "-c", script]);
    for line in out.lines() {
        let zero = line.ends_with(" 0") || line.ends_with(": 0");
        assert!(
            zero || line.ends_with("refused") || line.ends_with(" ro"),
            "{line}\n{out}"
        );
    }
    assert!(out.contains("/proc/keys 0"), "{out}");
    assert!(out.contains("/proc/sys/kernel/hostname refused"), "{out}");
    assert!(out.contains("/proc/sys ro"), "{out}");
    // The host's own copies are not empty: the mask made the difference.
    assert!(std::fs::read_dir("/sys/firmware").unwrap().count() > 0);
}

/// SECURITY 2: descriptors the caller leaked do not reach the container.
#[test]
fn security_2_leaked_descriptors_are_closed() {
    let Some(store) = store() else { return };
    let cmd = format!(
        "exec 7</etc/hostname 8<>/tmp 9</; exec {} --store {} run --rm busybox ls /proc/self/fd",
        common::duckc_bin().display(),
        store.display()
    );
    let out = ok(Command::new("bash").args(["-c", &cmd]));
    // ls itself holds one descriptor (3) for the directory it lists.
    assert_eq!(
        out.split_whitespace().collect::<Vec<_>>(),
        ["0", "1", "2", "3"],
        "{out}"
    );
}

/// SECURITY 3: a working directory through `/proc/self/fd/N` or out of the root is refused.
#[test]
fn security_3_workdir_cannot_leave_the_root() {
    let Some(store) = store() else { return };
    for fd in ["3", "4", "5"] {
        let dir = format!("/proc/self/fd/{fd}");
        let (code, out, err) = run(store, &["run", "--rm", "-w", &dir, "busybox", "pwd"]);
        assert_eq!(code, 125, "{out}{err}");
        assert!(err.contains("working directory"), "{err}");
    }
    // The same through the image's WORKDIR.
    must(store, &["run", "--name", "sec3_base", "busybox", "true"]);
    must(
        store,
        &[
            "commit",
            "-c",
            "WORKDIR /proc/self/fd/3",
            "sec3_base",
            "sec3:workdir",
        ],
    );
    let (code, _, err) = run(store, &["run", "--rm", "sec3:workdir", "pwd"]);
    assert_eq!(code, 125);
    assert!(err.contains("/proc/self/fd/3"), "{err}");
    // A symlink pointing out of the root resolves inside it.
    must(
        store,
        &[
            "run",
            "--name",
            "sec3_link",
            "busybox",
            "ln",
            "-s",
            "../../../../../../etc",
            "/up",
        ],
    );
    must(store, &["commit", "sec3_link", "sec3:link"]);
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "-w",
            "/up",
            "sec3:link",
            "sh",
            "-c",
            "pwd; cat passwd | wc -l",
        ],
    );
    assert_eq!(
        out, "/etc\n2\n",
        "the image's /etc (2 users), not the host's"
    );
}

/// SECURITY 4 and 6: `/proc`, `/sys`, `/dev` that are symlinks are refused, and an image's
/// `/dev/null` is never what the container gets.
#[test]
fn security_4_6_symlinked_special_dirs_and_dev_null() {
    let Some(store) = store() else { return };
    let outside = tempfile::tempdir().unwrap();
    for dir in ["proc", "sys", "dev"] {
        let name = format!("sec4_{dir}");
        must(store, &["run", "--name", &name, "busybox", "true"]);
        let upper = upper_of(store, &name);
        let target = outside.path().join(dir);
        std::os::unix::fs::symlink(&target, upper.join(dir)).unwrap();
        let image = format!("sec4:{dir}");
        must(store, &["commit", &name, &image]);
        let (code, _, err) = run(store, &["run", "--rm", &image, "true"]);
        assert_eq!(code, 125);
        assert!(
            err.contains(&format!("`/{dir}` in the image is a symlink")),
            "{err}"
        );
        assert!(!target.exists(), "nothing created outside the root");
        let (code, _, _) = run(store, &["start", "-a", &name]);
        assert_eq!(code, 125, "the kept container is refused too");
    }
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);

    // SECURITY 6: the image's /dev/null is a symlink to a file that matters.
    must(store, &["run", "--name", "sec6", "busybox", "true"]);
    let upper = upper_of(store, "sec6");
    std::fs::create_dir_all(upper.join("dev")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", upper.join("dev/null")).unwrap();
    must(store, &["commit", "sec6", "sec6:null"]);
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "sec6:null",
            "sh",
            "-c",
            "test -c /dev/null && echo chardev; echo junk > /dev/null; wc -l < /etc/passwd; cat /proc/keys | wc -c",
        ],
    );
    assert_eq!(out, "chardev\n2\n0\n");
}

/// SECURITY 5: a bind-mount target through a symlink lands inside the root.
#[test]
fn security_5_volume_target_through_a_symlink() {
    let Some(store) = store() else { return };
    let victim = tempfile::tempdir().unwrap();
    let source = tempfile::tempdir().unwrap();
    std::fs::write(source.path().join("marker"), "inside\n").unwrap();
    // The image has the victim's path too, so following the link on the host would land there.
    let link = format!("../../../../../../../..{}", victim.path().display());
    let make = format!("mkdir -p {} && ln -s {link} /link", victim.path().display());
    must(
        store,
        &["run", "--name", "sec5", "busybox", "sh", "-c", &make],
    );
    must(store, &["commit", "sec5", "sec5:link"]);
    let vol = format!("{}:/link/mnt", source.path().display());
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "-v",
            &vol,
            "sec5:link",
            "cat",
            "/link/mnt/marker",
        ],
    );
    assert_eq!(out, "inside\n");
    assert_eq!(
        std::fs::read_dir(victim.path()).unwrap().count(),
        0,
        "nothing created on the host"
    );
}

/// SECURITY 1: processes in the container never see the host's duckc binary as an
/// executable they could open for writing: the `exec` helper (like the init of `--init`)
/// runs from a sealed copy of the binary.
#[test]
fn security_1_host_binary_cannot_be_overwritten() {
    let Some(store) = store() else { return };
    let bin = common::duckc_bin();
    let before = sha256(&bin);
    // The host's libraries, read-only, so the runtime binary can run inside the busybox image.
    let mut args = vec!["run", "-d", "--name", "sec1"];
    let libs: Vec<String> = ["/lib", "/lib64", "/usr/lib"]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| format!("{p}:{p}:ro"))
        .collect();
    for l in &libs {
        args.extend(["-v", l]);
    }
    args.extend(["busybox", "sleep", "1000"]);
    must(store, &args);
    // A process in the container that runs `/proc/self/exe`: whatever the runtime ran as.
    // `load -i /dev/stdin` keeps it waiting on its stdin while we look at it.
    let mut waiting = duckc(store)
        .args([
            "exec",
            "-i",
            "sec1",
            "/proc/self/exe",
            "--store",
            "/tmp/s",
            "load",
            "-i",
            "/dev/stdin",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let attack = r#"
for p in /proc/[0-9]*; do
  l=$(readlink $p/exe)
  case "$l" in
    *busybox*|'') ;;
    *) echo "exe: $l"; (echo pwned > $p/exe) 2>&1 && echo "written"; exit 0 ;;
  esac
done
exit 1
"#;
    let mut seen = String::new();
    for _ in 0..200 {
        let (code, out, _) = run(store, &["exec", "sec1", "sh", "-c", attack]);
        if code == 0 {
            seen = out;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    drop(waiting.stdin.take());
    let _ = waiting.wait_with_output();
    must(store, &["rm", "-f", "sec1"]);
    // Root runs inits from an immutable copy under /run/duckc, others from a sealed memfd.
    assert!(
        seen.contains("exe: /run/duckc/duckc-init-") || seen.contains("exe: /memfd:duckc-init"),
        "{seen}"
    );
    assert!(!seen.contains(&bin.display().to_string()), "{seen}");
    assert!(!seen.contains("written"), "{seen}");
    assert_eq!(sha256(&bin), before, "the host binary is unchanged");
}

/// SECURITY 1, a plain start: its init runs in the cloned child straight from duckc's image
/// (no second load of the binary) and execs the command through `duckc-exec`. A command that
/// is `/proc/self/exe`, or a script whose interpreter is `/proc/self/exe`, therefore runs that
/// stub, never the host's duckc binary or a copy of it: the stub refuses to be a program, and
/// the copy it runs from cannot be written.
#[test]
fn security_1_command_cannot_reach_the_runtime_binary() {
    let Some(store) = store() else { return };
    let bin = common::duckc_bin();
    let before = sha256(&bin);
    // duckc prints this if anything runs it.
    let version = must(store, &["--version"]);
    let version = version.trim();
    assert!(!version.is_empty());
    must(
        store,
        &[
            "run",
            "--name",
            "sec1b",
            "busybox",
            "sh",
            "-c",
            "printf '#!/proc/self/exe --version\\n' > /interp && chmod +x /interp",
        ],
    );
    must(store, &["commit", "sec1b", "sec1b:interp"]);
    must(store, &["rm", "sec1b"]);
    // The host's libraries, read-only, so that duckc could run inside if it were reached.
    let libs: Vec<String> = ["/lib", "/lib64", "/usr/lib"]
        .iter()
        .filter(|p| Path::new(p).exists())
        .map(|p| format!("{p}:{p}:ro"))
        .collect();
    for command in [&["/proc/self/exe", "--version"][..], &["/interp"][..]] {
        let mut args = vec!["run", "--rm"];
        for l in &libs {
            args.extend(["-v", l]);
        }
        args.push("sec1b:interp");
        args.extend(command);
        let (code, out, err) = run(store, &args);
        assert!(!out.contains(version), "{command:?} ran duckc: {out}");
        assert_eq!(code, 126, "{command:?}: {out}{err}");
        assert!(
            err.contains("duckc-exec: this is the last step of a container start"),
            "{command:?}: {err}"
        );
    }
    // As root the stub runs from an immutable copy, which not even root can open for writing.
    let copies: Vec<PathBuf> = std::fs::read_dir("/run/duckc")
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().contains("/duckc-exec-"))
        .collect();
    assert!(!copies.is_empty(), "no copy of the stub in /run/duckc");
    for copy in copies {
        let opened = std::fs::OpenOptions::new().append(true).open(&copy);
        assert!(opened.is_err(), "{} is writable", copy.display());
    }
    assert_eq!(sha256(&bin), before, "the host binary is unchanged");
}

/// SECURITY 9: without root, the caller is mapped to root in a user namespace; what needs
/// more than that is refused with a clear error.
#[test]
fn security_9_rootless() {
    let Some(_) = store() else { return };
    if !require_tool("setpriv") {
        return;
    }
    let max = std::fs::read_to_string("/proc/sys/user/max_user_namespaces").unwrap_or_default();
    let clone =
        std::fs::read_to_string("/proc/sys/kernel/unprivileged_userns_clone").unwrap_or("1".into());
    assert!(
        max.trim() != "0" && clone.trim() != "0",
        "user namespaces are off on this machine"
    );
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("runtime-rootless");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let layout = busybox_layout(&base);
    ok(Command::new("chown").args(["-R", "65534:65534"]).arg(&base));
    let store = base.join("store");
    let as_nobody = |args: &[&str]| {
        let out = output(
            Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(common::duckc_bin())
                .args(args)
                .env("DUCKC_STORE", &store)
                .env("HOME", &base)
                .stdin(Stdio::null()),
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = as_nobody(&["load", "-i", &layout.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = as_nobody(&[
        "run",
        "--name",
        "rootless",
        "busybox",
        "sh",
        "-c",
        "id -u; tr -s ' ' < /proc/self/uid_map; echo $$; touch /made-here && echo wrote",
    ]);
    assert_eq!(code, 0, "{err}");
    // The container's namespace is nested in duckc's own rootless one (nobody has no
    // subordinate ids, so there only the caller is mapped, as 0): one id, itself.
    assert_eq!(out, "0\n 0 0 1\n1\nwrote\n");
    let (code, out, _) = as_nobody(&["ps", "-a"]);
    assert_eq!(code, 0);
    assert!(
        out.contains("Exited (0)") && out.contains("rootless"),
        "{out}"
    );
    let (code, out, _) = as_nobody(&["start", "-a", "rootless"]);
    assert_eq!(code, 0);
    assert!(out.ends_with("wrote\n"), "{out}");
    // Only the caller is mapped: another user inside cannot be had.
    let (code, _, err) = as_nobody(&["run", "--rm", "-u", "65534", "busybox", "true"]);
    assert_eq!(code, 125);
    assert!(err.contains("cannot be used without root"), "{err}");
    // The command's `/proc/self/exe` is the exec stub (here from a sealed memfd), not duckc.
    let (code, out, err) = as_nobody(&["run", "--rm", "busybox", "/proc/self/exe", "--version"]);
    assert_eq!((code, out.as_str()), (126, ""), "{err}");
    assert!(err.contains("duckc-exec: this is the last step"), "{err}");
    let _ = std::fs::remove_dir_all(&base);
}

/// The library entry a build's `run` step uses: lower dirs + a scratch dir in, exit status and
/// output back, the changes left in the upper dir.
#[test]
fn run_step_api_captures_output_and_changes() {
    let Some(store) = store() else { return };
    let st = duckc_store::Store::open(store).unwrap();
    let image = duckc_image::resolve(&st, "busybox:latest").unwrap();
    let lower: Vec<PathBuf> = image
        .layers
        .iter()
        .map(|l| st.snapshot(&l.diff_id).unwrap())
        .collect();
    let scratch = tempfile::tempdir().unwrap();
    duckc_runtime::exe::set_init_binary(common::duckc_bin());
    let spec = duckc_runtime::ContainerSpec {
        rootfs: duckc_runtime::Rootfs::in_dir(lower, scratch.path()).unwrap(),
        process: duckc_runtime::Process {
            args: vec!["sh".into(), "-c".into(), "echo out; echo err >&2; mkdir -p /app && echo built > /app/x; rm /etc/group; exit 3".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            terminal: false,
        },
        hostname: "step".into(),
        network: duckc_runtime::Network::None,
        volumes: vec![],
        seccomp: Default::default(),
        resources: Default::default(),
        dns: Default::default(),
        launch: Default::default(),
        tmpfs: vec![],
        net: None,
    };
    let captured = duckc_runtime::run_captured(&spec).unwrap();
    assert_eq!(captured.code, 3);
    assert_eq!(String::from_utf8_lossy(&captured.output), "out\nerr\n");
    let upper = scratch.path().join("upper");
    assert_eq!(
        std::fs::read_to_string(upper.join("app/x")).unwrap(),
        "built\n"
    );
    // A deleted file is an overlayfs whiteout (a 0:0 character device) in the upper dir.
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let wh = std::fs::symlink_metadata(upper.join("etc/group")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    // A command that does not exist is an error with Docker's code.
    let mut missing = spec.clone();
    missing.process.args = vec!["no-such-tool".into()];
    match duckc_runtime::run_captured(&missing) {
        Err(duckc_runtime::Error::Start { code, message, .. }) => {
            assert_eq!(code, 127);
            assert!(message.contains("no-such-tool"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// An image with more layers than one `lowerdir=` string holds (150 paths as long as the
/// store's): the overlay gets them one by one and every layer shows through.
#[test]
fn a_container_over_150_layers() {
    if !require_root() {
        return;
    }
    let scratch = tempfile::tempdir().unwrap();
    let snapshots = scratch.path().join("snapshots/sha256");
    let lower: Vec<PathBuf> = (0..150)
        .map(|i| {
            let dir = snapshots.join(format!("{i:064x}"));
            if i == 0 {
                common::busybox_rootfs(&dir);
            } else {
                std::fs::create_dir_all(dir.join("layers")).unwrap();
                std::fs::write(dir.join(format!("layers/{i}")), format!("layer {i}\n")).unwrap();
            }
            dir
        })
        .collect();
    let joined: usize = lower.iter().map(|p| p.as_os_str().len() + 1).sum();
    assert!(
        joined > 4096,
        "the layers must not fit in one page of options"
    );
    duckc_runtime::exe::set_init_binary(common::duckc_bin());
    let container = scratch.path().join("container");
    let spec = duckc_runtime::ContainerSpec {
        rootfs: duckc_runtime::Rootfs::in_dir(lower, &container).unwrap(),
        process: duckc_runtime::Process {
            args: vec![
                "/bin/sh".into(),
                "-c".into(),
                "cat /layers/149 /layers/75; ls /layers | wc -l; exit 3".into(),
            ],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            terminal: false,
        },
        hostname: "layers".into(),
        network: duckc_runtime::Network::None,
        volumes: vec![],
        seccomp: Default::default(),
        resources: Default::default(),
        dns: Default::default(),
        launch: Default::default(),
        tmpfs: vec![],
        net: None,
    };
    let captured = duckc_runtime::run_captured(&spec).unwrap();
    let output = String::from_utf8_lossy(&captured.output);
    assert_eq!(captured.code, 3, "{output}");
    assert_eq!(
        output.split_whitespace().collect::<Vec<_>>(),
        ["layer", "149", "layer", "75", "149"]
    );
}

/// A detached container whose command cannot start: its monitor's report reaches `run -d`
/// (and `start`), which exits with Docker's code and says why, and the container is recorded
/// as exited with that code.
#[test]
fn a_detached_start_failure_comes_back_with_dockers_code() {
    let Some(store) = store() else { return };
    let (code, out, err) = run(
        store,
        &["run", "-d", "--name", "nocmd", "busybox", "no-such-command"],
    );
    assert_eq!(code, 127, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no-such-command"), "{err}");
    let row = ps_row(store, "nocmd");
    assert!(row[4].starts_with("Exited (127) "), "{row:?}");
    let (code, out, err) = run(store, &["start", "nocmd"]);
    assert_eq!(code, 127, "{err}");
    assert!(out.is_empty(), "{out}");
    assert!(err.contains("no-such-command"), "{err}");
    // Not executable: 126.
    let (code, _, err) = run(
        store,
        &["run", "-d", "--name", "noexec", "busybox", "/etc/passwd"],
    );
    assert_eq!(code, 126, "{err}");
    must(store, &["rm", "nocmd", "noexec"]);
}

/// `run -d --rm` of a command that cannot start: the monitor removes the container before
/// `run` returns (as Docker does), so nothing is left in `ps -a` and its name is free again.
#[test]
fn a_detached_rm_container_that_cannot_start_is_removed() {
    let Some(store) = store() else { return };
    for (command, want) in [("no-such-command", 127), ("/etc/passwd", 126)] {
        let (code, out, err) = run(
            store,
            &[
                "run", "-d", "--rm", "--name", "rm_nocmd", "busybox", command,
            ],
        );
        assert_eq!(code, want, "{err}");
        assert!(out.is_empty(), "{out}");
        assert!(err.contains(command), "{err}");
        let listed = must(store, &["ps", "-a", "--filter", "name=rm_nocmd", "-q"]);
        assert!(listed.trim().is_empty(), "left behind: {listed}");
    }
    // The name is free: a container that starts can take it.
    must(
        store,
        &["run", "-d", "--rm", "--name", "rm_nocmd", "busybox", "true"],
    );
}

/// A duckc making its immutable copy of a binary in `/run/duckc` removes the temporary files
/// of writers that are gone, never one another running duckc is still writing (`.tmp-PID`).
#[test]
fn making_a_copy_leaves_another_writers_temporary_file() {
    let Some(store) = store() else { return };
    let dir = Path::new(duckc_runtime::exe::COPY_DIR);
    std::fs::create_dir_all(dir).unwrap();
    // A live writer (a process of ours that stays up) and a gone one (that has exited).
    let mut live = Command::new("sleep").arg("1000").spawn().unwrap();
    let mut gone = Command::new("true").spawn().unwrap();
    gone.wait().unwrap();
    let live_tmp = dir.join(format!(".tmp-{}", live.id()));
    let gone_tmp = dir.join(format!(".tmp-{}", gone.id()));
    std::fs::write(&live_tmp, "half a copy").unwrap();
    std::fs::write(&gone_tmp, "left by a killed duckc").unwrap();
    // A binary with a copy not made yet: duckc itself under a new inode, named for the inits.
    let tmp = tempfile::tempdir().unwrap();
    let init = tmp.path().join("duckc");
    std::fs::copy(common::duckc_bin(), &init).unwrap();
    let out = output(
        duckc(store)
            .env(duckc_runtime::exe::INIT_BINARY_ENV, &init)
            .args(["run", "--rm", "--init", "busybox", "true"])
            .stdin(Stdio::null()),
    );
    let kept = live_tmp.exists();
    let removed = !gone_tmp.exists();
    let _ = std::fs::remove_file(&live_tmp);
    let _ = std::fs::remove_file(&gone_tmp);
    let _ = live.kill();
    let _ = live.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(kept, "the live writer's temporary file was removed");
    assert!(removed, "the gone writer's temporary file was left");
}

/// The directories of the cgroup named `id` (a container's own) in any hierarchy under
/// `/sys/fs/cgroup`, at most three levels down (`memory/duckc/ID`, `duckc/ID`).
fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, id: &str, depth: u32, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = e.path();
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name() == id {
                out.push(path);
            } else if depth > 1 {
                walk(&path, id, depth - 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), id, 3, &mut out);
    out
}

/// A start that fails without `--rm` (here: a stored seccomp profile that no longer compiles,
/// checked after the container's cgroup was made) records the exit and releases what the start
/// took on the host at once, as `--rm` does: no cgroup and no network lease are left for the
/// next sweep, through `start` (the monitor) and `start -a` (the caller itself).
#[test]
fn a_start_failure_releases_its_cgroup_and_lease() {
    let Some(store) = store() else { return };
    if !require_tool("nft") || !require_tool("ip") {
        return;
    }
    must(store, &["run", "--name", "badprofile", "busybox", "true"]);
    let id = must(store, &["inspect", "-f", "{{.Id}}", "badprofile"])
        .trim()
        .to_owned();
    let config = store.join("containers").join(&id).join("config.json");
    let mut doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    doc["spec"]["seccomp"] = serde_json::json!({ "profile": "not a profile" });
    std::fs::write(&config, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    for attach in [false, true] {
        let args: &[&str] = if attach {
            &["start", "-a", "badprofile"]
        } else {
            &["start", "badprofile"]
        };
        let (code, _, err) = run(store, args);
        assert_eq!(code, 125, "{args:?}: {err}");
        assert!(err.contains("seccomp profile"), "{err}");
        let row = ps_row(store, "badprofile");
        assert!(row[4].starts_with("Exited (125) "), "{row:?}");
        assert_eq!(cgroup_dirs(&id), Vec::<PathBuf>::new(), "{args:?}");
        assert_eq!(common::leases_of(&id), Vec::<PathBuf>::new(), "{args:?}");
    }
    must(store, &["rm", "badprofile"]);
}

/// The name of the immutable copy in `/run/duckc` that inits of `binary` run from.
fn init_copy_of(binary: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(binary).unwrap();
    Path::new(duckc_runtime::exe::COPY_DIR).join(format!(
        "duckc-init-{:x}-{:x}-{:x}-{:x}.{:x}",
        m.dev(),
        m.ino(),
        m.size(),
        m.mtime(),
        m.mtime_nsec()
    ))
}

/// Two installed duckc binaries at once: the second, making its own copy of itself in
/// `/run/duckc`, leaves the first's while a duckc of the first uses it (here the monitor of a
/// detached `--init` container); once nothing uses it, the next copy made removes it.
#[test]
fn another_binarys_copy_stays_while_it_is_used() {
    let Some(store) = store() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let bins: Vec<PathBuf> = ["first", "second", "third"]
        .iter()
        .map(|n| {
            let bin = tmp.path().join(n);
            std::fs::copy(common::duckc_bin(), &bin).unwrap();
            bin
        })
        .collect();
    let with = |bin: &Path, args: &[&str]| {
        output(
            duckc(store)
                .env(duckc_runtime::exe::INIT_BINARY_ENV, bin)
                .args(args)
                .stdin(Stdio::null()),
        )
    };
    let out = with(
        &bins[0],
        &[
            "run", "-d", "--init", "--name", "twobins", "busybox", "sleep", "1000",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = init_copy_of(&bins[0]);
    assert!(first.exists(), "no copy {}", first.display());
    let out = with(&bins[1], &["run", "--rm", "--init", "busybox", "true"]);
    let kept = first.exists();
    let second = init_copy_of(&bins[1]).exists();
    must(store, &["rm", "-f", "twobins"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(second, "the second binary made no copy");
    assert!(kept, "the copy a running duckc uses was removed");
    // Nothing uses the first copy once the container's monitor has gone too (it ends right
    // after recording the exit): then a third binary's copy removes it.
    let ino = format!(":{} ", {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&first).unwrap().ino()
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .any(|l| l.contains(&ino))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the monitor of `twobins` still holds its copy"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = with(&bins[2], &["run", "--rm", "--init", "busybox", "true"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!first.exists(), "a copy nothing uses was left");
}
