//! Lints: warnings about Dockerfiles that build, but slowly, unreproducibly or fragilely. Each
//! has a rule name and can be switched off with `# check=skip=Rule` or [`LintOptions`].

use std::collections::BTreeSet;

use crate::ast::{CommandForm, Dockerfile, Instruction, InstructionKind, MountKind, Network};
use crate::diagnostic::{Code, Diagnostic, Severity};
use crate::shell::{self, Script, SimpleCommand};
use crate::span::Span;

/// A lint rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub name: &'static str,
    pub summary: &'static str,
    /// One of BuildKit's own build checks (on by default there), so `duckc build` shows it
    /// too; the others are duckc's and show under `duckc check` only.
    pub buildkit: bool,
}

/// Every lint rule.
pub const RULES: &[Rule] = &[
    Rule {
        name: "BroadCopyBeforeInstall",
        summary: "the whole build context is copied before a `RUN` that installs dependencies",
        buildkit: false,
    },
    Rule {
        name: "AptListsNotRemoved",
        summary: "`apt-get update` without `rm -rf /var/lib/apt/lists/*` in the same `RUN`",
        buildkit: false,
    },
    Rule {
        name: "AptInstallRecommends",
        summary: "`apt-get install` without `--no-install-recommends`",
        buildkit: false,
    },
    Rule {
        name: "AptInstallNoYes",
        summary: "`apt-get install` without `-y`",
        buildkit: false,
    },
    Rule {
        name: "BaseImageNotPinned",
        summary: "`FROM` an image without a tag, or with `latest`",
        buildkit: false,
    },
    Rule {
        name: "ConsecutiveRun",
        summary: "consecutive `RUN` instructions that could be one",
        buildkit: false,
    },
    Rule {
        name: "CdInsteadOfWorkdir",
        summary: "`RUN cd …` instead of `WORKDIR`",
        buildkit: false,
    },
    Rule {
        name: "PipeWithoutPipefail",
        summary: "a pipe in a shell-form `RUN` without `set -o pipefail`",
        buildkit: false,
    },
    Rule {
        name: "MaintainerDeprecated",
        summary: "`MAINTAINER` is deprecated",
        buildkit: true,
    },
    Rule {
        name: "AddUrlWithoutChecksum",
        summary: "`ADD` of a URL without `--checksum`",
        buildkit: false,
    },
    Rule {
        name: "JSONArgsRecommended",
        summary: "`CMD` or `ENTRYPOINT` in shell form",
        buildkit: true,
    },
    Rule {
        name: "RunWithNetwork",
        summary: "`RUN` steps with the network, whose layers hold what servers answered",
        buildkit: false,
    },
    Rule {
        name: "NoEmptyContinuation",
        summary: "an empty line inside a line continuation",
        buildkit: true,
    },
];

/// Which lints run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LintOptions {
    /// Rules to skip, by name (case-insensitive).
    pub skip: BTreeSet<String>,
    /// Skip every rule.
    pub skip_all: bool,
    /// Report lints as errors.
    pub error: bool,
    /// Run only BuildKit's own checks (what `docker build` shows by default): `duckc build`.
    pub buildkit_only: bool,
}

impl LintOptions {
    fn enabled(&self, rule: &str) -> bool {
        !self.skip_all
            && !self.skip.iter().any(|s| s.eq_ignore_ascii_case(rule))
            && (!self.buildkit_only || RULES.iter().any(|r| r.name == rule && r.buildkit))
    }
}

