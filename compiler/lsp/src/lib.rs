//! `duckc lsp`: one language server for KDL specs and Dockerfiles, on the compiler's own salsa
//! database, so the editor shows what `duckc check` says, as you type.
//!
//! The loop is synchronous ([`lsp_server`]): each open spec keeps its [`Database`](duckc_ir::database::Database) alive
//! between edits, and an edit sets the changed text as an input, so only the queries that
//! depend on it run again (a comment edit re-runs only `parse`). Diagnostics are computed on a
//! worker thread with a clone of the database; the next edit's input change cancels that work
//! (salsa's cancellation) before it starts its own. Requests (hover, definition, …) are
//! answered on the loop's thread from the same database.
//!
//! Nothing a client sends makes the server panic or hang: unknown documents, bad positions and
//! bad parameters are LSP errors; a panic in a handler (a bug) is caught and answered as an
//! internal error.

pub mod convert;
mod dockerfile;
pub mod format;
mod packages;
mod server;
mod spec;
pub mod text;
mod uri;

use std::process::ExitCode;

use lsp_server::Connection;

pub use server::{Options, serve};
pub use uri::{path_to_uri, uri_to_path};

/// Runs the server over stdin/stdout until the client says `exit` (or closes stdin).
/// Returns the exit code LSP asks for: 0 after `shutdown`, 1 otherwise.
pub fn run_stdio(options: Options) -> Result<ExitCode, String> {
    let (connection, io_threads) = Connection::stdio();
    let result = serve(&connection, options);
    // The IO threads end only once the connection (its channels) is gone.
    drop(connection);
    io_threads.join().map_err(|e| e.to_string())?;
    match result {
        Ok(true) => Ok(ExitCode::SUCCESS),
        Ok(false) => Ok(ExitCode::from(1)),
        Err(e) => Err(e),
    }
}
