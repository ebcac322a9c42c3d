//! Dockerfile lowering: the stages a target needs become chains of the same layer-graph nodes
//! a KDL spec lowers to, keyed by the same key code, so the cache, `explain`, reproducibility
//! and `--check` behave the same for both frontends.
//!
//! Each needed stage is a chain: its base (an external base node, or the last layer of an
//! earlier stage), one node per `RUN`/`COPY`/`ADD`/`WORKDIR` (a [`Step::Mkdir`], as KDL's
//! `workdir`), and config-only instructions folded into the [`RunState`] and [`ImageConfig`] as
//! KDL's `env`, `cmd`… are. `COPY --from`
//! becomes a [`CopyStep`] with [`CopyFrom`] naming the source stage's last node (or a base node
//! for an image), which the graph also holds as an extra edge. Only the target gets an image
//! node. History entries are written in the spec language (`run "make"`), exactly as the KDL
//! lowering writes them, so a Dockerfile and its `duckc convert` output give the same digest.
//!
//! Like the KDL lowering this does no IO: the driver lists the build context and hashes the
//! entries [`context_sources`] names.

use std::collections::BTreeMap;

use duckc_diagnostic::{Code, Diagnostic, Severity, Span};
use duckc_dockerfile::Dockerfile;
use duckc_dockerfile::ast::{MountKind, Network as DNetwork};
use duckc_dockerfile::stages::{
    Base as DBase, Command, CopyOp, CopySource, Evaluation, HealthcheckOp, Op, RunOp, Source,
    Step as DStep,
};
use duckc_syntax::ast::{Network, Port, Protocol};
use duckc_syntax::reference::{ImageRef, parse_image_ref};

use crate::database::ContextFile;
use crate::graph::*;
use crate::history::describe;
use crate::inputs::EntryKind;
use crate::items::StepDeclKind;
use crate::key::NodeKey;
use crate::node_key::{base_key, image_key, layer_key, step_image_key};
use crate::path::{excluded, glob, join, normalize};

/// A Dockerfile lowered for one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoweredDockerfile {
    /// The nodes of every needed stage; `envs` holds the target alone.
    pub graph: LayerGraph,
    /// Every instruction of the needed stages, in build order, for progress output.
    pub steps: Vec<DisplayStep>,
    /// Per needed stage, its spec-language form (what `duckc convert` prints).
    pub stages: Vec<ConvertedStage>,
    /// Where each path a step reads from another stage or an image (`COPY --from`,
    /// `RUN --mount=from=`) was written, by the step's node and the path as the executor names
    /// it: a path the source turns out not to have, which only the build finds, is reported
    /// there.
    pub read_from: BTreeMap<(NodeKey, String), ReadFrom>,
}

/// A path read from another stage or an image, where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadFrom {
    /// The path as written (`source=…`, a `COPY --from` source).
    pub span: Span,
    /// The stage's name (`stage-N` when it has none) or the image reference.
    pub from: String,
}

/// One instruction as the build prints it (`Step 2/3 : RUN touch new_file1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayStep {
    /// The instruction's logical line.
    pub text: String,
    /// Its layer node (the base node for `FROM` an image); `None` for config-only ones.
    pub node: Option<NodeKey>,
    /// For a config-only one: the image as it stands after it (see [`History::image`]),
    /// which build output prints as its id.
    pub image: Option<StepImage>,
}

/// A stage in the spec language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConvertedStage {
    /// The env name: the stage name, else `stage-N`.
    pub name: String,
    /// What `from` names: an image reference, `scratch`, `oci-layout:PATH`, or an env.
    pub from: String,
    /// One spec line per instruction; `Err` holds why an instruction has no spec form.
    pub lines: Vec<Result<String, String>>,
}

/// The label of stage `index`: its name, else `stage-N`.
pub fn stage_label(ev: &Evaluation, index: usize) -> String {
    ev.stages[index]
        .name
        .clone()
        .unwrap_or_else(|| format!("stage-{index}"))
}

