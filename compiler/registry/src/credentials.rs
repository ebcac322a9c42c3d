//! Registry credentials in Docker's config format, so an existing `docker login` works and
//! `duckc login` is seen by Docker: `$DOCKER_CONFIG/config.json` (else
//! `~/.docker/config.json`), `auths.HOST.auth` = base64 of `user:password`, and
//! `credsStore`/`credHelpers` naming `docker-credential-NAME` helpers.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, STANDARD_PAD_INDIFFERENT};

use crate::{Error, Result};

/// A user name and password (or identity token) for one registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password; never printed (see the `Debug` implementation).
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// The Docker config file: `$DOCKER_CONFIG/config.json`, else `$HOME/.docker/config.json`.
pub fn config_path() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d).join("config.json");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    home.join(".docker/config.json")
}

fn read_config() -> Result<Value> {
    let path = config_path();
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::Credentials(format!("`{}` is not valid JSON: {e}", path.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(json!({})),
        Err(e) => Err(Error::Credentials(format!(
            "cannot read `{}`: {e}",
            path.display()
        ))),
    }
}

/// Write the config with mode 0600 through a temporary file and a rename.
fn write_config(config: &Value) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = config_path();
    let fail =
        |e: std::io::Error| Error::Credentials(format!("cannot write `{}`: {e}", path.display()));
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let tmp = path.with_file_name(format!(".config.json.tmp-{}", std::process::id()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    let mut bytes = serde_json::to_vec_pretty(config).expect("config serialises");
    bytes.push(b'\n');
    let result = f
        .write_all(&bytes)
        .and_then(|()| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, &path));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(fail)
}

/// The helper for `host`: `credHelpers.HOST`, else `credsStore`.
fn helper_for(config: &Value, host: &str) -> Option<String> {
    config
        .pointer(&format!(
            "/credHelpers/{}",
            host.replace('~', "~0").replace('/', "~1")
        ))
        .or_else(|| config.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// How a credential helper failed: the user's remedy differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HelperFailure {
    /// The program is not on `PATH` (or cannot be run).
    Missing,
    /// It ran and exited non-zero (a locked keychain, a store it cannot reach).
    Failed,
    /// It could not be handed its input, or its answer is not what the protocol says.
    Broken,
}

fn helper_error(program: &str, failure: HelperFailure, message: String) -> Error {
    Error::CredentialHelper {
        message,
        program: program.to_owned(),
        failure,
    }
}

/// `input` in an anonymous memory file, positioned at its start.
fn input_file(input: &str) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    let fd = rustix::fs::memfd_create("duckc-credential-input", rustix::fs::MemfdFlags::CLOEXEC)?;
    let mut file = std::fs::File::from(fd);
    file.write_all(input.as_bytes())?;
    file.seek(SeekFrom::Start(0))?;
    Ok(file)
}

/// Run `docker-credential-NAME ACTION` with `input` on stdin; its stdout.
fn run_helper(name: &str, action: &str, input: &str) -> Result<Vec<u8>> {
    let program = format!("docker-credential-{name}");
    // The input is handed over in a memory file, not a pipe: a helper that exits without
    // reading it (as `get` may) must not end duckc with SIGPIPE, which `main` leaves at its
    // default for the registry verbs. The memory file never reaches a disk (the input of
    // `store` holds the secret).
    let stdin = input_file(input).map_err(|e| {
        helper_error(
            &program,
            HelperFailure::Broken,
            format!("cannot hand `{program}` its input: {e}"),
        )
    })?;
    let child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::from(stdin))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            helper_error(
                &program,
                HelperFailure::Missing,
                format!("cannot run `{program}`: {e}"),
            )
        })?;
    let out = child.wait_with_output().map_err(|e| {
        helper_error(
            &program,
            HelperFailure::Failed,
            format!("`{program} {action}` failed: {e}"),
        )
    })?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout);
        let msg = msg.trim();
        // A helper that has nothing for the host says so on stdout; report it as "none".
        if action == "get" && msg.contains("credentials not found") {
            return Ok(Vec::new());
        }
        // What the helper said about it: its first line on stderr (or stdout), printable
        // characters only, at most 200 of them.
        let said = String::from_utf8_lossy(&out.stderr);
        let said: String = said
            .lines()
            .chain(msg.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("")
            .chars()
            .filter(|c| !c.is_control())
            .take(200)
            .collect();
        let message = if said.is_empty() {
            format!("`{program} {action}` failed ({})", out.status)
        } else {
            format!("`{program} {action}` failed ({}): {said}", out.status)
        };
        return Err(helper_error(&program, HelperFailure::Failed, message));
    }
    Ok(out.stdout)
}

