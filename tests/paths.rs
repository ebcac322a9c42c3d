//! End-to-end tests of paths resolved where they belong: build-context symlinks, bind-mount
//! sources, archives read from directories, outputs that never write through planted links,
//! commit walking the upper directory without following links, and build entitlements
//! (SECURITY 36, 37, 38, 40).
//!
//! Every test plants a host "canary" (a file with a unique content the test writes) and checks
//! that its content never reaches an image, a step's output or the store, and that nothing
//! writes through a link to it. They need root (CI runs as root) and the busybox fixture.

mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{duckc, ok, output, require_root, require_tool};

/// A store with the busybox fixture as `busybox:latest` and `busybox:1.36`, or `None` when
/// the tests cannot run here.
fn store(dir: &Path) -> Option<PathBuf> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    let store = dir.join("store");
    common::store::load_busybox(&store);
    ok(duckc(&store).args(["tag", "busybox:latest", "busybox:1.36"]));
    Some(store)
}

/// A host canary: `DIR/canary` holding a content unique to this test, outside any context.
struct Canary {
    dir: PathBuf,
    file: PathBuf,
    content: String,
}

impl Canary {
    fn new(root: &Path) -> Canary {
        let dir = root.join("host-canary");
        std::fs::create_dir_all(&dir).unwrap();
        let content = format!(
            "HOST-CANARY-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let file = dir.join("canary");
        std::fs::write(&file, &content).unwrap();
        Canary { dir, file, content }
    }

    /// Panics when `text` shows the canary's content.
    fn absent_from(&self, what: &str, text: &[u8]) {
        let hay = String::from_utf8_lossy(text);
        assert!(
            !hay.contains(&self.content),
            "the host canary's content leaked into {what}:\n{hay}"
        );
    }

    /// Panics when the canary file was changed or replaced.
    fn unchanged(&self) {
        let meta = std::fs::symlink_metadata(&self.file).unwrap();
        assert!(meta.is_file(), "the canary was replaced");
        assert_eq!(
            std::fs::read_to_string(&self.file).unwrap(),
            self.content,
            "the canary was written through a link"
        );
        let names: Vec<_> = std::fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            names,
            ["canary"],
            "something was written into the canary's directory"
        );
    }

    /// Panics when any blob of `store` (decompressed) or any file under it holds the canary.
    fn absent_from_store(&self, store: &Path) {
        let out = output(Command::new("sh").arg("-c").arg(format!(
            "find '{}' -type f -exec sh -c 'gzip -dcf \"$1\" 2>/dev/null || cat \"$1\"' _ {{}} \\; | grep -c '{}' || true",
            store.display(),
            self.content
        )));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "0",
            "the canary's content is in the store"
        );
    }
}

/// `duckc ARGS` in `dir` against `store`, stdin closed.
fn duck(store: &Path, dir: &Path, args: &[&str]) -> Output {
    output(
        duckc(store)
            .current_dir(dir)
            .args(args)
            .stdin(Stdio::null()),
    )
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn must(out: Output) -> String {
    assert!(out.status.success(), "failed:\n{}", text(&out));
    text(&out)
}

/// The diagnostic on stderr with the test's temporary paths replaced, for snapshots.
fn diagnostic(out: &Output, tmp: &Path) -> String {
    assert!(!out.status.success(), "succeeded:\n{}", text(out));
    String::from_utf8_lossy(&out.stderr)
        .replace(&tmp.display().to_string(), "[TMP]")
        .lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
}

/// A build context in `dir/name` with `file` (a plain file) and three links to the canary: an
/// absolute one, a relative one climbing out of the context, and a symlinked directory.
fn context(dir: &Path, name: &str, canary: &Canary) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("file"), "inside\n").unwrap();
    symlink(&canary.file, ctx.join("abs")).unwrap();
    symlink("../host-canary/canary", ctx.join("rel")).unwrap();
    symlink(&canary.dir, ctx.join("dir")).unwrap();
    ctx
}

