//! Loading a Dockerfile: check it, evaluate its stages (with its base images' ENV and Shell),
//! read the build context hashing what the needed stages copy, and lower it to a layer graph.

use std::collections::BTreeMap;
use std::path::Path;

use duckc_dockerfile::{CheckOptions, Evaluation};
use duckc_ir::dockerfile::LoweredDockerfile;
use duckc_store::{Digest, Store};

use crate::{Diagnostics, Error, Kind, Options, context};

/// A Dockerfile lowered for building.
#[derive(Debug)]
pub struct Dockerfile {
    pub lowered: LoweredDockerfile,
    /// The evaluation lowered.
    pub ev: Evaluation,
    /// The base images' ENV and Shell it was evaluated with.
    pub base_env: BaseConfigs,
    /// The Dockerfile's text, for an error the build finds to point into
    /// ([`LoweredDockerfile::read_from`]).
    pub text: String,
}

/// By base image reference (as written after `FROM`, substituted): its config's ENV, and its
/// `Shell` where it sets one.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BaseConfigs {
    pub env: BTreeMap<String, Vec<(String, String)>>,
    pub shell: BTreeMap<String, Vec<String>>,
}

/// Where the ENV of a Dockerfile's base images comes from: the store, by the digest each base
/// resolved to (for a build, once its bases are pulled), else by the reference.
#[derive(Clone, Copy)]
pub struct Bases<'a> {
    pub store: &'a Store,
    pub resolved: &'a BTreeMap<String, Digest>,
}

impl Bases<'_> {
    /// The ENV and Shell of the external bases of `ev`'s needed stages that the store holds. A
    /// base not there yet (it is pulled before the build) is left out; the build loads again
    /// once it is.
    pub fn of(&self, ev: &Evaluation) -> BaseConfigs {
        let mut out = BaseConfigs::default();
        for &i in &ev.needed {
            let duckc_dockerfile::stages::Base::Image(reference) = &ev.stages[i].base else {
                continue;
            };
            if out.env.contains_key(reference) {
                continue;
            }
            use duckc_syntax::reference::{ImageRef, parse_image_ref};
            let name = match parse_image_ref(reference) {
                Some(ImageRef::Tagged { name, tag }) => format!("{name}:{tag}"),
                Some(ImageRef::Pinned { name, digest }) => format!("{name}@{digest}"),
                None => continue,
            };
            let image = match self.resolved.get(&name) {
                Some(d) if !name.contains('@') => {
                    duckc_image::resolve(self.store, &format!("{name}@{d}")).ok()
                }
                _ => duckc_image::resolve(self.store, &name).ok(),
            };
            let Some(image) = image else {
                continue;
            };
            let env = image
                .config
                .config()
                .as_ref()
                .and_then(|c| c.env().clone())
                .unwrap_or_default()
                .into_iter()
                .filter_map(|kv| {
                    kv.split_once('=')
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                })
                .collect();
            out.env.insert(reference.clone(), env);
            // `Shell` is Docker's field, not OCI's: read from the config as stored.
            let shell = self
                .store
                .read_blob(&image.config_digest, duckc_image::MAX_METADATA_BYTES)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|c| {
                    serde_json::from_value::<Vec<String>>(c["config"]["Shell"].clone()).ok()
                })
                .filter(|s| !s.is_empty());
            if let Some(shell) = shell {
                out.shell.insert(reference.clone(), shell);
            }
        }
        out
    }
}

/// The diagnostics of the Dockerfile `text` (named `name`) before evaluation with build
/// arguments: syntax errors, what duckc does not honour, and lints. `all_lints` is `duckc
/// check`: every lint; `build` and `convert` show only BuildKit's own build checks, as `docker
/// build` does by default.
pub fn check(name: &str, text: &str, all_lints: bool) -> Diagnostics {
    let mut opts = CheckOptions::default();
    opts.lint.buildkit_only = !all_lints;
    Diagnostics {
        items: duckc_dockerfile::check(text, &opts).diagnostics,
        ..Diagnostics::new(Kind::Dockerfile, name, text)
    }
}

/// The evaluation options of a build: its arguments, target and platform.
pub(crate) fn eval_options(opts: &Options<'_>) -> Result<duckc_dockerfile::EvalOptions, Error> {
    let target = match opts.targets.as_slice() {
        [] => None,
        [t] => Some(t.clone()),
        _ => return Err(Error::OneTarget),
    };
    // `TARGETPLATFORM` and friends are fixed when the Dockerfile is evaluated, so one
    // evaluation serves one platform.
    let platform = match opts.platforms.as_slice() {
        [] => None,
        [p] => Some(p.clone()),
        _ => return Err(Error::OnePlatform),
    };
    let mut eval = duckc_dockerfile::EvalOptions {
        build_args: opts.build_args.clone(),
        target,
        ..Default::default()
    };
    if let Some(n) = opts.network {
        eval.network = n;
    }
    if let Some(p) = platform {
        eval.target_platform = p;
    }
    Ok(eval)
}

