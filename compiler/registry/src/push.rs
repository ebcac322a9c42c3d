//! `push`: layers stored uncompressed are gzipped (or zstd-compressed with `--compression
//! zstd`; deterministically, with the layer crate's pinned encoders) once, and the store remembers which compressed blob belongs to which
//! uncompressed one, so pushing an unchanged image again sends no layer bytes and gives the
//! same manifest digest. A blob the store recorded this repository as holding is taken to be
//! there (a manifest the registry refuses for a missing blob makes the push forget those
//! records and ask); every other blob is `HEAD`ed first, mounted from another repository of
//! the same registry when one is known to hold it, else uploaded: in one PUT, or in chunks
//! that a later push resumes when this one is cut (the `upload` module).

use std::io::{self, BufReader};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use duckc_image::{MAX_METADATA_BYTES, media};
use duckc_layer::Compression;
use duckc_layer::compress::Encoder;
use duckc_store::{Digest, Store};
use serde_json::{Value, json};

use crate::client::{Body, Client, Options, encode_query};
use crate::name::Reference;
use crate::pull::short;
use crate::{Error, Result, sources, upload};

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    /// The digest of the manifest (or index) the tag now names.
    pub digest: Digest,
    /// Its size in bytes.
    pub size: u64,
    /// Blobs whose bytes were sent.
    pub uploaded: usize,
    /// Its media type.
    pub media_type: String,
}

fn record_path(store: &Store, digest: &Digest, compression: Compression) -> std::path::PathBuf {
    let dir = match compression {
        Compression::Zstd => "registry/zstd",
        _ => "registry/gzip",
    };
    store
        .root()
        .join(dir)
        .join(format!("{}.json", digest.hex()))
}

/// The `compression` (gzip or zstd) blob for the uncompressed layer blob `digest`:
/// remembered, or written now with the layer crate's pinned encoder.
pub(crate) fn compressed(
    store: &Store,
    digest: &Digest,
    compression: Compression,
    what: &str,
) -> Result<(Digest, u64)> {
    let record = record_path(store, digest, compression);
    if let Ok(bytes) = std::fs::read(&record)
        && let Ok(v) = serde_json::from_slice::<Value>(&bytes)
        && let Some(d) = v
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok())
        && let Some(size) = v.get("size").and_then(Value::as_u64)
        && store.has_blob(&d)
    {
        return Ok((d, size));
    }
    let blob_err = |e: duckc_store::Error| Error::Blob {
        what: what.to_owned(),
        source: Box::new(e),
    };
    let io_err = |e| Error::Io {
        path: store.blob_path(digest),
        source: e,
    };
    let input = store.open_blob(digest).map_err(blob_err)?;
    let writer = store.blob_writer().map_err(blob_err)?;
    let mut enc = Encoder::new(writer, compression).map_err(io_err)?;
    io::copy(&mut BufReader::with_capacity(1 << 20, input), &mut enc).map_err(io_err)?;
    let writer = enc.finish().map_err(io_err)?;
    let (d, size) = writer.commit(None).map_err(blob_err)?;
    remember_compressed(store, digest, compression, &d, size)?;
    Ok((d, size))
}

/// Record that the `compression` blob `blob` (`size` bytes) holds the uncompressed layer blob
/// `digest`, one record per compression (a pull of a registry cache learns the gzip one too,
/// so pushing the built image sends nothing new).
pub(crate) fn remember_compressed(
    store: &Store,
    digest: &Digest,
    compression: Compression,
    blob: &Digest,
    size: u64,
) -> Result<()> {
    let record = record_path(store, digest, compression);
    if let Some(dir) = record.parent() {
        let _ = duckc_store::modes::create_private_dir(dir);
    }
    let name = match compression {
        Compression::Zstd => "zstd",
        _ => "gzip",
    };
    let rec = json!({"digest": blob.to_string(), "size": size, "compression": name});
    duckc_store::write_atomic(store, &record, rec.to_string().as_bytes())?;
    Ok(())
}

pub(crate) struct Pusher<'a> {
    pub(crate) store: &'a Store,
    pub(crate) client: Client,
    pub(crate) repo: String,
    pub(crate) scope: String,
    pub(crate) name: String,
    pub(crate) uploaded: AtomicUsize,
    pub(crate) progress: &'a (dyn Fn(String) + Sync),
    /// How uncompressed layers are compressed for the registry.
    pub(crate) compression: Compression,
    /// Take a blob the store recorded this repository as holding (`sources`) to be there,
    /// without a `HEAD`; [`Pusher::manifest`] turns it off when the registry says otherwise.
    pub(crate) trust_sources: AtomicBool,
    /// The blobs taken to be there on that record.
    pub(crate) trusted: Mutex<Vec<Digest>>,
}

