//! Store maintenance that needs to know what images reference: `gc`, `verify`, `system df`.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use duckc_store::{Problem, Store, VerifyReport};

use crate::{Digest, Image, Result, closure};

/// What gc removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs deleted.
    pub blobs: usize,
    /// Snapshots deleted.
    pub snapshots: usize,
    /// Leftovers of interrupted operations removed from `tmp/`.
    pub tmp: usize,
    /// Bytes freed (blobs and snapshots).
    pub bytes: u64,
}

struct Live {
    blobs: BTreeSet<Digest>,
    diff_ids: BTreeSet<Digest>,
}

/// Everything reachable from images, gc roots and the build cache.
fn live(store: &Store) -> Result<Live> {
    let refs = store.refs()?;
    let mut tops: BTreeSet<Digest> = refs.images.keys().copied().collect();
    tops.extend(refs.tags.values().copied());
    for (_, ds) in store.roots()? {
        tops.extend(ds);
    }
    let mut blobs = BTreeSet::new();
    for d in &tops {
        closure(store, d, &mut blobs);
    }
    let mut diff_ids = BTreeSet::new();
    for d in &blobs {
        // Configs name the diff_ids; reading every reachable small blob as a config is cheap.
        if let Ok(bytes) = store.read_blob(d, crate::MAX_METADATA_BYTES)
            && let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes)
        {
            for id in v
                .pointer("/rootfs/diff_ids")
                .and_then(|x| x.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(id) = id.as_str().and_then(|s| s.parse().ok()) {
                    diff_ids.insert(id);
                }
            }
        }
    }
    for (_, layer) in store.cache_entries()? {
        blobs.insert(layer.digest);
        diff_ids.insert(layer.diff_id);
    }
    // A layer kept as its snapshot only has its bytes there: a live blob keeps its snapshot.
    for rec in store.layers()? {
        if blobs.contains(&rec.layer.digest) {
            diff_ids.insert(rec.layer.diff_id);
        }
    }
    Ok(Live { blobs, diff_ids })
}

/// Remove every blob, layer record and snapshot that no image, gc root (container) or cache
/// entry references, and the leftovers of interrupted operations. Waits for in-flight
/// operations (their leases) and blocks new ones while it runs.
pub fn gc(store: &Store) -> Result<GcReport> {
    let _lock = store.gc_lock()?;
    let live = live(store)?;
    let mut report = GcReport::default();
    // Leftovers first: nobody holds a lease, so nothing in tmp/ is in use.
    let tmp = store.tmp_dir();
    for e in fs::read_dir(&tmp)
        .map_err(|e| duckc_store::Error::Io {
            path: tmp.clone(),
            source: e,
        })?
        .flatten()
    {
        let p = e.path();
        let is_dir = e.file_type().map(|t| t.is_dir()).unwrap_or(false);
        let r = if is_dir {
            duckc_layer::remove_tree(&p)
        } else {
            fs::remove_file(&p)
        };
        if r.is_ok() {
            report.tmp += 1;
        }
    }
    for d in store.snapshots()? {
        let complete = store.snapshot_record(&d)?.is_some();
        if !live.diff_ids.contains(&d) || !complete {
            report.bytes += du(&store.snapshot_path(&d));
            store.remove_snapshot(&d)?;
            report.snapshots += 1;
        }
    }
    for rec in store.layers()? {
        if !live.diff_ids.contains(&rec.layer.diff_id) || !live.blobs.contains(&rec.layer.digest) {
            store.remove_layer_record(&rec.layer.diff_id)?;
        }
    }
    for d in store.list_blobs()? {
        if !live.blobs.contains(&d) {
            report.bytes += store.blob_size(&d).unwrap_or(0);
            store.remove_blob(&d)?;
            report.blobs += 1;
            duckc_store::crash_point("gc-blob");
        }
    }
    Ok(report)
}

