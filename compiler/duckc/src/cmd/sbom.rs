//! `duckc sbom IMAGE`: the image's software bill of materials (SPDX 2.3 JSON, or CycloneDX 1.5
//! with `--format cyclonedx`), from its layers and, for an image built here, what its build
//! recorded (the base's digest, the lock's `.deb` sha256, the files copied from the context).
//! The documents are made by `duckc-sbom`; this module finds the build record and the lock.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Subcommand, ValueEnum};
use duckc_image::Image;
use duckc_sbom::Known;
use duckc_store::{Digest, Store};
use miette::miette;

use crate::Global;

/// SBOM formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Format {
    /// SPDX 2.3 JSON.
    #[default]
    Spdx,
    /// CycloneDX 1.5 JSON.
    Cyclonedx,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Write an image's software bill of materials (SPDX 2.3 JSON by default): its Debian
    /// packages with versions, licenses and `.deb` digests, its base image, and the files
    /// copied from the build context.
    Sbom {
        /// The image (name or digest).
        image: String,
        /// The document format.
        #[arg(long, value_enum, default_value_t = Format::Spdx)]
        format: Format,
        /// Write to FILE instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

impl Command {
    pub fn run(self, global: &Global) -> miette::Result<ExitCode> {
        let Command::Sbom {
            image,
            format,
            output,
        } = self;
        let store = super::image::open_store(global)?;
        let img = super::image::resolve(&store, &image)?;
        let bytes = document(&store, &img, &image, format, None)?;
        match output {
            Some(path) => super::image::write_file_atomically(&path, |w| {
                use std::io::Write;
                w.write_all(&bytes)
                    .map_err(|e| miette!("cannot write `{}`: {e}", path.display()))
            })?,
            None => {
                use std::io::Write;
                let mut out = std::io::stdout().lock();
                out.write_all(&bytes)
                    .map_err(|e| miette!("cannot write the SBOM: {e}"))?;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The SBOM of `image` (asked for as `name`) in `format`, as bytes (pretty JSON, newline).
/// `pushed` is the digest the registry has for the image, when the SBOM goes with a push: the
/// document then describes that manifest.
pub fn document(
    store: &Store,
    image: &Image,
    name: &str,
    format: Format,
    pushed: Option<Digest>,
) -> miette::Result<Vec<u8>> {
    // The SBOM states what the image's diff_ids hold: a pulled layer never unpacked is
    // checked against its diff_id first (once; recorded when it matches).
    for l in &image.layers {
        store.check_layer(l, name).map_err(miette::Report::new)?;
    }
    let known = known(store, image);
    let mut inventory = duckc_sbom::inventory(store, image, name, &known).map_err(|e| {
        miette!(
            help = "check the store with `duckc verify`",
            "cannot read `{name}`: {e}"
        )
    })?;
    if let Some(d) = pushed {
        inventory.digest = d;
    }
    let doc = match format {
        Format::Spdx => duckc_sbom::spdx::document(&inventory),
        Format::Cyclonedx => duckc_sbom::cyclonedx::document(&inventory),
    };
    let mut bytes = serde_json::to_vec_pretty(&doc).expect("an SBOM serialises");
    bytes.push(b'\n');
    Ok(bytes)
}

/// What the build of `image` recorded: nothing for an image not built in this store.
fn known(store: &Store, image: &Image) -> Known {
    let mut known = Known::default();
    let Some(record) = duckc_executor::record::find_for_image(store, &image.manifest_digest) else {
        return known;
    };
    for (i, layer) in record.layers.iter().enumerate() {
        let step = &layer.node["step"];
        match step["kind"].as_str() {
            Some("base") if i == 0 => {
                let name = match step["from"].as_str() {
                    Some("stored") => format!(
                        "{}:{}",
                        step["name"].as_str().unwrap_or(""),
                        step["tag"].as_str().unwrap_or("")
                    ),
                    Some("pinned") => format!(
                        "{}@{}",
                        step["name"].as_str().unwrap_or(""),
                        step["digest"].as_str().unwrap_or("")
                    ),
                    Some("oci-layout") => {
                        format!("oci-layout:{}", step["path"].as_str().unwrap_or(""))
                    }
                    _ => continue,
                };
                if let Some(d) = layer
                    .base_digest
                    .as_deref()
                    .and_then(|d| d.parse::<Digest>().ok())
                {
                    known.base = Some((name, d));
                }
            }
            Some("copy") if step.get("from").is_none() && step.get("unpack").is_none() => {
                let Some(key) = layer.cache_key.parse::<Digest>().ok() else {
                    continue;
                };
                let Ok(Some(layer_ref)) = store.cache_get(&key) else {
                    continue;
                };
                let mut sources = BTreeMap::new();
                for f in step["files"].as_array().into_iter().flatten() {
                    if let (Some(source), Some(target)) =
                        (f["source"].as_str(), f["target"].as_str())
                    {
                        sources
                            .insert(target.trim_start_matches('/').to_owned(), source.to_owned());
                    }
                }
                known.copies.push((layer_ref, sources));
            }
            _ => {}
        }
    }
    let lock_path = duckc_driver::lock::beside(std::path::Path::new(&record.spec));
    // A missing lock reads as an empty one.
    let lock = duckc_driver::lock::read_as_is(&lock_path);
    let has_packages = record
        .layers
        .iter()
        .any(|l| l.node["step"]["kind"].as_str() == Some("packages"));
    if has_packages && lock.envs.is_empty() {
        // The `.deb` hashes come from the lock the image was built with; say so rather than
        // leave them out silently.
        eprintln!(
            "warning: `{}`, the lock this image was built with, is gone: the SBOM lists its packages without the sha256 of their .deb\n  help: put that file back (or build the image again from its spec and duck.lock), then run `duckc sbom` again",
            lock_path.display()
        );
    }
    for platforms in lock.envs.values() {
        for pl in platforms.values() {
            for p in &pl.packages {
                known.debs.insert(
                    (p.name.clone(), p.version.clone(), p.architecture.clone()),
                    p.sha256.trim_start_matches("sha256:").to_owned(),
                );
            }
        }
    }
    known
}
