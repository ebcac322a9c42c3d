//! `duckc -H HOST build …` with the context on this machine: only the files the build reads
//! (the spec, its imports, `duck.lock`, and the context entries its `copy`/`COPY`/`ADD` steps
//! name) cross the wire, and only those whose content the remote store lacks (by sha256), to
//! the hidden `context-build` verb, which rebuilds the tree and runs `duckc build` there.
//!
//! The protocol, on the session's standard input and output:
//! 1. this side: one JSON line `{"protocol", "spec", "entries": [{tree, path, kind, mode,
//!    digest, size, target}]}` (`tree` is `spec` or `context`);
//! 2. the remote: `{"want": [digest…]}`, the file contents its store lacks;
//! 3. this side: those contents back to back, each exactly its announced size;
//! 4. the remote: `{"ok": true}` (or an error), then the build's own output until it ends,
//!    with the build's exit code as the session's.
//!
//! **Invariant:** contents are stored on the remote as blobs, so each is checked against the
//! digest it was announced under before it is used (a file edited while it is sent fails the
//! build, naming it); the tree is made in a fresh directory where no entry lies below a
//! symlink entry, so nothing is written outside it.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path};
use std::process::{ExitCode, Stdio};

use clap::ArgAction;
use clap::parser::ValueSource;
use duckc_build::context;
use duckc_image::Digest;
use duckc_ir::EntryKind;
use duckc_layer::HashingWriter;
use duckc_layer::digest::digest_reader;
use miette::{IntoDiagnostic, miette};
use rustix::fs::OFlags;
use serde::{Deserialize, Serialize};

