//! `load`: import an OCI layout directory, an OCI archive, or a docker archive (`docker
//! save` output, old and new), verifying every blob against its digest and every layer
//! against its diff_id before any tag points at it.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io::{BufReader, Read};
use std::os::fd::OwnedFd;
use std::path::Path;

use duckc_layer::{Compression, compress};
use duckc_store::Store;
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex};
use rustix::fs::{Mode, OFlags, ResolveFlags};
use serde::Deserialize;

use crate::manifest::{ManifestLayer, write_manifest};
use crate::{Digest, Error, Image, MAX_METADATA_BYTES, Result, io_err, normalize_name, time};

/// One image a load brought in.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The image.
    pub image: Image,
    /// The names it was tagged with.
    pub names: Vec<String>,
}

/// Where the blobs of what is being loaded come from.
enum Source {
    /// An OCI layout (or an unpacked docker archive) on disk: copied blob by blob on demand,
    /// every path opened beneath the directory's descriptor (see [`open_in`]).
    Dir(OwnedFd),
    /// An archive already streamed into the store: relative path → blob.
    Archive(HashMap<String, (Digest, u64)>),
}

/// Import the OCI layout directory, OCI archive or docker archive at `path`.
pub fn load(store: &Store, path: &Path) -> Result<Vec<Loaded>> {
    let _lease = store.lease()?;
    let meta = fs::metadata(path).map_err(io_err(path))?;
    let bad = |reason: String| Error::BadArchive {
        path: path.display().to_string(),
        reason,
    };
    let (source, small) = if meta.is_dir() {
        let dir = rustix::fs::open(
            path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io_err(path)(e.into()))?;
        let mut small = HashMap::new();
        for name in ["index.json", "manifest.json"] {
            match open_in(&dir, name) {
                Ok(f) => {
                    small.insert(name.to_owned(), read_small(f, &path.join(name))?);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(bad(format!("cannot read `{name}`: {e}"))),
            }
        }
        if let Some(index) = small.get("index.json") {
            let mut sizes = Vec::new();
            let mut seen = HashSet::new();
            layout_needs(store, &dir, index, 0, &mut seen, &mut sizes);
            store.ensure_space(&format!("`{}`", path.display()), sizes)?;
        }
        (Source::Dir(dir), small)
    } else {
        let sizes = archive_needs(store, path)?;
        store.ensure_space(&format!("`{}`", path.display()), sizes)?;
        stream_archive(store, path)?
    };
    let docker_tags = match small.get("manifest.json") {
        Some(bytes) => {
            docker_manifest(bytes).map_err(|e| bad(format!("bad `manifest.json`: {e}")))?
        }
        None => Vec::new(),
    };
    let mut loaded = Vec::new();
    if let Some(index) = small.get("index.json") {
        let index = ImageIndex::from_reader(&index[..])
            .map_err(|e| bad(format!("bad `index.json`: {e}")))?;
        for desc in index.manifests() {
            let digest: Digest = desc
                .digest()
                .as_ref()
                .parse()
                .map_err(|_| bad(format!("unsupported digest `{}`", desc.digest())))?;
            ensure_blob(store, &source, &digest, Some(desc.size()), path)?;
            ensure_tree(store, &source, &digest, path, true, &mut Walk::default())?;
            let image = Image::read(store, &digest)?;
            if let Some(reason) = crate::unsupported_content(&image.manifest) {
                return Err(bad(format!("image {digest}: {reason}")));
            }
            if let Some(reason) = unsupported_platform(store, &digest, 0)? {
                return Err(bad(format!("image {digest}: {reason}")));
            }
            index_layers(store, &image)?;
            let mut names = names_from(desc);
            if names.is_empty()
                && let Some((_, tags)) = docker_tags.iter().find(|(c, _)| {
                    c == &image.config_digest_path_hint()
                        || *c == format!("blobs/sha256/{}", image.config_digest.hex())
                })
            {
                names = tags.clone();
            }
            loaded.push(Loaded { image, names });
        }
    } else if !docker_tags.is_empty() || small.contains_key("manifest.json") {
        let entries: Vec<DockerEntry> = serde_json::from_slice(&small["manifest.json"])
            .map_err(|e| bad(format!("bad `manifest.json`: {e}")))?;
        for entry in entries {
            let image = import_docker(store, &source, &entry, path)?;
            let names = entry
                .repo_tags
                .unwrap_or_default()
                .iter()
                .filter_map(|t| normalize_name(t).ok())
                .collect();
            loaded.push(Loaded { image, names });
        }
    } else {
        return Err(bad(
            "it has neither an `index.json` (OCI) nor a `manifest.json` (docker)".into(),
        ));
    }
    duckc_store::crash_point("load-before-refs");
    let added = time::now().max(0) as u64;
    store.update_refs(|refs| {
        for l in &loaded {
            refs.images
                .entry(l.image.digest)
                .or_insert(duckc_store::ImageEntry { added });
            for n in &l.names {
                crate::set_tag(refs, n, l.image.digest);
            }
        }
        Ok(())
    })?;
    Ok(loaded)
}

impl Image {
    fn config_digest_path_hint(&self) -> String {
        format!("{}.json", self.config_digest.hex())
    }
}

/// The names an index entry carries: `io.containerd.image.name`, or an
/// `org.opencontainers.image.ref.name` that is a full `name:tag` (a bare tag names nothing).
fn names_from(desc: &Descriptor) -> Vec<String> {
    let Some(ann) = desc.annotations() else {
        return Vec::new();
    };
    if let Some(n) = ann
        .get("io.containerd.image.name")
        .and_then(|n| normalize_name(n).ok())
    {
        return vec![n];
    }
    match ann.get("org.opencontainers.image.ref.name") {
        Some(r) if r.contains(':') || r.contains('/') => {
            normalize_name(r).ok().into_iter().collect()
        }
        _ => Vec::new(),
    }
}

/// Opens the regular file `rel` of the directory open as `dir`, every component (symlinks
/// included, absolute or `..` ones) resolved beneath it (`RESOLVE_IN_ROOT`): a layout or
/// docker archive directory can name nothing of the host (SECURITY 36). A FIFO or device is
/// refused without blocking.
fn open_in(dir: &OwnedFd, rel: &str) -> std::io::Result<File> {
    let fd = rustix::fs::openat2(
        dir,
        rel.trim_start_matches('/'),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    )?;
    let f = File::from(fd);
    if !f.metadata()?.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok(f)
}

fn read_small(f: File, p: &Path) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    f.take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(io_err(p))?;
    if out.len() as u64 > MAX_METADATA_BYTES {
        return Err(Error::BadArchive {
            path: p.display().to_string(),
            reason: "metadata file too large".into(),
        });
    }
    Ok(out)
}

