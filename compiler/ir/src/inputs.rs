//! The salsa inputs: spec texts, the embedded stdlib, and the build context's file digests.
//!
//! The core does no IO. The driver (the CLI, the language server, a test) reads files and sets
//! these; every query below derives from them.

use std::collections::BTreeMap;

use crate::key::Digest;

/// One spec text: a user file or a stdlib module.
#[salsa::input(debug)]
pub struct SpecFile {
    /// The logical path: relative to the build context for user files (`env.kdl`,
    /// `lib/base.kdl`), `std/NAME` for stdlib modules. Never absolute, so nothing derived from it
    /// depends on where the checkout lives.
    #[returns(ref)]
    pub path: String,
    #[returns(ref)]
    pub text: String,
    /// The build context `copy` reads from; `None` for stdlib modules.
    #[returns(copy)]
    pub context: Option<Context>,
}

/// The build context: the directory of the root spec, as a listing of relative paths.
///
/// The listing changes only when files are added or removed; a file's content lives in its own
/// [`ContextEntry`] input, so changing one file re-runs only the `copy` steps that copy it.
#[salsa::input(debug)]
pub struct Context {
    /// Relative `/`-separated path (no `./`, no trailing `/`) → entry. Directories included.
    #[returns(ref)]
    pub entries: BTreeMap<String, ContextEntry>,
}

/// One file, directory or symlink in the build context.
#[salsa::input(debug)]
pub struct ContextEntry {
    #[returns(copy)]
    pub kind: EntryKind,
    /// The permission bits in the checkout (`mode & 0o7777`). Only the executable bits matter:
    /// copied files are stored as 0644 or 0755.
    #[returns(copy)]
    pub mode: u32,
    /// sha256 of the content (of the link target for symlinks; `None` for directories). Drivers
    /// may leave it `None` for files no `copy` reads; see [`crate::copy_sources`].
    #[returns(copy)]
    pub digest: Option<Digest>,
}

/// What a context entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// Everything the driver loaded: the root spec, the user files it imports (transitively), and
/// the stdlib. One per database.
#[salsa::input(singleton, debug)]
pub struct Workspace {
    #[returns(copy)]
    pub root: SpecFile,
    /// User spec files by logical path, the root included.
    #[returns(ref)]
    pub files: BTreeMap<String, SpecFile>,
    /// Stdlib modules by `std/NAME`. Set with high durability: they never change in a session.
    #[returns(ref)]
    pub stdlib: BTreeMap<String, SpecFile>,
}
