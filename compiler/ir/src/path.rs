//! Paths inside an image and the build context, lexically: joining to a workdir, cleaning `.` and
//! `..`, and the glob and exclude matching `COPY`, `copy … from=` and `--exclude` share.

/// The components of `path` with `.`, empty components and `..` resolved lexically (`..` at
/// the top stays at the top, as in an image's root).
pub(crate) fn clean(path: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts
}

/// Joins a path to a directory and normalizes it (`.`, `..`, `//`), keeping a trailing `/`.
pub fn join(dir: &str, path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{dir}/{path}")
    };
    let mut out = format!("/{}", clean(&full).join("/"));
    if path.ends_with('/') && out != "/" {
        out.push('/');
    }
    out
}

/// A path as written to its clean relative form (`./a/../b/` → `b`), as listings key it.
pub(crate) fn normalize(s: &str) -> String {
    clean(s).join("/")
}

/// Whether `rel` (or a directory above it) matches an `--exclude` pattern.
pub fn excluded(patterns: &[String], rel: &str) -> bool {
    patterns.iter().any(|p| {
        let p = normalize(p);
        let mut prefix = String::new();
        for part in rel.split('/') {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if glob(&p, &prefix) || glob(&p, part) {
                return true;
            }
        }
        false
    })
}

/// Matches `path` against `pattern` component by component: `*` is any run of characters and
/// `?` any one character, neither crossing a `/`.
pub fn glob(pattern: &str, path: &str) -> bool {
    let pp: Vec<&str> = pattern.split('/').collect();
    let cp: Vec<&str> = path.split('/').collect();
    pp.len() == cp.len()
        && pp
            .iter()
            .zip(&cp)
            .all(|(p, c)| component(p.as_bytes(), c.as_bytes()))
}

fn component(p: &[u8], s: &[u8]) -> bool {
    match (p.first(), s.first()) {
        (None, None) => true,
        (Some(b'*'), _) => component(&p[1..], s) || (!s.is_empty() && component(p, &s[1..])),
        (Some(b'?'), Some(_)) => component(&p[1..], &s[1..]),
        (Some(a), Some(b)) if a == b => component(&p[1..], &s[1..]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins() {
        assert_eq!(join("/", "app"), "/app");
        assert_eq!(join("/app", "src/"), "/app/src/");
        assert_eq!(join("/app", "/etc/x"), "/etc/x");
        assert_eq!(join("/app", "../x"), "/x");
        assert_eq!(join("/", "../../"), "/");
        assert_eq!(join("/app", "."), "/app");
    }

    #[test]
    fn globs_stay_within_a_component() {
        assert!(glob("*.txt", "a.txt"));
        assert!(!glob("*.txt", "dir/a.txt"));
        assert!(glob("src/?.rs", "src/a.rs"));
        assert!(!glob("src/?.rs", "src/ab.rs"));
        assert!(excluded(&["*.md".to_owned()], "docs/readme.md"));
        assert!(excluded(&["build".to_owned()], "build/out.o"));
        assert!(!excluded(&["build".to_owned()], "src/main.rs"));
    }
}
