//! Whether this machine can run binaries of another architecture: the kernel's binfmt_misc
//! entries for qemu-user (what `qemu-user-static` and `binfmt-support` register, and what
//! Docker's `binfmt` image registers). duckc never starts an emulator itself: with a registered
//! entry the kernel runs foreign binaries through it, inside the container as outside.
//!
//! An entry works inside a container only with the `F` (fix-binary) flag: the kernel opens the
//! interpreter when the entry is registered, so the container's root need not contain it.

use std::path::Path;

/// How binaries of a platform run here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Support {
    /// The host's own architecture (or one it runs natively, like `386` on `amd64`).
    Native,
    /// Through the registered binfmt_misc entry of this name.
    Emulated(String),
    /// Not at all; the text says why and how to enable it.
    Missing(String),
}

/// The GOARCH name (`amd64`, `arm64`) of this machine.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "arm" => "arm",
        "mips64" => "mips64le",
        other => other,
    }
}

/// `linux/amd64`: this machine's OCI platform.
pub fn host_platform() -> String {
    format!("linux/{}", host_arch())
}

/// The architecture part of `os/arch[/variant]`.
pub fn platform_arch(platform: &str) -> &str {
    platform.split('/').nth(1).unwrap_or(platform)
}

/// How binaries of `platform` (`linux/arm64`) run on this machine.
pub fn support(platform: &str) -> Support {
    support_in(Path::new("/proc/sys/fs/binfmt_misc"), platform)
}

/// [`support`] against a binfmt_misc directory (for tests).
pub fn support_in(binfmt: &Path, platform: &str) -> Support {
    let arch = platform_arch(platform);
    let host = host_arch();
    if arch == host || (host == "amd64" && arch == "386") || (host == "arm64" && arch == "arm") {
        return Support::Native;
    }
    let entry = match arch {
        "arm64" => "qemu-aarch64",
        "arm" => "qemu-arm",
        "amd64" => "qemu-x86_64",
        "386" => "qemu-i386",
        "ppc64le" => "qemu-ppc64le",
        "s390x" => "qemu-s390x",
        "riscv64" => "qemu-riscv64",
        "mips64le" => "qemu-mips64el",
        _ => "",
    };
    let how = "register qemu-user with binfmt_misc: `apt-get install qemu-user-static \
               binfmt-support` (the entry needs the `F` flag, which Debian's package sets)";
    if entry.is_empty() {
        return Support::Missing(format!(
            "duckc knows no qemu-user emulator for `{platform}`"
        ));
    }
    match std::fs::read_to_string(binfmt.join(entry)) {
        Ok(text) if text.starts_with("enabled") => {
            let fixed = text
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .is_some_and(|f| f.contains('F'));
            if fixed {
                Support::Emulated(entry.to_owned())
            } else {
                Support::Missing(format!(
                    "binfmt_misc entry `{entry}` lacks the `F` flag, so containers cannot reach its interpreter; register it again with `F` (e.g. `update-binfmts --enable {entry}` with Debian's qemu-user-static)"
                ))
            }
        }
        Ok(_) => Support::Missing(format!(
            "binfmt_misc entry `{entry}` is disabled; enable it (`update-binfmts --enable {entry}`)"
        )),
        Err(_) => Support::Missing(format!(
            "this `{}` machine cannot run `{platform}` binaries; {how}",
            host_platform()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_emulated_and_missing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(support_in(dir.path(), &host_platform()), Support::Native);
        let foreign = if host_arch() == "arm64" {
            ("linux/amd64", "qemu-x86_64")
        } else {
            ("linux/arm64", "qemu-aarch64")
        };
        assert!(matches!(
            support_in(dir.path(), foreign.0),
            Support::Missing(why) if why.contains("qemu-user-static")
        ));
        let entry = dir.path().join(foreign.1);
        std::fs::write(
            &entry,
            "enabled\ninterpreter /usr/libexec/qemu-binfmt/x\nflags: OCF\n",
        )
        .unwrap();
        assert_eq!(
            support_in(dir.path(), foreign.0),
            Support::Emulated(foreign.1.to_owned())
        );
        std::fs::write(&entry, "enabled\ninterpreter /usr/bin/qemu\nflags: \n").unwrap();
        assert!(matches!(
            support_in(dir.path(), foreign.0),
            Support::Missing(why) if why.contains("`F` flag")
        ));
        std::fs::write(&entry, "disabled\n").unwrap();
        assert!(matches!(
            support_in(dir.path(), foreign.0),
            Support::Missing(why) if why.contains("disabled")
        ));
        assert!(matches!(
            support_in(dir.path(), "linux/vax"),
            Support::Missing(_)
        ));
    }
}
