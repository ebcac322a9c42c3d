//! Warnings for valid Dockerfile that duckc does not (fully) honour. These are not lints: they
//! cannot be switched off, because the build would silently differ from Docker's.

use crate::ast::{Dockerfile, Healthcheck, InstructionKind, MountKind};
use crate::diagnostic::{Code, Diagnostic};

/// Frontends whose syntax duckc implements itself; any other `# syntax=` is ignored with a warning.
const KNOWN_FRONTENDS: &[&str] = &["docker/dockerfile", "docker.io/docker/dockerfile"];

pub fn warnings(file: &Dockerfile) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if let Some(d) = file.directive("syntax") {
        let image = d.value.value.split([':', '@']).next().unwrap_or_default();
        if !KNOWN_FRONTENDS.contains(&image) {
            out.push(
                Diagnostic::warning(
                    Code::DockerfileUnsupported,
                    format!("duckc ignores the frontend `{}` and parses this file itself", d.value.value),
                )
                .with_label(d.value.span, "external frontend not run")
                .with_help("duckc implements the `docker/dockerfile:1` syntax; remove the directive or use that one"),
            );
        }
    }
    for inst in &file.instructions {
        let kind = match &inst.kind {
            InstructionKind::Onbuild(trigger) => {
                out.push(
                    Diagnostic::warning(
                        Code::DockerfileUnsupported,
                        "duckc does not run `ONBUILD` triggers",
                    )
                    .with_label(
                        trigger.span,
                        "recorded in the image config; never runs, here or in images built on this one",
                    )
                    .with_help("put the instruction into the stages that need it"),
                );
                &trigger.kind
            }
            k => k,
        };
        match kind {
            InstructionKind::Healthcheck(Healthcheck::Cmd { .. }) => out.push(
                Diagnostic::warning(Code::DockerfileUnsupported, "duckc does not run health checks")
                    .with_label(inst.span, "recorded in the image config, never run")
                    .with_help("check health from outside, e.g. `duckc run … <probe>`, or remove the `HEALTHCHECK`"),
            ),
            InstructionKind::Volume(v) if !v.is_empty() => {
                let first = &v[0];
                let span = first.span.cover(v[v.len() - 1].span);
                out.push(
                    Diagnostic::warning(Code::DockerfileUnsupported, "`duckc run` creates no volume for `VOLUME`")
                        .with_label(span, "recorded in the image config only")
                        .with_help("files written there stay in the container's own filesystem like any other path"),
                )
            }
            InstructionKind::Run(r) => {
                for m in &r.mounts {
                    if matches!(m.kind, MountKind::Secret | MountKind::Ssh) {
                        let kind = crate::mount::kind_name(m.kind);
                        out.push(
                            Diagnostic::warning(Code::DockerfileUnsupported, format!("duckc cannot provide `{kind}` mounts"))
                                .with_label(m.span, "the command runs without it")
                                .with_help("fetch what the command needs in an earlier stage from the build context instead"),
                        );
                        continue;
                    }
                    let ignored = ignored_mount_options(m);
                    if !ignored.is_empty() {
                        let kind = crate::mount::kind_name(m.kind);
                        let names = ignored.iter().map(|o| format!("`{o}`")).collect::<Vec<_>>().join(", ");
                        out.push(
                            Diagnostic::warning(
                                Code::DockerfileUnsupported,
                                format!("duckc ignores {names} on `{kind}` mounts"),
                            )
                            .with_label(m.span, "mounted without these options")
                            .with_help(match m.kind {
                                MountKind::Cache => "duckc's cache mounts are shared by every step, start empty, and are owned by root with mode 0755; remove the options to silence this",
                                MountKind::Bind => "duckc's bind mounts are read-only; write to a cache or tmpfs mount instead",
                                _ => "duckc's tmpfs mounts have no size limit; remove the option to silence this",
                            }),
                        );
                    }
                }
            }
            _ => {}
        }
    }
    out
}

/// Mount options the parser accepts but the executor does not apply.
fn ignored_mount_options(m: &crate::ast::Mount) -> Vec<&'static str> {
    let mut out = Vec::new();
    let is_cache = m.kind == MountKind::Cache;
    if is_cache
        && matches!(
            m.sharing,
            Some(crate::ast::Sharing::Locked | crate::ast::Sharing::Private)
        )
    {
        out.push("sharing");
    }
    if is_cache && (m.from.is_some() || m.source.is_some()) {
        out.push("from/source");
    }
    if m.readonly == Some(false) && m.kind == MountKind::Bind {
        out.push("rw");
    }
    if m.mode.is_some() {
        out.push("mode");
    }
    if m.uid.is_some() {
        out.push("uid");
    }
    if m.gid.is_some() {
        out.push("gid");
    }
    if m.kind == MountKind::Tmpfs && m.size.is_some() {
        out.push("size");
    }
    out
}
