//! Splitting a logical line into words and flags the way BuildKit's parser does, keeping byte
//! ranges so every word has a span; and the JSON-array form of arguments.

/// Whitespace-separated fields of `s` as byte ranges (no quote handling: FROM, EXPOSE, COPY…).
pub(crate) fn fields(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in s.char_indices() {
        match (start, c.is_whitespace()) {
            (None, false) => start = Some(i),
            (Some(st), true) => {
                out.push((st, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(st) = start {
        out.push((st, s.len()));
    }
    out
}

/// Words of `s` split at whitespace outside quotes, quotes and escapes kept (ENV, LABEL, ARG, and
/// heredoc markers). An escape character at the very end is dropped.
pub(crate) fn words(s: &str, escape: char) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut chars = s.char_indices();
    let mut start: Option<usize> = None;
    let mut end = 0;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    while let Some((i, c)) = chars.next() {
        match quote {
            None => {
                if c.is_whitespace() {
                    if let Some(st) = start.take()
                        && (blank_ok || end > st)
                    {
                        out.push((st, end));
                    }
                    blank_ok = false;
                    continue;
                }
                if start.is_none() {
                    start = Some(i);
                    end = i;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                } else if c == escape {
                    if let Some((j, d)) = chars.next() {
                        end = j + d.len_utf8();
                    }
                    continue;
                }
                end = i + c.len_utf8();
            }
            Some(q) => {
                if c == q {
                    quote = None;
                } else if c == escape && q != '\'' {
                    match chars.next() {
                        Some((j, d)) => end = j + d.len_utf8(),
                        None => quote = None,
                    }
                    continue;
                }
                end = i + c.len_utf8();
            }
        }
    }
    if let Some(st) = start
        && (blank_ok || end > st)
    {
        out.push((st, end));
    }
    out
}

/// A `--flag[=value]` word before the arguments of an instruction.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct RawFlag {
    /// Byte range of the whole word.
    pub start: usize,
    pub end: usize,
    /// The word with quotes removed and backslash escapes applied.
    pub text: String,
}

/// The leading `--flag` words of `s`, and the offset where the arguments start. A lone `--` ends
/// the flags. As in BuildKit, quotes are removed and `\` escapes the next character whatever the
/// escape directive says.
pub(crate) fn flags(s: &str) -> (Vec<RawFlag>, usize) {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &s[pos..];
        let skipped = rest.len() - rest.trim_start().len();
        pos += skipped;
        if !s[pos..].starts_with("--") {
            return (out, pos);
        }
        let start = pos;
        let mut text = String::new();
        let mut quote: Option<char> = None;
        let mut chars = s[pos..].char_indices();
        let mut end = s.len();
        while let Some((i, c)) = chars.next() {
            match quote {
                None if c.is_whitespace() => {
                    end = start + i;
                    break;
                }
                None if c == '\'' || c == '"' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if let Some((_, d)) = chars.next() {
                        text.push(d);
                    } else {
                        quote = None;
                    }
                }
                _ => text.push(c),
            }
        }
        pos = end;
        if text == "--" {
            let rest = &s[pos..];
            return (out, pos + (rest.len() - rest.trim_start().len()));
        }
        out.push(RawFlag { start, end, text });
    }
}

/// Remove quotes and escapes from a word, expanding nothing (heredoc delimiters).
pub(crate) fn unquote(s: &str, escape: char) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match quote {
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == escape => {
                if let Some(d) = chars.next() {
                    out.push(d);
                }
            }
            Some(q) if c == q => quote = None,
            Some('"') if c == escape => match chars.peek() {
                Some(&d) if d == '"' || d == '$' || d == escape => {
                    out.push(d);
                    chars.next();
                }
                Some(_) => out.push(c),
                None => {}
            },
            _ => out.push(c),
        }
    }
    out
}

/// Why text after an instruction is not a JSON array of strings.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum JsonError {
    /// Not JSON at all: the arguments are in shell form.
    NotJson,
    /// Valid JSON, but an element is not a string: an error in Docker too.
    NotStrings,
}

