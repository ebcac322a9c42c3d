//! Package layers: the pinned `.deb` files of a `packages` step become content-addressed layers
//! in the store (one per package, or a few groups under the layer budget), a dpkg-database
//! layer, and a configure layer (the maintainer scripts run in the sandbox).
//!
//! A package layer is a pure function of the `.deb` (and of the merged-`/usr` choice, below):
//! its `data.tar` is unpacked with the hardened extractor and written back with the store's
//! reproducible writer (sorted, numeric owners; files keep the `.deb`'s mtimes, as dpkg leaves
//! them, and what unpacking touched is clamped to the newest of them), so the
//! same package gives the same layer digest in every env and on every machine, and the store
//! keeps it once. A per-package cache entry (keyed by the `.deb`'s sha256) means a package is
//! unpacked once per store, whatever env asks for it.
//!
//! **Merged `/usr` and overlay stacking.** overlayfs shows an upper *directory* over a lower
//! *symlink*: if a package layer held a `bin/` directory above a layer with `bin -> usr/bin`,
//! `/bin` would show only that package's files and `/usr/bin` would lack them. So when the image
//! is merged-`/usr` (the parent has `bin -> usr/bin`, or no `/bin` at all), each package
//! layer moves its top-level `bin`, `sbin` and `lib*` directories under `usr/` — exactly where
//! `dpkg --unpack` through the symlinks would put them — and the dpkg-database layer adds the
//! `bin -> usr/bin` style links the parent lacks. Over a parent with a real `/bin` directory
//! (a busybox base) package layers are unpacked as shipped and the directories merge. The
//! dpkg `.list` files keep the paths as the package ships them, as dpkg does on a merged system.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use duckc_layer::{Compression, ExtractOptions, SourceKind, WhiteoutMode, WriteOptions};
use duckc_store::{Digest, LayerRef, Store};
use sha2::Digest as _;

use crate::deb;
use crate::download::{self, DownloadCache};
use crate::dpkg::{self, PackageInfo, State};
use crate::fetch::Fetcher;
use crate::lock::LockedPackage;
use crate::source::Repository;

/// The default most layers an image may have (Docker's historical limit is 127 on overlay).
pub const DEFAULT_LAYER_BUDGET: usize = 100;

/// Top-level directories that merged-`/usr` turns into symlinks into `usr/`.
const MERGED_DIRS: &[&str] = &["bin", "sbin", "lib", "lib32", "lib64", "libo32", "libx32"];

/// Bump when the layout of a package layer changes: it is part of every package-layer key.
const LAYER_FORMAT: &[u8] = b"duckc-package-layer-v2";

/// What one `packages` step installs, and on what.
#[derive(Debug, Clone, Copy)]
pub struct PackagesRequest<'a> {
    /// The pinned packages to install (from `duck.lock`), parent's packages excluded.
    pub packages: &'a [LockedPackage],
    /// Where to download them from (any mirror: the sha256 decides).
    pub repository: &'a Repository,
    /// The download cache (the store's `downloads/`).
    pub downloads: &'a Path,
    /// `linux/amd64`. Scripts of another architecture run through qemu-user (binfmt_misc);
    /// without it the packages are left unpacked, and a [`Progress::NotConfigured`] says so.
    pub platform: &'a str,
    /// The parent's layers, bottom first.
    pub parent: &'a [LayerRef],
    /// The most layers the whole image may have.
    pub budget: usize,
    /// What the step asks for (`python3`, `curl=8.1-1`, `?essential`): packages named here keep
    /// their own layer first when the budget makes some share one.
    pub requested: &'a [String],
}

/// What building the layers is doing, for progress reporting.
#[derive(Debug, Clone, Copy)]
pub enum Progress<'a> {
    Download(download::Event<'a>),
    /// A package (or a group, `name` joined by spaces) is unpacked into a layer.
    Unpacked {
        name: &'a str,
        cached: bool,
    },
    /// The configure step starts (`command` as run in the sandbox).
    Configuring {
        command: &'a str,
    },
    /// The packages of a foreign platform stay unpacked, not configured: no emulation.
    NotConfigured {
        /// How many packages wait for their maintainer scripts.
        packages: usize,
        /// Why, and how to enable emulation.
        reason: &'a str,
    },
}

