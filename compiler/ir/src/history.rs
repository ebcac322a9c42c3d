//! The image history's `created_by` text: each step written in the spec language's own syntax
//! (`run "make"`), by both frontends alike. The image key covers it, so a Dockerfile and its
//! `duckc convert` output give the same image only because both describe their steps here.

use duckc_syntax::ast::Network;

use crate::graph::RunCommand;
use crate::items::StepDeclKind;

/// A step as it appears in the image history: the spec's own syntax.
pub fn describe(kind: &StepDeclKind) -> String {
    let q = |s: &str| format!("{s:?}");
    let list = |v: &[String]| v.iter().map(|s| q(s)).collect::<Vec<_>>().join(" ");
    match kind {
        StepDeclKind::Platform(p) => format!("platform {}", list(p)),
        StepDeclKind::Packages(p, false) => format!("packages {}", list(p)),
        StepDeclKind::Packages(p, true) => format!("packages {} apt-sources=#true", list(p)),
        StepDeclKind::Copy {
            sources,
            destination,
            chown,
            chmod,
            from,
        } => {
            let mut s = format!("copy {} {}", list(sources), q(destination));
            if let Some(c) = chown {
                s.push_str(&format!(" chown={}", q(c)));
            }
            if let Some(m) = chmod {
                s.push_str(&format!(" chmod=\"{m:04o}\""));
            }
            if let Some((f, _)) = from {
                s.push_str(&format!(" from={}", q(f)));
            }
            s
        }
        StepDeclKind::Run { command, network } => {
            let mut s = match command {
                RunCommand::Shell(c) => format!("run {}", q(c)),
                RunCommand::Exec(v) => format!("run {}", list(v)),
            };
            if *network != Network::None {
                s.push_str(&format!(" network=\"{}\"", network.as_str()));
            }
            s
        }
        StepDeclKind::Env(vars) => {
            let v: Vec<String> = vars.iter().map(|(k, v)| format!("{k}={}", q(v))).collect();
            format!("env {}", v.join(" "))
        }
        StepDeclKind::Workdir(w) => format!("workdir {}", q(w)),
        StepDeclKind::User(u) => format!("user {}", q(u)),
        StepDeclKind::Entrypoint(v) => format!("entrypoint {}", list(v)).trim_end().to_owned(),
        StepDeclKind::Cmd(v) => format!("cmd {}", list(v)).trim_end().to_owned(),
        StepDeclKind::Label(k, v) => format!("label {} {}", q(k), q(v)),
        StepDeclKind::Expose(p) => {
            format!(
                "expose {}",
                p.iter()
                    .map(|p| q(&p.to_string()))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        }
        StepDeclKind::Tag(t) => format!("tag {}", list(t)),
    }
}
