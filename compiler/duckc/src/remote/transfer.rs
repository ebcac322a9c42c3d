//! Images between stores over one ssh session: `duckc push ssh://HOST/NAME:TAG` and
//! `duckc pull ssh://HOST/NAME:TAG`, with the hidden `blob-receive` / `blob-send` verbs on
//! the other side.
//!
//! The protocol, on the session's standard input and output:
//! 1. the sender: one JSON line `{"protocol", "name", "digest", "blobs": [{digest, size}]}`
//!    listing every blob the image needs (index, manifests, configs, layers);
//! 2. the receiver: one JSON line `{"want": [digest…]}`, the blobs its store lacks;
//! 3. the sender: those blobs' bytes, back to back, each exactly the size it announced;
//! 4. the receiver: one JSON line `{"ok": …}` or `{"error": …}`.
//!
//! **Invariant:** the receiver stores each blob only after its bytes hashed to the digest it
//! was announced under (the store's `BlobWriter` checks), and sets the tag only once every
//! blob is in and the image reads back whole; a cut session leaves no tag and no partial blob,
//! and a rerun sends only what is still missing.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{ExitCode, Stdio};

use duckc_image::{Digest, Image};
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};
use serde::{Deserialize, Serialize};

use super::{Host, Session, hosts};
use crate::Global;
use crate::cmd::image::open_store;

/// The longest protocol line read (a listing of many thousand blobs fits).
const MAX_LINE: u64 = 16 << 20;

