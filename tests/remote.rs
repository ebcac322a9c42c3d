//! End-to-end tests of remote hosts (issue 16): `duckc -H` and `DUCKC_HOST` through the real
//! OpenSSH client to a real `sshd` (Debian's openssh-server) that each test starts on
//! 127.0.0.1, on a free port, with host and user keys it makes in a directory of its own. The
//! remote user is a second local user the test creates (`useradd`, a home with the test's key
//! in `~/.ssh/authorized_keys`, a subordinate id range); the test's sshd lets only that user in,
//! so the remote duckc (the binary under test) runs **rootless** as it, with a store in its
//! home. "Local" is root's store on this machine, "remote" the user's, and everything between
//! them crosses the ssh session.

mod common;

use std::fs::File;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::pty::Pty;
use common::store::{busybox_layout, load_busybox};
use common::users::{ids, shadow_tool};
use common::{duckc_bin, ok, require_root, require_tool};

/// A private sshd, the local user it lets in, and the client configuration to reach it;
/// stopped and removed (the user too) on drop, however the test ends.
struct Sshd {
    dir: PathBuf,
    port: u16,
    child: Child,
    /// The remote user: made for this test, with a subordinate id range.
    user: String,
    uid: u32,
    gid: u32,
    /// The duckc binary the remote user runs (the one under test, or a copy it can execute).
    bin: PathBuf,
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

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

impl Sshd {
    fn start(name: &str) -> Option<Sshd> {
        if !require_root()
            || !require_tool("umoci")
            || !require_tool("ssh")
            || !require_tool("newuidmap")
            || !require_tool("useradd")
            || !require_tool("setpriv")
        {
            return None;
        }
        assert!(
            Path::new("/usr/sbin/sshd").is_file(),
            "sshd is missing: install Debian's openssh-server (.ci/run does)"
        );
        // Under /tmp, not the build directory: the remote user must reach its home in it.
        let dir = std::env::temp_dir().join(format!("duckc-remote-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        chmod(&dir, 0o755);
        keygen(&dir.join("host_key"));
        keygen(&dir.join("id"));
        keygen(&dir.join("other_id"));

        // The remote user: a home with the test's key, one subordinate range of 65536 ids (so
        // that rootless `run` and builds work there), a password that cannot be used but does
        // not lock the account (sshd without PAM refuses keys for locked accounts).
        let user = format!("drm{name}{}", std::process::id());
        let _ = shadow_tool(Command::new("userdel").arg(&user));
        let home = dir.join("home");
        shadow_tool(
            Command::new("useradd")
                .args(["-M", "-s", "/bin/sh", "-p", "*"])
                .args(["-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-d"])
                .arg(&home)
                .arg(&user),
        )
        .unwrap();
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Past useradd's own ranges and apart from tests/rootless.rs's (which start at 1e9).
        let start = 3_000_000_000 + ((u64::from(std::process::id()) * 8 + n) % 10_000) * 100_000;
        let range = format!("{start}-{}", start + 65_535);
        shadow_tool(Command::new("usermod").args([
            "--add-subuids",
            &range,
            "--add-subgids",
            &range,
            &user,
        ]))
        .unwrap();
        let (uid, gid) = ids(&user);
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir_all(home.join("store")).unwrap();
        std::fs::copy(dir.join("id.pub"), home.join(".ssh/authorized_keys")).unwrap();
        ok(Command::new("chown")
            .arg("-R")
            .arg(format!("{uid}:{gid}"))
            .arg(&home));
        chmod(&home, 0o755);
        chmod(&home.join(".ssh"), 0o700);
        chmod(&home.join(".ssh/authorized_keys"), 0o600);

        // sshd run as root wants its privilege separation directory, as Debian's service has it.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("sshd_config"),
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nPidFile {d}/sshd.pid\n\
                 AuthorizedKeysFile .ssh/authorized_keys\nPermitRootLogin no\n\
                 AllowUsers {user}\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 UsePAM no\nStrictModes yes\nPrintMotd no\nPrintLastLog no\nLogLevel ERROR\n"
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
        std::fs::create_dir_all(dir.join("local")).unwrap();
        let mut sshd = Sshd {
            dir,
            port,
            child,
            user,
            uid,
            gid,
            bin: duckc_bin(),
        };
        // The build directory may not be open to other users: then the user gets a copy.
        let reachable = sshd
            .as_user(&["--version"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !reachable {
            let copy = sshd.dir.join("duckc");
            std::fs::copy(duckc_bin(), &copy).unwrap();
            chmod(&copy, 0o755);
            sshd.bin = copy;
        }
        Some(sshd)
    }

    fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }

    fn local(&self) -> PathBuf {
        self.dir.join("local")
    }

    /// The remote user's store (in its home, owned by it).
    fn remote(&self) -> PathBuf {
        self.dir.join("home/store")
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

    /// `duckc --store REMOTE-STORE ARGS` run here directly as the remote user (no ssh), in the
    /// environment an ssh session gives it: what `-H` is compared with.
    fn as_user(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("setpriv");
        cmd.arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--init-groups", "--", "env", "-i"])
            .arg(format!("HOME={}", self.dir.join("home").display()))
            .arg("PATH=/usr/local/bin:/usr/bin:/bin")
            .arg("NO_COLOR=1")
            .arg(&self.bin)
            .arg("--store")
            .arg(self.remote())
            .args(args);
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
        sshd.add_host("box", &sshd.url(), &sshd.bin);
        Some(sshd)
    }

    /// The busybox image in the remote store, loaded there with `duckc -H box load -i LAYOUT`
    /// from a layout the remote user can read.
    fn load_busybox_remote(&self) {
        let layout = busybox_layout(&self.dir);
        ok(Command::new("chmod").arg("-R").arg("a+rX").arg(&layout));
        let layout = layout.to_str().unwrap().to_owned();
        self.must(&["-H", "box", "load", "-i", &layout]);
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

/// The ids `duckc ps -aq` lists with `cmd`.
fn containers(cmd: &mut Command) -> Vec<String> {
    cmd.output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

impl Drop for Sshd {
    fn drop(&mut self) {
        // Containers a failed test left running, on either side, go first: the local ones as
        // root, the remote ones as their user.
        let local = containers(self.duckc().args(["ps", "-aq"]));
        if !local.is_empty() {
            let _ = self.duckc().args(["rm", "-f"]).args(&local).output();
        }
        let remote = containers(&mut self.as_user(&["ps", "-aq"]));
        if !remote.is_empty() {
            let ids: Vec<&str> = remote.iter().map(String::as_str).collect();
            let _ = self.as_user(&[&["rm", "-f"], &ids[..]].concat()).output();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        // userdel also drops the user's /etc/subuid and /etc/subgid lines. A session's last
        // process may still be ending: then try again (shadow_tool itself waits out a locked
        // user database).
        for _ in 0..5 {
            if shadow_tool(Command::new("userdel").arg(&self.user)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn verbs_run_remotely_with_their_output_exit_codes_and_clear_errors() {
    let Some(sshd) = Sshd::with_box("verbs") else {
        return;
    };
    sshd.load_busybox_remote();

    // Named hosts.
    let (ls, _) = sshd.must(&["host", "ls"]);
    assert!(ls.contains("box") && ls.contains(&sshd.url()), "{ls}");

    // The remote duckc runs as the test's user, rootless, on the store in its home.
    let (facts, _) = sshd.must(&[
        "-H",
        "box",
        "version",
        "--format",
        "{{.Runtime.Rootless}} {{.Store}}",
    ]);
    assert_eq!(
        facts.trim(),
        format!("true {}", sshd.remote().display()),
        "the remote duckc is not the user's"
    );
    // Its container's root is that user on this machine.
    sshd.must(&[
        "-H", "box", "run", "-d", "--name", "who", "busybox", "sleep", "1000",
    ]);
    let (pid, _) = sshd.must(&["-H", "box", "inspect", "--format", "{{.State.Pid}}", "who"]);
    let owner = std::fs::metadata(format!("/proc/{}", pid.trim())).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.uid()
    });
    assert_eq!(owner.ok(), Some(sshd.uid), "pid {pid}");
    sshd.must(&["-H", "box", "rm", "-f", "who"]);

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
        err.contains(&format!("cannot reach {down} over ssh")) && err.contains("help:"),
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        err.contains("box refused the ssh login") && err.contains("authorized_keys"),
        "{err}"
    );

    // Bad host names and addresses.
    let (code, _, err) = sshd.run(&["-H", "nosuch", "ps"]);
    assert!(code != 0 && err.contains("unknown host `nosuch`"), "{err}");
    let (code, _, err) = sshd.run(&["-H", "ssh://-oProxyCommand=touch", "ps"]);
    assert!(code != 0 && err.contains("invalid host"), "{err}");
    let (code, _, err) = sshd.run(&["-H", "tcp://127.0.0.1:2375", "ps"]);
    assert!(code != 0 && err.contains("only over ssh"), "{err}");

    sshd.must(&["host", "rm", "old"]);
    let (ls, _) = sshd.must(&["host", "ls"]);
    assert!(!ls.contains("old-duckc"), "{ls}");
}

#[test]
fn run_it_remotely_has_a_terminal_its_size_exit_codes_and_ctrl_c() {
    let Some(sshd) = Sshd::with_box("tty") else {
        return;
    };
    sshd.load_busybox_remote();

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

    // Without a terminal here, ssh gets none: the remote duckc refuses `-it` as a local one
    // does, instead of a shell waiting forever for input.
    let (code, out, err) = sshd.run(&["-H", "box", "run", "-it", "--rm", "busybox", "sh"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the input device is not a TTY"), "{err}");

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
        let cmd = if remote {
            let mut cmd = sshd.duckc();
            cmd.args(["-H", "box", "logs", "-f", "follow"]);
            cmd
        } else {
            sshd.as_user(&["logs", "-f", "follow"])
        };
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
    let err = String::from_utf8_lossy(&out.stderr);
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
    let ctx = sshd.dir.join("hello");
    let spec = hello_context(&ctx);
    let spec = spec.to_str().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    // Not copied by any step: never sent.
    std::fs::write(ctx.join("notes.txt"), "x".repeat(50_000)).unwrap();

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
        code != 0 && err.contains("would write on the remote host"),
        "{err}"
    );
    let (code, _, err) = sshd.run(&["-H", "box", "build", spec, "--iidfile", "/tmp/x"]);
    assert!(
        code != 0 && err.contains("`--iidfile` would write on the remote host"),
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
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("hello.sh` changed while it was sent") && err.contains("help:"),
        "{err}"
    );
    sshd.must(&["-H", "box", "build", spec]);
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert_eq!(out, "third\nfourth\n");
}

/// The exit code as a shell reports it: 128+N for a process killed by signal N.
fn shell_code(status: std::process::ExitStatus) -> i32 {
    status
        .code()
        .or(status.signal().map(|s| 128 + s))
        .unwrap_or(-1)
}

#[test]
fn ctrl_z_start_a_and_signals_pass_through_a_remote_terminal() {
    let Some(sshd) = Sshd::with_box("sig") else {
        return;
    };
    sshd.load_busybox_remote();

    // ctrl-z and ctrl-\ typed here are signals to the process in the remote container (its
    // terminal turns them into SIGTSTP and SIGQUIT there); the shell's traps answer.
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
        "trap 'echo got-tstp' TSTP; trap 'echo got-quit; exit 44' QUIT; echo ready; \
         while :; do read -t 1 x; done",
    ]);
    let mut child = pty.spawn(cmd);
    pty.wait_for("ready");
    let mut master = pty.master.try_clone().unwrap();
    master.write_all(b"\x1a").unwrap();
    pty.wait_for("got-tstp");
    master.write_all(b"\x1c").unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(44), "{}", pty.text());
    pty.wait_for("got-quit");

    // A container killed by a signal: the same exit code over ssh, with a terminal and
    // without, as when the remote user runs it there.
    let killed = [
        "run",
        "--rm",
        "--init",
        "busybox",
        "sh",
        "-c",
        "kill -KILL $$",
    ];
    let there = shell_code(sshd.as_user(&killed).output().unwrap().status);
    assert_eq!(there, 137);
    let (code, _, err) = sshd.run(&[&["-H", "box"], &killed[..]].concat());
    assert_eq!(code, there, "{err}");
    let pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args(["-H", "box", "run", "-it", "--rm", "--init", "busybox"])
        .args(["sh", "-c", "tty; kill -TERM $$"]);
    let mut child = pty.spawn(cmd);
    assert_eq!(shell_code(child.wait().unwrap()), 143, "{}", pty.text());
    pty.wait_for("/dev/pts/");

    // `run -it … sh`, leave, then `start -a` over ssh: the terminal is attached with its input
    // and its size, ctrl-z reaches the shell, and its exit code comes back.
    let mut pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args([
        "-H", "box", "run", "-it", "--name", "again", "busybox", "sh",
    ]);
    let mut first = pty.spawn(cmd);
    pty.wait_for("# ");
    pty.type_in(b"exit\r");
    assert_eq!(first.wait().unwrap().code(), Some(0), "{}", pty.text());
    let mut pty = Pty::new();
    let mut cmd = sshd.duckc();
    cmd.args(["-H", "box", "start", "-a", "again"]);
    let mut again = pty.spawn(cmd);
    pty.wait_for("# ");
    pty.type_in(b"trap 'echo tstp-$((6*7))' TSTP; stty size; echo started-$((6*7))\r");
    pty.wait_for("started-42");
    pty.wait_for("33 111");
    pty.type_in(b"read -t 30 x\r");
    // The shell reads: a ctrl-z now interrupts the read and runs the trap.
    std::thread::sleep(Duration::from_millis(300));
    pty.type_in(b"\x1a");
    pty.wait_for("tstp-42");
    pty.type_in(b"exit 5\r");
    assert_eq!(again.wait().unwrap().code(), Some(5), "{}", pty.text());
    let (state, _) = sshd.must(&[
        "-H",
        "box",
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.ExitCode}}",
        "again",
    ]);
    assert_eq!(state.trim(), "exited 5");
    sshd.must(&["-H", "box", "rm", "again"]);
}

/// `sh` script at `path` that runs `ssh -F CONFIG "$@"` with `filter` between duckc and ssh
/// on the session's input.
fn ssh_wrapper(sshd: &Sshd, path: &Path, filter: &str) {
    std::fs::write(
        path,
        format!(
            "#!/bin/sh\n{filter} | ssh -F {}/ssh_config \"$@\"\n",
            sshd.dir.display()
        ),
    )
    .unwrap();
    chmod(path, 0o755);
}

/// examples/hello, with the static busybox its fetch script would put there, in `dir`.
fn hello_context(dir: &Path) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    for f in ["env.kdl", "hello.sh"] {
        std::fs::copy(example.join(f), dir.join(f)).unwrap();
    }
    std::fs::copy("/bin/busybox", dir.join("busybox")).unwrap();
    dir.join("env.kdl")
}

/// The /proc/locks lines about the file at `path` (by its inode).
fn locks_on(path: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let Ok(meta) = std::fs::metadata(path) else {
        return Vec::new();
    };
    let ino = format!(":{} ", meta.ino());
    std::fs::read_to_string("/proc/locks")
        .unwrap()
        .lines()
        .filter(|l| l.contains(&ino))
        .map(str::to_owned)
        .collect()
}

/// Whether some process waits for the flock on `path` (a `->` line in /proc/locks).
fn someone_waits_for(path: &Path) -> bool {
    locks_on(path).iter().any(|l| l.contains("->"))
}

#[test]
fn a_remote_build_brings_its_lock_back_survives_a_cut_and_holds_gc_off() {
    // Not "lock": shadow_tool takes "lock" in userdel's answer for a locked user database.
    let Some(sshd) = Sshd::with_box("pins") else {
        return;
    };
    let spec = hello_context(&sshd.dir.join("hello"));
    let spec = spec.to_str().unwrap();

    // The session cut while the context is sent (after 300000 bytes, inside busybox): an
    // error naming the host and what to do; nothing half-stored there; the rerun builds.
    let cut = sshd.dir.join("cut-ssh");
    ssh_wrapper(&sshd, &cut, "dd bs=1 count=300000 status=none");
    let out = sshd
        .duckc()
        .env("DUCKC_SSH_COMMAND", &cut)
        .args(["-H", "box", "build", spec])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("session to box ended") && err.contains("help:") && err.contains("again"),
        "{err}"
    );
    sshd.must(&["-H", "box", "verify"]);
    let tmp_left: Vec<_> = std::fs::read_dir(sshd.remote().join("tmp"))
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(tmp_left.is_empty(), "left in the remote tmp/: {tmp_left:?}");
    let (_, err) = sshd.must(&["-H", "box", "build", spec]);
    assert!(sent(&err).0 >= 1, "{err}");
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert!(out.starts_with("Hello from duckc"), "{out}");

    // A build that pins its base (a name with a registry host, here already in the remote
    // store) writes `duck.lock` there: it comes back next to the spec, as a local build
    // writes it.
    sshd.must(&[
        "-H",
        "box",
        "tag",
        "duckc-example/hello:latest",
        "127.0.0.1:5999/duck/hello:latest",
    ]);
    let pinned = digest(&sshd, Some("box"), "127.0.0.1:5999/duck/hello:latest");
    let ctx = sshd.dir.join("pinned");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"pinned\" {\n    from \"127.0.0.1:5999/duck/hello:latest\"\n    \
         tag \"remote/pinned:latest\"\n}\n",
    )
    .unwrap();
    let pspec = ctx.join("env.kdl");
    let pspec = pspec.to_str().unwrap();
    let (_, err) = sshd.must(&["-H", "box", "build", pspec]);
    let lock = std::fs::read_to_string(ctx.join("duck.lock"))
        .unwrap_or_else(|e| panic!("no duck.lock came back ({e}):\n{err}"));
    assert!(
        lock.contains("127.0.0.1:5999/duck/hello:latest") && lock.contains(&pinned),
        "{lock}"
    );
    assert!(err.contains("pinned by the build on box"), "{err}");
    // The lock is now sent with the spec, and a build that changes nothing leaves it alone.
    let (_, err) = sshd.must(&["-H", "box", "build", "--locked", pspec]);
    assert_eq!(sent(&err).0, 1, "{err}");
    assert!(!err.contains("pinned by the build on"), "{err}");
    assert_eq!(
        std::fs::read_to_string(ctx.join("duck.lock")).unwrap(),
        lock
    );

    // `gc` on the remote while a build there waits for its context: gc waits for the build's
    // lease, so the context files the remote already had (and did not ask for again) are
    // still there when the build lays them out. The session is held after the offer until
    // the test lets it go; the remote's answer (which files it wants) marks the moment the
    // build counts on the files it has. Judged by what happens, not by the lock itself: with
    // no lease, gc runs at once and removes those files, and the build fails once let go.
    std::fs::write(sshd.dir.join("hello/hello.sh"), "#!/bin/sh\necho held\n").unwrap();
    let go = sshd.dir.join("go");
    let answered = sshd.dir.join("answered");
    let held = sshd.dir.join("held-ssh");
    std::fs::write(
        &held,
        format!(
            "#!/bin/sh\n(IFS= read -r offer; printf '%s\\n' \"$offer\"; n=0; \
             until [ -e {go} ] || [ $n -ge 1200 ]; do sleep 0.05; n=$((n+1)); done; exec cat) \
             | ssh -F {dir}/ssh_config \"$@\" \
             | (IFS= read -r want; printf '%s\\n' \"$want\"; : > {answered}; exec cat)\n",
            go = go.display(),
            dir = sshd.dir.display(),
            answered = answered.display(),
        ),
    )
    .unwrap();
    chmod(&held, 0o755);
    let build = sshd
        .duckc()
        .env("DUCKC_SSH_COMMAND", &held)
        .args(["-H", "box", "build", spec])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !answered.exists() {
        assert!(
            Instant::now() < deadline,
            "the remote build never answered the offer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut gc = sshd
        .as_user(&["gc"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Either gc waits for the store's gc lock (the build's lease holds it: a shared flock),
    // or it runs at once (no lease).
    let gc_lock = sshd.remote().join("locks/gc.lock");
    while gc.try_wait().unwrap().is_none() && !someone_waits_for(&gc_lock) {
        assert!(Instant::now() < deadline, "gc neither ran nor waited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let gc_ran_first = gc.try_wait().unwrap().is_some();
    std::fs::write(&go, "").unwrap();
    let out = build.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the build failed after gc (gc ran while it waited: {gc_ran_first}):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!gc_ran_first, "gc ran while a remote build held its lease");
    assert!(gc.wait().unwrap().success());
    let (out, _) = sshd.must(&["-H", "box", "run", "--rm", "duckc-example/hello"]);
    assert_eq!(out, "held\n");
    // Once no build uses them they are a cache: that gc removed them, so the next build sends
    // them again.
    let (_, err) = sshd.must(&["-H", "box", "build", spec]);
    assert_eq!(sent(&err).0, 3, "{err}");
}

/// `duckc -H HOST build --dns … --dns-search … --dns-option … --add-host …`: the remote build's
/// steps get those `/etc/resolv.conf` and `/etc/hosts` lines, as a local build's do, and a bad
/// value is refused with the local build's message.
#[test]
fn a_remote_build_passes_the_dns_and_host_flags_to_its_steps() {
    let Some(sshd) = Sshd::with_box("dns") else {
        return;
    };
    let ctx = sshd.dir.join("dns");
    std::fs::create_dir_all(&ctx).unwrap();
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"dns\" {\n    from \"std/scratch:base\"\n    \
         copy \"busybox\" \"/bin/busybox\" chmod=\"0755\"\n    \
         run \"/bin/busybox\" \"--install\" \"-s\" \"/bin\"\n    \
         run \"cat /etc/resolv.conf /etc/hosts > /seen\"\n    \
         tag \"remote/dns:latest\"\n}\n",
    )
    .unwrap();
    let spec = ctx.join("env.kdl");
    let spec = spec.to_str().unwrap();
    sshd.must(&[&["-H", "box", "build"], &common::DNS_FLAGS[..], &[spec]].concat());
    let (seen, _) = sshd.must(&["-H", "box", "run", "--rm", "remote/dns", "cat", "/seen"]);
    for want in [
        "nameserver 10.0.0.2",
        "search lan.example",
        "options ndots:2",
    ] {
        assert!(seen.lines().any(|l| l == want), "`{want}` missing:\n{seen}");
    }
    assert!(
        seen.lines()
            .any(|l| l.starts_with("10.0.0.5") && l.contains("db.example")),
        "{seen}"
    );
    for bad in [
        &["--dns", "not-an-ip"][..],
        &["--add-host", "no-address"][..],
    ] {
        let (code, _, err) = sshd.run(&[&["-H", "box", "build"], bad, &[spec]].concat());
        assert!(
            code != 0 && err.contains(&format!("bad {}", bad[0])) && err.contains("help:"),
            "{err}"
        );
    }
}
