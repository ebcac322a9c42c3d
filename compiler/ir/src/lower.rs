//! Lowering: each env becomes a chain of layer nodes with keys, ending in an image node.
//!
//! `lower_env` is tracked per env and reads only that env's fields, its base's lowering, and the
//! context entries its `copy` steps copy. So an edit inside one env re-lowers that env and the
//! envs built on it, and a change to a context file no `copy` reads re-lowers nothing.
//!
//! Checking is apart from lowering: [`env_lowers`] finds and reports every mistake lowering
//! would meet (a missing `copy` source, a bad `copy … from=`) and says whether the env lowers,
//! without building a node or hashing a key. Diagnostics run only it; `lower_env` runs for what
//! needs keys (the graph, a build, hover) and reports nothing of its own.

use duckc_syntax::Code;
use duckc_syntax::reference::ImageRef;
use duckc_syntax::suggest::nearest;
use salsa::Accumulator;

use crate::diagnostics::Diag;
use crate::graph::*;
use crate::history::describe;
use crate::inputs::{Context, EntryKind};
use crate::items::{EnvItem, Ptr, StepDecl, StepDeclKind};
use crate::key::NodeKey;
use crate::node_key::{base_key, image_key, layer_key, step_image_key};
use crate::path::join;
use crate::resolve::{Ancestry, Base, ancestry, env_base};

/// One env, lowered.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LoweredEnv {
    /// The nodes this env adds, in order: its external base (if its `from` is not an env), its
    /// layers, and its image node last.
    pub nodes: Vec<Node>,
    /// The last layer node: what an env `from` this one builds on.
    pub top: NodeKey,
    /// The run state at the end, inherited by envs `from` this one.
    pub state: RunState,
    /// The image config (tags included; envs `from` this one drop them).
    pub config: ImageConfig,
}

impl LoweredEnv {
    /// The image node's key.
    pub fn image(&self) -> NodeKey {
        self.nodes.last().map_or(self.top, |n| n.key)
    }
}

/// Whether an env lowers: `lower_env(env).is_some()`, without computing any node or key. It
/// reports every mistake lowering finds (a missing `copy` source, a bad `copy … from=`), and it
/// is what diagnostics run, so checking a spec never hashes a key. An edit that keeps an env
/// lowering re-runs this env's check alone: the `true` it returns again is backdated, and the
/// checks of the envs `from` it do not re-run.
#[salsa::tracked(returns(copy))]
pub fn env_lowers<'db>(db: &'db dyn salsa::Database, env: EnvItem<'db>) -> bool {
    let base_lowers = match (ancestry(db, env), env_base(db, env)) {
        (Ancestry::Chain(_), Base::Env(base)) => env_lowers(db, *base),
        (Ancestry::Chain(_), external) => base_node(external).is_some(),
        _ => false,
    };
    let mut ok = base_lowers;
    for step in env.steps(db) {
        if let StepDeclKind::Copy { sources, from, .. } = &step.kind {
            match from {
                None => ok &= check_copy_sources(db, env, step, sources),
                // A `copy … from=` is checked only when the env's bases lower (as `lower_env`
                // reaches it only then).
                Some((source_env, value)) if base_lowers => {
                    ok &= copy_from_source(db, env, step.step, source_env, *value)
                        .is_some_and(|source| env_lowers(db, source));
                }
                Some(_) => {}
            }
        }
    }
    ok
}

