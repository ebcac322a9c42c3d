//! An attacker's pass over what duckc reads from registries and archives, beyond SECURITY
//! 26–29 (those are in `tests/registry.rs`): digests that are paths or other algorithms,
//! sizes out of range, foreign layers' `urls`, artifacts and unknown layer types, platform
//! names with terminal escapes, token realms that redirect, and the same through `duckc load`
//! of archives. Each registry here is a small loopback server that sends what a real registry
//! would not, and records every request it gets; docs/security.md lists each case.

mod common;

use std::collections::HashMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use common::registry::{read_request, respond, run};
use common::{duckc, output, require_root};

/// A refusal as every user error must be: a non-zero exit that is not a panic (101), with a
/// `help:` line, no terminal escape, and a bounded length.
#[track_caller]
fn refused(result: &(i32, String, String)) -> &str {
    refused_echoing(result, "")
}

/// [`refused`] for an error that may quote `input`, the user's own, in full.
#[track_caller]
fn refused_echoing<'a>(result: &'a (i32, String, String), input: &str) -> &'a str {
    let (code, out, err) = result;
    let (out_, err_) = (clip(out), clip(err));
    assert_ne!(*code, 0, "succeeded:\n{out_}\n{err_}");
    assert_ne!(*code, 101, "panicked:\n{err_}");
    assert!(!err.contains("panicked"), "{err_}");
    assert!(err.contains("help:"), "no help line:\n{err_}");
    assert!(
        !err.contains('\x1b'),
        "a terminal escape reached the output:\n{:?}",
        err_
    );
    assert!(
        err.len() < (8 << 10) + 2 * input.len(),
        "{} bytes of error",
        err.len()
    );
    err
}

/// At most 2,000 characters of `s`, for a failure message.
fn clip(s: &str) -> String {
    s.chars().take(2000).collect()
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(bytes);
    format!(
        "sha256:{}",
        d.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

type Route = dyn Fn(&str, &str, &mut TcpStream) -> bool + Send + Sync;

/// A loopback HTTP/1.1 server: `route` answers a request (path, lower-cased headers) and says
/// whether it did; anything else gets a registry's 404. Every request line and its headers
/// are recorded.
struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(route: Box<Route>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        let route: Arc<Route> = Arc::from(route);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let route = route.clone();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    // A TLS probe (a ClientHello) is closed at once: duckc falls back to HTTP.
                    let Some((line, headers)) = read_request(&conn) else {
                        return;
                    };
                    seen.lock()
                        .unwrap()
                        .push(format!("{}\n{headers}", line.trim()));
                    let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                    if !route(&path, &headers, &mut conn) {
                        respond(
                            &mut conn,
                            "404 Not Found",
                            "application/json",
                            br#"{"errors":[{"code":"NOT_FOUND","message":"no"}]}"#,
                        );
                    }
                });
            }
        });
        Server { port, requests }
    }

    /// A registry that serves `files` (path → content type and body), and `/v2/`.
    fn serving(files: HashMap<String, (String, Vec<u8>)>) -> Server {
        Server::start(Box::new(move |path, _, conn| {
            if path == "/v2/" {
                respond(conn, "200 OK", "application/json", b"{}");
                return true;
            }
            match files.get(path) {
                Some((ct, body)) => {
                    respond(conn, "200 OK", ct, body);
                    true
                }
                None => false,
            }
        }))
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }

    /// The request lines (`GET /v2/… HTTP/1.1`) only.
    fn request_lines(&self) -> Vec<String> {
        self.requests()
            .iter()
            .map(|r| r.lines().next().unwrap_or("").to_owned())
            .collect()
    }
}

const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
const TAR: &str = "application/vnd.oci.image.layer.v1.tar";

/// An empty tar: the smallest real layer.
fn empty_layer() -> Vec<u8> {
    vec![0u8; 1024]
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// An image config whose layers are `diff_ids`, with `extra` merged into its `config`.
fn config_json(diff_ids: &[String], extra: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": host_arch(),
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "config": extra,
    }))
    .unwrap()
}

/// A manifest text from descriptor texts (written by hand, so that any field can be junk).
fn manifest_text(config: &str, layers: &[String]) -> Vec<u8> {
    format!(
        r#"{{"schemaVersion":2,"mediaType":"{MANIFEST}","config":{config},"layers":[{}]}}"#,
        layers.join(",")
    )
    .into_bytes()
}

