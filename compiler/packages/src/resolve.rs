//! Dependency resolution with resolvo: which packages `apt-get install --no-install-recommends`
//! would install for a request, or an explanation of why nothing can.
//!
//! The model: every package of the index is a solvable named by its package name, so at most
//! one version of a name is chosen. A relation `x (>= 1)` becomes a union of version sets,
//! in the order apt tries them: the real package `x` first, then each package that provides `x`
//! (sorted as apt's `pkgPrioSortList` does: Essential, then Priority, then name). An
//! alternative `a | b` concatenates the unions of `a` and `b`, so the first alternative is
//! tried first. `Conflicts` and `Breaks` become resolvo constraints: "if a package of this
//! name is chosen, it must lie outside this set". A package that conflicts with a virtual
//! name it provides itself is not in conflict with itself (Debian's idiom for "only one MTA").

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;

use resolvo::{
    Candidates, Condition, ConditionalRequirement, DenseIndex, Dependencies, DependencyProvider,
    Interner, KnownDependencies, NameId, Problem, Requirement, SolvableId, Solver, SolverCache,
    StringId, UnsolvableOrCancelled, VersionSetId, VersionSetUnionId,
};

use crate::index::{Index, MultiArch, Package, Priority};
use crate::relation::{ArchQualifier, Constraint, Op, Relation};

/// What to install.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Package names as `apt-get install` takes them: `name`, `name=version`, a virtual name,
    /// or the patterns `?essential` and `?priority(required)` (also `important`, `standard`).
    pub packages: Vec<String>,
    /// Packages already present (a parent env's): kept at these exact versions and not listed
    /// in the result.
    pub installed: Vec<Installed>,
}

/// A package already present in the env being extended.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Installed {
    pub name: String,
    pub version: String,
    pub architecture: String,
}

/// Why a request cannot be resolved. Codes `packages::not_found`, `packages::unsatisfiable`, ….
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    #[error(
        "unknown package `{name}`: the repository has no package of that name and none provides it"
    )]
    #[diagnostic(code(packages::not_found), help("{}", unknown_help(suggestion)))]
    Unknown {
        name: String,
        /// The index's nearest name, when one is a plausible typo.
        suggestion: Option<String>,
    },
    #[error("unknown pattern `{pattern}`: use `?essential` or `?priority(required)`")]
    #[diagnostic(
        code(packages::unknown_pattern),
        help(
            "the patterns are `?essential` and `?priority(required)`, `?priority(important)`, `?priority(standard)`"
        )
    )]
    UnknownPattern { pattern: String },
    #[error("bad version in `{item}`")]
    #[diagnostic(
        code(packages::bad_version),
        help("pin a version as apt-get does, `NAME=VERSION`: `python3=3.11.2-1+b1`")
    )]
    BadVersion { item: String },
    #[error("`{name}` {version} ({architecture}) is installed but not in the repository")]
    #[diagnostic(
        code(packages::lock_stale),
        help(
            "the repository no longer has what `duck.lock` pins for a base env: run `duckc lock --update` to move the pins forward"
        )
    )]
    InstalledNotInIndex {
        name: String,
        version: String,
        architecture: String,
    },
    /// The request cannot be satisfied; `explanation` is resolvo's account of the conflict.
    #[error("the packages cannot be installed together:\n{explanation}")]
    #[diagnostic(
        code(packages::unsatisfiable),
        help(
            "the explanation says which packages conflict: drop one of them, pin other versions (`NAME=VERSION`), or split them into separate envs"
        )
    )]
    Unsatisfiable { explanation: String },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn unknown_help(suggestion: &Option<String>) -> String {
    let check = "check the name (`apt-cache policy NAME` on a Debian host, or the repository's `Packages` index)";
    match suggestion {
        Some(s) => format!("did you mean `{s}`? Otherwise {check}"),
        None => check.to_owned(),
    }
}

