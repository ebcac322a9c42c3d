//! End-to-end tests of building Dockerfiles with `duckc build`: the seed tutorial's four
//! Dockerfiles build and run, with the seed's cache behaviour; `duckc convert` gives a spec
//! that builds to the same image; `COPY --from` cannot follow a symlink out of the source
//! stage; a cache-mount id cannot leave duckc's cache directory (SECURITY 25); and, where
//! `dockerd` is installed, the file trees and configs agree with `docker build`.

mod common;

use std::path::{Path, PathBuf};

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

/// `duckc build -t TAG .` in `ctx`; its stdout.
fn build(store: &Path, ctx: &Path, tag: &str) -> String {
    ok(duckc(store)
        .current_dir(ctx)
        .args(["build", "--progress", "plain", "-t", tag, "."]))
}

/// The step lines of a build and what followed each: `cached`, `built`, `config` (a step
/// that changes only the config, with its id), `none` (no id printed).
fn steps(out: &str) -> Vec<(String, &'static str)> {
    const CONFIG_ONLY: [&str; 12] = [
        "ARG",
        "CMD",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "SHELL",
        "STOPSIGNAL",
        "USER",
    ];
    let mut steps: Vec<(String, &'static str)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Step ") {
            let text = rest.split_once(" : ").map(|(_, t)| t).unwrap_or(rest);
            steps.push((text.to_owned(), "none"));
        } else if line == " ---> Using cache" {
            steps.last_mut().unwrap().1 = "cached";
        } else if line.starts_with(" ---> ")
            && let Some(last) = steps.last_mut()
            && last.1 == "none"
        {
            let keyword = last.0.split(' ').next().unwrap_or_default();
            last.1 = if CONFIG_ONLY.contains(&keyword) {
                "config"
            } else {
                "built"
            };
        }
    }
    steps
}

/// Build output with its 12-hex-digit ids (layers, nodes, images) replaced, for snapshots.
fn redact(out: &str) -> String {
    out.lines()
        .map(|l| {
            let words: Vec<&str> = l
                .split(' ')
                .map(|w| {
                    if w.len() == 12 && w.bytes().all(|b| b.is_ascii_hexdigit()) {
                        "<id>"
                    } else {
                        w
                    }
                })
                .collect();
            words.join(" ") + "\n"
        })
        .collect()
}

fn image_id(out: &str) -> String {
    // The last one: a spec builds every env, the target (last stage) last.
    out.lines()
        .rev()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no image id in:\n{out}"))
        .to_owned()
}

fn run(store: &Path, image: &str, args: &[&str]) -> String {
    ok(duckc(store).args(["run", "--rm", image]).args(args))
}

#[test]
fn seed_dockerfiles_build_and_run() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());

    let a = context(tmp.path(), "seed-a");
    let out = build(&store, &a, "duck:a");
    assert!(out.contains("Step 1/3 : FROM busybox\n"), "{out}");
    assert!(out.contains("Step 2/3 : RUN touch new_file1\n"), "{out}");
    assert!(out.contains("Step 3/3 : CMD ls -l\n"), "{out}");
    assert!(out.contains("Successfully tagged duck:a"), "{out}");
    // The image's own CMD lists the working directory, which holds the new file.
    let listing = ok(duckc(&store).args(["run", "--rm", "duck:a"]));
    assert!(listing.contains("new_file1"), "{listing}");

    let b = context(tmp.path(), "seed-b-layers");
    build(&store, &b, "duck:b");
    assert_eq!(run(&store, "duck:b", &[]), "quack\n");
    assert_eq!(
        run(
            &store,
            "duck:b",
            &["cat", "/app/three.txt", "/app/size.txt"]
        ),
        "step three\n6 /app/duck.txt\n"
    );

    let c = context(tmp.path(), "seed-c-copy");
    build(&store, &c, "duck:c");
    assert_eq!(run(&store, "duck:c", &[]), "quack\n");

    let d = context(tmp.path(), "seed-d-multistage");
    let out = build(&store, &d, "duck:d");
    // Every stage the target needs is built (the tester stage through `--from=1`), its
    // `RUN grep` output shown.
    assert!(
        out.contains("Step 5/9 : RUN grep quack /duck.txt\n"),
        "{out}"
    );
    assert_eq!(run(&store, "duck:d", &[]), "quack\n");
    assert_eq!(run(&store, "duck:d", &["cat", "/tested.txt"]), "quack\n");
    // `--target` builds a stage and only what it needs.
    let out = ok(duckc(&store).current_dir(&d).args([
        "build",
        "--progress",
        "plain",
        "--target",
        "builder",
        "-t",
        "duck:builder",
        ".",
    ]));
    assert_eq!(
        steps(&out).iter().map(|s| s.0.as_str()).collect::<Vec<_>>(),
        [
            "FROM busybox:1.36 AS builder",
            "RUN echo \"quack\" > /duck.txt"
        ]
    );
    // A second build of the whole file takes everything from the cache.
    let again = build(&store, &d, "duck:d");
    assert!(
        steps(&again)
            .iter()
            .all(|(text, s)| *s != "built" || text.starts_with("FROM")),
        "{again}"
    );
}

