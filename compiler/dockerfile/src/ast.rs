//! The parsed form of a Dockerfile: directives, instructions with their flags and arguments, and
//! heredocs, every piece with the byte span it came from.
//!
//! Arguments are kept as written (quotes and escapes included) wherever Docker expands variables
//! later; `expand` turns them into values.

use crate::diagnostic::Diagnostic;
use crate::span::{Span, SpanMap, Spanned};

/// A parsed Dockerfile. Parsing never fails: `errors` lists what was wrong, and the tree holds
/// everything that could be understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dockerfile {
    /// The parser directives at the top (`# syntax=`, `# escape=`, `# check=`).
    pub directives: Vec<Directive>,
    /// The escape character: `\` unless `# escape=` said otherwise.
    pub escape: char,
    pub instructions: Vec<Instruction>,
    /// Comment lines (not directives), including those inside line continuations.
    pub comments: Vec<Span>,
    /// Empty lines inside a line continuation (allowed, but Docker warns about them).
    pub empty_continuation_lines: Vec<Span>,
    /// Syntax errors, in source order.
    pub errors: Vec<Diagnostic>,
}

impl Dockerfile {
    /// Whether any syntax error was found (warnings do not count).
    pub fn has_errors(&self) -> bool {
        self.errors.iter().any(Diagnostic::is_error)
    }

    /// The value of a parser directive, by lowercase name.
    pub fn directive(&self, name: &str) -> Option<&Directive> {
        self.directives.iter().find(|d| d.name.value == name)
    }
}

/// A parser directive such as `# escape=\``.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directive {
    /// Lowercase name: `syntax`, `escape` or `check`.
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    pub span: Span,
}

/// One instruction: a logical line (continuations joined) plus the bodies of its heredocs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instruction {
    /// From the keyword to the end of the logical line, or of the last heredoc terminator.
    pub span: Span,
    /// The keyword as written (`run`, `RUN`, …).
    pub keyword: Spanned<String>,
    /// Flags such as `--from=build`, before the arguments, in order.
    pub flags: Vec<Flag>,
    pub kind: InstructionKind,
    /// Heredocs opened on this line, in order.
    pub heredocs: Vec<Heredoc>,
    /// The logical line: physical lines joined, continuation characters, comment and empty lines
    /// inside the continuation removed.
    pub text: String,
    /// Maps offsets into `text` back to the source.
    pub map: SpanMap,
}

impl Instruction {
    /// The instruction's name in upper case, `UNKNOWN` for an unknown one.
    pub fn name(&self) -> &'static str {
        self.kind.name()
    }

    /// The first flag with this name (without the dashes).
    pub fn flag(&self, name: &str) -> Option<&Flag> {
        self.flags.iter().find(|f| f.name.value == name)
    }
}

/// A flag `--name`, `--name=value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flag {
    pub span: Span,
    /// The name without the leading `--`.
    pub name: Spanned<String>,
    /// The value after `=`, quotes removed, if any.
    pub value: Option<Spanned<String>>,
}

/// The command of RUN, CMD, ENTRYPOINT, HEALTHCHECK CMD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommandForm {
    /// JSON (exec) form: the decoded strings.
    Exec(Vec<Spanned<String>>),
    /// Shell form: the text as written, for the shell to interpret.
    Shell(ShellCommand),
}

/// A shell-form command as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShellCommand {
    pub text: String,
    pub span: Span,
    /// Where `text` starts in the instruction's logical line (`Instruction::text`).
    pub offset: usize,
}

impl CommandForm {
    pub fn span(&self) -> Option<Span> {
        match self {
            CommandForm::Shell(s) => Some(s.span),
            CommandForm::Exec(args) => match (args.first(), args.last()) {
                (Some(a), Some(b)) => Some(a.span.cover(b.span)),
                _ => None,
            },
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            CommandForm::Exec(args) => args.is_empty(),
            CommandForm::Shell(s) => s.text.trim().is_empty(),
        }
    }
}

/// A `key=value` pair of ENV or LABEL, both as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyValue {
    pub key: Spanned<String>,
    pub value: Spanned<String>,
    /// The old `ENV key value` form, where the value is the rest of the line.
    pub legacy: bool,
}

/// One name declared by ARG, with its default as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: Spanned<String>,
    pub default: Option<Spanned<String>>,
}

/// FROM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct From {
    /// The base as written: an image reference, `scratch`, or an earlier stage's name.
    pub image: Spanned<String>,
    /// The stage name after `AS`, lowercased as Docker does.
    pub name: Option<Spanned<String>>,
    pub platform: Option<Spanned<String>>,
}

/// RUN.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Run {
    pub command: CommandForm,
    pub mounts: Vec<Mount>,
    pub network: Option<Spanned<Network>>,
}

/// `RUN --network=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

