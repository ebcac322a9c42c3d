//! `pull`: the manifest (an index picks a platform), then the config and the layers, a few
//! at a time, each streamed into the store and checked against its digest and size before
//! it is published, reporting [`Event`]s as it goes; the image is tagged only when
//! everything is in. A layer's diff_id is checked at its first unpack, not here (see
//! `docs/architecture.md`, "Why the diff_id is checked at first unpack").

use std::io::{Read, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use duckc_image::{Image, MAX_METADATA_BYTES, media};
use duckc_store::{Digest, Store};
use oci_spec::image::{ImageIndex, ImageManifest};

use crate::client::{Body, Client, Options};
use crate::name::Reference;
use crate::{Error, Result, sources};

/// The manifest media types a pull accepts, for the `Accept` header.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

/// A platform to pick from an index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    /// `linux`.
    pub os: String,
    /// `amd64`, `arm64`, …
    pub architecture: String,
    /// `v8`, `v7`, …
    pub variant: Option<String>,
}

impl Platform {
    /// Parse `OS/ARCH[/VARIANT]`.
    pub fn parse(s: &str) -> Option<Platform> {
        let mut parts = s.split('/');
        let os = parts.next().filter(|p| !p.is_empty())?.to_owned();
        let architecture = parts.next().filter(|p| !p.is_empty())?.to_owned();
        let variant = parts.next().map(str::to_owned);
        if parts.next().is_some() {
            return None;
        }
        Some(Platform {
            os,
            architecture,
            variant,
        })
    }

    /// This host's platform.
    pub fn host() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: duckc_image::host_arch().to_owned(),
            variant: None,
        }
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The platform to pick from an index (default: this host's).
    pub platform: Option<Platform>,
    /// Layers downloaded at the same time.
    pub jobs: usize,
    /// Every platform of an index, not only one (`--all-platforms`).
    pub all_platforms: bool,
}

/// Layers a pull downloads at the same time by default. Each layer has a fixed cost besides
/// its bytes (a request, an fsync and a rename for the blob, a record), so an image of many
/// small layers (examples/python: 130) waits on those unless several overlap: on a loopback
/// registry with a busy 2-core machine, 8 took a 130-layer pull from 5.3 s to 4.1 s against
/// 4 (docs/benchmarks.md). A layer in flight holds at most about 3 MiB of buffers.
pub const JOBS: usize = 8;

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: None,
            jobs: JOBS,
            all_platforms: false,
        }
    }
}

/// What a pull did.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The image, as stored.
    pub image: Image,
    /// The digest the registry gave for the name (an index's, for a multi-platform image).
    pub digest: Digest,
    /// Whether the name already pointed at this image (Docker's "Image is up to date").
    pub up_to_date: bool,
    /// Layers downloaded (the others were already in the store).
    pub downloaded: usize,
}

/// The first 12 hex digits, as Docker names layers in progress lines.
pub fn short(d: &Digest) -> String {
    d.hex()[..12].to_owned()
}

/// What a pull reports as it goes, in the order it happens (layers download a few at a time,
/// so their events interleave). The CLI draws Docker's lines, a live view or JSON from these.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// The manifest whose layers are fetched next, for `platform`: its digest and its layers
    /// (digest, size) in order; `several` when it is one platform of an `--all-platforms`
    /// pull.
    Manifest {
        /// `OS/ARCH[/VARIANT]`.
        platform: &'a str,
        /// The manifest's digest.
        digest: &'a Digest,
        /// Its layers: digest and size, in order.
        layers: &'a [(Digest, u64)],
        /// One platform of several.
        several: bool,
    },
    /// A layer the store already has: it is not fetched.
    Exists {
        /// The platform whose manifest names it.
        platform: &'a str,
        /// The layer blob.
        layer: &'a Digest,
        /// Its size.
        size: u64,
    },
    /// A layer downloading: `done` of its `size` bytes so far (0 when it starts; then at most
    /// one event a mebibyte, and one at the end).
    Downloading {
        /// The platform whose manifest names it.
        platform: &'a str,
        /// The layer blob.
        layer: &'a Digest,
        /// Bytes received.
        done: u64,
        /// Its size.
        size: u64,
    },
    /// A layer stored, its digest and size checked (its diff_id is checked at its first
    /// unpack).
    Complete {
        /// The platform whose manifest names it.
        platform: &'a str,
        /// The layer blob.
        layer: &'a Digest,
        /// Its size.
        size: u64,
    },
}

