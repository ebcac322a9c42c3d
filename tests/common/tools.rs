//! What the suite needs from the host, checked once per test binary: every missing tool named
//! in one message with the Debian package that has it, instead of a test failing on the first
//! one it happens to run. Under `CI=true` a missing tool fails the tests; elsewhere the message
//! says how to install them, and the tests that need one skip (`require_tool`) or stop naming it.
//!
//! [`PACKAGES`] is the one list: `.ci/run` installs exactly these packages and the README's
//! "Run the tests" line names them (`tests/docs.rs` checks all three agree).

use std::io::Write;
use std::path::Path;
use std::sync::OnceLock;

/// Each Debian package the suite needs, and what shows it is installed: a program on `PATH`,
/// or (an absolute path) a file.
pub const PACKAGES: &[(&str, &str)] = &[
    ("busybox-static", "/bin/busybox"),
    ("gcc", "cc"),
    ("libc6-dev", "/usr/include/stdio.h"),
    ("libseccomp-dev", "/usr/include/seccomp.h"),
    ("pkg-config", "pkg-config"),
    ("skopeo", "skopeo"),
    ("umoci", "umoci"),
    ("podman", "podman"),
    ("crun", "crun"),
    ("uidmap", "newuidmap"),
    ("docker-registry", "docker-registry"),
    ("gnupg", "gpg"),
    ("gpgv", "gpgv"),
    ("dpkg-dev", "dpkg-scanpackages"),
    ("ca-certificates", "/etc/ssl/certs/ca-certificates.crt"),
    ("docker.io", "dockerd"),
    ("apache2-utils", "htpasswd"),
    ("openssl", "openssl"),
    ("xvfb", "Xvfb"),
    ("xauth", "xauth"),
    ("python3-venv", "/usr/share/doc/python3-venv"),
    ("nftables", "nft"),
    ("iproute2", "ip"),
    ("slirp4netns", "slirp4netns"),
    ("openssh-server", "/usr/sbin/sshd"),
    ("openssh-client", "ssh"),
    ("neovim", "nvim"),
];

fn present(what: &str) -> bool {
    if what.starts_with('/') {
        return Path::new(what).exists();
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(what).is_file()))
        .unwrap_or(false)
}

/// The packages whose marker is missing here: (package, what is missing).
pub fn missing() -> Vec<(&'static str, &'static str)> {
    PACKAGES
        .iter()
        .filter(|(_, what)| !present(what))
        .copied()
        .collect()
}

/// Checks the host once per test binary. Missing tools: under CI a panic naming them all;
/// elsewhere one message on the terminal (not captured by the test harness) naming them and
/// the install line.
pub fn check() {
    static MESSAGE: OnceLock<Option<String>> = OnceLock::new();
    let message = MESSAGE.get_or_init(|| {
        let missing = missing();
        if missing.is_empty() {
            return None;
        }
        let names: Vec<String> = missing
            .iter()
            .map(|(package, what)| format!("`{what}` (package {package})"))
            .collect();
        let all: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).collect();
        let text = format!(
            "duckc's tests need what this machine lacks: {}.\n\
             The tests that use them are skipped where they check (`require_tool`) and fail \
             naming the tool where they do not.\n\
             help: install everything the suite needs (README, \"Run the tests\"):\n  \
             sudo apt-get install -y {}\n",
            names.join(", "),
            all.join(" ")
        );
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\n{text}");
        Some(text)
    });
    if let Some(text) = message
        && super::in_ci()
    {
        panic!("{text}CI (.ci/run) must install them");
    }
}
