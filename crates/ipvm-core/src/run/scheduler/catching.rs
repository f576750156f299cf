//! The workflow's `catch` during a run: a failed pure task's handler is
//! started as a task of its own (appended to the run's copy of the
//! workflow), and once it ends, its `Handle` settles the failed task:
//!
//! - `ok(v)`: each task that awaits the failed one is rewritten with `v` in
//!   place of the await, and so becomes another instruction, memoized by its
//!   own CID (the instruction with the await still means "what the failed
//!   task gives", and that is still its failure); the tasks after those are
//!   pointed at the rewritten ones, transitively. The failure counts as
//!   handled: the effects may run.
//! - `rewire(cid)`: the tasks that await the failed one await that task of
//!   the workflow instead (refused if it is the failed task or awaits it).
//! - `msg(m)`: the failure stands with message `m` (the `await/error`s and
//!   `await/*`s of it see the new error).
//! - A handler that fails, or answers something else: the failure stands.

#[allow(
    clippy::wildcard_imports,
    reason = "a part of the scheduler: it shares the parent's names"
)]
use super::*;

use std::borrow::Cow;

use crate::model::awaits::{fill, retarget};
use crate::model::catch::Handle;

impl<'a, E: Executor, S: ReceiptStore, L: InstructionLock, A: Announcer> Scheduler<'a, E, S, L, A> {
    /// Starts the handlers of failed tasks and settles the tasks of ended
    /// handlers, until nothing is left to do.
    pub(super) fn catches(
        &self,
        wf: &mut Cow<'_, Workflow>,
        st: &mut RunState,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<(), CoreError> {
        while !st.to_catch.is_empty() || !st.to_settle.is_empty() {
            for x in std::mem::take(&mut st.to_catch) {
                self.start_handler(wf, st, x, on_event)?;
            }
            for h in std::mem::take(&mut st.to_settle) {
                settle(wf, st, h)?;
            }
        }
        Ok(())
    }

    /// Appends the handler of failed task `x` to the run and queues it.
    fn start_handler(
        &self,
        wf: &mut Cow<'_, Workflow>,
        st: &mut RunState,
        x: usize,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<(), CoreError> {
        let error = match &st.status[x] {
            Some(TaskStatus::Ran(r) | TaskStatus::Reused(r)) => match &r.receipt.out {
                Outcome::Err(e) => e.clone(),
                Outcome::Ok(_) => Ipld::Null,
            },
            _ => Ipld::Null,
        };
        let Some(catch) = wf.catch.as_ref() else {
            st.release(x, false);
            return Ok(());
        };
        let task = catch.task_for(wf.tasks[x].run.cid(), &error)?;
        let instruction = task.run.cid();
        let h = wf.tasks.len();
        wf.to_mut().tasks.push(task);
        st.deps.push(Vec::new());
        st.dependents.push(Vec::new());
        st.waiting.push(0);
        st.effectful.push(false);
        st.status.push(None);
        st.pure_left += 1;
        st.handler_of.insert(h, x);
        st.ready.push_back(h);
        on_event(&Event::Queued {
            task: h,
            instruction,
        });
        Ok(())
    }
}

/// Settles the failed task of ended handler `h` by the handler's answer.
fn settle(wf: &mut Cow<'_, Workflow>, st: &mut RunState, h: usize) -> Result<(), CoreError> {
    let x = st.handler_of[&h];
    let answer = match &st.status[h] {
        Some(TaskStatus::Ran(r) | TaskStatus::Reused(r)) => match &r.receipt.out {
            Outcome::Ok(v) => {
                Handle::from_output(v).map_err(|e| format!("the handler's answer was refused: {e}"))
            }
            Outcome::Err(e) => Err(format!("the handler failed: {}", short(e))),
        },
        Some(TaskStatus::Skipped(why)) => Err(format!("the handler did not run: {why}")),
        None => Err("the handler did not end".into()),
    };
    let (how, ok) = match answer {
        Ok(Handle::Ok(v)) => {
            replace(wf, st, x, Outcome::Ok(v))?;
            (Handled::Ok, true)
        }
        Ok(Handle::Msg(m)) => {
            let error = match &st.status[x] {
                Some(TaskStatus::Ran(r) | TaskStatus::Reused(r)) => r.receipt.out.clone(),
                _ => Outcome::Err(Ipld::Null),
            };
            let restated = match error {
                Outcome::Err(Ipld::Map(mut e)) => {
                    e.insert("message".into(), Ipld::String(m.clone()));
                    Ipld::Map(e)
                }
                _ => Ipld::Map([("message".to_string(), Ipld::String(m.clone()))].into()),
            };
            replace(wf, st, x, Outcome::Err(restated))?;
            (Handled::Msg(m), false)
        }
        Ok(Handle::Rewire(target)) => match rewire_target(wf, st, x, &target) {
            Ok(r) => {
                rewire(wf, st, x, r)?;
                st.caught.insert(x, (h, Handled::Rewire { to: r }));
                return Ok(());
            }
            Err(why) => (Handled::Failed(why), false),
        },
        Err(why) => (Handled::Failed(why), false),
    };
    st.caught.insert(x, (h, how));
    st.release(x, ok);
    Ok(())
}

/// The task that `rewire` names: a task of the workflow (not a handler)
/// other than the failed one, that does not await it (at any depth).
fn rewire_target(wf: &Workflow, st: &RunState, x: usize, target: &Cid) -> Result<usize, String> {
    let r = wf
        .tasks
        .iter()
        .enumerate()
        .position(|(i, t)| t.run.cid() == *target && !st.handler_of.contains_key(&i))
        .ok_or_else(|| {
            format!("the handler rewired to {target}, which is not a task of this workflow")
        })?;
    if r == x {
        return Err(format!("the handler rewired task {x} to itself"));
    }
    let mut stack = vec![r];
    let mut seen = vec![false; wf.tasks.len()];
    while let Some(i) = stack.pop() {
        if i == x {
            return Err(format!(
                "the handler rewired task {x} to task {r} ({target}), which awaits it"
            ));
        }
        if !std::mem::replace(&mut seen[i], true) {
            stack.extend(st.deps[i].iter().copied());
        }
    }
    Ok(r)
}

/// Puts `outcome` in place of failed task `x` for what awaits it: each
/// await it satisfies becomes its value (the task becomes another
/// instruction); an await it does not satisfy stays, and is skipped with
/// the outcome as its reason.
fn replace(
    wf: &mut Cow<'_, Workflow>,
    st: &mut RunState,
    x: usize,
    outcome: Outcome,
) -> Result<(), CoreError> {
    let target = wf.tasks[x].run.cid();
    for d in st.dependents[x].clone() {
        let args = wf.tasks[d]
            .run
            .args
            .iter()
            .map(|a| fill(a, &target, &outcome))
            .collect();
        rebuild(wf, st, d, args)?;
    }
    st.results.insert(target, outcome);
    Ok(())
}

/// Points what awaits failed task `x` at task `r`, and ends `x` for them.
fn rewire(
    wf: &mut Cow<'_, Workflow>,
    st: &mut RunState,
    x: usize,
    r: usize,
) -> Result<(), CoreError> {
    let (from, to) = (wf.tasks[x].run.cid(), wf.tasks[r].run.cid());
    let r_done = st.status[r].is_some();
    if !st.effectful[x] {
        st.pure_left -= 1;
    }
    for d in std::mem::take(&mut st.dependents[x]) {
        let args = wf.tasks[d]
            .run
            .args
            .iter()
            .map(|a| retarget(a, &from, &to))
            .collect();
        rebuild(wf, st, d, args)?;
        let already = st.deps[d].contains(&r);
        st.deps[d].retain(|&j| j != x);
        if already || r_done {
            if !already {
                st.deps[d].push(r);
            }
            st.unblock(d);
        } else {
            st.deps[d].push(r);
            st.dependents[r].push(d);
        }
    }
    st.unpark_effects();
    Ok(())
}

/// Gives task `d` new arguments; if that makes it another instruction, the
/// tasks that await it are pointed at the new one, transitively.
fn rebuild(
    wf: &mut Cow<'_, Workflow>,
    st: &mut RunState,
    d: usize,
    args: Vec<Ipld>,
) -> Result<(), CoreError> {
    let old = wf.tasks[d].run.cid();
    let run = wf.tasks[d].run.with_args(args)?;
    let new = run.cid();
    if new == old {
        return Ok(());
    }
    wf.to_mut().tasks[d].run = run;
    for e in st.dependents[d].clone() {
        let args = wf.tasks[e]
            .run
            .args
            .iter()
            .map(|a| retarget(a, &old, &new))
            .collect();
        rebuild(wf, st, e, args)?;
    }
    Ok(())
}
