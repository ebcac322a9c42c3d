//! End-to-end tests of the registry client (`pull`, `push`, `login`, `logout`) against Debian's
//! `docker-registry` on 127.0.0.1 (plain HTTP, htpasswd basic auth), `skopeo` for interop,
//! and tiny loopback servers that lie (SECURITY.md 26–29): bytes that do not match their
//! digest, an endless manifest.
//!
//! Each test starts its own registry on a free port, with its storage under a temporary
//! directory, and stops it when it ends (and the kernel stops it if the test process dies).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::time::{Duration, Instant};

use common::registry::{Registry, read_request, respond, run};
use common::store::{Tmpfs, busybox_layout, load_busybox};
use common::{duckc, ok, output, require_root, require_tool};

/// Whether the tools these tests need are here (under CI a missing one is a failure).
fn ready() -> bool {
    require_root()
        && require_tool("docker-registry")
        && require_tool("umoci")
        && require_tool("skopeo")
}

/// A fresh store directory.
fn fresh_store() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("duckc-registry-store-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap()
}

fn must(store: &Path, docker_config: &Path, args: &[&str]) -> String {
    let (code, out, err) = run(store, docker_config, args);
    assert_eq!(
        code, 0,
        "duckc {args:?} failed\nstdout:\n{out}\nstderr:\n{err}"
    );
    out
}

fn digest_line(out: &str) -> String {
    out.lines()
        .find_map(|l| {
            l.split_once("digest: ")
                .map(|(_, r)| r.split(' ').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no digest line in\n{out}"))
}

/// Whether the access log has a request that sends blob bytes (an upload's PUT or PATCH).
fn uploads(log: &str) -> usize {
    log.lines()
        .filter(|l| {
            (l.contains("\"PUT /v2/") || l.contains("\"PATCH /v2/"))
                && l.contains("/blobs/uploads/")
        })
        .count()
}

fn blob_gets(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("\"GET /v2/") && l.contains("/blobs/sha256:"))
        .count()
}

/// The tutorial's sharing story: run, commit, tag, push; a fresh store pulls and runs it.
/// Pushing again sends no layer bytes and gives the same digest; pulling again downloads
/// nothing; skopeo reads what duckc pushed.
#[test]
fn tutorial_push_pull_run() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let a = fresh_store();
    let a = a.path();
    load_busybox(a);
    let (code, _, err) = run(
        a,
        cfg.path(),
        &[
            "run",
            "--name",
            "tut",
            "busybox",
            "sh",
            "-c",
            "echo quack > /new_file",
        ],
    );
    assert_eq!(code, 0, "{err}");
    must(
        a,
        cfg.path(),
        &["commit", "-m", "fork", "tut", "your/duck:v2"],
    );
    let remote = format!("{host}/your/duck:v2");
    must(a, cfg.path(), &["tag", "your/duck:v2", &remote]);

    let out = must(a, cfg.path(), &["push", &remote]);
    assert!(
        out.contains(&format!("The push refers to repository [{host}/your/duck]")),
        "{out}"
    );
    assert!(out.contains(": Pushed"), "{out}");
    let first = digest_line(&out);
    assert!(
        out.contains(&format!("v2: digest: {first} size: ")),
        "{out}"
    );
    assert!(uploads(&registry.log()) >= 2, "{}", registry.log());

    // Again: nothing new is uploaded, and the manifest is the same.
    let before = registry.log().len();
    let out = must(a, cfg.path(), &["push", &remote]);
    assert_eq!(digest_line(&out), first, "{out}");
    assert!(
        out.contains("Layer already exists") && !out.contains(": Pushed"),
        "{out}"
    );
    assert_eq!(
        uploads(&registry.log()[before..]),
        0,
        "{}",
        &registry.log()[before..]
    );

    // A fresh store pulls it and runs it.
    let b = fresh_store();
    let b = b.path();
    let out = must(b, cfg.path(), &["pull", &remote]);
    assert!(out.contains("v2: Pulling from your/duck"), "{out}");
    assert!(out.contains(": Pull complete"), "{out}");
    assert!(out.contains(&format!("Digest: {first}")), "{out}");
    assert!(
        out.contains(&format!("Status: Downloaded newer image for {remote}")),
        "{out}"
    );
    let out = must(b, cfg.path(), &["run", "--rm", &remote, "ls", "-l", "/"]);
    assert!(out.contains("new_file"), "{out}");
    let out = must(b, cfg.path(), &["run", "--rm", &remote, "cat", "/new_file"]);
    assert_eq!(out.trim(), "quack");

    // Pulling again downloads no blob.
    let before = registry.log().len();
    let out = must(b, cfg.path(), &["pull", &remote]);
    assert!(
        out.contains(&format!("Status: Image is up to date for {remote}")),
        "{out}"
    );
    assert!(out.contains("Already exists"), "{out}");
    assert_eq!(
        blob_gets(&registry.log()[before..]),
        0,
        "{}",
        &registry.log()[before..]
    );
    must(b, cfg.path(), &["verify"]);

    // No tag: `latest`, said as Docker says it, and a help that says so when it is missing.
    let (code, out, err) = run(b, cfg.path(), &["pull", &format!("{host}/your/duck")]);
    assert_eq!(code, 1, "{err}");
    assert!(out.starts_with("Using default tag: latest\n"), "{out}");
    assert!(
        err.contains("no tag was given, so `latest` was asked for"),
        "{err}"
    );
    assert!(
        err.contains(&format!("name the tag: `duckc pull {host}/your/duck:TAG`")),
        "{err}"
    );

    // Where each image came from: `images --digests` and `inspect`.
    let repo_digest = format!("{host}/your/duck@{first}");
    let out = must(b, cfg.path(), &["images", "--digests"]);
    let row = out
        .lines()
        .find(|l| l.starts_with(&format!("{host}/your/duck ")))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(out.lines().next().unwrap().contains("DIGEST"), "{out}");
    assert!(row.contains(&first), "{out}");
    let out = must(b, cfg.path(), &["inspect", &remote]);
    assert!(out.contains(&format!("\"{repo_digest}\"")), "{out}");
    assert_eq!(inspect_field(&out, "Registry"), host, "{out}");
    assert_eq!(inspect_field(&out, "Repository"), "your/duck", "{out}");
    assert_eq!(inspect_field(&out, "ManifestDigest"), first, "{out}");
    // In the store that pushed it: the pushed digest, no pull origin; a built image: none.
    let out = must(a, cfg.path(), &["inspect", &remote]);
    assert!(out.contains(&format!("\"{repo_digest}\"")), "{out}");
    assert!(out.contains("\"Origin\": null"), "{out}");
    let out = must(a, cfg.path(), &["images", "--digests", "your/duck"]);
    assert!(out.contains("<none>"), "{out}");
    // A `HOST:PORT/REPO` filter keeps the port.
    let out = must(a, cfg.path(), &["images", "--digests", &remote]);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.contains(&first), "{out}");

    // A short name resolves through the search registry (`library/` for one component).
    let c = fresh_store();
    let out = output(
        duckc(c.path())
            .env("DOCKER_CONFIG", cfg.path())
            .env("DUCKC_REGISTRY", &host)
            .args(["pull", "your/duck:v2"]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Status: Downloaded newer image for your/duck:v2"),
        "{stdout}"
    );
    let out = must(
        c.path(),
        cfg.path(),
        &["run", "--rm", "your/duck:v2", "cat", "/new_file"],
    );
    assert_eq!(out.trim(), "quack");
    let out = must(c.path(), cfg.path(), &["images", "--digests", "your/duck"]);
    assert!(out.contains(&first), "{out}");

    // skopeo reads what duckc pushed.
    let oci = tempfile::tempdir().unwrap();
    let dest = format!("oci:{}:duck", oci.path().join("layout").display());
    ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://{remote}"),
        &dest,
    ]));
    let inspect = ok(Command::new("skopeo").args(["inspect", &dest]));
    assert!(inspect.contains("\"Layers\""), "{inspect}");
    let inspect = ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{remote}"),
    ]));
    assert!(inspect.contains(&first), "{inspect}");

    // SECURITY 29: a pull cut short by a layer the registry cannot serve keeps what it
    // completed and tags nothing; run again, it fetches only what is missing.
    let blobs = registry.data().join("docker/registry/v2/blobs");
    let mut files: Vec<(u64, PathBuf)> = walk(&blobs)
        .into_iter()
        .filter(|p| p.ends_with("data"))
        .map(|p| (std::fs::metadata(&p).unwrap().len(), p))
        .collect();
    files.sort();
    let (_, biggest) = files.last().unwrap().clone();
    let aside = biggest.with_file_name("aside");
    std::fs::rename(&biggest, &aside).unwrap();
    let d = fresh_store();
    let (code, out, err) = run(d.path(), cfg.path(), &["pull", &remote]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("layer "), "{err}");
    assert!(
        must(d.path(), cfg.path(), &["images", "-q"])
            .trim()
            .is_empty()
    );
    must(d.path(), cfg.path(), &["verify"]);
    std::fs::rename(&aside, &biggest).unwrap();
    let out = must(d.path(), cfg.path(), &["pull", &remote]);
    assert_eq!(out.matches(": Pull complete").count(), 1, "{out}");
    assert_eq!(out.matches(": Already exists").count(), 1, "{out}");
    let out = must(
        d.path(),
        cfg.path(),
        &["run", "--rm", &remote, "cat", "/new_file"],
    );
    assert_eq!(out.trim(), "quack");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// An image that skopeo pushed (from an OCI layout made with umoci) is pulled and run.
#[test]
fn pulls_what_skopeo_pushed() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let remote = format!("{host}/skopeo/busybox:1.0");
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:busybox:latest", layout.display()),
        &format!("docker://{remote}"),
    ]));
    let s = fresh_store();
    let out = must(s.path(), cfg.path(), &["pull", &remote]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let out = must(
        s.path(),
        cfg.path(),
        &["run", "--rm", &remote, "echo", "hello from skopeo"],
    );
    assert_eq!(out.trim(), "hello from skopeo");
    // By digest too.
    let digest = out_digest(&must(s.path(), cfg.path(), &["pull", &remote]));
    let by_digest = format!("{host}/skopeo/busybox@{digest}");
    let out = must(s.path(), cfg.path(), &["pull", &by_digest]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    must(s.path(), cfg.path(), &["run", "--rm", &by_digest, "true"]);
    must(s.path(), cfg.path(), &["verify"]);
}

fn out_digest(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Digest: "))
        .unwrap_or_else(|| panic!("no Digest line in\n{out}"))
        .trim()
        .to_owned()
}

/// htpasswd basic auth: a pull without a login is refused with a hint, a wrong password is
/// refused, `login` saves Docker's `auths` entry, push and pull work, `logout` removes it.
#[test]
fn basic_auth_login_logout() {
    if !ready() || !require_tool("htpasswd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let htpasswd = tmp.path().join("htpasswd");
    let line = ok(Command::new("htpasswd").args(["-Bbn", "duck", "quack-quack"]));
    std::fs::write(&htpasswd, line.trim()).unwrap();
    let registry = Registry::start(&format!(
        "auth:\n  htpasswd:\n    realm: duckc-test\n    path: {}\n",
        htpasswd.display()
    ));
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    let remote = format!("{host}/private/busybox:1");
    must(s, cfg.path(), &["tag", "busybox", &remote]);

    let (code, _, err) = run(s, cfg.path(), &["push", &remote]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("duckc login {host}")), "{err}");

    let (code, _, err) = run(
        s,
        cfg.path(),
        &["login", "-u", "duck", "-p", "wrong", &host],
    );
    assert_ne!(code, 0);
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(
        !err.contains("wrong"),
        "the password is never printed: {err}"
    );
    assert!(!cfg.path().join("config.json").exists());

    let mut child = duckc(s)
        .env("DOCKER_CONFIG", cfg.path())
        .args(["login", "-u", "duck", "--password-stdin", &host])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"quack-quack\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("Login Succeeded"));
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.path().join("config.json")).unwrap()).unwrap();
    // base64("duck:quack-quack")
    assert_eq!(config["auths"][&host]["auth"], "ZHVjazpxdWFjay1xdWFjaw==");

    let out = must(s, cfg.path(), &["push", &remote]);
    assert!(!out.contains("quack-quack"), "{out}");
    let t = fresh_store();
    must(t.path(), cfg.path(), &["pull", &remote]);
    must(t.path(), cfg.path(), &["run", "--rm", &remote, "true"]);

    let out = must(s, cfg.path(), &["logout", &host]);
    assert!(
        out.contains(&format!("Removing login credentials for {host}")),
        "{out}"
    );
    let config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(cfg.path().join("config.json")).unwrap()).unwrap();
    assert!(config["auths"].get(&host).is_none(), "{config}");
    let u = fresh_store();
    let (code, _, err) = run(u.path(), cfg.path(), &["pull", &remote]);
    assert_ne!(code, 0);
    assert!(err.contains("duckc login"), "{err}");
}

/// A `credsStore` helper, as Docker Desktop and `docker-credential-pass` set up: `login` hands
/// the password to `docker-credential-NAME store` (nothing lands in `config.json`), push and
/// pull get it back through `get`, `logout` calls `erase`. The helper here is a shell script
/// keeping what it is given in a file next to itself.
#[test]
fn credential_helper_holds_the_password() {
    if !ready() || !require_tool("htpasswd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let htpasswd = tmp.path().join("htpasswd");
    let line = ok(Command::new("htpasswd").args(["-Bbn", "duck", "quack-quack"]));
    std::fs::write(&htpasswd, line.trim()).unwrap();
    let registry = Registry::start(&format!(
        "auth:\n  htpasswd:\n    realm: duckc-test\n    path: {}\n",
        htpasswd.display()
    ));
    let host = registry.host();
    let helper = CredentialHelper::new(
        "ducktest",
        "#!/bin/sh\n\
         f=\"$(dirname \"$0\")/kept.json\"\n\
         case \"$1\" in\n\
         store) cat > \"$f\" ;;\n\
         get) if [ -f \"$f\" ]; then cat \"$f\"; else echo 'credentials not found in native keychain'; exit 1; fi ;;\n\
         erase) rm -f \"$f\" ;;\n\
         *) exit 2 ;;\n\
         esac\n",
    );
    let (bin, cfg) = (helper.bin.path(), helper.cfg.path());
    let duck = |store: &Path, args: &[&str], stdin: &[u8]| helper.duckc(store, args, stdin);
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    let remote = format!("{host}/helped/busybox:1");
    let (code, _, err) = duck(s, &["tag", "busybox", &remote], b"");
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = duck(
        s,
        &["login", "-u", "duck", "--password-stdin", &host],
        b"quack-quack\n",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Login Succeeded"), "{out}");
    let kept = std::fs::read_to_string(bin.join("kept.json")).unwrap();
    let kept: serde_json::Value = serde_json::from_str(&kept).unwrap();
    assert_eq!(kept["Username"], "duck");
    assert_eq!(kept["Secret"], "quack-quack");
    let config = std::fs::read_to_string(cfg.join("config.json")).unwrap();
    assert!(
        !config.contains("ZHVjazpxdWFjay1xdWFjaw==") && !config.contains("quack"),
        "the password stays with the helper: {config}"
    );

    let (code, out, err) = duck(s, &["push", &remote], b"");
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("quack-quack") && !err.contains("quack-quack"));
    let t = fresh_store();
    let (code, _, err) = duck(t.path(), &["pull", &remote], b"");
    assert_eq!(code, 0, "{err}");

    let (code, _, err) = duck(s, &["logout", &host], b"");
    assert_eq!(code, 0, "{err}");
    assert!(
        !bin.join("kept.json").exists(),
        "logout erased the helper's entry"
    );
    let u = fresh_store();
    let (code, _, err) = duck(u.path(), &["pull", &remote], b"");
    assert_ne!(code, 0);
    assert!(err.contains("duckc login"), "{err}");
}

/// A credential helper that fails before reading its input (a locked keychain) is reported as
/// its failure: duckc is not killed by SIGPIPE handing it the input (a long secret fills a
/// pipe, so a pipe's writer would always meet the closed end).
#[test]
fn a_helper_that_reads_no_input_fails_with_an_error_not_a_signal() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let helper = CredentialHelper::new(
        "locked",
        "#!/bin/sh\necho 'the keychain is locked' >&2\nexit 1\n",
    );
    let store = fresh_store();
    let password = format!("{}\n", "q".repeat(256 * 1024));
    let (code, _, err) = helper.duckc(
        store.path(),
        &["login", "-u", "duck", "--password-stdin", &registry.host()],
        password.as_bytes(),
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("docker-credential-locked store"), "{err}");
    assert!(err.contains("the keychain is locked"), "{err}");
    assert!(
        !err.contains("qqqq"),
        "the secret stays out of the error: {err}"
    );
    // The help is for a helper that failed, not for a broken config file.
    assert!(err.contains("help: unlock the keychain"), "{err}");
    assert!(!err.contains("fix or remove the Docker config"), "{err}");
    // A helper that is not installed: install it, or stop naming it.
    let config = serde_json::json!({ "credsStore": "nosuch" });
    std::fs::write(helper.cfg.path().join("config.json"), config.to_string()).unwrap();
    let (code, _, err) = helper.duckc(
        store.path(),
        &["login", "-u", "duck", "--password-stdin", &registry.host()],
        b"secret\n",
    );
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("cannot run `docker-credential-nosuch`"),
        "{err}"
    );
    assert!(
        err.contains("help: install `docker-credential-nosuch`"),
        "{err}"
    );
}

