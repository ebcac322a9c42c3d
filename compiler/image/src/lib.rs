//! OCI images in the store: reading image indexes, manifests and configs (via `oci-spec`),
//! resolving references, tagging, committing a directory as a new layer, loading and saving
//! OCI layouts, OCI archives and docker archives, and store maintenance (gc, verify, df).

mod commit;
mod export;
mod import;
mod maintenance;
pub mod manifest;
pub mod output;
mod reference;
mod rootfs;
mod tags;
pub mod time;

use duckc_store::Store;
use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};

pub use commit::{CommitOptions, apply_change, commit};
pub use duckc_store::{Digest, LayerRef};
pub use export::{ArchiveFormat, export_layout, save};
pub use import::{Loaded, index_layers, load};
pub use maintenance::{DiskUsage, GcReport, UsageRow, disk_usage, gc, verify};
pub use reference::{
    DOCKER_HUB, ImageName, is_host, name_for, normalize_name, repo_tags, resolve, set_tag,
    stored_tag,
};
pub use rootfs::{unpack_layers, unpack_rootfs};
pub use tags::{ListedImage, list, remove, tag, untag};

/// The largest manifest, index or config duckc reads (bigger ones are refused).
pub const MAX_METADATA_BYTES: u64 = 4 << 20;

/// How deep image indexes may nest (an index of indexes of … manifests): real images use one
/// level, two at most. A deeper chain is refused rather than followed, and every walk over an
/// index visits each blob once, so a chain or a diamond of indexes (A → B, C → D, each twice
/// more …) neither overflows the stack nor takes exponential time.
pub const MAX_INDEX_DEPTH: usize = 8;

/// OCI media types duckc writes.
pub mod media {
    /// An image manifest.
    pub const MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    /// An image index.
    pub const INDEX: &str = "application/vnd.oci.image.index.v1+json";
    /// An image config.
    pub const CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    /// Docker's manifest list.
    pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
    /// Docker's manifest.
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    /// Docker's image config.
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
}

/// The largest size a descriptor may declare: the OCI image spec makes `size` an int64, and a
/// larger one (2^64-1 parses as a u64) would overflow the arithmetic on it.
pub const MAX_DESCRIPTOR_SIZE: u64 = i64::MAX as u64;

/// The platform of an index entry that names an image: `None` for an entry without a
/// platform and for `unknown/unknown` (BuildKit's attestations), which `pull --all-platforms`
/// and `load` leave out.
pub fn image_platform(entry: &oci_spec::image::Descriptor) -> Option<&oci_spec::image::Platform> {
    entry
        .platform()
        .as_ref()
        .filter(|p| p.os().to_string() != "unknown")
}

/// Why duckc cannot run what `manifest` describes, when it cannot: a config that is not an
/// image config (an artifact: a Helm chart, a signature, an SBOM), a layer of a type duckc does
/// not unpack (encrypted, or anything but tar, tar+gzip and tar+zstd), or a size out of range.
/// Checked before any layer is fetched or unpacked, so nothing is ever unpacked as something it
/// is not. The text comes from outside: it is made printable.
pub fn unsupported_content(manifest: &ImageManifest) -> Option<String> {
    let config = manifest.config();
    let config_type = config.media_type().to_string();
    if config_type != media::CONFIG && config_type != media::DOCKER_CONFIG {
        return Some(format!(
            "its config has the media type `{}`: it is an artifact, not a container image",
            printable(&config_type)
        ));
    }
    if config.size() > MAX_DESCRIPTOR_SIZE {
        return Some(format!(
            "its config declares {} bytes, more than any blob can have",
            config.size()
        ));
    }
    for l in manifest.layers() {
        let layer_type = l.media_type().to_string();
        if duckc_layer::Compression::from_media_type(&layer_type).is_none() {
            return Some(format!(
                "layer {} has the unsupported media type `{}` (duckc unpacks tar, tar+gzip and \
                 tar+zstd layers; encrypted ones are not supported)",
                printable(l.digest().as_ref()),
                printable(&layer_type)
            ));
        }
        if l.size() > MAX_DESCRIPTOR_SIZE {
            return Some(format!(
                "layer {} declares {} bytes, more than any blob can have",
                printable(l.digest().as_ref()),
                l.size()
            ));
        }
    }
    None
}

