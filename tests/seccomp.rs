//! End-to-end tests of the default seccomp profile and `--security-opt seccomp=…`
//! (SECURITY.md item 32), on the real kernel: a static probe (`tests/probes/syscalls.c`)
//! attempts the calls Docker's profile denies and prints `name errno` for each.
//!
//! They need root (CI runs as root; elsewhere they skip with a note) and share one store with
//! the busybox image loaded once.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::probe::static_probe;
use common::store::load_busybox;
use common::{duckc, output, require_root, require_tool};
use common::{must, run};

/// The shared store (busybox loaded) and the probe binary, or `None` when the tests cannot run.
fn setup() -> Option<(&'static Path, PathBuf)> {
    if !require_root() || !require_tool("umoci") {
        return None;
    }
    let probe = static_probe("syscalls")?;
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    let store = STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("seccomp-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        dir
    });
    Some((store, probe))
}

/// The probe's `name errno` lines.
fn answers(out: &str) -> BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// `-v PROBE:/syscalls:ro`.
fn probe_volume(probe: &Path) -> String {
    format!("{}:/syscalls:ro", probe.display())
}

const EPERM: &str = "1";

/// The calls Docker's default profile refuses with EPERM for a container with the default
/// capabilities (new user namespaces, the keyring, perf, userfaultfd, bpf, kexec, handles,
/// mount, personality flags, vsock sockets, and the same through the i386 and x32 ABIs).
const DENIED: &[&str] = &[
    "unshare_newuser",
    "clone_newuser",
    "keyctl",
    "add_key",
    "request_key",
    "perf_event_open",
    "userfaultfd",
    "bpf",
    "kexec_load",
    "open_by_handle_at",
    "mount",
    "personality_set",
    "socket_vsock",
    "i386_keyctl",
    "x32_keyctl",
];

#[test]
fn security_32_default_profile_denies_with_eperm() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let vol = probe_volume(&probe);
    let out = must(store, &["run", "--rm", "-v", &vol, "busybox", "/syscalls"]);
    let got = answers(&out);
    for name in DENIED {
        assert_eq!(
            got.get(*name).map(String::as_str),
            Some(EPERM),
            "{name}\n{out}"
        );
    }
    // clone3 answers ENOSYS so that glibc falls back to clone, which is allowed without
    // namespace flags.
    assert_eq!(got["clone3"], "38", "{out}");
    for allowed in [
        "clone",
        "ptrace",
        "personality_query",
        "socket_inet",
        "getpid",
    ] {
        assert_eq!(got[allowed], "0", "{allowed}\n{out}");
    }
    let status = must(
        store,
        &[
            "run",
            "--rm",
            "busybox",
            "grep",
            "^Seccomp",
            "/proc/self/status",
        ],
    );
    assert!(status.contains("Seccomp:\t2\n"), "{status}");
    assert!(status.contains("Seccomp_filters:\t1\n"), "{status}");
    // `--security-opt seccomp=builtin` is the same as none, and no-new-privileges is accepted.
    let status = must(
        store,
        &[
            "run",
            "--rm",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "seccomp=builtin",
            "busybox",
            "grep",
            "^Seccomp:",
            "/proc/self/status",
        ],
    );
    assert_eq!(status, "Seccomp:\t2\n");
}

#[test]
fn security_32_unconfined_gets_the_kernels_own_answers() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let vol = probe_volume(&probe);
    let args = [
        "run",
        "--rm",
        "--security-opt",
        "seccomp=unconfined",
        "-v",
        &vol,
        "busybox",
    ];
    let out = must(store, &[&args[..], &["/syscalls"]].concat());
    let got = answers(&out);
    // Without the filter the kernel decides: a new user namespace needs no capability, the
    // keyring is there, userfaultfd in user mode is for everyone, clone3 with no arguments is
    // EINVAL, mount looks its target up (ENOENT) before it checks CAP_SYS_ADMIN.
    for (name, want) in [
        ("unshare_newuser", "0"),
        ("clone_newuser", "0"),
        ("keyctl", "0"),
        ("add_key", "0"),
        ("request_key", "126"),
        ("userfaultfd", "0"),
        ("clone3", "22"),
        ("mount", "2"),
        ("personality_set", "0"),
    ] {
        assert_eq!(
            got.get(name).map(String::as_str),
            Some(want),
            "{name}\n{out}"
        );
    }
    let status = must(
        store,
        &[&args[..], &["grep", "^Seccomp:", "/proc/self/status"]].concat(),
    );
    assert_eq!(status, "Seccomp:\t0\n");
}

#[test]
fn security_32_exec_runs_under_the_containers_profile() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let vol = probe_volume(&probe);
    for (name, opt, want) in [
        ("sc-exec-default", "seccomp=builtin", "Seccomp:\t2\n"),
        ("sc-exec-unconfined", "seccomp=unconfined", "Seccomp:\t0\n"),
    ] {
        let _ = run(store, &["rm", "-f", name]);
        must(
            store,
            &[
                "run",
                "-d",
                "--name",
                name,
                "--security-opt",
                opt,
                "-v",
                &vol,
                "busybox",
                "sleep",
                "600",
            ],
        );
        let status = must(
            store,
            &["exec", name, "grep", "^Seccomp:", "/proc/self/status"],
        );
        assert_eq!(status, want, "{name}");
        let out = must(store, &["exec", name, "/syscalls"]);
        let keyctl = answers(&out)["keyctl"].clone();
        assert_eq!(keyctl == EPERM, opt == "seccomp=builtin", "{name}\n{out}");
        must(store, &["rm", "-f", name]);
    }
}

