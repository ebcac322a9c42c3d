//! A container on disk: `<store>/containers/<id>/` with `config.json`, `state.json`, the
//! overlay's `upper/` and `work/`, the `rootfs/` mount point and the `log` of detached runs.
//!
//! The JSON of `config.json` and `state.json` is a format existing stores hold: fields are
//! only ever added (with `#[serde(default)]`), never renamed or removed (the tests below read
//! files as older duckc versions wrote them).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::spec::{ContainerSpec, Rootfs};

/// What a container was created with; never changes after `run`, except its name (`rename`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
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
    /// The signal `stop` sends first, as written (`run --stop-signal`, else the image's
    /// `StopSignal`; none: SIGTERM).
    #[serde(default)]
    pub stop_signal: Option<String>,
    /// Seconds `stop` waits before SIGKILL (`run --stop-timeout`; none: 10; negative: no
    /// limit).
    #[serde(default)]
    pub stop_timeout: Option<i64>,
}

impl Config {
    /// A container's record, created now (not interactive, not removed on exit).
    pub fn new(
        id: String,
        name: String,
        image: String,
        image_digest: String,
        spec: ContainerSpec,
    ) -> Config {
        Config {
            id,
            name,
            image,
            image_digest,
            created: now(),
            created_nanos: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
            spec,
            interactive: false,
            auto_remove: false,
            stop_signal: None,
            stop_timeout: None,
        }
    }

    /// Give a container made by a duckc that kept no cgroup name its own from now on (its
    /// id), before it starts again.
    pub fn own_cgroup(&mut self) {
        if self.spec.resources.cgroup.is_empty() {
            self.spec.resources.cgroup = self.id.clone();
        }
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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

    /// Running as `pid`, started now.
    pub fn running(pid: i32) -> State {
        State {
            status: Status::Running,
            pid: Some(pid),
            pid_start: start_time(pid),
            exit_code: None,
            started_at: Some(now()),
            finished_at: None,
        }
    }
}

/// A container's directory.
#[derive(Debug, Clone)]
pub struct Dir(pub PathBuf);

/// The name of the empty container directory a removed container left for the next one (see
/// [`Dir::create`]); [`super::list`] never lists it (it has no `config.json`).
pub const SPARE: &str = ".spare";

impl Dir {
    /// Make the private directory of a new container `id` in `store`: the spare one a removed
    /// container left, renamed, when there is one. Making a directory allocates a block for it
    /// and removing it frees the block again, which on a disk mounted with `discard` (this
    /// project's VMs) is a synchronous discard inside `rmdir`: 0.2–8 ms measured, twice per
    /// `run --rm` (the directory and its `rootfs/`). A rename allocates nothing.
    pub fn create(store: &duckc_store::Store, id: &str) -> std::io::Result<Dir> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        let dir = Dir(store.containers_dir().join(id));
        let spare = store.containers_dir().join(SPARE);
        if std::fs::symlink_metadata(&spare).is_ok_and(|m| m.is_dir())
            && renameat_with(CWD, &spare, CWD, &dir.0, RenameFlags::NOREPLACE).is_ok()
        {
            return Ok(dir);
        }
        duckc_store::modes::create_private_dir(&dir.0)?;
        Ok(dir)
    }

    /// Remove the directory of a container that is gone: kept as the spare directory for the
    /// next container (see [`Dir::create`]) when it holds nothing but files and an empty
    /// `rootfs/` (a `run --rm` container's) and there is no spare yet; otherwise removed whole
    /// (false: the caller removes what is left).
    pub fn recycle(&self) -> bool {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        let Ok(entries) = std::fs::read_dir(&self.0) else {
            return false;
        };
        let mut files = Vec::new();
        for e in entries {
            let Ok(e) = e else { return false };
            let Ok(kind) = e.file_type() else {
                return false;
            };
            if kind.is_file() {
                files.push(e.path());
            } else if !(kind.is_dir()
                && e.file_name() == "rootfs"
                && std::fs::read_dir(e.path()).is_ok_and(|mut d| d.next().is_none()))
            {
                return false;
            }
        }
        let Some(spare) = self.0.parent().map(|p| p.join(SPARE)) else {
            return false;
        };
        if spare.exists() {
            return false;
        }
        for f in files {
            if std::fs::remove_file(f).is_err() {
                return false;
            }
        }
        renameat_with(CWD, &self.0, CWD, &spare, RenameFlags::NOREPLACE).is_ok()
    }

    /// Delete the directory of a container that was never recorded (its set-up failed).
    pub fn discard(self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }

    /// The container's root file system over `lower` (bottom layer first): its changes in
    /// `upper/`, or with `ephemeral` on a tmpfs inside the container (`run --rm`: nothing to
    /// write to disk).
    pub fn rootfs(&self, lower: Vec<PathBuf>, ephemeral: bool) -> crate::Result<Rootfs> {
        if !ephemeral {
            return Rootfs::in_dir(lower, &self.0);
        }
        let mountpoint = self.0.join("rootfs");
        std::fs::create_dir_all(&mountpoint).map_err(|source| crate::Error::Kernel {
            what: format!("cannot create `{}`", mountpoint.display()),
            source,
        })?;
        Ok(Rootfs {
            lower,
            upper: self.upper(),
            work: self.0.join("work"),
            mountpoint,
            ephemeral: true,
        })
    }

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

