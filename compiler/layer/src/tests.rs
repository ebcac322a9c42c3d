//! Tests of layer writing and extraction, including the malicious archives of SECURITY.md
//! items 10–19, each built here byte by byte.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::extract::{ExtractError, ExtractOptions, Limits, WhiteoutMode, extract_into};
use crate::write::{SourceKind, WriteOptions, write_layer, write_tar};
use crate::{Compression, Expected, tree, unpack_layer};

/// One raw tar entry for a hand-made archive.
struct E {
    path: &'static [u8],
    kind: u8,
    link: &'static [u8],
    data: Vec<u8>,
    mode: u32,
    /// Size written into the ustar header (defaults to the data length).
    header_size: Option<u64>,
    pax: Vec<(&'static str, String)>,
    dev: (u32, u32),
}

fn e(path: &'static [u8], kind: u8) -> E {
    E {
        path,
        kind,
        link: b"",
        data: Vec::new(),
        mode: 0o644,
        header_size: None,
        pax: Vec::new(),
        dev: (0, 0),
    }
}
fn file(path: &'static [u8], data: &[u8]) -> E {
    E {
        data: data.to_vec(),
        ..e(path, b'0')
    }
}
fn dir(path: &'static [u8]) -> E {
    E {
        mode: 0o755,
        ..e(path, b'5')
    }
}
fn symlink(path: &'static [u8], target: &'static [u8]) -> E {
    E {
        link: target,
        mode: 0o777,
        ..e(path, b'2')
    }
}
fn hardlink(path: &'static [u8], target: &'static [u8]) -> E {
    E {
        link: target,
        ..e(path, b'1')
    }
}

fn header(
    path: &[u8],
    kind: u8,
    size: u64,
    mode: u32,
    link: &[u8],
    dev: (u32, u32),
) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..path.len()].copy_from_slice(path);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(size);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::new(kind));
    if kind == b'3' || kind == b'4' {
        h.set_device_major(dev.0).unwrap();
        h.set_device_minor(dev.1).unwrap();
    }
    h.set_cksum();
    h
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
}

fn tar(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for en in entries {
        if !en.pax.is_empty() {
            let mut body = String::new();
            for (k, v) in &en.pax {
                let rest = format!(" {k}={v}\n");
                let mut n = rest.len() + 1;
                while n != rest.len() + n.to_string().len() {
                    n = rest.len() + n.to_string().len();
                }
                body.push_str(&format!("{n}{rest}"));
            }
            out.extend_from_slice(
                header(b"PaxHeaders/x", b'x', body.len() as u64, 0o644, b"", (0, 0)).as_bytes(),
            );
            out.extend_from_slice(body.as_bytes());
            pad(&mut out);
        }
        let size = en.header_size.unwrap_or(en.data.len() as u64);
        out.extend_from_slice(header(en.path, en.kind, size, en.mode, en.link, en.dev).as_bytes());
        out.extend_from_slice(&en.data);
        pad(&mut out);
    }
    out.extend_from_slice(&[0; 1024]);
    out
}

/// A sandbox: `root/` is the destination; `victim` and `outside/` sit next to it.
struct Sandbox {
    _tmp: tempfile::TempDir,
    base: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = tempfile::tempdir().unwrap();
        let base = tmp.path().to_owned();
        fs::create_dir(base.join("root")).unwrap();
        fs::write(base.join("victim"), b"precious").unwrap();
        // Explicit modes: another test changes the process umask while this one runs.
        fs::set_permissions(base.join("victim"), fs::Permissions::from_mode(0o644)).unwrap();
        fs::create_dir(base.join("outside")).unwrap();
        fs::set_permissions(base.join("outside"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::create_dir(base.join("dest-evil")).unwrap();
        Sandbox { _tmp: tmp, base }
    }
    fn root(&self) -> PathBuf {
        self.base.join("root")
    }
    fn extract(&self, entries: &[E]) -> Result<u64, ExtractError> {
        self.extract_with(entries, &ExtractOptions::default())
    }
    fn extract_with(&self, entries: &[E], opts: &ExtractOptions) -> Result<u64, ExtractError> {
        extract_into(&tar(entries)[..], &self.root(), opts)
    }
    /// Nothing next to the root changed.
    fn assert_outside_untouched(&self) {
        let mut names: Vec<_> = fs::read_dir(&self.base)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        names.sort();
        assert_eq!(names, ["dest-evil", "outside", "root", "victim"]);
        assert_eq!(fs::read(self.base.join("victim")).unwrap(), b"precious");
        assert_eq!(
            fs::metadata(self.base.join("victim")).unwrap().mode() & 0o7777,
            0o644
        );
        assert_eq!(
            fs::metadata(self.base.join("outside")).unwrap().mode() & 0o7777,
            0o700
        );
        assert_eq!(fs::read_dir(self.base.join("outside")).unwrap().count(), 0);
        assert_eq!(
            fs::read_dir(self.base.join("dest-evil")).unwrap().count(),
            0
        );
    }
}

fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}

