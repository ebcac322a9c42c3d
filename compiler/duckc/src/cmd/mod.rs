//! One module per group of verbs. Each exposes a clap `Command` enum that `main` flattens.

pub mod spec;
pub mod dockerfile;
pub mod image;
pub mod system;
pub mod container;
pub mod build;
pub mod packages;
