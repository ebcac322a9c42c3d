//! `images --filter` and `images --format`: which rows, and each row as the template sees it.

use duckc_image::ListedImage;
use miette::miette;
use serde_json::{Value, json};

use crate::cmd::format::Template;

/// The parsed `--filter`s and `--format` of `images`.
#[derive(Debug, Default)]
pub struct Listing {
    pub template: Option<Template>,
    dangling: Option<bool>,
    reference: Vec<String>,
}

impl Listing {
    pub fn parse(filters: &[String], format: Option<&str>) -> miette::Result<Listing> {
        let mut listing = Listing {
            template: format.map(Template::parse).transpose()?,
            ..Listing::default()
        };
        for f in filters {
            let bad = |why: &str| {
                miette!(
                    help = "filters are `dangling=true|false` and `reference=NAME[:TAG]`",
                    "bad filter `{f}`: {why}"
                )
            };
            match f.split_once('=') {
                Some(("dangling", "true" | "1")) => listing.dangling = Some(true),
                Some(("dangling", "false" | "0")) => listing.dangling = Some(false),
                Some(("dangling", _)) => return Err(bad("`dangling` is `true` or `false`")),
                Some(("reference", r)) => listing.reference.push(r.to_owned()),
                Some((key, _)) => return Err(bad(&format!("duckc has no `{key}` filter"))),
                None => return Err(bad("write `KEY=VALUE`")),
            }
        }
        Ok(listing)
    }

    /// Whether `row` passes the filters (a dangling image is one without a tag).
    pub fn matches(&self, row: &ListedImage) -> bool {
        if self.dangling.is_some_and(|d| d != row.tag.is_none()) {
            return false;
        }
        self.reference.is_empty()
            || row.tag.as_deref().is_some_and(|t| {
                let t = t.strip_prefix("localhost/").unwrap_or(t);
                let repo = t.rsplit_once(':').map_or(t, |(r, _)| r);
                self.reference.iter().any(|r| {
                    let r = r.strip_prefix("localhost/").unwrap_or(r);
                    r == t || r == repo
                })
            })
    }
}

/// One row of `images` with Docker's field names.
pub fn row_value(row: &ListedImage, repo: &str, tag: &str, id: &str, created: &str) -> Value {
    json!({
        "ID": id,
        "Repository": repo,
        "Tag": tag,
        "Digest": row.image.digest.to_string(),
        "CreatedSince": created,
        "CreatedAt": row.image.config.created().clone().unwrap_or_default(),
        "Size": duckc_image::time::human_size(row.size),
        "Containers": "N/A",
    })
}
