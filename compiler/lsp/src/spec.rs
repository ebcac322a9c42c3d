//! Requests about KDL specs: hover, definition, symbols and completion, from the syntax tree
//! of the buffer and the spec's database.

use std::collections::BTreeSet;

use duckc_ir::{Ancestry, Base, Database, EnvItem, SpecFile, Workspace};
use duckc_syntax::Span;
use duckc_syntax::ast::{Item, SourceFile, Step, StepKind};
use lsp_types::{
    CompletionItem, CompletionItemKind, CompletionList, CompletionResponse, CompletionTextEdit,
    DocumentSymbol, Hover, HoverContents, Location, MarkupContent, MarkupKind, SymbolKind,
    TextEdit,
};

use crate::server::{Open, Server, Spec, file_at};

/// What a spec's node names do, for hover.
fn keyword_doc(keyword: &str) -> Option<&'static str> {
    Some(match keyword {
        "env" => "An environment: a base (`from`) and the steps that build its image.",
        "import" => {
            "Makes a module's envs nameable in `from`: `import \"std/NAME\"` (the stdlib) or \
             `import \"./other.kdl\"` (a file next to the spec)."
        }
        "from" => {
            "The base: an env (of this file, an import or `std/MODULE:ENV`), `scratch`, an \
             image `name:tag` or `name@sha256:…`, or `oci-layout:PATH`."
        }
        "platform" => "The platforms the env is built for (OCI `os/arch`).",
        "packages" => {
            "Debian packages, resolved against the apt repository and pinned in `duck.lock`; \
             `apt-sources=#true` keeps the repository's sources and keyring in the image."
        }
        "copy" => {
            "Copies files from the build context (or `from=\"ENV\"`) into the image; \
             `chown=`, `chmod=` set owner and mode."
        }
        "run" => {
            "Runs a command in the image: one argument is a shell command, more are an exec \
             form. No network unless `network=\"host\"` or `\"bridge\"`."
        }
        "env-step" => "Sets environment variables: `env KEY=\"value\" …`.",
        "workdir" => "The working directory of later steps and of the container.",
        "user" => "The user of later `run`s and of the container: `name`, `uid` or `uid:gid`.",
        "entrypoint" => "The image's entrypoint, exec form.",
        "cmd" => "The image's default command, exec form.",
        "label" => "An image label: `label \"KEY\" \"value\"`.",
        "expose" => "Ports the image says it listens on: `8080`, `\"53/udp\"`.",
        "tag" => "Tags the built image gets in the store.",
        _ => return None,
    })
}

/// What the cursor is on.
enum At<'a> {
    Import(&'a duckc_syntax::ast::Import),
    EnvName(usize),
    EnvKeyword(usize),
    Keyword(&'a Step),
    /// A string value of a step.
    Value(usize, &'a Step, &'a str),
    Nothing,
}

fn inside(span: Span, offset: usize) -> bool {
    span.start <= offset && offset <= span.end
}

fn at(tree: &SourceFile, offset: usize) -> At<'_> {
    for (i, item) in tree.items.iter().enumerate() {
        match item {
            Item::Import(imp) if inside(imp.path.span, offset) => return At::Import(imp),
            Item::Env(env) if inside(env.span, offset) => {
                if inside(env.name.span, offset) {
                    return At::EnvName(i);
                }
                for step in &env.steps {
                    if !inside(step.span, offset) {
                        continue;
                    }
                    if inside(step.keyword, offset) {
                        return At::Keyword(step);
                    }
                    let strings: Vec<&duckc_syntax::ast::Spanned<String>> = match &step.kind {
                        StepKind::From(s) => vec![s],
                        StepKind::Packages(p, _) => p.iter().collect(),
                        StepKind::Copy(c) => c.from.iter().collect(),
                        _ => Vec::new(),
                    };
                    if let Some(s) = strings.into_iter().find(|s| inside(s.span, offset)) {
                        return At::Value(i, step, &s.value);
                    }
                    return At::Keyword(step);
                }
                if offset < env.span.start + 3 {
                    return At::EnvKeyword(i);
                }
            }
            _ => {}
        }
    }
    At::Nothing
}

