//! duckc's driver: the IO the compiler core does not do. It reads a KDL spec and the user files
//! it imports, or a Dockerfile, reads the build context once (listing it and hashing what the
//! build copies in the same pass), sets all of it as inputs, and hands back the loaded
//! database, the layer graph, the `packages` steps and the diagnostics.
//!
//! Every verb that reads a spec (`check`, `graph`, `build`, `explain`, `lock`, `convert`) and
//! remote builds call it, so they read the same files the same way; a language server would
//! too. **Invariants:** the driver prints nothing (diagnostics and notes come back for the
//! caller to show); inputs are set before anything is asked of the database, and nothing
//! downstream writes them back (the executor reads the graph, never the IR inputs).

pub mod context;
pub mod diagnostics;
pub mod dockerfile;
mod error;
pub mod find;
pub mod lock;
pub mod packages;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use duckc_executor::EnvPlan;
use duckc_ir::database::{ContextFile, Database};
use duckc_ir::{LayerGraph, Workspace};

pub use diagnostics::{Diagnostics, Kind};
pub use dockerfile::{BaseConfigs, Bases, Dockerfile};
pub use error::Error;
pub use find::{Found, Look, find_in, find_spec, is_dockerfile};

/// What to load: the file (found already, see [`find_spec`]) and what a build of it is given.
#[derive(Default, Clone)]
pub struct Options<'a> {
    /// The spec or Dockerfile, as the user named it.
    pub file: PathBuf,
    /// The build context (default: the file's directory).
    pub context: Option<PathBuf>,
    /// Dockerfile `ARG` values.
    pub build_args: BTreeMap<String, String>,
    /// The envs (Dockerfile: the one target stage) to build; all when empty.
    pub targets: Vec<String>,
    /// Extra tags (a Dockerfile's target is tagged with them).
    pub tags: Vec<String>,
    /// `--platform` (a Dockerfile is evaluated for one).
    pub platforms: Vec<String>,
    /// Where a Dockerfile's base images' ENV and Shell come from; none: from nowhere.
    pub bases: Option<Bases<'a>>,
    /// `build --network`: the network of Dockerfile `RUN`s without `--network=` (none given:
    /// BuildKit's default, duckc's NAT bridge).
    pub network: Option<duckc_dockerfile::ast::Network>,
}

/// What loading gives back: the diagnostics, in the order to show them, whether or not the
/// loading got through.
pub struct Load<T = Loaded> {
    pub diagnostics: Vec<Diagnostics>,
    pub result: Result<T, Error>,
}

/// A spec or Dockerfile loaded, with its context.
pub struct Loaded {
    pub frontend: Frontend,
    /// The file as the user named it, for messages.
    pub name: String,
    /// Its absolute path (builds are recorded under it).
    pub spec: PathBuf,
    /// The build context directory, absolute.
    pub context: PathBuf,
}

/// The loaded file, by language.
pub enum Frontend {
    /// A KDL spec: its database. The spec's own mistakes are diagnostics in it.
    Kdl(Database),
    /// A Dockerfile, lowered.
    Dockerfile(Box<Dockerfile>),
}

/// Reads the file `opts` names, its imports and its build context (minus what `.duckignore`
/// or `.dockerignore` excludes) and compiles it to a layer graph.
pub fn load(opts: &Options<'_>) -> Load {
    let mut diagnostics = Vec::new();
    let result = load_into(opts, &mut diagnostics);
    Load {
        diagnostics,
        result,
    }
}

/// [`load`] for a KDL spec whose text the caller holds (an editor's buffer, maybe unsaved),
/// into `db` (a language server's, which may log query executions; see
/// [`Database::with_log`]). Its imports and its build context are read from disk as `load`
/// reads them. A spec not saved yet is read as if it were where `opts.file` says.
pub fn load_spec_text(opts: &Options<'_>, text: String, db: Database) -> Load {
    let mut diagnostics = Vec::new();
    let result = read_with(opts, Some(text)).and_then(|read| load_spec(read, db, &mut diagnostics));
    Load {
        diagnostics,
        result,
    }
}

fn load_into(opts: &Options<'_>, diagnostics: &mut Vec<Diagnostics>) -> Result<Loaded, Error> {
    let read = read(opts)?;
    if is_dockerfile(&opts.file) {
        let lowered = dockerfile::load(
            &opts.file,
            &read.name,
            &read.text,
            &read.context,
            opts,
            diagnostics,
        )?;
        return Ok(Loaded {
            frontend: Frontend::Dockerfile(Box::new(lowered)),
            name: read.name,
            spec: read.spec,
            context: read.context,
        });
    }
    load_spec(read, Database::default(), diagnostics)
}

