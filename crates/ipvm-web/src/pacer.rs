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
#[derive(Clone, Default)]
pub(crate) struct YieldingPacer {
    cancelled: Rc<Cell<bool>>,
}

impl YieldingPacer {
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

/// Fuel per slice: about 4 to 9 ms of wasmi inside a tab (`npm run bench`
/// runs 115 to 230 million fuel a second), so a page that runs tasks itself
/// still paints and answers input, and a cancel is seen within a frame. The
/// pause itself (a `MessageChannel` turn) costs about 0.03 ms.
const FUEL_SLICE: u64 = 1_000_000;

impl Pacer for YieldingPacer {
    fn fuel_slice(&self) -> u64 {
        FUEL_SLICE
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
