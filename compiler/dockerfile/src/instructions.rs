//! Parsing one logical line into an [`Instruction`]: the keyword, the flags, and the arguments in
//! the form each instruction takes (BuildKit's `line_parsers.go` and `instructions/parse.go`).

use crate::ast::{
    ArgDecl, CommandForm, Copy, Flag, From, Healthcheck, Instruction, InstructionKind, KeyValue,
    Network, Run, ShellCommand,
};
use crate::diagnostic::{self, Diagnostic};
use crate::mount;
use crate::span::{Span, SpanMap, Spanned};
use crate::suggest;
use crate::words::{self, JsonError};

/// Every instruction Docker knows, upper case.
pub const INSTRUCTIONS: &[&str] = &[
    "FROM",
    "RUN",
    "CMD",
    "LABEL",
    "MAINTAINER",
    "EXPOSE",
    "ENV",
    "ADD",
    "COPY",
    "ENTRYPOINT",
    "VOLUME",
    "USER",
    "WORKDIR",
    "ARG",
    "ONBUILD",
    "STOPSIGNAL",
    "HEALTHCHECK",
    "SHELL",
];

/// The flags each instruction accepts, and whether a flag may be given more than once.
fn allowed_flags(instruction: &str) -> &'static [(&'static str, bool)] {
    match instruction {
        "FROM" => &[("platform", false)],
        "RUN" => &[("mount", true), ("network", false)],
        "COPY" => &[
            ("from", false),
            ("chown", false),
            ("chmod", false),
            ("link", false),
            ("parents", false),
            ("exclude", true),
        ],
        "ADD" => &[
            ("chown", false),
            ("chmod", false),
            ("link", false),
            ("keep-git-dir", false),
            ("checksum", false),
            ("exclude", true),
            ("unpack", false),
        ],
        "HEALTHCHECK" => &[
            ("interval", false),
            ("timeout", false),
            ("start-period", false),
            ("start-interval", false),
            ("retries", false),
        ],
        _ => &[],
    }
}

/// Flags that take no value (`--link`, or `--link=false`).
const BOOL_FLAGS: &[&str] = &["link", "parents", "keep-git-dir", "unpack"];

/// Everything parsing a line needs: the logical line, its map to the source, the escape character,
/// and where errors go.
pub(crate) struct Line<'a> {
    pub text: &'a str,
    pub map: &'a SpanMap,
    pub escape: char,
    pub errors: &'a mut Vec<Diagnostic>,
}

impl Line<'_> {
    fn span(&self, a: usize, b: usize) -> Span {
        self.map.span(a, b)
    }

    fn spanned(&self, a: usize, b: usize) -> Spanned<String> {
        Spanned::new(self.text[a..b].to_string(), self.span(a, b))
    }

    fn error(&mut self, span: Span, message: String, label: &str, help: String) {
        self.errors
            .push(diagnostic::syntax(span, message, label).with_help(help));
    }
}

