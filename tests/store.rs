//! End-to-end tests of the store and images: the CLI verbs, interop with skopeo, umoci and
//! podman, reproducibility, malicious archives, crashes and concurrency.

mod common;

use std::path::Path;
use std::process::Command;

use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::store::{busybox_layout, load_busybox};
use common::{duckc, ok, output, require_root, require_tool};
use duckc_image::{CommitOptions, Image};
use duckc_store::Store;

fn tools(names: &[&str]) -> bool {
    names.iter().all(|n| require_tool(n))
}

#[test]
fn load_images_tag_inspect_save_rmi_gc_verify_df() {
    if !tools(&["umoci"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let name = load_busybox(&store);
    assert_eq!(name, "busybox:latest");

    let images = ok(duckc(&store).arg("images"));
    let mut lines = images.lines();
    let header = lines.next().unwrap();
    assert!(
        header.starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{images}"
    );
    assert!(header.ends_with("SIZE"), "{images}");
    let row: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(&row[..2], ["busybox", "latest"], "{images}");
    assert_eq!(row[2].len(), 12);

    ok(duckc(&store).args(["tag", "busybox", "localhost/duck:v1"]));
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(duckc(&store).args(["inspect", "localhost/duck:v1"]))).unwrap();
    assert_eq!(inspect[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    let id = inspect[0]["Id"].as_str().unwrap().to_owned();
    // The short id resolves too, like docker's.
    let by_id: serde_json::Value =
        serde_json::from_str(&ok(duckc(&store).args(["inspect", &id[7..19]]))).unwrap();
    assert_eq!(by_id[0]["Id"], inspect[0]["Id"]);

    let archive = tmp.path().join("busybox.tar");
    ok(duckc(&store)
        .arg("save")
        .arg("-o")
        .arg(&archive)
        .arg("busybox"));
    let docker_archive = tmp.path().join("busybox-docker.tar");
    ok(duckc(&store)
        .args(["save", "--format", "docker", "-o"])
        .arg(&docker_archive)
        .arg("busybox"));

    // Untag one name: the image stays; remove the last: the image goes, gc frees its blobs.
    let out = ok(duckc(&store).args(["rmi", "localhost/duck:v1"]));
    assert_eq!(out, "Untagged: localhost/duck:v1\n");
    let out = ok(duckc(&store).args(["rmi", "busybox"]));
    assert!(
        out.starts_with("Untagged: busybox:latest\nDeleted: sha256:"),
        "{out}"
    );
    let out = ok(duckc(&store).arg("gc"));
    assert!(out.starts_with("removed 3 blobs"), "{out}");
    assert_eq!(ok(duckc(&store).arg("images")).lines().count(), 1);

    // Both archives load back as the same image.
    for a in [&archive, &docker_archive] {
        let out = ok(duckc(&store).arg("load").arg("-i").arg(a));
        assert_eq!(out, "Loaded image: busybox:latest\n");
        let again: serde_json::Value =
            serde_json::from_str(&ok(duckc(&store).args(["inspect", "busybox"]))).unwrap();
        assert_eq!(again[0]["Id"], inspect[0]["Id"]);
    }
    let out = ok(duckc(&store).arg("verify"));
    assert!(out.starts_with("ok: "), "{out}");
    let df = ok(duckc(&store).args(["system", "df"]));
    assert!(df.starts_with("TYPE"), "{df}");
    assert!(
        df.lines()
            .any(|l| l.starts_with("Images") && l.split_whitespace().nth(1) == Some("1")),
        "{df}"
    );
}

#[test]
fn snapshot_matches_umoci_unpack() {
    if !tools(&["umoci"]) || !common::require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store_dir = tmp.path().join("store");
    let name = load_busybox(&store_dir);
    let store = Store::open(&store_dir).unwrap();
    let image = duckc_image::resolve(&store, &name).unwrap();
    assert_eq!(image.layers.len(), 1);
    let snap = store.snapshot(&image.layers[0].diff_id).unwrap();
    let layout = busybox_layout(tmp.path());
    let bundle = tmp.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:busybox:latest", layout.display()))
        .arg(&bundle));
    assert_trees_equal(&bundle.join("rootfs"), &snap);
}

fn assert_trees_equal(a: &Path, b: &Path) {
    let da = duckc_layer::tree::describe(a).unwrap();
    let db = duckc_layer::tree::describe(b).unwrap();
    if da != db {
        let only_a: Vec<_> = da
            .lines()
            .filter(|l| !db.lines().any(|m| m == *l))
            .take(10)
            .collect();
        let only_b: Vec<_> = db
            .lines()
            .filter(|l| !da.lines().any(|m| m == *l))
            .take(10)
            .collect();
        panic!(
            "trees differ\nonly in {}:\n{}\nonly in {}:\n{}",
            a.display(),
            only_a.join("\n"),
            b.display(),
            only_b.join("\n")
        );
    }
}

/// This test binary, re-run as a helper process (see [`helper`]).
fn helper_cmd(action: &str, store: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["helper", "--exact", "--nocapture", "--test-threads=1"])
        .env("DUCKC_TEST_HELPER", action)
        .env("DUCKC_TEST_STORE", store)
        .env_remove("DUCKC_CRASH_AT")
        .env_remove("DUCKC_PAUSE_AT");
    cmd
}

/// Not a test by itself: when `DUCKC_TEST_HELPER` is set, this process does one library
/// operation (so a test can run it under another umask, or kill it midway), then exits.
///   commit: commit `DUCKC_TEST_SRC` onto `DUCKC_TEST_BASE` (or scratch), tag `DUCKC_TEST_TAG`,
///           print `DIGEST=<manifest digest>`
///   snapshot: unpack every layer of `DUCKC_TEST_BASE`
#[test]
fn helper() {
    let Ok(action) = std::env::var("DUCKC_TEST_HELPER") else {
        return;
    };
    let store = Store::open(Path::new(&std::env::var("DUCKC_TEST_STORE").unwrap())).unwrap();
    let base = match std::env::var("DUCKC_TEST_BASE") {
        Ok(b) => duckc_image::resolve(&store, &b).unwrap(),
        Err(_) => Image::scratch(),
    };
    match action.as_str() {
        "commit" => {
            let opts = CommitOptions {
                message: Some("test commit".into()),
                changes: std::env::var("DUCKC_TEST_CHANGES")
                    .map(|c| c.split(';').map(str::to_owned).collect())
                    .unwrap_or_default(),
                plain: std::env::var_os("DUCKC_TEST_UPPER").is_none(),
                ..CommitOptions::default()
            };
            let src = PathBuf::from(std::env::var("DUCKC_TEST_SRC").unwrap());
            let image = duckc_image::commit(&store, &base, &src, &opts).unwrap();
            duckc_image::tag(&store, &image, &std::env::var("DUCKC_TEST_TAG").unwrap()).unwrap();
            println!("DIGEST={}", image.digest);
        }
        "snapshot" => {
            for l in &base.layers {
                store.snapshot(&l.diff_id).unwrap();
            }
        }
        other => panic!("unknown helper action {other}"),
    }
}

fn helper_digest(out: &str) -> String {
    out.split("DIGEST=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no digest in {out}"))
        .to_owned()
}