/// Why a step's package layers could not be built. Codes `packages::…`; download, `.deb` and
/// store errors keep their own.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Download(#[from] download::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Deb(#[from] deb::Error),
    #[error(transparent)]
    #[diagnostic(transparent)]
    Store(#[from] duckc_store::Error),
    #[error("cannot unpack `{name}`: {source}")]
    #[diagnostic(
        code(packages::unpack),
        help(
            "the package's archive holds what duckc does not unpack; report it to the repository's maintainers, or pin another version with `duckc lock --update`"
        )
    )]
    Extract {
        name: String,
        source: duckc_layer::ExtractError,
    },
    #[error("cannot write `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::io),
        help("check that the store is writable and its disk not full")
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "`{file}` is not the pinned package: it says `{found}`, the lock says `{expected}`; nothing was stored"
    )]
    #[diagnostic(
        code(packages::hash_mismatch),
        help(
            "the repository serves another package under the pinned file's name; if it changed on purpose, run `duckc lock --update` to pin what it serves now"
        )
    )]
    NotPinned {
        file: String,
        found: String,
        expected: String,
    },
    #[error(
        "`{name}` ships both `/{path}` and `/usr/{path}`: it cannot be unpacked on a merged-/usr image"
    )]
    #[diagnostic(
        code(packages::merged_usr),
        help(
            "Debian's own tools refuse this package too: drop it from `packages`, or report it to its maintainers"
        )
    )]
    MergedUsrConflict { name: String, path: String },
    #[error("cannot configure the packages: {reason}")]
    #[diagnostic(
        code(packages::configure),
        help(
            "configuring runs the maintainer scripts in a container: check that containers run here (`duckc run --rm IMAGE true`)"
        )
    )]
    Runtime { reason: String },
    #[error("configuring the packages (`{command}`) failed with exit code {code}:\n{tail}")]
    #[diagnostic(
        code(packages::configure_failed),
        help(
            "the output above is the maintainer scripts'; a package that needs a running service or a device cannot be configured in a build"
        )
    )]
    ConfigureFailed {
        command: String,
        code: i32,
        tail: String,
    },
    #[error(
        "cannot configure `{package}`: the image has no `/bin/sh` to run its maintainer scripts; build it over a base with a shell and dpkg, `from \"std/debian:bookworm\"` (Debian's minbase), not over `scratch`"
    )]
    #[diagnostic(
        code(packages::no_shell),
        help(
            "write `from \"std/debian:bookworm\"` in the env, or build on an env that has `/bin/sh` and `dpkg`"
        )
    )]
    NoShell { package: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// Builds the layers of one `packages` step on top of `request.parent`; returns them bottom
/// first: the package (or group) layers, the dpkg-database layer, then the configure layer
/// when something had to be configured. Nothing is stored for a package whose `.deb` does not
/// verify.
pub fn build_packages(
    store: &Store,
    request: &PackagesRequest<'_>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<Vec<LayerRef>> {
    // A cached `.deb` is hashed as it is read below, not twice.
    let cache = DownloadCache::new(request.downloads).hashed_by_reader();
    let items: Vec<_> = request
        .packages
        .iter()
        .map(|p| p.download(request.repository))
        .collect();
    let debs = download::fetch_all(&cache, &Fetcher::default(), &items, 8, &|ev| {
        progress(Progress::Download(ev))
    })?;
    let source = DebSource {
        cache: &cache,
        items: &items,
        debs: &debs,
        progress,
    };
    // The control parts first (small): the pins are checked and the groups planned; each
    // package's file list is read with its files.
    let mut infos = request
        .packages
        .par_iter()
        .enumerate()
        .map(|(i, pin)| source.control(i, pin))
        .collect::<Result<Vec<_>>>()?;
    let parent = ParentFs::open(store, request.parent)?;
    let merged = parent.is_merged_usr();
    let epoch = duckc_layer::source_date_epoch();

    // One layer per group, built in parallel (rayon's pool: one thread per core).
    let groups = plan_groups(
        &infos,
        request.parent.len(),
        request.budget,
        request.requested,
    );
    let built = groups
        .par_iter()
        .map(|group| package_layer(store, &source, group, &infos, merged, epoch, progress))
        .collect::<Result<Vec<_>>>()?;
    let mut layers = Vec::new();
    for (layer, contents) in built {
        layers.push(layer);
        for (i, (list, conffiles)) in contents {
            infos[i].list = list;
            infos[i].conffiles = conffiles;
        }
    }

    // The dpkg database: everything unpacked (dpkg configures it), or, without a real dpkg in
    // the image, installed directly unless a script or conffile needs the configure step.
    let real_dpkg = parent.has_package("dpkg") || infos.iter().any(|p| p.name == "dpkg");
    let states: Vec<(&PackageInfo, State)> = infos
        .iter()
        .map(|p| {
            let state = if real_dpkg || p.needs_configure() {
                State::Unpacked
            } else {
                State::Installed
            };
            (p, state)
        })
        .collect();
    let parent_status = parent.read("var/lib/dpkg/status").unwrap_or_default();
    let db = store.tmp_path("dpkg-db");
    let result = (|| {
        let status = dpkg::status_file(&parent_status, &states);
        write_db(&db, &status, &infos, &parent, merged)?;
        Ok::<_, Error>(store.write_layer_snapshot(
            &db,
            &WriteOptions {
                epoch,
                compression: Compression::BUILD,
                source: SourceKind::Plain,
            },
        )?)
    })();
    if db.symlink_metadata().is_ok() {
        let _ = duckc_layer::remove_tree(&db);
    }
    layers.push(result?);

    let unpacked = states.iter().filter(|(_, s)| *s == State::Unpacked).count();
    if unpacked > 0
        && let duckc_runtime::emulation::Support::Missing(reason) =
            duckc_runtime::emulation::support(request.platform)
    {
        // A foreign platform with no emulation: the image is what `dpkg --unpack` leaves
        // (mmdebstrap's `extract` variant), and the dpkg database says so (`iU`), so
        // `dpkg --configure -a` on a machine of that platform finishes the job.
        progress(Progress::NotConfigured {
            packages: unpacked,
            reason: &reason,
        });
        return Ok(layers);
    }
    if unpacked > 0 {
        let mut chain = request.parent.to_vec();
        chain.extend(layers.iter().cloned());
        let installed: Vec<(&PackageInfo, State)> =
            infos.iter().map(|p| (p, State::Installed)).collect();
        let final_status = dpkg::status_file(&parent_status, &installed);
        layers.push(configure(
            store,
            &chain,
            &ConfigurePlan {
                real_dpkg,
                packages: &order_for_configure(&infos),
                final_status: &final_status,
                epoch,
            },
            progress,
        )?);
    }
    Ok(layers)
}

/// Which packages share a layer. A step may use half of the layers the budget leaves above
/// its parent (the rest is for the steps and envs built on it). With room, every package has
/// its own (sorted by name). Over it, the packages the step names, then those that the most
/// others in the set depend on, keep their own layer and the rest share one group layer — see
/// `docs/architecture.md` ("Layer budget").
pub fn plan_groups(
    infos: &[PackageInfo],
    parent_layers: usize,
    budget: usize,
    requested: &[String],
) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..infos.len()).collect();
    order.sort_by(|&a, &b| {
        (&infos[a].name, &infos[a].architecture).cmp(&(&infos[b].name, &infos[b].architecture))
    });
    // The database and configure layers count too.
    let room = (budget.saturating_sub(parent_layers + 2) / 2).max(1);
    if infos.len() <= room {
        return order.into_iter().map(|i| vec![i]).collect();
    }
    // `name`, `name:arch`, `name=version`; patterns name no package.
    let named: BTreeSet<&str> = requested
        .iter()
        .filter(|r| !r.starts_with('?'))
        .map(|r| {
            let r = r.split('=').next().unwrap_or(r);
            r.split(':').next().unwrap_or(r)
        })
        .collect();
    let names: BTreeSet<&str> = infos.iter().map(|p| p.name.as_str()).collect();
    let mut dependents: BTreeMap<&str, usize> = BTreeMap::new();
    for p in infos {
        let mut deps = BTreeSet::new();
        for field in ["Pre-Depends", "Depends"] {
            for name in dependency_names(p.control.field(field).unwrap_or_default()) {
                if names.contains(name.as_str()) && name != p.name {
                    deps.insert(name);
                }
            }
        }
        for d in deps {
            if let Some(n) = names.get(d.as_str()) {
                *dependents.entry(n).or_default() += 1;
            }
        }
    }
    let mut by_sharing = order.clone();
    by_sharing.sort_by(|&a, &b| {
        let na = named.contains(infos[a].name.as_str());
        let nb = named.contains(infos[b].name.as_str());
        let da = dependents.get(infos[a].name.as_str()).copied().unwrap_or(0);
        let db = dependents.get(infos[b].name.as_str()).copied().unwrap_or(0);
        nb.cmp(&na)
            .then(db.cmp(&da))
            .then(infos[a].name.cmp(&infos[b].name))
    });
    let own: BTreeSet<usize> = by_sharing.iter().copied().take(room - 1).collect();
    let mut groups: Vec<Vec<usize>> = order
        .iter()
        .filter(|i| own.contains(i))
        .map(|&i| vec![i])
        .collect();
    groups.push(order.into_iter().filter(|i| !own.contains(i)).collect());
    groups
}

