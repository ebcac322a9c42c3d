//! Builds `duckc-exec` from `stub/exec.c`: the small static program a container's command is
//! exec'd from when the init runs straight from duckc's own image (`src/exe.rs` explains why),
//! embedded by the crate with `include_bytes!`.

use std::path::PathBuf;

fn main() {
    let src = "stub/exec.c";
    println!("cargo:rerun-if-changed={src}");
    let out =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("duckc-exec");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    // The architectures `stub/exec.c` has system call glue for; others link the static libc.
    let bare = matches!(arch.as_str(), "x86_64" | "aarch64" | "riscv64");
    let compiler = cc::Build::new()
        .pic(false)
        .debug(false)
        .opt_level_str("s")
        .cargo_metadata(false)
        .get_compiler();
    let mut cmd = compiler.to_command();
    // Freestanding and static: no sanitizer runtime to link, whatever CFLAGS a fuzzing or
    // sanitizer build (cargo fuzz) passes down.
    cmd.args([
        "-fno-sanitize=all",
        "-static",
        "-no-pie",
        "-fno-pie",
        "-fno-stack-protector",
        "-fno-asynchronous-unwind-tables",
        "-s",
        "-Wl,--build-id=none",
        "-Wl,-z,noexecstack",
        "-Wall",
        "-Wextra",
        "-Werror",
    ]);
    if bare {
        cmd.args(["-nostdlib", "-nostartfiles", "-ffreestanding"]);
    }
    cmd.arg("-o").arg(&out).arg(src);
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler for `{src}`: {e}"));
    assert!(
        status.success(),
        "building `{src}` failed ({status}); it needs a C compiler and, on architectures other than x86_64, aarch64 and riscv64, a static libc"
    );
}
