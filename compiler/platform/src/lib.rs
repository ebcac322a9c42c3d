//! The CPU architectures duckc builds for, in one table: each row names one architecture as
//! Debian does (`armhf`, the `Packages` index to read), as OCI does (`arm` with variant `v7`,
//! what a manifest and `--platform` say), as qemu-user and binfmt_misc do (`qemu-arm`), and as
//! Rust does (`std::env::consts::ARCH`, to know the host's).
//!
//! The OCI names are the ones `oci_spec::image::Arch` prints (a unit test holds them to it);
//! this crate itself has no dependencies, because the syntax and Dockerfile frontends use it.
//!
//! ```
//! let armhf = duckc_platform::Arch::by_platform("linux/arm/v7").unwrap();
//! assert_eq!((armhf.debian, armhf.qemu), ("armhf", "arm"));
//! assert_eq!(duckc_platform::Arch::by_debian("armhf").unwrap().platform(), "linux/arm/v7");
//! ```

/// One architecture, under each of its names.
#[derive(Debug, PartialEq, Eq)]
pub struct Arch {
    /// Debian's name (`dpkg --print-architecture`): `amd64`, `armhf`, `ppc64el`.
    pub debian: &'static str,
    /// OCI's `architecture` (Go's GOARCH): `amd64`, `arm`, `ppc64le`.
    pub oci: &'static str,
    /// OCI's `variant`, where it tells this row from another of the same `oci` name (`v7`,
    /// `v5`); the platform written without a variant is the first row of its `oci` name.
    pub variant: Option<&'static str>,
    /// Other variants that name this row too: `v8` for arm64 (the only one there is), `v6`
    /// for armel (Debian's armel runs on ARMv6; Raspbian's v6 armhf is not Debian's).
    pub also: &'static [&'static str],
    /// qemu-user's name: the emulator `qemu-NAME`, and its binfmt_misc entry `qemu-NAME`.
    pub qemu: &'static str,
    /// Rust's `std::env::consts::ARCH` on this architecture (both 32-bit arm rows share `arm`).
    pub rust: &'static str,
    /// Debian names of the other architectures a machine of this one runs without emulation.
    pub runs: &'static [&'static str],
}

/// Every architecture duckc knows, Debian's release architectures first. Order matters: the
/// first row of an OCI name is the one that name means without a variant (`linux/arm` is
/// armhf, as containerd reads it), and help texts list the OCI names in this order.
pub const ARCHES: &[Arch] = &[
    Arch {
        debian: "amd64",
        oci: "amd64",
        variant: None,
        also: &[],
        qemu: "x86_64",
        rust: "x86_64",
        runs: &["i386"],
    },
    Arch {
        debian: "arm64",
        oci: "arm64",
        variant: None,
        also: &["v8"],
        qemu: "aarch64",
        rust: "aarch64",
        runs: &["armhf", "armel"],
    },
    Arch {
        debian: "armhf",
        oci: "arm",
        variant: Some("v7"),
        also: &[],
        qemu: "arm",
        rust: "arm",
        runs: &[],
    },
    Arch {
        debian: "armel",
        oci: "arm",
        variant: Some("v5"),
        also: &["v6"],
        qemu: "arm",
        rust: "arm",
        runs: &[],
    },
    Arch {
        debian: "i386",
        oci: "386",
        variant: None,
        also: &[],
        qemu: "i386",
        rust: "x86",
        runs: &[],
    },
    Arch {
        debian: "ppc64el",
        oci: "ppc64le",
        variant: None,
        also: &[],
        qemu: "ppc64le",
        rust: "powerpc64",
        runs: &[],
    },
    Arch {
        debian: "s390x",
        oci: "s390x",
        variant: None,
        also: &[],
        qemu: "s390x",
        rust: "s390x",
        runs: &[],
    },
    Arch {
        debian: "riscv64",
        oci: "riscv64",
        variant: None,
        also: &[],
        qemu: "riscv64",
        rust: "riscv64",
        runs: &[],
    },
    Arch {
        debian: "mips64el",
        oci: "mips64le",
        variant: None,
        also: &[],
        qemu: "mips64el",
        rust: "mips64",
        runs: &[],
    },
];