#[test]
fn cache_follows_the_seed() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = context(tmp.path(), "seed-b-layers");
    let first = build(&store, &ctx, "duck:b");
    assert_eq!(
        steps(&first).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "built", "built", "built", "built", "config"],
        "{first}"
    );

    // Editing duck.txt rebuilds from `COPY duck.txt` on.
    std::fs::write(ctx.join("duck.txt"), "QUACK!\n").unwrap();
    let edited = build(&store, &ctx, "duck:b");
    assert_eq!(
        steps(&edited).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "cached", "cached", "built", "built", "config"],
        "{edited}"
    );
    assert_eq!(run(&store, "duck:b", &[]), "QUACK!\n");
    insta::assert_snapshot!("seed_b_after_an_edit", redact(&edited));

    // A `.dockerignore`d file does not enter the context: changing it changes nothing.
    std::fs::write(ctx.join(".dockerignore"), "notes.md\n").unwrap();
    std::fs::write(ctx.join("notes.md"), "one").unwrap();
    let before = build(&store, &ctx, "duck:b");
    std::fs::write(ctx.join("notes.md"), "two").unwrap();
    let after = build(&store, &ctx, "duck:b");
    assert_eq!(image_id(&after), image_id(&before));
    // The cached rebuild prints every step's id as before, the config-only `CMD`'s included.
    let ids = |out: &str| -> Vec<String> {
        out.lines()
            .filter(|l| l.starts_with(" ---> ") && *l != " ---> Using cache")
            .map(str::to_owned)
            .collect()
    };
    assert_eq!(ids(&after), ids(&before), "{before}\n{after}");
    assert_eq!(ids(&after).len(), 6, "{after}");

    // Adding a final RUN reuses every earlier step.
    let mut text = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    text.push_str("RUN echo done > /app/done.txt\n");
    std::fs::write(ctx.join("Dockerfile"), text).unwrap();
    let added = build(&store, &ctx, "duck:b");
    assert_eq!(
        steps(&added).iter().map(|s| s.1).collect::<Vec<_>>(),
        [
            "built", "cached", "cached", "cached", "cached", "config", "built"
        ],
        "{added}"
    );

    // `--no-cache` executes every step again, to the same image.
    let id = image_id(&added);
    let fresh = ok(duckc(&store).current_dir(&ctx).args([
        "build",
        "--progress",
        "plain",
        "--no-cache",
        ".",
    ]));
    assert!(!fresh.contains("Using cache"), "{fresh}");
    assert_eq!(image_id(&fresh), id);
}

#[test]
fn convert_gives_the_same_image() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    for name in [
        "seed-a",
        "seed-b-layers",
        "seed-c-copy",
        "seed-d-multistage",
    ] {
        let ctx = context(tmp.path(), name);
        let id = image_id(&build(&store, &ctx, "duck:docker"));
        let spec = ok(duckc(&store).current_dir(&ctx).arg("convert"));
        std::fs::write(ctx.join("env.kdl"), &spec).unwrap();
        let out =
            ok(duckc(&store)
                .current_dir(&ctx)
                .args(["build", "--progress", "plain", "env.kdl"]));
        assert_eq!(image_id(&out), id, "{name}: {spec}\n{out}");
    }
    let ctx = context(tmp.path(), "seed-b-layers");
    insta::assert_snapshot!(
        ok(duckc(&store).arg("convert").arg(ctx.join("Dockerfile"))),
        @r#"
    env "stage-0" {
        from "busybox:1.36"
        workdir "/app"
        run "echo \"step three\" > /app/three.txt" network="bridge"
        copy "duck.txt" "/app/duck.txt"
        run "wc -c /app/duck.txt > /app/size.txt" network="bridge"
        cmd "cat" "/app/duck.txt"
    }
    "#
    );
    // What has no spec form is an error, not dropped.
    let v = dockerfile(
        tmp.path(),
        "volume",
        "FROM busybox:1.36\nVOLUME /data\nCOPY --from=busybox:1.36 /bin/busybox /bb\n",
    );
    let out = output(duckc(&store).current_dir(&v).arg("convert"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`VOLUME` has no spec form"), "{err}");
    assert!(err.contains("(an image) has no spec form"), "{err}");
}

/// Writes `text` as the Dockerfile of a new context `name`.
fn dockerfile(dir: &Path, name: &str, text: &str) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), text).unwrap();
    ctx
}

