//! Store-level verification: every blob re-hashed, every snapshot re-described and compared
//! with its record, every layer kept as its snapshot only written again and re-hashed, every
//! layer record checked against its blob, the store's modes and owner checked against its
//! invariant.

use std::fs;

use duckc_layer::Digest;

use crate::{Result, Store};

/// One thing wrong in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is affected (`blob sha256:…`, `snapshot sha256:…`, …).
    pub what: String,
    /// What is wrong with it.
    pub reason: String,
}

/// What `verify` found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Blobs checked.
    pub blobs: usize,
    /// Snapshots checked.
    pub snapshots: usize,
    /// Everything wrong.
    pub problems: Vec<Problem>,
}

impl Store {
    /// Re-hash every blob and snapshot; report what does not match.
    pub fn verify(&self) -> Result<VerifyReport> {
        let mut report = VerifyReport::default();
        report.problems.extend(self.check_modes());
        for d in self.list_blobs()? {
            report.blobs += 1;
            if let Err(e) = self.check_blob(&d) {
                report.problems.push(Problem {
                    what: format!("blob {d}"),
                    reason: e.to_string(),
                });
            }
        }
        for rec in self.layers()? {
            if !self.has_blob(&rec.layer.digest) {
                report.problems.push(Problem {
                    what: format!("layer {}", rec.layer.diff_id),
                    reason: format!("its blob {} is missing", rec.layer.digest),
                });
            }
        }
        for d in self.snapshots()? {
            report.snapshots += 1;
            self.verify_snapshot(&d, &mut report.problems)?;
        }
        Ok(report)
    }

    fn verify_snapshot(&self, d: &Digest, problems: &mut Vec<Problem>) -> Result<()> {
        let what = format!("snapshot {d}");
        let dir = self.snapshot_path(d);
        let record = match self.snapshot_record(d) {
            Ok(r) => r,
            Err(e) => {
                problems.push(Problem {
                    what,
                    reason: e.to_string(),
                });
                return Ok(());
            }
        };
        match (record, fs::symlink_metadata(&dir).is_ok()) {
            // An interrupted unpack: never used (`snapshot` redoes it) and removed by gc.
            (None, true) => {}
            (Some(_), false) => problems.push(Problem {
                what,
                reason: "recorded but its directory is missing".into(),
            }),
            (Some(rec), true) => match duckc_layer::tree::digest(&dir) {
                // The tree digest leaves out times, which the layer's tar holds: a snapshot
                // that stands for its blob is written again and hashed, as a blob would be.
                Ok(t) if t == rec.tree => {
                    if rec.rewrite.is_some()
                        && !self.has_blob_file(&rec.blob)
                        && let Err(e) = self.check_rewrite(&rec)
                    {
                        problems.push(Problem {
                            what,
                            reason: e.to_string(),
                        });
                    }
                }
                Ok(t) => problems.push(Problem {
                    what,
                    reason: format!("tree changed: recorded {}, now {t}", rec.tree),
                }),
                Err(e) => problems.push(Problem {
                    what,
                    reason: format!("cannot read it: {e}"),
                }),
            },
            (None, false) => {}
        }
        Ok(())
    }
}

impl Store {
    /// What `verify --repair` does: every damaged snapshot (its tree changed, it no longer
    /// gives its layer's bytes, or it is recorded but gone) is removed. A layer whose bytes
    /// lived only there is then gone too: its record and the build cache entries that name it
    /// are removed, so the next build makes it again instead of reusing it. Returns what was
    /// repaired. Holds the gc lock, so no build or pull runs meanwhile.
    pub fn repair(&self) -> Result<Vec<Problem>> {
        let _lock = self.gc_lock()?;
        let mut repaired = Vec::new();
        for d in self.snapshots()? {
            let mut problems = Vec::new();
            self.verify_snapshot(&d, &mut problems)?;
            if problems.is_empty() {
                continue;
            }
            let record = self.snapshot_record(&d).ok().flatten();
            self.remove_snapshot(&d)?;
            let lost = match (&record, self.layer(&d)?) {
                (_, Some(layer)) => !self.has_blob(&layer.layer.digest),
                (Some(rec), None) => !self.has_blob(&rec.blob),
                (None, None) => false,
            };
            if lost {
                self.remove_layer_record(&d)?;
                for (key, layer) in self.cache_entries()? {
                    if layer.diff_id == d {
                        self.cache_remove(&key)?;
                    }
                }
            }
            for p in problems {
                repaired.push(Problem {
                    what: p.what,
                    reason: if lost {
                        format!(
                            "{}: removed, with the layer and its build cache entries (build the images that use it again)",
                            p.reason
                        )
                    } else {
                        format!("{}: removed (it is unpacked again when used)", p.reason)
                    },
                });
            }
        }
        Ok(repaired)
    }
}
