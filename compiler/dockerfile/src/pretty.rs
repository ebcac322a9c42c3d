//! A stable, readable print of the parsed form, for snapshot tests and `--debug` output.

use std::fmt::Write;

use crate::ast::{CommandForm, Dockerfile, Healthcheck, Instruction, InstructionKind, Mount};
use crate::span::{Span, Spanned};

/// Print `file` (parsed from `source`) one instruction per block, with line numbers and spans.
pub fn pretty(file: &Dockerfile, source: &str) -> String {
    let mut out = String::new();
    let line_of = |offset: usize| source[..offset.min(source.len())].matches('\n').count() + 1;
    for d in &file.directives {
        let _ = writeln!(
            out,
            "directive {} = {:?} {:?}",
            d.name.value, d.value.value, d.span
        );
    }
    if file.escape != '\\' {
        let _ = writeln!(out, "escape {:?}", file.escape);
    }
    for c in &file.comments {
        let _ = writeln!(out, "comment L{} {:?}", line_of(c.start), c);
    }
    for s in &file.empty_continuation_lines {
        let _ = writeln!(out, "empty continuation line L{}", line_of(s.start));
    }
    for inst in &file.instructions {
        instruction(&mut out, inst, &line_of, 0);
    }
    for e in &file.errors {
        let _ = writeln!(
            out,
            "{} {:?}: {}{}",
            e.severity,
            e.span().unwrap_or_default(),
            e.message,
            e.help
                .as_ref()
                .map(|h| format!(" (help: {h})"))
                .unwrap_or_default()
        );
    }
    out
}

fn instruction(
    out: &mut String,
    inst: &Instruction,
    line_of: &dyn Fn(usize) -> usize,
    depth: usize,
) {
    let pad = "  ".repeat(depth);
    let _ = writeln!(
        out,
        "{pad}L{} {} {:?} (as {:?})",
        line_of(inst.span.start),
        inst.name(),
        inst.span,
        inst.keyword.value
    );
    let pad = "  ".repeat(depth + 1);
    for f in &inst.flags {
        let _ = writeln!(out, "{pad}flag {:?} = {:?}", f.name, f.value);
    }
    let mut field = |k: &str, v: String| {
        let _ = writeln!(out, "{pad}{k}: {v}");
    };
    match &inst.kind {
        InstructionKind::From(f) => {
            field("image", sp(&f.image));
            if let Some(n) = &f.name {
                field("name", sp(n));
            }
            if let Some(p) = &f.platform {
                field("platform", sp(p));
            }
        }
        InstructionKind::Run(r) => {
            field("command", command(&r.command));
            for m in &r.mounts {
                field("mount", mount(m));
            }
            if let Some(n) = &r.network {
                field("network", format!("{:?}", n));
            }
        }
        InstructionKind::Cmd(c) | InstructionKind::Entrypoint(c) => field("command", command(c)),
        InstructionKind::Shell(args) => field("shell", list(args)),
        InstructionKind::Label(kvs) | InstructionKind::Env(kvs) => {
            for kv in kvs {
                let form = if kv.legacy { " (legacy form)" } else { "" };
                field("pair", format!("{} = {}{form}", sp(&kv.key), sp(&kv.value)));
            }
        }
        InstructionKind::Expose(v) | InstructionKind::Volume(v) => field("values", list(v)),
        InstructionKind::Add(c) | InstructionKind::Copy(c) => {
            field("sources", list(&c.sources));
            field("dest", sp(&c.dest));
            if c.json {
                field("form", "json".into());
            }
            let opts = [
                ("from", &c.from),
                ("chown", &c.chown),
                ("chmod", &c.chmod),
                ("checksum", &c.checksum),
            ];
            for (k, v) in opts {
                if let Some(v) = v {
                    field(k, sp(v));
                }
            }
            if !c.exclude.is_empty() {
                field("exclude", list(&c.exclude));
            }
            let bools = [
                ("link", c.link),
                ("parents", c.parents),
                ("keep-git-dir", c.keep_git_dir),
            ];
            for (k, v) in bools {
                if v {
                    field(k, "true".into());
                }
            }
            if let Some(u) = c.unpack {
                field("unpack", u.to_string());
            }
        }
        InstructionKind::User(v)
        | InstructionKind::Workdir(v)
        | InstructionKind::StopSignal(v)
        | InstructionKind::Maintainer(v) => field("value", sp(v)),
        InstructionKind::Arg(args) => {
            for a in args {
                let d = a
                    .default
                    .as_ref()
                    .map(sp)
                    .unwrap_or_else(|| "(no default)".into());
                field("arg", format!("{} = {d}", sp(&a.name)));
            }
        }
        InstructionKind::Healthcheck(Healthcheck::None) => field("healthcheck", "NONE".into()),
        InstructionKind::Healthcheck(Healthcheck::Cmd { command: c, .. }) => {
            field("healthcheck", command(c))
        }
        InstructionKind::Onbuild(trigger) => {
            instruction(out, trigger, line_of, depth + 1);
        }
        InstructionKind::Unknown => {}
    }
    for h in &inst.heredocs {
        let _ = writeln!(
            out,
            "{pad}heredoc {:?} name={:?} chomp={} expand={} fd={:?} body={:?}{}",
            h.span,
            h.name,
            h.chomp,
            h.expand,
            h.fd,
            h.body,
            if h.terminated { "" } else { " UNTERMINATED" }
        );
        let _ = writeln!(
            out,
            "{pad}  | {}",
            h.text().replace('\n', &format!("\n{pad}  | "))
        );
    }
}

