//! A build cache in a registry (`build --cache-to` / `--cache-from`), for CI runners that
//! share one: the store's cache index (node cache key → the layers that node produced) is
//! pushed as an OCI artifact whose config blob is that index, with every layer it names as
//! the artifact's layers (gzipped, as `push` sends them), so the registry keeps them and a
//! copy of the tag carries them. A build with an empty store reads the index once and, for
//! each step its own cache lacks, downloads the layers instead of running the step.
//!
//! **Invariant:** an imported layer is stored exactly as the build that made it stored it
//! (the uncompressed tar, checked against its diff_id while it is unpacked), so the image a
//! cached build assembles has the same digest as the one the exporting build made.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read};

use duckc_image::{MAX_DESCRIPTOR_SIZE, MAX_METADATA_BYTES, media};
use duckc_layer::Compression;
use duckc_store::{Digest, LayerRef, Store};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::client::{Client, Options};
use crate::name::Reference;
use crate::pull::{fetch_blob, get_manifest, short};
use crate::push::{Pusher, compressed, remember_compressed};
use crate::{Error, Result};

/// The `artifactType` of a duckc build cache manifest.
pub const ARTIFACT_TYPE: &str = "application/vnd.duckc.build-cache.v1";
/// The media type of its config blob: the [`CacheIndex`] as JSON.
pub const INDEX_MEDIA_TYPE: &str = "application/vnd.duckc.build-cache.index.v1+json";

/// The cache index a build cache artifact carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CacheIndex {
    /// Node cache key (`sha256:…`, as the build computes it) → its entry.
    pub entries: BTreeMap<String, CacheEntry>,
}

/// The layers one node produced.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CacheEntry {
    /// Whether the node yields several layers (a `packages` step: the store indexes those
    /// apart from single layers).
    #[serde(default)]
    pub several: bool,
    /// Its layers, bottom first.
    pub layers: Vec<CachedLayer>,
}

/// One layer: as the store keeps it, and as the registry has it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedLayer {
    /// The layer as the building store recorded it (an uncompressed build layer).
    pub layer: LayerRef,
    /// Its uncompressed size, when known.
    #[serde(default)]
    pub diff_size: Option<u64>,
    /// The blob in the registry (the layer itself, or its gzip).
    pub blob: Digest,
    /// That blob's size.
    pub blob_size: u64,
}

/// What an export did.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The digest of the cache manifest the tag now names.
    pub digest: Digest,
    /// Entries in the index (this build's and those kept from earlier exports).
    pub entries: usize,
    /// Entries kept from what earlier exports (other builds, other runners) put there.
    pub kept: usize,
    /// Entries of earlier exports left out (their blobs were gone from the registry, or the
    /// index would have grown over the size limit).
    pub dropped: usize,
    /// Blobs whose bytes were sent (the others were there already).
    pub uploaded: usize,
}

/// The store's cache entry for `key`: (several layers?, the layers).
fn local_entry(store: &Store, key: &Digest) -> Result<Option<(bool, Vec<LayerRef>)>> {
    if let Some(layers) = store.cache_get_many(key)? {
        return Ok(Some((true, layers)));
    }
    Ok(store.cache_get(key)?.map(|l| (false, vec![l])))
}

/// How many times an export reads, merges and writes the tag again when another export wrote
/// it between this one's read and write without this build's entries.
const MERGE_ROUNDS: usize = 3;

/// The registry's blob for a cached layer, and its media type in the cache manifest.
fn blob_of(l: &CachedLayer) -> (Digest, u64, String) {
    let mt = if l.blob == l.layer.digest {
        l.layer.media_type.clone()
    } else {
        Compression::Gzip.media_type().to_owned()
    };
    (l.blob, l.blob_size, mt)
}

/// The distinct blobs `entries` name, in the index's order.
fn blobs<'a>(entries: impl IntoIterator<Item = &'a CacheEntry>) -> Vec<(Digest, u64, String)> {
    let mut seen = BTreeSet::new();
    entries
        .into_iter()
        .flat_map(|e| &e.layers)
        .filter(|l| seen.insert(l.blob))
        .map(blob_of)
        .collect()
}

