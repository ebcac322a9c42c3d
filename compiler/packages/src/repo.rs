//! Reading a repository: `InRelease` (or `Release` + `Release.gpg`) verified against the
//! keyring, then each component's `Packages` index checked against the Release's sha256.

use std::io::Read;

use crate::cached::{self, IndexFile};
use crate::download::{self, Download, DownloadCache, sha256_bytes};
use crate::fetch::{self, Fetcher};
use crate::index::{self, Index, Package};
use crate::release::{self, Release};
use crate::source::{Repository, redact};

/// Release files larger than this are refused (bookworm's is about 150 KiB).
const RELEASE_LIMIT: u64 = 16 << 20;
/// Decompressed `Packages` larger than this are refused (bookworm main is about 100 MiB).
pub(crate) const PACKAGES_LIMIT: u64 = 1 << 30;

/// A repository's packages for one architecture, and the digest of the Release they came from.
#[derive(Debug, Clone)]
pub struct RepositoryIndex {
    pub repository: Repository,
    /// `sha256:HEX` of the `InRelease` (or `Release`) file as fetched.
    pub release: String,
    pub index: Index,
}

/// Why a repository's index could not be fetched. Codes `packages::…`; a fetch, Release or
/// `Packages` error keeps its own.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] fetch::Error),
    #[error("{} {}: {source}", redact(&repository.uri), repository.suite)]
    #[diagnostic(forward(source))]
    Release {
        repository: Box<Repository>,
        source: release::Error,
    },
    #[error(
        "repository `{}` {} has no `{architecture}` packages (it has {available})",
        redact(uri),
        suite
    )]
    #[diagnostic(
        code(packages::no_architecture),
        help(
            "build for a `platform` the repository has, or use a repository that has this architecture"
        )
    )]
    NoArchitecture {
        uri: String,
        suite: String,
        architecture: String,
        available: String,
    },
    #[error("the Release file lists no `Packages` index for `{component}/binary-{architecture}`")]
    #[diagnostic(
        code(packages::no_index),
        help("check the components in the repository line (e.g. `main`) and the platform")
    )]
    NoIndex {
        component: String,
        architecture: String,
    },
    #[error("`{path}`: {source}")]
    #[diagnostic(forward(source))]
    Index {
        path: String,
        source: download::Error,
    },
    #[error("`{path}` cannot be decompressed: {source}")]
    #[diagnostic(
        code(packages::bad_index),
        help(
            "the repository's `Packages` index is damaged: report it to its maintainers, or use another mirror"
        )
    )]
    Decompress {
        path: String,
        source: std::io::Error,
    },
    #[error("`{path}` is larger than {PACKAGES_LIMIT} bytes uncompressed")]
    #[diagnostic(
        code(packages::index_too_large),
        help(
            "the index is larger than any Debian suite's: check the repository line (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
        )
    )]
    TooLarge { path: String },
    #[error("`{path}`: {source}")]
    #[diagnostic(
        code(packages::bad_index),
        help(
            "the repository's `Packages` index is damaged: report it to its maintainers, or use another mirror"
        )
    )]
    Parse { path: String, source: index::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Fetch and verify the index of `architecture`. `Packages` files go through the download
/// cache, so an unchanged index is not fetched twice.
pub fn fetch_index(
    repository: &Repository,
    architecture: &str,
    fetcher: &Fetcher,
    cache: &DownloadCache,
) -> Result<RepositoryIndex> {
    let release_error = |source| Error::Release {
        repository: Box::new(repository.clone()),
        source,
    };
    let keyrings = repository.effective_keyrings();
    let (raw, text) = match fetcher.get(&repository.dists_url("InRelease"), RELEASE_LIMIT) {
        Ok(raw) => {
            let text = match release::verify_clearsigned(&raw, &keyrings) {
                Ok(text) => text,
                Err(_) if repository.trusted => release::strip_clearsign(&raw),
                Err(e) => return Err(release_error(e)),
            };
            (raw, text)
        }
        Err(fetch::Error::NotFound { .. }) => {
            let raw = fetcher.get(&repository.dists_url("Release"), RELEASE_LIMIT)?;
            match fetcher.get(&repository.dists_url("Release.gpg"), RELEASE_LIMIT) {
                Ok(sig) => match release::verify_detached(&raw, &sig, &keyrings) {
                    Ok(()) => {}
                    Err(_) if repository.trusted => {}
                    Err(e) => return Err(release_error(e)),
                },
                Err(fetch::Error::NotFound { .. }) if repository.trusted => {}
                Err(fetch::Error::NotFound { .. }) => {
                    return Err(release_error(release::Error::BadSignature {
                        keyrings,
                        detail: "the repository is not signed (no `InRelease`, no `Release.gpg`); mark it trusted only if you trust the way to it".into(),
                    }));
                }
                Err(e) => return Err(e.into()),
            }
            (raw.clone(), raw)
        }
        Err(e) => return Err(e.into()),
    };
    let release = Release::parse(&String::from_utf8_lossy(&text)).map_err(release_error)?;
    if !release.architectures.is_empty() && !release.architectures.iter().any(|a| a == architecture)
    {
        return Err(Error::NoArchitecture {
            uri: repository.uri.clone(),
            suite: repository.suite.clone(),
            architecture: architecture.to_owned(),
            available: release.architectures.join(", "),
        });
    }
    let mut packages: Vec<Package> = Vec::new();
    let mut files = Vec::new();
    for component in &repository.components {
        let (component_packages, file) = fetch_component(
            repository,
            &release,
            component,
            architecture,
            fetcher,
            cache,
        )?;
        packages.extend(component_packages);
        files.push(file);
    }
    // Best effort: without the record only the language server's completion misses it.
    let _ = cached::write(cache, repository, architecture, &files);
    Ok(RepositoryIndex {
        repository: repository.clone(),
        release: format!("sha256:{}", sha256_bytes(&raw)),
        index: Index::from_packages(architecture, packages),
    })
}

/// One component's packages, and the cached file they were read from.
fn fetch_component(
    repository: &Repository,
    release: &Release,
    component: &str,
    architecture: &str,
    fetcher: &Fetcher,
    cache: &DownloadCache,
) -> Result<(Vec<Package>, IndexFile)> {
    let base = format!("{component}/binary-{architecture}/Packages");
    let (path, (size, sha256)) = ["xz", "gz", ""]
        .iter()
        .map(|ext| {
            if ext.is_empty() {
                base.clone()
            } else {
                format!("{base}.{ext}")
            }
        })
        .find_map(|p| release.sha256.get(&p).map(|entry| (p, entry.clone())))
        .ok_or_else(|| Error::NoIndex {
            component: component.to_owned(),
            architecture: architecture.to_owned(),
        })?;
    // The Release also pins the uncompressed `Packages`: kept in the download cache under its
    // own sha256, it spares decompressing the index again (half a second for bookworm's xz).
    let plain = (path != base)
        .then(|| release.sha256.get(&base).cloned())
        .flatten()
        .filter(|(size, _)| *size <= PACKAGES_LIMIT);
    if let Some((plain_size, plain_sha256)) = &plain
        && let Ok(text) = std::fs::read(cache.path(plain_sha256))
        && text.len() as u64 == *plain_size
        && sha256_bytes(&text) == *plain_sha256
    {
        let file = IndexFile {
            path: base.clone(),
            sha256: plain_sha256.clone(),
        };
        return Ok((parse_packages(&text, &base, architecture)?, file));
    }
    let item = Download {
        name: path.clone(),
        url: repository.dists_url(&path),
        size,
        sha256: sha256.clone(),
    };
    let file = cache
        .fetch(fetcher, &item, &|_| {})
        .map_err(|source| Error::Index {
            path: path.clone(),
            source,
        })?;
    let file = std::fs::File::open(&file).map_err(|source| Error::Decompress {
        path: path.clone(),
        source,
    })?;
    let text = decompress(file, &path)?;
    let mut read_from = IndexFile {
        path: path.clone(),
        sha256,
    };
    if let Some((plain_size, plain_sha256)) = &plain
        && text.len() as u64 == *plain_size
        && sha256_bytes(&text) == *plain_sha256
        // Best effort: without it the next run decompresses again.
        && cache.put(plain_sha256, &text).is_ok()
    {
        read_from = IndexFile {
            path: base.clone(),
            sha256: plain_sha256.clone(),
        };
    }
    Ok((parse_packages(&text, &path, architecture)?, read_from))
}

/// The text of the index file `path` (`….xz`, `….gz` or plain), read from `file`.
pub(crate) fn decompress<'a>(file: impl Read + 'a, path: &str) -> Result<Vec<u8>> {
    let decompress = |source| Error::Decompress {
        path: path.to_owned(),
        source,
    };
    let reader: Box<dyn Read + 'a> = if path.ends_with(".xz") {
        Box::new(liblzma::read::XzDecoder::new(file))
    } else if path.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let mut text = Vec::new();
    reader
        .take(PACKAGES_LIMIT + 1)
        .read_to_end(&mut text)
        .map_err(decompress)?;
    if text.len() as u64 > PACKAGES_LIMIT {
        return Err(Error::TooLarge {
            path: path.to_owned(),
        });
    }
    Ok(text)
}

fn parse_packages(text: &[u8], path: &str, architecture: &str) -> Result<Vec<Package>> {
    let index = Index::parse(&String::from_utf8_lossy(text), architecture).map_err(|source| {
        Error::Parse {
            path: path.to_owned(),
            source,
        }
    })?;
    Ok(index.into_packages())
}
