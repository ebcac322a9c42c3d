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

/// An error that says its cause in its message (`{source}`) and returns it from `source()`
/// too, as the libraries' `thiserror` enums do.
#[derive(Debug, miette::Diagnostic)]
#[diagnostic(code(store::io), help("check the path"))]
struct Access {
    says_cause: bool,
    source: Inner,
}

#[derive(Debug)]
struct Inner(&'static str, Option<std::io::Error>);

impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Inner {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_ref().map(|e| e as _)
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.says_cause {
            true => write!(f, "cannot access `blobs/x`: {}", self.source),
            false => write!(f, "cannot access `blobs/x`"),
        }
    }
}

impl std::error::Error for Access {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

#[test]
fn errors_render_as_diagnostics_with_each_cause_said_once() {
    let said = Access {
        says_cause: true,
        source: Inner(
            "permission denied",
            Some(std::io::Error::other("permission denied")),
        ),
    };
    let unsaid = Access {
        says_cause: false,
        source: Inner("permission denied", Some(std::io::Error::other("EACCES"))),
    };
    let out = [&said, &unsaid]
        .map(|e| render_error(e, Style::Plain, None))
        .join("\n");
    insta::assert_snapshot!(out, @r"
    store::io

      × cannot access `blobs/x`: permission denied
      help: check the path

    store::io

      × cannot access `blobs/x`
      ├─▶ permission denied
      ╰─▶ EACCES
      help: check the path
    ");
}

#[test]
fn errors_quoting_terminal_escapes_render_them_as_question_marks() {
    let quoting = miette::MietteDiagnostic::new(
        "unsafe entry name `\u{1b}]2;owned\u{7}/x`\nsecond line\twith a tab",
    )
    .with_code("image::bad_archive")
    .with_help("not `\u{1b}[2J` this");
    let cause = Access {
        says_cause: false,
        source: Inner(
            "outer",
            Some(std::io::Error::other("cause with \u{1b}[31mred")),
        ),
    };
    let out = [
        render_error(&quoting, Style::Plain, None),
        render_error(&cause, Style::Color, None),
    ]
    .join("\n");
    // The colour theme's own escapes stay (SGR, `ESC [ … m`); every other one is gone.
    let stripped: String = out
        .split('\u{1b}')
        .enumerate()
        .map(|(i, part)| {
            if i == 0 {
                part.to_owned()
            } else {
                let end = part.find('m').expect("only colour escapes are left");
                assert!(
                    part.starts_with('[')
                        && part[1..end]
                            .bytes()
                            .all(|b| b.is_ascii_digit() || b == b';'),
                    "{out:?}"
                );
                part[end + 1..].to_owned()
            }
        })
        .collect();
    assert!(!stripped.contains('\u{7}'), "{out:?}");
    assert!(stripped.contains("`?]2;owned?/x`"), "{stripped}");
    assert!(stripped.contains("?[31mred"), "{stripped}");
    assert!(stripped.contains("not `?[2J` this"), "{stripped}");
    assert!(stripped.contains("second line"), "{stripped}");
}

/// An error with a long path in its message and long flags in its help, as a registry or a
/// run error has them.
fn long_tokens() -> (miette::MietteDiagnostic, String, String) {
    let message = format!(
        "bad variable in `/var/lib/duckc/ci/{}registries.conf` line 3: no `=`",
        "a-checkout-somewhere-deep/".repeat(3)
    );
    let help = "pass `--tls-verify=false` for `registry.internal:5000/your/duck:TAG`, or \
                `--env-file /etc/containers/registries.conf.d/duck.conf`, then run again"
        .to_owned();
    let error = miette::MietteDiagnostic::new(message.clone())
        .with_code("registry::config")
        .with_help(help.clone());
    (error, message, help)
}

/// The words of rendered text, without the theme's decorations.
fn words(out: &str) -> String {
    out.split_whitespace()
        .filter(|w| !matches!(*w, "×" | "│" | "help:"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn errors_off_a_terminal_are_not_wrapped() {
    let (error, message, help) = long_tokens();
    let out = render_error(&error, Style::Plain, None);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines.contains(&format!("  × {message}").as_str()), "{out}");
    assert!(lines.contains(&format!("  help: {help}").as_str()), "{out}");
}

#[test]
fn errors_on_a_terminal_wrap_at_its_width_between_words_only() {
    let (error, message, help) = long_tokens();
    for width in [1, 40, 57, 80, 100, 133] {
        let out = render_error(&error, Style::Plain, Some(width));
        // Every token whole: the words, read across the line breaks, are the message's and the
        // help's, with no piece of a path or a flag on a line of its own.
        assert!(
            words(&out).contains(&format!("{message} {help}")),
            "width {width}:\n{out}"
        );
        let width = width.max(MIN_WIDTH);
        for line in out.lines() {
            let long = line.chars().count() > width;
            // Only a token longer than the room overflows, alone after the indent.
            assert!(
                !long || words(line).split(' ').count() == 1,
                "width {width}: {line:?}\n{out}"
            );
        }
        assert!(out.lines().count() > 4, "width {width} wraps:\n{out}");
    }
    insta::assert_snapshot!(render_error(&error, Style::Plain, Some(60)), @r"
    registry::config

      × bad variable in
      │ `/var/lib/duckc/ci/a-checkout-somewhere-deep/a-checkout-somewhere-deep/a-checkout-somewhere-deep/registries.conf`
      │ line 3: no `=`
      help: pass `--tls-verify=false` for
            `registry.internal:5000/your/duck:TAG`, or
            `--env-file
            /etc/containers/registries.conf.d/duck.conf`, then
            run again
    ");
}

#[test]
fn spec_diagnostics_wrap_at_their_width_between_words_only() {
    let help = format!(
        "unknown instruction; `RUN --mount=type=cache,target=/{}/cache` or `--network=none` \
         is what you meant, see docs/dockerfile.md",
        "very-long-directory-name".repeat(4)
    );
    let d = Diagnostic::error_at(
        Code::DockerfileSyntax,
        "unknown instruction `RUNN`",
        Span::new(13, 17),
        "here",
    )
    .with_help(help.clone());
    let out = render(&[d], "Dockerfile", TEXT, Style::Plain);
    assert!(words(&out).contains(&help), "{out}");
}
