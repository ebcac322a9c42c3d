//! Tests of resolution, lowering, the layer graph, and incrementality (from salsa's event log).

use duckc_diagnostic::{Style, render};
use salsa::Setter;

use crate::database::{ContextFile, Database};
use crate::*;

/// A build context: (path, content, mode) files; parent directories are added.
fn context(files: &[(&str, &str, u32)]) -> Vec<ContextFile> {
    let mut out: Vec<ContextFile> = Vec::new();
    for (path, content, mode) in files {
        let parts: Vec<&str> = path.split('/').collect();
        for n in 1..parts.len() {
            let dir = parts[..n].join("/");
            if !out.iter().any(|f| f.path == dir) {
                out.push(ContextFile {
                    path: dir,
                    kind: EntryKind::Dir,
                    mode: 0o755,
                    digest: None,
                });
            }
        }
        out.push(ContextFile {
            path: (*path).to_owned(),
            kind: EntryKind::File,
            mode: *mode,
            digest: Some(Digest::of(content.as_bytes())),
        });
    }
    out
}

/// A database holding `spec` as `env.kdl`, the context `files`, and the user `modules` that
/// imports may load.
fn fixture(spec: &str, files: &[(&str, &str, u32)], modules: &[(&str, &str)]) -> Database {
    let mut db = Database::with_log();
    db.load("env.kdl", spec.to_owned(), context(files));
    db.load_imports(|path| {
        modules
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, t)| (*t).to_owned())
    });
    db
}

/// Renders every diagnostic of the workspace as `duckc check` prints them.
fn render_all(db: &Database) -> String {
    let mut out = String::new();
    for f in diagnostics(db) {
        out.push_str(&render(
            &f.diagnostics,
            f.file.path(db),
            f.file.text(db),
            Style::Plain,
        ));
    }
    out
}

/// Checks `spec` (with context `files`) and renders its diagnostics.
fn check(spec: &str, files: &[(&str, &str, u32)]) -> String {
    render_all(&fixture(spec, files, &[]))
}

const APP_FILES: &[(&str, &str, u32)] = &[
    ("src/main.py", "print('quack')\n", 0o644),
    ("src/tool.sh", "#!/bin/sh\necho quack\n", 0o775),
    ("README.txt", "not copied\n", 0o600),
];

const SPEC: &str = r#"// Two envs from one base.
import "std/busybox"

env "base" {
    from "std/scratch:base"
    platform "linux/amd64"
    packages "ca-certificates" "python3"
    env LANG="C.UTF-8"
}

env "app" {
    from "base"
    copy "src/" "/app/" chown="1000:1000"
    workdir "/app"
    run "python3 -m compileall ."
    user "1000:1000"
    entrypoint "python3" "main.py"
    cmd "--help"
    label "org.opencontainers.image.source" "https://example.org/duck"
    expose 8080
    tag "your/duck:v3"
}

env "tools" {
    from "base"
    copy "src/tool.sh" "/usr/local/bin/tool"
    run "tool" "--version" network="host"
}

env "shell" {
    from "static"
}
"#;

#[test]
fn clean_spec_checks_clean() {
    assert_eq!(check(SPEC, APP_FILES), "");
}

#[test]
fn stdlib_modules_are_clean() {
    let mut db = Database::default();
    db.load("env.kdl", String::new(), Vec::new());
    for (name, text) in crate::stdlib::MODULES {
        let parse = duckc_syntax::parse(text);
        assert!(
            parse.diagnostics.is_empty(),
            "{name}: {:#?}",
            parse.diagnostics
        );
    }
    let spec: String =
        crate::stdlib::MODULES
            .iter()
            .flat_map(|(module, text)| {
                duckc_syntax::parse(text).file.items.into_iter().filter_map(
                    move |item| match item {
                        duckc_syntax::ast::Item::Env(e) => Some(format!(
                            "env \"{}-{}\" {{ from \"{module}:{}\" }}\n",
                            &module[4..],
                            e.name.value,
                            e.name.value
                        )),
                        _ => None,
                    },
                )
            })
            .collect();
    assert_eq!(check(&spec, &[]), "", "{spec}");
}

#[test]
fn unknown_from() {
    insta::assert_snapshot!(check(
        r#"import "std/busybox"
env "base" { from "scratch" }
env "a" { from "bsae" }
env "b" { from "std/debain:bookworm" }
env "c" { from "std/busybox:statik" }
env "d" { from "std/busybox" }
env "e" { from "ubuntu" }
env "f" { from "Ubuntu:22.04" }
env "g" { from "oci-layout:/abs/path" }
"#,
        &[]
    ));
}

