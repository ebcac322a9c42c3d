//! `commit`: a directory (an overlayfs upper dir, or a plain tree) becomes a new layer on top
//! of an image, with a new config (history entry, `--change` instructions) and manifest.

use std::path::Path;

use duckc_layer::{Compression, SourceKind, WriteOptions};
use duckc_store::Store;
use oci_spec::image::{Config, HistoryBuilder, ImageConfiguration};

use crate::manifest::{ManifestLayer, record, write_manifest};
use crate::{Error, Image, Result, time};

/// How to commit.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// The history comment (`commit -m`).
    pub message: Option<String>,
    /// The author (`commit -a`).
    pub author: Option<String>,
    /// What the history says created the layer (e.g. the `RUN` command).
    pub created_by: Option<String>,
    /// Dockerfile-like instructions applied to the config: `CMD`, `ENTRYPOINT`, `ENV`,
    /// `WORKDIR`, `USER`, `EXPOSE`, `LABEL`, `VOLUME`, `STOPSIGNAL`.
    pub changes: Vec<String>,
    /// How the new layer blob is compressed.
    pub compression: Compression,
    /// The config's `created` time (seconds since the epoch); `None` means now, or
    /// `SOURCE_DATE_EPOCH` when that is set.
    pub created: Option<i64>,
    /// The source is a plain directory rather than an overlay upper dir.
    pub plain: bool,
}

/// Write `upper` as a new layer on `base` and store the new image (untagged; see [`crate::tag`]).
pub fn commit(store: &Store, base: &Image, upper: &Path, opts: &CommitOptions) -> Result<Image> {
    let _lease = store.lease()?;
    let epoch = duckc_layer::source_date_epoch();
    let layer = store.write_layer(
        upper,
        &WriteOptions {
            epoch,
            compression: opts.compression,
            source: if opts.plain {
                SourceKind::Plain
            } else {
                SourceKind::OverlayUpper
            },
        },
    )?;
    duckc_store::crash_point("commit-layer-written");
    let created = opts
        .created
        .unwrap_or_else(|| match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) if v.trim().parse::<i64>().is_ok() => v.trim().parse().unwrap_or(0),
            _ => time::now(),
        });
    let created = time::format_rfc3339(created);
    let mut config = base.config.clone();
    for change in &opts.changes {
        apply_change(&mut config, change)?;
    }
    config
        .rootfs_mut()
        .diff_ids_mut()
        .push(layer.diff_id.to_string());
    let mut history = HistoryBuilder::default().created(created.clone());
    if let Some(m) = &opts.message {
        history = history.comment(m.clone());
    }
    if let Some(a) = &opts.author {
        history = history.author(a.clone());
        config.set_author(Some(a.clone()));
    }
    if let Some(c) = &opts.created_by {
        history = history.created_by(c.clone());
    }
    let history = history.build().expect("history builds");
    config
        .history_mut()
        .get_or_insert_with(Vec::new)
        .push(history);
    config.set_created(Some(created));
    let config_bytes = serde_json::to_vec(&config).expect("config serialises");
    let config_digest = store.put_blob(&config_bytes)?;
    let layers = base.layers.iter().chain(std::iter::once(&layer));
    let image = write_manifest(
        store,
        (&config_digest, config_bytes.len() as u64),
        layers.map(ManifestLayer::from),
    )?;
    duckc_store::crash_point("commit-before-refs");
    record(store, &image)?;
    Ok(image)
}

/// Apply one Dockerfile-like instruction (`CMD ["sh"]`, `ENV A=1`, …) to a config.
pub fn apply_change(config: &mut ImageConfiguration, change: &str) -> Result<()> {
    let bad = |why: &str| Error::BadChange(change.to_owned(), why.to_owned());
    let change = change.trim();
    let (word, rest) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let rest = rest.trim();
    let mut c: Config = config.config().clone().unwrap_or_default();
    match word.to_ascii_uppercase().as_str() {
        "CMD" => {
            c.set_cmd(Some(command(rest)));
        }
        "ENTRYPOINT" => {
            c.set_entrypoint(Some(command(rest)));
        }
        "WORKDIR" => {
            c.set_working_dir(Some(rest.to_owned()));
        }
        "USER" => {
            c.set_user(Some(rest.to_owned()));
        }
        "STOPSIGNAL" => {
            c.set_stop_signal(Some(rest.to_owned()));
        }
        "ENV" => {
            let mut env = c.env().clone().unwrap_or_default();
            for (k, v) in
                pairs(rest).ok_or_else(|| bad("expected `ENV NAME=VALUE …` or `ENV NAME VALUE`"))?
            {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                env.push(format!("{k}={v}"));
            }
            c.set_env(Some(env));
        }
        "LABEL" => {
            let mut labels = c.labels().clone().unwrap_or_default();
            for (k, v) in pairs(rest).ok_or_else(|| bad("expected `LABEL NAME=VALUE …`"))? {
                labels.insert(k, v);
            }
            c.set_labels(Some(labels));
        }
        "EXPOSE" => {
            let mut ports = c.exposed_ports().clone().unwrap_or_default();
            for p in rest.split_whitespace() {
                let p = if p.contains('/') {
                    p.to_owned()
                } else {
                    format!("{p}/tcp")
                };
                if !ports.contains(&p) {
                    ports.push(p);
                }
            }
            c.set_exposed_ports(Some(ports));
        }
        "VOLUME" => {
            let mut vols = c.volumes().clone().unwrap_or_default();
            vols.extend(
                command(rest)
                    .into_iter()
                    .filter(|v| !v.starts_with("/bin/sh"))
                    .filter(|v| v != "-c"),
            );
            c.set_volumes(Some(vols));
        }
        _ => {
            return Err(bad(
                "supported: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR",
            ));
        }
    }
    config.set_config(Some(c));
    Ok(())
}

/// JSON form `["a","b"]`, else shell form `/bin/sh -c "…"`.
fn command(rest: &str) -> Vec<String> {
    if rest.starts_with('[')
        && let Ok(v) = serde_json::from_str::<Vec<String>>(rest)
    {
        return v;
    }
    vec!["/bin/sh".into(), "-c".into(), rest.to_owned()]
}

/// `A=1 B="two words"`, or the legacy `NAME VALUE`.
fn pairs(rest: &str) -> Option<Vec<(String, String)>> {
    let first = rest.split_whitespace().next()?;
    if !first.contains('=') {
        let (k, v) = rest.split_once(char::is_whitespace)?;
        return Some(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    let mut out = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.peek().is_none() {
            break;
        }
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        let mut value = String::new();
        match chars.peek() {
            Some('"') => {
                chars.next();
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
            }
            _ => {
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() {
                        break;
                    }
                    value.push(c);
                    chars.next();
                }
            }
        }
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        out.push((key, value));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_edit_the_config() {
        let mut image = Image::scratch();
        for c in [
            r#"CMD ["sh"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV A 3",
            "WORKDIR /app",
            "EXPOSE 80",
            "LABEL x=y",
            "USER 1000:1000",
        ] {
            apply_change(&mut image.config, c).unwrap();
        }
        let c = image.config.config().clone().unwrap();
        assert_eq!(c.cmd().clone().unwrap(), vec!["sh"]);
        assert_eq!(c.env().clone().unwrap(), vec!["B=two words", "A=3"]);
        assert_eq!(c.working_dir().as_deref(), Some("/app"));
        assert_eq!(c.exposed_ports().clone().unwrap(), vec!["80/tcp"]);
        assert_eq!(c.user().as_deref(), Some("1000:1000"));
        assert!(apply_change(&mut image.config, "FROB x").is_err());
    }
}
