//! Where a runtime keeps the records of its runs ([`RunRecord`]): a
//! capability, since a record is written as a run goes. The browser writes
//! them to IndexedDB (`runs`, riding on the run's commits); the CLI keeps
//! none (`()`); [`MemoryRuns`] keeps them in memory. The record's rules are
//! [`crate::run::runlog`]'s; an implementation owns the clock and the writes.

use std::cell::RefCell;
use std::convert::Infallible;
use std::rc::Rc;

use crate::model::address::dag_cbor_cid;
use crate::model::workflow::Workflow;
use crate::run::report::{Event, RunReport};
use crate::run::runlog::RunRecord;
use crate::CoreError;

/// Keeps the records of runs.
pub trait RunRecords {
    /// The record of one run, as it is written.
    type Log: RunLog;
    /// Starts the record of a run of `workflow`; `None` if none is kept.
    fn start(&self, workflow: &Workflow) -> Option<Self::Log>;
}

/// The record of one run, written as the run goes.
#[allow(
    async_fn_in_trait,
    reason = "the futures are used in single-threaded contexts; Send is not wanted"
)]
pub trait RunLog {
    /// Records what an event says about a task.
    fn event(&self, event: &Event);
    /// Records how the run ended, and writes it before returning.
    async fn end(&self, report: &Result<RunReport, CoreError>);
}

/// Keeps no records.
impl RunRecords for () {
    type Log = Infallible;
    fn start(&self, _: &Workflow) -> Option<Infallible> {
        None
    }
}

impl RunLog for Infallible {
    fn event(&self, _: &Event) {
        match *self {}
    }
    async fn end(&self, _: &Result<RunReport, CoreError>) {
        match *self {}
    }
}

/// Records kept in memory, in the order the runs started.
#[derive(Debug, Default, Clone)]
pub struct MemoryRuns {
    runs: Rc<RefCell<Vec<RunRecord>>>,
}

impl MemoryRuns {
    /// No records yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records, oldest first.
    pub fn records(&self) -> Vec<RunRecord> {
        self.runs.borrow().clone()
    }
}

/// One run's record in a [`MemoryRuns`].
#[derive(Debug)]
pub struct MemoryRunLog {
    runs: Rc<RefCell<Vec<RunRecord>>>,
    at: usize,
}

impl RunRecords for MemoryRuns {
    type Log = MemoryRunLog;
    fn start(&self, workflow: &Workflow) -> Option<MemoryRunLog> {
        let id = dag_cbor_cid(&workflow.to_ipld()).ok()?;
        let mut runs = self.runs.borrow_mut();
        runs.push(RunRecord::new(
            id,
            workflow.tasks.iter().map(|t| t.run.cid()),
        ));
        Some(MemoryRunLog {
            runs: self.runs.clone(),
            at: runs.len() - 1,
        })
    }
}

impl RunLog for MemoryRunLog {
    fn event(&self, event: &Event) {
        if let Some(r) = self.runs.borrow_mut().get_mut(self.at) {
            r.apply(event);
        }
    }
    async fn end(&self, report: &Result<RunReport, CoreError>) {
        if let Some(r) = self.runs.borrow_mut().get_mut(self.at) {
            r.end(report);
        }
    }
}

impl<T: RunRecords + ?Sized> RunRecords for &T {
    type Log = T::Log;
    fn start(&self, workflow: &Workflow) -> Option<T::Log> {
        (**self).start(workflow)
    }
}