#[test]
fn valid_from_forms() {
    let pinned = format!("localhost:5000/duck@sha256:{}", "ab".repeat(32));
    let spec = format!(
        r#"env "a" {{ from "scratch" }}
env "b" {{ from "a" }}
env "c" {{ from "std/scratch:base" }}
env "d" {{ from "oci-layout:images/base" }}
env "e" {{ from "your/duck:v3" }}
env "f" {{ from "{pinned}" }}
"#
    );
    let db = fixture(&spec, &[], &[]);
    assert_eq!(render_all(&db), "");
    insta::assert_snapshot!(format::text(layer_graph(&db)));
}

#[test]
fn cycle_shows_the_whole_cycle() {
    insta::assert_snapshot!(check(
        r#"env "a" { from "c" }
env "b" { from "a" }
env "c" { from "b" }
env "d" { from "a" }
env "self" { from "self" }
"#,
        &[]
    ));
}

#[test]
fn duplicate_env() {
    insta::assert_snapshot!(check(
        r#"env "app" { from "scratch" }
env "lib" { from "scratch" }
env "app" { from "lib" }
"#,
        &[]
    ));
}

#[test]
fn unknown_import() {
    insta::assert_snapshot!(check(
        r#"import "std/busybx"
import "./missing.kdl"
env "app" { from "scratch" }
"#,
        &[]
    ));
}

#[test]
fn imports_of_user_files() {
    let db = fixture(
        r#"import "lib/base.kdl"
env "app" { from "base"; run "make" }
"#,
        &[],
        &[
            (
                "lib/base.kdl",
                "import \"./more.kdl\"\nenv \"base\" { from \"more\" }\n",
            ),
            ("lib/more.kdl", "env \"more\" { from \"scratch\" }\n"),
        ],
    );
    assert_eq!(render_all(&db), "");
    insta::assert_snapshot!(format::text(layer_graph(&db)));
}

#[test]
fn ambiguous_import() {
    insta::assert_snapshot!(render_all(&fixture(
        r#"import "./a.kdl"
import "./b.kdl"
env "app" { from "base" }
"#,
        &[],
        &[
            ("a.kdl", "env \"base\" { from \"scratch\" }\n"),
            ("b.kdl", "env \"base\" { from \"scratch\" }\n")
        ],
    )));
}

#[test]
fn missing_copy_source() {
    insta::assert_snapshot!(check(
        r#"env "app" {
    from "scratch"
    copy "src/main.yp" "/app/"
    copy "./src/" "/app/"
    copy "docs" "/docs/"
}
"#,
        APP_FILES
    ));
}

#[test]
fn lowering_of_one_env() {
    let db = fixture(SPEC, APP_FILES, &[]);
    let env = parse(&db, db_root(&db)).envs[1];
    insta::assert_debug_snapshot!(lower_env(&db, env));
}

fn db_root(db: &Database) -> SpecFile {
    Workspace::get(db).root(db)
}

#[test]
fn a_config_step_is_keyed_as_the_image_so_far() {
    let db = fixture(SPEC, APP_FILES, &[]);
    let graph = layer_graph(&db);
    let mut ends_with_config = 0;
    for env in &graph.envs {
        let Some(Step::Image(config)) = graph.node(&env.image).map(|n| &n.step) else {
            panic!("no image node for `{}`", env.name);
        };
        for h in &config.history {
            assert_eq!(h.image.is_some(), h.empty_layer, "{h:?}");
        }
        // The last step's id is the image's own key when that step changes only the config.
        let last = config.history.last().unwrap();
        if last.empty_layer {
            ends_with_config += 1;
            assert_eq!(last.image, Some(env.image), "{}", env.name);
        }
    }
    assert!(ends_with_config > 0);
}

#[test]
fn graph_shares_the_base_between_envs() {
    let db = fixture(SPEC, APP_FILES, &[]);
    let graph = layer_graph(&db);
    let text = format::text(graph);
    // One scratch base and one `packages` node, used by three envs.
    assert_eq!(text.matches("base scratch").count(), 1, "{text}");
    assert_eq!(
        text.matches("packages ca-certificates python3").count(),
        1,
        "{text}"
    );
    insta::assert_snapshot!("graph_text", text);
    insta::assert_snapshot!("graph_dot", format::dot(graph));
    insta::assert_snapshot!("graph_json", format::json(graph));
}