// SECURITY 10
#[test]
fn unsafe_names_are_rejected() {
    for bad in [
        &b"../x"[..],
        b"/../x",
        b"..",
        b"/abs",
        b"a/../../x",
        b"./../x",
    ] {
        let s = Sandbox::new();
        let entries = [E {
            path: Box::leak(bad.to_vec().into_boxed_slice()),
            ..file(b"", b"evil")
        }];
        let err = s.extract(&entries).unwrap_err();
        assert!(
            matches!(err, ExtractError::UnsafePath(_)),
            "{}: {err}",
            String::from_utf8_lossy(bad)
        );
        s.assert_outside_untouched();
    }
}

/// SECURITY 10–19 at random: thousands of hostile archives (names, links, kinds, modes,
/// sizes and pax records from the escape vocabulary of `archive_gen.rs`, the generator the
/// cargo-fuzz target `layer_extract` also uses), each extracted as a snapshot and then as an
/// upper layer applied over it. None panics, and nothing outside the root changes.
#[test]
fn random_hostile_archives_stay_inside() {
    use crate::archive_gen::{Choices, hostile_archive};
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 24) as u8
    };
    for _ in 0..1500 {
        let bytes: Vec<u8> = (0..192).map(|_| next()).collect();
        let mut choices = Choices::new(&bytes);
        let lower = hostile_archive(&mut choices);
        let upper = hostile_archive(&mut choices);
        let s = Sandbox::new();
        let _ = extract_into(&lower[..], &s.root(), &ExtractOptions::default());
        s.assert_outside_untouched();
        let apply = ExtractOptions {
            whiteouts: WhiteoutMode::Apply,
            ..ExtractOptions::default()
        };
        let _ = extract_into(&upper[..], &s.root(), &apply);
        s.assert_outside_untouched();
    }
}

// SECURITY 11
#[test]
fn symlink_breakouts_stay_inside() {
    let cases: Vec<Vec<E>> = vec![
        vec![
            symlink(b"loophole", b"../victim"),
            file(b"loophole/file", b"x"),
        ],
        vec![
            symlink(b"loophole", b"../outside"),
            file(b"loophole/file", b"x"),
        ],
        vec![
            symlink(b"loophole", b"../outside"),
            symlink(b"loophole/s", b"x"),
        ],
        vec![
            symlink(b"loophole", b"../outside"),
            hardlink(b"loophole/h", b"loophole"),
        ],
        vec![
            symlink(b"loophole", b"../victim"),
            hardlink(b"h", b"loophole"),
        ],
        vec![
            symlink(b"a", b".."),
            symlink(b"a/b", b"../victim"),
            file(b"a/b/c", b"x"),
        ],
        vec![
            symlink(b"a", b".."),
            symlink(b"a/b", b"../outside"),
            file(b"b/c", b"x"),
        ],
        vec![symlink(b"sym", b".."), file(b"sym/x/y", b"x")],
        vec![
            symlink(b"sym", b"../../../../.."),
            dir(b"sym/outside"),
            file(b"sym/outside/y", b"x"),
        ],
        vec![
            symlink(b"victim", b"../victim"),
            file(b"victim", b"overwritten?"),
        ],
    ];
    for entries in cases {
        let s = Sandbox::new();
        let _ = s.extract(&entries);
        s.assert_outside_untouched();
    }
}

// SECURITY 12
#[test]
fn directory_over_symlink_never_chmods_the_target() {
    let s = Sandbox::new();
    let target = s.base.join("outside");
    let link: &'static [u8] = Box::leak(
        target
            .to_str()
            .unwrap()
            .as_bytes()
            .to_vec()
            .into_boxed_slice(),
    );
    s.extract(&[
        symlink(b"d", link),
        E {
            mode: 0o777,
            ..dir(b"d")
        },
        symlink(b"e", b"../outside"),
        E {
            mode: 0o777,
            ..dir(b"e")
        },
    ])
    .unwrap();
    s.assert_outside_untouched();
    assert!(fs::symlink_metadata(s.root().join("d")).unwrap().is_dir());
    assert_eq!(
        fs::metadata(s.root().join("d")).unwrap().mode() & 0o7777,
        0o777
    );
}