/// The spec database that holds the document at `key`, and its file there: its own, or one
/// that imports it.
fn database<'s>(server: &'s Server, key: &str) -> Option<(&'s Spec, SpecFile)> {
    let open = server.docs.get(key)?;
    if let Some(spec) = server.specs.get(key) {
        return Some((spec, Workspace::get(&spec.db).root(&spec.db)));
    }
    server
        .specs
        .values()
        .find_map(|s| Some((s, file_at(&s.db, &s.dir, &open.path, false)?)))
}

fn env_item<'db>(db: &'db Database, file: SpecFile, item: usize) -> Option<EnvItem<'db>> {
    duckc_ir::parse(db, file)
        .envs
        .iter()
        .copied()
        .find(|e| e.item(db) as usize == item)
}

/// An env's base chain and the layer keys it lowers to, in Markdown.
fn env_info(db: &Database, env: EnvItem<'_>) -> String {
    let mut out = format!("**env `{}`**", duckc_ir::env_label(db, env));
    match duckc_ir::ancestry(db, env) {
        Ancestry::Chain(chain) => {
            let mut names: Vec<String> = chain
                .iter()
                .map(|e| format!("`{}`", duckc_ir::env_label(db, *e)))
                .collect();
            if let Some(b) = chain.last().and_then(|e| e.base(db).as_ref()) {
                names.push(format!("`{}`", b.value));
            }
            out.push_str(&format!("\n\nbase chain: {}", names.join(" → ")));
        }
        Ancestry::Cycle => out.push_str("\n\nbase chain: a cycle of `from`s"),
        Ancestry::Broken => out.push_str("\n\nbase chain: broken (see the diagnostics)"),
    }
    if let Some(lowered) = duckc_ir::lower_env(db, env) {
        out.push_str("\n\nlayers:\n");
        for node in &lowered.nodes {
            out.push_str(&format!(
                "- `{}` {}\n",
                node.key.short(),
                duckc_ir::format::summary(node)
            ));
        }
    }
    out
}

/// The version and sha256 of `package` pinned for `env` in the `duck.lock` next to the spec.
fn locked(spec: &Spec, env: &str, package: &str) -> Option<String> {
    let text = duckc_driver::read_import(&spec.dir.join("duck.lock"))?;
    let lock = duckc_packages::lock::Lock::parse(&text).ok()?;
    let platforms = lock.envs.get(env)?;
    let mut out = String::new();
    for (platform, pinned) in platforms {
        for p in pinned.packages.iter().filter(|p| p.name == package) {
            out.push_str(&format!(
                "- {platform}: `{}` {} sha256 `{}`\n",
                p.version, p.architecture, p.sha256
            ));
        }
    }
    (!out.is_empty()).then_some(out)
}

fn markdown(value: String) -> Hover {
    Hover {
        contents: HoverContents::Markup(MarkupContent {
            kind: MarkupKind::Markdown,
            value,
        }),
        range: None,
    }
}

