//! End-to-end tests of what `build` and `images` print. Live build output: in plain mode a
//! step's header is printed when it starts and its output line by line as the command writes
//! it (`#N`-prefixed for a step that runs ahead of the spec order), a failing step's header is
//! always printed, and `--progress json` streams `output` events. `images`: newest first, a
//! CREATED that means something for reproducible images, untagged intermediates with `-a`
//! only; `commit` records `created` and `created_by`.
//!
//! Arrival is checked by order, never by time: the waiting step prints a line, then polls for a
//! file in its cache mount (`<store>/cache-mounts/<sha256 of the id>`) that this test creates
//! only after reading that line from duckc's stdout. Were the output held back until the step
//! ends, the step would give up polling (after a minute) and print `gave-up` instead of `done`.

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use common::{duckc, require_root};
use sha2::Digest as _;

/// A store with the busybox fixture as `busybox:latest`.
fn store(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    common::store::load_busybox(&store);
    store
}

/// A build context holding `dockerfile` as its `Dockerfile`.
fn context(dir: &Path, name: &str, dockerfile: &str) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    ctx
}

const WAITING: &str = "\
FROM busybox AS waiter
RUN --mount=type=cache,id=sync,target=/sync sh -c 'echo waiting; i=0; while [ ! -e /sync/go ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done; if [ -e /sync/go ]; then echo done; else echo gave-up; fi; touch /waited'
FROM busybox
RUN echo side-out
COPY --from=waiter /waited /waited
";

#[test]
fn plain_output_streams_as_it_comes() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "waiting", WAITING);
    let go = store
        .join("cache-mounts")
        .join(hex(&sha2::Sha256::digest(b"sync")))
        .join("go");
    // Piped stdout (not a terminal) means plain mode; two threads at least, so the second
    // stage's step runs while the first waits.
    let mut child = duckc(&store)
        .env("RAYON_NUM_THREADS", "4")
        .args(["build", "-t", "live:test", "."])
        .current_dir(&ctx)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines: Vec<String> = Vec::new();
    let mut created = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        lines.push(line);
        // Both steps have printed while the first still waits: let it go on.
        if created.is_none()
            && lines.iter().any(|l| l == "waiting")
            && lines.iter().any(|l| l == "#1 side-out")
        {
            created = Some(lines.len());
            std::fs::write(&go, b"").unwrap();
        }
    }
    let out = child.wait_with_output().unwrap();
    let text = lines.join("\n");
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        created.is_some(),
        "the lines never came while the step ran:\n{text}"
    );
    let at = |want: &str| {
        lines
            .iter()
            .position(|l| l == want)
            .unwrap_or_else(|| panic!("no line `{want}` in:\n{text}"))
    };
    let header = lines
        .iter()
        .position(|l| l.starts_with("Step 2/5 : RUN --mount=type=cache"))
        .unwrap_or_else(|| panic!("no header of the waiting step:\n{text}"));
    // The header when the step starts, then its output as it comes; the step running at the
    // same time further on prints `#1`-prefixed under its own header.
    assert!(header < at("waiting"), "{text}");
    let side = lines
        .iter()
        .position(|l| l.starts_with("#1 [") && l.ends_with("] Step 4/5 : RUN echo side-out"))
        .unwrap_or_else(|| panic!("no `#1` header of the parallel step:\n{text}"));
    assert!(side < at("#1 side-out"), "{text}");
    assert!(at("done") >= created.unwrap(), "{text}");
    assert!(!lines.iter().any(|l| l == "gave-up"), "{text}");
    // In spec order afterwards, without printing the output twice.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("(its output is above, as #1)")),
        "{text}"
    );
    let printed = |l: &&String| *l == "side-out" || *l == "#1 side-out";
    assert_eq!(lines.iter().filter(printed).count(), 1, "{text}");
    assert!(text.contains("Successfully tagged live:test"), "{text}");
}

