//! `duckc lsp` driven as editors drive it: JSON-RPC over the real binary's stdin/stdout (every
//! feature, results as insta snapshots), bad input of every kind, the incrementality of edits
//! (salsa's execution log through the server), and Neovim's built-in client.

mod common;

use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// A client: the server process, and what it wrote that was not read yet.
struct Client {
    child: Child,
    stdin: Option<ChildStdin>,
    rx: Receiver<Value>,
    /// Messages read while waiting for something else.
    pending: Vec<Value>,
    next_id: i64,
    /// The temporary directory's URI, written `file:///TMP` in snapshots.
    root: String,
}

const TIMEOUT: Duration = Duration::from_secs(60);

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

impl Client {
    fn start(dir: &Path) -> Client {
        Client::start_with(dir, &[])
    }

    /// The server with these environment variables set.
    fn start_with(dir: &Path, env: &[(&str, &OsStr)]) -> Client {
        let mut child = Command::new(common::duckc_bin())
            .arg("lsp")
            .envs(env.iter().copied())
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start duckc lsp");
        let stdout = child.stdout.take().expect("stdout");
        let stdin = child.stdin.take();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            loop {
                let mut len = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some(v) = line.strip_prefix("Content-Length: ") {
                        len = v.parse::<usize>().ok();
                    }
                }
                let mut body = vec![0; len.expect("a Content-Length header")];
                if reader.read_exact(&mut body).is_err() {
                    return;
                }
                let value: Value = serde_json::from_slice(&body).expect("JSON from the server");
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Client {
            child,
            stdin,
            rx,
            pending: Vec::new(),
            next_id: 1,
            root: uri(&dir.canonicalize().unwrap()),
        }
    }

    fn send(&mut self, message: Value) {
        let body = message.to_string();
        let stdin = self.stdin.as_mut().expect("stdin open");
        write!(stdin, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(json!({ "jsonrpc": "2.0", "method": method, "params": params }));
    }

    /// The next message that `pick` accepts, the others kept for later.
    fn wait(&mut self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.pending.iter().position(&pick) {
            return self.pending.remove(i);
        }
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = self.rx.recv_timeout(left).unwrap_or_else(|e| {
                panic!("no {what} from the server ({e}); got {:#?}", self.pending)
            });
            if pick(&msg) {
                return msg;
            }
            self.pending.push(msg);
        }
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send(json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        self.wait(method, |m| m["id"] == id && m.get("method").is_none())
    }

    /// A request's result; fails on an error.
    fn request(&mut self, method: &str, params: Value) -> Value {
        let response = self.call(method, params);
        assert!(response.get("error").is_none(), "{method}: {response:#}");
        self.relative(response["result"].clone())
    }

    /// The diagnostics published for `uri` at `version` (any version: `None`).
    fn diagnostics(&mut self, uri: &str, version: Option<i64>) -> Value {
        let msg = self.wait("publishDiagnostics", |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && version.is_none_or(|v| m["params"]["version"] == v)
        });
        self.relative(msg["params"]["diagnostics"].clone())
    }

    /// `value` with the temporary directory's URI written `file:///TMP`.
    fn relative(&self, value: Value) -> Value {
        serde_json::from_str(&value.to_string().replace(&self.root, "file:///TMP")).unwrap()
    }

    fn initialize(&mut self, options: Value) -> Value {
        let root = self.root.clone();
        let result = self.request(
            "initialize",
            json!({ "processId": null, "rootUri": root, "capabilities": {},
                    "initializationOptions": options }),
        );
        self.notify("initialized", json!({}));
        result
    }

    fn open(&mut self, uri: &str, language: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": language, "version": 0,
                                      "text": text } }),
        );
    }

    fn change(&mut self, uri: &str, version: i64, changes: Value) {
        self.notify(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version },
                    "contentChanges": changes }),
        );
    }

    /// `shutdown`, `exit`, and the exit status.
    fn shutdown(mut self) -> i32 {
        let r = self.call("shutdown", Value::Null);
        assert_eq!(r["result"], Value::Null, "{r:#}");
        self.notify("exit", Value::Null);
        self.exit_status()
    }

    fn exit_status(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "duckc lsp did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn at(line: u32, character: u32) -> Value {
    json!({ "line": line, "character": character })
}

fn range(a: (u32, u32), b: (u32, u32)) -> Value {
    json!({ "start": at(a.0, a.1), "end": at(b.0, b.1) })
}