/// Stream an archive (plain, gzip or zstd tar) into the store: every regular file becomes a
/// blob (checked against its name under `blobs/sha256/`), the small metadata files are kept.
fn stream_archive(store: &Store, path: &Path) -> Result<(Source, HashMap<String, Vec<u8>>)> {
    let bad = |reason: String| Error::BadArchive {
        path: path.display().to_string(),
        reason,
    };
    let file = File::open(path).map_err(io_err(path))?;
    let reader =
        compress::decoder(BufReader::with_capacity(1 << 20, file)).map_err(io_err(path))?;
    let mut archive = tar::Archive::new(reader);
    let mut files = HashMap::new();
    let mut links: Vec<(String, String)> = Vec::new();
    let mut small = HashMap::new();
    for entry in archive.entries().map_err(io_err(path))? {
        let mut entry = entry.map_err(io_err(path))?;
        let raw = entry.path_bytes().into_owned();
        let Some(comps) = duckc_layer::extract::safe_components(&raw) else {
            return Err(bad(format!(
                "unsafe entry name `{}`",
                String::from_utf8_lossy(&raw)
            )));
        };
        let name = String::from_utf8_lossy(&comps.join(&b'/')).into_owned();
        let kind = entry.header().entry_type();
        if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            let base = if kind.is_symlink() {
                name.rsplit_once('/').map_or("", |(d, _)| d).to_owned()
            } else {
                String::new()
            };
            links.push((name, join_rel(&base, &target)));
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        let size = entry.size();
        if matches!(
            name.as_str(),
            "index.json" | "manifest.json" | "oci-layout" | "repositories"
        ) {
            if size > MAX_METADATA_BYTES {
                return Err(bad(format!("`{name}` is too large")));
            }
            let mut bytes = Vec::new();
            entry.read_to_end(&mut bytes).map_err(io_err(path))?;
            small.insert(name, bytes);
            continue;
        }
        let expected = name
            .strip_prefix("blobs/sha256/")
            .and_then(|h| Digest::from_hex(h).ok());
        let what = format!("`{}`", path.display());
        let stored = match expected {
            Some(d) if store.has_blob(&d) => Ok((d, size)),
            // A compressed archive was not summed up front: each blob is checked as it comes.
            Some(d) => store
                .ensure_space(&what, [size])
                .and_then(|()| store.put_blob_from(&mut entry, Some((&d, size)))),
            None => store
                .ensure_space(&what, [size])
                .and_then(|()| store.put_blob_from(&mut entry, None)),
        };
        let got = match stored {
            Ok(got) => got,
            Err(e) if e.is_no_space() => return Err(store.no_space_as(e, &what).into()),
            Err(e) if expected.is_some() => return Err(bad(format!("blob `{name}`: {e}"))),
            Err(e) => return Err(e.into()),
        };
        files.insert(name, got);
    }
    for (name, target) in links {
        if let Some(t) = files.get(&target).copied() {
            files.insert(name, t);
        }
    }
    Ok((Source::Archive(files), small))
}

