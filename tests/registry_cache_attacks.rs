//! An attacker's pass over the registry build cache (`build --cache-from REF`): what a hostile
//! or compromised cache registry can send. A real build exports a real cache to a real
//! `docker-registry`; each test then forges an artifact from it (its index edited, blobs of its
//! own), puts it under another tag with plain distribution-API requests, and builds from it in
//! a fresh store. A cache entry that is merely unusable is a cache miss with a warning naming
//! the cache (BuildKit's behaviour); a forged layer never ends up in an image or as a checked
//! layer record, and `duckc verify` stays clean. docs/security.md lists each case.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};

use common::registry::{Registry, run};
use common::store::load_busybox;
use common::{require_root, require_tool};
use serde_json::{Value, json};

const INDEX_MEDIA_TYPE: &str = "application/vnd.duckc.build-cache.index.v1+json";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";

/// Whether the tools these tests need are here (under CI a missing one is a failure).
fn ready() -> bool {
    require_root()
        && require_tool("docker-registry")
        && require_tool("umoci")
        && require_tool("gzip")
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip")
        .arg("-nc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// A tar of `entries` (name, symlink target or file bytes), names written raw so that `../`
/// and absolute ones go in as they are.
fn tar(entries: &[(&str, Result<&str, &[u8]>)]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (name, what) in entries {
        let mut header = tar::Header::new_gnu();
        header.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
        let body: &[u8] = match what {
            Ok(target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
                &[]
            }
            Err(bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(0o644);
                bytes
            }
        };
        header.set_size(body.len() as u64);
        header.set_cksum();
        builder.append(&header, body).unwrap();
    }
    builder.into_inner().unwrap()
}

/// One plain HTTP/1.1 request to the registry on `port`: (status, headers, body).
fn http(
    port: u16,
    method: &str,
    path: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Accept: application/vnd.oci.image.manifest.v1+json\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    conn.write_all(body).unwrap();
    let mut raw = Vec::new();
    conn.read_to_end(&mut raw).unwrap();
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head, raw[end + 4..].to_vec())
}

/// The registry's blob `digest` of `repo`.
fn get_blob(port: u16, repo: &str, digest: &str) -> Vec<u8> {
    let (status, head, body) = http(port, "GET", &format!("/v2/{repo}/blobs/{digest}"), "", b"");
    assert_eq!(status, 200, "{head}");
    body
}

/// Upload `bytes` as a blob of `repo` (POST, then a monolithic PUT); its digest.
fn put_blob(port: u16, repo: &str, bytes: &[u8]) -> String {
    let digest = sha(bytes);
    let (status, head, _) = http(port, "POST", &format!("/v2/{repo}/blobs/uploads/"), "", b"");
    assert_eq!(status, 202, "{head}");
    let location = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("location")
                .then(|| v.trim().to_owned())
        })
        .unwrap();
    let path = match location.find("/v2/") {
        Some(i) => location[i..].to_owned(),
        None => location,
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, head, _) = http(
        port,
        "PUT",
        &format!("{path}{sep}digest={digest}"),
        "application/octet-stream",
        bytes,
    );
    assert_eq!(status, 201, "{head}");
    digest
}

/// A build cache from one real build, and what a forger reads from it.
struct CacheForgery {
    registry: Registry,
    cfg: tempfile::TempDir,
    ctx: tempfile::TempDir,
    /// The real cache's index.
    index: Value,
    /// The cache keys of the `COPY` and the `RUN` step.
    copy_key: String,
    run_key: String,
    /// The uncompressed tar of the real `COPY` layer.
    copy_tar: Vec<u8>,
}

const REPO: &str = "ci/cache";

