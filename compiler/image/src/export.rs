//! `save` and `export-layout`: images out of the store as an OCI archive, a docker archive
//! (an OCI archive plus docker's `manifest.json`, which `docker load` and `podman load` read),
//! or an OCI layout directory. Archive bytes are deterministic: sorted entries, fixed
//! owners, modes and times.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::path::Path;

use duckc_store::Store;

use crate::{Digest, Error, Image, Result, closure, io_err, media};

/// What `save` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ArchiveFormat {
    /// An OCI image layout in a tar.
    #[default]
    Oci,
    /// The same plus docker's `manifest.json`, so `docker load` reads it.
    Docker,
}

/// The digest to publish for `image`: its index when every blob of it is present, else its
/// manifest (an index with missing platforms would not be a valid layout).
fn top(store: &Store, image: &Image) -> (Digest, BTreeSet<Digest>) {
    if image.digest != image.manifest_digest {
        let mut all = BTreeSet::new();
        closure(store, &image.digest, &mut all);
        if all.iter().all(|d| store.has_blob(d)) {
            return (image.digest, all);
        }
    }
    let mut all = BTreeSet::new();
    closure(store, &image.manifest_digest, &mut all);
    (image.manifest_digest, all)
}

fn descriptor(
    store: &Store,
    digest: &Digest,
    image: &Image,
    name: Option<&str>,
) -> Result<serde_json::Value> {
    let media_type = if *digest == image.manifest_digest {
        media::MANIFEST
    } else {
        media::INDEX
    };
    let mut d = serde_json::json!({
        "mediaType": media_type,
        "digest": digest.to_string(),
        "size": store.blob_size(digest)?,
    });
    if let Some(n) = name {
        d["annotations"] = serde_json::json!({
            "org.opencontainers.image.ref.name": n,
            "io.containerd.image.name": n,
        });
    }
    if *digest == image.manifest_digest {
        d["platform"] = serde_json::json!({
            "architecture": image.config.architecture().to_string(),
            "os": image.config.os().to_string(),
        });
    }
    Ok(d)
}

/// Write `images` (each with the name it is saved under, if any) as an archive into `out`.
pub fn save(
    store: &Store,
    images: &[(Option<String>, Image)],
    out: impl Write,
    format: ArchiveFormat,
) -> Result<()> {
    let mut blobs = BTreeSet::new();
    let mut index = Vec::new();
    let mut docker = Vec::new();
    for (name, image) in images {
        let (digest, all) = top(store, image);
        blobs.extend(all);
        index.push(descriptor(store, &digest, image, name.as_deref())?);
        docker.push(serde_json::json!({
            "Config": format!("blobs/sha256/{}", image.config_digest.hex()),
            "RepoTags": name.iter().collect::<Vec<_>>(),
            "Layers": image.layers.iter().map(|l| format!("blobs/sha256/{}", l.digest.hex())).collect::<Vec<_>>(),
        }));
    }
    let index =
        serde_json::json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": index});
    let wrap = |e: io::Error| Error::Io {
        path: "the archive".into(),
        source: e,
    };
    let mut tar = tar::Builder::new(out);
    let add = |tar: &mut tar::Builder<_>,
               path: &str,
               size: u64,
               data: &mut dyn io::Read|
     -> io::Result<()> {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_size(size);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, data)
    };
    for dir in ["blobs/", "blobs/sha256/"] {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o755);
        h.set_mtime(0);
        h.set_size(0);
        h.set_entry_type(tar::EntryType::Directory);
        tar.append_data(&mut h, dir, io::empty()).map_err(wrap)?;
    }
    for d in &blobs {
        // A layer kept as its snapshot is written again here, checked at its end.
        let f = store.open_blob(d)?;
        let size = f.len();
        let mut hashing = duckc_layer::HashingReader::new(f);
        add(
            &mut tar,
            &format!("blobs/sha256/{}", d.hex()),
            size,
            &mut hashing,
        )
        .map_err(wrap)?;
        let (actual, _) = hashing.finish().map_err(wrap)?;
        if actual != *d {
            return Err(Error::Store(duckc_store::Error::DigestMismatch {
                what: format!("blob {d}"),
                expected: *d,
                actual,
            }));
        }
        duckc_store::crash_point("save-blob");
    }
    let index_bytes = serde_json::to_vec(&index).expect("index serialises");
    add(
        &mut tar,
        "index.json",
        index_bytes.len() as u64,
        &mut &index_bytes[..],
    )
    .map_err(wrap)?;
    if format == ArchiveFormat::Docker {
        let m = serde_json::to_vec(&docker).expect("manifest serialises");
        add(&mut tar, "manifest.json", m.len() as u64, &mut &m[..]).map_err(wrap)?;
    }
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    add(
        &mut tar,
        "oci-layout",
        layout.len() as u64,
        &mut &layout[..],
    )
    .map_err(wrap)?;
    let mut out = tar.into_inner().map_err(wrap)?;
    out.flush().map_err(wrap)
}

