//! The stage model: a parsed Dockerfile evaluated for given build arguments and target into
//! stages whose instructions have their variables substituted where Docker substitutes them.
//! This is what the lowering to the build IR consumes.
//!
//! Docker's rules, followed here:
//! - ADD, COPY, ENV, EXPOSE, FROM, LABEL, STOPSIGNAL, USER, VOLUME, WORKDIR and ARG defaults are
//!   substituted; RUN, CMD, ENTRYPOINT, SHELL, HEALTHCHECK and ONBUILD are not (the shell, or the
//!   later build, does it). `RUN --mount` and COPY/ADD flag values are substituted.
//! - An ARG before the first FROM is global: usable in FROM lines, and inside a stage only after
//!   the stage declares it again (`ARG NAME`, no default needed).
//! - An ARG inside a stage is visible to the rest of that stage only. ENV is visible to the rest of
//!   the stage and to stages built on it, and wins over an ARG of the same name.
//! - `--build-arg` values override ARG defaults. Within one ENV or LABEL, every value is
//!   substituted with the variables as they were before the instruction.

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{self, CommandForm, Dockerfile, Healthcheck, Instruction, InstructionKind};
use crate::diagnostic::{Code, Diagnostic};
use crate::expand::{self, ExpandError};
use crate::span::{Span, Spanned};

/// What the evaluation depends on besides the Dockerfile.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// `--build-arg NAME=VALUE`.
    pub build_args: BTreeMap<String, String>,
    /// `--target STAGE`: the stage to build; the last one when `None`.
    pub target: Option<String>,
    /// The platform built for (`TARGETPLATFORM`), e.g. `linux/amd64`.
    pub target_platform: String,
    /// The platform building (`BUILDPLATFORM`).
    pub build_platform: String,
    /// The image ENV of external base images, by the reference written after FROM (once
    /// substituted), when the caller knows it; used for substitution in stages built on them.
    pub base_env: BTreeMap<String, Vec<(String, String)>>,
    /// The image `Shell` of external base images that set one, keyed as `base_env`: the shell
    /// of the stage's shell-form `RUN`, `CMD` and `ENTRYPOINT` until a `SHELL`, as in BuildKit.
    pub base_shell: BTreeMap<String, Vec<String>>,
    /// The network of a `RUN` without `--network` (`duckc build --network`): `Default` is the
    /// builder's default network, as in BuildKit.
    pub network: ast::Network,
}

impl Default for EvalOptions {
    fn default() -> EvalOptions {
        let platform = duckc_platform::host_platform();
        EvalOptions {
            build_args: BTreeMap::new(),
            target: None,
            target_platform: platform.clone(),
            build_platform: platform,
            base_env: BTreeMap::new(),
            base_shell: BTreeMap::new(),
            network: ast::Network::Default,
        }
    }
}

/// A Dockerfile evaluated into stages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    /// ARGs declared before the first FROM, with their values (`None`: declared without one).
    pub global_args: Vec<(String, Option<String>)>,
    pub stages: Vec<Stage>,
    /// The stage to build (the index into `stages`), if there is one.
    pub target: Option<usize>,
    /// The stages the target needs, itself included, in ascending order (a stage only depends
    /// on earlier ones, so this is a build order). Independent ones can build in parallel.
    pub needed: Vec<usize>,
    /// `--build-arg` names some ARG consumed.
    pub used_build_args: BTreeSet<String>,
    /// `--build-arg` names no ARG declared (Docker warns about them too).
    pub unused_build_args: Vec<String>,
    /// Errors and warnings found while evaluating.
    pub diagnostics: Vec<Diagnostic>,
}

impl Evaluation {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }

    /// The stage with this name (names are lowercase).
    pub fn stage(&self, name: &str) -> Option<&Stage> {
        let name = name.to_ascii_lowercase();
        self.stages
            .iter()
            .find(|s| s.name.as_deref() == Some(name.as_str()))
    }
}

