//! `--security-opt`, as Docker spells it: `seccomp=PROFILE.json`, `seccomp=unconfined`, and
//! `no-new-privileges` (always on in duckc, so accepted and ignored).

use std::path::Path;

use duckc_runtime::seccomp::{self, Seccomp};
use miette::{LabeledSpan, NamedSource, miette};

const HELP: &str = "use `--security-opt seccomp=PROFILE.json`, `--security-opt seccomp=unconfined` or `--security-opt no-new-privileges`";

/// The seccomp choice that the `--security-opt` values make (the last `seccomp=` wins, as in
/// Docker); Docker's default profile when none is given.
pub fn seccomp_of(options: &[String]) -> miette::Result<Seccomp> {
    let mut choice = Seccomp::Default;
    for option in options {
        // Docker also still takes the old `seccomp:VALUE` spelling.
        let (key, value) = match option.split_once(['=', ':']) {
            Some((k, v)) => (k, Some(v)),
            None => (option.as_str(), None),
        };
        match (key, value) {
            ("seccomp", Some("unconfined")) => choice = Seccomp::Unconfined,
            ("seccomp", Some("builtin" | "default")) => choice = Seccomp::Default,
            ("seccomp", Some("")) | ("seccomp", None) => {
                return Err(miette!(
                    help = HELP,
                    "`--security-opt seccomp` needs a profile file or `unconfined`"
                ));
            }
            ("seccomp", Some(path)) => choice = read_profile(Path::new(path))?,
            ("no-new-privileges", None | Some("true")) => {}
            ("no-new-privileges", Some("false")) => {
                return Err(miette!(
                    help = "leave `no-new-privileges` out: duckc always sets it",
                    "duckc cannot run a container without `no-new-privileges`"
                ));
            }
            ("apparmor" | "label" | "systempaths" | "writable-cgroups" | "mask" | "unmask", _) => {
                return Err(miette!(
                    help = HELP,
                    "`--security-opt {option}` is not supported by duckc"
                ));
            }
            _ => {
                return Err(miette!(
                    help = HELP,
                    "unknown `--security-opt` value `{option}`"
                ));
            }
        }
    }
    Ok(choice)
}

/// Read and check a custom profile; a bad one is a report pointing into the file.
fn read_profile(path: &Path) -> miette::Result<Seccomp> {
    let (text, checked) = Seccomp::from_file(path).map_err(|e| {
        miette!(
            help = "give the path of a seccomp profile in Docker's JSON format",
            "cannot read seccomp profile `{}`: {e}",
            path.display()
        )
    })?;
    let error = match checked {
        Ok(seccomp) => return Ok(seccomp),
        Err(e) => e,
    };
    let help = match &error {
        seccomp::Error::Syntax { .. } => {
            "a profile is Docker's JSON format: `defaultAction`, `architectures` or `archMap`, and `syscalls` rules with `names` and `action` (see Docker's default profile, `runtime/seccomp/default.json` in duckc's sources)"
        }
        seccomp::Error::UnknownArch(_) => {
            "use libseccomp's names, e.g. `SCMP_ARCH_X86_64`, `SCMP_ARCH_X86`, `SCMP_ARCH_X32`, `SCMP_ARCH_AARCH64`"
        }
        seccomp::Error::Notify => "use another action, e.g. `SCMP_ACT_ERRNO` or `SCMP_ACT_ALLOW`",
        seccomp::Error::UnknownFlag(_) => {
            "use `SECCOMP_FILTER_FLAG_LOG`, `SECCOMP_FILTER_FLAG_SPEC_ALLOW`, `SECCOMP_FILTER_FLAG_TSYNC` or none"
        }
        _ => "fix the profile, or run with `--security-opt seccomp=unconfined` to run without one",
    };
    let name = path.display().to_string();
    // With a span to show, the message need not repeat the line and column.
    let message = match &error {
        seccomp::Error::Syntax { message, .. } => message.clone(),
        other => other.to_string(),
    };
    let span = match &error {
        seccomp::Error::Syntax { line, column, .. } => offset(&text, *line, *column).map(|o| {
            // serde reports the position just after the offending token: point at that token.
            let start = o.saturating_sub(1);
            start..o.max(start + 1).min(text.len())
        }),
        other => other.subject().and_then(|s| {
            let quoted = format!("\"{s}\"");
            text.find(&quoted).map(|i| i..i + quoted.len())
        }),
    };
    let report = match span {
        Some(span) => miette!(
            labels = vec![LabeledSpan::at(span, "here")],
            help = help,
            "invalid seccomp profile `{name}`: {message}"
        )
        .with_source_code(NamedSource::new(name, text)),
        None => miette!(help = help, "invalid seccomp profile `{name}`: {error}"),
    };
    Err(report)
}

/// The byte offset of a 1-based line and column (serde_json's columns count bytes).
fn offset(text: &str, line: usize, column: usize) -> Option<usize> {
    if line == 0 {
        return None;
    }
    let mut start = 0;
    for _ in 1..line {
        start += text[start..].find('\n')? + 1;
    }
    Some((start + column).min(text.len()))
}
