//! The request loop: open documents, one salsa database per open spec, diagnostics on a worker
//! thread, requests answered from the database.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use crossbeam_channel::Sender;
use duckc_ir::{Database, SpecFile, Workspace};
use lsp_server::{Connection, ErrorCode, Message, Notification, Request, RequestId, Response};
use lsp_types::notification::Notification as _;
use lsp_types::request::Request as _;
use lsp_types::{
    PublishDiagnosticsParams, ServerCapabilities, TextDocumentSyncCapability, TextDocumentSyncKind,
    TextDocumentSyncOptions, Uri, notification as n, request as r,
};
use serde_json::Value;

use crate::packages::PackageNames;
use crate::text::{Document, LineIndex};
use crate::{convert, dockerfile, spec, uri_to_path};

/// How the server runs (tests set these; `duckc lsp` runs with the defaults).
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Record every salsa query execution, for `duckc/executedQueries` (the incrementality
    /// tests). Also switched on by `initializationOptions: {"queryLog": true}`.
    pub query_log: bool,
    /// The store's download cache (`STORE/downloads`), whose cached apt index completes
    /// package names; `None` completes none. Only read, never written.
    pub downloads: Option<PathBuf>,
}

/// The language of an open document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lang {
    Kdl,
    Dockerfile,
}

/// An open document.
pub(crate) struct Open {
    pub uri: Uri,
    pub path: PathBuf,
    pub lang: Lang,
    pub doc: Document,
}

/// An open spec: its database (the root and the imports it reads), kept between edits.
pub(crate) struct Spec {
    pub db: Database,
    /// The spec's directory (imports are relative to it).
    pub dir: PathBuf,
    /// The build context directory.
    pub context: PathBuf,
    /// What the `copy` steps read, when the context was last listed.
    pub sources: Vec<String>,
}

pub(crate) struct Server {
    sender: Sender<Message>,
    pub docs: HashMap<String, Open>,
    /// Open specs by the URI of their root.
    pub specs: HashMap<String, Spec>,
    query_log: bool,
    workers: Vec<JoinHandle<()>>,
    /// Specs whose inputs changed since their diagnostics were last computed (see `flush`).
    dirty: BTreeSet<String>,
    /// The stdlib modules written out read-only, for go-to-definition (made on first use).
    pub stdlib_dir: Option<tempfile::TempDir>,
    /// Package names from the cached apt index, for completion.
    pub package_names: RefCell<PackageNames>,
}

/// An error answered to a request.
pub(crate) struct Failure {
    code: ErrorCode,
    message: String,
}

impl Failure {
    pub fn invalid(message: impl Into<String>) -> Self {
        Failure {
            code: ErrorCode::InvalidParams,
            message: message.into(),
        }
    }
}

type Answer = Result<Value, Failure>;

