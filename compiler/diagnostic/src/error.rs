//! Errors at the edge: what a verb returns (a [`miette::Diagnostic`], or a `miette::Report`)
//! drawn by the same handler as the frontends' diagnostics, so `duckc run` failing and a spec
//! error look alike (only the wrapping differs: an error is wrapped at the terminal's width, or
//! not at all off a terminal; a spec diagnostic at the fixed [`crate::WIDTH`]).
//!
//! The one difference from [`crate::render`]: an error's `source()` chain. Library errors
//! often say their cause in their own message (`cannot access `x`: No such file or
//! directory`) *and* return it from `source()`, so the cause would be printed twice; a cause
//! whose text the lines above already say is left out here, once, for every error type.

use std::fmt;

use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, ReportHandler};
use textwrap::{WordSeparator, WordSplitter};

use crate::render::Style;

/// The width errors are wrapped at on a terminal whose width is not known.
pub const DEFAULT_TERMINAL_WIDTH: usize = 80;

/// The narrowest width errors are wrapped at: a narrower terminal gets lines this long (the
/// handler indents nested causes and related errors, and a width below their indent has no room
/// for a word).
pub const MIN_WIDTH: usize = 40;

/// Renders an error as the frontends' diagnostics are rendered (unicode, code, message, labels,
/// `help:`), with the causes its message does not already say. `width`: `None` does not wrap
/// (one line per line of the message and of the help, as written: what a pipe, a file or a log
/// gets, so a phrase, a path or a flag can be found and copied whole); `Some(w)` wraps at `w`
/// columns (at least [`MIN_WIDTH`]: a terminal's), at spaces only, never inside a word, so a
/// `--flag`, a path or a `name:tag` longer than the room is left whole on a line of its own.
pub fn render_error(error: &dyn Diagnostic, style: Style, width: Option<usize>) -> String {
    let mut out = String::new();
    if handler(style, width)
        .render_report(&mut out, &Deduped::new(error))
        .is_err()
    {
        out = format!("error: {error}\n");
    }
    out
}

/// Installs [`render_error`] as miette's hook, so `{report:?}` of any `miette::Report` renders
/// as the frontends' diagnostics do, wrapped at `width` ([`render_error`]: the terminal's
/// width when stderr is one, `None` otherwise). Call once, first thing in `main`; a second call
/// is a no-op.
pub fn install_hook(style: Style, width: Option<usize>) {
    let _ = miette::set_hook(Box::new(move |_| Box::new(Handler { style, width })));
}

/// The miette hook [`install_hook`] sets.
#[derive(Debug, Clone, Copy)]
pub struct Handler {
    pub style: Style,
    /// Where to wrap: [`render_error`]'s `width`.
    pub width: Option<usize>,
}

impl ReportHandler for Handler {
    fn debug(&self, error: &dyn Diagnostic, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if f.alternate() {
            return fmt::Debug::fmt(error, f);
        }
        f.write_str(&render_error(error, self.style, self.width))
    }
}

/// The one handler set-up: unicode (plain or in colour), no links, wrapped at `width` (`None`:
/// not wrapped) and only at spaces. miette's textwrap would otherwise break at a hyphen
/// (`--tls-` / `verify=false`), after a `/` (Unicode line-break rules: `/etc/containers/` /
/// `registries.conf`) and inside a word longer than the line; a token is never split, a long
/// one overflows its line instead.
pub(crate) fn handler(style: Style, width: Option<usize>) -> GraphicalReportHandler {
    let theme = match style {
        Style::Plain => GraphicalTheme::unicode_nocolor(),
        Style::Color => GraphicalTheme::unicode(),
    };
    let handler = GraphicalReportHandler::new_themed(theme)
        .with_links(false)
        .with_break_words(false)
        .with_word_separator(WordSeparator::AsciiSpace)
        .with_word_splitter(WordSplitter::NoHyphenation);
    match width {
        Some(width) => handler.with_width(width.max(MIN_WIDTH)),
        None => handler.with_wrap_lines(false),
    }
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