impl CacheForgery {
    /// Build a context (`COPY greeting` = `quack`, then a `RUN`) with `--cache-to` the real
    /// cache, in a store of its own, and read the cache back as a forger would.
    fn start() -> Option<CacheForgery> {
        if !ready() {
            return None;
        }
        let registry = Registry::start("");
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("greeting"), "quack\n").unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM busybox\nCOPY greeting /greeting\nRUN echo ran-the-step && echo built > /built\n",
        )
        .unwrap();
        let mut f = CacheForgery {
            cfg: tempfile::tempdir().unwrap(),
            ctx,
            index: Value::Null,
            copy_key: String::new(),
            run_key: String::new(),
            copy_tar: Vec::new(),
            registry,
        };
        let real = format!("{}/{REPO}:real", f.registry.host());
        let a = fresh_store();
        load_busybox(a.path());
        let (code, out, err) = f.build(a.path(), &["--cache-to", &real]);
        assert_eq!(code, 0, "{out}\n{err}");
        let store = duckc_store::Store::open(a.path()).unwrap();
        let image = duckc_image::resolve(&store, "local/duck").unwrap();
        let [.., copy, last] = &image.layers[..] else {
            panic!("{:?}", image.layers)
        };
        store
            .open_blob(&copy.digest)
            .unwrap()
            .read_to_end(&mut f.copy_tar)
            .unwrap();
        assert_eq!(sha(&f.copy_tar), copy.diff_id.to_string());

        let port = f.registry.port;
        let (status, head, manifest) =
            http(port, "GET", &format!("/v2/{REPO}/manifests/real"), "", b"");
        assert_eq!(status, 200, "{head}");
        let manifest: Value = serde_json::from_slice(&manifest).unwrap();
        let config = manifest["config"]["digest"].as_str().unwrap();
        f.index = serde_json::from_slice(&get_blob(port, REPO, config)).unwrap();
        let key_of = |index: &Value, diff_id: String| {
            index["entries"]
                .as_object()
                .unwrap()
                .iter()
                .find(|(_, e)| e["layers"][0]["layer"]["diff_id"] == diff_id.as_str())
                .map(|(k, _)| k.clone())
                .unwrap()
        };
        f.copy_key = key_of(&f.index, copy.diff_id.to_string());
        f.run_key = key_of(&f.index, last.diff_id.to_string());
        Some(f)
    }

    fn cache(&self, tag: &str) -> String {
        format!("{}/{REPO}:{tag}", self.registry.host())
    }

    /// `duckc build --progress plain -t local/duck ARGS` of the context in `store`.
    fn build(&self, store: &Path, args: &[&str]) -> (i32, String, String) {
        let mut all = vec!["build", "--progress", "plain", "-t", "local/duck"];
        all.extend_from_slice(args);
        all.push(self.ctx.path().to_str().unwrap());
        run(store, self.cfg.path(), &all)
    }

    /// Put `index` (its config blob) under `tag`, with `blobs` uploaded and named as the
    /// artifact's layers beside the real cache's own.
    fn forge(&self, tag: &str, index: &[u8], blobs: &[&[u8]]) -> String {
        let port = self.registry.port;
        let config = put_blob(port, REPO, index);
        let (_, _, real) = http(port, "GET", &format!("/v2/{REPO}/manifests/real"), "", b"");
        let real: Value = serde_json::from_slice(&real).unwrap();
        let mut layers = real["layers"].as_array().unwrap().clone();
        for b in blobs {
            layers.push(
                json!({"mediaType": GZIP, "digest": put_blob(port, REPO, b), "size": b.len()}),
            );
        }
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "artifactType": "application/vnd.duckc.build-cache.v1",
            "config": {"mediaType": INDEX_MEDIA_TYPE, "digest": config, "size": index.len()},
            "layers": layers,
        });
        let (status, head, _) = http(
            port,
            "PUT",
            &format!("/v2/{REPO}/manifests/{tag}"),
            "application/vnd.oci.image.manifest.v1+json",
            &serde_json::to_vec(&manifest).unwrap(),
        );
        assert_eq!(status, 201, "{head}");
        self.cache(tag)
    }

    /// The real index with the `COPY` step's one layer replaced by `layer` (its
    /// `CachedLayer` JSON), under `tag`, `blobs` uploaded.
    fn forge_copy_layer(&self, tag: &str, layer: Value, blobs: &[&[u8]]) -> String {
        let mut index = self.index.clone();
        index["entries"][&self.copy_key]["layers"][0] = layer;
        self.forge(tag, &serde_json::to_vec(&index).unwrap(), blobs)
    }

    /// A build from the cache `cache` in a fresh store succeeds, takes nothing from it for
    /// the `COPY` step (its warning names the cache), gives the real `/greeting`, and leaves
    /// a store `verify` finds clean in which nothing claims `forged_diff_ids`: its stderr.
    fn copy_step_is_a_miss(&self, cache: &str, forged_diff_ids: &[&str]) -> String {
        let s = fresh_store();
        let s = s.path();
        load_busybox(s);
        let (code, out, err) = self.build(s, &["--cache-from", cache]);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(err.contains("warning: "), "no warning:\n{err}");
        assert!(
            !err.contains('\x1b'),
            "a terminal escape reached the output:\n{err:?}"
        );
        assert!(
            err.contains(cache),
            "the warning does not name the cache:\n{err}"
        );
        // The `COPY` step was built here: one step at most from the cache (the `RUN`).
        assert!(out.matches("Using cache").count() <= 1, "{out}");
        let got = must(
            s,
            &self.cfg,
            &["run", "--rm", "local/duck", "cat", "/greeting"],
        );
        assert_eq!(got, "quack\n");
        for d in forged_diff_ids {
            let hex = d.trim_start_matches("sha256:");
            assert!(
                !s.join(format!("layers/sha256/{hex}.json")).exists(),
                "a forged layer {d} has a checked record"
            );
        }
        must(s, &self.cfg, &["verify"]);
        err
    }
}

