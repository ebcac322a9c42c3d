//! Formatting a KDL spec (`duckc fmt` and the server's `textDocument/formatting`): each line
//! indented by four spaces per level of braces, trailing whitespace removed, runs of blank
//! lines made one, one final newline. Everything else stays as written: comments, quoting,
//! the order and spacing of arguments, and the inside of multi-line strings and block comments
//! (so formatting never changes what a spec means).

/// Where the scanner is at the end of a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    /// A quoted string; `multi`: `"""`; `hashes`: a raw string's `#` count.
    Str {
        multi: bool,
        hashes: Option<usize>,
    },
    /// A block comment, nested this deep.
    Comment(usize),
}

/// Scans one line from `state`: the braces it opens minus those it closes, and the state at
/// its end.
fn scan(line: &str, mut state: State) -> (isize, State) {
    let b = line.as_bytes();
    let mut depth = 0isize;
    let mut i = 0;
    let starts = |i: usize, s: &str| b[i..].starts_with(s.as_bytes());
    while i < b.len() {
        match state {
            State::Code => {
                if starts(i, "//") {
                    break;
                } else if starts(i, "/*") {
                    state = State::Comment(1);
                    i += 2;
                    continue;
                } else if b[i] == b'#' || b[i] == b'"' {
                    let hashes = b[i..].iter().take_while(|c| **c == b'#').count();
                    let q = i + hashes;
                    if q < b.len() && b[q] == b'"' {
                        let multi = starts(q, "\"\"\"");
                        state = State::Str {
                            multi,
                            hashes: (hashes > 0).then_some(hashes),
                        };
                        i = q + if multi { 3 } else { 1 };
                        continue;
                    }
                } else if b[i] == b'{' {
                    depth += 1;
                } else if b[i] == b'}' {
                    depth -= 1;
                }
                i += 1;
            }
            State::Str { multi, hashes } => {
                if hashes.is_none() && b[i] == b'\\' {
                    i += 2;
                    continue;
                }
                let quote = if multi { "\"\"\"" } else { "\"" };
                let close = format!("{quote}{}", "#".repeat(hashes.unwrap_or(0)));
                if starts(i, &close) {
                    state = State::Code;
                    i += close.len();
                    continue;
                }
                i += 1;
            }
            State::Comment(n) => {
                if starts(i, "/*") {
                    state = State::Comment(n + 1);
                    i += 2;
                } else if starts(i, "*/") {
                    state = if n == 1 {
                        State::Code
                    } else {
                        State::Comment(n - 1)
                    };
                    i += 2;
                } else {
                    i += 1;
                }
            }
        }
    }
    (depth, state)
}

/// The formatted text of a spec, or why it cannot be formatted (it is not valid KDL: `duckc
/// check` shows where).
pub fn format_spec(text: &str) -> Result<String, String> {
    if duckc_syntax::parse(text).file.broken {
        return Err(
            "the spec is not valid KDL; fix the errors `duckc check` shows, then format it"
                .to_owned(),
        );
    }
    let mut out = String::with_capacity(text.len());
    let mut depth = 0usize;
    let mut state = State::Code;
    let mut blank = true; // at the start: no leading blank lines
    for line in text.lines() {
        let (delta, end) = scan(line, state);
        if state == State::Code {
            let trimmed = line.trim_start();
            // Trailing whitespace inside a string that goes on is part of the string.
            let trimmed = if end == State::Code || matches!(end, State::Comment(_)) {
                trimmed.trim_end()
            } else {
                trimmed
            };
            if trimmed.is_empty() {
                if !blank {
                    out.push('\n');
                }
                blank = true;
            } else {
                let level = if trimmed.starts_with('}') {
                    depth.saturating_sub(1)
                } else {
                    depth
                };
                out.push_str(&"    ".repeat(level));
                out.push_str(trimmed);
                out.push('\n');
                blank = false;
            }
        } else {
            out.push_str(line);
            out.push('\n');
            blank = false;
        }
        depth = depth.saturating_add_signed(delta);
        state = end;
    }
    while out.ends_with("\n\n") {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_keeps_comments_and_is_idempotent() {
        let text = "\n\n// the base\nenv   \"a\"{\nfrom \"scratch\" // inline {\n\n\n  run   \"make\"   \n\t/* a\n   block } */\n  run #\"raw \" { \"#\n  run \"\"\"\n  multi {\n  \"\"\"\n}\n\n";
        let out = format_spec(text).unwrap();
        assert_eq!(
            out,
            "// the base\nenv   \"a\"{\n    from \"scratch\" // inline {\n\n    run   \"make\"\n    /* a\n   block } */\n    run #\"raw \" { \"#\n    run \"\"\"\n  multi {\n  \"\"\"\n}\n"
        );
        assert_eq!(format_spec(&out).unwrap(), out);
        assert!(format_spec("env \"a\" {").is_err());
    }
}
