//! The dpkg database of an image built from package layers: `var/lib/dpkg/status` with an entry
//! per package, and `info/<pkg>.{list,md5sums,conffiles,postinst,…}`, written as one layer so
//! `dpkg -l` inside lists every package and `apt-get install` works on top.
//!
//! Packages are recorded the way `dpkg --unpack` leaves them: `install ok unpacked`, new
//! conffiles as `newconffile` (their file is `PATH.dpkg-new` in the package layer). The
//! configure step (`dpkg --configure -a`, see [`crate::layers`]) then moves them to
//! `install ok installed`. Packages with nothing to configure are written installed directly
//! when the image has no real dpkg to do it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use crate::deb::Control;

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

/// One `interest*` directive of a package's `triggers` control file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interest {
    /// A file trigger (an absolute path) or an explicit trigger's name.
    pub trigger: String,
    /// `interest-noawait`: the activating package need not wait for it.
    pub noawait: bool,
}

impl PackageInfo {
    /// The triggers this package is interested in, as its `triggers` control file declares
    /// them (`interest`, `interest-await`, `interest-noawait`). Names dpkg would refuse
    /// (explicit names that are not package-name-like, relative or `..` paths) are skipped.
    pub fn trigger_interests(&self) -> Vec<Interest> {
        let Some(bytes) = self.control.files.get("triggers") else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for line in String::from_utf8_lossy(bytes).lines() {
            let line = line.split('#').next().unwrap_or_default();
            let mut words = line.split_whitespace();
            let (Some(directive), Some(trigger), None) = (words.next(), words.next(), words.next())
            else {
                continue;
            };
            let noawait = match directive {
                "interest" | "interest-await" => false,
                "interest-noawait" => true,
                _ => continue,
            };
            if valid_trigger(trigger) {
                out.push(Interest {
                    trigger: trigger.to_owned(),
                    noawait,
                });
            }
        }
        out
    }
}

/// Whether dpkg accepts `name` as a trigger: an absolute path with no empty, `.` or `..`
/// component, or an explicit name (letters, digits, `+-.`, starting with a letter or digit:
/// the name of a file in `triggers/`, never one of dpkg's own files there).
fn valid_trigger(name: &str) -> bool {
    if let Some(path) = name.strip_prefix('/') {
        return path
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
            && !name.contains(|c: char| c.is_control() || c.is_whitespace());
    }
    name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !["File", "Unincorp", "Lock"].contains(&name)
        && !name.ends_with(".new")
}

