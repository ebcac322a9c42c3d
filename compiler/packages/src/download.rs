//! The download cache: files stored by sha256, shared by every env; parallel downloads that
//! resume after an interruption and never leave a file under its final name with a wrong hash.
//!
//! A file is written to `sha256/HEX.partial`, locked with `flock` so two processes never write
//! it at once, checked against its size and sha256, synced, and renamed to `sha256/HEX`. An
//! interrupted download keeps its `.partial`; the next run resumes it with a range request
//! (or starts again when the server cannot resume) and checks the whole file at the end.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use sha2::{Digest, Sha256};

use crate::fetch::{self, Fetcher};

/// One file to fetch and what it must hash to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Download {
    /// What progress and errors call it (a `.deb` file name).
    pub name: String,
    pub url: String,
    pub size: u64,
    /// Lowercase hex.
    pub sha256: String,
}

/// What a download is doing, for progress reporting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// Already in the cache and intact.
    Cached { name: &'a str, size: u64 },
    /// Fetching starts; `from` is non-zero when an interrupted download resumes.
    Started { name: &'a str, size: u64, from: u64 },
    /// `bytes` more bytes arrived.
    Progress { name: &'a str, bytes: u64 },
    /// Fetched, verified and stored.
    Finished { name: &'a str },
}

/// Why a file could not be downloaded into the cache. Codes `packages::…`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Fetch(#[from] fetch::Error),
    #[error(
        "`{name}` does not match the repository index: sha256 {actual}, expected {expected}; nothing was stored"
    )]
    #[diagnostic(
        code(packages::hash_mismatch),
        help(
            "the server, or a proxy or mirror on the way, serves other bytes than the repository's signed index pins; if the repository changed on purpose, run `duckc lock --update`"
        )
    )]
    Mismatch {
        name: String,
        expected: String,
        actual: String,
    },
    #[error("download of `{name}` stopped after {got} of {size} bytes; run again to resume it")]
    #[diagnostic(
        code(packages::download_truncated),
        help("what was downloaded is kept; check the network and run the command again")
    )]
    Truncated { name: String, got: u64, size: u64 },
    #[error(
        "`{name}` is larger than the {size} bytes the repository index gives; nothing was stored"
    )]
    #[diagnostic(
        code(packages::download_too_large),
        help(
            "the server serves another file than the repository's index describes; if the repository changed on purpose, run `duckc lock --update`"
        )
    )]
    TooLarge { name: String, size: u64 },
    #[error("download of `{name}` failed after {got} bytes: {source}; run again to resume it")]
    #[diagnostic(
        code(packages::download_interrupted),
        help("what was downloaded is kept; check the network and run the command again")
    )]
    Interrupted {
        name: String,
        got: u64,
        source: std::io::Error,
    },
    #[error("bad sha256 `{0}`")]
    #[diagnostic(
        code(packages::bad_digest),
        help(
            "a sha256 is 64 hex digits; if `duck.lock` holds this one, run `duckc lock --update` to write it again"
        )
    )]
    BadDigest(String),
    #[error("download cache `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::download_cache),
        help(
            "the download cache is the store's `downloads/` directory: check that it is writable and the disk not full"
        )
    )]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A directory of files named by their sha256.
#[derive(Debug, Clone)]
pub struct DownloadCache {
    dir: PathBuf,
    /// Whether a present file of the right size is returned without hashing it.
    hashed_by_reader: bool,
}

