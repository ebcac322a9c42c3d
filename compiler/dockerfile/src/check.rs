//! `check`: parse, evaluate, warn about what duckc does not honour, and lint, in one call — what
//! `duckc check Dockerfile` and the language server show.

use crate::ast::Dockerfile;
use crate::diagnostic::{self, Diagnostic};
use crate::lint::{self, LintOptions};
use crate::stages::{self, EvalOptions, Evaluation};

/// Options for [`check`]. The lint options add to those of the file's `# check=` directive.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub lint: LintOptions,
    pub eval: EvalOptions,
}

/// Everything known about a Dockerfile.
#[derive(Clone, Debug)]
pub struct Checked {
    pub file: Dockerfile,
    pub evaluation: Evaluation,
    /// Syntax and evaluation errors, unsupported-feature warnings and lints, by position.
    pub diagnostics: Vec<Diagnostic>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

pub fn check(text: &str, opts: &CheckOptions) -> Checked {
    let file = crate::parse(text);
    let evaluation = stages::evaluate(&file, &opts.eval);
    let (mut lint_opts, mut diagnostics) = lint::check_directive(&file);
    lint_opts.skip.extend(opts.lint.skip.iter().cloned());
    lint_opts.skip_all |= opts.lint.skip_all;
    lint_opts.error |= opts.lint.error;
    lint_opts.buildkit_only |= opts.lint.buildkit_only;
    diagnostics.extend(file.errors.iter().cloned());
    diagnostics.extend(evaluation.diagnostics.iter().cloned());
    diagnostics.extend(crate::unsupported::warnings(&file));
    diagnostics.extend(lint::lint(&file, &lint_opts));
    diagnostic::sort(&mut diagnostics);
    Checked {
        file,
        evaluation,
        diagnostics,
    }
}
