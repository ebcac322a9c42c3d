//! The `parse` query: a spec file's imports and envs, without spans.
//!
//! Spans live in a side table (the syntax tree of [`syntax`], which [`crate::source_map`] gives
//! to whoever renders a diagnostic). What `parse` returns holds only values and [`Ptr`]s (positions by
//! index: "the second argument of the third step of the first env"), so an edit that only moves
//! text around, such as a comment, gives an equal result and nothing after `parse` re-runs.
//!
//! Each env is a tracked struct whose identity is its file and name; its `from` and its steps are
//! separate tracked fields. Editing one env changes only that env's fields, so only queries that
//! read that env re-run.
//!
//! The tree itself is put together from the parses of the file's top-level nodes, each a query
//! on the node's text ([`duckc_syntax::parse_by_node`]): an edit parses again the one node it
//! touched, not the whole file.

use duckc_syntax::ast::{self, Item, StepKind};
use salsa::Accumulator;

use crate::diagnostics::{Diag, Loc};
use crate::inputs::SpecFile;

/// A position in a spec's syntax tree, by index rather than by byte offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Ptr {
    /// The path of the `import` that is top-level node `item`.
    Import { item: u32 },
    /// The name of the env that is top-level node `item`.
    EnvName { item: u32 },
    /// Entry `value` (see [`ast::Step::values`]) of step `step` of env `item`.
    Value { item: u32, step: u32, value: u32 },
}

/// An `import` node.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImportDecl {
    pub path: String,
    pub ptr: Ptr,
}

/// The parsed content of one spec file.
#[derive(Debug, Clone, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct ParsedFile<'db> {
    /// The text was not KDL: there is nothing to resolve or lower, and nothing else to report.
    pub broken: bool,
    pub imports: Vec<ImportDecl>,
    pub envs: Vec<EnvItem<'db>>,
}

/// An env definition. Identity: file and name (salsa tells duplicates apart by order).
#[salsa::tracked(debug)]
pub struct EnvItem<'db> {
    #[returns(copy)]
    pub file: SpecFile,
    #[returns(ref)]
    pub name: String,
    /// Which top-level node of the file this is, for [`Ptr`]s.
    #[tracked]
    #[returns(copy)]
    pub item: u32,
    /// The `from`, if one was written correctly.
    #[tracked]
    #[returns(ref)]
    pub base: Option<BaseDecl>,
    /// Every other step, in source order.
    #[tracked]
    #[returns(ref)]
    pub steps: Vec<StepDecl>,
}

/// A `from` as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BaseDecl {
    pub value: String,
    pub ptr: Ptr,
}

/// A step other than `from`, without spans. `step` is its index among the env's syntax steps,
/// for [`Ptr::Value`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StepDecl {
    pub step: u32,
    pub kind: StepDeclKind,
}

/// What a step says; see [`ast::StepKind`] for each.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum StepDeclKind {
    Platform(Vec<String>),
    /// The packages, and `apt-sources=#true`.
    Packages(Vec<String>, bool),
    Copy {
        sources: Vec<String>,
        destination: String,
        chown: Option<String>,
        chmod: Option<u32>,
        /// `from="ENV"` and the index of its value in the step's values.
        from: Option<(String, u32)>,
    },
    Run {
        command: crate::graph::RunCommand,
        network: ast::Network,
    },
    Env(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Entrypoint(Vec<String>),
    Cmd(Vec<String>),
    Label(String, String),
    Expose(Vec<ast::Port>),
    Tag(Vec<String>),
}

/// The text of one top-level node of a spec (with the comments and blank lines before it), as
/// [`duckc_syntax::chunks::split`] cuts it. Interned: equal texts are one piece, wherever they
/// are and in whichever file.
#[salsa::interned(debug)]
struct Piece {
    #[returns(ref)]
    text: String,
}

/// The syntax of one piece, spans from its start. An edit re-parses only the pieces whose text
/// it changed; the others are found again by their text.
#[salsa::tracked(returns(ref), no_eq)]
fn parse_piece<'db>(db: &'db dyn salsa::Database, piece: Piece<'db>) -> duckc_syntax::Parse {
    duckc_syntax::parse(piece.text(db))
}

/// A spec file's syntax tree and syntax diagnostics: [`duckc_syntax::parse`] of its text, put
/// together from the parses of its top-level nodes ([`duckc_syntax::parse_by_node`]).
#[salsa::tracked(returns(ref), no_eq)]
pub fn syntax(db: &dyn salsa::Database, file: SpecFile) -> duckc_syntax::Parse {
    duckc_syntax::parse_by_node(file.text(db), |text| {
        parse_piece(db, Piece::new(db, text.to_owned()))
    })
}

