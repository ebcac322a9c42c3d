//! Image references (`your/duck:v3`, `localhost:5000/duck@sha256:…`) and their validation.
//!
//! A reference is `NAME[:TAG]` or `NAME@sha256:HEX`. `NAME` is one or more `/`-separated
//! components of lowercase letters, digits and `._-`; the first may be a registry host with a
//! port (`localhost:5000`).

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ImageRef {
    /// `name:tag` (the tag defaults to `latest` when left out).
    Tagged { name: String, tag: String },
    /// `name@sha256:HEX`, pinned by digest.
    Pinned { name: String, digest: String },
}

/// Parses a reference; `None` when it is not one.
pub fn parse_image_ref(s: &str) -> Option<ImageRef> {
    if let Some((name, digest)) = s.split_once('@') {
        let hex = digest.strip_prefix("sha256:")?;
        if hex.len() != 64
            || !hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        valid_name(name).then(|| ImageRef::Pinned {
            name: name.to_owned(),
            digest: digest.to_owned(),
        })
    } else {
        let (name, tag) = match s.rsplit_once(':') {
            Some((name, tag)) if !tag.contains('/') => (name, tag),
            _ => (s, "latest"),
        };
        (valid_name(name) && valid_tag(tag)).then(|| ImageRef::Tagged {
            name: name.to_owned(),
            tag: tag.to_owned(),
        })
    }
}

fn valid_name(name: &str) -> bool {
    if name.is_empty() {
        return false;
    }
    name.split('/').enumerate().all(|(i, component)| {
        let component = match (i, component.split_once(':')) {
            (0, Some((host, port))) if name.contains('/') => {
                if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
                    return false;
                }
                host
            }
            _ => component,
        };
        !component.is_empty()
            && component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            && component.as_bytes()[0].is_ascii_alphanumeric()
    })
}

fn valid_tag(tag: &str) -> bool {
    (1..=128).contains(&tag.len())
        && (tag.as_bytes()[0].is_ascii_alphanumeric() || tag.as_bytes()[0] == b'_')
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(
            parse_image_ref("your/duck:v3"),
            Some(ImageRef::Tagged {
                name: "your/duck".into(),
                tag: "v3".into()
            })
        );
        assert_eq!(
            parse_image_ref("localhost:5000/duck"),
            Some(ImageRef::Tagged {
                name: "localhost:5000/duck".into(),
                tag: "latest".into()
            })
        );
        let pinned = format!("example.org/duck@sha256:{}", "a".repeat(64));
        assert!(matches!(
            parse_image_ref(&pinned),
            Some(ImageRef::Pinned { .. })
        ));
        assert_eq!(parse_image_ref("Duck:v3"), None);
        assert_eq!(parse_image_ref("duck@sha256:abc"), None);
        assert_eq!(parse_image_ref("duck:"), None);
        assert_eq!(parse_image_ref(""), None);
        assert_eq!(parse_image_ref("a//b"), None);
    }
}
