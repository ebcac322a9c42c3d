//! End-to-end tests of steps that write onto a tree their parents built, as Docker does: a
//! `COPY` into a symlinked directory of a merged-/usr base follows the link inside the image
//! (never to the host); `COPY` and `WORKDIR` leave existing directories' owners and modes
//! alone; a chain holding the same layer twice builds and runs; and one image answers to its
//! short, `library/` and fully qualified names across `tag`, `images`, `run`, `inspect`,
//! `FROM`, `save`/`load` and `rmi`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{duckc, must, ok, require_root, run};

/// The merged-/usr busybox base of [`common::merged_usr_rootfs`], imported into `store` as
/// `merged:latest`.
fn merged_base(store: &Path, dir: &Path, canary: &str) {
    let root = dir.join("merged-rootfs");
    common::merged_usr_rootfs(&root, canary);
    ok(duckc(store)
        .args(["import", "--tag", "merged:latest"])
        .arg(&root));
}

/// A build context in `dir/name` holding `Dockerfile`, an executable `server` and `note.txt`.
fn context(dir: &Path, name: &str, dockerfile: &str) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    std::fs::write(ctx.join("server"), "#!/bin/sh\necho served\n").unwrap();
    std::fs::set_permissions(ctx.join("server"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(ctx.join("note.txt"), "quack\n").unwrap();
    ctx
}

fn build(store: &Path, ctx: &Path, tag: &str) -> String {
    ok(duckc(store)
        .current_dir(ctx)
        .args(["build", "--progress", "plain", "-t", tag, "."]))
}

/// `duckc run --rm IMAGE sh -c SCRIPT`'s output.
fn sh(store: &Path, image: &str, script: &str) -> String {
    must(store, &["run", "--rm", image, "/bin/sh", "-c", script])
}

/// A fresh store with the merged-/usr base; the canary name for this test.
fn setup(tmp: &Path) -> (PathBuf, String) {
    let store = tmp.join("store");
    let canary = format!("duckc-writes-canary-{}", std::process::id());
    merged_base(&store, tmp, &canary);
    (store, canary)
}

/// Issue 19, item 1: `COPY server /bin/` on a merged-/usr base follows `/bin` → `usr/bin`
/// inside the image: `server` lands in `/usr/bin`, and `/bin` stays the link, so `/bin/sh`
/// still runs. The same for `COPY --from`, a heredoc and a KDL `copy`. Links that would leave the root on the host
/// (`../../../../X`, `/X`) resolve inside the image, and nothing appears on the host.
#[test]
fn copy_follows_symlinked_directories_inside_the_image() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, canary) = setup(tmp.path());
    let ctx = context(
        tmp.path(),
        "bin",
        "FROM merged:latest AS tools\n\
         RUN echo tooled > /tool\n\
         FROM merged:latest\n\
         COPY server /bin/\n\
         COPY --from=tools /tool /bin/\n\
         COPY <<EOF /bin/hello\n\
         hello\n\
         EOF\n\
         COPY note.txt /escape/\n\
         COPY note.txt /abs/sub/\n\
         WORKDIR /escape/work\n",
    );
    build(&store, &ctx, "writes:bin");
    let out = sh(
        &store,
        "writes:bin",
        &format!(
            "test -L /bin && /bin/server && /usr/bin/server && cat /usr/bin/tool /usr/bin/hello /{canary}/note.txt /{canary}-abs/sub/note.txt && test -d /{canary}/work && pwd -P"
        ),
    );
    assert_eq!(
        out,
        format!("served\nserved\ntooled\nhello\nquack\nquack\n/{canary}/work\n")
    );
    for host in [format!("/{canary}"), format!("/{canary}-abs")] {
        assert!(!Path::new(&host).exists(), "{host} was written on the host");
    }

    // A KDL `copy` goes through the same executor.
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"app\" {\n    from \"merged:latest\"\n    copy \"server\" \"/bin/\"\n}\n",
    )
    .unwrap();
    ok(duckc(&store).current_dir(&ctx).args([
        "build",
        "--progress",
        "plain",
        "-t",
        "writes:kdl",
        "env.kdl",
    ]));
    assert_eq!(
        sh(&store, "writes:kdl", "test -L /bin && /bin/server"),
        "served\n"
    );
}

