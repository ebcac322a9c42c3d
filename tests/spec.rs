//! End-to-end tests of `duckc check` and `duckc graph` on real files.

mod common;

use std::path::Path;
use std::process::Output;

use common::{duckc_bin, output};

fn duckc(dir: &Path, args: &[&str]) -> Output {
    let mut cmd = std::process::Command::new(duckc_bin());
    cmd.current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DUCKC_STORE");
    output(&mut cmd)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Writes `files` (path, content) under `dir`.
fn write(dir: &Path, files: &[(&str, &str)]) {
    for (path, content) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

const SPEC: &str = r#"import "std/busybox"

env "base" {
    from "std/scratch:base"
    packages "ca-certificates" "python3"
}

env "app" {
    from "base"
    copy "src/" "/app/"
    run "python3 -m compileall /app"
    cmd "python3" "/app/main.py"
}

env "tools" {
    from "base"
    copy "tool.sh" "/usr/local/bin/tool" chmod="0755"
    run "tool" "--version"
}
"#;

const CONTEXT: &[(&str, &str)] = &[
    ("src/main.py", "print('quack')\n"),
    ("tool.sh", "echo quack\n"),
];

#[test]
fn clean_spec_exits_zero() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("env.kdl", SPEC)]);
    write(dir.path(), CONTEXT);
    let out = duckc(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "env.kdl: ok, 3 envs, 9 layer-graph nodes\n");
    assert_eq!(stderr(&out), "");
}

#[test]
fn duck_kdl_is_the_second_default() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[("duck.kdl", "env \"a\" { from \"scratch\" }\n")],
    );
    let out = duckc(dir.path(), &["check"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("duck.kdl: ok"), "{}", stdout(&out));
}

#[test]
fn five_mistakes_are_all_reported_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let spec = r#"import "std/busybx"

env "app" {
    from "bsae"
    copy "src/" "/app/"
    wrokdir "/app"
    run "make" netwrok="host"
}

env "base" {
    from "scratch"
}

env "base" {
    from "scratch"
}
"#;
    write(dir.path(), &[("env.kdl", spec)]);
    let out = duckc(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    for code in [
        "unknown_import",
        "unknown_from",
        "missing_copy_source",
        "unknown_node",
        "unknown_property",
        "duplicate_env",
    ] {
        assert!(
            err.contains(&format!("duckc::{code}")),
            "missing {code}:\n{err}"
        );
    }
    insta::assert_snapshot!(err);
}

#[test]
fn syntax_error_exits_one_without_follow_on_errors() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        &[(
            "env.kdl",
            "env \"app\" {\n    from \"nothing\"\n    run \"make\n}\n",
        )],
    );
    let out = duckc(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.matches("duckc::").count(), 1, "{err}");
    assert!(err.contains("env.kdl:3:9"), "{err}");
}

#[test]
fn missing_file_is_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = duckc(dir.path(), &["check", "nope.kdl"]);
    assert_eq!(out.status.code(), Some(1));
    // The message on one line, under its code, with what to do; no cause chain.
    insta::assert_snapshot!(stderr(&out), @r"
    driver::read

      × cannot read `nope.kdl`: no such file
      help: check the path and that the file is readable
    ");
    let out = duckc(dir.path(), &["graph"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("neither `env.kdl` nor `duck.kdl`"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn help_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["check", "--help"][..], &["graph", "--help"]] {
        let out = duckc(dir.path(), args);
        assert!(out.status.success());
        assert!(stdout(&out).contains("Usage: duckc"), "{}", stdout(&out));
    }
}

#[test]
fn graph_keys_do_not_depend_on_the_directory() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let nested = b.path().join("some/deeper/place");
    for dir in [a.path(), nested.as_path()] {
        std::fs::create_dir_all(dir).unwrap();
        write(dir, &[("env.kdl", SPEC)]);
        write(dir, CONTEXT);
    }
    // Different checkout modes that store the same way.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        nested.join("src/main.py"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    for format in ["text", "json", "dot"] {
        let one = duckc(a.path(), &["graph", "--format", format]);
        let two = duckc(&nested, &["graph", "--format", format]);
        assert!(one.status.success(), "{}", stderr(&one));
        assert_eq!(stdout(&one), stdout(&two), "format {format}");
    }
    // Run from elsewhere, naming the file: the same again.
    let three = duckc(b.path(), &["graph", "some/deeper/place/env.kdl"]);
    assert_eq!(stdout(&three), stdout(&duckc(a.path(), &["graph"])));
    insta::assert_snapshot!(stdout(&duckc(a.path(), &["graph"])));
}

