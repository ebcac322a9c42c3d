//! The apt sources an image carries when its `packages` step says `apt-sources=#true` (the
//! `std/debian` bases do): the repository it was built from as
//! `/etc/apt/sources.list.d/debian.sources` (deb822, with `Signed-By`) and that repository's
//! keyrings under `/etc/apt/keyrings/`, as Debian's own images carry theirs, so `apt-get
//! update && apt-get install` works inside.
//!
//! The layer is a function of the repository's URI (as `duck.lock` records it, without
//! credentials), suite, components, `trusted` and the keyrings' bytes; [`AptSources::digest`]
//! puts all of them in the step's cache key.

use std::path::Path;

use duckc_layer::{Compression, SourceKind, WriteOptions};
use duckc_store::{LayerRef, Store};
use sha2::Digest as _;

use crate::source::Repository;

/// Where the sources file goes, as in Debian's images.
pub const SOURCES_FILE: &str = "etc/apt/sources.list.d/debian.sources";
/// Where the keyrings go: apt's directory for keyrings that no package owns.
pub const KEYRINGS_DIR: &str = "etc/apt/keyrings";

/// Why the sources layer could not be made.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("cannot read the keyring `{}` for the image's apt sources: {source}", path.display())]
    #[diagnostic(
        code(packages::keyring),
        help(
            "check the `signed-by` path in the repository line (or the config file's `keyring`): the keyring goes into the image with the sources"
        )
    )]
    Keyring {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write the apt sources layer: {0}")]
    #[diagnostic(
        code(packages::io),
        help("check that the store is writable and its disk not full")
    )]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] duckc_store::Error),
}

/// What the sources layer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AptSources {
    /// The repository's URI without credentials.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// Keyring file names (under [`KEYRINGS_DIR`]) and their bytes.
    pub keyrings: Vec<(String, Vec<u8>)>,
    pub trusted: bool,
}

/// `uri` as an image may hold it: without `user:password@` (apt reads credentials from
/// `auth.conf`, never from the sources, and an image is shared).
pub fn public_uri(uri: &str) -> String {
    if let Some((scheme, rest)) = uri.split_once("://") {
        let host_end = rest.find('/').unwrap_or(rest.len());
        if let Some(at) = rest[..host_end].rfind('@') {
            return format!("{scheme}://{}", &rest[at + 1..]);
        }
    }
    uri.to_owned()
}

impl AptSources {
    /// The sources of `repository` at `uri` (the lock's, else the repository's own), reading
    /// its keyrings (its `signed-by`, else the default keyring when installed).
    pub fn new(repository: &Repository, uri: &str) -> Result<AptSources, Error> {
        let mut keyrings: Vec<(String, Vec<u8>)> = Vec::new();
        for path in repository.effective_keyrings() {
            let bytes = std::fs::read(&path).map_err(|source| Error::Keyring {
                path: path.clone(),
                source,
            })?;
            let base = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .filter(|n| !n.starts_with('.'))
                .unwrap_or_else(|| "repository.gpg".to_owned());
            // Two keyrings of one name (from two directories) keep both.
            let mut name = base.clone();
            let mut n = 1;
            while keyrings.iter().any(|(k, _)| *k == name) {
                n += 1;
                name = format!("{n}-{base}");
            }
            keyrings.push((name, bytes));
        }
        Ok(AptSources {
            uri: public_uri(uri),
            suite: repository.suite.clone(),
            components: repository.components.clone(),
            keyrings,
            trusted: repository.trusted,
        })
    }

    /// The deb822 text of [`SOURCES_FILE`].
    pub fn deb822(&self) -> String {
        let mut out = String::from(
            "# The repository this image's packages were installed from (written by duckc).\n",
        );
        out.push_str("Types: deb\n");
        out.push_str(&format!("URIs: {}\n", self.uri));
        out.push_str(&format!("Suites: {}\n", self.suite));
        if !self.components.is_empty() {
            out.push_str(&format!("Components: {}\n", self.components.join(" ")));
        }
        if self.trusted {
            out.push_str("Trusted: yes\n");
        }
        if !self.keyrings.is_empty() {
            let paths: Vec<String> = self
                .keyrings
                .iter()
                .map(|(name, _)| format!("/{KEYRINGS_DIR}/{name}"))
                .collect();
            out.push_str(&format!("Signed-By: {}\n", paths.join(" ")));
        }
        out
    }

