//! The dataflow scheduler.
//!
//! Given a [`Workflow`], it runs every task whose inputs are ready, up to a
//! parallelism, through an [`Executor`]. Before dispatching a task it asks the
//! memo ([`crate::memo::lookup`]) for a receipt of the same instruction that
//! this runtime vouches for; a hit is reused and nothing runs. Runtimes that
//! share a store coordinate through [`crate::coordinate`]: a lock per
//! instruction, a second memo lookup under it, an announcement once the
//! receipt is written. A failure propagates to the tasks that await
//! it, with the cause. Effectful tasks run last, only once every pure task of
//! the workflow has succeeded, so a failed run is always safe to retry.
//! Progress is reported as [`Event`]s; a [`CancelToken`] stops a run.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};

use cid::Cid;
use futures::future::{Either, FutureExt, LocalBoxFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use ipld_core::ipld::Ipld;

use crate::awaits::{substitute, AwaitKind};
use crate::coordinate::{Announcer, Busy, InstructionLock, Uncoordinated};
use crate::envelope::Envelope;
use crate::identity::Signer;
use crate::memo::{self, Checked, Quarantine, Rejection};
use crate::receipt::{Outcome, Provenance, Receipt, ReceiptRecord};
use crate::store::ReceiptStore;
use crate::trust::Trust;
use crate::verify::{Verdict, Verification};
use crate::workflow::{Limits, Workflow};
use crate::{CoreError, ValidationError};

/// Whether an operation only computes (pure) or acts on the world (effectful).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purity {
    /// Computes a value from its inputs; safe to run any number of times.
    Pure,
    /// Has effects; runs only after every pure task has succeeded.
    Effectful,
}

/// One task, ready to execute: awaits replaced by the values they stand for.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Index of the task in its workflow.
    pub task: usize,
    /// The instruction's CID.
    pub instruction: Cid,
    /// CID of the module to run.
    pub module: Cid,
    /// The operation.
    pub op: String,
    /// The function to call.
    pub func: String,
    /// Arguments with every await resolved.
    pub args: Vec<Ipld>,
    /// Limits.
    pub limits: Limits,
    /// The invocation the receipt will name (`ran`) and its proofs (`prf`),
    /// so that an executor holding the runtime's key (a worker) can build
    /// the receipt's CID and sign it where it ran. `None`: nobody signs there.
    pub receipt: Option<(Cid, Vec<Cid>)>,
    /// The engine the job should run on (`fast` or `wasmi`), if the caller
    /// asks for one (a check on another engine); `None`: the executor's
    /// choice. Never part of the receipt: every engine gives the same one.
    pub engine: Option<String>,
}

fn field<'a>(
    m: &'a std::collections::BTreeMap<String, Ipld>,
    k: &str,
) -> Result<&'a Ipld, CoreError> {
    m.get(k).ok_or_else(|| CoreError::Decode {
        format: "job",
        reason: format!("missing `{k}`"),
    })
}

fn text(v: &Ipld, k: &str) -> Result<String, CoreError> {
    match v {
        Ipld::String(s) => Ok(s.clone()),
        _ => Err(CoreError::Decode {
            format: "job",
            reason: format!("`{k}` must be a string"),
        }),
    }
}

fn link(v: &Ipld, k: &str) -> Result<Cid, CoreError> {
    match v {
        Ipld::Link(c) => Ok(*c),
        _ => Err(CoreError::Decode {
            format: "job",
            reason: format!("`{k}` must be a link"),
        }),
    }
}

