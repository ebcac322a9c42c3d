//! The salsa database, and loading a workspace into it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use salsa::{Durability, Setter};

use crate::inputs::{Context, ContextEntry, EntryKind, SpecFile, Workspace};
use crate::key::Digest;

/// The database the CLI, the language server and the tests share.
#[salsa::db]
#[derive(Clone, Default)]
pub struct Database {
    storage: salsa::Storage<Self>,
    log: Option<Arc<Mutex<Vec<String>>>>,
}

#[salsa::db]
impl salsa::Database for Database {}

/// One entry of a build-context listing, as the driver read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextFile {
    /// Relative `/`-separated path.
    pub path: String,
    pub kind: EntryKind,
    pub mode: u32,
    pub digest: Option<Digest>,
}

impl Database {
    /// A database that records every query execution (`WillExecute` events) as
    /// `query(Id(…))` strings, for tests of incrementality.
    pub fn with_log() -> Self {
        let log: Arc<Mutex<Vec<String>>> = Arc::default();
        let sink = log.clone();
        let storage = salsa::Storage::new(Some(Box::new(move |event: salsa::Event| {
            if let salsa::EventKind::WillExecute { database_key } = event.kind
                && let Ok(mut log) = sink.lock()
            {
                log.push(format!("{database_key:?}"));
            }
        })));
        Database {
            storage,
            log: Some(log),
        }
    }

    /// Takes the executions logged since the last call.
    pub fn take_log(&self) -> Vec<String> {
        self.log
            .as_ref()
            .and_then(|l| l.lock().ok().map(|mut l| std::mem::take(&mut *l)))
            .unwrap_or_default()
    }

    /// Creates the workspace: the root spec (its logical path and text), the build context
    /// listing, and the embedded stdlib (at high durability). Returns the root file.
    pub fn load(
        &mut self,
        root_path: &str,
        root_text: String,
        context: Vec<ContextFile>,
    ) -> SpecFile {
        let entries: BTreeMap<String, ContextEntry> = context
            .into_iter()
            .map(|f| (f.path, ContextEntry::new(self, f.kind, f.mode, f.digest)))
            .collect();
        let context = Context::new(self, entries);
        let root = SpecFile::new(self, root_path.to_owned(), root_text, Some(context));
        let stdlib: BTreeMap<String, SpecFile> = crate::stdlib::MODULES
            .iter()
            .map(|(name, text)| {
                let file = SpecFile::builder((*name).to_owned(), (*text).to_owned(), None)
                    .durability(Durability::HIGH)
                    .new(self);
                ((*name).to_owned(), file)
            })
            .collect();
        let files = BTreeMap::from([(root_path.to_owned(), root)]);
        Workspace::new(self, root, files, stdlib);
        root
    }

    /// Replaces the build context listing. The driver lists the context once it knows, from
    /// the loaded files' `copy` steps ([`crate::copy_sources`]), which entries to hash, so it
    /// reads the directory in one pass.
    pub fn set_context(&mut self, listing: Vec<ContextFile>) {
        let ws = Workspace::get(self);
        let Some(context) = ws.root(self).context(self) else {
            return;
        };
        let entries: BTreeMap<String, ContextEntry> = listing
            .into_iter()
            .map(|f| (f.path, ContextEntry::new(self, f.kind, f.mode, f.digest)))
            .collect();
        context.set_entries(self).to(entries);
    }

    /// Adds a user file that an import names (the driver read it). Returns it.
    pub fn add_file(&mut self, path: &str, text: String) -> SpecFile {
        let ws = Workspace::get(self);
        let context = ws.root(self).context(self);
        let file = SpecFile::new(self, path.to_owned(), text, context);
        let mut files = ws.files(self).clone();
        files.insert(path.to_owned(), file);
        ws.set_files(self).to(files);
        file
    }

    /// Loads the imports of every user file, transitively, with `read` (the driver's IO): it
    /// gets a logical path and returns the text, or `None` when there is no such file (the
    /// import is then reported as unknown).
    pub fn load_imports(&mut self, mut read: impl FnMut(&str) -> Option<String>) {
        let mut tried = std::collections::BTreeSet::new();
        loop {
            let ws = Workspace::get(self);
            let files: Vec<SpecFile> = ws.files(self).values().copied().collect();
            let mut wanted = Vec::new();
            for f in files {
                for path in crate::user_imports(self, f) {
                    if !ws.files(self).contains_key(&path) && tried.insert(path.clone()) {
                        wanted.push(path);
                    }
                }
            }
            if wanted.is_empty() {
                return;
            }
            for path in wanted {
                if let Some(text) = read(&path) {
                    self.add_file(&path, text);
                }
            }
        }
    }

    /// The context entry at `path`, if the listing has it.
    pub fn context_entry(&self, path: &str) -> Option<ContextEntry> {
        let ws = Workspace::get(self);
        ws.root(self)
            .context(self)?
            .entries(self)
            .get(path)
            .copied()
    }

    /// Sets a context file's digest and mode, as after the file changed on disk.
    pub fn set_context_file(&mut self, path: &str, mode: u32, digest: Option<Digest>) -> bool {
        let Some(entry) = self.context_entry(path) else {
            return false;
        };
        if entry.mode(self) != mode {
            entry.set_mode(self).to(mode);
        }
        if entry.digest(self) != digest {
            entry.set_digest(self).to(digest);
        }
        true
    }
}