pub(crate) fn hover(server: &Server, open: &Open, offset: usize) -> Option<Hover> {
    let tree = duckc_syntax::parse(&open.doc.text).file;
    let key = open.uri.as_str();
    let keyword = |k: &str| {
        let doc = keyword_doc(if k == "env" { "env-step" } else { k })?;
        let example = duckc_syntax::step_example(k)
            .map(|e| format!("\n\n```kdl\n{e}\n```"))
            .unwrap_or_default();
        Some(markdown(format!("**{k}**: {doc}{example}")))
    };
    match at(&tree, offset) {
        At::Nothing => None,
        At::Import(imp) => Some(markdown(format!(
            "**import** `{}`: {}",
            imp.path.value,
            keyword_doc("import")?
        ))),
        At::EnvKeyword(i) | At::EnvName(i) => {
            let (spec, file) = database(server, key)?;
            let env = env_item(&spec.db, file, i)?;
            Some(markdown(env_info(&spec.db, env)))
        }
        At::Keyword(step) => keyword(step.kind.keyword()),
        At::Value(i, step, value) => {
            let (spec, file) = database(server, key)?;
            let env = env_item(&spec.db, file, i)?;
            match &step.kind {
                StepKind::From(_) => match duckc_ir::env_base(&spec.db, env) {
                    Base::Env(base) => Some(markdown(env_info(&spec.db, *base))),
                    Base::Scratch => Some(markdown("**scratch**: the empty image".to_owned())),
                    Base::Image(_) => Some(markdown(format!(
                        "**image** `{value}`: pulled from its registry (or taken from the \
                         store), pinned in `duck.lock` by `duckc lock`"
                    ))),
                    Base::OciLayout(p) => Some(markdown(format!(
                        "**OCI layout** `{p}` in the build context"
                    ))),
                    Base::Unresolved => None,
                },
                StepKind::Packages(..) => {
                    let name = env.name(&spec.db);
                    let pinned = locked(spec, name, value).unwrap_or_else(|| {
                        "not in `duck.lock` yet: `duckc lock` pins it".to_owned()
                    });
                    Some(markdown(format!("**package** `{value}`\n\n{pinned}")))
                }
                StepKind::Copy(_) => {
                    let target = scope_env(&spec.db, file, value)?;
                    Some(markdown(env_info(&spec.db, target)))
                }
                _ => keyword(step.kind.keyword()),
            }
        }
    }
}

/// The env `name` means in `file` (`NAME`, `std/MODULE:NAME`).
fn scope_env<'db>(db: &'db Database, file: SpecFile, name: &str) -> Option<EnvItem<'db>> {
    let scope = duckc_ir::scope(db, file);
    if let Some(e) = scope.local.get(name) {
        return Some(*e);
    }
    if let Some([e]) = scope.imported.get(name).map(Vec::as_slice) {
        return Some(*e);
    }
    let (module, env) = name.split_once(':')?;
    let module = Workspace::get(db).stdlib(db).get(module)?;
    duckc_ir::parse(db, *module)
        .envs
        .iter()
        .copied()
        .find(|e| e.name(db) == env)
}

/// Where an env is defined.
fn env_location(
    server: &mut Server,
    root: &str,
    env_file: SpecFile,
    item: u32,
) -> Option<Location> {
    let spec = server.specs.get(root)?;
    let db = &spec.db;
    let path = env_file.path(db).clone();
    let tree = duckc_ir::source_map(db, env_file);
    let span = match tree.items.get(item as usize)? {
        Item::Env(e) => e.name.span,
        Item::Import(_) => return None,
    };
    let text = env_file.text(db).clone();
    let file_path = if path.starts_with("std/") {
        server.stdlib_path(&path)?
    } else {
        server.specs.get(root)?.dir.join(&path)
    };
    let index = crate::text::LineIndex::new(&text);
    Some(Location::new(
        crate::path_to_uri(&file_path),
        index.range(&text, span.start, span.end),
    ))
}

