//! End-to-end tests of the Docker verbs and flags beyond the first set (issue 17, items 4 and
//! 6): `version`, `info`, `cp`, `diff`, `history`, `top`, `rename`, `attach`, `wait`,
//! `restart`, the prunes, container `inspect`, `--format`, `--filter`, `--env-file`,
//! `--mount`, the grouped help, and terminals (`start -a`, replies that must not leak into the
//! caller's terminal, `logs` of foreground runs) through real ptys.
//!
//! Most need root (CI runs as root) and share one store with the busybox image loaded once.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use common::pty::Pty;
use common::store::load_busybox;
use common::{duckc, must, require_root, require_tool, run};

fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("verbs-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    }))
}

/// A store of its own (busybox loaded), for a test that removes everything stopped.
fn own_store(name: &str) -> Option<PathBuf> {
    store()?;
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    load_busybox(&dir);
    Some(dir)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("verbs-scratch")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `duckc inspect -f TEMPLATE C`, trimmed.
fn field(store: &Path, container: &str, template: &str) -> String {
    must(store, &["inspect", "-f", template, container])
        .trim()
        .to_owned()
}

#[test]
fn help_groups_and_docker_verbs_duckc_lacks() {
    let store = scratch("help");
    let help = must(&store, &["--help"]);
    let common_at = help.find("Common Commands:").expect(&help);
    let mgmt_at = help.find("Management Commands:").expect(&help);
    let cmds_at = help.find("\nCommands:").expect(&help);
    assert!(common_at < mgmt_at && mgmt_at < cmds_at, "{help}");
    for verb in [
        "run",
        "ps",
        "version",
        "info",
        "cp",
        "diff",
        "history",
        "top",
        "rename",
        "attach",
        "wait",
        "restart",
        "container",
        "image",
        "system",
    ] {
        assert!(
            help.contains(&format!("\n  {verb} ")),
            "`{verb}` in\n{help}"
        );
    }
    // A Docker verb duckc lacks is named as such, not "did you mean" something unrelated.
    for verb in ["swarm", "update", "events"] {
        let (code, _, err) = run(&store, &[verb]);
        assert_eq!(code, 2, "{err}");
        assert!(err.contains(&format!("duckc has no `{verb}`")), "{err}");
        assert!(err.contains("help:") && !err.contains("similar"), "{err}");
    }
    // Under a management command, the verb is named with it, and the top-level one that
    // does the job is offered (`docker image rm` is `duckc rmi`).
    let (code, _, err) = run(&store, &["image", "rm", "x"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`duckc image` has no `rm`"), "{err}");
    assert!(err.contains("`duckc rmi`"), "{err}");
    let (code, _, err) = run(&store, &["network", "connect", "a", "b"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`duckc network` has no `connect`"), "{err}");
    // `run --help` says the bridge is the default once, not also `[default: default]`; every
    // container argument says what it takes.
    let help = must(&store, &["run", "--help"]);
    assert!(!help.contains("[default: default]"), "{help}");
    let help = must(&store, &["rm", "--help"]);
    assert!(
        help.contains("<CONTAINERS>...  Containers, by name, id"),
        "{help}"
    );
    // A typo of a duckc verb still gets clap's suggestion.
    let (_, _, err) = run(&store, &["biuld"]);
    assert!(err.contains("'build'"), "{err}");

    let version = must(&store, &["version"]);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    for want in [
        "Client: duckc",
        env!("CARGO_PKG_VERSION"),
        kernel.trim(),
        "Cgroup Version:",
        "Seccomp:",
        "Store:",
    ] {
        assert!(version.contains(want), "`{want}` in\n{version}");
    }
    assert_eq!(
        must(&store, &["version", "--format", "{{.Client.Version}}"]).trim(),
        env!("CARGO_PKG_VERSION")
    );
    let (code, _, err) = run(&store, &["version", "--format", "{{range .}}"]);
    assert_ne!(code, 0);
    assert!(err.contains("`range` is not supported"), "{err}");
}

/// The usage line of a missing argument names what the user must add: `--store` given by
/// `DUCKC_STORE` (as every test's store is) is not shown as if it were required.
#[test]
fn usage_line_does_not_list_the_store_from_the_environment() {
    let store = scratch("usage");
    let usage = |cmd: &mut std::process::Command| {
        let out = common::output(cmd.arg("run").stdin(Stdio::null()));
        assert_eq!(out.status.code(), Some(2));
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        err.lines()
            .find(|l| l.starts_with("Usage:"))
            .unwrap_or_else(|| panic!("no usage line in\n{err}"))
            .to_owned()
    };
    let want = "Usage: duckc run <IMAGE> [COMMAND]...";
    assert_eq!(usage(&mut duckc(&store)), want);
    assert_eq!(usage(duckc(&store).env_remove("DUCKC_STORE")), want);
    // The flag still sets the store, and the variable does when the flag is absent.
    let other = scratch("usage-other");
    must(&store, &["images"]);
    let out = common::output(duckc(&store).args(["--store"]).arg(&other).arg("info"));
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&other.display().to_string()),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let info = must(&store, &["info"]);
    assert!(info.contains(&store.display().to_string()), "{info}");
}

/// As in Docker, everything after `run`'s image and `exec`'s container is the command's,
/// options included: `duckc run IMAGE --rm` runs `--rm`, it does not remove the container.
#[test]
fn arguments_after_the_image_or_container_are_the_commands() {
    let Some(store) = store() else { return };
    let (code, out, err) = run(
        store,
        &["run", "--rm", "busybox", "echo", "--rm", "-it", "--help"],
    );
    assert_eq!((code, out.as_str()), (0, "--rm -it --help\n"), "{err}");
    let (code, out, err) = run(store, &["run", "--rm", "busybox", "sh", "-c", "echo -n x"]);
    assert_eq!((code, out.as_str()), (0, "x"), "{err}");
    let (code, out, err) = run(
        store,
        &["run", "--rm", "busybox", "ls", "-l", "/bin/busybox"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("-rwx"), "{out}");
    // `--help` after the image is the command (busybox has no entrypoint), not duckc's help.
    let (code, out, err) = run(store, &["run", "--rm", "busybox", "--help"]);
    assert_eq!(code, 127, "{out}{err}");
    assert!(err.contains("`--help`: executable file not found"), "{err}");
    let help = must(store, &["run", "--help"]);
    assert!(
        help.contains("Usage: duckc run [OPTIONS] <IMAGE> [COMMAND]..."),
        "{help}"
    );
    // The command is `-it`: the run is not given a terminal or stdin.
    let (code, _, err) = run(store, &["run", "--rm", "busybox", "-it", "sh"]);
    assert_eq!(code, 127, "{err}");
    assert!(err.contains("`-it`: executable file not found"), "{err}");

    must(
        store,
        &["run", "-d", "--name", "after_c", "busybox", "sleep", "1000"],
    );
    let (code, out, err) = run(store, &["exec", "after_c", "ls", "-la", "/"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("total ") && out.contains(" .."), "{out}");
    let (code, out, err) = run(store, &["exec", "after_c", "echo", "-it", "--user", "x"]);
    assert_eq!((code, out.as_str()), (0, "-it --user x\n"), "{err}");
    let (code, _, err) = run(store, &["exec", "after_c"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("Usage: duckc exec [OPTIONS] <CONTAINER> <COMMAND>..."),
        "{err}"
    );
    must(store, &["rm", "-f", "after_c"]);
}

#[test]
fn inspect_format_filters_info() {
    let Some(store) = store() else { return };
    must(
        store,
        &["run", "-d", "--name", "fmt_up", "busybox", "sleep", "1000"],
    );
    let (code, _, _) = run(
        store,
        &["run", "--name", "fmt_down", "busybox", "sh", "-c", "exit 3"],
    );
    assert_eq!(code, 3);

    assert_eq!(
        field(store, "fmt_down", "{{.State.Status}} {{.State.ExitCode}}"),
        "exited 3"
    );
    assert_eq!(
        field(
            store,
            "fmt_up",
            "{{.State.Status}} {{.State.Running}} {{.Name}}"
        ),
        "running true /fmt_up"
    );
    assert_eq!(
        field(store, "fmt_down", "{{json .Config.Cmd}}"),
        r#"["sh","-c","exit 3"]"#
    );
    let pid: i32 = field(store, "fmt_up", "{{.State.Pid}}").parse().unwrap();
    assert!(Path::new(&format!("/proc/{pid}")).exists());
    let doc: serde_json::Value =
        serde_json::from_str(&must(store, &["container", "inspect", "fmt_up"])).unwrap();
    assert_eq!(doc[0]["Config"]["Image"], "busybox");
    assert_eq!(doc[0]["HostConfig"]["NetworkMode"], "default");
    // `inspect` of an image still works, and an unknown field is an error naming the fields.
    assert_eq!(field(store, "busybox", "{{.Os}}"), "linux");
    let (code, _, err) = run(store, &["inspect", "-f", "{{.State.Nope}}", "fmt_up"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("has no field `Nope`") && err.contains("Running"),
        "{err}"
    );

    // ps: filters (a status filter lists stopped containers without -a), templates, tables.
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        must(store, &a).lines().map(str::to_owned).collect()
    };
    let exited = names(&["--filter", "status=exited"]);
    assert!(exited.contains(&"fmt_down".to_owned()) && !exited.contains(&"fmt_up".to_owned()));
    assert_eq!(names(&["--filter", "name=fmt_up"]), ["fmt_up"]);
    assert_eq!(
        names(&["-a", "--filter", "name=fmt_", "--filter", "exited=3"]),
        ["fmt_down"]
    );
    let ancestors = names(&["-a", "--filter", "ancestor=busybox"]);
    assert!(ancestors.contains(&"fmt_up".to_owned()) && ancestors.contains(&"fmt_down".to_owned()));
    assert!(
        names(&[
            "-a",
            "--filter",
            "ancestor=busybox",
            "--filter",
            "name=nobody"
        ])
        .is_empty()
    );
    let table = must(
        store,
        &[
            "ps",
            "--filter",
            "name=fmt_up",
            "--format",
            "table {{.ID}}\\t{{.Names}}\\t{{.State}}",
        ],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["CONTAINER", "ID", "NAMES", "STATE"]
    );
    assert_eq!(
        lines[1].split_whitespace().skip(1).collect::<Vec<_>>(),
        ["fmt_up", "running"],
        "{table}"
    );
    assert!(lines[1].contains("fmt_up    running"), "{table}");
    let row: serde_json::Value = serde_json::from_str(&must(
        store,
        &["ps", "--filter", "name=fmt_up", "--format", "{{json .}}"],
    ))
    .unwrap();
    assert_eq!(row["Names"], "fmt_up");
    assert_eq!(row["ID"].as_str().unwrap().len(), 12);
    let (code, _, err) = run(store, &["ps", "--filter", "colour=red"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no `colour` filter") && err.contains("help:"),
        "{err}"
    );

    // images: an untagged image (a commit without a name) is dangling.
    let id = must(store, &["commit", "fmt_down"]);
    let short = &id.trim().trim_start_matches("sha256:")[..12];
    let dangling = must(
        store,
        &["images", "--filter", "dangling=true", "--format", "{{.ID}}"],
    );
    assert!(dangling.lines().any(|l| l == short), "{dangling}");
    let named = must(
        store,
        &[
            "images",
            "--filter",
            "dangling=false",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert!(
        named.lines().any(|l| l == "busybox:latest") && !named.contains("<none>"),
        "{named}"
    );

    // info counts what is there.
    let info: serde_json::Value =
        serde_json::from_str(&must(store, &["info", "--format", "{{json .}}"])).unwrap();
    assert!(info["Containers"].as_u64().unwrap() >= 2);
    assert!(info["ContainersRunning"].as_u64().unwrap() >= 1);
    assert!(info["Images"].as_u64().unwrap() >= 2);
    assert_eq!(info["StoreRoot"], store.display().to_string());
    let text = must(store, &["info"]);
    assert!(
        text.contains("Cgroup Driver: cgroupfs") && text.contains("Kernel Version:"),
        "{text}"
    );

    must(store, &["rm", "-f", "fmt_up", "fmt_down"]);
    assert_eq!(
        names(&["-a", "--filter", "name=fmt_"]),
        Vec::<String>::new()
    );
}

#[test]
fn rename_wait_restart_and_prunes() {
    let Some(store) = own_store("verbs-prune-store") else {
        return;
    };
    let store = store.as_path();
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "lc_wait",
            "busybox",
            "sh",
            "-c",
            "sleep 1; exit 7",
        ],
    );
    // `wait` blocks until the exit and prints the code.
    assert_eq!(must(store, &["wait", "lc_wait"]).trim(), "7");
    must(store, &["rename", "lc_wait", "lc_renamed"]);
    assert_eq!(field(store, "lc_renamed", "{{.Name}}"), "/lc_renamed");
    let (code, _, err) = run(store, &["inspect", "lc_wait"]);
    assert_ne!(code, 0, "{err}");

    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "lc_restart",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let (code, _, err) = run(store, &["rename", "lc_renamed", "lc_restart"]);
    assert_ne!(code, 0);
    assert!(err.contains("already in use"), "{err}");
    let before = field(store, "lc_restart", "{{.State.Pid}}");
    assert_eq!(
        must(store, &["restart", "-t", "1", "lc_restart"]).trim(),
        "lc_restart"
    );
    let after = field(store, "lc_restart", "{{.State.Pid}} {{.State.Status}}");
    assert!(
        after.ends_with(" running") && !after.starts_with(&format!("{before} ")),
        "{before} -> {after}"
    );

    // Prunes ask first; without a terminal and without -f nothing goes.
    let (code, _, err) = run(store, &["container", "prune"]);
    assert_ne!(code, 0);
    assert!(err.contains("-f"), "{err}");
    let image = must(store, &["commit", "lc_renamed"]);
    let pruned = must(store, &["container", "prune", "-f"]);
    assert!(
        pruned.contains("Deleted Containers:") && pruned.contains("Total reclaimed space"),
        "{pruned}"
    );
    let left = must(store, &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !left.contains("lc_renamed") && left.contains("lc_restart"),
        "{left}"
    );
    // The committed image has no tag and no container now: `image prune` removes it.
    let out = must(store, &["image", "prune", "-f"]);
    assert!(out.contains(image.trim()), "{out}");
    let (code, _, _) = run(store, &["inspect", image.trim()]);
    assert_ne!(code, 0);
    // `system prune` keeps running containers and the images they use.
    must(store, &["system", "prune", "-f"]);
    assert_eq!(field(store, "lc_restart", "{{.State.Status}}"), "running");
    must(store, &["rm", "-f", "lc_restart"]);
    assert!(must(store, &["images", "--format", "{{.Repository}}"]).contains("busybox"));
}

/// A shell that says which signal ended it by its exit code: USR1 7, INT 4, SIGRTMIN+3 (37)
/// 9, TERM 8.
const TRAPPER: &str = "trap 'exit 7' USR1; trap 'exit 4' INT; trap 'exit 9' 37; trap 'exit 8' TERM; \
                       echo ready; while :; do sleep 1; done";

/// Run `image` detached as `name` with `flags`, running [`TRAPPER`], and wait until its traps
/// are set.
fn trapper(store: &Path, name: &str, flags: &[&str], image: &str) {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(flags);
    args.extend([image, "sh", "-c", TRAPPER]);
    must(store, &args);
    ready(store, name, 1);
}

/// Wait until [`TRAPPER`] in `name` has set its traps for the `n`th time (it runs `n` times).
fn ready(store: &Path, name: &str, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while must(store, &["logs", name]).matches("ready").count() < n {
        assert!(Instant::now() < deadline, "{name} never got ready");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `stop` sends the container's stop signal: `run --stop-signal`, else the image's
/// `StopSignal` (as a name, a number or `SIGRTMIN+N`), else SIGTERM; `stop -s` overrides it;
/// `kill` still sends SIGKILL; a bad signal is refused with what to write.
#[test]
fn stop_sends_the_stop_signal() {
    let Some(store) = store() else { return };
    let exit = |name: &str| field(store, name, "{{.State.ExitCode}}");
    // The image's STOPSIGNAL, by name and by number.
    for (signal, code) in [("SIGUSR1", "7"), ("2", "4")] {
        must(store, &["run", "--name", "ss_base", "busybox", "true"]);
        let change = format!("STOPSIGNAL {signal}");
        must(
            store,
            &["commit", "--change", &change, "ss_base", "stopsig:latest"],
        );
        must(store, &["rm", "ss_base"]);
        trapper(store, "ss_image", &[], "stopsig:latest");
        must(store, &["stop", "-t", "60", "ss_image"]);
        assert_eq!(exit("ss_image"), code, "STOPSIGNAL {signal}");
        must(store, &["rm", "ss_image"]);
    }
    // `--stop-signal` over the image's; `stop -s` over both; `-t -1` waits as long as it takes.
    trapper(
        store,
        "ss_flag",
        &["--stop-signal", "SIGRTMIN+3"],
        "stopsig:latest",
    );
    assert_eq!(
        field(store, "ss_flag", "{{.Config.StopSignal}}"),
        "SIGRTMIN+3"
    );
    must(store, &["stop", "ss_flag"]);
    assert_eq!(exit("ss_flag"), "9");
    must(store, &["start", "ss_flag"]);
    ready(store, "ss_flag", 2);
    must(store, &["stop", "-s", "USR1", "-t", "-1", "ss_flag"]);
    assert_eq!(exit("ss_flag"), "7");
    // `restart -s` too.
    must(store, &["start", "ss_flag"]);
    ready(store, "ss_flag", 3);
    must(store, &["restart", "--signal", "TERM", "ss_flag"]);
    ready(store, "ss_flag", 4);
    must(store, &["stop", "-s", "TERM", "ss_flag"]);
    assert_eq!(exit("ss_flag"), "8");
    // `kill` is SIGKILL whatever the stop signal.
    must(store, &["start", "ss_flag"]);
    ready(store, "ss_flag", 5);
    must(store, &["kill", "ss_flag"]);
    assert_eq!(exit("ss_flag"), "137");
    must(store, &["rm", "ss_flag"]);
    // Bad signals: from the flags, and from an image.
    for args in [
        vec!["run", "--rm", "--stop-signal", "SIGNOPE", "busybox", "true"],
        vec!["stop", "-s", "RTMIN+99", "nobody-at-all"],
    ] {
        let (code, _, err) = run(store, &args);
        assert_ne!(code, 0, "{args:?}");
        assert!(err.contains("invalid signal"), "{err}");
        assert!(err.contains("help:"), "{err}");
    }
    must(store, &["run", "--name", "ss_base", "busybox", "true"]);
    must(
        store,
        &[
            "commit",
            "--change",
            "STOPSIGNAL SIGBOGUS",
            "ss_base",
            "stopsig:bogus",
        ],
    );
    must(store, &["rm", "ss_base"]);
    let (code, _, err) = run(store, &["run", "--rm", "stopsig:bogus", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("--stop-signal"), "{err}");
    must(
        store,
        &[
            "run",
            "--rm",
            "--stop-signal",
            "TERM",
            "stopsig:bogus",
            "true",
        ],
    );
}

#[test]
fn cp_both_ways_stays_inside_the_container() {
    let Some(store) = store() else { return };
    let host = scratch("cp");
    // A host file whose path the container will try to reach through its own symlinks.
    let secret = host.join("secret");
    std::fs::write(&secret, "host-secret\n").unwrap();
    let outside = host.join("outside");
    must(
        store,
        &["run", "-d", "--name", "cp_box", "busybox", "sleep", "1000"],
    );
    // `/data/evil` names a host path; the container has a directory of that name.
    must(
        store,
        &[
            "exec",
            "cp_box",
            "sh",
            "-c",
            &format!(
                "mkdir -p /data/sub {o} && echo inner > /data/sub/f && chmod 640 /data/sub/f && ln -s / /data/rootlink && ln -s {o} /data/evil",
                o = outside.display()
            ),
        ],
    );

    // Out of the container: a directory, its file modes, a symlink kept as a symlink.
    must(
        store,
        &["cp", "cp_box:/data", host.join("out").to_str().unwrap()],
    );
    assert_eq!(
        std::fs::read_to_string(host.join("out/sub/f")).unwrap(),
        "inner\n"
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(host.join("out/sub/f"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    assert_eq!(
        std::fs::read_link(host.join("out/rootlink")).unwrap(),
        Path::new("/")
    );
    // The container's `/` link resolves to the container's root, never the host's.
    let through = format!("cp_box:/data/rootlink{}", secret.display());
    let (code, _, err) = run(
        store,
        &["cp", &through, host.join("stolen").to_str().unwrap()],
    );
    assert_ne!(code, 0, "copied a host file through a container symlink");
    assert!(err.contains("no such file"), "{err}");
    assert!(!host.join("stolen").exists());

    // Into the container, also through a symlink that names a host path: it lands inside.
    std::fs::write(host.join("in.txt"), "from-host\n").unwrap();
    must(
        store,
        &[
            "cp",
            host.join("in.txt").to_str().unwrap(),
            "cp_box:/data/evil/in.txt",
        ],
    );
    assert!(
        !outside.exists(),
        "cp wrote through a container symlink onto the host"
    );
    let inside = must(
        store,
        &[
            "exec",
            "cp_box",
            "cat",
            &format!("{}/in.txt", outside.display()),
        ],
    );
    assert_eq!(inside, "from-host\n");
    must(
        store,
        &[
            "cp",
            host.join("in.txt").to_str().unwrap(),
            "cp_box:/data/sub",
        ],
    );
    assert_eq!(
        must(store, &["exec", "cp_box", "cat", "/data/sub/in.txt"]),
        "from-host\n"
    );

    // Tar streams both ways.
    let tar = common::output(
        duckc(store)
            .args(["cp", "cp_box:/data/sub", "-"])
            .stdin(Stdio::null()),
    );
    assert!(tar.status.success());
    let mut names: Vec<String> = tar::Archive::new(&tar.stdout[..])
        .entries()
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path().unwrap().display().to_string();
            path.trim_end_matches('/').to_owned()
        })
        .collect();
    names.sort();
    assert_eq!(names, ["sub", "sub/f", "sub/in.txt"]);
    let mut builder = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_size(9);
    h.set_mode(0o600);
    builder
        .append_data(&mut h, "streamed/hello", &b"streamed\n"[..])
        .unwrap();
    let stream = builder.into_inner().unwrap();
    let mut child = duckc(store)
        .args(["cp", "-", "cp_box:/data"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(
        must(store, &["exec", "cp_box", "cat", "/data/streamed/hello"]),
        "streamed\n"
    );

    // A stopped container: its overlay is mounted privately for the copy.
    must(store, &["stop", "-t", "1", "cp_box"]);
    must(
        store,
        &[
            "cp",
            "cp_box:/data/sub/f",
            host.join("stopped-f").to_str().unwrap(),
        ],
    );
    assert_eq!(
        std::fs::read_to_string(host.join("stopped-f")).unwrap(),
        "inner\n"
    );
    must(
        store,
        &[
            "cp",
            host.join("in.txt").to_str().unwrap(),
            "cp_box:/after-stop",
        ],
    );
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(store.to_str().unwrap()),
        "a mount was left on the host:\n{mounts}"
    );
    must(store, &["start", "cp_box"]);
    assert_eq!(
        must(store, &["exec", "cp_box", "cat", "/after-stop"]),
        "from-host\n"
    );
    let (code, _, err) = run(store, &["cp", "cp_box:/nope", host.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(
        err.contains("no such file") && err.contains("help:"),
        "{err}"
    );
    must(store, &["rm", "-f", "cp_box"]);
}

#[test]
fn diff_top_history() {
    let Some(store) = store() else { return };
    must(
        store,
        &[
            "run",
            "--name",
            "df_box",
            "busybox",
            "sh",
            "-c",
            "echo x > /tmp/added && rm /bin/vi && echo extra >> /etc/passwd && mkdir -p /new/deep",
        ],
    );
    let diff = must(store, &["diff", "df_box"]);
    for line in [
        "C /tmp",
        "A /tmp/added",
        "C /bin",
        "D /bin/vi",
        "C /etc/passwd",
        "A /new",
        "A /new/deep",
    ] {
        assert!(diff.lines().any(|l| l == line), "`{line}` in\n{diff}");
    }
    assert!(!diff.contains("/bin/sh"), "{diff}");

    // history: the commit message is the newest entry's comment.
    must(
        store,
        &["commit", "-m", "verbs-msg", "df_box", "verbs/hist:1"],
    );
    let comments = must(
        store,
        &["history", "--format", "{{.Comment}}", "verbs/hist:1"],
    );
    assert_eq!(comments.lines().next(), Some("verbs-msg"), "{comments}");
    let table = must(store, &["history", "verbs/hist:1"]);
    assert!(
        table.starts_with("IMAGE") && table.contains("CREATED BY") && table.contains("<missing>"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 1 + comments.lines().count());

    // top: the container's processes with host pids, exec'd ones included.
    must(
        store,
        &["run", "-d", "--name", "top_box", "busybox", "sleep", "1000"],
    );
    let pid = field(store, "top_box", "{{.State.Pid}}");
    let mut exec = duckc(store)
        .args(["exec", "top_box", "sleep", "999"])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let top = loop {
        let top = must(store, &["top", "top_box"]);
        if top.contains("sleep 999") || Instant::now() > deadline {
            break top;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(top.starts_with("UID"), "{top}");
    assert!(
        top.lines()
            .any(|l| l.split_whitespace().nth(1) == Some(&pid) && l.ends_with("sleep 1000")),
        "{top}"
    );
    assert!(top.contains("sleep 999"), "{top}");
    let _ = exec.kill();
    let _ = exec.wait();
    must(store, &["stop", "-t", "1", "top_box"]);
    let (code, _, err) = run(store, &["top", "top_box"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not running"), "{err}");
    must(store, &["rm", "-f", "top_box", "df_box"]);
    must(store, &["rmi", "verbs/hist:1"]);
}

#[test]
fn env_file_and_mounts() {
    let Some(store) = store() else { return };
    let host = scratch("mounts");
    let env = host.join("env");
    std::fs::write(&env, "# comment\nA=1\n\nB=two words\nC\n").unwrap();
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--env-file",
            env.to_str().unwrap(),
            "-e",
            "A=over",
            "busybox",
            "sh",
            "-c",
            "echo \"$A|$B|${C-unset}\"",
        ],
    );
    assert_eq!(out, "over|two words|unset\n");
    std::fs::write(host.join("bad-env"), "NOT OK=1\n").unwrap();
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--rm",
            "--env-file",
            host.join("bad-env").to_str().unwrap(),
            "busybox",
            "true",
        ],
    );
    assert_ne!(code, 0);
    assert!(
        err.contains("bad variable") && err.contains("bad-env:1:"),
        "{err}"
    );

    std::fs::write(host.join("f"), "bound\n").unwrap();
    let bind = format!("type=bind,source={},target=/m,readonly", host.display());
    let (code, out, _) = run(
        store,
        &[
            "run",
            "--rm",
            "--mount",
            &bind,
            "busybox",
            "sh",
            "-c",
            "cat /m/f; touch /m/g 2>/dev/null || echo read-only",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "bound\nread-only\n"));
    assert!(!host.join("g").exists());
    let tmpfs = "type=tmpfs,target=/scratch,tmpfs-size=1m";
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--mount",
            tmpfs,
            "busybox",
            "sh",
            "-c",
            "grep ' /scratch ' /proc/mounts",
        ],
    );
    assert!(
        out.starts_with("tmpfs /scratch tmpfs")
            && out.contains("size=1024k")
            && out.contains("nosuid")
            && out.contains("nodev"),
        "{out}"
    );
    let doc = must(
        store,
        &[
            "run", "-d", "--name", "mnt_box", "--mount", tmpfs, "--mount", &bind, "busybox",
            "sleep", "1000",
        ],
    );
    assert_eq!(doc.trim().len(), 64);
    assert_eq!(
        field(store, "mnt_box", "{{json .Mounts}}")
            .matches("\"Type\"")
            .count(),
        2
    );
    must(store, &["rm", "-f", "mnt_box"]);
    for (bad, want) in [
        ("type=bind,target=/m".to_owned(), "needs `source`"),
        (
            format!("type=bind,source={}/missing,target=/m", host.display()),
            "does not exist",
        ),
        (
            "type=tmpfs,target=/t,tmpfs-size=lots".to_owned(),
            "tmpfs-size",
        ),
        (
            "type=volume,source=v,target=/v".to_owned(),
            "no named volumes",
        ),
        ("type=tmpfs,target=relative".to_owned(), "absolute"),
    ] {
        let (code, _, err) = run(store, &["run", "--rm", "--mount", &bad, "busybox", "true"]);
        assert_ne!(code, 0, "{bad}");
        assert!(err.contains(want) && err.contains("help:"), "{bad}: {err}");
    }
}

/// `duckc ARGS` on `pty`'s terminal.
fn spawn(pty: &Pty, store: &Path, args: &[&str]) -> Child {
    let mut cmd = duckc(store);
    cmd.args(args);
    pty.spawn(cmd)
}

fn wait_child(child: &mut Child) -> i32 {
    child.wait().unwrap().code().unwrap_or(-1)
}

/// Run `duckc ARGS` with stdin on `/dev/null`, as `run` does, but kill it (and fail) if it
/// has not ended within a minute: what this guards against is a run that never ends.
fn run_or_kill(store: &Path, args: &[&str]) -> (i32, String, String) {
    let mut child = duckc(store)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            let out = child.wait_with_output().unwrap();
            panic!(
                "`duckc {}` still running after a minute\n{}{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `-it` whose stdin is not a terminal (`</dev/null`, a pipe, a script) is refused before
/// anything starts, as Docker's "the input device is not a TTY": a shell on a terminal of its
/// own that reads a pipe's end as an ignored ^D would wait forever, and as pid 1 it ignores
/// SIGTERM. `-t` alone and `-i` alone still work there, as in Docker.
#[test]
fn interactive_terminal_without_a_terminal_is_refused() {
    let Some(store) = store() else { return };
    let refused = |args: &[&str]| {
        let (code, out, err) = run_or_kill(store, args);
        assert_eq!(code, 1, "{out}{err}");
        assert!(err.contains("the input device is not a TTY"), "{err}");
        assert!(
            err.contains("help: drop -t, or run it from a terminal"),
            "{err}"
        );
    };
    refused(&["run", "-it", "--name", "notty_run", "busybox", "sh"]);
    refused(&["run", "-i", "-t", "--rm", "busybox", "sh"]);
    // Nothing was created.
    let (code, _, _) = run(store, &["rm", "notty_run"]);
    assert_ne!(code, 0);

    let (code, out, err) = run_or_kill(store, &["run", "-t", "--rm", "busybox", "tty"]);
    assert_eq!((code, out.trim()), (0, "/dev/pts/0"), "{err}");
    must(
        store,
        &["run", "-dit", "--name", "notty_box", "busybox", "sh"],
    );
    refused(&["exec", "-it", "notty_box", "sh"]);
    let (code, out, err) = run_or_kill(store, &["exec", "-t", "notty_box", "tty"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("/dev/pts/"), "{out}");
    must(store, &["stop", "-t", "0", "notty_box"]);
    refused(&["start", "-ai", "notty_box"]);
    must(store, &["rm", "-f", "notty_box"]);
}

#[test]
fn terminals_start_attach_and_no_leaked_replies() {
    let Some(store) = store() else { return };

    // `logs` shows what a foreground run printed.
    must(
        store,
        &[
            "run",
            "--name",
            "tt_fg",
            "busybox",
            "echo",
            "foreground-out",
        ],
    );
    assert_eq!(must(store, &["logs", "tt_fg"]), "foreground-out\n");

    // `run -it … sh`, leave, then `start -a`: the terminal is attached with its input.
    let mut pty = Pty::new();
    let mut first = spawn(
        &pty,
        store,
        &["run", "-it", "--name", "tt_shell", "busybox", "sh"],
    );
    pty.type_in(b"exit\n");
    assert_eq!(wait_child(&mut first), 0, "{}", pty.text());
    let mut pty = Pty::new();
    let mut again = spawn(&pty, store, &["start", "-a", "tt_shell"]);
    pty.type_in(b"echo started-$((6*7)); exit 5\n");
    assert_eq!(wait_child(&mut again), 5, "{}", pty.text());
    assert!(pty.text().contains("started-42"), "{}", pty.text());

    // A terminal reply to the container's cursor query, unread when the container ends, is
    // discarded: the caller's shell never reads `^[[12;5R`.
    let mut pty = Pty::new();
    let mut leak = spawn(
        &pty,
        store,
        &[
            "run",
            "-t",
            "--name",
            "tt_leak",
            "busybox",
            "sh",
            "-c",
            "printf 'query\\033[6n'; until [ -e /tmp/go ]; do sleep 0.05; done",
        ],
    );
    pty.wait_for("query\x1b[6n");
    // `-t` without `-i` leaves the caller's terminal as it was (ctrl-c still works), so it
    // echoes the reply once the reply is in its input queue.
    pty.type_in(b"\x1b[12;5R");
    pty.wait_for("^[[12;5R");
    must(store, &["exec", "tt_leak", "touch", "/tmp/go"]);
    assert_eq!(wait_child(&mut leak), 0, "{}", pty.text());
    assert_eq!(
        String::from_utf8_lossy(&pty.unread_input()),
        "",
        "a terminal reply leaked"
    );

    // attach to a detached `-dit` shell; ctrl-p ctrl-q leaves it running; attach again, exit.
    must(store, &["run", "-dit", "--name", "tt_att", "busybox", "sh"]);
    let mut pty = Pty::new();
    let mut attach = spawn(&pty, store, &["attach", "tt_att"]);
    // Attached once the monitor took our input: keep asking until the answer shows.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !pty.text().contains("attached-42") {
        assert!(Instant::now() < deadline, "{}", pty.text());
        pty.type_in(b"echo attached-$((6*7))\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    // The container's terminal took the size of ours.
    pty.type_in(b"stty size\n");
    pty.wait_for("33 111");
    pty.type_in(&[0x10, 0x11]);
    assert_eq!(wait_child(&mut attach), 0, "{}", pty.text());
    assert_eq!(field(store, "tt_att", "{{.State.Status}}"), "running");
    let mut pty = Pty::new();
    let mut attach = spawn(&pty, store, &["attach", "tt_att"]);
    let deadline = Instant::now() + Duration::from_secs(60);
    while field(store, "tt_att", "{{.State.Status}}") == "running" {
        assert!(Instant::now() < deadline, "{}", pty.text());
        pty.type_in(b"exit 4\n");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(wait_child(&mut attach), 4, "{}", pty.text());
    let (code, _, err) = run(store, &["attach", "tt_att"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("not running") && err.contains("start -a"),
        "{err}"
    );
    must(
        store,
        &["rm", "-f", "tt_fg", "tt_shell", "tt_leak", "tt_att"],
    );
}

/// `start`, `stop`, `restart`, `pause`, `unpause`, `kill`, `wait` and `rm` of several
/// containers, one of which does not exist: as Docker, each goes on with the others, prints each one it handled, prints an
/// error (with `help:`) for the one that failed, and exits non-zero.
#[test]
fn verbs_on_several_containers_go_past_a_missing_one() {
    let Some(store) = store() else { return };
    let status = |name: &str| field(store, name, "{{.State.Status}}");
    let pid = |name: &str| field(store, name, "{{.State.Pid}}");
    for name in ["many_a", "many_c"] {
        must(
            store,
            &["run", "-d", "--name", name, "busybox", "sleep", "1000"],
        );
    }
    let check = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["many_a", "many_nope", "many_c"]);
        let (code, out, err) = run(store, &all);
        assert_ne!(code, 0, "{all:?}\n{out}\n{err}");
        assert_eq!(out, "many_a\nmany_c\n", "{all:?}\n{err}");
        assert!(
            err.contains("many_nope") && err.contains("help:"),
            "{all:?}: {err}"
        );
    };
    check(&["stop", "-t", "1"]);
    assert_eq!(
        (status("many_a"), status("many_c")),
        ("exited".into(), "exited".into())
    );
    check(&["start"]);
    assert_eq!(
        (status("many_a"), status("many_c")),
        ("running".into(), "running".into())
    );
    check(&["pause"]);
    check(&["unpause"]);
    let before = (pid("many_a"), pid("many_c"));
    check(&["restart", "-t", "1"]);
    let after = (pid("many_a"), pid("many_c"));
    assert!(
        after.0 != before.0 && after.1 != before.1,
        "{before:?} -> {after:?}"
    );
    assert_eq!(
        (status("many_a"), status("many_c")),
        ("running".into(), "running".into())
    );
    check(&["kill"]);
    assert_eq!(
        (status("many_a"), status("many_c")),
        ("exited".into(), "exited".into())
    );
    // `wait` prints exit codes, not names.
    let (code, out, err) = run(store, &["wait", "many_a", "many_nope", "many_c"]);
    assert_ne!(code, 0, "{out}\n{err}");
    assert_eq!(out, "137\n137\n", "{err}");
    assert!(err.contains("many_nope"), "{err}");
    // `inspect` (both spellings) prints what it found and an error for the rest, as Docker.
    for verb in [&["inspect"][..], &["container", "inspect"]] {
        let mut args = verb.to_vec();
        args.extend(["-f", "{{.State.Status}}", "many_a", "many_nope", "many_c"]);
        let (code, out, err) = run(store, &args);
        assert_ne!(code, 0, "{args:?}\n{out}\n{err}");
        assert_eq!(out, "exited\nexited\n", "{args:?}\n{err}");
        assert!(err.contains("many_nope"), "{args:?}: {err}");
    }
    check(&["rm"]);
    let left = must(store, &["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !left.contains("many_a") && !left.contains("many_c"),
        "{left}"
    );
}