fn killed(out: &Output) -> bool {
    use std::os::unix::process::ExitStatusExt;
    out.status.signal() == Some(9)
}

fn verify_clean(store: &Path) {
    let out = output(duckc(store).arg("verify"));
    assert!(
        out.status.success(),
        "verify found problems:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox-based image with a duckc-written layer on top: a new file, a whiteout (from an
/// overlay upper dir), a new command.
fn duck_image(tmp: &Path, store: &Path) -> String {
    load_busybox(store);
    let upper = tmp.join("upper");
    fs_tree(
        &upper,
        &[("hello.txt", "hello from duckc\n"), ("etc/motd", "quack\n")],
    );
    std::fs::create_dir_all(upper.join("bin")).unwrap();
    ok(Command::new("mknod")
        .arg(upper.join("bin/vi"))
        .args(["c", "0", "0"]));
    let out = ok(helper_cmd("commit", store)
        .env("DUCKC_TEST_BASE", "busybox")
        .env("DUCKC_TEST_SRC", &upper)
        .env("DUCKC_TEST_UPPER", "1")
        .env("DUCKC_TEST_TAG", "localhost/duck:v1")
        .env(
            "DUCKC_TEST_CHANGES",
            r#"ENV PATH=/bin;CMD ["cat", "/hello.txt"]"#,
        ));
    helper_digest(&out);
    "localhost/duck:v1".into()
}

fn fs_tree(root: &Path, files: &[(&str, &str)]) {
    for (p, content) in files {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

fn podman(tmp: &Path) -> Command {
    let conf = tmp.join("containers.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
    )
    .unwrap();
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", &conf)
        .arg("--root")
        .arg(tmp.join("podman-root"))
        .arg("--runroot")
        .arg(tmp.join("podman-runroot"))
        .args(["--storage-driver", "vfs"]);
    cmd
}

/// crun refuses this VM's hybrid cgroup set-up until `hugetlb` is mounted as v1 (PEERS.md).
fn crun_workaround() {
    let hugetlb = Path::new("/sys/fs/cgroup/hugetlb");
    let mounted = output(Command::new("mountpoint").arg("-q").arg(hugetlb))
        .status
        .success();
    let hybrid = Path::new("/sys/fs/cgroup/unified").exists();
    if !mounted && hybrid {
        let _ = std::fs::create_dir_all(hugetlb);
        let _ = output(
            Command::new("mount")
                .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
                .arg(hugetlb),
        );
    }
}

#[test]
fn other_tools_read_duckc_images() {
    if !tools(&["umoci", "skopeo", "podman", "mknod"]) || !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    let name = duck_image(tmp.path(), &store);

    // skopeo reads an exported layout, an OCI archive and a docker archive, and copies them.
    let layout = tmp.path().join("layout");
    ok(duckc(&store).args(["export-layout", &name]).arg(&layout));
    let inspect: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo")
        .arg("inspect")
        .arg(format!("oci:{}:{name}", layout.display()))))
    .unwrap();
    assert_eq!(inspect["Layers"].as_array().unwrap().len(), 2, "{inspect}");
    let oci = tmp.path().join("duck-oci.tar");
    let docker = tmp.path().join("duck-docker.tar");
    ok(duckc(&store).arg("save").arg("-o").arg(&oci).arg(&name));
    ok(duckc(&store)
        .args(["save", "--format", "docker", "-o"])
        .arg(&docker)
        .arg(&name));
    for src in [
        format!("oci-archive:{}", oci.display()),
        format!("docker-archive:{}", docker.display()),
    ] {
        ok(Command::new("skopeo").arg("inspect").arg(&src));
        let copy = tmp.path().join("copy");
        ok(Command::new("skopeo")
            .arg("copy")
            .arg(&src)
            .arg(format!("oci:{}:copy", copy.display())));
        let _ = std::fs::remove_dir_all(&copy);
    }

    // umoci unpacks the same tree duckc flattens: the new files, and no `bin/vi`.
    let bundle = tmp.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:{name}", layout.display()))
        .arg(&bundle));
    let s = Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, &name).unwrap();
    let flat = tmp.path().join("flat");
    std::fs::create_dir(&flat).unwrap();
    duckc_image::unpack_rootfs(&s, &image, &flat).unwrap();
    assert_trees_equal(&bundle.join("rootfs"), &flat);
    assert!(!flat.join("bin/vi").exists() && flat.join("bin/sh").exists());
    assert_eq!(
        std::fs::read_to_string(flat.join("hello.txt")).unwrap(),
        "hello from duckc\n"
    );

    // podman loads both archives and runs the image.
    crun_workaround();
    for archive in [&docker, &oci] {
        let out = ok(podman(tmp.path()).arg("load").arg("-i").arg(archive));
        assert!(out.contains("localhost/duck:v1"), "{out}");
    }
    let out =
        ok(podman(tmp.path()).args(["run", "--rm", "--network", "none", "localhost/duck:v1"]));
    assert_eq!(out, "hello from duckc\n");
    let _ = output(podman(tmp.path()).args(["rmi", "-a", "-f"]));
}

