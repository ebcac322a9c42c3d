//! One module per group of verbs. Each exposes a clap `Command` enum that `main` flattens.

pub mod bases;
pub mod build;
pub mod container;
pub mod convert;
pub mod dockerfile;
pub mod format;
pub mod help;
pub mod host;
pub mod image;
pub mod packages;
pub mod registry;
pub mod spec;
pub mod system;
