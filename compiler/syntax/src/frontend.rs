//! The KDL frontend: spec text in, a [`SourceFile`] and diagnostics out. It never fails.
//!
//! Three passes over the text: the nesting pre-scan ([`crate::depth`]), the `kdl` parser, and a
//! walk over the KDL nodes that checks each against the shape of the spec language (node names,
//! argument counts and types, properties). A KDL syntax error stops after the second pass and
//! marks the file broken, because `kdl` returns no partial document: reporting "missing" nodes
//! after a syntax error would only be noise.

use kdl::{KdlDocument, KdlEntry, KdlNode, KdlValue};

use crate::ast::*;
use crate::depth::check_nesting;
use crate::suggest::nearest;
use crate::{Code, Diagnostic, Span};

/// The result of parsing: always a tree, plus everything that was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parse {
    pub file: SourceFile,
    /// Sorted by position.
    pub diagnostics: Vec<Diagnostic>,
}

/// Parses a spec. Never fails and never panics, whatever the input.
pub fn parse(text: &str) -> Parse {
    if let Some(d) = check_nesting(text) {
        return Parse {
            file: SourceFile {
                items: Vec::new(),
                broken: true,
            },
            diagnostics: vec![d],
        };
    }
    let doc = match KdlDocument::parse_v2(text) {
        Ok(doc) => doc,
        Err(err) => {
            let mut diagnostics = kdl_diagnostics(text, &err);
            diagnostics.sort_by_key(|d| (d.span(), d.message.clone()));
            diagnostics.dedup();
            return Parse {
                file: SourceFile {
                    items: Vec::new(),
                    broken: true,
                },
                diagnostics,
            };
        }
    };
    let mut cx = Cx {
        text,
        diagnostics: Vec::new(),
    };
    let items = doc.nodes().iter().filter_map(|n| cx.item(n)).collect();
    let mut diagnostics = cx.diagnostics;
    diagnostics.sort_by_key(|d| d.span());
    Parse {
        file: SourceFile {
            items,
            broken: false,
        },
        diagnostics,
    }
}

/// The top-level node names.
pub const ITEM_KEYWORDS: &[&str] = &["env", "import"];

/// What one kind of step looks like: how many arguments, which properties, and an example of
/// valid input for the `help:` line.
struct Shape {
    keyword: &'static str,
    min: usize,
    max: Option<usize>,
    props: &'static [&'static str],
    example: &'static str,
}

const STEPS: &[Shape] = &[
    Shape {
        keyword: "from",
        min: 1,
        max: Some(1),
        props: &[],
        example: "from \"std/scratch:base\"",
    },
    Shape {
        keyword: "platform",
        min: 1,
        max: None,
        props: &[],
        example: "platform \"linux/amd64\" \"linux/arm64\"",
    },
    Shape {
        keyword: "packages",
        min: 1,
        max: None,
        props: &["apt-sources"],
        example: "packages \"ca-certificates\" \"python3\"",
    },
    Shape {
        keyword: "copy",
        min: 2,
        max: None,
        props: &["chown", "chmod", "from"],
        example: "copy \"src/\" \"/app/\" chown=\"1000:1000\" chmod=\"0644\"",
    },
    Shape {
        keyword: "run",
        min: 1,
        max: None,
        props: &["network"],
        example: "run \"make\" \"-j4\" network=\"host\"",
    },
    Shape {
        keyword: "env",
        min: 0,
        max: Some(0),
        props: &[],
        example: "env PYTHONUNBUFFERED=\"1\" LANG=\"C.UTF-8\"",
    },
    Shape {
        keyword: "workdir",
        min: 1,
        max: Some(1),
        props: &[],
        example: "workdir \"/app\"",
    },
    Shape {
        keyword: "user",
        min: 1,
        max: Some(1),
        props: &[],
        example: "user \"1000:1000\"",
    },
    Shape {
        keyword: "entrypoint",
        min: 0,
        max: None,
        props: &[],
        example: "entrypoint \"python3\" \"main.py\"",
    },
    Shape {
        keyword: "cmd",
        min: 0,
        max: None,
        props: &[],
        example: "cmd \"--help\"",
    },
    Shape {
        keyword: "label",
        min: 2,
        max: Some(2),
        props: &[],
        example: "label \"org.opencontainers.image.source\" \"https://example.org/duck\"",
    },
    Shape {
        keyword: "expose",
        min: 1,
        max: None,
        props: &[],
        example: "expose 8080 \"53/udp\"",
    },
    Shape {
        keyword: "tag",
        min: 1,
        max: None,
        props: &[],
        example: "tag \"your/duck:v3\"",
    },
];

