//! Attaching an artifact (an SBOM) to a pushed image, as the OCI distribution spec v1.1 says:
//! an artifact manifest whose `subject` is the image's manifest, pushed by digest. A registry
//! with the referrers API answers with an `OCI-Subject` header and lists it under
//! `/v2/REPO/referrers/DIGEST`; for one without it (Docker's registry 2.8), the client keeps
//! the list itself, as an image index under the tag `sha256-HEX` of the subject (the spec's
//! tag-schema fallback), which it reads, extends and pushes again.

use duckc_image::media;
use duckc_layer::Compression;
use duckc_store::{Digest, Store};
use serde_json::{Value, json};

use crate::client::{Body, Client, Options};
use crate::name::Reference;
use crate::pull::get_manifest;
use crate::push::Pusher;
use crate::{Error, Result};

/// The OCI empty descriptor's media type (the config of an artifact without one).
pub const EMPTY_MEDIA_TYPE: &str = "application/vnd.oci.empty.v1+json";

/// What an artifact is attached to: a manifest in the registry.
#[derive(Debug, Clone)]
pub struct Subject {
    pub digest: Digest,
    pub size: u64,
    pub media_type: String,
}

/// What an attach did.
#[derive(Debug, Clone)]
pub struct Attached {
    /// The artifact manifest's digest.
    pub digest: Digest,
    /// `None` when the registry indexes referrers itself; else the fallback tag written.
    pub fallback_tag: Option<String>,
}

/// The tag-schema fallback tag of `subject`: `sha256-HEX`.
pub fn fallback_tag(subject: &Digest) -> String {
    format!("sha256-{}", subject.hex())
}

/// Push `bytes` (of `media_type`) as an artifact of `artifact_type` whose subject is
/// `subject`, in `reference`'s repository.
#[allow(clippy::too_many_arguments)]
pub fn attach(
    store: &Store,
    reference: &Reference,
    subject: &Subject,
    artifact_type: &str,
    media_type: &str,
    bytes: &[u8],
    opts: &Options,
    progress: &(dyn Fn(String) + Sync),
) -> Result<Attached> {
    let _lease = store.lease()?;
    let client = Client::connect(&reference.registry, opts)?;
    let repo = reference.repository.clone();
    let scope = format!("repository:{repo}:pull,push");
    let pusher = Pusher {
        store,
        client,
        repo: repo.clone(),
        scope: scope.clone(),
        name: reference.to_string(),
        uploaded: std::sync::atomic::AtomicUsize::new(0),
        progress,
        compression: Compression::Gzip,
        // Its manifest is put without the recovery `Pusher::manifest` has: ask about
        // every blob.
        trust_sources: std::sync::atomic::AtomicBool::new(false),
        trusted: std::sync::Mutex::new(Vec::new()),
    };
    let blob = store.put_blob(bytes)?;
    pusher.blob(&blob, bytes.len() as u64, false)?;
    let empty = store.put_blob(b"{}")?;
    pusher.blob(&empty, 2, false)?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": media::MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": empty.to_string(), "size": 2, "data": "e30="},
        "layers": [{"mediaType": media_type, "digest": blob.to_string(), "size": bytes.len()}],
        "subject": {
            "mediaType": subject.media_type,
            "digest": subject.digest.to_string(),
            "size": subject.size,
        },
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest serialises");
    let digest = Digest::of(&manifest_bytes);
    let client = &pusher.client;
    let what = format!("{artifact_type} of {reference}");
    let response = client.send(
        "PUT",
        &format!("/v2/{repo}/manifests/{digest}"),
        &[("Content-Type", media::MANIFEST)],
        Body::Bytes(&manifest_bytes),
        &scope,
        &what,
    )?;
    let response = client.check(response, &[200, 201, 202], &what)?;
    if response.headers().get("oci-subject").is_some() {
        return Ok(Attached {
            digest,
            fallback_tag: None,
        });
    }
    // No referrers API: the index under `sha256-HEX`, read (if any), extended, pushed.
    let tag = fallback_tag(&subject.digest);
    let descriptor = json!({
        "mediaType": media::MANIFEST,
        "digest": digest.to_string(),
        "size": manifest_bytes.len(),
        "artifactType": artifact_type,
    });
    let mut index = match get_manifest(client, &repo, &tag, &scope, &what) {
        Ok((bytes, _)) => serde_json::from_slice::<Value>(&bytes)
            .ok()
            .filter(|v| v.get("manifests").is_some_and(Value::is_array))
            .ok_or_else(|| Error::BadManifest {
                what: format!("referrers index `{tag}` of {reference}"),
                reason: "it is not an image index".into(),
            })?,
        Err(Error::NotFound { .. }) => {
            json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": []})
        }
        Err(e) => return Err(e),
    };
    let list = index["manifests"].as_array_mut().expect("checked above");
    if !list.iter().any(|m| m["digest"] == descriptor["digest"]) {
        list.push(descriptor);
    }
    let index_bytes = serde_json::to_vec(&index).expect("index serialises");
    pusher.put_manifest(&index_bytes, media::INDEX, Some(&tag))?;
    Ok(Attached {
        digest,
        fallback_tag: Some(tag),
    })
}
