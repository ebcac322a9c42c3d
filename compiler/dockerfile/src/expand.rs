//! Docker's variable substitution in instruction arguments (BuildKit's `shell/lex.go`
//! `ProcessWord`): `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
//! `${VAR:?message}`, `${VAR#pattern}`, `${VAR%pattern}` (and `##`, `%%`), single and double
//! quotes, and the escape character. Quotes are removed as the shell would.
//!
//! Which instructions this applies to, and with which variables, is `stages`' business.

/// Why a word could not be expanded. Offsets are bytes into the word.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExpandError {
    #[error("missing `}}` in variable substitution")]
    MissingBrace { offset: usize },
    #[error("bad substitution")]
    BadSubstitution { offset: usize },
    #[error("unsupported modifier `{modifier}` in substitution")]
    UnsupportedModifier { modifier: String, offset: usize },
    #[error("{name}: {message}")]
    Required {
        name: String,
        message: String,
        offset: usize,
    },
    #[error("unterminated {quote} quote")]
    UnterminatedQuote { quote: &'static str, offset: usize },
    #[error("substitutions nested too deeply")]
    TooDeep { offset: usize },
}

impl ExpandError {
    /// Where in the word the problem is.
    pub fn offset(&self) -> usize {
        match self {
            ExpandError::MissingBrace { offset }
            | ExpandError::BadSubstitution { offset }
            | ExpandError::UnsupportedModifier { offset, .. }
            | ExpandError::Required { offset, .. }
            | ExpandError::UnterminatedQuote { offset, .. }
            | ExpandError::TooDeep { offset } => *offset,
        }
    }
}

pub type Result<T> = std::result::Result<T, ExpandError>;

/// The result of expanding a word.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Expanded {
    pub value: String,
    /// Every variable the word referred to, in order, with whether it was set.
    pub references: Vec<(String, bool)>,
}

