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

use duckc_image::{MAX_METADATA_BYTES, media};
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
    /// Entries in the index.
    pub entries: usize,
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

/// Push the store's cache entries for `keys` (the cache keys of the nodes a build used) to
/// `reference` as a build cache artifact; keys the store's cache does not hold are skipped.
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
    let mut index = CacheIndex::default();
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
        index.entries.insert(
            key.to_string(),
            CacheEntry {
                several,
                layers: cached,
            },
        );
    }
    let mut blobs: Vec<(Digest, u64, String)> = Vec::new();
    let mut seen = BTreeSet::new();
    for l in index.entries.values().flat_map(|e| &e.layers) {
        if seen.insert(l.blob) {
            let mt = if l.blob == l.layer.digest {
                l.layer.media_type.clone()
            } else {
                Compression::Gzip.media_type().to_owned()
            };
            blobs.push((l.blob, l.blob_size, mt));
        }
    }
    for (d, size, _) in &blobs {
        pusher.blob(d, *size, true)?;
    }
    let index_bytes = serde_json::to_vec(&index).expect("cache index serialises");
    let index_digest = store.put_blob(&index_bytes)?;
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
        "layers": blobs.iter().map(|(d, size, mt)| json!({
            "mediaType": mt,
            "digest": d.to_string(),
            "size": size,
        })).collect::<Vec<_>>(),
    });
    let bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let (digest, _, _) =
        pusher.put_manifest(&bytes, media::MANIFEST, Some(&reference.reference()))?;
    Ok(Exported {
        digest,
        entries: index.entries.len(),
        uploaded: pusher.uploaded.into_inner(),
    })
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
        let what = format!("build cache {reference}");
        let (bytes, _) = match get_manifest(
            &client,
            &reference.repository,
            &reference.reference(),
            &scope,
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
        let config = manifest
            .get("config")
            .ok_or_else(|| bad("it has no config".into()))?;
        if config.get("mediaType").and_then(|v| v.as_str()) != Some(INDEX_MEDIA_TYPE) {
            return Err(bad(format!(
                "it is not a duckc build cache (its config is not `{INDEX_MEDIA_TYPE}`)"
            )));
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
            &scope,
            &what,
        )?;
        let response = client.check(response, &[200], &what)?;
        let mut index_bytes = Vec::new();
        response
            .into_body()
            .into_reader()
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
        let index: CacheIndex =
            serde_json::from_slice(&index_bytes).map_err(|e| bad(e.to_string()))?;
        Ok(Some(RegistryCache {
            client,
            reference: reference.clone(),
            scope,
            index,
            digest: Digest::of(&bytes),
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

    /// Store one layer as the building store had it.
    fn layer(&self, store: &Store, l: &CachedLayer) -> Result<()> {
        let layer = &l.layer;
        if store.has_blob(&layer.digest)
            && store
                .layer(&layer.diff_id)?
                .is_some_and(|r| store.has_blob(&r.layer.digest))
        {
            return Ok(());
        }
        let what = format!("layer {} of {}", short(&layer.diff_id), self.reference);
        let repo = &self.reference.repository;
        if !store.has_blob(&l.blob) {
            fetch_blob(
                &self.client,
                store,
                repo,
                (&l.blob, l.blob_size),
                &self.scope,
                &what,
            )?;
        }
        if l.blob != layer.digest && !store.has_blob(&layer.digest) {
            if Compression::from_media_type(&layer.media_type) != Some(Compression::None) {
                return Err(Error::BadManifest {
                    what: format!("build cache {}", self.reference),
                    reason: format!("layer {} is compressed twice", layer.digest),
                });
            }
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
            remember_compressed(
                store,
                &layer.digest,
                Compression::Gzip,
                &l.blob,
                l.blob_size,
            )?;
        }
        store.register_layer(layer, l.diff_size)?;
        crate::sources::remember(store, &l.blob, &self.reference.registry, repo);
        Ok(())
    }
}