/// The package names a `Depends` value mentions (every alternative), qualifiers dropped.
fn dependency_names(value: &str) -> Vec<String> {
    value
        .split([',', '|'])
        .filter_map(|alt| alt.split_whitespace().next())
        .map(|n| n.split(':').next().unwrap_or(n).to_owned())
        .filter(|n| !n.is_empty())
        .collect()
}

/// Where the `.deb` files of a step are, and how to fetch one again.
struct DebSource<'a> {
    cache: &'a DownloadCache,
    items: &'a [download::Download],
    debs: &'a [PathBuf],
    progress: &'a (dyn Fn(Progress<'_>) + Sync),
}

impl DebSource<'_> {
    /// The control part of package `i`, checked against its pin (the rest of the package is
    /// read later). When it does not read or does not match, the file is hashed: a corrupted
    /// one is fetched again, once.
    fn control(&self, i: usize, pin: &LockedPackage) -> Result<PackageInfo> {
        let read = |path: &Path| {
            let control = deb::read_control(path)?;
            let field = |f: &str| control.field(f).unwrap_or_default().to_owned();
            let info = PackageInfo {
                name: field("Package"),
                architecture: field("Architecture"),
                version: field("Version"),
                list: Vec::new(),
                conffiles: BTreeMap::new(),
                control,
            };
            let found = format!("{} {} {}", info.name, info.version, info.architecture);
            let expected = format!("{} {} {}", pin.name, pin.version, pin.architecture);
            if found != expected {
                return Err(Error::NotPinned {
                    file: pin.path.clone(),
                    found,
                    expected,
                });
            }
            Ok(info)
        };
        let path = &self.debs[i];
        match read(path) {
            Err(e) => {
                let item = &self.items[i];
                let mut file = std::fs::File::open(path).map_err(io_err(path))?;
                let actual = download::sha256_reader(&mut file).map_err(io_err(path))?;
                if actual == item.sha256 {
                    return Err(e);
                }
                self.cache.discard(&item.sha256)?;
                let path = self.cache.fetch(&Fetcher::default(), item, &|ev| {
                    (self.progress)(Progress::Download(ev))
                })?;
                read(&path)
            }
            ok => ok,
        }
    }

    /// Reads the `.deb` of package `i` in one pass, hashing every byte: `data` gets its
    /// control part and its `data.tar` stream. A file that does not hash to its pin is
    /// removed from the download cache and fetched again (verified), once.
    fn read<T>(
        &self,
        i: usize,
        data: &mut dyn FnMut(&deb::Control, &mut dyn Read) -> deb::Result<T>,
    ) -> Result<T> {
        let item = &self.items[i];
        match read_hashed(&self.debs[i], item, data) {
            Err(Error::Download(download::Error::Mismatch { .. })) => {
                self.cache.discard(&item.sha256)?;
                let path = self.cache.fetch(&Fetcher::default(), item, &|ev| {
                    (self.progress)(Progress::Download(ev))
                })?;
                read_hashed(&path, item, data)
            }
            other => other,
        }
    }
}

