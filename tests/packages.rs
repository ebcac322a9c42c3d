//! End-to-end tests of `duckc lock` and of `duckc build` with `packages` steps, against the
//! signed test repository served on 127.0.0.1.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use common::{apt, ok, output};

fn lock(dir: &Path, store: &Path, args: &[&str]) -> Output {
    let mut cmd = common::duckc(store);
    cmd.current_dir(dir)
        .arg("lock")
        .args(args)
        .env("NO_COLOR", "1")
        .env("DUCKC_APT_REPOSITORY", apt::repo().line());
    output(&mut cmd)
}

const SPEC: &str = r#"env "base" {
    from "scratch"
    packages "duck-tool"
}

env "app" {
    from "base"
    packages "gawk" "duck-tool"
}
"#;

#[test]
fn lock_pins_every_env_and_children_only_add_packages() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("env.kdl"), SPEC).unwrap();
    let out = lock(dir.path(), store.path(), &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(dir.path().join("duck.lock")).unwrap();
    let pinned = duckc_lock_envs(&text);
    let host = format!(
        "linux/{}",
        if cfg!(target_arch = "aarch64") {
            "arm64"
        } else {
            "amd64"
        }
    );
    let names = |env: &str| -> Vec<String> {
        pinned
            .iter()
            .filter(|(e, p, _)| e == env && *p == host)
            .map(|(_, _, n)| n.clone())
            .collect()
    };
    // `duck-tool` needs libduck1, an awk (mawk, as apt picks) and an MTA.
    let base = names("base");
    assert!(base.contains(&"duck-tool".to_owned()), "{text}");
    assert!(base.contains(&"libduck1".to_owned()), "{text}");
    assert!(base.contains(&"mawk".to_owned()), "{text}");
    // `app` adds gawk; what `base` installs is not pinned again.
    assert_eq!(names("app"), ["gawk"], "{text}");
    assert!(text.contains("sha256=\""), "{text}");

    // A second run changes nothing.
    let out = lock(dir.path(), store.path(), &[]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("up to date"));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("duck.lock")).unwrap(),
        text
    );
    // `--update PKG… FILE`: the spec is not taken for a package name.
    let spec = dir.path().join("env.kdl");
    let out = lock(
        store.path(),
        store.path(),
        &["--update", "gawk", spec.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && err.contains("up to date"), "{err}");
}

#[test]
fn an_unknown_package_is_a_diagnostic_on_the_packages_node() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("env.kdl"),
        "env \"base\" {\n    from \"scratch\"\n    packages \"no-such-duck\"\n}\n",
    )
    .unwrap();
    let out = lock(dir.path(), store.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown package `no-such-duck`"), "{err}");
    assert!(err.contains("cannot be resolved"), "{err}");
    assert!(err.contains("env.kdl:3:"), "{err}");
    assert!(!dir.path().join("duck.lock").exists());
}