#[test]
fn a_failing_step_prints_its_header_its_output_then_the_error() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(
        tmp.path(),
        "failing",
        "FROM busybox\nRUN echo before-failing; exit 3\n",
    );
    let (code, out, err) = common::run(
        &store,
        &["build", "--progress", "plain", ctx.to_str().unwrap()],
    );
    assert_eq!(code, 3, "{out}\n{err}");
    insta::assert_snapshot!(redact_ids(&out), @r"
    Step 1/2 : FROM busybox
     ---> <id>
    Step 2/2 : RUN echo before-failing; exit 3
     ---> Running in <id>
    before-failing
    ");
    // Named as the Dockerfile writes it, not as the spec it was lowered to.
    insta::assert_snapshot!(err, @r"
    error: `RUN echo before-failing; exit 3` (stage `stage-0`) failed with exit code 3
      its last output:
      | before-failing
      help: fix the command, then build again: the steps before it are cached
    ");

    // JSON: the line as an `output` event, then the `failed` event.
    let (code, out, err) = common::run(
        &store,
        &["build", "--progress", "json", ctx.to_str().unwrap()],
    );
    assert_eq!(code, 3, "{out}\n{err}");
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let output = events
        .iter()
        .position(|v| v["event"] == "output" && v["line"] == "before-failing")
        .unwrap_or_else(|| panic!("no output event:\n{out}"));
    let failed = events
        .iter()
        .position(|v| v["event"] == "failed")
        .unwrap_or_else(|| panic!("no failed event:\n{out}"));
    assert!(output < failed, "{out}");
    assert_eq!(events[failed]["step"], events[output]["step"], "{out}");
    assert!(
        events[failed]["error"]
            .as_str()
            .unwrap()
            .contains("exit code 3"),
        "{out}"
    );
}

/// A copy of `examples/hello` with a static busybox in `dir`; its spec.
fn hello(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let to = dir.join("hello");
    std::fs::create_dir_all(&to).unwrap();
    for f in ["env.kdl", "hello.sh", ".duckignore"] {
        std::fs::copy(src.join(f), to.join(f)).unwrap();
    }
    std::fs::copy("/bin/busybox", to.join("busybox")).unwrap();
    to.join("env.kdl")
}

#[test]
fn images_newest_first_with_a_meaningful_created_and_commit_history() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let spec = hello(tmp.path());
    common::must(
        &store,
        &["build", "--progress", "plain", spec.to_str().unwrap()],
    );
    // The untagged `base` env the two tagged ones are built on is an intermediate image.
    let listed = common::must(&store, &["images"]);
    assert!(!listed.contains("years ago"), "{listed}");
    // The two tagged envs were stored within moments of each other, in either order.
    let mut rows: Vec<&str> = listed
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        ["duckc-example/hello", "duckc-example/tools"],
        "{listed}"
    );
    let all = common::must(&store, &["images", "-a"]);
    assert_eq!(all.matches("<none>").count(), 2, "{all}");
    assert_eq!(all.lines().count(), 4, "{all}");

    // A commit is newer than every build: it comes first, dated now, with its history.
    common::must(&store, &["run", "--name", "dated", "duckc-example/hello"]);
    common::must(&store, &["commit", "-m", "a note", "dated", "committed:1"]);
    let listed = common::must(&store, &["images"]);
    let first = listed.lines().nth(1).unwrap();
    assert!(first.starts_with("committed "), "{listed}");
    let inspected: serde_json::Value =
        serde_json::from_str(&common::must(&store, &["inspect", "committed:1"])).unwrap();
    let image = if inspected.is_array() {
        &inspected[0]
    } else {
        &inspected
    };
    assert!(
        !image["Created"].as_str().unwrap().starts_with("1970-"),
        "{image}"
    );
    let last = image["History"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["created_by"], "/usr/local/bin/hello", "{last}");
    assert_eq!(last["comment"], "a note", "{last}");
    // The build's own entries say which step made each layer, in the spec's words.
    let history = image["History"].as_array().unwrap();
    assert!(
        history
            .iter()
            .any(|h| h["created_by"] == "run \"/bin/busybox\" \"--install\" \"-s\" \"/bin\""),
        "{image}"
    );
}

