//! End-to-end: every `examples/*/env.kdl` builds and every image it tags runs its default
//! command with the output [`EXPECTED`] names. Each example is built from a copy (a build
//! never writes into the checkout), and one whose directory holds a `duck.lock` is built
//! `--locked`, so a stale committed lock fails here instead of being rewritten.
//!
//! Examples with `packages` steps download Debian packages (hundreds of MB) from the host's
//! configured apt repository: they run under `CI=true` only, and every run shares one download
//! cache (`<target>/tmp/apt-downloads`, the store's `downloads/`), so only the first run
//! downloads. `examples/hello` needs no network and runs wherever root is.

mod common;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::{must, require_root};

/// What each tagged image of each example prints when run: (example, image, command — empty
/// for the image's default —, what the output contains).
const EXPECTED: &[(&str, &str, &[&str], &str)] = &[
    (
        "hello",
        "duckc-example/hello:latest",
        &[],
        "Hello from duckc, Linux ",
    ),
    ("hello", "duckc-example/tools:latest", &[], "tools ready\n"),
    ("basic", "example/duck-app:latest", &[], "quack, world\n"),
    ("basic", "example/duck-app:test", &[], "quack, world\n"),
    // A debug shell: its default command waits for input, so the test names one.
    (
        "basic",
        "example/duck-debug:latest",
        &["ls", "/app"],
        "main.py\n",
    ),
    (
        "python",
        "duckc-example/python:latest",
        &[],
        "eigenvalues of [[2, 1], [1, 2]] = [1.0, 3.0]",
    ),
    (
        "robotics",
        "duckc-example/robotics:latest",
        &[],
        "blob centroid in frame 'camera': (29.5, 19.5), area 400 px",
    ),
];

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

/// The examples, by directory name.
fn examples() -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(examples_dir())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("env.kdl").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

/// Whether the example's spec (or a spec it imports from its directory) has `packages`
/// steps, or builds on a stdlib env that does.
fn needs_apt(example: &Path) -> bool {
    std::fs::read_dir(example)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "kdl"))
        .any(|e| {
            let text = std::fs::read_to_string(e.path()).unwrap();
            text.contains("packages ")
                || text.contains("std/debian")
                || text.contains("std/busybox")
        })
}

/// One store for every example built by this process (they share the Debian base's layers),
/// whose download cache lives across runs in the target directory. The store goes when the
/// process exits, also after a failed test (the downloads stay: the link to them is removed,
/// not what it points at).
fn store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let dir = tempfile::Builder::new()
            .prefix("duckc-examples-")
            .tempdir()
            .unwrap()
            .keep();
        common::remove_at_exit(&dir);
        let store = dir.join("store");
        std::fs::create_dir_all(&store).unwrap();
        let downloads = Path::new(env!("CARGO_TARGET_TMPDIR")).join("apt-downloads");
        std::fs::create_dir_all(&downloads).unwrap();
        std::os::unix::fs::symlink(&downloads, store.join("downloads")).unwrap();
        store
    })
}

/// A copy of the example directory, with the static busybox `examples/hello` copies (its
/// `fetch-busybox.sh` downloads it; on a clean clone it comes from the host's busybox-static).
fn copy_of(example: &Path, into: &Path) -> PathBuf {
    let to = into.join(example.file_name().unwrap());
    assert!(
        std::process::Command::new("cp")
            .arg("-a")
            .arg(example)
            .arg(&to)
            .status()
            .unwrap()
            .success()
    );
    if to.join("fetch-busybox.sh").exists() && !to.join("busybox").exists() {
        std::fs::copy("/bin/busybox", to.join("busybox"))
            .expect("/bin/busybox is missing: install Debian's busybox-static");
    }
    to
}

/// Builds the example and runs each image it tags.
fn build_and_run(name: &str) {
    let example = examples_dir().join(name);
    let expected: Vec<_> = EXPECTED.iter().filter(|(e, _, _, _)| *e == name).collect();
    assert!(
        !expected.is_empty(),
        "examples/{name} has no entry in EXPECTED (tests/examples.rs): add what its images print"
    );
    let tmp = tempfile::tempdir().unwrap();
    let copy = copy_of(&example, tmp.path());
    let spec = copy.join("env.kdl");
    let mut args = vec!["build", "--progress", "plain", spec.to_str().unwrap()];
    if copy.join("duck.lock").exists() {
        args.push("--locked");
    }
    let store = store();
    let (code, out, err) = common::run(store, &args);
    assert_eq!(code, 0, "building examples/{name} failed:\n{out}\n{err}");
    for (_, image, command, want) in expected {
        assert!(
            out.contains(&format!("Successfully tagged {image}\n")),
            "examples/{name} did not tag `{image}`:\n{out}"
        );
        let mut run = vec!["run", "--rm", image];
        run.extend_from_slice(command);
        let printed = must(store, &run);
        assert!(
            printed.contains(want),
            "`duckc {}` printed {printed:?}, expected it to contain {want:?}",
            run.join(" ")
        );
    }
    // Every tag the build made is checked above.
    for line in out.lines() {
        if let Some(tag) = line.strip_prefix("Successfully tagged ") {
            assert!(
                EXPECTED.iter().any(|(e, i, _, _)| *e == name && *i == tag),
                "examples/{name} tags `{tag}`, which EXPECTED (tests/examples.rs) does not name"
            );
        }
    }
}

#[test]
fn every_example_has_expectations() {
    let names = examples();
    assert!(names.len() >= 4, "{names:?}");
    for name in &names {
        assert!(
            EXPECTED.iter().any(|(e, _, _, _)| e == name),
            "examples/{name} has no entry in EXPECTED (tests/examples.rs): add what its images print"
        );
    }
}

