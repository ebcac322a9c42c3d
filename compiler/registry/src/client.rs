//! The HTTP side of the distribution API: choosing HTTPS or HTTP, custom CAs, the
//! `WWW-Authenticate` challenge (basic, or a bearer token from the token endpoint), bounded
//! retries, and redirects that never carry credentials to another host.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ureq::http;

use crate::credentials::Credentials;
use crate::{Error, Result, name::is_loopback};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--tls-verify=false`: accept any certificate, and fall back to plain HTTP.
    pub insecure: bool,
    /// A directory of `*.crt` CA files (else `/etc/duckc/certs.d/HOST/`, then Docker's
    /// `/etc/docker/certs.d/HOST/`).
    pub cert_dir: Option<PathBuf>,
    /// Credentials to use instead of the stored ones (`login` checks them this way).
    pub credentials: Option<Credentials>,
}

/// A response: status, headers, and the body as a reader.
pub type Response = http::Response<ureq::Body>;

/// A request body that can be sent again (after a challenge or a retry).
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (a manifest).
    Bytes(&'a [u8]),
    /// A file (a blob in the store).
    File(&'a Path),
    /// `len` bytes of a file from `offset` (a chunk of a blob; the caller sets
    /// `Content-Length`).
    Range(&'a Path, u64, u64),
}

#[derive(Debug, Clone)]
enum Auth {
    None,
    Basic,
    Bearer(String),
}

/// A client for one registry host.
#[derive(Debug)]
pub struct Client {
    agent: ureq::Agent,
    /// `https://host` or `http://host`.
    origin: String,
    host: String,
    credentials: Option<Credentials>,
    auth: Mutex<Auth>,
}

/// Retries after a connection error or a 5xx answer.
pub(crate) const RETRIES: u32 = 3;
/// The largest token or error body read.
const SMALL_BODY: u64 = 1 << 20;

/// How long a registry may keep duckc waiting: for the response's headers, for each read, for
/// a whole manifest, config, token or error body, and for each stretch of a blob in which it
/// must send [`MIN_BYTES_PER_WINDOW`]. `$DUCKC_REGISTRY_TIMEOUT` (seconds) overrides the
/// default of 120 s (a slow link may need more; the tests use less).
pub fn timeout() -> Duration {
    static TIMEOUT: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *TIMEOUT.get_or_init(|| {
        std::env::var("DUCKC_REGISTRY_TIMEOUT")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&s| s > 0)
            .map_or(Duration::from_secs(120), Duration::from_secs)
    })
}

/// The fewest bytes a blob download must bring in each [`timeout`]: a registry that trickles
/// a byte now and then (each read within the timeout) would otherwise hold a pull forever.
pub const MIN_BYTES_PER_WINDOW: u64 = 1024;

/// A body reader that a registry cannot hold open forever by trickling bytes (each read
/// arriving within ureq's per-read timeout): a small body (manifest, config, token, error)
/// must be complete within [`timeout`], and a blob must bring [`MIN_BYTES_PER_WINDOW`] in
/// every [`timeout`]. Either failure is a `TimedOut` error that says so.
pub struct Paced<R> {
    inner: R,
    whole: Option<std::time::Instant>,
    window_start: std::time::Instant,
    window_bytes: u64,
}

impl<R: Read> Paced<R> {
    /// A small body: all of it within [`timeout`].
    pub fn whole(inner: R) -> Paced<R> {
        let now = std::time::Instant::now();
        Paced {
            inner,
            whole: Some(now + timeout()),
            window_start: now,
            window_bytes: 0,
        }
    }

    /// A blob: at least [`MIN_BYTES_PER_WINDOW`] every [`timeout`].
    pub fn streaming(inner: R) -> Paced<R> {
        Paced {
            inner,
            whole: None,
            window_start: std::time::Instant::now(),
            window_bytes: 0,
        }
    }
}

