//! The profile compiler, checked by running the BPF it produces on made-up system calls: a
//! classic-BPF interpreter below plays the kernel's part, so the verdicts for the default
//! profile are checked without installing anything.

use super::*;

const X86_64: u32 = 0xC000_003E;
const I386: u32 = 0x4000_0003;
const AARCH64: u32 = 0xC000_00B7;
const X32_BIT: i32 = 0x4000_0000;

/// Run the BPF program on one `seccomp_data` (little-endian x86_64 layout) and name the
/// verdict: `allow`, `errno N`, `kill-process`, …
fn run(bpf: &[u8], arch: u32, nr: i32, args: [u64; 6]) -> String {
    let mut data = Vec::with_capacity(64);
    data.extend_from_slice(&nr.to_ne_bytes());
    data.extend_from_slice(&arch.to_ne_bytes());
    data.extend_from_slice(&0u64.to_ne_bytes());
    for a in args {
        data.extend_from_slice(&a.to_ne_bytes());
    }
    let word = |off: u32| {
        let o = off as usize;
        u32::from_ne_bytes(data[o..o + 4].try_into().unwrap())
    };
    let insns: Vec<(u16, u8, u8, u32)> = bpf
        .chunks_exact(8)
        .map(|c| {
            (
                u16::from_ne_bytes([c[0], c[1]]),
                c[2],
                c[3],
                u32::from_ne_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    let ret = loop {
        let (code, jt, jf, k) = insns[pc];
        pc += 1;
        let src = if code & 0x08 != 0 { x } else { k };
        match code & 0x07 {
            0x00 => match code & 0xe0 {
                0x20 => a = word(k), // BPF_LD|BPF_W|BPF_ABS
                0x00 => a = k,       // BPF_IMM
                0x60 => a = mem[k as usize],
                m => panic!("ld mode {m:#x}"),
            },
            0x01 => match code & 0xe0 {
                0x00 => x = k,
                0x60 => x = mem[k as usize],
                m => panic!("ldx mode {m:#x}"),
            },
            0x02 => mem[k as usize] = a,
            0x03 => mem[k as usize] = x,
            0x04 => match code & 0xf0 {
                0x00 => a = a.wrapping_add(src),
                0x10 => a = a.wrapping_sub(src),
                0x50 => a &= src,
                0x40 => a |= src,
                op => panic!("alu op {op:#x}"),
            },
            0x05 => {
                let taken = match code & 0xf0 {
                    0x00 => {
                        pc += k as usize;
                        continue;
                    }
                    0x10 => a == src,
                    0x20 => a > src,
                    0x30 => a >= src,
                    0x40 => a & src != 0,
                    op => panic!("jmp op {op:#x}"),
                };
                pc += if taken { jt } else { jf } as usize;
            }
            0x06 => break if code & 0x18 == 0x10 { a } else { k },
            0x07 => {
                if code & 0xf8 == 0 {
                    x = a;
                } else {
                    a = x;
                }
            }
            _ => unreachable!(),
        }
    };
    match ret & 0xffff_0000 {
        0x8000_0000 => "kill-process".into(),
        0x0000_0000 => "kill-thread".into(),
        0x0003_0000 => "trap".into(),
        0x0005_0000 => format!("errno {}", ret & 0xffff),
        0x7ff0_0000 => "trace".into(),
        0x7ffc_0000 => "log".into(),
        0x7fff_0000 => "allow".into(),
        other => format!("{other:#x}"),
    }
}

fn target<'a>(caps: &'a [&'a str]) -> Target<'a> {
    Target {
        arch: "amd64",
        kernel: (6, 18),
        caps,
    }
}

fn default_caps() -> Vec<&'static str> {
    crate::caps::DEFAULT.iter().map(|(_, n)| *n).collect()
}

fn default_filter(caps: &[&str]) -> Filter {
    compile(&parse(DEFAULT_PROFILE).unwrap(), &target(caps)).unwrap()
}

/// One line per case: `name verdict`.
fn verdicts(bpf: &[u8], cases: &[(&str, u32, i32, [u64; 6])]) -> String {
    cases
        .iter()
        .map(|(name, arch, nr, args)| format!("{name} {}\n", run(bpf, *arch, *nr, *args)))
        .collect()
}

const NONE: [u64; 6] = [0; 6];
const CLONE_NEWUSER: u64 = 0x1000_0000;
const CLONE_NEWNS: u64 = 0x0002_0000;

fn one(a: u64) -> [u64; 6] {
    [a, 0, 0, 0, 0, 0]
}

#[test]
fn default_profile_under_the_default_capabilities() {
    let caps = default_caps();
    let f = default_filter(&caps);
    assert_eq!(f.flags, 0);
    assert!(f.bpf.len().is_multiple_of(8));
    let cases = [
        ("read", X86_64, 0, NONE),
        ("keyctl", X86_64, 250, NONE),
        ("add_key", X86_64, 248, NONE),
        ("request_key", X86_64, 249, NONE),
        ("perf_event_open", X86_64, 298, NONE),
        ("userfaultfd", X86_64, 323, NONE),
        ("bpf", X86_64, 321, NONE),
        ("kexec_load", X86_64, 246, NONE),
        ("open_by_handle_at", X86_64, 304, NONE),
        ("mount", X86_64, 165, NONE),
        ("unshare", X86_64, 272, one(CLONE_NEWUSER)),
        ("ptrace", X86_64, 101, NONE),
        ("clone(0x11)", X86_64, 56, one(0x11)),
        ("clone(NEWUSER)", X86_64, 56, one(CLONE_NEWUSER | 0x11)),
        ("clone(NEWNS)", X86_64, 56, one(CLONE_NEWNS)),
        ("clone3", X86_64, 435, NONE),
        ("personality(0)", X86_64, 135, one(0)),
        ("personality(0xffffffff)", X86_64, 135, one(0xffff_ffff)),
        (
            "personality(ADDR_NO_RANDOMIZE)",
            X86_64,
            135,
            one(0x0040000),
        ),
        ("socket(AF_INET)", X86_64, 41, one(2)),
        ("socket(AF_VSOCK)", X86_64, 41, one(40)),
        ("socket(AF_ALG)", X86_64, 41, one(38)),
        ("chroot", X86_64, 161, NONE),
        ("i386 read", I386, 3, NONE),
        ("i386 keyctl", I386, 288, NONE),
        ("i386 clone(NEWUSER)", I386, 120, one(CLONE_NEWUSER)),
        ("i386 unshare", I386, 310, NONE),
        ("x32 read", X86_64, X32_BIT, NONE),
        ("x32 keyctl", X86_64, X32_BIT | 250, NONE),
        ("aarch64 read", AARCH64, 63, NONE),
    ];
    assert_eq!(
        verdicts(&f.bpf, &cases),
        "\
read allow
keyctl errno 1
add_key errno 1
request_key errno 1
perf_event_open errno 1
userfaultfd errno 1
bpf errno 1
kexec_load errno 1
open_by_handle_at errno 1
mount errno 1
unshare errno 1
ptrace allow
clone(0x11) allow
clone(NEWUSER) errno 1
clone(NEWNS) errno 1
clone3 errno 38
personality(0) allow
personality(0xffffffff) allow
personality(ADDR_NO_RANDOMIZE) errno 1
socket(AF_INET) allow
socket(AF_VSOCK) errno 1
socket(AF_ALG) errno 1
chroot allow
i386 read allow
i386 keyctl errno 1
i386 clone(NEWUSER) errno 1
i386 unshare errno 1
x32 read allow
x32 keyctl errno 1
aarch64 read kill-process
"
    );
}

#[test]
fn capabilities_include_and_exclude_rules() {
    let mut caps = default_caps();
    caps.extend(["CAP_SYS_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH"]);
    caps.retain(|c| *c != "CAP_SYS_CHROOT");
    let f = default_filter(&caps);
    let cases = [
        ("mount", X86_64, 165, NONE),
        ("unshare", X86_64, 272, one(CLONE_NEWUSER)),
        ("clone(NEWUSER)", X86_64, 56, one(CLONE_NEWUSER)),
        // Excluded under CAP_SYS_ADMIN: the plain allow rule for it applies instead.
        ("clone3", X86_64, 435, NONE),
        ("open_by_handle_at", X86_64, 304, NONE),
        ("kcmp", X86_64, 312, NONE),
        ("chroot", X86_64, 161, NONE),
        ("keyctl", X86_64, 250, NONE),
    ];
    assert_eq!(
        verdicts(&f.bpf, &cases),
        "\
mount allow
unshare allow
clone(NEWUSER) allow
clone3 allow
open_by_handle_at allow
kcmp allow
chroot errno 1
keyctl errno 1
"
    );
}

#[test]
fn includes_and_excludes_by_arch_and_kernel() {
    let rule = |json: &str| -> Syscall { serde_json::from_str(json).unwrap() };
    let caps = default_caps();
    let t = target(&caps);
    let arm_only =
        rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"arches":["arm64"]}}"#);
    let not_amd64 =
        rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","excludes":{"arches":["amd64"]}}"#);
    let new_kernel =
        rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"7.0"}}"#);
    let old_kernel =
        rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4.8"}}"#);
    let both_caps = rule(
        r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"caps":["CAP_CHOWN","CAP_SYS_ADMIN"]}}"#,
    );
    let bad = rule(r#"{"names":["x"],"action":"SCMP_ACT_ALLOW","includes":{"minKernel":"4"}}"#);
    assert!(!applies(&arm_only, &t).unwrap());
    assert!(!applies(&not_amd64, &t).unwrap());
    assert!(!applies(&new_kernel, &t).unwrap());
    assert!(applies(&old_kernel, &t).unwrap());
    assert!(
        !applies(&both_caps, &t).unwrap(),
        "every listed capability is needed"
    );
    assert!(matches!(applies(&bad, &t), Err(Error::KernelVersion(_))));
    assert_eq!(kernel_version("6.18.0-1-amd64"), Some((6, 18)));
    assert_eq!(kernel_version("5.10-rc5"), Some((5, 10)));
}