/// Whether the build's `RUN` step ran (its output line, not the step's own line).
fn ran(out: &str) -> bool {
    out.lines().any(|l| l == "ran-the-step")
}

fn fresh_store() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("duckc-cache-attacks-store-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

#[track_caller]
fn must(store: &Path, cfg: &tempfile::TempDir, args: &[&str]) -> String {
    let (code, out, err) = run(store, cfg.path(), args);
    assert_eq!(code, 0, "duckc {args:?}\nstdout:\n{out}\nstderr:\n{err}");
    out
}

/// A cache entry whose layer blob does not unpack to the diff_id it claims: gzipped (the
/// index says the layer is the uncompressed tar of that diff_id, the blob is the gzip of
/// another tar), or a gzip layer as a pulled base has. Each is a miss, built here.
#[test]
fn a_cached_layer_that_does_not_unpack_to_its_diff_id_is_a_miss() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let real = sha(&f.copy_tar);
    let forged = gzip(&tar(&[("greeting", Err(&b"forged\n"[..]))]));
    let cache = f.forge_copy_layer(
        "lying-gzip",
        json!({
            "layer": {"digest": real, "diff_id": real, "size": f.copy_tar.len(), "media_type": TAR},
            "diff_size": f.copy_tar.len(),
            "blob": sha(&forged), "blob_size": forged.len(),
        }),
        &[&forged],
    );
    f.copy_step_is_a_miss(&cache, &[]);

    let cache = f.forge_copy_layer(
        "lying-compressed",
        json!({
            "layer": {"digest": sha(&forged), "diff_id": real, "size": forged.len(), "media_type": GZIP},
            "diff_size": f.copy_tar.len(),
            "blob": sha(&forged), "blob_size": forged.len(),
        }),
        &[&forged],
    );
    let err = f.copy_step_is_a_miss(&cache, &[]);
    assert!(err.contains("does not unpack to its diff_id"), "{err}");
}

/// Sizes a cache index lies about: a blob size short of the blob's, a layer size or a blob
/// size of 2^64-1, and an uncompressed layer whose declared size and diff size are not its
/// blob's (the image's manifest would carry them). Each is a miss; nothing panics.
#[test]
fn sizes_a_cache_index_lies_about_are_a_miss() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let real = sha(&f.copy_tar);
    let entry = &f.index["entries"][&f.copy_key]["layers"][0];
    let (blob, blob_size) = (entry["blob"].clone(), entry["blob_size"].as_u64().unwrap());
    let layer =
        json!({"digest": real, "diff_id": real, "size": f.copy_tar.len(), "media_type": TAR});
    let mut with_size = layer.clone();
    with_size["size"] = u64::MAX.into();
    // The uncompressed layer as its own blob, declared 100 bytes longer, its diff size 1.
    let mut lying = layer.clone();
    lying["size"] = (f.copy_tar.len() + 100).into();
    let cache = f.forge_copy_layer(
        "lying-size",
        json!({"layer": lying, "diff_size": 1, "blob": real, "blob_size": f.copy_tar.len()}),
        &[&f.copy_tar],
    );
    f.copy_step_is_a_miss(&cache, &[]);

    for (tag, cached) in [
        (
            "short-blob",
            json!({"layer": layer, "diff_size": f.copy_tar.len(), "blob": blob, "blob_size": blob_size - 1}),
        ),
        (
            "endless-blob",
            json!({"layer": layer, "diff_size": f.copy_tar.len(), "blob": blob, "blob_size": u64::MAX}),
        ),
        (
            "endless-layer",
            json!({"layer": with_size, "diff_size": u64::MAX, "blob": blob, "blob_size": blob_size}),
        ),
    ] {
        let cache = f.forge_copy_layer(tag, cached, &[]);
        f.copy_step_is_a_miss(&cache, &[]);
    }
}