#[test]
fn images_made_by_skopeo_and_umoci_load_into_duckc() {
    if !tools(&["umoci", "skopeo"]) || !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let bundle = tmp.path().join("bundle");
    ok(Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:busybox:latest", layout.display()))
        .arg(&bundle));
    let oci = tmp.path().join("bb-oci.tar");
    let docker = tmp.path().join("bb-docker.tar");
    let src = format!("oci:{}:busybox:latest", layout.display());
    ok(Command::new("skopeo")
        .args(["copy", &src])
        .arg(format!("oci-archive:{}:busybox:latest", oci.display())));
    ok(Command::new("skopeo").args(["copy", &src]).arg(format!(
        "docker-archive:{}:busybox:latest",
        docker.display()
    )));
    for (i, input) in [layout.clone(), oci, docker].iter().enumerate() {
        let store = tmp.path().join(format!("store{i}"));
        let out = ok(duckc(&store).arg("load").arg("-i").arg(input));
        assert!(out.contains("busybox:latest"), "{out}");
        let s = Store::open(&store).unwrap();
        let image = duckc_image::resolve(&s, "busybox").unwrap();
        let snap = s.snapshot(&image.layers[0].diff_id).unwrap();
        assert_trees_equal(&bundle.join("rootfs"), &snap);
        verify_clean(&store);
    }
}

