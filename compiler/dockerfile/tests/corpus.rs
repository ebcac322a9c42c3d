//! Snapshot tests over the Dockerfile corpus in `tests/dockerfiles/`: the parsed form, the stage
//! model, and every diagnostic as `duckc check` renders it.

use std::path::{Path, PathBuf};

use duckc_dockerfile::{CheckOptions, EvalOptions, check, pretty, pretty_stages};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/dockerfiles")
}

fn corpus() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = std::fs::read_dir(corpus_dir())
        .expect("tests/dockerfiles exists")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "Dockerfile"))
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).expect("readable"))
        })
        .collect();
    files.sort();
    assert!(files.len() >= 20, "the corpus went missing");
    files
}

/// Render diagnostics the way the CLI does, without colour, at a fixed width.
fn render(name: &str, text: &str, diagnostics: &[duckc_dockerfile::Diagnostic]) -> String {
    let handler = miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .with_width(100);
    let mut out = String::new();
    for d in diagnostics {
        let report = d.to_report(name, text);
        handler
            .render_report(&mut out, report.as_ref())
            .expect("rendering to a string cannot fail");
    }
    out
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../../../tests/dockerfiles/snapshots");
    s.set_prepend_module_to_snapshot(false);
    s.set_omit_expression(true);
    s
}

#[test]
fn parsed_form() {
    for (name, text) in corpus() {
        let file = duckc_dockerfile::parse(&text);
        settings().bind(|| insta::assert_snapshot!(format!("parse@{name}"), pretty(&file, &text)));
    }
}

#[test]
fn diagnostics() {
    for (name, text) in corpus() {
        let checked = check(&text, &CheckOptions::default());
        let rendered = render(&format!("{name}.Dockerfile"), &text, &checked.diagnostics);
        settings().bind(|| insta::assert_snapshot!(format!("check@{name}"), rendered));
    }
}

#[test]
fn stage_model() {
    let opts = CheckOptions {
        eval: EvalOptions {
            target_platform: "linux/arm64/v8".into(),
            build_platform: "linux/amd64".into(),
            ..EvalOptions::default()
        },
        ..CheckOptions::default()
    };
    for (name, text) in corpus() {
        let checked = check(&text, &opts);
        settings().bind(|| {
            insta::assert_snapshot!(format!("stages@{name}"), pretty_stages(&checked.evaluation))
        });
    }
}

#[test]
fn seed_dockerfiles_parse_without_errors() {
    for name in ["seed-a", "seed-b-layers", "seed-c-copy", "seed-d-multistage"] {
        let text = std::fs::read_to_string(corpus_dir().join(format!("{name}.Dockerfile"))).unwrap();
        let checked = check(&text, &CheckOptions::default());
        assert!(!checked.has_errors(), "{name}: {:#?}", checked.diagnostics);
    }
}

/// Each lint shows once, on the line that has the problem.
#[test]
fn each_lint_once_on_its_line() {
    let text = std::fs::read_to_string(corpus_dir().join("lints-all.Dockerfile")).unwrap();
    let checked = check(&text, &CheckOptions::default());
    let line_of = |offset: usize| text[..offset].matches('\n').count() + 1;
    let mut got: Vec<(&str, usize)> = checked
        .diagnostics
        .iter()
        .filter_map(|d| Some((d.rule?, line_of(d.span()?.start))))
        .collect();
    got.sort();
    let mut want = vec![
        ("AddUrlWithoutChecksum", 8),
        ("AptInstallNoYes", 5),
        ("AptInstallRecommends", 5),
        ("AptListsNotRemoved", 5),
        ("BaseImageNotPinned", 1),
        ("BroadCopyBeforeInstall", 4),
        ("CdInsteadOfWorkdir", 6),
        ("ConsecutiveRun", 6),
        ("ConsecutiveRun", 10),
        ("JSONArgsRecommended", 13),
        ("MaintainerDeprecated", 2),
        ("NoEmptyContinuation", 11),
        ("PipeWithoutPipefail", 7),
    ];
    want.sort();
    assert_eq!(got, want);
    // Every rule is exercised by this file.
    for rule in duckc_dockerfile::RULES {
        assert!(got.iter().any(|(r, _)| *r == rule.name), "{} not covered", rule.name);
    }
}

#[test]
fn clean_file_has_no_lints() {
    let text = std::fs::read_to_string(corpus_dir().join("lints-clean.Dockerfile")).unwrap();
    let checked = check(&text, &CheckOptions::default());
    assert_eq!(checked.diagnostics, vec![], "{:#?}", checked.diagnostics);
}

#[test]
fn lints_switch_off_by_option() {
    let text = std::fs::read_to_string(corpus_dir().join("lints-all.Dockerfile")).unwrap();
    let mut opts = CheckOptions::default();
    opts.lint.skip.insert("consecutiverun".into());
    opts.lint.skip.insert("BaseImageNotPinned".into());
    let checked = check(&text, &opts);
    assert!(checked.diagnostics.iter().all(|d| !matches!(d.rule, Some("ConsecutiveRun" | "BaseImageNotPinned"))));
    assert!(checked.diagnostics.iter().any(|d| d.rule == Some("MaintainerDeprecated")));
    opts.lint.skip_all = true;
    assert!(check(&text, &opts).diagnostics.iter().all(|d| d.rule.is_none()));
}
