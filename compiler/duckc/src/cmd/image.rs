//! Verbs on stored images: `images`, `tag`, `rmi`, `inspect`, `save`, `load`, `import`,
//! `export-layout`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_image::{ArchiveFormat, Image, time};
use duckc_store::Store;
use miette::{IntoDiagnostic, WrapErr, miette};

use crate::Global;

mod history;
mod listing;
mod prune;

pub use prune::prune_images;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// List images.
    Images {
        /// Only show image IDs.
        #[arg(short, long)]
        quiet: bool,
        /// Show full image IDs.
        #[arg(long)]
        no_trunc: bool,
        /// Show untagged intermediate images too (untagged envs other images are built on).
        #[arg(short, long)]
        all: bool,
        /// Show the digest each image has in its repository's registry (learnt by `pull`
        /// and `push`; `<none>` for images never pulled or pushed under that name).
        #[arg(long)]
        digests: bool,
        /// Only images whose name matches this repository.
        repository: Option<String>,
        /// Only images that match: `dangling=true|false`, `reference=NAME[:TAG]`.
        #[arg(short, long, value_name = "KEY=VALUE")]
        filter: Vec<String>,
        /// Print each image through a Go-style template (`{{.ID}}`, `{{json .}}`, `table …`).
        #[arg(long)]
        format: Option<String>,
    },
    /// Give an image another name.
    Tag {
        /// The image: `name[:tag]`, or an image id.
        source: String,
        /// The new `name[:tag]`.
        target: String,
    },
    /// Remove images (tags; the image itself when no tag is left). Space is freed by `gc`.
    Rmi {
        /// Images: `name[:tag]`, or image ids.
        #[arg(required = true)]
        images: Vec<String>,
        /// Remove images with several tags, or in use by containers.
        #[arg(short, long)]
        force: bool,
    },
    /// Show containers or images as JSON (a container by that name or id first, as Docker).
    Inspect {
        /// Print each object through a Go-style template (`{{.Id}}`, `{{json .Config}}`).
        #[arg(short, long)]
        format: Option<String>,
        /// Containers or images: names, `name[:tag]`, or ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Write images to an archive (OCI; `--format docker` adds what `docker load` reads).
    Save {
        /// The archive to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Archive format.
        #[arg(long, value_enum, default_value_t = Format::Oci)]
        format: Format,
        /// Images: `name[:tag]`, or image ids.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from an OCI layout directory, an OCI archive or a docker archive.
    Load {
        /// The archive or layout directory.
        #[arg(short, long, value_name = "FILE")]
        input: PathBuf,
        /// Only print the image ids.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Create a one-layer image from a directory, written as a reproducible layer.
    Import {
        /// The directory whose tree becomes the layer.
        dir: PathBuf,
        /// Name the image (`name[:tag]`).
        #[arg(short, long)]
        tag: Option<String>,
        /// Layer compression: `gzip`, `zstd` or `none`.
        #[arg(long, default_value = "gzip", value_parser = ["gzip", "zstd", "none"])]
        compression: String,
        /// Apply a Dockerfile instruction to the config (`CMD`, `ENV`, `WORKDIR`, …).
        #[arg(short, long)]
        change: Vec<String>,
        /// History comment.
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Show an image's history: the step or commit behind each layer.
    History(history::HistoryArgs),
    /// Manage images.
    #[command(subcommand)]
    Image(prune::ImageCommand),
    /// Write an image into an OCI layout directory (created, or extended).
    ExportLayout {
        /// The image: `name[:tag]`, or an image id.
        image: String,
        /// The layout directory.
        dir: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// OCI image layout in a tar.
    Oci,
    /// OCI layout plus docker's manifest.json.
    Docker,
}

/// Open the store the global options name.
pub fn open_store(global: &Global) -> miette::Result<Store> {
    let root = global.store.clone().unwrap_or_else(Store::default_root);
    Store::open(&root).map_err(|e| {
        miette!(
            help = "pass another directory with `--store DIR` or `DUCKC_STORE`",
            "cannot open the store: {e}"
        )
    })
}

/// Resolve a reference for the CLI, with a hint when it names nothing.
pub fn resolve(store: &Store, reference: &str) -> miette::Result<Image> {
    Ok(duckc_image::resolve(store, reference)?)
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        let store = open_store(global)?;
        match self {
            Command::Images {
                quiet,
                no_trunc,
                all,
                digests,
                repository,
                filter,
                format,
            } => {
                let listing = listing::Listing::parse(&filter, format.as_deref())?;
                images(
                    &store,
                    quiet,
                    no_trunc,
                    all,
                    digests,
                    repository.as_deref(),
                    &listing,
                )
            }
            Command::Tag { source, target } => {
                let image = resolve(&store, &source)?;
                duckc_image::tag(&store, &image, &target).map_err(|e| {
                    miette!(
                        help = "a name looks like `name`, `name:tag` or `host/path/name:tag`",
                        "{e}"
                    )
                })?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Rmi { images, force } => {
                let mut code = ExitCode::SUCCESS;
                for r in images {
                    match duckc_image::remove(&store, &r, force) {
                        Ok((untagged, deleted)) => {
                            for t in untagged {
                                println!("Untagged: {t}");
                            }
                            if let Some(d) = deleted {
                                println!("Deleted: {d}");
                            }
                        }
                        // Each as the other verbs' errors render, with its code and help.
                        Err(e) => {
                            eprintln!("{:?}", miette::Report::new(e));
                            code = ExitCode::FAILURE;
                        }
                    }
                }
                Ok(code)
            }
            Command::Inspect { images, format } => {
                use crate::cmd::container::lifecycle;
                // As Docker: the documents of the names found, an error for each other one.
                let mut out = Vec::new();
                let mut failed = false;
                for r in images {
                    match lifecycle::inspect_value(&store, &r) {
                        Some(container) => out.push(container),
                        None => match resolve(&store, &r) {
                            Ok(image) => out.push(inspect(&store, &image)),
                            Err(report) => {
                                eprintln!("{report:?}");
                                failed = true;
                            }
                        },
                    }
                }
                lifecycle::print_documents(&out, format.as_deref())?;
                Ok(if failed {
                    ExitCode::FAILURE
                } else {
                    ExitCode::SUCCESS
                })
            }
            Command::Save {
                output,
                format,
                images,
            } => {
                let mut list = Vec::new();
                for r in &images {
                    let image = resolve(&store, r)?;
                    let refs = store.refs()?;
                    let name = duckc_image::name_for(&refs, r, &image);
                    list.push((name, image));
                }
                let format = match format {
                    Format::Oci => ArchiveFormat::Oci,
                    Format::Docker => ArchiveFormat::Docker,
                };
                write_file_atomically(&output, |w| {
                    Ok(duckc_image::save(&store, &list, w, format)?)
                })?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Load { input, quiet } => {
                let loaded = duckc_image::load(&store, &input).map_err(|e| with_load_help(e, "`load` reads an OCI layout directory, an OCI archive (`skopeo copy … oci-archive:FILE`) or a docker archive (`docker save`)"))?;
                for l in loaded {
                    if quiet {
                        println!("{}", l.image.config_digest);
                    } else if l.names.is_empty() {
                        println!("Loaded image ID: {}", l.image.config_digest);
                    } else {
                        for n in l.names {
                            println!("Loaded image: {n}");
                        }
                    }
                }
                Ok(ExitCode::SUCCESS)
            }
            Command::Import {
                dir,
                tag,
                compression,
                change,
                message,
            } => {
                if !dir.is_dir() {
                    return Err(miette!(
                        help = "pass a directory; its tree becomes the image's only layer",
                        "`{}` is not a directory",
                        dir.display()
                    ));
                }
                let opts = duckc_image::CommitOptions {
                    message,
                    created_by: Some(format!("duckc import {}", dir.display())),
                    changes: change,
                    compression: duckc_layer::Compression::from_name(&compression)
                        .unwrap_or_default(),
                    plain: true,
                    ..Default::default()
                };
                let image = duckc_image::commit(&store, &Image::scratch(), &dir, &opts)
                    .map_err(|e| with_load_help(e, "`--change` takes CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, STOPSIGNAL, USER, VOLUME or WORKDIR"))?;
                if let Some(t) = tag {
                    duckc_image::tag(&store, &image, &t).map_err(|e| {
                        miette!(
                            help = "a name looks like `name`, `name:tag` or `host/path/name:tag`",
                            "{e}"
                        )
                    })?;
                }
                println!("{}", image.config_digest);
                Ok(ExitCode::SUCCESS)
            }
            Command::History(a) => history::history(&store, &a),
            Command::Image(c) => c.run(&store),
            Command::ExportLayout { image, dir } => {
                let img = resolve(&store, &image)?;
                let refs = store.refs()?;
                let name = duckc_image::name_for(&refs, &image, &img);
                duckc_image::export_layout(&store, &img, name.as_deref(), &dir)
                    .map_err(|e| super::build::output_error(e, &dir))?;
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

/// Write `path` through a temporary file beside it, renamed into place when complete: a
/// symlink planted at `path` is replaced, never written through (SECURITY 38).
pub(crate) fn write_file_atomically(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> miette::Result<()>,
) -> miette::Result<()> {
    let mut out = duckc_image::output::AtomicFile::create(path)
        .map_err(|e| super::build::output_error(e, path))?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, out.file());
        write(&mut w)?;
        w.flush()
            .into_diagnostic()
            .wrap_err_with(|| format!("cannot write `{}`", path.display()))?;
    }
    out.commit()
        .map_err(|e| super::build::output_error(e, path))
}

fn images(
    store: &Store,
    quiet: bool,
    no_trunc: bool,
    all: bool,
    digests: bool,
    repository: Option<&str>,
    listing: &listing::Listing,
) -> miette::Result<ExitCode> {
    let rows = duckc_image::list(store)?;
    let now = time::now();
    let mut table = vec![[
        "REPOSITORY".to_owned(),
        "TAG".into(),
        "IMAGE ID".into(),
        "CREATED".into(),
        "SIZE".into(),
    ]];
    let mut seen = std::collections::BTreeSet::new();
    let mut values = Vec::new();
    // Docker's DIGEST column (`--digests`): the digest each row's repository has for the
    // image, `<none>` when it was never pulled or pushed under that name.
    let mut digest_column = vec!["DIGEST".to_owned()];
    for row in rows {
        if !listing.matches(&row) || (row.intermediate && !all) {
            continue;
        }
        let (repo, tag) = match &row.tag {
            Some(t) => {
                let (r, t) = t.rsplit_once(':').unwrap_or((t, "latest"));
                (r.to_owned(), t.to_owned())
            }
            None => ("<none>".into(), "<none>".into()),
        };
        if let Some(want) = repository {
            // Normalized as names are (`library/debian` is `debian`).
            let want = duckc_image::ImageName::parse(want)
                .map(|n| n.familiar_repository())
                .unwrap_or_else(|_| want.split(':').next().unwrap_or(want).to_owned());
            if repo != want && repo.strip_prefix("localhost/") != Some(want.as_str()) {
                continue;
            }
        }
        let id = if no_trunc {
            row.image.config_digest.to_string()
        } else {
            row.image.short_id()
        };
        if quiet {
            if seen.insert(id.clone()) {
                println!("{id}");
            }
            continue;
        }
        let created = format!("{} ago", time::human_duration(now - row.time()));
        if listing.template.is_some() {
            values.push(listing::row_value(&row, &repo, &tag, &id, &created));
            continue;
        }
        if digests {
            digest_column.push(
                duckc_registry::origin::repo_digest(store, &row.image.digest, &repo)
                    .map_or_else(|| "<none>".to_owned(), |d| d.to_string()),
            );
        }
        table.push([repo, tag, id, created, time::human_size(row.size)]);
    }
    if let (Some(t), false) = (&listing.template, quiet) {
        t.print(&values, &crate::cmd::format::docker_header("image"))?;
    } else if digests && !quiet {
        let rows: Vec<[String; 6]> = table
            .into_iter()
            .zip(digest_column)
            .map(|([repo, tag, id, created, size], digest)| [repo, tag, digest, id, created, size])
            .collect();
        print_table(&rows);
    } else if !quiet {
        print_table(&table);
    }
    Ok(ExitCode::SUCCESS)
}

/// Columns padded like docker's tabwriter (minimum width 10, three spaces between columns).
pub fn print_table<const N: usize>(rows: &[[String; N]]) {
    // Cells can hold an image's own text (`history`'s `created_by` and `comment`): a terminal
    // escape or a line break in it must not reach the terminal or break the table.
    let rows: Vec<[String; N]> = rows
        .iter()
        .map(|row| {
            row.clone().map(|cell| {
                cell.chars()
                    .map(|c| if c.is_control() { '?' } else { c })
                    .collect()
            })
        })
        .collect();
    let rows = &rows[..];
    let mut widths = [0usize; N];
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = std::io::stdout().lock();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                let w = (widths[i] + 3).max(10);
                line.push_str(&format!("{cell:<w$}"));
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

fn inspect(store: &Store, image: &Image) -> serde_json::Value {
    let refs = store.refs().unwrap_or_default();
    // The config as stored: Docker's fields the OCI type lacks (`Shell`, `Healthcheck`,
    // `OnBuild`) included.
    let config = store
        .read_blob(&image.config_digest, duckc_image::MAX_METADATA_BYTES)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|v| v.get("config").cloned())
        .unwrap_or_else(|| serde_json::json!(image.config.config()));
    serde_json::json!({
        "Id": image.config_digest.to_string(),
        "Digest": image.digest.to_string(),
        "ManifestDigest": image.manifest_digest.to_string(),
        "RepoTags": duckc_image::repo_tags(&refs, &image.digest),
        "RepoDigests": repo_digests(store, image),
        "Origin": duckc_registry::origin::pulled_from(store, &image.digest).map(|o| serde_json::json!({
            "Registry": o.registry,
            "Repository": o.repository,
            "Tag": o.tag,
            "ManifestDigest": o.digest.to_string(),
        })),
        "Created": image.config.created(),
        "Size": image.size(store),
        "Architecture": image.config.architecture().to_string(),
        "Os": image.config.os().to_string(),
        "Config": config,
        "RootFS": image.config.rootfs(),
        "History": image.config.history(),
        "Layers": image.layers,
    })
}

/// Docker's `RepoDigests`: `host/repository@sha256:…` for each repository the image was
/// pulled from or pushed to (the newest digest of each).
fn repo_digests(store: &Store, image: &Image) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for o in duckc_registry::origin::read(store, &image.digest)
        .iter()
        .rev()
    {
        let name = o.repository_name();
        if !out.iter().any(|d| d.starts_with(&format!("{name}@"))) {
            out.push(o.repo_digest());
        }
    }
    out
}

/// `e` with the verb's `help`, except a full disk (`store::no_space`), which keeps its own
/// code and help: they say how much room there is and how to make more.
fn with_load_help(e: duckc_image::Error, help: &str) -> miette::Report {
    match e {
        duckc_image::Error::Store(s @ duckc_store::Error::NoSpace { .. }) => miette::Report::new(s),
        e => miette!(help = help.to_owned(), "{e}"),
    }
}