impl Pusher<'_> {
    /// Make sure the registry has blob `digest` (`size` bytes); `layer` prints a line for it.
    pub(crate) fn blob(&self, digest: &Digest, size: u64, layer: bool) -> Result<()> {
        let what = if layer {
            format!("layer {} of {}", short(digest), self.name)
        } else {
            format!("config {} of {}", short(digest), self.name)
        };
        let host = self.client.host().to_owned();
        // Re-pushing an unchanged image was one `HEAD` per layer (0.3 s for 130 layers):
        // a blob this store pushed here or pulled from here is taken to be there.
        if self.trust_sources.load(Ordering::Relaxed)
            && sources::holds(self.store, digest, &host, &self.repo)
        {
            self.trusted.lock().expect("trusted lock").push(*digest);
            if layer {
                (self.progress)(format!("{}: Layer already exists", short(digest)));
            }
            return Ok(());
        }
        let path = format!("/v2/{}/blobs/{digest}", self.repo);
        let head = self
            .client
            .send("HEAD", &path, &[], Body::Empty, &self.scope, &what)?;
        if head.status().as_u16() == 200 {
            upload::forget(self.store, &host, &self.repo, digest);
            sources::remember(self.store, digest, &host, &self.repo);
            if layer {
                (self.progress)(format!("{}: Layer already exists", short(digest)));
            }
            return Ok(());
        }
        let chunked = size > upload::CHUNKED_ABOVE;
        if chunked && self.store.blob_size(digest)? != size {
            return Err(Error::Mismatch {
                what,
                reason: format!("the stored blob is not {size} bytes"),
            });
        }
        // A push cut in the middle of this blob left its upload: go on from where it broke.
        if chunked && let Some(session) = upload::resume(self, digest, size, &what, true) {
            upload::chunked(self, digest, size, &what, session)?;
            self.pushed(digest, layer);
            return Ok(());
        }
        let from = sources::known(self.store, digest, &host, &self.repo);
        let start = match &from {
            Some(from) => format!(
                "/v2/{}/blobs/uploads/?mount={}&from={}",
                self.repo,
                encode_query(&digest.to_string()),
                encode_query(from)
            ),
            None => format!("/v2/{}/blobs/uploads/", self.repo),
        };
        let response = self.client.send(
            "POST",
            &start,
            &[("Content-Length", "0")],
            Body::Empty,
            &self.scope,
            &what,
        )?;
        let response = self.client.check(response, &[201, 202], &what)?;
        if response.status().as_u16() == 201 {
            if layer {
                (self.progress)(format!(
                    "{}: Mounted from {}",
                    short(digest),
                    from.unwrap_or_default()
                ));
            }
            sources::remember(self.store, digest, &host, &self.repo);
            return Ok(());
        }
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Error::Status {
                what: what.clone(),
                status: 202,
                detail: " (no upload location)".into(),
            })?;
        let base = self.client.url(&start);
        let mut url = self.client.resolve(&base, location);
        if chunked {
            let session = upload::Session::new(url, &response);
            upload::chunked(self, digest, size, &what, session)?;
            self.pushed(digest, layer);
            return Ok(());
        }
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&format!("digest={}", encode_query(&digest.to_string())));
        let file = self.store.blob_path(digest);
        if self.store.blob_size(digest)? != size {
            return Err(Error::Mismatch {
                what,
                reason: format!("the stored blob is not {size} bytes"),
            });
        }
        let response = self.client.send(
            "PUT",
            &url,
            &[("Content-Type", "application/octet-stream")],
            Body::File(&file),
            &self.scope,
            &what,
        )?;
        self.client.check(response, &[201], &what)?;
        self.pushed(digest, layer);
        Ok(())
    }

    /// Count and note an uploaded blob.
    fn pushed(&self, digest: &Digest, layer: bool) {
        self.uploaded.fetch_add(1, Ordering::Relaxed);
        sources::remember(self.store, digest, self.client.host(), &self.repo);
        if layer {
            (self.progress)(format!("{}: Pushed", short(digest)));
        }
    }

    /// One layer descriptor of the manifest `manifest`: compressed when stored uncompressed,
    /// then made sure of in the registry. Returns the new descriptor when it changed.
    fn layer(&self, manifest: &Digest, l: &Value) -> Result<Option<Value>> {
        let d = l
            .get("digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok());
        let size = l.get("size").and_then(Value::as_u64);
        let mt = l
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (Some(d), Some(size)) = (d, size) else {
            return Err(Error::BadManifest {
                what: format!("manifest {manifest}"),
                reason: "a layer has no digest or size".into(),
            });
        };
        if Compression::from_media_type(&mt) != Some(Compression::None) {
            self.blob(&d, size, true)?;
            return Ok(None);
        }
        let what = format!("layer {} of {}", short(&d), self.name);
        let docker = mt.starts_with("application/vnd.docker");
        if docker && self.compression == Compression::Zstd {
            return Err(Error::BadManifest {
                what: format!("manifest {manifest}"),
                reason: "zstd layers need an OCI manifest, and this image has Docker's v2 \
                         manifest"
                    .into(),
            });
        }
        let (blob, blob_size) = compressed(self.store, &d, self.compression, &what)?;
        self.blob(&blob, blob_size, true)?;
        let mut new = l.clone();
        new["digest"] = json!(blob.to_string());
        new["size"] = json!(blob_size);
        new["mediaType"] = json!(if docker {
            "application/vnd.docker.image.rootfs.diff.tar.gzip"
        } else {
            self.compression.media_type()
        });
        Ok(Some(new))
    }

    /// Push the manifest `digest`'s blobs, then the manifest under `tag_or_digest` (its own
    /// digest when `None`); return the bytes pushed, their digest and media type. A registry
    /// that refuses the manifest for a blob it lacks, when some blob was taken to be there
    /// on the store's record (it was garbage-collected, or the repository deleted and made
    /// again), gets those records forgotten and every blob asked about (`HEAD`) and sent
    /// again where missing.
    fn manifest(&self, digest: &Digest, tag: Option<&str>) -> Result<(Digest, u64, String)> {
        match self.manifest_once(digest, tag) {
            Err(e)
                if blob_unknown(&e)
                    && !self.trusted.lock().expect("trusted lock").is_empty()
                    && self.trust_sources.swap(false, Ordering::Relaxed) =>
            {
                let host = self.client.host().to_owned();
                for d in self.trusted.lock().expect("trusted lock").drain(..) {
                    sources::forget(self.store, &d, &host, &self.repo);
                }
                (self.progress)(
                    "the registry lacks a blob it was recorded to hold: asking about each"
                        .to_owned(),
                );
                self.manifest_once(digest, tag)
            }
            r => r,
        }
    }

    fn manifest_once(&self, digest: &Digest, tag: Option<&str>) -> Result<(Digest, u64, String)> {
        let bytes = self.store.read_blob(digest, MAX_METADATA_BYTES)?;
        let mut value: Value = serde_json::from_slice(&bytes).map_err(|e| Error::BadManifest {
            what: format!("manifest {digest}"),
            reason: e.to_string(),
        })?;
        let config = value
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse::<Digest>().ok());
        let config_size = value.pointer("/config/size").and_then(Value::as_u64);
        let (Some(config), Some(config_size)) = (config, config_size) else {
            return Err(Error::BadManifest {
                what: format!("manifest {digest}"),
                reason: "it has no config".into(),
            });
        };
        // Each layer: compressed if it is stored uncompressed, then made sure of in the
        // registry, `PARALLEL` at a time (an unchanged image's re-push is one `HEAD` each).
        let entries: Vec<Value> = value
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let done = parallel(&entries, |l| self.layer(digest, l))?;
        let changed = done.iter().any(Option::is_some);
        if let Some(ls) = value.get_mut("layers").and_then(Value::as_array_mut) {
            for (l, new) in ls.iter_mut().zip(done) {
                if let Some(new) = new {
                    *l = new;
                }
            }
        }
        self.blob(&config, config_size, false)?;
        let bytes = if changed {
            serde_json::to_vec(&value).expect("manifest serialises")
        } else {
            bytes
        };
        let media_type = value
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(media::MANIFEST)
            .to_owned();
        self.put_manifest(&bytes, &media_type, tag)
    }

    pub(crate) fn put_manifest(
        &self,
        bytes: &[u8],
        media_type: &str,
        tag: Option<&str>,
    ) -> Result<(Digest, u64, String)> {
        let digest = Digest::of(bytes);
        let reference = tag.map_or_else(|| digest.to_string(), str::to_owned);
        let what = format!("manifest of {}", self.name);
        let response = self.client.send(
            "PUT",
            &format!("/v2/{}/manifests/{reference}", self.repo),
            &[("Content-Type", media_type)],
            Body::Bytes(bytes),
            &self.scope,
            &what,
        )?;
        self.client.check(response, &[200, 201, 202], &what)?;
        Ok((digest, bytes.len() as u64, media_type.to_owned()))
    }
}