// SECURITY 13
#[test]
fn absolute_symlinks_resolve_inside_the_root() {
    let s = Sandbox::new();
    let before = fs::read("/etc/hostname").ok();
    s.extract(&[
        symlink(b"localetc", b"/etc"),
        dir(b"etc"),
        file(b"localetc/hostname", b"inside"),
        dir(b"run"),
        dir(b"var"),
        symlink(b"var/run", b"/run"),
        file(b"var/run/pid", b"1"),
    ])
    .unwrap();
    assert_eq!(fs::read("/etc/hostname").ok(), before);
    assert_eq!(fs::read(s.root().join("etc/hostname")).unwrap(), b"inside");
    assert_eq!(fs::read(s.root().join("run/pid")).unwrap(), b"1");
    s.assert_outside_untouched();
}

// SECURITY 14
#[test]
fn hardlinks_out_of_the_root_are_rejected() {
    for target in [
        &b"../victim"[..],
        b"/../victim",
        b"../dest-evil/x",
        b"/etc/passwd",
    ] {
        let s = Sandbox::new();
        let entries = [hardlink(
            b"h",
            Box::leak(target.to_vec().into_boxed_slice()),
        )];
        let err = s.extract(&entries).unwrap_err();
        assert!(matches!(err, ExtractError::UnsafeLink { .. }), "{err}");
        s.assert_outside_untouched();
    }
}

// SECURITY 15
#[test]
fn root_entry_must_be_a_directory() {
    for (path, kind) in [(&b"."[..], b'0'), (b"./", b'2'), (b"", b'0')] {
        let s = Sandbox::new();
        let entries = [E {
            link: b"/",
            ..e(Box::leak(path.to_vec().into_boxed_slice()), kind)
        }];
        let err = s.extract(&entries).unwrap_err();
        assert!(matches!(err, ExtractError::RootNotDirectory(_)), "{err}");
        s.assert_outside_untouched();
    }
    let s = Sandbox::new();
    s.extract(&[
        E {
            mode: 0o755,
            ..dir(b"./")
        },
        file(b"./a", b"x"),
    ])
    .unwrap();
    assert_eq!(fs::read(s.root().join("a")).unwrap(), b"x");
}

// SECURITY 16
#[test]
fn whiteouts_apply_per_the_oci_spec() {
    let s = Sandbox::new();
    let apply = ExtractOptions {
        whiteouts: WhiteoutMode::Apply,
        ..ExtractOptions::default()
    };
    // The lower layer.
    s.extract_with(
        &[
            dir(b"a"),
            file(b"a/x", b"lower"),
            dir(b"a/sub"),
            file(b"a/sub/deep", b"lower"),
            file(b"b", b"lower"),
            symlink(b"link", b"../victim"),
            file(b"keep", b"k"),
        ],
        &apply,
    )
    .unwrap();
    // The upper layer: a/z and a/sub/new come before the opaque marker, which must not hide them.
    s.extract_with(
        &[
            dir(b"a"),
            file(b"a/z", b"upper"),
            dir(b"a/sub"),
            file(b"a/sub/new", b"upper"),
            file(b"a/.wh..wh..opq", b""),
            file(b".wh.b", b""),
            file(b".wh.link", b""),
        ],
        &apply,
    )
    .unwrap();
    let listing = tree::describe(&s.root()).unwrap();
    let paths: Vec<&str> = listing
        .lines()
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert_eq!(
        paths,
        ["a", "a/sub", "a/sub/new", "a/z", "keep"],
        "{listing}"
    );
    s.assert_outside_untouched();

    for bad in [&b".wh."[..], b"d/.wh..", b".wh..."] {
        let s = Sandbox::new();
        let err = s
            .extract_with(
                &[file(Box::leak(bad.to_vec().into_boxed_slice()), b"")],
                &apply,
            )
            .unwrap_err();
        assert!(matches!(err, ExtractError::BadWhiteout(_)), "{err}");
    }
}