/// Text from an image or a registry made safe to print: control characters (terminal escapes)
/// become `?`, and it is cut at 200 characters.
pub fn printable(s: &str) -> String {
    let mut out: String = s
        .chars()
        .take(200)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if s.chars().nth(200).is_some() {
        out.push('…');
    }
    out
}

/// Errors about images. Codes `image::…` (the store's own errors keep theirs).
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] duckc_store::Error),
    /// A reference names no image.
    #[error("no image `{0}` in the store")]
    #[diagnostic(
        code(image::not_found),
        help("`duckc images` lists the images in the store")
    )]
    NotFound(String),
    /// A short id matches several images.
    #[error("image id `{0}` is ambiguous: it matches several images")]
    #[diagnostic(
        code(image::ambiguous),
        help("give more characters of the id, or a name (`duckc images` lists both)")
    )]
    Ambiguous(String),
    /// A reference that does not parse.
    #[error("invalid image reference `{0}`: {1}")]
    #[diagnostic(
        code(image::bad_reference),
        help("a reference is `NAME[:TAG]`, `NAME@sha256:DIGEST` or an image id")
    )]
    BadReference(String, String),
    /// A manifest, index or config that does not parse.
    #[error("invalid {what} `{digest}`: {reason}")]
    #[diagnostic(code(image::bad_metadata))]
    BadMetadata {
        /// `manifest`, `index` or `config`.
        what: &'static str,
        /// Its digest.
        digest: Digest,
        /// What is wrong.
        reason: String,
    },
    /// An index with no manifest for this platform.
    #[error("image index `{0}` has no manifest for linux/{1}")]
    #[diagnostic(code(image::no_platform))]
    NoPlatform(Digest, String),
    /// A layer whose contents do not hash to its diff_id.
    #[error("layer `{digest}` does not match its diff_id: expected {expected}, got {actual}")]
    #[diagnostic(code(image::diff_id_mismatch))]
    DiffIdMismatch {
        /// The layer blob.
        digest: Digest,
        /// The diff_id in the config.
        expected: Digest,
        /// What the layer hashes to.
        actual: Digest,
    },
    /// An archive or layout that cannot be imported.
    #[error("cannot load `{path}`: {reason}")]
    #[diagnostic(code(image::bad_archive))]
    BadArchive {
        /// The file or directory.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// An I/O error outside the store (reading an archive, writing an export).
    #[error("cannot access `{path}`: {source}")]
    #[diagnostic(code(image::io))]
    Io {
        /// The path.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// An output path that duckc will not write (a planted symlink, not a directory).
    #[error("will not write `{path}`: {reason}")]
    #[diagnostic(
        code(image::unsafe_output),
        help(
            "duckc never writes through a symlink at an output path (another user may have planted it); remove it, or name the real path"
        )
    )]
    UnsafeOutput {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// A `--change` instruction that is not understood.
    #[error("invalid change `{0}`: {1}")]
    #[diagnostic(code(image::bad_change))]
    BadChange(String, String),
    /// Indexes nested deeper than [`MAX_INDEX_DEPTH`].
    #[error(
        "image index `{0}` nests indexes more than {MAX_INDEX_DEPTH} levels deep; duckc refuses it"
    )]
    #[diagnostic(code(image::index_too_deep))]
    IndexTooDeep(Digest),
    /// An image that containers still use.
    #[error("image `{0}` is used by {1}")]
    #[diagnostic(
        code(image::in_use),
        help(
            "`duckc rmi -f` untags it anyway; or remove what holds it first (`duckc ps -a --filter ancestor=IMAGE` lists the containers)"
        )
    )]
    InUse(String, String),
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// An image: its manifest, config and layers, all present in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// What refs point at: the manifest digest, or the index digest for multi-platform images.
    pub digest: Digest,
    /// The manifest for this platform.
    pub manifest_digest: Digest,
    /// The manifest.
    pub manifest: ImageManifest,
    /// The config blob's digest: the image ID.
    pub config_digest: Digest,
    /// The config.
    pub config: ImageConfiguration,
    /// The layers, bottom first, with their diff_ids.
    pub layers: Vec<LayerRef>,
}

