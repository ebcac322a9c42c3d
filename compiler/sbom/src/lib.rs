//! Software bills of materials of stored images (`duckc sbom`), from what duckc knows exactly:
//! the Debian packages of the image's dpkg database (`var/lib/dpkg/status`, read from the
//! layers without unpacking them) with their versions and licenses (the machine-readable
//! `usr/share/doc/PKG/copyright`), the `.deb` sha256 the lock pinned, the base image's
//! digest, and the files copied from the build context with their digests. Written as SPDX 2.3
//! JSON ([`spdx`]) or CycloneDX 1.5 JSON ([`cyclonedx`]).
//!
//! **Invariant:** the document depends only on the image and what its build recorded (its
//! time is the image's `created`, its ids derive from the image digest), so the same image
//! gives the same bytes.

pub mod cyclonedx;
pub mod debian;
pub mod layers;
pub mod spdx;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use duckc_image::Image;
use duckc_store::{Digest, LayerRef, Store};
use sha1::Digest as _;

/// Errors of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A layer that cannot be read.
    #[error("cannot read {layer} of the image: {reason}")]
    Layer { layer: String, reason: String },
}

/// Result of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// What the build of an image recorded, beyond the image itself.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// The base image: as the spec names it, and the manifest digest it resolved to.
    pub base: Option<(String, Digest)>,
    /// Layers written by `copy` from the build context, each with the context path of every
    /// file it holds, by path in the image (no leading `/`).
    pub copies: Vec<(LayerRef, BTreeMap<String, String>)>,
    /// The `.deb` sha256 the lock pins, by (name, version, architecture).
    pub debs: BTreeMap<(String, String, String), String>,
}

/// A Debian package installed in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub architecture: String,
    /// The source package, when it has another name.
    pub source: Option<String>,
    /// The sha256 (hex) of the `.deb` it was installed from, when the lock pins it.
    pub deb_sha256: Option<String>,
    /// What its copyright file declares (`None`: not machine-readable, or no file).
    pub license: Option<debian::License>,
}

/// A file copied from the build context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    /// Its path in the image (`/usr/local/bin/hello`).
    pub path: String,
    /// Its path in the build context.
    pub context: String,
    pub sha256: String,
    pub sha1: String,
    pub size: u64,
}

/// Everything an SBOM says about one image.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The name it was asked for by.
    pub name: String,
    /// The stored image's digest (its manifest, or index).
    pub digest: Digest,
    /// `created`, RFC 3339 (the epoch when the image has none).
    pub created: String,
    /// `linux/amd64`.
    pub platform: String,
    /// `ID` of the image's os-release (`debian`), for package URLs.
    pub distro: Option<String>,
    pub base: Option<(String, Digest)>,
    pub packages: Vec<Package>,
    pub files: Vec<File>,
}

const STATUS: &str = "var/lib/dpkg/status";

/// Whether `path` is `usr/share/doc/PKG/copyright`.
fn copyright_path(path: &str) -> Option<&str> {
    path.strip_prefix("usr/share/doc/")?
        .strip_suffix("/copyright")
        .filter(|p| !p.contains('/'))
}

