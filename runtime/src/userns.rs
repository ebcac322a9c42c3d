//! Rootless id mapping: the caller's subordinate ids (`/etc/subuid`, `/etc/subgid`) handed to a
//! user namespace through the setuid helpers `newuidmap`/`newgidmap`, as Podman does.
//!
//! A rootless `duckc` enters one user namespace at start ([`enter`], before any thread exists)
//! and does all its work there as root: id 0 is the caller, ids 1..=N are the caller's
//! subordinate ranges in file order. So `chown` in a build step, package files with their
//! owners, layer extraction and the layer writer all see container ids, and the kernel
//! translates them to subordinate host ids on disk: a rootless build writes the same tar
//! bytes (hence digests) as a root build. Without a range only the caller is mapped (to 0);
//! whatever needs another id fails with [`help_text`].
//!
//! Containers get a user namespace of their own nested in that one, with the identity map of
//! its ids (written by the parent, which is root there). The caller on the host owns the outer
//! namespace, so a plain host process of the caller can still signal and `setns` into every
//! container (`stop`, `kill`, `exec` stay outside; the CLI's `stays_on_host` chooses), and
//! files owned by subordinate ids are removed by re-entering ([`remove_tree`]).

use std::io::{self, Read, Write};
use std::path::Path;
use std::process::Command;

use crate::error::{Error, Result};

/// One line of `/etc/subuid` or `/etc/subgid` that belongs to the caller: `count` ids from
/// `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    pub start: u32,
    pub count: u32,
}

/// The ranges `text` (a subuid or subgid file) gives the user `name` with id `id`: lines
/// `NAME:START:COUNT` or `UID:START:COUNT`, in file order (several are allowed). Comments,
/// blank, malformed and empty lines are skipped, as shadow's `newuidmap` does.
pub fn parse_subids(text: &str, name: &str, id: u32) -> Vec<Range> {
    let id = id.to_string();
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let mut f = line.split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || (owner != name && owner != id) {
                return None;
            }
            let start: u32 = start.parse().ok()?;
            let count: u32 = count.parse().ok()?;
            // Ids at or past 2^32-1 cannot be mapped.
            let count = count.min(u32::MAX - start);
            (count > 0).then_some(Range { start, count })
        })
        .collect()
}

/// One line of an id map: `count` ids from `inside` in the namespace are `outside` in its
/// parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// The kernel takes at most this many lines in one id map.
const MAX_EXTENTS: usize = 340;

/// The map of a rootless namespace: 0 is `caller`, then the ranges one after another from 1.
pub fn map_for(caller: u32, ranges: &[Range]) -> Vec<Extent> {
    let mut map = vec![Extent {
        inside: 0,
        outside: caller,
        count: 1,
    }];
    let mut next = 1u32;
    for r in ranges.iter().take(MAX_EXTENTS - 1) {
        let count = r.count.min(crate::user::MAX_ID - next + 1);
        if count == 0 {
            break;
        }
        map.push(Extent {
            inside: next,
            outside: r.start,
            count,
        });
        next += count;
    }
    map
}

/// Parse `/proc/PID/uid_map` text.
pub fn parse_map(text: &str) -> Vec<Extent> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u32>().ok());
            Some(Extent {
                inside: f.next()??,
                outside: f.next()??,
                count: f.next()??,
            })
        })
        .collect()
}

/// Whether `map` is the initial user namespace's (every id is itself).
fn is_initial(map: &[Extent]) -> bool {
    map == [Extent {
        inside: 0,
        outside: 0,
        count: u32::MAX,
    }]
}

fn own_map(file: &str) -> Vec<Extent> {
    parse_map(&std::fs::read_to_string(format!("/proc/self/{file}")).unwrap_or_default())
}

/// Whether this process is root of the initial user namespace (real root, no user namespace).
pub fn host_root() -> bool {
    rustix::process::geteuid().is_root() && is_initial(&own_map("uid_map"))
}

/// Whether `id` (`uid` when `user`, else a gid) has a host id in this process's user namespace.
pub fn mapped(id: u32, user: bool) -> bool {
    own_map(if user { "uid_map" } else { "gid_map" })
        .iter()
        .any(|e| id >= e.inside && id - e.inside < e.count)
}

