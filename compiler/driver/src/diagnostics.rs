//! What loading found wrong, per file, in the order a verb shows it, and how it renders.

use duckc_diagnostic::{Code, Diagnostic, Severity, Style};

/// Which stage of loading a group of diagnostics comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A KDL spec file's: syntax, resolution and lowering.
    Spec,
    /// A Dockerfile's syntax errors, what duckc does not honour, and lints; rendered with a
    /// count line, as `docker build --check` ends.
    Dockerfile,
    /// A Dockerfile's evaluation and lowering errors (and warnings): the steps that cannot be
    /// built as written, and build arguments no `ARG` consumes.
    Lowering,
}

/// The diagnostics of one file, as loading returns them: the file's name as the user named it
/// (the root spec or Dockerfile) or its logical path (an import), its text, and the items, each
/// a [`Diagnostic`] with byte spans into that text.
#[derive(Debug, Clone)]
pub struct Diagnostics {
    pub kind: Kind,
    pub name: String,
    pub text: String,
    pub items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new(kind: Kind, name: impl Into<String>, text: impl Into<String>) -> Diagnostics {
        Diagnostics {
            kind,
            name: name.into(),
            text: text.into(),
            items: Vec::new(),
        }
    }

    /// The file's name, as the items' spans refer to it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file's text: the items' spans are byte ranges in it.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn items(&self) -> &[Diagnostic] {
        &self.items
    }

    /// A warning that a `--build-arg` is consumed by no `ARG` of the Dockerfile.
    pub(crate) fn unused_build_arg(&mut self, arg: &str) {
        self.items.push(
            Diagnostic::warning(
                Code::DockerfileEval,
                format!("build argument `{arg}` is not consumed by any `ARG`"),
            )
            .with_help(format!(
                "declare it with `ARG {arg}` where it is used, or drop `--build-arg {arg}`"
            )),
        );
    }

    /// How many errors.
    pub fn errors(&self) -> usize {
        self.items.iter().filter(|d| d.is_error()).count()
    }

    /// How many warnings.
    pub fn warnings(&self) -> usize {
        self.items
            .iter()
            .filter(|d| d.severity == Severity::Warning)
            .count()
    }

    /// The errors alone (what a second loading of the same file shows, its warnings shown
    /// already), or `None` when there are none.
    pub fn errors_only(&self) -> Option<Diagnostics> {
        let out = Diagnostics {
            items: self
                .items
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect(),
            ..Diagnostics::new(self.kind, self.name.clone(), self.text.clone())
        };
        (out.errors() > 0).then_some(out)
    }

    /// The text to print on stderr: every item in `duckc-diagnostic`'s one look, and for a
    /// Dockerfile's check the count line.
    pub fn render(&self, style: Style) -> String {
        let mut out = duckc_diagnostic::render(&self.items, &self.name, &self.text, style);
        if self.kind == Kind::Dockerfile && !self.items.is_empty() {
            let (errors, warnings) = (self.errors(), self.warnings());
            out.push_str(&format!(
                "{}: {errors} error{}, {warnings} warning{}\n",
                self.name,
                if errors == 1 { "" } else { "s" },
                if warnings == 1 { "" } else { "s" }
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dockerfile_with_warnings_only_has_no_errors() {
        let checked = crate::dockerfile::check("Dockerfile", "FROM busybox\nCMD ls -l\n", true);
        assert_eq!((checked.errors(), checked.warnings()), (0, 2));
        let out = checked.render(Style::Plain);
        assert!(out.contains("BaseImageNotPinned"), "{out}");
        assert!(out.ends_with("Dockerfile: 0 errors, 2 warnings\n"), "{out}");
        assert!(checked.errors_only().is_none());
        let checked = crate::dockerfile::check("Dockerfile", "FORM busybox\n", true);
        assert!(checked.errors() > 0, "{}", checked.render(Style::Plain));
        assert!(checked.errors_only().is_some());
    }

    #[test]
    fn lints_lowering_errors_and_notes_render_alike() {
        let text = "FROM busybox\nCOPY missing /m\n";
        let mut d = Diagnostics::new(Kind::Lowering, "Dockerfile", text);
        d.items.push(
            Diagnostic::error_at(
                Code::DockerfileLower,
                "`missing` is not in the build context",
                duckc_diagnostic::Span::new(18, 25),
                "not found",
            )
            .with_help("add it to the context"),
        );
        d.unused_build_arg("X");
        insta::assert_snapshot!(d.render(Style::Plain), @r"
        dockerfile::lower

          × `missing` is not in the build context
           ╭─[Dockerfile:2:6]
         1 │ FROM busybox
         2 │ COPY missing /m
           ·      ───┬───
           ·         ╰── not found
           ╰────
          help: add it to the context

        dockerfile::eval

          ⚠ build argument `X` is not consumed by any `ARG`
          help: declare it with `ARG X` where it is used, or drop `--build-arg X`
        ");
    }
}
