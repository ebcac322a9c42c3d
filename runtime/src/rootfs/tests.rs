//! Recorded set-up sequences: what the runtime asks of the kernel, checked without root.

use std::path::Path;

use crate::caps;
use crate::kernel::{FileKind, Recording, Stat};
use crate::spec::{ContainerSpec, Network, Process, Rootfs, Volume};
use crate::user::Identity;

use super::{Setup, map_caller, overlay_options, setup};

fn spec() -> ContainerSpec {
    ContainerSpec {
        rootfs: Rootfs {
            lower: vec!["/s/layer0".into(), "/s/layer1".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            mountpoint: "/c/rootfs".into(),
            ephemeral: false,
        },
        process: Process {
            args: vec!["sh".into()],
            ..Process::default()
        },
        hostname: "0123456789ab".into(),
        network: Network::Private,
        volumes: vec![],
        seccomp: Default::default(),
        resources: Default::default(),
        dns: Default::default(),
        launch: Default::default(),
        tmpfs: vec![],
        net: None,
    }
}

fn file(ino: u64) -> Stat {
    Stat {
        kind: FileKind::File,
        dev: 9,
        ino,
        rdev: 0,
    }
}

/// A recorder where the masked /proc files are files, as on a real kernel.
fn kernel() -> Recording {
    let k = Recording::with_host_devices();
    for (i, p) in [
        "kcore",
        "keys",
        "timer_list",
        "sched_debug",
        "interrupts",
        "latency_stats",
        "timer_stats",
    ]
    .iter()
    .enumerate()
    {
        k.with_stat(&Path::new("/c/rootfs/proc").join(p), file(i as u64));
    }
    k.with_stat(Path::new("/c/rootfs/proc/sysrq-trigger"), file(50));
    k
}

fn check(spec: &ContainerSpec, setup_: &Setup, k: &Recording) -> String {
    let result = setup(k, spec, setup_);
    let mut out = k.calls();
    if let Err(e) = result {
        out.push_str(&format!("\nerror: {e}"));
    }
    // Every descriptor the set-up opened is closed again, on the error paths too.
    assert_eq!(
        k.open_descriptors(),
        0,
        "descriptors left open after:\n{out}"
    );
    out
}

#[test]
fn default_setup() {
    let k = kernel();
    insta::assert_snapshot!(check(&spec(), &Setup::default(), &k));
}

#[test]
fn rootless_host_network_with_terminal() {
    let k = kernel();
    let mut s = spec();
    s.network = Network::Host;
    map_caller(&k, Path::new("/proc/4242"), 1000, 1000).unwrap();
    let setup_ = Setup {
        rootless: true,
        etc: None,
    };
    let out = check(&s, &setup_, &k);
    assert!(!out.contains("error"), "{out}");
    super::open_console(&k, true).unwrap();
    insta::assert_snapshot!(k.calls());
}

#[test]
fn ephemeral_changes_live_on_a_tmpfs() {
    let k = kernel();
    let mut s = spec();
    s.rootfs.ephemeral = true;
    let out = check(&s, &Setup::default(), &k);
    let head: Vec<&str> = out.lines().take(8).collect();
    insta::assert_snapshot!(head.join("\n"), @r"
    mount none -> / type=none flags=REC|PRIVATE data=none
    mount tmpfs -> /c/rootfs type=tmpfs flags=0 data=mode=755
    open_in_root /c/rootfs merged create=Dir no_symlinks = 10
    open_in_root /c/rootfs etc-layer create=Dir no_symlinks = 11
    open_in_root /c/rootfs etc-files create=Dir no_symlinks = 12
    open_in_root /c/rootfs upper create=Dir no_symlinks = 13
    open_in_root /c/rootfs work create=Dir no_symlinks = 14
    mount_overlay -> /c/rootfs/merged lower+=/s/layer1 lower+=/s/layer0 upper=/c/rootfs/upper work=/c/rootfs/work nodev
    ");
}

fn with_layers(n: usize, dir: &str) -> ContainerSpec {
    let mut s = spec();
    s.rootfs.lower = (0..n).map(|i| format!("{dir}/{i:03}").into()).collect();
    s
}

/// The overlay call of a recorded set-up (the second call, after making `/` private).
fn overlay_call(out: &str) -> String {
    out.lines()
        .find(|l| l.contains("overlay"))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn many_layers_go_to_the_kernel_one_by_one() {
    // 150 layers, far past what one `lowerdir=` string holds: each is its own `lowerdir+`,
    // top (the last) first.
    let k = kernel();
    let out = check(&with_layers(150, "/s"), &Setup::default(), &k);
    assert!(!out.contains("error"), "{out}");
    let call = overlay_call(&out);
    let layers: Vec<&str> = call
        .split(' ')
        .filter_map(|w| w.strip_prefix("lower+="))
        .collect();
    assert_eq!(layers.len(), 150);
    assert_eq!((layers[0], layers[149]), ("/s/149", "/s/000"));
    insta::assert_snapshot!(overlay_call(&check(&with_layers(3, "/s"), &Setup { rootless: true, etc: None }, &kernel())), @"mount_overlay -> /c/rootfs/merged lower+=/s/002 lower+=/s/001 lower+=/s/000 upper=/c/upper work=/c/work userxattr nodev");
}

#[test]
fn a_layer_held_twice_is_mounted_once_at_its_top_place() {
    // `RUN true` twice gives one empty layer twice; overlayfs refuses a lower directory given
    // twice (ELOOP), so only the topmost copy is passed, in both mount APIs.
    let mut s = spec();
    s.rootfs.lower = ["/s/a", "/s/e", "/s/b", "/s/e", "/s/e"]
        .iter()
        .map(Into::into)
        .collect();
    insta::assert_snapshot!(overlay_call(&check(&s, &Setup::default(), &kernel())), @"mount_overlay -> /c/rootfs/merged lower+=/s/e lower+=/s/b lower+=/s/a upper=/c/upper work=/c/work nodev");
    let opts = overlay_options(&s.rootfs, "/c/upper".as_ref(), "/c/work".as_ref(), false).unwrap();
    assert_eq!(
        opts,
        "lowerdir=/s/e:/s/b:/s/a,upperdir=/c/upper,workdir=/c/work"
    );
}

#[test]
fn an_old_kernel_gets_one_option_string_when_it_fits() {
    let k = kernel();
    k.fail_on("mount_overlay", libc::ENOSYS);
    let out = check(
        &spec(),
        &Setup {
            rootless: true,
            etc: None,
        },
        &k,
    );
    let head: Vec<&str> = out.lines().filter(|l| l.contains("overlay")).collect();
    insta::assert_snapshot!(head.join("\n"), @r"
    mount_overlay -> /c/rootfs/merged lower+=/s/layer1 lower+=/s/layer0 upper=/c/upper work=/c/work userxattr nodev
    mount overlay -> /c/rootfs/merged type=overlay flags=NODEV data=lowerdir=/s/layer1:/s/layer0,upperdir=/c/upper,workdir=/c/work,userxattr
    ");
}

#[test]
fn an_old_kernel_with_too_many_layers_says_what_it_needs() {
    let k = kernel();
    k.fail_on("mount_overlay", libc::ENOSYS);
    let store = format!("/var/lib/duckc/snapshots/sha256/{}", "ab".repeat(30));
    let out = check(&with_layers(99, &store), &Setup::default(), &k);
    let last = out.lines().last().unwrap_or_default();
    insta::assert_snapshot!(last, @"error: the image has 99 layers (9645 bytes of overlay options), more than one classic overlay mount takes (4000 bytes); this kernel lacks overlayfs `lowerdir+`: run on Linux 6.8 or later, or flatten the image into fewer layers");
    // A kernel error other than "unsupported" is reported as it is, without a fallback.
    let k = kernel();
    k.fail_on("mount_overlay", libc::ENOENT);
    let out = check(&spec(), &Setup::default(), &k);
    assert!(!out.contains("type=overlay"), "{out}");
    assert!(
        out.ends_with(
            "error: cannot mount the container's overlay: No such file or directory (os error 2)"
        ),
        "{out}"
    );
}

#[test]
fn more_layers_than_overlayfs_stacks_are_refused() {
    let k = kernel();
    let out = check(&with_layers(501, "/s"), &Setup::default(), &k);
    assert!(!out.contains("mount_overlay"), "{out}");
    insta::assert_snapshot!(out.lines().last().unwrap_or_default(), @"error: the image has 501 layers, more than overlayfs stacks (500); flatten it into fewer layers");
    let out = check(&with_layers(500, "/s"), &Setup::default(), &kernel());
    assert!(!out.contains("error"), "{out}");
}

#[test]
fn volumes_are_checked_by_device_and_inode() {
    let k = kernel();
    k.with_stat(
        Path::new("/data"),
        Stat {
            kind: FileKind::Dir,
            dev: 3,
            ino: 77,
            rdev: 0,
        },
    );
    let mut s = spec();
    s.volumes = vec![Volume {
        source: "/data".into(),
        target: "/mnt/data".into(),
        readonly: true,
    }];
    let out = check(&s, &Setup::default(), &k);
    let volume: Vec<&str> = out.lines().filter(|l| l.contains("/data")).collect();
    insta::assert_snapshot!(volume.join("\n"), @r"
    open_in_root / /data = 31
    open_in_root /c/rootfs/merged /mnt/data create=Dir = 32
    mount /proc/self/fd/31 -> /proc/self/fd/32 (/c/rootfs/merged/mnt/data) type=none flags=BIND|REC data=none
    open_in_root /c/rootfs/merged /mnt/data = 33
    mount none -> /proc/self/fd/33 (/c/rootfs/merged/mnt/data) type=none flags=RDONLY|NODEV|REMOUNT|BIND data=none
    ");
}

#[test]
fn a_volume_mount_that_lands_elsewhere_is_refused() {
    let k = kernel();
    k.with_stat(
        Path::new("/data"),
        Stat {
            kind: FileKind::Dir,
            dev: 3,
            ino: 77,
            rdev: 0,
        },
    );
    // The bind does not show up at the target when it is opened again by name, as when a
    // symlink swapped in between sent the mount somewhere else.
    k.misdirect_binds();
    let mut s = spec();
    s.volumes = vec![Volume {
        source: "/data".into(),
        target: "/mnt/data".into(),
        readonly: false,
    }];
    let out = check(&s, &Setup::default(), &k);
    assert!(
        out.ends_with("error: mount target `/mnt/data` did not end up inside the container's root"),
        "{out}"
    );
}

#[test]
fn symlinked_proc_sys_dev_are_refused() {
    for dir in ["proc", "sys", "dev"] {
        let k = kernel();
        k.with_stat(
            &Path::new("/c/rootfs/merged").join(dir),
            Stat {
                kind: FileKind::Symlink,
                dev: 1,
                ino: 2,
                rdev: 0,
            },
        );
        let out = check(&spec(), &Setup::default(), &k);
        let last = out.lines().last().unwrap_or_default().to_owned();
        assert_eq!(
            last,
            format!("error: `/{dir}` in the image is a symlink; refusing to mount over it"),
            "{out}"
        );
    }
}

#[test]
fn a_dev_null_that_is_not_the_device_is_refused() {
    let k = kernel();
    k.with_stat(
        Path::new("/dev/null"),
        Stat {
            kind: FileKind::File,
            dev: 1,
            ino: 3,
            rdev: 0,
        },
    );
    let out = check(&spec(), &Setup::default(), &k);
    assert!(
        out.ends_with("error: host device `/dev/null` is not the expected character device; refusing to use it"),
        "{out}"
    );
    assert!(
        !out.contains("fd/")
            || !out
                .lines()
                .any(|l| l.contains("/dev/null") && l.starts_with("mount"))
    );
}

#[test]
fn root_keeps_the_default_capabilities() {
    let k = Recording::default();
    let id = Identity {
        uid: 0,
        gid: 0,
        groups: vec![0, 10],
        home: "/root".into(),
    };
    caps::become_user(&k, &id, false).unwrap();
    insta::assert_snapshot!(k.calls(), @r"
    capbset keep=0xa80425fb
    setgroups [0, 10]
    setgid 0
    setuid 0
    capset eff=0xa80425fb perm=0xa80425fb inh=0x0
    ambient clear
    no_new_privs
    ");
}

#[test]
fn a_non_root_user_has_no_effective_capabilities() {
    let k = Recording::default();
    let id = Identity {
        uid: 1000,
        gid: 1000,
        groups: vec![1000],
        home: "/home/duck".into(),
    };
    caps::become_user(&k, &id, false).unwrap();
    insta::assert_snapshot!(k.calls(), @r"
    capbset keep=0xa80425fb
    setgroups [1000]
    setgid 1000
    setuid 1000
    capset eff=0x0 perm=0x0 inh=0x0
    ambient clear
    no_new_privs
    ");
}

#[test]
fn generated_etc_files_are_bound_over_a_layer_of_plain_targets() {
    let k = kernel();
    // The image's /etc/hosts is a symlink: the layer of targets shadows it with a file.
    k.with_stat(
        Path::new("/s/layer1/etc/hosts"),
        Stat {
            kind: FileKind::Symlink,
            dev: 9,
            ino: 5,
            rdev: 0,
        },
    );
    for (i, name) in ["hosts", "resolv.conf", "hostname"].iter().enumerate() {
        k.with_stat(
            &Path::new("/c/rootfs/merged/etc").join(name),
            file(60 + i as u64),
        );
        k.with_stat(
            &Path::new("/c/rootfs/etc-files").join(name),
            file(60 + i as u64),
        );
    }
    let setup_ = Setup {
        rootless: false,
        etc: Some(crate::etc::EtcFiles {
            hosts: "127.0.0.1\tlocalhost\n".into(),
            resolv_conf: String::new(),
            hostname: "box\n".into(),
            hosts_file: None,
        }),
    };
    let out = check(&spec(), &setup_, &k);
    assert!(!out.contains("error"), "{out}");
    let etc: Vec<&str> = out.lines().filter(|l| l.contains("etc")).collect();
    insta::assert_snapshot!(etc.join("\n"), @r#"
    open_in_root /c/rootfs etc-layer create=Dir no_symlinks = 11
    open_in_root /c/rootfs etc-files create=Dir no_symlinks = 12
    open_in_root /c/rootfs/etc-layer etc/hosts create=File no_symlinks = 13
    write /c/rootfs/etc-files/hosts "127.0.0.1\tlocalhost\n"
    open_in_root /c/rootfs/etc-layer etc/resolv.conf create=File no_symlinks = 14
    write /c/rootfs/etc-files/resolv.conf ""
    open_in_root /c/rootfs/etc-layer etc/hostname create=File no_symlinks = 15
    write /c/rootfs/etc-files/hostname "box\n"
    copy-attrs /c/upper/etc /c/rootfs/etc-layer/etc
    mount_overlay -> /c/rootfs/merged lower+=/c/rootfs/etc-layer lower+=/s/layer1 lower+=/s/layer0 upper=/c/upper work=/c/work nodev
    open_in_root / /c/rootfs/etc-files/hosts = 34
    open_in_root /c/rootfs/merged /etc/hosts no_symlinks = 35
    mount /proc/self/fd/34 -> /proc/self/fd/35 (/c/rootfs/merged/etc/hosts) type=none flags=BIND data=none
    open_in_root /c/rootfs/merged /etc/hosts = 36
    open_in_root / /c/rootfs/etc-files/resolv.conf = 37
    open_in_root /c/rootfs/merged /etc/resolv.conf no_symlinks = 38
    mount /proc/self/fd/37 -> /proc/self/fd/38 (/c/rootfs/merged/etc/resolv.conf) type=none flags=BIND data=none
    open_in_root /c/rootfs/merged /etc/resolv.conf = 39
    open_in_root / /c/rootfs/etc-files/hostname = 40
    open_in_root /c/rootfs/merged /etc/hostname no_symlinks = 41
    mount /proc/self/fd/40 -> /proc/self/fd/41 (/c/rootfs/merged/etc/hostname) type=none flags=BIND data=none
    open_in_root /c/rootfs/merged /etc/hostname = 42
    "#);
}
