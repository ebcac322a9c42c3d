//! Remote hosts over ssh: `duckc -H HOST VERB …` runs `duckc VERB …` on HOST through the
//! system's OpenSSH client, after a version handshake, with the caller's terminal and exit code.
//!
//! ssh joins its command arguments with spaces and hands the line to the remote user's shell,
//! so every argument is quoted here for a POSIX shell: a name or a path never becomes shell
//! syntax on the other side. The remote line first checks that duckc is there and is this
//! version (`duckc remote-hello`), and says what is wrong on standard error behind a marker
//! byte that this side turns into a diagnostic naming the host.

pub mod build;
pub mod hosts;
pub mod transfer;

use std::ffi::{OsStr, OsString};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, ExitCode, Stdio};
use std::thread::JoinHandle;

use miette::miette;

pub use hosts::Host;

/// Bumped when the handshake or the transfer protocol changes.
pub const PROTOCOL: u32 = 2;

/// What `duckc remote-hello` prints: both sides must print the same line.
pub fn hello_line() -> String {
    format!("duckc {} protocol {PROTOCOL}", env!("CARGO_PKG_VERSION"))
}

/// Starts the remote line's reports on standard error (ASCII record separator).
const MARKER: u8 = 0x1e;

/// `arg` as one word for a POSIX shell: single-quoted, each `'` written as `'\''`.
pub fn quote(arg: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(arg.len() + 2);
    out.push(b'\'');
    for &b in arg {
        if b == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(b);
        }
    }
    out.push(b'\'');
    out
}

/// The remote shell line that runs `duckc ARGS` (with the host's `--store`), after checking
/// that duckc is there and speaks this version when `check` is set.
fn remote_line(host: &Host, args: &[OsString], check: bool, tty: bool) -> OsString {
    // A `DUCKC_HOST` in the remote user's shell start-up files must not send it on again.
    let mut line = b"unset DUCKC_HOST; ".to_vec();
    // ssh asks for a terminal of this one's size, but sshd may apply it after the command has
    // started (and a container's terminal copies the size once, when it starts): set it first.
    if tty
        && let Ok(ws) = rustix::termios::tcgetwinsize(rustix::stdio::stdin())
        && ws.ws_row > 0
        && ws.ws_col > 0
    {
        line.extend_from_slice(
            format!("stty rows {} cols {} 2>/dev/null; ", ws.ws_row, ws.ws_col).as_bytes(),
        );
    }
    line.extend_from_slice(b"D=");
    line.extend(quote(host.duckc.as_bytes()));
    line.extend_from_slice(b"; ");
    if check {
        line.extend_from_slice(
            b"command -v \"$D\" >/dev/null 2>&1 || { printf '\\036duckc-remote missing\\n' >&2; exit 127; }; \
              v=$(\"$D\" remote-hello 2>/dev/null) || v=; [ \"$v\" = ",
        );
        line.extend(quote(hello_line().as_bytes()));
        line.extend_from_slice(
            b" ] || { printf '\\036duckc-remote version %s\\n' \"$v\" >&2; exit 125; }; ",
        );
    }
    // Not `exec`: a duckc killed by a signal (ctrl-c on a remote terminal) would make ssh
    // exit 255; the shell reports it as 128+N, as a local shell does. The trap keeps the shell
    // alive to report it (a caught signal is reset to the default in the child).
    line.extend_from_slice(b"trap : INT QUIT TERM HUP; \"$D\"");
    // `--store` given with `-H` names the remote store and wins over the host's.
    let given = args
        .iter()
        .take_while(|a| a.as_bytes().starts_with(b"-"))
        .any(|a| a == "--store" || a.as_bytes().starts_with(b"--store="));
    if let Some(store) = host.store.as_ref().filter(|_| !given) {
        line.extend_from_slice(b" --store ");
        line.extend(quote(store.as_bytes()));
    }
    for a in args {
        line.push(b' ');
        line.extend(quote(a.as_bytes()));
    }
    line.extend_from_slice(b"; exit $?");
    OsString::from_vec(line)
}

