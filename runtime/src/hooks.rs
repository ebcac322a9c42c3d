//! OCI hooks, as CDI specs ask for them: host programs run at fixed points of a container's
//! life, given the container's state as JSON on stdin.
//!
//! Where each stage runs (the OCI runtime spec's names):
//! - `createRuntime` and `createContainer`: by the container's init, once its mounts are made
//!   and before `pivot_root`, so the program is found on the host's file system; it runs in
//!   the container's namespaces (runc runs `createRuntime` in its own; duckc has no daemon
//!   process between the two) and in its cgroup.
//! - `startContainer`: by the init after `pivot_root`, just before the command; the path is
//!   the container's.
//! - `poststart`, `poststop`: by duckc on the host, after the command started and after the
//!   container exited. A failure there is a warning, as the OCI spec says.
//!
//! A hook runs as root with the environment the spec gives it and nothing else. Hooks come
//! only from CDI spec files, which duckc trusts like `/etc` (see `cdi`).

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// When a hook runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    CreateRuntime,
    CreateContainer,
    StartContainer,
    Poststart,
    Poststop,
}

impl Stage {
    /// The OCI name of a stage (`hookName` in a CDI spec).
    pub fn from_name(name: &str) -> Option<Stage> {
        Some(match name {
            "createRuntime" => Stage::CreateRuntime,
            "createContainer" => Stage::CreateContainer,
            "startContainer" => Stage::StartContainer,
            "poststart" => Stage::Poststart,
            "poststop" => Stage::Poststop,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::CreateRuntime => "createRuntime",
            Stage::CreateContainer => "createContainer",
            Stage::StartContainer => "startContainer",
            Stage::Poststart => "poststart",
            Stage::Poststop => "poststop",
        }
    }
}

/// One hook: `execv(path, args)` with exactly `env`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hook {
    pub stage: Stage,
    pub path: PathBuf,
    /// argv, `args[0]` included (the path when empty).
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    /// Seconds before the hook is killed and counted as failed; `None` waits for it.
    #[serde(default)]
    pub timeout: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot run the {stage} hook `{path}`: {source}")]
    Spawn {
        stage: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("the {stage} hook `{path}` failed with exit code {code}{output}")]
    Failed {
        stage: &'static str,
        path: String,
        code: i32,
        output: String,
    },
    #[error("the {stage} hook `{path}` did not finish within its timeout of {secs} s")]
    Timeout {
        stage: &'static str,
        path: String,
        secs: u64,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

/// The OCI state a hook reads on stdin.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct State<'a> {
    pub oci_version: &'static str,
    pub id: &'a str,
    pub status: &'static str,
    /// The container init's pid as the host sees it (0 once it is gone).
    pub pid: i32,
    pub bundle: &'a Path,
}

/// The OCI runtime spec version whose state format [`State`] follows.
pub const OCI_VERSION: &str = "1.2.0";

/// Run every hook of `stage` in order, stopping at the first that fails.
pub fn run(hooks: &[Hook], stage: Stage, state: &State<'_>) -> Result<()> {
    for hook in hooks.iter().filter(|h| h.stage == stage) {
        run_one(hook, state)?;
    }
    Ok(())
}

fn run_one(hook: &Hook, state: &State<'_>) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let stage = hook.stage.name();
    let path = hook.path.display().to_string();
    let spawn_err = |source| Error::Spawn {
        stage,
        path: path.clone(),
        source,
    };
    // Output goes to an anonymous file, not a pipe: a chatty hook cannot block on a full pipe
    // while we wait for it, and what it said ends up in the error.
    let out = rustix::fs::memfd_create("duckc-hook", rustix::fs::MemfdFlags::CLOEXEC)
        .map_err(|e| spawn_err(e.into()))?;
    let mut out = std::fs::File::from(out);
    let mut cmd = std::process::Command::new(&hook.path);
    if let Some((argv0, rest)) = hook.args.split_first() {
        cmd.arg0(argv0).args(rest);
    }
    cmd.env_clear()
        .envs(hook.env.iter().filter_map(|e| e.split_once('=')))
        .stdin(std::process::Stdio::piped())
        .stdout(out.try_clone().map_err(spawn_err)?)
        .stderr(out.try_clone().map_err(spawn_err)?);
    let mut child = cmd.spawn().map_err(spawn_err)?;
    if let Some(mut stdin) = child.stdin.take() {
        let json = serde_json::to_vec(state).unwrap_or_default();
        // A hook that does not read its state closes the pipe: not an error.
        let _ = stdin.write_all(&json);
    }
    let status = match hook.timeout {
        None => child.wait().map_err(spawn_err)?,
        Some(secs) => {
            let deadline = Instant::now() + Duration::from_secs(secs);
            loop {
                if let Some(status) = child.try_wait().map_err(spawn_err)? {
                    break status;
                }
                if Instant::now() >= deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(Error::Timeout { stage, path, secs });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    };
    if status.success() {
        return Ok(());
    }
    let code = status.code().unwrap_or_else(|| {
        use std::os::unix::process::ExitStatusExt;
        128 + status.signal().unwrap_or(0)
    });
    let mut text = String::new();
    let _ = out.rewind();
    let _ = out.take(4096).read_to_string(&mut text);
    let text = text.trim();
    let output = if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    };
    Err(Error::Failed {
        stage,
        path,
        code,
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(stage: Stage, script: &str) -> Hook {
        Hook {
            stage,
            path: "/bin/sh".into(),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["GREETING=hello".into()],
            timeout: None,
        }
    }

    fn state(bundle: &Path) -> State<'_> {
        State {
            oci_version: OCI_VERSION,
            id: "abc",
            status: "created",
            pid: 42,
            bundle,
        }
    }

    #[test]
    fn a_hook_gets_its_env_and_the_state_and_only_its_stage_runs() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let script = format!(
            "read state; echo \"$GREETING ${{HOME-unset}}|$state\" > {}",
            out.display()
        );
        let other = hook(Stage::Poststop, "exit 3");
        run(
            &[hook(Stage::Poststart, &script), other],
            Stage::Poststart,
            &state(dir.path()),
        )
        .unwrap();
        let text = std::fs::read_to_string(&out).unwrap();
        assert!(text.starts_with("hello unset|{"), "{text}");
        assert!(
            text.contains("\"pid\":42") && text.contains("\"ociVersion\""),
            "{text}"
        );
    }

    #[test]
    fn failures_and_timeouts_name_the_hook() {
        let dir = tempfile::tempdir().unwrap();
        let err = run(
            &[hook(Stage::Poststop, "echo broken >&2; exit 3")],
            Stage::Poststop,
            &state(dir.path()),
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "the poststop hook `/bin/sh` failed with exit code 3: broken"
        );
        let mut slow = hook(Stage::CreateRuntime, "sleep 30");
        slow.timeout = Some(1);
        let err = run(&[slow], Stage::CreateRuntime, &state(dir.path())).unwrap_err();
        assert!(matches!(err, Error::Timeout { secs: 1, .. }), "{err}");
    }
}
