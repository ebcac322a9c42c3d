//! Build steps and the network (issue 18, classes 6 and 7): a Dockerfile `RUN` is on duckc's
//! NAT bridge by default, as BuildKit's steps are on its network; `RUN --network=none` and
//! `build --network none` take it away; `--network host` needs the entitlement; the step's
//! layer holds nothing of the generated `/etc` files; the image history says which steps had
//! the network. `std/debian` images carry the apt sources of the repository they were built
//! from, so the tutorial's `apt-get update && apt-get install -y X` works in a `RUN`.
//!
//! The servers the containers reach listen on the default bridge's gateway address, never on
//! another host.

mod common;

use std::path::{Path, PathBuf};

use common::{apt, duckc, must, oci_image, ok, output, require_root};

/// A store with the busybox fixture as `busybox:latest` and `busybox:1.36`, and the default
/// bridge up (a container has run on it), so a server can listen on its gateway.
fn store(dir: &Path) -> PathBuf {
    let store = dir.join("store");
    common::store::load_busybox(&store);
    ok(duckc(&store).args(["tag", "busybox:latest", "busybox:1.36"]));
    must(&store, &["run", "--rm", "busybox", "true"]);
    store
}

/// The default bridge's gateway address (`10.199.0.1` unless `DUCKC_BRIDGE_SUBNET` moves it).
fn gateway() -> String {
    let out =
        ok(std::process::Command::new("ip").args(["-4", "-o", "addr", "show", "dev", "duckc0"]));
    out.split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .and_then(|a| a.split('/').next())
        .unwrap_or_else(|| panic!("duckc0 has no IPv4 address: {out}"))
        .to_owned()
}

/// `duckc build ARGS` in `ctx`: the output, whatever the exit status.
fn build(store: &Path, ctx: &Path, args: &[&str]) -> std::process::Output {
    output(
        duckc(store)
            .current_dir(ctx)
            .args(["build", "--progress", "plain"])
            .args(args),
    )
}

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn listing(layer: &Path) -> String {
    ok(std::process::Command::new("tar").arg("-tf").arg(layer))
}