fn doc_at(uri: &str, line: u32, character: u32) -> Value {
    json!({ "textDocument": { "uri": uri }, "position": at(line, character) })
}

const SPEC: &str = r#"import "./lib.kdl"

// The app, from the library's base.
env "app" {
    form "base"
    run "make"
}
"#;

const LIB: &str = r#"env "base" {
    from "std/scratch:base"
    workdir "/src"
}
"#;

const DOCKERFILE: &str = "FROM busybox AS build\nRUN touch /out\n\nFROM busybox\nCOPY --from=build /out /out\nCMD ls -l\n";

/// A directory with the spec, its import and a Dockerfile.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("env.kdl"), SPEC).unwrap();
    std::fs::write(dir.path().join("lib.kdl"), LIB).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), DOCKERFILE).unwrap();
    dir
}

#[test]
fn a_session_covers_every_feature() {
    let dir = project();
    let mut c = Client::start(dir.path());
    let init = c.initialize(Value::Null);
    insta::assert_json_snapshot!("initialize", init);
    let spec = format!("{}/env.kdl", c.root);
    let lib = format!("{}/lib.kdl", c.root);

    // The typo `form`: an unknown node, with its quick fix.
    c.open(&spec, "kdl", SPEC);
    let opened = c.diagnostics(&spec, Some(0));
    insta::assert_json_snapshot!("spec_opened", opened);
    let actions = c.request(
        "textDocument/codeAction",
        json!({ "textDocument": { "uri": spec }, "range": range((4, 4), (4, 8)),
                "context": { "diagnostics": c.relative(opened.clone())
                    .to_string().replace("file:///TMP", &c.root).parse::<Value>().unwrap() } }),
    );
    insta::assert_json_snapshot!("quick_fix", actions);

    // Edit 1: apply the fix as an editor does (an incremental change).
    c.change(
        &spec,
        1,
        json!([{ "range": range((4, 4), (4, 8)), "text": "from" }]),
    );
    assert_eq!(c.diagnostics(&spec, Some(1)), json!([]));
    // Edit 2: a name that is not in scope, after a duck (two UTF-16 units) on the same line:
    // the range starts at character 18 (4 + `from /* ` + 2 + ` */ `), not at byte 20.
    c.change(
        &spec,
        2,
        json!([{ "range": range((4, 9), (4, 15)), "text": "/* 🦆 */ \"bsae\"" }]),
    );
    let edited = c.diagnostics(&spec, Some(2));
    insta::assert_json_snapshot!("spec_after_edits", edited);
    // Edit 3: back to valid, as a whole-document change.
    c.change(&spec, 3, json!([{ "text": SPEC.replace("form", "from") }]));
    assert_eq!(c.diagnostics(&spec, Some(3)), json!([]));

    let hover_env = c.request("textDocument/hover", doc_at(&spec, 3, 6));
    let hover_from = c.request("textDocument/hover", doc_at(&spec, 4, 11));
    let hover_keyword = c.request("textDocument/hover", doc_at(&spec, 5, 5));
    insta::assert_json_snapshot!("hover", json!([hover_env, hover_from, hover_keyword]));

    let to_base = c.request("textDocument/definition", doc_at(&spec, 4, 11));
    let to_import = c.request("textDocument/definition", doc_at(&spec, 0, 10));
    insta::assert_json_snapshot!("definition", json!([to_base, to_import]));
    assert_eq!(to_base["uri"], "file:///TMP/lib.kdl");

    let in_env = c.request("textDocument/completion", doc_at(&spec, 5, 4));
    let labels = |v: &Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|i| i["label"].as_str().unwrap().to_owned())
            .collect()
    };
    insta::assert_json_snapshot!("completion_steps", labels(&in_env));
    let in_from = c.request("textDocument/completion", doc_at(&spec, 4, 10));
    insta::assert_json_snapshot!("completion_from", labels(&in_from));
    let top = c.request("textDocument/completion", doc_at(&spec, 1, 0));
    assert_eq!(labels(&top), ["env", "import"]);

    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": spec } }),
    );
    insta::assert_json_snapshot!("symbols", symbols);

    // Formatting: the indent fixed, the comment kept.
    c.change(
        &spec,
        4,
        json!([{ "range": range((5, 0), (5, 4)), "text": "\t  " }]),
    );
    let _ = c.diagnostics(&spec, Some(4));
    let formatting = c.request(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": spec },
                "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    insta::assert_json_snapshot!("formatting", formatting);

    // An import edited in the editor: the spec that reads it is checked again.
    c.open(&lib, "kdl", LIB);
    let _ = c.diagnostics(&lib, None);
    c.change(
        &lib,
        1,
        json!([{ "range": range((0, 4), (0, 10)), "text": "\"based\"" }]),
    );
    let after_import_edit = c.diagnostics(&spec, Some(4));
    insta::assert_json_snapshot!("spec_after_import_edit", after_import_edit);

    // The Dockerfile: its lints, stages, definition and hover.
    let dockerfile = format!("{}/Dockerfile", c.root);
    c.open(&dockerfile, "dockerfile", DOCKERFILE);
    insta::assert_json_snapshot!("dockerfile_opened", c.diagnostics(&dockerfile, Some(0)));
    let stage = c.request("textDocument/definition", doc_at(&dockerfile, 4, 14));
    insta::assert_json_snapshot!("dockerfile_definition", stage);
    let hover = c.request("textDocument/hover", doc_at(&dockerfile, 1, 1));
    let hover_stage = c.request("textDocument/hover", doc_at(&dockerfile, 4, 14));
    insta::assert_json_snapshot!("dockerfile_hover", json!([hover, hover_stage]));
    let symbols = c.request(
        "textDocument/documentSymbol",
        json!({ "textDocument": { "uri": dockerfile } }),
    );
    insta::assert_json_snapshot!("dockerfile_symbols", symbols);
    let flags = c.request("textDocument/completion", doc_at(&dockerfile, 4, 6));
    insta::assert_json_snapshot!("dockerfile_completion_flags", labels(&flags));
    let instructions = c.request("textDocument/completion", doc_at(&dockerfile, 2, 0));
    assert!(labels(&instructions).contains(&"HEALTHCHECK".to_owned()));

    assert_eq!(c.shutdown(), 0);
}

