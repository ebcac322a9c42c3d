//! `copy` steps: the files a node names are staged from the build context into a fresh
//! directory with the owner and mode the node says, and that directory becomes the layer.
//!
//! Sources are opened relative to the context directory with `openat2(RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS)`, so no symlink in the context is ever followed (a link that points
//! outside is copied as a link), and each file's bytes are hashed while copied and checked
//! against the digest the compiler keyed the node by: a file edited mid-build fails the step
//! instead of caching a layer under the wrong key.
//!
//! The destination is resolved against the tree the parents built ([`LowerTree`]), as
//! BuildKit resolves it: its symlinks are followed inside the image (`COPY server /bin/` on a
//! merged-/usr base writes `/usr/bin/server`), a single file copied onto an existing
//! directory goes into it, directories that exist keep their owner and mode (the layer
//! records them as they are), and only the directories the step creates get its owner and
//! 0755. Below the destination, paths are joined as the context lists them.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use duckc_ir::{CopyStep, EntryKind};
use duckc_layer::{Compression, SourceKind, WriteOptions};
use duckc_store::{LayerRef, Store};
use rustix::fs::{AtFlags, Mode, OFlags, Timespec, Timestamps};
use sha2::Digest as _;

use crate::lower::{self, LowerTree};
use crate::{Error, Result, io_err};

/// Writes the layer of a `copy` node whose parent chain is `chain` (for `chown=` by name).
pub(crate) fn copy_layer(
    store: &Store,
    step: &CopyStep,
    context: &Path,
    chain: &[LayerRef],
) -> Result<LayerRef> {
    let (uid, gid) = mapped_owner(store, chain, step.chown.as_deref())?;
    let tree = LowerTree::open(store, chain)?;
    let stage = store.tmp_path("copy");
    let result = (|| {
        fs::create_dir(&stage).map_err(io_err(&stage))?;
        if step.unpack {
            unpack_archives(store, context, step, &tree, &stage)?;
        } else {
            stage_files(
                context,
                &step.files,
                &step.destination,
                &tree,
                &stage,
                (uid, gid),
            )?;
        }
        write_staged_layer(store, &stage)
    })();
    let _ = duckc_layer::remove_tree(&stage);
    result
}

/// `ADD` of local archives: each archive (hash-checked) is extracted into the destination
/// directory with the layer extractor, which keeps every entry inside it (no `..`, no write
/// through a symlink) and bounds its size.
fn unpack_archives(
    store: &Store,
    context: &Path,
    step: &CopyStep,
    tree: &LowerTree,
    stage: &Path,
) -> Result<()> {
    let real = tree.resolve(&step.destination)?;
    lower::make_dirs(stage, tree, &real, (0, 0))?;
    let dest = lower::staged(stage, &real);
    let ctx = rustix::fs::open(
        context,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(context)(e.into()))?;
    for f in &step.files {
        // Copied out first, hashing, so what is extracted is what was keyed.
        let tmp = store.tmp_path("add");
        let result = (|| -> Result<()> {
            copy_file(&ctx, &f.source, &tmp, f.digest)?;
            let archive = fs::File::open(&tmp).map_err(io_err(&tmp))?;
            let opts = duckc_layer::ExtractOptions {
                whiteouts: duckc_layer::WhiteoutMode::Apply,
                ..duckc_layer::ExtractOptions::default()
            };
            duckc_layer::unpack_layer(
                io::BufReader::new(archive),
                &dest,
                &opts,
                &duckc_layer::Expected::default(),
            )
            .map_err(|e| Error::Archive {
                path: f.source.clone(),
                reason: e.to_string(),
            })?;
            Ok(())
        })();
        let _ = fs::remove_file(&tmp);
        result?;
    }
    Ok(())
}

