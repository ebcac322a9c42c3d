//! The content-addressed store: an OCI-layout blob store, a layer index (diff_id → blob),
//! unpacked layer snapshots, image refs, the build cache index and the containers directory,
//! all written atomically and shared safely between concurrent duckc processes.
//!
//! Layout under the root (see `docs/architecture.md`). The store makes every top directory
//! but `registry/` and `networks/` when it opens; the second column says who writes below.
//! ```text
//! oci-layout                      {"imageLayoutVersion":"1.0.0"}: blobs/ is an OCI blob store
//! blobs/sha256/<hex>              every blob (layers, configs, manifests, indexes), but no file
//!                                 for an uncompressed layer kept as its snapshot ([`rewrite`])
//! layers/sha256/<diff>.json       diff_id → the blob that holds that layer: only once the blob
//!                                 is known to unpack to it (none for a pulled, unread layer)
//! snapshots/sha256/<diff>/        the layer unpacked once (overlay whiteouts), read-only lowerdir
//! snapshots/sha256/<diff>.json    its record: present only once the directory is complete; with
//!                                 `rewrite`, the snapshot stands for the layer's blob
//! cache/sha256/<key>.json         build cache: layer-graph key → layer
//! cache/sha256/<key>.layers.json  build cache: key → several layers (a `packages` step)
//! refs.json                       known images and tags (`name:tag` → manifest digest)
//! roots/<id>                      extra gc roots (e.g. containers): manifest digests, one a line
//! containers/<id>/                a container (`duckc_runtime::container` owns it): config.json,
//!                                 state.json, log, and its overlay's upper/, work/, rootfs/
//! locks/                          flock files
//! tmp/                            scratch on the same file system, for atomic renames
//! builds/<hash>.json              duckc-executor's record of an env's last build (`explain`)
//! cache-mounts/<sha256 of id>/    duckc-executor: a `RUN --mount=type=cache` directory
//! downloads/sha256/<hex>          duckc-packages: downloaded `.deb`s and indexes, by sha256
//!                                 (`<hex>.partial` while one downloads)
//! downloads/indexes/<key>         duckc-packages: the `Packages` files last read for a
//!                                 repository (`duckc_packages::cached`)
//! registry/gzip/<hex>.json        duckc-registry (push): the gzip blob made from layer <hex>
//! registry/zstd/<hex>.json        duckc-registry (push): the same for zstd
//! registry/sources/<hex>          duckc-registry: `host repository` lines that hold blob <hex>
//! registry/uploads/<hash>.json    duckc-registry (push): a chunked upload under way, to resume
//! registry/origins/<hex>.json     duckc-registry: where image <hex> was pulled from, pushed to
//! networks/<name>.json            the CLI (`duckc network create`): a user network
//! ```
//!
//! **Invariant:** the root and every directory duckc makes in it are 0700, private files
//! (container configs, states, logs, locks) 0600, and the root belongs to the user who runs
//! duckc (see [`modes`]).

mod atomic;
mod blobs;
mod cache;
mod crash;
mod layers;
mod lock;
pub mod modes;
mod refs;
mod rewrite;
mod snapshot;
mod space;
mod verify;

use std::io;
use std::path::{Path, PathBuf};

pub use duckc_layer::{Compression, Digest};

pub use atomic::{Durability, fsync_dir, write_atomic, write_atomic_with};
pub use blobs::BlobWriter;
pub use crash::crash_point;
pub use layers::{LayerRecord, LayerRef};
pub use lock::{Lease, LockFile};
pub use refs::{ImageEntry, Refs};
pub use rewrite::{BlobReader, Rewrite, RewriteMismatch};
pub use snapshot::SnapshotRecord;
pub use space::{RESERVE_MAX, Space, human, is_no_space};
pub use verify::{Problem, VerifyReport};

