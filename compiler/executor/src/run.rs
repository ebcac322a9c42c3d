//! `run` steps: the command runs in the bundled runtime over the parent chain's snapshots, and
//! the overlay's upper directory (new files, whiteouts for deletions, opaque directories)
//! becomes the layer.
//!
//! The container has the network its step names: none (loopback only, a KDL `run`'s default),
//! duckc's NAT bridge (a Dockerfile `RUN`'s default, as in BuildKit; without root,
//! slirp4netns) or the host's (`--allow network.host` only). It gets a fixed hostname and
//! stdin at `/dev/null`, so nothing about the host or the moment leaks into the layer; the
//! generated `/etc/hosts` and `/etc/resolv.conf` are mounted, never written into it. Its
//! scratch directory lives in the store's `tmp/` and is removed whatever happens; one left by
//! a killed build is inert (no record points at it), and a bridge address it held is taken
//! back by the next sweep (the lease names the step's dead process).

use std::fs;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duckc_ir::{NodeKey, RunCommand, RunMount, RunState, RunStep};
use duckc_layer::{Compression, SourceKind, WriteOptions};
use duckc_runtime::{ContainerSpec, Network, Process, Rootfs, net};
use duckc_store::{LayerRef, Store};

use crate::execute::{BaseInfo, NodeResult};
use crate::{Error, Result, io_err};

/// How many lines of a failed step's output the error shows.
const TAIL_LINES: usize = 20;

/// What a `run` step's mounts are made from.
pub(crate) struct Mounts<'a> {
    /// The build context (bind mounts without `from`).
    pub context: &'a Path,
    /// The finished nodes bind mounts read from, by key.
    pub sources: &'a BTreeMap<NodeKey, NodeResult>,
    /// What the generated `/etc/hosts` and `/etc/resolv.conf` mounted in the step say.
    pub dns: &'a duckc_runtime::Dns,
}

/// The directory of a cache mount: `<store>/cache-mounts/<sha256 of id>`. The id is hashed, so
/// no id (`../../../../root`, an absolute path) can name anything outside that directory.
pub fn cache_mount_dir(store: &Store, id: &str) -> PathBuf {
    use sha2::Digest as _;
    store
        .root()
        .join("cache-mounts")
        .join(hex::encode(sha2::Sha256::digest(id.as_bytes())))
}

/// Prepares the host side of each mount under `dir`; returns the volumes to bind.
fn volumes(
    store: &Store,
    run: &RunStep,
    dir: &Path,
    mounts: &Mounts<'_>,
) -> Result<Vec<duckc_runtime::Volume>> {
    let mut out = Vec::new();
    for (i, m) in run.mounts.iter().enumerate() {
        let (source, readonly) = match m {
            RunMount::Cache { id, .. } => {
                let d = cache_mount_dir(store, id);
                fs::create_dir_all(&d).map_err(io_err(&d))?;
                (d, false)
            }
            RunMount::Tmpfs { .. } => {
                // A fresh private directory, removed with the step's scratch space.
                let d = dir.join(format!("tmpfs-{i}"));
                fs::create_dir(&d).map_err(io_err(&d))?;
                (d, false)
            }
            RunMount::Bind { files, source, .. } => {
                // The bound files are staged (hash-checked, no symlink followed) rather than
                // the context bound directly, so the command sees exactly what was keyed.
                let d = dir.join(format!("bind-{i}"));
                fs::create_dir(&d).map_err(io_err(&d))?;
                crate::copy::stage_files(
                    mounts.context,
                    files,
                    "/",
                    &crate::lower::LowerTree::default(),
                    &d,
                    (0, 0),
                )?;
                match files.as_slice() {
                    [f] if f.source == *source && f.kind != duckc_ir::EntryKind::Dir => {
                        // Resolved inside the staged tree, never on the host: the runtime opens
                        // a volume source following links, so what it gets must hold none.
                        let real = crate::copy_from::resolve_in_root(&d, &f.target)?
                            .filter(|p| fs::symlink_metadata(p).is_ok_and(|m| m.is_file()))
                            .ok_or_else(|| Error::BindSymlink {
                                path: source.clone(),
                            })?;
                        (real, true)
                    }
                    _ => (d, true),
                }
            }
            RunMount::BindFrom { node, source, .. } => {
                let result = mounts
                    .sources
                    .get(node)
                    .ok_or_else(|| Error::MissingNode(node.to_string()))?;
                let root = dir.join(format!("bindfrom-{i}"));
                fs::create_dir(&root).map_err(io_err(&root))?;
                crate::copy_from::flatten(store, &result.layers, &root)?;
                let real = crate::copy_from::resolve_in_root(&root, source)?.ok_or_else(|| {
                    Error::CopyFromMissing {
                        path: source.clone(),
                        image: node.short(),
                    }
                })?;
                (real, true)
            }
        };
        out.push(duckc_runtime::Volume {
            source,
            target: m.target().to_owned(),
            readonly,
        });
    }
    Ok(out)
}