use super::{Host, Session, hosts};
use crate::Global;
use crate::cmd::build::{Command, find_spec, parse_build_args, resolve_args};

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    protocol: u32,
    /// The spec's file name in the `spec` tree.
    spec: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Entry {
    /// `spec` (the spec's directory) or `context`.
    tree: String,
    path: String,
    /// `file`, `dir` or `symlink`.
    kind: String,
    mode: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    digest: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    target: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Want {
    want: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Ready {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// A relative `/`-separated path with no `.`, `..` or empty part.
fn plain_relative(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && Path::new(path)
            .components()
            .all(|c| matches!(c, Component::Normal(_)))
        && !path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
}

fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let (d, n) = digest_reader(context::open_nofollow(path)?)?;
    Ok((d.to_string(), n))
}

/// What a build of these arguments reads here: (the spec's file name, the entries).
#[allow(clippy::too_many_arguments)]
fn collect(
    file: Option<std::path::PathBuf>,
    spec_file: Option<std::path::PathBuf>,
    context_dir: Option<std::path::PathBuf>,
    build_args: &[String],
    target: &[String],
    platform: &[String],
) -> miette::Result<(String, Vec<(Entry, std::path::PathBuf)>)> {
    let (file, context_dir) = resolve_args(file, spec_file, context_dir)?;
    let inputs = duckc_driver::inputs(&duckc_driver::Options {
        file: find_spec(file.as_deref())?,
        context: context_dir,
        build_args: parse_build_args(build_args)?,
        targets: target.to_vec(),
        platforms: platform.to_vec(),
        ..Default::default()
    })?;
    let spec_dir = inputs.spec.parent().unwrap_or(Path::new("/")).to_owned();
    let spec_name = inputs.spec_files[0].clone();
    let ctx_dir = inputs.context;
    let (sources, listing) = (inputs.sources, inputs.listing);
    let mut spec_files: BTreeSet<String> = inputs.spec_files.into_iter().collect();
    if spec_dir.join("duck.lock").is_file() {
        spec_files.insert("duck.lock".to_owned());
    }
    let mut out = Vec::new();
    for rel in spec_files {
        if !plain_relative(&rel) {
            return Err(miette!(
                help = "keep the spec's imports in its directory or below it",
                "`{rel}` is outside the spec's directory, so a remote build cannot send it"
            ));
        }
        let full = spec_dir.join(&rel);
        let (digest, size) =
            sha256_file(&full).map_err(|e| miette!("cannot read `{}`: {e}", full.display()))?;
        let mode = std::fs::metadata(&full)
            .map(|m| m.permissions().mode() & 0o7777)
            .unwrap_or(0o644);
        out.push((
            Entry {
                tree: "spec".into(),
                path: rel,
                kind: "file".into(),
                mode,
                digest: Some(digest),
                size,
                target: None,
            },
            full,
        ));
    }
    let ctx = context::open_context(&ctx_dir)
        .map_err(|e| miette!("cannot read the build context `{}`: {e}", ctx_dir.display()))?;
    let mut dirs: BTreeSet<String> = BTreeSet::new();
    for f in &listing {
        if !duckc_driver::context::wanted(&sources, &f.path) {
            continue;
        }
        let mut parent = Path::new(&f.path).parent();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            dirs.insert(p.to_string_lossy().into_owned());
            parent = p.parent();
        }
    }
    for f in &listing {
        if !duckc_driver::context::wanted(&sources, &f.path) && !dirs.contains(&f.path) {
            continue;
        }
        let full = ctx_dir.join(&f.path);
        let mut e = Entry {
            tree: "context".into(),
            path: f.path.clone(),
            kind: String::new(),
            mode: f.mode,
            digest: None,
            size: 0,
            target: None,
        };
        match f.kind {
            EntryKind::Dir => e.kind = "dir".into(),
            EntryKind::Symlink => {
                e.kind = "symlink".into();
                let t = context::read_link_beneath(&ctx, &f.path)
                    .map_err(|err| miette!("cannot read `{}`: {err}", full.display()))?;
                e.target = Some(t.into_string().map_err(|_| {
                    miette!(
                        "the symlink `{}` points at a name that is not UTF-8",
                        full.display()
                    )
                })?);
            }
            EntryKind::File => {
                e.kind = "file".into();
                let fd = context::open_beneath(&ctx, &f.path, OFlags::RDONLY | OFlags::NONBLOCK)
                    .map_err(|err| miette!("cannot read `{}`: {err}", full.display()))?;
                let (d, n) = digest_reader(std::fs::File::from(fd))
                    .map_err(|err| miette!("cannot read `{}`: {err}", full.display()))?;
                e.digest = Some(d.to_string());
                e.size = n;
            }
        }
        out.push((e, full));
    }
    Ok((spec_name, out))
}

/// The build's flags as given, minus those that name local paths, for the remote `build`.
fn forwarded_flags(matches: &clap::ArgMatches, def: &clap::Command) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in def.get_arguments() {
        let id = arg.get_id().as_str();
        if ["file", "spec_file", "context", "outputs"].contains(&id)
            || matches.value_source(id) != Some(ValueSource::CommandLine)
        {
            continue;
        }
        let Some(long) = arg.get_long() else { continue };
        match arg.get_action() {
            ArgAction::SetTrue | ArgAction::SetFalse => {
                if matches.get_raw(id).is_some() {
                    out.push(format!("--{long}").into());
                }
            }
            _ => {
                for v in matches.get_raw(id).into_iter().flatten() {
                    let mut a = format!("--{long}=").into_bytes();
                    a.extend_from_slice(std::os::unix::ffi::OsStrExt::as_bytes(v));
                    out.push(OsString::from_vec(a));
                }
            }
        }
    }
    out
}

/// `duckc -H HOST build …`: send what the build reads, then build there.
pub fn run(
    host: &str,
    command: Command,
    matches: &clap::ArgMatches,
    def: &clap::Command,
) -> miette::Result<ExitCode> {
    let Command::Build {
        file,
        spec_file,
        context,
        build_args,
        target,
        outputs,
        platform,
        ..
    } = command
    else {
        unreachable!("only `build` comes here");
    };
    let host: Host = hosts::resolve(host)?;
    if !outputs.is_empty() {
        return Err(miette!(
            help = format!(
                "build on {} without `-o`, then bring the image here with `duckc pull \
                 ssh://…/NAME:TAG` and write it out with `duckc save`",
                host.label
            ),
            "`-o` would write on the remote host"
        ));
    }
    let (spec, entries) = collect(file, spec_file, context, &build_args, &target, &platform)?;
    let mut args = vec![OsString::from("context-build")];
    args.extend(forwarded_flags(matches, def));
    let mut session = Session::start(&host, &args, false, true, Stdio::piped(), Stdio::piped())?;
    // SAFETY: changing signal dispositions after ssh was started with the defaults.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        libc::signal(libc::SIGINT, libc::SIG_IGN);
    }
    let mut w = session.child.stdin.take().expect("stdin is piped");
    let mut r = BufReader::new(session.child.stdout.take().expect("stdout is piped"));
    let sent = send(&spec, &entries, &mut r, &mut w);
    drop(w);
    if let Ok((files, bytes, there)) = &sent {
        eprintln!(
            "sent {files} file(s), {bytes} bytes of build context to {}; {there} already there",
            host.label
        );
        let mut out = std::io::stdout().lock();
        let _ = std::io::copy(&mut r, &mut out);
        let _ = out.flush();
    }
    drop(r);
    let code = session.finish();
    match (sent, code) {
        (Ok(_), Ok(c)) => Ok(ExitCode::from(c)),
        (Err(_), Err(e)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(_)) => Err(e),
    }
}