/// One decoded string of a JSON array, with its byte range (quotes included).
pub(crate) type JsonString = (String, usize, usize);

/// Parse `s` (leading whitespace allowed) as a JSON array of strings, as Docker's `json.Unmarshal`
/// would: trailing text makes it invalid.
pub(crate) fn json_array(s: &str) -> Result<Vec<JsonString>, JsonError> {
    let b = s.as_bytes();
    let mut i = ws(b, 0);
    if b.get(i) != Some(&b'[') {
        return Err(JsonError::NotJson);
    }
    i = ws(b, i + 1);
    let mut out = Vec::new();
    let mut all_strings = true;
    if b.get(i) == Some(&b']') {
        i += 1;
    } else {
        loop {
            i = ws(b, i);
            if b.get(i) == Some(&b'"') {
                let (value, end) = string(s, i).ok_or(JsonError::NotJson)?;
                out.push((value, i, end));
                i = end;
            } else {
                all_strings = false;
                i = skip_value(b, i).ok_or(JsonError::NotJson)?;
            }
            i = ws(b, i);
            match b.get(i) {
                Some(b',') => i += 1,
                Some(b']') => {
                    i += 1;
                    break;
                }
                _ => return Err(JsonError::NotJson),
            }
        }
    }
    if ws(b, i) != b.len() {
        return Err(JsonError::NotJson);
    }
    if !all_strings {
        return Err(JsonError::NotStrings);
    }
    Ok(out)
}

fn ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\n' | b'\r')) {
        i += 1;
    }
    i
}

/// Decode the JSON string starting at `s[i] == '"'`; returns it and the offset after the quote.
fn string(s: &str, i: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = s[i + 1..].char_indices();
    while let Some((j, c)) = chars.next() {
        match c {
            '"' => return Some((out, i + 1 + j + 1)),
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    '"' => out.push('"'),
                    '\\' => out.push('\\'),
                    '/' => out.push('/'),
                    'b' => out.push('\u{8}'),
                    'f' => out.push('\u{c}'),
                    'n' => out.push('\n'),
                    'r' => out.push('\r'),
                    't' => out.push('\t'),
                    'u' => {
                        let hi = hex4(&mut chars)?;
                        if (0xD800..0xDC00).contains(&hi) {
                            // A surrogate pair; a lone surrogate decodes to U+FFFD as in Go.
                            let rest = chars.as_str();
                            if rest.starts_with("\\u") {
                                let mut look = chars.clone();
                                look.next();
                                look.next();
                                let lo = hex4(&mut look)?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    chars = look;
                                    let cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(cp).unwrap_or('\u{FFFD}'));
                                    continue;
                                }
                            }
                            out.push('\u{FFFD}');
                        } else {
                            out.push(char::from_u32(hi).unwrap_or('\u{FFFD}'));
                        }
                    }
                    _ => return None,
                }
            }
            c if (c as u32) < 0x20 => return None,
            c => out.push(c),
        }
    }
    None
}

fn hex4(chars: &mut std::str::CharIndices<'_>) -> Option<u32> {
    let mut v = 0;
    for _ in 0..4 {
        let (_, c) = chars.next()?;
        v = v * 16 + c.to_digit(16)?;
    }
    Some(v)
}

