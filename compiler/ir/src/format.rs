//! Printing the layer graph: an indented tree for people, Graphviz DOT, and JSON for tools.

use petgraph::Direction;
use petgraph::graph::NodeIndex;
use serde::Serialize;

use crate::graph::*;

/// One line saying what a node does, e.g. `copy src/ → /app/ (3 files)`.
pub fn summary(node: &Node) -> String {
    match &node.step {
        Step::Base(BaseImage::Scratch) => "base scratch".to_owned(),
        Step::Base(BaseImage::Stored { name, tag }) => format!("base {name}:{tag}"),
        Step::Base(BaseImage::Pinned { name, digest }) => format!("base {name}@{digest}"),
        Step::Base(BaseImage::OciLayout { path }) => format!("base oci-layout:{path}"),
        Step::Packages { names, .. } => format!("packages {}", names.join(" ")),
        Step::Copy(c) => {
            let files = c
                .files
                .iter()
                .filter(|f| f.kind != crate::EntryKind::Dir)
                .count();
            let plural = if files == 1 { "" } else { "s" };
            format!(
                "copy {} → {} ({files} file{plural})",
                c.sources.join(" "),
                c.destination
            )
        }
        Step::Run(r) => {
            let cmd = match &r.command {
                RunCommand::Shell(s) => s.clone(),
                RunCommand::Exec(v) => format!("{v:?}"),
            };
            let net = if r.network.reaches_out() {
                format!(" (network={})", r.network.as_str())
            } else {
                String::new()
            };
            format!("run {cmd}{net}")
        }
        Step::Mkdir { path } => format!("mkdir {path}"),
        Step::Image(config) if config.tags.is_empty() => "image".to_owned(),
        Step::Image(config) => format!("image {}", config.tags.join(" ")),
    }
}

/// The graph as an indented tree, one node a line: short key, what it does, the envs using it.
pub fn text(graph: &LayerGraph) -> String {
    let g = &graph.graph;
    let mut out = String::new();
    let roots = g.node_indices().filter(|&i| {
        g.neighbors_directed(i, Direction::Incoming)
            .next()
            .is_none()
    });
    for root in roots {
        tree_line(g, root, "", "", &mut out);
    }
    out
}

fn tree_line(
    g: &petgraph::graph::DiGraph<Node, ()>,
    i: NodeIndex,
    lead: &str,
    rest: &str,
    out: &mut String,
) {
    let node = &g[i];
    out.push_str(&format!(
        "{lead}{}  {}  [{}]\n",
        node.key.short(),
        summary(node),
        node.envs.join(", ")
    ));
    // petgraph lists neighbours newest first; show children in insertion order.
    let mut children: Vec<NodeIndex> = g.neighbors_directed(i, Direction::Outgoing).collect();
    children.sort();
    for (n, &child) in children.iter().enumerate() {
        let last = n + 1 == children.len();
        let (branch, next) = if last {
            ("└─ ", "   ")
        } else {
            ("├─ ", "│  ")
        };
        tree_line(
            g,
            child,
            &format!("{rest}{branch}"),
            &format!("{rest}{next}"),
            out,
        );
    }
}

/// The graph in Graphviz DOT.
pub fn dot(graph: &LayerGraph) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('"', "\\\"");
    let mut out = String::from("digraph layers {\n    node [shape=box, fontname=\"monospace\"];\n");
    for node in graph.nodes() {
        let label = format!(
            "{}\\n{}\\n[{}]",
            node.key.short(),
            esc(&summary(node)),
            esc(&node.envs.join(", "))
        );
        out.push_str(&format!(
            "    \"{}\" [label=\"{label}\"];\n",
            node.key.short()
        ));
    }
    for e in graph.graph.raw_edges() {
        let (a, b) = (&graph.graph[e.source()], &graph.graph[e.target()]);
        out.push_str(&format!(
            "    \"{}\" -> \"{}\";\n",
            a.key.short(),
            b.key.short()
        ));
    }
    out.push_str("}\n");
    out
}

#[derive(Serialize)]
struct Json<'a> {
    nodes: Vec<&'a Node>,
    envs: &'a [EnvOutput],
}

/// The graph as JSON: every node with all its fields (full keys), then the envs.
pub fn json(graph: &LayerGraph) -> String {
    let doc = Json {
        nodes: graph.nodes().collect(),
        envs: &graph.envs,
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