/// Whether this process is in a user namespace that maps more than one uid and gid: a rootless
/// duckc with subordinate ids (or real root).
pub fn has_subordinate_ids() -> bool {
    [own_map("uid_map"), own_map("gid_map")]
        .iter()
        .all(|m| m.iter().map(|e| u64::from(e.count)).sum::<u64>() > 1)
}

/// What to write into a container's user namespace created by a process that is itself in a
/// user namespace with maps `uids` and `gids`: the same ids, each as itself (`setgroups` first,
/// denied when it is `denied` in ours, since a namespace inherits that).
pub fn nested_maps(uids: &[Extent], gids: &[Extent], denied: bool) -> Vec<(&'static str, String)> {
    let identity = |map: &[Extent]| {
        map.iter()
            .map(|e| format!("{} {} {}\n", e.inside, e.inside, e.count))
            .collect::<String>()
    };
    let mut files = vec![];
    if denied {
        files.push(("setgroups", "deny".to_owned()));
    }
    files.push(("uid_map", identity(uids)));
    files.push(("gid_map", identity(gids)));
    files
}

/// Write the maps of a container's user namespace (the process whose `/proc` directory is
/// `proc_dir`), created by this process: the ids of our own namespace, each as itself, when we
/// are root of a user namespace, as in duckc's rootless one ([`nested_maps`]); only the caller,
/// as root, when we are a plain user.
pub fn map_child(k: &dyn crate::kernel::Kernel, proc_dir: &Path) -> Result<()> {
    let (uids, gids) = (own_map("uid_map"), own_map("gid_map"));
    // A plain user (on the host, or in a namespace someone else made) may map only itself.
    if is_initial(&uids) || !rustix::process::geteuid().is_root() {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        return crate::rootfs::map_caller(k, proc_dir, uid, gid);
    }
    for (file, data) in nested_maps(&uids, &gids, !setgroups_allowed()) {
        let path = proc_dir.join(file);
        k.write_file(&path, &data).map_err(|source| Error::Kernel {
            what: format!("cannot write `{}`", path.display()),
            source,
        })?;
    }
    Ok(())
}

/// Whether `setgroups(2)` is allowed in this process's user namespace.
pub fn setgroups_allowed() -> bool {
    std::fs::read_to_string("/proc/self/setgroups").map_or(true, |s| s.trim() != "deny")
}

/// Who the caller is, for the subordinate id files and the help text.
#[derive(Clone, Debug)]
pub struct Caller {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl Caller {
    /// This process's real user on the host, named from `/etc/passwd` (the uid itself when it
    /// has no entry); in a user namespace, the host ids its root stands for.
    pub fn current() -> Caller {
        let host = |file: &str, own: u32| {
            let map = own_map(file);
            if is_initial(&map) {
                return own;
            }
            map.iter()
                .find(|e| e.inside == 0)
                .map_or(own, |e| e.outside)
        };
        let uid = host("uid_map", rustix::process::getuid().as_raw());
        let gid = host("gid_map", rustix::process::getgid().as_raw());
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        let name = passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 3 && f[2] == uid.to_string()).then(|| f[0].to_owned())
            })
            .unwrap_or_else(|| uid.to_string());
        Caller { name, uid, gid }
    }
}

/// What to add so that a rootless duckc gets subordinate ids.
pub fn help_text(name: &str) -> String {
    format!(
        "add a line \"{name}:100000:65536\" to /etc/subuid and /etc/subgid (as root: `usermod --add-subuids 100000-165535 --add-subgids 100000-165535 {name}`), with a range no other user has; package `uidmap` provides newuidmap and newgidmap"
    )
}

/// The help for a rootless process that lacks subordinate ids; `None` when it has them (or is
/// real root).
pub fn missing_ids_help() -> Option<String> {
    if host_root() || has_subordinate_ids() {
        return None;
    }
    let help = help_text(&Caller::current().name);
    Some(match NO_IDS.get() {
        Some(why) => format!("{help} ({why})"),
        None => help,
    })
}

