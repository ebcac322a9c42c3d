//! `cp`: copy between a container's file system and the host, or a tar stream (`-`).
//!
//! The container's tree is untrusted: its files are opened only below a descriptor of the
//! container's root, with the runtime's `open_in_root` (`openat2(RESOLVE_IN_ROOT)`: a symlink,
//! absolute or with `..`, resolves inside the root) for directories, and the last component
//! with `O_NOFOLLOW` (`openat`, `mkdirat`, `symlinkat`, `readlinkat` relative to that
//! directory). A symlink in the container is copied as a symlink, never followed to the host.
//!
//! A running container's root is `/proc/<pid>/root` (its volumes and tmpfs mounts included).
//! A stopped one's overlay is mounted in a mount namespace of this process's own (made with
//! `unshare` and private propagation, gone when `cp` exits), never on the host.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::process::ExitCode;

use duckc_runtime::container::{Config, Dir, Status};
use duckc_runtime::kernel::{FileKind, Kernel, Linux, Resolve};
use duckc_store::Store;
use miette::miette;
use rustix::fs::{AtFlags, Mode, OFlags};

use super::find;

/// One side of `cp`.
enum End<'a> {
    Container(&'a str, &'a str),
    Host(&'a Path),
    Stream,
}

fn end(arg: &str) -> End<'_> {
    if arg == "-" {
        return End::Stream;
    }
    // Docker's rule: `NAME:PATH` names a container unless the part before the colon has a
    // `/` (a local path such as `./a:b` or `/tmp/a:b`).
    match arg.split_once(':') {
        Some((c, p)) if !c.is_empty() && !c.contains('/') => End::Container(c, p),
        _ => End::Host(Path::new(arg)),
    }
}

fn err(what: impl std::fmt::Display) -> impl FnOnce(io::Error) -> miette::Report {
    move |e| miette!("{what}: {e}")
}

fn errno(what: impl std::fmt::Display) -> impl FnOnce(rustix::io::Errno) -> miette::Report {
    move |e| miette!("{what}: {}", io::Error::from(e))
}