/// A Docker config whose `credsStore` is `docker-credential-NAME`, a shell script in a
/// directory put first on `PATH` for the duckc it runs.
struct CredentialHelper {
    bin: tempfile::TempDir,
    cfg: tempfile::TempDir,
    path: String,
}

impl CredentialHelper {
    fn new(name: &str, script: &str) -> CredentialHelper {
        let bin = tempfile::tempdir().unwrap();
        let helper = bin.path().join(format!("docker-credential-{name}"));
        std::fs::write(&helper, script).unwrap();
        std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
        let cfg = tempfile::tempdir().unwrap();
        let config = serde_json::json!({ "credsStore": name });
        std::fs::write(cfg.path().join("config.json"), config.to_string()).unwrap();
        let path = format!(
            "{}:{}",
            bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        CredentialHelper { bin, cfg, path }
    }

    /// `duckc ARGS` in `store` with this config and `stdin`: (code, stdout, stderr); a
    /// process ended by a signal gives -1.
    fn duckc(&self, store: &Path, args: &[&str], stdin: &[u8]) -> (i32, String, String) {
        let mut child = duckc(store)
            .env("DOCKER_CONFIG", self.cfg.path())
            .env("PATH", &self.path)
            .env_remove("DUCKC_REGISTRY")
            .env("CONTAINERS_REGISTRIES_CONF", "/nonexistent")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for registries that lie: `route` maps a request path
/// to a response it writes itself. TLS probes (a ClientHello) are closed at once.
fn fake_registry(route: fn(&str, &str, &mut TcpStream)) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let Some((line, headers)) = read_request(&conn) else {
                    return;
                };
                let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                route(&path, &headers, &mut conn);
            });
        }
    });
    port
}

fn sha(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex(&sha2::Sha256::digest(bytes)))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

const GOOD_LAYER: &[u8] = b"the layer the manifest promises";
const BAD_LAYER: &[u8] = b"a layer that is something else";

fn lying_config() -> Vec<u8> {
    format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}},"config":{{}}}}"#,
        sha(GOOD_LAYER)
    )
    .into_bytes()
}

fn lying_manifest() -> Vec<u8> {
    let config = lying_config();
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
        sha(&config),
        config.len(),
        sha(GOOD_LAYER),
        GOOD_LAYER.len()
    )
    .into_bytes()
}

fn lying_route(path: &str, _headers: &str, conn: &mut TcpStream) {
    let manifest = lying_manifest();
    let config = lying_config();
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path == "/v2/bad/duck/manifests/v1" {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &manifest,
        );
    } else if path == format!("/v2/bad/duck/blobs/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/v2/bad/duck/blobs/{}", sha(GOOD_LAYER)) {
        // Same length, other bytes.
        let mut body = BAD_LAYER.to_vec();
        body.resize(GOOD_LAYER.len(), b'!');
        respond(conn, "200 OK", "application/octet-stream", &body);
    } else if path == "/v2/endless/duck/manifests/v1" {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n{{\"schemaVersion\":2,\"x\":\""
        );
        let chunk = vec![b'a'; 64 << 10];
        while conn.write_all(&chunk).is_ok() {}
    } else {
        respond(
            conn,
            "404 Not Found",
            "application/json",
            br#"{"errors":[{"code":"NOT_FOUND","message":"no"}]}"#,
        );
    }
}

/// SECURITY 26: a layer whose bytes do not match its digest is refused, naming the image and
/// the layer, and nothing of it is stored.
#[test]
fn bytes_that_do_not_match_the_digest_are_refused() {
    if !require_root() {
        return;
    }
    let port = fake_registry(lying_route);
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let name = format!("127.0.0.1:{port}/bad/duck:v1");
    let (code, out, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_ne!(code, 0, "{out}");
    let layer = &sha(GOOD_LAYER)["sha256:".len()..][..12];
    assert!(err.contains(&format!("layer {layer} of {name}")), "{err}");
    assert!(
        err.contains("digest mismatch") || err.contains("do not match"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
    assert!(
        !s.path()
            .join("blobs/sha256")
            .join(&sha(GOOD_LAYER)[7..])
            .exists()
    );
    let images = must(s.path(), cfg.path(), &["images", "-q"]);
    assert!(images.trim().is_empty(), "{images}");
    must(s.path(), cfg.path(), &["verify"]);
    let leftovers: Vec<_> = std::fs::read_dir(s.path().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// SECURITY 27: an endless manifest body is cut at 4 MiB (memory stays bounded) and refused.
#[test]
fn an_endless_manifest_is_refused() {
    if !require_root() {
        return;
    }
    let port = fake_registry(lying_route);
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let name = format!("127.0.0.1:{port}/endless/duck:v1");
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_ne!(code, 0);
    assert!(err.contains("larger than 4194304 bytes"), "{err}");
    assert!(err.contains(&name), "{err}");
}

/// A short name with no search registry is a clear error that says how to name one.
#[test]
fn short_name_without_a_registry() {
    if !require_root() {
        return;
    }
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", "debian:bookworm"]);
    assert_ne!(code, 0);
    assert!(err.contains("names no registry"), "{err}");
    assert!(err.contains("localhost:5000/debian"), "{err}");
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", "localhost:5000/Bad"]);
    assert_ne!(code, 0);
    assert!(err.contains("help:"), "{err}");
}

static STORAGE_PORT: AtomicU16 = AtomicU16::new(0);
static AUTH_LEAKED: AtomicBool = AtomicBool::new(false);
static STORAGE_HIT: AtomicBool = AtomicBool::new(false);

/// A registry that wants basic auth and redirects blob downloads to another host.
fn redirecting_route(path: &str, headers: &str, conn: &mut TcpStream) {
    if !headers.contains("authorization: basic ") {
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"fake\"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path == "/v2/redirect/duck/manifests/v1" {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &lying_manifest(),
        );
    } else if let Some(blob) = path.strip_prefix("/v2/redirect/duck/blobs/") {
        let _ = write!(
            conn,
            "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:{}/storage/{blob}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            STORAGE_PORT.load(Ordering::SeqCst)
        );
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// The storage service blobs are redirected to: notes whether credentials reached it.
fn storage_route(path: &str, headers: &str, conn: &mut TcpStream) {
    STORAGE_HIT.store(true, Ordering::SeqCst);
    if headers.contains("authorization") {
        AUTH_LEAKED.store(true, Ordering::SeqCst);
    }
    let config = lying_config();
    if path == format!("/storage/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/storage/{}", sha(GOOD_LAYER)) {
        respond(conn, "200 OK", "application/octet-stream", GOOD_LAYER);
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// SECURITY 28: blob downloads redirected to another host get no Authorization header, and
/// the password appears nowhere in the output.
#[test]
fn redirects_never_carry_credentials_to_another_host() {
    if !require_root() {
        return;
    }
    STORAGE_PORT.store(fake_registry(storage_route), Ordering::SeqCst);
    let port = fake_registry(redirecting_route);
    let cfg = tempfile::tempdir().unwrap();
    std::fs::write(
        cfg.path().join("config.json"),
        format!(r#"{{"auths":{{"127.0.0.1:{port}":{{"auth":"ZHVjazpzZWNyZXQtcXVhY2s="}}}}}}"#),
    )
    .unwrap();
    let s = fresh_store();
    let name = format!("127.0.0.1:{port}/redirect/duck:v1");
    let (code, out, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        STORAGE_HIT.load(Ordering::SeqCst),
        "the blobs came from the storage host"
    );
    assert!(
        !AUTH_LEAKED.load(Ordering::SeqCst),
        "credentials went to another host"
    );
    assert!(!out.contains("secret-quack") && !err.contains("secret-quack"));
    must(s.path(), cfg.path(), &["verify"]);
}

static BEARER_PORT: AtomicU16 = AtomicU16::new(0);
static LOOP_REQUESTS: AtomicU16 = AtomicU16::new(0);
const TOKEN: &str = "duck-token-123";

/// A registry with bearer-token auth that follows the distribution token spec: `/v2/…` answers
/// 401 with a `Bearer realm=…,service=…,scope=…` challenge unless the request carries the
/// token; `/token` gives the token for `service=fake-registry` and the right scope, and only
/// with the user's basic credentials. `loop/duck` answers 401 whatever it gets.
fn bearer_route(path: &str, headers: &str, conn: &mut TcpStream) {
    let port = BEARER_PORT.load(Ordering::SeqCst);
    if let Some(query) = path.strip_prefix("/token?") {
        // base64("duck:token-pass")
        let creds_ok = headers.contains("authorization: basic zhvjazp0b2tlbi1wyxnz");
        let service_ok = query.split('&').any(|p| p == "service=fake-registry");
        // A login asks for no scope (the challenge of `/v2/` has none).
        let scope_ok = !query.contains("scope=")
            || query.split('&').any(|p| {
                p == "scope=repository%3Abearer%2Fduck%3Apull"
                    || p == "scope=repository%3Aloop%2Fduck%3Apull"
            });
        if creds_ok && service_ok && scope_ok {
            respond(
                conn,
                "200 OK",
                "application/json",
                format!(r#"{{"token":"{TOKEN}","expires_in":300}}"#).as_bytes(),
            );
        } else {
            respond(conn, "401 Unauthorized", "application/json", b"{}");
        }
        return;
    }
    let looping = path.starts_with("/v2/loop/");
    if looping {
        LOOP_REQUESTS.fetch_add(1, Ordering::SeqCst);
    }
    if looping
        || !headers.contains(&format!(
            "authorization: bearer {}",
            TOKEN.to_ascii_lowercase()
        ))
    {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split("/manifests/").next())
            .and_then(|p| p.split("/blobs/").next())
            .unwrap_or("");
        let scope = if repo.is_empty() {
            String::new()
        } else {
            format!(",scope=\"repository:{repo}:pull\"")
        };
        let _ = write!(
            conn,
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"fake-registry\"{scope}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        return;
    }
    let config = lying_config();
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path == "/v2/bearer/duck/manifests/v1" {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &lying_manifest(),
        );
    } else if path == format!("/v2/bearer/duck/blobs/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/v2/bearer/duck/blobs/{}", sha(GOOD_LAYER)) {
        respond(conn, "200 OK", "application/octet-stream", GOOD_LAYER);
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// Bearer tokens: the challenge is answered at the token service with the stored credentials
/// and the scope, and the pull goes through; without a login the error says to log in; a
/// registry that keeps answering 401 gets one retry, not a loop (SECURITY 28).
#[test]
fn bearer_token_auth_and_no_401_loop() {
    if !require_root() {
        return;
    }
    let port = fake_registry(bearer_route);
    BEARER_PORT.store(port, Ordering::SeqCst);
    let host = format!("127.0.0.1:{port}");
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let name = format!("{host}/bearer/duck:v1");
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("duckc login {host}")), "{err}");

    let (code, out, err) = run(
        s.path(),
        cfg.path(),
        &["login", "-u", "duck", "-p", "token-pass", &host],
    );
    assert_eq!(code, 0, "{out}{err}");
    let out = must(s.path(), cfg.path(), &["pull", &name]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    assert!(!out.contains(TOKEN) && !out.contains("token-pass"), "{out}");

    let (code, out, err) = run(
        s.path(),
        cfg.path(),
        &["pull", &format!("{host}/loop/duck:v1")],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("refused the credentials"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
    assert!(
        LOOP_REQUESTS.load(Ordering::SeqCst) <= 2,
        "one retry per challenge, not a loop"
    );
}

/// A registry with TLS and a CA the test makes: trusted with `--cert-dir`, refused without
/// it (with a hint, and no fall-back to plain HTTP), accepted with `--tls-verify=false`.
#[test]
fn tls_with_a_custom_ca() {
    if !ready() || !require_tool("openssl") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let certs = tmp.path().join("certs");
    std::fs::create_dir(&certs).unwrap();
    let p = |name: &str| tmp.path().join(name).display().to_string();
    let ca_crt = certs.join("ca.crt").display().to_string();
    ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=duckc test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &ca_crt,
    ]));
    ok(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]));
    std::fs::write(
        p("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    ok(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &ca_crt,
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext"),
        "-out",
        &p("server.crt"),
    ]));
    let registry = Registry::start(&format!(
        "  tls:\n    certificate: {}\n    key: {}\n",
        p("server.crt"),
        p("server.key")
    ));
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    load_busybox(s.path());
    let remote = format!("{host}/tls/busybox:1");
    must(s.path(), cfg.path(), &["tag", "busybox", &remote]);
    let cert_dir = certs.display().to_string();
    must(
        s.path(),
        cfg.path(),
        &["push", "--cert-dir", &cert_dir, &remote],
    );

    let t = fresh_store();
    let (code, _, err) = run(t.path(), cfg.path(), &["pull", &remote]);
    assert_ne!(code, 0);
    assert!(err.contains("certs.d"), "{err}");
    must(
        t.path(),
        cfg.path(),
        &["pull", "--tls-verify=false", &remote],
    );
    let u = fresh_store();
    must(
        u.path(),
        cfg.path(),
        &["pull", "--cert-dir", &cert_dir, &remote],
    );
    must(u.path(), cfg.path(), &["run", "--rm", &remote, "true"]);

    // `build` reaches the registry of its base and of its cache with the same flags.
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {remote}\nCOPY hello /hello\n"),
    )
    .unwrap();
    std::fs::write(ctx.path().join("hello"), "quack\n").unwrap();
    let dir = ctx.path().to_str().unwrap();
    let cache = format!("{host}/tls/cache:1");
    let b = fresh_store();
    let (code, _, err) = run(b.path(), cfg.path(), &["build", "--progress", "plain", dir]);
    assert_ne!(code, 0);
    assert!(err.contains("--cert-dir"), "{err}");
    let out = must(
        b.path(),
        cfg.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--cert-dir",
            &cert_dir,
            "--cache-to",
            &cache,
            dir,
        ],
    );
    assert!(out.contains("Pull complete"), "{out}");
    let c = fresh_store();
    let out = must(
        c.path(),
        cfg.path(),
        &[
            "build",
            "--progress",
            "plain",
            "--tls-verify=false",
            "--cache-from",
            &cache,
            dir,
        ],
    );
    assert!(out.contains("Using cache"), "{out}");
}

/// The GOARCH name of this machine.
fn goarch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// An architecture that is not this host's: `arm64` on `amd64`, else `amd64`.
fn other_arch() -> &'static str {
    if goarch() == "amd64" {
        "arm64"
    } else {
        "amd64"
    }
}

/// The OCI layout `layout`'s `busybox:latest` again, its config saying `architecture`, tagged
/// `other` there (umoci).
fn tag_other_arch(layout: &Path, architecture: &str) {
    ok(Command::new("umoci").args([
        "config",
        "--image",
        &format!("{}:busybox:latest", layout.display()),
        "--tag",
        "other",
        "--architecture",
        architecture,
    ]));
}

/// An image index of `manifests` written into the OCI layout `layout` as its only entry (ref
/// `multi`) and pushed with every platform by skopeo as `remote`: the index's digest.
fn push_index(layout: &Path, manifests: &[serde_json::Value], remote: &str) -> String {
    let index = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    }))
    .unwrap();
    let digest = sha(&index);
    std::fs::write(layout.join("blobs/sha256").join(&digest[7..]), &index).unwrap();
    let top = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }],
    });
    std::fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    ok(Command::new("skopeo").args([
        "copy",
        "--multi-arch=all",
        "--dest-tls-verify=false",
        &format!("oci:{}:multi", layout.display()),
        &format!("docker://{remote}"),
    ]));
    digest
}