    /// Everything the layer is made of, for the step's cache key.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = sha2::Sha256::new();
        h.update(b"duckc-apt-sources-v1\0");
        h.update(self.deb822().as_bytes());
        for (name, bytes) in &self.keyrings {
            h.update([0]);
            h.update(name.as_bytes());
            h.update([0]);
            h.update(sha2::Sha256::digest(bytes));
        }
        h.finalize().into()
    }

    /// Write the layer: the sources file and the keyrings, root-owned, mode 0644 (their
    /// directories 0755, as apt ships them), with `SOURCE_DATE_EPOCH`'s time.
    pub fn write_layer(&self, store: &Store) -> Result<LayerRef, Error> {
        let dir = store.tmp_path("apt-sources");
        let result = (|| {
            for d in ["etc", "etc/apt", "etc/apt/sources.list.d", KEYRINGS_DIR] {
                make_dir(&dir.join(d))?;
            }
            write_file(&dir.join(SOURCES_FILE), self.deb822().as_bytes())?;
            for (name, bytes) in &self.keyrings {
                write_file(&dir.join(KEYRINGS_DIR).join(name), bytes)?;
            }
            Ok::<_, Error>(store.write_layer_snapshot(
                &dir,
                &WriteOptions {
                    epoch: duckc_layer::source_date_epoch(),
                    compression: Compression::BUILD,
                    source: SourceKind::Plain,
                },
            )?)
        })();
        if dir.symlink_metadata().is_ok() {
            let _ = duckc_layer::remove_tree(&dir);
        }
        result
    }
}

/// Create `path` and its missing parents, and give it mode 0755 whatever the umask.
fn make_dir(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
}

/// Create `path` with `bytes`, mode 0644 whatever the umask.
fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, bytes)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo() -> Repository {
        Repository {
            uri: "https://duck:secret@mirror.example/debian".into(),
            suite: "bookworm".into(),
            components: vec!["main".into(), "contrib".into()],
            keyrings: Vec::new(),
            trusted: false,
        }
    }

    #[test]
    fn credentials_never_reach_the_image() {
        assert_eq!(
            public_uri("https://duck:secret@mirror.example/debian"),
            "https://mirror.example/debian"
        );
        assert_eq!(public_uri("file:/srv/mirror"), "file:/srv/mirror");
        assert_eq!(
            public_uri("http://10.199.0.1:8080/a@b"),
            "http://10.199.0.1:8080/a@b"
        );
    }

    #[test]
    fn deb822_names_the_keyrings_it_carries() {
        let s = AptSources {
            uri: public_uri(&repo().uri),
            suite: "bookworm".into(),
            components: vec!["main".into(), "contrib".into()],
            keyrings: vec![("repo.gpg".into(), b"key".to_vec())],
            trusted: false,
        };
        insta::assert_snapshot!(s.deb822(), @r"
        # The repository this image's packages were installed from (written by duckc).
        Types: deb
        URIs: https://mirror.example/debian
        Suites: bookworm
        Components: main contrib
        Signed-By: /etc/apt/keyrings/repo.gpg
        ");
        let trusted = AptSources {
            keyrings: Vec::new(),
            trusted: true,
            ..s.clone()
        };
        assert!(trusted.deb822().contains("Trusted: yes\n"));
        assert!(!trusted.deb822().contains("Signed-By"));
        // Every input moves the digest: the URI, the keyring's bytes.
        let moved = AptSources {
            uri: "https://other.example/debian".into(),
            ..s.clone()
        };
        let rekeyed = AptSources {
            keyrings: vec![("repo.gpg".into(), b"other key".to_vec())],
            ..s.clone()
        };
        assert_ne!(s.digest(), moved.digest());
        assert_ne!(s.digest(), rekeyed.digest());
        assert_eq!(s.digest(), s.clone().digest());
    }
}