/// The sizes of the blobs an OCI layout's `index.json` reaches that the store lacks (each
/// once; indexes followed [`crate::MAX_INDEX_DEPTH`] deep), for the check before a load
/// writes anything. What cannot be read here is left out: the load itself says what is wrong
/// with it.
fn layout_needs(
    store: &Store,
    dir: &OwnedFd,
    top: &[u8],
    depth: usize,
    seen: &mut HashSet<Digest>,
    sizes: &mut Vec<u64>,
) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(top) else {
        return;
    };
    // Only an index's entries are read in turn: a config and layers are only counted.
    let manifests = value.get("manifests").and_then(|v| v.as_array());
    let others = value.get("layers").and_then(|v| v.as_array());
    let refs = manifests
        .into_iter()
        .flatten()
        .map(|r| (r, true))
        .chain(others.into_iter().flatten().map(|r| (r, false)))
        .chain(value.get("config").map(|r| (r, false)));
    for (r, walk) in refs {
        let Some(d) = r
            .get("digest")
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<Digest>().ok())
        else {
            continue;
        };
        if !seen.insert(d) || store.has_blob(&d) {
            continue;
        }
        let Ok(f) = open_in(dir, &format!("blobs/sha256/{}", d.hex())) else {
            continue;
        };
        let size = f.metadata().map_or(0, |m| m.len());
        sizes.push(size);
        if walk && size <= MAX_METADATA_BYTES && depth < crate::MAX_INDEX_DEPTH {
            let mut bytes = Vec::new();
            if f.take(MAX_METADATA_BYTES).read_to_end(&mut bytes).is_ok() {
                layout_needs(store, dir, &bytes, depth + 1, seen, sizes);
            }
        }
    }
}