/// Writes `files` from the context into `stage` (which exists), owned by `uid:gid`, each
/// checked against the digest it was keyed by. `destination` is where the compiler put them
/// (their targets are under it); it is resolved in `tree`, the parents' tree.
pub(crate) fn stage_files(
    context: &Path,
    files: &[duckc_ir::CopiedFile],
    destination: &str,
    tree: &LowerTree,
    stage: &Path,
    (uid, gid): (u32, u32),
) -> Result<()> {
    let ctx = rustix::fs::open(
        context,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_err(context)(e.into()))?;
    let dest = destination.trim_end_matches('/');
    let real_dest = tree.resolve(dest)?;
    for f in files {
        let real = place(tree, f, dest, &real_dest)?;
        let Some((_, parent)) = real.split_last() else {
            // The root itself: it is there already.
            continue;
        };
        lower::make_dirs(stage, tree, parent, (uid, gid))?;
        let dest = lower::staged(stage, &real);
        match f.kind {
            EntryKind::Dir => {
                if fs::symlink_metadata(&dest).is_err() {
                    fs::create_dir(&dest).map_err(io_err(&dest))?;
                }
            }
            EntryKind::File => {
                // Two sources may land on one path; the later one wins, as in Docker.
                remove_staged(&dest)?;
                match &f.content {
                    // Written in the Dockerfile (`COPY <<EOF`): keyed by its digest already.
                    Some(content) => fs::write(&dest, content).map_err(io_err(&dest))?,
                    None if f.url => {
                        let got = download(&f.source, &dest)?;
                        if Some(got) != f.digest {
                            return Err(Error::Checksum {
                                url: f.source.clone(),
                                expected: f.digest.map(|d| d.to_string()).unwrap_or_default(),
                                got: got.to_string(),
                            });
                        }
                    }
                    None => copy_file(&ctx, &f.source, &dest, f.digest)?,
                }
            }
            EntryKind::Symlink => {
                let target = read_link(&ctx, &f.source)?;
                if f.digest != Some(duckc_ir::Digest::of(target.as_encoded_bytes())) {
                    return Err(Error::ContextChanged {
                        path: f.source.clone(),
                    });
                }
                remove_staged(&dest)?;
                std::os::unix::fs::symlink(&target, &dest).map_err(io_err(&dest))?;
            }
        }
        if f.kind != EntryKind::Symlink {
            fs::set_permissions(&dest, fs::Permissions::from_mode(f.mode & 0o7777))
                .map_err(io_err(&dest))?;
        }
        std::os::unix::fs::lchown(&dest, Some(uid), Some(gid)).map_err(io_err(&dest))?;
    }
    Ok(())
}

/// Where in the image `f` lands: its target with the destination part replaced by where the
/// destination really is (`real_dest`), and a single file copied onto an existing directory
/// put inside it under its own name.
fn place(
    tree: &LowerTree,
    f: &duckc_ir::CopiedFile,
    dest: &str,
    real_dest: &[OsString],
) -> Result<lower::ImagePath> {
    if f.target == dest || (dest.is_empty() && f.target == "/") {
        let mut real = real_dest.to_vec();
        if f.kind != EntryKind::Dir && tree.dir(&real)?.is_some() {
            real.push(OsString::from(source_name(&f.source)));
        }
        return Ok(real);
    }
    match f
        .target
        .strip_prefix(dest)
        .and_then(|r| r.strip_prefix('/'))
    {
        Some(rel) => Ok(lower::join(real_dest, rel)),
        // Not under the destination (not something the compilers write): resolve it whole.
        None => tree.resolve(&f.target),
    }
}

/// The name a source has in a directory: the last component of its path (of a URL's path,
/// of a heredoc's word).
fn source_name(source: &str) -> &str {
    let s = source.trim_start_matches("<<");
    let s = s.split(['?', '#']).next().unwrap_or(s);
    s.trim_end_matches('/').rsplit('/').next().unwrap_or(s)
}

/// Removes a non-directory staged at `path` earlier in the same step, so a later source
/// replaces it instead of writing through it.
fn remove_staged(path: &Path) -> Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if !m.is_dir() => fs::remove_file(path).map_err(io_err(path)),
        _ => Ok(()),
    }
}

fn open_beneath(ctx: &OwnedFd, rel: &str, flags: OFlags) -> Result<OwnedFd> {
    crate::context::open_beneath(ctx, rel, flags).map_err(|source| Error::Io {
        path: rel.into(),
        source,
    })
}

