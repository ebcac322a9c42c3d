//! Random hostile image metadata through every parser a pull and a load use (SECURITY 30):
//! indexes, manifests and configs from `metadata_gen.rs` (the fuzz target
//! `fuzz/fuzz_targets/manifest_parser.rs` draws from the same generator) go through
//! [`crate::pull::choose`] and [`crate::pull::plan`] as a registry would serve them, and
//! through `Image::read`, `closure` and `load` as a store or an OCI layout would hold them.
//! Nothing may panic, no error may carry a terminal escape, and memory stays bounded.

use std::path::Path;

use duckc_store::{Digest, Store};

use crate::metadata_gen::{Choices, Metadata, hostile_metadata, link, write_layout};
use crate::pull::{Platform, choose, plan};

#[track_caller]
fn printable(what: &str, text: &str) {
    assert!(
        !text.contains('\x1b') && !text.contains('\x07') && !text.contains('\0'),
        "{what}: {text:?}"
    );
}

/// One set of documents through the pull's parsers and the store's readers: whether the pull
/// would fetch the image, and whether the layout loaded.
pub(crate) fn exercise(m: &Metadata, dir: &Path) -> (bool, bool) {
    let mut planned = false;
    let [config, manifest, index, layer] = link(m);
    let name = "127.0.0.1:5000/hostile/image:v1";
    let host = Platform::host();
    match choose(name, &index, m.index_type, &host) {
        Ok(Some((d, _))) if d == Digest::of(&manifest) => match plan(name, &manifest) {
            Ok(_) => planned = true,
            Err(e) => printable("plan", &e.to_string()),
        },
        Ok(_) => {}
        Err(e) => printable("choose", &e.to_string()),
    }
    if let Err(e) = choose(name, &manifest, m.manifest_type, &host) {
        printable("choose", &e.to_string());
    }
    match plan(name, &manifest) {
        Ok(_) => planned = true,
        Err(e) => printable("plan", &e.to_string()),
    }

    // The same documents in a store, and as an OCI layout to load.
    let store = Store::open(&dir.join("store")).unwrap();
    for blob in [&config, &manifest, &index, &layer] {
        store.put_blob(blob).unwrap();
    }
    for d in [Digest::of(&index), Digest::of(&manifest)] {
        if let Ok(image) = duckc_image::Image::read(&store, &d) {
            let _ = image.size(&store);
            let _ = duckc_image::unsupported_content(&image.manifest);
        }
        let _ = duckc_image::Image::read_for(&store, &d, "arm64");
        let mut all = std::collections::BTreeSet::new();
        duckc_image::closure(&store, &d, &mut all);
    }
    let layout = dir.join("layout");
    write_layout(&layout, &index, &[&config, &manifest, &layer]);
    let fresh = Store::open(&dir.join("fresh")).unwrap();
    (planned, duckc_image::load(&fresh, &layout).is_ok())
}

/// Peak resident memory of this process, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn random_hostile_metadata_is_refused_or_read() {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    // On tmpfs when there is one: the store fsyncs every blob, and 400 stores on a disk take
    // a minute.
    let shm = Path::new("/dev/shm");
    let (mut planned, mut loaded) = (0, 0);
    for _ in 0..400 {
        let bytes: Vec<u8> = (0..128).map(|_| next()).collect();
        let m = hostile_metadata(&mut Choices::new(&bytes));
        let dir = if shm.is_dir() {
            tempfile::tempdir_in(shm).unwrap()
        } else {
            tempfile::tempdir().unwrap()
        };
        let (p, l) = exercise(&m, dir.path());
        planned += usize::from(p);
        loaded += usize::from(l);
    }
    // The documents reach past the first checks: some are whole images.
    assert!(
        planned > 5 && loaded > 5,
        "{planned} planned, {loaded} loaded"
    );
    // A manifest is capped at 4 MiB and nothing here holds more than a few of them.
    let peak = peak_kib();
    assert!(peak < 1 << 20, "peak memory {peak} KiB");
}

/// Documents nested a million deep (`[[[[…`, `{"a":{"a":…`) as the index, the manifest and the
/// config: a depth error from the JSON parser, never a stack overflow.
#[test]
fn deeply_nested_metadata_is_an_error_not_a_stack_overflow() {
    let deep_array = "[".repeat(1 << 20).into_bytes();
    let deep_object = "{\"a\":".repeat(1 << 18).into_bytes();
    for deep in [deep_array, deep_object] {
        let m = Metadata {
            config: deep.clone(),
            manifest: deep.clone(),
            manifest_type: "application/vnd.oci.image.manifest.v1+json",
            index: deep.clone(),
            index_type: "application/vnd.oci.image.index.v1+json",
        };
        let dir = tempfile::tempdir().unwrap();
        let (planned, loaded) = exercise(&m, dir.path());
        assert!(!planned && !loaded);
    }
}