/// Expand `word`, looking variables up with `lookup` (`None`: unset).
pub fn expand(
    word: &str,
    escape: char,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Expanded> {
    let mut lx = Lexer {
        chars: word.char_indices().collect(),
        len: word.len(),
        pos: 0,
        escape,
        lookup,
        references: Vec::new(),
        depth: 0,
    };
    let (value, _) = lx.until(&[])?;
    Ok(Expanded {
        value,
        references: lx.references,
    })
}

/// Deeper `${a:-${b:-…}}` nesting than this is refused, so no input can overflow the stack.
const MAX_DEPTH: usize = 64;

struct Lexer<'a> {
    chars: Vec<(usize, char)>,
    len: usize,
    pos: usize,
    escape: char,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    references: Vec<(String, bool)>,
    depth: usize,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn offset(&self) -> usize {
        self.chars.get(self.pos).map_or(self.len, |&(o, _)| o)
    }

    /// Process until one of `stops` (consumed) or the end. Returns the text and whether a stop
    /// character was found.
    fn until(&mut self, stops: &[char]) -> Result<(String, bool)> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if stops.contains(&c) {
                self.next();
                return Ok((out, true));
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.next();
                    if c == self.escape {
                        match self.next() {
                            Some(d) => out.push(d),
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        Ok((out, false))
    }

    fn single_quoted(&mut self) -> Result<String> {
        let start = self.offset();
        self.next();
        let mut out = String::new();
        loop {
            match self.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        quote: "single",
                        offset: start,
                    });
                }
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String> {
        let start = self.offset();
        self.next();
        let mut out = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(ExpandError::UnterminatedQuote {
                        quote: "double",
                        offset: start,
                    });
                }
                Some('"') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.next();
                    if c == self.escape {
                        match self.peek() {
                            None => continue,
                            Some(d) if d == '"' || d == '$' || d == self.escape => {
                                self.next();
                                out.push(d);
                            }
                            Some(_) => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        if let Some(c) = self.peek()
            && c.is_ascii_digit()
        {
            while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                self.next();
                name.push(d);
            }
            return name;
        }
        while let Some(c) = self.peek() {
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            self.next();
            name.push(c);
        }
        name
    }

    fn get(&mut self, name: &str) -> Option<String> {
        let v = (self.lookup)(name);
        self.references.push((name.to_string(), v.is_some()));
        v
    }

    fn dollar(&mut self) -> Result<String> {
        let start = self.offset();
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(self.get(&name).unwrap_or_default());
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandError::MissingBrace { offset: start }),
            Some('{' | '}' | ':') => return Err(ExpandError::BadSubstitution { offset: start }),
            _ => {}
        }
        let name = self.name();
        if name.is_empty() {
            return Err(ExpandError::BadSubstitution { offset: start });
        }
        let Some(mut m) = self.next() else {
            return Err(ExpandError::MissingBrace { offset: start });
        };
        if m == '}' {
            return Ok(self.get(&name).unwrap_or_default());
        }
        let mut modifier = m.to_string();
        let null_is_unset = m == ':';
        if null_is_unset {
            m = self
                .next()
                .ok_or(ExpandError::MissingBrace { offset: start })?;
            modifier.push(m);
        }
        let longest = matches!(m, '#' | '%') && !null_is_unset && self.peek() == Some(m);
        if longest {
            self.next();
            modifier.push(m);
        }
        if !matches!(m, '-' | '+' | '?') && (null_is_unset || !matches!(m, '#' | '%')) {
            return Err(ExpandError::UnsupportedModifier {
                modifier,
                offset: start,
            });
        }
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ExpandError::TooDeep { offset: start });
        }
        let word = if matches!(m, '#' | '%') {
            self.raw_until_brace(start)?
        } else {
            let (word, found) = self.until(&['}'])?;
            if !found {
                return Err(ExpandError::MissingBrace { offset: start });
            }
            word
        };
        self.depth -= 1;
        let value = self.get(&name);
        let unset = match &value {
            None => true,
            Some(v) => null_is_unset && v.is_empty(),
        };
        Ok(match m {
            '-' if unset => word,
            '-' => value.unwrap_or_default(),
            '+' if unset => String::new(),
            '+' => word,
            '?' if unset => {
                let message = if !word.is_empty() {
                    word
                } else if value.is_none() {
                    "is not allowed to be unset".to_string()
                } else {
                    "is not allowed to be empty".to_string()
                };
                return Err(ExpandError::Required {
                    name,
                    message,
                    offset: start,
                });
            }
            '?' => value.unwrap_or_default(),
            '#' => remove_prefix(&value.unwrap_or_default(), &word, longest),
            _ => remove_suffix(&value.unwrap_or_default(), &word, longest),
        })
    }

    /// The pattern of `${VAR#pattern}`: raw text (escapes kept for the glob), `$` expanded.
    fn raw_until_brace(&mut self, start: usize) -> Result<String> {
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(ExpandError::MissingBrace { offset: start }),
                Some('}') => {
                    self.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&glob_escape(&self.dollar()?)),
                Some('\'') => out.push_str(&glob_escape(&self.single_quoted()?)),
                Some('"') => out.push_str(&glob_escape(&self.double_quoted()?)),
                Some(c) => {
                    self.next();
                    out.push(c);
                    if c == '\\'
                        && let Some(d) = self.next()
                    {
                        out.push(d);
                    }
                }
            }
        }
    }
}

fn glob_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn remove_prefix(value: &str, pattern: &str, longest: bool) -> String {
    let mut cuts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    if longest {
        cuts.reverse();
    }
    for i in cuts {
        if glob(pattern, &value[..i]) {
            return value[i..].to_string();
        }
    }
    value.to_string()
}

fn remove_suffix(value: &str, pattern: &str, longest: bool) -> String {
    let mut cuts: Vec<usize> = value
        .char_indices()
        .map(|(i, _)| i)
        .chain([value.len()])
        .collect();
    if !longest {
        cuts.reverse();
    }
    for i in cuts {
        if glob(pattern, &value[i..]) {
            return value[..i].to_string();
        }
    }
    value.to_string()
}