fn copy_file(
    ctx: &OwnedFd,
    source: &str,
    dest: &Path,
    digest: Option<duckc_ir::Digest>,
) -> Result<()> {
    let src = open_beneath(ctx, source, OFlags::RDONLY)?;
    let mut src = fs::File::from(src);
    if !src.metadata().map_err(io_err(dest))?.is_file() {
        return Err(Error::ContextChanged {
            path: source.to_owned(),
        });
    }
    let mut out = fs::File::create(dest).map_err(io_err(dest))?;
    let mut tee = HashTee {
        out: &mut out,
        hash: sha2::Sha256::new(),
    };
    io::copy(&mut src, &mut tee).map_err(io_err(dest))?;
    let got = duckc_ir::Digest(tee.hash.finalize().into());
    if digest != Some(got) {
        return Err(Error::ContextChanged {
            path: source.to_owned(),
        });
    }
    Ok(())
}

struct HashTee<'a> {
    out: &'a mut dyn Write,
    hash: sha2::Sha256,
}

impl Write for HashTee<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

/// Reads a symlink of the context without following any link on the way to it.
fn read_link(ctx: &OwnedFd, source: &str) -> Result<OsString> {
    crate::context::read_link_beneath(ctx, source).map_err(|e| Error::Io {
        path: source.into(),
        source: e,
    })
}

/// Write a staged directory as a plain (not overlay) layer: every time clamped to the build's
/// epoch first, so the checkout's mtimes never reach the tar.
pub(crate) fn write_staged_layer(store: &Store, stage: &Path) -> Result<LayerRef> {
    set_times(stage, crate::epoch())?;
    // The staged tree (under the store's tmp/) becomes the layer's snapshot, so the next
    // `run` step mounts it instead of unpacking the blob just written.
    Ok(store.write_layer_snapshot(
        stage,
        &WriteOptions {
            epoch: duckc_layer::source_date_epoch(),
            compression: Compression::BUILD,
            source: SourceKind::Plain,
        },
    )?)
}

/// Sets every entry's mtime and atime to `epoch` (links themselves, not their targets).
pub(crate) fn set_times(stage: &Path, epoch: i64) -> Result<()> {
    let t = Timespec {
        tv_sec: epoch,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    for entry in walkdir::WalkDir::new(stage).contents_first(true) {
        let entry = entry.map_err(|e| io_err(stage)(e.into()))?;
        rustix::fs::utimensat(
            rustix::fs::CWD,
            entry.path(),
            &times,
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| io_err(entry.path())(e.into()))?;
    }
    Ok(())
}

/// The numeric owner for `chown=`: `UID[:GID]` directly (the group defaults to the uid, as in
/// Docker), names through the image's `/etc/passwd` and `/etc/group`.
pub(crate) fn owner(store: &Store, chain: &[LayerRef], chown: Option<&str>) -> Result<(u32, u32)> {
    let Some(spec) = chown else {
        return Ok((0, 0));
    };
    let bad = |reason: String| Error::Chown {
        spec: spec.to_owned(),
        reason,
    };
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    // `chown` reads 4294967295 as "leave unchanged": ids are bounded as for users.
    duckc_runtime::user::check_spec(spec).map_err(|e| bad(e.to_string()))?;
    if let Ok(uid) = user.parse::<u32>() {
        match group.map(str::parse::<u32>) {
            None => return Ok((uid, uid)),
            Some(Ok(gid)) => return Ok((uid, gid)),
            Some(Err(_)) => {}
        }
    }
    let passwd = read_in_chain(store, chain, "etc/passwd")?.unwrap_or_default();
    let groups = read_in_chain(store, chain, "etc/group")?.unwrap_or_default();
    let id =
        duckc_runtime::user::resolve(spec, &passwd, &groups).map_err(|e| bad(e.to_string()))?;
    Ok((id.uid, id.gid))
}

/// [`owner`], refused when it is not root and duckc runs rootless with only the caller mapped.
pub(crate) fn mapped_owner(
    store: &Store,
    chain: &[LayerRef],
    chown: Option<&str>,
) -> Result<(u32, u32)> {
    let id = owner(store, chain, chown)?;
    if id != (0, 0) && duckc_runtime::userns::missing_ids_help().is_some() {
        return Err(Error::NoSubordinateIds {
            what: format!("the owner `{}`", chown.unwrap_or_default()),
        });
    }
    Ok(id)
}

/// The text of the file `rel` in the image made of `chain`: from the topmost layer that has
/// it, unless a higher layer deleted it.
fn read_in_chain(store: &Store, chain: &[LayerRef], rel: &str) -> Result<Option<String>> {
    for layer in chain.iter().rev() {
        let snap = store.snapshot(&layer.diff_id)?;
        let path = snap.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                return Ok(Some(fs::read_to_string(&path).map_err(io_err(&path))?));
            }
            Ok(_) => return Ok(None), // a whiteout or something that is not a file
            Err(_) => continue,
        }
    }
    Ok(None)
}