/// Resolve `request` against `index`. Returns the packages to install (not those already
/// installed), sorted by name.
pub fn resolve(index: &Index, request: &Request) -> Result<Vec<Package>> {
    let provider = Provider::new(index);
    let mut requirements = Vec::new();
    let mut locked = HashMap::new();
    for installed in &request.installed {
        let Some(i) = index.by_name(&installed.name).iter().copied().find(|&i| {
            let p = index.get(i);
            p.architecture == installed.architecture && p.version.to_string() == installed.version
        }) else {
            return Err(Error::InstalledNotInIndex {
                name: installed.name.clone(),
                version: installed.version.clone(),
                architecture: installed.architecture.clone(),
            });
        };
        let name = provider.name(&installed.name);
        locked.insert(name, SolvableId::from_index(i));
        let set = provider.set(SetDef {
            name,
            kind: SetKind::Real {
                constraint: None,
                arch: ArchQualifier::None,
            },
            negate: false,
        });
        requirements.push(ConditionalRequirement {
            condition: None,
            requirement: Requirement::Single(set),
        });
    }
    *provider.locked.borrow_mut() = locked;
    for item in &request.packages {
        for relation in request_relations(index, item)? {
            if index.by_name(&relation.name).is_empty()
                && index.providers(&relation.name).is_empty()
            {
                let suggestion = index.nearest_name(&relation.name);
                return Err(Error::Unknown {
                    name: relation.name,
                    suggestion,
                });
            }
            let requirement = provider.requirement(&[relation], None);
            requirements.push(ConditionalRequirement {
                condition: None,
                requirement,
            });
        }
    }
    let installed: std::collections::HashSet<usize> = provider
        .locked
        .borrow()
        .values()
        .map(|s| s.to_index())
        .collect();
    let mut solver = Solver::new(provider);
    let problem = Problem::new().requirements(requirements);
    match solver.solve(problem) {
        Ok(solution) => {
            let mut packages: Vec<Package> = solution
                .into_iter()
                .map(|s| s.to_index())
                .filter(|i| !installed.contains(i))
                .map(|i| index.get(i).clone())
                .collect();
            packages.sort_by(|a, b| {
                a.name
                    .cmp(&b.name)
                    .then(a.architecture.cmp(&b.architecture))
            });
            Ok(packages)
        }
        Err(UnsolvableOrCancelled::Unsolvable(conflict)) => {
            let explanation = conflict.display_user_friendly(&solver).to_string();
            Err(Error::Unsatisfiable {
                explanation: explanation.trim_end().to_owned(),
            })
        }
        Err(UnsolvableOrCancelled::Cancelled(_)) => Err(Error::Unsatisfiable {
            explanation: "resolution was cancelled".into(),
        }),
    }
}

