//! Store fixtures: a busybox OCI image made with the real tools (umoci), and loading it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use super::{busybox_rootfs, duckc, is_root, ok};

/// The image name the busybox fixture carries.
pub const BUSYBOX: &str = "busybox:latest";

/// Build (once per test process) a busybox OCI layout with umoci: `umoci init`/`new`/
/// `unpack`, the root filesystem from [`busybox_rootfs`], `umoci repack`, `umoci config
/// --config.cmd sh`. The image is tagged `busybox:latest` in the layout's index.
fn cached_layout() -> &'static Path {
    static LAYOUT: OnceLock<PathBuf> = OnceLock::new();
    LAYOUT.get_or_init(|| {
        let tmp = tempfile::Builder::new()
            .prefix("duckc-busybox-")
            .tempdir()
            .unwrap()
            .keep();
        // Shared by the process's tests, so kept until it exits, then removed.
        super::remove_at_exit(&tmp);
        let layout = tmp.join("layout");
        let image = format!("{}:{BUSYBOX}", layout.display());
        let bundle = tmp.join("bundle");
        let rootless: &[&str] = if is_root() { &[] } else { &["--rootless"] };
        ok(Command::new("umoci")
            .args(["init", "--layout"])
            .arg(&layout));
        ok(Command::new("umoci").args(["new", "--image", &image]));
        ok(Command::new("umoci")
            .arg("unpack")
            .args(rootless)
            .args(["--image", &image])
            .arg(&bundle));
        busybox_rootfs(&bundle.join("rootfs"));
        ok(Command::new("umoci")
            .arg("repack")
            .args(["--image", &image])
            .arg(&bundle));
        ok(Command::new("umoci").args(["config", "--image", &image, "--config.cmd", "sh"]));
        layout
    })
}

/// Copy the busybox layout (built once per process with umoci) into `dir`; return its path.
pub fn busybox_layout(dir: &Path) -> PathBuf {
    let dest = dir.join("busybox-layout");
    ok(Command::new("cp").arg("-a").arg(cached_layout()).arg(&dest));
    dest
}

/// Load the busybox image into the store at `store` with `duckc load -i`; return the
/// reference to run it by.
pub fn load_busybox(store: &Path) -> String {
    ok(duckc(store).arg("load").arg("-i").arg(cached_layout()));
    BUSYBOX.to_owned()
}

/// A tmpfs of `size` (`8m`) mounted on a fresh directory: a small file system of its own for
/// a store to fill. Unmounted (lazily, whatever is still open in it) when dropped, before the
/// directory itself is removed.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Tmpfs {
        let dir = tempfile::Builder::new()
            .prefix("duckc-tmpfs-")
            .tempdir()
            .unwrap();
        ok(Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir.path()));
        Tmpfs { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bytes free on it (`f_bavail × f_frsize`).
    pub fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(self.path()).unwrap();
        st.f_bavail * st.f_frsize
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.path()).status();
    }
}