/// [`deb::read_stream`] over the file at `path`, checking its size and sha256 against `item`
/// once it has been read to the end.
fn read_hashed<T>(
    path: &Path,
    item: &download::Download,
    data: &mut dyn FnMut(&deb::Control, &mut dyn Read) -> deb::Result<T>,
) -> Result<T> {
    let file = std::fs::File::open(path).map_err(io_err(path))?;
    let mut hashing = duckc_layer::HashingReader::new(file);
    let out = {
        let mut buffered = std::io::BufReader::with_capacity(256 * 1024, &mut hashing);
        let out = deb::read_stream(&mut buffered, path, |c, r| data(c, r));
        // The rest of the file, hashed too: also after an error, which a corrupted file
        // explains better than its first symptom (a bad xz stream, a short tar).
        let rest = std::io::copy(&mut buffered, &mut std::io::sink());
        match out {
            Ok((_, out)) => rest.map(|_| out).map_err(io_err(path)),
            Err(e) => Err(Error::from(e)),
        }
    };
    let (digest, size) = hashing.finish().map_err(io_err(path))?;
    if size != item.size || digest.hex() != item.sha256 {
        return Err(download::Error::Mismatch {
            name: item.name.clone(),
            expected: item.sha256.clone(),
            actual: digest.hex().to_string(),
        }
        .into());
    }
    out
}

/// A package's file list as dpkg records it (`/.`, `/usr`, …) and its conffiles' md5 sums.
type Contents = (Vec<String>, BTreeMap<String, String>);

/// The name dpkg's `.list` gives a `data.tar` entry: `./usr/` is `/usr`, `./` is `/.`.
fn list_name(raw: &[u8]) -> String {
    let name = String::from_utf8_lossy(raw);
    let name = name.trim_start_matches('.').trim_end_matches('/');
    if name.is_empty() {
        "/.".to_owned()
    } else if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}

/// A package's [`Contents`] read from its `data.tar` stream (for a package whose layer is
/// already in the store).
fn contents_of(
    control: &deb::Control,
    reader: &mut dyn Read,
    path: &Path,
) -> deb::Result<Contents> {
    use md5::Digest as _;
    let invalid = |what: String| deb::Error::Invalid {
        path: path.to_owned(),
        what,
    };
    let wanted = control.conffiles();
    let mut list = Vec::new();
    let mut conffiles = BTreeMap::new();
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| invalid(format!("data.tar: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| invalid(format!("data.tar: {e}")))?;
        let name = list_name(&entry.path_bytes());
        if wanted.contains(&name) && entry.header().entry_type().is_file() {
            let mut hasher = md5::Md5::new();
            std::io::copy(&mut entry, &mut Md5Writer(&mut hasher))
                .map_err(|e| invalid(format!("data.tar: {e}")))?;
            conffiles.insert(name.clone(), hex::encode(hasher.finalize()));
        }
        list.push(name);
    }
    Ok((list, conffiles))
}

struct Md5Writer<'a>(&'a mut md5::Md5);