/// Parse the instruction starting at byte `start` of the line (after leading whitespace).
/// `nested` is true for an ONBUILD trigger.
pub(crate) fn parse(line: &mut Line<'_>, start: usize, nested: bool) -> Instruction {
    let end = line.text.trim_end().len().max(start);
    let kw_end = line.text[start..end]
        .find(char::is_whitespace)
        .map_or(end, |i| start + i);
    let keyword = line.spanned(start, kw_end);
    let args = skip_ws(line.text, kw_end, end);
    let upper = keyword.value.to_ascii_uppercase();
    let mut inst = Instruction {
        span: line.span(start, end),
        keyword: keyword.clone(),
        flags: Vec::new(),
        kind: InstructionKind::Unknown,
        heredocs: Vec::new(),
        text: line.text.to_string(),
        map: line.map.clone(),
    };
    let Some(&name) = INSTRUCTIONS.iter().find(|&&i| i == upper) else {
        let nearest = suggest::nearest(&keyword.value, INSTRUCTIONS);
        let help = match nearest {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "a Dockerfile instruction is one of {}",
                INSTRUCTIONS.join(", ")
            ),
        };
        line.error(
            keyword.span,
            format!("unknown instruction `{}`", keyword.value),
            "unknown instruction",
            help,
        );
        if let (Some(s), Some(d)) = (nearest, line.errors.last_mut()) {
            d.suggestion = Some(diagnostic::Suggestion {
                span: keyword.span,
                replacement: s.to_owned(),
            });
        }
        return inst;
    };

    let (raw_flags, rel) = words::flags(&line.text[args..end]);
    let rest = args + rel;
    inst.flags = flags(line, name, args, &raw_flags);
    let f = &inst.flags;

    inst.kind = match name {
        "FROM" => from(line, rest, end, f),
        "RUN" => run(line, rest, end, f, &keyword),
        "CMD" => InstructionKind::Cmd(command(line, rest, end, &keyword)),
        "ENTRYPOINT" => InstructionKind::Entrypoint(command(line, rest, end, &keyword)),
        "SHELL" => shell(line, rest, end, &keyword),
        "LABEL" => InstructionKind::Label(name_values(line, rest, end, &keyword)),
        "ENV" => InstructionKind::Env(name_values(line, rest, end, &keyword)),
        // No JSON form, as in BuildKit: `EXPOSE ["80"]` is the port `[80]` (an error later).
        "EXPOSE" => InstructionKind::Expose({
            let out: Vec<Spanned<String>> = words::fields(&line.text[rest..end])
                .into_iter()
                .map(|(a, b)| line.spanned(rest + a, rest + b))
                .collect();
            if out.is_empty() {
                missing(line, &keyword, rest, "a port", "80/tcp");
            }
            out
        }),
        "ADD" => InstructionKind::Add(copy(line, rest, end, f, &keyword)),
        "COPY" => InstructionKind::Copy(copy(line, rest, end, f, &keyword)),
        "VOLUME" => InstructionKind::Volume(list(line, rest, end, &keyword, "a path", "/data")),
        "USER" => InstructionKind::User(string(line, rest, end, &keyword, "a user", "1000:1000")),
        "WORKDIR" => InstructionKind::Workdir(string(line, rest, end, &keyword, "a path", "/app")),
        "STOPSIGNAL" => {
            InstructionKind::StopSignal(string(line, rest, end, &keyword, "a signal", "SIGTERM"))
        }
        "MAINTAINER" => {
            InstructionKind::Maintainer(string(line, rest, end, &keyword, "a name", "duck"))
        }
        "ARG" => InstructionKind::Arg(arg(line, rest, end, &keyword)),
        "HEALTHCHECK" => healthcheck(line, rest, end, f, &keyword),
        "ONBUILD" => onbuild(line, rest, end, nested, &keyword),
        _ => InstructionKind::Unknown,
    };
    inst
}

fn skip_ws(text: &str, mut i: usize, end: usize) -> usize {
    while i < end {
        let c = text[i..].chars().next().unwrap_or(' ');
        if !c.is_whitespace() {
            break;
        }
        i += c.len_utf8();
    }
    i
}

