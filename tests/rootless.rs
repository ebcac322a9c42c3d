//! Rootless duckc end to end: the test (as root) creates throwaway users, one with subordinate
//! id ranges and one without, and runs the real `duckc` binary as each, with its own store
//! under a temporary home. A rootless build must give root's digests, `chown` in a step must
//! land as the container id, the store's subordinate-owned files must still be removable, and
//! without ranges duckc must say what to add.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::users::shadow_tool;
use common::{apt, must, require_root, require_tool};

/// A user made for one test, removed (with its `/etc/subuid` and `/etc/subgid` lines, which
/// `userdel` drops) and its home with it, also when the test fails.
struct TestUser {
    name: String,
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// `NAME=VALUE`s for every duckc it runs (the test apt repository).
    env: Vec<String>,
}

impl TestUser {
    /// `useradd` with no automatic subordinate ranges; `ranges` are added with `usermod`.
    fn new(tag: &str, ranges: &[(u64, u64)]) -> TestUser {
        // Unique across the engineers' concurrent runs on one machine: pid and a counter.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("drl{tag}{}x{n}", std::process::id());
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let home = dir.path().join("home");
        shadow_tool(
            Command::new("useradd")
                .args(["-M", "-K", "SUB_UID_COUNT=0", "-K", "SUB_GID_COUNT=0", "-d"])
                .arg(&home)
                .arg(&name),
        )
        .unwrap();
        let user = TestUser {
            name,
            dir,
            bin: common::duckc_bin(),
            env: vec![format!("DUCKC_APT_REPOSITORY={}", apt::repo().line())],
        };
        std::fs::create_dir(&home).unwrap();
        chown_to(&home, &user.name);
        for (start, count) in ranges {
            let r = format!("{start}-{}", start + count - 1);
            shadow_tool(Command::new("usermod").args([
                "--add-subuids",
                &r,
                "--add-subgids",
                &r,
                &user.name,
            ]))
            .unwrap();
        }
        user.with_reachable_binary()
    }

    /// The binary under test, or a copy the user can execute when the build directory is not
    /// traversable by others.
    fn with_reachable_binary(mut self) -> TestUser {
        let ok = self
            .cmd_as_user(&self.bin.clone())
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let copy = self.dir.path().join("duckc");
            std::fs::copy(&self.bin, &copy).unwrap();
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
            self.bin = copy;
        }
        self
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The rootless store: `~/.local/share/duckc`, the default without `XDG_DATA_HOME`.
    fn store(&self) -> PathBuf {
        self.home().join(".local/share/duckc")
    }

    fn cmd_as_user(&self, program: &Path) -> Command {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", &self.name, "--", "env", "-i"])
            .arg(format!("HOME={}", self.home().display()))
            .arg("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
            .args(["NO_COLOR=1", "CLICOLOR=0", "SOURCE_DATE_EPOCH=0"])
            .args(&self.env)
            .arg(program)
            .stdin(Stdio::null());
        cmd
    }

    /// `duckc ARGS` as the user, in `dir`: (exit code, stdout, stderr).
    fn duckc(&self, dir: &Path, args: &[&str]) -> (i32, String, String) {
        let out = self
            .cmd_as_user(&self.bin)
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn must(&self, dir: &Path, args: &[&str]) -> String {
        let (code, out, err) = self.duckc(dir, args);
        assert_eq!(
            code, 0,
            "duckc {args:?} as {} failed\nstdout:\n{out}\nstderr:\n{err}",
            self.name
        );
        out
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        // userdel also removes the user's lines from /etc/subuid and /etc/subgid.
        let _ = shadow_tool(Command::new("userdel").arg(&self.name));
    }
}

fn chown_to(path: &Path, user: &str) {
    let status = Command::new("chown")
        .arg(format!("{user}:"))
        .arg(path)
        .status()
        .unwrap();
    assert!(status.success());
}

/// examples/hello with the host's static busybox in place of the one its script fetches,
/// readable by anyone, in `dir/hello`.
fn hello_context(dir: &Path) -> PathBuf {
    let ctx = dir.join("hello");
    std::fs::create_dir(&ctx).unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hello");
    for f in ["env.kdl", "hello.sh"] {
        std::fs::copy(examples.join(f), ctx.join(f)).unwrap();
    }
    std::fs::copy("/bin/busybox", ctx.join("busybox")).unwrap();
    // A step that gives files to other ids, in the first range and past it.
    std::fs::write(
        ctx.join("owners.kdl"),
        r#"env "owners" {
    from "std/scratch:base"
    copy "busybox" "/bin/busybox" chmod="0755"
    run "/bin/busybox" "sh" "-c" "cd / && /bin/busybox mkdir -p data/d && /bin/busybox touch data/f data/d/x data/far && /bin/busybox chown 1000:1000 data/f && /bin/busybox chown -R 1000:1000 data/d && /bin/busybox chmod 0700 data/d && /bin/busybox chown 70000:70000 data/far"
    tag "rootless/owners:latest"
}
"#,
    )
    .unwrap();
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox mkdir /srv && /bin/busybox chown 33:33 /srv\"]\n",
    )
    .unwrap();
    for entry in std::fs::read_dir(&ctx).unwrap() {
        let p = entry.unwrap().path();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&ctx, std::fs::Permissions::from_mode(0o755)).unwrap();
    ctx
}

