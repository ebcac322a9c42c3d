//! `duckc check Dockerfile`: parse a Dockerfile, evaluate its stages, and print its syntax errors,
//! what duckc does not honour, and lints, as miette diagnostics.

use std::path::Path;
use std::process::ExitCode;

/// `duckc check` on a Dockerfile: print the diagnostics to stderr; exit 1 when there are errors,
/// 0 with only warnings.
pub fn check(path: &Path) -> miette::Result<ExitCode> {
    let text = duckc_driver::read_text(path)?;
    let checked = duckc_driver::dockerfile::check(&path.display().to_string(), &text, true);
    let (errors, _) = super::spec::print(std::slice::from_ref(&checked), false)?;
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
