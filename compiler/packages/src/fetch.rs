//! Reading repository files over `http://`, `https://` and `file://`, with size limits and
//! byte-range resumption.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use crate::source::redact;

/// Why a repository file could not be fetched. Codes `packages::fetch…`.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("`{}` does not exist in the repository", redact(url))]
    #[diagnostic(code(packages::fetch_not_found), help("{}", not_found_help(url)))]
    NotFound { url: String },
    #[error("`{}`: the server answered {status}", redact(url))]
    #[diagnostic(
        code(packages::fetch),
        help(
            "run again if the server's trouble may have passed; otherwise check the repository line (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
        )
    )]
    Status { url: String, status: u16 },
    #[error("`{}`: {message}", redact(url))]
    #[diagnostic(
        code(packages::fetch),
        help(
            "check the network, then the repository line (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
        )
    )]
    Transport { url: String, message: String },
    #[error("`{}` is larger than the {limit} bytes expected", redact(url))]
    #[diagnostic(
        code(packages::fetch_too_large),
        help(
            "the server does not serve an apt repository there: check the repository line (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
        )
    )]
    TooLarge { url: String, limit: u64 },
    #[error("cannot read `{}`: {source}", path.display())]
    #[diagnostic(
        code(packages::fetch_file),
        help(
            "a `file:` repository is read from this machine: check the repository line (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
        )
    )]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A missing index file is a wrong repository line; a missing package, a repository that moved
/// on since `duck.lock` pinned it.
fn not_found_help(url: &str) -> &'static str {
    if url.contains("/dists/") {
        "check the repository line's URI and suite (`--repository`, `DUCKC_APT_REPOSITORY`, `repositories.kdl` or the host's apt sources)"
    } else {
        "the repository no longer has the version `duck.lock` pins: run `duckc lock --update` to pin what it has now"
    }
}

/// An open response body.
pub struct Body {
    pub reader: Box<dyn Read + Send>,
    /// Whether the body starts at the requested offset; when false it starts at byte 0.
    pub resumed: bool,
}

/// Fetches URLs. One agent is shared by all threads (it pools connections).
///
/// A request that fails for a reason that may pass (the resolver or the connection failed, the
/// server answered 408, 429 or 5xx) is sent again after a pause that doubles each time, as
/// apt's `Acquire::Retries` does: a mirror's or a resolver's hiccup must not fail a build.
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
    retries: u32,
    backoff: Duration,
}

/// How many times a failed request is sent again, and the first pause (then 2 s, 4 s, 8 s).
const RETRIES: u32 = 4;
const BACKOFF: Duration = Duration::from_secs(1);

impl Default for Fetcher {
    fn default() -> Self {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(60)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("duckc/", env!("CARGO_PKG_VERSION")))
            .build();
        Fetcher {
            agent: config.new_agent(),
            retries: RETRIES,
            backoff: BACKOFF,
        }
    }
}

impl Fetcher {
    /// A fetcher that sends a failed request again `retries` times, pausing `backoff`, then
    /// twice that, and so on.
    pub fn with_retries(retries: u32, backoff: Duration) -> Self {
        Fetcher {
            retries,
            backoff,
            ..Fetcher::default()
        }
    }

    /// How many times a failed request for `url` may be sent again (none for local files).
    pub fn retries_for(&self, url: &str) -> u32 {
        if url.starts_with("file://") {
            0
        } else {
            self.retries
        }
    }

    /// Wait before retry number `attempt` (1-based).
    pub fn pause(&self, attempt: u32) {
        std::thread::sleep(
            self.backoff
                .saturating_mul(1 << attempt.saturating_sub(1).min(6)),
        );
    }

