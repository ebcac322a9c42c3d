//! `top`: the processes of a running container (every process in its pid namespace, `exec`'d
//! ones included), read from the host's `/proc` with host pids, in the columns of `ps -ef`
//! that `docker top` shows by default.

use std::collections::HashMap;
use std::process::ExitCode;

use duckc_runtime::container::Status;
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};

use super::find;

pub fn top(store: &Store, query: &str, ps_options: &[String]) -> miette::Result<ExitCode> {
    if !ps_options.is_empty() {
        return Err(miette!(
            help = format!("run `duckc top {query}` without them"),
            "duckc's `top` takes no `ps` options (got `{}`)",
            ps_options.join(" ")
        ));
    }
    let (dir, _) = find(store, query)?;
    let state = dir.read_state().into_diagnostic()?;
    let Some(init) = state.pid.filter(|_| state.status == Status::Running) else {
        return Err(miette!(
            help = format!("start it with `duckc start {query}`"),
            "container `{query}` is not running"
        ));
    };
    let ns = std::fs::read_link(format!("/proc/{init}/ns/pid"))
        .map_err(|e| miette!("cannot read the pid namespace of `{query}`: {e}"))?;
    let mut pids: Vec<i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .filter(|pid| std::fs::read_link(format!("/proc/{pid}/ns/pid")).is_ok_and(|l| l == ns))
        .collect();
    pids.sort_unstable();
    let users = host_users();
    let clock = Clock::now();
    let mut rows = vec![
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
            .map(String::from)
            .to_vec(),
    ];
    rows.extend(pids.into_iter().filter_map(|pid| row(pid, &users, &clock)));
    print!("{}", super::table::render(&rows));
    Ok(ExitCode::SUCCESS)
}

/// Host user names by uid, for the UID column (numbers where the host has no name).
fn host_users() -> HashMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_owned()))
        })
        .collect()
}

/// What turns clock ticks into times.
struct Clock {
    ticks: u64,
    uptime: f64,
    boot: i64,
}

impl Clock {
    fn now() -> Clock {
        // SAFETY: sysconf has no preconditions.
        let ticks = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
            .unwrap_or(100)
            .max(1);
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        let boot = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
            .unwrap_or(0);
        Clock {
            ticks,
            uptime,
            boot,
        }
    }
}

fn row(pid: i32, users: &HashMap<u32, String>, clock: &Clock) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let close = stat.rfind(')')?;
    let comm = stat.get(stat.find('(')? + 1..close)?.to_owned();
    // Fields after the command name, starting with field 3 (state).
    let f: Vec<&str> = stat.get(close + 2..)?.split(' ').collect();
    let num = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ppid = num(4);
    let tty_nr = num(7);
    let cpu_ticks = num(14) + num(15);
    let start_ticks = num(22);
    let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| {
            l.strip_prefix("Uid:")?
                .split_whitespace()
                .next()?
                .parse::<u32>()
                .ok()
        })?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmd = if cmdline.is_empty() {
        format!("[{comm}]")
    } else {
        String::from_utf8_lossy(&cmdline)
            .trim_end_matches('\0')
            .replace('\0', " ")
    };
    let elapsed = clock.uptime - start_ticks as f64 / clock.ticks as f64;
    let cpu_secs = cpu_ticks / clock.ticks;
    let c = if elapsed > 0.0 {
        (cpu_ticks as f64 / clock.ticks as f64 / elapsed * 100.0) as u64
    } else {
        0
    };
    let started = clock.boot + (start_ticks / clock.ticks) as i64;
    Some(vec![
        users.get(&uid).cloned().unwrap_or_else(|| uid.to_string()),
        pid.to_string(),
        ppid.to_string(),
        c.to_string(),
        stime(started),
        tty(tty_nr),
        format!(
            "{:02}:{:02}:{:02}",
            cpu_secs / 3600,
            cpu_secs / 60 % 60,
            cpu_secs % 60
        ),
        cmd,
    ])
}

/// `ps`'s STIME: `HH:MM` for a process started today (local time), else `MonDD`.
fn stime(at: i64) -> String {
    let local = |t: i64| {
        // SAFETY: localtime_r fills the tm we give it.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        let t = t as libc::time_t;
        // SAFETY: valid pointers to a time_t and a tm.
        unsafe { libc::localtime_r(&t, &mut tm) };
        tm
    };
    let tm = local(at);
    let today = local(duckc_image::time::now());
    if (tm.tm_year, tm.tm_yday) == (today.tm_year, today.tm_yday) {
        format!("{:02}:{:02}", tm.tm_hour, tm.tm_min)
    } else {
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        format!(
            "{}{:02}",
            MONTHS[tm.tm_mon.clamp(0, 11) as usize],
            tm.tm_mday
        )
    }
}

/// `ps`'s TTY: `pts/N` for a pseudo-terminal, `?` for none.
fn tty(nr: u64) -> String {
    let major = (nr >> 8) & 0xfff;
    let minor = (nr & 0xff) | ((nr >> 12) & 0xfff00);
    match major {
        0 => "?".to_owned(),
        136..=143 => format!("pts/{}", (major - 136) * 256 + minor),
        4 if minor < 64 => format!("tty{minor}"),
        _ => "?".to_owned(),
    }
}