#[test]
fn examples_without_packages_build_and_run() {
    if !require_root() {
        return;
    }
    for name in examples() {
        if !needs_apt(&examples_dir().join(&name)) {
            build_and_run(&name);
        }
    }
}

#[test]
fn examples_with_packages_build_and_run() {
    if !common::in_ci() {
        eprintln!(
            "skipped: the examples with `packages` download hundreds of MB from the host's apt repository; they run under CI=true (`CI=true cargo test -p duckc --test examples`)"
        );
        return;
    }
    if !require_root() {
        return;
    }
    for name in examples() {
        if needs_apt(&examples_dir().join(&name)) {
            build_and_run(&name);
        }
    }
    python_sbom_validates();
    ros_nodes_on_a_user_network();
}

/// Issue 13's done-when: `duckc sbom` of examples/python (built above) is valid SPDX 2.3 by
/// the real validator, and lists its Debian packages with the sha256 of each `.deb`.
fn python_sbom_validates() {
    // `sbom` reads the `.deb` hashes from the `duck.lock` beside the spec the image was built
    // from: build it again (every step cached) from a copy that lives while the SBOM is made.
    let tmp = tempfile::tempdir().unwrap();
    let copy = copy_of(&examples_dir().join("python"), tmp.path());
    let spec = copy.join("env.kdl");
    must(store(), &["build", "--locked", spec.to_str().unwrap()]);
    let spdx = tmp.path().join("python.spdx.json");
    must(
        store(),
        &[
            "sbom",
            "duckc-example/python:latest",
            "-o",
            spdx.to_str().unwrap(),
        ],
    );
    // `.ci/run` installs the validator there (this test runs under CI=true only).
    let out = std::process::Command::new("/opt/duckc-spdx/bin/pyspdxtools")
        .arg("-i")
        .arg(&spdx)
        .output()
        .expect("pyspdxtools (spdx-tools in /opt/duckc-spdx, see .ci/run)");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && !text.contains("invalid"),
        "pyspdxtools refused the SBOM of examples/python:\n{text}"
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&spdx).unwrap()).unwrap();
    let packages = doc["packages"].as_array().unwrap();
    let python = packages
        .iter()
        .find(|p| p["name"] == "python3")
        .unwrap_or_else(|| {
            panic!(
                "no python3 package in the SBOM: {} packages",
                packages.len()
            )
        });
    assert!(
        python["checksums"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["algorithm"] == "SHA256")),
        "{python}"
    );
}

/// Issue 15's done-when, on the image just built: a ROS master, a talker and a listener in
/// three containers on a user network, with no `ROS_IP`: each node registers under its
/// container's hostname, which its peers resolve through duckc's `/etc/hosts`.
fn ros_nodes_on_a_user_network() {
    let store = store();
    let net = format!("ros-{}", std::process::id());
    let (master, talker) = (format!("{net}-master"), format!("{net}-talker"));
    let uri = format!("ROS_MASTER_URI=http://{master}:11311");
    // Both clients wait for the master, as a launch file would.
    let wait = "for i in $(seq 60); do rostopic list >/dev/null 2>&1 && break; sleep 1; done";
    must(store, &["network", "create", &net]);
    let result = std::panic::catch_unwind(|| {
        must(
            store,
            &[
                "run",
                "-d",
                "--name",
                &master,
                "--network",
                &net,
                "duckc-example/robotics:latest",
                "roscore",
            ],
        );
        must(
            store,
            &[
                "run",
                "-d",
                "--name",
                &talker,
                "--network",
                &net,
                "-e",
                &uri,
                "duckc-example/robotics:latest",
                "sh",
                "-c",
                &format!(
                    "{wait}; exec rostopic pub -r 5 /chatter std_msgs/String 'data: hello from talker'"
                ),
            ],
        );
        let heard = must(
            store,
            &[
                "run",
                "--rm",
                "--network",
                &net,
                "-e",
                &uri,
                "duckc-example/robotics:latest",
                "sh",
                "-c",
                &format!("{wait}; timeout 120 rostopic echo -n 1 /chatter"),
            ],
        );
        assert!(
            heard.contains("hello from talker"),
            "the listener heard {heard:?}"
        );
    });
    let _ = common::run(store, &["rm", "-f", &talker, &master]);
    let _ = common::run(store, &["network", "rm", &net]);
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}

/// Set for a run of this binary by [`the_shared_store_goes_when_the_process_ends`]: then
/// [`makes_the_shared_store`] makes the store, prints where, and fails when asked to.
const CHILD: &str = "DUCKC_EXAMPLES_STORE_CHILD";

#[test]
fn makes_the_shared_store() {
    let Some(how) = std::env::var_os(CHILD) else {
        return;
    };
    println!("store: {}", store().display());
    assert_ne!(
        how, "fail",
        "failing on purpose: the store must go all the same"
    );
}

/// The store every example shares lives in `/tmp` while this test binary runs and goes when it
/// exits, whether its tests passed or failed.
#[test]
fn the_shared_store_goes_when_the_process_ends() {
    for how in ["pass", "fail"] {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "makes_the_shared_store", "--nocapture"])
            .env(CHILD, how)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.success(), how == "pass", "{stdout}");
        let store = stdout
            .lines()
            .find_map(|l| l.strip_prefix("store: "))
            .unwrap_or_else(|| panic!("no store made:\n{stdout}"));
        let store = Path::new(store);
        assert!(
            store.starts_with(std::env::temp_dir()),
            "{}",
            store.display()
        );
        assert!(
            !store.exists() && !store.parent().unwrap().exists(),
            "left behind after a run that {how}ed: {}",
            store.display()
        );
    }
}