/// A multi-platform image (an index, pushed by skopeo): the host's platform is picked,
/// `--platform` picks another, an absent one is an error listing what there is, and the
/// pulled image is pushed back as an index.
#[test]
fn multi_platform_index() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let other = other_arch();
    // The other platform's image: the same layer, a config that says `other`.
    tag_other_arch(&layout, other);
    let top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let tagged = |name: &str| {
        top["manifests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == name)
            .unwrap()
            .clone()
    };
    let entry = |arch: &str| {
        let mut m = tagged(if arch == other {
            "other"
        } else {
            "busybox:latest"
        });
        m.as_object_mut().unwrap().remove("annotations");
        m["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
        m
    };
    let remote = format!("{host}/multi/busybox:1");
    let digest = push_index(&layout, &[entry(goarch()), entry(other)], &remote);

    let s = fresh_store();
    let out = must(s.path(), cfg.path(), &["pull", &remote]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    must(s.path(), cfg.path(), &["run", "--rm", &remote, "true"]);
    let (code, _, err) = run(
        s.path(),
        cfg.path(),
        &["pull", "--platform", "linux/s390x", &remote],
    );
    assert_ne!(code, 0);
    assert!(err.contains("no image for linux/s390x"), "{err}");
    assert!(err.contains(&format!("linux/{other}")), "{err}");
    let t = fresh_store();
    let out = must(
        t.path(),
        cfg.path(),
        &["pull", "--platform", &format!("linux/{other}"), &remote],
    );
    assert!(out.contains("Pull complete"), "{out}");

    // `--all-platforms`: every platform's manifest is in the store, the name is the index,
    // it runs (this host's platform), and pushed back (to another repository) it is the same
    // index.
    let a = fresh_store();
    let out = must(a.path(), cfg.path(), &["pull", "--all-platforms", &remote]);
    assert!(out.contains(&format!("linux/{other}: Pulling")), "{out}");
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    must(a.path(), cfg.path(), &["run", "--rm", &remote, "true"]);
    let out = must(a.path(), cfg.path(), &["inspect", &remote]);
    assert_eq!(inspect_field(&out, "Digest"), digest, "{out}");
    must(a.path(), cfg.path(), &["verify"]);
    let again = format!("{host}/multi/again:1");
    must(a.path(), cfg.path(), &["tag", &remote, &again]);
    let out = must(a.path(), cfg.path(), &["push", &again]);
    assert_eq!(digest_line(&out), digest, "{out}");
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!(
            "docker://{host}/multi/again@{}",
            tagged("other")["digest"].as_str().unwrap()
        ),
    ]));
    assert!(raw.contains("\"layers\""), "{raw}");
    // A single-platform pull cannot push the whole index back, and says why.
    let again2 = format!("{host}/multi/again:2");
    must(s.path(), cfg.path(), &["tag", &remote, &again2]);
    let (code, _, err) = run(s.path(), cfg.path(), &["push", &again2]);
    assert_ne!(code, 0);
    assert!(err.contains("not in the store"), "{err}");
}

/// A registry whose blob downloads break after 10 bytes unless a `Range` asks for the rest.
fn cutting_route(path: &str, headers: &str, conn: &mut TcpStream) {
    let config = lying_config();
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path == "/v2/cut/duck/manifests/v1" {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &lying_manifest(),
        );
    } else if path == format!("/v2/cut/duck/blobs/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/v2/cut/duck/blobs/{}", sha(GOOD_LAYER)) {
        let from = headers
            .lines()
            .find_map(|l| l.strip_prefix("range: bytes="))
            .and_then(|r| r.trim().trim_end_matches('-').parse::<usize>().ok());
        match from {
            Some(from) => {
                let rest = &GOOD_LAYER[from..];
                let _ = write!(
                    conn,
                    "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {from}-{}/{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    GOOD_LAYER.len() - 1,
                    GOOD_LAYER.len(),
                    rest.len()
                );
                let _ = conn.write_all(rest);
            }
            None => {
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    GOOD_LAYER.len()
                );
                let _ = conn.write_all(&GOOD_LAYER[..10]);
                let _ = conn.flush();
                let _ = conn.shutdown(std::net::Shutdown::Both);
            }
        }
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// A download cut short resumes with `Range` from where it broke, and the blob is still
/// verified as a whole (SECURITY 29).
#[test]
fn a_cut_download_resumes_with_range() {
    if !require_root() {
        return;
    }
    let port = fake_registry(cutting_route);
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    let name = format!("127.0.0.1:{port}/cut/duck:v1");
    let out = must(s.path(), cfg.path(), &["pull", &name]);
    assert!(out.contains("Pull complete"), "{out}");
    assert_eq!(
        std::fs::read(s.path().join("blobs/sha256").join(&sha(GOOD_LAYER)[7..])).unwrap(),
        GOOD_LAYER
    );
    must(s.path(), cfg.path(), &["verify"]);
}

/// Pushes the busybox layout (changed by `umoci config ARGS` first, when there are any) to
/// `remote` with skopeo; returns the manifest digest the registry has for it.
fn push_busybox(remote: &str, config: &[&str]) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let image = format!("{}:busybox:latest", layout.display());
    if !config.is_empty() {
        ok(Command::new("umoci")
            .args(["config", "--image", &image])
            .args(config));
    }
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{image}"),
        &format!("docker://{remote}"),
    ]));
    let out = ok(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        "--format",
        "{{.Digest}}",
        &format!("docker://{remote}"),
    ]));
    out.trim().to_owned()
}

/// The image id of `Successfully built ID` in a build's output.
fn built_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Successfully built "))
        .unwrap_or_else(|| panic!("no `Successfully built` in\n{out}"))
        .trim()
        .to_owned()
}

/// A Dockerfile `FROM HOST:PORT/repo:tag` pulls the base into a fresh store, `duck.lock`
/// pins the digest, `--locked` keeps building from it after the tag moved, `--pull=always`
/// takes the moved tag and rebuilds, and `--pull=never` names the missing base with help.
#[test]
fn bases_from_a_registry() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let remote = format!("{host}/library/busybox:1");
    let first = push_busybox(&remote, &[]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {remote}\nRUN echo hi > /x\n"),
    )
    .unwrap();
    let dir = ctx.path().to_str().unwrap();
    let build = |store: &Path, args: &[&str]| {
        let mut all = vec!["build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(dir);
        run(store, cfg.path(), &all)
    };
    let lock = ctx.path().join("duck.lock");
    let pin = |digest: &str| format!("base \"{remote}\" digest=\"{digest}\"");

    // A fresh store: no manual pull; the pull shows in the build's output.
    let s1 = fresh_store();
    let (code, out, err) = build(s1.path(), &[]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("Pulling {remote}")), "{out}");
    assert!(out.contains(&format!("Digest: {first}")), "{out}");
    let id1 = built_id(&out);
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains(&pin(&first)), "{text}");

    // The tag moves.
    let second = push_busybox(&remote, &["--config.env", "MOVED=1"]);
    assert_ne!(first, second);

    // `--locked` in another fresh store: the locked digest, the same image.
    let s2 = fresh_store();
    let (code, out, err) = build(s2.path(), &["--locked"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("Digest: {first}")), "{out}");
    assert_eq!(built_id(&out), id1);
    // Again, with the base in the store: nothing pulled, still the same image.
    let (code, out, err) = build(s2.path(), &["--locked"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(!out.contains("Pulling"), "{out}");
    assert_eq!(built_id(&out), id1);
    assert!(
        std::fs::read_to_string(&lock)
            .unwrap()
            .contains(&pin(&first))
    );

    // `--pull=always` asks the registry: the moved tag, the step rebuilt, the lock moved.
    let (code, out, err) = build(s1.path(), &["--pull=always"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains(&format!("Digest: {second}")), "{out}");
    assert_ne!(built_id(&out), id1);
    assert!(!out.contains("Using cache"), "{out}");
    let text = std::fs::read_to_string(&lock).unwrap();
    assert!(text.contains(&pin(&second)), "{text}");
    // `explain` names the base by the digest the build used.
    let dockerfile = ctx.path().join("Dockerfile");
    let out = must(
        s1.path(),
        cfg.path(),
        &["explain", dockerfile.to_str().unwrap()],
    );
    assert!(out.contains(&format!("[base {second}]")), "{out}");

    // `--locked` with a lock that does not pin the base: the stale-lock error.
    std::fs::remove_file(&lock).unwrap();
    let (code, _, err) = build(s1.path(), &["--locked"]);
    assert_ne!(code, 0);
    assert!(err.contains("is not pinned"), "{err}");
    assert!(err.contains("help:"), "{err}");
    assert!(!lock.exists());

    // `--pull=never` in a fresh store: the missing base, with how to get it.
    let s3 = fresh_store();
    let (code, out, err) = build(s3.path(), &["--pull=never"]);
    assert_ne!(code, 0, "{out}");
    assert!(!out.contains("Pulling"), "{out}");
    assert!(err.contains(&remote), "{err}");
    assert!(err.contains(&format!("duckc pull {remote}")), "{err}");
    must(s1.path(), cfg.path(), &["verify"]);
    must(s2.path(), cfg.path(), &["verify"]);
}

/// A KDL `from "HOST:PORT/repo:tag"` pulls too, and `@sha256:` works where a tag does.
#[test]
fn kdl_base_from_a_registry() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let remote = format!("{host}/library/busybox:1");
    let digest = push_busybox(&remote, &[]);
    let ctx = tempfile::tempdir().unwrap();
    let spec = ctx.path().join("env.kdl");
    std::fs::write(
        &spec,
        format!("env \"app\" {{\n    from \"{remote}\"\n    run \"echo hi > /x\"\n}}\n"),
    )
    .unwrap();
    let s = fresh_store();
    let spec_arg = spec.to_str().unwrap();
    // `duckc lock` pulls the base and pins it; the build then has it.
    let out = must(s.path(), cfg.path(), &["lock", spec_arg]);
    assert!(out.contains(&format!("Digest: {digest}")), "{out}");
    let text = std::fs::read_to_string(ctx.path().join("duck.lock")).unwrap();
    assert!(
        text.contains(&format!("base \"{remote}\" digest=\"{digest}\"")),
        "{text}"
    );
    let out = must(
        s.path(),
        cfg.path(),
        &["build", "--progress", "plain", "--locked", spec_arg],
    );
    assert!(!out.contains("Pulling"), "{out}");
    // By digest, in a fresh store.
    let pinned = format!("{host}/library/busybox@{digest}");
    std::fs::write(
        &spec,
        format!("env \"app\" {{\n    from \"{pinned}\"\n    run \"echo hi > /x\"\n}}\n"),
    )
    .unwrap();
    let s = fresh_store();
    let out = must(
        s.path(),
        cfg.path(),
        &["build", "--progress", "plain", spec_arg],
    );
    assert!(out.contains(&format!("Pulling {pinned}")), "{out}");
    must(s.path(), cfg.path(), &["verify"]);
}

/// The string value of the first `"FIELD": "…"` in `duckc inspect`'s output.
fn inspect_field(out: &str, field: &str) -> String {
    let key = format!("\"{field}\": \"");
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&key))
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_else(|| panic!("no {field} in\n{out}"))
        .to_owned()
}

/// The registry build cache, as a CI fleet uses it: a build in one store pushes its cache
/// with `--cache-to`; a second, empty store building the same spec from another checkout
/// with `--cache-from` runs no step (its `run` writes random bytes, so a step run again would
/// change the image digest) and prints `Using cache` for each, and exporting the cache from
/// there again sends no blob.
#[test]
fn build_cache_shared_through_a_registry() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let base = format!("{host}/library/busybox:1");
    push_busybox(&base, &[]);
    let cache = format!("{host}/ci/app:buildcache");

    let checkout = |dir: &Path| {
        std::fs::write(dir.join("greeting.txt"), "quack\n").unwrap();
        std::fs::write(
            dir.join("env.kdl"),
            format!(
                "env \"app\" {{\n    from \"{base}\"\n    copy \"greeting.txt\" \"/greeting.txt\"\n    \
                 run \"head -c 16 /dev/urandom | od -A n -t x1 > /build-id && echo ran-the-step\"\n    \
                 tag \"ci/app:latest\"\n}}\n"
            ),
        )
        .unwrap();
    };
    let build = |store: &Path, dir: &Path, args: &[&str]| {
        let mut all = vec!["build", "--progress", "plain"];
        all.extend_from_slice(args);
        let spec = dir.join("env.kdl");
        all.push(spec.to_str().unwrap());
        let (code, out, err) = run(store, cfg.path(), &all);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        (out, err)
    };
    let digest_of =
        |store: &Path| inspect_field(&must(store, cfg.path(), &["inspect", "ci/app"]), "Digest");

    // Runner 1: the cache does not exist yet (a warning), the steps run, the cache is pushed.
    let one = tempfile::tempdir().unwrap();
    checkout(one.path());
    let s1 = fresh_store();
    let (out, err) = build(
        s1.path(),
        one.path(),
        &["--cache-from", &cache, "--cache-to", &cache],
    );
    let ran = |out: &str| out.lines().any(|l| l == "ran-the-step");
    assert!(ran(&out), "{out}");
    assert!(err.contains("no build cache at"), "{err}");
    assert!(
        out.contains(&format!("exporting cache to {cache}")),
        "{out}"
    );
    let first = digest_of(s1.path());
    assert!(first.starts_with("sha256:"), "{first}");

    // The cache is an OCI artifact of duckc's type that skopeo reads.
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{cache}"),
    ]));
    assert!(
        raw.contains("\"artifactType\":\"application/vnd.duckc.build-cache.v1\""),
        "{raw}"
    );

    // Runner 2: another checkout, an empty store: every step from the cache, same image.
    let two = tempfile::tempdir().unwrap();
    checkout(two.path());
    std::fs::copy(one.path().join("duck.lock"), two.path().join("duck.lock")).unwrap();
    let s2 = fresh_store();
    let before = blob_gets(&registry.log());
    let (out, _) = build(
        s2.path(),
        two.path(),
        &["--cache-from", &format!("type=registry,ref={cache}")],
    );
    assert!(!ran(&out), "a step ran:\n{out}");
    assert_eq!(out.matches(" ---> Using cache").count(), 2, "{out}");
    assert!(blob_gets(&registry.log()) > before);
    assert_eq!(digest_of(s2.path()), first);
    let out = must(
        s2.path(),
        cfg.path(),
        &["run", "--rm", "ci/app", "cat", "/greeting.txt"],
    );
    assert_eq!(out, "quack\n");
    must(s2.path(), cfg.path(), &["verify"]);

    // Exporting from runner 2 again: every blob is there, nothing is sent.
    let uploads_before = uploads(&registry.log());
    let (out, _) = build(s2.path(), two.path(), &["--cache-to", &cache]);
    assert!(out.contains("uploaded: 0"), "{out}");
    assert_eq!(uploads(&registry.log()), uploads_before);

    // SECURITY: a cache whose layers are not the bytes its index names (the registry's copy
    // overwritten): each such step is a warning and is built; nothing bad is stored.
    let s3 = fresh_store();
    must(s3.path(), cfg.path(), &["pull", &base]);
    let manifest: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{cache}"),
    ])))
    .unwrap();
    for l in manifest["layers"].as_array().unwrap() {
        let hex = &l["digest"].as_str().unwrap()[7..];
        let data = registry
            .data()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data");
        let len = std::fs::metadata(&data).unwrap().len() as usize;
        std::fs::write(&data, vec![b'x'; len]).unwrap();
    }
    let (out, err) = build(s3.path(), two.path(), &["--cache-from", &cache]);
    assert!(ran(&out), "{out}");
    assert!(
        err.contains("warning: cannot take a step from the build cache"),
        "{err}"
    );
    assert!(!out.contains("Using cache"), "{out}");
    must(s3.path(), cfg.path(), &["verify"]);

    // A bad value says what to write.
    let (code, _, err) = run(
        s2.path(),
        cfg.path(),
        &["build", "--cache-from", "type=local,src=/tmp", "."],
    );
    assert_ne!(code, 0);
    assert!(err.contains("type=registry"), "{err}");
}

/// `push --sbom` attaches the image's SPDX document with `subject` set to the pushed manifest;
/// docker-registry 2.8 has no referrers API, so the tag-schema fallback (`sha256-HEX`, an
/// index of the referrers) is what lists it, and skopeo reads both. Pushing again adds nothing.
#[test]
fn push_attaches_an_sbom() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    load_busybox(s.path());
    let remote = format!("{host}/sbom/busybox:1");
    must(s.path(), cfg.path(), &["tag", "busybox:latest", &remote]);
    let out = must(s.path(), cfg.path(), &["push", "--sbom", &remote]);
    let pushed = digest_line(&out);
    let hex = pushed.strip_prefix("sha256:").unwrap();
    let tag = format!("sha256-{hex}");
    let line = out
        .lines()
        .find(|l| l.starts_with("sbom: digest: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(line.contains(&tag), "{out}");
    let artifact = line["sbom: digest: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();

    let skopeo_raw = |what: &str| {
        ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{host}/sbom/busybox{what}"),
        ]))
    };
    let index = skopeo_raw(&format!(":{tag}"));
    assert!(index.contains(&artifact), "{index}");
    assert!(
        index.contains("\"artifactType\":\"application/spdx+json\""),
        "{index}"
    );
    let manifest = skopeo_raw(&format!("@{artifact}"));
    assert!(
        manifest.contains(&format!("\"subject\":{{\"digest\":\"{pushed}\"")),
        "{manifest}"
    );
    assert!(manifest.contains("application/spdx+json"), "{manifest}");

    // Again: the same artifact, listed once.
    let out = must(s.path(), cfg.path(), &["push", "--sbom", &remote]);
    assert!(out.contains(&artifact), "{out}");
    let index = skopeo_raw(&format!(":{tag}"));
    assert_eq!(index.matches(&artifact).count(), 1, "{index}");
}