#[test]
fn cache_mount_ids_stay_in_the_cache_directory() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = dockerfile(
        tmp.path(),
        "cache",
        "FROM busybox:1.36\n\
         RUN --mount=type=cache,id=../../../../root,target=/cache echo kept > /cache/escaped\n\
         RUN --mount=type=cache,id=../../../../root,target=/cache cat /cache/escaped > /seen\n\
         RUN --mount=type=tmpfs,target=/scratch touch /scratch/gone\n",
    );
    build(&store, &ctx, "duck:cache");
    // The file lives under `<store>/cache-mounts/<sha256 of the id>`, nowhere else.
    let dirs: Vec<PathBuf> = std::fs::read_dir(store.join("cache-mounts"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(dirs.len(), 1, "{dirs:?}");
    let name = dirs[0].file_name().unwrap().to_str().unwrap().to_owned();
    assert_eq!(name.len(), 64);
    assert!(name.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        std::fs::read_to_string(dirs[0].join("escaped")).unwrap(),
        "kept\n"
    );
    assert!(!Path::new("/root/escaped").exists());
    assert!(!tmp.path().join("root/escaped").exists());
    // The second step saw the first one's cache; neither mount is in the image.
    assert_eq!(run(&store, "duck:cache", &["cat", "/seen"]), "kept\n");
    let ls = output(duckc(&store).args([
        "run",
        "--rm",
        "duck:cache",
        "ls",
        "/cache/escaped",
        "/scratch/gone",
    ]));
    assert!(!ls.status.success());
}

#[test]
fn copy_from_resolves_symlinks_inside_the_source_stage() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    // `/link` points far above the root, and `/abs` at an absolute path: both must resolve
    // inside the builder stage (to its own /etc/passwd), never to the host's.
    let ctx = dockerfile(
        tmp.path(),
        "escape",
        "FROM busybox:1.36 AS builder\n\
         RUN ln -s ../../../../../../../etc/passwd /link && ln -s /etc/passwd /abs \
             && mkdir -p /out/sub && echo x > /out/sub/file && ln -s /etc/shadow /out/dangling\n\
         RUN mkdir -p /out/gone /out/keep && echo 1 > /out/gone/f && echo k > /out/keep/f \
             && echo old > /out/old\n\
         RUN rm -rf /out/gone /out/old && mkdir /out/gone && echo new > /out/gone/g\n\
         FROM scratch\n\
         COPY --from=builder /link /copied\n\
         COPY --from=builder /abs /copied-abs\n\
         COPY --from=builder /out /out\n\
         COPY --from=builder /bin/busybox /bin/\n",
    );
    build(&store, &ctx, "duck:escape");
    let inside = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n";
    assert_eq!(
        run(&store, "duck:escape", &["/bin/busybox", "cat", "/copied"]),
        inside
    );
    assert_eq!(
        run(
            &store,
            "duck:escape",
            &["/bin/busybox", "cat", "/copied-abs"]
        ),
        inside
    );
    // Below a copied directory, symlinks stay links.
    assert_eq!(
        run(
            &store,
            "duck:escape",
            &["/bin/busybox", "readlink", "/out/dangling"]
        ),
        "/etc/shadow\n"
    );
    assert_eq!(
        run(
            &store,
            "duck:escape",
            &["/bin/busybox", "cat", "/out/sub/file"]
        ),
        "x\n"
    );
    // The source is seen as the overlay shows it: a deleted file (a whiteout) is gone, a
    // directory deleted and made again (opaque) holds only its new files.
    assert_eq!(
        run(
            &store,
            "duck:escape",
            &["/bin/busybox", "find", "/out", "-type", "f"]
        )
        .lines()
        .collect::<std::collections::BTreeSet<_>>(),
        ["/out/gone/g", "/out/keep/f", "/out/sub/file"].into()
    );
}