/// Re-hash every blob and snapshot, and check that every image and tag is complete.
pub fn verify(store: &Store) -> Result<VerifyReport> {
    let mut report = store.verify()?;
    let refs = store.refs()?;
    for (tag, d) in &refs.tags {
        if !refs.images.contains_key(d) {
            report.problems.push(Problem {
                what: format!("tag {tag}"),
                reason: format!("points at unknown image {d}"),
            });
        }
    }
    // Each image's own layer blobs against the diff_ids its config claims (one decompressing
    // read each), unless the layer's record names that very blob or lists it as checked. A
    // pulled layer never unpacked has no record yet: when it matches it is recorded, as an
    // unpack would. One whose diff_id the store holds from another blob is checked too:
    // `save` and `push` would send its own bytes. Every platform the store holds of an index
    // (`pull --all-platforms`), not only this host's: `push` sends them all.
    let mut named: BTreeMap<Digest, &str> = BTreeMap::new();
    for (tag, d) in &refs.tags {
        named.entry(*d).or_insert(tag.as_str());
    }
    let mut seen = BTreeSet::new();
    for d in refs.images.keys() {
        let mut manifests = Vec::new();
        stored_manifests(store, d, 0, &mut manifests);
        let images: Vec<Result<Image>> = if manifests.is_empty() {
            vec![Image::read(store, d)]
        } else {
            manifests.iter().map(|m| Image::read(store, m)).collect()
        };
        for image in images {
            let image = match image {
                Err(e) => {
                    report.problems.push(Problem {
                        what: format!("image {d}"),
                        reason: e.to_string(),
                    });
                    continue;
                }
                Ok(image) => image,
            };
            for l in &image.layers {
                if !store.has_blob(&l.digest) {
                    report.problems.push(Problem {
                        what: format!("image {d}"),
                        reason: format!("layer {} is missing", l.digest),
                    });
                } else if seen.insert((l.digest, l.diff_id)) {
                    let name = named
                        .get(d)
                        .map_or_else(|| d.to_string(), |t| t.to_string());
                    if let Err(e) = store.check_layer(l, &name) {
                        report.problems.push(Problem {
                            what: format!("image {name}"),
                            reason: e.to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(report)
}

/// The image manifests stored under `digest`: itself when it is one, else every manifest of
/// the index (and of the indexes it names) that the store holds; a platform left out of a
/// pull is not there and not listed.
fn stored_manifests(store: &Store, digest: &Digest, depth: usize, out: &mut Vec<Digest>) {
    if depth > crate::MAX_INDEX_DEPTH || out.contains(digest) || !store.has_blob(digest) {
        return;
    }
    let Ok(bytes) = store.read_blob(digest, crate::MAX_METADATA_BYTES) else {
        return;
    };
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
        return;
    };
    match value.get("manifests").and_then(|m| m.as_array()) {
        Some(ms) => {
            for m in ms {
                if let Some(d) = m
                    .get("digest")
                    .and_then(|d| d.as_str())
                    .and_then(|d| d.parse().ok())
                {
                    stored_manifests(store, &d, depth + 1, out);
                }
            }
        }
        None if value.get("layers").is_some() => out.push(*digest),
        None => {}
    }
}

/// One row of `system df`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRow {
    /// How many.
    pub total: usize,
    /// How many are in use (images: by containers; layers: by images; …).
    pub active: usize,
    /// Bytes on disk.
    pub size: u64,
    /// Bytes `gc` (or removing unused things) would free.
    pub reclaimable: u64,
}

/// What `system df` shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskUsage {
    /// Images (size: their unique blobs).
    pub images: UsageRow,
    /// Layer blobs.
    pub layers: UsageRow,
    /// Unpacked snapshots.
    pub snapshots: UsageRow,
    /// Containers (size: their directories).
    pub containers: UsageRow,
    /// Build cache entries.
    pub cache: UsageRow,
    /// Blob bytes used by more than one image.
    pub shared: u64,
}

/// Measure the store.
pub fn disk_usage(store: &Store) -> Result<DiskUsage> {
    let refs = store.refs()?;
    let live = live(store)?;
    let rooted: BTreeSet<Digest> = store.roots()?.into_iter().flat_map(|(_, d)| d).collect();
    let mut usage = DiskUsage::default();
    let mut users: BTreeMap<Digest, usize> = BTreeMap::new();
    let mut image_blobs = BTreeSet::new();
    for d in refs.images.keys() {
        let mut all = BTreeSet::new();
        closure(store, d, &mut all);
        for b in &all {
            *users.entry(*b).or_default() += 1;
        }
        image_blobs.extend(all);
        usage.images.total += 1;
        if rooted.contains(d) {
            usage.images.active += 1;
        }
    }
    let all_blobs = store.list_blobs()?;
    let size_of = |d: &Digest| store.blob_size(d).unwrap_or(0);
    usage.images.size = image_blobs
        .iter()
        .filter(|d| store.has_blob(d))
        .map(size_of)
        .sum();
    usage.shared = users
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(d, _)| size_of(d))
        .sum();
    let mut layer_blobs: BTreeSet<Digest> = store
        .layers()?
        .into_iter()
        .map(|r| r.layer.digest)
        .collect();
    // Pulled layers not unpacked yet have no record: their images name them.
    for d in refs.images.keys() {
        if let Ok(image) = Image::read(store, d) {
            layer_blobs.extend(image.layers.iter().map(|l| l.digest));
        }
    }
    for d in &layer_blobs {
        // Blob files only: a layer kept as its snapshot is counted under snapshots.
        if !store.has_blob_file(d) {
            continue;
        }
        usage.layers.total += 1;
        usage.layers.size += size_of(d);
        if live.blobs.contains(d) {
            usage.layers.active += 1;
        } else {
            usage.layers.reclaimable += size_of(d);
        }
    }
    usage.images.reclaimable = all_blobs
        .iter()
        .filter(|d| !live.blobs.contains(d))
        .map(size_of)
        .sum();
    for d in store.snapshots()? {
        let size = du(&store.snapshot_path(&d));
        usage.snapshots.total += 1;
        usage.snapshots.size += size;
        if live.diff_ids.contains(&d) {
            usage.snapshots.active += 1;
        } else {
            usage.snapshots.reclaimable += size;
        }
    }
    if let Ok(entries) = fs::read_dir(store.containers_dir()) {
        for e in entries.flatten() {
            // `.spare`: the empty directory a removed container left for the next one.
            let spare = e.file_name().to_string_lossy().starts_with('.');
            if !spare && e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                usage.containers.total += 1;
                usage.containers.size += du(&e.path());
            }
        }
    }
    for (_, layer) in store.cache_entries()? {
        usage.cache.total += 1;
        usage.cache.active += 1;
        usage.cache.size += size_of(&layer.digest);
    }
    Ok(usage)
}

/// Bytes used by a tree (hard links counted once), not following symlinks.
fn du(path: &Path) -> u64 {
    fn walk(p: &Path, seen: &mut BTreeSet<(u64, u64)>) -> u64 {
        let Ok(m) = fs::symlink_metadata(p) else {
            return 0;
        };
        if m.nlink() > 1 && !m.is_dir() && !seen.insert((m.dev(), m.ino())) {
            return 0;
        }
        let mut total = m.blocks() * 512;
        if m.is_dir()
            && let Ok(rd) = fs::read_dir(p)
        {
            for e in rd.flatten() {
                total += walk(&e.path(), seen);
            }
        }
        total
    }
    walk(path, &mut BTreeSet::new())
}
