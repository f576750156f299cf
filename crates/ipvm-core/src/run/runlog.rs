//! The record of a run in progress: which tasks are queued, running, done,
//! reused, failed or skipped, and how the run ended. A platform persists it
//! (the browser's `runs` table), so that a page can tell which runs a reload
//! interrupted. The rules live here: what each event means for its task, how
//! a run's outcome is named, and how often a record that grows with the
//! workflow may be rewritten without costing O(n²) over the run.
//!
//! A record may ride on a group commit (the same transaction as the
//! receipts): [`RunRecord::stored`] marks the tasks whose receipts the
//! commit writes, so that a record written with them never lags what the run
//! reports, and [`RunRecord::due_at_commit`] says whether this commit should
//! carry it.

use std::collections::HashMap;
use std::fmt::Write;

use cid::Cid;

use crate::model::address::decode_dag_cbor;
use crate::model::receipt::Receipt;
use crate::run::report::{Event, RunReport};
use crate::store::ReceiptRow;
use crate::CoreError;

/// The least time between two background writes of a run's record, per
/// task of the workflow: writing the record costs O(tasks), so spacing the
/// writes in proportion keeps their total cost a small, fixed share of the
/// run (50 tasks: every event; 1,000 tasks: at most 20 writes a second).
const SPACING_MS_PER_TASK: f64 = 0.05;
/// The most time between two writes, however large the workflow.
const MAX_SPACING_MS: f64 = 1_000.0;
/// A group commit carries the record once this many tasks of the workflow
/// per task committed since the last write have been committed: a workflow
/// of up to this many tasks rides on every commit; a larger one on one commit
/// in `tasks / RIDE_RATIO` committed tasks, so that its writes cost O(1) per
/// task.
const RIDE_RATIO: usize = 64;

/// A run's record: `{id, state, started, updated, tasks: [{instruction, status}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The workflow's CID.
    pub id: Cid,
    /// `running`, then `done`, `failed` or `cancelled`.
    pub state: &'static str,
    /// Each task's instruction and status.
    pub tasks: Vec<(Cid, &'static str)>,
    /// Where each instruction's tasks are in `tasks`.
    positions: HashMap<Cid, Vec<usize>>,
    /// Tasks marked by [`RunRecord::stored`] since the last write.
    stored_since_write: usize,
}