/// Entries of the wrong shape under the `COPY` step's key: no layers, or several layers (the
/// shape of a `packages` step's entry) where the step makes one. The step is built here, the
/// image is the real one, and the store is clean.
#[test]
fn entries_of_the_wrong_shape_are_a_miss() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let copy = f.index["entries"][&f.copy_key].clone();
    let two = json!({"several": true, "layers": [copy["layers"][0], copy["layers"][0]]});
    for (tag, entry) in [
        ("no-layers", json!({"several": false, "layers": []})),
        ("no-layers-several", json!({"several": true, "layers": []})),
        ("several", two),
    ] {
        let mut index = f.index.clone();
        index["entries"][&f.copy_key] = entry;
        let cache = f.forge(tag, &serde_json::to_vec(&index).unwrap(), &[]);
        let s = fresh_store();
        let s = s.path();
        load_busybox(s);
        let (code, out, err) = f.build(s, &["--cache-from", &cache]);
        assert_eq!(code, 0, "{tag}: stdout:\n{out}\nstderr:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(out.matches("Using cache").count() <= 1, "{tag}: {out}");
        let got = must(
            s,
            &f.cfg,
            &["run", "--rm", "local/duck", "cat", "/greeting"],
        );
        assert_eq!(got, "quack\n");
        must(s, &f.cfg, &["verify"]);
    }
}

/// A cached layer of a media type duckc does not unpack (encrypted, an artifact's), though
/// its blob is the real tar itself: the built image's manifest would name that type. A miss.
#[test]
fn a_cached_layer_of_an_unsupported_media_type_is_a_miss() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let real = sha(&f.copy_tar);
    for (tag, media_type) in [
        (
            "encrypted",
            "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        ),
        (
            "helm",
            "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        ),
        ("escapes", "application/\u{1b}[31mred"),
    ] {
        let cache = f.forge_copy_layer(
            tag,
            json!({
                "layer": {"digest": real, "diff_id": real, "size": f.copy_tar.len(), "media_type": media_type},
                "diff_size": f.copy_tar.len(),
                "blob": real, "blob_size": f.copy_tar.len(),
            }),
            &[&f.copy_tar],
        );
        let err = f.copy_step_is_a_miss(&cache, &[]);
        assert!(!err.contains('\x1b'), "{err:?}");
    }
}

/// A cached layer whose tar climbs out (`../`): refused when the cache's layer is imported
/// (unpacked as any layer is), so it is a miss and the image is the real one. One that plants
/// an absolute symlink and writes through it is a layer like any other (absolute links are
/// resolved inside the root, SECURITY 13): whether the build takes it or not, nothing is
/// written outside the store, at the import or when its image runs.
#[test]
fn a_cached_layer_that_climbs_out_is_a_miss() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let entry = |layer: &[u8], gz: &[u8]| {
        let d = sha(layer);
        json!({
            "layer": {"digest": d, "diff_id": d, "size": layer.len(), "media_type": TAR},
            "diff_size": layer.len(),
            "blob": sha(gz), "blob_size": gz.len(),
        })
    };
    // Its name has a terminal escape, which the warning quoting it must not send raw.
    let escape = tempfile::tempdir().unwrap();
    let climbing = tar(&[
        ("greeting", Err(&b"forged\n"[..])),
        (
            &format!(
                "../../../../../../../..{}/\x1b[31mout",
                escape.path().display()
            ),
            Err(&b"out\n"[..]),
        ),
    ]);
    let gz = gzip(&climbing);
    let cache = f.forge_copy_layer("climbing", entry(&climbing, &gz), &[&gz]);
    f.copy_step_is_a_miss(&cache, &[&sha(&climbing)]);
    assert_eq!(std::fs::read_dir(escape.path()).unwrap().count(), 0);

    let victim = tempfile::tempdir().unwrap();
    let target = victim.path().to_str().unwrap().to_owned();
    let through_link = tar(&[
        ("greeting", Err(&b"forged\n"[..])),
        ("link", Ok(target.as_str())),
        ("link/pwned", Err(&b"out\n"[..])),
    ]);
    let gz = gzip(&through_link);
    let cache = f.forge_copy_layer("through-link", entry(&through_link, &gz), &[&gz]);
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    let (code, out, err) = f.build(s, &["--cache-from", &cache]);
    assert!(code == 0 || code == 1, "stdout:\n{out}\nstderr:\n{err}");
    let _ = run(
        s,
        f.cfg.path(),
        &["run", "--rm", "local/duck", "ls", "/link/"],
    );
    assert_eq!(std::fs::read_dir(victim.path()).unwrap().count(), 0);
    must(s, &f.cfg, &["verify"]);
}

