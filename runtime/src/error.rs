//! The runtime's error type.

use std::io;

/// Everything that can stop a container from starting or running.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("{what}: {source}")]
    #[diagnostic(code(runtime::kernel))]
    Kernel {
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("`{0}` in the image is a symlink; refusing to mount over it")]
    #[diagnostic(code(runtime::symlink_mountpoint))]
    SymlinkMountpoint(String),
    #[error("host device `{0}` is not the expected character device; refusing to use it")]
    #[diagnostic(code(runtime::bad_device))]
    BadDevice(String),
    #[error("mount target `{0}` did not end up inside the container's root")]
    #[diagnostic(code(runtime::mount_escaped))]
    MountEscaped(String),
    #[error("working directory `{0}` is not usable: {1}")]
    #[diagnostic(code(runtime::workdir))]
    Workdir(String, String),
    #[error("user `{0}` not found in the image's /etc/passwd")]
    #[diagnostic(code(runtime::unknown_user))]
    UnknownUser(String),
    #[error("group `{0}` not found in the image's /etc/group")]
    #[diagnostic(code(runtime::unknown_group))]
    UnknownGroup(String),
    #[error(
        "user or group id `{0}` is out of range: ids above 2147483647 are refused (4294967295 means \"unchanged\" to the kernel and would keep root)"
    )]
    #[diagnostic(code(runtime::id_out_of_range))]
    IdOutOfRange(String),
    #[error(
        "user `{0}` cannot be used without root: only the caller is mapped into the container (as root), it has no subordinate ids for other users"
    )]
    #[diagnostic(code(runtime::rootless))]
    Rootless(String),
    #[error("layer path `{0}` contains `:` or `,`, which overlayfs cannot take")]
    #[diagnostic(code(runtime::layer_path))]
    LayerPath(String),
    #[error(
        "the image has {0} layers, more than overlayfs stacks (500); flatten it into fewer layers"
    )]
    #[diagnostic(code(runtime::too_many_layers))]
    TooManyLayers(usize),
    #[error(
        "the image has {layers} layers ({bytes} bytes of overlay options), more than one classic overlay mount takes (4000 bytes); this kernel lacks overlayfs `lowerdir+`: run on Linux 6.8 or later, or flatten the image into fewer layers"
    )]
    #[diagnostic(code(runtime::kernel_too_old))]
    KernelTooOld { layers: usize, bytes: usize },
    #[error("no command given and the image has no entrypoint or cmd")]
    #[diagnostic(
        code(runtime::no_command),
        help("give a command after the image, or build the image with an `entrypoint` or `cmd`")
    )]
    NoCommand,
    #[error("`{0}`: executable file not found in $PATH")]
    #[diagnostic(code(runtime::not_found))]
    NotFound(String),
    #[error("cannot start `{0}`: {1}")]
    #[diagnostic(code(runtime::exec))]
    Exec(String, String),
    #[error("user namespaces are not available: {0}")]
    #[diagnostic(code(runtime::no_user_namespaces))]
    NoUserNamespaces(String),
    /// The container's command could not be started, as the init, `duckc-exec` or the cloned
    /// child said on the start's error pipe ([`crate::start`]): `kind` is what went wrong,
    /// `code` what `docker run` exits with then (125 set-up failed, 126 not executable, 127
    /// not found), `errno` the kernel's reason where there is one.
    #[error("{message}")]
    #[diagnostic(code(runtime::start))]
    Start {
        kind: crate::start::Kind,
        code: u8,
        errno: Option<i32>,
        message: String,
    },
    #[error("invalid runtime configuration: {0}")]
    #[diagnostic(code(runtime::config))]
    Config(String),
    #[error("seccomp profile: {0}")]
    #[diagnostic(code(runtime::seccomp))]
    Seccomp(#[from] crate::seccomp::Error),
    #[error("`{0}` is not a device node; `--device` takes a character or block device")]
    #[diagnostic(code(runtime::not_a_device))]
    NotADevice(String),
    #[error("cannot set ulimit `{name}` to {soft}:{hard}: {reason}")]
    #[diagnostic(code(runtime::ulimit))]
    Ulimit {
        name: String,
        soft: String,
        hard: String,
        reason: String,
    },
    /// The container's network could not be set up.
    #[error("network: {0}")]
    #[diagnostic(code(runtime::net))]
    Net(#[from] crate::net::NetError),
    /// Limits asked for that a rootless run cannot apply.
    #[error("{} cannot apply without root: {reason}", .limits.join(", "))]
    #[diagnostic(code(runtime::rootless_limits))]
    RootlessLimits {
        limits: Vec<&'static str>,
        reason: String,
    },
    /// An OCI hook (from a CDI spec) that failed.
    #[error(transparent)]
    #[diagnostic(code(runtime::hook))]
    Hook(#[from] crate::hooks::Error),
}

/// `Result` with the runtime's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// Attach a description to a kernel call's error.
pub(crate) trait Context<T> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> Context<T> for io::Result<T> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|source| Error::Kernel {
            what: what(),
            source,
        })
    }
}

impl<T> Context<T> for std::result::Result<T, rustix::io::Errno> {
    fn what(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::Kernel {
            what: what(),
            source: e.into(),
        })
    }
}
