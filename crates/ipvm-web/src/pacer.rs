//! Pacing of tasks that run in this thread (a worker of the pool, or a page
//! opened with `workers: 0`). Between fuel slices a task gives the event loop
//! a turn, so the thread keeps answering messages and painting while a long
//! task runs; a task whose cancel flag is set stops at its next slice with
//! `ExecError::Cancelled`.

use std::cell::Cell;
use std::rc::Rc;

use ipvm_exec::{ExecError, Pacer};

use crate::coordinate::message_turn;

/// Yields between fuel slices and honours a cancel flag.
#[derive(Clone)]
pub(crate) struct YieldingPacer {
    cancelled: Rc<Cell<bool>>,
    slice: u64,
}

impl YieldingPacer {
    /// For a page that runs tasks itself (`workers: 0`): short slices, so it paints and
    /// answers input while a task runs.
    pub(crate) fn for_page() -> Self {
        Self {
            cancelled: Rc::default(),
            slice: PAGE_SLICE,
        }
    }

    /// For a worker of the pool: longer slices (fewer pauses, which cost wasmi about a tenth of
    /// its speed at the page's size); the worker only has to see a cancel message in time.
    pub(crate) fn for_worker() -> Self {
        Self {
            cancelled: Rc::default(),
            slice: WORKER_SLICE,
        }
    }

    /// Asks the running task to stop at its next fuel slice.
    pub(crate) fn cancel(&self) {
        self.cancelled.set(true);
    }

    /// Clears the flag, before a new task.
    pub(crate) fn reset(&self) {
        self.cancelled.set(false);
    }

    /// Whether [`YieldingPacer::cancel`] was called since the last reset.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

/// Fuel per slice on a page (wasmi's own count, which only paces): about 5
/// to 10 ms of wasmi running a metered module inside a tab, so a page that
/// runs tasks itself still paints and answers input, and a cancel is seen
/// within a frame or two. At 1,000,000 a slice took 60 to 80 ms there (a
/// 20 ms interval got 7 to 10 turns a second; measured 2026-11-30): the
/// metered module runs about 15 to 25 million wasmi instructions a second in
/// a tab. The pause itself (a `MessageChannel` turn) costs about 0.03 ms.
const PAGE_SLICE: u64 = 150_000;

/// Fuel per slice in a worker: 60 to 80 ms, the time a cancel may wait there.
/// At the page's size wasmi in a worker ran 6 to 24% slower in the bench.
const WORKER_SLICE: u64 = 1_000_000;

impl Pacer for YieldingPacer {
    fn fuel_slice(&self) -> u64 {
        self.slice
    }

    async fn between_slices(&self) -> Result<(), ExecError> {
        message_turn().await;
        if self.is_cancelled() {
            Err(ExecError::Cancelled)
        } else {
            Ok(())
        }
    }
}
