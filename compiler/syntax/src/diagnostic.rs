//! Diagnostics: what went wrong in a spec, where (byte spans), and what valid input looks like.

use std::fmt;

/// A byte range in a source text, `start..end`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

impl From<miette::SourceSpan> for Span {
    fn from(s: miette::SourceSpan) -> Self {
        Span::new(s.offset(), s.offset() + s.len())
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        (s.start, s.len()).into()
    }
}

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// The kind of a diagnostic. Its [`Code::as_str`] is shown in the report header and is stable:
/// documentation and tests refer to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    /// The text is not valid KDL 2.0.
    KdlSyntax,
    /// Braces or block comments nested deeper than [`crate::MAX_NESTING`].
    NestingTooDeep,
    /// A node name that is not part of the spec language at this place.
    UnknownNode,
    /// Too few or too many arguments.
    ArgumentCount,
    /// An argument or property value of the wrong type or form.
    InvalidValue,
    /// A property the node does not take.
    UnknownProperty,
    /// A node that takes no children block has one.
    UnexpectedChildren,
    /// An env without `from`, or with two.
    MissingFrom,
    /// A node that may appear once appears twice.
    DuplicateNode,
    /// A `from` that names no env, stdlib module or image form.
    UnknownFrom,
    /// Envs whose `from`s form a cycle.
    FromCycle,
    /// Two envs with one name.
    DuplicateEnv,
    /// An `import` of a module that does not exist.
    UnknownImport,
    /// A `copy` source that is not in the build context.
    MissingCopySource,
    /// A name that two imports both provide.
    AmbiguousName,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::KdlSyntax => "duckc::kdl_syntax",
            Code::NestingTooDeep => "duckc::nesting_too_deep",
            Code::UnknownNode => "duckc::unknown_node",
            Code::ArgumentCount => "duckc::argument_count",
            Code::InvalidValue => "duckc::invalid_value",
            Code::UnknownProperty => "duckc::unknown_property",
            Code::UnexpectedChildren => "duckc::unexpected_children",
            Code::MissingFrom => "duckc::missing_from",
            Code::DuplicateNode => "duckc::duplicate_node",
            Code::UnknownFrom => "duckc::unknown_from",
            Code::FromCycle => "duckc::from_cycle",
            Code::DuplicateEnv => "duckc::duplicate_env",
            Code::UnknownImport => "duckc::unknown_import",
            Code::MissingCopySource => "duckc::missing_copy_source",
            Code::AmbiguousName => "duckc::ambiguous_name",
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One mistake in a spec, located by byte spans in one source text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// Lowercase, no final period, names in backticks.
    pub message: String,
    /// The exact text at fault.
    pub span: Span,
    /// What is wrong with the text under `span`.
    pub label: String,
    /// Valid input, or what to do next.
    pub help: Option<String>,
    /// More labelled spans in the same text (the rest of a cycle, the first definition).
    pub related: Vec<(Span, String)>,
}

impl Diagnostic {
    /// An error with a label and no help yet.
    pub fn error(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            message: message.into(),
            span,
            label: label.into(),
            help: None,
            related: Vec::new(),
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }
}