/// Lowers an env. `None` when it or a base cannot be lowered ([`env_lowers`] reported why).
#[salsa::tracked(returns(ref))]
pub fn lower_env<'db>(db: &'db dyn salsa::Database, env: EnvItem<'db>) -> Option<LoweredEnv> {
    if !env_lowers(db, env) {
        return None;
    }
    let mut nodes = Vec::new();
    let start = match (ancestry(db, env), env_base(db, env)) {
        (Ancestry::Chain(_), Base::Env(base)) => lower_env(db, *base).as_ref().map(|lowered| {
            let mut config = lowered.config.clone();
            config.tags.clear();
            (lowered.top, lowered.state.clone(), config)
        }),
        (Ancestry::Chain(_), external) => base_node(external).map(|node| {
            let key = node.key;
            nodes.push(node);
            let config = ImageConfig {
                layers: vec![key],
                ..ImageConfig::default()
            };
            (key, RunState::default(), config)
        }),
        _ => None,
    };
    let (mut parent, mut state, mut config) = start?;
    let steps = env.steps(db);
    // `platform` is for the whole env, wherever it is written.
    for step in steps {
        if let StepDeclKind::Platform(p) = &step.kind {
            state.platforms = p.clone();
        }
    }
    let mut ok = true;
    let mut entrypoint_set = false;
    for step in steps {
        let mut empty_layer = true;
        let node_step = match &step.kind {
            StepDeclKind::Packages(names, apt_sources) => Some(Step::Packages {
                names: names.clone(),
                apt_sources: *apt_sources,
            }),
            StepDeclKind::Copy {
                sources,
                destination,
                chown,
                chmod,
                from: Some((source_env, value)),
            } => match copy_from(db, env, step.step, source_env, *value) {
                Some((node, name)) => Some(Step::Copy(CopyStep {
                    sources: sources.clone(),
                    destination: join(&state.workdir, destination),
                    chown: chown.clone(),
                    files: Vec::new(),
                    from: Some(CopyFrom {
                        node,
                        name,
                        paths: sources.iter().map(|p| join("/", p)).collect(),
                        chmod: *chmod,
                        exclude: Vec::new(),
                    }),
                    unpack: false,
                })),
                None => {
                    ok = false;
                    None
                }
            },
            StepDeclKind::Copy {
                sources,
                destination,
                chown,
                chmod,
                from: None,
            } => {
                let destination = join(&state.workdir, destination);
                match copy_files(db, env, sources, &destination, *chmod) {
                    Some(files) => Some(Step::Copy(CopyStep {
                        sources: sources.clone(),
                        destination,
                        chown: chown.clone(),
                        files,
                        from: None,
                        unpack: false,
                    })),
                    None => {
                        ok = false;
                        None
                    }
                }
            }
            StepDeclKind::Run { command, network } => Some(Step::Run(RunStep {
                command: command.clone(),
                network: *network,
                mounts: Vec::new(),
            })),
            StepDeclKind::Env(vars) => {
                for (k, v) in vars {
                    match state.env.iter_mut().find(|(key, _)| key == k) {
                        Some(slot) => slot.1 = v.clone(),
                        None => state.env.push((k.clone(), v.clone())),
                    }
                }
                None
            }
            StepDeclKind::Workdir(w) => {
                // As Docker: the directory exists in the image, not only while a `run` runs.
                state.workdir = join(&state.workdir, w);
                (state.workdir != "/").then(|| Step::Mkdir {
                    path: state.workdir.clone(),
                })
            }
            StepDeclKind::User(u) => {
                state.user = u.clone();
                None
            }
            StepDeclKind::Entrypoint(v) => {
                config.entrypoint = Some(v.clone());
                if !entrypoint_set {
                    // As in Docker: a new entrypoint drops the inherited cmd.
                    config.cmd = None;
                    entrypoint_set = true;
                }
                None
            }
            StepDeclKind::Cmd(v) => {
                config.cmd = Some(v.clone());
                None
            }
            StepDeclKind::Label(k, v) => {
                config.labels.insert(k.clone(), v.clone());
                None
            }
            StepDeclKind::Expose(ports) => {
                config
                    .exposed_ports
                    .extend(ports.iter().map(|p| p.to_string()));
                config.exposed_ports.sort();
                config.exposed_ports.dedup();
                None
            }
            StepDeclKind::Tag(tags) => {
                config.tags.extend(tags.iter().cloned());
                None
            }
            StepDeclKind::Platform(_) => None,
        };
        if let Some(node_step) = node_step {
            let key = layer_key(parent, &node_step, &state);
            nodes.push(Node {
                key,
                parent: Some(parent),
                step: node_step,
                state: state.clone(),
                envs: Vec::new(),
            });
            config.layers.push(key);
            parent = key;
            empty_layer = false;
        }
        let comment = match &step.kind {
            StepDeclKind::Run { network, .. } => crate::graph::network_comment(*network),
            _ => None,
        };
        config.history.push(History {
            created_by: describe(&step.kind),
            empty_layer,
            comment,
            image: None,
        });
        if empty_layer {
            let image = step_image_key(parent, &config, &state);
            if let Some(last) = config.history.last_mut() {
                last.image = Some(image);
            }
        }
    }
    if !ok {
        return None;
    }
    config.env = state.env.clone();
    config.workdir = state.workdir.clone();
    config.user = state.user.clone();
    config.platforms = state.platforms.clone();
    let image_key = image_key(parent, &config);
    nodes.push(Node {
        key: image_key,
        parent: Some(parent),
        step: Step::Image(config.clone()),
        state: RunState::default(),
        envs: Vec::new(),
    });
    Some(LoweredEnv {
        nodes,
        top: parent,
        state,
        config,
    })
}

