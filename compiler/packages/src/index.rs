//! A repository's package index: the `Packages` file of one architecture, parsed into
//! [`Package`] records with lookups by name and by provided (virtual) name.

use std::collections::HashMap;
use std::str::FromStr;

use debversion::Version;
use rayon::prelude::*;

use crate::control;
use crate::relation::{self, Relation, Relations};

/// `Priority:`, most important first (the order apt prefers providers in).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    Required,
    Important,
    Standard,
    Optional,
    Extra,
    /// Missing or unknown.
    Unknown,
}

impl Priority {
    fn parse(s: Option<&str>) -> Priority {
        match s {
            Some("required") => Priority::Required,
            Some("important") => Priority::Important,
            Some("standard") => Priority::Standard,
            Some("optional") => Priority::Optional,
            Some("extra") => Priority::Extra,
            _ => Priority::Unknown,
        }
    }
}

/// `Multi-Arch:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MultiArch {
    #[default]
    No,
    Same,
    Foreign,
    Allowed,
}

/// One binary package as the repository describes it.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: Version,
    pub architecture: String,
    pub multi_arch: MultiArch,
    pub essential: bool,
    pub priority: Priority,
    pub pre_depends: Relations,
    pub depends: Relations,
    /// Only `=` constraints are meaningful here (versioned provides).
    pub provides: Vec<Relation>,
    pub conflicts: Vec<Relation>,
    pub breaks: Vec<Relation>,
    /// Path of the `.deb` relative to the repository root (`pool/main/…`).
    pub filename: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// A paragraph of `Packages` that cannot be used. Code `packages::bad_index`; the help is
