//! Chunked blob uploads and their resume. A blob over [`CHUNKED_ABOVE`] bytes is sent as
//! `PATCH` chunks of [`CHUNK`] bytes (or the registry's `OCI-Chunk-Min-Length`, when larger:
//! every chunk but the last is then at least that long, as distribution spec v1.1 asks; a
//! chunk is streamed from the blob's file, so a large minimum costs no memory), each with its
//! `Content-Range`, each to the `Location` the last answer gave, then closed with
//! `PUT …?digest=`. After every chunk the upload URL is kept in the store
//! (`registry/uploads/HASH.json`), so a push cut in the middle of the blob and run again asks
//! the registry how much it holds (`GET` on the upload URL, its `Range` header) and sends only
//! the rest. A registry that no longer knows the upload (or, as Docker's `registry` does,
//! refuses one cut inside a chunk) gets the blob again from its first byte.

use std::path::{Path, PathBuf};
use std::time::Duration;

use duckc_store::{Digest, Store};
use serde::{Deserialize, Serialize};

use crate::client::{Body, RETRIES, Response, encode_query};
use crate::push::Pusher;
use crate::{Error, Result};

/// Blobs larger than this are uploaded in chunks; smaller ones in one `PUT`.
pub(crate) const CHUNKED_ABOVE: u64 = 16 << 20;
/// The size of a chunk (the last one is what is left).
pub(crate) const CHUNK: u64 = 16 << 20;
/// An upload under way: where to send the next chunk, and how many bytes the registry has.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    url: String,
    offset: u64,
    chunk: u64,
}

impl Session {
    /// A new upload at `url` (the `Location` of the `POST`), with the `POST`'s answer: its
    /// `OCI-Chunk-Min-Length`, when larger than [`CHUNK`], is the chunk size (a value that is
    /// not a number is ignored).
    pub(crate) fn new(url: String, response: &Response) -> Session {
        Session {
            url,
            offset: 0,
            chunk: chunk_size(header(response, "oci-chunk-min-length").as_deref()),
        }
    }
}

/// The chunk size for a registry whose `OCI-Chunk-Min-Length` is `min`: [`CHUNK`], or the
/// minimum when it is larger (all of it: a registry that asks for more than a blob's size gets
/// the blob in one `PATCH`, which is its last chunk).
fn chunk_size(min: Option<&str>) -> u64 {
    let min = min.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    CHUNK.max(min)
}

/// What is kept of an upload in the store.
#[derive(Debug, Serialize, Deserialize)]
struct Kept {
    host: String,
    repository: String,
    blob: String,
    url: String,
    chunk: u64,
}

