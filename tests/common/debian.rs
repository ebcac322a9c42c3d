//! A real Debian repository made from the host's own installed packages: the Essential and
//! `Priority: required` packages, apt, and what they depend on, each packed again with
//! `dpkg-deb` from the files `dpkg -L` lists (as `dpkg-repack` does), plus the test package
//! `duck-hello`, indexed and signed as [`super::apt`] does. So `std/debian:bookworm` built from
//! it has a working apt, with no download from outside the machine.
//!
//! Built once per test binary; the caller serves it where its containers reach it (a bridge's
//! gateway).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::apt::{self, COMPONENT, SOURCE_DATE_EPOCH, TestPackage};

/// The package the tests install with `apt-get` inside a container.
pub const HELLO: TestPackage = TestPackage {
    name: "duck-hello",
    version: "1.0",
    architectures: &["all"],
    fields: "Priority: optional\nDepends: mawk\n",
    files: &[("usr/bin/duck-hello", "#!/bin/sh\necho quack from apt\n")],
    scripts: &[],
};

/// The built repository (not served yet).
pub struct HostRepo {
    pub root: PathBuf,
    pub keyring: PathBuf,
    /// The packages it holds, by name.
    pub packages: BTreeSet<String>,
}

/// One installed package as `dpkg-query` lists it.
struct Installed {
    /// `libc6:amd64` for `Multi-Arch: same` packages, else the name.
    binary: String,
    essential: bool,
    priority: String,
    depends: String,
    provides: String,
}

/// The repository, built on first use.
pub fn host_repo() -> &'static HostRepo {
    static REPO: OnceLock<HostRepo> = OnceLock::new();
    REPO.get_or_init(build)
}

fn installed() -> BTreeMap<String, Installed> {
    let out = Command::new("dpkg-query")
        .args([
            "-W",
            "-f=${Package}\t${binary:Package}\t${Essential}\t${Priority}\t${Pre-Depends}, ${Depends}\t${Provides}\t${db:Status-Abbrev}\n",
        ])
        .output()
        .expect("dpkg-query");
    let mut all = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 7 || !f[6].starts_with("ii") {
            continue;
        }
        all.insert(
            f[0].to_owned(),
            Installed {
                binary: f[1].to_owned(),
                essential: f[2] == "yes",
                priority: f[3].to_owned(),
                depends: f[4].to_owned(),
                provides: f[5].to_owned(),
            },
        );
    }
    all
}

/// Minbase's roots (Essential, required, apt) and every installed package their
/// `Pre-Depends`/`Depends` reach, taking the first installed alternative (or provider).
fn closure(all: &BTreeMap<String, Installed>) -> BTreeSet<String> {
    let mut providers: BTreeMap<String, String> = BTreeMap::new();
    for (name, p) in all {
        for v in p.provides.split(',') {
            if let Some(v) = v.split_whitespace().next() {
                providers
                    .entry(v.to_owned())
                    .or_insert_with(|| name.clone());
            }
        }
    }
    let mut todo: Vec<String> = all
        .iter()
        .filter(|(_, p)| p.essential || p.priority == "required")
        .map(|(n, _)| n.clone())
        .chain(["apt".to_owned()])
        .collect();
    let mut seen = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        for dep in all[&name].depends.split(',') {
            for alt in dep.split('|') {
                let Some(word) = alt.split_whitespace().next() else {
                    continue;
                };
                let dep = word.split(':').next().unwrap_or(word);
                if all.contains_key(dep) {
                    todo.push(dep.to_owned());
                    break;
                }
                if let Some(p) = providers.get(dep) {
                    todo.push(p.clone());
                    break;
                }
            }
        }
    }
    seen
}

