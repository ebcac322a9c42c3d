//! Requests about Dockerfiles: hover, definition (stages), symbols and completion, from the
//! syntax tree of the buffer.

use duckc_dockerfile::{Dockerfile, Instruction, InstructionKind, Span};
use lsp_types::{
    CompletionItem, CompletionItemKind, DocumentSymbol, Hover, HoverContents, Location,
    MarkupContent, MarkupKind, SymbolKind,
};

use crate::server::Open;

/// What each instruction does, for hover and completion.
fn instruction_doc(name: &str) -> &'static str {
    match name {
        "FROM" => {
            "Starts a stage from a base: an image, `scratch`, or an earlier stage (`AS NAME`)."
        }
        "RUN" => "Runs a command in the stage (`--mount=`, `--network=`).",
        "CMD" => "The image's default command.",
        "LABEL" => "Image labels: `KEY=value …`.",
        "MAINTAINER" => "Deprecated: use `LABEL org.opencontainers.image.authors=…`.",
        "EXPOSE" => "Ports the image says it listens on.",
        "ENV" => "Environment variables of later instructions and of the container.",
        "ADD" => "Copies files, URLs or archives (unpacked) into the stage.",
        "COPY" => "Copies files from the build context or another stage (`--from=`).",
        "ENTRYPOINT" => "The image's entrypoint.",
        "VOLUME" => "Paths the container gets volumes for.",
        "USER" => "The user of later instructions and of the container.",
        "WORKDIR" => "The working directory of later instructions and of the container.",
        "ARG" => "A build argument (`--build-arg NAME=value`), with an optional default.",
        "ONBUILD" => "An instruction run when another build uses this image as its base.",
        "STOPSIGNAL" => "The signal that stops the container.",
        "HEALTHCHECK" => "How to check that the container still works.",
        "SHELL" => "The shell that runs shell-form commands.",
        _ => "",
    }
}

/// The flags each instruction takes.
fn flags(name: &str) -> &'static [&'static str] {
    match name {
        "FROM" => &["platform"],
        "RUN" => &["mount", "network", "security"],
        "COPY" => &["from", "chown", "chmod", "link", "parents", "exclude"],
        "ADD" => &[
            "chown",
            "chmod",
            "link",
            "checksum",
            "keep-git-dir",
            "unpack",
            "exclude",
        ],
        "HEALTHCHECK" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        _ => &[],
    }
}

/// The stages: each `FROM`, its name, and the span up to the next `FROM`.
struct Stage<'a> {
    from: &'a Instruction,
    name: Option<&'a duckc_dockerfile::Spanned<String>>,
    image: &'a duckc_dockerfile::Spanned<String>,
    span: Span,
}

fn stages(file: &Dockerfile) -> Vec<Stage<'_>> {
    let mut out: Vec<Stage<'_>> = Vec::new();
    for ins in &file.instructions {
        if let InstructionKind::From(f) = &ins.kind {
            out.push(Stage {
                from: ins,
                name: f.name.as_ref(),
                image: &f.image,
                span: ins.span,
            });
        } else if let Some(last) = out.last_mut() {
            last.span = last.span.cover(ins.span);
        }
    }
    out
}

fn inside(span: Span, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

/// The stage a `FROM` image or `--from=` names, by name or index, before `before`.
fn stage_named<'a>(stages: &'a [Stage<'a>], name: &str, before: usize) -> Option<&'a Stage<'a>> {
    let mut earlier = stages.iter().filter(|s| s.span.start < before);
    if let Ok(i) = name.parse::<usize>() {
        return earlier.nth(i);
    }
    let name = name.to_lowercase();
    earlier.rfind(|s| s.name.is_some_and(|n| n.value == name))
}

/// The stage name under the cursor: a `FROM` image or a `COPY --from=`.
fn stage_reference(file: &Dockerfile, offset: usize) -> Option<(&str, usize)> {
    for ins in &file.instructions {
        if !inside(ins.span, offset) {
            continue;
        }
        match &ins.kind {
            InstructionKind::From(f) if inside(f.image.span, offset) => {
                return Some((&f.image.value, ins.span.start));
            }
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                let from = c.from.as_ref().filter(|f| inside(f.span, offset))?;
                return Some((&from.value, ins.span.start));
            }
            _ => return None,
        }
    }
    None
}