pub(crate) fn definition(server: &mut Server, key: &str, offset: usize) -> Option<Location> {
    let open = server.docs.get(key)?;
    let tree = duckc_syntax::parse(&open.doc.text).file;
    let (root, file) = {
        let (spec, file) = database(server, key)?;
        let root = server
            .specs
            .iter()
            .find(|(_, s)| std::ptr::eq(*s, spec))
            .map(|(k, _)| k.clone())?;
        (root, file)
    };
    let spec = server.specs.get(&root)?;
    let db = &spec.db;
    let (env_file, item) = match at(&tree, offset) {
        At::Import(imp) => {
            let target = duckc_ir::import_target(file.path(db), &imp.path.value)?;
            let path = if target.starts_with("std/") {
                server.stdlib_path(&target)?
            } else {
                server.specs.get(&root)?.dir.join(target)
            };
            return Some(Location::new(
                crate::path_to_uri(&path),
                lsp_types::Range::default(),
            ));
        }
        At::Value(i, step, value) => {
            let env = env_item(db, file, i)?;
            let target = match &step.kind {
                StepKind::From(_) => match duckc_ir::env_base(db, env) {
                    Base::Env(base) => *base,
                    _ => return None,
                },
                StepKind::Copy(_) => scope_env(db, file, value)?,
                _ => return None,
            };
            (target.file(db), target.item(db))
        }
        _ => return None,
    };
    env_location(server, &root, env_file, item)
}

#[allow(deprecated)] // `DocumentSymbol::deprecated` must be written out.
pub(crate) fn symbols(open: &Open) -> Vec<DocumentSymbol> {
    let tree = duckc_syntax::parse(&open.doc.text).file;
    let range = |s: Span| open.doc.range(s.start, s.end);
    tree.items
        .iter()
        .map(|item| match item {
            Item::Import(imp) => DocumentSymbol {
                name: imp.path.value.clone(),
                detail: Some("import".to_owned()),
                kind: SymbolKind::MODULE,
                tags: None,
                deprecated: None,
                range: range(imp.span),
                selection_range: range(imp.path.span),
                children: None,
            },
            Item::Env(env) => DocumentSymbol {
                name: env.name.value.clone(),
                detail: env.steps.iter().find_map(|s| match &s.kind {
                    StepKind::From(f) => Some(format!("from {}", f.value)),
                    _ => None,
                }),
                kind: SymbolKind::CLASS,
                tags: None,
                deprecated: None,
                range: range(env.span),
                selection_range: range(env.name.span),
                children: None,
            },
        })
        .collect()
}

fn item(label: &str, kind: CompletionItemKind, detail: Option<&str>) -> CompletionItem {
    CompletionItem {
        label: label.to_owned(),
        kind: Some(kind),
        detail: detail.map(str::to_owned),
        ..Default::default()
    }
}

pub(crate) fn completion(server: &Server, key: &str, offset: usize) -> CompletionResponse {
    match package_completion(server, key, offset) {
        Some(list) => CompletionResponse::List(list),
        None => CompletionResponse::Array(items(server, key, offset)),
    }
}

/// Package names inside a string of a `packages` node: those of the cached apt index that
/// start with what is typed, for the env's first platform (the host's when it names none).
fn package_completion(server: &Server, key: &str, offset: usize) -> Option<CompletionList> {
    let open = server.docs.get(key)?;
    let text = &open.doc.text;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    if before.matches('"').count() % 2 != 1 || before.split_whitespace().next() != Some("packages")
    {
        return None;
    }
    let start = line_start + before.rfind('"')? + 1;
    let prefix = &text[start..offset];
    let mut list = CompletionList {
        is_incomplete: false,
        items: Vec::new(),
    };
    // A version (`name=1.2`), an architecture (`name:amd64`) or a pattern (`?essential`):
    // nothing to offer.
    if prefix.contains(['=', ':', '?', '\\', ' ']) {
        return Some(list);
    }
    let tree = duckc_syntax::parse(text).file;
    let env = tree.items.iter().find_map(|i| match i {
        Item::Env(e) if inside(e.span, offset) => Some(e),
        _ => None,
    });
    let Some(architecture) = architecture(env) else {
        return Some(list);
    };
    let (names, more) = server
        .package_names
        .borrow_mut()
        .complete(architecture, prefix);
    let range = open.doc.range(start, offset);
    list.is_incomplete = more;
    list.items = names
        .into_iter()
        .map(|(name, version)| CompletionItem {
            text_edit: Some(CompletionTextEdit::Edit(TextEdit::new(range, name.clone()))),
            label: name,
            kind: Some(CompletionItemKind::VALUE),
            detail: Some(version),
            ..Default::default()
        })
        .collect();
    Some(list)
}

