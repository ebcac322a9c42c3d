//! The line-level parser: parser directives, comments, line continuations and heredoc bodies, the
//! way BuildKit's `parser.go` reads a Dockerfile. Each logical line goes to `instructions`.

use crate::ast::{CommandForm, Directive, Dockerfile, Heredoc, Instruction, InstructionKind};
use crate::diagnostic;
use crate::instructions::{self, Line};
use crate::span::{Span, SpanMap, Spanned};
use crate::words;

/// Parse a Dockerfile. Never fails: errors are in [`Dockerfile::errors`].
pub fn parse(text: &str) -> Dockerfile {
    let mut p = Parser {
        src: text,
        pos: if text.starts_with('\u{feff}') { 3 } else { 0 },
        escape: '\\',
        directives_done: false,
        file: Dockerfile {
            directives: Vec::new(),
            escape: '\\',
            instructions: Vec::new(),
            comments: Vec::new(),
            empty_continuation_lines: Vec::new(),
            errors: Vec::new(),
        },
    };
    while let Some(line) = p.next_line() {
        p.line(line);
    }
    p.file.escape = p.escape;
    diagnostic::sort(&mut p.file.errors);
    p.file
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    escape: char,
    directives_done: bool,
    file: Dockerfile,
}

/// A physical line: `start..end` without the line break (`\n` or `\r\n`).
#[derive(Clone, Copy)]
struct Physical {
    start: usize,
    end: usize,
}

const DIRECTIVES: &[&str] = &["syntax", "escape", "check"];

impl Parser<'_> {
    fn next_line(&mut self) -> Option<Physical> {
        if self.pos >= self.src.len() {
            return None;
        }
        let start = self.pos;
        let (mut end, next) = match self.src[start..].find('\n') {
            Some(i) => (start + i, start + i + 1),
            None => (self.src.len(), self.src.len()),
        };
        if end > start && self.src.as_bytes()[end - 1] == b'\r' {
            end -= 1;
        }
        self.pos = next;
        Some(Physical { start, end })
    }

    fn text(&self, l: Physical) -> &str {
        &self.src[l.start..l.end]
    }

    fn line(&mut self, l: Physical) {
        if !self.directives_done && self.directive(l) {
            return;
        }
        self.directives_done = true;
        let raw = self.text(l);
        let start = l.start + (raw.len() - raw.trim_start().len());
        let content = &self.src[start..l.end];
        if content.is_empty() {
            return;
        }
        if content.starts_with('#') {
            self.file.comments.push(Span::new(start, l.end));
            return;
        }

        // Join the continuation lines into one logical line.
        let mut text = String::new();
        let mut map = SpanMap::default();
        let (len, mut continued) = trim_continuation(content, self.escape);
        text.push_str(&content[..len]);
        map.push(start, len);
        let mut end = start + len;
        while continued {
            let Some(n) = self.next_line() else { break };
            let raw = self.text(n);
            let trimmed = raw.trim_start();
            if trimmed.starts_with('#') {
                let s = n.end - trimmed.len();
                self.file.comments.push(Span::new(s, n.end));
                continue;
            }
            if trimmed.is_empty() {
                self.file
                    .empty_continuation_lines
                    .push(Span::new(n.start, n.end));
                continue;
            }
            let (len, c) = trim_continuation(raw, self.escape);
            text.push_str(&raw[..len]);
            map.push(n.start, len);
            end = n.start + len;
            continued = c;
        }
        if text.trim().is_empty() {
            return;
        }
        let lead = text.len() - text.trim_start().len();
        let mut line = Line {
            text: &text,
            map: &map,
            escape: self.escape,
            errors: &mut self.file.errors,
        };
        let mut inst = instructions::parse(&mut line, lead, false);
        inst.span = Span::new(map.offset(lead), end.max(map.offset(lead)));
        self.heredocs(&mut inst);
        self.file.instructions.push(inst);
    }

    /// A `# name=value` directive at the top of the file. Returns false (and the directives end)
    /// on any other line.
    fn directive(&mut self, l: Physical) -> bool {
        let raw = self.text(l);
        let start = l.start + (raw.len() - raw.trim_start().len());
        let Some(body) = self.src[start..l.end].strip_prefix('#') else {
            return false;
        };
        let body_start = start + 1;
        let name_start = body_start + (body.len() - body.trim_start_matches([' ', '\t']).len());
        let rest = &self.src[name_start..l.end];
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let name = &rest[..name_len];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return false;
        }
        let after = rest[name_len..].trim_start_matches([' ', '\t']);
        let Some(value) = after.strip_prefix('=') else {
            return false;
        };
        let value_trimmed = value.trim_start_matches([' ', '\t']);
        let value_start = l.end - value_trimmed.len();
        let value_text = value_trimmed.trim_end_matches([' ', '\t']);
        if value_text.is_empty() {
            return false;
        }
        let lower = name.to_ascii_lowercase();
        if !DIRECTIVES.contains(&lower.as_str()) {
            return false;
        }
        let name_span = Span::new(name_start, name_start + name_len);
        let value_span = Span::new(value_start, value_start + value_text.len());
        if self.file.directive(&lower).is_some() {
            self.file.errors.push(
                diagnostic::syntax(
                    name_span,
                    format!("only one `{lower}` parser directive can be used"),
                    "repeated directive",
                )
                .with_help(format!("remove one of the `# {lower}=` lines")),
            );
            return true;
        }
        if lower == "escape" {
            match value_text {
                "\\" => self.escape = '\\',
                "`" => self.escape = '`',
                other => self.file.errors.push(
                    diagnostic::syntax(
                        value_span,
                        format!("invalid escape character `{other}`"),
                        "not `\\` or `` ` ``",
                    )
                    .with_help("the escape character is `\\` (the default) or a backtick"),
                ),
            }
        }
        self.file.directives.push(Directive {
            name: Spanned::new(lower, name_span),
            value: Spanned::new(value_text.to_string(), value_span),
            span: Span::new(start, l.end),
        });
        true
    }

    /// Read the bodies of the heredocs opened on the instruction's line.
    fn heredocs(&mut self, inst: &mut Instruction) {
        if !can_have_heredocs(inst) {
            return;
        }
        let mut heredocs = Vec::new();
        let all = words::words(&inst.text, '\\');
        let mut i = 0;
        while i < all.len() {
            let (a, mut b) = all[i];
            i += 1;
            // BuildKit's lexer keeps white space after `<<` in the word: `cat << EOF` opens
            // the heredoc `EOF` (`<<- EOF` does not: the `-` ends the `<<`).
            if inst.text[a..b]
                .trim_start_matches(|c: char| c.is_ascii_digit())
                .eq("<<")
                && let Some(&(_, next)) = all.get(i)
            {
                b = next;
                i += 1;
            }
            let word = &inst.text[a..b];
            let Some(marker) = marker(word) else { continue };
            let mut content = String::new();
            let mut map = SpanMap::default();
            let mut body = Span::new(self.pos, self.pos);
            let mut terminated = false;
            while let Some(l) = self.next_line() {
                let raw = self.text(l);
                let candidate = if marker.chomp {
                    raw.trim_start_matches('\t')
                } else {
                    raw
                };
                if candidate == marker.name {
                    terminated = true;
                    inst.span.end = inst.span.end.max(l.end);
                    break;
                }
                map.push(l.start, raw.len());
                content.push_str(raw);
                // The newline maps to the line break in the source.
                map.push(l.end.min(self.src.len().saturating_sub(1)), 1);
                content.push('\n');
                body.end = l.end;
                inst.span.end = inst.span.end.max(l.end);
            }
            let span = inst.map.span(a, b);
            if !terminated {
                self.file.errors.push(
                    diagnostic::syntax(
                        span,
                        format!("unterminated heredoc `{}`", marker.name),
                        "opened here",
                    )
                    .with_help(format!(
                        "end the heredoc with a line holding only `{}`",
                        marker.name
                    )),
                );
            }
            heredocs.push(Heredoc {
                span,
                name: marker.name,
                chomp: marker.chomp,
                expand: marker.expand,
                fd: marker.fd,
                content,
                body,
                map,
                terminated,
            });
        }
        inst.heredocs = heredocs;
    }
}