/// The node names allowed inside an env.
pub fn step_keywords() -> impl Iterator<Item = &'static str> {
    STEPS.iter().map(|s| s.keyword)
}

/// The properties a step takes (`copy`: `chown`, `chmod`, `from`); none for an unknown one.
pub fn step_properties(keyword: &str) -> &'static [&'static str] {
    STEPS
        .iter()
        .find(|s| s.keyword == keyword)
        .map_or(&[], |s| s.props)
}

/// An example of a valid step (what its `help:` lines show).
pub fn step_example(keyword: &str) -> Option<&'static str> {
    STEPS
        .iter()
        .find(|s| s.keyword == keyword)
        .map(|s| s.example)
}

/// Architectures a `platform` may name (OCI `GOARCH` values).
struct Cx<'t> {
    text: &'t str,
    diagnostics: Vec<Diagnostic>,
}

/// A node's entries split into arguments and properties, with the span of each value.
struct Entries<'a> {
    args: Vec<(&'a KdlValue, Span)>,
    props: Vec<(&'a str, Span, &'a KdlValue, Span)>,
}

impl<'t> Cx<'t> {
    fn push(&mut self, d: Diagnostic) {
        self.diagnostics.push(d);
    }

    /// The span of a node without trailing whitespace or `;`.
    fn node_span(&self, node: &KdlNode) -> Span {
        let s = Span::from(node.span());
        let end = s.start
            + self
                .text
                .get(s.start..s.end)
                .unwrap_or("")
                .trim_end_matches([' ', '\t', '\n', '\r', ';'])
                .len();
        Span::new(s.start, end.max(s.start))
    }

    /// The span of a node up to (not including) its children block.
    fn head_span(&self, node: &KdlNode) -> Span {
        let name = Span::from(node.name().span());
        let end = node
            .entries()
            .iter()
            .map(|e| Span::from(e.span()).end)
            .max()
            .unwrap_or(name.end);
        Span::new(name.start, end.max(name.end))
    }

    /// The span of a node's children block, `{` to `}`.
    fn children_span(&self, node: &KdlNode) -> Span {
        let head = self.head_span(node);
        let node_end = self.node_span(node).end;
        let open = self
            .text
            .get(head.end..node_end)
            .and_then(|t| t.find('{'))
            .map(|i| head.end + i);
        Span::new(open.unwrap_or(head.end), node_end)
    }