/// Build output with its 12-hex-digit layer, node and image ids replaced, for snapshots.
fn redact_ids(out: &str) -> String {
    out.split_inclusive('\n')
        .map(|l| {
            l.split(' ')
                .map(|w| {
                    let t = w.trim_end();
                    if t.len() == 12 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
                        w.replacen(t, "<id>", 1)
                    } else {
                        w.to_owned()
                    }
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What `run` says about an image the store lacks: the code, the tag it is likely a typo of,
/// and where images come from (duckc's `run` pulls nothing by itself).
#[test]
fn run_of_a_missing_image_names_the_nearest_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let (code, _, err) = common::run(&store, &["run", "--rm", "busybx", "true"]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!(err, @r"
    image::not_found

      × no image `busybx` in the store
      help: did you mean `busybox`? `duckc images` lists the store's images; `duckc pull HOST/NAME:TAG` fetches one from a registry, `duckc load -i FILE` reads an archive, `duckc build` makes one
    ");
    let (_, _, err) = common::run(&store, &["run", "--rm", "no-such-duck:v1", "true"]);
    assert!(!err.contains("did you mean"), "{err}");
}

/// A Dockerfile `FROM` the store lacks that is likely a typo of a stored tag: the help names
/// that tag first, as `run`'s does, then where a base comes from.
#[test]
fn build_from_a_missing_base_names_the_nearest_tag() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "typo", "FROM busybx\nRUN true\n");
    let err = failed_plain_build(&store, &ctx, "error:");
    insta::assert_snapshot!(err, @r"
    error: base image `busybx:latest` is not in the store (stage `stage-0`)
      help: did you mean `busybox:latest`? Otherwise load it with `duckc load -i FILE` or pull it with `duckc pull busybx:latest` (a build pulls a missing base from its registry unless `--pull=never`)
    ");
    let ctx = context(tmp.path(), "far", "FROM no-such-duck:v1\n");
    let out = common::output(
        duckc(&store)
            .current_dir(&ctx)
            .args(["build", "--pull=never", "."]),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("did you mean"), "{err}");
    assert!(err.contains("`duckc pull no-such-duck:v1`"), "{err}");
}

/// `duckc build` and `duckc check` in a directory without a spec, as a Docker user types them,
/// and `-f` of a file that is not there: each error has its code, and the help names the file
/// flag of the verb that has one.
#[test]
fn build_in_a_directory_without_a_spec() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = common::output(duckc(&store).current_dir(&empty).args(["build", "."]));
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @r"
    driver::nothing_in

      × `.` holds no `env.kdl`, `duck.kdl` or `Dockerfile`
      help: add an `env.kdl` or a `Dockerfile` there, or name the file: `duckc build -f FILE DIR`, `duckc check FILE`
    ");
    // No directory argument: the same, as `docker build` users leave it out.
    let out = common::output(duckc(&store).current_dir(&empty).args(["build"]));
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @r"
    driver::nothing_in

      × `.` holds no `env.kdl`, `duck.kdl` or `Dockerfile`
      help: add an `env.kdl` or a `Dockerfile` there, or name the file: `duckc build -f FILE DIR`, `duckc check FILE`
    ");
    let out =
        common::output(
            duckc(&store)
                .current_dir(&empty)
                .args(["build", "-f", "missing.kdl"]),
        );
    assert_eq!(out.status.code(), Some(1));
    insta::assert_snapshot!(String::from_utf8_lossy(&out.stderr), @r"
    driver::read

      × cannot read `missing.kdl`: no such file
      help: check the path and that the file is readable
    ");
}

/// A `COPY` source the context lacks: the label points at that source, not the whole
/// instruction, so with several sources the user sees which one is missing.
#[test]
fn copy_of_a_missing_source_points_at_that_source() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        "ctx",
        "FROM busybox:1.36\nCOPY here.txt missing.txt /\n",
    );
    std::fs::write(ctx.join("here.txt"), "here\n").unwrap();
    let err = failed_plain_build(&store, &ctx, "dockerfile::lower");
    insta::assert_snapshot!(err, @r"
    dockerfile::lower

      × `missing.txt` is not in the build context
       ╭─[./Dockerfile:2:15]
     1 │ FROM busybox:1.36
     2 │ COPY here.txt missing.txt /
       ·               ─────┬─────
       ·                    ╰── no such file in the context
       ╰────
      help: sources are relative to the build context; check the path and the .dockerignore
    driver::cannot_build

      × `./Dockerfile` cannot be built; fix the errors above
      help: each error above says what to change; `duckc check FILE` lists them without building
    ");
}

/// A `RUN --mount=type=bind` source missing from the context is labelled at its `source=`
/// value, also when the mount is quoted, not the whole instruction.
#[test]
fn bind_mount_of_a_missing_source_points_at_that_source() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        "ctx",
        "FROM busybox:1.36\nRUN --mount=type=bind,source=missing,target=/m cat /m\nRUN --mount=\"target=/n,src=gone\" cat /n\n",
    );
    let err = failed_plain_build(&store, &ctx, "dockerfile::lower");
    insta::assert_snapshot!(err, @r#"
    dockerfile::lower

      × `missing` is not in the build context
       ╭─[./Dockerfile:2:30]
     1 │ FROM busybox:1.36
     2 │ RUN --mount=type=bind,source=missing,target=/m cat /m
       ·                              ───┬───
       ·                                 ╰── no such file in the context
     3 │ RUN --mount="target=/n,src=gone" cat /n
       ╰────
      help: sources are relative to the build context; check the path and the .dockerignore

    dockerfile::lower

      × `gone` is not in the build context
       ╭─[./Dockerfile:3:28]
     2 │ RUN --mount=type=bind,source=missing,target=/m cat /m
     3 │ RUN --mount="target=/n,src=gone" cat /n
       ·                            ──┬─
       ·                              ╰── no such file in the context
       ╰────
      help: sources are relative to the build context; check the path and the .dockerignore
    driver::cannot_build

      × `./Dockerfile` cannot be built; fix the errors above
      help: each error above says what to change; `duckc check FILE` lists them without building
    "#);
}

/// `build -q` prints the image id alone (`sha256:` and 64 hex digits, as `docker build -q`),
/// the one `--iidfile` writes and `Successfully built` shortens; a cached rebuild prints it
/// again, and `run` takes it.
#[test]
fn quiet_build_prints_the_image_id_alone() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(
        tmp.path(),
        "quiet",
        "FROM busybox\nENV GREETING=quack\nCMD [\"sh\", \"-c\", \"echo $GREETING\"]\n",
    );
    let dir = ctx.to_str().unwrap();
    let iid = tmp.path().join("iid");
    let (code, out, err) = common::run(
        &store,
        &["build", "-q", "--iidfile", iid.to_str().unwrap(), dir],
    );
    assert_eq!(code, 0, "{err}");
    let id = out.strip_suffix('\n').unwrap_or_else(|| panic!("{out:?}"));
    assert!(
        id.len() == 71 && id.starts_with("sha256:") && !id.contains('\n'),
        "{out:?}"
    );
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), id);
    let (_, plain, _) = common::run(&store, &["build", "--progress", "plain", dir]);
    assert!(
        plain.contains(&format!("Successfully built {}\n", &id[7..19])),
        "{plain}"
    );
    assert_eq!(common::run(&store, &["build", "--quiet", dir]).1, out);
    assert_eq!(common::run(&store, &["run", "--rm", id]).1, "quack\n");
}

