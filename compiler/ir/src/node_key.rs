//! The key of each layer-graph node: what of a step, its parent and its run state can change
//! its output. Both frontends (`lower` for KDL specs, `dockerfile` for Dockerfiles) key their
//! nodes here and nowhere else, so a Dockerfile and its `duckc convert` output lower to equal
//! keys by construction.

use crate::graph::*;
use crate::inputs::EntryKind;
use crate::key::{KeyHasher, NodeKey};

/// The key of a base node: the base as written, canonically (`stored:NAME:TAG`,
/// `pinned:NAME@DIGEST`, `oci-layout:PATH`, `scratch`); what it resolves to is not keyed here.
pub(crate) fn base_key(image: &BaseImage) -> NodeKey {
    let canonical = match image {
        BaseImage::Scratch => "scratch".to_owned(),
        BaseImage::Stored { name, tag } => format!("stored:{name}:{tag}"),
        BaseImage::Pinned { name, digest } => format!("pinned:{name}@{digest}"),
        BaseImage::OciLayout { path } => format!("oci-layout:{path}"),
    };
    let mut h = KeyHasher::new("base");
    h.str("base", &canonical);
    h.finish()
}

/// The key of a layer step: its parent, the run state, and the step's canonical fields.
pub(crate) fn layer_key(parent: NodeKey, step: &Step, state: &RunState) -> NodeKey {
    let kind = match step {
        Step::Base(_) => "base",
        Step::Packages { .. } => "packages",
        Step::Copy(_) => "copy",
        Step::Run(_) => "run",
        Step::Mkdir { .. } => "mkdir",
        Step::Image(_) => "image",
    };
    let mut h = KeyHasher::new(kind);
    h.field("parent", &parent.0.0);
    let env: Vec<String> = state.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    h.strs("env", env.iter().map(String::as_str));
    h.str("workdir", &state.workdir).str("user", &state.user);
    h.strs("platforms", state.platforms.iter().map(String::as_str));
    match step {
        Step::Packages { names, apt_sources } => {
            h.strs("names", names.iter().map(String::as_str));
            // Keyed only when set, so other steps' keys stay as they were.
            if *apt_sources {
                h.str("apt_sources", "true");
            }
        }
        Step::Copy(copy) => {
            h.str("chown", copy.chown.as_deref().unwrap_or(""));
            h.field("files", &(copy.files.len() as u64).to_le_bytes());
            for f in &copy.files {
                let kind = match f.kind {
                    EntryKind::File => "file",
                    EntryKind::Dir => "dir",
                    EntryKind::Symlink => "symlink",
                };
                h.str("target", &f.target)
                    .str("type", kind)
                    .field("mode", &f.mode.to_le_bytes());
                h.field("digest", f.digest.as_ref().map_or(&[][..], |d| &d.0[..]));
            }
            if let Some(from) = &copy.from {
                key_copy_from(&mut h, from);
            }
            if copy.unpack {
                h.str("unpack", "tar");
            }
        }
        Step::Run(run) => {
            h.strs("argv", run.command.argv().iter().map(String::as_str));
            h.str("network", run.network.as_str());
            if !run.mounts.is_empty() {
                key_mounts(&mut h, &run.mounts);
            }
        }
        Step::Mkdir { path } => {
            h.str("path", path);
        }
        Step::Base(_) | Step::Image(_) => {}
    }
    h.finish()
}

/// The key of the image as it stands after a config-only step: `config` (the steps so far)
/// with the run state's values, keyed as the image node is. The last step's is the image
/// node's own key.
pub(crate) fn step_image_key(top: NodeKey, config: &ImageConfig, state: &RunState) -> NodeKey {
    let mut config = config.clone();
    config.env = state.env.clone();
    config.workdir = state.workdir.clone();
    config.user = state.user.clone();
    config.platforms = state.platforms.clone();
    image_key(top, &config)
}