/// The options a `# check=skip=A,B;error=true` directive gives, and warnings about what in it
/// was not understood.
pub fn check_directive(file: &Dockerfile) -> (LintOptions, Vec<Diagnostic>) {
    let mut opts = LintOptions::default();
    let mut warnings = Vec::new();
    let Some(d) = file.directive("check") else {
        return (opts, warnings);
    };
    let base = d.value.span.start;
    let mut offset = 0;
    for part in d.value.value.split(';') {
        let part_start = base + offset;
        offset += part.len() + 1;
        let lead = part.len() - part.trim_start().len();
        let (key, value) = part.trim().split_once('=').unwrap_or((part.trim(), ""));
        let value_start = part_start + lead + key.len() + 1;
        match key.trim().to_ascii_lowercase().as_str() {
            "skip" => {
                let mut o = 0;
                for name in value.split(',') {
                    let s = value_start + o + (name.len() - name.trim_start().len());
                    o += name.len() + 1;
                    let name = name.trim();
                    if name.is_empty() {
                        continue;
                    }
                    if name.eq_ignore_ascii_case("all") {
                        opts.skip_all = true;
                    } else if RULES.iter().any(|r| r.name.eq_ignore_ascii_case(name)) {
                        opts.skip.insert(name.to_string());
                    } else {
                        let names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
                        let nearest = crate::suggest::nearest(name, &names);
                        let help = match nearest {
                            Some(n) => format!("did you mean `{n}`?"),
                            None => format!("the rules are {}", names.join(", ")),
                        };
                        let span = Span::new(s, s + name.len());
                        let mut d = Diagnostic::warning(
                            Code::DockerfileSyntax,
                            format!("unknown lint rule `{name}`"),
                        )
                        .with_label(span, "not a rule")
                        .with_help(help);
                        if let Some(n) = nearest {
                            d = d.with_suggestion(span, n);
                        }
                        warnings.push(d);
                    }
                }
            }
            "error" => opts.error = value.trim().eq_ignore_ascii_case("true"),
            other => warnings.push(
                Diagnostic::warning(
                    Code::DockerfileSyntax,
                    format!("unknown `check` option `{other}`"),
                )
                .with_label(
                    Span::new(part_start + lead, part_start + lead + key.len()),
                    "unknown option",
                )
                .with_help("write `# check=skip=Rule1,Rule2` and optionally `;error=true`"),
            ),
        }
    }
    (opts, warnings)
}

/// Run the enabled lints over `file`.
pub fn lint(file: &Dockerfile, opts: &LintOptions) -> Vec<Diagnostic> {
    let mut l = Linter {
        file,
        opts,
        out: Vec::new(),
    };
    l.run();
    let mut out = l.out;
    if opts.error {
        for d in &mut out {
            d.severity = Severity::Error;
        }
    }
    out
}

struct Linter<'a> {
    file: &'a Dockerfile,
    opts: &'a LintOptions,
    out: Vec<Diagnostic>,
}

/// A RUN's shell script, with a way back to source spans.
struct RunScript<'a> {
    inst: &'a Instruction,
    script: Script,
    /// Where the script text starts in the logical line, or `None` for a heredoc body.
    offset: Option<usize>,
    heredoc: Option<usize>,
}

impl RunScript<'_> {
    fn span(&self, a: usize, b: usize) -> Span {
        match (self.offset, self.heredoc) {
            (Some(o), _) => self.inst.map.span(o + a, o + b),
            (None, Some(h)) => self.inst.heredocs[h].map.span(a, b),
            _ => self.inst.span,
        }
    }

    fn cmd_span(&self, c: &SimpleCommand) -> Span {
        self.span(c.start(), c.end())
    }
}

/// The scripts a RUN runs: its shell-form command, and heredoc bodies when the command is only
/// heredocs (then the body is the script).
fn scripts(inst: &Instruction) -> Vec<RunScript<'_>> {
    let InstructionKind::Run(run) = &inst.kind else {
        return Vec::new();
    };
    let CommandForm::Shell(cmd) = &run.command else {
        return Vec::new();
    };
    let mut out = vec![RunScript {
        inst,
        script: shell::tokenize(&cmd.text),
        offset: Some(cmd.offset),
        heredoc: None,
    }];
    let only_heredocs = cmd.text.split_whitespace().all(|w| {
        crate::parser::marker(w).is_some() || matches!(w, "sh" | "bash" | "/bin/sh" | "/bin/bash")
    });
    if only_heredocs {
        for (i, h) in inst.heredocs.iter().enumerate() {
            out.push(RunScript {
                inst,
                script: shell::tokenize(&h.content),
                offset: None,
                heredoc: Some(i),
            });
        }
    }
    out
}

