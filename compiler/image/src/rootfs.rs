//! Flatten an image into one directory: every layer extracted in order with its whiteouts
//! applied (what `umoci unpack` or `docker export` gives), checking every digest on the way.

use std::io::BufReader;
use std::path::Path;

use duckc_layer::{Expected, ExtractOptions, WhiteoutMode};
use duckc_store::{LayerRef, Store};

use crate::{Error, Image, Result};

/// Extract every layer of `image` into `dest` (which must exist), bottom first.
pub fn unpack_rootfs(store: &Store, image: &Image, dest: &Path) -> Result<()> {
    unpack_layers(store, &image.layers, dest)
}

/// Extract `layers` (bottom first) into `dest` (which must exist), applying whiteouts and
/// checking each blob's digest, size and diff_id.
pub fn unpack_layers(store: &Store, layers: &[LayerRef], dest: &Path) -> Result<()> {
    let opts = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ExtractOptions::default()
    };
    for layer in layers {
        let blob = store.open_blob(&layer.digest)?;
        let expected = Expected {
            digest: Some(layer.digest),
            size: Some(layer.size),
            diff_id: Some(layer.diff_id),
        };
        let stats = duckc_layer::unpack_layer(
            BufReader::with_capacity(1 << 20, blob),
            dest,
            &opts,
            &expected,
        )
        .map_err(|source| {
            Error::Store(duckc_store::Error::Extract {
                diff_id: layer.diff_id,
                source,
            })
        })?;
        // Read in full and found to give its diff_id: a pulled layer is checked now.
        store.record_checked(layer, stats.diff_size)?;
    }
    Ok(())
}
