//! The scheduler: every node the selected envs need runs once its parent is done, on rayon's
//! pool, so independent branches (two envs over one base) build in parallel. Results come back
//! over a channel to the caller's thread, which reports them as [`Event`]s in completion order
//! and assembles each env's image as soon as its last layer is ready.
//!
//! A node whose cache key is in the store's cache index is not executed (`Using cache`); nor
//! is one a remote cache ([`crate::RemoteCache`], `--cache-from`) brings into that index
//! first. The first failure stops new work; nodes already running finish (and are cached),
//! so a rerun starts from there.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use duckc_image::Image;
use duckc_ir::{BaseImage, LayerGraph, Node, NodeKey, Step};
use duckc_store::{Digest, LayerRef, Store};

use crate::assemble::{Assembled, assemble};
use crate::plan::EnvPlan;
use crate::{Error, Result, cache_key, root_key};

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The build context `copy` reads from.
    pub context: PathBuf,
    /// Do not look nodes up in the cache (`--no-cache`).
    pub no_cache: bool,
    /// Record newly built nodes in the cache.
    pub write_cache: bool,
    /// Extra tags for the last selected env (`-t`).
    pub extra_tags: Vec<String>,
    /// The lock and repository `packages` nodes are built from (`None`: the spec has none).
    pub packages: Option<Arc<duckc_packages::locking::PackagesContext>>,
    /// Stored bases (as [`crate::plan::base_name`] writes them) resolved by this digest
    /// instead of their tag: what `duck.lock` pins, or what `--pull` just fetched.
    pub bases: BTreeMap<String, Digest>,
    /// Where to look for a node the store's cache lacks before building it
    /// (`--cache-from`).
    pub remote_cache: Option<Arc<dyn crate::RemoteCache>>,
    /// What the steps' generated `/etc/hosts` and `/etc/resolv.conf` say (`build --dns`,
    /// `--add-host`, …). Not in any cache key: the files are mounted, never in a layer.
    pub dns: duckc_runtime::Dns,
}

/// What a base image contributes besides its layers.
#[derive(Debug, Clone, Default)]
pub struct BaseInfo {
    /// The base image's config (`null` for `scratch`).
    pub config: serde_json::Value,
    /// The base's manifest digest (`None` for `scratch`).
    pub digest: Option<Digest>,
    /// The short image id, as Docker shows it after `FROM`.
    pub short_id: Option<String>,
}

impl BaseInfo {
    /// `config.Env` of the base image.
    pub fn env(&self) -> Vec<String> {
        self.config
            .pointer("/config/Env")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default()
    }

    /// A string field of the base image's `config`.
    pub fn string(&self, field: &str) -> Option<String> {
        self.config
            .pointer(&format!("/config/{field}"))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    }
}

/// The outcome of one node.
#[derive(Debug, Clone)]
pub struct NodeResult {
    pub key: NodeKey,
    /// The platform it was built for (`linux/amd64`).
    pub platform: String,
    pub cache_key: Digest,
    /// The layers of the chain up to and including this node, bottom first.
    pub layers: Vec<LayerRef>,
    /// This node's own layer (`None` for bases).
    pub layer: Option<LayerRef>,
    pub base: Arc<BaseInfo>,
    /// Taken from the cache rather than executed.
    pub cached: bool,
    /// What a `run` step printed; what a `packages` step did.
    pub output: Vec<u8>,
}

/// One thing to build: a graph node, for a platform (`linux/arm64`). An env built for two
/// platforms builds each of its nodes twice; the platform is part of every cache key.
pub type Unit = (NodeKey, String);

