//! What crosses the start's error pipe: a failure of the init, of `duckc-exec` or of the cloned
//! child before it runs the init, as one compact typed message, decoded into
//! [`crate::Error::Start`] on the parent's side.
//!
//! The message (the parent reads the pipe to its end of file, so writers may split it):
//!
//! ```text
//! byte 0     MAGIC (0xdc)
//! byte 1     the kind (`Kind` as u8): what went wrong, for the CLI to say what to do
//! byte 2     the exit code `docker run` gives for it: 125 set-up, 126 not executable, 127 not found
//! bytes 3-6  the errno, little-endian (0: none)
//! bytes 7-   what it was doing (UTF-8): a kernel call's description, the command's path, or
//!            for the other kinds the error's whole text
//! ```
//!
//! The parent builds the text the user reads (a kernel call's `what: strerror`, `duckc-exec`'s
//! "executable file not found") from the kind and the errno, so the C stub and the child of the
//! raw `clone`, which cannot allocate, write only fixed bytes and a path. Nothing is written on
//! the happy path: an empty pipe at its end of file means the command runs.

use std::fmt::Write as _;

use crate::error::Error;

/// The first byte of a message; `duckc-exec` (`runtime/stub/exec.c`) writes it too.
pub(crate) const MAGIC: u8 = 0xdc;
/// The length of the fixed part.
pub(crate) const HEADER: usize = 7;

/// What stopped a start before the command ran. Values are the wire's: the stub's C spells
/// `Exec`'s, `NotFound`'s and `Kernel`'s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// Anything else; the message is the error's text.
    Other = 0,
    /// A kernel call failed: the message says which (`what`), the errno why.
    Kernel = 1,
    /// The command does not exist (127); the message is its path.
    NotFound = 2,
    /// The command cannot be executed (126); the message is its path, the errno why.
    Exec = 3,
    /// A user that needs subordinate ids this rootless duckc lacks.
    Rootless = 4,
    /// A `--ulimit` that cannot be set.
    Ulimit = 5,
    /// An OCI hook (from a CDI spec) that failed.
    Hook = 6,
    /// The cloned child could not join its cgroup (the errno says why).
    Cgroup = 7,
}

impl Kind {
    fn from_byte(b: u8) -> Kind {
        match b {
            1 => Kind::Kernel,
            2 => Kind::NotFound,
            3 => Kind::Exec,
            4 => Kind::Rootless,
            5 => Kind::Ulimit,
            6 => Kind::Hook,
            7 => Kind::Cgroup,
            _ => Kind::Other,
        }
    }
}

/// The fixed part of a message, for writers that cannot allocate (the cloned child).
pub(crate) const fn header(kind: Kind, code: u8, errno: i32) -> [u8; HEADER] {
    let e = errno.to_le_bytes();
    [MAGIC, kind as u8, code, e[0], e[1], e[2], e[3]]
}

/// `e` as the init writes it, and the exit code it leaves with: 127 not found, 126 not
/// executable, 125 anything else (as `docker run`).
pub(crate) fn encode(e: &Error) -> (Vec<u8>, u8) {
    let (kind, code, errno, what) = match e {
        Error::Kernel { what, source } if source.raw_os_error().is_some() => (
            Kind::Kernel,
            125,
            source.raw_os_error().unwrap_or(0),
            what.clone(),
        ),
        Error::NotFound(path) => (Kind::NotFound, 127, libc::ENOENT, path.clone()),
        Error::Exec(..) => (Kind::Exec, 126, 0, e.to_string()),
        Error::Rootless(_) => (Kind::Rootless, 125, 0, e.to_string()),
        Error::Ulimit { .. } => (Kind::Ulimit, 125, 0, e.to_string()),
        Error::Hook(_) => (Kind::Hook, 125, 0, e.to_string()),
        // Already decoded once (an error passed on): keep what it was.
        Error::Start {
            kind,
            code,
            message,
            ..
        } => (*kind, *code, 0, message.clone()),
        _ => (Kind::Other, 125, 0, e.to_string()),
    };
    let mut out = Vec::with_capacity(HEADER + what.len());
    out.extend_from_slice(&header(kind, code, errno));
    out.extend_from_slice(what.as_bytes());
    (out, code)
}