/// Runs a `run` node whose parent chain is `chain`; returns its layer and its output.
pub(crate) fn run_layer(
    store: &Store,
    run: &RunStep,
    state: &RunState,
    base: &BaseInfo,
    chain: &[LayerRef],
    mounts: &Mounts<'_>,
    print: &(dyn Fn(String) + Sync),
) -> Result<(LayerRef, Vec<u8>)> {
    let step = describe(&run.command);
    let dir = store.tmp_path("run");
    let result = (|| {
        fs::create_dir(&dir).map_err(io_err(&dir))?;
        let mut lower = Vec::new();
        for layer in chain {
            lower.push(store.snapshot(&layer.diff_id)?);
        }
        if lower.is_empty() {
            // overlayfs needs a lower directory: an empty one stands for `scratch`.
            let empty = dir.join("empty");
            fs::create_dir(&empty).map_err(io_err(&empty))?;
            lower.push(empty);
        }
        let network_err = |e: net::NetError| Error::Network {
            step: step.clone(),
            source: Box::new(e),
        };
        let runtime_err = |e: duckc_runtime::Error| match e {
            duckc_runtime::Error::Net(e) => network_err(e),
            e => Error::Runtime {
                step: step.clone(),
                reason: e.to_string(),
            },
        };
        let rootfs = Rootfs::in_dir(lower, &dir).map_err(runtime_err)?;
        let (network, net) = step_network(run.network, &dir).map_err(network_err)?;
        let spec = ContainerSpec {
            rootfs,
            process: Process {
                args: run.command.argv(),
                env: environment(base, state),
                cwd: workdir(base, state),
                user: user(base, state),
                terminal: false,
            },
            hostname: "duckc-build".to_owned(),
            network,
            volumes: volumes(store, run, &dir, mounts)?,
            seccomp: Default::default(),
            resources: Default::default(),
            dns: mounts.dns.clone(),
            launch: Default::default(),
            tmpfs: vec![],
            net,
        };
        let mut lines = Lines::default();
        let captured = duckc_runtime::run_streamed(&spec, &mut |chunk| {
            for line in lines.push(chunk) {
                print(line);
            }
        });
        if let Some(req) = &spec.net {
            release(&req.container);
        }
        let captured = captured.map_err(runtime_err)?;
        if let Some(line) = lines.finish() {
            print(line);
        }
        if captured.code != 0 {
            return Err(Error::RunFailed {
                step: step.clone(),
                code: captured.code,
                tail: tail(&captured.output, TAIL_LINES),
            });
        }
        let upper = dir.join("upper");
        let layer = store.write_layer(
            &upper,
            &WriteOptions {
                epoch: duckc_layer::source_date_epoch(),
                compression: Compression::BUILD,
                source: SourceKind::OverlayUpper,
            },
        )?;
        Ok((layer, captured.output))
    })();
    let _ = duckc_layer::remove_tree(&dir);
    result
}

