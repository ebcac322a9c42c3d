//! Where packages come from: one apt repository, taken from a `--repository` flag, the
//! `DUCKC_APT_REPOSITORY` variable, a `repositories.kdl` config file, or the host's apt sources,
//! in that order.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::control;

/// The environment variable that overrides the configured repository.
pub const REPOSITORY_VAR: &str = "DUCKC_APT_REPOSITORY";

/// The keyring used when a repository names none and this file exists.
pub const DEFAULT_KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// One apt repository: `URI SUITE COMPONENT…` plus how to trust it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Repository {
    /// `http://…`, `https://…` or `file:/…`, without a trailing `/`.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Keyring files that may sign the Release file; empty means [`DEFAULT_KEYRING`].
    pub keyrings: Vec<PathBuf>,
    /// Accept the repository without a valid signature (`trusted=yes` in apt).
    pub trusted: bool,
}

impl Repository {
    /// Keyrings to verify with: the repository's own, else the default one if present.
    pub fn effective_keyrings(&self) -> Vec<PathBuf> {
        if !self.keyrings.is_empty() {
            return self.keyrings.clone();
        }
        let default = PathBuf::from(DEFAULT_KEYRING);
        if default.is_file() {
            vec![default]
        } else {
            Vec::new()
        }
    }

    /// The URL of `path` relative to the repository root.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.uri, path.trim_start_matches('/'))
    }

    /// The URL of `path` relative to `dists/SUITE/`.
    pub fn dists_url(&self, path: &str) -> String {
        self.url(&format!("dists/{}/{}", self.suite, path))
    }

    /// `URI SUITE COMPONENT…` with options, the syntax the flag and variable take. Keyring paths
    /// are shown, credentials in the URI are not.
    pub fn display_line(&self) -> String {
        let mut options = Vec::new();
        if !self.keyrings.is_empty() {
            let paths: Vec<_> = self
                .keyrings
                .iter()
                .map(|p| p.display().to_string())
                .collect();
            options.push(format!("signed-by={}", paths.join(",")));
        }
        if self.trusted {
            options.push("trusted=yes".to_owned());
        }
        let options = if options.is_empty() {
            String::new()
        } else {
            format!("[{}] ", options.join(" "))
        };
        format!(
            "{options}{} {} {}",
            redact(&self.uri),
            self.suite,
            self.components.join(" ")
        )
    }
}

/// Where the repository setting came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Flag,
    Variable,
    ConfigFile(PathBuf),
    AptSources(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Flag => f.write_str("`--repository`"),
            Origin::Variable => write!(f, "`{REPOSITORY_VAR}`"),
            Origin::ConfigFile(p) | Origin::AptSources(p) => write!(f, "`{}`", p.display()),
        }
    }
}

/// A repository and where its setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configured {
    pub repository: Repository,
    pub origin: Origin,
}

/// Why no repository could be configured. Codes `packages::repository…`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("{origin}: {what}")]
    #[diagnostic(
        code(packages::repository_invalid),
        help(
            "a repository line reads `[signed-by=/path/to/keyring.gpg] URI SUITE COMPONENT…`, e.g. `http://mirror.example/debian bookworm main`; docs/packages.md describes `repositories.kdl`"
        )
    )]
    Invalid { origin: Origin, what: String },
    #[error("cannot read `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::repository_read),
        help(
            "check the file's permissions, or set the repository with `--repository` or `{REPOSITORY_VAR}` instead"
        )
    )]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no apt repository is configured")]
    #[diagnostic(
        code(packages::no_repository),
        help(
            "pass `--repository 'URI SUITE COMPONENT'`, set `{REPOSITORY_VAR}`, write a `repositories.kdl` config file, or add a `deb` line to the host's apt sources"
        )
    )]
    NoneConfigured,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What to consult, highest precedence first. [`Settings::from_env`] fills it the usual way.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The `--repository` flag.
    pub flag: Option<String>,
    /// The value of `DUCKC_APT_REPOSITORY`.
    pub variable: Option<String>,
    /// Config files to try in order; the first that exists is used.
    pub config_files: Vec<PathBuf>,
    /// The apt configuration directory (normally `/etc/apt`).
    pub apt_dir: PathBuf,
}