    /// [`Dir::write_state`] for a container that cannot outlive this process (a foreground
    /// `--rm` one): the old state is exchanged rather than renamed over, so that neither file
    /// goes to the disk before the directory is removed (see the `replace` module). After a crash
    /// the file may be empty, which reads as a container in an unknown state; the container is
    /// gone by then anyway.
    pub fn write_state_unsynced(&self, state: &State) -> std::io::Result<()> {
        let path = self.state_path();
        let tmp = write_tmp(
            &path,
            &serde_json::to_vec_pretty(state).map_err(std::io::Error::other)?,
        )?;
        crate::replace::replace_unsynced(&tmp, &path)
    }

    /// Record that the container exited with `code`.
    pub fn record_exit(&self, code: i32) {
        let mut st = self.read_state().unwrap_or_else(|_| State::created());
        st.status = Status::Exited;
        st.pid = None;
        st.exit_code = Some(code);
        st.finished_at = Some(now());
        let _ = self.write_state(&st);
    }

    /// Whether the state file records the container as not running (an exit recorded), as
    /// written, without looking at its init.
    pub fn recorded_stopped(&self) -> bool {
        std::fs::read(self.state_path())
            .ok()
            .and_then(|text| serde_json::from_slice::<State>(&text).ok())
            .is_some_and(|s| s.status != Status::Running)
    }

    /// The container's log, opened for appending.
    pub fn open_log(&self) -> std::io::Result<std::fs::File> {
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(duckc_store::modes::FILE_MODE)
            .open(self.log())
    }
}

/// Write through a temporary file and rename, so readers never see half a file. The file is
/// its owner's alone (a config holds the `-e` values).
fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = write_tmp(path, bytes)?;
    std::fs::rename(&tmp, path)
}

/// Write `bytes` to a new temporary file next to `path` (named after this process); returns
/// its path.
fn write_tmp(path: &Path, bytes: &[u8]) -> std::io::Result<PathBuf> {
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
    Ok(tmp)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A `config.json` as the first duckc with containers wrote it: no `created_nanos`, and a
    /// spec from before seccomp, limits, DNS options, `--ipc`, tmpfs mounts and networks.
    const FIRST_CONFIG: &str = r#"{
  "id": "4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee4f1c0ffee0",
  "name": "merry_manatee",
  "image": "busybox:latest",
  "image_digest": "sha256:1111111111111111111111111111111111111111111111111111111111111111",
  "created": 1764000000,
  "spec": {
    "rootfs": {
      "lower": ["/store/snapshots/sha256/aa"],
      "upper": "/store/containers/4f1c/upper",
      "work": "/store/containers/4f1c/work",
      "mountpoint": "/store/containers/4f1c/rootfs"
    },
    "process": {
      "args": ["sh", "-c", "echo hi"],
      "env": ["PATH=/bin"],
      "cwd": "/",
      "user": ""
    },
    "hostname": "4f1c0ffee4f1"
  },
  "interactive": false,
  "auto_remove": false
}"#;

    #[test]
    fn reads_configs_older_duckc_wrote() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir(dir.path().to_owned());
        std::fs::write(d.config_path(), FIRST_CONFIG).unwrap();
        let mut config = d.read_config().unwrap();
        assert_eq!(config.name, "merry_manatee");
        assert_eq!(config.created_nanos, 0);
        assert_eq!((&config.stop_signal, config.stop_timeout), (&None, None));
        assert_eq!(config.spec.process.args, ["sh", "-c", "echo hi"]);
        assert!(!config.spec.rootfs.ephemeral);
        assert_eq!(config.spec.network, crate::Network::Private);
        assert!(config.spec.net.is_none());
        // No cgroup name was kept then: the container takes its id at its next start.
        assert_eq!(config.spec.resources.cgroup, "");
        config.own_cgroup();
        assert_eq!(config.spec.resources.cgroup, config.id);
        // Written back and read again, nothing is lost.
        d.write_config(&config).unwrap();
        assert_eq!(d.read_config().unwrap(), config);
    }

    #[test]
    fn field_names_are_the_stored_format() {
        let config = Config::new(
            "id".into(),
            "name".into(),
            "image".into(),
            "sha256:00".into(),
            serde_json::from_str::<Config>(FIRST_CONFIG).unwrap().spec,
        );
        let value = serde_json::to_value(&config).unwrap();
        let keys: Vec<&str> = value
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "auto_remove",
                "created",
                "created_nanos",
                "id",
                "image",
                "image_digest",
                "interactive",
                "name",
                "spec",
                "stop_signal",
                "stop_timeout"
            ]
        );
        let state = serde_json::to_value(State::created()).unwrap();
        assert_eq!(
            state.to_string(),
            r#"{"exit_code":null,"finished_at":null,"pid":null,"pid_start":null,"started_at":null,"status":"created"}"#
        );
    }

    #[test]
    fn a_running_state_whose_init_is_gone_reads_as_exited_255() {
        let dir = tempfile::tempdir().unwrap();
        let d = Dir(dir.path().to_owned());
        // Pid 0 is never a process of ours: the recorded init is gone.
        std::fs::write(
            d.state_path(),
            r#"{"status":"running","pid":0,"pid_start":1,"exit_code":null,"started_at":1764000000,"finished_at":null}"#,
        )
        .unwrap();
        let state = d.read_state().unwrap();
        assert_eq!(state.status, Status::Exited);
        assert_eq!(state.exit_code, Some(255));
        assert_eq!(state.pid, None);
        assert!(!d.recorded_stopped());
        d.record_exit(3);
        assert!(d.recorded_stopped());
        assert_eq!(d.read_state().unwrap().exit_code, Some(3));
    }
}
