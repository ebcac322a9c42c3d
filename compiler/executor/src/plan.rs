//! The steps of an env as the user sees them: its base `from`, then every step of its chain of
//! envs in order, each layer step tied to its graph node. Progress output and `explain` number
//! steps from this list (`Step 3/7 : …`).

use duckc_ir::{BaseImage, EnvOutput, LayerGraph, NodeKey, Step, StepImage};

use crate::{Error, Result};

/// One displayed step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanStep {
    /// The step in the spec's own syntax, e.g. `run "make"`.
    pub text: String,
    /// The layer node it produces (the base node for the `from` step); `None` for steps that
    /// change only the image config.
    pub node: Option<NodeKey>,
    /// For a step that changes only the config: the image as it stands after it, whose
    /// cache key build output prints as the step's id (` ---> <id>`), as Docker prints the id
    /// of each step's intermediate image. The same inputs give the same id, cached or not.
    pub image: Option<StepImage>,
}

/// An env's steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvPlan {
    pub env: EnvOutput,
    pub steps: Vec<PlanStep>,
    /// The layer nodes, base first (the image's layers).
    pub layers: Vec<NodeKey>,
    /// The platforms to build it for (`linux/arm64`), the host's when the spec names none;
    /// several give an OCI index.
    pub platforms: Vec<String>,
}

/// The plan of `env` in `graph`.
pub fn env_plan(graph: &LayerGraph, env: &EnvOutput) -> Result<EnvPlan> {
    let image = graph
        .node(&env.image)
        .ok_or_else(|| Error::MissingNode(env.image.to_string()))?;
    let Step::Image(config) = &image.step else {
        return Err(Error::MissingNode(env.image.to_string()));
    };
    let mut layers = config.layers.iter().copied();
    let mut steps = Vec::new();
    let mut top = None;
    if let Some(base) = layers.next() {
        top = Some(base);
        let node = graph
            .node(&base)
            .ok_or_else(|| Error::MissingNode(base.to_string()))?;
        steps.push(PlanStep {
            text: match &node.step {
                Step::Base(b) => format!("from {:?}", base_name(b)),
                _ => "from".to_owned(),
            },
            node: Some(base),
            image: None,
        });
    }
    for h in &config.history {
        let node = if h.empty_layer { None } else { layers.next() };
        top = node.or(top);
        steps.push(PlanStep {
            text: h.created_by.clone(),
            node,
            image: h.image.zip(top).map(|(key, top)| StepImage { key, top }),
        });
    }
    Ok(EnvPlan {
        env: env.clone(),
        steps,
        layers: config.layers.clone(),
        platforms: if config.platforms.is_empty() {
            vec![duckc_runtime::emulation::host_platform()]
        } else {
            config.platforms.clone()
        },
    })
}

/// How a base is written in a spec: `scratch`, `name:tag`, `name@digest`, `oci-layout:PATH`.
pub fn base_name(base: &BaseImage) -> String {
    match base {
        BaseImage::Scratch => "scratch".to_owned(),
        BaseImage::Stored { name, tag } => format!("{name}:{tag}"),
        BaseImage::Pinned { name, digest } => format!("{name}@{digest}"),
        BaseImage::OciLayout { path } => format!("oci-layout:{path}"),
    }
}

/// The plans of the envs to build: `targets` by name (all envs when empty), in source order.
/// Unknown names are returned as the error value.
pub fn select(graph: &LayerGraph, targets: &[String]) -> std::result::Result<Vec<EnvPlan>, String> {
    for t in targets {
        if !graph.envs.iter().any(|e| &e.name == t) {
            return Err(t.clone());
        }
    }
    graph
        .envs
        .iter()
        .filter(|e| targets.is_empty() || targets.contains(&e.name))
        .map(|e| env_plan(graph, e).map_err(|err| err.to_string()))
        .collect()
}
