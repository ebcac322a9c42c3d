//! Build output: Docker's plain style (`Step 2/6 : …`, ` ---> Using cache`, ` ---> <id>`,
//! `Successfully built …`), a live view for terminals (the same lines, plus a status line of
//! the steps running now), or one JSON object per event.
//!
//! Nodes finish in any order (envs build in parallel), but the plain and live views print env
//! by env, step by step, in spec order. The step next in that order has its `Step N/M` header
//! printed as soon as it starts, and its output as it comes; a step running at the same time
//! further on (another env's) prints its lines as they come too, each prefixed `#N` (a number
//! given in the order such steps first print, as BuildKit numbers its steps), after a
//! `#N Step …` header. A failing step's header is always printed before the build ends.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::time::Instant;

use duckc_ir::{Node, NodeKey, Step};
use serde_json::json;

use crate::assemble::Assembled;
use crate::execute::{Event, NodeResult, Unit};
use crate::plan::EnvPlan;

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// Plain lines plus a live status line (for terminals).
    Tty,
    /// One JSON object per line and event.
    Json,
    /// Nothing while building (`build -q`): the caller prints each env's image id at the end.
    Quiet,
}

/// Prints build events.
pub struct Printer<'a> {
    mode: Mode,
    plans: &'a [EnvPlan],
    out: Box<dyn Write + 'a>,
    results: BTreeMap<Unit, NodeResult>,
    built: BTreeMap<usize, Assembled>,
    /// Nodes whose result lines were printed once (a run's output is shown once).
    shown: BTreeSet<Unit>,
    /// What runs now: since when, the step, and its latest progress line.
    running: BTreeMap<Unit, (Instant, String, String)>,
    /// Nodes that began executing.
    started: BTreeSet<Unit>,
    /// The `run` nodes among them: one that executed says ` ---> Running in` even when it
    /// printed nothing, as Docker does for every `RUN`.
    runs: BTreeSet<NodeKey>,
    /// Nodes whose output was printed as it came (not printed again when they finish).
    streamed: BTreeSet<Unit>,
    /// Nodes printed ahead of the spec order, by their `#N`.
    tags: BTreeMap<Unit, usize>,
    /// The header of the step at (env, platform, step) was printed before the step finished.
    header_at: Option<(usize, usize, usize)>,
    env: usize,
    /// Which of the env's platforms is being printed.
    platform: usize,
    step: usize,
    status_shown: bool,
}

impl std::fmt::Debug for Printer<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Printer").field("mode", &self.mode).finish()
    }
}

/// Twelve hex digits of a digest, as Docker shows ids.
pub fn short(d: &duckc_store::Digest) -> String {
    d.hex()[..12].to_owned()
}

impl<'a> Printer<'a> {
    pub fn new(mode: Mode, plans: &'a [EnvPlan], out: Box<dyn Write + 'a>) -> Self {
        Printer {
            mode,
            plans,
            out,
            results: BTreeMap::new(),
            built: BTreeMap::new(),
            shown: BTreeSet::new(),
            running: BTreeMap::new(),
            started: BTreeSet::new(),
            runs: BTreeSet::new(),
            streamed: BTreeSet::new(),
            tags: BTreeMap::new(),
            header_at: None,
            env: 0,
            platform: 0,
            step: 0,
            status_shown: false,
        }
    }

    /// Handles one build event.
    pub fn event(&mut self, event: Event<'_>) {
        match self.mode {
            Mode::Quiet => {}
            Mode::Json => self.json(event),
            Mode::Plain | Mode::Tty => {
                let mut lines = Vec::new();
                match event {
                    Event::Started(node, platform) => {
                        self.running.insert(
                            (node.key, platform.to_owned()),
                            (Instant::now(), node_text(node), String::new()),
                        );
                        self.started.insert((node.key, platform.to_owned()));
                        if matches!(node.step, Step::Run(_)) {
                            self.runs.insert(node.key);
                        }
                    }
                    Event::Output(node, platform, line) => {
                        let unit = (node.key, platform.to_owned());
                        let at_cursor = self.cursor_unit().as_ref() == Some(&unit)
                            && self.header_at == Some(self.position());
                        if at_cursor && !self.tags.contains_key(&unit) {
                            if self.streamed.insert(unit.clone()) {
                                self.shown.insert(unit);
                                lines.push(format!(" ---> Running in {}", node.key.short()));
                            }
                            lines.push(line.to_owned());
                        } else {
                            let n = self.tag(&unit, &mut lines);
                            lines.push(format!("#{n} {line}"));
                        }
                    }
                    Event::Failed(node, platform, _) => {
                        let unit = (node.key, platform.to_owned());
                        self.running.remove(&unit);
                        let at_cursor = self.cursor_unit().as_ref() == Some(&unit)
                            && self.header_at == Some(self.position());
                        if !at_cursor {
                            self.tag(&unit, &mut lines);
                        }
                    }
                    Event::Progress(node, platform, line) => {
                        if let Some(r) = self.running.get_mut(&(node.key, platform.to_owned())) {
                            r.2 = line.to_owned();
                        }
                        if self.mode == Mode::Plain {
                            return;
                        }
                    }
                    Event::Finished(node, result) => {
                        let unit = (node.key, result.platform.clone());
                        self.running.remove(&unit);
                        self.results.insert(unit, result.clone());
                    }
                    Event::EnvBuilt(plan, a) => {
                        if let Some(i) = self.plans.iter().position(|p| p.env.name == plan.env.name)
                        {
                            self.built.insert(i, a.clone());
                        }
                    }
                    Event::Tick => {}
                }
                self.advance(lines);
            }
        }
    }

