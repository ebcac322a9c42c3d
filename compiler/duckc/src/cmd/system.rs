//! Store maintenance verbs: `verify`, `gc`, `system df`, `system prune`; and `version`,
//! `info`.

mod facts;

use std::process::ExitCode;

use clap::Subcommand;
use duckc_image::{UsageRow, time};
use miette::miette;

use crate::Global;
use crate::cmd::image::{open_store, print_table};

/// The store as it is on disk: [`duckc_store::Store::open_as_is`].
fn open_store_as_is(global: &Global) -> miette::Result<duckc_store::Store> {
    let root = global
        .store
        .clone()
        .unwrap_or_else(duckc_store::Store::default_root);
    duckc_store::Store::open_as_is(&root).map_err(|e| {
        miette!(
            help = "pass another directory with `--store DIR` or `DUCKC_STORE`",
            "cannot open the store: {e}"
        )
    })
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Re-hash every blob and snapshot in the store and report what is wrong.
    Verify(VerifyArgs),
    /// Remove blobs, layers and snapshots that no image, container or cache entry uses.
    Gc,
    /// Show duckc's version and the runtime's facts (kernel, cgroups, seccomp, store).
    Version(FormatArg),
    /// Show the store's containers and images and what the runtime can use.
    Info(FormatArg),
    /// Store-wide views.
    #[command(subcommand)]
    System(SystemCommand),
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum SystemCommand {
    /// Show disk usage: images, layers, snapshots, containers, build cache.
    Df,
    /// Remove stopped containers and untagged images (`-a`: every unused image), then `gc`.
    Prune(SystemPruneArgs),
    /// Same as `duckc info`.
    Info(FormatArg),
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// Remove damaged snapshots first (with a layer kept only as its snapshot, the layer and
    /// its build cache entries, so a build makes it again), then verify.
    #[arg(long)]
    repair: bool,
}

#[derive(Debug, clap::Args)]
pub struct FormatArg {
    /// Print through a Go-style template (`{{.KernelVersion}}`, `{{json .}}`).
    #[arg(short, long)]
    format: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct SystemPruneArgs {
    /// Remove every image no container uses, not only untagged ones.
    #[arg(short, long)]
    all: bool,
    /// Do not ask for confirmation.
    #[arg(short, long)]
    force: bool,
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        if let Command::Version(a) = &self {
            let root = global
                .store
                .clone()
                .unwrap_or_else(duckc_store::Store::default_root);
            return facts::version(&root, a.format.as_deref());
        }
        // `verify` reports wrong modes; every other command fixes them when it opens the store.
        let store = match self {
            Command::Verify(_) => open_store_as_is(global)?,
            _ => open_store(global)?,
        };
        match self {
            Command::Verify(a) => {
                if a.repair {
                    let repaired = store.repair()?;
                    for p in &repaired {
                        println!("repaired {}: {}", p.what, p.reason);
                    }
                }
                let report = duckc_image::verify(&store)?;
                for p in &report.problems {
                    println!("{}: {}", p.what, p.reason);
                }
                if report.problems.is_empty() {
                    println!(
                        "ok: {} blobs and {} snapshots verified",
                        report.blobs, report.snapshots
                    );
                    Ok(ExitCode::SUCCESS)
                } else {
                    eprintln!(
                        "{} problem(s) found; `duckc verify --repair` removes damaged snapshots, `duckc gc` removes unreferenced leftovers and restores the store's modes, `duckc rmi` and `duckc load` replace damaged images",
                        report.problems.len()
                    );
                    Ok(ExitCode::FAILURE)
                }
            }
            Command::Version(a) => facts::version(store.root(), a.format.as_deref()),
            Command::Info(a) | Command::System(SystemCommand::Info(a)) => {
                facts::info(&store, a.format.as_deref())
            }
            Command::System(SystemCommand::Prune(a)) => {
                use crate::cmd::container::lifecycle;
                lifecycle::confirm(
                    a.force,
                    if a.all {
                        "This will remove:\n  - all stopped containers\n  - all images without at least one container associated to them\n  - all build cache entries no image uses"
                    } else {
                        "This will remove:\n  - all stopped containers\n  - all dangling images"
                    },
                )?;
                let (containers, container_bytes) = lifecycle::remove_stopped(&store);
                let (images, image_bytes) = crate::cmd::image::prune_images(&store, a.all)?;
                if !containers.is_empty() {
                    println!("Deleted Containers:");
                    containers.iter().for_each(|c| println!("{c}"));
                    println!();
                }
                if !images.is_empty() {
                    println!("Deleted Images:");
                    images.iter().for_each(|i| println!("deleted: {i}"));
                    println!();
                }
                println!(
                    "Total reclaimed space: {}",
                    time::human_size(container_bytes + image_bytes)
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::Gc => {
                let r = duckc_image::gc(&store)?;
                println!(
                    "removed {} blobs, {} snapshots and {} leftovers; reclaimed {}",
                    r.blobs,
                    r.snapshots,
                    r.tmp,
                    time::human_size(r.bytes)
                );
                Ok(ExitCode::SUCCESS)
            }
            Command::System(SystemCommand::Df) => {
                let u = duckc_image::disk_usage(&store)?;
                let row = |name: &str, r: &UsageRow| {
                    let pct = (r.reclaimable * 100).checked_div(r.size).unwrap_or(0);
                    [
                        name.to_owned(),
                        r.total.to_string(),
                        r.active.to_string(),
                        time::human_size(r.size),
                        format!("{} ({pct}%)", time::human_size(r.reclaimable)),
                    ]
                };
                print_table(&[
                    [
                        "TYPE".to_owned(),
                        "TOTAL".into(),
                        "ACTIVE".into(),
                        "SIZE".into(),
                        "RECLAIMABLE".into(),
                    ],
                    row("Images", &u.images),
                    row("Layers", &u.layers),
                    row("Snapshots", &u.snapshots),
                    row("Containers", &u.containers),
                    row("Build Cache", &u.cache),
                ]);
                println!("\nShared between images: {}", time::human_size(u.shared));
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}