fn base_node(base: &Base<'_>) -> Option<Node> {
    let image = match base {
        Base::Scratch => BaseImage::Scratch,
        Base::Image(ImageRef::Tagged { name, tag }) => BaseImage::Stored {
            name: name.clone(),
            tag: tag.clone(),
        },
        Base::Image(ImageRef::Pinned { name, digest }) => BaseImage::Pinned {
            name: name.clone(),
            digest: digest.clone(),
        },
        Base::OciLayout(path) => BaseImage::OciLayout { path: path.clone() },
        Base::Env(_) | Base::Unresolved => return None,
    };
    Some(Node {
        key: base_key(&image),
        parent: None,
        step: Step::Base(image),
        state: RunState::default(),
        envs: Vec::new(),
    })
}

/// A context path as written (`./src/`, `.`) to the listing's form (`src`, ``).
fn normalize_source(s: &str) -> String {
    let parts: Vec<&str> = s
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    parts.join("/")
}

/// Whether every source of a `copy` (not `from=`) is in the build context; reports those that
/// are not, and a `copy` in a stdlib module (which has no context).
fn check_copy_sources(
    db: &dyn salsa::Database,
    env: EnvItem<'_>,
    step: &StepDecl,
    sources: &[String],
) -> bool {
    let file = env.file(db);
    let ptr = |value: usize| Ptr::Value {
        item: env.item(db),
        step: step.step,
        value: value as u32,
    };
    let Some(context) = file.context(db) else {
        Diag::error(
            file,
            Code::MissingCopySource,
            "a stdlib module has no build context to copy from",
            ptr(0).loc(),
            "nothing to copy from",
        )
        .with_help("stdlib modules install with `packages` and `run`")
        .accumulate(db);
        return false;
    };
    let listing = context.entries(db);
    let mut ok = true;
    for (i, source) in sources.iter().enumerate() {
        let path = normalize_source(source);
        if !path.is_empty() && !listing.contains_key(&path) {
            ok = false;
            missing_source(db, context, file, ptr(i), source, &path);
        }
    }
    ok
}

/// The entries a `copy` writes, read from the context listing and from the entries it copies
/// (and no others). `None` if a source is missing ([`check_copy_sources`] reports it).
fn copy_files(
    db: &dyn salsa::Database,
    env: EnvItem<'_>,
    sources: &[String],
    destination: &str,
    chmod: Option<u32>,
) -> Option<Vec<crate::graph::CopiedFile>> {
    let listing = env.file(db).context(db)?.entries(db);
    let dest_dir = destination.trim_end_matches('/');
    let into_dir = destination.ends_with('/') || sources.len() > 1;
    let mut files: std::collections::BTreeMap<String, CopiedFile> =
        std::collections::BTreeMap::new();
    for source in sources {
        let path = normalize_source(source);
        let entry_kind = if path.is_empty() {
            EntryKind::Dir
        } else {
            listing.get(&path)?.kind(db)
        };
        match entry_kind {
            EntryKind::Dir => {
                // A directory copies its contents, as in Docker.
                let prefix = if path.is_empty() {
                    String::new()
                } else {
                    format!("{path}/")
                };
                for (p, entry) in listing
                    .range(prefix.clone()..)
                    .take_while(|(p, _)| p.starts_with(&prefix))
                {
                    let target = format!("{dest_dir}/{}", &p[prefix.len()..]);
                    files.insert(target.clone(), copied(db, p, target, *entry, chmod));
                }
            }
            _ => {
                let name = path.rsplit('/').next().unwrap_or(&path);
                let target = if into_dir {
                    format!("{dest_dir}/{name}")
                } else {
                    dest_dir.to_owned()
                };
                let entry = listing[&path];
                files.insert(target.clone(), copied(db, &path, target, entry, chmod));
            }
        }
    }
    Some(files.into_values().collect())
}