/// The key of the image node: its top layer and the whole config, history included.
pub(crate) fn image_key(top: NodeKey, config: &ImageConfig) -> NodeKey {
    let mut h = KeyHasher::new("image");
    h.field("parent", &top.0.0);
    let env: Vec<String> = config.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    h.strs("env", env.iter().map(String::as_str));
    fn opt(v: &Option<Vec<String>>) -> impl Iterator<Item = &str> {
        v.iter().flatten().map(String::as_str)
    }
    h.field("has_entrypoint", &[u8::from(config.entrypoint.is_some())]);
    h.strs("entrypoint", opt(&config.entrypoint));
    h.field("has_cmd", &[u8::from(config.cmd.is_some())]);
    h.strs("cmd", opt(&config.cmd));
    h.str("workdir", &config.workdir).str("user", &config.user);
    let labels: Vec<String> = config
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    h.strs("labels", labels.iter().map(String::as_str));
    h.strs("exposed", config.exposed_ports.iter().map(String::as_str));
    h.strs("tags", config.tags.iter().map(String::as_str));
    h.strs("platforms", config.platforms.iter().map(String::as_str));
    h.field("layers", &(config.layers.len() as u64).to_le_bytes());
    for l in &config.layers {
        h.field("layer", &l.0.0);
    }
    for entry in &config.history {
        h.str("history", &entry.created_by)
            .field("empty", &[u8::from(entry.empty_layer)]);
        // Keyed only when set, so the keys of images without such steps stay as they were.
        if let Some(c) = &entry.comment {
            h.str("history_comment", c);
        }
    }
    // Fields only Dockerfiles set: keyed only when set, so KDL keys stay as they were.
    if let Some(s) = &config.stop_signal {
        h.str("stop_signal", s);
    }
    if !config.volumes.is_empty() {
        h.strs("volumes", config.volumes.iter().map(String::as_str));
    }
    if let Some(s) = &config.shell {
        h.strs("shell", s.iter().map(String::as_str));
    }
    if let Some(hc) = &config.healthcheck {
        h.strs("healthcheck", hc.test.iter().map(String::as_str));
        for n in [
            hc.interval,
            hc.timeout,
            hc.start_period,
            hc.start_interval,
            hc.retries,
        ] {
            h.field("healthcheck_n", &n.to_le_bytes());
        }
    }
    if !config.onbuild.is_empty() {
        h.strs("onbuild", config.onbuild.iter().map(String::as_str));
    }
    h.finish()
}

/// Key fields of a `copy … from=` .
fn key_copy_from(h: &mut KeyHasher, from: &CopyFrom) {
    h.field("from", &from.node.0.0);
    h.strs("from_paths", from.paths.iter().map(String::as_str));
    h.field(
        "from_chmod",
        &from.chmod.map_or(Vec::new(), |m| m.to_le_bytes().to_vec()),
    );
    h.strs("exclude", from.exclude.iter().map(String::as_str));
}

/// Key fields of a `run` step's mounts . A cache mount's
/// content is deliberately not keyed; a bind's files are, like a `copy`'s.
fn key_mounts(h: &mut KeyHasher, mounts: &[RunMount]) {
    h.field("mounts", &(mounts.len() as u64).to_le_bytes());
    for m in mounts {
        match m {
            RunMount::Cache { target, id } => {
                h.str("cache", target).str("id", id);
            }
            RunMount::Tmpfs { target } => {
                h.str("tmpfs", target);
            }
            RunMount::Bind {
                target,
                files,
                source,
            } => {
                h.str("bind", target).str("source", source);
                for f in files {
                    h.str("file", &f.source);
                    h.field("mode", &f.mode.to_le_bytes());
                    h.field("digest", f.digest.as_ref().map_or(&[][..], |d| &d.0[..]));
                }
            }
            RunMount::BindFrom {
                target,
                node,
                source,
            } => {
                h.str("bind_from", target)
                    .field("node", &node.0.0)
                    .str("source", source);
            }
        }
    }
}