/// The OCI architecture name of this machine (`amd64`, `arm64`), from duckc's platform table.
pub use duckc_platform::host_arch;

fn parse_digest(s: &str, what: &'static str, within: Digest) -> Result<Digest> {
    s.parse().map_err(|_| Error::BadMetadata {
        what,
        digest: within,
        reason: format!("unsupported digest `{s}`"),
    })
}

impl Image {
    /// The short image id (12 hex digits of the config digest), as docker shows it.
    pub fn short_id(&self) -> String {
        self.config_digest.hex()[..12].to_owned()
    }

    /// Read the image that `digest` (a manifest or an index) describes, picking this host's
    /// platform from an index.
    /// An index built for other platforms only gives its first manifest (to list and inspect
    /// it; running checks the architecture).
    pub fn read(store: &Store, digest: &Digest) -> Result<Image> {
        Image::read_picking(store, digest, host_arch(), true, 0)
    }

    /// [`Image::read`] for the platform whose architecture is `arch` (`arm64`); an index
    /// without it gives [`Error::NoPlatform`], a plain manifest is returned as it is.
    pub fn read_for(store: &Store, digest: &Digest, arch: &str) -> Result<Image> {
        Image::read_picking(store, digest, arch, false, 0)
    }

    /// Reads `digest`; from an index, the manifest for `arch`, else (with `or_first`) the
    /// first one. `depth` is how many indexes led here.
    fn read_picking(
        store: &Store,
        digest: &Digest,
        arch: &str,
        or_first: bool,
        depth: usize,
    ) -> Result<Image> {
        let bytes = store.read_blob(digest, MAX_METADATA_BYTES)?;
        let value: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| Error::BadMetadata {
                what: "manifest",
                digest: *digest,
                reason: e.to_string(),
            })?;
        if value.get("manifests").is_some() {
            if depth >= MAX_INDEX_DEPTH {
                return Err(Error::IndexTooDeep(*digest));
            }
            let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| Error::BadMetadata {
                what: "index",
                digest: *digest,
                reason: e.to_string(),
            })?;
            let chosen = pick_platform(&index, arch, or_first)
                .ok_or_else(|| Error::NoPlatform(*digest, arch.to_owned()))?;
            let manifest_digest = parse_digest(chosen.digest().as_ref(), "index", *digest)?;
            let mut image =
                Image::read_picking(store, &manifest_digest, arch, or_first, depth + 1)?;
            image.digest = *digest;
            return Ok(image);
        }
        Image::from_manifest_bytes(store, digest, &bytes)
    }

    fn from_manifest_bytes(store: &Store, digest: &Digest, bytes: &[u8]) -> Result<Image> {
        let bad = |what, reason: String| Error::BadMetadata {
            what,
            digest: *digest,
            reason,
        };
        let manifest =
            ImageManifest::from_reader(bytes).map_err(|e| bad("manifest", e.to_string()))?;
        let config_digest = parse_digest(manifest.config().digest().as_ref(), "manifest", *digest)?;
        let config_bytes = store.read_blob(&config_digest, MAX_METADATA_BYTES)?;
        let config =
            ImageConfiguration::from_reader(&config_bytes[..]).map_err(|e| Error::BadMetadata {
                what: "config",
                digest: config_digest,
                reason: e.to_string(),
            })?;
        let diff_ids = config.rootfs().diff_ids();
        if diff_ids.len() != manifest.layers().len() {
            return Err(bad(
                "manifest",
                format!(
                    "{} layers but the config lists {} diff_ids",
                    manifest.layers().len(),
                    diff_ids.len()
                ),
            ));
        }
        let mut layers = Vec::new();
        for (desc, diff_id) in manifest.layers().iter().zip(diff_ids) {
            layers.push(LayerRef {
                digest: parse_digest(desc.digest().as_ref(), "manifest", *digest)?,
                diff_id: parse_digest(diff_id, "config", config_digest)?,
                size: desc.size(),
                media_type: desc.media_type().to_string(),
            });
        }
        Ok(Image {
            digest: *digest,
            manifest_digest: *digest,
            manifest,
            config_digest,
            config,
            layers,
        })
    }

    /// An empty image (no layers) for this platform, to commit a first layer onto.
    pub fn scratch() -> Image {
        let config: ImageConfiguration = serde_json::from_value(serde_json::json!({
            "architecture": host_arch(),
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": []},
            "config": {}
        }))
        .expect("scratch config is valid");
        let manifest: ImageManifest = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media::MANIFEST,
            "config": {"mediaType": media::CONFIG, "digest": Digest::of(b"{}").to_string(), "size": 2},
            "layers": []
        }))
        .expect("scratch manifest is valid");
        Image {
            digest: Digest::of(b""),
            manifest_digest: Digest::of(b""),
            manifest,
            config_digest: Digest::of(b"{}"),
            config,
            layers: Vec::new(),
        }
    }

    /// Every blob this image needs (manifest, config, layers; not the index).
    pub fn blobs(&self) -> Vec<Digest> {
        let mut out = vec![self.manifest_digest, self.config_digest];
        out.extend(self.layers.iter().map(|l| l.digest));
        out
    }

    /// Uncompressed size of the layers (as docker shows), or the blob sizes when unknown.
    pub fn size(&self, store: &Store) -> u64 {
        self.layers
            .iter()
            .map(|l| match store.layer(&l.diff_id) {
                Ok(Some(rec)) => rec.diff_size.unwrap_or(l.size),
                _ => l.size,
            })
            // Sizes are checked when blobs come in, but a sum must not be the thing that
            // panics if one ever is not.
            .fold(0u64, u64::saturating_add)
    }

    /// Seconds since the epoch of `config.created`, if it parses.
    pub fn created(&self) -> Option<i64> {
        self.config
            .created()
            .as_deref()
            .and_then(time::parse_rfc3339)
    }
}

