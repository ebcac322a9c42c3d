//! Remote hosts: `ssh://[user@]host[:port]` addresses and the named hosts kept in
//! `$XDG_CONFIG_HOME/duckc/hosts.json` (`duckc host add/ls/rm`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use miette::miette;
use serde::{Deserialize, Serialize};

/// Where a remote duckc runs: an ssh destination and how to call duckc there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// What the user named it (`robot` or `ssh://duck@robot.local`), for messages.
    pub label: String,
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// The duckc binary on the remote (default: `duckc` on the remote PATH).
    pub duckc: String,
    /// The remote store, passed as `--store` (default: the remote user's default store).
    pub store: Option<String>,
}

/// One entry of `hosts.json`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Entry {
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duckc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    hosts: BTreeMap<String, Entry>,
}

/// `ssh://[user@]host[:port]` (a trailing `/` allowed) → (user, host, port).
pub fn parse_url(url: &str) -> miette::Result<(Option<String>, String, Option<u16>)> {
    let bad = |why: &str| {
        miette!(
            help = "write the host as `ssh://[USER@]HOST[:PORT]`, as in `ssh://duck@robot.local`",
            "invalid host `{url}`: {why}"
        )
    };
    let Some(rest) = url.strip_prefix("ssh://") else {
        return Err(bad("duckc reaches other machines only over ssh"));
    };
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (user, hostport) = match rest.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, rest),
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("no `]` after an IPv6 address"))?;
        match after.strip_prefix(':') {
            Some(p) => (h, Some(p)),
            None if after.is_empty() => (h, None),
            None => return Err(bad("unexpected text after `]`")),
        }
    } else {
        match hostport.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    let port = match port {
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| bad("the port is not a number from 1 to 65535"))?,
        ),
        None => None,
    };
    // ssh must never read a host or user as an option, and the names go into argv only.
    let plain = |s: &str| {
        !s.is_empty()
            && !s.starts_with('-')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._:%".contains(&b))
    };
    if !plain(host) {
        return Err(bad("the host name has characters ssh does not accept"));
    }
    if let Some(u) = user
        && !plain(u)
    {
        return Err(bad("the user name has characters ssh does not accept"));
    }
    Ok((user.map(str::to_owned), host.to_owned(), port))
}

/// `$XDG_CONFIG_HOME/duckc/hosts.json`, else `~/.config/duckc/hosts.json`.
pub fn config_path() -> PathBuf {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".config")
        });
    base.join("duckc").join("hosts.json")
}

fn read() -> miette::Result<File> {
    let path = config_path();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            miette!(
                help = format!("fix or remove {}", path.display()),
                "cannot read the hosts file {}: {e}",
                path.display()
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
        Err(e) => Err(miette!(
            help = "check the file's permissions",
            "cannot read the hosts file {}: {e}",
            path.display()
        )),
    }
}

fn write(file: &File) -> miette::Result<()> {
    let path = config_path();
    let fail = |e: std::io::Error| {
        miette!(
            help = "check that the directory is writable (or set XDG_CONFIG_HOME)",
            "cannot write the hosts file {}: {e}",
            path.display()
        )
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_extension("json.tmp");
    let mut bytes = serde_json::to_vec_pretty(file).expect("hosts serialise");
    bytes.push(b'\n');
    std::fs::write(&tmp, bytes).map_err(fail)?;
    std::fs::rename(&tmp, &path).map_err(fail)
}

/// The named hosts, by name.
pub fn list() -> miette::Result<BTreeMap<String, Entry>> {
    Ok(read()?.hosts)
}

/// Add (or replace) a named host.
pub fn add(name: &str, entry: Entry) -> miette::Result<()> {
    if name.is_empty()
        || name.contains("://")
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
    {
        return Err(miette!(
            help = "a host name is letters, digits, `-`, `_` and `.`, as in `robot`",
            "invalid host name `{name}`"
        ));
    }
    parse_url(&entry.url)?;
    let mut file = read()?;
    file.hosts.insert(name.to_owned(), entry);
    write(&file)
}

/// Remove a named host; false when there was none.
pub fn remove(name: &str) -> miette::Result<bool> {
    let mut file = read()?;
    let had = file.hosts.remove(name).is_some();
    if had {
        write(&file)?;
    }
    Ok(had)
}

/// Resolve `-H VALUE`: a named host, or an `ssh://` address.
pub fn resolve(value: &str) -> miette::Result<Host> {
    let (entry, label) = if value.contains("://") {
        (
            Entry {
                url: value.to_owned(),
                duckc: None,
                store: None,
            },
            value.to_owned(),
        )
    } else {
        let hosts = list()?;
        let Some(entry) = hosts.get(value) else {
            return Err(miette!(
                help = format!(
                    "add it with `duckc host add {value} ssh://USER@HOST`, or pass an address \
                     as `-H ssh://USER@HOST[:PORT]`"
                ),
                "unknown host `{value}`"
            ));
        };
        (entry.clone(), value.to_owned())
    };
    let (user, host, port) = parse_url(&entry.url)?;
    Ok(Host {
        label,
        user,
        host,
        port,
        duckc: entry.duckc.unwrap_or_else(|| "duckc".to_owned()),
        store: entry.store,
    })
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("ssh://duck@robot.local:2222").unwrap(),
            (Some("duck".into()), "robot.local".into(), Some(2222))
        );
        assert_eq!(
            parse_url("ssh://[::1]:22/").unwrap(),
            (None, "::1".into(), Some(22))
        );
        assert_eq!(
            parse_url("ssh://robot").unwrap(),
            (None, "robot".into(), None)
        );
        for bad in [
            "tcp://robot",
            "ssh://-oProxyCommand=x",
            "ssh://a b",
            "ssh://robot:0",
            "ssh://robot:x",
            "ssh://$(id)@robot",
            "ssh://",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