fn header(response: &Response, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The bytes a `Range: 0-END` header says the registry has (`0-0` is read as none: Docker's
/// registry writes it for an empty upload).
fn received(response: &Response) -> Option<u64> {
    let range = header(response, "range")?;
    let range = range.trim().trim_start_matches("bytes=");
    let (start, end) = range.split_once('-')?;
    let (start, end) = (
        start.trim().parse::<u64>().ok()?,
        end.trim().parse::<u64>().ok()?,
    );
    // `checked_add`: a registry's `0-18446744073709551615` is no size.
    (start == 0).then_some(if end == 0 { 0 } else { end.checked_add(1)? })
}

fn kept_path(store: &Store, host: &str, repository: &str, digest: &Digest) -> PathBuf {
    let key = Digest::of(format!("{host} {repository} {digest}").as_bytes());
    store
        .root()
        .join("registry/uploads")
        .join(format!("{}.json", key.hex()))
}

/// Keep `session` for a later run (best effort: a failure only loses the resume).
fn keep(p: &Pusher<'_>, digest: &Digest, session: &Session) {
    let path = kept_path(p.store, p.client.host(), &p.repo, digest);
    let kept = Kept {
        host: p.client.host().to_owned(),
        repository: p.repo.clone(),
        blob: digest.to_string(),
        url: session.url.clone(),
        chunk: session.chunk,
    };
    if let Some(dir) = path.parent()
        && duckc_store::modes::create_private_dir(dir).is_ok()
        && let Ok(bytes) = serde_json::to_vec(&kept)
    {
        let _ = duckc_store::write_atomic(p.store, &path, &bytes);
    }
}

/// Forget the kept upload of `digest` to `host`/`repository`, if there is one.
pub(crate) fn forget(store: &Store, host: &str, repository: &str, digest: &Digest) {
    let _ = std::fs::remove_file(kept_path(store, host, repository, digest));
}

/// The upload of `digest` a cut push left, if it was kept and the registry still has it:
/// its URL and how many bytes the registry holds. An upload the registry does not know is
/// forgotten; one it cannot be asked about (`retry`: after the client's own retries) is kept.
pub(crate) fn resume(
    p: &Pusher<'_>,
    digest: &Digest,
    size: u64,
    what: &str,
    retry: bool,
) -> Option<Session> {
    let path = kept_path(p.store, p.client.host(), &p.repo, digest);
    let kept: Kept = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
    let forget = || {
        let _ = std::fs::remove_file(&path);
    };
    if kept.host != p.client.host() || kept.repository != p.repo || kept.blob != digest.to_string()
    {
        forget();
        return None;
    }
    let answer = if retry {
        p.client
            .send("GET", &kept.url, &[], Body::Empty, &p.scope, what)
    } else {
        p.client
            .send_once("GET", &kept.url, &[], Body::Empty, &p.scope, what)
    }
    .ok()?;
    let status = answer.status().as_u16();
    let offset = received(&answer);
    let url =
        header(&answer, "location").map_or(kept.url.clone(), |l| p.client.resolve(&kept.url, &l));
    match (status, offset) {
        (200 | 204, Some(offset)) if offset <= size => Some(Session {
            url,
            offset,
            chunk: kept.chunk.max(CHUNK),
        }),
        // The registry lost the upload (or never says how much it has): start again.
        _ => {
            forget();
            None
        }
    }
}

/// Whether an error means the registry or the connection failed (worth asking the registry
/// where the upload stands), rather than the registry refusing the upload.
fn transient(e: &Error) -> bool {
    matches!(e, Error::Transport { .. })
        || matches!(e, Error::Status { status, .. } if *status >= 500)
}

/// Whether the registry has the blob `digest` (a `HEAD`).
fn exists(p: &Pusher<'_>, digest: &Digest, what: &str) -> Result<bool> {
    let path = format!("/v2/{}/blobs/{digest}", p.repo);
    let head = p
        .client
        .send("HEAD", &path, &[], Body::Empty, &p.scope, what)?;
    Ok(head.status().as_u16() == 200)
}

/// Start a new upload (a `POST`).
fn start(p: &Pusher<'_>, what: &str) -> Result<Session> {
    let path = format!("/v2/{}/blobs/uploads/", p.repo);
    let response = p.client.send(
        "POST",
        &path,
        &[("Content-Length", "0")],
        Body::Empty,
        &p.scope,
        what,
    )?;
    let response = p.client.check(response, &[202], what)?;
    let location = header(&response, "location").ok_or_else(|| Error::Status {
        what: what.to_owned(),
        status: 202,
        detail: " (no upload location)".into(),
    })?;
    let url = p.client.resolve(&p.client.url(&path), &location);
    Ok(Session::new(url, &response))
}

/// Send one chunk from `session.offset`; the session the answer gives.
fn patch(p: &Pusher<'_>, file: &Path, size: u64, session: &Session, what: &str) -> Result<Session> {
    let len = session.chunk.min(size - session.offset);
    let range = format!("{}-{}", session.offset, session.offset + len - 1);
    let length = len.to_string();
    let response = p.client.send_once(
        "PATCH",
        &session.url,
        &[
            ("Content-Type", "application/octet-stream"),
            ("Content-Range", &range),
            ("Content-Length", &length),
        ],
        Body::Range(file, session.offset, len),
        &p.scope,
        what,
    )?;
    let response = p.client.check(response, &[202, 204], what)?;
    let url = header(&response, "location")
        .map_or(session.url.clone(), |l| p.client.resolve(&session.url, &l));
    let offset = received(&response).unwrap_or(session.offset + len);
    if offset > size {
        return Err(Error::Mismatch {
            what: what.to_owned(),
            reason: format!("the registry says it has {offset} bytes of a {size}-byte blob"),
        });
    }
    // A registry that took the chunk but holds no more than before would have it sent again
    // and again: an upload that makes no progress is refused (and started again a bounded
    // number of times, as any refused upload is).
    if offset <= session.offset {
        return Err(Error::Mismatch {
            what: what.to_owned(),
            reason: format!(
                "the registry took {len} bytes at byte {} but says it has {offset}",
                session.offset
            ),
        });
    }
    Ok(Session {
        url,
        offset,
        chunk: session.chunk,
    })
}

/// Close the upload with `PUT …?digest=`.
fn finish(p: &Pusher<'_>, digest: &Digest, session: &Session, what: &str) -> Result<()> {
    let mut url = session.url.clone();
    url.push(if url.contains('?') { '&' } else { '?' });
    url.push_str(&format!("digest={}", encode_query(&digest.to_string())));
    let response = p.client.send_once(
        "PUT",
        &url,
        &[("Content-Length", "0")],
        Body::Empty,
        &p.scope,
        what,
    )?;
    p.client.check(response, &[201], what)?;
    Ok(())
}

/// Upload the stored blob `digest` (`size` bytes) in chunks, from `session` on. A chunk that
/// fails is not sent again blindly: the registry is asked how much it holds (up to
/// [`RETRIES`] times, with a growing pause), and an upload it refuses or lost is started
/// again from the first byte (as often).
pub(crate) fn chunked(
    p: &Pusher<'_>,
    digest: &Digest,
    size: u64,
    what: &str,
    mut session: Session,
) -> Result<()> {
    let file = p.store.blob_path(digest);
    let mut failures = 0;
    let mut restarts = 0;
    keep(p, digest, &session);
    loop {
        let step = if session.offset < size {
            patch(p, &file, size, &session, what)
        } else {
            match finish(p, digest, &session, what) {
                Ok(()) => {
                    forget(p.store, p.client.host(), &p.repo, digest);
                    return Ok(());
                }
                Err(e) => Err(e),
            }
        };
        match step {
            Ok(next) => {
                session = next;
                keep(p, digest, &session);
            }
            Err(e) if transient(&e) => {
                failures += 1;
                if failures > RETRIES {
                    // The upload stays kept: the next push resumes it.
                    return Err(e);
                }
                std::thread::sleep(Duration::from_millis(200 << failures));
                match resume(p, digest, size, what, false) {
                    Some(s) => session = s,
                    // The registry is unreachable: the session is kept, the same offset tried
                    // again.
                    None if kept_path(p.store, p.client.host(), &p.repo, digest).exists() => {}
                    // It lost the upload: the last `PUT` may have completed it before its
                    // answer was lost, else it starts again.
                    None => {
                        if exists(p, digest, what)? {
                            return Ok(());
                        }
                        session = start(p, what)?;
                        keep(p, digest, &session);
                    }
                }
            }
            Err(e) => {
                // Refused (an offset the registry does not take, a digest that did not match
                // what it received): the upload is dropped and the blob sent again whole.
                restarts += 1;
                forget(p.store, p.client.host(), &p.repo, digest);
                if restarts > RETRIES {
                    return Err(e);
                }
                session = start(p, what)?;
                keep(p, digest, &session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_range(range: &str) -> Response {
        ureq::http::Response::builder()
            .header("Range", range)
            .body(ureq::Body::builder().data(Vec::<u8>::new()))
            .unwrap()
    }

    #[test]
    fn ranges() {
        assert_eq!(received(&with_range("0-1048575")), Some(1 << 20));
        assert_eq!(received(&with_range("0-0")), Some(0));
        assert_eq!(received(&with_range("bytes=0-9")), Some(10));
        assert_eq!(received(&with_range("5-9")), None);
        assert_eq!(received(&with_range("junk")), None);
    }

    /// A registry that takes every chunk and then says it holds none of it (`Range: 0-0`), or
    /// holds 2^64 bytes (`0-18446744073709551615`): the push ends with an error after a few
    /// chunks instead of sending the first chunk forever (or overflowing).
    #[test]
    fn a_registry_that_keeps_nothing_ends_the_push() {
        use std::io::{BufRead, BufReader, Read, Write};
        use std::sync::atomic::{AtomicUsize, Ordering};
        static PATCHES: AtomicUsize = AtomicUsize::new(0);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(conn.try_clone().unwrap());
                    loop {
                        let mut line = String::new();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let mut length = 0u64;
                        loop {
                            let mut h = String::new();
                            if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                                break;
                            }
                            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap_or(0);
                            }
                        }
                        let _ =
                            std::io::copy(&mut (&mut reader).take(length), &mut std::io::sink());
                        let path = line.split(' ').nth(1).unwrap_or("").to_owned();
                        let answer = if line.starts_with("PATCH") {
                            // Past 40 chunks, refuse: a client that never stops is cut here.
                            if PATCHES.fetch_add(1, Ordering::SeqCst) > 40 {
                                "400 Bad Request\r\nContent-Length: 0".to_owned()
                            } else if path.starts_with("/max") {
                                format!(
                                    "202 Accepted\r\nLocation: {path}\r\nRange: 0-{}\r\nContent-Length: 0",
                                    u64::MAX
                                )
                            } else {
                                format!(
                                    "202 Accepted\r\nLocation: {path}\r\nRange: 0-0\r\nContent-Length: 0"
                                )
                            }
                        } else if line.starts_with("POST") {
                            format!("202 Accepted\r\nLocation: {}\r\nContent-Length: 0", "/zero")
                        } else if line.starts_with("GET /v2/ ") {
                            "200 OK\r\nContent-Length: 0".to_owned()
                        } else {
                            "404 Not Found\r\nContent-Length: 0".to_owned()
                        };
                        let _ = write!(conn, "HTTP/1.1 {answer}\r\n\r\n");
                    }
                });
            }
        });
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let blob = vec![7u8; (CHUNK + 1) as usize];
        let digest = store.put_blob(&blob).unwrap();
        let host = format!("127.0.0.1:{port}");
        let progress = |_: String| {};
        let client = crate::Client::connect(&host, &crate::Options::default()).unwrap();
        let pusher = crate::push::Pusher {
            store: &store,
            client,
            repo: "duck".into(),
            scope: String::new(),
            name: format!("{host}/duck:v1"),
            uploaded: AtomicUsize::new(0),
            progress: &progress,
            compression: duckc_layer::Compression::Gzip,
            trust_sources: std::sync::atomic::AtomicBool::new(false),
            trusted: std::sync::Mutex::new(Vec::new()),
        };
        for path in ["/zero", "/max"] {
            PATCHES.store(0, Ordering::SeqCst);
            let session = Session {
                url: format!("http://{host}{path}"),
                offset: 0,
                chunk: CHUNK,
            };
            let result = chunked(&pusher, &digest, blob.len() as u64, "layer x", session);
            assert!(result.is_err(), "{path}");
            let patches = PATCHES.load(Ordering::SeqCst);
            assert!(patches <= 12, "{path}: {patches} chunks sent");
        }
    }

    #[test]
    fn chunk_sizes_follow_the_registry_minimum() {
        assert_eq!(chunk_size(None), CHUNK);
        assert_eq!(chunk_size(Some("1024")), CHUNK);
        assert_eq!(chunk_size(Some(" 25165824 ")), 24 << 20);
        assert_eq!(chunk_size(Some("4294967296")), 4 << 30);
        assert_eq!(chunk_size(Some("-1")), CHUNK);
        assert_eq!(chunk_size(Some("lots")), CHUNK);
    }
}
