// Hostile tar archives from a stream of choice bytes, for fuzzing the extractor.
//
// Shared by the unit test `random_hostile_archives_stay_inside` (seeded choices) and the
// cargo-fuzz target `fuzz/fuzz_targets/layer_extract.rs` (libFuzzer's choices), which
// `include!`s this file: std only, no crate paths. Every header has a valid checksum, so the
// choices reach the extractor's logic instead of stopping at the tar parser; names and link
// targets come from a vocabulary of the escapes SECURITY.md lists (`..`, absolute paths,
// symlinks to the sandbox's `victim` and `outside`, whiteouts, devices) mixed with plain ones.

/// Reads choices; past the end every choice is 0.
pub struct Choices<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Choices<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Choices { bytes, at: 0 }
    }

    fn byte(&mut self) -> u8 {
        let b = self.bytes.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.byte()) % from.len()]
    }

    fn done(&self) -> bool {
        self.at >= self.bytes.len()
    }
}

/// Names an archive may hold (mostly picked), then names it must not (picked one time in 4).
const NAMES: &[&[u8]] = &[
    b"a",
    b"a/b",
    b"a/b/c",
    b"b",
    b"link",
    b"link/x",
    b"link/x/y",
    b"victim",
    b"outside",
    b"outside/f",
    b"./a",
    b"a/./b",
    b"a//b",
    b".wh.a",
    b"a/.wh.b",
    b".wh..wh..opq",
    b"a/.wh..wh..opq",
    b"a/.wh.link",
    b"dev",
    b"link/.wh.x",
];
const HOSTILE_NAMES: &[&[u8]] = &[
    b"..",
    b"../victim",
    b"../outside/f",
    b"/abs",
    b"/etc/passwd",
    b"a/../../x",
    b".",
    b"./",
    b"",
    b".wh.",
    b".wh...",
    b"a/.wh..",
];

const LINKS: &[&[u8]] = &[
    b"",
    b"a",
    b"a/b",
    b"link",
    b"/",
    b"..",
    b"../..",
    b"../victim",
    b"../outside",
    b"/victim",
    b"/outside",
    b"/../victim",
    b"victim",
    b"a/../../victim",
    b"/proc/self/root",
    b"link/x",
];

/// Tar type flags: files (both spellings), hard link, symlink, devices, dir, fifo, contiguous,
/// pax and GNU long names, and some the extractor does not know (picked less often).
const KINDS: &[u8] = b"0\x00122555012345677xgLK0S";

/// Modes including set-id bits, sticky, none and out of range.
const MODES: &[u32] = &[0o644, 0o755, 0o4755, 0o2755, 0o1777, 0, 0o7777, 0o777_777];

/// A tar archive of up to 8 entries chosen by `choices`, ended with two zero blocks unless
/// the choices cut it short.
pub fn hostile_archive(choices: &mut Choices<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    let count = 1 + choices.byte() % 8;
    for _ in 0..count {
        if choices.done() && !out.is_empty() {
            break;
        }
        let name = pick_name(choices);
        let kind = choices.pick(KINDS);
        let link = choices.pick(LINKS);
        let mode = choices.pick(MODES);
        let data_len = usize::from(choices.byte() % 4) * 100;
        let data: Vec<u8> = (0..data_len).map(|i| i as u8).collect();
        // Mostly the true size; sometimes a lie (larger, smaller, absurd).
        let size = match choices.byte() % 32 {
            0 => data_len as u64 + 512,
            1 => (data_len as u64).saturating_sub(50),
            2 => 0o77_777_777_777,
            _ => data_len as u64,
        };
        let dev = (u32::from(choices.byte()), u32::from(choices.byte()));
        let body: Vec<u8> = match kind {
            b'x' | b'g' => pax(&[
                ("path", pick_name(choices)),
                ("linkpath", choices.pick(LINKS)),
            ]),
            b'L' | b'K' => {
                let mut b = if kind == b'L' {
                    pick_name(choices).to_vec()
                } else {
                    choices.pick(LINKS).to_vec()
                };
                b.push(0);
                b
            }
            _ => data,
        };
        let size = if matches!(kind, b'x' | b'g' | b'L' | b'K') {
            body.len() as u64
        } else {
            size
        };
        out.extend_from_slice(&header(name, kind, size, mode, link, dev));
        out.extend_from_slice(&body);
        while out.len() % 512 != 0 {
            out.push(0);
        }
    }
    if !choices.byte().is_multiple_of(16) {
        out.extend_from_slice(&[0; 1024]);
    }
    out
}

fn pick_name(choices: &mut Choices<'_>) -> &'static [u8] {
    if choices.byte().is_multiple_of(4) {
        choices.pick(HOSTILE_NAMES)
    } else {
        choices.pick(NAMES)
    }
}

fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (key, value) in records {
        let rest_len = 1 + key.len() + 1 + value.len() + 1;
        let mut n = rest_len + 1;
        while n != rest_len + n.to_string().len() {
            n = rest_len + n.to_string().len();
        }
        out.extend_from_slice(format!("{n} {key}=").as_bytes());
        out.extend_from_slice(value);
        out.push(b'\n');
    }
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    let text = &text.as_bytes()[text.len().saturating_sub(digits)..];
    field[..text.len()].copy_from_slice(text);
}

fn header(name: &[u8], kind: u8, size: u64, mode: u32, link: &[u8], dev: (u32, u32)) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
    octal(&mut h[100..108], u64::from(mode));
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 0);
    h[156] = kind;
    h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    octal(&mut h[329..337], u64::from(dev.0));
    octal(&mut h[337..345], u64::from(dev.1));
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    octal(&mut h[148..155], u64::from(sum));
    h[155] = b' ';
    h
}
