//! The build executor: turns the layer graph of a spec into layers and tagged OCI images in the
//! store, skipping every node whose cache key is already cached, and explains why a node was
//! rebuilt.
//!
//! [`build`] schedules the graph's nodes on rayon (each node once its parent is done, so
//! independent envs build in parallel) and reports [`Event`]s on the caller's thread, which
//! [`progress::Printer`] turns into Docker-style output. The compiler's node keys say what a
//! step *is*; the cache key ([`cache_key`]) also folds in what the base resolved to, so a
//! re-tagged base image is never mistaken for the old one.

pub mod assemble;
pub mod context;
mod copy;
mod copy_from;
pub mod execute;
pub mod explain;
pub mod ignore;
mod lower;
mod packages_log;
pub mod plan;
pub mod progress;
pub mod record;
pub mod remote;
mod run;

use std::path::PathBuf;

pub use copy::url_digest;
pub use execute::{BuildOptions, BuildOutcome, Event, NodeResult, Unit, build};
pub use plan::{EnvPlan, PlanStep};
pub use remote::RemoteCache;

/// Errors of a build. Codes `build::…`; the store's, the image crate's and the packages crate's
/// errors keep theirs.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] duckc_store::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Image(#[from] duckc_image::Error),
    #[error("cannot access `{path}`: {source}")]
    #[diagnostic(code(build::io))]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A `from` image that is not in the store; made by [`Error::base_missing`], whose help
    /// names the stored tag it is likely a typo of before where a base comes from.
    #[error("base image `{reference}` is not in the store")]
    #[diagnostic(code(build::base_missing))]
    BaseMissing {
        reference: String,
        #[help]
        help: String,
    },
    /// An `oci-layout:` base that cannot be read.
    #[error("cannot load the base `oci-layout:{path}`: {reason}")]
    #[diagnostic(code(build::base_layout))]
    BaseLayout { path: String, reason: String },
    /// A `packages` node whose packages the lock does not hold (`packages::lock_stale`).
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotLocked(#[from] duckc_packages::lock::NotLocked),
    /// A `packages` node that could not be built (not locked, a download or a `.deb` that
    /// does not verify, a maintainer script that failed): the packages crate's code and help.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Packages(Box<duckc_packages::locking::BuildError>),
    /// A spec with `packages` steps given to the executor without its lock.
    #[error("the spec's packages are not locked")]
    #[diagnostic(code(build::packages_unlocked))]
    PackagesUnlocked,
    /// A `run` step that exited non-zero.
    #[error("`{step}` failed with exit code {code}")]
    #[diagnostic(code(build::run_failed))]
    RunFailed {
        step: String,
        code: i32,
        /// The last lines of its output.
        tail: String,
    },
    /// The runtime could not start or wait for a `run` step.
    #[error("cannot run `{step}`: {reason}")]
    #[diagnostic(code(build::runtime))]
    Runtime { step: String, reason: String },
    /// A `run` step could not be put on its network (the CLI says what to do, as `run` does).
    #[error("cannot run `{step}`: {source}")]
    #[diagnostic(code(build::network))]
    Network {
        step: String,
        #[source]
        source: Box<duckc_runtime::net::NetError>,
    },
    /// A context file that no longer has the digest the compiler keyed it by.
    #[error("`{path}` changed while the build was reading it")]
    #[diagnostic(
        code(build::context_changed),
        help("build again once nothing writes to the build context")
    )]
    ContextChanged { path: String },
    /// A bind mount source that does not resolve to a file inside what was staged for it.
    #[error("the bind mount source `{path}` is not a file inside the build context")]
    #[diagnostic(code(build::bind_symlink))]
    BindSymlink { path: String },
    /// A `chown=` that names an unknown user or group.
    #[error("invalid `chown=\"{spec}\"`: {reason}")]
    #[diagnostic(code(build::chown))]
    Chown { spec: String, reason: String },
    /// A `run` step for a platform this machine cannot run binaries of.
    #[error("cannot run `{step}` for `{platform}`: {reason}")]
    #[diagnostic(code(build::platform))]
    Platform {
        step: String,
        platform: String,
        reason: String,
    },
    /// A single-platform base image of another platform than the one being built.
    #[error("base image `{reference}` is `{has}`, not `{platform}`")]
    #[diagnostic(code(build::base_platform))]
    BasePlatform {
        reference: String,
        has: String,
        platform: String,
    },
    /// A `copy … from=` source path that the source's filesystem does not have.
    #[error("`{path}` does not exist in `{image}`")]
    #[diagnostic(
        code(build::copy_from_missing),
        help(
            "the path is looked up in the source's filesystem as built: check that a step there makes it"
        )
    )]
    CopyFromMissing { path: String, image: String },
    /// An `ADD`ed archive that cannot be extracted.
    #[error("cannot unpack `{path}`: {reason}")]
    #[diagnostic(code(build::archive))]
    Archive { path: String, reason: String },
    /// An `ADD` URL that could not be downloaded.
    #[error("cannot download `{url}`: {reason}")]
    #[diagnostic(code(build::download))]
    Download { url: String, reason: String },
    /// An `ADD` URL whose content is not what its `--checksum` (or the planned digest) says.
    #[error("`{url}` has digest {got}, not the expected {expected}")]
    #[diagnostic(code(build::checksum))]
    Checksum {
        url: String,
        expected: String,
        got: String,
    },
    /// A step that needs ids besides root's while duckc runs rootless with only the caller
    /// mapped (no subordinate ids).
    #[error("{what} needs user ids besides root's, and this rootless duckc has no subordinate ids")]
    #[diagnostic(code(build::no_subordinate_ids))]
    NoSubordinateIds { what: String },
    /// A destination that goes through something the parents' tree holds that is not a
    /// directory (`COPY x /etc/passwd/y`, `WORKDIR /etc/passwd`).
    #[error("cannot write `{path}`: `{file}` is not a directory in the image")]
    #[diagnostic(
        code(build::not_a_directory),
        help(
            "destinations resolve inside the image as Docker resolves them (its symlinks followed); write to a directory path, or remove what is in the way in an earlier step"
        )
    )]
    NotADirectory { path: String, file: String },
    /// A destination whose symlinks (inside the image) never end.
    #[error("cannot resolve `{path}` in the image: too many levels of symbolic links")]
    #[diagnostic(
        code(build::symlink_loop),
        help(
            "destinations resolve inside the image as Docker resolves them (its symlinks followed); write to a directory path, or remove what is in the way in an earlier step"
        )
    )]
    SymlinkLoop { path: String },
    /// A node the graph does not hold (a compiler bug).
    #[error("the layer graph has no node `{0}`")]
    #[diagnostic(code(build::missing_node))]
    MissingNode(String),
}