/// Serves `connection` until `exit`. Returns whether `shutdown` came first (LSP's exit code 0),
/// or an error when the client broke the protocol during initialization.
pub fn serve(connection: &Connection, options: Options) -> Result<bool, String> {
    let capabilities = ServerCapabilities {
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..Default::default()
            },
        )),
        hover_provider: Some(lsp_types::HoverProviderCapability::Simple(true)),
        definition_provider: Some(lsp_types::OneOf::Left(true)),
        document_symbol_provider: Some(lsp_types::OneOf::Left(true)),
        document_formatting_provider: Some(lsp_types::OneOf::Left(true)),
        completion_provider: Some(lsp_types::CompletionOptions {
            trigger_characters: Some(vec!["\"".into(), "-".into(), "=".into()]),
            ..Default::default()
        }),
        code_action_provider: Some(lsp_types::CodeActionProviderCapability::Simple(true)),
        ..Default::default()
    };
    let init = serde_json::json!({
        "capabilities": capabilities,
        "serverInfo": { "name": "duckc", "version": env!("CARGO_PKG_VERSION") },
    });
    let (id, params) = connection.initialize_start().map_err(|e| e.to_string())?;
    let params: lsp_types::InitializeParams = serde_json::from_value(params).unwrap_or_default();
    connection
        .initialize_finish(id, init)
        .map_err(|e| e.to_string())?;
    let query_log = options.query_log
        || params
            .initialization_options
            .as_ref()
            .and_then(|o| o.get("queryLog"))
            .and_then(Value::as_bool)
            .unwrap_or(false);
    let watch = params
        .capabilities
        .workspace
        .as_ref()
        .and_then(|w| w.did_change_watched_files.as_ref())
        .and_then(|d| d.dynamic_registration)
        .unwrap_or(false);
    let mut server = Server {
        sender: connection.sender.clone(),
        docs: HashMap::new(),
        specs: HashMap::new(),
        query_log,
        workers: Vec::new(),
        dirty: BTreeSet::new(),
        stdlib_dir: None,
        package_names: RefCell::new(PackageNames::new(options.downloads.clone())),
    };
    if watch {
        server.register_watchers();
    }
    let mut shut_down = false;
    // Messages received and not handled yet. Whatever has arrived is taken in before one is
    // handled, so a `$/cancelRequest` behind its request cancels it, and a burst of edits is
    // checked once, after the last (`flush`).
    let mut queue: VecDeque<Message> = VecDeque::new();
    loop {
        queue.extend(connection.receiver.try_iter());
        let msg = match queue.pop_front() {
            Some(msg) => msg,
            None => match connection.receiver.recv() {
                Ok(msg) => msg,
                Err(_) => break,
            },
        };
        queue.extend(connection.receiver.try_iter());
        match msg {
            Message::Request(req) => {
                if req.method == r::Shutdown::METHOD {
                    shut_down = true;
                    server.respond(Response::new_ok(req.id, Value::Null));
                    continue;
                }
                if shut_down {
                    server.respond(Response::new_err(
                        req.id,
                        ErrorCode::InvalidRequest as i32,
                        "the server is shutting down".to_owned(),
                    ));
                    continue;
                }
                if take_cancel(&mut queue, &req.id) {
                    server.respond(Response::new_err(
                        req.id,
                        ErrorCode::RequestCanceled as i32,
                        "the client cancelled this request".to_owned(),
                    ));
                    continue;
                }
                // A request sees every edit before it, imports loaded.
                server.flush();
                let id = req.id.clone();
                let answer = std::panic::catch_unwind(AssertUnwindSafe(|| server.request(req)))
                    .unwrap_or_else(|_| {
                        Err(Failure {
                            code: ErrorCode::InternalError,
                            message: "duckc lsp failed on this request (a bug: please report \
                                      it with the document)"
                                .to_owned(),
                        })
                    });
                server.answer(id, answer);
            }
            Message::Notification(not) => {
                if not.method == n::Exit::METHOD {
                    break;
                }
                // A `$/cancelRequest` met here is for a request answered already: nothing to do.
                let _ = std::panic::catch_unwind(AssertUnwindSafe(|| server.notification(not)));
            }
            Message::Response(_) => {}
        }
        queue.extend(connection.receiver.try_iter());
        let edit_next = matches!(queue.front(), Some(Message::Notification(not))
            if not.method == n::DidChangeTextDocument::METHOD);
        if !edit_next {
            server.flush();
        }
        server.reap();
    }
    // Workers hold database clones and a sender; let them finish.
    server.specs.clear();
    for w in server.workers.drain(..) {
        let _ = w.join();
    }
    Ok(shut_down)
}

impl Server {
    fn respond(&self, response: Response) {
        let _ = self.sender.send(Message::Response(response));
    }

    fn answer(&self, id: RequestId, answer: Answer) {
        self.respond(match answer {
            Ok(v) => Response::new_ok(id, v),
            Err(f) => Response::new_err(id, f.code as i32, f.message),
        });
    }

    fn notify<N: lsp_types::notification::Notification>(&self, params: N::Params) {
        let _ = self.sender.send(Message::Notification(Notification::new(
            N::METHOD.to_owned(),
            params,
        )));
    }

    /// Joins the workers that are done.
    fn reap(&mut self) {
        let (done, running): (Vec<_>, Vec<_>) =
            self.workers.drain(..).partition(|w| w.is_finished());
        self.workers = running;
        for w in done {
            let _ = w.join();
        }
    }

    /// Asks the client to tell about changes on disk: imports and build-context files.
    fn register_watchers(&self) {
        let options = lsp_types::DidChangeWatchedFilesRegistrationOptions {
            watchers: vec![lsp_types::FileSystemWatcher {
                glob_pattern: lsp_types::GlobPattern::String("**/*".to_owned()),
                kind: None,
            }],
        };
        let params = lsp_types::RegistrationParams {
            registrations: vec![lsp_types::Registration {
                id: "duckc-watch".to_owned(),
                method: n::DidChangeWatchedFiles::METHOD.to_owned(),
                register_options: serde_json::to_value(options).ok(),
            }],
        };
        let _ = self.sender.send(Message::Request(Request::new(
            RequestId::from("duckc-watch".to_owned()),
            r::RegisterCapability::METHOD.to_owned(),
            params,
        )));
    }