/// `podman` with its own throwaway storage under `dir` (vfs: nothing mounted on the host),
/// and limits it can set where root lacks CAP_SYS_RESOURCE (podman's default `nofile` is
/// above the hard limit there; see PEERS.md).
fn podman(dir: &Path) -> Command {
    let conf = dir.join("containers.conf");
    if !conf.exists() {
        std::fs::write(
            &conf,
            "[containers]\ndefault_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]\n",
        )
        .unwrap();
    }
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", &conf)
        .arg("--root")
        .arg(dir.join("root"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args([
            "--storage-driver",
            "vfs",
            "--cgroup-manager",
            "cgroupfs",
            "--events-backend",
            "none",
        ]);
    cmd
}

/// Interop, duckc → podman and skopeo: a built image pushed with gzip (the default) and with
/// `--compression zstd` (OCI `tar+zstd` layers; pushed again, nothing sent and the same
/// digest), each pulled and run by podman and inspected by skopeo.
#[test]
fn podman_runs_what_duckc_pushed_gzip_and_zstd() {
    if !ready() || !require_tool("podman") {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    load_busybox(s.path());
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("env.kdl"),
        "env \"app\" {\n    from \"busybox:latest\"\n    run \"echo quack > /quack\"\n    tag \"interop/app:1\"\n}\n",
    )
    .unwrap();
    must(
        s.path(),
        cfg.path(),
        &[
            "build",
            "--progress",
            "plain",
            ctx.path().join("env.kdl").to_str().unwrap(),
        ],
    );
    let pm = tempfile::tempdir().unwrap();
    for compression in ["gzip", "zstd"] {
        let remote = format!("{host}/interop/{compression}:1");
        must(s.path(), cfg.path(), &["tag", "interop/app:1", &remote]);
        let out = must(
            s.path(),
            cfg.path(),
            &["push", "--compression", compression, &remote],
        );
        let digest = digest_line(&out);
        let raw = ok(Command::new("skopeo").args([
            "inspect",
            "--raw",
            "--tls-verify=false",
            &format!("docker://{remote}"),
        ]));
        assert!(
            raw.contains(&format!(
                "application/vnd.oci.image.layer.v1.tar+{compression}"
            )),
            "{raw}"
        );
        // Again: no bytes, the same manifest.
        let before = uploads(&registry.log());
        let out = must(
            s.path(),
            cfg.path(),
            &["push", "--compression", compression, &remote],
        );
        assert_eq!(digest_line(&out), digest, "{out}");
        assert_eq!(uploads(&registry.log()), before);
        // podman pulls and runs it.
        ok(podman(pm.path()).args(["pull", "--tls-verify=false", &remote]));
        let out = ok(podman(pm.path()).args([
            "run",
            "--rm",
            "--network",
            "none",
            &remote,
            "cat",
            "/quack",
        ]));
        assert_eq!(out.trim(), "quack", "{compression}");
    }
    let _ = output(podman(pm.path()).args(["rmi", "--all", "--force"]));
}

/// A loopback TCP proxy in front of a registry that understands just enough HTTP/1.1 to find
/// where each request starts (every request duckc sends has a `Content-Length`). It counts the
/// bytes clients send through it and, once `cut` is set and that many have passed, breaks:
/// inside the request that crossed it (`inside`), or at the start of the next request (a
/// clean cut between two chunks); from then on every connection is closed at once, until
/// `pass` lets everything through again.
struct CuttingProxy {
    port: u16,
    state: std::sync::Arc<ProxyState>,
}

#[derive(Default)]
struct ProxyState {
    sent: std::sync::atomic::AtomicU64,
    cut: std::sync::atomic::AtomicU64,
    inside: AtomicBool,
    dead: AtomicBool,
}

impl CuttingProxy {
    fn start(upstream: u16) -> CuttingProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = std::sync::Arc::new(ProxyState::default());
        state.cut.store(u64::MAX, Ordering::SeqCst);
        let shared = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                if shared.dead.load(Ordering::SeqCst) {
                    let _ = client.shutdown(std::net::Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let (mut from_server, mut to_client) =
                    (server.try_clone().unwrap(), client.try_clone().unwrap());
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from_server, &mut to_client);
                    let _ = to_client.shutdown(std::net::Shutdown::Both);
                });
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = proxy_requests(client, server, &state);
                });
            }
        });
        CuttingProxy { port, state }
    }

    /// Break after `bytes` more bytes (inside a request, or before the next one).
    fn cut(&self, bytes: u64, inside: bool) {
        self.state.inside.store(inside, Ordering::SeqCst);
        self.state.sent.store(0, Ordering::SeqCst);
        self.state.cut.store(bytes, Ordering::SeqCst);
    }

    /// Let everything through again, counting from 0.
    fn pass(&self) {
        self.state.cut.store(u64::MAX, Ordering::SeqCst);
        self.state.sent.store(0, Ordering::SeqCst);
        self.state.dead.store(false, Ordering::SeqCst);
    }

    fn sent(&self) -> u64 {
        self.state.sent.load(Ordering::SeqCst)
    }
}

/// Forward the requests of one connection from `client` to `server`, as [`CuttingProxy`] says.
fn proxy_requests(
    client: TcpStream,
    mut server: TcpStream,
    state: &ProxyState,
) -> std::io::Result<()> {
    use std::io::Read;
    // duckc tries HTTPS first: a TLS ClientHello is closed at once (plain HTTP follows).
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        let _ = server.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    let mut reader = BufReader::new(client.try_clone()?);
    let cut = |s: &TcpStream, server: &TcpStream| {
        state.dead.store(true, Ordering::SeqCst);
        let _ = s.shutdown(std::net::Shutdown::Both);
        let _ = server.shutdown(std::net::Shutdown::Both);
    };
    loop {
        let mut head = Vec::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line)? == 0 {
                let _ = server.shutdown(std::net::Shutdown::Write);
                return Ok(());
            }
            head.extend_from_slice(line.as_bytes());
            if line == "\r\n" {
                break;
            }
        }
        let crossed = state.sent.load(Ordering::SeqCst) >= state.cut.load(Ordering::SeqCst);
        if state.dead.load(Ordering::SeqCst) || crossed {
            cut(&client, &server);
            return Ok(());
        }
        let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(!text.contains("transfer-encoding: chunked"), "{text}");
        let mut length: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        server.write_all(&head)?;
        state.sent.fetch_add(head.len() as u64, Ordering::SeqCst);
        let mut buf = vec![0u8; 64 << 10];
        while length > 0 {
            let n = reader.read(&mut buf[..length.min(64 << 10) as usize])?;
            if n == 0 {
                return Ok(());
            }
            let before = state.sent.fetch_add(n as u64, Ordering::SeqCst);
            if state.inside.load(Ordering::SeqCst)
                && before + n as u64 >= state.cut.load(Ordering::SeqCst)
            {
                cut(&client, &server);
                return Ok(());
            }
            server.write_all(&buf[..n])?;
            length -= n as u64;
        }
    }
}

/// `len` bytes that gzip cannot shrink, the same for the same `seed` (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Checks that the image at `registry_port/repository:tag` (read by skopeo straight from the
/// registry, every blob checked against its digest) has `/big` with exactly `big`'s bytes;
/// returns the size of that layer's blob.
fn skopeo_has_big(registry_port: u16, image: &str, big: &Path) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy");
    ok(Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        &format!("docker://127.0.0.1:{registry_port}/{image}"),
        &format!("dir:{}", copy.display()),
    ]));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(copy.join("manifest.json")).unwrap()).unwrap();
    let layers = manifest["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    let blob = copy.join(&last[7..]);
    let out = dir.path().join("big");
    ok(Command::new("sh").arg("-c").arg(format!(
        "tar -xzOf '{}' big > '{}'",
        blob.display(),
        out.display()
    )));
    assert!(
        std::fs::read(&out).unwrap() == std::fs::read(big).unwrap(),
        "the pushed layer does not hold the file"
    );
    std::fs::metadata(&blob).unwrap().len()
}

/// A layer over 16 MiB is pushed in 16 MiB chunks (`PATCH` with `Content-Range`) and skopeo
/// reads back the right bytes. A push cut by a proxy fails with help to run it again; run
/// again, it completes: after a cut between two chunks it sends only the chunk left (the
/// upload URL kept in the store, the offset from the registry's `Range`), after a cut inside
/// a chunk (which Docker's registry will not resume) it sends the blob again (SECURITY 29).
#[test]
fn chunked_push_resumes_after_a_cut() {
    if !ready() {
        return;
    }
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    load_busybox(s.path());
    let ctx = tempfile::tempdir().unwrap();
    let big = ctx.path().join("big");
    let size = 40 << 20;
    std::fs::write(&big, noise(size, 0x5eed)).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY big /big\n",
    )
    .unwrap();
    must(
        s.path(),
        cfg.path(),
        &[
            "build",
            "--progress",
            "plain",
            "-t",
            "chunks/big:1",
            ctx.path().to_str().unwrap(),
        ],
    );

    // A cut between two chunks: the second push sends the last 8 MiB and little else.
    let registry = Registry::start("");
    let proxy = CuttingProxy::start(registry.port);
    let remote = format!("127.0.0.1:{}/chunks/between:1", proxy.port);
    must(s.path(), cfg.path(), &["tag", "chunks/big:1", &remote]);
    proxy.cut(20 << 20, false);
    let (code, _, err) = run(s.path(), cfg.path(), &["push", &remote]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("layer"), "{err}");
    assert!(err.contains("run the push again"), "{err}");
    proxy.pass();
    let out = must(s.path(), cfg.path(), &["push", &remote]);
    assert!(out.contains("Layer already exists"), "{out}");
    let resent = proxy.sent();
    let blob = skopeo_has_big(registry.port, "chunks/between:1", &big);
    // Two 16 MiB chunks were in before the cut: the rest of the blob, and requests.
    let left = blob - (32 << 20);
    assert!(
        resent > left && resent < left + (256 << 10),
        "the resumed push sent {resent} bytes; {left} of the blob were left\n{out}"
    );
    let log = registry.log();
    let patches = log.lines().filter(|l| l.contains("\"PATCH /v2/")).count();
    assert!(patches >= 3, "no chunked upload in\n{log}");

    // A cut inside a chunk: the registry refuses the kept upload, the blob is sent again.
    let registry = Registry::start("");
    let proxy = CuttingProxy::start(registry.port);
    let remote = format!("127.0.0.1:{}/chunks/inside:1", proxy.port);
    must(s.path(), cfg.path(), &["tag", "chunks/big:1", &remote]);
    proxy.cut(24 << 20, true);
    let (code, _, err) = run(s.path(), cfg.path(), &["push", &remote]);
    assert_ne!(code, 0, "{err}");
    proxy.pass();
    must(s.path(), cfg.path(), &["push", &remote]);
    // The kept upload was asked about, refused, and the blob sent again: 3 more chunks.
    let log = registry.log();
    let asked = log
        .find("\"GET /v2/chunks/inside/blobs/uploads/")
        .unwrap_or_else(|| panic!("the kept upload was not asked about\n{log}"));
    let patches = log[asked..].matches("\"PATCH /v2/").count();
    assert!(patches >= 3, "{log}");
    skopeo_has_big(registry.port, "chunks/inside:1", &big);
    must(s.path(), cfg.path(), &["verify"]);
}