/// Why [`enter`] mapped only the caller.
static NO_IDS: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// How [`enter`] left this process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Entered {
    /// Nothing done: real root, or already in a user namespace.
    Unchanged,
    /// Root of a new namespace with the caller and its subordinate ids.
    Subordinate,
    /// Root of a new namespace with only the caller; why there are no other ids.
    CallerOnly(String),
}

/// The setuid helpers, where `uidmap` installs them.
const NEWUIDMAP: &str = "newuidmap";
const NEWGIDMAP: &str = "newgidmap";

/// Enter duckc's rootless user namespace: unshare one, have a forked helper map it (the caller
/// and its subordinate ranges, through `newuidmap`/`newgidmap`, which need our pid and must
/// run outside), and become its root. Without subordinate ranges (or without the helpers)
/// the caller alone is mapped. Must be called before any thread starts.
pub fn enter() -> Result<Entered> {
    if rustix::process::geteuid().is_root() || !is_initial(&own_map("uid_map")) {
        return Ok(Entered::Unchanged);
    }
    let caller = Caller::current();
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let uids = parse_subids(&read("/etc/subuid"), &caller.name, caller.uid);
    // A subgid line names the user too (its name or uid), as shadow reads it.
    let gids = parse_subids(&read("/etc/subgid"), &caller.name, caller.uid);
    let outcome = if uids.is_empty() || gids.is_empty() {
        Err(format!(
            "`{}` has no subordinate {} ids",
            caller.name,
            if uids.is_empty() { "user" } else { "group" }
        ))
    } else {
        Ok((map_for(caller.uid, &uids), map_for(caller.gid, &gids)))
    };
    let (go_read, go_write) = pipe()?;
    let (done_read, done_write) = pipe()?;
    let parent = rustix::process::getpid().as_raw_nonzero().get();
    let helper = match &outcome {
        Ok(maps) => {
            // SAFETY: the caller is single-threaded (the start of main); the child runs plain
            // Rust code and leaves with `_exit`.
            let pid = unsafe { libc::fork() };
            if pid < 0 {
                return Err(kernel("cannot fork", io::Error::last_os_error()));
            }
            if pid == 0 {
                drop(go_write);
                drop(done_read);
                let mut byte = [0u8];
                let report = match std::fs::File::from(go_read).read_exact(&mut byte) {
                    Ok(()) => run_helpers(parent, maps),
                    Err(_) => Err("duckc stopped before its namespace was made".into()),
                };
                let text = report.err().unwrap_or_default();
                let _ = std::fs::File::from(done_write).write_all(text.as_bytes());
                // SAFETY: leave without running the parent's destructors.
                unsafe { libc::_exit(0) };
            }
            Some(pid)
        }
        Err(_) => None,
    };
    drop(go_read);
    drop(done_write);
    // SAFETY: unshare with a flag; this process is single-threaded.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } != 0 {
        let e = io::Error::last_os_error();
        if let Some(pid) = helper {
            drop(go_write);
            let _ = crate::process::wait_code(pid);
        }
        return Err(Error::NoUserNamespaces(format!(
            "cannot create a user namespace ({e}); running without root needs them"
        )));
    }
    let result = match helper {
        Some(pid) => {
            let _ = std::fs::File::from(go_write).write_all(&[1]);
            let mut report = String::new();
            let _ = std::fs::File::from(done_read).read_to_string(&mut report);
            let _ = crate::process::wait_code(pid);
            if report.is_empty() {
                Entered::Subordinate
            } else {
                map_self(&caller)?;
                Entered::CallerOnly(report)
            }
        }
        None => {
            map_self(&caller)?;
            Entered::CallerOnly(outcome.err().unwrap_or_default())
        }
    };
    if let Entered::CallerOnly(why) = &result {
        let _ = NO_IDS.set(why.clone());
    }
    // Root of the new namespace: the kernel gave this process every capability in it.
    // SAFETY: plain system calls with integer arguments.
    unsafe {
        if libc::setresgid(0, 0, 0) != 0 || libc::setresuid(0, 0, 0) != 0 {
            return Err(kernel(
                "cannot become root in the user namespace",
                io::Error::last_os_error(),
            ));
        }
    }
    Ok(result)
}