#[test]
fn context_symlinks_never_expose_the_host_in_dockerfile_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let canary = Canary::new(tmp.path());
    let ctx = context(tmp.path(), "ctx", &canary);
    write(&ctx, "sub/inner", "sub-inner\n");
    // `.dockerignore` as a link to the canary: read inside the context (nothing there).
    symlink(&canary.file, ctx.join(".dockerignore")).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:1.36 AS stage\n\
         RUN mkdir -p /inner && echo stage-own > /inner/canary && ln -s /inner /lnk\n\
         FROM busybox:1.36\n\
         COPY abs /abs\n\
         COPY rel /rel\n\
         COPY . /ctx/\n\
         RUN cat /abs /rel /ctx/abs /ctx/rel /ctx/dir/canary 2>&1; ls -l /ctx\n\
         RUN --mount=type=bind,target=/m cat /m/abs /m/rel /m/dir/canary 2>&1; ls -l /m\n\
         RUN --mount=type=bind,from=stage,source=/lnk,target=/s cat /s/canary\n\
         RUN --mount=type=bind,source=file,target=/f --mount=type=bind,source=sub,target=/sub \
             cat /f /sub/inner\n",
    )
    .unwrap();
    let out = duck(
        &store,
        &ctx,
        &["build", "--progress", "plain", "-t", "paths:ctx", "."],
    );
    let shown = must(out);
    canary.absent_from("the build's output", shown.as_bytes());
    assert!(shown.contains("stage-own"), "{shown}");
    // Plain files and directories of the context bind as before.
    assert!(shown.contains("inside\nsub-inner\n"), "{shown}");
    // The links are in the image as links; inside the container they name nothing.
    let out = duck(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "paths:ctx",
            "sh",
            "-c",
            "for f in /abs /rel /ctx/dir; do readlink $f; done; cat /abs /rel /ctx/abs /ctx/dir/canary 2>&1; true",
        ],
    );
    let seen = must(out);
    canary.absent_from("the image", seen.as_bytes());
    assert!(seen.contains(&canary.file.display().to_string()), "{seen}");
    assert!(seen.contains("../host-canary/canary"), "{seen}");
    canary.absent_from_store(&store);
    canary.unchanged();
}

#[test]
fn a_path_through_a_symlinked_directory_or_a_symlink_bind_source_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let canary = Canary::new(tmp.path());
    let ctx = context(tmp.path(), "ctx", &canary);
    for (name, dockerfile) in [
        ("through_dir", "FROM busybox:1.36\nCOPY dir/canary /x\n"),
        (
            "bind_link",
            "FROM busybox:1.36\nRUN --mount=type=bind,source=abs,target=/m cat /m\n",
        ),
        (
            "bind_dir_link",
            "FROM busybox:1.36\nRUN --mount=type=bind,source=dir,target=/m cat /m/canary\n",
        ),
    ] {
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        let out = duck(&store, &ctx, &["build", "--progress", "plain", "."]);
        canary.absent_from("the build's output", &out.stdout);
        canary.absent_from("the build's errors", &out.stderr);
        insta::assert_snapshot!(
            format!("context_error_{name}"),
            diagnostic(&out, tmp.path())
        );
    }
    canary.absent_from_store(&store);
    canary.unchanged();
}