/// Writes the layer of a `workdir` node: the directory `path`, resolved in the parents' tree
/// as BuildKit resolves it (symlinks followed inside the image). When it exists already the
/// layer is empty; otherwise it holds the path's directories, those the parents have with
/// their mode and owner (so `WORKDIR /tmp/x` leaves `/tmp` 1777), the missing ones 0755 and
/// owned by `user` (root when empty), as BuildKit makes them.
pub(crate) fn mkdir_layer(
    store: &Store,
    path: &str,
    user: &str,
    chain: &[LayerRef],
) -> Result<LayerRef> {
    let (uid, gid) = mapped_owner(store, chain, (!user.is_empty()).then_some(user))?;
    let tree = LowerTree::open(store, chain)?;
    let real = tree.resolve(path)?;
    if let Some(e) = tree.entry(&real)?
        && !e.meta.is_dir()
    {
        return Err(Error::NotADirectory {
            path: path.to_owned(),
            file: lower::display(&real),
        });
    }
    let stage = store.tmp_path("mkdir");
    let result = (|| {
        fs::create_dir(&stage).map_err(io_err(&stage))?;
        if tree.dir(&real)?.is_none() {
            lower::make_dirs(&stage, &tree, &real, (uid, gid))?;
        }
        write_staged_layer(store, &stage)
    })();
    let _ = duckc_layer::remove_tree(&stage);
    result
}

/// The most an `ADD` URL may download (8 GiB).
const DOWNLOAD_LIMIT: u64 = 8 << 30;

/// Downloads the HTTP(S) `url` into `dest` (created), returning the content's sha256.
fn download(url: &str, dest: &Path) -> Result<duckc_ir::Digest> {
    let mut out = fs::File::create(dest).map_err(io_err(dest))?;
    fetch_into(url, &mut out)
}

/// Streams the HTTP(S) `url` into `out`, returning the content's sha256.
fn fetch_into(url: &str, out: &mut dyn Write) -> Result<duckc_ir::Digest> {
    let fail = |reason: String| Error::Download {
        url: url.to_owned(),
        reason,
    };
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(fail("only http and https URLs are downloaded".to_owned()));
    }
    let body = duckc_packages::fetch::Fetcher::default()
        .open(url, 0)
        .map_err(|e| fail(e.to_string()))?;
    let mut tee = HashTee {
        out,
        hash: sha2::Sha256::new(),
    };
    let n = io::copy(&mut body.reader.take(DOWNLOAD_LIMIT + 1), &mut tee)
        .map_err(|e| fail(e.to_string()))?;
    if n > DOWNLOAD_LIMIT {
        return Err(fail(format!("larger than {DOWNLOAD_LIMIT} bytes")));
    }
    Ok(duckc_ir::Digest(tee.hash.finalize().into()))
}

/// The sha256 of what the HTTP(S) `url` serves now, for `ADD URL` without `--checksum`
/// (keyed by its content when the build is planned; the build downloads it again and checks).
pub fn url_digest(url: &str) -> Result<duckc_ir::Digest> {
    fetch_into(url, &mut io::sink())
}
