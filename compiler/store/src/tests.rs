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

/// `Durability::Batched` leaves only the directory's fsync to the caller: the checks, the
/// rename and the record are what `Durability::Now` gives, and a refused blob still leaves
/// nothing behind.
#[test]
fn batched_commits_check_and_publish_as_immediate_ones_do() {
    let (_d, s) = store();
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"other").unwrap();
    let want = Digest::of(b"layer");
    let err = w
        .commit_with(Some((&want, 5)), Durability::Batched)
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert_eq!(std::fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"layer").unwrap();
    let (d, n) = w
        .commit_with(Some((&want, 5)), Durability::Batched)
        .unwrap();
    assert_eq!((d, n), (want, 5));
    s.sync_blobs().unwrap();
    assert_eq!(s.read_blob(&d, 100).unwrap(), b"layer");
    let layer = LayerRef {
        digest: d,
        diff_id: Digest::of(b"tar"),
        size: 5,
        media_type: duckc_layer::Compression::Gzip.media_type().to_owned(),
    };
    s.register_layer_with(&layer, Some(3), Durability::Batched)
        .unwrap();
    s.sync_layers().unwrap();
    let rec = s.layer(&layer.diff_id).unwrap().unwrap();
    assert_eq!((rec.layer, rec.diff_size), (layer, Some(3)));
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

/// Paths and mtimes under `root`, sorted.
fn times(root: &std::path::Path) -> Vec<(String, i64)> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let path = e.unwrap().path();
            let meta = path.symlink_metadata().unwrap();
            if meta.is_dir() {
                dirs.push(path.clone());
            }
            let rel = path.strip_prefix(root).unwrap().display().to_string();
            out.push((rel, meta.mtime()));
        }
    }
    out.sort();
    out
}

/// A tree with a setuid file, a hard link, a symlink and a fifo, written now.
fn odd_tree(src: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(src.join("usr/bin")).unwrap();
    std::fs::write(src.join("usr/bin/tool"), b"#!/bin/sh\n").unwrap();
    let setuid = std::fs::Permissions::from_mode(0o4755);
    std::fs::set_permissions(src.join("usr/bin/tool"), setuid).unwrap();
    std::fs::hard_link(src.join("usr/bin/tool"), src.join("usr/bin/tool2")).unwrap();
    std::os::unix::fs::symlink("usr/bin", src.join("bin")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        src.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
}

#[test]
fn adopted_snapshot_is_the_unpacked_layer() {
    let (_d, s) = store();
    let src = s.tmp_path("src");
    odd_tree(&src);
    // Written now, after the epoch: the layer records the epoch.
    let opts = WriteOptions {
        epoch: 1_000_000,
        ..WriteOptions::default()
    };
    let layer = s.write_layer_snapshot(&src, &opts).unwrap();
    assert!(!src.exists());
    let adopted = s.snapshot_record(&layer.diff_id).unwrap().unwrap();
    let dir = s.snapshot(&layer.diff_id).unwrap();
    let adopted_times = times(&dir);
    assert_eq!(adopted_times.len(), 6);
    assert!(
        adopted_times.iter().all(|(_, t)| *t == 1_000_000),
        "{adopted_times:?}"
    );
    assert!(s.verify().unwrap().problems.is_empty());

    // Unpacking the blob gives the same tree, times included.
    s.remove_snapshot(&layer.diff_id).unwrap();
    let dir = s.snapshot(&layer.diff_id).unwrap();
    let unpacked = s.snapshot_record(&layer.diff_id).unwrap().unwrap();
    assert_eq!(unpacked.tree, adopted.tree);
    assert_eq!(unpacked.entries, adopted.entries);
    assert_eq!(unpacked.diff_size, adopted.diff_size);
    assert_eq!(times(&dir), adopted_times);

    // The same tree again: the snapshot stays as it is and the new directory is removed.
    let again = s.tmp_path("src");
    odd_tree(&again);
    assert_eq!(s.write_layer_snapshot(&again, &opts).unwrap(), layer);
    assert!(!again.exists());
    assert_eq!(s.snapshot_record(&layer.diff_id).unwrap(), Some(unpacked));
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

#[test]
fn modes_are_private_reported_and_fixed_on_open() {
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| {
        std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(p).unwrap()) & 0o7777
    };
    let set = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    let (_d, s) = store();
    let _lease = s.lease().unwrap();
    assert_eq!(mode(s.root()), 0o700);
    assert_eq!(mode(&s.root().join("blobs/sha256")), 0o700);
    assert_eq!(mode(&s.locks_dir().join("gc.lock")), 0o600);
    assert_eq!(s.check_modes(), vec![]);

    // An older store: open as it is reports, open fixes.
    set(s.root(), 0o755);
    set(&s.tmp_dir(), 0o777);
    let as_is = Store::open_as_is(s.root()).unwrap();
    let found: Vec<String> = as_is.check_modes().into_iter().map(|p| p.reason).collect();
    assert_eq!(
        found,
        [
            "0777 lets other users reach it; the store keeps it 0700",
            "0755 lets other users reach it; the store keeps it 0700",
        ]
    );
    let fixed = Store::open(s.root()).unwrap();
    assert_eq!(fixed.check_modes(), vec![]);
    assert_eq!(mode(&s.tmp_dir()), 0o700);
}

/// The bytes of the blob `d`, read through [`Store::open_blob`].
fn blob_bytes(s: &Store, d: &Digest) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    s.open_blob(d).unwrap().read_to_end(&mut out)?;
    Ok(out)
}