/// A Dockerfile with the config instructions and copy flags the conformance test compares.
const CONFORMANCE: &str = r#"FROM busybox:1.36 AS build
WORKDIR /src
COPY duck.txt ./
RUN mkdir -p /out/bin && cp duck.txt /out/ && ln -s ../duck.txt /out/bin/link \
    && echo made > /out/made.txt && chmod 0600 /out/made.txt
FROM busybox:1.36
ENV GREETING=quack LEVEL=3
LABEL org.opencontainers.image.title="duck" maintainer.name=ducks
EXPOSE 8080 53/udp
COPY --from=build /out /opt/duck
COPY --chmod=0755 duck.txt /usr/local/bin/duck
COPY --chown=65534:65534 duck.txt /home/nobody/
WORKDIR /opt/duck
RUN echo "$GREETING" > greeting.txt
USER nobody
ENTRYPOINT ["/bin/cat"]
CMD ["/opt/duck/duck.txt"]
"#;

/// `WORKDIR`s that no `RUN` follows.
const WORKDIR_ONLY: &str = "FROM busybox:1.36\n\
WORKDIR /made/here\n\
USER nobody\n\
WORKDIR /tmp/nobodys/dir\n\
CMD [\"pwd\"]\n";

/// `COPY` of heredocs: one to a file, two into a directory, substituted unless quoted.
const HEREDOC: &str = "FROM busybox:1.36\n\
ENV NAME=duck\n\
COPY <<EOF /greeting.txt\n\
hello $NAME\n\
EOF\n\
COPY --chmod=0755 <<A <<'B' /notes/\n\
one\n\
A\n\
two $NAME\n\
B\n\
CMD [\"cat\", \"/greeting.txt\", \"/notes/A\", \"/notes/B\"]\n";

/// Issue 19's cases, over a merged-/usr base (`common::merged_usr_rootfs`): a `COPY` into
/// the symlinked `/bin` and through links that leave the root if followed on the host.
const WRITES_BIN: &str = "FROM merged:latest AS tools\n\
RUN echo tooled > /tool\n\
FROM merged:latest\n\
COPY server /bin/\n\
COPY --from=tools /tool /bin/\n\
COPY note.txt /escape/\n\
COPY note.txt /abs/sub/\n\
WORKDIR /escape/work\n\
CMD [\"sh\"]\n";

/// `COPY` and `WORKDIR` onto existing directories: `/tmp` 1777, a home owned by 1000:1000, a
/// 0700 directory.
const WRITES_OWNERS: &str = "FROM merged:latest\n\
COPY note.txt /tmp/\n\
COPY note.txt /home/duck/\n\
COPY note.txt /private/sub/\n\
WORKDIR /home/duck/work\n\
WORKDIR /tmp\n\
USER duck\n\
RUN touch /tmp/by-duck /home/duck/by-duck\n\
USER root\n\
WORKDIR /private\n\
CMD [\"sh\"]\n";

/// A chain holding one layer more than once.
const WRITES_TWICE: &str = "FROM merged:latest\n\
RUN mkdir /app\n\
WORKDIR /app\n\
RUN true\n\
RUN true\n\
RUN echo made > /app/made\n\
CMD [\"sh\"]\n";

/// A `dockerd` private to one test, started as PEERS.md says and stopped when dropped.
struct Dockerd {
    dir: tempfile::TempDir,
    child: std::process::Child,
}