/// The inventory of `image` (asked for as `name`), with what its build recorded.
pub fn inventory(store: &Store, image: &Image, name: &str, known: &Known) -> Result<Inventory> {
    // The status file of a big image is a few MB; copyright files are small, and there is one
    // per package.
    let want = |p: &str| match p {
        STATUS => Some(64 << 20),
        "etc/os-release" | "usr/lib/os-release" => Some(64 << 10),
        _ => copyright_path(p).map(|_| 1 << 20),
    };
    let found = layers::read_files(store, &image.layers, &want)?;
    let text = |p: &str| {
        found
            .get(p)
            .and_then(Option::as_ref)
            .map(|b| String::from_utf8_lossy(b).into_owned())
    };
    let distro = text("etc/os-release")
        .or_else(|| text("usr/lib/os-release"))
        .and_then(|t| {
            t.lines().find_map(|l| {
                l.strip_prefix("ID=")
                    .map(|v| v.trim_matches(['"', '\'']).to_owned())
            })
        })
        .filter(|d| !d.is_empty());
    let packages = text(STATUS)
        .map(|s| debian::installed(&s))
        .unwrap_or_default()
        .into_iter()
        .map(|p| {
            let license = text(&format!("usr/share/doc/{}/copyright", p.name))
                .and_then(|t| debian::license(&t));
            let deb_sha256 = known
                .debs
                .get(&(p.name.clone(), p.version.clone(), p.architecture.clone()))
                .cloned();
            Package {
                name: p.name,
                version: p.version,
                architecture: p.architecture,
                source: p.source.filter(|s| !s.is_empty()),
                deb_sha256,
                license,
            }
        })
        .collect();
    let mut files = Vec::new();
    for (layer, sources) in &known.copies {
        for (path, (sha256, sha1, size)) in hash_files(store, layer)? {
            if let Some(context) = sources.get(&path) {
                files.push(File {
                    path: format!("/{path}"),
                    context: context.clone(),
                    sha256,
                    sha1,
                    size,
                });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    Ok(Inventory {
        name: name.to_owned(),
        digest: image.digest,
        created: duckc_image::time::format_rfc3339(image.created().unwrap_or(0)),
        platform: format!("{}/{}", image.config.os(), image.config.architecture()),
        distro,
        base: known.base.clone(),
        packages,
        files,
    })
}

/// The sha256 and sha1 (hex) and size of every regular file of `layer`, by path.
fn hash_files(store: &Store, layer: &LayerRef) -> Result<BTreeMap<String, (String, String, u64)>> {
    let err = |e: &dyn std::fmt::Display| Error::Layer {
        layer: format!("layer {}", layer.diff_id),
        reason: e.to_string(),
    };
    let blob = store.open_blob(&layer.digest).map_err(|e| err(&e))?;
    let reader = duckc_layer::compress::decoder(io::BufReader::new(blob)).map_err(|e| err(&e))?;
    let mut archive = tar::Archive::new(reader);
    let mut out = BTreeMap::new();
    for entry in archive.entries().map_err(|e| err(&e))? {
        let mut entry = entry.map_err(|e| err(&e))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = String::from_utf8_lossy(&entry.path_bytes())
            .trim_start_matches("./")
            .trim_start_matches('/')
            .to_owned();
        let mut both = Both(sha2::Sha256::new(), sha1::Sha1::new());
        let size = io::copy(&mut (&mut entry).take(u64::MAX), &mut both).map_err(|e| err(&e))?;
        out.insert(
            path,
            (
                hex::encode(both.0.finalize()),
                hex::encode(both.1.finalize()),
                size,
            ),
        );
    }
    Ok(out)
}

/// Feeds the same bytes to two hashers.
struct Both(sha2::Sha256, sha1::Sha1);

impl Write for Both {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        self.1.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An id made of the characters SPDX and CycloneDX references allow (`[A-Za-z0-9.-]`).
pub(crate) fn id_part(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A package URL for a Debian package (`pkg:deb/debian/curl@7.88.1-10?arch=amd64`).
pub(crate) fn deb_purl(inv: &Inventory, p: &Package) -> String {
    format!(
        "pkg:deb/{}/{}@{}?arch={}",
        inv.distro.as_deref().unwrap_or("debian"),
        p.name,
        percent(&p.version),
        p.architecture
    )
}

/// A package URL for an OCI image (`pkg:oci/busybox@sha256%3A…`).
pub(crate) fn oci_purl(name: &str, digest: &Digest) -> String {
    let base = name.split(['@']).next().unwrap_or(name);
    let base = base.rsplit('/').next().unwrap_or(base);
    let base = match base.rsplit_once(':') {
        Some((b, _)) => b,
        None => base,
    };
    format!(
        "pkg:oci/{}@{}",
        base.to_ascii_lowercase(),
        percent(&digest.to_string())
    )
}

/// Percent-encoding of what is not unreserved in a URL.
fn percent(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(copyright_path("usr/share/doc/gawk/copyright"), Some("gawk"));
        assert_eq!(copyright_path("usr/share/doc/a/b/copyright"), None);
        assert_eq!(id_part("duck_tool:amd64"), "duck-tool-amd64");
        let d: Digest = format!("sha256:{}", "0".repeat(64)).parse().unwrap();
        assert_eq!(
            oci_purl("127.0.0.1:5000/library/busybox:1", &d),
            format!("pkg:oci/busybox@sha256%3A{}", "0".repeat(64))
        );
        assert_eq!(percent("1:2.3+dfsg"), "1%3A2.3%2Bdfsg");
    }
}
