//! End-to-end tests of the store and images: the CLI verbs, interop with skopeo, umoci and
//! podman, reproducibility, malicious archives, crashes and concurrency.

mod common;

use std::path::Path;
use std::process::Command;

use common::store::{busybox_layout, load_busybox};
use common::{duckc, ok, output, require_tool};
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

#[allow(dead_code)]
fn run(cmd: &mut Command) -> std::process::Output {
    output(cmd)
}
