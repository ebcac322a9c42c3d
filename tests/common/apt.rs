//! A throwaway apt repository for tests: packages built with `dpkg-deb`, a `Packages` index and
//! a `Release` signed with a test key made on the spot, served over HTTP on 127.0.0.1.
//!
//! Only std and command-line tools (`dpkg-deb`, `gpg`, `gpgconf`, `xz`, `sha256sum`), so both
//! the `duckc-packages` tests and the end-to-end tests of the binary can include it. The
//! repository is built once per test binary ([`repo`]); tests that tamper with it work on a
//! copy ([`copy_tree`]).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The suite and component of the test repository.
pub const SUITE: &str = "stable";
pub const COMPONENT: &str = "main";
/// Fixed so that the `.deb` files, and their sha256, are the same on every run.
pub const SOURCE_DATE_EPOCH: &str = "1700000000";

/// One package of the test repository.
pub struct TestPackage {
    pub name: &'static str,
    pub version: &'static str,
    /// Each architecture gets its own `.deb`; `all` is one package for every architecture.
    pub architectures: &'static [&'static str],
    /// Extra control fields, `Field: value` lines.
    pub fields: &'static str,
    /// Files: path inside the package → content.
    pub files: &'static [(&'static str, &'static str)],
    /// Maintainer scripts: `postinst`, `prerm`, … → content.
    pub scripts: &'static [(&'static str, &'static str)],
}

/// What the test repository holds; tests assert on these names.
pub const PACKAGES: &[TestPackage] = &[
    TestPackage {
        name: "duck-base",
        version: "1.0",
        architectures: &["all"],
        fields: "Essential: yes\nPriority: required\n",
        files: &[("etc/duck-release", "duck 1\n")],
        scripts: &[],
    },
    TestPackage {
        name: "mawk",
        version: "1.3.4-1",
        architectures: &["amd64", "arm64"],
        fields: "Priority: required\nProvides: awk\nMulti-Arch: foreign\n",
        files: &[("usr/bin/mawk", "#!/bin/sh\necho mawk\n")],
        scripts: &[],
    },
    TestPackage {
        name: "gawk",
        version: "5.2.1-2",
        architectures: &["amd64", "arm64"],
        fields: "Priority: optional\nProvides: awk\nMulti-Arch: foreign\n",
        files: &[("usr/bin/gawk", "#!/bin/sh\necho gawk\n")],
        scripts: &[],
    },
    TestPackage {
        name: "libduck1",
        version: "1.2-1",
        architectures: &["amd64", "arm64"],
        fields: "Priority: optional\nMulti-Arch: same\n",
        files: &[("usr/share/doc/libduck1/README", "quack\n")],
        scripts: &[(
            "postinst",
            "#!/bin/sh\nset -e\necho libduck1 configured > /var/lib/libduck1.state\n",
        )],
    },
    TestPackage {
        name: "duck-tool",
        version: "2.0-1",
        architectures: &["amd64", "arm64"],
        fields: "Priority: optional\nDepends: libduck1 (>= 1.0), awk, duck-mta | mail-transport-agent\n",
        files: &[("usr/bin/duck-tool", "#!/bin/sh\necho quack\n")],
        scripts: &[],
    },
    TestPackage {
        name: "duck-mta",
        version: "1.0",
        architectures: &["all"],
        fields: "Priority: optional\nProvides: mail-transport-agent\nConflicts: mail-transport-agent, pond-mta\n",
        files: &[("usr/sbin/sendmail", "#!/bin/sh\n")],
        scripts: &[
            (
                "postinst",
                "#!/bin/sh\nset -e\necho configured > /var/lib/duck-mta.state\n",
            ),
            (
                "prerm",
                "#!/bin/sh\nset -e\nrm -f /var/lib/duck-mta.state\n",
            ),
        ],
    },
    TestPackage {
        name: "duck-users",
        version: "1.0",
        architectures: &["all"],
        fields: "Priority: optional\n",
        files: &[("usr/share/duck-users/users", "duck:1000\n")],
        // Like base-passwd: the preinst makes a file that the postinst (dpkg runs it later)
        // needs.
        scripts: &[
            (
                "preinst",
                "#!/bin/sh\nset -e\nmkdir -p /var/lib\necho \"preinst $1\" > /var/lib/duck-users.state\n",
            ),
            (
                "postinst",
                "#!/bin/sh\nset -e\necho \"postinst $1\" >> /var/lib/duck-users.state\n",
            ),
        ],
    },
    TestPackage {
        name: "pond-mta",
        version: "3.1",
        architectures: &["all"],
        fields: "Priority: extra\nProvides: mail-transport-agent\nConflicts: mail-transport-agent\n",
        files: &[("usr/sbin/sendmail", "#!/bin/sh\n")],
        scripts: &[],
    },
    TestPackage {
        name: "python3-lite",
        version: "3.11.2-1",
        architectures: &["amd64", "arm64"],
        fields: "Priority: optional\nMulti-Arch: allowed\nProvides: python3-api (= 3.11)\n",
        files: &[("usr/bin/python3", "#!/bin/sh\n")],
        scripts: &[],
    },
    TestPackage {
        name: "duck-app",
        version: "0.9",
        architectures: &["all"],
        fields: "Priority: optional\nPre-Depends: duck-base\nDepends: duck-tool (>= 2.0), python3-lite:any, python3-api (>= 3.10)\n",
        files: &[("usr/share/duck-app/main.py", "print(42)\n")],
        scripts: &[],
    },
    TestPackage {
        name: "duck-catalog",
        version: "1.0",
        architectures: &["all"],
        fields: "Priority: optional\n",
        files: &[("usr/share/duck-catalog/duck.cat", "duck\n")],
        // Like sgml-base and fontconfig: a file trigger on a directory other packages fill,
        // and an explicit trigger that their maintainer scripts activate.
        scripts: &[(
            "triggers",
            "interest-noawait /usr/share/duck-catalog\ninterest duck-catalog-update\n",
        )],
    },
    TestPackage {
        name: "duck-catalog-extra",
        version: "1.0",
        architectures: &["all"],
        fields: "Priority: optional\nDepends: duck-catalog\n",
        files: &[("usr/share/duck-catalog/extra.cat", "extra\n")],
        scripts: &[],
    },
    TestPackage {
        name: "old-duck",
        version: "0.1",
        architectures: &["all"],
        fields: "Priority: optional\nBreaks: libduck1 (>= 1.0)\n",
        files: &[("usr/share/old-duck", "old\n")],
        scripts: &[],
    },
];

