//! The container lifecycle: `<store>/containers/`, which only this module writes.
//!
//! A container is `<store>/containers/<id>/` ([`Dir`]): `config.json` ([`Config`]: the
//! [`ContainerSpec`](crate::ContainerSpec) and how it was made), `state.json` ([`State`]:
//! status, init pid and start time, exit code, times), the overlay's `upper/` and `work/`, the
//! `rootfs/` mount point and the `log`. The CLI finds containers here ([`list`], [`find`]) and
//! prints what it reads; every change to a container's files goes through this module:
//! [`create`], [`run_attached`] and [`start_detached`], [`stop`], [`kill`], [`delete`],
//! [`rename`], [`wait`].
//!
//! Three parties talk, each with typed messages: the CLI calls these functions and gets an
//! [`Error`] back (a start failure keeps the runtime's [`crate::Error`], or for a detached
//! start the code and message its monitor sent); a detached container's [`monitor`] sends
//! the CLI one [`monitor::Report`]; `attach` clients send the monitor [`attach::Message`]s.

pub mod attach;
mod lifecycle;
pub mod monitor;
mod names;
mod state;

pub use lifecycle::{
    create, delete, kill, remove_stopped, rename, run_attached, start_code, start_detached, stop,
    wait,
};
pub use names::{new_id, random_name, valid_name};
pub use state::{Config, Dir, State, Status, alive, start_time};

use duckc_store::Store;

/// Why a container could not be found, named or changed.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error("no such container: `{0}`")]
    #[diagnostic(code(container::not_found), help("list containers with `duckc ps -a`"))]
    NotFound(String),
    #[error("`{0}` matches more than one container")]
    #[diagnostic(
        code(container::ambiguous),
        help("give more characters of the ID, or the name")
    )]
    Ambiguous(String),
    #[error("invalid container name `{0}`")]
    #[diagnostic(
        code(container::invalid_name),
        help("names are letters, digits, `_`, `.` and `-`, starting with a letter or digit")
    )]
    InvalidName(String),
    #[error("the container name `{name}` is already in use by container `{id}`")]
    #[diagnostic(
        code(container::name_in_use),
        help("remove it with `duckc rm {name}`, or choose another name")
    )]
    NameInUse { name: String, id: String },
    /// `rename` to the name the container has.
    #[error("the container is already called `{0}`")]
    #[diagnostic(code(container::same_name))]
    SameName(String),
    #[error("the container is not running")]
    #[diagnostic(code(container::not_running))]
    NotRunning,
    #[error("cannot signal the container: {0}")]
    #[diagnostic(code(container::signal))]
    Signal(#[source] std::io::Error),
    #[error("cannot record the container's image: {0}")]
    #[diagnostic(code(container::root))]
    Root(#[source] duckc_store::Error),
    #[error("cannot write the container's record: {0}")]
    #[diagnostic(code(container::record))]
    Record(#[source] std::io::Error),
    /// The container could not start in this process; [`start_code`] is Docker's exit code.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Start(crate::Error),
    /// Waiting for an attached container failed after it started.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Attach(crate::Error),
    /// A detached container's monitor could not start it: Docker's exit code and why.
    #[error("{message}")]
    #[diagnostic(code(container::detached))]
    Detached { code: u8, message: String },
    #[error("the container monitor exited before the container started")]
    #[diagnostic(code(container::monitor_gone))]
    MonitorGone,
    #[error(transparent)]
    #[diagnostic(transparent)]
    Runtime(#[from] crate::Error),
}

/// `Result` with the lifecycle's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every container in the store, newest first. A directory whose `config.json` cannot be read
/// (one being created or removed right now) is left out.
pub fn list(store: &Store) -> Vec<(Dir, Config)> {
    let mut out: Vec<(Dir, Config)> = std::fs::read_dir(store.containers_dir())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let dir = Dir(e.path());
            let config = dir.read_config().ok()?;
            Some((dir, config))
        })
        .collect();
    out.sort_by_key(|(_, c)| std::cmp::Reverse((c.created, c.created_nanos)));
    out
}

/// The container `query` names: a name, a full id or a unique prefix of an id.
pub fn find(store: &Store, query: &str) -> Result<(Dir, Config)> {
    let containers = list(store);
    let not_found = || Error::NotFound(query.to_owned());
    if query.is_empty() {
        return Err(not_found());
    }
    if let Some(i) = containers
        .iter()
        .position(|(_, c)| c.name == query || c.id == query)
    {
        return containers.into_iter().nth(i).ok_or_else(not_found);
    }
    let mut hits = containers
        .into_iter()
        .filter(|(_, c)| c.id.starts_with(query));
    match (hits.next(), hits.next()) {
        (Some(hit), None) => Ok(hit),
        (Some(_), Some(_)) => Err(Error::Ambiguous(query.to_owned())),
        _ => Err(not_found()),
    }
}

/// The name a new container gets among `containers`: `requested` (a leading `/` dropped, as
/// Docker does) when it is valid and free, else a random free `adjective_animal`.
pub fn name_for(containers: &[(Dir, Config)], requested: Option<&str>) -> Result<String> {
    let Some(name) = requested else {
        return Ok(loop {
            let n = random_name();
            if !containers.iter().any(|(_, c)| c.name == n) {
                break n;
            }
        });
    };
    let name = name.trim_start_matches('/');
    check_free(containers, name)?;
    Ok(name.to_owned())
}

/// `name` is a valid container name that no container in `containers` has.
fn check_free(containers: &[(Dir, Config)], name: &str) -> Result<()> {
    if !valid_name(name) {
        return Err(Error::InvalidName(name.to_owned()));
    }
    match containers.iter().find(|(_, c)| c.name == name) {
        Some((_, c)) => Err(Error::NameInUse {
            name: name.to_owned(),
            id: c.id.clone(),
        }),
        None => Ok(()),
    }
}
