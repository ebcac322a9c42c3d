//! End-to-end tests of container networks for root (issue 15, item 2): the default bridge
//! (a container reaches a server the test runs on the host through its gateway), published
//! ports (`-p`, `-P`, `duckc port`, `ps`), user networks whose containers reach each other by
//! name and not another network's, `--network none`, clear errors for bad input, and
//! teardown that leaves nothing behind — after an exit, `rm -f`, and `kill -9` of duckc's
//! monitor and the container (the next command sweeps).
//!
//! Traffic goes only to loopback and to the networks duckc makes. They need root (CI runs
//! as root; elsewhere they skip with a note).

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use common::store::load_busybox;
use common::{must, require_root, require_tool, run};

/// The shared store (busybox loaded, plus `web:latest`: busybox that exposes port 80 and
/// serves `/www` with httpd), or `None` when the tests cannot run here.
fn store() -> Option<&'static Path> {
    if !require_root() || !require_tool("umoci") || !require_tool("nft") || !require_tool("ip") {
        return None;
    }
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    Some(STORE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge-store");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        assert_eq!(load_busybox(&dir), "busybox:latest");
        must(
            &dir,
            &[
                "run",
                "--network",
                "none",
                "--name",
                "web-base",
                "busybox",
                "sh",
                "-c",
                "mkdir -p /www && echo served-by-duckc > /www/index.html",
            ],
        );
        must(
            &dir,
            &[
                "commit",
                "-c",
                "EXPOSE 80",
                "-c",
                "CMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]",
                "web-base",
                "web:latest",
            ],
        );
        must(&dir, &["rm", "web-base"]);
        dir
    }))
}