/// A spec with a `packages` step from the test repository, in `dir/NAME` (owned by `owner`, so
/// its build can write `duck.lock`).
fn packages_context(dir: &Path, name: &str, owner: Option<&str>) -> PathBuf {
    let ctx = dir.join(name);
    std::fs::create_dir(&ctx).unwrap();
    std::fs::write(
        ctx.join("env.kdl"),
        "env \"pkgs\" {\n    from \"duckc-example/hello:latest\"\n    packages \"duck-tool\"\n    tag \"rootless/pkgs:latest\"\n}\n",
    )
    .unwrap();
    if let Some(owner) = owner {
        chown_to(&ctx, owner);
        chown_to(&ctx.join("env.kdl"), owner);
    }
    ctx
}

/// `duckc images --no-trunc` as `(name:tag, id)` lines, sorted.
fn image_ids(listing: &str) -> Vec<String> {
    let mut ids: Vec<String> = listing
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 3 && f[0] != "<none>").then(|| format!("{}:{} {}", f[0], f[1], f[2]))
        })
        .collect();
    ids.sort();
    ids
}

/// A subordinate range unlikely to meet another test's: useradd's own ranges stay below
/// SUB_UID_MAX (600100000 on Debian), these start at 1000000000; `slot` keeps the tests of one
/// run (one pid) apart.
fn ranges(slot: u64) -> [(u64, u64); 2] {
    let base = 1_000_000_000 + (u64::from(std::process::id() % 10_000) * 3 + slot) * 100_000;
    // Two ranges: ids 1..=65536 are the first, 65537.. the second (as /etc/subuid lists them).
    [(base, 65536), (base + 70_000, 10_000)]
}