fn flags(line: &mut Line<'_>, name: &str, base: usize, raw: &[words::RawFlag]) -> Vec<Flag> {
    let allowed = allowed_flags(name);
    let mut out: Vec<Flag> = Vec::new();
    for rf in raw {
        let (a, b) = (base + rf.start, base + rf.end);
        let body = rf.text.strip_prefix("--").unwrap_or(&rf.text);
        let (fname, value) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (body, None),
        };
        let name_span = line.span(a, (a + 2 + fname.len()).min(b));
        let flag = Flag {
            span: line.span(a, b),
            name: Spanned::new(fname.to_string(), name_span),
            value: value.map(|v| {
                let vs = (a + 2 + fname.len() + 1).min(b);
                // A quoted value (`--mount="type=bind,…"`): its span is what is inside the
                // quotes, so offsets into the unquoted text land where they were written.
                let raw = line.text.get(vs..b).unwrap_or_default();
                let (vs, ve) = match raw.chars().next() {
                    Some(q @ ('"' | '\'')) if raw.len() >= 2 && raw.ends_with(q) => (vs + 1, b - 1),
                    _ => (vs, b),
                };
                Spanned::new(v.to_string(), line.span(vs, ve))
            }),
        };
        let Some(&(_, repeatable)) = allowed.iter().find(|(n, _)| *n == fname) else {
            let names: Vec<&str> = allowed.iter().map(|(n, _)| *n).collect();
            let nearest = suggest::nearest(fname, &names);
            let help = match nearest {
                Some(s) => format!("did you mean `--{s}`?"),
                None if names.is_empty() => format!("`{name}` takes no flags"),
                None => format!(
                    "`{name}` takes {}",
                    names
                        .iter()
                        .map(|n| format!("`--{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            line.error(
                flag.span,
                format!("unknown flag `--{fname}` for `{name}`"),
                "unknown flag",
                help,
            );
            // The flag's name (`--` included) replaced; its value stays.
            if let (Some(s), Some(d)) = (nearest, line.errors.last_mut()) {
                d.suggestion = Some(diagnostic::Suggestion {
                    span: flag.name.span,
                    replacement: format!("--{s}"),
                });
            }
            continue;
        };
        if !repeatable && out.iter().any(|f| f.name.value == fname) {
            line.error(
                flag.span,
                format!("flag `--{fname}` given twice"),
                "second time",
                format!("give `--{fname}` once"),
            );
            continue;
        }
        let is_bool = BOOL_FLAGS.contains(&fname);
        match (&flag.value, is_bool) {
            (None, false) => {
                line.error(
                    flag.span,
                    format!("flag `--{fname}` needs a value"),
                    "no value",
                    format!("write `--{fname}=VALUE`"),
                );
                continue;
            }
            (Some(v), true) if bool_value(&v.value).is_none() => {
                line.error(
                    v.span,
                    format!(
                        "flag `--{fname}` takes `true` or `false`, not `{}`",
                        v.value
                    ),
                    "not a boolean",
                    format!("write `--{fname}` or `--{fname}=false`"),
                );
                continue;
            }
            _ => {}
        }
        out.push(flag);
    }
    out
}

fn bool_value(s: &str) -> Option<bool> {
    match s.to_ascii_lowercase().as_str() {
        "" | "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

fn flag_value(flags: &[Flag], name: &str) -> Option<Spanned<String>> {
    flags
        .iter()
        .find(|f| f.name.value == name)
        .and_then(|f| f.value.clone())
}

fn flag_bool(flags: &[Flag], name: &str) -> Option<bool> {
    let f = flags.iter().find(|f| f.name.value == name)?;
    f.value
        .as_ref()
        .map_or(Some(true), |v| bool_value(&v.value))
}

fn missing(line: &mut Line<'_>, kw: &Spanned<String>, at: usize, what: &str, example: &str) {
    let name = kw.value.to_ascii_uppercase();
    let span = line.span(at, at).cover(kw.span);
    line.error(
        span,
        format!("`{name}` needs {what}"),
        "incomplete instruction",
        format!("for example `{name} {example}`"),
    );
}

fn from(line: &mut Line<'_>, rest: usize, end: usize, f: &[Flag]) -> InstructionKind {
    let fields = words::fields(&line.text[rest..end]);
    let field =
        |i: usize| -> Option<(usize, usize)> { fields.get(i).map(|&(a, b)| (rest + a, rest + b)) };
    let image = match field(0) {
        Some((a, b)) => line.spanned(a, b),
        None => {
            line.error(
                line.span(rest, end),
                "`FROM` needs a base image".to_string(),
                "no image",
                "for example `FROM debian:bookworm` or `FROM scratch`".to_string(),
            );
            Spanned::new(String::new(), line.span(rest, end))
        }
    };
    let mut name = None;
    match fields.len() {
        0 | 1 => {}
        3 if line.text[field(1).unwrap().0..field(1).unwrap().1].eq_ignore_ascii_case("as") => {
            let (a, b) = field(2).unwrap_or((end, end));
            let mut n = line.spanned(a, b);
            n.value = n.value.to_ascii_lowercase();
            if !valid_stage_name(&n.value) {
                line.error(
                    n.span,
                    format!("invalid stage name `{}`", n.value),
                    "invalid name",
                    "a stage name starts with a letter and holds only letters, digits, `-`, `_` and `.`".to_string(),
                );
            }
            name = Some(n);
        }
        _ => {
            let (a, _) = field(1).unwrap_or((end, end));
            line.error(
                line.span(a, end),
                "`FROM` takes an image and optionally `AS name`".to_string(),
                "unexpected arguments",
                "write `FROM image` or `FROM image AS name`".to_string(),
            );
        }
    }
    InstructionKind::From(From {
        image,
        name,
        platform: flag_value(f, "platform"),
    })
}

/// Docker's rule for stage names (after lowercasing).
pub(crate) fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
}

/// The arguments of RUN, CMD, ENTRYPOINT: JSON form if they parse as a JSON array of strings,
/// shell form otherwise. `None` when there is nothing.
fn maybe_json(line: &mut Line<'_>, rest: usize, end: usize) -> Option<CommandForm> {
    if rest >= end {
        return None;
    }
    let text = &line.text[rest..end];
    match words::json_array(text) {
        Ok(items) => Some(CommandForm::Exec(
            items
                .into_iter()
                .map(|(s, a, b)| Spanned::new(s, line.span(rest + a, rest + b)))
                .collect(),
        )),
        Err(e) => {
            if e == JsonError::NotStrings {
                line.error(
                    line.span(rest, end),
                    "a JSON array of arguments may only hold strings".to_string(),
                    "not all strings",
                    "quote every element: `[\"sleep\", \"10\"]`".to_string(),
                );
            }
            Some(CommandForm::Shell(ShellCommand {
                text: text.to_string(),
                span: line.span(rest, end),
                offset: rest,
            }))
        }
    }
}

fn command(line: &mut Line<'_>, rest: usize, end: usize, kw: &Spanned<String>) -> CommandForm {
    maybe_json(line, rest, end).unwrap_or_else(|| {
        missing(line, kw, rest, "a command", "[\"executable\", \"arg\"]");
        CommandForm::Exec(Vec::new())
    })
}

fn run(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    f: &[Flag],
    kw: &Spanned<String>,
) -> InstructionKind {
    let mut mounts = Vec::new();
    let mut network = None;
    for flag in f {
        let Some(v) = &flag.value else { continue };
        match flag.name.value.as_str() {
            "mount" => mounts.push(mount::parse(&v.value, v.span, line.errors)),
            "network" => {
                let n = match v.value.as_str() {
                    "default" => Some(Network::Default),
                    "none" => Some(Network::None),
                    "host" => Some(Network::Host),
                    other => {
                        line.error(
                            v.span,
                            format!("unknown network mode `{other}`"),
                            "unknown mode",
                            "use `--network=default`, `--network=none` or `--network=host`"
                                .to_string(),
                        );
                        None
                    }
                };
                network = n.map(|n| Spanned::new(n, v.span));
            }
            _ => {}
        }
    }
    let command = maybe_json(line, rest, end).unwrap_or_else(|| {
        missing(line, kw, rest, "a command", "apt-get update");
        CommandForm::Exec(Vec::new())
    });
    InstructionKind::Run(Run {
        command,
        mounts,
        network,
    })
}

fn shell(line: &mut Line<'_>, rest: usize, end: usize, kw: &Spanned<String>) -> InstructionKind {
    match maybe_json(line, rest, end) {
        Some(CommandForm::Exec(args)) if !args.is_empty() => InstructionKind::Shell(args),
        Some(CommandForm::Exec(_)) | None => {
            missing(line, kw, rest, "a shell", "[\"/bin/bash\", \"-c\"]");
            InstructionKind::Shell(Vec::new())
        }
        Some(CommandForm::Shell(s)) => {
            line.error(
                s.span,
                "`SHELL` takes the JSON form".to_string(),
                "not a JSON array",
                "write `SHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]`".to_string(),
            );
            InstructionKind::Shell(Vec::new())
        }
    }
}

/// ENV and LABEL: `k=v …`, or the old `k v` where the value is the rest of the line.
fn name_values(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    kw: &Spanned<String>,
) -> Vec<KeyValue> {
    let name = kw.value.to_ascii_uppercase();
    let ws = words::words(&line.text[rest..end], line.escape);
    let Some(&(a0, b0)) = ws.first() else {
        missing(line, kw, rest, "a `key=value` pair", "KEY=value");
        return Vec::new();
    };
    if !line.text[rest + a0..rest + b0].contains('=') {
        // The old form: `ENV key value…`.
        let fields = words::fields(&line.text[rest..end]);
        let (ka, kb) = (rest + fields[0].0, rest + fields[0].1);
        let va = skip_ws(line.text, kb, end);
        if va >= end {
            line.error(
                line.span(ka, kb),
                format!("`{name} {}` needs a value", &line.text[ka..kb]),
                "no value",
                format!("write `{name} {}=value`", &line.text[ka..kb]),
            );
        }
        return vec![KeyValue {
            key: line.spanned(ka, kb),
            value: line.spanned(va, end),
            legacy: true,
        }];
    }
    let mut out = Vec::new();
    for (a, b) in ws {
        let (a, b) = (rest + a, rest + b);
        let word = &line.text[a..b];
        let Some(eq) = word.find('=') else {
            line.error(
                line.span(a, b),
                format!("`{word}` is not a `key=value` pair"),
                "no `=`",
                format!("write `{word}=value`; in the `key=value` form every word needs `=`"),
            );
            continue;
        };
        if eq == 0 {
            line.error(
                line.span(a, b),
                format!("`{name}` names cannot be blank"),
                "blank name",
                "write `NAME=value`".to_string(),
            );
            continue;
        }
        out.push(KeyValue {
            key: line.spanned(a, a + eq),
            value: line.spanned(a + eq + 1, b),
            legacy: false,
        });
    }
    out
}

fn arg(line: &mut Line<'_>, rest: usize, end: usize, kw: &Spanned<String>) -> Vec<ArgDecl> {
    let ws = words::words(&line.text[rest..end], line.escape);
    if ws.is_empty() {
        missing(line, kw, rest, "a name", "VERSION=1.0");
    }
    let mut out = Vec::new();
    for (a, b) in ws {
        let (a, b) = (rest + a, rest + b);
        let word = &line.text[a..b];
        let eq = word.find('=');
        let name_end = eq.map_or(b, |e| a + e);
        if name_end == a {
            line.error(
                line.span(a, b),
                "`ARG` names cannot be blank".to_string(),
                "blank name",
                "write `ARG NAME` or `ARG NAME=default`".to_string(),
            );
            continue;
        }
        out.push(ArgDecl {
            name: line.spanned(a, name_end),
            default: eq.map(|e| line.spanned(a + e + 1, b)),
        });
    }
    out
}

/// Whitespace-separated (or JSON) list: EXPOSE, VOLUME.
fn list(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    kw: &Spanned<String>,
    what: &str,
    example: &str,
) -> Vec<Spanned<String>> {
    let out = json_or_fields(line, rest, end).0;
    if out.is_empty() {
        missing(line, kw, rest, what, example);
    }
    out
}

fn json_or_fields(line: &mut Line<'_>, rest: usize, end: usize) -> (Vec<Spanned<String>>, bool) {
    let text = &line.text[rest..end];
    match words::json_array(text) {
        Ok(items) => (
            items
                .into_iter()
                .map(|(s, a, b)| Spanned::new(s, line.span(rest + a, rest + b)))
                .collect(),
            true,
        ),
        Err(e) => {
            if e == JsonError::NotStrings {
                line.error(
                    line.span(rest, end),
                    "a JSON array of arguments may only hold strings".to_string(),
                    "not all strings",
                    "quote every element: `[\"src\", \"/dst/\"]`".to_string(),
                );
            }
            (
                words::fields(text)
                    .into_iter()
                    .map(|(a, b)| line.spanned(rest + a, rest + b))
                    .collect(),
                false,
            )
        }
    }
}

fn string(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    kw: &Spanned<String>,
    what: &str,
    example: &str,
) -> Spanned<String> {
    if rest >= end {
        missing(line, kw, rest, what, example);
    }
    line.spanned(rest, end.max(rest))
}

fn copy(line: &mut Line<'_>, rest: usize, end: usize, f: &[Flag], kw: &Spanned<String>) -> Copy {
    let (mut args, json) = json_or_fields(line, rest, end);
    let dest = if args.len() >= 2 {
        args.pop().unwrap_or_else(|| unreachable_empty(line, end))
    } else {
        missing(line, kw, rest, "a source and a destination", "src/ /app/");
        unreachable_empty(line, end)
    };
    Copy {
        sources: args,
        dest,
        json,
        from: flag_value(f, "from"),
        chown: flag_value(f, "chown"),
        chmod: flag_value(f, "chmod"),
        link: flag_bool(f, "link").unwrap_or(false),
        parents: flag_bool(f, "parents").unwrap_or(false),
        exclude: f
            .iter()
            .filter(|f| f.name.value == "exclude")
            .filter_map(|f| f.value.clone())
            .collect(),
        checksum: flag_value(f, "checksum"),
        keep_git_dir: flag_bool(f, "keep-git-dir").unwrap_or(false),
        unpack: flag_bool(f, "unpack"),
    }
}

fn unreachable_empty(line: &Line<'_>, end: usize) -> Spanned<String> {
    Spanned::new(String::new(), line.span(end, end))
}

fn healthcheck(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    f: &[Flag],
    kw: &Spanned<String>,
) -> InstructionKind {
    let fields = words::fields(&line.text[rest..end]);
    let Some(&(a, b)) = fields.first() else {
        missing(
            line,
            kw,
            rest,
            "`CMD command` or `NONE`",
            "CMD curl -f http://localhost/",
        );
        return InstructionKind::Healthcheck(Healthcheck::None);
    };
    let (a, b) = (rest + a, rest + b);
    let typ = line.text[a..b].to_ascii_uppercase();
    match typ.as_str() {
        "NONE" => {
            if fields.len() > 1 || !f.is_empty() {
                line.error(
                    line.span(a, end)
                        .cover(f.first().map_or(line.span(a, b), |f| f.span)),
                    "`HEALTHCHECK NONE` takes no arguments".to_string(),
                    "unexpected arguments",
                    "write just `HEALTHCHECK NONE`".to_string(),
                );
            }
            InstructionKind::Healthcheck(Healthcheck::None)
        }
        "CMD" => {
            let c = skip_ws(line.text, b, end);
            let command = maybe_json(line, c, end).unwrap_or_else(|| {
                missing(
                    line,
                    kw,
                    c,
                    "a command after `CMD`",
                    "CMD curl -f http://localhost/",
                );
                CommandForm::Exec(Vec::new())
            });
            InstructionKind::Healthcheck(Healthcheck::Cmd {
                command,
                interval: flag_value(f, "interval"),
                timeout: flag_value(f, "timeout"),
                start_period: flag_value(f, "start-period"),
                start_interval: flag_value(f, "start-interval"),
                retries: flag_value(f, "retries"),
            })
        }
        _ => {
            line.error(
                line.span(a, b),
                format!("unknown `HEALTHCHECK` type `{}`", &line.text[a..b]),
                "unknown type",
                "write `HEALTHCHECK CMD command` or `HEALTHCHECK NONE`".to_string(),
            );
            InstructionKind::Healthcheck(Healthcheck::None)
        }
    }
}

fn onbuild(
    line: &mut Line<'_>,
    rest: usize,
    end: usize,
    nested: bool,
    kw: &Spanned<String>,
) -> InstructionKind {
    if rest >= end {
        missing(line, kw, rest, "an instruction to run later", "RUN make");
        return InstructionKind::Unknown;
    }
    let trigger_end = line.text[rest..end]
        .find(char::is_whitespace)
        .map_or(end, |i| rest + i);
    let trigger = line.text[rest..trigger_end].to_ascii_uppercase();
    if nested || matches!(trigger.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
        let message = if trigger == "ONBUILD" || nested {
            "`ONBUILD ONBUILD` is not allowed".to_string()
        } else {
            format!("`{trigger}` is not allowed as an `ONBUILD` trigger")
        };
        line.error(
            line.span(rest, trigger_end),
            message,
            "not allowed here",
            "an `ONBUILD` trigger is one instruction such as `RUN`, `COPY` or `ENV`".to_string(),
        );
        return InstructionKind::Unknown;
    }
    InstructionKind::Onbuild(Box::new(parse(line, rest, true)))
}