impl Arch {
    /// The row of a Debian architecture name.
    pub fn by_debian(name: &str) -> Option<&'static Arch> {
        ARCHES.iter().find(|a| a.debian == name)
    }

    /// The row of an OCI architecture and variant; without a variant, the first row of that
    /// architecture (`arm` is armhf).
    pub fn by_oci(arch: &str, variant: Option<&str>) -> Option<&'static Arch> {
        let mut rows = ARCHES.iter().filter(|a| a.oci == arch);
        match variant {
            None => rows.next(),
            Some(v) => rows.find(|a| a.variant == Some(v) || a.also.contains(&v)),
        }
    }

    /// The row of a Linux platform, `linux/ARCH[/VARIANT]`.
    pub fn by_platform(platform: &str) -> Option<&'static Arch> {
        let mut parts = platform.split('/');
        let (os, arch, variant) = (parts.next()?, parts.next()?, parts.next());
        if os != "linux" || parts.next().is_some() {
            return None;
        }
        Arch::by_oci(arch, variant)
    }

    /// This machine's row, if duckc knows its architecture.
    pub fn host() -> Option<&'static Arch> {
        // Rust's `powerpc64` and `mips64` are both endiannesses; Debian has only the little.
        if cfg!(target_endian = "big") && matches!(std::env::consts::ARCH, "powerpc64" | "mips64") {
            return None;
        }
        ARCHES.iter().find(|a| a.rust == std::env::consts::ARCH)
    }

    /// `linux/ARCH[/VARIANT]`: the OCI platform of this row.
    pub fn platform(&self) -> String {
        match self.variant {
            Some(v) => format!("linux/{}/{v}", self.oci),
            None => format!("linux/{}", self.oci),
        }
    }

    /// Whether a machine of this architecture runs binaries of `other` without emulation. The
    /// variant is not compared: one qemu-user emulator serves them all, so it could not help.
    pub fn runs(&self, other: &Arch) -> bool {
        self.oci == other.oci || self.runs.contains(&other.debian)
    }
}

/// The OCI names of [`ARCHES`], each once, in table order: what `linux/ARCH` may say.
pub fn oci_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = Vec::new();
    for a in ARCHES {
        if !names.contains(&a.oci) {
            names.push(a.oci);
        }
    }
    names
}

/// The OCI architecture name (`amd64`, `arm64`) of this machine; Rust's name for one duckc does
/// not know.
pub fn host_arch() -> &'static str {
    Arch::host().map_or(std::env::consts::ARCH, |a| a.oci)
}

/// `linux/amd64`: this machine's OCI platform, without a variant.
pub fn host_platform() -> String {
    format!("linux/{}", host_arch())
}

/// The architecture part of `os/arch[/variant]` (the whole text when it has no `/`).
pub fn platform_arch(platform: &str) -> &str {
    platform.split('/').nth(1).unwrap_or(platform)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table, read back through every lookup: Debian name, the platform it is, the other
    /// platform spellings that mean it, and its qemu-user name.
    #[test]
    fn every_name_maps_both_ways() {
        let expect: &[(&str, &str, &[&str], &str)] = &[
            ("amd64", "linux/amd64", &[], "x86_64"),
            ("arm64", "linux/arm64", &["linux/arm64/v8"], "aarch64"),
            ("armhf", "linux/arm/v7", &["linux/arm"], "arm"),
            ("armel", "linux/arm/v5", &["linux/arm/v6"], "arm"),
            ("i386", "linux/386", &[], "i386"),
            ("ppc64el", "linux/ppc64le", &[], "ppc64le"),
            ("s390x", "linux/s390x", &[], "s390x"),
            ("riscv64", "linux/riscv64", &[], "riscv64"),
            ("mips64el", "linux/mips64le", &[], "mips64el"),
        ];
        assert_eq!(ARCHES.len(), expect.len());
        for (row, (debian, platform, aliases, qemu)) in ARCHES.iter().zip(expect) {
            assert_eq!(row.debian, *debian);
            assert_eq!(row.platform(), *platform, "{debian}");
            assert_eq!(row.qemu, *qemu, "{debian}");
            assert_eq!(Arch::by_debian(debian), Some(row));
            for p in std::iter::once(platform).chain(aliases.iter()) {
                assert_eq!(Arch::by_platform(p), Some(row), "{p}");
            }
        }
    }

    #[test]
    fn oci_names_are_oci_specs() {
        for a in ARCHES {
            let oci = oci_spec::image::Arch::from(a.oci);
            assert!(
                !matches!(oci, oci_spec::image::Arch::Other(_)),
                "`{}` is not an OCI architecture",
                a.oci
            );
            assert_eq!(oci.to_string(), a.oci);
        }
        assert_eq!(
            oci_names(),
            [
                "amd64", "arm64", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le"
            ]
        );
    }

    #[test]
    fn unknown_platforms() {
        for p in [
            "linux/amd46",
            "windows/amd64",
            "linux",
            "linux/amd64/v8",
            "linux/arm/v8",
            "linux/arm64/v7",
            "linux/arm/v7/x",
            "",
        ] {
            assert_eq!(Arch::by_platform(p), None, "{p}");
        }
        assert_eq!(Arch::by_debian("arm"), None);
    }

    #[test]
    fn host_and_native() {
        let host = Arch::host().expect("duckc's test machines are in the table");
        assert_eq!(host_platform(), format!("linux/{}", host.oci));
        assert_eq!(host.rust, std::env::consts::ARCH);
        assert_eq!(platform_arch(&host_platform()), host.oci);
        let by = |d| Arch::by_debian(d).unwrap();
        assert!(by("amd64").runs(by("i386")));
        assert!(by("arm64").runs(by("armhf")));
        assert!(!by("amd64").runs(by("arm64")));
        assert!(!by("i386").runs(by("amd64")));
        assert!(by("armel").runs(by("armhf")));
    }
}