fn custom(json: &str) -> Result<Filter> {
    compile(&parse(json)?, &target(&default_caps()))
}

#[test]
fn a_deny_list_profile_with_its_own_errno() {
    let f = custom(
        r#"{
  "defaultAction": "SCMP_ACT_ALLOW",
  "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
  "syscalls": [
    {"names": ["mkdir", "mkdirat", "no_such_call"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
    {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
    {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
     "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"},
              {"index": 0, "value": 9, "op": "SCMP_CMP_EQ"}]},
    {"names": ["kill"], "action": "SCMP_ACT_KILL_PROCESS",
     "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
              {"index": 1, "value": 9, "op": "SCMP_CMP_EQ"}]}
  ]
}"#,
    )
    .unwrap();
    let cases = [
        ("mkdir", X86_64, 83, NONE),
        ("mkdirat", X86_64, 258, NONE),
        ("i386 mkdir", I386, 39, NONE),
        ("x32 mkdir", X86_64, X32_BIT | 83, NONE),
        ("getpid", X86_64, 39, NONE),
        ("personality(8)", X86_64, 135, one(8)),
        ("personality(9)", X86_64, 135, one(9)),
        ("personality(0)", X86_64, 135, one(0)),
        ("kill(1, 9)", X86_64, 62, [1, 9, 0, 0, 0, 0]),
        ("kill(1, 15)", X86_64, 62, [1, 15, 0, 0, 0, 0]),
    ];
    assert_eq!(
        verdicts(&f.bpf, &cases),
        "\
mkdir errno 13
mkdirat errno 13
i386 mkdir errno 13
x32 mkdir errno 13
getpid allow
personality(8) errno 1
personality(9) errno 1
personality(0) allow
kill(1, 9) kill-process
kill(1, 15) allow
"
    );
}