/// Write `image` into the OCI layout directory `dir` (created or extended), under `name`.
/// Nothing is written through a symlink: `dir`, `blobs` and `blobs/sha256` are opened without
/// following one (a link there is refused), and every file is written beside its name and
/// renamed over it (see [`crate::output`]).
pub fn export_layout(store: &Store, image: &Image, name: Option<&str>, dir: &Path) -> Result<()> {
    use crate::output;
    use std::ffi::OsStr;
    let root = output::open_dir(dir)?;
    let blobs = output::subdir(&root, &dir.join("blobs"), OsStr::new("blobs"))?;
    let blob_dir = dir.join("blobs/sha256");
    let sha = output::subdir(&blobs, &blob_dir, OsStr::new("sha256"))?;
    let (digest, all) = top(store, image);
    for d in &all {
        let hex = d.hex();
        let dest = blob_dir.join(&hex);
        if let Ok(size) = store.blob_size(d)
            && output::is_file_of_size(&sha, OsStr::new(&hex), size)
        {
            continue;
        }
        let dup = sha.try_clone().map_err(io_err(&blob_dir))?;
        let mut out = output::AtomicFile::create_in(dup, &dest, OsStr::new(&hex))?;
        let mut src = duckc_layer::HashingReader::new(store.open_blob(d)?);
        io::copy(&mut src, out.file()).map_err(io_err(&dest))?;
        let (actual, _) = src.finish().map_err(io_err(&dest))?;
        if actual != *d {
            return Err(Error::Store(duckc_store::Error::DigestMismatch {
                what: format!("blob {d}"),
                expected: *d,
                actual,
            }));
        }
        out.commit()?;
    }
    let index_path = dir.join("index.json");
    let existing = output::read_file(&root, &index_path, "index.json", crate::MAX_METADATA_BYTES)?;
    let mut index: serde_json::Value = match existing {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::BadArchive {
            path: index_path.display().to_string(),
            reason: e.to_string(),
        })?,
        None => {
            serde_json::json!({"schemaVersion": 2, "mediaType": media::INDEX, "manifests": []})
        }
    };
    let desc = descriptor(store, &digest, image, name)?;
    let ms = index["manifests"]
        .as_array_mut()
        .ok_or_else(|| Error::BadArchive {
            path: index_path.display().to_string(),
            reason: "`manifests` is not a list".into(),
        })?;
    if let Some(n) = name {
        ms.retain(|m| {
            m.pointer("/annotations/org.opencontainers.image.ref.name")
                .and_then(|v| v.as_str())
                != Some(n)
        });
    } else {
        ms.retain(|m| m.get("digest") != desc.get("digest"));
    }
    ms.push(desc);
    let write = |name: &str, bytes: &[u8]| -> Result<()> {
        let path = dir.join(name);
        let dup = root.try_clone().map_err(io_err(dir))?;
        let mut out = output::AtomicFile::create_in(dup, &path, OsStr::new(name))?;
        out.file().write_all(bytes).map_err(io_err(&path))?;
        out.commit()
    };
    write("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
    write(
        "index.json",
        &serde_json::to_vec(&index).expect("index serialises"),
    )?;
    Ok(())
}