/// What `duckc lock` (or `build --locked`) prints for the errors a user meets, with the test
/// repository's port and keyring paths replaced: each a diagnostic with a code and a `help:`.
#[test]
fn lock_errors_are_diagnostics_with_a_code_and_a_help() {
    let repo = apt::repo();
    let run = |spec: &str, line: &str, args: &[&str]| -> String {
        let dir = tempfile::tempdir().unwrap();
        let store = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("env.kdl"), spec).unwrap();
        let mut cmd = common::duckc(store.path());
        cmd.current_dir(dir.path())
            .args(args)
            .env("DUCKC_APT_REPOSITORY", line);
        let out = output(&mut cmd);
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr)
            .replace(&repo.url, "http://127.0.0.1:PORT")
            .replace(&repo.other_keyring.display().to_string(), "OTHER.gpg")
            .replace(&repo.keyring.display().to_string(), "KEYRING.gpg")
    };
    let spec =
        |names: &str| format!("env \"base\" {{\n    from \"scratch\"\n    packages {names}\n}}\n");
    let lock = ["lock"];
    // A typo: the span is the name, the help the index's nearest name.
    insta::assert_snapshot!(
        "lock_unknown_package",
        run(&spec(r#""duck-tool" "gawkk""#), &repo.line(), &lock)
    );
    // `old-duck` breaks the libduck1 `duck-tool` needs.
    insta::assert_snapshot!(
        "lock_unsatisfiable",
        run(&spec(r#""duck-tool" "old-duck""#), &repo.line(), &lock)
    );
    // Signed by a key the named keyring lacks.
    let other = format!(
        "[signed-by={}] {} {} {}",
        repo.other_keyring.display(),
        repo.url,
        apt::SUITE,
        apt::COMPONENT
    );
    insta::assert_snapshot!(
        "lock_release_signature",
        run(&spec(r#""gawk""#), &other, &lock)
    );
    // A suite the repository does not have.
    let suite = format!(
        "[signed-by={}] {} nosuch {}",
        repo.keyring.display(),
        repo.url,
        apt::COMPONENT
    );
    insta::assert_snapshot!("lock_no_such_suite", run(&spec(r#""gawk""#), &suite, &lock));
    // No repository line that parses.
    insta::assert_snapshot!(
        "lock_bad_repository",
        run(&spec(r#""gawk""#), "stable main", &lock)
    );
    // `--locked` with no lock: nothing is resolved, the step is named.
    insta::assert_snapshot!(
        "build_locked_without_a_lock",
        run(&spec(r#""gawk""#), &repo.line(), &["build", "--locked"])
    );
}

/// (env, platform, package) of every `package` line.
fn duckc_lock_envs(text: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let (mut env, mut platform) = (String::new(), String::new());
    let quoted = |l: &str| l.split('"').nth(1).unwrap_or_default().to_owned();
    for line in text.lines() {
        let l = line.trim();
        if l.starts_with("env ") {
            env = quoted(l);
        } else if l.starts_with("platform ") {
            platform = quoted(l);
        } else if l.starts_with("package ") {
            out.push((env.clone(), platform.clone(), quoted(l)));
        }
    }
    out
}

/// Two envs over one busybox base with different package sets that share `libduck1`.
const BUILD_SPEC: &str = r#"env "base" {
    from "std/scratch:base"
    copy "busybox" "/bin/busybox" chmod="0755"
    run "/bin/busybox" "--install" "-s" "/bin"
    cmd "/bin/sh"
}

env "tool" {
    from "base"
    packages "duck-tool"
    tag "pkgtest/tool:latest"
}

env "other" {
    from "base"
    packages "libduck1" "gawk" "duck-users"
    tag "pkgtest/other:latest"
}
"#;

/// The spec built once (store, context with its `duck.lock`) shared by the build tests.
struct Built {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
    store: PathBuf,
    /// What the first build printed.
    stdout: String,
}

fn build(dir: &Path, store: &Path, repo: &str, args: &[&str]) -> Output {
    let mut cmd = common::duckc(store);
    cmd.current_dir(dir)
        .args(["build", "--progress", "plain"])
        .args(args)
        .env("DUCKC_APT_REPOSITORY", repo);
    output(&mut cmd)
}

fn succeeded(out: &Output) -> String {
    assert!(
        out.status.success(),
        "build failed with {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Builds [`BUILD_SPEC`] once per test binary (root only).
fn built() -> &'static Built {
    static BUILT: OnceLock<Built> = OnceLock::new();
    BUILT.get_or_init(|| {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("ctx");
        let store = tmp.path().join("store");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
        std::fs::write(dir.join("env.kdl"), BUILD_SPEC).unwrap();
        let stdout = succeeded(&build(&dir, &store, &apt::repo().line(), &[]));
        Built {
            _tmp: tmp,
            dir,
            store,
            stdout,
        }
    })
}

/// `duckc inspect` of one image: its manifest digest and layer digests.
fn inspect(store: &Path, image: &str) -> (String, Vec<String>) {
    let text = ok(common::duckc(store).args(["inspect", image]));
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let digest = v[0]["ManifestDigest"].as_str().unwrap().to_owned();
    let layers = v[0]["Layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_owned())
        .collect();
    (digest, layers)
}

#[test]
fn build_installs_packages_configures_them_and_extends_the_lock() {
    if !common::require_root() {
        return;
    }
    let b = built();
    // The step ran (its header, then the package log), whatever the other env's step, which
    // runs beside it, printed in between.
    assert!(
        b.stdout.contains(": packages \"duck-tool\"\n")
            && b.stdout.contains("Successfully tagged pkgtest/tool:latest"),
        "{}",
        b.stdout
    );
    // `duckc build` wrote the lock: both envs, every package pinned.
    let lock = std::fs::read_to_string(b.dir.join("duck.lock")).unwrap();
    let pinned: Vec<(String, String)> = duckc_lock_envs(&lock)
        .into_iter()
        .map(|(e, _, n)| (e, n))
        .collect();
    for (env, name) in [
        ("tool", "duck-tool"),
        ("tool", "libduck1"),
        ("tool", "mawk"),
        ("tool", "duck-mta"),
        ("other", "libduck1"),
        ("other", "gawk"),
        ("other", "duck-users"),
    ] {
        assert!(
            pinned.contains(&(env.to_owned(), name.to_owned())),
            "{name} of {env}: {lock}"
        );
    }

    // Inside: dpkg's database lists each package as installed, and the maintainer scripts ran.
    let status = ok(common::duckc(&b.store).args([
        "run",
        "--rm",
        "pkgtest/tool",
        "cat",
        "/var/lib/dpkg/status",
    ]));
    for name in ["duck-tool", "libduck1", "mawk", "duck-mta"] {
        let paragraph = status
            .split("\n\n")
            .find(|p| p.starts_with(&format!("Package: {name}\n")))
            .unwrap_or_else(|| panic!("no `{name}` in the dpkg status:\n{status}"));
        assert!(
            paragraph.contains("\nStatus: install ok installed\n"),
            "{paragraph}"
        );
    }
    let state = ok(common::duckc(&b.store).args([
        "run",
        "--rm",
        "pkgtest/tool",
        "cat",
        "/var/lib/duck-mta.state",
        "/var/lib/libduck1.state",
    ]));
    assert_eq!(state, "configured\nlibduck1 configured\n");
    // A preinst runs (before the postinst) although duckc unpacks without dpkg.
    let users = ok(common::duckc(&b.store).args([
        "run",
        "--rm",
        "pkgtest/other",
        "cat",
        "/var/lib/duck-users.state",
    ]));
    assert_eq!(users, "preinst install\npostinst configure\n");
    let quack = ok(common::duckc(&b.store).args(["run", "--rm", "pkgtest/tool", "duck-tool"]));
    assert_eq!(quack, "quack\n");
    // Package files keep the `.deb`'s times (the test packages are built at
    // SOURCE_DATE_EPOCH), as dpkg leaves them: caches keyed by mtime see what changed.
    let mtime = ok(common::duckc(&b.store).args([
        "run",
        "--rm",
        "pkgtest/tool",
        "stat",
        "-c",
        "%Y",
        "/usr/bin/duck-tool",
        "/usr/share/doc/libduck1/README",
    ]));
    assert_eq!(
        mtime,
        format!("{0}\n{0}\n", apt::SOURCE_DATE_EPOCH),
        "package files keep the .deb's mtimes"
    );

    // Built again: the package steps come from the cache and the lock is unchanged.
    let again = succeeded(&build(&b.dir, &b.store, &apt::repo().line(), &[]));
    assert!(
        again.contains(": packages \"duck-tool\"\n ---> Using cache\n"),
        "{again}"
    );
    assert_eq!(
        std::fs::read_to_string(b.dir.join("duck.lock")).unwrap(),
        lock
    );
}

#[test]
fn envs_sharing_a_package_share_its_layer() {
    if !common::require_root() {
        return;
    }
    let b = built();
    let (_, tool) = inspect(&b.store, "pkgtest/tool");
    let (_, other) = inspect(&b.store, "pkgtest/other");
    // The base's two layers, then one layer per package, the dpkg database and the configure
    // layer; only `libduck1`'s package layer is the same in both.
    let base_layers = 2;
    let shared: Vec<&String> = tool[base_layers..]
        .iter()
        .filter(|l| other[base_layers..].contains(l))
        .collect();
    assert_eq!(shared.len(), 1, "tool {tool:?}\nother {other:?}");
    assert_eq!(tool[..base_layers], other[..base_layers]);
    assert!(tool.len() > base_layers + 2 && other.len() > base_layers + 2);
    // The store holds each layer once.
    let mut all: Vec<&String> = tool.iter().chain(&other).collect();
    all.sort();
    all.dedup();
    // Each distinct layer is kept once, whatever number of envs share it: as its snapshot
    // (no blob beside it), or as a blob where nothing unpacked it yet; never both.
    let df = ok(common::duckc(&b.store).args(["system", "df"]));
    let count = |row: &str| {
        df.lines()
            .find(|l| l.starts_with(row))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse::<usize>().ok())
            .unwrap_or_else(|| panic!("{df}"))
    };
    assert_eq!(count("Layers") + count("Snapshots"), all.len(), "{df}");
}

#[test]
fn locked_builds_give_the_same_digest_and_refuse_what_the_lock_lacks() {
    if !common::require_root() {
        return;
    }
    let b = built();
    let (tool, _) = inspect(&b.store, "pkgtest/tool");
    let (other, _) = inspect(&b.store, "pkgtest/other");
    // A fresh store and a copy of the context: `--locked` builds the same images.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ctx");
    let store = tmp.path().join("store");
    apt::copy_tree(&b.dir, &dir);
    succeeded(&build(&dir, &store, &apt::repo().line(), &["--locked"]));
    assert_eq!(inspect(&store, "pkgtest/tool").0, tool);
    assert_eq!(inspect(&store, "pkgtest/other").0, other);

    // Nothing to rebuild; a moved pin rebuilds that step, and `explain` says why.
    let explain = |env: &str| {
        let mut cmd = common::duckc(&store);
        cmd.current_dir(&dir).args(["explain", "env.kdl", env]);
        ok(&mut cmd)
    };
    let text = explain("other");
    assert!(text.contains("env `other`: 0 of "), "{text}");
    let lock = std::fs::read_to_string(dir.join("duck.lock")).unwrap();
    let gawk = lock
        .lines()
        .find(|l| l.trim_start().starts_with("package \"gawk\""))
        .unwrap();
    let sha = gawk.split("sha256=\"").nth(1).unwrap()[..64].to_owned();
    let moved = lock.replace(&sha, &"0".repeat(64));
    std::fs::write(dir.join("duck.lock"), moved).unwrap();
    let text = explain("other");
    assert!(
        text.contains(
            "packages \"libduck1\" \"gawk\" \"duck-users\"  [REBUILD]\n    package pins changed"
        ),
        "{text}"
    );
    std::fs::write(dir.join("duck.lock"), &lock).unwrap();

    // A package the lock does not pin: `--locked` names it and builds nothing.
    let spec = BUILD_SPEC.replace(
        r#""gawk" "duck-users""#,
        r#""gawk" "duck-users" "old-duck""#,
    );
    std::fs::write(dir.join("env.kdl"), spec).unwrap();
    let fresh = tmp.path().join("fresh-store");
    let out = build(&dir, &fresh, &apt::repo().line(), &["--locked"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("`old-duck`"), "{err}");
    assert!(err.contains("not in the lock"), "{err}");
    assert!(err.contains("duckc lock"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("duck.lock")).unwrap(),
        lock
    );
    assert_eq!(ok(common::duckc(&fresh).args(["images", "-q"])), "");
}

#[test]
fn a_tampered_deb_fails_the_build_and_stores_nothing() {
    if !common::require_root() {
        return;
    }
    // A copy of the repository whose `gawk` .deb differs from what `Packages` pins.
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("repo");
    apt::copy_tree(&apt::repo().root, &root);
    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let deb = root.join(format!("pool/main/g/gawk/gawk_5.2.1-2_{arch}.deb"));
    let mut bytes = std::fs::read(&deb).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&deb, bytes).unwrap();
    let url = apt::serve(&root, apt::Serve::Normal);
    let line = format!(
        "[signed-by={}] {url} {} {}",
        apt::repo().keyring.display(),
        apt::SUITE,
        apt::COMPONENT
    );

    let dir = tmp.path().join("ctx");
    let store = tmp.path().join("store");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("env.kdl"),
        "env \"awk\" {\n    from \"scratch\"\n    packages \"gawk\"\n}\n",
    )
    .unwrap();
    let out = build(&dir, &store, &line, &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("gawk"), "{err}");
    assert!(err.contains("does not match the repository index"), "{err}");
    assert!(err.contains("nothing was stored"), "{err}");
    // The packages crate's help comes through the executor.
    assert!(err.contains("help: the server, or a proxy"), "{err}");
    assert!(err.contains("`duckc lock --update`"), "{err}");
    // Nothing of it is stored: no layer, no image, no downloaded .deb under its name.
    let df = ok(common::duckc(&store).args(["system", "df"]));
    for kind in ["Images", "Layers"] {
        let line = df.lines().find(|l| l.starts_with(kind)).unwrap();
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{df}");
    }
    let pinned = apt::sha256(
        &apt::repo()
            .root
            .join(format!("pool/main/g/gawk/gawk_5.2.1-2_{arch}.deb")),
    );
    assert!(!store.join("downloads/sha256").join(&pinned).exists());
    ok(common::duckc(&store).arg("verify"));
}

/// Foreign platforms: an env for `linux/arm64` that copies from an env with no platform (built
/// for arm64 too) and from one that names amd64 (built for amd64, as Docker builds a
/// `FROM --platform=$BUILDPLATFORM` stage), and an env for two platforms at once.
const PLATFORM_SPEC: &str = r#"env "tools" {
    from "scratch"
    packages "gawk"
}

env "native" {
    from "scratch"
    platform "linux/amd64"
    packages "mawk"
}

env "arm" {
    from "scratch"
    platform "linux/arm64"
    packages "duck-tool"
    copy "/usr/bin/gawk" "/opt/gawk" from="tools"
    copy "/usr/bin/mawk" "/opt/mawk" from="native"
    tag "pkgtest/arm:latest"
}

env "both" {
    from "scratch"
    platform "linux/amd64" "linux/arm64"
    packages "gawk"
    tag "pkgtest/both:latest"
}
"#;

#[test]
fn foreign_platforms_build_without_emulation_and_two_platforms_give_an_index() {
    if !common::require_root() || !common::require_tool("umoci") || !common::require_tool("skopeo")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store, layout) = (
        tmp.path().join("ctx"),
        tmp.path().join("store"),
        tmp.path().join("layout"),
    );
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("env.kdl"), PLATFORM_SPEC).unwrap();
    let layout_arg = format!("oci:{}", layout.display());
    let out = build(&dir, &store, &apt::repo().line(), &["-o", &layout_arg]);
    let emulated = !matches!(
        duckc_runtime::emulation::support("linux/arm64"),
        duckc_runtime::emulation::Support::Missing(_)
    );
    if emulated {
        // With qemu-user registered the maintainer scripts run, and a scratch image has no
        // shell for them: the build says so.
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no `/bin/sh`"), "{err}");
        return;
    }
    let stdout = succeeded(&out);
    // No emulation: the arm64 packages with maintainer scripts (libduck1, duck-mta) stay
    // unpacked, not configured, and the build says so.
    assert!(
        stdout.contains("Step 3/6 [linux/arm64] : packages \"duck-tool\"\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("warning: 2 packages are unpacked but not configured"),
        "{stdout}"
    );
    // The lock pins arm64 packages for `arm`, and both platforms for `both`.
    let lock = std::fs::read_to_string(dir.join("duck.lock")).unwrap();
    let pinned = duckc_lock_envs(&lock);
    assert!(pinned.contains(&("arm".into(), "linux/arm64".into(), "libduck1".into())));
    for platform in ["linux/amd64", "linux/arm64"] {
        assert!(
            pinned.contains(&("both".into(), platform.into(), "gawk".into())),
            "{lock}"
        );
    }
    assert!(lock.contains("_arm64.deb"), "{lock}");
    // `tools` is built for arm64 as well (for `arm`), `native` only for amd64.
    assert!(pinned.contains(&("tools".into(), "linux/arm64".into(), "gawk".into())));
    assert!(
        !pinned
            .iter()
            .any(|(e, p, _)| e == "native" && p == "linux/arm64"),
        "{lock}"
    );

    // The arm64 image: its config says arm64, dpkg's database says unpacked (`iU`), and
    // running it here is refused with a way out.
    let inspect: serde_json::Value =
        serde_json::from_str(&ok(common::duckc(&store).args(["inspect", "pkgtest/arm"]))).unwrap();
    assert_eq!(inspect[0]["Architecture"], "arm64", "{inspect}");
    let bundle = tmp.path().join("bundle");
    ok(std::process::Command::new("umoci")
        .args(["unpack", "--image"])
        .arg(format!("{}:pkgtest/arm:latest", layout.display()))
        .arg(&bundle));
    let status = std::fs::read_to_string(bundle.join("rootfs/var/lib/dpkg/status")).unwrap();
    let libduck = status
        .split("\n\n")
        .find(|p| p.starts_with("Package: libduck1\n"))
        .unwrap_or_else(|| panic!("{status}"));
    assert!(
        libduck.contains("\nStatus: install ok unpacked\n"),
        "{libduck}"
    );
    assert!(libduck.contains("\nArchitecture: arm64\n"), "{libduck}");
    for file in ["usr/bin/duck-tool", "opt/gawk", "opt/mawk"] {
        assert!(bundle.join("rootfs").join(file).is_file(), "{file}");
    }
    let run = output(common::duckc(&store).args(["run", "--rm", "pkgtest/arm", "duck-tool"]));
    assert!(!run.status.success());
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(
        err.contains("is a `linux/arm64` image") && err.contains("qemu-user-static"),
        "{err}"
    );

    // Two platforms: an OCI index with one manifest each, which skopeo reads.
    let raw = ok(std::process::Command::new("skopeo")
        .args(["inspect", "--raw"])
        .arg(format!("oci:{}:pkgtest/both:latest", layout.display())));
    let index: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap_or_else(|| panic!("{raw}"))
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "{raw}");
    // The two manifests differ only in what is per architecture: the gawk package layer.
    let arm = ok(std::process::Command::new("skopeo")
        .args(["inspect", "--override-arch", "arm64"])
        .arg(format!("oci:{}:pkgtest/both:latest", layout.display())));
    let arm: serde_json::Value = serde_json::from_str(&arm).unwrap();
    assert_eq!(arm["Architecture"], "arm64", "{arm}");

    // `run --platform` picks a platform of the index: arm64 cannot run here, riscv64 is not in
    // it.
    for (platform, says) in [
        ("linux/arm64", "is a `linux/arm64` image"),
        ("linux/riscv64", "has no `linux/riscv64` image"),
    ] {
        let run = output(common::duckc(&store).args([
            "run",
            "--rm",
            "--platform",
            platform,
            "pkgtest/both",
            "gawk",
        ]));
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(!run.status.success() && err.contains(says), "{err}");
    }

    // Built again: every platform's steps come from the cache.
    let again = succeeded(&build(&dir, &store, &apt::repo().line(), &[]));
    assert_eq!(again.matches(" ---> Using cache").count(), 7, "{again}");

    // `--platform` builds an env for another platform than the one it names; the lock keeps
    // the spec's own platforms too.
    let arm_tools = succeeded(&build(
        &dir,
        &store,
        &apt::repo().line(),
        &[
            "--target",
            "tools",
            "--platform",
            "linux/arm64",
            "-t",
            "pkgtest/tools:arm",
        ],
    ));
    assert!(
        arm_tools.contains("Step 2/2 [linux/arm64] : packages \"gawk\"\n ---> Using cache"),
        "{arm_tools}"
    );
    let inspect: serde_json::Value = serde_json::from_str(&ok(
        common::duckc(&store).args(["inspect", "pkgtest/tools:arm"])
    ))
    .unwrap();
    assert_eq!(inspect[0]["Architecture"], "arm64", "{inspect}");
    assert_eq!(
        std::fs::read_to_string(dir.join("duck.lock")).unwrap(),
        lock
    );
    let bad =
        output(
            common::duckc(&store)
                .current_dir(&dir)
                .args(["build", "--platform", "linux/vax"]),
        );
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("unknown platform `linux/vax`"), "{err}");
}

/// dpkg registers a package's trigger interests when it unpacks it, and a later package that
/// ships files where an installed package has a file trigger activates it; duckc, which
/// unpacks without dpkg, writes the same files into the dpkg-database layer.
const TRIGGERS_SPEC: &str = r#"env "base" {
    from "std/scratch:base"
    copy "busybox" "/bin/busybox" chmod="0755"
    run "/bin/busybox" "--install" "-s" "/bin"
}

env "catalog" {
    from "base"
    packages "duck-catalog"
}

env "extra" {
    from "catalog"
    packages "duck-catalog-extra"
    tag "pkgtest/triggers:latest"
}
"#;

#[test]
fn trigger_interests_are_registered_and_file_triggers_of_the_parent_activated() {
    if !common::require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let (dir, store) = (tmp.path().join("ctx"), tmp.path().join("store"));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
    std::fs::write(dir.join("env.kdl"), TRIGGERS_SPEC).unwrap();
    succeeded(&build(&dir, &store, &apt::repo().line(), &[]));
    let cat = |file: &str| {
        ok(common::duckc(&store).args([
            "run",
            "--rm",
            "pkgtest/triggers",
            "cat",
            &format!("/var/lib/dpkg/triggers/{file}"),
        ]))
    };
    // `duck-catalog`'s interests, from its `triggers` control file.
    assert_eq!(
        cat("File"),
        "/usr/share/duck-catalog duck-catalog/noawait\n"
    );
    assert_eq!(cat("duck-catalog-update"), "duck-catalog\n");
    // `duck-catalog-extra` ships a file in the watched directory: the trigger is activated for
    // the next `dpkg --configure -a` (the busybox base has no dpkg to process it).
    assert_eq!(cat("Unincorp"), "/usr/share/duck-catalog -\n");
}

/// A cached `.deb` is not hashed before use but as it is unpacked: one corrupted in the
/// download cache (same size, one byte changed) is noticed there, fetched again, and the build
/// gives the same image as from an intact cache.
#[test]
fn a_corrupted_cached_deb_is_noticed_while_unpacking_and_fetched_again() {
    if !common::require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ctx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("env.kdl"),
        "env \"awk\" {\n    from \"scratch\"\n    packages \"gawk\"\n    tag \"pkgtest/awk:latest\"\n}\n",
    )
    .unwrap();
    let first = tmp.path().join("first");
    succeeded(&build(&dir, &first, &apt::repo().line(), &[]));
    let (digest, _) = inspect(&first, "pkgtest/awk:latest");

    let arch = if cfg!(target_arch = "aarch64") {
        "arm64"
    } else {
        "amd64"
    };
    let pinned = apt::sha256(
        &apt::repo()
            .root
            .join(format!("pool/main/g/gawk/gawk_5.2.1-2_{arch}.deb")),
    );
    // Another store with only the download cache, its gawk .deb corrupted in the control
    // part (read first, for the pins: its `control.tar` starts at byte 132, after the ar
    // magic, two member headers and `debian-binary`) or at the end (the data part, read
    // while unpacking).
    for (n, at) in [("control", 142), ("data", usize::MAX)] {
        let second = tmp.path().join(n);
        std::fs::create_dir_all(&second).unwrap();
        apt::copy_tree(&first.join("downloads"), &second.join("downloads"));
        let cached = second.join("downloads/sha256").join(&pinned);
        let mut bytes = std::fs::read(&cached).unwrap();
        let at = at.min(bytes.len() - 1);
        bytes[at] ^= 0xff;
        std::fs::write(&cached, bytes).unwrap();

        succeeded(&build(&dir, &second, &apt::repo().line(), &[]));
        assert_eq!(inspect(&second, "pkgtest/awk:latest").0, digest, "{n}");
        assert_eq!(apt::sha256(&cached), pinned, "{n}");
        ok(common::duckc(&second).arg("verify"));
    }
}
