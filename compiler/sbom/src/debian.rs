//! What an image's dpkg database says: the installed packages (`var/lib/dpkg/status`), and
//! each package's license from its machine-readable copyright file
//! (`usr/share/doc/PKG/copyright`, DEP-5), turned into an SPDX license expression.

use std::collections::BTreeSet;

/// One installed package.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package, when it differs from the name (`Source: x (1.0)` → `x`).
    pub source: Option<String>,
}

/// The packages `status` lists as installed (`Status: install ok installed`), sorted by name
/// and architecture. A database that does not parse gives nothing.
pub fn installed(status: &str) -> Vec<Installed> {
    let Ok(paragraphs) = duckc_packages::control::parse(status) else {
        return Vec::new();
    };
    let mut out: Vec<Installed> = paragraphs
        .iter()
        .filter(|p| {
            p.get("Status")
                .is_some_and(|s| s.split_whitespace().last() == Some("installed"))
        })
        .filter_map(|p| {
            Some(Installed {
                name: p.get("Package")?.trim().to_owned(),
                version: p.get("Version")?.trim().to_owned(),
                architecture: p.get("Architecture").unwrap_or("all").trim().to_owned(),
                source: p
                    .get("Source")
                    .and_then(|s| s.split_whitespace().next())
                    .map(str::to_owned),
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.name, &a.architecture).cmp(&(&b.name, &b.architecture)));
    out
}

/// A license as SPDX writes it: an expression, and the `LicenseRef-` ids it uses (with the
/// Debian name each stands for), which the document must describe.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct License {
    pub expression: String,
    pub refs: Vec<(String, String)>,
}

/// The license a DEP-5 copyright file declares: the `License:` short names of all its
/// paragraphs, joined with `AND`; `None` when the file is not machine-readable.
pub fn license(copyright: &str) -> Option<License> {
    let first = copyright.lines().next()?;
    if !first.starts_with("Format:") || !first.contains("copyright-format") {
        return None;
    }
    let paragraphs = duckc_packages::control::parse(copyright).ok()?;
    let mut names = BTreeSet::new();
    for p in &paragraphs {
        // Only paragraphs that say which files (or the header's summary) declare a license;
        // a stand-alone `License:` paragraph only holds a license's text.
        if p.get("Files").is_none() && p.get("Format").is_none() {
            continue;
        }
        if let Some(l) = p.get("License") {
            let short = l.lines().next().unwrap_or("").trim();
            if !short.is_empty() {
                names.insert(short.to_owned());
            }
        }
    }
    if names.is_empty() {
        return None;
    }
    let mut refs = Vec::new();
    let parts: Vec<String> = names.iter().map(|n| expression(n, &mut refs)).collect();
    let expression = if parts.len() == 1 {
        parts[0].clone()
    } else {
        parts
            .iter()
            .map(|p| {
                if p.contains(' ') {
                    format!("({p})")
                } else {
                    p.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" AND ")
    };
    refs.sort();
    refs.dedup();
    Some(License { expression, refs })
}

/// One `License:` short name (`GPL-2+ or Artistic-1.0`) as an SPDX expression; names that SPDX
/// does not list become `LicenseRef-…` (recorded in `refs`).
fn expression(debian: &str, refs: &mut Vec<(String, String)>) -> String {
    let tokens: Vec<&str> = debian
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|t| !t.is_empty())
        .collect();
    // Operands and `and`/`or` alternate; anything else (`with … exception`) is one opaque name.
    let simple = tokens.iter().enumerate().all(|(i, t)| {
        let op = t.eq_ignore_ascii_case("and") || t.eq_ignore_ascii_case("or");
        (i % 2 == 1) == op
    }) && tokens.len() % 2 == 1;
    if !simple {
        return license_ref(debian, refs);
    }
    tokens
        .iter()
        .map(|t| {
            if t.eq_ignore_ascii_case("and") {
                "AND".to_owned()
            } else if t.eq_ignore_ascii_case("or") {
                "OR".to_owned()
            } else {
                spdx_id(t).map_or_else(|| license_ref(t, refs), str::to_owned)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn license_ref(name: &str, refs: &mut Vec<(String, String)>) -> String {
    let mut id = String::new();
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '.' || c == '-' => id.push(c),
            '+' => id.push_str("plus"),
            _ if !id.ends_with('-') => id.push('-'),
            _ => {}
        }
    }
    let id = format!("LicenseRef-{}", id.trim_matches('-'));
    refs.push((id.clone(), name.to_owned()));
    id
}

/// The SPDX id of a Debian short license name (the DEP-5 list), when there is one.
fn spdx_id(name: &str) -> Option<&'static str> {
    let (base, later) = match name.strip_suffix('+') {
        Some(b) => (b, true),
        None => (name, false),
    };
    let pick = |only: &'static str, plus: &'static str| Some(if later { plus } else { only });
    match base.to_ascii_lowercase().as_str() {
        "gpl-1" => pick("GPL-1.0-only", "GPL-1.0-or-later"),
        "gpl-2" => pick("GPL-2.0-only", "GPL-2.0-or-later"),
        "gpl-3" => pick("GPL-3.0-only", "GPL-3.0-or-later"),
        "lgpl-2" => pick("LGPL-2.0-only", "LGPL-2.0-or-later"),
        "lgpl-2.1" => pick("LGPL-2.1-only", "LGPL-2.1-or-later"),
        "lgpl-3" => pick("LGPL-3.0-only", "LGPL-3.0-or-later"),
        "agpl-3" => pick("AGPL-3.0-only", "AGPL-3.0-or-later"),
        "gfdl-1.2" => pick("GFDL-1.2-only", "GFDL-1.2-or-later"),
        "gfdl-1.3" => pick("GFDL-1.3-only", "GFDL-1.3-or-later"),
        _ if later => None,
        "apache-2.0" => Some("Apache-2.0"),
        "artistic-1.0" | "artistic" => Some("Artistic-1.0"),
        "artistic-2.0" => Some("Artistic-2.0"),
        "bsd-2-clause" => Some("BSD-2-Clause"),
        "bsd-3-clause" => Some("BSD-3-Clause"),
        "bsd-4-clause" => Some("BSD-4-Clause"),
        "cc0-1.0" | "cc0" => Some("CC0-1.0"),
        "expat" | "mit" => Some("MIT"),
        "isc" => Some("ISC"),
        "mpl-1.1" => Some("MPL-1.1"),
        "mpl-2.0" => Some("MPL-2.0"),
        "psf-2" | "python-2.0" => Some("Python-2.0"),
        "zlib" => Some("Zlib"),
        "openssl" => Some("OpenSSL"),
        "ftl" => Some("FTL"),
        "curl" => Some("curl"),
        "x11" => Some("X11"),
        "unicode-dfs-2016" => Some("Unicode-DFS-2016"),
        "0bsd" => Some("0BSD"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_packages_only() {
        let status = "Package: b\nStatus: install ok installed\nVersion: 1.0\nArchitecture: amd64\nSource: bsrc (0.9)\n\nPackage: a\nStatus: deinstall ok config-files\nVersion: 2\nArchitecture: all\n\nPackage: c\nStatus: install ok installed\nVersion: 3\nArchitecture: all\n";
        let got = installed(status);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].name, "b");
        assert_eq!(got[0].source.as_deref(), Some("bsrc"));
        assert_eq!(got[1].name, "c");
    }

    #[test]
    fn dep5_licenses_to_spdx() {
        let text = "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: x\n\nFiles: *\nCopyright: 2020 Duck\nLicense: GPL-3+\n\nFiles: lib/*\nCopyright: 2020 Duck\nLicense: LGPL-2.1+ or Artistic\n\nFiles: odd/*\nCopyright: 2020 Duck\nLicense: GPL-2+ with OpenSSL exception\n\nLicense: GPL-3+\n On Debian systems, see /usr/share/common-licenses/GPL-3.\n";
        let l = license(text).unwrap();
        assert_eq!(
            l.expression,
            "LicenseRef-GPL-2plus-with-OpenSSL-exception AND GPL-3.0-or-later AND (LGPL-2.1-or-later OR Artistic-1.0)"
        );
        assert_eq!(
            l.refs,
            vec![(
                "LicenseRef-GPL-2plus-with-OpenSSL-exception".to_owned(),
                "GPL-2+ with OpenSSL exception".to_owned()
            )]
        );
        assert_eq!(license("This is not DEP-5.\nLicense: GPL\n"), None);
    }
}
