//! The server's queue of messages, driven in-process: every message is sent before the server
//! starts, so what it finds waiting is known. A `$/cancelRequest` behind its request is
//! answered `RequestCancelled`; a burst of edits is checked once, at its last version.

use lsp_server::{Connection, Message, Notification, Request, RequestId, Response};
use serde_json::{Value, json};

fn request(id: i32, method: &str, params: Value) -> Message {
    Message::Request(Request::new(RequestId::from(id), method.to_owned(), params))
}

fn notification(method: &str, params: Value) -> Message {
    Message::Notification(Notification::new(method.to_owned(), params))
}

/// Serves `messages` (initialization first, `exit` last) and returns what the server sent.
fn serve(messages: Vec<Message>) -> Vec<Message> {
    let (server, client) = Connection::memory();
    let mut all = vec![
        request(1, "initialize", json!({ "capabilities": {} })),
        notification("initialized", json!({})),
    ];
    all.extend(messages);
    all.push(request(99, "shutdown", Value::Null));
    all.push(notification("exit", Value::Null));
    for m in all {
        client.sender.send(m).expect("queue a message");
    }
    let shut_down = duckc_lsp::serve(&server, Default::default());
    assert_eq!(shut_down, Ok(true));
    drop(server);
    client.receiver.try_iter().collect()
}

fn response(out: &[Message], id: i32) -> &Response {
    out.iter()
        .find_map(|m| match m {
            Message::Response(r) if r.id == RequestId::from(id) => Some(r),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no response to request {id}: {out:#?}"))
}

#[test]
fn a_cancelled_request_is_answered_request_cancelled() {
    let dir = tempfile::tempdir().unwrap();
    let uri = duckc_lsp::path_to_uri(&dir.path().join("Dockerfile"))
        .as_str()
        .to_owned();
    let hover =
        json!({ "textDocument": { "uri": uri }, "position": { "line": 0, "character": 1 } });
    let out = serve(vec![
        notification(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "dockerfile", "version": 0,
                                      "text": "FROM busybox\nRUN true\n" } }),
        ),
        request(2, "textDocument/hover", hover.clone()),
        notification("$/cancelRequest", json!({ "id": 2 })),
        // For a request answered already (`initialize`), or never made: nothing happens.
        notification("$/cancelRequest", json!({ "id": 1 })),
        notification("$/cancelRequest", json!({ "id": "nothing" })),
        request(3, "textDocument/hover", hover),
    ]);
    let cancelled = response(&out, 2);
    assert_eq!(
        cancelled.response_result.as_ref().err().map(|e| e.code),
        Some(lsp_server::ErrorCode::RequestCanceled as i32),
        "{cancelled:#?}"
    );
    let answered = response(&out, 3);
    let hover = answered.response_result.as_ref().expect("an answer");
    assert!(hover.to_string().contains("FROM"), "{answered:#?}");
}

#[test]
fn a_burst_of_edits_is_checked_once_at_its_last_version() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("env.kdl");
    let text = "env \"app\" {\n    from \"scratch\"\n    run \"true\"\n}\n";
    std::fs::write(&path, text).unwrap();
    let uri = duckc_lsp::path_to_uri(&path).as_str().to_owned();
    let edit = |version: i32, end: u32, with: &str| {
        notification(
            "textDocument/didChange",
            json!({ "textDocument": { "uri": uri, "version": version },
                    "contentChanges": [{ "range": { "start": { "line": 1, "character": 10 },
                                                    "end": { "line": 1, "character": end } },
                                         "text": with }] }),
        )
    };
    let out = serve(vec![
        notification(
            "textDocument/didOpen",
            json!({ "textDocument": { "uri": uri, "languageId": "kdl", "version": 0,
                                      "text": text } }),
        ),
        edit(1, 17, "scratc"),
        edit(2, 16, "scratch"),
        edit(3, 17, "nowhere"),
    ]);
    let published: Vec<&Value> = out
        .iter()
        .filter_map(|m| match m {
            Message::Notification(n) if n.method == "textDocument/publishDiagnostics" => {
                Some(&n.params)
            }
            _ => None,
        })
        .collect();
    assert_eq!(published.len(), 1, "{published:#?}");
    assert_eq!(published[0]["version"], 3, "{published:#?}");
    let diagnostics = published[0]["diagnostics"].to_string();
    assert!(diagnostics.contains("nowhere"), "{diagnostics}");
}