/// The sizes of the files of a plain tar archive that the store lacks, read from its headers
/// alone (the data is skipped over): for the check before a load writes anything. A
/// compressed archive cannot be read without inflating it all, so it gives none, and each of
/// its blobs is checked as it comes ([`stream_archive`]).
fn archive_needs(store: &Store, path: &Path) -> Result<Vec<u64>> {
    let mut file = File::open(path).map_err(io_err(path))?;
    let mut head = [0u8; 8];
    let n = file.read(&mut head).map_err(io_err(path))?;
    if compress::sniff(&head[..n]) != Compression::None {
        return Ok(Vec::new());
    }
    let file = File::open(path).map_err(io_err(path))?;
    let mut archive = tar::Archive::new(file);
    let mut sizes = Vec::new();
    let Ok(entries) = archive.entries_with_seek() else {
        return Ok(sizes);
    };
    for entry in entries {
        // A broken archive is for the load itself to report.
        let Ok(entry) = entry else { break };
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let raw = entry.path_bytes();
        let present = std::str::from_utf8(&raw)
            .ok()
            .and_then(|n| n.trim_start_matches("./").strip_prefix("blobs/sha256/"))
            .and_then(|h| Digest::from_hex(h).ok())
            .is_some_and(|d| store.has_blob(&d));
        if !present {
            sizes.push(entry.size());
        }
    }
    Ok(sizes)
}

fn join_rel(base: &str, target: &str) -> String {
    let mut parts: Vec<&str> = if target.starts_with('/') {
        Vec::new()
    } else {
        base.split('/').filter(|p| !p.is_empty()).collect()
    };
    for p in target.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// Make sure blob `digest` is in the store, copying it from a layout directory if needed.
fn ensure_blob(
    store: &Store,
    source: &Source,
    digest: &Digest,
    size: Option<u64>,
    path: &Path,
) -> Result<()> {
    if store.has_blob(digest) {
        // A blob already in the store (an archive's files are streamed in first, checked
        // against their names) must still have the size its descriptor declares: the size is
        // recorded with the layer and trusted from then on.
        let actual = store.blob_size(digest)?;
        return match size {
            Some(s) if s != actual => Err(Error::BadArchive {
                path: path.display().to_string(),
                reason: format!("blob {digest} is {actual} bytes, but its descriptor says {s}"),
            }),
            _ => Ok(()),
        };
    }
    match source {
        Source::Dir(dir) => {
            let rel = format!("blobs/sha256/{}", digest.hex());
            let p = path.join(&rel);
            let mut f = open_in(dir, &rel).map_err(|e| Error::BadArchive {
                path: path.display().to_string(),
                reason: format!("blob {digest} is missing: {e}"),
            })?;
            let size = match size {
                Some(s) => s,
                None => f.metadata().map_err(io_err(&p))?.len(),
            };
            let what = format!("`{}`", path.display());
            store.ensure_space(&what, [size])?;
            store
                .put_blob_from(&mut f, Some((digest, size)))
                .map_err(|e| {
                    if e.is_no_space() {
                        return store.no_space_as(e, &what).into();
                    }
                    Error::BadArchive {
                        path: path.display().to_string(),
                        reason: format!("blob {digest}: {e}"),
                    }
                })?;
            Ok(())
        }
        Source::Archive(_) => Err(Error::BadArchive {
            path: path.display().to_string(),
            reason: format!("blob {digest} is missing"),
        }),
    }
}

/// Where [`ensure_tree`] has been: each blob is brought in and walked once (a diamond of
/// indexes stays linear), and indexes nest at most [`crate::MAX_INDEX_DEPTH`] deep.
#[derive(Default)]
struct Walk {
    /// Blobs walked, with whether they were required then (a blob first walked as an
    /// optional platform is walked again when another path requires it).
    seen: HashMap<Digest, bool>,
    depth: usize,
}

/// Bring in everything a manifest or index references. For an index, the host's platform
/// must be complete; other platforms are taken when present.
fn ensure_tree(
    store: &Store,
    source: &Source,
    digest: &Digest,
    path: &Path,
    required: bool,
    walk: &mut Walk,
) -> Result<()> {
    match walk.seen.get(digest) {
        Some(true) => return Ok(()),
        Some(false) if !required => return Ok(()),
        _ => {}
    }
    walk.seen.insert(*digest, required);
    let bytes = store.read_blob(digest, MAX_METADATA_BYTES)?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| Error::BadMetadata {
            what: "manifest",
            digest: *digest,
            reason: e.to_string(),
        })?;
    let digest_of = |v: &serde_json::Value| -> Option<(Digest, Option<u64>)> {
        Some((
            v.get("digest")?.as_str()?.parse().ok()?,
            v.get("size").and_then(|s| s.as_u64()),
        ))
    };
    if let Some(ms) = value.get("manifests").and_then(|m| m.as_array()) {
        if walk.depth >= crate::MAX_INDEX_DEPTH {
            return Err(Error::IndexTooDeep(*digest));
        }
        let index = ImageIndex::from_reader(&bytes[..]).map_err(|e| Error::BadMetadata {
            what: "index",
            digest: *digest,
            reason: e.to_string(),
        })?;
        let host =
            crate::pick_platform(&index, crate::host_arch(), false).map(|d| d.digest().to_string());
        for m in ms {
            let Some((d, size)) = digest_of(m) else {
                continue;
            };
            let needed = required && host.as_deref() == Some(&d.to_string());
            walk.depth += 1;
            let r = ensure_blob(store, source, &d, size, path)
                .and_then(|()| ensure_tree(store, source, &d, path, needed, walk));
            walk.depth -= 1;
            match r {
                Err(e @ Error::IndexTooDeep(_)) => return Err(e),
                Err(e) if needed => return Err(e),
                _ => {}
            }
        }
        return Ok(());
    }
    let mut blobs: Vec<(Digest, Option<u64>)> = value
        .get("config")
        .and_then(digest_of)
        .into_iter()
        .collect();
    for l in value
        .get("layers")
        .and_then(|l| l.as_array())
        .into_iter()
        .flatten()
    {
        blobs.extend(digest_of(l));
    }
    for (d, size) in blobs {
        ensure_blob(store, source, &d, size, path)?;
    }
    Ok(())
}

