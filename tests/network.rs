//! End-to-end tests of name resolution in containers and build steps (issue 15, item 1):
//! the generated `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname`, `--add-host`,
//! `--dns*`, and images whose `/etc` entries are symlinks to host paths.
//!
//! They need root (CI runs as root; elsewhere they skip with a note).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;

use common::store::load_busybox;
use common::{duckc, ok, output, require_root, require_tool};
use common::{must, run};

/// The shared store (busybox loaded), or `None` when the tests cannot run here.
fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("network-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    }))
}

/// The upper directory of the container named `name`.
fn upper_of(store: &Path, name: &str) -> PathBuf {
    let table = must(store, &["container", "ls", "-a"]);
    let id = table
        .lines()
        .find(|l| l.trim_end().ends_with(&format!("   {name}")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_default()
        .to_owned();
    let dir = std::fs::read_dir(store.join("containers"))
        .unwrap()
        .flatten()
        .find(|e| !id.is_empty() && e.file_name().to_string_lossy().starts_with(&id))
        .unwrap_or_else(|| panic!("no container `{name}`"));
    dir.path().join("upper")
}

#[test]
fn a_container_resolves_localhost_and_its_own_hostname() {
    let Some(store) = store() else { return };
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--hostname",
            "duckbox",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts; echo ---; cat /etc/hostname; echo ---; \
             ping -c1 -W1 localhost >/dev/null && echo localhost-ok; \
             ping -c1 -W1 duckbox >/dev/null && echo self-ok",
        ],
    );
    let (hosts, rest) = out.split_once("---\n").unwrap();
    assert!(hosts.contains("127.0.0.1\tlocalhost\n"), "{hosts}");
    assert!(
        hosts.contains("::1\tlocalhost ip6-localhost ip6-loopback\n"),
        "{hosts}"
    );
    // On the default bridge the hostname resolves to the container's own address.
    assert!(
        hosts
            .lines()
            .any(|l| l.ends_with("\tduckbox") && l.starts_with("10.")),
        "{hosts}"
    );
    assert!(rest.starts_with("duckbox\n---\n"), "{rest}");
    assert!(rest.contains("localhost-ok\n"), "{out}");
    assert!(rest.contains("self-ok\n"), "{out}");
}

#[test]
fn add_host_and_dns_flags_land_in_the_files() {
    let Some(store) = store() else { return };
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--add-host",
            "db:10.9.8.7",
            "--dns",
            "127.0.0.1",
            "--dns-search",
            "example.test",
            "--dns-option",
            "ndots:2",
            "busybox",
            "sh",
            "-c",
            "cat /etc/hosts; echo ---; cat /etc/resolv.conf",
        ],
    );
    let (hosts, resolv) = out.split_once("---\n").unwrap();
    assert!(hosts.contains("10.9.8.7\tdb\n"), "{hosts}");
    assert_eq!(
        resolv,
        "nameserver 127.0.0.1\nsearch example.test\noptions ndots:2\n"
    );

    // Bad values are refused before anything starts, with a hint.
    for (flag, value) in [
        ("--add-host", "db"),
        ("--add-host", "db:x"),
        ("--dns", "nope"),
    ] {
        let (code, _, err) = run(store, &["run", "--rm", flag, value, "busybox", "true"]);
        assert_ne!(code, 0);
        assert!(err.contains(&format!("bad {flag}")), "{err}");
        assert!(err.contains("help"), "{err}");
    }
}

#[test]
fn host_network_sees_the_hosts_resolv_conf() {
    let Some(store) = store() else { return };
    let host = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--network",
            "host",
            "busybox",
            "cat",
            "/etc/resolv.conf",
        ],
    );
    assert_eq!(out, host);
    // A private network never gets a loopback resolver.
    let out = must(
        store,
        &["run", "--rm", "busybox", "cat", "/etc/resolv.conf"],
    );
    for line in out.lines() {
        let server = line.strip_prefix("nameserver ").unwrap_or("");
        assert!(
            !server.starts_with("127.") && server != "::1",
            "a loopback resolver in a private network: {out}"
        );
    }
}

