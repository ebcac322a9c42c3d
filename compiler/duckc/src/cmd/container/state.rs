//! A container on disk: `<store>/containers/<id>/` with `config.json`, `state.json`, the
//! overlay's `upper/` and `work/`, the `rootfs/` mount point and the `log` of detached runs.

use std::path::{Path, PathBuf};

use duckc_runtime::ContainerSpec;
use serde::{Deserialize, Serialize};

/// What a container was created with; never changes after `run`, except its name (`rename`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Config {
    pub id: String,
    pub name: String,
    /// The image reference as the user wrote it.
    pub image: String,
    /// The manifest that runs (of a multi-platform index, the platform picked): what `commit`
    /// builds on. The gc root keeps the whole image alive.
    pub image_digest: String,
    /// Seconds since the epoch.
    pub created: i64,
    /// Nanoseconds since the epoch, to order containers made within one second.
    #[serde(default)]
    pub created_nanos: u128,
    pub spec: ContainerSpec,
    /// Keep stdin open (`-i`).
    pub interactive: bool,
    /// Remove the container when it exits (`--rm`).
    pub auto_remove: bool,
}

/// The life cycle of a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Exited,
}

/// What changes while a container lives.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// Host pid of the container's init while running.
    pub pid: Option<i32>,
    /// The init's start time (field 22 of `/proc/<pid>/stat`), so a reused pid is not taken
    /// for the container.
    pub pid_start: Option<u64>,
    pub exit_code: Option<i32>,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
}

impl State {
    pub fn created() -> State {
        State {
            status: Status::Created,
            pid: None,
            pid_start: None,
            exit_code: None,
            started_at: None,
            finished_at: None,
        }
    }
}

/// A container's directory.
#[derive(Debug, Clone)]
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn config_path(&self) -> PathBuf {
        self.0.join("config.json")
    }
    pub fn state_path(&self) -> PathBuf {
        self.0.join("state.json")
    }
    pub fn upper(&self) -> PathBuf {
        self.0.join("upper")
    }
    pub fn log(&self) -> PathBuf {
        self.0.join("log")
    }

    pub fn read_config(&self) -> std::io::Result<Config> {
        let text = std::fs::read(self.config_path())?;
        serde_json::from_slice(&text).map_err(std::io::Error::other)
    }

    /// The state, corrected when the recorded init is gone (its monitor was killed): then the
    /// container is reported exited with Docker's "unknown" code 255.
    pub fn read_state(&self) -> std::io::Result<State> {
        let text = std::fs::read(self.state_path())?;
        let mut state: State = serde_json::from_slice(&text).map_err(std::io::Error::other)?;
        if state.status == Status::Running && !alive(state.pid, state.pid_start) {
            state.status = Status::Exited;
            state.exit_code.get_or_insert(255);
            state.pid = None;
        }
        Ok(state)
    }

    pub fn write_config(&self, config: &Config) -> std::io::Result<()> {
        write_atomic(
            &self.config_path(),
            &serde_json::to_vec_pretty(config).map_err(std::io::Error::other)?,
        )
    }

    pub fn write_state(&self, state: &State) -> std::io::Result<()> {
        write_atomic(
            &self.state_path(),
            &serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?,
        )
    }
}

/// Write through a temporary file and rename, so readers never see half a file. The file is
/// its owner's alone (a config holds the `-e` values).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(duckc_store::modes::FILE_MODE)
        .open(&tmp)?;
    file.write_all(bytes)?;
    drop(file);
    std::fs::rename(&tmp, path)
}

/// Start time of `pid` in clock ticks since boot, from `/proc/<pid>/stat`.
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last `)`.
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether the process `pid` that started at `start` still runs (and is not a zombie).
pub fn alive(pid: Option<i32>, start: Option<u64>) -> bool {
    let Some(pid) = pid else { return false };
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let zombie = stat.rfind(')').and_then(|i| stat.get(i + 2..i + 3)) == Some("Z");
    !zombie && (start.is_none() || start_time(pid) == start)
}
