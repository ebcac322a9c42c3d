//! Every conversion from duckc's diagnostic type ([`duckc_diagnostic::Diagnostic`], the one
//! type the KDL frontend, the Dockerfile frontend and lowering all report with) to LSP
//! diagnostics and quick fixes, in one place. Same codes, severities, messages and help text
//! as `duckc check` prints; a diagnostic's machine-applicable suggestion (or, failing that, a
//! "did you mean `X`?") becomes a quick fix.

use duckc_diagnostic::Severity;
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

/// A diagnostic of the file at `uri` (a spec or a Dockerfile), in `text` (indexed by `index`).
/// A diagnostic about the file as a whole sits at its start.
pub fn diagnostic(
    d: &duckc_diagnostic::Diagnostic,
    uri: &Uri,
    text: &str,
    index: &LineIndex,
) -> Diagnostic {
    let range = d.span().map_or_else(
        || index.range(text, 0, 0),
        |s| index.range(text, s.start, s.end),
    );
    let related = d
        .related()
        .iter()
        .map(|l| DiagnosticRelatedInformation {
            location: Location::new(uri.clone(), index.range(text, l.span.start, l.span.end)),
            message: l.text.clone(),
        })
        .collect::<Vec<_>>();
    let label = d.label().unwrap_or_default();
    let data = match d.suggestion() {
        Some(s) => {
            let r = index.range(text, s.span.start, s.span.end);
            Some(json!({ "replace": s.replacement, "range": r }))
        }
        None => suggestion([label, d.help.as_deref().unwrap_or_default()])
            .map(|f| json!({ "replace": f })),
    };
    Diagnostic {
        range,
        severity: Some(match d.severity {
            Severity::Error => DiagnosticSeverity::ERROR,
            Severity::Warning => DiagnosticSeverity::WARNING,
        }),
        code: Some(NumberOrString::String(d.code.as_str().into_owned())),
        source: Some(SOURCE.to_owned()),
        message: message(&d.message, label, d.help.as_deref()),
        related_information: (!related.is_empty()).then_some(related),
        data,
        ..Default::default()
    }
}

/// The quick fix a published diagnostic carries (see `data` above), for `codeAction`. A fix of
/// a flag (`--frm` → `--from`) keeps the flag's value: the replaced text is the word at the
/// start of the range.
pub fn quick_fix(d: &Diagnostic, uri: &Uri, text: &str, index: &LineIndex) -> Option<CodeAction> {
    let data = d.data.as_ref()?;
    let replace = data.get("replace")?.as_str()?;
    if let Some(range) = data
        .get("range")
        .and_then(|r| serde_json::from_value::<lsp_types::Range>(r.clone()).ok())
    {
        return Some(action(d, uri, range, replace.to_owned(), replace));
    }
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
    Some(action(d, uri, range, new_text, replace))
}

/// The quick fix that puts `new_text` over `range`.
fn action(
    d: &Diagnostic,
    uri: &Uri,
    range: lsp_types::Range,
    new_text: String,
    replace: &str,
) -> CodeAction {
    // `Uri` caches its parse in a cell, which does not change its hash or equality.
    #[allow(clippy::mutable_key_type)]
    let mut changes = std::collections::HashMap::new();
    changes.insert(uri.clone(), vec![TextEdit::new(range, new_text)]);
    CodeAction {
        title: format!("Replace with `{replace}`"),
        kind: Some(CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![d.clone()]),
        edit: Some(WorkspaceEdit {
            changes: Some(changes),
            ..Default::default()
        }),
        is_preferred: Some(true),
        ..Default::default()
    }
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
