//! The last build of each env, kept in the store so `duckc explain` can say what changed:
//! `<store>/builds/<sha256 of spec path and env>.json`, written atomically after each env is
//! built.

use std::path::{Path, PathBuf};

use duckc_ir::LayerGraph;
use duckc_store::Store;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;

use crate::execute::NodeResult;
use crate::plan::EnvPlan;
use crate::{Result, io_err};

/// What the last build of one env used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BuildRecord {
    /// The spec's absolute path.
    pub spec: String,
    pub env: String,
    /// The image's manifest digest.
    pub image: String,
    /// The env's layer nodes, base first.
    pub layers: Vec<RecordedLayer>,
}

/// One layer node of a recorded build.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedLayer {
    /// The node as the compiler gave it (its step, run state and key).
    pub node: serde_json::Value,
    /// Its cache key.
    pub cache_key: String,
    /// For a base: the manifest digest it resolved to.
    #[serde(default)]
    pub base_digest: Option<String>,
}

fn path(store: &Store, spec: &Path, env: &str) -> PathBuf {
    let mut h = sha2::Sha256::new();
    h.update(spec.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(env.as_bytes());
    store
        .root()
        .join("builds")
        .join(format!("{}.json", hex::encode(h.finalize())))
}

/// Records the build of `plan` (every layer in `nodes`).
pub fn write(
    store: &Store,
    spec: &Path,
    graph: &LayerGraph,
    plan: &EnvPlan,
    nodes: &std::collections::BTreeMap<duckc_ir::NodeKey, NodeResult>,
    image: &duckc_store::Digest,
) -> Result<()> {
    let mut layers = Vec::new();
    for k in &plan.layers {
        let (Some(node), Some(result)) = (graph.node(k), nodes.get(k)) else {
            return Ok(());
        };
        layers.push(RecordedLayer {
            node: serde_json::to_value(node).unwrap_or_default(),
            cache_key: result.cache_key.to_string(),
            base_digest: result
                .base
                .digest
                .filter(|_| node.parent.is_none())
                .map(|d| d.to_string()),
        });
    }
    let record = BuildRecord {
        spec: spec.display().to_string(),
        env: plan.env.name.clone(),
        image: image.to_string(),
        layers,
    };
    let dest = path(store, spec, &plan.env.name);
    let dir = store.root().join("builds");
    std::fs::create_dir_all(&dir).map_err(io_err(&dir))?;
    let bytes = serde_json::to_vec_pretty(&record).expect("record serialises");
    duckc_store::write_atomic(store, &dest, &bytes)?;
    Ok(())
}

/// The last recorded build of `env` from `spec`, if any (an unreadable record counts as none).
pub fn read(store: &Store, spec: &Path, env: &str) -> Option<BuildRecord> {
    let bytes = std::fs::read(path(store, spec, env)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The newest recorded build whose image is `image` (a manifest digest), if any.
pub fn find_for_image(store: &Store, image: &duckc_store::Digest) -> Option<BuildRecord> {
    let wanted = image.to_string();
    let mut best: Option<(std::time::SystemTime, BuildRecord)> = None;
    for entry in std::fs::read_dir(store.root().join("builds"))
        .ok()?
        .flatten()
    {
        let Ok(bytes) = std::fs::read(entry.path()) else {
            continue;
        };
        let Ok(record) = serde_json::from_slice::<BuildRecord>(&bytes) else {
            continue;
        };
        let time = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if record.image == wanted && best.as_ref().is_none_or(|(t, _)| time > *t) {
            best = Some((time, record));
        }
    }
    best.map(|(_, r)| r)
}
