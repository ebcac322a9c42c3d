//! `rename`, `wait`, `restart`, `container prune` and container `inspect`: verbs that read or
//! change a container's recorded state without touching its files.

use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;

use duckc_runtime::container::{self, Status};
use duckc_store::Store;
use miette::{IntoDiagnostic, miette};
use serde_json::Value;

use super::{all, find, report};
use crate::cmd::format::Template;

pub fn rename(store: &Store, query: &str, new_name: &str) -> miette::Result<ExitCode> {
    let (dir, mut config) = find(store, query)?;
    container::rename(store, &dir, &mut config, new_name).map_err(|e| match e {
        container::Error::SameName(name) => miette!(
            help = "give a name it does not have yet",
            "container `{query}` is already called `{name}`"
        ),
        e => report(e),
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Block until each container is not running, then print its exit code (Docker's `wait`: a
/// container that never ran counts as stopped with code 0). A name that finds no container is
/// an error printed in its turn; the others are still waited for.
pub fn wait(store: &Store, queries: &[String]) -> miette::Result<ExitCode> {
    Ok(super::each_container(queries, |query| {
        let (dir, _) = find(store, query)?;
        let code = container::wait(&dir).map_err(|e| {
            miette!(
                help = "`duckc inspect` shows what duckc knows of it",
                "cannot read the state of `{query}`: {e}"
            )
        })?;
        println!("{code}");
        Ok(ExitCode::SUCCESS)
    }))
}

pub fn restart(
    store: &Store,
    queries: &[String],
    how: &super::StopHow,
) -> miette::Result<ExitCode> {
    how.check()?;
    Ok(super::each_container(queries, |query| {
        let (dir, mut config) = find(store, query)?;
        let state = dir.read_state().into_diagnostic()?;
        // What `start` refreshes: the cgroup, the network's addresses, and the pid of the
        // container whose IPC namespace this one joins (restarted since, or stopped). Before
        // the stop: a container that could not start again is left running.
        super::prepare_start(store, &mut config)?;
        super::stop_as(&dir, &config, &state, how)?;
        if let Some(code) = super::detach(store, &dir, &config)? {
            return Ok(code);
        }
        println!("{query}");
        Ok(ExitCode::SUCCESS)
    }))
}

/// Ask `question` on the terminal unless `force`; without a terminal to ask on, refuse.
pub fn confirm(force: bool, question: &str) -> miette::Result<()> {
    if force {
        return Ok(());
    }
    let refuse = || {
        miette!(
            help = "pass `-f` to go ahead without being asked",
            "nothing removed: not confirmed"
        )
    };
    if !std::io::stdin().is_terminal() {
        return Err(refuse());
    }
    print!("WARNING! {question}\nAre you sure you want to continue? [y/N] ");
    std::io::stdout().flush().into_diagnostic()?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .into_diagnostic()?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "Yes") {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// Remove every container that is not running; returns their ids and the bytes freed.
pub fn remove_stopped(store: &Store) -> (Vec<String>, u64) {
    container::remove_stopped(store)
}

/// `container prune`.
pub fn prune(store: &Store, force: bool) -> miette::Result<ExitCode> {
    confirm(force, "This will remove all stopped containers.")?;
    let (ids, bytes) = remove_stopped(store);
    if !ids.is_empty() {
        println!("Deleted Containers:");
        for id in &ids {
            println!("{id}");
        }
        println!();
    }
    println!(
        "Total reclaimed space: {}",
        duckc_image::time::human_size(bytes)
    );
    Ok(ExitCode::SUCCESS)
}

/// The `inspect` document of the container `query` names, if it names one.
pub fn inspect_value(store: &Store, query: &str) -> Option<Value> {
    let (dir, config) = find(store, query).ok()?;
    let state = dir.read_state().ok()?;
    Some(super::inspect::document(store, &dir, &config, &state))
}

/// Print documents as `inspect` does: a JSON array, or one template line each.
pub fn print_documents(docs: &[Value], format: Option<&str>) -> miette::Result<()> {
    match format {
        Some(f) => {
            let t = Template::parse(f)?;
            for d in docs {
                println!("{}", t.render(d)?);
            }
        }
        None => println!("{}", serde_json::to_string_pretty(docs).into_diagnostic()?),
    }
    Ok(())
}

/// `container inspect`.
pub fn inspect(
    store: &Store,
    queries: &[String],
    format: Option<&str>,
) -> miette::Result<ExitCode> {
    // As Docker: the documents of the containers found, an error for each other name.
    let mut docs = Vec::new();
    let mut failed = false;
    for q in queries {
        let doc = find(store, q).and_then(|(dir, config)| {
            let state = dir.read_state().into_diagnostic()?;
            Ok(super::inspect::document(store, &dir, &config, &state))
        });
        match doc {
            Ok(doc) => docs.push(doc),
            Err(report) => {
                eprintln!("{report:?}");
                failed = true;
            }
        }
    }
    print_documents(&docs, format)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Containers in the store: (total, running, paused, stopped), for `info`.
pub fn counts(store: &Store) -> (usize, usize, usize, usize) {
    let (mut total, mut running, mut paused) = (0, 0, 0);
    for (dir, config) in all(store) {
        total += 1;
        if dir.read_state().is_ok_and(|s| s.status == Status::Running) {
            if super::limits::is_paused(&config) {
                paused += 1;
            } else {
                running += 1;
            }
        }
    }
    (total, running, paused, total - running - paused)
}