/// A deny-list profile: everything allowed but `mkdir`, which fails with EDQUOT.
const NO_MKDIR: &str = r#"{
    "defaultAction": "SCMP_ACT_ALLOW",
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": ["SCMP_ARCH_ARM"]}
    ],
    "syscalls": [
        {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 122}
    ]
}"#;

#[test]
fn security_32_custom_profile_is_kept_for_start() {
    let Some((store, _)) = setup() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let profile = tmp.path().join("no-mkdir.json");
    std::fs::write(&profile, NO_MKDIR).unwrap();
    let opt = format!("seccomp={}", profile.display());
    let name = "sc-custom";
    let _ = run(store, &["rm", "-f", name]);
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--name",
            name,
            "--security-opt",
            &opt,
            "busybox",
            "mkdir",
            "/made",
        ],
    );
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Disk quota exceeded"), "{err}");
    // The profile lives in the container's config: deleting the file changes nothing.
    std::fs::remove_file(&profile).unwrap();
    let (code, _, err) = run(store, &["start", "-a", name]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("Disk quota exceeded"), "{err}");
    // The rest is allowed: the default profile's denials do not apply.
    std::fs::write(&profile, NO_MKDIR).unwrap();
    let status = must(
        store,
        &[
            "run",
            "--rm",
            "--security-opt",
            &opt,
            "busybox",
            "sh",
            "-c",
            "grep ^Seccomp: /proc/self/status; touch /tmp/f && echo touched",
        ],
    );
    assert_eq!(status, "Seccomp:\t2\ntouched\n");
    must(store, &["rm", "-f", name]);
}

/// A build context holding the probe, as `syscalls`.
fn context_with_probe(dir: &Path, probe: &Path) -> PathBuf {
    let ctx = dir.join("ctx");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy(probe, ctx.join("syscalls")).unwrap();
    ctx
}

/// The step prints the probe's answers and fails on purpose, so they show in the error (which
/// quotes the last 20 lines).
const STEP: &str = "/syscalls; grep ^Seccomp: /proc/self/status; exit 7";

#[test]
fn security_32_build_steps_run_under_the_default_profile() {
    let Some((store, probe)) = setup() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let ctx = context_with_probe(tmp.path(), &probe);

    std::fs::write(
        ctx.join("Dockerfile"),
        format!("FROM busybox:latest\nCOPY syscalls /syscalls\nRUN {STEP}\n"),
    )
    .unwrap();
    let out = output(duckc(store).current_dir(&ctx).args([
        "build",
        "--progress",
        "plain",
        "-t",
        "sc-probe:dockerfile",
        ".",
    ]));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("keyctl 1\n"), "{text}");
    assert!(text.contains("mount 1\n"), "{text}");
    assert!(text.contains("i386_keyctl 1\n"), "{text}");

    let spec = ctx.join("probe.kdl");
    std::fs::write(
        &spec,
        format!(
            "env \"probe\" {{\n    from \"busybox:latest\"\n    copy \"syscalls\" \"/syscalls\" chmod=\"0755\"\n    run {STEP:?}\n}}\n"
        ),
    )
    .unwrap();
    let out = output(
        duckc(store)
            .arg("build")
            .arg(&spec)
            .args(["--progress", "plain"]),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(7), "{text}");
    assert!(text.contains("Seccomp:\t2"), "{text}");
    assert!(text.contains("keyctl 1\n"), "{text}");
    assert!(text.contains("mount 1\n"), "{text}");
    assert!(text.contains("i386_keyctl 1\n"), "{text}");
}

/// `duckc run --security-opt OPT busybox true`'s stderr, with `dir` written as `DIR`.
fn refused(store: &Path, opt: &str, dir: &Path) -> String {
    let (code, out, err) = run(
        store,
        &["run", "--rm", "--security-opt", opt, "busybox", "true"],
    );
    assert_eq!(code, 1, "{out}{err}");
    err.replace(&dir.display().to_string(), "DIR")
}

#[test]
fn security_32_bad_profiles_and_options_are_diagnostics() {
    let Some((store, _)) = setup() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        format!("seccomp={}", p.display())
    };
    let malformed = write(
        "malformed.json",
        "{\n    \"defaultAction\": \"SCMP_ACT_ERRNO\",\n    \"syscalls\": [\n        {\"names\": [\"read\"] \"action\": \"SCMP_ACT_ALLOW\"}\n    ]\n}\n",
    );
    insta::assert_snapshot!("malformed_profile", refused(store, &malformed, dir));
    let action = write(
        "action.json",
        "{\n    \"defaultAction\": \"SCMP_ACT_ERRNO\",\n    \"syscalls\": [\n        {\"names\": [\"read\"], \"action\": \"SCMP_ACT_ALOW\"}\n    ]\n}\n",
    );
    insta::assert_snapshot!("unknown_action", refused(store, &action, dir));
    let arch = write(
        "arch.json",
        "{\n    \"defaultAction\": \"SCMP_ACT_ERRNO\",\n    \"architectures\": [\"SCMP_ARCH_X86_64\", \"SCMP_ARCH_PDP11\"]\n}\n",
    );
    insta::assert_snapshot!("unknown_arch", refused(store, &arch, dir));
    let missing = format!("seccomp={}", dir.join("missing.json").display());
    insta::assert_snapshot!("missing_profile", refused(store, &missing, dir));
    insta::assert_snapshot!("apparmor", refused(store, "apparmor=unconfined", dir));
    insta::assert_snapshot!("unknown_option", refused(store, "seccomp", dir));
}
