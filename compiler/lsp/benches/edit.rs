//! The language server's latency: a 2,000-line spec with 200 envs, opened cold, then 1,000
//! one-character edits, each timed from `didChange` to the `publishDiagnostics` of its version;
//! and the process's resident memory before and after the edits.
//!
//! `cargo bench -p duckc-lsp --bench edit` (or `bench/lsp.sh`) prints the figures as JSON.

use std::time::{Duration, Instant};

use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

/// 200 envs of 10 lines: each `from` the one before, so an edit in the first reaches all.
fn spec() -> String {
    let mut out = String::new();
    for i in 0..200 {
        let from = if i == 0 {
            "scratch".to_owned()
        } else {
            format!("e{}", i - 1)
        };
        out.push_str(&format!(
            "// env {i}\nenv \"e{i}\" {{\n    from \"{from}\"\n    env N{i}=\"{i}\"\n    \
             workdir \"/w{i}\"\n    run \"true\"\n    label \"n\" \"{i}\"\n    cmd \"x\"\n}}\n\n"
        ));
    }
    out
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// Waits for the `publishDiagnostics` of the root with `version`; returns the diagnostics.
fn wait_for(client: &Connection, uri: &str, version: i32) -> Value {
    for msg in &client.receiver {
        if let Message::Notification(n) = msg
            && n.method == "textDocument/publishDiagnostics"
            && n.params["uri"] == uri
            && n.params["version"] == version
        {
            return n.params["diagnostics"].clone();
        }
    }
    panic!("the server closed the connection");
}

fn main() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("env.kdl");
    let text = spec();
    assert_eq!(text.lines().count(), 2000);
    std::fs::write(&path, &text).expect("write the spec");
    let uri = duckc_lsp::path_to_uri(&path).as_str().to_owned();

    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || duckc_lsp::serve(&server, Default::default()));
    let send = |m: Message| client.sender.send(m).expect("send");
    send(Message::Request(Request::new(
        RequestId::from(1),
        "initialize".to_owned(),
        json!({ "capabilities": {} }),
    )));
    let _ = client.receiver.recv();
    send(Message::Notification(Notification::new(
        "initialized".to_owned(),
        json!({}),
    )));

    let start = Instant::now();
    send(Message::Notification(Notification::new(
        "textDocument/didOpen".to_owned(),
        json!({ "textDocument": { "uri": uri, "languageId": "kdl", "version": 0, "text": text } }),
    )));
    assert_eq!(wait_for(&client, &uri, 0), json!([]));
    let cold = start.elapsed();

    // `LSP_BENCH_EDITS` makes fewer (a debug build is slow).
    let edits: usize = std::env::var("LSP_BENCH_EDITS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    // `LSP_BENCH_EDIT=insert`: type a character and delete it again instead, so the text after
    // it moves (every later env's spans shift by one).
    let insert = std::env::var("LSP_BENCH_EDIT").is_ok_and(|v| v == "insert");
    let mut times = Vec::with_capacity(edits);
    let mut rss_after_warmup = 0;
    for v in 1..=edits as i32 {
        // Alternately change the first character of env 100's variable's value (`N100="100"`)
        // and change it back: a change that reaches the keys of env 100 and the 99 envs from it.
        let line = 100 * 10 + 3;
        let change = if insert {
            json!({
                "range": { "start": { "line": line, "character": 14 },
                           "end": { "line": line, "character": if v % 2 == 1 { 14 } else { 15 } } },
                "text": if v % 2 == 1 { "x" } else { "" },
            })
        } else {
            json!({
                "range": { "start": { "line": line, "character": 14 },
                           "end": { "line": line, "character": 15 } },
                "text": if v % 2 == 1 { "x" } else { "1" },
            })
        };
        let t = Instant::now();
        send(Message::Notification(Notification::new(
            "textDocument/didChange".to_owned(),
            json!({ "textDocument": { "uri": uri, "version": v }, "contentChanges": [change] }),
        )));
        let diagnostics = wait_for(&client, &uri, v);
        assert_eq!(diagnostics, json!([]), "edit {v} made a mistake");
        times.push(t.elapsed());
        if v == 100.min(edits as i32) {
            rss_after_warmup = rss_kib();
        }
    }
    let rss_end = rss_kib();
    send(Message::Request(Request::new(
        RequestId::from(2),
        "shutdown".to_owned(),
        Value::Null,
    )));
    send(Message::Notification(Notification::new(
        "exit".to_owned(),
        Value::Null,
    )));
    drop(client);
    let _ = thread.join();
    times.sort();
    println!(
        "{}",
        json!({
            "spec_lines": 2000,
            "envs": 200,
            "cold_open_ms": cold.as_secs_f64() * 1000.0,
            "edits": edits,
            "edit": if insert { "insert and delete" } else { "replace" },
            "did_change_to_publish_ms": {
                "p50": percentile(&times, 0.5),
                "p95": percentile(&times, 0.95),
                "max": percentile(&times, 1.0),
            },
            "rss_kib": { "after_100_edits": rss_after_warmup, "at_the_end": rss_end },
        })
    );
}
