//! Fuzzes the image metadata parsers a pull and a load go through: libFuzzer's bytes choose an
//! index, a manifest and a config from the hostile vocabulary of
//! `compiler/registry/src/metadata_gen.rs` (digests that are paths or other algorithms, sizes
//! out of range, artifact and encrypted types, escapes in platforms, `urls`, nested indexes,
//! thousands of entries, then bytes cut or changed). They go through the pull's `choose` and
//! `plan` as a registry would serve them, and through `Image::read`, `closure` and `load` as a
//! store or an OCI layout holds them. Nothing may panic, and no registry error may carry a
//! terminal escape. Run with `cargo +nightly fuzz run manifest_parser` in `fuzz/`.
#![no_main]

use duckc_registry::pull::{Platform, choose, plan};
use duckc_store::{Digest, Store};
use libfuzzer_sys::fuzz_target;

mod metadata_gen {
    include!("../../compiler/registry/src/metadata_gen.rs");
}
use metadata_gen::{Choices, hostile_metadata, link, write_layout};

fn printable(text: &str) {
    assert!(!text.contains('\x1b') && !text.contains('\x07'), "{text:?}");
}

fuzz_target!(|data: &[u8]| {
    let m = hostile_metadata(&mut Choices::new(data));
    let [config, manifest, index, layer] = link(&m);

    let name = "127.0.0.1:5000/hostile/image:v1";
    let host = Platform::host();
    for (doc, media_type) in [(&index, m.index_type), (&manifest, m.manifest_type)] {
        match choose(name, doc, media_type, &host) {
            Ok(_) => {}
            Err(e) => printable(&e.to_string()),
        }
    }
    if let Err(e) = plan(name, &manifest) {
        printable(&e.to_string());
    }

    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(&tmp.path().join("store")).unwrap();
    for blob in [&config, &manifest, &index, &layer] {
        store.put_blob(blob).unwrap();
    }
    for d in [Digest::of(&index), Digest::of(&manifest)] {
        if let Ok(image) = duckc_image::Image::read(&store, &d) {
            let _ = image.size(&store);
        }
        let mut all = std::collections::BTreeSet::new();
        duckc_image::closure(&store, &d, &mut all);
    }
    let layout = tmp.path().join("layout");
    write_layout(&layout, &index, &[&config, &manifest, &layer]);
    let fresh = Store::open(&tmp.path().join("fresh")).unwrap();
    let _ = duckc_image::load(&fresh, &layout);
});