impl Job {
    /// The job as IPLD, to send it to another thread or peer.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(std::collections::BTreeMap::from([
            ("task".to_string(), Ipld::Integer(self.task as i128)),
            ("instruction".to_string(), Ipld::Link(self.instruction)),
            ("module".to_string(), Ipld::Link(self.module)),
            ("op".to_string(), Ipld::String(self.op.clone())),
            ("func".to_string(), Ipld::String(self.func.clone())),
            ("args".to_string(), Ipld::List(self.args.clone())),
            ("limits".to_string(), self.limits.to_ipld()),
            (
                "engine".to_string(),
                self.engine.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "receipt".to_string(),
                self.receipt.as_ref().map_or(Ipld::Null, |(ran, prf)| {
                    Ipld::List(vec![
                        Ipld::Link(*ran),
                        Ipld::List(prf.iter().map(|c| Ipld::Link(*c)).collect()),
                    ])
                }),
            ),
        ]))
    }

    /// Reads a job back from [`Job::to_ipld`].
    pub fn from_ipld(v: &Ipld) -> Result<Self, CoreError> {
        let Ipld::Map(m) = v else {
            return Err(CoreError::Decode {
                format: "job",
                reason: "not a map".into(),
            });
        };
        Ok(Job {
            task: match field(m, "task")? {
                Ipld::Integer(i) => usize::try_from(*i).unwrap_or(0),
                _ => 0,
            },
            instruction: link(field(m, "instruction")?, "instruction")?,
            module: link(field(m, "module")?, "module")?,
            op: text(field(m, "op")?, "op")?,
            func: text(field(m, "func")?, "func")?,
            args: match field(m, "args")? {
                Ipld::List(a) => a.clone(),
                _ => {
                    return Err(CoreError::Decode {
                        format: "job",
                        reason: "`args` must be a list".into(),
                    })
                }
            },
            limits: Limits::from_ipld(field(m, "limits")?)?,
            receipt: match m.get("receipt") {
                Some(Ipld::List(pair)) => match pair.as_slice() {
                    [Ipld::Link(ran), Ipld::List(prf)] => Some((
                        *ran,
                        prf.iter()
                            .map(|p| link(p, "receipt.prf"))
                            .collect::<Result<_, _>>()?,
                    )),
                    _ => {
                        return Err(CoreError::Decode {
                            format: "job",
                            reason: "`receipt` must be [ran, [prf…]]".into(),
                        })
                    }
                },
                _ => None,
            },
            engine: match m.get("engine") {
                Some(Ipld::String(e)) => Some(e.clone()),
                _ => None,
            },
        })
    }
}

/// What an executor reports for one job.
#[derive(Debug, Clone, PartialEq)]
pub struct Execution {
    /// Output or error.
    pub out: Outcome,
    /// Fuel consumed.
    pub fuel: u64,
    /// The result depends on the machine (a clock was read, or a time limit hit).
    pub nondeterministic: bool,
    /// The limit that stopped the run (`fuel`, `memory`, `stack`, `time`), if any.
    pub limit: Option<String>,
    /// Log lines the task wrote.
    pub logs: Vec<String>,
    /// The runtime's envelope of the receipt of this execution, if the
    /// executor signed it where it ran (a worker holding the runtime's key).
    pub envelope: Option<Vec<u8>>,
    /// The engine that ran the task (`fast`, `wasmi`), for reports; not
    /// part of the receipt, whose content is the same on every engine.
    pub engine: Option<String>,
    /// How long the execution took where it ran, in microseconds (module
    /// loading, arguments, the call, the output), for reports only.
    pub micros: Option<u64>,
}

impl Execution {
    /// The execution as IPLD, to send it back from another thread or peer.
    pub fn to_ipld(&self) -> Ipld {
        Ipld::Map(std::collections::BTreeMap::from([
            ("out".to_string(), self.out.to_ipld()),
            ("fuel".to_string(), Ipld::Integer(self.fuel.into())),
            (
                "nondeterministic".to_string(),
                Ipld::Bool(self.nondeterministic),
            ),
            (
                "limit".to_string(),
                self.limit.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "logs".to_string(),
                Ipld::List(self.logs.iter().cloned().map(Ipld::String).collect()),
            ),
            (
                "envelope".to_string(),
                self.envelope.clone().map_or(Ipld::Null, Ipld::Bytes),
            ),
            (
                "engine".to_string(),
                self.engine.clone().map_or(Ipld::Null, Ipld::String),
            ),
            (
                "micros".to_string(),
                self.micros.map_or(Ipld::Null, |m| Ipld::Integer(m.into())),
            ),
        ]))
    }

