//! `duck.lock`: every package each env installs, per platform, pinned by sha256, with the digest
//! of the Release file it was resolved against. KDL, sorted, one package per line, so a change
//! in the lock is a readable diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kdl::{KdlDocument, KdlNode};

use crate::download::Download;
use crate::index::Package;
use crate::source::Repository;

/// The lock format this code reads and writes.
pub const VERSION: i128 = 1;

/// The whole lock file: env name → platform (`linux/amd64`) → what is pinned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Lock {
    pub envs: BTreeMap<String, BTreeMap<String, PlatformLock>>,
    /// Registry bases, as the spec names them (`host:port/repo:tag`) → the `sha256:…` digest
    /// the registry resolved the name to when it was pinned (`build --locked` uses exactly it).
    pub bases: BTreeMap<String, String>,
}

/// What one env installs on one platform.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformLock {
    /// The suite and components resolved against, and `sha256:…` of their Release file.
    pub repository: LockedRepository,
    /// The request this was resolved from (sorted): a different request makes the entry stale.
    pub request: Vec<String>,
    /// Sorted by name, then architecture.
    pub packages: Vec<LockedPackage>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedRepository {
    pub suite: String,
    pub components: Vec<String>,
    pub release: String,
    /// The repository's URI without credentials, recorded only for a step whose image
    /// carries its apt sources (`apt-sources=#true`): there it is part of the image.
    pub uri: Option<String>,
}

/// One pinned package.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LockedPackage {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// Relative to the repository root: `pool/main/…/x_1_amd64.deb`.
    pub path: String,
    pub size: u64,
    pub sha256: String,
}

impl From<&Package> for LockedPackage {
    fn from(p: &Package) -> Self {
        LockedPackage {
            name: p.name.clone(),
            version: p.version.to_string(),
            architecture: p.architecture.clone(),
            path: p.filename.clone(),
            size: p.size,
            sha256: p.sha256.clone(),
        }
    }
}

impl LockedPackage {
    /// What to fetch for this package from `repository` (any mirror: the sha256 decides).
    pub fn download(&self, repository: &Repository) -> Download {
        let name = self
            .path
            .rsplit('/')
            .next()
            .unwrap_or(&self.path)
            .to_owned();
        Download {
            name,
            url: repository.url(&self.path),
            size: self.size,
            sha256: self.sha256.clone(),
        }
    }
}

impl PlatformLock {
    /// A lock entry for `packages` resolved from `request` against `repository`.
    pub fn new(
        repository: &Repository,
        release: &str,
        request: &[String],
        packages: &[Package],
    ) -> PlatformLock {
        let mut request = request.to_vec();
        request.sort();
        request.dedup();
        let mut packages: Vec<LockedPackage> = packages.iter().map(LockedPackage::from).collect();
        packages.sort();
        PlatformLock {
            repository: LockedRepository {
                suite: repository.suite.clone(),
                components: repository.components.clone(),
                release: release.to_owned(),
                uri: None,
            },
            request,
            packages,
        }
    }
}

/// Something the lock does not hold, named as `--locked` reports it.
/// Code `packages::lock_stale`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum NotLocked {
    #[error("env `{env}` is not in the lock")]
    #[diagnostic(
        code(packages::lock_stale),
        help(
            "run `duckc lock` (or `duckc build` without `--locked`) to bring `duck.lock` up to date, then commit it"
        )
    )]
    Env { env: String },
    #[error("env `{env}` has no lock for platform `{platform}`")]
    #[diagnostic(
        code(packages::lock_stale),
        help(
            "run `duckc lock` (or `duckc build` without `--locked`) to bring `duck.lock` up to date, then commit it"
        )
    )]
    Platform { env: String, platform: String },
    #[error("package `{package}` of env `{env}` ({platform}) is not in the lock")]
    #[diagnostic(
        code(packages::lock_stale),
        help(
            "run `duckc lock` (or `duckc build` without `--locked`) to bring `duck.lock` up to date, then commit it"
        )
    )]
    Package {
        env: String,
        platform: String,
        package: String,
    },
    #[error(
        "the lock of env `{env}` ({platform}) also pins `{package}`, which the env no longer asks for"
    )]
    #[diagnostic(
        code(packages::lock_stale),
        help(
            "run `duckc lock` (or `duckc build` without `--locked`) to bring `duck.lock` up to date, then commit it"
        )
    )]
    Extra {
        env: String,
        platform: String,
        package: String,
    },
}

