//! Parsing Docker's spellings of resource limits (`--memory 512m`, `--cpus 1.5`,
//! `--ulimit nofile=1024:2048`, `--device /dev/x:/dev/y:rw`) and the cgroup files read back.

use std::path::PathBuf;

use crate::spec::{Device, Ulimit};

/// A size as Docker writes it: a number of bytes with an optional `b`, `k`, `m`, `g`, `t`
/// suffix (binary units, any case).
pub fn size(text: &str) -> Result<u64, String> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (digits, shift) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 10),
        Some('m') => (&t[..t.len() - 1], 20),
        Some('g') => (&t[..t.len() - 1], 30),
        Some('t') => (&t[..t.len() - 1], 40),
        _ => (t, 0),
    };
    let bad = || format!("invalid size `{text}`");
    if digits.is_empty() {
        return Err(bad());
    }
    // Docker takes fractions (`1.5g`); keep them exact where they are.
    let bytes = if let Some((whole, frac)) = digits.split_once('.') {
        let whole: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        if frac.is_empty() || frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let scale = 10u128.pow(frac.len() as u32);
        let frac: u128 = frac.parse().map_err(|_| bad())?;
        let total = (u128::from(whole) * scale + frac) << shift;
        u64::try_from(total / scale).map_err(|_| bad())?
    } else {
        let n: u64 = digits.parse().map_err(|_| bad())?;
        n.checked_mul(1 << shift).ok_or_else(bad)?
    };
    Ok(bytes)
}

/// `--memory`: at least 6 MiB, Docker's minimum.
pub fn memory(text: &str) -> Result<u64, String> {
    let m = size(text)?;
    if m < 6 << 20 {
        return Err(format!(
            "minimum memory limit allowed is 6MB, `{text}` is less"
        ));
    }
    Ok(m)
}

/// `--memory-swap`: a size, or `-1` for unlimited swap.
pub fn memory_swap(text: &str) -> Result<i64, String> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    let s = size(text)?;
    i64::try_from(s).map_err(|_| format!("invalid size `{text}`"))
}

/// The CFS period Docker uses for `--cpus`, microseconds.
pub const CPU_PERIOD: u64 = 100_000;

/// `--cpus 1.5` as (quota, period) in microseconds.
pub fn cpus(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("invalid number of CPUs `{text}`");
    let t = text.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    if (whole.is_empty() && frac.is_empty())
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    // Microseconds of quota per CPU: 5 decimals are all a 100000 µs period can hold.
    let mut frac_us = 0u64;
    for (i, d) in frac.bytes().take(5).enumerate() {
        frac_us += u64::from(d - b'0') * 10u64.pow(4 - i as u32);
    }
    let quota = whole
        .checked_mul(CPU_PERIOD)
        .and_then(|q| q.checked_add(frac_us))
        .ok_or_else(bad)?;
    if quota < 1000 {
        return Err(format!(
            "`--cpus {text}` is too small: the kernel's smallest quota is 0.01 CPUs"
        ));
    }
    let online = std::thread::available_parallelism().map_or(u64::MAX, |n| n.get() as u64);
    if quota > online.saturating_mul(CPU_PERIOD) {
        return Err(format!(
            "range of CPUs is from 0.01 to {online}.00, as there are only {online} CPUs available"
        ));
    }
    Ok((quota, CPU_PERIOD))
}

/// `--cpuset-cpus 0-2,4`: checked, returned as written.
pub fn cpuset(text: &str) -> Result<String, String> {
    let bad = || format!("invalid value `{text}` for cpuset cpus");
    let t = text.trim();
    if t.is_empty() {
        return Err(bad());
    }
    for part in t.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a.parse().map_err(|_| bad())?;
        let b: u32 = b.parse().map_err(|_| bad())?;
        if a > b {
            return Err(bad());
        }
    }
    Ok(t.to_owned())
}

/// `--pids-limit`: a positive number (`0` or `-1` mean unlimited, as in Docker).
pub fn pids_limit(text: &str) -> Result<Option<u64>, String> {
    match text.trim().parse::<i64>() {
        Ok(n) if n <= 0 => Ok(None),
        Ok(n) => Ok(Some(n as u64)),
        Err(_) => Err(format!("invalid pids limit `{text}`")),
    }
}

/// Docker's `--ulimit` names and their `RLIMIT_*` resources (`u32` on glibc already, `c_int`
/// on musl: the casts are for the latter).
#[allow(clippy::unnecessary_cast)]
pub const ULIMITS: &[(&str, u32)] = &[
    ("core", libc::RLIMIT_CORE as u32),
    ("cpu", libc::RLIMIT_CPU as u32),
    ("data", libc::RLIMIT_DATA as u32),
    ("fsize", libc::RLIMIT_FSIZE as u32),
    ("locks", libc::RLIMIT_LOCKS as u32),
    ("memlock", libc::RLIMIT_MEMLOCK as u32),
    ("msgqueue", libc::RLIMIT_MSGQUEUE as u32),
    ("nice", libc::RLIMIT_NICE as u32),
    ("nofile", libc::RLIMIT_NOFILE as u32),
    ("nproc", libc::RLIMIT_NPROC as u32),
    ("rss", libc::RLIMIT_RSS as u32),
    ("rtprio", libc::RLIMIT_RTPRIO as u32),
    ("rttime", libc::RLIMIT_RTTIME as u32),
    ("sigpending", libc::RLIMIT_SIGPENDING as u32),
    ("stack", libc::RLIMIT_STACK as u32),
];

