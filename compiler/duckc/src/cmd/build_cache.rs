//! `build --cache-from REF` / `--cache-to REF`: the layer cache shared through a registry, as
//! CI runners share BuildKit's registry cache. The artifact format is `duckc_registry::cache`;
//! this module parses the flags (Docker's `type=registry,ref=…` too), reads the caches before
//! the build and hands the executor a [`RemoteCache`], and exports after a build.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::Arc;

use duckc_executor::RemoteCache;
use duckc_executor::execute::BuildOutcome;
use duckc_executor::progress::Mode;
use duckc_registry::cache::RegistryCache;
use duckc_registry::{Options, Reference};
use duckc_store::{Digest, Store};
use miette::miette;
use serde_json::json;

/// A `--cache-from`/`--cache-to` value: `REF` or `type=registry,ref=REF[,mode=max]`.
pub fn parse(value: &str, flag: &str) -> miette::Result<Reference> {
    let help = format!(
        "write `{flag} HOST[:PORT]/REPOSITORY:TAG` or `{flag} type=registry,ref=HOST[:PORT]/REPOSITORY:TAG`"
    );
    let name = if value.contains('=') {
        let mut name = None;
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("type", "registry")) => {}
                Some(("type", other)) => {
                    return Err(miette!(
                        help =
                            "duckc keeps a shared build cache only in a registry: `type=registry`",
                        "unsupported cache type `{other}` in `{flag} {value}`"
                    ));
                }
                Some(("ref", r)) if !r.is_empty() => name = Some(r.to_owned()),
                // duckc always exports every step the build used (BuildKit's `mode=max`).
                Some(("mode", "max")) => {}
                _ => {
                    return Err(miette!(
                        help = format!("{help}; duckc knows the keys `type`, `ref` and `mode=max`"),
                        "invalid `{part}` in `{flag} {value}`"
                    ));
                }
            }
        }
        name.ok_or_else(|| miette!(help = help.clone(), "`{flag} {value}` names no `ref=`"))?
    } else {
        value.to_owned()
    };
    let reference = duckc_registry::parse(&name)
        .map_err(super::registry::report)?
        .into_iter()
        .next()
        .expect("parse gives at least one reference");
    if flag == "--cache-to" && reference.digest.is_some() {
        return Err(miette!(
            help = help,
            "`{flag} {value}` names a digest; the cache is pushed under a tag"
        ));
    }
    Ok(reference)
}

/// A line about the registry cache in the build's output style.
fn say(mode: Mode, cache: &Reference, line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = match mode {
        Mode::Json => writeln!(
            out,
            "{}",
            json!({"cache": cache.to_string(), "status": line})
        ),
        Mode::Plain | Mode::Tty => writeln!(out, "{line}"),
        Mode::Quiet => Ok(()),
    };
}

/// The caches `--cache-from` names, read now. A cache that does not exist yet, or that cannot
/// be read, is a warning: the build then runs what its own store lacks.
pub fn prepare(from: &[Reference], mode: Mode, opts: &Options) -> Option<Arc<dyn RemoteCache>> {
    let mut caches = Vec::new();
    for r in from {
        say(mode, r, &format!("importing cache manifest from {r}"));
        match RegistryCache::open(r, opts) {
            Ok(Some(c)) => {
                say(
                    mode,
                    r,
                    &format!("{r}: digest: {} entries: {}", c.digest, c.len()),
                );
                caches.push(c);
            }
            Ok(None) => eprintln!(
                "warning: there is no build cache at `{r}` yet; steps are built (a build with \
                 `--cache-to {r}` makes one)"
            ),
            Err(e) => {
                let report = super::registry::report(e);
                let help = report.help().map(|h| format!(" ({h})")).unwrap_or_default();
                eprintln!(
                    "warning: cannot read the build cache `{r}`: {}; steps are built",
                    duckc_diagnostic::printable(&format!("{report}{help}"))
                );
            }
        }
    }
    (!caches.is_empty()).then(|| Arc::new(Caches(caches)) as Arc<dyn RemoteCache>)
}

/// The caches read for a build, asked in the order given.
#[derive(Debug)]
struct Caches(Vec<RegistryCache>);

impl RemoteCache for Caches {
    fn import(&self, store: &Store, key: &Digest) -> Result<bool, String> {
        for c in &self.0 {
            match c.import(store, key) {
                Ok(true) => return Ok(true),
                Ok(false) => {}
                // A layer that does not download or verify: the step is built here.
                // Its text can quote the cache's (a tar entry's name): made printable.
                Err(e) => eprintln!(
                    "warning: cannot take a step from the build cache: {}",
                    duckc_diagnostic::printable(&e.to_string())
                ),
            }
        }
        Ok(false)
    }
}

/// Push the cache entries of every step `outcome` used to each `--cache-to` reference, merged
/// with what earlier exports put there.
pub fn export(
    store: &Store,
    to: &[Reference],
    outcome: &BuildOutcome,
    mode: Mode,
    opts: &Options,
) -> miette::Result<()> {
    let keys: Vec<Digest> = outcome
        .nodes
        .values()
        .filter(|r| r.layer.is_some())
        .map(|r| r.cache_key)
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    for r in to {
        say(mode, r, &format!("exporting cache to {r}"));
        let print = |line: String| say(mode, r, &line);
        let exported =
            duckc_registry::cache::export(store, &keys, r, opts, &print).map_err(|e| {
                let report = super::registry::report(e);
                let help = report
                    .help()
                    .map(|h| h.to_string())
                    .unwrap_or_else(|| "check the registry".to_owned());
                miette!(
                    help = format!("{help}; the images were built and tagged all the same"),
                    "cannot export the build cache to `{r}`: {report}"
                )
            })?;
        say(
            mode,
            r,
            &format!(
                "{r}: digest: {} entries: {} (kept from earlier exports: {}{}) uploaded: {}",
                exported.digest,
                exported.entries,
                exported.kept,
                if exported.dropped > 0 {
                    format!(", left out: {}", exported.dropped)
                } else {
                    String::new()
                },
                exported.uploaded
            ),
        );
    }
    Ok(())
}