/// Why `duck.lock` could not be read or written. Codes `packages::lock_…`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("{}: {what}", path.display())]
    #[diagnostic(
        code(packages::lock_invalid),
        help(
            "`duck.lock` is written by duckc: undo the hand edit or merge that broke it, or delete it and run `duckc lock` to write it again"
        )
    )]
    Invalid { path: PathBuf, what: String },
    #[error("cannot read `{}`: {source}", path.display())]
    #[diagnostic(code(packages::lock_read), help("check the file's permissions"))]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::lock_write),
        help("`duck.lock` is written beside the spec: check that its directory is writable")
    )]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Lock {
    /// Read `path`; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Lock> {
        match std::fs::read_to_string(path) {
            Ok(text) => Lock::parse(&text).map_err(|what| Error::Invalid {
                path: path.to_owned(),
                what,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Lock::default()),
            Err(source) => Err(Error::Read {
                path: path.to_owned(),
                source,
            }),
        }
    }

    /// Write `path` atomically (temporary file, sync, rename).
    pub fn write(&self, path: &Path) -> Result<()> {
        let err = |source| Error::Write {
            path: path.to_owned(),
            source,
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(err)?;
        std::io::Write::write_all(&mut tmp, self.to_string().as_bytes()).map_err(err)?;
        tmp.as_file().sync_all().map_err(err)?;
        tmp.persist(path).map_err(|e| err(e.error))?;
        Ok(())
    }

    /// Set what `env` installs on `platform`.
    pub fn set(&mut self, env: &str, platform: &str, lock: PlatformLock) {
        self.envs
            .entry(env.to_owned())
            .or_default()
            .insert(platform.to_owned(), lock);
    }

    /// Take every env and platform of `other`, replacing ours where both have one.
    pub fn merge(&mut self, other: Lock) {
        for (env, platforms) in other.envs {
            for (platform, lock) in platforms {
                self.set(&env, &platform, lock);
            }
        }
    }

    /// Keep only the (env, platform) entries in `keep` (envs removed from the spec, platforms
    /// no env asks for any more).
    pub fn retain(&mut self, keep: &[(&str, &str)]) {
        self.envs.retain(|e, platforms| {
            platforms.retain(|p, _| keep.contains(&(e.as_str(), p.as_str())));
            !platforms.is_empty()
        });
    }

    /// The pinned packages of `env` on `platform`, if the lock was made for exactly `request`;
    /// otherwise the first thing that is missing (or no longer asked for).
    pub fn locked(
        &self,
        env: &str,
        platform: &str,
        request: &[String],
    ) -> Result<&PlatformLock, NotLocked> {
        let platforms = self.envs.get(env).ok_or_else(|| NotLocked::Env {
            env: env.to_owned(),
        })?;
        let lock = platforms.get(platform).ok_or_else(|| NotLocked::Platform {
            env: env.to_owned(),
            platform: platform.to_owned(),
        })?;
        if let Some(missing) = request.iter().find(|r| !lock.request.contains(r)) {
            return Err(NotLocked::Package {
                env: env.to_owned(),
                platform: platform.to_owned(),
                package: missing.clone(),
            });
        }
        if let Some(extra) = lock.request.iter().find(|r| !request.contains(r)) {
            return Err(NotLocked::Extra {
                env: env.to_owned(),
                platform: platform.to_owned(),
                package: extra.clone(),
            });
        }
        Ok(lock)
    }

    /// Parse the text of a lock file; the error names the line.
    pub fn parse(text: &str) -> std::result::Result<Lock, String> {
        let doc = KdlDocument::parse(text).map_err(|e| crate::kdl_error_message(&e))?;
        let line = |node: &KdlNode| {
            text[..node.span().offset().min(text.len())]
                .matches('\n')
                .count()
                + 1
        };
        let mut lock = Lock::default();
        let mut version = None;
        for node in doc.nodes() {
            let at = |what: String| format!("line {}: {what}", line(node));
            match node.name().value() {
                "version" => version = node.get(0).and_then(|v| v.as_integer()),
                "base" => {
                    let name = string_arg(node).ok_or_else(|| at("`base` needs a name".into()))?;
                    let digest = node
                        .get("digest")
                        .and_then(|v| v.as_string())
                        .ok_or_else(|| at("`base` needs `digest=\"sha256:…\"`".into()))?;
                    let hex = digest.strip_prefix("sha256:").unwrap_or("");
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(at(format!("bad digest `{digest}`")));
                    }
                    lock.bases.insert(name, digest.to_owned());
                }
                "env" => {
                    let env = string_arg(node).ok_or_else(|| at("`env` needs a name".into()))?;
                    for p in children(node) {
                        let at = |what: String| format!("line {}: {what}", line(p));
                        if p.name().value() != "platform" {
                            return Err(at(format!(
                                "unknown node `{}` in `env`: expected `platform`",
                                p.name().value()
                            )));
                        }
                        let platform =
                            string_arg(p).ok_or_else(|| at("`platform` needs a name".into()))?;
                        let parsed = parse_platform(p, &line)?;
                        lock.set(&env, &platform, parsed);
                    }
                }
                other => {
                    return Err(at(format!(
                        "unknown node `{other}`: expected `version`, `base` or `env`"
                    )));
                }
            }
        }
        match version {
            Some(VERSION) => Ok(lock),
            Some(v) => Err(format!(
                "lock format version {v} is not supported (this duckc reads version {VERSION}): run `duckc lock`"
            )),
            None => Err("missing `version`: this is not a duck.lock file".into()),
        }
    }
}