/// Map only the caller (to root): what an unprivileged process may write itself.
fn map_self(caller: &Caller) -> Result<()> {
    for (file, data) in [
        ("setgroups", "deny".to_owned()),
        ("uid_map", format!("0 {} 1\n", caller.uid)),
        ("gid_map", format!("0 {} 1\n", caller.gid)),
    ] {
        std::fs::write(format!("/proc/self/{file}"), data)
            .map_err(|e| kernel(&format!("cannot write /proc/self/{file}"), e))?;
    }
    Ok(())
}

/// Run `newuidmap`/`newgidmap` on `pid` with `maps`; the error text on failure.
fn run_helpers(pid: i32, maps: &(Vec<Extent>, Vec<Extent>)) -> std::result::Result<(), String> {
    for (helper, map) in [(NEWUIDMAP, &maps.0), (NEWGIDMAP, &maps.1)] {
        let mut cmd = Command::new(helper);
        cmd.arg(pid.to_string());
        for e in map {
            cmd.args([e.inside, e.outside, e.count].map(|n| n.to_string()));
        }
        let out = cmd
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{helper}` ({e}); install package `uidmap`"))?;
        if !out.status.success() {
            return Err(format!(
                "`{helper}` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

fn pipe() -> Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(|e| kernel("cannot create a pipe", e.into()))
}

fn kernel(what: &str, source: io::Error) -> Error {
    Error::Kernel {
        what: what.to_owned(),
        source,
    }
}

/// Remove `path` and everything under it. Files that subordinate ids own (a container's upper
/// directory, a snapshot) may be out of a host process's reach: then the removal runs again in
/// a fresh rootless namespace (`duckc unshare rm -rf`), where they belong to mapped ids.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let first = match std::fs::remove_dir_all(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        other => other,
    };
    let Err(e) = first else { return Ok(()) };
    if rustix::process::geteuid().is_root() || !is_initial(&own_map("uid_map")) {
        return Err(e);
    }
    let exe = std::env::current_exe()?;
    let status = Command::new(exe)
        .args(["unshare", "rm", "-rf", "--"])
        .arg(path)
        .stdin(std::process::Stdio::null())
        .status()?;
    if status.success() && std::fs::symlink_metadata(path).is_err() {
        Ok(())
    } else {
        Err(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subid_files() {
        let text = "# comment\nalice:100000:65536\n1001:300000:10\nbob:200000:65536\nalice:500000:1000\nalice:bad:1\nalice:1:0\nalice:7:8:9\n\n";
        insta::assert_debug_snapshot!((
            parse_subids(text, "alice", 1001),
            parse_subids(text, "bob", 1002),
            parse_subids(text, "carol", 1003),
        ), @r"
        (
            [
                Range {
                    start: 100000,
                    count: 65536,
                },
                Range {
                    start: 300000,
                    count: 10,
                },
                Range {
                    start: 500000,
                    count: 1000,
                },
            ],
            [
                Range {
                    start: 200000,
                    count: 65536,
                },
            ],
            [],
        )
        ");
    }

    #[test]
    fn maps() {
        let ranges = [
            Range {
                start: 100000,
                count: 65536,
            },
            Range {
                start: 300000,
                count: 10,
            },
        ];
        let show = |m: Vec<Extent>| {
            m.iter()
                .map(|e| format!("{} {} {}", e.inside, e.outside, e.count))
                .collect::<Vec<_>>()
                .join("\n")
        };
        insta::assert_snapshot!(show(map_for(1000, &ranges)), @r"
        0 1000 1
        1 100000 65536
        65537 300000 10
        ");
        insta::assert_snapshot!(show(map_for(1000, &[])), @"0 1000 1");
        let nested = nested_maps(&map_for(1000, &ranges), &map_for(1000, &[]), true);
        insta::assert_debug_snapshot!(nested, @r#"
        [
            (
                "setgroups",
                "deny",
            ),
            (
                "uid_map",
                "0 0 1\n1 1 65536\n65537 65537 10\n",
            ),
            (
                "gid_map",
                "0 0 1\n",
            ),
        ]
        "#);
        assert!(is_initial(&parse_map("         0          0 4294967295\n")));
        assert!(!is_initial(&parse_map("0 1000 1\n1 100000 65536\n")));
    }
}
