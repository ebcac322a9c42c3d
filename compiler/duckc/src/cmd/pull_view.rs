//! `pull`'s progress in the build's three styles: Docker's plain lines (`abc123456789: Pull
//! complete`), a live view for terminals (one line per layer, in the manifest's order,
//! redrawn in place with the bytes done of the total, as Docker draws it), or one JSON
//! object per event in the build's vocabulary (`started`, `progress`, `finished`, `failed`,
//! and `pulled` where a build says `built`).

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use duckc_executor::progress::Mode;
use duckc_registry::PullEvent;
use duckc_store::Digest;
use serde_json::json;

/// How often the live view redraws for bytes alone (a layer starting or ending redraws at
/// once).
const REDRAW: Duration = Duration::from_millis(100);

/// Draws a pull's events.
pub struct View {
    mode: Mode,
    state: Mutex<State>,
}

struct State {
    out: Box<dyn Write + Send>,
    rows: Vec<Row>,
    /// Rows printed for good: every row above them is final.
    fixed: usize,
    /// Lines of the live part on the screen now (the cursor is just below them).
    drawn: usize,
    last_draw: Option<Instant>,
}

/// One line of the live view.
struct Row {
    /// The platform and layer it shows; `None` for a platform's header line.
    key: Option<(String, Digest)>,
    /// The header's text, or the layer's short id.
    label: String,
    status: Status,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Header,
    Waiting,
    Downloading { done: u64, size: u64 },
    Exists,
    Complete,
}

impl Status {
    fn is_final(self) -> bool {
        matches!(self, Status::Header | Status::Exists | Status::Complete)
    }
}

impl View {
    /// A view in `mode`: the live view writes to stderr (it is chosen when stderr is a
    /// terminal), the plain lines and JSON events to stdout, next to `Digest:` and `Status:`.
    pub fn new(mode: Mode) -> View {
        let out: Box<dyn Write + Send> = match mode {
            Mode::Tty => Box::new(std::io::stderr()),
            Mode::Plain | Mode::Json | Mode::Quiet => Box::new(std::io::stdout()),
        };
        View::to(mode, out)
    }

    /// A view in `mode` writing to `out`.
    pub fn to(mode: Mode, out: Box<dyn Write + Send>) -> View {
        View {
            mode,
            state: Mutex::new(State {
                out,
                rows: Vec::new(),
                fixed: 0,
                drawn: 0,
                last_draw: None,
            }),
        }
    }

    /// Handles one event of the pull.
    pub fn event(&self, event: PullEvent<'_>) {
        let mut st = self.state.lock().expect("view lock");
        match self.mode {
            Mode::Plain => {
                if let Some(line) = event.line() {
                    let _ = writeln!(st.out, "{line}");
                }
            }
            Mode::Quiet => {}
            Mode::Json => {
                let _ = writeln!(st.out, "{}", json_event(&event));
            }
            Mode::Tty => {
                if st.update(&event) {
                    st.draw(false);
                }
            }
        }
    }

    /// The pull failed: the live view is drawn as it stands, a JSON `failed` event printed.
    pub fn failed(&self, error: &str) {
        let mut st = self.state.lock().expect("view lock");
        match self.mode {
            Mode::Tty => st.draw(true),
            Mode::Json => {
                let _ = writeln!(st.out, "{}", json!({"event": "failed", "error": error}));
            }
            Mode::Plain | Mode::Quiet => {}
        }
        let _ = st.out.flush();
    }

    /// The pull is done: the live view's last state is drawn for good.
    pub fn finish(&self) {
        let mut st = self.state.lock().expect("view lock");
        if self.mode == Mode::Tty {
            st.draw(true);
        }
        let _ = st.out.flush();
    }
}

/// The JSON object for `event`.
fn json_event(event: &PullEvent<'_>) -> serde_json::Value {
    match *event {
        PullEvent::Manifest {
            platform,
            digest,
            layers,
            ..
        } => json!({
            "event": "manifest",
            "platform": platform,
            "digest": digest.to_string(),
            "layers": layers
                .iter()
                .map(|(d, size)| json!({"layer": d.to_string(), "size": size}))
                .collect::<Vec<_>>(),
        }),
        PullEvent::Exists {
            platform,
            layer,
            size,
        } => json!({
            "event": "finished",
            "platform": platform,
            "layer": layer.to_string(),
            "size": size,
            "cached": true,
        }),
        PullEvent::Downloading {
            platform,
            layer,
            done: 0,
            size,
        } => json!({
            "event": "started",
            "platform": platform,
            "layer": layer.to_string(),
            "size": size,
        }),
        PullEvent::Downloading {
            platform,
            layer,
            done,
            size,
        } => json!({
            "event": "progress",
            "platform": platform,
            "layer": layer.to_string(),
            "current": done,
            "total": size,
        }),
        PullEvent::Complete {
            platform,
            layer,
            size,
        } => json!({
            "event": "finished",
            "platform": platform,
            "layer": layer.to_string(),
            "size": size,
            "cached": false,
        }),
    }
}