/// Issue 19, item 1: `COPY` and `WORKDIR` into an existing `/tmp` (1777), a home directory
/// owned by 1000:1000 (0750) and a 0700 directory leave their owners and modes as they were;
/// only what the steps create is root's 0755. A `WORKDIR` that exists already adds an empty
/// layer, as BuildKit's does. The non-root user can still write to `/tmp` and its home.
#[test]
fn existing_directories_keep_their_owner_and_mode() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    let ctx = context(
        tmp.path(),
        "owners",
        "FROM merged:latest\n\
         COPY note.txt /tmp/\n\
         COPY note.txt /home/duck/\n\
         COPY note.txt /private/sub/\n\
         WORKDIR /home/duck/work\n\
         WORKDIR /tmp\n\
         USER duck\n\
         RUN touch /tmp/by-duck /home/duck/by-duck\n\
         USER root\n\
         WORKDIR /private\n",
    );
    build(&store, &ctx, "writes:owners");
    let out = sh(
        &store,
        "writes:owners",
        "stat -c '%n %a %u:%g' /tmp /home/duck /home/duck/work /private /private/sub /tmp/by-duck /home/duck/by-duck",
    );
    assert_eq!(
        out,
        "/tmp 1777 0:0\n\
         /home/duck 750 1000:1000\n\
         /home/duck/work 755 0:0\n\
         /private 700 0:0\n\
         /private/sub 755 0:0\n\
         /tmp/by-duck 644 1000:1000\n\
         /home/duck/by-duck 644 1000:1000\n"
    );
    // A destination through a file is an error that names it, with what to do.
    for step in ["COPY note.txt /etc/passwd/x", "WORKDIR /etc/passwd"] {
        let bad = context(
            tmp.path(),
            "through-a-file",
            &format!("FROM merged:latest\n{step}\n"),
        );
        let out = common::output(duckc(&store).current_dir(&bad).args([
            "build",
            "--progress",
            "plain",
            ".",
        ]));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{step}");
        assert!(
            err.contains("`/etc/passwd` is not a directory in the image") && err.contains("help:"),
            "{step}: {err}"
        );
    }

    // `WORKDIR /tmp` and `WORKDIR /private` changed nothing: their layers are empty.
    let s = duckc_store::Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "writes:owners").unwrap();
    let base = duckc_image::resolve(&s, "merged:latest").unwrap();
    assert_eq!(image.layers.len(), base.layers.len() + 7);
    let ids: Vec<_> = image.layers.iter().map(|l| l.diff_id).collect();
    let n = base.layers.len();
    assert_eq!(ids[n + 4], ids[n + 6], "both are the empty layer");
    assert_ne!(ids[n], ids[n + 4]);
}

/// Issue 19, item 2 (issue 18, class 3): `RUN mkdir /app` then `WORKDIR /app`, and two `RUN`s
/// that change nothing, give a chain that holds one layer more than once. It builds, a later
/// `RUN` runs over it, `duckc run` starts it, and the image keeps every layer, as Docker does.
#[test]
fn a_chain_holding_one_layer_twice_builds_and_runs() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (store, _) = setup(tmp.path());
    let ctx = context(
        tmp.path(),
        "twice",
        "FROM merged:latest\n\
         RUN mkdir /app\n\
         WORKDIR /app\n\
         RUN true\n\
         RUN true\n\
         RUN echo made > /app/made\n",
    );
    build(&store, &ctx, "writes:twice");
    assert_eq!(sh(&store, "writes:twice", "pwd; cat made"), "/app\nmade\n");
    let s = duckc_store::Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "writes:twice").unwrap();
    let base = duckc_image::resolve(&s, "merged:latest").unwrap();
    let ours: Vec<_> = image.layers[base.layers.len()..]
        .iter()
        .map(|l| l.diff_id)
        .collect();
    assert_eq!(ours.len(), 5);
    assert_eq!(ours[2], ours[3], "two `RUN true` give one layer twice");
    // A container over that image, and a commit of it, work too.
    let (code, _, err) = run(
        &store,
        &["run", "--name", "twice", "writes:twice", "touch", "x"],
    );
    assert_eq!(code, 0, "{err}");
    must(&store, &["commit", "twice", "writes:committed"]);
    assert_eq!(sh(&store, "writes:committed", "ls /app"), "made\nx\n");
}

/// `duckc images NAME`: the (repository, tag) rows.
fn image_rows(store: &Path, name: &str) -> Vec<(String, String)> {
    must(store, &["images", name])
        .lines()
        .skip(1)
        .map(|l| {
            let mut w = l.split_whitespace();
            (w.next().unwrap().to_owned(), w.next().unwrap().to_owned())
        })
        .collect()
}

