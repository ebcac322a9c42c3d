//! Fault injection for the crash and concurrency tests: `DUCKC_CRASH_AT=POINT[:N]` makes the
//! process kill itself with SIGKILL the Nth time (default 1st) it reaches the named point, so
//! tests can interrupt a save, load, commit or gc at exact places and check that the store
//! survives; `DUCKC_PAUSE_AT=POINT:FILE` makes it wait there until FILE exists.

use std::sync::Mutex;

static COUNTS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// A named point where a crash test may kill the process.
pub fn crash_point(name: &str) {
    if let Ok(spec) = std::env::var("DUCKC_PAUSE_AT")
        && let Some((point, file)) = spec.split_once(':')
        && point == name
    {
        while !std::path::Path::new(file).exists() {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
    let Ok(spec) = std::env::var("DUCKC_CRASH_AT") else {
        return;
    };
    let (point, nth) = match spec.split_once(':') {
        Some((p, n)) => (p.to_owned(), n.parse().unwrap_or(1)),
        None => (spec, 1),
    };
    if point != name {
        return;
    }
    let mut counts = COUNTS.lock().unwrap_or_else(|e| e.into_inner());
    let seen = match counts.iter_mut().find(|(p, _)| p == name) {
        Some((_, n)) => {
            *n += 1;
            *n
        }
        None => {
            counts.push((name.to_owned(), 1));
            1
        }
    };
    if seen == nth {
        let _ =
            rustix::process::kill_process(rustix::process::getpid(), rustix::process::Signal::KILL);
    }
}
