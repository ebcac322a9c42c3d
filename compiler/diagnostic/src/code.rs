//! Stable diagnostic codes, KDL specs' and Dockerfiles' in one namespace.

use std::borrow::Cow;
use std::fmt;

/// The kind of a diagnostic. [`Code::as_str`] is shown in the report header and is stable:
/// documentation, tests and editors refer to it. Spec codes start with `duckc::`, Dockerfile
/// codes with `dockerfile::`; a lint's code ends with BuildKit's name of the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Code {
    // KDL specs.
    /// The text is not valid KDL 2.0.
    KdlSyntax,
    /// Braces or block comments nested too deep.
    NestingTooDeep,
    /// A node name that is not part of the spec language at this place.
    UnknownNode,
    /// Too few or too many arguments.
    ArgumentCount,
    /// An argument or property value of the wrong type or form.
    InvalidValue,
    /// A property the node does not take.
    UnknownProperty,
    /// A node that takes no children block has one.
    UnexpectedChildren,
    /// An env without `from`, or with two.
    MissingFrom,
    /// A node that may appear once appears twice.
    DuplicateNode,
    /// A `from` that names no env, stdlib module or image form.
    UnknownFrom,
    /// Envs whose `from`s form a cycle.
    FromCycle,
    /// Two envs with one name.
    DuplicateEnv,
    /// An `import` of a module that does not exist.
    UnknownImport,
    /// A `copy` source that is not in the build context.
    MissingCopySource,
    /// A name that two imports both provide.
    AmbiguousName,
    /// A `packages` step that `duck.lock` does not pin (`build --locked`).
    NotLocked,
    /// A `packages` step whose packages cannot be resolved in the repository.
    UnresolvedPackages,
    /// A `packages` step for a platform with no Debian architecture.
    PackagesPlatform,

    // Dockerfiles.
    /// The text is not a valid Dockerfile.
    DockerfileSyntax,
    /// Evaluating the stages failed (a bad substitution, an unknown stage, a missing argument),
    /// or a build argument is not used.
    DockerfileEval,
    /// Valid Dockerfile that duckc does not honour (fully).
    DockerfileUnsupported,
    /// A step that cannot be built as written (a missing `COPY` source, a symlink as a bind
    /// source).
    DockerfileLower,
    /// A lint, by BuildKit's name of the check (`BaseImageNotPinned`); duckc's own lints have
    /// names of the same form (`RunWithNetwork`).
    Lint(&'static str),
}

impl Code {
    /// The code as shown and documented: `duckc::unknown_node`, `dockerfile::lint::JSONArgsRecommended`.
    pub fn as_str(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            Code::KdlSyntax => "duckc::kdl_syntax",
            Code::NestingTooDeep => "duckc::nesting_too_deep",
            Code::UnknownNode => "duckc::unknown_node",
            Code::ArgumentCount => "duckc::argument_count",
            Code::InvalidValue => "duckc::invalid_value",
            Code::UnknownProperty => "duckc::unknown_property",
            Code::UnexpectedChildren => "duckc::unexpected_children",
            Code::MissingFrom => "duckc::missing_from",
            Code::DuplicateNode => "duckc::duplicate_node",
            Code::UnknownFrom => "duckc::unknown_from",
            Code::FromCycle => "duckc::from_cycle",
            Code::DuplicateEnv => "duckc::duplicate_env",
            Code::UnknownImport => "duckc::unknown_import",
            Code::MissingCopySource => "duckc::missing_copy_source",
            Code::AmbiguousName => "duckc::ambiguous_name",
            Code::NotLocked => "duckc::not_locked",
            Code::UnresolvedPackages => "duckc::unresolved_packages",
            Code::PackagesPlatform => "duckc::packages_platform",
            Code::DockerfileSyntax => "dockerfile::syntax",
            Code::DockerfileEval => "dockerfile::eval",
            Code::DockerfileUnsupported => "dockerfile::unsupported",
            Code::DockerfileLower => "dockerfile::lower",
            Code::Lint(rule) => return Cow::Owned(format!("dockerfile::lint::{rule}")),
        })
    }

    /// The lint's rule name (what `# check=skip=` takes), for lints.
    pub fn rule(&self) -> Option<&'static str> {
        match self {
            Code::Lint(rule) => Some(rule),
            _ => None,
        }
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}
