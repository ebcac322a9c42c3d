//! Registry image names: `host[:port]/path[:tag|@sha256:…]`, and short names (`debian`,
//! `your/duck`) resolved through the host's search registries as Podman resolves them.

use std::path::{Path, PathBuf};

use duckc_store::Digest;

use crate::{Error, Result};

/// A name that says which registry, which repository and which tag or digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `host[:port]`, as written (`localhost:5000`, `127.0.0.1:5000`, `registry.example`).
    pub registry: String,
    /// The repository path inside the registry (`library/debian`, `your/duck`).
    pub repository: String,
    /// The tag (`latest` when neither a tag nor a digest was given).
    pub tag: Option<String>,
    /// The digest, for `name@sha256:…`.
    pub digest: Option<Digest>,
    /// The name the local store keeps the image under (`127.0.0.1:5000/your/duck:v2`,
    /// `debian:latest`): the name normalized as every command normalizes it.
    pub local_name: String,
}

impl Reference {
    /// The tag or digest to ask the registry for.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `registry/repository`, as Docker prints it (`The push refers to repository [...]`).
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }
}

impl std::fmt::Display for Reference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(d) = &self.digest {
            write!(f, "@{d}")
        } else {
            write!(f, ":{}", self.tag.as_deref().unwrap_or("latest"))
        }
    }
}

/// Whether `host` (`host[:port]`) is a loopback address: `localhost`, 127.0.0.0/8 or `[::1]`.
pub fn is_loopback(host: &str) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or("")
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit()))
            .map_or(host, |(h, _)| h)
    };
    if name == "localhost" || name == "::1" {
        return true;
    }
    name.parse::<std::net::Ipv4Addr>()
        .is_ok_and(|a| a.is_loopback())
}

/// The search registries for short names: `$DUCKC_REGISTRY` (comma-separated hosts) when set,
/// else `unqualified-search-registries` of `$CONTAINERS_REGISTRIES_CONF` or
/// `/etc/containers/registries.conf`.
pub fn search_registries() -> Vec<String> {
    if let Ok(v) = std::env::var("DUCKC_REGISTRY")
        && !v.trim().is_empty()
    {
        return v
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect();
    }
    let path = std::env::var_os("CONTAINERS_REGISTRIES_CONF")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/etc/containers/registries.conf"));
    read_search_registries(&path)
}

/// `unqualified-search-registries = ["a", "b"]` from a registries.conf (TOML; the list may
/// span lines). A missing or unreadable file gives none.
fn read_search_registries(path: &Path) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let mut lines = text.lines().map(|l| l.split('#').next().unwrap_or(""));
    let mut value = String::new();
    for line in lines.by_ref() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("unqualified-search-registries")
            && let Some(rest) = rest.trim_start().strip_prefix('=')
        {
            value.push_str(rest);
            break;
        }
        if line.starts_with('[') {
            // Past the top-level table: the key is not there.
            return Vec::new();
        }
    }
    while !value.contains(']') {
        match lines.next() {
            Some(l) => value.push_str(l),
            None => break,
        }
    }
    let inner = value
        .trim()
        .trim_start_matches('[')
        .split(']')
        .next()
        .unwrap_or("");
    inner
        .split(',')
        .map(|s| s.trim().trim_matches(['"', '\'']).to_owned())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Parse `name` into the references to try, in order: one for a name with a registry host,
/// one per search registry for a short name (`library/` added to one-component names).
pub fn parse(name: &str) -> Result<Vec<Reference>> {
    parse_with(name, &search_registries())
}

/// [`parse`] with the search registries given. The name is split by the one normalizer every
/// command uses ([`duckc_image::ImageName`]); only a name that writes no registry goes to the
/// search registries.
pub fn parse_with(name: &str, search: &[String]) -> Result<Vec<Reference>> {
    let parsed = duckc_image::ImageName::parse(name).map_err(|e| match e {
        duckc_image::Error::BadReference(_, why) => Error::BadReference(name.to_owned(), why),
        e => Error::BadReference(name.to_owned(), e.to_string()),
    })?;
    let reference = |registry: &str| Reference {
        registry: registry.to_owned(),
        repository: parsed.repository.clone(),
        tag: parsed.tag.clone(),
        digest: parsed.digest,
        local_name: parsed.familiar(),
    };
    if parsed.explicit_registry {
        return Ok(vec![reference(&parsed.registry)]);
    }
    if search.is_empty() {
        return Err(Error::NoRegistry(name.to_owned()));
    }
    Ok(search.iter().map(|r| reference(r)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_a_host() {
        let r = &parse_with("127.0.0.1:5000/your/duck:v2", &[]).unwrap()[0];
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "your/duck");
        assert_eq!(r.tag.as_deref(), Some("v2"));
        assert_eq!(r.local_name, "127.0.0.1:5000/your/duck:v2");
        let r = &parse_with("localhost/duck", &[]).unwrap()[0];
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "duck")
        );
        assert_eq!(r.reference(), "latest");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = &parse_with(&format!("localhost:5000/duck@{d}"), &[]).unwrap()[0];
        assert_eq!(r.reference(), d);
        assert_eq!(r.tag, None);
    }

    #[test]
    fn short_names_use_search_registries() {
        assert!(matches!(
            parse_with("debian", &[]),
            Err(Error::NoRegistry(_))
        ));
        let regs = vec!["reg.example:5000".to_owned(), "other.example".to_owned()];
        let rs = parse_with("debian:bookworm", &regs).unwrap();
        assert_eq!(rs.len(), 2);
        assert_eq!(rs[0].repository, "library/debian");
        assert_eq!(rs[0].local_name, "debian:bookworm");
        assert_eq!(rs[1].registry, "other.example");
        assert_eq!(
            parse_with("your/duck", &regs).unwrap()[0].repository,
            "your/duck"
        );
    }

    #[test]
    fn bad_names() {
        assert!(parse_with("Duck", &[]).is_err());
        assert!(parse_with("localhost:5000/duck@sha256:zz", &[]).is_err());
        assert!(parse_with("localhost:5000/../x", &[]).is_err());
    }

    #[test]
    fn loopback() {
        for h in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.1.2.3",
            "[::1]:5000",
        ] {
            assert!(is_loopback(h), "{h}");
        }
        for h in ["registry.example", "10.0.0.1:5000", "localhost.example"] {
            assert!(!is_loopback(h), "{h}");
        }
    }

    #[test]
    fn registries_conf() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("registries.conf");
        std::fs::write(
            &p,
            "# comment\nunqualified-search-registries = [\"reg.example\",\n  \"b.example:5000\"]\n[[registry]]\nlocation = \"x\"\n",
        )
        .unwrap();
        assert_eq!(
            read_search_registries(&p),
            ["reg.example", "b.example:5000"]
        );
        std::fs::write(
            &p,
            "[[registry]]\nunqualified-search-registries = [\"x\"]\n",
        )
        .unwrap();
        assert!(read_search_registries(&p).is_empty());
    }
}
