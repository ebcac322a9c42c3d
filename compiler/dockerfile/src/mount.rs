//! `RUN --mount=…`: the comma-separated `key=value` list parsed into a [`Mount`].

use crate::ast::{Mount, MountKind, Sharing};
use crate::diagnostic::{self, Diagnostic};
use crate::span::{Span, Spanned};

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "required",
    "size",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "env",
];

/// Parse the value of one `--mount` flag. `value` is the flag's value (quotes removed) and `span`
/// where it is; errors are pushed, and a best-effort mount is always returned.
pub(crate) fn parse(value: &str, span: Span, errors: &mut Vec<Diagnostic>) -> Mount {
    let fields = csv_fields(value);
    let at = |a: usize, b: usize| {
        let start = (span.start + a).min(span.end);
        Span::new(start, (span.start + b).min(span.end))
    };
    let mut mount = Mount {
        span,
        kind: MountKind::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: None,
        readonly: None,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        required: None,
        env: None,
    };
    // The type decides which keys are allowed, wherever it is written.
    for (text, a, b) in &fields {
        if let Some((k, v)) = text.split_once('=')
            && k.eq_ignore_ascii_case("type")
        {
            mount.kind = match v.to_ascii_lowercase().as_str() {
                "bind" => MountKind::Bind,
                "cache" => MountKind::Cache,
                "tmpfs" => MountKind::Tmpfs,
                "secret" => MountKind::Secret,
                "ssh" => MountKind::Ssh,
                _ => {
                    errors.push(
                        diagnostic::syntax(
                            at(*a, *b),
                            format!("unsupported mount type `{v}`"),
                            "unknown type",
                        )
                        .with_help("use one of `bind`, `cache`, `tmpfs`, `secret`, `ssh`"),
                    );
                    MountKind::Bind
                }
            };
        }
    }
    let kind_name = kind_name(mount.kind);
    for (text, a, b) in &fields {
        let field_span = at(*a, *b);
        let (key, value) = match text.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (text.to_ascii_lowercase(), None),
        };
        let val_span = at(a + key.len() + 1, *b);
        let sv = |v: &str| Spanned::new(v.to_string(), val_span);
        let wrong_type = |errors: &mut Vec<Diagnostic>| {
            errors.push(
                diagnostic::syntax(
                    field_span,
                    format!("`{key}` is not allowed for mount type `{kind_name}`"),
                    "not for this type",
                )
                .with_help(allowed_help(mount.kind)),
            )
        };
        let Some(value) = value else {
            match key.as_str() {
                "readonly" | "ro" => mount.readonly = Some(true),
                "readwrite" | "rw" => mount.readonly = Some(false),
                "required" if matches!(mount.kind, MountKind::Secret | MountKind::Ssh) => {
                    mount.required = Some(true)
                }
                "required" => wrong_type(errors),
                _ => errors.push(
                    diagnostic::syntax(
                        field_span,
                        format!("mount option `{text}` must be a `key=value` pair"),
                        "no value",
                    )
                    .with_help(
                        "write it as `key=value`, e.g. `--mount=type=cache,target=/root/.cache`",
                    ),
                ),
            }
            continue;
        };
        let boolean = |errors: &mut Vec<Diagnostic>| match parse_bool(value) {
            Some(b) => Some(b),
            None => {
                errors.push(
                    diagnostic::syntax(
                        val_span,
                        format!("`{value}` is not a boolean"),
                        "expected true or false",
                    )
                    .with_help(format!("write `{key}=true` or `{key}=false`")),
                );
                None
            }
        };
        match key.as_str() {
            "type" => {}
            "from" => mount.from = Some(sv(value)),
            "source" | "src" => mount.source = Some(sv(value)),
            "target" | "dst" | "destination" => mount.target = Some(sv(value)),
            "readonly" | "ro" => mount.readonly = boolean(errors).or(mount.readonly),
            "readwrite" | "rw" => mount.readonly = boolean(errors).map(|b| !b).or(mount.readonly),
            "required" if matches!(mount.kind, MountKind::Secret | MountKind::Ssh) => {
                mount.required = boolean(errors)
            }
            "size" if mount.kind == MountKind::Tmpfs => mount.size = Some(sv(value)),
            "sharing" if mount.kind == MountKind::Cache => {
                mount.sharing = match value.to_ascii_lowercase().as_str() {
                    "shared" => Some(Sharing::Shared),
                    "private" => Some(Sharing::Private),
                    "locked" => Some(Sharing::Locked),
                    _ => {
                        errors.push(
                            diagnostic::syntax(
                                val_span,
                                format!("unknown cache sharing mode `{value}`"),
                                "unknown mode",
                            )
                            .with_help("use `shared`, `private` or `locked`"),
                        );
                        None
                    }
                }
            }
            "required" | "size" | "sharing" => wrong_type(errors),
            "id" => mount.id = Some(sv(value)),
            "mode" => mount.mode = Some(sv(value)),
            "uid" => mount.uid = Some(sv(value)),
            "gid" => mount.gid = Some(sv(value)),
            "env" => mount.env = Some(sv(value)),
            _ => {
                let mut d = diagnostic::syntax(
                    at(*a, a + key.len()),
                    format!("unknown mount option `{key}`"),
                    "unknown option",
                );
                d = match crate::suggest::nearest(&key, KEYS) {
                    Some(s) => d
                        .with_help(format!("did you mean `{s}`?"))
                        .with_suggestion(at(*a, a + key.len()), s),
                    None => d.with_help(format!("mount options are {}", list(KEYS))),
                };
                errors.push(d);
            }
        }
    }
    if mount.target.is_none() && !matches!(mount.kind, MountKind::Secret | MountKind::Ssh) {
        errors.push(
            diagnostic::syntax(
                span,
                format!("a `{kind_name}` mount needs a `target`"),
                "no target",
            )
            .with_help(format!(
                "add the path to mount at, e.g. `--mount=type={kind_name},target=/cache`"
            )),
        );
    }
    mount
}

