//! Bases from registries for `build`: a `FROM`/`from` naming an image that is not in the store
//! is pulled (`--pull=missing|always|never`), and the digest a registry base resolved to is
//! pinned in `duck.lock` (`--locked` builds from exactly that digest).

use std::collections::BTreeMap;
use std::path::Path;

use clap::ValueEnum;
use duckc_executor::EnvPlan;
use duckc_executor::progress::Mode;
use duckc_ir::{BaseImage, LayerGraph, Step};
use duckc_registry::{Error, Options, Platform, PullOptions, Reference};
use duckc_store::{Digest, Store};
use miette::miette;
use serde_json::json;

/// `build --pull` values (Podman's words; a bare `--pull` is `always`, as in Docker).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum Pull {
    /// Pull a base only when the store lacks it.
    #[default]
    Missing,
    /// Ask the registry what each tag names now, and pull it if it changed.
    Always,
    /// Never contact a registry: every base must be in the store.
    Never,
}

/// How [`prepare`] brings in bases.
#[derive(Debug, Clone, Copy)]
pub struct Policy<'a> {
    /// `--pull`.
    pub pull: Pull,
    /// `--locked`: build from the digests the lock pins, and never write it.
    pub locked: bool,
    /// The build's output style, for the pulls' lines.
    pub mode: Mode,
    /// How to reach the registries (`--tls-verify`, `--cert-dir`).
    pub registry: &'a Options,
}

/// Brings the bases the plans need into the store as `pull` and `locked` say, prints the
/// pulls as build progress, and (unless `locked`) pins registry bases in the lock at
/// `lock_path`. Returns base name → the digest the build resolves it by.
pub fn prepare(
    store: &Store,
    graph: &LayerGraph,
    plans: &[EnvPlan],
    lock_path: &Path,
    policy: &Policy<'_>,
) -> miette::Result<BTreeMap<String, Digest>> {
    let Policy {
        pull,
        locked,
        mode,
        registry: opts,
    } = *policy;
    // The bases the build reaches, with the platforms it needs them for. A graph that does
    // not resolve is reported by the build itself.
    let Ok((units, _)) = duckc_executor::execute::units(graph, plans) else {
        return Ok(BTreeMap::new());
    };
    let mut bases: BTreeMap<String, (BaseImage, Vec<String>)> = BTreeMap::new();
    for (key, platform) in units {
        let Some(node) = graph.node(&key) else {
            continue;
        };
        if let Step::Base(base @ (BaseImage::Stored { .. } | BaseImage::Pinned { .. })) = &node.step
        {
            let entry = bases
                .entry(duckc_executor::plan::base_name(base))
                .or_insert_with(|| (base.clone(), Vec::new()));
            if !entry.1.contains(&platform) {
                entry.1.push(platform);
            }
        }
    }
    if bases.is_empty() {
        return Ok(BTreeMap::new());
    }
    let pinned = duckc_driver::lock::read_bases(lock_path)?;
    let mut pins = pinned.clone();
    let printer = Pulls { mode, opts };
    let mut resolved = BTreeMap::new();
    for (reference, (base, platforms)) in &bases {
        // A name with a registry host (`host:port/repo:tag`) is pinned; a short name is a
        // local image unless it has to be pulled through the search registries.
        let qualified = duckc_registry::name::parse_with(reference, &[])
            .ok()
            .and_then(|r| r.into_iter().next());
        let in_store = duckc_image::resolve(store, reference).ok();
        match base {
            BaseImage::Pinned { .. } if in_store.is_none() && pull != Pull::Never => {
                pull_for(store, reference, None, platforms, &printer)?;
            }
            BaseImage::Stored { .. } if locked && qualified.is_some() => {
                let Some(pin) = pinned.get(reference) else {
                    return Err(miette!(
                        help = "build once without `--locked` to pin it: that build pulls the base and writes its digest into the lock",
                        "the base `{reference}` is not pinned in `{}`",
                        lock_path.display()
                    ));
                };
                let digest: Digest = pin.parse().map_err(|_| {
                    miette!(
                        help = "fix or delete the lock; `duckc build` writes it again",
                        "bad digest `{pin}` for the base `{reference}` in `{}`",
                        lock_path.display()
                    )
                })?;
                let by_digest = format!("{reference}@{digest}");
                let have = duckc_image::resolve(store, &by_digest).ok();
                let used = match have {
                    Some(image) => image.digest,
                    // `never`: the build names the missing base, with its help.
                    None if pull == Pull::Never => digest,
                    None => {
                        let mut r = qualified.clone().expect("checked above");
                        r.tag = None;
                        r.digest = Some(digest);
                        pull_one(store, &r, platforms, &printer)?.image.digest
                    }
                };
                resolved.insert(reference.clone(), used);
            }
            BaseImage::Stored { .. } => {
                let fetch = match pull {
                    Pull::Never => false,
                    Pull::Missing => in_store.is_none(),
                    Pull::Always => qualified.is_some() || in_store.is_none(),
                };
                let (pin, used) = if fetch {
                    match pull_for(store, reference, qualified.as_ref(), platforms, &printer)? {
                        Some(p) => (Some(p.digest), Some(p.image.digest)),
                        None => (None, None),
                    }
                } else {
                    let d = in_store.map(|i| i.digest);
                    (d, d)
                };
                if let Some(used) = used {
                    resolved.insert(reference.clone(), used);
                }
                if let (Some(_), Some(pin)) = (&qualified, pin) {
                    pins.insert(reference.clone(), pin.to_string());
                }
            }
            _ => {}
        }
    }
    if !locked
        && pins != pinned
        && let Err(e) = duckc_driver::lock::pin_bases(lock_path, &pins)
    {
        // The build itself does not need the lock (a read-only checkout still builds).
        eprintln!("warning: {e}; the bases are not pinned");
        eprintln!("  help: make the spec's directory writable to pin them for `--locked`");
    }
    Ok(resolved)
}