#[test]
fn same_content_gives_the_same_digests_in_any_store() {
    let tmp = tempfile::tempdir().unwrap();
    let mut digests = Vec::new();
    let mut archives = Vec::new();
    for (i, umask) in ["022", "077"].iter().enumerate() {
        let src = tmp.path().join(format!("elsewhere-{i}/src"));
        let store = tmp.path().join(format!("store-{i}"));
        // The same content, made under another umask at another time.
        let script = format!(
            "umask {umask} && mkdir -p {s}/app/lib && printf 'print(1)\\n' > {s}/app/main.py && printf x > {s}/app/lib/x && ln -s main.py {s}/app/link && chmod 0755 {s}/app {s}/app/lib && chmod 0644 {s}/app/main.py {s}/app/lib/x && touch -d @{t} {s}/app/main.py",
            s = src.display(),
            t = 1_800_000_000 + i
        );
        ok(Command::new("sh").arg("-c").arg(&script));
        let mut cmd = helper_cmd("commit", &store);
        cmd.env("DUCKC_TEST_SRC", &src)
            .env("DUCKC_TEST_TAG", "repro:1")
            .env("SOURCE_DATE_EPOCH", "1700000000");
        let shell = format!("umask {umask} && exec \"$@\"");
        let mut sh = Command::new("sh");
        sh.arg("-c")
            .arg(shell)
            .arg("sh")
            .arg(cmd.get_program())
            .args(cmd.get_args());
        for (k, v) in cmd.get_envs() {
            match v {
                Some(v) => sh.env(k, v),
                None => sh.env_remove(k),
            };
        }
        digests.push(helper_digest(&ok(&mut sh)));
        let archive = tmp.path().join(format!("repro-{i}.tar"));
        ok(duckc(&store)
            .arg("save")
            .arg("-o")
            .arg(&archive)
            .arg("repro:1"));
        archives.push(std::fs::read(&archive).unwrap());
    }
    assert_eq!(digests[0], digests[1]);
    assert!(archives[0] == archives[1], "saved archives differ");
}

