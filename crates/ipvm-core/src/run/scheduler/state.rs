//! The bookkeeping of one run ([`RunState`]): which tasks wait for which,
//! what is ready, what ended and how, and the helpers that end a task.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

/// Bookkeeping of one run.
pub(super) struct RunState {
    pub(super) deps: Vec<Vec<usize>>,
    pub(super) dependents: Vec<Vec<usize>>,
    pub(super) waiting: Vec<usize>,
    pub(super) effectful: Vec<bool>,
    pub(super) status: Vec<Option<TaskStatus>>,
    pub(super) results: HashMap<Cid, Outcome>,
    pub(super) ready: VecDeque<usize>,
    pub(super) parked_effects: Vec<usize>,
    pub(super) pure_left: usize,
    pub(super) pure_failed: bool,
    /// Tasks whose memo answer a spot-check contradicted or could not
    /// check: they run here, and their report says why.
    pub(super) must_run: HashMap<usize, String>,
    /// What asking peers came to, for each task they were asked about.
    pub(super) peer_notes: HashMap<usize, PeerNote>,
    /// The engine each executed task ran on, and how long it took there,
    /// as its executor reported them.
    pub(super) engines: HashMap<usize, (Option<String>, Option<u64>)>,
    /// Whether the workflow has a `catch` handler.
    pub(super) catching: bool,
    /// Handler tasks (appended to the workflow as failures come), each with
    /// the failed task it handles.
    pub(super) handler_of: HashMap<usize, usize>,
    /// Failed pure tasks whose handler is yet to be started: they hold what
    /// awaits them until it has settled them.
    pub(super) to_catch: Vec<usize>,
    /// Handlers that ended, whose failed task is yet to be settled.
    pub(super) to_settle: Vec<usize>,
    /// What each handled task's handler made of its failure.
    pub(super) caught: HashMap<usize, (usize, Handled)>,
}

impl RunState {
    /// Marks task `i` as ended and releases what waited for it. With a
    /// `catch`, a pure task that failed with a receipt holds what awaits it
    /// until its handler settles it; an ended handler waits to settle its
    /// task ([`RunState::to_settle`]).
    pub(super) fn complete(&mut self, i: usize, status: TaskStatus) {
        let (ok, failed) = match &status {
            TaskStatus::Ran(r) | TaskStatus::Reused(r) => {
                (r.receipt.out.is_ok(), !r.receipt.out.is_ok())
            }
            TaskStatus::Skipped(_) => (false, false),
        };
        self.status[i] = Some(status);
        if self.handler_of.contains_key(&i) {
            self.pure_left -= 1;
            self.to_settle.push(i);
            return;
        }
        if self.catching && failed && !self.effectful[i] {
            self.to_catch.push(i);
            return;
        }
        self.release(i, ok);
    }

    /// Ends task `i` for what awaits it: `ok` says whether it counts as a
    /// success for the effects' rule (a handled failure may).
    pub(super) fn release(&mut self, i: usize, ok: bool) {
        if !self.effectful[i] {
            self.pure_left -= 1;
            self.pure_failed |= !ok;
        }
        for d in std::mem::take(&mut self.dependents[i]) {
            self.unblock(d);
        }
        self.unpark_effects();
    }

    /// One task that `d` waited for has ended: once none is left, `d` is
    /// ready (an effect: parked until the pure part is done).
    pub(super) fn unblock(&mut self, d: usize) {
        self.waiting[d] -= 1;
        if self.waiting[d] == 0 {
            if self.effectful[d] {
                self.parked_effects.push(d);
            } else {
                self.ready.push_back(d);
            }
        }
    }

    /// Once every pure task has ended, the parked effects are ready.
    pub(super) fn unpark_effects(&mut self) {
        if self.pure_left == 0 {
            self.ready.extend(self.parked_effects.drain(..));
        }
    }
}

/// Reports rows skipped on the way (each once: the quarantine holds them after).
pub(super) fn report(
    task: usize,
    instruction: Cid,
    rejected: Vec<Rejection>,
    on_event: &mut dyn FnMut(&Event),
) {
    for r in rejected {
        on_event(&Event::Rejected {
            task,
            instruction,
            receipt: r.receipt,
            reason: r.reason,
        });
    }
}

/// Answers task `i` with a stored receipt.
pub(super) fn memo_hit(
    st: &mut RunState,
    i: usize,
    rec: ReceiptRecord,
    on_event: &mut dyn FnMut(&Event),
) {
    on_event(&Event::MemoHit {
        task: i,
        instruction: rec.instruction,
        receipt: rec.cid,
    });
    st.results.insert(rec.instruction, rec.receipt.out.clone());
    st.complete(i, TaskStatus::Reused(rec));
}

/// A one-line rendering of an error value.
pub(super) fn short(e: &Ipld) -> String {
    match e {
        Ipld::String(s) => s.clone(),
        Ipld::Map(m) => match m.get("message") {
            Some(Ipld::String(s)) => s.clone(),
            _ => format!("{e:?}"),
        },
        other => format!("{other:?}"),
    }
}