#[test]
fn stored_modes_not_checkout_modes() {
    let with = |mode: u32| {
        let db = fixture(
            SPEC,
            &[
                ("src/main.py", "print('quack')\n", mode),
                ("src/tool.sh", "#!/bin/sh\necho quack\n", 0o775),
            ],
            &[],
        );
        let env = parse(&db, db_root(&db)).envs[1];
        lower_env(&db, env).as_ref().map(|l| l.image())
    };
    // Group/other bits and umask do not matter; only "executable or not" does.
    assert_eq!(with(0o644), with(0o600));
    assert_eq!(with(0o644), with(0o664));
    assert_eq!(with(0o755), with(0o700));
    assert_ne!(with(0o644), with(0o755));
}

#[test]
fn identical_envs_are_one_image() {
    let db = fixture(
        "env \"a\" { from \"scratch\"; run \"make\" }\nenv \"b\" { from \"scratch\"; run \"make\" }\n",
        &[],
        &[],
    );
    let graph = layer_graph(&db);
    assert_eq!(graph.graph.node_count(), 3);
    assert_eq!(graph.envs[0].image, graph.envs[1].image);
}

// Incrementality: which queries run again after an edit, read from salsa's `WillExecute` events.

fn executed(db: &Database) -> Vec<String> {
    let mut log = db.take_log();
    log.sort();
    log
}

fn run_everything(db: &Database) {
    let _ = diagnostics(db);
    let _ = layer_graph(db);
}

/// How the log names `lower_env` of each env of the root file.
fn lower_env_ids(db: &Database) -> Vec<String> {
    let envs = &parse(db, db_root(db)).envs;
    envs.iter()
        .map(|e| format!("lower_env({:?})", salsa::plumbing::AsId::as_id(e)))
        .collect()
}

fn queries(log: &[String], name: &str) -> usize {
    log.iter()
        .filter(|l| l.starts_with(&format!("{name}(")))
        .count()
}

#[test]
fn comment_edit_reruns_only_parse() {
    let mut db = fixture(SPEC, APP_FILES, &[]);
    run_everything(&db);
    let _ = executed(&db);
    let root = db_root(&db);
    let edited = SPEC.replace(
        "// Two envs from one base.",
        "// A comment that\n// moved every span down a line.",
    );
    root.set_text(&mut db).to(edited);
    run_everything(&db);
    let log = executed(&db);
    // `syntax` is the tree (the span side table that rendering reads), put together from the
    // pieces' parses: only the piece the edit touched is parsed again. Nothing else runs again.
    eprintln!("after comment edit: {log:?}");
    assert_eq!(queries(&log, "parse"), 1, "{log:#?}");
    assert_eq!(queries(&log, "parse_piece"), 1, "{log:#?}");
    assert_eq!(
        log.len(),
        queries(&log, "parse") + queries(&log, "syntax") + queries(&log, "parse_piece"),
        "{log:#?}"
    );
}

#[test]
fn edit_in_one_env_relowers_only_what_depends_on_it() {
    let mut db = fixture(SPEC, APP_FILES, &[]);
    run_everything(&db);
    let root = db_root(&db);
    let ids = lower_env_ids(&db);
    let id = |i: usize| ids[i].clone();
    let _ = executed(&db);
    // Edit `app`: only `app` is lowered again (nothing is `from "app"`).
    root.set_text(&mut db)
        .to(SPEC.replace("cmd \"--help\"", "cmd \"--version\""));
    run_everything(&db);
    let log = executed(&db);
    let lowered: Vec<&String> = log.iter().filter(|l| l.starts_with("lower_env(")).collect();
    assert_eq!(lowered, vec![&id(1)], "{log:#?}");
    assert_eq!(queries(&log, "env_base"), 0, "{log:#?}");
    assert_eq!(queries(&log, "ancestry"), 0, "{log:#?}");

    // Edit `base`: `base` and the two envs from it, not `shell`.
    root.set_text(&mut db)
        .to(SPEC.replace("LANG=\"C.UTF-8\"", "LANG=\"C\""));
    run_everything(&db);
    let log = executed(&db);
    let mut lowered: Vec<String> = log
        .iter()
        .filter(|l| l.starts_with("lower_env("))
        .cloned()
        .collect();
    lowered.sort();
    let mut expected = vec![id(0), id(1), id(2)];
    expected.sort();
    assert_eq!(lowered, expected, "{log:#?}");
}