/// The `pulled` JSON event: what the name points at now.
pub fn pulled_json(name: &str, pulled: &duckc_registry::Pulled) -> serde_json::Value {
    json!({
        "event": "pulled",
        "name": name,
        "image": pulled.image.config_digest.to_string(),
        "digest": pulled.digest.to_string(),
        "up_to_date": pulled.up_to_date,
        "downloaded": pulled.downloaded,
    })
}

impl State {
    /// Applies `event` to the rows; whether to redraw now.
    fn update(&mut self, event: &PullEvent<'_>) -> bool {
        let (platform, layer, status) = match *event {
            PullEvent::Manifest {
                platform,
                digest,
                layers,
                several,
            } => {
                if several {
                    self.rows.push(Row {
                        key: None,
                        label: event.line().unwrap_or_else(|| digest.to_string()),
                        status: Status::Header,
                    });
                }
                for (d, _) in layers {
                    self.rows.push(Row {
                        key: Some((platform.to_owned(), *d)),
                        label: duckc_registry::pull::short(d),
                        status: Status::Waiting,
                    });
                }
                return true;
            }
            PullEvent::Exists {
                platform, layer, ..
            } => (platform, layer, Status::Exists),
            PullEvent::Downloading {
                platform,
                layer,
                done,
                size,
            } => (platform, layer, Status::Downloading { done, size }),
            PullEvent::Complete {
                platform, layer, ..
            } => (platform, layer, Status::Complete),
        };
        // A layer listed twice in one manifest shows its state on each of its rows.
        let mut changed = false;
        for row in &mut self.rows[self.fixed..] {
            if row
                .key
                .as_ref()
                .is_some_and(|(p, d)| p == platform && d == layer)
            {
                let was = std::mem::replace(&mut row.status, status);
                changed |= std::mem::discriminant(&was) != std::mem::discriminant(&status);
            }
        }
        changed || self.last_draw.is_none_or(|t| t.elapsed() >= REDRAW)
    }

    /// Redraws the live part: back up over it, then print every row from the first one not
    /// printed for good. Rows that are final with only final rows above them are printed for
    /// the last time. The rest is cut to the terminal's height (the cursor cannot go back
    /// above the screen's top), the lines to its width (a wrapped line would count twice).
    fn draw(&mut self, last: bool) {
        let (width, height) = terminal_size();
        let mut text = String::new();
        if self.drawn > 0 {
            text.push_str(&format!("\x1b[{}A", self.drawn));
        }
        text.push('\r');
        let mut fixed = self.fixed;
        while fixed < self.rows.len() && (last || self.rows[fixed].status.is_final()) {
            fixed += 1;
        }
        for row in &self.rows[self.fixed..fixed] {
            push_line(&mut text, &row.text(width), width);
        }
        let live = &self.rows[fixed..];
        let room = height.saturating_sub(3).max(1);
        let mut drawn = 0;
        for row in live.iter().take(room) {
            push_line(&mut text, &row.text(width), width);
            drawn += 1;
        }
        if live.len() > room {
            push_line(
                &mut text,
                &format!("… {} more layers waiting", live.len() - room),
                width,
            );
            drawn += 1;
        }
        // What the last frame drew below this one (a shorter frame): cleared.
        for _ in drawn + (fixed - self.fixed)..self.drawn {
            text.push_str("\x1b[2K\n");
            drawn += 1;
        }
        let _ = self.out.write_all(text.as_bytes());
        let _ = self.out.flush();
        self.fixed = fixed;
        self.drawn = drawn;
        self.last_draw = Some(Instant::now());
    }
}

/// Appends `line`, cut to `width - 1` characters, over whatever the screen had there.
fn push_line(text: &mut String, line: &str, width: usize) {
    text.push_str("\x1b[2K");
    text.extend(line.chars().take(width.saturating_sub(1).max(20)));
    text.push('\n');
}