pub(crate) fn hover(open: &Open, offset: usize) -> Option<Hover> {
    let file = duckc_dockerfile::parse(&open.doc.text);
    let all = stages(&file);
    let markdown = |value: String| Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: None,
    };
    if let Some((name, before)) = stage_reference(&file, offset) {
        if let Some(stage) = stage_named(&all, name, before) {
            let index = all.iter().position(|s| std::ptr::eq(s, stage)).unwrap_or(0);
            return Some(markdown(format!(
                "**stage {index}**{} from `{}`",
                stage
                    .name
                    .map(|n| format!(" `{}`", n.value))
                    .unwrap_or_default(),
                stage.image.value
            )));
        }
        return Some(markdown(format!("**image** `{name}`")));
    }
    let ins = file
        .instructions
        .iter()
        .find(|i| inside(i.keyword.span, offset))?;
    let name = ins.name();
    let flags = flags(name)
        .iter()
        .map(|f| format!("`--{f}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let flags = if flags.is_empty() {
        String::new()
    } else {
        format!("\n\nflags: {flags}")
    };
    Some(markdown(format!(
        "**{name}**: {}{flags}",
        instruction_doc(name)
    )))
}

pub(crate) fn definition(open: &Open, offset: usize) -> Option<Location> {
    let file = duckc_dockerfile::parse(&open.doc.text);
    let all = stages(&file);
    let (name, before) = stage_reference(&file, offset)?;
    let stage = stage_named(&all, name, before)?;
    let span = stage.name.map_or(stage.from.span, |n| n.span);
    Some(Location::new(
        open.uri.clone(),
        open.doc.range(span.start, span.end),
    ))
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out.
pub(crate) fn symbols(open: &Open) -> Vec<DocumentSymbol> {
    let file = duckc_dockerfile::parse(&open.doc.text);
    stages(&file)
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let selection = s.name.map_or(s.image.span, |n| n.span);
            DocumentSymbol {
                name: s
                    .name
                    .map_or_else(|| format!("stage {i}"), |n| n.value.clone()),
                detail: Some(format!("FROM {}", s.image.value)),
                kind: SymbolKind::CLASS,
                tags: None,
                deprecated: None,
                range: open.doc.range(s.span.start, s.span.end),
                selection_range: open.doc.range(selection.start, selection.end),
                children: None,
            }
        })
        .collect()
}

pub(crate) fn completion(open: &Open, offset: usize) -> Vec<CompletionItem> {
    let text = &open.doc.text;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let words: Vec<&str> = before.split_whitespace().collect();
    let item = |label: String, kind, detail: &str| CompletionItem {
        label,
        kind: Some(kind),
        detail: (!detail.is_empty()).then(|| detail.to_owned()),
        ..Default::default()
    };
    if words.len() <= 1 && !before.ends_with(' ') || words.is_empty() {
        return duckc_dockerfile::INSTRUCTIONS
            .iter()
            .map(|i| {
                item(
                    (*i).to_owned(),
                    CompletionItemKind::KEYWORD,
                    instruction_doc(i),
                )
            })
            .collect();
    }
    let instruction = words[0].to_uppercase();
    let last = words.last().copied().unwrap_or_default();
    if let Some(prefix) = last
        .strip_prefix("--from=")
        .filter(|_| !before.ends_with(' '))
    {
        let file = duckc_dockerfile::parse(text);
        return stages(&file)
            .iter()
            .filter(|s| s.span.start < line_start)
            .filter_map(|s| s.name.map(|n| n.value.clone()))
            .filter(|n| n.starts_with(prefix))
            .map(|n| item(n, CompletionItemKind::CLASS, "stage"))
            .collect();
    }
    if last.starts_with('-') && !before.ends_with(' ') {
        return flags(&instruction)
            .iter()
            .map(|f| {
                let mut c = item(format!("--{f}"), CompletionItemKind::PROPERTY, "flag");
                c.insert_text = Some(format!("--{f}="));
                c.filter_text = Some(format!("--{f}"));
                c
            })
            .collect();
    }
    Vec::new()
}
