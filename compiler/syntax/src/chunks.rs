//! Parsing a spec top-level node by top-level node, so that a caller that remembers the parse of
//! each node's text (the language server's database) parses again only the node an edit
//! touched, not the whole file.
//!
//! [`split`] cuts the text after the line where a top-level node ends. Each piece is a KDL
//! document of its own, parsed by [`crate::parse`]; [`parse_by_node`] shifts the pieces' spans
//! by their offsets and joins them. The result is what [`crate::parse`] gives for the whole text:
//! a KDL document is a sequence of nodes, each ending at a newline (or `;`), so the nodes of
//! the pieces are the nodes of the whole. Where that could fail to hold the splitter gives up
//! and the whole text is parsed: a `\` line continuation, a `/-` slashdash (it comments out
//! what follows, maybe across a line), a block comment, a raw or multi-line string, a string
//! that crosses a line, a newline other than `\n` (or `\r\n`), a byte order mark, a `}` too
//! many. So does a piece that is not valid KDL, so syntax errors are reported exactly as for
//! the whole text.

use std::ops::Range;

use crate::ast::*;
use crate::{Diagnostic, Parse, Span};

/// Byte ranges that cover `text`, each ending after the newline of a line where a top-level node
/// ends (the last at the end of the text). `None` when the text uses something after which the
/// splitter cannot tell where nodes end (see the module's documentation).
pub fn split(text: &str) -> Option<Vec<Range<usize>>> {
    let bytes = text.as_bytes();
    if has_odd_newline(bytes) {
        return None;
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut depth = 0usize;
    let mut content = false;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\n' => {
                if depth == 0 && content {
                    out.push(start..i + 1);
                    start = i + 1;
                    content = false;
                }
            }
            b' ' | b'\t' | b'\r' => {}
            b'\\' => return None,
            // `#` starts raw strings (which may hold anything) and keywords (`#true`).
            b'#' if matches!(bytes.get(i + 1), Some(b'"' | b'#')) => return None,
            // A line comment runs to the newline, seen next; `/-` and `/*` give up.
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i + 1 < bytes.len() && bytes[i + 1] != b'\n' {
                    i += 1;
                }
            }
            b'/' => return None,
            b'"' => {
                if bytes.get(i + 1) == Some(&b'"') && bytes.get(i + 2) == Some(&b'"') {
                    return None;
                }
                content = true;
                i += 1;
                loop {
                    match bytes.get(i)? {
                        b'"' => break,
                        b'\\' => i += 2,
                        b'\n' => return None,
                        _ => i += 1,
                    }
                }
            }
            b'{' => {
                depth += 1;
                content = true;
            }
            b'}' => {
                depth = depth.checked_sub(1)?;
                content = true;
            }
            _ => content = true,
        }
        i += 1;
    }
    if start < bytes.len() || out.is_empty() {
        out.push(start..bytes.len());
    }
    Some(out)
}

/// Whether `bytes` holds a newline KDL knows other than `\n` and `\r\n` (a lone CR, VT, FF,
/// NEL, LS, PS) or a byte order mark, anywhere (a comment ends at them).
fn has_odd_newline(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, &b)| match b {
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        0x0b | 0x0c => true,
        0xc2 => bytes.get(i + 1) == Some(&0x85),
        0xe2 => bytes.get(i + 1) == Some(&0x80) && matches!(bytes.get(i + 2), Some(0xa8 | 0xa9)),
        0xef => bytes.get(i + 1) == Some(&0xbb) && bytes.get(i + 2) == Some(&0xbf),
        _ => false,
    })
}

