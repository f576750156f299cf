//! The dataflow scheduler.
//!
//! Given a [`Workflow`], it runs every task whose inputs are ready, up to a
//! parallelism, through an [`Executor`]. Before dispatching a task it asks the
//! memo ([`crate::store::memo::lookup`]) for a receipt of the same instruction that
//! this runtime vouches for; a hit is reused and nothing runs. Runtimes that
//! share a store coordinate through [`crate::run::coordinate`]: a lock per
//! instruction, a second memo lookup under it, an announcement once the
//! receipt is written. A failure propagates to the tasks that await
//! it, with the cause. Effectful tasks run last, only once every pure task of
//! the workflow has succeeded, so a failed run is always safe to retry.
//! Progress is reported as [`Event`]s; a [`CancelToken`] stops a run.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use cid::Cid;
use futures::future::{FutureExt, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use ipld_core::ipld::Ipld;

use crate::auth::envelope::Envelope;
use crate::auth::identity::Signer;
use crate::auth::trust::Trust;
use crate::model::awaits::{substitute, AwaitKind};
use crate::model::execution::{Execution, Origin};
use crate::model::receipt::{Outcome, Receipt};
use crate::model::workflow::{Task, Workflow};
use crate::peer::{PeerNote, Peers};
use crate::run::cancel::CancelToken;
use crate::run::coordinate::{Announcer, Busy, InstructionLock, Uncoordinated};
use crate::run::job::{Executor, Job};
use crate::run::report::{CatchNote, Event, Handled, RunReport, TaskReport, TaskStatus};
use crate::run::verify::{Verdict, Verification};
use crate::store::memo::{self, Checked, Quarantine, Rejection};
use crate::store::record::{Provenance, ReceiptRecord};
use crate::store::ReceiptStore;
use crate::{CoreError, ValidationError};

mod catching;
mod check;
mod commit;
mod dispatch;
mod ready;
mod state;

use commit::Finished;
use state::{memo_hit, report, short, RunState};

/// Runs workflows through an executor, with a store for the memo, and
/// coordinates with the other runtimes of the store through a lock and an
/// announcer ([`Uncoordinated`] by default).
pub struct Scheduler<'a, E, S, L = Uncoordinated, A = Uncoordinated> {
    executor: &'a E,
    store: &'a S,
    lock: &'a L,
    announcer: &'a A,
    quarantine: Option<&'a Quarantine>,
    signer: Option<&'a dyn Signer>,
    trust: Option<&'a Trust>,
    peers: Option<&'a dyn Peers>,
    parallelism: usize,
    /// How many of the tasks in flight run here; past it, the run's own
    /// workers are saturated (the offload policy reads it).
    local_workers: usize,
    /// Tasks running here now, or dispatched to run here.
    local: Cell<usize>,
    /// The tasks that may be offered to a peer, by index, until they are.
    offloadable: RefCell<HashMap<usize, Task>>,
    /// What offering a task to a peer came to.
    offload_notes: RefCell<HashMap<usize, PeerNote>>,
}

static UNCOORDINATED: Uncoordinated = Uncoordinated;

/// How a dispatched task came back.
enum Done {
    /// It ran.
    Ran(Box<Execution>, Vec<Rejection>),
    /// Under the lock, the memo had an answer after all.
    Reused(Box<ReceiptRecord>, Vec<Rejection>),
    /// A reused receipt from another signer was re-run (a spot-check).
    Checked(Box<ReceiptRecord>, Box<Result<Verification, CoreError>>),
}

/// How many ready tasks are looked up in the memo in one read.
const LOOKUP_BATCH: usize = 256;

/// A group commit's batch, and whether it was stored.
type Committed<G> = (Vec<Finished<G>>, Result<(), CoreError>);

/// What is running: jobs, claims waiting for a busy lock, spot-checks.
type Running<'s, G> = FuturesUnordered<LocalBoxFuture<'s, (usize, Done, Option<G>)>>;

/// What woke a run up.
enum Woken<G> {
    Cancelled,
    Committed(Committed<G>),
    Claimed(Vec<Claimed<G>>),
    Done((usize, Done, Option<G>)),
}

