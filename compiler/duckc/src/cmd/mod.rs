//! One module per group of verbs. Each exposes a clap `Command` enum that `main` flattens.

pub mod bases;
pub mod build;
pub mod build_cache;
pub mod container;
pub mod convert;
pub mod dockerfile;
pub mod format;
pub mod help;
pub mod host;
pub mod image;
pub mod lsp;
pub mod network;
pub mod packages;
pub mod pull_view;
pub mod registry;
pub mod sbom;
pub mod spec;
pub mod system;
pub mod unshare;
