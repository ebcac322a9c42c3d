//! `explain`: for each step of an env, whether the next build takes it from the cache, and for
//! each miss the input that differs from the env's last recorded build — a copied file (path,
//! old and new digest), an env value, the command, the base, or "parent rebuilt".

use std::collections::BTreeMap;

use duckc_ir::{BaseImage, LayerGraph, Node, Step};
use duckc_store::{Digest, Store};
use serde_json::Value;

use crate::plan::EnvPlan;
use crate::record::BuildRecord;
use crate::{Result, cache_key};

/// Whether a step is cached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// The `from` step: what the base resolves to.
    Base(String),
    /// Changes only the image config.
    Config,
    Hit,
    Miss(Vec<String>),
}

/// One explained step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explained {
    pub text: String,
    pub status: Status,
}

/// Explains `plan` against the last `record` of it. `packages` is the lock as it stands (no
/// resolution): a `packages` step's key includes its pins.
pub fn explain(
    store: &Store,
    graph: &LayerGraph,
    plan: &EnvPlan,
    record: Option<&BuildRecord>,
    context: &std::path::Path,
    packages: Option<&duckc_packages::locking::PackagesContext>,
) -> Result<Vec<Explained>> {
    // The first platform's build is the one recorded.
    let platform = plan.platforms.first().map_or("", String::as_str);
    let mut keys: BTreeMap<duckc_ir::NodeKey, (Digest, bool)> = BTreeMap::new();
    let mut out = Vec::new();
    let mut parent: Option<(Digest, bool)> = None;
    let mut layer_index = 0usize;
    for step in &plan.steps {
        let Some(key) = step.node else {
            out.push(Explained {
                text: step.text.clone(),
                status: Status::Config,
            });
            continue;
        };
        let node = graph
            .node(&key)
            .ok_or_else(|| crate::Error::MissingNode(key.to_string()))?;
        let recorded = record.and_then(|r| r.layers.get(layer_index));
        layer_index += 1;
        let current = serde_json::to_value(node).unwrap_or_default();
        let status = match (&node.step, parent) {
            (Step::Base(b), _) => {
                let (digest, status) = base_status(store, b, context, platform, recorded);
                let ck = crate::root_key(&node.key, digest.as_ref(), platform);
                let changed = recorded.is_some_and(|r| r.cache_key != ck.to_string());
                keys.insert(key, (ck, changed));
                parent = Some((ck, changed));
                status
            }
            (_, Some((parent_key, parent_missed))) => {
                // Why a `packages` step cannot be keyed yet (it is not in the lock).
                let mut unlocked = None;
                let (ck, hit) = match (&node.step, packages) {
                    (Step::Packages { names, apt_sources }, Some(ctx)) => {
                        match crate::execute::packages_cache_key(
                            ctx,
                            node,
                            &crate::execute::PackagesStep {
                                names,
                                apt_sources: *apt_sources,
                            },
                            platform,
                            &parent_key,
                        ) {
                            Ok(ck) => (ck, store.cache_get_many(&ck)?.is_some()),
                            Err(e) => {
                                unlocked = Some(e.to_string());
                                (cache_key(&node.key, Some(&parent_key), None), false)
                            }
                        }
                    }
                    (Step::Packages { .. }, None) => {
                        unlocked = Some("the spec's packages are not locked".to_owned());
                        (cache_key(&node.key, Some(&parent_key), None), false)
                    }
                    _ => {
                        let ck = cache_key(&node.key, Some(&parent_key), None);
                        (ck, store.cache_get(&ck)?.is_some())
                    }
                };
                parent = Some((ck, !hit));
                keys.insert(key, (ck, !hit));
                if hit {
                    Status::Hit
                } else {
                    let mut reasons = match recorded {
                        None => vec![format!(
                            "no earlier build of `{}` is recorded",
                            plan.env.name
                        )],
                        Some(r) => differences(&r.node, &current),
                    };
                    if let Some(why) = unlocked {
                        reasons.push(format!("{why}: the build resolves it and extends the lock"));
                    } else if reasons.is_empty()
                        && !parent_missed
                        && matches!(node.step, Step::Packages { .. })
                        && recorded.is_some_and(|r| r.cache_key != ck.to_string())
                    {
                        reasons.push("package pins changed (`duck.lock`)".to_owned());
                    }
                    if reasons.is_empty() {
                        reasons.push(if parent_missed {
                            "parent rebuilt".to_owned()
                        } else {
                            "same inputs as the last build, but the layer is no longer cached (removed by `duckc gc`?)".to_owned()
                        });
                    }
                    Status::Miss(reasons)
                }
            }
            (_, None) => Status::Miss(vec!["no base".to_owned()]),
        };
        out.push(Explained {
            text: step.text.clone(),
            status,
        });
    }
    Ok(out)
}

/// What a base resolves to now, and how that compares with the record.
fn base_status(
    store: &Store,
    base: &BaseImage,
    context: &std::path::Path,
    platform: &str,
    recorded: Option<&crate::record::RecordedLayer>,
) -> (Option<Digest>, Status) {
    let digest = match base {
        BaseImage::Scratch => return (None, Status::Base("scratch".to_owned())),
        BaseImage::Stored { .. } | BaseImage::Pinned { .. } => {
            duckc_image::resolve(store, &crate::plan::base_name(base))
                .and_then(|i| {
                    let arch = duckc_runtime::emulation::platform_arch(platform);
                    duckc_image::Image::read_for(store, &i.digest, arch)
                })
                .ok()
                .map(|i| i.manifest_digest)
        }
        BaseImage::OciLayout { path } => crate::context::dir_beneath(context, path)
            .ok()
            .and_then(|(_held, dir)| layout_digest(&dir)),
    };
    let Some(digest) = digest else {
        return (
            None,
            Status::Miss(vec![format!(
                "base `{}` is not in the store",
                crate::plan::base_name(base)
            )]),
        );
    };
    let old = recorded.and_then(|r| r.base_digest.clone());
    match old {
        Some(old) if old != digest.to_string() => (
            Some(digest),
            Status::Miss(vec![format!(
                "base `{}` changed: {old} → {digest}",
                crate::plan::base_name(base)
            )]),
        ),
        _ => (Some(digest), Status::Base(digest.to_string())),
    }
}