#[test]
fn rootless_with_subordinate_ids_matches_root() {
    if !require_root() || !require_tool("newuidmap") || !require_tool("useradd") {
        return;
    }
    let [first, second] = ranges(0);
    let user = TestUser::new("s", &[first, second]);
    let ctx = hello_context(user.dir.path());

    // The README's main job, rootless and as root: the same images, digest for digest; and a
    // container's changes committed the same way.
    let root_store = tempfile::tempdir().unwrap();
    let root = |args: &[&str]| {
        let mut cmd = common::duckc(root_store.path());
        common::ok(
            cmd.args(args)
                .env("SOURCE_DATE_EPOCH", "0")
                .current_dir(&ctx)
                .stdin(Stdio::null()),
        )
    };
    let change = "/bin/busybox mkdir /up && /bin/busybox touch /up/x && /bin/busybox chown -R 1000 /up && /bin/busybox chmod 0700 /up";
    for spec in [
        &["build", "env.kdl"][..],
        &["build", "owners.kdl"],
        &["build", "-f", "Dockerfile", "-t", "rootless/docker", "."],
        &[
            "run",
            "--name",
            "keep",
            "rootless/owners",
            "/bin/busybox",
            "sh",
            "-c",
            change,
        ],
        &["commit", "keep", "rootless/committed"],
    ] {
        root(spec);
        user.must(&ctx, spec);
    }
    // Packages unpacked with their owners, rootless as with root.
    let pkgs_root = packages_context(user.dir.path(), "pkgs-root", None);
    let pkgs_user = packages_context(user.dir.path(), "pkgs-user", Some(&user.name));
    let mut cmd = common::duckc(root_store.path());
    common::ok(
        cmd.arg("build")
            .current_dir(&pkgs_root)
            .env("DUCKC_APT_REPOSITORY", apt::repo().line()),
    );
    user.must(&pkgs_user, &["build"]);
    let rootless = image_ids(&user.must(&ctx, &["images", "--no-trunc"]));
    assert_eq!(image_ids(&root(&["images", "--no-trunc"])), rootless);
    assert_eq!(rootless.len(), 6, "{rootless:?}");

    // Inside, the owners are the ones the step gave; on disk, subordinate ids.
    let out = user.must(
        &ctx,
        &[
            "run",
            "--rm",
            "rootless/owners",
            "/bin/busybox",
            "stat",
            "-c",
            "%u:%g %n",
            "/data/f",
            "/data/d",
            "/data/d/x",
            "/data/far",
        ],
    );
    assert_eq!(
        out,
        "1000:1000 /data/f\n1000:1000 /data/d\n1000:1000 /data/d/x\n70000:70000 /data/far\n"
    );
    let out = user.must(
        &ctx,
        &[
            "run",
            "--rm",
            "rootless/docker",
            "/bin/busybox",
            "stat",
            "-c",
            "%u:%g",
            "/srv",
        ],
    );
    assert_eq!(out, "33:33\n");
    let out = user.must(
        &ctx,
        &[
            "run",
            "--rm",
            "rootless/committed",
            "/bin/busybox",
            "stat",
            "-c",
            "%u %a",
            "/up",
        ],
    );
    assert_eq!(out, "1000 700\n");

    // The container's upper directory holds a 0700 directory of a subordinate id: `rm` (which
    // runs outside the namespace, to signal containers) still removes it.
    let containers = user.store().join("containers");
    let upper = std::fs::read_dir(&containers)
        .unwrap()
        .flatten()
        .find(|e| !e.file_name().to_string_lossy().starts_with('.')) // not `.spare`
        .unwrap()
        .path()
        .join("upper/up");
    let host_uid = std::fs::symlink_metadata(&upper).unwrap().uid();
    assert_eq!(
        u64::from(host_uid),
        first.0 + 999,
        "container uid 1000 is the range's 1000th id"
    );
    user.must(&ctx, &["rm", "keep"]);
    // Only `.spare`, the empty directory a removed `--rm` container leaves for the next one,
    // may be left.
    let left = std::fs::read_dir(&containers)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name() != ".spare")
        .count();
    assert_eq!(left, 0);

    // A detached container running as a subordinate id: stop, exec and rm work on it.
    user.must(
        &ctx,
        &[
            "run",
            "-d",
            "--name",
            "sleeper",
            "-u",
            "70000",
            "rootless/owners",
            "/bin/busybox",
            "sleep",
            "300",
        ],
    );
    let id = user.must(&ctx, &["exec", "sleeper", "/bin/busybox", "id", "-u"]);
    assert_eq!(id, "70000\n");
    user.must(&ctx, &["stop", "-t", "1", "sleeper"]);
    user.must(&ctx, &["rm", "sleeper"]);

    // The committed layer's snapshot (a 0700 directory of a subordinate id) goes with its image.
    let snapshots = || {
        std::fs::read_dir(user.store().join("snapshots/sha256"))
            .unwrap()
            .count()
    };
    let before = snapshots();
    user.must(&ctx, &["rmi", "rootless/committed"]);
    user.must(&ctx, &["gc"]);
    assert!(
        snapshots() < before,
        "gc left the committed layer's snapshot"
    );
    user.must(&ctx, &["verify"]);
    let map = user.must(&ctx, &["unshare", "cat", "/proc/self/uid_map"]);
    assert!(map.contains(&format!("{}", second.0)), "{map}");

    // An image with an owner past the user's 75536 ids: unpacking it says why it cannot.
    std::fs::write(
        ctx.join("far.kdl"),
        "env \"far\" {\n    from \"rootless/owners:latest\"\n    run \"/bin/busybox\" \"chown\" \"100000\" \"/data/f\"\n    tag \"rootless/far:latest\"\n}\n",
    )
    .unwrap();
    root(&["build", "far.kdl"]);
    let archive = user.dir.path().join("far.tar");
    root(&["save", "-o", &archive.to_string_lossy(), "rootless/far"]);
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    user.must(&ctx, &["load", "-i", &archive.to_string_lossy()]);
    let (code, _, err) = user.duckc(
        &ctx,
        &["run", "--rm", "rootless/far", "/bin/busybox", "true"],
    );
    assert_ne!(code, 0, "{err}");
    assert!(
        err.contains("its owner 100000:1000 is not mapped")
            && err.contains(&format!(
                "give `{}` subordinate ids up to 100000",
                user.name
            )),
        "{err}"
    );
}