    /// Reads an execution back from [`Execution::to_ipld`].
    pub fn from_ipld(v: &Ipld) -> Result<Self, CoreError> {
        let bad = |r: &str| CoreError::Decode {
            format: "execution",
            reason: r.into(),
        };
        let Ipld::Map(m) = v else {
            return Err(bad("not a map"));
        };
        let out = match m.get("out") {
            Some(Ipld::List(pair)) if pair.len() == 2 => match &pair[0] {
                Ipld::String(t) if t == "ok" => Outcome::Ok(pair[1].clone()),
                Ipld::String(t) if t == "error" => Outcome::Err(pair[1].clone()),
                _ => return Err(bad("`out` must start with ok or error")),
            },
            _ => return Err(bad("`out` must be [tag, value]")),
        };
        Ok(Execution {
            out,
            fuel: match m.get("fuel") {
                Some(Ipld::Integer(i)) => u64::try_from(*i).unwrap_or(0),
                _ => 0,
            },
            nondeterministic: matches!(m.get("nondeterministic"), Some(Ipld::Bool(true))),
            limit: match m.get("limit") {
                Some(Ipld::String(s)) => Some(s.clone()),
                _ => None,
            },
            logs: match m.get("logs") {
                Some(Ipld::List(l)) => l
                    .iter()
                    .filter_map(|x| {
                        if let Ipld::String(s) = x {
                            Some(s.clone())
                        } else {
                            None
                        }
                    })
                    .collect(),
                _ => Vec::new(),
            },
            envelope: match m.get("envelope") {
                Some(Ipld::Bytes(b)) => Some(b.clone()),
                _ => None,
            },
            engine: match m.get("engine") {
                Some(Ipld::String(e)) => Some(e.clone()),
                _ => None,
            },
            micros: match m.get("micros") {
                Some(Ipld::Integer(i)) => u64::try_from(*i).ok(),
                _ => None,
            },
        })
    }

    /// A successful execution.
    pub fn ok(value: Ipld, fuel: u64) -> Self {
        Self {
            out: Outcome::Ok(value),
            fuel,
            nondeterministic: false,
            limit: None,
            logs: Vec::new(),
            envelope: None,
            engine: None,
            micros: None,
        }
    }

    /// A failed execution.
    pub fn error(value: Ipld, fuel: u64) -> Self {
        Self {
            out: Outcome::Err(value),
            fuel,
            nondeterministic: false,
            limit: None,
            logs: Vec::new(),
            envelope: None,
            engine: None,
            micros: None,
        }
    }
}

/// Runs jobs. Implemented by the wasmi executor, worker pools and remote peers.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait Executor {
    /// Whether `op` is known, and if so whether it is pure.
    fn purity(&self, op: &str) -> Option<Purity>;
    /// Runs one job. Failures of the task are an `Execution` with an error
    /// outcome, not an `Err`: they still produce a receipt.
    async fn execute(&self, job: Job) -> Execution;
}

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

/// Cancels a run from anywhere (another task, a JS AbortSignal).
#[derive(Clone, Default)]
pub struct CancelToken(Arc<Mutex<(bool, Vec<Waker>)>>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run that holds this token.
    pub fn cancel(&self) {
        if let Ok(mut g) = self.0.lock() {
            g.0 = true;
            g.1.drain(..).for_each(Waker::wake);
        }
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.lock().map(|g| g.0).unwrap_or(true)
    }

    /// Resolves once the token is cancelled.
    pub fn cancelled(&self) -> impl Future<Output = ()> + '_ {
        futures::future::poll_fn(move |cx| match self.0.lock() {
            Ok(mut g) if !g.0 => {
                g.1.push(cx.waker().clone());
                Poll::Pending
            }
            _ => Poll::Ready(()),
        })
    }
}

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
    parallelism: usize,
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

/// Bookkeeping of one run.
struct RunState {
    deps: Vec<Vec<usize>>,
    dependents: Vec<Vec<usize>>,
    waiting: Vec<usize>,
    effectful: Vec<bool>,
    status: Vec<Option<TaskStatus>>,
    results: HashMap<Cid, Outcome>,
    ready: VecDeque<usize>,
    parked_effects: Vec<usize>,
    pure_left: usize,
    pure_failed: bool,
    /// Tasks whose memo answer a spot-check contradicted or could not
    /// check: they run here, and their report says why.
    must_run: HashMap<usize, String>,
    /// The engine each executed task ran on, and how long it took there,
    /// as its executor reported them.
    engines: HashMap<usize, (Option<String>, Option<u64>)>,
}