/// Errors of the store. Codes `store::…`; a cause that the message already says (`{source}`)
/// is printed once, by `duckc_diagnostic::render_error`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A file system operation failed.
    #[error("cannot access `{path}`: {source}")]
    #[diagnostic(code(store::io))]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A blob that is not in the store.
    #[error("blob `{0}` is not in the store")]
    #[diagnostic(
        code(store::blob_missing),
        help("`duckc verify` checks the store; pull or build the image again")
    )]
    BlobMissing(Digest),
    /// A layer (by diff_id) that no stored blob provides.
    #[error("no layer with diff_id `{0}` in the store")]
    #[diagnostic(
        code(store::layer_missing),
        help("`duckc verify` checks the store; pull or build the image again")
    )]
    LayerMissing(Digest),
    /// Bytes that did not hash to what they should.
    #[error("digest mismatch for `{what}`: expected {expected}, got {actual}")]
    #[diagnostic(code(store::digest_mismatch))]
    DigestMismatch {
        /// What was checked.
        what: String,
        /// The expected digest.
        expected: Digest,
        /// The digest of the bytes.
        actual: Digest,
    },
    /// Bytes of another length than declared.
    #[error("size mismatch for `{what}`: expected {expected} bytes, got {actual}")]
    #[diagnostic(code(store::size_mismatch))]
    SizeMismatch {
        /// What was checked.
        what: String,
        /// The expected size.
        expected: u64,
        /// The real size.
        actual: u64,
    },
    /// A blob larger than a reader accepts.
    #[error("blob `{0}` is larger than {1} bytes")]
    #[diagnostic(code(store::too_large))]
    TooLarge(Digest, u64),
    /// A store file that does not parse.
    #[error("store file `{path}` is corrupt: {reason}")]
    #[diagnostic(
        code(store::corrupt),
        help("`duckc verify --repair` drops what it cannot trust")
    )]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A store root that belongs to another user.
    #[error(
        "the store `{path}` belongs to uid {owner}, not to this user (uid {me}): its owner could change images and containers under duckc"
    )]
    #[diagnostic(
        code(store::not_owner),
        help("use a store of your own: `--store DIR` or `DUCKC_STORE`")
    )]
    NotOwner {
        /// The store root.
        path: PathBuf,
        /// Its owner.
        owner: u32,
        /// Who runs duckc.
        me: u32,
    },
    /// Writing a layer failed.
    #[error(transparent)]
    #[diagnostic(code(store::write_layer))]
    Write(#[from] duckc_layer::WriteError),
    /// A layer whose blob does not unpack to the diff_id its image's config claims (found
    /// when a pulled layer is first unpacked or otherwise read in full).
    #[error(
        "layer `{digest}` of `{image}` does not unpack to its diff_id `{diff_id}` ({reason}): the registry served a damaged or forged image"
    )]
    #[diagnostic(
        code(store::diff_id_mismatch),
        help(
            "nothing was unpacked or recorded for that diff_id; remove the image with `duckc rmi {image}` and pull it again (from a registry you trust)"
        )
    )]
    DiffIdMismatch {
        /// The image, as the caller named it.
        image: String,
        /// The layer blob.
        digest: Digest,
        /// The diff_id the config claims.
        diff_id: Digest,
        /// What the blob gave instead (`it unpacks to sha256:…`, `it does not unpack: …`).
        reason: String,
    },
    /// The store's file system has no room for what is to be written: refused up front
    /// (`needed` is what the blobs the store lacks take), or met while writing (`ENOSPC` or
    /// `EDQUOT`; `needed` is `None`, and what was half written is already removed).
    #[error("{}", space_message(what, *needed, *free, root))]
    #[diagnostic(
        code(store::no_space),
        help(
            "free space on the file system that holds the store `{}` (`df -h {}` shows it), or remove what nothing uses: `duckc system prune` (stopped containers, dangling images, build cache) or `duckc rmi IMAGE` then `duckc gc`; then run the command again. A pull or load counts the compressed blobs; each layer is unpacked at its first `run` and needs room again",
            root.display(),
            root.display()
        )
    )]
    NoSpace {
        /// What was to be stored: an image, an archive, a layer of an image.
        what: String,
        /// Bytes its blobs take on disk, when refused up front.
        needed: Option<u64>,
        /// Bytes free for it.
        free: u64,
        /// The store's root.
        root: PathBuf,
    },
    /// Unpacking a layer failed.
    #[error("cannot unpack layer `{diff_id}`: {source}")]
    #[diagnostic(code(store::extract))]
    Extract {
        /// The layer.
        diff_id: Digest,
        /// Why.
        source: duckc_layer::ExtractError,
    },
}