pub fn cp(store: &Store, src: &str, dest: &str) -> miette::Result<ExitCode> {
    match (end(src), end(dest)) {
        (End::Container(c, path), to @ (End::Host(_) | End::Stream)) => {
            let root = open_root(store, c)?;
            copy_out(&root, path, to)?;
        }
        (from @ (End::Host(_) | End::Stream), End::Container(c, path)) => {
            let root = open_root(store, c)?;
            copy_in(&root, from, path)?;
        }
        (End::Container(..), End::Container(..)) => {
            return Err(miette!(
                help = "copy to the host first, then from there into the other container",
                "copying between containers is not supported"
            ));
        }
        _ => {
            return Err(miette!(
                help = "write `duckc cp CONTAINER:SRC DEST` or `duckc cp SRC CONTAINER:DEST`",
                "one of the paths must be `CONTAINER:PATH`"
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The container's root as a path that reaches it (`/proc/<pid>/root`, or the overlay mounted
/// in this process's own mount namespace).
struct Root {
    path: PathBuf,
    query: String,
}

fn open_root(store: &Store, query: &str) -> miette::Result<Root> {
    let (dir, config) = find(store, query)?;
    let state = dir
        .read_state()
        .map_err(err("cannot read the container's state"))?;
    let path = match (state.status, state.pid) {
        (Status::Running, Some(pid)) => PathBuf::from(format!("/proc/{pid}/root")),
        _ => mount_stopped(&dir, &config, query)?,
    };
    Ok(Root {
        path,
        query: query.to_owned(),
    })
}

/// Mount a stopped container's overlay on its `rootfs/` directory, in a new mount namespace
/// of this (single-threaded) process.
fn mount_stopped(dir: &Dir, config: &Config, query: &str) -> miette::Result<PathBuf> {
    let rootfs = &config.spec.rootfs;
    if rootfs.ephemeral {
        return Err(miette!(
            help =
                format!("start it with `duckc start {query}`; its files exist only while it runs"),
            "container `{query}` was started with `--rm` and is not running"
        ));
    }
    // SAFETY: unshare and mount with constant arguments; this process has no other threads.
    let private = unsafe {
        libc::unshare(libc::CLONE_NEWNS) == 0
            && libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) == 0
    };
    if !private {
        return Err(miette!(
            help = format!("start the container (`duckc start {query}`) and copy while it runs"),
            "cannot mount the files of stopped container `{query}`: {}",
            io::Error::last_os_error()
        ));
    }
    let mountpoint = dir.0.join("rootfs");
    duckc_runtime::rootfs::mount_overlay(
        &Linux,
        rootfs,
        &rootfs.upper,
        &rootfs.work,
        duckc_runtime::process::is_rootless(),
        &mountpoint,
    )
    .map_err(|e| {
        miette!(
            help = format!("start the container (`duckc start {query}`) and copy while it runs"),
            "cannot mount the files of stopped container `{query}`: {e}"
        )
    })?;
    Ok(mountpoint)
}

impl Root {
    /// An `O_PATH` descriptor of `path` inside the root (symlinks resolved inside it);
    /// missing directories are created when `create`.
    fn open(&self, path: &Path, create: bool) -> io::Result<OwnedFd> {
        let how = Resolve {
            create: create.then_some(FileKind::Dir),
            no_symlinks: false,
        };
        Linux.open_in_root(&self.path, path, how)
    }

    fn no_such(&self, path: &str) -> miette::Report {
        miette!(
            help = format!("list it with `duckc exec {} ls`", self.query),
            "no such file or directory in container `{}`: `{path}`",
            self.query
        )
    }
}

/// A readable directory descriptor from an `O_PATH` one (the `*at` calls that create need it).
fn reopen_dir(fd: &OwnedFd) -> io::Result<OwnedFd> {
    Ok(rustix::fs::openat(
        fd,
        ".",
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// `(parent, last name)` of a container path; `None` for the root itself. A trailing `/.`
/// (Docker's "the contents of") is dropped here and reported by `contents_only`.
fn split(path: &Path) -> Option<(PathBuf, OsString)> {
    let parts: Vec<Component<'_>> = path.components().collect();
    let mut clean = PathBuf::from("/");
    for c in &parts {
        match c {
            Component::Normal(n) => clean.push(n),
            Component::ParentDir => {
                clean.pop();
            }
            _ => {}
        }
    }
    let name = clean.file_name()?.to_owned();
    let parent = clean.parent().unwrap_or(Path::new("/")).to_owned();
    Some((parent, name))
}

fn contents_only(path: &str) -> bool {
    path.ends_with("/.") || path == "."
}

/// Where a copy goes: each entry's path below the copied root, created by a sink.
trait Sink {
    fn dir(&mut self, rel: &Path, mode: u32) -> miette::Result<()>;
    fn file(&mut self, rel: &Path, mode: u32, size: u64, data: &mut dyn Read)
    -> miette::Result<()>;
    fn symlink(&mut self, rel: &Path, target: &Path) -> miette::Result<()>;
}

// ---- out of the container ------------------------------------------------------------------

fn copy_out(root: &Root, src: &str, to: End<'_>) -> miette::Result<()> {
    let path = Path::new(if src.is_empty() { "/" } else { src });
    let (parent_fd, name) = match split(path) {
        Some((parent, name)) => (
            root.open(&parent, false).map_err(|_| root.no_such(src))?,
            name,
        ),
        // The root itself: its contents, under the name `/` would have had.
        None => (
            root.open(Path::new("/"), false)
                .map_err(|_| root.no_such(src))?,
            OsString::from("."),
        ),
    };
    let parent = reopen_dir(&parent_fd).map_err(err("cannot open the source's directory"))?;
    let st = rustix::fs::statat(&parent, &name, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|_| root.no_such(src))?;
    let is_dir = kind(st.st_mode) == Kind::Dir;
    let contents = contents_only(src) || name == ".";
    match to {
        End::Stream => {
            let out = io::stdout().lock();
            let mut sink = TarSink {
                builder: tar::Builder::new(out),
                top: if contents {
                    PathBuf::new()
                } else {
                    PathBuf::from(&name)
                },
            };
            walk_container(&parent, &name, Path::new(""), &mut sink)?;
            sink.builder
                .into_inner()
                .and_then(|mut w| w.flush())
                .map_err(err("cannot write the tar stream"))?;
        }
        End::Host(dest) => {
            let top = host_target(dest, &name, is_dir, contents)?;
            let mut sink = HostSink { top };
            walk_container(&parent, &name, Path::new(""), &mut sink)?;
        }
        End::Container(..) => {}
    }
    Ok(())
}

/// Docker's rules for the host side: into an existing directory under the source's name
/// (its contents with `SRC/.`); else the new name `dest`, whose parent must exist.
fn host_target(dest: &Path, name: &OsStr, is_dir: bool, contents: bool) -> miette::Result<PathBuf> {
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => Ok(if contents {
            dest.to_owned()
        } else {
            dest.join(name)
        }),
        Ok(_) if is_dir => Err(miette!(
            help = "give a directory, or a path that does not exist yet",
            "cannot copy a directory onto the file `{}`",
            dest.display()
        )),
        Ok(_) => Ok(dest.to_owned()),
        Err(_) => {
            if dest.as_os_str().as_bytes().ends_with(b"/") && !is_dir {
                return Err(miette!(
                    help = "create the directory first",
                    "the directory `{}` does not exist",
                    dest.display()
                ));
            }
            let parent = dest.parent().filter(|p| !p.as_os_str().is_empty());
            if parent.is_some_and(|p| !p.is_dir()) {
                return Err(miette!(
                    help = "create the directory first",
                    "the directory `{}` does not exist",
                    parent.unwrap_or(Path::new(".")).display()
                ));
            }
            Ok(dest.to_owned())
        }
    }
}

#[derive(PartialEq, Eq)]
enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

fn kind(mode: u32) -> Kind {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => Kind::Dir,
        libc::S_IFREG => Kind::File,
        libc::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

/// Copy the entry `name` of the container directory `parent` (and what is below it).
fn walk_container(
    parent: &OwnedFd,
    name: &OsStr,
    rel: &Path,
    sink: &mut dyn Sink,
) -> miette::Result<()> {
    let shown = || rel.join(name).display().to_string();
    let Ok(st) = rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) else {
        return Ok(()); // removed while we walk
    };
    let mode = st.st_mode & 0o7777;
    match kind(st.st_mode) {
        Kind::Dir => {
            let dir = rustix::fs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno(format!("cannot open `{}`", shown())))?;
            sink.dir(rel, mode)?;
            let mut names: Vec<OsString> = Vec::new();
            let reader = rustix::fs::Dir::read_from(&dir)
                .map_err(errno(format!("cannot read `{}`", shown())))?;
            for entry in reader {
                let entry = entry.map_err(errno(format!("cannot read `{}`", shown())))?;
                let n = entry.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsStr::from_bytes(n).to_owned());
                }
            }
            names.sort();
            for n in names {
                walk_container(&dir, &n, &rel.join(&n), sink)?;
            }
        }
        Kind::File => {
            // `O_NONBLOCK`: a FIFO swapped in after the `statat` must not block the open; it is
            // then skipped by the `fstat` below (regular files ignore the flag).
            let fd = rustix::fs::openat(
                parent,
                name,
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno(format!("cannot open `{}`", shown())))?;
            let now =
                rustix::fs::fstat(&fd).map_err(errno(format!("cannot stat `{}`", shown())))?;
            if kind(now.st_mode) != Kind::File {
                eprintln!(
                    "duckc: skipping `{}`: it changed while being copied",
                    shown()
                );
                return Ok(());
            }
            let mut file = std::fs::File::from(fd);
            sink.file(rel, mode, now.st_size as u64, &mut file)?;
        }
        Kind::Symlink => {
            let target = rustix::fs::readlinkat(parent, name, Vec::new())
                .map_err(errno(format!("cannot read the link `{}`", shown())))?;
            sink.symlink(rel, Path::new(OsStr::from_bytes(target.as_bytes())))?;
        }
        Kind::Other => {
            eprintln!(
                "duckc: skipping `{}`: not a file, directory or symlink",
                shown()
            );
        }
    }
    Ok(())
}

/// Writes below `top` on the host. Names come from the container one component at a time, and
/// whatever was at a file's place is replaced rather than written through.
struct HostSink {
    top: PathBuf,
}

impl HostSink {
    fn at(&self, rel: &Path) -> PathBuf {
        if rel.as_os_str().is_empty() {
            self.top.clone()
        } else {
            self.top.join(rel)
        }
    }
}

fn replace_non_dir(path: &Path) {
    if std::fs::symlink_metadata(path).is_ok_and(|m| !m.is_dir()) {
        let _ = std::fs::remove_file(path);
    }
}

impl Sink for HostSink {
    fn dir(&mut self, rel: &Path, mode: u32) -> miette::Result<()> {
        let path = self.at(rel);
        replace_non_dir(&path);
        match std::fs::create_dir(&path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                return Err(miette!("cannot create `{}`: {e}", path.display()));
            }
            _ => {}
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(err(format!("cannot set the mode of `{}`", path.display())))
    }

    fn file(
        &mut self,
        rel: &Path,
        mode: u32,
        _size: u64,
        data: &mut dyn Read,
    ) -> miette::Result<()> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.at(rel);
        replace_non_dir(&path);
        let mut out = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .custom_flags(libc::O_NOFOLLOW)
            .mode(mode)
            .open(&path)
            .map_err(err(format!("cannot create `{}`", path.display())))?;
        io::copy(data, &mut out).map_err(err(format!("cannot write `{}`", path.display())))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(err(format!("cannot set the mode of `{}`", path.display())))
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> miette::Result<()> {
        let path = self.at(rel);
        replace_non_dir(&path);
        std::os::unix::fs::symlink(target, &path)
            .map_err(err(format!("cannot create the link `{}`", path.display())))
    }
}

/// Writes a tar stream, entries named below `top` (the source's name, or nothing for
/// `SRC/.`).
struct TarSink<W: Write> {
    builder: tar::Builder<W>,
    top: PathBuf,
}

impl<W: Write> TarSink<W> {
    fn name(&self, rel: &Path) -> PathBuf {
        let p = self.top.join(rel);
        if p.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            p
        }
    }
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, rel: &Path, mode: u32) -> miette::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        self.builder
            .append_data(&mut h, self.name(rel), io::empty())
            .map_err(err("cannot write the tar stream"))
    }

    fn file(
        &mut self,
        rel: &Path,
        mode: u32,
        size: u64,
        data: &mut dyn Read,
    ) -> miette::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(size);
        // Exactly the size announced in the header: a file that grows while it is read is
        // cut, one that shrinks is padded with zeros, so the stream stays a valid tar.
        let exact = data.take(size).chain(io::repeat(0)).take(size);
        self.builder
            .append_data(&mut h, self.name(rel), exact)
            .map_err(err("cannot write the tar stream"))
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> miette::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        self.builder
            .append_link(&mut h, self.name(rel), target)
            .map_err(err("cannot write the tar stream"))
    }
}