impl<R: Read> Read for Paced<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let slow = |what: String| std::io::Error::new(std::io::ErrorKind::TimedOut, what);
        let now = std::time::Instant::now();
        if let Some(deadline) = self.whole
            && now > deadline
        {
            return Err(slow(format!(
                "the registry did not send the whole body within {} s",
                timeout().as_secs()
            )));
        }
        if now.duration_since(self.window_start) > timeout() {
            if self.whole.is_none() && self.window_bytes < MIN_BYTES_PER_WINDOW {
                return Err(slow(format!(
                    "the registry sent {} bytes in {} s, too slow to go on",
                    self.window_bytes,
                    timeout().as_secs()
                )));
            }
            self.window_start = now;
            self.window_bytes = 0;
        }
        let n = self.inner.read(buf)?;
        self.window_bytes += n as u64;
        Ok(n)
    }
}

fn agent(tls: ureq::tls::TlsConfig) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_connect(Some(Duration::from_secs(30).min(timeout())))
        .timeout_recv_response(Some(timeout()))
        .timeout_per_read(Some(timeout()))
        // A pull keeps up to `pull --jobs` (at most 16) blob downloads going: with ureq's
        // default of 3 idle connections per host, the others were closed after each blob and
        // opened again for the next (130 layers: about 90 new connections).
        .max_idle_connections_per_host(16)
        .max_idle_connections(32)
        .user_agent(concat!("duckc/", env!("CARGO_PKG_VERSION")))
        .tls_config(tls)
        .build()
        .new_agent()
}

/// A user's own CA directories for `host`, read before the system's as Podman reads its
/// rootless ones (a user cannot write `/etc`): `$XDG_CONFIG_HOME/duckc/certs.d/HOST/` (else
/// `~/.config/…`), then Podman's `$XDG_CONFIG_HOME/containers/certs.d/HOST/`. None for real
/// root (a rootless duckc is root of its own user namespace, and is not).
pub fn user_cert_dirs(host: &str) -> Vec<PathBuf> {
    if duckc_layer::ids::host_root() {
        return Vec::new();
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let Some(config) = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")))
    else {
        return Vec::new();
    };
    vec![
        config.join("duckc/certs.d").join(host),
        config.join("containers/certs.d").join(host),
    ]
}

/// The CA certificates for `host`: every `*.crt` of the first cert directory that has one.
fn ca_certs(host: &str, opts: &Options) -> Result<Vec<ureq::tls::Certificate<'static>>> {
    let dirs: Vec<PathBuf> = match &opts.cert_dir {
        Some(d) => vec![d.clone()],
        None => {
            let mut dirs = user_cert_dirs(host);
            dirs.push(Path::new("/etc/duckc/certs.d").join(host));
            dirs.push(Path::new("/etc/docker/certs.d").join(host));
            dirs
        }
    };
    let mut certs = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            if opts.cert_dir.is_some() {
                return Err(Error::Tls(format!(
                    "cannot read the certificate directory `{}`",
                    dir.display()
                )));
            }
            continue;
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "crt"))
            .collect();
        files.sort();
        for f in files {
            let pem = std::fs::read(&f)
                .map_err(|e| Error::Tls(format!("cannot read `{}`: {e}", f.display())))?;
            for item in ureq::tls::parse_pem(&pem) {
                match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => certs.push(c),
                    Ok(_) => {}
                    Err(e) => {
                        return Err(Error::Tls(format!("bad PEM in `{}`: {e}", f.display())));
                    }
                }
            }
        }
        if !certs.is_empty() {
            break;
        }
    }
    Ok(certs)
}