/// Class 6: a `RUN` reaches a server on the bridge's gateway with no flag, with the
/// `/etc/resolv.conf` a container gets; `RUN --network=none` does not; `build --network none`
/// takes the network from the default steps; `build --network host` needs the entitlement;
/// the layer holds only what the command made; the history marks the step.
#[test]
fn a_dockerfile_run_has_the_bridge_unless_it_says_none() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let site = tmp.path().join("site");
    std::fs::create_dir_all(&site).unwrap();
    std::fs::write(site.join("hello"), "quack over the bridge\n").unwrap();
    let url = apt::serve_on(&site, &gateway(), apt::Serve::Normal);
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox:1.36\n\
             RUN wget -q -O /fetched {url}/hello && cat /etc/resolv.conf > /resolv.seen\n\
             RUN --network=none sh -c 'wget -q -O /offline {url}/hello; echo $? > /offline.code; rm -f /offline'\n"
        ),
    )
    .unwrap();
    let layout = tmp.path().join("oci");
    let out = build(
        &store,
        &ctx,
        &[
            "-t",
            "net:1",
            "-o",
            &format!("oci:{}", layout.display()),
            ".",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let run = |args: &[&str]| must(&store, &[&["run", "--rm", "net:1"], args].concat());
    assert_eq!(run(&["cat", "/fetched"]), "quack over the bridge\n");
    assert_ne!(run(&["cat", "/offline.code"]), "0\n");
    // The step's resolver configuration is the one `run` generates on the default network.
    let resolv = must(
        &store,
        &["run", "--rm", "busybox", "cat", "/etc/resolv.conf"],
    );
    assert_eq!(run(&["cat", "/resolv.seen"]), resolv);

    let (config, layers) = oci_image(&layout);
    // The bridge step's layer: only what the command made, no /etc file it did not.
    let bridged = listing(&layers[layers.len() - 2]);
    let mut names: Vec<&str> = bridged
        .lines()
        .map(|l| l.trim_start_matches("./"))
        .collect();
    names.sort();
    assert_eq!(names, ["fetched", "resolv.seen"], "{bridged}");
    // The history says which step had the network.
    let history = config["history"].as_array().unwrap();
    let entry = |needle: &str| {
        history
            .iter()
            .find(|h| h["created_by"].as_str().unwrap_or("").contains(needle))
            .unwrap_or_else(|| panic!("no history entry for {needle}: {history:?}"))
    };
    assert_eq!(entry("/fetched")["comment"], "network=bridge");
    assert!(entry("/offline.code").get("comment").is_none());

    // `duckc check` says which steps are not reproducible.
    let checked = output(duckc(&store).current_dir(&ctx).arg("check"));
    let lints = String::from_utf8_lossy(&checked.stderr);
    assert!(lints.contains("RunWithNetwork"), "{lints}");
    assert!(lints.contains("1 `RUN` step has the network"), "{lints}");

    // `build --network none`: the default steps have no network, so the download fails.
    let off = build(&store, &ctx, &["--network", "none", "."]);
    assert!(!off.status.success(), "{}", text(&off));
    assert!(text(&off).contains("wget"), "{}", text(&off));
    // `build --network host` is the host's network: only with the entitlement.
    let host = build(&store, &ctx, &["--network", "host", "."]);
    assert!(!host.status.success(), "{}", text(&host));
    let refused = text(&host);
    assert!(
        refused.contains("uses the host's network, which this build does not allow"),
        "{refused}"
    );
    assert!(
        refused.contains("`duckc build --allow network.host`"),
        "{refused}"
    );
}

/// Class 7, cheaply: a `packages` step with `apt-sources=#true` writes the repository's deb822
/// sources and keyring; the lock records the URI; the same lock gives the same digest in a
/// fresh store, and a moved repository moves the URI and the digest.
#[test]
fn apt_sources_name_the_repository_and_its_keyring() {
    if !require_root() {
        return;
    }
    let repo = apt::repo();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("spec");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("env.kdl"),
        "env \"base\" {\n    from \"scratch\"\n    packages \"duck-base\" apt-sources=#true\n}\n",
    )
    .unwrap();
    let build_in = |store: &str, line: &str, extra: &[&str]| -> (PathBuf, String) {
        let layout = tmp.path().join(format!("oci-{store}"));
        let _ = std::fs::remove_dir_all(&layout);
        let out = output(
            duckc(&tmp.path().join(store))
                .current_dir(&dir)
                .env("DUCKC_APT_REPOSITORY", line)
                .args(["build", "--progress", "plain", "-o"])
                .arg(format!("oci:{}", layout.display()))
                .args(extra)
                .arg("env.kdl"),
        );
        assert!(out.status.success(), "{}", text(&out));
        let (config, layers) = oci_image(&layout);
        let top = layers.last().unwrap().clone();
        let digest = config["rootfs"]["diff_ids"].to_string();
        (top, digest)
    };
    let (top, first) = build_in("one", &repo.line(), &[]);
    let lock = std::fs::read_to_string(dir.join("duck.lock")).unwrap();
    assert!(lock.contains(&format!("uri=\"{}\"", repo.url)), "{lock}");
    let unpacked = tmp.path().join("top");
    std::fs::create_dir_all(&unpacked).unwrap();
    ok(std::process::Command::new("tar")
        .arg("-xf")
        .arg(&top)
        .arg("-C")
        .arg(&unpacked));
    let sources =
        std::fs::read_to_string(unpacked.join("etc/apt/sources.list.d/debian.sources")).unwrap();
    let keyring_name = repo.keyring.file_name().unwrap().to_string_lossy();
    for line in [
        "Types: deb".to_owned(),
        format!("URIs: {}", repo.url),
        format!("Suites: {}", apt::SUITE),
        format!("Components: {}", apt::COMPONENT),
        format!("Signed-By: /etc/apt/keyrings/{keyring_name}"),
    ] {
        assert!(sources.lines().any(|l| l == line), "{line} in:\n{sources}");
    }
    assert_eq!(
        std::fs::read(unpacked.join("etc/apt/keyrings").join(&*keyring_name)).unwrap(),
        std::fs::read(&repo.keyring).unwrap()
    );
    // Same lock, fresh store: same layers.
    let (_, again) = build_in("two", &repo.line(), &["--locked"]);
    assert_eq!(first, again);
    // The same repository at another address: the lock's URI follows (the pins stay) and
    // the image names the new one.
    let moved_url = apt::serve(&repo.root, apt::Serve::Normal);
    let moved_line = repo.line().replace(&repo.url, &moved_url);
    let (_, moved) = build_in("one", &moved_line, &[]);
    let lock = std::fs::read_to_string(dir.join("duck.lock")).unwrap();
    assert!(lock.contains(&format!("uri=\"{moved_url}\"")), "{lock}");
    assert_ne!(first, moved);
}