impl RunRecord {
    /// A running record of `instructions` (the workflow's tasks, in order),
    /// all queued.
    pub fn new(id: Cid, instructions: impl IntoIterator<Item = Cid>) -> Self {
        let tasks: Vec<(Cid, &'static str)> =
            instructions.into_iter().map(|c| (c, "queued")).collect();
        let mut positions: HashMap<Cid, Vec<usize>> = HashMap::with_capacity(tasks.len());
        for (i, (c, _)) in tasks.iter().enumerate() {
            positions.entry(*c).or_default().push(i);
        }
        Self {
            id,
            state: "running",
            tasks,
            positions,
            stored_since_write: 0,
        }
    }

    /// Marks the running tasks whose receipts a commit is writing as the
    /// receipts say (`done` or `failed`), before their events come: the
    /// record written in the same transaction then includes them. Rows of
    /// instructions this run is not running are left alone. Returns how many
    /// tasks were marked.
    pub fn stored(&mut self, rows: &[ReceiptRow]) -> usize {
        let mut marked = 0;
        for row in rows {
            let Some(at) = self.positions.get(&row.instruction) else {
                continue;
            };
            // The receipt was made by this runtime a moment ago; a row that
            // does not decode is not marked (its event will be).
            let Ok(receipt) = decode_dag_cbor(&row.bytes).and_then(|v| Receipt::from_ipld(&v))
            else {
                continue;
            };
            let status = if receipt.out.is_ok() {
                "done"
            } else {
                "failed"
            };
            for &i in at {
                if self.tasks[i].1 == "running" {
                    self.tasks[i].1 = status;
                    marked += 1;
                }
            }
        }
        self.stored_since_write += marked;
        marked
    }

    /// Undoes [`RunRecord::stored`] for these instructions: the commit
    /// failed, and their receipts were not stored.
    pub fn unstored(&mut self, instructions: &[Cid]) {
        for i in instructions
            .iter()
            .filter_map(|c| self.positions.get(c))
            .flatten()
        {
            if matches!(self.tasks[*i].1, "done" | "failed") {
                self.tasks[*i].1 = "running";
            }
        }
    }

    /// Whether a group commit should carry the record: always for a
    /// workflow of up to [`RIDE_RATIO`] tasks, else once enough tasks were
    /// committed since the last write, or once `ms_since_write` reached the
    /// background spacing.
    pub fn due_at_commit(&self, ms_since_write: f64) -> bool {
        self.stored_since_write * RIDE_RATIO >= self.tasks.len()
            || ms_since_write >= self.write_spacing_ms()
    }

    /// Notes that the record was written.
    pub fn written(&mut self) {
        self.stored_since_write = 0;
    }

    /// Records what an event says about its task. Returns whether the
    /// record should be written (a task ended, and the record did not know
    /// it yet from [`RunRecord::stored`]); a start is kept for the next
    /// write.
    pub fn apply(&mut self, e: &Event) -> bool {
        let (task, status) = match e {
            Event::Started { task, .. } => (*task, "running"),
            Event::Finished { task, .. } => (*task, "done"),
            Event::MemoHit { task, .. } => (*task, "reused"),
            Event::Failed {
                task,
                receipt: Some(_),
                ..
            } => (*task, "failed"),
            Event::Failed {
                task,
                receipt: None,
                ..
            } => (*task, "skipped"),
            Event::Queued { .. }
            | Event::Rejected { .. }
            | Event::SpotChecked { .. }
            | Event::Distrusted { .. }
            | Event::Fetched { .. } => return false,
        };
        let Some(t) = self.tasks.get_mut(task) else {
            return false;
        };
        let changed = t.1 != status;
        t.1 = status;
        changed && !matches!(e, Event::Started { .. })
    }

    /// Records how the run ended.
    pub fn end(&mut self, report: &Result<RunReport, CoreError>) {
        self.state = match report {
            Ok(r) if r.succeeded() => "done",
            Ok(_) => "failed",
            Err(CoreError::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
    }

    /// Whether the run is still going.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }

    /// The least time between two background writes of this record, in
    /// milliseconds (in proportion to its size; see the constants).
    pub fn write_spacing_ms(&self) -> f64 {
        (self.tasks.len() as f64 * SPACING_MS_PER_TASK).min(MAX_SPACING_MS)
    }

    /// The record as JSON text, with its times (ms since the epoch). One
    /// string, so that a browser parses it once instead of building an
    /// object per task across the Wasm boundary.
    pub fn to_json(&self, started: f64, updated: f64) -> String {
        // CIDs and states are plain ASCII without quotes or backslashes.
        let mut json = format!(
            r#"{{"id":"{}","state":"{}","started":{started},"updated":{updated},"tasks":["#,
            self.id, self.state
        );
        for (i, (instruction, status)) in self.tasks.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            let _ = write!(
                json,
                r#"{comma}{{"instruction":"{instruction}","status":"{status}"}}"#
            );
        }
        json.push_str("]}");
        json
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ipld_core::ipld::Ipld;

    #[test]
    fn events_move_tasks_and_the_outcome_names_the_run() {
        let c = |s: &[u8]| crate::model::address::raw_cid(s);
        let mut r = RunRecord::new(c(b"wf"), [c(b"a"), c(b"b"), c(b"c")]);
        assert!(!r.apply(&Event::Started {
            task: 0,
            instruction: c(b"a")
        }));
        assert_eq!(r.tasks[0].1, "running");
        assert!(r.apply(&Event::MemoHit {
            task: 1,
            instruction: c(b"b"),
            receipt: c(b"r")
        }));
        assert!(r.apply(&Event::Failed {
            task: 2,
            instruction: c(b"c"),
            receipt: None,
            reason: String::new()
        }));
        assert_eq!(
            r.tasks.iter().map(|t| t.1).collect::<Vec<_>>(),
            ["running", "reused", "skipped"]
        );
        r.end(&Err(CoreError::Cancelled));
        assert_eq!(r.state, "cancelled");
        let json = r.to_json(1.0, 2.0);
        assert!(json.starts_with(r#"{"id":"bafkrei"#), "{json}");
        assert!(json.contains(r#""status":"reused""#), "{json}");
    }

    /// A row of the receipt of `ex` for `instruction`.
    fn row(instruction: Cid, ex: crate::Execution) -> ReceiptRow {
        let receipt = Receipt::of_execution(instruction, &ex, Vec::new());
        let (cid, bytes) = receipt.block().unwrap();
        ReceiptRow {
            cid,
            instruction,
            inputs: Vec::new(),
            provenance: crate::Provenance::Computed,
            reusable: true,
            stored: 0,
            bytes,
            invocation: None,
            envelopes: Vec::new(),
            signers: Vec::new(),
            vouched: false,
        }
    }

    #[test]
    fn a_commit_marks_its_running_tasks_and_carries_the_record_when_due() {
        let c = |s: &[u8]| crate::model::address::raw_cid(s);
        let mut r = RunRecord::new(c(b"wf"), [c(b"a"), c(b"b"), c(b"c"), c(b"a")]);
        for (task, i) in [(0, c(b"a")), (1, c(b"b")), (3, c(b"a"))] {
            r.apply(&Event::Started {
                task,
                instruction: i,
            });
        }
        let marked = r.stored(&[
            row(c(b"a"), crate::Execution::ok(Ipld::Integer(1), 0)),
            row(
                c(b"b"),
                crate::Execution::error(Ipld::String("x".into()), 0),
            ),
            // Not this run's, and `c` is not running: left alone.
            row(c(b"z"), crate::Execution::ok(Ipld::Null, 0)),
            row(c(b"c"), crate::Execution::ok(Ipld::Null, 0)),
        ]);
        assert_eq!(marked, 3);
        assert_eq!(
            r.tasks.iter().map(|t| t.1).collect::<Vec<_>>(),
            ["done", "failed", "queued", "done"]
        );
        // The task's event then changes nothing: no second write.
        assert!(!r.apply(&Event::Finished {
            task: 0,
            instruction: c(b"a"),
            receipt: c(b"r"),
            fuel: 0
        }));
        // A small workflow rides on every commit.
        assert!(r.due_at_commit(0.0));
        r.written();
        assert!(!r.due_at_commit(0.0));
        assert!(r.due_at_commit(r.write_spacing_ms()));

        // A large one rides once a 64th of it was committed since the last write.
        let n = 6_400;
        let mut big = RunRecord::new(c(b"big"), (0..n).map(|i: u32| c(&i.to_le_bytes())));
        for i in 0..100u32 {
            big.apply(&Event::Started {
                task: i as usize,
                instruction: c(&i.to_le_bytes()),
            });
        }
        let rows: Vec<_> = (0..100u32)
            .map(|i| row(c(&i.to_le_bytes()), crate::Execution::ok(Ipld::Null, 0)))
            .collect();
        big.stored(&rows[..99]);
        assert!(!big.due_at_commit(0.0));
        big.stored(&rows[99..]);
        assert!(big.due_at_commit(0.0));
        // A commit that failed gives its tasks back to `running`.
        big.unstored(&[c(&5u32.to_le_bytes())]);
        assert_eq!(big.tasks[5].1, "running");
        assert_eq!(big.tasks[6].1, "done");
    }
}
