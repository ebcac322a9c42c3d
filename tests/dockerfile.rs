//! End to end: `duckc check` on the Dockerfiles of `tests/dockerfiles/`: exit status, each lint
//! once on its line, syntax errors with suggestions.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dockerfiles")
}

/// `duckc check NAME` run in the corpus directory, so paths in the output are stable.
fn check(name: &str) -> Output {
    let store = tempfile::tempdir().expect("temp dir");
    let mut cmd = common::duckc(store.path());
    cmd.current_dir(corpus()).args(["check", name]);
    common::output(&mut cmd)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `(code, line)` of every rendered diagnostic: the code line, then `╭─[file:line:col]`.
fn located_codes(text: &str) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let mut code: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("dockerfile::") {
            code = Some(line.trim().to_string());
        } else if let Some(at) = line.split("╭─[").nth(1)
            && let Some(c) = code.take()
        {
            let n = at
                .trim_end_matches(']')
                .split(':')
                .nth(1)
                .and_then(|n| n.parse().ok());
            out.push((c, n.unwrap_or(0)));
        }
    }
    out.sort();
    out
}

#[test]
fn every_lint_once_on_its_line() {
    let out = check("lints-all.Dockerfile");
    let err = stderr(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "warnings only must exit 0:\n{err}"
    );
    let mut want: Vec<(String, usize)> = [
        ("BaseImageNotPinned", 1),
        ("MaintainerDeprecated", 2),
        ("BroadCopyBeforeInstall", 4),
        ("AptListsNotRemoved", 5),
        ("AptInstallRecommends", 5),
        ("AptInstallNoYes", 5),
        ("ConsecutiveRun", 5),
        ("CdInsteadOfWorkdir", 6),
        ("PipeWithoutPipefail", 7),
        ("AddUrlWithoutChecksum", 8),
        ("ConsecutiveRun", 9),
        ("NoEmptyContinuation", 11),
        ("JSONArgsRecommended", 13),
        ("RunWithNetwork", 5),
    ]
    .iter()
    .map(|(r, l)| (format!("dockerfile::lint::{r}"), *l))
    .collect();
    want.sort();
    assert_eq!(located_codes(&err), want, "{err}");
    assert!(
        err.ends_with("lints-all.Dockerfile: 0 errors, 14 warnings\n"),
        "{err}"
    );
}

#[test]
fn errors_exit_1_with_suggestions() {
    let out = check("errors.Dockerfile");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unknown instruction `COPPY`"), "{err}");
    assert!(err.contains("help: did you mean `COPY`?"), "{err}");
    assert!(err.contains("unterminated heredoc `EOF`"), "{err}");
}

#[test]
fn check_directive_can_make_lints_errors() {
    let out = check("lints-as-errors.Dockerfile");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let out = check("lints-skip-all.Dockerfile");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stderr(&out), "");
}

#[test]
fn seed_dockerfiles_check_clean_of_errors() {
    for name in [
        "seed-a.Dockerfile",
        "seed-b-layers.Dockerfile",
        "seed-c-copy.Dockerfile",
        "seed-d-multistage.Dockerfile",
    ] {
        let out = check(name);
        assert_eq!(out.status.code(), Some(0), "{name}: {}", stderr(&out));
    }
    insta::assert_snapshot!(stderr(&check("seed-a.Dockerfile")));
}

#[test]
fn unreadable_file_is_one_clear_line() {
    let out = check("missing.Dockerfile");
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("cannot read `missing.Dockerfile`"), "{err}");
}