#[test]
fn context_symlinks_never_expose_the_host_in_kdl_builds() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let canary = Canary::new(tmp.path());
    let ctx = context(tmp.path(), "ctx", &canary);
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"app\" {\n\
         \x20   from \"busybox:1.36\"\n\
         \x20   copy \"abs\" \"rel\" \"file\" \"/in/\"\n\
         \x20   copy \".\" \"/ctx/\"\n\
         \x20   run \"cat /in/abs /in/rel /ctx/dir/canary 2>&1; cat /in/file\"\n\
         \x20   tag \"paths:kdl\"\n\
         }\n",
    )
    .unwrap();
    let shown = must(duck(
        &store,
        &ctx,
        &["build", "--progress", "plain", "env.kdl"],
    ));
    canary.absent_from("the build's output", shown.as_bytes());
    let seen = must(duck(
        &store,
        &ctx,
        &[
            "run",
            "--rm",
            "paths:kdl",
            "sh",
            "-c",
            "cat /in/file; cat /in/abs /ctx/dir/canary 2>&1; true",
        ],
    ));
    assert!(seen.contains("inside"), "{seen}");
    canary.absent_from("the image", seen.as_bytes());
    // A path through the symlinked directory is not in the context.
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"app\" {\n    from \"busybox:1.36\"\n    copy \"dir/canary\" \"/x\"\n}\n",
    )
    .unwrap();
    let out = duck(&store, &ctx, &["build", "--progress", "plain", "env.kdl"]);
    assert!(!out.status.success(), "{}", text(&out));
    canary.absent_from("the build's errors", &out.stderr);
    assert!(text(&out).contains("dir/canary"), "{}", text(&out));
    canary.absent_from_store(&store);
    canary.unchanged();
}