impl std::io::Write for Md5Writer<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        md5::Digest::update(self.0, buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The md5 of the regular file at `path`.
fn md5_file(path: &Path) -> Result<String> {
    use md5::Digest as _;
    let mut hasher = md5::Md5::new();
    let mut file = std::fs::File::open(path).map_err(io_err(path))?;
    std::io::copy(&mut file, &mut Md5Writer(&mut hasher)).map_err(io_err(path))?;
    Ok(hex::encode(hasher.finalize()))
}

/// The layer of one package, or of a group of packages (indexes into `infos`), cached by the
/// `.deb` digests; with each member's [`Contents`]. Every `.deb` is read once: unpacked (and
/// listed in the same pass), or only listed when the layer is already in the store. The
/// unpacked tree becomes the layer's snapshot.
fn package_layer(
    store: &Store,
    source: &DebSource<'_>,
    group: &[usize],
    infos: &[PackageInfo],
    merged: bool,
    epoch: u64,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<(LayerRef, Vec<(usize, Contents)>)> {
    let label = group
        .iter()
        .map(|&i| infos[i].name.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let mut h = sha2::Sha256::new();
    h.update(LAYER_FORMAT);
    h.update([u8::from(merged)]);
    h.update(epoch.to_le_bytes());
    for &i in group {
        // The download cache names each file by its sha256.
        h.update(
            source.debs[i]
                .file_name()
                .unwrap_or_default()
                .as_encoded_bytes(),
        );
        h.update([0]);
    }
    let key = Digest::from_hasher(h);
    if let Some(layer) = store.cache_get(&key)?
        && store.layer(&layer.diff_id)?.is_some()
    {
        let mut contents = Vec::new();
        for &i in group {
            let path = &source.debs[i];
            let (list, conffiles) = source.read(i, &mut |c, r| contents_of(c, r, path))?;
            contents.push((i, (list, conffiles)));
        }
        progress(Progress::Unpacked {
            name: &label,
            cached: true,
        });
        return Ok((layer, contents));
    }
    let dir = store.tmp_path("package");
    let result = (|| {
        std::fs::create_dir(&dir).map_err(io_err(&dir))?;
        let opts = ExtractOptions {
            whiteouts: WhiteoutMode::Apply,
            ..ExtractOptions::default()
        };
        let mut contents = Vec::new();
        for &i in group {
            let info = &infos[i];
            let path = &source.debs[i];
            let mut files = Vec::new();
            source.read(i, &mut |_, reader| {
                files.clear();
                duckc_layer::extract_into_observed(reader, &dir, &opts, &mut |raw, is_file| {
                    files.push((list_name(raw), is_file));
                })
                .map(|_| ())
                .map_err(|source| deb::Error::Io {
                    path: path.clone(),
                    source: std::io::Error::other(source.to_string()),
                })
            })?;
            // The conffiles' md5 sums, from the files as unpacked (the last entry of a name
            // is the one on disk).
            let wanted = info.control.conffiles();
            let mut conffiles = BTreeMap::new();
            for (name, is_file) in &files {
                if *is_file && wanted.contains(name) {
                    let on_disk = dir.join(name.trim_start_matches('/'));
                    conffiles.insert(name.clone(), md5_file(&on_disk)?);
                }
            }
            // New conffiles wait as `PATH.dpkg-new` until configure installs them, as after
            // `dpkg --unpack`.
            for conffile in info.control.conffiles() {
                let from = dir.join(conffile.trim_start_matches('/'));
                if from.symlink_metadata().is_ok() {
                    let mut to = from.clone().into_os_string();
                    to.push(".dpkg-new");
                    std::fs::rename(&from, &to).map_err(io_err(&from))?;
                }
            }
            if merged {
                merge_usr(&dir, &info.name)?;
            }
            let list = files.into_iter().map(|(n, _)| n).collect();
            contents.push((i, (list, conffiles)));
        }
        // Files keep the times the `.deb` gives them, as dpkg leaves them: fontconfig's
        // trigger and other caches tell a changed directory by its mtime, which a clamp to
        // `SOURCE_DATE_EPOCH` (0 by default) would make the same for every package. What
        // unpacking touched (directories that got entries, renamed conffiles' and merged
        // `/usr`'s parents) is clamped to the newest file's time, so the layer is still a
        // function of the `.deb`s alone.
        let clamp = newest_file_time(&dir)?.unwrap_or(epoch);
        let layer = store.write_layer_snapshot(
            &dir,
            &WriteOptions {
                epoch: clamp,
                compression: Compression::BUILD,
                source: SourceKind::Plain,
            },
        )?;
        Ok::<_, Error>((layer, contents))
    })();
    if dir.symlink_metadata().is_ok() {
        let _ = duckc_layer::remove_tree(&dir);
    }
    let (layer, contents) = result?;
    store.cache_put(&key, &layer)?;
    progress(Progress::Unpacked {
        name: &label,
        cached: false,
    });
    Ok((layer, contents))
}

/// The newest mtime of a file or symlink under `root` (directories left out: unpacking and
/// renaming change theirs); `None` when there is none.
fn newest_file_time(root: &Path) -> Result<Option<u64>> {
    use std::os::unix::fs::MetadataExt;
    let mut newest: Option<u64> = None;
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let meta = entry
                .path()
                .symlink_metadata()
                .map_err(io_err(&entry.path()))?;
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                let t = u64::try_from(meta.mtime()).unwrap_or(0);
                newest = Some(newest.map_or(t, |n| n.max(t)));
            }
        }
    }
    Ok(newest)
}

/// Moves the top-level `bin`, `sbin`, `lib*` directories of an unpacked package into `usr/`.
fn merge_usr(root: &Path, name: &str) -> Result<()> {
    for top in MERGED_DIRS {
        let from = root.join(top);
        match from.symlink_metadata() {
            Ok(m) if m.is_dir() => {}
            _ => continue,
        }
        let usr = root.join("usr");
        if usr.symlink_metadata().is_err() {
            std::fs::create_dir(&usr).map_err(io_err(&usr))?;
            set_mode(&usr, 0o755)?;
        }
        merge_dir(&from, &usr.join(top), name, top)?;
    }
    Ok(())
}

fn merge_dir(from: &Path, to: &Path, name: &str, rel: &str) -> Result<()> {
    match to.symlink_metadata() {
        Err(_) => return std::fs::rename(from, to).map_err(io_err(from)),
        Ok(m) if !m.is_dir() => {
            return Err(Error::MergedUsrConflict {
                name: name.to_owned(),
                path: rel.to_owned(),
            });
        }
        Ok(_) => {}
    }
    let mut children: Vec<_> = std::fs::read_dir(from)
        .map_err(io_err(from))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name())
        .collect();
    children.sort();
    for child in children {
        let (f, t) = (from.join(&child), to.join(&child));
        let rel = format!("{rel}/{}", child.to_string_lossy());
        let both_dirs = f.symlink_metadata().is_ok_and(|m| m.is_dir())
            && t.symlink_metadata().is_ok_and(|m| m.is_dir());
        if both_dirs {
            merge_dir(&f, &t, name, &rel)?;
        } else if t.symlink_metadata().is_ok() {
            return Err(Error::MergedUsrConflict {
                name: name.to_owned(),
                path: rel,
            });
        } else {
            std::fs::rename(&f, &t).map_err(io_err(&f))?;
        }
    }
    std::fs::remove_dir(from).map_err(io_err(from))
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io_err(path))
}