/// A free TCP port on 127.0.0.1 (the kernel's pick; free again once the listener is gone).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// GET `/` from `127.0.0.1:port`, retrying while the server in the container starts.
fn http_get(port: u16) -> String {
    let mut last = String::new();
    for _ in 0..100 {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(mut s) => {
                let _ = s.write_all(b"GET /index.html HTTP/1.0\r\n\r\n");
                let mut body = String::new();
                let _ = s.read_to_string(&mut body);
                if body.contains("200 OK") {
                    return body;
                }
                last = body;
            }
            Err(e) => last = e.to_string(),
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("no answer on 127.0.0.1:{port}: {last}");
}

/// The full id of container `name` (from its directory in the store).
fn full_id(store: &Path, name: &str) -> String {
    std::fs::read_dir(store.join("containers"))
        .unwrap()
        .flatten()
        .find(|e| {
            std::fs::read_to_string(e.path().join("config.json"))
                .is_ok_and(|c| c.contains(&format!("\"name\": \"{name}\"")))
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .unwrap_or_else(|| panic!("no container `{name}`"))
}

/// The host pid of a running container's init, from its state.
fn pid_of(store: &Path, name: &str) -> i32 {
    let id = full_id(store, name);
    let state =
        std::fs::read_to_string(store.join("containers").join(id).join("state.json")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&state).unwrap();
    v["pid"].as_i64().expect("a running container has a pid") as i32
}

/// What duckc holds on the host for container `id`: its veth, its lease, its hosts file and
/// the firewall rules that name its address. Empty when everything is torn down.
fn leftovers(id: &str, address: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let veth = format!("dk{}", &id[..12]);
    // The kernel removes the veth pair with the container's network namespace, from a work
    // queue: give it a moment.
    let link = Path::new("/sys/class/net").join(&veth);
    for _ in 0..100 {
        if !link.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if link.exists() {
        out.push(format!("link {veth}"));
    }
    let state = Path::new("/run/duckc/net");
    for lease in common::leases_of(id) {
        out.push(format!("lease {}", lease.display()));
    }
    if state.join("hosts").join(id).exists() {
        out.push("hosts file".into());
    }
    if let Some(address) = address {
        let rules = std::process::Command::new("nft")
            .args(["list", "ruleset"])
            .output()
            .unwrap();
        let rules = String::from_utf8_lossy(&rules.stdout);
        // The address as a word of its own (`10.199.0.2 . 80`, `"dk…" . 10.199.0.2`, the
        // older `dnat to 10.199.0.2:80`), and the container's MAC (the anti-spoofing set and
        // the `fwd` map key on it, with the veth by its index, which nft lists as a number
        // once the veth is gone).
        let o: Vec<u8> = address.split('.').map(|p| p.parse().unwrap()).collect();
        let mac = format!("02:42:{:02x}:{:02x}:{:02x}:{:02x}", o[0], o[1], o[2], o[3]);
        for line in rules.lines() {
            let words = line.split(|c: char| !(c.is_ascii_digit() || c == '.'));
            if words.clone().any(|w| w == address) || line.contains(&mac) {
                out.push(format!("rule {}", line.trim()));
            }
        }
        if rules.contains(&veth) {
            out.push(format!("rule naming {veth}"));
        }
    }
    out
}

/// Held by the tests that run duckc without `nft` on `PATH`: while the iptables fallback
/// is in use (its marker in `/run/duckc/net`), every change loads the whole table with a
/// program, so a run that has neither program would fail.
static BACKEND: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn a_container_reaches_a_server_on_the_host_through_its_gateway() {
    let Some(store) = store() else { return };
    // A one-request HTTP server on all of the host's addresses; the container comes in
    // through the bridge's address, its default gateway.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (mut conn, peer) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = conn.read(&mut buf);
        conn.write_all(b"HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nfrom-the-host!\n")
            .unwrap();
        peer
    });
    let script = format!(
        "ip -4 addr show eth0 | grep -o 'inet [0-9.]*'; \
         gw=$(ip route | awk '/^default/ {{print $3}}'); echo gateway $gw; \
         wget -qO- http://$gw:{port}/"
    );
    let out = must(store, &["run", "--rm", "busybox", "sh", "-c", &script]);
    let peer = server.join().unwrap();
    assert!(out.contains("from-the-host!"), "{out}");
    let gateway = out
        .lines()
        .find_map(|l| l.strip_prefix("gateway "))
        .unwrap();
    let inspect = must(store, &["network", "inspect", "bridge"]);
    assert!(
        inspect.contains(&format!("\"Gateway\": \"{gateway}\"")),
        "{inspect}"
    );
    // The server saw the container's own address (no NAT on the way to the gateway).
    assert!(
        out.contains(&format!("inet {}", peer.ip())),
        "peer {peer}, container: {out}"
    );
}

#[test]
fn published_ports_are_reached_from_the_hosts_loopback() {
    let Some(store) = store() else { return };
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    must(
        store,
        &["run", "-d", "--name", "pub-fixed", "-p", &publish, "web"],
    );
    assert!(http_get(port).contains("served-by-duckc"));
    assert_eq!(
        must(store, &["port", "pub-fixed"]),
        format!("80/tcp -> 127.0.0.1:{port}\n")
    );
    let ps = must(store, &["ps"]);
    assert!(
        ps.lines()
            .any(|l| l.contains("pub-fixed") && l.contains(&format!("127.0.0.1:{port}->80/tcp"))),
        "{ps}"
    );

    // -P: every EXPOSEd port, on a host port the kernel picks.
    must(store, &["run", "-d", "--name", "pub-all", "-P", "web"]);
    let line = must(store, &["port", "pub-all", "80"]);
    let picked: u16 = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(line.starts_with("80/tcp -> 0.0.0.0:"), "{line}");
    assert!(http_get(picked).contains("served-by-duckc"));

    // The same fixed port again: refused, naming the container that has it.
    let (code, _, err) = run(store, &["run", "--rm", "-p", &publish, "web"]);
    assert_eq!(code, 125, "{err}");
    assert!(
        err.contains("already published by container `pub-fixed`"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");

    must(store, &["rm", "-f", "pub-fixed", "pub-all"]);
}

#[test]
fn containers_on_a_user_network_reach_each_other_by_name_and_not_other_networks() {
    let Some(store) = store() else { return };
    let _ = run(store, &["network", "rm", "talkers"]);
    must(store, &["network", "create", "talkers"]);
    let ls = must(store, &["network", "ls"]);
    assert!(ls.lines().any(|l| l.contains(" talkers ")), "{ls}");
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "master",
            "--network",
            "talkers",
            "--network-alias",
            "rosmaster",
            "web",
        ],
    );
    let out = must(
        store,
        &[
            "run",
            "--rm",
            "--name",
            "listener",
            "--network",
            "talkers",
            "busybox",
            "sh",
            "-c",
            "wget -qO- http://master/; wget -qO- http://rosmaster/; \
             grep -w listener /etc/hosts | grep -v 127.0.1.1",
        ],
    );
    assert_eq!(
        out.matches("served-by-duckc").count(),
        2,
        "by name and by alias: {out}"
    );
    assert!(
        out.contains("listener"),
        "its own name resolves to its address: {out}"
    );

    // A container on the default network cannot reach it.
    let inspect = must(store, &["network", "inspect", "talkers"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let addr = v[0]["Containers"][0]["IPv4Address"]
        .as_str()
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    let (code, out, _) = run(
        store,
        &["run", "--rm", "busybox", "ping", "-c1", "-W1", &addr],
    );
    assert_ne!(code, 0, "another network's container answered: {out}");

    // In use: refused with what to do; unused: removed with its bridge.
    let (code, _, err) = run(store, &["network", "rm", "talkers"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("in use by running container(s): master"),
        "{err}"
    );
    assert!(err.contains("help:"), "{err}");
    let bridge = v[0]["Bridge"].as_str().unwrap().to_owned();
    assert!(Path::new("/sys/class/net").join(&bridge).exists());
    must(store, &["rm", "-f", "master"]);
    must(store, &["network", "rm", "talkers"]);
    assert!(!Path::new("/sys/class/net").join(&bridge).exists());
}

#[test]
fn concurrent_runs_get_different_addresses() {
    let Some(store) = store() else { return };
    let names: Vec<String> = (0..4).map(|i| format!("crowd{i}")).collect();
    // All four start at once: each takes its lease while the others do.
    let starts: Vec<_> = names
        .iter()
        .map(|n| {
            common::duckc(store)
                .args(["run", "-d", "--name", n, "web"])
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for (n, child) in names.iter().zip(starts) {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{n}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let inspect = must(store, &["network", "inspect", "bridge"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let mut mine: Vec<String> = v[0]["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| names.iter().any(|n| c["Name"] == n.as_str()))
        .map(|c| c["IPv4Address"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(mine.len(), 4, "{inspect}");
    mine.sort();
    mine.dedup();
    assert_eq!(mine.len(), 4, "an address given twice: {inspect}");
    let mut args = vec!["rm", "-f"];
    args.extend(names.iter().map(String::as_str));
    must(store, &args);
}

#[test]
fn network_none_has_only_loopback_and_the_default_has_eth0() {
    let Some(store) = store() else { return };
    let ifaces = |net: &str| {
        let out = must(
            store,
            &[
                "run",
                "--rm",
                "--network",
                net,
                "busybox",
                "cat",
                "/proc/net/dev",
            ],
        );
        let mut v: Vec<String> = out
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(|s| s.trim().to_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(ifaces("none"), ["lo"]);
    assert_eq!(ifaces("bridge"), ["eth0", "lo"]);
}

#[test]
fn bad_network_input_gets_clear_errors() {
    let Some(store) = store() else { return };
    for (flag, want) in [
        ("80/sctp", "unknown protocol `sctp`"),
        ("nope:80:80", "`nope` is not an IPv4 address"),
        ("8080:0", "is not a container port"),
        ("1000-1010:80", "port ranges"),
    ] {
        let (code, _, err) = run(store, &["run", "--rm", "-p", flag, "busybox", "true"]);
        assert_eq!(code, 1, "{flag}: {err}");
        assert!(err.contains(want), "{flag}: {err}");
        assert!(err.contains("help:"), "{flag}: {err}");
    }
    // A port another program holds.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = held.local_addr().unwrap().port();
    let (code, _, err) = run(
        store,
        &[
            "run",
            "--rm",
            "-p",
            &format!("127.0.0.1:{port}:80"),
            "busybox",
            "true",
        ],
    );
    assert_eq!(code, 125, "{err}");
    assert!(err.contains("already in use"), "{err}");
    assert!(err.contains("help:"), "{err}");
    drop(held);
    // An unknown network; an alias without a user network; a network name taken.
    let (code, _, err) = run(
        store,
        &["run", "--rm", "--network", "nowhere", "busybox", "true"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("network `nowhere` not found"), "{err}");
    assert!(err.contains("duckc network create nowhere"), "{err}");
    let (_, _, err) = run(
        store,
        &["run", "--rm", "--network-alias", "x", "busybox", "true"],
    );
    assert!(err.contains("needs a user network"), "{err}");
    let (code, _, err) = run(store, &["network", "create", "host"]);
    assert_ne!(code, 0);
    assert!(err.contains("built-in network"), "{err}");
    let (code, _, err) = run(store, &["network", "rm", "nowhere"]);
    assert_ne!(code, 0);
    assert!(err.contains("not found"), "{err}");
    // A default subnet that is not one names the variable to fix.
    let out = common::output(
        common::duckc(store)
            .env("DUCKC_BRIDGE_SUBNET", "10.1.2.0")
            .args(["run", "--rm", "busybox", "true"])
            .stdin(std::process::Stdio::null()),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("bad subnet `10.1.2.0`"), "{err}");
    assert!(err.contains("set `DUCKC_BRIDGE_SUBNET`"), "{err}");
    let (code, _, err) = run(
        store,
        &["network", "create", "--subnet", "10.1.2.3/24", "x1"],
    );
    assert_ne!(code, 0);
    assert!(err.contains("host bits are set"), "{err}");
}

#[test]
fn teardown_leaves_nothing_behind_also_after_kill_9() {
    let Some(store) = store() else { return };
    let _ = run(store, &["network", "rm", "sweepnet"]);
    must(store, &["network", "create", "sweepnet"]);
    let address = |name: &str| {
        let out = must(
            store,
            &["exec", name, "sh", "-c", "ip -4 -o addr show eth0"],
        );
        out.split_whitespace()
            .skip_while(|w| *w != "inet")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    };

    // An ordinary exit (`--rm`, foreground): everything goes with it.
    let out = must(
        store,
        &[
            "run",
            "--name",
            "brief",
            "--network",
            "sweepnet",
            "-p",
            "80",
            "web",
            "sh",
            "-c",
            "ip -4 -o addr show eth0",
        ],
    );
    let brief = full_id(store, "brief");
    let brief_addr = out
        .split_whitespace()
        .skip_while(|w| *w != "inet")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_owned();
    assert_eq!(leftovers(&brief, Some(&brief_addr)), Vec::<String>::new());
    must(store, &["rm", "brief"]);

    // A peer that stays, and a victim whose monitor and init are killed with SIGKILL.
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "peer",
            "--network",
            "sweepnet",
            "web",
        ],
    );
    must(
        store,
        &[
            "run",
            "-d",
            "--name",
            "victim",
            "--network",
            "sweepnet",
            "-p",
            "80",
            "web",
        ],
    );
    let victim = full_id(store, "victim");
    let victim_addr = address("victim");
    assert!(!leftovers(&victim, Some(&victim_addr)).is_empty());
    let hosts = must(store, &["exec", "peer", "cat", "/etc/hosts"]);
    assert!(hosts.contains("victim"), "{hosts}");
    let init = pid_of(store, "victim");
    let stat = std::fs::read_to_string(format!("/proc/{init}/stat")).unwrap();
    let monitor: i32 = stat[stat.rfind(')').unwrap() + 2..]
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    // SAFETY: kill with integer arguments, on processes this test started through duckc.
    unsafe {
        libc_kill(monitor, 9);
        libc_kill(init, 9);
    }
    while Path::new(&format!("/proc/{init}")).exists()
        && !std::fs::read_to_string(format!("/proc/{init}/stat")).is_ok_and(|s| s.contains(") Z"))
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The next duckc command sweeps.
    must(store, &["ps"]);
    assert_eq!(leftovers(&victim, Some(&victim_addr)), Vec::<String>::new());
    let hosts = must(store, &["exec", "peer", "cat", "/etc/hosts"]);
    assert!(!hosts.contains("victim"), "{hosts}");

    // `rm -f` of a running container.
    let peer = full_id(store, "peer");
    let peer_addr = address("peer");
    must(store, &["rm", "-f", "peer", "victim"]);
    assert_eq!(leftovers(&peer, Some(&peer_addr)), Vec::<String>::new());
    must(store, &["network", "rm", "sweepnet"]);
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Without root the default network is slirp4netns's (Podman's choice): the container has
/// `tap0` and a port published with `-p` is reached from the host's loopback. Where slirp4netns
/// cannot run for the user (no `slirp4netns`, or `/dev/net/tun` closed to it), the container
/// has loopback only with a warning, and `-p` is refused with what to do.
#[test]
fn rootless_containers_get_slirp4netns_or_say_why_not() {
    let Some(_) = store() else { return };
    if !require_tool("setpriv") {
        return;
    }
    let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge-rootless");
    let _ = std::fs::remove_dir_all(&base);
    std::fs::create_dir_all(&base).unwrap();
    let layout = common::store::busybox_layout(&base);
    common::ok(
        std::process::Command::new("chown")
            .args(["-R", "65534:65534"])
            .arg(&base),
    );
    let store = base.join("store");
    let as_nobody = |args: &[&str]| {
        let out = common::output(
            std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(common::duckc_bin())
                .args(args)
                .env("DUCKC_STORE", &store)
                .env("HOME", &base)
                .env_remove("XDG_RUNTIME_DIR")
                .env("NO_COLOR", "1")
                .stdin(std::process::Stdio::null()),
        );
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, _, err) = as_nobody(&["load", "-i", &layout.display().to_string()]);
    assert_eq!(code, 0, "{err}");
    use std::os::unix::fs::PermissionsExt;
    let tun_open =
        std::fs::metadata("/dev/net/tun").is_ok_and(|m| m.permissions().mode() & 0o006 == 0o006);
    let slirp = tun_open && require_tool("slirp4netns");
    let port = free_port();
    let publish = format!("127.0.0.1:{port}:80");
    let (code, _, err) = as_nobody(&[
        "run",
        "-d",
        "--name",
        "rootless-web",
        "-p",
        &publish,
        "busybox",
        "sh",
        "-c",
        "mkdir -p /www && echo served-rootless > /www/index.html && exec httpd -f -p 80 -h /www",
    ]);
    if slirp {
        assert_eq!(code, 0, "{err}");
        assert!(http_get(port).contains("served-rootless"));
        let (_, out, _) = as_nobody(&["port", "rootless-web"]);
        assert_eq!(out, format!("80/tcp -> 127.0.0.1:{port}\n"));
        let (code, out, err) =
            as_nobody(&["run", "--rm", "busybox", "ip", "-4", "addr", "show", "tap0"]);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("inet 10.0.2.100/24"), "{out}");
        let (code, _, err) = as_nobody(&["rm", "-f", "rootless-web"]);
        assert_eq!(code, 0, "{err}");
    } else {
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("cannot publish ports without root"), "{err}");
        assert!(err.contains("help:"), "{err}");
        let (code, out, err) = as_nobody(&["run", "--rm", "busybox", "cat", "/proc/net/dev"]);
        assert_eq!(code, 0, "{err}");
        assert!(err.contains("the container has loopback only"), "{err}");
        assert!(!out.contains("tap0") && !out.contains("eth0"), "{out}");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Without `nft` on `PATH`, duckc falls back to its own iptables chains: a published port
/// still works, and the chains and jumps go when the container does (the next command that
/// has `nft` takes them away too).
#[test]
fn without_nft_the_iptables_chains_do_the_same() {
    let Some(store) = store() else { return };
    let _backend = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    if !require_tool("iptables-restore") {
        return;
    }
    let bin = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge-no-nft-bin");
    let _ = std::fs::remove_dir_all(&bin);
    std::fs::create_dir_all(&bin).unwrap();
    let which = |tool: &str| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap())
            .map(|d| d.join(tool))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{tool} not on PATH"))
    };
    for tool in ["ip", "iptables", "iptables-restore"] {
        std::os::unix::fs::symlink(which(tool), bin.join(tool)).unwrap();
    }
    let path = format!("{}:/usr/bin:/bin", bin.display());
    assert!(
        std::env::split_paths(&path).all(|d| !d.join("nft").exists()),
        "nft is in {path}"
    );
    let duckc_no_nft = |args: &[&str]| {
        let out = common::output(
            common::duckc(store)
                .env("PATH", &path)
                .args(args)
                .stdin(std::process::Stdio::null()),
        );
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let port = free_port();
    duckc_no_nft(&[
        "run",
        "-d",
        "--name",
        "ipt-web",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "web",
    ]);
    assert!(http_get(port).contains("served-by-duckc"));
    let rules = |table: &str| {
        String::from_utf8_lossy(
            &std::process::Command::new("iptables")
                .args(["-w", "-t", table, "-S"])
                .output()
                .unwrap()
                .stdout,
        )
        .into_owned()
    };
    let nat = rules("nat");
    assert!(nat.contains(&format!("--dport {port} -j DNAT")), "{nat}");
    assert!(nat.contains("-A POSTROUTING -j DUCKC-POST"), "{nat}");
    assert!(rules("filter").contains("-A FORWARD -j DUCKC-FWD"));
    duckc_no_nft(&["rm", "-f", "ipt-web"]);
    // The next command with nft on PATH removes whatever the iptables run left.
    must(store, &["ps"]);
    must(store, &["run", "--rm", "busybox", "true"]);
    let nat = rules("nat");
    assert!(!nat.contains(&format!("--dport {port} ")), "{nat}");
    assert!(!nat.contains("DUCKC"), "{nat}");
    assert!(!rules("filter").contains("DUCKC"));
}

/// A start and an exit on the default bridge run neither `ip` nor `nft` (the veth pair over
/// rtnetlink, the container's set elements and ingress chain in one nftables netlink
/// transaction; `PATH` is empty for them), and set up what the programs did: the bridge has
/// the gateway address, the veth is on it and up, `eth0` has the container's MAC, address
/// and default route, and duckc's tables hold its published port, its anti-spoofing pairs and
/// an ingress chain on its veth; after `rm -f` nothing of it is left.
#[test]
fn starts_and_exits_run_no_ip_or_nft_and_set_up_the_same() {
    let Some(store) = store() else { return };
    let _backend = BACKEND.lock().unwrap_or_else(|e| e.into_inner());
    // A full load (the first start, a new network) leaves out networks without containers:
    // one that stays keeps the default network's rules loaded while this test runs.
    must(store, &["run", "-d", "--name", "anchor", "web"]);
    let empty = Path::new(env!("CARGO_TARGET_TMPDIR")).join("bridge-empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let bare = |args: &[&str]| {
        let out = common::output(
            common::duckc(store)
                .env("PATH", &empty)
                .args(args)
                .stdin(std::process::Stdio::null()),
        );
        assert!(
            out.status.success(),
            "{args:?} without programs on PATH: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let port = free_port();
    bare(&[
        "run",
        "-d",
        "--name",
        "bare",
        "-p",
        &format!("127.0.0.1:{port}:80"),
        "web",
    ]);
    assert!(http_get(port).contains("served-by-duckc"));

    let inspect = must(store, &["network", "inspect", "bridge"]);
    let v: serde_json::Value = serde_json::from_str(&inspect).unwrap();
    let gateway = v[0]["Gateway"].as_str().unwrap().to_owned();
    let prefix: u64 = v[0]["Subnet"]
        .as_str()
        .unwrap()
        .split('/')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let id = full_id(store, "bare");
    let me = v[0]["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == id.as_str())
        .unwrap_or_else(|| panic!("{inspect}"))
        .clone();
    let cidr = me["IPv4Address"].as_str().unwrap().to_owned();
    let address = cidr.split('/').next().unwrap().to_owned();
    let mac = me["MacAddress"].as_str().unwrap().to_owned();
    let veth = format!("dk{}", &id[..12]);

    let ip_json = |args: &[&str]| -> serde_json::Value {
        let out = std::process::Command::new("ip")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let addr = ip_json(&["-j", "addr", "show", "dev", "duckc0"]);
    let inet: Vec<&serde_json::Value> = addr[0]["addr_info"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["family"] == "inet")
        .collect();
    assert_eq!(inet.len(), 1, "{addr}");
    assert_eq!(inet[0]["local"], gateway.as_str(), "{addr}");
    assert_eq!(inet[0]["prefixlen"], prefix, "{addr}");
    assert!(
        addr[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP"),
        "{addr}"
    );
    let link = ip_json(&["-j", "link", "show", "dev", &veth]);
    assert_eq!(link[0]["master"], "duckc0", "{link}");
    assert!(
        link[0]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f == "UP"),
        "{link}"
    );
    assert_eq!(link[0]["link_type"], "ether", "{link}");

    let inside = must(
        store,
        &[
            "exec",
            "bare",
            "sh",
            "-c",
            "cat /sys/class/net/eth0/address; ip -4 -o addr show eth0; ip route",
        ],
    );
    assert!(inside.starts_with(&format!("{mac}\n")), "{inside}");
    assert!(inside.contains(&format!("inet {cidr} ")), "{inside}");
    assert!(
        inside.contains(&format!("default via {gateway} dev eth0")),
        "{inside}"
    );

    let table = |family: &str| {
        let out = std::process::Command::new("nft")
            .args(["list", "table", family, "duckc"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    let ip4 = table("ip");
    assert!(
        ip4.contains(&format!("127.0.0.1 . tcp . {port} : {address} . 80")),
        "{ip4}"
    );
    assert!(
        ip4.contains("type filter hook prerouting priority raw; policy accept; iifname ")
            && ip4.contains("\"duckc0\"")
            && ip4.contains("ip daddr 127.0.0.0/8 drop"),
        "the guard of docs/security.md: {ip4}"
    );
    let subnet = v[0]["Subnet"].as_str().unwrap();
    assert!(
        ip4.contains(&format!(
            "ip saddr {subnet} oifname != \"duckc0\" masquerade"
        )),
        "{ip4}"
    );
    let netdev = table("netdev");
    for want in [
        format!("\"{veth}\" . {mac}"),
        format!("\"{veth}\" . {address}"),
        format!("{mac} : \"{veth}\""),
        format!(
            "chain {veth} {{ type filter hook ingress device \"{veth}\" priority -500; policy accept; jump net_duckc0 }}"
        ),
    ] {
        assert!(netdev.contains(&want), "no `{want}` in {netdev}");
    }

    bare(&["rm", "-f", "bare"]);
    // Other tests' containers may take the address at once: look for the veth and the port.
    assert_eq!(leftovers(&id, None), Vec::<String>::new());
    assert!(
        !table("ip").contains(&format!(". {port} :")),
        "{}",
        table("ip")
    );
    let netdev = table("netdev");
    assert!(!netdev.contains(&veth), "{netdev}");
    must(store, &["rm", "-f", "anchor"]);
}