impl Row {
    fn text(&self, width: usize) -> String {
        match self.status {
            Status::Header => self.label.clone(),
            Status::Waiting => format!("{}: Waiting", self.label),
            Status::Exists => format!("{}: Already exists", self.label),
            Status::Complete => format!("{}: Pull complete", self.label),
            Status::Downloading { done, size } => {
                // Docker's bar: 50 columns, drawn when the terminal is wider than 110.
                let bar = if width > 110 && size > 0 {
                    let filled = ((done.min(size) as f64 / size as f64) * 50.0) as usize;
                    format!("[{}>{}] ", "=".repeat(filled), " ".repeat(50 - filled))
                } else {
                    String::new()
                };
                format!(
                    "{}: Downloading {bar}{:>8}/{}",
                    self.label,
                    human(done),
                    human(size)
                )
            }
        }
    }
}

/// A size as Docker prints it: decimal units, four significant digits (`12.58MB`).
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < UNITS.len() - 1 {
        v /= 1000.0;
        unit += 1;
    }
    let decimals = if v >= 100.0 {
        1
    } else if v >= 10.0 {
        2
    } else {
        3
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{s}{}", UNITS[unit])
}

/// Columns and rows of the terminal on stderr (80x24 when it says nothing).
fn terminal_size() -> (usize, usize) {
    match rustix::termios::tcgetwinsize(rustix::stdio::stderr()) {
        Ok(ws) if ws.ws_col > 0 && ws.ws_row > 0 => (ws.ws_col.into(), ws.ws_row.into()),
        _ => (80, 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A writer the test reads back.
    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Shared {
        fn take(&self) -> String {
            String::from_utf8(std::mem::take(&mut *self.0.lock().unwrap())).unwrap()
        }
    }

    /// More layers than the terminal (80x24 here: stderr is no terminal under the test
    /// harness) has rows: the live part stays within the screen, so the cursor can go back
    /// over all of it; the last frame prints every row for good.
    #[test]
    fn the_live_part_fits_the_screen() {
        let out = Shared::default();
        let view = View::to(Mode::Tty, Box::new(out.clone()));
        let layers: Vec<(Digest, u64)> = (0..40u8)
            .map(|i| (Digest::of(&[i]), 1000 + u64::from(i)))
            .collect();
        let manifest = Digest::of(b"m");
        view.event(PullEvent::Manifest {
            platform: "linux/amd64",
            digest: &manifest,
            layers: &layers,
            several: false,
        });
        let frame = out.take();
        assert_eq!(frame.matches('\n').count(), 22, "{frame}");
        assert!(frame.contains("… 19 more layers waiting"), "{frame}");
        // The first layer done: printed for good, the window moves down by one.
        view.event(PullEvent::Complete {
            platform: "linux/amd64",
            layer: &layers[0].0,
            size: layers[0].1,
        });
        let frame = out.take();
        assert!(frame.starts_with("\x1b[22A\r"), "{frame:?}");
        assert!(frame.contains(": Pull complete\n"), "{frame}");
        assert!(frame.contains("… 18 more layers waiting"), "{frame}");
        assert_eq!(frame.matches('\n').count(), 23, "{frame}");
        view.event(PullEvent::Downloading {
            platform: "linux/amd64",
            layer: &layers[1].0,
            done: 0,
            size: layers[1].1,
        });
        let frame = out.take();
        assert!(frame.starts_with("\x1b[22A\r"), "{frame:?}");
        assert!(frame.contains("Downloading       0B/1.001kB"), "{frame}");
        for (d, size) in &layers[1..] {
            view.event(PullEvent::Exists {
                platform: "linux/amd64",
                layer: d,
                size: *size,
            });
        }
        view.finish();
        let mut screen: Vec<String> = Vec::new();
        for line in out.take().split('\n') {
            screen.push(line.rsplit("\x1b[2K").next().unwrap().to_owned());
        }
        assert!(
            screen
                .iter()
                .filter(|l| l.ends_with(": Already exists"))
                .count()
                >= 39,
            "{screen:?}"
        );
    }

    #[test]
    fn sizes_read_as_dockers() {
        assert_eq!(human(0), "0B");
        assert_eq!(human(999), "999B");
        assert_eq!(human(1000), "1kB");
        assert_eq!(human(12_580_000), "12.58MB");
        assert_eq!(human(1_234_567), "1.235MB");
        assert_eq!(human(210_000_000), "210MB");
    }
}