/// This build's index merged with an earlier export's: this build's entries, then as many of
/// the earlier ones (in key order) as keep the index and the manifest each under `budget`
/// bytes. An entry under the same key is this build's. Returns the index, how many earlier
/// entries it kept and how many it left out.
fn merge(ours: &CacheIndex, earlier: &CacheIndex, budget: usize) -> (CacheIndex, usize, usize) {
    let entry_bytes =
        |k: &str, e: &CacheEntry| k.len() + serde_json::to_vec(e).map_or(0, |v| v.len()) + 4;
    let blob_bytes = |b: &(Digest, u64, String)| {
        serde_json::to_vec(&json!({"mediaType": b.2, "digest": b.0.to_string(), "size": b.1}))
            .map_or(0, |v| v.len() + 1)
    };
    let mut merged = ours.clone();
    let mut index_size: usize = merged.entries.iter().map(|(k, e)| entry_bytes(k, e)).sum();
    let mut seen: BTreeSet<Digest> = BTreeSet::new();
    let mut manifest_size = 0;
    for b in blobs(merged.entries.values()) {
        seen.insert(b.0);
        manifest_size += blob_bytes(&b);
    }
    let (mut kept, mut dropped) = (0, 0);
    for (k, e) in &earlier.entries {
        if merged.entries.contains_key(k) {
            continue;
        }
        let new_blobs: Vec<_> = blobs([e])
            .into_iter()
            .filter(|b| !seen.contains(&b.0))
            .collect();
        let more_index = entry_bytes(k, e);
        let more_manifest: usize = new_blobs.iter().map(blob_bytes).sum();
        if index_size + more_index > budget || manifest_size + more_manifest > budget {
            dropped += 1;
            continue;
        }
        index_size += more_index;
        manifest_size += more_manifest;
        seen.extend(new_blobs.iter().map(|b| b.0));
        merged.entries.insert(k.clone(), e.clone());
        kept += 1;
    }
    (merged, kept, dropped)
}