#[test]
fn sigkill_at_any_point_leaves_a_consistent_store() {
    if !tools(&["umoci"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    // load
    for point in [
        "blob-before-rename:1",
        "blob-after-rename:2",
        "write-before-rename:1",
        "load-before-refs",
    ] {
        let store = tmp.path().join(format!("store-load-{point}"));
        let out = output(
            duckc(&store)
                .env("DUCKC_CRASH_AT", point)
                .arg("load")
                .arg("-i")
                .arg(&layout),
        );
        assert!(killed(&out), "{point}: not killed: {out:?}");
        verify_clean(&store);
        ok(duckc(&store).arg("load").arg("-i").arg(&layout));
        verify_clean(&store);
        assert!(ok(duckc(&store).arg("images")).contains("busybox"));
    }
    // save
    let store = tmp.path().join("store-save");
    load_busybox(&store);
    let archive = tmp.path().join("save.tar");
    for point in ["save-blob:1", "save-blob:2"] {
        let out = output(
            duckc(&store)
                .env("DUCKC_CRASH_AT", point)
                .arg("save")
                .arg("-o")
                .arg(&archive)
                .arg("busybox"),
        );
        assert!(killed(&out), "{point}: not killed: {out:?}");
        assert!(
            !archive.exists(),
            "a partial archive is never visible under its name"
        );
        verify_clean(&store);
    }
    ok(duckc(&store)
        .arg("save")
        .arg("-o")
        .arg(&archive)
        .arg("busybox"));
    ok(duckc(&tmp.path().join("store-save-check"))
        .arg("load")
        .arg("-i")
        .arg(&archive));
    // commit
    let src = tmp.path().join("commit-src");
    fs_tree(&src, &[("a/b", "content"), ("c", "more")]);
    for point in [
        "blob-before-rename:1",
        "commit-layer-written",
        "blob-after-rename:2",
        "commit-before-refs",
        "write-before-rename:2",
    ] {
        let out = output(
            helper_cmd("commit", &store)
                .env("DUCKC_CRASH_AT", point)
                .env("DUCKC_TEST_BASE", "busybox")
                .env("DUCKC_TEST_SRC", &src)
                .env("DUCKC_TEST_TAG", "c:1"),
        );
        assert!(
            killed(&out),
            "{point}: not killed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        verify_clean(&store);
    }
    ok(helper_cmd("commit", &store)
        .env("DUCKC_TEST_BASE", "busybox")
        .env("DUCKC_TEST_SRC", &src)
        .env("DUCKC_TEST_TAG", "c:1"));
    // snapshot
    if common::is_root() {
        for point in ["snapshot-before-rename", "snapshot-before-record"] {
            let out = output(
                helper_cmd("snapshot", &store)
                    .env("DUCKC_CRASH_AT", point)
                    .env("DUCKC_TEST_BASE", "c:1"),
            );
            assert!(killed(&out), "{point}: not killed");
            verify_clean(&store);
        }
        ok(helper_cmd("snapshot", &store).env("DUCKC_TEST_BASE", "c:1"));
    }
    // gc killed halfway deletes only garbage.
    ok(duckc(&store).args(["rmi", "c:1"]));
    let out = output(duckc(&store).env("DUCKC_CRASH_AT", "gc-blob:1").arg("gc"));
    assert!(killed(&out));
    verify_clean(&store);
    ok(duckc(&store).arg("gc"));
    verify_clean(&store);
    let s = Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "busybox").unwrap();
    assert!(image.blobs().iter().all(|d| s.has_blob(d)));
}

#[test]
fn concurrent_loads_and_gc_keep_images_intact() {
    if !tools(&["umoci"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    for round in 0..3 {
        let store = tmp.path().join(format!("store-{round}"));
        let spawn = || {
            duckc(&store)
                .arg("load")
                .arg("-i")
                .arg(&layout)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (a, b) = (spawn(), spawn());
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        verify_clean(&store);
        assert_eq!(ok(duckc(&store).arg("images")).lines().count(), 2);
    }
    // gc while a load is in flight (paused before it records its image) deletes nothing of it.
    let store = tmp.path().join("store-gc");
    let release = tmp.path().join("release");
    let load = duckc(&store)
        .env(
            "DUCKC_PAUSE_AT",
            format!("load-before-refs:{}", release.display()),
        )
        .arg("load")
        .arg("-i")
        .arg(&layout)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    while !store.join("blobs/sha256").exists()
        || std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .count()
            < 3
    {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let gc = duckc(&store)
        .arg("gc")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::fs::write(&release, b"").unwrap();
    assert!(load.wait_with_output().unwrap().status.success());
    assert!(gc.wait_with_output().unwrap().status.success());
    verify_clean(&store);
    let s = Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "busybox").unwrap();
    assert!(image.blobs().iter().all(|d| s.has_blob(d)));
}

#[test]
fn corrupted_blobs_are_refused_and_reported() {
    if !tools(&["umoci"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store");
    load_busybox(&store);
    let s = Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "busybox").unwrap();
    let blob = s.blob_path(&image.layers[0].digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let out = output(duckc(&store).arg("verify"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&image.layers[0].digest.to_string()));
    assert!(s.snapshot(&image.layers[0].diff_id).is_err());
    assert!(
        std::fs::read_dir(s.tmp_dir()).unwrap().count() == 0,
        "a failed unpack leaves nothing"
    );
    let out = output(
        duckc(&store)
            .arg("save")
            .arg("-o")
            .arg(tmp.path().join("x.tar"))
            .arg("busybox"),
    );
    assert!(!out.status.success(), "saving a corrupted blob must fail");
    assert!(!tmp.path().join("x.tar").exists());
}

#[test]
fn layer_size_limits_remove_partial_snapshots() {
    let tmp = tempfile::tempdir().unwrap();
    let s = Store::open(&tmp.path().join("store")).unwrap();
    let src = tmp.path().join("src");
    fs_tree(&src, &[("big", &"x".repeat(1 << 20))]);
    let layer = s
        .write_layer(&src, &duckc_layer::WriteOptions::default())
        .unwrap();
    let opts = duckc_layer::ExtractOptions {
        limits: duckc_layer::Limits {
            max_bytes: 64 << 10,
            ..Default::default()
        },
        ..Default::default()
    };
    let err = s.snapshot_with(&layer.diff_id, &opts).unwrap_err();
    assert!(err.to_string().contains("limit"), "{err}");
    assert!(!s.snapshot_path(&layer.diff_id).exists());
    assert_eq!(std::fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    assert!(s.verify().unwrap().problems.is_empty());
    s.snapshot(&layer.diff_id).unwrap();
}

#[test]
fn import_writes_zstd_or_gzip_layers_reproducibly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs_tree(
        &src,
        &[("app/main.sh", "echo quack\n"), ("etc/motd", "duck\n")],
    );
    let mut ids = Vec::new();
    for (i, compression) in ["zstd", "zstd", "gzip"].iter().enumerate() {
        let store = tmp.path().join(format!("store-{i}"));
        let id = ok(duckc(&store)
            .env("SOURCE_DATE_EPOCH", "1700000000")
            .args([
                "import",
                "--compression",
                compression,
                "-t",
                "imp:1",
                "-c",
                "WORKDIR /app",
                "-c",
                r#"CMD ["sh", "main.sh"]"#,
            ])
            .arg(&src));
        let inspect: serde_json::Value =
            serde_json::from_str(&ok(duckc(&store).args(["inspect", "imp:1"]))).unwrap();
        assert_eq!(inspect[0]["Id"].as_str().unwrap(), id.trim());
        assert_eq!(inspect[0]["Created"], "2023-11-14T22:13:20Z");
        assert_eq!(inspect[0]["Config"]["WorkingDir"], "/app");
        assert_eq!(
            inspect[0]["Layers"][0]["media_type"],
            format!("application/vnd.oci.image.layer.v1.tar+{compression}")
        );
        let s = Store::open(&store).unwrap();
        let image = duckc_image::resolve(&s, "imp:1").unwrap();
        let snap = s.snapshot(&image.layers[0].diff_id).unwrap();
        assert_eq!(
            std::fs::read_to_string(snap.join("app/main.sh")).unwrap(),
            "echo quack\n"
        );
        ids.push((id, image.layers[0].diff_id));
    }
    assert_eq!(ids[0], ids[1], "zstd layers are byte-stable");
    assert_eq!(
        ids[0].1, ids[2].1,
        "the diff_id does not depend on the compression"
    );
    assert_eq!(
        ids[0].0, ids[2].0,
        "the image id (config digest) names diff_ids, not blobs"
    );
    let out = output(
        duckc(&tmp.path().join("store-0"))
            .args(["import", "--compression", "lz4"])
            .arg(&src),
    );
    assert!(!out.status.success());
}

#[test]
fn multi_platform_indexes_load_resolve_and_save() {
    if !tools(&["umoci", "skopeo"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    // Make the layout's image a two-platform index: the real manifest for this host, and a
    // second manifest whose config says arm64 (same layers).
    let read_json = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let put = |v: &serde_json::Value| -> (String, usize) {
        let bytes = serde_json::to_vec(v).unwrap();
        let d = duckc_layer::Digest::of(&bytes);
        std::fs::write(layout.join("blobs/sha256").join(d.hex()), &bytes).unwrap();
        (d.to_string(), bytes.len())
    };
    let blob = |d: &str| {
        layout
            .join("blobs/sha256")
            .join(d.strip_prefix("sha256:").unwrap())
    };
    let index = read_json(&layout.join("index.json"));
    let host = index["manifests"][0].clone();
    let manifest = read_json(&blob(host["digest"].as_str().unwrap()));
    let mut config = read_json(&blob(manifest["config"]["digest"].as_str().unwrap()));
    config["architecture"] = "arm64".into();
    let (cd, cs) = put(&config);
    let mut arm = manifest.clone();
    arm["config"]["digest"] = cd.into();
    arm["config"]["size"] = cs.into();
    let (ad, asz) = put(&arm);
    let host_arch = duckc_image::host_arch();
    let (id, isz) = put(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": ad, "size": asz,
             "platform": {"architecture": if host_arch == "arm64" { "riscv64" } else { "arm64" }, "os": "linux"}},
            {"mediaType": host["mediaType"], "digest": host["digest"], "size": host["size"],
             "platform": {"architecture": host_arch, "os": "linux"}},
        ]
    }));
    let top = serde_json::json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": id, "size": isz,
        "annotations": {"org.opencontainers.image.ref.name": "multi:1"}}]});
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();

    let store = tmp.path().join("store");
    assert_eq!(
        ok(duckc(&store).arg("load").arg("-i").arg(&layout)),
        "Loaded image: multi:1\n"
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(duckc(&store).args(["inspect", "multi:1"]))).unwrap();
    assert_eq!(inspect[0]["Digest"], id.as_str());
    assert_eq!(inspect[0]["ManifestDigest"], host["digest"]);
    assert_eq!(inspect[0]["Architecture"], host_arch);
    // Saved, the whole index travels: skopeo sees both platforms.
    let archive = tmp.path().join("multi.tar");
    ok(duckc(&store)
        .arg("save")
        .arg("-o")
        .arg(&archive)
        .arg("multi:1"));
    let raw: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci-archive:{}", archive.display()))))
    .unwrap();
    assert_eq!(raw["manifests"].as_array().unwrap().len(), 2, "{raw}");
    let copy = tmp.path().join("copy");
    ok(Command::new("skopeo")
        .args(["copy", "--all"])
        .arg(format!("oci-archive:{}", archive.display()))
        .arg(format!("oci:{}:multi", copy.display())));
    ok(duckc(&store).args(["rmi", "multi:1"]));
    ok(duckc(&store).arg("gc"));
    assert_eq!(
        std::fs::read_dir(store.join("blobs/sha256"))
            .unwrap()
            .count(),
        0
    );
}

/// A build keeps its `COPY` layer and a `RUN` layer that a later step unpacked as snapshots
/// only (no blob file); gc keeps those snapshots, `verify` writes them again and is clean,
/// `save` gives the same archive after gc. A build killed between recording such a snapshot
/// and deleting the blob it replaces leaves a clean store, and builds again.
#[test]
fn build_layers_are_kept_once_and_gc_keeps_them() {
    if !tools(&["umoci"]) || !common::require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let ctx = tmp.path().join("ctx");
    fs_tree(
        &ctx,
        &[
            ("greeting", "quack\n"),
            (
                "Dockerfile",
                "FROM busybox\nCOPY greeting /greeting\nRUN rm /bin/vi && echo hi > /x\nRUN echo two > /y\n",
            ),
        ],
    );
    let store = tmp.path().join("store");
    load_busybox(&store);
    ok(duckc(&store).args(["build", "-t", "kept:1"]).arg(&ctx));
    let s = Store::open(&store).unwrap();
    let image = duckc_image::resolve(&s, "kept:1").unwrap();
    assert_eq!(image.layers.len(), 4);
    for l in &image.layers[1..3] {
        assert!(!s.has_blob_file(&l.digest), "{} has a blob file", l.digest);
        assert!(s.snapshot_path(&l.diff_id).is_dir());
    }
    let archive = |name: &str| {
        let path = tmp.path().join(name);
        ok(duckc(&store).arg("save").arg("-o").arg(&path).arg("kept:1"));
        std::fs::read(path).unwrap()
    };
    let before = archive("before.tar");
    ok(duckc(&store).arg("gc"));
    verify_clean(&store);
    for l in &image.layers {
        assert!(s.has_blob(&l.digest), "gc removed {}", l.digest);
    }
    assert!(
        archive("after.tar") == before,
        "the archive changed after gc"
    );
    // The same archive loads into a fresh store as the same image.
    let other = tmp.path().join("other");
    ok(duckc(&other)
        .arg("load")
        .arg("-i")
        .arg(tmp.path().join("after.tar")));
    let id = |st: &Path| ok(duckc(st).args(["images", "--no-trunc", "-q", "kept"]));
    assert_eq!(id(&other), id(&store));

    let crashed = tmp.path().join("crashed");
    load_busybox(&crashed);
    let out = output(
        duckc(&crashed)
            .env("DUCKC_CRASH_AT", "snapshot-before-blob-removal")
            .args(["build", "-t", "kept:1"])
            .arg(&ctx),
    );
    assert!(killed(&out), "not killed: {out:?}");
    verify_clean(&crashed);
    ok(duckc(&crashed).args(["build", "-t", "kept:1"]).arg(&ctx));
    verify_clean(&crashed);
    assert_eq!(id(&crashed), id(&store));
}

/// A load whose blobs the store's file system cannot hold is refused before it writes them,
/// whatever it loads: an OCI archive or a docker one (their headers summed), an OCI layout
/// directory (its index walked), a gzip'd archive (each blob checked as it comes, so only
/// blobs that fit may be in before the refusal). The error is `store::no_space` naming the
/// archive, with a help; `verify` is clean; the same load works once the store has room.
#[test]
fn a_load_that_cannot_fit_is_refused() {
    if !require_root() || !tools(&["umoci"]) {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk-store");
    load_busybox(&disk);
    ok(duckc(&disk).args([
        "run",
        "--name",
        "big",
        "busybox",
        "sh",
        "-c",
        "head -c 10000000 /dev/urandom > /big",
    ]));
    ok(duckc(&disk).args(["commit", "big", "big:1"]));
    let oci = tmp.path().join("big.tar");
    ok(duckc(&disk).arg("save").arg("-o").arg(&oci).arg("big:1"));
    let docker = tmp.path().join("big-docker.tar");
    ok(duckc(&disk)
        .args(["save", "--format", "docker", "-o"])
        .arg(&docker)
        .arg("big:1"));
    let layout = tmp.path().join("big-layout");
    std::fs::create_dir(&layout).unwrap();
    ok(Command::new("tar")
        .arg("-xf")
        .arg(&oci)
        .arg("-C")
        .arg(&layout));
    let gzipped = tmp.path().join("big.tar.gz");
    ok(Command::new("sh").arg("-c").arg(format!(
        "gzip -1 -c {} > {}",
        oci.display(),
        gzipped.display()
    )));

    let fs = common::store::Tmpfs::mount("8m");
    let store = fs.path().join("store");
    for (input, up_front) in [
        (&oci, true),
        (&docker, true),
        (&layout, true),
        (&gzipped, false),
    ] {
        let out = output(duckc(&store).arg("load").arg("-i").arg(input));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: {err}", input.display());
        assert!(err.contains("store::no_space"), "{err}");
        assert!(
            err.contains(&format!("not enough space to store `{}`", input.display())),
            "{err}"
        );
        assert!(err.contains("help: free space on the file system"), "{err}");
        if up_front {
            let blobs = std::fs::read_dir(store.join("blobs/sha256"))
                .unwrap()
                .count();
            assert_eq!(blobs, 0, "{}", input.display());
        }
        assert_eq!(std::fs::read_dir(store.join("tmp")).unwrap().count(), 0);
        verify_clean(&store);
        let images = ok(duckc(&store).args(["images", "-q"]));
        assert!(images.trim().is_empty(), "{images}");
    }

    // Room made: the same archive loads into a store that can hold it.
    let roomy = tmp.path().join("roomy-store");
    ok(duckc(&roomy).arg("load").arg("-i").arg(&gzipped));
    verify_clean(&roomy);
}