/// Requests the failing registry got, by what it failed.
static FAILED_MANIFESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET_MANIFESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static FAILED_UPLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
static RESET_UPLOADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Close `conn` with a TCP reset (`SO_LINGER` 0), as a crashing server or a middlebox does.
fn reset(conn: &mut TcpStream) {
    use std::os::fd::AsRawFd;
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket and a `linger` of the right size.
    unsafe {
        libc::setsockopt(
            conn.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// A registry that answers every manifest and upload of `five/…` with a 500 and resets every
/// such request of `reset/…`; it has no blobs.
fn failing_route(path: &str, _headers: &str, conn: &mut TcpStream) {
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path.starts_with("/v2/five/duck/manifests/") {
        FAILED_MANIFESTS.fetch_add(1, Ordering::SeqCst);
        respond(conn, "500 Internal Server Error", "application/json", b"{}");
    } else if path.starts_with("/v2/reset/duck/manifests/") {
        RESET_MANIFESTS.fetch_add(1, Ordering::SeqCst);
        reset(conn);
    } else if path.starts_with("/v2/five/duck/blobs/uploads/") {
        FAILED_UPLOADS.fetch_add(1, Ordering::SeqCst);
        respond(conn, "500 Internal Server Error", "application/json", b"{}");
    } else if path.starts_with("/v2/reset/duck/blobs/uploads/") {
        RESET_UPLOADS.fetch_add(1, Ordering::SeqCst);
        reset(conn);
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// A registry that keeps failing (500s, connection resets) gets a bounded number of retries
/// (three, so four requests per operation) for a pull and a push alike; the error names the
/// image (and for a push the layer) and tells what to do, and nothing is stored (SECURITY 29).
#[test]
fn retries_on_500s_and_resets_are_bounded() {
    if !require_root() {
        return;
    }
    let port = fake_registry(failing_route);
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    for (repo, count) in [("five", &FAILED_MANIFESTS), ("reset", &RESET_MANIFESTS)] {
        let name = format!("127.0.0.1:{port}/{repo}/duck:v1");
        let (code, _, err) = run(s.path(), cfg.path(), &["pull", &name]);
        assert_ne!(code, 0);
        assert!(err.contains("help:"), "{err}");
        assert_eq!(count.load(Ordering::SeqCst), 4, "{repo}: {err}");
        if repo == "five" {
            assert!(err.contains(&format!("{repo}/duck")), "{err}");
            assert!(err.contains("500"), "{err}");
        } else {
            assert!(err.contains("after 3 retries"), "{err}");
        }
    }
    let (_, out, _) = run(s.path(), cfg.path(), &["images"]);
    assert!(!out.contains("duck"), "{out}");
    must(s.path(), cfg.path(), &["verify"]);

    load_busybox(s.path());
    let layers = {
        let out = must(s.path(), cfg.path(), &["inspect", "busybox"]);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        v[0]["RootFS"]["Layers"].as_array().map_or(1, Vec::len)
    };
    for (repo, count) in [("five", &FAILED_UPLOADS), ("reset", &RESET_UPLOADS)] {
        let name = format!("127.0.0.1:{port}/{repo}/duck:v1");
        must(s.path(), cfg.path(), &["tag", "busybox", &name]);
        let (code, _, err) = run(s.path(), cfg.path(), &["push", &name]);
        assert_ne!(code, 0);
        assert!(err.contains("run the push again"), "{err}");
        let n = count.load(Ordering::SeqCst);
        assert!(
            n >= 4 && n <= 4 * layers,
            "{repo}: {n} uploads started\n{err}"
        );
        if repo == "five" {
            assert!(err.contains("layer"), "{err}");
            assert!(err.contains("500"), "{err}");
        }
    }
}

/// A registry holding the image of [`push_three_layers`], pushed from store `a` with the
/// Docker config `cfg` as `remote`.
struct ThreeLayers {
    registry: Registry,
    cfg: tempfile::TempDir,
    a: tempfile::TempDir,
    remote: String,
}

fn three_layers_pushed() -> ThreeLayers {
    let registry = Registry::start("");
    let cfg = tempfile::tempdir().unwrap();
    let a = fresh_store();
    let remote = format!("{}/three/layers:v1", registry.host());
    push_three_layers(a.path(), cfg.path(), &remote);
    ThreeLayers {
        registry,
        cfg,
        a,
        remote,
    }
}

/// Pushes an image of three layers to `remote` from `store`: busybox, a 3 MB file of random
/// bytes (so its download reports bytes more than once), a small file.
fn push_three_layers(store: &Path, cfg: &Path, remote: &str) {
    load_busybox(store);
    let (code, _, err) = run(
        store,
        cfg,
        &[
            "run",
            "--name",
            "big",
            "busybox",
            "sh",
            "-c",
            "head -c 3000000 /dev/urandom > /big",
        ],
    );
    assert_eq!(code, 0, "{err}");
    must(store, cfg, &["commit", "big", "three/layers:step"]);
    let (code, _, err) = run(
        store,
        cfg,
        &[
            "run",
            "--name",
            "small",
            "three/layers:step",
            "sh",
            "-c",
            "echo quack > /small",
        ],
    );
    assert_eq!(code, 0, "{err}");
    must(store, cfg, &["commit", "small", remote]);
    must(store, cfg, &["push", remote]);
}

/// Each distinct `sha256:…` in `text` as `<digest-N>` (N in order of appearance), and the
/// byte counts that depend on random bytes and compressors as `<n>`.
fn redact_pull_json(text: &str) -> String {
    let mut seen: Vec<String> = Vec::new();
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("sha256:") {
        out.push_str(&rest[..i]);
        let end = rest[i + 7..]
            .find(|c: char| !c.is_ascii_hexdigit())
            .map_or(rest.len(), |e| i + 7 + e);
        let d = rest[i..end].to_owned();
        let n = seen.iter().position(|s| *s == d).unwrap_or_else(|| {
            seen.push(d);
            seen.len() - 1
        });
        out.push_str(&format!("<digest-{n}>"));
        rest = &rest[end..];
    }
    out.push_str(rest);
    let mut redacted = String::new();
    for line in out.lines() {
        let mut v: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["size", "current", "total"] {
            if v.get(key).is_some() {
                v[key] = "<n>".into();
            }
        }
        if let Some(ls) = v.get_mut("layers").and_then(|l| l.as_array_mut()) {
            for l in ls {
                l["size"] = "<n>".into();
            }
        }
        redacted.push_str(&format!("{v}\n"));
    }
    redacted
}

/// `pull --progress json` prints one event per line, in the build's vocabulary: the manifest
/// with its layers, then per layer `started`, `progress` (bytes so far, growing to the
/// total) and `finished`, and `pulled` last; a second pull has every layer `cached`. The
/// events without `progress` (how many of those there are depends on how reads fall) are a
/// snapshot; one layer at a time (`--jobs 1`) keeps the order fixed.
#[test]
fn pull_progress_json_events() {
    if !ready() {
        return;
    }
    let ThreeLayers {
        registry,
        cfg,
        a: _a,
        remote,
    } = three_layers_pushed();

    let b = fresh_store();
    let args = ["pull", "--progress", "json", "--jobs", "1", &remote];
    let first = must(b.path(), cfg.path(), &args);
    let events: Vec<serde_json::Value> = first
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let manifest = &events[0];
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 3, "{first}");
    for l in layers {
        let (layer, size) = (&l["layer"], &l["size"]);
        let progress: Vec<u64> = events
            .iter()
            .filter(|e| e["event"] == "progress" && e["layer"] == *layer)
            .map(|e| {
                assert_eq!(e["total"], *size, "{e}");
                e["current"].as_u64().unwrap()
            })
            .collect();
        assert!(progress.windows(2).all(|w| w[0] < w[1]), "{first}");
        assert_eq!(progress.last(), size.as_u64().as_ref(), "{first}");
    }
    let big = layers[1]["size"].as_u64().unwrap();
    let big_progress = events
        .iter()
        .filter(|e| e["event"] == "progress" && e["layer"] == layers[1]["layer"])
        .count();
    assert!(big > 2 << 20 && big_progress >= 2, "{first}");
    let last = events.last().unwrap();
    assert_eq!(last["name"], remote.as_str(), "{first}");
    let second = must(b.path(), cfg.path(), &args);
    let without_progress: String = first
        .lines()
        .chain(second.lines())
        .filter(|l| !l.contains(r#""event":"progress""#))
        .map(|l| format!("{l}\n"))
        .collect();
    insta::assert_snapshot!(
        "pull_progress_json",
        redact_pull_json(&without_progress)
            .replace(&registry.host(), "HOST")
            .replace(&format!("\"linux/{}\"", goarch()), "\"HOST_PLATFORM\"")
    );
    must(b.path(), cfg.path(), &["verify"]);
}

/// SECURITY 22 for pull: killed (SIGKILL) after the second layer's blob is renamed into the
/// store, or after the blobs' names are synced and before the layers are indexed, the pull
/// leaves no tag and `duckc verify` clean; run again, it fetches only what is missing and the
/// image runs.
#[test]
fn a_pull_killed_midway_completes_when_run_again() {
    if !ready() {
        return;
    }
    let ThreeLayers {
        registry: _registry,
        cfg,
        a: _a,
        remote,
    } = three_layers_pushed();

    // The config is the first blob renamed, then the layers one at a time (`--jobs 1`).
    for point in ["blob-after-rename:3", "pull-blobs-synced"] {
        let b = fresh_store();
        let killed = output(
            duckc(b.path())
                .env("DOCKER_CONFIG", cfg.path())
                .env("DUCKC_CRASH_AT", point)
                .args(["pull", "--progress", "plain", "--jobs", "1", &remote])
                .stdin(Stdio::null()),
        );
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&killed.status),
            Some(libc::SIGKILL),
            "{point}: {killed:?}"
        );
        let images = must(b.path(), cfg.path(), &["images"]);
        assert!(!images.contains("three/layers"), "{point}: {images}");
        must(b.path(), cfg.path(), &["verify"]);
        let again = must(
            b.path(),
            cfg.path(),
            &["pull", "--progress", "plain", &remote],
        );
        let present = if point == "pull-blobs-synced" { 3 } else { 2 };
        assert_eq!(
            again.matches(": Already exists").count(),
            present,
            "{point}: {again}"
        );
        must(b.path(), cfg.path(), &["verify"]);
        let out = must(
            b.path(),
            cfg.path(),
            &["run", "--rm", &remote, "cat", "/small"],
        );
        assert_eq!(out, "quack\n", "{point}");
    }
}

/// What a terminal shows after `bytes`: the lines left on the screen, for the escapes the
/// live view uses (`\r`, `\n`, erase line `ESC[2K`, cursor up `ESC[NA`; other escapes are
/// skipped).
fn screen(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<Vec<char>> = vec![Vec::new()];
    let (mut row, mut col) = (0usize, 0usize);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => col = 0,
            '\n' => {
                row += 1;
                if lines.len() <= row {
                    lines.push(Vec::new());
                }
            }
            '\x1b' => {
                if chars.peek() != Some(&'[') {
                    continue;
                }
                chars.next();
                let mut arg = String::new();
                let mut cmd = ' ';
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        cmd = c;
                        break;
                    }
                    arg.push(c);
                }
                match cmd {
                    'A' => row = row.saturating_sub(arg.parse().unwrap_or(1)),
                    'K' if arg == "2" => lines[row].clear(),
                    'K' => lines[row].truncate(col),
                    _ => {}
                }
            }
            c => {
                let line = &mut lines[row];
                if line.len() <= col {
                    line.resize(col, ' ');
                    line.push(c);
                } else {
                    line[col] = c;
                }
                col += 1;
            }
        }
    }
    lines
        .into_iter()
        .map(|l| l.into_iter().collect::<String>().trim_end().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// On a terminal `pull` draws one line per layer in the manifest's order and redraws them in
/// place: `Waiting`, then `Downloading` with a bar and the bytes done of the total, then
/// `Pull complete`; what stays on the screen is Docker's pull output with the layers in
/// order. A pull with every layer present leaves `Already exists` lines.
#[test]
fn pull_progress_tty_view() {
    if !ready() {
        return;
    }
    let ThreeLayers {
        registry: _registry,
        cfg,
        a: _a,
        remote,
    } = three_layers_pushed();
    // The layers in the manifest's order, from a JSON pull into another store.
    let c = fresh_store();
    let json = must(
        c.path(),
        cfg.path(),
        &["pull", "--progress", "json", &remote],
    );
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let shorts: Vec<String> = first["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["layer"].as_str().unwrap()["sha256:".len()..][..12].to_owned())
        .collect();

    let b = fresh_store();
    for (pass, status) in [(1, "Pull complete"), (2, "Already exists")] {
        let pty = common::pty::Pty::new();
        let mut cmd = duckc(b.path());
        cmd.env("DOCKER_CONFIG", cfg.path())
            .args(["pull", "--jobs", "1", &remote]);
        let mut child = pty.spawn(cmd);
        assert!(child.wait().unwrap().success(), "{}", pty.text());
        pty.wait_for(&format!("{remote}\r\n{remote}\r\n"));
        let raw = pty.text();
        let shown = screen(raw.as_bytes());
        let mut want = vec!["v1: Pulling from three/layers".to_owned()];
        want.extend(shorts.iter().map(|s| format!("{s}: {status}")));
        assert_eq!(shown[..4], want[..], "pass {pass}: {shown:#?}\n{raw:?}");
        assert!(shown[4].starts_with("Digest: sha256:"), "{shown:#?}");
        assert!(shown[5].starts_with("Status: "), "{shown:#?}");
        assert_eq!(shown[6], remote, "{shown:#?}");
        assert_eq!(shown.len(), 7, "{shown:#?}");
        if pass == 1 {
            // Redrawn in place (cursor up), with Docker's bar and sizes on the way.
            assert!(raw.contains("\x1b[3A"), "{raw:?}");
            assert!(raw.contains(&format!("{}: Waiting", shorts[2])), "{raw:?}");
            let downloading = format!("{}: Downloading [", shorts[1]);
            let line = raw
                .split(['\r', '\n'])
                .filter_map(|l| l.split("\x1b[2K").last())
                .find(|l| l.starts_with(&downloading) && l.contains("B/"))
                .unwrap_or_else(|| panic!("no bytes for {} in {raw:?}", shorts[1]));
            let (done, total) = line.rsplit_once(' ').unwrap().1.split_once('/').unwrap();
            assert!(total.ends_with("MB") && done.ends_with('B'), "{line}");
        }
    }
    must(b.path(), cfg.path(), &["verify"]);
}

/// Sends `DELETE PATH` to the registry on `port` (plain HTTP/1.1); returns the status line.
fn http_delete(port: u16, path: &str) -> String {
    let mut conn = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        conn,
        "DELETE {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut status = String::new();
    BufReader::new(conn).read_line(&mut status).unwrap();
    status
}

fn blob_heads(log: &str) -> usize {
    log.lines()
        .filter(|l| l.contains("\"HEAD /v2/") && l.contains("/blobs/sha256:"))
        .count()
}

/// Re-pushing an unchanged image asks the registry about no blob (it holds what this store
/// pushed there) and sends none; when the registry lost one of them, it refuses the
/// manifest, and the push asks about each blob, sends the lost one again and succeeds.
#[test]
fn repush_asks_nothing_and_recovers_a_lost_blob() {
    if !ready() {
        return;
    }
    let ThreeLayers {
        registry,
        cfg,
        a,
        remote,
    } = three_layers_pushed();
    let first = registry.log();
    let pushed = digest_line(&must(a.path(), cfg.path(), &["push", &remote]));

    let before = registry.log().len();
    let out = must(a.path(), cfg.path(), &["push", &remote]);
    let log = &registry.log()[before..];
    assert_eq!(digest_line(&out), pushed, "{out}");
    assert_eq!(out.matches(": Layer already exists").count(), 3, "{out}");
    assert_eq!(blob_heads(log), 0, "{log}");
    assert_eq!(uploads(log), 0, "{log}");
    assert!(blob_heads(&first) > 0, "the first push asked: {first}");

    // The registry loses the middle layer of the repository.
    let raw = ok(Command::new("skopeo").args([
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{remote}"),
    ]));
    let manifest: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let lost = manifest["layers"][1]["digest"].as_str().unwrap().to_owned();
    let status = http_delete(registry.port, &format!("/v2/three/layers/blobs/{lost}"));
    assert!(status.contains(" 202"), "{status}");

    let before = registry.log().len();
    let out = must(a.path(), cfg.path(), &["push", &remote]);
    let log = &registry.log()[before..];
    assert_eq!(digest_line(&out), pushed, "{out}");
    assert!(out.contains("the registry lacks a blob"), "{out}");
    assert!(out.contains(&format!("{}: Pushed", &lost[7..19])), "{out}");
    assert_eq!(uploads(log), 1, "{log}");

    // Everything is there again: a fresh store pulls and runs it.
    let b = fresh_store();
    must(b.path(), cfg.path(), &["pull", &remote]);
    let out = must(
        b.path(),
        cfg.path(),
        &["run", "--rm", &remote, "cat", "/small"],
    );
    assert_eq!(out.trim(), "quack");
    must(b.path(), cfg.path(), &["verify"]);
}

/// `gzip -n` of `bytes`, by the real tool.
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

/// A gzip layer of GOOD_LAYER whose config names BAD_LAYER's diff_id (`diffid/duck`); one
/// whose bytes hash right but are no gzip past the header (`broken/duck`); one served short of
/// its size in a complete response (`short/duck`).
fn unpacking_route(path: &str, _headers: &str, conn: &mut TcpStream) {
    static GZ: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    let gz = GZ.get_or_init(|| gzip(GOOD_LAYER)).clone();
    let mut broken = gz[..10].to_vec();
    broken.extend_from_slice(b"\xff\xff not deflate at all");
    let (repo, layer, diff_id, served) = if path.starts_with("/v2/diffid/") {
        ("diffid", gz.clone(), sha(BAD_LAYER), gz)
    } else if path.starts_with("/v2/broken/") {
        ("broken", broken.clone(), sha(GOOD_LAYER), broken)
    } else if path.starts_with("/v2/short/") {
        (
            "short",
            gz.clone(),
            sha(GOOD_LAYER),
            gz[..gz.len() / 2].to_vec(),
        )
    } else {
        respond(conn, "200 OK", "application/json", b"{}");
        return;
    };
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}},"config":{{}}}}"#
    )
    .into_bytes();
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"{}","size":{}}}]}}"#,
        sha(&config),
        config.len(),
        sha(&layer),
        layer.len()
    );
    if path == format!("/v2/{repo}/duck/manifests/v1") {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            manifest.as_bytes(),
        );
    } else if path == format!("/v2/{repo}/duck/blobs/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/v2/{repo}/duck/blobs/{}", sha(&layer)) {
        respond(conn, "200 OK", "application/octet-stream", &served);
    } else {
        respond(conn, "404 Not Found", "application/json", b"{}");
    }
}

/// The layer checks (SECURITY 26). A layer served short of its size fails the pull, with the
/// image and the layer named, nothing tagged and nothing half-written. A layer whose bytes are
/// the blob the manifest names (digest and size right) but that unpacks to another diff_id
/// than its config says, or does not decompress at all, is pulled (the pull checks digests
/// only, as `ctr content fetch` does) and refused at its first unpack: `run` fails with
/// `store::diff_id_mismatch` naming the image and the layer, leaves no snapshot, layer record
/// or leftover for the claimed diff_id, and `verify` reports it until the image is removed.
#[test]
fn layers_that_do_not_unpack_to_their_diff_id_are_refused() {
    if !require_root() || !require_tool("gzip") {
        return;
    }
    let port = fake_registry(unpacking_route);
    let cfg = tempfile::tempdir().unwrap();
    let gz = gzip(GOOD_LAYER);
    let mut broken = gz[..10].to_vec();
    broken.extend_from_slice(b"\xff\xff not deflate at all");
    for (repo, blob, diff_id, needle) in [
        (
            "diffid",
            &gz,
            sha(BAD_LAYER),
            "does not unpack to its diff_id",
        ),
        ("broken", &broken, sha(GOOD_LAYER), "it does not unpack"),
        ("short", &gz, sha(GOOD_LAYER), "size mismatch"),
    ] {
        let s = fresh_store();
        let name = format!("127.0.0.1:{port}/{repo}/duck:v1");
        let leftovers = || -> Vec<_> { std::fs::read_dir(s.path().join("tmp")).unwrap().collect() };
        let (code, out, err) = run(s.path(), cfg.path(), &["pull", &name]);
        if repo == "short" {
            assert_ne!(code, 0, "{repo}: {out}");
            assert!(err.contains(needle), "{repo}: {err}");
            assert!(err.contains(&format!(" of {name}")), "{repo}: {err}");
            let layer = &sha(&gz)["sha256:".len()..][..12];
            assert!(err.contains(&format!("layer {layer}")), "{repo}: {err}");
            assert!(err.contains("help:"), "{repo}: {err}");
            let images = must(s.path(), cfg.path(), &["images", "-q"]);
            assert!(images.trim().is_empty(), "{repo}: {images}");
            must(s.path(), cfg.path(), &["verify"]);
            assert!(leftovers().is_empty(), "{repo}: {:?}", leftovers());
            continue;
        }
        assert_eq!(code, 0, "{repo}: {out}\n{err}");
        let (code, _, err) = run(s.path(), cfg.path(), &["run", "--rm", &name, "true"]);
        assert_ne!(code, 0, "{repo}: {err}");
        for part in [
            needle,
            "does not unpack to its diff_id",
            &name,
            &sha(blob),
            &diff_id,
            "store::diff_id_mismatch",
            "help:",
            &format!("duckc rmi {name}"),
        ] {
            assert!(err.contains(part), "{repo}: no `{part}` in {err}");
        }
        let hex = &diff_id["sha256:".len()..];
        let record = s.path().join(format!("layers/sha256/{hex}.json"));
        assert!(!record.exists(), "{repo}: {record:?}");
        assert!(
            !s.path().join("snapshots/sha256").join(hex).exists(),
            "{repo}"
        );
        assert!(leftovers().is_empty(), "{repo}: {:?}", leftovers());
        // `verify` checks the layer no unpack has checked yet, and reports it.
        let (code, out, _) = run(s.path(), cfg.path(), &["verify"]);
        assert_ne!(code, 0, "{repo}: {out}");
        assert!(
            out.contains("does not unpack to its diff_id"),
            "{repo}: {out}"
        );
        assert!(!record.exists(), "{repo}: {record:?}");
        must(s.path(), cfg.path(), &["rmi", &name]);
        must(s.path(), cfg.path(), &["verify"]);
    }
}

