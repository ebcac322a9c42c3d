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
    duckc_diagnostic::render(diagnostics, name, text, duckc_diagnostic::Style::Plain)
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
    for name in [
        "seed-a",
        "seed-b-layers",
        "seed-c-copy",
        "seed-d-multistage",
    ] {
        let text =
            std::fs::read_to_string(corpus_dir().join(format!("{name}.Dockerfile"))).unwrap();
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
        .filter_map(|d| Some((d.code.rule()?, line_of(d.span()?.start))))
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
        ("ConsecutiveRun", 5),
        ("ConsecutiveRun", 9),
        ("JSONArgsRecommended", 13),
        ("MaintainerDeprecated", 2),
        ("NoEmptyContinuation", 11),
        ("PipeWithoutPipefail", 7),
        ("RunWithNetwork", 5),
    ];
    want.sort();
    assert_eq!(got, want);
    // Every rule is exercised by this file.
    for rule in duckc_dockerfile::RULES {
        assert!(
            got.iter().any(|(r, _)| *r == rule.name),
            "{} not covered",
            rule.name
        );
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
    assert!(
        checked
            .diagnostics
            .iter()
            .all(|d| !matches!(d.code.rule(), Some("ConsecutiveRun" | "BaseImageNotPinned")))
    );
    assert!(
        checked
            .diagnostics
            .iter()
            .any(|d| d.code.rule() == Some("MaintainerDeprecated"))
    );
    opts.lint.skip_all = true;
    assert!(
        check(&text, &opts)
            .diagnostics
            .iter()
            .all(|d| d.code.rule().is_none())
    );
}

fn evaluate(
    text: &str,
    args: &[(&str, &str)],
    target: Option<&str>,
) -> duckc_dockerfile::Evaluation {
    let file = duckc_dockerfile::parse(text);
    assert!(!file.has_errors(), "{:#?}", file.errors);
    let opts = EvalOptions {
        build_args: args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target: target.map(str::to_string),
        ..EvalOptions::default()
    };
    duckc_dockerfile::evaluate(&file, &opts)
}

fn messages(ev: &duckc_dockerfile::Evaluation) -> Vec<String> {
    ev.diagnostics
        .iter()
        .map(|d| format!("{}: {}", d.severity, d.message))
        .collect()
}

#[test]
fn build_args_override_defaults_and_unused_ones_are_reported() {
    let text = "ARG V=1\nFROM busybox:${V}\nARG V\nARG W=2\nLABEL v=$V w=$W\n";
    let ev = evaluate(
        text,
        &[("V", "9"), ("W", "8"), ("X", "7"), ("HTTP_PROXY", "p")],
        None,
    );
    use duckc_dockerfile::stages::{Base, Op};
    assert_eq!(ev.stages[0].base, Base::Image("busybox:9".into()));
    assert_eq!(
        ev.stages[0].steps[2].op,
        Op::Label(vec![("v".into(), "9".into()), ("w".into(), "8".into())])
    );
    assert_eq!(ev.unused_build_args, vec!["X".to_string()]);
    assert_eq!(
        ev.used_build_args.iter().collect::<Vec<_>>(),
        vec!["V", "W"]
    );
    assert_eq!(
        messages(&ev),
        vec!["warning: build arguments not consumed by any `ARG`: `X`"]
    );
}

#[test]
fn target_selects_the_needed_stages() {
    let text = "FROM busybox:1 AS a\nFROM busybox:1 AS b\nFROM a AS c\nCOPY --from=b /x /x\nFROM busybox:1 AS d\n";
    let ev = evaluate(text, &[], Some("C"));
    assert_eq!(ev.target, Some(2));
    assert_eq!(ev.needed, vec![0, 1, 2]);
    let ev = evaluate(text, &[], None);
    assert_eq!(ev.needed, vec![3]);
    let ev = evaluate(text, &[], Some("nope"));
    assert_eq!(ev.target, None);
    assert_eq!(messages(&ev), vec!["error: target stage `nope` not found"]);
}