/// The ssh client command for `host` running `line`: `ssh`, or `$DUCKC_SSH_COMMAND` (run by
/// `sh`, as git runs `GIT_SSH_COMMAND`, for options such as `-F FILE` or `-i KEY`).
fn ssh(host: &Host, tty: bool, line: OsString) -> Command {
    let mut args: Vec<OsString> = vec!["-o".into(), "BatchMode=yes".into()];
    if tty {
        // A terminal on the remote side; `~.` and friends go to the container, not to ssh,
        // and no "Connection to … closed" after the command (the handshake, in a session of
        // its own, already reported what could go wrong with the connection).
        args.extend(["-tt".into(), "-q".into(), "-e".into(), "none".into()]);
    } else {
        args.push("-T".into());
    }
    if let Some(port) = host.port {
        args.extend(["-p".into(), port.to_string().into()]);
    }
    if let Some(user) = &host.user {
        args.extend(["-l".into(), user.into()]);
    }
    args.extend(["--".into(), host.host.clone().into(), line]);
    match std::env::var_os("DUCKC_SSH_COMMAND").filter(|c| !c.is_empty()) {
        Some(custom) => {
            let mut script = custom.into_vec();
            script.extend_from_slice(b" \"$@\"");
            let mut cmd = Command::new("sh");
            cmd.arg("-c")
                .arg(OsString::from_vec(script))
                .arg("duckc-ssh")
                .args(args);
            cmd
        }
        None => {
            let mut cmd = Command::new("ssh");
            cmd.args(args);
            cmd
        }
    }
}

/// A running ssh session whose standard error is watched for the remote line's reports.
pub struct Session {
    pub child: Child,
    stderr: Option<JoinHandle<StderrSeen>>,
    host: Host,
}

#[derive(Default)]
struct StderrSeen {
    /// The remote line's report (`missing`, `version …`), if it made one.
    report: Option<String>,
    /// The start of what else came on standard error (ssh's own messages are there).
    text: Vec<u8>,
}

/// Copy `from` to our standard error, except a first line that starts with [`MARKER`].
fn watch_stderr(mut from: impl Read) -> StderrSeen {
    let mut seen = StderrSeen::default();
    let mut first = Vec::new();
    let mut first_done = false;
    let mut buf = [0u8; 8192];
    let mut err = std::io::stderr();
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let mut chunk = &buf[..n];
        if !first_done {
            first.extend_from_slice(chunk);
            if first.first().is_some_and(|b| *b != MARKER) || first.contains(&b'\n') {
                first_done = true;
                if first[0] == MARKER {
                    let end = first
                        .iter()
                        .position(|b| *b == b'\n')
                        .unwrap_or(first.len());
                    seen.report = Some(String::from_utf8_lossy(&first[1..end]).into_owned());
                    first.drain(..(end + 1).min(first.len()));
                }
                chunk = &first;
            } else {
                continue;
            }
        }
        if seen.text.len() < 8192 {
            seen.text.extend_from_slice(&chunk[..chunk.len().min(8192)]);
        }
        let _ = err.write_all(chunk);
        let _ = err.flush();
        if !first.is_empty() {
            first.clear();
        }
    }
    if !first_done && first.first() == Some(&MARKER) {
        seen.report = Some(String::from_utf8_lossy(&first[1..]).trim_end().to_owned());
    } else if !first_done {
        let _ = err.write_all(&first);
    }
    seen
}