// ---- into the container --------------------------------------------------------------------

fn copy_in(root: &Root, from: End<'_>, dest: &str) -> miette::Result<()> {
    let dest_path = Path::new(if dest.is_empty() { "/" } else { dest });
    let dest_is_dir = root
        .open(dest_path, false)
        .ok()
        .and_then(|fd| rustix::fs::fstat(&fd).ok())
        .is_some_and(|st| kind(st.st_mode) == Kind::Dir);
    match from {
        End::Stream => {
            if !dest_is_dir {
                return Err(miette!(
                    help = "a tar stream is unpacked into an existing directory",
                    "`{dest}` is not a directory in container `{}`",
                    root.query
                ));
            }
            let mut sink = ContainerSink {
                root,
                top: normal(dest_path),
            };
            unpack_tar(io::stdin().lock(), &mut sink)
        }
        End::Host(src) => {
            let meta = std::fs::symlink_metadata(src).map_err(|e| {
                miette!(
                    help = "give a file or directory that exists on this machine",
                    "cannot copy `{}`: {e}",
                    src.display()
                )
            })?;
            let src_str = src.as_os_str().to_string_lossy();
            let contents = contents_only(&src_str);
            let name = std::fs::canonicalize(src)
                .ok()
                .and_then(|p| p.file_name().map(OsStr::to_owned))
                .unwrap_or_else(|| OsString::from("."));
            let top = if dest_is_dir {
                if contents {
                    normal(dest_path)
                } else {
                    normal(dest_path).join(&name)
                }
            } else {
                if meta.is_dir() && dest.ends_with('/') {
                    // `cp dir C:/new/`: Docker makes `/new`.
                } else if dest.ends_with('/') {
                    return Err(root.no_such(dest));
                }
                let parent = normal(dest_path)
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_else(|| PathBuf::from("/"));
                let parent_is_dir = root
                    .open(&parent, false)
                    .ok()
                    .and_then(|fd| rustix::fs::fstat(&fd).ok())
                    .is_some_and(|st| kind(st.st_mode) == Kind::Dir);
                if !parent_is_dir {
                    return Err(root.no_such(&parent.display().to_string()));
                }
                normal(dest_path)
            };
            let mut sink = ContainerSink { root, top };
            walk_host(src, Path::new(""), &mut sink)
        }
        End::Container(..) => Ok(()),
    }
}