impl DownloadCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> DownloadCache {
        DownloadCache {
            dir: dir.into(),
            hashed_by_reader: false,
        }
    }

    /// The same cache, for a caller that hashes every file it gets as it reads it (and
    /// refuses one that does not match): a present file of the right size is returned
    /// without reading it twice. Downloads are still checked before they get their name.
    pub fn hashed_by_reader(mut self) -> DownloadCache {
        self.hashed_by_reader = true;
        self
    }

    /// Stores `bytes`, which the caller checked hash to `sha256`, under that name: written
    /// beside it under a unique name and renamed, so the name never holds part of it. Not
    /// synced: a reader hashes such a file before use (a crash may leave it empty or short).
    pub fn put(&self, sha256: &str, bytes: &[u8]) -> Result<PathBuf> {
        use std::sync::atomic::AtomicU64;
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = self.dir.join("sha256");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let target = self.path(sha256);
        let tmp = dir.join(format!(
            "{sha256}.tmp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let written = std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, &target));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&target)(e));
        }
        Ok(target)
    }

    /// Removes the file with this sha256 (a caller found it corrupt); absent is fine.
    pub fn discard(&self, sha256: &str) -> Result<()> {
        let path = self.path(sha256);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(Error::Io { path, source }),
        }
    }

    /// The cache's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the file with this sha256 lives once downloaded.
    pub fn path(&self, sha256: &str) -> PathBuf {
        self.dir.join("sha256").join(sha256)
    }

    /// Whether the file is present (not verified).
    pub fn contains(&self, sha256: &str) -> bool {
        self.path(sha256).is_file()
    }

    /// Fetch one file unless it is already present and intact; return its path.
    pub fn fetch(
        &self,
        fetcher: &Fetcher,
        item: &Download,
        progress: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<PathBuf> {
        if item.sha256.len() != 64
            || !item
                .sha256
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(Error::BadDigest(item.sha256.clone()));
        }
        let dir = self.dir.join("sha256");
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| Error::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let target = self.path(&item.sha256);
        if self.intact(&target, item)? {
            progress(Event::Cached {
                name: &item.name,
                size: item.size,
            });
            return Ok(target);
        }
        let partial_path = dir.join(format!("{}.partial", item.sha256));
        let mut partial = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial_path)
            .map_err(io(&partial_path))?;
        rustix::fs::flock(&partial, rustix::fs::FlockOperation::LockExclusive).map_err(|e| {
            Error::Io {
                path: partial_path.clone(),
                source: e.into(),
            }
        })?;
        // Another process may have finished it while we waited for the lock.
        if self.intact(&target, item)? {
            progress(Event::Cached {
                name: &item.name,
                size: item.size,
            });
            return Ok(target);
        }
        let mut from = partial.metadata().map_err(io(&partial_path))?.len();
        if from >= item.size {
            from = 0;
        }
        // A body cut short resumes where it stopped, after a pause, a bounded number of times.
        let retries = fetcher.retries_for(&item.url);
        let mut attempt = 0;
        let result = loop {
            match self.fetch_into(fetcher, item, &mut partial, &partial_path, from, progress) {
                // A resumed file that does not verify may have a bad prefix: start over.
                Err(Error::Mismatch { .. }) if from > 0 => from = 0,
                Err(Error::Truncated { got, .. } | Error::Interrupted { got, .. })
                    if attempt < retries =>
                {
                    attempt += 1;
                    fetcher.pause(attempt);
                    from = got;
                }
                other => break other,
            }
        };
        match result {
            Ok(()) => {}
            Err(e @ (Error::Truncated { .. } | Error::Interrupted { .. })) => return Err(e),
            Err(e) => {
                let _ = std::fs::remove_file(&partial_path);
                return Err(e);
            }
        }
        partial.sync_all().map_err(io(&partial_path))?;
        std::fs::rename(&partial_path, &target).map_err(io(&target))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&dir))?;
        progress(Event::Finished { name: &item.name });
        Ok(target)
    }

    fn fetch_into(
        &self,
        fetcher: &Fetcher,
        item: &Download,
        file: &mut File,
        path: &Path,
        from: u64,
        progress: &(dyn Fn(Event<'_>) + Sync),
    ) -> Result<()> {
        let io = |source| Error::Io {
            path: path.to_owned(),
            source,
        };
        let body = fetcher.open(&item.url, from)?;
        let from = if body.resumed { from } else { 0 };
        file.set_len(from).map_err(io)?;
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        progress(Event::Started {
            name: &item.name,
            size: item.size,
            from,
        });
        let mut reader = body.reader.take(item.size - from + 1);
        let mut got = from;
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Interrupted {
                        name: item.name.clone(),
                        got,
                        source,
                    });
                }
            };
            file.write_all(&buf[..n]).map_err(io)?;
            got += n as u64;
            progress(Event::Progress {
                name: &item.name,
                bytes: n as u64,
            });
        }
        if got > item.size {
            return Err(Error::TooLarge {
                name: item.name.clone(),
                size: item.size,
            });
        }
        if got < item.size {
            return Err(Error::Truncated {
                name: item.name.clone(),
                got,
                size: item.size,
            });
        }
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let actual = sha256_reader(file).map_err(io)?;
        if actual != item.sha256 {
            return Err(Error::Mismatch {
                name: item.name.clone(),
                expected: item.sha256.clone(),
                actual,
            });
        }
        Ok(())
    }

    /// Whether `target` exists with the right size and hash; a corrupt file is removed.
    fn intact(&self, target: &Path, item: &Download) -> Result<bool> {
        let mut file = match File::open(target) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(source) => {
                return Err(Error::Io {
                    path: target.to_owned(),
                    source,
                });
            }
        };
        let io = |source| Error::Io {
            path: target.to_owned(),
            source,
        };
        let size = file.metadata().map_err(io)?.len();
        if size == item.size
            && (self.hashed_by_reader || sha256_reader(&mut file).map_err(io)? == item.sha256)
        {
            return Ok(true);
        }
        std::fs::remove_file(target).map_err(io)?;
        Ok(false)
    }
}