#[test]
fn masked_equal_compares_with_value_two() {
    let f = custom(
        r#"{"defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [{"names": ["clone"], "action": "SCMP_ACT_ALLOW",
              "args": [{"index": 0, "value": 255, "valueTwo": 17, "op": "SCMP_CMP_MASKED_EQ"}]}]}"#,
    )
    .unwrap();
    let cases = [
        ("clone(0x111)", X86_64, 56, one(0x111)),
        ("clone(0x12)", X86_64, 56, one(0x12)),
        ("read", X86_64, 0, NONE),
        ("i386 read", I386, 3, NONE),
    ];
    assert_eq!(
        verdicts(&f.bpf, &cases),
        "\
clone(0x111) allow
clone(0x12) errno 1
read errno 1
i386 read kill-process
"
    );
}

#[test]
fn profile_errors() {
    let err = |json: &str| custom(json).unwrap_err().to_string();
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_FROB"}"#),
        "unknown variant `SCMP_ACT_FROB`, expected one of `SCMP_ACT_KILL`, `SCMP_ACT_KILL_PROCESS`, `SCMP_ACT_KILL_THREAD`, `SCMP_ACT_TRAP`, `SCMP_ACT_ERRNO`, `SCMP_ACT_TRACE`, `SCMP_ACT_ALLOW`, `SCMP_ACT_LOG`, `SCMP_ACT_NOTIFY` at line 1 column 33"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_Z80"]}"#),
        "unknown seccomp architecture `SCMP_ARCH_Z80`"
    );
    assert_eq!(
        err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X68"]}]}"#
        ),
        "unknown seccomp architecture `SCMP_ARCH_X68`"
    );
    assert_eq!(
        err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_NOTIFY"}]}"#
        ),
        "seccomp action `SCMP_ACT_NOTIFY` needs a listener, which duckc does not provide"
    );
    assert_eq!(
        err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]}"#
        ),
        "a rule gives both `name` (`read`) and `names`; use `names`"
    );
    assert_eq!(
        err(
            r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW", "args": [{"index": 6, "value": 1, "op": "SCMP_CMP_EQ"}]}]}"#
        ),
        "argument index 6 of `read` is out of range (system calls have 6)"
    );
    assert_eq!(
        err(r#"{"defaultAction": "SCMP_ACT_ERRNO", "flags": ["SECCOMP_FILTER_FLAG_FROB"]}"#),
        "unknown seccomp filter flag `SECCOMP_FILTER_FLAG_FROB`"
    );
    assert!(err("{").starts_with("EOF while parsing an object"));
}