fn children(node: &KdlNode) -> &[KdlNode] {
    node.children().map(KdlDocument::nodes).unwrap_or_default()
}

fn string_arg(node: &KdlNode) -> Option<String> {
    node.get(0).and_then(|v| v.as_string()).map(str::to_owned)
}

fn parse_platform(
    node: &KdlNode,
    line: &dyn Fn(&KdlNode) -> usize,
) -> std::result::Result<PlatformLock, String> {
    let mut lock = PlatformLock::default();
    for child in children(node) {
        let at = |what: String| format!("line {}: {what}", line(child));
        let prop = |key: &str| {
            child
                .get(key)
                .and_then(|v| v.as_string())
                .map(str::to_owned)
        };
        let need = |key: &str| {
            prop(key).ok_or_else(|| at(format!("`{}` needs `{key}=\"…\"`", child.name().value())))
        };
        match child.name().value() {
            "repository" => {
                lock.repository = LockedRepository {
                    suite: need("suite")?,
                    components: need("components")?
                        .split_whitespace()
                        .map(str::to_owned)
                        .collect(),
                    release: need("release")?,
                    uri: prop("uri"),
                };
            }
            "request" => {
                lock.request = child
                    .entries()
                    .iter()
                    .filter_map(|e| e.value().as_string().map(str::to_owned))
                    .collect();
            }
            "package" => {
                let size = child
                    .get("size")
                    .and_then(|v| v.as_integer())
                    .and_then(|s| u64::try_from(s).ok())
                    .ok_or_else(|| at("`package` needs `size=N`".into()))?;
                let sha256 = need("sha256")?;
                if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(at(format!("bad sha256 `{sha256}`")));
                }
                lock.packages.push(LockedPackage {
                    name: string_arg(child).ok_or_else(|| at("`package` needs a name".into()))?,
                    version: need("version")?,
                    architecture: need("arch")?,
                    path: need("path")?,
                    size,
                    sha256,
                });
            }
            other => {
                return Err(at(format!(
                    "unknown node `{other}` in `platform`: expected `repository`, `request` or `package`"
                )));
            }
        }
    }
    lock.packages.sort();
    Ok(lock)
}

impl std::fmt::Display for Lock {
    /// The file text: sorted, one package per line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut out = String::new();
        out.push_str("// duck.lock: written by `duckc lock`; pins every package by sha256. Do not edit by hand.\n");
        let _ = writeln!(out, "version {VERSION}");
        for (name, digest) in &self.bases {
            let _ = writeln!(out, "base {} digest={}", quote(name), quote(digest));
        }
        for (env, platforms) in &self.envs {
            let _ = writeln!(out, "env {} {{", quote(env));
            for (platform, lock) in platforms {
                let _ = writeln!(out, "    platform {} {{", quote(platform));
                let r = &lock.repository;
                let _ = write!(
                    out,
                    "        repository suite={} components={} release={}",
                    quote(&r.suite),
                    quote(&r.components.join(" ")),
                    quote(&r.release)
                );
                if let Some(uri) = &r.uri {
                    let _ = write!(out, " uri={}", quote(uri));
                }
                out.push('\n');
                out.push_str("        request");
                let mut request: Vec<&String> = lock.request.iter().collect();
                request.sort();
                request.dedup();
                for item in request {
                    let _ = write!(out, " {}", quote(item));
                }
                out.push('\n');
                let mut packages: Vec<&LockedPackage> = lock.packages.iter().collect();
                packages.sort();
                for p in packages {
                    let _ = writeln!(
                        out,
                        "        package {} version={} arch={} size={} sha256={} path={}",
                        quote(&p.name),
                        quote(&p.version),
                        quote(&p.architecture),
                        p.size,
                        quote(&p.sha256),
                        quote(&p.path)
                    );
                }
                out.push_str("    }\n");
            }
            out.push_str("}\n");
        }
        f.write_str(&out)
    }
}

