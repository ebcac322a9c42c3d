//! Every ```console block of README.md and docs/*.md runs on a fresh store, or says what it
//! needs that this test cannot give it.
//!
//! A block's `$ ` lines (with `\` continuations) run one by one through `bash -c`, as a reader
//! would type them, in a scratch directory holding a copy of the checkout's `examples/` (with
//! the static busybox `examples/hello/fetch-busybox.sh` would fetch already in place, from the
//! host's busybox-static), with `duckc` first on `PATH` and `DUCKC_STORE` naming a store no
//! other block uses. Every line must exit 0. The lines in between are sample output: not
//! compared (ids and times differ from run to run). A failure names the file and line.
//!
//! An HTML comment on the line before the fence changes that, with space-separated words:
//!
//! - `<!-- docs-test: needs=WHAT -->`: the block is skipped, and the test says why. WHAT is
//!   one of [`NEEDS`]: `host` (it changes the machine: installs packages, builds duckc),
//!   `registry` (an OCI registry to push to and pull from), `terminal` (an interactive
//!   `-it` session), `second-machine`, `credentials` (a registry login), `device` (a device or CDI spec the host
//!   must have), `gpu`, `display` (an X11 or Wayland display).
//! - `<!-- docs-test: apt -->`: it downloads Debian packages from the host's apt repository:
//!   it runs under `CI=true` only (sharing the examples test's download cache).
//! - `<!-- docs-test: spec-above -->`: the nearest ```kdl block above is `env.kdl` in the
//!   directory; `dockerfile-above` likewise writes the nearest ```dockerfile block above as
//!   `Dockerfile`; `context=PATH` copies PATH of the checkout (a file or a directory's
//!   contents) into the directory first (a `*.Dockerfile` file becomes `Dockerfile`).
//! - `<!-- docs-test: fails -->`: the block's last line is meant to fail (a `check` that shows
//!   errors): it must exit 1; the lines before it must still succeed.
//!
//! A `console` block with no `$ ` line is an error: use ```text for output alone.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// What a block may need that this test cannot give it (`needs=WHAT`).
const NEEDS: &[&str] = &[
    "host",
    "registry",
    "terminal",
    "second-machine",
    "credentials",
    "device",
    "gpu",
    "display",
];