/// Percent-encode a query value.
pub(crate) fn encode_query(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The `scheme://host[:port]` of an absolute URL.
fn origin_of(url: &str) -> &str {
    let after = url.find("://").map_or(0, |i| i + 3);
    let end = url[after..]
        .find(['/', '?'])
        .map_or(url.len(), |i| after + i);
    &url[..end]
}

/// Parse `Bearer realm="…",service="…"` into the scheme and its parameters.
pub(crate) fn parse_challenge(header: &str) -> (String, Vec<(String, String)>) {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut rest = rest.trim();
    while !rest.is_empty() {
        let Some((key, after)) = rest.split_once('=') else {
            break;
        };
        let key = key
            .trim()
            .trim_start_matches(',')
            .trim()
            .to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            (value, &quoted[end..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        params.push((key, value));
        rest = next.trim_start().trim_start_matches(',').trim_start();
    }
    (scheme.to_ascii_lowercase(), params)
}

/// The registry's error message from a JSON error body, if it has one.
fn error_detail(response: Response) -> String {
    let mut body = Vec::new();
    let _ = Paced::whole(response.into_body().into_reader())
        .take(64 << 10)
        .read_to_end(&mut body);
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return String::new();
    };
    let msgs: Vec<String> = v
        .get("errors")
        .and_then(|e| e.as_array())
        .into_iter()
        .flatten()
        .filter_map(|e| {
            let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
            let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
            (!code.is_empty() || !msg.is_empty()).then(|| format!("{code}: {msg}"))
        })
        .collect();
    if msgs.is_empty() {
        String::new()
    } else {
        format!(" ({})", crate::printable(&msgs.join("; ")))
    }
}

impl Client {
    /// Connect to `host`: HTTPS (plain HTTP as a fallback only for loopback hosts or with
    /// `insecure`), with the stored credentials unless `opts` gives some.
    pub fn connect(host: &str, opts: &Options) -> Result<Client> {
        let certs = ca_certs(host, opts)?;
        let mut tls = ureq::tls::TlsConfig::builder().disable_verification(opts.insecure);
        if !certs.is_empty() {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let agent = agent(tls.build());
        let credentials = match &opts.credentials {
            Some(c) => Some(c.clone()),
            None => crate::credentials::get(host)?,
        };
        let mut client = Client {
            agent,
            origin: format!("https://{host}"),
            host: host.to_owned(),
            credentials,
            auth: Mutex::new(Auth::None),
        };
        let may_http = opts.insecure || is_loopback(host);
        let probe = client.agent.get(format!("{}/v2/", client.origin)).call();
        match probe {
            Ok(_) => {}
            // A server that speaks TLS with a certificate we do not trust is not a plain
            // HTTP server: falling back would only hide the real problem.
            Err(e) if may_http && !e.to_string().contains("peer certificate") => {
                client.origin = format!("http://{host}")
            }
            Err(e) => {
                return Err(Error::Transport {
                    url: format!("https://{host}/v2/"),
                    message: format!(
                        "{e}{}",
                        if !e.to_string().contains("certificate") {
                            String::new()
                        } else if let Some(own) = user_cert_dirs(host).first() {
                            format!(
                                " (for a registry with its own CA, put its `ca.crt` in `{}/` \
                                 or `/etc/duckc/certs.d/{host}/`, or pass `--cert-dir`)",
                                own.display()
                            )
                        } else {
                            " (for a registry with its own CA, put its `ca.crt` in \
                             `/etc/duckc/certs.d/HOST/` or pass `--cert-dir`)"
                                .to_owned()
                        }
                    ),
                });
            }
        }
        Ok(client)
    }

    /// The registry host.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// `origin` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }

    /// Whether `url` is on this registry (same scheme, host and port).
    fn same_origin(&self, url: &str) -> bool {
        origin_of(url) == self.origin
    }

    fn auth_header(&self) -> Option<String> {
        match &*self.auth.lock().expect("auth lock") {
            Auth::None => None,
            Auth::Basic => self.credentials.as_ref().map(|c| {
                format!(
                    "Basic {}",
                    BASE64.encode(format!("{}:{}", c.username, c.password).as_bytes())
                )
            }),
            Auth::Bearer(t) => Some(format!("Bearer {t}")),
        }
    }

    /// Answer a 401's challenge: switch to basic auth or fetch a bearer token for `scope`.
    fn answer_challenge(&self, header: Option<&str>, scope: &str, what: &str) -> Result<()> {
        let unauthorized = |why: String| Error::Unauthorized {
            what: what.to_owned(),
            host: self.host.clone(),
            why,
        };
        let Some(header) = header else {
            return Err(unauthorized(
                "the registry answered 401 without a challenge".into(),
            ));
        };
        let (scheme, params) = parse_challenge(header);
        let param = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        match scheme.as_str() {
            "basic" => {
                if self.credentials.is_none() {
                    return Err(unauthorized("the registry needs a login".into()));
                }
                *self.auth.lock().expect("auth lock") = Auth::Basic;
                Ok(())
            }
            "bearer" => {
                let realm = param("realm")
                    .ok_or_else(|| unauthorized("the bearer challenge has no realm".into()))?;
                // Credentials go to a token service over HTTPS (anywhere, as Docker sends
                // them), or over plain HTTP only when the registry is itself plain HTTP (the
                // credentials cross in clear text to it anyway) and the service is on loopback
                // or the registry. A registry reached over TLS that names `http://127.0.0.1:…`
                // would have the password sent to whatever listens on that port of this
                // machine, another user's process perhaps.
                let plain_ok = self.origin.starts_with("http://")
                    && realm.starts_with("http://")
                    && (is_loopback(origin_of(realm).trim_start_matches("http://"))
                        || origin_of(realm) == self.origin);
                if !realm.starts_with("https://") && !plain_ok {
                    return Err(unauthorized(format!(
                        "the token service `{}` is not HTTPS",
                        crate::printable(realm)
                    )));
                }
                let mut url = realm.to_owned();
                let mut sep = if url.contains('?') { '&' } else { '?' };
                if let Some(service) = param("service") {
                    url.push_str(&format!("{sep}service={}", encode_query(service)));
                    sep = '&';
                }
                let scope = param("scope").unwrap_or(scope);
                if !scope.is_empty() {
                    url.push_str(&format!("{sep}scope={}", encode_query(scope)));
                }
                let mut request = self.agent.get(&url);
                if let Some(c) = &self.credentials {
                    request = request.header(
                        "Authorization",
                        format!(
                            "Basic {}",
                            BASE64.encode(format!("{}:{}", c.username, c.password).as_bytes())
                        ),
                    );
                }
                let response = request.call().map_err(|e| Error::Transport {
                    url: origin_of(&url).to_owned(),
                    message: e.to_string(),
                })?;
                let status = response.status().as_u16();
                if status == 401 || status == 403 {
                    return Err(unauthorized(if self.credentials.is_some() {
                        "the token service refused the credentials".into()
                    } else {
                        "the registry needs a login".into()
                    }));
                }
                if status != 200 {
                    return Err(unauthorized(format!("the token service answered {status}")));
                }
                let mut body = Vec::new();
                Paced::whole(response.into_body().into_reader())
                    .take(SMALL_BODY)
                    .read_to_end(&mut body)
                    .map_err(|e| Error::Transport {
                        url: origin_of(&url).to_owned(),
                        message: e.to_string(),
                    })?;
                let v: serde_json::Value = serde_json::from_slice(&body)
                    .map_err(|_| unauthorized("the token service answered no JSON".into()))?;
                let token = v
                    .get("token")
                    .or_else(|| v.get("access_token"))
                    .and_then(|t| t.as_str())
                    .filter(|t| !t.is_empty())
                    .ok_or_else(|| unauthorized("the token service gave no token".into()))?;
                *self.auth.lock().expect("auth lock") = Auth::Bearer(token.to_owned());
                Ok(())
            }
            other => Err(unauthorized(format!(
                "unsupported authentication scheme `{}`",
                crate::printable(other)
            ))),
        }
    }

    /// Send a request to `path` (or an absolute URL from a `Location`), answering one
    /// challenge, following up to five redirects (GET and HEAD; credentials stay on this
    /// registry) and retrying connection errors and 5xx answers a bounded number of times.
    /// `what` names what is being fetched in errors; `scope` is the token scope to ask for.
    pub fn send(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        scope: &str,
        what: &str,
    ) -> Result<Response> {
        self.request(method, path_or_url, headers, body, scope, what, RETRIES)
    }

    /// [`Client::send`] without its retries: for a request that must not be sent again as it
    /// is after a failure (a chunk of an upload, whose registry may have kept part of it).
    pub fn send_once(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        scope: &str,
        what: &str,
    ) -> Result<Response> {
        self.request(method, path_or_url, headers, body, scope, what, 0)
    }

    #[allow(clippy::too_many_arguments)]
    fn request(
        &self,
        method: &str,
        path_or_url: &str,
        headers: &[(&str, &str)],
        body: Body<'_>,
        scope: &str,
        what: &str,
        retries: u32,
    ) -> Result<Response> {
        let mut url = if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            path_or_url.to_owned()
        } else {
            self.url(path_or_url)
        };
        let mut challenged = false;
        let mut redirects = 0;
        let mut attempt = 0;
        loop {
            let same = self.same_origin(&url);
            let mut builder = http::Request::builder().method(method).uri(&url);
            for (k, v) in headers {
                builder = builder.header(*k, *v);
            }
            if same && let Some(a) = self.auth_header() {
                builder = builder.header("Authorization", a);
            }
            let result = match body {
                Body::Empty => builder.body(()).map(|r| self.agent.run(r)),
                Body::Bytes(b) => builder.body(b).map(|r| self.agent.run(r)),
                Body::File(p) => {
                    let f = std::fs::File::open(p).map_err(|e| Error::Io {
                        path: p.to_owned(),
                        source: e,
                    })?;
                    builder.body(f).map(|r| self.agent.run(r))
                }
                Body::Range(p, offset, len) => {
                    use std::io::{Seek, SeekFrom};
                    let io = |e| Error::Io {
                        path: p.to_owned(),
                        source: e,
                    };
                    let mut f = std::fs::File::open(p).map_err(io)?;
                    f.seek(SeekFrom::Start(offset)).map_err(io)?;
                    builder
                        .body(ureq::SendBody::from_owned_reader(f.take(len)))
                        .map(|r| self.agent.run(r))
                }
            };
            let result = result.map_err(|e| Error::Transport {
                url: url.clone(),
                message: e.to_string(),
            })?;
            let response = match result {
                Ok(r) => r,
                Err(e) => {
                    if attempt < retries {
                        attempt += 1;
                        std::thread::sleep(Duration::from_millis(200 << attempt));
                        continue;
                    }
                    return Err(Error::Transport {
                        url: origin_of(&url).to_owned(),
                        message: if retries == 0 {
                            format!("{what}: {e}")
                        } else {
                            format!("{what}: {e} (after {retries} retries)")
                        },
                    });
                }
            };
            let status = response.status().as_u16();
            if status == 401 && same {
                if challenged {
                    return Err(Error::Unauthorized {
                        what: what.to_owned(),
                        host: self.host.clone(),
                        why: if self.credentials.is_some() {
                            "the registry refused the credentials".into()
                        } else {
                            "the registry needs a login".into()
                        },
                    });
                }
                challenged = true;
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                self.answer_challenge(challenge.as_deref(), scope, what)?;
                continue;
            }
            if (300..400).contains(&status)
                && status != 304
                && (method == "GET" || method == "HEAD")
                && let Some(loc) = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
            {
                redirects += 1;
                if redirects > 5 {
                    return Err(Error::Transport {
                        url: origin_of(&url).to_owned(),
                        message: format!("{what}: more than 5 redirects"),
                    });
                }
                url = self.resolve(&url, loc);
                continue;
            }
            if status >= 500 && attempt < retries {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(200 << attempt));
                continue;
            }
            return Ok(response);
        }
    }

    /// A `Location` header resolved against the URL it came from.
    pub fn resolve(&self, base: &str, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else if location.starts_with('/') {
            format!("{}{location}", origin_of(base))
        } else {
            let dir = base
                .split('?')
                .next()
                .unwrap_or(base)
                .rsplit_once('/')
                .map_or(base, |(d, _)| d);
            format!("{dir}/{location}")
        }
    }

    /// Turn a response that is not `ok` into an error naming `what`.
    pub fn check(&self, response: Response, ok: &[u16], what: &str) -> Result<Response> {
        let status = response.status().as_u16();
        if ok.contains(&status) {
            return Ok(response);
        }
        if status == 404 {
            return Err(Error::NotFound {
                what: what.to_owned(),
                detail: error_detail(response),
            });
        }
        if status == 403 {
            return Err(Error::Unauthorized {
                what: what.to_owned(),
                host: self.host.clone(),
                why: format!("access denied{}", error_detail(response)),
            });
        }
        Err(Error::Status {
            what: what.to_owned(),
            status,
            detail: error_detail(response),
        })
    }

    /// `GET /v2/`: whether the registry accepts these credentials (for `login`).
    pub fn ping(&self) -> Result<()> {
        let what = format!("registry {}", self.host);
        let response = self.send("GET", "/v2/", &[], Body::Empty, "", &what)?;
        self.check(response, &[200], &what)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let (s, p) = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push""#,
        );
        assert_eq!(s, "bearer");
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
        assert_eq!(p[2], ("scope".into(), "repository:a/b:pull,push".into()));
        let (s, p) = parse_challenge(r#"Basic realm="Registry Realm""#);
        assert_eq!(s, "basic");
        assert_eq!(p[0].1, "Registry Realm");
    }

    /// A client of `origin` with a password, made without the probe `connect` sends.
    fn client_of(origin: &str) -> Client {
        Client {
            agent: agent(ureq::tls::TlsConfig::builder().build()),
            origin: origin.to_owned(),
            host: origin_of(origin)
                .split("://")
                .nth(1)
                .unwrap_or_default()
                .to_owned(),
            credentials: Some(Credentials {
                username: "duck".into(),
                password: "s3cret".into(),
            }),
            auth: Mutex::new(Auth::None),
        }
    }

    /// Where a bearer challenge may send the stored credentials: over HTTPS anywhere (as Docker
    /// does), over plain HTTP only when the registry itself is plain HTTP (loopback, or
    /// `--tls-verify=false`) and the realm is on loopback or the registry itself. A registry
    /// reached over TLS that names a plain-HTTP realm on this machine gets nothing sent there
    /// (another local user's process could be listening on that port).
    #[test]
    fn plain_http_realms_get_credentials_only_from_plain_http_registries() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let local = format!("http://{}/token", listener.local_addr().unwrap());
        let challenge = |realm: &str| format!(r#"Bearer realm="{realm}",service="s""#);
        for (origin, realm) in [
            ("https://registry.example", local.as_str()),
            ("https://registry.example", "http://registry.example/token"),
            ("https://127.0.0.1:5000", local.as_str()),
            ("http://10.0.0.1:5000", "http://192.0.2.1/token"),
        ] {
            let client = client_of(origin);
            let err = client
                .answer_challenge(Some(&challenge(realm)), "", "manifest")
                .expect_err(realm);
            assert!(
                err.to_string().contains("is not HTTPS"),
                "{origin} {realm}: {err}"
            );
        }
        assert!(
            listener.accept().is_err(),
            "a refused realm was connected to"
        );
    }

    #[test]
    fn origins() {
        assert_eq!(
            origin_of("http://127.0.0.1:5000/v2/x"),
            "http://127.0.0.1:5000"
        );
        assert_eq!(origin_of("https://h"), "https://h");
        assert_eq!(
            encode_query("repository:a/b:pull,push"),
            "repository%3Aa%2Fb%3Apull%2Cpush"
        );
    }
}