#[test]
fn whiteouts_become_overlay_whiteouts_in_snapshots() {
    if !is_root() {
        eprintln!("skipped: overlay whiteouts need root");
        return;
    }
    let s = Sandbox::new();
    s.extract(&[
        dir(b"a"),
        file(b"a/.wh..wh..opq", b""),
        file(b".wh.gone", b""),
    ])
    .unwrap();
    let listing = tree::describe(&s.root()).unwrap();
    assert!(listing.contains("gone c 0000 0:0 0:0"), "{listing}");
    assert!(listing.contains("trusted.overlay.opaque=79"), "{listing}");
}

// SECURITY 17
#[test]
fn device_numbers_are_checked_and_devices_skipped_without_root() {
    let s = Sandbox::new();
    let err = s
        .extract(&[E {
            dev: (5000, 1),
            ..e(b"dev", b'3')
        }])
        .unwrap_err();
    assert!(matches!(err, ExtractError::BadDevice { .. }), "{err}");
    let s = Sandbox::new();
    let no_dev = ExtractOptions {
        devices: false,
        ..ExtractOptions::default()
    };
    s.extract_with(
        &[E {
            dev: (1, 3),
            ..e(b"null", b'3')
        }],
        &no_dev,
    )
    .unwrap();
    assert!(fs::symlink_metadata(s.root().join("null")).is_err());
    if is_root() {
        let s = Sandbox::new();
        s.extract(&[E {
            dev: (1, 3),
            mode: 0o666,
            ..e(b"null", b'3')
        }])
        .unwrap();
        assert!(
            tree::describe(&s.root())
                .unwrap()
                .contains("null c 0666 0:0 1:3")
        );
    }
}

// SECURITY 18
#[test]
fn pax_size_wins_over_the_ustar_size() {
    let s = Sandbox::new();
    let entries = [
        E {
            header_size: Some(0),
            pax: vec![("size", "5".into())],
            ..file(b"a", b"hello")
        },
        file(b"b", b"second"),
    ];
    s.extract(&entries).unwrap();
    assert_eq!(fs::read(s.root().join("a")).unwrap(), b"hello");
    assert_eq!(fs::read(s.root().join("b")).unwrap(), b"second");
}

// SECURITY 19
#[test]
fn bombs_and_huge_entries_stop_at_the_limit() {
    let s = Sandbox::new();
    let big = tar(&[file(b"zeros", &vec![0u8; 8 << 20])]);
    let mut gz = crate::compress::Encoder::new(Vec::new(), Compression::Gzip).unwrap();
    gz.write_all(&big).unwrap();
    let gz = gz.finish().unwrap();
    assert!(gz.len() < 100_000);
    let opts = ExtractOptions {
        limits: Limits {
            max_bytes: 1 << 20,
            ..Limits::default()
        },
        ..ExtractOptions::default()
    };
    let err = unpack_layer(&gz[..], &s.root(), &opts, &Expected::default()).unwrap_err();
    assert!(matches!(err, ExtractError::TooLarge(_)), "{err}");

    let s = Sandbox::new();
    let opts = ExtractOptions {
        limits: Limits {
            max_entry_size: 1000,
            ..Limits::default()
        },
        ..ExtractOptions::default()
    };
    let huge = [E {
        header_size: Some(0),
        pax: vec![("size", "99999999999999".into())],
        ..file(b"huge", b"")
    }];
    let err = s.extract_with(&huge, &opts).unwrap_err();
    assert!(matches!(err, ExtractError::EntryTooLarge { .. }), "{err}");
}

#[test]
fn corrupted_blobs_fail_to_unpack() {
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("f"), b"content").unwrap();
    let (blob, info) = write_layer(
        src.path(),
        &WriteOptions {
            epoch: 0,
            compression: Compression::Gzip,
            source: SourceKind::Plain,
        },
        Vec::new(),
    )
    .unwrap();
    let expected = Expected {
        digest: Some(info.digest),
        size: Some(info.size),
        diff_id: Some(info.diff_id),
    };
    let ok = tempfile::tempdir().unwrap();
    unpack_layer(&blob[..], ok.path(), &ExtractOptions::default(), &expected).unwrap();
    let mut flipped = blob.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 1;
    let mut appended = blob.clone();
    appended.push(0);
    for bad in [flipped, appended, blob[..blob.len() - 1].to_vec()] {
        let d = tempfile::tempdir().unwrap();
        assert!(unpack_layer(&bad[..], d.path(), &ExtractOptions::default(), &expected).is_err());
    }
}