/// What the build reports while it runs, on the caller's thread.
#[derive(Debug)]
pub enum Event<'a> {
    /// A node began executing for a platform (cache lookups included).
    Started(&'a Node, &'a str),
    /// A running node says what it is doing (a `packages` step: a download, a package).
    Progress(&'a Node, &'a str, &'a str),
    /// A running node printed a line of output (a `run` step's command, a `packages` step's
    /// log), as it came.
    Output(&'a Node, &'a str, &'a str),
    /// A node failed; the build stops after the nodes running now.
    Failed(&'a Node, &'a str, &'a Error),
    /// A node is done.
    Finished(&'a Node, &'a NodeResult),
    /// An env's image is assembled and tagged.
    EnvBuilt(&'a EnvPlan, &'a Assembled),
    /// Nothing happened for a while (for live views).
    Tick,
}

/// What a build produced.
#[derive(Debug, Default)]
pub struct BuildOutcome {
    /// Every finished node, by compiler key and platform.
    pub nodes: BTreeMap<Unit, NodeResult>,
    /// The assembled envs, in plan order.
    pub images: Vec<(String, Assembled)>,
    /// The first failure, if any (the build stopped there).
    pub error: Option<(Option<NodeKey>, Error)>,
}

impl BuildOutcome {
    /// The nodes built for `platform`, by compiler key.
    pub fn on(&self, platform: &str) -> BTreeMap<NodeKey, NodeResult> {
        self.nodes
            .iter()
            .filter(|((_, p), _)| p == platform)
            .map(|((k, _), r)| (*k, r.clone()))
            .collect()
    }
}

/// What a node's worker sends back to the scheduler.
enum Message {
    Progress(Unit, String),
    Output(Unit, String),
    Done(Unit, Box<Result<NodeResult>>),
}

/// Builds the envs of `plans` from `graph` into `store`.
pub fn build(
    store: &Store,
    graph: &LayerGraph,
    plans: &[EnvPlan],
    opts: &BuildOptions,
    on_event: &mut dyn FnMut(Event<'_>),
) -> Result<BuildOutcome> {
    let _lease = store.lease()?;
    // `run` steps inherit the umask: fix it to Docker's 0022, so files they create have the
    // same modes whatever the caller's umask (layer digests must not depend on it).
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o022));
    let (needed, nodes) = units(graph, plans)?;
    let mut outcome = BuildOutcome::default();
    let mut started: BTreeSet<Unit> = BTreeSet::new();
    let mut assembled = vec![false; plans.len()];
    let (tx, rx) = mpsc::channel::<Message>();
    let mut running = 0usize;
    let last = plans.len().saturating_sub(1);
    loop {
        if outcome.error.is_none() {
            for unit in &needed {
                if started.contains(unit) {
                    continue;
                }
                let (key, platform) = unit;
                let node = &nodes[key];
                let parent = match node.parent {
                    None => None,
                    Some(p) => match outcome.nodes.get(&(p, platform.clone())) {
                        Some(r) => Some(r.clone()),
                        None => continue,
                    },
                };
                let extra: Vec<Unit> = extra_dependencies(node)
                    .into_iter()
                    .map(|k| (k, source_platform(&nodes[&k], platform)))
                    .collect();
                if !extra.iter().all(|u| outcome.nodes.contains_key(u)) {
                    continue;
                }
                let sources: BTreeMap<NodeKey, NodeResult> = extra
                    .iter()
                    .map(|u| (u.0, outcome.nodes[u].clone()))
                    .collect();
                started.insert(unit.clone());
                running += 1;
                on_event(Event::Started(node, platform));
                let (tx, node, store, opts, unit) = (
                    tx.clone(),
                    node.clone(),
                    store.clone(),
                    opts.clone(),
                    unit.clone(),
                );
                rayon::spawn(move || {
                    let tx_out = tx.clone();
                    let out_unit = unit.clone();
                    let say = |line: String| {
                        let _ = tx.send(Message::Progress(unit.clone(), line));
                    };
                    let print = move |line: String| {
                        let _ = tx_out.send(Message::Output(out_unit.clone(), line));
                    };
                    let report = Report {
                        status: &say,
                        output: &print,
                    };
                    let result = execute(
                        &store,
                        &node,
                        &unit.1,
                        parent.as_ref(),
                        &sources,
                        &opts,
                        &report,
                    );
                    let _ = tx.send(Message::Done(unit, Box::new(result)));
                });
            }
            // Assemble every env whose layers are all done, on every platform.
            for (i, plan) in plans.iter().enumerate() {
                let done = plan.platforms.iter().all(|p| {
                    plan.layers
                        .iter()
                        .all(|k| outcome.nodes.contains_key(&(*k, p.clone())))
                });
                if assembled[i] || !done {
                    continue;
                }
                assembled[i] = true;
                let extra: &[String] = if i == last { &opts.extra_tags } else { &[] };
                match assemble(store, graph, plan, &outcome.nodes, extra) {
                    Ok(a) => {
                        on_event(Event::EnvBuilt(plan, &a));
                        outcome.images.push((plan.env.name.clone(), a));
                    }
                    Err(e) => outcome.error = Some((None, e)),
                }
            }
        }
        if running == 0 {
            break;
        }
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Message::Progress((key, platform), line)) => {
                on_event(Event::Progress(&nodes[&key], &platform, &line));
            }
            Ok(Message::Output((key, platform), line)) => {
                on_event(Event::Output(&nodes[&key], &platform, &line));
            }
            Ok(Message::Done(unit, result)) => {
                running -= 1;
                match *result {
                    Ok(r) => {
                        on_event(Event::Finished(&nodes[&unit.0], &r));
                        outcome.nodes.insert(unit, r);
                    }
                    Err(e) => {
                        on_event(Event::Failed(&nodes[&unit.0], &unit.1, &e));
                        if outcome.error.is_none() {
                            outcome.error = Some((Some(unit.0), e));
                        }
                    }
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => on_event(Event::Tick),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    Ok(outcome)
}

/// The units a build needs, and their nodes by key.
pub type Units = (BTreeSet<Unit>, BTreeMap<NodeKey, Arc<Node>>);

/// Every unit the plans need (each env's layer nodes for each of its platforms, and,
/// transitively, their parents and what they read from other chains), with the nodes by key.
pub fn units(graph: &LayerGraph, plans: &[EnvPlan]) -> Result<Units> {
    let mut needed: BTreeSet<Unit> = BTreeSet::new();
    let mut todo: Vec<Unit> = Vec::new();
    for p in plans {
        for platform in &p.platforms {
            todo.extend(p.layers.iter().map(|k| (*k, platform.clone())));
        }
    }
    let mut nodes: BTreeMap<NodeKey, Arc<Node>> = BTreeMap::new();
    let node = |k: &NodeKey| {
        graph
            .node(k)
            .ok_or_else(|| Error::MissingNode(k.to_string()))
    };
    while let Some(unit) = todo.pop() {
        if needed.contains(&unit) {
            continue;
        }
        let n = node(&unit.0)?;
        todo.extend(n.parent.map(|k| (k, unit.1.clone())));
        for k in extra_dependencies(n) {
            todo.push((k, source_platform(node(&k)?, &unit.1)));
        }
        nodes.insert(unit.0, Arc::new(n.clone()));
        needed.insert(unit);
    }
    Ok((needed, nodes))
}

/// The platform a chain read by a unit of `platform` (`copy … from=`, a bind mount) is built
/// for: the reader's, unless the source's env names platforms without it — then the source's
/// first, as Docker builds a `FROM --platform=$BUILDPLATFORM` stage for the build machine and
/// copies its output into the target's image.
pub fn source_platform(source: &Node, platform: &str) -> String {
    match source.state.platforms.first() {
        Some(first) if !source.state.platforms.iter().any(|p| p == platform) => first.clone(),
        _ => platform.to_owned(),
    }
}

/// Where a running node reports to: a status line for live views, and lines of output.
pub(crate) struct Report<'a> {
    /// What the node is doing now (replaced by the next status).
    pub status: &'a (dyn Fn(String) + Sync),
    /// A line the node printed (kept: part of the build's output).
    pub output: &'a (dyn Fn(String) + Sync),
}

/// Executes one node (or takes it from the cache).
fn execute(
    store: &Store,
    node: &Node,
    platform: &str,
    parent: Option<&NodeResult>,
    sources: &BTreeMap<NodeKey, NodeResult>,
    opts: &BuildOptions,
    report: &Report<'_>,
) -> Result<NodeResult> {
    let Some(parent) = parent else {
        return base(store, node, platform, opts);
    };
    if let Step::Packages { names, apt_sources } = &node.step {
        // Package files have owners other than root (`shadow`, `messagebus`, …).
        if duckc_runtime::userns::missing_ids_help().is_some() {
            return Err(Error::NoSubordinateIds {
                what: "a `packages` step".into(),
            });
        }
        let step = PackagesStep {
            names,
            apt_sources: *apt_sources,
        };
        return packages(store, node, &step, platform, parent, opts, report);
    }
    // What other chains a node reads is part of its cache key through their cache keys.
    let extra = (!sources.is_empty()).then(|| {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        for r in sources.values() {
            h.update(r.cache_key.as_bytes());
        }
        Digest::from_hasher(h)
    });
    let key = cache_key(&node.key, Some(&parent.cache_key), extra.as_ref());
    let done = |layer: LayerRef, cached: bool, output: Vec<u8>| {
        let mut layers = parent.layers.clone();
        layers.push(layer.clone());
        NodeResult {
            key: node.key,
            platform: platform.to_owned(),
            cache_key: key,
            layers,
            layer: Some(layer),
            base: parent.base.clone(),
            cached,
            output,
        }
    };
    if !opts.no_cache && store.cache_get(&key)?.is_none() {
        from_remote(store, &key, opts, report.status);
    }
    if !opts.no_cache
        && let Some(layer) = store.cache_get(&key)?
        && store.layer(&layer.diff_id)?.is_some()
    {
        return Ok(done(layer, true, Vec::new()));
    }
    let (layer, output) = match &node.step {
        Step::Copy(copy) => match &copy.from {
            None => (
                crate::copy::copy_layer(store, copy, &opts.context, &parent.layers)?,
                Vec::new(),
            ),
            Some(from) => {
                let source = sources
                    .get(&from.node)
                    .ok_or_else(|| Error::MissingNode(from.node.to_string()))?;
                let layer = crate::copy_from::copy_from_layer(
                    store,
                    copy,
                    from,
                    &source.layers,
                    &parent.layers,
                )?;
                (layer, Vec::new())
            }
        },
        Step::Run(run) => {
            if let duckc_runtime::emulation::Support::Missing(reason) =
                duckc_runtime::emulation::support(platform)
            {
                return Err(Error::Platform {
                    step: crate::run::describe(&run.command),
                    platform: platform.to_owned(),
                    reason,
                });
            }
            crate::run::run_layer(
                store,
                run,
                &node.state,
                &parent.base,
                &parent.layers,
                &crate::run::Mounts {
                    context: &opts.context,
                    sources,
                    dns: &opts.dns,
                },
                report.output,
            )?
        }
        Step::Mkdir { path } => (
            crate::copy::mkdir_layer(store, path, &node.state.user, &parent.layers)?,
            Vec::new(),
        ),
        Step::Packages { .. } | Step::Base(_) | Step::Image(_) => {
            return Err(Error::MissingNode(node.key.to_string()));
        }
    };
    duckc_store::crash_point("build-layer-written");
    if opts.write_cache {
        store.cache_put(&key, &layer)?;
    }
    Ok(done(layer, false, output))
}

/// Asks the remote cache (if any) for the entry `key` the store's cache lacks; a failure is
/// a warning (the step is then built here), never the build's failure.
fn from_remote(store: &Store, key: &Digest, opts: &BuildOptions, say: &(dyn Fn(String) + Sync)) {
    if let Some(remote) = &opts.remote_cache
        && let Err(e) = remote.import(store, key)
    {
        say(format!(
            "warning: cannot take this step from the registry cache: {e}"
        ));
    }
}

/// The cache key of a `packages` node built for `platform`: besides its step and parent,
/// every package it pins, so a moved pin is never taken from the cache.
pub fn packages_cache_key(
    ctx: &duckc_packages::locking::PackagesContext,
    node: &Node,
    step: &PackagesStep<'_>,
    platform: &str,
    parent: &Digest,
) -> Result<Digest> {
    let pins = ctx.pins(
        &node.key.to_string(),
        step.names,
        platform,
        step.apt_sources,
    )?;
    Ok(cache_key(&node.key, Some(parent), Some(&pins)))
}

/// What a `packages` node asks for.
pub struct PackagesStep<'a> {
    pub names: &'a [String],
    /// `apt-sources=#true`.
    pub apt_sources: bool,
}

/// Builds (or takes from the cache) the layers of a `packages` node: one per package (or
/// group), the dpkg database, what configuring them changed, and with `apt-sources` the
/// repository's apt sources and keyring.
fn packages(
    store: &Store,
    node: &Node,
    step: &PackagesStep<'_>,
    platform: &str,
    parent: &NodeResult,
    opts: &BuildOptions,
    report: &Report<'_>,
) -> Result<NodeResult> {
    let ctx = opts.packages.as_deref().ok_or(Error::PackagesUnlocked)?;
    let key = packages_cache_key(ctx, node, step, platform, &parent.cache_key)?;
    let log = std::sync::Mutex::new(crate::packages_log::Log::default());
    let cached = if opts.no_cache {
        None
    } else {
        if store.cache_get_many(&key)?.is_none() {
            from_remote(store, &key, opts, report.status);
        }
        store.cache_get_many(&key)?
    };
    let present = |layers: &[LayerRef]| -> Result<bool> {
        for l in layers {
            if store.layer(&l.diff_id)?.is_none() {
                return Ok(false);
            }
        }
        Ok(!layers.is_empty())
    };
    let (new, cached) = match cached {
        Some(layers) if present(&layers)? => (layers, true),
        _ => {
            let layers = ctx.build(
                store,
                &node.key.to_string(),
                step.names,
                platform,
                &parent.layers,
                step.apt_sources,
                &|event| {
                    let (status, lines) = log
                        .lock()
                        .map(|mut l| (l.event(&event), l.take_new()))
                        .unwrap_or_default();
                    for line in lines {
                        (report.output)(line);
                    }
                    if let Some(line) = status {
                        (report.status)(line);
                    }
                },
            )?;
            duckc_store::crash_point("build-layer-written");
            if opts.write_cache {
                store.cache_put_many(&key, &layers)?;
            }
            (layers, false)
        }
    };
    let mut layers = parent.layers.clone();
    layers.extend(new.iter().cloned());
    let mut log = log.into_inner().unwrap_or_default();
    for line in log.flush() {
        (report.output)(line);
    }
    let output = log.output();
    Ok(NodeResult {
        key: node.key,
        platform: platform.to_owned(),
        cache_key: key,
        layers,
        layer: new.last().cloned(),
        base: parent.base.clone(),
        cached,
        output,
    })
}

/// The nodes `node` waits for: its parent and what it reads from other chains.
pub fn dependencies(node: &Node) -> Vec<NodeKey> {
    let mut out: Vec<NodeKey> = node.parent.into_iter().collect();
    out.extend(extra_dependencies(node));
    out
}

/// The nodes of other chains `node` reads: a `copy … from=` source, `run` bind mounts' sources.
pub fn extra_dependencies(node: &Node) -> Vec<NodeKey> {
    let mut out = Vec::new();
    match &node.step {
        Step::Copy(c) => out.extend(c.from.as_ref().map(|f| f.node)),
        Step::Run(r) => {
            for m in &r.mounts {
                if let duckc_ir::RunMount::BindFrom { node, .. } = m {
                    out.push(*node);
                }
            }
        }
        _ => {}
    }
    out.sort();
    out.dedup();
    out
}

/// Resolves a base node to its image.
fn base(store: &Store, node: &Node, platform: &str, opts: &BuildOptions) -> Result<NodeResult> {
    let Step::Base(b) = &node.step else {
        return Err(Error::MissingNode(node.key.to_string()));
    };
    let image = match resolve_base(store, b, platform, opts)? {
        None => {
            return Ok(NodeResult {
                key: node.key,
                platform: platform.to_owned(),
                cache_key: root_key(&node.key, None, platform),
                layers: Vec::new(),
                layer: None,
                base: Arc::new(BaseInfo::default()),
                cached: true,
                output: Vec::new(),
            });
        }
        Some(image) => image,
    };
    // A pulled base's layers are checked against their diff_ids when first unpacked, here
    // (the build unpacks them anyway for its `run` and `copy` steps): until then nothing in
    // the build (a cache hit, the image it records, `--cache-to`) may take their word. A
    // diff_id the store holds from another blob is no word for this base's own blob, which
    // the image the build records names: that blob is read once (`check_layer`).
    let name = crate::plan::base_name(b);
    for l in &image.layers {
        if store.is_checked(&l.diff_id)? {
            store.check_layer(l, &name)?;
        } else {
            store.snapshot_layer(l, &name)?;
        }
    }
    // Rootless without subordinate ids, a base's files of other owners are unpacked as root's:
    // a step that touched one would record it with owner 0, an image unlike root's build of
    // the same spec. Refused, with what to add (the unpack is needed for the steps anyway).
    if duckc_runtime::userns::missing_ids_help().is_some() {
        for l in &image.layers {
            store.snapshot(&l.diff_id)?;
        }
        if let Some(d) = store.dropped_owner(&image.layers)? {
            return Err(Error::NoSubordinateIds {
                what: format!("the base `{name}` (`{}` is {}:{})", d.path, d.uid, d.gid),
            });
        }
    }
    // The config as stored: Docker's fields the OCI type lacks (`Shell`, `Healthcheck`) are
    // inherited too.
    let config = store
        .read_blob(&image.config_digest, duckc_image::MAX_METADATA_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_else(|| serde_json::to_value(&image.config).unwrap_or_default());
    Ok(NodeResult {
        key: node.key,
        platform: platform.to_owned(),
        cache_key: root_key(&node.key, Some(&image.manifest_digest), platform),
        layers: image.layers.clone(),
        layer: None,
        base: Arc::new(BaseInfo {
            config,
            digest: Some(image.manifest_digest),
            short_id: Some(image.short_id()),
        }),
        cached: true,
        output: Vec::new(),
    })
}

/// The image a base names, for `platform` (from a multi-platform index, that platform's
/// manifest; a single-platform image must be that platform): `None` for `scratch`.
/// `oci-layout:` bases are loaded into the store.
pub fn resolve_base(
    store: &Store,
    base: &BaseImage,
    platform: &str,
    opts: &BuildOptions,
) -> Result<Option<Image>> {
    let image = resolve_any_base(store, base, opts)?;
    let Some(image) = image else { return Ok(None) };
    let arch = duckc_runtime::emulation::platform_arch(platform);
    let image = if image.digest != image.manifest_digest {
        duckc_image::Image::read_for(store, &image.digest, arch)?
    } else {
        image
    };
    let has = image.config.architecture().to_string();
    if has != arch {
        return Err(Error::BasePlatform {
            reference: crate::plan::base_name(base),
            has: format!("linux/{has}"),
            platform: platform.to_owned(),
        });
    }
    Ok(Some(image))
}

/// The image a base names, for whatever platform it has.
fn resolve_any_base(store: &Store, base: &BaseImage, opts: &BuildOptions) -> Result<Option<Image>> {
    let reference = crate::plan::base_name(base);
    let missing = || {
        let refs = store.refs().unwrap_or_default();
        Error::base_missing(&reference, refs.tags.keys().map(String::as_str))
    };
    match base {
        BaseImage::Scratch => Ok(None),
        BaseImage::Stored { .. } | BaseImage::Pinned { .. } => {
            let by = match opts.bases.get(&reference) {
                Some(d) => format!("{reference}@{d}"),
                None => reference.clone(),
            };
            match duckc_image::resolve(store, &by) {
                Ok(i) => Ok(Some(i)),
                Err(duckc_image::Error::NotFound(_)) => Err(missing()),
                Err(e) => Err(e.into()),
            }
        }
        BaseImage::OciLayout { path } => {
            // Inside the context, no symlink followed (SECURITY 36).
            let (_held, dir) = crate::context::dir_beneath(&opts.context, path).map_err(|e| {
                Error::BaseLayout {
                    path: path.clone(),
                    reason: format!(
                        "not a directory inside the build context (symlinks are not followed): {e}"
                    ),
                }
            })?;
            let loaded = duckc_image::load(store, &dir).map_err(|e| Error::BaseLayout {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            match loaded.into_iter().next() {
                Some(l) => Ok(Some(l.image)),
                None => Err(Error::BaseLayout {
                    path: path.clone(),
                    reason: "the layout holds no image".to_owned(),
                }),
            }
        }
    }
}