#[test]
fn unused_context_file_change_reruns_nothing() {
    let mut db = fixture(SPEC, APP_FILES, &[]);
    run_everything(&db);
    let _ = executed(&db);
    assert!(db.set_context_file("README.txt", 0o600, Some(Digest::of(b"changed"))));
    run_everything(&db);
    assert_eq!(executed(&db), Vec::<String>::new());

    // A file that a `copy` reads: the envs copying it are lowered again.
    let ids = lower_env_ids(&db);
    assert!(db.set_context_file(
        "src/tool.sh",
        0o775,
        Some(Digest::of(b"#!/bin/sh\necho QUACK\n"))
    ));
    run_everything(&db);
    let log = executed(&db);
    let mut lowered: Vec<String> = log
        .iter()
        .filter(|l| l.starts_with("lower_env("))
        .cloned()
        .collect();
    lowered.sort();
    let mut expected = vec![ids[1].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(lowered, expected, "{log:#?}");
}

#[test]
fn syntax_error_in_an_import_reports_only_itself() {
    let out = render_all(&fixture(
        "import \"./lib.kdl\"\nenv \"app\" { from \"base\" }\n",
        &[],
        &[("lib.kdl", "env \"base\" { from \"scratch\"\n")],
    ));
    assert_eq!(out.matches("duckc::").count(), 1, "{out}");
    assert!(out.contains("duckc::kdl_syntax"), "{out}");
    assert!(out.contains("lib.kdl:1:"), "{out}");
}

/// Checking never lowers: `check` runs `env_lowers`, which says for each env what `lower_env`
/// would (`Some` or `None`) and reports the same mistakes, without a key or the graph.
#[test]
fn checking_agrees_with_lowering_and_never_lowers() {
    let specs = [
        SPEC.to_owned(),
        r#"env "app" {
    from "scratch"
    copy "src/main.yp" "/app/"
    copy "./src/" "/app/"
}
env "on-app" { from "app" }
env "ok" { from "std/scratch:base"; copy "src/tool.sh" "/t" }
env "copies" {
    from "ok"
    copy "/t" "/u" from="ok"
    copy "/x" "/y" from="later"
    copy "/x" "/y" from="app"
}
env "later" { from "scratch" }
env "broken-base" { from "nowhere"; copy "nope" "/n"; copy "/x" "/y" from="later" }
env "a" { from "b" }
env "b" { from "a"; copy "src/" "/s/" }
"#
        .to_owned(),
    ];
    for spec in &specs {
        let db = fixture(spec, APP_FILES, &[]);
        let rendered = render_all(&db);
        let log = executed(&db);
        assert_eq!(queries(&log, "lower_env"), 0, "{log:#?}");
        assert_eq!(queries(&log, "layer_graph"), 0, "{log:#?}");
        assert!(queries(&log, "env_lowers") > 0, "{log:#?}");
        for &env in &parse(&db, db_root(&db)).envs {
            assert_eq!(
                env_lowers(&db, env),
                lower_env(&db, env).is_some(),
                "{}",
                env.name(&db)
            );
        }
        // The clean spec checks clean; the other reports each kind of mistake lowering meets.
        for code in ["missing_copy_source", "unknown_from", "from_cycle"] {
            assert_eq!(rendered.contains(code), spec != SPEC, "{code}: {rendered}");
        }
    }
}

/// Each machine-applicable suggestion of the workspace: the code, the text it replaces and
/// what it puts there.
fn suggestions(db: &Database) -> String {
    let mut out = String::new();
    for f in diagnostics(db) {
        let text = f.file.text(db);
        for d in &f.diagnostics {
            if let Some(s) = d.suggestion() {
                out.push_str(&format!(
                    "{}: {} -> {}\n",
                    d.code,
                    &text[s.span.start..s.span.end],
                    s.replacement
                ));
            }
        }
    }
    out
}

#[test]
fn a_did_you_mean_is_a_machine_applicable_suggestion() {
    let db = fixture(
        r#"import "std/busybx"
import "std/busybox"
env "base" { from "scratch" }
env "a" { from "bsae" }
env "b" { from "std/debain:bookworm" }
env "c" { from "std/busybox:statik" }
env "d" { from "std/busybox" }
env "e" { from "ubuntu" }
env "app" {
    from "base"
    copy "./src/main.yp" "/app/"
    copy "scr/" "/src/"
    copy "docs" "/docs/"
}
"#,
        APP_FILES,
        &[],
    );
    insta::assert_snapshot!(suggestions(&db), @r#"
    duckc::unknown_import: "std/busybx" -> "std/busybox"
    duckc::unknown_from: "bsae" -> "base"
    duckc::unknown_from: "std/debain:bookworm" -> "std/debian:bookworm"
    duckc::unknown_from: "std/busybox:statik" -> "std/busybox:static"
    duckc::unknown_from: "ubuntu" -> "ubuntu:latest"
    duckc::missing_copy_source: "./src/main.yp" -> "./src/main.py"
    duckc::missing_copy_source: "scr/" -> "src/"
    "#);
}