impl Settings {
    /// The variable from the process environment, the config files at their usual places
    /// ([`config_files`]) and the host's `/etc/apt`.
    pub fn from_env(flag: Option<String>) -> Settings {
        Settings {
            flag,
            variable: std::env::var(REPOSITORY_VAR)
                .ok()
                .filter(|v| !v.trim().is_empty()),
            config_files: config_files(),
            apt_dir: PathBuf::from("/etc/apt"),
        }
    }
}

/// `$XDG_CONFIG_HOME/duckc/repositories.kdl` (or `~/.config/…`), then `/etc/duckc/repositories.kdl`.
pub fn config_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    let config_home = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(dir) = config_home {
        files.push(dir.join("duckc/repositories.kdl"));
    }
    files.push(PathBuf::from("/etc/duckc/repositories.kdl"));
    files
}

/// The repository to use, by precedence: flag, variable, config file, host apt sources.
pub fn configured(settings: &Settings) -> Result<Configured> {
    if let Some(line) = &settings.flag {
        return Ok(Configured {
            repository: parse_line(line, &Origin::Flag)?,
            origin: Origin::Flag,
        });
    }
    if let Some(line) = &settings.variable {
        return Ok(Configured {
            repository: parse_line(line, &Origin::Variable)?,
            origin: Origin::Variable,
        });
    }
    for file in &settings.config_files {
        if !file.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(file).map_err(|source| Error::Read {
            path: file.clone(),
            source,
        })?;
        let origin = Origin::ConfigFile(file.clone());
        return Ok(Configured {
            repository: parse_config(&text, &origin)?,
            origin,
        });
    }
    match from_apt(&settings.apt_dir)? {
        Some(found) => Ok(found),
        None => Err(Error::NoneConfigured),
    }
}

/// Parse `[option=value …] URI SUITE COMPONENT…`, optionally preceded by `deb` — one
/// `sources.list` line.
pub fn parse_line(line: &str, origin: &Origin) -> Result<Repository> {
    let invalid = |what: String| Error::Invalid {
        origin: origin.clone(),
        what,
    };
    let mut rest = line.trim();
    rest = rest.strip_prefix("deb ").map_or(rest, str::trim_start);
    let mut keyrings = Vec::new();
    let mut trusted = false;
    if let Some(after) = rest.strip_prefix('[') {
        let Some((options, after)) = after.split_once(']') else {
            return Err(invalid("unclosed `[` in the options".into()));
        };
        for option in options.split_whitespace() {
            let (key, value) = option.split_once('=').unwrap_or((option, ""));
            match key {
                "signed-by" => keyrings.extend(
                    value
                        .split(',')
                        .filter(|v| !v.is_empty())
                        .map(PathBuf::from),
                ),
                "trusted" => trusted = value == "yes",
                _ => {} // arch=, lang=, target=: not needed to read one architecture's index
            }
        }
        rest = after.trim_start();
    }
    let words: Vec<&str> = rest.split_whitespace().collect();
    let [uri, suite, components @ ..] = words.as_slice() else {
        return Err(invalid(format!(
            "expected `URI SUITE COMPONENT…`, found `{}`",
            redact(line.trim())
        )));
    };
    repository(uri, suite, components, keyrings, trusted).map_err(invalid)
}