/// Pulls `reference` (through the search registries for a short name); `None` when a short
/// name has no registry to come from (the build then names the missing base).
fn pull_for(
    store: &Store,
    reference: &str,
    qualified: Option<&Reference>,
    platforms: &[String],
    printer: &Pulls<'_>,
) -> miette::Result<Option<duckc_registry::Pulled>> {
    let candidates = match qualified {
        Some(r) => vec![r.clone()],
        None => match duckc_registry::parse(reference) {
            Ok(c) => c,
            Err(Error::NoRegistry(_)) => return Ok(None),
            Err(e) => return Err(base_error(reference, e)),
        },
    };
    let mut last = None;
    for r in &candidates {
        match pull_one(store, r, platforms, printer) {
            Ok(p) => return Ok(Some(p)),
            Err(PullError::NotFound(e)) if candidates.len() > 1 => last = Some(e),
            Err(PullError::NotFound(e) | PullError::Other(e)) => {
                return Err(base_error(reference, e));
            }
        }
    }
    Err(base_error(reference, last.expect("at least one candidate")))
}

enum PullError {
    NotFound(Error),
    Other(Error),
}

impl From<PullError> for miette::Report {
    fn from(e: PullError) -> Self {
        let (PullError::NotFound(e) | PullError::Other(e)) = e;
        super::registry::report(e)
    }
}

/// Pulls one reference for each platform the build needs it for; the result is the last.
fn pull_one(
    store: &Store,
    reference: &Reference,
    platforms: &[String],
    printer: &Pulls<'_>,
) -> Result<duckc_registry::Pulled, PullError> {
    let opts = printer.opts;
    let mut last = None;
    for platform in platforms {
        printer.line(
            &reference.to_string(),
            &format!("Pulling {reference} ({platform})"),
        );
        let pull_opts = PullOptions {
            platform: Platform::parse(platform),
            ..PullOptions::default()
        };
        let print = |e: duckc_registry::PullEvent<'_>| {
            if let Some(line) = e.line() {
                printer.line(&reference.to_string(), &line);
            }
        };
        match duckc_registry::pull(store, reference, opts, &pull_opts, &print) {
            Ok(p) => {
                printer.line(&reference.to_string(), &format!("Digest: {}", p.digest));
                last = Some(p);
            }
            Err(e @ Error::NotFound { .. }) => return Err(PullError::NotFound(e)),
            Err(e) => return Err(PullError::Other(e)),
        }
    }
    Ok(last.expect("a base is needed for at least one platform"))
}

/// A failed pull of a base, naming the base.
fn base_error(reference: &str, e: Error) -> miette::Report {
    let report = super::registry::report(e);
    let help = report
        .help()
        .map(|h| h.to_string())
        .unwrap_or_else(|| "check the name and the registry".to_owned());
    miette!(
        help = format!("{help}; or build from the store only with `--pull=never`"),
        "cannot pull the base `{reference}`: {report}"
    )
}

/// Pull progress in the build's output style, and how to reach the registries
/// (`build --tls-verify`, `--cert-dir`).
struct Pulls<'a> {
    mode: Mode,
    opts: &'a Options,
}

impl Pulls<'_> {
    fn line(&self, base: &str, line: &str) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = match self.mode {
            Mode::Json => writeln!(out, "{}", json!({"pull": base, "status": line})),
            Mode::Plain | Mode::Tty => writeln!(out, "{line}"),
            Mode::Quiet => Ok(()),
        };
    }
}