/// Whether a file-trigger interest in `interest` is activated by `path` (the path itself or
/// anything under it, as dpkg activates a file's parents).
fn activates(interest: &str, path: &str) -> bool {
    path.strip_prefix(interest)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The files of `var/lib/dpkg/triggers/` after unpacking `packages` over a parent whose files
/// there `parent` reads by name (`File`, `Unincorp`, an explicit trigger's name): the
/// bookkeeping `dpkg --unpack` does and duckc's unpacking would otherwise skip.
///
/// - `File` (file-trigger interests, `PATH PKG[/noawait]`) and one file per explicit trigger
///   (`PKG[/noawait]` lines) keep the parent's lines and add each package's interests, so that
///   `dpkg-trigger` in a maintainer script, and packages installed later, reach them. A package
///   installed again replaces its old lines.
/// - `Unincorp` (activations dpkg has not processed yet) gets `PATH -` for each interest of a
///   parent package in a path a new package ships (dpkg activates file triggers as it unpacks);
///   `dpkg --configure -a` reads it and runs those packages' `postinst triggered`. Interests of
///   the new packages themselves need no activation: their `postinst configure` runs anyway.
///
/// Returns file name → content; lines are in a fixed order (the parent's, then the packages'
/// by name), so the layer is reproducible.
pub fn trigger_files(
    parent: &dyn Fn(&str) -> Option<String>,
    packages: &[&PackageInfo],
) -> BTreeMap<String, String> {
    let mut sorted: Vec<&PackageInfo> = packages.to_vec();
    sorted.sort_by_key(|p| p.info_name());
    let new_names: BTreeSet<String> = sorted.iter().map(|p| p.info_name()).collect();
    // `PKG[/opts]` → PKG, for comparing a parent line with a package installed here.
    let owner = |entry: &str| entry.split('/').next().unwrap_or_default().to_owned();
    let interest_line = |p: &PackageInfo, i: &Interest| {
        format!(
            "{}{}",
            p.info_name(),
            if i.noawait { "/noawait" } else { "" }
        )
    };

    let mut out = BTreeMap::new();
    // File triggers.
    let parent_file = parent("File").unwrap_or_default();
    let mut file = String::new();
    let mut unincorp = parent("Unincorp").unwrap_or_default();
    if !unincorp.is_empty() && !unincorp.ends_with('\n') {
        unincorp.push('\n');
    }
    let mut activated = BTreeSet::new();
    for line in parent_file.lines() {
        let Some((path, entry)) = line.split_once(' ') else {
            continue;
        };
        if new_names.contains(&owner(entry)) {
            continue;
        }
        let _ = writeln!(file, "{line}");
        let hit = sorted
            .iter()
            .any(|p| p.list.iter().any(|l| activates(path, l)));
        if hit && activated.insert(path.to_owned()) {
            let _ = writeln!(unincorp, "{path} -");
        }
    }
    let mut explicit: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in &sorted {
        for i in p.trigger_interests() {
            if i.trigger.starts_with('/') {
                let _ = writeln!(file, "{} {}", i.trigger, interest_line(p, &i));
            } else {
                explicit
                    .entry(i.trigger.clone())
                    .or_default()
                    .push(interest_line(p, &i));
            }
        }
    }
    out.insert("File".to_owned(), file);
    out.insert("Unincorp".to_owned(), unincorp);
    // Explicit triggers.
    for (name, lines) in explicit {
        let mut content = String::new();
        for line in parent(&name).unwrap_or_default().lines() {
            if !line.is_empty() && !new_names.contains(&owner(line)) {
                let _ = writeln!(content, "{line}");
            }
        }
        for line in lines {
            let _ = writeln!(content, "{line}");
        }
        out.insert(name, content);
    }
    out
}

/// Writes [`trigger_files`] under `root/var/lib/dpkg/triggers/`.
pub fn write_triggers(
    root: &Path,
    parent: &dyn Fn(&str) -> Option<String>,
    packages: &[&PackageInfo],
) -> std::io::Result<()> {
    let dir = root.join("var/lib/dpkg/triggers");
    std::fs::create_dir_all(&dir)?;
    for (name, content) in trigger_files(parent, packages) {
        std::fs::write(dir.join(name), content)?;
    }
    Ok(())
}

/// The packages to configure before the rest: the `Essential: yes` ones of `packages` and,
/// transitively, every package of `packages` that could satisfy one of their `Pre-Depends` or
/// `Depends` (each alternative, and each provider of a virtual name), in the order given.
///
/// debootstrap and mmdebstrap configure the Essential set first and the rest afterwards;
/// packages rely on that without declaring it (`passwd`'s `shadowconfig` reads
/// `/etc/login.defs`, which `login` installs when it is configured), and a single
/// `dpkg --configure -a` would configure them in name order instead. Taking every alternative
/// keeps the set closed, so dpkg never finds a dependency left for later.
pub fn essential_closure<'a>(packages: &[&'a PackageInfo]) -> Vec<&'a PackageInfo> {
    let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in packages.iter().enumerate() {
        by_name.entry(p.name.as_str()).or_default().push(i);
        for provided in p.control.field("Provides").unwrap_or_default().split(',') {
            if let Some(name) = provided.split_whitespace().next() {
                by_name.entry(name).or_default().push(i);
            }
        }
    }
    let mut wanted = vec![false; packages.len()];
    let mut todo: Vec<usize> = packages
        .iter()
        .enumerate()
        .filter(|(_, p)| {
            p.control
                .field("Essential")
                .is_some_and(|e| e.trim().eq_ignore_ascii_case("yes"))
        })
        .map(|(i, _)| i)
        .collect();
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut wanted[i], true) {
            continue;
        }
        for field in ["Pre-Depends", "Depends"] {
            let value = packages[i].control.field(field).unwrap_or_default();
            for alternative in value.split([',', '|']) {
                let Some(name) = alternative.split_whitespace().next() else {
                    continue;
                };
                let name = name.split(':').next().unwrap_or(name);
                let name = name.split('(').next().unwrap_or(name);
                for &j in by_name.get(name).into_iter().flatten() {
                    if !wanted[j] {
                        todo.push(j);
                    }
                }
            }
        }
    }
    packages
        .iter()
        .zip(wanted)
        .filter(|(_, w)| *w)
        .map(|(p, _)| *p)
        .collect()
}