/// A comment-only edit runs `parse` again and nothing after it (`syntax` is the tree the
/// diagnostics are located with, `parse_piece` the parse of the one top-level node the edit
/// touched), as the compiler's own incrementality tests say.
#[test]
fn a_comment_edit_reruns_only_parse() {
    let dir = project();
    std::fs::write(dir.path().join("env.kdl"), SPEC.replace("form", "from")).unwrap();
    let mut c = Client::start(dir.path());
    c.initialize(json!({ "queryLog": true }));
    let spec = format!("{}/env.kdl", c.root);
    c.open(&spec, "kdl", &SPEC.replace("form", "from"));
    assert_eq!(c.diagnostics(&spec, Some(0)), json!([]));
    let first = c.request("duckc/executedQueries", Value::Null);
    assert!(
        first
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q.as_str().unwrap().starts_with("env_lowers(")),
        "{first:#}"
    );
    c.change(
        &spec,
        1,
        json!([{ "range": range((2, 0), (2, 0)), "text": "// One more line of comment.\n" }]),
    );
    assert_eq!(c.diagnostics(&spec, Some(1)), json!([]));
    let log = c.request("duckc/executedQueries", Value::Null);
    let log: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_str().unwrap())
        .collect();
    assert_eq!(
        log.iter().filter(|q| q.starts_with("parse(")).count(),
        1,
        "{log:#?}"
    );
    assert!(
        log.iter().all(|q| ["parse(", "syntax(", "parse_piece("]
            .iter()
            .any(|p| q.starts_with(p))),
        "{log:#?}"
    );
    // An edit of an env's step checks its lowering again.
    c.change(
        &spec,
        2,
        json!([{ "range": range((6, 8), (6, 14)), "text": "\"true\"" }]),
    );
    assert_eq!(c.diagnostics(&spec, Some(2)), json!([]));
    let log = c.request("duckc/executedQueries", Value::Null);
    assert!(log.to_string().contains("env_lowers("), "{log:#}");
    assert_eq!(c.shutdown(), 0);
}

