//! The one renderer: miette's graphical report (code, message, file name and line:column, the
//! source lines, a label under each span, the `help:` line), the same for every frontend.

use std::fmt;
use std::sync::Arc;

use miette::{LabeledSpan, NamedSource};

use crate::{Diagnostic, Severity};

/// The width reports are wrapped at, fixed so output is the same on every terminal and in
/// every pipe (a report carries source excerpts, laid out for this width). Like errors, they
/// wrap at spaces only, never inside a word, a flag or a path.
pub const WIDTH: usize = 100;

/// Whether to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Unicode box drawing, no escape codes: what tests snapshot and pipes get.
    #[default]
    Plain,
    /// Unicode with ANSI colours, for terminals.
    Color,
}

/// A diagnostic together with the source it points into: a [`miette::Diagnostic`], so it can
/// also travel as an error.
#[derive(Debug)]
pub struct Report {
    pub diagnostic: Diagnostic,
    pub source: Arc<NamedSource<String>>,
}

impl Report {
    pub fn new(diagnostic: Diagnostic, name: &str, text: &str) -> Report {
        Report {
            diagnostic,
            source: Arc::new(NamedSource::new(name, text.to_owned())),
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.diagnostic.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.diagnostic.severity {
            Severity::Error => miette::Severity::Error,
            Severity::Warning => miette::Severity::Warning,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.diagnostic
            .help
            .as_ref()
            .map(|h| Box::new(h) as Box<dyn fmt::Display>)
    }

    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&*self.source)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let labels = self.diagnostic.labels.iter().enumerate().map(|(i, l)| {
            let text = (!l.text.is_empty()).then(|| l.text.clone());
            if i == 0 {
                LabeledSpan::new_primary_with_span(text, l.span)
            } else {
                LabeledSpan::new_with_span(text, l.span)
            }
        });
        Some(Box::new(labels))
    }
}

/// Renders diagnostics of one source text (`text`, shown as `name`), in the order given,
/// separated by blank lines.
pub fn render(diagnostics: &[Diagnostic], name: &str, text: &str, style: Style) -> String {
    let source = Arc::new(NamedSource::new(name, text.to_owned()));
    let handler = crate::error::handler(style, Some(WIDTH));
    let mut out = String::new();
    for (i, d) in diagnostics.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let report = Report {
            diagnostic: d.clone(),
            source: source.clone(),
        };
        if handler.render_report(&mut out, &report).is_err() {
            out.push_str(&format!("{}: {}\n", d.severity, d.message));
        }
    }
    out
}