fn read_line(r: &mut impl BufRead) -> miette::Result<String> {
    let mut line = String::new();
    r.take(16 << 20)
        .read_line(&mut line)
        .map_err(|e| miette!("the remote's answer could not be read: {e}"))?;
    if !line.ends_with('\n') {
        return Err(miette!(
            "the remote ended the session (see its message above)"
        ));
    }
    Ok(line)
}

fn write_json(w: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec(value).expect("protocol messages serialise");
    bytes.push(b'\n');
    w.write_all(&bytes)?;
    w.flush()
}

/// Offer the entries, send the contents asked for: (files sent, bytes, files already there).
fn send(
    spec: &str,
    entries: &[(Entry, std::path::PathBuf)],
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> miette::Result<(usize, u64, usize)> {
    let cut = |e: std::io::Error| miette!("the session ended while sending: {e}");
    let manifest = Manifest {
        protocol: super::PROTOCOL,
        spec: spec.to_owned(),
        entries: entries.iter().map(|(e, _)| e.clone()).collect(),
    };
    write_json(w, &manifest).map_err(cut)?;
    let want: Want = serde_json::from_str(&read_line(r)?)
        .map_err(|e| miette!("the remote answered something unexpected: {e}"))?;
    let files: BTreeSet<&str> = entries
        .iter()
        .filter_map(|(e, _)| e.digest.as_deref())
        .collect();
    let mut bytes = 0;
    for d in &want.want {
        let Some((e, full)) = entries
            .iter()
            .find(|(e, _)| e.digest.as_deref() == Some(d.as_str()))
        else {
            return Err(miette!("the remote asked for `{d}`, which was not offered"));
        };
        let changed = || {
            miette!(
                help = "run the build again once the file is saved",
                "`{}` changed while it was sent",
                full.display()
            )
        };
        let mut f = context::open_nofollow(full).map_err(|_| changed())?;
        let mut hashing = HashingWriter::new(&mut *w);
        let n = std::io::copy(&mut (&mut f).take(e.size), &mut hashing).map_err(cut)?;
        let (_, digest, _) = hashing.finish();
        // Grown since it was hashed: its first bytes may still match.
        let grown = f.read(&mut [0u8; 1]).map_or(true, |k| k > 0);
        if n != e.size || grown || digest.to_string() != *d {
            return Err(changed());
        }
        bytes += n;
    }
    w.flush().map_err(cut)?;
    let ready: Ready = serde_json::from_str(&read_line(r)?)
        .map_err(|e| miette!("the remote answered something unexpected: {e}"))?;
    if let Some(e) = ready.error.filter(|_| !ready.ok) {
        return Err(miette!("the remote did not take the build context: {e}"));
    }
    Ok((want.want.len(), bytes, files.len() - want.want.len()))
}

/// The remote side: `duckc context-build FLAGS…` takes the context on standard input, then
/// runs `duckc build FLAGS…` on it and answers with its exit code.
pub fn serve(global: &Global, flags: &[OsString]) -> miette::Result<ExitCode> {
    let store = crate::cmd::image::open_store(global)?;
    let _lease = store.lease().into_diagnostic()?;
    let stdin = std::io::stdin();
    let mut r = stdin.lock();
    let mut w = std::io::stdout().lock();
    let bundle = store.tmp_path("remote-build");
    let result = take(&store, &bundle, &mut r, &mut w);
    let spec = match result {
        Ok(spec) => {
            write_json(
                &mut w,
                &Ready {
                    ok: true,
                    error: None,
                },
            )
            .into_diagnostic()?;
            spec
        }
        Err(e) => {
            let _ = std::fs::remove_dir_all(&bundle);
            let _ = write_json(
                &mut w,
                &Ready {
                    ok: false,
                    error: Some(e.to_string()),
                },
            );
            return Err(e);
        }
    };
    drop(w);
    let mut cmd = std::process::Command::new("/proc/self/exe");
    if let Some(s) = &global.store {
        cmd.arg("--store").arg(s);
    }
    cmd.arg("build")
        .arg("-f")
        .arg(bundle.join("spec").join(&spec))
        .arg("--context")
        .arg(bundle.join("context"))
        .args(flags)
        .stdin(Stdio::null());
    let status = cmd.status();
    let _ = std::fs::remove_dir_all(&bundle);
    let status = status.map_err(|e| miette!("cannot run the build: {e}"))?;
    Ok(ExitCode::from(status.code().unwrap_or(1) as u8))
}

/// Read the manifest and the contents; lay the trees out under `bundle`. Returns the spec.
fn take(
    store: &duckc_store::Store,
    bundle: &Path,
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> miette::Result<String> {
    let manifest: Manifest = serde_json::from_str(&read_line(r)?)
        .map_err(|e| miette!("the other side sent something unexpected: {e}"))?;
    if manifest.protocol != super::PROTOCOL {
        return Err(miette!(
            "the other side speaks protocol {}",
            manifest.protocol
        ));
    }
    if !plain_relative(&manifest.spec) {
        return Err(miette!("invalid spec name `{}`", manifest.spec));
    }
    let mut links: BTreeSet<(String, String)> = BTreeSet::new();
    for e in &manifest.entries {
        if !plain_relative(&e.path) || !["spec", "context"].contains(&e.tree.as_str()) {
            return Err(miette!("invalid entry `{}`", e.path));
        }
        if e.kind == "symlink" {
            links.insert((e.tree.clone(), e.path.clone()));
        }
    }
    // No entry may lie below a symlink entry: writing it would follow the link.
    for e in &manifest.entries {
        let mut p = Path::new(&e.path).parent();
        while let Some(dir) = p.filter(|d| !d.as_os_str().is_empty()) {
            if links.contains(&(e.tree.clone(), dir.to_string_lossy().into_owned())) {
                return Err(miette!("`{}` lies below a symlink", e.path));
            }
            p = dir.parent();
        }
    }
    let mut want: Vec<(Digest, u64)> = Vec::new();
    for e in manifest.entries.iter().filter(|e| e.kind == "file") {
        let d: Digest = e
            .digest
            .as_deref()
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| miette!("`{}` has no valid digest", e.path))?;
        if !store.has_blob(&d) && !want.iter().any(|(w, _)| *w == d) {
            want.push((d, e.size));
        }
    }
    write_json(
        w,
        &Want {
            want: want.iter().map(|(d, _)| d.to_string()).collect(),
        },
    )
    .into_diagnostic()?;
    for (d, size) in &want {
        let name = manifest
            .entries
            .iter()
            .find(|e| e.digest.as_deref() == Some(&d.to_string()))
            .map_or(String::new(), |e| e.path.clone());
        let mut writer = store.blob_writer().into_diagnostic()?;
        let n = std::io::copy(&mut r.take(*size), &mut writer).into_diagnostic()?;
        if n != *size {
            return Err(miette!("the session was cut while `{name}` came"));
        }
        writer.commit(Some((d, *size))).map_err(|_| {
            miette!("`{name}` changed while it was sent (its content no longer matches its digest)")
        })?;
    }
    for tree in ["spec", "context"] {
        std::fs::create_dir_all(bundle.join(tree)).into_diagnostic()?;
    }
    for e in &manifest.entries {
        let dest = bundle.join(&e.tree).join(&e.path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent).into_diagnostic()?;
        }
        match e.kind.as_str() {
            "dir" => {
                std::fs::create_dir_all(&dest).into_diagnostic()?;
            }
            "symlink" => {
                let t = e.target.as_deref().unwrap_or_default();
                std::os::unix::fs::symlink(t, &dest).into_diagnostic()?;
            }
            "file" => {
                let d: Digest = e
                    .digest
                    .as_deref()
                    .unwrap_or_default()
                    .parse()
                    .map_err(|_| miette!("`{}` has no valid digest", e.path))?;
                let mut from = store.open_blob(&d).into_diagnostic()?;
                let mut to = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(&dest)
                    .into_diagnostic()?;
                std::io::copy(&mut from, &mut to).into_diagnostic()?;
            }
            other => return Err(miette!("unknown entry kind `{other}`")),
        }
        if e.kind != "symlink" {
            std::fs::set_permissions(&dest, std::fs::Permissions::from_mode(e.mode & 0o7777))
                .into_diagnostic()?;
        }
    }
    Ok(manifest.spec)
}
