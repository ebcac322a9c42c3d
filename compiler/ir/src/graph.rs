//! The layer graph: what a build executes, as a petgraph DAG of content-keyed nodes.
//!
//! Each node is one layer-producing step (an external base, a `packages` set, a `copy`, a
//! `run`, a `workdir`'s `mkdir`) or one image. Its [`NodeKey`] is the sha256 of everything that can change its output:
//! the parent's key, the step, the digests and stored modes of copied files, and the
//! [`RunState`] (env, workdir, user, platforms). Equal keys are one node, so two envs `from` one
//! base share that base's nodes, and an executor builds and stores each once.
//!
//! An executor walks [`LayerGraph::graph`] in topological order (edges point from parent to
//! child), skips nodes whose key it has cached, and for each other node applies [`Node::step`]
//! on top of its parent's filesystem. Everything it needs is in the node: no spec, no database.

use std::collections::BTreeMap;

use duckc_syntax::ast::Network;
use petgraph::graph::{DiGraph, NodeIndex};
use serde::Serialize;

use crate::inputs::EntryKind;
use crate::key::{Digest, NodeKey};

/// The layer graph of a workspace: every node reached by a user env, and the envs themselves.
#[derive(Debug, Clone, Default)]
pub struct LayerGraph {
    /// Nodes, with an edge from each node's parent to it. Node indices follow a deterministic
    /// order (envs in source order, each from its base to its image).
    pub graph: DiGraph<Node, ()>,
    /// The user envs that lowered without errors, in source order.
    pub envs: Vec<EnvOutput>,
}

impl PartialEq for LayerGraph {
    fn eq(&self, other: &Self) -> bool {
        let edges = |g: &DiGraph<Node, ()>| -> Vec<(usize, usize)> {
            g.raw_edges()
                .iter()
                .map(|e| (e.source().index(), e.target().index()))
                .collect()
        };
        self.envs == other.envs
            && self.graph.raw_nodes().len() == other.graph.raw_nodes().len()
            && self
                .graph
                .raw_nodes()
                .iter()
                .zip(other.graph.raw_nodes())
                .all(|(a, b)| a.weight == b.weight)
            && edges(&self.graph) == edges(&other.graph)
    }
}

impl Eq for LayerGraph {}

impl LayerGraph {
    /// The node with this key.
    pub fn node(&self, key: &NodeKey) -> Option<&Node> {
        self.index(key).map(|i| &self.graph[i])
    }

    /// The index of the node with this key.
    pub fn index(&self, key: &NodeKey) -> Option<NodeIndex> {
        self.graph
            .node_indices()
            .find(|&i| self.graph[i].key == *key)
    }

    /// Nodes in an order where every parent comes before its children (the insertion order).
    pub fn nodes(&self) -> impl Iterator<Item = &Node> {
        self.graph.raw_nodes().iter().map(|n| &n.weight)
    }
}

/// One user env's result.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct EnvOutput {
    /// The env's name; `PATH#NAME` for envs of imported user files.
    pub name: String,
    /// Its image node.
    pub image: NodeKey,
    /// Its `tag`s.
    pub tags: Vec<String>,
}

/// A node of the layer graph.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Node {
    pub key: NodeKey,
    /// The node this one builds on; `None` for bases.
    pub parent: Option<NodeKey>,
    pub step: Step,
    /// The environment a `packages`, `copy` or `run` step executes in; default for the others.
    pub state: RunState,
    /// The user envs whose image includes this node, in source order.
    pub envs: Vec<String>,
}

/// What a node does.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Step {
    /// The start of a chain: an image that is not built from a spec.
    Base(BaseImage),
    /// Install these Debian packages (resolved through `duck.lock` at build time), one layer;
    /// with `apt_sources`, one more layer with the repository's apt sources and keyring.
    Packages {
        names: Vec<String>,
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        apt_sources: bool,
    },
    /// Copy files from the build context, one layer.
    Copy(CopyStep),
    /// Run a command in the parent's filesystem; the changes are the layer.
    Run(RunStep),
    /// Create the working directory `path` and its missing parents (mode 0755, owned by the
    /// step's user), as `WORKDIR`/`workdir` do: one layer holding the directory chain, where
    /// directories the parent already has keep their mode and owner.
    Mkdir { path: String },
    /// The final image of an env: no layer, a config over the chain of layers.
    Image(ImageConfig),
}

