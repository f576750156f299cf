//! Running jobs: claiming a batch of them (their locks and a second look in
//! the memo under them), dispatching one that waits for its lock, and
//! executing one.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// Takes the instruction's lock, looks in the memo again under it, and
    /// runs the job unless another runtime finished it meanwhile.
    pub(super) async fn dispatch(
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
        let here = self.reserve_here();
        self.execute(q, job, rejected, guard, here).await
    }

    /// Takes one of this run's own workers for a job about to be
    /// dispatched, if one is free: `false` means they are saturated.
    pub(super) fn reserve_here(&self) -> bool {
        let free = self.local.get() < self.local_workers;
        if free {
            self.local.set(self.local.get() + 1);
        }
        free
    }

    /// Runs a job whose lock is held (or that has none to take): on a peer
    /// if the offload policy sends it there and the receipt that comes
    /// back is taken, else here.
    /// `here`: a worker of this run was taken for it
    /// ([`Scheduler::reserve_here`]); else this run's workers were saturated
    /// when it was dispatched.
    pub(super) async fn execute(
        &self,
        q: &Quarantine,
        job: Job,
        rejected: Vec<Rejection>,
        guard: Option<L::Guard>,
        here: bool,
    ) -> (usize, Done, Option<L::Guard>) {
        let i = job.task;
        if let Some(rec) = self.offload(q, &job, !here).await {
            if here {
                self.local.set(self.local.get() - 1);
            }
            // A peer's receipt is re-run here at the spot-check rate, as a
            // memo hit vouched for by another signer is.
            if self.trust.is_some_and(Trust::spot_check) {
                let (i, done, _) = self.check(q, i, Box::new(rec)).await;
                return (i, done, guard);
            }
            return (i, Done::Reused(Box::new(rec), rejected), guard);
        }
        if !here {
            self.local.set(self.local.get() + 1);
        }
        let ex = self.executor.execute(job).await;
        self.local.set(self.local.get() - 1);
        (i, Done::Ran(Box::new(ex), rejected), guard)
    }

    /// Offers the job's task to a peer under the policy of [`Peers::offload`]:
    /// the receipt the peer sends is checked and stored under the trust
    /// policy as any receipt from a peer is, and read back from the memo.
    /// `None` (the task runs here): kept here by the policy, refused,
    /// `busy`, no answer, or a receipt this runtime does not take; the
    /// task's note says which.
    async fn offload(&self, q: &Quarantine, job: &Job, saturated: bool) -> Option<ReceiptRecord> {
        let (Some(peers), Some(trust)) = (self.peers, self.trust) else {
            return None;
        };
        let task = self.offloadable.borrow_mut().remove(&job.task)?;
        let offered = peers.offload(&task, saturated).await?;
        let peer = offered.peer;
        let mut note = PeerNote::default();
        let why = match offered.answer {
            Err(why) => why,
            Ok(delivery) => {
                match crate::peer::deliver::accept(self.store, trust, &job.instruction, &delivery)
                    .await
                {
                    Err(e) => format!("the store failed: {e}"),
                    Ok(Err(unused)) => format!("{}: {unused}", unused.code()),
                    Ok(Ok(row)) => {
                        match crate::peer::deliver::store_received(self.store, vec![row]).await {
                            Err(e) => format!("the store failed: {e}"),
                            Ok(()) => {
                                match memo::lookup(self.store, q, Some(trust), &job.instruction)
                                    .await
                                {
                                    Ok(Checked {
                                        value: Some(rec), ..
                                    }) => {
                                        note.from = Some(peer.clone());
                                        note.ran_on = Some(peer);
                                        self.offload_notes.borrow_mut().insert(job.task, note);
                                        return Some(rec);
                                    }
                                    Ok(_) => {
                                        "its receipt, once stored, does not answer the memo".into()
                                    }
                                    Err(e) => format!("the store failed: {e}"),
                                }
                            }
                        }
                    }
                }
            }
        };
        note.unused.push(format!("{peer}: offload: {why}"));
        self.offload_notes.borrow_mut().insert(job.task, note);
        None
    }

    /// Claims a batch of jobs: each lock is asked for at once, without
    /// waiting for one another runtime holds, and the jobs locked look in
    /// the memo again together (one read). A job whose lock is busy goes
    /// the single way ([`Scheduler::dispatch`]), waiting for the lock.
    pub(super) async fn claim(&self, q: &Quarantine, jobs: Vec<Job>) -> Vec<Claimed<L::Guard>> {
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
}
