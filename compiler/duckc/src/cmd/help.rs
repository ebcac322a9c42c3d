//! The top-level help grouped as Docker's is (Common Commands, Management Commands, Commands,
//! then duckc's own), and a clear answer to a Docker verb duckc does not have, instead of
//! clap's "did you mean" pointing at an unrelated verb (`swarm` → `stats`).

use clap::error::{ContextKind, ContextValue, ErrorKind};
use miette::miette;

/// Docker's "Common Commands", in Docker's order.
const COMMON: &[&str] = &[
    "run", "exec", "ps", "build", "pull", "push", "images", "login", "logout", "search", "version",
    "info",
];

/// Docker's other top-level verbs (its "Commands" and "Management Commands").
const DOCKER: &[&str] = &[
    "attach",
    "builder",
    "buildx",
    "checkpoint",
    "commit",
    "compose",
    "config",
    "container",
    "context",
    "cp",
    "create",
    "debug",
    "diff",
    "events",
    "export",
    "history",
    "image",
    "import",
    "init",
    "inspect",
    "kill",
    "load",
    "logs",
    "manifest",
    "network",
    "node",
    "pause",
    "plugin",
    "port",
    "rename",
    "restart",
    "rm",
    "rmi",
    "save",
    "scout",
    "secret",
    "service",
    "stack",
    "start",
    "stats",
    "stop",
    "swarm",
    "system",
    "tag",
    "top",
    "trust",
    "unpause",
    "update",
    "volume",
    "wait",
];

/// `cmd` with a help template that lists its subcommands in Docker's groups.
pub fn grouped(cmd: clap::Command) -> clap::Command {
    let mut common = Vec::new();
    let mut management = Vec::new();
    let mut docker = Vec::new();
    let mut own = Vec::new();
    for sub in cmd.get_subcommands() {
        let name = sub.get_name().to_owned();
        if sub.is_hide_set() || name == "help" {
            continue;
        }
        let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
        let row = (name.clone(), about);
        if COMMON.contains(&name.as_str()) {
            common.push(row);
        } else if sub.has_subcommands() {
            management.push(row);
        } else if DOCKER.contains(&name.as_str()) {
            docker.push(row);
        } else {
            own.push(row);
        }
    }
    common.sort_by_key(|(n, _)| COMMON.iter().position(|c| c == n));
    management.sort();
    docker.sort();
    let width = common
        .iter()
        .chain(&management)
        .chain(&docker)
        .chain(&own)
        .map(|(n, _)| n.len())
        .max()
        .unwrap_or(0);
    let mut text = String::from("{about-with-newline}\n{usage-heading} {usage}\n");
    for (title, rows) in [
        ("Common Commands", &common),
        ("Management Commands", &management),
        ("Commands", &docker),
        ("Environment Commands (duckc's own)", &own),
    ] {
        if rows.is_empty() {
            continue;
        }
        text.push_str(&format!("\n{title}:\n"));
        for (name, about) in rows.iter() {
            // A brace would start a template tag.
            let about = about.replace(['{', '}'], "");
            text.push_str(&format!("  {name:<width$}  {about}\n"));
        }
    }
    text.push_str("\nGlobal Options:\n{options}\n\nRun 'duckc COMMAND --help' for more information on a command.\n");
    cmd.help_template(text)
}

/// Verbs of Docker's management commands (`docker network connect`) that are not top-level
/// verbs too.
const MANAGEMENT_VERBS: &[&str] = &[
    "connect",
    "create",
    "disconnect",
    "list",
    "ls",
    "prune",
    "remove",
    "update",
];

/// Docker's `image` verbs that duckc has at the top level only, under their names there.
const IMAGE_VERBS: &[(&str, &str)] = &[
    ("build", "build"),
    ("import", "import"),
    ("inspect", "inspect"),
    ("list", "images"),
    ("load", "load"),
    ("ls", "images"),
    ("pull", "pull"),
    ("push", "push"),
    ("remove", "rmi"),
    ("rm", "rmi"),
    ("save", "save"),
    ("tag", "tag"),
];

/// A clap error for a Docker verb duckc lacks, turned into duckc's own diagnostic. `args` are
/// the command line (without the program), to tell `duckc rm` from `duckc image rm`; `cli` is
/// duckc's command, to name the verb that does what a management command's verb would.
pub fn unknown_docker_verb(
    err: &clap::Error,
    args: &[String],
    cli: &clap::Command,
) -> Option<miette::Report> {
    if err.kind() != ErrorKind::InvalidSubcommand {
        return None;
    }
    let Some(ContextValue::String(word)) = err.get(ContextKind::InvalidSubcommand) else {
        return None;
    };
    // The management command it was given to (`image`, `container`, `network`, …): the
    // subcommand named before it on the line.
    let at = args.iter().position(|a| a == word)?;
    let parent = args[..at].iter().rev().find(|a| {
        cli.find_subcommand(a.as_str())
            .is_some_and(|c| c.has_subcommands())
    });
    if let Some(parent) = parent {
        let top = match parent.as_str() {
            "image" => IMAGE_VERBS
                .iter()
                .find(|(verb, _)| verb == word)
                .map(|(_, top)| *top),
            _ => None,
        };
        return Some(match top {
            Some(top) => miette!(
                help = format!("duckc has it at the top level: `duckc {top}`"),
                "`duckc {parent}` has no `{word}`"
            ),
            None if DOCKER.contains(&word.as_str())
                || COMMON.contains(&word.as_str())
                || MANAGEMENT_VERBS.contains(&word.as_str()) =>
            {
                miette!(
                    help = format!("`duckc {parent} --help` lists what `duckc {parent}` has"),
                    "`duckc {parent}` has no `{word}`"
                )
            }
            None => return None,
        });
    }
    if !DOCKER.contains(&word.as_str()) && !COMMON.contains(&word.as_str()) {
        return None;
    }
    Some(miette!(
        help = "duckc runs containers without a daemon and has Docker's everyday verbs; `duckc --help` lists them",
        "duckc has no `{word}`"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_verbs_are_sorted_and_apart_from_the_common_ones() {
        let mut sorted = DOCKER.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, DOCKER);
        assert!(COMMON.iter().all(|c| !DOCKER.contains(c)));
    }
}