fn uncompressed() -> WriteOptions {
    WriteOptions {
        epoch: 1_000_000,
        compression: duckc_layer::Compression::None,
        source: duckc_layer::SourceKind::Plain,
    }
}

#[test]
fn an_uncompressed_adopted_layer_keeps_no_blob_file_and_reads_back_the_same_bytes() {
    let (_d, s) = store();
    let src = s.tmp_path("src");
    odd_tree(&src);
    let (expected, info) = duckc_layer::write_layer(&src, &uncompressed(), Vec::new()).unwrap();
    let layer = s.write_layer_snapshot(&src, &uncompressed()).unwrap();
    assert_eq!(layer.digest, info.digest);
    assert!(!s.has_blob_file(&layer.digest), "no blob file is written");
    assert!(s.list_blobs().unwrap().is_empty());
    assert!(s.has_blob(&layer.digest));
    assert_eq!(s.blob_size(&layer.digest).unwrap(), expected.len() as u64);
    assert_eq!(s.layer(&layer.diff_id).unwrap().unwrap().layer, layer);
    let rec = s.snapshot_record(&layer.diff_id).unwrap().unwrap();
    assert_eq!(rec.rewrite, Some(Rewrite::Plain));
    assert_eq!(blob_bytes(&s, &layer.digest).unwrap(), expected);
    assert_eq!(s.check_blob(&layer.digest).unwrap(), expected.len() as u64);
    let key = Digest::of(b"node key");
    s.cache_put(&key, &layer).unwrap();
    assert_eq!(s.cache_get(&key).unwrap(), Some(layer.clone()));
    assert!(s.verify().unwrap().problems.is_empty());

    // A changed mtime leaves the tree digest as it was; writing the tar again finds it, both
    // when reading and in `verify`, and names the layer and the way out.
    let tool = s.snapshot_path(&layer.diff_id).join("usr/bin/tool");
    let t = rustix::fs::Timespec {
        tv_sec: 12345,
        tv_nsec: 0,
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        &tool,
        &rustix::fs::Timestamps {
            last_access: t,
            last_modification: t,
        },
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    let err = blob_bytes(&s, &layer.digest).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains(&layer.diff_id.to_string()), "{msg}");
    assert!(msg.contains("duckc verify --repair"), "{msg}");
    assert!(
        err.get_ref()
            .is_some_and(|e| e.downcast_ref::<RewriteMismatch>().is_some())
    );
    // A reader that takes exactly the recorded size still gets the error.
    {
        use std::io::Read;
        let mut r = s
            .open_blob(&layer.digest)
            .unwrap()
            .take(expected.len() as u64);
        assert!(std::io::copy(&mut r, &mut std::io::sink()).is_err());
    }
    let report = s.verify().unwrap();
    assert_eq!(report.problems.len(), 1, "{report:?}");
    assert!(
        report.problems[0].what.starts_with("snapshot "),
        "{report:?}"
    );

    // `repair` drops the snapshot, and with it the layer and its cache entry: a build makes
    // the layer again rather than reusing it.
    let repaired = s.repair().unwrap();
    assert_eq!(repaired.len(), 1, "{repaired:?}");
    assert!(!s.has_blob(&layer.digest));
    assert_eq!(s.layer(&layer.diff_id).unwrap(), None);
    assert_eq!(s.cache_get(&key).unwrap(), None);
    assert!(s.verify().unwrap().problems.is_empty());
    let again = s.tmp_path("src");
    odd_tree(&again);
    assert_eq!(
        s.write_layer_snapshot(&again, &uncompressed()).unwrap(),
        layer
    );
    assert_eq!(blob_bytes(&s, &layer.digest).unwrap(), expected);
}