#[test]
fn stage_references() {
    let text = "FROM later AS first\nCOPY --from=first /a /a\nCOPY --from=5 /a /a\nRUN --mount=from=later,target=/m true\nFROM busybox:1 AS later\nCOPY --from=0 /a /a\n";
    let ev = evaluate(text, &[], None);
    assert_eq!(
        messages(&ev),
        vec![
            "warning: stage `later` is defined after this `FROM`, so `later` is taken as an image",
            "error: stage `first` cannot use itself",
            "error: there is no stage 5 before this one",
            "warning: stage `later` is defined later, so `later` is taken as an image",
        ]
    );
    assert_eq!(ev.stages[1].depends_on, vec![0]);
}

#[test]
fn env_is_inherited_by_child_stages_but_args_are_not() {
    let text = "FROM busybox:1 AS base\nARG A=a\nENV E=e\nFROM base\nWORKDIR /$A/$E\n";
    let ev = evaluate(text, &[], None);
    use duckc_dockerfile::stages::Op;
    assert_eq!(ev.stages[1].steps[0].op, Op::Workdir("//e".into()));
    assert_eq!(
        ev.stages[1].steps[0].env,
        vec![("E".to_string(), "e".to_string())]
    );
}

#[test]
fn base_image_env_is_used_when_known() {
    let file = duckc_dockerfile::parse("FROM python:3.12\nWORKDIR $PYTHON_HOME/app\n");
    let mut opts = EvalOptions::default();
    opts.base_env.insert(
        "python:3.12".into(),
        vec![("PYTHON_HOME".into(), "/py".into())],
    );
    let ev = duckc_dockerfile::evaluate(&file, &opts);
    assert_eq!(
        ev.stages[0].steps[0].op,
        duckc_dockerfile::stages::Op::Workdir("/py/app".into())
    );
}

#[test]
fn substitution_errors_point_at_the_word() {
    let text = "FROM busybox:1\nARG REQUIRED\nWORKDIR /x/${REQUIRED:?must be given}\n";
    let checked = check(text, &CheckOptions::default());
    let rendered = render("Dockerfile", text, &checked.diagnostics);
    insta::assert_snapshot!(rendered, @r"
    dockerfile::eval

      × REQUIRED: must be given
       ╭─[Dockerfile:3:12]
     2 │ ARG REQUIRED
     3 │ WORKDIR /x/${REQUIRED:?must be given}
       ·            ─────────────┬────────────
       ·                         ╰── in this substitution
       ╰────
      help: pass `--build-arg REQUIRED=…` or give `REQUIRED` a default
    ");
}

#[test]
fn crlf_and_byte_order_mark() {
    let text = "\u{feff}# escape=`\r\nFROM busybox:1\r\nRUN echo a `\r\n  b\r\nCOPY <<EOF /x\r\nline\r\nEOF\r\n";
    let file = duckc_dockerfile::parse(text);
    assert!(!file.has_errors(), "{:#?}", file.errors);
    assert_eq!(file.escape, '`');
    let duckc_dockerfile::InstructionKind::Run(run) = &file.instructions[1].kind else {
        panic!()
    };
    let duckc_dockerfile::CommandForm::Shell(cmd) = &run.command else {
        panic!()
    };
    assert_eq!(cmd.text, "echo a   b");
    assert_eq!(file.instructions[2].heredocs[0].content, "line\n");
    assert!(file.instructions[2].heredocs[0].terminated);
}

/// A small deterministic generator (xorshift), so the run is the same every time.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const PIECES: &[&str] = &[
    "\\\n",
    "\n",
    "`\n",
    "<<EOF",
    "<<-EOF",
    "<<'EOF'",
    "EOF\n",
    "\tEOF\n",
    "${",
    "}",
    "${A:-",
    "$",
    "[\"",
    "\"]",
    "\",\"",
    "[",
    "]",
    "--mount=type=cache,target=",
    "--from=",
    "--",
    "#",
    "# escape=`\n",
    "# check=skip=",
    "ONBUILD ",
    "FROM ",
    "RUN ",
    "COPY ",
    "ARG ",
    "ENV ",
    "HEALTHCHECK ",
    " AS ",
    "\"",
    "'",
    "=",
    ",",
    " ",
    "\t",
    "é",
    "🦆",
    "\r\n",
    "\u{feff}",
    "|",
    "&&",
    "cd /",
    "apt-get update",
];

