//! Embeds every `stdlib/*.kdl` module into the binary: writes `$OUT_DIR/stdlib.rs`, a sorted
//! table of (`std/NAME`, text) pairs made with `include_str!`.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../stdlib");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut modules: Vec<(String, String)> = std::fs::read_dir(&dir)
        .expect("stdlib/ is readable")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "kdl"))
        .map(|p| {
            println!("cargo:rerun-if-changed={}", p.display());
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            let abs = p.canonicalize().unwrap().display().to_string();
            (name, abs)
        })
        .collect();
    modules.sort();
    let mut out = String::from(
        "/// The stdlib modules: (`std/NAME`, KDL text), sorted by name.\npub static MODULES: &[(&str, &str)] = &[\n",
    );
    for (name, path) in modules {
        out.push_str(&format!("    (\"std/{name}\", include_str!({path:?})),\n"));
    }
    out.push_str("];\n");
    let out_dir = std::env::var("OUT_DIR").unwrap();
    std::fs::write(Path::new(&out_dir).join("stdlib.rs"), out).unwrap();
}