/// Files that change on disk, not in the editor: an import the spec reads and a file a `copy`
/// names. `workspace/didChangeWatchedFiles` says which; the spec is checked again.
#[test]
fn files_changed_on_disk_are_read_again() {
    let dir = project();
    let spec_text = format!(
        "{}\nenv \"app-2\" {{\n    from \"base\"\n    copy \"main.py\" \"/app/\"\n}}\n",
        SPEC.replace("form", "from")
    );
    std::fs::write(dir.path().join("env.kdl"), &spec_text).unwrap();
    let mut c = Client::start(dir.path());
    let init = json!({ "workspace": { "didChangeWatchedFiles": { "dynamicRegistration": true } } });
    let root = c.root.clone();
    let _ = c.request(
        "initialize",
        json!({ "processId": null, "rootUri": root, "capabilities": init }),
    );
    c.notify("initialized", json!({}));
    // The server asks to be told about every file.
    let register = c.wait("client/registerCapability", |m| {
        m["method"] == "client/registerCapability"
    });
    let registration = &register["params"]["registrations"][0];
    assert_eq!(registration["method"], "workspace/didChangeWatchedFiles");
    let spec = format!("{}/env.kdl", c.root);
    c.open(&spec, "kdl", &spec_text);
    let missing = c.diagnostics(&spec, Some(0)).to_string();
    assert!(
        missing.contains("copy source `main.py` is not in the build context"),
        "{missing}"
    );

    // The `copy` source appears: the context is listed again and the mistake goes.
    std::fs::write(dir.path().join("main.py"), "print('quack')\n").unwrap();
    let main = format!("{}/main.py", c.root);
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": main, "type": 1 }] }),
    );
    assert_eq!(c.diagnostics(&spec, Some(0)), json!([]));

    // The import (not open in the editor) renames its env: the spec's `from` names nothing.
    std::fs::write(
        dir.path().join("lib.kdl"),
        LIB.replace("\"base\"", "\"based\""),
    )
    .unwrap();
    let lib = format!("{}/lib.kdl", c.root);
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": lib, "type": 2 }] }),
    );
    let renamed = c.diagnostics(&spec, Some(0)).to_string();
    assert!(
        renamed.contains("`from` names nothing called `base`"),
        "{renamed}"
    );
    assert!(renamed.contains("did you mean `based`?"), "{renamed}");

    // And back.
    std::fs::write(dir.path().join("lib.kdl"), LIB).unwrap();
    c.notify(
        "workspace/didChangeWatchedFiles",
        json!({ "changes": [{ "uri": lib, "type": 2 }] }),
    );
    assert_eq!(c.diagnostics(&spec, Some(0)), json!([]));
    assert_eq!(c.shutdown(), 0);
}

/// Whatever a client sends: an LSP error or a diagnostic, never a crash or a hang.
#[test]
fn bad_input_gets_errors_and_diagnostics_never_a_crash() {
    let dir = project();
    let mut c = Client::start(dir.path());
    // A request before `initialize`.
    let early = c.call("textDocument/hover", doc_at("file:///nowhere.kdl", 0, 0));
    assert_eq!(early["error"]["code"], -32002, "{early:#}");
    c.initialize(Value::Null);
    let spec = format!("{}/env.kdl", c.root);

    // Requests about a document that is not open.
    let unopened = c.call(
        "textDocument/hover",
        doc_at(&format!("{}/other.kdl", c.root), 0, 0),
    );
    insta::assert_json_snapshot!("unopened", c.relative(unopened["error"].clone()));
    // Parameters of the wrong shape, and a method nobody knows.
    let bad = c.call("textDocument/hover", json!({ "textDocument": 7 }));
    assert_eq!(bad["error"]["code"], -32602, "{bad:#}");
    let unknown = c.call("duckc/nothing", Value::Null);
    assert_eq!(unknown["error"]["code"], -32601, "{unknown:#}");

    // Text that is not a spec at all: control characters, a lone high surrogate's
    // replacement, a NUL.
    c.open(
        &spec,
        "kdl",
        "\u{0}\u{1b}[31m \u{fffd}\u{feff}env \"a\" {{{{ \"\n",
    );
    let garbage = c.diagnostics(&spec, Some(0));
    assert!(!garbage.as_array().unwrap().is_empty(), "{garbage:#}");
    // Ranges past the end, reversed, and in the middle of a surrogate pair.
    c.change(
        &spec,
        1,
        json!([{ "text": "env \"🦆\" {\n    from \"scratch\"\n}\n" }]),
    );
    let _ = c.diagnostics(&spec, Some(1));
    c.change(
        &spec,
        2,
        json!([
            { "range": range((0, 6), (0, 6)), "text": "x" },
            { "range": range((99, 99), (0, 2)), "text": "" },
            { "range": { "start": at(u32::MAX, u32::MAX), "end": at(u32::MAX, 0) }, "text": "z" },
        ]),
    );
    let _ = c.diagnostics(&spec, Some(2));
    for (line, character) in [(0, 6), (0, 5), (9999, 0), (u32::MAX, u32::MAX)] {
        for method in [
            "textDocument/hover",
            "textDocument/definition",
            "textDocument/completion",
        ] {
            let r = c.call(method, doc_at(&spec, line, character));
            assert!(
                r.get("result").is_some(),
                "{method} at {line}:{character}: {r:#}"
            );
        }
    }
    // Formatting a spec that is not KDL: an error that says what to do.
    c.change(&spec, 3, json!([{ "text": "env \"a\" {" }]));
    let _ = c.diagnostics(&spec, Some(3));
    let formatting = c.call(
        "textDocument/formatting",
        json!({ "textDocument": { "uri": spec }, "options": { "tabSize": 4, "insertSpaces": true } }),
    );
    insta::assert_json_snapshot!("formatting_broken", formatting["error"]);

    // A deeply nested spec: the nesting diagnostic, not a stack overflow.
    let deep = format!("env \"a\" {}\n", "{ x ".repeat(100_000));
    c.change(&spec, 4, json!([{ "text": deep }]));
    let nested = c.diagnostics(&spec, Some(4));
    assert!(
        nested.to_string().contains("duckc::nesting_too_deep"),
        "{nested:#}"
    );

    // A Dockerfile of garbage.
    let dockerfile = format!("{}/Dockerfile", c.root);
    c.open(
        &dockerfile,
        "dockerfile",
        "FROM\n\\\n<<EOF\nRUN --mount=type=\u{0}\n",
    );
    let garbage = c.diagnostics(&dockerfile, Some(0));
    assert!(!garbage.as_array().unwrap().is_empty(), "{garbage:#}");

    // `exit` without `shutdown`: exit status 1, as LSP says.
    c.notify("exit", Value::Null);
    assert_eq!(c.exit_status(), 1);
}

