//! Unit tests of the store: blobs, layers, snapshots, refs, cache, verify.

use std::io::Write;

use super::*;

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

#[test]
fn blobs_are_checked_before_they_become_visible() {
    let (_d, s) = store();
    let d = s.put_blob(b"hello").unwrap();
    assert_eq!(s.read_blob(&d, 100).unwrap(), b"hello");
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"other").unwrap();
    let err = w.commit(Some((&d, 5))).unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(s.list_blobs().unwrap(), vec![d]);
    assert_eq!(
        std::fs::read_dir(s.tmp_dir()).unwrap().count(),
        0,
        "a refused blob leaves nothing behind"
    );
}

#[test]
fn corrupted_blob_is_found_by_read_and_verify() {
    let (_d, s) = store();
    let d = s.put_blob(b"hello world").unwrap();
    for corrupt in [&b"hellO world"[..], b"hello world!", b"hello"] {
        std::fs::write(s.blob_path(&d), corrupt).unwrap();
        assert!(s.read_blob(&d, 100).is_err());
        let report = s.verify().unwrap();
        assert_eq!(report.problems.len(), 1, "{report:?}");
    }
}

#[test]
fn layer_snapshot_round_trip_and_cache() {
    let (d, s) = store();
    let src = d.path().join("src");
    std::fs::create_dir_all(src.join("a/b")).unwrap();
    std::fs::write(src.join("a/b/file"), b"content").unwrap();
    std::os::unix::fs::symlink("b/file", src.join("a/link")).unwrap();
    let layer = s.write_layer(&src, &WriteOptions::default()).unwrap();
    let snap = s.snapshot(&layer.diff_id).unwrap();
    assert_eq!(std::fs::read(snap.join("a/b/file")).unwrap(), b"content");
    assert_eq!(
        std::fs::read_link(snap.join("a/link")).unwrap(),
        std::path::Path::new("b/file")
    );
    assert_eq!(s.snapshot(&layer.diff_id).unwrap(), snap);
    assert!(s.verify().unwrap().problems.is_empty());

    let key = Digest::of(b"node key");
    assert_eq!(s.cache_get(&key).unwrap(), None);
    s.cache_put(&key, &layer).unwrap();
    assert_eq!(s.cache_get(&key).unwrap(), Some(layer.clone()));

    std::fs::write(snap.join("a/b/file"), b"tampered").unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
}

#[test]
fn refs_update_atomically() {
    let (_d, s) = store();
    let d = Digest::of(b"m");
    s.update_refs(|r| {
        r.images.insert(d, ImageEntry { added: 1 });
        r.tags.insert("busybox:latest".into(), d);
        Ok(())
    })
    .unwrap();
    assert_eq!(s.refs().unwrap().tags_of(&d), vec!["busybox:latest"]);
}

use duckc_layer::WriteOptions;