/// One console block.
#[derive(Debug)]
struct Block {
    /// `docs/build.md:6`: where its fence is.
    place: String,
    /// The markers of the comment before it.
    markers: Vec<String>,
    /// The commands, continuation lines joined, with the line each starts on.
    commands: Vec<(usize, String)>,
    /// The nearest ```kdl and ```dockerfile blocks above it.
    kdl_above: Option<String>,
    dockerfile_above: Option<String>,
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn documents() -> Vec<PathBuf> {
    let root = root();
    let mut docs = vec![root.join("README.md")];
    let mut more: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    more.sort();
    docs.extend(more);
    docs
}

/// The console blocks of one document.
fn blocks(doc: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(doc).unwrap();
    let name = doc
        .strip_prefix(root())
        .unwrap_or(doc)
        .display()
        .to_string();
    let name = name.trim_start_matches("compiler/duckc/../../").to_owned();
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let (mut kdl, mut dockerfile): (Option<String>, Option<String>) = (None, None);
    let mut i = 0;
    while i < lines.len() {
        let fence = lines[i].trim_start();
        let Some(lang) = fence.strip_prefix("```").filter(|l| !l.is_empty()) else {
            i += 1;
            continue;
        };
        let start = i;
        // A block in a list item is indented: its lines lose the fence's indentation.
        let indent = lines[i].len() - fence.len();
        let mut body = Vec::new();
        i += 1;
        while i < lines.len() && lines[i].trim_start() != "```" {
            let l = lines[i];
            let cut = l.len() - l.trim_start().len();
            body.push(&l[cut.min(indent)..]);
            i += 1;
        }
        i += 1;
        match lang {
            "kdl" | "kdl,should-fail" => kdl = Some(body.join("\n") + "\n"),
            "dockerfile" | "Dockerfile" => dockerfile = Some(body.join("\n") + "\n"),
            "console" => {
                let markers = start
                    .checked_sub(1)
                    .and_then(|p| lines[p].trim().strip_prefix("<!-- docs-test:"))
                    .and_then(|m| m.strip_suffix("-->"))
                    .map(|m| m.split_whitespace().map(str::to_owned).collect())
                    .unwrap_or_default();
                let mut commands: Vec<(usize, String)> = Vec::new();
                let mut continued = false;
                for (n, l) in body.iter().enumerate() {
                    if continued {
                        let last = commands.last_mut().unwrap();
                        last.1.push('\n');
                        last.1.push_str(l);
                    } else if let Some(cmd) = l.strip_prefix("$ ") {
                        commands.push((start + 2 + n, cmd.to_owned()));
                    } else {
                        continue;
                    }
                    continued = l.trim_end().ends_with('\\');
                }
                out.push(Block {
                    place: format!("{name}:{}", start + 1),
                    markers,
                    commands,
                    kdl_above: kdl.clone(),
                    dockerfile_above: dockerfile.clone(),
                });
            }
            _ => {}
        }
    }
    out
}

/// Copies `from` (a file or a directory's contents) into `dir` with `cp -a`.
fn copy_into(from: &Path, dir: &Path) {
    let mut cmd = Command::new("cp");
    cmd.arg("-a");
    if from.is_dir() {
        cmd.arg(format!("{}/.", from.display())).arg(dir);
    } else {
        let name = from.file_name().unwrap().to_string_lossy().into_owned();
        let name = if name.ends_with(".Dockerfile") {
            "Dockerfile".to_owned()
        } else {
            name
        };
        cmd.arg(from).arg(dir.join(name));
    }
    assert!(cmd.status().unwrap().success(), "{cmd:?}");
}

/// Runs one block; `Err` says which line failed and how.
fn run_block(block: &Block, bin: &Path) -> Result<(), String> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("work");
    std::fs::create_dir(&dir).unwrap();
    let store = tmp.path().join("store");
    copy_into(&root().join("examples"), &dir.join("examples"));
    let hello = dir.join("examples/hello/busybox");
    if !hello.exists() {
        std::fs::copy("/bin/busybox", &hello)
            .map_err(|e| format!("/bin/busybox (Debian's busybox-static): {e}"))?;
    }
    if block.markers.iter().any(|m| m == "apt") {
        // The examples test's download cache: only the first run downloads.
        std::fs::create_dir_all(&store).unwrap();
        let downloads = Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt-downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        std::os::unix::fs::symlink(&downloads, store.join("downloads")).unwrap();
    }
    for m in &block.markers {
        if let Some(path) = m.strip_prefix("context=") {
            copy_into(&root().join(path), &dir);
        }
    }
    let above = |what: &Option<String>, marker: &str, file: &str| -> Result<(), String> {
        if block.markers.iter().any(|m| m == marker) {
            let text = what
                .as_ref()
                .ok_or_else(|| format!("{}: `{marker}`, but no such block above", block.place))?;
            std::fs::write(dir.join(file), text).unwrap();
        }
        Ok(())
    };
    above(&block.kdl_above, "spec-above", "env.kdl")?;
    above(&block.dockerfile_above, "dockerfile-above", "Dockerfile")?;
    let fails = block.markers.iter().any(|m| m == "fails");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for (i, (line, command)) in block.commands.iter().enumerate() {
        let out = Command::new("bash")
            .args(["-o", "pipefail", "-c", command])
            .current_dir(&dir)
            .env("PATH", &path)
            .env("DUCKC_STORE", &store)
            .env("NO_COLOR", "1")
            .env_remove("DUCKC_LOG")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let want = if fails && i + 1 == block.commands.len() {
            Some(1)
        } else {
            Some(0)
        };
        if out.status.code() != want {
            return Err(format!(
                "{}: `$ {command}` (line {line}) exited with {} (expected {})\nstdout:\n{}\nstderr:\n{}",
                block.place,
                out.status,
                want.unwrap(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    Ok(())
}

/// How a document is read: markers, `$ ` lines with continuations, sample output left out,
/// the nearest spec above, indented blocks, and the line each block starts on.
#[test]
fn blocks_are_read_with_their_markers_and_commands() {
    let tmp = tempfile::tempdir().unwrap();
    let doc = tmp.path().join("sample.md");
    std::fs::write(
        &doc,
        "# t\n\n```kdl\nenv \"a\" { from \"scratch\" }\n```\n\n<!-- docs-test: spec-above fails -->\n```console\n$ duckc check \\\n    env.kdl\nsample output\n$ duckc graph\n```\n\n1. a step:\n\n   ```console\n   $ duckc images\n   ```\n",
    )
    .unwrap();
    let found = blocks(&doc);
    assert_eq!(found.len(), 2, "{found:?}");
    assert!(found[0].place.ends_with("sample.md:8"), "{found:?}");
    assert_eq!(found[0].markers, ["spec-above", "fails"]);
    assert_eq!(
        found[0].commands,
        [
            (9, "duckc check \\\n    env.kdl".to_owned()),
            (12, "duckc graph".to_owned())
        ]
    );
    assert_eq!(
        found[0].kdl_above.as_deref(),
        Some("env \"a\" { from \"scratch\" }\n")
    );
    assert_eq!(found[1].commands, [(18, "duckc images".to_owned())]);
    assert!(found[1].markers.is_empty());
}

/// The markers are known words, and every block has commands.
#[test]
fn console_blocks_are_marked_with_known_words() {
    let mut problems = Vec::new();
    let mut count = 0;
    for doc in documents() {
        for block in blocks(&doc) {
            count += 1;
            if block.commands.is_empty() {
                problems.push(format!(
                    "{}: a console block without a `$ ` line; use ```text for output alone",
                    block.place
                ));
            }
            for m in &block.markers {
                let known = match m.split_once('=') {
                    Some(("needs", what)) => NEEDS.contains(&what),
                    Some(("context", path)) => root().join(path).exists(),
                    Some(_) => false,
                    None => {
                        ["apt", "spec-above", "dockerfile-above", "fails"].contains(&m.as_str())
                    }
                };
                if !known {
                    problems.push(format!(
                        "{}: unknown docs-test marker `{m}` (see the top of tests/docs.rs; needs= takes one of {})",
                        block.place,
                        NEEDS.join(", ")
                    ));
                }
            }
        }
    }
    assert!(count >= 10, "only {count} console blocks found");
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every console block runs (builds and containers need root).
#[test]
fn console_blocks_run_on_a_fresh_store() {
    if !common::require_root() {
        return;
    }
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(common::duckc_bin(), bin.path().join("duckc")).unwrap();
    let mut failures = Vec::new();
    let (mut ran, mut skipped) = (0, Vec::new());
    for doc in documents() {
        for block in blocks(&doc) {
            if let Some(what) = block.markers.iter().find_map(|m| m.strip_prefix("needs=")) {
                skipped.push(format!("{} (needs {what})", block.place));
                continue;
            }
            if block.markers.iter().any(|m| m == "apt") && !common::in_ci() {
                skipped.push(format!(
                    "{} (downloads packages: CI=true only)",
                    block.place
                ));
                continue;
            }
            ran += 1;
            if let Err(e) = run_block(&block, bin.path()) {
                failures.push(e);
            }
        }
    }
    eprintln!(
        "ran {ran} console blocks; skipped {}: {}",
        skipped.len(),
        skipped.join(", ")
    );
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(ran >= 5, "only {ran} console blocks ran");
}

/// The packages of the first `apt-get install` command in `text` (`\` continuations joined,
/// options and comments left out).
fn apt_install_line(text: &str) -> Vec<String> {
    let joined = text.replace("\\\n", " ");
    let line = joined
        .lines()
        .find(|l| l.contains("apt-get install"))
        .unwrap_or_else(|| panic!("no `apt-get install` line in:\n{text}"));
    let after = line.split("apt-get install").nth(1).unwrap();
    let mut packages: Vec<String> = after
        .split('#')
        .next()
        .unwrap()
        .split_whitespace()
        .filter(|w| !w.starts_with('-'))
        .map(str::to_owned)
        .collect();
    packages.sort();
    packages
}

/// `.ci/run`, the README's "Run the tests" line and the suite's own check of the host
/// (`tests/common/tools.rs`) name the same packages.
#[test]
fn ci_readme_and_the_host_check_name_the_same_packages() {
    let ci = apt_install_line(&std::fs::read_to_string(root().join(".ci/run")).unwrap());
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let section = readme
        .split("## Run the tests")
        .nth(1)
        .expect("README.md has a \"Run the tests\" section");
    let readme = apt_install_line(section);
    let mut checked: Vec<String> = common::tools::PACKAGES
        .iter()
        .map(|(p, _)| (*p).to_owned())
        .collect();
    checked.sort();
    assert_eq!(
        ci, readme,
        ".ci/run and README.md's \"Run the tests\" install different packages"
    );
    assert_eq!(
        ci, checked,
        ".ci/run installs other packages than tests/common/tools.rs checks for"
    );
}
