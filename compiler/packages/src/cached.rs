//! The `Packages` indexes the download cache holds, found without the network: the cache names
//! files by sha256 only, so [`crate::repo::fetch_index`] also records, for each repository,
//! suite, components and architecture, which index files it last read (`indexes/<key>` next
//! to `sha256/`). The language server reads that record to complete package names offline.
//!
//! A record is written beside its final name and renamed, so a reader sees a whole record (the
//! old or the new one) while other duckc processes write; the files it names are hashed before
//! use, as everything read from the cache is.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::download::{DownloadCache, sha256_bytes};
use crate::index::Index;
use crate::source::{Repository, redact};

/// Records larger than this are not read (a record is a few lines).
const RECORD_LIMIT: u64 = 64 << 10;

/// One `Packages` file in the download cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFile {
    /// The path below `dists/SUITE/`: `main/binary-amd64/Packages.xz`.
    pub path: String,
    /// Lowercase hex, its name in the cache.
    pub sha256: String,
}

/// The index files last read for one repository and architecture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub files: Vec<IndexFile>,
}

impl Record {
    /// What the package names depend on: the same digest, the same names.
    pub fn digest(&self) -> String {
        let all: Vec<&str> = self.files.iter().map(|f| f.sha256.as_str()).collect();
        sha256_bytes(all.join(" ").as_bytes())
    }
}

/// The line that says which repository a record is for (credentials left out).
fn identity(repository: &Repository, architecture: &str) -> String {
    format!(
        "repository {} {} {} {}",
        redact(&repository.uri),
        repository.suite,
        architecture,
        repository.components.join(" ")
    )
}

fn record_path(cache: &DownloadCache, repository: &Repository, architecture: &str) -> PathBuf {
    let key = sha256_bytes(identity(repository, architecture).as_bytes());
    cache.dir().join("indexes").join(key)
}

/// Records `files` as the index of `repository` for `architecture`, replacing the record
/// before it.
pub fn write(
    cache: &DownloadCache,
    repository: &Repository,
    architecture: &str,
    files: &[IndexFile],
) -> std::io::Result<()> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let target = record_path(cache, repository, architecture);
    let dir = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let mut text = format!(
        "# the Packages files duckc last read for this repository (docs/packages.md)\n{}\n",
        identity(repository, architecture)
    );
    for f in files {
        text.push_str(&format!("index {} {}\n", f.path, f.sha256));
    }
    let tmp = dir.join(format!(
        ".tmp-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let written = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &target));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// The record of `repository` for `architecture`, if one was written; reads only that file.
pub fn read(cache: &DownloadCache, repository: &Repository, architecture: &str) -> Option<Record> {
    let file = std::fs::File::open(record_path(cache, repository, architecture)).ok()?;
    let mut text = String::new();
    file.take(RECORD_LIMIT).read_to_string(&mut text).ok()?;
    let mut lines = text.lines().filter(|l| !l.starts_with('#'));
    if lines.next()? != identity(repository, architecture) {
        return None;
    }
    let mut files = Vec::new();
    for line in lines {
        let mut words = line.split(' ');
        let (Some("index"), Some(path), Some(sha256), None) =
            (words.next(), words.next(), words.next(), words.next())
        else {
            return None;
        };
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        files.push(IndexFile {
            path: path.to_owned(),
            sha256: sha256.to_owned(),
        });
    }
    Some(Record { files })
}

/// The package names of a record's files and each one's highest version, sorted by name;
/// `None` when a file is missing from the cache or does not hash to its name.
pub fn names(
    cache: &DownloadCache,
    record: &Record,
    architecture: &str,
) -> Option<Vec<(String, String)>> {
    let mut all: Vec<(String, debversion::Version)> = Vec::new();
    for f in &record.files {
        let path = cache.path(&f.sha256);
        if std::fs::metadata(&path).ok()?.len() > crate::repo::PACKAGES_LIMIT {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        if sha256_bytes(&bytes) != f.sha256 {
            return None;
        }
        let text = crate::repo::decompress(&bytes[..], &f.path).ok()?;
        let index = Index::parse(&String::from_utf8_lossy(&text), architecture).ok()?;
        all.extend(
            index
                .into_packages()
                .into_iter()
                .map(|p| (p.name, p.version)),
        );
    }
    // By name, the highest version first, then one entry per name.
    all.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)));
    all.dedup_by(|later, first| later.0 == first.0);
    Some(
        all.into_iter()
            .map(|(name, version)| (name, version.to_string()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repository() -> Repository {
        Repository {
            uri: "http://user:secret@mirror.test/debian".into(),
            suite: "stable".into(),
            components: vec!["main".into()],
            ..Repository::default()
        }
    }

    /// A `Packages` file: two versions of `duck`, an `all` package and one for arm64 only.
    fn packages() -> String {
        [
            ("duck", "1.0", "amd64"),
            ("duck", "1.10", "amd64"),
            ("ant", "2", "all"),
            ("arm-only", "1", "arm64"),
        ]
        .iter()
        .map(|(name, version, arch)| {
            format!(
                "Package: {name}\nVersion: {version}\nArchitecture: {arch}\n\
                 Filename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {}\n\n",
                "0".repeat(64)
            )
        })
        .collect()
    }

    #[test]
    fn a_record_names_the_index_and_gives_its_names() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        let text = packages();
        let sha256 = sha256_bytes(text.as_bytes());
        cache.put(&sha256, text.as_bytes()).unwrap();
        let files = vec![IndexFile {
            path: "main/binary-amd64/Packages".into(),
            sha256,
        }];
        assert_eq!(read(&cache, &repository(), "amd64"), None);
        write(&cache, &repository(), "amd64", &files).unwrap();
        let record = read(&cache, &repository(), "amd64").unwrap();
        assert_eq!(record.files, files);
        // Another architecture, suite or component set is another record.
        assert_eq!(read(&cache, &repository(), "arm64"), None);
        let other = Repository {
            components: vec!["main".into(), "contrib".into()],
            ..repository()
        };
        assert_eq!(read(&cache, &other, "amd64"), None);
        assert_eq!(
            names(&cache, &record, "amd64").unwrap(),
            [("ant".into(), "2".into()), ("duck".into(), "1.10".into())]
        );
        // The record keeps no credentials.
        let text = std::fs::read_dir(dir.path().join("indexes"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect::<String>();
        assert!(!text.contains("secret"), "{text}");
    }

    #[test]
    fn a_file_missing_or_changed_in_the_cache_gives_no_names() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        let sha256 = sha256_bytes(packages().as_bytes());
        let record = Record {
            files: vec![IndexFile {
                path: "main/binary-amd64/Packages".into(),
                sha256: sha256.clone(),
            }],
        };
        assert_eq!(names(&cache, &record, "amd64"), None);
        std::fs::create_dir_all(dir.path().join("sha256")).unwrap();
        std::fs::write(cache.path(&sha256), "Package: other\n").unwrap();
        assert_eq!(names(&cache, &record, "amd64"), None);
    }

    #[test]
    fn a_damaged_record_is_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path());
        write(&cache, &repository(), "amd64", &[]).unwrap();
        let path = record_path(&cache, &repository(), "amd64");
        let good = std::fs::read_to_string(&path).unwrap();
        for bad in ["index a b\n", "index a 12\n", "junk\n"] {
            std::fs::write(&path, format!("{good}{bad}")).unwrap();
            assert_eq!(read(&cache, &repository(), "amd64"), None, "{bad}");
        }
    }
}
