//! Rendering diagnostics as text with miette's graphical handler: file name, line:column, the
//! source lines, a label under the exact span, and the `help:` line.

use std::fmt;
use std::sync::Arc;

use miette::{GraphicalReportHandler, GraphicalTheme, LabeledSpan, NamedSource};

use crate::diagnostic::{Diagnostic, Severity};

/// The width reports are wrapped at, fixed so output is the same on every terminal.
pub const WIDTH: usize = 100;

/// A diagnostic together with the source it points into, ready for miette.
#[derive(Debug)]
pub struct Report {
    pub diagnostic: Diagnostic,
    pub source: Arc<NamedSource<String>>,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.diagnostic.message)
    }
}

impl std::error::Error for Report {}

impl miette::Diagnostic for Report {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.diagnostic.code.as_str()))
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
        let d = &self.diagnostic;
        let primary = LabeledSpan::new_primary_with_span(Some(d.label.clone()), d.span);
        let related = d
            .related
            .iter()
            .map(|(span, label)| LabeledSpan::new_with_span(Some(label.clone()), *span));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Whether to color the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Style {
    /// Unicode box drawing, no escape codes: what tests snapshot and pipes get.
    #[default]
    Plain,
    /// Unicode with ANSI colors, for terminals.
    Color,
}

/// Renders diagnostics of one source text, in the order given, separated by blank lines.
pub fn render(diagnostics: &[Diagnostic], name: &str, text: &str, style: Style) -> String {
    let source = Arc::new(NamedSource::new(name, text.to_owned()));
    let theme = match style {
        Style::Plain => GraphicalTheme::unicode_nocolor(),
        Style::Color => GraphicalTheme::unicode(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_width(WIDTH)
        .with_links(false);
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
            out.push_str(&format!("error: {}\n", d.message));
        }
    }
    out
}
