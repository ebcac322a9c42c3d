//! `run --mount type=bind|tmpfs,…` and `run --env-file FILE`, parsed as Docker parses them.

use std::path::PathBuf;

use clap::Args;
use duckc_runtime::{ContainerSpec, Tmpfs, Volume};
use miette::miette;
use serde_json::{Value, json};

// The `run` flags of this module (flattened into `RunArgs`).
// (Not `///`: see `Command` in main.rs.)
#[derive(Debug, Args, Default)]
pub struct MountArgs {
    /// Read environment variables from a file (`KEY=VALUE` lines; `#` comments).
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Attach a mount: `type=bind,source=HOST,target=CTR[,readonly]` or
    /// `type=tmpfs,target=CTR[,tmpfs-size=BYTES][,tmpfs-mode=OCTAL]`.
    #[arg(long = "mount", value_name = "type=…,target=…")]
    pub mount: Vec<String>,
}

/// The `-e` flags with the `--env-file` lines in front (so `-e` wins, as in Docker).
pub fn env_flags(args: &MountArgs, env: &[String]) -> miette::Result<Vec<String>> {
    let mut out = Vec::new();
    for file in &args.env_file {
        let text = std::fs::read_to_string(file).map_err(|e| {
            miette!(
                help = "give a readable file of `KEY=VALUE` lines",
                "cannot read the env file `{}`: {e}",
                file.display()
            )
        })?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let key = line.split('=').next().unwrap_or_default();
            if key.is_empty() || key.contains(char::is_whitespace) {
                return Err(miette!(
                    help = "write one `KEY=VALUE` (or `KEY`, to pass the caller's value) per line",
                    "{}:{}: bad variable name `{key}`",
                    file.display(),
                    n + 1
                ));
            }
            out.push(line.to_owned());
        }
    }
    out.extend(env.iter().cloned());
    Ok(out)
}

/// One `--mount`, parsed.
enum Mount {
    Bind(Volume),
    Tmpfs(Tmpfs),
}

const MOUNT_HELP: &str = "write `--mount type=bind,source=/host/dir,target=/dir[,readonly]` or \
`--mount type=tmpfs,target=/dir[,tmpfs-size=64m]`";

fn parse(spec: &str) -> miette::Result<Mount> {
    let bad = |why: String| miette!(help = MOUNT_HELP, "invalid --mount `{spec}`: {why}");
    let mut kind = None;
    let mut source = None;
    let mut target = None;
    let mut readonly = false;
    let mut size = None;
    let mut mode = None;
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (field, None),
        };
        let need = || value.ok_or_else(|| bad(format!("`{key}` needs a value")));
        match key {
            "type" => kind = Some(need()?),
            "source" | "src" => source = Some(need()?),
            "target" | "destination" | "dst" => target = Some(need()?),
            "readonly" | "ro" => {
                readonly = match value {
                    None | Some("1" | "true") => true,
                    Some("0" | "false") => false,
                    Some(v) => return Err(bad(format!("`{key}` is true or false, not `{v}`"))),
                }
            }
            "tmpfs-size" => {
                let v = need()?;
                size = Some(duckc_runtime::cgroup::parse::size(v).map_err(|_| {
                    bad(format!(
                        "`tmpfs-size` is a size like `64m` or `1g`, not `{v}`"
                    ))
                })?);
            }
            "tmpfs-mode" => {
                let v = need()?;
                mode = Some(
                    u32::from_str_radix(v, 8)
                        .ok()
                        .filter(|m| *m <= 0o7777)
                        .ok_or_else(|| {
                            bad(format!("`tmpfs-mode` is octal permission bits, not `{v}`"))
                        })?,
                );
            }
            "" => {}
            other => return Err(bad(format!("duckc has no mount option `{other}`"))),
        }
    }
    let target = target.ok_or_else(|| bad("no `target`".into()))?;
    if !target.starts_with('/') {
        return Err(bad(format!(
            "the target `{target}` is not an absolute path"
        )));
    }
    match kind {
        Some("bind") => {
            if size.is_some() || mode.is_some() {
                return Err(bad("`tmpfs-*` options are for `type=tmpfs`".into()));
            }
            let source = source.ok_or_else(|| bad("a bind mount needs `source`".into()))?;
            // Unlike `-v`, `--mount` does not create a missing source (Docker's rule).
            let source = std::fs::canonicalize(source)
                .map_err(|e| bad(format!("bind source path `{source}` does not exist: {e}")))?;
            Ok(Mount::Bind(Volume {
                source,
                target: target.to_owned(),
                readonly,
            }))
        }
        Some("tmpfs") => {
            if source.is_some() {
                return Err(bad("a tmpfs has no `source`".into()));
            }
            Ok(Mount::Tmpfs(Tmpfs {
                target: target.to_owned(),
                size,
                mode,
            }))
        }
        Some("volume") => Err(miette!(
            help = "bind a host directory with `type=bind,source=/host/dir,target=…`",
            "invalid --mount `{spec}`: duckc has no named volumes"
        )),
        Some(other) => Err(bad(format!("no mount type `{other}`"))),
        None => Err(bad("no `type`".into())),
    }
}

/// Apply every `--mount` to `spec`: bind mounts join the `-v` volumes, tmpfs mounts follow.
pub fn apply(args: &MountArgs, spec: &mut ContainerSpec) -> miette::Result<()> {
    for m in &args.mount {
        match parse(m)? {
            Mount::Bind(v) => spec.volumes.push(v),
            Mount::Tmpfs(t) => spec.tmpfs.push(t),
        }
    }
    Ok(())
}

/// The tmpfs mounts in `inspect`'s `Mounts`.
pub fn inspect_tmpfs(spec: &ContainerSpec) -> Vec<Value> {
    spec.tmpfs
        .iter()
        .map(|t| {
            json!({
                "Type": "tmpfs",
                "Source": "",
                "Destination": t.target,
                "Mode": "",
                "RW": true,
                "Propagation": "",
            })
        })
        .collect()
}