/// `--ulimit NAME=SOFT[:HARD]` (`-1` or `unlimited` for no limit).
pub fn ulimit(text: &str) -> Result<Ulimit, String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit `{text}`: expected NAME=SOFT[:HARD]"))?;
    if !ULIMITS.iter().any(|(n, _)| *n == name) {
        return Err(format!("unknown ulimit `{name}`"));
    }
    let value = |v: &str| -> Result<u64, String> {
        match v {
            "-1" | "unlimited" => Ok(u64::MAX),
            _ => v
                .parse()
                .map_err(|_| format!("invalid ulimit value `{v}` in `{text}`")),
        }
    };
    let (soft, hard) = match values.split_once(':') {
        Some((s, h)) => (value(s)?, value(h)?),
        None => (value(values)?, value(values)?),
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(Ulimit {
        name: name.to_owned(),
        soft,
        hard,
    })
}

/// `--device HOST[:CONTAINER][:PERMISSIONS]`; the container path defaults to the host's.
pub fn device(text: &str) -> Result<Device, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let is_access =
        |s: &str| !s.is_empty() && s.len() <= 3 && s.bytes().all(|b| b"rwm".contains(&b));
    let (host, container, access) = match parts[..] {
        [h] => (h, h, "rwm"),
        [h, a] if is_access(a) => (h, h, a),
        [h, c] => (h, c, "rwm"),
        [h, c, a] if is_access(a) => (h, c, a),
        _ => return Err(format!("invalid device `{text}`")),
    };
    if !host.starts_with('/') || !container.starts_with('/') {
        return Err(format!("invalid device `{text}`: paths must be absolute"));
    }
    if !container.starts_with("/dev/") || container.split('/').any(|c| c == "..") {
        return Err(format!(
            "invalid device `{text}`: the container path must be under /dev"
        ));
    }
    Ok(Device {
        host: PathBuf::from(host),
        container: container.to_owned(),
        access: access.to_owned(),
    })
}

/// The value of `key` in a cgroup `KEY VALUE` file (`memory.stat`, `cpu.stat`).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Whether a v2 `cgroup.events` says `frozen 1`.
pub fn events_frozen(text: &str) -> bool {
    keyed(text, "frozen") == Some(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(size("512"), Ok(512));
        assert_eq!(size("1k"), Ok(1024));
        assert_eq!(size("32m"), Ok(32 << 20));
        assert_eq!(size("32M"), Ok(32 << 20));
        assert_eq!(size("32mb"), Ok(32 << 20));
        assert_eq!(size("2g"), Ok(2 << 30));
        assert_eq!(size("1.5g"), Ok(3 << 29));
        assert_eq!(size("1t"), Ok(1 << 40));
        for bad in [
            "",
            "m",
            "-1",
            "1x",
            "1.m",
            "abc",
            "99999999999999999999",
            "16777216t",
        ] {
            assert!(size(bad).is_err(), "{bad}");
        }
        assert!(memory("4m").is_err());
        assert_eq!(memory("6m"), Ok(6 << 20));
        assert_eq!(memory_swap("-1"), Ok(-1));
        assert_eq!(memory_swap("64m"), Ok(64 << 20));
    }

    #[test]
    fn cpus_are_quota_per_period() {
        assert_eq!(cpus("1"), Ok((100_000, 100_000)));
        assert_eq!(cpus("0.5"), Ok((50_000, 100_000)));
        assert_eq!(cpus(".25"), Ok((25_000, 100_000)));
        assert_eq!(cpus("0.01"), Ok((1_000, 100_000)));
        for bad in [
            "",
            ".",
            "0",
            "0.001",
            "-1",
            "1e3",
            "abc",
            "1.2.3",
            "100000000000",
        ] {
            assert!(cpus(bad).is_err(), "{bad}");
        }
        assert_eq!(cpuset("0-1,3"), Ok("0-1,3".into()));
        for bad in ["", "a", "2-1", "1,,2", "-1"] {
            assert!(cpuset(bad).is_err(), "{bad}");
        }
        assert_eq!(pids_limit("20"), Ok(Some(20)));
        assert_eq!(pids_limit("-1"), Ok(None));
        assert!(pids_limit("x").is_err());
    }

    #[test]
    fn ulimits_and_devices() {
        let u = ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = ulimit("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (u64::MAX, u64::MAX));
        for bad in ["nofile", "bogus=1", "nofile=2:1", "nofile=a", "nofile=1:b"] {
            assert!(ulimit(bad).is_err(), "{bad}");
        }
        let d = device("/dev/loop3").unwrap();
        assert_eq!(
            (d.container.as_str(), d.access.as_str()),
            ("/dev/loop3", "rwm")
        );
        let d = device("/dev/loop3:r").unwrap();
        assert_eq!(
            (d.container.as_str(), d.access.as_str()),
            ("/dev/loop3", "r")
        );
        let d = device("/dev/loop3:/dev/xvda:rw").unwrap();
        assert_eq!(
            (d.container.as_str(), d.access.as_str()),
            ("/dev/xvda", "rw")
        );
        for bad in [
            "loop3",
            "/dev/a:b",
            "/dev/a:/etc/passwd",
            "/dev/a:/dev/../etc",
            "/dev/a:/dev/b:x",
            "/a:/b:/c:r",
        ] {
            assert!(device(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroup_files() {
        assert_eq!(
            keyed("usage_usec 1234\nuser_usec 1", "usage_usec"),
            Some(1234)
        );
        assert_eq!(keyed("a 1", "b"), None);
        assert!(events_frozen("populated 1\nfrozen 1\n"));
        assert!(!events_frozen("populated 1\nfrozen 0\n"));
    }
}