#[test]
fn rootless_without_subordinate_ids_says_what_to_add() {
    if !require_root() || !require_tool("useradd") {
        return;
    }
    let user = TestUser::new("n", &[]);
    let ctx = hello_context(user.dir.path());
    // Steps that need no other id work, with root's digests.
    user.must(&ctx, &["build", "env.kdl"]);
    let root_store = tempfile::tempdir().unwrap();
    must(
        root_store.path(),
        &["build", &ctx.join("env.kdl").to_string_lossy()],
    );
    // (the builds fix their times themselves: no SOURCE_DATE_EPOCH is needed for them)
    assert_eq!(
        image_ids(&user.must(&ctx, &["images", "--no-trunc"])),
        image_ids(&must(root_store.path(), &["images", "--no-trunc"]))
    );
    // `chown` in a step fails, and the help names the line to add for this user.
    let (code, _, err) = user.duckc(&ctx, &["build", "owners.kdl"]);
    assert_ne!(code, 0);
    let line = format!(
        "add a line \"{}:100000:65536\" to /etc/subuid and /etc/subgid",
        user.name
    );
    assert!(
        err.contains("Invalid argument") && err.contains(&line),
        "{err}"
    );
    let pkgs = packages_context(user.dir.path(), "pkgs", Some(&user.name));
    let (code, _, err) = user.duckc(&pkgs, &["build"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("a `packages` step needs user ids besides root's") && err.contains(&line),
        "{err}"
    );
    let (code, _, err) = user.duckc(
        &ctx,
        &["run", "--rm", "-u", "1000", "duckc-example/hello", "true"],
    );
    assert_eq!(code, 125);
    assert!(
        err.contains("no subordinate ids") && err.contains(&line),
        "{err}"
    );

    // An image from elsewhere with files of other owners (root's, as a pull would bring it):
    // it runs, its files the user's (0:0 inside), and `run` says so; a build on it, which
    // would record those files with owner 0 wherever a step touches them (not root's digest),
    // and a commit of a container of it are refused with what to add.
    root_store_build(root_store.path(), &ctx, "owners.kdl");
    let archive = user.dir.path().join("owners.tar");
    must(
        root_store.path(),
        &["save", "-o", &archive.to_string_lossy(), "rootless/owners"],
    );
    std::fs::set_permissions(&archive, std::fs::Permissions::from_mode(0o644)).unwrap();
    user.must(&ctx, &["load", "-i", &archive.to_string_lossy()]);
    let (code, out, err) = user.duckc(
        &ctx,
        &[
            "run",
            "--name",
            "kept",
            "rootless/owners",
            "/bin/busybox",
            "stat",
            "-c",
            "%u:%g",
            "/data/f",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "0:0\n"), "{err}");
    assert!(
        err.contains("`/data/d` is 1000:1000 in the image") && err.contains(&line),
        "{err}"
    );
    std::fs::write(
        ctx.join("on-owners.kdl"),
        "env \"on\" {\n    from \"rootless/owners:latest\"\n    run \"/bin/busybox\" \"touch\" \"/data/f\"\n}\n",
    )
    .unwrap();
    let (code, _, err) = user.duckc(&ctx, &["build", "on-owners.kdl"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("the base `rootless/owners:latest` (`/data/d` is 1000:1000) needs user ids besides root's")
            && err.contains(&line),
        "{err}"
    );
    // `COPY --from` it would copy those files as root's too.
    std::fs::write(
        ctx.join("Dockerfile.from"),
        "FROM scratch\nCOPY --from=rootless/owners:latest /data /data\n",
    )
    .unwrap();
    let (code, _, err) = user.duckc(&ctx, &["build", "-f", "Dockerfile.from", "."]);
    assert_ne!(code, 0);
    assert!(
        err.contains("(`/data/d` is 1000:1000) needs user ids besides root's")
            && err.contains(&line),
        "{err}"
    );
    let (code, _, err) = user.duckc(&ctx, &["commit", "kept", "rootless/kept"]);
    assert_ne!(code, 0);
    assert!(
        err.contains("`/data/d` is 1000:1000") && err.contains(&line),
        "{err}"
    );
    user.must(&ctx, &["rm", "kept"]);

    // Once the user has a range, the layer is unpacked again, with its owners, and the build
    // goes through.
    // (70000 ids: the image has a file of 70000)
    let [(start, _), _] = ranges(2);
    let r = format!("{start}-{}", start + 69_999);
    shadow_tool(Command::new("usermod").args([
        "--add-subuids",
        &r,
        "--add-subgids",
        &r,
        &user.name,
    ]))
    .unwrap();
    let (code, out, err) = user.duckc(
        &ctx,
        &[
            "run",
            "--rm",
            "rootless/owners",
            "/bin/busybox",
            "stat",
            "-c",
            "%u:%g",
            "/data/f",
        ],
    );
    assert_eq!((code, out.as_str()), (0, "1000:1000\n"), "{err}");
    assert!(!err.contains("are yours"), "{err}");
    user.must(&ctx, &["build", "on-owners.kdl"]);
    user.must(&ctx, &["verify"]);
}

/// `duckc build SPEC` as root in `store`, in `ctx`.
fn root_store_build(store: &Path, ctx: &Path, spec: &str) {
    let mut cmd = common::duckc(store);
    common::ok(
        cmd.args(["build", spec])
            .current_dir(ctx)
            .stdin(Stdio::null()),
    );
}

/// A CA (`dir/ca.crt`) and a certificate for 127.0.0.1 that it signed: (certificate, key).
fn test_ca(dir: &Path) -> (PathBuf, PathBuf) {
    std::fs::create_dir(dir).unwrap();
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let openssl = |args: &[&str]| common::ok(Command::new("openssl").args(args));
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=duckc rootless test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]);
    std::fs::write(
        p("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        &p("ext"),
        "-out",
        &p("server.crt"),
    ]);
    (dir.join("server.crt"), dir.join("server.key"))
}

