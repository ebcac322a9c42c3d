//! Writing an image into the store: the manifest over a config and layer blobs, and the image's
//! entry in the refs. Shared by `commit`, `import`, loading docker archives and the build.

use duckc_store::{Digest, ImageEntry, Store};

use crate::{Image, Result, media, time};

/// One layer as a manifest lists it.
#[derive(Debug, Clone, Copy)]
pub struct ManifestLayer<'a> {
    pub media_type: &'a str,
    pub digest: &'a Digest,
    pub size: u64,
}

impl<'a> From<&'a duckc_store::LayerRef> for ManifestLayer<'a> {
    fn from(l: &'a duckc_store::LayerRef) -> Self {
        ManifestLayer {
            media_type: &l.media_type,
            digest: &l.digest,
            size: l.size,
        }
    }
}

/// Store an OCI image manifest over the config blob `config` (digest and size) and `layers`
/// (bottom first); return the image it describes. The image is not yet listed: see [`record`].
pub fn write_manifest<'a>(
    store: &Store,
    config: (&Digest, u64),
    layers: impl IntoIterator<Item = ManifestLayer<'a>>,
) -> Result<Image> {
    let layers: Vec<serde_json::Value> = layers
        .into_iter()
        .map(|l| serde_json::json!({"mediaType": l.media_type, "digest": l.digest.to_string(), "size": l.size}))
        .collect();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "config": {"mediaType": media::CONFIG, "digest": config.0.to_string(), "size": config.1},
        "layers": layers,
    });
    let digest = store.put_blob(&serde_json::to_vec(&manifest).expect("manifest serialises"))?;
    Image::read(store, &digest)
}

/// List `image` in the store's refs (untagged until someone tags it), keeping the time it was
/// first added.
pub fn record(store: &Store, image: &Image) -> Result<()> {
    store.update_refs(|refs| {
        refs.images.entry(image.digest).or_insert(ImageEntry {
            added: time::now().max(0) as u64,
        });
        Ok(())
    })?;
    Ok(())
}

/// Store an OCI image index over `images` (one per platform, each already in the store), as
/// a multi-platform build gives; return the image it describes (this host's platform, else
/// the first). The index is not yet listed: see [`record`].
pub fn write_index(store: &Store, images: &[Image]) -> Result<Image> {
    let manifests: Vec<serde_json::Value> = images
        .iter()
        .map(|image| {
            let mut platform = serde_json::json!({
                "architecture": image.config.architecture().to_string(),
                "os": image.config.os().to_string(),
            });
            if let Some(v) = image.config.variant() {
                platform["variant"] = serde_json::json!(v);
            }
            Ok(serde_json::json!({
                "mediaType": media::MANIFEST,
                "digest": image.manifest_digest.to_string(),
                "size": store.blob_size(&image.manifest_digest)?,
                "platform": platform,
            }))
        })
        .collect::<Result<_>>()?;
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": media::INDEX,
        "manifests": manifests,
    });
    let digest = store.put_blob(&serde_json::to_vec(&index).expect("index serialises"))?;
    Image::read(store, &digest)
}
