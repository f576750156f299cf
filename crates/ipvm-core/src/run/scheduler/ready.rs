//! Deciding what a ready task needs: the plan of a run (the graph and what
//! is already known), the memo asked for a batch of ready tasks, their
//! arguments with awaits filled in, and the decision per task (a memo hit,
//! a spot-check, or a job to run).

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// Validates what needs the store and the executor, and builds the graph.
    pub(super) async fn plan(
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
            peer_notes: Default::default(),
            engines: Default::default(),
            catching: false,
            handler_of: HashMap::new(),
            to_catch: Vec::new(),
            to_settle: Vec::new(),
            caught: HashMap::new(),
        };
        for (i, t) in wf.tasks.iter().enumerate() {
            st.effectful[i] = self
                .executor
                .ops()
                .lookup(i, &t.run.op)?
                .class
                .is_effectful();
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
    pub(super) async fn prepare(
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
        let mut found = memo::lookup_many(self.store, q, self.trust, &instructions).await?;
        if let (Some(peers), Some(trust)) = (self.peers, self.trust) {
            // The misses go to the peers; what they send is stored (or not)
            // by the trust policy, and the memo is read again for those.
            let misses: Vec<usize> = (0..found.len())
                .filter(|&k| found[k].value.is_none())
                .collect();
            if !misses.is_empty() {
                let asked: Vec<Cid> = misses.iter().map(|&k| instructions[k]).collect();
                let mut notes = crate::peer::ask::ask(self.store, trust, peers, &asked).await?;
                let taken: Vec<usize> = misses
                    .iter()
                    .copied()
                    .filter(|&k| {
                        notes
                            .get(&instructions[k])
                            .is_some_and(|n| n.from.is_some())
                    })
                    .collect();
                if !taken.is_empty() {
                    let again: Vec<Cid> = taken.iter().map(|&k| instructions[k]).collect();
                    let reread = memo::lookup_many(self.store, q, self.trust, &again).await?;
                    for (k, f) in taken.into_iter().zip(reread) {
                        // The first read's rejections are still reported.
                        let first = std::mem::replace(&mut found[k], f);
                        found[k].rejected.splice(0..0, first.rejected);
                    }
                }
                for k in misses {
                    if let Some(note) = notes.remove(&instructions[k]) {
                        st.peer_notes.insert(wanted[k].0, note);
                    }
                }
            }
        }
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
    pub(super) fn arguments(
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
    pub(super) fn decide(
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
        if self.peers.is_some() && !st.effectful[i] {
            // Pure tasks only: an effect runs where its workflow runs.
            self.offloadable.borrow_mut().insert(i, task.clone());
        }
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
}
