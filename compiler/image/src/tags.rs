//! Tagging, untagging and listing images.

use duckc_store::Store;

use crate::{Digest, Error, Image, Result, normalize_name, repo_tags, set_tag, stored_tag, time};

/// Point `name` (`name[:tag]`) at `image` and make sure the image is recorded.
pub fn tag(store: &Store, image: &Image, name: &str) -> Result<()> {
    let name = normalize_name(name)?;
    store.update_refs(|refs| {
        refs.images
            .entry(image.digest)
            .or_insert_with(|| duckc_store::ImageEntry {
                added: time::now().max(0) as u64,
            });
        set_tag(refs, &name, image.digest);
        Ok(())
    })?;
    Ok(())
}

/// Remove the tag `name` (as stored under whatever spelling); returns the digest it pointed at.
pub fn untag(store: &Store, name: &str) -> Result<Option<Digest>> {
    normalize_name(name)?;
    Ok(store.update_refs(|refs| {
        Ok(stored_tag(refs, name).and_then(|stored| refs.tags.remove(&stored)))
    })?)
}

/// `rmi`: a tag reference removes that tag (and the image when no tag is left); an id or
/// digest removes the image and all its tags when `force` or when it has at most one tag.
/// Images that a gc root (a container) uses are refused unless `force`.
pub fn remove(
    store: &Store,
    reference: &str,
    force: bool,
) -> Result<(Vec<String>, Option<Digest>)> {
    let image = crate::resolve(store, reference)?;
    // A name removes that tag, as the store spells it (an older store may hold
    // `library/debian:latest` for `debian`).
    let by_name = stored_tag(&store.refs()?, reference)
        .filter(|_| !reference.contains('@') && normalize_name(reference).is_ok());
    let users: Vec<String> = store
        .roots()?
        .into_iter()
        .filter(|(_, ds)| ds.contains(&image.digest))
        .map(|(id, _)| user(&id))
        .collect();

    store.update_refs(|refs| {
        let tags: Vec<String> = refs
            .tags_of(&image.digest)
            .into_iter()
            .map(str::to_owned)
            .collect();
        let mut untagged = Vec::new();
        match &by_name {
            Some(n) => {
                let t = n.clone();
                if tags.len() == 1 && !users.is_empty() && !force {
                    return Ok(Err(Error::InUse(reference.to_owned(), users.join(", "))));
                }
                refs.tags.remove(&t);
                untagged.push(normalize_name(&t).unwrap_or(t));
            }
            None => {
                if tags.len() > 1 && !force {
                    return Ok(Err(Error::InUse(
                        reference.to_owned(),
                        format!(
                            "several tags ({}); remove them by name or use `--force`",
                            tags.join(", ")
                        ),
                    )));
                }
                if !users.is_empty() && !force {
                    return Ok(Err(Error::InUse(reference.to_owned(), users.join(", "))));
                }
                for t in &tags {
                    refs.tags.remove(t);
                }
                untagged = tags
                    .iter()
                    .map(|t| normalize_name(t).unwrap_or_else(|_| t.clone()))
                    .collect();
            }
        }
        let left = refs.tags.values().any(|d| *d == image.digest);
        let deleted = (!left).then(|| {
            refs.images.remove(&image.digest);
            image.config_digest
        });
        Ok(Ok((untagged, deleted)))
    })?
}

/// One row of `duckc images`.
#[derive(Debug, Clone)]
pub struct ListedImage {
    /// `name:tag`, or `None` for an untagged image.
    pub tag: Option<String>,
    /// The image.
    pub image: Image,
    /// Its size as shown.
    pub size: u64,
    /// When it entered this store (seconds since the epoch).
    pub added: i64,
    /// An image other images are built on (its layers begin another's) with no tag: an
    /// untagged env a spec builds others from. `images` hides these without `-a`, as Docker
    /// hides intermediate images.
    pub intermediate: bool,
}

impl ListedImage {
    /// The time `images` shows and sorts by: the config's `created` when it says more than
    /// the Unix epoch (`SOURCE_DATE_EPOCH` was set, a pulled or committed image), else when
    /// the image entered this store. A reproducible build dates its images at the epoch, and
    /// "56 years ago" tells nobody anything.
    pub fn time(&self) -> i64 {
        match self.image.created() {
            Some(t) if t > 0 => t,
            _ => self.added,
        }
    }
}

/// Every image, one row per tag (untagged images once), newest first.
pub fn list(store: &Store) -> Result<Vec<ListedImage>> {
    let refs = store.refs()?;
    let mut rows = Vec::new();
    let mut images = Vec::new();
    for (digest, entry) in &refs.images {
        if let Ok(i) = Image::read(store, digest) {
            images.push((digest, entry.added as i64, i));
        }
    }
    for (digest, added, image) in &images {
        let size = image.size(store);
        let tags = repo_tags(&refs, digest);
        if tags.is_empty() {
            let has_child = images.iter().any(|(_, _, other)| {
                other.layers.len() > image.layers.len() && other.layers.starts_with(&image.layers)
            });
            rows.push(ListedImage {
                tag: None,
                image: image.clone(),
                size,
                added: *added,
                intermediate: has_child,
            });
        } else {
            for t in tags {
                rows.push(ListedImage {
                    tag: Some(t),
                    image: image.clone(),
                    size,
                    added: *added,
                    intermediate: false,
                });
            }
        }
    }
    rows.sort_by(|a, b| {
        b.time()
            .cmp(&a.time())
            .then_with(|| a.tag.is_none().cmp(&b.tag.is_none()))
            .then_with(|| a.tag.cmp(&b.tag))
    });
    Ok(rows)
}

/// A gc root as the user knows it: a container's short id (`container-ID` roots are the
/// runtime's), else the root's name.
fn user(root: &str) -> String {
    match root.strip_prefix("container-") {
        Some(id) => format!("container {}", &id[..id.len().min(12)]),
        None => root.to_owned(),
    }
}
