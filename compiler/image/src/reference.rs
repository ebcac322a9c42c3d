//! Image references: `name[:tag]`, `name@sha256:…`, full or short image IDs.
//!
//! Names are normalized here, once, for every command (`images`, `tag`, `rmi`, `run`,
//! `inspect`, `save`/`load`, a build's `FROM`/`from`, the registry client), as Docker's
//! reference library normalizes them: a name without a registry host is on Docker Hub, where a
//! one-component name is under `library/`, so `debian`, `library/debian` and Docker Hub's fully
//! qualified form are one name; `localhost:5000/x` (a host: it has a `.` or a `:`, or is
//! `localhost`) is not Docker Hub. The store keeps the short ("familiar") form Docker prints:
//! `debian:latest`, `your/duck:v3`, `localhost:5000/x:latest`. Tags stored by older versions
//! under another spelling of the same name are still found, and replaced when the name is
//! tagged again.

use duckc_store::{Refs, Store};

use crate::{Digest, Error, Image, Result};

/// Docker Hub's registry domain: the registry of every name that names no host.
pub const DOCKER_HUB: &str = "docker.io";

/// An image name split as Docker's reference library splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageName {
    /// The registry host (`localhost:5000`), [`DOCKER_HUB`] for a name that names none.
    pub registry: String,
    /// Whether the name wrote its registry (`localhost:5000/x`, Docker Hub's qualified form)
    /// rather than implying Docker Hub (`debian`, `library/debian`, `your/duck`).
    pub explicit_registry: bool,
    /// The repository in the registry: `library/debian`, `your/duck`.
    pub repository: String,
    /// The tag; `latest` when the name gives neither a tag nor a digest.
    pub tag: Option<String>,
    /// The digest of `name@sha256:…`.
    pub digest: Option<Digest>,
}

impl ImageName {
    /// Parses `NAME[:TAG][@sha256:HEX]`.
    pub fn parse(reference: &str) -> Result<ImageName> {
        let bad = |why: &str| Error::BadReference(reference.to_owned(), why.to_owned());
        let (rest, digest) = match reference.split_once('@') {
            Some((rest, d)) => (
                rest,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| bad("the digest is not `sha256:` and 64 hex digits"))?,
                ),
            ),
            None => (reference, None),
        };
        let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[last_slash..].rfind(':') {
            Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("the name is empty"));
        }
        if let Some(tag) = tag
            && (tag.is_empty()
                || tag.len() > 128
                || !tag
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
                || tag.starts_with(['.', '-']))
        {
            return Err(bad(
                "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
            ));
        }
        let (first, remainder) = name.split_once('/').unwrap_or(("", name));
        let has_host = !first.is_empty() && is_host(first);
        let (registry, path) = if has_host {
            (first, remainder)
        } else {
            (DOCKER_HUB, name)
        };
        if has_host
            && !(registry.as_bytes()[0].is_ascii_alphanumeric()
                && registry.as_bytes()[registry.len() - 1].is_ascii_alphanumeric()
                && registry
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b)))
        {
            return Err(bad(
                "a registry host is letters, digits, `.`, `-` and a `:port`",
            ));
        }
        let ok_component = |part: &str| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
        };
        if !path.split('/').all(ok_component) {
            return Err(bad(
                "a name is lowercase letters, digits and separators (`.`, `_`, `-`, `/`)",
            ));
        }
        // Docker's legacy spelling of Docker Hub's domain is the same registry.
        let registry = if registry == format!("index.{DOCKER_HUB}") {
            DOCKER_HUB
        } else {
            registry
        };
        let repository = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path.to_owned()
        };
        Ok(ImageName {
            registry: registry.to_owned(),
            explicit_registry: has_host,
            repository,
            tag: match (tag, digest) {
                (Some(t), _) => Some(t.to_owned()),
                (None, Some(_)) => None,
                (None, None) => Some("latest".to_owned()),
            },
            digest,
        })
    }

    /// Whether the name is on Docker Hub.
    pub fn is_docker_hub(&self) -> bool {
        self.registry == DOCKER_HUB
    }

    /// The repository as Docker prints it: Docker Hub's domain and its `library/` left out
    /// (`debian`, `your/duck`, `localhost:5000/x`).
    pub fn familiar_repository(&self) -> String {
        if self.is_docker_hub() {
            match self.repository.strip_prefix("library/") {
                Some(short) if !short.contains('/') => short.to_owned(),
                _ => self.repository.clone(),
            }
        } else {
            format!("{}/{}", self.registry, self.repository)
        }
    }

    /// `familiar_repository:tag`, the form the store keeps tags under.
    pub fn familiar(&self) -> String {
        format!(
            "{}:{}",
            self.familiar_repository(),
            self.tag.as_deref().unwrap_or("latest")
        )
    }

    /// Other spellings of the same tag that older stores may hold (`library/debian:latest`,
    /// the qualified form, Docker Hub's domain without `library/`).
    fn legacy_spellings(&self) -> Vec<String> {
        if !self.is_docker_hub() {
            return Vec::new();
        }
        let tag = self.tag.as_deref().unwrap_or("latest");
        let familiar = self.familiar_repository();
        let mut out = vec![
            format!("{}:{tag}", self.repository),
            format!("{DOCKER_HUB}/{}:{tag}", self.repository),
            format!("{DOCKER_HUB}/{familiar}:{tag}"),
        ];
        let canonical = self.familiar();
        out.retain(|s| *s != canonical);
        out.dedup();
        out
    }
}