/// Closing stdin without a word: the server ends (status 1) instead of hanging.
const PACKAGES_SPEC: &str = r#"env "app" {
    from "scratch"
    packages "gawk" "duck-tool"
}
"#;

/// Package names come from the apt index that `duckc lock` left in the store: none before it
/// (the server downloads nothing), the repository's after it, by prefix, with their versions.
#[test]
fn package_names_come_from_the_cached_index() {
    let dir = tempfile::tempdir().unwrap();
    let store = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("env.kdl"), PACKAGES_SPEC).unwrap();
    let line = common::apt::repo().line();
    let env = [
        ("DUCKC_STORE", store.path().as_os_str()),
        ("DUCKC_APT_REPOSITORY", OsStr::new(&line)),
    ];
    let session = |c: &mut Client| -> (Value, Value) {
        c.initialize(Value::Null);
        let spec = format!("{}/env.kdl", c.root);
        c.open(&spec, "kdl", PACKAGES_SPEC);
        // After `"duck`, and right after the opening quote of `"gawk"`.
        let duck = c.request("textDocument/completion", doc_at(&spec, 2, 25));
        let all = c.request("textDocument/completion", doc_at(&spec, 2, 14));
        (duck, all)
    };

    // An empty store: no names, no error, and nothing written into the store.
    let mut c = Client::start_with(dir.path(), &env);
    let (duck, all) = session(&mut c);
    assert_eq!(duck, json!({ "isIncomplete": false, "items": [] }));
    assert_eq!(all, json!({ "isIncomplete": false, "items": [] }));
    assert_eq!(c.shutdown(), 0);
    let downloads = store.path().join("downloads");
    assert!(
        std::fs::read_dir(&downloads).map_or(true, |mut d| d.next().is_none()),
        "the language server wrote into {}",
        downloads.display()
    );

    // `duckc lock` fetches the index; the server then completes from it.
    let out = common::output(
        common::duckc(store.path())
            .current_dir(dir.path())
            .arg("lock")
            .env("DUCKC_APT_REPOSITORY", &line),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = Client::start_with(dir.path(), &env);
    let (duck, all) = session(&mut c);
    // One item in full (label, version, the typed prefix replaced), the others by name.
    let items = duck["items"].as_array().unwrap();
    let named: Vec<String> = items
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["label"].as_str().unwrap(),
                i["detail"].as_str().unwrap()
            )
        })
        .collect();
    insta::assert_json_snapshot!(
        "completion_packages",
        json!({ "isIncomplete": duck["isIncomplete"], "first": items[0], "items": named })
    );
    let labels: Vec<&str> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["label"].as_str().unwrap())
        .collect();
    let mut expected: Vec<&str> = common::apt::PACKAGES.iter().map(|p| p.name).collect();
    expected.sort();
    expected.dedup();
    assert_eq!(labels, expected);
    assert_eq!(c.shutdown(), 0);
}