impl Session {
    /// Start `duckc ARGS` on `host` (checked first unless `check` is false).
    pub fn start(
        host: &Host,
        args: &[OsString],
        tty: bool,
        check: bool,
        stdin: Stdio,
        stdout: Stdio,
    ) -> miette::Result<Session> {
        let mut cmd = ssh(host, tty, remote_line(host, args, check, tty));
        cmd.stdin(stdin).stdout(stdout).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| {
            miette!(
                help = "install the OpenSSH client (Debian: `apt-get install openssh-client`)",
                "cannot run `ssh` to reach {}: {e}",
                host.label
            )
        })?;
        let from = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || watch_stderr(from));
        Ok(Session {
            child,
            stderr: Some(stderr),
            host: host.clone(),
        })
    }

    /// Wait for the remote command: its exit code, or the reason it never ran.
    pub fn finish(mut self) -> miette::Result<u8> {
        let status = self
            .child
            .wait()
            .map_err(|e| miette!("cannot wait for ssh: {e}"))?;
        let seen = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        let host = &self.host;
        if let Some(report) = &seen.report {
            if report == "duckc-remote missing" {
                return Err(miette!(
                    help = format!(
                        "install duckc {} on {} (on the PATH of non-interactive ssh sessions), \
                         or name its path: `duckc host add NAME URL --duckc PATH`",
                        env!("CARGO_PKG_VERSION"),
                        host.label
                    ),
                    "`{}` is not found on {}",
                    host.duckc,
                    host.label
                ));
            }
            if let Some(v) = report.strip_prefix("duckc-remote version") {
                let v = v.trim();
                let theirs = if v.is_empty() {
                    "a duckc that does not answer `remote-hello` (older, or not duckc)".to_owned()
                } else {
                    v.split(" protocol").next().unwrap_or(v).to_owned()
                };
                return Err(miette!(
                    help = format!(
                        "install duckc {} on {}: both sides must run the same version",
                        env!("CARGO_PKG_VERSION"),
                        host.label
                    ),
                    "{} runs {theirs}, but this is duckc {}",
                    host.label,
                    env!("CARGO_PKG_VERSION")
                ));
            }
        }
        if let Some(sig) = status.signal() {
            return Ok(128u8.wrapping_add(sig as u8));
        }
        let code = status.code().unwrap_or(1);
        if code == 255 {
            let text = String::from_utf8_lossy(&seen.text);
            if let Some(e) = ssh_failure(host, &text) {
                return Err(e);
            }
        }
        Ok(code as u8)
    }
}

/// ssh exits 255 for its own failures and prints why; turn the usual ones into diagnostics.
fn ssh_failure(host: &Host, text: &str) -> Option<miette::Report> {
    let dest = {
        let mut d = String::from("ssh ");
        if let Some(p) = host.port {
            d.push_str(&format!("-p {p} "));
        }
        if let Some(u) = &host.user {
            d.push_str(u);
            d.push('@');
        }
        d.push_str(&host.host);
        d.push_str(" true");
        d
    };
    if text.contains("Permission denied") {
        return Some(miette!(
            help = format!(
                "duckc logs in with your ssh keys and agent, without prompting: put your public \
                 key in the remote user's ~/.ssh/authorized_keys (`ssh-copy-id`), load it \
                 (`ssh-add`), then check with `{dest}`"
            ),
            "{} refused the ssh login",
            host.label
        ));
    }
    if text.contains("Host key verification failed") || text.contains("HOST IDENTIFICATION") {
        return Some(miette!(
            help = format!("connect once with `{dest}` to check and accept the host's key"),
            "the ssh host key of {} is unknown or has changed",
            host.label
        ));
    }
    if text.contains("ssh:")
        || text.contains("Connection closed")
        || text.contains("Connection reset")
        || text.contains("kex_exchange")
    {
        return Some(miette!(
            help = format!(
                "check the host name, the port and the network, and that sshd runs there; \
                 try `{dest}`"
            ),
            "cannot reach {} over ssh",
            host.label
        ));
    }
    None
}

