//! Which repositories of which registries are known to hold a blob (learnt by pulling and
//! pushing), so a push can ask the registry to mount the blob from there instead of sending
//! it again, and need not ask (`HEAD`) about a blob it knows the repository it pushes to has.
//! Kept as `registry/sources/<hex>` in the store, one `host repository` a line.

use std::path::PathBuf;

use duckc_store::{Digest, Store};

const MAX_LINES: usize = 32;

fn path(store: &Store, digest: &Digest) -> PathBuf {
    store.root().join("registry/sources").join(digest.hex())
}

/// Note that `host/repository` holds `digest` (best effort: a failure only loses a hint).
pub fn remember(store: &Store, digest: &Digest, host: &str, repository: &str) {
    let p = path(store, digest);
    let line = format!("{host} {repository}");
    let old = std::fs::read_to_string(&p).unwrap_or_default();
    if old.lines().any(|l| l == line) {
        return;
    }
    let mut lines: Vec<&str> = old.lines().collect();
    lines.insert(0, &line);
    lines.truncate(MAX_LINES);
    let mut text = lines.join("\n");
    text.push('\n');
    if let Some(dir) = p.parent()
        && duckc_store::modes::create_private_dir(dir).is_ok()
    {
        // A hint, not a record: renamed into place (never seen half-written) but not
        // fsynced, which on a busy disk cost a pull of many layers seconds.
        let tmp = store.tmp_path("source");
        if std::fs::write(&tmp, text.as_bytes()).is_err() || std::fs::rename(&tmp, &p).is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
    }
}

/// Another repository of `host` known to hold `digest`.
pub fn known(store: &Store, digest: &Digest, host: &str, not: &str) -> Option<String> {
    let text = std::fs::read_to_string(path(store, digest)).ok()?;
    text.lines().find_map(|l| {
        let (h, r) = l.split_once(' ')?;
        (h == host && r != not).then(|| r.to_owned())
    })
}

/// Whether `host/repository` is known to hold `digest`.
pub fn holds(store: &Store, digest: &Digest, host: &str, repository: &str) -> bool {
    let line = format!("{host} {repository}");
    std::fs::read_to_string(path(store, digest)).is_ok_and(|t| t.lines().any(|l| l == line))
}

/// Forget that `host/repository` holds `digest` (it turned out not to; best effort).
pub fn forget(store: &Store, digest: &Digest, host: &str, repository: &str) {
    let p = path(store, digest);
    let line = format!("{host} {repository}");
    let Ok(old) = std::fs::read_to_string(&p) else {
        return;
    };
    if !old.lines().any(|l| l == line) {
        return;
    }
    let text: String = old
        .lines()
        .filter(|l| *l != line)
        .map(|l| format!("{l}\n"))
        .collect();
    let tmp = store.tmp_path("source");
    if std::fs::write(&tmp, text.as_bytes()).is_err() || std::fs::rename(&tmp, &p).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}