/// Context paths the needed stages read (`COPY`/`ADD` sources, bind mounts), normalized as the
/// listing writes them (`""` for the whole context): the entries to hash.
pub fn context_sources(ev: &Evaluation) -> Vec<String> {
    let mut out = Vec::new();
    for &i in &ev.needed {
        for step in &ev.stages[i].steps {
            match &step.op {
                Op::Copy(c) | Op::Add(c) if c.from.is_none() => {
                    for s in &c.sources {
                        if let CopySource::Path(p) = s
                            && !(matches!(step.op, Op::Add(_)) && is_url(p))
                        {
                            out.push(glob_prefix(&normalize(p)));
                        }
                    }
                }
                Op::Run(r) => {
                    for m in &r.mounts {
                        if m.kind == MountKind::Bind && m.from.is_none() {
                            out.push(normalize(m.source.as_deref().unwrap_or("")));
                        }
                    }
                }
                _ => {}
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The part of a pattern before its first component with a wildcard.
fn glob_prefix(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .take_while(|p| !p.contains(['*', '?', '[']))
        .collect();
    parts.join("/")
}

/// A stage as lowered so far: its top node, run state, image config and shell.
struct StageOut {
    top: NodeKey,
    state: RunState,
    config: ImageConfig,
    shell: Vec<String>,
}

/// An instruction's spec-language form, for the history and `duckc convert`: `Ok(None)` for
/// one that needs none (`ARG`), `Err` with the reason for one that has none.
type SpecForm = Result<Option<StepDeclKind>, String>;

/// The config-only instructions: each changes the stage's run state or image config.
impl StageOut {
    /// `WORKDIR`: BuildKit creates the directory (as the current `USER`) in a layer.
    fn workdir(&mut self, w: &str) -> (SpecForm, Option<Step>) {
        self.state.workdir = join(&self.state.workdir, w);
        let step = (self.state.workdir != "/").then(|| Step::Mkdir {
            path: self.state.workdir.clone(),
        });
        (Ok(Some(StepDeclKind::Workdir(w.to_owned()))), step)
    }

    /// `CMD`.
    fn cmd(&mut self, c: &Command) -> SpecForm {
        let v = command_vec(c, &self.shell);
        self.config.cmd = Some(v.clone());
        Ok(Some(StepDeclKind::Cmd(v)))
    }

    /// `ENTRYPOINT`: the stage's first one also clears the `CMD` it inherited.
    fn entrypoint(&mut self, c: &Command, entrypoint_set: &mut bool) -> SpecForm {
        let v = command_vec(c, &self.shell);
        self.config.entrypoint = Some(v.clone());
        if !*entrypoint_set {
            self.config.cmd = None;
            *entrypoint_set = true;
        }
        Ok(Some(StepDeclKind::Entrypoint(v)))
    }

    /// `SHELL`: the shell of later shell-form instructions, and the config's.
    fn set_shell(&mut self, s: &[String], text: &str) -> SpecForm {
        self.shell = s.to_vec();
        self.config.shell = Some(s.to_vec());
        Err(format!("`SHELL` has no spec form: {text}"))
    }

    /// `ENV`.
    fn env(&mut self, vars: &[(String, String)]) -> SpecForm {
        for (k, v) in vars {
            match self.state.env.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v.clone(),
                None => self.state.env.push((k.clone(), v.clone())),
            }
        }
        Ok(Some(StepDeclKind::Env(vars.to_vec())))
    }

    /// `LABEL`.
    fn label(&mut self, labels: &[(String, String)], text: &str) -> SpecForm {
        for (k, v) in labels {
            self.config.labels.insert(k.clone(), v.clone());
        }
        match labels {
            [(k, v)] => Ok(Some(StepDeclKind::Label(k.clone(), v.clone()))),
            _ => Err(format!("write one `LABEL` per key to convert: {text}")),
        }
    }

    /// `EXPOSE`.
    fn expose(&mut self, ports: &[String], text: &str) -> SpecForm {
        let mut parsed = Vec::new();
        for p in ports {
            // As BuildKit: the container port of `[IP:]HOST:PORT`, and a range as
            // one entry per port (the evaluation checked the syntax).
            let p = p.rsplit(':').next().unwrap_or(p);
            let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
            let proto = proto.to_ascii_lowercase();
            match num.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (a.parse::<u32>(), b.parse::<u32>());
                    if let (Ok(a), Ok(b)) = (a, b) {
                        for n in a..=b.min(65535) {
                            self.config.exposed_ports.push(format!("{n}/{proto}"));
                        }
                    }
                }
                None => self.config.exposed_ports.push(format!("{num}/{proto}")),
            }
            let protocol = match proto.as_str() {
                "udp" => Some(Protocol::Udp),
                "sctp" => Some(Protocol::Sctp),
                "tcp" => Some(Protocol::Tcp),
                _ => None,
            };
            if let (Ok(number), Some(protocol)) = (num.parse::<u16>(), protocol) {
                parsed.push(Port { number, protocol });
            }
        }
        self.config.exposed_ports.sort();
        self.config.exposed_ports.dedup();
        if parsed.len() == ports.len() {
            Ok(Some(StepDeclKind::Expose(parsed)))
        } else {
            Err(format!("port ranges have no spec form: {text}"))
        }
    }

    /// `VOLUME`.
    fn volume(&mut self, v: &[String], text: &str) -> SpecForm {
        self.config.volumes.extend(v.iter().cloned());
        self.config.volumes.sort();
        self.config.volumes.dedup();
        Err(format!("`VOLUME` has no spec form: {text}"))
    }

    /// `USER`.
    fn user(&mut self, u: &str) -> SpecForm {
        self.state.user = u.to_owned();
        Ok(Some(StepDeclKind::User(u.to_owned())))
    }

    /// `STOPSIGNAL`.
    fn stop_signal(&mut self, s: &str, text: &str) -> SpecForm {
        self.config.stop_signal = Some(s.to_owned());
        Err(format!("`STOPSIGNAL` has no spec form: {text}"))
    }

    /// `ONBUILD`: recorded in the config; never run (the frontend warns).
    fn onbuild(&mut self, trigger: &str, text: &str) -> SpecForm {
        self.config.onbuild.push(trigger.to_owned());
        Err(format!("`ONBUILD` has no spec form: {text}"))
    }
}

struct Lowering<'a> {
    ev: &'a Evaluation,
    file: &'a Dockerfile,
    listing: BTreeMap<String, &'a ContextFile>,
    nodes: Vec<Node>,
    seen: BTreeMap<NodeKey, usize>,
    extra_edges: Vec<(NodeKey, NodeKey)>,
    diagnostics: Vec<Diagnostic>,
    /// For conversion only: sources missing from the (empty) listing are not errors.
    lenient: bool,
    /// The digests of `ADD` URLs without `--checksum`, fetched by the driver.
    fetched: &'a BTreeMap<String, crate::key::Digest>,
    /// What the instruction being lowered reads from other stages or images: (path, where).
    reading: Vec<(String, ReadFrom)>,
    /// [`LoweredDockerfile::read_from`].
    read_from: BTreeMap<(NodeKey, String), ReadFrom>,
}

fn diag(severity: Severity, span: Span, message: String, label: &str, help: &str) -> Diagnostic {
    Diagnostic::new(severity, Code::DockerfileLower, message)
        .with_label(span, label)
        .with_help(help)
}

/// Lowers the stages `ev` needs for its target. `context` is the listing of the build context
/// with digests set for the entries [`context_sources`] names. Errors and warnings come back
/// as diagnostics; the graph is `None` when there are errors.
pub fn lower(
    file: &Dockerfile,
    ev: &Evaluation,
    context: &[ContextFile],
    tags: &[String],
) -> (Option<LoweredDockerfile>, Vec<Diagnostic>) {
    lower_with_urls(file, ev, context, &BTreeMap::new(), tags)
}

