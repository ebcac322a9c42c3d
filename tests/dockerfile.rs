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

/// `RunWithNetwork` is one warning per Dockerfile with one label, on the first `RUN` that has
/// the network, counting the later ones: not a label per step, which showed the whole file.
#[test]
fn run_with_network_is_one_short_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM busybox:1.36\n\
         RUN --network=none true\n\
         RUN wget -q -O /a http://example.invalid/a\n\
         ENV X=1\n\
         RUN wget -q -O /b http://example.invalid/b\n\
         ENV Y=2\n\
         RUN wget -q -O /c http://example.invalid/c\n\
         CMD [\"true\"]\n",
    )
    .unwrap();
    let mut cmd = common::duckc(&dir.path().join("store"));
    cmd.current_dir(dir.path()).args(["check", "Dockerfile"]);
    let err = stderr(&common::output(&mut cmd));
    assert_eq!(err.matches("RunWithNetwork").count(), 1, "{err}");
    assert!(
        err.contains("3 `RUN` steps have the network, so the image is not reproducible"),
        "{err}"
    );
    assert_eq!(err.matches("has the network").count(), 1, "{err}");
    assert!(
        err.contains("has the network; so have 2 later `RUN`s"),
        "{err}"
    );
    // The snippet stops around the first networked step: the last `RUN` is not shown.
    assert!(!err.contains("/c http"), "{err}");
    let located: Vec<_> = located_codes(&err)
        .into_iter()
        .filter(|(c, _)| c.ends_with("RunWithNetwork"))
        .collect();
    assert_eq!(
        located,
        [("dockerfile::lint::RunWithNetwork".to_owned(), 3)],
        "{err}"
    );
}
