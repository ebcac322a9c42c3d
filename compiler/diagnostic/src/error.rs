//! Errors at the edge: what a verb returns (a [`miette::Diagnostic`], or a `miette::Report`)
//! drawn by the same handler as the frontends' diagnostics, so `duckc run` failing and a spec
//! error look alike (only the width differs: [`ERROR_WIDTH`]).
//!
//! The one difference from [`crate::render`]: an error's `source()` chain. Library errors
//! often say their cause in their own message (`cannot access `x`: No such file or
//! directory`) *and* return it from `source()`, so the cause would be printed twice; a cause
//! whose text the lines above already say is left out here, once, for every error type.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, ReportHandler};

use crate::render::Style;

/// The width errors are wrapped at: 80, where main's errors always wrapped off a terminal
/// (miette's default), not the frontends' [`crate::WIDTH`]. Tests and scripts match phrases of
/// error text, and a phrase that fits a line at one width can straddle two at another (`under
/// /dev` did at 100); an error has no source excerpt that would need the room.
pub const ERROR_WIDTH: usize = 80;

/// Renders an error as the frontends' diagnostics are rendered (unicode, code, message, labels,
/// `help:`), wrapped at [`ERROR_WIDTH`], with the causes its message does not already say.
pub fn render_error(error: &dyn Diagnostic, style: Style) -> String {
    let mut out = String::new();
    if handler(style, ERROR_WIDTH)
        .render_report(&mut out, &Deduped::new(error))
        .is_err()
    {
        out = format!("error: {error}\n");
    }
    out
}

/// Installs [`render_error`] as miette's hook, so `{report:?}` of any `miette::Report` renders
/// as the frontends' diagnostics do. Call once, first thing in `main`; a second call is a no-op.
pub fn install_hook(style: Style) {
    let _ = miette::set_hook(Box::new(move |_| Box::new(Handler { style })));
}

/// The miette hook [`install_hook`] sets.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub style: Style,
}

impl ReportHandler for Handler {
    fn debug(&self, error: &dyn Diagnostic, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return fmt::Debug::fmt(error, f);
        }
        f.write_str(&render_error(error, self.style))
    }
}

/// The one handler set-up: unicode (plain or in colour), no links, a fixed width.
pub(crate) fn handler(style: Style, width: usize) -> GraphicalReportHandler {
    let theme = match style {
        Style::Plain => GraphicalTheme::unicode_nocolor(),
        Style::Color => GraphicalTheme::unicode(),
    };
    GraphicalReportHandler::new_themed(theme)
        .with_width(width)
        .with_links(false)
}

/// An error whose cause chain leaves out what its messages already say.
struct Deduped<'a> {
    inner: &'a dyn Diagnostic,
    causes: Option<Box<Cause>>,
}

/// One cause of the chain, as text.
#[derive(Debug)]
struct Cause {
    text: String,
    next: Option<Box<Cause>>,
}

impl<'a> Deduped<'a> {
    fn new(inner: &'a dyn Diagnostic) -> Deduped<'a> {
        let mut said = printable(&inner.to_string());
        let mut texts = Vec::new();
        let mut next = inner
            .diagnostic_source()
            .map(|d| d as &dyn std::error::Error)
            .or_else(|| inner.source());
        while let Some(cause) = next {
            let text = printable(&cause.to_string());
            if !text.is_empty() && !said.contains(&text) {
                said.push('\n');
                said.push_str(&text);
                texts.push(text);
            }
            next = cause.source();
        }
        let causes = texts
            .into_iter()
            .rev()
            .fold(None, |next, text| Some(Box::new(Cause { text, next })));
        Deduped { inner, causes }
    }
}

impl fmt::Debug for Deduped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.inner, f)
    }
}

impl fmt::Display for Deduped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&self.inner.to_string()))
    }
}

/// `text` safe to write to a terminal: an error can quote what came from outside (a tar
/// entry's name, an image's config, a registry's message), and a terminal escape in it could
/// retitle the window, clear the screen or worse. Control characters other than line breaks
/// and tabs become `?`; the theme's own colours are added after, around the text.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// [`printable`] as a `Display`, for a help line.
struct Printable<'a>(Box<dyn fmt::Display + 'a>);

impl fmt::Display for Printable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&printable(&self.0.to_string()))
    }
}

impl std::error::Error for Deduped<'_> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.causes
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl Diagnostic for Deduped<'_> {
    fn code<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.code()
    }
    fn severity(&self) -> Option<miette::Severity> {
        self.inner.severity()
    }
    fn help<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner
            .help()
            .map(|h| Box::new(Printable(h)) as Box<dyn fmt::Display + 'b>)
    }
    fn url<'b>(&'b self) -> Option<Box<dyn fmt::Display + 'b>> {
        self.inner.url()
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        self.inner.source_code()
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        self.inner.labels()
    }
    fn related<'b>(&'b self) -> Option<Box<dyn Iterator<Item = &'b dyn Diagnostic> + 'b>> {
        self.inner.related()
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.next
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}
