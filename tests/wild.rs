//! Dockerfiles from the wild (issue 18): real-world-style Dockerfiles from
//! `tests/dockerfiles/wild-*.Dockerfile`, built end to end by the real `duckc` binary. Each test
//! is one class of the issue: base-image variables, `COPY --from` over a deletion, `SHELL` and
//! the config fields Docker records, BuildKit's lexer edges, lints at BuildKit's volume, and
//! where `check` looks.

mod common;

use std::path::{Path, PathBuf};

use common::registry::Registry;
use common::{duckc, ok, output, require_root};

fn dockerfiles() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dockerfiles")
}

/// A store with the busybox fixture as `busybox:latest` and `busybox:1.36`.
fn store(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    common::store::load_busybox(&store);
    ok(duckc(&store).args(["tag", "busybox:latest", "busybox:1.36"]));
    store
}

/// A build context holding the corpus Dockerfile `name` as `Dockerfile`, and `duck.txt`.
fn context(dir: &Path, name: &str) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(
        dockerfiles().join(format!("{name}.Dockerfile")),
        ctx.join("Dockerfile"),
    )
    .unwrap();
    std::fs::write(ctx.join("duck.txt"), "quack\n").unwrap();
    ctx
}

/// `duckc build -t TAG .` in `ctx`: (stdout, stderr), failing the test if it fails.
fn build(store: &Path, ctx: &Path, tag: &str) -> (String, String) {
    let out = output(duckc(store).current_dir(ctx).args([
        "build",
        "--progress",
        "plain",
        "-t",
        tag,
        ".",
    ]));
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        out.status.success(),
        "build of {} failed\nstdout:\n{stdout}\nstderr:\n{stderr}",
        ctx.display()
    );
    (stdout, stderr)
}

/// A base image built from a Dockerfile text in its own context.
fn base_image(store: &Path, dir: &Path, tag: &str, dockerfile: &str) {
    let ctx = dir.join(format!("base-{}", tag.replace(['/', ':'], "-")));
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    build(store, &ctx, tag);
}

fn config(store: &Path, image: &str) -> serde_json::Value {
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(duckc(store).args(["inspect", image]))).unwrap();
    inspect[0]["Config"].clone()
}

fn run(store: &Path, image: &str, args: &[&str]) -> String {
    ok(duckc(store).args(["run", "--rm", image]).args(args))
}

/// Class 1: the base image's ENV is in scope for the stage's ENV, ARG defaults, WORKDIR, COPY,
/// USER and RUN, as BuildKit has it (`ENV PATH=/usr/local/go/bin:$PATH`).
#[test]
fn base_image_env_is_in_scope() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    base_image(
        &store,
        tmp.path(),
        "wild/base:1",
        "FROM busybox:1.36\nENV PATH=/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin APPDIR=/srv/app GREETING=quack APPUSER=nobody\n",
    );
    let ctx = context(tmp.path(), "wild-base-env");
    build(&store, &ctx, "wild/env:1");
    let c = config(&store, "wild/env:1");
    let env: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"PATH=/usr/local/go/bin:/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
        "{c}"
    );
    assert_eq!(c["WorkingDir"], "/srv/app", "{c}");
    assert_eq!(c["User"], "nobody", "{c}");
    assert_eq!(
        run(
            &store,
            "wild/env:1",
            &["cat", "/srv/app/out.txt", "/srv/app/duck.txt"]
        ),
        "quack /srv/app/data /usr/local/go/bin:/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin\nquack\n"
    );
}

