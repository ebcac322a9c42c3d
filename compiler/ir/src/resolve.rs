//! Name resolution: which envs a file can name (its own and its imports'), what each `from`
//! refers to, and whether `from`s form a cycle.

use std::collections::BTreeMap;

use duckc_syntax::Code;
use duckc_syntax::reference::{ImageRef, parse_image_ref};
use duckc_syntax::suggest::nearest;
use salsa::Accumulator;

use crate::diagnostics::{Diag, quoted};
use crate::inputs::{SpecFile, Workspace};
use crate::items::{EnvItem, Ptr, parse};

/// The envs a file can name in `from`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub struct Scope<'db> {
    /// Envs defined in the file (the first of duplicates).
    pub local: BTreeMap<String, EnvItem<'db>>,
    /// Envs of imported modules, by name; more than one means the name is ambiguous.
    pub imported: BTreeMap<String, Vec<EnvItem<'db>>>,
    /// An imported module has a syntax error, so a name may be missing only because of it:
    /// unknown names are not reported (the syntax error is).
    pub incomplete: bool,
}

/// Resolves an import path as written in `from_file` to a module's logical path:
/// `std/NAME` stays, `./x.kdl` and `x.kdl` are relative to the importing file's directory.
/// `None` when a relative path leaves the build context.
pub fn import_target(from_file: &str, import: &str) -> Option<String> {
    if import.starts_with("std/") {
        return Some(import.to_owned());
    }
    if import.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = from_file.split('/').collect();
    parts.pop();
    for part in import.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// The module an import names, if the driver loaded it.
fn find_module(db: &dyn salsa::Database, file: SpecFile, import: &str) -> Option<SpecFile> {
    let ws = Workspace::get(db);
    let target = import_target(file.path(db), import)?;
    if target.starts_with("std/") {
        ws.stdlib(db).get(&target).copied()
    } else {
        ws.files(db).get(&target).copied()
    }
}

/// What a file can name: its envs and those of its imports. Reports duplicate envs and
/// imports of modules that do not exist.
#[salsa::tracked(returns(ref))]
pub fn scope(db: &dyn salsa::Database, file: SpecFile) -> Scope<'_> {
    let parsed = parse(db, file);
    let mut local: BTreeMap<String, EnvItem<'_>> = BTreeMap::new();
    for &env in &parsed.envs {
        let name = env.name(db);
        match local.get(name) {
            Some(first) => Diag::error(
                file,
                Code::DuplicateEnv,
                format!("env `{name}` is defined twice"),
                Ptr::EnvName { item: env.item(db) }.loc(),
                "defined again here",
            )
            .with_related(
                Ptr::EnvName {
                    item: first.item(db),
                }
                .loc(),
                "first defined here",
            )
            .with_help(format!(
                "rename one of them, e.g. `env \"{name}-2\" {{ … }}`"
            ))
            .accumulate(db),
            None => {
                local.insert(name.clone(), env);
            }
        }
    }
    let mut imported: BTreeMap<String, Vec<EnvItem<'_>>> = BTreeMap::new();
    let mut seen = Vec::new();
    let mut incomplete = false;
    for import in &parsed.imports {
        let Some(module) = find_module(db, file, &import.path) else {
            unknown_import(db, file, &import.path, import.ptr);
            continue;
        };
        if seen.contains(&module) || module == file {
            continue;
        }
        seen.push(module);
        incomplete |= parse(db, module).broken;
        for &env in &parse(db, module).envs {
            let list = imported.entry(env.name(db).clone()).or_default();
            if !list.contains(&env) {
                list.push(env);
            }
        }
    }
    Scope {
        local,
        imported,
        incomplete,
    }
}

fn unknown_import(db: &dyn salsa::Database, file: SpecFile, path: &str, ptr: Ptr) {
    let ws = Workspace::get(db);
    let diag = if path.starts_with("std/") {
        let modules: Vec<&str> = ws.stdlib(db).keys().map(String::as_str).collect();
        let near = nearest(path, modules.iter().copied());
        let label = match near {
            Some(s) => format!("did you mean `{s}`?"),
            None => "no such stdlib module".to_owned(),
        };
        let list: Vec<String> = modules.iter().map(|m| format!("`{m}`")).collect();
        let diag = Diag::error(
            file,
            Code::UnknownImport,
            format!("there is no stdlib module `{path}`"),
            ptr.loc(),
            label,
        )
        .with_help(format!(
            "the stdlib has {}: `import \"std/busybox\"`",
            list.join(", ")
        ));
        match near {
            Some(s) => diag.with_suggestion(ptr.loc(), quoted(s)),
            None => diag,
        }
    } else {
        Diag::error(file, Code::UnknownImport, format!("cannot find module `{path}`"), ptr.loc(), "no such file")
            .with_help(
                "import a `.kdl` file by its path relative to this file, inside the build context: `import \"./base.kdl\"`",
            )
    };
    diag.accumulate(db);
}