/// Why an index the archive brought cannot be loaded, when one of its platforms whose
/// manifest the archive holds is no image duckc can use (an artifact, a layer it cannot
/// unpack): the load picks one platform, but keeps every platform the archive holds under the
/// index, where `verify`, `save` and `push` read them, so each must pass what `pull
/// --all-platforms` asks of every platform it takes. A platform whose manifest the archive
/// lacks is left out, as a plain `pull` leaves the others; entries without a platform or for
/// `unknown` (BuildKit's attestations) are no images, and `pull --all-platforms` leaves them
/// out too.
fn unsupported_platform(store: &Store, digest: &Digest, depth: usize) -> Result<Option<String>> {
    let bytes = store.read_blob(digest, MAX_METADATA_BYTES)?;
    let is_index = serde_json::from_slice::<serde_json::Value>(&bytes)
        .is_ok_and(|v| v.get("manifests").is_some_and(|m| m.is_array()));
    let index = match ImageIndex::from_reader(&bytes[..]) {
        Ok(index) if is_index => index,
        _ => return Ok(None),
    };
    for m in index.manifests() {
        let Some(p) = crate::image_platform(m) else {
            continue;
        };
        let Ok(d) = m.digest().as_ref().parse::<Digest>() else {
            continue;
        };
        if !store.has_blob(&d) {
            continue;
        }
        let platform = crate::printable(&format!("{}/{}", p.os(), p.architecture()));
        let bytes = store.read_blob(&d, MAX_METADATA_BYTES)?;
        if serde_json::from_slice::<serde_json::Value>(&bytes)
            .is_ok_and(|v| v.get("manifests").is_some())
        {
            if depth + 1 < crate::MAX_INDEX_DEPTH
                && let Some(reason) = unsupported_platform(store, &d, depth + 1)?
            {
                return Ok(Some(reason));
            }
            continue;
        }
        let reason = match oci_spec::image::ImageManifest::from_reader(&bytes[..]) {
            Ok(manifest) => crate::unsupported_content(&manifest),
            Err(e) => Some(format!("it does not parse: {e}")),
        };
        if let Some(reason) = reason {
            return Ok(Some(format!(
                "its {platform} manifest {d}: {reason} (an archive is loaded whole: every \
                 platform it holds must be an image duckc can run)"
            )));
        }
    }
    Ok(None)
}

