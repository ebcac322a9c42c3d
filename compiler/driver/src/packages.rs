//! The `packages` steps of a loaded spec, as the lock and the executor see them: each tied to
//! its layer-graph node, to the env that declares it, and to where it is written.

use std::collections::BTreeMap;

use duckc_ir::items::{Ptr, StepDeclKind};
use duckc_ir::{Base, Database, EnvItem, Step};
use duckc_packages::locking;

/// One `packages` step found in the spec, with where it is written.
#[derive(Debug, Clone)]
pub struct PackagesStep {
    pub step: locking::Step,
    /// The graph node's key.
    pub node: String,
    /// The file that declares it, and where in it.
    pub file: duckc_ir::SpecFile,
    pub ptr: Ptr,
}

/// `build --platform`: the platforms the target envs (all when none) are built for instead of
/// their own.
#[derive(Debug, Default, Clone, Copy)]
pub struct Overrides<'a> {
    pub targets: &'a [String],
    pub platforms: &'a [String],
}

/// Every `packages` step of the envs the user files reach (stdlib bases included), parents
/// before children, each tied to its graph node.
pub fn steps(db: &Database, overrides: &Overrides<'_>) -> Vec<PackagesStep> {
    let mut found = Vec::new();
    // env → index of its last `packages` step (or of its base's).
    let mut last: BTreeMap<String, Option<usize>> = BTreeMap::new();
    for file in duckc_ir::user_files(db) {
        for &env in &duckc_ir::parse(db, file).envs {
            visit(db, env, &mut found, &mut last);
        }
    }
    // A step is locked for every platform the build runs it for: `platform` flows down into
    // bases and into the envs `copy … from=` reads (see `duckc_executor::execute::units`).
    // With `build --platform`, also for those (the spec's own stay locked: no churn).
    let graph = duckc_ir::layer_graph(db);
    let mut platforms: BTreeMap<String, Vec<String>> = BTreeMap::new();
    if let Ok(plans) = duckc_executor::plan::select(graph, &[]) {
        let mut overridden = plans.clone();
        overridden
            .retain(|p| overrides.targets.is_empty() || overrides.targets.contains(&p.env.name));
        for p in &mut overridden {
            p.platforms = overrides.platforms.to_vec();
        }
        let sets = if overrides.platforms.is_empty() {
            vec![plans]
        } else {
            vec![plans, overridden]
        };
        for plans in sets {
            let Ok((units, _)) = duckc_executor::execute::units(graph, &plans) else {
                continue;
            };
            for (key, platform) in units {
                let list = platforms.entry(key.to_string()).or_default();
                if !list.contains(&platform) {
                    list.push(platform);
                }
            }
        }
    }
    for f in &mut found {
        if let Some(p) = platforms.get(&f.node) {
            f.step.platforms = p.clone();
        }
    }
    found
}

fn visit<'db>(
    db: &'db Database,
    env: EnvItem<'db>,
    found: &mut Vec<PackagesStep>,
    last: &mut BTreeMap<String, Option<usize>>,
) -> Option<usize> {
    let label = duckc_ir::env_label(db, env);
    if let Some(done) = last.get(&label) {
        return *done;
    }
    // Guards against a cycle (reported elsewhere): the env counts as having no steps.
    last.insert(label.clone(), None);
    let mut parent = match duckc_ir::env_base(db, env) {
        Base::Env(base) => visit(db, *base, found, last),
        _ => None,
    };
    let decls: Vec<(u32, Vec<String>, bool)> = env
        .steps(db)
        .iter()
        .filter_map(|s| match &s.kind {
            StepDeclKind::Packages(names, apt_sources) => {
                Some((s.step, names.clone(), *apt_sources))
            }
            _ => None,
        })
        .collect();
    if let Some(lowered) = duckc_ir::lower_env(db, env).as_ref() {
        let nodes = lowered
            .nodes
            .iter()
            .filter(|n| matches!(n.step, Step::Packages { .. }));
        for (n, (node, (step, names, apt_sources))) in nodes.zip(decls).enumerate() {
            let name = if n == 0 {
                label.clone()
            } else {
                format!("{label} ({})", n + 1)
            };
            found.push(PackagesStep {
                step: locking::Step {
                    env: name,
                    names,
                    // Filled in by `steps` from the envs built on it.
                    platforms: Vec::new(),
                    parent,
                    apt_sources,
                },
                node: node.key.to_string(),
                file: env.file(db),
                ptr: Ptr::Value {
                    item: env.item(db),
                    step,
                    value: 0,
                },
            });
            parent = Some(found.len() - 1);
        }
    }
    last.insert(label, parent);
    parent
}

/// Graph node key → the env that declares the step (the lock's key for it).
pub fn declaring_envs(found: &[PackagesStep]) -> BTreeMap<String, String> {
    found
        .iter()
        .map(|f| (f.node.clone(), f.step.env.clone()))
        .collect()
}