/// One build stage: a FROM and the instructions up to the next FROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stage {
    pub index: usize,
    /// The name after `AS`, lowercase.
    pub name: Option<String>,
    pub base: Base,
    /// `FROM --platform=`, substituted.
    pub platform: Option<String>,
    /// The FROM instruction's span, and its index in `Dockerfile::instructions`.
    pub span: Span,
    pub instruction: usize,
    pub steps: Vec<Step>,
    /// Earlier stages this one uses: its base, `COPY --from`, `RUN --mount=from=`. Sorted.
    pub depends_on: Vec<usize>,
    /// `--build-arg` names consumed by this stage's ARGs (and by global ARGs its FROM used).
    pub build_args_used: BTreeSet<String>,
    /// ENV at the end of the stage (inherited by stages built on it).
    pub env: Vec<(String, String)>,
    /// The `SHELL` at the end of the stage (inherited by stages built on it, as in BuildKit).
    pub shell: Vec<String>,
    /// The shell in effect at the `FROM`: the base stage's, the base image's `Shell`, else
    /// `/bin/sh -c`.
    pub from_shell: Vec<String>,
}

/// What a stage starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Base {
    /// `FROM scratch`: nothing.
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference, substituted.
    Image(String),
}

/// A COPY/ADD `--from` or a mount's `from=`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Stage(usize),
    Image(String),
}

/// One instruction of a stage, evaluated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Index into `Dockerfile::instructions`.
    pub instruction: usize,
    pub span: Span,
    pub op: Op,
    /// ARG values in scope (those with a value): the build-time environment of a RUN, which is
    /// not stored in the image but is part of the step's identity.
    pub args: Vec<(String, String)>,
    /// The image's ENV before this step.
    pub env: Vec<(String, String)>,
}

/// An evaluated instruction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Run(RunOp),
    Copy(CopyOp),
    Add(CopyOp),
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    Env(Vec<(String, String)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    /// Declared names and their resolved values.
    Arg(Vec<(String, Option<String>)>),
    StopSignal(String),
    Healthcheck(HealthcheckOp),
    /// The trigger, as written; it would run in a later build.
    Onbuild(String),
    Maintainer(String),
}