fn build() -> HostRepo {
    let base =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("duckc-debian-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let root = base.join("repo");
    let work = base.join("build");
    let arch = String::from_utf8_lossy(
        &Command::new("dpkg")
            .arg("--print-architecture")
            .output()
            .expect("dpkg")
            .stdout,
    )
    .trim()
    .to_owned();
    let all = installed();
    let wanted = closure(&all);
    let mut paragraphs = Vec::new();
    for name in &wanted {
        paragraphs.push(repack(&root, &work, &all[name].binary));
    }
    let (deb, control) = apt::build_deb(&root, &work, &HELLO, "all");
    paragraphs.push(paragraph(&root, &deb, &control));
    let mut by_arch = BTreeMap::new();
    by_arch.insert(arch.as_str(), paragraphs);
    let (keyring, _) = apt::index_and_sign(&root, &base, &by_arch);
    let _ = std::fs::remove_dir_all(&work);
    let mut packages = wanted;
    packages.insert(HELLO.name.to_owned());
    HostRepo {
        root,
        keyring,
        packages,
    }
}

/// The `Packages` paragraph of the `.deb` at `deb` (relative to `root`).
fn paragraph(root: &Path, deb: &str, control: &str) -> String {
    let path = root.join(deb);
    let size = std::fs::metadata(&path).unwrap().len();
    format!(
        "{}\nFilename: {deb}\nSize: {size}\nSHA256: {}\n",
        control.trim_end(),
        apt::sha256(&path)
    )
}

/// Pack the installed package `binary` again; returns its `Packages` paragraph.
fn repack(root: &Path, work: &Path, binary: &str) -> String {
    let name = binary.split(':').next().unwrap_or(binary);
    let dir = work.join(binary.replace(':', "_"));
    std::fs::create_dir_all(dir.join("DEBIAN")).unwrap();
    let status = String::from_utf8_lossy(
        &Command::new("dpkg-query")
            .args(["-s", binary])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    // The status paragraph less what only the status file has.
    let mut control = String::new();
    let mut keep = false;
    for line in status.lines() {
        if !line.starts_with([' ', '\t']) {
            let field = line.split(':').next().unwrap_or("");
            keep = !matches!(field, "Status" | "Conffiles" | "Config-Version" | "");
        }
        if keep {
            control.push_str(line);
            control.push('\n');
        }
    }
    std::fs::write(dir.join("DEBIAN/control"), &control).unwrap();
    let listed = String::from_utf8_lossy(
        &Command::new("dpkg-query")
            .args(["-L", binary])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    let paths: BTreeSet<&str> = listed
        .lines()
        .filter(|l| l.starts_with('/') && *l != "/.")
        .collect();
    for path in &paths {
        let host = Path::new(path);
        let to = dir.join(path.trim_start_matches('/'));
        let prefix = format!("{path}/");
        // A path the package lists others under is a directory in the package, even where
        // the host has a link (`/bin` → `usr/bin` on merged /usr).
        let is_dir = paths.iter().any(|p| p.starts_with(&prefix));
        let Ok(meta) = std::fs::symlink_metadata(host) else {
            continue; // excluded on this host (docs, locales)
        };
        if is_dir || meta.is_dir() {
            std::fs::create_dir_all(&to).unwrap();
            let mode = std::fs::metadata(host).map_or(0o755, |m| m.mode() & 0o7777);
            apt::set_mode(&to, mode);
        } else if meta.file_type().is_symlink() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::os::unix::fs::symlink(std::fs::read_link(host).unwrap(), &to).unwrap();
        } else if meta.is_file() {
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(host, &to).unwrap();
        }
    }
    let info = Path::new("/var/lib/dpkg/info");
    for part in [
        "preinst",
        "postinst",
        "prerm",
        "postrm",
        "config",
        "templates",
        "triggers",
        "shlibs",
        "symbols",
    ] {
        let from = info.join(format!("{binary}.{part}"));
        if from.is_file() {
            let to = dir.join("DEBIAN").join(part);
            std::fs::copy(&from, &to).unwrap();
        }
    }
    // Conffiles the host still has (dpkg-deb refuses one missing from the tree).
    if let Ok(text) = std::fs::read_to_string(info.join(format!("{binary}.conffiles"))) {
        let present: Vec<&str> = text
            .lines()
            .filter(|l| {
                let p = l.split_whitespace().next().unwrap_or("");
                !p.is_empty() && dir.join(p.trim_start_matches('/')).is_file()
            })
            .collect();
        if !present.is_empty() {
            std::fs::write(dir.join("DEBIAN/conffiles"), present.join("\n") + "\n").unwrap();
        }
    }
    let version = control
        .lines()
        .find_map(|l| l.strip_prefix("Version: "))
        .unwrap_or("0")
        .replace(':', "%3a");
    let arch = control
        .lines()
        .find_map(|l| l.strip_prefix("Architecture: "))
        .unwrap_or("all");
    let first = if name.starts_with("lib") && name.len() > 3 {
        &name[..4]
    } else {
        &name[..1]
    };
    let deb = format!("pool/{COMPONENT}/{first}/{name}/{name}_{version}_{arch}.deb");
    std::fs::create_dir_all(root.join(&deb).parent().unwrap()).unwrap();
    // Uncompressed: the files are read once more by duckc and by apt, never stored long.
    apt::run(
        Command::new("dpkg-deb")
            .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
            .args(["--root-owner-group", "--nocheck", "-Znone", "--build"])
            .arg(&dir)
            .arg(root.join(&deb)),
    );
    let _ = std::fs::remove_dir_all(&dir);
    paragraph(root, &deb, &control)
}
