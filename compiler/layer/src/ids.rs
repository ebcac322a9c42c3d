//! Who this process is to the file system: real root, or root of a user namespace (a rootless
//! duckc, see `duckc_runtime::userns`), which decides what extraction can set.

/// `(inside, outside, count)` lines of this process's `/proc/self/{uid,gid}_map`.
fn own_map(file: &str) -> Vec<[u64; 3]> {
    std::fs::read_to_string(format!("/proc/self/{file}"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|n| n.parse::<u64>().ok());
            Some([f.next()??, f.next()??, f.next()??])
        })
        .collect()
}

/// Whether this process is root of the initial user namespace: it may make device nodes and
/// set `trusted.*` xattrs.
pub fn host_root() -> bool {
    rustix::process::geteuid().is_root() && own_map("uid_map") == [[0, 0, u64::from(u32::MAX)]]
}

/// Whether this process may give files any owner a layer names: real root, or root of a user
/// namespace that maps more than one uid and gid (a rootless duckc with subordinate ids).
/// Root of a namespace with only the caller mapped leaves files to itself, as a plain user
/// does.
pub fn can_chown() -> bool {
    rustix::process::geteuid().is_root()
        && ["uid_map", "gid_map"]
            .iter()
            .all(|f| own_map(f).iter().map(|e| e[2]).sum::<u64>() > 1)
}
