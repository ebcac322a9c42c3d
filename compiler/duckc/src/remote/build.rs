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
//! 4. the remote: `{"ok": true}` (or an error), then the build's standard output in frames
//!    (`{"out": N}` and N bytes), then `{"lock": N}` and N bytes when the build wrote a
//!    `duck.lock` other than the one it was sent (this side writes it next to the spec, as a
//!    local build would), then `{"end": CODE}`; the build's exit code is the session's.
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
use std::os::unix::process::ExitStatusExt;
use std::path::{Component, Path};
use std::process::{ExitCode, Stdio};

use clap::ArgAction;
use clap::parser::ValueSource;
use duckc_executor::context;
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

/// A frame of what the remote sends once the build runs: exactly one field is set.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Frame {
    /// The next N bytes are the build's standard output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    out: Option<u64>,
    /// The next N bytes are the `duck.lock` the build wrote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lock: Option<u64>,
    /// The build ended with this exit code; nothing follows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<i32>,
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

/// The entries a build reads, each with its path on this machine.
type Files = Vec<(Entry, std::path::PathBuf)>;

/// What a build of these arguments reads here: (the spec's file name, the spec's directory,
/// the entries).
#[allow(clippy::too_many_arguments)]
fn collect(
    file: Option<std::path::PathBuf>,
    spec_file: Option<std::path::PathBuf>,
    context_dir: Option<std::path::PathBuf>,
    build_args: &[String],
    target: &[String],
    platform: &[String],
) -> miette::Result<(String, std::path::PathBuf, Files)> {
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
    Ok((spec_name, spec_dir, out))
}

/// The build's flags as given, minus those that name local paths, for the remote `build`.
fn forwarded_flags(matches: &clap::ArgMatches, def: &clap::Command) -> Vec<OsString> {
    let mut out = Vec::new();
    for arg in def.get_arguments() {
        let id = arg.get_id().as_str();
        if ["file", "spec_file", "context", "outputs", "iidfile"].contains(&id)
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
        locked,
        iidfile,
        ..
    } = command
    else {
        unreachable!("only `build` comes here");
    };
    if iidfile.is_some() {
        return Err(miette!(
            help = "`-q` prints the id here: `duckc -H HOST build -q . > FILE`",
            "`--iidfile` would write on the remote host"
        ));
    }
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
    let (spec, spec_dir, entries) =
        collect(file, spec_file, context, &build_args, &target, &platform)?;
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
    let sent = send(&spec, &entries, &mut r, &mut w, &host.label);
    drop(w);
    let mut received = Ok(());
    if let Ok((files, bytes, there)) = &sent {
        eprintln!(
            "sent {files} file(s), {bytes} bytes of build context to {}; {there} already there",
            host.label
        );
        let lock = (!locked).then(|| spec_dir.join("duck.lock"));
        received = receive(&mut r, lock.as_deref(), &host.label);
    }
    drop(r);
    let code = session.finish();
    match (sent.and(received), code) {
        (Ok(_), Ok(c)) => Ok(ExitCode::from(c)),
        (Err(_), Err(e)) | (Ok(_), Err(e)) => Err(e),
        (Err(e), Ok(_)) => Err(e),
    }
}

/// The longest `duck.lock` taken back from a remote build (a lock of thousands of packages is
/// well under a megabyte).
const MAX_LOCK: u64 = 16 << 20;

/// The remote build's frames: its output to our standard output, a `duck.lock` it wrote to
/// `lock_path` (`None` for a `--locked` build, which writes none), until its end.
fn receive(r: &mut impl BufRead, lock_path: Option<&Path>, host: &str) -> miette::Result<()> {
    let cut = || {
        miette!(
            help = format!(
                "run the build again: what {host} already stored is kept, and the build \
                 cache there makes the rerun quick"
            ),
            "the ssh session to {host} ended during the build"
        )
    };
    let mut out = std::io::stdout().lock();
    loop {
        let mut line = String::new();
        match r.take(4096).read_line(&mut line) {
            Ok(_) if line.ends_with('\n') => {}
            _ => return Err(cut()),
        }
        let frame: Frame = serde_json::from_str(&line)
            .map_err(|e| miette!("{host} answered something unexpected: {e}"))?;
        if let Some(n) = frame.out {
            let copied = std::io::copy(&mut r.take(n), &mut out).map_err(|_| cut())?;
            if copied != n {
                return Err(cut());
            }
            let _ = out.flush();
        } else if let Some(n) = frame.lock {
            let Some(lock_path) = lock_path.filter(|_| n <= MAX_LOCK) else {
                return Err(miette!(
                    help = format!("check the duckc installed on {host}"),
                    "{host} sent a `duck.lock` of {n} bytes for a build that writes none, or \
                     one over {MAX_LOCK} bytes"
                ));
            };
            let mut bytes = Vec::new();
            r.take(n).read_to_end(&mut bytes).map_err(|_| cut())?;
            if bytes.len() as u64 != n {
                return Err(cut());
            }
            write_lock(lock_path, &bytes, host);
        } else if frame.end.is_some() {
            return Ok(());
        } else {
            return Err(miette!("{host} answered an empty frame"));
        }
    }
}