/// Writes `name` in `dir` with `content`.
fn write(dir: &Path, name: &str, content: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    hex(&sha2::Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn archives_loaded_from_a_directory_read_nothing_outside_it() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let canary = Canary::new(tmp.path());
    // A docker archive whose manifest names `../..` paths and a symlinked component.
    let docker = tmp.path().join("docker-dir");
    std::fs::create_dir_all(&docker).unwrap();
    symlink(&canary.dir, docker.join("link")).unwrap();
    symlink(&canary.file, docker.join("config.json")).unwrap();
    for manifest in [
        format!(
            r#"[{{"Config":"../../../../../../..{}","RepoTags":["paths:docker"],"Layers":[]}}]"#,
            canary.file.display()
        ),
        r#"[{"Config":"link/canary","RepoTags":["paths:docker"],"Layers":[]}]"#.to_owned(),
        r#"[{"Config":"config.json","RepoTags":["paths:docker"],"Layers":["link/canary"]}]"#
            .to_owned(),
    ] {
        write(&docker, "manifest.json", &manifest);
        let out = duck(
            &store,
            tmp.path(),
            &["load", "-i", docker.to_str().unwrap()],
        );
        assert!(!out.status.success(), "{}", text(&out));
        canary.absent_from("load's errors", &out.stderr);
    }
    // An OCI layout whose `blobs` is a link to a host directory holding a blob with the
    // canary's digest, named by the index.
    let host_blobs = tmp.path().join("host-blobs");
    let digest = sha256_hex(canary.content.as_bytes());
    write(&host_blobs, &format!("sha256/{digest}"), &canary.content);
    let layout = tmp.path().join("layout-dir");
    std::fs::create_dir_all(&layout).unwrap();
    symlink(&host_blobs, layout.join("blobs")).unwrap();
    write(&layout, "oci-layout", r#"{"imageLayoutVersion":"1.0.0"}"#);
    write(
        &layout,
        "index.json",
        &format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{digest}","size":{}}}]}}"#,
            canary.content.len()
        ),
    );
    let out = duck(
        &store,
        tmp.path(),
        &["load", "-i", layout.to_str().unwrap()],
    );
    assert!(!out.status.success(), "{}", text(&out));
    canary.absent_from("load's errors", &out.stderr);
    // `index.json` itself as a link to a host file.
    std::fs::remove_file(layout.join("index.json")).unwrap();
    symlink(&canary.file, layout.join("index.json")).unwrap();
    let out = duck(
        &store,
        tmp.path(),
        &["load", "-i", layout.to_str().unwrap()],
    );
    assert!(!out.status.success(), "{}", text(&out));
    canary.absent_from("load's errors", &out.stderr);
    canary.absent_from_store(&store);
    canary.unchanged();
}

#[test]
fn outputs_never_write_through_planted_links() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let canary = Canary::new(tmp.path());
    let ctx = tmp.path().join("ctx");
    write(&ctx, "Dockerfile", "FROM busybox:1.36\nCOPY file /file\n");
    write(&ctx, "file", "inside\n");
    let out_dir = tmp.path().join("out");
    std::fs::create_dir_all(&out_dir).unwrap();

    // A link planted at an archive's path is replaced, never followed.
    let archive = out_dir.join("image.tar");
    let t = tmp.path();
    symlink(&canary.file, &archive).unwrap();
    // Relative to the directory the commands run in, so the diagnostics are stable.
    let a = "out/image.tar".to_owned();
    must(duck(
        &store,
        t,
        &[
            "build",
            "--progress",
            "plain",
            "-o",
            &format!("oci-archive:{a}"),
            "ctx",
        ],
    ));
    canary.unchanged();
    assert!(std::fs::symlink_metadata(&archive).unwrap().is_file());
    std::fs::remove_file(&archive).unwrap();
    symlink(&canary.file, &archive).unwrap();
    must(duck(&store, t, &["save", "-o", &a, "busybox:latest"]));
    canary.unchanged();
    assert!(std::fs::symlink_metadata(&archive).unwrap().is_file());

    // A layout directory that is a link, or holds links where duckc writes, is refused or
    // has the link replaced; the canary's directory is never written.
    let layout = out_dir.join("layout");
    symlink(&canary.dir, &layout).unwrap();
    let l = "out/layout".to_owned();
    let refused = duck(
        &store,
        t,
        &[
            "build",
            "--progress",
            "plain",
            "-o",
            &format!("oci:{l}"),
            "ctx",
        ],
    );
    let refused_export = duck(&store, t, &["export-layout", "busybox:latest", &l]);
    canary.unchanged();
    std::fs::remove_file(&layout).unwrap();
    std::fs::create_dir(&layout).unwrap();
    symlink(&canary.dir, layout.join("blobs")).unwrap();
    let refused_blobs = duck(&store, t, &["export-layout", "busybox:latest", &l]);
    canary.unchanged();
    std::fs::remove_file(layout.join("blobs")).unwrap();
    symlink(&canary.file, layout.join("index.json")).unwrap();
    let refused_index = duck(&store, t, &["export-layout", "busybox:latest", &l]);
    canary.unchanged();
    std::fs::remove_file(layout.join("index.json")).unwrap();
    symlink(&canary.file, layout.join("oci-layout")).unwrap();
    must(duck(&store, t, &["export-layout", "busybox:latest", &l]));
    canary.unchanged();
    assert!(
        std::fs::symlink_metadata(layout.join("oci-layout"))
            .unwrap()
            .is_file()
    );
    insta::assert_snapshot!(
        "outputs_refused",
        [
            ("build -o oci:LINK", &refused),
            ("export-layout LINK", &refused_export),
            ("blobs -> DIR", &refused_blobs),
            ("index.json -> FILE", &refused_index),
        ]
        .iter()
        .map(|(what, out)| format!("{what}:\n{}", diagnostic(out, tmp.path())))
        .collect::<Vec<_>>()
        .join("\n\n")
    );
}

