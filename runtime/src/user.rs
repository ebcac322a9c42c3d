//! Resolve `-u user[:group]` against the image's `/etc/passwd` and `/etc/group`.

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

/// Resolve `spec` (`""`, `name`, `uid`, `name:group`, `uid:gid`) with the image's passwd and
/// group files (empty text when the image has none).
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<Identity> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user = if user.is_empty() { "root" } else { user };
    let entry = passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() < 7 {
            return None;
        }
        let uid: u32 = f[2].parse().ok()?;
        let gid: u32 = f[3].parse().ok()?;
        (f[0] == user || f[2] == user).then(|| (f[0].to_owned(), uid, gid, f[5].to_owned()))
    });
    let (name, uid, mut gid, home) = match (entry, user.parse::<u32>()) {
        (Some(e), _) => e,
        (None, Ok(uid)) => (String::new(), uid, 0, "/".to_owned()),
        (None, Err(_)) if user == "root" => ("root".to_owned(), 0, 0, "/root".to_owned()),
        (None, Err(_)) => return Err(Error::UnknownUser(user.to_owned())),
    };
    let groups_file: Vec<(String, u32, Vec<String>)> = group
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
            Some((f[0].to_owned(), f[2].parse().ok()?, members))
        })
        .collect();
    if let Some(g) = grp {
        gid = match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => groups_file
                .iter()
                .find(|(n, _, _)| n == g)
                .map(|(_, id, _)| *id)
                .ok_or_else(|| Error::UnknownGroup(g.to_owned()))?,
        };
    }
    let mut groups = vec![gid];
    if grp.is_none() && !name.is_empty() {
        for (_, id, members) in &groups_file {
            if members.contains(&name) && !groups.contains(id) {
                groups.push(*id);
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
            ["", "root", "duck", "1000", "duck:video", "1000:44", "4242", "4242:7", "nobody", "duck:nogroup"]
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
        "#
        );
    }
}
