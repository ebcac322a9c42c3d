//! The runtime's own executable and its exec stub, sealed: container processes run only from
//! copies the container can never write to.
//!
//! A process inside the container can open `/proc/<pid>/exe` of any process in its pid
//! namespace, and a container command of `/proc/self/exe` (or a script whose interpreter it
//! is) runs whatever the process that execs it was running. If that were the host's `duckc`
//! binary, container root could overwrite it and get code run on the host by the next `duckc`
//! call (CVE-2019-5736). So neither the init nor the command is ever exec'd from the host
//! binary:
//!
//! - a plain start sets the container up in the cloned child itself, straight from the
//!   already-mapped image (no second load of the big binary), and execs the command through
//!   `duckc-exec`, a few-kilobyte static program embedded in this crate (`stub/exec.c`): the
//!   command's `/proc/self/exe` is then that program, which does nothing else;
//! - `--init`, `exec`, OCI hooks and a multi-threaded caller re-execute the whole binary as
//!   the init, from a copy of it.
//!
//! Both programs are run from one of two kinds of copy:
//!
//! - as root, a copy under `/run/duckc/` marked immutable (`FS_IMMUTABLE_FL`): no process
//!   without `CAP_LINUX_IMMUTABLE`, which containers never have, can write, truncate or remove
//!   it. It is made once per binary (keyed by the binary's device, inode, size and mtime, or
//!   by the stub's hash) and checked on every use, so a start costs no copy;
//! - otherwise (or when the file system has no immutable flag), a memfd copy with write, grow
//!   and shrink seals, made for each start.
//!
//! Several duckc binaries may be installed and run at once (two versions, a test build beside
//! the packaged one), each with its own copies. A process that uses a copy holds a shared
//! `flock` on it for as long as it lives (a detached container's monitor, forked from it, goes
//! on holding it), and a copy of another binary is removed only when an exclusive lock on it
//! can be taken: provably stale, no live duckc uses it.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{FlockOperation, MemfdFlags, SealFlags};
use sha2::Digest;

/// Where root keeps the immutable copies.
pub const COPY_DIR: &str = "/run/duckc";

/// Names the binary to run container inits from instead of this process's own executable:
/// for programs that use the runtime but do not call [`crate::init::main_if_init`] themselves
/// (tests of other crates point it at the `duckc` binary).
pub const INIT_BINARY_ENV: &str = "DUCKC_RUNTIME_INIT";

static INIT_BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();

/// Run container inits from `binary` (one that calls [`crate::init::main_if_init`], like
/// `duckc`) instead of this process's executable. The first call wins.
pub fn set_init_binary(binary: PathBuf) {
    let _ = INIT_BINARY.set(binary);
}

/// The binary container inits run: [`set_init_binary`]'s, else [`INIT_BINARY_ENV`]'s, else
/// this one.
fn source() -> PathBuf {
    if let Some(p) = INIT_BINARY.get() {
        return p.clone();
    }
    std::env::var_os(INIT_BINARY_ENV)
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("/proc/self/exe"), PathBuf::from)
}

/// A descriptor of a copy of the init binary (normally `/proc/self/exe`) that nothing in a
/// container can write to.
pub fn sealed_self() -> io::Result<OwnedFd> {
    if crate::userns::host_root()
        && let Ok(fd) = immutable_copy(Path::new(COPY_DIR))
    {
        return Ok(fd);
    }
    memfd_copy()
}

/// `duckc-exec`, built from `stub/exec.c` by the build script: `duckc-exec ERROR-FD PATH
/// ARGV...` marks the error pipe close-on-exec and execs `PATH` with `ARGV`.
pub const STUB: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/duckc-exec"));

/// A descriptor of a copy of [`STUB`] that nothing in a container can write to.
pub fn sealed_stub() -> io::Result<OwnedFd> {
    if crate::userns::host_root()
        && let Ok(fd) = immutable_stub(Path::new(COPY_DIR))
    {
        return Ok(fd);
    }
    sealed_memfd("duckc-exec", &mut |dst| dst.write_all(STUB))
}