/// The index and manifest digest of the cache `reference` names: `Ok(None)` when the tag does
/// not exist, [`Error::NotACache`] when it names something else.
fn read_cache(
    client: &Client,
    reference: &Reference,
    scope: &str,
) -> Result<Option<(CacheIndex, Digest)>> {
    let what = format!("build cache {reference}");
    let (bytes, _) = match get_manifest(
        client,
        &reference.repository,
        &reference.reference(),
        scope,
        &what,
    ) {
        Ok(m) => m,
        Err(Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    let bad = |reason: String| Error::BadManifest {
        what: what.clone(),
        reason,
    };
    let manifest: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(e.to_string()))?;
    let config = manifest.get("config").ok_or_else(|| Error::NotACache {
        reference: reference.to_string(),
        what: "a manifest list or an index".into(),
    })?;
    let config_type = config.get("mediaType").and_then(|v| v.as_str());
    if config_type != Some(INDEX_MEDIA_TYPE) {
        return Err(Error::NotACache {
            reference: reference.to_string(),
            what: format!(
                "a manifest whose config is `{}`",
                crate::printable(config_type.unwrap_or("?"))
            ),
        });
    }
    let index_digest: Digest = config
        .get("digest")
        .and_then(|v| v.as_str())
        .and_then(|d| d.parse().ok())
        .ok_or_else(|| bad("its config has no digest".into()))?;
    let size = config
        .get("size")
        .and_then(|v| v.as_u64())
        .ok_or_else(|| bad("its config has no size".into()))?;
    if size > MAX_METADATA_BYTES {
        return Err(Error::TooLarge {
            what: format!("the index of {what}"),
            limit: MAX_METADATA_BYTES,
        });
    }
    // The index is small (bounded above): read into memory, checked, never stored.
    let response = client.send(
        "GET",
        &format!("/v2/{}/blobs/{index_digest}", reference.repository),
        &[],
        crate::client::Body::Empty,
        scope,
        &what,
    )?;
    let response = client.check(response, &[200], &what)?;
    let mut index_bytes = Vec::new();
    crate::client::Paced::whole(response.into_body().into_reader())
        .take(size + 1)
        .read_to_end(&mut index_bytes)
        .map_err(|e| Error::Transport {
            url: what.clone(),
            message: e.to_string(),
        })?;
    if index_bytes.len() as u64 != size || Digest::of(&index_bytes) != index_digest {
        return Err(Error::Mismatch {
            what: format!("the index of {what}"),
            reason: format!("its bytes do not match {index_digest}"),
        });
    }
    let index: CacheIndex = serde_json::from_slice(&index_bytes).map_err(|e| bad(e.to_string()))?;
    Ok(Some((index, Digest::of(&bytes))))
}

/// What an earlier export left at the tag, to merge with: empty when there is none, or when
/// what is there is not readable as a cache (a warning: it is replaced).
fn earlier(pusher: &Pusher<'_>, reference: &Reference) -> Result<CacheIndex> {
    match read_cache(&pusher.client, reference, &pusher.scope) {
        Ok(Some((index, _))) => Ok(index),
        Ok(None) => Ok(CacheIndex::default()),
        Err(e @ (Error::Mismatch { .. } | Error::BadManifest { .. } | Error::TooLarge { .. })) => {
            (pusher.progress)(format!(
                "warning: the build cache at {reference} cannot be read ({e}); it is replaced \
                 with this build's entries"
            ));
            Ok(CacheIndex::default())
        }
        Err(e) => Err(e),
    }
}

/// Put `index` (its blobs are in the registry) and its manifest under `reference`'s tag.
fn put(pusher: &Pusher<'_>, reference: &Reference, index: &CacheIndex) -> Result<Digest> {
    let index_bytes = serde_json::to_vec(index).expect("cache index serialises");
    let index_digest = pusher.store.put_blob(&index_bytes)?;
    pusher.blob(&index_digest, index_bytes.len() as u64, false)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": INDEX_MEDIA_TYPE,
            "digest": index_digest.to_string(),
            "size": index_bytes.len(),
        },
        "layers": blobs(index.entries.values()).iter().map(|(d, size, mt)| json!({
            "mediaType": mt,
            "digest": d.to_string(),
            "size": size,
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let (digest, _, _) =
        pusher.put_manifest(&bytes, media::MANIFEST, Some(&reference.reference()))?;
    Ok(digest)
}

/// Whether the registry has the blob `digest` in the pusher's repository (a `HEAD`).
fn has_blob(pusher: &Pusher<'_>, digest: &Digest) -> Result<bool> {
    let what = format!("layer {} of {}", short(digest), pusher.name);
    let head = pusher.client.send(
        "HEAD",
        &format!("/v2/{}/blobs/{digest}", pusher.repo),
        &[],
        crate::client::Body::Empty,
        &pusher.scope,
        &what,
    )?;
    Ok(head.status().as_u16() == 200)
}

/// Push the store's cache entries for `keys` (the cache keys of the nodes a build used) to
/// `reference` as a build cache artifact; keys the store's cache does not hold are skipped.
///
/// The export **merges**: the entries an earlier export left under the tag (another spec,
/// another runner) are kept beside this build's (this build's win under the same key), so
/// runners building different specs into one cache ref all find their steps. Their layers are
/// already in the repository (the earlier manifest names them) and are not sent or asked
/// about; if the registry lost one, the manifest is refused, and the export then keeps only the
/// earlier entries whose blobs are all there. Registries have no conditional tag update, so
/// after writing, the export reads the tag back: if another export wrote it in between without
/// this build's entries, it merges again (up to three times).
pub fn export(
    store: &Store,
    keys: &[Digest],
    reference: &Reference,
    opts: &Options,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Exported> {
    let _lease = store.lease()?;
    let client = Client::connect(&reference.registry, opts)?;
    let pusher = Pusher {
        store,
        client,
        repo: reference.repository.clone(),
        scope: format!("repository:{}:pull,push", reference.repository),
        name: reference.to_string(),
        uploaded: std::sync::atomic::AtomicUsize::new(0),
        progress,
        compression: Compression::Gzip,
        // Its manifest is put without the recovery `Pusher::manifest` has: ask about
        // every blob.
        trust_sources: std::sync::atomic::AtomicBool::new(false),
        trusted: std::sync::Mutex::new(Vec::new()),
    };
    let mut ours = CacheIndex::default();
    for key in keys {
        let Some((several, layers)) = local_entry(store, key)? else {
            continue;
        };
        let mut cached = Vec::new();
        for layer in layers {
            let what = format!("layer {} of {}", short(&layer.diff_id), reference);
            let (blob, blob_size) =
                if Compression::from_media_type(&layer.media_type) == Some(Compression::None) {
                    compressed(store, &layer.digest, Compression::Gzip, &what)?
                } else {
                    (layer.digest, layer.size)
                };
            let diff_size = store.layer(&layer.diff_id)?.and_then(|r| r.diff_size);
            cached.push(CachedLayer {
                layer,
                diff_size,
                blob,
                blob_size,
            });
        }
        ours.entries.insert(
            key.to_string(),
            CacheEntry {
                several,
                layers: cached,
            },
        );
    }
    for (d, size, _) in &blobs(ours.entries.values()) {
        pusher.blob(d, *size, true)?;
    }
    // Room for the manifest's and the index's own fields under the limit a reader applies.
    let budget = (MAX_METADATA_BYTES - (64 << 10)) as usize;
    let mut round = 0;
    loop {
        round += 1;
        let earlier = earlier(&pusher, reference)?;
        let (mut merged, mut kept, mut dropped) = merge(&ours, &earlier, budget);
        let digest = match put(&pusher, reference, &merged) {
            Err(e) if crate::push::blob_unknown(&e) && kept > 0 => {
                // The registry lost a blob an earlier entry names: keep only the earlier
                // entries whose blobs are all there.
                let ours_blobs: BTreeSet<Digest> = blobs(ours.entries.values())
                    .into_iter()
                    .map(|b| b.0)
                    .collect();
                let mut missing = BTreeSet::new();
                for (d, _, _) in blobs(merged.entries.values()) {
                    if !ours_blobs.contains(&d) && !has_blob(&pusher, &d)? {
                        missing.insert(d);
                    }
                }
                let before = merged.entries.len();
                merged.entries.retain(|k, e| {
                    ours.entries.contains_key(k)
                        || e.layers.iter().all(|l| !missing.contains(&l.blob))
                });
                let lost = before - merged.entries.len();
                kept -= lost;
                dropped += lost;
                (pusher.progress)(format!(
                    "warning: the registry lost layers of {lost} entries of the build cache \
                     at {reference}; they are left out"
                ));
                put(&pusher, reference, &merged)?
            }
            r => r?,
        };
        // Read the tag back: another export may have written it since this one read it.
        let now = read_cache(&pusher.client, reference, &pusher.scope);
        let ours_there = match &now {
            Ok(Some((_, d))) if *d == digest => true,
            Ok(Some((index, _))) => ours
                .entries
                .iter()
                .all(|(k, e)| index.entries.get(k) == Some(e)),
            _ => false,
        };
        if ours_there || round >= MERGE_ROUNDS {
            if !ours_there {
                (pusher.progress)(format!(
                    "warning: other builds kept writing the build cache at {reference}; this \
                     build's entries may not be in it"
                ));
            }
            return Ok(Exported {
                digest: match now {
                    Ok(Some((_, d))) => d,
                    _ => digest,
                },
                entries: merged.entries.len(),
                kept,
                dropped,
                uploaded: pusher.uploaded.load(std::sync::atomic::Ordering::Relaxed),
            });
        }
        (pusher.progress)(format!(
            "another build wrote the build cache at {reference} meanwhile: merging again"
        ));
    }
}

/// A build cache read from a registry: its index, and a client to fetch its layers with.
#[derive(Debug)]
pub struct RegistryCache {
    client: Client,
    reference: Reference,
    scope: String,
    index: CacheIndex,
    /// The cache manifest's digest.
    pub digest: Digest,
}

impl RegistryCache {
    /// Read the cache `reference` names; `Ok(None)` when the registry has no such tag yet
    /// (the first build of a fleet).
    pub fn open(reference: &Reference, opts: &Options) -> Result<Option<RegistryCache>> {
        let client = Client::connect(&reference.registry, opts)?;
        let scope = format!("repository:{}:pull", reference.repository);
        let Some((index, digest)) = read_cache(&client, reference, &scope)? else {
            return Ok(None);
        };
        Ok(Some(RegistryCache {
            client,
            reference: reference.clone(),
            scope,
            index,
            digest,
        }))
    }

    /// Entries in the index.
    pub fn len(&self) -> usize {
        self.index.entries.len()
    }

    /// Whether the index is empty.
    pub fn is_empty(&self) -> bool {
        self.index.entries.is_empty()
    }

    /// Bring the entry for `key` into `store` (its layers, then the store's cache index
    /// entry); `Ok(false)` when the cache has none.
    pub fn import(&self, store: &Store, key: &Digest) -> Result<bool> {
        let Some(entry) = self.index.entries.get(&key.to_string()) else {
            return Ok(false);
        };
        let mut layers = Vec::new();
        for l in &entry.layers {
            self.layer(store, l)?;
            layers.push(l.layer.clone());
        }
        if entry.several {
            store.cache_put_many(key, &layers)?;
        } else if let [layer] = &layers[..] {
            store.cache_put(key, layer)?;
        } else {
            return Err(Error::BadManifest {
                what: format!("build cache {}", self.reference),
                reason: format!("its entry {key} has {} layers, not one", layers.len()),
            });
        }
        Ok(true)
    }

    /// Store one layer as the building store had it, or refuse it (the step is then built
    /// here). What the index says of the layer is checked against itself before anything is
    /// fetched (a media type duckc unpacks, sizes a blob can have, the uncompressed layer's
    /// blob of its own size), and the layer is then unpacked as any layer is before a build
    /// uses it: its tar hashed to its diff_id in the same pass, and refused when it climbs out
    /// of its root (SECURITY 10–19). Only then is it recorded, with the size the unpack found.
    fn layer(&self, store: &Store, l: &CachedLayer) -> Result<()> {
        let layer = &l.layer;
        let cache = format!("build cache {}", self.reference);
        let bad = |reason: String| Error::BadManifest {
            what: cache.clone(),
            reason,
        };
        let Some(compression) = Compression::from_media_type(&layer.media_type) else {
            return Err(bad(format!(
                "its layer {} has the unsupported media type `{}` (duckc unpacks tar, tar+gzip \
                 and tar+zstd layers)",
                short(&layer.diff_id),
                crate::printable(&layer.media_type)
            )));
        };
        if layer.size > MAX_DESCRIPTOR_SIZE || l.blob_size > MAX_DESCRIPTOR_SIZE {
            return Err(bad(format!(
                "its layer {} declares more bytes than any blob can have",
                short(&layer.diff_id)
            )));
        }
        if l.blob == layer.digest && l.blob_size != layer.size {
            return Err(bad(format!(
                "its layer {} declares {} bytes and its blob {}",
                short(&layer.diff_id),
                layer.size,
                l.blob_size
            )));
        }
        if l.blob != layer.digest && compression != Compression::None {
            return Err(bad(format!("layer {} is compressed twice", layer.digest)));
        }
        let what = format!("layer {} of {}", short(&layer.diff_id), self.reference);
        let repo = &self.reference.repository;
        let here = store.has_blob(&layer.digest) && store.is_checked_blob(layer)?;
        if !here && !store.has_blob(&l.blob) {
            fetch_blob(
                &self.client,
                store,
                repo,
                (&l.blob, l.blob_size),
                &self.scope,
                &what,
            )?;
        }
        let gunzipped = l.blob != layer.digest && !store.has_blob(&layer.digest);
        if gunzipped {
            // Unpack the gzip into the uncompressed blob, checked against the layer's digest.
            let blob_err = |e: duckc_store::Error| Error::Blob {
                what: what.clone(),
                source: Box::new(e),
            };
            let io_err = |e: io::Error| Error::Mismatch {
                what: what.clone(),
                reason: format!("it does not unpack: {e}"),
            };
            let input = store.open_blob(&l.blob).map_err(blob_err)?;
            let mut reader = duckc_layer::compress::decoder(io::BufReader::new(input))
                .map_err(io_err)?
                .take(layer.size + 1);
            let mut writer = store.blob_writer().map_err(blob_err)?;
            io::copy(&mut reader, &mut writer).map_err(io_err)?;
            writer
                .commit(Some((&layer.digest, layer.size)))
                .map_err(blob_err)?;
        }
        // Unpacked (once; a no-op when its snapshot is there) and recorded only when its tar
        // is the diff_id the cache names and unpacks inside its root: a build may take the
        // layer as is, without unpacking it (a step whose image no later step runs in).
        store
            .snapshot_layer(layer, &cache)
            .map_err(|e| Error::Blob {
                what: what.clone(),
                source: Box::new(e),
            })?;
        if gunzipped {
            remember_compressed(
                store,
                &layer.digest,
                Compression::Gzip,
                &l.blob,
                l.blob_size,
            )?;
        }
        crate::sources::remember(store, &l.blob, &self.reference.registry, repo);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry of one uncompressed layer made from `seed`, its gzip blob beside it.
    fn entry(seed: &str) -> CacheEntry {
        let layer = LayerRef {
            digest: Digest::of(format!("tar {seed}").as_bytes()),
            diff_id: Digest::of(format!("tar {seed}").as_bytes()),
            size: 100,
            media_type: Compression::None.media_type().to_owned(),
        };
        CacheEntry {
            several: false,
            layers: vec![CachedLayer {
                layer,
                diff_size: Some(100),
                blob: Digest::of(format!("gzip {seed}").as_bytes()),
                blob_size: 40,
            }],
        }
    }

    fn index(entries: &[(&str, &str)]) -> CacheIndex {
        CacheIndex {
            entries: entries
                .iter()
                .map(|(k, seed)| (Digest::of(k.as_bytes()).to_string(), entry(seed)))
                .collect(),
        }
    }

    #[test]
    fn an_export_keeps_earlier_entries_and_wins_on_its_own_keys() {
        let ours = index(&[("a", "a1"), ("b", "b1")]);
        let earlier = index(&[("b", "b0"), ("c", "c0")]);
        let (merged, kept, dropped) = merge(&ours, &earlier, usize::MAX);
        assert_eq!((kept, dropped), (1, 0));
        assert_eq!(merged.entries.len(), 3);
        let key = |k: &str| Digest::of(k.as_bytes()).to_string();
        assert_eq!(merged.entries[&key("b")], entry("b1"));
        assert_eq!(merged.entries[&key("c")], entry("c0"));
        // The manifest names every entry's blob once.
        assert_eq!(blobs(merged.entries.values()).len(), 3);
        // Merging the same thing again changes nothing (a re-export writes the same bytes).
        let (again, _, _) = merge(&ours, &merged, usize::MAX);
        assert_eq!(
            serde_json::to_vec(&again).unwrap(),
            serde_json::to_vec(&merged).unwrap()
        );
    }

    #[test]
    fn earlier_entries_over_the_budget_are_left_out_and_ours_never() {
        let ours = index(&[("a", "a1")]);
        let earlier = index(&[("c", "c0"), ("d", "d0"), ("e", "e0")]);
        let one = serde_json::to_vec(&ours).unwrap().len();
        // Room for about two entries: ours and one earlier.
        let (merged, kept, dropped) = merge(&ours, &earlier, one * 2);
        assert_eq!((kept, dropped), (1, 2));
        assert!(merged.entries.contains_key(&Digest::of(b"a").to_string()));
        // No room at all: ours alone.
        let (merged, kept, dropped) = merge(&ours, &earlier, 0);
        assert_eq!((kept, dropped, merged.entries.len()), (0, 3, 1));
    }
}