/// A `RUN --mount` over the step's root or its `/proc` is refused before anything runs,
/// labelled at its `target=` (relative to the `WORKDIR`, as it is resolved).
#[test]
fn a_mount_over_the_root_or_proc_points_at_its_target() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = context(
        tmp.path(),
        "ctx",
        "FROM busybox:1.36\nRUN --mount=type=cache,target=/ true\nWORKDIR /\nRUN --mount=type=tmpfs,target=proc/ true\n",
    );
    let err = failed_plain_build(&store, &ctx, "dockerfile::lower");
    insta::assert_snapshot!("mount_over_root_or_proc", err);
}

/// A path another stage does not have, which only the build finds (`RUN --mount=from=`,
/// `COPY --from`): labelled at that path in the Dockerfile, with the stage it was read from.
#[test]
fn a_path_missing_from_another_stage_points_at_that_path() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    for (name, step) in [
        (
            "mount",
            "RUN --mount=from=a,source=/missing,target=/m cat /m",
        ),
        ("copy", "COPY --from=a /bin/busybox /missing /m/"),
    ] {
        let ctx = context(
            tmp.path(),
            name,
            &format!("FROM busybox AS a\nFROM busybox\n{step}\n"),
        );
        let (code, _, err) = common::run(
            &store,
            &["build", "--progress", "plain", ctx.to_str().unwrap()],
        );
        assert_eq!(code, 1, "{err}");
        let err = err.replace(ctx.to_str().unwrap(), "CTX");
        insta::assert_snapshot!(format!("missing_in_stage_{name}"), err);
    }
}

