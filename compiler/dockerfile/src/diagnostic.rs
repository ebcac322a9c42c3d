//! The Dockerfile frontend reports with duckc's one diagnostic type ([`duckc_diagnostic`]); the
//! codes it uses are [`Code::DockerfileSyntax`], [`Code::DockerfileEval`],
//! [`Code::DockerfileUnsupported`] and [`Code::Lint`] with BuildKit's name of the check.

pub use duckc_diagnostic::{Code, Diagnostic, Label, Severity, Suggestion, sort};

use crate::span::Span;

/// A syntax error at `span`.
pub(crate) fn syntax(span: Span, message: impl Into<String>, label: &str) -> Diagnostic {
    Diagnostic::error_at(Code::DockerfileSyntax, message, span, label)
}
