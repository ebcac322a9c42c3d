//! One module per group of verbs. Each exposes a clap `Command` enum that `main` flattens.

pub mod bases;
pub mod build;
pub mod build_cache;
pub mod container;
pub mod convert;
pub mod dockerfile;
pub mod format;
pub mod help;
pub mod host;
pub mod image;
pub mod lsp;
pub mod network;
pub mod packages;
pub mod pull_view;
pub mod registry;
pub mod sbom;
pub mod spec;
pub mod system;
pub mod unshare;

/// `error` as a report with the `help:` only the CLI can word (it knows the verb and the
/// flags), else the error's own; its code and message stay. The message can quote what an
/// image's config holds (a `User` of 10 KB, terminal escapes): control characters other than
/// line breaks become `?`, and it is cut at 4,000 characters.
pub(crate) fn with_help(error: &dyn miette::Diagnostic, help: Option<String>) -> miette::Report {
    let text = error.to_string();
    let mut safe: String = text
        .chars()
        .take(4000)
        .map(|c| if c.is_control() && c != '\n' { '?' } else { c })
        .collect();
    if text.chars().nth(4000).is_some() {
        safe.push('…');
    }
    let mut d = miette::MietteDiagnostic::new(safe);
    if let Some(code) = error.code() {
        d = d.with_code(code.to_string());
    }
    if let Some(help) = help.or_else(|| error.help().map(|h| h.to_string())) {
        d = d.with_help(help);
    }
    miette::Report::new(d)
}
