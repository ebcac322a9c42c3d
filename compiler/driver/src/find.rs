//! Which file a verb reads: the one named, else the spec or Dockerfile a directory holds.

use std::path::{Path, PathBuf};

use crate::Error;

/// Whether `path` names a Dockerfile: `Dockerfile`, `Containerfile`, `*.Dockerfile`,
/// `Dockerfile.*` (any case), rather than a KDL spec.
pub fn is_dockerfile(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.ends_with(".dockerfile")
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".containerfile")
        || lower.starts_with("containerfile.")
}

/// A file found in a directory, and a note to show when the choice was not the only one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub path: PathBuf,
    /// Set when the directory holds both a KDL spec and a Dockerfile: which was picked and how
    /// to pick the other.
    pub note: Option<String>,
}

/// What a verb reads when it is given no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look {
    /// `env.kdl`, then `duck.kdl` (verbs that read KDL specs only: `graph`, `lock`).
    Specs,
    /// As [`find_in`] picks: a KDL spec, else a Dockerfile (`build`, `check`, `explain`).
    Any,
}

/// The spec in `dir`: `env.kdl`, `duck.kdl`, else `Dockerfile` (or `Containerfile`). When `dir`
/// holds both a KDL spec and a Dockerfile, [`Found::note`] says which was picked (`build`,
/// `check` and `explain` pick alike).
pub fn find_in(dir: &Path) -> Result<Found, Error> {
    let found: Vec<PathBuf> = ["env.kdl", "duck.kdl", "Dockerfile", "Containerfile"]
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.exists())
        .collect();
    let Some(first) = found.first() else {
        return Err(Error::NothingIn {
            dir: dir.to_owned(),
        });
    };
    let mut note = None;
    if !is_dockerfile(first)
        && let Some(other) = found.iter().find(|p| is_dockerfile(p))
    {
        let name = |p: &Path| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        note = Some(format!(
            "`{}` holds both `{}` and `{}`; using `{}` (name the other with `-f {}`)",
            dir.display(),
            name(first),
            name(other),
            name(first),
            other.display()
        ));
    }
    Ok(Found {
        path: first.clone(),
        note,
    })
}

/// The file to read: the one given, else what `look` finds in the current directory (named
/// without a leading `./`).
pub fn find_spec(file: Option<&Path>, look: Look) -> Result<Found, Error> {
    if let Some(f) = file {
        return Ok(Found {
            path: f.to_owned(),
            note: None,
        });
    }
    match look {
        Look::Any => find_in(Path::new(".")).map(|f| Found {
            path: f.path.strip_prefix("./").unwrap_or(&f.path).to_owned(),
            note: f.note,
        }),
        Look::Specs => ["env.kdl", "duck.kdl"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
            .map(|path| Found { path, note: None })
            .ok_or(Error::NoSpecHere),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_names() {
        for yes in [
            "Dockerfile",
            "dir/Dockerfile",
            "app.Dockerfile",
            "Dockerfile.dev",
            "Containerfile",
            "dockerfile",
        ] {
            assert!(is_dockerfile(Path::new(yes)), "{yes}");
        }
        for no in ["env.kdl", "duck.kdl", "Dockerfiles/env.kdl", "README.md"] {
            assert!(!is_dockerfile(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn a_spec_is_picked_over_a_dockerfile_with_a_note() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM scratch\n").unwrap();
        let found = find_in(dir.path()).unwrap();
        assert_eq!(found.path, dir.path().join("Dockerfile"));
        assert_eq!(found.note, None);
        std::fs::write(dir.path().join("env.kdl"), "").unwrap();
        let found = find_in(dir.path()).unwrap();
        assert_eq!(found.path, dir.path().join("env.kdl"));
        assert!(found.note.unwrap().contains("using `env.kdl`"));
        std::fs::remove_file(dir.path().join("env.kdl")).unwrap();
        std::fs::remove_file(dir.path().join("Dockerfile")).unwrap();
        assert!(matches!(find_in(dir.path()), Err(Error::NothingIn { .. })));
    }
}