#[test]
fn two_envs_from_one_base_share_its_nodes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("env.kdl", SPEC)]);
    write(dir.path(), CONTEXT);
    let out = stdout(&duckc(dir.path(), &["graph"]));
    assert_eq!(out.matches("base scratch").count(), 1, "{out}");
    assert_eq!(
        out.matches("packages ca-certificates python3").count(),
        1,
        "{out}"
    );
    assert!(
        out.contains("packages ca-certificates python3  [base, app, tools]"),
        "{out}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&duckc(dir.path(), &["graph", "--format", "json"]))).unwrap();
    let nodes = json["nodes"].as_array().unwrap();
    let mut keys: Vec<&str> = nodes.iter().map(|n| n["key"].as_str().unwrap()).collect();
    let total = keys.len();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), total, "every node once");
}

#[test]
fn changing_a_copied_file_changes_keys_and_others_do_not() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("env.kdl", SPEC), ("unused.txt", "a")]);
    write(dir.path(), CONTEXT);
    let before = stdout(&duckc(dir.path(), &["graph"]));
    write(dir.path(), &[("unused.txt", "b")]);
    assert_eq!(stdout(&duckc(dir.path(), &["graph"])), before);
    write(dir.path(), &[("src/main.py", "print('QUACK')\n")]);
    let after = stdout(&duckc(dir.path(), &["graph"]));
    assert_ne!(after, before);
    // The shared base is untouched; `tools` (which does not copy src/) too.
    let line = |s: &str, what: &str| s.lines().find(|l| l.contains(what)).unwrap().to_owned();
    assert_eq!(line(&after, "packages"), line(&before, "packages"));
    assert_eq!(line(&after, "tool.sh"), line(&before, "tool.sh"));
    assert_ne!(line(&after, "copy src/"), line(&before, "copy src/"));
}

#[test]
fn input_nested_100000_levels_is_a_diagnostic() {
    let dir = tempfile::tempdir().unwrap();
    let deep = "env \"a\" {".repeat(100_000) + &"}".repeat(100_000);
    write(dir.path(), &[("env.kdl", &deep)]);
    let out = duckc(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("duckc::nesting_too_deep"),
        "{}",
        stderr(&out)
    );
    let comments = "/*".repeat(100_000) + &"*/".repeat(100_000);
    write(dir.path(), &[("env.kdl", &comments)]);
    let out = duckc(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("duckc::nesting_too_deep"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn dockerfiles_go_to_the_dockerfile_frontend() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), &[("Dockerfile", "FROM scratch\n")]);
    let out = duckc(dir.path(), &["check", "Dockerfile"]);
    assert!(!stderr(&out).contains("kdl_syntax"), "{}", stderr(&out));
}

/// The context the documentation's examples copy from.
const DOC_CONTEXT: &[(&str, &str)] = &[
    ("src/main.py", "print('quack')\n"),
    ("src/util.py", "\n"),
    ("src/hello.sh", "echo quack\n"),
    ("busybox", "a static busybox binary\n"),
    ("requirements.txt", "numpy\n"),
    ("app.py", "print('quack')\n"),
    ("entrypoint.sh", "#!/bin/sh\nexec \"$@\"\n"),
    ("config/duck.toml", "quack = true\n"),
    ("base.kdl", "env \"shared\" { from \"scratch\" }\n"),
];

