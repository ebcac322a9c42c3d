//! Image references: `name[:tag]`, `name@sha256:…`, full or short image IDs.

use duckc_store::Store;

use crate::{Digest, Error, Image, Result};

/// Check a `name[:tag]` reference and add `:latest` when it has no tag.
pub fn normalize_name(reference: &str) -> Result<String> {
    let bad = |why: &str| Error::BadReference(reference.to_owned(), why.to_owned());
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    };
    if name.is_empty() {
        return Err(bad("the name is empty"));
    }
    if tag.is_empty()
        || tag.len() > 128
        || !tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
        || tag.starts_with(['.', '-'])
    {
        return Err(bad(
            "a tag is up to 128 letters, digits, `_`, `.` and `-`, not starting with `.` or `-`",
        ));
    }
    let mut parts = name.split('/').peekable();
    let mut first = true;
    while let Some(part) = parts.next() {
        let is_host = first
            && parts.peek().is_some()
            && (part.contains('.') || part.contains(':') || part == "localhost");
        first = false;
        let ok = if is_host {
            !part.is_empty()
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:".contains(&b))
        } else {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
                && part.as_bytes()[0].is_ascii_alphanumeric()
                && part.as_bytes()[part.len() - 1].is_ascii_alphanumeric()
        };
        if !ok {
            return Err(bad(
                "a name is lowercase letters, digits and separators (`.`, `_`, `-`, `/`)",
            ));
        }
    }
    Ok(format!("{name}:{tag}"))
}

/// Names a tag may be stored under for `name` (docker and podman spell them differently).
fn aliases(name: &str) -> Vec<String> {
    let mut out = vec![name.to_owned()];
    for prefix in ["localhost/", "docker.io/library/", "docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            out.push(rest.to_owned());
        }
    }
    if !name.contains('/') {
        out.push(format!("localhost/{name}"));
        out.push(format!("docker.io/library/{name}"));
    }
    out
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
    if let Ok(name) = normalize_name(reference) {
        for alias in aliases(&name) {
            if let Some(d) = refs.tags.get(&alias) {
                return Image::read(store, d);
            }
        }
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
    }
}
