//! End-to-end tests of remote hosts (issue 16): `duckc -H` and `DUCKC_HOST` through the real
//! OpenSSH client to a real `sshd` (Debian's openssh-server) that each test starts on
//! 127.0.0.1, on a free port, with host and user keys it makes in a directory of its own. The
//! remote user is root (the test's sshd permits key logins for root only) and the remote duckc
//! is the binary under test, with a store of its own: "local" and "remote" are two stores on
//! this machine, and everything between them crosses the ssh session.

mod common;

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pty::Pty;
use common::store::load_busybox;
use common::{duckc_bin, ok, require_root, require_tool};

/// A private sshd and the client configuration to reach it; stopped and removed on drop,
/// however the test ends.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn keygen(path: &Path) {
    ok(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "duckc-test", "-f"])
        .arg(path));
}

impl Sshd {
    fn start(name: &str) -> Option<Sshd> {
        if !require_root() || !require_tool("umoci") || !require_tool("ssh") {
            return None;
        }
        assert!(
            Path::new("/usr/sbin/sshd").is_file(),
            "sshd is missing: install Debian's openssh-server (.ci/run does)"
        );
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("remote")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        keygen(&dir.join("host_key"));
        keygen(&dir.join("id"));
        keygen(&dir.join("other_id"));
        std::fs::copy(dir.join("id.pub"), dir.join("authorized_keys")).unwrap();
        // sshd run as root wants its privilege separation directory, as Debian's service has it.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile {d}/authorized_keys\nPermitRootLogin prohibit-password\n\
                 AllowUsers root\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes no\nPrintMotd no\nPrintLastLog no\nLogLevel ERROR\n"
            ),
        )
        .unwrap();
        let host_pub = std::fs::read_to_string(dir.join("host_key.pub")).unwrap();
        let mut fields = host_pub.split_whitespace();
        let (kind, key) = (fields.next().unwrap(), fields.next().unwrap());
        std::fs::write(
            dir.join("known_hosts"),
            format!("[127.0.0.1]:{port} {kind} {key}\n"),
        )
        .unwrap();
        for (file, id) in [("ssh_config", "id"), ("ssh_config_other", "other_id")] {
            std::fs::write(
                dir.join(file),
                format!(
                    "Host *\n  IdentityFile {d}/{id}\n  IdentitiesOnly yes\n  IdentityAgent none\n  \
                     UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
                     StrictHostKeyChecking yes\n  ConnectTimeout 20\n"
                ),
            )
            .unwrap();
        }
        let log = File::create(dir.join("sshd.log")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(dir.join("sshd_config"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start: {}",
                std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        for store in ["local", "remote"] {
            std::fs::create_dir_all(dir.join(store)).unwrap();
        }
        Some(Sshd { dir, port, child })
    }

    fn url(&self) -> String {
        format!("ssh://root@127.0.0.1:{}", self.port)
    }

    fn local(&self) -> PathBuf {
        self.dir.join("local")
    }

    fn remote(&self) -> PathBuf {
        self.dir.join("remote")
    }

    /// `duckc` on the local side: the test's ssh configuration, its own hosts file.
    fn duckc(&self) -> Command {
        let mut cmd = Command::new(duckc_bin());
        cmd.env("DUCKC_STORE", self.local())
            .env(
                "DUCKC_SSH_COMMAND",
                format!("ssh -F {}/ssh_config", self.dir.display()),
            )
            .env("XDG_CONFIG_HOME", self.dir.join("config"))
            .env("NO_COLOR", "1")
            .env_remove("DUCKC_HOST")
            .env_remove("SSH_AUTH_SOCK")
            .env_remove("DUCKC_LOG");
        cmd
    }

    /// `duckc host add NAME URL --duckc BIN --remote-store REMOTE-STORE`.
    fn add_host(&self, name: &str, url: &str, duckc: &Path) {
        ok(self
            .duckc()
            .args(["host", "add", name, url, "--duckc"])
            .arg(duckc)
            .arg("--remote-store")
            .arg(self.remote()));
    }

    /// The usual setup: host `box` is this sshd with the duckc under test.
    fn with_box(name: &str) -> Option<Sshd> {
        let sshd = Sshd::start(name)?;
        sshd.add_host("box", &sshd.url(), &duckc_bin());
        Some(sshd)
    }

    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .duckc()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn must(&self, args: &[&str]) -> (String, String) {
        let (code, out, err) = self.run(args);
        assert_eq!(code, 0, "duckc {args:?}\nstdout:\n{out}\nstderr:\n{err}");
        (out, err)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Containers a failed test left running, on either side, go first.
        for store in [self.local(), self.remote()] {
            let Ok(out) = self
                .duckc()
                .arg("--store")
                .arg(&store)
                .args(["ps", "-aq"])
                .output()
            else {
                continue;
            };
            let ids = String::from_utf8_lossy(&out.stdout).into_owned();
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let _ = self
                    .duckc()
                    .arg("--store")
                    .arg(&store)
                    .args(["rm", "-f"])
                    .args(&ids)
                    .output();
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A diagnostic with miette's line wrapping undone.
fn flat(err: &str) -> String {
    err.split_whitespace()
        .filter(|w| *w != "|")
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn verbs_run_remotely_with_their_output_exit_codes_and_clear_errors() {
    let Some(sshd) = Sshd::with_box("verbs") else {
        return;
    };
    load_busybox(&sshd.remote());

    // Named hosts.
    let (ls, _) = sshd.must(&["host", "ls"]);
    assert!(ls.contains("box") && ls.contains(&sshd.url()), "{ls}");

    // The remote store answers, not the local one (which is empty).
    let (images, _) = sshd.must(&["-H", "box", "images"]);
    assert!(images.contains("busybox"), "{images}");
    let (local, _) = sshd.must(&["images"]);
    assert!(!local.contains("busybox"), "{local}");

    // Output on the right streams, and the exit code of the remote command.
    let (code, out, err) = sshd.run(&[
        "-H",
        "box",
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo to-out; echo to-err >&2; exit 7",
    ]);
    assert_eq!((code, out.trim()), (7, "to-out"), "{err}");
    assert!(err.contains("to-err"), "{err}");

    // Arguments arrive as they were given: nothing is shell syntax on the other side.
    let (out, _) = sshd.must(&[
        "--host=box",
        "run",
        "--rm",
        "busybox",
        "echo",
        "a  b",
        "$(touch /tmp/pwned)",
        "it's;",
        "`id`",
    ]);
    assert_eq!(out, "a  b $(touch /tmp/pwned) it's; `id`\n");

    // DUCKC_HOST, and a remote command's failure with its own diagnostic.
    let out = sshd
        .duckc()
        .env("DUCKC_HOST", "box")
        .args(["rm", "no-such-container"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no-such-container"),
        "{out:?}"
    );

    // A remote duckc of another version.
    let old = sshd.dir.join("old-duckc");
    std::fs::write(&old, "#!/bin/sh\necho 'duckc 0.0.1 protocol 1'\n").unwrap();
    ok(Command::new("chmod").arg("755").arg(&old));
    sshd.add_host("old", &sshd.url(), &old);
    let (code, _, err) = sshd.run(&["-H", "old", "ps"]);
    let err = flat(&err);
    assert_ne!(code, 0);
    assert!(
        err.contains("old runs duckc 0.0.1")
            && err.contains(&format!("this is duckc {}", env!("CARGO_PKG_VERSION")))
            && err.contains("help:"),
        "{err}"
    );

    // A remote without duckc.
    sshd.add_host("bare", &sshd.url(), Path::new("/nonexistent/duckc"));
    let (code, _, err) = sshd.run(&["-H", "bare", "ps"]);
    let err = flat(&err);
    assert_ne!(code, 0);
    assert!(
        err.contains("`/nonexistent/duckc` is not found on bare") && err.contains("help:"),
        "{err}"
    );

    // An unreachable host (nothing listens on the port).
    let down = format!("ssh://root@127.0.0.1:{}", free_port());
    let (code, _, err) = sshd.run(&["-H", &down, "ps"]);
    assert_ne!(code, 0);
    assert!(
        flat(&err).contains(&format!("cannot reach {down} over ssh")) && err.contains("help:"),
        "{err}"
    );

    // A key the host does not accept.
    let out = sshd
        .duckc()
        .env(
            "DUCKC_SSH_COMMAND",
            format!("ssh -F {}/ssh_config_other", sshd.dir.display()),
        )
        .args(["-H", "box", "ps"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("box refused the ssh login") && err.contains("authorized_keys"),
        "{err}"
    );

    // Bad host names and addresses.
    let (code, _, err) = sshd.run(&["-H", "nosuch", "ps"]);
    assert!(
        code != 0 && flat(&err).contains("unknown host `nosuch`"),
        "{err}"
    );
    let (code, _, err) = sshd.run(&["-H", "ssh://-oProxyCommand=touch", "ps"]);
    assert!(code != 0 && err.contains("invalid host"), "{err}");
    let (code, _, err) = sshd.run(&["-H", "tcp://127.0.0.1:2375", "ps"]);
    assert!(code != 0 && flat(&err).contains("only over ssh"), "{err}");

    sshd.must(&["host", "rm", "old"]);
    let (ls, _) = sshd.must(&["host", "ls"]);
    assert!(!ls.contains("old-duckc"), "{ls}");
}

#[test]
fn run_it_remotely_has_a_terminal_its_size_exit_codes_and_ctrl_c() {
    let Some(sshd) = Sshd::with_box("tty") else {
        return;
    };
    load_busybox(&sshd.remote());

    // The remote container's terminal has this terminal's size; the exit code comes back.
    let pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args([
        "-H",
        "box",
        "run",
        "-it",
        "--rm",
        "busybox",
        "sh",
        "-c",
        // The runtime sets the size of a container's terminal just after starting it (a
        // local `run -it` has the same window): ask again until it is there.
        "for i in 1 2 3 4 5 6 7 8 9 10; do s=$(stty size 2>/dev/null) && break; sleep 0.3; \
         done; echo size=$s; tty; exit 7",
    ]);
    let mut child = pty.spawn(cmd);
    assert_eq!(child.wait().unwrap().code(), Some(7), "{}", pty.text());
    pty.wait_for("size=33 111");
    pty.wait_for("/dev/pts/");

    // ctrl-c typed here interrupts the process in the remote container.
    let mut pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args([
        "-H",
        "box",
        "run",
        "-it",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "trap 'echo got-int; exit 42' INT; echo ready; while :; do sleep 1; done",
    ]);
    let mut child = pty.spawn(cmd);
    pty.wait_for("ready");
    pty.master.write_all(b"\x03").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(42), "{}", pty.text());
    pty.wait_for("got-int");

    // `logs -f` follows on a remote terminal; ctrl-c ends it with the exit code it has when
    // run there directly.
    sshd.must(&[
        "-H",
        "box",
        "run",
        "-d",
        "--name",
        "follow",
        "busybox",
        "sh",
        "-c",
        "echo line-one; sleep 1000",
    ]);
    let mut codes = Vec::new();
    for remote in [true, false] {
        let mut pty = Pty::new();
        let mut cmd = sshd.duckc();
        if remote {
            cmd.args(["-H", "box"]);
        } else {
            cmd.env("DUCKC_STORE", sshd.remote());
        }
        cmd.args(["logs", "-f", "follow"]);
        let mut child = pty.spawn(cmd);
        pty.wait_for("line-one");
        pty.master.write_all(b"\x03").unwrap();
        // As a shell reports it: a process killed by signal N exits 128+N.
        let status = child.wait().unwrap();
        codes.push(status.code().or(status.signal().map(|s| 128 + s)));
    }
    assert_eq!(codes[0], codes[1], "remote, then local");
    assert_ne!(codes[0], Some(255));

    // `exec -it` in the running container: a terminal there, its exit code here.
    let pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args([
        "-H",
        "box",
        "exec",
        "-it",
        "follow",
        "sh",
        "-c",
        "tty; exit 5",
    ]);
    let mut child = pty.spawn(cmd);
    assert_eq!(child.wait().unwrap().code(), Some(5), "{}", pty.text());
    pty.wait_for("/dev/pts/");
    sshd.must(&["-H", "box", "rm", "-f", "follow"]);
}

/// The local digest of `name` in `store`.
fn digest(sshd: &Sshd, host: Option<&str>, name: &str) -> String {
    let mut args = Vec::new();
    if let Some(h) = host {
        args.extend(["-H", h]);
    }
    args.extend(["inspect", "--format", "{{.Digest}}", name]);
    let (out, _) = sshd.must(&args);
    out.trim().to_owned()
}

/// `sent N blob(s), B bytes; …` → (N, B).
fn sent(err: &str) -> (u64, u64) {
    let line = err
        .lines()
        .find(|l| l.starts_with("sent ") || l.starts_with("received "))
        .unwrap_or_else(|| panic!("no transfer summary in\n{err}"));
    let nums: Vec<u64> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (nums[0], nums[1])
}

#[test]
fn images_move_over_ssh_with_their_digests_and_only_missing_blobs() {
    let Some(sshd) = Sshd::with_box("push") else {
        return;
    };
    load_busybox(&sshd.local());
    let want = digest(&sshd, None, "busybox:latest");

    // A session cut in the middle of the blobs: nothing tagged, nothing half-stored.
    let cut = sshd.dir.join("cut-ssh");
    std::fs::write(
        &cut,
        format!(
            "#!/bin/sh\ndd bs=1 count=300000 status=none | ssh -F {}/ssh_config \"$@\"\n",
            sshd.dir.display()
        ),
    )
    .unwrap();
    ok(Command::new("chmod").arg("755").arg(&cut));
    let out = sshd
        .duckc()
        .env("DUCKC_SSH_COMMAND", &cut)
        .args(["push", "ssh://box/busybox:latest"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("help:") && err.contains("again"), "{err}");
    let (code, _, _) = sshd.run(&["-H", "box", "inspect", "busybox:latest"]);
    assert_ne!(code, 0, "a cut push must not tag the image");
    sshd.must(&["-H", "box", "verify"]);
    let tmp_left = std::fs::read_dir(sshd.remote().join("tmp"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(tmp_left, 0, "a partial blob was left in the remote store");

    // The rerun completes; the image runs there with the same digest.
    let (_, err) = sshd.must(&["push", "ssh://box/busybox:latest"]);
    let (blobs, bytes) = sent(&err);
    assert!(blobs >= 1 && bytes > 0, "{err}");
    assert_eq!(digest(&sshd, Some("box"), "busybox:latest"), want);
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "busybox", "echo", "ran-there"]);
    assert_eq!(out, "ran-there\n");

    // Pushing again sends nothing.
    let (_, err) = sshd.must(&["push", "ssh://box/busybox:latest"]);
    assert_eq!(sent(&err), (0, 0), "{err}");

    // Pulling back into an empty store gives the same digest.
    let fresh = sshd.dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    let out = sshd
        .duckc()
        .env("DUCKC_STORE", &fresh)
        .args(["pull", "ssh://box/busybox:latest"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let (code, got, _) = {
        let o = sshd
            .duckc()
            .env("DUCKC_STORE", &fresh)
            .args(["inspect", "--format", "{{.Digest}}", "busybox:latest"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).trim().to_owned(),
            (),
        )
    };
    assert_eq!((code, got), (Some(0), want.clone()));

    // By digest: recorded under it, not tagged.
    let by_digest = sshd.dir.join("by-digest");
    std::fs::create_dir_all(&by_digest).unwrap();
    let pinned = format!("busybox@{want}");
    let out = sshd
        .duckc()
        .env("DUCKC_STORE", &by_digest)
        .args(["pull", &format!("ssh://box/{pinned}")])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let o = sshd
        .duckc()
        .env("DUCKC_STORE", &by_digest)
        .args(["inspect", "--format", "{{.Digest}}", &pinned])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), want, "{o:?}");

    // A name that is not there, on either side.
    let (code, _, err) = sshd.run(&["pull", "ssh://box/nothing:here"]);
    assert!(code != 0 && err.contains("nothing"), "{err}");
    let (code, _, err) = sshd.run(&["push", "ssh://box/nothing:here"]);
    assert!(
        code != 0 && err.contains("no image `nothing:here`"),
        "{err}"
    );
    let (code, _, err) = sshd.run(&["push", "ssh://box"]);
    assert!(code != 0 && err.contains("names no image"), "{err}");
}

#[test]
fn build_with_a_local_context_sends_only_what_it_copies_and_then_only_edits() {
    let Some(sshd) = Sshd::with_box("build") else {
        return;
    };
    // examples/hello, with the static busybox its fetch script would put there.
    let ctx = sshd.dir.join("hello");
    std::fs::create_dir_all(&ctx).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    for f in ["env.kdl", "hello.sh"] {
        std::fs::copy(example.join(f), ctx.join(f)).unwrap();
    }
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    // Not copied by any step: never sent.
    std::fs::write(ctx.join("notes.txt"), "x".repeat(50_000)).unwrap();
    let spec = ctx.join("env.kdl");
    let spec = spec.to_str().unwrap();

    let (out, err) = sshd.must(&["-H", "box", "build", spec]);
    let (files, bytes) = sent(&err);
    let busybox = std::fs::metadata("/bin/busybox").unwrap().len();
    let small = std::fs::metadata(ctx.join("env.kdl")).unwrap().len()
        + std::fs::metadata(ctx.join("hello.sh")).unwrap().len();
    assert_eq!((files, bytes), (3, busybox + small), "{err}\n{out}");
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert!(out.starts_with("Hello from duckc, Linux"), "{out}");

    // One edited file: that file alone crosses.
    let edited = "#!/bin/sh\necho \"edited: $GREETING\"\n";
    std::fs::write(ctx.join("hello.sh"), edited).unwrap();
    let (_, err) = sshd.must(&["-H", "box", "build", spec]);
    assert_eq!(sent(&err), (1, edited.len() as u64), "{err}");
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert_eq!(out, "edited: Hello from duckc\n");

    // Nothing edited: nothing sent; a failing build's exit code comes back.
    let (_, err) = sshd.must(&["-H", "box", "build", spec]);
    assert_eq!(sent(&err), (0, 0), "{err}");
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"bad\" {\n    from \"std/scratch:base\"\n    run \"/no/such/program\"\n}\n",
    )
    .unwrap();
    let (code, _, err) = sshd.run(&["-H", "box", "build", spec]);
    assert!(code != 0 && sent(&err).0 == 1, "{err}");
    let (code, _, err) = sshd.run(&["-H", "box", "build", spec, "-o", "oci:/tmp/x"]);
    assert!(
        code != 0 && flat(&err).contains("would write on the remote host"),
        "{err}"
    );

    // A file saved while it is sent: the build stops and says so; the rerun builds.
    std::fs::copy(example.join("env.kdl"), ctx.join("env.kdl")).unwrap();
    std::fs::write(ctx.join("hello.sh"), "#!/bin/sh\necho third\n").unwrap();
    let editor = sshd.dir.join("edit-ssh");
    std::fs::write(
        &editor,
        format!(
            "#!/bin/sh\n(IFS= read -r offer; echo 'echo fourth' >> {}; printf '%s\\n' \"$offer\"; \
             exec cat) | ssh -F {}/ssh_config \"$@\"\n",
            ctx.join("hello.sh").display(),
            sshd.dir.display()
        ),
    )
    .unwrap();
    ok(Command::new("chmod").arg("755").arg(&editor));
    let out = sshd
        .duckc()
        .env("DUCKC_SSH_COMMAND", &editor)
        .args(["-H", "box", "build", spec])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = flat(&String::from_utf8_lossy(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("hello.sh` changed while it was sent") && err.contains("help:"),
        "{err}"
    );
    sshd.must(&["-H", "box", "build", spec]);
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert_eq!(out, "third\nfourth\n");
}