#[derive(Debug, Serialize, Deserialize)]
struct Offer {
    protocol: u32,
    name: String,
    digest: String,
    blobs: Vec<Blob>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Blob {
    digest: String,
    size: u64,
}

#[derive(Debug, Serialize, Deserialize)]
struct Want {
    want: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Done {
    #[serde(default)]
    ok: bool,
    #[serde(default)]
    error: Option<String>,
}

/// What one transfer moved.
#[derive(Debug, Default)]
pub struct Moved {
    pub digest: String,
    pub blobs_sent: usize,
    pub blobs_there: usize,
    pub bytes: u64,
}

fn read_line(r: &mut impl BufRead, what: &str) -> miette::Result<String> {
    let mut line = String::new();
    r.take(MAX_LINE)
        .read_line(&mut line)
        .map_err(|e| miette!("the other side's {what} could not be read: {e}"))?;
    if !line.ends_with('\n') {
        return Err(miette!(
            "the session ended before the other side's {what} (see its message above)"
        ));
    }
    Ok(line)
}

fn write_line(w: &mut impl Write, value: &impl Serialize) -> miette::Result<()> {
    let mut bytes = serde_json::to_vec(value).expect("protocol messages serialise");
    bytes.push(b'\n');
    w.write_all(&bytes)
        .and_then(|()| w.flush())
        .map_err(|e| miette!("the session ended while sending: {e}"))
}

fn parse_digest(s: &str) -> miette::Result<Digest> {
    s.parse()
        .map_err(|_| miette!("the other side named an invalid digest `{s}`"))
}

/// Offer `image` as `name`, then send the blobs the receiver asks for.
pub fn send(
    store: &Store,
    image: &Image,
    name: &str,
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> miette::Result<Moved> {
    let _lease = store.lease().into_diagnostic()?;
    let mut all = BTreeSet::new();
    duckc_image::closure(store, &image.digest, &mut all);
    let mut blobs = Vec::new();
    for d in &all {
        // An index may list platforms whose blobs this store never fetched: offer what is here.
        if let Ok(size) = store.blob_size(d) {
            blobs.push(Blob {
                digest: d.to_string(),
                size,
            });
        }
    }
    write_line(
        w,
        &Offer {
            protocol: super::PROTOCOL,
            name: name.to_owned(),
            digest: image.digest.to_string(),
            blobs,
        },
    )?;
    let want: Want = serde_json::from_str(&read_line(r, "answer")?)
        .map_err(|e| miette!("the other side answered something unexpected: {e}"))?;
    let mut moved = Moved {
        digest: image.digest.to_string(),
        ..Moved::default()
    };
    for d in &want.want {
        let d = parse_digest(d)?;
        if !all.contains(&d) {
            return Err(miette!(
                "the other side asked for `{d}`, which is not in the image"
            ));
        }
        let size = store.blob_size(&d).into_diagnostic()?;
        let mut f = store.open_blob(&d).into_diagnostic()?;
        let n = std::io::copy(&mut (&mut f).take(size), w)
            .map_err(|e| miette!("the session ended while sending `{d}`: {e}"))?;
        if n != size {
            return Err(miette!("the blob `{d}` shrank while it was sent"));
        }
        moved.blobs_sent += 1;
        moved.bytes += size;
    }
    w.flush()
        .map_err(|e| miette!("the session ended while sending: {e}"))?;
    moved.blobs_there = all.len() - moved.blobs_sent;
    let done: Done = serde_json::from_str(&read_line(r, "result")?)
        .map_err(|e| miette!("the other side answered something unexpected: {e}"))?;
    match done.error {
        Some(e) if !done.ok => Err(miette!("the other side did not store the image: {e}")),
        _ => Ok(moved),
    }
}

/// Take an offered image: ask for the blobs `store` lacks, store each after checking its
/// digest, then tag it as `name` (the offered name when `None`).
pub fn receive(
    store: &Store,
    name: Option<&str>,
    r: &mut impl BufRead,
    w: &mut impl Write,
) -> miette::Result<Moved> {
    let _lease = store.lease().into_diagnostic()?;
    let offer: Offer = serde_json::from_str(&read_line(r, "offer")?)
        .map_err(|e| miette!("the other side offered something unexpected: {e}"))?;
    if offer.protocol != super::PROTOCOL {
        return Err(miette!(
            "the other side speaks protocol {}, this side {}",
            offer.protocol,
            super::PROTOCOL
        ));
    }
    let result = (|| {
        // `NAME@sha256:…` names the image by digest: it is recorded, not tagged.
        let name = name.unwrap_or(&offer.name);
        let name = match name.split_once('@') {
            Some(_) => None,
            None => Some(duckc_image::normalize_name(name)?),
        };
        let root = parse_digest(&offer.digest)?;
        let mut blobs = Vec::new();
        for b in &offer.blobs {
            blobs.push((parse_digest(&b.digest)?, b.size));
        }
        if !blobs.iter().any(|(d, _)| *d == root) {
            return Err(miette!("the offer does not include the image's own digest"));
        }
        let want: Vec<(Digest, u64)> = blobs
            .iter()
            .filter(|(d, _)| !store.has_blob(d))
            .copied()
            .collect();
        write_line(
            w,
            &Want {
                want: want.iter().map(|(d, _)| d.to_string()).collect(),
            },
        )?;
        let mut moved = Moved {
            digest: root.to_string(),
            blobs_sent: want.len(),
            blobs_there: blobs.len() - want.len(),
            bytes: 0,
        };
        for (d, size) in &want {
            let mut writer = store.blob_writer().into_diagnostic()?;
            let n = std::io::copy(&mut r.take(*size), &mut writer)
                .map_err(|e| miette!("cannot store `{d}`: {e}"))?;
            if n != *size {
                return Err(miette!(
                    "the session was cut while `{d}` came ({n} of {size} bytes); nothing of \
                     it was kept"
                ));
            }
            writer
                .commit(Some((d, *size)))
                .map_err(|e| miette!("`{d}` did not arrive intact, nothing of it was kept: {e}"))?;
            moved.bytes += size;
        }
        let image = Image::read(store, &root)?;
        duckc_image::index_layers(store, &image)?;
        match &name {
            Some(name) => duckc_image::tag(store, &image, name),
            None => duckc_image::manifest::record(store, &image),
        }?;
        Ok((moved, name))
    })();
    match result {
        Ok((moved, _)) => {
            write_line(
                w,
                &Done {
                    ok: true,
                    error: None,
                },
            )?;
            Ok(moved)
        }
        Err(e) => {
            let _ = write_line(
                w,
                &Done {
                    ok: false,
                    error: Some(e.to_string()),
                },
            );
            Err(e)
        }
    }
}

/// `ssh://HOST/NAME[:TAG]` → (host, name); HOST is an address or a named host.
fn split_address(address: &str) -> miette::Result<(Host, String)> {
    let rest = address.strip_prefix("ssh://").unwrap_or(address);
    let (authority, name) = rest.split_once('/').unwrap_or((rest, ""));
    if name.is_empty() {
        return Err(miette!(
            help = "name the image after the host, as in `ssh://duck@robot.local/hello:latest`",
            "`{address}` names no image"
        ));
    }
    let named = !authority.contains(['@', ':', '['])
        && hosts::list().is_ok_and(|h| h.contains_key(authority));
    let host = if named {
        hosts::resolve(authority)?
    } else {
        hosts::resolve(&format!("ssh://{authority}"))?
    };
    Ok((host, name.to_owned()))
}

fn report(moved: &Moved, host: &Host, name: &str, quiet: bool, verb: &str) {
    if quiet {
        println!("{}", moved.digest);
        return;
    }
    eprintln!(
        "{verb} {} blob(s), {} bytes; {} already there",
        moved.blobs_sent, moved.bytes, moved.blobs_there
    );
    println!("{name} ({}): digest: {}", host.label, moved.digest);
}

/// The session's own failure (handshake, ssh) explains a protocol error best.
fn settle(session: Session, result: miette::Result<Moved>) -> miette::Result<Moved> {
    let code = session.finish();
    match (result, code) {
        (Ok(m), Ok(0)) => Ok(m),
        (Ok(_), Ok(c)) => Err(miette!("the remote duckc failed (exit code {c})")),
        (Err(_), Err(e)) => Err(e),
        (Err(e), _) | (Ok(_), Err(e)) => Err(e),
    }
}

/// `duckc push ssh://HOST/NAME[:TAG]`: send the local image NAME to HOST's store.
pub fn push(global: &Global, address: &str, quiet: bool) -> miette::Result<ExitCode> {
    let (host, name) = split_address(address)?;
    let store = open_store(global)?;
    let image = duckc_image::resolve(&store, &name).map_err(|e| {
        miette!(
            help = "list the images with `duckc images`; name one with `duckc tag IMAGE NAME`",
            "no image `{name}` to push: {e}"
        )
    })?;
    let mut session = Session::start(
        &host,
        &[OsString::from("blob-receive"), OsString::from(&name)],
        false,
        true,
        Stdio::piped(),
        Stdio::piped(),
    )?;
    ignore_sigpipe();
    let mut w = session.child.stdin.take().expect("stdin is piped");
    let mut r = BufReader::new(session.child.stdout.take().expect("stdout is piped"));
    let result = send(&store, &image, &name, &mut r, &mut w);
    drop(w);
    drop(r);
    let moved = settle(session, result).map_err(|e| push_help(e, &host))?;
    report(&moved, &host, &name, quiet, "sent");
    Ok(ExitCode::SUCCESS)
}

/// `duckc pull ssh://HOST/NAME[:TAG]`: fetch HOST's image NAME into the local store.
pub fn pull(global: &Global, address: &str, quiet: bool) -> miette::Result<ExitCode> {
    let (host, name) = split_address(address)?;
    let store = open_store(global)?;
    let mut session = Session::start(
        &host,
        &[OsString::from("blob-send"), OsString::from(&name)],
        false,
        true,
        Stdio::piped(),
        Stdio::piped(),
    )?;
    ignore_sigpipe();
    let mut w = session.child.stdin.take().expect("stdin is piped");
    let mut r = BufReader::new(session.child.stdout.take().expect("stdout is piped"));
    let result = receive(&store, Some(&name), &mut r, &mut w);
    drop(w);
    drop(r);
    let moved = settle(session, result).map_err(|e| push_help(e, &host))?;
    report(&moved, &host, &name, quiet, "received");
    Ok(ExitCode::SUCCESS)
}

/// A session cut while sending must end in a diagnostic, not in death by SIGPIPE (which `main`
/// restores to its default for verbs outside containers).
fn ignore_sigpipe() {
    // SAFETY: changing a signal's disposition; ssh was started before, with the default.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

fn push_help(e: miette::Report, host: &Host) -> miette::Report {
    if e.help().is_some() {
        return e;
    }
    miette!(
        help = format!(
            "run the same command again: blobs already stored on either side are not sent \
             again, and the image is only tagged once all of it arrived (check {} with \
             `duckc -H {} verify` if this repeats)",
            host.label, host.label
        ),
        "{e}"
    )
}