/// One request item as relations: `name`, `name=version`, or a pattern expanding to names.
fn request_relations(index: &Index, item: &str) -> Result<Vec<Relation>> {
    let item = item.trim();
    if let Some(pattern) = item.strip_prefix('?') {
        let mut names: Vec<&str> = match pattern {
            "essential" => index
                .packages()
                .iter()
                .filter(|p| p.essential)
                .map(|p| p.name.as_str())
                .collect(),
            _ => {
                let priority = match pattern {
                    "priority(required)" => Priority::Required,
                    "priority(important)" => Priority::Important,
                    "priority(standard)" => Priority::Standard,
                    _ => {
                        return Err(Error::UnknownPattern {
                            pattern: item.to_owned(),
                        });
                    }
                };
                index
                    .packages()
                    .iter()
                    .filter(|p| p.priority == priority)
                    .map(|p| p.name.as_str())
                    .collect()
            }
        };
        names.sort_unstable();
        names.dedup();
        return Ok(names
            .into_iter()
            .map(|n| Relation {
                name: n.to_owned(),
                arch: ArchQualifier::None,
                constraint: None,
            })
            .collect());
    }
    let (name, constraint) = match item.split_once('=') {
        Some((name, version)) => {
            let version = version.trim().parse().map_err(|_| Error::BadVersion {
                item: item.to_owned(),
            })?;
            (
                name.trim(),
                Some(Constraint {
                    op: Op::Eq,
                    version,
                }),
            )
        }
        None => (item, None),
    };
    let (name, arch) = match name.split_once(':') {
        Some((n, "any")) => (n, ArchQualifier::Any),
        Some((n, a)) => (n, ArchQualifier::Arch(a.to_owned())),
        None => (name, ArchQualifier::None),
    };
    Ok(vec![Relation {
        name: name.to_owned(),
        arch,
        constraint,
    }])
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum SetKind {
    /// Packages of the set's name matching the constraint and architecture qualifier.
    Real {
        constraint: Option<Constraint>,
        arch: ArchQualifier,
    },
    /// Packages of the set's name that provide `name` with a matching version.
    Provides {
        name: String,
        constraint: Option<Constraint>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct SetDef {
    name: NameId,
    kind: SetKind,
    /// The complement: used for `Conflicts` and `Breaks`.
    negate: bool,
}

#[derive(Default)]
struct Tables {
    names: Vec<String>,
    name_ids: HashMap<String, NameId>,
    sets: Vec<SetDef>,
    set_ids: HashMap<SetDef, VersionSetId>,
    unions: Vec<Vec<VersionSetId>>,
}

struct Provider<'a> {
    index: &'a Index,
    tables: RefCell<Tables>,
    locked: RefCell<HashMap<NameId, SolvableId>>,
}

impl<'a> Provider<'a> {
    fn new(index: &'a Index) -> Self {
        Provider {
            index,
            tables: RefCell::default(),
            locked: RefCell::default(),
        }
    }

    fn name(&self, name: &str) -> NameId {
        let mut t = self.tables.borrow_mut();
        if let Some(&id) = t.name_ids.get(name) {
            return id;
        }
        let id = NameId::from_index(t.names.len());
        t.names.push(name.to_owned());
        t.name_ids.insert(name.to_owned(), id);
        id
    }

    fn set(&self, def: SetDef) -> VersionSetId {
        let mut t = self.tables.borrow_mut();
        if let Some(&id) = t.set_ids.get(&def) {
            return id;
        }
        let id = VersionSetId::from_index(t.sets.len());
        t.sets.push(def.clone());
        t.set_ids.insert(def, id);
        id
    }

    /// The version sets that satisfy `relation`, in the order apt tries them.
    fn sets_for(
        &self,
        relation: &Relation,
        negate: bool,
        exclude: Option<&str>,
        out: &mut Vec<VersionSetId>,
    ) {
        let index = self.index;
        let real = !index.by_name(&relation.name).is_empty();
        if real && exclude != Some(relation.name.as_str()) {
            let kind = SetKind::Real {
                constraint: relation.constraint.clone(),
                arch: relation.arch.clone(),
            };
            out.push(self.set(SetDef {
                name: self.name(&relation.name),
                kind,
                negate,
            }));
        }
        let mut providers: Vec<&Package> = index
            .providers(&relation.name)
            .iter()
            .map(|&i| index.get(i))
            .filter(|p| p.name != relation.name && exclude != Some(p.name.as_str()))
            .collect();
        providers.sort_by(|a, b| {
            (!a.essential, a.priority, &a.name).cmp(&(!b.essential, b.priority, &b.name))
        });
        providers.dedup_by(|a, b| a.name == b.name);
        for p in providers {
            let kind = SetKind::Provides {
                name: relation.name.clone(),
                constraint: relation.constraint.clone(),
            };
            out.push(self.set(SetDef {
                name: self.name(&p.name),
                kind,
                negate,
            }));
        }
        if out.is_empty() && !negate {
            // Nothing can satisfy it: a set with no candidates, which resolvo reports.
            let kind = SetKind::Real {
                constraint: relation.constraint.clone(),
                arch: relation.arch.clone(),
            };
            out.push(self.set(SetDef {
                name: self.name(&relation.name),
                kind,
                negate,
            }));
        }
    }

    /// A requirement for an OR of relations.
    fn requirement(&self, alternatives: &[Relation], exclude: Option<&str>) -> Requirement {
        let mut sets = Vec::new();
        for relation in alternatives {
            let mut more = Vec::new();
            self.sets_for(relation, false, exclude, &mut more);
            for s in more {
                if !sets.contains(&s) {
                    sets.push(s);
                }
            }
        }
        if let [single] = sets.as_slice() {
            return Requirement::Single(*single);
        }
        let mut t = self.tables.borrow_mut();
        t.unions.push(sets);
        Requirement::Union(VersionSetUnionId::from_index(t.unions.len() - 1))
    }

    fn matches(&self, package: &Package, kind: &SetKind) -> bool {
        match kind {
            SetKind::Real { constraint, arch } => {
                let arch_ok = match arch {
                    ArchQualifier::None => true,
                    ArchQualifier::Any => {
                        matches!(package.multi_arch, MultiArch::Allowed | MultiArch::Foreign)
                    }
                    ArchQualifier::Arch(a) => {
                        a == "native"
                            || a == self.index.architecture()
                            || a == &package.architecture
                    }
                };
                arch_ok
                    && constraint
                        .as_ref()
                        .is_none_or(|c| c.matches(&package.version))
            }
            SetKind::Provides { name, constraint } => package.provides.iter().any(|p| {
                p.name == *name
                    && match (constraint, &p.constraint) {
                        (None, _) => true,
                        // Only `Provides: x (= v)` can satisfy a versioned relation.
                        (
                            Some(want),
                            Some(Constraint {
                                op: Op::Eq,
                                version,
                            }),
                        ) => want.matches(version),
                        (Some(_), _) => false,
                    }
            }),
        }
    }
}

impl Interner for Provider<'_> {
    type NameId = NameId;
    type SolvableId = SolvableId;

    fn display_solvable(&self, solvable: SolvableId) -> impl fmt::Display + '_ {
        let p = self.index.get(solvable.to_index());
        format!("{} {}", p.version, p.architecture)
    }

    fn display_merged_solvables(&self, solvables: &[SolvableId]) -> impl fmt::Display + '_ {
        let mut versions: Vec<String> = solvables
            .iter()
            .map(|&s| self.index.get(s.to_index()).version.to_string())
            .collect();
        versions.sort();
        versions.dedup();
        let name = solvables
            .first()
            .map(|&s| self.index.get(s.to_index()).name.clone())
            .unwrap_or_default();
        format!("{name} {}", versions.join(" | "))
    }

    fn display_name(&self, name: NameId) -> impl fmt::Display + '_ {
        self.tables.borrow().names[name.to_index()].clone()
    }

    fn display_version_set(&self, version_set: VersionSetId) -> impl fmt::Display + '_ {
        let t = self.tables.borrow();
        let def = &t.sets[version_set.to_index()];
        let text = match &def.kind {
            SetKind::Real {
                constraint: Some(c),
                ..
            } => c.to_string(),
            SetKind::Real {
                constraint: None,
                arch: ArchQualifier::Any,
            } => ":any".to_owned(),
            SetKind::Real {
                constraint: None, ..
            } => "*".to_owned(),
            SetKind::Provides {
                name,
                constraint: Some(c),
            } => format!("providing {name} {c}"),
            SetKind::Provides {
                name,
                constraint: None,
            } => format!("providing {name}"),
        };
        match (&def.kind, def.negate) {
            (
                SetKind::Real {
                    constraint: None,
                    arch: ArchQualifier::None,
                },
                true,
            ) => "(no version)".to_owned(),
            (_, true) => format!("not {text}"),
            (_, false) => text,
        }
    }

    fn display_string(&self, _string_id: StringId) -> impl fmt::Display + '_ {
        // No string is ever interned: every candidate's dependencies are known.
        ""
    }

    fn version_set_name(&self, version_set: VersionSetId) -> NameId {
        self.tables.borrow().sets[version_set.to_index()].name
    }

    fn solvable_name(&self, solvable: SolvableId) -> NameId {
        self.name(&self.index.get(solvable.to_index()).name)
    }

    fn version_sets_in_union(
        &self,
        version_set_union: VersionSetUnionId,
    ) -> impl Iterator<Item = VersionSetId> {
        self.tables.borrow().unions[version_set_union.to_index()]
            .clone()
            .into_iter()
    }

    fn resolve_condition(&self, _condition: resolvo::ConditionId) -> Condition {
        // No requirement here is conditional, so the solver never asks.
        Condition::Requirement(VersionSetId(0))
    }
}