/// COPY and ADD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copy {
    /// Sources as written; a heredoc source is its marker word (`<<EOF`).
    pub sources: Vec<Spanned<String>>,
    /// The destination as written (an empty value when it is missing: an error was reported).
    pub dest: Spanned<String>,
    /// Written in JSON form.
    pub json: bool,
    pub from: Option<Spanned<String>>,
    pub chown: Option<Spanned<String>>,
    pub chmod: Option<Spanned<String>>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<Spanned<String>>,
    /// ADD only.
    pub checksum: Option<Spanned<String>>,
    /// ADD only.
    pub keep_git_dir: bool,
    /// ADD only: `--unpack=`.
    pub unpack: Option<bool>,
}

/// HEALTHCHECK.
// One per instruction at most: the size difference between the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd {
        command: CommandForm,
        interval: Option<Spanned<String>>,
        timeout: Option<Spanned<String>>,
        start_period: Option<Spanned<String>>,
        start_interval: Option<Spanned<String>>,
        retries: Option<Spanned<String>>,
    },
}

/// What an instruction says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InstructionKind {
    From(From),
    Run(Run),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    /// SHELL: always JSON form.
    Shell(Vec<Spanned<String>>),
    Label(Vec<KeyValue>),
    Env(Vec<KeyValue>),
    Expose(Vec<Spanned<String>>),
    Add(Copy),
    Copy(Copy),
    Volume(Vec<Spanned<String>>),
    User(Spanned<String>),
    Workdir(Spanned<String>),
    Arg(Vec<ArgDecl>),
    StopSignal(Spanned<String>),
    Maintainer(Spanned<String>),
    Healthcheck(Healthcheck),
    /// ONBUILD and its trigger.
    Onbuild(Box<Instruction>),
    /// An instruction Docker does not know; an error was reported.
    Unknown,
}

impl InstructionKind {
    pub fn name(&self) -> &'static str {
        match self {
            InstructionKind::From(_) => "FROM",
            InstructionKind::Run(_) => "RUN",
            InstructionKind::Cmd(_) => "CMD",
            InstructionKind::Entrypoint(_) => "ENTRYPOINT",
            InstructionKind::Shell(_) => "SHELL",
            InstructionKind::Label(_) => "LABEL",
            InstructionKind::Env(_) => "ENV",
            InstructionKind::Expose(_) => "EXPOSE",
            InstructionKind::Add(_) => "ADD",
            InstructionKind::Copy(_) => "COPY",
            InstructionKind::Volume(_) => "VOLUME",
            InstructionKind::User(_) => "USER",
            InstructionKind::Workdir(_) => "WORKDIR",
            InstructionKind::Arg(_) => "ARG",
            InstructionKind::StopSignal(_) => "STOPSIGNAL",
            InstructionKind::Maintainer(_) => "MAINTAINER",
            InstructionKind::Healthcheck(_) => "HEALTHCHECK",
            InstructionKind::Onbuild(_) => "ONBUILD",
            InstructionKind::Unknown => "UNKNOWN",
        }
    }
}

/// `RUN --mount=type=…,…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// The flag value's span.
    pub span: Span,
    pub kind: MountKind,
    /// `target`, `dst`, `destination`.
    pub target: Option<Spanned<String>>,
    /// `source`, `src`.
    pub source: Option<Spanned<String>>,
    /// A stage or image to mount from.
    pub from: Option<Spanned<String>>,
    /// Cache id (cache mounts) or secret id.
    pub id: Option<Spanned<String>>,
    pub sharing: Option<Sharing>,
    pub readonly: Option<bool>,
    pub mode: Option<Spanned<String>>,
    pub uid: Option<Spanned<String>>,
    pub gid: Option<Spanned<String>>,
    pub size: Option<Spanned<String>>,
    pub required: Option<bool>,
    pub env: Option<Spanned<String>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MountKind {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

/// How concurrent builds share a cache mount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// A heredoc: `<<EOF` on the instruction line, its body on the lines after.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heredoc {
    /// The marker word (`<<-"EOF"`).
    pub span: Span,
    /// The delimiter, quotes removed.
    pub name: String,
    /// `<<-`: leading tabs are stripped from the body lines and the terminator.
    pub chomp: bool,
    /// The delimiter was not quoted: variables in the body are expanded (by the shell for RUN).
    pub expand: bool,
    /// A file descriptor written before `<<` (`3<<EOF`).
    pub fd: Option<u32>,
    /// The body, each line ending in a newline, tabs not yet stripped.
    pub content: String,
    /// Where the body is, from its first line to the end of its last.
    pub body: Span,
    /// Maps offsets into `content` back to the source.
    pub map: SpanMap,
    /// Whether the terminator line was found (an error was reported if not).
    pub terminated: bool,
}

impl Heredoc {
    /// The body as the command sees it: with leading tabs removed from each line for `<<-`.
    pub fn text(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|l| l.trim_start_matches('\t'))
            .collect()
    }
}
