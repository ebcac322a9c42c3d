//! The spec's syntax tree: what each node of an `env.kdl` says, with the byte span of every part.
//!
//! The tree only holds nodes that were understood; whatever was wrong with the rest is in the
//! diagnostics returned next to it. Values are already checked for their form (a port is a port,
//! a mode is octal), but not resolved: a `from` is still a string here.

use crate::Span;

/// A value and where it was written.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

impl<T: std::fmt::Debug> std::fmt::Debug for Spanned<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} @ {:?}", self.value, self.span)
    }
}

impl<T> Spanned<T> {
    pub fn new(value: T, span: Span) -> Self {
        Spanned { value, span }
    }
}

/// One parsed spec file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SourceFile {
    /// The top-level nodes that were understood, in source order.
    pub items: Vec<Item>,
    /// True when the text was not valid KDL (or nested too deep). Then `items` is empty, and later
    /// passes must not report anything "missing": the syntax error says it all.
    pub broken: bool,
}

/// A top-level node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Item {
    Import(Import),
    Env(EnvDef),
}

/// `import "std/NAME"` or `import "./other.kdl"`: makes the module's envs nameable in `from`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Import {
    pub path: Spanned<String>,
    /// The whole node.
    pub span: Span,
}

/// `env "NAME" { … }`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvDef {
    pub name: Spanned<String>,
    /// The whole node, children included.
    pub span: Span,
    /// The steps that were understood, in source order.
    pub steps: Vec<Step>,
}

/// One node inside an env.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Step {
    pub kind: StepKind,
    /// The whole node.
    pub span: Span,
    /// The node name (`copy`, `run`, …).
    pub keyword: Span,
    /// The span of every argument in order, then of every property value in order. Later passes
    /// point into a step by index into this list (see [`StepKind`] for the order of each kind).
    pub values: Vec<Span>,
}

/// What a step says. The comment on each variant gives the order of its entries in
/// [`Step::values`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `from "base"`: one argument.
    From(Spanned<String>),
    /// `platform "linux/amd64" …`: the arguments.
    Platform(Vec<Spanned<String>>),
    /// `packages "python3" …`: the arguments, and whether `apt-sources=#true` asks for the
    /// repository's apt sources and keyring in the image.
    Packages(Vec<Spanned<String>>, bool),
    /// `copy "src/" "/app/" chown="1000:1000" chmod="0755"`: sources, destination, then the
    /// properties in source order.
    Copy(Copy),
    /// `run "make"` or `run "make" "-j4"` and `network=`: arguments, then the property.
    Run(Run),
    /// `env KEY="value" …`: the property values.
    Env(Vec<(Spanned<String>, Spanned<String>)>),
    /// `workdir "/app"`.
    Workdir(Spanned<String>),
    /// `user "1000:1000"`.
    User(Spanned<String>),
    /// `entrypoint "python3" "main.py"`: always exec form.
    Entrypoint(Vec<Spanned<String>>),
    /// `cmd "--help"`: always exec form.
    Cmd(Vec<Spanned<String>>),
    /// `label "KEY" "value"`.
    Label(Spanned<String>, Spanned<String>),
    /// `expose 8080 "53/udp"`.
    Expose(Vec<Spanned<Port>>),
    /// `tag "your/duck:v3"`.
    Tag(Vec<Spanned<String>>),
}

impl StepKind {
    /// The node name that introduces this kind of step.
    pub fn keyword(&self) -> &'static str {
        match self {
            StepKind::From(_) => "from",
            StepKind::Platform(_) => "platform",
            StepKind::Packages(..) => "packages",
            StepKind::Copy(_) => "copy",
            StepKind::Run(_) => "run",
            StepKind::Env(_) => "env",
            StepKind::Workdir(_) => "workdir",
            StepKind::User(_) => "user",
            StepKind::Entrypoint(_) => "entrypoint",
            StepKind::Cmd(_) => "cmd",
            StepKind::Label(..) => "label",
            StepKind::Expose(_) => "expose",
            StepKind::Tag(_) => "tag",
        }
    }
}

/// A `copy` step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Copy {
    /// Paths relative to the build context; a directory copies its contents.
    pub sources: Vec<Spanned<String>>,
    /// Where they go in the image; relative paths are relative to the current `workdir`.
    pub destination: Spanned<String>,
    /// `chown="USER[:GROUP]"`.
    pub chown: Option<Spanned<String>>,
    /// `chmod="0755"`, already parsed from octal.
    pub chmod: Option<Spanned<u32>>,
    /// `from="ENV"`: the sources are paths in that env's filesystem, not in the build context.
    pub from: Option<Spanned<String>>,
}

/// A `run` step.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Run {
    pub command: Command,
    pub network: Option<Spanned<Network>>,
}

/// How a `run` command is given.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Command {
    /// One string, run by `/bin/sh -c`.
    Shell(Spanned<String>),
    /// Several strings: the argv, run without a shell.
    Exec(Vec<Spanned<String>>),
}

/// The network a `run` step sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Network {
    /// A fresh network namespace with only loopback (the default): builds stay reproducible.
    None,
    /// The host's network.
    Host,
    /// duckc's default NAT bridge (what a Dockerfile `RUN` gets unless it says otherwise, as
    /// in BuildKit): other hosts through NAT, never the host's loopback.
    Bridge,
}

impl Network {
    pub fn as_str(self) -> &'static str {
        match self {
            Network::None => "none",
            Network::Host => "host",
            Network::Bridge => "bridge",
        }
    }

    /// Whether the step reaches other machines: its layer depends on what they answered.
    pub fn reaches_out(self) -> bool {
        self != Network::None
    }
}

/// A port to expose, as in `8080/tcp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Port {
    pub number: u16,
    pub protocol: Protocol,
}

/// The protocol of an exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let proto = match self.protocol {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        };
        write!(f, "{}/{}", self.number, proto)
    }
}