/// A tar of one file `/greeting` holding `text`, by the real tool.
fn greeting_tar(text: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("greeting"), text).unwrap();
    let out = Command::new("tar")
        .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner"])
        .args(["--mtime=@0", "-cf", "-", "-C"])
        .arg(dir.path())
        .arg("greeting")
        .output()
        .unwrap();
    assert!(out.status.success());
    out.stdout
}

/// busybox's OCI layout with one more layer, the gzip of `layer`, whose config claims the
/// diff_id `claimed` (a forged image when that is not the layer's): pushed by skopeo, which
/// copies blobs by digest and checks no diff_id.
fn push_busybox_plus(remote: &str, layer: &[u8], claimed: &str) {
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    add_busybox_plus(&layout, layer, claimed);
    ok(Command::new("skopeo").args([
        "copy",
        "--dest-tls-verify=false",
        &format!("oci:{}:busybox:latest", layout.display()),
        &format!("docker://{remote}"),
    ]));
}

/// [`push_busybox_plus`]'s image, written into the busybox OCI layout `layout` in place of
/// its `busybox:latest`.
fn add_busybox_plus(layout: &Path, layer: &[u8], claimed: &str) {
    let blob = |d: &str| layout.join("blobs/sha256").join(&d["sha256:".len()..]);
    let put = |bytes: &[u8]| -> String {
        let d = sha(bytes);
        std::fs::write(blob(&d), bytes).unwrap();
        d
    };
    let mut index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap();
    let entry = &mut index["manifests"][0];
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(blob(entry["digest"].as_str().unwrap())).unwrap())
            .unwrap();
    let mut config: serde_json::Value = serde_json::from_slice(
        &std::fs::read(blob(manifest["config"]["digest"].as_str().unwrap())).unwrap(),
    )
    .unwrap();
    config["rootfs"]["diff_ids"]
        .as_array_mut()
        .unwrap()
        .push(claimed.into());
    if let Some(h) = config["history"].as_array_mut() {
        h.push(serde_json::json!({"created_by": "COPY greeting /greeting"}));
    }
    let gz = gzip(layer);
    manifest["layers"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": put(&gz),
            "size": gz.len(),
        }));
    let config = serde_json::to_vec(&config).unwrap();
    manifest["config"]["digest"] = put(&config).into();
    manifest["config"]["size"] = config.len().into();
    let manifest = serde_json::to_vec(&manifest).unwrap();
    entry["digest"] = put(&manifest).into();
    entry["size"] = manifest.len().into();
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
}

/// The forged-image tests' set-up: a registry, a Docker config directory, the names of a real
/// image (`good`) and a forged one (`forged`) in it, and a build context whose Dockerfile
/// copies `/greeting` = `quack` onto busybox. `None` where a tool is missing (outside CI).
struct Forgery {
    registry: Registry,
    cfg: tempfile::TempDir,
    good: String,
    forged: String,
    ctx: tempfile::TempDir,
}

impl Forgery {
    fn start() -> Option<Forgery> {
        if !ready() || !require_tool("gzip") || !require_tool("tar") {
            return None;
        }
        let registry = Registry::start("");
        let host = registry.host();
        let ctx = tempfile::tempdir().unwrap();
        std::fs::write(ctx.path().join("greeting"), "quack\n").unwrap();
        std::fs::write(
            ctx.path().join("Dockerfile"),
            "FROM busybox\nCOPY greeting /greeting\n",
        )
        .unwrap();
        Some(Forgery {
            cfg: tempfile::tempdir().unwrap(),
            good: format!("{host}/good/duck:v1"),
            forged: format!("{host}/forged/duck:v1"),
            ctx,
            registry,
        })
    }

    fn cfg(&self) -> &Path {
        self.cfg.path()
    }

    /// `duckc build --progress plain -t local/duck ARGS` of the context in `store`.
    fn build(&self, store: &Path, args: &[&str]) -> String {
        let dir = self.ctx.path().to_str().unwrap();
        let mut all = vec!["build", "--progress", "plain", "-t", "local/duck"];
        all.extend_from_slice(args);
        all.push(dir);
        must(store, self.cfg(), &all)
    }

    /// A fresh store holding busybox and the real layer: built there, so its record names the
    /// build's own blob.
    fn with_real(&self) -> tempfile::TempDir {
        let s = fresh_store();
        load_busybox(s.path());
        self.build(s.path(), &[]);
        s
    }

    /// The real image, built in a store of its own (returned) and pushed as `good`.
    fn push_good(&self) -> tempfile::TempDir {
        let a = self.with_real();
        must(a.path(), self.cfg(), &["tag", "local/duck", &self.good]);
        must(a.path(), self.cfg(), &["push", &self.good]);
        a
    }

    /// The forged image, pushed as `forged`: busybox with `/greeting` = `forged`, its config
    /// claiming the diff_id `claimed`.
    fn push_forged(&self, claimed: &str) {
        push_busybox_plus(&self.forged, &greeting_tar("forged\n"), claimed);
    }

    /// `run` of the forged image in `store` is refused at its first unpack, naming the image
    /// and `claimed`: its stderr.
    fn run_is_refused(&self, store: &Path, claimed: &str) -> String {
        let (code, out, err) = run(
            store,
            self.cfg(),
            &["run", "--rm", &self.forged, "cat", "/greeting"],
        );
        assert_ne!(code, 0, "the forged image ran: {out}\n{err}");
        assert!(err.contains("does not unpack to its diff_id"), "{err}");
        assert!(err.contains(&self.forged) && err.contains(claimed), "{err}");
        err
    }

    /// `duckc build --progress plain ARGS` of a Dockerfile `FROM` the forged image in `store`
    /// fails at the unpack, naming the image: its stderr.
    fn build_from_forged_is_refused(&self, store: &Path, args: &[&str]) -> String {
        let bad = tempfile::tempdir().unwrap();
        std::fs::write(
            bad.path().join("Dockerfile"),
            format!("FROM {}\nRUN cat /greeting\n", self.forged),
        )
        .unwrap();
        let mut all = vec!["build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(bad.path().to_str().unwrap());
        let (code, out, err) = run(store, self.cfg(), &all);
        assert_ne!(code, 0, "a build FROM the forged image passed: {out}");
        assert!(err.contains("does not unpack to its diff_id"), "{err}");
        assert!(err.contains(&self.forged), "{err}");
        err
    }

    /// The real image, pulled into `store`, runs and prints `quack`.
    fn good_runs(&self, store: &Path) {
        must(store, self.cfg(), &["pull", &self.good]);
        let out = must(
            store,
            self.cfg(),
            &["run", "--rm", &self.good, "cat", "/greeting"],
        );
        assert_eq!(out, "quack\n");
    }

    /// `verify` in `store` fails, naming the forged image, until it is removed: its report.
    fn verify_reports_forged_until_removed(&self, store: &Path) -> String {
        let (code, out, _) = run(store, self.cfg(), &["verify"]);
        assert_ne!(code, 0, "{out}");
        assert!(out.contains(&format!("image {}", self.forged)), "{out}");
        must(store, self.cfg(), &["rmi", &self.forged]);
        must(store, self.cfg(), &["verify"]);
        out
    }
}

/// Cache poisoning through a forged diff_id: an image whose last layer claims the diff_id of a
/// layer the store does not have yet (`/greeting` = `quack`) but holds other bytes. It pulls,
/// but `run` and a build `FROM` it fail at the first unpack, naming it; nothing claims the
/// diff_id afterwards, so the real layer with that diff_id — built here, pulled, or taken
/// from a registry build cache this store exported — is the one every later image gets;
/// `--cache-to` exports the layer the build made, and a fresh store that builds from that
/// cache gets `quack`.
#[test]
fn a_forged_diff_id_fails_at_first_unpack_and_poisons_nothing() {
    let Some(f) = Forgery::start() else {
        return;
    };
    let (cfg, forged) = (f.cfg(), &f.forged);
    let cache = format!("{}/ci/duck:buildcache", f.registry.host());
    // The real image, built and pushed from a store of its own; its last diff_id is claimed.
    f.push_good();
    let config: serde_json::Value = serde_json::from_str(&ok(Command::new("skopeo").args([
        "inspect",
        "--config",
        "--tls-verify=false",
        &format!("docker://{}", f.good),
    ])))
    .unwrap();
    let claimed = config["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    f.push_forged(&claimed);
    let hex = &claimed["sha256:".len()..];
    let nothing_claims = |s: &Path| {
        assert!(!s.join(format!("layers/sha256/{hex}.json")).exists());
        assert!(!s.join(format!("snapshots/sha256/{hex}")).exists());
        assert!(!s.join(format!("snapshots/sha256/{hex}.json")).exists());
        assert_eq!(std::fs::read_dir(s.join("tmp")).unwrap().count(), 0);
    };

    // The forged image pulls; `run` refuses it at the first unpack.
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    must(s, cfg, &["pull", forged]);
    nothing_claims(s);
    let err = f.run_is_refused(s, &claimed);
    assert!(err.contains(&format!("duckc rmi {forged}")), "{err}");
    nothing_claims(s);

    // A build `FROM` it fails the same way, naming the base.
    let err = f.build_from_forged_is_refused(s, &[]);
    assert!(err.contains(&claimed), "{err}");
    nothing_claims(s);

    // The real layer with that diff_id, built here and exported to a registry build cache.
    f.build(s, &["--cache-to", &cache]);
    assert!(s.join(format!("layers/sha256/{hex}.json")).exists());
    let out = must(s, cfg, &["run", "--rm", "local/duck", "cat", "/greeting"]);
    assert_eq!(out, "quack\n");
    // The real image pulled: the layer the store has checked is the one it gets.
    f.good_runs(s);

    // A fresh store takes the step from the cache: the layer this store made, not the claim.
    let t = fresh_store();
    let t = t.path();
    load_busybox(t);
    let out = f.build(t, &["--cache-from", &cache]);
    assert!(out.contains("Using cache"), "{out}");
    let out = must(t, cfg, &["run", "--rm", "local/duck", "cat", "/greeting"]);
    assert_eq!(out, "quack\n");

    // Another fresh store pulls the forged image first, then the real one: the real one runs.
    let u = fresh_store();
    let u = u.path();
    must(u, cfg, &["pull", forged]);
    let (code, _, err) = run(u, cfg, &["run", "--rm", forged, "cat", "/greeting"]);
    assert_ne!(code, 0, "{err}");
    nothing_claims(u);
    f.good_runs(u);
    // `verify` still reports the forged image's own blob (`save` or `push` would send it),
    // though the diff_id it claims is held, checked, from the real one.
    let out = f.verify_reports_forged_until_removed(u);
    assert!(out.contains("does not unpack to its diff_id"), "{out}");
}

/// A forged image whose last layer claims a diff_id the store already holds, checked, from the
/// real layer (`/greeting` = `quack`, built here). The store's snapshot of that diff_id is the
/// real one, but the forged image names its own blob, which `save`, `push`, a `commit` of a
/// container of it and any image built `FROM` it would carry under that diff_id: so `run` and
/// a build `FROM` it still fail, naming it, and its saved archive does not load into a store
/// that holds the real layer. The real image from the registry, another blob (gzip) of the
/// same layer, is read once and runs.
#[test]
fn a_forged_blob_is_refused_when_the_store_holds_its_diff_id_from_the_real_one() {
    let Some(f) = Forgery::start() else {
        return;
    };
    let (cfg, forged) = (f.cfg(), &f.forged);
    // A store holding the real layer, built: the real image is pushed from one.
    let a = f.push_good();
    let image =
        duckc_image::resolve(&duckc_store::Store::open(a.path()).unwrap(), "local/duck").unwrap();
    let claimed = image.layers.last().unwrap().diff_id.to_string();
    f.push_forged(&claimed);
    let hex = &claimed["sha256:".len()..];

    let s = f.with_real();
    let s = s.path();
    let record = || std::fs::read_to_string(s.join(format!("layers/sha256/{hex}.json"))).unwrap();
    let before = record();
    must(s, cfg, &["pull", forged]);
    f.run_is_refused(s, &claimed);
    f.build_from_forged_is_refused(s, &["-t", "on/forged"]);
    assert_eq!(record(), before, "the real layer's record changed");
    let out = must(s, cfg, &["run", "--rm", "local/duck", "cat", "/greeting"]);
    assert_eq!(out, "quack\n");

    // Its archive (`save` sends the registry's bytes as they are) loads nowhere that holds
    // the real layer.
    let archive = tempfile::tempdir().unwrap();
    let tar = archive.path().join("forged.tar");
    must(s, cfg, &["save", "-o", tar.to_str().unwrap(), forged]);
    let t = f.with_real();
    let (code, out, err) = run(t.path(), cfg, &["load", "-i", tar.to_str().unwrap()]);
    assert_ne!(code, 0, "the forged archive loaded: {out}");
    assert!(err.contains("does not match its diff_id"), "{err}");
    let (code, out, _) = run(t.path(), cfg, &["run", "--rm", forged, "true"]);
    assert_ne!(code, 0, "{out}");

    // The real image's gzip blob of the same layer: read once, listed on the record, runs.
    f.good_runs(s);
    let pulled = duckc_image::resolve(&duckc_store::Store::open(s).unwrap(), &f.good).unwrap();
    let gz = pulled.layers.last().unwrap().digest.to_string();
    assert!(record().contains(&gz), "{}", record());
    f.verify_reports_forged_until_removed(s);
}

/// A run killed (SIGKILL) while it unpacks a pulled layer, after the layer's record is written
/// and before or after its snapshot is renamed into place, leaves a store `verify` finds
/// clean, and the next run completes it. A real and a forged image claiming one diff_id run
/// at once — the real one held inside its first unpack of the layer, its record written, its
/// snapshot not yet installed — end as they would one after the other: the real one runs,
/// the forged one is refused, and the record names the real blob.
#[test]
fn a_killed_or_concurrent_first_unpack_of_a_pulled_layer_keeps_the_store_consistent() {
    let Some(f) = Forgery::start() else {
        return;
    };
    let (cfg, good, forged) = (&f.cfg, &f.good, &f.forged);
    let real_layer = greeting_tar("quack\n");
    let claimed = sha(&real_layer);
    push_busybox_plus(good, &real_layer, &claimed);
    f.push_forged(&claimed);
    let hex = &claimed["sha256:".len()..];
    let duckc_run = |s: &Path, env: (&str, &str), image: &str| {
        duckc(s)
            .env("DOCKER_CONFIG", cfg.path())
            .env(env.0, env.1)
            .args(["run", "--rm", image, "cat", "/greeting"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    // Killed: the second unpack (the claimed layer's, after busybox's) at each point.
    for point in ["snapshot-before-rename:2", "snapshot-before-record:2"] {
        let s = fresh_store();
        let s = s.path();
        must(s, cfg.path(), &["pull", good]);
        let out = duckc_run(s, ("DUCKC_CRASH_AT", point), good)
            .wait_with_output()
            .unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&out.status),
            Some(9),
            "{point}: not killed: {out:?}"
        );
        assert!(
            s.join(format!("layers/sha256/{hex}.json")).exists(),
            "{point}"
        );
        must(s, cfg.path(), &["verify"]);
        let out = must(s, cfg.path(), &["run", "--rm", good, "cat", "/greeting"]);
        assert_eq!(out, "quack\n", "{point}");
        must(s, cfg.path(), &["verify"]);
    }

    // Concurrent: busybox's layer unpacked first, so the claimed layer's is the only one left.
    let s = fresh_store();
    let s = s.path();
    let busybox = load_busybox(s);
    must(s, cfg.path(), &["run", "--rm", &busybox, "true"]);
    must(s, cfg.path(), &["pull", good]);
    must(s, cfg.path(), &["pull", forged]);
    let go = tempfile::tempdir().unwrap();
    let go = go.path().join("go");
    let pause = format!("snapshot-before-rename:{}", go.display());
    let real = duckc_run(s, ("DUCKC_PAUSE_AT", &pause), good);
    // Its record is written just before it pauses, holding the layer's lock.
    let record = s.join(format!("layers/sha256/{hex}.json"));
    for _ in 0..6000 {
        if record.exists() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(record.exists(), "the real run never reached its unpack");
    let fake = duckc_run(s, ("DUCKC_PAUSE_AT", ""), forged);
    std::thread::sleep(Duration::from_millis(300));
    std::fs::write(&go, "").unwrap();
    let real = real.wait_with_output().unwrap();
    let fake = fake.wait_with_output().unwrap();
    assert!(real.status.success(), "{real:?}");
    assert_eq!(String::from_utf8_lossy(&real.stdout), "quack\n");
    assert!(!fake.status.success(), "the forged image ran: {fake:?}");
    let err = String::from_utf8_lossy(&fake.stderr);
    assert!(err.contains("does not unpack to its diff_id"), "{err}");
    let pulled = duckc_image::resolve(&duckc_store::Store::open(s).unwrap(), good).unwrap();
    let rec = std::fs::read_to_string(&record).unwrap();
    assert!(
        rec.contains(&pulled.layers.last().unwrap().digest.to_string()),
        "{rec}"
    );
    must(s, cfg.path(), &["rmi", forged]);
    must(s, cfg.path(), &["verify"]);
}

/// `pull --all-platforms` of an index whose other platform's image is forged (its last layer
/// claims a diff_id its bytes do not give): the pull and a `run` of this host's platform
/// succeed, but `verify` reads every platform's layers, as `push` would send them all, and
/// reports the forged one. `gc` keeps those layers though no record names them, and removes
/// them once the image is removed.
#[test]
fn verify_checks_every_platform_of_an_index() {
    let Some(f) = Forgery::start() else {
        return;
    };
    let (host, cfg) = (f.registry.host(), &f.cfg);
    let tmp = tempfile::tempdir().unwrap();
    let layout = busybox_layout(tmp.path());
    let other = other_arch();
    let read_index = || -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(layout.join("index.json")).unwrap()).unwrap()
    };
    let mut real = read_index()["manifests"][0].clone();
    let claimed = sha(&greeting_tar("quack\n"));
    add_busybox_plus(&layout, &greeting_tar("forged\n"), &claimed);
    tag_other_arch(&layout, other);
    let mut forged = read_index()["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == "other")
        .unwrap()
        .clone();
    for (m, arch) in [(&mut real, goarch()), (&mut forged, other)] {
        m.as_object_mut().unwrap().remove("annotations");
        m["platform"] = serde_json::json!({"os": "linux", "architecture": arch});
    }
    let remote = format!("{host}/multi/forged:1");
    push_index(&layout, &[real, forged], &remote);

    let s = fresh_store();
    let s = s.path();
    let out = must(s, cfg.path(), &["pull", "--all-platforms", &remote]);
    assert!(out.contains(&format!("linux/{other}: Pulling")), "{out}");
    must(s, cfg.path(), &["run", "--rm", &remote, "true"]);
    // `gc` keeps the layers no unpack has checked (no record names them; the manifests do).
    must(s, cfg.path(), &["gc"]);
    let forged_blob = s
        .join("blobs/sha256")
        .join(&sha(&gzip(&greeting_tar("forged\n")))["sha256:".len()..]);
    assert!(forged_blob.is_file());
    let (code, out, _) = run(s, cfg.path(), &["verify"]);
    assert_ne!(
        code, 0,
        "verify passed an index with a forged platform: {out}"
    );
    assert!(out.contains("does not unpack to its diff_id"), "{out}");
    assert!(out.contains(&claimed), "{out}");
    assert!(out.contains(&format!("image {remote}")), "{out}");
    // Removed, the image's blobs go at the next `gc`: nothing else holds them.
    must(s, cfg.path(), &["rmi", &remote]);
    must(s, cfg.path(), &["gc"]);
    assert!(!forged_blob.exists());
    must(s, cfg.path(), &["verify"]);
}

/// A build keeps its layers as snapshots only, with no uncompressed blob file: `save` writes
/// them again byte for byte and `push` gives the manifest digest that a store holding every
/// blob as a file (the same image saved and loaded) gives. A snapshot changed since the build
/// (here only a file's mtime, which the tree digest leaves out) is refused at that point,
/// naming the layer and `duckc verify --repair`, and nothing is pushed; after the repair a
/// rebuild makes the layer again, the same bytes.
#[test]
fn layers_kept_only_as_snapshots_push_and_save_as_before() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let host = registry.host();
    let cfg = tempfile::tempdir().unwrap();
    let a = fresh_store();
    let a = a.path();
    load_busybox(a);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("greeting"), "quack\n").unwrap();
    // A deletion (whiteout) and a directory replaced (opaque) in the first RUN, whose layer
    // the second RUN unpacks as its lower directory.
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY greeting /greeting\n\
         RUN rm /bin/vi && rm -rf /var && mkdir -p /var/spool && echo hi > /var/spool/x\n\
         RUN echo two > /y\n",
    )
    .unwrap();
    let ctx_s = ctx.path().to_str().unwrap();
    must(a, cfg.path(), &["build", "-t", "snap:1", ctx_s]);
    let s = duckc_store::Store::open(a).unwrap();
    let image = duckc_image::resolve(&s, "snap:1").unwrap();
    assert_eq!(image.layers.len(), 4);
    for l in &image.layers[1..3] {
        assert!(!s.has_blob_file(&l.digest), "{} has a blob file", l.digest);
        assert!(s.has_blob(&l.digest));
    }
    let copy_layer = image.layers[1].clone();
    let c = fresh_store();
    let c = c.path();
    ok(Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", a.display()))
        .arg(c));

