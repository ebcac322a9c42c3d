//! `image prune` (untagged images; `-a`: every image no container uses) and the `image`
//! management command.

use std::process::ExitCode;

use clap::{Args, Subcommand};
use duckc_store::Store;

use super::history::{HistoryArgs, history};
use crate::cmd::container::lifecycle::confirm;

/// `duckc image …`.
#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum ImageCommand {
    /// Remove untagged images (`-a`: every image no container uses) and free their space.
    Prune(PruneArgs),
    /// Show an image's history.
    History(HistoryArgs),
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove every image no container uses, not only untagged ones.
    #[arg(short, long)]
    pub all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    pub force: bool,
}

impl ImageCommand {
    pub fn run(self, store: &Store) -> miette::Result<ExitCode> {
        match self {
            ImageCommand::History(a) => history(store, &a),
            ImageCommand::Prune(a) => {
                confirm(
                    a.force,
                    if a.all {
                        "This will remove all images without at least one container associated to them."
                    } else {
                        "This will remove all dangling images."
                    },
                )?;
                let (deleted, bytes) = prune_images(store, a.all)?;
                if !deleted.is_empty() {
                    println!("Deleted Images:");
                    for d in &deleted {
                        println!("deleted: {d}");
                    }
                    println!();
                }
                println!(
                    "Total reclaimed space: {}",
                    duckc_image::time::human_size(bytes)
                );
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Remove the untagged images (with `all`, every image) that no container uses, then collect
/// the garbage; returns the image ids removed and the bytes freed.
pub fn prune_images(store: &Store, all: bool) -> miette::Result<(Vec<String>, u64)> {
    let refs = store.refs()?;
    let used: std::collections::BTreeSet<_> =
        store.roots()?.into_iter().flat_map(|(_, ds)| ds).collect();
    let mut deleted = Vec::new();
    for digest in refs.images.keys() {
        if used.contains(digest) || (!all && !refs.tags_of(digest).is_empty()) {
            continue;
        }
        if let Ok((_, Some(id))) = duckc_image::remove(store, &digest.to_string(), true) {
            deleted.push(id.to_string());
        }
    }
    let report = duckc_image::gc(store)?;
    Ok((deleted, report.bytes))
}
