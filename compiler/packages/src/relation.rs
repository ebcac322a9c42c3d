//! Package relationship fields (`Depends`, `Pre-Depends`, `Provides`, `Conflicts`, `Breaks`):
//! `a (>= 1.0) | b:any, c`, parsed into an AND of ORs of [`Relation`]s.

use std::fmt;
use std::str::FromStr;

use debversion::Version;

/// How a relation compares versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// `<<`
    Less,
    /// `<=` (and the obsolete `<`)
    LessEq,
    /// `=`
    Eq,
    /// `>=` (and the obsolete `>`)
    GreaterEq,
    /// `>>`
    Greater,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "<<" => Op::Less,
            "<=" | "<" => Op::LessEq,
            "=" => Op::Eq,
            ">=" | ">" => Op::GreaterEq,
            ">>" => Op::Greater,
            _ => return None,
        })
    }

    fn as_str(self) -> &'static str {
        match self {
            Op::Less => "<<",
            Op::LessEq => "<=",
            Op::Eq => "=",
            Op::GreaterEq => ">=",
            Op::Greater => ">>",
        }
    }
}

/// A version constraint: `(>= 1.0)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Constraint {
    pub op: Op,
    pub version: Version,
}

impl Constraint {
    /// Whether `version` satisfies the constraint (dpkg's comparison).
    pub fn matches(&self, version: &Version) -> bool {
        let ord = version.cmp(&self.version);
        match self.op {
            Op::Less => ord.is_lt(),
            Op::LessEq => ord.is_le(),
            Op::Eq => ord.is_eq(),
            Op::GreaterEq => ord.is_ge(),
            Op::Greater => ord.is_gt(),
        }
    }
}

impl fmt::Display for Constraint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({} {})", self.op.as_str(), self.version)
    }
}

/// The architecture qualifier after a name: `python3:any`, `libc6:amd64`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ArchQualifier {
    /// No qualifier.
    #[default]
    None,
    /// `:any`: satisfied by a package of any architecture that is `Multi-Arch: allowed`.
    Any,
    /// `:native` or an architecture name.
    Arch(String),
}

/// One relation: a name with an optional architecture qualifier and version constraint.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Relation {
    pub name: String,
    pub arch: ArchQualifier,
    pub constraint: Option<Constraint>,
}

impl fmt::Display for Relation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.arch {
            ArchQualifier::None => {}
            ArchQualifier::Any => f.write_str(":any")?,
            ArchQualifier::Arch(a) => write!(f, ":{a}")?,
        }
        if let Some(c) = &self.constraint {
            write!(f, " {c}")?;
        }
        Ok(())
    }
}

/// A relationship field that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[diagnostic(code(packages::relation))]
    #[error("empty package name in `{0}`")]
    EmptyName(String),
    #[diagnostic(code(packages::relation))]
    #[error("unknown version operator `{op}` in `{relation}`")]
    BadOperator { op: String, relation: String },
    #[diagnostic(code(packages::relation))]
    #[error("bad version `{version}` in `{relation}`")]
    BadVersion { version: String, relation: String },
    #[diagnostic(code(packages::relation))]
    #[error("unclosed `(` in `{0}`")]
    Unclosed(String),
}

/// An AND of ORs: `a | b, c` is `[[a, b], [c]]`.
pub type Relations = Vec<Vec<Relation>>;

/// Parse a relationship field. Architecture restrictions (`[amd64]`) and build profiles
/// (`<!nocheck>`) only occur in source packages; they are skipped here.
pub fn parse(text: &str) -> Result<Relations, Error> {
    let mut and = Vec::new();
    for group in text.split(',') {
        if group.trim().is_empty() {
            continue;
        }
        let mut or = Vec::new();
        for alt in group.split('|') {
            or.push(parse_one(alt.trim())?);
        }
        and.push(or);
    }
    Ok(and)
}

fn parse_one(text: &str) -> Result<Relation, Error> {
    let stripped = strip_restrictions(text);
    let (head, constraint) = match stripped.split_once('(') {
        Some((head, rest)) => {
            let Some((inner, _)) = rest.split_once(')') else {
                return Err(Error::Unclosed(text.to_owned()));
            };
            (head.trim(), Some(parse_constraint(inner.trim(), text)?))
        }
        None => (stripped.trim(), None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((name, "any")) => (name, ArchQualifier::Any),
        Some((name, arch)) => (name, ArchQualifier::Arch(arch.trim().to_owned())),
        None => (head, ArchQualifier::None),
    };
    let name = name.trim();
    if name.is_empty() || name.contains(char::is_whitespace) {
        return Err(Error::EmptyName(text.to_owned()));
    }
    Ok(Relation {
        name: name.to_owned(),
        arch,
        constraint,
    })
}

fn parse_constraint(inner: &str, relation: &str) -> Result<Constraint, Error> {
    let split = inner
        .find(|c: char| c.is_whitespace() || c.is_ascii_alphanumeric())
        .unwrap_or(inner.len());
    let (op_text, version) = inner.split_at(split);
    let op = Op::parse(op_text.trim()).ok_or_else(|| Error::BadOperator {
        op: op_text.to_owned(),
        relation: relation.to_owned(),
    })?;
    let version = Version::from_str(version.trim()).map_err(|_| Error::BadVersion {
        version: version.trim().to_owned(),
        relation: relation.to_owned(),
    })?;
    Ok(Constraint { op, version })
}

fn strip_restrictions(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_parens = false;
    let mut skip_until = None;
    for c in text.chars() {
        if let Some(close) = skip_until {
            if c == close {
                skip_until = None;
            }
            continue;
        }
        match c {
            '(' => in_parens = true,
            ')' => in_parens = false,
            // Outside the version constraint, `[…]` and `<…>` are restrictions.
            '[' if !in_parens => {
                skip_until = Some(']');
                continue;
            }
            '<' if !in_parens => {
                skip_until = Some('>');
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(text: &str) -> String {
        parse(text)
            .unwrap()
            .iter()
            .map(|or| {
                or.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" | ")
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    #[test]
    fn alternatives_constraints_qualifiers() {
        assert_eq!(
            show("libc6 (>= 2.34), mawk | awk, python3:any (>= 3.11~), foo:amd64, bar (<< 2)"),
            "libc6 (>= 2.34), mawk | awk, python3:any (>= 3.11~), foo:amd64, bar (<< 2)"
        );
        assert_eq!(show("a (>2), b (<1), c(=1)"), "a (>= 2), b (<= 1), c (= 1)");
        assert_eq!(show(""), "");
    }

    #[test]
    fn restrictions_are_skipped() {
        assert_eq!(
            show("a [amd64] <!nocheck>, b (<< 1) [!i386]"),
            "a, b (<< 1)"
        );
    }

    #[test]
    fn errors() {
        assert_eq!(
            parse("a (~~ 1)").unwrap_err().to_string(),
            "unknown version operator `~~` in `a (~~ 1)`"
        );
        assert_eq!(
            parse("a (>= 1").unwrap_err().to_string(),
            "unclosed `(` in `a (>= 1`"
        );
        assert_eq!(
            parse("a, | b").unwrap_err().to_string(),
            "empty package name in ``"
        );
    }

    #[test]
    fn constraint_matching_uses_dpkg_order() {
        let c = &parse("a (>= 1.0~rc1)").unwrap()[0][0]
            .constraint
            .clone()
            .unwrap();
        assert!(c.matches(&"1.0".parse().unwrap()));
        assert!(c.matches(&"1.0~rc1".parse().unwrap()));
        assert!(!c.matches(&"1.0~beta".parse().unwrap()));
    }
}
