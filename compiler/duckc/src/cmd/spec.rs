//! Verbs that read specs: `check` (diagnostics) and `graph` (the layer graph a build executes).
//!
//! Loading is the driver's (`duckc_driver`): this module picks the file, prints the
//! diagnostics and the graph.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_diagnostic::Style;
use duckc_driver::{Diagnostics, Loaded, Look, Options};
use duckc_ir::LayerGraph;
use miette::IntoDiagnostic;

use crate::Global;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
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
                let found = duckc_driver::find_in(&dir)?;
                if let Some(note) = &found.note {
                    eprintln!("note: {note}");
                }
                let found = if dir == Path::new(".") {
                    found
                        .path
                        .strip_prefix("./")
                        .map(Path::to_owned)
                        .unwrap_or(found.path)
                } else {
                    found.path
                };
                Command::Check { file: Some(found) }
            }
            other => other,
        };
        match command {
            Command::Check { file: Some(file) } if duckc_driver::is_dockerfile(&file) => {
                super::dockerfile::check(&file)
            }
            Command::Check { file } => {
                let (loaded, errors, warnings) = load(file.as_deref())?;
                if errors + warnings > 0 {
                    let s = |n: usize| if n == 1 { "" } else { "s" };
                    eprintln!(
                        "{}: {errors} error{}, {warnings} warning{}",
                        loaded.name,
                        s(errors),
                        s(warnings)
                    );
                }
                if errors > 0 {
                    return Ok(ExitCode::FAILURE);
                }
                let graph = loaded.graph();
                println!(
                    "{}: ok, {} envs, {} layer-graph nodes",
                    loaded.name,
                    graph.envs.len(),
                    graph.graph.node_count()
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Graph { file, format } => {
                let (loaded, errors, _) = load(file.as_deref())?;
                if errors > 0 {
                    eprintln!(
                        "error: `{}` has errors; fix them to see its graph",
                        loaded.name
                    );
                    return Ok(ExitCode::FAILURE);
                }
                let graph: &LayerGraph = loaded.graph();
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

/// Loads a KDL spec (the one given, else `env.kdl`, else `duck.kdl` in the current directory)
/// with its imports and build context (its directory), and prints its diagnostics. Returns it
/// with its numbers of errors and of warnings. Errors are about files, not about the spec: the
/// spec's own mistakes are diagnostics.
pub fn load(file: Option<&Path>) -> miette::Result<(Loaded, usize, usize)> {
    let found = duckc_driver::find_spec(file, Look::Specs)?;
    let load = duckc_driver::load(&Options {
        file: found.path,
        ..Default::default()
    });
    let (errors, warnings) = print(&load.diagnostics, false)?;
    Ok((load.result?, errors, warnings))
}

/// Where errors on stderr wrap (`duckc_diagnostic::render_error`): on a terminal, at its width
/// (`TIOCGWINSZ` on stderr; 80 when it says 0 or cannot say); off a terminal (a pipe, a file, a
/// log), nowhere, so a script's `grep` finds a phrase and a user copies a path or a flag whole.
pub fn error_width() -> Option<usize> {
    let stderr = std::io::stderr();
    if !stderr.is_terminal() {
        return None;
    }
    Some(
        rustix::termios::tcgetwinsize(&stderr)
            .ok()
            .map(|size| usize::from(size.ws_col))
            .filter(|&cols| cols > 0)
            .unwrap_or(duckc_diagnostic::DEFAULT_TERMINAL_WIDTH),
    )
}

/// How diagnostics are drawn on stderr: in color on a terminal, unless `NO_COLOR` is set.
pub fn style() -> Style {
    if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
        Style::Color
    } else {
        Style::Plain
    }
}

/// Prints diagnostics to stderr (with `errors_only`, only the errors: a second loading of a
/// file whose warnings were shown); returns the numbers of errors and of warnings.
pub fn print(diagnostics: &[Diagnostics], errors_only: bool) -> miette::Result<(usize, usize)> {
    let style = style();
    let (mut errors, mut warnings) = (0, 0);
    let mut stderr = std::io::stderr().lock();
    for d in diagnostics {
        errors += d.errors();
        warnings += d.warnings();
        let shown = if errors_only {
            match d.errors_only() {
                Some(e) => e.render(style),
                None => continue,
            }
        } else {
            d.render(style)
        };
        stderr.write_all(shown.as_bytes()).into_diagnostic()?;
    }
    Ok((errors, warnings))
}
