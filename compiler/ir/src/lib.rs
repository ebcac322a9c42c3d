//! The spec compiler's middle: a salsa database over spec texts, the stdlib and build-context
//! digests, with tracked queries `parse` → `scope`/`env_base`/`ancestry` (resolve) →
//! `lower_env` → `layer_graph`, and diagnostics as an accumulator.
//!
//! The driver (CLI, language server, tests) owns all IO: it reads files and sets inputs (see
//! [`Database::load`]); the queries never touch the file system.

pub mod database;
pub mod diagnostics;
pub mod dockerfile;
pub mod format;
pub mod graph;
pub mod history;
pub mod inputs;
pub mod items;
pub mod key;
pub mod lower;
mod node_key;
pub mod path;
pub mod resolve;
pub mod stdlib;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use petgraph::graph::NodeIndex;

pub use database::Database;
pub use diagnostics::{Diag, FileDiagnostics, collect as diagnostics};
pub use graph::*;
pub use inputs::{Context, ContextEntry, EntryKind, SpecFile, Workspace};
pub use items::{EnvItem, parse, source_map};
pub use key::{Digest, NodeKey};
pub use lower::{LoweredEnv, env_lowers, lower_env};
pub use resolve::{Ancestry, Base, ancestry, env_base, import_target, scope};

/// The user spec files in display order: the root first, then the others by path.
pub fn user_files(db: &dyn salsa::Database) -> Vec<SpecFile> {
    let ws = Workspace::get(db);
    let root = ws.root(db);
    let mut files = vec![root];
    files.extend(ws.files(db).values().copied().filter(|f| *f != root));
    files
}

/// Runs every check over the user files; diagnostics accumulate under this query.
///
/// It lowers nothing: [`env_lowers`] finds every mistake lowering would, without keys. So
/// checking (`duckc check`, the language server's diagnostics after an edit) never hashes a
/// layer key nor builds the graph, and an edit inside one env re-runs that env's check alone.
#[salsa::tracked]
pub fn check(db: &dyn salsa::Database) {
    for file in user_files(db) {
        let parsed = parse(db, file);
        if parsed.broken {
            continue;
        }
        scope(db, file);
        for &env in &parsed.envs {
            ancestry(db, env);
            env_lowers(db, env);
        }
    }
}

/// How an env is named in graph output: its name for the root file's envs, `PATH#NAME` for the
/// envs of other user files, `std/MODULE:NAME` for stdlib envs.
pub fn env_label(db: &dyn salsa::Database, env: EnvItem<'_>) -> String {
    let file = env.file(db);
    let path = file.path(db);
    if file == Workspace::get(db).root(db) {
        env.name(db).clone()
    } else if path.starts_with("std/") {
        format!("{path}:{}", env.name(db))
    } else {
        format!("{path}#{}", env.name(db))
    }
}

/// The layer graph of every user env that lowers without errors.
#[salsa::tracked(returns(ref))]
pub fn layer_graph(db: &dyn salsa::Database) -> LayerGraph {
    let mut graph = LayerGraph::default();
    let mut index: BTreeMap<NodeKey, NodeIndex> = BTreeMap::new();
    // Which node already lists which env (by the env label's number): a look-up, not a scan of
    // the node's list, which holds every env built on it (200 for a base of 200 envs).
    let mut label_ids: BTreeMap<String, usize> = BTreeMap::new();
    let mut listed: std::collections::HashSet<(NodeIndex, usize)> = Default::default();
    for file in user_files(db) {
        for &env in &parse(db, file).envs {
            let Some(lowered) = lower_env(db, env) else {
                continue;
            };
            let Ancestry::Chain(chain) = ancestry(db, env) else {
                continue;
            };
            let label = env_label(db, env);
            let next_id = label_ids.len();
            let label_id = *label_ids.entry(label.clone()).or_insert(next_id);
            for (depth, &e) in chain.iter().enumerate().rev() {
                let Some(part) = lower_env(db, e) else {
                    continue;
                };
                // An ancestor contributes its layers; only the env itself its image.
                let nodes = if depth == 0 {
                    &part.nodes[..]
                } else {
                    &part.nodes[..part.nodes.len() - 1]
                };
                for node in nodes {
                    let i = match index.get(&node.key) {
                        Some(&i) => i,
                        None => {
                            let i = graph.graph.add_node(node.clone());
                            if let Some(&parent) = node.parent.and_then(|p| index.get(&p)) {
                                graph.graph.add_edge(parent, i, ());
                            }
                            index.insert(node.key, i);
                            i
                        }
                    };
                    if listed.insert((i, label_id)) {
                        graph.graph[i].envs.push(label.clone());
                    }
                }
            }
            graph.envs.push(EnvOutput {
                name: label,
                image: lowered.image(),
                tags: lowered.config.tags.clone(),
            });
        }
    }
    graph
}

/// The context paths that `copy` steps of the user files name (normalized, `""` for the whole
/// context). A driver hashes only the entries under these, not the whole directory.
#[salsa::tracked(returns(ref))]
pub fn copy_sources(db: &dyn salsa::Database) -> Vec<String> {
    let mut out = Vec::new();
    for file in user_files(db) {
        for &env in &parse(db, file).envs {
            for step in env.steps(db) {
                if let items::StepDeclKind::Copy {
                    sources,
                    from: None,
                    ..
                } = &step.kind
                {
                    for s in sources {
                        let parts: Vec<&str> = s
                            .split('/')
                            .filter(|p| !p.is_empty() && *p != ".")
                            .collect();
                        out.push(parts.join("/"));
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The imports of a file that name user files (not the stdlib), as logical paths: what a driver
/// must load next.
pub fn user_imports(db: &dyn salsa::Database, file: SpecFile) -> Vec<String> {
    parse(db, file)
        .imports
        .iter()
        .filter(|i| !i.path.starts_with("std/"))
        .filter_map(|i| import_target(file.path(db), &i.path))
        .collect()
}