/// A command, not substituted (the shell does that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunOp {
    pub command: Command,
    /// Heredoc bodies, `<<-` tabs stripped, not substituted.
    pub heredocs: Vec<HeredocBody>,
    pub mounts: Vec<MountOp>,
    pub network: ast::Network,
    /// The SHELL in effect (`["/bin/sh", "-c"]` by default).
    pub shell: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeredocBody {
    pub name: String,
    /// The body; for COPY/ADD with an unquoted delimiter, substituted.
    pub content: String,
    pub expand: bool,
    pub fd: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOp {
    pub sources: Vec<CopySource>,
    /// Each source's span, in the order of `sources`, for an error about one of them.
    pub source_spans: Vec<Span>,
    pub dest: String,
    pub from: Option<Source>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    pub checksum: Option<String>,
    pub keep_git_dir: bool,
    pub unpack: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopySource {
    /// A path in the context (or in `from`), or for ADD a URL.
    Path(String),
    Heredoc(HeredocBody),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountOp {
    pub kind: ast::MountKind,
    pub target: Option<String>,
    /// Where `target=` was written (the `--mount` flag's span when it was not).
    pub target_span: Span,
    pub source: Option<String>,
    /// Where `source=` was written, for an error about the source (the `--mount` flag's
    /// span when it was not).
    pub source_span: Span,
    pub from: Option<Source>,
    pub id: Option<String>,
    pub sharing: ast::Sharing,
    pub readonly: bool,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
    pub size: Option<String>,
    pub required: bool,
    pub env: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HealthcheckOp {
    None,
    Cmd {
        command: Command,
        interval: Option<String>,
        timeout: Option<String>,
        start_period: Option<String>,
        start_interval: Option<String>,
        retries: Option<String>,
    },
}

/// Build args Docker accepts without an ARG declaration (they reach RUN, not the image).
pub const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// Evaluate `file` into stages. Never fails: problems are in [`Evaluation::diagnostics`].
pub fn evaluate(file: &Dockerfile, opts: &EvalOptions) -> Evaluation {
    let mut ev = Evaluator {
        file,
        opts,
        platform_args: platform_args(opts),
        global: Vec::new(),
        stages: Vec::new(),
        used: BTreeSet::new(),
        diagnostics: Vec::new(),
    };
    let mut current: Option<StageState> = None;
    for (i, inst) in file.instructions.iter().enumerate() {
        match &inst.kind {
            InstructionKind::From(from) => {
                if let Some(s) = current.take() {
                    ev.finish(s);
                }
                current = Some(ev.start_stage(i, inst, from));
            }
            InstructionKind::Arg(decls) if current.is_none() => ev.global_arg(decls),
            InstructionKind::Unknown => {}
            _ => match current.as_mut() {
                Some(stage) => ev.step(stage, i, inst),
                // After a syntax error (a misspelt FROM, say) this would only pile on.
                None if file.has_errors() => {}
                None => ev.diagnostics.push(
                    Diagnostic::error(
                        Code::DockerfileEval,
                        format!("`{}` before the first `FROM`", inst.name()),
                    )
                    .with_label(inst.keyword.span, "no stage yet")
                    .with_help("start a stage with `FROM image`; only `ARG` may come before it"),
                ),
            },
        }
    }
    if let Some(s) = current.take() {
        ev.finish(s);
    }
    ev.conclude()
}

struct Evaluator<'a> {
    file: &'a Dockerfile,
    opts: &'a EvalOptions,
    platform_args: Vec<(String, String)>,
    global: Vec<(String, Option<String>)>,
    stages: Vec<Stage>,
    used: BTreeSet<String>,
    diagnostics: Vec<Diagnostic>,
}

/// A stage being evaluated.
struct StageState {
    stage: Stage,
    args: Vec<(String, Option<String>)>,
    env: Vec<(String, String)>,
    shell: Vec<String>,
}

/// Whether `spec` is a port BuildKit's `EXPOSE` takes: `[[IP:]HOST:]PORT[-PORT][/PROTO]`,
/// ports 0–65535, a range not descending, PROTO `tcp`, `udp` or `sctp` (any case).
fn valid_port(spec: &str) -> bool {
    let container = spec.rsplit(':').next().unwrap_or(spec);
    let (port, proto) = container.split_once('/').unwrap_or((container, "tcp"));
    let number = |s: &str| {
        !s.is_empty()
            && s.bytes().all(|b| b.is_ascii_digit())
            && s.parse::<u32>().is_ok_and(|n| n <= 65535)
    };
    let range_ok = match port.split_once('-') {
        Some((a, b)) => number(a) && number(b) && a.parse::<u32>().ok() <= b.parse::<u32>().ok(),
        None => number(port),
    };
    range_ok && ["tcp", "udp", "sctp"].contains(&proto.to_ascii_lowercase().as_str())
}

fn set(vars: &mut Vec<(String, String)>, key: String, value: String) {
    match vars.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => vars.push((key, value)),
    }
}

fn set_opt(vars: &mut Vec<(String, Option<String>)>, key: String, value: Option<String>) {
    match vars.iter_mut().find(|(k, _)| *k == key) {
        Some(slot) => slot.1 = value,
        None => vars.push((key, value)),
    }
}

fn platform_args(opts: &EvalOptions) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (prefix, platform) in [
        ("TARGET", &opts.target_platform),
        ("BUILD", &opts.build_platform),
    ] {
        let mut parts = platform.splitn(3, '/');
        let os = parts.next().unwrap_or("linux").to_string();
        let arch = parts.next().unwrap_or_default().to_string();
        let variant = parts.next().unwrap_or_default().to_string();
        out.push((format!("{prefix}PLATFORM"), platform.clone()));
        out.push((format!("{prefix}OS"), os));
        out.push((format!("{prefix}ARCH"), arch));
        out.push((format!("{prefix}VARIANT"), variant));
    }
    out
}

impl Evaluator<'_> {
    /// Expand a word; on error report it at the word and return the word unchanged.
    fn expand(
        &mut self,
        word: &Spanned<String>,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> String {
        match expand::expand(&word.value, self.file.escape, lookup) {
            Ok(e) => e.value,
            Err(e) => {
                self.report_expand(word.span, &e);
                word.value.clone()
            }
        }
    }

    fn report_expand(&mut self, span: Span, e: &ExpandError) {
        let at = (span.start + e.offset()).min(span.end);
        let help = match e {
            ExpandError::Required { name, .. } => {
                format!("pass `--build-arg {name}=…` or give `{name}` a default")
            }
            ExpandError::UnsupportedModifier { .. } => {
                "Docker supports `${VAR}`, `${VAR:-default}`, `${VAR:+alt}`, `${VAR:?msg}`, `${VAR#pat}` and `${VAR%pat}`".to_string()
            }
            ExpandError::UnterminatedQuote { .. } => "close the quote".to_string(),
            _ => "write `${NAME}` or `$NAME`; escape a literal `$` as `\\$`".to_string(),
        };
        self.diagnostics.push(
            Diagnostic::error(Code::DockerfileEval, e.to_string())
                .with_label(Span::new(at, span.end), "in this substitution")
                .with_help(help),
        );
    }

    /// Looks up global ARGs, then the automatic platform ARGs (usable in FROM undeclared).
    fn global_lookup(&self) -> impl Fn(&str) -> Option<String> + 'static {
        let global = self.global.clone();
        let platform = self.platform_args.clone();
        move |name: &str| match global.iter().find(|(k, _)| k == name) {
            Some((_, v)) => v.clone(),
            None => platform
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone()),
        }
    }

    fn global_arg(&mut self, decls: &[ast::ArgDecl]) {
        for d in decls {
            let name = d.name.value.clone();
            let value = if let Some(v) = self.opts.build_args.get(&name) {
                self.used.insert(name.clone());
                Some(v.clone())
            } else if let Some(def) = &d.default {
                let lookup = self.global_lookup();
                Some(self.expand(def, &lookup))
            } else {
                None
            };
            set_opt(&mut self.global, name, value);
        }
    }

    fn start_stage(&mut self, index: usize, inst: &Instruction, from: &ast::From) -> StageState {
        let stage_index = self.stages.len();
        let lookup = self.global_lookup();
        let mut build_args_used = BTreeSet::new();
        for (name, _) in expand::expand(&from.image.value, self.file.escape, &lookup)
            .map(|e| e.references)
            .unwrap_or_default()
        {
            if self.opts.build_args.contains_key(&name)
                && self.global.iter().any(|(k, _)| *k == name)
            {
                build_args_used.insert(name);
            }
        }
        let image = self.expand(&from.image, &lookup);
        let platform = from.platform.as_ref().map(|p| self.expand(p, &lookup));
        if image.is_empty() && !from.image.value.is_empty() {
            self.diagnostics.push(
                Diagnostic::error(Code::DockerfileEval, "the base image name is empty after substitution")
                    .with_label(from.image.span, "empty")
                    .with_help("declare the `ARG` before the first `FROM` with a default, or pass `--build-arg`"),
            );
        }
        let base = if image.eq_ignore_ascii_case("scratch") {
            Base::Scratch
        } else if let Some(s) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(image.to_ascii_lowercase().as_str()))
        {
            Base::Stage(s.index)
        } else {
            if self.later_stage(index, &image) {
                self.diagnostics.push(
                    Diagnostic::warning(
                        Code::DockerfileEval,
                        format!("stage `{image}` is defined after this `FROM`, so `{image}` is taken as an image"),
                    )
                    .with_label(from.image.span, "not a stage yet")
                    .with_help("move the stage it names above this one"),
                );
            }
            Base::Image(image)
        };
        if let Some(name) = &from.name
            && let Some(prev) = self
                .stages
                .iter()
                .find(|s| s.name.as_deref() == Some(name.value.as_str()))
        {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::DockerfileEval,
                    format!("duplicate stage name `{}`", name.value),
                )
                .with_label(name.span, "named again here")
                .with_label(prev.span, "first defined here")
                .with_help("give each stage its own name"),
            );
        }
        let default_shell = vec!["/bin/sh".to_string(), "-c".to_string()];
        let (env, depends_on, shell) = match &base {
            Base::Stage(i) => (
                self.stages[*i].env.clone(),
                vec![*i],
                self.stages[*i].shell.clone(),
            ),
            Base::Image(r) => (
                self.opts.base_env.get(r).cloned().unwrap_or_default(),
                vec![],
                self.opts
                    .base_shell
                    .get(r)
                    .filter(|s| !s.is_empty())
                    .cloned()
                    .unwrap_or(default_shell),
            ),
            Base::Scratch => (Vec::new(), vec![], default_shell),
        };
        StageState {
            stage: Stage {
                index: stage_index,
                name: from.name.as_ref().map(|n| n.value.clone()),
                base,
                platform,
                span: inst.span,
                instruction: index,
                steps: Vec::new(),
                depends_on,
                build_args_used,
                env: Vec::new(),
                shell: Vec::new(),
                from_shell: shell.clone(),
            },
            args: Vec::new(),
            env,
            shell,
        }
    }

    /// Whether a stage named `name` is defined after instruction `index`.
    fn later_stage(&self, index: usize, name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        self.file.instructions[index + 1..].iter().any(|i| {
            matches!(&i.kind, InstructionKind::From(f) if f.name.as_ref().is_some_and(|n| n.value == lower))
        })
    }

    fn finish(&mut self, mut s: StageState) {
        s.stage.env = s.env;
        s.stage.shell = s.shell;
        s.stage.depends_on.sort_unstable();
        s.stage.depends_on.dedup();
        self.stages.push(s.stage);
    }

    /// Resolve `--from=` / `from=`: an earlier stage by name or index, else an image.
    fn source(&mut self, current: &Stage, value: &str, span: Span) -> Source {
        let lower = value.to_ascii_lowercase();
        if let Some(s) = self
            .stages
            .iter()
            .find(|s| s.name.as_deref() == Some(lower.as_str()))
        {
            return Source::Stage(s.index);
        }
        if current.name.as_deref() == Some(lower.as_str()) {
            self.diagnostics.push(
                Diagnostic::error(
                    Code::DockerfileEval,
                    format!("stage `{lower}` cannot use itself"),
                )
                .with_label(span, "the stage being built")
                .with_help("name an earlier stage, or an image"),
            );
            return Source::Image(value.to_string());
        }
        if self.later_stage(current.instruction, &lower) {
            self.diagnostics.push(
                Diagnostic::warning(
                    Code::DockerfileEval,
                    format!("stage `{lower}` is defined later, so `{value}` is taken as an image"),
                )
                .with_label(span, "not a stage yet")
                .with_help("move the stage it names above this one"),
            );
        }
        let current = current.index;
        if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
            match value.parse::<usize>() {
                Ok(i) if i < current => return Source::Stage(i),
                _ => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::DockerfileEval,
                            format!("there is no stage {value} before this one"),
                        )
                        .with_label(span, "stage index out of range")
                        .with_help(format!(
                            "stages are numbered from 0; this is stage {current}"
                        )),
                    );
                    return Source::Image(value.to_string());
                }
            }
        }
        Source::Image(value.to_string())
    }

    fn step(&mut self, s: &mut StageState, index: usize, inst: &Instruction) {
        let env_before = s.env.clone();
        let args_now: Vec<(String, String)> = s
            .args
            .iter()
            .filter_map(|(k, v)| v.clone().map(|v| (k.clone(), v)))
            .collect();
        let env_c = s.env.clone();
        let args_c = args_now.clone();
        let lookup = move |n: &str| {
            env_c
                .iter()
                .find(|(k, _)| k == n)
                .or_else(|| args_c.iter().find(|(k, _)| k == n))
                .map(|(_, v)| v.clone())
        };
        let heredoc = |h: &ast::Heredoc, ev: &mut Evaluator<'_>, substitute: bool| {
            let text = h.text();
            let content = if substitute && h.expand {
                let body = Spanned::new(text, h.body);
                ev.expand(&body, &lookup)
            } else {
                text
            };
            HeredocBody {
                name: h.name.clone(),
                content,
                expand: h.expand,
                fd: h.fd,
            }
        };
        let op = match &inst.kind {
            InstructionKind::Run(r) => {
                let mounts = r
                    .mounts
                    .iter()
                    .map(|m| self.mount(&mut s.stage, m, &lookup))
                    .collect();
                Op::Run(RunOp {
                    command: command(&r.command),
                    heredocs: inst
                        .heredocs
                        .iter()
                        .map(|h| heredoc(h, self, false))
                        .collect(),
                    mounts,
                    network: r.network.as_ref().map_or(self.opts.network, |n| n.value),
                    shell: s.shell.clone(),
                })
            }
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                let mut sources = Vec::new();
                for src in &c.sources {
                    match inst.heredocs.iter().find(|h| h.span == src.span) {
                        Some(h) => sources.push(CopySource::Heredoc(heredoc(h, self, true))),
                        None => sources.push(CopySource::Path(self.expand(src, &lookup))),
                    }
                }
                let opt = |v: &Option<Spanned<String>>, ev: &mut Evaluator<'_>| {
                    v.as_ref().map(|v| ev.expand(v, &lookup))
                };
                let from = match opt(&c.from, self) {
                    Some(f) => {
                        let src = self.source(
                            &s.stage,
                            &f,
                            c.from.as_ref().map_or_else(Span::default, |f| f.span),
                        );
                        if let Source::Stage(i) = src {
                            s.stage.depends_on.push(i);
                        }
                        Some(src)
                    }
                    None => None,
                };
                let op = CopyOp {
                    sources,
                    source_spans: c.sources.iter().map(|s| s.span).collect(),
                    dest: self.expand(&c.dest, &lookup),
                    from,
                    chown: opt(&c.chown, self),
                    chmod: opt(&c.chmod, self),
                    link: c.link,
                    parents: c.parents,
                    exclude: c.exclude.iter().map(|e| self.expand(e, &lookup)).collect(),
                    checksum: opt(&c.checksum, self),
                    keep_git_dir: c.keep_git_dir,
                    unpack: c.unpack,
                };
                if matches!(inst.kind, InstructionKind::Copy(_)) {
                    Op::Copy(op)
                } else {
                    Op::Add(op)
                }
            }
            InstructionKind::Cmd(c) => Op::Cmd(command(c)),
            InstructionKind::Entrypoint(c) => Op::Entrypoint(command(c)),
            InstructionKind::Shell(args) => {
                let shell: Vec<String> = args.iter().map(|a| a.value.clone()).collect();
                if !shell.is_empty() {
                    s.shell = shell.clone();
                }
                Op::Shell(shell)
            }
            InstructionKind::Env(kvs) | InstructionKind::Label(kvs) => {
                let pairs: Vec<(String, String)> = kvs
                    .iter()
                    .map(|kv| {
                        (
                            self.expand(&kv.key, &lookup),
                            self.expand(&kv.value, &lookup),
                        )
                    })
                    .collect();
                if matches!(inst.kind, InstructionKind::Env(_)) {
                    for (k, v) in &pairs {
                        set(&mut s.env, k.clone(), v.clone());
                    }
                    Op::Env(pairs)
                } else {
                    Op::Label(pairs)
                }
            }
            InstructionKind::Expose(v) => {
                let mut ports = Vec::new();
                for w in v {
                    // Each word may expand to several, as in BuildKit.
                    for port in self.expand(w, &lookup).split_whitespace() {
                        if valid_port(port) {
                            ports.push(port.to_owned());
                        } else {
                            self.diagnostics.push(
                                Diagnostic::error(Code::DockerfileEval, format!("invalid port `{port}`"))
                                    .with_label(w.span, "not PORT[-PORT][/tcp|udp|sctp]")
                                    .with_help("write the ports as words, e.g. `EXPOSE 80 443/tcp 53/udp`: `EXPOSE` has no JSON form"),
                            );
                        }
                    }
                }
                Op::Expose(ports)
            }
            InstructionKind::Volume(v) => {
                Op::Volume(v.iter().map(|w| self.expand(w, &lookup)).collect())
            }
            InstructionKind::User(v) => Op::User(self.expand(v, &lookup)),
            InstructionKind::Workdir(v) => Op::Workdir(self.expand(v, &lookup)),
            InstructionKind::StopSignal(v) => Op::StopSignal(self.expand(v, &lookup)),
            InstructionKind::Maintainer(v) => Op::Maintainer(v.value.clone()),
            InstructionKind::Arg(decls) => {
                let mut out = Vec::new();
                for d in decls {
                    let name = d.name.value.clone();
                    let value = if let Some(v) = self.opts.build_args.get(&name) {
                        self.used.insert(name.clone());
                        s.stage.build_args_used.insert(name.clone());
                        Some(v.clone())
                    } else if let Some(def) = &d.default {
                        // Earlier ARGs of this same instruction are visible to later defaults.
                        let mut env_args = s.env.clone();
                        for (k, v) in s.args.iter().chain(out.iter()) {
                            if let Some(v) = v
                                && !env_args.iter().any(|(e, _)| e == k)
                            {
                                env_args.push((k.clone(), v.clone()));
                            }
                        }
                        let l = move |n: &str| {
                            env_args
                                .iter()
                                .find(|(k, _)| k == n)
                                .map(|(_, v)| v.clone())
                        };
                        Some(self.expand(def, &l))
                    } else if let Some((_, v)) = self.global.iter().find(|(k, _)| *k == name) {
                        v.clone()
                    } else {
                        self.platform_args
                            .iter()
                            .find(|(k, _)| *k == name)
                            .map(|(_, v)| v.clone())
                    };
                    set_opt(&mut out, name, value);
                }
                for (k, v) in &out {
                    set_opt(&mut s.args, k.clone(), v.clone());
                }
                Op::Arg(out)
            }
            InstructionKind::Healthcheck(Healthcheck::None) => Op::Healthcheck(HealthcheckOp::None),
            InstructionKind::Healthcheck(Healthcheck::Cmd {
                command: c,
                interval,
                timeout,
                start_period,
                start_interval,
                retries,
            }) => {
                let v = |x: &Option<Spanned<String>>| x.as_ref().map(|x| x.value.clone());
                Op::Healthcheck(HealthcheckOp::Cmd {
                    command: command(c),
                    interval: v(interval),
                    timeout: v(timeout),
                    start_period: v(start_period),
                    start_interval: v(start_interval),
                    retries: v(retries),
                })
            }
            InstructionKind::Onbuild(trigger) => {
                let text = trigger.text[..].trim();
                let after = text
                    .get(inst.keyword.value.len()..)
                    .unwrap_or_default()
                    .trim()
                    .to_string();
                Op::Onbuild(after)
            }
            InstructionKind::From(_) | InstructionKind::Unknown => return,
        };
        s.stage.steps.push(Step {
            instruction: index,
            span: inst.span,
            op,
            args: args_now,
            env: env_before,
        });
    }

    fn mount(
        &mut self,
        current: &mut Stage,
        m: &ast::Mount,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> MountOp {
        let opt = |v: &Option<Spanned<String>>, ev: &mut Evaluator<'_>| {
            v.as_ref().map(|v| ev.expand(v, lookup))
        };
        let from = match (opt(&m.from, self), &m.from) {
            (Some(f), Some(sf)) => {
                let src = self.source(current, &f, sf.span);
                if let Source::Stage(i) = src {
                    current.depends_on.push(i);
                }
                Some(src)
            }
            _ => None,
        };
        MountOp {
            kind: m.kind,
            target: opt(&m.target, self),
            target_span: m.target.as_ref().map_or(m.span, |s| s.span),
            source: opt(&m.source, self),
            source_span: m.source.as_ref().map_or(m.span, |s| s.span),
            from,
            id: opt(&m.id, self),
            sharing: m.sharing.unwrap_or(ast::Sharing::Shared),
            readonly: m.readonly.unwrap_or(m.kind == ast::MountKind::Bind),
            mode: opt(&m.mode, self),
            uid: opt(&m.uid, self),
            gid: opt(&m.gid, self),
            size: opt(&m.size, self),
            required: m.required.unwrap_or(false),
            env: opt(&m.env, self),
        }
    }

    fn conclude(mut self) -> Evaluation {
        if self.stages.is_empty() && !self.file.has_errors() {
            self.diagnostics.push(
                Diagnostic::error(Code::DockerfileEval, "the Dockerfile has no `FROM`")
                    .with_help("start the first stage with `FROM image` (or `FROM scratch`)"),
            );
        }
        let target = match &self.opts.target {
            Some(t) => {
                let lower = t.to_ascii_lowercase();
                let found = self
                    .stages
                    .iter()
                    .find(|s| s.name.as_deref() == Some(lower.as_str()));
                if found.is_none() {
                    let names: Vec<String> = self
                        .stages
                        .iter()
                        .filter_map(|s| s.name.clone())
                        .map(|n| format!("`{n}`"))
                        .collect();
                    self.diagnostics.push(
                        Diagnostic::error(
                            Code::DockerfileEval,
                            format!("target stage `{t}` not found"),
                        )
                        .with_help(if names.is_empty() {
                            "no stage has a name; name one with `FROM image AS name`".to_string()
                        } else {
                            format!("the named stages are {}", names.join(", "))
                        }),
                    );
                }
                found.map(|s| s.index)
            }
            None => self.stages.last().map(|s| s.index),
        };
        let mut needed = BTreeSet::new();
        let mut todo: Vec<usize> = target.into_iter().collect();
        while let Some(i) = todo.pop() {
            if needed.insert(i) {
                todo.extend(self.stages[i].depends_on.iter().copied());
            }
        }
        let unused: Vec<String> = self
            .opts
            .build_args
            .keys()
            .filter(|k| !self.used.contains(*k) && !PREDEFINED_ARGS.contains(&k.as_str()))
            .cloned()
            .collect();
        if !unused.is_empty() {
            self.diagnostics.push(
                Diagnostic::warning(
                    Code::DockerfileEval,
                    format!(
                        "build arguments not consumed by any `ARG`: {}",
                        unused
                            .iter()
                            .map(|u| format!("`{u}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .with_help(
                    "declare them with `ARG NAME` where they are used, or drop the `--build-arg`",
                ),
            );
        }
        crate::diagnostic::sort(&mut self.diagnostics);
        Evaluation {
            global_args: self.global,
            stages: self.stages,
            target,
            needed: needed.into_iter().collect(),
            used_build_args: self.used,
            unused_build_args: unused,
            diagnostics: self.diagnostics,
        }
    }
}

fn command(c: &CommandForm) -> Command {
    match c {
        CommandForm::Exec(args) => Command::Exec(args.iter().map(|a| a.value.clone()).collect()),
        CommandForm::Shell(s) => Command::Shell(s.text.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::valid_port;

    #[test]
    fn ports_as_buildkit() {
        for p in [
            "80",
            "80/tcp",
            "53/UDP",
            "9-10/sctp",
            "8080:80",
            "0",
            "65535",
        ] {
            assert!(valid_port(p), "{p}");
        }
        for p in ["[80]", "80/icmp", "65536", "10-9", "", "/tcp", "80-", "x"] {
            assert!(!valid_port(p), "{p}");
        }
    }
}