/// An external base image.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "from", rename_all = "kebab-case")]
pub enum BaseImage {
    /// The empty image.
    Scratch,
    /// An image in the store, by `name:tag` (resolved to a digest at build time).
    Stored { name: String, tag: String },
    /// An image in a registry, pinned by digest.
    Pinned { name: String, digest: String },
    /// An OCI image layout directory, relative to the build context.
    OciLayout { path: String },
}

/// A `copy`, resolved against the build context.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CopyStep {
    /// The sources as written, for display.
    pub sources: Vec<String>,
    /// The absolute destination as written (relative ones joined to the workdir), for display.
    pub destination: String,
    /// `USER[:GROUP]` for every copied entry; `None` is root.
    pub chown: Option<String>,
    /// What to write, sorted by target path; parents before children. Empty for `from=`.
    pub files: Vec<CopiedFile>,
    /// `from=`: copy out of another env's (or an image's) filesystem instead of the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<CopyFrom>,
    /// Dockerfile `ADD` of a local archive: each file is a tar (plain, gzip or zstd), extracted
    /// into the destination directory instead of copied.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unpack: bool,
}

/// The source of a `copy … from=`: paths in another node's filesystem, resolved at build time
/// (they are not known before that node is built). The node's key stands for its content.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CopyFrom {
    /// The node whose filesystem is read: another env's last layer, or a base node.
    pub node: NodeKey,
    /// How the source was named (`builder`, `busybox:1.36`), for display.
    pub name: String,
    /// Absolute paths in that filesystem, as written (`*` and `?` match within one component).
    pub paths: Vec<String>,
    /// `chmod=` for every copied entry; `None` keeps the source's modes.
    pub chmod: Option<u32>,
    /// Patterns (relative to each source) of paths not to copy.
    pub exclude: Vec<String>,
}

/// One entry a `copy` writes into the layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct CopiedFile {
    /// The path in the build context (relative).
    pub source: String,
    /// The absolute path in the image.
    pub target: String,
    pub kind: EntryKind,
    /// The mode stored in the layer: `chmod=` if given, else 0755 for directories and for files
    /// with any executable bit, 0644 for other files, 0777 for symlinks. Never the checkout's
    /// mode or umask, so keys agree between machines.
    pub mode: u32,
    /// The content digest (of the link target for symlinks); `None` for directories.
    pub digest: Option<Digest>,
    /// The file's bytes when they are written in the Dockerfile (`COPY <<EOF /dst`) rather
    /// than read from the context; `source` is then `<<NAME`. Keyed through `digest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    /// `source` is an HTTP(S) URL (`ADD URL`), downloaded at build time and checked against
    /// `digest` (the `--checksum`, or what the URL gave when the build was planned).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub url: bool,
}

/// A `run`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RunStep {
    pub command: RunCommand,
    /// The network the command sees.
    #[serde(serialize_with = "network_str")]
    pub network: Network,
    /// Mounts the command sees that are not part of the layer (`RUN --mount=` in Dockerfiles).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<RunMount>,
}

/// A mount of a `run` step: its content is never part of the layer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum RunMount {
    /// A directory kept in the store between builds, shared by every step with the same `id`.
    /// Its content is deliberately not in the key (it is a cache).
    Cache { target: String, id: String },
    /// An empty tmpfs.
    Tmpfs { target: String },
    /// A read-only bind of context files: their digests are in the key like a `copy`'s.
    Bind {
        target: String,
        /// The files under the bound path (`source` of each is its context path).
        files: Vec<CopiedFile>,
        /// The bound context path (`""` for the whole context).
        source: String,
    },
    /// A read-only bind of a path of another node's filesystem.
    BindFrom {
        target: String,
        node: NodeKey,
        source: String,
    },
}

