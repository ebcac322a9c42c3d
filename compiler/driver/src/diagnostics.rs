//! What loading found wrong, per file, in the order a verb shows it, and how it renders.

use duckc_syntax::render::Style;

/// The diagnostics of one file (or one note), as loading returns them.
#[derive(Debug, Clone)]
pub enum Diagnostics {
    /// A KDL spec file's: syntax, resolution and lowering.
    Spec {
        /// The file as the user named it (the root spec), or its logical path (an import).
        name: String,
        text: String,
        items: Vec<duckc_syntax::Diagnostic>,
    },
    /// A Dockerfile's syntax errors, what duckc does not honour, and lints, with a count line.
    Dockerfile {
        name: String,
        text: String,
        items: Vec<duckc_dockerfile::Diagnostic>,
    },
    /// A Dockerfile's evaluation and lowering errors (and warnings): the steps that cannot be
    /// built as written.
    Lowering {
        name: String,
        text: String,
        items: Vec<duckc_dockerfile::Diagnostic>,
    },
    /// A `--build-arg` that no `ARG` consumes.
    UnusedBuildArg(String),
}

impl Diagnostics {
    /// How many errors.
    pub fn errors(&self) -> usize {
        match self {
            Diagnostics::Spec { items, .. } => items
                .iter()
                .filter(|d| d.severity == duckc_syntax::Severity::Error)
                .count(),
            Diagnostics::Dockerfile { items, .. } | Diagnostics::Lowering { items, .. } => {
                items.iter().filter(|d| d.is_error()).count()
            }
            Diagnostics::UnusedBuildArg(_) => 0,
        }
    }

    /// How many warnings.
    pub fn warnings(&self) -> usize {
        let all = match self {
            Diagnostics::Spec { items, .. } => items.len(),
            Diagnostics::Dockerfile { items, .. } | Diagnostics::Lowering { items, .. } => {
                items.len()
            }
            Diagnostics::UnusedBuildArg(_) => 1,
        };
        all - self.errors()
    }

    /// The errors alone (what a second loading of the same file shows, its warnings shown
    /// already), or `None` when there are none.
    pub fn errors_only(&self) -> Option<Diagnostics> {
        let out = match self {
            Diagnostics::Spec { name, text, items } => Diagnostics::Spec {
                name: name.clone(),
                text: text.clone(),
                items: items
                    .iter()
                    .filter(|d| d.severity == duckc_syntax::Severity::Error)
                    .cloned()
                    .collect(),
            },
            Diagnostics::Dockerfile { name, text, items } => Diagnostics::Dockerfile {
                name: name.clone(),
                text: text.clone(),
                items: items.iter().filter(|d| d.is_error()).cloned().collect(),
            },
            Diagnostics::Lowering { name, text, items } => Diagnostics::Lowering {
                name: name.clone(),
                text: text.clone(),
                items: items.iter().filter(|d| d.is_error()).cloned().collect(),
            },
            Diagnostics::UnusedBuildArg(_) => return None,
        };
        (out.errors() > 0).then_some(out)
    }

    /// The text to print on stderr.
    pub fn render(&self, style: Style) -> String {
        match self {
            Diagnostics::Spec { name, text, items } => {
                duckc_syntax::render::render(items, name, text, style)
            }
            Diagnostics::Dockerfile { name, text, items } => {
                let theme = match style {
                    Style::Color => miette::GraphicalTheme::unicode(),
                    Style::Plain => miette::GraphicalTheme::unicode_nocolor(),
                };
                let handler = miette::GraphicalReportHandler::new_themed(theme).with_width(100);
                let mut out = String::new();
                for d in items {
                    let report = d.to_report(name, text);
                    if handler.render_report(&mut out, report.as_ref()).is_err() {
                        out.push_str(&format!("{}: {}\n", d.severity, d.message));
                    }
                }
                if !items.is_empty() {
                    let (errors, warnings) = (self.errors(), self.warnings());
                    out.push_str(&format!(
                        "{name}: {errors} error{}, {warnings} warning{}\n",
                        if errors == 1 { "" } else { "s" },
                        if warnings == 1 { "" } else { "s" }
                    ));
                }
                out
            }
            Diagnostics::Lowering { name, text, items } => items
                .iter()
                .map(|d| format!("{:?}\n", d.to_report(name, text)))
                .collect(),
            Diagnostics::UnusedBuildArg(arg) => {
                format!("warning: build argument `{arg}` is not consumed by any `ARG`\n")
            }
        }
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
}
