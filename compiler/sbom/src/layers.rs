//! Reading a few files out of an image without unpacking it: the layers' tars are read from
//! the top layer down, and the first (topmost) entry for a wanted path wins, unless a
//! whiteout in a layer above hides it (`.wh.NAME`, or `.wh..wh..opq` for a directory's
//! lower contents), as the OCI image spec merges layers. Nothing is written to disk.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use duckc_store::{LayerRef, Store};

use crate::{Error, Result};

/// A file found in the image: its bytes, or `None` when the topmost entry at that path is
/// not a regular file (a symlink, a directory) or is larger than the limit.
pub type Found = BTreeMap<String, Option<Vec<u8>>>;

/// `./a/b/` → `a/b`.
fn clean(path: &str) -> String {
    path.trim_start_matches("./")
        .trim_start_matches('/')
        .trim_end_matches('/')
        .to_owned()
}

/// Whether `path` is at or below `dir`.
fn under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path == dir
        || (path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/')
}

/// The files of the image made of `layers` (bottom first) whose path (relative, no leading
/// `/`) `want` accepts: it gives the most bytes to read of each (a larger file is `None`), so
/// memory stays bounded whatever the image holds.
pub fn read_files(
    store: &Store,
    layers: &[LayerRef],
    want: &dyn Fn(&str) -> Option<u64>,
) -> Result<Found> {
    let mut found = Found::new();
    // Paths hidden from the layers below by whiteouts of the layers above.
    let mut hidden: BTreeSet<String> = BTreeSet::new();
    // Directories whose lower contents an opaque whiteout hides.
    let mut opaque: BTreeSet<String> = BTreeSet::new();
    for layer in layers.iter().rev() {
        let what = || format!("layer {}", layer.diff_id);
        let blob = store.open_blob(&layer.digest).map_err(|e| Error::Layer {
            layer: what(),
            reason: e.to_string(),
        })?;
        let reader =
            duckc_layer::compress::decoder(std::io::BufReader::new(blob)).map_err(|e| {
                Error::Layer {
                    layer: what(),
                    reason: e.to_string(),
                }
            })?;
        let mut archive = tar::Archive::new(reader);
        let mut new_hidden = Vec::new();
        let mut new_opaque = Vec::new();
        let entries = archive.entries().map_err(|e| Error::Layer {
            layer: what(),
            reason: e.to_string(),
        })?;
        for entry in entries {
            let mut entry = entry.map_err(|e| Error::Layer {
                layer: what(),
                reason: e.to_string(),
            })?;
            let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
            let path = clean(&raw);
            let (dir, base) = path.rsplit_once('/').unwrap_or(("", &path));
            if base == ".wh..wh..opq" {
                new_opaque.push(dir.to_owned());
                continue;
            }
            if let Some(name) = base.strip_prefix(".wh.") {
                new_hidden.push(if dir.is_empty() {
                    name.to_owned()
                } else {
                    format!("{dir}/{name}")
                });
                continue;
            }
            if found.contains_key(&path)
                || hidden.iter().any(|h| under(&path, h))
                || opaque.iter().any(|d| under(&path, d) && path != *d)
            {
                continue;
            }
            let Some(max) = want(&path) else {
                continue;
            };
            let content = if entry.header().entry_type().is_file() && entry.size() <= max {
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes).map_err(|e| Error::Layer {
                    layer: what(),
                    reason: e.to_string(),
                })?;
                Some(bytes)
            } else {
                None
            };
            found.insert(path, content);
        }
        hidden.extend(new_hidden);
        opaque.extend(new_opaque);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::{clean, under};

    #[test]
    fn paths() {
        assert_eq!(clean("./var/lib/dpkg/status"), "var/lib/dpkg/status");
        assert_eq!(clean("/usr/share/doc/"), "usr/share/doc");
        assert!(under("usr/share/doc/a/copyright", "usr/share/doc/a"));
        assert!(under("usr/share/doc/a", "usr/share/doc/a"));
        assert!(!under("usr/share/doc/ab", "usr/share/doc/a"));
        assert!(under("anything", ""));
    }
}
