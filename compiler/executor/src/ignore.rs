//! `.duckignore` / `.dockerignore`: which build-context paths are left out, with Docker's syntax.
//!
//! Each non-empty line that is not a `#` comment is a pattern; `!` before it re-includes what
//! earlier lines excluded. Patterns are cleaned (`./`, `//`, a leading `/` removed) and match a
//! path or any of its parent directories, so `build` excludes `build/x/y`. `*` and `?` match
//! within one path component, `**` any number of components, `[a-z]` a class, `\` escapes. The
//! last pattern that matches decides, as in moby's `patternmatcher`.

use std::path::Path;

/// The parsed ignore file of a build context.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// Components of the cleaned pattern.
    parts: Vec<String>,
    negated: bool,
}

impl Ignore {
    /// Parses the text of an ignore file.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (negated, pat) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            let parts = clean(pat);
            if parts.is_empty() {
                continue;
            }
            patterns.push(Pattern { parts, negated });
        }
        Ignore { patterns }
    }

    /// Reads `.duckignore` in `dir`, else `.dockerignore`, else nothing is ignored. Returns the
    /// rules and the name of the file they came from.
    pub fn read(dir: &Path) -> std::io::Result<(Ignore, Option<&'static str>)> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        use std::io::Read as _;
        let ctx = crate::context::open_context(dir)?;
        for name in [".duckignore", ".dockerignore"] {
            // Symlinks resolve inside the context (`RESOLVE_IN_ROOT`), as BuildKit reads the
            // ignore file: one pointing at a host file reads nothing of the host.
            let opened = rustix::fs::openat2(
                &ctx,
                name,
                OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .map_err(std::io::Error::from)
            .and_then(|fd| {
                let mut f = std::fs::File::from(fd);
                if !f.metadata()?.is_file() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!("`{name}` is not a regular file"),
                    ));
                }
                let mut text = String::new();
                f.read_to_string(&mut text)?;
                Ok(text)
            });
            match opened {
                Ok(text) => return Ok((Ignore::parse(&text), Some(name))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok((Ignore::default(), None))
    }

    /// Whether any pattern re-includes (`!`): then an excluded directory must still be walked.
    pub fn has_negations(&self) -> bool {
        self.patterns.iter().any(|p| p.negated)
    }

    /// Whether the relative `/`-separated `path` is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut excluded = false;
        for p in &self.patterns {
            // A pattern matches the path or one of its parents.
            let hit = (1..=parts.len()).any(|n| matches(&p.parts, &parts[..n]));
            if hit {
                excluded = !p.negated;
            }
        }
        excluded
    }
}

/// Splits a pattern into cleaned components (Go's `filepath.Clean`, leading `/` dropped).
fn clean(pat: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for part in pat.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            p => out.push(p.to_owned()),
        }
    }
    out
}

/// Matches pattern components against path components; `**` spans any number of them.
fn matches(pat: &[String], path: &[&str]) -> bool {
    match pat.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| matches(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((p, prest)) => component(first.as_bytes(), p.as_bytes()) && matches(rest, prest),
            None => false,
        },
    }
}

/// Glob match of one component: `*`, `?`, `[...]` (with `^` negation and ranges, as Go's regexp), `\x`.
fn component(pat: &[u8], name: &[u8]) -> bool {
    match pat.split_first() {
        None => name.is_empty(),
        Some((b'*', rest)) => (0..=name.len()).any(|i| component(rest, &name[i..])),
        Some((b'?', rest)) => !name.is_empty() && component(rest, &name[1..]),
        Some((b'[', rest)) => {
            let Some((&c, nrest)) = name.split_first() else {
                return false;
            };
            let (negate, mut body) = match rest.first() {
                Some(b'^') => (true, &rest[1..]),
                _ => (false, rest),
            };
            let mut hit = false;
            let mut first = true;
            loop {
                match body {
                    [] => return false, // unterminated class: matches nothing, as Go errors out
                    [b']', tail @ ..] if !first => {
                        body = tail;
                        break;
                    }
                    [b'\\', x, tail @ ..] => {
                        hit |= *x == c;
                        body = tail;
                    }
                    [lo, b'-', hi, tail @ ..] if *hi != b']' => {
                        hit |= (*lo..=*hi).contains(&c);
                        body = tail;
                    }
                    [x, tail @ ..] => {
                        hit |= *x == c;
                        body = tail;
                    }
                }
                first = false;
            }
            hit != negate && component(body, nrest)
        }
        Some((b'\\', rest)) if !rest.is_empty() => {
            name.first() == Some(&rest[0]) && component(&rest[1..], &name[1..])
        }
        Some((&p, rest)) => name.first() == Some(&p) && component(rest, &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::Ignore;

    fn check(rules: &str, cases: &[(&str, bool)]) {
        let ig = Ignore::parse(rules);
        for (path, want) in cases {
            assert_eq!(ig.excludes(path), *want, "{rules:?} on {path:?}");
        }
    }

    #[test]
    fn docker_semantics() {
        check(
            "# comment\n*.md\n!README.md\nbuild/\n/tmp*\n**/*.o\ndocs/**/secret\n",
            &[
                ("a.md", true),
                ("README.md", false),
                ("sub/a.md", false), // `*.md` is anchored at the root, as in Docker
                ("build", true),
                ("build/x/y", true),
                ("tmpfile", true),
                ("src/tmpfile", false),
                ("x.o", true),
                ("a/b/c.o", true),
                ("docs/secret", true),
                ("docs/a/b/secret", true),
                ("docs/a/b/public", false),
                ("main.rs", false),
            ],
        );
    }

    #[test]
    fn negation_inside_an_excluded_directory() {
        check(
            "data\n!data/keep.txt\n",
            &[("data", true), ("data/x", true), ("data/keep.txt", false)],
        );
        check(
            "*\n!src\n",
            &[("a", true), ("src", false), ("src/main.rs", false)],
        );
    }

    #[test]
    fn classes_and_escapes() {
        check(
            "[a-c]?.txt\nfile\\*\n[^x]y\n",
            &[
                ("ab.txt", true),
                ("db.txt", false),
                ("file*", true),
                ("filex", false),
                ("ay", true),
                ("xy", false),
            ],
        );
    }
}