impl Event<'_> {
    /// Docker's plain line for the event, when it has one (`abc123456789: Pull complete`).
    pub fn line(&self) -> Option<String> {
        match self {
            Event::Manifest {
                platform,
                digest,
                several: true,
                ..
            } => Some(format!("{platform}: Pulling {}", short(digest))),
            Event::Manifest { .. } | Event::Downloading { .. } => None,
            Event::Exists { layer, .. } => Some(format!("{}: Already exists", short(layer))),
            Event::Complete { layer, .. } => Some(format!("{}: Pull complete", short(layer))),
        }
    }
}

/// Read a whole manifest or config body, refusing more than 4 MiB (an endless body is cut
/// there, so memory stays bounded).
fn read_limited(response: crate::client::Response, what: &str) -> Result<Vec<u8>> {
    if let Some(len) = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > MAX_METADATA_BYTES
    {
        return Err(Error::TooLarge {
            what: what.to_owned(),
            limit: MAX_METADATA_BYTES,
        });
    }
    let mut bytes = Vec::new();
    crate::client::Paced::whole(response.into_body().into_reader())
        .take(MAX_METADATA_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Error::Transport {
            url: what.to_owned(),
            message: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_METADATA_BYTES {
        return Err(Error::TooLarge {
            what: what.to_owned(),
            limit: MAX_METADATA_BYTES,
        });
    }
    Ok(bytes)
}

/// `GET /v2/REPO/manifests/REF`: the bytes and their media type, checked against the digest
/// when `reference` is one.
pub fn get_manifest(
    client: &Client,
    repository: &str,
    reference: &str,
    scope: &str,
    what: &str,
) -> Result<(Vec<u8>, String)> {
    let response = client.send(
        "GET",
        &format!("/v2/{repository}/manifests/{reference}"),
        &[("Accept", ACCEPT)],
        Body::Empty,
        scope,
        what,
    )?;
    let response = client.check(response, &[200], what)?;
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_owned();
    let bytes = read_limited(response, what)?;
    if let Ok(expected) = reference.parse::<Digest>() {
        let actual = Digest::of(&bytes);
        if actual != expected {
            return Err(Error::Mismatch {
                what: what.to_owned(),
                reason: format!("its bytes hash to {actual}, not {expected}"),
            });
        }
    }
    Ok((bytes, media_type))
}

fn is_index(bytes: &[u8], media_type: &str) -> bool {
    media_type == media::INDEX
        || media_type == media::DOCKER_LIST
        || serde_json::from_slice::<serde_json::Value>(bytes)
            .is_ok_and(|v| v.get("manifests").is_some() && v.get("layers").is_none())
}

/// The manifest of `index` for `platform`: same OS and architecture, and the variant when one
/// is asked for.
fn pick(index: &ImageIndex, platform: &Platform) -> Option<(Digest, u64)> {
    index
        .manifests()
        .iter()
        .find(|d| {
            d.platform().as_ref().is_some_and(|p| {
                p.os().to_string() == platform.os
                    && p.architecture().to_string() == platform.architecture
                    && platform
                        .variant
                        .as_ref()
                        .is_none_or(|v| p.variant().as_deref() == Some(v.as_str()))
            })
        })
        .and_then(|d| Some((d.digest().as_ref().parse().ok()?, d.size())))
}

/// `OS/ARCH` of an index entry, as the registry wrote it but safe to print (no terminal
/// escapes, at most 100 characters).
fn platform_name(p: &oci_spec::image::Platform) -> String {
    let name = format!("{}/{}", p.os(), p.architecture());
    let mut out = crate::printable(&name);
    if out.chars().count() > 100 {
        out = out.chars().take(100).chain(['…']).collect();
    }
    out
}

/// The platforms an index offers, for an error: each once, at most 20 (an index can list
/// thousands), safe to print.
fn available(index: &ImageIndex) -> String {
    const SHOWN: usize = 20;
    let mut names: Vec<String> = Vec::new();
    let mut more = 0;
    for p in index
        .manifests()
        .iter()
        .filter_map(|m| m.platform().as_ref())
    {
        let name = platform_name(p);
        if names.contains(&name) {
            continue;
        }
        if names.len() < SHOWN {
            names.push(name);
        } else {
            more += 1;
        }
    }
    let mut text = names.join(", ");
    if more > 0 {
        text.push_str(&format!(" and {more} more entries"));
    }
    text
}

/// The manifest a pull of `top` (served with the media type `media_type`) goes on to fetch
/// for `platform`, with its size: `None` when `top` is a manifest itself. An index without the
/// platform is an error that lists (some of) what it has.
pub fn choose(
    name: &str,
    top: &[u8],
    media_type: &str,
    platform: &Platform,
) -> Result<Option<(Digest, u64)>> {
    if !is_index(top, media_type) {
        return Ok(None);
    }
    let index = ImageIndex::from_reader(top).map_err(|e| Error::BadManifest {
        what: format!("manifest of {name}"),
        reason: e.to_string(),
    })?;
    let (d, size) = pick(&index, platform).ok_or_else(|| Error::NoPlatform {
        name: name.to_owned(),
        platform: platform.to_string(),
        available: available(&index),
    })?;
    Ok(Some((d, size)))
}

/// What a pull fetches for the image manifest `manifest_bytes`: the manifest, its config
/// (digest and size) and its layers (digest and size, in order). Refuses, before anything is
/// fetched, a manifest that does not parse, names a digest that is not sha256, describes an
/// artifact or layers duckc cannot unpack, declares an impossible size or a config over the
/// metadata cap.
pub fn plan(name: &str, manifest_bytes: &[u8]) -> Result<Plan> {
    let manifest = ImageManifest::from_reader(manifest_bytes).map_err(|e| Error::BadManifest {
        what: format!("manifest of {name}"),
        reason: e.to_string(),
    })?;
    let parse = |d: &str| -> Result<Digest> {
        d.parse().map_err(|_| Error::BadManifest {
            what: format!("manifest of {name}"),
            reason: format!("unsupported digest `{}`", crate::printable(d)),
        })
    };
    if let Some(reason) = duckc_image::unsupported_content(&manifest) {
        return Err(Error::BadManifest {
            what: format!("manifest of {name}"),
            reason,
        });
    }
    let config_digest = parse(manifest.config().digest().as_ref())?;
    let config_size = manifest.config().size();
    if config_size > MAX_METADATA_BYTES {
        return Err(Error::TooLarge {
            what: format!("config of {name}"),
            limit: MAX_METADATA_BYTES,
        });
    }
    let layers = manifest
        .layers()
        .iter()
        .map(|l| Ok((parse(l.digest().as_ref())?, l.size())))
        .collect::<Result<Vec<_>>>()?;
    Ok(Plan {
        manifest,
        config: (config_digest, config_size),
        layers,
    })
}

/// What [`plan`] found in a manifest.
#[derive(Debug)]
pub struct Plan {
    /// The manifest.
    pub manifest: ImageManifest,
    /// Its config: digest and size.
    pub config: (Digest, u64),
    /// Its layers: digest and size, bottom first.
    pub layers: Vec<(Digest, u64)>,
}

/// How many times one blob download is resumed with `Range` after a cut.
const RESUMES: u32 = 3;

/// A blob body that, when the connection breaks, asks again for the rest (`Range: bytes=N-`)
/// and carries on: the bytes still all go through the one hash. A server that answers the
/// range with the whole body (200) cannot resume, and the error stands.
struct Resuming<'a> {
    client: &'a Client,
    path: String,
    scope: &'a str,
    what: &'a str,
    inner: Box<dyn Read + 'a>,
    offset: u64,
    resumes: u32,
}

impl Read for Resuming<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Ok(n) => {
                    self.offset += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.resumes >= RESUMES {
                        return Err(e);
                    }
                    self.resumes += 1;
                    let range = format!("bytes={}-", self.offset);
                    let response = self
                        .client
                        .send(
                            "GET",
                            &self.path,
                            &[("Range", &range)],
                            Body::Empty,
                            self.scope,
                            self.what,
                        )
                        .map_err(|_| e)?;
                    if response.status().as_u16() != 206 {
                        return Err(std::io::Error::other(format!(
                            "the download broke at byte {} and the registry cannot resume it",
                            self.offset
                        )));
                    }
                    self.inner = Box::new(response.into_body().into_reader());
                }
            }
        }
    }
}