fn sp(s: &Spanned<String>) -> String {
    format!("{:?} {:?}", s.value, s.span)
}

fn list(v: &[Spanned<String>]) -> String {
    v.iter().map(sp).collect::<Vec<_>>().join(", ")
}

fn command(c: &CommandForm) -> String {
    match c {
        CommandForm::Exec(args) => format!("exec [{}]", list(args)),
        CommandForm::Shell(s) => format!("shell {:?} {:?}", s.text, s.span),
    }
}

fn mount(m: &Mount) -> String {
    let mut s = format!("{:?}", m.kind).to_lowercase();
    let opts = [
        ("target", &m.target),
        ("source", &m.source),
        ("from", &m.from),
        ("id", &m.id),
        ("mode", &m.mode),
        ("uid", &m.uid),
        ("gid", &m.gid),
        ("size", &m.size),
        ("env", &m.env),
    ];
    for (k, v) in opts {
        if let Some(v) = v {
            let _ = write!(s, " {k}={:?}", v.value);
        }
    }
    if let Some(sh) = m.sharing {
        let _ = write!(s, " sharing={:?}", sh);
    }
    if let Some(ro) = m.readonly {
        let _ = write!(s, " readonly={ro}");
    }
    if let Some(r) = m.required {
        let _ = write!(s, " required={r}");
    }
    let _: Span = m.span;
    s
}

/// Print an evaluation: the stages, their bases and dependencies, and each step with its
/// arguments substituted.
pub fn pretty_stages(ev: &crate::stages::Evaluation) -> String {
    let mut out = String::new();
    if !ev.global_args.is_empty() {
        let _ = writeln!(out, "global args: {:?}", ev.global_args);
    }
    for s in &ev.stages {
        let _ = writeln!(
            out,
            "stage {} {:?} base={:?} platform={:?} depends_on={:?} build_args_used={:?}",
            s.index, s.name, s.base, s.platform, s.depends_on, s.build_args_used
        );
        for step in &s.steps {
            let _ = writeln!(out, "  {:?}", step.op);
            if !step.args.is_empty() {
                let _ = writeln!(out, "    args: {:?}", step.args);
            }
        }
        if !s.env.is_empty() {
            let _ = writeln!(out, "  final env: {:?}", s.env);
        }
    }
    let _ = writeln!(out, "target: {:?}, needed: {:?}", ev.target, ev.needed);
    if !ev.unused_build_args.is_empty() {
        let _ = writeln!(out, "unused build args: {:?}", ev.unused_build_args);
    }
    out
}