#[test]
fn unpacking_an_uncompressed_layer_drops_its_blob_once_the_snapshot_gives_it_back() {
    let (_d, s) = store();
    let src = s.tmp_path("src");
    odd_tree(&src);
    std::fs::create_dir_all(src.join("etc")).unwrap();
    std::fs::write(src.join("etc/motd"), b"duck\n").unwrap();
    let opts = WriteOptions {
        source: duckc_layer::SourceKind::OverlayUpper,
        ..uncompressed()
    };
    if duckc_layer::ids::host_root() {
        // A whiteout and an opaque directory, as a `run` step's upper directory has them.
        rustix::fs::mknodat(
            rustix::fs::CWD,
            src.join("gone"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0),
            0,
        )
        .unwrap();
        rustix::fs::setxattr(
            src.join("etc"),
            "trusted.overlay.opaque",
            b"y",
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
    let (expected, _) = duckc_layer::write_layer(&src, &opts, Vec::new()).unwrap();
    let layer = s.write_layer(&src, &opts).unwrap();
    assert!(s.has_blob_file(&layer.digest));
    s.snapshot(&layer.diff_id).unwrap();
    let rec = s.snapshot_record(&layer.diff_id).unwrap().unwrap();
    // Unpacked with owners (as root) the snapshot gives the layer back; otherwise the blob
    // must stay, and does.
    if duckc_layer::ids::can_chown() {
        assert_eq!(rec.rewrite, Some(Rewrite::Overlay));
        assert!(!s.has_blob_file(&layer.digest));
    } else {
        assert_eq!(rec.rewrite.is_some(), !s.has_blob_file(&layer.digest));
    }
    assert_eq!(blob_bytes(&s, &layer.digest).unwrap(), expected);
    assert!(s.verify().unwrap().problems.is_empty());
}

#[test]
fn a_compressed_layer_keeps_its_blob() {
    let (_d, s) = store();
    let src = s.tmp_path("src");
    odd_tree(&src);
    let layer = s.write_layer(&src, &WriteOptions::default()).unwrap();
    s.snapshot(&layer.diff_id).unwrap();
    assert!(s.has_blob_file(&layer.digest));
    assert_eq!(
        s.snapshot_record(&layer.diff_id).unwrap().unwrap().rewrite,
        None
    );
}

/// A pulled layer has no record until it is checked: `snapshot_layer` of a blob that does not
/// unpack to the diff_id its image claims fails, leaves no snapshot, record or leftover, and
/// so does not stop the real layer with that diff_id from being unpacked later; `check_layer`
/// (one read, nothing unpacked) refuses it too and records a layer that matches.
#[test]
fn a_layer_is_recorded_under_its_diff_id_only_once_checked() {
    let (d, s) = store();
    let (_o, other) = store();
    let gzip = WriteOptions {
        compression: duckc_layer::Compression::Gzip,
        ..WriteOptions::default()
    };
    let mut made = Vec::new();
    for (name, text) in [
        ("a", "the layer the blob holds"),
        ("b", "the layer claimed"),
    ] {
        let dir = d.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("file"), text).unwrap();
        let layer = other.write_layer(&dir, &gzip).unwrap();
        let bytes = other.read_blob(&layer.digest, 1 << 20).unwrap();
        made.push((layer, bytes));
    }
    let [(a, a_bytes), (b, b_bytes)] = &made[..] else {
        unreachable!()
    };
    // A's blob, claimed to be B's layer (what a forged image's config says).
    s.put_blob(a_bytes).unwrap();
    let forged = LayerRef {
        diff_id: b.diff_id,
        ..a.clone()
    };
    // Both ways to it, an unpack and a read, refuse it, naming the image and A's blob.
    let refused = || {
        [
            s.snapshot_layer(&forged, "forged:v1").unwrap_err(),
            s.check_layer(&forged, "forged:v1").unwrap_err(),
        ]
        .map(|err| {
            assert!(
                matches!(&err, Error::DiffIdMismatch { image, digest, .. } if image == "forged:v1" && *digest == a.digest),
                "{err}"
            );
            err
        })
    };
    assert!(!s.is_checked(&b.diff_id).unwrap());
    for err in refused() {
        assert!(err.to_string().contains(&a.diff_id.to_string()), "{err}");
        assert_eq!(s.layer(&b.diff_id).unwrap(), None);
        assert_eq!(s.snapshot_record(&b.diff_id).unwrap(), None);
        assert!(!s.snapshot_path(&b.diff_id).exists());
        assert_eq!(std::fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    }
    assert!(matches!(
        s.snapshot(&b.diff_id).unwrap_err(),
        Error::LayerMissing(_)
    ));
    // The real B, unpacked through its image: checked in the same pass and recorded.
    s.put_blob(b_bytes).unwrap();
    let snap = s.snapshot_layer(b, "real:v1").unwrap();
    assert_eq!(
        std::fs::read_to_string(snap.join("file")).unwrap(),
        "the layer claimed"
    );
    let rec = s.layer(&b.diff_id).unwrap().unwrap();
    assert_eq!(rec.layer, *b);
    assert!(rec.diff_size.is_some());
    // A checked record is never replaced by what the forged image claims, and does not vouch
    // for the forged image's own blob: that is still refused, by an unpack or a read.
    refused();
    assert!(!s.is_checked_blob(&forged).unwrap());
    let rec = s.layer(&b.diff_id).unwrap().unwrap();
    assert_eq!((&rec.layer, &rec.also[..]), (b, &[][..]));
    // Another blob of the same layer (here zstd) is read once and listed on the record; from
    // then on it is known, and its snapshot is the one made already.
    let zstd = WriteOptions {
        compression: duckc_layer::Compression::Zstd,
        ..WriteOptions::default()
    };
    let plain = other.write_layer(&d.path().join("b"), &zstd).unwrap();
    assert_eq!(plain.diff_id, b.diff_id);
    assert_ne!(plain.digest, b.digest);
    s.put_blob(&other.read_blob(&plain.digest, 1 << 20).unwrap())
        .unwrap();
    assert!(!s.is_checked_blob(&plain).unwrap());
    assert_eq!(s.snapshot_layer(&plain, "zstd:v1").unwrap(), snap);
    assert!(s.is_checked_blob(&plain).unwrap());
    let rec = s.layer(&b.diff_id).unwrap().unwrap();
    assert_eq!((&rec.layer, &rec.also[..]), (b, &[plain.digest][..]));
    // A's blob under its own diff_id checks.
    s.check_layer(a, "a:v1").unwrap();
    assert_eq!(s.layer(&a.diff_id).unwrap().unwrap().layer, *a);
    assert!(s.verify().unwrap().problems.is_empty());
}