fn descriptor(media_type: &str, digest: &str, size: &str) -> String {
    format!(r#"{{"mediaType":"{media_type}","digest":"{digest}","size":{size}}}"#)
}

/// The files of a registry repository `repo` holding, under tag `tag`, `manifest` (served as
/// `content_type`) and `blobs`.
fn repository(
    files: &mut HashMap<String, (String, Vec<u8>)>,
    repo: &str,
    tag: &str,
    (content_type, manifest): (&str, &[u8]),
    blobs: &[&[u8]],
) {
    files.insert(
        format!("/v2/{repo}/manifests/{tag}"),
        (content_type.to_owned(), manifest.to_vec()),
    );
    files.insert(
        format!("/v2/{repo}/manifests/{}", sha(manifest)),
        (content_type.to_owned(), manifest.to_vec()),
    );
    for b in blobs {
        files.insert(
            format!("/v2/{repo}/blobs/{}", sha(b)),
            ("application/octet-stream".to_owned(), b.to_vec()),
        );
    }
}

/// A fresh store and Docker config directory.
fn fresh() -> (tempfile::TempDir, tempfile::TempDir) {
    (
        tempfile::Builder::new()
            .prefix("duckc-attacks-store-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap(),
        tempfile::tempdir().unwrap(),
    )
}

/// The store holds no image and `verify` finds nothing wrong.
#[track_caller]
fn store_clean(store: &Path, cfg: &Path) {
    let (code, out, err) = run(store, cfg, &["images", "-q"]);
    assert_eq!((code, out.trim()), (0, ""), "{err}");
    let (code, out, err) = run(store, cfg, &["verify"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Digests that are paths, other algorithms or malformed hex, in the config, layer and index
/// descriptors a registry serves, and in the name asked for: each is refused with a clear
/// error, no request ever carries it, and nothing is written outside the store.
#[test]
fn digests_that_are_not_sha256_are_refused() {
    if !require_root() {
        return;
    }
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("planted");
    let hex64 = "ab".repeat(32);
    let bad_digests = [
        format!("sha256:../../../../../../..{}", target.display()),
        format!("sha256:{}", hex64.to_ascii_uppercase()),
        "sha256:abc".to_owned(),
        format!("sha256:{hex64}00"),
        format!("sha256:{hex64}/../../x"),
        format!("sha512:{}", "ab".repeat(64)),
        format!("md5:{}", "ab".repeat(16)),
        format!("SHA256:{hex64}"),
        format!("sha256+b64u:{hex64}"),
        "sha256:".to_owned(),
        String::new(),
        format!("sha256:{hex64}\\u0000"),
    ];
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let good_layer = descriptor(TAR, &sha(&layer), &layer.len().to_string());
    let mut files = HashMap::new();
    for (i, bad) in bad_digests.iter().enumerate() {
        // In the config's descriptor, a layer's, and an index's entry for this platform.
        let m = manifest_text(
            &descriptor(CONFIG, bad, &config.len().to_string()),
            std::slice::from_ref(&good_layer),
        );
        repository(
            &mut files,
            &format!("c/d{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        let m = manifest_text(&good_config, &[descriptor(TAR, bad, "1024")]);
        repository(
            &mut files,
            &format!("l/d{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{bad}","size":100,"platform":{{"os":"linux","architecture":"{}"}}}}]}}"#,
            host_arch()
        );
        repository(
            &mut files,
            &format!("i/d{i}"),
            "v1",
            (INDEX, index.as_bytes()),
            &[],
        );
    }
    let server = Server::serving(files);
    let (s, cfg) = fresh();
    for i in 0..bad_digests.len() {
        for kind in ["c", "l", "i"] {
            for all in [false, true] {
                let name = format!("{}/{kind}/d{i}:v1", server.host());
                let mut args = vec!["pull", name.as_str()];
                if all {
                    args.push("--all-platforms");
                }
                let result = run(s.path(), cfg.path(), &args);
                let err = refused(&result);
                assert!(err.contains(&name), "{err}");
            }
        }
    }
    // The names asked for: a digest that is not sha256 hex, `..` components, a 10 KB tag.
    let before = server.requests().len();
    for name in [
        format!("{}/x@sha256:../../etc", server.host()),
        format!("{}/x@sha512:{}", server.host(), "ab".repeat(64)),
        format!("{}/x@sha256:{}", server.host(), hex64.to_ascii_uppercase()),
        format!("{}/../../x:v1", server.host()),
        format!("{}/a/./b:v1", server.host()),
        format!("{}/x:{}", server.host(), "a".repeat(10 << 10)),
        format!("{}/{}:v1", server.host(), "a/".repeat(5 << 10)),
        format!("{}/x:v1/../../y", server.host()),
    ] {
        refused_echoing(&run(s.path(), cfg.path(), &["pull", &name]), &name);
    }
    assert_eq!(
        server.requests().len(),
        before,
        "a bad name reached the registry"
    );
    for r in server.request_lines() {
        assert!(
            !r.contains("..") && !r.contains("sha512") && !r.contains("md5"),
            "{r}"
        );
    }
    assert!(!target.exists());
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
    store_clean(s.path(), cfg.path());
}

/// Declared sizes a registry cannot honour: 2^64-1, 2^63, negative, fractional, or a config
/// over the metadata cap. Each is refused with a clear error (no arithmetic overflow), and
/// nothing is stored.
#[test]
fn declared_sizes_out_of_range_are_refused() {
    if !require_root() {
        return;
    }
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let sizes = [
        "18446744073709551615",
        "18446744073709551614",
        "9223372036854775808",
        "9223372036854775807",
        "-1",
        "1.5",
        "1e30",
        "\"1024\"",
        "null",
    ];
    let mut files = HashMap::new();
    for (i, size) in sizes.iter().enumerate() {
        let m = manifest_text(&good_config, &[descriptor(TAR, &sha(&layer), size)]);
        repository(
            &mut files,
            &format!("l/s{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        let m = manifest_text(
            &descriptor(CONFIG, &sha(&config), size),
            &[descriptor(TAR, &sha(&layer), "1024")],
        );
        repository(
            &mut files,
            &format!("c/s{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        // An index entry for this platform with that size.
        let good = manifest_text(&good_config, &[descriptor(TAR, &sha(&layer), "1024")]);
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{{"mediaType":"{MANIFEST}","digest":"{}","size":{size},"platform":{{"os":"linux","architecture":"{}"}}}}]}}"#,
            sha(&good),
            host_arch()
        );
        repository(
            &mut files,
            &format!("i/s{i}"),
            "v1",
            (INDEX, index.as_bytes()),
            &[],
        );
        files.insert(
            format!("/v2/i/s{i}/manifests/{}", sha(&good)),
            (MANIFEST.to_owned(), good.clone()),
        );
        files.insert(
            format!("/v2/i/s{i}/blobs/{}", sha(&config)),
            ("application/octet-stream".to_owned(), config.clone()),
        );
        files.insert(
            format!("/v2/i/s{i}/blobs/{}", sha(&layer)),
            ("application/octet-stream".to_owned(), layer.clone()),
        );
    }
    let server = Server::serving(files);
    let (s, cfg) = fresh();
    for (i, size) in sizes.iter().enumerate() {
        for kind in ["l", "c", "i"] {
            for all in [false, true] {
                let name = format!("{}/{kind}/s{i}:v1", server.host());
                let mut args = vec!["pull", name.as_str()];
                if all {
                    args.push("--all-platforms");
                }
                let err = refused(&run(s.path(), cfg.path(), &args)).to_owned();
                assert!(err.contains(&name), "{size}: {err}");
            }
        }
    }
    store_clean(s.path(), cfg.path());
}

/// Docker's foreign layers and OCI non-distributable ones carry `urls`: duckc never fetches
/// from a URL a manifest names (a registry could aim it at any host the user can reach), only
/// from the registry itself.
#[test]
fn layer_urls_are_never_fetched() {
    if !require_root() {
        return;
    }
    let elsewhere = Server::start(Box::new(|_, _, _| false));
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let mut files = HashMap::new();
    for (i, media_type) in [
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        TAR,
    ]
    .iter()
    .enumerate()
    {
        let layer_desc = format!(
            r#"{{"mediaType":"{media_type}","digest":"{}","size":1024,"urls":["http://{}/layer","http://{}/v2/"]}}"#,
            sha(&layer),
            elsewhere.host(),
            elsewhere.host()
        );
        let m = manifest_text(&good_config, &[layer_desc]);
        // The registry does not have the layer: only the URL does.
        repository(
            &mut files,
            &format!("f/u{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config],
        );
    }
    let server = Server::serving(files);
    let (s, cfg) = fresh();
    for i in 0..3 {
        let name = format!("{}/f/u{i}:v1", server.host());
        refused(&run(s.path(), cfg.path(), &["pull", &name]));
    }
    assert_eq!(elsewhere.requests(), Vec::<String>::new());
    assert!(
        server
            .request_lines()
            .iter()
            .any(|l| l.contains(&format!("/blobs/{}", sha(&layer)))),
        "{:?}",
        server.request_lines()
    );
    store_clean(s.path(), cfg.path());
}

/// An artifact (a config that is no image config), layers of a type duckc cannot unpack
/// (encrypted, unknown) and a manifest whose `Content-Type` says index: each is refused with
/// a message that names the type, before any layer is downloaded, and never unpacked as
/// something else.
#[test]
fn artifacts_and_unknown_layer_types_are_refused() {
    if !require_root() {
        return;
    }
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let good_layer = descriptor(TAR, &sha(&layer), "1024");
    let mut files = HashMap::new();
    let mut cases = Vec::new();
    for (i, config_type) in [
        "application/vnd.oci.empty.v1+json",
        "application/vnd.cncf.helm.config.v1+json",
        "application/vnd.unknown.config.v1+json",
        "text/plain",
    ]
    .iter()
    .enumerate()
    {
        // The config is a real image config: only its media type says it is something else.
        let m = manifest_text(
            &descriptor(config_type, &sha(&config), &config.len().to_string()),
            std::slice::from_ref(&good_layer),
        );
        repository(
            &mut files,
            &format!("a/c{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        cases.push((format!("a/c{i}"), config_type.to_string()));
    }
    for (i, layer_type) in [
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        "application/vnd.oci.image.layer.v1.tar+zstd+encrypted",
        "application/vnd.oci.image.layer.v1.tar+lz4",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
        "application/octet-stream",
    ]
    .iter()
    .enumerate()
    {
        let m = manifest_text(
            &good_config,
            &[descriptor(layer_type, &sha(&layer), "1024")],
        );
        repository(
            &mut files,
            &format!("a/l{i}"),
            "v1",
            (MANIFEST, &m),
            &[&config, &layer],
        );
        cases.push((format!("a/l{i}"), layer_type.to_string()));
    }
    // A manifest served as an index, and an index served as a manifest.
    let m = manifest_text(&good_config, std::slice::from_ref(&good_layer));
    repository(&mut files, "a/mt", "v1", (INDEX, &m), &[&config, &layer]);
    let server = Server::serving(files);
    let (s, cfg) = fresh();
    for (repo, media_type) in &cases {
        let name = format!("{}/{repo}:v1", server.host());
        let err = refused(&run(s.path(), cfg.path(), &["pull", &name])).to_owned();
        assert!(err.contains(media_type.as_str()), "{err}");
    }
    let name = format!("{}/a/mt:v1", server.host());
    refused(&run(s.path(), cfg.path(), &["pull", &name]));
    assert!(
        !server
            .request_lines()
            .iter()
            .any(|l| l.contains(&format!("/blobs/{}", sha(&layer)))),
        "a layer was fetched: {:?}",
        server.request_lines()
    );
    store_clean(s.path(), cfg.path());
}

/// Platform names come from the registry: an index of 5,000 entries whose OS and architecture
/// hold terminal escapes gives an error that shows neither the escapes nor all 5,000 (with or
/// without `--all-platforms`, whose progress lines name each platform).
#[test]
fn platform_names_from_a_registry_are_escaped_and_bounded() {
    if !require_root() {
        return;
    }
    let entries: Vec<String> = (0..5000)
        .map(|i| {
            format!(
                r#"{{"mediaType":"{MANIFEST}","digest":"sha256:{:064x}","size":100,"platform":{{"os":"\u001b]2;owned\u0007linux{i}","architecture":"\u001b[31mred"}}}}"#,
                i
            )
        })
        .collect();
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{}]}}"#,
        entries.join(",")
    );
    let mut files = HashMap::new();
    repository(&mut files, "p/esc", "v1", (INDEX, index.as_bytes()), &[]);
    let server = Server::serving(files);
    let (s, cfg) = fresh();
    let name = format!("{}/p/esc:v1", server.host());
    for args in [
        vec!["pull", name.as_str()],
        vec!["pull", "--all-platforms", name.as_str()],
        vec![
            "pull",
            "--progress",
            "plain",
            "--all-platforms",
            name.as_str(),
        ],
    ] {
        let result = run(s.path(), cfg.path(), &args);
        refused(&result);
        assert!(!result.1.contains('\x1b'), "{:?}", clip(&result.1));
    }
    store_clean(s.path(), cfg.path());
}

/// A tar archive at `path` of `files` (name → bytes), in order, duplicates kept. A name
/// `@link NAME` is a symlink whose target is the bytes.
fn write_tar(path: &Path, files: &[(&str, Vec<u8>)]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in files {
        let mut header = tar::Header::new_gnu();
        if let Some(link) = name.strip_prefix("@link ") {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_size(0);
            header.set_mode(0o777);
            let raw = link.as_bytes();
            header.as_old_mut().name[..raw.len()].copy_from_slice(raw);
            header.as_old_mut().linkname[..bytes.len()].copy_from_slice(bytes);
            header.set_cksum();
            builder.append(&header, &[][..]).unwrap();
            continue;
        }
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        // Names written raw, so `../` and absolute ones go in as they are.
        let raw = name.as_bytes();
        header.as_old_mut().name[..raw.len()].copy_from_slice(raw);
        header.set_cksum();
        builder.append(&header, &bytes[..]).unwrap();
    }
    builder.finish().unwrap();
}

fn blob_name(bytes: &[u8]) -> String {
    format!("blobs/sha256/{}", &sha(bytes)[7..])
}

/// `duckc load` of hostile OCI and docker archives: the descriptor attacks of a registry
/// (digests that are paths or other algorithms, sizes out of range, artifacts, unknown layer
/// types) through `index.json`, and a docker `manifest.json` whose layer paths climb out,
/// are absolute, repeat, or number 100,000. Each is refused or loaded safely: a clear error,
/// nothing outside the store touched, no tag left behind.
#[test]
fn hostile_archives_load_safely() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let good_layer = descriptor(TAR, &sha(&layer), "1024");
    let oci = |manifest: &[u8], index_entry: String| -> Vec<(&'static str, Vec<u8>)> {
        let index = format!(r#"{{"schemaVersion":2,"manifests":[{index_entry}]}}"#);
        let m_name: &'static str = Box::leak(blob_name(manifest).into_boxed_str());
        let c_name: &'static str = Box::leak(blob_name(&config).into_boxed_str());
        let l_name: &'static str = Box::leak(blob_name(&layer).into_boxed_str());
        vec![
            ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
            (m_name, manifest.to_vec()),
            (c_name, config.clone()),
            (l_name, layer.clone()),
            ("index.json", index.into_bytes()),
        ]
    };
    let entry = |digest: &str, size: &str| {
        format!(
            r#"{{"mediaType":"{MANIFEST}","digest":"{digest}","size":{size},"annotations":{{"io.containerd.image.name":"attack:v1"}}}}"#
        )
    };
    type Files = Vec<(&'static str, Vec<u8>)>;
    let mut archives: Vec<(String, Files)> = Vec::new();
    let good = manifest_text(&good_config, std::slice::from_ref(&good_layer));
    for bad in [
        format!("sha256:../../../..{}", outside.join("x").display()),
        format!("sha256:{}", "AB".repeat(32)),
        format!("sha512:{}", "ab".repeat(64)),
        format!("md5:{}", "ab".repeat(16)),
    ] {
        archives.push((
            format!("index digest {bad}"),
            oci(&good, entry(&bad, "100")),
        ));
        let m = manifest_text(
            &descriptor(CONFIG, &bad, "10"),
            std::slice::from_ref(&good_layer),
        );
        archives.push((
            format!("config digest {bad}"),
            oci(&m, entry(&sha(&m), &m.len().to_string())),
        ));
        let m = manifest_text(&good_config, &[descriptor(TAR, &bad, "1024")]);
        archives.push((
            format!("layer digest {bad}"),
            oci(&m, entry(&sha(&m), &m.len().to_string())),
        ));
    }
    for size in ["18446744073709551615", "9223372036854775808", "-1", "1e30"] {
        archives.push((
            format!("index size {size}"),
            oci(&good, entry(&sha(&good), size)),
        ));
        let m = manifest_text(&good_config, &[descriptor(TAR, &sha(&layer), size)]);
        archives.push((
            format!("layer size {size}"),
            oci(&m, entry(&sha(&m), &m.len().to_string())),
        ));
    }
    for config_type in [
        "application/vnd.oci.empty.v1+json",
        "application/vnd.cncf.helm.config.v1+json",
    ] {
        let m = manifest_text(
            &descriptor(config_type, &sha(&config), &config.len().to_string()),
            std::slice::from_ref(&good_layer),
        );
        archives.push((
            format!("config type {config_type}"),
            oci(&m, entry(&sha(&m), &m.len().to_string())),
        ));
    }
    for layer_type in [
        "application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
        "application/vnd.cncf.helm.chart.content.v1.tar+gzip",
    ] {
        let m = manifest_text(
            &good_config,
            &[descriptor(layer_type, &sha(&layer), "1024")],
        );
        archives.push((
            format!("layer type {layer_type}"),
            oci(&m, entry(&sha(&m), &m.len().to_string())),
        ));
    }
    // Docker archives: layer paths that climb out or are absolute name nothing outside the
    // archive; 100,000 entries are bounded by the metadata cap.
    let docker = |manifest: String| -> Vec<(&'static str, Vec<u8>)> {
        vec![
            ("config.json", config.clone()),
            ("layer.tar", layer.clone()),
            ("manifest.json", manifest.into_bytes()),
        ]
    };
    std::fs::write(outside.join("layer.tar"), &layer).unwrap();
    for layers in [
        format!(r#"["../../../..{}"]"#, outside.join("layer.tar").display()),
        format!(r#"["{}"]"#, outside.join("layer.tar").display()),
        r#"["../layer.tar/../../x"]"#.to_owned(),
    ] {
        archives.push((
            format!("docker layers {layers}"),
            docker(format!(
                r#"[{{"Config":"config.json","RepoTags":["attack:v1"],"Layers":{layers}}}]"#
            )),
        ));
    }
    // Blobs that are symlinks out of the archive (to a host file, through `..`), and a
    // symlinked `blobs/`: links resolve among the archive's own entries or not at all.
    let m_hex = &sha(&good)[7..];
    let host_file = outside.join("layer.tar").display().to_string();
    for target in [host_file.clone(), format!("../../../../../..{host_file}")] {
        let link: &'static str = Box::leak(format!("@link blobs/sha256/{m_hex}").into_boxed_str());
        let mut files = oci(&good, entry(&sha(&good), &good.len().to_string()));
        files.retain(|(n, _)| !n.ends_with(m_hex));
        let what = format!("manifest blob linked to {target}");
        files.insert(0, (link, target.into_bytes()));
        archives.push((what, files));
    }
    let mut files = oci(&good, entry(&sha(&good), &good.len().to_string()));
    files.retain(|(n, _)| !n.starts_with("blobs/"));
    files.insert(
        0,
        ("@link blobs", outside.display().to_string().into_bytes()),
    );
    archives.push(("blobs/ linked out".into(), files));
    // Entry names with terminal escapes, quoted by the error.
    archives.push((
        "escapes in an entry name".into(),
        vec![
            ("\u{1b}]2;owned\u{7}/../../x", b"x".to_vec()),
            ("index.json", b"{}".to_vec()),
        ],
    ));
    let many = vec![r#"{"Config":"nothing.json","RepoTags":["attack:v1"],"Layers":[]}"#; 100_000];
    archives.push((
        "100,000 docker entries".into(),
        docker(format!("[{}]", many.join(","))),
    ));

    for (what, files) in &archives {
        // A store of its own: a blob another case left would stand in for a missing one.
        let (s, cfg) = fresh();
        let path = tmp.path().join("archive.tar");
        write_tar(&path, files);
        let result = run(
            s.path(),
            cfg.path(),
            &["load", "-i", path.to_str().unwrap()],
        );
        let (code, _, err) = &result;
        assert_ne!(*code, 101, "{what}: panicked: {}", clip(err));
        assert_ne!(*code, 0, "{what}: loaded");
        refused(&result);
        let (_, out, _) = run(s.path(), cfg.path(), &["images", "-q"]);
        assert_eq!(out.trim(), "", "{what}: an image was tagged");
    }
    assert_eq!(
        std::fs::read_dir(&outside).unwrap().count(),
        1,
        "something was written outside"
    );

    let (s, cfg) = fresh();
    // Duplicate entries, the good one last or first: the blobs are checked by name, so
    // either order loads the one image whose digests hold.
    let mut dup = oci(&good, entry(&sha(&good), &good.len().to_string()));
    dup.insert(0, (dup[3].0, b"not the layer".to_vec()));
    dup.push(("index.json", dup.last().unwrap().1.clone()));
    let path = tmp.path().join("dup.tar");
    write_tar(&path, &dup);
    let result = run(
        s.path(),
        cfg.path(),
        &["load", "-i", path.to_str().unwrap()],
    );
    assert_ne!(result.0, 101, "{}", clip(&result.2));
    let (code, out, err) = run(s.path(), cfg.path(), &["verify"]);
    assert_eq!(code, 0, "{out}\n{err}");
}

/// Token services a registry names in its `WWW-Authenticate` challenge: one that redirects
/// (the stored credentials must not follow the redirect), one whose answer never ends (cut at
/// 1 MiB), a plain-HTTP one on a host that is
/// not loopback (refused before any connection), a challenge of 1 MB, and realms with terminal
/// escapes. Each is a clear error; the password never appears in duckc's output.
#[test]
fn token_realms_that_redirect_or_lie_get_no_credentials() {
    if !require_root() {
        return;
    }
    let evil = Server::start(Box::new(|_, _, conn| {
        respond(conn, "200 OK", "application/json", br#"{"token":"stolen"}"#);
        true
    }));
    let evil_port = evil.port;
    let realm = Server::start(Box::new(move |_, _, conn| {
        let _ = write!(
            conn,
            "HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:{evil_port}/steal\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        true
    }));
    let realm_port = realm.port;
    // A token service whose answer never ends (no `Content-Length`).
    let endless = Server::start(Box::new(|_, _, conn| {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{{\"token\":\""
        );
        let chunk = vec![b'a'; 64 << 10];
        let mut sent = 0u64;
        while sent < 1 << 30 && conn.write_all(&chunk).is_ok() {
            sent += chunk.len() as u64;
        }
        true
    }));
    let endless_port = endless.port;
    let registry = Server::start(Box::new(move |path, _, conn| {
        if path == "/v2/" {
            respond(conn, "200 OK", "application/json", b"{}");
            return true;
        }
        let challenge = if path.starts_with("/v2/redir/") {
            format!(r#"Bearer realm="http://127.0.0.1:{realm_port}/token",service="s""#)
        } else if path.starts_with("/v2/endless/") {
            format!(r#"Bearer realm="http://127.0.0.1:{endless_port}/token",service="s""#)
        } else if path.starts_with("/v2/far/") {
            r#"Bearer realm="http://192.0.2.1/token",service="s""#.to_owned()
        } else if path.starts_with("/v2/huge/") {
            format!(r#"Bearer realm="https://a/{}""#, "x".repeat(1 << 20))
        } else if path.starts_with("/v2/escape/") {
            "Bearer realm=\"http://\x1b]2;owned\x07\x1b[31m/token\"".to_owned()
        } else if path.starts_with("/v2/scheme/") {
            "\x1b[31mNegotiate abc".to_owned()
        } else {
            return false;
        };
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: {challenge}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        true
    }));
    let (s, cfg) = fresh();
    // base64("duck:s3cret-pass")
    let auth = "ZHVjazpzM2NyZXQtcGFzcw==";
    std::fs::write(
        cfg.path().join("config.json"),
        format!(
            r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    for repo in ["redir", "endless", "far", "huge", "escape", "scheme"] {
        let name = format!("{}/{repo}/duck:v1", registry.host());
        let result = run(s.path(), cfg.path(), &["pull", &name]);
        let err = refused(&result);
        for secret in ["s3cret-pass", auth, "stolen"] {
            assert!(!err.contains(secret) && !result.1.contains(secret), "{err}");
        }
    }
    assert_eq!(
        evil.requests(),
        Vec::<String>::new(),
        "the redirect was followed"
    );
    store_clean(s.path(), cfg.path());
}

/// A copy of the busybox layout in `dir` with `edit` applied to its image config (as a
/// registry or an archive could serve it), tagged `name`.
fn busybox_with_config(
    dir: &Path,
    name: &str,
    edit: &dyn Fn(&mut serde_json::Value),
) -> std::path::PathBuf {
    let layout = common::store::busybox_layout(dir);
    let read = |d: &str| std::fs::read(layout.join("blobs/sha256").join(&d[7..])).unwrap();
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let m_digest = index["manifests"][0]["digest"].as_str().unwrap().to_owned();
    let mut manifest: serde_json::Value = serde_json::from_slice(&read(&m_digest)).unwrap();
    let c_digest = manifest["config"]["digest"].as_str().unwrap().to_owned();
    let mut config: serde_json::Value = serde_json::from_slice(&read(&c_digest)).unwrap();
    edit(&mut config);
    let config = serde_json::to_vec(&config).unwrap();
    std::fs::write(layout.join(blob_name(&config)), &config).unwrap();
    manifest["config"]["digest"] = sha(&config).into();
    manifest["config"]["size"] = config.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    std::fs::write(layout.join(blob_name(&manifest)), &manifest).unwrap();
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": MANIFEST,
            "digest": sha(&manifest),
            "size": manifest.len(),
            "annotations": {"io.containerd.image.name": name},
        }],
    });
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    layout
}

/// Image configs from outside with junk in every field `run` reads: users that are ids out
/// of range, paths or 10 KB; working directories that are relative or climb out; 100,000
/// environment entries or arguments, entries without `=`; 10,000 labels; volumes and exposed
/// ports that are paths or nonsense. `run` never panics: it runs the command sanely or gives
/// a clear error, and nothing is created outside the container's root.
#[test]
fn image_configs_with_junk_run_safely() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let marker = format!("duckc-attack-{}", std::process::id());
    let host_marker = Path::new("/tmp").join(&marker);
    let climbing = format!("/../../../../../tmp/{marker}");
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let set = |key: &'static str, v: serde_json::Value| -> Edit {
        Box::new(move |c: &mut serde_json::Value| c["config"][key] = v.clone())
    };
    let cases: Vec<(&str, Edit, &[&str])> = vec![
        ("user 0:0", set("User", "0:0".into()), &[]),
        ("user path", set("User", "../../etc/passwd".into()), &[]),
        ("user 10 KB", set("User", "u".repeat(10 << 10).into()), &[]),
        (
            "user id out of range",
            set("User", "4294967295:4294967295".into()),
            &[],
        ),
        ("user negative", set("User", "-1:-1".into()), &[]),
        ("user with NUL", set("User", "root\u{0}x".into()), &[]),
        (
            "user with escapes",
            set("User", "\u{1b}]2;owned\u{7}\u{1b}[31mred".into()),
            &[],
        ),
        (
            "workdir relative",
            set("WorkingDir", "relative/dir".into()),
            &[],
        ),
        (
            "workdir climbing",
            set("WorkingDir", climbing.clone().into()),
            &[],
        ),
        (
            "workdir 10 KB",
            set("WorkingDir", format!("/{}", "d/".repeat(5 << 10)).into()),
            &[],
        ),
        (
            "100,000 env entries",
            set(
                "Env",
                (0..100_000)
                    .map(|i| format!("K{i}=v"))
                    .collect::<Vec<_>>()
                    .into(),
            ),
            &[],
        ),
        (
            "env without =",
            set("Env", serde_json::json!(["JUNK", "=x", "A=b=c", ""])),
            &[],
        ),
        (
            "100,000 cmd arguments",
            Box::new(|c: &mut serde_json::Value| {
                let mut cmd = vec!["true".to_owned()];
                cmd.extend((0..100_000).map(|i| format!("a{i}")));
                c["config"]["Cmd"] = cmd.into();
                c["config"]["Entrypoint"] = serde_json::Value::Null;
            }),
            &[],
        ),
        ("empty cmd", set("Cmd", serde_json::json!([])), &[]),
        (
            "cmd with NUL",
            set("Cmd", serde_json::json!(["tr\u{0}ue"])),
            &[],
        ),
        (
            "10,000 labels",
            set(
                "Labels",
                (0..10_000)
                    .map(|i| (format!("l{i}"), serde_json::Value::from("v".repeat(100))))
                    .collect::<serde_json::Map<_, _>>()
                    .into(),
            ),
            &[],
        ),
        (
            "volumes that climb",
            set(
                "Volumes",
                serde_json::json!({climbing.clone(): {}, "relative": {}, "/": {}, "": {}}),
            ),
            &[],
        ),
        (
            "junk exposed ports",
            set(
                "ExposedPorts",
                serde_json::json!({"99999/tcp": {}, "junk": {}, "80/sctp6": {}, "-1/udp": {}, "": {}}),
            ),
            &["-P"],
        ),
        ("stop signal junk", set("StopSignal", "SIGJUNK".into()), &[]),
    ];
    let (s, cfg) = fresh();
    let mut failures = Vec::new();
    for (i, (what, edit, flags)) in cases.iter().enumerate() {
        let dir = tmp.path().join(format!("case{i}"));
        std::fs::create_dir(&dir).unwrap();
        let name = format!("junk:c{i}");
        let layout = busybox_with_config(&dir, &name, edit.as_ref());
        let (code, out, err) = run(
            s.path(),
            cfg.path(),
            &["load", "-i", layout.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{what}: load failed: {out}\n{}", clip(&err));
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.push(&name);
        let result = run(s.path(), cfg.path(), &args);
        let (code, _, err) = &result;
        if *code == 101 || err.contains("panicked") {
            failures.push(format!("{what}: panicked: {}", clip(err)));
        } else if *code != 0 && !err.contains("help:") {
            failures.push(format!("{what}: exit {code} without help: {}", clip(err)));
        } else if err.contains('\x1b') || err.contains('\0') || err.len() > 8 << 10 {
            failures.push(format!(
                "{what}: unsafe or unbounded error: {:?}",
                clip(err)
            ));
        }
        assert!(
            !host_marker.exists(),
            "{what}: created {}",
            host_marker.display()
        );
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A registry that trickles: a manifest body, a token body and a layer body sent a byte at a
/// time, each byte well within the per-read timeout. With `DUCKC_REGISTRY_TIMEOUT=2` the
/// pull ends with an error that says the registry was too slow (the default is 120 s) instead
/// of waiting forever; nothing is stored.
#[test]
fn a_registry_that_trickles_is_cut_off() {
    if !require_root() {
        return;
    }
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let manifest = manifest_text(
        &descriptor(CONFIG, &sha(&config), &config.len().to_string()),
        &[descriptor(TAR, &sha(&layer), "1024")],
    );
    let trickle = |conn: &mut TcpStream, content_type: &str, body: &[u8]| {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        for b in body {
            if conn.write_all(&[*b]).is_err() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    };
    let layer_path = format!("/v2/slow/layer/blobs/{}", sha(&layer));
    let config_path = format!("/v2/slow/layer/blobs/{}", sha(&config));
    let server = Server::start(Box::new(move |path, _, conn| {
        match path {
            "/v2/" => respond(conn, "200 OK", "application/json", b"{}"),
            "/v2/slow/manifest/manifests/v1" => trickle(conn, MANIFEST, &manifest),
            "/v2/slow/layer/manifests/v1" => respond(conn, "200 OK", MANIFEST, &manifest),
            p if p == config_path => respond(conn, "200 OK", "application/octet-stream", &config),
            p if p == layer_path => trickle(conn, "application/octet-stream", &layer),
            _ => return false,
        }
        true
    }));
    let (s, cfg) = fresh();
    for repo in ["manifest", "layer"] {
        let name = format!("{}/slow/{repo}:v1", server.host());
        let out = output(
            duckc(s.path())
                .env("DOCKER_CONFIG", cfg.path())
                .env("DUCKC_REGISTRY_TIMEOUT", "2")
                .args(["pull", &name])
                .stdin(Stdio::null()),
        );
        let result = (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        );
        let err = refused(&result);
        assert!(
            err.contains("too slow") || err.contains("within 2 s"),
            "{err}"
        );
        assert!(err.contains(&name), "{err}");
    }
    store_clean(s.path(), cfg.path());
}

/// Text an image carries into `duckc history`'s table (`created_by`, `comment`) with terminal
/// escapes and line breaks: printed with control characters as `?`, one line per layer.
#[test]
fn image_text_in_tables_is_printable() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_with_config(tmp.path(), "junk:history", &|c| {
        c["history"] = serde_json::json!([{
            "created_by": "\u{1b}]2;owned\u{7}\u{1b}[2J/bin/sh -c true",
            "comment": "two\nlines\u{1b}[31m",
        }]);
    });
    let (s, cfg) = fresh();
    let (code, out, err) = run(
        s.path(),
        cfg.path(),
        &["load", "-i", layout.to_str().unwrap()],
    );
    assert_eq!(code, 0, "{out}\n{err}");
    for args in [
        vec!["history", "junk:history"],
        vec!["history", "--no-trunc", "junk:history"],
    ] {
        let (code, out, err) = run(s.path(), cfg.path(), &args);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains('\x1b') && !out.contains('\x07'),
            "{args:?}: {out:?}"
        );
        assert_eq!(out.lines().count(), 2, "{args:?}: {out:?}");
    }
}

/// Timestamps an image's config carries (`created`, and each history entry's) that are not
/// RFC 3339, or are with multi-byte characters where digits belong, or far out of range:
/// `images`, `history` and `inspect` show them without a panic.
#[test]
fn image_timestamps_out_of_shape_are_shown_safely() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (s, cfg) = fresh();
    for (i, created) in [
        "2024-01-01T00:00:00+0\u{e9}00",
        "2024-01-01T00:00:00+\u{e9}:00",
        "2024-01-01T00:00:00.\u{e9}Z",
        "9999-99-99T99:99:99-99:99",
        "0000-00-00T00:00:00Z",
        "-999-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z\u{1b}[2J",
        "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
    ]
    .iter()
    .enumerate()
    {
        let dir = tmp.path().join(format!("t{i}"));
        std::fs::create_dir(&dir).unwrap();
        let name = format!("junk:t{i}");
        let layout = busybox_with_config(&dir, &name, &|c| {
            c["created"] = created.to_string().into();
            c["history"] = serde_json::json!([{"created": created, "created_by": "x"}]);
        });
        let (code, out, err) = run(
            s.path(),
            cfg.path(),
            &["load", "-i", layout.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{created}: {out}\n{err}");
        for args in [
            vec!["images"],
            vec!["history", name.as_str()],
            vec!["inspect", name.as_str()],
            vec!["images", "--format", "{{.CreatedSince}} {{.CreatedAt}}"],
        ] {
            let (code, out, err) = run(s.path(), cfg.path(), &args);
            assert_eq!(code, 0, "{created} {args:?}: {}", clip(&err));
            // `inspect` writes JSON (escaped); a `--format` template prints the field as it is,
            // as Docker's does: the user asked for the raw text.
            if args.len() < 3 && args[0] != "inspect" {
                assert!(!out.contains("\u{1b}[2J"), "{args:?}: {out:?}");
            }
        }
    }
}

/// A multi-platform index, in an archive to `load` and from a registry to `pull`, whose other
/// platform is an artifact (a Helm config) or has an encrypted layer. `pull --all-platforms`
/// refuses it, naming the media type, and `load` of an archive that holds that platform's
/// manifest refuses it the same way (it loaded, checked only for the platform it picked, and
/// `verify`, `save` and `push` then met the other). Where the archive lacks that manifest, as
/// a plain `pull` takes only this host's, it loads; entries for `unknown/unknown` (BuildKit's
/// attestations, which `pull --all-platforms` leaves out too) are no images and never refuse
/// the archive.
#[test]
fn load_checks_every_platform_an_archive_holds_as_pull_all_platforms_does() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layer = empty_layer();
    let config = config_json(&[sha(&layer)], serde_json::json!({}));
    let good_config = descriptor(CONFIG, &sha(&config), &config.len().to_string());
    let good_layer = descriptor(TAR, &sha(&layer), "1024");
    let host = manifest_text(&good_config, std::slice::from_ref(&good_layer));
    let other = if host_arch() == "arm64" {
        "amd64"
    } else {
        "arm64"
    };
    let entry = |m: &[u8], os: &str, arch: &str| {
        format!(
            r#"{{"mediaType":"{MANIFEST}","digest":"{}","size":{},"platform":{{"os":"{os}","architecture":"{arch}"}}}}"#,
            sha(m),
            m.len()
        )
    };
    let server_files = std::sync::Mutex::new(HashMap::new());
    let mut n = 0;
    let mut check = |bad: &[u8], media_type: &str| {
        let cases = [
            ("linux", other, true, true),
            ("unknown", "unknown", true, false),
            ("linux", other, false, false),
        ];
        for (os, arch, holds, refused_) in cases {
            let index = format!(
                r#"{{"schemaVersion":2,"mediaType":"{INDEX}","manifests":[{},{}],"annotations":{{"io.containerd.image.name":"multi:v1"}}}}"#,
                entry(&host, "linux", host_arch()),
                entry(bad, os, arch)
            );
            let mut files: Vec<(&str, Vec<u8>)> = vec![
                ("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec()),
                (leak(blob_name(&host)), host.clone()),
                (leak(blob_name(&config)), config.clone()),
                (leak(blob_name(&layer)), layer.clone()),
            ];
            if holds {
                files.push((leak(blob_name(bad)), bad.to_vec()));
            }
            let top = format!(
                r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{INDEX}","digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"multi:v1"}}}}]}}"#,
                sha(index.as_bytes()),
                index.len()
            );
            files.push((
                leak(blob_name(index.as_bytes())),
                index.clone().into_bytes(),
            ));
            files.push(("index.json", top.into_bytes()));
            let path = tmp.path().join("multi.tar");
            write_tar(&path, &files);
            let (s, cfg) = fresh();
            let result = run(
                s.path(),
                cfg.path(),
                &["load", "-i", path.to_str().unwrap()],
            );
            let what = format!("{media_type} for {os}/{arch}, held: {holds}");
            if refused_ {
                let err = refused(&result);
                assert!(err.contains(media_type), "{what}: {err}");
                store_clean(s.path(), cfg.path());
            } else {
                let (code, out, err) = &result;
                assert_eq!(*code, 0, "{what}: {out}\n{err}");
                let (code, out, err) = run(s.path(), cfg.path(), &["verify"]);
                assert_eq!(code, 0, "{what}: {out}\n{err}");
            }
            if holds && os == "linux" {
                n += 1;
                let files = &mut server_files.lock().unwrap();
                let repo = format!("multi/m{n}");
                repository(
                    files,
                    &repo,
                    "v1",
                    (INDEX, index.as_bytes()),
                    &[&config, &layer],
                );
                for m in [&host[..], bad] {
                    files.insert(
                        format!("/v2/{repo}/manifests/{}", sha(m)),
                        (MANIFEST.to_owned(), m.to_vec()),
                    );
                }
            }
        }
    };
    // The other platform an artifact, then with an encrypted layer.
    let helm = "application/vnd.cncf.helm.config.v1+json";
    let artifact = manifest_text(
        &descriptor(helm, &sha(&config), &config.len().to_string()),
        std::slice::from_ref(&good_layer),
    );
    check(&artifact, helm);
    let encrypted = "application/vnd.oci.image.layer.v1.tar+gzip+encrypted";
    let enc = manifest_text(&good_config, &[descriptor(encrypted, &sha(&layer), "1024")]);
    check(&enc, encrypted);

    // What a registry serving the same indexes does: `pull --all-platforms` refuses each,
    // a plain `pull` takes this host's platform.
    let server = Server::serving(server_files.into_inner().unwrap());
    let (s, cfg) = fresh();
    for (i, media_type) in [(1, helm), (2, encrypted)] {
        let name = format!("{}/multi/m{i}:v1", server.host());
        let all = run(s.path(), cfg.path(), &["pull", "--all-platforms", &name]);
        let err = refused(&all);
        assert!(err.contains(media_type), "{err}");
    }
    store_clean(s.path(), cfg.path());
    let name = format!("{}/multi/m1:v1", server.host());
    let (code, out, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_eq!(code, 0, "{out}\n{err}");
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}
