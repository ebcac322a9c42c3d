//! Against a real signed repository built by the test (dpkg-deb, gpg) and served on 127.0.0.1:
//! verification, resolution, the lock and the download cache.

#[path = "../../../tests/common/apt.rs"]
mod apt;

use std::path::Path;
use std::sync::Mutex;

use duckc_packages::download::{self, DownloadCache, Event, fetch_all};
use duckc_packages::fetch::Fetcher;
use duckc_packages::lock::{Lock, PlatformLock};
use duckc_packages::repo::{self, RepositoryIndex, fetch_index};
use duckc_packages::resolve::{self, Request, resolve};
use duckc_packages::source::{Origin, Repository, parse_line};

fn repository(url: &str, keyring: &Path) -> Repository {
    parse_line(
        &format!(
            "[signed-by={}] {url} {} {}",
            keyring.display(),
            apt::SUITE,
            apt::COMPONENT
        ),
        &Origin::Flag,
    )
    .unwrap()
}

fn index_of(repository: &Repository, arch: &str) -> Result<RepositoryIndex, repo::Error> {
    let cache = tempfile::tempdir().unwrap();
    fetch_index(
        repository,
        arch,
        &Fetcher::default(),
        &DownloadCache::new(cache.path()),
    )
}

fn index(arch: &str) -> RepositoryIndex {
    let r = apt::repo();
    index_of(&repository(&r.url, &r.keyring), arch).unwrap()
}

fn install(
    index: &RepositoryIndex,
    packages: &[&str],
) -> Result<Vec<duckc_packages::index::Package>, resolve::Error> {
    let request = Request {
        packages: packages.iter().map(|s| (*s).to_owned()).collect(),
        installed: vec![],
    };
    resolve(&index.index, &request)
}

fn show(index: &RepositoryIndex, packages: &[&str]) -> String {
    match install(index, packages) {
        Ok(ps) => ps
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
            .collect::<Vec<_>>()
            .join("\n"),
        Err(e) => e.to_string(),
    }
}

/// A copy of the test repository that a test may tamper with, served on its own port.
fn tampered_copy(change: impl FnOnce(&Path)) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    apt::copy_tree(&apt::repo().root, dir.path());
    change(dir.path());
    let url = apt::serve(dir.path(), apt::Serve::Normal);
    (dir, url)
}