#[test]
fn commit_of_a_container_swapping_a_directory_for_a_link_never_reads_the_host() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let Some(swapper) = common::probe::static_probe("swap_dir_link") else {
        return;
    };
    let canary = Canary::new(tmp.path());
    let c = canary.dir.display().to_string();
    // 100 pairs `/w/dN` (a directory holding `canary`) and `/w/xN` (a link to the host's
    // canary directory: a path that means nothing inside the container, everything to a
    // walk that follows it), exchanged atomically in a tight loop (renameat2
    // RENAME_EXCHANGE). A walk that looks names up twice reads the host's canary within a
    // few commits.
    let script = format!(
        "mkdir -p /w; for i in $(seq 0 99); do \
         mkdir /w/d$i; echo inside > /w/d$i/canary; ln -s {c} /w/x$i; done; \
         exec /swap /w 100"
    );
    let volume = format!("{}:/swap:ro", swapper.display());
    must(duck(
        &store,
        tmp.path(),
        &[
            "run",
            "-d",
            "--name",
            "swapper",
            "-v",
            &volume,
            "busybox:latest",
            "sh",
            "-c",
            &script,
        ],
    ));
    let mut committed = 0;
    for i in 0..30 {
        let tag = format!("paths:swap{i}");
        let out = duck(&store, tmp.path(), &["commit", "swapper", &tag]);
        canary.absent_from("commit's output", &out.stdout);
        canary.absent_from("commit's errors", &out.stderr);
        if out.status.success() {
            committed += 1;
        }
    }
    let logs = text(&duck(&store, tmp.path(), &["logs", "swapper"]));
    assert!(!logs.contains("renameat2"), "the swapper stopped: {logs}");
    must(duck(&store, tmp.path(), &["rm", "-f", "swapper"]));
    assert!(committed > 0, "no commit succeeded");
    // No layer of any image holds the canary (every blob, decompressed, is searched).
    canary.absent_from_store(&store);
    canary.unchanged();
}

#[test]
fn host_network_steps_need_the_entitlement() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(store) = store(tmp.path()) else {
        return;
    };
    let ctx = tmp.path().join("ctx");
    write(
        &ctx,
        "Dockerfile",
        "FROM busybox:1.36\nRUN echo first > /first\nRUN --network=host cat /proc/net/dev > /links\n",
    );
    write(
        &ctx,
        "env.kdl",
        "env \"app\" {\n    from \"busybox:1.36\"\n    run \"cat /proc/net/dev > /links\" network=\"host\"\n}\n",
    );
    let denied = duck(
        &store,
        &ctx,
        &["build", "--progress", "plain", "-f", "Dockerfile", "."],
    );
    // Nothing ran: the first step was not built.
    assert!(!text(&denied).contains("Step 2/3"), "{}", text(&denied));
    let denied_kdl = duck(&store, &ctx, &["build", "--progress", "plain", "env.kdl"]);
    let unknown = duck(
        &store,
        &ctx,
        &[
            "build",
            "--allow",
            "network.hots",
            "--progress",
            "plain",
            "env.kdl",
        ],
    );
    insta::assert_snapshot!(
        "entitlements",
        [
            ("Dockerfile", &denied),
            ("env.kdl", &denied_kdl),
            ("--allow network.hots", &unknown),
        ]
        .iter()
        .map(|(what, out)| format!("{what}:\n{}", diagnostic(out, tmp.path())))
        .collect::<Vec<_>>()
        .join("\n\n")
    );
    must(duck(
        &store,
        &ctx,
        &[
            "build",
            "--allow",
            "network.host",
            "--progress",
            "plain",
            "-t",
            "paths:net",
            "-f",
            "Dockerfile",
            ".",
        ],
    ));
    must(duck(
        &store,
        &ctx,
        &[
            "build",
            "--allow=network.host",
            "--progress",
            "plain",
            "env.kdl",
        ],
    ));
    // The step saw the host's interfaces (more than a fresh namespace's loopback).
    let host_links = std::fs::read_to_string("/proc/net/dev").unwrap();
    let seen = must(duck(
        &store,
        &ctx,
        &["run", "--rm", "paths:net", "cat", "/links"],
    ));
    // Compared by name, not by count: other tests make and remove veths meanwhile.
    let names = |text: &str| -> Vec<String> {
        text.lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|n| n.trim().to_owned())
            .filter(|n| n != "lo")
            .collect()
    };
    let (host, step) = (names(&host_links), names(&seen));
    if !host.is_empty() {
        assert!(
            step.iter().any(|n| host.contains(n)),
            "the step saw only {step:?}, the host has {host:?}"
        );
    }
}