/// Writes the dpkg-database layer's tree under `root`.
fn write_db(
    root: &Path,
    status: &str,
    infos: &[PackageInfo],
    parent: &ParentFs,
    merged: bool,
) -> Result<()> {
    let dpkg_dir = root.join("var/lib/dpkg");
    for d in ["info", "updates", "triggers"] {
        let p = dpkg_dir.join(d);
        std::fs::create_dir_all(&p).map_err(io_err(&p))?;
    }
    let infos_ref: Vec<&PackageInfo> = infos.iter().collect();
    dpkg::write_info(root, &infos_ref).map_err(io_err(&dpkg_dir))?;
    // Trigger interests and activations, as `dpkg --unpack` records them.
    let parent_trigger = |name: &str| parent.read(&format!("var/lib/dpkg/triggers/{name}"));
    dpkg::write_triggers(root, &parent_trigger, &infos_ref).map_err(io_err(&dpkg_dir))?;
    let status_path = dpkg_dir.join("status");
    std::fs::write(&status_path, status).map_err(io_err(&status_path))?;
    if !parent.exists("var/lib/dpkg/available") {
        let p = dpkg_dir.join("available");
        std::fs::write(&p, "").map_err(io_err(&p))?;
    }
    for d in walk_dirs(root) {
        set_mode(&d, 0o755)?;
    }
    if merged {
        // The `bin -> usr/bin` links the parent lacks, for every directory a package used
        // (bin, sbin and lib always: a merged-/usr system has them).
        for top in MERGED_DIRS {
            let used = ["bin", "sbin", "lib"].contains(top)
                || infos
                    .iter()
                    .any(|p| p.list.iter().any(|l| l == &format!("/{top}")));
            if used && !parent.exists(top) {
                let link = root.join(top);
                std::os::unix::fs::symlink(format!("usr/{top}"), &link).map_err(io_err(&link))?;
            }
        }
    }
    Ok(())
}

/// Every directory under `root`, itself included.
fn walk_dirs(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if let Ok(rd) = std::fs::read_dir(&out[i]) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    out.push(e.path());
                }
            }
        }
        i += 1;
    }
    out
}

/// Packages in the order to configure them: each after what it depends on (cycles broken by
/// name order), as `dpkg --configure -a` does.
fn order_for_configure(infos: &[PackageInfo]) -> Vec<&PackageInfo> {
    let mut sorted: Vec<&PackageInfo> = infos.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let names: BTreeSet<&str> = sorted.iter().map(|p| p.name.as_str()).collect();
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < sorted.len() {
        let ready = sorted.iter().find(|p| {
            !done.contains(&p.name)
                && ["Pre-Depends", "Depends"].iter().all(|f| {
                    dependency_names(p.control.field(f).unwrap_or_default())
                        .iter()
                        .all(|d| d == &p.name || !names.contains(d.as_str()) || done.contains(d))
                })
        });
        // A cycle: take the first one left.
        let next = ready.or_else(|| sorted.iter().find(|p| !done.contains(&p.name)));
        let Some(next) = next else { break };
        done.insert(next.name.clone());
        out.push(*next);
    }
    out
}

/// What configuring leaves behind that differs from run to run (logs with the time, caches
/// with inode numbers, dpkg's and debconf's backups): removed at the end of the configure step,
/// as mmdebstrap does, so the layer is the same on every build. Unmatched globs stay literal
/// and `rm -f` ignores them.
const CLEAN_UP: &str = "rm -f /var/log/dpkg.log /var/log/alternatives.log /var/log/apt/history.log \
/var/log/apt/term.log /var/log/apt/eipp.log.xz /var/cache/ldconfig/aux-cache /var/lib/dpkg/*-old \
/var/cache/debconf/*-old /run/adduser\n";

struct ConfigurePlan<'a> {
    real_dpkg: bool,
    packages: &'a [&'a PackageInfo],
    final_status: &'a str,
    epoch: u64,
}

