//! A client of the OCI distribution API (v1.1): image names with registries, `pull` (an
//! index's platform, layers in parallel, each verified while it streams into the store),
//! `push` (gzip of build layers remembered, `HEAD` before upload, cross-repository mounts),
//! and credentials in Docker's config format for `login`/`logout`.

pub mod cache;
pub mod client;
pub mod credentials;
pub mod name;
pub mod origin;
pub mod pull;
pub mod push;
pub mod referrers;
mod sources;
mod upload;

#[cfg(test)]
mod hostile_tests;
#[cfg(test)]
mod metadata_gen;

use std::path::PathBuf;

pub use client::{Client, Options};
pub use credentials::Credentials;
pub use name::{Reference, parse};
pub use pull::{Event as PullEvent, Platform, PullOptions, Pulled, pull};
pub use push::{Pushed, push};

/// Errors of registry operations. Each names the image and, where there is one, the layer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A name that does not parse.
    #[error("invalid image name `{0}`: {1}")]
    BadReference(String, String),
    /// A short name with no search registry configured.
    #[error("`{0}` names no registry, and no search registries are configured")]
    NoRegistry(String),
    /// Connecting or reading failed.
    #[error("cannot reach `{url}`: {message}")]
    Transport {
        /// Where (no credentials in it).
        url: String,
        /// Why.
        message: String,
    },
    /// TLS set-up failed (a bad CA file).
    #[error("{0}")]
    Tls(String),
    /// The registry has no such thing.
    #[error("{what}: not found in the registry{detail}")]
    NotFound {
        /// What was asked for.
        what: String,
        /// The registry's message.
        detail: String,
    },
    /// Authentication failed or is needed.
    #[error("{what}: not authorized by {host}: {why}")]
    Unauthorized {
        /// What was asked for.
        what: String,
        /// The registry.
        host: String,
        /// Why.
        why: String,
    },
    /// Another unexpected status.
    #[error("{what}: the registry answered {status}{detail}")]
    Status {
        /// What was asked for.
        what: String,
        /// The HTTP status.
        status: u16,
        /// The registry's message.
        detail: String,
    },
    /// A manifest or config over the size limit.
    #[error("{what} is larger than {limit} bytes: refused")]
    TooLarge {
        /// What.
        what: String,
        /// The limit.
        limit: u64,
    },
    /// Bytes that do not match what they should be.
    #[error("{what}: {reason}")]
    Mismatch {
        /// What.
        what: String,
        /// How.
        reason: String,
    },
    /// A blob that could not be stored (its digest or size did not match, or I/O failed).
    #[error("{what}: {source}")]
    Blob {
        /// Which blob of which image.
        what: String,
        /// The store's error.
        source: Box<duckc_store::Error>,
    },
    /// A manifest that does not parse or that duckc cannot use.
    #[error("invalid {what}: {}", printable(reason))]
    BadManifest {
        /// Which.
        what: String,
        /// Why.
        reason: String,
    },
    /// An index without the platform asked for.
    #[error("`{name}` has no image for {platform} (it has: {available})")]
    NoPlatform {
        /// The image.
        name: String,
        /// The platform asked for.
        platform: String,
        /// The platforms it has.
        available: String,
    },
    /// A `--cache-from`/`--cache-to` tag that names something other than a duckc build cache
    /// (an export would overwrite it).
    #[error("`{reference}` is not a duckc build cache: it is {what}")]
    NotACache {
        /// The tag.
        reference: String,
        /// What it is instead.
        what: String,
    },
    /// Reading or writing the Docker config file's credentials failed.
    #[error("{0}")]
    Credentials(String),
    /// A credential helper (`docker-credential-NAME`) is missing, failed or answered nonsense.
    #[error("{message}")]
    CredentialHelper {
        /// What happened, with the helper's own words where it gave any.
        message: String,
        /// The helper's program name.
        program: String,
        /// Which way it failed.
        failure: credentials::HelperFailure,
    },
    /// Local I/O.
    #[error("cannot access `{}`: {source}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The store failed.
    #[error(transparent)]
    Store(Box<duckc_store::Error>),
    /// Reading or recording an image failed.
    #[error(transparent)]
    Image(Box<duckc_image::Error>),
}

impl From<duckc_store::Error> for Error {
    fn from(e: duckc_store::Error) -> Self {
        Error::Store(Box::new(e))
    }
}

impl From<duckc_image::Error> for Error {
    fn from(e: duckc_image::Error) -> Self {
        Error::Image(Box::new(e))
    }
}

/// Text from a registry made safe to print: control characters (terminal escapes) become `?`,
/// and it is cut at 500 characters.
pub(crate) fn printable(s: &str) -> String {
    s.chars()
        .take(500)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;
