//! Fuzzes the language server's request loop: arbitrary edits (ranges anywhere, surrogate
//! halves, past the end, reversed) and requests at arbitrary positions, in one session over an
//! in-memory connection. Every request must get a response, and the session must end cleanly.
//! Run with `cargo fuzz run lsp_session` in `fuzz/`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lsp_server::{Connection, Message, Notification, Request, RequestId};
use serde_json::{Value, json};

const URIS: [&str; 2] = ["file:///fuzz/env.kdl", "file:///fuzz/Dockerfile"];
const METHODS: [&str; 6] = [
    "textDocument/hover",
    "textDocument/definition",
    "textDocument/completion",
    "textDocument/documentSymbol",
    "textDocument/formatting",
    "textDocument/codeAction",
];

fuzz_target!(|data: &[u8]| {
    let (server, client) = Connection::memory();
    let thread = std::thread::spawn(move || duckc_lsp::serve(&server, Default::default()));
    let send = |m: Message| client.sender.send(m).unwrap();
    let request = |id: i32, method: &str, params: Value| {
        send(Message::Request(Request::new(RequestId::from(id), method.to_owned(), params)))
    };
    let notify = |method: &str, params: Value| {
        send(Message::Notification(Notification::new(method.to_owned(), params)))
    };
    request(0, "initialize", json!({ "capabilities": {} }));
    notify("initialized", json!({}));
    for uri in URIS {
        notify(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "", "version": 0,
                                      "text": "env \"a\" {\n    from \"scratch\"\n}\n" } }),
        );
    }
    let mut requests = 1;
    let mut version = 1;
    for op in data.chunks(8) {
        let [kind, doc, l1, c1, l2, c2, len, ..] = *op else { break };
        let uri = URIS[usize::from(doc) % 2];
        let pos = |l: u8, c: u8| json!({ "line": l % 16, "character": c });
        if kind % 4 == 0 {
            requests += 1;
            let method = METHODS[usize::from(kind / 4) % METHODS.len()];
            request(
                requests,
                method,
                json!({ "textDocument": { "uri": uri }, "position": pos(l1, c1),
                        "range": { "start": pos(l1, c1), "end": pos(l2, c2) },
                        "options": { "tabSize": 4, "insertSpaces": true },
                        "context": { "diagnostics": [] } }),
            );
        } else {
            // The inserted text: the next bytes of the input, as lossy UTF-8.
            let text = String::from_utf8_lossy(&data[..usize::from(len).min(data.len())]);
            version += 1;
            notify(
                "textDocument/didChange",
                json!({ "textDocument": { "uri": uri, "version": version },
                        "contentChanges": [{ "range": { "start": pos(l1, c1), "end": pos(l2, c2) },
                                             "text": text }] }),
            );
        }
    }
    request(-1, "shutdown", Value::Null);
    let mut answered = 0;
    for msg in &client.receiver {
        if let Message::Response(r) = msg {
            answered += 1;
            if r.id == RequestId::from(-1) {
                break;
            }
        }
    }
    assert_eq!(answered, requests + 1, "every request is answered");
    notify("exit", Value::Null);
    assert_eq!(thread.join().unwrap(), Ok(true));
});