fn copied(
    db: &dyn salsa::Database,
    source: &str,
    target: String,
    entry: crate::inputs::ContextEntry,
    chmod: Option<u32>,
) -> CopiedFile {
    let kind = entry.kind(db);
    let mode = match (kind, chmod) {
        (EntryKind::Symlink, _) => 0o777,
        (_, Some(m)) => m,
        (EntryKind::Dir, None) => 0o755,
        (EntryKind::File, None) if entry.mode(db) & 0o111 != 0 => 0o755,
        (EntryKind::File, None) => 0o644,
    };
    let digest = if kind == EntryKind::Dir {
        None
    } else {
        entry.digest(db)
    };
    CopiedFile {
        source: source.to_owned(),
        target,
        kind,
        mode,
        digest,
        content: None,
        url: false,
    }
}

fn missing_source(
    db: &dyn salsa::Database,
    context: Context,
    file: crate::inputs::SpecFile,
    ptr: Ptr,
    source: &str,
    path: &str,
) {
    let listing = context.entries(db);
    let near = nearest(path, listing.keys().map(String::as_str));
    let label = match near {
        Some(s) => format!("did you mean `{s}`?"),
        None => "not in the build context".to_owned(),
    };
    // The context's path, with the `./` and the trailing `/` the source was written with.
    let fix = near.map(|s| {
        let dot = if source.starts_with("./") { "./" } else { "" };
        let slash = if source.ends_with('/') && !s.ends_with('/') {
            "/"
        } else {
            ""
        };
        crate::diagnostics::quoted(&format!("{dot}{s}{slash}"))
    });
    let top: Vec<String> = listing
        .keys()
        .filter(|k| !k.contains('/'))
        .take(8)
        .map(|k| format!("`{k}`"))
        .collect();
    let help = if top.is_empty() {
        "the build context (the spec's directory) is empty; add the file next to the spec"
            .to_owned()
    } else {
        format!(
            "sources are relative to the spec's directory, which holds {}{}",
            top.join(", "),
            if listing.keys().filter(|k| !k.contains('/')).count() > 8 {
                ", …"
            } else {
                ""
            }
        )
    };
    let diag = Diag::error(
        file,
        Code::MissingCopySource,
        format!("copy source `{source}` is not in the build context"),
        ptr.loc(),
        label,
    )
    .with_help(help);
    match fix {
        Some(fix) => diag.with_suggestion(ptr.loc(), fix),
        None => diag,
    }
    .accumulate(db);
}

/// The env a `copy … from="ENV"` reads. The env must be defined above this one in the same
/// file, and so must every env it is built `from`: then no chain of `from`s and
/// `copy … from=`s can lead back here, and lowering never cycles. Reports a name that breaks
/// this; `None` then, and when that env's own `from`s are broken (reported where it is).
fn copy_from_source<'db>(
    db: &'db dyn salsa::Database,
    env: EnvItem<'db>,
    step: u32,
    name: &str,
    value: u32,
) -> Option<EnvItem<'db>> {
    let file = env.file(db);
    let ptr = Ptr::Value {
        item: env.item(db),
        step,
        value,
    };
    let here = env.item(db);
    let source = crate::resolve::scope(db, file).local.get(name).copied();
    let earlier = |e: &EnvItem<'_>| e.item(db) < here;
    let ok = match source {
        Some(s) if earlier(&s) => match ancestry(db, s) {
            Ancestry::Chain(chain) => chain.iter().all(|e| e.file(db) != file || earlier(e)),
            _ => return None, // reported where that env is
        },
        _ => false,
    };
    if !ok {
        let above: Vec<String> = crate::parse(db, file)
            .envs
            .iter()
            .filter(|e| earlier(e))
            .map(|e| format!("`{}`", e.name(db)))
            .collect();
        Diag::error(
            file,
            Code::UnknownFrom,
            format!("`copy … from=\"{name}\"` names no env defined above this one"),
            ptr.loc(),
            "not an env above",
        )
        .with_help(if above.is_empty() {
            "copy from an env defined earlier in this file (with its bases), e.g. `copy \"/out/app\" \"/app\" from=\"builder\"`".to_owned()
        } else {
            format!(
                "copy from an env defined earlier in this file (with its bases): {}",
                above.join(", ")
            )
        })
        .accumulate(db);
        return None;
    }
    source
}

/// The node a `copy … from="ENV"` reads: that env's last layer.
fn copy_from(
    db: &dyn salsa::Database,
    env: EnvItem<'_>,
    step: u32,
    name: &str,
    value: u32,
) -> Option<(NodeKey, String)> {
    let source = copy_from_source(db, env, step, name, value)?;
    lower_env(db, source)
        .as_ref()
        .map(|l| (l.top, name.to_owned()))
}
