//! The record of a run in progress: which tasks are queued, running, done,
//! reused, failed or skipped, and how the run ended. A platform persists it
//! (the browser's `runs` table), so that a page can tell which runs a reload
//! interrupted. The rules live here: what each event means for its task, how
//! a run's outcome is named, and how often a record that grows with the
//! workflow may be rewritten without costing O(n²) over the run.

use std::fmt::Write;

use cid::Cid;

use crate::scheduler::{Event, RunReport};
use crate::CoreError;

/// The least time between two background writes of a run's record, per
/// task of the workflow: writing the record costs O(tasks), so spacing the
/// writes in proportion keeps their total cost a small, fixed share of the
/// run (50 tasks: every event; 1,000 tasks: at most 20 writes a second).
const SPACING_MS_PER_TASK: f64 = 0.05;
/// The most time between two writes, however large the workflow.
const MAX_SPACING_MS: f64 = 1_000.0;

/// A run's record: `{id, state, started, updated, tasks: [{instruction, status}]}`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// The workflow's CID.
    pub id: Cid,
    /// `running`, then `done`, `failed` or `cancelled`.
    pub state: &'static str,
    /// Each task's instruction and status.
    pub tasks: Vec<(Cid, &'static str)>,
}

impl RunRecord {
    /// A running record of `instructions` (the workflow's tasks, in order),
    /// all queued.
    pub fn new(id: Cid, instructions: impl IntoIterator<Item = Cid>) -> Self {
        Self {
            id,
            state: "running",
            tasks: instructions.into_iter().map(|c| (c, "queued")).collect(),
        }
    }

    /// Records what an event says about its task. Returns whether the
    /// record should be written (a task ended); a start is kept for the next
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
            | Event::Distrusted { .. } => return false,
        };
        if let Some(t) = self.tasks.get_mut(task) {
            t.1 = status;
        }
        !matches!(e, Event::Started { .. })
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

    #[test]
    fn events_move_tasks_and_the_outcome_names_the_run() {
        let c = |s: &[u8]| crate::address::raw_cid(s);
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
}
