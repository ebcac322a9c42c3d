//! Verbs that read specs: `check` (diagnostics) and `graph` (the layer graph a build executes).
//!
//! This is the driver of the spec compiler: it does the IO the core does not (reading the spec,
//! its imports and the build context) and sets it as salsa inputs, then asks the queries.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_build::ignore::Ignore;
use duckc_ir::LayerGraph;
use duckc_ir::database::Database;
use duckc_syntax::Severity;
use duckc_syntax::render::{Style, render};
use miette::{IntoDiagnostic, miette};

use crate::Global;

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Check a spec or Dockerfile and print its diagnostics (exit 1 if there are errors).
    Check {
        /// The spec or Dockerfile, or a directory to look in as `build DIR` does (default: the
        /// current directory: env.kdl, then duck.kdl, then Dockerfile).
        file: Option<PathBuf>,
    },
    /// Print the layer graph that building a spec executes.
    Graph {
        /// The spec (default: env.kdl, then duck.kdl, in the current directory).
        file: Option<PathBuf>,
        /// Output format.
        #[arg(long, value_enum, default_value_t = GraphFormat::Text)]
        format: GraphFormat,
    },
}

/// How `duckc graph` prints the graph.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormat {
    /// An indented tree: short key, step, envs using the node.
    Text,
    /// Graphviz DOT (`duckc graph --format dot | dot -Tsvg`).
    Dot,
    /// Every node with all its fields and full keys.
    Json,
}

impl Command {
    pub fn run(self, _global: &Global) -> miette::Result<ExitCode> {
        let command = match self {
            // A directory (or none: the current one) is looked in as `build DIR` looks.
            Command::Check { file } if file.as_deref().is_none_or(Path::is_dir) => {
                let dir = file.unwrap_or_else(|| PathBuf::from("."));
                let found = super::build::find_in(&dir)?;
                let found = if dir == Path::new(".") {
                    found
                        .strip_prefix("./")
                        .map(Path::to_owned)
                        .unwrap_or(found)
                } else {
                    found
                };
                Command::Check { file: Some(found) }
            }
            other => other,
        };
        match command {
            Command::Check { file: Some(file) } if super::dockerfile::is_dockerfile(&file) => {
                super::dockerfile::check(&file)
            }
            Command::Check { file } => {
                let compiled = compile(file.as_deref())?;
                let (errors, warnings) = compiled.report()?;
                if errors + warnings > 0 {
                    let s = |n: usize| if n == 1 { "" } else { "s" };
                    eprintln!(
                        "{}: {errors} error{}, {warnings} warning{}",
                        compiled.name,
                        s(errors),
                        s(warnings)
                    );
                }
                if errors > 0 {
                    return Ok(ExitCode::FAILURE);
                }
                let graph = duckc_ir::layer_graph(&compiled.db);
                println!(
                    "{}: ok, {} envs, {} layer-graph nodes",
                    compiled.name,
                    graph.envs.len(),
                    graph.graph.node_count()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Graph { file, format } => {
                let compiled = compile(file.as_deref())?;
                if compiled.report()?.0 > 0 {
                    eprintln!(
                        "error: `{}` has errors; fix them to see its graph",
                        compiled.name
                    );
                    return Ok(ExitCode::FAILURE);
                }
                let graph: &LayerGraph = duckc_ir::layer_graph(&compiled.db);
                let out = match format {
                    GraphFormat::Text => duckc_ir::format::text(graph),
                    GraphFormat::Dot => duckc_ir::format::dot(graph),
                    GraphFormat::Json => duckc_ir::format::json(graph),
                };
                std::io::stdout()
                    .write_all(out.as_bytes())
                    .into_diagnostic()?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// A spec loaded into a database with its imports and build context.
pub struct Compiled {
    pub db: Database,
    /// The spec's path as the user gave it (or found by default), for messages.
    pub name: String,
}

impl Compiled {
    /// Prints every diagnostic to stderr; returns the number of errors and of warnings.
    pub fn report(&self) -> miette::Result<(usize, usize)> {
        let style = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Style::Color
        } else {
            Style::Plain
        };
        let (mut errors, mut warnings) = (0, 0);
        let mut stderr = std::io::stderr().lock();
        for f in duckc_ir::diagnostics(&self.db) {
            let e = f
                .diagnostics
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            errors += e;
            warnings += f.diagnostics.len() - e;
            let path = f.file.path(&self.db);
            let name = if f.file == duckc_ir::Workspace::get(&self.db).root(&self.db) {
                self.name.as_str()
            } else {
                path.as_str()
            };
            let text = render(&f.diagnostics, name, f.file.text(&self.db), style);
            stderr.write_all(text.as_bytes()).into_diagnostic()?;
        }
        Ok((errors, warnings))
    }
}

/// The spec to read: the one given, else `env.kdl`, else `duck.kdl` in the current directory.
fn find_spec(file: Option<&Path>) -> miette::Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f.to_owned());
    }
    ["env.kdl", "duck.kdl"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .ok_or_else(|| {
            miette!(
                help = "pass the spec's path, e.g. `duckc check path/to/env.kdl`",
                "no spec given, and neither `env.kdl` nor `duck.kdl` is in the current directory"
            )
        })
}

/// Reads a spec, the user modules it imports and its build context (the spec's directory) into
/// a database. Errors are about files, not about the spec: the spec's own mistakes are
/// diagnostics in the database.
pub fn compile(file: Option<&Path>) -> miette::Result<Compiled> {
    let path = find_spec(file)?;
    let name = path.display().to_string();
    let text =
        std::fs::read(&path).map_err(|e| miette!("cannot read `{name}`: {}", io_reason(&e)))?;
    let text = String::from_utf8(text)
        .map_err(|_| miette!("cannot read `{name}`: it is not UTF-8 text"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    // The same listing and hashing as `duckc build`, ignore files included, so `graph` shows
    // the keys a build uses.
    let (ignore, _) = Ignore::read(&dir)
        .map_err(|e| miette!("cannot read the ignore file of `{}`: {e}", dir.display()))?;
    let listing = duckc_build::context::list(&dir, &ignore).map_err(|e| miette!("{e}"))?;
    let db = database(&path, text, &dir, &dir, listing)?;
    Ok(Compiled { db, name })
}

/// A database holding the spec at `path` (its text read already), the user modules it imports
/// (relative to `spec_dir`), and the build context `context` as `listing`, with the entries
/// `copy` steps read hashed.
pub fn database(
    path: &Path,
    text: String,
    spec_dir: &Path,
    context: &Path,
    listing: Vec<duckc_ir::database::ContextFile>,
) -> miette::Result<Database> {
    let logical = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "env.kdl".to_owned());
    let mut db = Database::default();
    db.load(&logical, text, listing);
    db.load_imports(|import| std::fs::read_to_string(spec_dir.join(import)).ok());
    duckc_build::context::hash_copied(&mut db, context).map_err(|e| miette!("{e}"))?;
    Ok(db)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