pub(crate) fn kind_name(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Bind => "bind",
        MountKind::Cache => "cache",
        MountKind::Tmpfs => "tmpfs",
        MountKind::Secret => "secret",
        MountKind::Ssh => "ssh",
    }
}

fn allowed_help(kind: MountKind) -> &'static str {
    match kind {
        MountKind::Cache => {
            "`sharing` is for cache mounts, `size` for tmpfs, `required` for secret and ssh; this cache mount takes `target`, `id`, `sharing`, `from`, `source`, `mode`, `uid`, `gid`, `readonly`"
        }
        MountKind::Tmpfs => "a tmpfs mount takes `target` and `size`",
        MountKind::Bind => "a bind mount takes `target`, `source`, `from`, `readonly`/`rw`",
        MountKind::Secret | MountKind::Ssh => {
            "secret and ssh mounts take `id`, `target`, `required`, `mode`, `uid`, `gid`, `env`"
        }
    }
}

fn list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Split a CSV record (Go's `encoding/csv` rules: `"` quotes a field, `""` is a quote) into
/// fields with their byte ranges.
fn csv_fields(s: &str) -> Vec<(String, usize, usize)> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut text = String::new();
    let mut in_quotes = false;
    let mut field_start_quoted = false;
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek().is_some_and(|&(_, d)| d == '"') {
                    chars.next();
                    text.push('"');
                } else {
                    in_quotes = false;
                }
            } else {
                text.push(c);
            }
            continue;
        }
        match c {
            ',' => {
                out.push((std::mem::take(&mut text), start, i));
                start = i + 1;
                field_start_quoted = false;
            }
            '"' if i == start && !field_start_quoted => {
                in_quotes = true;
                field_start_quoted = true;
            }
            _ => text.push(c),
        }
    }
    if !s.is_empty() {
        out.push((text, start, s.len()));
    }
    out.retain(|(t, _, _)| !t.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(s: &str) -> (Mount, Vec<String>) {
        let mut errors = Vec::new();
        let m = parse(s, Span::new(0, s.len()), &mut errors);
        (m, errors.into_iter().map(|e| e.message).collect())
    }

    #[test]
    fn cache_mount() {
        let (m, e) = check("type=cache,target=/root/.cache/pip,id=pip,sharing=locked");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(m.kind, MountKind::Cache);
        assert_eq!(m.target.unwrap().value, "/root/.cache/pip");
        assert_eq!(m.id.unwrap().span, Span::new(38, 41));
        assert_eq!(m.sharing, Some(Sharing::Locked));
    }

    #[test]
    fn bind_is_the_default_type() {
        let (m, e) = check("target=/src,from=build,source=/out,ro");
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(m.kind, MountKind::Bind);
        assert_eq!(m.readonly, Some(true));
        assert_eq!(m.from.unwrap().value, "build");
    }

    #[test]
    fn errors() {
        let (_, e) = check("type=cache,targt=/x");
        assert_eq!(
            e,
            vec![
                "unknown mount option `targt`",
                "a `cache` mount needs a `target`"
            ]
        );
        let (_, e) = check("type=bind,target=/x,sharing=locked,size=1");
        assert_eq!(
            e,
            vec![
                "`sharing` is not allowed for mount type `bind`",
                "`size` is not allowed for mount type `bind`"
            ]
        );
        let (_, e) = check("type=volume,target=/x");
        assert_eq!(e, vec!["unsupported mount type `volume`"]);
    }

    #[test]
    fn csv_quotes() {
        let f = csv_fields(r#"type=bind,"target=/a,b",x"#);
        assert_eq!(f[1].0, "target=/a,b");
        assert_eq!(f.len(), 3);
    }
}