/// Class 1, a base the build pulls: its ENV is read once it is in the store, before any step
/// runs, and the Dockerfile is evaluated again with it.
#[test]
fn base_env_of_a_pulled_base_is_in_scope() {
    if !require_root() || !common::require_tool("docker-registry") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let registry = Registry::start("");
    let host = registry.host();
    let pusher = store(tmp.path());
    base_image(
        &pusher,
        tmp.path(),
        "wild/base:1",
        "FROM busybox:1.36\nENV PATH=/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin APPDIR=/srv/app GREETING=quack APPUSER=nobody\n",
    );
    let remote = format!("{host}/wild/base:1");
    ok(duckc(&pusher).args(["tag", "wild/base:1", &remote]));
    ok(duckc(&pusher)
        .env("DOCKER_CONFIG", tmp.path().join("docker-config"))
        .args(["push", &remote]));
    // A store without the base: the build pulls it.
    let store = tmp.path().join("puller");
    let ctx = context(tmp.path(), "wild-base-env");
    let text = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        text.replace("FROM wild/base:1", &format!("FROM {remote}")),
    )
    .unwrap();
    let out = output(
        duckc(&store)
            .env("DOCKER_CONFIG", tmp.path().join("docker-config"))
            .current_dir(&ctx)
            .args(["build", "--progress", "plain", "-t", "wild/pulled:1", "."]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let c = config(&store, "wild/pulled:1");
    assert_eq!(c["WorkingDir"], "/srv/app", "{c}");
    assert_eq!(
        run(&store, "wild/pulled:1", &["cat", "/srv/app/out.txt"]),
        "quack /srv/app/data /usr/local/go/bin:/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin\n"
    );
}

/// Class 2: `COPY --from` a stage whose later layer deleted what an earlier one made copies
/// the merged view: the deleted files are gone, the directory that held them is there.
#[test]
fn copy_from_sees_later_deletions() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "wild-copy-over-deletion");
    build(&store, &ctx, "wild/deleted:1");
    assert_eq!(
        run(
            &store,
            "wild/deleted:1",
            &[
                "sh",
                "-c",
                "ls -A /copied/apt/lists; cat /usr/local/bin/tool"
            ]
        ),
        "built\n"
    );
}

/// Class 5, first half: a `RUN` leaves in its layer only what the command made; the generated
/// `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` are mounted, never written into it.
#[test]
fn run_layer_holds_only_what_the_command_made() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = tmp.path().join("run-layer");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:1.36\nRUN cat /etc/hosts /etc/resolv.conf /etc/hostname > /seen.txt\n",
    )
    .unwrap();
    let layout = tmp.path().join("oci");
    ok(duckc(&store)
        .current_dir(&ctx)
        .arg("build")
        .arg("-o")
        .arg(format!("oci:{}", layout.display()))
        .arg("."));
    let (_, layers) = common::oci_image(&layout);
    let top = layers.last().unwrap();
    let listing = ok(std::process::Command::new("tar").arg("-tf").arg(top));
    assert_eq!(listing, "seen.txt\n");
}

/// Class 4: `SHELL` runs every later shell-form `RUN` (in stages built `FROM` this one too)
/// and the shell-form `CMD`, and is recorded in the config with `VOLUME`, `HEALTHCHECK`,
/// `STOPSIGNAL` and `ONBUILD`, as Docker records them.
#[test]
fn shell_and_config_fields_as_docker_records_them() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "wild-shell-config");
    build(&store, &ctx, "wild/shell:1");
    assert_eq!(
        run(&store, "wild/shell:1", &["cat", "/shell.log"]),
        "-c echo in-base\n-c echo in-child\n"
    );
    let c = config(&store, "wild/shell:1");
    assert_eq!(c["Shell"], serde_json::json!(["/bin/logsh", "-c"]), "{c}");
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/logsh", "-c", "echo hello"]),
        "{c}"
    );
    assert_eq!(c["StopSignal"], "SIGINT", "{c}");
    assert_eq!(c["Volumes"], serde_json::json!({"/data": {}}), "{c}");
    assert_eq!(
        c["ExposedPorts"],
        serde_json::json!({"80/tcp": {}, "8000/udp": {}, "8001/udp": {}}),
        "{c}"
    );
    assert_eq!(
        c["Healthcheck"],
        serde_json::json!({
            "Test": ["CMD-SHELL", "wget -q -O- http://127.0.0.1/ || exit 1"],
            "Interval": 30_000_000_000u64,
            "Timeout": 5_000_000_000u64,
            "Retries": 3,
        }),
        "{c}"
    );
    assert_eq!(
        c["OnBuild"],
        serde_json::json!(["RUN echo from-a-child"]),
        "{c}"
    );
    // An image built on it: its `Shell` runs the shell-form `RUN` and `CMD` (BuildKit's
    // rule), and the config keeps it; `OnBuild` is not inherited.
    let ctx = tmp.path().join("on-shell-image");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM wild/shell:1\nRUN echo from-an-image\nCMD echo again\n",
    )
    .unwrap();
    build(&store, &ctx, "wild/shell:2");
    assert_eq!(
        run(&store, "wild/shell:2", &["tail", "-n", "1", "/shell.log"]),
        "-c echo from-an-image\n"
    );
    let c = config(&store, "wild/shell:2");
    assert_eq!(c["Shell"], serde_json::json!(["/bin/logsh", "-c"]), "{c}");
    assert_eq!(
        c["Cmd"],
        serde_json::json!(["/bin/logsh", "-c", "echo again"]),
        "{c}"
    );
    assert_eq!(c["OnBuild"], serde_json::Value::Null, "{c}");
}

