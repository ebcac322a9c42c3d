//! The Dockerfile frontend of duckc: a parser that never fails (a tree with byte spans plus
//! errors), Docker's variable substitution, the stage model the lowering to the build IR
//! consumes, and lints.
//!
//! ```
//! let file = duckc_dockerfile::parse("FROM busybox\nRUN touch new_file1\nCMD ls -l\n");
//! assert!(!file.has_errors());
//! assert_eq!(file.instructions.len(), 3);
//! ```

pub mod ast;
mod check;
mod diagnostic;
pub mod expand;
mod instructions;
pub mod lint;
mod mount;
mod parser;
mod pretty;
mod shell;
pub mod span;
pub mod stages;
mod suggest;
mod unsupported;
mod words;

pub use ast::*;
pub use check::{CheckOptions, Checked, check};
pub use diagnostic::{Code, Diagnostic, Label, Severity, Suggestion};
pub use instructions::INSTRUCTIONS;
pub use lint::{LintOptions, RULES, Rule};
pub use parser::parse;
pub use pretty::{pretty, pretty_stages};
pub use span::{Span, SpanMap, Spanned};
pub use stages::{EvalOptions, Evaluation, evaluate};