fn load_spec(
    read: Read,
    db: Database,
    diagnostics: &mut Vec<Diagnostics>,
) -> Result<Loaded, Error> {
    let mut db = spec_database_into(&read, db);
    let sources = duckc_ir::copy_sources(&db).clone();
    db.set_context(context::read(&read.context, &|p| {
        context::wanted(&sources, p)
    })?);
    for f in duckc_ir::diagnostics(&db) {
        let name = if f.file == Workspace::get(&db).root(&db) {
            read.name.clone()
        } else {
            f.file.path(&db).clone()
        };
        diagnostics.push(Diagnostics {
            items: f.diagnostics.clone(),
            ..Diagnostics::new(Kind::Spec, name, f.file.text(&db).clone())
        });
    }
    Ok(Loaded {
        frontend: Frontend::Kdl(db),
        name: read.name,
        spec: read.spec,
        context: read.context,
    })
}

/// The file read, and where it and its context are.
struct Read {
    name: String,
    text: String,
    spec: PathBuf,
    spec_dir: PathBuf,
    context: PathBuf,
}

/// Reads the text of a file the user named.
pub fn read_text(path: &Path) -> Result<String, Error> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|error| Error::Read {
        name: name.clone(),
        error,
    })?;
    String::from_utf8(bytes).map_err(|_| Error::NotText { name })
}

fn read(opts: &Options<'_>) -> Result<Read, Error> {
    read_with(opts, None)
}

/// Reads the file `opts` names, or takes its `text` when the caller has it (a file not saved
/// yet is then where its path says).
fn read_with(opts: &Options<'_>, text: Option<String>) -> Result<Read, Error> {
    let path = &opts.file;
    let name = path.display().to_string();
    let (text, spec) = match text {
        Some(text) => {
            let spec = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            (text, spec)
        }
        None => {
            let text = read_text(path)?;
            let spec = std::fs::canonicalize(path).map_err(|error| Error::Read {
                name: name.clone(),
                error,
            })?;
            (text, spec)
        }
    };
    let spec_dir = spec
        .parent()
        .map(Path::to_owned)
        .unwrap_or_else(|| PathBuf::from("/"));
    let context = match &opts.context {
        Some(c) => std::fs::canonicalize(c).map_err(|error| Error::Context {
            path: c.clone(),
            error,
        })?,
        None => spec_dir.clone(),
    };
    Ok(Read {
        name,
        text,
        spec,
        spec_dir,
        context,
    })
}

/// A database holding the spec and the user modules it imports (relative to its directory),
/// with an empty build context.
fn spec_database(read: &Read) -> Database {
    spec_database_into(read, Database::default())
}

fn spec_database_into(read: &Read, mut db: Database) -> Database {
    let logical = read
        .spec
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "env.kdl".to_owned());
    db.load(&logical, read.text.clone(), Vec::new());
    db.load_imports(|import| read_import(&read.spec_dir.join(import)));
    db
}

/// The text of an imported spec file, if it is a regular file of UTF-8 text. It is opened
/// without blocking and checked on the open descriptor, so an import that names a FIFO or a
/// device (or is swapped for one) is "no such file", never a read that hangs or never ends.
pub fn read_import(path: &Path) -> Option<String> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(path)
        .ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    Some(text)
}

/// What a build of `opts` reads, found without compiling it (for a remote build, which sends
/// exactly these files).
pub struct Inputs {
    /// The spec's absolute path.
    pub spec: PathBuf,
    /// The user spec files by path relative to the spec's directory, the spec first (a
    /// Dockerfile has no others).
    pub spec_files: Vec<String>,
    /// The build context directory, absolute.
    pub context: PathBuf,
    /// The context paths the build copies (see [`context::wanted`]).
    pub sources: Vec<String>,
    /// The context's listing, unhashed.
    pub listing: Vec<ContextFile>,
}

/// The files a build of `opts` reads: the spec and its imports, and the context entries its
/// `copy`/`COPY`/`ADD` steps name.
pub fn inputs(opts: &Options<'_>) -> Result<Inputs, Error> {
    let read = read(opts)?;
    let logical = read
        .spec
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "env.kdl".to_owned());
    let mut spec_files = vec![logical.clone()];
    let sources = if is_dockerfile(&opts.file) {
        let parsed = duckc_dockerfile::parse(&read.text);
        let mut eval = duckc_dockerfile::EvalOptions {
            build_args: opts.build_args.clone(),
            target: opts.targets.first().cloned(),
            ..Default::default()
        };
        if let Some(n) = opts.network {
            eval.network = n;
        }
        if let Some(p) = opts.platforms.first() {
            eval.target_platform = p.clone();
        }
        duckc_ir::dockerfile::context_sources(&duckc_dockerfile::evaluate(&parsed, &eval))
    } else {
        let db = spec_database(&read);
        let ws = Workspace::get(&db);
        spec_files.extend(ws.files(&db).keys().filter(|k| **k != logical).cloned());
        duckc_ir::copy_sources(&db).clone()
    };
    let listing = context::read(&read.context, &|_| false)?;
    Ok(Inputs {
        spec: read.spec,
        spec_files,
        context: read.context,
        sources,
        listing,
    })
}