    fn entries<'a>(&mut self, node: &'a KdlNode) -> Entries<'a> {
        if let Some(ty) = node.ty() {
            self.push(type_annotation(ty.span().into()));
        }
        let mut entries = Entries {
            args: Vec::new(),
            props: Vec::new(),
        };
        for entry in node.entries() {
            if let Some(ty) = entry.ty() {
                self.push(type_annotation(ty.span().into()));
            }
            match entry.name() {
                None => entries.args.push((entry.value(), entry.span().into())),
                Some(name) => {
                    let value_span = self.prop_value_span(entry);
                    entries.props.push((
                        name.value(),
                        name.span().into(),
                        entry.value(),
                        value_span,
                    ));
                }
            }
        }
        entries
    }

    /// The span of a property's value: what follows the `=` (KDL allows spaces around it).
    fn prop_value_span(&self, entry: &KdlEntry) -> Span {
        let whole = Span::from(entry.span());
        let name_end = entry
            .name()
            .map_or(whole.start, |n| Span::from(n.span()).end);
        let rest = self.text.get(name_end..whole.end).unwrap_or("");
        let after_eq = rest.find('=').map_or(0, |i| i + 1);
        let skipped = rest[after_eq..].len() - rest[after_eq..].trim_start().len();
        Span::new((name_end + after_eq + skipped).min(whole.end), whole.end)
    }

    fn item(&mut self, node: &KdlNode) -> Option<Item> {
        let name = node.name().value();
        let name_span = Span::from(node.name().span());
        match name {
            "env" => self.env(node).map(Item::Env),
            "import" => self.import(node),
            _ => {
                let d = if step_keywords().any(|k| k == name) {
                    Diagnostic::error_at(
                        Code::UnknownNode,
                        format!("`{name}` belongs inside an env"),
                        name_span,
                        "not inside an env",
                    )
                    .with_help(format!(
                        "move it into an env block: `env \"app\" {{ {name} … }}`"
                    ))
                } else {
                    unknown_node(
                        name,
                        name_span,
                        ITEM_KEYWORDS.iter().copied(),
                        "at the top level",
                    )
                    .with_help(
                        "the top level holds `import \"std/NAME\"` and `env \"NAME\" { … }` nodes",
                    )
                };
                self.push(d);
                None
            }
        }
    }

    fn import(&mut self, node: &KdlNode) -> Option<Item> {
        const EXAMPLE: &str = "import \"std/busybox\"";
        let entries = self.entries(node);
        self.no_props(&entries, "import", &[], EXAMPLE);
        self.no_children(node, EXAMPLE);
        let args = self.count(node, &entries, 1, Some(1), "import", EXAMPLE)?;
        let path = self.string(args[0], EXAMPLE)?;
        if path.value.is_empty() {
            self.push(invalid(path.span, "an empty import path", "empty", EXAMPLE));
            return None;
        }
        Some(Item::Import(Import {
            path,
            span: self.node_span(node),
        }))
    }

    fn env(&mut self, node: &KdlNode) -> Option<EnvDef> {
        const EXAMPLE: &str = "env \"app\" { from \"std/scratch:base\" }";
        let entries = self.entries(node);
        self.no_props(&entries, "env", &[], EXAMPLE);
        let args = self.count(node, &entries, 1, Some(1), "env", EXAMPLE);
        let name = args.and_then(|a| self.string(a[0], EXAMPLE));
        let name = match name {
            Some(n) if !valid_env_name(&n.value) => {
                self.push(
                    Diagnostic::error_at(
                        Code::InvalidValue,
                        format!("`{}` is not a valid env name", n.value),
                        n.span,
                        "not an env name",
                    )
                    .with_help(
                        "env names are letters, digits, `_`, `.` and `-`, start with a letter or digit, and are not `scratch`: `env \"app\" { … }`",
                    ),
                );
                None
            }
            n => n,
        };
        let mut steps = Vec::new();
        let mut from: Option<Span> = None;
        let mut platform: Option<Span> = None;
        let mut saw_from_node = false;
        for child in node.iter_children() {
            let keyword = child.name().value();
            // A misspelt `from` is reported as such; "no `from`" on top would be noise.
            saw_from_node |= keyword == "from" || nearest(keyword, ["from"]).is_some();
            let Some(step) = self.step(child) else {
                continue;
            };
            let first = match step.kind {
                StepKind::From(_) => &mut from,
                StepKind::Platform(_) => &mut platform,
                _ => {
                    steps.push(step);
                    continue;
                }
            };
            if let Some(first_span) = *first {
                self.push(
                    Diagnostic::error_at(
                        Code::DuplicateNode,
                        format!("`{keyword}` is given twice in one env"),
                        step.keyword,
                        "given again here",
                    )
                    .with_label(first_span, "first given here")
                    .with_help(format!("keep one `{keyword}` per env")),
                );
                continue;
            }
            *first = Some(step.keyword);
            steps.push(step);
        }
        let name = name?;
        if !saw_from_node {
            self.push(
                Diagnostic::error_at(
                    Code::MissingFrom,
                    format!("env `{}` has no `from`", name.value),
                    name.span,
                    "this env has no base",
                )
                .with_help(format!(
                    "start the env with its base, e.g. `env \"{}\" {{ from \"scratch\" }}` for an empty one",
                    name.value
                )),
            );
        }
        Some(EnvDef {
            name,
            span: self.node_span(node),
            steps,
        })
    }

    fn step(&mut self, node: &KdlNode) -> Option<Step> {
        let keyword = node.name().value();
        let keyword_span = Span::from(node.name().span());
        let Some(shape) = STEPS.iter().find(|s| s.keyword == keyword) else {
            let d = if keyword == "import" {
                Diagnostic::error_at(
                    Code::UnknownNode,
                    "`import` belongs at the top level",
                    keyword_span,
                    "not at the top level",
                )
                .with_help("move it out of the env, before the envs: `import \"std/busybox\"`")
            } else {
                let valid: Vec<_> = step_keywords().map(|k| format!("`{k}`")).collect();
                unknown_node(keyword, keyword_span, step_keywords(), "inside an env")
                    .with_help(format!("an env holds {}", valid.join(", ")))
            };
            self.push(d);
            return None;
        };
        let entries = self.entries(node);
        let before = self.diagnostics.len();
        self.no_children(node, shape.example);
        if keyword != "env" {
            // the `env` step is made of properties only
            self.no_props(&entries, keyword, shape.props, shape.example);
        }
        let args = self.count(node, &entries, shape.min, shape.max, keyword, shape.example)?;
        let head = self.head_span(node);
        let kind = self.step_kind(keyword, head, &args, &entries, shape.example);
        let kind = kind.filter(|_| self.diagnostics.len() == before)?;
        let mut values: Vec<Span> = args.iter().map(|(_, s)| *s).collect();
        values.extend(entries.props.iter().map(|p| p.3));
        Some(Step {
            kind,
            span: self.node_span(node),
            keyword: keyword_span,
            values,
        })
    }

    fn step_kind(
        &mut self,
        keyword: &str,
        head: Span,
        args: &[(&KdlValue, Span)],
        entries: &Entries<'_>,
        example: &str,
    ) -> Option<StepKind> {
        Some(match keyword {
            "from" => {
                let base = self.string(args[0], example)?;
                if base.value.is_empty() {
                    self.push(invalid(base.span, "an empty `from`", "empty", example));
                    return None;
                }
                StepKind::From(base)
            }
            "platform" => {
                let platforms = self.strings(args, example)?;
                for p in &platforms {
                    if !valid_platform(&p.value) {
                        self.push(
                            Diagnostic::error_at(
                                Code::InvalidValue,
                                format!("`{}` is not a platform", p.value),
                                p.span,
                                "not OS/ARCH",
                            )
                            .with_help(format!(
                                "write `linux/ARCH` with ARCH one of {}: `platform \"linux/amd64\"`",
                                duckc_platform::oci_names().join(", ")
                            )),
                        );
                    }
                }
                StepKind::Platform(platforms)
            }
            "packages" => {
                let packages = self.strings(args, example)?;
                for p in &packages {
                    if !valid_package(&p.value) {
                        self.push(
                            Diagnostic::error_at(
                                Code::InvalidValue,
                                format!("`{}` is not a package name or pattern", p.value),
                                p.span,
                                "not a package",
                            )
                            .with_help(
                                "write a Debian package (`python3`, `python3=3.11.2-1`, `libc6:amd64`) or a pattern (`?essential`, `?priority(required)`)",
                            ),
                        );
                    }
                }
                let mut apt_sources = false;
                for &(name, _, value, span) in &entries.props {
                    if name == "apt-sources" {
                        match value {
                            KdlValue::Bool(b) => apt_sources = *b,
                            _ => {
                                self.push(
                                    Diagnostic::error_at(
                                        Code::InvalidValue,
                                        "`apt-sources` is `#true` or `#false`",
                                        span,
                                        "not a boolean",
                                    )
                                    .with_help("write `packages \"apt\" apt-sources=#true`"),
                                );
                                return None;
                            }
                        }
                    }
                }
                StepKind::Packages(packages, apt_sources)
            }
            "copy" => StepKind::Copy(self.copy(args, entries, example)?),
            "run" => {
                let strings = self.strings(args, example)?;
                let command = if strings.len() == 1 {
                    Command::Shell(strings.into_iter().next()?)
                } else {
                    Command::Exec(strings)
                };
                let mut network = None;
                for &(name, _, value, span) in &entries.props {
                    if name == "network" {
                        let v = self.string((value, span), example)?;
                        network = Some(match v.value.as_str() {
                            "none" => Spanned::new(Network::None, v.span),
                            "host" => Spanned::new(Network::Host, v.span),
                            "bridge" => Spanned::new(Network::Bridge, v.span),
                            other => {
                                self.push(
                                    Diagnostic::error_at(
                                        Code::InvalidValue,
                                        format!("`{other}` is not a network mode"),
                                        v.span,
                                        "not `none`, `bridge` or `host`",
                                    )
                                    .with_help("write `network=\"none\"` (the default), `network=\"bridge\"` or `network=\"host\"`"),
                                );
                                return None;
                            }
                        });
                    }
                }
                StepKind::Run(Run { command, network })
            }
            "env" => {
                if entries.props.is_empty() {
                    self.push(
                        Diagnostic::error_at(
                            Code::ArgumentCount,
                            "`env` sets no variable",
                            head,
                            "no `KEY=\"value\"`",
                        )
                        .with_help(format!("write `{example}`")),
                    );
                    return None;
                }
                let mut vars = Vec::new();
                for &(name, name_span, value, span) in &entries.props {
                    if !valid_env_key(name) {
                        self.push(invalid(
                            name_span,
                            &format!("`{name}` as a variable name"),
                            "not a variable name",
                            example,
                        ));
                        continue;
                    }
                    let v = self.string((value, span), example)?;
                    vars.push((Spanned::new(name.to_owned(), name_span), v));
                }
                StepKind::Env(vars)
            }
            "workdir" => {
                let dir = self.string(args[0], example)?;
                if dir.value.is_empty() {
                    self.push(invalid(dir.span, "an empty `workdir`", "empty", example));
                }
                StepKind::Workdir(dir)
            }
            "user" => {
                let user = self.string(args[0], example)?;
                if !valid_user(&user.value) {
                    self.push(invalid(
                        user.span,
                        &format!("`{}` as a user", user.value),
                        "not USER[:GROUP]",
                        example,
                    ));
                }
                StepKind::User(user)
            }
            "entrypoint" => StepKind::Entrypoint(self.strings(args, example)?),
            "cmd" => StepKind::Cmd(self.strings(args, example)?),
            "label" => {
                let key = self.string(args[0], example)?;
                let value = self.string(args[1], example)?;
                if key.value.is_empty() {
                    self.push(invalid(key.span, "an empty label key", "empty", example));
                }
                StepKind::Label(key, value)
            }
            "expose" => {
                let mut ports = Vec::new();
                for &(value, span) in args {
                    match parse_port(value) {
                        Some(port) => ports.push(Spanned::new(port, span)),
                        None => self.push(
                            Diagnostic::error_at(
                                Code::InvalidValue,
                                format!("`{}` is not a port", self.text.get(span.start..span.end).unwrap_or("").trim_matches('"')),
                                span,
                                "not PORT or PORT/PROTOCOL",
                            )
                                .with_help("write a port from 1 to 65535, optionally with `/tcp`, `/udp` or `/sctp`: `expose 8080 \"53/udp\"`"),
                        ),
                    }
                }
                StepKind::Expose(ports)
            }
            "tag" => {
                let tags = self.strings(args, example)?;
                for t in &tags {
                    if crate::reference::parse_image_ref(&t.value).is_none()
                        || t.value.contains('@')
                    {
                        self.push(
                            Diagnostic::error_at(
                                Code::InvalidValue,
                                format!("`{}` is not an image name", t.value),
                                t.span,
                                "not NAME[:TAG]",
                            )
                            .with_help("names are lowercase `/`-separated parts with an optional `:TAG`: `tag \"your/duck:v3\"`"),
                        );
                    }
                }
                StepKind::Tag(tags)
            }
            _ => return None,
        })
    }

    fn copy(
        &mut self,
        args: &[(&KdlValue, Span)],
        entries: &Entries<'_>,
        example: &str,
    ) -> Option<Copy> {
        let mut strings = self.strings(args, example)?;
        let destination = strings.pop()?;
        let mut ok = true;
        // With `from=`, sources are paths in another env's filesystem: any path goes.
        let from_env = entries.props.iter().any(|&(name, ..)| name == "from");
        for source in strings.iter().filter(|_| !from_env) {
            let bad = source.value.is_empty()
                || source.value.starts_with('/')
                || source.value.split('/').any(|c| c == "..");
            if bad {
                ok = false;
                self.push(
                    Diagnostic::error_at(
                        Code::InvalidValue,
                        format!("copy source `{}` is not inside the build context", source.value),
                        source.span,
                        "not a path inside the build context",
                    )
                    .with_help("sources are relative to the spec's directory, without `..`: `copy \"src/\" \"/app/\"`"),
                );
            }
        }
        if destination.value.is_empty() {
            ok = false;
            self.push(invalid(
                destination.span,
                "an empty copy destination",
                "empty",
                example,
            ));
        } else if strings.len() > 1 && !destination.value.ends_with('/') {
            ok = false;
            self.push(
                Diagnostic::error_at(
                    Code::InvalidValue,
                    "a copy of several sources needs a directory destination",
                    destination.span,
                    "does not end in `/`",
                )
                .with_help(format!(
                    "end the destination with `/`: `copy \"a\" \"b\" \"{}/\"`",
                    destination.value
                )),
            );
        }
        let (mut chown, mut chmod, mut from) = (None, None, None);
        for &(name, _, value, span) in &entries.props {
            let v = self.string((value, span), example)?;
            match name {
                "chown" if valid_user(&v.value) => chown = Some(v),
                "chown" => {
                    ok = false;
                    self.push(invalid(
                        v.span,
                        &format!("`{}` as an owner", v.value),
                        "not USER[:GROUP]",
                        "copy \"src/\" \"/app/\" chown=\"1000:1000\"",
                    ));
                }
                "chmod" => {
                    match parse_mode(&v.value) {
                        Some(mode) => chmod = Some(Spanned::new(mode, v.span)),
                        None => {
                            ok = false;
                            self.push(
                            Diagnostic::error_at(
                                Code::InvalidValue,
                                format!("`{}` is not an octal mode", v.value),
                                v.span,
                                "not an octal mode",
                            )
                            .with_help("write the mode as an octal string up to 7777: `chmod=\"0755\"`"),
                        );
                        }
                    }
                }
                "from" if !v.value.is_empty() => from = Some(v),
                "from" => {
                    ok = false;
                    self.push(invalid(
                        v.span,
                        "an empty `from`",
                        "names no env",
                        "copy \"/out/app\" \"/app\" from=\"builder\"",
                    ));
                }
                _ => {} // reported as an unknown property
            }
        }
        ok.then_some(Copy {
            sources: strings,
            destination,
            chown,
            chmod,
            from,
        })
    }

    /// Checks the argument count; returns the arguments when it is right.
    fn count<'a>(
        &mut self,
        node: &KdlNode,
        entries: &Entries<'a>,
        min: usize,
        max: Option<usize>,
        keyword: &str,
        example: &str,
    ) -> Option<Vec<(&'a KdlValue, Span)>> {
        let n = entries.args.len();
        let expected = match (min, max) {
            (a, Some(b)) if a == b => plural(a, "argument"),
            (a, None) => format!("at least {}", plural(a, "argument")),
            (a, Some(b)) => format!("{a} to {b} arguments"),
        };
        if n < min {
            self.push(
                Diagnostic::error_at(
                    Code::ArgumentCount,
                    format!("`{keyword}` takes {expected}, found {n}"),
                    self.head_span(node),
                    format!("{} missing", plural(min - n, "argument")),
                )
                .with_help(format!("write `{example}`")),
            );
            return None;
        }
        if let Some(max) = max.filter(|&m| n > m) {
            let extra = Span::new(entries.args[max].1.start, entries.args[n - 1].1.end);
            self.push(
                Diagnostic::error_at(
                    Code::ArgumentCount,
                    format!("`{keyword}` takes {expected}, found {n}"),
                    extra,
                    if n - max == 1 {
                        "unexpected argument".to_owned()
                    } else {
                        "unexpected arguments".to_owned()
                    },
                )
                .with_help(format!("write `{example}`")),
            );
            return None;
        }
        Some(entries.args.clone())
    }

    fn no_props(&mut self, entries: &Entries<'_>, keyword: &str, allowed: &[&str], example: &str) {
        for &(name, name_span, _, _) in &entries.props {
            if allowed.contains(&name) {
                continue;
            }
            let suggestion = nearest(name, allowed.iter().copied());
            let label = match suggestion {
                Some(s) => format!("did you mean `{s}`?"),
                None => "unknown property".to_owned(),
            };
            let help = if allowed.is_empty() {
                format!("`{keyword}` takes no properties: `{example}`")
            } else {
                let list: Vec<_> = allowed.iter().map(|p| format!("`{p}`")).collect();
                format!("`{keyword}` takes {}: `{example}`", list.join(", "))
            };
            let mut d = Diagnostic::error_at(
                Code::UnknownProperty,
                format!("unknown property `{name}` on `{keyword}`"),
                name_span,
                label,
            )
            .with_help(help);
            if let Some(s) = suggestion {
                d = d.with_suggestion(name_span, s);
            }
            self.push(d);
        }
    }

    fn no_children(&mut self, node: &KdlNode, example: &str) {
        if node.children().is_some() {
            let keyword = node.name().value();
            self.push(
                Diagnostic::error_at(
                    Code::UnexpectedChildren,
                    format!("`{keyword}` takes no children block"),
                    self.children_span(node),
                    "unexpected block",
                )
                .with_help(format!("write `{example}`")),
            );
        }
    }

    fn string(
        &mut self,
        (value, span): (&KdlValue, Span),
        example: &str,
    ) -> Option<Spanned<String>> {
        match value {
            KdlValue::String(s) => Some(Spanned::new(s.clone(), span)),
            other => {
                let found = match other {
                    KdlValue::Integer(_) => "an integer",
                    KdlValue::Float(_) => "a number",
                    KdlValue::Bool(_) => "a boolean",
                    _ => "`#null`",
                };
                let text = self.text.get(span.start..span.end).unwrap_or("").to_owned();
                self.push(
                    Diagnostic::error_at(
                        Code::InvalidValue,
                        format!("expected a string, found {found}"),
                        span,
                        "not a string",
                    )
                    .with_help(format!(
                        "quote it: `\"{}\"`; for example `{example}`",
                        text.trim_start_matches('#')
                    )),
                );
                None
            }
        }
    }

    fn strings(
        &mut self,
        args: &[(&KdlValue, Span)],
        example: &str,
    ) -> Option<Vec<Spanned<String>>> {
        let mut out = Vec::new();
        let mut ok = true;
        for &arg in args {
            match self.string(arg, example) {
                Some(s) => out.push(s),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn unknown_node<'a>(
    name: &str,
    span: Span,
    candidates: impl Iterator<Item = &'a str>,
    place: &str,
) -> Diagnostic {
    let suggestion = nearest(name, candidates);
    let label = match suggestion {
        Some(s) => format!("did you mean `{s}`?"),
        None => "unknown node".to_owned(),
    };
    let d = Diagnostic::error_at(
        Code::UnknownNode,
        format!("unknown node `{name}` {place}"),
        span,
        label,
    );
    match suggestion {
        Some(s) => d.with_suggestion(span, s),
        None => d,
    }
}

fn invalid(span: Span, what: &str, label: &str, example: &str) -> Diagnostic {
    Diagnostic::error_at(
        Code::InvalidValue,
        format!("{what} is not valid here"),
        span,
        label,
    )
    .with_help(format!("write `{example}`"))
}

fn type_annotation(span: Span) -> Diagnostic {
    Diagnostic::error_at(
        Code::InvalidValue,
        "type annotations have no meaning in a spec",
        span,
        "type annotation",
    )
    .with_help("remove the `(type)` prefix: `run \"make\"`")
}

/// Env names: `[A-Za-z0-9][A-Za-z0-9_.-]*`, not `scratch` (which always means the empty base).
pub fn valid_env_name(name: &str) -> bool {
    name != "scratch"
        && name
            .as_bytes()
            .first()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// Whether `p` is a platform duckc builds for: `linux/ARCH[/VARIANT]`, a row of the platform
/// table (`duckc_platform::ARCHES`).
pub fn valid_platform(p: &str) -> bool {
    duckc_platform::Arch::by_platform(p).is_some()
}

/// A package request as `apt-get install` takes it: `name`, `name:arch`, `name=version`, or the
/// patterns `?essential` and `?priority(required|important|standard)`.
fn valid_package(p: &str) -> bool {
    if let Some(pattern) = p.strip_prefix('?') {
        return matches!(
            pattern,
            "essential" | "priority(required)" | "priority(important)" | "priority(standard)"
        );
    }
    let (name, version) = p.split_once('=').map_or((p, None), |(n, v)| (n, Some(v)));
    let name = name.split_once(':').map_or(name, |(n, _)| n);
    let version_ok = version.is_none_or(|v| {
        !v.is_empty()
            && v.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.~:".contains(&b))
    });
    version_ok
        && name.len() >= 2
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn valid_env_key(k: &str) -> bool {
    k.as_bytes()
        .first()
        .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn valid_user(u: &str) -> bool {
    let ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
    };
    match u.split_once(':') {
        Some((user, group)) => ok(user) && ok(group),
        None => ok(u),
    }
}

/// Parses an octal mode such as `0755` or `644`.
pub fn parse_mode(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 4 || !s.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u32::from_str_radix(s, 8).ok()
}

fn parse_port(value: &KdlValue) -> Option<Port> {
    let (number, protocol) = match value {
        KdlValue::Integer(n) => (u16::try_from(*n).ok()?, Protocol::Tcp),
        KdlValue::String(s) => {
            let (n, proto) = s.split_once('/').unwrap_or((s, "tcp"));
            let protocol = match proto {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                "sctp" => Protocol::Sctp,
                _ => return None,
            };
            (n.parse().ok()?, protocol)
        }
        _ => return None,
    };
    (number != 0).then_some(Port { number, protocol })
}

/// Converts `kdl`'s parse errors, narrowing spans that cover more than the mistake.
fn kdl_diagnostics(text: &str, err: &kdl::KdlError) -> Vec<Diagnostic> {
    let has_unclosed_block = err
        .diagnostics
        .iter()
        .any(|d| d.message.as_deref() == Some("No closing '}' for child block"));
    err.diagnostics
        .iter()
        .filter(|d| !(has_unclosed_block && d.message.as_deref() == Some("Closing '}' was not found after nodes")))
        .map(|d| {
            let raw = d.message.as_deref().unwrap_or("invalid KDL");
            let mut message = raw.trim_end_matches('.').to_owned();
            if let Some(first) = message.get(..1) {
                message.replace_range(..1, &first.to_lowercase());
            }
            let span = narrow(text, Span::from(d.span), raw);
            let label = d.label.clone().unwrap_or_else(|| "here".to_owned());
            let help = d.help.clone().unwrap_or_else(|| {
                "specs are KDL 2.0: `node \"argument\" key=\"value\" { child }`; see docs/spec.md".to_owned()
            });
            Diagnostic::error_at(Code::KdlSyntax, message, span, label).with_help(help)
        })
        .collect()
}

/// `kdl` sometimes reports a span from the start of the enclosing node to the error (a bad
/// property value spans the whole `env` block before it). Multi-line spans are narrowed to their
/// last token, which is where the parser stopped; "not closed" errors to their first character.
fn narrow(text: &str, span: Span, message: &str) -> Span {
    let start = span.start.min(text.len());
    let end = span.end.min(text.len()).max(start);
    let Some(covered) = text.get(start..end) else {
        return Span::new(start, end);
    };
    if !covered.contains('\n') {
        return Span::new(start, end);
    }
    if message.contains("not found") || message.contains("closing") {
        let first = covered
            .char_indices()
            .find(|(_, c)| !c.is_whitespace())
            .map_or(0, |(i, _)| i);
        let len = covered[first..].chars().next().map_or(0, char::len_utf8);
        return Span::new(start + first, start + first + len);
    }
    let trimmed = covered.trim_end();
    let token_start = trimmed.rfind(char::is_whitespace).map_or(0, |i| i + 1);
    Span::new(start + token_start, start + trimmed.len())
}
