//! Image assembly: an env's layers and its `ImageConfig` become an OCI config and manifest in
//! the store, recorded as an image and tagged.
//!
//! The config is a pure function of the layers, the spec and the base image: `created` and
//! every history entry's time are `SOURCE_DATE_EPOCH` (else the Unix epoch), never the clock,
//! and JSON is written with a fixed key order, so the same inputs give the same digests.

use std::collections::BTreeMap;

use duckc_image::manifest::ManifestLayer;
use duckc_image::{Image, time};
use duckc_ir::{LayerGraph, Step};
use duckc_store::Store;
use serde_json::{Map, Value, json};

use crate::execute::{NodeResult, Unit};
use crate::plan::EnvPlan;
use crate::{Error, Result};

/// An assembled, tagged image.
#[derive(Debug, Clone)]
pub struct Assembled {
    pub image: Image,
    /// The tags it was given (`tag` nodes, then `-t`), normalised (`name:tag`).
    pub tags: Vec<String>,
}

/// Assembles the image of `plan` from the finished `nodes` and tags it: one manifest per
/// platform, under an OCI index when there are several.
pub fn assemble(
    store: &Store,
    graph: &LayerGraph,
    plan: &EnvPlan,
    nodes: &BTreeMap<Unit, NodeResult>,
    extra_tags: &[String],
) -> Result<Assembled> {
    let mut images = Vec::new();
    for platform in &plan.platforms {
        images.push(assemble_platform(store, graph, plan, platform, nodes)?);
    }
    let image = match images.len() {
        1 => images.remove(0),
        _ => duckc_image::manifest::write_index(store, &images)?,
    };
    duckc_image::manifest::record(store, &image)?;
    let mut tags = Vec::new();
    for t in plan.env.tags.iter().chain(extra_tags) {
        let name = duckc_image::normalize_name(t)?;
        duckc_image::tag(store, &image, &name)?;
        if !tags.contains(&name) {
            tags.push(name);
        }
    }
    Ok(Assembled { image, tags })
}

