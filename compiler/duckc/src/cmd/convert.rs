//! `duckc convert [Dockerfile]`: writes the KDL spec equivalent to a Dockerfile's target and
//! the stages it needs. It prints the same spec-language lines the Dockerfile lowering records
//! as history, so building either gives the same image digest wherever instructions map one to
//! one; an instruction without a spec form is an error, never dropped.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use miette::miette;

/// Converts `path`; prints the spec to stdout, or the instructions that do not map to stderr.
pub fn run(
    path: &Path,
    target: Option<String>,
    build_args: BTreeMap<String, String>,
) -> miette::Result<ExitCode> {
    let name = path.display().to_string();
    let load = duckc_driver::dockerfile::evaluate(&duckc_driver::Options {
        file: path.to_owned(),
        build_args,
        targets: target.into_iter().collect(),
        ..Default::default()
    });
    super::spec::print(&load.diagnostics, false)?;
    let evaluated = match load.result {
        Ok(e) => e,
        Err(duckc_driver::Error::DockerfileHasErrors { .. }) => {
            return Err(miette!("`{name}` has errors; fix them to convert it"));
        }
        Err(e) => return Err(e.into()),
    };
    let (out, problems) = convert(&evaluated.file, &evaluated.ev);
    if !problems.is_empty() {
        for p in &problems {
            eprintln!("error: {p}");
        }
        eprintln!(
            "  help: these instructions have no one-to-one spec form; rewrite them (or build the Dockerfile directly with `duckc build -f {name}`)"
        );
        return Ok(ExitCode::FAILURE);
    }
    print!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// The spec text for the needed stages, and the instructions that do not convert.
pub fn convert(
    file: &duckc_dockerfile::Dockerfile,
    ev: &duckc_dockerfile::Evaluation,
) -> (String, Vec<String>) {
    let stages = duckc_ir::dockerfile::convert_stages(file, ev);
    let mut out = String::new();
    let mut problems = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&format!(
            "env {:?} {{\n    from {:?}\n",
            stage.name, stage.from
        ));
        for line in &stage.lines {
            match line {
                Ok(l) => out.push_str(&format!("    {l}\n")),
                Err(e) => problems.push(format!("stage `{}`: {e}", stage.name)),
            }
        }
        out.push_str("}\n");
    }
    (out, problems)
}