/// The shell line that configures [`essential_closure`] of `packages` before
/// `dpkg --configure -a` runs: `dpkg --configure 'a' 'b' || true`, or nothing when there is
/// no Essential package. A failure there is left to the `-a` run, which retries the package
/// and reports it.
pub fn configure_essential_first(packages: &[&PackageInfo]) -> String {
    let names: Vec<String> = essential_closure(packages)
        .iter()
        .map(|p| format!("'{}'", p.info_name().replace('\'', r"'\''")))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("dpkg --configure {} || true\n", names.join(" "))
    }
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

    #[test]
    fn trigger_interests_are_registered_and_parent_file_triggers_activated() {
        let mut glib = info("libglib", "Package: libglib\nMulti-Arch: same\n", &[]);
        glib.control.files.insert(
            "triggers".into(),
            b"# comment\ninterest-noawait /usr/lib/gio/modules\ninterest /usr/share/schemas\n\
              activate-noawait ldconfig\ninterest ../bad\ninterest File\ninterest sgml-cat extra\n"
                .to_vec(),
        );
        let mut sgml = info("sgml-base", "Package: sgml-base\n", &[]);
        sgml.control
            .files
            .insert("triggers".into(), b"interest update-sgmlcatalog\n".to_vec());
        let mut fonts = info("fonts-duck", "Package: fonts-duck\n", &[]);
        fonts.list = [
            "/.",
            "/usr",
            "/usr/share",
            "/usr/share/fonts",
            "/usr/share/fonts/duck.ttf",
        ]
        .map(str::to_owned)
        .to_vec();
        // The parent: fontconfig watches fonts, an old sgml-base is installed again here, and
        // another package already waits for the explicit trigger.
        let parent = |name: &str| -> Option<String> {
            match name {
                "File" => Some(
                    "/usr/share/fonts fontconfig/noawait\n/usr/share/fontsx other\n\
                     /usr/share/sgml sgml-base\n/usr/share/debianutils/shells.d debianutils/noawait\n"
                        .into(),
                ),
                "update-sgmlcatalog" => Some("sgml-base\nxml-core/noawait\n".into()),
                _ => None,
            }
        };
        let files = trigger_files(&parent, &[&sgml, &fonts, &glib]);
        insta::assert_snapshot!(files["File"], @r"
        /usr/share/fonts fontconfig/noawait
        /usr/share/fontsx other
        /usr/share/debianutils/shells.d debianutils/noawait
        /usr/lib/gio/modules libglib:amd64/noawait
        /usr/share/schemas libglib:amd64
        ");
        assert_eq!(files["Unincorp"], "/usr/share/fonts -\n");
        assert_eq!(files["update-sgmlcatalog"], "xml-core/noawait\nsgml-base\n");
        assert_eq!(files.len(), 3, "{files:?}");

        // Nothing of the parent's is hit: an empty `Unincorp`, the parent's lines kept.
        let files = trigger_files(&parent, &[&glib]);
        assert_eq!(files["Unincorp"], "");
        assert!(files["File"].starts_with("/usr/share/fonts fontconfig/noawait\n"));
        assert!(!files.contains_key("update-sgmlcatalog"));
    }

    #[test]
    fn the_essential_closure_takes_every_alternative_and_provider() {
        let pkg = |name: &str, fields: &str| info(name, &format!("Package: {name}\n{fields}"), &[]);
        let login = pkg(
            "login",
            "Essential: yes\nPre-Depends: libpam-runtime, libc6 (>= 2.34)\n",
        );
        let pam = pkg(
            "libpam-runtime",
            "Depends: debconf (>= 0.5) | debconf-2.0\n",
        );
        let debconf = pkg("debconf", "");
        let cdebconf = pkg("cdebconf", "Provides: debconf-2.0\n");
        let libc = pkg("libc6", "Depends: libgcc-s1:any\n");
        let gcc = pkg("libgcc-s1", "");
        let passwd = pkg("passwd", "Depends: libpam-runtime\n");
        let mawk = pkg("mawk", "Provides: awk\n");
        let base = pkg("base-files", "Essential: yes\nPre-Depends: awk\n");
        let all = [
            &passwd, &login, &pam, &debconf, &cdebconf, &libc, &gcc, &mawk, &base,
        ];
        let names: Vec<&str> = essential_closure(&all)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(
            names,
            [
                "login",
                "libpam-runtime",
                "debconf",
                "cdebconf",
                "libc6",
                "libgcc-s1",
                "mawk",
                "base-files"
            ]
        );
        assert!(essential_closure(&[&passwd, &pam]).is_empty());
        assert_eq!(
            configure_essential_first(&[&passwd, &mawk, &gcc, &base]),
            "dpkg --configure 'mawk' 'base-files' || true\n"
        );
        assert_eq!(configure_essential_first(&[&passwd]), "");
    }
}