/// Issue 19, item 3: `duck`, `library/duck` and Docker Hub's fully qualified form are one
/// name, normalized once for `tag`, `images`, `run`, `inspect`, `FROM`, `save`/`load` and
/// `rmi`; `localhost:5000/duck` is another. A tag an older store kept as `library/old`
/// is still found, listed under its short name, and replaced by a new tag of that name.
#[test]
fn one_image_answers_to_its_short_library_and_qualified_names() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    common::store::load_busybox(&store);
    let qualified = |n: &str| format!("{}/{n}", duckc_image::DOCKER_HUB);
    must(&store, &["tag", "busybox", "library/duck:v1"]);
    must(
        &store,
        &["tag", "busybox:latest", &qualified("library/duck:v2")],
    );
    must(&store, &["tag", "busybox", &qualified("duck:v3")]);
    let short = |rows: &[(&str, &str)]| -> Vec<(String, String)> {
        rows.iter()
            .map(|(r, t)| (r.to_string(), t.to_string()))
            .collect()
    };
    for filter in ["duck", "library/duck"] {
        let mut rows = image_rows(&store, filter);
        rows.sort();
        assert_eq!(
            rows,
            short(&[("duck", "v1"), ("duck", "v2"), ("duck", "v3")]),
            "images {filter}"
        );
    }
    for name in [
        "duck:v1".to_owned(),
        "library/duck:v2".to_owned(),
        qualified("library/duck:v3"),
        qualified("duck:v1"),
    ] {
        assert_eq!(
            must(&store, &["run", "--rm", &name, "echo", "ran"]),
            "ran\n",
            "{name}"
        );
    }
    let (code, _, _) = run(&store, &["inspect", &qualified("library/duck")]);
    assert_ne!(code, 0, "no `duck:latest` was tagged");
    let inspect: serde_json::Value =
        serde_json::from_str(&must(&store, &["inspect", "library/duck:v1"])).unwrap();
    assert_eq!(
        inspect[0]["RepoTags"],
        serde_json::json!(["busybox:latest", "duck:v1", "duck:v2", "duck:v3"])
    );
    // A registry host is another name.
    let (code, _, err) = run(&store, &["run", "--rm", "localhost:5000/duck:v1", "true"]);
    assert_ne!(code, 0);
    assert!(err.contains("localhost:5000/duck:v1"), "{err}");

    // `FROM` by the `library/` and the qualified spelling; `-t` by the `library/` one.
    for (i, from) in ["library/duck:v1".to_owned(), qualified("library/duck:v2")]
        .iter()
        .enumerate()
    {
        let ctx = context(
            tmp.path(),
            &format!("from{i}"),
            &format!("FROM {from}\nRUN echo {i} > /from\n"),
        );
        build(&store, &ctx, &format!("library/built:{i}"));
        assert_eq!(
            must(
                &store,
                &["run", "--rm", &format!("built:{i}"), "cat", "/from"]
            ),
            format!("{i}\n")
        );
    }

    // A KDL `from` by the qualified spelling, tagged by the `library/` one.
    let kdl = tmp.path().join("kdl");
    std::fs::create_dir_all(&kdl).unwrap();
    std::fs::write(
        kdl.join("env.kdl"),
        format!(
            "env \"k\" {{\n    from \"{}\"\n    run \"echo kdl > /from\"\n    tag \"library/built:kdl\"\n}}\n",
            qualified("library/duck:v3")
        ),
    )
    .unwrap();
    ok(duckc(&store)
        .current_dir(&kdl)
        .args(["build", "--progress", "plain", "env.kdl"]));
    assert_eq!(
        must(&store, &["run", "--rm", "built:kdl", "cat", "/from"]),
        "kdl\n"
    );

    // `save` by one spelling records the short name; `load` gives it back as such.
    let archive = tmp.path().join("duck.tar");
    must(
        &store,
        &[
            "save",
            "-o",
            archive.to_str().unwrap(),
            &qualified("library/duck:v2"),
        ],
    );
    let other = tmp.path().join("other");
    let loaded = must(&other, &["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(loaded, "Loaded image: duck:v2\n");
    must(&other, &["run", "--rm", "library/duck:v2", "true"]);

    // `rmi` by the qualified spelling removes that one tag.
    let out = must(&store, &["rmi", &qualified("library/duck:v1")]);
    assert_eq!(out, "Untagged: duck:v1\n");
    assert_eq!(
        image_rows(&store, "duck"),
        short(&[("duck", "v2"), ("duck", "v3")])
    );

    // A tag an older duckc stored as typed still works, shows short, and is replaced by a
    // new tag of the same name instead of living beside it.
    let s = duckc_store::Store::open(&store).unwrap();
    let digest = duckc_image::resolve(&s, "busybox").unwrap().digest;
    s.update_refs(|refs| {
        refs.tags.insert("library/old:v1".into(), digest);
        Ok(())
    })
    .unwrap();
    assert_eq!(image_rows(&store, "old"), short(&[("old", "v1")]));
    must(&store, &["run", "--rm", "old:v1", "true"]);
    must(&store, &["tag", "built:0", "old:v1"]);
    assert_eq!(image_rows(&store, "library/old"), short(&[("old", "v1")]));
    assert_eq!(
        must(&store, &["run", "--rm", "old:v1", "cat", "/from"]),
        "0\n"
    );
    assert!(!s.refs().unwrap().tags.contains_key("library/old:v1"));
    must(&store, &["rmi", "library/old:v1"]);
    assert!(image_rows(&store, "old").is_empty());
}
