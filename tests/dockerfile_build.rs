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

/// The step lines of a build and what followed each (`cached`, `built`, `config`).
fn steps(out: &str) -> Vec<(String, &'static str)> {
    let mut steps: Vec<(String, &'static str)> = Vec::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("Step ") {
            let text = rest.split_once(" : ").map(|(_, t)| t).unwrap_or(rest);
            steps.push((text.to_owned(), "config"));
        } else if line == " ---> Using cache" {
            steps.last_mut().unwrap().1 = "cached";
        } else if line.starts_with(" ---> ")
            && let Some(last) = steps.last_mut()
            && last.1 == "config"
        {
            last.1 = "built";
        }
    }
    steps
}

fn image_id(out: &str) -> String {
    out.lines()
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
        ["built", "config", "built", "built", "built", "config"],
        "{first}"
    );

    // Editing duck.txt rebuilds from `COPY duck.txt` on.
    std::fs::write(ctx.join("duck.txt"), "QUACK!\n").unwrap();
    let edited = build(&store, &ctx, "duck:b");
    assert_eq!(
        steps(&edited).iter().map(|s| s.1).collect::<Vec<_>>(),
        ["built", "config", "cached", "built", "built", "config"],
        "{edited}"
    );
    assert_eq!(run(&store, "duck:b", &[]), "QUACK!\n");

    // A `.dockerignore`d file does not enter the context: changing it changes nothing.
    std::fs::write(ctx.join(".dockerignore"), "notes.md\n").unwrap();
    std::fs::write(ctx.join("notes.md"), "one").unwrap();
    let id = image_id(&build(&store, &ctx, "duck:b"));
    std::fs::write(ctx.join("notes.md"), "two").unwrap();
    assert_eq!(image_id(&build(&store, &ctx, "duck:b")), id);

    // Adding a final RUN reuses every earlier step.
    let mut text = std::fs::read_to_string(ctx.join("Dockerfile")).unwrap();
    text.push_str("RUN echo done > /app/done.txt\n");
    std::fs::write(ctx.join("Dockerfile"), text).unwrap();
    let added = build(&store, &ctx, "duck:b");
    assert_eq!(
        steps(&added).iter().map(|s| s.1).collect::<Vec<_>>(),
        [
            "built", "config", "cached", "cached", "cached", "config", "built"
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
    for name in ["seed-a", "seed-b-layers", "seed-c-copy"] {
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
        run "echo \"step three\" > /app/three.txt"
        copy "duck.txt" "/app/duck.txt"
        run "wc -c /app/duck.txt > /app/size.txt"
        cmd "cat" "/app/duck.txt"
    }
    "#
    );
    // What has no spec form is an error, not dropped.
    let d = context(tmp.path(), "seed-d-multistage");
    let out = output(duckc(&store).current_dir(&d).arg("convert"));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`COPY --from` has no spec form"), "{err}");
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
}
