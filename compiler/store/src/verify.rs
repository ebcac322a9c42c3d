//! Store-level verification: every blob re-hashed, every snapshot re-described and compared
//! with its record, every layer record checked against its blob, the store's modes and owner
//! checked against its invariant.

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
                Ok(t) if t == rec.tree => {}
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