/// The Debian architecture whose package names `env` completes: that of its first `platform`,
/// else the host's.
fn architecture(env: Option<&duckc_syntax::ast::EnvDef>) -> Option<&'static str> {
    let platform = env
        .and_then(|env| {
            env.steps.iter().find_map(|s| match &s.kind {
                StepKind::Platform(p) => p.first().map(|p| p.value.clone()),
                _ => None,
            })
        })
        .unwrap_or_else(duckc_packages::locking::host_platform);
    duckc_packages::lock::debian_architecture(&platform)
}

/// Starts reading the package names that the `packages` steps of the spec `text` will
/// complete, on a thread.
pub(crate) fn prefetch_package_names(server: &Server, text: &str) {
    let tree = duckc_syntax::parse(text).file;
    let mut architectures = BTreeSet::new();
    for item in &tree.items {
        if let Item::Env(env) = item
            && env
                .steps
                .iter()
                .any(|s| matches!(s.kind, StepKind::Packages(..)))
            && let Some(architecture) = architecture(Some(env))
        {
            architectures.insert(architecture);
        }
    }
    let mut names = server.package_names.borrow_mut();
    for architecture in architectures {
        names.prefetch(architecture);
    }
}

/// Completion everywhere but in package names.
fn items(server: &Server, key: &str, offset: usize) -> Vec<CompletionItem> {
    let Some(open) = server.docs.get(key) else {
        return Vec::new();
    };
    let text = &open.doc.text;
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let before = &text[line_start..offset];
    let words: Vec<&str> = before.split_whitespace().collect();
    let in_string = before.matches('"').count() % 2 == 1;
    let tree = duckc_syntax::parse(text).file;
    let in_env = tree
        .items
        .iter()
        .any(|i| matches!(i, Item::Env(e) if e.span.start < offset && offset < e.span.end))
        || before.starts_with(char::is_whitespace);
    let first = words.first().copied().unwrap_or_default();
    if in_string {
        let db = database(server, key);
        return match first {
            "from" => {
                let mut out = vec![item(
                    "scratch",
                    CompletionItemKind::VALUE,
                    Some("the empty image"),
                )];
                if let Some((spec, file)) = db {
                    let scope = duckc_ir::scope(&spec.db, file);
                    for name in scope.local.keys().chain(scope.imported.keys()) {
                        out.push(item(name, CompletionItemKind::CLASS, Some("env")));
                    }
                    let ws = Workspace::get(&spec.db);
                    for (module, f) in ws.stdlib(&spec.db) {
                        for e in &duckc_ir::parse(&spec.db, *f).envs {
                            let label = format!("{module}:{}", e.name(&spec.db));
                            out.push(item(&label, CompletionItemKind::CLASS, Some("stdlib env")));
                        }
                    }
                }
                out
            }
            "import" => duckc_ir::stdlib::MODULES
                .iter()
                .map(|(name, _)| item(name, CompletionItemKind::MODULE, Some("stdlib module")))
                .collect(),
            _ => Vec::new(),
        };
    }
    if words.len() <= 1 && !before.ends_with(' ') || words.is_empty() {
        let keywords: Vec<&str> = if in_env {
            duckc_syntax::step_keywords().collect()
        } else {
            duckc_syntax::ITEM_KEYWORDS.to_vec()
        };
        return keywords
            .into_iter()
            .map(|k| {
                let mut c = item(k, CompletionItemKind::KEYWORD, keyword_doc(k));
                c.detail = keyword_doc(k).map(str::to_owned);
                c
            })
            .collect();
    }
    duckc_syntax::step_properties(first)
        .iter()
        .map(|p| {
            let mut c = item(p, CompletionItemKind::PROPERTY, Some("property"));
            c.insert_text = Some(format!("{p}="));
            c
        })
        .collect()
}
