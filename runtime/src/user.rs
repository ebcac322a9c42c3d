//! Resolve `-u user[:group]` against the image's `/etc/passwd` and `/etc/group`.
//!
//! Ids above 2^31-1 are refused wherever they come from (`-u`, the image's `USER`, its passwd
//! and group files, `chown=`): `4294967295` is `(uid_t)-1`, which `setresuid`, `setresgid`
//! and `chown` read as "leave unchanged", so a container asking to run as it would go on as
//! root; the kernel's own id maps and Docker stop at 2^31-1 too.

use crate::error::{Error, Result};

/// Who the container process runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    /// Supplementary groups (the primary group first, as Docker sets them).
    pub groups: Vec<u32>,
    /// The home directory from passwd, for `HOME`.
    pub home: String,
}

/// The largest user or group id accepted.
pub const MAX_ID: u32 = i32::MAX as u32;

/// `id` when it is at most [`MAX_ID`].
pub fn check_id(id: u64) -> Result<u32> {
    u32::try_from(id)
        .ok()
        .filter(|id| *id <= MAX_ID)
        .ok_or_else(|| Error::IdOutOfRange(id.to_string()))
}

/// A numeric id as written (all digits), checked against [`MAX_ID`]; `None` for a name.
fn numeric(text: &str) -> Option<Result<u32>> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(
        text.parse::<u64>()
            .map_or_else(|_| Err(Error::IdOutOfRange(text.to_owned())), check_id),
    )
}

/// Check the numeric parts of `spec` (`uid`, `uid:gid`, `name:gid`) without the image's files:
/// the early check of `-u` and of an image's `USER`.
pub fn check_spec(spec: &str) -> Result<()> {
    let (user, group) = spec.split_once(':').unwrap_or((spec, ""));
    for part in [user, group] {
        if let Some(r) = numeric(part) {
            r?;
        }
    }
    Ok(())
}

/// Resolve `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) with the image's passwd and
/// group files (empty text when the image has none).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "root" } else { user };
    check_spec(spec)?;
    let entry = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let uid: u64 = f[2].parse().ok()?;
        let gid: u64 = f[3].parse().ok()?;
        (f[0] == user || f[2] == user).then(|| (f[0].to_owned(), uid, gid, f[5].to_owned()))
    });
    let entry = match entry {
        Some((name, uid, gid, home)) => Some((name, check_id(uid)?, check_id(gid)?, home)),
        None => None,
    };
    let (name, uid, mut gid, home) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => e,
        (None, Ok(uid)) => (String::new(), uid, 0, "/".to_owned()),
        (None, Err(_)) if user == "root" => ("root".to_owned(), 0, 0, "/root".to_owned()),
        (None, Err(_)) => return Err(Error::UnknownUser(user.to_owned())),
    };
    let groups_file: Vec<(String, u64, Vec<String>)> = group
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            let members = f[3]
                .split(',')
                .filter(|m| !m.is_empty())
                .map(str::to_owned)
                .collect();
            Some((f[0].to_owned(), f[2].parse::<u64>().ok()?, members))
        })
        .collect();
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups_file
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, id, _)| check_id(*id))
                .ok_or_else(|| Error::UnknownGroup(g.to_owned()))??,
        };
    }
    let mut groups = vec![gid];
    if grp.is_none() && !name.is_empty() {
        for (_, id, members) in &groups_file {
            if !members.contains(&name) {
                continue;
            }
            let id = check_id(*id)?;
            if !groups.contains(&id) {
                groups.push(id);
            }
        }
    }
    Ok(Identity {
        uid,
        gid,
        groups,
        home,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nduck:x:1000:1000::/home/duck:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nduck:x:1000:\nvideo:x:44:duck,other\n";

    fn check(spec: &str) -> String {
        match resolve(spec, PASSWD, GROUP) {
            Ok(id) => format!("{}:{} {:?} {}", id.uid, id.gid, id.groups, id.home),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn forms() {
        insta::assert_snapshot!(
            ["", "root", "duck", "1000", "duck:video", "1000:44", "4242", "4242:7", "nobody", "duck:nogroup", "4294967295", "0:4294967295", "2147483648", "99999999999999999999", "2147483647"]
                .map(|s| format!("{s:?} => {}", check(s)))
                .join("\n"),
            @r#"
        "" => 0:0 [0] /root
        "root" => 0:0 [0] /root
        "duck" => 1000:1000 [1000, 44] /home/duck
        "1000" => 1000:1000 [1000, 44] /home/duck
        "duck:video" => 1000:44 [44] /home/duck
        "1000:44" => 1000:44 [44] /home/duck
        "4242" => 4242:0 [0] /
        "4242:7" => 4242:7 [7] /
        "nobody" => user `nobody` not found in the image's /etc/passwd
        "duck:nogroup" => group `nogroup` not found in the image's /etc/group
        "4294967295" => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        "0:4294967295" => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        "2147483648" => user or group id `2147483648` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        "99999999999999999999" => user or group id `99999999999999999999` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        "2147483647" => 2147483647:0 [0] /
        "#
        );
    }

    #[test]
    fn ids_from_the_image_files_are_bounded() {
        let passwd = "evil:x:4294967295:0::/:/bin/sh\nhalf:x:1:4294967295::/:/bin/sh\nok:x:5:5::/:/bin/sh\nmember:x:6:6::/:/bin/sh\n";
        let group = "big:x:4294967295:member\n";
        let r = |spec| match resolve(spec, passwd, group) {
            Ok(id) => format!("{}:{} {:?}", id.uid, id.gid, id.groups),
            Err(e) => e.to_string(),
        };
        insta::assert_snapshot!(
            ["evil", "half", "ok", "ok:big", "member"]
                .map(|s| format!("{s} => {}", r(s)))
                .join("\n"),
            @r#"
        evil => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        half => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        ok => 5:5 [5]
        ok:big => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        member => user or group id `4294967295` is out of range: ids above 2147483647 are refused (4294967295 means "unchanged" to the kernel and would keep root)
        "#
        );
    }
}
