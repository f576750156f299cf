//! What a task needs, fetched just before it executes (feature `fetch`).
//!
//! A runtime with a block source runs its workflows on [`FetchFirst`], its
//! executor wrapped: a task the memo answers, or a peer runs, fetches
//! nothing; a task that executes here first gets its module and the files
//! its arguments link to (awaited results included, once resolved) from
//! the source, each block checked and stored (`store/fetch.rs`). Each file
//! fetched, or not, is a `Fetched` event, handed to the run's listener
//! before the next event of the run.

use std::cell::RefCell;
use std::collections::HashSet;
use std::rc::Rc;

use cid::Cid;

use ipld_core::ipld::Ipld;

use crate::model::awaits;
use crate::model::execution::Execution;
use crate::model::op::Ops;
use crate::run::job::{Executor, Job};
use crate::run::report::Event;
use crate::store::fetch::{fetch_needed, BlockSource, Needed, MAX_MODULE_BYTES};
use crate::store::BlockStore;

/// Where a runtime fetches the files its runs need and its store lacks
/// (set and cleared while it runs: a tab's network starts after it opens),
/// and the roots it already found whole.
#[derive(Default)]
pub(crate) struct Fetching {
    pub(crate) source: RefCell<Option<Rc<dyn BlockSource>>>,
    pub(crate) complete: RefCell<HashSet<Cid>>,
}

fn arg_links(value: &Ipld, out: &mut Vec<Cid>) {
    // An await names another task's instruction, not a file.
    if awaits::is_await(value) {
        return;
    }
    match value {
        Ipld::Link(c) => out.push(*c),
        Ipld::List(items) => items.iter().for_each(|v| arg_links(v, out)),
        Ipld::Map(m) => m.values().for_each(|v| arg_links(v, out)),
        _ => {}
    }
}

/// The DAGs `job` reads from the store, each once: its module if it is a
/// `wasm/run` task (at most `module_bytes`) and every file its arguments
/// link to (at most the task's memory limit), awaits left out.
pub(crate) fn needed(job: &Job, module_bytes: u64) -> Vec<Needed> {
    let mut out: Vec<Needed> = Vec::new();
    let mut add = |root: Cid, max_bytes: u64| match out.iter_mut().find(|n| n.root == root) {
        Some(n) => n.max_bytes = n.max_bytes.max(max_bytes),
        None => out.push(Needed {
            root,
            max_bytes,
            task: job.task,
        }),
    };
    if job.op == "wasm/run" {
        add(job.module, module_bytes);
    }
    let mut links = Vec::new();
    job.args.iter().for_each(|a| arg_links(a, &mut links));
    for link in links {
        add(link, job.limits.memory_bytes());
    }
    out
}

/// An executor that fetches what a job needs and the store lacks before
/// the executor it wraps runs the job. One job fetches at a time (tasks of
/// one module wait for the first to fetch it, then find it whole).
pub(crate) struct FetchFirst<'a, E, S: ?Sized> {
    inner: &'a E,
    store: &'a S,
    source: Rc<dyn BlockSource>,
    complete: &'a RefCell<HashSet<Cid>>,
    notes: RefCell<Vec<Event>>,
    turn: futures::lock::Mutex<()>,
}

impl<'a, E, S: ?Sized> FetchFirst<'a, E, S> {
    pub(crate) fn new(
        inner: &'a E,
        store: &'a S,
        source: Rc<dyn BlockSource>,
        complete: &'a RefCell<HashSet<Cid>>,
    ) -> Self {
        Self {
            inner,
            store,
            source,
            complete,
            notes: RefCell::new(Vec::new()),
            turn: futures::lock::Mutex::new(()),
        }
    }

    /// The `Fetched` events since the last call.
    pub(crate) fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut *self.notes.borrow_mut())
    }
}

impl<E: Executor, S: BlockStore + ?Sized> Executor for FetchFirst<'_, E, S> {
    fn ops(&self) -> &Ops {
        self.inner.ops()
    }

    async fn execute(&self, job: Job) -> Execution {
        let mut wanted = needed(&job, MAX_MODULE_BYTES);
        wanted.retain(|n| !self.complete.borrow().contains(&n.root));
        // A job whose files are all known whole does not wait for another's
        // fetch.
        if !wanted.is_empty() {
            let _turn = self.turn.lock().await;
            for note in fetch_needed(self.store, &*self.source, wanted, self.complete).await {
                let outcome = match note.result {
                    // Found whole in the store: nothing to tell.
                    Ok(f) if f.fetched == 0 => continue,
                    Ok(f) => Ok(f),
                    Err(e) => Err(e.to_string()),
                };
                self.notes.borrow_mut().push(Event::Fetched {
                    task: note.needed.task,
                    cid: note.needed.root,
                    outcome,
                });
            }
        }
        self.inner.execute(job).await
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::address::raw_cid;
    use crate::Limits;

    /// A job of task 0 running `f` of `module` on `args`.
    fn job(module: Cid, op: &str, args: Vec<Ipld>) -> Job {
        Job {
            task: 0,
            instruction: raw_cid(b"instruction"),
            module,
            op: op.into(),
            func: "f".into(),
            args,
            limits: Limits::default(),
            receipt: None,
            engine: None,
        }
    }

    #[test]
    fn a_job_needs_its_module_and_linked_files_but_not_what_it_awaits() {
        let module = raw_cid(b"module");
        let picture = raw_cid(b"picture");
        let awaiting = Ipld::Map(BTreeMap::from([(
            "await/ok".to_string(),
            Ipld::Link(raw_cid(b"an instruction")),
        )]));
        let nested = Ipld::List(vec![Ipld::Map(BTreeMap::from([(
            "p".to_string(),
            Ipld::Link(picture),
        )]))]);
        let j = job(
            module,
            "wasm/run",
            vec![Ipld::Link(picture), awaiting, nested],
        );
        let got = needed(&j, 64 << 20);
        let roots: Vec<Cid> = got.iter().map(|n| n.root).collect();
        assert_eq!(roots, vec![module, picture]);
        assert_eq!(got[0].max_bytes, 64 << 20);
        assert_eq!(got[1].max_bytes, j.limits.memory_bytes());
        // An op that runs no module needs only what its arguments link to.
        let roots: Vec<Cid> = needed(&job(module, "kv/get", vec![Ipld::Link(picture)]), 64 << 20)
            .iter()
            .map(|n| n.root)
            .collect();
        assert_eq!(roots, vec![picture]);
    }
}
