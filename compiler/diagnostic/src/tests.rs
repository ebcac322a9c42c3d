use super::*;

const TEXT: &str = "FROM busybox\nRUNN echo hi\n";

#[test]
fn codes_are_stable_and_in_one_namespace() {
    assert_eq!(Code::UnknownNode.as_str(), "duckc::unknown_node");
    assert_eq!(Code::DockerfileLower.as_str(), "dockerfile::lower");
    let lint = Code::Lint("BaseImageNotPinned");
    assert_eq!(lint.to_string(), "dockerfile::lint::BaseImageNotPinned");
    assert_eq!(lint.rule(), Some("BaseImageNotPinned"));
    assert_eq!(Code::DockerfileSyntax.rule(), None);
}

#[test]
fn accessors_give_the_primary_label_first() {
    let d = Diagnostic::error_at(
        Code::DockerfileSyntax,
        "unknown instruction `RUNN`",
        Span::new(13, 17),
        "here",
    )
    .with_label(Span::new(0, 4), "first")
    .with_help("did you mean `RUN`?")
    .with_suggestion(Span::new(13, 17), "RUN");
    assert!(d.is_error());
    assert_eq!(d.span(), Some(Span::new(13, 17)));
    assert_eq!(d.label(), Some("here"));
    assert_eq!(d.related().len(), 1);
    assert_eq!(d.suggestion().map(|s| s.replacement.as_str()), Some("RUN"));
    let whole = Diagnostic::warning(Code::DockerfileEval, "no label");
    assert_eq!(
        (whole.span(), whole.label(), whole.related().len()),
        (None, None, 0)
    );
}

#[test]
fn spans_clamp_and_cover() {
    assert_eq!(Span::new(5, 2), Span::new(5, 5));
    assert_eq!(Span::new(1, 3).cover(Span::new(6, 8)), Span::new(1, 8));
    let s: miette::SourceSpan = Span::new(2, 7).into();
    assert_eq!(Span::from(s), Span::new(2, 7));
}

#[test]
fn one_look_for_located_and_whole_file_diagnostics() {
    let mut items = vec![
        Diagnostic::warning(
            Code::DockerfileEval,
            "build argument `X` is not consumed by any `ARG`",
        )
        .with_help("remove `--build-arg X`, or declare it with `ARG X`"),
        Diagnostic::error_at(
            Code::DockerfileSyntax,
            "unknown instruction `RUNN`",
            Span::new(13, 17),
            "unknown instruction",
        )
        .with_help("did you mean `RUN`?"),
    ];
    sort(&mut items);
    insta::assert_snapshot!(render(&items, "Dockerfile", TEXT, Style::Plain), @r"
    dockerfile::eval

      ⚠ build argument `X` is not consumed by any `ARG`
      help: remove `--build-arg X`, or declare it with `ARG X`

    dockerfile::syntax

      × unknown instruction `RUNN`
       ╭─[Dockerfile:2:1]
     1 │ FROM busybox
     2 │ RUNN echo hi
       · ──┬─
       ·   ╰── unknown instruction
       ╰────
      help: did you mean `RUN`?
    ");
}