/// Runs the maintainer scripts over `chain` in the sandbox; the upper directory is the layer.
/// With a real dpkg in the image that is `dpkg --configure -a` (as mmdebstrap does); without
/// one (a busybox base), each `postinst configure` runs in dependency order after its new
/// conffiles are moved into place, and duckc writes the final `status`.
fn configure(
    store: &Store,
    chain: &[LayerRef],
    plan: &ConfigurePlan<'_>,
    progress: &(dyn Fn(Progress<'_>) + Sync),
) -> Result<LayerRef> {
    let dir = store.tmp_path("configure");
    let result = (|| {
        std::fs::create_dir(&dir).map_err(io_err(&dir))?;
        let mut lower = Vec::new();
        for layer in chain {
            lower.push(store.snapshot(&layer.diff_id)?);
        }
        let merged_view = ParentFs {
            dirs: lower.iter().rev().cloned().collect(),
        };
        let preinst = preinst_script(plan.packages);
        // Checked before anything runs, so the error names the base to use instead of the
        // runtime's "executable file not found". On a merged-/usr image `/bin` is a link to
        // `usr/bin` in one layer and `sh` is in another: the layers are not merged here.
        if !merged_view.exists("bin/sh") && !merged_view.exists("usr/bin/sh") {
            let package = plan
                .packages
                .iter()
                .find(|p| p.needs_configure())
                .map(|p| p.name.clone())
                .unwrap_or_default();
            return Err(Error::NoShell { package });
        }
        let (args, command) = if plan.real_dpkg {
            (
                vec![
                    "/bin/sh".into(),
                    "-ec".into(),
                    // The Essential set first, as mmdebstrap does.
                    format!(
                        "{preinst}{}dpkg --configure -a\n{CLEAN_UP}",
                        dpkg::configure_essential_first(plan.packages)
                    ),
                ],
                "dpkg --configure -a".to_owned(),
            )
        } else {
            let script = format!("{preinst}{}{CLEAN_UP}", script_for(plan.packages));
            (
                vec!["/bin/sh".into(), "-ec".into(), script],
                "postinst configure".to_owned(),
            )
        };
        progress(Progress::Configuring { command: &command });
        let rootfs = duckc_runtime::Rootfs::in_dir(lower, &dir).map_err(|e| Error::Runtime {
            reason: e.to_string(),
        })?;
        let spec = duckc_runtime::ContainerSpec {
            rootfs,
            process: duckc_runtime::Process {
                args,
                env: vec![
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                    // Tools that write a date into a file (`pwconv`'s last password change in
                    // `/etc/shadow`) take this one instead of today's.
                    format!("SOURCE_DATE_EPOCH={}", plan.epoch),
                    "DEBIAN_FRONTEND=noninteractive".to_owned(),
                    "DEBCONF_NONINTERACTIVE_SEEN=true".to_owned(),
                    "LC_ALL=C".to_owned(),
                    "LANGUAGE=C".to_owned(),
                    "LANG=C".to_owned(),
                ],
                cwd: "/".into(),
                user: String::new(),
                terminal: false,
            },
            hostname: "duckc-build".into(),
            network: duckc_runtime::Network::None,
            volumes: Vec::new(),
            seccomp: Default::default(),
            resources: Default::default(),
            dns: Default::default(),
            launch: Default::default(),
            tmpfs: vec![],
            net: None,
        };
        let captured = duckc_runtime::run_captured(&spec).map_err(|e| Error::Runtime {
            reason: e.to_string(),
        })?;
        if captured.code != 0 {
            let text = String::from_utf8_lossy(&captured.output);
            let lines: Vec<&str> = text.trim_end().lines().collect();
            return Err(Error::ConfigureFailed {
                command,
                code: captured.code,
                tail: lines[lines.len().saturating_sub(20)..].join("\n"),
            });
        }
        let upper = dir.join("upper");
        if !plan.real_dpkg {
            let dpkg_dir = upper.join("var/lib/dpkg");
            for d in [upper.join("var"), upper.join("var/lib"), dpkg_dir.clone()] {
                if d.symlink_metadata().is_err() {
                    std::fs::create_dir(&d).map_err(io_err(&d))?;
                    set_mode(&d, 0o755)?;
                }
            }
            let status = dpkg_dir.join("status");
            std::fs::write(&status, plan.final_status).map_err(io_err(&status))?;
        }
        Ok(store.write_layer(
            &upper,
            &WriteOptions {
                epoch: plan.epoch,
                compression: Compression::BUILD,
                source: SourceKind::OverlayUpper,
            },
        )?)
    })();
    let _ = duckc_layer::remove_tree(&dir);
    result
}

/// The shell script that runs every `preinst install` of `packages`, in order, with the
/// variables dpkg sets. dpkg runs a `preinst` before it unpacks the package; duckc unpacks
/// without dpkg, so the scripts run here, over the unpacked files, before anything is
/// configured, as `dpkg --install` would have run them (`base-passwd`'s creates `/etc/passwd`,
/// which later `postinst`s need). On a first install they do not depend on the files being
/// absent: `dpkg-maintscript-helper` acts only on upgrades.
fn preinst_script(packages: &[&PackageInfo]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut script = String::new();
    for p in packages {
        if p.control.files.contains_key("preinst") {
            let info = quote(&format!("/var/lib/dpkg/info/{}.preinst", p.info_name()));
            script.push_str(&format!(
                // debconf takes the package from dpkg's `tmp.ci/control` in a preinst; here
                // it is told, so the questions a preinst loads are owned by the package.
                "DEBCONF_PACKAGE={} DPKG_MAINTSCRIPT_PACKAGE={} DPKG_MAINTSCRIPT_ARCH={} DPKG_MAINTSCRIPT_NAME=preinst {info} install\n",
                quote(&p.name),
                quote(&p.name),
                quote(&p.architecture)
            ));
        }
    }
    script
}

/// The shell script that configures `packages` without dpkg: conffiles into place, then each
/// `postinst configure` with the variables dpkg sets.
fn script_for(packages: &[&PackageInfo]) -> String {
    let quote = |s: &str| format!("'{}'", s.replace('\'', r"'\''"));
    let mut script = String::new();
    for p in packages {
        for conffile in p.conffiles.keys() {
            let path = quote(conffile);
            let new = quote(&format!("{conffile}.dpkg-new"));
            script.push_str(&format!(
                "if [ -e {new} ] || [ -L {new} ]; then mv -f {new} {path}; fi\n"
            ));
        }
        if p.control.files.contains_key("postinst") {
            let info = quote(&format!("/var/lib/dpkg/info/{}.postinst", p.info_name()));
            script.push_str(&format!(
                "DPKG_MAINTSCRIPT_PACKAGE={} DPKG_MAINTSCRIPT_ARCH={} DPKG_MAINTSCRIPT_NAME=postinst {info} configure\n",
                quote(&p.name),
                quote(&p.architecture)
            ));
        }
    }
    script
}

/// The parent image's filesystem as its snapshots, top layer first: enough to read a file and
/// to see what a path is, the way the overlay shows it.
struct ParentFs {
    dirs: Vec<PathBuf>,
}

impl ParentFs {
    fn open(store: &Store, layers: &[LayerRef]) -> Result<ParentFs> {
        let mut dirs = Vec::new();
        for l in layers.iter().rev() {
            dirs.push(store.snapshot(&l.diff_id)?);
        }
        Ok(ParentFs { dirs })
    }

    /// The path in the topmost layer that has `rel`; `None` if absent or whited out.
    fn find(&self, rel: &str) -> Option<(PathBuf, std::fs::Metadata)> {
        for d in &self.dirs {
            let p = d.join(rel);
            if let Ok(m) = p.symlink_metadata() {
                if duckc_layer::overlay::is_whiteout(&m) {
                    return None;
                }
                return Some((p, m));
            }
        }
        None
    }

    fn exists(&self, rel: &str) -> bool {
        self.find(rel).is_some()
    }

    fn read(&self, rel: &str) -> Option<String> {
        let (p, m) = self.find(rel)?;
        m.is_file()
            .then(|| std::fs::read_to_string(p).ok())
            .flatten()
    }

    /// Merged-/usr unless the parent has a real `/bin` directory.
    fn is_merged_usr(&self) -> bool {
        !self.find("bin").is_some_and(|(_, m)| m.is_dir())
    }

    /// Whether the parent's dpkg database lists `name` as installed.
    fn has_package(&self, name: &str) -> bool {
        let Some(status) = self.read("var/lib/dpkg/status") else {
            return false;
        };
        status.split("\n\n").any(|p| {
            p.lines().any(|l| l.trim() == format!("Package: {name}"))
                // Unpacked counts: a foreign platform's packages may wait for configuring.
                && p.lines().any(|l| {
                    let l = l.trim();
                    l == "Status: install ok installed" || l == "Status: install ok unpacked"
                })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(name: &str, depends: &str) -> PackageInfo {
        let text = format!("Package: {name}\nVersion: 1\nArchitecture: all\nDepends: {depends}\n");
        PackageInfo {
            name: name.into(),
            architecture: "all".into(),
            version: "1".into(),
            control: crate::deb::Control {
                paragraph: crate::control::parse(&text).unwrap().remove(0),
                text,
                files: BTreeMap::new(),
            },
            list: Vec::new(),
            conffiles: BTreeMap::new(),
        }
    }

    #[test]
    fn groups_keep_widely_depended_on_packages_alone() {
        let infos = vec![
            info("app", "libc, libz | libzz, tool"),
            info("libc", ""),
            info("libz", "libc"),
            info("tool", "libc (>= 1), libz:any"),
            info("zeta", "libc"),
        ];
        let names = |groups: Vec<Vec<usize>>| -> Vec<Vec<&str>> {
            groups
                .iter()
                .map(|g| g.iter().map(|&i| infos[i].name.as_str()).collect())
                .collect()
        };
        // Room for everything: one layer each, by name.
        assert_eq!(
            names(plan_groups(&infos, 0, 100, &[])),
            [["app"], ["libc"], ["libz"], ["tool"], ["zeta"]]
        );
        // 4 parent layers + db + configure leave 6, half of it for this step: libc (4
        // dependents), libz (2), then the rest.
        assert_eq!(
            names(plan_groups(&infos, 4, 12, &[])),
            vec![vec!["libc"], vec!["libz"], vec!["app", "tool", "zeta"]]
        );
        // What the step names keeps its own layer first.
        assert_eq!(
            names(plan_groups(
                &infos,
                4,
                12,
                &["zeta=1.0".into(), "?essential".into()]
            )),
            vec![vec!["libc"], vec!["zeta"], vec!["app", "libz", "tool"]]
        );
        // No room at all: one group.
        assert_eq!(names(plan_groups(&infos, 200, 100, &[])).len(), 1);
    }

    #[test]
    fn configure_order_follows_dependencies() {
        let infos = vec![info("a", "c"), info("b", "a, c"), info("c", "")];
        let order: Vec<&str> = order_for_configure(&infos)
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        assert_eq!(order, ["c", "a", "b"]);
    }

    #[test]
    fn merge_usr_moves_top_dirs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/sh"), "x").unwrap();
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        std::fs::write(root.join("usr/bin/env"), "y").unwrap();
        std::fs::create_dir_all(root.join("lib64")).unwrap();
        std::fs::write(root.join("lib64/ld.so"), "z").unwrap();
        merge_usr(root, "p").unwrap();
        assert!(!root.join("bin").exists());
        assert!(root.join("usr/bin/sh").is_file() && root.join("usr/bin/env").is_file());
        assert!(root.join("usr/lib64/ld.so").is_file());
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::write(root.join("bin/env"), "again").unwrap();
        assert!(matches!(
            merge_usr(root, "p"),
            Err(Error::MergedUsrConflict { .. })
        ));
    }
}