/// Write the `duck.lock` a remote build wrote next to the local spec (a temporary file, then a
/// rename, as a local build writes it). A directory this side cannot write only warns: the
/// build itself does not need the lock, as locally.
fn write_lock(path: &Path, bytes: &[u8], host: &str) {
    let tmp = path.with_file_name(format!(".duck.lock.{}.tmp", std::process::id()));
    let written = std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    match written {
        Ok(()) => eprintln!("wrote {} (pinned by the build on {host})", path.display()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            eprintln!(
                "warning: cannot write `{}`: {e}\n  help: make the spec's directory writable \
                 to keep the pins for `--locked`",
                path.display()
            );
        }
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
    host: &str,
) -> miette::Result<(usize, u64, usize)> {
    let cut = |e: &dyn std::fmt::Display| {
        miette!(
            help =
                format!("run the build again: the files {host} already stored are not sent again"),
            "the ssh session to {host} ended while the build context was sent: {e}"
        )
    };
    let answer = |r: &mut _| read_line(r).map_err(|e| cut(&e));
    let manifest = Manifest {
        protocol: super::PROTOCOL,
        spec: spec.to_owned(),
        entries: entries.iter().map(|(e, _)| e.clone()).collect(),
    };
    write_json(w, &manifest).map_err(|e| cut(&e))?;
    let want: Want = serde_json::from_str(&answer(r)?)
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
        let n = std::io::copy(&mut (&mut f).take(e.size), &mut hashing).map_err(|e| cut(&e))?;
        let (_, digest, _) = hashing.finish();
        // Grown since it was hashed: its first bytes may still match.
        let grown = f.read(&mut [0u8; 1]).map_or(true, |k| k > 0);
        if n != e.size || grown || digest.to_string() != *d {
            return Err(changed());
        }
        bytes += n;
    }
    w.flush().map_err(|e| cut(&e))?;
    let ready: Ready = serde_json::from_str(&answer(r)?)
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
    let (spec, sent_lock) = match result {
        Ok(taken) => {
            write_json(
                &mut w,
                &Ready {
                    ok: true,
                    error: None,
                },
            )
            .into_diagnostic()?;
            taken
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
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let result = run_framed(cmd, &bundle.join("spec/duck.lock"), sent_lock, &mut w);
    let _ = std::fs::remove_dir_all(&bundle);
    Ok(ExitCode::from(result? as u8))
}

/// Run the build with its standard output framed onto `w`; then the lock it wrote, if it is
/// not the one that was sent; then its end. Returns its exit code. When the other side is gone
/// (a write fails), the build is ended with SIGTERM, as ctrl-c ends a local one.
fn run_framed(
    mut cmd: std::process::Command,
    lock: &Path,
    sent_lock: Option<String>,
    w: &mut impl Write,
) -> miette::Result<i32> {
    let mut child = cmd
        .spawn()
        .map_err(|e| miette!("cannot run the build: {e}"))?;
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut buf = vec![0u8; 64 << 10];
    let mut gone = false;
    loop {
        let n = match out.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let frame = Frame {
            out: Some(n as u64),
            ..Frame::default()
        };
        let sent = write_json(w, &frame)
            .and_then(|()| w.write_all(&buf[..n]))
            .and_then(|()| w.flush());
        if !gone && sent.is_err() {
            gone = true;
            // SAFETY: a signal to the child we started and have not reaped.
            unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
        }
    }
    let status = child
        .wait()
        .map_err(|e| miette!("cannot wait for the build: {e}"))?;
    let code = status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0));
    if gone {
        return Ok(code);
    }
    if let Ok(bytes) = std::fs::read(lock) {
        let (digest, _) = digest_reader(&bytes[..]).into_diagnostic()?;
        if sent_lock.as_deref() != Some(digest.to_string().as_str()) {
            let frame = Frame {
                lock: Some(bytes.len() as u64),
                ..Frame::default()
            };
            let _ = write_json(w, &frame).and_then(|()| w.write_all(&bytes));
        }
    }
    let _ = write_json(
        w,
        &Frame {
            end: Some(code),
            ..Frame::default()
        },
    );
    let _ = w.flush();
    Ok(code)
}

/// Read the manifest and the contents; lay the trees out under `bundle`. Returns the spec.
fn take(
    store: &duckc_store::Store,
    bundle: &Path,
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> miette::Result<(String, Option<String>)> {
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
    let sent_lock = manifest
        .entries
        .iter()
        .find(|e| e.tree == "spec" && e.path == "duck.lock")
        .and_then(|e| e.digest.clone());
    Ok((manifest.spec, sent_lock))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_comes_back_only_for_a_build_that_may_write_one() {
        let dir = tempfile::tempdir().unwrap();
        let lock = dir.path().join("duck.lock");
        let stream = b"{\"lock\":5}\nhello{\"end\":0}\n";
        receive(&mut &stream[..], Some(&lock), "robot").unwrap();
        assert_eq!(std::fs::read(&lock).unwrap(), b"hello");
        // `--locked`: no lock is taken, and nothing is written.
        std::fs::remove_file(&lock).unwrap();
        let err = receive(&mut &stream[..], None, "robot").unwrap_err();
        assert!(
            err.to_string().contains("robot sent a `duck.lock`"),
            "{err}"
        );
        assert!(!lock.exists());
        let huge = format!("{{\"lock\":{}}}\n", MAX_LOCK + 1);
        assert!(receive(&mut huge.as_bytes(), Some(&lock), "robot").is_err());
        assert!(!lock.exists());
        // A session that ends before the build's end is an error naming the host.
        let err = receive(&mut &b"{\"end\""[..], Some(&lock), "robot").unwrap_err();
        assert!(err.to_string().contains("session to robot ended"), "{err}");
        let err = receive(&mut &b"{\"lock\":5}\nhel"[..], Some(&lock), "robot").unwrap_err();
        assert!(err.to_string().contains("session to robot ended"), "{err}");
        assert!(!lock.exists());
    }
}