/// BuildKit reads heredocs for RUN, COPY and ADD (also as ONBUILD triggers), in shell form only.
fn can_have_heredocs(inst: &Instruction) -> bool {
    match &inst.kind {
        InstructionKind::Run(r) => matches!(r.command, CommandForm::Shell(_)),
        InstructionKind::Copy(c) | InstructionKind::Add(c) => !c.json,
        InstructionKind::Onbuild(trigger) => can_have_heredocs(trigger),
        _ => false,
    }
}

/// A heredoc marker word: `[fd]<<[-]NAME`, NAME possibly quoted.
pub(crate) struct Marker {
    pub name: String,
    pub chomp: bool,
    pub expand: bool,
    pub fd: Option<u32>,
}

pub(crate) fn marker(word: &str) -> Option<Marker> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    // BuildKit's `<<(-?)\s*WORD`.
    let rest = rest.trim_start_matches([' ', '\t']);
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let name = words::unquote(rest, '\\');
    Some(Marker {
        expand: !rest.contains(['"', '\'', '\\']),
        name,
        chomp,
        fd: if digits > 0 {
            word[..digits].parse().ok()
        } else {
            None
        },
    })
}

/// Strip a trailing continuation (the escape character, then spaces or tabs). Returns the length
/// of the content and whether the line continues.
/// As in BuildKit, an escape character that is itself escaped (`foo \\`) does not continue the
/// line: the escape continues only when the line is that character alone or the character
/// before it is another one.
fn trim_continuation(line: &str, escape: char) -> (usize, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(content) if !content.ends_with(escape) => (content.len(), true),
        _ => (line.len(), false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_escape_does_not_continue() {
        assert_eq!(trim_continuation("echo a \\", '\\'), (7, true));
        assert_eq!(trim_continuation("echo a \\ \t", '\\'), (7, true));
        assert_eq!(trim_continuation("\\", '\\'), (0, true));
        assert_eq!(trim_continuation("echo a \\\\", '\\'), (9, false));
        assert_eq!(trim_continuation("echo a `", '`'), (7, true));
        assert_eq!(trim_continuation("echo a ``", '`'), (9, false));
    }

    #[test]
    fn heredoc_markers_as_buildkit() {
        for (word, name, chomp) in [
            ("<<EOF", "EOF", false),
            ("<< EOF", "EOF", false),
            ("<<-EOF", "EOF", true),
            ("<< -EOF", "-EOF", false),
            ("<<'EOF'", "EOF", false),
        ] {
            let m = marker(word).unwrap_or_else(|| panic!("{word}"));
            assert_eq!((m.name.as_str(), m.chomp), (name, chomp), "{word}");
        }
        for word in ["<<", "<<-", "<<<EOF", "<EOF"] {
            assert!(marker(word).is_none(), "{word}");
        }
    }
}
