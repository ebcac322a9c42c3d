//! Diagnostics of the Dockerfile frontend: plain data here, turned into miette reports at the edge.

use std::fmt;

use crate::span::Span;

/// How bad a diagnostic is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Warning,
    Error,
}

/// A labelled span of a diagnostic; the first label of a diagnostic is its primary one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub text: String,
}

/// One problem found in a Dockerfile: a syntax error, an evaluation error, something duckc cannot
/// honour, or a lint.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable code: `dockerfile::syntax`, `dockerfile::eval`, `dockerfile::unsupported`, or
    /// `dockerfile::lint::<Rule>` for lints.
    pub code: String,
    /// The lint rule, for lints (switchable with `# check=skip=<rule>`).
    pub rule: Option<&'static str>,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
}

impl Diagnostic {
    pub(crate) fn new(severity: Severity, code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity,
            code: code.to_string(),
            rule: None,
            message: message.into(),
            labels: Vec::new(),
            help: None,
        }
    }

    pub(crate) fn error(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Error, code, message)
    }

    pub(crate) fn warning(code: &str, message: impl Into<String>) -> Diagnostic {
        Diagnostic::new(Severity::Warning, code, message)
    }

    /// A syntax error at `span`.
    pub(crate) fn syntax(span: Span, message: impl Into<String>, label: &str) -> Diagnostic {
        Diagnostic::error(codes::SYNTAX, message).with_label(span, label)
    }

    pub(crate) fn with_label(mut self, span: Span, text: impl Into<String>) -> Diagnostic {
        self.labels.push(Label {
            span,
            text: text.into(),
        });
        self
    }

    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Diagnostic {
        self.help = Some(help.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The primary span, if the diagnostic points into the file.
    pub fn span(&self) -> Option<Span> {
        self.labels.first().map(|l| l.span)
    }

    /// A miette report of this diagnostic over `source` (named `name`), ready to render.
    pub fn to_report(&self, name: &str, source: &str) -> miette::Report {
        let mut diag = miette::MietteDiagnostic::new(self.message.clone())
            .with_code(self.code.clone())
            .with_severity(match self.severity {
                Severity::Warning => miette::Severity::Warning,
                Severity::Error => miette::Severity::Error,
            });
        for label in &self.labels {
            diag = diag.and_label(miette::LabeledSpan::new_with_span(
                Some(label.text.clone()),
                label.span,
            ));
        }
        if let Some(help) = &self.help {
            diag = diag.with_help(help.clone());
        }
        miette::Report::new(diag)
            .with_source_code(miette::NamedSource::new(name, source.to_string()))
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// The diagnostic codes that are not lints.
pub mod codes {
    /// The text is not a valid Dockerfile.
    pub const SYNTAX: &str = "dockerfile::syntax";
    /// Evaluating the stages failed: a bad substitution, an unknown stage, a missing argument.
    pub const EVAL: &str = "dockerfile::eval";
    /// Valid Dockerfile that duckc does not honour (fully).
    pub const UNSUPPORTED: &str = "dockerfile::unsupported";
}

/// Sort diagnostics by position (those without a span first), keeping the order of equal ones.
pub(crate) fn sort(diagnostics: &mut [Diagnostic]) {
    diagnostics.sort_by_key(|d| d.span().map(|s| (s.start, s.end)));
}
