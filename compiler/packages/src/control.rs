//! The deb822 control format: paragraphs of `Field: value` lines, as in `Packages` and `Release`.

use std::fmt;

/// One paragraph: its fields in file order. Names compare case-insensitively, as dpkg does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paragraph {
    fields: Vec<(String, String)>,
}

impl Paragraph {
    /// The value of `name`, with continuation lines joined by `\n` and the leading space of each
    /// continuation line removed.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All fields in file order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }
}

/// A line that is not part of a valid paragraph.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("line {line}: {what}")]
#[diagnostic(code(packages::control))]
pub struct Error {
    /// 1-based line number.
    pub line: usize,
    pub what: ErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorKind {
    /// A line with no `:` that does not continue a field.
    NoColon,
    /// A continuation line before any field.
    ContinuationFirst,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::NoColon => f.write_str("expected `Field: value`"),
            ErrorKind::ContinuationFirst => f.write_str("continuation line before any field"),
        }
    }
}

/// Parse every paragraph of `text`. Blank lines separate paragraphs; `#` lines are comments
/// (deb822 allows them in sources files; they never occur in `Packages`).
pub fn parse(text: &str) -> Result<Vec<Paragraph>, Error> {
    let mut paragraphs = Vec::new();
    let mut current = Paragraph::default();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            if !current.fields.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = current.fields.last_mut() else {
                return Err(Error {
                    line: i + 1,
                    what: ErrorKind::ContinuationFirst,
                });
            };
            let rest = &line[1..];
            // A lone `.` stands for an empty line inside a multi-line value.
            let rest = if rest.trim() == "." { "" } else { rest };
            value.push('\n');
            value.push_str(rest);
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(Error {
                line: i + 1,
                what: ErrorKind::NoColon,
            });
        };
        current
            .fields
            .push((name.trim().to_owned(), value.trim().to_owned()));
    }
    if !current.fields.is_empty() {
        paragraphs.push(current);
    }
    Ok(paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_fields_and_continuations() {
        let text = "Package: a\nVersion: 1\nDescription: short\n long\n .\n more\n\n\nPackage: b\n";
        let ps = parse(text).unwrap();
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].get("package"), Some("a"));
        assert_eq!(ps[0].get("Description"), Some("short\nlong\n\nmore"));
        assert_eq!(ps[1].get("Package"), Some("b"));
        assert_eq!(ps[1].get("Version"), None);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(
            parse("Package: a\nnonsense\n").unwrap_err().to_string(),
            "line 2: expected `Field: value`"
        );
        assert_eq!(
            parse(" x\n").unwrap_err().to_string(),
            "line 1: continuation line before any field"
        );
    }
}