/// An image whose `/etc/hosts`, `/etc/resolv.conf` and `/etc/hostname` are symlinks to a host
/// file (absolute, and climbing out with `..`): the host file is neither read nor written.
#[test]
fn image_symlinks_at_the_generated_paths_never_reach_the_host() {
    let Some(store) = store() else { return };
    let canary_dir = tempfile::tempdir().unwrap();
    let canary = canary_dir.path().join("canary");
    std::fs::write(&canary, "host secret\n").unwrap();
    let climb = format!("../../../../../..{}", canary.display());
    must(store, &["run", "--name", "evil-etc", "busybox", "true"]);
    let upper = upper_of(store, "evil-etc");
    std::fs::create_dir_all(upper.join("etc")).unwrap();
    std::os::unix::fs::symlink(&canary, upper.join("etc/hosts")).unwrap();
    std::os::unix::fs::symlink(&climb, upper.join("etc/resolv.conf")).unwrap();
    std::os::unix::fs::symlink("../../../etc/shadow", upper.join("etc/hostname")).unwrap();
    must(store, &["commit", "evil-etc", "evil:etc"]);
    for extra in [&["--rm"][..], &[][..]] {
        let mut args = vec!["run"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[
            "evil:etc",
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf /etc/hostname; \
             echo pwned > /etc/hosts; echo pwned > /etc/resolv.conf; echo pwned > /etc/hostname; \
             if test -L /etc/hosts; then echo link; fi",
        ]);
        let out = must(store, &args);
        assert!(out.contains("127.0.0.1\tlocalhost"), "{out}");
        assert!(!out.contains("host secret"), "{out}");
        assert!(!out.contains("link"), "{out}");
        assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n");
    }
    // The kept container's own upper directory holds none of the generated files: `start`
    // and `commit` see only what the container itself wrote.
    let (code, _, err) = run(store, &["start", "-a", "evil-etc"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n");
    assert!(
        std::fs::symlink_metadata(upper.join("etc/hosts"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

/// An image without `/etc` gets one, and the container's changes stay free of the
/// generated files.
#[test]
fn an_image_without_etc_gets_the_files_and_commit_leaves_them_out() {
    let Some(store) = store() else { return };
    // An image that deletes /etc: a whiteout over it in the container's changes.
    must(store, &["run", "--name", "no-etc", "busybox", "true"]);
    let upper = upper_of(store, "no-etc");
    ok(std::process::Command::new("mknod")
        .arg(upper.join("etc"))
        .args(["c", "0", "0"]));
    must(store, &["commit", "no-etc", "noetc:1"]);
    let out = must(
        store,
        &[
            "run",
            "--name",
            "no-etc2",
            "noetc:1",
            "sh",
            "-c",
            "cat /etc/hostname; ls /etc",
        ],
    );
    assert!(out.contains("hostname\nhosts\nresolv.conf\n"), "{out}");
    let upper = upper_of(store, "no-etc2");
    assert!(
        !upper.join("etc").exists(),
        "the generated files leaked into upper"
    );
}

#[test]
fn exec_sees_the_same_files() {
    let Some(store) = store() else { return };
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "dns-exec",
            "--add-host",
            "db:10.1.2.3",
            "busybox",
            "sleep",
            "60",
        ],
    );
    let out = must(store, &["exec", "dns-exec", "cat", "/etc/hosts"]);
    assert!(out.contains("10.1.2.3\tdb\n"), "{out}");
    let _ = run(store, &["rm", "-f", "dns-exec"]);
}

const DOCKERFILE: &str =
    "FROM busybox\nRUN cat /etc/hosts /etc/resolv.conf /etc/hostname > /seen && echo hi > /made\n";

/// A Dockerfile `RUN` sees the generated files, and the layer it makes holds none of them.
#[test]
fn a_dockerfile_run_sees_the_files_and_they_stay_out_of_the_layer() {
    let Some(store) = store() else { return };
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), DOCKERFILE).unwrap();
    ok(duckc(store).current_dir(ctx.path()).args([
        "build",
        "--progress",
        "plain",
        "-t",
        "dnsbuild:1",
        ".",
    ]));
    let seen = must(store, &["run", "--rm", "dnsbuild:1", "cat", "/seen"]);
    assert!(seen.contains("127.0.0.1\tlocalhost\n"), "{seen}");
    assert!(seen.contains("duckc-build"), "{seen}");
    // The layer: export the image and list the last layer's entries.
    let out_dir = tempfile::tempdir().unwrap();
    let tar = out_dir.path().join("img.tar");
    must(store, &["save", "-o", tar.to_str().unwrap(), "dnsbuild:1"]);
    let unpack = out_dir.path().join("x");
    std::fs::create_dir_all(&unpack).unwrap();
    ok(std::process::Command::new("tar")
        .arg("-xf")
        .arg(&tar)
        .arg("-C")
        .arg(&unpack));
    let mut entries = String::new();
    for blob in walk(&unpack) {
        let list = output(std::process::Command::new("tar").arg("-tf").arg(&blob));
        if list.status.success() {
            let text = String::from_utf8_lossy(&list.stdout).into_owned();
            if text.lines().any(|l| l.trim_start_matches("./") == "made") {
                entries = text;
            }
        }
    }
    assert!(!entries.is_empty(), "no layer with /made");
    for name in ["etc/hosts", "etc/resolv.conf", "etc/hostname", "etc/"] {
        assert!(
            !entries.lines().any(|l| l.trim_start_matches("./") == name),
            "{name} in the step's layer:\n{entries}"
        );
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// Without root (a user namespace mapping only the caller) the files are generated too.
#[test]
fn rootless_containers_get_the_files() {
    let Some(_) = store() else { return };
    if !common::require_tool("setpriv") {
        return;
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("network-rootless");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let layout = common::store::busybox_layout(&base);
    ok(std::process::Command::new("chown")
        .args(["-R", "65534:65534"])
        .arg(&base));
    let store = base.join("store");
    let as_nobody = |args: &[&str]| {
        output(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(common::duckc_bin())
                .args(args)
                .env("DUCKC_STORE", &store)
                .env("HOME", &base)
                .stdin(Stdio::null()),
        )
    };
    let out = as_nobody(&["load", "-i", &layout.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let out = as_nobody(&[
        "run",
        "--rm",
        "--hostname",
        "nobodybox",
        "--add-host",
        "db:10.9.8.7",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts /etc/hostname",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(text.contains("127.0.0.1\tlocalhost\n"), "{text}");
    assert!(text.contains("10.9.8.7\tdb\n"), "{text}");
    // slirp4netns's address when it can run here, else loopback only (see tests/bridge.rs).
    assert!(
        text.ends_with("127.0.1.1\tnobodybox\nnobodybox\n")
            || text.contains("10.0.2.100\tnobodybox\n"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&base);
}
