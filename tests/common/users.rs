//! Throwaway local users for the tests that need one (rootless, remote over ssh).

use std::process::Command;

/// Run a shadow tool (`useradd`, `usermod`, `userdel`); its error text on failure. Other tests
/// on the machine edit /etc/passwd and /etc/subuid too, and these tools give up at once on a
/// file another one has locked: try again until it is free.
pub fn shadow_tool(cmd: &mut Command) -> Result<(), String> {
    for _ in 0..100 {
        let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        let err = String::from_utf8_lossy(&out.stderr);
        if !err.contains("lock") {
            return Err(format!("{cmd:?} failed: {err}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    Err(format!("{cmd:?}: the user database stayed locked"))
}

/// The uid and gid of the user `name`.
pub fn ids(name: &str) -> (u32, u32) {
    let id = |flag: &str| -> u32 {
        let out = Command::new("id").arg(flag).arg(name).output().unwrap();
        assert!(out.status.success(), "id {flag} {name}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}