/// The manifest of an index for `arch`: linux and that architecture, skipping attestations;
/// the only manifest when there is just one, and with `or_first` the first one.
pub(crate) fn pick_platform<'a>(
    index: &'a ImageIndex,
    arch: &str,
    or_first: bool,
) -> Option<&'a oci_spec::image::Descriptor> {
    let candidates: Vec<_> = index
        .manifests()
        .iter()
        .filter(|d| {
            d.platform()
                .as_ref()
                .is_none_or(|p| p.os().to_string() != "unknown")
        })
        .collect();
    candidates
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == "linux" && p.architecture().to_string() == arch
            })
        })
        .copied()
        .or_else(|| (or_first || candidates.len() == 1).then(|| candidates.first().copied())?)
}

/// All blobs reachable from `digest` (a manifest or an index): the index, every manifest of
/// every platform, their configs and layers. Missing or unreadable blobs end the walk there,
/// and so do indexes nested deeper than [`MAX_INDEX_DEPTH`] (no image can use what is below).
pub fn closure(store: &Store, digest: &Digest, out: &mut std::collections::BTreeSet<Digest>) {
    closure_at(store, digest, out, 0);
}

fn closure_at(
    store: &Store,
    digest: &Digest,
    out: &mut std::collections::BTreeSet<Digest>,
    depth: usize,
) {
    if depth > MAX_INDEX_DEPTH || !out.insert(*digest) {
        return;
    }
    let Ok(bytes) = store.read_blob(digest, MAX_METADATA_BYTES) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    if let Some(ms) = value.get("manifests").and_then(|m| m.as_array()) {
        for m in ms {
            if let Some(d) = m
                .get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse().ok())
            {
                closure_at(store, &d, out, depth + 1);
            }
        }
        return;
    }
    if let Some(d) = value
        .pointer("/config/digest")
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse().ok())
    {
        out.insert(d);
    }
    if let Some(ls) = value.get("layers").and_then(|l| l.as_array()) {
        for l in ls {
            if let Some(d) = l
                .get("digest")
                .and_then(|d| d.as_str())
                .and_then(|d| d.parse().ok())
            {
                out.insert(d);
            }
        }
    }
}