/// Skip one JSON value of any kind starting at `i`, without recursion (arbitrarily deep nesting
/// must not overflow the stack). Returns the offset after it, or `None` if it is not valid JSON.
fn skip_value(b: &[u8], mut i: usize) -> Option<usize> {
    let mut stack: Vec<u8> = Vec::new();
    let key = |b: &[u8], i: usize| -> Option<usize> {
        let i = ws(b, i);
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let s = std::str::from_utf8(b).ok()?;
        let (_, end) = string(s, i)?;
        let end = ws(b, end);
        (b.get(end) == Some(&b':')).then_some(end + 1)
    };
    loop {
        i = ws(b, i);
        match *b.get(i)? {
            b'"' => i = string(std::str::from_utf8(b).ok()?, i)?.1,
            b'[' => {
                i = ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    stack.push(b'[');
                    continue;
                }
            }
            b'{' => {
                let j = ws(b, i + 1);
                if b.get(j) == Some(&b'}') {
                    i = j + 1;
                } else {
                    stack.push(b'{');
                    i = key(b, j)?;
                    continue;
                }
            }
            b't' => i = literal(b, i, b"true")?,
            b'f' => i = literal(b, i, b"false")?,
            b'n' => i = literal(b, i, b"null")?,
            b'-' | b'0'..=b'9' => i = number(b, i)?,
            _ => return None,
        }
        // A value ended: close every container that ends here.
        loop {
            let Some(&top) = stack.last() else {
                return Some(i);
            };
            i = ws(b, i);
            match (top, *b.get(i)?) {
                (_, b',') => {
                    i += 1;
                    if top == b'{' {
                        i = key(b, i)?;
                    }
                    break;
                }
                (b'[', b']') | (b'{', b'}') => {
                    i += 1;
                    stack.pop();
                }
                _ => return None,
            }
        }
    }
}

fn literal(b: &[u8], i: usize, word: &[u8]) -> Option<usize> {
    b[i..].starts_with(word).then_some(i + word.len())
}

fn number(b: &[u8], mut i: usize) -> Option<usize> {
    let digits = |b: &[u8], mut i: usize| {
        let s = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        (i > s).then_some(i)
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    if b.get(i) == Some(&b'0') {
        i += 1;
    } else {
        i = digits(b, i)?;
    }
    if b.get(i) == Some(&b'.') {
        i = digits(b, i + 1)?;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        i = digits(b, i)?;
    }
    Some(i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(s: &'a str, r: &[(usize, usize)]) -> Vec<&'a str> {
        r.iter().map(|&(a, b)| &s[a..b]).collect()
    }

    #[test]
    fn words_keep_quotes_and_escapes() {
        let s = r#"a="b c" d\ e 'f g' """#;
        assert_eq!(
            texts(s, &words(s, '\\')),
            vec![r#"a="b c""#, r"d\ e", "'f g'", r#""""#]
        );
        let s = "x=`\"y z` w`";
        // The escaped space joins `z` and `w`; the escape at the very end is dropped.
        assert_eq!(texts(s, &words(s, '`')), vec!["x=`\"y", "z` w"]);
    }

    #[test]
    fn flags_stop_at_first_argument() {
        let s = "--from=build --chown=\"a b\"  src dst";
        let (f, rest) = flags(s);
        assert_eq!(f.len(), 2);
        assert_eq!(f[1].text, "--chown=a b");
        assert_eq!(&s[rest..], "src dst");
        let (f, rest) = flags("--link -- --notaflag x");
        assert_eq!(f.len(), 1);
        assert_eq!(rest, 10);
    }

    #[test]
    fn json_arrays() {
        assert_eq!(
            json_array(r#" ["a", "b\"\u00e9\ud83e\udd86"] "#)
                .unwrap()
                .into_iter()
                .map(|x| x.0)
                .collect::<Vec<_>>(),
            vec!["a".to_string(), "b\"é🦆".to_string()]
        );
        assert_eq!(json_array("[]").unwrap(), vec![]);
        assert_eq!(json_array("[\"a\",]"), Err(JsonError::NotJson));
        assert_eq!(json_array("[\"a\"] x"), Err(JsonError::NotJson));
        assert_eq!(json_array("['a']"), Err(JsonError::NotJson));
        assert_eq!(json_array("[1, \"a\"]"), Err(JsonError::NotStrings));
        assert_eq!(
            json_array(r#"["a", {"k": [1, -2.5e3, true, null]}]"#),
            Err(JsonError::NotStrings)
        );
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(json_array(&deep), Err(JsonError::NotStrings));
        assert_eq!(json_array(&"[".repeat(100_000)), Err(JsonError::NotJson));
    }

    #[test]
    fn unquote_removes_quotes() {
        assert_eq!(unquote(r#""EOF""#, '\\'), "EOF");
        assert_eq!(unquote("'E\\OF'", '\\'), "E\\OF");
        assert_eq!(unquote(r"E\OF", '\\'), "EOF");
    }
}