/// What a cache registry sends in place of a cache: an index that is not JSON, one nested
/// 100,000 deep, one over the 4 MiB metadata limit, a config whose declared size is not its
/// blob's, an image at the cache's tag. Each is a warning naming the cache; every step is
/// built; the store is clean.
#[test]
fn a_cache_artifact_that_is_malformed_huge_or_not_a_cache_is_ignored() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let check = |cache: &str| {
        let s = fresh_store();
        let s = s.path();
        load_busybox(s);
        let (code, out, err) = f.build(s, &["--cache-from", cache]);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            err.contains(&format!("cannot read the build cache `{cache}`")),
            "{err}"
        );
        assert!(ran(&out), "{out}");
        assert!(!out.contains("Using cache"), "{out}");
        must(s, &f.cfg, &["verify"]);
    };
    check(&f.forge("not-json", b"{\"entries\": {\"sha256:", &[]));
    check(&f.forge("deep", "[".repeat(100_000).as_bytes(), &[]));
    let huge = json!({"entries": {"junk": "x".repeat(5 << 20)}});
    check(&f.forge("huge", &serde_json::to_vec(&huge).unwrap(), &[]));

    // The config's declared size short of its blob's.
    let index = serde_json::to_vec(&f.index).unwrap();
    let port = f.registry.port;
    let config = put_blob(port, REPO, &index);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": INDEX_MEDIA_TYPE, "digest": config, "size": index.len() - 1},
        "layers": [],
    });
    let (status, head, _) = http(
        port,
        "PUT",
        &format!("/v2/{REPO}/manifests/short-config"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    assert_eq!(status, 201, "{head}");
    check(&f.cache("short-config"));

    // An image at the cache's tag (its config is an image config).
    let image_config =
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#;
    let config = put_blob(port, REPO, image_config);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config, "size": image_config.len()},
        "layers": [],
    });
    let (status, head, _) = http(
        port,
        "PUT",
        &format!("/v2/{REPO}/manifests/an-image"),
        "application/vnd.oci.image.manifest.v1+json",
        &serde_json::to_vec(&manifest).unwrap(),
    );
    assert_eq!(status, 201, "{head}");
    check(&f.cache("an-image"));
}

/// An entry under the cache key of another step: the `RUN` step's key names the `COPY`
/// step's layer, a real layer that unpacks to its diff_id. Nothing can tell that the `RUN`
/// would not have made it, so the build takes it, as BuildKit does with its registry cache:
/// a cache ref is trusted like a base image (docs/security.md). Pinned here so that the
/// trust is a decision: the store stays consistent, and `--no-cache` builds the real image.
#[test]
fn an_entry_under_another_steps_key_is_trusted_like_a_base() {
    let Some(f) = CacheForgery::start() else {
        return;
    };
    let mut index = f.index.clone();
    index["entries"][&f.run_key] = index["entries"][&f.copy_key].clone();
    let cache = f.forge("swapped", &serde_json::to_vec(&index).unwrap(), &[]);
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    let (code, out, err) = f.build(s, &["--cache-from", &cache]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!ran(&out), "{out}");
    let (code, _, _) = run(
        s,
        f.cfg.path(),
        &["run", "--rm", "local/duck", "cat", "/built"],
    );
    assert_ne!(code, 0, "the swapped entry was not taken");
    must(s, &f.cfg, &["verify"]);
    let (code, out, err) = f.build(s, &["--no-cache"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(ran(&out), "{out}");
    let got = must(s, &f.cfg, &["run", "--rm", "local/duck", "cat", "/built"]);
    assert_eq!(got, "built\n");
}
