//! What a `packages` step did, as lines: one per package fetched or unpacked, the configure
//! command, and a warning when a foreign platform's packages stay unconfigured. The lines
//! become the step's output (printed under it, like a `run` step's); the live view also gets
//! a line whenever something starts, and every megabyte downloaded.

use duckc_packages::download::Event as Download;
use duckc_packages::layers::Progress;

/// The log of one `packages` step.
#[derive(Debug, Default)]
pub struct Log {
    lines: Vec<String>,
    /// Packages found in the download cache.
    cached: usize,
    cached_bytes: u64,
    /// Bytes downloaded so far, and at the last live line.
    fetched_bytes: u64,
    shown_bytes: u64,
    /// How many of `lines` [`Log::take_new`] has handed out.
    taken: usize,
}

const MIB: u64 = 1 << 20;

fn size(bytes: u64) -> String {
    if bytes >= MIB {
        format!("{:.1} MB", bytes as f64 / MIB as f64)
    } else {
        format!("{:.1} kB", bytes as f64 / 1024.0)
    }
}

impl Log {
    /// Records `event`; returns a line for the live view when there is news.
    pub fn event(&mut self, event: &Progress<'_>) -> Option<String> {
        match *event {
            Progress::Download(Download::Cached { size: s, .. }) => {
                self.cached += 1;
                self.cached_bytes += s;
                None
            }
            Progress::Download(Download::Started {
                name,
                size: s,
                from,
            }) => Some(if from > 0 {
                format!("resuming {name} at {} of {}", size(from), size(s))
            } else {
                format!("fetching {name} ({})", size(s))
            }),
            Progress::Download(Download::Progress { bytes, .. }) => {
                self.fetched_bytes += bytes;
                (self.fetched_bytes - self.shown_bytes >= MIB).then(|| {
                    self.shown_bytes = self.fetched_bytes;
                    format!("fetched {}", size(self.fetched_bytes))
                })
            }
            Progress::Download(Download::Finished { name }) => {
                let line = format!("fetched {name}");
                self.lines.push(line.clone());
                Some(line)
            }
            Progress::Unpacked { name, cached } => {
                self.note_cached();
                let line = if cached {
                    format!("unpacked {name} (layer cached)")
                } else {
                    format!("unpacked {name}")
                };
                self.lines.push(line.clone());
                Some(line)
            }
            Progress::Configuring { command } => {
                self.note_cached();
                let line = format!("configuring: {command}");
                self.lines.push(line.clone());
                Some(line)
            }
            Progress::NotConfigured { packages, reason } => {
                self.note_cached();
                let line = format!(
                    "warning: {packages} packages are unpacked but not configured (their maintainer scripts did not run): {reason}; `dpkg --configure -a` in a container of that platform finishes the job"
                );
                self.lines.push(line.clone());
                Some(line)
            }
        }
    }

    /// The lines of the step's output added since the last call (printed as they come).
    pub fn take_new(&mut self) -> Vec<String> {
        let new = self.lines[self.taken..].to_vec();
        self.taken = self.lines.len();
        new
    }

    /// The lines not handed out yet, the download-cache summary included: the end of the step.
    pub fn flush(&mut self) -> Vec<String> {
        self.note_cached();
        self.take_new()
    }

    /// The summary of cache hits, once, before the first line after the downloads.
    fn note_cached(&mut self) {
        if self.cached > 0 {
            self.lines.push(format!(
                "{} packages ({}) from the download cache",
                self.cached,
                size(self.cached_bytes)
            ));
            self.cached = 0;
        }
    }

    /// The step's output.
    pub fn output(mut self) -> Vec<u8> {
        self.note_cached();
        let mut out = self.lines.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_package_and_a_cache_summary() {
        let mut log = Log::default();
        let events = [
            Progress::Download(Download::Cached {
                name: "a_1_amd64.deb",
                size: 2048,
            }),
            Progress::Download(Download::Started {
                name: "b_1_amd64.deb",
                size: 3 * MIB,
                from: 0,
            }),
            Progress::Download(Download::Progress {
                name: "b_1_amd64.deb",
                bytes: MIB / 2,
            }),
            Progress::Download(Download::Progress {
                name: "b_1_amd64.deb",
                bytes: MIB,
            }),
            Progress::Download(Download::Finished {
                name: "b_1_amd64.deb",
            }),
            Progress::Unpacked {
                name: "a",
                cached: true,
            },
            Progress::Unpacked {
                name: "b",
                cached: false,
            },
            Progress::NotConfigured {
                packages: 2,
                reason: "no emulation",
            },
        ];
        let live: Vec<Option<String>> = events.iter().map(|e| log.event(e)).collect();
        assert_eq!(live[0], None);
        assert_eq!(live[2], None);
        assert_eq!(live[3].as_deref(), Some("fetched 1.5 MB"));
        insta::assert_snapshot!(String::from_utf8(log.output()).unwrap(), @r"
        fetched b_1_amd64.deb
        1 packages (2.0 kB) from the download cache
        unpacked a (layer cached)
        unpacked b
        warning: 2 packages are unpacked but not configured (their maintainer scripts did not run): no emulation; `dpkg --configure -a` in a container of that platform finishes the job
        ");
    }
}
