//! Why a file could not be loaded. Mistakes in the spec itself are diagnostics, not errors: an
//! error is about the files (missing, unreadable), the arguments, or a Dockerfile whose
//! diagnostics stop its build.

use std::path::PathBuf;

/// An error loading a spec or a Dockerfile. An IO error is a field of the message, not its
/// source: the message says it whole, and a report prints no cause chain under it.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("cannot read `{name}`: {}", reason(.error))]
    #[diagnostic(
        code(driver::read),
        help("check the path and that the file is readable")
    )]
    Read { name: String, error: std::io::Error },
    #[error("cannot read `{name}`: it is not UTF-8 text")]
    #[diagnostic(code(driver::not_text), help("save it as UTF-8 text"))]
    NotText { name: String },
    #[error("`{}` holds no `env.kdl`, `duck.kdl` or `Dockerfile`", .dir.display())]
    #[diagnostic(
        code(driver::nothing_in),
        help(
            "add an `env.kdl` or a `Dockerfile` there, or name the file: `duckc build -f FILE DIR`, `duckc check FILE`"
        )
    )]
    NothingIn { dir: PathBuf },
    #[error("no spec given, and neither `env.kdl` nor `duck.kdl` is in the current directory")]
    #[diagnostic(
        code(driver::no_spec_here),
        help("pass the spec's path, e.g. `duckc check path/to/env.kdl`")
    )]
    NoSpecHere,
    #[error("cannot read the build context at `{}`: {error}", .path.display())]
    #[diagnostic(
        code(driver::context),
        help("check that the context directory exists and is readable")
    )]
    Context {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read `{}`: {error}", .path.display())]
    #[diagnostic(
        code(driver::context_entry),
        help("make it readable, or leave it out of the context with a `.dockerignore` line")
    )]
    ContextEntry {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("cannot read the ignore file of `{}`: {error}", .dir.display())]
    #[diagnostic(
        code(driver::ignore),
        help("make its `.dockerignore` readable, or remove it")
    )]
    Ignore { dir: PathBuf, error: std::io::Error },
    #[error("a Dockerfile build has one target")]
    #[diagnostic(
        code(driver::one_target),
        help("build one stage per run: `--target STAGE`")
    )]
    OneTarget,
    #[error("a Dockerfile build has one platform")]
    #[diagnostic(
        code(driver::one_platform),
        help(
            "build a Dockerfile for one `--platform` per run, or convert it to a spec (`duckc convert`) and build that for several"
        )
    )]
    OnePlatform,
    /// Syntax errors (or lints made errors) found before evaluation.
    #[error("`{}` has errors; fix them to build it", .path.display())]
    #[diagnostic(
        code(driver::dockerfile_has_errors),
        help(
            "each error above says what to change; `duckc check FILE` lists them without building"
        )
    )]
    DockerfileHasErrors { path: PathBuf },
    #[error("no stage `{stage}` in `{}`", .path.display())]
    #[diagnostic(code(driver::no_stage))]
    NoStage {
        stage: String,
        path: PathBuf,
        #[help]
        help: String,
    },
    /// Evaluation or lowering errors.
    #[error("`{}` cannot be built; fix the errors above", .path.display())]
    #[diagnostic(
        code(driver::cannot_build),
        help(
            "each error above says what to change; `duckc check FILE` lists them without building"
        )
    )]
    CannotBuild { path: PathBuf },
    #[error("`{}` cannot be evaluated; fix the errors above", .path.display())]
    #[diagnostic(
        code(driver::cannot_evaluate),
        help(
            "each error above says what to change; `duckc check FILE` lists them without building"
        )
    )]
    CannotEvaluate { path: PathBuf },
    #[error("the Dockerfile has no stage to build")]
    #[diagnostic(
        code(driver::no_stage_to_build),
        help("start a stage with `FROM IMAGE`")
    )]
    NoStageToBuild,
    #[error("no env `{env}` in `{name}`")]
    #[diagnostic(code(driver::no_env), help("the envs of `{name}` are {envs}"))]
    NoEnv {
        env: String,
        name: String,
        envs: String,
    },
    /// Downloading an `ADD` URL to key it, or planning the build.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(Box<duckc_executor::Error>),
}

// Boxed: the executor's error is large, and every driver `Result` would carry its size.
impl From<duckc_executor::Error> for Error {
    fn from(e: duckc_executor::Error) -> Self {
        Error::Build(Box::new(e))
    }
}

/// An IO error in words, for the files the user named.
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => e.to_string(),
    }
}