/// A tree with every kind of entry and metadata a layer must carry.
fn rich_tree(root: &Path) {
    use std::os::unix::fs::symlink as ln;
    fs::create_dir_all(root.join("usr/bin")).unwrap();
    fs::create_dir_all(root.join("tmp")).unwrap();
    fs::set_permissions(root.join("tmp"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::write(root.join("usr/bin/su"), b"#!/bin/sh\n").unwrap();
    fs::set_permissions(root.join("usr/bin/su"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::write(root.join("usr/bin/wall"), b"wall").unwrap();
    fs::set_permissions(
        root.join("usr/bin/wall"),
        fs::Permissions::from_mode(0o2755),
    )
    .unwrap();
    fs::hard_link(root.join("usr/bin/wall"), root.join("usr/bin/wall2")).unwrap();
    ln("usr/bin", root.join("bin")).unwrap();
    ln("/absolute/target", root.join("abs")).unwrap();
    let long = "d".repeat(120);
    fs::create_dir_all(root.join(&long).join("e".repeat(200))).unwrap();
    fs::write(
        root.join(&long).join("e".repeat(200)).join("f".repeat(250)),
        b"deep",
    )
    .unwrap();
    ln("t".repeat(180), root.join("longlink")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        root.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    fs::set_permissions(root.join("fifo"), fs::Permissions::from_mode(0o640)).unwrap();
    let _ = rustix::fs::setxattr(
        root.join("usr/bin/su"),
        "user.duckc",
        b"yes",
        rustix::fs::XattrFlags::empty(),
    );
    if is_root() {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("null"),
            rustix::fs::FileType::CharacterDevice,
            rustix::fs::Mode::from_raw_mode(0o666),
            rustix::fs::makedev(1, 3),
        )
        .unwrap();
        fs::set_permissions(root.join("null"), fs::Permissions::from_mode(0o666)).unwrap();
        std::os::unix::fs::lchown(root.join("usr/bin/wall"), Some(1234), Some(5678)).unwrap();
        fs::set_permissions(
            root.join("usr/bin/wall"),
            fs::Permissions::from_mode(0o2755),
        )
        .unwrap();
        std::os::unix::fs::lchown(root.join("abs"), Some(7), Some(8)).unwrap();
        rustix::fs::setxattr(
            root.join("usr/bin/wall"),
            "security.capability",
            &[
                1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            ],
            rustix::fs::XattrFlags::empty(),
        )
        .unwrap();
    }
}

#[test]
fn layers_round_trip_with_full_metadata() {
    let src = tempfile::tempdir().unwrap();
    rich_tree(src.path());
    for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
        let opts = WriteOptions {
            epoch: 0,
            compression,
            source: SourceKind::Plain,
        };
        let (blob, info) = write_layer(src.path(), &opts, Vec::new()).unwrap();
        assert_eq!(info.size, blob.len() as u64);
        let out = tempfile::tempdir().unwrap();
        let stats = unpack_layer(
            &blob[..],
            out.path(),
            &ExtractOptions::default(),
            &Expected {
                diff_id: Some(info.diff_id),
                digest: Some(info.digest),
                size: Some(info.size),
            },
        )
        .unwrap();
        assert_eq!(stats.diff_size, info.diff_size);
        assert_eq!(
            tree::describe(src.path()).unwrap(),
            tree::describe(out.path()).unwrap()
        );
        let a = fs::metadata(out.path().join("usr/bin/wall")).unwrap();
        let b = fs::metadata(out.path().join("usr/bin/wall2")).unwrap();
        assert_eq!(a.ino(), b.ino(), "hard links stay links");
    }
}

#[test]
fn tars_are_reproducible_across_paths_and_times() {
    // The process umask is not changed here: tests share the process, and the umask is
    // process-wide. The end-to-end tests (tests/store.rs, tests/build.rs) build under different
    // umasks in separate processes.
    let mut digests = Vec::new();
    for (mask, mtime) in [(0o022u32, 2_000_000_000), (0o077, 1_500_000_000)] {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join(format!("nested-{mask}"));
        fs::create_dir_all(root.join("b")).unwrap();
        fs::write(root.join("b/z"), b"z").unwrap();
        fs::write(root.join("a"), b"a").unwrap();
        for p in ["a", "b/z"] {
            fs::set_permissions(root.join(p), fs::Permissions::from_mode(0o644)).unwrap();
        }
        fs::set_permissions(root.join("b"), fs::Permissions::from_mode(0o755)).unwrap();
        for p in ["a", "b", "b/z"] {
            let t = rustix::fs::Timespec {
                tv_sec: mtime,
                tv_nsec: 0,
            };
            rustix::fs::utimensat(
                rustix::fs::CWD,
                root.join(p),
                &rustix::fs::Timestamps {
                    last_access: t,
                    last_modification: t,
                },
                rustix::fs::AtFlags::empty(),
            )
            .unwrap();
        }
        let (_, info) = write_layer(
            &root,
            &WriteOptions {
                epoch: 1_000_000_000,
                compression: Compression::Gzip,
                source: SourceKind::Plain,
            },
            Vec::new(),
        )
        .unwrap();
        digests.push((info.diff_id, info.digest));
    }
    assert_eq!(digests[0], digests[1]);
}

#[test]
fn tar_layout_is_sorted_and_clamped() {
    let src = tempfile::tempdir().unwrap();
    fs::create_dir(src.path().join("b")).unwrap();
    fs::write(src.path().join("b/x"), b"x").unwrap();
    fs::write(src.path().join("a"), b"a").unwrap();
    fs::write(src.path().join("c"), b"c").unwrap();
    let (bytes, _) = write_tar(
        src.path(),
        &WriteOptions {
            epoch: 86_400,
            compression: Compression::None,
            source: SourceKind::Plain,
        },
        Vec::new(),
    )
    .unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let mut names = Vec::new();
    for entry in ar.entries().unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.header().mtime().unwrap(), 86_400);
        assert_eq!(entry.header().username_bytes(), Some(&b""[..]));
        names.push(String::from_utf8(entry.path_bytes().into_owned()).unwrap());
    }
    assert_eq!(names, ["a", "b/", "b/x", "c"]);
}

#[test]
fn overlay_upper_dirs_become_whiteouts() {
    if !is_root() {
        eprintln!("skipped: overlay whiteouts need root");
        return;
    }
    let upper = tempfile::tempdir().unwrap();
    fs::create_dir(upper.path().join("opaque")).unwrap();
    rustix::fs::setxattr(
        upper.path().join("opaque"),
        "trusted.overlay.opaque",
        b"y",
        rustix::fs::XattrFlags::empty(),
    )
    .unwrap();
    fs::write(upper.path().join("opaque/new"), b"n").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        upper.path().join("deleted"),
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::empty(),
        rustix::fs::makedev(0, 0),
    )
    .unwrap();
    let (bytes, _) = write_tar(
        upper.path(),
        &WriteOptions {
            epoch: 0,
            compression: Compression::None,
            source: SourceKind::OverlayUpper,
        },
        Vec::new(),
    )
    .unwrap();
    let mut ar = tar::Archive::new(&bytes[..]);
    let names: Vec<String> = ar
        .entries()
        .unwrap()
        .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            ".wh.deleted",
            "opaque/",
            "opaque/.wh..wh..opq",
            "opaque/new"
        ]
    );
    // And back: a snapshot of that layer is the same upper dir again.
    let out = tempfile::tempdir().unwrap();
    extract_into(&bytes[..], out.path(), &ExtractOptions::default()).unwrap();
    assert_eq!(
        tree::describe(upper.path()).unwrap(),
        tree::describe(out.path()).unwrap()
    );
}