/// Whether the first component of a name is a registry host, as Docker decides it: it has a
/// `.` or a `:`, or it is `localhost`.
pub fn is_host(part: &str) -> bool {
    part.contains('.') || part.contains(':') || part == "localhost"
}

/// Check a `name[:tag]` reference and give the name the store keeps its tag under: normalized
/// as Docker does (`library/debian` and Docker Hub's qualified form are `debian`), `:latest`
/// added when it has no tag. A digest is not a tag: `name@sha256:…` is refused.
pub fn normalize_name(reference: &str) -> Result<String> {
    if reference.contains('@') {
        return Err(Error::BadReference(
            reference.to_owned(),
            "a tag cannot hold a digest; write `name[:tag]`".to_owned(),
        ));
    }
    Ok(ImageName::parse(reference)?.familiar())
}

/// The key `refs` holds the tag `reference` (`name[:tag]`) under: its normalized form, else a
/// spelling an older store kept it under, else (for podman's spelling of local images) the
/// name with or without `localhost/`.
pub fn stored_tag(refs: &Refs, reference: &str) -> Option<String> {
    let name = ImageName::parse(reference)
        .ok()
        .filter(|n| n.digest.is_none())?;
    let canonical = name.familiar();
    let mut candidates = vec![canonical.clone()];
    candidates.extend(name.legacy_spellings());
    match canonical.strip_prefix("localhost/") {
        Some(rest) => candidates.extend(normalize_name(rest).ok()),
        None if name.is_docker_hub() => candidates.push(format!("localhost/{canonical}")),
        None => {}
    }
    candidates.into_iter().find(|c| refs.tags.contains_key(c))
}

/// Points the tag `name` (normalized already) at `digest` in `refs`, dropping the spellings of
/// the same name an older store may hold, so one name is one tag.
pub fn set_tag(refs: &mut Refs, name: &str, digest: Digest) {
    if let Ok(parsed) = ImageName::parse(name) {
        for old in parsed.legacy_spellings() {
            refs.tags.remove(&old);
        }
    }
    refs.tags.insert(name.to_owned(), digest);
}