    /// The whole body of `url`, refusing more than `limit` bytes. A body cut short is fetched
    /// again, as a failed request is.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        let mut attempt = 0;
        let data = loop {
            let body = self.open(url, 0)?;
            let mut data = Vec::new();
            match body.reader.take(limit + 1).read_to_end(&mut data) {
                Ok(_) => break data,
                Err(_) if attempt < self.retries_for(url) => {
                    attempt += 1;
                    self.pause(attempt);
                }
                Err(e) => {
                    return Err(Error::Transport {
                        url: url.to_owned(),
                        message: e.to_string(),
                    });
                }
            }
        };
        if data.len() as u64 > limit {
            return Err(Error::TooLarge {
                url: url.to_owned(),
                limit,
            });
        }
        Ok(data)
    }

    /// Open `url` from byte `offset` (a range request); servers that ignore ranges give the
    /// whole body, which [`Body::resumed`] reports.
    pub fn open(&self, url: &str, offset: u64) -> Result<Body> {
        if let Some(path) = url.strip_prefix("file://") {
            let path = PathBuf::from(path);
            let mut file = match File::open(&path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::NotFound {
                        url: url.to_owned(),
                    });
                }
                Err(source) => return Err(Error::File { path, source }),
            };
            if offset > 0 {
                file.seek(SeekFrom::Start(offset))
                    .map_err(|source| Error::File { path, source })?;
            }
            return Ok(Body {
                reader: Box::new(file),
                resumed: true,
            });
        }
        let mut attempt = 0;
        let retries = self.retries_for(url);
        let response = loop {
            let mut request = self.agent.get(url);
            if offset > 0 {
                request = request.header("Range", format!("bytes={offset}-"));
            }
            match request.call() {
                Ok(r) if !transient_status(r.status().as_u16()) || attempt == retries => break r,
                Ok(_) => {}
                Err(e) if attempt == retries => {
                    return Err(Error::Transport {
                        url: url.to_owned(),
                        message: if retries == 0 {
                            e.to_string()
                        } else {
                            format!("{e} (after {retries} retries)")
                        },
                    });
                }
                Err(_) => {}
            }
            attempt += 1;
            self.pause(attempt);
        };
        let status = response.status().as_u16();
        match status {
            200 | 206 => {
                let resumed = offset == 0 || status == 206;
                let reader = response.into_body().into_reader();
                Ok(Body {
                    reader: Box::new(reader),
                    resumed,
                })
            }
            // The range starts at or after the end: fetch it whole again.
            416 if offset > 0 => self.open(url, 0),
            404 | 410 => Err(Error::NotFound {
                url: url.to_owned(),
            }),
            _ => Err(Error::Status {
                url: url.to_owned(),
                status,
            }),
        }
    }
}

/// Answers that may not repeat: a timeout, too many requests, a server error.
fn transient_status(status: u16) -> bool {
    matches!(status, 408 | 429 | 500..=599)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};

    /// What one connection to [`serve`] answers, given the request's head.
    pub(crate) type Answer = Box<dyn FnOnce(&str, &mut TcpStream) + Send>;

    /// An HTTP server on loopback that answers one connection with each of `answers`, in
    /// order; the thread returns the request heads it read.
    pub(crate) fn serve(answers: Vec<Answer>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/f.deb", listener.local_addr().unwrap());
        let thread = std::thread::spawn(move || {
            let mut heads = Vec::new();
            for answer in answers {
                let (mut stream, _) = listener.accept().unwrap();
                let mut head = Vec::new();
                let mut byte = [0u8];
                while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
                    head.push(byte[0]);
                }
                let head = String::from_utf8(head).unwrap();
                answer(&head, &mut stream);
                heads.push(head);
            }
            heads
        });
        (url, thread)
    }

    /// An answer with `status` and `body`, closing the connection.
    pub(crate) fn answer(status: &'static str, body: &'static [u8]) -> Answer {
        Box::new(move |_, s| {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            s.write_all(head.as_bytes()).unwrap();
            s.write_all(body).unwrap();
        })
    }

    #[test]
    fn a_server_error_is_retried() {
        let (url, server) = serve(vec![
            answer("503 Service Unavailable", b""),
            answer("502 Bad Gateway", b""),
            answer("200 OK", b"Packages"),
        ]);
        let fetcher = Fetcher::with_retries(3, Duration::from_millis(5));
        assert_eq!(fetcher.get(&url, 100).unwrap(), b"Packages");
        assert_eq!(server.join().unwrap().len(), 3);
    }

    #[test]
    fn retries_are_bounded_and_a_missing_file_is_not_retried() {
        let (url, server) = serve(vec![
            answer("500 Internal Server Error", b""),
            answer("500 Internal Server Error", b""),
            answer("500 Internal Server Error", b""),
            answer("404 Not Found", b""),
        ]);
        let fetcher = Fetcher::with_retries(2, Duration::from_millis(5));
        let err = fetcher.get(&url, 100).unwrap_err();
        assert!(matches!(err, Error::Status { status: 500, .. }), "{err}");
        let err = fetcher.get(&url, 100).unwrap_err();
        assert!(matches!(err, Error::NotFound { .. }), "{err}");
        assert_eq!(server.join().unwrap().len(), 4);
    }

    #[test]
    fn a_refused_connection_is_retried_then_reported() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let fetcher = Fetcher::with_retries(2, Duration::from_millis(5));
        let err = fetcher
            .get(&format!("http://127.0.0.1:{port}/InRelease"), 100)
            .unwrap_err();
        assert!(err.to_string().ends_with("(after 2 retries)"), "{err}");
    }

    #[test]
    fn a_body_cut_short_is_fetched_again() {
        let (url, server) = serve(vec![
            Box::new(|_, s| {
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nPack")
                    .unwrap();
            }),
            answer("200 OK", b"Packages"),
        ]);
        let fetcher = Fetcher::with_retries(1, Duration::from_millis(5));
        assert_eq!(fetcher.get(&url, 100).unwrap(), b"Packages");
        server.join().unwrap();
    }
}