impl Dockerd {
    fn start() -> Dockerd {
        let dir = tempfile::Builder::new()
            .prefix("dkr")
            .tempdir_in("/tmp")
            .unwrap();
        let d = dir.path();
        let log = std::fs::File::create(d.join("log")).unwrap();
        let child = std::process::Command::new("dockerd")
            .arg("--data-root")
            .arg(d.join("data"))
            .arg("--exec-root")
            .arg(d.join("exec"))
            .arg("--pidfile")
            .arg(d.join("pid"))
            .arg("-H")
            .arg(format!("unix://{}", d.join("docker.sock").display()))
            .args(["--storage-driver", "overlay2"])
            .args(["--exec-opt", "native.cgroupdriver=cgroupfs"])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("start dockerd");
        let daemon = Dockerd { dir, child };
        for _ in 0..300 {
            if daemon
                .docker()
                .arg("version")
                .output()
                .is_ok_and(|o| o.status.success())
            {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let log = std::fs::read_to_string(daemon.dir.path().join("log")).unwrap_or_default();
        panic!("dockerd did not come up:\n{log}");
    }

    /// A `docker` client for this daemon. Debian's client (`/usr/bin/docker`) runs BuildKit
    /// builds itself; a newer client elsewhere on PATH may need buildx.
    fn docker(&self) -> std::process::Command {
        let bin = if Path::new("/usr/bin/docker").exists() {
            "/usr/bin/docker"
        } else {
            "docker"
        };
        let mut cmd = std::process::Command::new(bin);
        cmd.env(
            "DOCKER_HOST",
            format!("unix://{}", self.dir.path().join("docker.sock").display()),
        )
        .env("DOCKER_BUILDKIT", "1");
        cmd
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc_kill(self.child.id() as i32, 15);
        }
        let _ = self.child.wait();
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// The tree of `root` as `describe` writes it, without what `docker export` adds to every
/// container (`/.dockerenv`, the `/etc/hosts`-style mount points, the contents of `/dev`,
/// `/proc` and `/sys`).
fn tree(root: &Path) -> String {
    let described = duckc_layer::tree::describe(root).unwrap();
    described
        .lines()
        .filter(|l| {
            let path = l.split(' ').next().unwrap_or("");
            !matches!(
                path,
                ".dockerenv" | "etc/hostname" | "etc/hosts" | "etc/resolv.conf" | "etc/mtab"
            ) && !["dev/", "proc/", "sys/"]
                .iter()
                .any(|p| path.starts_with(p))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

/// The fields of an image config the conformance test compares. BuildKit gives an image whose
/// base sets no `PATH` the default one; duckc does not (a documented difference), so that one
/// entry is dropped from Docker's side when the base has none.
fn config_fields(config: &serde_json::Value) -> serde_json::Value {
    let default_path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    let env: Vec<serde_json::Value> = config["Env"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|e| e.as_str() != Some(default_path))
        .collect();
    let or_null = |v: &serde_json::Value| match v {
        serde_json::Value::Object(m) if m.is_empty() => serde_json::Value::Null,
        serde_json::Value::String(s) if s.is_empty() => serde_json::Value::Null,
        other => other.clone(),
    };
    serde_json::json!({
        "Env": env,
        "Cmd": config["Cmd"],
        "Entrypoint": config["Entrypoint"],
        "WorkingDir": or_null(&config["WorkingDir"]),
        "User": or_null(&config["User"]),
        "ExposedPorts": or_null(&config["ExposedPorts"]),
        "Labels": or_null(&config["Labels"]),
        "Shell": config["Shell"],
        "Healthcheck": config["Healthcheck"],
        "StopSignal": or_null(&config["StopSignal"]),
        "Volumes": or_null(&config["Volumes"]),
        "OnBuild": config["OnBuild"],
    })
}

#[test]
fn conformance_with_docker_build() {
    if !require_root() || !common::require_tool("dockerd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let daemon = Dockerd::start();
    // The same busybox root filesystem as duckc's fixture, as Docker's base.
    let rootfs = tmp.path().join("rootfs");
    common::busybox_rootfs(&rootfs);
    let tar = output(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .args(["--numeric-owner", "-c", "."]),
    );
    assert!(tar.status.success());
    let import = tmp.path().join("rootfs.tar");
    std::fs::write(&import, &tar.stdout).unwrap();
    ok(daemon
        .docker()
        .arg("import")
        .arg(&import)
        .arg("busybox:latest"));
    ok(daemon
        .docker()
        .args(["tag", "busybox:latest", "busybox:1.36"]));

    // The merged-/usr base of issue 19's cases, the same tree on both sides.
    let merged = tmp.path().join("merged");
    common::merged_usr_rootfs(&merged, "duckc-conformance-canary");
    let tar = output(
        std::process::Command::new("tar")
            .arg("-C")
            .arg(&merged)
            .args(["--numeric-owner", "-c", "."]),
    );
    assert!(tar.status.success());
    let merged_tar = tmp.path().join("merged.tar");
    std::fs::write(&merged_tar, &tar.stdout).unwrap();
    ok(daemon
        .docker()
        .arg("import")
        .arg(&merged_tar)
        .arg("merged:latest"));
    ok(duckc(&store)
        .args(["import", "--tag", "merged:latest"])
        .arg(&merged));

    let mut cases: Vec<(String, PathBuf)> = [
        "seed-a",
        "seed-b-layers",
        "seed-c-copy",
        "seed-d-multistage",
    ]
    .iter()
    .map(|n| (n.to_string(), context(tmp.path(), n)))
    .collect();
    // WORKDIR without a later RUN: the directories exist in the image all the same, the
    // ones under USER owned by that user.
    cases.push((
        "workdir".to_owned(),
        dockerfile(tmp.path(), "workdir", WORKDIR_ONLY),
    ));
    // No `COPY <<EOF` case: Debian's Docker 20.10 parses heredocs only under a
    // `# syntax=docker/dockerfile:1.4` frontend, which it would have to pull.
    let conf = dockerfile(tmp.path(), "conformance", CONFORMANCE);
    std::fs::write(conf.join("duck.txt"), "quack\n").unwrap();
    cases.push(("conformance".to_owned(), conf));
    // Dockerfiles from the wild (issue 18): a base image's ENV in scope, `COPY --from` a stage
    // that deleted files later, `SHELL` and the config fields Docker records.
    let base = dockerfile(
        tmp.path(),
        "wild-base",
        "FROM busybox:1.36\nENV PATH=/opt/tool/bin:/usr/sbin:/usr/bin:/sbin:/bin APPDIR=/srv/app GREETING=quack APPUSER=nobody\nCMD [\"sh\"]\n",
    );
    ok(daemon
        .docker()
        .current_dir(&base)
        .args(["build", "-q", "-t", "wild/base:1", "."]));
    build(&store, &base, "wild/base:1");
    for name in [
        "wild-base-env",
        "wild-copy-over-deletion",
        "wild-shell-config",
    ] {
        cases.push((name.to_owned(), context(tmp.path(), name)));
    }

    for (name, text) in [
        ("writes-bin", WRITES_BIN),
        ("writes-owners", WRITES_OWNERS),
        ("writes-twice", WRITES_TWICE),
    ] {
        let ctx = dockerfile(tmp.path(), name, text);
        std::fs::write(ctx.join("server"), "#!/bin/sh\necho served\n").unwrap();
        std::fs::set_permissions(
            ctx.join("server"),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(ctx.join("note.txt"), "quack\n").unwrap();
        cases.push((name.to_owned(), ctx));
    }

    let duckc_store = duckc_store::Store::open(&store).unwrap();
    for (name, ctx) in &cases {
        let tag = format!("conf/{name}:latest");
        ok(daemon
            .docker()
            .current_dir(ctx)
            .args(["build", "-q", "-t", &tag, "."]));
        build(&store, ctx, &tag);

        // Configs.
        let inspect = ok(daemon.docker().args(["image", "inspect", &tag]));
        let docker: serde_json::Value = serde_json::from_str(&inspect).unwrap();
        let image = duckc_image::resolve(&duckc_store, &tag).unwrap();
        // The config as stored: Docker's fields the OCI type lacks (`Shell`…) included.
        let ours: serde_json::Value = serde_json::from_slice(
            &duckc_store
                .read_blob(&image.config_digest, duckc_image::MAX_METADATA_BYTES)
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            config_fields(&ours["config"]),
            config_fields(&docker[0]["Config"]),
            "{name}: configs differ"
        );
        if name.starts_with("writes-") {
            // Every step's layer is kept, empty and repeated ones included, as BuildKit keeps
            // them.
            assert_eq!(
                image.layers.len(),
                docker[0]["RootFS"]["Layers"].as_array().map_or(0, Vec::len),
                "{name}: layer counts differ"
            );
        }

        // File trees: Docker's through `docker export` of a created container, duckc's by
        // extracting the image's layers.
        let theirs = tmp.path().join(format!("{name}-docker"));
        let mine = tmp.path().join(format!("{name}-duckc"));
        std::fs::create_dir_all(&theirs).unwrap();
        std::fs::create_dir_all(&mine).unwrap();
        let id = ok(daemon.docker().args(["create", &tag])).trim().to_owned();
        let export = tmp.path().join(format!("{name}.tar"));
        ok(daemon.docker().args(["export", "-o"]).arg(&export).arg(&id));
        ok(std::process::Command::new("tar")
            .arg("-C")
            .arg(&theirs)
            .args(["--numeric-owner", "-xpf"])
            .arg(&export));
        duckc_image::unpack_rootfs(&duckc_store, &image, &mine).unwrap();
        let (a, b) = (tree(&mine), tree(&theirs));
        if a != b {
            let diff: Vec<String> = a
                .lines()
                .filter(|l| !b.lines().any(|m| m == *l))
                .map(|l| format!("duckc only:  {l}"))
                .chain(
                    b.lines()
                        .filter(|l| !a.lines().any(|m| m == *l))
                        .map(|l| format!("docker only: {l}")),
                )
                .collect();
            panic!("{name}: file trees differ:\n{}", diff.join("\n"));
        }
    }
    drop(daemon);
}

#[test]
fn add_unpacks_local_archives_inside_the_destination() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = dockerfile(
        tmp.path(),
        "add",
        "FROM busybox:1.36\nADD app.tar.gz /opt/app\nADD notes.txt /notes.txt\n",
    );
    let src = tmp.path().join("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    std::fs::write(src.join("bin/tool"), "#!/bin/sh\necho tool\n").unwrap();
    std::fs::write(ctx.join("notes.txt"), "plain file\n").unwrap();
    ok(std::process::Command::new("tar")
        .arg("-C")
        .arg(&src)
        .arg("-czf")
        .arg(ctx.join("app.tar.gz"))
        .arg("bin"));
    build(&store, &ctx, "duck:add");
    assert_eq!(
        run(
            &store,
            "duck:add",
            &["cat", "/opt/app/bin/tool", "/notes.txt"]
        ),
        "#!/bin/sh\necho tool\nplain file\n"
    );

    // An entry that climbs out (`../`) never lands outside: the build fails instead.
    std::fs::write(tmp.path().join("outside.txt"), "x").unwrap();
    let evil = dockerfile(
        tmp.path(),
        "evil",
        "FROM busybox:1.36\nADD evil.tar /opt/\n",
    );
    ok(std::process::Command::new("tar").current_dir(&evil).args([
        "-cPf",
        "evil.tar",
        "../outside.txt",
    ]));
    std::fs::remove_file(tmp.path().join("outside.txt")).unwrap();
    let out = output(
        duckc(&store)
            .current_dir(&evil)
            .args(["build", "--progress", "plain", "."]),
    );
    assert!(!out.status.success());
    assert!(!tmp.path().join("outside.txt").exists());
    assert!(!store.join("outside.txt").exists());
}

#[test]
fn workdir_creates_its_directory_in_the_image() {
    use std::os::unix::fs::MetadataExt;
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = dockerfile(tmp.path(), "workdir", WORKDIR_ONLY);
    build(&store, &ctx, "duck:workdir");
    let s = duckc_store::Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "duck:workdir").unwrap();
    let base = duckc_image::resolve(&s, "busybox:1.36").unwrap();
    let root = tmp.path().join("rootfs");
    std::fs::create_dir(&root).unwrap();
    duckc_image::unpack_rootfs(&s, &image, &root).unwrap();
    let meta = |p: &str| std::fs::symlink_metadata(root.join(p)).unwrap();
    for dir in ["made", "made/here"] {
        let m = meta(dir);
        assert!(m.is_dir(), "{dir}");
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid()),
            (0o755, 0, 0),
            "{dir}"
        );
    }
    // Created under `USER nobody`: owned by nobody; a directory the base has keeps its mode.
    for dir in ["tmp/nobodys", "tmp/nobodys/dir"] {
        let m = meta(dir);
        assert_eq!((m.mode() & 0o7777, m.uid()), (0o755, 65534), "{dir}");
    }
    let base_root = tmp.path().join("base");
    std::fs::create_dir(&base_root).unwrap();
    duckc_image::unpack_rootfs(&s, &base, &base_root).unwrap();
    if let Ok(b) = std::fs::symlink_metadata(base_root.join("tmp")) {
        let m = meta("tmp");
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid()),
            (b.mode() & 0o7777, b.uid(), b.gid())
        );
    }
    // One layer per WORKDIR, each cached on a rebuild.
    assert_eq!(image.layers.len(), base.layers.len() + 2);
    let again = build(&store, &ctx, "duck:workdir");
    assert_eq!(
        steps(&again).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "cached", "config", "cached", "config"],
        "{again}"
    );
    assert_eq!(run(&store, "duck:workdir", &[]), "/tmp/nobodys/dir\n");
}

#[test]
fn copy_writes_heredocs() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = dockerfile(tmp.path(), "heredoc", HEREDOC);
    build(&store, &ctx, "duck:heredoc");
    assert_eq!(
        run(&store, "duck:heredoc", &[]),
        "hello duck\none\ntwo $NAME\n"
    );
    assert_eq!(
        run(
            &store,
            "duck:heredoc",
            &[
                "stat",
                "-c",
                "%a %u %n",
                "/greeting.txt",
                "/notes/A",
                "/notes/B"
            ]
        ),
        "644 0 /greeting.txt\n755 0 /notes/A\n755 0 /notes/B\n"
    );
    // The body is in the key: an edit rebuilds that step (and only from there).
    std::fs::write(
        ctx.join("Dockerfile"),
        HEREDOC.replace("hello $NAME", "goodbye $NAME"),
    )
    .unwrap();
    let out = build(&store, &ctx, "duck:heredoc");
    assert_eq!(
        steps(&out).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "config", "built", "built", "config"],
        "{out}"
    );
    assert_eq!(
        run(&store, "duck:heredoc", &[]),
        "goodbye duck\none\ntwo $NAME\n"
    );
    // The same text again comes from the cache.
    let again = build(&store, &ctx, "duck:heredoc");
    assert_eq!(
        steps(&again).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "config", "cached", "cached", "config"],
        "{again}"
    );
}