#[test]
fn resolution_follows_apt_order() {
    let amd64 = index("amd64");
    // mawk (Priority: required) over gawk for `awk`; the first alternative `duck-mta`;
    // `python3-lite:any` through Multi-Arch: allowed; `python3-api (>= 3.10)` through a versioned Provides.
    insta::assert_snapshot!(show(&amd64, &["duck-app"]), @r"
    duck-app 0.9 all
    duck-base 1.0 all
    duck-mta 1.0 all
    duck-tool 2.0-1 amd64
    libduck1 1.2-1 amd64
    mawk 1.3.4-1 amd64
    python3-lite 3.11.2-1 amd64
    ");
    // A conflict steers the choice to the second alternative.
    insta::assert_snapshot!(show(&amd64, &["duck-tool", "pond-mta"]), @r"
    duck-tool 2.0-1 amd64
    libduck1 1.2-1 amd64
    mawk 1.3.4-1 amd64
    pond-mta 3.1 all
    ");
    // Asking for the other provider gives it.
    assert!(show(&amd64, &["duck-tool", "gawk"]).contains("gawk 5.2.1-2 amd64"));
    assert_eq!(show(&amd64, &["?essential"]), "duck-base 1.0 all");
}

#[test]
fn foreign_architecture_resolves_its_own_packages() {
    let arm64 = index("arm64");
    insta::assert_snapshot!(show(&arm64, &["duck-tool"]), @r"
    duck-mta 1.0 all
    duck-tool 2.0-1 arm64
    libduck1 1.2-1 arm64
    mawk 1.3.4-1 arm64
    ");
}

#[test]
fn conflicts_are_explained() {
    let amd64 = index("amd64");
    insta::assert_snapshot!(show(&amd64, &["duck-mta", "pond-mta"]), @r"
    the packages cannot be installed together:
    The following packages are incompatible
    ├─ pond-mta * can be installed with any of the following options:
    │  └─ pond-mta 3.1
    └─ duck-mta * cannot be installed because there are no viable options:
       └─ duck-mta 1.0 would constrain
          └─ pond-mta (no version), which conflicts with any installable versions previously reported
    ");
    insta::assert_snapshot!(show(&amd64, &["duck-tool", "old-duck"]), @r"
    the packages cannot be installed together:
    The following packages are incompatible
    ├─ duck-tool * can be installed with any of the following options:
    │  └─ duck-tool 2.0-1 would require
    │     └─ libduck1 (>= 1.0), which can be installed with any of the following options:
    │        └─ libduck1 1.2-1
    └─ old-duck * cannot be installed because there are no viable options:
       └─ old-duck 0.1 would constrain
          └─ libduck1 not (>= 1.0), which conflicts with any installable versions previously reported
    ");
    assert_eq!(
        show(&amd64, &["no-such-duck"]),
        "unknown package `no-such-duck`: the repository has no package of that name and none provides it"
    );
}

#[test]
fn lock_round_trip_and_downloads() {
    let r = apt::repo();
    let repository = repository(&r.url, &r.keyring);
    let mut lock = Lock::default();
    let request = vec!["duck-app".to_owned()];
    for (platform, arch) in [("linux/amd64", "amd64"), ("linux/arm64", "arm64")] {
        let index = index_of(&repository, arch).unwrap();
        let packages = resolve(
            &index.index,
            &Request {
                packages: request.clone(),
                installed: vec![],
            },
        )
        .unwrap();
        lock.set(
            "app",
            platform,
            PlatformLock::new(&repository, &index.release, &request, &packages),
        );
    }
    let text = lock.to_string();
    assert_eq!(Lock::parse(&text).unwrap(), lock);
    let release = &lock.envs["app"]["linux/amd64"].repository.release;
    insta::assert_snapshot!(text.replace(release.as_str(), "sha256:<release>"));
    assert!(lock.locked("app", "linux/amd64", &request).is_ok());
    assert_eq!(
        lock.locked("app", "linux/amd64", &["duck-app".into(), "gawk".into()])
            .unwrap_err()
            .to_string(),
        "package `gawk` of env `app` (linux/amd64) is not in the lock"
    );

    let cache_dir = tempfile::tempdir().unwrap();
    let cache = DownloadCache::new(cache_dir.path());
    let items: Vec<_> = lock.envs["app"]["linux/amd64"]
        .packages
        .iter()
        .map(|p| p.download(&repository))
        .collect();
    let events = Mutex::new(Vec::new());
    let paths = fetch_all(&cache, &Fetcher::default(), &items, 4, &|e| {
        if let Event::Finished { name } = e {
            events.lock().unwrap().push(name.to_owned());
        }
    })
    .unwrap();
    for (item, path) in items.iter().zip(&paths) {
        assert_eq!(apt::sha256(path), item.sha256);
    }
    assert_eq!(events.lock().unwrap().len(), items.len());
    // A second fetch finds everything in the cache.
    let again = Mutex::new(0);
    fetch_all(&cache, &Fetcher::default(), &items, 4, &|e| {
        if let Event::Cached { .. } = e {
            *again.lock().unwrap() += 1;
        }
    })
    .unwrap();
    assert_eq!(*again.lock().unwrap(), items.len());
}

#[test]
fn tampered_deb_is_refused_and_nothing_is_stored() {
    let r = apt::repo();
    let deb = "pool/main/m/mawk/mawk_1.3.4-1_amd64.deb";
    let (_dir, url) = tampered_copy(|root| {
        let mut data = std::fs::read(root.join(deb)).unwrap();
        let last = data.len() - 1;
        data[last] ^= 0xff;
        std::fs::write(root.join(deb), data).unwrap();
    });
    let repository = repository(&url, &r.keyring);
    let index = index_of(&repository, "amd64").unwrap();
    let mawk = index.index.find("mawk", "1.3.4-1", "amd64").unwrap();
    let item = duckc_packages::lock::LockedPackage::from(mawk).download(&repository);
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = DownloadCache::new(cache_dir.path());
    let err = cache
        .fetch(&Fetcher::default(), &item, &|_| {})
        .unwrap_err();
    assert!(matches!(err, download::Error::Mismatch { .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with("`mawk_1.3.4-1_amd64.deb` does not match the repository index: sha256 "),
        "{err}"
    );
    assert!(err.to_string().ends_with("; nothing was stored"), "{err}");
    assert_eq!(
        std::fs::read_dir(cache_dir.path().join("sha256"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn bad_signatures_are_refused() {
    let r = apt::repo();
    // Signed text changed after signing.
    let (_dir, url) = tampered_copy(|root| {
        let path = root.join("dists/stable/InRelease");
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace("Codename: duck", "Codename: evil");
        std::fs::write(path, text).unwrap();
    });
    let err = index_of(&repository(&url, &r.keyring), "amd64")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("the Release file is not signed by a key in"),
        "{err}"
    );
    assert!(
        err.ends_with("BAD signature from \"duckc test repository <repo@duckc.invalid>\""),
        "{err}"
    );

    // Signed by a key the keyring does not hold.
    let err = index_of(&repository(&r.url, &r.other_keyring), "amd64")
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("Can't check signature: No public key"),
        "{err}"
    );

    // Not signed at all: refused unless marked trusted.
    let (_dir, url) = tampered_copy(|root| {
        std::fs::remove_file(root.join("dists/stable/InRelease")).unwrap();
        std::fs::remove_file(root.join("dists/stable/Release.gpg")).unwrap();
    });
    let err = index_of(&repository(&url, &r.keyring), "amd64")
        .unwrap_err()
        .to_string();
    assert!(err.contains("the repository is not signed"), "{err}");
    let mut trusted = repository(&url, &r.keyring);
    trusted.trusted = true;
    assert!(index_of(&trusted, "amd64").is_ok());
}

#[test]
fn detached_signature_and_file_repositories() {
    let r = apt::repo();
    let (dir, url) =
        tampered_copy(|root| std::fs::remove_file(root.join("dists/stable/InRelease")).unwrap());
    let over_http = index_of(&repository(&url, &r.keyring), "amd64").unwrap();
    let from_file = index_of(
        &repository(&format!("file://{}", dir.path().display()), &r.keyring),
        "amd64",
    )
    .unwrap();
    assert_eq!(over_http.release, from_file.release);
    assert_eq!(
        over_http.index.packages().len(),
        from_file.index.packages().len()
    );
    assert!(over_http.index.by_name("libduck1").len() == 1);
}

#[test]
fn index_not_matching_release_is_refused() {
    let r = apt::repo();
    let (_dir, url) = tampered_copy(|root| {
        let path = root.join("dists/stable/main/binary-amd64/Packages.xz");
        let mut data = std::fs::read(&path).unwrap();
        data[20] ^= 1;
        std::fs::write(path, data).unwrap();
    });
    let err = index_of(&repository(&url, &r.keyring), "amd64")
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("`main/binary-amd64/Packages.xz`: `main/binary-amd64/Packages.xz` does not match the repository index"), "{err}");
    let err = index_of(&repository(&r.url, &r.keyring), "riscv64")
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("has no `riscv64` packages (it has amd64, arm64)"),
        "{err}"
    );
}

#[test]
fn truncated_download_is_an_error_then_resumes() {
    let r = apt::repo();
    let cut = apt::serve(&r.root, apt::Serve::CutDebsAfter(100));
    let whole = repository(&r.url, &r.keyring);
    let index = index_of(&whole, "amd64").unwrap();
    let package = duckc_packages::lock::LockedPackage::from(
        index.index.find("duck-tool", "2.0-1", "amd64").unwrap(),
    );
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = DownloadCache::new(cache_dir.path());
    // No retries: each would resume 100 bytes further.
    let err = cache
        .fetch(
            &Fetcher::with_retries(0, std::time::Duration::ZERO),
            &package.download(&repository(&cut, &r.keyring)),
            &|_| {},
        )
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("download of `duck-tool_2.0-1_amd64.deb` "),
        "{err}"
    );
    assert!(err.to_string().ends_with("run again to resume it"), "{err}");
    assert!(!cache.contains(&package.sha256));
    let starts = Mutex::new(Vec::new());
    let path = cache
        .fetch(&Fetcher::default(), &package.download(&whole), &|e| {
            if let Event::Started { from, .. } = e {
                starts.lock().unwrap().push(from);
            }
        })
        .unwrap();
    assert_eq!(apt::sha256(&path), package.sha256);
    assert_eq!(starts.into_inner().unwrap(), [100]);
}

mod layers {
    //! Package layers against the test repository: sharing, the dpkg database, reproducibility
    //! and what a bad download leaves behind.

    use super::*;
    use duckc_packages::layers::{DEFAULT_LAYER_BUDGET, PackagesRequest, build_packages};
    use duckc_packages::lock::LockedPackage;
    use duckc_store::{LayerRef, Store};

    fn pins(index: &RepositoryIndex, names: &[&str]) -> Vec<LockedPackage> {
        install(index, names)
            .unwrap()
            .iter()
            .map(LockedPackage::from)
            .collect()
    }

    fn build(
        store: &Store,
        repository: &Repository,
        packages: &[LockedPackage],
    ) -> Result<Vec<LayerRef>, duckc_packages::layers::Error> {
        build_packages(
            store,
            &PackagesRequest {
                packages,
                repository,
                downloads: &store.root().join("downloads"),
                platform: "linux/amd64",
                parent: &[],
                budget: DEFAULT_LAYER_BUDGET,
                requested: &[],
            },
            &|_| {},
        )
    }

    #[test]
    fn two_envs_share_a_package_layer_and_dpkg_lists_every_package() {
        let r = apt::repo();
        let repository = repository(&r.url, &r.keyring);
        let index = index("amd64");
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        // duck-base, then mawk or gawk: no maintainer scripts, so no configure layer.
        let a = build(&store, &repository, &pins(&index, &["duck-base", "mawk"])).unwrap();
        let b = build(&store, &repository, &pins(&index, &["duck-base", "gawk"])).unwrap();
        assert_eq!(a.len(), 3, "duck-base, mawk, dpkg database");
        assert_eq!(a[0], b[0], "duck-base is one layer in both envs");
        assert_ne!(a[1], b[1]);
        assert_ne!(a[2], b[2]);
        // Stored once: three package layers and two databases.
        assert_eq!(store.layers().unwrap().len(), 5);

        let db = store.snapshot(&a[2].diff_id).unwrap();
        let status = std::fs::read_to_string(db.join("var/lib/dpkg/status")).unwrap();
        assert!(
            status.contains("Package: duck-base\nStatus: install ok installed\n"),
            "{status}"
        );
        assert!(
            status.contains("Package: mawk\nStatus: install ok installed\n"),
            "{status}"
        );
        let list = std::fs::read_to_string(db.join("var/lib/dpkg/info/mawk.list")).unwrap();
        assert!(list.lines().any(|l| l == "/usr/bin/mawk"), "{list}");
        // Merged /usr over an empty parent: the links are in the database layer.
        assert_eq!(
            std::fs::read_link(db.join("bin")).unwrap(),
            Path::new("usr/bin")
        );
        let mawk = store.snapshot(&a[1].diff_id).unwrap();
        assert!(mawk.join("usr/bin/mawk").is_file());

        // Another store (another machine) gets the same digests.
        let other = tempfile::tempdir().unwrap();
        let other = Store::open(other.path()).unwrap();
        let again = build(&other, &repository, &pins(&index, &["duck-base", "mawk"])).unwrap();
        assert_eq!(again, a);
    }

    #[test]
    fn a_tampered_deb_stores_no_layer() {
        let r = apt::repo();
        let deb = "pool/main/g/gawk/gawk_5.2.1-2_amd64.deb";
        let (_dir, url) = tampered_copy(|root| {
            let mut data = std::fs::read(root.join(deb)).unwrap();
            data.truncate(data.len() / 2);
            data.resize(data.len() * 2, 0);
            std::fs::write(root.join(deb), data).unwrap();
        });
        let repository = repository(&url, &r.keyring);
        let index = index_of(&repository, "amd64").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let err = build(&store, &repository, &pins(&index, &["gawk"])).unwrap_err();
        assert!(
            err.to_string()
                .contains("does not match the repository index"),
            "{err}"
        );
        assert!(store.layers().unwrap().is_empty());
        assert!(store.list_blobs().unwrap().is_empty());
    }
}

#[test]
fn the_uncompressed_index_is_cached_by_its_release_digest() {
    let r = apt::repo();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = DownloadCache::new(cache_dir.path());
    let fetch = |url: &str| {
        fetch_index(
            &repository(url, &r.keyring),
            "amd64",
            &Fetcher::default(),
            &cache,
        )
    };
    let names = |index: &RepositoryIndex| -> Vec<String> {
        let mut v: Vec<String> = index
            .index
            .packages()
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.architecture))
            .collect();
        v.sort();
        v
    };
    let first = names(&fetch(&r.url).unwrap());
    // The decompressed `Packages`, under the sha256 the Release gives it.
    let plain = apt::sha256(&r.root.join("dists/stable/main/binary-amd64/Packages"));
    let cached = cache.path(&plain);
    assert!(cached.is_file());

    // With it cached, the compressed index is neither read nor fetched: a server without
    // `Packages.xz` still gives the same index.
    let (_dir, url) = tampered_copy(|root| {
        std::fs::remove_file(root.join("dists/stable/main/binary-amd64/Packages.xz")).unwrap();
    });
    for entry in std::fs::read_dir(cache_dir.path().join("sha256")).unwrap() {
        let path = entry.unwrap().path();
        if path != cached {
            std::fs::remove_file(path).unwrap();
        }
    }
    assert_eq!(names(&fetch(&url).unwrap()), first);

    // A corrupted copy is not used: the index is decompressed again and the copy replaced.
    let mut bytes = std::fs::read(&cached).unwrap();
    bytes[10] ^= 1;
    std::fs::write(&cached, bytes).unwrap();
    assert!(fetch(&url).is_err(), "the corrupted copy was used");
    assert_eq!(names(&fetch(&r.url).unwrap()), first);
    assert_eq!(apt::sha256(&cached), plain);
}