/// Shell glob match of the whole `text`: `*`, `?`, `\x`, anything else literal. Iterative with
/// backtracking to the last `*`, so it is linear-ish and cannot recurse.
fn glob(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Any,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match toks.get(p) {
            Some(Tok::Star) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Tok::Any) => {
                p += 1;
                t += 1;
            }
            Some(Tok::Lit(c)) if *c == text[t] => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    toks[p..].iter().all(|t| *t == Tok::Star)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(word: &str) -> String {
        let env = |n: &str| match n {
            "A" => Some("apple".to_string()),
            "E" => Some(String::new()),
            "P" => Some("/usr/local/lib.tar.gz".to_string()),
            _ => None,
        };
        match expand(word, '\\', &env) {
            Ok(e) => e.value,
            Err(e) => format!("error at {}: {e}", e.offset()),
        }
    }

    #[test]
    fn substitution_forms() {
        let cases = [
            ("$A", "apple"),
            ("${A}", "apple"),
            ("x${A}y", "xappley"),
            ("$A-$U-", "apple--"),
            ("${U:-def}", "def"),
            ("${E:-def}", "def"),
            ("${E-def}", ""),
            ("${U-def}", "def"),
            ("${A:+alt}", "alt"),
            ("${E:+alt}", ""),
            ("${E+alt}", "alt"),
            ("${U+alt}", ""),
            ("${U:-${A}}", "apple"),
            ("${U:-'q ${A}'}", "q ${A}"),
            ("${U:-\"q ${A}\"}", "q apple"),
            ("${P#*/}", "usr/local/lib.tar.gz"),
            ("${P##*/}", "lib.tar.gz"),
            ("${P%.*}", "/usr/local/lib.tar"),
            ("${P%%.*}", "/usr/local/lib"),
            ("$", "$"),
            ("a$ b", "a$ b"),
            ("$1x", "x"),
        ];
        for (word, want) in cases {
            assert_eq!(check(word), want, "{word}");
        }
    }

    #[test]
    fn quotes_and_escapes() {
        let cases = [
            (r"\$A", "$A"),
            (r#""$A""#, "apple"),
            ("'$A'", "$A"),
            (r#""a\"b\$A\x""#, r#"a"b$A\x"#),
            (r"a\ b", "a b"),
            ("trailing\\", "trailing"),
            (r#""it's""#, "it's"),
        ];
        for (word, want) in cases {
            assert_eq!(check(word), want, "{word}");
        }
        let env = |_: &str| Some("v".to_string());
        assert_eq!(expand("`$A$A", '`', &env).unwrap().value, "$Av");
    }

    #[test]
    fn errors() {
        let cases = [
            ("${A", "error at 0: missing `}` in variable substitution"),
            ("x${}", "error at 1: bad substitution"),
            ("${:A}", "error at 0: bad substitution"),
            (
                "${A/x/y}",
                "error at 0: unsupported modifier `/` in substitution",
            ),
            ("${U:?}", "error at 0: U: is not allowed to be unset"),
            ("${E:?must be set}", "error at 0: E: must be set"),
            ("'abc", "error at 0: unterminated single quote"),
            ("a\"bc", "error at 1: unterminated double quote"),
        ];
        for (word, want) in cases {
            assert_eq!(check(word), want, "{word}");
        }
        let deep = "${A:-".repeat(10_000);
        assert!(check(&deep).starts_with("error"));
    }

    #[test]
    fn references_are_recorded() {
        let e = expand("${A}$U", '\\', &|n| (n == "A").then(|| "1".into())).unwrap();
        assert_eq!(
            e.references,
            vec![("A".to_string(), true), ("U".to_string(), false)]
        );
    }

    #[test]
    fn glob_matching() {
        assert!(glob("*.gz", "a.tar.gz"));
        assert!(glob("a?c", "abc"));
        assert!(!glob("a?c", "ac"));
        assert!(glob(r"\*", "*"));
        assert!(glob("**", ""));
    }
}
