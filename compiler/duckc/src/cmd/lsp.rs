//! `duckc lsp` (the language server, over stdio) and `duckc fmt` (the formatting it offers, on
//! the command line).

use std::path::PathBuf;
use std::process::ExitCode;

use miette::{IntoDiagnostic, miette};

// `duckc fmt`'s arguments.
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, clap::Args)]
pub struct FmtArgs {
    /// The KDL specs to format in place (default: env.kdl, then duck.kdl, in the current
    /// directory).
    files: Vec<PathBuf>,
    /// Write nothing; exit 1 if a file is not formatted.
    #[arg(long)]
    check: bool,
}

/// Serves LSP over stdin/stdout until the editor says `exit`. `store` (`--store` or
/// `DUCKC_STORE`, else the default) is only read: its cached apt index completes package names.
pub fn lsp(store: Option<PathBuf>) -> miette::Result<ExitCode> {
    let store = store.unwrap_or_else(duckc_store::Store::default_root);
    let options = duckc_lsp::Options {
        downloads: Some(store.join("downloads")),
        ..Default::default()
    };
    duckc_lsp::run_stdio(options).map_err(|e| {
        miette!(
            help = "`duckc lsp` speaks LSP on stdin/stdout: start it from an editor (see \
                    docs/editors.md)",
            "the language server stopped: {e}"
        )
    })
}

pub fn fmt(args: FmtArgs) -> miette::Result<ExitCode> {
    let files = if args.files.is_empty() {
        vec![duckc_driver::find_spec(None, duckc_driver::Look::Specs)?.path]
    } else {
        args.files
    };
    let mut unformatted = 0;
    for file in &files {
        let text = duckc_driver::read_text(file)?;
        let formatted = duckc_lsp::format::format_spec(&text).map_err(|e| {
            miette!(
                help = format!("`duckc check {}` shows where", file.display()),
                "cannot format `{}`: {e}",
                file.display()
            )
        })?;
        if formatted == text {
            continue;
        }
        if args.check {
            eprintln!("{}: not formatted", file.display());
            unformatted += 1;
        } else {
            std::fs::write(file, formatted).into_diagnostic()?;
            eprintln!("{}: formatted", file.display());
        }
    }
    Ok(if unformatted > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
