//! Reading repository files over `http://`, `https://` and `file://`, with size limits and
//! byte-range resumption.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use crate::source::redact;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("`{}` does not exist in the repository", redact(url))]
    NotFound { url: String },
    #[error("`{}`: the server answered {status}", redact(url))]
    Status { url: String, status: u16 },
    #[error("`{}`: {message}", redact(url))]
    Transport { url: String, message: String },
    #[error("`{}` is larger than the {limit} bytes expected", redact(url))]
    TooLarge { url: String, limit: u64 },
    #[error("cannot read `{}`: {source}", path.display())]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// An open response body.
pub struct Body {
    pub reader: Box<dyn Read + Send>,
    /// Whether the body starts at the requested offset; when false it starts at byte 0.
    pub resumed: bool,
}

/// Fetches URLs. One agent is shared by all threads (it pools connections).
#[derive(Debug, Clone)]
pub struct Fetcher {
    agent: ureq::Agent,
}

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
        }
    }
}

impl Fetcher {
    /// The whole body of `url`, refusing more than `limit` bytes.
    pub fn get(&self, url: &str, limit: u64) -> Result<Vec<u8>> {
        let body = self.open(url, 0)?;
        let mut data = Vec::new();
        body.reader
            .take(limit + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::Transport {
                url: url.to_owned(),
                message: e.to_string(),
            })?;
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
        let mut request = self.agent.get(url);
        if offset > 0 {
            request = request.header("Range", format!("bytes={offset}-"));
        }
        let response = request.call().map_err(|e| Error::Transport {
            url: url.to_owned(),
            message: e.to_string(),
        })?;
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