/// A KDL string literal.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The Debian architecture of an OCI platform: `linux/amd64` → `amd64`, `linux/arm/v7` → `armhf`.
pub fn debian_architecture(platform: &str) -> Option<&'static str> {
    duckc_platform::Arch::by_platform(platform).map(|a| a.debian)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lock {
        let mut lock = Lock::default();
        let pkg = |name: &str, version: &str| LockedPackage {
            name: name.into(),
            version: version.into(),
            architecture: "amd64".into(),
            path: format!("pool/main/{name}_{version}_amd64.deb"),
            size: 1234,
            sha256: "ab".repeat(32),
        };
        let platform = PlatformLock {
            repository: LockedRepository {
                suite: "stable".into(),
                components: vec!["main".into()],
                release: format!("sha256:{}", "cd".repeat(32)),
                uri: None,
            },
            request: vec!["?essential".into(), "app".into()],
            packages: vec![pkg("app", "1.0-1"), pkg("lib\"quoted", "2:1.0~rc1")],
        };
        lock.set("web", "linux/amd64", platform.clone());
        let mut with_sources = platform;
        with_sources.repository.uri = Some("http://10.199.0.1:8080/debian".into());
        lock.set("base", "linux/arm64", with_sources);
        lock
    }

    #[test]
    fn round_trip() {
        let lock = sample();
        let text = lock.to_string();
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        insta::assert_snapshot!(text);
    }

    #[test]
    fn bases_round_trip() {
        let mut lock = sample();
        lock.bases.insert(
            "127.0.0.1:5000/library/busybox:1".into(),
            format!("sha256:{}", "ef".repeat(32)),
        );
        let text = lock.to_string();
        assert!(text.contains("base \"127.0.0.1:5000/library/busybox:1\" digest=\"sha256:efef"));
        assert_eq!(Lock::parse(&text).unwrap(), lock);
        let bad = "version 1\nbase \"x:1\" digest=\"md5:00\"\n";
        assert_eq!(Lock::parse(bad).unwrap_err(), "line 2: bad digest `md5:00`");
    }

    #[test]
    fn locked_names_the_first_missing_thing() {
        let lock = sample();
        let req = |items: &[&str]| items.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert!(
            lock.locked("web", "linux/amd64", &req(&["app", "?essential"]))
                .is_ok()
        );
        let err = |env: &str, platform: &str, items: &[&str]| {
            lock.locked(env, platform, &req(items))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("db", "linux/amd64", &[]), "env `db` is not in the lock");
        assert_eq!(
            err("web", "linux/arm64", &[]),
            "env `web` has no lock for platform `linux/arm64`"
        );
        assert_eq!(
            err("web", "linux/amd64", &["app", "curl", "?essential"]),
            "package `curl` of env `web` (linux/amd64) is not in the lock"
        );
        assert_eq!(
            err("web", "linux/amd64", &["app"]),
            "the lock of env `web` (linux/amd64) also pins `?essential`, which the env no longer asks for"
        );
    }

    #[test]
    fn merge_and_retain() {
        let mut a = sample();
        let mut b = Lock::default();
        b.set("web", "linux/amd64", PlatformLock::default());
        b.set("new", "linux/amd64", PlatformLock::default());
        a.merge(b);
        assert_eq!(a.envs["web"]["linux/amd64"], PlatformLock::default());
        assert_eq!(a.envs.keys().collect::<Vec<_>>(), ["base", "new", "web"]);
        a.set("web", "linux/arm64", PlatformLock::default());
        a.retain(&[("web", "linux/amd64"), ("gone", "linux/amd64")]);
        assert_eq!(a.envs.keys().collect::<Vec<_>>(), ["web"]);
        assert_eq!(a.envs["web"].keys().collect::<Vec<_>>(), ["linux/amd64"]);
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(
            Lock::parse("env \"a\" {}\n").unwrap_err(),
            "missing `version`: this is not a duck.lock file"
        );
        assert_eq!(
            Lock::parse("version 1\nenvs \"a\"\n").unwrap_err(),
            "line 2: unknown node `envs`: expected `version`, `base` or `env`"
        );
        assert_eq!(
            Lock::parse("version 1\nenv \"a\" {\n platform \"linux/amd64\" {\n  package \"x\" version=\"1\"\n }\n}\n").unwrap_err(),
            "line 4: `package` needs `size=N`"
        );
        assert!(
            Lock::parse("version 2\n")
                .unwrap_err()
                .starts_with("lock format version 2 is not supported")
        );
    }

    #[test]
    fn write_is_atomic_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("duck.lock");
        assert_eq!(Lock::read(&path).unwrap(), Lock::default());
        sample().write(&path).unwrap();
        assert_eq!(Lock::read(&path).unwrap(), sample());
    }
}