/// A sealed, executable memfd holding a copy of `/proc/self/exe`.
pub fn memfd_copy() -> io::Result<OwnedFd> {
    sealed_memfd("duckc-init", &mut |dst| {
        io::copy(&mut File::open(source())?, dst).map(drop)
    })
}

/// A sealed, executable memfd named `name` that `fill` writes.
fn sealed_memfd(
    name: &str,
    fill: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> io::Result<OwnedFd> {
    let flags = MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING;
    // MFD_EXEC (6.3+) keeps the memfd executable when vm.memfd_noexec says otherwise; older
    // kernels reject the flag.
    let memfd = match rustix::fs::memfd_create(name, flags | MemfdFlags::EXEC) {
        Ok(fd) => fd,
        Err(rustix::io::Errno::INVAL) => rustix::fs::memfd_create(name, flags)?,
        Err(e) => return Err(e.into()),
    };
    let mut dst = File::from(memfd);
    fill(&mut dst)?;
    let memfd = OwnedFd::from(dst);
    rustix::fs::fcntl_add_seals(
        memfd.as_fd(),
        SealFlags::SEAL | SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE,
    )?;
    Ok(memfd)
}

const FS_IMMUTABLE_FL: libc::c_long = 0x10;

fn flags(file: &File) -> io::Result<libc::c_long> {
    let mut flags: libc::c_long = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one long into `flags`.
    if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(flags)
}

/// Whether `file` is a finished copy: immutable, owned by root, not writable, of `size` bytes.
fn usable(file: &File, size: u64) -> bool {
    let Ok(meta) = file.metadata() else {
        return false;
    };
    meta.is_file()
        && meta.uid() == 0
        && meta.len() == size
        && meta.mode() & 0o222 == 0
        && flags(file).is_ok_and(|f| f & FS_IMMUTABLE_FL != 0)
}

/// The immutable copy of this binary in `dir`, made if missing.
pub fn immutable_copy(dir: &Path) -> io::Result<OwnedFd> {
    let exe = std::fs::metadata(source())?;
    let name = format!(
        "{INIT_PREFIX}{:x}-{:x}-{:x}-{:x}.{:x}",
        exe.dev(),
        exe.ino(),
        exe.size(),
        exe.mtime(),
        exe.mtime_nsec()
    );
    immutable(dir, &name, INIT_PREFIX, exe.size(), &mut |dst| {
        io::copy(&mut File::open(source())?, dst).map(drop)
    })
}

/// The immutable copy of [`STUB`] in `dir`, named by its hash, made if missing.
pub fn immutable_stub(dir: &Path) -> io::Result<OwnedFd> {
    let hash = sha2::Sha256::digest(STUB);
    let hex: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    let name = format!("{STUB_PREFIX}{hex}");
    immutable(dir, &name, STUB_PREFIX, STUB.len() as u64, &mut |dst| {
        dst.write_all(STUB)
    })
}

const INIT_PREFIX: &str = "duckc-init-";
const STUB_PREFIX: &str = "duckc-exec-";

/// The immutable file `dir/name` of `size` bytes that `fill` writes, made if missing; older
/// files named `prefix…` are removed.
///
/// One thread of a process makes a copy at a time: two build steps starting together would
/// otherwise share the temporary file (named by the process), and one could execute the copy
/// while the other still holds it open for writing (`ETXTBSY`).
fn immutable(
    dir: &Path,
    name: &str,
    prefix: &str,
    size: u64,
    fill: &mut dyn FnMut(&mut File) -> io::Result<()>,
) -> io::Result<OwnedFd> {
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    let path = dir.join(name);
    if let Ok(file) = File::open(&path)
        && lock_shared(&file).is_ok()
        && usable(&file, size)
    {
        hold(&file)?;
        return Ok(file.into());
    }
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    remove_stale(dir, prefix, name);
    let tmp: PathBuf = dir.join(format!(".tmp-{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    // Locked before it gets its final name: no other binary's duckc can take it for stale
    // between the rename and our first use.
    let made = {
        let mut dst = File::create(&tmp)?;
        fill(&mut dst)?;
        dst.set_permissions(std::fs::Permissions::from_mode(0o555))?;
        dst.sync_all()?;
        let made = File::open(&tmp)?;
        lock_shared(&made)?;
        made
    };
    // Another duckc may have finished the same copy meanwhile: its immutable file then refuses
    // the rename, and we use it.
    let file = if std::fs::rename(&tmp, &path).is_ok() {
        made
    } else {
        let _ = std::fs::remove_file(&tmp);
        let file = File::open(&path)?;
        lock_shared(&file)?;
        file
    };
    if !usable(&file, size) {
        let f = flags(&file)? | FS_IMMUTABLE_FL;
        // SAFETY: FS_IOC_SETFLAGS reads one long.
        if unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &f) } == -1 {
            return Err(io::Error::last_os_error());
        }
    }
    if !usable(&file, size) {
        return Err(io::Error::other("the copy of the runtime is not immutable"));
    }
    hold(&file)?;
    Ok(file.into())
}

/// A shared lock on `copy`, taken before it is checked: it waits while another duckc holds
/// the exclusive lock to remove the copy, which is then unusable (its immutable flag cleared).
fn lock_shared(copy: &File) -> io::Result<()> {
    Ok(rustix::fs::flock(copy, FlockOperation::LockShared)?)
}

/// Keep `copy`'s shared lock (see [`lock_shared`]) for as long as this process lives, on a
/// descriptor of its own (once per copy): the copy is in use. A detached container's monitor,
/// forked from the process that started it, shares the descriptor and so the lock.
fn hold(copy: &File) -> io::Result<()> {
    static HELD: std::sync::Mutex<Vec<(u64, u64, OwnedFd)>> = std::sync::Mutex::new(Vec::new());
    let meta = copy.metadata()?;
    let mut held = HELD.lock().unwrap_or_else(|e| e.into_inner());
    if !held
        .iter()
        .any(|(dev, ino, _)| (*dev, *ino) == (meta.dev(), meta.ino()))
    {
        held.push((meta.dev(), meta.ino(), copy.as_fd().try_clone_to_owned()?));
    }
    Ok(())
}

/// Remove copies named `prefix…` but `keep` (another binary's) that no live process uses
/// (see [`hold`]), and temporary files that no running process is writing, clearing their
/// immutable flag first.
fn remove_stale(dir: &Path, prefix: &str, keep: &str) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name == keep || !(name.starts_with(prefix) || name.starts_with(".tmp-")) {
            continue;
        }
        if let Some(pid) = name.strip_prefix(".tmp-")
            && writer_alive(pid)
        {
            continue;
        }
        let Ok(file) = File::open(entry.path()) else {
            continue;
        };
        // Held until the file is gone: a duckc that opens it meanwhile waits for its shared
        // lock, then finds the copy unusable and makes its own.
        if name.starts_with(prefix)
            && rustix::fs::flock(&file, FlockOperation::NonBlockingLockExclusive).is_err()
        {
            continue;
        }
        if let Ok(f) = flags(&file) {
            let f = f & !FS_IMMUTABLE_FL;
            // SAFETY: FS_IOC_SETFLAGS reads one long.
            unsafe { libc::ioctl(file.as_raw_fd(), libc::FS_IOC_SETFLAGS, &f) };
        }
        let _ = std::fs::remove_file(entry.path());
    }
}

/// Whether the process that names a temporary copy `.tmp-PID` may still be writing it: the
/// process exists and is not this one (this process removes its own before writing again). A
/// name that is no pid counts as dead: nothing of ours writes it. A pid the kernel gave to
/// another process since only leaves the file until that one ends.
fn writer_alive(pid: &str) -> bool {
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    pid != std::process::id() && Path::new("/proc").join(pid.to_string()).exists()
}
