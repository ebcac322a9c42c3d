//! Fuzzes the layer extractor with hostile archives: libFuzzer's bytes choose a lower and an
//! upper archive from the escape vocabulary of `compiler/layer/src/archive_gen.rs` (valid
//! headers, hostile names, links, kinds, modes, sizes, pax records); the lower one is
//! extracted as a snapshot, the upper one applied over it. Nothing may panic, and nothing next
//! to the destination may change. Run with `cargo fuzz run layer_extract` in `fuzz/` (as root,
//! to reach the owner and device paths too).
#![no_main]

use std::fs;
use std::path::Path;

use duckc_layer::{ExtractOptions, WhiteoutMode, extract_into};
use libfuzzer_sys::fuzz_target;

mod archive_gen {
    include!("../../compiler/layer/src/archive_gen.rs");
}
use archive_gen::{Choices, hostile_archive};

fn untouched(base: &Path) {
    let mut names: Vec<_> = fs::read_dir(base)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["outside", "root", "victim"]);
    assert_eq!(fs::read(base.join("victim")).unwrap(), b"precious");
    assert_eq!(fs::read_dir(base.join("outside")).unwrap().count(), 0);
}

fuzz_target!(|data: &[u8]| {
    let mut choices = Choices::new(data);
    let lower = hostile_archive(&mut choices);
    let upper = hostile_archive(&mut choices);
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path();
    fs::create_dir(base.join("root")).unwrap();
    fs::create_dir(base.join("outside")).unwrap();
    fs::write(base.join("victim"), b"precious").unwrap();
    let _ = extract_into(&lower[..], &base.join("root"), &ExtractOptions::default());
    untouched(base);
    let apply = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ExtractOptions::default()
    };
    let _ = extract_into(&upper[..], &base.join("root"), &apply);
    untouched(base);
    let _ = duckc_layer::remove_tree(&base.join("root"));
});