impl DependencyProvider for Provider<'_> {
    async fn filter_candidates(
        &self,
        candidates: &[SolvableId],
        version_set: VersionSetId,
        inverse: bool,
    ) -> Vec<SolvableId> {
        let def = self.tables.borrow().sets[version_set.to_index()].clone();
        candidates
            .iter()
            .copied()
            .filter(|&s| {
                (self.matches(self.index.get(s.to_index()), &def.kind) != def.negate) != inverse
            })
            .collect()
    }

    async fn get_candidates(&self, name: NameId) -> Option<Candidates> {
        let text = self.tables.borrow().names[name.to_index()].clone();
        let candidates: Vec<SolvableId> = self
            .index
            .by_name(&text)
            .iter()
            .map(|&i| SolvableId::from_index(i))
            .collect();
        let locked = self.locked.borrow().get(&name).copied();
        Some(Candidates {
            candidates,
            locked,
            ..Candidates::default()
        })
    }

    async fn sort_candidates(&self, _solver: &SolverCache<Self>, solvables: &mut [SolvableId]) {
        // Newest first: apt's candidate is the highest version.
        solvables.sort_by(|a, b| {
            self.index
                .get(b.to_index())
                .version
                .cmp(&self.index.get(a.to_index()).version)
        });
    }

    async fn get_dependencies(&self, solvable: SolvableId) -> Dependencies {
        let package = self.index.get(solvable.to_index());
        let mut deps = KnownDependencies::default();
        for group in package.pre_depends.iter().chain(&package.depends) {
            let requirement = self.requirement(group, None);
            deps.requirements.push(ConditionalRequirement {
                condition: None,
                requirement,
            });
        }
        for relation in package.conflicts.iter().chain(&package.breaks) {
            let mut sets = Vec::new();
            self.sets_for(relation, true, Some(&package.name), &mut sets);
            deps.constrains.extend(sets);
        }
        Dependencies::Known(deps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An index from `name version [Field: value]…` lines, one package per line, fields separated by `;`.
    fn index(spec: &str) -> Index {
        let mut text = String::new();
        for line in spec.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let mut parts = line.splitn(3, ' ');
            let (name, version) = (parts.next().unwrap(), parts.next().unwrap());
            text += &format!("Package: {name}\nVersion: {version}\nArchitecture: amd64\n");
            for field in parts
                .next()
                .unwrap_or_default()
                .split(';')
                .filter(|f| !f.trim().is_empty())
            {
                text += field.trim();
                text.push('\n');
            }
            text += &format!(
                "Filename: pool/{name}_{version}.deb\nSize: 1\nSHA256: {}\n\n",
                "0".repeat(64)
            );
        }
        Index::parse(&text, "amd64").unwrap()
    }

    fn check(index: &Index, packages: &[&str]) -> String {
        let request = Request {
            packages: packages.iter().map(|s| (*s).to_owned()).collect(),
            installed: vec![],
        };
        match resolve(index, &request) {
            Ok(ps) => ps
                .iter()
                .map(|p| format!("{} {}", p.name, p.version))
                .collect::<Vec<_>>()
                .join(", "),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn first_alternative_first() {
        let idx = index("app 1 Depends: b-second | a-first\na-first 1\nb-second 1");
        assert_eq!(check(&idx, &["app"]), "app 1, b-second 1");
    }

    #[test]
    fn minbase_takes_usrmerge_as_apt_and_mmdebstrap_do() {
        // bookworm: `init-system-helpers` (Essential) depends on `usrmerge | usr-is-merged`.
        // apt takes the first alternative although the second is an empty package, so the
        // minbase set has `usrmerge` and the perl it needs, as `mmdebstrap --variant=minbase`
        // (without its merged-usr hook) installs it.
        let idx = index(
            "init-system-helpers 1.65 Essential: yes; Priority: required; Depends: usrmerge | usr-is-merged
             usrmerge 37 Priority: optional; Provides: usr-is-merged; Depends: perl:any, libfile-find-rule-perl
             usr-is-merged 37 Priority: optional
             perl 5.36 Priority: standard; Multi-Arch: allowed
             libfile-find-rule-perl 0.34 Priority: optional; Depends: perl:any",
        );
        assert_eq!(
            check(&idx, &["?essential"]),
            "init-system-helpers 1.65, libfile-find-rule-perl 0.34, perl 5.36, usrmerge 37"
        );
    }

    #[test]
    fn virtual_providers_in_apt_priority_order() {
        // gawk is newer and sorts first by name, but apt prefers the Priority: required provider.
        let idx = index(
            "tool 1 Depends: awk\ngawk 5 Provides: awk; Priority: optional\nmawk 1 Provides: awk; Priority: required",
        );
        assert_eq!(check(&idx, &["tool"]), "mawk 1, tool 1");
        assert_eq!(check(&idx, &["awk"]), "mawk 1");
        // An Essential provider comes before everything else.
        let idx = index(
            "tool 1 Depends: awk\nzawk 1 Provides: awk; Essential: yes; Priority: optional\nmawk 1 Provides: awk; Priority: required",
        );
        assert_eq!(check(&idx, &["tool"]), "tool 1, zawk 1");
    }

    #[test]
    fn versioned_dependencies_and_provides() {
        let idx = index(
            "app 1 Depends: lib (>= 2), api (>= 3)\nlib 1\nlib 2\nlib 3\nimpl-old 1 Provides: api (= 2)\nimpl-new 1 Provides: api (= 3)\nimpl-plain 1 Provides: api",
        );
        assert_eq!(check(&idx, &["app"]), "app 1, impl-new 1, lib 3");
        assert_eq!(check(&idx, &["app", "lib=2"]), "app 1, impl-new 1, lib 2");
    }

    #[test]
    fn conflicts_steer_alternatives_and_explain_failures() {
        let idx = index("app 1 Depends: a | b\na 1 Conflicts: other\nb 1\nother 1");
        assert_eq!(check(&idx, &["app"]), "a 1, app 1");
        assert_eq!(check(&idx, &["app", "other"]), "app 1, b 1, other 1");
        let idx =
            index("postfix 1 Provides: mta; Conflicts: mta\nexim 1 Provides: mta; Conflicts: mta");
        assert_eq!(check(&idx, &["postfix"]), "postfix 1");
        insta::assert_snapshot!(check(&idx, &["postfix", "exim"]), @r"
        the packages cannot be installed together:
        The following packages are incompatible
        ├─ exim * can be installed with any of the following options:
        │  └─ exim 1
        └─ postfix * cannot be installed because there are no viable options:
           └─ postfix 1 would constrain
              └─ exim not providing mta, which conflicts with any installable versions previously reported
        ");
    }

    #[test]
    fn breaks_and_versioned_conflicts() {
        let idx = index("app 1 Depends: lib\nlib 1\nlib 2\nnew 1 Breaks: lib (>= 2)");
        assert_eq!(check(&idx, &["app"]), "app 1, lib 2");
        assert_eq!(check(&idx, &["app", "new"]), "app 1, lib 1, new 1");
    }

    #[test]
    fn multi_arch_any() {
        let idx = index(
            "tool 1 Depends: python3:any\npython3 3 Multi-Arch: allowed\nbad 1 Depends: perl:any\nperl 5",
        );
        assert_eq!(check(&idx, &["tool"]), "python3 3, tool 1");
        assert!(check(&idx, &["bad"]).starts_with("the packages cannot be installed together"));
    }

    #[test]
    fn patterns_and_unknown_names() {
        let idx = index(
            "base 1 Essential: yes; Priority: required\nreq 1 Priority: required\nopt 1 Priority: optional",
        );
        assert_eq!(check(&idx, &["?essential"]), "base 1");
        assert_eq!(check(&idx, &["?priority(required)"]), "base 1, req 1");
        assert_eq!(
            check(&idx, &["?frobnicate"]),
            "unknown pattern `?frobnicate`: use `?essential` or `?priority(required)`"
        );
        assert_eq!(
            check(&idx, &["nope"]),
            "unknown package `nope`: the repository has no package of that name and none provides it"
        );
        // A typo of a real or a virtual name: the nearest is offered, with the code.
        let typo = |name: &str| {
            let request = Request {
                packages: vec![name.to_owned()],
                installed: vec![],
            };
            let e = resolve(&idx, &request).unwrap_err();
            let code = miette::Diagnostic::code(&e).map(|c| c.to_string());
            let help = miette::Diagnostic::help(&e).map(|h| h.to_string());
            format!("{}: {}", code.unwrap_or_default(), help.unwrap_or_default())
        };
        insta::assert_snapshot!(typo("bsae"), @"packages::not_found: did you mean `base`? Otherwise check the name (`apt-cache policy NAME` on a Debian host, or the repository's `Packages` index)");
        insta::assert_snapshot!(typo("zzzzzz"), @"packages::not_found: check the name (`apt-cache policy NAME` on a Debian host, or the repository's `Packages` index)");
        let idx = index("app 1 Depends: missing (>= 1)");
        insta::assert_snapshot!(check(&idx, &["app"]), @r"
        the packages cannot be installed together:
        app * cannot be installed because there are no viable options:
        └─ app 1 would require
           └─ missing (>= 1), for which no candidates were found.
        ");
    }

    #[test]
    fn installed_packages_are_kept_and_left_out() {
        let idx = index("app 1 Depends: lib (>= 2)\nlib 1\nlib 2\nother 1 Depends: lib");
        let installed = vec![Installed {
            name: "lib".into(),
            version: "1".into(),
            architecture: "amd64".into(),
        }];
        let request = Request {
            packages: vec!["other".into()],
            installed: installed.clone(),
        };
        let names: Vec<_> = resolve(&idx, &request)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["other"]);
        let request = Request {
            packages: vec!["app".into()],
            installed,
        };
        assert!(matches!(
            resolve(&idx, &request),
            Err(Error::Unsatisfiable { .. })
        ));
    }
}