/// Every span a diagnostic or instruction carries lies inside the text, on character boundaries.
fn assert_spans_valid(text: &str, checked: &duckc_dockerfile::Checked) {
    let ok = |s: duckc_dockerfile::Span| {
        s.start <= s.end
            && s.end <= text.len()
            && text.is_char_boundary(s.start)
            && text.is_char_boundary(s.end)
    };
    for d in &checked.diagnostics {
        for l in &d.labels {
            assert!(
                ok(l.span),
                "bad span {:?} for {:?} in {text:?}",
                l.span,
                d.message
            );
        }
    }
    for inst in &checked.file.instructions {
        assert!(
            ok(inst.span),
            "bad instruction span {:?} in {text:?}",
            inst.span
        );
        assert!(ok(inst.keyword.span), "bad keyword span in {text:?}");
    }
}

/// Thousands of mutated and random inputs: no panic, no hang, spans always valid, and every
/// diagnostic renders.
#[test]
fn mutated_inputs_never_panic() {
    let corpus = corpus();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for round in 0..3000 {
        let mut text: String = if round % 4 == 0 {
            String::new()
        } else {
            corpus[rng.below(corpus.len())].1.clone()
        };
        for _ in 0..1 + rng.below(8) {
            let boundaries: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let at = boundaries[rng.below(boundaries.len())];
            match rng.below(3) {
                0 => text.insert_str(at, PIECES[rng.below(PIECES.len())]),
                1 => {
                    let to = boundaries[rng.below(boundaries.len())];
                    let (a, b) = (at.min(to), at.max(to));
                    if b - a < 200 {
                        text.replace_range(a..b, "");
                    }
                }
                _ => {
                    let to = boundaries[rng.below(boundaries.len())];
                    let (a, b) = (at.min(to), at.max(to));
                    if b - a < 200 {
                        let copy = text[a..b].to_string();
                        text.insert_str(b, &copy);
                    }
                }
            }
        }
        let checked = check(&text, &CheckOptions::default());
        assert_spans_valid(&text, &checked);
        if round % 50 == 0 {
            render("Dockerfile", &text, &checked.diagnostics);
        }
    }
}

#[test]
fn pathological_inputs_stay_bounded() {
    let inputs = [
        "ONBUILD ".repeat(20_000) + "RUN x",
        "FROM a\nRUN ".to_string() + &"[".repeat(50_000),
        "FROM a\nENV A=".to_string() + &"${A:-".repeat(20_000),
        "FROM a\nRUN x \\\n".repeat(5_000),
        "FROM a\nRUN <<A <<B <<C\n".to_string() + &"x\n".repeat(10_000),
        "\\\n".repeat(10_000),
        "#".repeat(100_000),
    ];
    for text in inputs {
        let checked = check(&text, &CheckOptions::default());
        assert_spans_valid(&text, &checked);
    }
}

#[test]
fn a_did_you_mean_is_a_machine_applicable_suggestion() {
    let text = "FROM busybox\nRUNN echo hi\nCOPY --chwon=1:1 a /a\nRUN --mount=type=cache,traget=/c true\n";
    let checked = check(text, &CheckOptions::default());
    let out: Vec<String> = checked
        .diagnostics
        .iter()
        .filter_map(|d| {
            let s = d.suggestion()?;
            Some(format!(
                "{}: {} -> {}",
                d.code,
                &text[s.span.start..s.span.end],
                s.replacement
            ))
        })
        .collect();
    insta::assert_snapshot!(out.join("\n"), @r"
    dockerfile::syntax: RUNN -> RUN
    dockerfile::syntax: --chwon -> --chown
    dockerfile::syntax: traget -> target
    ");
}