    fn notification(&mut self, not: Notification) {
        match not.method.as_str() {
            n::DidOpenTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidOpenTextDocumentParams>(not.params)
                else {
                    return;
                };
                let doc = p.text_document;
                let Some(path) = uri_to_path(&doc.uri) else {
                    return;
                };
                let lang = if duckc_driver::is_dockerfile(&path)
                    || doc.language_id.eq_ignore_ascii_case("dockerfile")
                {
                    Lang::Dockerfile
                } else if path.extension().is_some_and(|e| e == "kdl") {
                    Lang::Kdl
                } else {
                    return;
                };
                let key = doc.uri.as_str().to_owned();
                self.docs.insert(
                    key.clone(),
                    Open {
                        uri: doc.uri,
                        path,
                        lang,
                        doc: Document::new(doc.text, doc.version),
                    },
                );
                match lang {
                    Lang::Dockerfile => self.publish_dockerfile(&key),
                    Lang::Kdl => {
                        if let Some(open) = self.docs.get(&key) {
                            spec::prefetch_package_names(self, &open.doc.text);
                        }
                        self.open_spec(&key);
                        self.changed_spec_text(&key);
                    }
                }
            }
            n::DidChangeTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeTextDocumentParams>(not.params)
                else {
                    return;
                };
                let key = p.text_document.uri.as_str().to_owned();
                let Some(open) = self.docs.get_mut(&key) else {
                    return;
                };
                for change in &p.content_changes {
                    open.doc.apply(change.range, &change.text);
                }
                open.doc.version = p.text_document.version;
                match open.lang {
                    Lang::Dockerfile => self.publish_dockerfile(&key),
                    Lang::Kdl => self.changed_spec_text(&key),
                }
            }
            n::DidCloseTextDocument::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidCloseTextDocumentParams>(not.params)
                else {
                    return;
                };
                let key = p.text_document.uri.as_str().to_owned();
                if self.docs.remove(&key).is_some() {
                    self.specs.remove(&key);
                    self.notify::<n::PublishDiagnostics>(PublishDiagnosticsParams {
                        uri: p.text_document.uri,
                        diagnostics: Vec::new(),
                        version: None,
                    });
                }
            }
            n::DidChangeWatchedFiles::METHOD => {
                let Ok(p) =
                    serde_json::from_value::<lsp_types::DidChangeWatchedFilesParams>(not.params)
                else {
                    return;
                };
                let paths: Vec<PathBuf> = p
                    .changes
                    .iter()
                    .filter_map(|c| uri_to_path(&c.uri))
                    .collect();
                self.changed_on_disk(&paths);
            }
            _ => {}
        }
    }

    fn request(&mut self, req: Request) -> Answer {
        fn params<P: serde::de::DeserializeOwned>(v: Value) -> Result<P, Failure> {
            serde_json::from_value(v).map_err(|e| Failure::invalid(format!("bad parameters: {e}")))
        }
        let json = |v: Result<Option<Value>, Failure>| v.map(|v| v.unwrap_or(Value::Null));
        match req.method.as_str() {
            r::HoverRequest::METHOD => {
                let p: lsp_types::HoverParams = params(req.params)?;
                let tdp = p.text_document_position_params;
                let open = self.open(&tdp.text_document.uri)?;
                let offset = open.doc.offset(tdp.position);
                json(Ok(match open.lang {
                    Lang::Kdl => spec::hover(self, open, offset),
                    Lang::Dockerfile => dockerfile::hover(open, offset),
                }
                .and_then(|h| serde_json::to_value(h).ok())))
            }
            r::GotoDefinition::METHOD => {
                let p: lsp_types::GotoDefinitionParams = params(req.params)?;
                let tdp = p.text_document_position_params;
                let key = tdp.text_document.uri.as_str().to_owned();
                let open = self.open(&tdp.text_document.uri)?;
                let offset = open.doc.offset(tdp.position);
                let found = match open.lang {
                    Lang::Kdl => spec::definition(self, &key, offset),
                    Lang::Dockerfile => dockerfile::definition(open, offset),
                };
                json(Ok(found.and_then(|l| serde_json::to_value(l).ok())))
            }
            r::DocumentSymbolRequest::METHOD => {
                let p: lsp_types::DocumentSymbolParams = params(req.params)?;
                let open = self.open(&p.text_document.uri)?;
                let symbols = match open.lang {
                    Lang::Kdl => spec::symbols(open),
                    Lang::Dockerfile => dockerfile::symbols(open),
                };
                serde_json::to_value(symbols).map_err(|e| Failure::invalid(e.to_string()))
            }
            r::Formatting::METHOD => {
                let p: lsp_types::DocumentFormattingParams = params(req.params)?;
                let open = self.open(&p.text_document.uri)?;
                if open.lang != Lang::Kdl {
                    return Ok(Value::Null);
                }
                let formatted =
                    crate::format::format_spec(&open.doc.text).map_err(|e| Failure {
                        code: ErrorCode::RequestFailed,
                        message: e,
                    })?;
                if formatted == open.doc.text {
                    return Ok(serde_json::json!([]));
                }
                let edit =
                    lsp_types::TextEdit::new(open.doc.range(0, open.doc.text.len()), formatted);
                serde_json::to_value(vec![edit]).map_err(|e| Failure::invalid(e.to_string()))
            }
            r::Completion::METHOD => {
                let p: lsp_types::CompletionParams = params(req.params)?;
                let tdp = p.text_document_position;
                let key = tdp.text_document.uri.as_str().to_owned();
                let open = self.open(&tdp.text_document.uri)?;
                let offset = open.doc.offset(tdp.position);
                let response = match open.lang {
                    Lang::Kdl => spec::completion(self, &key, offset),
                    Lang::Dockerfile => {
                        lsp_types::CompletionResponse::Array(dockerfile::completion(open, offset))
                    }
                };
                serde_json::to_value(response).map_err(|e| Failure::invalid(e.to_string()))
            }
            r::CodeActionRequest::METHOD => {
                let p: lsp_types::CodeActionParams = params(req.params)?;
                let open = self.open(&p.text_document.uri)?;
                let actions: Vec<lsp_types::CodeActionOrCommand> = p
                    .context
                    .diagnostics
                    .iter()
                    .filter(|d| d.range.start <= p.range.end && p.range.start <= d.range.end)
                    .filter_map(|d| {
                        convert::quick_fix(d, &open.uri, &open.doc.text, &open.doc.index)
                    })
                    .map(lsp_types::CodeActionOrCommand::CodeAction)
                    .collect();
                serde_json::to_value(actions).map_err(|e| Failure::invalid(e.to_string()))
            }
            "duckc/executedQueries" => {
                // The salsa queries executed since the last call, over every open spec.
                let mut log: Vec<String> =
                    self.specs.values().flat_map(|s| s.db.take_log()).collect();
                log.sort();
                Ok(serde_json::json!(log))
            }
            other => Err(Failure {
                code: ErrorCode::MethodNotFound,
                message: format!("duckc lsp does not handle `{other}`"),
            }),
        }
    }

    /// The open document at `uri`, or the error a request about another one gets.
    fn open(&self, uri: &Uri) -> Result<&Open, Failure> {
        self.docs.get(uri.as_str()).ok_or_else(|| {
            Failure::invalid(format!(
                "`{}` is not open: send `textDocument/didOpen` first",
                uri.as_str()
            ))
        })
    }

    /// Checks a Dockerfile as `duckc check` does (every lint) and publishes the diagnostics.
    fn publish_dockerfile(&self, key: &str) {
        let Some(open) = self.docs.get(key) else {
            return;
        };
        let checked =
            duckc_driver::dockerfile::check(&open.path.display().to_string(), &open.doc.text, true);
        let diagnostics = checked
            .items()
            .iter()
            .map(|d| convert::diagnostic(d, &open.uri, &open.doc.text, &open.doc.index))
            .collect();
        self.notify::<n::PublishDiagnostics>(PublishDiagnosticsParams {
            uri: open.uri.clone(),
            diagnostics,
            version: Some(open.doc.version),
        });
    }

    /// Loads the spec at `key` (open, not yet loaded) through the driver, into a database kept
    /// for its edits.
    fn open_spec(&mut self, key: &str) {
        let Some(open) = self.docs.get(key) else {
            return;
        };
        let db = if self.query_log {
            Database::with_log()
        } else {
            Database::default()
        };
        let options = duckc_driver::Options {
            file: open.path.clone(),
            ..Default::default()
        };
        let load = duckc_driver::load_spec_text(&options, open.doc.text.clone(), db);
        match load.result {
            Ok(duckc_driver::Loaded {
                frontend: duckc_driver::Frontend::Kdl(db),
                spec,
                context,
                ..
            }) => {
                let sources = duckc_ir::copy_sources(&db).clone();
                let dir = spec
                    .parent()
                    .map(Path::to_owned)
                    .unwrap_or_else(|| PathBuf::from("/"));
                self.specs.insert(
                    key.to_owned(),
                    Spec {
                        db,
                        dir,
                        context,
                        sources,
                    },
                );
            }
            Ok(_) => {}
            Err(e) => {
                let d = convert::load_error(&e);
                self.notify::<n::PublishDiagnostics>(PublishDiagnosticsParams {
                    uri: open.uri.clone(),
                    diagnostics: vec![d],
                    version: Some(open.doc.version),
                });
            }
        }
    }

    /// The text of spec document `key` changed (or it was opened): set it in every database
    /// that reads it, load imports it now names, and publish again.
    fn changed_spec_text(&mut self, key: &str) {
        let Some(open) = self.docs.get(key) else {
            return;
        };
        let path = open.path.clone();
        let text = open.doc.text.clone();
        let roots: Vec<String> = self.specs.keys().cloned().collect();
        for root in roots {
            let Some(spec) = self.specs.get_mut(&root) else {
                continue;
            };
            let Some(file) = file_at(&spec.db, &spec.dir, &path, root == key) else {
                continue;
            };
            // Setting an input waits for (cancels) the worker that holds a clone of this
            // database. An unchanged file (an import opened in the editor) changes nothing.
            let changed = file.text(&spec.db) != &text;
            if changed {
                use salsa::Setter;
                file.set_text(&mut spec.db).to(text.clone());
            }
            if changed || root == key {
                self.dirty.insert(root);
            }
        }
    }

    /// Files changed on disk: imports not open in the editor are read again, and a spec whose
    /// build context holds a changed file lists its context again.
    fn changed_on_disk(&mut self, paths: &[PathBuf]) {
        let roots: Vec<String> = self.specs.keys().cloned().collect();
        for root in roots {
            let Some(spec) = self.specs.get_mut(&root) else {
                continue;
            };
            let mut touched = false;
            for path in paths {
                if self.docs.values().any(|o| &o.path == path) {
                    continue;
                }
                if let Some(file) = file_at(&spec.db, &spec.dir, path, false) {
                    let text = duckc_driver::read_import(path).unwrap_or_default();
                    if file.text(&spec.db) != &text {
                        use salsa::Setter;
                        file.set_text(&mut spec.db).to(text);
                    }
                    touched = true;
                }
                if path.starts_with(&spec.context) {
                    spec.sources.clear();
                    touched = true;
                }
            }
            if touched {
                self.dirty.insert(root);
            }
        }
    }

    /// Refreshes every spec whose inputs changed: once after a burst of edits, before a request
    /// (which must see them), and whenever no message is waiting.
    fn flush(&mut self) {
        while let Some(root) = self.dirty.pop_first() {
            self.refresh(&root);
        }
    }

    /// After an input change: loads new imports (open buffers first, else the disk), lists the
    /// context again if the `copy` sources changed, and publishes the diagnostics from a worker.
    fn refresh(&mut self, root: &str) {
        let docs = &self.docs;
        let Some(spec) = self.specs.get_mut(root) else {
            return;
        };
        let dir = spec.dir.clone();
        spec.db.load_imports(|logical| {
            let path = dir.join(logical);
            docs.values()
                .find(|o| o.path == path)
                .map(|o| o.doc.text.clone())
                .or_else(|| duckc_driver::read_import(&path))
        });
        let sources = duckc_ir::copy_sources(&spec.db).clone();
        if sources != spec.sources {
            let wanted = |p: &str| duckc_driver::context::wanted(&sources, p);
            if let Ok(listing) = duckc_driver::context::read(&spec.context, &wanted) {
                spec.db.set_context(listing);
            }
            spec.sources = sources;
        }
        let version = docs.get(root).map(|o| o.doc.version);
        let Some(root_uri) = docs.get(root).map(|o| o.uri.clone()) else {
            return;
        };
        // Imports open as specs of their own publish for themselves.
        let own: Vec<PathBuf> = self
            .specs
            .keys()
            .filter(|k| k.as_str() != root)
            .filter_map(|k| docs.get(k).map(|o| o.path.clone()))
            .collect();
        let Some(spec) = self.specs.get(root) else {
            return;
        };
        let db = spec.db.clone();
        let sender = self.sender.clone();
        let worker = std::thread::Builder::new()
            .name("duckc-lsp-check".to_owned())
            .spawn(move || {
                let published = salsa::Cancelled::catch(AssertUnwindSafe(|| {
                    spec_diagnostics(&db, &dir, &root_uri, version, &own)
                }));
                // Sent while the clone is held: a newer edit waits for this one to finish
                // sending, so an older result never arrives after a newer one.
                if let Ok(published) = published {
                    for p in published {
                        let _ = sender.send(Message::Notification(Notification::new(
                            n::PublishDiagnostics::METHOD.to_owned(),
                            p,
                        )));
                    }
                }
                drop(db);
            });
        if let Ok(w) = worker {
            self.workers.push(w);
        }
    }

    /// The directory the stdlib modules are written to (read-only), for go-to-definition.
    pub fn stdlib_path(&mut self, module: &str) -> Option<PathBuf> {
        if self.stdlib_dir.is_none() {
            let dir = tempfile::Builder::new()
                .prefix("duckc-lsp-stdlib.")
                .tempdir()
                .ok()?;
            for (name, text) in duckc_ir::stdlib::MODULES {
                let path = dir.path().join(format!("{name}.kdl"));
                std::fs::create_dir_all(path.parent()?).ok()?;
                std::fs::write(&path, text).ok()?;
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444));
            }
            self.stdlib_dir = Some(dir);
        }
        let path = self
            .stdlib_dir
            .as_ref()?
            .path()
            .join(format!("{module}.kdl"));
        path.exists().then_some(path)
    }
}