/// The tutorial, issue 18's done-when: `FROM debian:bookworm` + `RUN apt-get update &&
/// apt-get install -y X` with no `--network` flag, on a `std/debian:bookworm` built from the
/// test's own repository (the host's packages, served on the bridge's gateway) and tagged
/// `debian:bookworm`. The heavy case: a real apt in a real minbase.
#[test]
fn the_tutorial_installs_with_apt_on_std_debian() {
    if !require_root() {
        return;
    }
    for tool in ["dpkg-deb", "dpkg-query", "gpg", "xz"] {
        if !common::require_tool(tool) {
            return;
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let repo = common::debian::host_repo();
    let url = apt::serve_on(&repo.root, &gateway(), apt::Serve::Normal);
    let line = format!(
        "[signed-by={}] {url} {} {}",
        repo.keyring.display(),
        apt::SUITE,
        apt::COMPONENT
    );
    let base = tmp.path().join("base");
    std::fs::create_dir_all(&base).unwrap();
    std::fs::write(
        base.join("env.kdl"),
        "env \"debian\" {\n    from \"std/debian:bookworm\"\n}\n",
    )
    .unwrap();
    let out = build(
        &store,
        &base,
        &["--repository", &line, "-t", "debian:bookworm", "env.kdl"],
    );
    assert!(out.status.success(), "{}", text(&out));
    let sources = must(
        &store,
        &[
            "run",
            "--rm",
            "debian:bookworm",
            "cat",
            "/etc/apt/sources.list.d/debian.sources",
        ],
    );
    assert!(sources.contains(&format!("URIs: {url}\n")), "{sources}");

    let ctx = tmp.path().join("tutorial");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM debian:bookworm\nRUN apt-get update && apt-get install -y {}\n",
            common::debian::HELLO.name
        ),
    )
    .unwrap();
    let out = build(&store, &ctx, &["-t", "tutorial:1", "."]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        must(&store, &["run", "--rm", "tutorial:1", "duck-hello"]),
        "quack from apt\n"
    );
}

/// `build --dns`, `--dns-search`, `--dns-option` and `--add-host` give the steps the
/// `/etc/resolv.conf` and `/etc/hosts` lines `run` gives a container with the same flags; they
/// are in no cache key (the files are mounted, never in a layer); bad values are refused as
/// `run` refuses them.
#[test]
fn build_dns_flags_reach_the_steps() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:1.36\nRUN cat /etc/resolv.conf; grep db.example /etc/hosts; touch /made\n",
    )
    .unwrap();
    let flags = common::DNS_FLAGS;
    let out = build(&store, &ctx, &[&flags[..], &["-t", "dns:1", "."]].concat());
    let seen = text(&out);
    assert!(out.status.success(), "{seen}");
    let resolv = must(
        &store,
        &[
            &["run", "--rm"],
            &flags[..],
            &["busybox", "cat", "/etc/resolv.conf"],
        ]
        .concat(),
    );
    assert!(resolv.contains("nameserver 10.0.0.2"), "{resolv}");
    for line in resolv.lines() {
        assert!(
            seen.contains(line),
            "`{line}` missing from the step's output:\n{seen}"
        );
    }
    assert!(
        seen.lines()
            .any(|l| l.starts_with("10.0.0.5") && l.contains("db.example")),
        "{seen}"
    );
    // Without the flags the step is the same step: taken from the cache.
    let again = build(&store, &ctx, &["-t", "dns:1", "."]);
    assert!(again.status.success(), "{}", text(&again));
    assert!(
        text(&again).contains(" ---> Using cache"),
        "{}",
        text(&again)
    );
    // Refused before anything runs, as `run` refuses them.
    for bad in [
        &["--dns", "not-an-ip"][..],
        &["--add-host", "no-address"][..],
        &["--dns-search", "two words"][..],
    ] {
        let out = build(&store, &ctx, &[bad, &["."]].concat());
        let err = text(&out);
        assert!(!out.status.success(), "{err}");
        assert!(err.contains(&format!("bad {}", bad[0])), "{err}");
        assert!(err.contains("help:"), "{err}");
    }
}

/// A network error in a build step comes with the `help:` `run` gives for it: here a default
/// subnet that is not one.
#[test]
fn a_network_error_in_a_step_says_what_to_do() {
    if !require_root() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = store(tmp.path());
    let ctx = tmp.path().join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox:1.36\nRUN true\n").unwrap();
    let ran = output(
        duckc(&store)
            .env("DUCKC_BRIDGE_SUBNET", "10.1.2.0")
            .args(["run", "--rm", "busybox", "true"]),
    );
    let built = output(
        duckc(&store)
            .current_dir(&ctx)
            .env("DUCKC_BRIDGE_SUBNET", "10.1.2.0")
            .args(["build", "--progress", "plain", "--no-cache", "."]),
    );
    let (ran, built) = (text(&ran), text(&built));
    assert!(ran.contains("bad subnet `10.1.2.0`"), "{ran}");
    assert!(built.contains("bad subnet `10.1.2.0`"), "{built}");
    let help = "help: set `DUCKC_BRIDGE_SUBNET` to an IPv4 subnet, e.g. 10.200.0.0/24";
    assert!(ran.contains(help), "{ran}");
    assert!(built.contains(help), "{built}");
}