    // The reference: the same image in a store that holds every blob as a file.
    let archives = tempfile::tempdir().unwrap();
    let tar_a = archives.path().join("a.tar");
    must(
        a,
        cfg.path(),
        &["save", "-o", tar_a.to_str().unwrap(), "snap:1"],
    );
    let b = fresh_store();
    let b = b.path();
    must(b, cfg.path(), &["load", "-i", tar_a.to_str().unwrap()]);
    let sb = duckc_store::Store::open(b).unwrap();
    assert!(image.layers.iter().all(|l| sb.has_blob_file(&l.digest)));
    let tar_b = archives.path().join("b.tar");
    must(
        b,
        cfg.path(),
        &["save", "-o", tar_b.to_str().unwrap(), "snap:1"],
    );
    assert!(
        std::fs::read(&tar_a).unwrap() == std::fs::read(&tar_b).unwrap(),
        "`save` of layers kept as snapshots differs from `save` of their blobs"
    );
    let push = |store: &Path, repo: &str| {
        let remote = format!("{host}/snap/{repo}:1");
        must(store, cfg.path(), &["tag", "snap:1", &remote]);
        run(store, cfg.path(), &["push", &remote])
    };
    let (code, from_b, err) = push(b, "b");
    assert_eq!(code, 0, "{err}");
    let (code, from_a, err) = push(a, "a");
    assert_eq!(code, 0, "{err}");
    assert_eq!(digest_line(&from_a), digest_line(&from_b));
    must(a, cfg.path(), &["verify"]);

    // Tampered: an mtime in the COPY layer's snapshot.
    let sc = duckc_store::Store::open(c).unwrap();
    let greeting = sc.snapshot_path(&copy_layer.diff_id).join("greeting");
    ok(Command::new("touch")
        .args(["-h", "-d", "@12345"])
        .arg(&greeting));
    let before = registry.log().len();
    let (code, _, err) = push(c, "c");
    assert_ne!(code, 0, "a tampered snapshot was pushed");
    assert!(err.contains(&copy_layer.diff_id.to_string()), "{err}");
    assert!(err.contains("duckc verify --repair"), "{err}");
    // No manifest reaches the registry (the base layer, intact, may have gone up).
    let log = registry.log()[before..].to_owned();
    assert!(!log.contains("/v2/snap/c/manifests/"), "{log}");
    let tar_c = archives.path().join("c.tar");
    let (code, _, err) = run(
        c,
        cfg.path(),
        &["save", "-o", tar_c.to_str().unwrap(), "snap:1"],
    );
    assert_ne!(code, 0, "a tampered snapshot was saved");
    assert!(err.contains(&copy_layer.diff_id.to_string()), "{err}");
    assert!(!tar_c.exists());
    let (code, out, _) = run(c, cfg.path(), &["verify"]);
    assert_ne!(code, 0);
    assert!(out.contains(&copy_layer.diff_id.to_string()), "{out}");

    // Repaired, then built again: the same layer, the same archive.
    let (_, out, _) = run(c, cfg.path(), &["verify", "--repair"]);
    assert!(out.contains("repaired snapshot"), "{out}");
    must(c, cfg.path(), &["build", "-t", "snap:1", ctx_s]);
    must(c, cfg.path(), &["verify"]);
    must(
        c,
        cfg.path(),
        &["save", "-o", tar_c.to_str().unwrap(), "snap:1"],
    );
    assert!(std::fs::read(&tar_a).unwrap() == std::fs::read(&tar_c).unwrap());
}

/// What [`HeaderProxy`] saw of the uploads it passed on.
#[derive(Default)]
struct Seen {
    /// Each `PATCH`: its `Content-Length` and `Content-Range`.
    patches: Vec<(u64, String)>,
    /// The `POST`s that start an upload, answered with the added header.
    posts: usize,
}

/// A loopback HTTP/1.1 proxy in front of the real registry that passes every request and
/// answer on unchanged, except that it adds `OCI-Chunk-Min-Length: MIN` to the answer of each
/// `POST …/blobs/uploads/` (the header of distribution spec v1.1 that Debian's docker-registry
/// 2.8 does not send), and records the `PATCH`es it forwards.
struct HeaderProxy {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<Seen>>,
}

impl HeaderProxy {
    fn start(upstream: u16, min: u64) -> HeaderProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
        let shared = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                let seen = shared.clone();
                std::thread::spawn(move || {
                    let _ = header_proxy_conn(client, server, min, &seen);
                });
            }
        });
        HeaderProxy { port, seen }
    }
}

/// The head of a request or an answer (through the empty line), `None` at the end of the
/// stream.
fn read_head(reader: &mut impl BufRead) -> std::io::Result<Option<String>> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        head.push_str(&line);
        if line == "\r\n" {
            return Ok(Some(head));
        }
    }
}

/// A header's value in `head` (the name in lower case).
fn head_value(head: &str, name: &str) -> Option<String> {
    head.lines().skip(1).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_owned())
    })
}

/// Copy exactly `len` bytes from `from` to `to`.
fn copy_exact(from: &mut impl BufRead, to: &mut impl Write, len: u64) -> std::io::Result<()> {
    use std::io::Read;
    let n = std::io::copy(&mut from.take(len), to)?;
    if n != len {
        return Err(std::io::Error::other("the body ended early"));
    }
    Ok(())
}

/// Pass one connection's requests and answers on, one exchange at a time (the client waits for
/// each answer), as [`HeaderProxy`] says.
fn header_proxy_conn(
    client: TcpStream,
    server: TcpStream,
    min: u64,
    seen: &std::sync::Mutex<Seen>,
) -> std::io::Result<()> {
    // duckc tries HTTPS first: a TLS ClientHello is closed at once (plain HTTP follows).
    let mut first = [0u8; 1];
    if client.peek(&mut first)? == 0 || first[0] == 0x16 {
        let _ = server.shutdown(std::net::Shutdown::Both);
        return Ok(());
    }
    let mut from_client = BufReader::new(client.try_clone()?);
    let mut to_client = client;
    let mut from_server = BufReader::new(server.try_clone()?);
    let mut to_server = server;
    while let Some(request) = read_head(&mut from_client)? {
        let line = request.lines().next().unwrap_or("").to_owned();
        let mut words = line.split(' ');
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        assert!(
            head_value(&request, "transfer-encoding").is_none(),
            "a request without a length: {request}"
        );
        let length: u64 = head_value(&request, "content-length").map_or(0, |v| v.parse().unwrap());
        if method == "PATCH" {
            let range = head_value(&request, "content-range").unwrap_or_default();
            seen.lock().unwrap().patches.push((length, range));
        }
        to_server.write_all(request.as_bytes())?;
        copy_exact(&mut from_client, &mut to_server, length)?;
        let Some(mut answer) = read_head(&mut from_server)? else {
            return Ok(());
        };
        if method == "POST" && path.contains("/blobs/uploads/") && answer.contains(" 202 ") {
            seen.lock().unwrap().posts += 1;
            answer.insert_str(
                answer.len() - 2,
                &format!("OCI-Chunk-Min-Length: {min}\r\n"),
            );
        }
        to_client.write_all(answer.as_bytes())?;
        let status: u16 = answer
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        if method == "HEAD" || status == 204 || status == 304 || (100..200).contains(&status) {
            continue;
        }
        if head_value(&answer, "transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            // Each chunk as it comes: its size line, its bytes and CRLF; then the trailers.
            loop {
                let mut size = String::new();
                from_server.read_line(&mut size)?;
                to_client.write_all(size.as_bytes())?;
                let n = u64::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                    .map_err(std::io::Error::other)?;
                if n == 0 {
                    let trailers = read_head(&mut from_server)?.unwrap_or_default();
                    to_client.write_all(trailers.as_bytes())?;
                    break;
                }
                copy_exact(&mut from_server, &mut to_client, n + 2)?;
            }
        } else if let Some(len) = head_value(&answer, "content-length") {
            copy_exact(&mut from_server, &mut to_client, len.parse().unwrap())?;
        } else {
            // No length: the body runs to the end of the connection.
            std::io::copy(&mut from_server, &mut to_client)?;
            return Ok(());
        }
    }
    let _ = to_server.shutdown(std::net::Shutdown::Write);
    Ok(())
}

/// `OCI-Chunk-Min-Length` (distribution spec v1.1): a registry that asks for chunks of at least
/// N bytes gets every chunk but the last at least N bytes long, in order and with no gap, and
/// the blob is whole. Docker's registry does not send the header, so a loopback proxy in front
/// of the real registry adds it (24 MiB, above duckc's own 16 MiB chunks) and records each
/// `PATCH`; skopeo then reads the layer back from the registry itself.
#[test]
fn chunk_min_length_is_honoured() {
    if !ready() {
        return;
    }
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();
    load_busybox(s.path());
    let ctx = tempfile::tempdir().unwrap();
    let big = ctx.path().join("big");
    std::fs::write(&big, noise(40 << 20, 0xc4c4)).unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox\nCOPY big /big\n",
    )
    .unwrap();
    must(
        s.path(),
        cfg.path(),
        &["build", "-t", "chunks/min:1", ctx.path().to_str().unwrap()],
    );
    let registry = Registry::start("");
    let min: u64 = 24 << 20;
    let proxy = HeaderProxy::start(registry.port, min);
    let remote = format!("127.0.0.1:{}/chunks/min:1", proxy.port);
    must(s.path(), cfg.path(), &["tag", "chunks/min:1", &remote]);
    must(s.path(), cfg.path(), &["push", &remote]);

    let blob = skopeo_has_big(registry.port, "chunks/min:1", &big);
    let seen = proxy.seen.lock().unwrap();
    assert!(seen.posts >= 1, "no upload was started through the proxy");
    let patches = &seen.patches;
    // 24 MiB, then the rest of the 40 MiB (and a little) blob; 16 MiB chunks would make three.
    assert_eq!(patches.len(), 2, "{patches:?}");
    let mut offset = 0;
    for (i, (len, range)) in patches.iter().enumerate() {
        if i + 1 < patches.len() {
            assert!(
                *len >= min,
                "chunk {i} is {len} bytes, under {min}: {patches:?}"
            );
        }
        assert_eq!(
            range,
            &format!("{offset}-{}", offset + len - 1),
            "{patches:?}"
        );
        offset += len;
    }
    assert_eq!(offset, blob, "{patches:?}");
}

/// A copy of examples/hello in `dir`, with the static busybox its spec copies (the host's
/// busybox-static, as tests/examples.rs does on a clean clone).
fn hello_checkout(dir: &Path) -> PathBuf {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    let to = dir.join("hello");
    ok(Command::new("cp").arg("-a").arg(&example).arg(&to));
    if !to.join("busybox").exists() {
        std::fs::copy("/bin/busybox", to.join("busybox"))
            .expect("/bin/busybox is missing: install Debian's busybox-static");
    }
    to
}