    /// Clears the live status line (call before printing an error).
    pub fn finish(&mut self) {
        if self.status_shown {
            let _ = write!(self.out, "\r\x1b[2K");
            self.status_shown = false;
        }
        let _ = self.out.flush();
    }

    fn json(&mut self, event: Event<'_>) {
        let v = match event {
            Event::Started(node, platform) => json!({
                "event": "started",
                "node": node.key.to_string(),
                "platform": platform,
                "step": node_text(node),
            }),
            Event::Progress(node, platform, line) => json!({
                "event": "progress",
                "node": node.key.to_string(),
                "platform": platform,
                "step": node_text(node),
                "line": line,
            }),
            Event::Finished(node, r) => json!({
                "event": "finished",
                "node": node.key.to_string(),
                "platform": r.platform,
                "step": node_text(node),
                "cached": r.cached,
                "layer": r.layer.as_ref().map(|l| l.diff_id.to_string()),
                "output": String::from_utf8_lossy(&r.output),
            }),
            Event::EnvBuilt(plan, a) => json!({
                "event": "built",
                "env": plan.env.name,
                "image": a.image.config_digest.to_string(),
                "digest": a.image.digest.to_string(),
                "tags": a.tags,
            }),
            Event::Output(node, platform, line) => json!({
                "event": "output",
                "node": node.key.to_string(),
                "platform": platform,
                "step": node_text(node),
                "line": line,
            }),
            Event::Failed(node, platform, error) => json!({
                "event": "failed",
                "node": node.key.to_string(),
                "platform": platform,
                "step": node_text(node),
                "error": error.to_string(),
            }),
            Event::Tick => return,
        };
        let _ = writeln!(self.out, "{v}");
    }

    /// Where the spec-order printing stands: (env, platform, step).
    fn position(&self) -> (usize, usize, usize) {
        (self.env, self.platform, self.step)
    }

    /// The node of the step printed next, if that step has one.
    fn cursor_unit(&self) -> Option<Unit> {
        let plan = self.plans.get(self.env)?;
        let platform = plan.platforms.get(self.platform)?;
        let key = plan.steps.get(self.step)?.node?;
        Some((key, platform.clone()))
    }

    /// The `#N` of a node printed ahead of the spec order; the first time, its header too.
    fn tag(&mut self, unit: &Unit, lines: &mut Vec<String>) -> usize {
        if let Some(n) = self.tags.get(unit) {
            return *n;
        }
        let n = self.tags.len() + 1;
        self.tags.insert(unit.clone(), n);
        self.streamed.insert(unit.clone());
        // The first env (in spec order) that builds the node names it.
        let found = self.plans.iter().find_map(|plan| {
            let i = plan.steps.iter().position(|s| s.node == Some(unit.0))?;
            Some((plan, i))
        });
        match found {
            Some((plan, i)) => lines.push(format!(
                "#{n} [{}] Step {}/{}{} : {}",
                plan.env.name,
                i + 1,
                plan.steps.len(),
                self.label(plan, &unit.1),
                plan.steps[i].text
            )),
            None => lines.push(format!("#{n} {}", unit.0.short())),
        }
        n
    }

    /// ` [linux/arm64]`: which platform a step is for, unless it is just this machine's.
    fn label(&self, plan: &EnvPlan, platform: &str) -> String {
        if plan.platforms.len() > 1 || platform != duckc_runtime::emulation::host_platform() {
            format!(" [{platform}]")
        } else {
            String::new()
        }
    }