/// The built repository.
pub struct AptRepo {
    /// The repository root (`dists/`, `pool/`).
    pub root: PathBuf,
    /// Keyring with the key that signed the Release file.
    pub keyring: PathBuf,
    /// Keyring with another key, which did not sign it.
    pub other_keyring: PathBuf,
    /// `http://127.0.0.1:PORT` serving `root`.
    pub url: String,
}

impl AptRepo {
    /// The `URI SUITE COMPONENT` line (with `signed-by`) for `--repository` / `DUCKC_APT_REPOSITORY`.
    pub fn line(&self) -> String {
        format!(
            "[signed-by={}] {} {SUITE} {COMPONENT}",
            self.keyring.display(),
            self.url
        )
    }
}

/// The test repository, built on first use and served for the life of the test binary.
pub fn repo() -> &'static AptRepo {
    static REPO: OnceLock<AptRepo> = OnceLock::new();
    REPO.get_or_init(build)
}

fn build() -> AptRepo {
    // Integration tests get a scratch directory in the target directory at compile time.
    let base = option_env!("CARGO_TARGET_TMPDIR")
        .map_or_else(std::env::temp_dir, PathBuf::from)
        .join(format!("duckc-apt-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    // Leftovers of earlier test processes that have exited.
    if let Ok(dirs) = std::fs::read_dir(base.parent().unwrap()) {
        for dir in dirs.flatten() {
            let name = dir.file_name().to_string_lossy().into_owned();
            if let Some(pid) = name.strip_prefix("duckc-apt-")
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(dir.path());
            }
        }
    }
    let root = base.join("repo");

    let mut paragraphs: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for arch in ["amd64", "arm64"] {
        paragraphs.insert(arch, Vec::new());
    }
    for p in PACKAGES {
        for &arch in p.architectures {
            let (deb_path, control) = build_deb(&root, &base.join("build"), p, arch);
            let size = std::fs::metadata(root.join(&deb_path)).unwrap().len();
            let sha = sha256(&root.join(&deb_path));
            let entry = format!("{control}Filename: {deb_path}\nSize: {size}\nSHA256: {sha}\n");
            for (a, list) in paragraphs.iter_mut() {
                if arch == "all" || arch == *a {
                    list.push(entry.clone());
                }
            }
        }
    }
    let (keyring, other_keyring) = index_and_sign(&root, &base, &paragraphs);
    let url = serve(&root, Serve::Normal);
    AptRepo {
        root,
        keyring,
        other_keyring,
        url,
    }
}

/// Write `dists/SUITE/COMPONENT/binary-ARCH/Packages` (and `.xz`) from `paragraphs` (by
/// architecture), a `Release` listing them, and sign it (`InRelease`, `Release.gpg`) with a key
/// made on the spot in `base/gnupg`; returns the keyring holding that key and one holding
/// another key.
pub fn index_and_sign(
    root: &Path,
    base: &Path,
    paragraphs: &BTreeMap<&str, Vec<String>>,
) -> (PathBuf, PathBuf) {
    let gnupg = base.join("gnupg");
    std::fs::create_dir_all(&gnupg).unwrap();
    set_mode(&gnupg, 0o700);
    let dists = root.join("dists").join(SUITE);
    let mut release_files = Vec::new();
    for (arch, list) in paragraphs {
        let dir = format!("{COMPONENT}/binary-{arch}");
        std::fs::create_dir_all(dists.join(&dir)).unwrap();
        let packages = dists.join(&dir).join("Packages");
        std::fs::write(&packages, list.join("\n")).unwrap();
        run(Command::new("xz").arg("-k").arg("-9").arg(&packages));
        release_files.push(format!("{dir}/Packages"));
        release_files.push(format!("{dir}/Packages.xz"));
    }
    let archs: Vec<&str> = paragraphs.keys().copied().collect();
    let mut release = format!(
        "Origin: duckc-test\nLabel: duckc-test\nSuite: {SUITE}\nCodename: duck\nDate: Tue, 14 Nov 2023 22:13:20 UTC\nArchitectures: {}\nComponents: {COMPONENT}\nDescription: duckc test repository\nSHA256:\n",
        archs.join(" ")
    );
    for f in &release_files {
        let path = dists.join(f);
        let size = std::fs::metadata(&path).unwrap().len();
        release += &format!(" {} {size:>8} {f}\n", sha256(&path));
    }
    std::fs::write(dists.join("Release"), &release).unwrap();

    let keyring = base.join("test-keyring.gpg");
    let other_keyring = base.join("other-keyring.gpg");
    let gpg = |args: &[&str]| {
        let mut cmd = Command::new("gpg");
        cmd.env("GNUPGHOME", &gnupg)
            .args(["--batch", "--quiet", "--yes"])
            .args(args);
        cmd
    };
    run(&mut gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "duckc test repository <repo@duckc.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    run(&mut gpg(&[
        "--passphrase",
        "",
        "--quick-gen-key",
        "someone else <other@duckc.invalid>",
        "ed25519",
        "sign",
        "never",
    ]));
    run(gpg(&["--export", "-o"])
        .arg(&keyring)
        .arg("repo@duckc.invalid"));
    run(gpg(&["--export", "-o"])
        .arg(&other_keyring)
        .arg("other@duckc.invalid"));
    let release_path = dists.join("Release");
    run(gpg(&[
        "--local-user",
        "repo@duckc.invalid",
        "--digest-algo",
        "SHA512",
        "--clearsign",
        "-o",
    ])
    .arg(dists.join("InRelease"))
    .arg(&release_path));
    run(gpg(&[
        "--local-user",
        "repo@duckc.invalid",
        "--digest-algo",
        "SHA512",
        "--detach-sign",
        "-o",
    ])
    .arg(dists.join("Release.gpg"))
    .arg(&release_path));
    // gpg started an agent for this home: stop it, the keys are no longer needed.
    let _ = Command::new("gpgconf")
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "gpg-agent"])
        .status();
    (keyring, other_keyring)
}

