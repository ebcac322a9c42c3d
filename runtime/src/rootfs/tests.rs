//! Recorded set-up sequences: what the runtime asks of the kernel, checked without root.

use std::path::Path;

use crate::caps;
use crate::kernel::{FileKind, Recording, Stat};
use crate::spec::{ContainerSpec, Network, Process, Rootfs, Volume};
use crate::user::Identity;

use super::{Setup, map_caller, setup};

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
    let setup_ = Setup { rootless: true };
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
    let head: Vec<&str> = out.lines().take(7).collect();
    insta::assert_snapshot!(head.join("\n"), @r"
    mount none -> / type=none flags=REC|PRIVATE data=none
    mount tmpfs -> /c/rootfs type=tmpfs flags=0 data=mode=755
    open_in_root /c/rootfs upper create=Dir no_symlinks = 10
    open_in_root /c/rootfs work create=Dir no_symlinks = 11
    open_in_root /c/rootfs merged create=Dir no_symlinks = 12
    mount overlay -> /c/rootfs/merged type=overlay flags=0 data=lowerdir=/s/layer1:/s/layer0,upperdir=/c/rootfs/upper,workdir=/c/rootfs/work
    open_in_root /c/rootfs/merged /proc create=Dir no_symlinks = 13
    ");
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
    open_in_root / /data = 28
    open_in_root /c/rootfs /mnt/data create=Dir = 29
    mount /proc/self/fd/28 -> /proc/self/fd/29 (/c/rootfs/mnt/data) type=none flags=BIND|REC data=none
    open_in_root /c/rootfs /mnt/data = 30
    mount none -> /proc/self/fd/30 (/c/rootfs/mnt/data) type=none flags=RDONLY|REMOUNT|BIND data=none
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
            &Path::new("/c/rootfs").join(dir),
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