/// What [`crate::parse`] gives for `text`, from the parses of its top-level nodes' texts:
/// `piece` parses one (a caller may remember them; [`crate::parse`] does for one call).
pub fn parse_by_node<'a>(text: &str, mut piece: impl FnMut(&str) -> &'a Parse) -> Parse {
    if crate::depth::check_nesting(text).is_some() {
        return crate::parse(text);
    }
    let Some(ranges) = split(text) else {
        return crate::parse(text);
    };
    let mut items = Vec::new();
    let mut diagnostics = Vec::new();
    for range in ranges {
        let parsed = piece(&text[range.clone()]);
        if parsed.file.broken {
            return crate::parse(text);
        }
        let by = range.start;
        items.extend(parsed.file.items.iter().map(|i| shift_item(i, by)));
        diagnostics.extend(parsed.diagnostics.iter().map(|d| shift_diagnostic(d, by)));
    }
    diagnostics.sort_by_key(|d| d.span());
    Parse {
        file: SourceFile {
            items,
            broken: false,
        },
        diagnostics,
    }
}

fn sh(span: Span, by: usize) -> Span {
    Span {
        start: span.start + by,
        end: span.end + by,
    }
}

fn shs<T: Clone>(s: &Spanned<T>, by: usize) -> Spanned<T> {
    Spanned::new(s.value.clone(), sh(s.span, by))
}

fn shv<T: Clone>(v: &[Spanned<T>], by: usize) -> Vec<Spanned<T>> {
    v.iter().map(|s| shs(s, by)).collect()
}

fn shift_diagnostic(d: &Diagnostic, by: usize) -> Diagnostic {
    let mut d = d.clone();
    for label in &mut d.labels {
        label.span = sh(label.span, by);
    }
    if let Some(s) = &mut d.suggestion {
        s.span = sh(s.span, by);
    }
    d
}

fn shift_item(item: &Item, by: usize) -> Item {
    match item {
        Item::Import(i) => Item::Import(Import {
            path: shs(&i.path, by),
            span: sh(i.span, by),
        }),
        Item::Env(e) => Item::Env(EnvDef {
            name: shs(&e.name, by),
            span: sh(e.span, by),
            steps: e.steps.iter().map(|s| shift_step(s, by)).collect(),
        }),
    }
}

fn shift_step(step: &Step, by: usize) -> Step {
    let kind = match &step.kind {
        StepKind::From(s) => StepKind::From(shs(s, by)),
        StepKind::Platform(v) => StepKind::Platform(shv(v, by)),
        StepKind::Packages(v, sources) => StepKind::Packages(shv(v, by), *sources),
        StepKind::Copy(c) => StepKind::Copy(Copy {
            sources: shv(&c.sources, by),
            destination: shs(&c.destination, by),
            chown: c.chown.as_ref().map(|s| shs(s, by)),
            chmod: c.chmod.as_ref().map(|s| shs(s, by)),
            from: c.from.as_ref().map(|s| shs(s, by)),
        }),
        StepKind::Run(r) => StepKind::Run(Run {
            command: match &r.command {
                Command::Shell(s) => Command::Shell(shs(s, by)),
                Command::Exec(v) => Command::Exec(shv(v, by)),
            },
            network: r.network.as_ref().map(|s| shs(s, by)),
        }),
        StepKind::Env(vars) => {
            StepKind::Env(vars.iter().map(|(k, v)| (shs(k, by), shs(v, by))).collect())
        }
        StepKind::Workdir(s) => StepKind::Workdir(shs(s, by)),
        StepKind::User(s) => StepKind::User(shs(s, by)),
        StepKind::Entrypoint(v) => StepKind::Entrypoint(shv(v, by)),
        StepKind::Cmd(v) => StepKind::Cmd(shv(v, by)),
        StepKind::Label(k, v) => StepKind::Label(shs(k, by), shs(v, by)),
        StepKind::Expose(v) => StepKind::Expose(shv(v, by)),
        StepKind::Tag(v) => StepKind::Tag(shv(v, by)),
    };
    Step {
        kind,
        span: sh(step.span, by),
        keyword: sh(step.keyword, by),
        values: step.values.iter().map(|s| sh(*s, by)).collect(),
    }
}