/// `duckc -H HOST ARGS…`: whether to ask ssh for a terminal. As locally, a terminal is only
/// used when this side has one on standard input and the verb attaches to a container
/// (`-t`, `start -a`, `attach`), or follows logs (so that ctrl-c reaches the remote side).
pub fn wants_terminal(matches: &clap::ArgMatches) -> bool {
    if !std::io::stdin().is_terminal() {
        return false;
    }
    let mut m = matches;
    let mut leaf = "";
    while let Some((name, sub)) = m.subcommand() {
        leaf = name;
        m = sub;
    }
    let flag = |id: &str| matches!(m.try_get_one::<bool>(id), Ok(Some(true)));
    leaf == "attach" || flag("tty") || (leaf == "start" && flag("attach")) || flag("follow")
}

/// The arguments after `-H VALUE` / `--host[=]VALUE` are taken out of the leading global
/// options: what the remote duckc is given.
pub fn strip_host_flag(args: impl Iterator<Item = OsString>) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut it = args.skip(1);
    let mut in_globals = true;
    while let Some(a) = it.next() {
        if in_globals {
            let b = a.as_bytes();
            if b == b"-H" || b == b"--host" {
                it.next();
                continue;
            }
            if b.starts_with(b"--host=") || (b.starts_with(b"-H") && b.len() > 2) {
                continue;
            }
            if b == b"--store" {
                out.push(a);
                if let Some(v) = it.next() {
                    out.push(v);
                }
                continue;
            }
            if !b.starts_with(b"-") {
                in_globals = false;
            }
        }
        out.push(a);
    }
    out
}

/// Run `duckc ARGS` on `host` as if here: this terminal, this exit code.
pub fn forward(host: &str, args: &[OsString], tty: bool) -> miette::Result<ExitCode> {
    let host = hosts::resolve(host)?;
    if tty {
        // With a terminal ssh merges the remote's standard error into its output, where the
        // handshake's report cannot be told apart: check in a session of its own first.
        let check = Session::start(
            &host,
            &[OsString::from("remote-hello")],
            false,
            true,
            Stdio::null(),
            Stdio::null(),
        )?;
        let code = check.finish()?;
        if code != 0 {
            return Ok(ExitCode::from(code));
        }
    }
    let session = Session::start(&host, args, tty, !tty, Stdio::inherit(), Stdio::inherit())?;
    // ctrl-c without a terminal reaches ssh, which ends; this side then reports its status.
    // SAFETY: changing signal dispositions; the child has already been started.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_IGN);
        libc::signal(libc::SIGQUIT, libc::SIG_IGN);
    }
    Ok(ExitCode::from(session.finish()?))
}

/// Whether `arg` is an `ssh://` address (push and pull take those without `-H`).
pub fn is_ssh_address(arg: &OsStr) -> bool {
    arg.as_bytes().starts_with(b"ssh://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(quote(b"a b"), b"'a b'");
        assert_eq!(quote(b"it's"), b"'it'\\''s'");
        assert_eq!(quote(b"$(id);`x`"), b"'$(id);`x`'");
    }

    #[test]
    fn the_remote_line_quotes_and_prefers_the_given_store() {
        let host = Host {
            label: "robot".into(),
            user: None,
            host: "robot".into(),
            port: None,
            duckc: "/opt/duck c".into(),
            store: Some("/data".into()),
        };
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        let line = remote_line(&host, &args(&["run", "a'b"]), false, false);
        let line = line.to_string_lossy();
        assert!(line.contains("D='/opt/duck c'"), "{line}");
        assert!(
            line.contains("\"$D\" --store '/data' 'run' 'a'\\''b'"),
            "{line}"
        );
        let line = remote_line(&host, &args(&["--store", "/x", "ps"]), false, false);
        assert!(!line.to_string_lossy().contains("/data"), "{line:?}");
    }

    #[test]
    fn host_flag_is_taken_out_of_the_globals_only() {
        let args = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(
            strip_host_flag(
                args(&["duckc", "-H", "robot", "--store", "/s", "run", "-H", "x"]).into_iter()
            ),
            args(&["--store", "/s", "run", "-H", "x"])
        );
        assert_eq!(
            strip_host_flag(args(&["duckc", "--host=robot", "-Hx", "ps"]).into_iter()),
            args(&["ps"])
        );
    }
}
