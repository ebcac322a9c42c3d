//! `-f/--format` templates: the small part of Go's `text/template` that Docker users type
//! (`{{.ID}}`, `{{.State.Status}}`, `{{json .}}`, `table …`), evaluated over JSON values.
//!
//! Supported: literal text (with `\t` and `\n` read as tab and newline, as the Docker CLI
//! does), `{{.}}`, `{{.Field.Sub}}`, `{{json X}}`, `{{upper X}}`, `{{lower X}}`, and a
//! leading `table` that prints a header row and aligns tab-separated columns. Anything else
//! (`range`, `if`, pipes, variables, `printf`, …) is refused when the template is parsed, with
//! a message naming what is supported, never silently printed.

use miette::miette;
use serde_json::Value;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    parts: Vec<Part>,
    /// The template began with `table`: print a header and align columns.
    table: bool,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Text(String),
    Action { func: Func, path: Vec<String> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Func {
    Value,
    Json,
    Upper,
    Lower,
}

const HELP: &str = "duckc's templates support `{{.Field}}`, `{{.Field.Sub}}`, `{{json .}}`, \
`{{json .Field}}`, `{{upper .Field}}`, `{{lower .Field}}` and a leading `table`; see docs/containers.md";

impl Template {
    /// Parse `text` (the argument of `--format`).
    pub fn parse(text: &str) -> miette::Result<Template> {
        let (table, body) = match text.strip_prefix("table") {
            Some(rest) if rest.is_empty() || rest.starts_with(char::is_whitespace) => {
                (true, rest.trim_start())
            }
            _ => (false, text),
        };
        let mut parts = Vec::new();
        let mut rest = body;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Text(unescape(&rest[..open])));
            }
            let after = &rest[open + 2..];
            let close = after.find("}}").ok_or_else(|| {
                miette!(
                    help = HELP,
                    "bad format `{text}`: `{{{{` is not closed by `}}}}`"
                )
            })?;
            parts.push(parse_action(text, &after[..close])?);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(unescape(rest)));
        }
        if table && parts.is_empty() {
            // `--format table` alone: the caller's default columns.
            return Err(miette!(
                help = "give the columns, e.g. `--format 'table {{.ID}}\\t{{.Names}}'`",
                "bad format `{text}`: `table` needs columns"
            ));
        }
        Ok(Template { parts, table })
    }

    /// Evaluate the template over `value`.
    pub fn render(&self, value: &Value) -> miette::Result<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action { func, path } => {
                    let v = lookup(value, path)?;
                    match func {
                        Func::Value => out.push_str(&go_string(v)),
                        Func::Json => out.push_str(&serde_json::to_string(v).unwrap_or_default()),
                        Func::Upper => out.push_str(&go_string(v).to_uppercase()),
                        Func::Lower => out.push_str(&go_string(v).to_lowercase()),
                    }
                }
            }
        }
        Ok(out)
    }

    /// The header row of a `table` template: each action replaced by `header(field)`.
    fn header(&self, header: &dyn Fn(&str) -> String) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.push_str(t),
                Part::Action { path, .. } => {
                    if let Some(field) = path.last() {
                        out.push_str(&header(field));
                    }
                }
            }
        }
        out
    }

    /// Print one line per value; a `table` template gets a header (from `header`, which
    /// names the column of a field) and columns aligned as Docker's tabwriter does.
    pub fn print(&self, values: &[Value], header: &dyn Fn(&str) -> String) -> miette::Result<()> {
        let mut lines = Vec::new();
        if self.table {
            lines.push(self.header(header));
        }
        for v in values {
            lines.push(self.render(v)?);
        }
        let text = if self.table {
            align(&lines)
        } else {
            lines.iter().map(|l| format!("{l}\n")).collect()
        };
        print!("{text}");
        Ok(())
    }
}