/// The manifest of `plan` built for `platform` (`linux/arm64`, `linux/arm/v7`).
fn assemble_platform(
    store: &Store,
    graph: &LayerGraph,
    plan: &EnvPlan,
    platform: &str,
    nodes: &BTreeMap<Unit, NodeResult>,
) -> Result<Image> {
    let image_node = graph
        .node(&plan.env.image)
        .ok_or_else(|| Error::MissingNode(plan.env.image.to_string()))?;
    let Step::Image(cfg) = &image_node.step else {
        return Err(Error::MissingNode(plan.env.image.to_string()));
    };
    let top = plan
        .layers
        .last()
        .and_then(|k| nodes.get(&(*k, platform.to_owned())))
        .ok_or_else(|| Error::MissingNode(plan.env.image.to_string()))?;
    let mut parts = platform.split('/');
    let os = parts.next().unwrap_or("linux");
    let arch = parts.next().unwrap_or_default();
    let variant = parts.next();
    let base = &top.base;
    let created = time::format_rfc3339(crate::epoch());

    // The runtime config: the base image's, with the spec's values over it.
    let state = duckc_ir::RunState {
        env: cfg.env.clone(),
        workdir: cfg.workdir.clone(),
        user: cfg.user.clone(),
        platforms: cfg.platforms.clone(),
    };
    let mut c = Map::new();
    let env = crate::run::environment(base, &state);
    if !env.is_empty() {
        c.insert("Env".into(), json!(env));
    }
    let base_list = |field: &str| -> Option<Value> {
        base.config
            .pointer(&format!("/config/{field}"))
            .filter(|v| !v.is_null())
            .cloned()
    };
    let entrypoint = cfg
        .entrypoint
        .as_ref()
        .map(|v| json!(v))
        .or_else(|| base_list("Entrypoint"));
    // A new entrypoint drops the base image's cmd, as in Docker.
    let cmd = match (&cfg.cmd, &cfg.entrypoint) {
        (Some(c), _) => Some(json!(c)),
        (None, Some(_)) => None,
        (None, None) => base_list("Cmd"),
    };
    if let Some(e) = entrypoint {
        c.insert("Entrypoint".into(), e);
    }
    if let Some(cmd) = cmd {
        c.insert("Cmd".into(), cmd);
    }
    let workdir = crate::run::workdir(base, &state);
    if workdir != "/" {
        c.insert("WorkingDir".into(), json!(workdir));
    }
    let user = crate::run::user(base, &state);
    if !user.is_empty() {
        c.insert("User".into(), json!(user));
    }
    let mut labels: BTreeMap<String, String> = base
        .config
        .pointer("/config/Labels")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    labels.extend(cfg.labels.clone());
    if !labels.is_empty() {
        c.insert("Labels".into(), json!(labels));
    }
    let mut ports: BTreeMap<String, Value> = base
        .config
        .pointer("/config/ExposedPorts")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    for p in &cfg.exposed_ports {
        ports.insert(p.clone(), json!({}));
    }
    if !ports.is_empty() {
        c.insert("ExposedPorts".into(), json!(ports));
    }
    // Dockerfile-only fields, as Docker records them: set here, else the base image's
    // (`OnBuild` is not inherited: Docker clears it once a build has consumed the triggers).
    let mut volumes: BTreeMap<String, Value> = base
        .config
        .pointer("/config/Volumes")
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .unwrap_or_default();
    for v in &cfg.volumes {
        volumes.insert(v.clone(), json!({}));
    }
    if !volumes.is_empty() {
        c.insert("Volumes".into(), json!(volumes));
    }
    if let Some(s) = cfg
        .stop_signal
        .as_ref()
        .map(|s| json!(s))
        .or_else(|| base_list("StopSignal"))
    {
        c.insert("StopSignal".into(), s);
    }
    if let Some(s) = cfg
        .shell
        .as_ref()
        .map(|s| json!(s))
        .or_else(|| base_list("Shell"))
    {
        c.insert("Shell".into(), s);
    }
    let healthcheck = cfg.healthcheck.as_ref().map(|h| {
        let mut o = Map::new();
        o.insert("Test".into(), json!(h.test));
        for (name, n) in [
            ("Interval", h.interval),
            ("Timeout", h.timeout),
            ("StartPeriod", h.start_period),
            ("StartInterval", h.start_interval),
            ("Retries", h.retries),
        ] {
            if n != 0 {
                o.insert(name.into(), json!(n));
            }
        }
        Value::Object(o)
    });
    if let Some(h) = healthcheck.or_else(|| base_list("Healthcheck")) {
        c.insert("Healthcheck".into(), h);
    }
    if !cfg.onbuild.is_empty() {
        c.insert("OnBuild".into(), json!(cfg.onbuild));
    }

    // History: the base image's, then one entry per step of the spec.
    let mut history: Vec<Value> = base
        .config
        .get("history")
        .and_then(|h| h.as_array())
        .cloned()
        .unwrap_or_default();
    for h in &cfg.history {
        let mut e = json!({"created": created, "created_by": h.created_by});
        if let Some(c) = &h.comment {
            e["comment"] = json!(c);
        }
        if h.empty_layer {
            e["empty_layer"] = json!(true);
        }
        history.push(e);
    }
    let diff_ids: Vec<String> = top.layers.iter().map(|l| l.diff_id.to_string()).collect();
    let mut config = json!({
        "created": created,
        "architecture": arch,
        "os": os,
        "config": Value::Object(c),
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": history,
    });
    if let Some(v) = variant {
        config["variant"] = json!(v);
    }
    let config_bytes = serde_json::to_vec(&config).expect("config serialises");
    let config_digest = store.put_blob(&config_bytes)?;
    Ok(duckc_image::manifest::write_manifest(
        store,
        (&config_digest, config_bytes.len() as u64),
        top.layers.iter().map(ManifestLayer::from),
    )?)
}