pub fn build_deb(root: &Path, work: &Path, p: &TestPackage, arch: &str) -> (String, String) {
    let dir = work.join(format!("{}_{arch}", p.name));
    std::fs::create_dir_all(dir.join("DEBIAN")).unwrap();
    for (path, content) in p.files {
        let file = dir.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        if content.starts_with("#!") {
            set_mode(&file, 0o755);
        }
    }
    for (name, content) in p.scripts {
        let file = dir.join("DEBIAN").join(name);
        std::fs::write(&file, content).unwrap();
        set_mode(&file, 0o755);
    }
    let control = format!(
        "Package: {}\nVersion: {}\nArchitecture: {arch}\nMaintainer: duckc tests <tests@duckc.invalid>\n{}Description: {} (duckc test package)\n",
        p.name, p.version, p.fields, p.name
    );
    std::fs::write(dir.join("DEBIAN/control"), &control).unwrap();
    let first = p.name.chars().next().unwrap();
    let deb_path = format!(
        "pool/{COMPONENT}/{first}/{}/{}_{}_{arch}.deb",
        p.name, p.name, p.version
    );
    std::fs::create_dir_all(root.join(&deb_path).parent().unwrap()).unwrap();
    run(Command::new("dpkg-deb")
        .env("SOURCE_DATE_EPOCH", SOURCE_DATE_EPOCH)
        .args(["--root-owner-group", "-Zgzip", "--build"])
        .arg(&dir)
        .arg(root.join(&deb_path)));
    (deb_path, control)
}