/// Class 8: BuildKit's lexer: `\\` at the end of a line ends it; `<< EOF` opens a heredoc;
/// `EXPOSE ["80"]` is an invalid port, as in BuildKit.
#[test]
fn lexer_edges_as_buildkit() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "wild-lexer");
    build(&store, &ctx, "wild/lexer:1");
    assert_eq!(
        run(
            &store,
            "wild/lexer:1",
            &["cat", "/two.txt", "/heredoc.txt", "/script.txt"]
        ),
        "two\nspaced marker\nscript\n"
    );
    let ctx = context(tmp.path(), "wild-expose-json");
    let out = output(duckc(&store).current_dir(&ctx).args(["build", "."]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("invalid port `[80]`"), "{stderr}");
    assert!(stderr.contains("EXPOSE 80"), "{stderr}");
}

/// Class 9: `duckc build` of the tutorial's Dockerfile prints what BuildKit's default build
/// checks print (nothing); `duckc check` shows duckc's own lints; `# check=skip=` still works.
#[test]
fn build_shows_buildkit_lints_only() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    // A stand-in `debian:bookworm` whose `apt-get` only says what it was asked.
    base_image(
        &store,
        tmp.path(),
        "debian:bookworm",
        "FROM busybox:1.36\nRUN printf '#!/bin/sh\\necho apt-get \"$*\"\\n' > /bin/apt-get && chmod 755 /bin/apt-get\n",
    );
    let ctx = context(tmp.path(), "wild-tutorial");
    let (stdout, stderr) = build(&store, &ctx, "wild/tutorial:1");
    assert_eq!(stderr, "", "the build printed lints BuildKit does not show");
    assert!(stdout.contains("apt-get install -y curl"), "{stdout}");
    let checked = output(duckc(&store).current_dir(&ctx).arg("check"));
    let lints = String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success(), "{lints}");
    insta::assert_snapshot!("tutorial_check", lints);
    // BuildKit's own checks still show on `build`, and `# check=skip=` silences them.
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM debian:bookworm\nCMD curl --version\n",
    )
    .unwrap();
    let (_, stderr) = build(&store, &ctx, "wild/tutorial:2");
    assert!(stderr.contains("JSONArgsRecommended"), "{stderr}");
    std::fs::write(
        ctx.join("Dockerfile"),
        "# check=skip=JSONArgsRecommended\nFROM debian:bookworm\nCMD curl --version\n",
    )
    .unwrap();
    let (_, stderr) = build(&store, &ctx, "wild/tutorial:3");
    assert_eq!(stderr, "");
}

/// Class 10: `duckc check DIR` looks in DIR as `build DIR` does, and a directory with both a
/// KDL spec and a Dockerfile says which it picked and how to pick the other.
#[test]
fn check_looks_where_build_looks() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let dir = tmp.path().join("project");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("Dockerfile"), "FROM busybox:1.36\nCMD ls -l\n").unwrap();
    let out = output(duckc(&store).arg("check").arg(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("JSONArgsRecommended"), "{stderr}");
    // Both: the KDL spec wins, with a note naming the other.
    std::fs::write(
        dir.join("env.kdl"),
        "env \"app\" {\n    from \"busybox:1.36\"\n}\n",
    )
    .unwrap();
    let out = output(duckc(&store).arg("check").arg(&dir));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("holds both `env.kdl` and `Dockerfile`; using `env.kdl`"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("-f {}", dir.join("Dockerfile").display())),
        "{stderr}"
    );
    assert!(stdout.contains("ok, 1 envs"), "{stdout}");
    // With no argument, in the directory.
    let out = output(duckc(&store).current_dir(&dir).arg("check"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("using `env.kdl`"), "{stderr}");
}
