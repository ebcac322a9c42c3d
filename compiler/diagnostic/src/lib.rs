//! duckc's one diagnostic model and its one renderer.
//!
//! Every frontend reports what is wrong with its input as a [`Diagnostic`]: the KDL spec
//! frontend (syntax, resolution, lowering), the Dockerfile frontend (syntax, evaluation, what
//! duckc does not honour, BuildKit's lints) and the Dockerfile lowering. A diagnostic points into
//! one source text by byte [`Span`]s; whoever holds the text renders it with [`render`] (one
//! look for all of them) or maps it to another protocol (a language server: [`Diagnostic::span`]
//! is the range, [`Diagnostic::related`] the related information, [`Diagnostic::suggestion`] a
//! quick fix). Errors that end a command (a verb's `miette::Report`, a library's typed
//! error) are drawn by the same handler: [`render_error`], or [`install_hook`] for every
//! `miette::Report`.
//!
//! This crate depends on miette alone (and textwrap, which miette wraps with, for the types that
//! keep words whole), so that the frontends, which sit on top of it, stay
//! small and fuzzable.

mod code;
mod error;
mod render;
mod span;

use std::fmt;

pub use code::Code;
pub use error::{
    DEFAULT_TERMINAL_WIDTH, Handler, MIN_WIDTH, install_hook, printable, render_error,
};
pub use render::{Report, Style, WIDTH, render};
pub use span::Span;

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    /// The input cannot be built as written.
    Error,
    /// The input builds, but probably not as meant (lints, what duckc does not honour).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// A labelled span of a diagnostic.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Label {
    pub span: Span,
    /// What is wrong with (or special about) the text under `span`; may be empty.
    pub text: String,
}

/// A machine-applicable fix: replace the text under `span` with `replacement`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Suggestion {
    pub span: Span,
    pub replacement: String,
}

/// One problem in one source text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Diagnostic {
    /// Stable: documentation, tests and `# check=skip=` refer to it.
    pub code: Code,
    pub severity: Severity,
    /// Lowercase, no final period, names in backticks.
    pub message: String,
    /// The primary label first (the exact text at fault), then related ones (the rest of a
    /// cycle, the first definition). Empty for a diagnostic about the file as a whole.
    pub labels: Vec<Label>,
    /// Valid input, or what to do next.
    pub help: Option<String>,
    /// A fix a tool may apply without asking (an editor's quick fix).
    pub suggestion: Option<Suggestion>,
}

impl Diagnostic {
    /// A diagnostic with no label, help or suggestion yet.
    pub fn new(severity: Severity, code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            code,
            severity,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            suggestion: None,
        }
    }

    /// An error with no label yet.
    pub fn error(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message)
    }

    /// A warning with no label yet.
    pub fn warning(code: Code, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message)
    }

    /// An error at `span`, whose label says what is wrong there.
    pub fn error_at(
        code: Code,
        message: impl Into<String>,
        span: Span,
        label: impl Into<String>,
    ) -> Diagnostic {
        Diagnostic::error(code, message).with_label(span, label)
    }

    /// Adds a label: the first one added is the primary one.
    pub fn with_label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    /// Adds a machine-applicable fix (say so in the help too: the renderer shows only that).
    pub fn with_suggestion(mut self, span: Span, replacement: impl Into<String>) -> Diagnostic {
        self.suggestion = Some(Suggestion {
            span,
            replacement: replacement.into(),
        });
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span, unless the diagnostic is about the file as a whole.
    pub fn span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// The primary label's text.
    pub fn label(&self) -> Option<&str> {
        self.labels.first().map(|l| l.text.as_str())
    }

    /// The labels after the primary one.
    pub fn related(&self) -> &[Label] {
        self.labels.get(1..).unwrap_or_default()
    }

    pub fn suggestion(&self) -> Option<&Suggestion> {
        self.suggestion.as_ref()
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

/// Sorts diagnostics by their primary span (those about the whole file first), keeping the order
/// of equal ones.
pub fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.span());
}

#[cfg(test)]
mod tests;
