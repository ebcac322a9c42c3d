//! `duckc check Dockerfile`: parse a Dockerfile, evaluate its stages, and print its syntax errors,
//! what duckc does not honour, and lints, as miette diagnostics.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use duckc_dockerfile::{CheckOptions, Severity};

/// Whether `path` names a Dockerfile: `Dockerfile`, `Containerfile`, `*.Dockerfile`,
/// `Dockerfile.*` (any case), rather than a KDL spec.
pub fn is_dockerfile(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return false;
    };
    let lower = name.to_ascii_lowercase();
    lower == "dockerfile"
        || lower == "containerfile"
        || lower.ends_with(".dockerfile")
        || lower.starts_with("dockerfile.")
        || lower.ends_with(".containerfile")
        || lower.starts_with("containerfile.")
}

/// Check the Dockerfile `text` read from `path`. Returns the rendered diagnostics (with a summary
/// line when there are any) and whether any of them is an error. `all_lints` is `duckc check`:
/// every lint; `build` and `convert` show only BuildKit's own build checks, as `docker build`
/// does by default.
pub fn check_dockerfile(path: &Path, text: &str, color: bool, all_lints: bool) -> (String, bool) {
    let mut opts = CheckOptions::default();
    opts.lint.buildkit_only = !all_lints;
    let checked = duckc_dockerfile::check(text, &opts);
    let theme = if color {
        miette::GraphicalTheme::unicode()
    } else {
        miette::GraphicalTheme::unicode_nocolor()
    };
    let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
    let name = path.display().to_string();
    let mut out = String::new();
    for d in &checked.diagnostics {
        let report = d.to_report(&name, text);
        if handler.render_report(&mut out, report.as_ref()).is_err() {
            out.push_str(&format!("{}: {}\n", d.severity, d.message));
        }
    }
    let errors = checked
        .diagnostics
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = checked.diagnostics.len() - errors;
    if !checked.diagnostics.is_empty() {
        out.push_str(&format!(
            "{name}: {errors} error{}, {warnings} warning{}\n",
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
    }
    (out, errors > 0)
}

/// `duckc check` on a Dockerfile: print the diagnostics to stderr; exit 1 when there are errors,
/// 0 with only warnings.
pub fn check(path: &Path) -> miette::Result<ExitCode> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| miette::miette!("cannot read `{}`: {e}", path.display()))?;
    let stderr = std::io::stderr();
    let color = stderr.is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let (rendered, has_errors) = check_dockerfile(path, &text, color, true);
    eprint!("{rendered}");
    Ok(if has_errors {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_names() {
        for yes in [
            "Dockerfile",
            "dir/Dockerfile",
            "app.Dockerfile",
            "Dockerfile.dev",
            "Containerfile",
            "dockerfile",
        ] {
            assert!(is_dockerfile(Path::new(yes)), "{yes}");
        }
        for no in ["env.kdl", "duck.kdl", "Dockerfiles/env.kdl", "README.md"] {
            assert!(!is_dockerfile(Path::new(no)), "{no}");
        }
    }

    #[test]
    fn warnings_only_is_not_an_error() {
        let (out, errors) = check_dockerfile(
            Path::new("Dockerfile"),
            "FROM busybox\nCMD ls -l\n",
            false,
            true,
        );
        assert!(!errors);
        assert!(out.contains("BaseImageNotPinned"), "{out}");
        assert!(out.ends_with("Dockerfile: 0 errors, 2 warnings\n"), "{out}");
        let (out, errors) =
            check_dockerfile(Path::new("Dockerfile"), "FORM busybox\n", false, true);
        assert!(errors, "{out}");
    }
}