/// Result of this crate.
// Boxed: the packages error is large, and every executor `Result` would carry its size.
impl From<duckc_packages::locking::BuildError> for Error {
    fn from(e: duckc_packages::locking::BuildError) -> Self {
        Error::Packages(Box::new(e))
    }
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The cache key of a node: its compiler key, its parent's cache key, and for a base what it
/// resolved to (the manifest digest). Everything that can change a layer is in it.
pub fn cache_key(
    node: &duckc_ir::NodeKey,
    parent: Option<&duckc_store::Digest>,
    base: Option<&duckc_store::Digest>,
) -> duckc_store::Digest {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    for (name, value) in [
        ("duckc-cache-key", &b"v1"[..]),
        ("node", &node.0.0[..]),
        ("parent", parent.map_or(&[][..], |d| &d.as_bytes()[..])),
        ("base", base.map_or(&[][..], |d| &d.as_bytes()[..])),
    ] {
        for part in [name.as_bytes(), value] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
    }
    duckc_store::Digest::from_hasher(h)
}

/// The cache key of a chain's root (its base) built for `platform`: what the base resolved
/// to and the platform, so the same spec built for two platforms never shares a cache entry.
pub fn root_key(
    node: &duckc_ir::NodeKey,
    base: Option<&duckc_store::Digest>,
    platform: &str,
) -> duckc_store::Digest {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"duckc-root-v1\0");
    h.update(platform.as_bytes());
    h.update([0]);
    if let Some(b) = base {
        h.update(b.as_bytes());
    }
    cache_key(node, None, Some(&duckc_store::Digest::from_hasher(h)))
}

/// The config `created` time and layer mtime clamp: `SOURCE_DATE_EPOCH`, else 0. Never the
/// wall clock, so the same inputs give the same digests on any day.
pub fn epoch() -> i64 {
    duckc_layer::source_date_epoch().min(i64::MAX as u64) as i64
}

impl Error {
    /// [`Error::BaseMissing`] for `reference`; `stored` are the store's tags (`name:tag`),
    /// the nearest of which is offered first (`FROM busybx` is more likely a typo than an
    /// image to pull).
    pub fn base_missing<'a>(reference: &str, stored: impl IntoIterator<Item = &'a str>) -> Error {
        let from = format!(
            "load it with `duckc load -i FILE` or pull it with `duckc pull {reference}` (a build pulls a missing base from its registry unless `--pull=never`)"
        );
        let help = match duckc_syntax::suggest::nearest(reference, stored) {
            Some(tag) if tag != reference => format!("did you mean `{tag}`? Otherwise {from}"),
            _ => from,
        };
        Error::BaseMissing {
            reference: reference.to_owned(),
            help,
        }
    }
}

#[cfg(test)]
mod error_tests {
    use miette::Diagnostic;

    use super::Error;

    #[test]
    fn errors_carry_their_code_and_a_help_with_their_fields() {
        let e = Error::base_missing("duck:v3", ["busybox:latest"]);
        assert_eq!(
            e.code().map(|c| c.to_string()).as_deref(),
            Some("build::base_missing")
        );
        let help = e.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(help.contains("`duckc pull duck:v3`"), "{help}");
        assert!(!help.contains("did you mean"), "{help}");
        let e = Error::base_missing("busybx:latest", ["busybox:latest", "duck:v3"]);
        let help = e.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(
            help.starts_with("did you mean `busybox:latest`? Otherwise load it")
                && help.contains("`duckc pull busybx:latest`"),
            "{help}"
        );
        // The store's errors keep their own code through the executor's.
        let store = Error::from(duckc_store::Error::LayerMissing(duckc_store::Digest::of(
            b"",
        )));
        assert_eq!(
            store.code().map(|c| c.to_string()).as_deref(),
            Some("store::layer_missing")
        );
        // So do the packages crate's, with their help.
        let stale = Error::from(duckc_packages::locking::BuildError::NotLocked(
            duckc_packages::lock::NotLocked::Env { env: "app".into() },
        ));
        assert_eq!(
            stale.code().map(|c| c.to_string()).as_deref(),
            Some("packages::lock_stale")
        );
        let help = stale.help().map(|h| h.to_string()).unwrap_or_default();
        assert!(help.contains("`duckc lock`"), "{help}");
    }
}
