//! The dpkg database of an image built from package layers: `var/lib/dpkg/status` with an entry
//! per package, and `info/<pkg>.{list,md5sums,conffiles,postinst,…}`, written as one layer so
//! `dpkg -l` inside lists every package and `apt-get install` works on top.
//!
//! Packages are recorded the way `dpkg --unpack` leaves them: `install ok unpacked`, new
//! conffiles as `newconffile` (their file is `PATH.dpkg-new` in the package layer). The
//! configure step (`dpkg --configure -a`, see [`crate::layers`]) then moves them to
//! `install ok installed`. Packages with nothing to configure are written installed directly
//! when the image has no real dpkg to do it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Read;
use std::path::Path;

use md5::Digest as _;

use crate::deb::{self, Control};

/// The dpkg status of a package.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Unpacked,
    Installed,
}

/// What the dpkg database needs to know about one package, read from its `.deb`.
#[derive(Debug, Clone)]
pub struct PackageInfo {
    pub name: String,
    pub architecture: String,
    pub version: String,
    pub control: Control,
    /// `info/<pkg>.list`: every path of `data.tar` as dpkg records it (`/.`, `/usr`, …).
    pub list: Vec<String>,
    /// conffile path → md5 of its content as shipped.
    pub conffiles: BTreeMap<String, String>,
}

