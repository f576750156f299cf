//! What a run tells: [`Event`]s as it goes (for progress bars and logs),
//! and a [`RunReport`] at the end, one [`TaskReport`] per task.

use cid::Cid;

use crate::peer::PeerNote;
use crate::run::verify::Verdict;
use crate::store::record::ReceiptRecord;

/// Progress of a run, for progress bars and logs.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The task is part of the run.
    Queued {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
    },
    /// The task was sent to the executor.
    Started {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
    },
    /// A stored receipt answered the task; nothing ran.
    MemoHit {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
        /// The reused receipt.
        receipt: Cid,
    },
    /// The task ran and succeeded.
    Finished {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
        /// The new receipt.
        receipt: Cid,
        /// Fuel used.
        fuel: u64,
    },
    /// A stored receipt row was skipped: it is not what it claims (damaged,
    /// or written by another version). It never fails the run.
    Rejected {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
        /// The row's key (the receipt CID it claims).
        receipt: String,
        /// Why it was skipped.
        reason: String,
    },
    /// A receipt vouched for by another signer was re-run (a spot-check).
    SpotChecked {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
        /// The receipt checked.
        receipt: Cid,
        /// What the re-run said: `Match` (now verified here, and it answers
        /// the task), `Mismatch` (its signers are distrusted; the task runs
        /// here), `Incomparable` (it could not be checked here; it is not
        /// served, the task runs here).
        verdict: Verdict,
    },
    /// A spot-check caught a signer: its receipts are no longer reused
    /// until the user clears it.
    Distrusted {
        /// The signer's DID.
        signer: String,
        /// The receipt it vouched for that a re-run contradicted.
        receipt: Cid,
        /// What the re-run found.
        reason: String,
    },
    /// A file the task needs (its module, a file its arguments link to)
    /// was not all in the store, and was fetched from the peers, or could
    /// not be (the task then fails as it would have: `module_missing`, a
    /// missing block).
    Fetched {
        /// The first task that needs it.
        task: usize,
        /// The file's root.
        cid: Cid,
        /// What was fetched, or why it could not be.
        outcome: Result<crate::store::fetch::Fetched, String>,
    },
    /// The task failed (with a receipt) or could not run (without one).
    Failed {
        /// Task index.
        task: usize,
        /// Instruction CID.
        instruction: Cid,
        /// The error receipt, if the task ran.
        receipt: Option<Cid>,
        /// Why.
        reason: String,
    },
}

/// How one task of a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskStatus {
    /// It ran; this is its new receipt (which may hold an error).
    Ran(ReceiptRecord),
    /// A stored receipt was reused.
    Reused(ReceiptRecord),
    /// It did not run, for this reason (a dependency failed, the pure part failed).
    Skipped(String),
}

/// One task's line in a [`RunReport`].
#[derive(Debug, Clone, PartialEq)]
pub struct TaskReport {
    /// Task index.
    pub task: usize,
    /// Instruction CID.
    pub instruction: Cid,
    /// How it ended.
    pub status: TaskStatus,
    /// The engine it ran on (`fast`, `wasmi`), if it ran; for reports only:
    /// the receipt is the same on every engine.
    pub engine: Option<String>,
    /// How long its execution took where it ran, in microseconds, if it ran.
    pub micros: Option<u64>,
    /// Why it ran here although a receipt from elsewhere would have answered
    /// it: the spot-check of that receipt mismatched, or could not compare
    /// (and an unchecked receipt is never served after a check was drawn).
    pub spot_check: Option<String>,
    /// What the peers asked before it ran said (which peer's receipt
    /// answers it, why others were not used); `None` if none was asked.
    pub peers: Option<PeerNote>,
    /// The workflow's `catch`: this task is the handler of a failed task,
    /// or a failed task that a handler handled.
    pub catch: Option<CatchNote>,
}

/// A report's part in the workflow's failure handling (`catch`).
#[derive(Debug, Clone, PartialEq)]
pub enum CatchNote {
    /// This task is the handler that ran for the failure of task `of`
    /// (handler tasks are reported after the workflow's own tasks).
    Handler {
        /// The failed task.
        of: usize,
    },
    /// This task failed (its receipt says so) and handler task `by` ran.
    Handled {
        /// The handler's task.
        by: usize,
        /// What came of it.
        how: Handled,
    },
}

/// What a handler made of a failure.
#[derive(Debug, Clone, PartialEq)]
pub enum Handled {
    /// The task is taken as having given the handler's value: what awaits
    /// it sees that value (their instructions are the ones with the value in
    /// place of the await, memoized as such).
    Ok,
    /// The task is taken as having given what task `to` gives.
    Rewire {
        /// The task it stands for now.
        to: usize,
    },
    /// The failure stands, with the handler's message.
    Msg(String),
    /// The handler failed, or its answer could not be used: the failure
    /// stands, as it was.
    Failed(String),
}

impl TaskReport {
    /// The receipt, for tasks that ran or were reused.
    pub fn receipt(&self) -> Option<&ReceiptRecord> {
        match &self.status {
            TaskStatus::Ran(r) | TaskStatus::Reused(r) => Some(r),
            TaskStatus::Skipped(_) => None,
        }
    }
}

/// The result of a run, one entry per task in workflow order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// Per-task results.
    pub tasks: Vec<TaskReport>,
}

impl RunReport {
    /// How many tasks were executed (not reused, not skipped).
    pub fn executed(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Ran(_)))
            .count()
    }

    /// How many tasks were answered from the memo.
    pub fn reused(&self) -> usize {
        self.tasks
            .iter()
            .filter(|t| matches!(t.status, TaskStatus::Reused(_)))
            .count()
    }

    /// Whether every task has a successful receipt.
    pub fn succeeded(&self) -> bool {
        self.tasks
            .iter()
            .all(|t| t.receipt().is_some_and(|r| r.receipt.out.is_ok()))
    }
}
