//! A pre-scan that bounds nesting depth before the text reaches the `kdl` parser.
//!
//! `kdl` parses children blocks and block comments recursively; input nested a thousand levels
//! deep overflows the stack and aborts the process. A spec needs two levels (`env "x" { run … }`),
//! so this scanner walks the text once, skipping strings and line comments, counts `{` and `/*`
//! nesting, and reports the first place that goes past [`MAX_NESTING`]. It does no allocation and
//! no recursion, so it is safe on any input.

use crate::{Code, Diagnostic, Span};

/// The deepest nesting of children blocks (and, separately, of block comments) that is handed to
/// the KDL parser. Far above what a spec needs, far below what overflows a 2 MiB thread stack.
pub const MAX_NESTING: usize = 32;

/// Returns a diagnostic at the first `{` or `/*` nested deeper than [`MAX_NESTING`].
pub fn check_nesting(text: &str) -> Option<Diagnostic> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut depth = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Some(too_deep(Span::new(i, i + 1), "children blocks"));
                }
                i += 1;
            }
            b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => match skip_block_comment(bytes, i) {
                Ok(end) => i = end,
                Err(at) => return Some(too_deep(Span::new(at, at + 2), "block comments")),
            },
            b'"' => i = skip_string(bytes, i, 0),
            b'#' => {
                let mut hashes = 0;
                while bytes.get(i + hashes) == Some(&b'#') {
                    hashes += 1;
                }
                if bytes.get(i + hashes) == Some(&b'"') {
                    i = skip_string(bytes, i + hashes, hashes);
                } else {
                    i += hashes;
                }
            }
            _ => i += 1,
        }
    }
    None
}

fn too_deep(span: Span, what: &str) -> Diagnostic {
    Diagnostic::error_at(
        Code::NestingTooDeep,
        format!("{what} are nested more than {MAX_NESTING} levels deep"),
        span,
        "too deep",
    )
    .with_help("a spec nests two levels: `env \"app\" { run \"make\" }`")
}

/// Skips a block comment starting at `start` (`/*`); block comments nest in KDL. Returns the
/// index after the comment, or the position of the `/*` that went too deep.
fn skip_block_comment(bytes: &[u8], start: usize) -> Result<usize, usize> {
    let mut i = start;
    let mut depth = 0usize;
    while i < bytes.len() {
        if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
            depth += 1;
            if depth > MAX_NESTING {
                return Err(i);
            }
            i += 2;
        } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return Ok(i);
            }
        } else {
            i += 1;
        }
    }
    Ok(i)
}

/// Skips a quoted string whose opening `"` is at `start`; `hashes` is the number of `#` of a raw
/// string. Handles `"""` multi-line strings and backslash escapes (not in raw strings). An
/// unterminated string runs to the end of its line (single-line) or of the text (multi-line),
/// which is what the KDL parser will complain about anyway.
fn skip_string(bytes: &[u8], start: usize, hashes: usize) -> usize {
    let multi = bytes.get(start + 1) == Some(&b'"') && bytes.get(start + 2) == Some(&b'"');
    let quotes = if multi { 3 } else { 1 };
    let mut i = start + quotes;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && hashes == 0 {
            i += 2;
            continue;
        }
        if b == b'\n' && !multi {
            return i;
        }
        if b == b'"'
            && bytes[i..]
                .iter()
                .take(quotes)
                .filter(|&&c| c == b'"')
                .count()
                == quotes
            && bytes[i + quotes..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == b'#')
                .count()
                == hashes
        {
            return i + quotes + hashes;
        }
        i += 1;
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shallow_input_passes() {
        assert_eq!(check_nesting("env \"a\" { run \"x\" }"), None);
        let deep_in_strings = format!(
            "a \"{0}\" #\"{0}\"# \"\"\"\n{0}\n\"\"\" // {0}\n",
            "{".repeat(100)
        );
        assert_eq!(check_nesting(&deep_in_strings), None);
    }

    #[test]
    fn deep_braces_are_caught() {
        let text = "a {".repeat(100_000);
        let d = check_nesting(&text).expect("too deep");
        assert_eq!(d.code, Code::NestingTooDeep);
        assert_eq!(
            d.span(),
            Some(Span::new(3 * MAX_NESTING + 2, 3 * MAX_NESTING + 3))
        );
    }

    #[test]
    fn deep_comments_are_caught() {
        let text = "/*".repeat(100_000);
        assert_eq!(
            check_nesting(&text).map(|d| d.code),
            Some(Code::NestingTooDeep)
        );
        assert_eq!(check_nesting("/* /* */ */ a"), None);
    }
}