impl PackageInfo {
    /// Reads `.deb` at `path`: its control part and the names in its data part.
    pub fn read(path: &Path) -> deb::Result<PackageInfo> {
        let control = deb::read_control(path)?;
        let wanted: Vec<String> = control.conffiles();
        let invalid = |what: String| deb::Error::Invalid {
            path: path.to_owned(),
            what,
        };
        let (list, conffiles) = deb::with_data(path, |reader| {
            let mut list = Vec::new();
            let mut conffiles = BTreeMap::new();
            let mut archive = tar::Archive::new(reader);
            let entries = archive
                .entries()
                .map_err(|e| invalid(format!("data.tar: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| invalid(format!("data.tar: {e}")))?;
                let raw = entry.path_bytes().into_owned();
                let name = String::from_utf8_lossy(&raw);
                let name = name.trim_start_matches('.').trim_end_matches('/');
                let name = if name.is_empty() {
                    "/.".to_owned()
                } else if name.starts_with('/') {
                    name.to_owned()
                } else {
                    format!("/{name}")
                };
                if wanted.contains(&name) && entry.header().entry_type().is_file() {
                    let mut hasher = md5::Md5::new();
                    let mut buf = [0u8; 64 * 1024];
                    loop {
                        let n = entry
                            .read(&mut buf)
                            .map_err(|e| invalid(format!("data.tar: {e}")))?;
                        if n == 0 {
                            break;
                        }
                        hasher.update(&buf[..n]);
                    }
                    conffiles.insert(name.clone(), hex::encode(hasher.finalize()));
                }
                list.push(name);
            }
            Ok((list, conffiles))
        })?;
        let field = |f: &str| control.field(f).unwrap_or_default().to_owned();
        Ok(PackageInfo {
            name: field("Package"),
            architecture: field("Architecture"),
            version: field("Version"),
            list,
            conffiles,
            control,
        })
    }

    /// The name dpkg files this package's info under: `pkg:arch` for `Multi-Arch: same`.
    pub fn info_name(&self) -> String {
        if self
            .control
            .field("Multi-Arch")
            .is_some_and(|m| m.trim() == "same")
        {
            format!("{}:{}", self.name, self.architecture)
        } else {
            self.name.clone()
        }
    }

    /// Whether configuring does anything: a `preinst` or `postinst` to run, or conffiles to
    /// install. (duckc unpacks without dpkg, so a `preinst` runs in the configure step.)
    pub fn needs_configure(&self) -> bool {
        self.control.files.contains_key("preinst")
            || self.control.files.contains_key("postinst")
            || !self.conffiles.is_empty()
    }

    /// The package's paragraph of `status`, with its state (and a trailing blank line).
    pub fn status_entry(&self, state: State) -> String {
        let mut out = String::new();
        let status = match state {
            State::Unpacked => "install ok unpacked",
            State::Installed => "install ok installed",
        };
        let mut skipping = false;
        for (i, line) in self.control.text.lines().enumerate() {
            if line.trim().is_empty() {
                break;
            }
            let continuation = line.starts_with([' ', '\t']);
            if !continuation {
                let field = line.split(':').next().unwrap_or_default();
                skipping =
                    field.eq_ignore_ascii_case("Status") || field.eq_ignore_ascii_case("Conffiles");
            }
            if skipping {
                continue;
            }
            out.push_str(line);
            out.push('\n');
            if i == 0 {
                let _ = writeln!(out, "Status: {status}");
            }
        }
        if !self.conffiles.is_empty() {
            out.push_str("Conffiles:\n");
            for (path, md5) in &self.conffiles {
                let hash = match state {
                    State::Unpacked => "newconffile",
                    State::Installed => md5,
                };
                let _ = writeln!(out, " {path} {hash}");
            }
        }
        out.push('\n');
        out
    }
}

/// The `status` file: the parent's entries (minus any package reinstalled here) followed by
/// the new packages' entries, sorted by name and architecture.
pub fn status_file(parent: &str, packages: &[(&PackageInfo, State)]) -> String {
    let mut out = String::new();
    for paragraph in parent.split("\n\n") {
        let paragraph = paragraph.trim_matches('\n');
        if paragraph.is_empty() {
            continue;
        }
        let field = |name: &str| {
            paragraph.lines().find_map(|l| {
                l.split_once(':')
                    .filter(|(f, _)| f.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.trim().to_owned())
            })
        };
        let (name, arch) = (field("Package"), field("Architecture"));
        let replaced = packages.iter().any(|(p, _)| {
            Some(&p.name) == name.as_ref()
                && (arch.is_none() || Some(&p.architecture) == arch.as_ref())
        });
        if !replaced {
            out.push_str(paragraph);
            out.push_str("\n\n");
        }
    }
    let mut new: Vec<&(&PackageInfo, State)> = packages.iter().collect();
    new.sort_by(|a, b| (&a.0.name, &a.0.architecture).cmp(&(&b.0.name, &b.0.architecture)));
    for (p, state) in new {
        out.push_str(&p.status_entry(*state));
    }
    out
}

/// Maintainer scripts are executable; the other info files are not.
pub const SCRIPTS: &[&str] = &["preinst", "postinst", "prerm", "postrm", "config"];

/// Writes `var/lib/dpkg/info/*` for `packages` under `root`.
pub fn write_info(root: &Path, packages: &[&PackageInfo]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let info = root.join("var/lib/dpkg/info");
    std::fs::create_dir_all(&info)?;
    for p in packages {
        let base = p.info_name();
        let mut list = p.list.join("\n");
        list.push('\n');
        std::fs::write(info.join(format!("{base}.list")), list)?;
        for (name, bytes) in &p.control.files {
            // Only plain names: a control member like `../x` never leaves info/.
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                continue;
            }
            let path = info.join(format!("{base}.{name}"));
            std::fs::write(&path, bytes)?;
            let mode = if SCRIPTS.contains(&name.as_str()) {
                0o755
            } else {
                0o644
            };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, control: &str, conffiles: &[(&str, &str)]) -> PackageInfo {
        PackageInfo {
            name: name.into(),
            architecture: "amd64".into(),
            version: "1".into(),
            control: Control {
                text: control.into(),
                paragraph: crate::control::parse(control).unwrap().remove(0),
                files: BTreeMap::new(),
            },
            list: vec!["/.".into()],
            conffiles: conffiles
                .iter()
                .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn status_entries_and_merge() {
        let a = info(
            "a",
            "Package: a\nVersion: 1\nArchitecture: amd64\nDescription: x\n more\n",
            &[("/etc/a.conf", "0123")],
        );
        let b = info(
            "b",
            "Package: b\nStatus: junk\nVersion: 2\nArchitecture: amd64\n",
            &[],
        );
        let parent = "Package: old\nStatus: install ok installed\nArchitecture: all\n\nPackage: b\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\n";
        let status = status_file(parent, &[(&b, State::Installed), (&a, State::Unpacked)]);
        insta::assert_snapshot!(status, @r"
        Package: old
        Status: install ok installed
        Architecture: all

        Package: a
        Status: install ok unpacked
        Version: 1
        Architecture: amd64
        Description: x
         more
        Conffiles:
         /etc/a.conf newconffile

        Package: b
        Status: install ok installed
        Version: 2
        Architecture: amd64
        ");
        assert!(
            a.status_entry(State::Installed)
                .contains(" /etc/a.conf 0123\n")
        );
    }
}
