//! Whether this machine can run binaries of another architecture: the kernel's binfmt_misc
//! entries for qemu-user (what `qemu-user-static` and `binfmt-support` register, and what
//! Docker's `binfmt` image registers). duckc never starts an emulator itself: with a registered
//! entry the kernel runs foreign binaries through it, inside the container as outside.
//!
//! An entry works inside a container only with the `F` (fix-binary) flag: the kernel opens the
//! interpreter when the entry is registered, so the container's root need not contain it.

use std::path::Path;

use duckc_platform::Arch;

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

// From the platform table, here too because the executor and the CLI ask the runtime what runs.
pub use duckc_platform::{host_arch, host_platform, platform_arch};

/// How binaries of `platform` (`linux/arm64`) run on this machine.
pub fn support(platform: &str) -> Support {
    support_in(Path::new("/proc/sys/fs/binfmt_misc"), platform)
}

/// [`support`] against a binfmt_misc directory (for tests).
pub fn support_in(binfmt: &Path, platform: &str) -> Support {
    // Only the architecture matters: one emulator serves every variant.
    let arch = platform_arch(platform);
    if arch == host_arch() {
        return Support::Native;
    }
    let Some(target) = Arch::by_oci(arch, None) else {
        return Support::Missing(format!(
            "duckc knows no qemu-user emulator for `{platform}`"
        ));
    };
    if Arch::host().is_some_and(|host| host.runs(target)) {
        return Support::Native;
    }
    let entry = format!("qemu-{}", target.qemu);
    let how = "register qemu-user with binfmt_misc: `apt-get install qemu-user-static \
               binfmt-support` (the entry needs the `F` flag, which Debian's package sets)";
    match std::fs::read_to_string(binfmt.join(&entry)) {
        Ok(text) if text.starts_with("enabled") => {
            let fixed = text
                .lines()
                .find_map(|l| l.strip_prefix("flags:"))
                .is_some_and(|f| f.contains('F'));
            if fixed {
                Support::Emulated(entry)
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
        // Every 32-bit arm variant goes through the one `qemu-arm` entry, unless the host runs
        // them itself.
        if host_arch() != "arm64" {
            std::fs::write(dir.path().join("qemu-arm"), "enabled\nflags: F\n").unwrap();
            for p in ["linux/arm/v7", "linux/arm/v5", "linux/arm"] {
                assert_eq!(
                    support_in(dir.path(), p),
                    Support::Emulated("qemu-arm".into())
                );
            }
        }
        if host_arch() == "amd64" {
            assert_eq!(support_in(dir.path(), "linux/386"), Support::Native);
        }
    }
}