/// Takes the `$/cancelRequest` of request `id` out of `queue`, if one is there.
fn take_cancel(queue: &mut VecDeque<Message>, id: &RequestId) -> bool {
    let Ok(id) = serde_json::to_value(id) else {
        return false;
    };
    let found = queue.iter().position(|m| {
        matches!(m, Message::Notification(not)
            if not.method == n::Cancel::METHOD && not.params.get("id") == Some(&id))
    });
    found.map(|i| queue.remove(i)).is_some()
}

/// The user file of `db` at absolute `path` (the root, when `is_root`).
pub(crate) fn file_at(db: &Database, dir: &Path, path: &Path, is_root: bool) -> Option<SpecFile> {
    let ws = Workspace::get(db);
    if is_root {
        return Some(ws.root(db));
    }
    let files: &BTreeMap<String, SpecFile> = ws.files(db);
    files
        .iter()
        .find(|(logical, f)| **f != ws.root(db) && dir.join(logical) == path)
        .map(|(_, f)| *f)
}

/// The diagnostics of every user file of a spec's workspace (every file, so that fixed ones
/// are cleared), the root's with its version.
fn spec_diagnostics(
    db: &Database,
    dir: &Path,
    root_uri: &Uri,
    version: Option<i32>,
    skip: &[PathBuf],
) -> Vec<PublishDiagnosticsParams> {
    let by_file = duckc_ir::diagnostics(db);
    let root = Workspace::get(db).root(db);
    let mut out = Vec::new();
    for file in duckc_ir::user_files(db) {
        let is_root = file == root;
        let path = dir.join(file.path(db));
        if !is_root && skip.contains(&path) {
            continue;
        }
        let uri = if is_root {
            root_uri.clone()
        } else {
            crate::path_to_uri(&path)
        };
        let text = file.text(db);
        let index = LineIndex::new(text);
        let diagnostics = by_file
            .iter()
            .find(|f| f.file == file)
            .map(|f| {
                f.diagnostics
                    .iter()
                    .map(|d| convert::diagnostic(d, &uri, text, &index))
                    .collect()
            })
            .unwrap_or_default();
        out.push(PublishDiagnosticsParams {
            uri,
            diagnostics,
            version: if is_root { version } else { None },
        });
    }
    out
}