/// Parses one spec file; syntax diagnostics are accumulated here with their byte spans.
#[salsa::tracked(returns(ref))]
pub fn parse(db: &dyn salsa::Database, file: SpecFile) -> ParsedFile<'_> {
    let parse = syntax(db, file);
    for d in &parse.diagnostics {
        Diag::from_syntax(file, d.clone()).accumulate(db);
    }
    let mut imports = Vec::new();
    let mut envs = Vec::new();
    for (i, item) in parse.file.items.iter().enumerate() {
        let i = i as u32;
        match item {
            Item::Import(import) => {
                imports.push(ImportDecl {
                    path: import.path.value.clone(),
                    ptr: Ptr::Import { item: i },
                });
            }
            Item::Env(env) => {
                let (base, steps) = lower_steps(i, env);
                envs.push(EnvItem::new(
                    db,
                    file,
                    env.name.value.clone(),
                    i,
                    base,
                    steps,
                ));
            }
        }
    }
    ParsedFile {
        broken: parse.file.broken,
        imports,
        envs,
    }
}

fn strings(v: &[ast::Spanned<String>]) -> Vec<String> {
    v.iter().map(|s| s.value.clone()).collect()
}

fn lower_steps(item: u32, env: &ast::EnvDef) -> (Option<BaseDecl>, Vec<StepDecl>) {
    let mut base = None;
    let mut steps = Vec::new();
    for (i, step) in env.steps.iter().enumerate() {
        let kind = match &step.kind {
            StepKind::From(b) => {
                base = Some(BaseDecl {
                    value: b.value.clone(),
                    ptr: Ptr::Value {
                        item,
                        step: i as u32,
                        value: 0,
                    },
                });
                continue;
            }
            StepKind::Platform(p) => StepDeclKind::Platform(strings(p)),
            StepKind::Packages(p, sources) => StepDeclKind::Packages(strings(p), *sources),
            StepKind::Copy(c) => StepDeclKind::Copy {
                sources: strings(&c.sources),
                destination: c.destination.value.clone(),
                chown: c.chown.as_ref().map(|s| s.value.clone()),
                chmod: c.chmod.as_ref().map(|s| s.value),
                from: c.from.as_ref().map(|f| {
                    let value = step.values.iter().position(|v| *v == f.span);
                    (f.value.clone(), value.unwrap_or(0) as u32)
                }),
            },
            StepKind::Run(r) => StepDeclKind::Run {
                command: match &r.command {
                    ast::Command::Shell(s) => crate::graph::RunCommand::Shell(s.value.clone()),
                    ast::Command::Exec(v) => crate::graph::RunCommand::Exec(strings(v)),
                },
                network: r.network.as_ref().map_or(ast::Network::None, |n| n.value),
            },
            StepKind::Env(vars) => StepDeclKind::Env(
                vars.iter()
                    .map(|(k, v)| (k.value.clone(), v.value.clone()))
                    .collect(),
            ),
            StepKind::Workdir(w) => StepDeclKind::Workdir(w.value.clone()),
            StepKind::User(u) => StepDeclKind::User(u.value.clone()),
            StepKind::Entrypoint(v) => StepDeclKind::Entrypoint(strings(v)),
            StepKind::Cmd(v) => StepDeclKind::Cmd(strings(v)),
            StepKind::Label(k, v) => StepDeclKind::Label(k.value.clone(), v.value.clone()),
            StepKind::Expose(p) => StepDeclKind::Expose(p.iter().map(|p| p.value).collect()),
            StepKind::Tag(t) => StepDeclKind::Tag(strings(t)),
        };
        steps.push(StepDecl {
            step: i as u32,
            kind,
        });
    }
    (base, steps)
}

/// The side table: the syntax tree with spans ([`syntax`]'s). Only rendering diagnostics reads
/// it, so nothing that lowers a spec depends on where its text sits.
pub fn source_map(db: &dyn salsa::Database, file: SpecFile) -> &ast::SourceFile {
    &syntax(db, file).file
}

impl Ptr {
    /// Where this points in `tree`; `None` if the tree no longer has it.
    pub fn span(self, tree: &ast::SourceFile) -> Option<duckc_syntax::Span> {
        let item = |i: u32| tree.items.get(i as usize);
        match self {
            Ptr::Import { item: i } => match item(i)? {
                Item::Import(imp) => Some(imp.path.span),
                Item::Env(_) => None,
            },
            Ptr::EnvName { item: i } => match item(i)? {
                Item::Env(env) => Some(env.name.span),
                Item::Import(_) => None,
            },
            Ptr::Value {
                item: i,
                step,
                value,
            } => match item(i)? {
                Item::Env(env) => env
                    .steps
                    .get(step as usize)?
                    .values
                    .get(value as usize)
                    .copied(),
                Item::Import(_) => None,
            },
        }
    }

    /// A located diagnostic position for this pointer.
    pub fn loc(self) -> Loc {
        Loc::Ptr(self)
    }
}