/// Download the blob `digest` of `size` bytes into the store, checking both as it streams.
pub fn fetch_blob(
    client: &Client,
    store: &Store,
    repository: &str,
    (digest, size): (&Digest, u64),
    scope: &str,
    what: &str,
) -> Result<()> {
    let response = client.send(
        "GET",
        &format!("/v2/{repository}/blobs/{digest}"),
        &[],
        Body::Empty,
        scope,
        what,
    )?;
    let response = client.check(response, &[200], what)?;
    let mut reader = Resuming {
        client,
        path: format!("/v2/{repository}/blobs/{digest}"),
        scope,
        what,
        inner: Box::new(response.into_body().into_reader()),
        offset: 0,
        resumes: 0,
    };
    // One byte past the declared size is enough to see that the body is too long.
    let mut reader = crate::client::Paced::streaming(&mut reader).take(size.saturating_add(1));
    store
        .put_blob_from(&mut reader, Some((digest, size)))
        .map_err(|e| blob_error(store, what, e))?;
    Ok(())
}

/// Fetch the config and layers of the manifest `manifest_bytes` into the store (`jobs`
/// layers at a time, each checked while it streams), returning the config digest and the
/// layers. The manifest itself is not stored here: the caller stores it last.
#[allow(clippy::too_many_arguments)]
fn fetch_content(
    client: &Client,
    store: &Store,
    repo: &str,
    scope: &str,
    name: &str,
    manifest_bytes: &[u8],
    (platform, several): (&str, bool),
    jobs: usize,
    downloaded: &AtomicUsize,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<(Digest, Vec<(Digest, u64)>)> {
    let Plan {
        manifest: _,
        config: (config_digest, config_size),
        layers,
    } = plan(name, manifest_bytes)?;

    // Refuse before a byte is written when the blobs the store lacks cannot fit (the
    // manifest, stored last, counted too). Their declared sizes are trusted only this far:
    // each blob is still cut at its size while it streams, and a disk that fills anyway is
    // the same error (`fetch_blob`, `fetch_layer`).
    let mut lacking: Vec<&Digest> = Vec::new();
    let mut sizes = vec![manifest_bytes.len() as u64];
    for (d, size) in std::iter::once(&(config_digest, config_size)).chain(&layers) {
        if !lacking.contains(&d) && !store.has_blob(d) {
            lacking.push(d);
            sizes.push(*size);
        }
    }
    store.ensure_space(&format!("`{name}`"), sizes)?;

    progress(Event::Manifest {
        platform,
        digest: &Digest::of(manifest_bytes),
        layers: &layers,
        several,
    });

    let config_what = format!("config {} of {name}", short(&config_digest));
    if !store.has_blob(&config_digest) {
        fetch_blob(
            client,
            store,
            repo,
            (&config_digest, config_size),
            scope,
            &config_what,
        )?;
    }

    // Largest first when several go at once: the biggest one is the longest piece of work;
    // started last (examples/python's 43 MB layer is 49th of 79) it alone ran on after
    // everything else was done. One at a time, the manifest's order (the total is the same).
    let mut order: Vec<usize> = (0..layers.len()).collect();
    if jobs > 1 {
        order.sort_by_key(|&i| std::cmp::Reverse(layers[i].1));
    }
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.clamp(1, 16).min(layers.len().max(1)) {
            s.spawn(|| {
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return;
                    }
                    let Some(&i) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    let (d, size) = &layers[i];
                    if store.has_blob(d) {
                        progress(Event::Exists {
                            platform,
                            layer: d,
                            size: *size,
                        });
                        continue;
                    }
                    let what = format!("layer {} of {name}", short(d));
                    let fetched =
                        fetch_layer(client, store, repo, (d, *size), scope, &what, &|done| {
                            progress(Event::Downloading {
                                platform,
                                layer: d,
                                done,
                                size: *size,
                            })
                        });
                    match fetched {
                        Ok(()) => {
                            downloaded.fetch_add(1, Ordering::Relaxed);
                            progress(Event::Complete {
                                platform,
                                layer: d,
                                size: *size,
                            });
                        }
                        Err(e) => {
                            // A layer the registry lacks or serves wrong is that layer's
                            // problem: the others are still fetched and kept, so a rerun asks
                            // only for what is missing (however the threads were scheduled).
                            // Anything else (the connection, auth, the registry's health)
                            // would fail every layer: stop taking new ones.
                            let layer_only =
                                matches!(e, Error::NotFound { .. } | Error::Mismatch { .. });
                            first_error.lock().expect("error lock").get_or_insert(e);
                            if !layer_only {
                                failed.store(true, Ordering::Relaxed);
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    // One fsync of the blob directory for every layer renamed into it: the manifest that
    // names the layers is stored after this, so nothing refers to a name a crash could still
    // take back. Done after a failure too, so a rerun finds the layers that were complete.
    // No layer is recorded under its diff_id here: that waits for the first unpack, which
    // checks it (`Store::snapshot_layer`).
    let synced = store.sync_blobs();
    duckc_store::crash_point("pull-blobs-synced");
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    synced?;
    Ok((config_digest, layers))
}

/// Bytes read from the response at a time.
const CHUNK: usize = 256 << 10;
/// A [`Event::Downloading`] at most every this many bytes.
const PROGRESS_STEP: u64 = 1 << 20;

/// Download the layer blob `digest` of `size` bytes into the store in one pass: the bytes
/// are hashed and written as they arrive, and the blob is stored under its digest only when
/// digest and size match. Its diff_id is not checked here (inflating and hashing every layer
/// was most of a pull's CPU): the layer's first unpack does it, in the same pass as it
/// extracts, and records the layer only then ([`duckc_store::Store::snapshot_layer`]). The
/// blob's name is not fsynced here ([`duckc_store::Durability::Batched`]): the caller syncs
/// the blob directory once. `progress` gets the bytes received so far.
fn fetch_layer(
    client: &Client,
    store: &Store,
    repo: &str,
    (digest, size): (&Digest, u64),
    scope: &str,
    what: &str,
    progress: &dyn Fn(u64),
) -> Result<()> {
    let path = format!("/v2/{repo}/blobs/{digest}");
    let response = client.send("GET", &path, &[], Body::Empty, scope, what)?;
    let response = client.check(response, &[200], what)?;
    let mut reader = Resuming {
        client,
        path: path.clone(),
        scope,
        what,
        inner: Box::new(response.into_body().into_reader()),
        offset: 0,
        resumes: 0,
    };
    // One byte past the declared size is enough to see that the body is too long.
    let mut body = crate::client::Paced::streaming(&mut reader).take(size.saturating_add(1));
    let blob_err = |e: duckc_store::Error| blob_error(store, what, e);
    let mut blob = store.blob_writer().map_err(blob_err)?;
    // Whole chunks: the response hands out a few KiB per read.
    let mut chunk = Vec::with_capacity(CHUNK);
    let (mut done, mut shown) = (0u64, 0u64);
    progress(0);
    loop {
        chunk.clear();
        let n = (&mut body)
            .take(CHUNK as u64)
            .read_to_end(&mut chunk)
            .map_err(|e| Error::Transport {
                url: client.url(&path),
                message: format!("{what}: {e}"),
            })?;
        if n == 0 {
            break;
        }
        blob.write_all(&chunk).map_err(|e| {
            blob_err(duckc_store::Error::Io {
                path: store.blob_path(digest),
                source: e,
            })
        })?;
        done += n as u64;
        if done - shown >= PROGRESS_STEP || done >= size {
            progress(done.min(size));
            shown = done;
        }
    }
    blob.commit_with(Some((digest, size)), duckc_store::Durability::Batched)
        .map_err(blob_err)?;
    Ok(())
}

/// A blob that could not be stored: [`Error::Blob`], or the store's `NoSpace` naming `what`
/// when the disk filled (the partial file is already gone).
fn blob_error(store: &Store, what: &str, e: duckc_store::Error) -> Error {
    if e.is_no_space() {
        return Error::Store(Box::new(store.no_space_as(e, what)));
    }
    Error::Blob {
        what: what.to_owned(),
        source: Box::new(e),
    }
}

/// `--all-platforms`: every platform's manifest of the index `top` (entries without a
/// platform, or for `unknown/unknown` such as BuildKit's attestations, are left out), its
/// config and layers, then the index; the image (this host's platform, else the first) and
/// the layers downloaded.
fn pull_all(
    client: &Client,
    store: &Store,
    reference: &Reference,
    scope: &str,
    top: &[u8],
    pull_opts: &PullOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<(Image, usize)> {
    let name = reference.to_string();
    let repo = &reference.repository;
    let index = ImageIndex::from_reader(top).map_err(|e| Error::BadManifest {
        what: format!("manifest of {name}"),
        reason: e.to_string(),
    })?;
    let downloaded = AtomicUsize::new(0);
    let mut kept = 0;
    for m in index.manifests() {
        let Some(p) = duckc_image::image_platform(m) else {
            continue;
        };
        let platform = platform_name(p);
        let what = format!("{platform} manifest of {name}");
        let d: Digest = m
            .digest()
            .as_ref()
            .parse()
            .map_err(|_| Error::BadManifest {
                what: what.clone(),
                reason: format!(
                    "unsupported digest `{}`",
                    crate::printable(m.digest().as_ref())
                ),
            })?;
        let (bytes, media_type) = get_manifest(client, repo, &d.to_string(), scope, &what)?;
        if bytes.len() as u64 != m.size() {
            return Err(Error::Mismatch {
                what,
                reason: format!("{} bytes, the index says {}", bytes.len(), m.size()),
            });
        }
        if is_index(&bytes, &media_type) {
            return Err(Error::BadManifest {
                what,
                reason: "an index inside an index".into(),
            });
        }
        let (config, layers) = fetch_content(
            client,
            store,
            repo,
            scope,
            &name,
            &bytes,
            (&platform, true),
            pull_opts.jobs,
            &downloaded,
            progress,
        )?;
        store.put_blob(&bytes)?;
        for (l, _) in &layers {
            sources::remember(store, l, &reference.registry, repo);
        }
        sources::remember(store, &config, &reference.registry, repo);
        kept += 1;
    }
    if kept == 0 {
        return Err(Error::BadManifest {
            what: format!("manifest of {name}"),
            reason: "its index lists no platform".into(),
        });
    }
    let digest = store.put_blob(top)?;
    Ok((Image::read(store, &digest)?, downloaded.into_inner()))
}

/// Pull `reference` into `store` and tag it with its local name. `progress` gets each
/// [`Event`] as it happens ([`Event::line`] gives Docker's lines).
pub fn pull(
    store: &Store,
    reference: &Reference,
    opts: &Options,
    pull_opts: &PullOptions,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Pulled> {
    let _lease = store.lease()?;
    let client = Client::connect(&reference.registry, opts)?;
    let repo = &reference.repository;
    let scope = format!("repository:{repo}:pull");
    let name = reference.to_string();
    let what = format!("manifest of {name}");
    let (top, top_type) = get_manifest(&client, repo, &reference.reference(), &scope, &what)?;
    let top_digest = Digest::of(&top);
    let platform = pull_opts.platform.clone().unwrap_or_else(Platform::host);
    if pull_opts.all_platforms && is_index(&top, &top_type) {
        let image = pull_all(&client, store, reference, &scope, &top, pull_opts, progress)?;
        return finish(store, reference, image.0, top_digest, image.1);
    }

    let (manifest_bytes, manifest_digest, index_bytes) =
        if let Some((d, size)) = choose(&name, &top, &top_type, &platform)? {
            let what = format!("{platform} manifest of {name}");
            let (bytes, _) = get_manifest(&client, repo, &d.to_string(), &scope, &what)?;
            if bytes.len() as u64 != size {
                return Err(Error::Mismatch {
                    what,
                    reason: format!("{} bytes, the index says {size}", bytes.len()),
                });
            }
            (bytes, d, Some(top.clone()))
        } else {
            (top.clone(), top_digest, None)
        };

    let downloaded = AtomicUsize::new(0);
    let (config_digest, layers) = fetch_content(
        &client,
        store,
        repo,
        &scope,
        &name,
        &manifest_bytes,
        (&platform.to_string(), false),
        pull_opts.jobs,
        &downloaded,
        progress,
    )?;
    // The manifest (and the index) go in last: an image is never visible half-downloaded.
    store.put_blob(&manifest_bytes)?;
    let host_platform = platform == Platform::host();
    let record = match &index_bytes {
        Some(bytes) if host_platform => store.put_blob(bytes)?,
        _ => manifest_digest,
    };
    let image = Image::read_for(store, &record, &platform.architecture)?;
    for (d, _) in &layers {
        sources::remember(store, d, &reference.registry, repo);
    }
    sources::remember(store, &config_digest, &reference.registry, repo);

    finish(store, reference, image, top_digest, downloaded.into_inner())
}

/// Record where `image` came from and tag it (or record it, for a pull by digest).
fn finish(
    store: &Store,
    reference: &Reference,
    image: Image,
    top_digest: Digest,
    downloaded: usize,
) -> Result<Pulled> {
    crate::origin::remember(
        store,
        &image.digest,
        crate::origin::Origin {
            action: "pull".into(),
            registry: reference.registry.clone(),
            repository: reference.repository.clone(),
            tag: reference.tag.clone(),
            digest: top_digest,
            local: Some(crate::origin::local_repository(&reference.local_name).to_owned()),
        },
    );
    let refs = store.refs()?;
    let up_to_date = reference.tag.is_some()
        && duckc_image::stored_tag(&refs, &reference.local_name)
            .is_some_and(|t| refs.tags.get(&t) == Some(&image.digest));
    if reference.tag.is_some() {
        if !up_to_date {
            duckc_image::tag(store, &image, &reference.local_name)?;
        }
    } else {
        duckc_image::manifest::record(store, &image)?;
    }
    Ok(Pulled {
        image,
        digest: top_digest,
        up_to_date,
        downloaded,
    })
}