fn space_message(what: &str, needed: Option<u64>, free: u64, root: &Path) -> String {
    match needed {
        Some(needed) => format!(
            "not enough space to store {what}: it needs {} for blobs the store lacks, and the file system of `{}` has {} free for them",
            space::human(needed),
            root.display(),
            space::human(free)
        ),
        None => format!(
            "the file system of `{}` ran out of space while storing {what}: nothing of it was kept ({} free now)",
            root.display(),
            space::human(free)
        ),
    }
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// The JSON record at `path`, or `None` when there is no file; a record that does not parse
/// is [`Error::Corrupt`].
pub(crate) fn read_record<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Corrupt {
                path: path.to_owned(),
                reason: e.to_string(),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// A duckc store rooted at a directory.
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

const DIRS: &[&str] = &[
    "blobs/sha256",
    "layers/sha256",
    "snapshots/sha256",
    "cache/sha256",
    "roots",
    "containers",
    "locks",
    "tmp",
    // Made here (0700) rather than by their users: the build's cache mounts and records, the
    // package downloads.
    "cache-mounts",
    "builds",
    "downloads",
];

impl Store {
    /// Open the store at `root`, creating its layout when missing; refuse a root that
    /// another user owns, and bring an older store's modes to the invariant ([`modes`]).
    pub fn open(root: &Path) -> Result<Store> {
        // One `stat` of an existing root gives its owner and its mode; a root made just now
        // is ours and already has the invariant's modes.
        let existing = match std::fs::metadata(root) {
            Ok(meta) => Some(meta),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io_err(root)(e)),
        };
        if let Some(meta) = &existing {
            Store::check_owner_of(root, meta)?;
        }
        let store = Store::open_as_is(root)?;
        if let Some(meta) = existing {
            use std::os::unix::fs::MetadataExt;
            store.secure_modes(meta.mode())?;
        }
        Ok(store)
    }

    /// [`Store::open`] without checking the owner or fixing modes: for `verify`, which
    /// reports them ([`Store::check_modes`]).
    pub fn open_as_is(root: &Path) -> Result<Store> {
        if let Some(parent) = root.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        for d in DIRS {
            let p = root.join(d);
            modes::create_private_dir(&p).map_err(io_err(&p))?;
        }
        let root = std::fs::canonicalize(root).map_err(io_err(root))?;
        let store = Store { root };
        let layout = store.root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&store, &layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        Ok(store)
    }

    /// The default root: `/var/lib/duckc` for root (of the host, not of a rootless duckc's user
    /// namespace), else `$XDG_DATA_HOME/duckc`, else
    /// `~/.local/share/duckc`.
    pub fn default_root() -> PathBuf {
        if duckc_layer::ids::host_root() {
            return PathBuf::from("/var/lib/duckc");
        }
        if let Some(x) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
            return PathBuf::from(x).join("duckc");
        }
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/"));
        home.join(".local/share/duckc")
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `<root>/containers`: the runtime owns what is inside.
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// `<root>/tmp`: scratch space on the store's file system (for atomic renames).
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// A fresh, unique path under [`Store::tmp_dir`] (nothing is created).
    pub fn tmp_path(&self, what: &str) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        self.tmp_dir().join(format!(
            "{what}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ))
    }

    pub(crate) fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
}

#[cfg(test)]
mod tests;
