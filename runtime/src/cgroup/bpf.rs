//! The devices allow list as data ([`Rule`]), written for v1 (`devices.allow` lines) and as a
//! cgroup v2 device program: a few BPF instructions made here by hand, loaded with
//! `bpf(BPF_PROG_LOAD)` and attached with `BPF_PROG_ATTACH`/`BPF_CGROUP_DEVICE`, as crun does.
//!
//! The program gets a `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`
//! (`access_type` is the access bits shifted left by 16 over the device type) and returns 1
//! to allow, 0 to deny. Each rule is one block that jumps to the next when the type, the
//! access, the major or the minor does not match; a match returns 1; falling off the end
//! returns 0.

use std::fmt;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

use crate::error::{Error, Result};

/// A device type in a rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Char,
    Block,
}

/// The accesses a rule allows (`r`, `w`, `m`), as the kernel's `BPF_DEVCG_ACC_*` bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access(pub u8);

impl Access {
    pub const MKNOD: u8 = 1;
    pub const READ: u8 = 2;
    pub const WRITE: u8 = 4;
    pub const ALL: Access = Access(7);

    /// `rwm` and any subset of it.
    pub fn parse(text: &str) -> Option<Access> {
        let mut bits = 0;
        for c in text.chars() {
            bits |= match c {
                'm' => Access::MKNOD,
                'r' => Access::READ,
                'w' => Access::WRITE,
                _ => return None,
            };
        }
        (bits != 0).then_some(Access(bits))
    }
}

/// One allow rule: type, major and minor (`None` = any), access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    pub kind: Kind,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: Access,
}

impl fmt::Display for Rule {
    /// The v1 `devices.allow` spelling: `c 1:3 rwm`, `b *:* m`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = |v: Option<u32>| v.map_or("*".to_owned(), |v| v.to_string());
        let kind = match self.kind {
            Kind::Char => 'c',
            Kind::Block => 'b',
        };
        let mut access = String::new();
        for (bit, c) in [
            (Access::READ, 'r'),
            (Access::WRITE, 'w'),
            (Access::MKNOD, 'm'),
        ] {
            if self.access.0 & bit != 0 {
                access.push(c);
            }
        }
        write!(f, "{kind} {}:{} {access}", n(self.major), n(self.minor))
    }
}

/// Docker's default allow list: `mknod` of any node (opening it is what is checked), and the
/// nodes every container has: null, zero, full, random, urandom, tty, console, ptmx and the
/// pty slaves.
pub fn default_rules() -> Vec<Rule> {
    let c = |major, minor: Option<u32>, access| Rule {
        kind: Kind::Char,
        major,
        minor,
        access,
    };
    let mknod = Access(Access::MKNOD);
    vec![
        c(None, None, mknod),
        Rule {
            kind: Kind::Block,
            major: None,
            minor: None,
            access: mknod,
        },
        c(Some(1), Some(3), Access::ALL),
        c(Some(1), Some(5), Access::ALL),
        c(Some(1), Some(7), Access::ALL),
        c(Some(1), Some(8), Access::ALL),
        c(Some(1), Some(9), Access::ALL),
        c(Some(5), Some(0), Access::ALL),
        c(Some(5), Some(1), Access::ALL),
        c(Some(5), Some(2), Access::ALL),
        c(Some(136), None, Access::ALL),
    ]
}

/// One eBPF instruction (`struct bpf_insn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    /// dst in the low nibble, src in the high one.
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

