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
        self.execute(job, rejected, guard).await
    }

    /// Runs a job whose lock is held (or that has none to take).
    pub(super) async fn execute(
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