/// `path` made absolute with `.` and `..` applied lexically (the root resolves the rest).
fn normal(path: &Path) -> PathBuf {
    match split(path) {
        Some((parent, name)) => parent.join(name),
        None => PathBuf::from("/"),
    }
}

/// Copy the host's `path` (a symlink is copied as one).
fn walk_host(path: &Path, rel: &Path, sink: &mut dyn Sink) -> miette::Result<()> {
    let meta = std::fs::symlink_metadata(path)
        .map_err(err(format!("cannot read `{}`", path.display())))?;
    let mode = meta.mode() & 0o7777;
    if meta.file_type().is_symlink() {
        let target =
            std::fs::read_link(path).map_err(err(format!("cannot read `{}`", path.display())))?;
        sink.symlink(rel, &target)
    } else if meta.is_dir() {
        sink.dir(rel, mode)?;
        let mut names: Vec<OsString> = std::fs::read_dir(path)
            .map_err(err(format!("cannot read `{}`", path.display())))?
            .flatten()
            .map(|e| e.file_name())
            .collect();
        names.sort();
        for n in names {
            walk_host(&path.join(&n), &rel.join(&n), sink)?;
        }
        Ok(())
    } else if meta.is_file() {
        let mut f =
            std::fs::File::open(path).map_err(err(format!("cannot open `{}`", path.display())))?;
        sink.file(rel, mode, meta.len(), &mut f)
    } else {
        eprintln!(
            "duckc: skipping `{}`: not a file, directory or symlink",
            path.display()
        );
        Ok(())
    }
}

