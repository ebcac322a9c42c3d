//! `attach`: a terminal (or stdin and output) of a detached container, through its monitor
//! (`duckc_runtime::container::attach` speaks to it; this verb checks and reports).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::process::ExitCode;

use duckc_runtime::container::{Status, attach};
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};

use super::find;

pub fn attach(store: &Store, query: &str, stdin: bool) -> miette::Result<ExitCode> {
    let (dir, config) = find(store, query)?;
    let state = dir.read_state().into_diagnostic()?;
    if state.status != Status::Running {
        return Err(miette!(
            help = format!(
                "start it with `duckc start -a{} {query}`",
                if config.interactive { "i" } else { "" }
            ),
            "container `{query}` is not running"
        ));
    }
    let socket = attach::connect(&dir).map_err(|_| {
        miette!(
            help = "only containers started with `-d` (or `start` without `-a`) can be attached to",
            "container `{query}` runs in the foreground of another duckc"
        )
    })?;
    let mut log = File::open(dir.log()).map_err(|e| miette!("cannot read the log: {e}"))?;
    log.seek(SeekFrom::End(0)).into_diagnostic()?;
    let tty = config.spec.process.terminal;
    let send_input = stdin && (tty || config.interactive);
    let guard = if tty {
        duckc_runtime::process::TerminalGuard::enter(send_input)
    } else {
        None
    };
    let keys = send_input && guard.is_some();
    let detached = attach::relay(&dir, &mut log, &socket, send_input, keys);
    drop(guard);
    if detached {
        return Ok(ExitCode::SUCCESS);
    }
    let code = dir.read_state().ok().and_then(|s| s.exit_code).unwrap_or(0);
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}