// Opcode parts (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x01 | 0x60; // BPF_LDX | BPF_MEM | BPF_W
const ALU_AND_K: u8 = 0x04 | 0x50; // BPF_ALU | BPF_AND | BPF_K
const ALU_RSH_K: u8 = 0x04 | 0x70; // BPF_ALU | BPF_RSH | BPF_K
const ALU_MOV_K: u8 = 0x04 | 0xb0; // BPF_ALU | BPF_MOV | BPF_K
const ALU_MOV_X: u8 = 0x04 | 0xb0 | 0x08; // BPF_ALU | BPF_MOV | BPF_X
const JMP_JNE_K: u8 = 0x05 | 0x50; // BPF_JMP | BPF_JNE | BPF_K
const JMP_EXIT: u8 = 0x05 | 0x90; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// The device program for `rules` (first match allows; no match denies).
///
/// Registers: r2 type, r3 access, r4 major, r5 minor; r1 (the context) is reused as scratch
/// once they are loaded.
pub fn program(rules: &[Rule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_MEM_W, 2, 1, 0, 0),
        insn(ALU_AND_K, 2, 0, 0, 0xffff),
        insn(LDX_MEM_W, 3, 1, 0, 0),
        insn(ALU_RSH_K, 3, 0, 0, 16),
        insn(LDX_MEM_W, 4, 1, 4, 0),
        insn(LDX_MEM_W, 5, 1, 8, 0),
    ];
    for rule in rules {
        let mut block = Vec::new();
        let kind = match rule.kind {
            Kind::Block => 1, // BPF_DEVCG_DEV_BLOCK
            Kind::Char => 2,  // BPF_DEVCG_DEV_CHAR
        };
        // Offsets are patched once the block's length is known: jump past its end.
        block.push(insn(JMP_JNE_K, 2, 0, 0, kind));
        if rule.access.0 & 7 != 7 {
            block.push(insn(ALU_MOV_X, 1, 3, 0, 0));
            block.push(insn(ALU_AND_K, 1, 0, 0, i32::from(!rule.access.0 & 7)));
            block.push(insn(JMP_JNE_K, 1, 0, 0, 0));
        }
        if let Some(major) = rule.major {
            block.push(insn(JMP_JNE_K, 4, 0, 0, major as i32));
        }
        if let Some(minor) = rule.minor {
            block.push(insn(JMP_JNE_K, 5, 0, 0, minor as i32));
        }
        block.push(insn(ALU_MOV_K, 0, 0, 0, 1));
        block.push(insn(JMP_EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JMP_JNE_K {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
    }
    p.push(insn(ALU_MOV_K, 0, 0, 0, 0));
    p.push(insn(JMP_EXIT, 0, 0, 0, 0));
    p
}

/// The instructions as the kernel reads them (8 bytes each, little end first on the hosts
/// duckc runs on).
pub fn encode(program: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for i in program {
        out.push(i.code);
        out.push(i.regs);
        out.extend_from_slice(&i.off.to_ne_bytes());
        out.extend_from_slice(&i.imm.to_ne_bytes());
    }
    out
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// The `BPF_PROG_LOAD` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The `BPF_PROG_ATTACH` part of `union bpf_attr`.
#[repr(C)]
#[derive(Default)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

fn bpf_err(what: &str) -> Error {
    Error::Kernel {
        what: what.to_owned(),
        source: std::io::Error::last_os_error(),
    }
}

/// Load `program` as a cgroup device program; returns its descriptor. Loaded without the
/// verifier's log first (a log that does not fit fails the load with `ENOSPC`); only a refused
/// program is loaded again with the log, for the error message.
pub fn load(program: &[Insn]) -> Result<OwnedFd> {
    match load_with_log(program, None) {
        Ok(fd) => Ok(fd),
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            match load_with_log(program, Some(&mut log)) {
                Ok(fd) => Ok(fd),
                Err(_) => {
                    let text = String::from_utf8_lossy(&log);
                    let text = text.split('\0').next().unwrap_or_default().trim();
                    let tail: String = text
                        .lines()
                        .rev()
                        .take(3)
                        .collect::<Vec<_>>()
                        .into_iter()
                        .rev()
                        .collect::<Vec<_>>()
                        .join("; ");
                    match e {
                        Error::Kernel { what, source } if !tail.is_empty() => Err(Error::Kernel {
                            what: format!("{what} (verifier: {tail})"),
                            source,
                        }),
                        other => Err(other),
                    }
                }
            }
        }
    }
}

fn load_with_log(program: &[Insn], log: Option<&mut Vec<u8>>) -> Result<OwnedFd> {
    let code = encode(program);
    let license = c"Apache-2.0";
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"duckc_device");
    let (log_level, log_size, log_buf) = match log {
        Some(buf) => (1, buf.len() as u32, buf.as_mut_ptr() as u64),
        None => (0, 0, 0),
    };
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: program.len() as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level,
        log_size,
        log_buf,
        prog_name: name,
        ..Default::default()
    };
    // SAFETY: attr points at a valid, initialised bpf_attr prefix; the buffers it names live
    // until the call returns.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &raw mut attr,
            std::mem::size_of::<ProgLoad>(),
        )
    };
    if fd < 0 {
        return Err(bpf_err("cannot load the devices cgroup program"));
    }
    // SAFETY: a fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Attach `program` to the cgroup2 directory `cgroup` as its device program.