/// One registry cache shared by CI runners that build different specs (here two envs of
/// examples/hello, one per runner, each with `--target`): each export keeps what the other
/// exported, so a third runner with an empty store builds all of examples/hello with every
/// step from the cache (`Using cache` for each, no step run, no blob uploaded) and gets the
/// image digests the first two built. Before exports merged, the second runner's export
/// replaced the first's and the third runner built `hello`'s step again.
#[test]
fn build_caches_of_two_specs_merge_in_one_ref() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let cfg = tempfile::tempdir().unwrap();
    let cache = format!("{}/ci/hello:buildcache", registry.host());
    let build = |store: &Path, spec: &Path, args: &[&str]| {
        let mut all = vec!["build", "--progress", "plain"];
        all.extend_from_slice(args);
        all.push(spec.to_str().unwrap());
        let (code, out, err) = run(store, cfg.path(), &all);
        assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
        out
    };
    let digest_of = |store: &Path, image: &str| {
        inspect_field(&must(store, cfg.path(), &["inspect", image]), "Digest")
    };
    let entries = |out: &str| -> (usize, usize) {
        let line = out
            .lines()
            .find(|l| l.starts_with(&format!("{cache}: digest: ")) && l.contains("uploaded:"))
            .unwrap_or_else(|| panic!("no export line in\n{out}"));
        let number = |after: &str| -> usize {
            line.split_once(after)
                .unwrap()
                .1
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        };
        (number("entries: "), number("earlier exports: "))
    };
    let both = ["--cache-from", &cache, "--cache-to", &cache];

    // Runner 1 builds `hello` (and the base under it) and exports its steps.
    let one = tempfile::tempdir().unwrap();
    let spec_one = hello_checkout(one.path()).join("env.kdl");
    let s1 = fresh_store();
    let mut args = vec!["--target", "hello"];
    args.extend_from_slice(&both);
    let out = build(s1.path(), &spec_one, &args);
    let (first, kept) = entries(&out);
    assert_eq!(kept, 0, "{out}");
    let hello = digest_of(s1.path(), "duckc-example/hello");

    // Runner 2 builds `tools`: the base comes from the cache, its own step runs, and its
    // export keeps runner 1's entries beside its own.
    let two = tempfile::tempdir().unwrap();
    let spec_two = hello_checkout(two.path()).join("env.kdl");
    let s2 = fresh_store();
    let mut args = vec!["--target", "tools"];
    args.extend_from_slice(&both);
    let out = build(s2.path(), &spec_two, &args);
    assert!(out.contains(" ---> Using cache"), "{out}");
    let (total, kept) = entries(&out);
    assert!(
        total > first,
        "runner 2's export has {total} entries, runner 1's {first}\n{out}"
    );
    assert!(kept > 0, "{out}");
    let tools = digest_of(s2.path(), "duckc-example/tools");

    // Runner 3, an empty store and a third checkout, builds the whole spec: every step that
    // makes a layer comes from the cache, the images are the ones runners 1 and 2 built.
    let three = tempfile::tempdir().unwrap();
    let spec_three = hello_checkout(three.path()).join("env.kdl");
    let s3 = fresh_store();
    let out = build(s3.path(), &spec_three, &["--cache-from", &cache]);
    // Each step that makes a layer prints its id (` ---> 5166459f31eb`), right after
    // ` ---> Using cache` when the layer came from a cache. (A step that changes only the
    // config prints its id right after its header: there is nothing to cache.)
    let lines: Vec<&str> = out.lines().collect();
    let config_only = |header: &str| {
        let step = header.split_once(" : ").map_or("", |(_, s)| s);
        step == "workdir \"/\"" || ["env ", "cmd ", "tag "].iter().any(|w| step.starts_with(w))
    };
    let made: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with(" ---> ") && lines[i] != " ---> Using cache")
        .filter(|&i| !(lines[i - 1].starts_with("Step ") && config_only(lines[i - 1])))
        .collect();
    assert!(made.len() >= 5, "{out}");
    for i in made {
        assert_eq!(lines[i - 1], " ---> Using cache", "a step ran:\n{out}");
    }
    assert_eq!(digest_of(s3.path(), "duckc-example/hello"), hello);
    assert_eq!(digest_of(s3.path(), "duckc-example/tools"), tools);
    must(s3.path(), cfg.path(), &["verify"]);

    // Runner 3 exports again: everything is there, nothing is sent, nothing is left out.
    let before = uploads(&registry.log());
    let out = build(s3.path(), &spec_three, &["--cache-to", &cache]);
    assert!(out.contains("uploaded: 0"), "{out}");
    assert_eq!(uploads(&registry.log()), before);
    assert_eq!(entries(&out).0, total, "{out}");

    // A tag that holds an image is not overwritten by a cache export.
    let image = format!("{}/ci/hello:image", registry.host());
    push_busybox(&image, &[]);
    let (code, _, err) = run(
        s3.path(),
        cfg.path(),
        &["build", "--cache-to", &image, spec_three.to_str().unwrap()],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("is not a duckc build cache"), "{err}");
    assert!(err.contains("tag of its own"), "{err}");
}

/// The missing-base error's help is true, followed word for word, and the issue's own words
/// work: a Dockerfile `FROM localhost:PORT/debian:bookworm` (pushed there by skopeo) builds in
/// a fresh store with no manual load or pull, `duck.lock` pins its digest and `--locked`
/// builds from that digest. With `--pull=never` the build fails naming `duckc pull …`; running
/// exactly that command and building again succeeds. A short `FROM debian:bookworm` with no
/// registry configured fails the same way, and its `duckc pull` says how to name one; with
/// `DUCKC_REGISTRY` set as it says, the pull and then the build succeed.
#[test]
fn the_missing_base_help_is_true() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let cfg = tempfile::tempdir().unwrap();
    let remote = format!("localhost:{}/debian:bookworm", registry.port);
    let pushed = push_busybox(&remote, &[]);
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {remote}\nRUN echo hi > /x\n"),
    )
    .unwrap();
    let dir = ctx.path().to_str().unwrap();

    // No manual load: the build pulls the base, pins it, and `--locked` uses the pin.
    let s1 = fresh_store();
    let out = must(
        s1.path(),
        cfg.path(),
        &["build", "--progress", "plain", dir],
    );
    assert!(out.contains(&format!("Digest: {pushed}")), "{out}");
    let id = built_id(&out);
    let lock = std::fs::read_to_string(ctx.path().join("duck.lock")).unwrap();
    assert!(
        lock.contains(&format!("base \"{remote}\" digest=\"{pushed}\"")),
        "{lock}"
    );
    let s2 = fresh_store();
    let out = must(
        s2.path(),
        cfg.path(),
        &["build", "--progress", "plain", "--locked", dir],
    );
    assert_eq!(built_id(&out), id, "{out}");

    // `--pull=never`: the error's help, followed as written.
    let help_pull = |err: &str| -> Vec<String> {
        let start = err
            .find("pull it with `duckc ")
            .unwrap_or_else(|| panic!("no `duckc pull` in the help:\n{err}"))
            + "pull it with `duckc ".len();
        let end = start + err[start..].find('`').unwrap();
        err[start..end].split(' ').map(str::to_owned).collect()
    };
    let s3 = fresh_store();
    let (code, _, err) = run(
        s3.path(),
        cfg.path(),
        &["build", "--progress", "plain", "--pull=never", dir],
    );
    assert_ne!(code, 0, "{err}");
    let command = help_pull(&err);
    assert_eq!(command, ["pull", remote.as_str()], "{err}");
    let args: Vec<&str> = command.iter().map(String::as_str).collect();
    must(s3.path(), cfg.path(), &args);
    let out = must(
        s3.path(),
        cfg.path(),
        &["build", "--progress", "plain", "--pull=never", dir],
    );
    assert_eq!(built_id(&out), id, "{out}");

    // A short name and no registry configured: the help's pull says what to set; set so, it
    // pulls (`debian` is `library/debian` there, as Docker names it), and the build finds the
    // base.
    let library = format!("localhost:{}/library/debian:bookworm", registry.port);
    assert_eq!(push_busybox(&library, &[]), pushed);
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM debian:bookworm\nRUN echo hi > /x\n",
    )
    .unwrap();
    std::fs::remove_file(ctx.path().join("duck.lock")).unwrap();
    let s4 = fresh_store();
    let (code, _, err) = run(
        s4.path(),
        cfg.path(),
        &["build", "--progress", "plain", dir],
    );
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("help:"), "{err}");
    let (code, _, err) = run(s4.path(), cfg.path(), &["pull", "debian:bookworm"]);
    assert_ne!(code, 0, "{err}");
    assert!(err.contains("DUCKC_REGISTRY=HOST"), "{err}");
    let out = output(
        duckc(s4.path())
            .env("DOCKER_CONFIG", cfg.path())
            .env("DUCKC_REGISTRY", format!("localhost:{}", registry.port))
            .env("CONTAINERS_REGISTRIES_CONF", "/nonexistent")
            .args(["pull", "debian:bookworm"]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = must(
        s4.path(),
        cfg.path(),
        &["build", "--progress", "plain", "--pull=never", dir],
    );
    assert_eq!(built_id(&out), id, "{out}");
    for s in [&s1, &s2, &s3, &s4] {
        must(s.path(), cfg.path(), &["verify"]);
    }
}

/// Bytes an endless body made the fake registry write before the client stopped reading.
static ENDLESS_WRITTEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A registry whose `big` manifest declares 5 MiB (and sends nothing), and whose `endless`
/// image's layer never ends (no `Content-Length`); its config and manifest are honest.
fn oversized_route(path: &str, _headers: &str, conn: &mut TcpStream) {
    let config = lying_config();
    if path == "/v2/" {
        respond(conn, "200 OK", "application/json", b"{}");
    } else if path == "/v2/big/duck/manifests/v1" {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/vnd.oci.image.manifest.v1+json\r\nContent-Length: {}\r\n\r\n{{",
            5 << 20
        );
        // Nothing more: a client that read the body would wait for its read timeout.
        std::thread::sleep(Duration::from_secs(60));
    } else if path == "/v2/endless/duck/manifests/v1" {
        respond(
            conn,
            "200 OK",
            "application/vnd.oci.image.manifest.v1+json",
            &lying_manifest(),
        );
    } else if path == format!("/v2/endless/duck/blobs/{}", sha(&config)) {
        respond(conn, "200 OK", "application/octet-stream", &config);
    } else if path == format!("/v2/endless/duck/blobs/{}", sha(GOOD_LAYER)) {
        let _ = write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        );
        let mut body = GOOD_LAYER.to_vec();
        body.resize(64 << 10, b'!');
        let _ = conn.write_all(&body);
        ENDLESS_WRITTEN.fetch_add(body.len() as u64, Ordering::SeqCst);
        let chunk = vec![b'!'; 64 << 10];
        while conn.write_all(&chunk).is_ok() {
            ENDLESS_WRITTEN.fetch_add(chunk.len() as u64, Ordering::SeqCst);
            if ENDLESS_WRITTEN.load(Ordering::SeqCst) > 1 << 30 {
                break;
            }
        }
    } else {
        respond(
            conn,
            "404 Not Found",
            "application/json",
            br#"{"errors":[{"code":"NOT_FOUND","message":"no"}]}"#,
        );
    }
}

/// SECURITY 27, the cases `an_endless_manifest_is_refused` leaves: a manifest whose
/// `Content-Length` is over 4 MiB is refused from its header (the server sends no body: a
/// client that read it would hang), and a layer whose body never ends is cut one byte past
/// its declared size (the server could write only socket buffers' worth before the client
/// hung up). Each error names the image (and the layer); nothing is stored, `verify` is clean.
#[test]
fn oversized_and_endless_bodies_are_refused() {
    if !require_root() {
        return;
    }
    let port = fake_registry(oversized_route);
    let cfg = tempfile::tempdir().unwrap();
    let s = fresh_store();

    let name = format!("127.0.0.1:{port}/big/duck:v1");
    let started = Instant::now();
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_ne!(code, 0);
    assert!(err.contains("larger than 4194304 bytes"), "{err}");
    assert!(err.contains(&name), "{err}");
    assert!(err.contains("help:"), "{err}");
    // Not a timing assertion of speed: the server holds the body back for 60 s, so an answer
    // before that means the header alone refused it.
    assert!(started.elapsed() < Duration::from_secs(60), "{err}");

    let name = format!("127.0.0.1:{port}/endless/duck:v1");
    let (code, _, err) = run(s.path(), cfg.path(), &["pull", &name]);
    assert_ne!(code, 0);
    let layer = &sha(GOOD_LAYER)["sha256:".len()..][..12];
    assert!(err.contains(&format!("layer {layer} of {name}")), "{err}");
    assert!(err.contains("help:"), "{err}");
    let written = ENDLESS_WRITTEN.load(Ordering::SeqCst);
    assert!(
        written < 64 << 20,
        "the client read {written} bytes of a {}-byte layer",
        GOOD_LAYER.len()
    );
    assert!(
        !s.path()
            .join("blobs/sha256")
            .join(&sha(GOOD_LAYER)[7..])
            .exists()
    );
    let images = must(s.path(), cfg.path(), &["images", "-q"]);
    assert!(images.trim().is_empty(), "{images}");
    must(s.path(), cfg.path(), &["verify"]);
    let leftovers: Vec<_> = std::fs::read_dir(s.path().join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Make an image from busybox in a store of its own on the ordinary disk (`script` run in a
/// container, which is then committed) and push it as `HOST/quota/NAME:1`; return that name.
fn push_made(registry: &Registry, cfg: &Path, name: &str, script: &str) -> String {
    let s = fresh_store();
    let s = s.path();
    load_busybox(s);
    let remote = format!("{}/quota/{name}:1", registry.host());
    must(
        s,
        cfg,
        &["run", "--name", name, "busybox", "sh", "-c", script],
    );
    must(s, cfg, &["commit", name, &remote]);
    must(s, cfg, &["push", &remote]);
    remote
}

/// Sizes as people read them (`11.6MB`, `983kB`, `512B`) as `<size>`: they follow the
/// random bytes, the compressor and the file system's own accounting.
fn redact_sizes(text: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !chars[i - 1].is_ascii_alphanumeric();
        if starts_word && chars[i].is_ascii_digit() {
            let mut j = i;
            while j < chars.len() && (chars[j].is_ascii_digit() || chars[j] == '.') {
                j += 1;
            }
            let unit: String = chars[j..].iter().take(2).collect();
            let len = if ["kB", "MB", "GB", "TB"].contains(&unit.as_str()) {
                2
            } else if unit.starts_with('B') {
                1
            } else {
                0
            };
            if len > 0 {
                out.push_str("<size>");
                i = j + len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// A pull whose blobs the store's file system cannot hold is refused before a byte of them is
/// asked for: `store::no_space`, naming the image, what it needs and what is free, with a help
/// that says what to do; nothing under `blobs/`, and `verify` is clean.
#[test]
fn a_pull_that_cannot_fit_is_refused_up_front() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let cfg = tempfile::tempdir().unwrap();
    // About 10 MB that no compressor shrinks: more than an 8 MiB file system holds.
    let remote = push_made(
        &registry,
        cfg.path(),
        "big",
        "head -c 10000000 /dev/urandom > /big",
    );
    let fs = Tmpfs::mount("8m");
    let store = fs.path().join("store");

    let before = registry.log().len();
    let (code, out, err) = run(&store, cfg.path(), &["pull", &remote]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(!out.contains("Pull complete"), "{out}");
    assert_eq!(
        blob_gets(&registry.log()[before..]),
        0,
        "{}",
        &registry.log()[before..]
    );
    let canonical = std::fs::canonicalize(&store).unwrap();
    insta::assert_snapshot!(
        "pull_refused_no_space",
        redact_sizes(
            &err.replace(&canonical.display().to_string(), "STORE")
                .replace(&registry.host(), "HOST")
        )
    );
    let blobs: Vec<_> = std::fs::read_dir(store.join("blobs/sha256"))
        .unwrap()
        .collect();
    assert!(blobs.is_empty(), "{blobs:?}");
    let leftovers: Vec<_> = std::fs::read_dir(store.join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let out = must(&store, cfg.path(), &["verify"]);
    assert!(out.starts_with("ok: 0 blobs"), "{out}");
}

/// A registry whose sizes fit, and a disk that fills anyway: the layers are small when
/// compressed (3 MB of zeros), so the pull fits, but a file that takes the room left makes
/// the first unpack (`run`) meet a real ENOSPC. It is `store::no_space` naming the layer and
/// the image (not a forged-layer error), the half-unpacked tree is gone, `verify` is clean,
/// and once the file is removed the same `run` works.
#[test]
fn a_disk_that_fills_while_unpacking_leaves_the_store_consistent() {
    if !ready() {
        return;
    }
    let registry = Registry::start("");
    let cfg = tempfile::tempdir().unwrap();
    let remote = push_made(
        &registry,
        cfg.path(),
        "zeros",
        "head -c 3000000 /dev/zero > /zeros",
    );
    let fs = Tmpfs::mount("8m");
    let store = fs.path().join("store");
    must(&store, cfg.path(), &["pull", "-q", &remote]);

    // Leave about 1 MB: less than busybox (2 MB) or the zeros unpack to.
    let filler = fs.path().join("filler");
    let room = fs.free().saturating_sub(1_000_000);
    std::fs::write(&filler, vec![0u8; room as usize]).unwrap();
    let (code, out, err) = run(&store, cfg.path(), &["run", "--rm", &remote, "true"]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(err.contains("store::no_space"), "{err}");
    assert!(
        err.contains("ran out of space while storing the unpacked layer `sha256:"),
        "{err}"
    );
    assert!(err.contains(&format!("of `{remote}`")), "{err}");
    assert!(err.contains("duckc system prune"), "{err}");
    assert!(!err.contains("forged"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(store.join("tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    let out = must(&store, cfg.path(), &["verify"]);
    assert!(out.starts_with("ok: "), "{out}");

    std::fs::remove_file(&filler).unwrap();
    let out = must(
        &store,
        cfg.path(),
        &["run", "--rm", &remote, "sh", "-c", "wc -c < /zeros"],
    );
    assert_eq!(out.trim(), "3000000");
    let out = must(&store, cfg.path(), &["verify"]);
    assert!(out.starts_with("ok: "), "{out}");
}