/// What a `from` refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Base<'db> {
    /// Another env (of this file, an import, or the stdlib).
    Env(EnvItem<'db>),
    /// `scratch`: the empty image.
    Scratch,
    /// An image in the store (`name:tag`) or in a registry pinned by digest (`host/name@sha256:…`).
    Image(ImageRef),
    /// `oci-layout:PATH`: an OCI image layout directory, relative to the build context.
    OciLayout(String),
    /// Nothing valid (already reported).
    Unresolved,
}

const FROM_FORMS: &str = "a `from` names another env, `scratch`, a stdlib env `std/NAME:VARIANT`, `oci-layout:PATH`, a stored image `name:tag`, or a registry image pinned by digest `host/name@sha256:…`";

/// Resolves an env's `from`. Reports a `from` that names nothing.
#[salsa::tracked(returns(ref))]
pub fn env_base<'db>(db: &'db dyn salsa::Database, env: EnvItem<'db>) -> Base<'db> {
    let Some(decl) = env.base(db) else {
        return Base::Unresolved;
    };
    let file = env.file(db);
    let value = decl.value.as_str();
    // `fix`: the one value a "did you mean" offers, as the machine-applicable suggestion.
    let error = |message: String, label: String, help: String, fix: Option<String>| {
        let diag =
            Diag::error(file, Code::UnknownFrom, message, decl.ptr.loc(), label).with_help(help);
        match fix {
            Some(fix) => diag.with_suggestion(decl.ptr.loc(), quoted(&fix)),
            None => diag,
        }
        .accumulate(db);
        Base::Unresolved
    };
    if value == "scratch" {
        return Base::Scratch;
    }
    if let Some(module) = value.strip_prefix("std/") {
        let ws = Workspace::get(db);
        let (module, variant) = module.split_once(':').unwrap_or((module, ""));
        let module_path = format!("std/{module}");
        let Some(&module_file) = ws.stdlib(db).get(&module_path) else {
            let modules: Vec<&str> = ws.stdlib(db).keys().map(String::as_str).collect();
            let near = nearest(&module_path, modules.iter().copied());
            let label = match near {
                Some(s) => format!("did you mean `{s}`?"),
                None => "no such stdlib module".to_owned(),
            };
            // The module corrected, the variant as written.
            let fix = near.map(|s| match value.split_once(':') {
                Some((_, variant)) => format!("{s}:{variant}"),
                None => s.to_owned(),
            });
            let list: Vec<String> = modules.iter().map(|m| format!("`{m}`")).collect();
            return error(
                format!("there is no stdlib module `{module_path}`"),
                label,
                format!(
                    "the stdlib has {}: `from \"std/scratch:base\"`",
                    list.join(", ")
                ),
                fix,
            );
        };
        let envs = &parse(db, module_file).envs;
        if let Some(&target) = envs.iter().find(|e| e.name(db) == variant) {
            return Base::Env(target);
        }
        let variants: Vec<String> = envs
            .iter()
            .map(|e| format!("`{module_path}:{}`", e.name(db)))
            .collect();
        let (message, label, fix) = if variant.is_empty() {
            (
                format!("`{value}` names no variant"),
                "no `:VARIANT`".to_owned(),
                None,
            )
        } else {
            let names: Vec<&str> = envs.iter().map(|e| e.name(db).as_str()).collect();
            let near = nearest(variant, names);
            let label = match near {
                Some(s) => format!("did you mean `{s}`?"),
                None => "no such variant".to_owned(),
            };
            (
                format!("stdlib module `{module_path}` has no variant `{variant}`"),
                label,
                near.map(|s| format!("{module_path}:{s}")),
            )
        };
        return error(
            message,
            label,
            format!("`{module_path}` has {}", variants.join(", ")),
            fix,
        );
    }
    if let Some(path) = value.strip_prefix("oci-layout:") {
        if path.is_empty() || path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return error(
                format!("`{value}` is not a layout inside the build context"),
                "not a relative path".to_owned(),
                "write the layout directory relative to the spec: `from \"oci-layout:images/base\"`".to_owned(),
                None,
            );
        }
        return Base::OciLayout(path.trim_end_matches('/').to_owned());
    }
    let scope = scope(db, file);
    if let Some(&target) = scope.local.get(value) {
        return Base::Env(target);
    }
    if let Some(targets) = scope.imported.get(value) {
        if let [target] = targets.as_slice() {
            return Base::Env(*target);
        }
        let modules: Vec<String> = targets
            .iter()
            .map(|e| format!("`{}`", e.file(db).path(db)))
            .collect();
        Diag::error(
            file,
            Code::AmbiguousName,
            format!("env `{value}` is defined by several imports"),
            decl.ptr.loc(),
            "ambiguous",
        )
        .with_help(format!(
            "{} all define it; name one directly, e.g. `from \"std/NAME:{value}\"`, or import only one",
            modules.join(", ")
        ))
        .accumulate(db);
        return Base::Unresolved;
    }
    if scope.incomplete {
        return Base::Unresolved;
    }
    let is_ref = value.contains('@')
        || value
            .rsplit_once(':')
            .is_some_and(|(_, tag)| !tag.contains('/'));
    if is_ref && let Some(image) = parse_image_ref(value) {
        return Base::Image(image);
    }
    let names: Vec<&str> = scope
        .local
        .keys()
        .chain(scope.imported.keys())
        .map(String::as_str)
        .collect();
    let near = nearest(value, names);
    let label = match near {
        Some(s) => format!("did you mean `{s}`?"),
        None if is_ref => "not a valid image reference".to_owned(),
        None => "no env, stdlib module or image by this name".to_owned(),
    };
    // A bare word is never read as `NAME:latest`, as a Dockerfile's `FROM NAME` is: an env of
    // that name, added or imported later, would then change the base without a word. The help
    // says what to write instead.
    let latest = format!("{value}:latest");
    if !is_ref && near.is_none() && parse_image_ref(&latest).is_some() {
        return error(
            format!("`from` names nothing called `{value}`"),
            label,
            format!(
                "a bare name is an env, never an image; for the stored image, write its tag: `from \"{latest}\"`"
            ),
            Some(latest),
        );
    }
    error(
        format!("`from` names nothing called `{value}`"),
        label,
        FROM_FORMS.to_owned(),
        near.map(str::to_owned),
    )
}