impl RunState {
    /// Marks task `i` as ended and releases what waited for it.
    fn complete(&mut self, i: usize, status: TaskStatus) {
        let ok = match &status {
            TaskStatus::Ran(r) | TaskStatus::Reused(r) => r.receipt.out.is_ok(),
            TaskStatus::Skipped(_) => false,
        };
        self.status[i] = Some(status);
        if !self.effectful[i] {
            self.pure_left -= 1;
            self.pure_failed |= !ok;
        }
        for d in std::mem::take(&mut self.dependents[i]) {
            self.waiting[d] -= 1;
            if self.waiting[d] == 0 {
                if self.effectful[d] {
                    self.parked_effects.push(d);
                } else {
                    self.ready.push_back(d);
                }
            }
        }
        if self.pure_left == 0 {
            self.ready.extend(self.parked_effects.drain(..));
        }
    }
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
            parallelism: 8,
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
            parallelism: self.parallelism,
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

    /// Sets how many tasks may run at once (at least 1).
    pub fn with_parallelism(mut self, n: usize) -> Self {
        self.parallelism = n.max(1);
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
        for (i, t) in wf.tasks.iter().enumerate() {
            on_event(&Event::Queued {
                task: i,
                instruction: t.run.cid(),
            });
        }
        let mut running = FuturesUnordered::new();
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
                    prepared.extend(self.prepare(wf, &mut st, q, ready, on_event).await?);
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
                    Some(Next::Check(i, rec)) => running.push(Either::Right(self.check(q, i, rec))),
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
                    for c in claimed {
                        match c {
                            Claimed::Hit(i, rec, rejected, guard) => {
                                report(i, rec.instruction, rejected, on_event);
                                memo_hit(&mut st, i, *rec, on_event);
                                drop(guard);
                            }
                            Claimed::Run(job, rejected, guard) => running.push(Either::Left(
                                Either::Left(self.execute(*job, rejected, guard)),
                            )),
                            Claimed::Busy(job) => running.push(Either::Left(Either::Right(
                                self.dispatch(q, job.task, *job),
                            ))),
                        }
                    }
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
                    for (i, done, guard) in done {
                        let instruction = wf.tasks[i].run.cid();
                        match done {
                            Done::Reused(rec, rejected) => {
                                report(i, instruction, rejected, on_event);
                                memo_hit(&mut st, i, *rec, on_event);
                                drop(guard);
                            }
                            Done::Ran(ex, rejected) => {
                                report(i, instruction, rejected, on_event);
                                finished.push(self.finished(wf, i, *ex, guard)?);
                            }
                            Done::Checked(rec, verification) => {
                                self.checked(&mut st, i, *rec, *verification, on_event);
                            }
                        }
                    }
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

    /// Takes the instruction's lock, looks in the memo again under it, and
    /// runs the job unless another runtime finished it meanwhile.
    async fn dispatch(
        &self,
        q: &Quarantine,
        i: usize,
        job: Job,
    ) -> (usize, Done, Option<L::Guard>) {
        let guard = self.lock.acquire(&job.instruction).await;
        let mut rejected = Vec::new();
        if guard.is_some() {
            // A store failure here only costs the second look: the task runs.
            // Only what this runtime computed or verified answers here (what
            // another tab finished meanwhile): a receipt vouched for by a
            // signer would have to be drawn for a spot-check first.
            if let Ok(found) = memo::lookup(self.store, q, None, &job.instruction).await {
                match found.value {
                    Some(rec) => return (i, Done::Reused(Box::new(rec), found.rejected), guard),
                    None => rejected = found.rejected,
                }
            }
        }
        self.execute(job, rejected, guard).await
    }

    /// Runs a job whose lock is held (or that has none to take).
    async fn execute(
        &self,
        job: Job,
        rejected: Vec<Rejection>,
        guard: Option<L::Guard>,
    ) -> (usize, Done, Option<L::Guard>) {
        let i = job.task;
        let ex = self.executor.execute(job).await;
        (i, Done::Ran(Box::new(ex), rejected), guard)
    }

    /// Claims a batch of jobs: each lock is asked for at once, without
    /// waiting for one another runtime holds, and the jobs locked look in
    /// the memo again together (one read). A job whose lock is busy goes
    /// the single way ([`Scheduler::dispatch`]), waiting for the lock.
    async fn claim(&self, q: &Quarantine, jobs: Vec<Job>) -> Vec<Claimed<L::Guard>> {
        let tries =
            futures::future::join_all(jobs.iter().map(|j| self.lock.try_acquire(&j.instruction)))
                .await;
        let locked: Vec<Cid> = jobs
            .iter()
            .zip(&tries)
            .filter(|(_, t)| matches!(t, Ok(Some(_))))
            .map(|(j, _)| j.instruction)
            .collect();
        // A store failure here only costs the second look: the tasks run.
        // Only what this runtime computed or verified answers here (what
        // another tab finished meanwhile).
        let found = match locked.is_empty() {
            true => Vec::new(),
            false => memo::lookup_many(self.store, q, None, &locked)
                .await
                .unwrap_or_default(),
        };
        let mut found = found.into_iter();
        jobs.into_iter()
            .zip(tries)
            .map(|(job, tried)| match tried {
                Err(Busy) => Claimed::Busy(Box::new(job)),
                Ok(None) => Claimed::Run(Box::new(job), Vec::new(), None),
                Ok(Some(guard)) => match found.next() {
                    Some(Checked {
                        value: Some(rec),
                        rejected,
                    }) => Claimed::Hit(job.task, Box::new(rec), rejected, Some(guard)),
                    Some(Checked { rejected, .. }) => {
                        Claimed::Run(Box::new(job), rejected, Some(guard))
                    }
                    None => Claimed::Run(Box::new(job), Vec::new(), Some(guard)),
                },
            })
            .collect()
    }

    /// Validates what needs the store and the executor, and builds the graph.
    async fn plan(
        &self,
        wf: &Workflow,
        q: &Quarantine,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<RunState, CoreError> {
        let index: HashMap<Cid, usize> = wf
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.run.cid(), i))
            .collect();
        let n = wf.tasks.len();
        let mut st = RunState {
            deps: vec![Vec::new(); n],
            dependents: vec![Vec::new(); n],
            waiting: vec![0; n],
            effectful: vec![false; n],
            status: vec![None; n],
            results: HashMap::new(),
            ready: VecDeque::new(),
            parked_effects: Vec::new(),
            pure_left: 0,
            pure_failed: false,
            must_run: Default::default(),
            engines: Default::default(),
        };
        for (i, t) in wf.tasks.iter().enumerate() {
            st.effectful[i] = match self.executor.purity(&t.run.op) {
                Some(p) => p == Purity::Effectful,
                None => {
                    return Err(ValidationError::new(
                        i,
                        "run.op",
                        format!("unknown op `{}`", t.run.op),
                    )
                    .into())
                }
            };
            for a in t.run.awaits() {
                if let Some(&j) = index.get(&a.target) {
                    if !st.deps[i].contains(&j) {
                        st.deps[i].push(j);
                        st.dependents[j].push(i);
                    }
                } else if let std::collections::hash_map::Entry::Vacant(slot) =
                    st.results.entry(a.target)
                {
                    let found = memo::lookup(self.store, q, self.trust, &a.target).await?;
                    let rejected = found.rejected;
                    match found.value {
                        Some(rec) => {
                            slot.insert(rec.receipt.out);
                        }
                        None => {
                            return Err(ValidationError::new(
                                i,
                                "run.input.args",
                                format!(
                                    "{} points at {}, which is neither a task of this workflow nor an instruction with a receipt this runtime vouches for (a receipt imported from a CAR counts once `verify` has re-run it)",
                                    a.kind.key(),
                                    a.target
                                ),
                            )
                            .into())
                        }
                    }
                    report(i, t.run.cid(), rejected, on_event);
                }
            }
            st.waiting[i] = st.deps[i].len();
        }
        st.pure_left = st.effectful.iter().filter(|e| !**e).count();
        for i in 0..n {
            if st.waiting[i] == 0 {
                if st.effectful[i] {
                    st.parked_effects.push(i);
                } else {
                    st.ready.push_back(i);
                }
            }
        }
        if st.pure_left == 0 {
            st.ready.extend(st.parked_effects.drain(..));
        }
        Ok(st)
    }

