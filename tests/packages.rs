//! End-to-end tests of `duckc lock` against the signed test repository served on 127.0.0.1.

mod common;

use std::path::Path;
use std::process::Output;

use common::{apt, output};

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