/// The runtime's network for a step on `network`, and for the bridge the request that puts
/// it there. The step's container id is derived from its scratch directory (unique in the
/// store and the process), so two steps running at once get two addresses.
fn step_network(
    network: duckc_syntax::ast::Network,
    dir: &Path,
) -> std::result::Result<(Network, Option<net::Request>), net::NetError> {
    use duckc_syntax::ast::Network as Step;
    match network {
        Step::None => Ok((Network::None, None)),
        Step::Host => Ok((Network::Host, None)),
        Step::Bridge => {
            use sha2::Digest as _;
            let id = hex::encode(sha2::Sha256::digest(dir.as_os_str().as_encoded_bytes()));
            let def = if duckc_runtime::process::is_rootless() {
                // slirp4netns's network, as `duckc run` without root names it: one container
                // per namespace, always at 10.0.2.100 (the runtime warns and keeps loopback
                // only when slirp4netns cannot run).
                net::NetworkDef {
                    name: "bridge".into(),
                    bridge: "slirp4netns".into(),
                    subnet: net::Subnet {
                        addr: std::net::Ipv4Addr::new(10, 0, 2, 0),
                        prefix: 24,
                    },
                }
            } else {
                // Addresses a killed build left leased go back first.
                let _ = net::sweep();
                net::default_network()?
            };
            Ok((
                Network::Private,
                Some(net::Request {
                    network: def,
                    name: format!("build-{}", &id[..12]),
                    container: id,
                    aliases: Vec::new(),
                    ports: Vec::new(),
                }),
            ))
        }
    }
}

/// Take back the address (veth, lease, hosts file, firewall rules) or the slirp4netns record
/// of the step's container once it has ended.
fn release(container: &str) {
    if duckc_runtime::process::is_rootless() {
        net::slirp::release(container);
    } else {
        let _ = net::release(container);
    }
}

/// Splits a command's output into lines as it arrives; a line is handed out once its newline
/// has come (a carriage return ends a line too: progress bars redraw with it).
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    /// The last byte was a carriage return (a `\n` after it ends no second line).
    after_cr: bool,
}

impl Lines {
    fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        for &b in chunk {
            let cr = std::mem::replace(&mut self.after_cr, b == b'\r');
            match b {
                b'\n' if cr => {}
                b'\n' | b'\r' => {
                    out.push(String::from_utf8_lossy(&self.partial).into_owned());
                    self.partial.clear();
                }
                _ => self.partial.push(b),
            }
        }
        out
    }

    /// What is left after the last newline.
    fn finish(&mut self) -> Option<String> {
        (!self.partial.is_empty())
            .then(|| String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned())
    }
}

/// The step as written in a spec.
pub(crate) fn describe(cmd: &RunCommand) -> String {
    match cmd {
        RunCommand::Shell(s) => format!("run {s:?}"),
        RunCommand::Exec(v) => {
            let args: Vec<String> = v.iter().map(|a| format!("{a:?}")).collect();
            format!("run {}", args.join(" "))
        }
    }
}

/// The base image's environment with the spec's `env` values over it.
pub(crate) fn environment(base: &BaseInfo, state: &RunState) -> Vec<String> {
    let mut env: Vec<(String, String)> = base
        .env()
        .into_iter()
        .filter_map(|e| e.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    for (k, v) in &state.env {
        match env.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

/// The spec's `workdir`, or the base image's when the spec leaves it at `/`.
pub(crate) fn workdir(base: &BaseInfo, state: &RunState) -> String {
    match (state.workdir.as_str(), base.string("WorkingDir")) {
        ("/", Some(w)) if !w.is_empty() => w,
        (w, _) => w.to_owned(),
    }
}

/// The spec's `user`, or the base image's when the spec sets none.
pub(crate) fn user(base: &BaseInfo, state: &RunState) -> String {
    if state.user.is_empty() {
        base.string("User").unwrap_or_default()
    } else {
        state.user.clone()
    }
}

/// The last `n` lines of `output`, as text.
fn tail(output: &[u8], n: usize) -> String {
    let text = String::from_utf8_lossy(output);
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{Lines, tail};

    #[test]
    fn lines_are_handed_out_when_their_newline_comes() {
        let mut l = Lines::default();
        assert!(l.push(b"on").is_empty());
        assert_eq!(l.push(b"e\ntw"), ["one"]);
        assert_eq!(l.push(b"o\r\n\nx\r"), ["two", "", "x"]);
        assert_eq!(l.push(b"tail"), Vec::<String>::new());
        assert_eq!(l.finish().as_deref(), Some("tail"));
        assert_eq!(l.finish(), None);
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail(b"a\nb\nc\n", 2), "b\nc");
        assert_eq!(tail(b"", 2), "");
    }
}