pub fn attach(cgroup: &Path, program: &[Insn]) -> Result<()> {
    let prog = load(program)?;
    let dir = std::fs::File::open(cgroup).map_err(|source| Error::Kernel {
        what: format!("cannot open the cgroup `{}`", cgroup.display()),
        source,
    })?;
    let mut attr = ProgAttach {
        target_fd: dir.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: attr is a valid bpf_attr prefix for BPF_PROG_ATTACH.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &raw mut attr,
            std::mem::size_of::<ProgAttach>(),
        )
    };
    if r < 0 {
        return Err(bpf_err("cannot attach the devices cgroup program"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_spelling() {
        let lines: Vec<String> = default_rules().iter().map(|r| r.to_string()).collect();
        assert_eq!(
            lines,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:1 rwm",
                "c 5:2 rwm",
                "c 136:* rwm"
            ]
        );
        assert_eq!(Access::parse("rw"), Some(Access(6)));
        assert_eq!(Access::parse(""), None);
        assert_eq!(Access::parse("x"), None);
    }

    /// Run the program the way the kernel would, on (type, access, major, minor).
    fn eval(p: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | kind, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_MEM_W => {
                    assert_eq!(src, 1, "loads only from the context");
                    r[dst] = u64::from(ctx[i.off as usize / 4]);
                }
                ALU_AND_K => r[dst] = (r[dst] as u32 & i.imm as u32) as u64,
                ALU_RSH_K => r[dst] = ((r[dst] as u32) >> i.imm) as u64,
                ALU_MOV_K => r[dst] = i.imm as u32 as u64,
                ALU_MOV_X => r[dst] = r[src] as u32 as u64,
                JMP_JNE_K => {
                    if r[dst] != i.imm as i64 as u64 {
                        pc += i.off as usize;
                    }
                }
                JMP_EXIT => return r[0],
                other => panic!("unexpected opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn program_allows_the_default_set_only() {
        let p = program(&default_rules());
        let (c, b) = (2, 1);
        let (m, r, w) = (1, 2, 4);
        assert_eq!(eval(&p, c, r | w, 1, 3), 1, "/dev/null");
        assert_eq!(eval(&p, c, r, 1, 9), 1, "/dev/urandom");
        assert_eq!(eval(&p, c, r | w, 136, 7), 1, "a pty");
        assert_eq!(eval(&p, c, r | w, 5, 2), 1, "ptmx");
        assert_eq!(eval(&p, c, m, 1, 1), 1, "mknod of /dev/mem");
        assert_eq!(eval(&p, b, m, 8, 0), 1, "mknod of sda");
        assert_eq!(eval(&p, c, r, 1, 1), 0, "/dev/mem");
        assert_eq!(eval(&p, c, r | m, 1, 1), 0, "read with mknod");
        assert_eq!(eval(&p, b, r, 8, 0), 0, "sda");
        assert_eq!(eval(&p, b, r, 7, 0), 0, "loop0");
        assert_eq!(eval(&p, c, w, 1, 11), 0, "kmsg");
        let mut rules = default_rules();
        rules.push(Rule {
            kind: Kind::Block,
            major: Some(7),
            minor: Some(3),
            access: Access(Access::READ),
        });
        let p = program(&rules);
        assert_eq!(eval(&p, b, r, 7, 3), 1, "the --device");
        assert_eq!(eval(&p, b, w, 7, 3), 0, "read-only --device");
        assert_eq!(eval(&p, b, r, 7, 4), 0, "another loop device");
        assert_eq!(eval(&p, c, r, 7, 3), 0, "same numbers, other type");
    }

    #[test]
    fn instructions() {
        let p = program(&[Rule {
            kind: Kind::Char,
            major: Some(1),
            minor: None,
            access: Access(Access::READ),
        }]);
        let expect = [
            insn(LDX_MEM_W, 2, 1, 0, 0),
            insn(ALU_AND_K, 2, 0, 0, 0xffff),
            insn(LDX_MEM_W, 3, 1, 0, 0),
            insn(ALU_RSH_K, 3, 0, 0, 16),
            insn(LDX_MEM_W, 4, 1, 4, 0),
            insn(LDX_MEM_W, 5, 1, 8, 0),
            insn(JMP_JNE_K, 2, 0, 6, 2),
            insn(ALU_MOV_X, 1, 3, 0, 0),
            insn(ALU_AND_K, 1, 0, 0, 5),
            insn(JMP_JNE_K, 1, 0, 3, 0),
            insn(JMP_JNE_K, 4, 0, 2, 1),
            insn(ALU_MOV_K, 0, 0, 0, 1),
            insn(JMP_EXIT, 0, 0, 0, 0),
            insn(ALU_MOV_K, 0, 0, 0, 0),
            insn(JMP_EXIT, 0, 0, 0, 0),
        ];
        assert_eq!(p, expect);
        assert_eq!(&encode(&p[..1]), &[0x61, 0x12, 0, 0, 0, 0, 0, 0]);
    }
}