/// Checks, evaluates and lowers the Dockerfile `text` read from `path`, reading `context`.
/// Diagnostics go to `diagnostics` in the order they are shown; errors stop the loading.
pub(crate) fn load(
    path: &Path,
    name: &str,
    text: &str,
    context: &Path,
    opts: &Options<'_>,
    diagnostics: &mut Vec<Diagnostics>,
) -> Result<Dockerfile, Error> {
    let mut eval = eval_options(opts)?;
    let checked = check(name, text, false);
    let has_errors = checked.errors() > 0;
    diagnostics.push(checked);
    if has_errors {
        return Err(Error::DockerfileHasErrors {
            path: path.to_owned(),
        });
    }
    let file = duckc_dockerfile::parse(text);
    let mut ev = duckc_dockerfile::evaluate(&file, &eval);
    // A base image's ENV is in scope for the stage's substitutions, as in BuildKit (`ENV
    // PATH=/usr/local/go/bin:$PATH`), and its `Shell` runs the shell forms until a `SHELL`.
    // `FROM` lines cannot use ENV, so one more pass with the bases' configs is the final
    // evaluation.
    let configs = opts.bases.map(|b| b.of(&ev)).unwrap_or_default();
    if configs != BaseConfigs::default() {
        eval.base_env = configs.env.clone();
        eval.base_shell = configs.shell.clone();
        ev = duckc_dockerfile::evaluate(&file, &eval);
    }
    if let Some(t) = &eval.target
        && ev.stage(t).is_none()
    {
        let names: Vec<String> = ev
            .stages
            .iter()
            .filter_map(|s| s.name.as_ref().map(|n| format!("`{n}`")))
            .collect();
        return Err(Error::NoStage {
            stage: t.clone(),
            path: path.to_owned(),
            help: if names.is_empty() {
                "the Dockerfile names no stage: add `AS NAME` to a `FROM`".to_owned()
            } else {
                format!("its stages are {}", names.join(", "))
            },
        });
    }
    if !ev.unused_build_args.is_empty() {
        let mut unused = Diagnostics::new(Kind::Lowering, name, text);
        for arg in &ev.unused_build_args {
            unused.unused_build_arg(arg);
        }
        diagnostics.push(unused);
    }
    // The context, with the entries the needed stages read hashed.
    let sources = duckc_ir::dockerfile::context_sources(&ev);
    let listing = context::read(context, &|p| context::wanted(&sources, p))?;
    // `ADD URL` without `--checksum`: keyed by what the URL serves now (warned about by
    // the `AddUrlWithoutChecksum` lint); the build downloads it again and checks it.
    let mut fetched = BTreeMap::new();
    for url in duckc_ir::dockerfile::unpinned_urls(&ev) {
        let digest = duckc_executor::url_digest(&url)?;
        fetched.insert(url, digest);
    }
    let (lowered, lowering) =
        duckc_ir::dockerfile::lower_with_urls(&file, &ev, &listing, &fetched, &opts.tags);
    // The evaluation's warnings are among the check's above (it evaluates too); its errors
    // may depend on the build arguments, so they come here.
    let items: Vec<duckc_dockerfile::Diagnostic> = ev
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .chain(&lowering)
        .cloned()
        .collect();
    let lowering = Diagnostics {
        items,
        ..Diagnostics::new(Kind::Lowering, name, text)
    };
    let errors = lowering.errors();
    diagnostics.push(lowering);
    match lowered {
        Some(lowered) if errors == 0 => Ok(Dockerfile {
            lowered,
            ev,
            base_env: configs,
            text: text.to_owned(),
        }),
        _ => Err(Error::CannotBuild {
            path: path.to_owned(),
        }),
    }
}

/// A Dockerfile parsed and evaluated for its target, no context read: what `convert` needs.
#[derive(Debug)]
pub struct Evaluated {
    pub file: duckc_dockerfile::Dockerfile,
    pub ev: Evaluation,
}

/// Parses and evaluates the Dockerfile `opts` names. Syntax errors stop it (with the check's
/// diagnostics), and so do evaluation errors.
pub fn evaluate(opts: &Options<'_>) -> crate::Load<Evaluated> {
    let mut diagnostics = Vec::new();
    let result = evaluate_into(opts, &mut diagnostics);
    crate::Load {
        diagnostics,
        result,
    }
}

fn evaluate_into(
    opts: &Options<'_>,
    diagnostics: &mut Vec<Diagnostics>,
) -> Result<Evaluated, Error> {
    let name = opts.file.display().to_string();
    let text = crate::read_text(&opts.file)?;
    let file = duckc_dockerfile::parse(&text);
    if file.has_errors() {
        diagnostics.push(check(&name, &text, false));
        return Err(Error::DockerfileHasErrors {
            path: opts.file.clone(),
        });
    }
    let ev = duckc_dockerfile::evaluate(&file, &eval_options(opts)?);
    if ev.has_errors() {
        diagnostics.push(Diagnostics {
            items: ev
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .cloned()
                .collect(),
            ..Diagnostics::new(Kind::Lowering, name, text)
        });
        return Err(Error::CannotEvaluate {
            path: opts.file.clone(),
        });
    }
    Ok(Evaluated { file, ev })
}