/// The first manifest digest an OCI layout's `index.json` lists.
fn layout_digest(dir: &std::path::Path) -> Option<Digest> {
    let f = crate::context::open_nofollow(&dir.join("index.json")).ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut std::io::Read::take(f, 4 << 20), &mut bytes).ok()?;
    let v: Value = serde_json::from_slice(&bytes).ok()?;
    v.pointer("/manifests/0/digest")?.as_str()?.parse().ok()
}

/// The inputs that differ between a recorded node and the current one, in words.
pub fn differences(old: &Value, new: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let s = |v: &Value, p: &str| v.pointer(p).cloned().unwrap_or(Value::Null);
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    };
    let (ok, nk) = (s(old, "/step/kind"), s(new, "/step/kind"));
    if ok != nk {
        out.push(format!(
            "the step changed from `{}` to `{}`",
            text(&ok),
            text(&nk)
        ));
        return out;
    }
    // The run state: env values, workdir, user, platforms.
    let pairs = |v: &Value| -> Vec<(String, String)> {
        serde_json::from_value(s(v, "/state/env")).unwrap_or_default()
    };
    let (oe, ne) = (pairs(old), pairs(new));
    for (k, v) in &ne {
        match oe.iter().find(|(ok, _)| ok == k) {
            Some((_, ov)) if ov != v => out.push(format!("env `{k}` changed: `{ov}` → `{v}`")),
            None => out.push(format!("env `{k}` set to `{v}`")),
            _ => {}
        }
    }
    for (k, v) in &oe {
        if !ne.iter().any(|(nk, _)| nk == k) {
            out.push(format!("env `{k}` (was `{v}`) removed"));
        }
    }
    for field in ["workdir", "user", "platforms"] {
        let p = format!("/state/{field}");
        let (o, n) = (s(old, &p), s(new, &p));
        if o != n {
            out.push(format!("{field} changed: `{}` → `{}`", text(&o), text(&n)));
        }
    }
    match text(&nk).as_str() {
        "run" => {
            let cmd = |v: &Value| {
                let c = s(v, "/step/command");
                match (c.get("shell"), c.get("exec")) {
                    (Some(sh), _) => text(sh),
                    (_, Some(ex)) => ex.to_string(),
                    _ => c.to_string(),
                }
            };
            if s(old, "/step/command") != s(new, "/step/command") {
                out.push(format!("command changed: `{}` → `{}`", cmd(old), cmd(new)));
            }
            let (on, nn) = (s(old, "/step/network"), s(new, "/step/network"));
            if on != nn {
                out.push(format!(
                    "network changed: `{}` → `{}`",
                    text(&on),
                    text(&nn)
                ));
            }
        }
        "copy" => {
            for field in ["chown", "destination"] {
                let p = format!("/step/{field}");
                let (o, n) = (s(old, &p), s(new, &p));
                if o != n {
                    out.push(format!("{field} changed: `{}` → `{}`", text(&o), text(&n)));
                }
            }
            let files = |v: &Value| -> BTreeMap<String, Value> {
                s(v, "/step/files")
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| Some((f.get("target")?.as_str()?.to_owned(), f.clone())))
                    .collect()
            };
            let (of, nf) = (files(old), files(new));
            for (target, f) in &nf {
                let source = text(&s(f, "/source"));
                match of.get(target) {
                    None => out.push(format!("file `{source}` added (copied to `{target}`)")),
                    Some(o) => {
                        let (od, nd) = (s(o, "/digest"), s(f, "/digest"));
                        if od != nd {
                            out.push(format!(
                                "file `{source}` changed: {} → {}",
                                text(&od),
                                text(&nd)
                            ));
                        }
                        let (om, nm) = (s(o, "/mode"), s(f, "/mode"));
                        if om != nm {
                            let oct = |m: &Value| format!("{:04o}", m.as_u64().unwrap_or(0));
                            out.push(format!(
                                "mode of `{target}` changed: {} → {}",
                                oct(&om),
                                oct(&nm)
                            ));
                        }
                        let (ok, nk) = (s(o, "/kind"), s(f, "/kind"));
                        if ok != nk {
                            out.push(format!(
                                "`{source}` changed from a {} to a {}",
                                text(&ok),
                                text(&nk)
                            ));
                        }
                    }
                }
            }
            for (target, f) in &of {
                if !nf.contains_key(target) {
                    out.push(format!(
                        "file `{}` (copied to `{target}`) is gone",
                        text(&s(f, "/source"))
                    ));
                }
            }
        }
        "packages" if s(old, "/step/names") != s(new, "/step/names") => {
            out.push(format!(
                "packages changed: {} → {}",
                s(old, "/step/names"),
                s(new, "/step/names")
            ));
        }
        _ => {}
    }
    out
}

/// A node's JSON, for tests and records.
pub fn node_json(node: &Node) -> Value {
    serde_json::to_value(node).unwrap_or_default()
}