/// `ADD` URLs without `--checksum` in the stages `ev` needs: the driver fetches each once to
/// key it by its content ([`lower_with_urls`]).
pub fn unpinned_urls(ev: &Evaluation) -> Vec<String> {
    let mut out = Vec::new();
    for &i in &ev.needed {
        for step in &ev.stages[i].steps {
            if let Op::Add(c) = &step.op
                && c.checksum.is_none()
                && c.from.is_none()
            {
                for s in &c.sources {
                    if let CopySource::Path(p) = s
                        && is_url(p)
                        && !p.split(['?', '#']).next().unwrap_or("").ends_with(".git")
                    {
                        out.push(p.clone());
                    }
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// [`lower`], with the content digests of the [`unpinned_urls`].
pub fn lower_with_urls(
    file: &Dockerfile,
    ev: &Evaluation,
    context: &[ContextFile],
    fetched: &BTreeMap<String, crate::key::Digest>,
    tags: &[String],
) -> (Option<LoweredDockerfile>, Vec<Diagnostic>) {
    let mut l = Lowering {
        fetched,
        ev,
        file,
        listing: context.iter().map(|f| (f.path.clone(), f)).collect(),
        nodes: Vec::new(),
        seen: BTreeMap::new(),
        extra_edges: Vec::new(),
        diagnostics: Vec::new(),
        lenient: false,
        reading: Vec::new(),
        read_from: BTreeMap::new(),
    };
    let Some(target) = ev.target else {
        return (None, l.diagnostics);
    };
    let mut outs: BTreeMap<usize, StageOut> = BTreeMap::new();
    let mut steps = Vec::new();
    let mut stages = Vec::new();
    for &i in &ev.needed {
        if let Some(out) = l.stage(i, &outs, &mut steps, &mut stages) {
            outs.insert(i, out);
        }
    }
    if l.diagnostics.iter().any(Diagnostic::is_error) {
        return (None, l.diagnostics);
    }
    let Some(out) = outs.remove(&target) else {
        return (None, l.diagnostics);
    };
    let mut config = out.config;
    config.tags = tags.to_vec();
    let label = stage_label(ev, target);
    let image = image_key(out.top, &config);
    l.push(Node {
        key: image,
        parent: Some(out.top),
        step: Step::Image(config.clone()),
        state: RunState::default(),
        envs: Vec::new(),
    });
    // Every node belongs to the target's build; label it with the stage that added it.
    let mut graph = LayerGraph::default();
    let mut index = BTreeMap::new();
    for node in l.nodes {
        let key = node.key;
        let parent = node.parent;
        let i = graph.graph.add_node(node);
        if let Some(p) = parent.and_then(|p| index.get(&p)) {
            graph.graph.add_edge(*p, i, ());
        }
        index.insert(key, i);
    }
    for (from, to) in l.extra_edges {
        if let (Some(&a), Some(&b)) = (index.get(&from), index.get(&to)) {
            graph.graph.add_edge(a, b, ());
        }
    }
    graph.envs.push(EnvOutput {
        name: label,
        image,
        tags: tags.to_vec(),
    });
    (
        Some(LoweredDockerfile {
            graph,
            steps,
            stages,
            read_from: l.read_from,
        }),
        l.diagnostics,
    )
}

/// The spec-language form of the stages `ev` needs (what `duckc convert` prints), without a
/// build context: the lines do not depend on the files copied.
pub fn convert_stages(file: &Dockerfile, ev: &Evaluation) -> Vec<ConvertedStage> {
    let no_urls = BTreeMap::new();
    let mut l = Lowering {
        fetched: &no_urls,
        ev,
        file,
        listing: BTreeMap::new(),
        nodes: Vec::new(),
        seen: BTreeMap::new(),
        extra_edges: Vec::new(),
        diagnostics: Vec::new(),
        lenient: true,
        reading: Vec::new(),
        read_from: BTreeMap::new(),
    };
    let mut outs: BTreeMap<usize, StageOut> = BTreeMap::new();
    let (mut steps, mut stages) = (Vec::new(), Vec::new());
    for &i in &ev.needed {
        if let Some(out) = l.stage(i, &outs, &mut steps, &mut stages) {
            outs.insert(i, out);
        }
    }
    stages
}

impl Lowering<'_> {
    fn push(&mut self, node: Node) {
        if let Some(&i) = self.seen.get(&node.key) {
            for e in node.envs {
                if !self.nodes[i].envs.contains(&e) {
                    self.nodes[i].envs.push(e);
                }
            }
            return;
        }
        self.seen.insert(node.key, self.nodes.len());
        self.nodes.push(node);
    }

    fn error(&mut self, span: Span, message: String, label: &str, help: &str) {
        self.diagnostics
            .push(diag(Severity::Error, span, message, label, help));
    }

    /// A base node for an image reference (`scratch`, `oci-layout:PATH`, `name[:tag|@digest]`).
    fn base(&mut self, reference: &str, span: Span, label: &str) -> Option<NodeKey> {
        let image = if reference == "scratch" {
            BaseImage::Scratch
        } else if let Some(path) = reference.strip_prefix("oci-layout:") {
            let path = path.trim_start_matches("//").to_owned();
            BaseImage::OciLayout { path }
        } else {
            match parse_image_ref(reference) {
                Some(ImageRef::Tagged { name, tag }) => BaseImage::Stored { name, tag },
                Some(ImageRef::Pinned { name, digest }) => BaseImage::Pinned { name, digest },
                None => {
                    self.error(
                        span,
                        format!("`{reference}` is not an image reference"),
                        "not NAME[:TAG], NAME@sha256:DIGEST, scratch or oci-layout:PATH",
                        "write e.g. `FROM busybox:1.36`, or `FROM oci-layout:DIR` for an OCI layout in the context",
                    );
                    return None;
                }
            }
        };
        let key = base_key(&image);
        self.push(Node {
            key,
            parent: None,
            step: Step::Base(image),
            state: RunState::default(),
            envs: vec![label.to_owned()],
        });
        Some(key)
    }

    /// A `HEALTHCHECK` as Docker's config holds it; a bad duration or retry count is an error.
    fn healthcheck(&mut self, hc: &HealthcheckOp, span: Span) -> Option<Healthcheck> {
        let HealthcheckOp::Cmd {
            command,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } = hc
        else {
            return Some(Healthcheck {
                test: vec!["NONE".to_owned()],
                ..Healthcheck::default()
            });
        };
        let test = match command {
            Command::Exec(v) => std::iter::once("CMD".to_owned())
                .chain(v.iter().cloned())
                .collect(),
            Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s.clone()],
        };
        let mut out = Healthcheck {
            test,
            ..Healthcheck::default()
        };
        for (flag, value, slot) in [
            ("interval", interval, &mut out.interval),
            ("timeout", timeout, &mut out.timeout),
            ("start-period", start_period, &mut out.start_period),
            ("start-interval", start_interval, &mut out.start_interval),
        ] {
            if let Some(v) = value {
                match go_duration(v) {
                    Some(ns) => *slot = ns,
                    None => self.error(
                        span,
                        format!("`--{flag}={v}` is not a duration"),
                        "in this `HEALTHCHECK`",
                        "write a number with a unit, as Docker does: `30s`, `1m30s`, `500ms`",
                    ),
                }
            }
        }
        if let Some(r) = retries {
            match r.parse::<u64>() {
                Ok(n) => out.retries = n,
                Err(_) => self.error(
                    span,
                    format!("`--retries={r}` is not a count"),
                    "in this `HEALTHCHECK`",
                    "write a whole number of retries, e.g. `--retries=3`",
                ),
            }
        }
        Some(out)
    }

    /// One needed stage: its base, then each instruction in order, as a chain of nodes; its
    /// spec form goes to `converted` and its lines to `display`.
    fn stage(
        &mut self,
        i: usize,
        outs: &BTreeMap<usize, StageOut>,
        display: &mut Vec<DisplayStep>,
        converted: &mut Vec<ConvertedStage>,
    ) -> Option<StageOut> {
        let ev = self.ev;
        let stage = &ev.stages[i];
        let label = stage_label(ev, i);
        let (mut out, from_name) = self.stage_base(i, &label, outs, display)?;
        let mut lines = Vec::new();
        if let Some(p) = &stage.platform {
            out.state.platforms = vec![p.clone()];
            // KDL's `platform` is also a history entry; `FROM --platform` is not.
            lines.push(Err(format!(
                "`FROM --platform={p}` has no one-to-one spec form"
            )));
        }
        let mut entrypoint_set = false;
        for step in &stage.steps {
            let text = self.file.instructions[step.instruction].text.clone();
            self.reading.clear();
            let (kdl, node_step) =
                self.instruction(step, &text, &mut out, &mut entrypoint_set, outs);
            let created_by = match &kdl {
                Ok(Some(kind)) => Some(describe(kind)),
                Ok(None) => None,
                Err(_) => Some(text.clone()),
            };
            match kdl {
                Ok(Some(kind)) => lines.push(Ok(describe(&kind))),
                Ok(None) => {}
                Err(e) => lines.push(Err(e)),
            }
            let comment = match &node_step {
                Some(Step::Run(r)) => network_comment(r.network),
                _ => None,
            };
            let node = node_step.map(|s| self.layer(step, s, &mut out, &label));
            if let Some(key) = node {
                for (path, at) in self.reading.drain(..) {
                    self.read_from.entry((key, path)).or_insert(at);
                }
            }
            let pushed = created_by.is_some();
            if let Some(created_by) = created_by {
                out.config.history.push(History {
                    created_by,
                    empty_layer: node.is_none(),
                    comment,
                    image: None,
                });
            }
            // Keyed with its history entry in the config, as the image node keys it.
            let image = node
                .is_none()
                .then(|| step_image_key(out.top, &out.config, &out.state));
            if let Some(last) = out.config.history.last_mut().filter(|_| pushed) {
                last.image = image;
            }
            let image = image.map(|key| StepImage { key, top: out.top });
            display.push(DisplayStep { text, node, image });
        }
        out.config.env = out.state.env.clone();
        out.config.workdir = out.state.workdir.clone();
        out.config.user = out.state.user.clone();
        out.config.platforms = out.state.platforms.clone();
        converted.push(ConvertedStage {
            name: label,
            from: from_name,
            lines,
        });
        Some(out)
    }

    /// A stage's `FROM`: an earlier stage's output (its config without tags and `ONBUILD`s),
    /// or a base node for an image or `scratch`; with the name `duckc convert` writes for it.
    fn stage_base(
        &mut self,
        i: usize,
        label: &str,
        outs: &BTreeMap<usize, StageOut>,
        display: &mut Vec<DisplayStep>,
    ) -> Option<(StageOut, String)> {
        let ev = self.ev;
        let stage = &ev.stages[i];
        let from_text = self.file.instructions[stage.instruction].text.clone();
        Some(match &stage.base {
            DBase::Stage(j) => {
                let base = outs.get(j)?;
                let mut config = base.config.clone();
                config.tags.clear();
                // BuildKit runs a stage's `ONBUILD` triggers in the stages built on it and
                // does not carry them over (duckc does not run them: the frontend warns).
                config.onbuild.clear();
                display.push(DisplayStep {
                    text: from_text,
                    node: None,
                    image: Some(StepImage {
                        key: step_image_key(base.top, &config, &base.state),
                        top: base.top,
                    }),
                });
                (
                    StageOut {
                        top: base.top,
                        state: base.state.clone(),
                        config,
                        shell: base.shell.clone(),
                    },
                    stage_label(ev, *j),
                )
            }
            DBase::Scratch | DBase::Image(_) => {
                let reference = match &stage.base {
                    DBase::Image(r) => r.clone(),
                    _ => "scratch".to_owned(),
                };
                let key = self.base(&reference, stage.span, label)?;
                display.push(DisplayStep {
                    text: from_text,
                    node: Some(key),
                    image: None,
                });
                let name = match parse_image_ref(&reference) {
                    Some(ImageRef::Tagged { name, tag }) => format!("{name}:{tag}"),
                    _ => reference,
                };
                (
                    StageOut {
                        top: key,
                        state: RunState::default(),
                        config: ImageConfig {
                            layers: vec![key],
                            ..ImageConfig::default()
                        },
                        shell: stage.from_shell.clone(),
                    },
                    name,
                )
            }
        })
    }

    /// One instruction of a stage: what it does to the stage's state and config, its spec
    /// form, and the layer step it makes, if any. Each instruction has its method: those that
    /// make layers here, the config-only ones on [`StageOut`].
    fn instruction(
        &mut self,
        step: &DStep,
        text: &str,
        out: &mut StageOut,
        entrypoint_set: &mut bool,
        outs: &BTreeMap<usize, StageOut>,
    ) -> (SpecForm, Option<Step>) {
        let config_only = |kdl: SpecForm| (kdl, None);
        match &step.op {
            Op::Run(run) => self.run(run, text, &out.state, step.span, outs),
            Op::Copy(c) | Op::Add(c) => {
                let is_add = matches!(step.op, Op::Add(_));
                match self.copy(c, is_add, &out.state, step.span, outs) {
                    Some((copy, kdl)) => (kdl.map(Some), Some(Step::Copy(copy))),
                    None => (Ok(None), None),
                }
            }
            Op::Workdir(w) => out.workdir(w),
            Op::Cmd(c) => config_only(out.cmd(c)),
            Op::Entrypoint(c) => config_only(out.entrypoint(c, entrypoint_set)),
            Op::Shell(sh) => config_only(out.set_shell(sh, text)),
            Op::Env(vars) => config_only(out.env(vars)),
            Op::Label(labels) => config_only(out.label(labels, text)),
            Op::Expose(ports) => config_only(out.expose(ports, text)),
            Op::Volume(v) => config_only(out.volume(v, text)),
            Op::User(u) => config_only(out.user(u)),
            Op::StopSignal(sig) => config_only(out.stop_signal(sig, text)),
            // Recorded in the config as Docker records them; never run (the frontend
            // warns).
            Op::Healthcheck(hc) => {
                out.config.healthcheck = self.healthcheck(hc, step.span).map(Box::new);
                config_only(Err(format!("`HEALTHCHECK` has no spec form: {text}")))
            }
            Op::Onbuild(trigger) => config_only(out.onbuild(trigger, text)),
            // Build-time only: ARG values reach `RUN`'s environment (see `layer`).
            Op::Arg(_) | Op::Maintainer(_) => (Ok(None), None),
        }
    }

    /// `RUN`: the command as the layer graph runs it, its network and mounts.
    fn run(
        &mut self,
        run: &RunOp,
        text: &str,
        state: &RunState,
        span: Span,
        outs: &BTreeMap<usize, StageOut>,
    ) -> (SpecForm, Option<Step>) {
        let command = run_command(&run.command, &run.shell, &run.heredocs);
        let network = match run.network {
            DNetwork::Host => Network::Host,
            DNetwork::None => Network::None,
            // BuildKit's default: the builder's network (duckc's NAT bridge).
            DNetwork::Default => Network::Bridge,
        };
        let mounts = self.mounts(run, state, span, outs);
        let kind = StepDeclKind::Run {
            command: command.clone(),
            network,
        };
        let kdl = if mounts.is_empty() {
            Ok(Some(kind))
        } else {
            Err(format!("`RUN --mount` has no spec form: {text}"))
        };
        let step = Step::Run(RunStep {
            command,
            network,
            mounts,
        });
        (kdl, Some(step))
    }

    /// The layer node of an instruction's step on top of the stage, with the edges from the
    /// nodes it reads (`--from`, bind mounts of stages); returns its key.
    fn layer(&mut self, step: &DStep, s: Step, out: &mut StageOut, label: &str) -> NodeKey {
        // `RUN` sees the stage's ARG values under its ENV (ENV wins), as in Docker.
        let mut state = out.state.clone();
        if matches!(s, Step::Run(_)) {
            for (k, v) in &step.args {
                if !state.env.iter().any(|(key, _)| key == k) {
                    state.env.push((k.clone(), v.clone()));
                }
            }
        }
        let key = layer_key(out.top, &s, &state);
        if let Step::Copy(CopyStep {
            from: Some(from), ..
        }) = &s
        {
            self.extra_edges.push((from.node, key));
        }
        if let Step::Run(r) = &s {
            for m in &r.mounts {
                if let RunMount::BindFrom { node: n, .. } = m {
                    self.extra_edges.push((*n, key));
                }
            }
        }
        self.push(Node {
            key,
            parent: Some(out.top),
            step: s,
            state,
            envs: vec![label.to_owned()],
        });
        out.config.layers.push(key);
        out.top = key;
        key
    }

    /// The node a `--from=` names: an earlier stage's last layer, or an image's base node.
    fn source_node(
        &mut self,
        source: &Source,
        span: Span,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Option<(NodeKey, String)> {
        match source {
            Source::Stage(j) => outs.get(j).map(|o| (o.top, stage_label(self.ev, *j))),
            Source::Image(r) => {
                let key = self.base(r, span, &format!("from {r}"))?;
                Some((key, r.clone()))
            }
        }
    }

    /// `COPY`/`ADD`: the step, and its spec form (or why it has none). `--from` copies out of
    /// another stage or an image; otherwise the files come from the context, heredocs and (for
    /// `ADD`) URLs and archives, each gathered by a method of its own below.
    fn copy(
        &mut self,
        c: &CopyOp,
        is_add: bool,
        state: &RunState,
        span: Span,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Option<(CopyStep, Result<StepDeclKind, String>)> {
        let name = if is_add { "ADD" } else { "COPY" };
        if c.parents {
            self.error(
                span,
                format!("duckc cannot `{name} --parents` yet"),
                "would lay out the copied files differently from Docker",
                "copy each directory to its full destination path instead, e.g. `COPY src/a/config.toml /etc/app/src/a/`",
            );
            return None;
        }
        let chmod = self.copy_chmod(c, span)?;
        let mut paths = Vec::new();
        let mut heredocs = Vec::new();
        for s in &c.sources {
            match s {
                CopySource::Path(p) => paths.push(p.clone()),
                CopySource::Heredoc(h) => heredocs.push(h),
            }
        }
        let mut destination = join(&state.workdir, &c.dest);
        if !heredocs.is_empty() && c.from.is_some() {
            self.error(
                span,
                format!("`{name} --from` cannot copy a heredoc"),
                "heredoc source with `--from`",
                "copy the heredoc in an instruction of its own, without `--from`",
            );
            return None;
        }
        // As in BuildKit: several sources go into the destination directory.
        let has_url = is_add
            && c.sources
                .iter()
                .any(|s| matches!(s, CopySource::Path(p) if is_url(p)));
        if (!heredocs.is_empty() || has_url) && c.sources.len() > 1 && !destination.ends_with('/') {
            destination.push('/');
        }
        if let Some(from) = &c.from {
            return self.copy_from(c, from, is_add, paths, destination, chmod, span, outs);
        }
        let mut urls = Vec::new();
        if is_add {
            let (u, local): (Vec<String>, Vec<String>) =
                paths.iter().cloned().partition(|p| is_url(p));
            urls = u;
            if !urls.is_empty() {
                paths = local;
            }
        }
        let one_url = urls.len() == 1 && paths.is_empty() && heredocs.is_empty();
        let pinned = self.add_checksum(c, one_url, span)?;
        let url_files = self.add_urls(c, name, &urls, pinned, &destination, chmod, span)?;
        let only_paths = heredocs.is_empty() && urls.is_empty();
        let unpack = self.local_sources(c, name, is_add, &paths, only_paths, span)?;
        let destination = if unpack && !destination.ends_with('/') {
            format!("{destination}/")
        } else {
            destination
        };
        // Where each source was written, so a missing one is pointed at, not the instruction.
        let mut at = BTreeMap::new();
        for (s, sp) in c.sources.iter().zip(&c.source_spans) {
            if let CopySource::Path(p) = s {
                at.entry(p.clone()).or_insert(*sp);
            }
        }
        let mut files = self.context_files(&paths, &destination, chmod, &c.exclude, span, &at)?;
        for h in &heredocs {
            // The body is the file, 0644 unless `--chmod`, named by its delimiter in a
            // directory destination.
            let target = if destination.ends_with('/') {
                format!("{destination}{}", h.name)
            } else {
                destination.clone()
            };
            files.retain(|f| f.target != target);
            files.push(CopiedFile {
                source: format!("<<{}", h.name),
                target,
                kind: EntryKind::File,
                mode: chmod.unwrap_or(0o644),
                digest: Some(crate::key::Digest::of(h.content.as_bytes())),
                content: Some(h.content.clone()),
                url: false,
            });
        }
        for f in url_files {
            files.retain(|g| g.target != f.target);
            files.push(f);
        }
        files.sort_by(|a, b| a.target.cmp(&b.target));
        let sources: Vec<String> = c
            .sources
            .iter()
            .map(|s| match s {
                CopySource::Path(p) => p.clone(),
                CopySource::Heredoc(h) => format!("<<{}", h.name),
            })
            .collect();
        let kdl = if !heredocs.is_empty() {
            Err(format!("`{name}` of a heredoc has no spec form"))
        } else if !urls.is_empty() {
            Err(format!("`{name}` of a URL has no spec form"))
        } else if unpack {
            Err(format!("`{name}` of an archive has no spec form"))
        } else if c.exclude.is_empty() && !paths.iter().any(|p| p.contains(['*', '?', '['])) {
            Ok(StepDeclKind::Copy {
                sources: paths.clone(),
                destination: c.dest.clone(),
                chown: c.chown.clone(),
                chmod,
                from: None,
            })
        } else {
            Err(format!(
                "`{name}` with wildcards or `--exclude` has no spec form"
            ))
        };
        Some((
            CopyStep {
                sources,
                destination,
                chown: c.chown.clone(),
                files,
                from: None,
                unpack,
            },
            kdl,
        ))
    }

    /// `--chmod=`: an octal mode up to 7777.
    fn copy_chmod(&mut self, c: &CopyOp, span: Span) -> Option<Option<u32>> {
        match c.chmod.as_deref().map(|m| u32::from_str_radix(m, 8)) {
            None => Some(None),
            Some(Ok(m)) if m <= 0o7777 => Some(Some(m)),
            Some(_) => {
                self.error(
                    span,
                    format!(
                        "`--chmod={}` is not an octal mode",
                        c.chmod.as_deref().unwrap_or("")
                    ),
                    "not an octal mode",
                    "write the mode in octal, e.g. `--chmod=0755`",
                );
                None
            }
        }
    }

    /// `ADD --checksum=`: the sha256 a single URL source must have.
    fn add_checksum(
        &mut self,
        c: &CopyOp,
        one_url: bool,
        span: Span,
    ) -> Option<Option<crate::key::Digest>> {
        let Some(sum) = c.checksum.as_deref() else {
            return Some(None);
        };
        match sum
            .strip_prefix("sha256:")
            .and_then(crate::key::Digest::from_hex)
        {
            Some(d) if one_url => Some(Some(d)),
            Some(_) => {
                self.error(
                    span,
                    "`--checksum` needs exactly one URL source".to_owned(),
                    "checksum of what",
                    "write one `ADD --checksum=… URL DEST` per URL",
                );
                None
            }
            None => {
                self.error(
                    span,
                    format!("`--checksum={sum}` is not a sha256 digest"),
                    "not sha256:HEX",
                    "write `--checksum=sha256:` and the 64 hex digits of the file's sha256",
                );
                None
            }
        }
    }

    /// `ADD URL`: each download as a file, checked at build time against the `--checksum` (or
    /// the digest it had when the build was planned); 0600 as in Docker; never unpacked.
    // One argument per part of the instruction already read by `copy`.
    #[allow(clippy::too_many_arguments)]
    fn add_urls(
        &mut self,
        c: &CopyOp,
        name: &str,
        urls: &[String],
        pinned: Option<crate::key::Digest>,
        destination: &str,
        chmod: Option<u32>,
        span: Span,
    ) -> Option<Vec<CopiedFile>> {
        let mut url_files = Vec::new();
        for u in urls {
            if u.split(['?', '#']).next().unwrap_or("").ends_with(".git") {
                self.error(
                    span,
                    format!("duckc cannot `{name}` a git repository"),
                    "git URL",
                    "clone it into the build context first and `COPY` it",
                );
                return None;
            }
            let digest = match pinned.or_else(|| self.fetched.get(u).copied()) {
                Some(d) => d,
                None if self.lenient => continue,
                None => {
                    self.error(
                        span,
                        format!("`{u}` was not downloaded"),
                        "remote source",
                        "add `--checksum=sha256:…` so duckc knows its content",
                    );
                    return None;
                }
            };
            let file_name = u
                .split(['?', '#'])
                .next()
                .unwrap_or("")
                .split_once("://")
                .and_then(|(_, rest)| rest.split_once('/'))
                .map(|(_, path)| path.rsplit('/').next().unwrap_or(""))
                .unwrap_or("");
            let into_dir = destination.ends_with('/') || c.sources.len() > 1;
            if into_dir && (file_name.is_empty() || file_name == "." || file_name == "..") {
                self.error(
                    span,
                    format!("cannot name the file `{u}` downloads"),
                    "the URL's path ends without a file name",
                    "give the destination a file name, e.g. `ADD URL /opt/file`",
                );
                return None;
            }
            let target = if into_dir {
                format!("{}/{file_name}", destination.trim_end_matches('/'))
            } else {
                destination.to_owned()
            };
            url_files.push(CopiedFile {
                source: u.clone(),
                target,
                kind: EntryKind::File,
                mode: chmod.unwrap_or(0o600),
                digest: Some(digest),
                content: None,
                url: true,
            });
        }
        Some(url_files)
    }

    /// Checks the context sources (no URL for `COPY`, no archive `ADD` cannot unpack, archives
    /// not mixed with other files) and says whether `ADD` extracts them: local tar archives
    /// (plain, gzip, zstd) as the only sources (`only_paths`: no heredoc, no URL).
    fn local_sources(
        &mut self,
        c: &CopyOp,
        name: &str,
        is_add: bool,
        paths: &[String],
        only_paths: bool,
        span: Span,
    ) -> Option<bool> {
        for p in paths {
            if p.contains("://") {
                self.error(
                    span,
                    format!("duckc cannot `{name}` from a URL"),
                    "remote source",
                    "`ADD` downloads HTTP(S) URLs; `COPY` copies from the build context only",
                );
                return None;
            }
            if is_add && c.unpack != Some(false) && archive(p) == Some(false) {
                self.error(
                    span,
                    "duckc cannot unpack xz or bzip2 archives with `ADD`".to_owned(),
                    "xz or bzip2 archive",
                    "recompress it with gzip or zstd, or `COPY` it and unpack it with `RUN tar -xf`",
                );
                return None;
            }
        }
        let unpack = is_add
            && c.unpack != Some(false)
            && !paths.is_empty()
            && only_paths
            && paths.iter().all(|p| archive(p) == Some(true));
        if is_add
            && !unpack
            && c.unpack != Some(false)
            && paths.iter().any(|p| archive(p).is_some())
        {
            self.error(
                span,
                "`ADD` of archives and other files together".to_owned(),
                "mixes archives and files",
                "split it into one `ADD` for the archives and one `COPY` for the rest",
            );
            return None;
        }
        Some(unpack)
    }

    /// `COPY --from=`/`ADD --from=`: out of another stage's or an image's filesystem; the files
    /// are known only once the source is built, so its node's key stands for them.
    // One argument per part of the instruction already read by `copy`.
    #[allow(clippy::too_many_arguments)]
    fn copy_from(
        &mut self,
        c: &CopyOp,
        from: &Source,
        is_add: bool,
        paths: Vec<String>,
        destination: String,
        chmod: Option<u32>,
        span: Span,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Option<(CopyStep, Result<StepDeclKind, String>)> {
        let name = if is_add { "ADD" } else { "COPY" };
        let (node, source_name) = self.source_node(from, span, outs)?;
        for (s, at) in c.sources.iter().zip(&c.source_spans) {
            if let CopySource::Path(p) = s {
                let at = ReadFrom {
                    span: *at,
                    from: source_name.clone(),
                };
                self.reading.push((join("/", p), at));
            }
        }
        let step = CopyStep {
            sources: paths.clone(),
            destination,
            chown: c.chown.clone(),
            files: Vec::new(),
            from: Some(CopyFrom {
                node,
                name: source_name,
                paths: paths.iter().map(|p| join("/", p)).collect(),
                chmod,
                exclude: c.exclude.clone(),
            }),
            unpack: false,
        };
        let plain = c.exclude.is_empty() && !paths.iter().any(|p| p.contains(['*', '?', '[']));
        let kdl = match from {
            Source::Stage(j) if plain && !is_add => Ok(StepDeclKind::Copy {
                sources: paths,
                destination: c.dest.clone(),
                chown: c.chown.clone(),
                chmod,
                from: Some((stage_label(self.ev, *j), 0)),
            }),
            Source::Stage(_) => Err(format!(
                "`{name} --from` with wildcards or `--exclude` has no spec form"
            )),
            Source::Image(r) => Err(format!(
                "`{name} --from={r}` (an image) has no spec form; copy from an env built `from \"{r}\"`"
            )),
        };
        Some((step, kdl))
    }
    /// The files a context copy writes (the same modes the KDL lowering gives them).
    fn context_files(
        &mut self,
        sources: &[String],
        destination: &str,
        chmod: Option<u32>,
        exclude: &[String],
        span: Span,
        source_spans: &BTreeMap<String, Span>,
    ) -> Option<Vec<CopiedFile>> {
        let dest_dir = destination.trim_end_matches('/');
        let wild = sources.iter().any(|s| s.contains(['*', '?', '[']));
        let into_dir = destination.ends_with('/') || sources.len() > 1 || wild;
        let mut files: BTreeMap<String, CopiedFile> = BTreeMap::new();
        for source in sources {
            let path = normalize(source);
            let matched: Vec<String> = if path.contains(['*', '?', '[']) {
                self.listing
                    .keys()
                    .filter(|k| glob(&path, k))
                    .cloned()
                    .collect()
            } else if path.is_empty() || self.listing.contains_key(&path) {
                vec![path.clone()]
            } else {
                Vec::new()
            };
            if matched.is_empty() && self.lenient {
                continue;
            }
            if matched.is_empty() {
                self.error(
                    source_spans.get(source).copied().unwrap_or(span),
                    format!("`{source}` is not in the build context"),
                    "no such file in the context",
                    "sources are relative to the build context; check the path and the .dockerignore",
                );
                return None;
            }
            for m in matched {
                let kind = if m.is_empty() {
                    EntryKind::Dir
                } else {
                    self.listing[&m].kind
                };
                if kind == EntryKind::Dir {
                    let prefix = if m.is_empty() {
                        String::new()
                    } else {
                        format!("{m}/")
                    };
                    for (p, entry) in self
                        .listing
                        .range(prefix.clone()..)
                        .take_while(|(p, _)| p.starts_with(&prefix))
                    {
                        let rel = &p[prefix.len()..];
                        if excluded(exclude, rel) {
                            continue;
                        }
                        let target = format!("{dest_dir}/{rel}");
                        files.insert(target.clone(), copied(p, target, entry, chmod));
                    }
                } else {
                    let name = m.rsplit('/').next().unwrap_or(&m);
                    if excluded(exclude, name) {
                        continue;
                    }
                    let target = if into_dir {
                        format!("{dest_dir}/{name}")
                    } else {
                        dest_dir.to_owned()
                    };
                    let entry = self.listing[&m];
                    files.insert(target.clone(), copied(&m, target, entry, chmod));
                }
            }
        }
        Some(files.into_values().collect())
    }

    fn mounts(
        &mut self,
        run: &RunOp,
        state: &RunState,
        span: Span,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Vec<RunMount> {
        let mut out = Vec::new();
        for m in &run.mounts {
            let target = join(&state.workdir, m.target.as_deref().unwrap_or(""));
            // The runtime mounts these itself; a mount over them leaves the step no usable root
            // or procfs (runc refuses both too).
            let over = match target.trim_end_matches('/') {
                "" => "/",
                t => t,
            };
            if matches!(
                m.kind,
                MountKind::Cache | MountKind::Tmpfs | MountKind::Bind
            ) && (over == "/" || over == "/proc")
            {
                let (label, help) = if over == "/" {
                    (
                        "the step's root",
                        "mount at a directory below `/`, e.g. `target=/cache`",
                    )
                } else {
                    (
                        "the step's procfs",
                        "mount at another directory, e.g. `target=/cache`: every step gets its own `/proc`",
                    )
                };
                self.error(
                    m.target_span,
                    format!("a `RUN --mount` cannot mount over `{over}`"),
                    label,
                    help,
                );
                continue;
            }
            match m.kind {
                MountKind::Cache => out.push(RunMount::Cache {
                    id: m.id.clone().unwrap_or_else(|| target.clone()),
                    target,
                }),
                MountKind::Tmpfs => out.push(RunMount::Tmpfs { target }),
                MountKind::Bind => {
                    let source = m.source.clone().unwrap_or_default();
                    match &m.from {
                        Some(from) => {
                            if let Some((node, name)) = self.source_node(from, span, outs) {
                                let at = ReadFrom {
                                    span: m.source_span,
                                    from: name,
                                };
                                self.reading.push((join("/", &source), at));
                                out.push(RunMount::BindFrom {
                                    target,
                                    node,
                                    source: join("/", &source),
                                });
                            }
                        }
                        None => {
                            let path = normalize(&source);
                            // An error about the source points at `source=`, not the `RUN`.
                            let at = BTreeMap::from([(source.clone(), m.source_span)]);
                            if let Some(files) = self.context_files(
                                std::slice::from_ref(&source),
                                "/",
                                None,
                                &[],
                                span,
                                &at,
                            ) {
                                // A symlink is never bound: binding it would bind whatever it
                                // names on the host (SECURITY 36).
                                if let [f] = files.as_slice()
                                    && f.kind == EntryKind::Symlink
                                    && f.source == path
                                {
                                    self.error(
                                        m.source_span,
                                        format!(
                                            "the bind mount source `{source}` is a symlink in the build context"
                                        ),
                                        "a symlink as bind source",
                                        "duckc never follows a symlink of the build context; bind the file or directory it points to (`source=TARGET`)",
                                    );
                                    continue;
                                }
                                out.push(RunMount::Bind {
                                    target,
                                    files,
                                    source: path,
                                });
                            }
                        }
                    }
                }
                // Warned about by the frontend: the command runs without them.
                MountKind::Secret | MountKind::Ssh => {}
            }
        }
        out
    }
}

fn copied(source: &str, target: String, entry: &ContextFile, chmod: Option<u32>) -> CopiedFile {
    let mode = match (entry.kind, chmod) {
        (EntryKind::Symlink, _) => 0o777,
        (_, Some(m)) => m,
        (EntryKind::Dir, None) => 0o755,
        (EntryKind::File, None) if entry.mode & 0o111 != 0 => 0o755,
        (EntryKind::File, None) => 0o644,
    };
    CopiedFile {
        source: source.to_owned(),
        target,
        kind: entry.kind,
        mode,
        digest: if entry.kind == EntryKind::Dir {
            None
        } else {
            entry.digest
        },
        content: None,
        url: false,
    }
}

/// Whether `ADD` unpacks `path`, by its name: `Some(true)` for tar archives duckc extracts
/// (plain, gzip, zstd), `Some(false)` for those it cannot (xz, bzip2), `None` for other files.
fn archive(path: &str) -> Option<bool> {
    let lower = path.to_ascii_lowercase();
    let ends = |exts: &[&str]| exts.iter().any(|e| lower.ends_with(e));
    if ends(&[".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst"]) {
        Some(true)
    } else if ends(&[".tar.xz", ".txz", ".tar.bz2", ".tbz2"]) {
        Some(false)
    } else {
        None
    }
}

/// A `RUN` command as the layer graph runs it. The default shell's shell form is the spec's
/// `run "…"`; heredocs follow the command as the shell reads them, and a command that is only
/// a heredoc runs the heredoc's body as the script, as BuildKit does.
fn run_command(
    command: &Command,
    shell: &[String],
    heredocs: &[duckc_dockerfile::stages::HeredocBody],
) -> RunCommand {
    let script = match command {
        Command::Exec(v) => return RunCommand::Exec(v.clone()),
        Command::Shell(s) => {
            let only_heredoc = heredocs.len() == 1 && {
                let t = s.trim().trim_start_matches("<<").trim_start_matches('-');
                // `RUN << EOF`: BuildKit allows white space before the word.
                let t = t.trim_start();
                t.trim_matches(['"', '\'']) == heredocs[0].name
            };
            if only_heredoc {
                heredocs[0].content.clone()
            } else if heredocs.is_empty() {
                s.clone()
            } else {
                let mut full = s.clone();
                for h in heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    if !h.content.ends_with('\n') {
                        full.push('\n');
                    }
                    full.push_str(&h.name);
                }
                full
            }
        }
    };
    if shell == ["/bin/sh", "-c"] {
        RunCommand::Shell(script)
    } else {
        let mut v = shell.to_vec();
        v.push(script);
        RunCommand::Exec(v)
    }
}

/// `CMD`/`ENTRYPOINT` as stored in the config: the shell form runs through the SHELL.
fn command_vec(command: &Command, shell: &[String]) -> Vec<String> {
    match command {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut v = shell.to_vec();
            v.push(s.clone());
            v
        }
    }
}

/// A duration as Go's `time.ParseDuration` reads it (what Docker's `HEALTHCHECK` flags take):
/// a sequence of decimal numbers, each with a unit (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`),
/// e.g. `1m30s`, `1.5s`; `0` alone. In nanoseconds; `None` when it is not one (or negative).
pub fn go_duration(s: &str) -> Option<u64> {
    if s == "0" {
        return Some(0);
    }
    let mut rest = s.strip_prefix('+').unwrap_or(s);
    if rest.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, next) = after.split_at(unit_len);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += value * scale;
        rest = next;
    }
    (total <= u64::MAX as f64).then_some(total.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("30s"), Some(30_000_000_000));
        assert_eq!(go_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(go_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(go_duration("500ms"), Some(500_000_000));
        assert_eq!(go_duration("2h"), Some(7_200_000_000_000));
        assert_eq!(go_duration("0"), Some(0));
        for bad in ["", "30", "s", "-1s", "1x", "1.s.", "1 s"] {
            assert_eq!(go_duration(bad), None, "{bad}");
        }
    }
}