fn repository(
    uri: &str,
    suite: &str,
    components: &[&str],
    keyrings: Vec<PathBuf>,
    trusted: bool,
) -> std::result::Result<Repository, String> {
    let uri = normalize_uri(uri)?;
    if suite.ends_with('/') {
        return Err(format!(
            "flat repositories (`{suite}`) are not supported: name a suite in `dists/`"
        ));
    }
    if components.is_empty() {
        return Err(format!(
            "no component after suite `{suite}` (for example `main`)"
        ));
    }
    for k in &keyrings {
        if !k.is_absolute() {
            return Err(format!(
                "keyring `{}` must be an absolute path",
                k.display()
            ));
        }
    }
    Ok(Repository {
        uri,
        suite: suite.to_owned(),
        components: components.iter().map(|c| (*c).to_owned()).collect(),
        keyrings,
        trusted,
    })
}

fn normalize_uri(uri: &str) -> std::result::Result<String, String> {
    let uri = uri.trim_end_matches('/');
    let supported = ["http://", "https://", "file:"];
    if !supported.iter().any(|s| uri.starts_with(s)) {
        return Err(format!(
            "unsupported repository URI `{}`: use http://, https:// or file:",
            redact(uri)
        ));
    }
    if let Some(path) = uri.strip_prefix("file:") {
        let path = path.trim_start_matches("//");
        let path = if path.starts_with('/') {
            path.to_owned()
        } else {
            format!("/{path}")
        };
        return Ok(format!("file://{path}"));
    }
    Ok(uri.to_owned())
}

/// `scheme://user:password@host/…` without the credentials.
pub fn redact(uri: &str) -> String {
    if let Some((scheme, rest)) = uri.split_once("://") {
        let host_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            return format!("{scheme}://***@{}", &rest[at + 1..]);
        }
    }
    uri.to_owned()
}

/// Parse a `repositories.kdl` config file:
///
/// ```kdl
/// repository "https://mirror.example/debian" {
///     suite "bookworm"
///     components "main"
///     keyring "/usr/share/keyrings/debian-archive-keyring.gpg"
///     trusted #false
/// }
/// ```
pub fn parse_config(text: &str, origin: &Origin) -> Result<Repository> {
    let invalid = |what: String| Error::Invalid {
        origin: origin.clone(),
        what,
    };
    let doc = kdl::KdlDocument::parse(text).map_err(|e| invalid(crate::kdl_error_message(&e)))?;
    let mut repos = doc
        .nodes()
        .iter()
        .filter(|n| n.name().value() == "repository");
    if let Some(other) = doc
        .nodes()
        .iter()
        .find(|n| n.name().value() != "repository")
    {
        return Err(invalid(format!(
            "unknown node `{}`: expected `repository`",
            other.name().value()
        )));
    }
    let Some(node) = repos.next() else {
        return Err(invalid("no `repository` node".into()));
    };
    if repos.next().is_some() {
        return Err(invalid(
            "more than one `repository`: duckc reads one repository".into(),
        ));
    }
    let uri = node
        .get(0)
        .and_then(|v| v.as_string())
        .ok_or_else(|| invalid("`repository` needs the repository URI as its argument".into()))?;
    let mut suite = None;
    let mut components = Vec::new();
    let mut keyrings = Vec::new();
    let mut trusted = false;
    for child in node.children().map(|c| c.nodes()).unwrap_or_default() {
        let strings = || -> std::result::Result<Vec<String>, String> {
            let values: Option<Vec<String>> = child
                .entries()
                .iter()
                .map(|e| {
                    if e.name().is_none() {
                        e.value().as_string().map(str::to_owned)
                    } else {
                        None
                    }
                })
                .collect();
            values
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("`{}` takes strings", child.name().value()))
        };
        match child.name().value() {
            "suite" => suite = strings().map_err(invalid)?.into_iter().next(),
            "components" => components = strings().map_err(invalid)?,
            "keyring" => {
                keyrings.extend(strings().map_err(invalid)?.into_iter().map(PathBuf::from))
            }
            "trusted" => {
                trusted = child
                    .get(0)
                    .and_then(|v| v.as_bool())
                    .ok_or_else(|| invalid("`trusted` takes `#true` or `#false`".into()))?;
            }
            other => {
                return Err(invalid(format!(
                    "unknown node `{other}` in `repository`: expected `suite`, `components`, `keyring` or `trusted`"
                )));
            }
        }
    }
    let suite = suite.ok_or_else(|| {
        invalid("`repository` needs a `suite`, for example `suite \"bookworm\"`".into())
    })?;
    let components: Vec<&str> = components.iter().map(String::as_str).collect();
    repository(uri, &suite, &components, keyrings, trusted).map_err(invalid)
}