/// Unpack a tar stream through `sink`; entry names are taken apart into plain components (a
/// leading `/` is dropped, `..` refused).
fn unpack_tar(input: impl Read, sink: &mut dyn Sink) -> miette::Result<()> {
    let mut archive = tar::Archive::new(input);
    let entries = archive
        .entries()
        .map_err(err("cannot read the tar stream"))?;
    for entry in entries {
        let mut entry = entry.map_err(err("cannot read the tar stream"))?;
        let raw = entry.path_bytes().into_owned();
        let mut rel = PathBuf::new();
        for c in Path::new(OsStr::from_bytes(&raw)).components() {
            match c {
                Component::Normal(n) => rel.push(n),
                Component::ParentDir => {
                    return Err(miette!(
                        help = "make the archive with paths relative to its top directory",
                        "the tar entry `{}` leaves the destination",
                        String::from_utf8_lossy(&raw)
                    ));
                }
                _ => {}
            }
        }
        let mode = entry.header().mode().unwrap_or(0o644) & 0o7777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => sink.dir(&rel, mode)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                sink.file(&rel, mode, size, &mut entry)?;
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .map_err(err("cannot read the tar stream"))?
                    .unwrap_or_default()
                    .into_owned();
                sink.symlink(&rel, &target)?;
            }
            other => eprintln!(
                "duckc: skipping `{}`: tar entries of type {other:?} are not copied",
                rel.display()
            ),
        }
    }
    Ok(())
}