/// The Docker config directory `~/.docker` of a user, as `login` leaves it.
fn docker_config_of(user: &TestUser) -> PathBuf {
    user.home().join(".docker")
}

/// Registries without root, end to end, against a real `docker-registry` with password auth: an
/// image with files of several owners, built and pushed by root, is pulled by a rootless user
/// (logged in with the config under their home), run with its owners intact, built upon and
/// pushed back; root pulls that push into a fresh store and gets, digest for digest, what its
/// own build of the same spec gives. The rootless store stays `verify`-clean.
#[test]
fn rootless_pull_run_build_push_match_root() {
    if !require_root()
        || !require_tool("newuidmap")
        || !require_tool("useradd")
        || !require_tool("docker-registry")
        || !require_tool("htpasswd")
        || !require_tool("openssl")
    {
        return;
    }
    let [first, _] = ranges(1);
    let mut user = TestUser::new("p", &[first]);
    // A login session's runtime directory, as pam_systemd makes it.
    let runtime_dir = user.dir.path().join("run");
    std::fs::create_dir(&runtime_dir).unwrap();
    std::fs::set_permissions(&runtime_dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    chown_to(&runtime_dir, &user.name);
    user.env
        .push(format!("XDG_RUNTIME_DIR={}", runtime_dir.display()));
    let user = user;
    let tmp = user.dir.path();
    let htpasswd = tmp.join("htpasswd");
    let line = common::ok(Command::new("htpasswd").args(["-Bbn", "duck", "quack-quack"]));
    std::fs::write(&htpasswd, line.trim()).unwrap();
    // TLS with a CA of the test's: root passes `--cert-dir`, the user keeps it in
    // `~/.config/duckc/certs.d/HOST/` (a user cannot write `/etc/duckc/certs.d`).
    let certs = tmp.join("certs");
    let (crt, key) = test_ca(&certs);
    let registry = common::registry::Registry::start(&format!(
        "  tls:\n    certificate: {}\n    key: {}\nauth:\n  htpasswd:\n    realm: duckc-test\n    path: {}\n",
        crt.display(),
        key.display(),
        htpasswd.display()
    ));
    let host = registry.host();
    let cert_dir = certs.to_string_lossy().into_owned();
    let (code, _, err) = user.duckc(tmp, &["login", "-u", "duck", "-p", "quack-quack", &host]);
    assert_ne!(code, 0);
    let own = user.home().join(".config/duckc/certs.d").join(&host);
    assert!(
        err.contains(&format!("put its `ca.crt` in `{}/`", own.display())),
        "{err}"
    );
    for dir in [".config", ".config/duckc", ".config/duckc/certs.d"] {
        let _ = std::fs::create_dir(user.home().join(dir));
        chown_to(&user.home().join(dir), &user.name);
    }
    std::fs::create_dir(&own).unwrap();
    std::fs::copy(certs.join("ca.crt"), own.join("ca.crt")).unwrap();
    chown_to(&own, &user.name);
    chown_to(&own.join("ca.crt"), &user.name);
    let base = format!("{host}/rootpull/owners:v1");
    let app = format!("{host}/rootpull/app:v1");

    // Root builds the base (owners 0, 1000 and 65534) and pushes it.
    let root_cfg = tempfile::tempdir().unwrap();
    let root = |store: &Path, args: &[&str]| {
        let mut args = args.to_vec();
        if ["login", "push", "pull", "build"].contains(&args[0]) {
            args.splice(1..1, ["--cert-dir", cert_dir.as_str()]);
        }
        let (code, out, err) = common::registry::run(store, root_cfg.path(), &args);
        assert_eq!(
            code, 0,
            "duckc {args:?} as root failed\nstdout:\n{out}\nstderr:\n{err}"
        );
        out
    };
    let ctx = hello_context(tmp);
    std::fs::write(
        ctx.join("base.kdl"),
        format!(
            r#"env "owners" {{
    from "std/scratch:base"
    copy "busybox" "/bin/busybox" chmod="0755"
    run "/bin/busybox" "sh" "-c" "cd / && /bin/busybox mkdir -p data/d && /bin/busybox touch data/root data/f data/d/x data/nobody && /bin/busybox chown -R 1000:1000 data/f data/d && /bin/busybox chmod 0700 data/d && /bin/busybox chown 65534:65534 data/nobody"
    tag "{base}"
}}
"#
        ),
    )
    .unwrap();
    let root_a = tempfile::tempdir().unwrap();
    root(
        root_a.path(),
        &["login", "-u", "duck", "-p", "quack-quack", &host],
    );
    root(
        root_a.path(),
        &["build", &ctx.join("base.kdl").to_string_lossy()],
    );
    root(root_a.path(), &["push", &base]);

    // The user logs in: the credentials land in `~/.docker/config.json`, theirs, mode 0600.
    let out = user.must(tmp, &["login", "-u", "duck", "-p", "quack-quack", &host]);
    assert!(out.contains("Login Succeeded"), "{out}");
    let config = docker_config_of(&user).join("config.json");
    let meta = std::fs::metadata(&config).unwrap();
    assert_eq!(meta.uid(), common::users::ids(&user.name).0);
    assert_eq!(meta.mode() & 0o777, 0o600);

    // Pull, run: the owners inside are the image's.
    let out = user.must(tmp, &["pull", &base]);
    assert!(out.contains("Status: Downloaded newer image"), "{out}");
    let stat = [
        "run",
        "--rm",
        &base,
        "/bin/busybox",
        "stat",
        "-c",
        "%u:%g %n",
        "/data/root",
        "/data/f",
        "/data/d",
        "/data/d/x",
        "/data/nobody",
    ];
    let out = user.must(tmp, &stat);
    assert_eq!(
        out,
        "0:0 /data/root\n1000:1000 /data/f\n1000:1000 /data/d\n1000:1000 /data/d/x\n65534:65534 /data/nobody\n"
    );
    // As 1000, its 0700 directory is its own.
    let out = user.must(
        tmp,
        &[
            "run",
            "--rm",
            "-u",
            "1000",
            &base,
            "/bin/busybox",
            "ls",
            "/data/d",
        ],
    );
    assert_eq!(out, "x\n");

    // A spec FROM the pulled image, built by the user and by root (each in a context of its
    // own: the build writes `duck.lock` there).
    let spec = format!(
        r#"env "app" {{
    from "{base}"
    copy "note.txt" "/data/note" chown="1000:1000"
    run "/bin/busybox" "sh" "-c" "/bin/busybox touch /data/d/y /data/g && /bin/busybox chown 65534:100 /data/g"
    tag "{app}"
}}
"#
    );
    let app_context = |name: &str, owner: Option<&str>| {
        let dir = tmp.join(name);
        std::fs::create_dir(&dir).unwrap();
        for (file, text) in [("env.kdl", spec.as_str()), ("note.txt", "quack\n")] {
            std::fs::write(dir.join(file), text).unwrap();
            std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644))
                .unwrap();
            if let Some(owner) = owner {
                chown_to(&dir.join(file), owner);
            }
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        if let Some(owner) = owner {
            chown_to(&dir, owner);
        }
        dir
    };
    let user_ctx = app_context("app-user", Some(&user.name));
    let root_ctx = app_context("app-root", None);
    user.must(&user_ctx, &["build"]);
    let pushed = user.must(tmp, &["push", &app]);
    let user_digest = pushed
        .lines()
        .find_map(|l| {
            l.split_once("digest: ")
                .map(|(_, r)| r.split(' ').next().unwrap().to_owned())
        })
        .unwrap_or_else(|| panic!("no digest line in\n{pushed}"));

    // Root, in fresh stores: its own build of the spec (pulling the base) and a pull of what
    // the user pushed are the same image, and pushing root's build gives the user's digest.
    let root_b = tempfile::tempdir().unwrap();
    root(
        root_b.path(),
        &["build", &root_ctx.join("env.kdl").to_string_lossy()],
    );
    let root_c = tempfile::tempdir().unwrap();
    let out = root(root_c.path(), &["pull", &app]);
    assert!(out.contains(&format!("Digest: {user_digest}")), "{out}");
    let id = |listing: &str| {
        image_ids(listing)
            .into_iter()
            .find(|l| l.starts_with(&format!("{app} ")))
            .unwrap_or_else(|| panic!("no {app} in\n{listing}"))
    };
    let built = id(&root(root_b.path(), &["images", "--no-trunc"]));
    assert_eq!(id(&root(root_c.path(), &["images", "--no-trunc"])), built);
    assert_eq!(id(&user.must(tmp, &["images", "--no-trunc"])), built);
    let again = format!("{host}/rootpull/app-root:v1");
    root(root_b.path(), &["tag", &app, &again]);
    let out = root(root_b.path(), &["push", &again]);
    assert!(out.contains(&format!("digest: {user_digest}")), "{out}");
    // And what the user pushed runs as root with the owners the rootless build gave.
    let out = root(
        root_c.path(),
        &[
            "run",
            "--rm",
            &app,
            "/bin/busybox",
            "stat",
            "-c",
            "%u:%g %n",
            "/data/note",
            "/data/g",
            "/data/d/y",
            "/data/nobody",
        ],
    );
    assert_eq!(
        out,
        "1000:1000 /data/note\n65534:100 /data/g\n0:0 /data/d/y\n65534:65534 /data/nobody\n"
    );
    user.must(tmp, &["verify"]);

    // Logged out of Docker's config, a `podman login`'s file (in the runtime directory, where
    // Podman writes it) is read.
    user.must(tmp, &["logout", &host]);
    let (code, _, err) = user.duckc(tmp, &["pull", &app]);
    assert_ne!(code, 0);
    assert!(err.contains(&format!("duckc login {host}")), "{err}");
    let podman = runtime_dir.join("containers");
    std::fs::create_dir(&podman).unwrap();
    std::fs::write(
        podman.join("auth.json"),
        format!("{{\"auths\": {{\"{host}\": {{\"auth\": \"ZHVjazpxdWFjay1xdWFjaw==\"}}}}}}\n"),
    )
    .unwrap();
    chown_to(&podman, &user.name);
    chown_to(&podman.join("auth.json"), &user.name);
    let out = user.must(tmp, &["pull", &app]);
    assert!(out.contains(&format!("Digest: {user_digest}")), "{out}");
}