/// Check each layer's diff_id by decompressing it once, and index it for snapshots. A
/// diff_id the store holds from another blob does not vouch for this image's own blob.
pub fn index_layers(store: &Store, image: &Image) -> Result<()> {
    for l in &image.layers {
        if let Some(rec) = store.layer(&l.diff_id)?
            && rec.diff_size.is_some()
            && store.is_checked_blob(l)?
        {
            continue;
        }
        let f = store.open_blob(&l.digest)?;
        let p = store.blob_path(&l.digest);
        let reader = compress::decoder(BufReader::with_capacity(1 << 20, f)).map_err(io_err(&p))?;
        let (actual, n) = duckc_layer::digest::digest_reader(reader).map_err(io_err(&p))?;
        if actual != l.diff_id {
            return Err(Error::DiffIdMismatch {
                digest: l.digest,
                expected: l.diff_id,
                actual,
            });
        }
        store.record_checked(l, n)?;
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct DockerEntry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// (config path, normalised tags) for each entry of a docker `manifest.json`.
fn docker_manifest(
    bytes: &[u8],
) -> std::result::Result<Vec<(String, Vec<String>)>, serde_json::Error> {
    let entries: Vec<DockerEntry> = serde_json::from_slice(bytes)?;
    Ok(entries
        .into_iter()
        .map(|e| {
            (
                e.config,
                e.repo_tags
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|t| normalize_name(t).ok())
                    .collect(),
            )
        })
        .collect())
}

fn docker_file(store: &Store, source: &Source, rel: &str, path: &Path) -> Result<(Digest, u64)> {
    let bad = |reason: String| Error::BadArchive {
        path: path.display().to_string(),
        reason,
    };
    let rel = join_rel("", rel);
    match source {
        Source::Archive(files) => files
            .get(&rel)
            .copied()
            .ok_or_else(|| bad(format!("`{rel}` is missing"))),
        Source::Dir(dir) => {
            // Resolved beneath the directory: `../../etc/shadow`, an absolute symlink or a
            // symlinked component stay inside it (as they would inside the archive).
            let mut f = open_in(dir, &rel).map_err(|e| bad(format!("cannot read `{rel}`: {e}")))?;
            let what = format!("`{}`", path.display());
            if let Ok(meta) = f.metadata() {
                store.ensure_space(&what, [meta.len()])?;
            }
            store
                .put_blob_from(&mut f, None)
                .map_err(|e| store.no_space_as(e, &what).into())
        }
    }
}

/// Turn one docker `manifest.json` entry into an OCI manifest in the store.
fn import_docker(
    store: &Store,
    source: &Source,
    entry: &DockerEntry,
    path: &Path,
) -> Result<Image> {
    let (config_digest, config_size) = docker_file(store, source, &entry.config, path)?;
    let config_bytes = store.read_blob(&config_digest, MAX_METADATA_BYTES)?;
    let config =
        ImageConfiguration::from_reader(&config_bytes[..]).map_err(|e| Error::BadMetadata {
            what: "config",
            digest: config_digest,
            reason: e.to_string(),
        })?;
    if config.rootfs().diff_ids().len() != entry.layers.len() {
        return Err(Error::BadArchive {
            path: path.display().to_string(),
            reason: format!(
                "{} layers but the config lists {} diff_ids",
                entry.layers.len(),
                config.rootfs().diff_ids().len()
            ),
        });
    }
    let mut layers = Vec::new();
    for rel in &entry.layers {
        let (d, size) = docker_file(store, source, rel, path)?;
        let mut head = [0u8; 8];
        let n = store
            .open_blob(&d)?
            .read(&mut head)
            .map_err(io_err(&store.blob_path(&d)))?;
        let compression: Compression = compress::sniff(&head[..n]);
        layers.push((compression.media_type(), d, size));
    }
    let image = write_manifest(
        store,
        (&config_digest, config_size),
        layers
            .iter()
            .map(|(media_type, digest, size)| ManifestLayer {
                media_type,
                digest,
                size: *size,
            }),
    )?;
    index_layers(store, &image)?;
    Ok(image)
}