    /// Prints `lines`, then every line that is ready, in spec order.
    fn advance(&mut self, mut lines: Vec<String>) {
        while let Some(plan) = self.plans.get(self.env) {
            let total = plan.steps.len();
            if let Some(platform) = plan.platforms.get(self.platform) {
                let label = self.label(plan, platform);
                if let Some(step) = plan.steps.get(self.step) {
                    let header = format!("Step {}/{total}{label} : {}", self.step + 1, step.text);
                    let header_printed = self.header_at == Some(self.position());
                    // A config-only step's id needs its top layer's result (its cache key).
                    let unit = step
                        .node
                        .or(step.image.map(|i| i.top))
                        .map(|k| (k, platform.clone()));
                    let result = match &unit {
                        Some(u) => match self.results.get(u) {
                            Some(r) => Some(r),
                            None => {
                                // Running (or failed): its header now, its output as it comes.
                                if !header_printed && self.started.contains(u) {
                                    lines.push(header);
                                    self.header_at = Some(self.position());
                                }
                                break;
                            }
                        },
                        None => None,
                    };
                    if !header_printed {
                        lines.push(header);
                    }
                    self.header_at = None;
                    if let (Some(image), None, Some(r)) = (step.image, step.node, result) {
                        // Keyed as a node's cache key is: over its top layer's, so a re-tagged
                        // base or another platform gives another id, as it gives another image.
                        let id = crate::cache_key(&image.key, Some(&r.cache_key), None);
                        lines.push(format!(" ---> {}", short(&id)));
                    } else if let (Some(u), Some(r)) = (unit, result) {
                        match &r.layer {
                            None => {
                                if let Some(id) = &r.base.short_id {
                                    lines.push(format!(" ---> {id}"));
                                }
                            }
                            Some(layer) => {
                                let short_key = u.0.short();
                                let ran = self.runs.contains(&u.0) && !r.cached;
                                let tag = self.tags.get(&u).copied();
                                let first = self.shown.insert(u);
                                if r.cached {
                                    lines.push(" ---> Using cache".to_owned());
                                } else if let Some(n) =
                                    tag.filter(|_| first && !r.output.is_empty())
                                {
                                    lines.push(format!(
                                        " ---> Running in {short_key} (its output is above, as #{n})"
                                    ));
                                } else if first && !r.output.is_empty() {
                                    lines.push(format!(" ---> Running in {short_key}"));
                                    let text = String::from_utf8_lossy(&r.output);
                                    lines.extend(text.trim_end().lines().map(str::to_owned));
                                } else if first && ran {
                                    lines.push(format!(" ---> Running in {short_key}"));
                                }
                                lines.push(format!(" ---> {}", short(&layer.diff_id)));
                            }
                        }
                    }
                    self.step += 1;
                    continue;
                }
                self.platform += 1;
                self.step = 0;
                continue;
            }
            let Some(a) = self.built.get(&self.env) else {
                break;
            };
            lines.push(format!("Successfully built {}", a.image.short_id()));
            for t in &a.tags {
                lines.push(format!("Successfully tagged {t}"));
            }
            self.env += 1;
            self.platform = 0;
            self.step = 0;
        }
        if self.status_shown {
            let _ = write!(self.out, "\r\x1b[2K");
            self.status_shown = false;
        }
        for l in lines {
            let _ = writeln!(self.out, "{l}");
        }
        if self.mode == Mode::Tty && !self.running.is_empty() {
            let parts: Vec<String> = self
                .running
                .values()
                .map(|(t, text, now)| {
                    let now = if now.is_empty() {
                        String::new()
                    } else {
                        format!(": {now}")
                    };
                    format!("{text}{now} ({:.1}s)", t.elapsed().as_secs_f64())
                })
                .collect();
            let mut status = format!("[+] running: {}", parts.join(" | "));
            if let Some((cut, _)) = status.char_indices().nth(200) {
                status.truncate(cut);
            }
            let _ = write!(self.out, "{status}");
            self.status_shown = true;
        }
        let _ = self.out.flush();
    }
}

/// A node in the spec's syntax, for status lines and JSON events.
pub fn node_text(node: &Node) -> String {
    match &node.step {
        Step::Base(b) => format!("from {:?}", crate::plan::base_name(b)),
        Step::Packages { names, .. } => format!("packages {}", names.join(" ")),
        Step::Copy(c) => {
            let s: Vec<String> = c.sources.iter().map(|s| format!("{s:?}")).collect();
            format!("copy {} {:?}", s.join(" "), c.destination)
        }
        Step::Run(r) => crate::run::describe(&r.command),
        Step::Mkdir { path } => format!("workdir {path:?}"),
        Step::Image(_) => "image".to_owned(),
    }
}