/// The tags of `digest` as Docker prints them (normalized, sorted), each once: a legacy
/// spelling shows under its normalized name unless that name is another image's.
pub fn repo_tags(refs: &Refs, digest: &Digest) -> Vec<String> {
    let mut out: Vec<String> = refs
        .tags_of(digest)
        .into_iter()
        .filter_map(|stored| match normalize_name(stored) {
            Ok(name) => (stored_tag(refs, &name).as_deref() == Some(stored)).then_some(name),
            // Not a name this version writes: shown as stored.
            Err(_) => Some(stored.to_owned()),
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The name to record for `image` when it was asked for as `reference` (save, export): the
/// tag `reference` names when that is `image`'s, else the image's first tag.
pub fn name_for(refs: &Refs, reference: &str, image: &Image) -> Option<String> {
    stored_tag(refs, reference)
        .filter(|t| refs.tags.get(t) == Some(&image.digest))
        .and_then(|t| normalize_name(&t).ok())
        .or_else(|| repo_tags(refs, &image.digest).into_iter().next())
}

/// Find the image `reference` names: `name[:tag]` (also `localhost/name:tag`),
/// `name@sha256:…`, `sha256:…` (image id or manifest digest), or a unique prefix of an image id.
pub fn resolve(store: &Store, reference: &str) -> Result<Image> {
    let refs = store.refs()?;
    let not_found = || Error::NotFound(reference.to_owned());
    if let Some((_, digest)) = reference.split_once('@') {
        let d: Digest = digest.parse().map_err(|_| {
            Error::BadReference(
                reference.to_owned(),
                "the digest is not `sha256:` and 64 hex digits".into(),
            )
        })?;
        return if refs.images.contains_key(&d) {
            Image::read(store, &d)
        } else {
            Err(not_found())
        };
    }
    if let Some(d) = stored_tag(&refs, reference).and_then(|t| refs.tags.get(&t)) {
        return Image::read(store, d);
    }
    let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
    if hex.is_empty()
        || hex.len() > 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(not_found());
    }
    let mut found: Option<Image> = None;
    for d in refs.images.keys() {
        if d.hex() == hex {
            return Image::read(store, d);
        }
        let Ok(image) = Image::read(store, d) else {
            continue;
        };
        if image.config_digest.hex().starts_with(hex) {
            if found
                .as_ref()
                .is_some_and(|f| f.config_digest != image.config_digest)
            {
                return Err(Error::Ambiguous(reference.to_owned()));
            }
            found = Some(image);
        }
    }
    found.ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_normalise() {
        assert_eq!(normalize_name("busybox").unwrap(), "busybox:latest");
        assert_eq!(normalize_name("your/duck:v3").unwrap(), "your/duck:v3");
        assert_eq!(
            normalize_name("localhost:5000/duck").unwrap(),
            "localhost:5000/duck:latest"
        );
        assert_eq!(
            normalize_name("localhost/busybox:1.36").unwrap(),
            "localhost/busybox:1.36"
        );
        assert!(normalize_name("Busybox").is_err());
        assert!(normalize_name("a:").is_err());
        assert!(normalize_name("a:b:c").is_err());
        assert!(normalize_name("../x").is_err());
        assert!(normalize_name(&format!("duck@sha256:{}", "a".repeat(64))).is_err());
    }

    #[test]
    fn docker_hub_names_are_one_name() {
        let hub = |p: &str| p.replace("HUB", DOCKER_HUB);
        for spelling in [
            "debian",
            "library/debian",
            "HUB/library/debian",
            "HUB/debian",
            "index.HUB/library/debian",
            "debian:latest",
        ] {
            assert_eq!(
                normalize_name(&hub(spelling)).unwrap(),
                "debian:latest",
                "{spelling}"
            );
            let n = ImageName::parse(&hub(spelling)).unwrap();
            assert_eq!(n.repository, "library/debian");
            assert!(n.is_docker_hub());
        }
        assert_eq!(
            normalize_name(&hub("HUB/your/duck:v3")).unwrap(),
            "your/duck:v3"
        );
        // `library/` is dropped only before a last component, as Docker prints names.
        assert_eq!(normalize_name("library/a/b").unwrap(), "library/a/b:latest");
        // A host is not Docker Hub, and keeps its path as written.
        for (name, registry, repository) in [
            ("localhost:5000/x", "localhost:5000", "x"),
            ("localhost/x", "localhost", "x"),
            ("reg.example/library/x", "reg.example", "library/x"),
        ] {
            let n = ImageName::parse(name).unwrap();
            assert_eq!(
                (n.registry.as_str(), n.repository.as_str()),
                (registry, repository)
            );
            assert!(n.explicit_registry && !n.is_docker_hub());
            assert_eq!(n.familiar(), format!("{name}:latest"));
        }
        let d = format!("sha256:{}", "b".repeat(64));
        let n = ImageName::parse(&format!("library/debian@{d}")).unwrap();
        assert_eq!((n.tag, n.digest.map(|d| d.to_string())), (None, Some(d)));
    }

    #[test]
    fn tags_an_older_store_spelled_otherwise_are_found_and_replaced() {
        let d = |c: char| {
            format!("sha256:{}", c.to_string().repeat(64))
                .parse::<Digest>()
                .unwrap()
        };
        let mut refs = Refs::default();
        refs.tags.insert("library/old:v1".into(), d('a'));
        refs.tags
            .insert(format!("{DOCKER_HUB}/library/hub:v1"), d('b'));
        refs.tags.insert("localhost/pod:v1".into(), d('c'));
        assert_eq!(
            stored_tag(&refs, "old:v1").as_deref(),
            Some("library/old:v1")
        );
        assert_eq!(
            stored_tag(&refs, "library/hub:v1"),
            Some(format!("{DOCKER_HUB}/library/hub:v1"))
        );
        assert_eq!(
            stored_tag(&refs, "pod:v1").as_deref(),
            Some("localhost/pod:v1")
        );
        assert_eq!(stored_tag(&refs, "localhost:5000/old:v1"), None);
        assert_eq!(repo_tags(&refs, &d('a')), ["old:v1"]);
        set_tag(&mut refs, "old:v1", d('c'));
        assert!(!refs.tags.contains_key("library/old:v1"));
        assert_eq!(refs.tags["old:v1"], d('c'));
    }
}