#[test]
fn add_downloads_urls_checked_against_their_checksum() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let served = tmp.path().join("served");
    std::fs::create_dir_all(&served).unwrap();
    std::fs::write(served.join("tool.sh"), "downloaded\n").unwrap();
    std::fs::write(served.join("notes.txt"), "first\n").unwrap();
    let base = common::apt::serve(&served, common::apt::Serve::Normal);
    let sum = common::apt::sha256(&served.join("tool.sh"));
    let text = format!(
        "FROM busybox:1.36\n\
         ADD --checksum=sha256:{sum} {base}/tool.sh /opt/\n\
         ADD {base}/notes.txt /notes\n"
    );
    let ctx = dockerfile(tmp.path(), "url", &text);
    let out = output(duckc(&store).current_dir(&ctx).args([
        "build",
        "--progress",
        "plain",
        "-t",
        "duck:url",
        ".",
    ]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    // Only the URL without a checksum is warned about, by `duckc check` (duckc's own lint:
    // `build` shows BuildKit's build checks only).
    assert_eq!(
        err.matches("`ADD` of a URL without `--checksum`").count(),
        0,
        "{err}"
    );
    let checked = output(duckc(&store).current_dir(&ctx).arg("check"));
    let lints = String::from_utf8_lossy(&checked.stderr);
    assert_eq!(
        lints.matches("`ADD` of a URL without `--checksum`").count(),
        1,
        "{lints}"
    );
    assert_eq!(
        run(
            &store,
            "duck:url",
            &["stat", "-c", "%a %u %n", "/opt/tool.sh", "/notes"]
        ),
        "600 0 /opt/tool.sh\n600 0 /notes\n"
    );
    assert_eq!(
        run(&store, "duck:url", &["cat", "/opt/tool.sh", "/notes"]),
        "downloaded\nfirst\n"
    );

    // Without a checksum the step is keyed by what the URL serves: a change rebuilds it.
    std::fs::write(served.join("notes.txt"), "second\n").unwrap();
    let out = build(&store, &ctx, "duck:url");
    assert_eq!(
        steps(&out).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "cached", "built"],
        "{out}"
    );
    assert_eq!(run(&store, "duck:url", &["cat", "/notes"]), "second\n");

    // A checksum the download does not match fails the step; nothing is tagged. (With the
    // cache, the step is the one built above: keyed by the checksum, it downloads nothing.)
    std::fs::write(served.join("tool.sh"), "tampered\n").unwrap();
    let bad = dockerfile(
        tmp.path(),
        "bad",
        &format!("FROM busybox:1.36\nADD --checksum=sha256:{sum} {base}/tool.sh /opt/\n"),
    );
    let out = output(duckc(&store).current_dir(&bad).args([
        "build",
        "--progress",
        "plain",
        "-t",
        "duck:bad",
        "--no-cache",
        ".",
    ]));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not the expected sha256:"), "{err}");
    let s = duckc_store::Store::open(&store).unwrap();
    assert!(duckc_image::resolve(&s, "duck:bad").is_err());
}

/// What duckc cannot build the way Docker would is an error with a span, never dropped:
/// `COPY --parents` would lay the files out differently.
#[test]
fn copy_parents_is_refused_with_a_span() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let ctx = dockerfile(
        tmp.path(),
        "parents",
        "FROM scratch\nCOPY --parents ./src/*/config.toml /etc/app/\n",
    );
    std::fs::create_dir_all(ctx.join("src/a")).unwrap();
    std::fs::write(ctx.join("src/a/config.toml"), "quack = true\n").unwrap();
    let out = common::output(duckc(&store).current_dir(&ctx).args(["build", "."]));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("duckc cannot `COPY --parents` yet"),
        "{stderr}"
    );
    assert!(stderr.contains("Dockerfile:2:1"), "{stderr}");
}