/// The chain of envs from an env to the env at the root of its `from`s.
#[derive(Debug, Clone, PartialEq, Eq, Hash, salsa::SalsaValue)]
pub enum Ancestry<'db> {
    /// The env, its base env, that one's base env, …; the last one's base is external.
    Chain(Vec<EnvItem<'db>>),
    /// The `from`s lead into a cycle.
    Cycle,
    /// A `from` on the way is missing or names nothing (already reported).
    Broken,
}

/// Follows `from`s without lowering anything, so lowering can recurse into bases knowing it
/// ends. A cycle is reported once, by its first env in source order.
#[salsa::tracked(returns(ref))]
pub fn ancestry<'db>(db: &'db dyn salsa::Database, env: EnvItem<'db>) -> Ancestry<'db> {
    let mut chain = vec![env];
    let mut current = env;
    loop {
        match env_base(db, current) {
            Base::Env(parent) => {
                if let Some(pos) = chain.iter().position(|e| e == parent) {
                    let cycle = &chain[pos..];
                    let order = |e: &EnvItem<'_>| (e.file(db).path(db).clone(), e.item(db));
                    if cycle.iter().min_by_key(|e| order(e)) == Some(&env) && pos == 0 {
                        report_cycle(db, cycle);
                    }
                    return Ancestry::Cycle;
                }
                chain.push(*parent);
                current = *parent;
            }
            Base::Unresolved => return Ancestry::Broken,
            _ => return Ancestry::Chain(chain),
        }
    }
}

fn report_cycle(db: &dyn salsa::Database, cycle: &[EnvItem<'_>]) {
    let first = cycle[0];
    let file = first.file(db);
    let mut names: Vec<String> = cycle.iter().map(|e| format!("`{}`", e.name(db))).collect();
    names.push(names[0].clone());
    let from_of = |i: usize| {
        let next = cycle[(i + 1) % cycle.len()];
        (
            cycle[i].base(db).as_ref().map(|b| b.ptr),
            format!("`{}` is from `{}`", cycle[i].name(db), next.name(db)),
        )
    };
    let (Some(ptr), label) = from_of(0) else {
        return;
    };
    let mut diag = Diag::error(
        file,
        Code::FromCycle,
        format!("envs form a cycle: {}", names.join(" → ")),
        ptr.loc(),
        label,
    )
    .with_help("one env in the cycle must start from something else, e.g. `from \"scratch\"`");
    for (i, member) in cycle.iter().enumerate().skip(1) {
        if member.file(db) == file
            && let (Some(ptr), label) = from_of(i)
        {
            diag = diag.with_related(ptr.loc(), label);
        }
    }
    diag.accumulate(db);
}