#[test]
fn a_client_that_goes_away_ends_the_server() {
    let dir = project();
    let mut c = Client::start(dir.path());
    c.initialize(Value::Null);
    assert_eq!(c.exit_status(), 1);
}

/// Neovim's built-in LSP client opens a spec with a mistake and a Dockerfile with lints,
/// attaches `duckc lsp`, and writes down the diagnostics it received.
#[test]
fn neovim_shows_the_diagnostics_of_both_files() {
    if !common::require_tool("nvim") {
        return;
    }
    let dir = project();
    let out = dir.path().join("diagnostics.txt");
    let script = dir.path().join("check.lua");
    std::fs::write(&script, NEOVIM_SCRIPT).unwrap();
    let status = Command::new("nvim")
        .args(["--headless", "--clean", "-n", "-c"])
        .arg(format!("luafile {}", script.display()))
        .current_dir(dir.path())
        .env("DUCKC", common::duckc_bin())
        .env("SPEC", dir.path().join("env.kdl"))
        .env("DOCKERFILE", dir.path().join("Dockerfile"))
        .env("OUT", &out)
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_DATA_HOME", dir.path().join("data"))
        .env("XDG_CONFIG_HOME", dir.path().join("config"))
        .stdin(Stdio::null())
        .status()
        .expect("run nvim");
    assert!(status.success(), "nvim: {status}");
    let got = std::fs::read_to_string(&out).expect("the diagnostics Neovim wrote");
    insta::assert_snapshot!("neovim", got);
}

const NEOVIM_SCRIPT: &str = r#"
local out = {}
local function check(file)
  vim.cmd("edit " .. vim.fn.fnameescape(file))
  local buf = vim.api.nvim_get_current_buf()
  local client = vim.lsp.start_client({
    name = "duckc",
    cmd = { os.getenv("DUCKC"), "lsp" },
    root_dir = vim.fn.fnamemodify(file, ":h"),
  })
  vim.lsp.buf_attach_client(buf, client)
  local ok = vim.wait(30000, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  if not ok then
    table.insert(out, vim.fn.fnamemodify(file, ":t") .. ": no diagnostics")
  end
  local diags = vim.diagnostic.get(buf)
  table.sort(diags, function(a, b) return a.lnum * 1000 + a.col < b.lnum * 1000 + b.col end)
  for _, d in ipairs(diags) do
    local first = (d.message:gsub("\n.*", ""))
    table.insert(out, string.format("%s:%d:%d: %s: %s", vim.fn.fnamemodify(file, ":t"),
      d.lnum + 1, d.col + 1, vim.diagnostic.severity[d.severity], first))
  end
  vim.lsp.stop_client(client)
end
check(os.getenv("SPEC"))
check(os.getenv("DOCKERFILE"))
vim.fn.writefile(out, os.getenv("OUT"))
vim.cmd("qa!")
"#;

/// A workspace opened in an editor is not trusted: an import that is a FIFO (or a device) is
/// no spec, reported as an unknown import, and never read (a read would block the server
/// forever); the `run` steps of an opened spec are never run.
#[test]
fn an_import_that_is_a_fifo_does_not_hang_the_server() {
    let dir = project();
    let fifo = dir.path().join("pipe.kdl");
    let status = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(status.success());
    let marker = dir.path().join("ran");
    let text = format!(
        "import \"./pipe.kdl\"\nimport \"./lib.kdl\"\nenv \"a\" {{\n    from \"base\"\n    run \"touch {}\"\n}}\n",
        marker.display()
    );
    let mut c = Client::start(dir.path());
    c.initialize(Value::Null);
    let spec = format!("{}/env.kdl", c.root);
    c.open(&spec, "kdl", &text);
    let diagnostics = c.diagnostics(&spec, Some(0));
    let codes: Vec<&str> = diagnostics
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["duckc::unknown_import"], "{diagnostics:#}");
    assert!(!marker.exists());
    assert_eq!(c.shutdown(), 0);
}