#[test]
fn an_unpack_that_cannot_give_owners_names_the_first_it_dropped() {
    let owned = |path: &'static [u8], uid: &str, gid: &str| E {
        pax: vec![("uid", uid.to_owned()), ("gid", gid.to_owned())],
        ..file(path, b"x")
    };
    let layer = tar(&[
        dir(b"a/"),
        file(b"a/root", b"x"),
        owned(b"a/shadow", "0", "42"),
        owned(b"a/home", "1000", "1000"),
    ]);
    let without = ExtractOptions {
        owners: false,
        ..ExtractOptions::default()
    };
    let d = tempfile::tempdir().unwrap();
    let stats = unpack_layer(&layer[..], d.path(), &without, &Expected::default()).unwrap();
    let dropped = stats.dropped_owner.unwrap();
    assert_eq!(
        (dropped.path.as_str(), dropped.uid, dropped.gid),
        ("/a/shadow", 0, 42)
    );
    // Owners given (as root): nothing dropped.
    if is_root() {
        let d = tempfile::tempdir().unwrap();
        let with = ExtractOptions {
            owners: true,
            ..ExtractOptions::default()
        };
        let stats = unpack_layer(&layer[..], d.path(), &with, &Expected::default()).unwrap();
        assert_eq!(stats.dropped_owner, None);
        assert_eq!(fs::metadata(d.path().join("a/home")).unwrap().uid(), 1000);
    }
}