#[test]
fn seccomp_choice_round_trips_and_defaults() {
    #[derive(Deserialize)]
    struct Old {
        #[serde(default)]
        seccomp: Seccomp,
    }
    let old: Old = serde_json::from_str("{}").unwrap();
    assert_eq!(old.seccomp, Seccomp::Default);
    for s in [
        Seccomp::Default,
        Seccomp::Unconfined,
        Seccomp::Profile("{}".into()),
    ] {
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Seccomp>(&json).unwrap(), s);
    }
    assert_eq!(Seccomp::Unconfined.filter().unwrap(), None);
}

#[test]
fn compiled_filters_are_cached_by_profile_and_target() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("seccomp");
    let caps = default_caps();
    let t = target(&caps);
    let fresh = compile(&parse(DEFAULT_PROFILE).unwrap(), &t).unwrap();
    let first = compile_cached(DEFAULT_PROFILE, &t, Some(&cache)).unwrap();
    assert_eq!(first, fresh);
    let files: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700
    );
    // A second start reads the file: replace its program with another valid one to see that.
    let other = custom(r#"{"defaultAction": "SCMP_ACT_ALLOW"}"#).unwrap();
    std::fs::write(&files[0], encode(&other)).unwrap();
    assert_eq!(
        compile_cached(DEFAULT_PROFILE, &t, Some(&cache)).unwrap(),
        other
    );
    // Another capability set or kernel is another entry.
    let t2 = Target {
        kernel: (4, 4),
        ..t.clone()
    };
    assert!(
        !compile_cached(DEFAULT_PROFILE, &t2, Some(&cache))
            .unwrap()
            .bpf
            .is_empty()
    );
    assert_eq!(std::fs::read_dir(&cache).unwrap().count(), 2);
    // A file others could have written is not trusted: it is compiled again and replaced.
    std::fs::set_permissions(&files[0], std::fs::Permissions::from_mode(0o666)).unwrap();
    assert_eq!(
        compile_cached(DEFAULT_PROFILE, &t, Some(&cache)).unwrap(),
        fresh
    );
    // Truncated garbage is ignored too.
    std::fs::write(&files[0], b"abc").unwrap();
    assert_eq!(
        compile_cached(DEFAULT_PROFILE, &t, Some(&cache)).unwrap(),
        fresh
    );
}

/// The binary-tree layout [`compile`] asks libseccomp for gives the same verdict as its
/// default linear one for every system call number of every ABI the filter covers (and one it
/// does not), under every argument value the profile's rules test, with a bit more and a bit
/// less, for Docker's default capability set and for a wider one.
#[test]
fn the_binary_tree_layout_gives_the_linear_layouts_verdicts() {
    let profile = parse(DEFAULT_PROFILE).unwrap();
    let mut values: Vec<(u32, u64)> = vec![(0, 0), (0, u64::MAX)];
    for rule in &profile.syscalls {
        for a in &rule.args {
            for v in [a.value, a.value_two] {
                for w in [
                    v,
                    v.wrapping_add(1),
                    v.wrapping_sub(1),
                    v | 0x8000_0000_0000,
                ] {
                    values.push((a.index, w));
                }
            }
        }
    }
    values.sort_unstable();
    values.dedup();
    let mut wide = default_caps();
    wide.extend([
        "CAP_SYS_ADMIN",
        "CAP_SYS_PTRACE",
        "CAP_SYS_MODULE",
        "CAP_BPF",
    ]);
    for caps in [default_caps(), wide] {
        let t = target(&caps);
        let linear = compile_with(&profile, &t, 1).unwrap();
        let tree = compile_with(&profile, &t, BINARY_TREE).unwrap();
        assert_ne!(linear.bpf, tree.bpf, "the layouts should differ");
        let mut checked = 0;
        for (arch, base) in [(X86_64, 0), (X86_64, X32_BIT), (I386, 0), (AARCH64, 0)] {
            for nr in (0..600).chain([-1, 0x3fff_ffff, i32::MAX]) {
                let nr = nr | base;
                for (index, value) in &values {
                    let mut args = NONE;
                    args[*index as usize] = *value;
                    assert_eq!(
                        run(&linear.bpf, arch, nr, args),
                        run(&tree.bpf, arch, nr, args),
                        "arch {arch:#x} nr {nr:#x} args {args:x?}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 50_000, "{checked}");
    }
}
