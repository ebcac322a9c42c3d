//! The spec language's syntax: KDL text in, a syntax tree with byte spans and diagnostics out.
//!
//! No salsa and no IO here; `duckc-ir` wraps [`parse`] in a query. [`render`] turns diagnostics
//! into the text `duckc check` prints, the same in the CLI, the tests and the language server.

pub mod ast;
pub mod depth;
pub mod diagnostic;
mod frontend;
pub mod reference;
pub mod render;
pub mod suggest;

pub use depth::MAX_NESTING;
pub use diagnostic::{Code, Diagnostic, Severity, Span};
pub use frontend::{
    ITEM_KEYWORDS, Parse, parse, parse_mode, step_example, step_keywords, step_properties,
    valid_env_name, valid_platform,
};

#[cfg(test)]
mod tests;
