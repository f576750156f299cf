//! The tab's run records for the core's runtime
//! ([`ipvm_core::RunRecords`]): an IndexedDB runtime writes each run's
//! record to the `runs` table through [`RunLog`]; a memory runtime keeps
//! none.

use std::rc::Rc;

use ipvm_core::{CoreError, Event, RunRecords, RunReport, Workflow};

use crate::runlog::RunLog;
use crate::store::AnyStore;

/// The run records of a runtime on `store`.
pub(crate) struct TabRuns {
    store: Rc<AnyStore>,
}

impl TabRuns {
    pub(crate) fn new(store: Rc<AnyStore>) -> Self {
        Self { store }
    }
}

impl RunRecords for TabRuns {
    type Log = RunLog;
    fn start(&self, workflow: &Workflow) -> Option<RunLog> {
        RunLog::start(self.store.clone(), workflow)
    }
}

impl ipvm_core::RunLog for RunLog {
    fn event(&self, event: &Event) {
        RunLog::event(self, event);
    }
    async fn end(&self, report: &Result<RunReport, CoreError>) {
        RunLog::end(self, report).await;
    }
}