/// Whether `e` is a registry refusing a manifest for a blob it does not have
/// (`MANIFEST_BLOB_UNKNOWN`, or `BLOB_UNKNOWN` from some registries).
pub(crate) fn blob_unknown(e: &Error) -> bool {
    match e {
        Error::Status { detail, .. } | Error::NotFound { detail, .. } => {
            detail.contains("BLOB_UNKNOWN")
        }
        _ => false,
    }
}

/// Layers compressed and sent at the same time.
const PARALLEL: usize = 4;

/// `f` of each item, [`PARALLEL`] at a time, in order; the first error stops the rest.
fn parallel<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> Result<R> + Sync) -> Result<Vec<R>> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let results: Mutex<Vec<Option<Result<R>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..PARALLEL.min(items.len()) {
            scope.spawn(|| {
                while !failed.load(Ordering::Relaxed) {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { return };
                    let r = f(item);
                    if r.is_err() {
                        failed.store(true, Ordering::Relaxed);
                    }
                    results.lock().expect("results lock")[i] = Some(r);
                }
            });
        }
    });
    let mut out = Vec::with_capacity(items.len());
    for r in results.into_inner().expect("results lock") {
        match r {
            Some(Ok(v)) => out.push(v),
            Some(Err(e)) => return Err(e),
            // Not run: an earlier item failed (its error comes first, or below).
            None => {}
        }
    }
    if out.len() == items.len() {
        return Ok(out);
    }
    unreachable!("a failed item's error is returned above")
}