/// The stored credentials for `host`, if any.
pub fn get(host: &str) -> Result<Option<Credentials>> {
    let config = read_config()?;
    if let Some(helper) = helper_for(&config, host) {
        let out = run_helper(&helper, "get", host)?;
        if out.is_empty() {
            return Ok(None);
        }
        let v: Value = serde_json::from_slice(&out).map_err(|e| {
            let program = format!("docker-credential-{helper}");
            let message = format!("`{program}` gave bad JSON: {e}");
            helper_error(&program, HelperFailure::Broken, message)
        })?;
        let user = v.get("Username").and_then(Value::as_str).unwrap_or("");
        let secret = v.get("Secret").and_then(Value::as_str).unwrap_or("");
        return Ok((!secret.is_empty()).then(|| Credentials {
            username: user.to_owned(),
            password: secret.to_owned(),
        }));
    }
    if let Some(creds) = from_auths(&config, host, &config_path())? {
        return Ok(Some(creds));
    }
    // Nothing in Docker's config: a `podman login` (or `skopeo login`) may have the host.
    if std::env::var_os("DOCKER_CONFIG").is_some_and(|d| !d.is_empty()) {
        return Ok(None);
    }
    for path in containers_auth_files() {
        let config = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                Error::Credentials(format!("`{}` is not valid JSON: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::Credentials(format!(
                    "cannot read `{}`: {e}",
                    path.display()
                )));
            }
        };
        if let Some(creds) = from_auths(&config, host, &path)? {
            return Ok(Some(creds));
        }
    }
    Ok(None)
}

/// Podman's, skopeo's and Buildah's auth files (`containers-auth.json(5)`, the same `auths`
/// format), in the order they read them: `$REGISTRY_AUTH_FILE` alone when set; else
/// `$XDG_RUNTIME_DIR/containers/auth.json` (root's: `/run/containers/0/auth.json`), where
/// `podman login` writes, then `$XDG_CONFIG_HOME/containers/auth.json` (else
/// `~/.config/containers/auth.json`). A rootless duckc is root of its own user namespace, but
/// its user's files are the ones to read: real root is told apart by its uid map.
pub fn containers_auth_files() -> Vec<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(f) = var("REGISTRY_AUTH_FILE") {
        return vec![PathBuf::from(f)];
    }
    let mut files = Vec::new();
    if duckc_layer::ids::host_root() {
        files.push(PathBuf::from("/run/containers/0/auth.json"));
    } else if let Some(d) = var("XDG_RUNTIME_DIR") {
        files.push(PathBuf::from(d).join("containers/auth.json"));
    }
    let config_home = var("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".config")));
    if let Some(c) = config_home {
        files.push(c.join("containers/auth.json"));
    }
    files
}

/// The `auths` entry for `host` in `config` (the file `path`, for errors), if any.
fn from_auths(config: &Value, host: &str, path: &std::path::Path) -> Result<Option<Credentials>> {
    let entry = config.get("auths").and_then(|a| {
        a.get(host)
            .or_else(|| a.get(format!("https://{host}")))
            .or_else(|| a.get(format!("http://{host}")))
    });
    let Some(entry) = entry else {
        return Ok(None);
    };
    if let Some(auth) = entry.get("auth").and_then(Value::as_str)
        && !auth.is_empty()
    {
        // Padding optional, as Docker's own reader accepts.
        let decoded = STANDARD_PAD_INDIFFERENT
            .decode(auth)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                Error::Credentials(format!(
                    "`auths.{host}.auth` in `{}` is not base64 of `user:password`",
                    path.display()
                ))
            })?;
        let (u, p) = decoded.split_once(':').ok_or_else(|| {
            Error::Credentials(format!(
                "`auths.{host}.auth` in `{}` has no `:`",
                path.display()
            ))
        })?;
        return Ok(Some(Credentials {
            username: u.to_owned(),
            password: p.to_owned(),
        }));
    }
    if let Some(token) = entry.get("identitytoken").and_then(Value::as_str) {
        return Ok(Some(Credentials {
            username: "<token>".into(),
            password: token.to_owned(),
        }));
    }
    Ok(None)
}

/// Save `creds` for `host` (through the helper when one is configured).
pub fn store(host: &str, creds: &Credentials) -> Result<()> {
    let mut config = read_config()?;
    if let Some(helper) = helper_for(&config, host) {
        let input =
            json!({"ServerURL": host, "Username": creds.username, "Secret": creds.password});
        run_helper(&helper, "store", &input.to_string())?;
        return Ok(());
    }
    if !config.is_object() {
        config = json!({});
    }
    let auths = config
        .as_object_mut()
        .expect("an object")
        .entry("auths")
        .or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    auths[host] = json!({
        "auth": BASE64.encode(format!("{}:{}", creds.username, creds.password).as_bytes())
    });
    write_config(&config)
}

/// Forget the credentials for `host`; whether there were any.
pub fn erase(host: &str) -> Result<bool> {
    let mut config = read_config()?;
    if let Some(helper) = helper_for(&config, host) {
        run_helper(&helper, "erase", host)?;
        return Ok(true);
    }
    let removed = config
        .get_mut("auths")
        .and_then(Value::as_object_mut)
        .map(|a| {
            [
                host.to_owned(),
                format!("https://{host}"),
                format!("http://{host}"),
            ]
            .iter()
            .filter(|k| a.remove(k.as_str()).is_some())
            .count()
                > 0
        })
        .unwrap_or(false);
    if removed {
        write_config(&config)?;
    }
    Ok(removed)
}