/// The first `deb` entry of the host's apt sources: `sources.list`, then `sources.list.d/*.list`
/// and `*.sources` in name order (the order apt reads them). Of that entry, its first URI and
/// first suite with all its components.
pub fn from_apt(apt_dir: &Path) -> Result<Option<Configured>> {
    let mut files = vec![apt_dir.join("sources.list")];
    if let Ok(dir) = std::fs::read_dir(apt_dir.join("sources.list.d")) {
        let mut more: Vec<PathBuf> = dir
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
            .collect();
        more.sort();
        files.extend(more);
    }
    for file in files {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(Error::Read { path: file, source }),
        };
        let origin = Origin::AptSources(file.clone());
        let found = if file.extension().is_some_and(|e| e == "sources") {
            first_deb822(&text, &origin)?
        } else {
            first_one_line(&text, &origin)?
        };
        if let Some(repository) = found {
            return Ok(Some(Configured { repository, origin }));
        }
    }
    Ok(None)
}

fn first_one_line(text: &str, origin: &Origin) -> Result<Option<Repository>> {
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        if line.starts_with("deb ") || line.starts_with("deb\t") {
            return parse_line(line, origin).map(Some);
        }
    }
    Ok(None)
}

fn first_deb822(text: &str, origin: &Origin) -> Result<Option<Repository>> {
    let invalid = |what: String| Error::Invalid {
        origin: origin.clone(),
        what,
    };
    let paragraphs = control::parse(text).map_err(|e| invalid(e.to_string()))?;
    for p in paragraphs {
        let words = |field: &str| -> Vec<String> {
            p.get(field)
                .unwrap_or_default()
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        };
        if !words("Types").iter().any(|t| t == "deb") || p.get("Enabled") == Some("no") {
            continue;
        }
        let uris = words("URIs");
        let suites = words("Suites");
        let (Some(uri), Some(suite)) = (uris.first(), suites.first()) else {
            return Err(invalid("a `deb` entry needs `URIs` and `Suites`".into()));
        };
        let signed_by = p.get("Signed-By").unwrap_or_default();
        if signed_by.contains("BEGIN PGP") {
            return Err(invalid(
                "an inline `Signed-By` key is not supported: save it to a keyring file and name that file".into(),
            ));
        }
        let keyrings = signed_by
            .split([' ', ',', '\n'])
            .filter(|s| !s.is_empty())
            .map(PathBuf::from)
            .collect();
        let components = words("Components");
        let components: Vec<&str> = components.iter().map(String::as_str).collect();
        let trusted = p.get("Trusted") == Some("yes");
        return repository(uri, suite, &components, keyrings, trusted)
            .map(Some)
            .map_err(invalid);
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(text: &str) -> String {
        match parse_line(text, &Origin::Flag) {
            Ok(r) => format!("{r:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn one_line_syntax() {
        insta::assert_snapshot!(line("deb [arch=amd64 signed-by=/k.gpg] http://mirror.example/debian/ bookworm main contrib"), @r#"Repository { uri: "http://mirror.example/debian", suite: "bookworm", components: ["main", "contrib"], keyrings: ["/k.gpg"], trusted: false }"#);
        insta::assert_snapshot!(line("[trusted=yes] file:/srv/repo stable main"), @r#"Repository { uri: "file:///srv/repo", suite: "stable", components: ["main"], keyrings: [], trusted: true }"#);
        insta::assert_snapshot!(line("http://mirror.example/debian bookworm"), @"`--repository`: no component after suite `bookworm` (for example `main`)");
        insta::assert_snapshot!(line("ftp://u:secret@mirror.example/debian bookworm main"), @"`--repository`: unsupported repository URI `ftp://***@mirror.example/debian`: use http://, https:// or file:");
        insta::assert_snapshot!(line("http://mirror.example/debian ./ main"), @"`--repository`: flat repositories (`./`) are not supported: name a suite in `dists/`");
        insta::assert_snapshot!(line("[signed-by=k.gpg] http://mirror.example/debian bookworm main"), @"`--repository`: keyring `k.gpg` must be an absolute path");
    }

    #[test]
    fn config_file() {
        let origin = Origin::ConfigFile("/c/repositories.kdl".into());
        let ok = parse_config(
            "repository \"https://mirror.example/debian\" {\n    suite \"bookworm\"\n    components \"main\" \"contrib\"\n    keyring \"/k.gpg\"\n    trusted #true\n}\n",
            &origin,
        )
        .unwrap();
        assert_eq!(
            ok.display_line(),
            "[signed-by=/k.gpg trusted=yes] https://mirror.example/debian bookworm main contrib"
        );
        let err = |text: &str| parse_config(text, &origin).unwrap_err().to_string();
        insta::assert_snapshot!(err("repository \"https://mirror.example/debian\" { components \"main\"; }"), @r#"`/c/repositories.kdl`: `repository` needs a `suite`, for example `suite "bookworm"`"#);
        insta::assert_snapshot!(err("repository \"https://mirror.example/debian\" { suit \"x\"; }"), @"`/c/repositories.kdl`: unknown node `suit` in `repository`: expected `suite`, `components`, `keyring` or `trusted`");
        insta::assert_snapshot!(err("mirror \"x\""), @"`/c/repositories.kdl`: unknown node `mirror`: expected `repository`");
    }

    #[test]
    fn host_apt_sources_first_deb_entry() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().join("sources.list.d");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            dir.path().join("sources.list"),
            "# nothing here\ndeb-src http://mirror.example/debian bookworm main\n",
        )
        .unwrap();
        std::fs::write(
            d.join("a.list.disabled"),
            "deb http://skipped.example/x y z\n",
        )
        .unwrap();
        std::fs::write(
            d.join("debian.sources"),
            "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n\
             Types: deb\n# a comment\nURIs: http://mirror.example/debian\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/k.gpg\n",
        )
        .unwrap();
        let found = from_apt(dir.path()).unwrap().unwrap();
        assert_eq!(
            found.repository.display_line(),
            "[signed-by=/usr/share/keyrings/k.gpg] http://mirror.example/debian bookworm main"
        );
        assert_eq!(found.origin, Origin::AptSources(d.join("debian.sources")));
    }

    #[test]
    fn precedence_flag_variable_file_apt() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("repositories.kdl");
        std::fs::write(
            &file,
            "repository \"file:///from-file\" { suite \"s\"; components \"main\"; }",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("sources.list"),
            "deb file:/from-apt s main\n",
        )
        .unwrap();
        let mut s = Settings {
            flag: Some("file:/from-flag s main".into()),
            variable: Some("file:/from-var s main".into()),
            config_files: vec![dir.path().join("missing.kdl"), file],
            apt_dir: dir.path().to_owned(),
        };
        let uri = |s: &Settings| configured(s).unwrap().repository.uri;
        assert_eq!(uri(&s), "file:///from-flag");
        s.flag = None;
        assert_eq!(uri(&s), "file:///from-var");
        s.variable = None;
        assert_eq!(uri(&s), "file:///from-file");
        s.config_files.clear();
        assert_eq!(uri(&s), "file:///from-apt");
        std::fs::remove_file(dir.path().join("sources.list")).unwrap();
        assert!(matches!(configured(&s), Err(Error::NoneConfigured)));
    }
}