/// `rmi` of an image a container uses: rendered as other errors are (code, `help:`), the
/// container named by its short id, not by its gc root's file name.
#[test]
fn rmi_of_an_image_in_use_names_the_container() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    common::must(&store, &["run", "--name", "keeper", "busybox", "true"]);
    let id = common::must(&store, &["inspect", "-f", "{{.Id}}", "keeper"]);
    let (code, _, err) = common::run(&store, &["rmi", "busybox"]);
    assert_eq!(code, 1, "{err}");
    insta::assert_snapshot!(err.replace(&id.trim()[..12], "ID"), @r"
    image::in_use

      × image `busybox` is used by container ID
      help: `duckc rmi -f` untags it anyway; or remove what holds it first (`duckc ps -a --filter ancestor=IMAGE` lists the containers)
    ");
}

/// An error with a long path in its message and flags in its help (`build --platform` given a
/// path): off a terminal (stderr piped, as scripts, logs and CI have it) each line of the
/// message and of the help is one line, so it can be found and copied whole; on a terminal it
/// wraps at the terminal's width, at spaces only, so no flag or path is split.
#[test]
fn errors_wrap_only_on_a_terminal_and_never_inside_a_token() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let bad = format!("/var/lib/duckc/{}x", "a-checkout-somewhere-deep/".repeat(4));
    let help = "use `linux/ARCH[/VARIANT]` with ARCH one of amd64, arm64, arm, 386, ppc64le, \
                s390x, riscv64, mips64le, e.g. `--platform linux/amd64,linux/arm64`";
    let build = || {
        let mut cmd = duckc(&store);
        cmd.current_dir(tmp.path())
            .args(["build", "--platform", &bad, "."]);
        cmd
    };

    let out = common::output(&mut build());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().collect();
    let message = format!("  × unknown platform `{bad}`");
    assert!(lines.contains(&message.as_str()), "{err}");
    assert!(lines.contains(&format!("  help: {help}").as_str()), "{err}");

    // The pty is 111 columns wide: the help wraps, the path (longer) overflows on its own line.
    let pty = common::pty::Pty::new();
    let mut child = pty.spawn(build());
    assert!(!child.wait().unwrap().success());
    pty.wait_for("linux/arm64`");
    let shown = pty.text().replace("\r\n", "\n");
    let words = |text: &str| {
        text.split_whitespace()
            .filter(|w| !matches!(*w, "×" | "│" | "help:"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        words(&shown).contains(&format!("unknown platform `{bad}` {help}")),
        "{shown}"
    );
    assert!(
        !shown
            .lines()
            .any(|l| l == message || l.contains("help: use") && l.contains("--platform")),
        "not wrapped on a terminal:\n{shown}"
    );
    for line in shown.lines() {
        assert!(
            line.chars().count() <= 111 || words(line).split(' ').count() == 1,
            "{line:?} is past the terminal's width:\n{shown}"
        );
    }
}

/// `duckc build --progress plain --pull=never .` in `ctx`, which must fail with status 1: its
/// stderr from the first `marker` on (the whole of it when there is none).
fn failed_plain_build(store: &Path, ctx: &Path, marker: &str) -> String {
    let out = common::output(duckc(store).current_dir(ctx).args([
        "build",
        "--progress",
        "plain",
        "--pull=never",
        ".",
    ]));
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    err[err.find(marker).unwrap_or(0)..].to_owned()
}