    /// Resolves a batch of ready tasks: skips those that cannot run, looks
    /// the rest up in the memo together (one read), answers the hits, and
    /// returns what is left to run or to spot-check, in order.
    async fn prepare(
        &self,
        wf: &Workflow,
        st: &mut RunState,
        q: &Quarantine,
        batch: Vec<usize>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Vec<Next>, CoreError> {
        let mut wanted = Vec::with_capacity(batch.len());
        for i in batch {
            if let Some(args) = self.arguments(wf, st, i, on_event) {
                wanted.push((i, args));
            }
        }
        let instructions: Vec<Cid> = wanted.iter().map(|(i, _)| wf.tasks[*i].run.cid()).collect();
        let found = memo::lookup_many(self.store, q, self.trust, &instructions).await?;
        let mut next = Vec::new();
        for ((i, args), found) in wanted.into_iter().zip(found) {
            if let Some(n) = self.decide(wf, st, i, args, found, on_event)? {
                next.push(n);
            }
        }
        Ok(next)
    }

    /// The arguments of ready task `i`, its awaits replaced by their
    /// values; `None` (the task is skipped, with its event) if it cannot run.
    fn arguments(
        &self,
        wf: &Workflow,
        st: &mut RunState,
        i: usize,
        on_event: &mut dyn FnMut(&Event),
    ) -> Option<Vec<Ipld>> {
        let task = &wf.tasks[i];
        let instruction = task.run.cid();
        let skip = |st: &mut RunState, reason: String, on_event: &mut dyn FnMut(&Event)| {
            on_event(&Event::Failed {
                task: i,
                instruction,
                receipt: None,
                reason: reason.clone(),
            });
            st.complete(i, TaskStatus::Skipped(reason));
        };
        if st.effectful[i] && st.pure_failed {
            skip(
                st,
                "effectful task not run: a pure task of the workflow failed".into(),
                on_event,
            );
            return None;
        }
        if let Some(&j) = st.deps[i]
            .iter()
            .find(|&&j| matches!(st.status[j], Some(TaskStatus::Skipped(_))))
        {
            skip(
                st,
                format!("task {j} ({}) did not run", wf.tasks[j].run.cid()),
                on_event,
            );
            return None;
        }
        let results = &st.results;
        let args = task
            .run
            .args
            .iter()
            .map(|a| substitute(a, &|c| results.get(c).cloned()))
            .collect::<Result<Vec<_>, _>>();
        match args {
            Ok(args) => Some(args),
            Err(unsat) => {
                let what = match unsat.r#await.kind {
                    AwaitKind::Ok => "failed",
                    _ => "succeeded",
                };
                let who = wf
                    .tasks
                    .iter()
                    .position(|t| t.run.cid() == unsat.r#await.target);
                let who = who.map_or(format!("{}", unsat.r#await.target), |j| {
                    format!("task {j} ({})", unsat.r#await.target)
                });
                let detail = match &unsat.found {
                    Outcome::Err(e) => format!(": {}", short(e)),
                    Outcome::Ok(_) => String::new(),
                };
                skip(
                    st,
                    format!(
                        "{} awaits {who}, which {what}{detail}",
                        unsat.r#await.kind.key()
                    ),
                    on_event,
                );
                None
            }
        }
    }

    /// Task `i` once the memo was asked: answered by a hit, or a spot-check
    /// or a job to run.
    fn decide(
        &self,
        wf: &Workflow,
        st: &mut RunState,
        i: usize,
        args: Vec<Ipld>,
        found: Checked<Option<ReceiptRecord>>,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<Option<Next>, CoreError> {
        let task = &wf.tasks[i];
        let instruction = task.run.cid();
        let Checked { value, rejected } = found;
        report(i, instruction, rejected, on_event);
        if let Some(rec) = value.filter(|_| !st.must_run.contains_key(&i)) {
            // A receipt only another signer vouches for is re-run at the
            // spot-check rate.
            if !rec.provenance.is_trusted() && self.trust.is_some_and(Trust::spot_check) {
                return Ok(Some(Next::Check(i, Box::new(rec))));
            }
            memo_hit(st, i, rec, on_event);
            return Ok(None);
        }
        // With a key, the executor may sign the receipt where it runs.
        let receipt = match self.signer {
            Some(_) => Some((task.invocation()?.0, task.prf.clone())),
            None => None,
        };
        Ok(Some(Next::Run(Box::new(Job {
            task: i,
            instruction,
            module: task.run.module,
            op: task.run.op.clone(),
            func: task.run.func.clone(),
            args,
            limits: task.limits,
            receipt,
            engine: None,
        }))))
    }

    /// Re-runs the task of a receipt another signer vouched for, as
    /// `verify` does (its own invocation, compared by receipt CID): a
    /// mismatch distrusts the signers that vouched for it.
    async fn check(
        &self,
        q: &Quarantine,
        i: usize,
        rec: Box<ReceiptRecord>,
    ) -> (usize, Done, Option<L::Guard>) {
        let attestor = match (self.signer, self.trust) {
            (Some(s), Some(t)) => Some((s, t)),
            _ => None,
        };
        let verification =
            crate::verify::verify(self.executor, self.store, q, attestor, &rec.cid).await;
        (i, Done::Checked(rec, Box::new(verification)), None)
    }

    /// Settles a spot-check. A match: the receipt is now verified here and
    /// answers the task. A mismatch: its signers are distrusted (the
    /// verification did it), and the task goes back to the ready queue,
    /// where the lie no longer answers. A verification that could not
    /// compare (or failed to run) never serves the receipt either: a signer
    /// could otherwise make every check of its lie incomparable; the task
    /// runs here, and its report says why.
    fn checked(
        &self,
        st: &mut RunState,
        i: usize,
        rec: ReceiptRecord,
        verification: Result<Verification, CoreError>,
        on_event: &mut dyn FnMut(&Event),
    ) {
        let (verdict, distrusted) = match verification {
            Ok(v) => (v.verdict, v.distrusted),
            Err(e) => (Verdict::Incomparable(e.to_string()), Vec::new()),
        };
        on_event(&Event::SpotChecked {
            task: i,
            instruction: rec.instruction,
            receipt: rec.cid,
            verdict: verdict.clone(),
        });
        for did in distrusted {
            on_event(&Event::Distrusted {
                signer: did.to_string(),
                receipt: rec.cid,
                reason: format!(
                    "a re-run here of the task of receipt {} did not write that receipt",
                    rec.cid
                ),
            });
        }
        let rerun = |st: &mut RunState, why: String| {
            st.must_run.insert(i, why);
            st.ready.push_front(i);
        };
        match verdict {
            Verdict::Mismatch => rerun(
                st,
                format!(
                    "a spot-check of receipt {} (signed elsewhere) wrote another receipt: it ran here",
                    rec.cid
                ),
            ),
            Verdict::Match => memo_hit(
                st,
                i,
                ReceiptRecord {
                    provenance: Provenance::Verified,
                    ..rec
                },
                on_event,
            ),
            Verdict::Incomparable(why) => rerun(
                st,
                format!(
                    "a spot-check of receipt {} (signed elsewhere) could not compare ({why}): it ran here instead of serving it",
                    rec.cid
                ),
            ),
        }
    }

    /// The receipt of task `i`'s execution, to be stored by a group commit.
    /// The executor's envelope is kept if it signed where it ran (a worker
    /// with this runtime's key: same-origin code, so its signer and receipt
    /// are compared, not its signature); otherwise the commit signs here.
    fn finished(
        &self,
        wf: &Workflow,
        i: usize,
        ex: Execution,
        guard: Option<L::Guard>,
    ) -> Result<Finished<L::Guard>, CoreError> {
        let task = &wf.tasks[i];
        let (ran, invocation) = task.invocation()?;
        let receipt = Receipt::of_execution(ran, &ex, task.prf.clone());
        let cid = receipt.cid()?;
        let envelope = self.signer.and_then(|signer| {
            ex.envelope
                .as_deref()
                .and_then(|b| Envelope::unverified(b).ok())
                .filter(|e| e.receipt == cid && e.signer == *signer.did())
        });
        Ok(Finished {
            task: i,
            record: ReceiptRecord {
                cid,
                receipt,
                instruction: task.run.cid(),
                inputs: task.run.inputs(),
                provenance: Provenance::Computed,
                envelopes: Vec::new(),
                vouched: false,
            },
            blocks: vec![(ran, invocation)],
            envelope,
            fuel: ex.fuel,
            engine: (ex.engine, ex.micros),
            guard,
        })
    }

    /// A group commit: signs the receipts not signed where they ran, then
    /// stores every receipt of the batch, with its envelope and the
    /// invocation it links to, in one write (all or none).
    async fn commit(
        &self,
        mut batch: Vec<Finished<L::Guard>>,
    ) -> (Vec<Finished<L::Guard>>, Result<(), CoreError>) {
        let result = async {
            if let Some(signer) = self.signer {
                let unsigned: Vec<Cid> = batch
                    .iter()
                    .filter(|f| f.envelope.is_none())
                    .map(|f| f.record.cid)
                    .collect();
                let signed = futures::future::try_join_all(
                    unsigned.iter().map(|cid| Envelope::sign(signer, cid)),
                )
                .await?;
                let mut signed = signed.into_iter();
                for f in batch.iter_mut().filter(|f| f.envelope.is_none()) {
                    f.envelope = signed.next();
                }
            }
            for f in &mut batch {
                f.record.envelopes = f.envelope.iter().cloned().collect();
                f.record.vouched = f.envelope.is_some();
            }
            // The blocks are needed only by the write: moved, not copied.
            let computed = batch
                .iter_mut()
                .map(|f| (&f.record, std::mem::take(&mut f.blocks), f.envelope.clone()))
                .collect();
            memo::store_computed_many(self.store, computed).await
        }
        .await;
        (batch, result)
    }

    /// A committed batch: each receipt is announced and reported, and its
    /// task's dependents may go on; its lock is released.
    fn committed(
        &self,
        st: &mut RunState,
        batch: Vec<Finished<L::Guard>>,
        on_event: &mut dyn FnMut(&Event),
    ) {
        let written: Vec<(Cid, Cid)> = batch
            .iter()
            .map(|f| (f.record.instruction, f.record.cid))
            .collect();
        self.announcer.announce_many(&written);
        for f in batch {
            let Finished {
                task: i,
                record,
                fuel,
                engine,
                guard,
                ..
            } = f;
            let (instruction, cid) = (record.instruction, record.cid);
            match &record.receipt.out {
                Outcome::Ok(_) => on_event(&Event::Finished {
                    task: i,
                    instruction,
                    receipt: cid,
                    fuel,
                }),
                Outcome::Err(e) => on_event(&Event::Failed {
                    task: i,
                    instruction,
                    receipt: Some(cid),
                    reason: short(e),
                }),
            }
            st.results.insert(instruction, record.receipt.out.clone());
            st.engines.insert(i, engine);
            st.complete(i, TaskStatus::Ran(record));
            // The receipt is written and announced: others may go on.
            drop(guard);
        }
    }
}

/// A task that ran, its receipt waiting for a group commit.
struct Finished<G> {
    task: usize,
    record: ReceiptRecord,
    /// The blocks the receipt links to (its invocation).
    blocks: Vec<(Cid, Vec<u8>)>,
    /// This runtime's envelope of the receipt, once signed.
    envelope: Option<Envelope>,
    fuel: u64,
    engine: (Option<String>, Option<u64>),
    /// The instruction's lock, held until the receipt is written.
    guard: Option<G>,
}

/// Reports rows skipped on the way (each once: the quarantine holds them after).
fn report(
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
fn memo_hit(st: &mut RunState, i: usize, rec: ReceiptRecord, on_event: &mut dyn FnMut(&Event)) {
    on_event(&Event::MemoHit {
        task: i,
        instruction: rec.instruction,
        receipt: rec.cid,
    });
    st.results.insert(rec.instruction, rec.receipt.out.clone());
    st.complete(i, TaskStatus::Reused(rec));
}

/// A one-line rendering of an error value.
fn short(e: &Ipld) -> String {
    match e {
        Ipld::String(s) => s.clone(),
        Ipld::Map(m) => match m.get("message") {
            Some(Ipld::String(s)) => s.clone(),
            _ => format!("{e:?}"),
        },
        other => format!("{other:?}"),
    }
}
