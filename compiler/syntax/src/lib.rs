//! The spec language's syntax: KDL text in, a syntax tree with byte spans and diagnostics out.
//!
//! No salsa and no IO here; `duckc-ir` wraps [`parse`] in a query. Diagnostics are
//! `duckc-diagnostic`'s, rendered by its [`duckc_diagnostic::render`] like every other frontend's.

pub mod ast;
pub mod chunks;
pub mod depth;
mod frontend;
pub mod reference;
pub mod suggest;

pub use chunks::parse_by_node;
pub use depth::MAX_NESTING;
pub use duckc_diagnostic::{Code, Diagnostic, Severity, Span};
pub use frontend::{
    ITEM_KEYWORDS, Parse, parse, parse_mode, step_example, step_keywords, step_properties,
    valid_env_name, valid_platform,
};

#[cfg(test)]
mod tests;