impl Linter<'_> {
    fn emit(
        &mut self,
        rule: &'static str,
        message: String,
        labels: Vec<(Span, String)>,
        help: String,
    ) {
        if !self.opts.enabled(rule) {
            return;
        }
        let mut d = Diagnostic::warning(Code::Lint(rule), message).with_help(help);
        for (span, text) in labels {
            d = d.with_label(span, text);
        }
        self.out.push(d);
    }

    fn run(&mut self) {
        let file = self.file;
        for span in &file.empty_continuation_lines {
            self.emit(
                "NoEmptyContinuation",
                "empty line inside a line continuation".into(),
                vec![(*span, "empty continuation line".into())],
                "remove the empty line or make it a comment; Docker plans to reject it".into(),
            );
        }
        // Split the instructions into stages (everything before the first FROM is stage 0).
        let mut stages: Vec<Vec<&Instruction>> = vec![Vec::new()];
        for inst in &file.instructions {
            if matches!(inst.kind, InstructionKind::From(_)) {
                stages.push(Vec::new());
            }
            if let Some(last) = stages.last_mut() {
                last.push(inst);
            }
        }
        let mut stage_names: Vec<String> = Vec::new();
        for stage in &stages {
            self.stage(stage, &stage_names);
            if let Some(InstructionKind::From(f)) = stage.first().map(|i| &i.kind)
                && let Some(n) = &f.name
            {
                stage_names.push(n.value.clone());
            }
        }
        self.networked_runs();
    }

    /// One warning for the whole file (not one per step), pointing at the first `RUN` that gets
    /// the network (BuildKit's default) and counting the others: such steps make layers that
    /// depend on what servers answered that day. One label, not one per step: a label on each
    /// `RUN` would show the whole Dockerfile under the warning.
    fn networked_runs(&mut self) {
        let networked: Vec<(Span, bool)> = self
            .file
            .instructions
            .iter()
            .filter_map(|inst| match &inst.kind {
                InstructionKind::Run(r) => match r.network.as_ref().map(|n| n.value) {
                    None | Some(Network::Default) => Some((inst.keyword.span, false)),
                    Some(Network::Host) => Some((inst.keyword.span, true)),
                    Some(Network::None) => None,
                },
                _ => None,
            })
            .collect();
        let Some(&(first, host)) = networked.first() else {
            return;
        };
        let n = networked.len();
        // Those on the host's network are counted: the one label does not show them.
        let hosts = match networked.iter().filter(|(_, h)| *h).count() {
            0 => String::new(),
            h if n == 1 || h == n => " (the host's)".to_owned(),
            h => format!(" ({h} of them the host's)"),
        };
        let (steps, have) = if n == 1 {
            ("1 `RUN` step".to_owned(), "has")
        } else {
            (format!("{n} `RUN` steps"), "have")
        };
        let what = if host {
            "the host's network"
        } else {
            "the network"
        };
        let label = match n - 1 {
            0 => format!("has {what}"),
            1 => format!("has {what}; so has 1 later `RUN`"),
            more => format!("has {what}; so have {more} later `RUN`s"),
        };
        self.emit(
            "RunWithNetwork",
            format!(
                "{steps} {have} the network{hosts}, so the image is not reproducible from its inputs"
            ),
            vec![(first, label)],
            "what a step downloads is not in its cache key; `RUN --network=none` for a step that needs no network (the image's history marks the others `network=bridge`)".into(),
        );
    }

    fn stage(&mut self, insts: &[&Instruction], earlier_stages: &[String]) {
        let mut shell: Vec<String> = vec!["/bin/sh".into(), "-c".into()];
        let mut broad_copy: Option<(&Instruction, Span)> = None;
        let mut run_group: Vec<&Instruction> = Vec::new();
        for &inst in insts {
            // Consecutive RUNs.
            if mergeable_run(inst)
                && run_group
                    .last()
                    .is_none_or(|prev| prev.flags == inst.flags || same_flags(prev, inst))
            {
                run_group.push(inst);
            } else {
                self.run_group(&run_group);
                run_group.clear();
                if mergeable_run(inst) {
                    run_group.push(inst);
                }
            }
            match &inst.kind {
                InstructionKind::From(f) => self.from(f, earlier_stages),
                InstructionKind::Shell(args) if !args.is_empty() => {
                    shell = args.iter().map(|a| a.value.clone()).collect();
                }
                InstructionKind::Maintainer(_) => self.emit(
                    "MaintainerDeprecated",
                    "`MAINTAINER` is deprecated".into(),
                    vec![(inst.span, "deprecated instruction".into())],
                    "use `LABEL org.opencontainers.image.authors=\"name <email>\"`".into(),
                ),
                InstructionKind::Cmd(CommandForm::Shell(c))
                | InstructionKind::Entrypoint(CommandForm::Shell(c)) => {
                    let name = inst.name();
                    let words: Vec<String> = c
                        .text
                        .split_whitespace()
                        .map(|w| format!("\"{}\"", w.replace('"', "\\\"")))
                        .collect();
                    self.emit(
                        "JSONArgsRecommended",
                        format!("`{name}` in shell form runs under `/bin/sh -c`, which does not pass on signals"),
                        vec![(c.span, "shell form".into())],
                        format!("write the JSON form: `{name} [{}]`", words.join(", ")),
                    )
                }
                InstructionKind::Add(c) => {
                    if c.checksum.is_none() {
                        for s in &c.sources {
                            if s.value.starts_with("http://") || s.value.starts_with("https://") {
                                self.emit(
                                    "AddUrlWithoutChecksum",
                                    "`ADD` of a URL without `--checksum`".into(),
                                    vec![(s.span, "downloaded without verification".into())],
                                    "add `--checksum=sha256:<digest>` so the download is verified and the build reproducible".into(),
                                );
                            }
                        }
                    }
                    if broad_copy.is_none() {
                        broad_copy = broad_source(inst).map(|s| (inst, s));
                    }
                }
                InstructionKind::Copy(_) if broad_copy.is_none() => {
                    broad_copy = broad_source(inst).map(|s| (inst, s));
                }
                InstructionKind::Run(run) => {
                    let posix = shell.first().is_some_and(|s| {
                        matches!(
                            s.rsplit('/').next(),
                            Some("sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh")
                        )
                    });
                    let shell_pipefail = shell.iter().any(|a| a == "pipefail");
                    let apt_cache = run.mounts.iter().any(|m| {
                        m.kind == MountKind::Cache
                            && m.target.as_ref().is_some_and(|t| {
                                t.value.trim_end_matches('/').starts_with("/var/lib/apt")
                            })
                    });
                    let scripts = scripts(inst);
                    if posix {
                        self.run_scripts(&scripts, shell_pipefail, apt_cache);
                    }
                    if let Some((copy, span)) = broad_copy
                        && let Some((s, c)) = scripts.iter().find_map(|s| {
                            s.script
                                .commands
                                .iter()
                                .find(|c| installs_dependencies(c))
                                .map(|c| (s, c))
                        })
                    {
                        self.emit(
                            "BroadCopyBeforeInstall",
                            format!("`{}` copies the whole build context before dependencies are installed", copy.name()),
                            vec![
                                (span, "copies everything".into()),
                                (s.cmd_span(c), "so this reruns whenever any file changes".into()),
                            ],
                            "copy only what the install needs first (e.g. `COPY requirements.txt .` then `RUN pip install -r requirements.txt`), and the rest after it".into(),
                        );
                        broad_copy = None;
                    }
                }
                _ => {}
            }
        }
        self.run_group(&run_group);
    }

    fn from(&mut self, f: &crate::ast::From, earlier_stages: &[String]) {
        let image = &f.image.value;
        if image.is_empty()
            || image.contains('$')
            || image.eq_ignore_ascii_case("scratch")
            || image.contains('@')
            || earlier_stages.iter().any(|s| s.eq_ignore_ascii_case(image))
        {
            return;
        }
        let last = image.rsplit('/').next().unwrap_or(image);
        let example = format!("{}:<version>", image.trim_end_matches(":latest"));
        match last.split_once(':') {
            Some((_, "latest")) => self.emit(
                "BaseImageNotPinned",
                format!("`{image}` is not pinned: `latest` changes over time"),
                vec![(f.image.span, "`latest` tag".into())],
                format!("pin a version (`{example}`) or a digest (`image@sha256:…`) so builds are reproducible"),
            ),
            Some(_) => {}
            None => self.emit(
                "BaseImageNotPinned",
                format!("`{image}` has no tag, so it means `{image}:latest`"),
                vec![(f.image.span, "no tag".into())],
                format!("pin a version (`{example}`) or a digest (`image@sha256:…`) so builds are reproducible"),
            ),
        }
    }

    fn run_group(&mut self, group: &[&Instruction]) {
        if group.len() < 2 {
            return;
        }
        let (first, rest) = (group[0], &group[1..]);
        let span = rest[0].span.cover(rest[rest.len() - 1].span);
        self.emit(
            "ConsecutiveRun",
            format!(
                "{} consecutive `RUN` instructions could be one",
                group.len()
            ),
            vec![
                (first.keyword.span, "this `RUN`…".into()),
                (span, "…and these each make another layer".into()),
            ],
            "join the commands with `&&` in one `RUN` (continue lines with `\\`) to make one layer"
                .into(),
        );
    }

    fn run_scripts(&mut self, scripts: &[RunScript<'_>], shell_pipefail: bool, apt_cache: bool) {
        let all: Vec<(&RunScript<'_>, &SimpleCommand)> = scripts
            .iter()
            .flat_map(|s| s.script.commands.iter().map(move |c| (s, c)))
            .collect();
        // apt-get update without removing the lists.
        let removes_lists = all.iter().any(|(_, c)| {
            c.name() == Some("rm")
                && c.argv()
                    .iter()
                    .any(|w| w.text.contains("/var/lib/apt/lists"))
        });
        if !removes_lists
            && !apt_cache
            && let Some((s, c)) = all
                .iter()
                .find(|(_, c)| apt_subcommand(c) == Some("update"))
        {
            let tool = c.argv().first().map_or("apt-get", |w| w.text.as_str());
            self.emit(
                "AptListsNotRemoved",
                format!("`{tool} update` leaves the package lists in the layer"),
                vec![(
                    s.cmd_span(c),
                    "lists downloaded here stay in the image".into(),
                )],
                "end the same `RUN` with `&& rm -rf /var/lib/apt/lists/*`".into(),
            );
        }
        for (s, c) in &all {
            if apt_subcommand(c) != Some("install") {
                continue;
            }
            let argv = c.argv();
            let has = |pred: &dyn Fn(&str) -> bool| argv.iter().any(|w| pred(&w.text));
            let mut prev_o = false;
            let mut opts: Vec<String> = Vec::new();
            for w in argv {
                if prev_o {
                    opts.push(w.text.to_ascii_lowercase());
                }
                prev_o = w.text == "-o";
                if let Some(o) = w.text.strip_prefix("-o")
                    && !o.is_empty()
                {
                    opts.push(o.to_ascii_lowercase());
                }
            }
            let tool = &argv[0].text;
            if !has(&|w| w == "--no-install-recommends")
                && !opts.iter().any(|o| {
                    o.starts_with("apt::install-recommends=")
                        && (o.ends_with("=false") || o.ends_with("=0"))
                })
            {
                self.emit(
                    "AptInstallRecommends",
                    format!("`{tool} install` without `--no-install-recommends`"),
                    vec![(
                        s.cmd_span(c),
                        "also installs every recommended package".into(),
                    )],
                    format!(
                        "write `{tool} install --no-install-recommends …` and list what you need"
                    ),
                );
            }
            let yes = has(&|w| {
                w == "--yes"
                    || w == "--assume-yes"
                    || w.starts_with("--yes=")
                    || (w.starts_with('-')
                        && !w.starts_with("--")
                        && w[1..].chars().all(|c| c.is_ascii_alphabetic())
                        && w.contains('y'))
            }) || opts
                .iter()
                .any(|o| o.starts_with("apt::get::assume-yes=true"));
            if !yes {
                self.emit(
                    "AptInstallNoYes",
                    format!("`{tool} install` without `-y`"),
                    vec![(
                        s.cmd_span(c),
                        "asks for confirmation, which no one can give during a build".into(),
                    )],
                    format!("write `{tool} install -y …`"),
                );
            }
        }
        // RUN cd.
        if let Some((s, c)) = all.iter().find(|(_, c)| c.name() == Some("cd")) {
            let dir = c
                .argv()
                .get(1)
                .map_or("/path".to_string(), |w| w.text.clone());
            self.emit(
                "CdInsteadOfWorkdir",
                "`cd` in `RUN` instead of `WORKDIR`".into(),
                vec![(
                    s.cmd_span(c),
                    "changes directory for this `RUN` only".into(),
                )],
                format!(
                    "use `WORKDIR {dir}`: it is clearer and applies to the instructions after it"
                ),
            );
        }
        // Pipes without pipefail.
        if !shell_pipefail {
            for s in scripts {
                let Some(&(pipe, next)) = s.script.pipes.first() else {
                    continue;
                };
                let pipefail_before = s.script.commands[..next.min(s.script.commands.len())]
                    .iter()
                    .any(|c| {
                        c.name() == Some("set")
                            && c.argv()
                                .iter()
                                .any(|w| w.text == "pipefail" || w.text.ends_with("pipefail"))
                    });
                if !pipefail_before {
                    self.emit(
                        "PipeWithoutPipefail",
                        "a failure on the left of this pipe does not fail the build".into(),
                        vec![(s.span(pipe, pipe + 1), "only the last command's status counts".into())],
                        "add `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]` before this `RUN`, or start it with `set -o pipefail &&` in a shell that has it".into(),
                    );
                    break;
                }
            }
        }
    }
}

fn mergeable_run(inst: &Instruction) -> bool {
    matches!(&inst.kind, InstructionKind::Run(r) if matches!(r.command, CommandForm::Shell(_)))
        && inst.heredocs.is_empty()
}

fn same_flags(a: &Instruction, b: &Instruction) -> bool {
    let key = |i: &Instruction| -> Vec<(String, Option<String>)> {
        i.flags
            .iter()
            .map(|f| {
                (
                    f.name.value.clone(),
                    f.value.as_ref().map(|v| v.value.clone()),
                )
            })
            .collect()
    };
    key(a) == key(b)
}

/// The source of a COPY/ADD that copies the whole context (`.`, `./`, `*`, `/`), if any.
fn broad_source(inst: &Instruction) -> Option<Span> {
    let (InstructionKind::Copy(c) | InstructionKind::Add(c)) = &inst.kind else {
        return None;
    };
    if c.from.is_some() {
        return None;
    }
    c.sources
        .iter()
        .find(|s| {
            let v = s.value.trim_start_matches("./").trim_end_matches('/');
            matches!(v, "" | "." | "*" | "./*" | ".*")
        })
        .map(|s| s.span)
}

/// `update` for `apt-get update`, `install` for `apt install -y x`, …
fn apt_subcommand(c: &SimpleCommand) -> Option<&str> {
    let argv = c.argv();
    let name = argv.first()?.text.rsplit('/').next()?;
    if !matches!(name, "apt-get" | "apt" | "aptitude") {
        return None;
    }
    let mut skip_next = false;
    for w in &argv[1..] {
        if skip_next {
            skip_next = false;
            continue;
        }
        if matches!(
            w.text.as_str(),
            "-o" | "-t" | "-c" | "--option" | "--target-release" | "--config-file"
        ) {
            skip_next = true;
            continue;
        }
        if !w.text.starts_with('-') {
            return Some(w.text.as_str());
        }
    }
    None
}

/// Whether a command installs dependencies (packages, or a project's declared dependencies).
fn installs_dependencies(c: &SimpleCommand) -> bool {
    let argv: Vec<&str> = c.argv().iter().map(|w| w.text.as_str()).collect();
    let Some(&first) = argv.first() else {
        return false;
    };
    let name = first.rsplit('/').next().unwrap_or(first);
    let sub: Vec<&str> = argv[1..]
        .iter()
        .copied()
        .filter(|w| !w.starts_with('-'))
        .collect();
    let sub0 = sub.first().copied().unwrap_or("");
    match name {
        "apt-get" | "apt" | "aptitude" => apt_subcommand(c) == Some("install"),
        "apk" => sub0 == "add",
        "dnf" | "yum" | "microdnf" | "zypper" => sub0 == "install",
        "pip" | "pip3" | "pipx" | "gem" | "pnpm" | "bun" => matches!(sub0, "install" | "i"),
        "python" | "python3" => argv
            .windows(3)
            .any(|w| w[0] == "-m" && w[1] == "pip" && w[2] == "install"),
        "uv" => matches!(sub0, "sync" | "pip"),
        "poetry" | "pipenv" | "bundle" | "composer" => sub0 == "install",
        "conda" | "mamba" | "micromamba" => matches!(sub0, "install" | "create" | "env"),
        "npm" => matches!(sub0, "install" | "i" | "ci"),
        "yarn" => sub0.is_empty() || sub0 == "install",
        "cargo" => matches!(sub0, "build" | "fetch" | "install"),
        "go" => {
            (sub0 == "mod" && sub.get(1) == Some(&"download"))
                || matches!(sub0, "get" | "build" | "install")
        }
        "mvn" | "gradle" | "./gradlew" | "gradlew" => true,
        "dotnet" => sub0 == "restore",
        _ => false,
    }
}
