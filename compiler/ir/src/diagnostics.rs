//! The diagnostics accumulator, and turning what it collected into located diagnostics.
//!
//! Queries after `parse` never see spans, so they report positions as [`Ptr`]s; spans are looked
//! up in the side table ([`crate::source_map`]) only when diagnostics are collected for display.

use duckc_diagnostic::{Code, Diagnostic, Label, Severity, Span, Suggestion};

use crate::inputs::{SpecFile, Workspace};
use crate::items::Ptr;

/// Where a diagnostic points.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Loc {
    /// A byte span, for diagnostics made while parsing.
    Span(Span),
    /// A position in the tree, for diagnostics made after parsing.
    Ptr(Ptr),
}

/// One accumulated diagnostic: a [`Diagnostic`] whose spans may still be tree positions. It
/// becomes one in [`collect`].
#[salsa::accumulator]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub file: SpecFile,
    pub code: Code,
    pub severity: Severity,
    pub message: String,
    pub loc: Loc,
    pub label: String,
    pub help: Option<String>,
    pub related: Vec<(Loc, String)>,
    /// A machine-applicable fix: the text to put where `Loc` is (a span, or a tree position
    /// resolved like the labels' in [`collect`]).
    pub suggestion: Option<(Loc, String)>,
}

impl Diag {
    pub fn error(
        file: SpecFile,
        code: Code,
        message: impl Into<String>,
        loc: Loc,
        label: impl Into<String>,
    ) -> Self {
        Diag {
            file,
            code,
            severity: Severity::Error,
            message: message.into(),
            loc,
            label: label.into(),
            help: None,
            related: Vec::new(),
            suggestion: None,
        }
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// A fix that is certain (the one name a "did you mean" offers): `replacement` in place of
    /// what `loc` spans, quotes included when the span has them.
    pub fn with_suggestion(mut self, loc: Loc, replacement: impl Into<String>) -> Self {
        self.suggestion = Some((loc, replacement.into()));
        self
    }

    pub fn with_related(mut self, loc: Loc, label: impl Into<String>) -> Self {
        self.related.push((loc, label.into()));
        self
    }

    pub fn from_syntax(file: SpecFile, d: Diagnostic) -> Self {
        let mut labels = d.labels.into_iter();
        let primary = labels.next().unwrap_or_else(|| Label {
            span: Span::default(),
            text: String::new(),
        });
        Diag {
            file,
            code: d.code,
            severity: d.severity,
            message: d.message,
            loc: Loc::Span(primary.span),
            label: primary.text,
            help: d.help,
            related: labels.map(|l| (Loc::Span(l.span), l.text)).collect(),
            suggestion: d.suggestion.map(|s| (Loc::Span(s.span), s.replacement)),
        }
    }
}

/// All diagnostics of a file, located and sorted by position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiagnostics {
    pub file: SpecFile,
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs every check of the workspace and returns its diagnostics, grouped by file (the root
/// first, then by path) and sorted by position within each file.
pub fn collect(db: &dyn salsa::Database) -> Vec<FileDiagnostics> {
    let ws = Workspace::get(db);
    crate::check(db);
    let mut diags: Vec<&Diag> = crate::check::accumulated::<Diag>(db);
    diags.dedup();
    let root = ws.root(db);
    let mut by_file: Vec<FileDiagnostics> = Vec::new();
    for d in diags {
        let tree = crate::items::source_map(db, d.file);
        let span = |loc: Loc| match loc {
            Loc::Span(s) => Some(s),
            Loc::Ptr(p) => p.span(tree),
        };
        let Some(primary) = span(d.loc) else { continue };
        let mut diagnostic = Diagnostic::new(d.severity, d.code, d.message.clone())
            .with_label(primary, d.label.clone());
        for (loc, label) in &d.related {
            if let Some(s) = span(*loc) {
                diagnostic = diagnostic.with_label(s, label.clone());
            }
        }
        diagnostic.help = d.help.clone();
        diagnostic.suggestion = d.suggestion.as_ref().and_then(|(loc, replacement)| {
            Some(Suggestion {
                span: span(*loc)?,
                replacement: replacement.clone(),
            })
        });
        match by_file.iter_mut().find(|f| f.file == d.file) {
            Some(f) => f.diagnostics.push(diagnostic),
            None => by_file.push(FileDiagnostics {
                file: d.file,
                diagnostics: vec![diagnostic],
            }),
        }
    }
    for f in &mut by_file {
        f.diagnostics
            .sort_by(|a, b| (a.span(), &a.message).cmp(&(b.span(), &b.message)));
        f.diagnostics.dedup();
    }
    by_file.sort_by_key(|f| (f.file != root, f.file.path(db).clone()));
    by_file
}

/// `value` as a KDL string, for a suggestion that replaces a quoted value whole.
pub(crate) fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