pub fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Lowercase hex sha256 of a file (with `sha256sum`).
pub fn sha256(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

/// Copy a directory tree (to tamper with a copy of the repository).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// How the test server behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serve {
    /// Files as they are, with `Range` support.
    Normal,
    /// `.deb` files announce their full length but the connection closes after this many bytes.
    CutDebsAfter(usize),
}

/// Serve `root` over HTTP on 127.0.0.1 for the life of the test binary; returns the base URL.
pub fn serve(root: &Path, behaviour: Serve) -> String {
    serve_on(root, "127.0.0.1", behaviour)
}

/// [`serve`] on the address `ip` (a duckc bridge's gateway, so that containers on it reach
/// the server too).
pub fn serve_on(root: &Path, ip: &str, behaviour: Serve) -> String {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let root = root.to_owned();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let root = root.clone();
            std::thread::spawn(move || {
                let _ = respond(stream, &root, behaviour);
            });
        }
    });
    url
}

fn respond(mut stream: TcpStream, root: &Path, behaviour: Serve) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut range_from = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("range: bytes=") {
            range_from = v.trim().trim_end_matches('-').parse().unwrap_or(0);
        }
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let safe = !path.split('/').any(|c| c == "..");
    let file = root.join(path.trim_start_matches('/'));
    let data = match std::fs::File::open(&file) {
        Ok(mut f) if safe && file.is_file() => {
            let mut data = Vec::new();
            f.read_to_end(&mut data)?;
            data
        }
        _ => {
            return stream.write_all(
                b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            );
        }
    };
    let (status, body) = if range_from > 0 && range_from < data.len() {
        ("206 Partial Content", &data[range_from..])
    } else {
        ("200 OK", &data[..])
    };
    let mut head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("206") {
        head += &format!(
            "Content-Range: bytes {range_from}-{}/{}\r\n",
            data.len() - 1,
            data.len()
        );
    }
    head += "\r\n";
    stream.write_all(head.as_bytes())?;
    match behaviour {
        Serve::CutDebsAfter(n) if path.ends_with(".deb") => {
            stream.write_all(&body[..n.min(body.len())])
        }
        _ => stream.write_all(body),
    }
}
