//! A real `docker-registry` (Debian's) for the tests that push and pull: on a free loopback
//! port, plain HTTP unless its config says otherwise, storage and access log in a temporary
//! directory of its own, stopped when dropped (and by the kernel if the test thread dies).
//! And what the registry tests share besides: `duckc` with a Docker config of the test's own,
//! and the request reading of the small loopback servers that play registries that lie.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{duckc, output};

/// A running `docker-registry`.
pub struct Registry {
    child: Child,
    pub port: u16,
    log: PathBuf,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Start one; `extra` is appended to its config (an `auth:` section, or `tls:` lines for
    /// its `http:` section).
    pub fn start(extra: &str) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("duckc-registry-")
            .tempdir()
            .unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{extra}",
                dir.path().join("data").display()
            ),
        )
        .unwrap();
        let log = dir.path().join("registry.log");
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new("docker-registry");
        cmd.arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        // SAFETY: prctl is async-signal-safe; the registry dies with the test thread.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        // Held by the guard at once, so it is killed and waited for on every path.
        let registry = Registry {
            child: cmd.spawn().expect("docker-registry starts"),
            port,
            log,
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "docker-registry did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:PORT`, the registry part of an image name.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The access log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its storage directory.
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The head of one HTTP/1.1 request on `conn`, for a loopback server playing a registry:
/// (request line, headers lower-cased). `None` for a TLS probe (a ClientHello, closed at once,
/// so duckc falls back to HTTP) or a connection that ends first.
pub fn read_request(conn: &TcpStream) -> Option<(String, String)> {
    let mut first = [0u8; 1];
    if conn.peek(&mut first).is_err() || first[0] == 0x16 {
        return None;
    }
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut headers = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        headers.push_str(&h.to_ascii_lowercase());
    }
    Some((line, headers))
}

/// `duckc ARGS` in `store` with the Docker config directory `cfg`, no default registry and no
/// `registries.conf`, stdin on `/dev/null`: (code, stdout, stderr).
pub fn run(store: &Path, cfg: &Path, args: &[&str]) -> (i32, String, String) {
    let out = output(
        duckc(store)
            .env("DOCKER_CONFIG", cfg)
            .env_remove("DUCKC_REGISTRY")
            .env("CONTAINERS_REGISTRIES_CONF", "/nonexistent")
            .args(args)
            .stdin(Stdio::null()),
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One whole HTTP/1.1 response on `conn`, with `Connection: close`: for the loopback servers'
/// routes. Write errors (the client gone) are ignored.
pub fn respond(conn: &mut TcpStream, status: &str, content_type: &str, body: &[u8]) {
    let _ = write!(
        conn,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(body);
}