/// Fetch every item, `jobs` at a time; paths come back in the order of `items`. On failure
/// the first error (in `items` order) is returned; what finished is kept.
pub fn fetch_all(
    cache: &DownloadCache,
    fetcher: &Fetcher,
    items: &[Download],
    jobs: usize,
    progress: &(dyn Fn(Event<'_>) + Sync),
) -> Result<Vec<PathBuf>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<PathBuf>>>> =
        Mutex::new((0..items.len()).map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = cache.fetch(fetcher, item, progress);
                    if let Ok(mut r) = results.lock() {
                        r[i] = Some(result);
                    }
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_else(|e| e.into_inner());
    results
        .into_iter()
        .zip(items)
        .map(|(r, item)| {
            r.unwrap_or_else(|| {
                Err(Error::Interrupted {
                    name: item.name.clone(),
                    got: 0,
                    source: std::io::Error::other("the download thread stopped"),
                })
            })
        })
        .collect()
}

/// Lowercase hex sha256 of everything `reader` yields.
pub fn sha256_reader(reader: &mut impl Read) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Lowercase hex sha256 of `data`.
pub fn sha256_bytes(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(dir: &Path, content: &[u8]) -> Download {
        let src = dir.join("src.deb");
        std::fs::write(&src, content).unwrap();
        Download {
            name: "src.deb".into(),
            url: format!("file://{}", src.display()),
            size: content.len() as u64,
            sha256: sha256_bytes(content),
        }
    }

    #[test]
    fn stores_by_hash_and_reuses() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let it = item(dir.path(), b"hello deb");
        let events = Mutex::new(Vec::new());
        let record = |e: Event<'_>| events.lock().unwrap().push(format!("{e:?}"));
        let paths = fetch_all(
            &cache,
            &Fetcher::default(),
            std::slice::from_ref(&it),
            4,
            &record,
        )
        .unwrap();
        assert_eq!(paths[0], cache.path(&it.sha256));
        assert_eq!(std::fs::read(&paths[0]).unwrap(), b"hello deb");
        cache.fetch(&Fetcher::default(), &it, &record).unwrap();
        let events = events.into_inner().unwrap();
        assert_eq!(
            events.first().unwrap(),
            r#"Started { name: "src.deb", size: 9, from: 0 }"#
        );
        assert_eq!(
            events.last().unwrap(),
            r#"Cached { name: "src.deb", size: 9 }"#
        );
    }

    #[test]
    fn wrong_hash_stores_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let mut it = item(dir.path(), b"hello deb");
        it.sha256 = sha256_bytes(b"something else");
        let err = cache.fetch(&Fetcher::default(), &it, &|_| {}).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("`src.deb` does not match the repository index"),
            "{err}"
        );
        let left: Vec<_> = std::fs::read_dir(dir.path().join("cache/sha256"))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn resumes_a_partial_file_and_restarts_a_corrupt_one() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let it = item(dir.path(), b"0123456789");
        std::fs::create_dir_all(dir.path().join("cache/sha256")).unwrap();
        let partial = dir
            .path()
            .join(format!("cache/sha256/{}.partial", it.sha256));
        std::fs::write(&partial, b"01234").unwrap();
        let starts = Mutex::new(Vec::new());
        let record = |e: Event<'_>| {
            if let Event::Started { from, .. } = e {
                starts.lock().unwrap().push(from);
            }
        };
        cache.fetch(&Fetcher::default(), &it, &record).unwrap();
        std::fs::remove_file(cache.path(&it.sha256)).unwrap();
        std::fs::write(&partial, b"xxxxx").unwrap();
        cache.fetch(&Fetcher::default(), &it, &record).unwrap();
        assert_eq!(starts.into_inner().unwrap(), [5, 5, 0]);
        assert_eq!(
            std::fs::read(cache.path(&it.sha256)).unwrap(),
            b"0123456789"
        );
        assert!(!partial.exists());
    }

    #[test]
    fn truncated_source_is_an_error_and_keeps_no_final_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let mut it = item(dir.path(), b"short");
        it.size = 10;
        let err = cache.fetch(&Fetcher::default(), &it, &|_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            "download of `src.deb` stopped after 5 of 10 bytes; run again to resume it"
        );
        assert!(!cache.contains(&it.sha256));
    }

    #[test]
    fn corrupt_cached_file_is_fetched_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let it = item(dir.path(), b"payload");
        cache.fetch(&Fetcher::default(), &it, &|_| {}).unwrap();
        std::fs::write(cache.path(&it.sha256), b"paYload").unwrap();
        cache.fetch(&Fetcher::default(), &it, &|_| {}).unwrap();
        assert_eq!(std::fs::read(cache.path(&it.sha256)).unwrap(), b"payload");
    }

    #[test]
    fn a_download_cut_short_resumes_after_a_pause() {
        use crate::fetch::tests::{answer, serve};
        use std::io::Write as _;
        let (url, server) = serve(vec![
            Box::new(|_, s| {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n01234")
                    .unwrap();
            }),
            answer("206 Partial Content", b"56789"),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let cache = DownloadCache::new(dir.path().join("cache"));
        let it = Download {
            name: "f.deb".into(),
            url,
            size: 10,
            sha256: sha256_bytes(b"0123456789"),
        };
        let starts = Mutex::new(Vec::new());
        let record = |e: Event<'_>| {
            if let Event::Started { from, .. } = e {
                starts.lock().unwrap().push(from);
            }
        };
        let fetcher = Fetcher::with_retries(2, std::time::Duration::from_millis(5));
        let path = cache.fetch(&fetcher, &it, &record).unwrap();
        assert_eq!(std::fs::read(path).unwrap(), b"0123456789");
        assert_eq!(starts.into_inner().unwrap(), [0, 5]);
        let heads = server.join().unwrap();
        assert!(heads[1].contains("bytes=5-"), "{heads:?}");
    }
}