impl RunMount {
    /// The mount point in the container.
    pub fn target(&self) -> &str {
        match self {
            RunMount::Cache { target, .. }
            | RunMount::Tmpfs { target }
            | RunMount::Bind { target, .. }
            | RunMount::BindFrom { target, .. } => target,
        }
    }
}

fn network_str<S: serde::Serializer>(n: &Network, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(n.as_str())
}

/// How a `run` command is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RunCommand {
    /// One string for `/bin/sh -c`.
    Shell(String),
    /// The argv, run without a shell.
    Exec(Vec<String>),
}

impl RunCommand {
    /// The argv to execute: `["/bin/sh", "-c", cmd]` for the shell form.
    pub fn argv(&self) -> Vec<String> {
        match self {
            RunCommand::Shell(s) => vec!["/bin/sh".to_owned(), "-c".to_owned(), s.clone()],
            RunCommand::Exec(v) => v.clone(),
        }
    }
}

/// The environment a step executes in. Part of every step's key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RunState {
    /// Environment variables in the order first set (a later `env` replaces in place).
    pub env: Vec<(String, String)>,
    /// Absolute working directory; `/` unless set.
    pub workdir: String,
    /// `USER[:GROUP]`; empty means root.
    pub user: String,
    /// OCI platforms (`linux/amd64`), the first being the one to build; empty means the host's.
    pub platforms: Vec<String>,
}

impl Default for RunState {
    fn default() -> Self {
        RunState {
            env: Vec::new(),
            workdir: "/".to_owned(),
            user: String::new(),
            platforms: Vec::new(),
        }
    }
}

/// The config of an env's image, inherited by envs `from` it (except `tags`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct ImageConfig {
    pub env: Vec<(String, String)>,
    pub entrypoint: Option<Vec<String>>,
    pub cmd: Option<Vec<String>>,
    pub workdir: String,
    pub user: String,
    pub labels: BTreeMap<String, String>,
    /// `PORT/PROTOCOL`, sorted.
    pub exposed_ports: Vec<String>,
    pub tags: Vec<String>,
    pub platforms: Vec<String>,
    /// `STOPSIGNAL` (Dockerfiles).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    /// `VOLUME` paths, sorted (Dockerfiles).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// `SHELL` (Dockerfiles): the config's `Shell`, as Docker records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shell: Option<Vec<String>>,
    /// `HEALTHCHECK` (Dockerfiles): the config's `Healthcheck`, as Docker records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Box<Healthcheck>>,
    /// `ONBUILD` triggers as written (Dockerfiles): the config's `OnBuild`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub onbuild: Vec<String>,
    /// The layer nodes of the image, base first (the base node included).
    pub layers: Vec<NodeKey>,
    /// One entry per step of the env and its bases, for the OCI history.
    pub history: Vec<History>,
}

/// A `HEALTHCHECK` as Docker's image config holds it: the test (`["NONE"]`, `["CMD", …]` or
/// `["CMD-SHELL", "…"]`) and durations in nanoseconds (0: Docker's default, not written).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Default)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub start_interval: u64,
    pub retries: u64,
}

/// One step in an image's history.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct History {
    /// The step as written, e.g. `run "make"`.
    pub created_by: String,
    /// True for steps that change only the config.
    pub empty_layer: bool,
    /// The history entry's `comment`: `network=bridge` or `network=host` for a `run` step
    /// that had the network ([`network_comment`]), so the image says which of its layers
    /// are not reproducible.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// For a step that changes only the config: the key of the image as it stands after the
    /// step (its top layer and the config so far, keyed as the image node is), which build
    /// output prints as the step's id. Not part of the OCI history, nor of any key.
    #[serde(skip)]
    pub image: Option<NodeKey>,
}

/// The image as it stands after a step that changes only the config: its key
/// ([`History::image`]) and its top layer node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StepImage {
    pub key: NodeKey,
    pub top: NodeKey,
}

/// The history comment of a `run` step on `network`: none for a step without the network.
pub fn network_comment(network: Network) -> Option<String> {
    network
        .reaches_out()
        .then(|| format!("network={}", network.as_str()))
}