/// Push the local image `local` to `reference`'s registry, repository and tag.
pub fn push(
    store: &Store,
    local: &str,
    reference: &Reference,
    opts: &Options,
    compression: Compression,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Pushed> {
    let _lease = store.lease()?;
    let image = duckc_image::resolve(store, local)?;
    let client = Client::connect(&reference.registry, opts)?;
    let pusher = Pusher {
        store,
        client,
        repo: reference.repository.clone(),
        scope: format!("repository:{}:pull,push", reference.repository),
        name: reference.to_string(),
        uploaded: AtomicUsize::new(0),
        progress,
        compression,
        trust_sources: AtomicBool::new(true),
        trusted: Mutex::new(Vec::new()),
    };
    let tag = reference.reference();
    let top = store.read_blob(&image.digest, MAX_METADATA_BYTES)?;
    let top_value: Value = serde_json::from_slice(&top).map_err(|e| Error::BadManifest {
        what: format!("image {local}"),
        reason: e.to_string(),
    })?;
    let (digest, size, media_type) = if let Some(ms) =
        top_value.get("manifests").and_then(Value::as_array)
    {
        // A multi-platform image: every platform's manifest by digest, then the index.
        let mut index = top_value.clone();
        let mut changed = false;
        let mut new = Vec::new();
        for m in ms {
            let Some(d) = m
                .get("digest")
                .and_then(Value::as_str)
                .and_then(|d| d.parse::<Digest>().ok())
            else {
                continue;
            };
            if !store.has_blob(&d) {
                return Err(Error::BadManifest {
                    what: format!("image {local}"),
                    reason: format!(
                        "its index names manifest {d}, which is not in the store: pull the image with `duckc pull --all-platforms` to push every platform"
                    ),
                });
            }
            let (nd, nsize, _) = pusher.manifest(&d, None)?;
            changed |= nd != d;
            let mut m = m.clone();
            m["digest"] = json!(nd.to_string());
            m["size"] = json!(nsize);
            new.push(m);
        }
        index["manifests"] = Value::Array(new);
        let bytes = if changed {
            serde_json::to_vec(&index).expect("index serialises")
        } else {
            top.clone()
        };
        let mt = index
            .get("mediaType")
            .and_then(Value::as_str)
            .unwrap_or(media::INDEX)
            .to_owned();
        pusher.put_manifest(&bytes, &mt, Some(&tag))?
    } else {
        pusher.manifest(&image.digest, Some(&tag))?
    };
    crate::origin::remember(
        store,
        &image.digest,
        crate::origin::Origin {
            action: "push".into(),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            tag: reference.tag.clone(),
            digest,
            local: Some(crate::origin::local_repository(local).to_owned()),
        },
    );
    Ok(Pushed {
        digest,
        size,
        uploaded: pusher.uploaded.into_inner(),
        media_type,
    })
}