/// Writes below `top` inside the container: each parent is resolved inside the root (created
/// when missing), each entry made relative to it without following a link at its name.
struct ContainerSink<'a> {
    root: &'a Root,
    top: PathBuf,
}

impl ContainerSink<'_> {
    /// The parent directory (readable descriptor) and name of `rel`'s place.
    fn place(&self, rel: &Path) -> miette::Result<(OwnedFd, OsString)> {
        let path = if rel.as_os_str().is_empty() {
            self.top.clone()
        } else {
            self.top.join(rel)
        };
        let (parent, name) = split(&path).ok_or_else(|| {
            miette!(
                help = "copy into a directory of the container, e.g. `C:/tmp`",
                "cannot replace the container's root directory"
            )
        })?;
        let fd = self
            .root
            .open(&parent, true)
            .and_then(|fd| reopen_dir(&fd))
            .map_err(err(format!(
                "cannot open `{}` in container `{}`",
                parent.display(),
                self.root.query
            )))?;
        Ok((fd, name))
    }
}

/// Remove what is at `name` unless it is a directory (a file, or a link that is never
/// followed).
fn unlink_non_dir(dir: &OwnedFd, name: &OsStr) {
    if rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        .is_ok_and(|st| kind(st.st_mode) != Kind::Dir)
    {
        let _ = rustix::fs::unlinkat(dir, name, AtFlags::empty());
    }
}

impl Sink for ContainerSink<'_> {
    fn dir(&mut self, rel: &Path, mode: u32) -> miette::Result<()> {
        let (parent, name) = self.place(rel)?;
        unlink_non_dir(&parent, &name);
        match rustix::fs::mkdirat(&parent, &name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(errno(format!("cannot create `{}`", rel.display()))(e)),
        }
        let fd = rustix::fs::openat(
            &parent,
            &name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno(format!("cannot open `{}`", rel.display())))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(errno(format!("cannot set the mode of `{}`", rel.display())))
    }

    fn file(
        &mut self,
        rel: &Path,
        mode: u32,
        _size: u64,
        data: &mut dyn Read,
    ) -> miette::Result<()> {
        let (parent, name) = self.place(rel)?;
        unlink_non_dir(&parent, &name);
        let fd = rustix::fs::openat(
            &parent,
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(errno(format!("cannot create `{}`", name.display())))?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode)).map_err(errno(format!(
            "cannot set the mode of `{}`",
            name.display()
        )))?;
        let mut out = std::fs::File::from(fd);
        io::copy(data, &mut out).map_err(err(format!("cannot write `{}`", name.display())))?;
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &Path) -> miette::Result<()> {
        let (parent, name) = self.place(rel)?;
        unlink_non_dir(&parent, &name);
        rustix::fs::symlinkat(target, &parent, &name).map_err(errno(format!(
            "cannot create the link `{}`",
            name.display()
        )))
    }
}
