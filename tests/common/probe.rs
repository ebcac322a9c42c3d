//! Static probe programs for isolation tests: small C files under `tests/probes/` compiled
//! with the host's `cc -static`, so they run in a busybox image that has no libc.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use super::{ok, require_tool};

/// Compile `tests/probes/NAME.c` once per test process into a static binary; its path, or
/// `None` when no C compiler is installed (a failure under CI, as with every missing tool).
pub fn static_probe(name: &str) -> Option<PathBuf> {
    if !require_tool("cc") {
        return None;
    }
    static BUILT: OnceLock<Mutex<Vec<(String, PathBuf)>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| Mutex::new(Vec::new()));
    let mut built = built.lock().unwrap();
    if let Some((_, path)) = built.iter().find(|(n, _)| n == name) {
        return Some(path.clone());
    }
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/probes")
        .join(format!("{name}.c"));
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("probes");
    std::fs::create_dir_all(&dir).unwrap();
    // A name per test process: two test binaries compiling at once never share an output.
    let out = dir.join(format!("{name}-{}", std::process::id()));
    ok(Command::new("cc")
        .args(["-static", "-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&source));
    built.push((name.to_owned(), out.clone()));
    Some(out)
}