/// Every ```kdl block of README.md and docs/*.md passes `duckc check`; blocks fenced
/// ```kdl,should-fail must fail; KDL that is not a spec is fenced ```kdl,config (or any other
/// `kdl,TAG`) and skipped. Every examples/**/env.kdl passes.
#[test]
fn docs_and_examples_check() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut docs = vec![root.join("README.md")];
    if let Ok(dir) = std::fs::read_dir(root.join("docs")) {
        docs.extend(
            dir.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "md")),
        );
    }
    docs.sort();
    let mut checked = 0;
    let mut failures: Vec<String> = Vec::new();
    for doc in docs.iter().filter(|d| d.exists()) {
        let text = std::fs::read_to_string(doc).unwrap();
        let mut lines = text.lines().enumerate();
        while let Some((n, line)) = lines.next() {
            let fence = line.trim_start();
            let should_fail = match fence {
                "```kdl" => false,
                "```kdl,should-fail" => true,
                // Other KDL documents (a config file, `duck.lock`): ```kdl,config and the like.
                _ => continue,
            };
            let block: Vec<&str> = lines
                .by_ref()
                .map(|(_, l)| l)
                .take_while(|l| l.trim_start() != "```")
                .collect();
            let dir = tempfile::tempdir().unwrap();
            write(dir.path(), DOC_CONTEXT);
            write(dir.path(), &[("env.kdl", &block.join("\n"))]);
            let out = duckc(dir.path(), &["check"]);
            let place = format!("{}:{}", doc.display(), n + 1);
            if should_fail && out.status.code() != Some(1) {
                failures.push(format!("{place} should fail but passes:\n{}", stdout(&out)));
            } else if !should_fail && !out.status.success() {
                failures.push(format!("{place} fails:\n{}", stderr(&out)));
            }
            checked += 1;
        }
    }
    let mut examples = 0;
    for entry in walk(&root.join("examples")) {
        if entry.file_name().is_some_and(|n| n == "env.kdl") {
            let example = prepared_example(entry.parent().unwrap());
            let out = duckc(example.path(), &["check"]);
            if !out.status.success() {
                failures.push(format!("{} fails:\n{}", entry.display(), stderr(&out)));
            }
            examples += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(checked >= 5, "only {checked} kdl blocks found in the docs");
    assert!(examples >= 1, "no examples/**/env.kdl found");
}

/// A copy of an example directory with what its set-up script fetches already in place:
/// `examples/hello` copies a static busybox that `fetch-busybox.sh` downloads and git ignores,
/// so on a clean clone it is taken from the host's `busybox-static` (which `.ci/run` installs).
fn prepared_example(dir: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for file in walk(dir) {
        let rel = file.strip_prefix(dir).unwrap();
        let to = copy.path().join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(&file, &to).unwrap();
    }
    if dir.join("fetch-busybox.sh").exists() && !copy.path().join("busybox").exists() {
        std::fs::copy("/bin/busybox", copy.path().join("busybox"))
            .expect("/bin/busybox is missing: install Debian's busybox-static");
    }
    copy
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// The layer graph of every example, pinned: moving the loading of specs and contexts (issue
/// 12) must not change a key. `examples/hello` copies a busybox binary fetched at setup; a
/// placeholder of fixed content stands in for it here, so the keys do not depend on the host.
#[test]
fn example_graphs_are_pinned() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut names: Vec<String> = std::fs::read_dir(&examples)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("env.kdl").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    for name in names {
        let tmp = tempfile::tempdir().unwrap();
        let copy = tmp.path().join(&name);
        let status = std::process::Command::new("cp")
            .arg("-a")
            .arg(examples.join(&name))
            .arg(&copy)
            .status()
            .unwrap();
        assert!(status.success());
        if copy.join("fetch-busybox.sh").exists() {
            std::fs::write(copy.join("busybox"), "a stand-in for the static busybox\n").unwrap();
        }
        let out = duckc(&copy, &["graph"]);
        assert!(out.status.success(), "examples/{name}: {}", stderr(&out));
        insta::assert_snapshot!(format!("example_graph_{name}"), stdout(&out));
    }
}