/// Docker's tabwriter settings: cells padded to the widest of their column plus 3 spaces,
/// at least 10 wide; the last cell of a line is not padded.
fn align(lines: &[String]) -> String {
    let rows: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let w = (widths[i] + 3).max(10);
                line.push_str(&" ".repeat(w - cell.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn unescape(text: &str) -> String {
    text.replace("\\t", "\t").replace("\\n", "\n")
}

fn parse_action(template: &str, inner: &str) -> miette::Result<Part> {
    let words: Vec<&str> = inner.split_whitespace().collect();
    let unsupported = |what: &str| {
        miette!(
            help = HELP,
            "bad format `{template}`: `{what}` is not supported"
        )
    };
    if inner.starts_with('-') || inner.ends_with('-') {
        return Err(unsupported("{{- … -}}"));
    }
    if inner.contains('|') {
        return Err(unsupported("|"));
    }
    let (func, arg) = match words[..] {
        [arg] => (Func::Value, arg),
        ["json", arg] => (Func::Json, arg),
        ["upper", arg] => (Func::Upper, arg),
        ["lower", arg] => (Func::Lower, arg),
        [] => return Err(unsupported("{{}}")),
        [first, ..] => return Err(unsupported(first)),
    };
    if arg.starts_with('$') {
        return Err(unsupported("$variables"));
    }
    let Some(path) = arg.strip_prefix('.') else {
        return Err(unsupported(arg));
    };
    let path: Vec<String> = if path.is_empty() {
        vec![]
    } else {
        path.split('.').map(str::to_owned).collect()
    };
    if path.iter().any(|f| {
        f.is_empty()
            || !f
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    }) {
        return Err(unsupported(arg));
    }
    Ok(Part::Action { func, path })
}

fn lookup<'a>(value: &'a Value, path: &[String]) -> miette::Result<&'a Value> {
    let mut v = value;
    for (i, field) in path.iter().enumerate() {
        v = match v.get(field.as_str()) {
            Some(next) => next,
            None => {
                let here = if i == 0 {
                    ".".to_owned()
                } else {
                    format!(".{}", path[..i].join("."))
                };
                let fields = v
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                return Err(if fields.is_empty() {
                    miette!("`{here}` has no field `{field}`: it is not an object")
                } else {
                    miette!(
                        help = format!("the fields of `{here}` are: {fields}"),
                        "`{here}` has no field `{field}`"
                    )
                });
            }
        };
    }
    Ok(v)
}

/// A value as Go's `fmt.Print` shows it: strings bare, `[a b]` for lists, `map[k:v]` for
/// objects (keys sorted), `<no value>` for null.
fn go_string(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".to_owned(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(go_string).collect::<Vec<_>>().join(" ")
        ),
        Value::Object(o) => {
            let mut keys: Vec<&String> = o.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{k}:{}", go_string(&o[k.as_str()])))
                .collect();
            format!("map[{}]", items.join(" "))
        }
    }
}

/// Docker's column header for a field of `ps` or `images`, else the field in capitals.
pub fn docker_header(kind: &str) -> impl Fn(&str) -> String + '_ {
    move |field: &str| {
        match (kind, field) {
            ("container", "ID") => "CONTAINER ID",
            ("image", "ID") => "IMAGE ID",
            (_, "RunningFor" | "CreatedSince") => "CREATED",
            (_, "CreatedAt") => "CREATED AT",
            _ => return field.to_uppercase(),
        }
        .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(template: &str, value: Value) -> String {
        match Template::parse(template).and_then(|t| t.render(&value)) {
            Ok(s) => s,
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn fields_json_and_errors() {
        let v = serde_json::json!({
            "ID": "abc", "State": {"Status": "running", "Pid": 7},
            "Env": ["A=1", "B=2"], "Labels": {"b": "2", "a": "1"}, "Gone": null
        });
        insta::assert_snapshot!(
            [
                check("{{.ID}} {{.State.Status}} {{.State.Pid}}", v.clone()),
                check("{{json .State}}", v.clone()),
                check("{{.Env}} {{.Labels}} {{.Gone}}", v.clone()),
                check("{{upper .State.Status}}\\t{{lower .ID}}", v.clone()),
                check("{{.Nope}}", v.clone()),
                check("{{.State.Nope}}", v.clone()),
                check("{{range .Env}}x{{end}}", v.clone()),
                check("{{.ID | upper}}", v.clone()),
                check("{{.ID", v.clone()),
                check("{{printf \"%s\" .ID}}", v),
            ]
            .join("\n"),
            @r#"
        abc running 7
        {"Pid":7,"Status":"running"}
        [A=1 B=2] map[a:1 b:2] <no value>
        RUNNING	abc
        error: `.` has no field `Nope`
        error: `.State` has no field `Nope`
        error: bad format `{{range .Env}}x{{end}}`: `range` is not supported
        error: bad format `{{.ID | upper}}`: `|` is not supported
        error: bad format `{{.ID`: `{{` is not closed by `}}`
        error: bad format `{{printf "%s" .ID}}`: `printf` is not supported
        "#
        );
    }

    #[test]
    fn table_aligns() {
        let t = Template::parse("table {{.ID}}\\t{{.Names}}").unwrap();
        let mut lines = vec![t.header(&docker_header("container"))];
        for (id, name) in [("0123456789ab", "merry_manatee"), ("ff", "x")] {
            lines.push(
                t.render(&serde_json::json!({"ID": id, "Names": name}))
                    .unwrap(),
            );
        }
        insta::assert_snapshot!(align(&lines), @r"
        CONTAINER ID   NAMES
        0123456789ab   merry_manatee
        ff             x
        ");
    }
}