/// The error a start's pipe held; `None` when it held nothing (the command started). A message
/// in no known form is shown as it came, with code 125.
pub(crate) fn decode(bytes: &[u8]) -> Option<Error> {
    if bytes.is_empty() {
        return None;
    }
    let Some((head, what)) = bytes
        .split_first_chunk::<HEADER>()
        .filter(|(h, _)| h[0] == MAGIC)
    else {
        return Some(Error::Start {
            kind: Kind::Other,
            code: 125,
            errno: None,
            message: String::from_utf8_lossy(bytes).into_owned(),
        });
    };
    let kind = Kind::from_byte(head[1]);
    let code = head[2];
    let errno = i32::from_le_bytes([head[3], head[4], head[5], head[6]]);
    let what = String::from_utf8_lossy(what);
    let os = || std::io::Error::from_raw_os_error(errno);
    let mut message = String::new();
    let _ = match kind {
        Kind::NotFound => write!(message, "{}", Error::NotFound(what.into_owned())),
        Kind::Exec if errno != 0 => write!(
            message,
            "{}",
            Error::Exec(what.into_owned(), os().to_string())
        ),
        Kind::Kernel | Kind::Cgroup if errno != 0 => write!(message, "{what}: {}", os()),
        _ => write!(message, "{what}"),
    };
    Some(Error::Start {
        kind,
        code,
        errno: (errno != 0).then_some(errno),
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(e: Error) -> String {
        let (bytes, code) = encode(&e);
        match decode(&bytes) {
            Some(Error::Start {
                kind,
                code: c,
                errno,
                message,
            }) => {
                assert_eq!(c, code);
                format!("{kind:?} {code} {errno:?} {message}")
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_parent_reads_what_the_init_would_have_said() {
        let kernel = Error::Kernel {
            what: "cannot mount `/proc`".into(),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
        let text = kernel.to_string();
        assert_eq!(
            round_trip(kernel),
            format!("Kernel 125 Some({}) {text}", libc::EPERM)
        );
        let out = [
            Error::NotFound("no-such-tool".into()),
            Error::Exec("/bin/x".into(), "Permission denied".into()),
            Error::Rootless("1000".into()),
            Error::Workdir("/nope".into(), "not a directory".into()),
        ]
        .map(|e| {
            let text = e.to_string();
            let got = round_trip(e);
            assert!(got.ends_with(&text), "{got} vs {text}");
            got
        });
        insta::assert_snapshot!(out.join("\n"), @r"
        NotFound 127 Some(2) `no-such-tool`: executable file not found in $PATH
        Exec 126 None cannot start `/bin/x`: Permission denied
        Rootless 125 None user `1000` cannot be used without root: only the caller is mapped into the container (as root), it has no subordinate ids for other users
        Other 125 None working directory `/nope` is not usable: not a directory
        ");
        // What `duckc-exec` and the cloned child write: fixed bytes and a path.
        let mut stub = header(Kind::Exec, 126, libc::EACCES).to_vec();
        stub.extend_from_slice(b"/bin/sh");
        let mut cgroup = header(Kind::Cgroup, 125, libc::ENOENT).to_vec();
        cgroup.extend_from_slice(b"cannot move the container into its cgroup");
        let mut missing = header(Kind::NotFound, 127, libc::ENOENT).to_vec();
        missing.extend_from_slice(b"true");
        let texts = [stub, cgroup, missing, b"125 old text".to_vec()]
            .map(|b| decode(&b).unwrap().to_string());
        insta::assert_snapshot!(texts.join("\n"), @r"
        cannot start `/bin/sh`: Permission denied (os error 13)
        cannot move the container into its cgroup: No such file or directory (os error 2)
        `true`: executable file not found in $PATH
        125 old text
        ");
        assert!(decode(b"").is_none());
    }
}