impl Loaded {
    /// The layer graph a build executes.
    pub fn graph(&self) -> &LayerGraph {
        match &self.frontend {
            Frontend::Kdl(db) => duckc_ir::layer_graph(db),
            Frontend::Dockerfile(d) => &d.lowered.graph,
        }
    }

    /// The plans of `targets` (all envs when empty). A Dockerfile has one: its target, every
    /// instruction of every needed stage numbered across the file as Docker numbers them.
    pub fn plans(&self, targets: &[String]) -> Result<Vec<EnvPlan>, Error> {
        let lowered = match &self.frontend {
            Frontend::Kdl(_) => {
                let graph = self.graph();
                return duckc_executor::plan::select(graph, targets).map_err(|unknown| {
                    let names: Vec<String> =
                        graph.envs.iter().map(|e| format!("`{}`", e.name)).collect();
                    Error::NoEnv {
                        env: unknown,
                        name: self.name.clone(),
                        envs: names.join(", "),
                    }
                });
            }
            Frontend::Dockerfile(d) => &d.lowered,
        };
        let env = lowered.graph.envs.first().ok_or(Error::NoStageToBuild)?;
        let mut plan = duckc_executor::plan::env_plan(&lowered.graph, env)?;
        plan.steps = lowered
            .steps
            .iter()
            .map(|s| duckc_executor::PlanStep {
                text: s.text.clone(),
                node: s.node,
                image: s.image,
            })
            .collect();
        Ok(vec![plan])
    }

    /// The `packages` steps (none for a Dockerfile).
    pub fn packages_steps(
        &self,
        overrides: &packages::Overrides<'_>,
    ) -> Vec<packages::PackagesStep> {
        match &self.frontend {
            Frontend::Kdl(db) => packages::steps(db, overrides),
            Frontend::Dockerfile(_) => Vec::new(),
        }
    }

    /// `duck.lock`, next to the spec (as the user named it).
    pub fn lock_path(&self) -> PathBuf {
        lock::beside(Path::new(&self.name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, files: &[(&str, &str)]) {
        for (path, text) in files {
            let p = dir.join(path);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
    }

    /// The context is read once, and only what a `copy` reads is hashed; the import's own
    /// `copy` counts.
    #[test]
    fn a_spec_loads_with_its_imports_and_the_copied_entries_hashed() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            &[
                (
                    "env.kdl",
                    "import \"./lib.kdl\"\nenv \"a\" {\n    from \"b\"\n    copy \"src/\" \"/src/\"\n}\n",
                ),
                (
                    "lib.kdl",
                    "env \"b\" {\n    from \"scratch\"\n    copy \"one.txt\" \"/one.txt\"\n}\n",
                ),
                ("src/main.py", "print(1)\n"),
                ("one.txt", "1\n"),
                ("other.txt", "not copied\n"),
            ],
        );
        let opts = Options {
            file: dir.path().join("env.kdl"),
            ..Default::default()
        };
        let load = load(&opts);
        let loaded = load.result.unwrap();
        assert!(
            load.diagnostics.iter().all(|d| d.errors() == 0),
            "{:?}",
            load.diagnostics
        );
        let Frontend::Kdl(db) = &loaded.frontend else {
            panic!("not a spec");
        };
        let hashed = |p: &str| db.context_entry(p).unwrap().digest(db).is_some();
        assert!(hashed("src/main.py"));
        assert!(hashed("one.txt"));
        assert!(!hashed("other.txt"));
        assert_eq!(loaded.plans(&[]).unwrap().len(), 2);
        let inputs = inputs(&opts).unwrap();
        assert_eq!(inputs.spec_files, ["env.kdl", "lib.kdl"]);
        assert_eq!(inputs.sources, ["one.txt", "src"]);
    }

    #[test]
    fn a_dockerfile_with_errors_comes_back_with_its_diagnostics() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &[("Dockerfile", "FORM scratch\n")]);
        let load = load(&Options {
            file: dir.path().join("Dockerfile"),
            ..Default::default()
        });
        assert!(matches!(
            load.result,
            Err(Error::DockerfileHasErrors { .. })
        ));
        assert_eq!(load.diagnostics.len(), 1);
        assert!(load.diagnostics[0].errors() > 0);
    }
}