/// What claiming a job found ([`Scheduler::claim`]).
enum Claimed<G> {
    /// Another runtime finished task `.0` meanwhile: its receipt answers.
    Hit(usize, Box<ReceiptRecord>, Vec<Rejection>, Option<G>),
    /// Locked (or there is no lock to take), and still no answer: run it.
    Run(Box<Job>, Vec<Rejection>, Option<G>),
    /// Another runtime holds its lock.
    Busy(Box<Job>),
}

/// What a ready task needs.
enum Next {
    /// To run this job.
    Run(Box<Job>),
    /// A spot-check of the receipt that would answer task `.0`.
    Check(usize, Box<ReceiptRecord>),
}

impl<'a, E: Executor, S: ReceiptStore> Scheduler<'a, E, S> {
    /// A scheduler that runs up to 8 tasks at once, uncoordinated.
    pub fn new(executor: &'a E, store: &'a S) -> Self {
        Self {
            executor,
            store,
            lock: &UNCOORDINATED,
            announcer: &UNCOORDINATED,
            quarantine: None,
            signer: None,
            trust: None,
            peers: None,
            parallelism: 8,
            local_workers: 8,
            local: Cell::new(0),
            offloadable: RefCell::default(),
            offload_notes: RefCell::default(),
        }
    }
}

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// Coordinates with the other runtimes of the store: `lock` is taken
    /// before a task runs, `announcer` hears of each receipt written.
    pub fn with_coordination<L2: InstructionLock, A2: Announcer>(
        self,
        lock: &'a L2,
        announcer: &'a A2,
    ) -> Scheduler<'a, E, S, L2, A2> {
        Scheduler {
            executor: self.executor,
            store: self.store,
            lock,
            announcer,
            quarantine: self.quarantine,
            signer: self.signer,
            trust: self.trust,
            peers: self.peers,
            parallelism: self.parallelism,
            local_workers: self.local_workers,
            local: self.local,
            offloadable: self.offloadable,
            offload_notes: self.offload_notes,
        }
    }

    /// Remembers rejected rows across runs (a runtime keeps one), so that
    /// each is reported once; without it, each run keeps its own.
    pub fn with_quarantine(mut self, quarantine: &'a Quarantine) -> Self {
        self.quarantine = Some(quarantine);
        self
    }

    /// Signs every receipt it writes with `signer`, and reuses receipts
    /// from elsewhere under `trust` (spot-checking them at its rate).
    /// Without it, receipts are unsigned and only receipts computed or
    /// verified here, or vouched for when stored, are reused.
    pub fn with_identity(mut self, signer: &'a dyn Signer, trust: &'a Trust) -> Self {
        self.signer = Some(signer);
        self.trust = Some(trust);
        self
    }

    /// Asks `peers` for receipts of the ready tasks its memo misses, before
    /// they run (one request per ready set); what they send is taken under
    /// the trust policy of [`Scheduler::with_identity`], without which no
    /// peer is asked.
    pub fn with_peers(mut self, peers: &'a dyn Peers) -> Self {
        self.peers = Some(peers);
        self
    }

    /// Sets how many tasks may run at once (at least 1), all of them here.
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
        self.local_workers = self.parallelism;
        self
    }

    /// Keeps up to `slots` more tasks in flight than run here, for the
    /// peers to run ([`Peers::offload`]): this run's own workers stay at
    /// [`Scheduler::with_parallelism`]'s number.
    pub fn with_offload_slots(mut self, slots: usize) -> Self {
        self.parallelism = self.local_workers + slots;
        self
    }

    /// Runs a workflow to the end, or until `cancel` fires (then it returns
    /// [`CoreError::Cancelled`]; receipts already written stay written).
    pub async fn run(
        &self,
        wf: &Workflow,
        on_event: &mut dyn FnMut(&Event),
        cancel: &CancelToken,
    ) -> Result<RunReport, CoreError> {
        let own = Quarantine::new();
        let q = self.quarantine.unwrap_or(&own);
        let mut st = self.plan(wf, q, on_event).await?;
        st.catching = wf.catch.is_some();
        // The run's copy of the workflow: handlers are appended to it, and
        // the tasks after a handled failure rewritten (see `catching`).
        let mut wf = std::borrow::Cow::Borrowed(wf);
        for (i, t) in wf.tasks.iter().enumerate() {
            on_event(&Event::Queued {
                task: i,
                instruction: t.run.cid(),
            });
        }
        // Jobs running, claims dispatched while their lock is busy, and spot-checks.
        let mut running: Running<'_, L::Guard> = FuturesUnordered::new();
        // Jobs looked up in the memo and missed, waiting for a free slot.
        let mut prepared: VecDeque<Next> = VecDeque::new();
        // Receipts waiting for the next group commit, and the one in flight.
        let mut finished: Vec<Finished<L::Guard>> = Vec::new();
        let mut committing: Option<LocalBoxFuture<'_, Committed<L::Guard>>> = None;
        // Jobs being claimed (their locks and the memo's second look).
        let mut claiming: Option<LocalBoxFuture<'_, Vec<Claimed<L::Guard>>>> = None;
        loop {
            if cancel.is_cancelled() {
                return Err(self.cancelled(committing).await);
            }
            self.catches(&mut wf, &mut st, on_event)?;
            let mut batch = Vec::new();
            while claiming.is_none() && running.len() + batch.len() < self.parallelism {
                if prepared.is_empty() {
                    // No other await while a commit is in flight: the commit
                    // must be polled as soon as its store answers (an
                    // IndexedDB transaction ends once its callbacks return
                    // with no request made), and only the wait below polls it.
                    if committing.is_some() {
                        break;
                    }
                    let ready: Vec<usize> = (0..LOOKUP_BATCH)
                        .map_while(|_| st.ready.pop_front())
                        .collect();
                    if ready.is_empty() {
                        break;
                    }
                    prepared.extend(self.prepare(&wf, &mut st, q, ready, on_event).await?);
                    // Memo hits of failures may have started handlers.
                    self.catches(&mut wf, &mut st, on_event)?;
                    continue;
                }
                match prepared.pop_front() {
                    Some(Next::Run(job)) => {
                        on_event(&Event::Started {
                            task: job.task,
                            instruction: job.instruction,
                        });
                        batch.push(*job);
                    }
                    Some(Next::Check(i, rec)) => running.push(Box::pin(self.check(q, i, rec))),
                    None => {}
                }
            }
            if !batch.is_empty() {
                claiming = Some(Box::pin(self.claim(q, batch)));
            }
            if committing.is_none() && !finished.is_empty() {
                let batch = std::mem::take(&mut finished);
                committing = Some(Box::pin(self.commit(batch)));
            }
            if running.is_empty() && committing.is_none() && claiming.is_none() {
                if st.ready.is_empty() && prepared.is_empty() {
                    break;
                }
                continue;
            }
            let woken = {
                let mut cancelled = pin!(cancel.cancelled());
                futures::future::poll_fn(|cx| {
                    if cancelled.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Woken::Cancelled);
                    }
                    if let Some(c) = committing.as_mut() {
                        if let Poll::Ready(out) = c.as_mut().poll(cx) {
                            committing = None;
                            return Poll::Ready(Woken::Committed(out));
                        }
                    }
                    if let Some(c) = claiming.as_mut() {
                        if let Poll::Ready(out) = c.as_mut().poll(cx) {
                            claiming = None;
                            return Poll::Ready(Woken::Claimed(out));
                        }
                    }
                    match running.poll_next_unpin(cx) {
                        Poll::Ready(Some(done)) => Poll::Ready(Woken::Done(done)),
                        _ => Poll::Pending,
                    }
                })
                .await
            };
            match woken {
                Woken::Cancelled => return Err(self.cancelled(committing).await),
                Woken::Committed((batch, result)) => {
                    // Nothing of a batch that failed was stored: the run fails.
                    result?;
                    self.committed(&mut st, batch, on_event);
                }
                Woken::Claimed(claimed) => {
                    self.claimed(q, &mut st, claimed, &mut running, on_event)
                }
                Woken::Done(first) => {
                    // Every task that came back meanwhile joins the next commit.
                    let mut done = vec![first];
                    while let Some(Some(more)) = running.next().now_or_never() {
                        done.push(more);
                    }
                    // A result that arrives once the run is cancelled may be the
                    // executor's own reaction to the cancellation: never record it.
                    if cancel.is_cancelled() {
                        return Err(self.cancelled(committing).await);
                    }
                    self.came_back(&wf, &mut st, done, &mut finished, on_event)?;
                }
            }
        }
        let tasks = wf
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| TaskReport {
                task: i,
                instruction: t.run.cid(),
                engine: st.engines.get(&i).and_then(|e| e.0.clone()),
                micros: st.engines.remove(&i).and_then(|e| e.1),
                spot_check: st.must_run.remove(&i),
                peers: merge_notes(
                    st.peer_notes.remove(&i),
                    self.offload_notes.borrow_mut().remove(&i),
                ),
                catch: match (st.handler_of.get(&i), st.caught.remove(&i)) {
                    (Some(&of), _) => Some(CatchNote::Handler { of }),
                    (None, Some((by, how))) => Some(CatchNote::Handled { by, how }),
                    (None, None) => None,
                },
                status: st.status[i]
                    .take()
                    .unwrap_or_else(|| TaskStatus::Skipped("never became ready".into())),
            })
            .collect();
        Ok(RunReport { tasks })
    }

    /// Ends a cancelled run: a group commit in flight finishes first (its
    /// receipts are of tasks that ran before the cancel), so a write is
    /// never cut half-way.
    async fn cancelled(
        &self,
        committing: Option<LocalBoxFuture<'_, Committed<L::Guard>>>,
    ) -> CoreError {
        if let Some(c) = committing {
            let _ = c.await;
        }
        CoreError::Cancelled
    }

    /// Wake-up: a batch of claims ended. A task another runtime finished
    /// meanwhile is a memo hit; a locked one runs; a busy one waits for its
    /// lock alone.
    fn claimed<'s>(
        &'s self,
        q: &'s Quarantine,
        st: &mut RunState,
        claimed: Vec<Claimed<L::Guard>>,
        running: &mut Running<'s, L::Guard>,
        on_event: &mut dyn FnMut(&Event),
    ) {
        for c in claimed {
            match c {
                Claimed::Hit(i, rec, rejected, guard) => {
                    report(i, rec.instruction, rejected, on_event);
                    memo_hit(st, i, *rec, on_event);
                    drop(guard);
                }
                Claimed::Run(job, rejected, guard) => {
                    // A worker here is taken now, as the job is dispatched:
                    // the offload policy sees how many run here once every
                    // job of the batch has its place.
                    let here = self.reserve_here();
                    running.push(Box::pin(self.execute(q, *job, rejected, guard, here)))
                }
                Claimed::Busy(job) => running.push(Box::pin(self.dispatch(q, job.task, *job))),
            }
        }
    }

    /// Wake-up: tasks came back. Receipts of tasks that ran join the next
    /// group commit; a memo hit found under the lock answers its task; a
    /// spot-check settles its task.
    fn came_back(
        &self,
        wf: &Workflow,
        st: &mut RunState,
        done: Vec<(usize, Done, Option<L::Guard>)>,
        finished: &mut Vec<Finished<L::Guard>>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<(), CoreError> {
        for (i, done, guard) in done {
            let instruction = wf.tasks[i].run.cid();
            match done {
                Done::Reused(rec, rejected) => {
                    report(i, instruction, rejected, on_event);
                    memo_hit(st, i, *rec, on_event);
                    drop(guard);
                }
                Done::Ran(ex, rejected) => {
                    report(i, instruction, rejected, on_event);
                    match self.finished(wf, i, *ex, guard)? {
                        Ok(f) => finished.push(f),
                        Err(why) => {
                            on_event(&Event::Failed {
                                task: i,
                                instruction,
                                receipt: None,
                                reason: why.clone(),
                            });
                            st.complete(i, TaskStatus::Skipped(why));
                        }
                    }
                }
                Done::Checked(rec, verification) => {
                    self.checked(st, i, *rec, *verification, on_event);
                }
            }
        }
        Ok(())
    }
}

/// What asking the peers for a task's receipt said, and what offering it
/// to one said, as one note.
fn merge_notes(asked: Option<PeerNote>, offered: Option<PeerNote>) -> Option<PeerNote> {
    match (asked, offered) {
        (Some(mut a), Some(o)) => {
            a.unused.extend(o.unused);
            if o.ran_on.is_some() {
                a.from = o.from;
                a.ran_on = o.ran_on;
            }
            Some(a)
        }
        (a, o) => a.or(o),
    }
}
