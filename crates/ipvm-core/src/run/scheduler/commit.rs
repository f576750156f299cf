//! Group commits: a task that ran becomes a receipt waiting for the next
//! commit; a commit signs what was not signed where it ran, stores the batch
//! in one write, and then reports and announces each receipt.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

/// A task that ran, its receipt waiting for a group commit.
pub(super) struct Finished<G> {
    pub(super) task: usize,
    pub(super) record: ReceiptRecord,
    /// The blocks the receipt links to (its invocation).
    pub(super) blocks: Vec<(Cid, Vec<u8>)>,
    /// The receipt's envelope: this runtime's once signed, or for a result
    /// from elsewhere the envelope of the principal that computed it.
    pub(super) envelope: Option<Envelope>,
    /// Computed by another principal: stored as `received`, not signed here.
    pub(super) received: bool,
    pub(super) fuel: u64,
    pub(super) engine: (Option<String>, Option<u64>),
    /// The instruction's lock, held until the receipt is written.
    pub(super) guard: Option<G>,
}

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// The receipt of task `i`'s execution, to be stored by a group commit.
    /// Done here: the executor's envelope is kept if it signed where it ran
    /// (a worker with this runtime's key: same-origin code, so its signer
    /// and receipt are compared, not its signature); otherwise the commit
    /// signs here. Done elsewhere: the other principal's envelope must check
    /// out (its signature, over this very receipt), and it is the only one
    /// the receipt gets; else the result is refused (`Ok(Err(why))`): it is
    /// not stored, and the task ends without a receipt.
    #[allow(
        clippy::type_complexity,
        reason = "a failure of the run, or a refusal of this result alone"
    )]
    pub(super) fn finished(
        &self,
        wf: &Workflow,
        i: usize,
        ex: Execution,
        guard: Option<L::Guard>,
    ) -> Result<Result<Finished<L::Guard>, String>, CoreError> {
        let task = &wf.tasks[i];
        let (ran, invocation) = task.invocation()?;
        let receipt = Receipt::of_execution(ran, &ex, task.prf.clone());
        let cid = receipt.cid()?;
        let received = ex.origin == Origin::Elsewhere;
        let envelope = if received {
            let checked = ex
                .envelope
                .as_deref()
                .ok_or_else(|| "it came without the envelope of who computed it".to_string())
                .and_then(|b| Envelope::check_for(b, &cid).map_err(|e| e.to_string()));
            match checked {
                Ok(e) => Some(e),
                Err(why) => {
                    return Ok(Err(format!(
                        "the result computed elsewhere for receipt {cid} was refused: {why}"
                    )))
                }
            }
        } else {
            self.signer.and_then(|signer| {
                ex.envelope
                    .as_deref()
                    .and_then(|b| Envelope::unverified(b).ok())
                    .filter(|e| e.receipt == cid && e.signer == *signer.did())
            })
        };
        Ok(Ok(Finished {
            task: i,
            record: ReceiptRecord {
                cid,
                receipt,
                instruction: task.run.cid(),
                inputs: task.run.inputs(),
                provenance: match received {
                    true => Provenance::Received,
                    false => Provenance::Computed,
                },
                envelopes: Vec::new(),
                vouched: false,
            },
            blocks: vec![(ran, invocation)],
            envelope,
            received,
            fuel: ex.fuel,
            engine: (ex.engine, ex.micros),
            guard,
        }))
    }

    /// A group commit: signs the receipts not signed where they ran, then
    /// stores every receipt of the batch, with its envelope and the
    /// invocation it links to, in one write (all or none).
    pub(super) async fn commit(
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
                // This runtime's own envelope vouches; another's only if
                // the policy trusts its signer (none without a policy).
                f.record.vouched = match (&f.envelope, f.received) {
                    (Some(e), true) => self.trust.is_some_and(|t| t.trusts(&e.signer)),
                    (Some(_), false) => true,
                    (None, _) => false,
                };
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
    pub(super) fn committed(
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