/// [`crate::repo::Error::Parse`]'s, which names the file.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[diagnostic(code(packages::bad_index))]
    #[error("`Packages` is not a control file: {0}")]
    Control(#[from] control::Error),
    #[diagnostic(code(packages::bad_index))]
    #[error("package `{package}`: missing field `{field}`")]
    Missing {
        package: String,
        field: &'static str,
    },
    #[diagnostic(code(packages::bad_index))]
    #[error("package `{package}`: bad version `{version}`")]
    Version { package: String, version: String },
    #[diagnostic(code(packages::bad_index))]
    #[error("package `{package}`: bad `{field}`: {source}")]
    Relation {
        package: String,
        field: &'static str,
        source: relation::Error,
    },
    #[diagnostic(code(packages::bad_index))]
    #[error("package `{package}`: bad `{field}` `{value}`")]
    Field {
        package: String,
        field: &'static str,
        value: String,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// All packages of one architecture (plus `Architecture: all`), indexed.
#[derive(Debug, Clone, Default)]
pub struct Index {
    architecture: String,
    packages: Vec<Package>,
    by_name: HashMap<String, Vec<usize>>,
    /// Virtual name → packages that provide it.
    providers: HashMap<String, Vec<usize>>,
}

impl Index {
    /// Parse a `Packages` file, keeping the packages of `architecture` and `all`. A large file
    /// is cut at empty lines (paragraph boundaries) and the pieces parsed in parallel; the
    /// packages keep their file order.
    pub fn parse(text: &str, architecture: &str) -> Result<Index> {
        let keep = |p: &Package| p.architecture == architecture || p.architecture == "all";
        let pieces = split_paragraphs(text, 1 << 20);
        let parsed: Option<Vec<Vec<Package>>> = pieces
            .par_iter()
            .map(|piece| {
                let mut out = Vec::new();
                let all = scan_paragraphs(piece, &mut |fields| {
                    let package = parse_package(fields).ok()?;
                    if keep(&package) {
                        out.push(package);
                    }
                    Some(())
                });
                all.map(|()| out)
            })
            .collect();
        let mut index = Index {
            architecture: architecture.to_owned(),
            ..Index::default()
        };
        if let Some(parsed) = parsed {
            for package in parsed.into_iter().flatten() {
                index.push(package);
            }
            return Ok(index);
        }
        // Something does not parse: read it again in one piece for the first error, with
        // line numbers of the whole file.
        for paragraph in control::parse(text)? {
            let package = parse_package(&paragraph)?;
            if keep(&package) {
                index.push(package);
            }
        }
        Ok(index)
    }

    /// Build an index from records (tests and tools that already hold them).
    pub fn from_packages(architecture: &str, packages: impl IntoIterator<Item = Package>) -> Index {
        let mut index = Index {
            architecture: architecture.to_owned(),
            ..Index::default()
        };
        for p in packages {
            index.push(p);
        }
        index
    }

    fn push(&mut self, package: Package) {
        let i = self.packages.len();
        self.by_name
            .entry(package.name.clone())
            .or_default()
            .push(i);
        for p in &package.provides {
            let list = self.providers.entry(p.name.clone()).or_default();
            if list.last() != Some(&i) {
                list.push(i);
            }
        }
        self.packages.push(package);
    }

    /// The architecture this index was read for.
    pub fn architecture(&self) -> &str {
        &self.architecture
    }

    pub fn packages(&self) -> &[Package] {
        &self.packages
    }

    /// The packages, in file order, without copying them.
    pub fn into_packages(self) -> Vec<Package> {
        self.packages
    }

    pub fn get(&self, i: usize) -> &Package {
        &self.packages[i]
    }

    /// The name (real or virtual) nearest to `name` by edit distance, when it is a plausible
    /// typo of it; ties go to the name that sorts first. Only for error messages: it reads every
    /// name.
    pub fn nearest_name(&self, name: &str) -> Option<String> {
        let mut names: Vec<&str> = self
            .by_name
            .keys()
            .chain(self.providers.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names.dedup();
        duckc_syntax::suggest::nearest(name, names).map(str::to_owned)
    }

    /// Indices of the packages called `name`, in file order.
    pub fn by_name(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    /// Indices of the packages that provide `name`.
    pub fn providers(&self, name: &str) -> &[usize] {
        self.providers.get(name).map_or(&[], Vec::as_slice)
    }

    /// The package with this exact name, version and architecture.
    pub fn find(&self, name: &str, version: &str, architecture: &str) -> Option<&Package> {
        self.by_name(name)
            .iter()
            .map(|&i| &self.packages[i])
            .find(|p| p.architecture == architecture && p.version.to_string() == version)
    }
}

/// The fields [`parse_package`] reads; others (`Description`, the biggest) are skipped.
const WANTED: &[&str] = &[
    "Package",
    "Version",
    "Architecture",
    "Multi-Arch",
    "Essential",
    "Priority",
    "Pre-Depends",
    "Depends",
    "Provides",
    "Conflicts",
    "Breaks",
    "Filename",
    "Size",
    "SHA256",
];

/// A paragraph's wanted fields, borrowed from the text unless continued over several lines.
#[derive(Default)]
struct Fields<'t> {
    fields: Vec<(&'t str, std::borrow::Cow<'t, str>)>,
}

impl Lookup for Fields<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Reads `text`'s paragraphs as `control::parse` does (same fields, same values for the
/// [`WANTED`] ones) without copying what is not needed, calling `each` with every paragraph;
/// `None` when a line is not valid or `each` says so (the caller then parses the slow way, for
/// the error).
fn scan_paragraphs<'t>(
    text: &'t str,
    each: &mut dyn FnMut(&Fields<'t>) -> Option<()>,
) -> Option<()> {
    let mut current = Fields::default();
    let mut any = false;
    let mut last_wanted = false;
    for raw in text.lines() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            if any {
                each(&current)?;
                current.fields.clear();
                any = false;
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if !any {
                return None;
            }
            if last_wanted && let Some((_, value)) = current.fields.last_mut() {
                let rest = &line[1..];
                let rest = if rest.trim() == "." { "" } else { rest };
                let value = value.to_mut();
                value.push('\n');
                value.push_str(rest);
            }
            continue;
        }
        let (name, value) = line.split_once(':')?;
        let name = name.trim();
        any = true;
        last_wanted = WANTED.iter().any(|w| w.eq_ignore_ascii_case(name));
        if last_wanted {
            current
                .fields
                .push((name, std::borrow::Cow::Borrowed(value.trim())));
        }
    }
    if any {
        each(&current)?;
    }
    Some(())
}

/// Field lookup by name (case-insensitive), over a parsed paragraph or a borrowed one.
trait Lookup {
    fn get(&self, name: &str) -> Option<&str>;
}

impl Lookup for control::Paragraph {
    fn get(&self, name: &str) -> Option<&str> {
        control::Paragraph::get(self, name)
    }
}

/// `text` cut into pieces of about `size` bytes, each ending after an empty line (so no
/// paragraph is split); the pieces joined are `text`.
fn split_paragraphs(text: &str, size: usize) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.len() > size {
        let Some(at) = rest.as_bytes()[size..]
            .windows(2)
            .position(|w| w == b"\n\n")
        else {
            break;
        };
        // Both bytes are ASCII, so the cut is on a character boundary.
        let (piece, tail) = rest.split_at(size + at + 2);
        pieces.push(piece);
        rest = tail;
    }
    pieces.push(rest);
    pieces
}

fn parse_package(p: &impl Lookup) -> Result<Package> {
    let name = p.get("Package").unwrap_or_default().to_owned();
    if name.is_empty() {
        return Err(Error::Missing {
            package: "?".into(),
            field: "Package",
        });
    }
    let need = |field: &'static str| {
        p.get(field).ok_or_else(|| Error::Missing {
            package: name.clone(),
            field,
        })
    };
    let version_text = need("Version")?;
    let version = Version::from_str(version_text).map_err(|_| Error::Version {
        package: name.clone(),
        version: version_text.to_owned(),
    })?;
    let relations = |field: &'static str| -> Result<Relations> {
        relation::parse(p.get(field).unwrap_or_default()).map_err(|source| Error::Relation {
            package: name.clone(),
            field,
            source,
        })
    };
    let flat = |field: &'static str| -> Result<Vec<Relation>> {
        Ok(relations(field)?.into_iter().flatten().collect())
    };
    let multi_arch = match p.get("Multi-Arch") {
        None | Some("no") => MultiArch::No,
        Some("same") => MultiArch::Same,
        Some("foreign") => MultiArch::Foreign,
        Some("allowed") => MultiArch::Allowed,
        Some(other) => {
            return Err(Error::Field {
                package: name,
                field: "Multi-Arch",
                value: other.to_owned(),
            });
        }
    };
    let size_text = need("Size")?;
    let size = size_text.parse().map_err(|_| Error::Field {
        package: name.clone(),
        field: "Size",
        value: size_text.to_owned(),
    })?;
    let sha256 = need("SHA256")?.to_ascii_lowercase();
    if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Error::Field {
            package: name,
            field: "SHA256",
            value: sha256,
        });
    }
    let filename = need("Filename")?.to_owned();
    if filename.split('/').any(|c| c == ".." || c.is_empty()) || filename.starts_with('/') {
        return Err(Error::Field {
            package: name,
            field: "Filename",
            value: filename,
        });
    }
    Ok(Package {
        version,
        architecture: need("Architecture")?.to_owned(),
        multi_arch,
        essential: p.get("Essential") == Some("yes"),
        priority: Priority::parse(p.get("Priority")),
        pre_depends: relations("Pre-Depends")?,
        depends: relations("Depends")?,
        provides: flat("Provides")?,
        conflicts: flat("Conflicts")?,
        breaks: flat("Breaks")?,
        filename,
        size,
        sha256,
        name,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGES: &str = "\
Package: mawk
Version: 1.3.4
Architecture: amd64
Priority: required
Provides: awk
Multi-Arch: foreign
Filename: pool/main/m/mawk/mawk_1.3.4_amd64.deb
Size: 10
SHA256: 0000000000000000000000000000000000000000000000000000000000000000

Package: mawk
Version: 1.3.4
Architecture: arm64
Filename: pool/main/m/mawk/mawk_1.3.4_arm64.deb
Size: 10
SHA256: 0000000000000000000000000000000000000000000000000000000000000000

Package: data
Version: 2
Architecture: all
Depends: mawk | awk
Filename: pool/main/d/data/data_2_all.deb
Size: 10
SHA256: 0000000000000000000000000000000000000000000000000000000000000000
";

    #[test]
    fn keeps_the_architecture_and_all() {
        let index = Index::parse(PACKAGES, "amd64").unwrap();
        assert_eq!(index.packages().len(), 2);
        assert_eq!(index.by_name("mawk").len(), 1);
        assert_eq!(index.providers("awk").len(), 1);
        let mawk = index.find("mawk", "1.3.4", "amd64").unwrap();
        assert_eq!(mawk.priority, Priority::Required);
        assert_eq!(mawk.multi_arch, MultiArch::Foreign);
        assert_eq!(index.find("data", "2", "all").unwrap().depends[0].len(), 2);
    }

    #[test]
    fn pieces_split_at_empty_lines_and_parse_like_the_whole() {
        let pieces = split_paragraphs(PACKAGES, 10);
        assert_eq!(pieces.len(), 3);
        assert_eq!(pieces.concat(), PACKAGES);
        assert!(pieces[..2].iter().all(|p| p.ends_with("\n\n")));
        assert_eq!(split_paragraphs(PACKAGES, 1 << 20), [PACKAGES]);
        // Many packages, parsed in pieces: the same records in file order.
        let many: String = (0..5000)
            .map(|i| PACKAGES.replace("Package: data", &format!("Package: data{i}")) + "\n")
            .collect();
        let index = Index::parse(&many, "amd64").unwrap();
        assert_eq!(index.packages().len(), 10_000);
        assert_eq!(index.by_name("data4999"), [9999]);
        assert_eq!(index.by_name("mawk").len(), 5000);
    }

    #[test]
    fn the_fast_scan_reads_what_control_parse_reads() {
        let text = "# comment\r\nPackage: a\r\nVersion: 1\nDepends: b,\n c (>= 2)\n\
                    Description: x\n .\n y\npriority: required\n \t\nPackage: b\n\
                    Version: 2\nArchitecture: all\n";
        let mut scanned = Vec::new();
        scan_paragraphs(text, &mut |f| {
            scanned.push(
                WANTED
                    .iter()
                    .map(|w| f.get(w).map(str::to_owned))
                    .collect::<Vec<_>>(),
            );
            Some(())
        })
        .unwrap();
        let parsed: Vec<Vec<Option<String>>> = control::parse(text)
            .unwrap()
            .iter()
            .map(|p| WANTED.iter().map(|w| p.get(w).map(str::to_owned)).collect())
            .collect();
        assert_eq!(scanned, parsed);
        assert_eq!(scanned[0][7].as_deref(), Some("b,\nc (>= 2)"));
        assert_eq!(scanned[0][5].as_deref(), Some("required"));
        assert_eq!(
            scan_paragraphs("Package: a\nnonsense\n", &mut |_| Some(())),
            None
        );
        assert_eq!(scan_paragraphs(" x\n", &mut |_| Some(())), None);
    }

    #[test]
    fn unsafe_filenames_are_rejected() {
        let bad = PACKAGES.replace("pool/main/d/data/data_2_all.deb", "pool/../../etc/passwd");
        let err = Index::parse(&bad, "amd64").unwrap_err();
        assert_eq!(
            err.to_string(),
            "package `data`: bad `Filename` `pool/../../etc/passwd`"
        );
    }

    #[test]
    fn missing_hash_is_an_error() {
        let bad = PACKAGES.replacen("SHA256:", "MD5sum:", 1);
        let err = Index::parse(&bad, "amd64").unwrap_err();
        assert_eq!(err.to_string(), "package `mawk`: missing field `SHA256`");
    }
}
