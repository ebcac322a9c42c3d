//! Every conversion from duckc's diagnostic types to LSP diagnostics and quick fixes, in one
//! place: the KDL frontend's [`duckc_syntax::Diagnostic`] and the Dockerfile frontend's
//! [`duckc_dockerfile::Diagnostic`]. Same codes, severities, messages and help text as `duckc
//! check` prints; a "did you mean `X`?" becomes a quick fix.

use lsp_types::{
    CodeAction, CodeActionKind, Diagnostic, DiagnosticRelatedInformation, DiagnosticSeverity,
    Location, NumberOrString, TextEdit, Uri, WorkspaceEdit,
};
use serde_json::json;

use crate::text::LineIndex;

/// The `source` of every diagnostic the server publishes.
pub const SOURCE: &str = "duckc";

/// The message as the editor shows it: the message, the label (what is wrong with the text
/// under the range) and the `help:` line.
fn message(message: &str, label: &str, help: Option<&str>) -> String {
    let mut out = message.to_owned();
    if !label.is_empty() && label != message {
        out.push_str(&format!(" ({label})"));
    }
    if let Some(help) = help {
        out.push_str(&format!("\nhelp: {help}"));
    }
    out
}

/// The replacement a "did you mean `X`?" in a label or help suggests.
fn suggestion<'a>(texts: impl IntoIterator<Item = &'a str>) -> Option<String> {
    for text in texts {
        if let Some(rest) = text.split("did you mean `").nth(1)
            && let Some((fix, _)) = rest.split_once("`?")
        {
            return Some(fix.to_owned());
        }
    }
    None
}

/// A KDL spec's diagnostic, in `text` (indexed by `index`) of the file at `uri`.
pub fn spec(d: &duckc_syntax::Diagnostic, uri: &Uri, text: &str, index: &LineIndex) -> Diagnostic {
    let related = d
        .related
        .iter()
        .map(|(span, label)| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), index.range(text, span.start, span.end)),
            message: label.clone(),
        })
        .collect::<Vec<_>>();
    let fix = suggestion([d.label.as_str(), d.help.as_deref().unwrap_or_default()]);
    Diagnostic {
        range: index.range(text, d.span.start, d.span.end),
        severity: Some(match d.severity {
            duckc_syntax::Severity::Error => DiagnosticSeverity::ERROR,
            duckc_syntax::Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().to_owned())),
        source: Some(SOURCE.to_owned()),
        message: message(&d.message, &d.label, d.help.as_deref()),
        related_information: (!related.is_empty()).then_some(related),
        data: fix.map(|f| json!({ "replace": f })),
        ..Default::default()
    }
}

/// A Dockerfile's diagnostic (syntax, evaluation, unsupported, lint), in `text`.
pub fn dockerfile(
    d: &duckc_dockerfile::Diagnostic,
    uri: &Uri,
    text: &str,
    index: &LineIndex,
) -> Diagnostic {
    let primary = d.labels.first();
    let range = primary.map_or_else(
        || index.range(text, 0, 0),
        |l| index.range(text, l.span.start, l.span.end),
    );
    let related = d
        .labels
        .iter()
        .skip(1)
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), index.range(text, l.span.start, l.span.end)),
            message: l.text.clone(),
        })
        .collect::<Vec<_>>();
    let label = primary.map_or("", |l| l.text.as_str());
    let fix = suggestion([label, d.help.as_deref().unwrap_or_default()]);
    Diagnostic {
        range,
        severity: Some(match d.severity {
            duckc_dockerfile::Severity::Error => DiagnosticSeverity::ERROR,
            duckc_dockerfile::Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.clone())),
        source: Some(SOURCE.to_owned()),
        message: message(&d.message, label, d.help.as_deref()),
        related_information: (!related.is_empty()).then_some(related),
        data: fix.map(|f| json!({ "replace": f })),
        ..Default::default()
    }
}

/// The quick fix a published diagnostic carries (see `data` above), for `codeAction`. A fix of
/// a flag (`--frm` → `--from`) keeps the flag's value: the replaced text is the word at the
/// start of the range.
pub fn quick_fix(d: &Diagnostic, uri: &Uri, text: &str, index: &LineIndex) -> Option<CodeAction> {
    let replace = d.data.as_ref()?.get("replace")?.as_str()?;
    let start = index.offset(text, d.range.start);
    let end = index.offset(text, d.range.end).max(start);
    let under = &text[start..end];
    let mut range = d.range;
    let quoted = under.starts_with('"') && under.ends_with('"') && under.len() >= 2;
    let new_text = if quoted {
        format!("{replace:?}")
    } else if replace.starts_with("--") && under.starts_with("--") {
        // Only the flag's name: up to `=` or a space.
        let name_len = under.find(['=', ' ']).unwrap_or(under.len());
        range.end = index.position(text, start + name_len);
        replace.to_owned()
    } else {
        replace.to_owned()
    };
    // `Uri` caches its parse in a cell, which does not change its hash or equality.
    #[allow(clippy::mutable_key_type)]
    let mut changes = std::collections::HashMap::new();
    changes.insert(uri.clone(), vec![TextEdit::new(range, new_text)]);
    Some(CodeAction {
        title: format!("Replace with `{replace}`"),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        edit: Some(WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }),
        is_preferred: Some(true),
        ..Default::default()
    })
}

/// A spec that could not be loaded at all (its build context unreadable, …): one error at the
/// top of the file, with the driver's message and help.
pub fn load_error(e: &duckc_driver::Error) -> Diagnostic {
    use miette::Diagnostic as _;
    let help = e.help().map(|h| h.to_string());
    Diagnostic {
        range: lsp_types::Range::default(),
        severity: Some(DiagnosticSeverity::ERROR),
        code: e.code().map(|c| NumberOrString::String(c.to_string())),
        source: Some(SOURCE.to_owned()),
        message: message(&e.to_string(), "", help.as_deref()),
        ..Default::default()
    }
}
